"""The training loop of the VAE and GAN families: many optimiser steps per compiled call.

Keras' ``Model.fit`` enters compiled code at most once per epoch and pays 20-30 ms of
per-epoch work (data adapter, iterator, callbacks) on top; on a small table trained with
one batch per epoch that overhead *is* the training time. Here:

- a *step* is a list of ``Phase``s (a loss, the variables it updates, their optimiser):
  one phase for a VAE; critic phase(s) then generator phase for a GAN;
- ``StepRunner.run(inputs, n)`` runs ``n`` steps in one compiled call (the backend's,
  ``backends/``): a ``tf.while_loop`` in a ``tf.function`` (autograph off) on TensorFlow,
  ``lax.fori_loop`` under ``jax.jit`` over explicit state on JAX, an eager loop on PyTorch. Inputs are stacked per step and
  padded to a fixed length, so each fit traces/compiles once;
- ``train_epochs`` draws the batches with the caller's seeded NumPy generator, packs as
  many steps per call as memory allows (whole epochs at a time when no callback needs to
  see the model between epochs), and calls the Keras callbacks once per epoch with the
  epoch's mean losses, as ``fit`` would.

A phase with ``private`` (a ``PrivateGradient``) takes DP-SGD steps instead: its inputs
are a 0/1 mask of the step's (Poisson-sampled, padded) rows then its arrays; each row's
gradient is computed on its own (``tf.vectorized_map`` on TensorFlow, ``jax.vmap`` on
JAX), clipped to ``max_grad_norm``, the clipped gradients of the rows the mask keeps are
summed, Gaussian noise of standard deviation ``noise_multiplier * max_grad_norm`` is
added and the sum is divided by the expected batch size. Its logged loss is NaN: the
loss of real rows is not released. Phases without ``private`` run exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._quiet import keras_module
from . import backends
from ._phases import Phase, PrivateGradient

__all__ = ["Phase", "PrivateGradient", "StepRunner", "train_epochs", "reads_logs_only", "steps_per_call", "epoch_indices"]

keras = keras_module()
ops = keras.ops

MAX_STEPS_PER_CALL = 128
MAX_CALL_BYTES = 64 * 2**20  # stacked inputs of one call


def reads_logs_only(callback: Any) -> bool:
    """True for callbacks that only read epoch logs (progress bars, the History), so
    several epochs may run in one call before they are told about them."""
    return bool(getattr(callback, "reads_logs_only", False)) or isinstance(callback, keras.callbacks.History)


def StepRunner(model: Any, phases: Sequence[Phase], jit: bool | None = None) -> Any:  # noqa: N802  (a class per backend)
    """The active backend's runner of ``phases`` (``backends.StepRunner``, a
    ``_phases.RunnerBase``); ``jit`` as ``backends.resolve_jit`` resolves it."""
    return backends.StepRunner(model, list(phases), backends.resolve_jit(jit))


def steps_per_call(step_bytes: int, limit: int = MAX_STEPS_PER_CALL) -> int:
    """Steps per compiled call: at most ``limit`` and at most ``MAX_CALL_BYTES`` of inputs."""
    return int(max(1, min(limit, MAX_CALL_BYTES // max(1, step_bytes))))


def epoch_indices(rng: np.random.Generator, n: int, batch: int, steps_per_epoch: int) -> Callable[[int, int, int], np.ndarray]:
    """``indices(epoch, first, count)``: the sample indices of steps ``first`` to
    ``first + count`` of ``epoch`` (``count * batch`` of them). Each epoch visits every
    sample once in an order drawn from ``rng``, its last batch topped up from the epoch's
    first samples; one epoch's order is held at a time."""
    orders: dict[int, np.ndarray] = {}

    def indices(epoch: int, first: int, count: int) -> np.ndarray:
        if epoch not in orders:
            orders.clear()
            perm = rng.permutation(n)
            orders[epoch] = np.concatenate([perm, perm[: steps_per_epoch * batch - n]])
        return orders[epoch][first * batch : (first + count) * batch]

    return indices


