"""``FeatureClassifier``: a small conv net trained on the real images, whose penultimate
layer gives the features of the images plugin's metrics.

No pretrained weights are available offline (no Inception network), so the features
come from a classifier trained here on the real training images; the metric built on
them is therefore called ``fd_classifier``, not FID, and its numbers are only comparable
between evaluations that train the classifier on the same images with the same seed.
Unlabelled data (or a single class) trains a self-supervised proxy task instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["FeatureClassifier", "FEATURE_DIM", "MAX_TRAIN_IMAGES"]

FEATURE_DIM = 64  # width of the penultimate (feature) layer
MAX_TRAIN_IMAGES = 20_000  # training examples the classifier sees at most (a seeded sample)
_BATCH = 64
_PREDICT_BATCH = 512
_LEARNING_RATE = 2e-3


def _stem_stride(side: int) -> int:
    """Stride of the first convolution: brings the short side down to 8..16 pixels (at most /4)."""
    stride = 1
    while side // (stride * 2) >= 8 and stride < 4:
        stride *= 2
    return stride


def _proxy_task(images: np.ndarray) -> tuple[str, int]:
    """The self-supervised task for unlabelled images: rotations if square, else flips."""
    return ("rotation", 4) if images.shape[1] == images.shape[2] else ("flip", 4)


def _transform(images: np.ndarray, task: str, code: int) -> np.ndarray:
    """Rotate by ``code`` * 90 degrees, or flip (0 none, 1 up-down, 2 left-right, 3 both)."""
    if task == "rotation":
        return np.rot90(images, k=code, axes=(1, 2))
    if code == 1:
        return images[:, ::-1]
    if code == 2:
        return images[:, :, ::-1]
    if code == 3:
        return images[:, ::-1, ::-1]
    return images


def _proxy_examples(images: np.ndarray, task: str, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image under each of the task's transforms, labelled with the transform."""
    xs = [np.ascontiguousarray(_transform(images, task, k)) for k in range(n_outputs)]
    ys = [np.full(len(images), k, dtype=np.int64) for k in range(n_outputs)]
    return np.concatenate(xs), np.concatenate(ys)


