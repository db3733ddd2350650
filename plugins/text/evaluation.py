"""The text report: the model's held-out bits per character beside Kneser-Ney baselines,
and the generated text's statistics beside the real text's.

- ``bits_per_char_model``: the trained model's cross-entropy on the held-out records, in
  bits per character (each token predicted once, from sliding windows that give it at
  least half a window of context; ``eos`` is not scored, as the baselines score
  characters only). ``bits_per_char_kn<order>``:
  interpolated modified Kneser-Ney character models fitted on the same training split —
  the number to beat.
- distinct-1/2/3, self-BLEU, length and readability of the synthetic texts, each beside
  the same figure for the held-out real texts.
- ``copy_rate``: share of generated word n-grams found verbatim in the training text,
  beside ``copy_rate_real`` (the held-out real text's own share: real text reuses
  phrases too, so that is the baseline, not zero).
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

import numpy as np

from domaingen.evaluation import to_jsonable
from domaingen.files import atomic_path

from .metrics import KneserNeyCharModel, copy_rate, distinct_n, length_stats, readability, self_bleu
from .options import TextEvaluateOptions
from .records import TextRecord

__all__ = ["evaluate_texts", "model_bits_per_char"]


def _capped(texts: list[str], max_chars: int) -> list[str]:
    out, total = [], 0
    for t in texts:
        if total >= max_chars:
            break
        out.append(t[: max_chars - total])
        total += len(out[-1])
    return out


def _side(texts: list[str], train: list[str], options: TextEvaluateOptions, rng) -> dict[str, Any]:
    """The statistics of one set of texts (synthetic, or held-out real)."""
    stats: dict[str, Any] = {f"distinct_{n}": distinct_n(texts, n) for n in (1, 2, 3)}
    stats["self_bleu"] = self_bleu(texts, rng=rng)
    stats["copy_rate"] = copy_rate(texts, train, n=options.copy_n)
    stats.update(length_stats(texts))
    stats.update(readability(texts))
    return stats


def evaluate_texts(train: list[TextRecord], synthetic: list[TextRecord], holdout: list[TextRecord] | None,
                   options: TextEvaluateOptions, out_dir: Path | None, rng: np.random.Generator) -> dict[str, Any]:
    """The report (see the module docstring); ``report.html`` in ``out_dir`` when asked."""
    train_texts = _capped([r.text for r in train], options.max_train_chars)
    real = [r.text for r in (holdout or train)]
    syn = [r.text for r in synthetic]
    report: dict[str, Any] = {"reference": "holdout" if holdout else "train"}
    if holdout:
        for order in options.kn_orders:
            report[f"bits_per_char_kn{order}"] = KneserNeyCharModel.fit(train_texts, order=order).bits_per_char(real)
    synthetic_side = _side(syn, train_texts, options, np.random.default_rng(int(rng.integers(2**31))))
    real_side = _side(real, train_texts, options, np.random.default_rng(int(rng.integers(2**31))))
    report.update(synthetic_side)
    report.update({f"{k}_real": v for k, v in real_side.items()})
    labels = [r.label for r in synthetic if r.label is not None]
    if labels:
        names = sorted(set(labels) | {r.label for r in train if r.label is not None})
        report["label_shares"] = {n: labels.count(n) / len(labels) for n in names}
    if any(r.is_qa for r in train):
        report["qa_items"] = sum(r.is_qa for r in synthetic)
    report = to_jsonable(report, digits=6)
    if out_dir is not None and options.report_html:
        report["report_html"] = _write_html(report, syn[: options.samples_in_report], Path(out_dir)).name
    return report


def _scored_windows(ids: list[int], L: int, pad: int) -> list[tuple[list[int], int]]:
    """Sliding windows over one record for scoring: (window padded to ``L``, first scored
    target index). Windows start every ``L // 2`` tokens and each scores only the targets
    the previous one did not, so every token is predicted once, with at least ``L // 2``
    tokens of context after the first window (as the model is used when it generates)."""
    half, out, done = max(1, L // 2), [], 1  # `done`: the next absolute target to score
    for start in range(0, max(1, len(ids) - 1), half):
        piece = ids[start : start + L]
        if len(piece) < 2 or start + len(piece) <= done:
            break
        out.append((piece + [pad] * (L - len(piece)), done - start - 1))
        done = start + len(piece)
    return out


def model_bits_per_char(model: Any, codec: Any, records: list[TextRecord], *, max_chars: int = 200_000) -> float | None:
    """The model's cross-entropy on ``records`` in bits per character (see module doc)."""
    import keras

    tok, L = codec.tokenizer, codec.seq_len
    chars, windows, firsts, labels = 0, [], [], []
    for record in records:
        if chars >= max_chars:
            break
        chars += len(record.text)
        for window, first in _scored_windows(codec.record_ids(record.text)[:-1], L, tok.pad_id):  # eos not scored
            windows.append(window)
            firsts.append(first)
            labels.append(codec.classes_.index(record.label) if codec.labelled else 0)
    if not windows or chars == 0:
        return None
    x, firsts, nats = np.asarray(windows, dtype=np.int32), np.asarray(firsts), 0.0
    for a in range(0, len(x), 256):
        batch = x[a : a + 256]
        inputs = batch[:, :-1]
        if codec.labelled:
            inputs = (inputs, np.eye(len(codec.classes_), dtype="float32")[labels[a : a + 256]])
        logits = keras.ops.convert_to_numpy(model(inputs, training=False)).astype(np.float64)
        logp = logits - logits.max(axis=-1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
        targets = batch[:, 1:]
        mask = (targets != tok.pad_id) & (np.arange(L - 1)[None, :] >= firsts[a : a + 256, None])
        picked = np.take_along_axis(logp, targets[..., None].astype(np.int64), axis=-1)[..., 0]
        nats -= float(picked[mask].sum())
    return nats / math.log(2) / chars


def _write_html(report: dict[str, Any], samples: list[str], out_dir: Path) -> Path:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td><td>{html.escape(str(report.get(k + '_real', '')))}</td></tr>"
        for k, v in sorted(report.items()) if not k.endswith("_real") and not isinstance(v, dict)
    )
    blocks = "".join(f"<pre>{html.escape(s)}</pre>" for s in samples)
    page = (
        "<!doctype html><meta charset='utf-8'><title>Text evaluation</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td{padding:2px 8px;border-bottom:1px solid #ddd}"
        "pre{white-space:pre-wrap;background:#f6f6f6;padding:8px}</style>"
        f"<h1>Text evaluation</h1><table><tr><th>metric</th><th>synthetic / model</th><th>real</th></tr>{rows}</table>"
        f"<h2>Samples</h2>{blocks}"
    )
    path = out_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
