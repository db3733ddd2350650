"""Every recipe in recipes/ validates against the installed plugins and families, and its
family fits the plugin's data (matched by layout)."""

from pathlib import Path

import pytest

from domaingen import registry
from domaingen.recipe import load_recipe

RECIPES = sorted((Path(__file__).parents[2] / "recipes").glob("*.yaml"))


def test_every_plugin_ships_a_demo_recipe():
    demos = {load_recipe(p).model.data.plugin for p in RECIPES if p.stem.endswith("-demo")}
    assert {"tabular", "music", "images", "text"} <= demos


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipe_is_valid(path):
    recipe = load_recipe(path)
    plugin = registry.get_plugin(recipe.model.data.plugin)
    layout = registry.matching_layout(plugin, recipe.data_options, registry.get_family(recipe.family_name))
    assert layout in plugin.layouts_for(recipe.data_options)
