"""Gaussian-copula family (``copula``): a fast, deterministic baseline for ``table`` data.

One latent standard-normal dimension per continuous column, per categorical segment and
per binary column. Marginals are stored in the model as non-trainable weights, so it
saves as a ``.keras`` file like every other family:

- continuous: the column's quantiles at the levels Phi(s) of ``knots`` normal scores s on a
  uniform grid; a latent value maps to data by linear interpolation on that grid (index
  arithmetic, no search), clamped to the range seen;
- categorical / binary: each category owns an interval of [0, 1] as wide as its training
  frequency (SDV's frequency encoding); in normal-score space that is a set of thresholds.

Fitting (``train_on``) is numpy, deterministic for a seed and takes seconds for a million
rows: normal scores of the rows (categories jittered uniformly inside their interval), their
correlation, its Cholesky factor. ``generate`` draws correlated normals and maps them
through the inverse marginals; ``conditions`` on any number of categorical/binary segments
are honoured natively: the conditioned latents are drawn inside their category's interval
and the others from the Gaussian conditional on them.

Under ``train.privacy`` (``use_privacy``) it is a DP Gaussian copula: every statistic is
released by the Gaussian mechanism, with one noise multiplier calibrated by dp-accounting
for both releases together (``dp_marginal_share`` of the privacy, in 1/σ², to the marginals):

- marginals: a histogram per latent dimension (``dp_bins`` equal bins over [-1, 1] for
  continuous columns, which must be bounded segments, i.e. encoded within public bounds;
  one count per category or 0/1 value), each row adding 1 to one bin of each, so the
  histograms' L2 sensitivity is sqrt(d); negative counts are set to 0;
- correlation: the rows' normal scores (from the noisy marginals) divided by sqrt(d) and
  clipped to L2 norm 1, so the sum of their outer products has sensitivity 1; the upper
  triangle gets noise, is mirrored, and is turned into the nearest correlation matrix.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field
from scipy import special

from .._quiet import keras_module
from ..errors import UsageError
from ..plugin import StrictModel
from ._options import SpecModel
from ._table import TableLayout, check_training_data
from ..privacy import PrivateTraining, calibrate, clip_rows, compose, epsilon_of, gaussian_event, spent_record
from .base import ModelFamily

__all__ = ["CopulaOptions", "GaussianCopula", "CopulaFamily", "family"]

keras = keras_module()
_CHUNK = 1 << 18  # rows per random stream: output does not depend on batch_size
_Z_MAX = 8.0


class CopulaOptions(StrictModel):
    """Recipe ``model.options`` of the ``copula`` family."""

    knots: int = Field(512, ge=2, le=100000, description="quantile knots per continuous column")
    shrinkage: float = Field(1e-3, ge=0.0, lt=1.0, description="correlation shrinkage towards identity")
    dp_bins: int = Field(16, ge=2, le=1000, description="train.privacy: histogram bins per continuous column")
    dp_marginal_share: float = Field(
        0.5, gt=0.0, lt=1.0, description="train.privacy: share of the privacy (in 1/sigma^2) spent on the marginals, the rest on the correlation"
    )


@keras.saving.register_keras_serializable(package="domaingen")
class GaussianCopula(PrivateTraining, SpecModel, keras.Model):
    """Gaussian copula with empirical marginals; see the module docstring."""

    options_class = CopulaOptions
    layouts = ("table",)
    family = "copula"


    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        self.layout = TableLayout(self.spec)
        # latent dims: one per continuous column, per categorical segment, per binary column
        dims = []
        for s in self.layout.segments:
            if s.kind == "categorical":
                dims.append(("categorical", s, 0))
            else:
                dims.extend((s.kind, s, i) for i in range(s.size))
        self._dims = dims
        d = len(dims)
        k = self.options.knots
        n_cont = self.layout.n_continuous
        # thresholds: categorical segment of size m has m-1 inner thresholds; binary 1
        n_thr = sum(s.size - 1 for s in self.layout.categorical) + self.layout.n_binary

        def weight(name, shape, init="zeros"):
            return self.add_weight(name=name, shape=shape, initializer=init, trainable=False)

        self.knot_values = weight("knot_values", (max(1, n_cont), k))
        self.knot_scores = weight("knot_scores", (k,))
        self.thresholds = weight("thresholds", (max(1, n_thr),))
        self.cholesky = weight("cholesky", (d, d), "identity")
        self.built = True

    def call(self, x):
        """Identity: the copula has no differentiable forward pass."""
        return x

    # --- fitting -------------------------------------------------------------------------
    def train_on(self, x, *, epochs=1, batch_size=0, learning_rate=0.0, callbacks=(), validation_split=0.0, seed=0):
        """Fit marginals and correlation (numpy; ``epochs``/``batch_size``/``learning_rate``
        do not apply). Returns a one-entry history so callers can treat it like the others."""
        x = check_training_data(x, self.spec, "copula")
        rng = np.random.default_rng(int(seed))
        if self.dp is not None:
            return self._fit_private(x, rng)
        n, k = len(x), self.options.knots
        eps = 0.5 / n
        z_max = float(min(special.ndtri(1.0 - eps), _Z_MAX))
        scores = np.linspace(-z_max, z_max, k)  # a uniform grid: decoding is index arithmetic
        levels = special.ndtr(scores)
        levels[0], levels[-1] = 0.0, 1.0
        values = np.zeros((max(1, self.layout.n_continuous), k))
        thresholds = []
        z = np.empty((n, len(self._dims)), dtype=np.float32)
        present = self._present_rows(x)  # None: every entry is a value (no placeholders)
        c_at = 0
        for j, (kind, s, i) in enumerate(self._dims):
            rows = slice(None) if present is None else present[:, j]  # marginals from the values only
            if kind == "continuous":
                col = x[:, s.start + i].astype(np.float64)
                values[c_at] = np.quantile(col[rows], levels) if col[rows].size else 0.0
                u = np.interp(col, values[c_at], levels)
                c_at += 1
                z[:, j] = special.ndtri(np.clip(u, eps, 1.0 - eps))
                continue
            if kind == "categorical":
                block = x[:, s.start : s.start + s.size]
                cats = block.argmax(axis=1)
                counts = np.bincount(cats[rows], minlength=s.size).astype(np.float64)
            else:
                cats = (x[:, s.start + i] > 0.5).astype(np.int64)
                counts = np.bincount(cats[rows], minlength=2).astype(np.float64)
            bounds = np.concatenate([[0.0], np.cumsum(counts) / max(1.0, counts.sum())])
            bounds[-1] = 1.0
            thresholds.extend(bounds[1:-1])
            u = bounds[cats] + (bounds[cats + 1] - bounds[cats]) * rng.random(n)
            z[:, j] = special.ndtri(np.clip(u, eps, 1.0 - eps))
        if present is None:
            corr = _correlation(z, self.options.shrinkage)
        else:
            corr = _pairwise_correlation(z, present, self.options.shrinkage)
        self.knot_values.assign(values.astype("float32"))
        self.knot_scores.assign(scores.astype("float32"))
        thr = special.ndtri(np.clip(np.asarray(thresholds, np.float64), 1e-12, 1 - 1e-12)) if thresholds else np.zeros(1)
        self.thresholds.assign(np.clip(thr, -_Z_MAX, _Z_MAX).astype("float32"))
        self.cholesky.assign(np.linalg.cholesky(corr).astype("float32"))
        return {"loss": [0.0]}

    def _present_rows(self, x) -> np.ndarray | None:
        """``(n, d)`` mask of the latent entries that hold a value, not a placeholder
        (``Segment.missing_when``); ``None`` when every entry does."""
        masks = {s.name: self.spec.missing_rows(x, s) for s in self.spec.segments if s.missing_when}
        if not masks:
            return None
        present = np.ones((len(x), len(self._dims)), dtype=bool)
        for j, (_, s, _) in enumerate(self._dims):
            if s.name in masks:
                present[:, j] = ~masks[s.name]
        return present

    # --- differentially private fitting -----------------------------------------------------
    def check_privacy(self, privacy) -> None:
        """Continuous columns need public bounds (bounded segments) for their histograms."""
        loose = [s.name for s in self.spec.segments if s.kind == "continuous" and not s.bounded]
        if loose:
            raise UsageError(
                f"copula under train.privacy: continuous segments {', '.join(loose)} are not bounded, so their "
                "histograms would need data-dependent ranges; encode them within public bounds (the tabular "
                "codec does under train.privacy)"
            )

    def _fit_private(self, x, rng):
        """The DP copula (see the module docstring); records ``privacy_spent``."""
        privacy, prior = self.dp.privacy, self.dp.prior
        o = self.options
        d, k, share = len(self._dims), o.knots, o.dp_marginal_share

        def event(sigma):
            return compose(gaussian_event(sigma / math.sqrt(share)), gaussian_event(sigma / math.sqrt(1.0 - share)))

        sigma = calibrate(event, privacy.epsilon, privacy.delta, privacy.accountant, prior)
        sigma_m, sigma_c = sigma / math.sqrt(share), sigma / math.sqrt(1.0 - share)
        present = self._present_rows(x)
        counts = self._noisy_histograms(x, present, rng, sigma_m * math.sqrt(d))
        n_hat = max(1.0, float(np.mean([c.sum() for c in counts])))
        eps = 0.5 / n_hat
        z_max = float(min(special.ndtri(1.0 - eps), _Z_MAX))
        scores = np.linspace(-z_max, z_max, k)
        levels = special.ndtr(scores)
        levels[0], levels[-1] = 0.0, 1.0
        edges = np.linspace(-1.0, 1.0, o.dp_bins + 1)
        values = np.zeros((max(1, self.layout.n_continuous), k))
        thresholds, c_at = [], 0
        z = np.empty((len(x), d))
        for j, (kind, s, i) in enumerate(self._dims):
            cdf = np.concatenate([[0.0], np.cumsum(counts[j]) / counts[j].sum()])
            if kind == "continuous":
                col = np.clip(x[:, s.start + i].astype(np.float64), -1.0, 1.0)
                values[c_at] = np.interp(levels, cdf, edges)
                c_at += 1
                u = np.interp(col, edges, cdf)
            else:
                cats = x[:, s.start : s.start + s.size].argmax(axis=1) if kind == "categorical" else (x[:, s.start + i] > 0.5).astype(np.int64)
                cdf[-1] = 1.0
                thresholds.extend(cdf[1:-1])
                u = cdf[cats] + (cdf[cats + 1] - cdf[cats]) * rng.random(len(x))
            z[:, j] = special.ndtri(np.clip(u, eps, 1.0 - eps))
        if present is not None:
            z[~present] = 0.0  # placeholders add nothing to the outer products
        corr = self._noisy_correlation(z, rng, sigma_c)
        self.knot_values.assign(values.astype("float32"))
        self.knot_scores.assign(scores.astype("float32"))
        thr = special.ndtri(np.clip(np.asarray(thresholds, np.float64), 1e-12, 1 - 1e-12)) if thresholds else np.zeros(1)
        self.thresholds.assign(np.clip(thr, -_Z_MAX, _Z_MAX).astype("float32"))
        self.cholesky.assign(np.linalg.cholesky(corr).astype("float32"))
        spent = epsilon_of(compose(prior, event(sigma)), privacy.delta, privacy.accountant)
        self.privacy_spent = spent_record(privacy, spent, {
            "mechanism": "Gaussian mechanism: noisy histograms (marginals) + noisy sum of clipped outer products (correlation)",
            "noise_multiplier_marginals": sigma_m,
            "noise_multiplier_correlation": sigma_c,
            "marginal_share": share,
            "bins": o.dp_bins,
            "histogram_sensitivity": math.sqrt(d),
            "row_clip": "normal scores / sqrt(d), L2 norm <= 1",
        })
        return {"loss": [0.0]}

    def _noisy_histograms(self, x, present, rng, std):
        """Per latent dimension, its histogram (bins, categories, 0/1) plus N(0, std²), at least 0
        (all zero: flat). The floor of 1e-6 per bin keeps each CDF strictly increasing."""
        out = []
        edges = np.linspace(-1.0, 1.0, self.options.dp_bins + 1)
        for j, (kind, s, i) in enumerate(self._dims):
            rows = x if present is None else x[present[:, j]]  # placeholders are not counted: a row still adds at most 1
            if kind == "continuous":
                counts = np.histogram(np.clip(rows[:, s.start + i], -1.0, 1.0), bins=edges)[0]
            elif kind == "categorical":
                counts = np.bincount(rows[:, s.start : s.start + s.size].argmax(axis=1), minlength=s.size)
            else:
                counts = np.bincount((rows[:, s.start + i] > 0.5).astype(np.int64), minlength=2)
            noisy = np.clip(counts + rng.normal(0.0, std, size=len(counts)), 0.0, None)
            if noisy.sum() <= 0:
                noisy = np.ones(len(counts))
            out.append(noisy + 1e-6 * max(1.0, noisy.sum()))
        return out

    def _noisy_correlation(self, z, rng, std):
        """The correlation of ``z``'s columns from the noisy sum of the clipped rows' outer
        products (sensitivity 1), made the nearest positive definite correlation."""
        d = z.shape[1]
        if d == 1:
            return np.ones((1, 1))
        u = clip_rows(z / math.sqrt(d), 1.0)
        noise = np.triu(rng.normal(0.0, std, size=(d, d)))
        total = u.T @ u + noise + np.triu(noise, 1).T
        diag = np.maximum(np.diag(total), 1e-6 * max(1.0, float(np.abs(total).max())))
        corr = total / np.sqrt(np.outer(diag, diag))
        np.fill_diagonal(corr, 1.0)
        corr = (1.0 - self.options.shrinkage) * corr + self.options.shrinkage * np.eye(d)
        return _nearest_correlation(corr, floor=1e-3)

    # --- generation ------------------------------------------------------------------------
    def _state(self):
        values = keras.ops.convert_to_numpy(self.knot_values).astype(np.float32)
        scores = keras.ops.convert_to_numpy(self.knot_scores).astype(np.float32)
        thr = keras.ops.convert_to_numpy(self.thresholds).astype(np.float32)
        chol = keras.ops.convert_to_numpy(self.cholesky).astype(np.float64)
        # per-dim slices of the threshold vector
        cuts, at = [], 0
        for kind, s, _ in self._dims:
            m = s.size - 1 if kind == "categorical" else (1 if kind == "binary" else 0)
            cuts.append(thr[at : at + m])
            at += m
        return values, scores, cuts, chol

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """All valid conditions: the copula conditions natively on any number of them."""
        return self.layout.check_conditions(conditions)

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=0):
        """``n`` rows; identical for an identical ``seed`` whatever ``batch_size``."""
        n = int(n)
        checked = self.layout.check_conditions(conditions)
        values, scores, cuts, chol = self._state()
        sigma = chol @ chol.T
        fixed = {}  # latent dim -> (low, high) normal-score interval
        for j, (kind, s, i) in enumerate(self._dims):
            if s.name in checked and kind != "continuous":
                idx = checked[s.name]
                edges = np.concatenate([[-np.inf], cuts[j], [np.inf]])
                fixed[j] = (edges[idx], edges[idx + 1])
        free = [j for j in range(len(self._dims)) if j not in fixed]
        cond_idx = sorted(fixed)
        if cond_idx:
            s_cc = sigma[np.ix_(cond_idx, cond_idx)]
            s_oc = sigma[np.ix_(free, cond_idx)]
            gain = s_oc @ np.linalg.inv(s_cc)
            cov = sigma[np.ix_(free, free)] - gain @ s_oc.T
            chol_free = np.linalg.cholesky(cov + 1e-9 * np.eye(len(free))) if free else np.zeros((0, 0))
        out = np.empty((n, self.spec.width), dtype=np.float32)
        for k, a in enumerate(range(0, n, _CHUNK)):
            b = min(n, a + _CHUNK)
            rng = np.random.default_rng([int(seed), k])
            if not cond_idx:
                z = rng.standard_normal((b - a, len(self._dims)), dtype=np.float32) @ chol.T.astype(np.float32)
            else:
                z = np.empty((b - a, len(self._dims)), dtype=np.float32)
                lo = special.ndtr(np.array([fixed[j][0] for j in cond_idx]))
                hi = special.ndtr(np.array([fixed[j][1] for j in cond_idx]))
                u = lo + (hi - lo) * rng.random((b - a, len(cond_idx)))
                zc = special.ndtri(np.clip(u, 1e-12, 1 - 1e-12))
                z[:, cond_idx] = zc
                if free:
                    e = rng.standard_normal((b - a, len(free)))
                    z[:, free] = zc @ gain.T + e @ chol_free.T
            self._decode(z, values, scores, cuts, out[a:b])
        return out

    def _decode(self, z, values, scores, cuts, out):
        """Latent normals -> rows, written into ``out``. Works in (column, row) layout so
        every step is contiguous, then transposes once."""
        n = len(z)
        zt = np.ascontiguousarray(z.T, dtype=np.float32)
        out_t = np.zeros((out.shape[1], n), dtype=np.float32)
        cont = [j for j, (kind, _, _) in enumerate(self._dims) if kind == "continuous"]
        if cont:
            k = values.shape[1]
            z0, dz = np.float32(scores[0]), np.float32(scores[1] - scores[0])
            t = np.clip((zt[cont] - z0) * (np.float32(1.0) / dz), np.float32(0.0), np.float32(k - 1))
            i = np.minimum(t.astype(np.int32), k - 2)
            frac = t - i.astype(np.float32)
            flat = values.reshape(-1)
            i += (np.arange(len(cont), dtype=np.int32) * k)[:, None]
            low = flat[i]
            res = low + frac * (flat[i + 1] - low)
            for row, j in enumerate(cont):
                _, s, c = self._dims[j]
                out_t[s.start + c] = res[row]
        flat_out = out_t.reshape(-1)
        rows = np.arange(n, dtype=np.int64)
        for j, (kind, s, c) in enumerate(self._dims):
            if kind == "binary":
                out_t[s.start + c] = zt[j] >= cuts[j][0]
            elif kind == "categorical":
                idx = np.searchsorted(cuts[j], zt[j], side="right")
                flat_out[(s.start + idx) * n + rows] = 1.0
        out[:] = out_t.T



def _correlation(z: np.ndarray, shrinkage: float) -> np.ndarray:
    """Correlation of the normal scores, shrunk towards identity and made positive definite."""
    d = z.shape[1]
    if d == 1:
        return np.ones((1, 1))
    mean = z.mean(axis=0, dtype=np.float64)
    zc = z - mean.astype(np.float32)
    cov = (zc.T @ zc).astype(np.float64) / max(1, len(z) - 1)
    std = np.sqrt(np.diag(cov))
    std[std == 0] = 1.0
    corr = cov / np.outer(std, std)
    corr = (1.0 - shrinkage) * corr + shrinkage * np.eye(d)
    return _nearest_correlation(corr)


def _nearest_correlation(corr: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Eigenvalues clipped at ``floor`` and the diagonal rescaled to 1: positive definite."""
    w, v = np.linalg.eigh((corr + corr.T) / 2)
    corr = (v * np.clip(w, floor, None)) @ v.T
    scale = np.sqrt(np.diag(corr))
    return corr / np.outer(scale, scale)


