"""Column types and the codec: detection, overrides, round trips, missing values, ids, state."""

import json

import numpy as np
import pandas as pd
import pytest

from domaingen.errors import DataError
from domaingen_plugins.tabular import DataOptions, TabularCodec, plugin
from domaingen_plugins.tabular.columns import detect_columns


def kinds(df, **options):
    return {c.name: c.kind for c in detect_columns(df, DataOptions(**options))}


def test_type_detection(mixed_table):
    assert kinds(mixed_table) == {
        "patient_id": "id",
        "age": "numeric",
        "weight": "numeric",
        "sex": "categorical",
        "smoker": "boolean",
        "admitted": "datetime",
        "discharged": "datetime",
        "site": "constant",
    }
    infos = {c.name: c for c in detect_columns(mixed_table, DataOptions())}
    assert infos["age"].decimals == 0 and infos["weight"].decimals == 2
    assert infos["admitted"].unit == "D"
    assert infos["weight"].has_nan and 0.15 < infos["weight"].nan_rate < 0.35
    assert infos["sex"].categories[0] == "female"  # most frequent first


def test_type_overrides_and_small_integer_columns():
    df = pd.DataFrame({"grade": [1, 2, 3] * 20, "score": np.arange(60) * 1.5, "code": np.arange(60)})
    assert kinds(df)["grade"] == "categorical"  # few distinct integers
    assert kinds(df, integer_categorical_max=0)["grade"] == "numeric"
    got = kinds(df, columns={"grade": {"type": "numeric"}, "score": {"type": "categorical"}, "code": {"type": "id"}})
    assert got == {"grade": "numeric", "score": "categorical", "code": "id"}
    infos = detect_columns(df, DataOptions(columns={"score": {"type": "numeric", "min": 0, "max": 120}}))
    assert (infos[1].min, infos[1].max) == (0.0, 120.0)


def test_segments_and_names(mixed_table):
    codec = TabularCodec().fit(mixed_table)
    names = [s.name for s in codec.spec.segments]
    assert "sex" in names and codec.spec.segment("sex").size == 3
    assert codec.spec.segment("smoker").kind == "binary"
    assert codec.spec.segment("weight.missing").kind == "binary"
    assert "age.value" in names and "patient_id" not in " ".join(names) and "site" not in " ".join(names)
    x = codec.encode(mixed_table)
    assert x.dtype == np.float32 and x.shape == (400, codec.spec.width)
    # mode-normalised values are bounded (|v| <= 1 but for rare outliers); normal scores are not
    value = codec.spec.segment_slices()["age.value"].start
    assert codec.spec.segment("age.value").bounded and np.mean(np.abs(x[:, value]) <= 1.0) > 0.99
    quantile = TabularCodec(DataOptions(transform="quantile")).fit(mixed_table)
    assert not quantile.spec.segment("age.value").bounded


@pytest.mark.parametrize("transform", ["gmm", "quantile"])
def test_round_trip_within_documented_loss(mixed_table, transform):
    codec = TabularCodec(DataOptions(transform=transform)).fit(mixed_table)
    back = codec.decode(codec.encode(mixed_table), np.random.default_rng(0))
    assert list(back.columns) == list(mixed_table.columns)
    assert (back.dtypes.astype(str) == mixed_table.dtypes.astype(str)).all(), back.dtypes
    for col in ["age", "sex", "smoker", "site"]:
        assert (back[col] == mixed_table[col]).all(), col
    assert back["weight"].isna().equals(mixed_table["weight"].isna())
    if transform == "gmm":  # exact after rounding to the column's 2 decimals
        np.testing.assert_array_equal(back["weight"].to_numpy(), mixed_table["weight"].to_numpy())
        assert (back["admitted"] == mixed_table["admitted"]).all()
    else:  # quantile: exact at the 1001 stored quantiles, linear between them
        assert np.nanmax(np.abs(back["weight"] - mixed_table["weight"])) < 0.5
        gap = np.abs((back["admitted"] - mixed_table["admitted"]).dt.days)
        assert gap.max() < 400  # 400-year range, 1000 quantiles -> about a year at worst
    assert back["admitted"].min().year == mixed_table["admitted"].min().year == 1850
    assert back["admitted"].max().year == 2250
    assert back["patient_id"].is_unique and not set(back["patient_id"]) & set(mixed_table["patient_id"])
    assert back["patient_id"].str.startswith("P").all()


