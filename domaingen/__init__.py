"""domaingen: turn a recipe file into synthetic data for a domain.

The Python API mirrors the CLI::

    import domaingen as dg
    recipe = dg.load_recipe("recipes/tabular-breast-cancer-demo.yaml", overrides={"train.epochs": 5})
    result = dg.run(recipe, "runs/demo")           # train, bundle, generate, evaluate
    bundle = dg.load_bundle(result.bundle_dir)
    table = bundle.generate(1000, seed=7)            # domain records (a DataFrame here)
"""

from ._version import __version__
from .bundle import Bundle
from .errors import (
    BundleError,
    ConditionError,
    DataError,
    DomaingenError,
    PluginError,
    RecipeError,
    UsageError,
)
from .pipeline import RunResult, evaluate, generate, load_bundle, load_data, run, train
from .plugin import Codec, DomainPlugin, GenerationRequest, Metric
from .recipe import Recipe, load_recipe, recipe_from_dict, recipe_json_schema
from .spec import DataSpec, Segment

__all__ = [
    "__version__",
    "Bundle",
    "BundleError",
    "Codec",
    "ConditionError",
    "DataError",
    "DataSpec",
    "DomainPlugin",
    "DomaingenError",
    "GenerationRequest",
    "Metric",
    "PluginError",
    "Recipe",
    "RecipeError",
    "RunResult",
    "Segment",
    "UsageError",
    "evaluate",
    "generate",
    "load_bundle",
    "load_data",
    "load_recipe",
    "recipe_from_dict",
    "recipe_json_schema",
    "run",
    "train",
]
