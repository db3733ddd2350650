"""Table-layout helpers shared by the VAE, GAN and copula: segment bookkeeping,
condition checks, and sampling of exact mixed-type rows from decoder outputs.

A decoder for a ``table`` DataSpec emits one value per column: the mean of continuous
columns and the logits of categorical and binary columns. ``TableLayout.sample`` turns
that into a row of the DataSpec's layout: Gaussian draws for continuous columns (when a
sigma is given), an exact one-hot per categorical segment sampled from its softmax, and
Bernoulli 0/1 draws for binary columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._quiet import keras_module
from ..errors import ConditionError, DataError
from ..spec import DataSpec

__all__ = ["TableLayout", "check_table_data"]

keras = keras_module()
ops = keras.ops


@dataclass(frozen=True)
class _Seg:
    name: str
    kind: str
    start: int
    size: int


class TableLayout:
    """Column bookkeeping of a ``table`` DataSpec."""

    def __init__(self, spec: DataSpec):
        self.spec = spec
        self.segments: list[_Seg] = []
        start = 0
        for s in spec.segments:
            self.segments.append(_Seg(s.name, s.kind, start, s.size))
            start += s.size
        self.width = start
        self.categorical = [s for s in self.segments if s.kind == "categorical"]
        self.discrete = [s for s in self.segments if s.kind in ("categorical", "binary")]
        self.n_continuous = sum(s.size for s in self.segments if s.kind == "continuous")
        self.n_binary = sum(s.size for s in self.segments if s.kind == "binary")
        self.cat_width = sum(s.size for s in self.categorical)
        self.continuous_mask = np.array(
            [s.kind == "continuous" for s in self.segments for _ in range(s.size)], dtype=bool
        )
        by_name = {s.name: s for s in self.segments}
        self._by_name = by_name

    def seg(self, name: str) -> _Seg:
        return self._by_name[name]

    # --- conditions ---------------------------------------------------------------
    def check_conditions(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """Validate {segment: category index}; binary size-1 segments take 0 or 1."""
        out: dict[str, int] = {}
        for name, value in (conditions or {}).items():
            seg = self._by_name.get(name)
            if seg is None or seg.kind == "continuous" or (seg.kind == "binary" and seg.size != 1):
                choices = sorted(
                    s.name for s in self.discrete if s.kind == "categorical" or s.size == 1
                )
                raise ConditionError(
                    f"cannot condition on {name!r}: conditions take categorical or binary "
                    f"segments ({', '.join(choices) or 'none in this data'})"
                )
            limit = seg.size if seg.kind == "categorical" else 2
            try:
                index = int(value)
            except (TypeError, ValueError):
                raise ConditionError(f"condition {name!r} must be a category index, got {value!r}") from None
            if not 0 <= index < limit:
                raise ConditionError(
                    f"condition {name}={index} is out of range: use a category index in [0, {limit})"
                )
            out[name] = index
        return out

    def category_frequencies(self, x: np.ndarray, segs: list[_Seg]) -> np.ndarray:
        """Concatenated per-category frequencies of categorical segments (binary: [1-p, p])."""
        parts = []
        for s in segs:
            block = x[:, s.start : s.start + s.size]
            if s.kind == "categorical":
                counts = block.sum(axis=0)
            else:
                p = float(block[:, 0].mean()) if len(block) else 0.5
                counts = np.array([1.0 - p, p])
            total = counts.sum()
            parts.append(counts / total if total > 0 else np.full(len(counts), 1.0 / len(counts)))
        return np.concatenate(parts).astype("float32") if parts else np.zeros((0,), "float32")

    # --- sampling (keras.ops, inside compiled functions) -----------------------------
    def sample(self, out, seed_generator, log_sigma=None, temperature: float = 1.0):
        """Rows of the DataSpec layout from decoder outputs ``out`` (batch, width).

        Continuous: ``mean + sigma * eps`` if ``log_sigma`` is given, else the mean.
        Categorical: exact one-hot sampled from ``softmax(logits)`` by inverse CDF.
        Binary: ``u < sigmoid(logit)``.
        """
        batch = ops.shape(out)[0]
        n_draws = len(self.categorical) + self.n_binary
        uniform = (
            keras.random.uniform((batch, n_draws), seed=seed_generator) if n_draws else None
        )
        normal = None
        if log_sigma is not None and self.n_continuous:
            normal = keras.random.normal((batch, self.n_continuous), seed=seed_generator)
        pieces, u_at, n_at = [], 0, 0
        for s in self.segments:
            block = out[:, s.start : s.start + s.size]
            if s.kind == "continuous":
                if normal is not None:
                    sigma = ops.exp(log_sigma[s.start : s.start + s.size])
                    block = block + sigma * normal[:, n_at : n_at + s.size]
                n_at += s.size
                pieces.append(block)
            elif s.kind == "categorical":
                probs = ops.softmax(block / temperature, axis=-1)
                cdf = ops.cumsum(probs, axis=-1)
                u = uniform[:, u_at : u_at + 1]
                idx = ops.minimum(ops.sum(ops.cast(cdf < u, "int32"), axis=-1), s.size - 1)
                pieces.append(ops.one_hot(idx, s.size, dtype=out.dtype))
                u_at += 1
            else:
                u = uniform[:, u_at : u_at + s.size]
                pieces.append(ops.cast(u < ops.sigmoid(block), out.dtype))
                u_at += s.size
        return ops.concatenate(pieces, axis=-1) if len(pieces) > 1 else pieces[0]

    def relax(self, out, seed_generator, tau: float = 0.2):
        """Differentiable rows for GAN training: Gumbel-softmax for categorical segments,
        relaxed Bernoulli (binary Concrete) for binary columns, identity for continuous."""
        batch = ops.shape(out)[0]
        n_draws = self.cat_width + self.n_binary
        if not n_draws:
            return out
        u = keras.random.uniform((batch, n_draws), minval=1e-6, maxval=1.0 - 1e-6, seed=seed_generator)
        pieces, at = [], 0
        for s in self.segments:
            block = out[:, s.start : s.start + s.size]
            if s.kind == "continuous":
                pieces.append(block)
                continue
            noise = u[:, at : at + s.size]
            at += s.size
            if s.kind == "categorical":
                gumbel = -ops.log(-ops.log(noise))
                pieces.append(ops.softmax((block + gumbel) / tau, axis=-1))
            else:
                logistic = ops.log(noise) - ops.log(1.0 - noise)
                pieces.append(ops.sigmoid((block + logistic) / tau))
        return ops.concatenate(pieces, axis=-1) if len(pieces) > 1 else pieces[0]

    def overwrite(self, rows, fixed, fixed_mask):
        """Replace masked columns of ``rows`` by ``fixed`` (both (batch, width))."""
        return rows * (1.0 - fixed_mask) + fixed * fixed_mask


def check_table_data(x: np.ndarray, spec: DataSpec, family: str) -> np.ndarray:
    """float32 2-D array matching the spec width, finite; otherwise a DataError."""
    x = np.asarray(x, dtype="float32")
    if x.ndim != 2 or x.shape[1] != spec.width:
        raise DataError(
            f"{family}: expected encoded table rows of shape (n, {spec.width}), got {x.shape}; "
            "encode the data with the codec whose spec built this model"
        )
    if len(x) == 0:
        raise DataError(f"{family}: no training rows; check the data source and the holdout fraction")
    if not np.isfinite(x).all():
        raise DataError(f"{family}: encoded rows contain NaN or infinite values; fix the codec or the data")
    return x
