"""Our report vs the judge (issue 16): the report states the column types it scored with,
SDV's own detection is reproduced (``metrics.sdv_sdtypes``; SDV is not installed, it pulls
in torch), and our quality with SDV's types matches SDMetrics' QualityReport given the
metadata SDV would detect.

The rules reproduced (SDV 1.x, sdv/metadata/single_table.py, as
``Metadata.detect_from_dataframe`` runs them): a PII name (e.g. ``state``) or a name token
``id`` decides first; booleans are categorical; numbers are categorical when, with more than
5 rows, all are whole and non-negative with at most ``min(round(n / 10), 10)`` distinct
values (``_determine_sdtype_for_numbers``), else numerical; the first unique, complete,
whole, non-negative number column (or unique text column) becomes the ``id`` primary key.

Tolerances against sdmetrics 0.32 as in test_tabular_metrics.py: Column Shapes 1e-6,
Column Pair Trends and the overall score 0.02 (the report bins numeric columns of each table
separately, we bin both on the real column's edges).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from domaingen_plugins.tabular import EvaluateOptions, plugin
from domaingen_plugins.tabular import metrics as M


# --- SDV's rules on known answers ----------------------------------------------------------
def test_sdv_number_rule_known_answers():
    rng = np.random.default_rng(0)
    n = 100
    frame = pd.DataFrame({
        "stage": rng.integers(1, 5, n),  # whole, non-negative, 4 <= min(10, 10): categorical
        "grade": rng.choice([0.0, 0.5, 1.0], n),  # not whole: numerical
        "signed": rng.choice([-1, 0, 1], n),  # negative: numerical
        "eleven": np.arange(n) % 11,  # 11 > 10 values: numerical
        "flag_nan": np.where(np.arange(n) % 9 == 0, np.nan, np.arange(n) % 2),  # NaN ignored: categorical
        "serial": np.arange(n) + 1000,  # unique, whole, positive: the primary key -> id
        "serial2": np.arange(n) + 5000,  # a second candidate stays numerical
        "truth": rng.random(n) < 0.5,  # booleans: categorical
        "when": pd.to_datetime("2020-01-01") + pd.to_timedelta(np.arange(n), unit="D"),
        "text": rng.choice(["a", "b"], n),
    })
    assert M.sdv_sdtypes(frame) == {
        "stage": "categorical", "grade": "numerical", "signed": "numerical", "eleven": "numerical",
        "flag_nan": "categorical", "serial": "id", "serial2": "numerical", "truth": "categorical",
        "when": "datetime", "text": "categorical",
    }
    small = pd.DataFrame({"k": [1, 2, 3, 1, 2, 3, 1, 2]})  # 3 values > min(round(0.8), 10) = 1
    assert M.sdv_sdtypes(small) == {"k": "numerical"}


def test_sdv_name_rules_known_answers():
    n = 20
    frame = pd.DataFrame({
        "patient_id": np.arange(n) % 5,  # token 'id' (not unique: still id by name)
        "PatientId": np.arange(n) % 4,  # camelCase tokens patient, id
        "state": ["x"] * n,  # PII: administrative_unit
        "home city": ["y"] * n,  # 'city' as a token
        "velocity": np.linspace(0, 1, n),  # 'city' inside a word does not count
        "email_address": ["z"] * n,
    })
    got = M.sdv_sdtypes(frame)
    assert got == {"patient_id": "id", "PatientId": "id", "state": "administrative_unit", "home city": "city",
                   "velocity": "numerical", "email_address": "email"}


# --- a clinical table: our types, SDV's, and the judge ------------------------------------------
def clinical(n: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stage = rng.choice([1, 2, 3, 4], n, p=[0.4 - shift / 4, 0.3, 0.2, 0.1 + shift / 4])
    # mass moves to the middle grade: KSComplement and TVComplement then differ
    grade = rng.choice([0.0, 0.5, 1.0], n, p=[0.5 - shift / 4, 0.3 + shift / 2, 0.2 - shift / 4])
    lab = np.round(rng.normal(5 + stage + 2 * grade + shift, 1.5, n), 2)
    grade[rng.random(n) < 0.15] = np.nan
    flag = (rng.random(n) < 0.2 + 0.1 * stage).astype(float)
    flag[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame({
        "stage": stage,
        "grade": grade,
        "flag": flag,
        "delta": rng.choice([-1, 0, 1], n),
        "lab": lab,
        "sex": rng.choice(["f", "m"], n),
    })


@pytest.fixture(scope="module")
def tables():
    return clinical(400, 1, 0.0), clinical(400, 2, 0.4), clinical(200, 3, 0.0)


def test_column_types_differ_where_sdv_reads_codes_as_numbers(tables):
    real, _, _ = tables
    table = M.column_type_table(real, None)
    cols = table["columns"]
    assert {c: d["type"] for c, d in cols.items()} == {
        "stage": "categorical", "grade": "categorical", "flag": "categorical", "delta": "categorical",
        "lab": "numerical", "sex": "categorical"}
    assert table["coded_columns"] == ["stage", "grade", "flag", "delta"]
    assert {c: d["sdv"] for c, d in cols.items()} == {
        "stage": "categorical", "grade": "numerical", "flag": "categorical", "delta": "numerical",
        "lab": "numerical", "sex": "categorical"}
    assert table["differ_from_sdv"] == {"grade": {"domaingen": "categorical", "sdv": "numerical"},
                                        "delta": {"domaingen": "categorical", "sdv": "numerical"}}


def _judge(real, synthetic, metadata):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
    return report.get_score(), report.get_properties().set_index("Property")["Score"]


def test_quality_with_sdv_types_matches_sdmetrics_with_sdv_metadata(tables):
    real, synthetic, _ = tables
    metadata = M.sdv_metadata(real)
    score, props = _judge(real, synthetic, metadata)
    types = {c: m["sdtype"] for c, m in metadata["columns"].items()}
    ours = M.quality_report(real, synthetic, types, np.random.default_rng(0))
    assert ours["properties"]["Column Shapes"]["score"] == pytest.approx(props["Column Shapes"], abs=1e-6)
    assert ours["properties"]["Column Pair Trends"]["score"] == pytest.approx(props["Column Pair Trends"], abs=0.02)
    assert ours["score"] == pytest.approx(score, abs=0.02)


def test_report_states_types_and_scores_with_sdv_types(tmp_path, tables):
    real, synthetic, holdout = tables
    report = plugin.evaluate(real, synthetic, holdout, EvaluateOptions(), tmp_path, np.random.default_rng(0))
    types = report["types"]
    assert types["columns"]["grade"] == {"type": "categorical", "coded": True, "ordinal": True, "forced": False,
                                         "sdv": "numerical"}
    assert sorted(types["differ_from_sdv"]) == ["delta", "grade"]
    s = report["summary"]
    judge_score, _ = _judge(real, synthetic, M.sdv_metadata(real))
    assert s["quality_score_sdv_types"] == pytest.approx(judge_score, abs=0.02)
    assert s["quality_score_sdv_types"] != pytest.approx(s["quality_score"], abs=1e-9)  # a second figure
    assert report["quality_sdv_types"]["columns_differing"] == ["delta", "grade"]
    html = (tmp_path / "report.html").read_text()
    assert "<h2>Column types</h2>" in html and "SDV detects" in html and "numeric codes, ordered" in html
    # the scored figures are unchanged by the second scoring (it draws from a copy of the generator)
    plain = M.quality_report(real, synthetic, report["column_types"], np.random.default_rng(0))
    assert s["quality_score"] == pytest.approx(plain["score"], abs=1e-12)


def test_same_types_give_the_same_second_figure(tables):
    real, synthetic, _ = tables
    keep = ["stage", "flag", "lab", "sex"]  # SDV agrees on every one of these
    report = plugin.evaluate(real[keep], synthetic[keep], None, EvaluateOptions(), None, np.random.default_rng(0))
    assert report["types"]["differ_from_sdv"] == {}
    assert report["summary"]["quality_score_sdv_types"] == report["summary"]["quality_score"]


def test_forced_types_are_marked(tables):
    real, synthetic, _ = tables
    report = plugin.evaluate(real, synthetic, None, EvaluateOptions(column_types={"grade": "numeric"}), None,
                             np.random.default_rng(0))
    grade = report["types"]["columns"]["grade"]
    assert grade["type"] == "numerical" and grade["forced"] and not grade["coded"]
    assert "grade" not in report["types"]["differ_from_sdv"]
