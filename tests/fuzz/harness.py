"""The fuzz harness: settings, cases, running the real CLI on one case and the checks every
case must pass.

A case is a command line of the real ``domaingen`` CLI (click's ``CliRunner`` on the real
group, so TensorFlow is imported once per test process) over inputs a generator wrote
into the case's own sandbox folder. Whatever the input, the command must end with an
exit code the case allows (2 for a broken input, 0 where the input stays valid, either
where a mutation may or may not break it), a one- or two-line ``error:`` message, no
traceback, nothing touched outside the output folder, and no partial output left.

Settings: ``--fuzz-cases N`` / ``DOMAINGEN_FUZZ_CASES`` (cases in all, shared out among
the groups) and ``--fuzz-seed S`` / ``DOMAINGEN_FUZZ_SEED``. A case's inputs depend only on
(seed, group, index), so a failing case replays alone with ``-k <case id>``.
"""

from __future__ import annotations

import gc
import json
import os
import re
import stat
import subprocess
import sys
import tempfile
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SEED",
    "DEFAULT_CASES",
    "GROUP_SHARES",
    "Settings",
    "Case",
    "Outcome",
    "case_rng",
    "run_case",
    "check",
    "failure_report",
]

DEFAULT_SEED = 14
DEFAULT_CASES = 120
# how the cases are shared out among the generator groups (each gets at least one); at
# the default count every group runs each of its mutations at least once
GROUP_SHARES = {"recipes": 0.25, "tables": 0.2, "bundles": 0.3, "media": 0.25}
MAX_CASES = 100_000

EITHER = frozenset({0, 2})
BROKEN = frozenset({2})
VALID = frozenset({0})

_TEMP = re.compile(r"\..+\.tmp")  # what a complete-or-absent write leaves when it is cut short
_LOCK = ".domaingen.lock"


# ------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class Settings:
    """The seed and the number of cases of one fuzz session."""

    seed: int = DEFAULT_SEED
    cases: int = DEFAULT_CASES

    def per_group(self, group: str) -> int:
        """How many of the cases ``group`` gets (its share, rounded; at least one)."""
        return max(1, round(self.cases * GROUP_SHARES[group]))

    def replay(self, case_id: str) -> str:
        """The command line that runs one case again."""
        env = f"DOMAINGEN_FUZZ_SEED={self.seed} "
        cases = f" --fuzz-cases {self.cases}" if self.cases != DEFAULT_CASES else ""
        return f"{env}python -m pytest -q tests/fuzz{cases} -k {case_id}"


def _int_setting(value: Any, name: str, low: int, high: int) -> int:
    """``value`` as an int in [low, high]; a ``ValueError`` naming the setting otherwise."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}={value!r}: expected a whole number") from None
    if not low <= number <= high:
        raise ValueError(f"{name}={number}: expected {low}..{high}")
    return number


def settings_from(option_cases: Any, option_seed: Any, environ: dict[str, str] | None = None) -> Settings:
    """The session's settings: a command-line option, else the environment variable, else the default."""
    environ = os.environ if environ is None else environ
    cases = option_cases if option_cases is not None else environ.get("DOMAINGEN_FUZZ_CASES") or DEFAULT_CASES
    seed = option_seed if option_seed is not None else environ.get("DOMAINGEN_FUZZ_SEED") or DEFAULT_SEED
    return Settings(
        seed=_int_setting(seed, "DOMAINGEN_FUZZ_SEED / --fuzz-seed", 0, 2**32 - 1),
        cases=_int_setting(cases, "DOMAINGEN_FUZZ_CASES / --fuzz-cases", 1, MAX_CASES),
    )


def case_rng(seed: int, group: str, index: int) -> np.random.Generator:
    """The random numbers of one case: a function of (seed, group, index) alone, so a case
    is the same whatever the number of cases or the order they run in."""
    return np.random.default_rng([seed, zlib.crc32(group.encode()), index])


