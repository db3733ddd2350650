"""``TextCodec``: text records <-> token windows (the ``tokens`` layout) with their label.

Each record becomes ``[bos] + tokens + [eos]``, cut into windows of ``seq_len`` tokens
that start every ``stride`` tokens (the last window is padded), so a long passage
trains on all of its text and every window keeps the record's label. Decoding reads a
generated sequence from after ``bos`` to ``eos`` and gives the text back exactly
(``tokenizer.decode``). The codec remembers which tokens occur in the training text, so
a prompt that needs tokens the model never saw can be refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from domaingen.errors import BundleError, DataError
from domaingen.plugin import Codec, Encoded
from domaingen.spec import DataSpec, Label

from .options import TextDataOptions
from .records import TextRecord
from .tokenizer import Tokenizer, make_tokenizer, tokenizer_from_json

__all__ = ["TextCodec", "LABEL"]

LABEL = "label"  # the spec's label name: what `conditions={label: "..."}` names


class TextCodec(Codec):
    """Fitted on the training records: the tokenizer, the label classes and frequencies."""

    def __init__(self, options: TextDataOptions) -> None:
        self.options = options
        self.tokenizer_: Tokenizer | None = None
        self.classes_: tuple[str, ...] = ()
        self.frequencies_: tuple[float, ...] = ()
        self.seen_: np.ndarray | None = None  # bool per token id: occurs in the training text
        self.chars_per_token_: float = 1.0

    @property
    def seq_len(self) -> int:
        return int(self.options.seq_len)

    @property
    def stride(self) -> int:
        return int(self.options.stride or max(1, self.seq_len // 2))

    def fit(self, raw: list[TextRecord]) -> "TextCodec":
        texts = [r.text for r in raw]
        if not texts or not any(texts):
            raise DataError("the text codec needs at least one non-empty training record")
        o = self.options
        kwargs = {"vocab_size": o.vocab_size} if o.tokenizer == "bpe" else {}
        self.tokenizer_ = make_tokenizer(o.tokenizer, texts, **kwargs)
        ids = self.tokenizer_.encode_batch(texts)
        seen = np.zeros(self.tokenizer_.vocab_size, bool)
        for row in ids:
            seen[np.asarray(row, dtype=np.int64)] = True
        self.seen_ = seen
        self.chars_per_token_ = sum(map(len, texts)) / max(1, sum(map(len, ids)))
        labels = [r.label for r in raw]
        if any(label is not None for label in labels):
            if any(label is None for label in labels):
                raise DataError("some records have a label and some do not; give every record a label or none")
            self.classes_ = tuple(sorted(set(labels)))
            counts = np.array([labels.count(c) for c in self.classes_], dtype=float)
            self.frequencies_ = tuple(float(c) for c in counts / counts.sum())
        return self

    @property
    def tokenizer(self) -> Tokenizer:
        if self.tokenizer_ is None:
            raise RuntimeError("TextCodec used before fit")
        return self.tokenizer_

    @property
    def labelled(self) -> bool:
        return bool(self.classes_)

    @property
    def spec(self) -> DataSpec:
        tok = self.tokenizer
        labels = (Label(LABEL, self.classes_, self.frequencies_),) if self.classes_ else ()
        return DataSpec("tokens", (self.seq_len,), vocab_size=tok.vocab_size, special_tokens=dict(tok.special_tokens), labels=labels)

    def record_ids(self, text: str) -> list[int]:
        """``[bos] + tokens + [eos]`` of one text."""
        tok = self.tokenizer
        return [tok.bos_id, *tok.encode(text), tok.eos_id]

    def encode(self, raw: list[TextRecord]) -> Encoded:
        """Windows of every record (``(n_windows, seq_len)`` int32) and their label codes."""
        L, stride, pad = self.seq_len, self.stride, self.tokenizer.pad_id
        windows, codes = [], []
        for record in raw:
            ids = self.record_ids(record.text)
            starts = range(0, max(1, len(ids) - L + stride), stride) if len(ids) > L else [0]
            for start in starts:
                piece = ids[start : start + L]
                windows.append(piece + [pad] * (L - len(piece)))
                if self.labelled:
                    if record.label not in self.classes_:
                        raise DataError(f"record label {record.label!r} is not one of the trained labels {list(self.classes_)}")
                    codes.append(self.classes_.index(record.label))
        x = np.asarray(windows, dtype=np.int32).reshape(-1, L)
        return Encoded(x, np.asarray(codes, dtype=np.int32)[:, None] if self.labelled else None)

    def text_of(self, row: np.ndarray) -> str:
        """The text of one generated token row: after ``bos``, up to ``eos``."""
        tok = self.tokenizer
        ids = [int(t) for t in row]
        if ids and ids[0] == tok.bos_id:
            ids = ids[1:]
        if tok.eos_id in ids:
            ids = ids[: ids.index(tok.eos_id)]
        return tok.decode(t for t in ids if t != tok.pad_id)

    def decode(self, x: np.ndarray, rng: np.random.Generator | None = None, labels: np.ndarray | None = None) -> list[TextRecord]:
        x = np.asarray(x)
        names = [None] * len(x)
        if self.labelled:
            if labels is None:
                raise DataError("labelled text needs the labels it was generated for")
            names = [self.classes_[int(k)] for k in np.asarray(labels).reshape(len(x), -1)[:, 0]]
        return [TextRecord(self.text_of(row), label) for row, label in zip(x, names)]

    def get_config(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "options": self.options.model_dump(),
            "tokenizer": self.tokenizer.to_json(),
            "classes": list(self.classes_),
            "frequencies": list(self.frequencies_),
            "chars_per_token": self.chars_per_token_,
        }

    def get_arrays(self) -> dict[str, np.ndarray]:
        return {"seen": np.asarray(self.seen_, dtype=bool)}

    @classmethod
    def from_config(cls, config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> "TextCodec":
        if config.get("kind") != "text":
            raise BundleError("codec.json does not describe a text codec; retrain the bundle")
        try:
            codec = cls(TextDataOptions(**config["options"]))
            codec.tokenizer_ = tokenizer_from_json(config["tokenizer"])
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"codec.json of the text codec is invalid ({exc}); retrain the bundle") from None
        codec.classes_ = tuple(str(c) for c in config.get("classes", ()))
        codec.frequencies_ = tuple(float(f) for f in config.get("frequencies", ()))
        codec.chars_per_token_ = float(config.get("chars_per_token", 1.0))
        seen = (arrays or {}).get("seen")
        codec.seen_ = np.asarray(seen, dtype=bool) if seen is not None else np.ones(codec.tokenizer_.vocab_size, bool)
        return codec
