"""``report.html``: the numbers of a tabular evaluation plus plots (PNG embedded as base64).

Plots: real vs synthetic histogram (numeric, datetime) or bar chart (categorical, boolean)
per column, and the real and synthetic Pearson correlation matrices side by side; the
schema warnings (extra columns, invalid values, unseen categories) are listed first, then
the column types the scores used beside SDV's detected ones.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from domaingen.files import atomic_path

from .metrics import _labels, _numbers

__all__ = ["write_report"]

_REAL, _SYN = "#1f77b4", "#ff7f0e"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bins(values: np.ndarray) -> np.ndarray:
    """31 increasing edges over the middle 99 % of ``values`` (a constant or huge-valued
    column still gets a range of non-zero width)."""
    lo, hi = np.percentile(values, [0.5, 99.5])
    if not hi > lo:
        hi = lo + max(1.0, abs(lo) * 1e-6)
    bins = np.linspace(lo, hi, 31)
    return bins if np.all(np.diff(bins) > 0) else np.linspace(lo, lo + max(1.0, abs(lo)), 31)


def _density(values: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """``np.histogram(..., density=True)`` that is all zeros, not NaN, when nothing falls in ``bins``."""
    counts, edges = np.histogram(values, bins=bins)
    total = counts.sum()
    return counts / (total * np.diff(edges)) if total else np.zeros(len(bins) - 1)


def _column_figure(real, synthetic, types, columns):
    import matplotlib.pyplot as plt

    ncols = 4
    nrows = max(1, int(np.ceil(len(columns) / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4 * ncols, 2.6 * nrows), squeeze=False)
    for ax, col in zip(axes.ravel(), columns):
        if types[col] in ("numerical", "datetime"):
            a, b = _numbers(real[col]), _numbers(synthetic[col])
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if len(a):
                bins = _bins(a)
                # one artist per histogram (``stairs``) keeps many small plots fast to draw
                ax.stairs(_density(a, bins), bins, fill=True, alpha=0.5, color=_REAL, label="real")
                ax.stairs(_density(np.clip(b, bins[0], bins[-1]), bins), bins, fill=True, alpha=0.5, color=_SYN, label="synthetic")
            if types[col] == "datetime":
                ax.set_xlabel("seconds since 1970")
        else:
            p = _labels(real[col]).astype(str).value_counts(normalize=True)
            q = _labels(synthetic[col]).astype(str).value_counts(normalize=True)
            cats = list(p.index[:15])
            x = np.arange(len(cats))
            ax.bar(x - 0.2, p.reindex(cats).fillna(0).to_numpy(), width=0.4, color=_REAL, label="real")
            ax.bar(x + 0.2, q.reindex(cats).fillna(0).to_numpy(), width=0.4, color=_SYN, label="synthetic")
            ax.set_xticks(x, [c[:12] for c in cats], rotation=45, ha="right", fontsize=7)
        ax.set_title(str(col)[:40], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(columns):]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.subplots_adjust(hspace=0.75, wspace=0.3, top=1 - 0.3 / (2.6 * nrows), bottom=0.6 / (2.6 * nrows), left=0.04, right=0.98)
    return fig


def _correlation_figure(real, synthetic, columns):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, frame, title in ((axes[0], real, "real"), (axes[1], synthetic, "synthetic")):
        mat = pd.DataFrame({c: _numbers(frame[c]) for c in columns}).corr().to_numpy()
        im = ax.imshow(mat, vmin=-1, vmax=1, cmap="coolwarm")
        ax.set_title(f"Pearson correlation ({title})")
        ticks = np.arange(len(columns))
        labels = [str(c)[:14] for c in columns]
        ax.set_xticks(ticks, labels, rotation=90, fontsize=6)
        ax.set_yticks(ticks, labels, fontsize=6)
    fig.subplots_adjust(bottom=0.28, top=0.92, left=0.14, wspace=0.45)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return fig


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return html.escape("—" if v is None else str(v))


def _types_table(types: dict[str, Any] | None) -> str:
    """The column types the scores used, beside SDV's detection (rows where the scoring differs in bold)."""
    if not types:
        return ""
    differ = types.get("differ_from_sdv", {})
    rows = []
    for col, d in types["columns"].items():
        note = "numeric codes" + (", ordered" if d.get("ordinal") else "") if d.get("coded") else ""
        if d.get("forced"):
            note = (note + ", " if note else "") + "set by evaluate.options.column_types"
        cells = f"<td>{html.escape(str(col))}</td><td>{html.escape(d['type'])}</td><td>{html.escape(note)}</td><td>{html.escape(d['sdv'])}</td>"
        rows.append(f"<tr style='font-weight:bold'>{cells}</tr>" if col in differ else f"<tr>{cells}</tr>")
    head = "<tr><td><b>column</b></td><td><b>scored as</b></td><td><b>detected</b></td><td><b>SDV detects</b></td></tr>"
    note = (f"<p>{len(differ)} column(s) in bold would be scored another way with SDV's metadata "
            "(see quality_score_sdv_types).</p>" if differ else "")
    return f"<h2>Column types</h2>{note}<table>{head}{''.join(rows)}</table>"


def write_report(report: dict[str, Any], real: pd.DataFrame, synthetic: pd.DataFrame, out_dir: Path,
                 plot_columns: int = 40) -> Path:
    """Write ``out_dir/report.html`` and return its path."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    types = report["column_types"]
    columns = list(types)[:plot_columns]
    images = []
    if columns:
        fig = _column_figure(real, synthetic, types, columns)
        images.append(("Columns: real vs synthetic", _png(fig)))
        plt.close(fig)
    numeric = [c for c in columns if types[c] in ("numerical", "datetime")]
    if len(numeric) >= 2:
        fig = _correlation_figure(real, synthetic, numeric)
        images.append(("Correlation matrices", _png(fig)))
        plt.close(fig)

    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in report["summary"].items())
    shapes = report["quality"]["properties"]["Column Shapes"]["columns"]
    shape_rows = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{d['metric']}</td><td>{_fmt(d['score'])}</td></tr>" for c, d in shapes.items()
    )
    types_html = _types_table(report.get("types"))
    warnings = report.get("schema", {}).get("warnings", [])
    schema = (
        "<h2>Schema warnings</h2><ul>" + "".join(f"<li>{html.escape(w)}</li>" for w in warnings) + "</ul>"
        if warnings else ""
    )
    figures = "".join(f"<h2>{t}</h2><img src='data:image/png;base64,{b}'/>" for t, b in images)
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>Tabular evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td{{border:1px solid #ccc;padding:2px 8px}}img{{max-width:100%}}</style>
</head><body><h1>Tabular evaluation</h1>
<p>{report['rows']['real']} real training rows, {report['rows']['synthetic']} synthetic rows, {report['rows']['holdout']} holdout rows.</p>
<h2>Summary</h2><table>{rows}</table>
{schema}
{types_html}
<h2>Column Shapes</h2><table><tr><td><b>column</b></td><td><b>metric</b></td><td><b>score</b></td></tr>{shape_rows}</table>
{figures}
<h2>Full report</h2><pre>{html.escape(json.dumps(report, indent=1)[:200_000])}</pre>
</body></html>"""
    target = Path(out_dir) / "report.html"
    with atomic_path(target) as tmp:
        tmp.write_text(body, encoding="utf-8")
    return target
