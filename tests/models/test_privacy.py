"""Differential privacy: accounting (dp-accounting), DP-SGD (clipping, noise, Poisson
batches) in the VAE and GAN, the DP Gaussian copula, and the pipeline's privacy hooks."""

from __future__ import annotations

import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting import pld, rdp

from domaingen import privacy
from domaingen._quiet import keras_module
from domaingen.errors import RecipeError, UsageError
from domaingen.models import copula, diffusion, gan, vae
from domaingen.models._loop import Phase, PrivateGradient, StepRunner
from domaingen.recipe import PrivacySection, recipe_from_dict
from domaingen.spec import DataSpec, Segment

from .conftest import TABLE_SPEC, mixed_table

keras = keras_module()
ops = keras.ops

# a table whose statistics are known: a bounded Gaussian column, 3 categories, a flag
BOUNDED_SPEC = DataSpec(
    "table",
    (6,),
    (Segment("a", "continuous", bounded=True), Segment("b", "continuous", bounded=True),
     Segment("colour", "categorical", 3), Segment("flag", "binary")),
)
A_MEAN, A_STD, B_SLOPE = 0.2, 0.3, 0.8
FREQ, FLAG_P = np.array([0.6, 0.3, 0.1]), 0.2


def bounded_table(n: int, seed: int = 0) -> np.ndarray:
    """Rows [a, b, one-hot colour, flag]: a ~ N(0.2, 0.3), b = 0.8 a + N(0, 0.15), both clipped to [-1, 1]."""
    rng = np.random.default_rng(seed)
    a = np.clip(rng.normal(A_MEAN, A_STD, n), -1, 1)
    b = np.clip(B_SLOPE * a + rng.normal(0, 0.15, n), -1, 1)
    colour = rng.choice(3, n, p=FREQ)
    flag = rng.random(n) < FLAG_P
    return np.column_stack([a, b, np.eye(3)[colour], flag]).astype("float32")


def settings(epsilon=3.0, delta=1e-5, accountant="rdp", max_grad_norm=1.0) -> PrivacySection:
    return PrivacySection(epsilon=epsilon, delta=delta, accountant=accountant, max_grad_norm=max_grad_norm)


def library_epsilon(sigma, q, steps, delta, accountant=rdp.RdpAccountant):
    """dp-accounting's own ε for DP-SGD, built here without domaingen's helpers."""
    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
    )
    return accountant().compose(event).get_epsilon(delta)


# --- accounting -----------------------------------------------------------------------------
@pytest.mark.parametrize("accountant, cls", [("rdp", rdp.RdpAccountant), ("pld", pld.PLDAccountant)])
def test_epsilon_for_known_sigma_q_steps_is_the_librarys(accountant, cls):
    sigma, q, steps, delta = 1.1, 256 / 60000, 60 * 60000 // 256, 1e-5
    ours = privacy.epsilon_of(privacy.dp_sgd_event(sigma, q, steps), delta, accountant)
    assert ours == pytest.approx(library_epsilon(sigma, q, steps, delta, cls), rel=1e-9)
    assert 1.0 < ours < 10.0  # sanity: a moderate guarantee for these settings


@pytest.mark.parametrize("epsilon", [1.0, 3.0, 10.0])
def test_calibrated_sigma_reaches_the_target_and_no_less_noise_would(epsilon):
    plan = privacy.plan_dp_sgd(settings(epsilon), n=1000, batch_size=50, steps=400)
    assert plan.sampling_rate == 0.05 and plan.steps == 400 and plan.expected_batch_size == 50
    # within 1 % of the target, never above it (tolerance: dp-accounting's search is to 1e-4 in σ)
    assert epsilon * 0.99 <= plan.epsilon <= epsilon
    assert plan.epsilon == pytest.approx(library_epsilon(plan.noise_multiplier, 0.05, 400, 1e-5), rel=1e-9)
    assert library_epsilon(plan.noise_multiplier * 0.99, 0.05, 400, 1e-5) > epsilon  # minimal noise


def test_calibration_with_the_pld_accountant():
    plan = privacy.plan_dp_sgd(settings(2.0, accountant="pld"), n=500, batch_size=100, steps=50)
    assert 1.98 <= plan.epsilon <= 2.0
    assert plan.epsilon == pytest.approx(library_epsilon(plan.noise_multiplier, 0.2, 50, 1e-5, pld.PLDAccountant), rel=1e-6)


