"""Evaluation: run a plugin's metrics on real vs synthetic records and write report.json.

The plugin computes the numbers (it knows its domain); the core adds what every report
shares (sizes, the metric documentation, versions) and writes the file atomically.
Reports hold no timings so the same recipe and seed give byte-identical reports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .files import atomic_path
from .training import derive_seed

__all__ = ["evaluate_records", "write_report", "to_jsonable"]

_MADE_HOW = (("differential_privacy", "privacy"), ("model_selection", "model_selection"))  # (report key, meta.json key)


def evaluate_records(
    plugin: Any, recipe: Any, real: Any, synthetic: Any, holdout: Any, out_dir: Path | None, bundle: Any = None,
    generation: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The plugin's report for ``synthetic`` against ``real`` (and ``holdout`` when it has
    records), with the plugin's scores of the ``bundle``'s model when one is given and
    the run's ``generation`` counts (``generation.generation_counts``) when known."""
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    holdout = holdout if holdout is not None and plugin.count(holdout) > 0 else None
    rng = np.random.default_rng(derive_seed(recipe.seed, "evaluate"))
    metrics = plugin.evaluate(real, synthetic, holdout, recipe.evaluate_options, out_dir, rng)
    if bundle is not None and holdout is not None:
        metrics = {**metrics, **plugin.model_metrics(bundle, holdout, recipe.evaluate_options)}
    return to_jsonable(
        {
            "domaingen_version": __version__,
            "plugin": plugin.name,
            "recipe": recipe.name,
            "records": {
                "real": plugin.count(real),
                "synthetic": plugin.count(synthetic),
                "holdout": plugin.count(holdout) if holdout is not None else 0,
            },
            **({"generation": generation} if generation is not None else {}),
            # how the model was made, as meta.json records it: the (epsilon, delta) spent under
            # train.privacy, and the families model.family auto compared
            **{key: bundle.meta[name] for key, name in _MADE_HOW if bundle is not None and name in bundle.meta},
            "metrics": metrics,
            "metric_definitions": {m.name: {"direction": m.direction, "formula": m.formula} for m in plugin.metrics()},
        }
    )


def write_report(out_dir: Path, report: dict[str, Any]) -> Path:
    """Write ``report.json`` in ``out_dir`` (complete or not at all)."""
    path = out_dir / "report.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    return path


def to_jsonable(value: Any, digits: int | None = None) -> Any:
    """numpy scalars/arrays -> Python; NaN/inf -> None (JSON has no NaN); floats rounded
    to ``digits`` decimals when given (reports that should not show float noise)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), digits)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, digits) if digits is not None else value
    return value
