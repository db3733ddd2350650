"""Generation conditions and constraints for tables.

``build_request`` turns ``generate.options.conditions`` into a ``GenerationRequest``:
category conditions go to the model natively (segment name -> category index) *and* into
the row filter (families that cannot condition ignore the native part); ranges go to the
filter only. The filter (``RowFilter``, a picklable callable) also enforces the recipe's
constraints: ``range`` repairs by clipping, ``inequality`` and ``fixed_combinations``
reject rows that break them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from domaingen.errors import ConditionError, DataError
from domaingen.plugin import GenerationRequest

from .codec import TabularCodec, _key, _restore_datetime, combination_keys
from .columns import ColumnInfo, datetime_to_int, int_to_datetime, parse_bound
from .options import FixedCombinationsConstraint, GenerateOptions, InequalityConstraint, RangeCondition, RangeConstraint

__all__ = ["build_request", "RowFilter"]


def _valid_values(info: ColumnInfo, limit: int = 30) -> str:
    values = list(info.categories) + list(info.rare_values)
    shown = ", ".join(repr(v) for v in values[:limit])
    more = f" ... ({len(values) - limit} more)" if len(values) > limit else ""
    return f"[{shown}{more}]"


def _range_text(info: ColumnInfo) -> str:
    if info.kind == "datetime":
        lo, hi = (str(int_to_datetime(np.array([v]), info.unit or "s")[0]) for v in (info.min, info.max))
        return f"{lo} .. {hi}"
    return f"{info.min:g} .. {info.max:g}"


def build_request(codec: TabularCodec, options: GenerateOptions) -> GenerationRequest:
    """Native conditions plus a filter for ``options.conditions`` and the codec's constraints."""
    native: dict[str, int] = {}
    equals: list[tuple[str, Any]] = []
    ranges: list[tuple[str, float | None, float | None]] = []
    names = codec.column_names
    for col, cond in options.conditions.items():
        if col not in names:
            raise ConditionError(f"condition on unknown column {col!r}; columns are {names}")
        info = codec.column(col)
        if info.kind in ("categorical", "boolean"):
            if isinstance(cond, RangeCondition):
                raise ConditionError(
                    f"condition on {col!r}: a min/max range needs a numeric or datetime column; "
                    f"{col!r} is {info.kind} with values {_valid_values(info)}"
                )
            index = _category_slot(info, cond)
            if index is None:
                raise ConditionError(f"condition on {col!r}: unknown value {cond!r}; valid values are {_valid_values(info)}")
            native[col] = index
            equals.append((col, cond))
        elif info.kind in ("numeric", "datetime"):
            if isinstance(cond, RangeCondition):
                lo, hi = (_bound(cond.min, info, col), _bound(cond.max, info, col))
            else:
                lo = hi = _bound(cond, info, col)
            if lo is not None and hi is not None and lo > hi:
                raise ConditionError(f"condition on {col!r}: min is above max")
            if (lo is not None and lo > info.max) or (hi is not None and hi < info.min):
                raise ConditionError(
                    f"condition on {col!r} cannot be met: the column's values lie in {_range_text(info)}"
                )
            ranges.append((col, lo, hi))
        elif info.always_missing:
            raise ConditionError(f"condition on {col!r}: the column is always missing (it has no values in the "
                                 "training data), so no value can be asked for; remove the condition")
        elif info.kind == "constant":
            if isinstance(cond, RangeCondition) or _key(cond) != _key(info.value):
                raise ConditionError(f"condition on {col!r}: the column is constant ({info.value!r})")
        else:
            raise ConditionError(f"condition on {col!r}: identifiers are generated fresh and cannot be conditioned on")
    row_filter = RowFilter(codec, equals, ranges)
    return GenerationRequest(conditions=native or None, accept=row_filter)


def _category_slot(info: ColumnInfo, value: Any) -> int | None:
    key = _key(value)
    for j, v in enumerate(info.categories):
        if _key(v) == key:
            return j
    if any(_key(v) == key for v in info.rare_values):
        return len(info.categories)
    return None


def _bound(value: Any, info: ColumnInfo, col: str) -> float | None:
    try:
        return parse_bound(value, info, f"condition on {col!r}")
    except DataError as exc:
        raise ConditionError(str(exc)) from None


class RowFilter:
    """Keeps decoded rows that meet the conditions and constraints (after range repairs)."""

    def __init__(self, codec: TabularCodec, equals: list[tuple[str, Any]], ranges: list[tuple[str, float | None, float | None]]):
        self.infos = {c.name: c for c in codec.columns_}
        self.equals = equals
        self.ranges = ranges
        self.constraints = list(codec.options.constraints)
        combos = iter(codec.combinations_)
        self.combinations = [
            (c.columns, frozenset(next(combos)))
            for c in self.constraints
            if isinstance(c, FixedCombinationsConstraint)
        ]

    def _numbers(self, frame: pd.DataFrame, col: str) -> np.ndarray:
        info = self.infos[col]
        if info.kind == "datetime":
            return datetime_to_int(frame[col], info.unit or "s")
        return pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def __call__(self, frame: pd.DataFrame) -> pd.DataFrame:
        if any(isinstance(c, RangeConstraint) for c in self.constraints):
            frame = frame.copy()  # range repairs write into it; the caller's frame stays as it was
        for c in self.constraints:
            if isinstance(c, RangeConstraint):
                self._clip(frame, c)
        keep = np.ones(len(frame), dtype=bool)
        for col, value in self.equals:
            key = _key(value)
            keys = frame[col].astype(object).map(_key)
            keep &= np.fromiter((k == key for k in keys), dtype=bool, count=len(keys))
        for col, lo, hi in self.ranges:
            x = self._numbers(frame, col)
            ok = np.isfinite(x)
            if lo is not None:
                ok &= x >= lo
            if hi is not None:
                ok &= x <= hi
            keep &= ok
        for c in self.constraints:
            if isinstance(c, InequalityConstraint):
                low, high = self._numbers(frame, c.low), self._numbers(frame, c.high)
                either_nan = ~(np.isfinite(low) & np.isfinite(high))
                with np.errstate(invalid="ignore"):
                    ok = low < high if c.strict else low <= high
                keep &= ok | either_nan
        for columns, allowed in self.combinations:
            keys = combination_keys(frame, columns)
            keep &= np.fromiter((k in allowed for k in keys), dtype=bool, count=len(keys))
        if keep.all():
            return frame
        return frame.loc[keep].reset_index(drop=True)

    def _clip(self, frame: pd.DataFrame, c: RangeConstraint) -> None:
        info = self.infos[c.column]
        lo = parse_bound(c.min, info, "range constraint")
        hi = parse_bound(c.max, info, "range constraint")
        x = self._numbers(frame, c.column)
        clipped = np.clip(x, -np.inf if lo is None else lo, np.inf if hi is None else hi)
        if np.array_equal(clipped, x, equal_nan=True):
            return
        if info.kind == "datetime":
            restored = _restore_datetime(int_to_datetime(clipped, info.unit or "s"), info)
            restored.index = frame.index
            frame[c.column] = restored
        else:
            if info.decimals is not None:  # keep the precision without leaving the range
                clipped = np.clip(np.round(clipped, info.decimals), -np.inf if lo is None else lo, np.inf if hi is None else hi)
            frame[c.column] = pd.Series(clipped, index=frame.index).astype(frame[c.column].dtype, errors="ignore")
