"""Denoising networks: the fast paths equal their references (the channels-last GroupNorm
and Keras' GroupNormalization; the table MLP by distinct condition and the model's call)."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.models.denoisers import GroupNorm, TableMLPByCondition, table_mlp

keras = keras_module()


@pytest.mark.parametrize("shape, groups", [((5, 8, 8, 16), 8), ((3, 4, 6, 32), 4), ((2, 7, 5, 12), 4), ((4, 3, 3, 1), 1)])
def test_group_norm_equals_keras_group_normalization(shape, groups):
    rng = np.random.default_rng(len(shape) + groups)
    x = (rng.normal(size=shape) * 3.0 + 5.0).astype("float32")  # far from zero mean: the centring matters
    reference, fast = keras.layers.GroupNormalization(groups, epsilon=1e-5), GroupNorm(groups, epsilon=1e-5)
    reference.build(shape)
    fast.build(shape)
    weights = [rng.normal(size=v.shape).astype("float32") for v in reference.weights]
    reference.set_weights(weights)
    fast.set_weights(weights)
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(reference(x)), atol=1e-5)


def test_group_norm_saves_and_loads_in_safe_mode(tmp_path):
    inputs = keras.Input((4, 4, 8))
    model = keras.Model(inputs, GroupNorm(4, epsilon=1e-5)(inputs))
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 8)).astype("float32")
    model.save(tmp_path / "norm.keras")
    loaded = keras.saving.load_model(tmp_path / "norm.keras", safe_mode=True)
    np.testing.assert_array_equal(np.asarray(loaded(x)), np.asarray(model(x)))


def test_table_mlp_by_condition_equals_the_model():
    model = table_mlp(7, 4, 16, 2, embedding_dim=8)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # non-zero weights everywhere (the default initialisers zero the biases)
        layer.set_weights([rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.get_weights()])
    x = rng.normal(size=(50, 7)).astype("float32")
    distinct = np.eye(4, dtype="float32")[[0, 2, 3]]
    index = rng.integers(0, 3, 50).astype("int32")
    t = np.full((1, 1), 0.37, "float32")
    reference = model([x, np.full((50, 1), 0.37, "float32"), distinct[index]])
    fast = TableMLPByCondition(model)(x, t, distinct, index)
    np.testing.assert_allclose(np.asarray(fast), np.asarray(reference), rtol=1e-5, atol=1e-5)
