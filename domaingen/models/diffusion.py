"""Denoising-diffusion family (``diffusion``) for ``table`` and ``grid`` DataSpecs.

Training is DDPM's (Ho et al. 2020) with the cosine noise schedule of Nichol & Dhariwal
(2021): a row or image ``x0`` is noised to ``x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε`` at a uniformly
drawn step ``t`` of ``timesteps``, and the denoiser learns to predict ``ε`` (``prediction:
epsilon``) or ``v = √ᾱ_t ε - √(1-ᾱ_t) x0`` (``prediction: v``, Salimans & Ho 2022) by mean
squared error. Sampling is DDIM (Song et al. 2021) over ``steps`` evenly spaced steps with
noise level ``eta`` (0: deterministic), and classifier-free guidance (Ho & Salimans 2022):
the condition is replaced by a learned null condition for ``label_dropout`` of the
training rows, and sampling mixes ``(1 + w) pred(x, c) - w pred(x, ∅)``.

Grids (values in [-1, 1], the images codec's range) use a small U-Net
(``denoisers.grid_unet``) conditioned on the labels' one-hots. Tables use a residual MLP
(``denoisers.table_mlp``): continuous columns are diffused as the codec encodes them;
categorical and binary columns as their one-hot / 0-1 values mapped to ±1, decoded by
argmax / sign (Gaussian diffusion on one-hots). ``condition_on`` segments are the table's
conditions: their one-hots condition the denoiser (with guidance), conditioned values are
fixed exactly and unfixed ones drawn from the training frequencies, as in the VAE.

Two samplers compute the same thing: ``sampler="loop"``, the reference, is a Python loop
over the DDIM steps calling one compiled step; ``sampler="fused"`` (default) runs every
step in one compiled ``fori_loop`` per piece of the batch. The noise (``x_T`` and, with
``eta > 0``, each step's noise) is drawn first by one compiled draw seeded per batch, so
both samplers see the same numbers and a seed gives the same samples.
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
from . import backends, optimizers
from ._distillation import train_student
from ._sampling import batched, fill_batches, in_row_chunks, seed_state, to_numpy
from ._labels import check_label_codes, draw_labels, label_one_hot
from ._loop import MAX_STEPS_PER_CALL, Phase, StepRunner, epoch_indices, train_epochs
from ._options import SpecModel
from ._table import TableLayout, check_training_data
from .base import ModelFamily, Samples, check_condition_on
from .denoisers import TableMLPByCondition, grid_unet, table_mlp
from .layers import grid_batch_cap

__all__ = [
    "DiffusionOptions",
    "DiffusionControls",
    "Diffusion",
    "DiffusionFamily",
    "family",
    "cosine_alpha_bar",
    "ddim_schedule",
    "default_channels",
    "guided_span",
]

keras = keras_module()
ops = keras.ops

MAX_STEPS = 1000  # DDIM steps a sampling call may take
NOISE_BUDGET = 256 * 2**20  # bytes of per-step noise (eta > 0) held for one batch
FUSED_PIECES = 4  # most pieces of a fused sampling call on a CPU (each traces its own loop)
MAX_DISTINCT_CONDITIONS = 1024  # more distinct table conditions in a batch: embeddings per row


def default_channels(shape) -> list[int]:
    """The U-Net's channels per resolution when ``channels`` is not given, scaled with the
    image size: ``[16, 32]`` up to 8×8 (measured: 4× fewer multiply-adds than ``[32, 64]``,
    for sampling near 500 images/s on 2 cores at 20 steps), ``[32, 64]`` up to 32×32,
    ``[32, 64, 128]`` above (one more halving)."""
    side = min(int(shape[0]), int(shape[1]))
    if side <= 8:
        return [16, 32]
    return [32, 64] if side <= 32 else [32, 64, 128]


def cosine_alpha_bar(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """ᾱ_t for t = 0..T-1 (Nichol & Dhariwal 2021): ``f(t) = cos²((t/T + s)/(1 + s) · π/2)``,
    ``β_t = min(1 - f(t+1)/f(t), max_beta)``, ``ᾱ_t = Π_{u≤t} (1 - β_u)`` (float64)."""
    steps = np.arange(timesteps + 1, dtype="float64") / timesteps
    f = np.cos((steps + s) / (1.0 + s) * math.pi / 2.0) ** 2
    betas = np.minimum(1.0 - f[1:] / f[:-1], max_beta)
    return np.cumprod(1.0 - betas)


def ddim_schedule(alpha_bar: np.ndarray, steps: int, eta: float) -> dict[str, np.ndarray]:
    """The DDIM steps as float32 arrays of length ``steps`` (from noise to data): the time
    fraction ``t / T``, ᾱ at the step, ᾱ at the next one (1 after the last) and the noise
    level ``σ = η √((1-ᾱ_prev)/(1-ᾱ)) √(1 - ᾱ/ᾱ_prev)``."""
    T = len(alpha_bar)
    taus = np.unique(np.round(np.linspace(0, T - 1, int(steps))).astype("int64"))[::-1]
    ab = alpha_bar[taus]
    ab_prev = np.concatenate([alpha_bar[taus[1:]], [1.0]])
    sigma = float(eta) * np.sqrt((1.0 - ab_prev) / (1.0 - ab)) * np.sqrt(np.maximum(1.0 - ab / ab_prev, 0.0))
    f32 = lambda a: np.asarray(a, "float32")  # noqa: E731
    return {"t": f32(taus / T), "ab": f32(ab), "ab_prev": f32(ab_prev), "sigma": f32(sigma)}


def guided_span(schedule: dict[str, np.ndarray], interval: tuple[float, float] | None) -> tuple[int, int]:
    """The steps ``[first, stop)`` of a DDIM ``schedule`` whose noise level
    ``σ = √((1-ᾱ)/ᾱ)`` lies in ``interval = (low, high]`` (every step for None). σ falls
    from step to step, so the guided steps are one contiguous run: guidance limited to the
    middle noise levels (Kynkäänniemi et al. 2024) keeps the noisiest steps from narrowing
    each class and spares the second pass where guidance changes little."""
    steps = len(schedule["ab"])
    if interval is None:
        return 0, steps
    low, high = (float(v) for v in interval)
    ab = schedule["ab"].astype("float64")
    sigma = np.sqrt((1.0 - ab) / ab)
    inside = np.flatnonzero((sigma > low) & (sigma <= high))
    return (int(inside[0]), int(inside[-1]) + 1) if len(inside) else (0, 0)


def check_interval(interval: tuple[float, float] | None, what: str) -> None:
    """A guidance interval must be two noise levels ``0 <= low < high``."""
    if interval is not None and not (0.0 <= interval[0] < interval[1]):
        raise UsageError(f"{what}: guidance_interval must be [low, high] with 0 <= low < high (noise levels σ), got {list(interval)}")


class DiffusionOptions(StrictModel):
    """Recipe ``model.options`` of the ``diffusion`` family."""

    prediction: Literal["epsilon", "v"] = Field("epsilon", description="what the denoiser predicts: the noise or v")
    timesteps: int = Field(1000, ge=10, le=10000, description="diffusion steps T of the cosine schedule")
    label_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="share of training rows given the null condition (guidance)")
    guidance: float = Field(1.0, ge=0.0, le=20.0, description="default guidance scale w when the control is not given")
    guidance_interval: tuple[float, float] | None = Field(
        None, description="default noise levels (low, high] of σ = √((1-ᾱ)/ᾱ) at which guidance is applied "
        "(Kynkäänniemi et al. 2024); the other steps take one conditional pass; None: every step",
    )
    steps: int = Field(20, ge=1, le=MAX_STEPS, description="default DDIM steps when the control is not given")
    eta: float = Field(0.0, ge=0.0, le=1.0, description="default DDIM noise level (0: deterministic)")
    channels: list[int] | None = Field(
        None, description="grid: U-Net channels per resolution; None: scaled with the image size (default_channels)"
    )
    blocks: int = Field(1, ge=1, le=4, description="grid: residual blocks per resolution and direction")
    attention: bool = Field(True, description="grid: self-attention at the lowest resolution")
    hidden: int = Field(128, ge=8, description="table: MLP width (each block's inner layer is twice as wide)")
    depth: int = Field(2, ge=1, le=12, description="table: residual blocks")
    embedding_dim: int = Field(128, ge=2, description="time / condition embedding size (even)")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout inside the residual blocks")
    categorical: Literal["gaussian", "multinomial"] = Field(
        "gaussian",
        description="table: categorical segments diffused as Gaussian noise on their ±1 one-hots (argmax decoding), "
        "or by multinomial diffusion (TabDDPM: categories resampled towards uniform; the denoiser predicts x0's logits)",
    )
    condition_on: list[str] = Field(default_factory=list, description="table: categorical/binary segments to condition on")
    ema: float | None = Field(
        None, ge=0.0, lt=1.0,
        description="momentum of the exponential moving average of the weights kept for sampling; "
        "None: 1 - 10 / training steps (at most 0.999; off below 100 steps); 0: off",
    )
    distill: bool = Field(
        False, description="after training, distil the deterministic sampler at the default steps and guidance "
        "into a one-step student network (sampling then takes one pass; control distilled)",
    )
    distill_samples: int = Field(10000, ge=256, le=1_000_000, description="teacher samples the student is fitted to")
    distill_epochs: int = Field(15, ge=1, le=10000, description="epochs over the teacher samples")
    distill_batch_size: int = Field(1024, ge=1, le=65536, description="teacher samples per student step")
    jit_compile: bool | None = Field(
        None, description="XLA on TensorFlow (JAX always compiles); None: off for training, on for sampling on an accelerator"
    )
    steps_per_call: int = Field(MAX_STEPS_PER_CALL, ge=1, description="most training batches per compiled call")

    def ema_momentum(self, total_steps: int) -> float:
        """The EMA momentum for a fit of ``total_steps`` optimiser steps (0: no EMA)."""
        if self.ema is not None:
            return float(self.ema)
        return 0.0 if total_steps < 100 else min(0.999, 1.0 - 10.0 / total_steps)


class DiffusionControls(StrictModel):
    """Sampling controls of the ``diffusion`` family (None: the model's option)."""

    steps: int | None = Field(None, ge=1, le=MAX_STEPS, description="DDIM steps (10-100 typical)")
    eta: float | None = Field(None, ge=0.0, le=1.0, description="DDIM noise level: 0 deterministic, 1 DDPM-like")
    guidance: float | None = Field(None, ge=0.0, le=20.0, description="classifier-free guidance scale w (0: plain conditional)")
    guidance_interval: tuple[float, float] | None = Field(
        None, description="noise levels (low, high] of σ where guidance applies (None: the model's option)"
    )
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="standard deviation of the starting noise")
    distilled: bool | None = Field(
        None, description="sample with the distilled one-step student; None: when the model has one and no "
        "steps, eta, guidance or guidance_interval is given",
    )


