"""The batched mode fit agrees with scikit-learn's BayesianGaussianMixture, column by column.

Tolerance: 1e-6 absolute on weights, means and variances of standardised columns (the
differences seen are below 1e-12: the same updates, summed in a different order).
"""

from __future__ import annotations

import numpy as np
import pytest
from domaingen_plugins.tabular import modes
from domaingen_plugins.tabular.codec import TabularCodec
from domaingen_plugins.tabular.modes import fit_mixtures, fit_modes, reference_mixture, reference_modes

TOLERANCE = 1e-6


def sklearn_mixture(z: np.ndarray, k: int):
    return reference_mixture(z, k)


def sklearn_modes(z: np.ndarray, max_modes: int = 10, threshold: float = 0.005):
    """The per-column fit the codec used before the batched one."""
    return reference_modes(z, max_modes, threshold)


def n_components(z: np.ndarray) -> int:
    return int(min(10, len(np.unique(z[:5000])), len(z)))


def assert_same_mixtures(columns: list[np.ndarray]) -> None:
    counts = [n_components(z) for z in columns]
    fitted = fit_mixtures(columns, counts)
    for j, (z, k, got) in enumerate(zip(columns, counts, fitted)):
        ref = sklearn_mixture(z, k)
        np.testing.assert_allclose(got.weights, ref.weights_, rtol=0, atol=TOLERANCE, err_msg=f"column {j} weights")
        np.testing.assert_allclose(got.means, ref.means_.ravel(), rtol=0, atol=TOLERANCE, err_msg=f"column {j} means")
        np.testing.assert_allclose(
            got.variances, ref.covariances_.ravel(), rtol=0, atol=TOLERANCE, err_msg=f"column {j} variances"
        )
        assert got.n_iter == ref.n_iter_, f"column {j}"
        assert got.converged == ref.converged_, f"column {j}"


def assert_same_modes(columns: list[np.ndarray]) -> None:
    for j, (z, (means, stds)) in enumerate(zip(columns, fit_modes(columns, 10, 0.005))):
        ref_means, ref_stds = sklearn_modes(z)
        assert means.shape == ref_means.shape, f"column {j}"
        np.testing.assert_allclose(means, ref_means, rtol=0, atol=TOLERANCE, err_msg=f"column {j} means")
        np.testing.assert_allclose(stds, ref_stds, rtol=0, atol=TOLERANCE, err_msg=f"column {j} stds")


def standardised(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


@pytest.fixture(scope="module")
def breast_cancer_columns() -> list[np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer().data
    rows = np.random.default_rng(0).permutation(len(data))[:455]  # the size of a training split
    return [standardised(data[rows, j]) for j in range(data.shape[1])]


def test_breast_cancer_columns_match_sklearn(breast_cancer_columns):
    assert_same_mixtures(breast_cancer_columns)
    assert_same_modes(breast_cancer_columns)


def test_three_known_modes_are_found():
    rng = np.random.default_rng(7)
    true_means, true_stds, true_weights = np.array([-4.0, 0.0, 5.0]), np.array([0.5, 1.0, 0.7]), np.array([0.3, 0.5, 0.2])
    label = rng.choice(3, 6000, p=true_weights)
    z = rng.normal(true_means[label], true_stds[label])
    assert_same_mixtures([z])
    fitted = fit_mixtures([z], [10])[0]
    kept = fitted.weights > 0.005
    means, weights = fitted.means[kept], fitted.weights[kept]
    nearest = np.argmin(np.abs(means[:, None] - true_means[None, :]), axis=1)
    for t in range(3):
        # a broad mode may be shared by a few components within 100 iterations (as in scikit-learn):
        # one of them sits on the true mean and their weighted centre too
        mine = nearest == t
        assert np.abs(means[mine] - true_means[t]).min() < 0.05
        assert abs(weights[mine] @ means[mine] / weights[mine].sum() - true_means[t]) < 0.05
        assert abs(weights[mine].sum() - true_weights[t]) < 0.02
    assert np.all(np.abs(means - true_means[nearest]) < true_stds[nearest])


def test_small_columns_unequal_lengths_in_one_call():
    rng = np.random.default_rng(3)
    columns = [
        np.array([0.0, 1.0, 0.0, 1.0, 1.0, 1.0]),  # 2 unique values: 2 components
        np.full(40, 2.5),  # constant: one mode, std floored
        np.array([1.5]),  # one value
        standardised(rng.normal(size=50)),
        standardised(np.r_[rng.normal(-2, 0.4, 2500), rng.normal(1, 0.8, 1500)]),
        standardised(rng.integers(0, 4, 900).astype(float)),  # 4 components among 10-component columns
        standardised(np.round(rng.exponential(size=7000), 1)),  # more rows than the unique-value probe
    ]
    assert_same_modes(columns)
    assert_same_mixtures([z for z in columns if n_components(z) > 1])
    means, stds = fit_modes(columns, 10, 0.005)[1]
    np.testing.assert_array_equal(means, [2.5])
    np.testing.assert_array_equal(stds, [1e-3])


def test_groups_give_the_same_result(breast_cancer_columns, monkeypatch):
    columns = breast_cancer_columns[:6] + [breast_cancer_columns[6][:100], breast_cancer_columns[7][:300]]
    counts = [n_components(z) for z in columns]
    together = fit_mixtures(columns, counts)
    monkeypatch.setattr(modes, "GROUP_ELEMENTS", 2 * 455 * 10)  # at most two full columns per group
    apart = fit_mixtures(columns, counts)
    for a, b in zip(together, apart):
        np.testing.assert_allclose(a.means, b.means, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.variances, b.variances, rtol=0, atol=1e-12)
        np.testing.assert_allclose(a.weights, b.weights, rtol=0, atol=1e-12)


def test_invalid_requests_are_refused():
    with pytest.raises(ValueError, match="component count"):
        fit_mixtures([np.zeros(3)], [])
    with pytest.raises(ValueError, match="cannot be fitted"):
        fit_mixtures([np.arange(3.0)], [4])
    with pytest.raises(ValueError, match="NaN"):
        fit_mixtures([np.array([0.0, np.nan, 1.0])], [2])


def test_codec_stores_the_sklearn_modes(mixed_table):
    codec = TabularCodec().fit(mixed_table)
    for i, info in enumerate(codec.columns_):
        if info.kind not in ("numeric", "datetime"):
            continue
        t = codec.transforms_[i]
        values = codec._to_float(info, mixed_table[info.name])
        z = (values[np.isfinite(values)] - t["loc"]) / t["scale"]
        ref_means, ref_stds = sklearn_modes(z)
        np.testing.assert_allclose(codec.arrays_[f"means_{i}"], ref_means, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(codec.arrays_[f"stds_{i}"], ref_stds, rtol=0, atol=TOLERANCE)
        assert set(t) == {"transform", "loc", "scale", "default_mode"}
