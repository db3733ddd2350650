"""The images plugin's metrics: known answers for FD, KID, PRDC and memorisation, and
``evaluate_images`` / report.html on scikit-learn's digits."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import linalg
from scipy.spatial.distance import cdist

from domaingen.errors import DataError
from domaingen_plugins.images import metrics as M
from domaingen_plugins.images.features import FeatureClassifier
from domaingen_plugins.images.options import ImageEvaluateOptions
from domaingen_plugins.images.records import ImageSet

CLASSES = tuple(f"<i>d{i}</i>" for i in range(10))  # names that need HTML escaping


def _gaussian(rng, n, mean, cov):
    return rng.multivariate_normal(mean, cov, size=n)


# --- Fréchet distance --------------------------------------------------------------------------
def test_frechet_identical_sets_is_zero():
    f = np.random.default_rng(0).normal(size=(500, 8))
    assert M.frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


def test_frechet_matches_closed_form_and_is_symmetric():
    rng = np.random.default_rng(1)
    mu1, mu2 = np.array([0.0, 1.0, -1.0]), np.array([1.0, 0.5, 0.0])
    a = rng.normal(size=(3, 3))
    s1 = a @ a.T + np.eye(3)
    s2 = np.diag([0.5, 2.0, 1.0])
    exact = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(linalg.sqrtm(s1 @ s2))))
    f1, f2 = _gaussian(rng, 40_000, mu1, s1), _gaussian(rng, 40_000, mu2, s2)
    fd = M.frechet_distance(f1, f2)
    assert fd == pytest.approx(exact, rel=0.03)
    assert M.frechet_distance(f2, f1) == pytest.approx(fd, rel=1e-7)


def test_frechet_singular_covariance_is_finite():
    rng = np.random.default_rng(2)
    f1 = np.c_[rng.normal(size=(200, 4)), np.zeros(200)]  # a dead unit: zero variance
    f2 = np.c_[rng.normal(size=(200, 4)) + 1.0, np.zeros(200)]
    assert np.isfinite(M.frechet_distance(f1, f2)) and M.frechet_distance(f1, f2) > 1.0
    assert np.isnan(M.frechet_distance(f1[:1], f2))


# --- KID -----------------------------------------------------------------------------------------
def test_kid_same_distribution_near_zero_and_shift_positive():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2000, 8)), rng.normal(size=(2000, 8))
    mean, std = M.kernel_inception_distance(a, b, subsets=50, subset_size=500, rng=rng)
    assert abs(mean) < std
    mean, std = M.kernel_inception_distance(a, b + 0.5, subsets=50, subset_size=500, rng=rng)
    assert mean > 5 * std > 0


def test_kid_is_the_unbiased_polynomial_mmd():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1.0) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = M.kernel_inception_distance(x, y, subsets=3, subset_size=1000, rng=rng)
    assert mean == pytest.approx(xx + yy - 2 * xy, rel=1e-9) and std == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(M.kernel_inception_distance(x[:1], y, rng=rng)[0])


# --- PRDC ----------------------------------------------------------------------------------------
def _prdc_reference(real, fake, k):
    """Naeem et al.'s formulas with full distance matrices (their prdc package, in plain numpy)."""
    d_rr = np.sqrt(((real[:, None] - real[None]) ** 2).sum(-1))
    d_ff = np.sqrt(((fake[:, None] - fake[None]) ** 2).sum(-1))
    d_rf = np.sqrt(((real[:, None] - fake[None]) ** 2).sum(-1))
    r_real = np.sort(d_rr, axis=1)[:, k]
    r_fake = np.sort(d_ff, axis=1)[:, k]
    return {
        "precision": (d_rf < r_real[:, None]).any(axis=0).mean(),
        "recall": (d_rf < r_fake[None, :]).any(axis=1).mean(),
        "density": (1.0 / k) * (d_rf < r_real[:, None]).sum(axis=0).mean(),
        "coverage": (d_rf.min(axis=1) < r_real).mean(),
    }


def test_prdc_matches_brute_force_reference(monkeypatch):
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(70, 3)), rng.normal(size=(50, 3)) * 1.3 + 0.2
    expected = _prdc_reference(real, fake, 3)
    got = M.prdc(real, fake, k=3)
    assert got == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(M, "_MAX_CELLS", 64)  # many small chunks: the same answer
    assert M.prdc(real, fake, k=3) == pytest.approx(expected, abs=1e-12)


