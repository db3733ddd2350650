"""Column types of a table: detection, recipe overrides, and the per-column facts a codec keeps.

Kinds: ``numeric`` (int or float, with bounds and decimal precision), ``categorical``,
``boolean``, ``datetime`` (stored as int64 days or seconds since 1970-01-01, any era),
``id`` (identifiers: generated unique, never learned) and ``constant``. A column without
a single value (all missing) is an always-missing ``constant`` whatever type a recipe
forces: there is nothing to learn, and it is generated all missing.

Coded columns: clinical tables code categories as numbers (0/1 flags, 1/2 arms, 1-4
stages, 0/0.5/1 grades), often with NaN, so pandas reads them as floats. A numeric column
is ``categorical`` with ``coded`` and ``ordinal`` set (categories sorted ascending, decoded
to exactly the original numbers in the original dtype) when it has at most
``integer_categorical_max`` distinct values and either has an integer dtype, or has at
least ``CODED_ROWS_PER_LEVEL`` values per level and its values are whole numbers or lie
on a regular grid (every value ``min + j * step``, at least half the grid points between
min and max used). A recipe's ``columns: {x: {type: numeric}}`` still wins.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from domaingen.errors import DataError

from .options import ColumnOptions, DataOptions

__all__ = ["ColumnInfo", "detect_columns", "to_json_value", "datetime_to_int", "int_to_datetime", "parse_bound",
           "is_coded", "CODED_ROWS_PER_LEVEL"]

_ID_NAME = re.compile(r"(^|[_\-\s.])(id|uuid|guid|key|mrn|ssn)$|^id[_\-\s.]|^(id|uuid|guid)$", re.IGNORECASE)
_SECONDS_PER_DAY = 86_400
#: a float column is read as codes only with at least this many values per distinct value
CODED_ROWS_PER_LEVEL = 3
_GRID_FILL = 0.5  # share of the grid points between min and max a coded column must use


@dataclass
class ColumnInfo:
    """What a codec knows about one column (JSON-serialisable)."""

    name: str
    kind: str
    dtype: str  # pandas dtype name to restore
    has_nan: bool = False
    nan_rate: float = 0.0
    # numeric / datetime
    min: float | None = None
    max: float | None = None
    decimals: int | None = None  # round to this many decimals (0 for integers)
    unit: str | None = None  # datetime: "D" (days) or "s" (seconds) since the epoch
    tz: str | None = None  # datetime: time zone of a tz-aware column
    # categorical / boolean
    categories: list[Any] = field(default_factory=list)  # kept categories, most frequent first (coded: ascending)
    coded: bool = False  # a categorical column of numbers (0/1 flags, 1..4 stages): decoded to those numbers
    ordinal: bool = False  # its categories are ordered (coded columns: ascending numbers)
    rare_values: list[Any] = field(default_factory=list)  # values folded into the rare bucket
    rare_weights: list[float] = field(default_factory=list)
    # constant
    value: Any = None
    # id
    id_prefix: str = ""
    id_numeric: bool = False

    @property
    def has_rare(self) -> bool:
        return bool(self.rare_values)

    @property
    def always_missing(self) -> bool:
        """A column with no value at all in training: no segment, decoded all missing."""
        return self.kind == "constant" and self.has_nan and self.value is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ColumnInfo":
        return cls(**data)


def to_json_value(v: Any) -> Any:
    """A JSON scalar for a cell value (numpy scalars become Python ones)."""
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    if isinstance(v, (int, float, str)):
        return v
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return str(pd.Timestamp(v).isoformat())
    return str(v)


def datetime_to_int(series: pd.Series, unit: str) -> np.ndarray:
    """Datetimes -> float64 counts of ``unit`` since 1970-01-01 (NaN for NaT). Any era."""
    values = series
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    arr = values.to_numpy()
    mask = pd.isna(arr)
    ints = arr.astype(f"datetime64[{unit}]").astype(np.int64).astype(np.float64)
    ints[mask] = np.nan
    return ints


def int_to_datetime(values: np.ndarray, unit: str) -> np.ndarray:
    """float counts of ``unit`` since the epoch (NaN = missing) -> ``datetime64[s]`` array."""
    values = np.asarray(values, dtype=np.float64)
    mask = ~np.isfinite(values)
    ints = np.where(mask, 0, np.round(values)).astype(np.int64)
    out = ints.astype(f"datetime64[{unit}]").astype("datetime64[s]")
    out[mask] = np.datetime64("NaT")
    return out


def parse_bound(value: Any, info: ColumnInfo, what: str) -> float | None:
    """A recipe bound (number, or ISO date for datetime columns) in the codec's units."""
    if value is None:
        return None
    if info.kind == "datetime":
        try:
            stamp = np.datetime64(str(value).replace(" ", "T", 1), "s") if isinstance(value, str) else None
        except ValueError:
            stamp = None
        if stamp is None:
            raise DataError(f"{what}: {value!r} is not an ISO date for datetime column {info.name!r}")
        return float(stamp.astype(f"datetime64[{info.unit}]").astype(np.int64))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"{what}: {value!r} is not a number for column {info.name!r}")
    return float(value)


