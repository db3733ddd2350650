"""The recipe sections of the vitals plugin.

Each is a ``StrictModel`` (pydantic, unknown keys refused), so a misspelt key in a recipe
is reported with its path and line and the closest valid key. ``domaingen recipe schema``
shows these fields to editors.
"""

from __future__ import annotations

from pydantic import Field

from domaingen.plugin import StrictModel

__all__ = ["DataOptions", "GenerateOptions", "EvaluateOptions"]


# --8<-- [start:options]
class DataOptions(StrictModel):
    """``data.options``: how series are read and encoded."""

    max_steps: int = Field(12, ge=1, le=2000, description="readings per series at most (2 tokens each)")
    heart_rate_step: int = Field(1, ge=1, le=20, description="bpm per heart-rate token (readings round to it)")
    systolic_step: int = Field(2, ge=1, le=20, description="mmHg per systolic token")
    rows: int = Field(400, ge=1, le=1_000_000, description="series the demo source simulates")
    seed: int = Field(0, ge=0, description="seed of the demo source")


class GenerateOptions(StrictModel):
    """``generate.options``: what to ask of the model."""

    temperature: float = Field(1.0, ge=0.0, le=10.0, description="sampling temperature (0: greedy)")
    min_steps: int = Field(2, ge=1, description="keep only series of at least this many readings")
# --8<-- [end:options]


class EvaluateOptions(StrictModel):
    """``evaluate.options``: none yet; add fields as the metrics need them."""
