"""The shape of the code, checked: the import graph of ``domaingen`` has no circle (lazy
imports inside functions count too), nothing outside ``domaingen/models/backends/`` tests
the Keras backend's name, and nothing reaches into Keras' private modules or an
optimiser's private fields."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import domaingen

PACKAGE = Path(domaingen.__file__).parent
PLUGINS = PACKAGE.parent / "plugins"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The ``domaingen`` modules ``name`` imports, at any depth of its code. ``from . import
    x`` names the submodule ``x``, not the package (which is always initialised first)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = {f"{target}.{alias.name}" for alias in node.names} & modules.keys()
            found |= subs or ({target} & modules.keys())
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names} & modules.keys()
    return found - {name}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_circle():
    modules = _modules()
    edges = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert "domaingen.generation" not in edges["domaingen.bundle"]
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _sources():
    for root in (PACKAGE, PLUGINS):
        for path in root.rglob("*.py"):
            yield path, path.read_text()


BACKEND_NAME_TEST = re.compile(r"""backend\(\)\s*(==|!=|in\b)|["'](tensorflow|jax|torch)["']\s*(==|!=)|(==|!=)\s*["'](tensorflow|jax|torch)["']""")


def test_only_the_backend_package_tests_the_backends_name():
    backends = PACKAGE / "models" / "backends"
    found = [f"{path}:{n}" for path, text in _sources() if backends not in path.parents
             for n, line in enumerate(text.splitlines(), 1) if BACKEND_NAME_TEST.search(line)]
    assert found == []
    assert BACKEND_NAME_TEST.search('if keras.backend.backend() == "jax":')  # the pattern catches a branch


def test_no_private_keras_or_optimizer_internals():
    private = re.compile(r"keras\.src\b|optimizer\._[a-z]|tf\.__internal__|\._momentums|\._velocities")
    found = [f"{path}:{n}" for path, text in _sources() for n, line in enumerate(text.splitlines(), 1) if private.search(line)]
    assert found == []
