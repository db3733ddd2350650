"""Tests of the vitals plugin: domaingen's conformance suite, then known answers.

``conformance_tests`` gives one test per contract a plugin keeps (options refuse unknown
keys, the codec round trip and state, atomic writes, documented metrics, the same seed
giving the same files, bad input refused with exit code 2). It runs the demo recipe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ruamel.yaml import YAML

from domaingen.testing import Conformance, conformance_tests
from domaingen_vitals.demo import MEAN_HEART_RATE, RMSSD_HEART_RATE, SOURCE
from domaingen_vitals.metrics import mean_error, rmssd
from domaingen_vitals.options import DataOptions
from domaingen_vitals.plugin import plugin

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "demo.yaml"


def recipe_document() -> dict:
    """The demo recipe, as the conformance suite takes it."""
    return YAML(typ="safe").load(RECIPE.read_text(encoding="utf-8"))


# --8<-- [start:round_trip]
def within_a_step(original: list[dict], decoded: list[dict]) -> None:
    """Heart rates come back exactly (1 bpm a token), systolic values within 1 mmHg (2 a token)."""
    assert len(decoded) == len(original)
    for a, b in zip(original, decoded):
        assert b["heart_rate"] == a["heart_rate"]
        assert np.abs(np.subtract(b["systolic"], a["systolic"])).max() <= 1


def refused(folder: Path) -> list[tuple[str, dict]]:
    """Inputs the plugin must refuse with a DataError."""
    broken = folder / "broken.jsonl"
    broken.write_text('{"heart_rate": [70, 71], "systolic": \n', encoding="utf-8")
    uneven = folder / "uneven.jsonl"
    uneven.write_text('{"heart_rate": [70, 71], "systolic": [120]}\n', encoding="utf-8")
    missing = folder / "missing.jsonl"
    missing.write_text('{"heart_rate": [70, null], "systolic": [120, 118]}\n', encoding="utf-8")
    return [(str(broken), {}), (str(uneven), {}), (str(missing), {}), ("vitals:no-such-source", {})]
# --8<-- [end:round_trip]


def case() -> Conformance:
    return Conformance(plugin, recipe_document(), base_dir=RECIPE.parent, round_trip=within_a_step, refused_inputs=refused)


test_conformance = conformance_tests(case)


# --8<-- [start:known_answers]
def test_metrics_known_answer():
    """Worked by hand: heart rates 70 72 70 (steps +2 -2) against 80 80 80 (no steps)."""
    real = [{"heart_rate": [70, 72, 70], "systolic": [120, 120, 120]}]
    synthetic = [{"heart_rate": [80, 80, 80], "systolic": [110, 110, 110]}]
    assert mean_error(real, synthetic, "heart_rate") == pytest.approx(80 - 70 * 2 / 3 - 72 / 3)
    assert mean_error(real, synthetic, "systolic") == pytest.approx(10.0)
    assert rmssd(real) == pytest.approx(2.0) and rmssd(synthetic) == 0.0


def test_simulator_known_answer():
    """The simulator draws from the distribution demo.py documents."""
    series = plugin.load(SOURCE, DataOptions(rows=3000, seed=1), ROOT)
    heart = np.array([s["heart_rate"] for s in series], dtype=float)
    assert heart.mean() == pytest.approx(MEAN_HEART_RATE, abs=0.6)  # standard error ~0.15
    assert rmssd(series) == pytest.approx(RMSSD_HEART_RATE, abs=0.15)  # rounding adds ~0.03
# --8<-- [end:known_answers]
