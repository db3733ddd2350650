"""Fitting 1-D Gaussian mode mixtures for many columns at once (the ``gmm`` transform).

The codec needs, per continuous column, the modes of a Dirichlet-process Bayesian Gaussian
mixture. Fitting scikit-learn's ``BayesianGaussianMixture`` once per column spends most of
its time in Python overhead per EM iteration, so small tables paid ~2.4 s for 30 columns.
Here the same model is fitted for all columns together: the variational-Bayes updates of
scikit-learn's BayesianGaussianMixture, vectorised over columns (``covariance_type="diag"``,
which in 1-D equals ``"full"``; ``weight_concentration_prior_type="dirichlet_process"``,
``weight_concentration_prior=0.001``, the data-derived default priors, ``reg_covar=1e-6``,
its k-means++ start with ``random_state=0``, and its stopping rule: a column stops once the
change of its lower bound is below ``tol``). The E-step works on (columns, components, rows)
arrays: shorter columns are padded with rows of zero weight, columns with fewer components
with components of zero weight, and many columns are split into groups of bounded size.
Results agree with scikit-learn to floating-point rounding (differences below 1e-12 on
standardised columns, same iteration counts; see ``tests/plugins/tabular/test_tabular_modes.py``).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import betaln, digamma, gammaln

__all__ = ["Mixture", "fit_mixtures", "fit_modes", "reference_mixture", "reference_modes"]

WEIGHT_CONCENTRATION_PRIOR = 0.001
REG_COVAR = 1e-6
MIN_STD = 1e-3
UNIQUE_PROBE_ROWS = 5000  # the number of modes is capped by the distinct values among these rows
GROUP_ELEMENTS = 4_000_000  # columns x rows x components per group: 32 MB per such array, ~100 MB at peak

_EPS = 10 * np.finfo(np.float64).eps  # scikit-learn adds this to every component's count
_ABSENT = -1e300  # log-weight of a padding component: exp() gives 0 without the NaNs of -inf
_LOG_2PI = math.log(2 * math.pi)
_LOG_2 = math.log(2.0)


class Mixture(NamedTuple):
    """A fitted mixture of one column, as scikit-learn reports it (components in fit order)."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    n_iter: int
    converged: bool


