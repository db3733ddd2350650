"""Broken recipes and command lines: mutated keys (typos, unknown, missing), wrong types,
huge and negative numbers, deep nesting, YAML aliases (bombs and honest ones), invalid
YAML, bytes that are not UTF-8, control characters, empty and huge files, ``--set``
overrides and CLI options out of bounds.

Each mutation injects one fault (so one problem, a two-line message) into a valid toy or
tabular recipe and says what the command must end with.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .harness import BROKEN, EITHER, VALID, Assets, Case
from .mutate import dump_yaml, flip_bytes, invalid_utf8, pick, typo

GROUP = "recipes"

TOY = {
    "schema_version": 1,
    "name": "fuzz-toy",
    "seed": 7,
    "data": {"plugin": "toy", "source": "toy:gaussian", "options": {"rows": 200}},
    "model": {"family": "toy-gauss"},
    "train": {"epochs": 1, "batch_size": 100},
    "generate": {"n": 50, "batch_size": 50, "shard_size": 25},
    "evaluate": {"holdout": 0.2},
}

TABLE = {
    "schema_version": 1,
    "name": "fuzz-table",
    "seed": 3,
    "data": {"plugin": "tabular", "source": "table.csv", "options": {"transform": "quantile", "max_modes": 3}},
    "model": {"family": "copula"},
    "train": {"epochs": 1},
    "generate": {"n": 20, "shard_size": 10},
    "evaluate": {"enabled": False},
}

# core fields by kind (with the values that break them whatever the bounds)
INT_FIELDS = ("seed", "train.epochs", "train.batch_size", "generate.n", "generate.batch_size", "generate.shard_size", "train.early_stopping.patience")
FLOAT_FIELDS = ("evaluate.holdout", "train.validation_split", "train.learning_rate", "train.early_stopping.min_delta")
BOUNDED_FLOATS = ("evaluate.holdout", "train.validation_split")  # an upper bound below 1
STR_FIELDS = ("data.plugin", "data.source", "model.family", "name", "generate.format", "train.early_stopping.monitor")
OPTIONAL = {"name", "generate.format", "model.family", "train.learning_rate"}  # null is valid there
SECTIONS = ("data", "model", "train", "generate", "evaluate", "data.options", "model.options", "generate.options", "evaluate.options", "train.early_stopping")
REQUIRED = ("schema_version", "data", "data.plugin", "data.source")
CORE_KEYS = {
    (): ["schema_version", "name", "seed", "data", "model", "train", "generate", "evaluate"],
    ("data",): ["plugin", "source", "options"],
    ("model",): ["family", "options"],
    ("train",): ["epochs", "batch_size", "learning_rate", "validation_split", "early_stopping"],
    ("generate",): ["n", "batch_size", "shard_size", "format", "options"],
    ("evaluate",): ["enabled", "holdout", "options"],
}


@dataclass
class Recipe:
    """A mutated recipe: its bytes, what the command must end with, and what the message names."""

    data: bytes
    expect: frozenset[int]
    what: str
    names: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("validate", "train", "run")
    extra: tuple[str, ...] = ()  # more command-line arguments (--set ...)
    base: str = "toy"
    max_problems: int = 1


def _get(doc: dict, dotted: str):
    node = doc
    for part in dotted.split("."):
        node = node[part]
    return node


def _set(doc: dict, dotted: str, value) -> dict:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return doc


def _delete(doc: dict, dotted: str) -> dict:
    parts = dotted.split(".")
    node = doc
    for part in parts[:-1]:
        node = node[part]
    del node[parts[-1]]
    return doc


def _yaml(doc: dict) -> bytes:
    return dump_yaml(doc).encode("utf-8")


def _base(rng: np.random.Generator) -> tuple[str, dict]:
    name = "toy" if rng.random() < 0.75 else "table"
    return name, copy.deepcopy(TOY if name == "toy" else TABLE)


# ------------------------------------------------------------------------------ mutations


def typo_key(rng, box, assets):
    base, doc = _base(rng)
    path = pick(rng, [p for p in CORE_KEYS if not p or p[0] in doc])
    node = doc
    for part in path:
        node = node[part]
    key = pick(rng, list(node))
    wrong = typo(rng, key, set(CORE_KEYS.get(path, [])) | set(node))
    node[wrong] = node.pop(key)
    dotted = ".".join((*path, wrong))
    required = ".".join((*path, key)) in REQUIRED
    what = f"key {'.'.join((*path, key))!r} misspelt {wrong!r}" + (" (a required key: unknown and missing)" if required else "")
    return Recipe(_yaml(doc), BROKEN, what, (wrong, dotted), base=base, max_problems=2 if required else 1)


def unknown_key(rng, box, assets):
    base, doc = _base(rng)
    where = pick(rng, [(), ("data",), ("model",), ("train",), ("generate",), ("evaluate",), ("data", "options"), ("generate", "options"), ("model", "options")])
    key = pick(rng, ["colour", "epochz", "tmp", "x" * int(rng.integers(1, 300)), "über_key", "__class__", "0", "null_key"])
    node = doc
    for part in where:
        node = node.setdefault(part, {})
    node[key] = pick(rng, [1, "yes please", [1, 2], {"a": 1}])
    return Recipe(_yaml(doc), BROKEN, f"unknown key {key[:40]!r} under {'.'.join(where) or 'the top level'}", (key[:40],), base=base)


def missing_required(rng, box, assets):
    base, doc = _base(rng)
    dotted = pick(rng, REQUIRED)
    _delete(doc, dotted)
    return Recipe(_yaml(doc), BROKEN, f"required {dotted} removed", (dotted,), base=base)


def _wrong_values(dotted: str) -> list:
    if dotted in INT_FIELDS:
        values = ["many", [1, 2], {"a": 1}, 2.5, "", "1_000x"]
    elif dotted in FLOAT_FIELDS:
        values = ["half", [0.1], {"x": 1}, "", "0.1.2"]
    elif dotted in STR_FIELDS:
        values = [["toy"], {"a": "b"}, 5, 3.25]
    else:
        values = [5, "text", [1, 2], 2.5]
    if dotted not in OPTIONAL and dotted not in SECTIONS:
        values.append(None)
    return values


def wrong_type(rng, box, assets):
    base, doc = _base(rng)
    dotted = pick(rng, INT_FIELDS + FLOAT_FIELDS + STR_FIELDS + SECTIONS)
    value = pick(rng, _wrong_values(dotted))
    _set(doc, dotted, value)
    return Recipe(_yaml(doc), BROKEN, f"{dotted} set to {value!r} (wrong type)", (dotted,), base=base)


def huge_number(rng, box, assets):
    base, doc = _base(rng)
    text = None
    if rng.random() < 0.7:
        dotted = pick(rng, INT_FIELDS)
        value = 10 ** int(rng.integers(11, 60)) + int(rng.integers(0, 1000))
        _set(doc, dotted, value)
    else:
        dotted = pick(rng, BOUNDED_FLOATS + INT_FIELDS)
        value = pick(rng, [1e300, 1.5e308, ".inf", ".nan", "1e400"])
        _set(doc, dotted, "@@VALUE@@")
        text = dump_yaml(doc).replace("'@@VALUE@@'", str(value)).replace("@@VALUE@@", str(value))
    data = text.encode() if text is not None else _yaml(doc)
    return Recipe(data, BROKEN, f"{dotted} = {str(value)[:30]} (beyond any bound)", (dotted,), base=base)


def negative_number(rng, box, assets):
    base, doc = _base(rng)
    dotted = pick(rng, INT_FIELDS + FLOAT_FIELDS)
    if dotted in INT_FIELDS:
        value = -int(10 ** rng.uniform(0, 15))
    else:
        value = -float(rng.uniform(1e-6, 1e6))
    _set(doc, dotted, value)
    return Recipe(_yaml(doc), BROKEN, f"{dotted} = {value}", (dotted,), base=base)


def deep_nesting(rng, box, assets):
    base, doc = _base(rng)
    style = pick(rng, ["flow list", "flow map", "block"])
    depth = int(pick(rng, [65, 70, 200, 600] if style == "block" else [65, 70, 200, 1000, 5000, 20000]))  # block text grows as depth squared
    where = pick(rng, ["data.options.deep", "deep", "generate.options.conditions"])
    _set(doc, where, "@@DEEP@@")
    text = dump_yaml(doc)
    line = next(l for l in text.splitlines() if "@@DEEP@@" in l)
    indent = len(line) - len(line.lstrip())
    if style == "flow list":
        value = "[" * depth + "1" + "]" * depth
    elif style == "flow map":
        value = "{a: " * depth + "1" + "}" * depth
    else:
        value = "".join("\n" + " " * (indent + 2 * (i + 1)) + "k:" for i in range(depth)) + " 1"
    text = text.replace("'@@DEEP@@'", value).replace("@@DEEP@@", value)
    return Recipe(text.encode(), BROKEN, f"{where}: {style} nested {depth} deep", ("nests deeper", "MAX_YAML_DEPTH"), base=base)


def alias_bomb(rng, box, assets):
    """A "billion laughs": each level a list of aliases of the one before."""
    width = int(rng.integers(4, 11))
    # enough levels to expand past MAX_YAML_NODES: 9 * width ** (levels - 1) > 100,000
    levels = int(np.ceil(np.log(100_000 / 9) / np.log(width))) + 1 + int(rng.integers(0, 3))
    lines = ["schema_version: 1", "bomb:", "  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"  l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * width) + "]")
    lines += ["data: {plugin: toy, source: 'toy:gaussian'}", f"train: *l{levels - 1}"]
    text = "\n".join(lines) + "\n"
    return Recipe(text.encode(), BROKEN, f"billion laughs: {levels} levels of {width} aliases", ("MAX_YAML", "alias"))


def many_aliases(rng, box, assets):
    """More alias references than the limit, each of a tiny anchor."""
    count = int(rng.integers(101, 2000))
    doc = copy.deepcopy(TOY)
    text = dump_yaml(doc).replace("seed: 7", "seed: &s 7")
    text += "extra: [" + ", ".join(["*s"] * count) + "]\n"
    return Recipe(text.encode(), BROKEN, f"{count} alias references", ("MAX_YAML_ALIASES",))


def valid_aliases(rng, box, assets):
    """A few anchors and aliases, well within the limits: a valid recipe."""
    doc = copy.deepcopy(TOY)
    text = dump_yaml(doc)
    text = text.replace("  batch_size: 50\n", "  batch_size: &b 50\n").replace("  shard_size: 25\n", "  shard_size: *b\n")
    text = text.replace("seed: 7\n", "seed: &seed 7\n")
    return Recipe(text.encode(), VALID, "anchors and aliases within the limits")


SYNTAX_ERRORS = (
    ("unclosed flow mapping", "data: {plugin: toy, source: 'toy:gaussian'\n"),
    ("unclosed flow sequence", "extra: [1, 2\n"),
    ("unterminated quote", "name: \"fuzz\n"),
    ("tab indentation", "train:\n\tepochs: 1\n"),
    ("bad indentation", "train:\n    epochs: 1\n  batch_size: 2\n"),
    ("stray colon", "name: a: b: c\n"),
    ("mapping in a sequence item", "- a\nb: c\n"),
    ("unknown directive", "%YAML 9.9\n---\nname: x\n"),
    ("undefined alias", "name: *nowhere\n"),
    ("two documents", "name: a\n---\nname: b\n"),
    ("bad escape", "name: \"\\q\"\n"),
    ("block scalar indicator", "name: |9x\n  text\n"),
)


def invalid_yaml(rng, box, assets):
    what, snippet = pick(rng, SYNTAX_ERRORS)
    text = dump_yaml(copy.deepcopy(TOY))
    lines = text.splitlines(keepends=True)
    at = int(rng.integers(0, len(lines) + 1))
    if what in ("unknown directive", "two documents", "mapping in a sequence item"):
        at = 0 if what == "unknown directive" else len(lines)
    text = "".join(lines[:at]) + snippet + "".join(lines[at:])
    return Recipe(text.encode(), BROKEN, f"invalid YAML ({what}) at line {at + 1}", ("YAML", "recipe"))


def byte_flips(rng, box, assets):
    data, where = flip_bytes(rng, _yaml(copy.deepcopy(TOY)))
    return Recipe(data, EITHER, f"recipe bytes {where}")


def non_utf8(rng, box, assets):
    source = _yaml(copy.deepcopy(TOY))
    if rng.random() < 0.3:
        data, how = dump_yaml(copy.deepcopy(TOY)).encode(pick(rng, ["utf-16", "utf-32"])), "saved as UTF-16/32"
    else:
        data, how = invalid_utf8(rng, source)
    return Recipe(data, BROKEN, f"not UTF-8: {how}", ("UTF-8", "recipe.yaml"))


def control_chars(rng, box, assets):
    source = _yaml(copy.deepcopy(TOY))
    char = pick(rng, [b"\x00", b"\x01", b"\x07", b"\x1b", b"\x7f", b"\x00" * 50, b"\x1f"])
    at = source.index(b"fuzz-toy") + int(rng.integers(0, 8))
    data = source[:at] + char + source[at:]
    return Recipe(data, BROKEN, f"control character {char[:4]!r} inside a value", ("recipe.yaml",))


def empty_like(rng, box, assets):
    text = pick(rng, [b"", b"   \n\n", b"# only a comment\n", b"---\n", b"null\n", b"~\n", b"\n" * 1000, b"...\n"])
    return Recipe(text, BROKEN, f"empty recipe {text[:20]!r}", ("recipe.yaml",))


def huge_file(rng, box, assets):
    from domaingen.recipe import MAX_RECIPE_BYTES

    size = int(MAX_RECIPE_BYTES * rng.uniform(1.01, 3.0))
    head = _yaml(copy.deepcopy(TOY))
    how = pick(rng, ["comment", "value", "lines"])
    if how == "comment":
        data = head + b"# " + b"x" * size + b"\n"
    elif how == "value":
        data = head + b"extra: '" + b"y" * size + b"'\n"
    else:
        data = head + b"".join(b"k%d: %d\n" % (i, i) for i in range(size // 8))
    return Recipe(data, BROKEN, f"a {len(data):,}-byte recipe ({how})", ("MAX_RECIPE_BYTES",))


def not_a_mapping(rng, box, assets):
    text = pick(rng, [b"- 1\n- 2\n", b"just a sentence\n", b"42\n", b"[schema_version, 1]\n", b"'quoted'\n", b"!!binary aGVsbG8=\n"])
    return Recipe(text, BROKEN, f"top level is not a mapping: {text[:30]!r}", ("mapping", "recipe.yaml"))


def schema_version(rng, box, assets):
    base, doc = _base(rng)
    value = pick(rng, [2, 0, "1", 1.5, -1, 999999999999999999999, [1]])
    doc["schema_version"] = value
    return Recipe(_yaml(doc), BROKEN, f"schema_version {value!r}", ("schema_version",), base=base)


def python_tag(rng, box, assets):
    """YAML tags that would run code or build objects in an unsafe loader; nothing may run
    (the sandbox snapshot would see ``pwned``)."""
    tag = pick(rng, [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/object/apply:subprocess.check_call [['touch', 'pwned']]",
        "!!python/name:os.system",
        "!!python/object:pathlib.Path {}",
        "!custom {a: 1}",
        "!!set {a, b}",
        "!!omap [a: 1]",
    ])
    doc = copy.deepcopy(TOY)
    where = pick(rng, ["name", "data.source", "data.options.rows", "extra"])
    _set(doc, where, "@@TAG@@")
    text = dump_yaml(doc).replace("'@@TAG@@'", tag).replace("@@TAG@@", tag)
    return Recipe(text.encode(), BROKEN, f"{where}: tag {tag}", ("recipe.yaml", where))


def duplicate_key(rng, box, assets):
    doc = copy.deepcopy(TOY)
    text = dump_yaml(doc)
    key = pick(rng, ["seed", "name", "train", "data"])
    text += f"{key}: 5\n"
    return Recipe(text.encode(), BROKEN, f"top-level key {key!r} given twice", (key, "duplicate"))


def utf8_bom(rng, box, assets):
    """A byte-order mark, as editors on Windows write: still valid UTF-8 YAML."""
    return Recipe(b"\xef\xbb\xbf" + _yaml(copy.deepcopy(TOY)), VALID, "a UTF-8 byte-order mark first")


SET_FAULTS = (
    ("train.epochs=99999999999999999999999", "train.epochs"),
    ("generate.n=-3", "generate.n"),
    ("=5", "--set"),
    ("train..epochs=1", "--set"),
    ("train.epochs", "--set"),
    ("seed=many", "seed"),
    ("data.plugin=[toy]", "data.plugin"),
    ("train.epochs=" + "[" * 70 + "]" * 70, "MAX_YAML_DEPTH"),
    ("evaluate.holdout=.nan", "evaluate.holdout"),
    ("generate.shard_size=1", "MAX_SHARDS"),  # with generate.n at its maximum below
    ("trian.epochs=3", "trian"),
    ("data.options.colour=red", "colour"),
)


def set_override(rng, box, assets):
    item, name = pick(rng, SET_FAULTS)
    extra = ["--set", item]
    if name == "MAX_SHARDS":
        extra += ["--set", "generate.n=10000000000"]
    return Recipe(_yaml(copy.deepcopy(TOY)), BROKEN, f"--set {item[:60]!r}", (name,), extra=tuple(extra))


def valid_override(rng, box, assets):
    item = pick(rng, ["train.epochs=1", "generate.n=30", "seed=123", "generate.options.only=b", "name=renamed", "evaluate.enabled=false"])
    return Recipe(_yaml(copy.deepcopy(TOY)), VALID, f"--set {item!r} (valid)", extra=("--set", item))


def plugin_option(rng, box, assets):
    """Faults in the tabular plugin's own sections: some caught by validation, some only
    once the data is read (so train / run only)."""
    doc = copy.deepcopy(TABLE)
    fault, name = pick(rng, [
        ("data.options.max_modes", "data.options.max_modes"),
        ("data.options.transform", "data.options.transform"),
        ("data.options.columns", "nonexistent"),
        ("data.options.drop", "nonexistent"),
        ("data.options.constraints", "data.options.constraints"),
        ("generate.options.conditions", "nonexistent"),
        ("data.options.sep", "table.csv"),
        ("data.options.codec_fit_rows", "data.options.codec_fit_rows"),
    ])
    value = {
        "data.options.max_modes": pick(rng, [0, 51, -4, "many", 10**20]),
        "data.options.transform": pick(rng, ["bogus", 5, ["gmm"]]),
        "data.options.columns": {"nonexistent": {"type": "numeric"}},
        "data.options.drop": ["nonexistent"],
        "data.options.constraints": pick(rng, [[{"type": "range"}], [{"type": "bogus", "column": "amount"}], "none", [{"type": "range", "column": "nonexistent", "min": 0}]]),
        "generate.options.conditions": {"nonexistent": 3},
        "data.options.sep": pick(rng, [";", "\t", "|"]),
        "data.options.codec_fit_rows": pick(rng, [0, 99, -1]),
    }[fault]
    _set(doc, fault, value)
    commands = ("run",) if fault.startswith("generate.") else ("train", "run")  # train does not read generate.options' columns
    if fault == "data.options.constraints" and isinstance(value, list) and value and value[0].get("column") == "nonexistent":
        name = "nonexistent"
    expect = EITHER if fault == "data.options.sep" else BROKEN  # another separator: one wide column, or an error
    return Recipe(_yaml(doc), expect, f"{fault} = {value!r}", (name, fault), commands=commands, base="table")


def identity(rng, box, assets):
    base, doc = _base(rng)
    return Recipe(_yaml(doc), VALID, f"the {base} recipe unchanged", base=base)


MUTATIONS = (
    typo_key, unknown_key, missing_required, wrong_type, huge_number, negative_number, deep_nesting,
    alias_bomb, many_aliases, valid_aliases, invalid_yaml, byte_flips, non_utf8, control_chars, empty_like,
    huge_file, not_a_mapping, schema_version, python_tag, duplicate_key, utf8_bom, set_override,
    valid_override, plugin_option, identity,
)


# ------------------------------------------------------------------------------ CLI options

GENERATE_FAULTS = (
    (["-n", "0"], "-n"), (["-n", "-5"], "-n"), (["-n", "abc"], "-n"), (["-n", str(10**11)], "-n"),
    (["-n", "1e3"], "-n"), (["--seed", "-1"], "--seed"), (["--seed", str(2**31)], "--seed"), (["--seed", "x"], "--seed"),
    (["--batch-size", "0"], "--batch-size"), (["--batch-size", str(2**22 + 1)], "--batch-size"),
    (["--shard-size", str(10**7 + 1)], "--shard-size"), (["-n", str(10**10), "--shard-size", "1"], "MAX_SHARDS"),
    (["--workers", "0"], "--workers"), (["--workers", "100000"], "--workers"), (["--engine", "gpu"], "--engine"),
    (["--format", "xml"], "xml"), (["--option", "bogus=1"], "bogus"), (["--option", "only=zzz"], "zzz"),
    (["--option", "=1"], "--option"), (["--option", "min_x=1e9"], "impossible"), (["--option", "only"], "--option"),
    (["--option", "only=" + "[" * 80 + "]" * 80], "MAX_YAML_DEPTH"), (["--bogus-flag"], "--bogus-flag"),
)
GENERATE_VALID = (["--quiet"], ["-q", "--seed", "3"], ["--option", "only=b"], ["--shard-size", "7", "--batch-size", "3"], ["--seed", str(2**31 - 1)])


def cli_options(rng, box: Path, assets: Assets, index: int) -> Case:
    """``domaingen generate`` on the session's toy bundle with an option out of bounds
    (or a valid one): refused by the CLI before any work, leaving nothing."""
    out, state = output_path(rng, box)
    if rng.random() < 0.8:
        extra, name = pick(rng, GENERATE_FAULTS)
        expect, names, what = BROKEN, (name,), f"generate {' '.join(extra)[:60]} ({state})"
    else:
        extra = pick(rng, GENERATE_VALID)
        expect, names, what = VALID, (), f"generate {' '.join(extra)} (valid; {state})"
    args = ["generate", str(assets.toy_bundle), "-n", str(int(rng.integers(1, 60))), "--out", str(out), *extra]
    return Case(GROUP, index, "cli_options", what, args, expect, "generate", out, names, box)


# ---------------------------------------------------------------------------------- cases


def output_path(rng: np.random.Generator, box: Path, kinds: tuple[str, ...] = ("absent", "parents", "empty", "notes")) -> tuple[Path, str]:
    """Where the command writes, in one of the states a user leaves it in: absent, absent
    with missing parents, an existing empty folder, or one holding the user's own file."""
    state = pick(rng, kinds)
    if state == "absent":
        return box / "out", "--out absent"
    if state == "parents":
        return box / "new" / "deeper" / "out", "--out with missing parents"
    out = box / "out"
    out.mkdir()
    if state == "notes":
        (out / "notes.txt").write_text("the user's own file\n")
    return out, f"--out an existing folder ({state})"


