"""The fuzz harness itself: settings, seeded generators that cover every mutation, and
checks that do catch what they are meant to catch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import gen_bundles, gen_media, gen_recipes, gen_tables
from .harness import BROKEN, DEFAULT_CASES, DEFAULT_SEED, EITHER, GROUP_SHARES, Case, Outcome, Settings, check, settings_from, tree

GENERATORS = {m.GROUP: m for m in (gen_recipes, gen_tables, gen_bundles, gen_media)}
MUTATION_COUNTS = {
    "recipes": len(gen_recipes.MUTATIONS) + 1,  # + cli_options
    "tables": len(gen_tables.MUTATIONS) + 1,  # + synthetic_quirks
    "bundles": len(gen_bundles.BUNDLE_MUTATIONS) + 2,  # + the two manifest cases
    "media": len(gen_media.MUTATIONS) + 1,  # + synthetic_shard
}


def test_settings_come_from_the_option_then_the_environment_then_the_default():
    assert settings_from(None, None, {}) == Settings(DEFAULT_SEED, DEFAULT_CASES)
    env = {"DOMAINGEN_FUZZ_CASES": "400", "DOMAINGEN_FUZZ_SEED": "9"}
    assert settings_from(None, None, env) == Settings(9, 400)
    assert settings_from("50", "3", env) == Settings(3, 50)
    for bad in ("lots", "0", "-4", str(10**9)):
        with pytest.raises(ValueError, match="FUZZ_CASES"):
            settings_from(bad, None, {})
    replay = Settings(9, 400).replay("bundles-007")
    assert replay == "DOMAINGEN_FUZZ_SEED=9 python -m pytest -q tests/fuzz --fuzz-cases 400 -k bundles-007"


def test_every_mutation_runs_at_the_default_count():
    settings = Settings()
    assert set(GROUP_SHARES) == set(GENERATORS) == set(MUTATION_COUNTS)
    for group, count in MUTATION_COUNTS.items():
        assert settings.per_group(group) >= count, (group, settings.per_group(group), count)
    assert sum(settings.per_group(g) for g in GROUP_SHARES) == DEFAULT_CASES


def _inputs(box: Path) -> dict[str, bytes]:
    return {str(p.relative_to(box)): p.read_bytes() for p in sorted(box.rglob("*")) if p.is_file()}


def _made(group: str, index: int, seed: int, box: Path, assets) -> tuple[list[str], dict[str, bytes]]:
    from .harness import case_rng

    box.mkdir(parents=True)
    case = GENERATORS[group].make_case(index, case_rng(seed, group, index), box, assets)
    return [a.replace(str(box), "BOX") for a in case.args], _inputs(box)


@pytest.mark.parametrize("group", list(GROUP_SHARES))
def test_a_case_depends_on_seed_group_and_index_alone(group, fuzz_assets, tmp_path):
    indices = range(0, 40, 7)
    first = [_made(group, i, 5, tmp_path / "a" / str(i), fuzz_assets) for i in indices]
    again = [_made(group, i, 5, tmp_path / "b" / str(i), fuzz_assets) for i in indices]
    other = [_made(group, i, 6, tmp_path / "c" / str(i), fuzz_assets) for i in indices]
    assert first == again
    assert first != other


# ----------------------------------------------------------------------------- the checks


def _case(box: Path, **kw) -> Case:
    defaults = dict(group="recipes", index=0, mutation="m", what="w", args=["x"], expect=BROKEN, kind="generate", out=box / "out", box=box)
    return Case(**{**defaults, **kw})


def _check(case: Case, outcome: Outcome, change=None) -> list[str]:
    before = [tree(case.box, case.out)]
    out_before = tree(case.out) if case.out.exists() else None
    if change:
        change()
    return check(case, outcome, before, [tree(case.box, case.out)], out_before)


def test_a_clean_refusal_passes(tmp_path):
    assert _check(_case(tmp_path), Outcome(2, "", "error: bundle x: not found; train one\n")) == []
    usage = "Usage: domaingen generate [OPTIONS] BUNDLE\nTry 'domaingen generate -h' for help.\n\nError: Invalid value for '-n'\n"
    assert _check(_case(tmp_path), Outcome(2, "", usage)) == []
    recipe = "error: r.yaml: 1 problem in the recipe:\n  - train.epochs (line 3): too big\n"
    assert _check(_case(tmp_path), Outcome(2, "", recipe)) == []


@pytest.mark.parametrize("outcome, expected", [
    (Outcome(1, "", "error: KeyError: 'std' (run with --debug for the traceback)\n"), "exit code 1, expected 2"),
    (Outcome(2, "", "Traceback (most recent call last):\n  File x\nValueError\n"), "a traceback was printed"),
    (Outcome(2, "", "error: one\ntwo\nthree\n"), "the message has 3 lines"),
    (Outcome(2, "", "something went wrong\n"), "does not start with 'error: '"),
    (Outcome(2, "", ""), "no error message"),
    (Outcome(2, "", "error: r.yaml: 2 problems in the recipe:\n  - a\n  - b\n"), "2 problems reported for one fault"),
    (Outcome(0, "", "", "Traceback ...\nMemoryError\n"), "an exception escaped the CLI"),
])
def test_a_bad_ending_is_caught(tmp_path, outcome, expected):
    case = _case(tmp_path, expect=EITHER if outcome.exit_code == 0 else BROKEN, kind="sample", out=None)
    case.out = tmp_path / "out"
    problems = _check(case, outcome)
    assert any(expected in p for p in problems), problems


def test_files_touched_outside_and_partial_output_are_caught(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "data.csv").write_text("a\n1\n")
    error = Outcome(2, "", "error: refused\n")

    def touch_input():
        os.utime(tmp_path / "inputs" / "data.csv", ns=(1, 1))

    assert any("modified inputs/data.csv" in p for p in _check(_case(tmp_path), error, touch_input))
    assert any("created stray.txt" in p for p in _check(_case(tmp_path), error, lambda: (tmp_path / "stray.txt").write_text("x")))
    case = _case(tmp_path)
    assert any("left an empty folder" in p for p in _check(case, error, lambda: case.out.mkdir()))
    case.out.rmdir()

    def temporary():
        case.out.mkdir()
        (case.out / ".part-00000.csv.k2j4h5g6.tmp").write_text("half")

    problems = _check(case, error, temporary)
    assert any("left behind in the output folder: .part-00000.csv.k2j4h5g6.tmp" in p for p in problems), problems


def test_an_existing_output_folder_must_stay_as_it_was(tmp_path):
    case = _case(tmp_path)
    case.out.mkdir()
    (case.out / "notes.txt").write_text("mine")
    problems = _check(case, Outcome(2, "", "error: refused\n"), lambda: (case.out / "notes.txt").unlink())
    assert any("changed the existing output folder: removed notes.txt" in p for p in problems), problems


def test_a_success_must_leave_complete_output(tmp_path):
    case = _case(tmp_path, expect=EITHER)
    case.out.mkdir()
    problems = _check(case, Outcome(0, "ok", ""))
    assert any("without writing out/manifest.json" in p for p in problems), problems
