"""docs/tutorial-plugin.md cannot go stale: each code block is the region of a file it
names, and the finished plugin (docs/tutorial/vitals) passes domaingen's conformance suite,
its own known-answer tests and a training whose output is checked.

The plugin is made discoverable in this process without installing it: its folder on
``sys.path`` and a ``.dist-info`` with its entry point beside it, so the registry finds it
exactly as it finds an installed distribution (and ahead of one of the same name).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from domaingen import registry
from domaingen.scaffold import plugin_files
from domaingen.testing import CHECKS

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial-plugin.md"
PLUGIN = REPO / "docs" / "tutorial" / "vitals"
INCLUDE = re.compile(r"<!--\s*include:\s*(?P<path>[^#\s]+)(?:#(?P<region>[\w-]+))?\s*-->")
MARKER = re.compile(r"--8<-- \[(?P<kind>start|end):(?P<region>[\w-]+)\]")
UNCHANGED = ("pyproject.toml", ".gitignore", "domaingen_vitals/__init__.py")  # as the scaffold wrote them


# --- the markdown and its sources ------------------------------------------------------------
def region(path: Path, name: str | None) -> str:
    """The lines of region ``name`` in ``path`` (the whole file without ``name``), without
    marker lines, dedented, trailing blank lines dropped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if name is not None:
        starts = [k for k, line in enumerate(lines) if (m := MARKER.search(line)) and m["kind"] == "start" and m["region"] == name]
        ends = [k for k, line in enumerate(lines) if (m := MARKER.search(line)) and m["kind"] == "end" and m["region"] == name]
        assert len(starts) == 1 and len(ends) == 1 and starts[0] < ends[0], f"{path}: region {name!r} must be marked once (start, then end)"
        lines = lines[starts[0] + 1 : ends[0]]
    body = "\n".join(line for line in lines if not MARKER.search(line))
    return textwrap.dedent(body).rstrip()


def code_blocks(markdown: str) -> list[tuple[int, str | None, str]]:
    """``(line, include marker or None, block text)`` for every fenced block."""
    blocks, lines, k, pending = [], markdown.splitlines(), 0, None
    while k < len(lines):
        line = lines[k]
        if INCLUDE.search(line):
            pending = line
        elif line.startswith("```"):
            end = next(j for j in range(k + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append((k + 1, pending, "\n".join(lines[k + 1 : end]).rstrip()))
            pending, k = None, end
        elif line.strip():
            pending = None  # an include marker belongs to the block right below it
        k += 1
    return blocks


def test_every_code_block_is_the_region_it_names():
    blocks = code_blocks(TUTORIAL.read_text(encoding="utf-8"))
    assert len(blocks) >= 15
    for line, marker, text in blocks:
        assert marker is not None, f"{TUTORIAL.name}, line {line}: a code block without an <!-- include: path#region --> above it"
        match = INCLUDE.search(marker)
        source = REPO / match["path"]
        assert source.is_file(), f"{TUTORIAL.name}, line {line}: {match['path']} does not exist"
        assert text == region(source, match["region"]), (
            f"{TUTORIAL.name}, line {line}: the block differs from {match['path']}#{match['region']}; copy the region again"
        )


def test_a_block_that_drifts_from_its_file_is_caught(tmp_path):
    """The check compares text: one changed line is a difference."""
    source = tmp_path / "code.py"
    source.write_text("x = 1\n# --8<-- [start:r]\n    y = 2\n    z = 3\n# --8<-- [end:r]\n", encoding="utf-8")
    assert region(source, "r") == "y = 2\nz = 3"
    [(_, marker, text)] = code_blocks(f"<!-- include: {source}#r -->\n```python\ny = 2\nz = 4\n```\n")
    assert marker is not None and text != region(source, "r")
    assert code_blocks("<!-- include: a.py -->\n\nsome prose\n```python\npass\n```\n")[0][1] is None


def test_the_tutorial_plugin_is_the_scaffold_changed():
    """The finished plugin has the scaffold's files, and those the tutorial keeps are as
    `domaingen plugin new vitals --layout tokens` writes them today."""
    scaffold = plugin_files("vitals", "tokens")
    ours = {p.relative_to(PLUGIN).as_posix() for p in PLUGIN.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    ours = {p for p in ours if ".egg-info/" not in p}
    assert ours == set(scaffold)
    for name in UNCHANGED:
        assert (PLUGIN / name).read_text(encoding="utf-8") == scaffold[name], f"{name} differs from the scaffold's"


# --- the finished plugin ------------------------------------------------------------------


@pytest.fixture(scope="module")
def vitals_tests(tmp_path_factory, plugin_tests):
    """The finished plugin's tests/test_plugin.py, imported with the plugin discoverable."""
    with plugin_tests(PLUGIN, "vitals", tmp_path_factory.mktemp("site")) as module:
        assert registry.get_plugin("vitals") is module.plugin
        yield module


@pytest.mark.parametrize("check", CHECKS)
def test_tutorial_plugin_conformance(vitals_tests, check, tmp_path):
    getattr(vitals_tests.case(), check)(tmp_path)
    if check == "reproducible":  # it trained and generated twice: look at what came out
        _plausible_series(vitals_tests, tmp_path / "run0")


def _plausible_series(module, out: Path) -> None:
    """Generated series are complete readings inside the trained ranges, around the
    simulator's means, and the report holds every documented metric."""
    shards = sorted(out.rglob("part-*.jsonl"))
    series = module.plugin.read(shards)
    assert len(series) == module.recipe_document()["generate"]["n"]
    heart = np.concatenate([s["heart_rate"] for s in series])
    assert all(len(s["heart_rate"]) == len(s["systolic"]) >= 2 for s in series)
    assert 30 <= heart.min() and heart.max() <= 220
    assert abs(heart.mean() - module.MEAN_HEART_RATE) < 10  # a tiny model, but not a broken one


def test_tutorial_plugin_known_answers(vitals_tests):
    names = [n for n in dir(vitals_tests) if n.startswith("test_") and n != "test_conformance"]
    assert names == ["test_metrics_known_answer", "test_simulator_known_answer"]
    for n in names:
        getattr(vitals_tests, n)()
