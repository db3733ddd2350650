"""`domaingen plugin new`: what it writes, what it refuses, and the user's whole journey.

The journey (``test_tokens_plugin_end_to_end``) runs the tutorial's shell steps
(docs/tutorial/commands.sh) in a temporary folder: scaffold ``vitals`` on the tokens
layout, ``pip install -e`` it into this environment (offline: ``--no-build-isolation
--no-deps``; uninstalled afterwards), run its own tests, list it, run its demo recipe. The
table and grid scaffolds run their generated tests in this process instead, with the
plugin made discoverable without installing it (as in test_tutorial.py).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from domaingen import registry
from domaingen.cli import cli
from domaingen.errors import UsageError
from domaingen.scaffold import LAYOUTS, new_plugin, plugin_files, validate_name
from domaingen.scaffold.render import PLACEHOLDER
from domaingen.testing import CHECKS

REPO = Path(__file__).resolve().parents[2]
COMMANDS = REPO / "docs" / "tutorial" / "commands.sh"
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<region>[\w-]+)\]")
OFFLINE = ["--no-build-isolation", "--no-deps"]  # what the test adds to the tutorial's `pip install`


# --- what it writes ---------------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_renders_a_complete_distribution(layout):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    files = plugin_files("sample_name", layout)
    package = "domaingen_sample_name"
    expected = {"pyproject.toml", "README.md", ".gitignore", "recipes/demo.yaml", "tests/test_plugin.py"}
    expected |= {f"{package}/{m}.py" for m in ("__init__", "plugin", "options", "demo", "codec", "io", "metrics")}
    assert expected <= set(files)
    for path, text in files.items():
        assert not PLACEHOLDER.search(text), f"{path}: a placeholder was left"
        if path.endswith(".py"):
            ast.parse(text, filename=path)  # valid Python
    project = tomllib.loads(files["pyproject.toml"])
    assert project["project"]["name"] == "domaingen-sample-name"
    assert project["project"]["entry-points"]["domaingen.plugins"] == {"sample_name": f"{package}.plugin:plugin"}
    assert any(d.startswith("domaingen>=") for d in project["project"]["dependencies"])
    assert project["build-system"]["build-backend"] == "setuptools.build_meta"
    recipe = YAML(typ="safe").load(files["recipes/demo.yaml"])
    assert recipe["data"] == {**recipe["data"], "plugin": "sample_name", "source": "sample_name:demo"}
    assert "conformance_tests" in files["tests/test_plugin.py"] and "known_answer" in files["tests/test_plugin.py"]


def test_every_template_is_in_the_package_data():
    """setup.py ships ``templates/*/*.tmpl`` and ``templates/*/*/*.tmpl``: no template may lie deeper."""
    root = REPO / "domaingen" / "scaffold" / "templates"
    templates = [p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert templates and all(p.suffix == ".tmpl" and len(p.parts) in (2, 3) for p in templates), templates


def test_an_unknown_placeholder_is_a_template_error():
    from domaingen.scaffold.render import _fill

    with pytest.raises(ValueError, match=r"unknown placeholder \{\{ nmae \}\}"):
        _fill("x = {{ nmae }}", {"name": "x"}, "t.py.tmpl")


def test_cli_layouts_are_the_spec_layouts():
    choice = next(p for p in cli.commands["plugin"].commands["new"].params if p.name == "layout")
    assert tuple(choice.type.choices) == LAYOUTS and choice.default == "table"


# --- what it refuses --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, message",
    [
        ("Heart-Rate", r"lowercase letters.*\(e\.g\. 'heart_rate'\)"),
        ("2d", "starting with a letter"),
        ("a__b", "single underscores"),
        ("x" * 41, "at most 40 characters"),
        ("toy", "already installed \\(from domaingen-toy-plugin\\)"),
        ("plugins", "a Python package domaingen_plugins can already be imported"),
    ],
)
def test_bad_names_are_refused_with_the_reason(name, message):
    with pytest.raises(UsageError, match=message):
        validate_name(name)


def _invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_refuses_bad_names_and_used_folders(tmp_path):
    result = _invoke(["plugin", "new", "Bad-Name", "--out", str(tmp_path / "p")])
    assert result.exit_code == 2 and "error: plugin name 'Bad-Name'" in result.output
    assert not (tmp_path / "p").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine", encoding="utf-8")
    result = _invoke(["plugin", "new", "fresh", "--out", str(used)])
    assert result.exit_code == 2 and "exists and is not empty; nothing is overwritten" in result.output
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    result = _invoke(["plugin", "new", "fresh", "--out", str(afile)])
    assert result.exit_code == 2 and "is not a folder" in result.output and afile.read_text() == "x"
    result = _invoke(["plugin", "new", "fresh", "--layout", "voxels", "--out", str(tmp_path / "v")])
    assert result.exit_code == 2 and "voxels" in result.output


def test_an_empty_folder_is_used_and_the_cli_says_what_next(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _invoke(["plugin", "new", "fresh", "--layout", "grid", "--out", str(tmp_path / "empty")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "empty" / "domaingen_fresh" / "codec.py").is_file()
    assert f"pip install -e {tmp_path / 'empty'}" in result.output


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    target = tmp_path / "new" / "parents" / "plugin"
    real = Path.write_text
    calls = []

    def failing(self, *args, **kwargs):
        calls.append(self)
        if len(calls) == 3:
            raise OSError("disk full (test)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError, match="disk full"):
        new_plugin("fresh", "table", target)
    assert len(calls) == 3
    assert list(tmp_path.iterdir()) == []  # neither the plugin nor the parents it made


# --- table and grid: their own tests, in this process ----------------------------------------


CONDITIONED = {  # per layout: a generate option of its plugin, the records it must give, an option it must refuse
    "table": ({"conditions": {"group": "red"}}, lambda r: r["group"] == "red", {"conditions": {"group": "purple"}}),
    "grid": ({"label": "square"}, lambda r: r.label == "square", {"label": "circle"}),
}


@pytest.mark.parametrize("layout", ["table", "grid"])
def test_scaffold_passes_its_own_tests(layout, tmp_path, plugin_tests):
    """The generated tests/test_plugin.py, unchanged: every conformance check and the
    known-answer tests; then its generate option, honoured and checked."""
    name = f"scaffold_{layout}"
    folder = new_plugin(name, layout, tmp_path / f"domaingen-{name}")
    with plugin_tests(folder, name, tmp_path / "site") as module:
        assert registry.get_plugin(name) is module.plugin and module.plugin.layouts == (layout,)
        for check in CHECKS:
            (tmp_path / check).mkdir()
            getattr(module.case(), check)(tmp_path / check)
        known = [n for n in dir(module) if n.startswith("test_") and n != "test_conformance"]
        assert len(known) == 2
        for n in known:
            getattr(module, n)()
        _check_condition(module, layout, tmp_path / "conditioned")


def _check_condition(module, layout: str, out: Path) -> None:
    """The demo recipe run with the layout's generate option gives only matching records;
    a value the data does not have is a ConditionError naming it."""
    import domaingen as dg
    from domaingen.errors import ConditionError

    options, matches, bad = CONDITIONED[layout]
    document = module.recipe_document()
    document["generate"]["options"] = options
    result = dg.run(dg.recipe_from_dict(document, base_dir=module.RECIPE.parent), out)
    records = module.plugin.read(result.files)
    assert len(records) == document["generate"]["n"] and all(matches(r) for r in records)
    codec = dg.load_bundle(result.bundle_dir).codec
    with pytest.raises(ConditionError, match="purple|circle"):
        module.plugin.generation_request(codec, module.plugin.GenerateOptions(**bad))


# --- tokens: the user's journey, as the tutorial tells it ---------------------------------------
def tutorial_commands(*regions: str) -> list[list[str]]:
    """The command lines of the named regions of docs/tutorial/commands.sh, split as a shell would."""
    lines, inside = COMMANDS.read_text(encoding="utf-8").splitlines(), None
    out: dict[str, list[list[str]]] = {}
    for line in lines:
        marker = MARKER.search(line)
        if marker:
            inside = marker["region"] if marker["kind"] == "start" else None
        elif inside and line.strip() and not line.lstrip().startswith("#"):
            out.setdefault(inside, []).append(shlex.split(line))
    return [command for r in regions for command in out[r]]


def _executable(argv: list[str]) -> list[str]:
    """A tutorial command line as this environment runs it: its python, its domaingen, and
    pip kept offline (the tutorial's reader may download; the test must not)."""
    program, *rest = argv
    if program == "domaingen":
        script = Path(sys.executable).with_name("domaingen")
        return [str(script), *rest] if script.exists() else [sys.executable, "-m", "domaingen.cli", *rest]
    if program == "pip":
        assert rest[0] == "install", argv
        return [sys.executable, "-m", "pip", "install", *OFFLINE, *rest[1:]]
    assert program == "python", argv
    return [sys.executable, *rest]


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture
def journey(tmp_path):
    """A working folder; the distribution the journey installs is uninstalled afterwards."""
    if _installed("domaingen-vitals") or importlib.util.find_spec("domaingen_vitals") is not None:
        pytest.skip("a domaingen-vitals plugin is installed here (the tutorial's?); uninstall it to run the journey")
    try:
        yield tmp_path
    finally:
        if _installed("domaingen-vitals"):
            subprocess.run([sys.executable, "-m", "pip", "uninstall", "-y", "domaingen-vitals"], capture_output=True, timeout=300)
        importlib.invalidate_caches()
        registry.refresh()


def test_tokens_plugin_end_to_end(journey):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    outputs = []
    for argv in tutorial_commands("new", "install", "check"):
        done = subprocess.run(_executable(argv), cwd=journey, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"{shlex.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        outputs.append((argv, done.stdout))
    by_command = {" ".join(argv[:2]): out for argv, out in outputs}
    assert re.search(r"^plugin\s+vitals\s+0\.1\.0\s+domaingen-vitals\s+ok$", by_command["domaingen plugins"], re.M)
    assert re.search(rf"\b{len(CHECKS) + 2} passed\b", by_command["python -m"])  # its conformance and known-answer tests
    report = json.loads((journey / "runs" / "vitals-demo" / "report.json").read_text(encoding="utf-8"))
    assert set(report["metrics"]["summary"]) == {"length_error", "bigram_tvd"}
    shards = sorted((journey / "runs" / "vitals-demo").rglob("part-*.jsonl"))
    lines = [json.loads(line) for shard in shards for line in shard.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 60 and all(set(item) == {"text"} for item in lines)
