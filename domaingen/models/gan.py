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

Grids use a transposed-conv generator (tanh output) and a strided-conv critic.

Training needs two optimisers and a gradient penalty, so it does not go through
``Model.fit``: ``make_train_steps`` returns one small pair of compiled steps per backend
(TensorFlow ``GradientTape``, JAX ``jax.value_and_grad`` over a ``StatelessScope``,
PyTorch autograd) driven by one loop that calls the core's Keras callbacks.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from .._quiet import keras_module
from ..errors import DataError, UsageError
from ..plugin import StrictModel
from ..spec import DataSpec
from ._backend import StatelessFunction, backend_name, batched, resolve_jit, seed_state, to_numpy
from ._options import SpecModel, as_options
from ._table import TableLayout, check_table_data
from .base import ModelFamily
from .layers import conv_decoder, conv_encoder, dense_network, grid_channels
from .likelihoods import categorical_nll

__all__ = ["GANOptions", "GAN", "GANFamily", "family", "make_train_steps"]

keras = keras_module()
ops = keras.ops


class GANOptions(StrictModel):
    """Recipe ``model.options`` of the ``gan`` family (None = layout default)."""

    noise_dim: int = Field(128, ge=1, description="size of the generator's noise input")
    generator_hidden: list[int] = Field(default_factory=lambda: [256, 256], description="table: residual generator widths")
    discriminator_hidden: list[int] = Field(default_factory=lambda: [256, 256], description="table: critic widths")
    conv_filters: list[int] = Field(default_factory=lambda: [32, 64], description="grid: critic conv filters (generator mirrors them)")
    loss: Literal["wgan-gp", "standard"] | None = Field(None, description="None: wgan-gp for tables, standard for grids")
    gp_weight: float = Field(10.0, ge=0.0, description="gradient-penalty weight (wgan-gp)")
    pac: int | None = Field(None, ge=1, description="PacGAN pack size; None: 10 for tables, 1 for grids")
    critic_steps: int = Field(1, ge=1, description="critic updates per generator update")
    conditional: bool = Field(True, description="table: CTGAN conditional vector over categorical segments")
    tau: float = Field(0.2, gt=0.0, description="Gumbel-softmax temperature during training")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="table critic dropout")
    beta_1: float = Field(0.5, ge=0.0, lt=1.0)
    beta_2: float = Field(0.9, ge=0.0, lt=1.0)
    jit_compile: bool | None = Field(None, description="XLA on TensorFlow (JAX always compiles); None = off")