def test_decode_of_noise_respects_types_bounds_and_nan_rate(mixed_table):
    codec = TabularCodec().fit(mixed_table)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5000, codec.spec.width))
    slices = codec.spec.segment_slices()
    x[:, slices["weight.missing"]] = (rng.random((5000, 1)) < 0.25).astype(float)  # like a model would
    out = codec.decode(x, np.random.default_rng(2))
    assert out["age"].between(18, 89).all() and out["age"].dtype == np.int64
    assert out["weight"].dropna().round(2).eq(out["weight"].dropna()).all()
    assert abs(out["weight"].isna().mean() - 0.25) < 0.03
    assert set(out["sex"]) <= {"female", "male", "other"}
    assert out["smoker"].dtype == bool
    assert (out["site"] == "north").all()
    assert out["patient_id"].is_unique


def test_rare_bucket_bounds_the_width_and_resamples_rare_values():
    rng = np.random.default_rng(0)
    common = rng.choice(["a", "b", "c"], 3000)
    rare = np.array([f"r{i}" for i in range(500)] * 2)
    df = pd.DataFrame({"code": np.concatenate([common, rare]), "x": rng.normal(size=4000)})
    codec = TabularCodec(DataOptions(max_categories=10)).fit(df)
    assert codec.spec.segment("code").size == 10
    x = codec.encode(df)
    rare_slot = x[:, codec.spec.segment_slices()["code"]][:, -1]
    kept = codec.column("code").categories
    assert len(kept) == 9 and set("abc") <= set(kept)  # 3 common + the 6 first rare values; 1 bucket
    assert rare_slot.sum() == 1000 - 6 * 2
    assert len(codec.column("code").rare_values) == 494
    out = codec.decode(x, np.random.default_rng(0))
    assert out["code"].isin(["a", "b", "c"]).sum() == 3000
    assert out["code"].str.startswith("r").sum() == 1000
    assert out["code"].nunique() > 300  # rare values come back from the stored frequencies