def test_a_prior_spend_is_composed_into_the_calibration():
    prior = privacy.gaussian_event(5.0)  # e.g. what a codec spent
    alone = privacy.plan_dp_sgd(settings(3.0), n=1000, batch_size=100, steps=100)
    after = privacy.plan_dp_sgd(settings(3.0), n=1000, batch_size=100, steps=100, prior=prior)
    assert after.noise_multiplier > alone.noise_multiplier  # less budget left, more noise
    assert after.epsilon <= 3.0
    with pytest.raises(UsageError, match="already spent the whole budget"):
        privacy.plan_dp_sgd(settings(0.1), n=1000, batch_size=100, steps=100, prior=privacy.gaussian_event(0.5))


def test_poisson_batches_are_reproducible_independent_rows_of_rate_q():
    batches = privacy.PoissonBatches(n=2000, q=0.05, steps=400, seed=3)
    assert abs(batches.sizes.mean() - 100) < 3 and batches.capacity == batches.sizes.max()
    idx, mask = batches.take(range(10, 20))
    assert idx.shape == mask.shape == (10, batches.capacity)
    for k in range(10):
        rows = idx[k, mask[k] == 1]
        assert len(rows) == batches.sizes[10 + k] and len(set(rows.tolist())) == len(rows)
    again, _ = privacy.PoissonBatches(n=2000, q=0.05, steps=400, seed=3).take([15])
    assert np.array_equal(again[0], idx[5])  # a step's rows do not depend on how calls are cut
    counts = np.bincount(batches.take(range(400))[0][batches.take(range(400))[1] == 1], minlength=2000)
    assert abs(counts.mean() - 20) < 1 and counts.std() < 7  # every row about q * steps times


# --- DP-SGD in the training loop --------------------------------------------------------------
class _Linear(keras.Model):
    """y = x . w: per-example gradient of (x . w - t)^2 / 2 is (x . w - t) x."""

    def __init__(self, width=3):
        super().__init__()
        self.w = self.add_weight(name="w", shape=(width,), initializer="zeros")
        self.noise_seed = keras.random.SeedGenerator(0)
        self.built = True


def _noiseless_update(x, t, mask, clip, expected):
    model = _Linear()

    def row_loss(xi, ti):
        return ops.sum(0.5 * ops.square(ops.sum(xi * model.w, axis=-1) - ti))

    private = PrivateGradient(row_loss, lambda a, b: (a, b), clip, 0.0, expected, model.noise_seed)
    phase = Phase("loss", None, [model.w], keras.optimizers.SGD(learning_rate=1.0), private=private)
    runner = StepRunner(model, [phase])
    losses = runner.run([(mask[None], x[None], t[None])], 1)
    runner.sync()
    return -keras.ops.convert_to_numpy(model.w), losses


def test_per_example_clipping_bounds_each_rows_contribution():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    t = rng.normal(size=8).astype("float32")
    t[2] = 1e4  # one example with a huge gradient
    mask = np.ones(8, "float32")
    mask[7] = 0.0  # a padding row
    clip = 0.5
    update, losses = _noiseless_update(x, t, mask, clip, expected=4.0)
    grads = (-t)[:, None] * x  # at w = 0: (x . w - t) x
    norms = np.linalg.norm(grads, axis=1)
    manual = (grads * np.minimum(1.0, clip / norms)[:, None] * mask[:, None]).sum(axis=0) / 4.0
    np.testing.assert_allclose(update, manual, rtol=1e-5, atol=1e-6)
    # the huge example moves the weights by at most clip / expected batch, as every other row
    update_without, _ = _noiseless_update(x, np.where(np.arange(8) == 2, 0.0, t).astype("float32"), mask, clip, 4.0)
    assert np.linalg.norm(update - update_without) <= clip / 4.0 + 1e-6
    assert np.linalg.norm(update) <= 7 * clip / 4.0 + 1e-6
    assert np.isnan(losses).all()  # the loss of real rows is not released


def test_noise_has_the_calibrated_standard_deviation_and_is_fresh_each_step():
    model = _Linear(width=2000)
    # noise multiplier 2, clip 1.5, expected batch 3: each step adds N(0, (2 * 1.5 / 3)^2) per coordinate
    private = PrivateGradient(lambda xi: ops.sum(xi * model.w), lambda a: (a,), 1.5, 2.0, 3.0, model.noise_seed)
    phase = Phase("loss", None, [model.w], keras.optimizers.SGD(learning_rate=1.0), private=private)
    runner = StepRunner(model, [phase])
    steps = 100
    runner.run([(np.zeros((steps, 4), "float32"), np.zeros((steps, 4, 2000), "float32"))], steps)  # all rows masked: pure noise
    runner.sync()
    w = keras.ops.convert_to_numpy(model.w)  # independent steps: std 1 * sqrt(steps); one noise repeated: 1 * steps
    assert np.std(w) / math.sqrt(steps) == pytest.approx(1.0, abs=0.05)
    assert abs(np.mean(w)) < 0.1 * math.sqrt(steps)


