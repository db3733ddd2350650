"""The model-family contract: what the core asks of every family.

A family is registered under the entry-point group ``domaingen.models``; the entry point
names a ``ModelFamily`` instance. ``build`` returns a Keras model that also implements
``GenerativeModel``: it trains itself on encoded arrays (``train_on``) and generates
arrays in the DataSpec's layout (``generate``). Families know nothing about domains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from ..plugin import NoOptions
from ..spec import DataSpec

__all__ = ["ModelFamily", "GenerativeModel"]


class ModelFamily(ABC):
    """A named way to build a generative model for a DataSpec."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    layouts: ClassVar[tuple[str, ...]] = ()  # DataSpec layouts this family accepts
    Options: ClassVar[type[BaseModel]] = NoOptions  # schema of the recipe's model.options
    default_learning_rate: ClassVar[float] = 1e-3  # used when the recipe's train.learning_rate is unset

    @abstractmethod
    def build(self, spec: DataSpec, options: BaseModel, seed: int) -> "GenerativeModel":
        """A new, untrained model for ``spec``. Weight initialisation and every random
        source inside the model are derived from ``seed``."""


class GenerativeModel:
    """Mixin for the Keras models a family builds (``class VAE(GenerativeModel, keras.Model)``).

    Subclasses must be registered with ``keras.saving.register_keras_serializable`` and
    have a complete ``get_config`` so that ``.keras`` files load with ``safe_mode=True``.
    """

    @abstractmethod
    def train_on(
        self,
        x: np.ndarray,
        *,
        epochs: int,
        batch_size: int,
        learning_rate: float,
        callbacks: list[Any],
        validation_split: float = 0.0,
        seed: int = 0,
    ) -> dict[str, list[float]]:
        """Fit on encoded arrays; return the per-epoch history (loss name -> values).

        ``callbacks`` are Keras callbacks the core supplies (progress, early stopping).
        """

    def conditions_honoured(self, conditions: dict[str, int] | None) -> dict[str, int]:
        """The subset of ``conditions`` that ``generate`` fixes natively; the plugin's
        filter handles the rest. Families that honour none return ``{}``."""
        return {}

    @abstractmethod
    def generate(
        self,
        n: int,
        *,
        seed: int,
        conditions: dict[str, int] | None = None,
        controls: dict[str, Any] | None = None,
        batch_size: int = 4096,
    ) -> np.ndarray:
        """``n`` samples as a numpy array in the DataSpec's layout; identical for an
        identical ``seed``. ``conditions`` maps categorical segment names to category
        indices; a family that cannot honour one natively ignores it (the plugin filters).
        """