def test_state_round_trips_through_json_and_npz(tmp_path, mixed_table):
    codec = TabularCodec(DataOptions(constraints=[{"type": "fixed_combinations", "columns": ["sex", "smoker"]}])).fit(mixed_table)
    config = json.loads(json.dumps(codec.get_config()))
    np.savez(tmp_path / "codec.npz", **codec.get_arrays())
    with np.load(tmp_path / "codec.npz", allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    again = plugin.codec_from_config(config, arrays)
    x = codec.encode(mixed_table)
    np.testing.assert_array_equal(again.encode(mixed_table), x)
    pd.testing.assert_frame_equal(again.decode(x, np.random.default_rng(5)), codec.decode(x, np.random.default_rng(5)))
    with pytest.raises(DataError, match="format version"):
        plugin.codec_from_config({**config, "format_version": 99}, arrays)


def test_same_seed_same_decode(mixed_table):
    codec = TabularCodec().fit(mixed_table)
    x = np.random.default_rng(0).normal(size=(50, codec.spec.width))
    a = codec.decode(x, np.random.default_rng(3))
    b = codec.decode(x, np.random.default_rng(3))
    pd.testing.assert_frame_equal(a, b)


def test_nothing_to_learn_is_a_data_error():
    df = pd.DataFrame({"id": [f"x{i}" for i in range(100)], "c": 1})
    with pytest.raises(DataError, match="nothing to learn"):
        TabularCodec().fit(df)


def test_numeric_nan_only_in_integer_column_keeps_float(mixed_table):
    df = mixed_table[["age", "sex"]].copy()
    df["age"] = df["age"].astype(float)
    df.loc[::7, "age"] = np.nan
    codec = TabularCodec().fit(df)
    out = codec.decode(codec.encode(df), np.random.default_rng(0))
    assert out["age"].isna().equals(df["age"].isna())
    assert out["age"].dropna().eq(df["age"].dropna()).all()


def test_codec_fit_uses_a_bounded_subsample():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": np.concatenate([rng.normal(-5, 1, 30_000), rng.normal(5, 1, 30_000)])})
    codec = TabularCodec(DataOptions(codec_fit_rows=2_000)).fit(df)
    means = codec.get_arrays()["means_0"] * codec.transforms_[0]["scale"] + codec.transforms_[0]["loc"]
    assert len(means) >= 2 and means.min() < -4 and means.max() > 4  # both modes found


def test_datetimes_of_any_era_and_time_zones(tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    lo, hi = (np.datetime64(d, "D").astype(np.int64) for d in ("1500-01-01", "3000-01-01"))
    df = pd.DataFrame(
        {
            "day": pd.Series(rng.integers(lo, hi, n).astype("datetime64[D]").astype("datetime64[s]")),
            "stamp": pd.Series(pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris")),
            "x": rng.normal(size=n),
        }
    )
    codec = TabularCodec().fit(df)
    assert codec.column("day").unit == "D" and codec.column("stamp").tz == "Europe/Paris"
    back = codec.decode(codec.encode(df), np.random.default_rng(0))
    assert (back["day"] == df["day"]).all()  # day unit: exact across 1500 years
    assert back["stamp"].dtype == df["stamp"].dtype
    # second unit: float32 arrays hold ~7 significant digits of the column's spread
    assert (back["stamp"] - df["stamp"]).abs().max() < pd.Timedelta(minutes=1)
    paths = plugin.write(back, tmp_path / "part-00000", "csv", None)
    again = plugin.read(paths)
    assert (again["day"] == df["day"]).all()
    assert (again["stamp"] == back["stamp"]).all()  # CSV keeps the offsets; read back in UTC


def test_pandas_nullable_and_odd_dtypes_round_trip():
    df = pd.DataFrame(
        {
            "count": pd.array([1, 2, None] * 20, dtype="Int64") * pd.array(np.arange(60), dtype="Int64"),
            "flag": pd.array([True, False, None] * 20, dtype="boolean"),
            "text": pd.array(["x", "y", None] * 20, dtype="string"),
            "level": pd.Categorical(["lo", "hi", "mid"] * 20),
            "empty": np.nan,
            "mixed": ["a", 1, "b"] * 20,
            "maybe": [True, False, None] * 20,
        }
    )
    codec = TabularCodec().fit(df)
    assert [c.kind for c in codec.columns_] == [
        "numeric", "boolean", "categorical", "categorical", "constant", "categorical", "boolean"
    ]
    back = codec.decode(codec.encode(df), np.random.default_rng(0))
    assert (back.dtypes.astype(str) == df.dtypes.astype(str)).all(), back.dtypes
    for col in df.columns:
        as_list = lambda s: s.astype(object).where(s.notna(), None).tolist()  # noqa: E731
        assert as_list(back[col]) == as_list(df[col]), col


@pytest.mark.parametrize("order", ["C", "F"])
def test_column_argmax_equals_numpy_first_maximum(order):
    from domaingen_plugins.tabular.codec import _argmax_columns

    rng = np.random.default_rng(0)
    block = np.asarray(rng.integers(0, 3, size=(500, 5)), dtype="float32", order=order)  # many ties
    np.testing.assert_array_equal(_argmax_columns(block), np.argmax(block, axis=1))
    onehot = np.eye(7, dtype="float32")[rng.integers(0, 7, 300)]
    np.testing.assert_array_equal(_argmax_columns(np.asfortranarray(onehot)), onehot.argmax(axis=1))
    for width in (1, 127, 128, 300):  # the index type widens past 127 columns
        wide = np.asarray(rng.normal(size=(200, width)), dtype="float32", order=order)
        wide[:, -1] = wide.max(axis=1) + 1.0  # the last column wins: the widest index
        np.testing.assert_array_equal(_argmax_columns(wide), np.argmax(wide, axis=1))
