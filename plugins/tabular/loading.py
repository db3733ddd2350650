"""Reading tables: CSV / Parquet files and scikit-learn's bundled medical data sets.

``load_table`` returns a DataFrame whose columns already have usable dtypes: the
recipe's ``drop`` list is applied, date-like text becomes ``datetime64`` (any era: the
second unit of numpy/pandas covers years -2.9e11..2.9e11), and forced types are coerced
with a ``DataError`` naming the column and a value that could not be read.

Header names are read as the file states them: a name given twice (CSV or Parquet) is a
``DataError`` naming it, since pandas would silently rename the second ``a`` to ``a.1``;
``data.options.duplicate_columns: rename`` asks for that renaming instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from domaingen.errors import DataError

from .options import DataOptions

__all__ = ["load_table", "prepare_frame", "parse_datetimes", "SKLEARN_SOURCES", "read_file", "dedupe_names"]

SKLEARN_SOURCES = ("breast_cancer", "diabetes")
_CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")


def load_table(source: str, options: DataOptions, base_dir: Path) -> pd.DataFrame:
    """Read ``source`` and apply ``options`` (drop, column types)."""
    if source.startswith("sklearn:"):
        frame = _load_sklearn(source.split(":", 1)[1])
    else:
        path = Path(source).expanduser()
        if not path.is_absolute():
            path = Path(base_dir) / path
        frame = read_file(path, sep=options.sep, duplicate_columns=options.duplicate_columns)
    return prepare_frame(frame, options, source)


def _load_sklearn(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name == "breast_cancer":
        bunch = datasets.load_breast_cancer(as_frame=True)
        frame = bunch.data.copy()
        names = np.asarray(bunch.target_names)  # index 0 = malignant, 1 = benign
        frame["diagnosis"] = pd.Series(names[bunch.target.to_numpy()], index=frame.index, dtype=object)
        return frame
    if name == "diabetes":
        bunch = datasets.load_diabetes(as_frame=True, scaled=False)
        return bunch.frame.copy()
    known = ", ".join(f"sklearn:{s}" for s in SKLEARN_SOURCES)
    raise DataError(f"unknown embedded data set 'sklearn:{name}'; use one of: {known}")


def read_file(path: Path, sep: str | None = None, duplicate_columns: str = "refuse") -> pd.DataFrame:
    """Read one CSV or Parquet file, turning every failure into a ``DataError``.

    ``duplicate_columns``: ``refuse`` (a header name given twice is a ``DataError``) or
    ``rename`` (pandas' renaming: the second ``a`` becomes ``a.1``)."""
    name = path.name.lower()
    if not path.exists():
        raise DataError(f"data file not found: {path} (check data.source; relative paths start at the recipe's folder)")
    if path.is_dir():
        raise DataError(f"data source {path} is a folder; name a .csv or .parquet file")
    try:
        if name.endswith(_PARQUET_SUFFIXES):
            frame = _read_parquet(path, duplicate_columns)
        elif name.endswith(_CSV_SUFFIXES):
            if sep is None:
                sep = "\t" if ".tsv" in name else ","
            if duplicate_columns == "refuse":
                _refuse_duplicates(_csv_header(path, sep), path)
            frame = pd.read_csv(path, sep=sep, low_memory=False)
            frame = parse_datetimes(frame)
        else:
            raise DataError(
                f"cannot tell the format of {path}: use a .csv, .tsv or .parquet file name"
            )
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {path} is empty: it has no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        raise DataError(f"cannot read {path}: {type(exc).__name__}: {exc}".strip()) from None
    except Exception as exc:  # pyarrow raises its own exception types for corrupt files
        raise DataError(f"cannot read {path} (corrupt or not a table?): {type(exc).__name__}: {exc}") from None
    return frame


def _csv_header(path: Path, sep: str) -> list[str | None]:
    """The header row of a CSV file as written (pandas' reader, so quoting and compression
    match the real read, but without its renaming of duplicates); None for empty names."""
    row = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    return [str(v) if str(v) != "" else None for v in row.iloc[0].tolist()] if len(row) else []


def _read_parquet(path: Path, duplicate_columns: str) -> pd.DataFrame:
    """A Parquet file as a DataFrame; duplicate field names refused or renamed as pandas would."""
    import pyarrow.parquet as pq

    names = list(pq.read_schema(path).names)
    if len(set(names)) == len(names):
        return _restore_parquet_units(path, pd.read_parquet(path))
    if duplicate_columns == "refuse":
        _refuse_duplicates(names, path)
    table = pq.ParquetFile(path).read()  # pandas' reader cannot select duplicate names
    renamed = dedupe_names(table.column_names)
    return table.rename_columns(renamed).to_pandas()


def _refuse_duplicates(names: list[str | None], path: Path | str) -> None:
    """Raise a ``DataError`` naming every header name given more than once (with positions)."""
    positions: dict[str, list[int]] = {}
    for i, col in enumerate(names, start=1):
        if col is not None:
            positions.setdefault(col, []).append(i)
    dup = {col: where for col, where in positions.items() if len(where) > 1}
    if not dup:
        return
    listed = "; ".join(f"{col!r} (columns {', '.join(map(str, where))})" for col, where in dup.items())
    raise DataError(
        f"{path}: duplicate column names in the header: {listed}; rename them in the file so every "
        "column has its own name, or set data.options.duplicate_columns: rename to read them as "
        "pandas does (a, a.1, a.2, ...)"
    )


def dedupe_names(names: list[str]) -> list[str]:
    """``names`` with repeats renamed as pandas' CSV reader does: the second ``a`` becomes
    ``a.1`` (or the next free ``a.<k>``), names already unique are kept."""
    taken = set(names)
    counts: dict[str, int] = {}
    out = []
    for col in names:
        if col not in counts:
            counts[col] = 0
            out.append(col)
            continue
        k = counts[col] + 1
        while f"{col}.{k}" in taken:
            k += 1
        counts[col] = k
        taken.add(f"{col}.{k}")
        out.append(f"{col}.{k}")
    return out


def _restore_parquet_units(path: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet has no second-resolution timestamps: give back the unit pandas wrote
    (``datetime64[s]`` holds any era; it comes back as ``[ms]`` otherwise)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).pandas_metadata or {}
    for col in meta.get("columns", []):
        name, numpy_type = col.get("name"), str(col.get("numpy_type", ""))
        if name in frame.columns and numpy_type.startswith("datetime64[") and str(frame[name].dtype) != numpy_type:
            try:
                frame[name] = frame[name].astype(numpy_type)
            except (TypeError, ValueError, OverflowError):
                pass
    return frame


def parse_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn text columns whose every value is an ISO date / datetime into ``datetime64``."""
    out = frame.copy()
    for col in out.columns:
        series = out[col]
        if series.dtype != object and not pd.api.types.is_string_dtype(series.dtype):
            continue
        parsed = _parse_iso(series)
        if parsed is not None:
            out[col] = parsed
    return out


def _parse_iso(series: pd.Series, fmt: str | None = None) -> pd.Series | None:
    """Parsed datetimes (unit: seconds, any era) or None when some value is not a date."""
    values = series.dropna()
    if len(values) == 0 or not all(isinstance(v, str) for v in values.iloc[:1000]):
        return None
    text = values.astype(str)
    if fmt is None:
        # cheap pre-check so that ordinary text columns are not parsed value by value
        sample = text.iloc[:50]
        if not sample.str.match(r"^\s*[+-]?\d{4,}-\d{2}-\d{2}").all():
            return None
        if text.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True).any():
            try:  # offsets given: a time-zone-aware column in UTC
                parsed = pd.to_datetime(text, format="ISO8601", utc=True)
            except (ValueError, TypeError, OverflowError):
                return None
            return parsed.reindex(series.index).rename(series.name)
        try:
            stamps = np.asarray(text.str.strip().str.replace(" ", "T", n=1).to_numpy(), dtype="datetime64[s]")
        except (ValueError, TypeError):
            return None
    else:
        try:
            stamps = pd.to_datetime(text, format=fmt).to_numpy().astype("datetime64[s]")
        except (ValueError, TypeError, OverflowError):
            return None
    out = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[s]")
    out[np.flatnonzero(series.notna().to_numpy())] = stamps
    return pd.Series(out, index=series.index, name=series.name)


def prepare_frame(frame: pd.DataFrame, options: DataOptions, source: str = "data") -> pd.DataFrame:
    """Apply ``drop`` and forced column types; check the table is usable."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{source}: expected a table, got {type(frame).__name__}")
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        if options.duplicate_columns == "rename":
            frame.columns = dedupe_names(list(frame.columns))
        else:
            _refuse_duplicates(list(frame.columns), source)
    missing = [c for c in options.drop if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: data.options.drop names unknown columns {missing}; columns are {list(frame.columns)}")
    frame = frame.drop(columns=list(options.drop))
    unknown = [c for c in options.columns if c not in frame.columns]
    if unknown:
        raise DataError(
            f"{source}: data.options.columns names unknown columns {unknown}; columns are {list(frame.columns)}"
        )
    if frame.shape[1] == 0:
        raise DataError(f"{source}: the table has no columns")
    if frame.shape[0] == 0:
        raise DataError(f"{source}: the table has no rows")
    for col, col_opts in options.columns.items():
        if col_opts.type == "datetime":
            frame[col] = _coerce_datetime(frame[col], col_opts.format, source)
        elif col_opts.type == "numeric":
            frame[col] = _coerce_numeric(frame[col], source)
    for col in frame.columns:
        _check_readable(frame[col], source)
    return frame.reset_index(drop=True)


def _coerce_datetime(series: pd.Series, fmt: str | None, source: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    parsed = _parse_iso(series.astype(object).where(series.notna(), None), fmt)
    if parsed is None:
        bad = _first_bad(series, lambda v: _parse_iso(pd.Series([str(v)]), fmt) is not None)
        hint = f" with format {fmt!r}" if fmt else " (ISO dates like 2024-01-31; set columns.<name>.format otherwise)"
        raise DataError(f"{source}: column {series.name!r} is declared datetime but {bad!r} is not a date{hint}")
    return parsed


def _coerce_numeric(series: pd.Series, source: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(np.int64)
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series
    converted = pd.to_numeric(series, errors="coerce")
    bad_mask = converted.isna() & series.notna()
    if bad_mask.any():
        bad = series[bad_mask].iloc[0]
        raise DataError(f"{source}: column {series.name!r} is declared numeric but {bad!r} is not a number")
    return converted


def _first_bad(series: pd.Series, ok) -> object:
    for v in series.dropna():
        if not ok(v):
            return v
    return None


def _check_readable(series: pd.Series, source: str) -> None:
    """Reject columns holding values no column type can represent (lists, dicts, bytes...)."""
    if series.dtype != object:
        if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(series.dtype):
            return
        if (
            pd.api.types.is_numeric_dtype(series.dtype)
            or pd.api.types.is_bool_dtype(series.dtype)
            or pd.api.types.is_datetime64_any_dtype(series.dtype)
        ):
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                return
            if pd.api.types.is_complex_dtype(series.dtype):
                raise DataError(f"{source}: column {series.name!r} holds complex numbers, which cannot be modelled")
            return
        raise DataError(
            f"{source}: column {series.name!r} has type {series.dtype} which cannot be modelled; "
            "drop it (data.options.drop) or convert it"
        )
    for v in series.dropna().iloc[:10_000]:
        if not isinstance(v, (str, bool, int, float, np.generic)):
            raise DataError(
                f"{source}: column {series.name!r} holds a {type(v).__name__} value ({str(v)[:40]!r}); "
                "only numbers, text, booleans and dates can be modelled: drop it (data.options.drop) or flatten it"
            )