def write_table(path: Path, rng: np.random.Generator, rows: int = 30) -> pd.DataFrame:
    """A small mixed table (numbers, integers, categories, booleans, dates) as CSV."""
    frame = pd.DataFrame({
        "amount": rng.normal(50, 10, rows).round(2),
        "count": rng.integers(0, 100, rows),
        "colour": rng.choice(["red", "green", "blue"], rows),
        "flag": rng.choice([True, False], rows),
        "day": pd.date_range("2024-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
    })
    frame.to_csv(path, index=False)
    return frame


def make_case(index: int, rng: np.random.Generator, box: Path, assets: Assets) -> Case:
    """Recipe case ``index``: the mutations in turn (every one at the default count), their
    details from ``rng``; the command (validate, train or run) and output state too."""
    mutations = (*MUTATIONS, cli_options)
    mutation = mutations[index % len(mutations)]
    if mutation is cli_options:
        return cli_options(rng, box, assets, index)
    inputs = box / "inputs"
    inputs.mkdir()
    recipe = mutation(rng, box, assets)
    path = inputs / "recipe.yaml"
    path.write_bytes(recipe.data)
    if recipe.base == "table" or b"tabular" in recipe.data:
        write_table(inputs / "table.csv", rng)
    command = pick(rng, recipe.commands)
    if command == "validate":
        args, kind, out, state = ["recipe", "validate", str(path)], "validate", None, ""
    elif command == "train":
        out, state = output_path(rng, box, ("absent", "parents"))
        if rng.random() < 0.3:
            out = out.with_suffix(".zip")
        args, kind = ["train", str(path), "--bundle", str(out)], "train"
    else:
        out, state = output_path(rng, box)
        args, kind = ["run", str(path), "--out", str(out)], "run"
    names = recipe.names + (("recipe.yaml",) if recipe.names else ())
    what = recipe.what + (f" ({state})" if state else "")
    return Case(GROUP, index, mutation.__name__, what, [*args, *recipe.extra], recipe.expect, kind, out, names, box, recipe.max_problems)
