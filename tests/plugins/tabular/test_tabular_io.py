"""Writing and reading generated tables: CSV with ISO dates, Parquet with dtypes."""

import pandas as pd
import pytest

from domaingen.errors import UsageError
from domaingen_plugins.tabular import GenerateOptions, plugin


def test_parquet_keeps_dtypes_and_order(tmp_path, mixed_table):
    paths = plugin.write(mixed_table, tmp_path / "part-00000", "parquet", GenerateOptions())
    assert paths == [tmp_path / "part-00000.parquet"]
    back = plugin.read(paths)
    pd.testing.assert_frame_equal(back, mixed_table)  # dtypes included (datetime64[s] 1850..2250)


def test_csv_writes_iso_dates_and_reads_back(tmp_path, mixed_table):
    paths = plugin.write(mixed_table, tmp_path / "part-00000", "csv", GenerateOptions())
    text = paths[0].read_text().splitlines()
    assert text[0].split(",") == list(mixed_table.columns)
    first = mixed_table.iloc[0]
    assert str(first["admitted"].date()) in text[1]  # ISO date
    back = plugin.read(paths)
    assert list(back.columns) == list(mixed_table.columns)
    assert (back["admitted"] == mixed_table["admitted"]).all()
    assert back["age"].dtype == mixed_table["age"].dtype and back["smoker"].dtype == bool
    assert back["weight"].isna().equals(mixed_table["weight"].isna())


def test_shards_concatenate_and_leave_no_temp_files(tmp_path, mixed_table):
    a = plugin.write(mixed_table.iloc[:200], tmp_path / "part-00000", "csv", GenerateOptions())
    b = plugin.write(mixed_table.iloc[200:], tmp_path / "part-00001", "csv", GenerateOptions())
    assert len(plugin.read(a + b)) == 400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["part-00000.csv", "part-00001.csv"]


def test_unknown_format(tmp_path, mixed_table):
    with pytest.raises(UsageError, match="csv"):
        plugin.write(mixed_table, tmp_path / "x", "xlsx", GenerateOptions())
