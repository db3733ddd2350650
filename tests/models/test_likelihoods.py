"""Likelihoods: the tensorflow-probability and keras.ops implementations agree with closed forms."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from domaingen._quiet import keras_module
from domaingen.models import likelihoods as lk

keras = keras_module()
ops = keras.ops
rng = np.random.default_rng(0)
X = rng.normal(size=(6, 4)).astype("float32")
MEAN = rng.normal(size=(6, 4)).astype("float32")
LOG_SIGMA = rng.normal(scale=0.5, size=(4,)).astype("float32")
LOGITS = rng.normal(size=(6, 4)).astype("float32")
BITS = (rng.random((6, 4)) < 0.5).astype("float32")
LOGVAR = rng.normal(scale=0.5, size=(6, 4)).astype("float32")


def _np(t):
    return ops.convert_to_numpy(t)


def _expected():
    sig = np.exp(LOG_SIGMA)
    p = 1 / (1 + np.exp(-LOGITS))
    return {
        "gaussian": -stats.norm.logpdf(X, MEAN, sig),
        "bernoulli": -(BITS * np.log(p) + (1 - BITS) * np.log(1 - p)),
        "kl": 0.5 * (np.exp(LOGVAR) + MEAN**2 - 1 - LOGVAR).sum(-1),
    }


def _compute(prefix):
    return {
        "gaussian": _np(getattr(lk, f"{prefix}gaussian_nll")(ops.convert_to_tensor(X), ops.convert_to_tensor(MEAN), ops.convert_to_tensor(LOG_SIGMA))),
        "bernoulli": _np(getattr(lk, f"{prefix}bernoulli_nll")(ops.convert_to_tensor(BITS), ops.convert_to_tensor(LOGITS))),
        "kl": _np(getattr(lk, f"{prefix}kl_standard_normal")(ops.convert_to_tensor(MEAN), ops.convert_to_tensor(LOGVAR))),
    }


@pytest.mark.parametrize("prefix", ["", "ops_"])
def test_matches_closed_forms(prefix):
    got, want = _compute(prefix), _expected()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_dispatch_uses_tfp_exactly_on_tensorflow():
    assert lk.use_tfp() == (keras.backend.backend() == "tensorflow")


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TFP's tf substrate needs the TensorFlow backend")
def test_tfp_and_ops_agree():
    tfp_values, ops_values = _compute("tfp_"), _compute("ops_")
    for name in ops_values:
        np.testing.assert_allclose(tfp_values[name], ops_values[name], rtol=1e-5, atol=1e-6, err_msg=name)
