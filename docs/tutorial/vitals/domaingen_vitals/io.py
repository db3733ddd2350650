"""Reading and writing series as JSON Lines: one ``{"heart_rate": [...], "systolic": [...]}``
object per line, the readings as numbers (bpm, mmHg), both lists of one length.

``write`` goes through ``domaingen.files.atomic_path``: the file appears complete or not
at all, even if the process dies half-way. ``read`` names the file and line of anything it
cannot use, as a ``DataError`` (exit code 2, no traceback).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from domaingen.errors import DataError
from domaingen.files import atomic_path

from .codec import SIGNALS

__all__ = ["write_jsonl", "read_jsonl"]


def write_jsonl(records: list[dict], path: Path) -> Path:
    """Write ``records`` to ``path`` (complete or absent); returns it."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for series in records:
                fh.write(json.dumps({s: series[s] for s in SIGNALS}) + "\n")
    return path


def read_jsonl(paths: list[Path]) -> list[dict]:
    """The series of every file in ``paths``, in order."""
    records = []
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: cannot be read as UTF-8 text ({exc}); give a JSONL file") from None
        for number, line in enumerate(lines, start=1):
            if line.strip():
                records.append(_series(line, path, number))
    return records


# --8<-- [start:series]
def _series(line: str, path: Path, number: int) -> dict:
    """The series of one JSONL line, checked: both signals, finite numbers, one length."""
    where = f"{path}, line {number}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON ({exc.msg}); give one series object a line") from None
    if not isinstance(item, dict) or any(not isinstance(item.get(s), list) for s in SIGNALS):
        raise DataError(f"{where}: expected an object with the lists {' and '.join(SIGNALS)}")
    for signal in SIGNALS:
        if not all(_is_number(v) for v in item[signal]):
            raise DataError(f"{where}: {signal} holds a missing value or one that is not a number")
    if len({len(item[s]) for s in SIGNALS}) != 1:
        raise DataError(f"{where}: {' and '.join(SIGNALS)} have different numbers of readings")
    return {s: item[s] for s in SIGNALS}


def _is_number(value) -> bool:
    """A finite int or float (JSON's true/false and null are not readings)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
# --8<-- [end:series]
