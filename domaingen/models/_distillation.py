"""A one-step sampler distilled from a trained diffusion model (``distill: true``).

Deterministic DDIM (``eta = 0``) is a fixed map from the starting noise ``x_T`` and the
condition ``c`` to a sample ``x̂0``: the model's default steps, guidance and guidance
interval decide it. Direct distillation (Luhman & Luhman 2021) fits a student network of
the denoiser's own architecture, started from the denoiser's weights, to that map by mean
squared error on pairs ``(x_T, c) -> x̂0`` drawn from the teacher; sampling then takes one
network pass instead of ``steps`` (or up to twice that with guidance). The conditions of
the pairs are the training samples' own, drawn with replacement, so they follow the
training frequencies.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._quiet import keras_module
from . import optimizers
from ._loop import Phase, StepRunner, epoch_indices, train_epochs
from ._sampling import batched, seed_state

__all__ = ["teacher_pairs", "train_student", "PAIR_BATCH"]

keras = keras_module()
ops = keras.ops

PAIR_BATCH = 4096  # teacher samples per sampling call while drawing the pairs


def teacher_pairs(model: Any, cond_pool: np.ndarray, count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` triples ``(x_T, c, x̂0)`` in the diffusion space: the starting noise, a
    condition drawn from ``cond_pool`` (the training samples' condition vectors) and the
    teacher's deterministic DDIM sample from them (the model's steps, guidance and
    guidance interval, ``eta = 0``), taken before decoding."""
    rng = np.random.default_rng([int(seed) & 0x7FFFFFFF, 11])
    cond = cond_pool[rng.integers(0, len(cond_pool), int(count))].astype("float32")
    starts, targets = [], []
    for k, (a, b) in enumerate(batched(int(count), PAIR_BATCH)):
        start, x0 = model.teacher_samples(cond[a:b], state=seed_state(seed, k))
        starts.append(start)
        targets.append(x0)
    return np.concatenate(starts), cond, np.concatenate(targets)


def train_student(
    model: Any, cond_pool: np.ndarray, *, samples: int, epochs: int, batch_size: int, learning_rate: float, seed: int
) -> list[float]:
    """Fit ``model.student`` to the teacher's map on ``samples`` pairs for ``epochs``
    epochs of Adam (each epoch visits every pair once in a seeded order); the student
    starts from the denoiser's weights. Returns the loss per epoch."""
    start, cond, target = teacher_pairs(model, cond_pool, samples, seed)
    model.student.set_weights(model.denoiser.get_weights())
    batch = int(min(batch_size, len(start)))
    steps_per_epoch = -(-len(start) // batch)
    rng = np.random.default_rng([int(seed) & 0x7FFFFFFF, 12])

    def loss(x, c, y):
        return ops.mean(ops.square(model.student_x0(x, c, clip=False) - y))

    optimizer = optimizers.Adam(learning_rate=learning_rate)
    runner = StepRunner(model, [Phase("distill", loss, model.student.trainable_variables, optimizer)], model.options.jit_compile)
    indices = epoch_indices(rng, len(start), batch, steps_per_epoch)

    def draw(epoch, first, count):
        idx = indices(epoch, first, count)
        shape = (count, batch)
        return [(start[idx].reshape(*shape, *start.shape[1:]), cond[idx].reshape(*shape, -1),
                 target[idx].reshape(*shape, *target.shape[1:]))]

    history = train_epochs(
        model, runner, draw,
        epochs=int(epochs),
        steps_per_epoch=steps_per_epoch,
        step_bytes=batch * (2 * int(np.prod(start.shape[1:])) + cond.shape[1]) * 4,
        max_steps_per_call=model.options.steps_per_call,
    )
    return history["loss"]
