"""Metrics of the images plugin, on the features of a classifier trained on the real images.

The distance functions are plain numpy / scipy (float64) on feature matrices (n, d):
Fréchet distance (as pytorch-fid computes it), kernel inception distance (Bińkowski et al.
2018), precision / recall / density / coverage (Naeem et al. 2020) and a memorisation
check. ``evaluate_images`` trains the ``FeatureClassifier`` (features.py), scores a
synthetic ``ImageSet`` with all of them, each beside the value two real samples give
(its floor), and writes report.html. The formulas are listed in ``METRICS``. No function
builds an all-pairs matrix of more than ~4 million distances at once.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from domaingen.errors import DataError
from domaingen.evaluation import to_jsonable
from domaingen.plugin import Metric

from .options import ImageEvaluateOptions
from .records import ImageSet

__all__ = [
    "METRICS",
    "frechet_distance",
    "kernel_inception_distance",
    "prdc",
    "memorisation",
    "nearest_distances",
    "evaluate_images",
]

METRICS = [
    Metric("fd_classifier", "lower-is-better",
           "Fréchet distance ||mu_s - mu_r||^2 + Tr(S_s + S_r - 2 (S_s S_r)^(1/2)) between Gaussians fitted to the "
           "features (penultimate layer, 64 wide) of the synthetic and the held-out real images (the training "
           "images without a holdout), from a classifier trained on the real training images (not Inception: "
           "comparable only between evaluations of the same training images and seed)"),
    Metric("fd_floor", "informative",
           "the same Fréchet distance between training and held-out real images (as many training images as "
           "synthetic ones scored): what two real samples give; null without a holdout"),
    Metric("fd_ratio", "lower-is-better", "fd_classifier / fd_floor (about 1: as far from the held-out images as real data)"),
    Metric("kid", "lower-is-better",
           "kernel inception distance: unbiased MMD^2 with k(x, y) = (x.y / d + 1)^3 between synthetic and held-out "
           "real features, mean over 100 subsets of min(1000, n/2) images each (Bińkowski et al. 2018)"),
    Metric("kid_std", "informative", "standard deviation of the subsets' MMD^2"),
    Metric("kid_floor", "informative", "the same KID between training and held-out real images (about 0)"),
    Metric("conditional_accuracy", "higher-is-better",
           "share of synthetic images the classifier assigns to the class they were generated for "
           "(labelled training and synthetic images only)"),
    Metric("classifier_holdout_accuracy", "informative",
           "the classifier's accuracy on the held-out real images: the ceiling conditional_accuracy is read against"),
    Metric("precision", "higher-is-better",
           "share of synthetic images inside the k-NN ball of at least one held-out real image "
           "(radius: distance to its k-th nearest real neighbour, itself excluded; Naeem et al. 2020)"),
    Metric("recall", "higher-is-better",
           "share of held-out real images inside the k-NN ball (among synthetic images) of at least one synthetic image"),
    Metric("density", "higher-is-better",
           "(1 / kM) sum_j sum_i [synthetic j inside the ball of real i], M synthetic images: 1 for samples like the "
           "real ones, above 1 where they crowd dense real regions"),
    Metric("coverage", "higher-is-better",
           "share of held-out real images whose k-NN ball contains at least one synthetic image"),
    Metric("precision_floor", "informative", "precision of training vs held-out real images (what real data scores)"),
    Metric("recall_floor", "informative", "recall of training vs held-out real images"),
    Metric("density_floor", "informative", "density of training vs held-out real images"),
    Metric("coverage_floor", "informative", "coverage of training vs held-out real images"),
    Metric("memorised_share", "lower-is-better",
           "share of synthetic images whose nearest training image (feature distance) is at most t, t = 1st "
           "percentile of the held-out images' nearest-training distances (of the training images' nearest other "
           "training image without a holdout); fresh real images score about 0.01"),
    Metric("exact_copies", "lower-is-better", "number of synthetic images byte-identical to a training image"),
    Metric("exact_copy_share", "lower-is-better", "exact_copies / number of synthetic images"),
    Metric("class_distribution_tv", "lower-is-better",
           "1/2 sum_c |p_train(c) - p_synthetic(c)| over the classes (labelled synthetic images)"),
]

_MAX_CELLS = 1 << 22  # distances held at once by the chunked nearest-neighbour searches (32 MiB)
_MEMORISATION_PERCENTILE = 1.0
_KID_SUBSETS = 100
_KID_SUBSET_SIZE = 1000
_REFERENCE_IMAGES = 20_000  # training images searched for nearest neighbours (a seeded sample)
_LEAVE_ONE_OUT_QUERIES = 2000  # training images whose nearest other one sets the threshold without a holdout


def _as_features(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be a matrix (n, d), got shape {x.shape}")
    return x


def _rows_per_chunk(n_cols: int) -> int:
    return max(1, _MAX_CELLS // max(1, n_cols))


# --- Fréchet distance ----------------------------------------------------------------------------
def frechet_distance(f1: np.ndarray, f2: np.ndarray, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (pytorch-fid's formula).

    When ``S1 S2`` is singular and its square root not finite, ``eps`` is added to both
    diagonals and the root recomputed; the imaginary part of the root (numerical noise)
    is discarded, and the result (>= 0 in exact arithmetic) clipped at 0. NaN for fewer
    than two rows in a set."""
    from scipy import linalg

    f1, f2 = _as_features(f1), _as_features(f2)
    if len(f1) < 2 or len(f2) < 2:
        return float("nan")
    mu1, mu2 = f1.mean(axis=0), f2.mean(axis=0)
    s1 = np.atleast_2d(np.cov(f1, rowvar=False))
    s2 = np.atleast_2d(np.cov(f2, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(s1)) * eps
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(np.real(covmean)))
    return max(value, 0.0)


