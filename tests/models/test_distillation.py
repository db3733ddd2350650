"""The distilled one-step sampler of the diffusion family (``distill: true``) on tables: it
learns the teacher's map (known answers on a mixture and category frequencies), is chosen
by the controls as documented, saves, reloads and reproduces. The grid student's class
means are tested with the distilled grid model of test_diffusion.py."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.errors import UsageError
from domaingen.models import diffusion

from .conftest import BIN_P, CAT_FREQ, MIX_MEANS, MIX_WEIGHT, TABLE_SPEC, check_table_rows, mixed_table

keras = keras_module()
DISTILL = {"distill": True, "distill_samples": 8000, "distill_epochs": 40, "distill_batch_size": 256}


@pytest.fixture(scope="module")
def distilled_table():
    model = diffusion.family.build(TABLE_SPEC, {"hidden": 64, "depth": 2, "embedding_dim": 32, **DISTILL}, 0)
    history = model.train_on(mixed_table(3000), epochs=60, batch_size=256, learning_rate=2e-3, callbacks=[], seed=0)
    return model, history


def test_student_learns_the_teachers_map(distilled_table):
    model, history = distilled_table
    losses = history["distill_loss"]
    assert len(losses) == DISTILL["distill_epochs"] and losses[-1] < 0.5 * losses[0]
    student = model.generate(20000, seed=1)
    teacher = model.generate(20000, seed=1, controls={"distilled": False})
    check_table_rows(student)
    # the same starting noise: the student's value lands near the teacher's (data spread ~1.7)
    assert np.median(np.abs(student[:, 0] - teacher[:, 0])) < 0.2
    low = student[:, 0] < -0.25
    # tolerances: component weight ±0.07, component means ±0.35, category shares ±0.04, binary ±0.06
    assert abs(low.mean() - MIX_WEIGHT) < 0.07
    assert abs(student[low, 0].mean() - MIX_MEANS[0]) < 0.35 and abs(student[~low, 0].mean() - MIX_MEANS[1]) < 0.35
    np.testing.assert_allclose(student[:, 1:4].mean(axis=0), CAT_FREQ, atol=0.04)
    assert abs(student[:, 4].mean() - BIN_P) < 0.06


def test_controls_choose_the_sampler(distilled_table):
    model, _ = distilled_table
    student = model.generate(300, seed=2)
    np.testing.assert_array_equal(student, model.generate(300, seed=2, controls={"distilled": True}))
    teacher = model.generate(300, seed=2, controls={"distilled": False})
    assert not np.array_equal(student, teacher)
    np.testing.assert_array_equal(model.generate(300, seed=2, controls={"steps": 20}), teacher)  # a DDIM control: the teacher
    plain = diffusion.family.build(TABLE_SPEC, {"hidden": 16, "depth": 1, "embedding_dim": 8}, 0)
    with pytest.raises(UsageError, match="distill: true"):
        plain.generate(5, seed=0, controls={"distilled": True})


def test_distilled_model_saves_and_reproduces(distilled_table, tmp_path):
    model, _ = distilled_table
    model.save(tmp_path / "distilled.keras")
    loaded = keras.saving.load_model(tmp_path / "distilled.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.generate(500, seed=3), model.generate(500, seed=3))
    np.testing.assert_array_equal(model.generate(500, seed=3), model.generate(500, seed=3))
    assert not np.array_equal(model.generate(500, seed=3), model.generate(500, seed=4))


def test_same_seed_gives_the_same_student():
    def fit(seed):
        model = diffusion.family.build(TABLE_SPEC, {"hidden": 16, "depth": 1, "embedding_dim": 8, "distill": True,
                                                    "distill_samples": 512, "distill_epochs": 2}, seed)
        model.train_on(mixed_table(400), epochs=2, batch_size=100, learning_rate=1e-3, callbacks=[], seed=seed)
        return model.generate(200, seed=0)

    np.testing.assert_array_equal(fit(5), fit(5))  # (a seed's effect on training: test_diffusion.py)


def test_distill_refuses_multinomial_categories():
    with pytest.raises(UsageError, match="distill"):
        diffusion.family.build(TABLE_SPEC, {"distill": True, "categorical": "multinomial"}, 0)
