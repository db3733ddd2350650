"""Autoregressive families for ``tokens`` DataSpecs: ``rnn`` (LSTM/GRU) and ``transformer``
(small decoder-only, causal self-attention, learned positions).

Training is next-token cross-entropy masked on ``special_tokens["pad"]`` (``compute_loss``,
so ``Model.fit`` trains on every backend).

Generation samples all sequences of a batch at once (``batch_size``, capped so the
sampling state stays small), one position per call of a
compiled step (``tf.function`` / ``jax.jit``) that carries the recurrent state (RNN) or a
fixed-size key/value cache (transformer, O(length) attention per token, no recomputation
of the prefix). The step also applies the sampling controls:

- ``temperature`` (default 1.0; 0 = greedy), ``top_k`` (0 = off), ``top_p`` (1.0 = off);
- ``allowed_tokens``: bool mask over the vocabulary; disallowed logits become -inf.
  ``pad`` and ``bos`` are never sampled; ``eos`` stays allowed so sequences can end;
- ``primer``: int array, 1-D (shared) or 2-D (one row per sample); a ``bos`` is put in
  front when the DataSpec has one and the primer does not start with it;
- ``max_length``: total tokens including the primer (default ``spec.shape[0]``).

Sequences start with ``bos`` when the DataSpec has one, otherwise with a first token
drawn from the training data's first-token frequencies. After ``eos`` every position is
``pad``. Sampling noise comes from ``numpy.random.default_rng(seed)`` (uniforms fed to
the step), so outputs are identical for an identical seed.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._quiet import keras_module
from ..errors import DataError, UsageError
from ..plugin import StrictModel
from ..spec import DataSpec
from ._backend import StatelessFunction, batched, resolve_jit, resolve_steps_per_execution, to_numpy
from ._options import SpecModel, as_options
from .base import ModelFamily
from .layers import PositionEmbedding, TransformerBlock

__all__ = [
    "RNNOptions",
    "TransformerOptions",
    "RNNModel",
    "TransformerModel",
    "RNNFamily",
    "TransformerFamily",
    "rnn_family",
    "transformer_family",
]

keras = keras_module()
ops = keras.ops
_NEG = -1e9


class RNNOptions(StrictModel):
    """Recipe ``model.options`` of the ``rnn`` family."""

    cell: Literal["lstm", "gru"] = Field("lstm", description="recurrent cell")
    embedding_dim: int = Field(64, ge=1)
    units: int = Field(256, ge=1, description="units per recurrent layer")
    layers: int = Field(2, ge=1, description="stacked recurrent layers")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on embeddings and between layers")
    jit_compile: bool | None = Field(None, description="XLA on TensorFlow (JAX always compiles); None = off")
    steps_per_execution: int = Field(8, ge=1)


class TransformerOptions(StrictModel):
    """Recipe ``model.options`` of the ``transformer`` family."""

    dim: int = Field(128, ge=8, description="model width")
    heads: int = Field(4, ge=1)
    layers: int = Field(3, ge=1, description="decoder blocks")
    ff_dim: int = Field(512, ge=1, description="feed-forward width")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    max_length: int | None = Field(None, ge=2, description="positions; None: spec.shape[0]")
    jit_compile: bool | None = Field(None, description="XLA on TensorFlow (JAX always compiles); None = off")
    steps_per_execution: int = Field(8, ge=1)


class TokenControls(StrictModel):
    """Sampling controls of the ``rnn`` and ``transformer`` families (module docstring)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    temperature: float = Field(1.0, ge=0.0, le=100.0, description="softmax temperature; 0 = greedy")
    top_k: int | None = Field(None, ge=0, description="keep the k most probable tokens (0 or None = off)")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="nucleus sampling mass (None or 1 = off)")
    max_length: int | None = Field(None, ge=1, description="total tokens including the primer (default: the training length)")
    primer: Any = Field(None, description="int token array, 1-D (shared) or 2-D (one row per sample)")
    allowed_tokens: Any = Field(None, description="bool mask over the vocabulary")


