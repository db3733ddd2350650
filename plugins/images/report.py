"""``report.html`` of an images evaluation: the headline metrics beside their real-data
floors, a per-class table, and per class a row of real images above a row of synthetic
ones (``output.sheet_image`` contact sheets embedded as base64 PNG; no external resources).

The file depends only on the report, the images and the seeded ``rng``: the same inputs
give the same bytes (Pillow writes no timestamps into a PNG).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from domaingen.files import atomic_path

from .records import ImageSet

__all__ = ["write_report"]

_PER_ROW = 10  # images per real / synthetic row
_MAX_CLASSES = 100  # classes shown as image rows (all are in the tables)

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}"
    "th,td{border:1px solid #ccc;padding:3px 9px;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
    ".note{color:#555;max-width:60em}.sheet{image-rendering:pixelated;display:block;margin:0.3em 0 1.2em}"
    "pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:80%}"
)


# --- image sheets --------------------------------------------------------------------------------
def _pick(images: np.ndarray, where: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` of the images at indices ``where`` (a seeded choice, in index order)."""
    if len(where) > n:
        where = np.sort(rng.choice(where, n, replace=False))
    return images[where]


def _sheet_html(title: str, real: np.ndarray, synthetic: np.ndarray) -> str:
    """A heading, then the real images' row(s) above the synthetic ones' (one PNG)."""
    from .output import png_base64, sheet_image

    rows, labels = [], []
    for name, images in (("real", real), ("synthetic", synthetic)):
        for start in range(0, len(images), _PER_ROW):
            rows.append(images[start:start + _PER_ROW])
            labels.append(name)
    counts = f"real: {len(real)}, synthetic: {len(synthetic)}"
    parts = [f"<h3>{html.escape(title)}</h3><p class='note'>{counts}</p>"]
    if not len(synthetic):
        parts.append("<p class='note'>no synthetic images here</p>")
    if rows:
        alt = html.escape(f"{title}: {counts}", quote=True)
        parts.append(f"<img class='sheet' alt=\"{alt}\" "
                     f"src='data:image/png;base64,{png_base64(sheet_image(rows, labels=labels))}'/>")
    return "".join(parts)


def _sheets(train: ImageSet, synthetic: ImageSet, rng: np.random.Generator) -> str:
    """Per class a real row above a synthetic row (labelled data), or two rows of each."""
    from .metrics import _class_codes

    if train.labels is not None and len(train.classes) >= 2:
        syn_codes = _class_codes(train, synthetic, "synthetic")
        parts = []
        for c, name in enumerate(train.classes[:_MAX_CLASSES]):
            real = _pick(train.images, np.flatnonzero(train.labels == c), _PER_ROW, rng)
            if syn_codes is None:
                syn = synthetic.images[:0]
            else:
                syn = _pick(synthetic.images, np.flatnonzero(syn_codes == c), _PER_ROW, rng)
            parts.append(_sheet_html(f"class {name}", real, syn))
        if syn_codes is None:
            parts.append(_sheet_html("unlabelled synthetic images", train.images[:0],
                                     _pick(synthetic.images, np.arange(len(synthetic)), 2 * _PER_ROW, rng)))
        return "".join(parts)
    real = _pick(train.images, np.arange(len(train)), 2 * _PER_ROW, rng)
    syn = _pick(synthetic.images, np.arange(len(synthetic)), 2 * _PER_ROW, rng)
    return _sheet_html("all images", real, syn)


# --- tables --------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4f}"
    return html.escape(str(value))


def _ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0:
        return float(a) / float(b)
    return None


def _headline(report: dict[str, Any]) -> str:
    """metric | synthetic | real floor | ratio rows."""
    kid = report.get("kid")
    kid_text = _fmt(kid) + (f" ± {report['kid_std']:.4f}" if isinstance(report.get("kid_std"), float) else "")
    rows = [
        ("fd_classifier (lower is better)", _fmt(report.get("fd_classifier")), _fmt(report.get("fd_floor")),
         _fmt(report.get("fd_ratio"))),
        ("kid (lower is better)", kid_text, _fmt(report.get("kid_floor")), "—"),
        ("conditional_accuracy (vs classifier on held-out real)", _fmt(report.get("conditional_accuracy")),
         _fmt(report.get("classifier_holdout_accuracy")),
         _fmt(_ratio(report.get("conditional_accuracy"), report.get("classifier_holdout_accuracy")))),
    ]
    for name in ("precision", "recall", "density", "coverage"):
        rows.append((name, _fmt(report.get(name)), _fmt(report.get(f"{name}_floor")),
                     _fmt(_ratio(report.get(name), report.get(f"{name}_floor")))))
    rows += [
        ("memorised_share (lower is better)", _fmt(report.get("memorised_share")), "0.01 (by construction)", "—"),
        ("exact_copy_share (lower is better)",
         f"{_fmt(report.get('exact_copy_share'))} ({_fmt(report.get('exact_copies'))} images)", "0", "—"),
        ("class_distribution_tv (lower is better)", _fmt(report.get("class_distribution_tv")), "—", "—"),
    ]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{c}</td><td>{d}</td></tr>" for a, b, c, d in rows)
    return ("<table><tr><th>metric</th><th>synthetic</th><th>real floor</th><th>ratio</th></tr>"
            f"{body}</table>")


def _per_class_table(per_class: list[dict[str, Any]] | None) -> str:
    if not per_class:
        return ""
    columns = ["train_count", "train_share", "synthetic_count", "synthetic_share", "predicted_share",
               "scored", "conditional_accuracy", "holdout_count", "holdout_accuracy"]
    columns = [c for c in columns if any(c in row for row in per_class)]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        f"<tr><td>{html.escape(str(row['class']))}</td>" + "".join(f"<td>{_fmt(row.get(c))}</td>" for c in columns) + "</tr>"
        for row in per_class
    )
    return f"<h2>Per class</h2><table><tr><th>class</th>{head}</tr>{body}</table>"


def write_report(report: dict[str, Any], train: ImageSet, synthetic: ImageSet, out_dir: Path,
                 rng: np.random.Generator) -> Path:
    """Write ``out_dir/report.html`` (complete or not at all) and return its path."""
    sizes = report.get("sizes", {})
    classifier = report.get("classifier", {})
    intro = (
        f"{sizes.get('train', len(train))} real training images, {sizes.get('synthetic', len(synthetic))} synthetic "
        f"images ({sizes.get('synthetic_scored', '?')} scored), {sizes.get('holdout', 0)} held-out images "
        f"({sizes.get('holdout_scored', 0)} scored). Compared with: {report.get('reference', '?')}."
    )
    features = (
        f"Features: the {classifier.get('feature_dim', '?')}-wide penultimate layer of a small CNN trained here on the "
        f"real training images ({classifier.get('mode', '?')} task, {classifier.get('epochs', '?')} epochs) — not "
        "Inception: compare these numbers only between evaluations on the same training images and seed. "
        "Each metric stands beside its floor, the value two real samples (training vs held-out images) give."
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Images evaluation</title>
<style>{_CSS}</style></head><body><h1>Images evaluation</h1>
<p>{html.escape(intro)}</p><p class="note">{html.escape(features)}</p>
<h2>Headline</h2>{_headline(report)}
{_per_class_table(report.get("per_class"))}
<h2>Real and synthetic images</h2>{_sheets(train, synthetic, rng)}
<h2>Full report</h2><pre>{html.escape(json.dumps(report, indent=1, sort_keys=True, allow_nan=False)[:200_000])}</pre>
</body></html>
"""
    target = Path(out_dir) / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
