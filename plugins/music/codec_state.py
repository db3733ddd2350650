"""What every music codec shares: timing learned from the corpus, and JSON state.

A codec's state is its constructor parameters plus the attributes it learns in ``fit``
(trailing underscore, listed in ``learned``); ``get_config`` / ``from_config`` derive both
from the constructor's signature, so a new parameter needs no extra code.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from domaingen.errors import DataError
from domaingen.plugin import Codec

__all__ = ["MusicCodec"]


class MusicCodec(Codec):
    """Base of the melody, performance and spectrogram codecs."""

    kind: ClassVar[str]
    learned: ClassVar[tuple[str, ...]] = ("tempo_", "beats_per_bar_")

    @property
    def n_pitches(self) -> int:
        """Number of MIDI pitches in the codec's range (both ends included)."""
        return self.pitch_high - self.pitch_low + 1

    def _check_fitted(self) -> None:
        if getattr(self, "tempo_", None) is None:
            raise RuntimeError(f"the {self.kind} codec is not fitted: call fit(raw) first")

    def fit_notes(self, raw: list[Any]) -> "MusicCodec":
        """Fit timing on the pieces that have notes (the symbolic codecs' ``fit``)."""
        pieces = [p for p in raw if len(p.notes)]
        if not pieces:
            raise DataError(f"no piece with notes to fit the {self.kind} codec on: check data.source")
        self.fit_timing(pieces)
        return self

    def fit_timing(self, pieces: list[Any]) -> None:
        """Median tempo and most common bar length of ``pieces`` (used when decoding)."""
        self.tempo_ = float(np.median([p.tempo for p in pieces]))
        values, counts = np.unique([p.beats_per_bar for p in pieces], return_counts=True)
        self.beats_per_bar_ = int(values[np.argmax(counts)])

    @classmethod
    def _parameter_names(cls) -> list[str]:
        return [name for name in inspect.signature(cls.__init__).parameters if name != "self"]

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"kind": self.kind}
        for name in self._parameter_names():
            value = getattr(self, name)
            config[name] = list(value) if isinstance(value, tuple) else value
        config.update({name: getattr(self, name) for name in self.learned})
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> "MusicCodec":
        codec = cls(**{name: config[name] for name in cls._parameter_names() if name in config})
        for name in cls.learned:
            setattr(codec, name, config.get(name))
        return codec
