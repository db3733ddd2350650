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
    auxiliary: bool = False


class CategoryBlocks:
    """Categorical segments padded to one ``(batch, n_segments, max_size)`` block, so one
    op handles them all (a graph with one softmax over padded blocks instead of one per
    segment traces and runs far faster on wide tables)."""

    def __init__(self, segments: list[_Seg]):
        self.segments = list(segments)
        self.n = len(self.segments)
        self.max_size = max((s.size for s in self.segments), default=0)
        gather = np.zeros((self.n, self.max_size), dtype="int32")
        mask = np.zeros((self.n, self.max_size), dtype=bool)
        for i, s in enumerate(self.segments):
            gather[i, : s.size] = np.arange(s.start, s.start + s.size)
            mask[i, : s.size] = True
        self.gather = gather.reshape(-1)
        self.columns = gather[mask].astype("int32")  # the segments' columns, concatenated
        self.mask = mask.astype("float32")
        self.pad_logits = np.where(mask, 0.0, -1e9).astype("float32")
        self.last = np.asarray([s.size - 1 for s in self.segments], dtype="int32")
        self.valid = np.flatnonzero(mask.reshape(-1)).astype("int32")
        owner = np.repeat(np.arange(self.n), [s.size for s in self.segments])
        self.indicator = np.eye(max(1, self.n), dtype="float32")[owner]  # (width, n): column -> segment

    def blocks(self, t):
        """``(batch, n, max_size)`` view of the segments' columns of ``t``; padding is arbitrary."""
        return ops.reshape(ops.take(t, self.gather, axis=1), (-1, self.n, self.max_size))

    def masked_logits(self, logits):
        """Padded logits with padding positions at -1e9 (zero probability)."""
        return logits + self.pad_logits

    def flatten(self, blocks):
        """Inverse of ``blocks``: the segments' columns, concatenated (padding dropped)."""
        return ops.take(ops.reshape(blocks, (-1, self.n * self.max_size)), self.valid, axis=1)

    def cross_entropy(self, onehot, t):
        """Per-row, per-segment ``-log softmax(t)[onehot]``, shape (batch, n); ``onehot`` holds
        the segments' one-hots concatenated, ``t`` full rows of logits."""
        log_norm = ops.logsumexp(self.masked_logits(self.blocks(t)), axis=-1)
        picked = ops.matmul(onehot * ops.take(t, self.columns, axis=1), self.indicator)
        return log_norm - picked


