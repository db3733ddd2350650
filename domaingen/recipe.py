"""Recipes: YAML loading with line numbers, validation that reports every problem at once,
command-line overrides (``--set a.b=c``) and the JSON Schema for editors.

A recipe is validated in two passes over the same document: the core sections with the
models below, then each plugin- or family-owned ``options`` section with the pydantic
model that plugin or family declares. All problems from both passes are reported together,
each with its dotted path and YAML line.

A recipe cannot ask for unbounded resources: the numeric fields have documented maxima
(``MAX_*`` below, shown in the JSON Schema), and YAML text is checked for size, nesting
depth and alias expansion (``MAX_RECIPE_BYTES``, ``MAX_YAML_DEPTH``, ``MAX_YAML_ALIASES``,
``MAX_YAML_NODES``) from its parser events, before any document is built.
"""

from __future__ import annotations

import copy
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from .errors import PluginError, RecipeError, UsageError
from .plugin import StrictModel

__all__ = [
    "Recipe",
    "RecipeModel",
    "SCHEMA_VERSION",
    "load_recipe",
    "recipe_from_dict",
    "parse_overrides",
    "recipe_json_schema",
    "generation_size_problems",
    "MAX_EPOCHS",
    "MAX_BATCH_SIZE",
    "MAX_RECORDS",
    "MAX_SHARD_SIZE",
    "MAX_SHARDS",
    "MAX_RECIPE_BYTES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_ALIASES",
    "MAX_YAML_NODES",
]

SCHEMA_VERSION = 1

# Upper bounds of the numeric recipe fields: a recipe (or --set, or the CLI) asking for
# more is refused at validation instead of training or allocating until killed.
MAX_EPOCHS = 100_000  # train.epochs, train.early_stopping.patience
MAX_BATCH_SIZE = 2**22  # train.batch_size, generate.batch_size (4,194,304 records per model call)
MAX_RECORDS = 10**10  # generate.n
MAX_SHARD_SIZE = 10**7  # generate.shard_size (a shard is held in memory while it is written)
MAX_SHARDS = 10**6  # ceil(generate.n / generate.shard_size): the manifest lists every shard

# Bounds of recipe YAML (files, bundles' recipe.yaml, --set values), checked on parser
# events before a document is built, so a bomb is refused without being expanded.
MAX_RECIPE_BYTES = 1 << 20  # 1 MiB of text; data belongs in data.source, not in the recipe
MAX_YAML_DEPTH = 64  # nested mappings/sequences, aliases expanded
MAX_YAML_ALIASES = 100  # *alias references
MAX_YAML_NODES = 100_000  # values in the document once aliases are expanded


class EarlyStoppingSection(StrictModel):
    """Stop training when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs (0: off)."""

    patience: int = Field(0, ge=0, le=MAX_EPOCHS, description=f"Epochs without improvement before stopping (0: off; at most {MAX_EPOCHS:,}).")
    min_delta: float = Field(0.0, ge=0, allow_inf_nan=False)
    monitor: str = "loss"


class DataSection(StrictModel):
    plugin: str = Field(description="Domain plugin name (see `domaingen plugins list`).")
    source: str = Field(description="A path (relative to the recipe's folder) or an embedded source such as sklearn:breast_cancer.")
    options: dict[str, Any] = Field(default_factory=dict, description="The plugin's data options.")


class ModelSection(StrictModel):
    family: str | None = Field(None, description="Model family; default: the plugin's default.")
    options: dict[str, Any] = Field(default_factory=dict, description="The family's options.")


class PrivacySection(StrictModel):
    """``train.privacy``: train an (epsilon, delta)-differentially private bundle (domaingen/privacy.py)."""

    epsilon: float = Field(gt=0, le=1000, allow_inf_nan=False, description="Target epsilon of the whole bundle (codec and training together; at most 1,000).")
    delta: float = Field(gt=0, lt=1, allow_inf_nan=False, description="Target delta; choose it well below 1 / (number of records), e.g. 1e-5.")
    max_grad_norm: float = Field(1.0, gt=0, le=1e6, allow_inf_nan=False, description="DP-SGD (vae, gan): each example's gradient is clipped to this L2 norm.")
    accountant: Literal["rdp", "pld"] = Field("rdp", description="dp-accounting's accountant: rdp (Renyi DP) or pld (privacy loss distributions).")


