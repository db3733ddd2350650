"""Negative log-likelihoods of the mixed-type decoders, with one implementation per substrate.

On the TensorFlow backend the distributions come from tensorflow-probability (its
``tf`` substrate). TFP's JAX substrate does not import with current JAX releases, so on
JAX and PyTorch the same quantities are computed with ``keras.ops`` formulas. Both give
the same values (tested); ``use_tfp()`` says which one is active.

All functions return elementwise (Gaussian, Bernoulli) or per-row (KL) negative
log-likelihoods as backend tensors. Categorical segments of a table are scored by
``CategoryBlocks.row_nll`` (``_table_fast.py``), which needs the table's layout.
"""

from __future__ import annotations

import math

from .._quiet import keras_module
from . import backends

__all__ = [
    "use_tfp",
    "gaussian_nll",
    "bernoulli_nll",
    "kl_standard_normal",
    "ops_gaussian_nll",
    "ops_bernoulli_nll",
    "ops_kl_standard_normal",
]

keras = keras_module()
ops = keras.ops
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _tfp():
    """tensorflow-probability where the backend uses it (``backends.probability``)."""
    return backends.probability()


def use_tfp() -> bool:
    """True when the backend uses tensorflow-probability and it imports (TensorFlow)."""
    return _tfp() is not None


use_tfp()  # import TFP with the family modules, not inside the first traced training step


# --- keras.ops formulas (every backend) ----------------------------------------------
def ops_gaussian_nll(x, mean, log_sigma):
    z = (x - mean) * ops.exp(-log_sigma)
    return 0.5 * ops.square(z) + log_sigma + _HALF_LOG_2PI


def ops_bernoulli_nll(x, logits):
    # -[x log s(l) + (1-x) log(1-s(l))] = softplus(l) - x l
    return ops.softplus(logits) - x * logits


def ops_kl_standard_normal(mean, logvar):
    return 0.5 * ops.sum(ops.exp(logvar) + ops.square(mean) - 1.0 - logvar, axis=-1)


# --- tensorflow-probability (TensorFlow backend) ---------------------------------------
def tfp_gaussian_nll(x, mean, log_sigma):
    tfd = _tfp().distributions
    return -tfd.Normal(loc=mean, scale=ops.exp(log_sigma)).log_prob(x)


def tfp_bernoulli_nll(x, logits):
    tfd = _tfp().distributions
    return -tfd.Bernoulli(logits=logits, dtype=x.dtype).log_prob(x)


def tfp_kl_standard_normal(mean, logvar):
    tfd = _tfp().distributions
    q = tfd.Normal(loc=mean, scale=ops.exp(0.5 * logvar))
    p = tfd.Normal(loc=ops.zeros_like(mean), scale=ops.ones_like(mean))
    return ops.sum(tfd.kl_divergence(q, p), axis=-1)


# --- dispatch -----------------------------------------------------------------------------
def gaussian_nll(x, mean, log_sigma):
    """Elementwise -log N(x; mean, exp(log_sigma)^2)."""
    return (tfp_gaussian_nll if use_tfp() else ops_gaussian_nll)(x, mean, log_sigma)


def bernoulli_nll(x, logits):
    """Elementwise -log Bernoulli(x; sigmoid(logits))."""
    return (tfp_bernoulli_nll if use_tfp() else ops_bernoulli_nll)(x, logits)


def kl_standard_normal(mean, logvar):
    """Per-row KL( N(mean, exp(logvar)) || N(0, I) )."""
    return (tfp_kl_standard_normal if use_tfp() else ops_kl_standard_normal)(mean, logvar)
