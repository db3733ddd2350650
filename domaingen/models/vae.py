"""Variational autoencoder family (``vae``) for ``table`` and ``grid`` DataSpecs.

Tables: dense encoder/decoder with mixed-type likelihoods driven by the DataSpec
segments, as in TVAE: continuous columns are Gaussian with a learned per-column sigma,
categorical segments softmax cross-entropy, binary columns Bernoulli. ``condition_on``
makes it a conditional VAE: the one-hots of those segments are concatenated to the
encoder and decoder inputs; at generation ``conditions`` fixes them and the others are
drawn from their training frequencies (stored in the model as non-trainable weights).

Grids: strided-conv encoder and transposed-conv decoder, Gaussian likelihood with one
learned sigma. When the DataSpec has labels (an image's class) it is a conditional VAE on
them: the labels' one-hots join the encoder after its convolutions and the decoder's
input; ``sample`` draws labels from the training frequencies unless conditioned.
Sampling control: ``temperature`` scales the prior's standard deviation (z ~ N(0, T²)). Training runs through the shared step loop (``_loop.py``: many steps per
compiled call); the KL weight ramps up over ``kl_warmup_epochs``.

Under ``train.privacy`` (``use_privacy``) training is DP-SGD: Poisson-sampled batches
(rate batch_size / n, ``round(n / batch_size)`` steps per epoch), each row's ELBO gradient
clipped to ``max_grad_norm``, Gaussian noise calibrated by dp-accounting for the planned
steps; no validation, no conditional VAE (its category frequencies come from the data).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from pydantic import Field

from .._quiet import keras_module
from ..errors import DataError, UsageError
from ..plugin import StrictModel
from ..spec import DataSpec
from ._labels import check_label_codes, draw_labels, label_one_hot
from ._options import SpecModel
from . import backends, optimizers
from ._sampling import batched, fill_batches, in_row_chunks, seed_state, to_numpy
from ._random import standard_normal
from ._loop import MAX_STEPS_PER_CALL, Phase, PrivateGradient, StepRunner, epoch_indices, train_epochs
from ..privacy import PoissonBatches, PrivateTraining, plan_dp_sgd, spent_record
from ._table import TableLayout, check_training_data
from .base import ModelFamily, Samples, check_condition_on
from .layers import conv_decoder, conv_encoder, dense_network, grid_batch_cap
from .likelihoods import bernoulli_nll, gaussian_nll, kl_standard_normal

__all__ = ["VAEOptions", "VAEControls", "VAE", "VAEFamily", "family"]

keras = keras_module()
ops = keras.ops


class VAEOptions(StrictModel):
    """Recipe ``model.options`` of the ``vae`` family."""

    latent_dim: int = Field(32, ge=1, description="size of the latent code")
    hidden: list[int] = Field(default_factory=lambda: [128, 128], description="dense encoder widths (decoder mirrors them)")
    conv_filters: list[int] = Field(default_factory=lambda: [32, 64], description="grid: encoder conv filters (decoder mirrors them)")
    beta: float | None = Field(
        None,
        ge=0.0,
        description="weight of the KL term (beta-VAE); None: 0.5 for tables (TVAE's reconstruction "
        "loss factor of 2), 1.0 for grids",
    )
    kl_warmup_epochs: int = Field(0, ge=0, description="epochs over which the KL weight ramps linearly to beta")
    condition_on: list[str] = Field(default_factory=list, description="categorical/binary segments of a conditional VAE")
    min_sigma: float = Field(0.01, gt=0.0, description="lower bound of the continuous columns' sigma")
    jit_compile: bool | None = Field(None, description="XLA on TensorFlow (JAX always compiles); None = off")
    greedy: Literal["none", "auxiliary", "all"] = Field(
        "auxiliary",
        description="discrete segments that generation sets to their most probable value given z "
        "(auxiliary: mode indicators; all: every discrete segment, as TVAE) instead of sampling",
    )
    auxiliary_temperature: float = Field(
        0.15,
        ge=0.0,
        description="with greedy 'auxiliary': 0 takes each mode indicator's most probable value; "
        "above 0 samples it from softmax(logits / auxiliary_temperature)",
    )
    steps_per_call: int = Field(MAX_STEPS_PER_CALL, ge=1, description="most training batches per compiled call")

    def kl_weight(self, epoch: int, table: bool = True) -> float:
        """The KL weight of ``epoch``: ``beta``, ramped linearly over ``kl_warmup_epochs``."""
        warm = self.kl_warmup_epochs
        beta = self.beta if self.beta is not None else (0.5 if table else 1.0)
        return beta * (1.0 if warm <= 0 else min(1.0, (epoch + 1) / (warm + 1)))


class VAEControls(StrictModel):
    """Sampling controls of the ``vae`` family."""

    temperature: float = Field(1.0, ge=0.0, le=10.0, description="standard deviation of the prior draws (1: the prior itself)")


@keras.saving.register_keras_serializable(package="domaingen")
class VAE(PrivateTraining, SpecModel, keras.Model):
    """A (conditional) VAE for a ``table`` or ``grid`` DataSpec; see the module docstring."""

    options_class = VAEOptions
    layouts = ("table", "grid")
    family = "vae"
    Controls = VAEControls


    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        o = self.options
        self.is_table = self.spec.layout == "table"
        width = self.spec.width
        if self.is_table:
            self.layout = TableLayout(self.spec)
            self.cond_segments = [self.layout.seg(n) for n in o.condition_on]
        else:
            self.layout = None
            self.cond_segments = []
        self.cond_dim = sum(s.size for s in self.cond_segments)
        self.label_dim = 0 if self.is_table else self.spec.label_width  # grids: the labels' one-hots
        # spec column -> its column of the condition vector (condition segments only)
        self._is_cond_column = np.zeros(self.spec.width if self.layout else 1, dtype=bool)
        self._cond_source = np.zeros(len(self._is_cond_column), dtype="int32")
        at = 0
        for seg in self.cond_segments:
            self._is_cond_column[seg.start : seg.start + seg.size] = True
            self._cond_source[seg.start : seg.start + seg.size] = np.arange(at, at + seg.size)
            at += seg.size
        # binary condition segments are stored as [1-p, p] frequencies
        self.freq_dim = sum(TableLayout.frequency_width(s) for s in self.cond_segments)
        if self.is_table:
            self.encoder = dense_network(width + self.cond_dim, o.hidden, 2 * o.latent_dim, name="encoder")
            self.decoder = dense_network(o.latent_dim + self.cond_dim, o.hidden[::-1], width, name="decoder")
        else:
            self.encoder = conv_encoder(self.spec.shape, o.conv_filters, 2 * o.latent_dim, name="encoder", extra_dim=self.label_dim)
            self.decoder = conv_decoder(o.latent_dim + self.label_dim, self.spec.shape, o.conv_filters[::-1], name="decoder")
        self.log_sigma = self.add_weight(
            name="log_sigma",
            shape=(width if self.is_table else 1,),
            initializer=keras.initializers.Constant(math.log(0.1)),
        )
        self.cond_frequencies = self.add_weight(
            name="cond_frequencies", shape=(max(1, self.freq_dim),), initializer="ones", trainable=False
        )
        self.train_seed = keras.random.SeedGenerator(self.seed, name="train_seed")
        self.sample_seed = keras.random.SeedGenerator(self.seed + 1, name="sample_seed")
        self.built = True
        self._fns: dict[str, Any] = {}

    # --- network ------------------------------------------------------------------
    def _clipped_log_sigma(self):
        return ops.clip(self.log_sigma, math.log(self.options.min_sigma), 0.0)

    def _conditions_of(self, x):
        parts = [x[:, s.start : s.start + s.size] for s in self.cond_segments]
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def _encode(self, x, y=None):
        """Posterior mean and log-variance; ``y``: grid label one-hots (unused for tables)."""
        if self.cond_dim:
            x = ops.concatenate([x, self._conditions_of(x)], axis=-1)
        h = self.encoder([x, y] if self.label_dim else x)
        latent = self.options.latent_dim
        return h[:, :latent], ops.clip(h[:, latent:], -12.0, 8.0)

    def _decode(self, z, cond=None):
        """Decoder output from ``z`` and the condition vector (table) or label one-hots (grid)."""
        if cond is not None:
            z = ops.concatenate([z, cond], axis=-1)
        out = self.decoder(z)
        if self.is_table and self.layout.bounded_mask.any():  # bounded columns: tanh mean, as TVAE
            out = ops.where(self.layout.bounded_mask, ops.tanh(out), out)
        return out

    def call(self, x, y=None, training=False):
        mean, logvar = self._encode(x, y)
        z = mean
        if training:
            eps = keras.random.normal(ops.shape(mean), seed=self.train_seed)
            z = mean + ops.exp(0.5 * logvar) * eps
        cond = self._conditions_of(x) if self.cond_dim else (y if self.label_dim else None)
        out = self._decode(z, cond)
        return {"out": out, "mean": mean, "logvar": logvar}

    def _reconstruction_nll(self, x, out):
        """Per-row negative log-likelihood of ``x`` under the decoder output. On tables each
        likelihood runs over the full rows, masked to its own columns: elementwise work on
        every column costs less than gathering a kind's columns, whose gradient scatters."""
        log_sigma = self._clipped_log_sigma()
        if not self.is_table:
            nll = gaussian_nll(x, out, ops.reshape(log_sigma, ()))
            return ops.sum(ops.reshape(nll, (ops.shape(x)[0], -1)), axis=-1)
        lay = self.layout
        total = 0.0
        if len(lay.cont_idx):
            total = total + ops.sum(gaussian_nll(x, out, log_sigma) * lay.cont_mask, axis=-1)
        if lay.categorical:
            total = total + lay.cats.row_nll(x, out)
        if len(lay.bin_idx):
            total = total + ops.sum(bernoulli_nll(x, out) * lay.bin_mask, axis=-1)
        return total

    def elbo_loss(self, x, y, kl_weight, training=True):
        """Negative ELBO per row, averaged: reconstruction NLL + ``kl_weight`` * KL
        (``y``: grid label one-hots; a (batch, 1) placeholder otherwise)."""
        out = self(x, y, training=training)
        rec = ops.mean(self._reconstruction_nll(x, out["out"]))
        kl = ops.mean(kl_standard_normal(out["mean"], out["logvar"]))
        return rec + kl_weight * kl

    def row_elbo(self, x, y, kl_weight, eps):
        """Negative ELBO summed over the rows of ``x`` with the reparameterisation noise
        ``eps`` given (DP-SGD calls it on one row at a time; ``kl_weight`` per row)."""
        mean, logvar = self._encode(x, y)
        z = mean + ops.exp(0.5 * logvar) * eps
        out = self._decode(z, y if self.label_dim else None)
        return ops.sum(self._reconstruction_nll(x, out) + kl_weight * kl_standard_normal(mean, logvar))

    def _private_rows(self, x, y, kl_weight):
        """Per-row DP-SGD inputs of a step: its rows, the KL weight per row, their noise."""
        batch = ops.shape(x)[0]
        eps = keras.random.normal((batch, self.options.latent_dim), seed=self.train_seed)
        return x, y, ops.broadcast_to(kl_weight, (batch,)), eps

    def check_privacy(self, privacy) -> None:
        """A conditional VAE stores its training category frequencies: refused under DP."""
        if self.cond_segments:
            raise UsageError(
                "vae under train.privacy: condition_on stores the training category frequencies, which are not "
                "private; remove model.options.condition_on (generation conditions are still honoured by filtering)"
            )

    # --- training -------------------------------------------------------------------

    def train_on(self, x, *, labels=None, epochs, batch_size, learning_rate, callbacks=(), validation_split=0.0, seed=0):
        """Minimise the negative ELBO with Adam. Each epoch visits every row once in a
        seeded random order (the last batch is topped up from the epoch's first rows);
        ``validation_split`` holds out the last rows, as ``Model.fit`` does, and logs
        ``val_loss`` (no sampling of z). ``labels``: the label codes of ``x`` (grids with
        labels). History keys: ``loss`` (+ ``val_loss``)."""
        x = check_training_data(x, self.spec, "vae")
        y = self._label_inputs(x, labels)
        keras.utils.set_random_seed(int(seed))
        if self.dp is not None:
            return self._train_private(x, y, epochs, batch_size, learning_rate, callbacks, validation_split, seed)
        rng = np.random.default_rng(int(seed))
        n_val = int(len(x) * float(validation_split))
        if n_val and n_val == len(x):
            raise DataError("vae: validation_split leaves no training rows; lower train.validation_split")
        x, x_val = (x[: len(x) - n_val], x[len(x) - n_val :]) if n_val else (x, None)
        y, y_val = (y[: len(y) - n_val], y[len(y) - n_val :]) if n_val else (y, None)
        if self.cond_segments:
            self.cond_frequencies.assign(self.layout.category_frequencies(x, self.cond_segments))
        batch = int(min(batch_size, len(x)))
        steps_per_epoch = -(-len(x) // batch)
        optimizer = optimizers.Adam(learning_rate=learning_rate)
        runner = StepRunner(self, [Phase("loss", self.elbo_loss, self.trainable_variables, optimizer)], self.options.jit_compile)
        indices = epoch_indices(rng, len(x), batch, steps_per_epoch)

        def draw(epoch, first, count):
            idx = indices(epoch, first, count)
            kl = np.full((count,), self.options.kl_weight(epoch, self.is_table), "float32")
            return [(x[idx].reshape(count, batch, *x.shape[1:]), y[idx].reshape(count, batch, -1), kl)]

        epoch_end = None
        if x_val is not None:
            val_fn = backends.StatelessFunction(self, lambda v, w, kl: self.elbo_loss(v, w, kl, training=False), jit=backends.resolve_jit(self.options.jit_compile))

            def epoch_end(epoch, logs):
                kl = np.float32(self.options.kl_weight(epoch, self.is_table))
                parts = [(b - a) * float(to_numpy(val_fn(x_val[a:b], y_val[a:b], kl))) for a, b in batched(len(x_val), 4096)]
                return {**logs, "val_loss": sum(parts) / len(x_val)}

        return train_epochs(
            self,
            runner,
            draw,
            epochs=int(epochs),
            steps_per_epoch=steps_per_epoch,
            step_bytes=batch * (int(np.prod(x.shape[1:])) + y.shape[1]) * 4,
            callbacks=list(callbacks),
            epoch_end=epoch_end,
            max_steps_per_call=self.options.steps_per_call,
        )

    def _train_private(self, x, y, epochs, batch_size, learning_rate, callbacks, validation_split, seed):
        """DP-SGD training (see the module docstring); records ``privacy_spent``."""
        if validation_split:
            raise UsageError("vae under train.privacy: validation reads real rows outside the privacy budget; set train.validation_split: 0")
        privacy = self.dp.privacy
        n = len(x)
        batch = int(min(batch_size, n))
        steps_per_epoch = max(1, round(n / batch))
        plan = plan_dp_sgd(privacy, n, batch, int(epochs) * steps_per_epoch, self.dp.prior)
        batches = PoissonBatches(n, plan.sampling_rate, plan.steps, seed)
        private = PrivateGradient(
            self.row_elbo, self._private_rows, plan.max_grad_norm, plan.noise_multiplier, plan.expected_batch_size, self.train_seed
        )
        optimizer = optimizers.Adam(learning_rate=learning_rate)
        phase = Phase("loss", self.elbo_loss, self.trainable_variables, optimizer, private=private)
        runner = StepRunner(self, [phase], self.options.jit_compile)

        def draw(epoch, first, count):
            start = epoch * steps_per_epoch + first
            idx, mask = batches.take(range(start, start + count))
            kl = np.full((count,), self.options.kl_weight(epoch, self.is_table), "float32")
            return [(mask, x[idx], y[idx], kl)]

        history = train_epochs(
            self,
            runner,
            draw,
            epochs=int(epochs),
            steps_per_epoch=steps_per_epoch,
            step_bytes=batches.capacity * (int(np.prod(x.shape[1:])) + y.shape[1] + 1) * 4,
            callbacks=list(callbacks),
            max_steps_per_call=self.options.steps_per_call,
        )
        self.privacy_spent = spent_record(privacy, plan.epsilon, plan.meta())
        return history

    def _label_inputs(self, x, labels):
        """Label one-hots beside ``x`` for training: grids with labels need their codes; other
        models take a (n, 1) placeholder (labels of a table are its condition segments)."""
        if not self.label_dim:
            if labels is not None:
                raise UsageError("the vae family takes labels on grid data only; a table's conditions are its segments")
            return np.zeros((len(x), 1), "float32")
        if labels is None:
            raise DataError("vae: this grid data has labels; pass their codes to train_on(labels=...)")
        return label_one_hot(self.spec, check_label_codes(self.spec, labels, len(x)))

    def _grid_labels(self, n, seed, conditions, labels):
        """(codes, one-hots) of ``n`` grid samples: ``labels`` if given, else drawn."""
        if not self.label_dim:
            return None, np.zeros((int(n), 1), "float32")
        codes = draw_labels(self.spec, n, seed, conditions) if labels is None else check_label_codes(self.spec, labels, n)
        return codes, label_one_hot(self.spec, codes)

    # --- generation -----------------------------------------------------------------
    def _sample_conditions(self, batch, fixed, mask, seed):
        """Condition vectors: ``fixed`` where ``mask`` is 1, else drawn from training frequencies."""
        parts, at = [], 0
        u = keras.random.uniform((batch, len(self.cond_segments)), seed=seed)
        for i, s in enumerate(self.cond_segments):
            if s.kind == "categorical":
                freq = self.cond_frequencies[at : at + s.size]
                at += s.size
                cdf = ops.cumsum(freq) / ops.sum(freq)
                idx = ops.minimum(ops.sum(ops.cast(cdf[None, :] < u[:, i : i + 1], "int32"), axis=-1), s.size - 1)
                parts.append(ops.one_hot(idx, s.size, dtype="float32"))
            else:
                p1 = self.cond_frequencies[at + 1]
                at += 2
                parts.append(ops.cast(u[:, i : i + 1] < p1, "float32"))
        drawn = ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]
        return drawn * (1.0 - mask) + fixed * mask

    def _fn(self, name: str):
        if name not in self._fns:
            jit = backends.resolve_jit(self.options.jit_compile)
            fn = {
                "sample": self._sample_fn,
                "encode": self._encode_fn,
                "decode_mode": lambda z, y, fixed, mask: self._decode_fn(z, fixed, mask, False, y=y),
                "decode_sample": lambda z, y, fixed, mask: self._decode_fn(z, fixed, mask, True, y=y),
            }[name]
            self._fns[name] = backends.StatelessFunction(self, fn, seed_generator=self.sample_seed, jit=jit)
        return self._fns[name]

    def _sample_fn(self, rows, fixed, mask, temperature):
        """``rows``: one row per sample (grids: the label one-hots to generate for)."""
        if not self.is_table:
            z = keras.random.normal((ops.shape(rows)[0], self.options.latent_dim), seed=self.sample_seed) * temperature
            return self._decode_fn(z, fixed, mask, True, y=rows)
        return self._decode_fn(None, fixed, mask, True, rows=rows, temperature=temperature)

    def _decode_fn(self, z, fixed, mask, sample, rows=None, y=None, temperature=1.0):
        """Grids decoded from ``z`` (and the label one-hots ``y``), or table rows decoded
        from ``z`` (``None``: drawn from the prior, scaled by ``temperature``, for each of
        ``rows``) as a list of (width, rows) column pieces: tables are decoded in
        independent pieces (``in_row_chunks``), each drawing its own random numbers."""
        if not self.is_table:
            return self._decode(z, y if self.label_dim else None)
        o = self.options
        settings = dict(greedy=o.greedy, auxiliary_temperature=o.auxiliary_temperature)
        log_sigma = self._clipped_log_sigma() if sample else None
        latent = o.latent_dim
        given = rows if z is None else z

        def piece(start, stop, seed):
            count = ops.shape(given[start:stop])[0]
            part_z = ops.transpose(standard_normal(latent, count, seed)) * temperature if z is None else z[start:stop]
            cond = self._sample_conditions(count, fixed, mask, seed) if self.cond_dim else None
            out = ops.transpose(self.decoder(part_z if cond is None else ops.concatenate([part_z, cond], axis=-1)))
            if sample:
                columns = self.layout.columns_from(out, seed, log_sigma, squash_bounded=True, **settings)
            else:  # the decoder's mode: means, argmax one-hots, binary logit > 0
                columns = self.layout.columns_from(out, None, greedy="all", squash_bounded=True)
            if self.cond_dim:  # the condition segments carry the condition vector itself
                conditioned = ops.take(ops.transpose(cond), self._cond_source, axis=0)
                columns = ops.where(self._is_cond_column[:, None], conditioned, columns)
            return columns

        return in_row_chunks(piece, ops.shape(given)[0], seed_generator=self.sample_seed)

    def _encode_fn(self, x, y):
        return self._encode(x, y if self.label_dim else None)[0]

    def _condition_arrays(self, conditions):
        """(fixed, mask) rows of shape (1, cond_dim) for the honoured conditions."""
        fixed = np.zeros((1, max(1, self.cond_dim)), "float32")
        mask = np.zeros_like(fixed)
        checked = self.layout.check_conditions(conditions) if self.is_table else {}
        at = 0
        for s in self.cond_segments:
            if s.name in checked:
                idx = checked[s.name]
                if s.kind == "categorical":
                    fixed[0, at + idx] = 1.0
                else:
                    fixed[0, at] = float(idx)
                mask[0, at : at + s.size] = 1.0
            at += s.size
        return fixed[:, : self.cond_dim or 1], mask[:, : self.cond_dim or 1]

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The subset of ``conditions`` this model fixes natively (its ``condition_on``)."""
        return self.layout.honoured_conditions(conditions, self.cond_segments) if self.is_table else {}

    def sample(self, n, *, seed, conditions=None, controls=None, batch_size=65536, labels=None):
        """``n`` rows (table) or grids and their label codes (grids with labels: ``labels``
        if given, else label conditions and training frequencies); identical for an
        identical ``seed`` and batch size."""
        n = int(n)
        temperature = np.float32(self.parse_controls(controls).temperature)
        codes, onehot = self._grid_labels(n, seed, conditions, labels)
        if n <= 0:
            return Samples(np.zeros((0, *self.spec.shape), "float32"), codes)
        if not self.is_table:  # conv activations, not the output, bound a grid batch's memory
            batch_size = min(int(batch_size), grid_batch_cap(self.spec.shape, self.options.conv_filters))
        fixed, mask = self._condition_arrays(conditions)
        fn = self._fn("sample")

        def rows(a, b):  # tables: a placeholder row per sample; grids: the label one-hots
            return np.zeros((b - a,), "float32") if self.is_table else onehot[a:b]

        x = fill_batches(
            n,
            batch_size,
            self.spec.shape,
            lambda k, a, b: fn(rows(a, b), fixed, mask, temperature, state=seed_state(seed, k)),
            transposed=self.is_table,
        )
        return Samples(x, codes)

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=65536):
        """The arrays of ``sample``."""
        return self.sample(n, seed=seed, conditions=conditions, controls=controls, batch_size=batch_size).x

    # --- latent tools ----------------------------------------------------------------
    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` draws from the N(0, I) prior, shape (n, latent_dim)."""
        return np.random.default_rng(seed).standard_normal((int(n), self.options.latent_dim)).astype("float32")

    def encode(self, x: np.ndarray, batch_size: int = 65536, labels: np.ndarray | None = None) -> np.ndarray:
        """Posterior means of the latent codes of encoded data ``x`` (with its label
        codes ``labels`` on grids with labels)."""
        x = check_training_data(x, self.spec, "vae")
        y = self._label_inputs(x, labels)
        fn = self._fn("encode")
        return np.concatenate([to_numpy(fn(x[a:b], y[a:b])) for a, b in batched(len(x), batch_size)], axis=0)

    def decode_latent(self, z, *, conditions=None, sample: bool = False, seed: int = 0, batch_size: int = 65536, labels=None):
        """Decode latent codes. ``sample=False`` gives the decoder's mode (means, argmax
        one-hots, binary logit > 0); ``sample=True`` draws rows as ``generate`` does.
        Unfixed condition segments (and, on grids, labels not given in ``labels``) are
        drawn from training frequencies with ``seed``."""
        z = np.asarray(z, dtype="float32").reshape(-1, self.options.latent_dim)
        _, onehot = self._grid_labels(len(z), seed, conditions, labels)
        if not self.is_table:
            batch_size = min(int(batch_size), grid_batch_cap(self.spec.shape, self.options.conv_filters))
        fixed, mask = self._condition_arrays(conditions)
        fn = self._fn("decode_sample" if sample else "decode_mode")
        return fill_batches(
            len(z),
            batch_size,
            self.spec.shape,
            lambda k, a, b: fn(z[a:b], onehot[a:b], fixed, mask, state=seed_state(seed, k)),
            transposed=self.is_table,
        )

    def interpolate(self, z0, z1, steps: int, *, decode: bool = True, **decode_kwargs):
        """``steps`` points on the straight line from ``z0`` to ``z1`` (decoded by default)."""
        t = np.linspace(0.0, 1.0, int(steps), dtype="float32")[:, None]
        z = (1.0 - t) * np.asarray(z0, "float32")[None] + t * np.asarray(z1, "float32")[None]
        return self.decode_latent(z, **decode_kwargs) if decode else z

    def traverse(self, z, dim: int, values, *, decode: bool = True, **decode_kwargs):
        """Copies of ``z`` with latent dimension ``dim`` set to each of ``values``."""
        if not 0 <= int(dim) < self.options.latent_dim:
            raise UsageError(f"latent dimension {dim} is out of range [0, {self.options.latent_dim})")
        values = np.asarray(values, "float32")
        path = np.repeat(np.asarray(z, "float32").reshape(1, -1), len(values), axis=0)
        path[:, int(dim)] = values
        return self.decode_latent(path, **decode_kwargs) if decode else path

    # --- serialisation ------------------------------------------------------------------


class VAEFamily(ModelFamily):
    """Builds ``VAE`` models."""

    name = "vae"
    description = "Variational autoencoder with mixed-type likelihoods (TVAE-like); conv for grids"
    layouts = ("table", "grid")
    label_layouts = ("grid",)  # a table's conditions are its own categorical segments (condition_on)
    Options = VAEOptions

    model_class = VAE

    def check_options(self, spec: DataSpec, options: VAEOptions) -> None:
        check_condition_on(spec, options.condition_on, self.name)
        if spec.layout == "grid" and options.condition_on:
            raise UsageError("vae condition_on applies to table data only; remove it for grid data")


family = VAEFamily()