class TrainSection(StrictModel):
    epochs: int = Field(30, ge=1, le=MAX_EPOCHS, description=f"Passes over the training records (at most {MAX_EPOCHS:,}).")
    batch_size: int = Field(500, ge=1, le=MAX_BATCH_SIZE, description=f"Records per training step (at most {MAX_BATCH_SIZE:,}).")
    learning_rate: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Adam learning rate; default: the model family's own (1e-3; gan: 2e-4, as CTGAN)."
    )
    validation_split: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False)
    early_stopping: EarlyStoppingSection = Field(default_factory=EarlyStoppingSection)
    privacy: PrivacySection | None = Field(None, description="Differential privacy of the bundle (vae, gan, copula); off when absent.")

    @model_validator(mode="after")
    def _private_runs_blind(self) -> "TrainSection":
        """Under privacy nothing may look at real rows outside the budget: no validation, no early stopping."""
        if self.privacy is not None and (self.validation_split > 0 or self.early_stopping.patience > 0):
            raise ValueError(
                "train.privacy: validation and early stopping read the real rows outside the privacy budget; "
                "set train.validation_split: 0 and train.early_stopping.patience: 0 (private training runs its planned epochs)"
            )
        return self


class GenerateSection(StrictModel):
    n: int = Field(1000, ge=1, le=MAX_RECORDS, description=f"Number of records to generate (at most {MAX_RECORDS:,}).")
    batch_size: int = Field(10000, ge=1, le=MAX_BATCH_SIZE, description=f"Records per model call (at most {MAX_BATCH_SIZE:,}).")
    shard_size: int = Field(
        100000, ge=1, le=MAX_SHARD_SIZE, description=f"Records per output file (at most {MAX_SHARD_SIZE:,}, and at most {MAX_SHARDS:,} shards in all)."
    )
    format: str | None = Field(None, description="Output format; default: the plugin's first.")
    options: dict[str, Any] = Field(default_factory=dict, description="The plugin's generation options.")

    @model_validator(mode="after")
    def _bounded_shards(self) -> "GenerateSection":
        """n and shard_size are each bounded; so is the number of shards they make together."""
        problems = generation_size_problems(self.n, self.shard_size)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EvaluateSection(StrictModel):
    enabled: bool = True
    holdout: float = Field(0.2, ge=0, le=0.9, allow_inf_nan=False, description="Fraction of records kept out of training for privacy and utility metrics.")
    options: dict[str, Any] = Field(default_factory=dict, description="The plugin's evaluation options.")


class RecipeModel(StrictModel):
    schema_version: Literal[1] = Field(description="Recipe format version; this release reads 1.")
    name: str | None = None
    seed: int = Field(0, ge=0, le=2**31 - 1)
    data: DataSection
    model: ModelSection = Field(default_factory=ModelSection)
    train: TrainSection = Field(default_factory=TrainSection)
    generate: GenerateSection = Field(default_factory=GenerateSection)
    evaluate: EvaluateSection = Field(default_factory=EvaluateSection)


