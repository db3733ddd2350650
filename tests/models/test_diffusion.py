"""Diffusion family: known answers on tables (mixture, frequencies) and labelled grids
(class means), guidance, the fused sampler against the reference loop, saving, seeds,
controls."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.errors import ConditionError, DataError, UsageError
from domaingen.models import diffusion
from domaingen.spec import DataSpec

from .conftest import BIN_P, CAT_FREQ, MIX_MEANS, MIX_WEIGHT, TABLE_SPEC, check_table_rows, dependent_table, mixed_table, weights_equal
from .test_labels import SPEC as GRID_SPEC
from .test_labels import class_patterns, labelled_grids, nearest_pattern

keras = keras_module()
TABLE = {"hidden": 64, "depth": 2, "embedding_dim": 32}
GRID = {"channels": [16, 32], "embedding_dim": 32, "label_dropout": 0.2}
# the grid fixture also distils a one-step student: sampling without DDIM controls uses it
GRID_STUDENT = {"distill": True, "guidance": 1.0, "distill_samples": 3000, "distill_epochs": 15, "distill_batch_size": 128}


def _table_model(x, options=None, epochs=60, seed=0):
    model = diffusion.family.build(TABLE_SPEC, {**TABLE, **(options or {})}, seed)
    model.train_on(x, epochs=epochs, batch_size=256, learning_rate=2e-3, callbacks=[], seed=seed)
    return model


@pytest.fixture(scope="module")
def table_model():
    return _table_model(mixed_table(3000))


@pytest.fixture(scope="module")
def multinomial_model():
    return _table_model(mixed_table(3000), {"categorical": "multinomial"})


@pytest.fixture(scope="module")
def conditional_model():
    x = dependent_table(3000)  # colour decides x: 0 -> -2, 1 -> 0, 2 -> +2
    return _table_model(x, {"condition_on": ["colour"], "label_dropout": 0.15}, epochs=40)


@pytest.fixture(scope="module")
def grid_model():
    x, codes = labelled_grids(1500)
    model = diffusion.family.build(GRID_SPEC, {**GRID, **GRID_STUDENT}, 0)
    model.train_on(x, labels=codes, epochs=20, batch_size=128, learning_rate=2e-3, callbacks=[], seed=0)
    return model


# --- the schedule -------------------------------------------------------------------------------
def test_cosine_schedule_and_ddim_steps():
    ab = diffusion.cosine_alpha_bar(1000)
    assert ab.shape == (1000,) and np.all(np.diff(ab) < 0) and 0 < ab[-1] < 1e-6 and ab[0] > 0.9999
    # the continuous curve f(t)/f(0) at the middle: cos²((0.5 + s)/(1 + s) π/2) / cos²(s/(1 + s) π/2)
    s = 0.008
    expect = np.cos((0.5 + s) / (1 + s) * np.pi / 2) ** 2 / np.cos(s / (1 + s) * np.pi / 2) ** 2
    assert abs(ab[499] - expect) < 2e-3
    sched = diffusion.ddim_schedule(ab, 10, eta=0.0)
    assert len(sched["t"]) == 10 and sched["t"][0] == np.float32(999 / 1000) and sched["t"][-1] == 0.0
    assert sched["ab_prev"][-1] == 1.0 and np.all(sched["sigma"] == 0)
    noisy = diffusion.ddim_schedule(ab, 10, eta=1.0)  # eta 1: DDPM's posterior variance
    i = 3
    beta = 1 - noisy["ab"][i] / noisy["ab_prev"][i]
    posterior = (1 - noisy["ab_prev"][i]) / (1 - noisy["ab"][i]) * beta
    assert abs(noisy["sigma"][i] ** 2 - posterior) < 1e-6


# --- tables -------------------------------------------------------------------------------------
def test_table_recovers_mixture_and_frequencies(table_model):
    g = table_model.generate(20000, seed=1)
    check_table_rows(g)
    low = g[:, 0] < -0.25  # the valley between the two modes
    # tolerances: component weight ±0.06, component means ±0.25, category shares ±0.04, binary ±0.06
    assert abs(low.mean() - MIX_WEIGHT) < 0.06
    assert abs(g[low, 0].mean() - MIX_MEANS[0]) < 0.25
    assert abs(g[~low, 0].mean() - MIX_MEANS[1]) < 0.25
    np.testing.assert_allclose(g[:, 1:4].mean(axis=0), CAT_FREQ, atol=0.04)
    assert abs(g[:, 4].mean() - BIN_P) < 0.06


def test_multinomial_diffusion_recovers_category_frequencies(multinomial_model):
    g = multinomial_model.generate(20000, seed=1)
    check_table_rows(g)
    # tolerances: category shares ±0.03 (measured within 0.003), the mixture as above
    np.testing.assert_allclose(g[:, 1:4].mean(axis=0), CAT_FREQ, atol=0.03)
    low = g[:, 0] < -0.25
    assert abs(low.mean() - MIX_WEIGHT) < 0.06 and abs(g[:, 4].mean() - BIN_P) < 0.06


def test_multinomial_fused_equals_loop_and_seeds_reproduce(multinomial_model, tmp_path):
    for controls in ({"steps": 12}, {"steps": 6, "eta": 0.5, "temperature": 0.8}):
        fused = multinomial_model.sample(300, seed=5, controls=controls).x
        np.testing.assert_array_equal(fused[:, 1:], multinomial_model.sample(300, seed=5, controls=controls, sampler="loop").x[:, 1:])
        np.testing.assert_array_equal(fused, multinomial_model.sample(300, seed=5, controls=controls).x)
    path = tmp_path / "multinomial.keras"
    multinomial_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.generate(200, seed=2), multinomial_model.generate(200, seed=2))


def test_fused_sampler_equals_the_reference_loop(table_model, conditional_model, grid_model):
    for model, controls in ((table_model, {"steps": 12}), (table_model, {"steps": 7, "eta": 0.8}),
                            (conditional_model, {"steps": 8, "guidance": 0.0}),  # embeddings by distinct condition
                            (conditional_model, {"steps": 8, "guidance": 1.5, "guidance_interval": (0.2, 3.0)}),
                            (grid_model, {"steps": 10, "guidance": 2.0, "eta": 0.5}),
                            (grid_model, {"steps": 10, "guidance": 2.0, "guidance_interval": (0.3, 2.0)})):
        fused = model.sample(300, seed=5, controls=controls)
        loop = model.sample(300, seed=5, controls=controls, sampler="loop")
        np.testing.assert_array_equal(fused.labels, loop.labels)
        np.testing.assert_allclose(fused.x, loop.x, atol=2e-3)
        if model.is_table:  # the discrete columns decode identically
            np.testing.assert_array_equal(fused.x[:, 1:], loop.x[:, 1:])


def test_same_seed_same_samples_other_seed_differs(table_model):
    a = table_model.generate(500, seed=3)
    np.testing.assert_array_equal(a, table_model.generate(500, seed=3))
    assert not np.array_equal(a, table_model.generate(500, seed=4))
    b = table_model.generate(500, seed=3, controls={"eta": 1.0})
    np.testing.assert_array_equal(b, table_model.generate(500, seed=3, controls={"eta": 1.0}))
    assert not np.array_equal(a, b)


def test_same_seed_gives_identical_training():
    x = mixed_table(600)
    m1, m2 = (_table_model(x, epochs=4, seed=11) for _ in range(2))
    assert weights_equal(m1, m2)
    np.testing.assert_array_equal(m1.generate(200, seed=0), m2.generate(200, seed=0))
    assert not weights_equal(m1, _table_model(x, epochs=4, seed=12))


def test_save_load_gives_identical_samples(table_model, grid_model, tmp_path):
    for name, model in (("table", table_model), ("grid", grid_model)):
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
        assert isinstance(loaded, diffusion.Diffusion) and loaded.options == model.options
        a, b = model.sample(200, seed=9), loaded.sample(200, seed=9)
        np.testing.assert_array_equal(a.x, b.x)
        if a.labels is not None:
            np.testing.assert_array_equal(a.labels, b.labels)


def test_table_conditions_fix_their_segment_and_steer_the_rest(conditional_model):
    model = conditional_model
    assert model.conditions_honoured({"colour": 2, "flag": 1}) == {"colour": 2}
    for colour, mean in enumerate((-2.0, 0.0, 2.0)):
        g = model.generate(2000, seed=colour, conditions={"colour": colour}, controls={"guidance": 1.0})
        assert np.all(g[:, 1 + colour] == 1.0)
        assert abs(np.median(g[:, 0]) - mean) < 0.4
    free = model.generate(20000, seed=7)  # unfixed condition segments follow the training frequencies
    np.testing.assert_allclose(free[:, 1:4].mean(axis=0), CAT_FREQ, atol=0.02)
    with pytest.raises(ConditionError):
        model.generate(10, seed=0, conditions={"colour": 5})


# --- grids --------------------------------------------------------------------------------------
def test_grid_recovers_class_means(grid_model):
    s = grid_model.sample(900, seed=1, controls={"guidance": 1.0})
    assert s.x.shape == (900, 8, 8, 1) and s.x.min() >= -1.0 and s.x.max() <= 1.0
    patterns = class_patterns()
    for k in range(3):
        mean = s.x[s.labels[:, 0] == k].mean(axis=0)
        # tolerance: mean absolute error per pixel below 0.12 (patterns are ±0.8 with N(0, 0.1) noise)
        assert np.abs(mean - patterns[k]).mean() < 0.12
    # unconditioned labels follow the training frequencies (0.5, 0.3, 0.2)
    np.testing.assert_allclose(np.bincount(s.labels[:, 0], minlength=3) / 900, (0.5, 0.3, 0.2), atol=0.05)
    fixed = grid_model.sample(50, seed=2, conditions={"label": 2})
    assert (fixed.labels == 2).all() and (nearest_pattern(fixed.x) == 2).mean() > 0.9


def test_distilled_grid_keeps_the_class_means(grid_model):
    s = grid_model.sample(900, seed=1)  # no DDIM control: the one-step student
    assert not np.array_equal(s.x, grid_model.sample(900, seed=1, controls={"distilled": False}).x)
    assert s.x.min() >= -1.0 and s.x.max() <= 1.0
    patterns = class_patterns()
    for k in range(3):
        # tolerance: mean absolute error per pixel below 0.12, as the teacher's (measured 0.02-0.04)
        assert np.abs(s.x[s.labels[:, 0] == k].mean(axis=0) - patterns[k]).mean() < 0.12
    assert (nearest_pattern(s.x) == s.labels[:, 0]).mean() > 0.95


def test_guidance_raises_conditional_accuracy():
    x, codes = labelled_grids(1500)
    model = diffusion.family.build(GRID_SPEC, GRID, 0)  # briefly trained: the conditional model alone is unsure
    model.train_on(x, labels=codes, epochs=8, batch_size=128, learning_rate=2e-3, callbacks=[], seed=0)

    def accuracy(w):
        s = model.sample(600, seed=1, controls={"guidance": w, "steps": 20})
        return (nearest_pattern(s.x) == s.labels[:, 0]).mean()

    plain, guided = accuracy(0.0), accuracy(3.0)
    assert guided > plain + 0.05 and guided > 0.9


def test_guided_span_picks_the_steps_of_the_interval():
    schedule = diffusion.ddim_schedule(diffusion.cosine_alpha_bar(1000), 20, eta=0.0)
    sigma = np.sqrt((1 - schedule["ab"].astype("float64")) / schedule["ab"])
    assert diffusion.guided_span(schedule, None) == (0, 20)
    first, stop = diffusion.guided_span(schedule, (0.3, 2.0))
    assert np.all((sigma[first:stop] > 0.3) & (sigma[first:stop] <= 2.0))
    assert sigma[first - 1] > 2.0 and sigma[stop] <= 0.3 and stop - first == 10
    assert diffusion.guided_span(schedule, (1e6, 2e6)) == (0, 0)


def test_guidance_interval_guides_exactly_its_steps(grid_model):
    def sample(**controls):
        return grid_model.sample(200, seed=4, controls={"steps": 10, "guidance": 2.0, **controls}).x

    everywhere = sample()
    np.testing.assert_array_equal(sample(guidance_interval=(0.0, 1e9)), everywhere)
    nowhere = sample(guidance_interval=(1e6, 2e6))
    np.testing.assert_array_equal(nowhere, sample(guidance=0.0))
    middle = sample(guidance_interval=(0.3, 2.0))
    assert not np.array_equal(middle, everywhere) and not np.array_equal(middle, nowhere)
    with pytest.raises(UsageError, match="guidance_interval"):
        sample(guidance_interval=(2.0, 1.0))
    with pytest.raises(UsageError, match="guidance_interval"):
        diffusion.family.build(GRID_SPEC, {**GRID, "guidance_interval": [-1.0, 1.0]}, 0)


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "controls, message",
    [({"stepz": 10}, "unknown control 'stepz'"), ({"steps": 0}, "steps"), ({"steps": 100000}, "steps"),
     ({"eta": 2.0}, "eta"), ({"guidance": -1}, "guidance")],
)
def test_bad_controls_raise(table_model, controls, message):
    with pytest.raises(UsageError, match=message):
        table_model.generate(5, seed=0, controls=controls)


def test_steps_beyond_timesteps_and_bad_data_raise():
    model = diffusion.family.build(TABLE_SPEC, {**TABLE, "timesteps": 50}, 0)
    model.train_on(mixed_table(200), epochs=1, batch_size=100, learning_rate=1e-3, callbacks=[], seed=0)
    with pytest.raises(UsageError, match="exceeds the model's 50 timesteps"):
        model.generate(5, seed=0, controls={"steps": 60})
    with pytest.raises(DataError, match="shape"):
        model.train_on(np.zeros((10, 3), "float32"), epochs=1, batch_size=10, learning_rate=1e-3, callbacks=[])
    with pytest.raises(UsageError, match="labels"):
        model.sample(5, seed=0, labels=np.zeros((5, 1), "int32"))


def test_build_rejects_bad_specs_and_options():
    with pytest.raises(UsageError, match="takes table or grid"):
        diffusion.family.build(DataSpec("tokens", (8,), vocab_size=5), {}, 0)
    with pytest.raises(UsageError, match="not a categorical"):
        diffusion.family.build(TABLE_SPEC, {"condition_on": ["x"]}, 0)
    with pytest.raises(UsageError, match="table data only"):
        diffusion.family.build(GRID_SPEC, {"condition_on": ["label"]}, 0)
    with pytest.raises(DataError, match="labels"):
        diffusion.family.build(GRID_SPEC, GRID, 0).train_on(
            labelled_grids(20)[0], epochs=1, batch_size=10, learning_rate=1e-3, callbacks=[]
        )


def test_validation_loss_is_logged_and_ema_is_chosen_by_length():
    model = diffusion.family.build(TABLE_SPEC, TABLE, 0)
    history = model.train_on(mixed_table(500), epochs=3, batch_size=100, learning_rate=1e-3, callbacks=[],
                             validation_split=0.2, seed=0)
    assert len(history["val_loss"]) == 3 and all(np.isfinite(history["val_loss"]))
    options = diffusion.DiffusionOptions()
    assert options.ema_momentum(50) == 0.0 and options.ema_momentum(1000) == pytest.approx(0.99)
    assert options.ema_momentum(10**6) == 0.999 and diffusion.DiffusionOptions(ema=0.0).ema_momentum(10**6) == 0.0


def test_grid_channels_scale_with_image_size():
    assert diffusion.default_channels((8, 8, 1)) == [16, 32]
    assert diffusion.default_channels((28, 28)) == [32, 64]
    assert diffusion.default_channels((64, 64, 3)) == [32, 64, 128]
    assert diffusion.family.build(GRID_SPEC, {"embedding_dim": 32}, 0).channels == [16, 32]
    assert diffusion.family.build(GRID_SPEC, {**GRID, "channels": [8, 16, 24]}, 0).channels == [8, 16, 24]
    with pytest.raises(UsageError, match="channels"):
        diffusion.family.build(GRID_SPEC, {"channels": []}, 0)
