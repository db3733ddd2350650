"""The tabular plugin: synthetic tables (e.g. medical records) from a recipe.

``plugin`` is the entry point ``domaingen.plugins: tabular``. Importing this package does
not import Keras or TensorFlow.
"""

from .codec import TabularCodec
from .options import DataOptions, EvaluateOptions, GenerateOptions
from .plugin import TabularPlugin

__all__ = ["plugin", "TabularPlugin", "TabularCodec", "DataOptions", "GenerateOptions", "EvaluateOptions"]

plugin = TabularPlugin()
