"""Missing values that come in blocks (issue 16): columns B-G are missing together for the
same quarter of the rows (a sub-study), and 5 % at random elsewhere. The codec encodes the
group's joint missing pattern as one categorical segment, so every family reproduces it.

Tolerances of the model tests (1,500 rows, 3,000 generated; real: 26.1 % of the rows
have B-G all missing, phi(B missing, C missing) = 0.83):

- copula (measured 26.6 %, phi 0.84) and vae at 150 epochs (24.0 %, 0.79): the all-missing
  share within 0.05 of the real one, phi within 0.08, and ContingencySimilarity of the two
  missing flags >= 0.95. With one flag per column (``missing_patterns: 0``) they measured
  2.9 % / phi 0.29 (copula) and 18.9 % / 0.62 (vae), which fail these bounds.
- gan at 100 epochs (18.1 %, phi 0.67; per-column flags: 0.1 %, phi 0.02): asked only for
  >= 12 % and phi >= 0.45, far above the per-column baseline, not yet near the real share.
"""

import json

import numpy as np
import pandas as pd
import pytest

from domaingen_plugins.tabular import DataOptions, TabularCodec, plugin
from domaingen_plugins.tabular import metrics as M

BLOCK = list("BCDEFG")


def block_table(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """age; B-G follow age, all missing on a fixed 25 % of the rows and 5 % at random each
    elsewhere; arm 1/2; x with 10 % missing independently of everything."""
    rng = np.random.default_rng(seed)
    age = rng.normal(60, 10, n).round(1)
    block = rng.random(n) < 0.25
    frame = pd.DataFrame({"age": age})
    for j, col in enumerate(BLOCK):
        values = (0.5 * age + rng.normal(0, 5, n) + j).round(2)
        values[block | (rng.random(n) < 0.05)] = np.nan
        frame[col] = values
    frame["arm"] = rng.choice([1, 2], n)
    return frame


def all_missing(frame: pd.DataFrame) -> float:
    return float(frame[BLOCK].isna().all(axis=1).mean())


def phi(frame: pd.DataFrame, a: str = "B", b: str = "C") -> float:
    return float(np.corrcoef(frame[a].isna().astype(float), frame[b].isna().astype(float))[0, 1])


# --- the codec ---------------------------------------------------------------------------------
def test_block_is_one_pattern_segment_and_round_trips():
    df = block_table()
    df["x"] = np.where(np.random.default_rng(5).random(len(df)) < 0.1, np.nan, 1.5 * df["age"])
    codec = TabularCodec().fit(df)
    names = [s.name for s in codec.spec.segments]
    assert "B.missing_pattern" in names and codec.spec.segment("B.missing_pattern").kind == "categorical"
    assert not any(f"{c}.missing" in names for c in BLOCK)  # every pattern kept: no per-column flags
    assert "x.missing" in names  # missing independently: its own flag, as before
    assert names.index("B.missing_pattern") < names.index("B.value")
    group = codec.missing_group("C")
    assert group["columns"] == BLOCK and not group["other"]
    assert group["patterns"][1] == [1] * 6 and abs(group["frequencies"][1] - all_missing(df)) < 1e-12
    back = codec.decode(codec.encode(df), np.random.default_rng(0))
    for col in df.columns:
        assert back[col].isna().equals(df[col].isna()), col
    state = plugin.codec_from_config(json.loads(json.dumps(codec.get_config())), codec.get_arrays())
    np.testing.assert_array_equal(state.encode(df), codec.encode(df))


def test_decoding_a_pattern_sets_the_whole_block():
    codec = TabularCodec().fit(block_table())
    slices = codec.spec.segment_slices()
    x = np.random.default_rng(1).normal(size=(500, codec.spec.width))
    block = slices["B.missing_pattern"]
    x[:, block] = -5.0
    x[:250, block.start + 1] = 5.0  # pattern 1: all of B-G missing
    x[250:, block.start] = 5.0  # pattern 0: none missing
    out = codec.decode(x, np.random.default_rng(2))
    assert out.loc[:249, BLOCK].isna().all().all() and out.loc[250:, BLOCK].notna().all().all()


def test_more_patterns_than_slots_use_an_other_slot_and_own_flags():
    df = block_table()
    codec = TabularCodec(DataOptions(missing_patterns=3)).fit(df)
    group = codec.missing_group("B")
    assert group["other"] and len(group["patterns"]) == 3
    assert codec.spec.segment("B.missing_pattern").size == 4
    assert all(f"{c}.missing" in codec.spec.segment_slices() for c in BLOCK)  # they decide the "other" rows
    x = codec.encode(df)
    other = x[:, codec.spec.segment_slices()["B.missing_pattern"]][:, 3] == 1
    assert 0 < other.mean() < 0.2
    back = codec.decode(x, np.random.default_rng(0))
    for col in BLOCK:
        assert back[col].isna().equals(df[col].isna()), col


def test_independent_columns_and_option_zero_keep_per_column_flags():
    rng = np.random.default_rng(3)
    n = 2000
    indep = pd.DataFrame({c: np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)) for c in "PQR"})
    assert TabularCodec().fit(indep).missing_groups_ == []
    codec = TabularCodec(DataOptions(missing_patterns=0)).fit(block_table())
    assert codec.missing_groups_ == [] and all(f"{c}.missing" in codec.spec.segment_slices() for c in BLOCK)


