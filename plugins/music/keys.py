"""Keys and scales: "C major", "A minor", "D dorian" -> the set of allowed pitch classes."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["SCALES", "parse_key", "scale_pitch_classes", "in_key_mask", "snap_to_scale"]

# Intervals above the tonic. "minor" is the natural minor (aeolian); the raised 7th of
# harmonic minor is its own scale.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "harmonic minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic minor": (0, 2, 3, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "major pentatonic": (0, 2, 4, 7, 9),
    "minor pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
    "chromatic": tuple(range(12)),
}

_TONICS = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_KEY_RE = re.compile(r"^\s*([a-gA-G])\s*([#♯b♭]*)\s*[- ]?\s*(.*?)\s*$")


def parse_key(text: str) -> tuple[int, str]:
    """``"F# dorian"`` -> ``(6, "dorian")``; raises ``ValueError`` naming the accepted forms."""
    match = _KEY_RE.match(text or "")
    mode = match.group(3).lower() if match else ""
    mode = mode or "major"
    if not match or mode not in SCALES:
        raise ValueError(
            f"unknown key {text!r}: write a tonic (C, F#, Bb...) and a scale, one of "
            + ", ".join(sorted(SCALES))
            + " (e.g. 'A minor', 'D dorian')"
        )
    tonic = _TONICS[match.group(1).lower()]
    for accidental in match.group(2):
        tonic += 1 if accidental in "#♯" else -1
    return tonic % 12, mode


def scale_pitch_classes(text: str) -> frozenset[int]:
    """Pitch classes (0 = C) of the key ``text``."""
    tonic, mode = parse_key(text)
    return frozenset((tonic + step) % 12 for step in SCALES[mode])


def in_key_mask(pitches: np.ndarray, key: str) -> np.ndarray:
    """Boolean array: which MIDI ``pitches`` belong to ``key``."""
    classes = np.zeros(12, dtype=bool)
    classes[list(scale_pitch_classes(key))] = True
    return classes[np.asarray(pitches, dtype=np.int64) % 12]


def snap_to_scale(pitches: np.ndarray, key: str) -> np.ndarray:
    """Move each pitch outside ``key`` to the nearest scale tone (down on ties)."""
    pitches = np.asarray(pitches, dtype=np.int64).copy()
    ok = in_key_mask(pitches, key)
    for i in np.flatnonzero(~ok):
        for delta in (-1, 1, -2, 2):
            if in_key_mask(np.array([pitches[i] + delta]), key)[0]:
                pitches[i] += delta
                break
    return pitches