@keras.saving.register_keras_serializable(package="domaingen")
class Diffusion(SpecModel, keras.Model):
    """A (conditional) denoising-diffusion model for a ``table`` or ``grid`` DataSpec."""

    options_class = DiffusionOptions
    layouts = ("table", "grid")
    family = "diffusion"
    Controls = DiffusionControls

    def __init__(self, spec: dict, options: dict | None = None, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self._init_state(spec, options, seed)
        o = self.options
        self.is_table = self.spec.layout == "table"
        shape = self.spec.shape
        if self.is_table:
            self.layout = TableLayout(self.spec)
            self.cond_segments = [self.layout.seg(n) for n in o.condition_on]
            self.cond_columns = np.asarray(
                [c for s in self.cond_segments for c in range(s.start, s.start + s.size)], "int32"
            )
            self.cond_dim = len(self.cond_columns)
            discrete = np.zeros(self.spec.width, bool)
            for s in self.layout.discrete:
                discrete[s.start : s.start + s.size] = True
            self.discrete_mask = discrete
            self.multinomial = o.categorical == "multinomial" and bool(self.layout.categorical)
            self.cat_segments = [(s.start, s.start + s.size) for s in self.layout.categorical] if self.multinomial else []
            self.cat_mask = np.zeros(self.spec.width, bool)
            for a, b in self.cat_segments:
                self.cat_mask[a:b] = True
            self.denoiser = self._network("denoiser")
        else:
            self.layout = None
            self.cond_segments = []
            self.multinomial, self.cat_segments = False, []
            self.cond_dim = self.spec.label_width
            self.channels = list(o.channels) if o.channels else default_channels(shape)
            self.denoiser = self._network("denoiser")
        self.by_condition = TableMLPByCondition(self.denoiser) if self.is_table else None
        self.student = self._network("student") if o.distill else None  # the one-step sampler
        self.student_by_condition = TableMLPByCondition(self.student) if self.is_table and o.distill else None
        self.alpha_bar = cosine_alpha_bar(o.timesteps)
        self.freq_dim = sum(TableLayout.frequency_width(s) for s in self.cond_segments)
        self.cond_frequencies = self.add_weight(
            name="cond_frequencies", shape=(max(1, self.freq_dim),), initializer="ones", trainable=False
        )
        # x̂0 is clipped to the range of the training data (per column on tables): at the
        # noisiest steps √ᾱ is ~1e-4 and an unclipped estimate is dominated by the error
        ranges = self.spec.width if self.is_table else 1
        self.clip_low = self.add_weight(name="clip_low", shape=(ranges,), initializer="zeros", trainable=False)
        self.clip_high = self.add_weight(name="clip_high", shape=(ranges,), initializer="zeros", trainable=False)
        self.train_seed = keras.random.SeedGenerator(self.seed, name="train_seed")
        self.sample_seed = keras.random.SeedGenerator(self.seed + 1, name="sample_seed")
        self.val_seed = keras.random.SeedGenerator(self.seed + 2, name="val_seed")
        self.built = True
        self._fns: dict[tuple, Any] = {}

    def _network(self, name: str):
        """A denoising network for the layout: the table MLP or the grid U-Net."""
        o = self.options
        if self.is_table:
            return table_mlp(self.spec.width, self.cond_dim + 1, o.hidden, o.depth,
                             embedding_dim=o.embedding_dim, dropout=o.dropout, name=name)
        return grid_unet(self.spec.shape, self.cond_dim + 1, self.channels, blocks=o.blocks, attention=o.attention,
                         embedding_dim=o.embedding_dim, dropout=o.dropout, name=name)

    # --- the diffusion space ------------------------------------------------------------
    def to_space(self, x: np.ndarray) -> np.ndarray:
        """Encoded rows/grids as diffused: table one-hot and binary columns mapped to ±1
        (multinomial categorical columns stay 0/1 one-hots)."""
        if not self.is_table:
            return x
        return np.where(self.discrete_mask & ~self.cat_mask, 2.0 * x - 1.0, x).astype("float32")

    # --- multinomial diffusion of categorical segments (categorical: multinomial) --------
    # q(x_t | x_0) = Cat(ᾱ_t x_0 + (1 - ᾱ_t) / K) (Hoogeboom et al. 2021, as in TabDDPM).
    # The denoiser's logits give p̂(x0 | x_t) (trained by cross-entropy); a step from t to
    # s < t draws x_s from Σ_i p̂(x0 = i | x_t) q(x_s | x_t, x0 = i) (D3PM's x0-parameterised
    # reverse step, Austin et al. 2021), which is, with ᾱ_{t|s} = ᾱ_t / ᾱ_s and
    # r_i = p̂(i) / q(x_t | x0 = i): ∝ (ᾱ_{t|s} x_t + (1 - ᾱ_{t|s}) / K) ⊙ (ᾱ_s r + (1 - ᾱ_s) Σr / K).
    # Categories are drawn by Gumbel-max.
    @staticmethod
    def _gumbel_from_normal(z):
        """Gumbel noise from standard normal draws (u = Φ(z), g = -log(-log u)), so the
        categorical draws reuse the sampler's pre-drawn normal noise."""
        u = 0.5 * (1.0 + ops.erf(z / math.sqrt(2.0)))
        u = ops.clip(u, 1e-7, 1.0 - 1e-7)
        return -ops.log(-ops.log(u))

    def _with_categories(self, x, pieces):
        """``x`` with each categorical segment's columns replaced by ``pieces`` (in order)."""
        out, at = [], 0
        for (a, b), piece in zip(self.cat_segments, pieces):
            if a > at:
                out.append(x[:, at:a])
            out.append(ops.cast(piece, x.dtype))
            at = b
        if at < self.spec.width:
            out.append(x[:, at:])
        return ops.concatenate(out, axis=-1)

    def _draw_categories(self, log_weights, gumbel):
        """One-hots of ``argmax(log w + g)`` per categorical segment (Gumbel-max draws)."""
        return [ops.one_hot(ops.argmax(log_weights[k] + gumbel[:, a:b], axis=-1), b - a)
                for k, (a, b) in enumerate(self.cat_segments)]

    def _categorical_step(self, x, logits, ab, ab_prev, z):
        """The categorical segments of ``x_{t_prev}`` drawn from the posterior above."""
        alpha = ab / ab_prev
        g = self._gumbel_from_normal(z)
        weights = []
        for a, b in self.cat_segments:
            k = float(b - a)
            xt = x[:, a:b]
            r = ops.softmax(logits[:, a:b], axis=-1) / (ab * xt + (1.0 - ab) / k)  # p̂(x0 = i | x_t) / q(x_t | x0 = i)
            w = (alpha * xt + (1.0 - alpha) / k) * (ab_prev * r + (1.0 - ab_prev) / k * ops.sum(r, axis=-1, keepdims=True))
            weights.append(ops.log(ops.maximum(w, 1e-30)))
        return self._draw_categories(weights, g)

    def _condition_input(self, cond, null):
        """The denoiser's condition vector: ``cond`` zeroed where ``null`` is 1, then the
        null flag itself (the unconditional model is the learned null condition)."""
        if not self.cond_dim:
            return null
        return ops.concatenate([cond * (1.0 - null), null], axis=-1)

    def _alpha(self, ab, x):
        """ᾱ as a column broadcasting over the sample axes of ``x``."""
        return ops.reshape(ab, (-1,) + (1,) * (len(x.shape) - 1))

    def denoising_loss(self, x0, cond, seed=None, training=True):
        """DDPM's simple loss: mean squared error of the predicted ε (or v) at a uniformly
        drawn step, with the condition dropped (null) for ``label_dropout`` of the rows."""
        seed = self.train_seed if seed is None else seed
        o = self.options
        batch = ops.shape(x0)[0]
        t = keras.random.randint((batch,), 0, o.timesteps, seed=seed)
        ab = self._alpha(ops.take(ops.convert_to_tensor(self.alpha_bar.astype("float32")), t), x0)
        eps = keras.random.normal(ops.shape(x0), seed=seed)
        xt = ops.sqrt(ab) * x0 + ops.sqrt(1.0 - ab) * eps
        if self.multinomial:  # x_t's categories drawn from ᾱ x0 + (1 - ᾱ) / K
            g = self._gumbel_from_normal(keras.random.normal(ops.shape(x0), seed=seed))
            weights = [ops.log(ab * x0[:, a:b] + (1.0 - ab) / (b - a)) for a, b in self.cat_segments]
            xt = self._with_categories(xt, self._draw_categories(weights, g))
        null = ops.cast(keras.random.uniform((batch, 1), seed=seed) < o.label_dropout, "float32")
        if not self.cond_dim:
            null = ops.zeros((batch, 1), "float32")
        t_frac = ops.reshape(ops.cast(t, "float32") / o.timesteps, (-1, 1))
        pred = self.denoiser([xt, t_frac, self._condition_input(cond, null)], training=training)
        target = eps if o.prediction == "epsilon" else ops.sqrt(ab) * eps - ops.sqrt(1.0 - ab) * x0
        if not self.multinomial:
            return ops.mean(ops.square(pred - target))
        # Gaussian columns: the mean squared error; categorical segments: the cross-entropy
        # of x0's category under the predicted logits, averaged over segments
        gaussian = ~self.cat_mask
        mse = ops.mean(ops.take(ops.square(pred - target), np.flatnonzero(gaussian), axis=1)) if gaussian.any() else 0.0
        ce = sum(-ops.mean(ops.sum(x0[:, a:b] * ops.log_softmax(pred[:, a:b], axis=-1), axis=-1))
                 for a, b in self.cat_segments)
        return mse + ce / len(self.cat_segments)

    # --- one DDIM step (shared by both samplers) ----------------------------------------
    def _outputs(self, network, by_condition, x, tt, cond, known, guided: bool):
        """``network``'s output for the rows ``x`` at the time ``tt`` under their conditions
        ``cond`` (``known``: their ``(distinct, index)`` form, evaluated by ``by_condition``,
        the network's ``TableMLPByCondition``); ``guided``: the conditional and the null
        passes as one call on the doubled batch, conditional rows first."""
        if not self.cond_dim:  # no condition: the whole embedding is one row per step
            return network([x, tt, ops.zeros((1, 1), "float32")], training=False)
        rows = cond if known is None else known[0]
        zeros = ops.zeros((ops.shape(rows)[0], 1), "float32")
        inputs = self._condition_input(rows, zeros)
        if guided:
            x = ops.concatenate([x, x], 0)
            inputs = ops.concatenate([inputs, self._condition_input(rows, zeros + 1.0)], 0)
        if known is None:
            return network([x, tt, inputs], training=False)
        index = known[1]
        if guided:
            index = ops.concatenate([index, index + ops.shape(rows)[0]], 0)
        return by_condition(x, tt, inputs, index)

    def _predict(self, x, t_frac, cond, guidance, guided: bool, by_condition=None):
        """The denoiser's output at ``t_frac``; ``guided``: ``(1 + w) out(c) - w out(∅)``,
        both passes in one call on the doubled batch. Every sample is at the same step, so
        the time enters as one (1, 1) row: its embedding MLP runs once per step, not per
        sample, and broadcasts over the batch. ``by_condition``: ``(distinct, index)``,
        the distinct condition vectors of a table's rows and each row's, for the fast path
        ``TableMLPByCondition`` (same result)."""
        tt = ops.reshape(ops.cast(t_frac, "float32"), (1, 1))
        guided = guided and bool(self.cond_dim)
        out = self._outputs(self.denoiser, self.by_condition, x, tt, cond, by_condition, guided)
        if not guided:
            return out
        batch = ops.shape(x)[0]
        conditional, unconditional = out[:batch], out[batch:]
        return conditional + guidance * (conditional - unconditional)

    def ddim_step(self, x, t_frac, ab, ab_prev, sigma, noise, cond, guidance, guided: bool, by_condition=None):
        """``x_{t_prev}`` from ``x_t``: ``x̂0`` from the prediction (clipped to the data's
        range), ``ε̂ = (x_t - √ᾱ x̂0) / √(1-ᾱ)``, then
        ``√ᾱ_prev x̂0 + √(1 - ᾱ_prev - σ²) ε̂ + σ z``."""
        pred = self._predict(x, t_frac, cond, guidance, guided, by_condition)
        a, s = ops.sqrt(ab), ops.sqrt(1.0 - ab)
        low, high = self._grid_or_row(self.clip_low), self._grid_or_row(self.clip_high)
        x0 = (x - s * pred) / a if self.options.prediction == "epsilon" else a * x - s * pred
        x0 = ops.minimum(ops.maximum(x0, low), high)
        eps = (x - a * x0) / s
        out = ops.sqrt(ab_prev) * x0 + ops.sqrt(ops.maximum(1.0 - ab_prev - sigma * sigma, 0.0)) * eps
        out = out + sigma * noise
        if self.multinomial:
            out = self._with_categories(out, self._categorical_step(x, pred, ab, ab_prev, noise))
        return out

    def _grid_or_row(self, v):
        """A per-column vector as a row (tables) or a scalar range as a scalar (grids)."""
        return v if self.is_table else ops.reshape(v, ())

    # --- compiled pieces ----------------------------------------------------------------
    def _fn(self, key: tuple):
        if key not in self._fns:
            kind = key[0]
            # XLA: off on a CPU, as for the training steps; on an accelerator for the
            # sampling pieces, where fusing the many small kernels pays. Measured on 2 CPU
            # cores (TensorFlow graph against XLA, fused sampler, 20 steps): the 8x8 U-Net
            # 545 against 228 images/s with guidance, once its GroupNorm reduces over the
            # contiguous axes (denoisers.GroupNorm); the 128-wide table MLP 24,500 against
            # 12,400 rows/s; TensorFlow's stateless normals 0.3 against 14.6 µs a 32-value row
            jit = backends.resolve_jit(self.options.jit_compile, default=kind != "val" and backends.on_accelerator())
            if kind == "noise":
                _, steps, stochastic = key
                fn = lambda rows, temperature: self._draw_noise(rows, temperature, steps, stochastic)  # noqa: E731
                self._fns[key] = backends.StatelessFunction(self, fn, seed_generator=self.sample_seed, jit=jit)
            elif kind == "step":
                guided = key[1]
                self._fns[key] = backends.StatelessFunction(
                    self, lambda x, t, ab, ab_prev, sigma, noise, cond, w: self.ddim_step(
                        x, t, ab, ab_prev, sigma, noise, cond, w, guided), jit=jit)
            elif kind == "finish":
                self._fns[key] = backends.StatelessFunction(self, self._finish, jit=jit)
            elif kind == "fused":  # one function per batch size: its pieces are cut statically
                _, span, stochastic, rows, by_condition, finish = key
                self._fns[key] = backends.StatelessFunction(
                    self, lambda *a: self._fused(*a, span=span, stochastic=stochastic, rows=rows,
                                                 by_condition=by_condition, finish=finish),
                    jit=jit
                )
            elif kind == "student":
                _, rows, by_condition = key
                self._fns[key] = backends.StatelessFunction(
                    self, lambda *a: self._student_sample(*a, rows=rows, by_condition=by_condition), jit=jit)
            elif kind == "val":
                self._fns[key] = backends.StatelessFunction(
                    self, lambda x, c: self.denoising_loss(x, c, seed=self.val_seed, training=False),
                    seed_generator=self.val_seed, jit=jit,
                )
        return self._fns[key]

    def _draw_noise(self, rows, temperature, steps: int, stochastic: bool):
        """``x_T`` (scaled by ``temperature``) for each of ``rows`` and, when
        ``stochastic``, each step's noise ``(steps, rows, ...)`` (else a (steps, 1) zero)."""
        batch = ops.shape(rows)[0]
        shape = tuple(self.spec.shape)
        # multinomial categorical columns: their normals become Gumbel noise, never scaled
        scale = ops.where(self.cat_mask, 1.0, temperature) if self.multinomial else temperature
        start = keras.random.normal((batch, *shape), seed=self.sample_seed)
        if self.multinomial:  # x_T's categories: uniform draws
            start = self._with_categories(start * scale, self._draw_categories(
                [ops.zeros((1, b - a)) for a, b in self.cat_segments], self._gumbel_from_normal(start)))
        else:
            start = start * scale
        if not stochastic:
            return start, ops.zeros((steps, 1), "float32")
        return start, keras.random.normal((steps, batch, *shape), seed=self.sample_seed) * scale

    def _finish(self, x0, cond):
        """Samples in the DataSpec's layout from the last x̂0: grids as they are; tables as
        (width, rows) columns — one-hots of the argmax, binary sign, condition columns
        set to the condition vector."""
        if not self.is_table:
            return x0
        columns = self.layout.columns_from(ops.transpose(x0), None, greedy="all")
        if self.cond_dim:
            is_cond = np.zeros((self.spec.width, 1), bool)
            is_cond[self.cond_columns] = True
            source = np.zeros(self.spec.width, "int32")
            source[self.cond_columns] = np.arange(self.cond_dim)
            columns = ops.where(is_cond, ops.take(ops.transpose(cond), source, axis=0), columns)
        return columns

    def _fused(self, start, noise, cond, t, ab, ab_prev, sigma, guidance, distinct, index, *,
               span: tuple[int, int], stochastic: bool, rows: int, by_condition: bool, finish: bool = True):
        """Every DDIM step in compiled ``fori_loop``s per piece of the batch of ``rows``
        samples (``in_row_chunks``: independent pieces run side by side on TensorFlow's
        inter-op threads; a static ``rows`` cuts them statically, never into empty pieces):
        one loop over the steps before the guided ``span``, one over it, one after it.
        ``by_condition``: a table's rows take their embeddings from their ``distinct``
        condition (``index``) rather than one per row (``TableMLPByCondition``).
        ``finish``: decode to the DataSpec's layout (else the last x̂0 as diffused)."""
        steps = ops.shape(t)[0]
        first, stop = span

        def piece(a, b, _seed):
            x, c = start[a:b], cond[a:b]
            z = noise[:, a:b] if stochastic else noise
            known = (distinct, index[a:b]) if by_condition else None

            def run(lower, upper, guided, x):
                def body(i, x):
                    return self.ddim_step(x, t[i], ab[i], ab_prev[i], sigma[i], z[i], c, guidance, guided, known)

                return ops.fori_loop(lower, upper, body, x)

            if first > 0:
                x = run(0, first, False, x)
            if stop > first:
                x = run(first, stop, True, x)
            x = run(stop, steps, False, x)
            return self._finish(x, c) if finish else x

        return in_row_chunks(piece, int(rows), chunks=1 if backends.on_accelerator() else FUSED_PIECES)

    # --- training ---------------------------------------------------------------------

    def _training_conditions(self, x: np.ndarray, labels) -> np.ndarray:
        """The condition vector of each training sample: the label one-hots (grids), the
        condition segments' columns (tables), or a (n, 1) placeholder."""
        if self.is_table:
            if labels is not None:
                raise UsageError("the diffusion family takes labels on grid data only; a table's conditions are its segments (condition_on)")
            return x[:, self.cond_columns] if self.cond_dim else np.zeros((len(x), 1), "float32")
        if not self.cond_dim:
            if labels is not None:
                raise UsageError("diffusion: this grid data has no labels; train without labels=")
            return np.zeros((len(x), 1), "float32")
        if labels is None:
            raise DataError("diffusion: this grid data has labels; pass their codes to train_on(labels=...)")
        return label_one_hot(self.spec, check_label_codes(self.spec, labels, len(x)))

    def train_on(self, x, *, labels=None, epochs, batch_size, learning_rate, callbacks=(), validation_split=0.0, seed=0):
        """Minimise the denoising loss with Adam (weights averaged for sampling, ``ema``).
        Each epoch visits every sample once in a seeded random order (the last batch topped
        up from the epoch's first rows); ``validation_split`` holds out the last samples and
        logs ``val_loss`` (the same loss with a fixed draw of steps and noise).
        ``labels``: label codes of ``x`` (grids with labels). History keys: ``loss`` (+ ``val_loss``)."""
        x = check_training_data(x, self.spec, "diffusion")
        cond = self._training_conditions(x, labels)
        if self.cond_segments:
            self.cond_frequencies.assign(self.layout.category_frequencies(x, self.cond_segments))
        x = self.to_space(x)
        axes = 0 if self.is_table else None
        self.clip_low.assign(np.reshape(x.min(axis=axes), (-1,)))
        self.clip_high.assign(np.reshape(x.max(axis=axes), (-1,)))
        keras.utils.set_random_seed(int(seed))
        rng = np.random.default_rng(int(seed))
        n_val = int(len(x) * float(validation_split))
        if n_val and n_val == len(x):
            raise DataError("diffusion: validation_split leaves no training rows; lower train.validation_split")
        x, x_val = (x[: len(x) - n_val], x[len(x) - n_val :]) if n_val else (x, None)
        cond, cond_val = (cond[: len(cond) - n_val], cond[len(cond) - n_val :]) if n_val else (cond, None)
        batch = int(min(batch_size, len(x)))
        steps_per_epoch = -(-len(x) // batch)
        momentum = self.options.ema_momentum(int(epochs) * steps_per_epoch)
        optimizer = optimizers.Adam(learning_rate=learning_rate, use_ema=momentum > 0, ema_momentum=momentum or 0.99)
        runner = StepRunner(self, [Phase("loss", self.denoising_loss, self.denoiser.trainable_variables, optimizer)],
                            self.options.jit_compile)
        indices = epoch_indices(rng, len(x), batch, steps_per_epoch)

        def draw(epoch, first, count):
            idx = indices(epoch, first, count)
            return [(x[idx].reshape(count, batch, *x.shape[1:]), cond[idx].reshape(count, batch, -1))]

        epoch_end = None
        if x_val is not None:
            val_fn = self._fn(("val",))

            def epoch_end(epoch, logs):
                parts = [(b - a) * float(to_numpy(val_fn(x_val[a:b], cond_val[a:b], state=seed_state(self.seed, a))))
                         for a, b in batched(len(x_val), 4096)]
                return {**logs, "val_loss": sum(parts) / len(x_val)}

        history = train_epochs(
            self, runner, draw,
            epochs=int(epochs),
            steps_per_epoch=steps_per_epoch,
            step_bytes=batch * (int(np.prod(x.shape[1:])) + cond.shape[1]) * 4,
            callbacks=list(callbacks),
            epoch_end=epoch_end,
            max_steps_per_call=self.options.steps_per_call,
        )
        if momentum > 0:
            optimizer.finalize_variable_values(self.denoiser.trainable_variables)  # sample with the averaged weights
        if self.student is not None:
            history["distill_loss"] = train_student(
                self, cond, samples=self.options.distill_samples, epochs=self.options.distill_epochs,
                batch_size=self.options.distill_batch_size, learning_rate=learning_rate, seed=seed,
            )
        return history

    # --- generation -------------------------------------------------------------------
    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The subset of ``conditions`` fixed natively: its ``condition_on`` segments (tables)."""
        return self.layout.honoured_conditions(conditions, self.cond_segments) if self.is_table else {}

    def _sampling_conditions(self, n: int, seed: int, conditions, labels):
        """(label codes or None, condition vectors (n, max(1, cond_dim)), whether any
        condition is given to the denoiser)."""
        if not self.is_table:
            if not self.cond_dim:
                if labels is not None:
                    raise UsageError("the diffusion model of this data has no labels; sample without labels=")
                return None, np.zeros((n, 1), "float32"), False
            codes = draw_labels(self.spec, n, seed, conditions) if labels is None else check_label_codes(self.spec, labels, n)
            return codes, label_one_hot(self.spec, codes), True
        if labels is not None:
            raise UsageError("the diffusion family takes labels on grid data only; condition a table on its segments")
        honoured = self.conditions_honoured(conditions)
        if not self.cond_dim:
            return None, np.zeros((n, 1), "float32"), False
        rng = np.random.default_rng([int(seed) & 0x7FFFFFFF, 7])
        freq = to_numpy(self.cond_frequencies)
        parts, at = [], 0
        for s in self.cond_segments:
            size = TableLayout.frequency_width(s)
            p = np.maximum(freq[at : at + size].astype("float64"), 0.0)
            at += size
            index = honoured.get(s.name)
            if index is None:
                cdf = np.cumsum(p) / max(p.sum(), 1e-12)
                drawn = np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), size - 1)
            else:
                drawn = np.full(n, int(index))
            parts.append(np.eye(s.size, dtype="float32")[drawn] if s.kind == "categorical" else drawn[:, None].astype("float32"))
        return None, np.concatenate(parts, axis=1), True

    def _batch_cap(self, steps: int, stochastic: bool, guided: bool) -> int:
        """Most samples per call: U-Net activations (grids; twice the rows when guided) and
        the per-step noise (``eta > 0``) within fixed memory budgets."""
        size = int(np.prod(self.spec.shape))
        cap = 1 << 20
        if not self.is_table:
            cap = grid_batch_cap(self.spec.shape, [max(self.channels) * (2 if guided else 1) * 2])
        if stochastic:
            cap = min(cap, max(16, NOISE_BUDGET // (4 * size * steps)))
        return cap

    def sample(self, n, *, seed, conditions=None, controls=None, batch_size=16384, labels=None, sampler="fused"):
        """``n`` samples and their label codes (grids with labels: ``labels`` if given, else
        label conditions and training frequencies); identical for an identical ``seed`` and
        batch size. ``sampler``: ``fused`` (one compiled loop) or ``loop`` (the reference)."""
        n = int(n)
        c = self.parse_controls(controls)
        o = self.options
        steps = o.steps if c.steps is None else c.steps
        eta = o.eta if c.eta is None else c.eta
        guidance = np.float32(o.guidance if c.guidance is None else c.guidance)
        if steps > o.timesteps:
            raise UsageError(f"sampling controls of the diffusion family: steps={steps} exceeds the model's {o.timesteps} timesteps; use 1..{o.timesteps}")
        if sampler not in ("fused", "loop"):
            raise UsageError(f"diffusion sampler must be 'fused' or 'loop', not {sampler!r}")
        codes, cond, conditioned = self._sampling_conditions(n, seed, conditions, labels)
        if n <= 0:
            return Samples(np.zeros((0, *self.spec.shape), "float32"), codes)
        if self._uses_student(c):
            return Samples(self._sample_with_student(n, seed, cond, np.float32(c.temperature), batch_size), codes)
        interval = o.guidance_interval if c.guidance_interval is None else c.guidance_interval
        check_interval(interval, "sampling controls of the diffusion family")
        schedule = ddim_schedule(self.alpha_bar, steps, eta)
        span = guided_span(schedule, interval) if conditioned and guidance > 0 else (0, 0)
        guided = span[1] > span[0]
        stochastic = bool(schedule["sigma"].max() > 0) or self.multinomial  # categories draw noise every step
        steps = len(schedule["t"])
        batch_size = min(int(batch_size), self._batch_cap(steps, stochastic, guided))
        temperature = np.float32(c.temperature)
        noise_fn = self._fn(("noise", steps, stochastic))

        def call(k, a, b):
            rows = padded_rows(b - a)  # few distinct sizes: each compiles once (the core asks for varying sizes)
            part = zero_padded(cond[a:b], rows)
            start, noise = noise_fn(part, temperature, state=seed_state(seed, k))
            if sampler == "fused":
                known = self._distinct_conditions(part)
                out = self._fn(("fused", span, stochastic, rows, known is not None, True))(
                    start, noise, part, schedule["t"], schedule["ab"], schedule["ab_prev"], schedule["sigma"], guidance,
                    *(known or self._no_distinct(rows)),
                )
            else:
                out = self.sample_loop(start, noise, part, schedule, guidance, span, stochastic)
            return first_rows(out, b - a, transposed=self.is_table)

        x = fill_batches(n, batch_size, self.spec.shape, call, transposed=self.is_table)
        return Samples(x, codes)

    def _distinct_conditions(self, cond: np.ndarray):
        """``(distinct, index)``: a table's distinct condition rows, padded with zero rows
        to a power of two (few distinct shapes to compile), and each row's index; None
        for grids, unconditioned tables, or more than ``MAX_DISTINCT_CONDITIONS``."""
        if not (self.is_table and self.cond_dim):
            return None
        distinct, index = np.unique(cond, axis=0, return_inverse=True)
        if len(distinct) > MAX_DISTINCT_CONDITIONS:
            return None
        size = max(4, 1 << (len(distinct) - 1).bit_length())
        return zero_padded(distinct, size), index.reshape(-1).astype("int32")

    @staticmethod
    def _no_distinct(rows: int):
        """The placeholder ``(distinct, index)`` arguments of a compiled sampler that embeds per row."""
        return np.zeros((1, 1), "float32"), np.zeros(rows, "int32")

    # --- the distilled one-step sampler (distill: true; _distillation.py) ---------------
    def _uses_student(self, controls) -> bool:
        """Whether ``controls`` ask for (or leave the choice to) the one-step student."""
        if controls.distilled and self.student is None:
            raise UsageError("sampling controls of the diffusion family: distilled=true needs a model trained with "
                             "model.options.distill: true")
        if self.student is None or controls.distilled is False:
            return False
        chosen = (controls.steps, controls.eta, controls.guidance, controls.guidance_interval)
        return bool(controls.distilled) or all(v is None for v in chosen)

    def student_x0(self, x, cond, known=None, clip: bool = True):
        """The student's one-step sample from the noise ``x`` for the conditions ``cond``
        (``known``: their ``(distinct, index)`` form), clipped to the data's range."""
        out = self._outputs(self.student, self.student_by_condition, x, ops.ones((1, 1), "float32"), cond, known, False)
        if not clip:
            return out
        return ops.minimum(ops.maximum(out, self._grid_or_row(self.clip_low)), self._grid_or_row(self.clip_high))

    def _student_sample(self, start, cond, distinct, index, *, rows: int, by_condition: bool):
        """Decoded one-step samples from ``start``, in pieces as the fused sampler."""
        def piece(a, b, _seed):
            c = cond[a:b]
            return self._finish(self.student_x0(start[a:b], c, (distinct, index[a:b]) if by_condition else None), c)

        return in_row_chunks(piece, int(rows), chunks=1 if backends.on_accelerator() else FUSED_PIECES)

    def _sample_with_student(self, n: int, seed: int, cond: np.ndarray, temperature, batch_size: int) -> np.ndarray:
        """``n`` samples of the one-step student (the same starting noise as the sampler's)."""
        noise_fn = self._fn(("noise", 1, False))

        def call(k, a, b):
            rows = padded_rows(b - a)
            part = zero_padded(cond[a:b], rows)
            start, _ = noise_fn(part, temperature, state=seed_state(seed, k))
            known = self._distinct_conditions(part)
            out = self._fn(("student", rows, known is not None))(start, part, *(known or self._no_distinct(rows)))
            return first_rows(out, b - a, transposed=self.is_table)

        return fill_batches(n, min(int(batch_size), self._batch_cap(1, False, False)), self.spec.shape, call,
                            transposed=self.is_table)

    def teacher_samples(self, cond: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(x_T, x̂0)`` for the rows of ``cond``: starting noise drawn with the seed
        ``state`` and the deterministic DDIM sample from it at the model's default steps,
        guidance and guidance interval, as diffused."""
        o = self.options
        schedule = ddim_schedule(self.alpha_bar, o.steps, 0.0)
        span = guided_span(schedule, o.guidance_interval) if self.cond_dim and o.guidance > 0 else (0, 0)
        n, rows = len(cond), padded_rows(len(cond))
        cond = zero_padded(cond, rows)
        start, noise = self._fn(("noise", len(schedule["t"]), False))(cond, np.float32(1.0), state=state)
        known = self._distinct_conditions(cond)
        pieces = self._fn(("fused", span, False, rows, known is not None, False))(
            start, noise, cond, schedule["t"], schedule["ab"], schedule["ab_prev"], schedule["sigma"],
            np.float32(o.guidance), *(known or self._no_distinct(rows)),
        )
        return to_numpy(start)[:n], np.concatenate([to_numpy(p) for p in pieces])[:n]

    def sample_loop(self, start, noise, cond, schedule, guidance, span: tuple[int, int], stochastic: bool):
        """The reference DDIM sampler: a Python loop calling one compiled step per DDIM
        step (guided on the steps of ``span``), from the starting noise ``start`` to the
        finished samples."""
        x = start
        for i in range(len(schedule["t"])):
            step = self._fn(("step", span[0] <= i < span[1]))
            z = noise[i] if stochastic else noise[0]
            x = step(x, schedule["t"][i], schedule["ab"][i], schedule["ab_prev"][i], schedule["sigma"][i], z, cond, guidance)
        return self._fn(("finish",))(x, cond)

    def generate(self, n, *, seed, conditions=None, controls=None, batch_size=16384):
        """The arrays of ``sample``."""
        return self.sample(n, seed=seed, conditions=conditions, controls=controls, batch_size=batch_size).x


def padded_rows(rows: int) -> int:
    """The batch size a sampling call compiles for: the next power of two (at least 16),
    or the next multiple of 4,096 above 4,096 rows; the extra rows are dropped."""
    if rows > 4096:
        return -(-rows // 4096) * 4096
    return max(16, 1 << (int(rows) - 1).bit_length())


def zero_padded(rows: np.ndarray, count: int) -> np.ndarray:
    """The float32 ``rows`` followed by zero rows up to ``count`` (a compiled batch size)."""
    return np.concatenate([rows, np.zeros((count - len(rows), *rows.shape[1:]), "float32")]).astype("float32")


def first_rows(pieces, rows: int, *, transposed: bool):
    """The first ``rows`` samples of a batch given as a tensor or a list of consecutive
    row pieces (table pieces are (width, rows) columns when ``transposed``)."""
    axis = 1 if transposed else 0
    out, have = [], 0
    for piece in pieces if isinstance(pieces, (list, tuple)) else [pieces]:
        size = piece.shape[axis]
        if have >= rows:
            break
        take = min(size, rows - have)
        out.append(piece if take == size else (piece[:, :take] if transposed else piece[:take]))
        have += take
    return out


class DiffusionFamily(ModelFamily):
    """Builds ``Diffusion`` models."""

    name = "diffusion"
    description = "Denoising diffusion (DDPM training, DDIM sampling, classifier-free guidance): U-Net for grids, MLP for tables"
    layouts = ("table", "grid")
    label_layouts = ("grid",)  # a table's conditions are its own segments (condition_on)
    Options = DiffusionOptions

    model_class = Diffusion

    def check_options(self, spec: DataSpec, options: DiffusionOptions) -> None:
        if options.embedding_dim % 2:
            raise UsageError(f"diffusion embedding_dim must be even, got {options.embedding_dim}")
        if spec.layout == "grid" and options.condition_on:
            raise UsageError("diffusion condition_on applies to table data only; a grid's conditions are its labels")
        if spec.layout == "grid" and options.channels is not None and (not options.channels or min(options.channels) < 1):
            raise UsageError("diffusion channels must list at least one positive width per resolution")
        check_condition_on(spec, options.condition_on, self.name)
        check_interval(options.guidance_interval, f"{self.name} options")
        if options.distill and options.categorical == "multinomial" and spec.layout == "table":
            raise UsageError("diffusion distill needs Gaussian diffusion of the categories (its sampler is a deterministic map); "
                             "drop distill or use categorical: gaussian")


family = DiffusionFamily()
