"""Broken tables for the tabular plugin: CSV and Parquet byte corruption (truncation,
flipped bytes, NUL bytes, invalid UTF-8, a damaged magic number) and the quirks of real
files (duplicate column names, an all-NaN column, a single row, only a header, mixed
types, ragged rows, very wide tables and very long lines), read by ``train`` / ``run``
with the copula family (one epoch, closed form), and quirky synthetic tables scored by
``evaluate``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .gen_recipes import TABLE, output_path
from .harness import BROKEN, EITHER, VALID, Assets, Case
from .mutate import dump_yaml, flip_bytes, insert, invalid_utf8, pick, truncate

GROUP = "tables"


def base_frame(rng: np.random.Generator, rows: int | None = None) -> pd.DataFrame:
    """A small mixed table: floats with a few NaNs, integers, categories, booleans, dates."""
    rows = int(rng.integers(8, 41)) if rows is None else rows
    amount = rng.normal(50, 10, rows).round(2)
    amount[rng.random(rows) < 0.1] = np.nan
    return pd.DataFrame({
        "amount": amount,
        "count": rng.integers(0, 100, rows),
        "colour": rng.choice(["red", "green", "blue"], rows),
        "flag": rng.choice([True, False], rows),
        "day": pd.date_range("2024-01-01", periods=rows, freq="D").strftime("%Y-%m-%d"),
    })


def csv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode("utf-8")


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


@dataclass
class Table:
    """A mutated table file: its name and bytes, what the command must end with, and recipe changes."""

    name: str
    data: bytes
    expect: frozenset[int]
    what: str
    options: dict | None = None  # data.options to set
    evaluate: bool | None = None  # force evaluation on (the all-NaN column fails there) or off
    command: str | None = None


def _header_end(data: bytes) -> int:
    return data.index(b"\n") + 1


# ------------------------------------------------------------------------------ mutations


def csv_truncate(rng):
    data = csv_bytes(base_frame(rng))
    cut, where = truncate(rng, data, low=1)
    return Table("table.csv", cut, EITHER, f"CSV {where}")


def csv_empty(rng):
    data = pick(rng, [b"", b"\n", b"\n\n\n", b"   "])
    return Table("table.csv", data, BROKEN, f"CSV file of {data!r}")


def csv_flip(rng):
    data, where = flip_bytes(rng, csv_bytes(base_frame(rng)))
    return Table("table.csv", data, EITHER, f"CSV {where}")


def csv_nul(rng):
    data = csv_bytes(base_frame(rng))
    broken, where = insert(rng, data, b"\x00" * int(rng.integers(1, 5)))
    return Table("table.csv", broken, EITHER, f"CSV with NUL bytes: {where}")


def csv_invalid_utf8(rng):
    data = csv_bytes(base_frame(rng))
    broken, where = invalid_utf8(rng, data, start=_header_end(data))
    return Table("table.csv", broken, BROKEN, f"CSV not UTF-8: {where}")


def duplicate_columns(rng):
    frame = base_frame(rng)
    dup = pick(rng, list(frame.columns))
    text = csv_bytes(frame).decode()
    header, rest = text.split("\n", 1)
    names = header.split(",")
    names[int(rng.integers(len(names)))] = dup
    if names.count(dup) < 2:
        names[0 if names[0] != dup else 1] = dup
    data = (",".join(names) + "\n" + rest).encode()
    if rng.random() < 0.3:
        return Table("table.csv", data, VALID, f"header names {dup!r} twice, duplicate_columns: rename", {"duplicate_columns": "rename"})
    return Table("table.csv", data, BROKEN, f"header names {dup!r} twice")


def all_nan_column(rng):
    frame = base_frame(rng)
    frame.insert(int(rng.integers(0, len(frame.columns) + 1)), "empty", np.nan)
    return Table("table.csv", csv_bytes(frame), VALID, "an all-NaN column (run with evaluation)", evaluate=True, command="run")


def single_row(rng):
    return Table("table.csv", csv_bytes(base_frame(rng, rows=1)), EITHER, "a single data row")


def header_only(rng):
    data = csv_bytes(base_frame(rng))
    return Table("table.csv", data[: _header_end(data)], BROKEN, "only a header line")


def mixed_types(rng):
    frame = base_frame(rng)
    col = pick(rng, ["amount", "count"])
    values = frame[col].astype(object)
    for i in rng.choice(len(frame), size=max(1, len(frame) // 4), replace=False):
        values.iloc[int(i)] = pick(rng, ["n/a", "twelve", "?", "1,5", "-"])
    frame[col] = values
    return Table("table.csv", csv_bytes(frame), VALID, f"numbers and text mixed in {col!r}")


def ragged_rows(rng):
    data = csv_bytes(base_frame(rng))
    lines = data.split(b"\n")
    i = int(rng.integers(1, max(2, len(lines) - 1)))
    lines[i] = lines[i] + b",extra,fields"
    return Table("table.csv", b"\n".join(lines), BROKEN, f"row {i} has two fields too many")


def wide(rng):
    rows = int(rng.integers(10, 30))
    width = int(rng.integers(100, 301))
    frame = pd.DataFrame(rng.normal(size=(rows, width)).round(3), columns=[f"c{i}" for i in range(width)])
    return Table("table.csv", csv_bytes(frame), VALID, f"{width} columns x {rows} rows", evaluate=False)


def long_lines(rng):
    frame = base_frame(rng)
    size = int(rng.integers(50_000, 1_000_000))
    frame["note"] = ["word " * (size // 5) if i == 0 else f"short {i}" for i in range(len(frame))]
    return Table("table.csv", csv_bytes(frame), VALID, f"a {size:,}-character cell", evaluate=False)


def excel_habits(rng):
    """What spreadsheets write: a byte-order mark, CRLF line ends, quoted newlines."""
    frame = base_frame(rng)
    frame["colour"] = frame["colour"].where(rng.random(len(frame)) < 0.7, "dark\nred")
    text = frame.to_csv(index=False, lineterminator="\r\n")
    return Table("table.csv", b"\xef\xbb\xbf" + text.encode(), VALID, "BOM, CRLF and a quoted newline")


def garbage(rng):
    data = rng.integers(0, 256, int(rng.integers(1, 4000)), dtype=np.uint8).tobytes()
    return Table(pick(rng, ["table.csv", "table.parquet"]), data, EITHER, f"{len(data)} random bytes")


def parquet_truncate(rng):
    data = parquet_bytes(base_frame(rng))
    cut, where = truncate(rng, data, low=0, high=len(data) - 8)  # the footer is cut
    return Table("table.parquet", cut, BROKEN, f"Parquet {where}")


def parquet_flip(rng):
    data, where = flip_bytes(rng, parquet_bytes(base_frame(rng)))
    return Table("table.parquet", data, EITHER, f"Parquet {where}")


def parquet_magic(rng):
    data = bytearray(parquet_bytes(base_frame(rng)))
    at = pick(rng, [0, len(data) - 4])
    data[at : at + 4] = b"PAR0"
    expect = EITHER if at == 0 else BROKEN  # readers start from the footer: the leading magic is not checked
    return Table("table.parquet", bytes(data), expect, f"Parquet magic number damaged at byte {at}")


def parquet_duplicate(rng):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = base_frame(rng)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    names = list(table.column_names)
    names[1] = names[0]
    buf = io.BytesIO()
    pq.write_table(table.rename_columns(names), buf)
    return Table("table.parquet", buf.getvalue(), BROKEN, f"Parquet with the field {names[0]!r} twice")


def parquet_valid(rng):
    return Table("table.parquet", parquet_bytes(base_frame(rng)), VALID, "a valid Parquet table")


def csv_valid(rng):
    return Table("table.csv", csv_bytes(base_frame(rng)), VALID, "a valid CSV table")


MUTATIONS = (
    csv_truncate, csv_empty, csv_flip, csv_nul, csv_invalid_utf8, duplicate_columns, all_nan_column,
    single_row, header_only, mixed_types, ragged_rows, wide, long_lines, excel_habits, garbage,
    parquet_truncate, parquet_flip, parquet_magic, parquet_duplicate, parquet_valid, csv_valid,
)


# ------------------------------------------------------------------------ synthetic tables


def synthetic_quirks(rng, box: Path, index: int) -> Case:
    """``evaluate --recipe R --synthetic S``: a synthetic table that does not match the
    real one's schema (text in a numeric column, an extra or a missing column, an unseen
    category) is refused or scored with warnings, never a crash."""
    inputs = box / "inputs"
    real = base_frame(rng, rows=30)
    (inputs / "table.csv").write_bytes(csv_bytes(real))
    synthetic = base_frame(rng, rows=int(rng.integers(1, 30)))
    how = pick(rng, ["text in a numeric column", "an extra column", "a missing column", "an unseen category", "all NaN", "corrupt bytes"])
    data = None
    if how == "text in a numeric column":
        synthetic["amount"] = synthetic["amount"].astype(object)
        synthetic.loc[0, "amount"] = "lots"
    elif how == "an extra column":
        synthetic["bonus"] = 1
    elif how == "a missing column":
        synthetic = synthetic.drop(columns=[pick(rng, list(synthetic.columns))])
    elif how == "an unseen category":
        synthetic.loc[0, "colour"] = "ultraviolet"
    elif how == "all NaN":
        synthetic = pd.DataFrame(np.nan, index=synthetic.index, columns=synthetic.columns)
    else:
        data, _ = flip_bytes(rng, csv_bytes(synthetic))
    (inputs / "synthetic.csv").write_bytes(data if data is not None else csv_bytes(synthetic))
    doc = copy.deepcopy(TABLE)
    doc["evaluate"] = {"enabled": True, "holdout": 0.2, "options": {"report_html": bool(rng.random() < 0.3)}}
    recipe = inputs / "recipe.yaml"
    recipe.write_text(dump_yaml(doc), encoding="utf-8")
    out, state = output_path(rng, box)
    args = ["evaluate", "--recipe", str(recipe), "--synthetic", str(inputs / "synthetic.csv"), "--out", str(out)]
    return Case(GROUP, index, "synthetic_quirks", f"synthetic table with {how} ({state})", args, EITHER, "evaluate", out, ("synthetic.csv",), box)


def make_case(index: int, rng: np.random.Generator, box: Path, assets: Assets) -> Case:
    """Table case ``index``: a mutated table read by ``train`` or ``run`` (copula, one epoch)."""
    mutations = (*MUTATIONS, synthetic_quirks)
    mutation = mutations[index % len(mutations)]
    inputs = box / "inputs"
    inputs.mkdir()
    if mutation is synthetic_quirks:
        return synthetic_quirks(rng, box, index)
    table = mutation(rng)
    (inputs / table.name).write_bytes(table.data)
    doc = copy.deepcopy(TABLE)
    doc["seed"] = int(rng.integers(0, 1000))
    doc["data"]["source"] = table.name
    doc["data"]["options"].update(table.options or {})
    evaluate = table.evaluate if table.evaluate is not None else bool(rng.random() < 0.3)
    doc["evaluate"] = {"enabled": evaluate, "holdout": 0.2, "options": {"report_html": bool(rng.random() < 0.5)}}
    recipe = inputs / "recipe.yaml"
    recipe.write_text(dump_yaml(doc), encoding="utf-8")
    command = table.command or pick(rng, ["train", "run"])
    if command == "train":
        out, state = output_path(rng, box, ("absent", "parents"))
        args = ["train", str(recipe), "--bundle", str(out)]
    else:
        out, state = output_path(rng, box)
        args = ["run", str(recipe), "--out", str(out)]
    return Case(GROUP, index, mutation.__name__, f"{table.what} ({state})", args, table.expect, command, out, (table.name,), box)
