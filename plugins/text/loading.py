"""Reading texts: ``.txt`` / ``.md`` / ``.jsonl`` files, folders of them, Python's help topics and docstrings.

Sources (``data.source`` in a recipe):

- a ``.txt`` or ``.md`` file (one document), or a ``.jsonl`` file: one JSON object per line
  with a ``text`` string (one document each) and optional ``label``, ``question`` and
  ``answer``; blank lines are skipped. Under ``records: qa`` with ``qa_from: fields`` every
  object needs ``question`` and ``answer`` strings instead (``text`` is then optional and unused).
- a folder (relative to the recipe's folder, or absolute): every ``.txt``, ``.md`` and
  ``.jsonl`` file below it, in sorted path order; hidden files and folders (a leading ``.``)
  and other suffixes are ignored.
- ``pydoc:topics``: the language reference's help topics shipped with Python
  (``pydoc_data.topics.topics``); one document per topic, in sorted topic order.
- ``stdlib:docstrings``: the module, class and function docstrings of the running Python's
  standard library, read with ``ast`` from its source files (nothing is imported), in
  sorted file order, test suites (``test/``, ``tests/``, ``idle_test/``, ``test_*.py``) and
  ``site-packages`` skipped; one document per docstring (``inspect.cleandoc``-ed).

Every file is UTF-8 (a UTF-8 byte-order mark is dropped); ``\\r\\n`` and ``\\r`` become
``\\n`` and nothing else is changed (tabs, unicode, trailing spaces stay). Records lose
leading and trailing blank lines; their inside is kept exactly.

``records: text`` cuts each document by ``split``:

- ``headings``: a record per section, from a heading to the next one (text before the first
  heading is a record of its own). Headings are Markdown ``#`` lines and underlined (or
  over- and underlined) titles as in reStructuredText and Markdown setext (``===``,
  ``---``, ``~~~`` ...), never inside fenced code. A pydoc topic or a docstring stays whole.
- ``paragraphs``: blank-line separated blocks. A blank line inside a fenced code block
  (````` ``` ````` or ``~~~``) does not split it, and a block that starts with a fence or is
  indented deeper than the paragraph before it (an indented code block, a literal block, a
  list item's continuation) stays with that paragraph.
- ``window``: pieces of at most ``window_chars`` characters, cut at the last whitespace in
  the second half of the window when there is one (else exactly at ``window_chars``);
  whitespace at the cuts is dropped.
- ``document``: the whole document.

``records: qa`` makes question-answer items instead (``split`` does not apply); each has
``question`` and ``answer`` set and ``text = "Q: <question>\\nA: <answer>"``:

- ``fields``: a ``.jsonl`` object's ``question`` and ``answer``.
- ``definitions``: for every heading followed by prose, ``"What is <heading>?"`` and the
  first sentence of the first prose paragraph of its section (a pydoc topic's heading is
  its name and a docstring's its dotted name, e.g. ``json.dumps``).
- ``cloze``: every prose sentence of 4+ words (at most 400 characters) with a key term:
  its first ```code``` span, else its longest word of 6+ letters that is not a stop word
  (the first of equals); the question is the sentence with the term replaced by ``____``,
  the answer is the term.

Prose paragraphs exclude headings, code (fenced, indented, ``>>>`` doctests) and
``..``-directive or table blocks; sentences are read with whitespace collapsed to single
spaces and end at ``.``, ``!`` or ``?`` before a capital, a digit, a quote or bracket, or the
end (after ``e.g.``, ``i.e.``, ``etc.`` and a few other abbreviations they do not end).

Labels (``label_from``): ``none``; ``heading`` (the section heading above the record, None
before the first, or under ``split: document`` the document's first heading; a pydoc
topic's name; a docstring's dotted name); ``file`` (the file's path relative to a folder
source, or its name; pydoc: the topic name; stdlib: the top-level package); ``topic`` (the
first name below a folder source, the file's stem for a file at its top or a single file;
pydoc: the topic name; stdlib: the top-level package); ``field`` (``label_field`` of a
``.jsonl`` object: a string, a number or boolean as text, or None when absent; refused for
sources that are not ``.jsonl``).

``min_chars`` drops shorter records (after rendering, for qa items); ``max_records`` keeps
the first records in source order and stops reading there, so files after that point are
not opened. Bad input is a ``DataError`` naming the file (with the line, or the byte offset
for invalid UTF-8) and the fix; sizes are checked with ``os.stat`` before reading.
"""

from __future__ import annotations

