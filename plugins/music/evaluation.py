"""``evaluate``: real vs synthetic (vs holdout) pieces -> a JSON report (+ report.html).

The report holds, per metric of ``metrics.PIECE_METRICS``, the mean over the pieces of
each set (real and holdout pieces are cut into excerpts as long as the synthetic ones
when those are much shorter, so length-dependent metrics compare like with like); the histogram distances (synthetic vs real, and holdout vs real as the level
two samples of the same corpus reach); whether the synthetic pitch-class entropy and
scale consistency lie within 10% of the real means; and, if enabled, the Fréchet MFCC
distance and the pYIN check of the rendered synthetic notes. ``summary`` repeats the
headline numbers (the CLI prints them).
"""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Any

import numpy as np

from domaingen.evaluation import to_jsonable
from domaingen.files import atomic_path

from . import metrics as M
from .options import MusicEvaluateOptions
from .piece import Piece

__all__ = ["evaluate", "TOLERANCE_METRICS"]

TOLERANCE_METRICS = ("pitch_class_entropy", "scale_consistency")
TOLERANCE = 0.10


def _mean(pieces: list[Piece], fn) -> float:
    values = np.array([fn(p) for p in pieces], dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else math.nan


def _sample(pieces: list[Piece], k: int, rng: np.random.Generator) -> list[Piece]:
    if len(pieces) <= k:
        return list(pieces)
    return [pieces[i] for i in np.sort(rng.choice(len(pieces), size=k, replace=False))]


def _bars(piece: Piece) -> float:
    end = float(piece.ends.max()) if len(piece.notes) else 0.0
    return end / piece.seconds_per_beat / piece.beats_per_bar


def crop_to_bars(piece: Piece, bars: int) -> list[Piece]:
    """Consecutive ``bars``-bar excerpts of ``piece`` (notes starting inside each; empty ones skipped)."""
    span = bars * piece.beats_per_bar * piece.seconds_per_beat
    end = float(piece.ends.max()) if len(piece.notes) else 0.0
    out = []
    for k in range(int(np.ceil(end / span - 1e-9))):
        a, b = k * span, (k + 1) * span
        notes = piece.notes[(piece.starts >= a - 1e-9) & (piece.starts < b - 1e-9)].copy()
        if len(notes):
            notes[:, 1:3] -= a
            notes[:, 2] = np.minimum(notes[:, 2], span)
            out.append(Piece(notes, tempo=piece.tempo, name=f"{piece.name}@{k}", beats_per_bar=piece.beats_per_bar))
    return out


def comparable(real: list[Piece], synthetic: list[Piece]) -> tuple[list[Piece], int | None]:
    """Real pieces cut to the synthetic pieces' length when those are much shorter, so that
    length-dependent metrics (range, entropy, classes used) compare like with like."""
    lengths = [_bars(p) for p in synthetic if len(p.notes)]
    if not lengths or not real:
        return real, None
    bars = max(1, int(np.ceil(np.median(lengths) - 1e-6)))
    if np.median([_bars(p) for p in real]) <= 1.5 * bars:
        return real, None
    return [c for p in real for c in crop_to_bars(p, bars)], bars


def _mfcc_bank(pieces: list[Piece], sr: int, seconds: float) -> np.ndarray:
    from .spectrogram import piece_audio

    frames = []
    for p in pieces:
        y = piece_audio(p, sr)[: int(seconds * sr)]
        if len(y) >= 2048 and np.max(np.abs(y)) > 1e-4:
            frames.append(M.mfcc_frames(y, sr))
    return np.concatenate(frames) if frames else np.zeros((0, 20))


def audio_report(real, synthetic, holdout, options: MusicEvaluateOptions, rng) -> dict[str, Any]:
    from .spectrogram import piece_audio
    from .synth import render

    sr, secs = options.sample_rate, options.audio_seconds
    real_bank = _mfcc_bank(_sample(real, options.audio_pieces, rng), sr, secs)
    out: dict[str, Any] = {
        "frechet_mfcc_distance": M.frechet_distance(real_bank, _mfcc_bank(_sample(synthetic, options.audio_pieces, rng), sr, secs)),
    }
    if holdout:
        out["frechet_mfcc_distance_holdout"] = M.frechet_distance(
            real_bank, _mfcc_bank(_sample(holdout, options.audio_pieces, rng), sr, secs)
        )
    checked = []
    for piece in _sample([p for p in synthetic if len(p.notes)], options.pitch_check_pieces, rng):
        # the piece's WAV (as written by generate) when it has one, else a fresh rendering
        short = Piece(piece.notes[piece.starts < secs], tempo=piece.tempo, name=piece.name,
                      beats_per_bar=piece.beats_per_bar)
        if len(short.notes):
            y = piece_audio(piece, sr) if piece.audio is not None else render(short, sr)
            checked.append(M.rendered_note_pitch_accuracy(short, y[: int((secs + 1) * sr)], sr))
    finite = [c for c in checked if math.isfinite(c)]
    out["rendered_note_pitch_accuracy"] = float(np.mean(finite)) if finite else math.nan
    out["rendered_pieces_checked"] = len(finite)
    return out


def evaluate(
    real: list[Piece],
    synthetic: list[Piece],
    holdout: list[Piece] | None,
    options: MusicEvaluateOptions,
    out_dir: Path | None,
    rng: np.random.Generator,
) -> dict[str, Any]:
    holdout = list(holdout or [])
    real_cut, bars = comparable(real, synthetic)
    sets = {"real": real_cut, "synthetic": synthetic}
    if holdout:
        sets["holdout"] = comparable(holdout, synthetic)[0]
    report: dict[str, Any] = {
        "counts": {"real": len(real), "synthetic": len(synthetic), **({"holdout": len(holdout)} if holdout else {})},
        "real_cut_to_bars": bars,
        "metrics": {
            name: {label: _mean(pieces, fn) for label, pieces in sets.items()}
            for name, fn in M.PIECE_METRICS.items()
        },
    }
    pc_real, dur_real = M.pitch_class_histogram(real), M.duration_histogram(real)
    distances = {
        "pitch_class_histogram_js": {"synthetic": M.js_divergence(pc_real, M.pitch_class_histogram(synthetic))},
        "duration_histogram_js": {"synthetic": M.js_divergence(dur_real, M.duration_histogram(synthetic))},
    }
    if holdout:
        distances["pitch_class_histogram_js"]["holdout"] = M.js_divergence(pc_real, M.pitch_class_histogram(holdout))
        distances["duration_histogram_js"]["holdout"] = M.js_divergence(dur_real, M.duration_histogram(holdout))
    report["distances"] = distances
    within = {}
    for name in TOLERANCE_METRICS:
        r, s = report["metrics"][name]["real"], report["metrics"][name]["synthetic"]
        gap = abs(s - r) / abs(r) if math.isfinite(r) and math.isfinite(s) and r != 0 else math.nan
        within[name] = {"relative_gap": gap, "within": bool(math.isfinite(gap) and gap <= TOLERANCE)}
    report["within_10_percent"] = within
    if options.audio_metrics and real and synthetic:
        report["audio"] = audio_report(real, synthetic, holdout, options, rng)
    audio = report.get("audio", {})
    report["summary"] = {
        "pitch_class_entropy_gap": within["pitch_class_entropy"]["relative_gap"],
        "scale_consistency_gap": within["scale_consistency"]["relative_gap"],
        "pitch_class_histogram_js": distances["pitch_class_histogram_js"]["synthetic"],
        "duration_histogram_js": distances["duration_histogram_js"]["synthetic"],
        **{k: audio[k] for k in ("frechet_mfcc_distance", "frechet_mfcc_distance_holdout",
                                 "rendered_note_pitch_accuracy") if k in audio},
    }
    report["histograms"] = {
        "pitch_class": {"real": pc_real.tolist(), "synthetic": M.pitch_class_histogram(synthetic).tolist()},
        "duration_sixteenths": {"real": dur_real.tolist(), "synthetic": M.duration_histogram(synthetic).tolist()},
    }
    report = to_jsonable(report)
    if out_dir is not None and options.html:
        write_html(report, Path(out_dir) / "report.html")
    return report


def _histogram_png(hist: dict[str, list[float]], labels: list[str], title: str) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    x = np.arange(len(labels))
    ax.bar(x - 0.2, hist["real"], width=0.4, label="real")
    ax.bar(x + 0.2, hist["synthetic"], width=0.4, label="synthetic")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(v) -> str:
    return "—" if v is None else (f"{v:.4g}" if isinstance(v, float) else html.escape(str(v)))


def write_html(report: dict[str, Any], path: Path) -> None:
    """A one-page summary: metric table, distances, audio checks, two histograms."""
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{_fmt(v.get(k))}</td>" for k in ("real", "synthetic", "holdout")) + "</tr>"
        for name, v in report["metrics"].items()
    )
    dist = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{_fmt(v.get('synthetic'))}</td><td>{_fmt(v.get('holdout'))}</td></tr>"
        for name, v in report["distances"].items()
    )
    within = "".join(
        f"<li>{html.escape(k)}: gap {_fmt(v['relative_gap'])} — {'within' if v['within'] else 'outside'} 10%</li>"
        for k, v in report["within_10_percent"].items()
    )
    audio = "".join(f"<li>{html.escape(k)}: {_fmt(v)}</li>" for k, v in report.get("audio", {}).items())
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    pc = _histogram_png(report["histograms"]["pitch_class"], names, "pitch classes")
    dur = _histogram_png(report["histograms"]["duration_sixteenths"], [str(i) for i in range(1, 17)] + [">16"],
                         "note lengths (sixteenths)")
    counts = ", ".join(f"{k}: {v}" for k, v in report["counts"].items())
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>music report</title>
<style>body{{font-family:sans-serif;max-width:52em;margin:2em auto}}td,th{{padding:2px 10px;text-align:right}}
td:first-child{{text-align:left}}</style></head><body>
<h1>Music: real vs synthetic</h1><p>Pieces — {html.escape(counts)}</p>
<h2>Per-piece metrics (means)</h2><table><tr><th>metric</th><th>real</th><th>synthetic</th><th>holdout</th></tr>{rows}</table>
<h2>Histogram distances (Jensen-Shannon, bits)</h2><table><tr><th></th><th>synthetic</th><th>holdout</th></tr>{dist}</table>
<ul>{within}</ul><h2>Audio</h2><ul>{audio or '<li>not computed</li>'}</ul>
<img alt="pitch classes" src="data:image/png;base64,{pc}"><img alt="note lengths" src="data:image/png;base64,{dur}">
</body></html>"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
