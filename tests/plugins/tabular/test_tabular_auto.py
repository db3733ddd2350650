"""``model.family: auto`` on tables: on a table that is a Gaussian copula, the copula beats a
barely trained VAE; the bundle is the one ``family: copula`` gives; meta.json and the
report record the comparison."""

import json

import numpy as np
import pandas as pd
import pytest

import domaingen as dg


def _copula_table(n: int = 1500) -> pd.DataFrame:
    """Four correlated columns with skewed margins: exactly what a Gaussian copula models."""
    rng = np.random.default_rng(5)
    cov = np.array([[1.0, 0.8, -0.6, 0.5], [0.8, 1.0, -0.5, 0.4], [-0.6, -0.5, 1.0, -0.3], [0.5, 0.4, -0.3, 1.0]])
    z = rng.multivariate_normal(np.zeros(4), cov, n)
    return pd.DataFrame({"a": np.exp(z[:, 0]), "b": z[:, 1] * 3 + 10, "c": z[:, 2] ** 3, "d": np.round(np.exp(0.5 * z[:, 3]), 2)})


def _document(model: dict) -> dict:
    return {
        "schema_version": 1, "seed": 4,
        "data": {"plugin": "tabular", "source": "table.csv"},
        "model": model,
        "train": {"epochs": 1, "batch_size": 256},
        "generate": {"n": 300},
        "evaluate": {"holdout": 0.2},
    }


def test_auto_keeps_the_copula_on_a_copula_table_and_records_why(tmp_path):
    _copula_table().to_csv(tmp_path / "table.csv", index=False)
    auto = dg.recipe_from_dict(_document({"family": "auto", "options": {"candidates": ["vae", "copula"]}}), base_dir=tmp_path)
    result = dg.run(auto, tmp_path / "auto")

    meta = json.loads((tmp_path / "auto" / "bundle" / "meta.json").read_text())
    selection = meta["model_selection"]
    scores = {row["family"]: row["score"] for row in selection["candidates"]}
    assert selection["chosen"] == "copula" and selection["metric"] == "quality_score"
    assert scores["copula"] > scores["vae"] + 0.05, scores
    assert selection["fit_records"] == 960 and selection["held_back_records"] == 240  # 1200 training rows, 80 / 20
    assert result.report["model_selection"] == selection
    kept = dg.load_bundle(tmp_path / "auto" / "bundle").recipe
    assert kept.family_name == "copula"
    # the plugin's auto_data_options: the copula candidate (and the kept bundle) use normal scores
    rows = {row["family"]: row for row in selection["candidates"]}
    assert rows["copula"]["data_options"] == {"transform": "quantile"} and "data_options" not in rows["vae"]
    assert kept.document["data"]["options"] == {"transform": "quantile"}

    # the winner was trained again on all the training records: the bundle family: copula gives
    document = _document({"family": "copula"})
    document["data"]["options"] = {"transform": "quantile"}
    direct = dg.train(dg.recipe_from_dict(document, base_dir=tmp_path), tmp_path / "direct")
    chosen = dg.load_bundle(tmp_path / "auto" / "bundle")
    pd.testing.assert_frame_equal(chosen.generate(200, seed=9), direct.generate(200, seed=9))


def test_auto_selection_is_reproducible(tmp_path):
    _copula_table(600).to_csv(tmp_path / "table.csv", index=False)
    recipe = dg.recipe_from_dict(_document({"family": "auto", "options": {"candidates": ["copula", "gan"]}}), base_dir=tmp_path)
    first = dg.train(recipe, tmp_path / "one").meta["model_selection"]
    second = dg.train(recipe, tmp_path / "two").meta["model_selection"]
    strip = lambda s: [{k: v for k, v in row.items() if k != "train_seconds"} for row in s["candidates"]]  # noqa: E731
    assert strip(first) == strip(second) and first["chosen"] == second["chosen"]


def test_recipe_data_options_win_over_the_plugins_and_family_data_options_over_both(tmp_path):
    _copula_table(300).to_csv(tmp_path / "table.csv", index=False)
    document = _document({"family": "auto", "options": {"candidates": ["copula", "vae"], "family_data_options": {"vae": {"max_modes": 3}}}})
    document["data"]["options"] = {"transform": "gmm"}
    recipe = dg.recipe_from_dict(document, base_dir=tmp_path)
    from domaingen.auto import recipe_for

    assert recipe_for(recipe, "copula").document["data"]["options"] == {"transform": "gmm"}
    assert recipe_for(recipe, "vae").document["data"]["options"] == {"transform": "gmm", "max_modes": 3}


def test_family_data_options_are_checked_against_the_plugins_data_options(tmp_path):
    bad = _document({"family": "auto", "options": {"candidates": ["copula"], "family_data_options": {"copula": {"transform": "cubic"}, "gan": {}}}})
    with pytest.raises(dg.RecipeError) as info:
        dg.recipe_from_dict(bad, base_dir=tmp_path)
    message = str(info.value)
    assert "model.options.family_data_options.copula.transform" in message and "'gan' is not a candidate" in message