def generation_size_problems(n: int, shard_size: int | None = None, batch_size: int | None = None) -> list[str]:
    """What makes a generation of ``n`` records too large to attempt (empty: none).

    The same bounds as the recipe's ``generate`` fields, for values that come from the
    command line or the Python API; ``shard_size`` also bounds the number of shards.
    """
    problems = []
    if n > MAX_RECORDS:
        problems.append(f"n={n:,} records is over the limit of {MAX_RECORDS:,} (recipe.MAX_RECORDS); generate in several runs")
    if batch_size is not None and batch_size > MAX_BATCH_SIZE:
        problems.append(f"batch size {batch_size:,} is over the limit of {MAX_BATCH_SIZE:,} (recipe.MAX_BATCH_SIZE); use a smaller one")
    if shard_size is not None and shard_size > MAX_SHARD_SIZE:
        problems.append(f"shard size {shard_size:,} is over the limit of {MAX_SHARD_SIZE:,} (recipe.MAX_SHARD_SIZE); use a smaller one")
    elif shard_size is not None and shard_size >= 1 and -(-n // shard_size) > MAX_SHARDS:
        problems.append(
            f"n={n:,} in shards of {shard_size:,} makes {-(-n // shard_size):,} shards, over the limit of {MAX_SHARDS:,} "
            f"(recipe.MAX_SHARDS); use a shard size of at least {-(-n // MAX_SHARDS):,}"
        )
    return problems


@dataclass
class Recipe:
    """A validated recipe, with the plugin- and family-owned sections parsed."""

    model: RecipeModel
    source: str  # file path or "<dict>", for messages
    base_dir: Path  # relative paths resolve against this folder
    document: dict[str, Any]  # the resolved recipe as plain data (overrides applied)
    data_options: BaseModel
    family_name: str
    family_options: BaseModel
    generate_options: BaseModel
    evaluate_options: BaseModel
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.model.name or (Path(self.source).stem if self.source != "<dict>" else "recipe")

    @property
    def seed(self) -> int:
        return self.model.seed

    def with_seed(self, seed: int) -> "Recipe":
        """A copy of this recipe with another seed."""
        return self.with_document(_set_path(copy.deepcopy(self.document), ("seed",), seed))

    def with_document(self, document: dict[str, Any]) -> "Recipe":
        """The recipe ``document`` describes, validated, with this one's folder and source."""
        return recipe_from_dict(document, base_dir=self.base_dir, source=self.source)

    def to_yaml(self) -> str:
        """The resolved recipe as YAML text (what a bundle stores)."""
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        buf = io.StringIO()
        yaml.dump(_plain(self.document), buf)
        return buf.getvalue()


# --------------------------------------------------------------------------------------
# loading


def load_recipe(path: str | Path, overrides: dict[str, Any] | list[str] | None = None) -> Recipe:
    """Read, override and validate a recipe file; raise ``RecipeError`` listing every problem."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"recipe {path}: file not found; check the path (recipes/ holds ready ones)")
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:  # refused before it is read into memory
            raise RecipeError(str(path), [_too_large(path.stat().st_size)])
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"recipe {path}: cannot be read ({exc}); save it as UTF-8 text") from None
    document = _parse_yaml(text, str(path))
    return _validate(document, overrides, base_dir=path.resolve().parent, source=str(path))


def recipe_from_dict(
    document: dict[str, Any], overrides: dict[str, Any] | list[str] | None = None, *, base_dir: str | Path = ".", source: str = "<dict>"
) -> Recipe:
    """Validate a recipe given as a Python dict (the same rules as a file)."""
    _check_document_shape(document, source)  # before deepcopy, which recurses
    return _validate(copy.deepcopy(document), overrides, base_dir=Path(base_dir).resolve(), source=source)


def _parse_yaml(text: str, source: str) -> Any:
    """Recipe YAML text -> its document (ruamel round-trip: keeps line numbers), refusing
    text beyond the size, depth and alias bounds before building anything."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="rt", pure=True)
    try:
        _check_yaml_bounds(text, source)
        document = yaml.load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(source, [f"invalid YAML{where}: {problem}; fix the syntax there"]) from None
    if not isinstance(document, dict):
        raise RecipeError(source, ["the recipe must be a YAML mapping (key: value lines) at the top level"])
    return document


def _too_large(size: int) -> str:
    """The problem message for YAML text of ``size`` bytes over ``MAX_RECIPE_BYTES``."""
    return (
        f"the text is {size:,} bytes, over the limit of {MAX_RECIPE_BYTES:,} (recipe.MAX_RECIPE_BYTES); "
        "a recipe names its data (data.source) instead of holding it: move the data to a file"
    )


def _check_yaml_bounds(text: str, source: str) -> None:
    """Refuse YAML over ``MAX_RECIPE_BYTES``, nested deeper than ``MAX_YAML_DEPTH``, with
    more than ``MAX_YAML_ALIASES`` alias references or expanding to more than
    ``MAX_YAML_NODES`` values (a "billion laughs" bomb). Reads parser events only, which
    never expand aliases, and stops at the first bound crossed."""
    from ruamel.yaml import YAML
    from ruamel.yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, ScalarEvent

    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_RECIPE_BYTES:
        raise RecipeError(source, [_too_large(size)])
    open_: list[list[Any]] = []  # per open collection: [anchor, nodes counted at its start, deepest level inside]
    anchors: dict[str, tuple[int, int]] = {}  # anchor -> (values it expands to, its depth)
    nodes = aliases = 0

    def reach(level: int, line: int, what: str) -> None:
        if level > MAX_YAML_DEPTH:
            raise RecipeError(
                source,
                [f"line {line}: {what} nests deeper than {MAX_YAML_DEPTH} levels (recipe.MAX_YAML_DEPTH); a recipe needs a few levels: flatten the structure"],
            )
        if open_:
            open_[-1][2] = max(open_[-1][2], level)

    for event in YAML(typ="rt", pure=True).parse(text):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, AliasEvent):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise RecipeError(
                    source,
                    [f"line {line}: more than {MAX_YAML_ALIASES} alias references (*{event.anchor}) (recipe.MAX_YAML_ALIASES); write the values out instead of aliasing them"],
                )
            count, depth = anchors.get(event.anchor, (1, 0))
            reach(len(open_) + depth, line, f"alias *{event.anchor}")
            nodes += count
        elif isinstance(event, ScalarEvent):
            nodes += 1
            if event.anchor:
                anchors[event.anchor] = (1, 0)
        elif isinstance(event, CollectionStartEvent):
            nodes += 1
            reach(len(open_) + 1, line, "this mapping or sequence")
            open_.append([event.anchor, nodes - 1, len(open_) + 1])
        elif isinstance(event, CollectionEndEvent):
            anchor, start, deepest = open_.pop()
            level = len(open_) + 1
            if anchor:
                anchors[anchor] = (nodes - start, deepest - level + 1)
            if open_:
                open_[-1][2] = max(open_[-1][2], deepest)
        if nodes > MAX_YAML_NODES:
            raise RecipeError(
                source,
                [
                    f"line {line}: the document expands to more than {MAX_YAML_NODES:,} values once its aliases are expanded "
                    f"(recipe.MAX_YAML_NODES; an alias bomb?); refused before expanding: use fewer and smaller aliases"
                ],
            )


