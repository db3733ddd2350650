"""DataSpec: what a codec tells the model families about the arrays it produces.

The core and the families never know what a "column" or a "note" is; they only see
segments of a flat vector (layout ``table``), integer token sequences (``tokens``) or
fixed-shape float arrays (``grid``: images, spectrograms).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["Segment", "Label", "DataSpec", "SEGMENT_KINDS", "LAYOUTS"]

SEGMENT_KINDS = ("continuous", "categorical", "binary")
LAYOUTS = ("table", "tokens", "grid")


@dataclass(frozen=True)
class Segment:
    """A contiguous slice of a ``table`` row.

    ``continuous``: ``size`` real values (usually 1), roughly standardised by the codec.
    ``categorical``: a one-hot block of ``size`` categories.
    ``binary``: ``size`` independent 0/1 values (usually 1).

    ``auxiliary``: the segment is an encoding detail of another one (e.g. the mode
    indicator of a mode-normalised number), not a variable of its own; families do not
    offer it as a condition (CTGAN's conditional vector covers true categories only).
    ``bounded`` (continuous only): the codec keeps the values in [-1, 1] (up to rare
    outliers), so a family may squash its output with tanh, as TVAE does.
    ``missing_when`` / ``missing_codes``: the segment holds a placeholder, not a value, on
    the rows where the (binary or categorical) segment ``missing_when`` holds one of
    ``missing_codes`` (1 for a binary flag, category positions for a categorical one); a
    family may leave those entries out of what it fits (the copula does), and the codec
    ignores what a family writes there.
    """

    name: str
    kind: str
    size: int = 1
    auxiliary: bool = False
    bounded: bool = False
    missing_when: str = ""
    missing_codes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in SEGMENT_KINDS:
            raise ValueError(f"segment kind must be one of {SEGMENT_KINDS}, got {self.kind!r}")
        if self.size < 1:
            raise ValueError(f"segment {self.name!r} must have size >= 1")
        if self.bounded and self.kind != "continuous":
            raise ValueError(f"segment {self.name!r}: only continuous segments can be bounded")
        object.__setattr__(self, "missing_codes", tuple(int(c) for c in self.missing_codes))
        if bool(self.missing_when) != bool(self.missing_codes):
            raise ValueError(f"segment {self.name!r}: missing_when and missing_codes go together")


@dataclass(frozen=True)
class Label:
    """A categorical label carried *beside* each sample, whatever the layout (the class of
    an image, the topic of a passage). ``frequencies``: each category's share of the
    training samples; families draw unconditioned labels from them."""

    name: str
    categories: tuple[str, ...]
    frequencies: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))
        if not self.categories:
            raise ValueError(f"label {self.name!r} needs at least one category")
        if len(set(self.categories)) != len(self.categories):
            raise ValueError(f"label {self.name!r} has repeated categories")
        freq = tuple(float(f) for f in self.frequencies) or (1.0 / len(self.categories),) * len(self.categories)
        if len(freq) != len(self.categories) or min(freq) < 0 or sum(freq) <= 0:
            raise ValueError(f"label {self.name!r}: frequencies must be one non-negative share per category")
        total = sum(freq)
        object.__setattr__(self, "frequencies", tuple(f / total for f in freq))

    @property
    def size(self) -> int:
        return len(self.categories)


@dataclass(frozen=True)
class DataSpec:
    """Shapes and meaning of the encoded arrays of one dataset.

    - ``table``: ``x`` is float32 ``(n, width)``; ``segments`` cover the width in order.
    - ``tokens``: ``x`` is int32 ``(n, seq_len)`` with ids in ``[0, vocab_size)``;
      ``special_tokens`` holds at least ``pad`` and may hold ``bos`` / ``eos``.
    - ``grid``: ``x`` is float32 ``(n, *shape)``, values roughly in ``[-1, 1]``.

    ``labels`` (any layout): categorical labels beside the arrays; the codec's ``encode``
    then returns their integer codes as ``Encoded.labels`` of shape ``(n, len(labels))``.
    """

    layout: str
    shape: tuple[int, ...]
    segments: tuple[Segment, ...] = ()
    vocab_size: int = 0
    special_tokens: dict[str, int] = field(default_factory=dict)
    labels: tuple[Label, ...] = ()

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "segments", tuple(self.segments))
        object.__setattr__(self, "labels", tuple(self.labels))
        if len({label.name for label in self.labels}) != len(self.labels):
            raise ValueError("label names must be unique")
        if self.layout == "table":
            width = sum(s.size for s in self.segments)
            if self.shape != (width,):
                raise ValueError(f"table shape {self.shape} does not match segment width {width}")
            self._check_missing_when()
        if self.layout == "tokens" and self.vocab_size < 2:
            raise ValueError("tokens layout needs vocab_size >= 2")

    def _check_missing_when(self) -> None:
        kinds = {s.name: s for s in self.segments}
        for seg in self.segments:
            if not seg.missing_when:
                continue
            flag = kinds.get(seg.missing_when)
            if flag is None or flag.kind == "continuous" or flag is seg:
                raise ValueError(f"segment {seg.name!r}: missing_when must name another binary or categorical segment")
            top = 2 if flag.kind == "binary" else flag.size
            if (flag.kind == "binary" and flag.size != 1) or not all(0 <= c < top for c in seg.missing_codes):
                raise ValueError(f"segment {seg.name!r}: missing_codes must be codes of segment {flag.name!r}")

    def missing_rows(self, x, seg: Segment):
        """Boolean mask of the rows of table array ``x`` where ``seg`` holds a placeholder
        (see ``Segment.missing_when``); ``None`` when it always holds a value."""
        if not seg.missing_when:
            return None
        flag = self.segment(seg.missing_when)
        block = np.asarray(x)[:, self.segment_slices()[flag.name]]
        code = (block[:, 0] > 0.5).astype(np.int64) if flag.kind == "binary" else block.argmax(axis=1)
        return np.isin(code, seg.missing_codes)

    @property
    def width(self) -> int:
        """Flat width of one sample (product of ``shape``)."""
        out = 1
        for s in self.shape:
            out *= s
        return out

    def segment_slices(self) -> dict[str, slice]:
        """Name -> column slice of each ``table`` segment."""
        out, start = {}, 0
        for seg in self.segments:
            out[seg.name] = slice(start, start + seg.size)
            start += seg.size
        return out

    def segment(self, name: str) -> Segment:
        for seg in self.segments:
            if seg.name == name:
                return seg
        raise KeyError(name)

    @property
    def label_width(self) -> int:
        """Width of the labels' concatenated one-hots (0 without labels)."""
        return sum(label.size for label in self.labels)

    def label_index(self, name: str) -> int:
        """Position of label ``name`` among ``labels``; ``KeyError`` if absent."""
        for i, label in enumerate(self.labels):
            if label.name == name:
                return i
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["shape"] = list(self.shape)
        data["segments"] = [asdict(s) for s in self.segments]
        data["labels"] = [{"name": l.name, "categories": list(l.categories), "frequencies": list(l.frequencies)} for l in self.labels]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "DataSpec":
        return cls(
            layout=data["layout"],
            shape=tuple(data["shape"]),
            segments=tuple(Segment(**s) for s in data.get("segments", ())),
            vocab_size=int(data.get("vocab_size", 0)),
            special_tokens={k: int(v) for k, v in data.get("special_tokens", {}).items()},
            labels=tuple(
                Label(l["name"], tuple(l["categories"]), tuple(l.get("frequencies", ()))) for l in data.get("labels", ())
            ),
        )
