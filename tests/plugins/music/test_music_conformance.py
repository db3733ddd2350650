"""The music plugin keeps the plugin contracts (domaingen.testing)."""

from pathlib import Path

from domaingen.testing import Conformance, conformance_tests
from domaingen_plugins.music import plugin

RECIPE = {
    "schema_version": 1,
    "seed": 5,
    "data": {"plugin": "music", "source": "embedded:bach-soprano",
             "options": {"representation": "melody", "pitch_range": [55, 84], "max_pieces": 12, "window_bars": 4, "hop_bars": 4}},
    "model": {"family": "transformer", "options": {"dim": 16, "heads": 2, "layers": 1, "ff_dim": 32}},
    "train": {"epochs": 1, "batch_size": 16},
    "generate": {"n": 2, "format": "midi", "options": {"length_bars": 2}},
    "evaluate": {"holdout": 0.1, "options": {"audio_pieces": 2, "audio_seconds": 2, "pitch_check_pieces": 1}},
}


def _refused(folder: Path):
    bad = folder / "broken.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    return [(str(bad), {}), ("embedded:no_such_corpus", {})]


test_music_conformance = conformance_tests(lambda: Conformance(plugin, RECIPE, refused_inputs=_refused))