def _build(shape: tuple[int, int, int], n_outputs: int, seed: int) -> tuple[Any, Any]:
    """(classifier, feature+probability model) sharing one small CNN.

    uint8-valued input → [-1, 1] → strided stem conv → conv block (+ 2x2 max-pool while the
    map stays >= 2x2) → two 64-filter convs → global average pool → dense 64 (the features)
    → softmax."""
    from domaingen._quiet import keras_module

    keras = keras_module()
    layers = keras.layers
    counter = iter(range(1000))

    def init():
        return keras.initializers.GlorotUniform(seed=seed + next(counter))

    def conv(filters, kernel=3, strides=1):
        return layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu",
                             kernel_initializer=init())

    height, width, _ = shape
    stride = _stem_stride(min(height, width))
    inputs = keras.Input(shape=shape, name="pixels")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = conv(32, 3 if stride <= 2 else 5, stride)(x)
    side = -(-min(height, width) // stride)
    x = conv(32)(x)
    if side // 2 >= 2:
        x = layers.MaxPooling2D(2, padding="same")(x)
        side = -(-side // 2)
    x = conv(64)(x)
    x = conv(64)(x)
    if side // 2 >= 4:  # keep a few positions for the global pool to average over
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init(), name="features")(x)
    probs = layers.Dense(n_outputs, activation="softmax", kernel_initializer=init(), name="probs")(features)
    return keras.Model(inputs, probs), keras.Model(inputs, [features, probs])


class FeatureClassifier:
    """A small CNN classifier of the real images; ``features`` is its penultimate layer.

    ``mode``: ``"classes"`` (trained on the class labels), or, for unlabelled data or a
    single class, a self-supervised proxy task so that the features still describe the
    images: ``"rotation"`` (predict which of 0/90/180/270 degrees an image was rotated by;
    square images) or ``"flip"`` (none / up-down / left-right / both; other images).
    ``predict`` then returns the predicted class, or the predicted transform in proxy mode.
    Deterministic for a seed on one machine when TensorFlow op determinism is on (the core
    enables it)."""

    def __init__(self, model: Any, feature_model: Any, mode: str, n_outputs: int, image_shape: tuple[int, int, int],
                 trained_on: int):
        self.model = model
        self.feature_model = feature_model
        self.mode = mode
        self.n_outputs = n_outputs
        self.image_shape = image_shape
        self.trained_on = trained_on

    @classmethod
    def fit(cls, images: np.ndarray, labels: np.ndarray | None, n_classes: int, *, seed: int = 0,
            epochs: int = 30, max_train: int = MAX_TRAIN_IMAGES) -> "FeatureClassifier":
        """Train on uint8 ``images`` (n, h, w, c) and their class ``labels`` (None: proxy task)."""
        from domaingen._quiet import keras_module

        images = _check_images(images)
        rng = np.random.default_rng(seed)
        labelled = labels is not None and n_classes >= 2 and len(np.unique(labels)) >= 2
        if labelled:
            mode, n_outputs = "classes", int(n_classes)
            x, y = images, np.asarray(labels, dtype=np.int64)
            keep = _sample(len(x), max_train, rng)
            x, y = x[keep], y[keep]
        else:
            mode, n_outputs = _proxy_task(images)
            keep = _sample(len(images), max(1, max_train // n_outputs), rng)
            x, y = _proxy_examples(images[keep], mode, n_outputs)
        keras = keras_module()
        keras.utils.set_random_seed(int(seed))
        model, both = _build(tuple(int(s) for s in images.shape[1:]), n_outputs, int(seed))
        model.compile(optimizer=keras.optimizers.Adam(_LEARNING_RATE), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=_BATCH, epochs=int(epochs), shuffle=True, verbose=0)
        return cls(model, both, mode, n_outputs, tuple(images.shape[1:]), len(x))

    def _outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images = _check_images(images, self.image_shape)
        if len(images) == 0:
            return np.zeros((0, FEATURE_DIM)), np.zeros((0, self.n_outputs))
        # pad to whole batches: one input shape, so the compiled predict step is traced once
        n = len(images)
        pad = -n % _PREDICT_BATCH
        if pad:
            images = np.concatenate([images, np.zeros((pad,) + images.shape[1:], dtype=np.uint8)])
        features, probs = self.feature_model.predict(images, batch_size=_PREDICT_BATCH, verbose=0)
        return np.asarray(features[:n], dtype=np.float64), np.asarray(probs[:n], dtype=np.float64)

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(features, predictions) of one pass over ``images``."""
        features, probs = self._outputs(images)
        return features, np.argmax(probs, axis=1).astype(np.int64)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Penultimate-layer activations, float64 (n, FEATURE_DIM)."""
        return self._outputs(images)[0]

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Most probable class (or proxy transform) per image, int64 (n,)."""
        return np.argmax(self._outputs(images)[1], axis=1).astype(np.int64)

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float | None:
        """Share of ``images`` predicted as their ``labels`` (None for no images)."""
        labels = np.asarray(labels, dtype=np.int64)
        if len(labels) == 0:
            return None
        return float(np.mean(self.predict(images) == labels))


def _sample(n: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """All indices, or a sorted seeded sample of ``cap`` of them."""
    return np.arange(n) if n <= cap else np.sort(rng.choice(n, cap, replace=False))


def _check_images(images: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (n, h, w, c), got {images.dtype} {images.shape}")
    if shape is not None and tuple(images.shape[1:]) != tuple(shape):
        raise ValueError(f"images of shape {tuple(images.shape[1:])} given to a classifier of {tuple(shape)}")
    return images
