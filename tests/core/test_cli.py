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


# --------------------------------------------------------------- global options anywhere


def _command_paths(group, prefix=()):
    """Every command and group below ``group``, as the words that name it on the line."""
    import click

    for name, command in group.commands.items():
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))


@pytest.mark.parametrize("path", list(_command_paths(cli)), ids=" ".join)
@pytest.mark.parametrize("option", ["--quiet", "-q", "--debug"])
def test_global_options_after_every_subcommand(runner, monkeypatch, path, option):
    monkeypatch.setenv("DOMAINGEN_DEBUG", "")  # --debug sets it; restored after the test
    for args in ([option, *path, "--help"], [*path, option, "--help"]):
        result = invoke(runner, *args)
        assert result.exit_code == 0 and "No such option" not in result.output, (args, result.output)
    assert "--quiet" in invoke(runner, *path, "--help").output


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_takes_effect_in_either_position(runner, monkeypatch, toy_bundle_dir, tmp_path, where):
    import domaingen.progress

    seen = []
    monkeypatch.setattr(domaingen.progress, "should_show", lambda quiet: seen.append(quiet) or False)
    command = ["generate", toy_bundle_dir, "-n", 10, "--out", tmp_path / "g"]
    args = ["--quiet", *command] if where == "before" else [*command, "--quiet"]
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    assert seen == [True]
    seen.clear()
    assert invoke(runner, *command[:-1], tmp_path / "g2").exit_code == 0
    assert seen == [False]


@pytest.mark.parametrize("args", [["run", "missing.yaml"], ["recipe", "validate", "missing.yaml"], ["evaluate"], ["train", "missing.yaml", "--bundle", "b"]])
def test_debug_after_the_subcommand_shows_the_traceback(runner, monkeypatch, tmp_path, args):
    monkeypatch.setenv("DOMAINGEN_DEBUG", "")
    monkeypatch.chdir(tmp_path)
    assert "Traceback" not in invoke(runner, *args).stderr
    if args[0] != "recipe":  # recipe validate reports each file itself, without traceback
        result = invoke(runner, *args, "--debug")
        assert result.exit_code == 2 and "Traceback" in result.stderr
    assert invoke(runner, *args, "--version").stdout.strip() == f"domaingen, version {__version__}"


# ------------------------------------------------------------------ bounds on the line


def test_generate_size_is_bounded_on_the_command_line(runner, toy_bundle_dir, tmp_path):
    out = tmp_path / "o"
    result = invoke(runner, "generate", toy_bundle_dir, "-n", 10**11, "--out", out)
    assert result.exit_code == 2 and "-n" in result.output and "10000000000" in result.output
    result = invoke(runner, "generate", toy_bundle_dir, "-n", 10**10, "--shard-size", 1, "--out", out)
    assert result.exit_code == 2 and "MAX_SHARDS" in result.stderr and "Traceback" not in result.stderr
    result = invoke(runner, "generate", toy_bundle_dir, "-n", 10, "--batch-size", 2**22 + 1, "--out", out)
    assert result.exit_code == 2 and "--batch-size" in result.output
    result = invoke(runner, "run", "missing.yaml", "--set", "train.epochs=99999999999999999999999")
    assert result.exit_code == 2
    assert not out.exists()


def test_run_override_beyond_a_bound_is_refused(runner, toy_recipe_path, tmp_path):
    out = tmp_path / "r"
    result = invoke(runner, "run", toy_recipe_path, "--out", out, "--set", "train.epochs=99999999999999999999999")
    assert result.exit_code == 2 and "train.epochs (from --set): Input should be less than or equal to 100000" in result.stderr
    assert not out.exists()


# ------------------------------------------------------------ failures leave no output


def test_failing_run_into_a_fresh_folder_leaves_no_folder(runner, toy_recipe_path, tmp_path):
    out = tmp_path / "fresh" / "run"
    result = invoke(runner, "run", toy_recipe_path, "--out", out, "--set", "generate.options.min_x=1000")
    assert result.exit_code == 2 and "impossible" in result.stderr  # fails after training wrote the bundle
    assert not (tmp_path / "fresh").exists()


def test_failing_run_into_an_existing_folder_leaves_it_as_it_was(runner, toy_recipe_path, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke(runner, "run", toy_recipe_path, "--out", out, "--set", "generate.options.min_x=1000")
    assert result.exit_code == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"


def test_failing_evaluate_removes_the_folder_it_created(runner, toy_recipe_path, tmp_path):
    synthetic = tmp_path / "s.jsonl"
    synthetic.write_text('{"x": 1.0, "c": "a"}\n')  # no "y": the toy plugin's metrics fail
    out = tmp_path / "rep"
    result = invoke(runner, "evaluate", "--recipe", toy_recipe_path, "--synthetic", synthetic, "--out", out)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert invoke(runner, "evaluate", "--recipe", toy_recipe_path, "--synthetic", synthetic, "--out", out).exit_code == 1
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_failing_generate_removes_the_folder_it_created_unless_resumable(runner, monkeypatch, toy_bundle_dir, tmp_path):
    import domaingen.pipeline

    def failing(bundle, out_dir, n, **kwargs):
        out_dir.mkdir(parents=True, exist_ok=True)
        if kwargs["seed"] == 2:
            (out_dir / "manifest.json").write_text("{}")  # shards a rerun resumes from
        raise MemoryError()

    monkeypatch.setattr(domaingen.pipeline, "write_shards", failing)
    out = tmp_path / "new" / "gen"
    result = invoke(runner, "generate", toy_bundle_dir, "-n", 10, "--out", out, "--seed", 1)
    assert result.exit_code == 1 and "MemoryError" in result.stderr
    assert not (tmp_path / "new").exists()
    result = invoke(runner, "generate", toy_bundle_dir, "-n", 10, "--out", out, "--seed", 2)
    assert result.exit_code == 1 and (out / "manifest.json").is_file()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "keep.txt").write_text("x")
    assert invoke(runner, "generate", toy_bundle_dir, "-n", 10, "--out", existing, "--seed", 1).exit_code == 1
    assert [p.name for p in existing.iterdir()] == ["keep.txt"]


def test_failing_train_removes_the_folders_it_created(runner, monkeypatch, toy_recipe_path, tmp_path):
    import domaingen.pipeline

    def failing(target, **kwargs):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(domaingen.pipeline, "save_bundle", failing)
    result = invoke(runner, "train", toy_recipe_path, "--bundle", tmp_path / "a" / "b" / "toy.zip")
    assert result.exit_code == 1 and "No space left" in result.stderr
    assert list(tmp_path.iterdir()) == []
