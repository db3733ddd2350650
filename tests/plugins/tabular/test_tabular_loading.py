"""Loading tables: embedded sklearn data sets, CSV, Parquet, and clear errors for bad input."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from domaingen.errors import DataError
from domaingen_plugins.tabular import DataOptions, plugin


def test_plugin_import_does_not_load_keras():
    import subprocess
    import sys

    code = "import sys, domaingen_plugins.tabular as t; assert t.plugin.name == 'tabular'; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"


def test_breast_cancer_has_a_diagnosis_column():
    df = plugin.load("sklearn:breast_cancer", DataOptions(), Path("."))
    assert df.shape == (569, 31)
    assert df["diagnosis"].value_counts().to_dict() == {"benign": 357, "malignant": 212}
    assert "target" not in df.columns


def test_diabetes_keeps_target():
    df = plugin.load("sklearn:diabetes", DataOptions(), Path("."))
    assert df.shape == (442, 11) and "target" in df.columns
    assert df["age"].min() >= 18  # unscaled values (years)


def test_unknown_sklearn_source():
    with pytest.raises(DataError, match="sklearn:breast_cancer"):
        plugin.load("sklearn:iris", DataOptions(), Path("."))


def test_csv_and_parquet_relative_to_base_dir(tmp_path, mixed_table):
    mixed_table.to_csv(tmp_path / "t.csv", index=False)
    mixed_table.to_parquet(tmp_path / "t.parquet", index=False)
    from_csv = plugin.load("t.csv", DataOptions(), tmp_path)
    from_pq = plugin.load("t.parquet", DataOptions(), tmp_path)
    assert list(from_csv.columns) == list(mixed_table.columns)
    # ISO dates in text become datetimes, even in 1850 and 2250
    assert pd.api.types.is_datetime64_any_dtype(from_csv["admitted"])
    assert (from_csv["admitted"].to_numpy().astype("datetime64[s]") == mixed_table["admitted"].to_numpy()).all()
    pd.testing.assert_frame_equal(from_pq, mixed_table, check_dtype=False)


def test_drop_and_unknown_columns(tmp_path, mixed_table):
    mixed_table.to_csv(tmp_path / "t.csv", index=False)
    df = plugin.load("t.csv", DataOptions(drop=["site"]), tmp_path)
    assert "site" not in df.columns
    with pytest.raises(DataError, match="nope"):
        plugin.load("t.csv", DataOptions(drop=["nope"]), tmp_path)
    with pytest.raises(DataError, match="unknown columns"):
        plugin.load("t.csv", DataOptions(columns={"nope": {"type": "numeric"}}), tmp_path)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", b"", "empty"),
        ("header_only.csv", b"a,b\n", "no rows"),
        ("broken.parquet", b"PAR1 this is not parquet", "cannot read"),
        ("table.xlsx", b"x", "format"),
        ("bad.csv", b'a,b\n1,"unterminated\n', "cannot read"),
    ],
)
def test_bad_files_raise_data_error(tmp_path, name, content, message):
    if content is not None:
        (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=message):
        plugin.load(name, DataOptions(), tmp_path)


def test_unreadable_column_types(tmp_path):
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="'b' is declared numeric but 'x'"):
        plugin.load("t.csv", DataOptions(columns={"b": {"type": "numeric"}}), tmp_path)
    with pytest.raises(DataError, match="'b' is declared datetime"):
        plugin.load("t.csv", DataOptions(columns={"b": {"type": "datetime"}}), tmp_path)
    nested = pd.DataFrame({"a": [1, 2], "tags": [[1, 2], [3]]})
    nested.to_parquet(tmp_path / "n.parquet")
    with pytest.raises(DataError, match="'tags' holds a"):
        plugin.load("n.parquet", DataOptions(), tmp_path)


def test_split_take_concat(mixed_table):
    train, hold = plugin.split(mixed_table, 0.25, np.random.default_rng(0))
    assert len(train) == 300 and len(hold) == 100
    assert set(train["patient_id"]).isdisjoint(hold["patient_id"])
    both = plugin.concat([train, hold])
    assert sorted(both["patient_id"]) == sorted(mixed_table["patient_id"])
    assert plugin.count(both) == 400
