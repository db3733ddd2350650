"""The embedded demo source ``vitals:demo``: vital-sign series the plugin simulates itself.

A series is one hour of a resting adult's bedside monitor, a reading every 5 minutes (the
rate of eICU's ``vitalPeriodic`` table): heart rate in beats per minute and systolic blood
pressure in mmHg, as whole numbers. Each patient has a baseline (heart rate ~ N(72, 8²),
systolic ~ N(120, 12²)); readings wander around it as an AR(1) process
``d[t] = PHI * d[t-1] + noise`` (started in its stationary distribution). The distribution
is known, so the tests can check the simulator against it (``MEAN_HEART_RATE``,
``RMSSD_HEART_RATE``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SOURCE", "STEPS", "MEAN_HEART_RATE", "MEAN_SYSTOLIC", "PHI", "HEART_RATE_NOISE", "RMSSD_HEART_RATE", "demo_records"]

SOURCE = "vitals:demo"
# --8<-- [start:simulator]
STEPS = 12  # readings per series: one hour, every 5 minutes
MEAN_HEART_RATE, HEART_RATE_SPREAD = 72.0, 8.0  # bpm: the patients' baselines
MEAN_SYSTOLIC, SYSTOLIC_SPREAD = 120.0, 12.0  # mmHg
PHI = 0.7  # how much of a deviation is left 5 minutes later
HEART_RATE_NOISE, SYSTOLIC_NOISE = 3.0, 4.0  # the AR(1) innovations' standard deviations
# the root mean square of successive heart-rate differences (before rounding to whole beats)
RMSSD_HEART_RATE = float(np.sqrt(2 * HEART_RATE_NOISE**2 / (1 + PHI)))


def _wander(rng: np.random.Generator, rows: int, steps: int, noise: float) -> np.ndarray:
    """``(rows, steps)`` AR(1) deviations, stationary from the first reading."""
    d = np.empty((rows, steps))
    d[:, 0] = rng.normal(0.0, noise / np.sqrt(1 - PHI**2), size=rows)
    for t in range(1, steps):
        d[:, t] = PHI * d[:, t - 1] + rng.normal(0.0, noise, size=rows)
    return d


def demo_records(rows: int, seed: int, steps: int = STEPS) -> list[dict]:
    """``rows`` series ``{"heart_rate": [...], "systolic": [...]}`` drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    heart = rng.normal(MEAN_HEART_RATE, HEART_RATE_SPREAD, (rows, 1))
    heart = heart + _wander(rng, rows, steps, HEART_RATE_NOISE)
    systolic = rng.normal(MEAN_SYSTOLIC, SYSTOLIC_SPREAD, (rows, 1))
    systolic = systolic + _wander(rng, rows, steps, SYSTOLIC_NOISE)
    heart = np.clip(np.rint(heart), 30, 220).astype(int)
    systolic = np.clip(np.rint(systolic), 60, 250).astype(int)
    return [{"heart_rate": h.tolist(), "systolic": s.tolist()} for h, s in zip(heart, systolic)]
# --8<-- [end:simulator]
