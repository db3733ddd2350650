"""Hostile text files: invalid UTF-8 in sources and in generated shards read back for
evaluation, line separators inside records, and sizes bounded before reading."""

from __future__ import annotations

import pytest

from domaingen.errors import DataError
from domaingen_plugins.text import output
from domaingen_plugins.text.loading import load_texts
from domaingen_plugins.text.options import TextDataOptions
from domaingen_plugins.text.output import read_texts, write_texts
from domaingen_plugins.text.records import TextRecord


def test_invalid_utf8_in_a_folder_source_names_the_file_and_offset(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("fine text\n", encoding="utf-8")
    (corpus / "b.md").write_bytes("# Title\n\nna\u00efve ".encode("utf-8") + b"\xff\xfe caf\xe9\n")
    with pytest.raises(DataError) as err:
        load_texts("corpus", TextDataOptions(), tmp_path)
    message = str(err.value)
    assert "b.md" in message and "byte offset 16 (line 3)" in message and "0xff" in message
    assert "encoding_errors: replace" in message
    records = load_texts("corpus", TextDataOptions(encoding_errors="replace", split="document"), tmp_path)
    assert records[-1].text.endswith("\ufffd\ufffd caf\ufffd")


def test_invalid_utf8_in_a_generated_shard_names_file_and_offset(tmp_path):
    (path,) = write_texts([TextRecord("first"), TextRecord("second")], tmp_path / "part-00000", "jsonl")
    data = path.read_bytes()
    cut = data.index(b"second")
    path.write_bytes(data[:cut] + b"\xc3\x28" + data[cut:])  # a lead byte without its continuation
    with pytest.raises(DataError) as err:
        read_texts([path])
    message = str(err.value)
    assert "part-00000.jsonl" in message and f"byte offset {cut} (line 2)" in message and "0xc3" in message
    txt = tmp_path / "part-00001.txt"
    txt.write_bytes(b"ok\n---\n\x80bad\n")
    with pytest.raises(DataError, match=r"part-00001\.txt: not valid UTF-8: byte 0x80 at byte offset 7 \(line 3\)"):
        read_texts([txt])


def test_records_with_unicode_line_separators_read_back(tmp_path):
    texts = ["one\u2028two", "three\x85four", "five\u2029six"]
    paths = write_texts([TextRecord(t) for t in texts], tmp_path / "part-00000", "jsonl")
    assert [r.text for r in read_texts(paths)] == texts


def test_shard_size_is_checked_before_reading(tmp_path, monkeypatch):
    (path,) = write_texts([TextRecord("x" * 500)], tmp_path / "part-00000", "jsonl")
    read_bytes = []
    monkeypatch.setattr(type(path), "read_bytes", lambda self: read_bytes.append(self) or b"")
    with pytest.raises(DataError, match=r"part-00000\.jsonl: the file is 5\d\d bytes, more than 100"):
        output.read_shard(path, max_bytes=100)
    assert read_bytes == []  # refused from os.stat, unread
