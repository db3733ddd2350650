"""Each metric on hand-made pieces with known values."""

import math

import numpy as np
import pytest

from domaingen_plugins.music import metrics as M
from domaingen_plugins.music import plugin
from domaingen_plugins.music.piece import Piece


@pytest.fixture
def c_scale(grid_piece):
    return grid_piece([(p, i, i + 1) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])])


def test_scale_metrics(c_scale):
    assert M.pitch_range(c_scale) == 12
    assert M.n_pitch_classes_used(c_scale) == 7
    assert M.pitch_class_entropy(c_scale) == pytest.approx(2.75)  # C twice in 8 notes
    assert M.scale_consistency(c_scale) == 1.0
    assert M.empty_beat_rate(c_scale) == 0.0
    assert M.polyphony(c_scale) == 1.0
    assert M.groove_consistency(c_scale) == 1.0
    assert M.note_density(c_scale) == 1.0


def test_chromatic_scale_consistency_and_entropy(grid_piece):
    piece = grid_piece([(60 + i, i, i + 1) for i in range(12)])
    assert M.scale_consistency(piece) == pytest.approx(7 / 12)
    assert M.pitch_class_entropy(piece) == pytest.approx(math.log2(12))


def test_empty_beat_rate_counts_beats_without_sound(grid_piece):
    piece = grid_piece([(60, 0, 1), (62, 2, 3)])  # beat 1 silent of 3
    assert M.empty_beat_rate(piece) == pytest.approx(1 / 3)
    held = grid_piece([(60, 0, 0.25), (62, 2.5, 4)])  # beats 0, 2, 3 sound; beat 1 empty
    assert M.empty_beat_rate(held) == pytest.approx(1 / 4)


def test_polyphony_is_time_weighted_over_sounding_time(grid_piece):
    piece = grid_piece([(60, 0, 1), (64, 0, 1), (67, 0, 1), (60, 1, 2), (72, 4, 5)])
    assert M.polyphony(piece) == pytest.approx((3 * 1 + 1 * 1 + 1 * 1) / 3)


def test_groove_consistency_uses_hamming_per_bar(grid_piece):
    bar1 = [(60, b, b + 1) for b in range(4)]  # onsets on 0, 4, 8, 12
    bar2 = [(62, 4 + b / 2, 4 + b / 2 + 0.5) for b in range(8)]  # eighths: 4 extra onsets
    assert M.groove_consistency(grid_piece(bar1 + bar2)) == pytest.approx(1 - 4 / 16)
    three = grid_piece([(60, b, b + 1) for b in range(6)], beats_per_bar=3)
    assert M.groove_consistency(three) == 1.0


def test_empty_piece_gives_nan():
    empty = Piece()
    for fn in M.PIECE_METRICS.values():
        assert math.isnan(fn(empty))


def test_histograms_and_js(c_scale, grid_piece):
    hist = M.pitch_class_histogram([c_scale])
    assert hist[0] == pytest.approx(0.25) and hist.sum() == pytest.approx(1)
    assert M.js_divergence(hist, hist) == 0.0
    assert M.js_divergence(np.eye(12)[0], np.eye(12)[1]) == pytest.approx(1.0)
    dur = M.duration_histogram([grid_piece([(60, 0, 0.25), (60, 1, 2), (60, 2, 10)])])
    assert dur[0] == dur[3] == dur[16] == pytest.approx(1 / 3)


def test_frechet_distance_known_shift():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([2.0, 0.0, 0.0])
    assert M.frechet_distance(a, shifted) == pytest.approx(4.0, rel=1e-6)
    wide = a * 2.0  # sigma 1 vs 2 in 3 dims: 3 * (1 + 4 - 2 * 2) = 3
    assert M.frechet_distance(a, wide) == pytest.approx(3.0, rel=0.05)


def test_every_reported_metric_is_documented():
    names = {m.name for m in plugin.metrics()}
    assert set(M.PIECE_METRICS) <= names
    assert {"frechet_mfcc_distance", "rendered_note_pitch_accuracy", "pitch_class_histogram_js"} <= names
    assert all(m.formula and m.direction for m in plugin.metrics())
