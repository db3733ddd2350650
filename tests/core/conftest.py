"""Fixtures for the core tests: a toy bundle trained once per session."""

from pathlib import Path

import pytest

import domaingen as dg

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="session")
def toy_bundle_dir(tmp_path_factory) -> Path:
    recipe = dg.load_recipe(FIXTURES / "toy.yaml")
    path = tmp_path_factory.mktemp("bundles") / "toy"
    dg.train(recipe, path)
    return path
