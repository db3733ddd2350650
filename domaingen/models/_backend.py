"""Compile functions that read a model's variables, for whichever Keras backend is active.

Generation and the GAN training step run outside ``Model.fit``/``predict``; this module
gives them the compiled, variable-aware callables that Keras' own trainers use:

- TensorFlow: ``tf.function`` (XLA when ``jit``), variables read/assigned in place.
- JAX: ``jax.jit`` over a pure function; the variables' current values are passed in and
  mapped with ``keras.StatelessScope`` so a trained model is never captured as constants.
- PyTorch: eager, under ``torch.no_grad()`` (best effort; not exercised by the tests).

A ``SeedGenerator`` whose state is given per call makes in-graph randomness
(``keras.random``) a pure function of that state on every backend.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._quiet import keras_module
from ._random import TensorSeed, piece_seeds

__all__ = [
    "backend_name",
    "resolve_jit",
    "resolve_steps_per_execution",
    "StatelessFunction",
    "fill_batches",
    "on_accelerator",
    "in_row_chunks",
    "seed_state",
    "to_numpy",
    "batched",
]

keras = keras_module()


def backend_name() -> str:
    """The active Keras backend: ``tensorflow`` | ``jax`` | ``torch`` | ``numpy``."""
    return keras.backend.backend()


@functools.cache
def on_accelerator() -> bool:
    """Whether the active backend computes on a GPU or TPU (checked once per process)."""
    backend = backend_name()
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend == "torch":
        import torch

        return bool(torch.cuda.is_available())
    return False


def resolve_jit(option: bool | None, default: bool = False) -> bool:
    """XLA compilation: always on for JAX (always compiled), off for PyTorch; on
    TensorFlow the option, and ``default`` for ``None``: off for training steps (XLA on
    CPU measured several times slower than TF graphs here), on for compiled sampling
    loops (XLA updates their caches in place: about 3x faster measured)."""
    backend = backend_name()
    if backend == "jax":
        return True
    if backend == "torch":
        return False
    return default if option is None else bool(option)


def resolve_steps_per_execution(option: int) -> int:
    """Batches per compiled training call; Keras' PyTorch trainer only supports 1."""
    return 1 if backend_name() == "torch" else int(option)


def seed_state(seed: int, stream: int = 0) -> np.ndarray:
    """A SeedGenerator state for (seed, stream); streams are 2**20 draws apart."""
    return np.array([int(seed) & 0x7FFFFFFF, (int(stream) << 20) & 0x7FFFFFFF], dtype=np.int64)


def to_numpy(x: Any) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


class StatelessFunction:
    """``fn(*args)`` compiled for the active backend, reading ``model``'s variables.

    ``seed_generator`` (optional) is a SeedGenerator used inside ``fn``; each call gives
    its state (``seed_state(...)``) so outputs depend only on the arguments and weights.
    ``donate``: indices of arguments the caller never reuses (loop state); JAX updates
    them in place. Variables are read at call time, so the function stays valid after more training.
    """

    def __init__(
        self,
        model: Any,
        fn: Callable[..., Any],
        *,
        seed_generator: Any | None = None,
        jit: bool = True,
        donate: tuple[int, ...] = (),
    ) -> None:
        self.model = model
        self.fn = fn
        self.seed_generator = seed_generator
        self.backend = backend_name()
        self.donate = tuple(donate)
        self._compiled = self._compile(jit)

    def _compile(self, jit: bool) -> Callable[..., Any]:
        if self.backend == "tensorflow":
            import tensorflow as tf

            return tf.function(self.fn, jit_compile=jit, reduce_retracing=True)
        if self.backend == "jax":
            import jax

            variables = list(self.model.variables)
            gen_state = self.seed_generator.state if self.seed_generator is not None else None
            if gen_state is not None and not any(v is gen_state for v in variables):
                variables.append(gen_state)
            self._variables = variables
            fn = self.fn

            def pure(values, state, *args):
                mapping = list(zip(variables, values))
                if gen_state is not None and state is not None:
                    mapping = [(v, state if v is gen_state else val) for v, val in mapping]
                with keras.StatelessScope(state_mapping=mapping):
                    return fn(*args)

            donate = tuple(2 + i for i in self.donate)  # JAX may update these buffers in place
            return jax.jit(pure, donate_argnums=donate) if jit else pure
        return self.fn

    def __call__(self, *args: Any, state: np.ndarray | None = None) -> Any:
        if self.backend == "jax":
            values = [v.value for v in self._variables]
            st = None
            if state is not None:
                st = keras.ops.convert_to_tensor(state, dtype=self.seed_generator.state.dtype)
            return self._compiled(values, st, *args)
        if state is not None and self.seed_generator is not None:
            self.seed_generator.state.assign(
                keras.ops.convert_to_tensor(state, dtype=self.seed_generator.state.dtype)
            )
        if self.backend == "torch":
            import torch

            args = keras.tree.map_structure(
                lambda a: keras.ops.convert_to_tensor(a) if isinstance(a, (np.ndarray, np.generic)) else a, args
            )
            with torch.no_grad():
                return self._compiled(*args)
        return self._compiled(*args)