def fit_modes(
    columns: list[np.ndarray], max_modes: int, threshold: float, max_iter: int = 100, tol: float = 1e-3
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Means and standard deviations (sorted by mean) of the significant modes of each column.

    A column gets ``k = min(max_modes, distinct values among its first 5000, len)`` components;
    ``k <= 1`` gives one mode (the mean and ``max(std, 1e-3)``). Modes of weight at most
    ``threshold`` are dropped (the heaviest is always kept); standard deviations are floored
    at 1e-3.
    """
    columns = [np.asarray(c, dtype=np.float64).ravel() for c in columns]
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(columns)
    to_fit: list[int] = []
    counts: list[int] = []
    for j, z in enumerate(columns):
        k = int(min(max_modes, len(np.unique(z[:UNIQUE_PROBE_ROWS])), len(z)))
        if k <= 1:
            out[j] = (np.array([float(z.mean())]), np.array([max(float(z.std()), MIN_STD)]))
        else:
            to_fit.append(j)
            counts.append(k)
    mixtures = fit_mixtures([columns[j] for j in to_fit], counts, max_iter=max_iter, tol=tol)
    for j, m in zip(to_fit, mixtures):
        keep = m.weights > threshold
        if not keep.any():
            keep = m.weights == m.weights.max()
        means = m.means[keep]
        stds = np.sqrt(m.variances[keep])
        order = np.argsort(means)
        out[j] = (means[order], np.maximum(stds[order], MIN_STD))
    return out  # type: ignore[return-value]


def fit_mixtures(
    columns: list[np.ndarray], n_components: list[int], max_iter: int = 100, tol: float = 1e-3
) -> list[Mixture]:
    """Fit a ``n_components[j]``-component mixture to ``columns[j]`` for every ``j``.

    Each column needs at least 2 values and at least as many values as components. Columns
    are processed in groups of similar length whose (columns, components, rows) arrays hold
    at most ``GROUP_ELEMENTS`` floats (a single longer column forms a group of its own).
    """
    if len(columns) != len(n_components):
        raise ValueError("one component count per column is needed")
    columns = [np.asarray(c, dtype=np.float64).ravel() for c in columns]
    for j, (z, k) in enumerate(zip(columns, n_components)):
        if k < 1 or len(z) < max(2, k):
            raise ValueError(f"column {j}: {len(z)} values cannot be fitted with {k} components")
        if not np.all(np.isfinite(z)):
            raise ValueError(f"column {j} holds NaN or infinite values")
    results: list[Mixture | None] = [None] * len(columns)
    order = sorted(range(len(columns)), key=lambda j: -len(columns[j]))
    start = 0
    while start < len(order):
        stop = start + 1
        rows, comps = len(columns[order[start]]), n_components[order[start]]
        while stop < len(order):
            comps_next = max(comps, n_components[order[stop]])
            if (stop - start + 1) * rows * comps_next > GROUP_ELEMENTS:
                break
            comps = comps_next
            stop += 1
        group = order[start:stop]
        fitted = _fit_group([columns[j] for j in group], [n_components[j] for j in group], max_iter, tol)
        for j, m in zip(group, fitted):
            results[j] = m
        start = stop
    return results  # type: ignore[return-value]


# --- one group of columns ----------------------------------------------------------------------
class _Posterior:
    """Variational parameters of a group of columns, each array shaped (columns, components)."""

    def __init__(self, stats: np.ndarray, present: np.ndarray, mean_prior: np.ndarray, covariance_prior: np.ndarray):
        # stats[:, 0/1/2] = sum of resp, resp * x, resp * x^2 over each column's rows (the M-step)
        nk = stats[:, 0] + _EPS
        xk = stats[:, 1] / nk
        sk = stats[:, 2] / nk - xk**2 + REG_COVAR
        nk_present = np.where(present, nk, 0.0)
        later = np.cumsum(nk_present[:, ::-1], axis=1)[:, ::-1]  # sum over components >= k
        self.alpha = 1.0 + nk
        self.beta = WEIGHT_CONCENTRATION_PRIOR + np.concatenate([later[:, 1:], np.zeros_like(later[:, :1])], axis=1)
        self.mean_precision = 1.0 + nk  # mean_precision_prior = 1
        self.means = (mean_prior[:, None] + nk * xk) / self.mean_precision
        self.dof = 1.0 + nk  # degrees_of_freedom_prior = n_features = 1
        diff = xk - mean_prior[:, None]
        self.variances = (covariance_prior[:, None] + nk * (sk + (1.0 / self.mean_precision) * diff**2)) / self.dof
        self.precision_chol = 1.0 / np.sqrt(self.variances)
        self.present = present

    def take(self, rows: np.ndarray) -> None:
        for name in ("alpha", "beta", "mean_precision", "means", "dof", "variances", "precision_chol", "present"):
            setattr(self, name, getattr(self, name)[rows])

    def log_weights(self) -> np.ndarray:
        digamma_sum = digamma(self.alpha + self.beta)
        stick = np.cumsum(digamma(self.beta) - digamma_sum, axis=1)
        previous = np.concatenate([np.zeros_like(stick[:, :1]), stick[:, :-1]], axis=1)
        return digamma(self.alpha) - digamma_sum + previous

    def log_offsets(self) -> np.ndarray:
        """Per-component constant of the weighted log-probability (all but the squared distance)."""
        log_lambda = _LOG_2 + digamma(0.5 * self.dof)
        offsets = (
            -0.5 * _LOG_2PI
            + np.log(self.precision_chol)
            - 0.5 * np.log(self.dof)
            + 0.5 * (log_lambda - 1.0 / self.mean_precision)
            + self.log_weights()
        )
        return np.where(self.present, offsets, _ABSENT)

    def lower_bound_terms(self) -> np.ndarray:
        """The lower bound but for the responsibilities' entropy, one value per column."""
        log_det_precision_chol = np.log(self.precision_chol) - 0.5 * np.log(self.dof)
        log_wishart = -(self.dof * log_det_precision_chol + self.dof * 0.5 * _LOG_2 + gammaln(0.5 * self.dof))
        log_norm_weight = -betaln(self.alpha, self.beta)
        terms = -log_wishart - log_norm_weight - 0.5 * np.log(self.mean_precision)
        return np.where(self.present, terms, 0.0).sum(axis=1)

    def mixture_weights(self) -> np.ndarray:
        total = self.alpha + self.beta
        remaining = np.cumprod(self.beta / total, axis=1)
        before = np.concatenate([np.ones_like(remaining[:, :1]), remaining[:, :-1]], axis=1)
        weights = np.where(self.present, self.alpha / total * before, 0.0)
        return weights / weights.sum(axis=1, keepdims=True)


def _fit_group(columns: list[np.ndarray], n_components: list[int], max_iter: int, tol: float) -> list[Mixture]:
    from sklearn.cluster import kmeans_plusplus

    n_cols, n_rows, n_comps = len(columns), max(len(z) for z in columns), max(n_components)
    values = np.zeros((n_cols, n_rows))
    # per column and row: [row present, x, x^2], so that one batched matmul with the
    # responsibilities gives the M-step's sums and padding rows add nothing
    moments = np.zeros((n_cols, 3, n_rows))
    present = np.arange(n_comps)[None, :] < np.asarray(n_components)[:, None]
    start_stats = np.zeros((n_cols, 3, n_comps))
    mean_prior = np.empty(n_cols)
    covariance_prior = np.empty(n_cols)
    for j, (z, k) in enumerate(zip(columns, n_components)):
        x = z.reshape(-1, 1)
        values[j, : len(z)] = z
        moments[j, 0, : len(z)] = 1.0
        moments[j, 1, : len(z)] = z
        moments[j, 2, : len(z)] = z * z
        mean_prior[j] = x.mean(axis=0)[0]
        covariance_prior[j] = np.var(x, axis=0, ddof=1)[0]
        # scikit-learn's "k-means++" start: responsibility 1 at the chosen rows
        _, chosen = kmeans_plusplus(x, k, random_state=np.random.RandomState(0))
        start_stats[j, 0, :k] = 1.0
        start_stats[j, 1, :k] = z[chosen]
        start_stats[j, 2, :k] = z[chosen] ** 2
    post = _Posterior(start_stats, present, mean_prior, covariance_prior)

    results: list[Mixture | None] = [None] * n_cols
    active = np.arange(n_cols)  # columns still iterating, in the order of post's rows
    lower_bound = np.full(n_cols, -np.inf)
    x, moments_active, mean_prior_active, covariance_prior_active = values, moments, mean_prior, covariance_prior
    for n_iter in range(1, max_iter + 1):
        # E-step, shifted by each row's largest weighted log-probability so that exp() stays finite;
        # arrays are (columns, components, rows) so that sums over components run along rows
        shifted = x[:, None, :] - post.means[:, :, None]
        shifted *= (np.sqrt(0.5) * post.precision_chol)[:, :, None]
        np.square(shifted, out=shifted)
        np.subtract(post.log_offsets()[:, :, None], shifted, out=shifted)
        shifted -= shifted.max(axis=1, keepdims=True)
        unnormalised = np.exp(shifted)
        total = unnormalised.sum(axis=1)  # responsibilities = unnormalised / total
        row_weight = moments_active[:, 0] / total  # 0 on padding rows
        # sum of resp * log(resp) = sum over rows of (sum_k e_k * shifted_k) / total - log(total)
        entropy_term = np.log(total, out=total)
        entropy_term *= moments_active[:, 0]
        entropy_term = entropy_term.sum(axis=1) - np.einsum("ckn,ckn,cn->c", unnormalised, shifted, row_weight)
        # M-step (sums of resp, resp * x, resp * x^2 per component) and lower bound
        stats = np.matmul(moments_active * row_weight[:, None, :], unnormalised.transpose(0, 2, 1))
        del shifted, unnormalised  # free before the next iteration allocates its own
        post = _Posterior(stats, post.present, mean_prior_active, covariance_prior_active)
        bound = entropy_term + post.lower_bound_terms()
        converged = np.abs(bound - lower_bound[active]) < tol
        lower_bound[active] = bound
        done = converged | (n_iter == max_iter)
        if done.any():
            weights = post.mixture_weights()
            for row in np.flatnonzero(done):
                j = active[row]
                k = n_components[j]
                results[j] = Mixture(
                    weights[row, :k].copy(),
                    post.means[row, :k].copy(),
                    post.variances[row, :k].copy(),
                    n_iter,
                    bool(converged[row]),
                )
            keep = ~done
            active = active[keep]
            if len(active) == 0:
                break
            post.take(keep)
            x, moments_active = values[active], moments[active]
            mean_prior_active, covariance_prior_active = mean_prior[active], covariance_prior[active]
    return results  # type: ignore[return-value]


def reference_mixture(z: np.ndarray, n_components: int, covariance_type: str = "diag"):
    """scikit-learn's ``BayesianGaussianMixture`` with the settings this module reproduces,
    fitted on the 1-D sample ``z`` (the yardstick of the tests and the codec benchmark)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import BayesianGaussianMixture

    gmm = BayesianGaussianMixture(
        n_components=int(n_components),
        covariance_type=covariance_type,
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=WEIGHT_CONCENTRATION_PRIOR,
        reg_covar=REG_COVAR,
        max_iter=100,
        n_init=1,
        random_state=0,
        init_params="k-means++",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm.fit(np.asarray(z, dtype=np.float64).reshape(-1, 1))
    return gmm


def reference_modes(z: np.ndarray, max_modes: int, threshold: float, covariance_type: str = "diag"):
    """``fit_modes`` for one column done with scikit-learn itself (one estimator per column)."""
    z = np.asarray(z, dtype=np.float64)
    k = int(min(max_modes, len(np.unique(z[:UNIQUE_PROBE_ROWS])), len(z)))
    if k <= 1:
        return np.array([z.mean()]), np.array([max(z.std(), MIN_STD)])
    gmm = reference_mixture(z, k, covariance_type)
    keep = gmm.weights_ > threshold
    if not keep.any():
        keep = gmm.weights_ == gmm.weights_.max()
    means, stds = gmm.means_.ravel()[keep], np.sqrt(gmm.covariances_.ravel()[keep])
    order = np.argsort(means)
    return means[order], np.maximum(stds[order], MIN_STD)
