"""The training loop of the VAE and GAN families: many optimiser steps per compiled call.

Keras' ``Model.fit`` enters compiled code at most once per epoch and pays 20-30 ms of
per-epoch work (data adapter, iterator, callbacks) on top; on a small table trained with
one batch per epoch that overhead *is* the training time. Here:

- a *step* is a list of ``Phase``s (a loss, the variables it updates, their optimiser):
  one phase for a VAE; critic phase(s) then generator phase for a GAN;
- ``StepRunner.run(inputs, n)`` runs ``n`` steps in one compiled call: a ``tf.while_loop``
  in a ``tf.function`` (autograph off) on TensorFlow, ``lax.fori_loop`` under ``jax.jit``
  over explicit state on JAX, an eager loop on PyTorch. Inputs are stacked per step and
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._quiet import keras_module
from ..errors import UsageError
from ._backend import backend_name, resolve_jit

__all__ = ["Phase", "PrivateGradient", "StepRunner", "train_epochs", "reads_logs_only", "steps_per_call"]

keras = keras_module()
ops = keras.ops

MAX_STEPS_PER_CALL = 128
MAX_CALL_BYTES = 64 * 2**20  # stacked inputs of one call


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


def reads_logs_only(callback: Any) -> bool:
    """True for callbacks that only read epoch logs (progress bars, the History), so
    several epochs may run in one call before they are told about them."""
    return bool(getattr(callback, "reads_logs_only", False)) or isinstance(callback, keras.callbacks.History)


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


def steps_per_call(step_bytes: int, limit: int = MAX_STEPS_PER_CALL) -> int:
    """Steps per compiled call: at most ``limit`` and at most ``MAX_CALL_BYTES`` of inputs."""
    return int(max(1, min(limit, MAX_CALL_BYTES // max(1, step_bytes))))


class StepRunner:
    """Runs ``n`` training steps of ``phases`` per call on the active backend.

    ``run(inputs, n)`` takes, per phase, a tuple of arrays whose leading axis is the step
    (length ``capacity`` >= ``n``; rows past ``n`` are padding and are not used) and
    returns the float losses, shape ``(n, len(phases))``. ``sync()`` writes functional
    state back into the Keras variables (JAX); call it before anything reads the model.
    """

    def __new__(cls, model: Any, phases: Sequence[Phase], jit: bool | None = None):
        backend = backend_name()
        impl = {"tensorflow": _TFRunner, "jax": _JaxRunner, "torch": _TorchRunner}.get(backend)
        if impl is None:
            raise UsageError(f"domaingen cannot train on the {backend!r} backend; use tensorflow, jax or torch")
        runner = object.__new__(impl)
        runner._setup(model, list(phases), resolve_jit(jit))
        return runner

    def _setup(self, model, phases, jit) -> None:
        self.model, self.phases, self.jit = model, phases, jit

    def sync(self) -> None:
        """Nothing to do where variables are updated in place."""


class _TFRunner(StepRunner):
    def _setup(self, model, phases, jit) -> None:
        super()._setup(model, phases, jit)
        import tensorflow as tf

        self._tf = tf
        self._fn = tf.function(self._run, jit_compile=jit, autograph=False, reduce_retracing=True)

    def _run(self, inputs, n):
        tf = self._tf
        fused = {id(p.optimizer): fusable_adam(p.optimizer, p.variables) for p in self.phases}

        def body(i, losses):
            values = []
            for phase, arrays in zip(self.phases, inputs):
                if phase.private is not None:
                    grads = self._private_gradients(phase, [a[i] for a in arrays])
                    loss = tf.constant(float("nan"))
                else:
                    with tf.GradientTape() as tape:
                        loss = phase.loss(*[a[i] for a in arrays])
                    grads = tape.gradient(loss, phase.variables)
                pairs = [(g, v) for g, v in zip(grads, phase.variables) if g is not None]
                if fused[id(phase.optimizer)]:
                    _fused_adam_apply(tf, phase.optimizer, pairs)
                else:
                    phase.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
                values.append(tf.cast(loss, "float32"))
            return i + 1, losses.write(i, tf.stack(values))

        losses = tf.TensorArray(tf.float32, size=n)
        _, losses = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), losses))
        return losses.stack()

    def _private_gradients(self, phase, arrays):
        """DP-SGD gradients of one step: ``arrays`` = (mask, *the phase's arrays)."""
        tf, private = self._tf, phase.private
        mask = arrays[0]
        rows = tuple(tf.stop_gradient(r) for r in private.prepare(*arrays[1:]))
        variables = phase.variables

        def one(row):
            with tf.GradientTape() as tape:
                loss = private.row_loss(*[r[None] for r in row])
            grads = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return clip_example(grads, private.max_grad_norm)

        per_example = tf.vectorized_map(one, rows, fallback_to_while_loop=True)
        return noisy_mean([tf.tensordot(mask, g, axes=1) for g in per_example], private)

    def run(self, inputs, n: int) -> np.ndarray:
        out = self._fn([tuple(arrays) for arrays in inputs], self._tf.constant(int(n)))
        return out.numpy()


def fusable_adam(optimizer: Any, variables: Sequence[Any]) -> bool:
    """True for a plain Keras Adam (no clipping, weight decay, EMA, accumulation, loss
    scaling, schedule or constraints): TensorFlow's fused Adam kernel computes the same
    update in one op per variable instead of Keras' ~40, which halves the traced step."""
    plain = (
        type(optimizer) is keras.optimizers.Adam
        and not optimizer.amsgrad
        and optimizer.clipnorm is None
        and optimizer.clipvalue is None
        and optimizer.global_clipnorm is None
        and not optimizer.weight_decay
        and not optimizer.use_ema
        and not optimizer.gradient_accumulation_steps
        and optimizer.loss_scale_factor is None
        and isinstance(optimizer._learning_rate, keras.Variable)
    )
    return plain and all(v.constraint is None and not v.overwrite_with_gradient for v in variables)


def _fused_adam_apply(tf: Any, optimizer: Any, pairs: list[tuple[Any, Any]]) -> None:
    """Keras Adam's update through ``ResourceApplyAdam``: the same formula
    (``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``) on the optimiser's own
    momentum / velocity variables, then the iteration count."""
    step = tf.cast(optimizer.iterations.value + 1, "float32")
    beta_1, beta_2 = float(optimizer.beta_1), float(optimizer.beta_2)
    lr = tf.cast(optimizer._learning_rate.value, "float32")
    b1_power, b2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
    for grad, variable in pairs:
        k = optimizer._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.value.handle,
            m=optimizer._momentums[k].value.handle,
            v=optimizer._velocities[k].value.handle,
            beta1_power=b1_power,
            beta2_power=b2_power,
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=float(optimizer.epsilon),
            grad=tf.cast(grad, variable.dtype),
        )
    optimizer.iterations.assign_add(1)