# ---------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One command over generated inputs, and what it must end with.

    ``kind`` says what a successful command writes at ``out`` (checked when it exits 0):
    ``validate`` / ``sample`` (nothing), ``train`` (a bundle), ``generate`` (shards and a
    complete manifest), ``run`` (bundle, synthetic and report), ``evaluate`` (a report,
    when ``out`` is given). ``names``: the error message must contain one of these (the
    thing at fault), when the case expects exit code 2 only.
    """

    group: str
    index: int
    mutation: str
    what: str
    args: list[str]
    expect: frozenset[int]
    kind: str
    out: Path | None = None
    names: tuple[str, ...] = ()
    box: Path | None = None
    max_problems: int = 1  # a recipe's problems one fault may cause (a misspelt required key: 2)

    @property
    def id(self) -> str:
        return f"{self.group}-{self.index:03d}"

    def command(self) -> str:
        return "domaingen " + " ".join(_shell_word(a) for a in self.args)


def _shell_word(arg: str) -> str:
    shown = arg if len(arg) <= 120 else arg[:100] + f"...<{len(arg):,} characters>"
    return shown if re.fullmatch(r"[\w./=:,@+-]+", shown) else repr(shown)


@dataclass
class Outcome:
    """What the CLI did: exit code, its two streams and an exception that escaped it."""

    exit_code: int
    stdout: str
    stderr: str
    exception: str | None = None


# ------------------------------------------------------------------------------- sandbox


def tree(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every entry below ``root`` (links not followed) with its kind and, for files and
    links, size and modification time; ``skip`` (the output folder) is left out."""
    entries: dict[str, tuple] = {}
    if not root.exists():
        return entries
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        if skip is not None and (folder == skip or skip in folder.parents):
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            path = folder / name
            if skip is not None and path == skip:
                continue
            info = path.lstat()
            if stat.S_ISDIR(info.st_mode):
                entries[str(path.relative_to(root))] = ("dir",)
            else:
                kind = "link" if stat.S_ISLNK(info.st_mode) else "file"
                entries[str(path.relative_to(root))] = (kind, info.st_size, info.st_mtime_ns)
    return entries


def tree_changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    """What differs between two ``tree`` snapshots, one line per entry."""
    changes = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [f"modified {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changes


# ---------------------------------------------------------------------------------- running


def invoke(args: list[str]) -> Outcome:
    """Run the real CLI group in this process; an exception that escapes it is recorded
    with its traceback (a real process would have printed it)."""
    from click.testing import CliRunner

    from domaingen.cli import cli

    result = CliRunner().invoke(cli, args, prog_name="domaingen", catch_exceptions=True)
    escaped = None
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        escaped = "".join(traceback.format_exception(*result.exc_info))
    return Outcome(result.exit_code, result.stdout, result.stderr, escaped)


def invoke_process(args: list[str], box: Path, timeout: float = 300) -> Outcome:
    """Run the installed ``domaingen`` console script in a process of its own, in ``box``
    (also its temporary folder): what a user's shell sees, library log lines included."""
    script = Path(sys.executable).with_name("domaingen")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "domaingen.cli"]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a user's shell has it (tests/conftest.py sets it)
    env.update(TMPDIR=str(box / "tmp"), DOMAINGEN_DEBUG="")
    proc = subprocess.run([*command, *args], cwd=box, env=env, capture_output=True, text=True, timeout=timeout)
    return Outcome(proc.returncode, proc.stdout, proc.stderr)


def run_case(case: Case, watched: list[Path], monkeypatch: Any, process: bool = False) -> tuple[Outcome, list[str]]:
    """Run ``case`` with its sandbox as the working and temporary folder (in this process,
    or with ``process`` in a new one); return the outcome and the problems found (empty:
    the case passed). ``watched`` are folders besides the sandbox that no case may touch
    (the session's shared bundles)."""
    assert case.box is not None
    tmp = case.box / "tmp"
    tmp.mkdir(exist_ok=True)
    monkeypatch.chdir(case.box)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("DOMAINGEN_DEBUG", "")
    roots = [case.box, *watched]
    before = [tree(root, case.out) for root in roots]
    out_before = tree(case.out) if case.out is not None and case.out.exists() else None
    outcome = invoke_process(case.args, case.box) if process else invoke(case.args)
    gc.collect()  # objects holding temporary folders (a zip bundle's extraction) end here
    after = [tree(root, case.out) for root in roots]
    problems = check(case, outcome, before, after, out_before)
    return outcome, problems


