"""Fixtures for the tabular plugin tests: a small mixed-type table with known properties;
training a family on a given table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import domaingen as dg


@pytest.fixture
def mixed_table() -> pd.DataFrame:
    """400 rows: int, float (2 decimals, NaN), categorical, boolean, datetimes of any era,
    an identifier and a constant."""
    rng = np.random.default_rng(123)
    n = 400
    age = rng.integers(18, 90, n)
    weight = np.round(rng.normal(75, 12, n), 2)
    weight[rng.random(n) < 0.25] = np.nan
    sex = rng.choice(["female", "male", "other"], n, p=[0.5, 0.45, 0.05])
    smoker = rng.random(n) < 0.3
    # dates from 1850 to 2250 (outside the nanosecond range's comfort zone on both sides)
    start = np.datetime64("1850-01-01", "D").astype(np.int64)
    end = np.datetime64("2250-12-31", "D").astype(np.int64)
    days = rng.integers(start, end, n)
    admitted = days.astype("datetime64[D]").astype("datetime64[s]")
    stay = rng.integers(0, 30, n)
    discharged = (days + stay).astype("datetime64[D]").astype("datetime64[s]")
    return pd.DataFrame(
        {
            "patient_id": [f"P{i:05d}" for i in range(n)],
            "age": age,
            "weight": weight,
            "sex": sex,
            "smoker": smoker,
            "admitted": admitted,
            "discharged": discharged,
            "site": "north",
        }
    )


def _train_on(frame: pd.DataFrame, folder, family: str, epochs: int, data_options: dict, model_options: dict | None = None):
    """``frame`` saved as Parquet in ``folder``, ``family`` trained on it (seed 3, batches of
    100, no evaluation); the real records and 3,000 generated ones (seed 0)."""
    frame.to_parquet(folder / "table.parquet")
    document = {
        "schema_version": 1, "seed": 3,
        "data": {"plugin": "tabular", "source": "table.parquet", "options": data_options},
        "model": {"family": family, "options": model_options or {}},
        "train": {"epochs": epochs, "batch_size": 100},
        "evaluate": {"enabled": False},
    }
    recipe = dg.recipe_from_dict(document, base_dir=folder, source="table.yaml")
    real, holdout = dg.load_data(recipe)
    bundle = dg.train(recipe, folder / "bundle", data=(real, holdout))
    return real, bundle.generate(3000, seed=0)


@pytest.fixture
def train_on():
    """``train_on(frame, folder, family, epochs, data_options)`` -> (real, synthetic)."""
    return _train_on
