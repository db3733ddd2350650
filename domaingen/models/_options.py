"""What every family's model shares: holding the (spec, options, seed) state that
``get_config`` serialises (``as_options``, re-exported here, coerces ``model.options``)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from ..errors import UsageError
from ..plugin import StrictModel, as_options
from ..spec import DataSpec
from .base import GenerativeModel

__all__ = ["as_options", "SpecModel"]


class SpecModel(GenerativeModel):
    """Mixin for family models built from a DataSpec, options and a seed.

    Subclasses set ``options_class``, ``layouts`` and ``family`` and call
    ``_init_state`` first in ``__init__``; ``get_config`` is complete for safe-mode loading.
    """

    options_class: ClassVar[type[StrictModel]] = StrictModel
    layouts: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = ""

    def _init_state(self, spec: DataSpec | dict, options: BaseModel | dict | None, seed: int) -> None:
        self.spec = DataSpec.from_json(spec) if isinstance(spec, dict) else spec
        self.options = as_options(options, self.options_class)
        self.seed = int(seed)
        if self.spec.layout not in self.layouts:
            raise UsageError(
                f"the {self.family} family takes {' or '.join(self.layouts)} data, not {self.spec.layout!r}; choose another family"
            )

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "spec": self.spec.to_json(),
            "options": self.options.model_dump(),
            "seed": self.seed,
        }