# --- families -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_vae():
    """A VAE trained by DP-SGD at epsilon 10 on 4,000 rows of the bounded table."""
    model = vae.family.build(BOUNDED_SPEC, {"latent_dim": 8, "hidden": [64, 64]}, 0)
    model.use_privacy(settings(10.0))
    history = model.train_on(bounded_table(4000), epochs=25, batch_size=200, learning_rate=3e-3, callbacks=[], seed=0)
    return model, history


def test_dp_vae_learns_a_simple_distribution_at_epsilon_10(private_vae):
    model, _ = private_vae
    g = model.generate(20000, seed=1)
    # tolerances: mean / std of the Gaussian column +-0.1, each category's frequency
    # +-0.07, the flag's rate +-0.06, the columns' correlation (0.85 in the data) > 0.5
    assert abs(g[:, 0].mean() - A_MEAN) < 0.1 and abs(g[:, 0].std() - A_STD) < 0.1
    assert np.abs(g[:, 2:5].mean(axis=0) - FREQ).max() < 0.07
    assert abs(g[:, 5].mean() - FLAG_P) < 0.06
    assert np.corrcoef(g[:, 0], g[:, 1])[0, 1] > 0.5


def test_dp_vae_reports_the_librarys_epsilon_for_its_steps(private_vae):
    model, history = private_vae
    spent, training = model.privacy_spent["summary"], model.privacy_spent["training"]
    assert training["sampling"] == "poisson" and training["sampling_rate"] == 200 / 4000
    assert training["steps"] == 25 * 20  # epochs x round(n / batch)
    assert spent["epsilon"] == pytest.approx(library_epsilon(training["noise_multiplier"], 0.05, 500, 1e-5), rel=1e-9)
    assert 9.9 <= spent["epsilon"] <= 10.0 and spent["delta"] == 1e-5
    assert all(math.isnan(v) for v in history["loss"])  # real-data losses are not released


def test_dp_vae_refuses_validation_and_a_conditional_vae():
    model = vae.family.build(TABLE_SPEC, {"latent_dim": 4, "hidden": [8]}, 0)
    model.use_privacy(settings())
    with pytest.raises(UsageError, match="validation_split: 0"):
        model.train_on(mixed_table(100), epochs=1, batch_size=50, learning_rate=1e-3, validation_split=0.2)
    conditional = vae.family.build(TABLE_SPEC, {"condition_on": ["colour"]}, 0)
    with pytest.raises(UsageError, match="condition_on"):
        conditional.use_privacy(settings())


def test_dp_gan_noises_the_critic_only_and_accounts_every_critic_step():
    model = gan.family.build(BOUNDED_SPEC, {"pac": 1, "conditional": False, "critic_steps": 2,
                                            "generator_hidden": [32], "discriminator_hidden": [32]}, 0)
    model.use_privacy(settings(5.0))
    history = model.train_on(bounded_table(1000), epochs=3, batch_size=100, learning_rate=1e-3, callbacks=[], seed=0)
    training = model.privacy_spent["training"]
    assert training["steps"] == 3 * 10 * 2  # epochs x round(n / batch) x critic_steps
    assert model.privacy_spent["summary"]["epsilon"] == pytest.approx(
        library_epsilon(training["noise_multiplier"], 0.1, 60, 1e-5), rel=1e-9
    )
    assert all(math.isnan(v) for v in history["d_loss"])  # the critic saw real rows
    assert all(math.isfinite(v) for v in history["g_loss"])  # the generator only the critic: post-processing
    g = model.generate(500, seed=0)
    assert np.all(g[:, 2:5].sum(axis=1) == 1.0)


def test_dp_gan_refuses_packs_and_the_conditional_vector():
    model = gan.family.build(TABLE_SPEC, {}, 0)  # pac 10 and CTGAN's conditional vector by default
    with pytest.raises(UsageError, match="pac: 1.*conditional: false"):
        model.use_privacy(settings())


