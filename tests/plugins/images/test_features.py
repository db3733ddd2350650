"""The images plugin's feature classifier: accuracy on digits, determinism, proxy tasks, sizes."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen_plugins.images.features import FEATURE_DIM, FeatureClassifier, _stem_stride


@pytest.fixture(scope="module")
def digits_split(real_digits):
    images, labels = real_digits
    order = np.random.default_rng(0).permutation(len(images))
    train, test = order[:1300], order[1300:]
    return images[train], labels[train], images[test], labels[test]


@pytest.fixture(scope="module")
def trained(digits_split):
    x, y, _, _ = digits_split
    return FeatureClassifier.fit(x, y, 10, seed=0, epochs=8)


def test_digits_held_out_accuracy(trained, digits_split):
    _, _, x_test, y_test = digits_split
    assert trained.mode == "classes"
    assert trained.accuracy(x_test, y_test) >= 0.9
    pred = trained.predict(x_test)
    assert pred.dtype == np.int64 and pred.shape == (len(x_test),)
    feats = trained.features(x_test)
    assert feats.dtype == np.float64 and feats.shape == (len(x_test), FEATURE_DIM)
    assert np.isfinite(feats).all()


def test_empty_input_and_wrong_shape(trained):
    assert trained.features(np.zeros((0, 8, 8, 1), np.uint8)).shape == (0, FEATURE_DIM)
    assert trained.accuracy(np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0)) is None
    with pytest.raises(ValueError, match="shape"):
        trained.features(np.zeros((3, 9, 9, 1), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        trained.features(np.zeros((3, 8, 8, 1), np.float32))


def test_same_seed_same_features(digits_split):
    x, y, x_test, _ = digits_split
    a = FeatureClassifier.fit(x[:300], y[:300], 10, seed=7, epochs=1).features(x_test[:50])
    b = FeatureClassifier.fit(x[:300], y[:300], 10, seed=7, epochs=1).features(x_test[:50])
    c = FeatureClassifier.fit(x[:300], y[:300], 10, seed=8, epochs=1).features(x_test[:50])
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_unlabelled_trains_rotation_task(digits_split):
    x, _, x_test, _ = digits_split
    clf = FeatureClassifier.fit(x[:1000], None, 0, seed=1, epochs=3)
    assert clf.mode == "rotation" and clf.n_outputs == 4 and clf.trained_on == 4000
    feats = clf.features(x_test)
    assert feats.shape == (len(x_test), FEATURE_DIM) and np.isfinite(feats).all() and feats.std() > 0
    # the proxy task is learnt: rotations of unseen digits are told apart better than chance (0.25)
    rotated = np.concatenate([np.rot90(x_test, k, axes=(1, 2)) for k in range(4)])
    codes = np.repeat(np.arange(4), len(x_test))
    assert clf.accuracy(rotated, codes) > 0.4


def test_single_class_uses_proxy_and_non_square_flips():
    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (40, 8, 8, 1)).astype(np.uint8)
    assert FeatureClassifier.fit(square, np.zeros(40, np.int64), 1, seed=0, epochs=1).mode == "rotation"
    wide = rng.integers(0, 256, (40, 8, 20, 1)).astype(np.uint8)
    clf = FeatureClassifier.fit(wide, None, 0, seed=0, epochs=1)
    assert clf.mode == "flip" and clf.features(wide).shape == (40, FEATURE_DIM)


def test_larger_colour_images_and_training_cap():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (48, 64, 64, 3)).astype(np.uint8)
    labels = np.arange(48) % 3
    clf = FeatureClassifier.fit(images, labels, 3, seed=0, epochs=1, max_train=32)
    assert clf.trained_on == 32
    assert clf.features(images[:5]).shape == (5, FEATURE_DIM)
    assert [_stem_stride(s) for s in (8, 12, 16, 28, 32, 64, 512)] == [1, 1, 2, 2, 4, 4, 4]
