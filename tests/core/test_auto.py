"""``model.family: auto`` in recipes: what validation refuses, with the recipe path and line
of each problem (the selection itself is tested on tables in tests/plugins/tabular)."""

import textwrap

import pytest

import domaingen as dg
from domaingen.errors import RecipeError, UsageError


def _recipe(tmp_path, model: str, extra: str = "", plugin: str = "tabular", source: str = "sklearn:breast_cancer"):
    path = tmp_path / "auto.yaml"
    body = f"schema_version: 1\ndata:\n  plugin: {plugin}\n  source: {source}\nmodel:\n{textwrap.indent(textwrap.dedent(model), '  ')}{extra}"
    path.write_text(body, encoding="utf-8")
    return path


def _problems(path) -> list[str]:
    with pytest.raises(RecipeError) as info:
        dg.load_recipe(path)
    return info.value.problems


def test_auto_takes_the_plugins_candidates_by_default(tmp_path):
    recipe = dg.load_recipe(_recipe(tmp_path, "family: auto\n"))
    assert recipe.family_name == "auto"
    assert recipe.family_options.candidates is None and recipe.family_options.selection_share == 0.2


def test_unknown_candidate_and_options_of_a_non_candidate_refused(tmp_path):
    path = _recipe(tmp_path, """\
        family: auto
        options:
          candidates: [copula, vea]
          family_options: {gan: {epochs_per_call: 3}}
        """)
    problems = _problems(path)
    assert any(p.startswith("model.options.candidates (line 8): vea:") and "vae" in p for p in problems), problems
    assert any(p.startswith("model.options.family_options.gan (line 9):") and "not a candidate" in p for p in problems), problems


def test_a_candidates_options_are_checked_as_that_familys(tmp_path):
    path = _recipe(tmp_path, """\
        family: auto
        options:
          candidates: [copula, vae]
          family_options: {vae: {latent_dimension: 8}}
        """)
    problems = _problems(path)
    assert any(p.startswith("model.options.family_options.vae.latent_dimension") for p in problems), problems


def test_auto_options_are_strict(tmp_path):
    problems = _problems(_recipe(tmp_path, "family: auto\noptions: {share: 0.3, selection_share: 0.9}\n"))
    assert any("model.options.share" in p for p in problems) and any("model.options.selection_share" in p for p in problems), problems


def test_auto_under_differential_privacy_refused(tmp_path):
    extra = "train:\n  privacy: {epsilon: 3, delta: 1.0e-5}\n"
    problems = _problems(_recipe(tmp_path, "family: auto\n", extra))
    assert any(p.startswith("model.family (line 6): auto looks at the training records") for p in problems), problems


def test_family_outside_the_plugins_layouts_refused(tmp_path):
    problems = _problems(_recipe(tmp_path, "family: auto\noptions: {candidates: [copula, transformer]}\n"))
    assert any("transformer" in p and "does not support" in p for p in problems), problems


def test_plugin_without_a_selection_score_refused(tmp_path):
    path = _recipe(tmp_path, "family: auto\n", plugin="toy", source="toy:gaussian")
    problems = _problems(path)
    assert any("the toy plugin names no families to compare" in p for p in problems), problems
    recipe = dg.load_recipe(_recipe(tmp_path, "family: auto\noptions: {candidates: [toy-gauss]}\n", plugin="toy", source="toy:gaussian"))
    with pytest.raises(UsageError, match="the toy plugin cannot compare families"):
        dg.train(recipe, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()
