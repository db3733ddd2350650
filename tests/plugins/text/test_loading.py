"""Reading texts: files, folders, .jsonl, pydoc topics, stdlib docstrings; splits, labels, qa, bad input.

Test data is written at test time with real files' quirks: CRLF and lone CR line endings,
fenced code with blank lines in it, reStructuredText underlines, a UTF-8 BOM, latin-1 bytes,
NUL bytes behind a ``.txt`` name, hidden files, a bad ``.jsonl`` line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from domaingen.errors import DataError
from domaingen_plugins.text.loading import SNIFF_BYTES, load_texts, read_text, split_text
from domaingen_plugins.text.options import MAX_BYTES_LIMIT, TextDataOptions
from domaingen_plugins.text.records import TextRecord, qa_text

GUIDE = """# Guide

Intro paragraph with a `code` span.

## Install

Run this:

```bash
pip install thing

pip check
```

After the fence.

    indented code

    more indented code

Closing words.
"""

RST = """Overview
========

The reader parses documents.

Details
-------

Underlined titles become headings.

***********
With overline
***********

Text under an overlined title.
"""


def opts(**kwargs) -> TextDataOptions:
    return TextDataOptions(**kwargs)


def write(path: Path, content: str | bytes) -> Path:
    """Write ``content`` (bytes as-is, str as UTF-8 without newline translation), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def load(path: Path, **kwargs) -> list[TextRecord]:
    return load_texts(str(path), opts(**kwargs), path.parent)