class _Controls:
    """Sampling controls checked against the model (vocabulary, positions, primer shape)."""

    def __init__(self, model: "_Autoregressive", controls: dict[str, Any] | None, n: int):
        c = model.parse_controls(controls)
        spec, vocab = model.spec, model.spec.vocab_size
        self.temperature = float(c.temperature)
        self.top_k = int(c.top_k or 0)
        self.top_p = float(c.top_p if c.top_p is not None else 1.0)
        self.max_length = int(c.max_length or spec.shape[0])
        if self.max_length > model.max_positions:
            raise UsageError(
                f"max_length {self.max_length} exceeds the {model.max_positions} positions this model was "
                "built for; set model.options.max_length higher and retrain"
            )
        allowed = np.ones(vocab, bool)
        if c.allowed_tokens is not None:
            allowed = np.asarray(c.allowed_tokens, dtype=bool).reshape(-1)
            if allowed.shape != (vocab,):
                raise UsageError(f"allowed_tokens must be a bool mask of length {vocab} (the vocabulary)")
            allowed = allowed.copy()
        special = spec.special_tokens
        for name in ("pad", "bos"):
            if name in special:
                allowed[special[name]] = False
        if "eos" in special:
            allowed[special["eos"]] = True
        regular = allowed.copy()
        for name in ("pad", "bos", "eos"):
            if name in special:
                regular[special[name]] = False
        if not regular.any():
            raise UsageError("allowed_tokens leaves no token to sample; allow at least one regular token")
        self.allowed = allowed
        primer = c.primer
        bos = special.get("bos")
        if primer is not None:
            primer = np.asarray(primer)
            if primer.dtype.kind not in "iu":
                raise UsageError("primer must be an integer token array")
            primer = primer.astype("int32")
            if primer.ndim == 1:
                primer = np.broadcast_to(primer, (n, primer.shape[0]))
            if primer.ndim != 2 or primer.shape[0] != n:
                raise UsageError(f"primer must be 1-D or 2-D with one row per sample ({n} rows)")
            if primer.size and (primer.min() < 0 or primer.max() >= vocab):
                raise UsageError(f"primer tokens must lie in [0, {vocab})")
            if bos is not None and (primer.shape[1] == 0 or (primer[:, 0] != bos).any()):
                primer = np.concatenate([np.full((n, 1), bos, "int32"), primer], axis=1)
        elif bos is not None:
            primer = np.full((n, 1), bos, "int32")
        if primer is not None and primer.shape[1] > self.max_length:
            raise UsageError(f"primer ({primer.shape[1]} tokens) is longer than max_length {self.max_length}")
        self.primer = primer


