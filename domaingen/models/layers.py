"""Shared building blocks of the model families: ops-only layers and network builders.

Every layer uses ``keras.ops`` only (runs on TensorFlow, JAX and PyTorch), has a complete
``get_config`` and is registered for ``safe_mode`` loading under the ``domaingen``
package. Builders return functional ``keras.Model``s that are built on creation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._quiet import keras_module

__all__ = [
    "PositionEmbedding",
    "CausalSelfAttention",
    "TransformerBlock",
    "ResidualDense",
    "dense_network",
    "conv_encoder",
    "conv_decoder",
    "grid_channels",
]

keras = keras_module()
ops = keras.ops
register = keras.saving.register_keras_serializable(package="domaingen")


@register
class PositionEmbedding(keras.layers.Layer):
    """Learned position embedding added to token embeddings: ``x + E[positions]``."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(**kwargs)
        self.max_length = int(max_length)

    def build(self, input_shape):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.max_length, int(input_shape[-1])),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )

    def call(self, x, positions=None):
        if positions is None:
            positions = ops.arange(ops.shape(x)[1])
        return x + ops.take(self.embeddings, positions, axis=0)

    def get_config(self):
        return {**super().get_config(), "max_length": self.max_length}


@register
class CausalSelfAttention(keras.layers.Layer):
    """Multi-head causal self-attention with a key/value cache for one-token steps.

    ``call(x)`` attends over the whole (causally masked) sequence for training;
    ``step(x_t, k_cache, v_cache, pos)`` writes the new key/value at ``pos`` into fixed-size
    caches ``(batch, heads, max_length, head_dim)`` (``ops.slice_update``: a dynamic
    update slice, done in place inside a compiled sampling loop) and attends to positions
    ``<= pos``, so generating T tokens costs O(T) work per token, never a recomputation of
    the prefix.
    """

    def __init__(self, num_heads: int, head_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.head_dim = int(head_dim)
        self.dropout = float(dropout)
        self.qkv = keras.layers.Dense(3 * self.num_heads * self.head_dim, name="qkv")
        self.out = None
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.qkv.build((None, None, dim))
        self.out = keras.layers.Dense(dim, name="out")
        self.out.build((None, None, self.num_heads * self.head_dim))

    def _split(self, x):
        b, t = ops.shape(x)[0], ops.shape(x)[1]
        qkv = ops.reshape(self.qkv(x), (b, t, 3, self.num_heads, self.head_dim))
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def _merge(self, y):
        b, t = ops.shape(y)[0], ops.shape(y)[1]
        return self.out(ops.reshape(y, (b, t, self.num_heads * self.head_dim)))

    def call(self, x, training=False):
        q, k, v = self._split(x)
        t = ops.shape(x)[1]
        scores = ops.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(self.head_dim)
        causal = ops.tril(ops.ones((t, t), dtype="bool"))
        scores = ops.where(causal[None, None], scores, ops.full_like(scores, -1e9))
        weights = self.drop(ops.softmax(scores, axis=-1), training=training)
        return self._merge(ops.einsum("bhqk,bkhd->bqhd", weights, v))

    def step(self, x, k_cache, v_cache, pos):
        q, k, v = self._split(x)  # (b, 1, h, d)
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))  # (b, h, 1, d)
        slots = ops.arange(ops.shape(k_cache)[2])
        at = (0, 0, pos, 0)
        k_cache = ops.slice_update(k_cache, at, ops.cast(k, k_cache.dtype))
        v_cache = ops.slice_update(v_cache, at, ops.cast(v, v_cache.dtype))
        scores = ops.einsum("bhqd,bhkd->bhqk", q, k_cache) / math.sqrt(self.head_dim)
        visible = (slots <= pos)[None, None, None, :]
        scores = ops.where(visible, scores, ops.full_like(scores, -1e9))
        y = ops.einsum("bhqk,bhkd->bqhd", ops.softmax(scores, axis=-1), v_cache)
        return self._merge(y), k_cache, v_cache

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "dropout": self.dropout,
        }


@register
class TransformerBlock(keras.layers.Layer):
    """Pre-norm decoder block: ``x + attn(ln(x))`` then ``x + ffn(ln(x))``."""

    def __init__(self, num_heads: int, ff_dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        self.ff_dim = int(ff_dim)
        self.dropout = float(dropout)
        self.ln1 = keras.layers.LayerNormalization(epsilon=1e-5, name="ln1")
        self.ln2 = keras.layers.LayerNormalization(epsilon=1e-5, name="ln2")
        self.attn = None
        self.ff1 = keras.layers.Dense(self.ff_dim, activation="gelu", name="ff1")
        self.ff2 = None
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, input_shape):
        dim = int(input_shape[-1])
        if dim % self.num_heads:
            raise ValueError(f"model dim {dim} is not divisible by num_heads {self.num_heads}")
        shape = (None, None, dim)
        self.attn = CausalSelfAttention(self.num_heads, dim // self.num_heads, self.dropout, name="attn")
        self.ff2 = keras.layers.Dense(dim, name="ff2")
        self.ln1.build(shape)
        self.ln2.build(shape)
        self.attn.build(shape)
        self.ff1.build(shape)
        self.ff2.build((None, None, self.ff_dim))

    def call(self, x, training=False):
        x = x + self.drop(self.attn(self.ln1(x), training=training), training=training)
        return x + self.drop(self.ff2(self.ff1(self.ln2(x))), training=training)

    def step(self, x, k_cache, v_cache, pos):
        a, k_cache, v_cache = self.attn.step(self.ln1(x), k_cache, v_cache, pos)
        x = x + a
        return x + self.ff2(self.ff1(self.ln2(x))), k_cache, v_cache

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
        }