def jsonl(*objects) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A folder: two topics, Markdown and reStructuredText, CRLF, hidden and foreign files."""
    root = tmp_path / "corpus"
    write(root / "physics" / "guide.md", GUIDE)
    write(root / "physics" / "rst.txt", RST.replace("\n", "\r\n"))
    write(root / "biology" / "cells.md", "# Cells\n\nCells are the basic units of life.\n")
    write(root / "notes.txt", "Loose note at the top.\n")
    write(root / ".hidden.md", "# Hidden\n\nnever read\n")
    write(root / ".git" / "HEAD.txt", "never read\n")
    write(root / "physics" / "figure.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    return root


@pytest.fixture(scope="module")
def stdlib() -> tuple[list[TextRecord], float]:
    """``stdlib:docstrings`` as documents (loaded once per module) and the seconds it took."""
    start = time.perf_counter()
    records = load_texts("stdlib:docstrings", opts(split="document", label_from="topic"), Path("."))
    return records, time.perf_counter() - start


# --------------------------------------------------------------------------- files and folders


def test_folder_sorted_recursive_hidden_and_foreign_ignored(corpus):
    records = load(corpus, split="document", label_from="file")
    assert [r.label for r in records] == ["biology/cells.md", "notes.txt", "physics/guide.md", "physics/rst.txt"]
    assert [r.source for r in records] == [f"{r.label}:1" for r in records]
    assert not any("never read" in r.text for r in records)


def test_topic_and_file_labels(corpus, tmp_path):
    records = load(corpus, split="document", label_from="topic")
    assert [r.label for r in records] == ["biology", "notes", "physics", "physics"]
    single = load(corpus / "physics" / "guide.md", split="document", label_from="file")
    assert single[0].label == "guide.md" and single[0].source == "guide.md:1"
    assert load(corpus / "physics" / "guide.md", split="document", label_from="topic")[0].label == "guide"
    assert {r.label for r in load(corpus)} == {None}  # label_from defaults to none


def test_relative_source_reads_from_base_dir(corpus):
    rel = load_texts("corpus/physics", opts(), corpus.parent)
    absolute = load_texts(str(corpus / "physics"), opts(), Path("/nonexistent"))
    assert rel == absolute and rel


def test_headings_split_markdown_and_rst(corpus):
    guide = load(corpus / "physics" / "guide.md", split="headings", label_from="heading")
    assert [r.label for r in guide] == ["Guide", "Install"]
    assert guide[1].text.startswith("## Install\n\nRun this:") and guide[1].text.endswith("Closing words.")
    assert guide[1].source == "guide.md:5"
    rst = load(corpus / "physics" / "rst.txt", split="headings", label_from="heading")
    assert [r.label for r in rst] == ["Overview", "Details", "With overline"]
    assert rst[0].text == "Overview\n========\n\nThe reader parses documents."
    assert rst[2].source == "rst.txt:11"


def test_text_before_first_heading_is_its_own_record(tmp_path):
    path = write(tmp_path / "a.md", "Preamble line.\n\n# Title\n\nBody.\n")
    records = load(path, split="headings", label_from="heading")
    assert [(r.text, r.label) for r in records] == [("Preamble line.", None), ("# Title\n\nBody.", "Title")]


def test_heading_inside_fenced_code_is_not_a_heading(tmp_path):
    path = write(tmp_path / "a.md", "# Real\n\n```\n# not a heading\n\nx = 1\n```\n\nDone.\n")
    records = load(path, split="headings", label_from="heading")
    assert len(records) == 1 and records[0].label == "Real"


def test_paragraphs_keep_fenced_and_indented_code_with_their_paragraph(corpus):
    texts = [r.text for r in load(corpus / "physics" / "guide.md", label_from="heading")]
    assert texts[:3] == ["# Guide", "Intro paragraph with a `code` span.", "## Install"]
    assert "Run this:\n\n```bash\npip install thing\n\npip check\n```" in texts  # blank line inside the fence
    assert "After the fence.\n\n    indented code\n\n    more indented code" in texts
    assert texts[-1] == "Closing words."
    labels = {r.text: r.label for r in load(corpus / "physics" / "guide.md", label_from="heading")}
    assert labels["Closing words."] == "Install" and labels["Intro paragraph with a `code` span."] == "Guide"


def test_unclosed_fence_runs_to_the_end(tmp_path):
    path = write(tmp_path / "a.md", "Text.\n\n```\ncode\n\nstill code\n")
    assert [r.text for r in load(path)] == ["Text.\n\n```\ncode\n\nstill code"]


def test_window_split(tmp_path):
    words = " ".join(f"word{i}" for i in range(400))
    write(tmp_path / "w" / "a.txt", words + "\n")
    write(tmp_path / "w" / "b.txt", "\n\n" + "x" * 250 + "\n")
    records = load(tmp_path / "w", split="window", window_chars=100)
    assert all(0 < len(r.text) <= 100 for r in records)
    assert all(not r.text[0].isspace() and not r.text[-1].isspace() for r in records)
    word_windows = [r.text for r in records if r.source.startswith("a.txt")]
    assert all(len(w) > 50 for w in word_windows[:-1])  # cut in the second half of the window
    assert " ".join(word_windows).split() == words.split()  # cut only at whitespace, nothing lost
    assert [(r.text, r.source) for r in records if r.source.startswith("b.txt")] == [
        ("x" * 100, "b.txt:3"), ("x" * 100, "b.txt:3"), ("x" * 50, "b.txt:3")]  # no whitespace: hard cuts
    assert split_text(words, "window", 100) == word_windows


def test_document_split_and_line_endings_normalised_rest_kept(tmp_path):
    raw = "  first\tline  \r\nsecond ünïcode\rthird\r\n\r\n"
    records = load(write(tmp_path / "a.txt", raw), split="document")
    assert records == [TextRecord("  first\tline  \nsecond ünïcode\nthird", source="a.txt:1")]


def test_crlf_file_splits_like_lf(corpus, tmp_path):
    lf = write(tmp_path / "lf.txt", RST)
    assert [r.text for r in load(corpus / "physics" / "rst.txt")] == [r.text for r in load(lf)]


def test_min_chars_and_max_records(corpus, tmp_path):
    records = load(corpus / "physics" / "guide.md", min_chars=20)
    assert records and all(len(r.text) >= 20 for r in records)
    assert len(load(corpus, max_records=2)) == 2
    # reading stops at max_records: a broken file later in the order is never opened
    write(corpus / "zzz.txt", b"\x00\x01binary")
    assert len(load(corpus, max_records=3)) == 3
    with pytest.raises(DataError, match="zzz.txt"):
        load(corpus)


def test_utf8_bom_dropped(tmp_path):
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfHello.\n")
    assert load(path)[0].text == "Hello."


def test_split_text_public_helper():
    assert split_text("# A\n\none\n\n# B\n\ntwo\n", "headings") == ["# A\n\none", "# B\n\ntwo"]
    assert split_text("a\n\nb", "paragraphs") == ["a", "b"]


def test_determinism(corpus):
    for kwargs in ({}, {"split": "headings", "label_from": "heading"}, {"records": "qa", "qa_from": "cloze"}):
        assert load(corpus, **kwargs) == load(corpus, **kwargs)
    assert load_texts("pydoc:topics", opts(), Path(".")) == load_texts("pydoc:topics", opts(), Path("."))


# --------------------------------------------------------------------------- jsonl


def test_jsonl_records_labels_and_parts(tmp_path):
    path = write(tmp_path / "d.jsonl", jsonl(
        {"text": "First.", "label": "a"},
        "",
        {"text": "Two\r\n\r\nparagraphs", "label": 3},
        {"text": "No label."},
    ))
    records = load(path, label_from="field")
    assert [(r.text, r.label, r.source) for r in records] == [
        ("First.", "a", "d.jsonl:1"),
        ("Two", "3", "d.jsonl:3#1"),
        ("paragraphs", "3", "d.jsonl:3#2"),
        ("No label.", None, "d.jsonl:4"),
    ]
    assert [r.label for r in load(path, label_from="field", label_field="missing")] == [None] * 4
    assert all(r.question is None for r in records)


def test_jsonl_bad_line_names_file_and_line(tmp_path):
    path = write(tmp_path / "d.jsonl", jsonl({"text": "ok"}, {"text": "ok"}, '{"text": "broken'))
    with pytest.raises(DataError, match=r"d\.jsonl:3: not valid JSON"):
        load(path)
    with pytest.raises(DataError, match=r"e\.jsonl:2: the line is a JSON array, not an object"):
        load(write(tmp_path / "e.jsonl", jsonl({"text": "ok"}, [1, 2])))
    with pytest.raises(DataError, match=r'f\.jsonl:1: the object has no "text" string \(keys: body\)'):
        load(write(tmp_path / "f.jsonl", jsonl({"body": "x"})))
    with pytest.raises(DataError, match=r'g\.jsonl:1: the label field "label" is a JSON array'):
        load(write(tmp_path / "g.jsonl", jsonl({"text": "x", "label": []})), label_from="field")


def test_qa_fields(tmp_path):
    path = write(tmp_path / "qa.jsonl", jsonl(
        {"question": "What is 2+2?", "answer": "4", "label": "math"},
        {"text": "ignored", "question": "Capital of France?", "answer": "Paris"},
    ))
    records = load(path, records="qa", label_from="field")
    assert records[0] == TextRecord("Q: What is 2+2?\nA: 4", "math", "What is 2+2?", "4", "qa.jsonl:1")
    assert records[1].text == qa_text("Capital of France?", "Paris") and records[1].is_qa
    bad = write(tmp_path / "bad.jsonl", jsonl({"question": "Q?", "answer": "A"}, {"question": "only"}))
    with pytest.raises(DataError, match=r'bad\.jsonl:2: records: qa with qa_from: fields needs non-empty "question"'):
        load(bad, records="qa")


def test_options_that_need_jsonl_are_refused_elsewhere(corpus):
    with pytest.raises(DataError, match="label_from: field reads labels from .jsonl objects"):
        load(corpus, label_from="field")
    start = time.perf_counter()
    with pytest.raises(DataError, match="qa_from: fields reads question and answer from .jsonl"):
        load_texts("stdlib:docstrings", opts(records="qa"), Path("."))
    assert time.perf_counter() - start < 1  # refused before any source is parsed


# --------------------------------------------------------------------------- qa from text


def test_qa_definitions(corpus):
    records = load(corpus / "physics" / "rst.txt", records="qa", qa_from="definitions", label_from="heading")
    assert [(r.question, r.answer, r.label) for r in records] == [
        ("What is Overview?", "The reader parses documents.", "Overview"),
        ("What is Details?", "Underlined titles become headings.", "Details"),
        ("What is With overline?", "Text under an overlined title.", "With overline"),
    ]
    assert records[0].text == "Q: What is Overview?\nA: The reader parses documents."


def test_qa_definitions_first_sentence_only(tmp_path):
    path = write(tmp_path / "a.md", "# Entropy\n\n```\ncode first\n```\n\nEntropy measures disorder, e.g. in gases. "
                 "It grows.\nMore.\n\n# Empty\n\n    only code\n")
    records = load(path, records="qa", qa_from="definitions")
    assert [(r.question, r.answer) for r in records] == [
        ("What is Entropy?", "Entropy measures disorder, e.g. in gases.")]


def test_qa_cloze(tmp_path):
    path = write(tmp_path / "a.md", "# Py\n\nCall `len` to count the items. Photosynthesis converts light into "
                 "chemical energy.\nToo short here.\n\n```\nnot prose at all in this code block\n```\n")
    records = load(path, records="qa", qa_from="cloze", label_from="heading")
    assert [(r.question, r.answer, r.label) for r in records] == [
        ("Call ____ to count the items.", "len", "Py"),
        ("____ converts light into chemical energy.", "Photosynthesis", "Py"),
    ]
    assert records[1].text == "Q: ____ converts light into chemical energy.\nA: Photosynthesis"


def test_qa_with_nothing_derivable(tmp_path):
    path = write(tmp_path / "a.txt", "no headings here at all.\n")
    with pytest.raises(DataError, match="found no question-answer items"):
        load(path, records="qa", qa_from="definitions")
    with pytest.raises(DataError, match="qa_from: cloze found no question-answer items"):
        load(write(tmp_path / "b.txt", "Tiny bits.\n"), records="qa", qa_from="cloze")


# --------------------------------------------------------------------------- bad input


def test_invalid_utf8_names_byte_offset_and_replace(tmp_path):
    raw = "Caf".encode() + "é au lait\nligne deux".encode("latin-1")
    path = write(tmp_path / "latin.txt", raw)
    with pytest.raises(DataError) as info:
        load(path)
    message = str(info.value)
    assert "latin.txt" in message and "byte offset 3" in message and "0xe9" in message
    assert "encoding_errors: replace" in message
    assert load(path, split="document", encoding_errors="replace")[0].text == "Caf\ufffd au lait\nligne deux"
    later = write(tmp_path / "later.txt", b"line one\nline \xff two\n")
    with pytest.raises(DataError, match=r"byte offset 14 \(line 2\)"):
        load(later)
    bom = write(tmp_path / "bom.txt", b"\xef\xbb\xbfab\xc3")  # a truncated sequence after a BOM
    with pytest.raises(DataError, match="byte offset 5"):
        load(bom)


def test_binary_files_refused(tmp_path):
    with pytest.raises(DataError, match=r"nul\.txt: this is a binary file.*NUL bytes"):
        load(write(tmp_path / "nul.txt", b"text\x00\x00\x00more text"))
    with pytest.raises(DataError, match="control characters"):
        load(write(tmp_path / "ctl.txt", bytes(range(1, 9)) * 4 + b"some text"))
    late = write(tmp_path / "late.txt", b"a" * SNIFF_BYTES + b"\x00")  # past the sniffed bytes: decodes
    assert load(late, split="document")[0].text.endswith("\x00")
    with pytest.raises(DataError, match="UTF-16"):
        load(write(tmp_path / "u16.txt", "hello".encode("utf-16")))


def test_empty_inputs(tmp_path):
    with pytest.raises(DataError, match=r"empty\.txt: the file is empty"):
        load(write(tmp_path / "empty.txt", b""))
    with pytest.raises(DataError, match="the file is empty"):
        load(write(tmp_path / "blank.md", " \r\n\t\n"))
    with pytest.raises(DataError, match="the file is empty"):
        load(write(tmp_path / "blank.jsonl", "\n\n"))
    (tmp_path / "void").mkdir()
    with pytest.raises(DataError, match=r"void: the folder has no \.txt, \.md or \.jsonl files"):
        load(tmp_path / "void")
    write(tmp_path / "hidden" / ".secret.txt", "x\n")
    with pytest.raises(DataError, match="no .txt, .md or .jsonl files"):
        load(tmp_path / "hidden")
    write(tmp_path / "foreign" / "paper.pdf", b"%PDF")
    with pytest.raises(DataError, match=r"other files, such as paper\.pdf"):
        load(tmp_path / "foreign")
    with pytest.raises(DataError, match="no records of at least 50 characters"):
        load(write(tmp_path / "short.txt", "short\n"), min_chars=50)


def test_missing_unknown_and_unsupported_sources(tmp_path):
    with pytest.raises(DataError, match=r"nope\.md does not exist.*pydoc:topics, stdlib:docstrings"):
        load_texts("nope.md", opts(), tmp_path)
    for name in ("pydoc:keywords", "stdlib:modules"):
        with pytest.raises(DataError, match=r"unknown embedded text source.*pydoc:topics, stdlib:docstrings"):
            load_texts(name, opts(), tmp_path)
    with pytest.raises(DataError, match=r"a\.csv is not a \.txt, \.md or \.jsonl file"):
        load(write(tmp_path / "a.csv", "x,y\n"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(DataError, match="not a regular file"):
        load(tmp_path / "pipe.txt")
    write(tmp_path / "ok.txt", "fine\n")
    assert [r.text for r in load_texts(str(tmp_path), opts(), tmp_path)] == ["fine"]  # the pipe is skipped


def test_max_bytes_checked_before_reading(tmp_path, monkeypatch):
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(5_000_000)  # sparse: nothing to read if the size is checked first
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("the file was opened"))
    too_big = r"big\.txt: the file is 5,000,000 bytes, more than data\.options\.max_bytes \(1,000\)"
    with pytest.raises(DataError, match=too_big):
        read_text(big, opts(max_bytes=1000))
    monkeypatch.undo()
    folder = tmp_path / "folder"
    write(folder / "a.txt", "a" * 600)
    write(folder / "b.txt", "b" * 600)
    with pytest.raises(DataError, match="the folder's 2 text files hold 1,200 bytes"):
        load(folder, max_bytes=1000)
    with pytest.raises(ValidationError):
        opts(max_bytes=MAX_BYTES_LIMIT + 1)
    with pytest.raises(ValidationError):
        opts(window_chars=10**9)
    with pytest.raises(ValidationError):
        opts(splitt="paragraphs")


# --------------------------------------------------------------------------- embedded sources


def test_pydoc_topics():
    from pydoc_data.topics import topics

    records = load_texts("pydoc:topics", opts(split="headings", label_from="topic"), Path("."))
    assert len(records) > 50 and len(records) == len(topics)
    assert sum(len(r.text) for r in records) > 300_000
    assert [r.label for r in records] == sorted(topics)
    assert records[0].source == f"pydoc:topics/{records[0].label}:1"
    paragraphs = load_texts("pydoc:topics", opts(label_from="heading"), Path("."))
    assert len(paragraphs) > len(records) and {r.label for r in paragraphs} == set(topics)
    definitions = load_texts("pydoc:topics", opts(records="qa", qa_from="definitions"), Path("."))
    assert any(r.question == "What is assert?" and r.answer.startswith("Assert statements") for r in definitions)


def test_stdlib_docstrings(stdlib):
    records, seconds = stdlib
    assert seconds < 20, f"stdlib:docstrings took {seconds:.1f} s"
    assert sum(len(r.text) for r in records) > 1_000_000
    files = {r.source.split(":")[1].removeprefix("docstrings/") for r in records}
    assert "json/__init__.py" in files and "os.py" in files
    parts = {part for f in files for part in f.split("/")}
    assert not parts & {"test", "tests", "idle_test", "site-packages"}
    assert not any(f.split("/")[-1].startswith("test_") for f in files)
    by_source = {r.source: r for r in records}
    json_doc = next(r for s, r in by_source.items() if s.startswith("stdlib:docstrings/json/__init__.py:"))
    assert json_doc.label == "json" and json_doc.text.startswith("JSON (JavaScript Object Notation)")
    assert {r.label for r in records if "/email/" in "/" + r.source.split(":")[1]} == {"email"}
    assert all(r.text == r.text.strip("\n") for r in records)  # blank lines trimmed, the rest kept


def test_stdlib_docstrings_heading_labels_and_sources(stdlib):
    records = load_texts("stdlib:docstrings", opts(split="document", label_from="heading"),
                         Path("."))
    dumps = [r for r in records if r.label == "json.dumps"]
    assert len(dumps) == 1 and dumps[0].text.startswith("Serialize ``obj`` to a JSON formatted ``str``.")
    assert "\nIf ``skipkeys`` is true" in dumps[0].text  # cleandoc: the common indentation is gone
    import json as json_module
    import sysconfig

    path, line = dumps[0].source.removeprefix("stdlib:docstrings/").rsplit(":", 1)
    source_line = Path(sysconfig.get_paths()["stdlib"], path).read_text().split("\n")[int(line) - 1]
    assert "Serialize ``obj``" in source_line and Path(json_module.__file__).name == "__init__.py"
    qa = load_texts("stdlib:docstrings", opts(records="qa", qa_from="definitions"), Path("."))
    assert any(r.question == "What is json.dumps?" for r in qa)


def test_pathological_text_does_not_hang(tmp_path):
    runs = "\n\n".join(["." * 200_000, "#" * 200_000, "`" * 200_000, "=" * 200_000, "word " + "!" * 200_000 + " x",
                        "a" * 200_000 + "_1"])
    headings = "".join(f"# H{i}\n\nSentence number {i} mentions photosynthesis.\n\n" for i in range(20_000))
    path = write(tmp_path / "odd.md", headings + runs)  # the backtick run opens a fence to the end
    start = time.perf_counter()
    for kwargs in ({}, {"split": "headings", "label_from": "heading"}, {"split": "window"},
                   {"records": "qa", "qa_from": "definitions"}, {"records": "qa", "qa_from": "cloze"}):
        assert load(path, **kwargs)
    assert time.perf_counter() - start < 10
