import json
import textwrap

import pytest

import domaingen as dg
from domaingen.errors import RecipeError, UsageError
from domaingen.recipe import parse_overrides, recipe_json_schema


def write(tmp_path, text, name="r.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_recipe_loads_with_defaults(toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path)
    assert recipe.name == "toy"
    assert recipe.seed == 7
    assert recipe.family_name == "toy-gauss"
    assert recipe.data_options.rows == 2000
    assert recipe.model.train.learning_rate is None  # unset: training uses the family's default
    assert recipe.base_dir == toy_recipe_path.resolve().parent


def test_typo_wrong_type_and_missing_section_reported_together(tmp_path):
    path = write(
        tmp_path,
        """\
        schema_version: 1
        trian:
          epochs: 5
        generate:
          n: many
        """,
    )
    with pytest.raises(RecipeError) as info:
        dg.load_recipe(path)
    problems = info.value.problems
    assert len(problems) == 3, problems
    text = str(info.value)
    assert "trian (line 2): unknown key; did you mean 'train'?" in text
    assert "generate.n (line 5)" in text and "'many'" in text
    assert "data (line 1): required section is missing" in text
    assert info.value.exit_code == 2


def test_plugin_and_family_sections_are_validated_with_lines(tmp_path):
    path = write(
        tmp_path,
        """\
        schema_version: 1
        data:
          plugin: toy
          source: toy:gaussian
          options:
            rowz: 10
        model:
          options:
            shrinkage: 3
        generate:
          options:
            onyl: a
        """,
    )
    with pytest.raises(RecipeError) as info:
        dg.load_recipe(path)
    text = str(info.value)
    assert "data.options.rowz (line 6): unknown key; did you mean 'rows'?" in text
    assert "model.options.shrinkage (line 9)" in text
    assert "generate.options.onyl (line 12)" in text


def test_unknown_plugin_suggests_closest(tmp_path):
    path = write(tmp_path, "schema_version: 1\ndata: {plugin: toyy, source: x}\n")
    with pytest.raises(RecipeError, match=r"data.plugin \(line 2\): unknown plugin 'toyy'; did you mean 'toy'"):
        dg.load_recipe(path)


def test_family_not_supported_by_plugin(tmp_path):
    path = write(tmp_path, "schema_version: 1\ndata: {plugin: toy, source: toy:gaussian}\nmodel: {family: transformer}\n")
    with pytest.raises(RecipeError, match="does not support the 'transformer' family"):
        dg.load_recipe(path)


def test_overrides_apply_and_are_validated(toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path, ["train.epochs=5", "data.options.rows=100", "seed=11"])
    assert recipe.model.train.epochs == 5
    assert recipe.data_options.rows == 100
    assert recipe.seed == 11
    with pytest.raises(RecipeError, match=r"train.epochs \(from --set\)"):
        dg.load_recipe(toy_recipe_path, ["train.epochs=zero"])


def test_override_syntax_error_is_usage_error():
    with pytest.raises(UsageError, match="KEY=VALUE"):
        parse_overrides(["train.epochs"])
    assert parse_overrides(["a.b=[1, 2]", "c=true", "d=x"]) == {"a.b": [1, 2], "c": True, "d": "x"}


def test_relative_source_resolves_against_recipe_folder(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "points.jsonl").write_text('{"x": 1.0, "y": 2.0, "c": "a"}\n{"x": 3.0, "y": 4.0, "c": "b"}\n')
    path = write(tmp_path, "schema_version: 1\ndata: {plugin: toy, source: data/points.jsonl}\nevaluate: {holdout: 0}\n")
    monkeypatch.chdir("/")
    recipe = dg.load_recipe(path)
    train, holdout = dg.load_data(recipe)
    assert [r["x"] for r in train] == [1.0, 3.0] and holdout == []


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "schema_version: 1\ndata: [1,\n")
    with pytest.raises(RecipeError, match="invalid YAML at line"):
        dg.load_recipe(path)


def test_schema_version_is_required_and_checked(tmp_path):
    path = write(tmp_path, "schema_version: 2\ndata: {plugin: toy, source: toy:gaussian}\n")
    with pytest.raises(RecipeError, match="schema_version"):
        dg.load_recipe(path)


def test_json_schema_includes_plugin_sections():
    schema = recipe_json_schema()
    json.dumps(schema)
    assert "data" in schema["properties"]
    toy_rules = [r for r in schema["allOf"] if r["if"]["properties"].get("data", {}).get("properties", {}).get("plugin", {}).get("const") == "toy"]
    assert toy_rules
    options = toy_rules[0]["then"]["properties"]["data"]["properties"]["options"]
    assert "rows" in options["properties"]


def test_recipe_round_trips_through_yaml(toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path, ["train.epochs=4"])
    again = dg.recipe_from_dict(__import__("ruamel.yaml", fromlist=["YAML"]).YAML(typ="safe").load(recipe.to_yaml()))
    assert again.model == recipe.model