class _JaxRunner(StepRunner):
    """Pure steps over explicit state (model variables + optimiser variables)."""

    def _setup(self, model, phases, jit) -> None:
        super()._setup(model, phases, jit)
        import jax

        self._jax = jax
        self.variables = list(model.variables)
        known = {id(v) for v in self.variables}
        for phase in phases:  # every phase's variables must belong to the model
            if not phase.trainable_ids <= known:
                raise UsageError(f"training phase {phase.name!r} updates variables outside the model")
        self.index = {id(v): i for i, v in enumerate(self.variables)}
        self.optimizers: list[Any] = []
        for phase in phases:  # phases may share an optimiser (several critic updates per step)
            if not any(o is phase.optimizer for o in self.optimizers):
                self.optimizers.append(phase.optimizer)
        self.opt_of = [next(k for k, o in enumerate(self.optimizers) if o is ph.optimizer) for ph in phases]
        self.state = (
            [v.value for v in self.variables],
            [[v.value for v in opt.variables] for opt in self.optimizers],
        )
        self._fn = jax.jit(self._run, donate_argnums=0) if jit else self._run

    def _phase_step(self, p, values, opt_values, arrays):
        phase = self.phases[p]
        idx = [self.index[id(v)] for v in phase.variables]
        if phase.private is not None:
            return self._private_step(phase, idx, values, opt_values, arrays)

        def loss_of(train_values):
            current = list(values)
            for j, v in zip(idx, train_values):
                current[j] = v
            with keras.StatelessScope(state_mapping=list(zip(self.variables, current))) as scope:
                loss = phase.loss(*arrays)
            updated = [scope.get_current_value(v) for v in self.variables]
            return loss, [old if new is None else new for old, new in zip(current, updated)]

        (loss, values), grads = self._jax.value_and_grad(loss_of, has_aux=True)([values[j] for j in idx])
        trained, opt_values = phase.optimizer.stateless_apply(opt_values, grads, [values[j] for j in idx])
        values = list(values)
        for j, v in zip(idx, trained):
            values[j] = v
        return loss, values, opt_values

    def _stateless(self, values, fn):
        """``fn()`` with the model's variables at ``values``; returns (result, updated values)."""
        with keras.StatelessScope(state_mapping=list(zip(self.variables, values))) as scope:
            out = fn()
        updated = [scope.get_current_value(v) for v in self.variables]
        return out, [old if new is None else new for old, new in zip(values, updated)]

    def _private_step(self, phase, idx, values, opt_values, arrays):
        """A DP-SGD update: ``arrays`` = (mask, *the phase's arrays); per-example
        gradients by ``jax.vmap`` of ``jax.grad`` over the rows."""
        jax, private = self._jax, phase.private
        mask = arrays[0]
        rows, values = self._stateless(values, lambda: tuple(private.prepare(*arrays[1:])))
        rows = tuple(jax.lax.stop_gradient(r) for r in rows)

        def row_loss(train_values, row):
            current = list(values)
            for j, v in zip(idx, train_values):
                current[j] = v
            with keras.StatelessScope(state_mapping=list(zip(self.variables, current))):
                return private.row_loss(*[r[None] for r in row])

        def clipped(train_values, row):
            return clip_example(jax.grad(row_loss)(train_values, row), private.max_grad_norm)

        per_example = jax.vmap(clipped, in_axes=(None, 0))([values[j] for j in idx], rows)
        sums = [self._jax.numpy.tensordot(mask, g, axes=1) for g in per_example]
        grads, values = self._stateless(values, lambda: noisy_mean(sums, private))
        trained, opt_values = phase.optimizer.stateless_apply(opt_values, grads, [values[j] for j in idx])
        values = list(values)
        for j, v in zip(idx, trained):
            values[j] = v
        return self._jax.numpy.float32(float("nan")), values, opt_values

    def _run(self, state, inputs, n):
        jnp = self._jax.numpy
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
        values, opt_states, losses = self._jax.lax.fori_loop(0, n, body, (state[0], state[1], losses))
        return (values, opt_states), losses

    def run(self, inputs, n: int) -> np.ndarray:
        self.state, losses = self._fn(self.state, [tuple(arrays) for arrays in inputs], np.int32(n))
        return np.asarray(losses)[: int(n)]

    def sync(self) -> None:
        values, opt_states = self.state
        for var, value in zip(self.variables, values):
            var.assign(value)
        for opt, opt_values in zip(self.optimizers, opt_states):
            for var, value in zip(opt.variables, opt_values):
                var.assign(value)


class _TorchRunner(StepRunner):
    """Eager forward, ``loss.backward()``, ``optimizer.apply`` under ``torch.no_grad()``:
    the pattern of Keras' own PyTorch trainer."""

    def _setup(self, model, phases, jit) -> None:
        if any(p.private is not None for p in phases):
            raise UsageError("DP-SGD (train.privacy) runs on the tensorflow and jax backends; set KERAS_BACKEND to one of them")
        super()._setup(model, phases, jit)

    def run(self, inputs, n: int) -> np.ndarray:
        import torch

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