import ast
import bisect
import codecs
import inspect
import json
import os
import re
import sysconfig
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from domaingen.errors import DataError

from .options import MAX_BYTES_LIMIT, TextDataOptions
from .records import TextRecord, qa_text

__all__ = [
    "load_texts",
    "read_text",
    "split_text",
    "TEXT_SUFFIXES",
    "EMBEDDED_SOURCES",
    "MAX_FILES",
    "SNIFF_BYTES",
]

TEXT_SUFFIXES = (".txt", ".md", ".jsonl")
EMBEDDED_SOURCES = ("pydoc:topics", "stdlib:docstrings")
MAX_FILES = 100_000  # text files one folder source may hold; more is not a corpus but a mistake
SNIFF_BYTES = 8192  # bytes looked at to tell a binary file from text
MAX_CONTROL_SHARE = 0.1  # a larger share of control bytes in the first SNIFF_BYTES: binary
CLOZE_MIN_WORDS = 4
CLOZE_MAX_CHARS = 400
_SUFFIX_TEXT = ".txt, .md or .jsonl"
_EMBEDDED_TEXT = ", ".join(EMBEDDED_SOURCES)
_STDLIB_SKIP_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})
_TEXT_CONTROLS = frozenset(b"\t\n\x0b\x0c\r\x1b")
_CONTROL_BYTES = bytes(b for b in [*range(32), 127] if b not in _TEXT_CONTROLS)
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL_BYTES)

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t](.*))?$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})(.*)$")
_UNDERLINE = re.compile(r"([=\-~^\"'*+:._#])\1{2,}[ \t]*$")
_NON_SPACE = re.compile(r"\S")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<![.!?])[.!?]+[\"')\]]*(?= |$)")  # from a run's start only: linear
_CODE_SPAN = re.compile(r"``([^`]{1,80}?)``|`([^`]{1,80})`")
_WORD = re.compile(r"(?<!\w)[^\W\d_]{6,}(?!\w)")
_NOT_PROSE = (">>>", "..", "|", "+-", "+=", "<")
_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. cf. vs. viz. al. approx. mr. mrs. ms. dr. st. no. fig. eq. sec. ch. vol. p. pp.".split()
)
_STOP_WORDS = frozenset(
    """
    about above across actually after afterwards again against almost already although always among
    amongst another anybody anyone anything anyway anywhere around became because become becomes
    becoming before beforehand behind being below beneath beside besides between beyond cannot
    certain certainly could couldn doesn during either else elsewhere enough especially every
    everybody everyone everything everywhere except fairly following follows former formerly
    further furthermore generally having hence herein hereby herself himself however indeed instead
    itself latter latterly likely little mainly making merely might mostly moreover myself namely
    neither nevertheless nobody nonetheless nothing nowhere often otherwise ourselves overall perhaps
    possible possibly quite rather really regarding seeing seemed seeming seems several should
    shouldn simply since something sometime sometimes somewhat somewhere still themselves thence
    thereafter thereby therefore therein thereof thereupon these those though through throughout
    thus together toward towards typically unless unlike unlikely until upon usually various very
    whatever whenever where whereas whereby wherein whereupon wherever whether which while whither
    whoever whole whom whose within without would wouldn yourself yourselves
    """.split()
)


@dataclass(frozen=True)
class _Document:
    """One document and what its records inherit: ``where`` (prefix of ``TextRecord.source``),
    ``line`` (the file line of the text's first line; None for a ``.jsonl`` object, whose
    ``where`` already ends in its line), labels, ``title`` (the heading of the whole document:
    a pydoc topic's name, a docstring's dotted name) and a ``.jsonl`` object's question / answer."""

    text: str
    where: str
    line: int | None
    file_label: str | None
    topic_label: str | None
    title: str | None = None
    field_label: str | None = None
    qa: tuple[str, str] | None = None


@dataclass(frozen=True)
class _Layout:
    """A document's lines, which of them are fenced code, its headings (first line, end, title),
    their first lines, and which lines belong to a heading."""

    lines: list[str]
    code: list[bool]
    headings: list[tuple[int, int, str]]
    starts: list[int]
    in_heading: list[bool]

    def heading_at(self, line: int) -> str | None:
        """The title of the last heading starting at or before ``line``."""
        k = bisect.bisect_right(self.starts, line) - 1
        return self.headings[k][2] if k >= 0 else None


# --------------------------------------------------------------------------- entry points