# ---------------------------------------------------------------------------------- checks


def check(case: Case, outcome: Outcome, before: list[dict], after: list[dict], out_before: dict | None) -> list[str]:
    """Every rule a case must keep, as a list of the ones it broke."""
    problems: list[str] = []
    code = outcome.exit_code
    if code not in case.expect:
        problems.append(f"exit code {code}, expected {' or '.join(map(str, sorted(case.expect)))}")
    if outcome.exception is not None:
        problems.append("an exception escaped the CLI (a traceback in a real process)")
    if "Traceback" in outcome.stdout + outcome.stderr:
        problems.append("a traceback was printed")
    if code != 0:
        problems += message_problems(outcome.stderr, case.max_problems)
        if case.names and case.expect == BROKEN and not any(name in outcome.stderr for name in case.names):
            problems.append(f"the message does not name the thing at fault (any of {list(case.names)})")
    made_parents = {f"created {p}" for p in _parents_inside(case.out, case.box)} if code == 0 else set()
    for i, (root_before, root_after) in enumerate(zip(before, after)):
        changes = tree_changes(root_before, root_after)
        if i == 0:  # the sandbox: a success may have created the output's parents
            changes = [c for c in changes if c not in made_parents]
        if changes:
            problems.append("touched outside the output folder: " + "; ".join(changes[:8]))
    if case.out is not None:
        problems += leftover_problems(case.out)
        if code != 0:
            problems += failed_output_problems(case.out, out_before)
        elif code in case.expect:
            problems += success_problems(case, out_before or {})
    return problems


_RECIPE_HEADER = re.compile(r"error: .*: (\d+) problems? in the recipe:")


def _parents_inside(out: Path | None, box: Path | None) -> set[str]:
    """The folders between ``box`` and ``out``, relative to ``box``: a successful command
    creates those it needs (an ``--out`` with missing parents)."""
    if out is None or box is None:
        return set()
    return {str(p.relative_to(box)) for p in out.parents if box in p.parents}