# --- the epoch driver ------------------------------------------------------------------------
def _stack(parts: list[list[tuple[np.ndarray, ...]]], capacity: int) -> list[tuple[np.ndarray, ...]]:
    """Concatenate per-phase step arrays along the step axis and pad to ``capacity``."""
    out = []
    for p in range(len(parts[0])):
        arrays = []
        for a in range(len(parts[0][p])):
            joined = np.concatenate([part[p][a] for part in parts], axis=0)
            if len(joined) < capacity:
                pad = np.zeros((capacity - len(joined), *joined.shape[1:]), joined.dtype)
                joined = np.concatenate([joined, pad], axis=0)
            arrays.append(joined)
        out.append(tuple(arrays))
    return out


def train_epochs(
    model: Any,
    runner: StepRunner,
    draw: Callable[[int, int, int], list[tuple[np.ndarray, ...]]],
    *,
    epochs: int,
    steps_per_epoch: int,
    step_bytes: int,
    callbacks: Sequence[Any] = (),
    epoch_end: Callable[[int, dict[str, float]], dict[str, float]] | None = None,
    max_steps_per_call: int = MAX_STEPS_PER_CALL,
) -> dict[str, list[float]]:
    """Train for ``epochs`` epochs of ``steps_per_epoch`` steps; return the history.

    ``draw(epoch, first_step, n_steps)`` returns the inputs of those steps (per phase, a
    tuple of arrays with a leading step axis). Epoch logs hold the mean loss of the phases
    of each name (the first name also as ``loss``);
    ``epoch_end(epoch, logs)`` may add entries (validation) and forces one epoch per call.
    """
    names = list(dict.fromkeys(p.name for p in runner.phases))
    columns = {name: [i for i, p in enumerate(runner.phases) if p.name == name] for name in names}
    cbs = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, model=model, epochs=int(epochs), steps=steps_per_epoch, verbose=0
    )
    passive = epoch_end is None and all(reads_logs_only(cb) for cb in callbacks)
    budget = min(steps_per_call(step_bytes, max_steps_per_call), max(1, int(epochs) * steps_per_epoch))
    if passive and steps_per_epoch <= budget:
        epochs_per_call, chunk = budget // steps_per_epoch, steps_per_epoch
    else:
        epochs_per_call, chunk = 1, min(budget, steps_per_epoch)
    capacity = epochs_per_call * steps_per_epoch if epochs_per_call > 1 else chunk

    model.stop_training = False
    cbs.on_train_begin()
    logs: dict[str, float] = {}
    epoch = 0
    while epoch < int(epochs) and not model.stop_training:
        if epochs_per_call > 1:
            span = list(range(epoch, min(int(epochs), epoch + epochs_per_call)))
            losses = runner.run(_stack([draw(e, 0, steps_per_epoch) for e in span], capacity), len(span) * steps_per_epoch)
            per_epoch = losses.reshape(len(span), steps_per_epoch, -1).mean(axis=1)
        else:
            span = [epoch]
            cbs.on_epoch_begin(epoch)
            sums = []
            for first in range(0, steps_per_epoch, chunk):
                count = min(chunk, steps_per_epoch - first)
                sums.append(runner.run(_stack([draw(epoch, first, count)], capacity), count).sum(axis=0))
            per_epoch = (np.sum(sums, axis=0) / steps_per_epoch)[None]
        if not passive:
            runner.sync()
        for e, means in zip(span, per_epoch):
            if epochs_per_call > 1:
                cbs.on_epoch_begin(e)
            logs = {name: float(np.mean(means[cols])) for name, cols in columns.items()}
            logs = {"loss": logs[names[0]], **logs}
            if epoch_end is not None:
                logs = epoch_end(e, logs)
            cbs.on_epoch_end(e, logs)
        epoch = span[-1] + 1
    runner.sync()
    cbs.on_train_end(logs)
    return {k: [float(v) for v in vals] for k, vals in model.history.history.items()}
