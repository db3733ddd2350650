"""``TextRecord``: the text plugin's records — a passage or a question-answer item, its label and origin.

The plugin's records are a plain ``list[TextRecord]``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TextRecord", "qa_text"]


def qa_text(question: str, answer: str) -> str:
    """The canonical rendering of a question-answer item, the ``text`` a text model learns."""
    return f"Q: {question}\nA: {answer}"


@dataclass(frozen=True)
class TextRecord:
    """``text``: the passage (for a question-answer item, ``qa_text(question, answer)``);
    ``label``: its class (see ``TextDataOptions.label_from``) or ``None``; ``question`` /
    ``answer``: set together on question-answer items, else ``None``; ``source``: where it
    came from, ``<file>:<line>`` (a file's path relative to a folder source, or the file's
    name), ``<file>:<line>#<part>`` for the parts of one ``.jsonl`` object,
    ``pydoc:topics/<topic>:<line>`` or ``stdlib:docstrings/<module file>:<line>``;
    ``seed``: on a generated record, the seed it was drawn from (``domaingen sample
    --seed`` with the same prompt, label and options writes it again)."""

    text: str
    label: str | None = None
    question: str | None = None
    answer: str | None = None
    source: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"TextRecord.text must be a str, got {type(self.text).__name__}")
        if (self.question is None) != (self.answer is None):
            raise ValueError("TextRecord.question and TextRecord.answer are set together or not at all")

    @property
    def is_qa(self) -> bool:
        """Whether this is a question-answer item."""
        return self.question is not None
