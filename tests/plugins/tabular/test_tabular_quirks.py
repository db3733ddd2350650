"""Tables with quirks, written to real files: duplicate header names, always-missing
columns (end to end through the pipeline), and synthetic tables whose schema differs from
the real one (missing / extra columns, text in numeric columns, unseen categories)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domaingen.errors import ConditionError, DataError, UsageError
from domaingen_plugins.tabular import DataOptions, EvaluateOptions, plugin
from domaingen_plugins.tabular import metrics as M
from domaingen_plugins.tabular.codec import TabularCodec
from domaingen_plugins.tabular.conditions import build_request
from domaingen_plugins.tabular.options import GenerateOptions


# --- duplicate header names ---------------------------------------------------------------------
def test_duplicate_csv_header_is_refused_naming_columns(tmp_path):
    (tmp_path / "dup.csv").write_text("a,b,a,c,b\n1,2,3,4,5\n6,7,8,9,10\n")
    with pytest.raises(DataError) as err:
        plugin.load("dup.csv", DataOptions(), tmp_path)
    message = str(err.value)
    assert "dup.csv" in message and "'a' (columns 1, 3)" in message and "'b' (columns 2, 5)" in message
    assert "rename them in the file" in message and "duplicate_columns: rename" in message
    assert err.value.exit_code == 2


def test_duplicate_header_in_gzipped_tsv_and_quoted_names(tmp_path):
    with gzip.open(tmp_path / "dup.tsv.gz", "wt") as fh:
        fh.write('"x y"\tz\t"x y"\n1\t2\t3\n')
    with pytest.raises(DataError, match=r"'x y' \(columns 1, 3\)"):
        plugin.load("dup.tsv.gz", DataOptions(), tmp_path)


def test_names_pandas_would_mangle_but_are_distinct_still_load(tmp_path):
    (tmp_path / "ok.csv").write_text("a,a.1,,\n1,2,3,4\n5,6,7,8\n")  # two empty names: positions, not duplicates
    frame = plugin.load("ok.csv", DataOptions(), tmp_path)
    assert list(frame.columns)[:2] == ["a", "a.1"]


def test_duplicate_columns_rename_option_uses_pandas_renaming(tmp_path):
    (tmp_path / "dup.csv").write_text("a,a,b,a.1\n1,2,3,4\n5,6,7,8\n")
    frame = plugin.load("dup.csv", DataOptions(duplicate_columns="rename"), tmp_path)
    assert list(frame.columns) == ["a", "a.2", "b", "a.1"]  # exactly what pandas names them
    assert frame["a.2"].tolist() == [2, 6]


def _duplicate_parquet(path: Path) -> Path:
    table = pa.Table.from_arrays([pa.array([1, 2, 3]), pa.array([4.0, 5.0, 6.0]), pa.array(["x", "y", "z"])],
                                 names=["a", "a", "b"])
    pq.write_table(table, path)
    return path


def test_duplicate_parquet_field_names_are_refused_or_renamed(tmp_path):
    _duplicate_parquet(tmp_path / "dup.parquet")
    with pytest.raises(DataError, match=r"dup\.parquet: duplicate column names.*'a' \(columns 1, 2\)"):
        plugin.load("dup.parquet", DataOptions(), tmp_path)
    frame = plugin.load("dup.parquet", DataOptions(duplicate_columns="rename"), tmp_path)
    assert list(frame.columns) == ["a", "a.1", "b"] and frame["a.1"].tolist() == [4.0, 5.0, 6.0]


def test_duplicate_columns_option_is_validated():
    with pytest.raises(Exception, match="duplicate_columns"):
        DataOptions(duplicate_columns="keep")


# --- always-missing columns -----------------------------------------------------------------------
def _with_empty_columns(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "x": rng.normal(10, 2, n),
        "kind": rng.choice(["a", "b"], n),
        "empty_float": np.full(n, np.nan),
        "empty_text": pd.Series([None] * n, dtype=object),
        "empty_date": pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[s]")),
    })


def test_always_missing_columns_have_no_segment_and_decode_all_missing():
    frame = _with_empty_columns()
    codec = TabularCodec(DataOptions(columns={"empty_float": {"type": "numeric"}})).fit(frame)
    for name in ("empty_float", "empty_text", "empty_date"):
        info = codec.column(name)
        assert info.always_missing and info.kind == "constant"
        assert not any(s.name.startswith(name) for s in codec.spec.segments)
    x = codec.encode(frame)
    noise = np.random.default_rng(0).normal(size=(50, codec.spec.width)).astype(np.float32)
    for decoded in (codec.decode(x, np.random.default_rng(0)), codec.decode(noise, np.random.default_rng(0))):
        assert decoded[["empty_float", "empty_text", "empty_date"]].isna().all().all()
        assert decoded["empty_float"].dtype == np.float64
        assert pd.api.types.is_datetime64_any_dtype(decoded["empty_date"])
    with pytest.raises(ConditionError, match="always missing"):
        build_request(codec, GenerateOptions(conditions={"empty_float": 1.0}))


def test_random_baseline_of_a_column_without_values():
    real = pd.DataFrame({"x": [1.0, 2.0, 3.0], "e": [np.nan] * 3})
    out = M.random_baseline(real, 5, np.random.default_rng(0))
    assert out["e"].isna().all() and out["x"].between(1, 3).all()


def test_evaluate_reports_always_missing_column_and_skips_it(mixed_table):
    real = mixed_table.assign(empty=np.nan)
    synthetic = real.sample(frac=1.0, random_state=1).reset_index(drop=True)
    report = plugin.evaluate(real, synthetic, None, EvaluateOptions(), None, np.random.default_rng(0))
    assert report["schema"]["always_missing"] == {"empty": {"synthetic_values": 0}}
    assert "empty" not in report["column_types"]
    assert any("'empty' is always missing" in w for w in report["schema"]["warnings"])
    with pytest.raises(UsageError, match="'empty' is always missing"):
        plugin.evaluate(real, synthetic, real, EvaluateOptions(target="empty"), None, np.random.default_rng(0))


def test_all_nan_column_end_to_end_through_the_pipeline(tmp_path):
    import domaingen as dg

    rng = np.random.default_rng(0)
    n = 120
    pd.DataFrame({
        "x": rng.normal(size=n), "c": rng.choice(list("ab"), n), "empty": np.full(n, np.nan),
    }).to_csv(tmp_path / "t.csv", index=False)
    (tmp_path / "r.yaml").write_text(
        "schema_version: 1\nname: all-nan\nseed: 1\n"
        "data: {plugin: tabular, source: t.csv}\n"
        "model: {family: vae, options: {latent_dim: 2, hidden: [8]}}\n"
        "train: {epochs: 1, batch_size: 64}\n"
        "generate: {n: 40, format: csv}\n"
        "evaluate: {enabled: true, holdout: 0.2}\n"
    )
    result = dg.run(dg.load_recipe(tmp_path / "r.yaml"), tmp_path / "out")
    synthetic = pd.read_csv(result.files[0])
    assert len(synthetic) == 40 and synthetic["empty"].isna().all() and synthetic["x"].notna().all()
    metrics = json.loads((tmp_path / "out" / "report.json").read_text())["metrics"]
    assert metrics["schema"]["always_missing"] == {"empty": {"synthetic_values": 0}}
    assert metrics["summary"]["quality_score"] is not None
    assert "always missing" in (tmp_path / "out" / "report.html").read_text()


# --- schema of the synthetic table ---------------------------------------------------------------
@pytest.fixture
def real_csv(tmp_path, mixed_table):
    mixed_table.to_csv(tmp_path / "real.csv", index=False)
    return plugin.load("real.csv", DataOptions(), tmp_path)


def _evaluate(real, synthetic, tmp_path=None):
    return plugin.evaluate(real, synthetic, None, EvaluateOptions(), tmp_path, np.random.default_rng(0))


def test_synthetic_lacking_real_columns_is_refused(real_csv):
    with pytest.raises(DataError) as err:
        _evaluate(real_csv, real_csv.drop(columns=["age", "patient_id"]))
    assert "lacks the real columns" in str(err.value) and "'age'" in str(err.value)
    assert "'patient_id'" in str(err.value)  # identifiers too: the schema is the real table's


def test_extra_columns_are_ignored_with_a_warning(real_csv):
    plain = _evaluate(real_csv, real_csv)
    report = _evaluate(real_csv, real_csv.assign(bonus=1.0, note="x"))
    assert report["schema"]["extra_columns"] == ["bonus", "note"]
    assert any("bonus" in w and "ignored" in w for w in report["schema"]["warnings"])
    assert report["summary"]["quality_score"] == plain["summary"]["quality_score"]
    assert plain["schema"]["warnings"] == [] and plain["summary"]["schema_warnings"] == 0


def test_text_in_numeric_and_date_columns_is_counted_and_scored_as_missing(tmp_path, real_csv):
    synthetic = real_csv.copy()
    synthetic.to_csv(tmp_path / "syn.csv", index=False)
    text = pd.read_csv(tmp_path / "syn.csv", dtype=str)
    text.loc[[0, 5, 9], "age"] = "unknown"
    text.loc[[2], "weight"] = "heavy"
    text.loc[[3, 4], "admitted"] = "yesterday"
    text.to_csv(tmp_path / "syn.csv", index=False)
    synthetic = plugin.read([tmp_path / "syn.csv"])
    assert synthetic["age"].dtype == object and synthetic["admitted"].dtype == object  # as read: text
    report = _evaluate(real_csv, synthetic, tmp_path)
    invalid = report["schema"]["invalid_values"]
    assert invalid["age"]["count"] == 3 and invalid["age"]["examples"] == ["unknown"]
    assert invalid["weight"]["count"] == 1 and invalid["admitted"]["count"] == 2
    assert invalid["age"]["share"] == pytest.approx(3 / len(synthetic))
    # the rest of each column is still scored as numbers / dates: close to the real data
    shapes = report["quality"]["properties"]["Column Shapes"]["columns"]
    assert shapes["age"]["score"] > 0.95 and shapes["admitted"]["score"] > 0.95
    assert report["diagnostics"]["BoundaryAdherence"]["columns"]["age"] < 1.0  # invalid = outside
    html = (tmp_path / "report.html").read_text()
    assert "Schema warnings" in html and "are not numbers" in html and "are not dates" in html


def test_unseen_categories_are_counted_and_listed(real_csv):
    synthetic = real_csv.copy()
    synthetic["sex"] = synthetic["sex"].astype(object)
    synthetic.loc[[1, 2, 3], "sex"] = "unknown"
    synthetic.loc[[4], "sex"] = "Female"
    report = _evaluate(real_csv, synthetic)
    unseen = report["schema"]["unseen_categories"]["sex"]
    assert unseen["count"] == 4 and unseen["values"] == ["unknown", "Female"]
    assert report["diagnostics"]["CategoryAdherence"]["columns"]["sex"] == pytest.approx(1 - 4 / len(synthetic))
    assert any("'sex'" in w and "categories the real data" in w for w in report["schema"]["warnings"])


def test_numeric_categories_and_booleans_read_as_text_are_compared_as_values(tmp_path):
    real = pd.DataFrame({"grade": [1, 2, 3, 1, 2, 3] * 10, "flag": [True, False] * 30, "v": np.arange(60.0)})
    synthetic = real.astype(object)
    synthetic.loc[0, "grade"] = "x"  # one stray value keeps a CSV column as text
    synthetic["grade"] = synthetic["grade"].astype(str)
    synthetic["flag"] = synthetic["flag"].astype(str)
    report = _evaluate(real, synthetic)
    assert report["schema"]["unseen_categories"] == {"grade": {"count": 1, "share": pytest.approx(1 / 60),
                                                                "values": ["x"]}}