@register
class ResidualDense(keras.layers.Layer):
    """CTGAN's generator block: ``concat([x, relu(bn(dense(x)))])``."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.dense = keras.layers.Dense(self.units, name="dense")
        self.norm = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name="bn")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.norm.build((None, self.units))

    def call(self, x, training=False):
        h = ops.relu(self.norm(self.dense(x), training=training))
        return ops.concatenate([x, h], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], int(input_shape[-1]) + self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def dense_network(
    in_dim: int,
    hidden: Sequence[int],
    out_dim: int,
    *,
    name: str,
    activation: str = "relu",
    dropout: float = 0.0,
    residual: bool = False,
    seed: int = 0,
):
    """MLP ``in_dim -> hidden... -> out_dim`` (linear output) as a built functional model.

    ``residual=True`` uses ``ResidualDense`` blocks (CTGAN generator); ``activation`` may
    be ``"leaky_relu"`` (slope 0.2, CTGAN discriminator).
    """
    inp = keras.Input((in_dim,), name=f"{name}_in")
    h = inp
    for i, units in enumerate(hidden):
        if residual:
            h = ResidualDense(units, name=f"{name}_res{i}")(h)
            continue
        h = keras.layers.Dense(units, name=f"{name}_dense{i}")(h)
        if activation == "leaky_relu":
            h = keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_act{i}")(h)
        else:
            h = keras.layers.Activation(activation, name=f"{name}_act{i}")(h)
        if dropout > 0:
            h = keras.layers.Dropout(dropout, seed=seed + i, name=f"{name}_drop{i}")(h)
    out = keras.layers.Dense(out_dim, name=f"{name}_out")(h)
    return keras.Model(inp, out, name=name)


def grid_channels(shape: Sequence[int]) -> tuple[int, int, int]:
    """(height, width, channels) of a grid DataSpec shape ``(H, W)`` or ``(H, W, C)``."""
    if len(shape) == 2:
        return int(shape[0]), int(shape[1]), 1
    if len(shape) == 3:
        return int(shape[0]), int(shape[1]), int(shape[2])
    raise ValueError(f"grid shape must be (H, W) or (H, W, C), got {tuple(shape)}")


GRID_ACTIVATION_BUDGET = 256 * 2**20  # bytes of one conv layer's activations while sampling a batch


def grid_batch_cap(shape: Sequence[int], filters: Sequence[int]) -> int:
    """Most grids a conv network handles at once while sampling: its widest activation
    (full resolution × the most filters × float32) stays within ``GRID_ACTIVATION_BUDGET``.
    Sampling 20,000 28×28 images in one batch had held about 2 GiB of activations."""
    h, w, _ = grid_channels(shape)
    per_image = h * w * max(list(filters) + [1]) * 4
    return max(16, GRID_ACTIVATION_BUDGET // per_image)


def conv_encoder(
    shape: Sequence[int],
    filters: Sequence[int],
    out_dim: int,
    *,
    name: str,
    extra_dim: int = 0,
    dropout: float = 0.0,
    seed: int = 0,
):
    """Strided-conv encoder of a grid (plus an optional flat ``extra`` input) to ``out_dim``."""
    h_, w_, c_ = grid_channels(shape)
    inp = keras.Input(tuple(shape), name=f"{name}_in")
    h = keras.layers.Reshape((h_, w_, c_))(inp) if len(shape) == 2 else inp
    for i, f in enumerate(filters):
        h = keras.layers.Conv2D(f, 4, strides=2, padding="same", name=f"{name}_conv{i}")(h)
        h = keras.layers.LeakyReLU(negative_slope=0.2)(h)
        if dropout > 0:
            h = keras.layers.Dropout(dropout, seed=seed + i)(h)
    h = keras.layers.Flatten()(h)
    inputs = [inp]
    if extra_dim:
        extra = keras.Input((extra_dim,), name=f"{name}_extra")
        inputs.append(extra)
        h = keras.layers.Concatenate()([h, extra])
    out = keras.layers.Dense(out_dim, name=f"{name}_out")(h)
    return keras.Model(inputs if extra_dim else inp, out, name=name)


def conv_decoder(in_dim: int, shape: Sequence[int], filters: Sequence[int], *, name: str, batch_norm: bool = False):
    """Dense + transposed-conv decoder from ``in_dim`` to a grid of ``shape`` (linear output).
    ``batch_norm``: batch normalisation before each ReLU, as in DCGAN's generator."""
    h_, w_, c_ = grid_channels(shape)
    k = len(filters)
    h0, w0 = -(-h_ // 2**k), -(-w_ // 2**k)

    def activate(h, i):
        if batch_norm:
            h = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{name}_bn{i}")(h)
        return keras.layers.Activation("relu")(h)

    inp = keras.Input((in_dim,), name=f"{name}_in")
    h = keras.layers.Dense(h0 * w0 * filters[0], name=f"{name}_dense")(inp)
    h = activate(keras.layers.Reshape((h0, w0, filters[0]))(h), "_in")
    for i, f in enumerate(filters):
        h = keras.layers.Conv2DTranspose(f, 4, strides=2, padding="same", name=f"{name}_deconv{i}")(h)
        h = activate(h, i)
    h = keras.layers.Conv2D(c_, 3, padding="same", name=f"{name}_out")(h)
    crop_h, crop_w = h0 * 2**k - h_, w0 * 2**k - w_
    if crop_h or crop_w:
        h = keras.layers.Cropping2D(((0, crop_h), (0, crop_w)))(h)
    if len(shape) == 2:
        h = keras.layers.Reshape((h_, w_))(h)
    return keras.Model(inp, h, name=name)
