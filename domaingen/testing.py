"""The plugin conformance suite: checks any domain plugin runs on itself.

A plugin's tests describe the plugin once, as a ``Conformance`` (the plugin, a small
recipe that runs in seconds, how close a codec round trip must come, and inputs that must
be refused), and get one pytest test per contract::

    from domaingen.testing import Conformance, conformance_tests

    test_conformance = conformance_tests(lambda: Conformance(plugin, recipe={...}))

The contracts (``CHECKS``, each a method of ``Conformance`` taking a scratch folder):

- ``options_strict``: every options model rejects unknown keys, and so does the recipe;
- ``codec_round_trip``: encoding the recipe's records gives arrays of the codec's
  DataSpec (finite, labels beside them), and decoding gives a record per sample, within
  the loss the plugin states (``round_trip``);
- ``codec_state``: ``get_config`` is JSON, ``get_arrays`` numeric (saved and read back as
  a bundle does, without pickle), and ``from_config`` rebuilds a codec that encodes alike;
- ``write_read``: ``write`` leaves exactly the files it returns, nothing when it fails
  part-way (no half-written file), and ``read`` reads every record back, in every format;
- ``metrics_documented``: every metric is named once, with a direction and a formula;
- ``reproducible``: the recipe run twice with one seed writes identical files, and the
  report holds every documented metric;
- ``bad_inputs``: a missing source and the plugin's own bad inputs raise
  ``DomaingenError`` subclasses (a message and exit code 2, never a traceback).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from pydantic import BaseModel, ValidationError

from .errors import DomaingenError, RecipeError
from .plugin import DomainPlugin, as_encoded

__all__ = ["CHECKS", "Conformance", "conformance_tests", "DIRECTIONS"]

DIRECTIONS = ("higher-is-better", "lower-is-better", "closer-to-real", "informative")
CHECKS = (
    "options_strict",
    "codec_round_trip",
    "codec_state",
    "write_read",
    "metrics_documented",
    "reproducible",
    "bad_inputs",
)
_UNKNOWN_KEY = "no_such_option_for_conformance"


@dataclass
class Conformance:
    """One plugin under test.

    ``recipe``: a recipe document for this plugin that trains and generates in seconds
    (relative paths resolve against ``base_dir``). ``round_trip(original, decoded)``
    asserts that decoded records are within the codec's documented loss (default: only
    their number is checked). ``refused_inputs(folder)`` returns ``(source, data options)``
    pairs the plugin must refuse with a ``DomaingenError``; it may write files into
    ``folder``. ``unreported``: documented metrics a report of this recipe need not hold
    (a metric that needs an option the recipe does not set).
    """

    plugin: DomainPlugin
    recipe: dict[str, Any]
    base_dir: Path = Path(".")
    round_trip: Callable[[Any, Any], None] | None = None
    refused_inputs: Callable[[Path], Sequence[tuple[str, dict[str, Any]]]] | None = None
    unreported: Sequence[str] = ()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    # --- shared steps -------------------------------------------------------------------
    def load_recipe(self, document: dict[str, Any] | None = None):
        from .recipe import recipe_from_dict

        return recipe_from_dict(copy.deepcopy(document or self.recipe), base_dir=Path(self.base_dir))

    def records(self):
        """The recipe's training records (loaded once)."""
        if "records" not in self._cache:
            from .pipeline import load_data

            self._cache["records"] = load_data(self.load_recipe())[0]
        return self._cache["records"]

    def fitted_codecs(self) -> list[tuple[str, Any]]:
        """A codec fitted on the records for each layout the recipe's data options allow."""
        recipe = self.load_recipe()
        layouts = self.plugin.layouts_for(recipe.data_options)
        assert layouts, f"{self.plugin.name}: layouts_for() names no layout"
        return [(layout, self.plugin.make_codec(recipe.data_options, layout).fit(self.records())) for layout in layouts]

    # --- the checks -------------------------------------------------------------------
    def options_strict(self, folder: Path) -> None:
        """Options models and the recipe reject an unknown key, naming it."""
        for attr in ("DataOptions", "GenerateOptions", "EvaluateOptions"):
            model = getattr(self.plugin, attr)
            assert issubclass(model, BaseModel), f"{self.plugin.name}.{attr} is not a pydantic model"
            try:
                model.model_validate({_UNKNOWN_KEY: 1})
            except ValidationError as exc:
                assert _UNKNOWN_KEY in str(exc), f"{attr}'s error does not name the unknown key: {exc}"
            else:
                raise AssertionError(f"{self.plugin.name}.{attr} accepts an unknown key; subclass domaingen.plugin.StrictModel")
        for section in ("data", "generate", "evaluate"):
            document = copy.deepcopy(self.recipe)
            document.setdefault(section, {}).setdefault("options", {})[_UNKNOWN_KEY] = 1
            try:
                self.load_recipe(document)
            except RecipeError as exc:
                assert _UNKNOWN_KEY in str(exc), f"the recipe error does not name {section}.options.{_UNKNOWN_KEY}: {exc}"
            else:
                raise AssertionError(f"a recipe with {section}.options.{_UNKNOWN_KEY} was accepted")

    def codec_round_trip(self, folder: Path) -> None:
        """encode → arrays of the spec; decode → a record per sample, within the stated loss."""
        raw = self.records()
        for layout, codec in self.fitted_codecs():
            spec = codec.spec
            assert spec.layout == layout, f"codec for {layout!r} reports layout {spec.layout!r}"
            encoded = as_encoded(codec.encode(raw))
            x = np.asarray(encoded.x)
            assert x.ndim == 1 + len(spec.shape) and x.shape[1:] == tuple(spec.shape) and len(x), (
                f"{layout}: encoded shape {x.shape}, spec {tuple(spec.shape)}"
            )
            assert np.isfinite(x.astype("float64")).all(), f"{layout}: encoded arrays hold NaN or infinity"
            if spec.labels:
                assert encoded.labels is not None and encoded.labels.shape == (len(x), len(spec.labels)), (
                    f"{layout}: the spec has labels but encode gave no label codes of shape (n, {len(spec.labels)})"
                )
            decoded = self._decode(codec, x, encoded.labels)
            assert self.plugin.count(decoded) == len(x), f"{layout}: decode gave {self.plugin.count(decoded)} records for {len(x)}"
            if self.round_trip is not None:
                self.round_trip(raw, decoded)

    def codec_state(self, folder: Path) -> None:
        """Config is JSON, arrays numeric and pickle-free; from_config rebuilds an equal codec."""
        from .files import load_npz

        raw = self.records()
        for layout, codec in self.fitted_codecs():
            config = codec.get_config()
            text = json.dumps(config, sort_keys=True)  # raises on anything that is not JSON
            arrays = codec.get_arrays()
            for name, value in arrays.items():
                assert isinstance(value, np.ndarray), f"{layout}: get_arrays()[{name!r}] is a {type(value).__name__}, not an array"
                assert value.dtype.kind in "biufcUS", f"{layout}: get_arrays()[{name!r}] has dtype {value.dtype} (object arrays need pickle)"
            path = folder / f"codec-{layout}.npz"
            np.savez(path, **arrays)
            reread = load_npz(path, label=str(path), fix="save only numeric arrays") if arrays else {}
            rebuilt = self.plugin.codec_from_config(json.loads(text), reread)
            assert json.dumps(rebuilt.get_config(), sort_keys=True) == text, f"{layout}: from_config changed the config"
            assert rebuilt.spec.to_json() == codec.spec.to_json(), f"{layout}: from_config changed the DataSpec"
            a, b = as_encoded(codec.encode(raw)), as_encoded(rebuilt.encode(raw))
            assert np.array_equal(a.x, b.x), f"{layout}: the rebuilt codec encodes differently"

    def write_read(self, folder: Path) -> None:
        """write leaves exactly its files (none after a failure); read reads them back."""
        recipe = self.load_recipe()
        layout, codec = self.fitted_codecs()[0]
        encoded = as_encoded(codec.encode(self.records()))
        records = self._decode(codec, np.asarray(encoded.x), encoded.labels)
        count = self.plugin.count(records)
        assert self.plugin.formats, f"{self.plugin.name}: no output formats"
        for fmt in self.plugin.formats:
            out = folder / fmt
            out.mkdir()
            paths = [Path(p) for p in self.plugin.write(records, out / "part-00000", fmt, recipe.generate_options)]
            assert paths and all(p.exists() for p in paths), f"{fmt}: write returned paths that do not exist: {paths}"
            extra = _files_under(out) - {f for p in paths for f in ({p.resolve()} if p.is_file() else _files_under(p))}
            assert not extra, f"{fmt}: the folder holds files write did not return: {sorted(p.name for p in extra)}"
            back = self.plugin.read(paths)
            assert self.plugin.count(back) == count, f"{fmt}: read gave {self.plugin.count(back)} records of {count} written"
            failing = folder / f"{fmt}-failing"
            failing.mkdir()
            with mock.patch("os.replace", side_effect=OSError("disk full (conformance test)")), \
                    mock.patch("os.rename", side_effect=OSError("disk full (conformance test)")):
                try:
                    self.plugin.write(records, failing / "part-00000", fmt, recipe.generate_options)
                except OSError:
                    pass
                else:
                    raise AssertionError(f"{fmt}: write succeeded without renaming into place; write through domaingen.files.atomic_path")
            left = sorted(p.relative_to(failing).as_posix() for p in failing.rglob("*"))
            assert not left, f"{fmt}: a write that failed part-way left {left}; write through domaingen.files.atomic_path"

    def metrics_documented(self, folder: Path) -> None:
        """Every metric named once, with a known direction and a formula."""
        metrics = self.plugin.metrics()
        assert metrics, f"{self.plugin.name}: metrics() documents no metric"
        names = [m.name for m in metrics]
        assert len(names) == len(set(names)), f"metrics documented twice: {sorted({n for n in names if names.count(n) > 1})}"
        for m in metrics:
            assert m.direction in DIRECTIONS, f"metric {m.name!r}: direction {m.direction!r}, not one of {DIRECTIONS}"
            assert isinstance(m.formula, str) and m.formula.strip(), f"metric {m.name!r} has no formula"

    def reproducible(self, folder: Path) -> None:
        """Two runs of the recipe with one seed write identical files; the report holds
        every documented metric."""
        from .pipeline import run

        results = [run(self.load_recipe(), folder / f"run{k}") for k in (0, 1)]
        first, second = ([(p.relative_to(r.out_dir).as_posix(), p.read_bytes()) for p in r.files] for r in results)
        assert [name for name, _ in first] == [name for name, _ in second], "the two runs wrote different files"
        for (name, a), (_, b) in zip(first, second):
            assert a == b, f"{name} differs between two runs of one recipe and seed"
        report = results[0].report
        if report is not None:
            keys = set(_keys(report))
            missing = [m.name for m in self.plugin.metrics() if m.name not in keys and m.name not in self.unreported]
            assert not missing, f"documented metrics missing from the report: {missing}"

    def bad_inputs(self, folder: Path) -> None:
        """A missing source and the plugin's own bad inputs raise DomaingenError subclasses."""
        recipe = self.load_recipe()
        cases = [(str(folder / "no-such-file.dat"), {})]
        if self.refused_inputs is not None:
            cases += list(self.refused_inputs(folder))
        for source, options in cases:
            data_options = recipe.data_options.model_validate({**recipe.data_options.model_dump(), **options})
            try:
                self.plugin.load(source, data_options, folder)
            except DomaingenError as exc:
                assert str(exc).strip(), f"{source}: refused with an empty message"
                assert exc.exit_code == 2, f"{source}: refused with exit code {exc.exit_code}, not 2 (a usage error)"
            except Exception as exc:  # noqa: BLE001 - the point is to report what escaped
                raise AssertionError(f"{source}: raised {type(exc).__name__}: {exc}; raise a domaingen.errors.DataError") from exc
            else:
                raise AssertionError(f"{source}: loaded without error; it must be refused")

    # --- helpers ------------------------------------------------------------------------
    def _decode(self, codec: Any, x: np.ndarray, labels: np.ndarray | None):
        rng = np.random.default_rng(0)
        return codec.decode(x, rng) if labels is None else codec.decode(x, rng, labels=labels)


def _files_under(folder: Path) -> set[Path]:
    """Every file below ``folder``, resolved."""
    return {p.resolve() for p in Path(folder).rglob("*") if p.is_file()}


def _keys(value: Any):
    """Every mapping key of a nested report."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _keys(v)
    elif isinstance(value, list):
        for v in value:
            yield from _keys(v)


def conformance_tests(make: Callable[[], Conformance]):
    """A pytest test function parametrised over ``CHECKS`` for the plugin ``make()``
    describes; assign it to a ``test_*`` name in a test module."""
    import pytest

    @pytest.mark.parametrize("check", CHECKS)
    def test_conformance(check: str, tmp_path: Path) -> None:
        getattr(make(), check)(tmp_path)

    return test_conformance
