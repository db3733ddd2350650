"""The shared training loop: ``optimizers.Adam`` (fused into one kernel per variable on
TensorFlow) trains exactly as Keras' own Adam on every backend."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.models import optimizers
from domaingen.models._loop import Phase, StepRunner
from domaingen.models.optimizers import fused_adam_slots

keras = keras_module()
ops = keras.ops


def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 64, 3)).astype("float32")  # 6 steps of 64 rows
    y = (x @ np.array([1.5, -2.0, 0.5], "float32"))[..., None] + 0.1
    return x, y.astype("float32")


def _trained(steps_x, steps_y, adam):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    optimizer = adam(0.05)

    def loss(x, y):
        return ops.mean((model(x) - y) ** 2)

    runner = StepRunner(model, [Phase("loss", loss, model.trainable_variables, optimizer)], jit=False)
    losses = runner.run([(steps_x, steps_y)], len(steps_x))
    runner.sync()
    return [np.asarray(v) for v in model.trainable_variables], losses, int(optimizer.iterations.numpy())


def test_our_adam_trains_as_keras_adam():
    """On TensorFlow ours takes the fused kernel and Keras' the reference ``apply``; on the
    other backends both take ``stateless_apply``."""
    x, y = _regression()
    fused_w, fused_loss, fused_it = _trained(x, y, optimizers.Adam)
    keras_w, keras_loss, keras_it = _trained(x, y, keras.optimizers.Adam)
    assert fused_it == keras_it == len(x)
    assert fused_loss[-1, 0] < 0.5 * fused_loss[0, 0]  # it trained
    np.testing.assert_allclose(fused_loss, keras_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_w, keras_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float32 rounding; one step moves ~0.05


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: optimizers.Adam(1e-3, clipnorm=1.0),
        lambda: optimizers.Adam(1e-3, weight_decay=1e-4),
        lambda: optimizers.Adam(1e-3, amsgrad=True),
        lambda: optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)),
        lambda: keras.optimizers.Adam(1e-3),
        lambda: keras.optimizers.AdamW(1e-3),
    ],
)
def test_fused_adam_only_for_plain_adam(optimizer):
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    plain = optimizers.Adam(1e-3)
    plain.build(layer.trainable_variables)
    slots = fused_adam_slots(plain, layer.trainable_variables)
    assert set(slots) == {id(v) for v in layer.trainable_variables}
    assert all(m.shape == v.shape == w.shape for w in layer.trainable_variables for m, v in [slots[id(w)]])
    assert fused_adam_slots(optimizers.Adam(1e-3), layer.trainable_variables) is None  # not built yet
    other = optimizer()
    other.build(layer.trainable_variables)
    assert fused_adam_slots(other, layer.trainable_variables) is None
