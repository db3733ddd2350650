"""Keys, scales and the Piece record."""

import numpy as np
import pytest

from domaingen_plugins.music.keys import in_key_mask, parse_key, scale_pitch_classes, snap_to_scale
from domaingen_plugins.music.piece import Piece


@pytest.mark.parametrize(
    "text, classes",
    [
        ("C major", {0, 2, 4, 5, 7, 9, 11}),
        ("A minor", {9, 11, 0, 2, 4, 5, 7}),
        ("D dorian", {2, 4, 5, 7, 9, 11, 0}),
        ("F# major", {6, 8, 10, 11, 1, 3, 5}),
        ("Bb minor", {10, 0, 1, 3, 5, 6, 8}),
        ("E harmonic minor", {4, 6, 7, 9, 11, 0, 3}),
        ("g", {7, 9, 11, 0, 2, 4, 6}),
    ],
)
def test_scale_pitch_classes(text, classes):
    assert scale_pitch_classes(text) == frozenset(classes)


@pytest.mark.parametrize("bad", ["H major", "C bebop", "", "major"])
def test_unknown_key_names_the_accepted_forms(bad):
    with pytest.raises(ValueError, match="unknown key"):
        parse_key(bad)


def test_in_key_and_snap():
    pitches = np.array([60, 61, 66, 70, 71])
    assert in_key_mask(pitches, "C major").tolist() == [True, False, False, False, True]
    snapped = snap_to_scale(pitches, "C major")
    assert in_key_mask(snapped, "C major").all()
    assert snapped.tolist() == [60, 60, 65, 69, 71]


def test_piece_sorts_and_validates():
    piece = Piece([(64, 1.0, 1.5, 80), (60, 0.0, 0.5, 80)], tempo=90)
    assert piece.pitches.tolist() == [60, 64]
    assert piece.duration == 1.5
    with pytest.raises(ValueError, match="end after"):
        Piece([(60, 1.0, 1.0, 80)])
    with pytest.raises(ValueError, match="tempo"):
        Piece([(60, 0.0, 1.0, 80)], tempo=0)


def test_with_tempo_scales_times():
    piece = Piece([(60, 0.0, 0.5, 80), (62, 0.5, 1.0, 80)], tempo=120)
    slower = piece.with_tempo(60)
    assert slower.tempo == 60
    np.testing.assert_allclose(slower.starts, [0.0, 1.0])
    np.testing.assert_allclose(slower.ends, [1.0, 2.0])
