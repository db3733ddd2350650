"""Bugs the fuzz suite found, each kept as a plain test on the API that was at fault
(the fuzz cases that found them: bundles ``meta_tamper``, ``recipe_tamper``,
``member_flip_resigned``, ``npz_missing_array``, ``codec_json_tamper``)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from domaingen.bundle import Bundle
from domaingen.errors import BundleError

from .mutate import resign


@pytest.fixture
def toy_copy(fuzz_assets, tmp_path):
    """A copy of the session's toy bundle folder, to damage."""
    folder = tmp_path / "bundle"
    shutil.copytree(fuzz_assets.toy_bundle, folder)
    return folder


@pytest.fixture
def table_copy(fuzz_assets, tmp_path):
    folder = tmp_path / "table-bundle"
    shutil.copytree(fuzz_assets.table_bundle, folder)
    return folder


def test_deeply_nested_meta_json_is_a_bundle_error(toy_copy):
    (toy_copy / "meta.json").write_text("[" * 100_000 + "]" * 100_000)  # was a bare RecursionError
    with pytest.raises(BundleError, match=r"meta\.json is corrupt \(RecursionError"):
        Bundle.load(toy_copy)


def test_recipe_yaml_that_is_not_utf8_is_a_bundle_error(toy_copy):
    text = (toy_copy / "recipe.yaml").read_bytes()
    (toy_copy / "recipe.yaml").write_bytes(text.replace(b"fuzz-toy", b"fuzz-t\xe9y"))
    resign(toy_copy)  # was a bare UnicodeDecodeError behind the checksum check
    with pytest.raises(BundleError, match=r"recipe\.yaml is not UTF-8 text"):
        Bundle.load(toy_copy)


@pytest.mark.parametrize("value", [5, ["a", "b"], "", "/tmp/\x00x", None])
def test_recipe_dir_that_is_not_a_path_is_a_bundle_error(toy_copy, value):
    meta = json.loads((toy_copy / "meta.json").read_text())
    meta["recipe_dir"] = value  # was a TypeError (a number, a list) or ValueError (NUL) from pathlib
    (toy_copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match=r"meta\.json's recipe_dir .* is not a folder path"):
        Bundle.load(toy_copy)


def test_recipe_dir_string_still_loads(toy_copy):
    meta = json.loads((toy_copy / "meta.json").read_text())
    meta["recipe_dir"] = "/nonexistent/place"  # a folder that is gone: the embedded toy source needs none
    (toy_copy / "meta.json").write_text(json.dumps(meta))
    assert str(Bundle.load(toy_copy).recipe.base_dir) == "/nonexistent/place"


def test_codec_that_cannot_be_rebuilt_is_a_bundle_error(toy_copy, table_copy):
    arrays = dict(np.load(toy_copy / "codec.npz"))
    del arrays["std"]
    np.savez(toy_copy / "codec.npz", **arrays)
    resign(toy_copy)
    bundle = Bundle.load(toy_copy)
    with pytest.raises(BundleError, match=r"its codec cannot be rebuilt from codec\.json and codec\.npz \(KeyError: 'std'\)"):
        bundle.codec  # was a bare KeyError from the plugin's codec_from_config
    (table_copy / "codec.json").write_text("[1, 2, 3]")
    resign(table_copy)
    with pytest.raises(BundleError, match=r"codec cannot be rebuilt .*AttributeError"):
        Bundle.load(table_copy).codec
