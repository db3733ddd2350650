"""The tabular plugin keeps the plugin contracts (domaingen.testing)."""

from pathlib import Path

import numpy as np
import pandas as pd

from domaingen.testing import Conformance, conformance_tests
from domaingen_plugins.tabular import plugin

RECIPE = {
    "schema_version": 1,
    "seed": 5,
    "data": {"plugin": "tabular", "source": "sklearn:breast_cancer", "options": {}},
    "model": {"family": "vae", "options": {"latent_dim": 4, "hidden": [32]}},
    "train": {"epochs": 2, "batch_size": 128},
    "generate": {"n": 300, "shard_size": 200, "format": "csv"},
    "evaluate": {"holdout": 0.2, "options": {"target": "diagnosis"}},
}


def _round_trip(original: pd.DataFrame, decoded: pd.DataFrame) -> None:
    """Same columns; categories exact; numbers within 2 % of each column's range."""
    assert list(decoded.columns) == list(original.columns)
    for name in original.columns:
        a, b = original[name], decoded[name]
        if pd.api.types.is_numeric_dtype(a) and a.nunique() > 2:
            spread = float(a.max() - a.min()) or 1.0
            assert np.nanmax(np.abs(a.to_numpy(float) - b.to_numpy(float))) <= 0.02 * spread, name
        else:
            assert (a.astype(str).to_numpy() == b.astype(str).to_numpy()).all(), name


def _refused(folder: Path):
    empty = folder / "empty.csv"
    empty.write_text("", encoding="utf-8")
    binary = folder / "binary.parquet"
    binary.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    return [(str(empty), {}), (str(binary), {}), ("sklearn:no_such_table", {})]


test_tabular_conformance = conformance_tests(
    lambda: Conformance(plugin, RECIPE, round_trip=_round_trip, refused_inputs=_refused)
)
