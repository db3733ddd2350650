"""The PyTorch backend: eager, as Keras' own PyTorch trainer (best effort: the suites run on
TensorFlow and JAX).

- compiled functions: plain calls under ``torch.no_grad()`` (no XLA);
- training steps: forward, ``loss.backward()``, ``optimizer.apply`` under
  ``torch.no_grad()``, one step at a time; no DP-SGD.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..._quiet import keras_module
from ...errors import UsageError
from .._phases import RunnerBase

NAME = "torch"
SEED_DTYPE = "int32"  # torch has no uint32; Keras reinterprets the bits

keras = keras_module()
ops = keras.ops


@functools.cache
def on_accelerator() -> bool:
    return bool(torch.cuda.is_available())


def resolve_jit(option: bool | None, default: bool = False) -> bool:
    """Never compiled: eager PyTorch."""
    return False


def steps_per_execution(option: int) -> int:
    """Keras' PyTorch trainer runs one batch per call."""
    return 1


def to_numpy_view(x: Any) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def input_gradient(fn: Callable[[Any], Any], inputs: Any) -> Any:
    """d sum(fn(inputs)) / d inputs, differentiable again (for a gradient penalty)."""
    leaf = inputs.detach().requires_grad_(True)
    out = ops.sum(fn(leaf))
    return torch.autograd.grad(out, leaf, create_graph=True)[0]


def probability() -> Any:
    return None


def make_deterministic() -> None:
    """Keras seeds torch's generator; nothing more is switched on here."""


class StatelessFunction:
    """``fn(*args)`` eagerly under ``torch.no_grad()``, NumPy arguments as tensors."""

    def __init__(self, model: Any, fn: Callable[..., Any], *, seed_generator: Any = None, jit: bool = True, donate: tuple[int, ...] = ()):
        self.model, self.fn, self.seed_generator = model, fn, seed_generator

    def __call__(self, *args: Any, state: np.ndarray | None = None) -> Any:
        if state is not None and self.seed_generator is not None:
            self.seed_generator.state.assign(ops.convert_to_tensor(state, dtype=self.seed_generator.state.dtype))
        args = keras.tree.map_structure(lambda a: ops.convert_to_tensor(a) if isinstance(a, (np.ndarray, np.generic)) else a, args)
        with torch.no_grad():
            return self.fn(*args)


class StepRunner(RunnerBase):
    """Eager forward, ``loss.backward()``, ``optimizer.apply`` under ``torch.no_grad()``."""

    def __init__(self, model: Any, phases: Any, jit: bool) -> None:
        if any(p.private is not None for p in phases):
            raise UsageError("DP-SGD (train.privacy) runs on the tensorflow and jax backends; set KERAS_BACKEND to one of them")
        super().__init__(model, phases, jit)

    def run(self, inputs, n: int) -> np.ndarray:
        tensors = [tuple(ops.convert_to_tensor(a) for a in arrays) for arrays in inputs]
        every = [v for phase in self.phases for v in phase.variables]
        out = np.zeros((int(n), len(self.phases)), "float32")
        for i in range(int(n)):
            for p, (phase, arrays) in enumerate(zip(self.phases, tensors)):
                for v in every:
                    v.value.grad = None
                loss = phase.loss(*[a[i] for a in arrays])
                loss.backward()
                pairs = [(v.value.grad, v) for v in phase.variables if v.value.grad is not None]
                with torch.no_grad():
                    phase.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
                out[i, p] = float(loss.detach())
        return out
