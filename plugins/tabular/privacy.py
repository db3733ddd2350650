"""Fitting the tabular codec under ``train.privacy``: from public facts only.

The ordinary codec learns from the records: column types and bounds, mode-specific
normalisation (GMM modes) or quantiles, category lists and their order, which columns
have missing values, missing-value patterns, fixed combinations. Each of these is a
statistic of the records outside any privacy budget. Under ``train.privacy`` the codec
(``TabularCodec.fit_private``) learns nothing from the records and spends no budget;
every column takes its encoding from the recipe's ``data.options.columns``, the public
schema a data owner publishes:

- numeric (and datetime) columns: ``min`` and ``max`` (``type`` optional); the value is
  encoded by the min-max transform onto [-1, 1] within those bounds (values outside are
  clipped), a bounded segment with no modes;
- categorical columns: ``categories: [...]`` (the public list, in its order; a value
  outside it is read as the first category); boolean columns: ``categories`` of two
  values, or nothing for a boolean dtype ([False, True]);
- ``type: id`` columns are generated fresh as always (nothing to learn);
- ``missing``: whether a column may be missing (default: true, a flag the model learns
  privately, unless the column's dtype cannot hold a missing value, e.g. int64 or bool);
  a missing value in a column declared ``missing: false`` is read as the middle of its
  bounds (numeric) or its first category.

Column names and dtypes are taken as the public schema. A column without public facts,
a constant column (its value comes from the data) and a ``fixed_combinations`` constraint
(the combinations come from the data) are refused, all at once, with a ``UsageError``
naming each and the fix. Missing values get one flag per column (no joint patterns: they
are counted on the data).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from domaingen.errors import UsageError

from .columns import ColumnInfo, parse_bound
from .options import ColumnOptions, DataOptions, FixedCombinationsConstraint

__all__ = ["public_fit", "privacy_report"]

_EXAMPLE = "data.options.columns: {age: {min: 0, max: 120}, stage: {categories: [1, 2, 3, 4]}}"


def public_fit(frame: pd.DataFrame, options: DataOptions) -> tuple[list[ColumnInfo], list[dict[str, Any]]]:
    """The codec's columns and transforms from the recipe's public facts (``frame``'s
    column names and dtypes only); ``UsageError`` listing every column without them."""
    columns: list[ColumnInfo] = []
    transforms: list[dict[str, Any]] = []
    problems: list[str] = []
    for name in frame.columns:
        try:
            info, transform = _public_column(str(name), frame[name].dtype, options.columns.get(name))
        except (UsageError, ValueError) as exc:
            problems.append(f"{name}: {exc}")
            continue
        columns.append(info)
        transforms.append(transform)
    for constraint in options.constraints:
        if isinstance(constraint, FixedCombinationsConstraint):
            problems.append(
                f"constraint fixed_combinations on {constraint.columns}: its combinations come from the records; remove it"
            )
    if problems:
        raise UsageError(
            "train.privacy: the tabular codec may not learn from the records, so every column needs public facts "
            f"in the recipe ({_EXAMPLE}; or data.options.drop). Missing: " + "; ".join(problems)
        )
    return columns, transforms


def _public_column(name: str, dtype: Any, opts: ColumnOptions | None) -> tuple[ColumnInfo, dict[str, Any]]:
    """One column's ``ColumnInfo`` and transform from its options and dtype."""
    opts = opts or ColumnOptions()
    kind = opts.type or _public_kind(dtype, opts)
    info = ColumnInfo(name=name, kind=kind, dtype=str(dtype), has_nan=_may_be_missing(dtype, opts))
    if kind == "id":
        info.id_numeric = pd.api.types.is_numeric_dtype(dtype)
        info.has_nan = False
        return info, {}
    if kind == "constant":
        raise UsageError("a constant's value comes from the records: declare its categories: [value] or drop it")
    if kind in ("numeric", "datetime"):
        return info, _public_bounds(info, dtype, opts)
    if kind == "boolean":
        values = list(opts.categories) if opts.categories is not None else ([False, True] if pd.api.types.is_bool_dtype(dtype) else None)
        if values is None or len(values) != 2:
            raise UsageError("a boolean column needs categories: [no-value, yes-value] (two values)")
        info.categories = values
        return info, {}
    if opts.categories is None:
        raise UsageError("a categorical column needs its public categories: [...]")
    if len({str(v) for v in opts.categories}) != len(opts.categories):
        raise UsageError("categories lists a value twice; list each once")
    info.categories = list(opts.categories)
    numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    info.coded = info.ordinal = numeric and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in info.categories)
    return info, {}


def _public_kind(dtype: Any, opts: ColumnOptions) -> str:
    """The kind the public facts imply: categories -> categorical (boolean for a bool
    dtype), bounds -> numeric (datetime for a datetime dtype), a bool dtype -> boolean."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if opts.categories is not None:
        return "categorical"
    if opts.min is not None or opts.max is not None:
        return "datetime" if pd.api.types.is_datetime64_any_dtype(dtype) else "numeric"
    raise UsageError("no public bounds (min, max) or categories")


def _may_be_missing(dtype: Any, opts: ColumnOptions) -> bool:
    """``missing`` if given, else whether the dtype can hold a missing value."""
    if opts.missing is not None:
        return bool(opts.missing)
    return not (isinstance(dtype, np.dtype) and dtype.kind in "iub")


def _public_bounds(info: ColumnInfo, dtype: Any, opts: ColumnOptions) -> dict[str, Any]:
    """Fill ``info``'s bounds and precision from the options; the min-max transform onto [-1, 1]."""
    if opts.min is None or opts.max is None:
        raise UsageError(f"a {info.kind} column needs both public bounds min and max")
    if info.kind == "datetime":
        dated = all(isinstance(v, str) and len(v) == 10 for v in (opts.min, opts.max))
        info.unit = "D" if dated else "s"
        info.tz = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else None
        info.decimals = 0
    elif opts.decimals is not None:
        info.decimals = opts.decimals
    else:
        info.decimals = 0 if pd.api.types.is_integer_dtype(dtype) else None
    try:
        low = parse_bound(opts.min, info, f"columns.{info.name}.min")
        high = parse_bound(opts.max, info, f"columns.{info.name}.max")
    except Exception as exc:  # parse_bound raises DataError naming the bound
        raise UsageError(str(exc)) from None
    if not low < high:
        raise UsageError(f"min ({opts.min}) must be below max ({opts.max})")
    info.min, info.max = low, high
    return {"transform": "minmax", "loc": (low + high) / 2.0, "scale": (high - low) / 2.0}


def privacy_report(columns: list[ColumnInfo]) -> dict[str, Any]:
    """What the codec spent (nothing) and where its facts came from, for meta.json."""
    return {
        "mechanism": "public bounds and category lists from the recipe (nothing learned from the records)",
        "epsilon": 0.0,
        "columns": {c.name: c.kind for c in columns},
    }