def _check_document_shape(document: Any, source: str) -> None:
    """Refuse a Python document nested deeper than ``MAX_YAML_DEPTH`` or holding more than
    ``MAX_YAML_NODES`` values (shared references counted each time, as validation walks
    them; a cycle ends there too). Iterative, so depth itself cannot overflow the stack."""
    stack: list[tuple[Any, int]] = [(document, 0)]
    nodes = 0
    while stack:
        value, level = stack.pop()
        nodes += 1
        if nodes > MAX_YAML_NODES:
            raise RecipeError(source, [f"the recipe holds more than {MAX_YAML_NODES:,} values (recipe.MAX_YAML_NODES); a recipe names its data instead of holding it"])
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, (list, tuple)):
            children = list(value)
        else:
            continue
        if level + 1 > MAX_YAML_DEPTH:
            raise RecipeError(source, [f"the recipe nests deeper than {MAX_YAML_DEPTH} levels (recipe.MAX_YAML_DEPTH); flatten the structure"])
        stack.extend((child, level + 1) for child in children)


def parse_overrides(items: list[str] | dict[str, Any] | None, flag: str = "--set") -> dict[str, Any]:
    """``["train.epochs=5", "data.options.transform=quantile"]`` -> ``{"train.epochs": 5, ...}``.

    Values are parsed as YAML scalars/flow collections, so ``5`` is a number, ``true`` a
    boolean and ``[a, b]`` a list; each value is held to the same size, depth and alias
    bounds as a recipe file. ``flag`` names the command-line option in messages.
    """
    if items is None:
        return {}
    if isinstance(items, dict):
        return dict(items)
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    yaml = YAML(typ="safe", pure=True)
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            example = "train.epochs=5" if flag == "--set" else "temperature=0.8"
            raise UsageError(f"{flag} {item!r}: expected KEY=VALUE with a dotted key, e.g. {flag} {example}")
        try:
            _check_yaml_bounds(raw, f"{flag} {key}")
            out[key] = yaml.load(raw) if raw.strip() else ""
        except YAMLError:
            out[key] = raw
    return out


