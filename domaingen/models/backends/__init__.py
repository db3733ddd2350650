"""The active Keras backend, selected once: every backend-specific line of domaingen is in
this package, as Keras selects one Trainer per backend.

Keras picks its backend when it is imported (``KERAS_BACKEND``); this package then imports
the module of the same name (``tensorflow``, ``jax``, ``torch``; ``unsupported`` for any
other) and re-exports what it defines, so the model families call one API and never test
the backend's name:

- ``NAME``; ``SEED_DTYPE``, the dtype of a ``keras.random`` seed tensor;
- ``on_accelerator()``: whether it computes on a GPU/TPU;
- ``resolve_jit(option, default)``, ``steps_per_execution(option)``: what the backend can compile;
- ``StatelessFunction(model, fn, *, seed_generator, jit, donate)``: ``fn`` compiled to read
  the model's variables at call time; ``call(*args, state=seed_state)``;
- ``StepRunner(model, phases, jit)``: ``n`` training steps per call (``_phases.RunnerBase``);
- ``input_gradient(fn, inputs)``: d sum(fn(x)) / dx, differentiable again;
- ``to_numpy_view(x)``: a CPU tensor as NumPy, without a copy where the backend allows;
- ``probability()``: tensorflow-probability where the backend uses it, else ``None``;
- ``make_deterministic()``: the backend's switch for bit-identical ops.
"""

from __future__ import annotations

import importlib
import importlib.util

from ..._quiet import keras_module

__all__ = [
    "NAME",
    "SEED_DTYPE",
    "StatelessFunction",
    "StepRunner",
    "input_gradient",
    "make_deterministic",
    "on_accelerator",
    "probability",
    "resolve_jit",
    "steps_per_execution",
    "to_numpy_view",
]


def _select():
    name = keras_module().backend.backend()
    module = f"{__name__}.{name}"
    return importlib.import_module(module if importlib.util.find_spec(module) else f"{__name__}.unsupported")


current = _select()

NAME: str = current.NAME
SEED_DTYPE: str = current.SEED_DTYPE
StatelessFunction = current.StatelessFunction
StepRunner = current.StepRunner
input_gradient = current.input_gradient
make_deterministic = current.make_deterministic
on_accelerator = current.on_accelerator
probability = current.probability
resolve_jit = current.resolve_jit
steps_per_execution = current.steps_per_execution
to_numpy_view = current.to_numpy_view