# --- kernel inception distance -------------------------------------------------------------------
def _cubic(k: np.ndarray) -> np.ndarray:
    return k * k * k  # several times faster than k ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 of two equal-size samples with the cubic polynomial kernel."""
    d = x.shape[1]
    m = len(x)
    k_xx, k_yy, k_xy = (_cubic(a @ b.T / d + 1.0) for a, b in ((x, x), (y, y), (x, y)))
    off_xx = k_xx.sum() - np.trace(k_xx)
    off_yy = k_yy.sum() - np.trace(k_yy)
    return float((off_xx + off_yy) / (m * (m - 1)) - 2.0 * k_xy.sum() / (m * m))


def kernel_inception_distance(f1: np.ndarray, f2: np.ndarray, *, subsets: int = _KID_SUBSETS,
                              subset_size: int = _KID_SUBSET_SIZE,
                              rng: np.random.Generator | None = None) -> tuple[float, float]:
    """(mean, std) over ``subsets`` random subsets of the unbiased MMD^2 with the kernel
    ``(x.y / d + 1)^3``; each subset draws ``min(subset_size, n1, n2)`` rows of each set
    without replacement (Bińkowski et al. 2018). NaN for fewer than two rows."""
    f1, f2 = _as_features(f1), _as_features(f2)
    m = min(len(f1), len(f2), int(subset_size))
    if m < 2 or subsets < 1:
        return float("nan"), float("nan")
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0) if rng is None else rng
    values = np.empty(int(subsets))
    # small products: BLAS threads only contend (with each other and TensorFlow's) here
    with threadpool_limits(limits=1, user_api="blas"):
        for i in range(int(subsets)):
            x = f1[rng.choice(len(f1), m, replace=False)]
            y = f2[rng.choice(len(f2), m, replace=False)]
            values[i] = _mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())


