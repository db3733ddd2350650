"""The vitals plugin's metrics: how close synthetic series come to the real ones.

Every metric is documented in ``METRICS`` (name, direction, formula): ``domaingen``
shows them and the conformance suite checks that the report holds each one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from domaingen.plugin import Metric

__all__ = ["METRICS", "mean_error", "rmssd", "evaluate"]

# --8<-- [start:metrics]
METRICS = (
    Metric(
        "heart_rate_mean_error",
        "lower-is-better",
        "|mean heart rate(real) - mean heart rate(synthetic)| in bpm, over all readings",
    ),
    Metric(
        "systolic_mean_error",
        "lower-is-better",
        "|mean systolic(real) - mean systolic(synthetic)| in mmHg, over all readings",
    ),
    Metric(
        "heart_rate_rmssd_error",
        "lower-is-better",
        "|RMSSD(real) - RMSSD(synthetic)| in bpm; RMSSD = sqrt(mean of (hr[t+1] - hr[t])^2) "
        "over the successive readings of every series: how much heart rate moves between readings",
    ),
)


def _readings(records: list[dict], signal: str) -> np.ndarray:
    return np.array([v for series in records for v in series[signal]], dtype=np.float64)


def mean_error(real: list[dict], synthetic: list[dict], signal: str) -> float:
    """The error of the mean reading of ``signal``, in its units."""
    a, b = _readings(real, signal), _readings(synthetic, signal)
    return float(abs(a.mean() - b.mean())) if len(a) and len(b) else float("nan")


def rmssd(records: list[dict]) -> float:
    """Root mean square of successive heart-rate differences, pooled over the series."""
    diffs = [np.diff(np.asarray(s["heart_rate"], dtype=np.float64)) for s in records]
    steps = np.concatenate(diffs) if diffs else np.zeros(0)
    return float(np.sqrt(np.mean(steps**2))) if len(steps) else float("nan")
# --8<-- [end:metrics]


def evaluate(real: list[dict], synthetic: list[dict]) -> dict[str, Any]:
    """The report: the documented metrics under ``summary``, then the figures behind them."""
    return {
        "summary": {
            "heart_rate_mean_error": mean_error(real, synthetic, "heart_rate"),
            "systolic_mean_error": mean_error(real, synthetic, "systolic"),
            "heart_rate_rmssd_error": abs(rmssd(real) - rmssd(synthetic)),
        },
        "means": {
            s: {"real": float(_readings(real, s).mean()), "synthetic": float(_readings(synthetic, s).mean())}
            for s in ("heart_rate", "systolic")
        },
        "rmssd": {"real": rmssd(real), "synthetic": rmssd(synthetic)},
        "records": {"real": len(real), "synthetic": len(synthetic)},
    }
