"""Recipe sections of the text plugin: ``data.options`` (how texts are read and cut into records)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaingen.plugin import StrictModel

__all__ = ["TextDataOptions", "MAX_BYTES_LIMIT", "MAX_WINDOW_CHARS"]

MAX_BYTES_LIMIT = 2 << 30  # the largest max_bytes accepted (2 GiB); more text than that is a mistake, not a wish
MAX_WINDOW_CHARS = 100_000  # a larger window is a whole document: use split: document


class TextDataOptions(StrictModel):
    """``data.options``: which texts become records, how they are cut and labelled."""

    split: Literal["headings", "paragraphs", "window", "document"] = Field(
        "paragraphs",
        description="how a document becomes records (records: text only): headings (a record per Markdown / "
        "reStructuredText section), paragraphs (blank-line separated; code blocks stay with their "
        "paragraph), window (window_chars pieces cut at whitespace), document (the whole document)",
    )
    window_chars: int = Field(1000, ge=16, le=MAX_WINDOW_CHARS, description="characters per record of split: window")
    min_chars: int = Field(1, ge=1, le=1_000_000, description="records shorter than this many characters are dropped")
    max_records: int | None = Field(None, ge=1, description="keep the first this many records (reading stops there)")
    label_from: Literal["none", "heading", "file", "topic", "field"] = Field(
        "none",
        description="what becomes a record's label: none; heading (the section heading above it; a pydoc "
        "topic's name; a docstring's dotted name); file (the file's path in the source; pydoc: the topic; "
        "stdlib: the top-level package); topic (the first folder or file name below the source; pydoc: "
        "the topic; stdlib: the top-level package); field (the label_field of a .jsonl object)",
    )
    label_field: str = Field("label", min_length=1, description="the .jsonl key read by label_from: field")
    records: Literal["text", "qa"] = Field(
        "text", description="text: passages; qa: question-answer items rendered as 'Q: ...\\nA: ...'"
    )
    qa_from: Literal["fields", "definitions", "cloze"] = Field(
        "fields",
        description="where records: qa finds items: fields (question / answer of .jsonl objects), definitions "
        "(a heading and the first sentence of its section), cloze (a sentence with its key term blanked)",
    )
    encoding_errors: Literal["error", "replace"] = Field(
        "error", description="invalid UTF-8: error (refuse the file) or replace (bad bytes become U+FFFD)"
    )
    max_bytes: int = Field(
        200_000_000, ge=1, le=MAX_BYTES_LIMIT, description="most bytes of text files one source may hold"
    )