SAMPLE_CHUNKS = 32  # measured: 32 pieces of a 100k-row batch sample ~1.4x faster than 8
MIN_ROWS_PER_PIECE = 2048
ROW_ALIGNMENT = 16  # piece sizes in multiples of 16 rows: float32 (width, rows) pieces keep 64-byte aligned rows


def in_row_chunks(fn: Callable[[Any, Any, Any], Any], n: Any, *, seed_generator: Any = None,
                  chunks: int | None = None) -> list[Any]:
    """``[fn(start, stop, seed), ...]`` for ``chunks`` consecutive row ranges of ``n`` rows
    inside one compiled function. ``seed`` is a ``TensorSeed`` of the piece's own, drawn
    from ``seed_generator`` (``None`` without one): the pieces share no state, and the
    backend runs them side by side (TensorFlow's inter-op threads) on cache-sized arrays.
    A batch is cut into ``clip(n // MIN_ROWS_PER_PIECE, 1, chunks)`` equal pieces. The
    pieces are returned as a list, not joined: ``fill_batches`` copies each straight
    into the result, saving a pass over the batch. Ranges past the end are empty, which
    every sampling op accepts. ``chunks`` defaults to ``SAMPLE_CHUNKS`` on a CPU and 1 on
    an accelerator, where one wide batch keeps the device busiest."""
    if chunks is None:
        chunks = 1 if on_accelerator() else SAMPLE_CHUNKS
    # the same pieces whether the batch size is known when tracing or not (TensorFlow
    # traces later calls with a dynamic size): results never depend on how it was traced
    seeds = piece_seeds(seed_generator, chunks) if seed_generator is not None else None
    if isinstance(n, int):
        used = max(1, min(chunks, n // MIN_ROWS_PER_PIECE))
        chunks = used  # static size: no empty pieces in the graph
    else:
        used = keras.ops.clip(n // MIN_ROWS_PER_PIECE, 1, chunks)
    step = (n + used * ROW_ALIGNMENT - 1) // (used * ROW_ALIGNMENT) * ROW_ALIGNMENT  # whole 64-byte rows

    def piece(i: int) -> Any:
        return fn(i * step, (i + 1) * step, None if seeds is None else TensorSeed(seeds[i]))

    return [piece(i) for i in range(chunks)]


def fill_batches(
    n: int, batch_size: int, shape: tuple[int, ...], call: Callable[[int, int, int], Any], *, transposed: bool = False
) -> np.ndarray:
    """``(n, *shape)`` float32 rows written batch by batch: ``call(k, start, stop)`` returns
    batch ``k``'s backend tensor, or a list of consecutive row pieces of it. Each piece is
    copied once, straight into the result (no list of copies and a final concatenate,
    which cost as much as sampling on CPU). ``transposed``: ``call`` returns
    ``(width, rows)`` table columns; the result is then column-major (Fortran order), so
    each column is contiguous for the codec."""
    out = np.empty((int(n), *shape), "float32", order="F" if transposed else "C")
    for k, (a, b) in enumerate(batched(n, batch_size)):
        result = call(k, a, b)
        at = a
        for piece in result if isinstance(result, (list, tuple)) else [result]:
            part = to_numpy_view(piece)
            rows = part.shape[1] if transposed else part.shape[0]
            out[at : at + rows] = part.T if transposed else part
            at += rows
        if at != b:
            raise RuntimeError(f"sampling returned {at - a} rows for a batch of {b - a}")
    return out


def to_numpy_view(x: Any) -> np.ndarray:
    """A NumPy view of a CPU tensor where the backend allows one (TensorFlow eager
    tensors), else a copy; read-only: copy it before writing."""
    if backend_name() == "tensorflow":
        return np.asarray(x)
    return keras.ops.convert_to_numpy(x)


def batched(n: int, batch_size: int) -> Sequence[tuple[int, int]]:
    """(start, stop) pairs covering ``range(n)`` in chunks of ``batch_size``."""
    batch_size = max(1, int(batch_size))
    return [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
