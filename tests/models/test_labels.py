"""Labels beside grid samples: drawing label codes, and class-conditional VAE / GAN that
learn a known answer (three classes whose images differ by a known mean pattern)."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen.errors import ConditionError, UsageError
from domaingen.models import gan, vae
from domaingen.models._labels import draw_labels, label_one_hot
from domaingen.models.base import Samples
from domaingen.spec import DataSpec, Label

from .conftest import TABLE_SPEC, weights_equal

CLASS_FREQ = (0.5, 0.3, 0.2)
SPEC = DataSpec("grid", (8, 8, 1), labels=(Label("label", ("bars", "stripes", "dots"), CLASS_FREQ),))


def class_patterns() -> np.ndarray:
    """(3, 8, 8, 1) mean images in [-1, 1]: horizontal bars, vertical stripes, corner dots."""
    p = np.full((3, 8, 8, 1), -0.8, "float32")
    p[0, 2:4, :, 0] = p[0, 5:7, :, 0] = 0.8
    p[1, :, 1:3, 0] = p[1, :, 5:7, 0] = 0.8
    p[2, :2, :2, 0] = p[2, -2:, -2:, 0] = 0.8
    return p


def labelled_grids(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images = their class pattern + N(0, 0.1) noise; classes drawn with CLASS_FREQ."""
    rng = np.random.default_rng(seed)
    codes = rng.choice(3, size=n, p=CLASS_FREQ).astype("int32")
    x = class_patterns()[codes] + rng.normal(0, 0.1, (n, 8, 8, 1)).astype("float32")
    return np.clip(x, -1, 1).astype("float32"), codes[:, None]


def nearest_pattern(x: np.ndarray) -> np.ndarray:
    """The class whose mean pattern is nearest to each image (the known-answer classifier)."""
    d = ((x[:, None] - class_patterns()[None]) ** 2).reshape(len(x), 3, -1).sum(-1)
    return d.argmin(axis=1)


# --- drawing labels -----------------------------------------------------------------------------


def test_unconditioned_labels_follow_training_frequencies():
    codes = draw_labels(SPEC, 20000, seed=3)
    assert codes.shape == (20000, 1) and codes.dtype == np.int32
    np.testing.assert_allclose(np.bincount(codes[:, 0]) / 20000, CLASS_FREQ, atol=0.015)
    np.testing.assert_array_equal(codes, draw_labels(SPEC, 20000, seed=3))


def test_conditioned_and_balanced_labels():
    assert (draw_labels(SPEC, 50, seed=0, conditions={"label": 2}) == 2).all()
    balanced = draw_labels(SPEC, 9, seed=0, balance="label", offset=1)[:, 0]
    np.testing.assert_array_equal(balanced, [1, 2, 0, 1, 2, 0, 1, 2, 0])


@pytest.mark.parametrize(
    "conditions, message",
    [({"label": 3}, "use 0..2"), ({"colour": 0}, "names no label"), ({"label": "dots"}, "category index")],
)
def test_impossible_label_conditions_are_refused(conditions, message):
    with pytest.raises(ConditionError, match=message):
        draw_labels(SPEC, 5, seed=0, conditions=conditions)


def test_one_hots_are_concatenated_in_spec_order():
    spec = DataSpec("grid", (2, 2), labels=(Label("a", ("x", "y")), Label("b", ("p", "q", "r"))))
    np.testing.assert_array_equal(label_one_hot(spec, np.array([[1, 2], [0, 0]])), [[0, 1, 0, 0, 1], [1, 0, 1, 0, 0]])


def test_a_table_has_no_grid_labels_to_draw():
    assert draw_labels(TABLE_SPEC, 4, seed=0) is None


# --- conditional families -------------------------------------------------------------------------

FAMILIES = {
    "vae": (vae.family, {"latent_dim": 4, "conv_filters": [16, 32]}, 60, 3e-3),
    "gan": (gan.family, {"noise_dim": 16, "conv_filters": [16, 32]}, 60, 1e-3),
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request):
    family, options, epochs, lr = FAMILIES[request.param]
    x, codes = labelled_grids(1200)
    model = family.build(SPEC, options, 0)
    model.train_on(x, labels=codes, epochs=epochs, batch_size=100, learning_rate=lr, callbacks=[], seed=0)
    return request.param, model


def test_conditional_models_reproduce_each_class_mean(trained):
    name, model = trained
    patterns = class_patterns()
    for k in range(3):
        samples = model.sample(300, seed=1, labels=np.full((300, 1), k, "int32"))
        assert isinstance(samples, Samples) and (samples.labels == k).all()
        err = np.abs(samples.x.mean(axis=0) - patterns[k]).mean()
        assert err < 0.2, f"{name}: class {k} mean image is {err:.3f} from its pattern (tolerance 0.2)"
        accuracy = (nearest_pattern(samples.x) == k).mean()
        assert accuracy >= 0.95, f"{name}: only {accuracy:.0%} of class-{k} samples look like class {k}"


def test_unconditioned_samples_carry_the_labels_they_were_drawn_for(trained):
    name, model = trained
    samples = model.sample(3000, seed=2)
    np.testing.assert_allclose(np.bincount(samples.labels[:, 0], minlength=3) / 3000, CLASS_FREQ, atol=0.03)
    assert (nearest_pattern(samples.x) == samples.labels[:, 0]).mean() >= 0.95
    only = model.sample(100, seed=2, conditions={"label": 1})
    assert (only.labels == 1).all() and (nearest_pattern(only.x) == 1).mean() >= 0.95


def test_conditional_sampling_is_seeded_and_survives_saving(trained, tmp_path):
    import keras

    name, model = trained
    a = model.sample(64, seed=9)
    b = model.sample(64, seed=9)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.labels, b.labels)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    again = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert weights_equal(model, again)
    c = again.sample(64, seed=9)
    np.testing.assert_array_equal(a.x, c.x)
    np.testing.assert_array_equal(a.labels, c.labels)


@pytest.mark.parametrize("family", [vae.family, gan.family])
def test_labelled_grids_need_their_labels_to_train(family):
    model = family.build(SPEC, {"conv_filters": [8]}, 0)
    x, _ = labelled_grids(20)
    with pytest.raises(Exception, match="labels"):
        model.train_on(x, epochs=1, batch_size=10, learning_rate=1e-3, callbacks=[], seed=0)


@pytest.mark.parametrize("family", [vae.family, gan.family])
def test_unknown_sampling_controls_name_the_family(family):
    model = family.build(SPEC, {"conv_filters": [8]}, 0)
    with pytest.raises(UsageError, match=f"sampling controls of the {family.name} family.*top_k.*it takes: temperature"):
        model.sample(2, seed=0, controls={"top_k": 5})


def test_temperature_zero_gives_one_image_per_label(trained):
    """z (VAE prior draw, GAN noise) scaled by 0: the decoder of z = 0 for each label."""
    _, model = trained
    labels = np.array([[0], [0], [2], [2]], "int32")
    cold = model.sample(4, seed=0, controls={"temperature": 0.0}, labels=labels).x
    np.testing.assert_allclose(cold[1], cold[0], atol=1e-6)
    np.testing.assert_allclose(cold[3], cold[2], atol=1e-6)
    assert np.abs(cold[0] - cold[2]).max() > 0.5