def test_prdc_known_answers():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(2000, 4))
    same = M.prdc(real, rng.normal(size=(2000, 4)), k=5)
    assert same["precision"] > 0.95 and same["recall"] > 0.95 and same["coverage"] > 0.95
    assert same["density"] == pytest.approx(1.0, abs=0.1)
    far = M.prdc(real, rng.normal(size=(500, 4)) + 50.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    collapsed = M.prdc(real, np.repeat(real[:1], 500, axis=0), k=5)
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05 and collapsed["coverage"] < 0.05


def test_prdc_tiny_sets_give_none():
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(20, 2)), rng.normal(size=(3, 2))
    out = M.prdc(real, fake, k=5)
    assert out["recall"] is None and out["precision"] is not None
    assert M.prdc(real[:5], fake, k=5) == dict.fromkeys(("precision", "recall", "density", "coverage"))
    assert M.prdc(real, fake[:0], k=5)["precision"] is None


def test_nearest_distances_matches_cdist(monkeypatch):
    rng = np.random.default_rng(8)
    q, r = rng.normal(size=(40, 3)), rng.normal(size=(30, 3))
    monkeypatch.setattr(M, "_MAX_CELLS", 100)
    np.testing.assert_allclose(M.nearest_distances(q, r, 2), np.sort(cdist(q, r), axis=1)[:, 1])


# --- memorisation --------------------------------------------------------------------------------
def test_memorisation_copies_and_fresh_samples():
    rng = np.random.default_rng(9)
    train, hold, fresh = (rng.normal(size=(500, 6)) for _ in range(3))
    pixels = rng.integers(0, 256, (500, 4, 4, 1)).astype(np.uint8)
    copied = M.memorisation(train, hold, train[:200].copy(), pixels, pixels[:200].copy())
    assert copied["memorised_share"] == 1.0
    assert copied["exact_copies"] == 200 and copied["exact_copy_share"] == 1.0
    new_pixels = rng.integers(0, 256, (300, 4, 4, 1)).astype(np.uint8)
    novel = M.memorisation(train, hold, fresh[:300], pixels, new_pixels)
    assert novel["memorised_share"] < 0.05 and novel["exact_copies"] == 0
    assert novel["memorisation_reference"] == "holdout"
    no_holdout = M.memorisation(train, None, train[:10], pixels, pixels[:10])
    assert no_holdout["memorised_share"] == 1.0 and no_holdout["memorisation_reference"].startswith("train")
    empty = M.memorisation(train, hold, fresh[:0], pixels, new_pixels[:0])
    assert empty["memorised_share"] is None and empty["exact_copy_share"] is None


# --- evaluate_images on digits -------------------------------------------------------------------
@pytest.fixture(scope="module")
def digit_sets(real_digits):
    """(train 1000, holdout 400, real "synthetic" 397) ImageSets with HTML-like class names."""
    images, labels = real_digits
    order = np.random.default_rng(0).permutation(len(images))
    parts = order[:1000], order[1000:1400], order[1400:]
    return tuple(ImageSet(images[p], labels[p], CLASSES) for p in parts)


@pytest.fixture(scope="module")
def digit_classifier(digit_sets):
    train = digit_sets[0]
    return FeatureClassifier.fit(train.images, train.labels, 10, seed=0, epochs=8)


def _evaluate(train, synthetic, holdout, classifier=None, out_dir=None, seed=5, **options):
    opts = ImageEvaluateOptions(**{"classifier_epochs": 2, **options})
    return M.evaluate_images(train, synthetic, holdout, opts, out_dir, np.random.default_rng(seed), classifier=classifier)


def test_real_images_score_like_real(digit_sets, digit_classifier):
    train, holdout, real = digit_sets
    report = _evaluate(train, real, holdout, digit_classifier)
    json.dumps(report, allow_nan=False)
    assert 0.4 < report["fd_ratio"] < 2.5
    assert report["conditional_accuracy"] > 0.85 and report["classifier_holdout_accuracy"] > 0.85
    assert report["precision"] > 0.9 and report["coverage"] > 0.9
    assert report["memorised_share"] < 0.05 and report["exact_copies"] == 0
    assert report["reference"] == "holdout"
    assert report["sizes"]["synthetic_scored"] == len(real) and report["sizes"]["train_floor"] == len(real)
    rows = report["per_class"]
    assert [r["class"] for r in rows] == list(CLASSES)
    assert sum(r["synthetic_count"] for r in rows) == len(real)
    assert all(isinstance(r["conditional_accuracy"], float) for r in rows)


