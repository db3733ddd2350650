"""Each metric on hand-made tables with known answers, then cross-checked against sdmetrics.

Tolerances of the sdmetrics cross-check: 1e-9 for KSComplement, TVComplement,
CorrelationSimilarity, ContingencySimilarity (sdmetrics' own binning of numeric columns),
BoundaryAdherence, CategoryAdherence, DCR distances and DCROverfittingProtection;
DCRBaselineProtection within 0.05 (its random baseline table is drawn independently);
the QualityReport's overall score within 0.02 (the report bins numeric columns of the real
and synthetic tables separately, we bin both on the real column's edges).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from domaingen_plugins.tabular import EvaluateOptions, plugin
from domaingen_plugins.tabular import metrics as M


# --- known answers -------------------------------------------------------------------------
def test_ks_complement_known_answer():
    assert M.ks_complement(pd.Series([1, 2, 3, 4]), pd.Series([3, 4, 5, 6])) == pytest.approx(0.5)
    assert M.ks_complement(pd.Series([1.0, np.nan, 2.0]), pd.Series([1.0, 2.0])) == pytest.approx(1.0)


def test_tv_complement_known_answer():
    assert M.tv_complement(pd.Series(list("aabb")), pd.Series(list("aaab"))) == pytest.approx(0.75)
    assert M.tv_complement(pd.Series(list("ab")), pd.Series(list("cd"))) == pytest.approx(0.0)


def test_correlation_similarity_known_answer():
    x = pd.Series([1.0, 2.0, 3.0, 4.0])
    real = pd.DataFrame({"a": x, "b": x})
    syn = pd.DataFrame({"a": x, "b": -x})
    score, r, s = M.correlation_similarity(real, syn)
    assert (score, r, s) == pytest.approx((0.0, 1.0, -1.0))


def test_contingency_similarity_known_answer():
    real = pd.DataFrame({"a": list("aabb"), "b": list("xxyy")})
    syn = pd.DataFrame({"a": list("aabb"), "b": list("yyxx")})
    assert M.contingency_similarity(real, syn) == pytest.approx(0.0)
    assert M.contingency_similarity(real, real) == pytest.approx(1.0)
    half = pd.DataFrame({"a": list("aabb"), "b": list("xyyy")})
    assert M.contingency_similarity(real, half) == pytest.approx(0.75)


def test_adherence_known_answers():
    assert M.boundary_adherence(pd.Series([0.0, 10.0]), pd.Series([-1.0, 5.0, 11.0, 10.0])) == 0.5
    assert M.category_adherence(pd.Series(list("ab")), pd.Series(list("acbd"))) == 0.5


def test_dcr_known_answer():
    real = pd.DataFrame({"x": [0.0, 10.0], "c": ["a", "b"]})
    syn = pd.DataFrame({"x": [5.0, 10.0], "c": ["a", "a"]})
    types = {"x": "numerical", "c": "categorical"}
    # row 1: (|5-0|/10 + 0)/2 = 0.25 ; row 2: min((1 + 0)/2, (0 + 1)/2) = 0.5
    np.testing.assert_allclose(M.dcr(syn, real, types), [0.25, 0.5])


def test_overfitting_protection_and_copies_known_answers():
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=400), "c": rng.choice(list("abc"), 400)})
    train, hold = table.iloc[:200].reset_index(drop=True), table.iloc[200:].reset_index(drop=True)
    types = {"x": "numerical", "c": "categorical"}
    copied = M.dcr_overfitting_protection(train, train, hold, types)
    assert copied["closer_to_training"] == 1.0 and copied["score"] == 0.0
    assert M.dcr_overfitting_protection(train, hold, hold, types)["score"] == 1.0
    half = pd.concat([train.iloc[:100], hold.iloc[:100]], ignore_index=True)
    assert M.exact_copy_rate(train, half, types) == 0.5
    assert M.dcr_baseline_protection(train, train, types, rng)["score"] == 0.0


def test_ml_efficacy_known_answer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=600)
    table = pd.DataFrame({"x": x, "noise": rng.normal(size=600), "label": np.where(x > 0, "pos", "neg")})
    train, hold = table.iloc[:400].reset_index(drop=True), table.iloc[400:].reset_index(drop=True)
    types = {"x": "numerical", "noise": "numerical", "label": "categorical"}
    useless = train.copy()
    useless["label"] = rng.permutation(useless["label"].to_numpy())
    same = M.ml_efficacy(train, train, hold, "label", types, "auto", rng)
    assert same["task"] == "classification" and same["real"] > 0.97 and same["ratio"] == pytest.approx(1.0)
    bad = M.ml_efficacy(train, useless, hold, "label", types, "auto", rng)
    assert bad["synthetic"] < 0.7 and bad["ratio"] < 0.75
    reg = M.ml_efficacy(train, train, hold, "x", types, "auto", rng)
    assert reg["task"] == "regression" and reg["metric"] == "r2" and reg["real"] > 0.5


def test_evaluate_report_and_html(tmp_path, mixed_table):
    rng = np.random.default_rng(0)
    train, hold = plugin.split(mixed_table, 0.3, rng)
    report = plugin.evaluate(train, train, hold, EvaluateOptions(target="sex"), tmp_path, rng)
    assert "patient_id" not in report["column_types"]  # identifiers are not compared
    s = report["summary"]
    assert s["quality_score"] == pytest.approx(1.0) and s["exact_copy_rate"] == 1.0
    assert report["privacy"]["DCROverfittingProtection"]["score"] == 0.0
    assert s["ml_efficacy_ratio"] == pytest.approx(1.0)
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2 and "KSComplement" in html
    import json

    json.dumps(report)  # JSON-serialisable (NaN -> null)
    names = {m.name for m in plugin.metrics()}
    assert {"KSComplement", "DCRBaselineProtection", "ml_efficacy.ratio"} <= names
    assert all(m.direction in ("higher-is-better", "lower-is-better", "informative") for m in plugin.metrics())


def test_unknown_target_is_a_usage_error(mixed_table):
    from domaingen.errors import UsageError

    with pytest.raises(UsageError, match="nope"):
        plugin.evaluate(mixed_table, mixed_table, None, {"target": "nope"}, None, np.random.default_rng(0))


# --- cross-check against sdmetrics -----------------------------------------------------------
@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(7)
    n = 300

    def table(shift):
        x = rng.normal(shift, 1, n)
        return pd.DataFrame(
            {
                "x": np.round(x, 3),
                "y": np.round(2 * x + rng.normal(0, 1 + shift, n), 3),
                "k": rng.integers(0, 100, n),
                "c": rng.choice(list("abcd"), n, p=[0.4, 0.3, 0.2 + shift / 10, 0.1 - shift / 10]),
                "b": rng.random(n) < 0.3 + shift / 5,
                "d": pd.to_datetime("2020-01-01") + pd.to_timedelta(rng.integers(0, 900 + int(100 * shift), n), unit="D"),
            }
        )

    real, synthetic, holdout = table(0.0), table(0.5), table(0.0)
    synthetic.loc[0, "c"] = "zz"  # a category the real table lacks
    synthetic.loc[1, "x"] = 99.0  # out of bounds
    metadata = {
        "columns": {
            "x": {"sdtype": "numerical"},
            "y": {"sdtype": "numerical"},
            "k": {"sdtype": "numerical"},
            "c": {"sdtype": "categorical"},
            "b": {"sdtype": "boolean"},
            "d": {"sdtype": "datetime", "datetime_format": "%Y-%m-%d"},
        }
    }
    types = {"x": "numerical", "y": "numerical", "k": "numerical", "c": "categorical", "b": "boolean", "d": "datetime"}
    return real, synthetic, holdout, metadata, types


def test_column_metrics_match_sdmetrics(pair):
    from sdmetrics.single_column import BoundaryAdherence, CategoryAdherence, KSComplement, TVComplement

    real, syn, _, _, types = pair
    assert M.sdtypes(real) == {**types, "k": "numerical"}
    for col in ["x", "y", "k", "d"]:
        assert M.ks_complement(real[col], syn[col]) == pytest.approx(KSComplement.compute(real[col], syn[col]), abs=1e-9)
        assert M.boundary_adherence(real[col], syn[col]) == pytest.approx(
            BoundaryAdherence.compute(real[col], syn[col]), abs=1e-9
        )
    for col in ["c", "b"]:
        assert M.tv_complement(real[col], syn[col]) == pytest.approx(TVComplement.compute(real[col], syn[col]), abs=1e-6)
        assert M.category_adherence(real[col], syn[col]) == pytest.approx(
            CategoryAdherence.compute(real[col], syn[col]), abs=1e-9
        )


def test_pair_metrics_match_sdmetrics(pair):
    from sdmetrics.column_pairs import ContingencySimilarity, CorrelationSimilarity

    real, syn, _, _, types = pair
    for a, b in [("x", "y"), ("x", "k"), ("y", "d")]:
        ours = M.correlation_similarity(real[[a, b]], syn[[a, b]])[0]
        assert ours == pytest.approx(CorrelationSimilarity.compute(real[[a, b]], syn[[a, b]]), abs=1e-9)
    assert M.contingency_similarity(real[["c", "b"]], syn[["c", "b"]]) == pytest.approx(
        ContingencySimilarity.compute(real[["c", "b"]], syn[["c", "b"]]), abs=1e-9
    )
    for a, b in [("x", "c"), ("k", "b")]:
        ours = M.contingency_similarity(real[[a, b]], syn[[a, b]], continuous=(True, False))
        theirs = ContingencySimilarity.compute(real[[a, b]], syn[[a, b]], continuous_column_names=[a])
        assert ours == pytest.approx(theirs, abs=1e-9)


def _assert_matches_sdmetrics_report(ours, real, syn, metadata):
    """Our quality report against SDMetrics' QualityReport on the same tables and metadata:
    Column Shapes exactly, Column Pair Trends and the overall score within 0.02."""
    with warnings.catch_warnings():  # the single-table report is the one that takes this metadata
        warnings.simplefilter("ignore", FutureWarning)
        from sdmetrics.reports.single_table import QualityReport

    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(real, syn, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    assert ours["properties"]["Column Shapes"]["score"] == pytest.approx(props["Column Shapes"], abs=1e-6)
    assert ours["properties"]["Column Pair Trends"]["score"] == pytest.approx(props["Column Pair Trends"], abs=0.02)
    assert ours["score"] == pytest.approx(report.get_score(), abs=0.02)


def test_quality_score_close_to_sdmetrics_report(pair):
    real, syn, _, metadata, types = pair
    ours = M.quality_report(real, syn, types, np.random.default_rng(0))
    _assert_matches_sdmetrics_report(ours, real, syn, metadata)


def test_privacy_metrics_match_sdmetrics(pair, monkeypatch):
    from sdmetrics.single_table import DCRBaselineProtection, DCROverfittingProtection
    from sdmetrics.single_table.privacy.dcr_utils import calculate_dcr

    real, syn, hold, metadata, types = pair
    syn = syn.copy()
    for col in ["x", "y", "k", "d"]:  # DCR is exact inside the real range (documented approximation outside)
        syn[col] = syn[col].clip(real[col].min(), real[col].max())
    syn["c"] = syn["c"].replace("zz", "a")
    theirs = calculate_dcr(syn, real, metadata).to_numpy()
    np.testing.assert_allclose(M.dcr(syn, real, types), theirs, atol=1e-9)
    # SDMetrics seeds its random baseline from this class attribute; with the same seed and
    # complete columns both draw the same table
    monkeypatch.setattr(DCRBaselineProtection, "_seed", 3, raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        over = DCROverfittingProtection.compute_breakdown(real, syn, hold, metadata, None)
        base = DCRBaselineProtection.compute_breakdown(real, syn, metadata, None)
    ours = M.dcr_overfitting_protection(real, syn, hold, types, shared_ranges=False)
    assert ours["score"] == pytest.approx(over["score"], abs=1e-9)
    ours_base = M.dcr_baseline_protection(real, syn, types, np.random.default_rng(3))
    medians = base["median_DCR_to_real_data"]
    assert ours_base["median_DCR_synthetic"] == pytest.approx(medians["synthetic_data"], abs=1e-9)
    assert ours_base["median_DCR_random_baseline"] == pytest.approx(medians["random_data_baseline"], abs=1e-6)
    assert ours_base["score"] == pytest.approx(base["score"], abs=1e-6)


def test_quality_score_close_to_sdmetrics_report_with_sdv_detected_metadata(pair):
    """The same cross-check with the metadata SDV itself detects (``M.sdv_metadata``, SDV's
    rules reproduced: see test_tabular_sdv_types.py); where SDV's types differ from ours
    (here: the boolean ``b`` is categorical to SDV, scored the same way) both are named."""
    real, syn, _, _, types = pair
    metadata = M.sdv_metadata(real)
    detected = {c: m["sdtype"] for c, m in metadata["columns"].items()}
    assert detected == {**types, "b": "categorical"}
    assert M.column_type_table(real, None)["differ_from_sdv"] == {}  # same metric for every column
    ours = M.quality_report(real, syn, detected, np.random.default_rng(0))
    _assert_matches_sdmetrics_report(ours, real, syn, metadata)


def test_report_histograms_never_divide_by_zero():
    """report.html's histograms: a constant huge-valued column gets a range of non-zero
    width, and values that all miss the bins give zeros, not NaN with a RuntimeWarning."""
    from domaingen_plugins.tabular.report import _bins, _density

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for values in (np.full(5, 1.7e17), np.array([3.0]), np.array([-2.0, 5.0, 9.0])):
            bins = _bins(values)
            assert len(bins) == 31 and np.all(np.diff(bins) > 0)
            density = _density(values, bins)
            assert np.isclose((density * np.diff(bins)).sum(), 1.0)
        assert not _density(np.array([1e9]), np.linspace(0.0, 1.0, 31)).any()
