"""The images plugin keeps the plugin contracts (domaingen.testing)."""

from pathlib import Path

import numpy as np

from domaingen.testing import Conformance, conformance_tests
from domaingen_plugins.images import plugin

RECIPE = {
    "schema_version": 1,
    "seed": 5,
    "data": {"plugin": "images", "source": "sklearn:digits", "options": {"channels": 1}},
    "model": {"family": "vae", "options": {"latent_dim": 4}},
    "train": {"epochs": 1, "batch_size": 256},
    "generate": {"n": 40},
    "evaluate": {"holdout": 0.2, "options": {"classifier_epochs": 1}},
}


def _round_trip(original, decoded) -> None:
    """Pixels within one grey level of 255, labels exact."""
    a = np.asarray(original.images, dtype="float64")
    b = np.asarray(decoded.images, dtype="float64")
    assert a.shape == b.shape and np.abs(a - b).max() <= 1.0
    assert list(original.labels) == list(decoded.labels)


def _refused(folder: Path):
    bad = folder / "broken.npz"
    bad.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    return [(str(bad), {}), ("sklearn:no_such_images", {})]


test_images_conformance = conformance_tests(
    lambda: Conformance(plugin, RECIPE, round_trip=_round_trip, refused_inputs=_refused)
)