@keras.saving.register_keras_serializable(package="domaingen")
class GAN(SpecModel, keras.Model):
    """CTGAN-style table GAN or DCGAN-style grid GAN; see the module docstring."""

    options_class = GANOptions
    layouts = ("table", "grid")
    family = "gan"


    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        o = self.options
        self.is_table = self.spec.layout == "table"
        self.loss_kind = o.loss or ("wgan-gp" if self.is_table else "standard")
        self.pac = int(o.pac or (10 if self.is_table else 1))
        if self.is_table:
            self.layout = TableLayout(self.spec)
            self.cond_dim = self.layout.cat_width if (o.conditional and self.layout.categorical) else 0
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
            self.cond_dim = 0
            h, w, c = grid_channels(self.spec.shape)
            self.generator = conv_decoder(o.noise_dim, self.spec.shape, o.conv_filters[::-1], name="generator")
            self.discriminator = conv_encoder((h, w, c * self.pac), o.conv_filters, 1, name="discriminator")
        n_cat = self.layout.cat_width if self.is_table else 0
        self.cat_frequencies = self.add_weight(
            name="cat_frequencies", shape=(max(1, n_cat),), initializer="ones", trainable=False
        )
        self.train_seed = keras.random.SeedGenerator(self.seed, name="train_seed")
        self.sample_seed = keras.random.SeedGenerator(self.seed + 1, name="sample_seed")
        self.built = True
        self._fns: dict[str, StatelessFunction] = {}

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
        return ops.concatenate([x, cond], axis=-1) if self.cond_dim else x

    def _pack(self, x):
        if self.is_table:
            return ops.reshape(x, (-1, self.pac * ops.shape(x)[-1]))
        h, w, c = grid_channels(self.spec.shape)
        x = ops.reshape(x, (-1, self.pac, h, w, c))
        return ops.reshape(ops.transpose(x, (0, 2, 3, 1, 4)), (-1, h, w, self.pac * c))

    def _critic(self, inputs, training):
        return self.discriminator(self._pack(inputs), training=training)

    def d_loss(self, real, cond):
        """Critic loss on one batch (``real`` rows with their condition vectors)."""
        batch = ops.shape(real)[0]
        _, fake = self._fake(cond, batch, training=True)
        fake = ops.stop_gradient(fake)
        real_in, fake_in = self._critic_input(real, cond), self._critic_input(fake, cond)
        d_real = self._critic(real_in, training=True)
        d_fake = self._critic(fake_in, training=True)
        if self.loss_kind == "standard":
            return ops.mean(ops.softplus(-d_real)) + ops.mean(ops.softplus(d_fake))
        loss = ops.mean(d_fake) - ops.mean(d_real)
        if self.options.gp_weight > 0:
            packs = batch // self.pac
            alpha = keras.random.uniform((packs, 1, 1), seed=self.train_seed)
            shape = ops.shape(real_in)
            r = ops.reshape(real_in, (packs, self.pac, -1))
            f = ops.reshape(fake_in, (packs, self.pac, -1))
            mixed = ops.reshape(alpha * r + (1.0 - alpha) * f, shape)
            grad = input_gradient(lambda a: self._critic(a, training=False), mixed)
            norms = ops.sqrt(ops.sum(ops.square(ops.reshape(grad, (packs, -1))), axis=-1) + 1e-12)
            loss = loss + self.options.gp_weight * ops.mean(ops.square(norms - 1.0))
        return loss

    def g_loss(self, cond, mask, batch):
        """Generator loss: adversarial term plus the conditional cross-entropy penalty."""
        out, fake = self._fake(cond, batch, training=True)
        d_fake = self._critic(self._critic_input(fake, cond), training=True)
        if self.loss_kind == "standard":
            loss = ops.mean(ops.softplus(-d_fake))
        else:
            loss = -ops.mean(d_fake)
        if self.cond_dim:
            ce, at = 0.0, 0
            for j, s in enumerate(self.layout.categorical):
                c = cond[:, at : at + s.size]
                at += s.size
                ce = ce + categorical_nll(c, out[:, s.start : s.start + s.size]) * mask[:, j]
            loss = loss + ops.mean(ce)
        return loss

    # --- training -----------------------------------------------------------------------
    def _check_data(self, x):
        if self.is_table:
            return check_table_data(x, self.spec, "gan")
        x = np.asarray(x, dtype="float32")
        if x.shape[1:] != self.spec.shape or len(x) == 0:
            raise DataError(f"gan: expected grid arrays of shape (n, {', '.join(map(str, self.spec.shape))}), got {x.shape}")
        return x

    def train_on(self, x, *, epochs, batch_size, learning_rate, callbacks=(), validation_split=0.0, seed=0):
        """Adversarial training; ``validation_split`` is ignored (GAN losses do not measure
        fit on held-out rows). History keys: ``loss`` (= critic loss), ``d_loss``, ``g_loss``."""
        x = self._check_data(x)
        rng = np.random.default_rng(int(seed))
        keras.utils.set_random_seed(int(seed))
        sampler = _BatchSampler(x, self, rng) if self.cond_dim else None
        if self.is_table and self.layout.categorical:
            self.cat_frequencies.assign(self.layout.category_frequencies(x, self.layout.categorical))
        batch = max(self.pac, (min(int(batch_size), len(x)) // self.pac) * self.pac)
        if batch > len(x):
            raise DataError(f"gan: {len(x)} training rows are fewer than one PacGAN pack of {self.pac}; lower model.options.pac")
        steps_per_epoch = max(1, len(x) // batch)
        steps = make_train_steps(self, float(learning_rate), resolve_jit(self.options.jit_compile))
        cbs = keras.callbacks.CallbackList(
            list(callbacks), add_history=True, model=self, epochs=int(epochs), steps=steps_per_epoch, verbose=0
        )
        self.stop_training = False
        cbs.on_train_begin()
        logs: dict[str, float] = {}
        for epoch in range(int(epochs)):
            cbs.on_epoch_begin(epoch)
            order = rng.permutation(len(x))
            d_sum, g_sum = [], []
            for step in range(steps_per_epoch):
                cbs.on_train_batch_begin(step)
                for _ in range(self.options.critic_steps):
                    if sampler is not None:
                        real, cond, mask = sampler.sample(batch)
                    else:
                        idx = order[step * batch : (step + 1) * batch]
                        if len(idx) < batch:
                            idx = rng.integers(0, len(x), size=batch)
                        real, cond, mask = x[idx], _EMPTY, _EMPTY
                    d_sum.append(steps.d_step(real, cond))
                if sampler is not None:
                    _, cond, mask = sampler.sample(batch)
                g_sum.append(steps.g_step(cond, mask, batch))
                cbs.on_train_batch_end(step, {})
            steps.sync()
            d_mean = float(np.mean([float(to_numpy(v)) for v in d_sum]))
            g_mean = float(np.mean([float(to_numpy(v)) for v in g_sum]))
            logs = {"loss": d_mean, "d_loss": d_mean, "g_loss": g_mean}
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end(logs)
        return {k: [float(v) for v in vals] for k, vals in self.history.history.items()}

    # --- generation ---------------------------------------------------------------------
    def _sample_fn(self, rows, cond_fixed, use_fixed, fixed_rows, fixed_mask):
        batch = ops.shape(rows)[0]
        z = keras.random.normal((batch, self.options.noise_dim), seed=self.sample_seed)
        if not self.is_table:
            return ops.tanh(self.generator(z, training=False))
        if self.cond_dim:
            cond = self._original_condvec(batch)
            cond = cond * (1.0 - use_fixed) + cond_fixed * use_fixed
            z = ops.concatenate([z, cond], axis=-1)
        out = self.generator(z, training=False)
        sampled = self.layout.sample(out, self.sample_seed)
        return sampled * (1.0 - fixed_mask) + fixed_rows * fixed_mask

    def _original_condvec(self, batch):
        """CTGAN's unconditional sampling: a segment uniformly, a category by its frequency."""
        segs = self.layout.categorical
        u = keras.random.uniform((batch, 2), seed=self.sample_seed)
        chosen = ops.minimum(ops.cast(u[:, 0] * len(segs), "int32"), len(segs) - 1)
        blocks, at = [], 0
        for j, s in enumerate(segs):
            freq = self.cat_frequencies[at : at + s.size]
            at += s.size
            cdf = ops.cumsum(freq) / ops.sum(freq)
            idx = ops.minimum(ops.sum(ops.cast(cdf[None, :] < u[:, 1:2], "int32"), axis=-1), s.size - 1)
            on = ops.cast(ops.equal(chosen, j), "float32")[:, None]
            blocks.append(ops.one_hot(idx, s.size, dtype="float32") * on)
        return ops.concatenate(blocks, axis=-1) if len(blocks) > 1 else blocks[0]

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The one condition fixed natively: the first categorical one given (tables)."""
        if not self.is_table:
            return {}
        checked = self.layout.check_conditions(conditions)
        for name, idx in checked.items():
            if self.layout.seg(name).kind == "categorical":
                return {name: idx}
        return {}

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=65536):
        """``n`` rows or grids; identical for an identical ``seed`` and batch size."""
        n = int(n)
        if n <= 0:
            return np.zeros((0, *self.spec.shape), "float32")
        width = self.spec.width if self.is_table else 1
        cond_fixed = np.zeros((1, max(1, self.cond_dim)), "float32")
        use_fixed = np.zeros((1, 1), "float32")
        fixed_rows = np.zeros((1, width), "float32")
        fixed_mask = np.zeros((1, width), "float32")
        for name, idx in self.conditions_honoured(conditions).items():
            seg = self.layout.seg(name)
            fixed_rows[0, seg.start + idx] = 1.0
            fixed_mask[0, seg.start : seg.start + seg.size] = 1.0
            if self.cond_dim:
                offset = sum(s.size for s in self.layout.categorical[: self.layout.categorical.index(seg)])
                cond_fixed[0, offset + idx] = 1.0
                use_fixed[0, 0] = 1.0
        if "sample" not in self._fns:
            self._fns["sample"] = StatelessFunction(
                self, self._sample_fn, seed_generator=self.sample_seed, jit=resolve_jit(self.options.jit_compile)
            )
        fn = self._fns["sample"]
        out = []
        for k, (a, b) in enumerate(batched(n, batch_size)):
            rows = np.zeros((b - a,), "float32")
            out.append(to_numpy(fn(rows, cond_fixed[:, : self.cond_dim or 1], use_fixed, fixed_rows, fixed_mask, state=seed_state(seed, k))))
        return np.concatenate(out, axis=0)



_EMPTY = np.zeros((1, 1), "float32")


class _BatchSampler:
    """CTGAN training-by-sampling: condition vectors and real rows that match them."""

    def __init__(self, x: np.ndarray, model: GAN, rng: np.random.Generator):
        self.x, self.rng = x, rng
        self.segs = model.layout.categorical
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


# --- gradient of the critic with respect to its input, per backend ---------------------------
def input_gradient(fn, inputs):
    """d sum(fn(inputs)) / d inputs, differentiable again (for the gradient penalty)."""
    backend = backend_name()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = ops.sum(fn(inputs))
        return tape.gradient(out, inputs)
    if backend == "jax":
        import jax

        return jax.grad(lambda a: ops.sum(fn(a)))(inputs)
    if backend == "torch":
        import torch

        leaf = inputs.detach().requires_grad_(True)
        out = ops.sum(fn(leaf))
        return torch.autograd.grad(out, leaf, create_graph=True)[0]
    raise UsageError(f"the gan family cannot train on the {backend!r} backend; use tensorflow, jax or torch")


# --- one train-step pair per backend, behind one dispatch --------------------------------------
def make_train_steps(model: GAN, learning_rate: float, jit: bool):
    """``d_step(real, cond) -> loss`` and ``g_step(cond, mask, batch) -> loss`` for the active
    backend, plus ``sync()`` that writes any functional state back into the variables."""
    backend = backend_name()
    cls = {"tensorflow": _TFSteps, "jax": _JaxSteps, "torch": _TorchSteps}.get(backend)
    if cls is None:
        raise UsageError(f"the gan family cannot train on the {backend!r} backend; use tensorflow, jax or torch")
    return cls(model, learning_rate, jit)


class _Steps:
    def __init__(self, model: GAN, learning_rate: float, jit: bool):
        o = model.options
        self.model = model
        self.d_vars = list(model.discriminator.trainable_variables)
        self.g_vars = list(model.generator.trainable_variables)
        self.d_opt = keras.optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="d_opt")
        self.g_opt = keras.optimizers.Adam(learning_rate, beta_1=o.beta_1, beta_2=o.beta_2, name="g_opt")
        self.d_opt.build(self.d_vars)
        self.g_opt.build(self.g_vars)

    def sync(self) -> None:
        """Nothing to do where variables are updated in place."""


class _TFSteps(_Steps):
    """TensorFlow: ``tf.GradientTape`` inside ``tf.function``; variables updated in place."""

    def __init__(self, model, learning_rate, jit):
        super().__init__(model, learning_rate, jit)
        import tensorflow as tf

        self._tf = tf
        self.d_step_fn = tf.function(self._d, jit_compile=jit, reduce_retracing=True)
        self.g_step_fn = tf.function(self._g, jit_compile=jit, reduce_retracing=True)

    def _d(self, real, cond):
        with self._tf.GradientTape() as tape:
            loss = self.model.d_loss(real, cond)
        self.d_opt.apply(tape.gradient(loss, self.d_vars), self.d_vars)
        return loss

    def _g(self, cond, mask, batch):
        with self._tf.GradientTape() as tape:
            loss = self.model.g_loss(cond, mask, batch)
        self.g_opt.apply(tape.gradient(loss, self.g_vars), self.g_vars)
        return loss

    def d_step(self, real, cond):
        return self.d_step_fn(real, cond)

    def g_step(self, cond, mask, batch):
        return self.g_step_fn(cond, mask, batch)


class _JaxSteps(_Steps):
    """JAX: pure steps over explicit state, ``jax.value_and_grad`` + ``stateless_apply``."""

    def __init__(self, model, learning_rate, jit):
        super().__init__(model, learning_rate, jit)
        import jax

        trainable = {id(v) for v in self.d_vars + self.g_vars}
        self.nt_vars = [v for v in model.variables if id(v) not in trainable]
        self.state = (
            [v.value for v in self.d_vars],
            [v.value for v in self.g_vars],
            [v.value for v in self.nt_vars],
            [v.value for v in self.d_opt.variables],
            [v.value for v in self.g_opt.variables],
        )
        self._d = jax.jit(self._d_pure)
        self._g = jax.jit(self._g_pure, static_argnums=3)
        self._jax = jax

    def _loss(self, fn, d_tv, g_tv, nt):
        mapping = list(zip(self.d_vars, d_tv)) + list(zip(self.g_vars, g_tv)) + list(zip(self.nt_vars, nt))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            loss = fn()
        new_nt = [scope.get_current_value(v) for v in self.nt_vars]
        return loss, [old if new is None else new for old, new in zip(nt, new_nt)]

    def _d_pure(self, state, real, cond):
        d_tv, g_tv, nt, d_ov, g_ov = state
        grad_fn = self._jax.value_and_grad(
            lambda p: self._loss(lambda: self.model.d_loss(real, cond), p, g_tv, nt), has_aux=True
        )
        (loss, nt), grads = grad_fn(d_tv)
        d_tv, d_ov = self.d_opt.stateless_apply(d_ov, grads, d_tv)
        return loss, (d_tv, g_tv, nt, d_ov, g_ov)

    def _g_pure(self, state, cond, mask, batch):
        d_tv, g_tv, nt, d_ov, g_ov = state
        grad_fn = self._jax.value_and_grad(
            lambda p: self._loss(lambda: self.model.g_loss(cond, mask, batch), d_tv, p, nt), has_aux=True
        )
        (loss, nt), grads = grad_fn(g_tv)
        g_tv, g_ov = self.g_opt.stateless_apply(g_ov, grads, g_tv)
        return loss, (d_tv, g_tv, nt, d_ov, g_ov)

    def d_step(self, real, cond):
        loss, self.state = self._d(self.state, real, cond)
        return loss

    def g_step(self, cond, mask, batch):
        loss, self.state = self._g(self.state, cond, mask, int(batch))
        return loss

    def sync(self):
        d_tv, g_tv, nt, d_ov, g_ov = self.state
        for variables, values in (
            (self.d_vars, d_tv),
            (self.g_vars, g_tv),
            (self.nt_vars, nt),
            (self.d_opt.variables, d_ov),
            (self.g_opt.variables, g_ov),
        ):
            for var, value in zip(variables, values):
                var.assign(value)


class _TorchSteps(_Steps):
    """PyTorch: eager forward, ``loss.backward()``, then ``optimizer.apply`` under
    ``torch.no_grad()``, the pattern of Keras' own torch trainer."""

    def _step(self, loss_fn, variables, optimizer):
        import torch

        for v in self.d_vars + self.g_vars:
            v.value.grad = None
        loss = loss_fn()
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        return loss.detach()

    def d_step(self, real, cond):
        real, cond = ops.convert_to_tensor(real), ops.convert_to_tensor(cond)
        return self._step(lambda: self.model.d_loss(real, cond), self.d_vars, self.d_opt)

    def g_step(self, cond, mask, batch):
        cond, mask = ops.convert_to_tensor(cond), ops.convert_to_tensor(mask)
        return self._step(lambda: self.model.g_loss(cond, mask, batch), self.g_vars, self.g_opt)


class GANFamily(ModelFamily):
    """Builds ``GAN`` models."""

    name = "gan"
    description = "CTGAN-style conditional WGAN-GP for tables, DCGAN-style for grids"
    layouts = ("table", "grid")
    Options = GANOptions

    def build(self, spec: DataSpec, options: BaseModel | dict | None, seed: int) -> GAN:
        opts = as_options(options, GANOptions)
        if spec.layout not in self.layouts:
            raise UsageError(f"the gan family takes {' or '.join(self.layouts)} data, not {spec.layout!r}; choose another family")
        keras.utils.set_random_seed(int(seed))
        return GAN(spec.to_json(), opts.model_dump(), int(seed), name="gan")


family = GANFamily()
