"""Fixtures of the fuzz suite: its settings, the cases of each group (parametrised at
collection from the seed and the number of cases) and the assets made once per session:
a toy bundle (folder and zip), its generated output and a one-epoch tabular bundle, the
originals every bundle case copies and mutates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from .harness import GROUP_SHARES, Assets, Settings, settings_from
from .mutate import dump_yaml


def fuzz_settings_of(config: pytest.Config) -> Settings:
    """The session's settings (``--fuzz-cases`` / ``--fuzz-seed`` registered in tests/conftest.py)."""
    try:
        return settings_from(config.getoption("--fuzz-cases", None), config.getoption("--fuzz-seed", None))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One test per case: ``fuzz_key`` is (group, index), its id ``<group>-<index>``."""
    if "fuzz_key" in metafunc.fixturenames:
        settings = fuzz_settings_of(metafunc.config)
        keys = [(group, i) for group in GROUP_SHARES for i in range(settings.per_group(group))]
        metafunc.parametrize("fuzz_key", keys, ids=[f"{g}-{i:03d}" for g, i in keys])


@pytest.fixture(scope="session")
def fuzz_settings(request: pytest.FixtureRequest) -> Settings:
    return fuzz_settings_of(request.config)


@pytest.fixture(scope="session")
def fuzz_assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    """Bundles trained once (toy: closed form; tabular: copula, one epoch) and a generated
    folder; cases copy them before mutating, and the harness checks they never change."""
    import domaingen as dg

    from .gen_recipes import TABLE, TOY, write_table

    root = tmp_path_factory.mktemp("fuzz-assets")
    toy_recipe = root / "toy.yaml"
    toy_recipe.write_text(dump_yaml(TOY), encoding="utf-8")
    recipe = dg.load_recipe(toy_recipe)
    dg.train(recipe, root / "toy-bundle")
    dg.train(recipe, root / "toy-bundle.zip")
    dg.generate(dg.load_bundle(root / "toy-bundle"), root / "toy-output", 50, shard_size=20)
    write_table(root / "table.csv", np.random.default_rng(0))
    table_recipe = root / "table.yaml"
    table_recipe.write_text(dump_yaml(TABLE), encoding="utf-8")
    dg.train(dg.load_recipe(table_recipe), root / "table-bundle")
    return Assets(
        root=root,
        toy_recipe=toy_recipe,
        toy_bundle=root / "toy-bundle",
        toy_zip=root / "toy-bundle.zip",
        toy_output=root / "toy-output",
        table_recipe=table_recipe,
        table_bundle=root / "table-bundle",
    )


@pytest.fixture
def fuzz_box(tmp_path: Path) -> Path:
    """The case's sandbox: its inputs, its output folder and its temporary folder."""
    box = tmp_path / "box"
    box.mkdir()
    return box
