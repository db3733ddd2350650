"""The shared training loop: the fused Adam path on TensorFlow equals Keras' own Adam."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.models import _loop
from domaingen.models._loop import Phase, StepRunner, fusable_adam

keras = keras_module()
ops = keras.ops


def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 64, 3)).astype("float32")  # 6 steps of 64 rows
    y = (x @ np.array([1.5, -2.0, 0.5], "float32"))[..., None] + 0.1
    return x, y.astype("float32")


def _trained(steps_x, steps_y, monkeypatch, fused: bool):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(0.05)

    def loss(x, y):
        return ops.mean((model(x) - y) ** 2)

    if not fused:
        monkeypatch.setattr(_loop, "fusable_adam", lambda *a: False)
    runner = StepRunner(model, [Phase("loss", loss, model.trainable_variables, optimizer)], jit=False)
    losses = runner.run([(steps_x, steps_y)], len(steps_x))
    runner.sync()
    return [np.asarray(v) for v in model.trainable_variables], losses, int(optimizer.iterations.numpy())


def test_fused_adam_matches_keras_adam(monkeypatch):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the fused Adam kernel is TensorFlow's; other backends use Keras' optimiser")
    x, y = _regression()
    fused_w, fused_loss, fused_it = _trained(x, y, monkeypatch, fused=True)
    keras_w, keras_loss, keras_it = _trained(x, y, monkeypatch, fused=False)
    assert fused_it == keras_it == len(x)
    assert fused_loss[-1, 0] < 0.5 * fused_loss[0, 0]  # it trained
    np.testing.assert_allclose(fused_loss, keras_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(fused_w, keras_w):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # float32 rounding; one step moves ~0.05


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.Adam(1e-3, clipnorm=1.0),
        lambda: keras.optimizers.Adam(1e-3, weight_decay=1e-4),
        lambda: keras.optimizers.Adam(1e-3, amsgrad=True),
        lambda: keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.9)),
        lambda: keras.optimizers.AdamW(1e-3),
    ],
)
def test_fused_adam_only_for_plain_adam(optimizer):
    layer = keras.layers.Dense(2)
    layer.build((None, 3))
    assert fusable_adam(keras.optimizers.Adam(1e-3), layer.trainable_variables)
    assert not fusable_adam(optimizer(), layer.trainable_variables)
