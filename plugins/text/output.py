"""Writing generated text as ``.jsonl`` or ``.txt`` shards, and reading ``.jsonl`` back.

``.jsonl``: one object per line, ``{"text", "prompt", "label", "seed"}`` (plus ``question``
and ``answer`` for question-answer items), UTF-8, keys sorted; ``seed`` is the one the
record was drawn from (``domaingen sample --seed``). ``.txt``: the passages for
reading, separated by a line holding only ``---`` (a blank line would not do: passages
have paragraphs). Files appear complete or not at all. Reading a shard back checks its
size first (at most ``MAX_BYTES_LIMIT``) and refuses invalid UTF-8 naming the file and
the byte offset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from domaingen.errors import DataError
from domaingen.files import atomic_path

from .options import MAX_BYTES_LIMIT
from .records import TextRecord

__all__ = ["FORMATS", "write_texts", "read_texts", "read_shard", "TXT_SEPARATOR"]

FORMATS = ("jsonl", "txt")
TXT_SEPARATOR = "\n---\n"


def _line(record: TextRecord, prompt: str) -> str:
    item = {"text": record.text, "prompt": prompt, "label": record.label, "seed": record.seed}
    if record.is_qa:
        item.update(question=record.question, answer=record.answer)
    return json.dumps(item, ensure_ascii=False, sort_keys=True)


def write_texts(records: list[TextRecord], stem: Path, fmt: str, prompt: str = "") -> list[Path]:
    """One shard file ``stem.<fmt>``; returns its path."""
    path = Path(f"{stem}.{fmt}")
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            if fmt == "jsonl":
                fh.writelines(_line(r, prompt) + "\n" for r in records)
            else:
                fh.write(TXT_SEPARATOR.join(r.text for r in records) + ("\n" if records else ""))
    return [path]


def read_shard(path: Path, max_bytes: int = MAX_BYTES_LIMIT) -> str:
    """The UTF-8 text of one shard file, its size checked before reading; a ``DataError``
    naming the file (and the byte offset of invalid UTF-8) otherwise."""
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise DataError(f"{path}: the file is {size:,} bytes, more than {max_bytes:,}: this is not a shard "
                            "domaingen wrote; point --synthetic at the generated folder")
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc}): check it exists and is readable") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{path}: not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} (line {line}) "
            f"({exc.reason}): generated shards are UTF-8; regenerate the file or remove it"
        ) from None


def read_texts(paths: list[Path]) -> list[TextRecord]:
    """Records of ``.jsonl`` shards (``.txt`` shards are for reading: their passages only)."""
    out: list[TextRecord] = []
    for path in paths:
        path = Path(path)
        if path.suffix == ".txt":
            body = read_shard(path).replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as before
            out.extend(TextRecord(t) for t in body.rstrip("\n").split(TXT_SEPARATOR) if body)
            continue
        # one record a "\n"-ended line: str.splitlines would also cut at U+2028 or U+0085, which
        # json.dumps(ensure_ascii=False) leaves unescaped inside a record's text
        for number, line in enumerate(read_shard(path).split("\n"), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                out.append(TextRecord(item["text"], item.get("label"), item.get("question"), item.get("answer"),
                                      seed=item.get("seed")))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}:{number}: not a generated text record ({exc})") from None
    return out