class _Autoregressive(SpecModel, keras.Model):
    """Shared training and batched sampling of the token families."""

    layouts = ("tokens",)
    Controls = TokenControls


    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        if "pad" not in self.spec.special_tokens:
            raise UsageError("tokens DataSpec needs special_tokens['pad']")
        self.vocab = self.spec.vocab_size
        self.pad = int(self.spec.special_tokens["pad"])
        self.eos = int(self.spec.special_tokens.get("eos", -1))
        self.start_frequencies = self.add_weight(
            name="start_frequencies", shape=(self.vocab,), initializer="ones", trainable=False
        )
        self._fns: dict[str, StatelessFunction] = {}

    # subclasses: _build_network(), call(tokens, training), initial_state(batch, length), step(token, state, pos)
    max_positions: int = 1 << 30

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y_pred is None:
            y_pred = self(x, training=training)
        nll = ops.sparse_categorical_crossentropy(y, y_pred, from_logits=True)
        mask = ops.cast(ops.not_equal(y, self.pad), nll.dtype)
        return ops.sum(nll * mask) / ops.maximum(ops.sum(mask), 1.0)

    def _check_tokens(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] < 2 or len(x) == 0:
            raise DataError(f"{self.name}: expected token sequences of shape (n, length >= 2), got {x.shape}")
        if x.dtype.kind not in "iu" or x.min() < 0 or x.max() >= self.vocab:
            raise DataError(f"{self.name}: tokens must be integers in [0, {self.vocab}); check the codec")
        if x.shape[1] - 1 > self.max_positions:
            raise DataError(f"{self.name}: sequences of {x.shape[1]} tokens exceed the model's {self.max_positions} positions")
        return x.astype("int32")

    def train_on(self, x, *, epochs, batch_size, learning_rate, callbacks=(), validation_split=0.0, seed=0):
        x = self._check_tokens(x)
        counts = np.bincount(x[:, 0], minlength=self.vocab).astype("float32")
        self.start_frequencies.assign(counts / counts.sum())
        keras.utils.set_random_seed(int(seed))
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
            jit_compile=resolve_jit(self.options.jit_compile),
            steps_per_execution=resolve_steps_per_execution(self.options.steps_per_execution),
        )
        history = self.fit(
            x[:, :-1],
            x[:, 1:],
            epochs=int(epochs),
            batch_size=int(min(batch_size, len(x))),
            shuffle=True,
            validation_split=validation_split,
            callbacks=list(callbacks),
            verbose=0,
        )
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}

    # --- sampling ---------------------------------------------------------------------------
    def _sample_step(self, token, state, pos, u, done, forced, use_forced, temperature, top_k, top_p, allowed):
        logits, state = self.step(token, state, pos)
        logits = ops.cast(logits, "float32")
        greedy = ops.argmax(ops.where(allowed[None, :], logits, _NEG), axis=-1)
        logits = logits / ops.maximum(temperature, 1e-6)
        logits = ops.where(allowed[None, :], logits, _NEG)
        desc = ops.flip(ops.sort(logits, axis=-1), axis=-1)
        k = ops.where(top_k > 0, ops.minimum(top_k, self.vocab), self.vocab)
        kth = ops.take(desc, k - 1, axis=-1)[:, None]
        logits = ops.where(logits < kth, _NEG, logits)
        desc = ops.where(desc < kth, _NEG, desc)
        p = ops.softmax(desc, axis=-1)
        before = ops.cumsum(p, axis=-1) - p
        keep = ops.maximum(ops.sum(ops.cast(before < top_p, "int32"), axis=-1), 1)
        pth = ops.take_along_axis(desc, (keep - 1)[:, None], axis=-1)
        logits = ops.where(logits < pth, _NEG, logits)
        probs = ops.softmax(logits, axis=-1)
        cdf = ops.cumsum(probs, axis=-1)
        nxt = ops.sum(ops.cast(cdf < u[:, None] * cdf[:, -1:], "int32"), axis=-1)
        nxt = ops.minimum(nxt, self.vocab - 1)
        nxt = ops.where(temperature > 0, nxt, ops.cast(greedy, "int32"))
        nxt = ops.where(use_forced, forced, nxt)
        nxt = ops.where(done, self.pad, nxt)
        done = ops.logical_or(done, ops.equal(nxt, self.eos))
        return ops.cast(nxt, "int32"), state, done

    def _step_fn(self):
        if "step" not in self._fns:
            self._fns["step"] = StatelessFunction(
                self, self._sample_step, jit=resolve_jit(self.options.jit_compile), donate=(1,)
            )
        return self._fns["step"]

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=1024):
        """``n`` token sequences of ``max_length`` (default ``spec.shape[0]``); see the module
        docstring for the controls. ``conditions`` are ignored (the plugin filters)."""
        n = int(n)
        c = _Controls(self, controls, n)
        length = c.max_length
        if n <= 0:
            return np.zeros((0, length), "int32")
        rng = np.random.default_rng(seed)
        fn = self._step_fn()
        batch_size = max(1, min(int(batch_size), self.max_batch(length)))
        out = []
        scalars = (
            np.float32(c.temperature),
            np.int32(c.top_k),
            np.float32(c.top_p),
            c.allowed,
        )
        for a, b in batched(n, batch_size):
            bsz = b - a
            u = rng.random((bsz, length), dtype=np.float32)
            if c.primer is not None:
                prefix = c.primer[a:b]
            else:
                freq = to_numpy(self.start_frequencies).astype("float64") * c.allowed
                if freq.sum() <= 0:
                    freq = c.allowed.astype("float64")
                cdf = np.cumsum(freq / freq.sum())
                first = np.minimum(np.searchsorted(cdf, u[:, 0], side="right"), self.vocab - 1)
                prefix = first.astype("int32")[:, None]
            tokens = np.full((bsz, length), self.pad, "int32")
            tokens[:, : prefix.shape[1]] = prefix
            done = np.zeros(bsz, bool)
            if self.eos >= 0:
                done = (prefix == self.eos).any(axis=1)
            state = self.initial_state(bsz, length)
            token = prefix[:, 0]
            steps_out = []
            p = prefix.shape[1]
            for pos in range(length - 1):
                forced_now = pos + 1 < p
                forced = prefix[:, pos + 1] if forced_now else prefix[:, 0]
                token, state, done = fn(
                    token, state, np.int32(pos), u[:, pos + 1], done, forced, np.bool_(forced_now), *scalars
                )
                steps_out.append(token)
                if self.eos >= 0 and pos % 16 == 15 and pos + 1 >= p and bool(np.all(to_numpy(done))):
                    break
            gen = np.stack([to_numpy(t) for t in steps_out], axis=1)
            tokens[:, 1 : 1 + gen.shape[1]] = gen
            out.append(tokens)
        return np.concatenate(out, axis=0)

    def max_batch(self, length: int) -> int:
        """Largest number of sequences sampled at once (bounds the sampling state's memory)."""
        return 4096