def message_problems(stderr: str, max_problems: int = 1) -> list[str]:
    """A failure prints one or two lines, the first ``error: ...``. Two shapes have more
    lines by design: click's own usage errors (its hint ``Usage:`` / ``Try ...`` before a
    one-line ``Error: ...``) and a recipe's problem list (a header and one line per
    problem), which must list at most ``max_problems`` problems for the one fault."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ["no error message on stderr"]
    if lines[0].startswith("Usage: ") and len(lines) == 3 and lines[1].startswith("Try ") and lines[2].startswith("Error: "):
        return []
    problems = []
    if not lines[0].startswith("error: "):
        problems.append(f"the message does not start with 'error: ' ({lines[0][:80]!r})")
    header = _RECIPE_HEADER.match(lines[0])
    if header:
        count = int(header.group(1))
        if count > max_problems:
            problems.append(f"{count} problems reported for one fault (at most {max_problems} expected)")
        if len(lines) != 1 + count:
            problems.append(f"the message has {len(lines)} lines for {count} problem(s): one per problem expected")
    elif len(lines) > 2:
        problems.append(f"the message has {len(lines)} lines, at most 2 expected")
    return problems


def leftover_problems(out: Path) -> list[str]:
    """Temporaries of an interrupted write or a lock left below ``out``."""
    if not out.exists() or out.is_file():
        return []
    left = [str(p.relative_to(out)) for p in out.rglob("*") if _TEMP.fullmatch(p.name) or p.name == _LOCK]
    return [f"left behind in the output folder: {', '.join(sorted(left)[:8])}"] if left else []


def failed_output_problems(out: Path, out_before: dict | None) -> list[str]:
    """A failed command leaves the output path as it found it: absent, or unchanged."""
    if out_before is None:
        if out.exists() or out.is_symlink():
            what = "an empty folder" if out.is_dir() and not any(out.iterdir()) else "partial output"
            return [f"the failed command left {what} at {out.name}: {sorted(tree(out))[:8] if out.is_dir() else out.name}"]
        return []
    changes = tree_changes(out_before, tree(out))
    return [f"the failed command changed the existing output folder: {'; '.join(changes[:8])}"] if changes else []


def success_problems(case: Case, out_before: dict[str, tuple]) -> list[str]:
    """What a command that exited 0 must have written at ``case.out``, complete (files the
    user had there before are left out of the comparison with a manifest)."""
    out = case.out
    assert out is not None
    if case.kind in ("validate", "sample"):
        return [f"{case.kind} wrote {out.name}"] if out.exists() else []
    if case.kind == "train":
        return bundle_problems(out)
    if case.kind == "generate":
        return manifest_problems(out, {out / p for p in out_before})
    if case.kind == "run":
        return bundle_problems(out / "bundle") + manifest_problems(out / "synthetic")
    if case.kind == "evaluate":
        report = out / "report.json"
        try:
            json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            return [f"evaluate exited 0 without a readable {report.name} ({exc})"]
        return []
    raise AssertionError(f"unknown case kind {case.kind!r}")


def bundle_problems(path: Path) -> list[str]:
    """A bundle that loads and verifies (folder or zip)."""
    from domaingen.bundle import Bundle
    from domaingen.errors import DomaingenError

    try:
        Bundle.load(path)
    except DomaingenError as exc:
        return [f"the command exited 0 but its bundle does not load: {exc}"]
    return []


def manifest_problems(folder: Path, existing: set[Path] = frozenset()) -> list[str]:
    """A complete manifest listing exactly the folder's files, each matching its checksum
    (files the user had there before, ``existing``, may stay unlisted)."""
    from domaingen.files import sha256_file
    from domaingen.generation import manifest_files, read_manifest

    try:
        manifest = read_manifest(folder)
    except Exception as exc:  # noqa: BLE001 - any failure to read it is the finding
        return [f"unreadable manifest in {folder.name}: {exc}"]
    if manifest is None:
        return [f"the command exited 0 without writing {folder.name}/manifest.json"]
    problems = []
    if not manifest.get("complete"):
        problems.append("the manifest is not complete")
    if sum(int(s["records"]) for s in manifest["shards"]) != manifest.get("n"):
        problems.append("the manifest's shards do not add up to its n")
    listed = manifest_files(folder, manifest, overview=True)
    on_disk = {p for p in folder.rglob("*") if p.is_file()} - {folder / "manifest.json"}
    listed_files = {f for p in listed for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()}
    extra = sorted(str(p.relative_to(folder)) for p in on_disk - listed_files - set(existing))
    missing = sorted(str(p.relative_to(folder)) for p in listed_files - on_disk)
    if extra or missing:
        problems.append(f"the folder and its manifest differ (unlisted: {extra[:5]}, missing: {missing[:5]})")
    for shard in manifest["shards"]:
        for entry in shard["files"]:
            path = folder / entry["path"]
            if path.is_file() and sha256_file(path) != entry["sha256"]:
                problems.append(f"{entry['path']} does not match its checksum in the manifest")
    return problems


# ------------------------------------------------------------------------------- reporting


def _clip(text: str, limit: int = 3000) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else text[: limit // 2] + f"\n... ({len(text) - limit:,} characters) ...\n" + text[-limit // 2 :]


def failure_report(case: Case, settings: Settings, outcome: Outcome, problems: list[str]) -> str:
    """Everything needed to understand and replay a failed case."""
    lines = [
        f"fuzz case {case.id} failed (seed {settings.seed}, {settings.cases} cases)",
        f"replay:   {settings.replay(case.id)}",
        f"mutation: {case.mutation}: {case.what}",
        f"command:  {case.command()}",
        f"expected: exit {' or '.join(map(str, sorted(case.expect)))}; got {outcome.exit_code}",
        f"inputs:   {case.box}",
        "problems:",
        *(f"  - {p}" for p in problems),
        "stdout:",
        _clip(outcome.stdout) or "  (empty)",
        "stderr:",
        _clip(outcome.stderr) or "  (empty)",
    ]
    if outcome.exception:
        lines += ["exception:", _clip(outcome.exception, 6000)]
    return "\n".join(lines)


@dataclass
class Assets:
    """What the session makes once and every case may read but never change: trained
    bundles to mutate and a generated output folder."""

    root: Path
    toy_recipe: Path
    toy_bundle: Path
    toy_zip: Path
    toy_output: Path
    table_recipe: Path
    table_bundle: Path