def _decimals(values: np.ndarray) -> int | None:
    """Smallest number of decimals (<= 10) that represents every value, else None."""
    if len(values) == 0:
        return None
    sample = values[: 20_000]
    for d in range(11):
        if np.allclose(np.round(sample, d), sample, rtol=0, atol=1e-12 * max(1.0, float(np.abs(sample).max()))):
            return d
    return None


def _looks_like_id(series: pd.Series, non_null: pd.Series) -> bool:
    n = len(non_null)
    if n < 2 or non_null.nunique() != n:
        return False
    if _ID_NAME.search(str(series.name)):
        return pd.api.types.is_integer_dtype(series.dtype) or series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
    return False


def _kind(series: pd.Series, opts: ColumnOptions | None, options: DataOptions) -> str:
    non_null = series.dropna()
    if len(non_null) == 0:
        return "constant"  # always missing: no forced type can be fitted on no values
    if opts is not None and opts.type is not None:
        return opts.type
    if non_null.nunique() == 1:
        return "constant"
    if pd.api.types.is_bool_dtype(series.dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return "datetime"
    if _looks_like_id(series, non_null):
        return "id"
    if pd.api.types.is_numeric_dtype(series.dtype):
        return "categorical" if is_coded(non_null, options.integer_categorical_max) else "numeric"
    # text / category dtype
    values = set(non_null.unique().tolist()) if non_null.nunique() <= 3 else None
    if values is not None and values <= {True, False} and all(isinstance(v, (bool, np.bool_)) for v in values):
        return "boolean"
    n = len(non_null)
    if non_null.nunique() == n and n > options.max_categories:
        return "id"  # every value distinct: nothing to learn, generate fresh identifiers
    return "categorical"


def is_coded(non_null: pd.Series, max_levels: int) -> bool:
    """Whether the (non-missing) numbers of a column are category codes: at most
    ``max_levels`` distinct values, and an integer dtype, or (floats: NaN turns an integer
    column into floats) enough rows per level and whole numbers or a regular grid."""
    values = non_null.to_numpy(dtype=np.float64)
    if len(np.unique(values[:10_000])) > max_levels:  # most numeric columns stop here, at a small cost
        return False
    levels = np.unique(values)
    if len(levels) > max_levels or len(levels) < 2:
        return False
    if pd.api.types.is_integer_dtype(non_null.dtype):
        return True
    if len(non_null) < CODED_ROWS_PER_LEVEL * len(levels) or not np.isfinite(levels).all():
        return False
    if np.all(levels == np.round(levels)):
        return True
    return _grid_points(levels) <= len(levels) / _GRID_FILL


def _grid_points(levels: np.ndarray) -> float:
    """Points of the coarsest regular grid through all ``levels`` (sorted, distinct) between
    their min and max: ``(max - min) / step + 1`` with ``step`` the greatest common divisor
    of the differences at the values' decimal precision; ``inf`` without a finite one."""
    decimals = _decimals(levels)
    if decimals is None:
        return float("inf")
    scaled = np.round((levels - levels[0]) * 10.0 ** decimals)
    if scaled[-1] > 2.0 ** 53:  # beyond exact float integers: no grid worth the name
        return float("inf")
    step = np.gcd.reduce(np.diff(scaled).astype(np.int64))
    return float(scaled[-1] / step + 1) if step > 0 else float("inf")


def detect_columns(frame: pd.DataFrame, options: DataOptions) -> list[ColumnInfo]:
    """Facts about every column of the training table, honouring recipe overrides."""
    out = []
    for col in frame.columns:
        series = frame[col]
        opts = options.columns.get(col)
        kind = _kind(series, opts, options)
        info = ColumnInfo(
            name=col,
            kind=kind,
            dtype=str(series.dtype),
            has_nan=bool(series.isna().any()),
            nan_rate=float(series.isna().mean()),
        )
        non_null = series.dropna()
        if kind == "numeric":
            _fill_numeric(info, series, opts)
        elif kind == "datetime":
            _fill_datetime(info, series, opts)
        elif kind in ("categorical", "boolean"):
            numbers = kind == "categorical" and _holds_numbers(series)
            info.coded = info.ordinal = numbers
            _fill_categories(info, non_null, options.max_categories, kind)
        elif kind == "constant":
            info.value = to_json_value(non_null.iloc[0]) if len(non_null) else None
        elif kind == "id":
            _fill_id(info, non_null)
        out.append(info)
    return out


def _holds_numbers(series: pd.Series) -> bool:
    """A numeric (not boolean) dtype: its categories are numeric codes."""
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _fill_numeric(info: ColumnInfo, series: pd.Series, opts: ColumnOptions | None) -> None:
    if not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype)):
        raise DataError(f"column {info.name!r} is numeric but holds {series.dtype} values; declare its type")
    values = series.dropna().to_numpy(dtype=np.float64)
    info.min, info.max = float(values.min()), float(values.max())
    info.decimals = 0 if pd.api.types.is_integer_dtype(series.dtype) else _decimals(values)
    if opts is not None:
        info.min = info.min if opts.min is None else parse_bound(opts.min, info, f"columns.{info.name}.min")
        info.max = info.max if opts.max is None else parse_bound(opts.max, info, f"columns.{info.name}.max")
        if opts.decimals is not None:
            info.decimals = opts.decimals
    if info.min > info.max:
        raise DataError(f"columns.{info.name}: min {info.min} is above max {info.max}")


