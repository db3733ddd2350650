"""Writing and reading generated tables: CSV (ISO dates) and Parquet (dtypes kept)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from domaingen.errors import DataError, UsageError
from domaingen.files import atomic_path

from .loading import read_file

__all__ = ["write_table", "read_tables", "FORMATS"]

FORMATS = ("csv", "parquet")


def write_table(frame: pd.DataFrame, stem: Path, fmt: str) -> list[Path]:
    """Write ``frame`` to ``stem.<fmt>`` atomically; return the path in a list."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown table format {fmt!r}; use one of {FORMATS}")
    target = Path(stem).with_suffix("." + fmt)
    with atomic_path(target) as tmp:
        if fmt == "csv":
            frame.to_csv(tmp, index=False, date_format=None)
        else:
            frame.to_parquet(tmp, index=False, engine="pyarrow")
    return [target]


def read_tables(paths: list[Path]) -> pd.DataFrame:
    """Read and concatenate shards written by ``write_table`` (any mix of formats)."""
    if not paths:
        raise DataError("no table files to read")
    frames = [read_file(Path(p)) for p in paths]
    return pd.concat(frames, ignore_index=True)
