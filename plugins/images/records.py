"""``ImageSet``: the images plugin's records — uint8 pixels, class codes and names."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ImageSet"]


@dataclass
class ImageSet:
    """``images``: uint8 ``(n, height, width, channels)``; ``labels``: int64 ``(n,)`` class
    indices into ``classes``, or ``None`` for unlabelled data (``classes`` is then empty);
    ``names``: where each image came from (a file path relative to the source, or
    ``"<source>#<index>"``), kept for error messages and memorisation reports."""

    images: np.ndarray
    labels: np.ndarray | None = None
    classes: tuple[str, ...] = ()
    names: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.images = np.asarray(self.images)
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            raise ValueError(f"ImageSet.images must be uint8 (n, h, w, c), got {self.images.dtype} {self.images.shape}")
        if self.labels is not None:
            self.labels = np.asarray(self.labels, dtype=np.int64)
            if self.labels.shape != (len(self.images),):
                raise ValueError("ImageSet.labels must have one class index per image")
        self.classes = tuple(str(c) for c in self.classes)
        self.names = tuple(self.names) or tuple(f"#{i}" for i in range(len(self.images)))

    @property
    def labelled(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.images)

    def take(self, idx: np.ndarray) -> "ImageSet":
        idx = np.asarray(idx, dtype=np.int64)
        return ImageSet(
            self.images[idx],
            None if self.labels is None else self.labels[idx],
            self.classes,
            tuple(self.names[i] for i in idx),
        )

    @staticmethod
    def concat(parts: list["ImageSet"]) -> "ImageSet":
        parts = [p for p in parts if p is not None]
        if len(parts) == 1:
            return parts[0]
        first = parts[0]
        labels = None if first.labels is None else np.concatenate([p.labels for p in parts])
        names = tuple(n for p in parts for n in p.names)
        return ImageSet(np.concatenate([p.images for p in parts]), labels, first.classes, names)