@keras.saving.register_keras_serializable(package="domaingen")
class RNNModel(_Autoregressive):
    """Embedding -> stacked LSTM/GRU -> softmax over the vocabulary."""

    options_class = RNNOptions
    family = "rnn"

    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(spec, options, seed, **kwargs)
        o = self.options
        self.embedding = keras.layers.Embedding(self.vocab, o.embedding_dim, name="embedding")
        self.embedding.build((None, None))
        self.drop = keras.layers.Dropout(o.dropout, seed=self.seed)
        rnn = keras.layers.LSTM if o.cell == "lstm" else keras.layers.GRU
        self.recurrent = []
        width = o.embedding_dim
        for i in range(o.layers):
            layer = rnn(o.units, return_sequences=True, name=f"{o.cell}_{i}")
            layer.build((None, None, width))
            self.recurrent.append(layer)
            width = o.units
        self.head = keras.layers.Dense(self.vocab, name="head")
        self.head.build((None, None, width))
        self.built = True

    def call(self, tokens, training=False):
        h = self.drop(self.embedding(tokens), training=training)
        for layer in self.recurrent:
            h = self.drop(layer(h, training=training), training=training)
        return self.head(h)

    def initial_state(self, batch, length):
        n_states = 2 if self.options.cell == "lstm" else 1
        zeros = np.zeros((batch, self.options.units), "float32")
        return [[zeros] * n_states for _ in self.recurrent]

    def step(self, token, state, pos):
        h = self.embedding(token)
        new_state = []
        for layer, st in zip(self.recurrent, state):
            h, st = layer.cell(h, list(st), training=False)
            new_state.append(list(st) if isinstance(st, (list, tuple)) else [st])
        return self.head(h), new_state


@keras.saving.register_keras_serializable(package="domaingen")
class TransformerModel(_Autoregressive):
    """Token + position embedding -> pre-norm causal decoder blocks -> vocabulary logits."""

    options_class = TransformerOptions
    family = "transformer"

    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(spec, options, seed, **kwargs)
        o = self.options
        if o.dim % o.heads:
            raise UsageError(f"transformer dim {o.dim} must be divisible by heads {o.heads}")
        self.max_positions = int(o.max_length or self.spec.shape[0])
        self.embedding = keras.layers.Embedding(self.vocab, o.dim, name="embedding")
        self.embedding.build((None, None))
        self.positions = PositionEmbedding(self.max_positions, name="positions")
        self.positions.build((None, None, o.dim))
        self.drop = keras.layers.Dropout(o.dropout, seed=self.seed)
        self.blocks = []
        for i in range(o.layers):
            block = TransformerBlock(o.heads, o.ff_dim, o.dropout, name=f"block_{i}")
            block.build((None, None, o.dim))
            self.blocks.append(block)
        self.final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
        self.final_norm.build((None, None, o.dim))
        self.head = keras.layers.Dense(self.vocab, name="head")
        self.head.build((None, None, o.dim))
        self.built = True

    def call(self, tokens, training=False):
        h = self.drop(self.positions(self.embedding(tokens)), training=training)
        for block in self.blocks:
            h = block(h, training=training)
        return self.head(self.final_norm(h))

    def max_batch(self, length: int) -> int:
        """Keeps the key/value caches of one batch under about 256 MiB."""
        per_sequence = 2 * len(self.blocks) * length * self.options.dim * 4
        return max(1, min(4096, (256 << 20) // per_sequence))

    def initial_state(self, batch, length):
        o = self.options
        shape = (batch, o.heads, length, o.dim // o.heads)
        return [[np.zeros(shape, "float32"), np.zeros(shape, "float32")] for _ in self.blocks]

    def step(self, token, state, pos):
        h = self.embedding(token[:, None])
        h = h + ops.take(self.positions.embeddings, ops.reshape(pos, (1,)), axis=0)[None]
        new_state = []
        for block, (k_cache, v_cache) in zip(self.blocks, state):
            h, k_cache, v_cache = block.step(h, k_cache, v_cache, pos)
            new_state.append([k_cache, v_cache])
        return self.head(self.final_norm(h))[:, 0], new_state


class RNNFamily(ModelFamily):
    name = "rnn"
    description = "LSTM/GRU next-token model with batched, stateful sampling"
    layouts = ("tokens",)
    Options = RNNOptions

    def build(self, spec: DataSpec, options: BaseModel | dict | None, seed: int) -> RNNModel:
        opts = as_options(options, RNNOptions)
        _check_tokens_spec(spec, self.name)
        keras.utils.set_random_seed(int(seed))
        return RNNModel(spec.to_json(), opts.model_dump(), int(seed), name="rnn")


class TransformerFamily(ModelFamily):
    name = "transformer"
    description = "Small decoder-only transformer with a key/value cache for sampling"
    layouts = ("tokens",)
    Options = TransformerOptions

    def build(self, spec: DataSpec, options: BaseModel | dict | None, seed: int) -> TransformerModel:
        opts = as_options(options, TransformerOptions)
        _check_tokens_spec(spec, self.name)
        keras.utils.set_random_seed(int(seed))
        return TransformerModel(spec.to_json(), opts.model_dump(), int(seed), name="transformer")


def _check_tokens_spec(spec: DataSpec, family: str) -> None:
    if spec.layout != "tokens":
        raise UsageError(f"the {family} family takes tokens data, not {spec.layout!r}; choose vae, gan or copula")
    if "pad" not in spec.special_tokens:
        raise UsageError(f"the {family} family needs special_tokens['pad'] in the DataSpec (the codec sets it)")


rnn_family = RNNFamily()
transformer_family = TransformerFamily()
