"""Rendering the scaffold's templates into a new plugin distribution.

``plugin_files(name, layout)`` gives the files (relative path -> text) without touching
the disk; ``new_plugin`` checks the name and the folder, then writes them into a new folder
all at once (``files.atomic_dir``): a failure leaves no half-made plugin behind.

Template files end in ``.tmpl``; ``{{ name }}``-style placeholders are filled from
``variables(name, layout)`` and an unknown placeholder is an error (a test renders every
layout). In paths, the folder ``package`` becomes the import package ``domaingen_<name>``
and a leading ``dot-`` becomes ``.`` (``dot-gitignore.tmpl`` -> ``.gitignore``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from .._version import __version__
from ..errors import UsageError
from ..spec import LAYOUTS

__all__ = ["LAYOUTS", "NAME_RULE", "variables", "plugin_files", "validate_name", "new_plugin"]

NAME_RULE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
MAX_NAME_LENGTH = 40
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
TEMPLATE_SUFFIX = ".tmpl"
PACKAGE_FOLDER = "package"  # the template folder that becomes domaingen_<name>/
DOT_PREFIX = "dot-"  # a file name that starts with a dot once rendered


def variables(name: str, layout: str) -> dict[str, str]:
    """The placeholder values for plugin ``name`` on ``layout``."""
    return {
        "name": name,
        "package": f"domaingen_{name}",
        "distribution": f"domaingen-{name.replace('_', '-')}",
        "class_prefix": "".join(part.capitalize() for part in name.split("_")),
        "layout": layout,
        "domaingen_version": __version__,
    }


def _templates(layout: str) -> list[tuple[PurePosixPath, Any]]:
    """``(path inside the layout, template)`` for the common templates, then the layout's."""
    root = resources.files("domaingen.scaffold") / "templates"
    found: dict[PurePosixPath, Any] = {}
    for folder in ("common", layout):  # a layout's file replaces a common one of the same path
        found.update(_walk(root / folder, PurePosixPath()))
    return sorted(found.items())


def _walk(folder: Any, prefix: PurePosixPath):
    """Every ``.tmpl`` file below ``folder``, with its path relative to it."""
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, prefix / entry.name)
        elif entry.name.endswith(TEMPLATE_SUFFIX):
            yield prefix / entry.name, entry


def _output_path(path: PurePosixPath, values: dict[str, str]) -> str:
    """Where template ``path`` lands in the plugin folder."""
    parts = [values["package"] if part == PACKAGE_FOLDER else part for part in path.parts]
    last = parts[-1][: -len(TEMPLATE_SUFFIX)]
    parts[-1] = "." + last[len(DOT_PREFIX):] if last.startswith(DOT_PREFIX) else last
    return "/".join(parts)


def _fill(text: str, values: dict[str, str], source: str) -> str:
    """``text`` with its placeholders replaced; an unknown one is a template bug."""

    def value(match: re.Match) -> str:
        key = match.group(1)
        if key not in values:
            raise ValueError(f"scaffold template {source}: unknown placeholder {{{{ {key} }}}}; known: {', '.join(sorted(values))}")
        return values[key]

    return PLACEHOLDER.sub(value, text)


def plugin_files(name: str, layout: str) -> dict[str, str]:
    """The rendered plugin: relative path (POSIX) -> file text."""
    if layout not in LAYOUTS:
        raise UsageError(f"--layout {layout!r}: unknown layout; use one of {', '.join(LAYOUTS)}")
    values = variables(name, layout)
    return {
        _output_path(path, values): _fill(template.read_text(encoding="utf-8"), values, f"{layout}/{path}")
        for path, template in _templates(layout)
    }


def validate_name(name: str) -> str:
    """``name`` if it can name a plugin (entry point ``name``, package ``domaingen_<name>``,
    distribution ``domaingen-<name>``) that is not installed yet; ``UsageError`` saying why not."""
    if len(name) > MAX_NAME_LENGTH or not NAME_RULE.fullmatch(name):
        suggestion = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", name.lower())).strip("_")
        hint = f" (e.g. {suggestion!r})" if suggestion and NAME_RULE.fullmatch(suggestion) and suggestion != name else ""
        raise UsageError(
            f"plugin name {name!r}: use lowercase letters, digits and single underscores, starting with a letter, "
            f"at most {MAX_NAME_LENGTH} characters{hint}; it becomes the entry point, the recipes' data.plugin "
            f"and the package domaingen_<name>"
        )
    for entry in importlib.metadata.entry_points(group="domaingen.plugins"):
        if entry.name == name:
            owner = entry.dist.metadata["Name"] if entry.dist is not None else "an installed distribution"
            raise UsageError(f"plugin name {name!r}: a plugin of that name is already installed (from {owner}); choose another name")
    package = variables(name, "table")["package"]
    if importlib.util.find_spec(package) is not None:
        raise UsageError(f"plugin name {name!r}: a Python package {package} can already be imported here; choose another name")
    return name


def new_plugin(name: str, layout: str = "table", out: str | Path | None = None) -> Path:
    """Write a new plugin distribution for ``name`` on ``layout`` into the folder ``out``
    (default ``./domaingen-<name>``), which must not exist or be empty; returns it."""
    from ..files import atomic_dir
    from ..pipeline import removed_on_failure

    validate_name(name)
    files = plugin_files(name, layout)
    target = Path(out) if out is not None else Path(variables(name, layout)["distribution"])
    if target.exists() or target.is_symlink():
        if not target.is_dir() or target.is_symlink():
            raise UsageError(f"{target}: it exists and is not a folder; nothing is overwritten: give a new folder with --out")
        if any(target.iterdir()):
            raise UsageError(f"{target}: the folder exists and is not empty; nothing is overwritten: give a new folder with --out")
    with removed_on_failure(target), atomic_dir(target) as tmp:
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", newline="\n")
    return target
