"""evaluate(): report layout, the 10% checks, histogram distances, audio metrics, HTML."""

import json

import numpy as np
import pytest

from domaingen_plugins.music import plugin
from domaingen_plugins.music.options import MusicDataOptions, MusicEvaluateOptions


@pytest.fixture(scope="module")
def bach():
    pieces = plugin.load("embedded:bach-soprano", MusicDataOptions(max_pieces=24), ".")
    return pieces[:12], pieces[12:]


def test_report_on_the_corpus_against_itself(tmp_path, bach):
    real, holdout = bach
    options = MusicEvaluateOptions(audio_pieces=4, audio_seconds=4.0, pitch_check_pieces=2)
    report = plugin.evaluate(real, real, holdout, options, tmp_path, np.random.default_rng(0))
    json.dumps(report)  # JSON-serialisable
    assert report["counts"] == {"real": 12, "synthetic": 12, "holdout": 12}
    for name, values in report["metrics"].items():
        assert values["real"] == values["synthetic"], name
    assert report["within_10_percent"]["pitch_class_entropy"] == {"relative_gap": 0.0, "within": True}
    assert report["distances"]["pitch_class_histogram_js"]["synthetic"] == 0.0
    assert 0 < report["distances"]["pitch_class_histogram_js"]["holdout"] < 0.2
    audio = report["audio"]
    assert audio["frechet_mfcc_distance"] < audio["frechet_mfcc_distance_holdout"]
    assert audio["rendered_note_pitch_accuracy"] > 0.9 and audio["rendered_pieces_checked"] == 2
    assert (tmp_path / "report.html").read_text().startswith("<!doctype html>")


def test_a_random_generator_is_flagged(bach, grid_piece):
    real, _ = bach
    rng = np.random.default_rng(3)
    noise = [
        grid_piece([(int(p), i / 2, i / 2 + 0.5) for i, p in enumerate(rng.integers(48, 85, 64))], name=f"r{k}")
        for k in range(12)
    ]
    options = MusicEvaluateOptions(audio_metrics=False, html=False)
    report = plugin.evaluate(real, noise, None, options, None, rng)
    within = report["within_10_percent"]
    assert within["scale_consistency"]["within"] is False and within["pitch_class_entropy"]["within"] is False
    assert report["distances"]["pitch_class_histogram_js"]["synthetic"] > 0.05
    assert report["metrics"]["scale_consistency"]["synthetic"] < 0.8 < report["metrics"]["scale_consistency"]["real"]
    assert "audio" not in report and "holdout" not in report["counts"]
    assert set(report["summary"]) == {"pitch_class_entropy_gap", "scale_consistency_gap", "pitch_class_histogram_js", "duration_histogram_js"}


def test_real_pieces_are_cut_to_the_synthetic_length(grid_piece):
    from domaingen_plugins.music.evaluation import comparable, crop_to_bars

    long = grid_piece([(60 + i % 7, i, i + 1) for i in range(40)])  # 10 bars of quarters
    parts = crop_to_bars(long, 4)
    assert [len(p) for p in parts] == [16, 16, 8]
    assert parts[1].starts[0] == 0.0 and parts[1].pitches[0] == long.pitches[16]
    short = [grid_piece([(60, 0, 8)])]  # two bars
    cut, bars = comparable([long], short)
    assert bars == 2 and len(cut) == 5
    same, none = comparable([long], [long])
    assert none is None and same == [long]