def _pairwise_correlation(z: np.ndarray, present: np.ndarray, shrinkage: float) -> np.ndarray:
    """Pearson correlation of each pair of latent dimensions over the rows where both hold
    a value (pairwise-complete, the usual estimate under missing data), then made positive
    definite as in ``_correlation``; with every entry present it equals ``_correlation``'s.
    A placeholder imputed at one value would pull the correlations towards 0 and, through
    them, shrink the spread of the generated values."""
    d = z.shape[1]
    if d == 1:
        return np.ones((1, 1))
    m = present.astype(np.float64)
    zm = np.where(present, z, 0.0).astype(np.float64)
    count = m.T @ m  # rows where both i and j hold values
    cross = zm.T @ zm
    sums = zm.T @ m  # sums[i, j]: sum of z_i over rows where both are present
    squares = (zm * zm).T @ m
    cov = count * cross - sums * sums.T
    var = count * squares - sums**2  # var[i, j]: of z_i over the rows where both are present
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.sqrt(var * var.T)
    corr[~np.isfinite(corr) | (count < 3)] = 0.0
    np.fill_diagonal(corr, 1.0)
    corr = np.clip(corr, -1.0, 1.0)
    corr = (1.0 - shrinkage) * corr + shrinkage * np.eye(d)
    return _nearest_correlation(corr)


class CopulaFamily(ModelFamily):
    """Builds ``GaussianCopula`` models."""

    name = "copula"
    description = "Gaussian copula with empirical marginals: fast, deterministic baseline"
    layouts = ("table",)
    Options = CopulaOptions

    model_class = GaussianCopula


family = CopulaFamily()
