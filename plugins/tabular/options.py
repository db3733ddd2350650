"""Recipe sections of the tabular plugin: ``data.options``, ``generate.options``, ``evaluate.options``."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from domaingen.plugin import StrictModel

__all__ = [
    "COLUMN_TYPES",
    "ColumnOptions",
    "RangeConstraint",
    "InequalityConstraint",
    "FixedCombinationsConstraint",
    "DataOptions",
    "RangeCondition",
    "GenerateOptions",
    "EvaluateOptions",
]

#: column types a recipe may force; ``id`` is the spelling of "identifier"
COLUMN_TYPES = ("numeric", "categorical", "boolean", "datetime", "id", "constant")

Bound = Union[float, int, str, None]  # numbers, or ISO dates for datetime columns


class ColumnOptions(StrictModel):
    """Overrides for one column; anything left out is detected from the data."""

    type: Literal["numeric", "categorical", "boolean", "datetime", "id", "constant"] | None = None
    min: Bound = Field(default=None, description="lower bound (numbers, or an ISO date)")
    max: Bound = Field(default=None, description="upper bound (numbers, or an ISO date)")
    decimals: int | None = Field(default=None, ge=0, le=12, description="round generated values")
    format: str | None = Field(default=None, description="strftime format of a date column in text files")
    categories: list[Union[bool, int, float, str]] | None = Field(
        default=None, min_length=1, max_length=10_000,
        description="train.privacy: the public list of a categorical column's values (in their order)",
    )
    missing: bool | None = Field(
        default=None,
        description="train.privacy: whether the column may have missing values (public; default true: a flag is learned)",
    )


class RangeConstraint(StrictModel):
    """Every generated value of ``column`` lies in ``[min, max]`` (values are clipped)."""

    type: Literal["range"]
    column: str
    min: Bound = None
    max: Bound = None


class InequalityConstraint(StrictModel):
    """``low <= high`` (or ``<`` when ``strict``) on every generated row (others are rejected)."""

    type: Literal["inequality"]
    low: str
    high: str
    strict: bool = False


class FixedCombinationsConstraint(StrictModel):
    """Only combinations of ``columns`` seen in the training data are generated."""

    type: Literal["fixed_combinations"]
    columns: list[str] = Field(min_length=2)


Constraint = Annotated[
    Union[RangeConstraint, InequalityConstraint, FixedCombinationsConstraint],
    Field(discriminator="type"),
]


class DataOptions(StrictModel):
    """``data.options``: how a table is read, typed and encoded."""

    columns: dict[str, ColumnOptions] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    constraints: list[Constraint] = Field(default_factory=list)
    sep: str | None = Field(default=None, description="CSV separator (default: ',' or tab for .tsv)")
    duplicate_columns: Literal["refuse", "rename"] = Field(
        default="refuse",
        description="a header name given twice: refuse (an error naming it) or rename (pandas' a, a.1, a.2, ...)",
    )
    transform: Literal["gmm", "quantile"] = "gmm"
    max_modes: int = Field(default=10, ge=1, le=50)
    mode_weight_threshold: float = Field(default=0.005, ge=0.0, lt=1.0)
    codec_fit_rows: int = Field(default=10_000, ge=100)
    max_categories: int = Field(default=50, ge=2)
    integer_categorical_max: int = Field(
        default=10, ge=0,
        description="numeric columns of codes (integers, or floats that are whole numbers or on a regular grid, "
        "e.g. 0/0.5/1) with at most this many values are categorical; 0: never",
    )
    missing_patterns: int = Field(
        default=32, ge=0, le=1000,
        description="columns whose missing values go together share one categorical segment of their joint "
        "missing pattern (at most this many patterns, the rest in an 'other' slot); 0: one flag per column",
    )
    missing_association: float = Field(
        default=0.3, gt=0.0, le=1.0,
        description="columns are grouped for missing_patterns when their missing flags' |phi| reaches this",
    )


class RangeCondition(StrictModel):
    """A numeric or datetime column restricted to ``[min, max]``."""

    min: Bound = None
    max: Bound = None


class GenerateOptions(StrictModel):
    """``generate.options``: conditions on the generated rows."""

    conditions: dict[str, Union[RangeCondition, bool, int, float, str]] = Field(default_factory=dict)

    @field_validator("conditions", mode="before")
    @classmethod
    def _ranges_first(cls, value):
        # a mapping means a range; anything else is a category value
        if isinstance(value, dict):
            return {
                k: (RangeCondition(**v) if isinstance(v, dict) else v) for k, v in value.items()
            }
        return value


class EvaluateOptions(StrictModel):
    """``evaluate.options``: what to measure and on how many rows."""

    target: str | None = Field(default=None, description="column predicted in the ML-efficacy test")
    column_types: dict[str, Literal["numeric", "categorical", "boolean", "datetime", "id", "constant"]] = Field(
        default_factory=dict, description="override detected types (e.g. mark identifiers: {patient_id: id})"
    )
    task: Literal["auto", "classification", "regression"] = "auto"
    real_correlation_threshold: float = Field(
        default=0.5, ge=0, le=1, description="pairs of continuous columns count when |real r| exceeds this"
    )
    real_association_threshold: float = Field(
        default=0.3, ge=0, le=1, description="other pairs count when the real Cramér's V exceeds this"
    )
    quality_rows: int = Field(default=50_000, ge=100, description="rows subsampled for pair trends")
    privacy_rows: int = Field(default=5_000, ge=10, description="synthetic rows queried for DCR")
    reference_rows: int = Field(default=20_000, ge=10, description="real rows indexed for DCR")
    ml_rows: int = Field(default=50_000, ge=50, description="rows used to fit each ML-efficacy model")
    report_html: bool = True
    plot_columns: int = Field(default=40, ge=0, description="at most this many columns are plotted")