def _fill_datetime(info: ColumnInfo, series: pd.Series, opts: ColumnOptions | None) -> None:
    if not pd.api.types.is_datetime64_any_dtype(series.dtype):
        raise DataError(f"column {info.name!r} is datetime but holds {series.dtype} values")
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        info.tz = str(series.dtype.tz)
    seconds = datetime_to_int(series, "s")
    finite = seconds[np.isfinite(seconds)]
    info.unit = "D" if np.all(np.mod(finite, _SECONDS_PER_DAY) == 0) else "s"
    values = finite / _SECONDS_PER_DAY if info.unit == "D" else finite
    info.min, info.max, info.decimals = float(values.min()), float(values.max()), 0
    if opts is not None:
        if opts.min is not None:
            info.min = parse_bound(opts.min, info, f"columns.{info.name}.min")
        if opts.max is not None:
            info.max = parse_bound(opts.max, info, f"columns.{info.name}.max")
    if info.min > info.max:
        raise DataError(f"columns.{info.name}: min is after max")


def _fill_categories(info: ColumnInfo, non_null: pd.Series, max_categories: int, kind: str) -> None:
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(non_null.dtype) or set(non_null.unique().tolist()) <= {True, False}:
            info.categories = [False, True]
            return
        values = sorted({to_json_value(v) for v in non_null.unique()}, key=str)
        if len(values) > 2:
            raise DataError(
                f"column {info.name!r} is declared boolean but has {len(values)} values "
                f"({values[:5]}); declare it categorical"
            )
        info.categories = values if len(values) == 2 else values * 2
        return
    counts = non_null.value_counts(sort=True)
    values = [to_json_value(v) for v in counts.index]
    if len(values) > max_categories:
        keep = max_categories - 1  # the last slot is the rare bucket
        rare_counts = counts.to_numpy()[keep:][:10_000].astype(np.float64)  # bounded state
        info.categories = values[:keep]
        info.rare_values = values[keep:keep + len(rare_counts)]
        info.rare_weights = (rare_counts / rare_counts.sum()).tolist()
    else:
        info.categories = values
    if info.ordinal:  # codes keep their order (the copula's thresholds follow it)
        info.categories = sorted(info.categories)


def _fill_id(info: ColumnInfo, non_null: pd.Series) -> None:
    if pd.api.types.is_integer_dtype(non_null.dtype) or pd.api.types.is_float_dtype(non_null.dtype):
        info.id_numeric = True
        return
    text = non_null.astype(str)
    prefix = text.iloc[0]
    for v in text.iloc[:1000]:
        while not v.startswith(prefix):
            prefix = prefix[:-1]
    info.id_prefix = re.sub(r"[0-9]+$", "", prefix)
