"""Generative adversarial network family (``gan``) for ``table`` and ``grid`` DataSpecs.

Tables follow CTGAN: a residual dense generator, a dense critic with LeakyReLU and
dropout fed PacGAN packs of ``pac`` rows, WGAN-GP (default) or the non-saturating
standard loss, and a conditional vector with training-by-sampling over all categorical
segments (pick a segment uniformly, a category with probability proportional to
log(1 + count), real rows having it; the generator pays a cross-entropy penalty when its
output for that segment misses the condition). Categorical outputs are Gumbel-softmax
and binary outputs relaxed Bernoulli during training; ``generate`` emits exact one-hots
and 0/1 draws. ``generate(conditions=...)`` honours ONE condition natively (the first
one given; the plugin's filter handles the rest).

Grids use a transposed-conv generator (batch-normalised, tanh output) and a strided-conv
critic: DCGAN with the standard loss (default) or WGAN-GP with ``loss: wgan-gp``. When the DataSpec has
labels (an image's class) it is a class-conditional GAN: the generator takes the labels'
one-hots beside its noise, and the critic sees them by projection (Miyato & Koyama 2018:
score = head(φ(x)) + <embed(y), φ(x)>, ``label_mode: projection``, default) or as an
input concatenated to its flattened features (``label_mode: concat``). Generation draws
labels from the training frequencies unless conditioned. Sampling control:
``temperature`` scales the noise's standard deviation (a truncation-like trade of
variety for typicality below 1).

Training needs two optimisers and a gradient penalty, so it does not go through
``Model.fit``: a step is ``critic_steps`` critic phases then one generator phase, run
many steps per compiled call by the shared loop (``_loop.py``), which also calls the
core's Keras callbacks once per epoch.

Under ``train.privacy`` (``use_privacy``) the critic, the only part that sees real rows,
trains by DP-SGD: Poisson-sampled real rows (rate batch_size / n), each row's critic loss
(its real score, a fake row's score and its gradient penalty) clipped to
``max_grad_norm`` and noised, dropout off (a row-wise loss has no shared masks), with
``critic_steps`` noisy steps per step all accounted. Generator updates only read the
critic and the noise: post-processing, free. A pack of several real rows and CTGAN's
training-by-sampling (rows picked by their category counts) are refused (``pac: 1``,
``conditional: false``).
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np
from pydantic import Field

from .._quiet import keras_module
from ..errors import DataError, UsageError
from ..plugin import StrictModel
from . import backends, optimizers
from ._sampling import fill_batches, in_row_chunks, seed_state
from ._random import standard_normal
from ._loop import MAX_STEPS_PER_CALL, Phase, PrivateGradient, StepRunner, train_epochs
from ..privacy import PoissonBatches, PrivateTraining, plan_dp_sgd, spent_record
from ._labels import check_label_codes, draw_labels, label_one_hot
from ._options import SpecModel
from ._table import CategoryBlocks, TableLayout, check_training_data
from .base import ModelFamily, Samples
from .layers import conv_decoder, conv_encoder, dense_network, grid_batch_cap, grid_channels

__all__ = ["GANOptions", "GANControls", "GAN", "GANFamily", "family"]

keras = keras_module()
ops = keras.ops


class GANOptions(StrictModel):
    """Recipe ``model.options`` of the ``gan`` family (None = layout default)."""

    # smaller than CTGAN's 128 / [256, 256]: on the benchmark tables (and a 20,000-row one)
    # it scored higher at CTGAN's epochs and samples twice as fast (docs/plugins/tabular.md)
    noise_dim: int = Field(64, ge=1, description="size of the generator's noise input")
    generator_hidden: list[int] = Field(default_factory=lambda: [128, 128], description="table: residual generator widths")
    discriminator_hidden: list[int] = Field(default_factory=lambda: [256, 256], description="table: critic widths")
    conv_filters: list[int] = Field(default_factory=lambda: [32, 64], description="grid: critic conv filters (generator mirrors them)")
    loss: Literal["wgan-gp", "standard"] | None = Field(
        None, description="wgan-gp or standard (DCGAN's non-saturating loss); None: wgan-gp for tables, standard for grids"
    )
    gp_weight: float = Field(10.0, ge=0.0, description="gradient-penalty weight (wgan-gp)")
    pac: int | None = Field(None, ge=1, description="PacGAN pack size; None: 10 for tables, 1 for grids")
    critic_steps: int = Field(1, ge=1, description="critic updates per generator update")
    conditional: bool = Field(True, description="table: CTGAN conditional vector over categorical segments")
    tau: float = Field(0.2, gt=0.0, description="Gumbel-softmax temperature during training")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="table critic dropout")
    beta_1: float = Field(0.5, ge=0.0, lt=1.0)
    beta_2: float = Field(0.9, ge=0.0, lt=1.0)
    jit_compile: bool | None = Field(None, description="XLA on TensorFlow (JAX always compiles); None = off")
    steps_per_call: int = Field(MAX_STEPS_PER_CALL, ge=1, description="most training steps per compiled call")
    batch_norm: bool = Field(True, description="grid: batch normalisation in the generator (DCGAN's)")
    label_mode: Literal["projection", "concat"] = Field("projection", description="grid labels: how the critic sees them")
    critic_features: int = Field(128, ge=1, description="grid labels: width of the critic's feature vector φ(x)")


class GANControls(StrictModel):
    """Sampling controls of the ``gan`` family."""

    temperature: float = Field(1.0, ge=0.0, le=10.0, description="standard deviation of the generator's noise (1: as trained)")


@keras.saving.register_keras_serializable(package="domaingen")
class GAN(PrivateTraining, SpecModel, keras.Model):
    """CTGAN-style table GAN or DCGAN-style grid GAN; see the module docstring."""

    options_class = GANOptions
    layouts = ("table", "grid")
    family = "gan"
    Controls = GANControls


    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        o = self.options
        self.is_table = self.spec.layout == "table"
        # grids: DCGAN's loss with batch-normalised generator measured best on digits (benchmarks/images.py)
        self.loss_kind = o.loss or ("wgan-gp" if self.is_table else "standard")
        self.pac = int(o.pac or (10 if self.is_table else 1))
        if self.is_table:
            self.layout = TableLayout(self.spec)
            self.cond_segments = self.layout.conditionable if o.conditional else []
            self.cond_blocks = CategoryBlocks(self.cond_segments)
            self.cond_dim = sum(s.size for s in self.cond_segments)
            width = self.spec.width
            self.generator = dense_network(o.noise_dim + self.cond_dim, o.generator_hidden, width, name="generator", residual=True)
            self.discriminator = dense_network(
                self.pac * (width + self.cond_dim),
                o.discriminator_hidden,
                1,
                name="discriminator",
                activation="leaky_relu",
                dropout=o.dropout,
                seed=self.seed + 7,
            )
        else:
            self.layout = None
            self.cond_segments = []
            self.cond_dim = self.spec.label_width  # grids: the labels' one-hots
            if self.cond_dim and self.pac > 1:
                raise UsageError("gan: pac > 1 cannot be used with labelled grid data; remove model.options.pac")
            h, w, c = grid_channels(self.spec.shape)
            self.generator = conv_decoder(
                o.noise_dim + self.cond_dim, self.spec.shape, o.conv_filters[::-1], name="generator", batch_norm=o.batch_norm
            )
            if self.cond_dim and o.label_mode == "projection":
                self.discriminator = conv_encoder((h, w, c), o.conv_filters, o.critic_features, name="discriminator")
                self.critic_head = keras.layers.Dense(1, name="critic_head")
                self.label_embedding = keras.layers.Dense(o.critic_features, use_bias=False, name="label_embedding")
                self.critic_head.build((None, o.critic_features))
                self.label_embedding.build((None, self.cond_dim))
            else:
                extra = self.cond_dim  # concat: the one-hots join the flattened conv features
                self.discriminator = conv_encoder((h, w, c * self.pac), o.conv_filters, 1, name="discriminator", extra_dim=extra)
        self.cond_frequencies = self.add_weight(
            name="cond_frequencies", shape=(max(1, self.cond_dim),), initializer="ones", trainable=False
        )
        self.train_seed = keras.random.SeedGenerator(self.seed, name="train_seed")
        self.sample_seed = keras.random.SeedGenerator(self.seed + 1, name="sample_seed")
        self.built = True
        self._fns: dict[str, Any] = {}

    # --- pieces of the losses (backend-agnostic) --------------------------------------------
    def _fake(self, cond, batch, training):
        z = keras.random.normal((batch, self.options.noise_dim), seed=self.train_seed)
        if self.cond_dim:
            z = ops.concatenate([z, cond], axis=-1)
        out = self.generator(z, training=training)
        if not self.is_table:
            return out, ops.tanh(out)
        return out, self.layout.relax(out, self.train_seed, self.options.tau)

    def _critic_input(self, x, cond):
        """Tables: rows with their condition vector; grids: the images (labels go to ``_score``)."""
        return ops.concatenate([x, cond], axis=-1) if self.cond_dim and self.is_table else x

    def _pack(self, x):
        if self.is_table:
            return ops.reshape(x, (-1, self.pac * ops.shape(x)[-1]))
        h, w, c = grid_channels(self.spec.shape)
        x = ops.reshape(x, (-1, self.pac, h, w, c))
        return ops.reshape(ops.transpose(x, (0, 2, 3, 1, 4)), (-1, h, w, self.pac * c))

    def _critic(self, inputs, training):
        return self.discriminator(self._pack(inputs), training=training)

    def _score(self, inputs, cond, training):
        """Critic score of ``_critic_input`` packs; grids with labels see ``cond`` here."""
        if self.is_table or not self.cond_dim:
            return self._critic(inputs, training)
        if self.options.label_mode == "concat":
            return self.discriminator([inputs, cond], training=training)
        phi = ops.leaky_relu(self.discriminator(inputs, training=training), negative_slope=0.2)
        return self.critic_head(phi) + ops.sum(self.label_embedding(cond) * phi, axis=-1, keepdims=True)

    def critic_variables(self):
        """The critic's trainable variables (with the projection layers when used)."""
        extra = [self.critic_head, self.label_embedding] if hasattr(self, "critic_head") else []
        return self.discriminator.trainable_variables + [v for layer in extra for v in layer.trainable_variables]

    def d_loss(self, real, cond):
        """Critic loss on one batch (``real`` rows with their condition vectors)."""
        batch = ops.shape(real)[0]
        _, fake = self._fake(cond, batch, training=True)
        fake = ops.stop_gradient(fake)
        real_in, fake_in = self._critic_input(real, cond), self._critic_input(fake, cond)
        packs = batch // self.pac
        both = self._score(ops.concatenate([real_in, fake_in], axis=0), ops.concatenate([cond, cond], axis=0), training=True)  # one pass, whole packs
        d_real, d_fake = both[:packs], both[packs:]
        if self.loss_kind == "standard":
            return ops.mean(ops.softplus(-d_real)) + ops.mean(ops.softplus(d_fake))
        loss = ops.mean(d_fake) - ops.mean(d_real)
        if self.options.gp_weight > 0:
            alpha = keras.random.uniform((packs, 1, 1), seed=self.train_seed)
            shape = ops.shape(real_in)
            r = ops.reshape(real_in, (packs, self.pac, -1))
            f = ops.reshape(fake_in, (packs, self.pac, -1))
            mixed = ops.reshape(alpha * r + (1.0 - alpha) * f, shape)
            grad = backends.input_gradient(lambda a: self._score(a, cond, training=False), mixed)
            norms = ops.sqrt(ops.sum(ops.square(ops.reshape(grad, (packs, -1))), axis=-1) + 1e-12)
            loss = loss + self.options.gp_weight * ops.mean(ops.square(norms - 1.0))
        return loss

    def d_row_loss(self, real, cond, fake, alpha):
        """Critic loss summed over rows, each row paired with its own fake row and
        interpolation weight (DP-SGD calls it on one row at a time; critic without dropout)."""
        real_in, fake_in = self._critic_input(real, cond), self._critic_input(fake, cond)
        d_real = self._score(real_in, cond, training=False)
        d_fake = self._score(fake_in, cond, training=False)
        if self.loss_kind == "standard":
            return ops.sum(ops.softplus(-d_real) + ops.softplus(d_fake))
        loss = ops.sum(d_fake - d_real)
        if self.options.gp_weight > 0:
            a = ops.reshape(alpha, (-1,) + (1,) * (len(ops.shape(real_in)) - 1))
            mixed = a * real_in + (1.0 - a) * fake_in
            grad = backends.input_gradient(lambda m: self._score(m, cond, training=False), mixed)
            norms = ops.sqrt(ops.sum(ops.square(ops.reshape(grad, (ops.shape(real_in)[0], -1))), axis=-1) + 1e-12)
            loss = loss + self.options.gp_weight * ops.sum(ops.square(norms - 1.0))
        return loss

    def _private_rows(self, real, cond):
        """Per-row DP-SGD inputs of a critic step: real rows, conditions, fake rows, GP weights."""
        batch = ops.shape(real)[0]
        _, fake = self._fake(cond, batch, training=True)
        alpha = keras.random.uniform((batch,), seed=self.train_seed)
        return real, cond, fake, alpha

    def check_privacy(self, privacy) -> None:
        """Packs and conditional vectors mix or pick real rows: refused under DP."""
        problems = []
        if self.pac != 1:
            problems.append(f"pac is {self.pac} (a pack mixes several real rows, so one row's influence is not bounded): set model.options.pac: 1")
        if self.cond_dim:
            what = "conditional vector (training-by-sampling picks real rows by their category counts)" if self.is_table else "labels (their frequencies come from the data)"
            fix = "set model.options.conditional: false" if self.is_table else "train on unlabelled data"
            problems.append(f"the {what}: {fix}")
        if problems:
            raise UsageError("gan under train.privacy: " + "; ".join(problems))

    def g_loss(self, cond, mask):
        """Generator loss: adversarial term plus the conditional cross-entropy penalty
        (``cond``/``mask`` are (batch, 1) zeros for an unconditional model)."""
        batch = ops.shape(cond)[0]
        out, fake = self._fake(cond, batch, training=True)
        d_fake = self._score(self._critic_input(fake, cond), cond, training=True)
        if self.loss_kind == "standard":
            loss = ops.mean(ops.softplus(-d_fake))
        else:
            loss = -ops.mean(d_fake)
        if self.cond_dim and self.is_table:
            ce = self.cond_blocks.cross_entropy(cond, out) * mask
            loss = loss + ops.mean(ops.sum(ce, axis=-1))
        return loss

    # --- training -----------------------------------------------------------------------

    def train_on(self, x, *, labels=None, epochs, batch_size, learning_rate, callbacks=(), validation_split=0.0, seed=0):
        """Adversarial training, ``len(x) // batch`` steps per epoch as in CTGAN;
        ``validation_split`` is ignored (GAN losses do not measure fit on held-out rows).
        ``labels``: the label codes of ``x`` (grids with labels; each batch's real images
        come with their labels and the generator is asked for the same labels).
        History keys: ``loss`` (= critic loss), ``d_loss``, ``g_loss``."""
        x = check_training_data(x, self.spec, "gan")
        rng = np.random.default_rng(int(seed))
        keras.utils.set_random_seed(int(seed))
        onehot = self._label_inputs(x, labels)
        if self.dp is not None:
            return self._train_private(x, epochs, batch_size, learning_rate, callbacks, seed)
        sampler = _BatchSampler(x, self, rng) if self.cond_dim and self.is_table else None
        if self.cond_dim and self.is_table:
            self.cond_frequencies.assign(self.layout.category_frequencies(x, self.cond_segments))
        # as CTGAN: the batch is drawn with replacement, so it may exceed the table (a
        # 442-row table still trains on batches of 500), rounded down to whole packs
        batch = max(self.pac, (int(batch_size) // self.pac) * self.pac)
        o = self.options
        d_opt = optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="d_opt")
        g_opt = optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="g_opt")
        d_phase = Phase("d_loss", self.d_loss, self.critic_variables(), d_opt)
        g_phase = Phase("g_loss", self.g_loss, self.generator.trainable_variables, g_opt)
        runner = StepRunner(self, [d_phase] * o.critic_steps + [g_phase], o.jit_compile)
        cond_width = max(1, self.cond_dim)

        def conditioned(count):
            """(rows, cond, mask) for ``count`` steps, each (count, batch, ...)."""
            if sampler is not None:
                rows, cond, mask = sampler.sample(count * batch)
            else:
                idx = rng.integers(0, len(x), size=count * batch)
                rows = x[idx]
                cond = onehot[idx] if self.cond_dim else np.zeros((count * batch, 1), "float32")
                mask = np.zeros((count * batch, 1), "float32")
            shape = lambda a: a.reshape(count, batch, *a.shape[1:])  # noqa: E731
            return shape(rows), shape(cond), shape(mask)

        def draw(epoch, first, count):
            inputs = []
            for _ in range(o.critic_steps):
                rows, cond, _ = conditioned(count)
                inputs.append((rows, cond))
            _, cond, mask = conditioned(count)
            return [*inputs, (cond, mask)]

        row_bytes = int(np.prod(x.shape[1:])) + cond_width
        return train_epochs(
            self,
            runner,
            draw,
            epochs=int(epochs),
            steps_per_epoch=max(1, len(x) // batch),
            step_bytes=4 * batch * (o.critic_steps * row_bytes + 2 * cond_width),
            callbacks=list(callbacks),
            max_steps_per_call=o.steps_per_call,
        )

    def _train_private(self, x, epochs, batch_size, learning_rate, callbacks, seed):
        """DP-SGD on the critic (see the module docstring); records ``privacy_spent``."""
        privacy, o = self.dp.privacy, self.options
        n = len(x)
        batch = int(min(batch_size, n))
        steps_per_epoch = max(1, round(n / batch))
        critic_steps = int(epochs) * steps_per_epoch * o.critic_steps
        plan = plan_dp_sgd(privacy, n, batch, critic_steps, self.dp.prior)
        batches = PoissonBatches(n, plan.sampling_rate, plan.steps, seed)
        private = PrivateGradient(
            self.d_row_loss, self._private_rows, plan.max_grad_norm, plan.noise_multiplier, plan.expected_batch_size, self.train_seed
        )
        d_opt = optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="d_opt")
        g_opt = optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="g_opt")
        d_phase = Phase("d_loss", self.d_loss, self.critic_variables(), d_opt, private=private)
        g_phase = Phase("g_loss", self.g_loss, self.generator.trainable_variables, g_opt)
        runner = StepRunner(self, [d_phase] * o.critic_steps + [g_phase], o.jit_compile)
        cap = batches.capacity

        def draw(epoch, first, count):
            steps = np.arange(epoch * steps_per_epoch + first, epoch * steps_per_epoch + first + count)
            inputs = []
            for k in range(o.critic_steps):
                idx, mask = batches.take(steps * o.critic_steps + k)
                inputs.append((mask, x[idx], np.zeros((count, cap, 1), "float32")))
            zeros = np.zeros((count, batch, 1), "float32")
            return [*inputs, (zeros, zeros)]

        row_bytes = int(np.prod(x.shape[1:])) + 2
        history = train_epochs(
            self,
            runner,
            draw,
            epochs=int(epochs),
            steps_per_epoch=steps_per_epoch,
            step_bytes=4 * (cap * o.critic_steps * row_bytes + 2 * batch),
            callbacks=list(callbacks),
            max_steps_per_call=o.steps_per_call,
        )
        self.privacy_spent = spent_record(privacy, plan.epsilon, plan.meta())
        return history

    def _label_inputs(self, x, labels):
        """Grid label one-hots for training (``None`` for tables: their conditions are segments)."""
        if self.is_table or not self.cond_dim:
            if labels is not None:
                raise UsageError("the gan family takes labels on grid data only; a table's conditions are its segments")
            return None
        if labels is None:
            raise DataError("gan: this grid data has labels; pass their codes to train_on(labels=...)")
        return label_one_hot(self.spec, check_label_codes(self.spec, labels, len(x)))

    # --- generation ---------------------------------------------------------------------
    def _sample_fn(self, rows, cond_fixed, use_fixed, fixed_rows, fixed_mask, temperature, conditioned=False):
        """Rows of a batch (tables: (width, batch) columns); ``conditioned``: the masked
        columns of ``fixed_rows`` replace the generated ones. Grids: ``rows`` holds the
        label one-hots to generate for (a placeholder column without labels)."""
        batch = ops.shape(rows)[0]
        noise_dim = self.options.noise_dim
        if not self.is_table:
            z = keras.random.normal((batch, noise_dim), seed=self.sample_seed) * temperature
            if self.cond_dim:
                z = ops.concatenate([z, rows], axis=-1)
            return ops.tanh(self.generator(z, training=False))
        mask, fixed = ops.transpose(fixed_mask), ops.transpose(fixed_rows)

        def piece(start, stop, seed):  # (width, rows) columns of rows start:stop, numbers of its own
            z = ops.transpose(standard_normal(noise_dim, ops.shape(rows[start:stop])[0], seed)) * temperature
            if self.cond_dim:
                cond = self._original_condvec(ops.shape(z)[0], seed)
                z = ops.concatenate([z, cond * (1.0 - use_fixed) + cond_fixed * use_fixed], axis=-1)
            columns = self.layout.columns_from(ops.transpose(self.generator(z, training=False)), seed)
            return columns * (1.0 - mask) + fixed * mask if conditioned else columns

        return in_row_chunks(piece, batch, seed_generator=self.sample_seed)

    def _original_condvec(self, batch, seed):
        """CTGAN's unconditional sampling: a segment uniformly, a category by its frequency."""
        segs = self.cond_segments
        u = keras.random.uniform((batch, 2), seed=seed)
        chosen = ops.minimum(ops.cast(u[:, 0] * len(segs), "int32"), len(segs) - 1)
        blocks, at = [], 0
        for j, s in enumerate(segs):
            freq = self.cond_frequencies[at : at + s.size]
            at += s.size
            cdf = ops.cumsum(freq) / ops.sum(freq)
            idx = ops.minimum(ops.sum(ops.cast(cdf[None, :] < u[:, 1:2], "int32"), axis=-1), s.size - 1)
            on = ops.cast(ops.equal(chosen, j), "float32")[:, None]
            blocks.append(ops.one_hot(idx, s.size, dtype="float32") * on)
        return ops.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The one condition fixed natively: the first given on a segment of the
        conditional vector (tables); an unconditional GAN honours none."""
        if not self.is_table:
            return {}
        checked = self.layout.check_conditions(conditions)
        for name, idx in checked.items():
            if self.layout.seg(name) in self.cond_segments:
                return {name: idx}
        return {}

    def sample(self, n, *, seed, conditions=None, controls=None, batch_size=65536, labels=None):
        """``n`` rows or grids and their label codes (grids with labels: ``labels`` if
        given, else label conditions and training frequencies); identical for an
        identical ``seed`` and batch size."""
        n = int(n)
        temperature = np.float32(self.parse_controls(controls).temperature)
        codes = onehot = None
        if not self.is_table and self.cond_dim:
            codes = draw_labels(self.spec, n, seed, conditions) if labels is None else check_label_codes(self.spec, labels, n)
            onehot = label_one_hot(self.spec, codes)
        if n <= 0:
            return Samples(np.zeros((0, *self.spec.shape), "float32"), codes)
        if not self.is_table:  # conv activations, not the output, bound a grid batch's memory
            batch_size = min(int(batch_size), grid_batch_cap(self.spec.shape, self.options.conv_filters))
        width = self.spec.width if self.is_table else 1
        cond_fixed = np.zeros((1, max(1, self.cond_dim)), "float32")
        use_fixed = np.zeros((1, 1), "float32")
        fixed_rows = np.zeros((1, width), "float32")
        fixed_mask = np.zeros((1, width), "float32")
        for name, idx in self.conditions_honoured(conditions).items():
            seg = self.layout.seg(name)
            fixed_rows[0, seg.start + idx] = 1.0
            fixed_mask[0, seg.start : seg.start + seg.size] = 1.0
            offset = sum(s.size for s in self.cond_segments[: self.cond_segments.index(seg)])
            cond_fixed[0, offset + idx] = 1.0
            use_fixed[0, 0] = 1.0
        conditioned = bool(use_fixed[0, 0])
        key = "sample_conditioned" if conditioned else "sample"
        if key not in self._fns:
            self._fns[key] = backends.StatelessFunction(
                self,
                functools.partial(self._sample_fn, conditioned=conditioned),
                seed_generator=self.sample_seed,
                jit=backends.resolve_jit(self.options.jit_compile),
            )
        fn = self._fns[key]
        cond = cond_fixed[:, : self.cond_dim or 1]

        def rows(a, b):  # a placeholder row per sample, or the grid label one-hots
            return onehot[a:b] if onehot is not None else np.zeros((b - a, 1), "float32")

        x = fill_batches(
            n,
            batch_size,
            self.spec.shape,
            lambda k, a, b: fn(rows(a, b), cond, use_fixed, fixed_rows, fixed_mask, temperature, state=seed_state(seed, k)),
            transposed=self.is_table,
        )
        return Samples(x, codes)

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=65536):
        """The arrays of ``sample``."""
        return self.sample(n, seed=seed, conditions=conditions, controls=controls, batch_size=batch_size).x


class _BatchSampler:
    """CTGAN training-by-sampling: condition vectors and real rows that match them."""

    def __init__(self, x: np.ndarray, model: GAN, rng: np.random.Generator):
        self.x, self.rng = x, rng
        self.segs = model.cond_segments
        self.width = model.cond_dim
        self.offsets = np.cumsum([0] + [s.size for s in self.segs])[:-1]
        max_size = max(s.size for s in self.segs)
        self.log_cdf = np.ones((len(self.segs), max_size))
        self.orders, self.starts, self.counts = [], [], []
        for j, s in enumerate(self.segs):
            cats = x[:, s.start : s.start + s.size].argmax(axis=1)
            counts = np.bincount(cats, minlength=s.size)
            p = np.log1p(counts)
            self.log_cdf[j, : s.size] = np.cumsum(p / p.sum())
            order = np.argsort(cats, kind="stable")
            self.orders.append(order)
            self.starts.append(np.concatenate([[0], np.cumsum(counts)[:-1]]))
            self.counts.append(counts)

    def sample(self, batch: int):
        rng = self.rng
        seg = rng.integers(0, len(self.segs), size=batch)
        u = rng.random(batch)
        cat = (self.log_cdf[seg] < u[:, None]).sum(axis=1)
        cond = np.zeros((batch, self.width), "float32")
        cond[np.arange(batch), self.offsets[seg] + cat] = 1.0
        mask = np.zeros((batch, len(self.segs)), "float32")
        mask[np.arange(batch), seg] = 1.0
        rows = np.empty(batch, dtype=np.int64)
        v = rng.random(batch)
        for j in range(len(self.segs)):
            sel = seg == j
            if not sel.any():
                continue
            c = cat[sel]
            counts = self.counts[j][c]
            pick = self.starts[j][c] + np.minimum((v[sel] * counts).astype(np.int64), np.maximum(counts - 1, 0))
            rows[sel] = self.orders[j][pick]
        return self.x[rows], cond, mask


class GANFamily(ModelFamily):
    """Builds ``GAN`` models."""

    name = "gan"
    description = "CTGAN-style conditional WGAN-GP for tables, DCGAN-style for grids"
    layouts = ("table", "grid")
    label_layouts = ("grid",)  # a table's conditions are its own categorical segments (CTGAN's vector)
    Options = GANOptions
    default_learning_rate = 2e-4  # CTGAN's; measured: 1e-3 lowers the breast-cancer quality score by ~0.07

    model_class = GAN


family = GANFamily()
