"""The JAX backend: pure functions under ``jax.jit`` over explicit state.

- compiled functions: the model's current variable values are passed in and mapped with
  ``keras.StatelessScope``, so a trained model is never captured as constants;
- training steps: ``n`` steps in one ``lax.fori_loop`` over (model values, optimiser
  values), written back to the Keras variables by ``sync``; DP-SGD's per-example
  gradients by ``jax.vmap`` of ``jax.grad``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from ..._quiet import keras_module
from ...errors import UsageError
from .._phases import RunnerBase, clip_example, noisy_mean

NAME = "jax"
SEED_DTYPE = "uint32"

keras = keras_module()
ops = keras.ops


@functools.cache
def on_accelerator() -> bool:
    """Whether JAX computes on a GPU or TPU (checked once per process)."""
    return jax.default_backend() != "cpu"


def resolve_jit(option: bool | None, default: bool = False) -> bool:
    """Always compiled: JAX runs every step under ``jax.jit``."""
    return True


def steps_per_execution(option: int) -> int:
    return int(option)


def to_numpy_view(x: Any) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def input_gradient(fn: Callable[[Any], Any], inputs: Any) -> Any:
    """d sum(fn(inputs)) / d inputs, differentiable again (for a gradient penalty)."""
    return jax.grad(lambda a: ops.sum(fn(a)))(inputs)


def probability() -> Any:
    """No tensorflow-probability here: the likelihoods use their ``keras.ops`` formulas."""
    return None


def make_deterministic() -> None:
    """XLA on JAX is deterministic for a given program and seed already."""


class StatelessFunction:
    """``fn(*args)`` as a pure ``jax.jit`` function of the model's variable values (read
    at call time) and the seed generator's ``state``; ``donate``: argument positions JAX
    may update in place (loop state the caller never reuses)."""

    def __init__(self, model: Any, fn: Callable[..., Any], *, seed_generator: Any = None, jit: bool = True, donate: tuple[int, ...] = ()):
        self.model, self.fn, self.seed_generator = model, fn, seed_generator
        variables = list(model.variables)
        gen_state = seed_generator.state if seed_generator is not None else None
        if gen_state is not None and not any(v is gen_state for v in variables):
            variables.append(gen_state)
        self.variables = variables

        def pure(values, state, *args):
            mapping = list(zip(variables, values))
            if gen_state is not None and state is not None:
                mapping = [(v, state if v is gen_state else val) for v, val in mapping]
            with keras.StatelessScope(state_mapping=mapping):
                return fn(*args)

        donated = tuple(2 + i for i in donate)
        self.compiled = jax.jit(pure, donate_argnums=donated) if jit else pure

    def __call__(self, *args: Any, state: np.ndarray | None = None) -> Any:
        values = [v.value for v in self.variables]
        st = None if state is None else keras.ops.convert_to_tensor(state, dtype=self.seed_generator.state.dtype)
        return self.compiled(values, st, *args)


class StepRunner(RunnerBase):
    """Pure steps over explicit state (model variables + optimiser variables)."""

    def __init__(self, model: Any, phases: Any, jit: bool) -> None:
        super().__init__(model, phases, jit)
        self.variables = list(model.variables)
        known = {id(v) for v in self.variables}
        for phase in self.phases:  # every phase's variables must belong to the model
            if not phase.trainable_ids <= known:
                raise UsageError(f"training phase {phase.name!r} updates variables outside the model")
        self.index = {id(v): i for i, v in enumerate(self.variables)}
        self.optimizers: list[Any] = []
        for phase in self.phases:  # phases may share an optimiser (several critic updates per step)
            if not any(o is phase.optimizer for o in self.optimizers):
                self.optimizers.append(phase.optimizer)
        self.opt_of = [next(k for k, o in enumerate(self.optimizers) if o is ph.optimizer) for ph in self.phases]
        self.state = (
            [v.value for v in self.variables],
            [[v.value for v in opt.variables] for opt in self.optimizers],
        )
        self.compiled = jax.jit(self._run, donate_argnums=0) if self.jit else self._run

    def _with_trained(self, values, idx, trained):
        values = list(values)
        for j, v in zip(idx, trained):
            values[j] = v
        return values

    def _stateless(self, values, fn):
        """``fn()`` with the model's variables at ``values``; returns (result, updated values)."""
        with keras.StatelessScope(state_mapping=list(zip(self.variables, values))) as scope:
            out = fn()
        updated = [scope.get_current_value(v) for v in self.variables]
        return out, [old if new is None else new for old, new in zip(values, updated)]

    def _phase_step(self, p, values, opt_values, arrays):
        phase = self.phases[p]
        idx = [self.index[id(v)] for v in phase.variables]
        if phase.private is not None:
            return self._private_step(phase, idx, values, opt_values, arrays)

        def loss_of(train_values):
            return self._stateless(self._with_trained(values, idx, train_values), lambda: phase.loss(*arrays))

        (loss, values), grads = jax.value_and_grad(loss_of, has_aux=True)([values[j] for j in idx])
        trained, opt_values = phase.optimizer.stateless_apply(opt_values, grads, [values[j] for j in idx])
        return loss, self._with_trained(values, idx, trained), opt_values

    def _private_step(self, phase, idx, values, opt_values, arrays):
        """A DP-SGD update: ``arrays`` = (mask, *the phase's arrays); per-example
        gradients by ``jax.vmap`` of ``jax.grad`` over the rows."""
        private = phase.private
        mask = arrays[0]
        rows, values = self._stateless(values, lambda: tuple(private.prepare(*arrays[1:])))
        rows = tuple(jax.lax.stop_gradient(r) for r in rows)

        def row_loss(train_values, row):
            current = self._with_trained(values, idx, train_values)
            with keras.StatelessScope(state_mapping=list(zip(self.variables, current))):
                return private.row_loss(*[r[None] for r in row])

        def clipped(train_values, row):
            return clip_example(jax.grad(row_loss)(train_values, row), private.max_grad_norm)

        per_example = jax.vmap(clipped, in_axes=(None, 0))([values[j] for j in idx], rows)
        sums = [jax.numpy.tensordot(mask, g, axes=1) for g in per_example]
        grads, values = self._stateless(values, lambda: noisy_mean(sums, private))
        trained, opt_values = phase.optimizer.stateless_apply(opt_values, grads, [values[j] for j in idx])
        return jax.numpy.float32(float("nan")), self._with_trained(values, idx, trained), opt_values

    def _run(self, state, inputs, n):
        jnp = jax.numpy
        capacity = inputs[0][0].shape[0]

        def body(i, carry):
            values, opt_states, losses = carry
            opt_states = list(opt_states)
            step_losses = []
            for p, arrays in enumerate(inputs):
                k = self.opt_of[p]
                loss, values, opt_states[k] = self._phase_step(p, values, opt_states[k], [a[i] for a in arrays])
                step_losses.append(jnp.asarray(loss, "float32"))
            return values, opt_states, losses.at[i].set(jnp.stack(step_losses))

        losses = jnp.zeros((capacity, len(self.phases)), "float32")
        values, opt_states, losses = jax.lax.fori_loop(0, n, body, (state[0], state[1], losses))
        return (values, opt_states), losses

    def run(self, inputs, n: int) -> np.ndarray:
        self.state, losses = self.compiled(self.state, [tuple(arrays) for arrays in inputs], np.int32(n))
        return np.asarray(losses)[: int(n)]

    def sync(self) -> None:
        values, opt_states = self.state
        for var, value in zip(self.variables, values):
            var.assign(value)
        for opt, opt_values in zip(self.optimizers, opt_states):
            for var, value in zip(opt.variables, opt_values):
                var.assign(value)
