"""Recipe sections of the text plugin: ``data.options`` (how texts are read and cut into records)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domaingen.plugin import StrictModel

__all__ = ["TextDataOptions", "TextGenerateOptions", "TextEvaluateOptions", "MAX_BYTES_LIMIT", "MAX_WINDOW_CHARS", "MAX_CHARS"]

MAX_BYTES_LIMIT = 2 << 30  # the largest max_bytes accepted (2 GiB); more text than that is a mistake, not a wish
MAX_WINDOW_CHARS = 100_000  # a larger window is a whole document: use split: document
MAX_CHARS = 200_000  # most characters one generated passage may ask for


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
    tokenizer: Literal["char", "bpe"] = Field(
        "char", description="char: one token per character (bytes for unseen ones); bpe: a byte-level BPE trained on the training text"
    )
    vocab_size: int = Field(2000, ge=259, le=65_536, description="bpe: tokens in the vocabulary (specials and 256 bytes included)")
    seq_len: int = Field(128, ge=8, le=4096, description="tokens per training window (bos/eos included)")
    stride: int | None = Field(None, ge=1, description="tokens between the starts of a record's windows; None: seq_len // 2")


class TextGenerateOptions(StrictModel):
    """``generate.options``: what to write and how to sample it."""

    prompt: str = Field("", max_length=10_000, description="text every passage starts with")
    max_tokens: int | None = Field(None, ge=1, le=1_000_000, description="tokens generated after the prompt")
    max_chars: int | None = Field(None, ge=1, le=MAX_CHARS, description="characters generated after the prompt (the text is cut there)")
    stop: list[str] = Field(default_factory=list, description="a passage ends before the first of these strings after the prompt")
    temperature: float = Field(1.0, ge=0.0, le=100.0, description="softmax temperature; 0 = greedy")
    top_k: int | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    repetition_penalty: float = Field(1.0, gt=0.0, le=100.0)
    no_repeat_ngram: int = Field(0, ge=0, le=64)
    conditions: dict[str, str] | None = Field(None, description="{label: NAME}: passages of one label")


class TextEvaluateOptions(StrictModel):
    """``evaluate.options``: the report's baselines and samples."""

    kn_orders: list[int] = Field(default_factory=lambda: [5, 8], description="orders of the Kneser-Ney character baselines")
    max_train_chars: int = Field(2_000_000, ge=1000, description="most training characters the baselines are fitted on")
    copy_n: int = Field(8, ge=2, le=32, description="word n-gram length of the copy rate")
    samples_in_report: int = Field(8, ge=0, le=100)
    report_html: bool = True
