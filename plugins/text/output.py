"""Writing generated text as ``.jsonl`` or ``.txt`` shards, and reading ``.jsonl`` back.

``.jsonl``: one object per line, ``{"text", "prompt", "label", "seed"}`` (plus ``question``
and ``answer`` for question-answer items), UTF-8, keys sorted; ``seed`` is the one the
record was drawn from (``domaingen sample --seed``). ``.txt``: the passages for
reading, separated by a line holding only ``---`` (a blank line would not do: passages
have paragraphs). Files appear complete or not at all.
"""

from __future__ import annotations

import json
from pathlib import Path

from domaingen.errors import DataError
from domaingen.files import atomic_path

from .records import TextRecord

__all__ = ["FORMATS", "write_texts", "read_texts", "TXT_SEPARATOR"]

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


def read_texts(paths: list[Path]) -> list[TextRecord]:
    """Records of ``.jsonl`` shards (``.txt`` shards are for reading: their passages only)."""
    out: list[TextRecord] = []
    for path in paths:
        path = Path(path)
        if path.suffix == ".txt":
            body = path.read_text(encoding="utf-8")
            out.extend(TextRecord(t) for t in body.rstrip("\n").split(TXT_SEPARATOR) if body)
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                out.append(TextRecord(item["text"], item.get("label"), item.get("question"), item.get("answer"),
                                      seed=item.get("seed")))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
                raise DataError(f"{path}:{number}: not a generated text record ({exc})") from None
    return out