class TableLayout:
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
        self.cat_width = sum(s.size for s in self.categorical)
        self.continuous_mask = np.array(
            [s.kind == "continuous" for s in self.segments for _ in range(s.size)], dtype=bool
        )
        by_name = {s.name: s for s in self.segments}
        self._by_name = by_name
        self._build_gathers()

    def _build_gathers(self) -> None:
        """Index arrays that let one op handle every segment of a kind at once."""

        def columns(kind: str) -> np.ndarray:
            cols = [c for s in self.segments if s.kind == kind for c in range(s.start, s.start + s.size)]
            return np.asarray(cols, dtype="int32")

        self.cont_idx, self.bin_idx = columns("continuous"), columns("binary")
        self.cats = CategoryBlocks(self.categorical)
        self.cat_mask = self.cats.mask
        assembled_order = np.concatenate([self.cont_idx, self.cats.columns, self.bin_idx]).astype("int64")
        self.assemble_perm = np.argsort(assembled_order).astype("int32")
        # sampling writes rows through two gathers: each categorical column reads the chosen
        # column of its segment, each continuous/binary column its value
        self.cat_starts = np.asarray([s.start for s in self.categorical], dtype="int32")
        self.is_cat_col = np.zeros(self.width, dtype=bool)
        self.cat_owner = np.zeros(self.width, dtype="int32")
        for j, s in enumerate(self.categorical):
            self.is_cat_col[s.start : s.start + s.size] = True
            self.cat_owner[s.start : s.start + s.size] = j
        self.dense_gather = np.zeros(self.width, dtype="int32")
        self.dense_gather[np.concatenate([self.cont_idx, self.bin_idx]).astype("int64")] = np.arange(
            len(self.cont_idx) + len(self.bin_idx), dtype="int32"
        )
        self._greedy_split: dict[str, tuple[CategoryBlocks, CategoryBlocks, np.ndarray]] = {}

    def _split_greedy(self, greedy: str) -> tuple[CategoryBlocks, CategoryBlocks, np.ndarray]:
        """(argmax blocks, sampled blocks, order restoring the categorical order)."""
        if greedy not in self._greedy_split:
            chosen = [greedy == "all" or (greedy == "auxiliary" and s.auxiliary) for s in self.categorical]
            pos = np.arange(len(self.categorical))
            first = [s for s, c in zip(self.categorical, chosen) if c]
            second = [s for s, c in zip(self.categorical, chosen) if not c]
            order = np.argsort(np.concatenate([pos[np.array(chosen, bool)], pos[~np.array(chosen, bool)]]))
            self._greedy_split[greedy] = (CategoryBlocks(first), CategoryBlocks(second), order.astype("int32"))
        return self._greedy_split[greedy]

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
    def sample(self, out, seed_generator, log_sigma=None, temperature: float = 1.0, greedy: str = "none"):
        """Rows of the DataSpec layout from decoder outputs ``out`` (batch, width).

        Continuous: ``mean + sigma * eps`` if ``log_sigma`` is given, else the mean.
        Categorical: exact one-hot sampled from ``softmax(logits)`` by inverse CDF.
        Binary: ``u < sigmoid(logit)``.
        ``greedy``: which discrete segments take their most probable value instead —
        ``"none"``, ``"auxiliary"`` (e.g. mode indicators) or ``"all"`` (as TVAE samples).
        Rows are written with two gathers and a compare (no per-segment concatenation),
        which keeps sampling close to the decoder's own cost.
        """
        batch = ops.shape(out)[0]
        dense = []
        if len(self.cont_idx):
            cont = ops.take(out, self.cont_idx, axis=1)
            if log_sigma is not None:
                sigma = ops.exp(ops.take(log_sigma, self.cont_idx))
                cont = cont + sigma * keras.random.normal((batch, len(self.cont_idx)), seed=seed_generator)
            dense.append(cont)
        if len(self.bin_idx):
            logits = ops.take(out, self.bin_idx, axis=1)
            if greedy == "all":
                dense.append(ops.cast(logits > 0, out.dtype))
            else:
                u = keras.random.uniform((batch, len(self.bin_idx)), seed=seed_generator)
                dense.append(ops.cast(u < ops.sigmoid(logits), out.dtype))
        rows = None
        if dense:
            values = ops.concatenate(dense, axis=-1) if len(dense) > 1 else dense[0]
            rows = ops.take(values, self.dense_gather, axis=1)
        if not self.categorical:
            return rows
        argmax_blocks, sampled_blocks, order = self._split_greedy(greedy)
        picks = []
        if argmax_blocks.n:
            picks.append(ops.argmax(argmax_blocks.masked_logits(argmax_blocks.blocks(out)), axis=-1))
        if sampled_blocks.n:
            probs = ops.softmax(sampled_blocks.masked_logits(sampled_blocks.blocks(out) / temperature), axis=-1)
            u = keras.random.uniform((batch, sampled_blocks.n, 1), seed=seed_generator)
            idx = ops.sum(ops.cast(ops.cumsum(probs, axis=-1) < u, "int32"), axis=-1)
            picks.append(ops.minimum(idx, sampled_blocks.last))
        idx = ops.concatenate([ops.cast(p, "int32") for p in picks], axis=-1) if len(picks) > 1 else ops.cast(picks[0], "int32")
        chosen = ops.take(idx, order, axis=1) + self.cat_starts  # (batch, n_categorical): chosen column
        onehot = ops.cast(ops.equal(ops.take(chosen, self.cat_owner, axis=1), np.arange(self.width, dtype="int32")), out.dtype)
        return onehot if rows is None else ops.where(self.is_cat_col, onehot, rows)

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
