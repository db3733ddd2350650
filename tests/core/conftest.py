"""Fixtures for the core tests: a toy bundle trained once per session; a plugin folder made
discoverable (and its tests imported) without installing it."""

import contextlib
import importlib
import importlib.util
import sys
from pathlib import Path

import pytest

import domaingen as dg
from domaingen import registry

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="session")
def toy_bundle_dir(tmp_path_factory) -> Path:
    recipe = dg.load_recipe(FIXTURES / "toy.yaml")
    path = tmp_path_factory.mktemp("bundles") / "toy"
    dg.train(recipe, path)
    return path


@contextlib.contextmanager
def _discoverable(folder: Path, name: str, site: Path):
    """Plugin distribution ``folder`` (package ``domaingen_<name>``) importable and found
    through its entry point in this process until the block ends; yields its
    tests/test_plugin.py, imported."""
    info = site / f"domaingen_{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: domaingen-{name}\nVersion: 0.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[domaingen.plugins]\n{name} = domaingen_{name}.plugin:plugin\n", encoding="utf-8")
    added = [str(folder), str(site)]
    sys.path[:0] = added
    _forget(f"domaingen_{name}")
    try:
        spec = importlib.util.spec_from_file_location(f"_domaingen_{name}_tests", folder / "tests" / "test_plugin.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        for entry in added:
            sys.path.remove(entry)
        _forget(f"domaingen_{name}")


def _forget(package: str) -> None:
    """Drop ``package``'s modules and the registry's cache, so nothing of it outlives the block."""
    for module in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[module]
    importlib.invalidate_caches()
    registry.refresh()


@pytest.fixture(scope="session")
def plugin_tests():
    """``plugin_tests(folder, name, site)``: a context manager in which the plugin at
    ``folder`` is discoverable; it yields the plugin's own tests module."""
    return _discoverable
