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


# ------------------------------------------------------------------------------ bounds


def test_numeric_fields_have_documented_upper_bounds(tmp_path, toy_recipe_path):
    from domaingen.recipe import MAX_EPOCHS, MAX_RECORDS

    text = toy_recipe_path.read_text().replace("epochs: 1", "epochs: 99999999999999999999999")
    with pytest.raises(RecipeError) as info:
        dg.load_recipe(write(tmp_path, text))
    assert f"train.epochs (line 12): Input should be less than or equal to {MAX_EPOCHS}" in str(info.value)
    assert info.value.exit_code == 2
    with pytest.raises(RecipeError, match=rf"generate.n \(from --set\): Input should be less than or equal to {MAX_RECORDS}"):
        dg.load_recipe(toy_recipe_path, ["generate.n=99999999999999999999999"])
    with pytest.raises(RecipeError, match=r"generate.batch_size \(from --set\).*4194304"):
        dg.load_recipe(toy_recipe_path, ["generate.batch_size=4194305"])
    with pytest.raises(RecipeError, match=r"generate \(line 14\): .*1,000,000 \(recipe.MAX_SHARDS\); use a shard size of at least 10,000"):
        dg.load_recipe(toy_recipe_path, [f"generate.n={MAX_RECORDS}", "generate.shard_size=1"])
    with pytest.raises(RecipeError, match=r"train.learning_rate \(from --set\): Input should be a finite number"):
        dg.load_recipe(toy_recipe_path, ["train.learning_rate=.inf"])
    assert dg.load_recipe(toy_recipe_path, [f"train.epochs={MAX_EPOCHS}"]).model.train.epochs == MAX_EPOCHS


def test_bounds_appear_in_the_json_schema():
    defs = recipe_json_schema()["$defs"]
    epochs = defs["TrainSection"]["properties"]["epochs"]
    assert epochs["maximum"] == 100_000 and "100,000" in epochs["description"]
    n = defs["GenerateSection"]["properties"]["n"]
    assert n["maximum"] == 10**10 and "10,000,000,000" in n["description"]
    assert defs["GenerateSection"]["properties"]["batch_size"]["maximum"] == 2**22
    assert defs["TrainSection"]["properties"]["batch_size"]["maximum"] == 2**22
    assert defs["GenerateSection"]["properties"]["shard_size"]["maximum"] == 10**7


# --------------------------------------------------------------------------- YAML bombs


def billion_laughs(levels: int = 9) -> str:
    """The classic alias bomb: 9 aliases of 9 aliases ... (9**levels strings expanded)."""
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for k in range(1, levels + 1):
        lines.append(f"lol{k}: &lol{k} [" + ", ".join([f"*lol{k - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast(tmp_path):
    import subprocess
    import sys
    import time

    text = "schema_version: 1\ndata:\n  plugin: toy\n  source: toy:gaussian\n  options:\n    bomb:\n" + "".join(
        "      " + line + "\n" for line in billion_laughs().splitlines()
    )
    path = write(tmp_path, text)
    started = time.perf_counter()
    # a subprocess, so that the bomb (without the fix) is killed at the timeout, not the test run
    out = subprocess.run(
        [sys.executable, "-m", "domaingen.cli", "recipe", "validate", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert "alias" in out.stderr and "MAX_YAML_NODES" in out.stderr and "Traceback" not in out.stderr
    assert time.perf_counter() - started < 120
    with pytest.raises(RecipeError, match="alias"):
        dg.load_recipe(path)


def test_too_many_alias_references_refused(tmp_path):
    text = "schema_version: 1\nx: &x 1\nys: [" + ", ".join(["*x"] * 101) + "]\n"
    with pytest.raises(RecipeError, match=r"more than 100 alias references \(\*x\) \(recipe.MAX_YAML_ALIASES\)"):
        dg.load_recipe(write(tmp_path, text))


def test_deep_nesting_refused_with_a_message_about_depth(tmp_path):
    text = "schema_version: 1\ndeep: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(RecipeError, match=r"line 2: .*nests deeper than 64 levels \(recipe.MAX_YAML_DEPTH\)") as info:
        dg.load_recipe(write(tmp_path, text))
    assert info.value.exit_code == 2
    block = "schema_version: 1\ndeep:\n" + "".join("  " * k + "- \n" for k in range(1, 80))
    with pytest.raises(RecipeError, match="deeper than 64"):
        dg.load_recipe(write(tmp_path, block, "block.yaml"))
    # depth reached through aliases counts too: each alias adds the depth of what it names
    chained = "schema_version: 1\na0: &a0 " + "[" * 30 + "]" * 30 + "\n"
    chained += "".join(f"a{k}: &a{k} [[[[[[[[[[*a{k - 1}]]]]]]]]]]\n" for k in range(1, 6))
    with pytest.raises(RecipeError, match="alias \\*a\\d nests deeper than 64"):
        dg.load_recipe(write(tmp_path, chained, "chained.yaml"))


def test_deep_python_document_refused():
    document: dict = {}
    node = document
    for _ in range(5000):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(RecipeError, match="nests deeper than 64"):
        dg.recipe_from_dict(document)


def test_oversized_recipe_refused(tmp_path, toy_recipe_path):
    from domaingen.recipe import MAX_RECIPE_BYTES

    padding = ("# " + "x" * 98 + "\n") * 20_000  # 2 MB of comments: valid YAML, a valid recipe otherwise
    path = write(tmp_path, toy_recipe_path.read_text() + padding)
    assert path.stat().st_size > 2 * MAX_RECIPE_BYTES * 0.9
    with pytest.raises(RecipeError, match=r"over the limit of 1,048,576 \(recipe.MAX_RECIPE_BYTES\)"):
        dg.load_recipe(path)


def test_override_values_have_the_same_bounds():
    with pytest.raises(RecipeError, match=r"(?s)--set a: .*nests deeper than 64"):
        parse_overrides(["a=" + "[" * 5000 + "]" * 5000])
    bomb = "[" + ", ".join(f"&l{k} [" + ", ".join([f"*l{k - 1}" if k else "lol"] * 9) + "]" for k in range(10)) + "]"
    with pytest.raises(RecipeError, match=r"(?s)--set data.options.bomb: .*alias"):
        parse_overrides([f"data.options.bomb={bomb}"])
    with pytest.raises(RecipeError, match="MAX_RECIPE_BYTES"):
        parse_overrides(["name=" + "x" * (2 << 20)])
    assert parse_overrides(["a=[&x 1, *x]"]) == {"a": [1, 1]}  # ordinary aliases still work