def test_shuffled_labels_fail_conditional_accuracy(digit_sets, digit_classifier):
    train, holdout, real = digit_sets
    shuffled = ImageSet(real.images, np.random.default_rng(1).permutation(real.labels), CLASSES)
    report = _evaluate(train, shuffled, holdout, digit_classifier)
    assert report["conditional_accuracy"] < 0.25
    assert report["classifier_holdout_accuracy"] > 0.85


def test_noise_images_are_far(digit_sets, digit_classifier):
    train, holdout, real = digit_sets
    noise = np.random.default_rng(2).integers(0, 256, real.images.shape).astype(np.uint8)
    report = _evaluate(train, ImageSet(noise, real.labels, CLASSES), holdout, digit_classifier)
    assert report["fd_ratio"] > 20
    assert report["kid"] > 10 * max(report["kid_floor"], 0.1 * report["kid_std"])


def test_copies_tiny_sets_and_absent_classes(digit_sets, digit_classifier):
    train, holdout, _ = digit_sets
    copies = train.take(np.flatnonzero(train.labels == 3)[:4])
    report = _evaluate(train, copies, holdout, digit_classifier, max_images=10)
    assert report["exact_copies"] == 4 and report["memorised_share"] == 1.0
    assert report["recall"] is None and isinstance(report["precision"], float)  # 4 synthetic images < k + 1
    assert _evaluate(train, copies, holdout.take(np.arange(5)), digit_classifier)["precision"] is None
    per_class = {r["class"]: r for r in report["per_class"]}
    assert per_class[CLASSES[3]]["synthetic_count"] == 4
    assert per_class[CLASSES[0]]["conditional_accuracy"] is None and per_class[CLASSES[0]]["synthetic_count"] == 0
    assert report["sizes"]["holdout_scored"] == 10
    json.dumps(report, allow_nan=False)


def test_no_holdout_compares_with_train(digit_sets, digit_classifier):
    train, _, real = digit_sets
    report = _evaluate(train, real, None, digit_classifier)
    assert report["reference"].startswith("train")
    assert report["fd_floor"] is None and report["fd_ratio"] is None and report["fd_classifier"] > 0
    assert report["memorisation_reference"].startswith("train")


def test_mismatched_images_and_classes_are_data_errors(digit_sets, digit_classifier):
    train, holdout, _ = digit_sets
    bigger = ImageSet(np.zeros((5, 8, 8, 3), np.uint8))
    with pytest.raises(DataError, match=r"8x8 with 3 channels.*8x8 with 1 channel"):
        _evaluate(train, bigger, holdout, digit_classifier)
    strangers = ImageSet(train.images[:5], np.zeros(5, np.int64), ("cat",))
    with pytest.raises(DataError, match="cat"):
        _evaluate(train, strangers, holdout, digit_classifier)


def test_class_names_are_matched_by_name(digit_sets, digit_classifier):
    train, holdout, real = digit_sets
    reordered = tuple(reversed(CLASSES))
    renamed = ImageSet(real.images, 9 - real.labels, reordered)
    assert (_evaluate(train, renamed, holdout, digit_classifier)["conditional_accuracy"]
            == _evaluate(train, real, holdout, digit_classifier)["conditional_accuracy"])


def test_report_html_escaped_and_reproducible(digit_sets, tmp_path):
    train, holdout, real = digit_sets
    train = train.take(np.arange(600))
    first = _evaluate(train, real, holdout, out_dir=tmp_path / "a", seed=11)
    second = _evaluate(train, real, holdout, out_dir=tmp_path / "b", seed=11)
    assert first == second and first["report_html"] == "report.html"
    a, b = (tmp_path / d / "report.html" for d in "ab")
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert "&lt;i&gt;d3&lt;/i&gt;" in text and "<i>d3</i>" not in text
    assert "data:image/png;base64," in text and "http" not in text.replace("http-equiv", "")
    assert not list(tmp_path.glob("*/.report.html.*"))  # written atomically


def test_metric_definitions_cover_the_report(digit_sets, digit_classifier):
    train, holdout, real = digit_sets
    report = _evaluate(train, real, holdout, digit_classifier)
    names = [m.name for m in M.METRICS]
    assert len(names) == len(set(names))
    assert {m.direction for m in M.METRICS} <= {"higher-is-better", "lower-is-better", "informative"}
    assert set(names) <= set(report)
    directions = {m.name: m.direction for m in M.METRICS}
    assert directions["fd_classifier"] == "lower-is-better" and directions["coverage"] == "higher-is-better"
    assert directions["fd_floor"] == "informative" and all(m.formula for m in M.METRICS)
