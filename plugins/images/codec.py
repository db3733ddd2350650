"""``ImageCodec``: uint8 images <-> the ``grid`` layout in [-1, 1], with the class label.

``encode`` maps a pixel value ``u`` to ``u / 127.5 - 1`` and gives the class indices as
the spec's one label (``label``); ``decode`` maps back with ``round((x + 1) * 127.5)``
clipped to [0, 255], so ``decode(encode(images))`` is exact (8-bit values survive the
float32 round trip) and model outputs are quantised to 8 bits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from domaingen.errors import BundleError, DataError
from domaingen.plugin import Codec, Encoded
from domaingen.spec import DataSpec, Label

from .records import ImageSet

__all__ = ["ImageCodec", "LABEL"]

LABEL = "label"  # the spec's label name: what `conditions={label: "3"}` names


class ImageCodec(Codec):
    """Fitted on the training images: their shape, classes and class frequencies."""

    def __init__(self) -> None:
        self.shape_: tuple[int, int, int] | None = None
        self.classes_: tuple[str, ...] = ()
        self.frequencies_: tuple[float, ...] = ()

    def fit(self, raw: ImageSet) -> "ImageCodec":
        if not isinstance(raw, ImageSet) or len(raw) == 0:
            raise DataError("the images codec needs a non-empty set of images")
        self.shape_ = tuple(int(s) for s in raw.images.shape[1:])
        self.classes_ = raw.classes if raw.labelled else ()
        if raw.labelled:
            counts = np.bincount(raw.labels, minlength=len(raw.classes))
            self.frequencies_ = tuple(float(c) / len(raw) for c in counts)
        return self

    @property
    def spec(self) -> DataSpec:
        if self.shape_ is None:
            raise RuntimeError("ImageCodec.spec before fit")
        labels = (Label(LABEL, self.classes_, self.frequencies_),) if self.classes_ else ()
        return DataSpec(layout="grid", shape=self.shape_, labels=labels)

    @property
    def labelled(self) -> bool:
        return bool(self.classes_)

    def encode(self, raw: ImageSet) -> Encoded:
        if tuple(raw.images.shape[1:]) != self.shape_:
            raise DataError(f"images of shape {raw.images.shape[1:]} do not match the trained shape {self.shape_}")
        x = raw.images.astype("float32") / np.float32(127.5) - np.float32(1.0)
        labels = None
        if self.labelled:
            if raw.labels is None or tuple(raw.classes) != self.classes_:
                raise DataError(f"images must carry the trained classes {list(self.classes_)}")
            labels = raw.labels.astype("int32")[:, None]
        return Encoded(x, labels)

    def decode(self, x: np.ndarray, rng: np.random.Generator | None = None, labels: np.ndarray | None = None) -> ImageSet:
        x = np.asarray(x, dtype="float32").reshape(-1, *self.shape_)
        pixels = np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
        if not self.labelled:
            return ImageSet(pixels)
        if labels is None:
            raise DataError("labelled images need the labels they were generated for")
        return ImageSet(pixels, np.asarray(labels).reshape(len(pixels), -1)[:, 0], self.classes_)

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": "images",
            "shape": list(self.shape_ or ()),
            "classes": list(self.classes_),
            "frequencies": list(self.frequencies_),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> "ImageCodec":
        if config.get("kind") != "images" or len(config.get("shape", ())) != 3:
            raise BundleError("codec.json does not describe an images codec; retrain the bundle")
        codec = cls()
        codec.shape_ = tuple(int(s) for s in config["shape"])
        codec.classes_ = tuple(str(c) for c in config.get("classes", ()))
        codec.frequencies_ = tuple(float(f) for f in config.get("frequencies", ()))
        return codec