def test_group_whose_kept_patterns_cover_too_few_rows_falls_back():
    rng = np.random.default_rng(4)
    n = 2000
    which = rng.choice(3, n, p=[0.4, 0.3, 0.3])  # 40 % all missing, 30 % none, 30 % one random column
    frame = pd.DataFrame({c: rng.normal(size=n) for c in "PQRS"})
    masks = np.zeros((n, 4), dtype=bool)
    masks[which == 0] = True
    masks[np.flatnonzero(which == 2), rng.integers(0, 4, int((which == 2).sum()))] = True
    frame = frame.mask(masks)
    assert TabularCodec(DataOptions(missing_patterns=1)).fit(frame).missing_groups_ == []  # 40 % < half the rows
    assert len(TabularCodec(DataOptions(missing_patterns=2)).fit(frame).missing_groups_) == 1


def test_unseen_pattern_is_encoded_as_the_nearest_kept_one():
    df = block_table()
    codec = TabularCodec().fit(df)
    patterns = [tuple(p) for p in codec.missing_group("B")["patterns"]]
    new = df.iloc[:1].copy()
    new[BLOCK] = np.nan
    new["G"] = 1.0  # B-F missing, G present
    if (1, 1, 1, 1, 1, 0) in patterns:
        pytest.skip("the pattern happens to occur in training")
    slot = codec.encode(new)[0, codec.spec.segment_slices()["B.missing_pattern"]].argmax()
    assert patterns[slot] == (1, 1, 1, 1, 1, 1)


def test_segment_name_never_collides_with_a_column():
    df = block_table(600)
    df["B.missing_pattern"] = np.random.default_rng(0).choice(["u", "v"], len(df))
    codec = TabularCodec().fit(df)
    assert codec.missing_group("B")["segment"] == "B.missing_pattern_"
    assert codec.spec.segment("B.missing_pattern").size == 2


@pytest.mark.parametrize("patterns", [8, 3, 0])  # all patterns kept, an "other" slot, per-column flags
def test_value_segments_name_where_they_hold_placeholders(patterns):
    """``Segment.missing_when`` marks exactly the training rows whose value is missing, so a
    family can leave the placeholders out (the copula does)."""
    df = block_table()
    codec = TabularCodec(DataOptions(missing_patterns=patterns)).fit(df)
    x = codec.encode(df)
    for col in [*BLOCK, "age"]:
        seg = codec.spec.segment(f"{col}.value")
        rows = codec.spec.missing_rows(x, seg)
        if col == "age":
            assert rows is None
        else:
            np.testing.assert_array_equal(rows, df[col].isna().to_numpy(), err_msg=col)


def test_copula_values_keep_their_spread_and_trends_beside_a_missing_block(tmp_path, train_on):
    """The rows that have B hold its real spread and its correlation with age: the
    placeholders of the missing rows are not fitted as values. Fitted as values (the spike
    at the placeholder) they pulled B's generated spread from 7.1 to 6.1."""
    real, synthetic = train_on(block_table(3000), tmp_path, "copula", 1, {"transform": "quantile"})
    for frame in (real, synthetic):
        frame["_r"] = frame[["age", "B"]].dropna().corr().iloc[0, 1]
    assert synthetic["B"].std() == pytest.approx(real["B"].std(), rel=0.05)
    assert synthetic["_r"].iloc[0] == pytest.approx(real["_r"].iloc[0], abs=0.04)
    assert M.ks_complement(real["B"].dropna(), synthetic["B"].dropna()) >= 0.95


# --- every family reproduces the joint pattern ------------------------------------------------


@pytest.mark.parametrize("family, epochs, data_options", [("copula", 1, {"transform": "quantile"}), ("vae", 150, {})])
def test_family_keeps_the_block_missing_together(tmp_path, train_on, family, epochs, data_options):
    real, synthetic = train_on(block_table(), tmp_path, family, epochs, data_options)
    assert abs(all_missing(synthetic) - all_missing(real)) <= 0.05, (all_missing(real), all_missing(synthetic))
    assert abs(phi(synthetic) - phi(real)) <= 0.08, (phi(real), phi(synthetic))
    flags_real, flags_syn = real[["B", "C"]].isna(), synthetic[["B", "C"]].isna()
    assert M.contingency_similarity(flags_real, flags_syn) >= 0.95


def test_gan_keeps_much_of_the_block(tmp_path, train_on):
    real, synthetic = train_on(block_table(), tmp_path, "gan", 100, {})
    assert all_missing(synthetic) >= 0.12 and phi(synthetic) >= 0.45, (all_missing(synthetic), phi(synthetic))
