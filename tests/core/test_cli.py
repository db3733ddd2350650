"""The CLI as a user runs it: exit codes, messages and the files it leaves."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from domaingen._version import __version__
from domaingen.cli import cli


@pytest.fixture
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_version_and_help_without_heavy_imports():
    code = "import sys; from domaingen.cli import main; rc = main(['--help']); print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.strip().splitlines()[-1] == "False False"
    out = subprocess.run([sys.executable, "-m", "domaingen.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and __version__ in out.stdout


@pytest.mark.parametrize("command", [[], ["plugins", "list"], ["recipe", "validate"], ["recipe", "schema"], ["run"], ["train"], ["generate"], ["evaluate"]])
def test_every_command_has_help(runner, command):
    result = invoke(runner, *command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_plugins_list(runner):
    result = invoke(runner, "plugins", "list", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["toy"]["distribution"] == "domaingen-toy-plugin" and rows["toy"]["status"] == "ok"
    text = invoke(runner, "plugins", "list").output
    assert "toy" in text and "toy-gauss" in text


def test_recipe_validate_ok_and_three_problems(runner, toy_recipe_path, tmp_path):
    assert invoke(runner, "recipe", "validate", toy_recipe_path).exit_code == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\ntrian:\n  epochs: 5\ngenerate:\n  n: many\n")
    result = invoke(runner, "recipe", "validate", bad)
    assert result.exit_code == 2
    assert "3 problems" in result.stderr
    for expected in ("trian (line 2)", "generate.n (line 5)", "data (line 1)"):
        assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_recipe_schema_is_json(runner):
    result = invoke(runner, "recipe", "schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "domaingen recipe"


def test_run_writes_bundle_data_and_report(runner, toy_recipe_path, tmp_path):
    out = tmp_path / "run"
    result = invoke(runner, "run", toy_recipe_path, "--out", out, "--set", "generate.n=1500", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert f"bundle:    {out / 'bundle'}" in result.stdout
    assert (out / "bundle" / "model.keras").is_file()
    assert (out / "report.json").is_file()
    manifest = json.loads((out / "synthetic" / "manifest.json").read_text())
    assert manifest["n"] == 1500 and manifest["seed"] == 3 and manifest["complete"]
    report = json.loads((out / "report.json").read_text())
    assert report["records"] == {"real": 1600, "synthetic": 1500, "holdout": 400}
    assert report["metrics"]["summary"]["mean_error"] < 0.15


def test_run_json_output(runner, toy_recipe_path, tmp_path):
    result = invoke(runner, "run", toy_recipe_path, "--out", tmp_path / "r", "--json")
    data = json.loads(result.stdout)
    assert data["bundle"].endswith("bundle") and len(data["synthetic"]) == 3


def test_train_generate_evaluate(runner, toy_recipe_path, tmp_path):
    bundle = tmp_path / "b"
    assert invoke(runner, "train", toy_recipe_path, "--bundle", bundle).exit_code == 0
    out = tmp_path / "gen"
    result = invoke(runner, "generate", bundle, "-n", 1200, "--out", out, "--batch-size", 500, "--seed", 4, "--option", "only=b")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for p in sorted(out.glob("part-*.jsonl")) for line in p.read_text().splitlines()]
    assert len(records) == 1200 and {r["c"] for r in records} == {"b"}
    result = invoke(runner, "evaluate", "--recipe", toy_recipe_path, "--synthetic", out, "--json", "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["metrics"]["category_frequencies"]["b"] == 1.0
    assert (tmp_path / "rep" / "report.json").is_file()
    result = invoke(runner, "evaluate", "--bundle", bundle, "--json")
    assert json.loads(result.stdout)["records"]["synthetic"] == 2500


def test_user_errors_exit_2_with_short_message(runner, toy_recipe_path, tmp_path):
    result = invoke(runner, "generate", tmp_path / "nope", "-n", 5, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "not found" in result.stderr and "Traceback" not in result.stderr
    result = invoke(runner, "evaluate")
    assert result.exit_code == 2 and "exactly one of --bundle" in result.stderr
    result = invoke(runner, "run", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "file not found" in result.stderr
    result = invoke(runner, "generate", "--bogus")
    assert result.exit_code == 2


def test_bad_input_leaves_nothing_behind(runner, toy_recipe_path, tmp_path):
    out = tmp_path / "run"
    result = invoke(runner, "run", toy_recipe_path, "--out", out, "--set", "data.source=absent.jsonl")
    assert result.exit_code == 2 and "absent.jsonl" in result.stderr
    assert not out.exists() or not any(out.rglob("*"))
    bundle = tmp_path / "b"
    invoke(runner, "train", toy_recipe_path, "--bundle", bundle)
    gen = tmp_path / "gen"
    result = invoke(runner, "generate", bundle, "-n", 10, "--out", gen, "--option", "min_x=1000")
    assert result.exit_code == 2 and "impossible" in result.stderr
    assert not list(gen.glob("part-*"))


def test_debug_shows_traceback(runner, tmp_path):
    result = invoke(runner, "--debug", "run", tmp_path / "missing.yaml")
    assert result.exit_code == 2 and "Traceback" in result.stderr
