"""Coded columns (issue 16): categories written as small numbers, often with NaN — 0/1
flags, 1/2 arms, 1-4 stages, 0/0.5/1 grades — are categorical (ordered), decode to exactly
their codes in their dtype, and keep their frequencies through a model.

Tolerance of the model test (VAE, 30 epochs on 1,500 rows; measured TVComplement 0.97 /
0.97 / 0.95 / 1.00 for stage / flag / grade / arm, where reading them as numbers gave
0.89 / 0.76 / 0.51 / 0.96): TVComplement >= 0.92 per coded column, every code's share
within 0.06 of the real one, the missing share within 0.03, and no value that is not a code.
"""

import json

import numpy as np
import pandas as pd
import pytest

from domaingen_plugins.tabular import DataOptions, TabularCodec, plugin
from domaingen_plugins.tabular import metrics as M
from domaingen_plugins.tabular.columns import detect_columns, is_coded
from domaingen_plugins.tabular.conditions import build_request
from domaingen_plugins.tabular.options import GenerateOptions

CODED = ["stage", "flag", "grade", "arm"]


def coded_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """stage 1-4 (floats), flag 0/1 depending on stage (10 % NaN), grade 0/0.5/1 (15 % NaN),
    arm 1/2 (integers), lab continuous (depends on stage)."""
    rng = np.random.default_rng(seed)
    stage = rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1])
    flag = (rng.random(n) < 0.15 + 0.1 * stage).astype(float)
    flag[rng.random(n) < 0.1] = np.nan
    grade = rng.choice([0.0, 0.5, 1.0], n, p=[0.5, 0.3, 0.2])
    grade[rng.random(n) < 0.15] = np.nan
    arm = rng.choice([1, 2], n)
    lab = np.round(rng.normal(5 + stage, 1.5, n), 2)
    return pd.DataFrame({"stage": stage.astype(float), "flag": flag, "grade": grade, "arm": arm, "lab": lab})


def infos(df, **options):
    return {c.name: c for c in detect_columns(df, DataOptions(**options))}


def test_coded_columns_are_detected_as_ordered_categories():
    rng = np.random.default_rng(1)
    df = coded_table(600)
    df["signed"] = rng.choice([-1.0, 0.0, 1.0], 600)  # codes may be negative
    df["irregular"] = rng.choice([0.1, 0.37, 0.92], 600)  # three numbers, no regular grid
    df["sparse_grid"] = rng.choice([0.0, 0.1, 1.0], 600)  # a grid of 11 points, 3 used
    df["counts"] = rng.integers(0, 15, 600).astype(float)  # 15 whole-number levels: too many
    got = infos(df)
    kinds = {c: i.kind for c, i in got.items()}
    assert kinds == {"stage": "categorical", "flag": "categorical", "grade": "categorical", "arm": "categorical",
                     "lab": "numeric", "signed": "categorical", "irregular": "numeric", "sparse_grid": "numeric",
                     "counts": "numeric"}
    for col in CODED + ["signed"]:
        assert got[col].coded and got[col].ordinal, col
    assert not got["lab"].coded
    assert got["stage"].categories == [1.0, 2.0, 3.0, 4.0]  # ascending, not by frequency
    assert got["grade"].categories == [0.0, 0.5, 1.0] and got["grade"].has_nan
    assert got["arm"].categories == [1, 2]


def test_recipe_override_and_option_still_win():
    df = coded_table(300)
    forced = infos(df, columns={"grade": {"type": "numeric"}, "lab": {"type": "categorical"}})
    assert forced["grade"].kind == "numeric" and not forced["grade"].coded
    assert forced["lab"].kind == "categorical" and forced["lab"].coded  # numbers forced categorical: still codes
    assert {c: i.kind for c, i in infos(df, integer_categorical_max=0).items() if c in CODED} == dict.fromkeys(CODED, "numeric")


def test_few_rows_per_level_stay_numeric():
    assert not is_coded(pd.Series([1.0, 2.0, 3.0, 1.0, 2.0]), 10)  # under 3 rows per level
    assert is_coded(pd.Series([1.0, 2.0, 3.0] * 3), 10)
    assert is_coded(pd.Series([1, 2, 3]), 10)  # an integer dtype: as before, whatever the rows
    assert is_coded(pd.Series([0.0, 0.25, 0.5, 1.0] * 3), 10)  # 5 grid points, 4 used
    assert not is_coded(pd.Series([0.0, 0.25, 0.5, 1.0] * 3), 3)


def test_coded_columns_round_trip_exactly_with_dtype_and_nan():
    df = coded_table(500)
    df["nullable"] = pd.array(np.where(np.arange(500) % 7 == 0, None, np.arange(500) % 3), dtype="Int64")
    df["single"] = np.float32(df["grade"].fillna(0.5).to_numpy())
    codec = TabularCodec().fit(df)
    assert codec.column("nullable").coded and codec.column("single").coded
    back = codec.decode(codec.encode(df), np.random.default_rng(0))
    assert (back.dtypes == df.dtypes).all(), back.dtypes
    for col in df.columns:
        if col != "lab":
            pd.testing.assert_series_equal(back[col], df[col], check_names=False)


def test_decoded_noise_gives_only_codes():
    df = coded_table(500)
    codec = TabularCodec().fit(df)
    x = np.random.default_rng(2).normal(size=(4000, codec.spec.width))
    out = codec.decode(x, np.random.default_rng(3))
    for col in CODED:
        assert out[col].dropna().isin(df[col].dropna().unique()).all(), col
    assert out["flag"].isna().any() and not out["arm"].isna().any()


def test_codec_state_keeps_codes_and_conditions_take_a_code():
    df = coded_table(400)
    codec = TabularCodec().fit(df)
    again = plugin.codec_from_config(json.loads(json.dumps(codec.get_config())), codec.get_arrays())
    assert again.column("grade").coded and again.column("grade").categories == [0.0, 0.5, 1.0]
    x = codec.encode(df)
    pd.testing.assert_frame_equal(again.decode(x, np.random.default_rng(1)), codec.decode(x, np.random.default_rng(1)))
    request = build_request(codec, GenerateOptions(conditions={"stage": 3}))
    assert request.conditions == {"stage": 2}  # the third code in ascending order


@pytest.mark.parametrize("family, epochs, data_options", [("vae", 30, {}), ("copula", 1, {"transform": "quantile"})])
def test_model_reproduces_code_frequencies(tmp_path, train_on, family, epochs, data_options):
    real, synthetic = train_on(coded_table(), tmp_path, family, epochs, data_options)
    assert (synthetic.dtypes == real.dtypes).all()
    for col in CODED:
        assert synthetic[col].dropna().isin(real[col].dropna().unique()).all(), col  # never in between
        assert M.tv_complement(real[col], synthetic[col]) >= 0.92, col
        p = real[col].value_counts(normalize=True)
        q = synthetic[col].value_counts(normalize=True).reindex(p.index).fillna(0.0)
        assert (p - q).abs().max() <= 0.06, (col, p.to_dict(), q.to_dict())
        assert abs(real[col].isna().mean() - synthetic[col].isna().mean()) <= 0.03, col
