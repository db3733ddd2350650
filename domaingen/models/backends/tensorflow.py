"""The TensorFlow backend: ``tf.function`` graphs (XLA when asked), variables updated in place.

- compiled functions: ``tf.function`` over the model's live variables;
- training steps: ``n`` steps in one ``tf.while_loop`` inside a ``tf.function`` (autograph
  off); DP-SGD's per-example gradients by ``tf.vectorized_map``;
- a plain Keras Adam is applied by TensorFlow's fused ``ResourceApplyAdam`` kernel (see
  ``FusedAdam``), the same update in one op per variable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from ..._quiet import keras_module
from .._phases import RunnerBase, clip_example, noisy_mean
from ..optimizers import fused_adam_slots

NAME = "tensorflow"
SEED_DTYPE = "int64"  # TensorFlow's stateless random ops take int32/int64 seeds, not uint32

keras = keras_module()
ops = keras.ops


@functools.cache
def on_accelerator() -> bool:
    """Whether TensorFlow sees a GPU (checked once per process)."""
    return bool(tf.config.list_logical_devices("GPU"))


def resolve_jit(option: bool | None, default: bool = False) -> bool:
    """XLA when the option says so; ``default`` for ``None`` (the callers': off for training
    steps, where XLA on CPU measured several times slower than TF graphs, on for compiled
    sampling loops, where XLA updates their caches in place: about 3x faster)."""
    return default if option is None else bool(option)


def steps_per_execution(option: int) -> int:
    return int(option)


def to_numpy_view(x: Any) -> np.ndarray:
    """A NumPy view of a CPU eager tensor (no copy); read-only."""
    return np.asarray(x)


def input_gradient(fn: Callable[[Any], Any], inputs: Any) -> Any:
    """d sum(fn(inputs)) / d inputs, differentiable again (for a gradient penalty)."""
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        out = ops.sum(fn(inputs))
    return tape.gradient(out, inputs)


@functools.cache
def probability() -> Any:
    """tensorflow-probability, when it imports (the likelihoods use its distributions)."""
    try:
        import tensorflow_probability as tfp

        tfp.distributions.Normal  # noqa: B018  (forces the lazy import)
        return tfp
    except Exception:  # pragma: no cover - TFP missing or broken
        return None


def make_deterministic() -> None:
    """TensorFlow's ops give the same bits on every run (``enable_op_determinism``)."""
    tf.config.experimental.enable_op_determinism()


class StatelessFunction:
    """``fn(*args)`` as a ``tf.function`` reading ``model``'s variables at call time; a
    ``state`` given to a call is written into ``seed_generator`` first."""

    def __init__(self, model: Any, fn: Callable[..., Any], *, seed_generator: Any = None, jit: bool = True, donate: tuple[int, ...] = ()):
        self.model, self.fn, self.seed_generator = model, fn, seed_generator
        self.compiled = tf.function(fn, jit_compile=jit, reduce_retracing=True)

    def __call__(self, *args: Any, state: np.ndarray | None = None) -> Any:
        if state is not None and self.seed_generator is not None:
            self.seed_generator.state.assign(ops.convert_to_tensor(state, dtype=self.seed_generator.state.dtype))
        return self.compiled(*args)


class StepRunner(RunnerBase):
    """``n`` steps per call in one ``tf.while_loop``."""

    def __init__(self, model: Any, phases: Any, jit: bool) -> None:
        super().__init__(model, phases, jit)
        self.fused = {id(p.optimizer): fused_adam_slots(p.optimizer, p.variables) for p in self.phases}
        self.compiled = tf.function(self._run, jit_compile=self.jit, autograph=False, reduce_retracing=True)

    def _run(self, inputs, n):
        fused = self.fused

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
                slots = fused[id(phase.optimizer)]
                if slots is not None:
                    _apply_fused_adam(phase.optimizer, slots, pairs)
                else:
                    phase.optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])
                values.append(tf.cast(loss, "float32"))
            return i + 1, losses.write(i, tf.stack(values))

        losses = tf.TensorArray(tf.float32, size=n)
        _, losses = tf.while_loop(lambda i, _: i < n, body, (tf.constant(0), losses))
        return losses.stack()

    def _private_gradients(self, phase, arrays):
        """DP-SGD gradients of one step: ``arrays`` = (mask, *the phase's arrays)."""
        private = phase.private
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
        out = self.compiled([tuple(arrays) for arrays in inputs], tf.constant(int(n)))
        return out.numpy()


def _apply_fused_adam(optimizer: Any, slots: dict[int, tuple[Any, Any]], pairs: list[tuple[Any, Any]]) -> None:
    """Keras Adam's update through ``ResourceApplyAdam``: the same formula
    (``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``) on the optimiser's own
    momentum / velocity variables (``slots``: variable id -> (m, v)), then the iteration count."""
    step = tf.cast(optimizer.iterations + 1, "float32")
    beta_1, beta_2 = float(optimizer.beta_1), float(optimizer.beta_2)
    lr = tf.cast(optimizer.learning_rate, "float32")
    b1_power, b2_power = tf.pow(beta_1, step), tf.pow(beta_2, step)
    for grad, variable in pairs:
        m, v = slots[id(variable)]
        tf.raw_ops.ResourceApplyAdam(
            var=variable.value.handle,
            m=m.value.handle,
            v=v.value.handle,
            beta1_power=b1_power,
            beta2_power=b2_power,
            lr=lr,
            beta1=beta_1,
            beta2=beta_2,
            epsilon=float(optimizer.epsilon),
            grad=tf.cast(grad, variable.dtype),
        )
    optimizer.iterations.assign_add(1)
