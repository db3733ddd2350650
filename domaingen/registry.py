"""Discovery of domain plugins and model families through Python entry points.

Group ``domaingen.plugins`` names ``DomainPlugin`` instances (or classes), group
``domaingen.models`` names ``ModelFamily`` instances. The shipped ones are declared in
setup.py exactly as a third-party distribution declares its own. An entry point that
fails to load is kept with its error (``domaingen plugins list`` shows it) and skipped.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import PluginError, UsageError

__all__ = [
    "Entry",
    "PLUGIN_GROUP",
    "MODEL_GROUP",
    "plugins",
    "families",
    "get_plugin",
    "get_family",
    "refresh",
    "fitting_families",
    "matching_layout",
]

PLUGIN_GROUP = "domaingen.plugins"
MODEL_GROUP = "domaingen.models"


@dataclass(frozen=True)
class Entry:
    """One discovered entry point and the outcome of loading it."""

    name: str
    group: str
    target: str  # "module:attr"
    distribution: str
    distribution_version: str
    obj: Any  # the loaded plugin / family, or None when loading failed
    error: str | None

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"

    @property
    def version(self) -> str:
        return str(getattr(self.obj, "version", "") or self.distribution_version)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": getattr(self.obj, "description", "") if self.obj is not None else "",
            "distribution": self.distribution,
            "target": self.target,
            "status": self.status,
            "error": self.error,
        }


def _load(ep: EntryPoint, group: str, expected: type) -> Entry:
    dist = getattr(ep, "dist", None)
    dist_name = dist.metadata["Name"] if dist is not None else "?"
    dist_version = dist.version if dist is not None else "?"
    try:
        if group == MODEL_GROUP:
            from ._quiet import keras_module

            keras_module()  # families import keras; import it (and its backend) quietly first
        obj = ep.load()
        if isinstance(obj, type):
            obj = obj()
        if not isinstance(obj, expected):
            raise TypeError(f"{ep.value} is a {type(obj).__name__}, not a {expected.__name__}")
        error = None
    except Exception as exc:  # a broken plugin must never take the CLI down
        obj, error = None, f"{type(exc).__name__}: {exc}"
    return Entry(ep.name, group, ep.value, dist_name, dist_version, obj, error)


@functools.lru_cache(maxsize=None)
def _discover(group: str) -> dict[str, Entry]:
    from .models.base import ModelFamily
    from .plugin import DomainPlugin

    expected = DomainPlugin if group == PLUGIN_GROUP else ModelFamily
    found: dict[str, Entry] = {}
    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        if ep.name not in found:  # first distribution wins; duplicates are ignored
            found[ep.name] = _load(ep, group, expected)
    return found


def plugins() -> dict[str, Entry]:
    """Every entry point of group ``domaingen.plugins``, loaded or with its error."""
    return _discover(PLUGIN_GROUP)


def families() -> dict[str, Entry]:
    """Every entry point of group ``domaingen.models``, loaded or with its error."""
    return _discover(MODEL_GROUP)


def refresh() -> None:
    """Forget what was discovered (after installing a distribution at run time)."""
    _discover.cache_clear()


def _get(kind: str, entries: dict[str, Entry], name: str) -> Any:
    entry = entries.get(name)
    if entry is None:
        names = sorted(entries)
        guess = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {guess[0]!r}? " if guess else ""
        raise PluginError(f"unknown {kind} {name!r}; {hint}installed: {', '.join(names) or '(none)'}")
    if entry.obj is None:
        raise PluginError(f"{kind} {name!r} (from {entry.distribution}) failed to load: {entry.error}")
    return entry.obj


def get_plugin(name: str):
    """The loaded plugin named ``name``; ``PluginError`` if unknown or broken."""
    return _get("plugin", plugins(), name)


def get_family(name: str):
    """The loaded model family named ``name``; ``PluginError`` if unknown or broken."""
    return _get("model family", families(), name)


def fitting_families(layouts: tuple[str, ...]) -> list[str]:
    """Names of the loaded families that accept one of ``layouts``."""
    return sorted(name for name, e in families().items() if e.obj is not None and set(e.obj.layouts) & set(layouts))


def matching_layout(plugin: Any, data_options: Any, family: Any) -> str:
    """The layout a plugin's codec produces for ``family``: the first of the plugin's
    layouts for these data options that the family accepts. Families are matched by
    layout, never by name, so a third-party family fits any plugin whose data it takes."""
    offered = tuple(plugin.layouts_for(data_options))
    for layout in offered:
        if layout in family.layouts:
            return layout
    raise UsageError(
        f"the {plugin.name} plugin does not support the {family.name!r} family here: the family takes "
        f"{' or '.join(family.layouts) or 'no'} data and the plugin produces {' or '.join(offered) or 'none'} "
        f"with these data options; use one of the families {', '.join(fitting_families(offered)) or '(none installed)'}"
    )