def load_texts(source: str, options: TextDataOptions, base_dir: Path) -> list[TextRecord]:
    """The records of ``source`` (see module doc), cut and labelled per ``options``."""
    documents, name = _documents(source, options, Path(base_dir))
    records: list[TextRecord] = []
    for doc in documents:
        made = _qa_records(doc, options) if options.records == "qa" else _text_records(doc, options)
        for record in made:
            if len(record.text) < options.min_chars:
                continue
            records.append(record)
            if options.max_records is not None and len(records) >= options.max_records:
                return records
    if not records:
        raise _nothing_found(name, options)
    return records


def read_text(path: Path, options: TextDataOptions, name: str | None = None) -> str:
    """The text of one file: size checked with ``os.stat`` first (``max_bytes``), refused when
    empty or binary, decoded as UTF-8 per ``encoding_errors``, line endings made ``\\n``."""
    label = name or str(path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DataError(f"{label}: cannot read the file ({exc.strerror or exc}): check it exists and is "
                        "readable") from None
    if size > options.max_bytes:
        raise _too_big(label, size, options.max_bytes, "the file is")
    try:
        with open(path, "rb") as fh:
            raw = fh.read(options.max_bytes + 1)
    except OSError as exc:
        raise DataError(f"{label}: cannot read the file ({exc.strerror or exc}): check it is readable") from None
    if len(raw) > options.max_bytes:  # it grew after the stat
        raise _too_big(label, len(raw), options.max_bytes, "the file is")
    return _decode(raw, label, options.encoding_errors)


def split_text(text: str, split: str, window_chars: int = 1000) -> list[str]:
    """``text`` (with ``\\n`` line endings) cut into pieces by ``split`` as ``load_texts`` does."""
    if split == "window":
        return [piece for _, piece in _windows(text, window_chars)]
    layout = _layout(text)
    return [piece for _, piece, _ in _pieces(layout, split, whole=False)]


# --------------------------------------------------------------------------- decoding


def _decode(raw: bytes, label: str, errors: str) -> str:
    """UTF-8 bytes of a text file as ``str`` with ``\\n`` line endings (see ``read_text``)."""
    if raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DataError(f"{label}: the file is UTF-16 or UTF-32 (it starts with a byte-order mark): re-save it "
                        "as UTF-8")
    bom = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    body = raw[bom:]
    if not body.strip():
        raise _empty(label)
    _check_not_binary(body[:SNIFF_BYTES], label)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        if errors != "replace":
            offset = bom + exc.start
            line = raw.count(b"\n", 0, offset) + 1
            raise DataError(
                f"{label}: not valid UTF-8: byte 0x{raw[offset]:02x} at byte offset {offset} (line {line}) "
                f"({exc.reason}): re-save the file as UTF-8, or set data.options.encoding_errors: replace "
                "to read invalid bytes as U+FFFD"
            ) from None
        text = body.decode("utf-8", errors="replace")
    text = _newlines(text)
    if not text.strip():
        raise _empty(label)
    return text


def _check_not_binary(sample: bytes, label: str) -> None:
    """Refuse a file whose first bytes hold a NUL or a high share of control characters."""
    if b"\x00" in sample:
        why = f"it has NUL bytes in its first {SNIFF_BYTES // 1024} KiB"
    elif len(sample.translate(None, _NOT_CONTROL)) > MAX_CONTROL_SHARE * len(sample):
        why = f"more than {MAX_CONTROL_SHARE:.0%} of its first {SNIFF_BYTES // 1024} KiB are control characters"
    else:
        return
    raise DataError(
        f"{label}: this is a binary file, not text ({why}): remove it from the source or replace it with "
        "its text as UTF-8 (a UTF-16 file must be re-saved as UTF-8)"
    )


def _newlines(text: str) -> str:
    """``\\r\\n`` and lone ``\\r`` as ``\\n``."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _empty(label: str) -> DataError:
    return DataError(f"{label}: the file is empty (no text, or only whitespace): add text to it or remove it")


def _too_big(label: str, size: int, limit: int, what: str) -> DataError:
    return DataError(
        f"{label}: {what} {size:,} bytes, more than data.options.max_bytes ({limit:,}): raise max_bytes "
        f"(at most {MAX_BYTES_LIMIT:,}) or point data.source at less text"
    )


# --------------------------------------------------------------------------- sources


def _documents(source: str, options: TextDataOptions, base_dir: Path) -> tuple[Iterator[_Document], str]:
    """The documents of ``source`` (lazily) and its name for messages."""
    if source.startswith(("pydoc:", "stdlib:")):
        if source not in EMBEDDED_SOURCES:
            raise DataError(
                f"unknown embedded text source {source!r}: use one of {_EMBEDDED_TEXT}, a {_SUFFIX_TEXT} "
                "file or a folder of them"
            )
        _refuse_jsonl_options(source, options)
        return (_pydoc_documents() if source == "pydoc:topics" else _stdlib_documents()), source
    path = _resolve(source, base_dir)
    if path.is_dir():
        files = _list_folder(path)
        total = sum(_size(p) for p in files)
        if total > options.max_bytes:
            raise _too_big(str(path), total, options.max_bytes, f"the folder's {len(files)} text files hold")
        docs = (
            doc
            for p in files
            for doc in _file_documents(p, p.relative_to(path).as_posix(), options)
        )
        return docs, str(path)
    if not path.is_file():
        raise DataError(f"text source {path} is not a regular file or a folder: point data.source at a "
                        f"{_SUFFIX_TEXT} file or a folder of them")
    if path.suffix.lower() not in TEXT_SUFFIXES:
        raise DataError(f"text source {path} is not a {_SUFFIX_TEXT} file: convert it to one of those, or "
                        f"point data.source at a folder of them or at one of {_EMBEDDED_TEXT}")
    return _file_documents(path, path.name, options), str(path)


def _resolve(source: str, base_dir: Path) -> Path:
    """``source`` as a path (relative to ``base_dir``) that must exist."""
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if not path.exists():
        raise DataError(
            f"text source {path} does not exist: give a {_SUFFIX_TEXT} file, a folder of them, or one of "
            f"{_EMBEDDED_TEXT} (relative paths are read from the recipe's folder)"
        )
    return path


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc}): check it is readable") from None


def _list_folder(root: Path) -> list[Path]:
    """The text files below ``root`` in sorted path order (hidden entries skipped, symlink loops
    visited once); a ``DataError`` when there are none."""
    found: list[Path] = []
    others: list[str] = []
    seen: set[tuple[int, int]] = set()

    def visit(folder: Path) -> None:
        try:
            stat = folder.stat()
        except OSError:
            return
        if (stat.st_dev, stat.st_ino) in seen:
            return
        seen.add((stat.st_dev, stat.st_ino))
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc}): check it is readable") from None
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                visit(Path(entry.path))
            elif entry.is_file():
                if os.path.splitext(entry.name)[1].lower() in TEXT_SUFFIXES:
                    found.append(Path(entry.path))
                    if len(found) > MAX_FILES:
                        raise DataError(f"{root}: more than {MAX_FILES:,} text files: point data.source at a "
                                        "smaller folder")
                elif len(others) < 3:
                    others.append(Path(entry.path).relative_to(root).as_posix())

    visit(root)
    if not found:
        if others:
            raise DataError(f"{root}: no {_SUFFIX_TEXT} files in the folder or its sub-folders (other files, "
                            f"such as {', '.join(others)}, are ignored): add text files or convert them")
        raise DataError(f"{root}: the folder has no {_SUFFIX_TEXT} files (it is empty, or holds only hidden "
                        "files or empty folders): put text files in it")
    return found


def _refuse_jsonl_options(where: str, options: TextDataOptions) -> None:
    """Refuse the options that read ``.jsonl`` fields for a source that is not ``.jsonl``."""
    if options.records == "qa" and options.qa_from == "fields":
        raise DataError(
            f"{where}: records: qa with qa_from: fields reads question and answer from .jsonl objects, and "
            "this is not a .jsonl file: set data.options.qa_from to definitions or cloze, or give .jsonl data"
        )
    if options.label_from == "field":
        raise DataError(
            f"{where}: label_from: field reads labels from .jsonl objects, and this is not a .jsonl file: set "
            "data.options.label_from to heading, file, topic or none, or give .jsonl data"
        )


def _file_documents(path: Path, rel: str, options: TextDataOptions) -> Iterator[_Document]:
    """The documents of one file; ``rel`` is its name in record sources and labels."""
    suffix = path.suffix.lower()
    if suffix != ".jsonl":
        _refuse_jsonl_options(str(path), options)
    text = read_text(path, options)
    parts = rel.split("/")
    topic = parts[0] if len(parts) > 1 else Path(rel).stem
    if suffix != ".jsonl":
        yield _Document(text, rel, 1, rel, topic)
        return
    yield from _jsonl_documents(text, path, rel, topic, options)


def _jsonl_documents(text: str, path: Path, rel: str, topic: str, options: TextDataOptions) -> Iterator[_Document]:
    """One document per JSON object line of a ``.jsonl`` file (blank lines skipped)."""
    qa_fields = options.records == "qa" and options.qa_from == "fields"
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError) as exc:
            detail = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)[:80]
            raise DataError(f"{where}: not valid JSON ({detail}): fix or remove the line (a .jsonl file holds "
                            'one JSON object per line, such as {"text": "..."})') from None
        if not isinstance(obj, dict):
            raise DataError(f"{where}: the line is a JSON {_json_kind(obj)}, not an object: write one object "
                            'per line, such as {"text": "..."}')
        body = obj.get("text")
        if body is None and qa_fields:
            body = ""
        if not isinstance(body, str):
            raise DataError(f'{where}: the object has no "text" string ({_keys(obj)}): add "text": "..." to '
                            "every line")
        qa = None
        if qa_fields:
            question, answer = obj.get("question"), obj.get("answer")
            if not (isinstance(question, str) and question.strip() and isinstance(answer, str) and answer.strip()):
                raise DataError(
                    f'{where}: records: qa with qa_from: fields needs non-empty "question" and "answer" strings on '
                    f"every line ({_keys(obj)}): add them, or set data.options.qa_from to definitions or cloze"
                )
            qa = (_newlines(question), _newlines(answer))
        field = _field_label(obj, options.label_field, where) if options.label_from == "field" else None
        yield _Document(_newlines(body), f"{rel}:{lineno}", None, rel, topic, field_label=field, qa=qa)


def _field_label(obj: dict, key: str, where: str) -> str | None:
    """``obj[key]`` as a label: a string, a number or boolean as text, None when absent or null."""
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise DataError(f'{where}: the label field "{key}" is a JSON {_json_kind(value)}: make it a string '
                    "(or set data.options.label_field to another key)")


def _json_kind(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _keys(obj: dict) -> str:
    keys = sorted(str(k) for k in obj)
    return f"keys: {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}" if keys else "no keys"


def _pydoc_documents() -> Iterator[_Document]:
    """Python's help topics, one document per topic in sorted order, labelled with the topic."""
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise DataError("pydoc:topics needs the standard library's pydoc_data package, which this Python "
                        f"lacks: use another of {_EMBEDDED_TEXT} or a folder of text files") from None
    for name in sorted(topics):
        yield _Document(_newlines(topics[name]), f"pydoc:topics/{name}", 1, name, name, title=name)


def _stdlib_documents() -> Iterator[_Document]:
    """The standard library's docstrings, one document each, labelled with the top-level package."""
    root = sysconfig.get_paths()["stdlib"]
    found = _stdlib_docstrings(root)
    if not found:
        raise DataError(f"stdlib:docstrings found no Python source files with docstrings under {root} (this "
                        f"Python ships its standard library without .py files): use another of {_EMBEDDED_TEXT}")
    for rel, line, dotted, top, text in found:
        yield _Document(text, f"stdlib:docstrings/{rel}", line, top, top, title=dotted)


@lru_cache(maxsize=2)
def _stdlib_docstrings(root: str) -> tuple[tuple[str, int, str, str, str], ...]:
    """``(file, line, dotted name, top-level package, docstring)`` of every docstring under ``root``
    (kept in memory for the process; nothing is written)."""
    out: list[tuple[str, int, str, str, str]] = []
    for rel in _stdlib_files(Path(root)):
        try:
            tree = ast.parse((Path(root) / rel).read_bytes(), filename=rel)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            continue  # not readable as Python 3 source: not documentation we can use
        parts = rel[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        for line, dotted, text in _docstrings(tree, ".".join(parts)):
            out.append((rel, line, dotted, parts[0], text))
    return tuple(out)


def _stdlib_files(root: Path) -> list[str]:
    """``.py`` files below the stdlib folder, as sorted relative paths, test suites and site-packages left out."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _STDLIB_SKIP_DIRS]
        base = Path(folder).relative_to(root).as_posix()
        for name in files:
            if name.endswith(".py") and not name.startswith((".", "test_")):
                found.append(name if base == "." else f"{base}/{name}")
    return sorted(found, key=lambda rel: rel.split("/"))


def _docstrings(tree: ast.Module, module: str) -> list[tuple[int, str, str]]:
    """``(line, dotted name, cleaned docstring)`` of a module and the classes and functions in it,
    in source order (the line is where the cleaned text starts, approximately for escapes)."""
    found: list[tuple[int, str, str]] = []

    def take(node: ast.AST, name: str) -> None:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            raw = body[0].value.value
            if isinstance(raw, str) and raw.strip():
                lead = len(raw) - len(raw.lstrip(" \t\n"))
                found.append((body[0].lineno + raw.count("\n", 0, lead), name, inspect.cleandoc(raw)))

    def walk(statements: list[ast.stmt], prefix: str) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}.{node.name}"
                take(node, name)
                walk(node.body, name)
                continue
            for field in ("body", "orelse", "finalbody"):
                sub = getattr(node, field, None)
                if isinstance(sub, list):
                    walk(sub, prefix)
            for part in (*getattr(node, "handlers", ()), *getattr(node, "cases", ())):  # except, case
                walk(part.body, prefix)

    take(tree, module)
    walk(tree.body, module)
    return found


# --------------------------------------------------------------------------- layout


def _layout(text: str) -> _Layout:
    """``text``'s lines, fenced-code mask and headings (see module doc)."""
    lines = text.split("\n")
    n = len(lines)
    code = [False] * n
    headings: list[tuple[int, int, str]] = []
    i = 0
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        after_blank = i == 0 or not lines[i - 1].strip()
        if after_blank and i + 2 < n and _UNDERLINE.match(line) and _is_title(lines[i + 1]) \
                and lines[i + 2].rstrip() == line.rstrip():
            headings.append((i, i + 3, lines[i + 1].strip()))
            i += 3
            continue
        if after_blank and i + 1 < n and _is_title(line) and _underlines(lines[i + 1], line):
            headings.append((i, i + 2, line.strip()))
            i += 2
            continue
        title = _atx_title(line)
        if title:
            headings.append((i, i + 1, title))
            i += 1
            continue
        fence = _fence_open(line)
        if fence:
            end = i + 1
            while end < n and not _fence_closes(lines[end], fence):
                end += 1
            end = min(end + 1, n)
            code[i:end] = [True] * (end - i)
            i = end
            continue
        i += 1
    in_heading = [False] * n
    for first, end, _ in headings:
        in_heading[first:end] = [True] * (end - first)
    return _Layout(lines, code, headings, [h[0] for h in headings], in_heading)


def _atx_title(line: str) -> str | None:
    """The title of a Markdown ``#`` heading line (closing ``#``s removed), else None."""
    if "#" not in line[:4]:
        return None
    m = _ATX.match(line)
    if not m:
        return None
    title = (m.group(2) or "").strip()
    bare = title.rstrip("#")
    if bare != title and (not bare or bare[-1] in " \t"):
        title = bare.strip()
    return title or None


def _is_title(line: str) -> bool:
    """Whether ``line`` can be an underlined title: text indented at most 3 spaces, no fence or heading."""
    stripped = line.strip()
    return bool(stripped) and len(line) - len(line.lstrip(" ")) <= 3 and not line.startswith("\t") \
        and not _UNDERLINE.match(line) and _fence_open(line) is None and _atx_title(line) is None


def _underlines(under: str, title: str) -> bool:
    """Whether ``under`` underlines ``title``: ``===`` / ``---`` of 3+, other characters as long as the title."""
    if not _UNDERLINE.match(under):
        return False
    return under[0] in "=-" or len(under.rstrip()) >= len(title.strip())


def _fence_open(line: str) -> tuple[str, int] | None:
    """``(character, length)`` of a fenced-code opening line, else None."""
    if "`" not in line[:4] and "~" not in line[:4]:
        return None
    m = _FENCE.match(line)
    if not m or (m.group(1)[0] == "`" and "`" in m.group(2)):
        return None
    return m.group(1)[0], len(m.group(1))


def _fence_closes(line: str, fence: tuple[str, int]) -> bool:
    """Whether ``line`` closes a fence opened with ``fence``."""
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= fence[1] \
        and stripped == fence[0] * len(stripped)


def _blocks(layout: _Layout, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``[first, end)`` line ranges separated by blank lines outside fenced code."""
    end = len(layout.lines) if end is None else end
    blocks = []
    first = None
    for i in range(start, end):
        if not layout.code[i] and not layout.lines[i].strip():
            if first is not None:
                blocks.append((first, i))
                first = None
        elif first is None:
            first = i
    if first is not None:
        blocks.append((first, end))
    return blocks


def _indent(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())


def _paragraphs(layout: _Layout) -> list[tuple[int, int]]:
    """Blocks, a fenced or deeper-indented block joined to the paragraph before it."""
    groups: list[tuple[int, int]] = []
    for first, end in _blocks(layout):
        if groups and (layout.code[first] or _indent(layout.lines[first]) > _indent(layout.lines[groups[-1][0]])):
            groups[-1] = (groups[-1][0], end)
        else:
            groups.append((first, end))
    return groups


def _trimmed(lines: list[str], first: int, end: int) -> tuple[int, str] | None:
    """``lines[first:end]`` without blank lines at either end, as (first line, text); None if blank."""
    while first < end and not lines[first].strip():
        first += 1
    while end > first and not lines[end - 1].strip():
        end -= 1
    return (first, "\n".join(lines[first:end])) if first < end else None


def _pieces(layout: _Layout, split: str, whole: bool, title: str | None = None) -> list[tuple[int, str, str | None]]:
    """``(first line, text, heading)`` of each record of a document by ``split`` (not window);
    ``whole``: the document keeps together under ``headings`` (pydoc topics, docstrings)."""
    lines, n = layout.lines, len(layout.lines)
    if split == "document" or (split == "headings" and whole):
        ranges = [(0, n)]
    elif split == "headings":
        starts = [h[0] for h in layout.headings]
        ranges = [(a, b) for a, b in zip([0, *starts], [*starts, n]) if b > a]
    else:
        ranges = _paragraphs(layout)
    out = []
    for first, end in ranges:
        piece = _trimmed(lines, first, end)
        if piece is not None:
            heading = title if title is not None else layout.heading_at(piece[0])
            if split == "document" and title is None and layout.headings:
                heading = layout.headings[0][2]
            out.append((piece[0], piece[1], heading))
    return out


def _windows(text: str, size: int) -> list[tuple[int, str]]:
    """``(offset, piece)`` windows of at most ``size`` characters (see module doc)."""
    out = []
    start = _NON_SPACE.search(text)
    pos = start.start() if start else len(text)
    n = len(text)
    while pos < n:
        end = pos + size
        if end >= n:
            out.append((pos, text[pos:].rstrip()))
            break
        low = pos + size // 2
        cut = max(text.rfind(c, low, end + 1) for c in " \n\t")
        if cut <= pos:
            cut = end
        out.append((pos, text[pos:cut].rstrip()))
        nxt = _NON_SPACE.search(text, cut)
        pos = nxt.start() if nxt else n
    return out


# --------------------------------------------------------------------------- records


def _label(doc: _Document, heading: str | None, label_from: str) -> str | None:
    """A record's label per ``label_from`` (see module doc)."""
    if label_from == "heading":
        return doc.title if doc.title is not None else heading
    if label_from == "file":
        return doc.file_label
    if label_from == "topic":
        return doc.topic_label
    if label_from == "field":
        return doc.field_label
    return None


def _where(doc: _Document, line: int, part: int, parts: int) -> str:
    """``TextRecord.source`` of the record starting at ``line`` (0-based in the document)."""
    if doc.line is not None:
        return f"{doc.where}:{doc.line + line}"
    return doc.where if parts == 1 else f"{doc.where}#{part + 1}"


def _text_records(doc: _Document, options: TextDataOptions) -> list[TextRecord]:
    """The passages of one document by ``options.split``."""
    if not doc.text.strip():
        return []
    layout = _layout(doc.text)
    if options.split == "window":
        starts = [0]
        for line in layout.lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        pieces = []
        for offset, piece in _windows(doc.text, options.window_chars):
            line = bisect.bisect_right(starts, offset) - 1
            pieces.append((line, piece, doc.title if doc.title is not None else layout.heading_at(line)))
    else:
        pieces = _pieces(layout, options.split, whole=doc.title is not None, title=doc.title)
    return [
        TextRecord(text, _label(doc, heading, options.label_from), source=_where(doc, line, k, len(pieces)))
        for k, (line, text, heading) in enumerate(pieces)
    ]


def _qa_records(doc: _Document, options: TextDataOptions) -> list[TextRecord]:
    """The question-answer items of one document by ``options.qa_from``."""
    if options.qa_from == "fields":
        question, answer = doc.qa
        label = _label(doc, None, options.label_from)
        return [TextRecord(qa_text(question, answer), label, question, answer, _where(doc, 0, 0, 1))]
    if not doc.text.strip():
        return []
    layout = _layout(doc.text)
    items = _definitions(layout, doc.title) if options.qa_from == "definitions" else _clozes(layout, doc.title)
    return [
        TextRecord(qa_text(q, a), _label(doc, heading, options.label_from), q, a, _where(doc, line, k, len(items)))
        for k, (line, q, a, heading) in enumerate(items)
    ]


def _definitions(layout: _Layout, title: str | None) -> list[tuple[int, str, str, str]]:
    """``(line, question, answer, heading)``: each heading and the first sentence of its section."""
    n = len(layout.lines)
    if title is not None:
        start = 0
        opening = next((i for i, line in enumerate(layout.lines) if line.strip()), 0)
        if layout.headings and layout.headings[0][0] == opening:
            start = layout.headings[0][1]  # a pydoc topic's own title
        sections = [(start, n, title, 0)]
    else:
        bounds = [h[0] for h in layout.headings[1:]] + [n]
        sections = [(h[1], end, h[2], h[0]) for h, end in zip(layout.headings, bounds)]
    items = []
    for start, end, heading, line in sections:
        for first, block_end in _blocks(layout, start, end):
            prose = _prose(layout, first, block_end)
            if prose:
                sentences = _sentences(prose)
                if sentences and _has_letter(sentences[0]):
                    items.append((line, f"What is {heading}?", sentences[0], heading))
                break
    return items


def _clozes(layout: _Layout, title: str | None) -> list[tuple[int, str, str, str | None]]:
    """``(line, question, answer, heading)``: every prose sentence with a key term blanked."""
    items = []
    for first, end in _blocks(layout):
        prose = _prose(layout, first, end)
        if not prose:
            continue
        heading = title if title is not None else layout.heading_at(first)
        for sentence in _sentences(prose):
            cloze = _cloze(sentence)
            if cloze:
                items.append((first, cloze[0], cloze[1], heading))
    return items


def _prose(layout: _Layout, first: int, end: int) -> str:
    """The prose of the block ``[first, end)`` with whitespace collapsed; "" for code, headings,
    doctests, directives and tables. Text stops at a fence or a doctest line inside the block."""
    lines = layout.lines
    head = lines[first]
    if layout.code[first] or head[:1] in (" ", "\t") or head.lstrip().startswith(_NOT_PROSE):
        return ""
    kept = []
    for i in range(first, end):
        if layout.code[i] or lines[i].lstrip().startswith(">>>"):
            break
        if not layout.in_heading[i]:
            kept.append(lines[i])
    return _SPACES.sub(" ", " ".join(kept)).strip()


def _sentences(prose: str) -> list[str]:
    """``prose`` (single-spaced) cut into sentences (see module doc)."""
    out = []
    start = 0
    for m in _SENTENCE_END.finditer(prose):
        rest = prose[m.end():m.end() + 2].lstrip()
        if rest and not (rest[0].isupper() or rest[0].isdigit() or rest[0] in "\"'`([*"):
            continue
        words = prose[start:m.end()].split()
        last = words[-1].lower().strip("\"'()[]") if words else ""
        if last in _ABBREVIATIONS:
            continue
        sentence = prose[start:m.end()].strip()
        if sentence:
            out.append(sentence)
        start = m.end()
    tail = prose[start:].strip()
    if tail:
        out.append(tail)
    return out


def _cloze(sentence: str) -> tuple[str, str] | None:
    """``(question, answer)`` of a sentence with its key term blanked, or None (see module doc)."""
    if len(sentence) > CLOZE_MAX_CHARS or len(sentence.split()) < CLOZE_MIN_WORDS:
        return None
    for m in _CODE_SPAN.finditer(sentence):
        term = (m.group(1) or m.group(2)).strip()
        if _has_letter(term) or any(ch.isdigit() for ch in term):
            return sentence[:m.start()] + "____" + sentence[m.end():], term
    best = None
    for m in _WORD.finditer(sentence):
        if m.group().lower() not in _STOP_WORDS and (best is None or len(m.group()) > len(best.group())):
            best = m
    if best is None:
        return None
    return sentence[:best.start()] + "____" + sentence[best.end():], best.group()


def _has_letter(text: str) -> bool:
    return any(ch.isalpha() for ch in text)


def _nothing_found(name: str, options: TextDataOptions) -> DataError:
    """The error for a source that gave no records."""
    if options.records == "qa":
        how = {
            "fields": "no .jsonl objects with question and answer",
            "definitions": "definitions need headings (Markdown # lines or underlined titles) each followed by "
            "a prose sentence",
            "cloze": f"cloze needs prose sentences of {CLOZE_MIN_WORDS}+ words with a `code` span or a word of "
            "6+ letters",
        }[options.qa_from]
        return DataError(
            f"{name}: records: qa with qa_from: {options.qa_from} found no question-answer items"
            f"{'' if options.min_chars <= 1 else f' of at least {options.min_chars} characters'} ({how}): "
            "choose another qa_from, lower min_chars, or use records: text"
        )
    return DataError(
        f"{name}: no records of at least {options.min_chars} characters (the texts are blank or shorter): "
        "lower data.options.min_chars or add text"
    )
