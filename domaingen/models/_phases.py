"""What one training step is, whatever the backend: its phases (a loss, the variables it
updates, their optimiser), DP-SGD's per-example clipping and noise, and the runner contract
the backend modules (``backends/``) implement."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._quiet import keras_module

__all__ = ["Phase", "PrivateGradient", "RunnerBase", "clip_example", "noisy_mean"]

keras = keras_module()
ops = keras.ops


@dataclass
class PrivateGradient:
    """DP-SGD for a phase: per-example clipped gradients plus Gaussian noise.

    ``prepare(*arrays)`` turns the step's arrays (without the mask) into per-example
    arrays (leading axis: the step's rows), drawing any in-graph randomness for the whole
    batch (e.g. a VAE's reparameterisation noise, a GAN's fake rows); ``row_loss(*row)``
    is the loss of ONE example, given its arrays with a leading axis of 1. ``seed``: the
    model's SeedGenerator the noise is drawn from.
    """

    row_loss: Callable[..., Any]
    prepare: Callable[..., tuple[Any, ...]]
    max_grad_norm: float
    noise_multiplier: float
    expected_batch_size: float
    seed: Any


@dataclass
class Phase:
    """One optimiser update of a step: ``loss(*arrays)`` minimised over ``variables``
    (with ``private``: DP-SGD on ``private.row_loss``; ``loss`` is not called)."""

    name: str
    loss: Callable[..., Any]
    variables: list[Any]
    optimizer: Any
    private: PrivateGradient | None = None
    trainable_ids: set[int] = field(init=False)

    def __post_init__(self) -> None:
        self.variables = list(self.variables)
        self.trainable_ids = {id(v) for v in self.variables}
        self.optimizer.build(self.variables)


def clip_example(grads: Sequence[Any], max_grad_norm: float) -> list[Any]:
    """One example's gradients scaled so that their joint L2 norm is at most ``max_grad_norm``."""
    norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads))
    factor = ops.minimum(1.0, max_grad_norm / ops.maximum(norm, 1e-12))
    return [g * factor for g in grads]


def noisy_mean(sums: Sequence[Any], private: PrivateGradient) -> list[Any]:
    """(clipped sum + N(0, (noise_multiplier * max_grad_norm)^2)) / expected batch size."""
    std = private.noise_multiplier * private.max_grad_norm
    out = []
    for s in sums:
        noise = keras.random.normal(ops.shape(s), stddev=std, seed=private.seed) if std > 0 else 0.0
        out.append((s + noise) / private.expected_batch_size)
    return out


class RunnerBase:
    """Runs ``n`` training steps of ``phases`` per call (each backend module's
    ``StepRunner`` is one).

    ``run(inputs, n)`` takes, per phase, a tuple of arrays whose leading axis is the step
    (length ``capacity`` >= ``n``; rows past ``n`` are padding and are not used) and
    returns the float losses, shape ``(n, len(phases))``. ``sync()`` writes functional
    state back into the Keras variables (JAX); call it before anything reads the model.
    """

    def __init__(self, model: Any, phases: Sequence[Phase], jit: bool) -> None:
        self.model, self.phases, self.jit = model, list(phases), bool(jit)

    def run(self, inputs: list[tuple[np.ndarray, ...]], n: int) -> np.ndarray:
        raise NotImplementedError

    def sync(self) -> None:
        """Nothing to do where variables are updated in place."""