def test_dp_copula_accounts_both_releases_and_keeps_the_statistics():
    model = copula.family.build(BOUNDED_SPEC, {}, 0)
    model.use_privacy(settings(3.0))
    model.train_on(bounded_table(5000), seed=0)
    t = model.privacy_spent["training"]
    library = rdp.RdpAccountant().compose(
        dp_accounting.ComposedDpEvent([dp_accounting.GaussianDpEvent(t["noise_multiplier_marginals"]),
                                       dp_accounting.GaussianDpEvent(t["noise_multiplier_correlation"])])
    ).get_epsilon(1e-5)
    assert model.privacy_spent["summary"]["epsilon"] == pytest.approx(library, rel=1e-9)
    assert 2.97 <= library <= 3.0
    assert t["histogram_sensitivity"] == pytest.approx(math.sqrt(4))  # 4 latent dimensions
    g = model.generate(20000, seed=1)
    # tolerances at epsilon 3 on 5,000 rows: mean / std +-0.1, frequencies +-0.05, correlation (0.85) +-0.15
    assert abs(g[:, 0].mean() - A_MEAN) < 0.1 and abs(g[:, 0].std() - A_STD) < 0.1
    assert np.abs(g[:, 2:5].mean(axis=0) - FREQ).max() < 0.05
    assert abs(np.corrcoef(g[:, 0], g[:, 1])[0, 1] - 0.85) < 0.15


def test_dp_copula_refuses_unbounded_continuous_columns():
    with pytest.raises(UsageError, match="continuous segments x are not bounded"):
        copula.family.build(TABLE_SPEC, {}, 0).use_privacy(settings())


def test_private_copula_depends_on_the_data_only_through_noise():
    """Identical data and seed: identical model; another seed: other noise (the releases are random)."""
    def fit(seed):
        model = copula.family.build(BOUNDED_SPEC, {}, 0)
        model.use_privacy(settings(1.0))
        model.train_on(bounded_table(2000), seed=seed)
        return keras.ops.convert_to_numpy(model.cholesky)

    assert np.array_equal(fit(0), fit(0)) and not np.array_equal(fit(0), fit(1))


# --- the pipeline's hooks and the recipe -------------------------------------------------------
def test_families_and_codecs_without_private_training_are_refused():
    model = diffusion.family.build(TABLE_SPEC, {}, 0)
    with pytest.raises(UsageError, match="diffusion family has no differentially private training"):
        privacy.prepare_model(model, None, settings())
    assert privacy.prepare_model(model, None, None) is model

    class Plain:
        def fit(self, raw):
            return "fitted"

    with pytest.raises(UsageError, match="Plain codec has no differentially private fitting"):
        privacy.fit_codec(Plain(), [1], settings())
    assert privacy.fit_codec(Plain(), [1], None) == "fitted"
    assert privacy.privacy_meta(None, model) == {}


def _recipe(train):
    return {"schema_version": 1, "data": {"plugin": "tabular", "source": "sklearn:diabetes"}, "train": train}


@pytest.mark.parametrize(
    "section, message",
    [
        ({"epsilon": 0, "delta": 1e-5}, "train.privacy.epsilon"),
        ({"epsilon": 3, "delta": 1.0}, "train.privacy.delta"),
        ({"epsilon": 3}, "train.privacy.delta"),
        ({"epsilon": 3, "delta": 1e-5, "max_grad_norm": -1}, "train.privacy.max_grad_norm"),
        ({"epsilon": 3, "delta": 1e-5, "accountant": "prv"}, "train.privacy.accountant"),
        ({"epsilon": float("inf"), "delta": 1e-5}, "train.privacy.epsilon"),
    ],
)
def test_recipe_bounds_of_the_privacy_section(section, message):
    with pytest.raises(RecipeError, match=message):
        recipe_from_dict(_recipe({"privacy": section}))


def test_recipe_refuses_validation_and_early_stopping_under_privacy():
    good = recipe_from_dict(_recipe({"privacy": {"epsilon": 3, "delta": 1e-5}}))
    assert good.model.train.privacy.max_grad_norm == 1.0 and good.model.train.privacy.accountant == "rdp"
    for extra in ({"validation_split": 0.1}, {"early_stopping": {"patience": 5}}):
        with pytest.raises(RecipeError, match="early_stopping.patience: 0"):
            recipe_from_dict(_recipe({"privacy": {"epsilon": 3, "delta": 1e-5}, **extra}))
