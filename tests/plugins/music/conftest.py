"""Small hand-made pieces and files for the music plugin tests."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen_plugins.music.piece import Piece

TEMPO = 120.0  # a quarter note lasts 0.5 s, a sixteenth 0.125 s
Q = 60.0 / TEMPO


def grid_piece(rows, tempo: float = TEMPO, name: str = "grid", beats_per_bar: int = 4) -> Piece:
    """Notes given as (pitch, start beat, end beat[, velocity])."""
    beat = 60.0 / tempo
    notes = [(r[0], r[1] * beat, r[2] * beat, r[3] if len(r) > 3 else 80) for r in rows]
    return Piece(notes, tempo=tempo, name=name, beats_per_bar=beats_per_bar)


@pytest.fixture(name="grid_piece")
def grid_piece_fixture():
    """The ``grid_piece`` builder, for tests that make their own pieces."""
    return grid_piece


@pytest.fixture
def scale_piece() -> Piece:
    """C major scale up and down in quarter notes, with a rest and a sixteenth run."""
    up = [60, 62, 64, 65, 67, 69, 71, 72]
    rows = [(p, i, i + 1) for i, p in enumerate(up)]
    rows += [(71, 9, 9.25), (69, 9.25, 9.5), (67, 9.5, 9.75), (65, 9.75, 10), (64, 10, 12)]
    return grid_piece(rows, name="scale")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
