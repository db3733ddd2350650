"""Table-layout helpers shared by the VAE, GAN, diffusion and copula: segment
bookkeeping, condition checks, split / assemble views, the GAN's relaxed rows.

A decoder for a ``table`` DataSpec emits one value per column: the mean of continuous
columns and the logits of categorical and binary columns. ``TableLayout.sample`` turns
that into a row of the DataSpec's layout: Gaussian draws for continuous columns (when a
sigma is given), an exact one-hot per categorical segment sampled from its softmax, and
Bernoulli 0/1 draws for binary columns. What that means is written plainly in
``_table_reference.py``; the compiled fast path that computes it is ``_table_fast.py``
(mixed in as ``FastSampling``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._quiet import keras_module
from ..errors import ConditionError, DataError
from ..spec import DataSpec
from ._table_fast import CategoryBlocks, FastSampling, SamplingPlan

__all__ = ["CategoryBlocks", "TableLayout", "check_training_data"]

keras = keras_module()
ops = keras.ops


@dataclass(frozen=True)
class _Seg:
    name: str
    kind: str
    start: int
    size: int
    auxiliary: bool = False


class TableLayout(FastSampling):
    """Column bookkeeping of a ``table`` DataSpec."""

    def __init__(self, spec: DataSpec):
        self.spec = spec
        self.segments: list[_Seg] = []
        start = 0
        for s in spec.segments:
            self.segments.append(_Seg(s.name, s.kind, start, s.size, s.auxiliary))
            start += s.size
        self.width = start
        self.categorical = [s for s in self.segments if s.kind == "categorical"]
        self.conditionable = [s for s in self.categorical if not s.auxiliary]
        self.discrete = [s for s in self.segments if s.kind in ("categorical", "binary")]
        self.n_continuous = sum(s.size for s in self.segments if s.kind == "continuous")
        self.n_binary = sum(s.size for s in self.segments if s.kind == "binary")
        self.bounded_mask = np.array([s.bounded for s in spec.segments for _ in range(s.size)], dtype=bool)
        by_name = {s.name: s for s in self.segments}
        self._by_name = by_name
        self._build_gathers()

    def _build_gathers(self) -> None:
        """Index arrays that let one op handle every segment of a kind at once."""

        def columns(kind: str) -> np.ndarray:
            cols = [c for s in self.segments if s.kind == kind for c in range(s.start, s.start + s.size)]
            return np.asarray(cols, dtype="int32")

        self.cont_idx, self.bin_idx = columns("continuous"), columns("binary")
        self.cont_mask = np.isin(np.arange(self.width), self.cont_idx).astype("float32")
        self.bin_mask = np.isin(np.arange(self.width), self.bin_idx).astype("float32")
        self.cats = CategoryBlocks(self.categorical)
        assembled_order = np.concatenate([self.cont_idx, self.cats.columns, self.bin_idx]).astype("int64")
        self.assemble_perm = np.argsort(assembled_order).astype("int32")
        self._sampling_plans: dict[tuple[str, float, float], SamplingPlan] = {}

    # --- vectorised views (keras.ops) --------------------------------------------------
    def split(self, t):
        """``(continuous (b, n_cont), categorical (b, n_cat, max_size), binary (b, n_bin))``
        views of a row tensor; a part is ``None`` when the table has no such column.
        Padding positions of the categorical blocks hold arbitrary values: mask them."""
        cont = ops.take(t, self.cont_idx, axis=1) if len(self.cont_idx) else None
        cat = self.cats.blocks(t) if self.categorical else None
        binary = ops.take(t, self.bin_idx, axis=1) if len(self.bin_idx) else None
        return cont, cat, binary

    def masked_logits(self, cat_logits):
        """Categorical logits with padding positions at -1e9 (zero probability)."""
        return self.cats.masked_logits(cat_logits)

    def assemble(self, cont, cat, binary):
        """Inverse of ``split``: rows in the DataSpec's column order."""
        parts = []
        if cont is not None:
            parts.append(cont)
        if cat is not None:
            parts.append(self.cats.flatten(cat))
        if binary is not None:
            parts.append(binary)
        rows = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        return ops.take(rows, self.assemble_perm, axis=1)

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

    def honoured_conditions(self, conditions: dict[str, int] | None, segs: list[_Seg]) -> dict[str, int]:
        """The valid ``conditions`` on the segments ``segs`` (a model's ``condition_on``)."""
        names = {s.name for s in segs}
        return {k: v for k, v in self.check_conditions(conditions).items() if k in names}

    @staticmethod
    def frequency_width(seg: _Seg) -> int:
        """The entries of ``seg`` in ``category_frequencies``: its categories, or 2 for a binary."""
        return seg.size if seg.kind == "categorical" else 2

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

    def segment_temperature(self, seg: "_Seg", greedy: str, temperature: float, auxiliary_temperature: float) -> float:
        """The softmax temperature a categorical segment is sampled at; 0 means its argmax."""
        if greedy == "auxiliary" and seg.auxiliary:
            return auxiliary_temperature
        return 0.0 if greedy == "all" else temperature

    def relax(self, out, seed_generator, tau: float = 0.2):
        """Differentiable rows for GAN training: Gumbel-softmax for categorical segments,
        relaxed Bernoulli (binary Concrete) for binary columns, identity for continuous."""
        if not (self.categorical or len(self.bin_idx)):
            return out
        batch = ops.shape(out)[0]
        cont, cat, binary = self.split(out)
        if cat is not None:
            noise = keras.random.uniform(
                (batch, self.cats.n, self.cats.max_size), minval=1e-6, maxval=1.0 - 1e-6, seed=seed_generator
            )
            gumbel = -ops.log(-ops.log(noise))
            cat = ops.softmax(self.masked_logits(cat + gumbel) / tau, axis=-1)
        if binary is not None:
            noise = keras.random.uniform((batch, len(self.bin_idx)), minval=1e-6, maxval=1.0 - 1e-6, seed=seed_generator)
            binary = ops.sigmoid((binary + ops.log(noise) - ops.log(1.0 - noise)) / tau)
        return self.assemble(cont, cat, binary)

    def overwrite(self, rows, fixed, fixed_mask):
        """Replace masked columns of ``rows`` by ``fixed`` (both (batch, width))."""
        return rows * (1.0 - fixed_mask) + fixed * fixed_mask


def check_training_data(x: np.ndarray, spec: DataSpec, family: str) -> np.ndarray:
    """``x`` as float32 encoded samples of ``spec`` (table rows of its width, or grids of its
    shape), at least one, all finite; otherwise a ``DataError`` naming ``family``."""
    x = np.asarray(x, dtype="float32")
    if spec.layout == "table" and (x.ndim != 2 or x.shape[1] != spec.width):
        raise DataError(
            f"{family}: expected encoded table rows of shape (n, {spec.width}), got {x.shape}; "
            "encode the data with the codec whose spec built this model"
        )
    if spec.layout != "table" and x.shape[1:] != tuple(spec.shape):
        raise DataError(f"{family}: expected grid arrays of shape (n, {', '.join(map(str, spec.shape))}), got {x.shape}")
    if len(x) == 0:
        raise DataError(f"{family}: no training samples; check the data source and the holdout fraction")
    if not np.isfinite(x).all():
        raise DataError(f"{family}: the encoded samples contain NaN or infinite values; fix the codec or the data")
    return x
