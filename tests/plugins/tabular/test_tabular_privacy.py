"""The tabular codec under train.privacy: public bounds only, refusal otherwise, and DP
runs through the pipeline (meta.json says what was spent where)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import domaingen as dg
from domaingen.errors import UsageError
from domaingen.generation import manifest_files
from domaingen.recipe import PrivacySection
from domaingen_plugins.tabular.codec import TabularCodec
from domaingen_plugins.tabular.options import DataOptions

RECIPES = Path(__file__).parents[3] / "recipes"
PRIVACY = PrivacySection(epsilon=3.0, delta=1e-5)

PUBLIC = {
    "age": {"min": 0, "max": 120},
    "weight": {"min": 20, "max": 250, "decimals": 1},
    "sex": {"categories": ["female", "male", "other"]},
    "smoker": {},  # a bool dtype: [False, True] without declaration
    "patient_id": {"type": "id"},
}


def patients(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weight = np.round(rng.normal(75, 12, n), 1)
    weight[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame({
        "patient_id": [f"P{i:05d}" for i in range(n)],
        "age": rng.integers(18, 90, n),
        "weight": weight,
        "sex": rng.choice(["female", "male", "other"], n, p=[0.5, 0.45, 0.05]),
        "smoker": rng.random(n) < 0.3,
    })


def private_codec(frame: pd.DataFrame, columns=PUBLIC, **options) -> TabularCodec:
    return TabularCodec(DataOptions(columns=columns, **options)).fit_private(frame, PRIVACY)


def test_private_codec_learns_nothing_from_the_records():
    """Two unrelated tables of the same schema give the same codec state, byte for byte."""
    one, other = private_codec(patients(300, 0)), private_codec(patients(50, 9).iloc[::-1])
    assert json.dumps(one.get_config(), sort_keys=True) == json.dumps(other.get_config(), sort_keys=True)
    assert one.get_arrays() == {} == other.get_arrays()
    assert one.privacy_spent["epsilon"] == 0.0 and one.privacy_event is None
    assert one.privacy_spent["columns"] == {"patient_id": "id", "age": "numeric", "weight": "numeric", "sex": "categorical", "smoker": "boolean"}


def test_private_codec_segments_and_round_trip_within_public_bounds():
    frame = patients(300, 1)
    codec = private_codec(frame)
    kinds = {s.name: (s.kind, s.bounded) for s in codec.spec.segments}
    # int64 ages and bool flags cannot be missing; float and text columns may (a flag, learned privately)
    assert kinds == {"age.value": ("continuous", True), "weight.missing": ("binary", False), "weight.value": ("continuous", True),
                     "sex.missing": ("binary", False), "sex": ("categorical", False), "smoker": ("binary", False)}
    x = codec.encode(frame)
    assert np.abs(x).max() <= 1.0
    back = codec.decode(x, np.random.default_rng(0))
    assert np.array_equal(back["age"], frame["age"]) and back["sex"].tolist() == frame["sex"].tolist()
    np.testing.assert_allclose(back["weight"], frame["weight"], atol=0.051)
    assert back["weight"].isna().tolist() == frame["weight"].isna().tolist()
    outside = frame.assign(age=np.where(np.arange(len(frame)) == 0, 500, frame["age"]))
    assert codec.decode(codec.encode(outside), np.random.default_rng(0))["age"].iloc[0] == 120  # clipped to the public bound


def test_private_codec_refuses_every_column_without_public_facts_at_once():
    frame = patients(100, 2).assign(site="north", stage=np.tile([1, 2, 3, 4], 25))
    columns = {"age": {"min": 0}, "sex": {}, "patient_id": {"type": "id"}, "weight": {"min": 0, "max": 300}}
    with pytest.raises(UsageError) as err:
        private_codec(frame, columns=columns, constraints=[{"type": "fixed_combinations", "columns": ["sex", "smoker"]}])
    message = str(err.value)
    for expected in ("age: a numeric column needs both public bounds", "sex: no public bounds", "site: no public bounds",
                     "stage: no public bounds", "fixed_combinations", "categories: [1, 2, 3, 4]"):
        assert expected in message, expected
    assert "smoker" not in message.split("Missing:")[1].split("constraint")[0]  # a bool dtype needs nothing
    with pytest.raises(UsageError, match="site: a constant's value comes from the records"):
        private_codec(frame[["site"]], columns={"site": {"type": "constant"}})
    with pytest.raises(UsageError, match="categories lists a value twice"):
        private_codec(frame[["sex"]], columns={"sex": {"categories": ["male", "male"]}})
    with pytest.raises(UsageError, match="must be below max"):
        private_codec(frame[["age"]], columns={"age": {"min": 5, "max": 5}})


def test_public_categories_keep_their_order_and_unknown_values_fall_back_to_the_first():
    frame = pd.DataFrame({"stage": [3, 1, 2, 2, 4]})
    codec = private_codec(frame, columns={"stage": {"categories": [4, 3, 2, 1], "missing": False}})
    assert codec.column("stage").categories == [4, 3, 2, 1] and codec.column("stage").coded
    x = codec.encode(pd.DataFrame({"stage": [1, 9]}))
    assert x.argmax(axis=1).tolist() == [3, 0]


def _dp_recipe(tmp_path: Path, family: str, columns: dict, **train) -> dg.Recipe:
    frame = patients(400, 3)
    frame.to_csv(tmp_path / "patients.csv", index=False)
    options = {"pac": 1, "conditional": False, "generator_hidden": [32], "discriminator_hidden": [32]} if family == "gan" else {}
    return dg.recipe_from_dict({
        "schema_version": 1,
        "data": {"plugin": "tabular", "source": "patients.csv", "options": {"columns": columns}},
        "model": {"family": family, "options": options},
        "train": {"epochs": 2, "batch_size": 100, "privacy": {"epsilon": 2, "delta": 1e-5}, **train},
        "generate": {"n": 200},
    }, base_dir=tmp_path)


def test_dp_run_refuses_data_dependent_codec_fitting_and_leaves_nothing(tmp_path):
    recipe = _dp_recipe(tmp_path, "vae", {"age": {"min": 0, "max": 120}})
    with pytest.raises(UsageError, match="weight: no public bounds.*sex: no public bounds"):
        dg.train(recipe, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("family", ["vae", "gan", "copula"])
def test_dp_bundle_meta_says_what_was_spent_where(tmp_path, family):
    bundle = dg.train(_dp_recipe(tmp_path, family, PUBLIC), tmp_path / "bundle")
    meta = json.loads((tmp_path / "bundle" / "meta.json").read_text())["privacy"]
    assert meta["target_epsilon"] == 2.0 and meta["delta"] == 1e-5 and meta["accountant"].startswith("rdp")
    assert 1.98 <= meta["epsilon"] <= 2.0
    assert meta["where"]["codec"]["epsilon"] == 0.0
    training = meta["where"]["training"]
    if family == "copula":
        assert training["noise_multiplier_marginals"] > 0 and training["noise_multiplier_correlation"] > 0
    else:
        assert training["sampling"] == "poisson" and training["sampling_rate"] == pytest.approx(100 / 320)
        assert training["steps"] == 2 * 3 and training["noise_multiplier"] > 0
    assert meta["epsilon"] == training["epsilon_with_codec"]
    manifest = dg.generate(bundle, tmp_path / "out", 200)
    rows = bundle.plugin.read(manifest_files(tmp_path / "out", manifest))
    assert len(rows) == 200 and rows["age"].between(0, 120).all() and set(rows["sex"].dropna()) <= {"female", "male", "other"}
    report = dg.evaluate(bundle.recipe, rows, bundle=bundle, manifest=manifest)
    assert report["differential_privacy"]["epsilon"] == meta["epsilon"]  # the report says what the model spent


def test_shipped_dp_recipe_has_generous_public_bounds_for_every_column():
    recipe = dg.load_recipe(RECIPES / "tabular-breast-cancer-dp.yaml")
    privacy = recipe.model.train.privacy
    assert (privacy.epsilon, privacy.delta, privacy.max_grad_norm) == (3.0, 1e-5, 1.0)
    real, _ = dg.load_data(recipe)
    columns = recipe.data_options.columns
    assert set(columns) == set(real.columns)
    for name in real.columns[:-1]:
        low, high = columns[name].min, columns[name].max
        # bounds a data owner publishes: they hold every value, and neither is the data's own
        assert low <= real[name].min() and real[name].max() < high, name
        assert high != real[name].max() and (low != real[name].min() or low == 0), name
    assert columns["diagnosis"].categories == ["malignant", "benign"]
    codec = TabularCodec(recipe.data_options).fit_private(real, privacy)  # nothing refused
    assert codec.spec.width == 32
