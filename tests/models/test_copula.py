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