# --- nearest neighbours and PRDC -----------------------------------------------------------------
def nearest_distances(query: np.ndarray, reference: np.ndarray, k: int = 1) -> np.ndarray:
    """Euclidean distance of each query row to its ``k``-th nearest reference row (k >= 1),
    in chunks of query rows. Pass ``reference is query`` and ``k + 1`` to skip each row's
    zero distance to itself (as Naeem et al.'s code does)."""
    from scipy.spatial.distance import cdist

    query, reference = _as_features(query), _as_features(reference)
    if not 1 <= k <= len(reference):
        raise ValueError(f"k={k} needs 1 <= k <= {len(reference)} reference rows")
    out = np.empty(len(query))
    step = _rows_per_chunk(len(reference))
    for start in range(0, len(query), step):
        dist = cdist(query[start:start + step], reference)
        out[start:start + step] = np.partition(dist, k - 1, axis=1)[:, k - 1]
    return out


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float | None]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` features, exactly
    as Naeem et al. 2020 (strict ``<`` against the k-NN radii).

    Values that need k-NN radii of a set with at most ``k`` rows are None (precision,
    density, coverage need ``len(real) > k``; recall needs ``len(fake) > k``)."""
    from scipy.spatial.distance import cdist

    real, fake = _as_features(real), _as_features(fake)
    out: dict[str, float | None] = {"precision": None, "recall": None, "density": None, "coverage": None}
    if len(real) == 0 or len(fake) == 0:
        return out
    real_radii = nearest_distances(real, real, k + 1) if len(real) > k else None
    fake_radii = nearest_distances(fake, fake, k + 1) if len(fake) > k else None
    inside_any = inside_sum = 0
    nearest_fake = np.full(len(real), np.inf)
    recalled = np.zeros(len(real), dtype=bool)
    step = _rows_per_chunk(len(real))
    for start in range(0, len(fake), step):
        dist = cdist(fake[start:start + step], real)  # (chunk of fake, real)
        if real_radii is not None:
            inside = dist < real_radii[None, :]
            inside_any += int(inside.any(axis=1).sum())
            inside_sum += int(inside.sum())
        nearest_fake = np.minimum(nearest_fake, dist.min(axis=0))
        if fake_radii is not None:
            recalled |= (dist < fake_radii[start:start + step, None]).any(axis=0)
    if real_radii is not None:
        out["precision"] = inside_any / len(fake)
        out["density"] = inside_sum / (k * len(fake))
        out["coverage"] = float(np.mean(nearest_fake < real_radii))
    if fake_radii is not None:
        out["recall"] = float(recalled.mean())
    return out


# --- memorisation --------------------------------------------------------------------------------
def _image_digests(pixels: np.ndarray) -> list[bytes]:
    pixels = np.ascontiguousarray(pixels)
    return [hashlib.blake2b(img.tobytes(), digest_size=16).digest() for img in pixels]


def memorisation(train_feats: np.ndarray, holdout_feats: np.ndarray | None, synth_feats: np.ndarray,
                 train_pixels: np.ndarray, synth_pixels: np.ndarray,
                 percentile: float = _MEMORISATION_PERCENTILE) -> dict[str, Any]:
    """Synthetic images that sit as close to a training image as almost no real image does.

    ``memorised_share``: share of synthetic images whose nearest training image (in
    features) is at most the ``percentile``-th percentile of the held-out images'
    nearest-training distances (without a holdout: of the nearest other training image of
    up to 2,000 evenly spaced training images). ``exact_copies``: synthetic images byte-identical to a training image,
    from hashes of the pixels (``synth_pixels`` may be every synthetic image while
    ``synth_feats`` is a sample of them)."""
    train_feats, synth_feats = _as_features(train_feats), _as_features(synth_feats)
    out: dict[str, Any] = {"memorised_share": None, "memorisation_threshold": None,
                           "memorisation_reference": None, "nearest_train_distance_median": None}
    if holdout_feats is not None and len(holdout_feats) > 0 and len(train_feats) >= 1:
        reference = nearest_distances(holdout_feats, train_feats, 1)
        out["memorisation_reference"] = "holdout"
    elif len(train_feats) >= 2:
        step = max(1, len(train_feats) // _LEAVE_ONE_OUT_QUERIES)  # an evenly spaced sample of queries
        reference = nearest_distances(train_feats[::step], train_feats, 2)
        out["memorisation_reference"] = "train (leave-one-out: no holdout)"
    else:
        reference = None
    if reference is not None and len(synth_feats) > 0:
        threshold = float(np.percentile(reference, percentile))
        nearest = nearest_distances(synth_feats, train_feats, 1)
        out["memorised_share"] = float(np.mean(nearest <= threshold))
        out["memorisation_threshold"] = threshold
        out["nearest_train_distance_median"] = float(np.median(nearest))
    known = set(_image_digests(train_pixels))
    copies = sum(d in known for d in _image_digests(synth_pixels))
    out["exact_copies"] = int(copies)
    out["exact_copy_share"] = copies / len(synth_pixels) if len(synth_pixels) else None
    return out


# --- evaluate ------------------------------------------------------------------------------------
def _shape(images: np.ndarray) -> str:
    h, w, c = images.shape[1:]
    return f"{h}x{w} with {c} channel{'s' if c != 1 else ''}"


def _check_sets(train: ImageSet, synthetic: ImageSet, holdout: ImageSet | None) -> None:
    if len(train) == 0:
        raise DataError("there are no training images to evaluate against")
    for name, other in (("synthetic", synthetic), ("held-out", holdout)):
        if other is not None and other.images.shape[1:] != train.images.shape[1:]:
            raise DataError(
                f"the {name} images are {_shape(other.images)}, but the training images are "
                f"{_shape(train.images)}; bring them to the same size and channels (data.options.image_size, channels)"
            )


def _class_codes(train: ImageSet, other: ImageSet | None, what: str) -> np.ndarray | None:
    """``other``'s labels as indices into ``train.classes`` (matched by class name)."""
    if other is None or other.labels is None:
        return None
    if not other.classes or tuple(other.classes) == tuple(train.classes):
        return other.labels
    index = {name: i for i, name in enumerate(train.classes)}
    used = sorted({other.classes[j] for j in np.unique(other.labels)})
    unknown = [name for name in used if name not in index]
    if unknown:
        raise DataError(f"the {what} images have classes {unknown} the training images lack (known: {list(train.classes)})")
    lookup = np.array([index.get(name, -1) for name in other.classes], dtype=np.int64)
    return lookup[other.labels]


def _subsample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b <= 0:
        return None
    return a / b


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _kid(f1: np.ndarray, f2: np.ndarray, rng: np.random.Generator) -> tuple[float | None, float | None]:
    size = max(2, min(_KID_SUBSET_SIZE, min(len(f1), len(f2)) // 2))
    mean, std = kernel_inception_distance(f1, f2, subsets=_KID_SUBSETS, subset_size=size, rng=rng)
    return _finite(mean), _finite(std)


def _shares(codes: np.ndarray | None, n_classes: int) -> np.ndarray | None:
    if codes is None or len(codes) == 0:
        return None
    return np.bincount(codes[codes >= 0], minlength=n_classes)[:n_classes] / len(codes)


def _per_class(train: ImageSet, train_codes: np.ndarray, syn_codes: np.ndarray | None, scored_codes: np.ndarray | None,
               scored_pred: np.ndarray | None, hold_codes: np.ndarray | None, hold_pred: np.ndarray | None) -> list[dict]:
    """Counts, shares and accuracies per training class (in class order)."""
    n_classes = len(train.classes)
    train_count = np.bincount(train_codes, minlength=n_classes)
    syn_count = None if syn_codes is None else np.bincount(syn_codes[syn_codes >= 0], minlength=n_classes)
    rows = []
    for c, name in enumerate(train.classes):
        row: dict[str, Any] = {"class": name, "index": c, "train_count": int(train_count[c]),
                               "train_share": float(train_count[c] / len(train_codes))}
        if syn_count is not None:
            row["synthetic_count"] = int(syn_count[c])
            row["synthetic_share"] = float(syn_count[c] / len(syn_codes)) if len(syn_codes) else None
        if scored_pred is not None:
            row["predicted_share"] = float(np.mean(scored_pred == c)) if len(scored_pred) else None
        if scored_codes is not None:
            mine = scored_codes == c
            row["scored"] = int(mine.sum())
            row["conditional_accuracy"] = float(np.mean(scored_pred[mine] == c)) if mine.any() else None
        if hold_codes is not None:
            mine = hold_codes == c
            row["holdout_count"] = int(mine.sum())
            row["holdout_accuracy"] = float(np.mean(hold_pred[mine] == c)) if mine.any() else None
        rows.append(row)
    return rows


def evaluate_images(train: ImageSet, synthetic: ImageSet, holdout: ImageSet | None, options: ImageEvaluateOptions,
                    out_dir: Path | None, rng: np.random.Generator, *, classifier: Any = None) -> dict[str, Any]:
    """The images report of ``synthetic`` against the real ``train`` and ``holdout`` images.

    Trains the ``FeatureClassifier`` on ``train`` (seeded from ``rng``; pass a trained
    ``classifier`` to reuse one), scores at most ``options.max_images`` images of each set
    and, with ``out_dir`` and ``options.report_html``, writes ``out_dir/report.html``."""
    from .features import FeatureClassifier

    holdout = holdout if holdout is not None and len(holdout) > 0 else None
    _check_sets(train, synthetic, holdout)
    seed = int(rng.integers(0, 2**31 - 1))
    train_codes = train.labels if len(train.classes) >= 2 else None
    if classifier is None:
        classifier = FeatureClassifier.fit(train.images, train_codes, len(train.classes), seed=seed,
                                           epochs=options.classifier_epochs)
    by_class = classifier.mode == "classes"

    ref_idx = _subsample(len(train), _REFERENCE_IMAGES, rng)
    syn_idx = _subsample(len(synthetic), options.max_images, rng)
    hold_idx = _subsample(len(holdout), options.max_images, rng) if holdout is not None else None
    f_ref = classifier.features(train.images[ref_idx])
    f_syn, syn_pred = classifier.outputs(synthetic.images[syn_idx])
    f_hold, hold_pred = classifier.outputs(holdout.images[hold_idx]) if holdout is not None else (None, None)
    # the floor compares as many training images with the holdout as synthetic ones are scored
    floor_pos = _subsample(len(ref_idx), min(options.max_images, max(len(syn_idx), 2)), rng)
    f_floor = f_ref[floor_pos]
    f_real = f_hold if f_hold is not None else f_ref[_subsample(len(ref_idx), options.max_images, rng)]

    report: dict[str, Any] = {
        "reference": "holdout" if holdout is not None else
        "train (no holdout: synthetic images are compared with the classifier's own training images; no floors)",
        "classifier": {"mode": classifier.mode, "epochs": options.classifier_epochs,
                       "feature_dim": int(f_ref.shape[1]), "examples": int(classifier.trained_on)},
    }
    report["fd_classifier"] = _finite(frechet_distance(f_syn, f_real))
    report["fd_floor"] = _finite(frechet_distance(f_floor, f_hold)) if f_hold is not None else None
    report["fd_ratio"] = _ratio(report["fd_classifier"], report["fd_floor"])
    report["kid"], report["kid_std"] = _kid(f_syn, f_real, rng)
    report["kid_floor"] = _kid(f_floor, f_hold, rng)[0] if f_hold is not None else None

    syn_codes = _class_codes(train, synthetic, "synthetic") if train_codes is not None else None
    hold_codes = _class_codes(train, holdout, "held-out") if train_codes is not None else None
    scored_pred = syn_pred if by_class else None
    hold_pred = hold_pred if by_class and hold_codes is not None else None
    scored_codes = syn_codes[syn_idx] if syn_codes is not None and by_class else None
    hold_scored = hold_codes[hold_idx] if hold_pred is not None else None
    report["conditional_accuracy"] = (float(np.mean(scored_pred == scored_codes))
                                      if scored_codes is not None and len(scored_codes) else None)
    report["classifier_holdout_accuracy"] = float(np.mean(hold_pred == hold_scored)) if hold_pred is not None else None

    report.update(prdc(f_real, f_syn, options.k))
    floors = prdc(f_hold, f_floor, options.k) if f_hold is not None else prdc(f_floor[:0], f_floor[:0])
    report.update({f"{name}_floor": value for name, value in floors.items()})

    report.update(memorisation(f_ref, f_hold, f_syn, train.images, synthetic.images))

    if train_codes is not None:
        train_share = _shares(train_codes, len(train.classes))
        syn_share = _shares(syn_codes, len(train.classes))
        report["class_distribution_tv"] = (float(0.5 * np.abs(train_share - syn_share).sum())
                                           if syn_share is not None else None)
        report["per_class"] = _per_class(train, train_codes, syn_codes, scored_codes, scored_pred, hold_scored, hold_pred)
    else:
        report["class_distribution_tv"] = None
        report["per_class"] = None
    report["sizes"] = {
        "train": len(train), "train_reference": len(ref_idx), "train_floor": len(floor_pos) if holdout is not None else 0,
        "synthetic": len(synthetic), "synthetic_scored": len(syn_idx),
        "holdout": 0 if holdout is None else len(holdout), "holdout_scored": 0 if hold_idx is None else len(hold_idx),
        "k": options.k,
    }
    report = to_jsonable(report, digits=6)
    if out_dir is not None and options.report_html:
        from .report import write_report

        report["report_html"] = "report.html"
        write_report(report, train, synthetic, Path(out_dir), rng)
    return report
