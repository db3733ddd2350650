"""Shared data with known answers for the model-family tests.

Runs on whichever backend ``KERAS_BACKEND`` selects for the whole process (TensorFlow by
default; ``KERAS_BACKEND=jax pytest tests/models`` for JAX). On TensorFlow the tests
enable op determinism, as the core does before training.
"""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.spec import DataSpec, Segment

keras = keras_module()

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()

# --- mixed table: bimodal continuous, 3-way categorical, binary -------------------------------
MIX_WEIGHT = 0.3  # weight of the component at -2 (the other sits at +1.5)
MIX_MEANS = (-2.0, 1.5)
MIX_STDS = (0.3, 0.5)
CAT_FREQ = np.array([0.6, 0.3, 0.1])
BIN_P = 0.2

TABLE_SPEC = DataSpec(
    "table",
    (5,),
    (Segment("x", "continuous"), Segment("colour", "categorical", 3), Segment("flag", "binary")),
)


def mixed_table(n: int, seed: int = 0) -> np.ndarray:
    """Rows [x, one-hot colour (3), flag]: x ~ 0.3 N(-2, .3) + 0.7 N(1.5, .5), colour ~ CAT_FREQ."""
    rng = np.random.default_rng(seed)
    low = rng.random(n) < MIX_WEIGHT
    x = np.where(low, rng.normal(MIX_MEANS[0], MIX_STDS[0], n), rng.normal(MIX_MEANS[1], MIX_STDS[1], n))
    colour = rng.choice(3, size=n, p=CAT_FREQ)
    flag = (rng.random(n) < BIN_P).astype(float)
    return np.column_stack([x, np.eye(3)[colour], flag]).astype("float32")


def dependent_table(n: int, seed: int = 0) -> np.ndarray:
    """Rows where colour decides x: colour 0 -> N(-2, .3), 1 -> N(0, .3), 2 -> N(2, .3)."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(3, size=n, p=CAT_FREQ)
    x = np.array([-2.0, 0.0, 2.0])[colour] + rng.normal(0, 0.3, n)
    flag = (rng.random(n) < BIN_P).astype(float)
    return np.column_stack([x, np.eye(3)[colour], flag]).astype("float32")


def check_table_rows(g: np.ndarray) -> None:
    """Generated rows are exact: one-hot colour and 0/1 flag."""
    assert g.shape[1] == 5 and g.dtype == np.float32
    assert np.all(g[:, 1:4].sum(axis=1) == 1.0)
    assert set(np.unique(g[:, 1:4])) <= {0.0, 1.0}
    assert set(np.unique(g[:, 4])) <= {0.0, 1.0}


# --- tokens: a deterministic cycle with bos/eos/pad ------------------------------------------
PAD, BOS, EOS = 0, 1, 2
CYCLE = 9  # regular tokens 3..11; rule: next = 3 + (t - 3 + 1) % 9
VOCAB = 3 + CYCLE
SEQ_LEN = 20
TOKEN_SPEC = DataSpec("tokens", (SEQ_LEN,), vocab_size=VOCAB, special_tokens={"pad": PAD, "bos": BOS, "eos": EOS})


def next_token(t):
    return 3 + (np.asarray(t) - 3 + 1) % CYCLE


def cycle_sequences(n: int, seed: int = 0) -> np.ndarray:
    """bos, a random start, then the cycle rule, eos after 8..17 regular tokens, pad after."""
    rng = np.random.default_rng(seed)
    out = np.full((n, SEQ_LEN), PAD, "int32")
    out[:, 0] = BOS
    for i in range(n):
        length = rng.integers(8, SEQ_LEN - 1)
        t = rng.integers(3, 3 + CYCLE)
        for j in range(1, length + 1):
            out[i, j] = t
            t = next_token(t)
        out[i, length + 1] = EOS
    return out


def rule_accuracy(g: np.ndarray) -> float:
    """Share of consecutive regular-token pairs that follow the cycle rule."""
    a, b = g[:, :-1], g[:, 1:]
    both = (a >= 3) & (b >= 3)
    return float((b[both] == next_token(a[both])).mean())


def weights_equal(m1, m2) -> bool:
    w1, w2 = m1.get_weights(), m2.get_weights()
    return len(w1) == len(w2) and all(np.array_equal(a, b) for a, b in zip(w1, w2))


@pytest.fixture
def tmp_keras(tmp_path):
    return tmp_path / "model.keras"
