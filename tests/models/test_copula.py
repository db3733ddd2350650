"""Gaussian copula: known marginals and frequencies, correlations, conditions, saving."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.errors import ConditionError, UsageError
from domaingen.models import copula
from domaingen.spec import DataSpec, Segment

from .conftest import (
    BIN_P,
    CAT_FREQ,
    MIX_MEANS,
    MIX_WEIGHT,
    TABLE_SPEC,
    TOKEN_SPEC,
    check_table_rows,
    dependent_table,
    mixed_table,
    weights_equal,
)

keras = keras_module()


def _fit(x, seed=0, **options):
    model = copula.family.build(TABLE_SPEC, options, seed)
    model.train_on(x, seed=seed)
    return model


@pytest.fixture(scope="module")
def fitted():
    return _fit(mixed_table(50000))


def test_reproduces_marginals(fitted):
    g = fitted.generate(200000, seed=1)
    check_table_rows(g)
    low = g[:, 0] < -0.25
    # tolerances: weights +-0.01, component means +-0.05, frequencies +-0.01
    assert abs(low.mean() - MIX_WEIGHT) < 0.01
    assert abs(g[low, 0].mean() - MIX_MEANS[0]) < 0.05
    assert abs(g[~low, 0].mean() - MIX_MEANS[1]) < 0.05
    np.testing.assert_allclose(g[:, 1:4].mean(axis=0), CAT_FREQ, atol=0.01)
    assert abs(g[:, 4].mean() - BIN_P) < 0.01


def test_recovers_a_known_gaussian_copula():
    """Data drawn from a Gaussian copula (rho = 0.6) with exponential and uniform marginals:
    the fit must give back the rank correlation 6/pi asin(rho/2) and the marginals."""
    from scipy import stats

    rho = 0.6
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=30000)
    x = np.column_stack([stats.expon.ppf(stats.norm.cdf(z[:, 0])), stats.norm.cdf(z[:, 1])]).astype("float32")
    spec = DataSpec("table", (2,), (Segment("a", "continuous"), Segment("b", "continuous")))
    model = copula.family.build(spec, {}, 0)
    model.train_on(x, seed=0)
    g = model.generate(50000, seed=0)
    expected = 6 / np.pi * np.arcsin(rho / 2)
    assert abs(stats.spearmanr(g[:, 0], g[:, 1])[0] - expected) < 0.02
    assert abs(g[:, 0].mean() - 1.0) < 0.03 and g[:, 0].min() >= 0.0
    assert abs(g[:, 1].mean() - 0.5) < 0.01 and 0.0 <= g[:, 1].min() and g[:, 1].max() <= 1.0


def test_categories_follow_correlated_continuous_column():
    g = _fit(dependent_table(20000)).generate(50000, seed=0)
    means = [g[g[:, 1 + c] == 1, 0].mean() for c in range(3)]
    assert means[0] < means[1] < means[2]


def test_conditions_on_several_segments():
    model = _fit(dependent_table(20000))
    g = model.generate(20000, seed=0, conditions={"colour": 2, "flag": 1})
    check_table_rows(g)
    assert np.all(g[:, 3] == 1.0) and np.all(g[:, 4] == 1.0)
    assert g[:, 0].mean() > 1.0  # colour 2 goes with high x
    assert model.conditions_honoured({"colour": 2, "flag": 1}) == {"colour": 2, "flag": 1}
    with pytest.raises(ConditionError):
        model.generate(5, seed=0, conditions={"x": 1})
    with pytest.raises(ConditionError):
        model.generate(5, seed=0, conditions={"flag": 2})


def test_deterministic_batch_size_free_and_saves(fitted, tmp_keras):
    a = fitted.generate(300000, seed=4)
    assert np.array_equal(a, fitted.generate(300000, seed=4, batch_size=1000))
    assert not np.array_equal(a[:100], fitted.generate(100, seed=5))
    assert np.array_equal(a[:1000], fitted.generate(1000, seed=4))
    fitted.save(tmp_keras)
    loaded = keras.saving.load_model(tmp_keras, safe_mode=True)
    assert weights_equal(fitted, loaded)
    assert np.array_equal(a[:5000], loaded.generate(5000, seed=4))


def test_same_seed_same_fit():
    x = mixed_table(5000)
    assert weights_equal(_fit(x, seed=1), _fit(x, seed=1))


def test_constant_and_multi_column_segments():
    spec = DataSpec(
        "table",
        (4,),
        (Segment("const", "continuous"), Segment("pair", "continuous", 2), Segment("b", "binary")),
    )
    rng = np.random.default_rng(0)
    x = np.column_stack([np.full(1000, 3.0), rng.normal(size=(1000, 2)), np.zeros(1000)]).astype("float32")
    model = copula.family.build(spec, {"knots": 64}, 0)
    model.train_on(x, seed=0)
    g = model.generate(1000, seed=0)
    assert np.all(g[:, 0] == 3.0) and np.all(g[:, 3] == 0.0)
    assert abs(g[:, 1].std() - 1.0) < 0.15


def test_rejects_non_tables():
    with pytest.raises(UsageError):
        copula.family.build(TOKEN_SPEC, {}, 0)


def _placeholder_table(n: int, rng):
    """``a`` and ``b`` correlated 0.8 with skewed margins; ``b`` missing (placeholder 0, flag 1)
    on 40 % of the rows, as a codec writes a missing number."""
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.8], [0.8, 1.0]], n)
    a, b = z[:, 0], np.exp(0.5 * z[:, 1]) + 2.0
    missing = rng.random(n) < 0.4
    x = np.stack([a, np.where(missing, 0.0, b), missing.astype(float)], axis=1).astype("float32")
    return x, z[~missing]


PLACEHOLDER_SPEC = DataSpec(
    layout="table",
    shape=(3,),
    segments=(
        Segment("a", "continuous"),
        Segment("b.value", "continuous", missing_when="b.missing", missing_codes=(1,)),
        Segment("b.missing", "binary"),
    ),
)


def test_placeholders_are_left_out_of_marginals_and_correlations():
    """Known answer: on the rows where ``b`` holds a value, its spread and its rank correlation
    with ``a`` are the real ones; the flag keeps its frequency. Without ``missing_when`` the
    placeholder spike pulls both away (checked below, so the test can tell the two apart)."""
    rng = np.random.default_rng(3)
    x, _ = _placeholder_table(40000, rng)
    real_b = x[x[:, 2] < 0.5, 1]
    real = x[x[:, 2] < 0.5]
    from scipy import stats

    def judged(spec):
        model = copula.family.build(spec, {}, 0)
        model.train_on(x, seed=0)
        out = model.generate(40000, seed=1)
        present = out[out[:, 2] < 0.5]
        return out[:, 2].mean(), np.std(present[:, 1]), stats.spearmanr(present[:, 0], present[:, 1])[0]

    rate, spread, rho = judged(PLACEHOLDER_SPEC)
    real_rho = stats.spearmanr(real[:, 0], real[:, 1])[0]
    assert rate == pytest.approx(0.4, abs=0.01)
    assert spread == pytest.approx(np.std(real_b), rel=0.03)
    assert rho == pytest.approx(real_rho, abs=0.02)
    naive = DataSpec(layout="table", shape=(3,), segments=(Segment("a", "continuous"), Segment("b.value", "continuous"), Segment("b.missing", "binary")))
    _, naive_spread, naive_rho = judged(naive)
    assert abs(naive_rho - real_rho) > 0.1 and abs(naive_spread - np.std(real_b)) > 0.1 * np.std(real_b)


def test_pairwise_correlation_equals_the_plain_one_without_placeholders():
    z = np.random.default_rng(0).normal(size=(500, 4)).astype("float32") @ np.triu(np.ones((4, 4), "float32"))
    plain = copula._correlation(z, 1e-3)
    pairwise = copula._pairwise_correlation(z, np.ones(z.shape, dtype=bool), 1e-3)
    np.testing.assert_allclose(pairwise, plain, atol=1e-5)


def test_missing_when_must_name_a_flag_with_those_codes():
    with pytest.raises(ValueError, match="go together"):
        Segment("v", "continuous", missing_when="f")
    with pytest.raises(ValueError, match="missing_when must name"):
        DataSpec(layout="table", shape=(1,), segments=(Segment("v", "continuous", missing_when="nope", missing_codes=(1,)),))
    with pytest.raises(ValueError, match="codes of segment"):
        DataSpec(layout="table", shape=(3,), segments=(Segment("v", "continuous", missing_when="p", missing_codes=(2,)), Segment("p", "categorical", 2)))
    again = DataSpec.from_json(PLACEHOLDER_SPEC.to_json())
    assert again == PLACEHOLDER_SPEC and again.segments[1].missing_codes == (1,)
    x = np.array([[0.0, 0.0, 1.0], [0.0, 2.0, 0.0]])
    assert PLACEHOLDER_SPEC.missing_rows(x, PLACEHOLDER_SPEC.segments[1]).tolist() == [True, False]
    assert PLACEHOLDER_SPEC.missing_rows(x, PLACEHOLDER_SPEC.segments[0]) is None