def _set_path(document: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = document
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return document


# --------------------------------------------------------------------------------------
# validation


def _validate(document: dict[str, Any], overrides: Any, *, base_dir: Path, source: str) -> Recipe:
    from . import auto, registry

    overrides = parse_overrides(overrides)
    overridden: set[tuple[str, ...]] = set()
    for key, value in overrides.items():
        path = tuple(key.split("."))
        _set_path(document, path, value)
        overridden.add(path)

    _check_document_shape(document, source)  # overrides given as a dict are not YAML-checked
    problems: list[str] = []
    model = _check(RecipeModel, document, (), document, overridden, problems)

    def section(name: str) -> dict[str, Any]:
        value = document.get(name)
        return value if isinstance(value, dict) else {}

    # plugin- and family-owned sections, validated even when core sections had problems
    plugin = family = None
    plugin_name = section("data").get("plugin")
    if isinstance(plugin_name, str):
        try:
            plugin = registry.get_plugin(plugin_name)
        except PluginError as exc:
            problems.append(f"data.plugin{_line(document, ('data', 'plugin'), overridden)}: {exc}")
    family_name = section("model").get("family") or (plugin.default_family if plugin else None)
    if family_name == auto.AUTO:  # model.options are auto's; the candidates are checked below
        family = auto.FAMILY
    elif isinstance(family_name, str):
        try:
            family = registry.get_family(family_name)
        except PluginError as exc:
            problems.append(f"model.family{_line(document, ('model', 'family'), overridden)}: {exc}")

    def options(owner: Any, attr: str, sec: str) -> BaseModel | None:
        if owner is None:
            return None
        schema = getattr(owner, attr)
        opts = section(sec).get("options", {})
        if opts is not None and not isinstance(opts, dict):
            return None  # the core schema has already reported the section as not a mapping
        return _check(schema, opts if opts is not None else {}, (sec, "options"), document, overridden, problems)

    data_options = options(plugin, "DataOptions", "data")
    generate_options = options(plugin, "GenerateOptions", "generate")
    evaluate_options = options(plugin, "EvaluateOptions", "evaluate")
    family_options = options(family, "Options", "model")
    if family is auto.FAMILY:
        if plugin is not None and data_options is not None and family_options is not None:
            for loc, problem in auto.candidate_problems(plugin, data_options, family_options, section("train").get("privacy")):
                problems.append(f"{'.'.join(loc)}{_line(document, loc, overridden)}: {problem}")
    elif plugin is not None and family is not None and data_options is not None:
        try:  # families are matched by the layouts the plugin's codec produces for these options
            registry.matching_layout(plugin, data_options, family)
        except UsageError as exc:
            problems.append(f"model.family{_line(document, ('model', 'family'), overridden)}: {exc}")

    fmt = section("generate").get("format")
    if plugin is not None and isinstance(fmt, str) and plugin.formats and fmt not in plugin.formats:
        problems.append(
            f"generate.format{_line(document, ('generate', 'format'), overridden)}: {fmt!r} is not an output "
            f"format of the {plugin.name} plugin; use one of {', '.join(plugin.formats)}"
        )

    if problems:
        raise RecipeError(source, sorted(problems, key=_line_of))
    assert model is not None and plugin is not None and family is not None
    return Recipe(
        model=model,
        source=source,
        base_dir=base_dir,
        document=_plain(document),
        data_options=data_options,
        family_name=family_name,
        family_options=family_options,
        generate_options=generate_options,
        evaluate_options=evaluate_options,
        overrides=overrides,
    )


def _check(schema: type[BaseModel], value: Any, prefix: tuple, document: Any, overridden: set, problems: list[str]):
    """Validate ``value`` against ``schema``; append one message per error to ``problems``."""
    try:
        return schema.model_validate(_plain(value))
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(_describe(err, schema, prefix, document, overridden))
        return None


def _describe(err: dict[str, Any], schema: type[BaseModel], prefix: tuple, document: Any, overridden: set) -> str:
    loc = prefix + tuple(str(p) if not isinstance(p, int) else p for p in err["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(schema, err["loc"][:-1])
        guess = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
        hint = f"did you mean {guess[0]!r}?" if guess else f"valid keys here: {', '.join(valid) or '(none)'}"
        return f"{dotted}{_line(document, loc, overridden, key=True)}: unknown key; {hint}"
    if kind == "missing":
        parent = loc[:-1]
        where = _mapping_line(document, parent)
        what = "section" if _is_section(schema, err["loc"]) else "value"
        return f"{dotted}{where}: required {what} is missing; add it" + (" under " + ".".join(map(str, parent)) if parent else " at the top level")
    if kind == "value_error":  # a model validator's message says it all
        return f"{dotted}{_line(document, loc, overridden)}: {err['ctx']['error']}"
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict) else "a mapping"
    hint = ""
    if kind in ("less_than_equal", "less_than"):
        hint = "; that is the documented maximum (docs/recipes.md): lower it"
    return f"{dotted}{_line(document, loc, overridden)}: {err['msg']} (got {shown}){hint}"


def _fields_at(schema: type[BaseModel], loc: tuple) -> list[str]:
    model: Any = schema
    for part in loc:
        field_info = getattr(model, "model_fields", {}).get(part)
        if field_info is None:
            return []
        model = field_info.annotation
    return list(getattr(model, "model_fields", {}).keys())


def _is_section(schema: type[BaseModel], loc: tuple) -> bool:
    model: Any = schema
    for part in loc:
        field_info = getattr(model, "model_fields", {}).get(part)
        if field_info is None:
            return False
        model = field_info.annotation
    return isinstance(model, type) and issubclass(model, BaseModel)


def _line(document: Any, loc: tuple, overridden: set, key: bool = False) -> str:
    """`` (line N)`` for the value (or key) at ``loc`` in the YAML document, if known."""
    if tuple(str(p) for p in loc) in overridden:
        return " (from --set)"
    node, line = document, None
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    pos = lc.key(part) if key and part == loc[-1] else lc.value(part)
                    line = pos[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, AttributeError, TypeError):
            break
    return f" (line {line})" if line is not None else ""


def _line_of(problem: str) -> int:
    """Sort key: the line number a problem names (problems without one come first)."""
    match = re.search(r"\(line (\d+)\)", problem)
    return int(match.group(1)) if match else 0


def _mapping_line(document: Any, loc: tuple) -> str:
    """`` (line N)`` for the first line of the mapping at ``loc`` (where a missing key belongs)."""
    node = document
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return ""
        node = node[part]
    lc = getattr(node, "lc", None)
    return f" (line {lc.line + 1})" if lc is not None and lc.line is not None else ""


def _plain(value: Any) -> Any:
    """ruamel's commented containers -> plain dicts and lists (for pydantic and dumping)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    for kind in (bool, int, float, str):  # ruamel's ScalarFloat, ScalarInt... subclass these
        if isinstance(value, kind):
            return kind(value)
    return value


# --------------------------------------------------------------------------------------
# JSON Schema


def recipe_json_schema() -> dict[str, Any]:
    """The recipe's JSON Schema; each installed plugin's and family's options are attached
    with ``if``/``then`` on ``data.plugin`` / ``model.family``."""
    from . import registry

    schema = RecipeModel.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "domaingen recipe"
    rules: list[dict[str, Any]] = []
    for name, entry in registry.plugins().items():
        if entry.obj is None:
            continue
        plugin = entry.obj
        then: dict[str, Any] = {"properties": {}}
        for sec, attr in (("data", "DataOptions"), ("generate", "GenerateOptions"), ("evaluate", "EvaluateOptions")):
            then["properties"][sec] = {"properties": {"options": getattr(plugin, attr).model_json_schema()}}
        rules.append({"if": _const_at(("data", "plugin"), name), "then": then})
    for name, entry in registry.families().items():
        if entry.obj is None:
            continue
        rules.append(
            {
                "if": _const_at(("model", "family"), name),
                "then": {"properties": {"model": {"properties": {"options": entry.obj.Options.model_json_schema()}}}},
            }
        )
    if rules:
        schema["allOf"] = rules
    return schema


def _const_at(path: tuple[str, str], value: str) -> dict[str, Any]:
    outer, inner = path
    return {"properties": {outer: {"properties": {inner: {"const": value}}, "required": [inner]}}, "required": [outer]}
