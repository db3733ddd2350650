"""Coerce a family's ``model.options`` (pydantic model, dict or None) into its Options class."""

from __future__ import annotations

from pydantic import BaseModel

from ..plugin import StrictModel

__all__ = ["as_options"]


def as_options(options: BaseModel | dict | None, cls: type[StrictModel]) -> StrictModel:
    """``cls`` instance from ``options`` (validated; unknown keys are errors)."""
    if options is None:
        return cls()
    if isinstance(options, cls):
        return options
    if isinstance(options, BaseModel):
        options = options.model_dump()
    return cls(**options)
