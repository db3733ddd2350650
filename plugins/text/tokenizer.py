"""Tokenizers of the text plugin: characters with a byte fallback, and byte-level BPE.

Both map any ``str`` to ids and back exactly (``decode(encode(text)) == text``), so a
model trained on the ids can write anything the training text held — spaces, tabs, ``\\r``,
code indentation, emoji, combining marks — without an unknown token:

- ``CharTokenizer``: one id per character seen at fit time; any other character is
  written as its UTF-8 bytes, 256 reserved byte tokens ``<0x00>`` … ``<0xFF>``.
- ``BPETokenizer``: byte-level BPE (GPT-2 style) trained with Hugging Face
  ``tokenizers``: no normaliser, the ``ByteLevel`` pre-tokenizer with
  ``add_prefix_space=False`` (GPT-2's split regex), the ``ByteLevel`` decoder and
  post-processor with ``trim_offsets=False``; the initial alphabet is all 256 bytes, so
  every byte string has an encoding.

Why ``tokenizers`` and not sentencepiece: it is Rust (trains on millions of characters in
seconds, encodes batches in parallel), its byte-level pipeline round-trips arbitrary text
exactly, whereas sentencepiece normalises by default (NFKC, whitespace folding) and
needs care with leading / repeated spaces; and its whole state is one JSON document
(``Tokenizer.to_str``), which is embedded here as a string — no pickle, no model file.

Ids 0, 1, 2 are ``<pad>``, ``<bos>``, ``<eos>`` in both kinds (``special_tokens``);
``encode`` never adds them, ``decode`` skips them, and text that happens to contain the
string ``"<eos>"`` is encoded as ordinary text. Token ids become text through their bytes
(``token_bytes``): ``StreamDecoder`` / ``decode_stream`` turn ids into text as they are
generated, emitting a character only once all its bytes have arrived. Invalid byte
sequences (a model can generate any id order) decode to U+FFFD, as ``errors="replace"``
does. A lone surrogate (a ``str`` that is not valid Unicode) round-trips through the
character tokenizer (its ``surrogatepass`` bytes) and is refused by BPE (``DataError``).
"""

from __future__ import annotations

import codecs
import json
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from domaingen.errors import DataError, UsageError

__all__ = [
    "Tokenizer",
    "CharTokenizer",
    "BPETokenizer",
    "StreamDecoder",
    "make_tokenizer",
    "tokenizer_from_json",
    "KINDS",
    "SPECIAL_TOKENS",
    "MAX_VOCAB_SIZE",
    "MIN_VOCAB_SIZE",
]

FORMAT = "domaingen.text.tokenizer"
FORMAT_VERSION = 1
SPECIAL_TOKENS = {"pad": 0, "bos": 1, "eos": 2}  # the same ids in every tokenizer
_SPECIAL_PIECES = ("<pad>", "<bos>", "<eos>")
_N_SPECIAL = len(SPECIAL_TOKENS)
_N_BYTES = 256
MIN_VOCAB_SIZE = _N_SPECIAL + _N_BYTES  # 259: specials + one token per byte
MAX_VOCAB_SIZE = 65_536  # ids fit in uint16; larger vocabularies are refused
KINDS = ("char", "bpe")

_ERRORS = "domaingen.text.lenient"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lenient(err: UnicodeError) -> tuple[str, int]:
    """Decoding error handler: a lone surrogate's ``surrogatepass`` bytes back to it,
    anything else invalid to one U+FFFD per maximal invalid run (as ``"replace"``)."""
    if not isinstance(err, UnicodeDecodeError):
        raise err
    try:
        return codecs.lookup_error("surrogatepass")(err)
    except UnicodeDecodeError:
        return "\ufffd", err.end


codecs.register_error(_ERRORS, _lenient)


def _to_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _to_text(data: bytes) -> str:
    return data.decode("utf-8", _ERRORS)


def _complete_length(buf: bytes) -> int:
    """Length of the prefix of ``buf`` that holds only whole UTF-8 sequences (or bytes
    that can never become one): a trailing lead byte still waiting for its continuation
    bytes is held back."""
    n = len(buf)
    for back in range(1, min(3, n) + 1):
        b = buf[n - back]
        if b < 0x80:
            return n
        if b >= 0xC0:  # a lead byte: how long is its sequence?
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4 if b < 0xF8 else 1
            return n - back if back < need else n
    return n


def _check_text(text: Any, what: str = "text") -> str:
    if not isinstance(text, str):
        raise DataError(f"{what} must be a str, got {type(text).__name__}; decode bytes first")
    return text


def _check_texts(texts: Any, what: str = "training texts") -> list[str]:
    """The texts as a list of str; DataError for a non-str item or no characters at all."""
    if isinstance(texts, str):
        raise DataError(f"{what} must be a list of str, got one str; wrap it in a list")
    try:
        texts = list(texts)
    except TypeError:
        raise DataError(f"{what} must be a list of str, got {type(texts).__name__}") from None
    for k, text in enumerate(texts):
        _check_text(text, f"{what}[{k}]")
    if not any(texts):
        found = f"{len(texts)} texts, all empty" if texts else "no texts"
        raise DataError(f"{what} hold no characters ({found}); give at least one non-empty text")
    return texts


def _check_int(name: str, value: Any, low: int, high: int | None = None, why: str = "") -> int:
    """``value`` as an int in [low, high]; UsageError naming the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise UsageError(f"{name}={value} is out of range{why}; use {bounds}")
    return value


class Tokenizer(ABC):
    """What every tokenizer of the text plugin offers (ids 0..2: pad, bos, eos).

    Subclasses fill ``_table`` (the bytes of every id; empty for the specials) and
    ``_pieces`` (the vocabulary's string for every id)."""

    kind: str = ""
    _table: list[bytes]
    _pieces: list[str]

    @property
    def special_tokens(self) -> dict[str, int]:
        """``{"pad": 0, "bos": 1, "eos": 2}``."""
        return dict(SPECIAL_TOKENS)

    @property
    def pad_id(self) -> int:
        return SPECIAL_TOKENS["pad"]

    @property
    def bos_id(self) -> int:
        return SPECIAL_TOKENS["bos"]

    @property
    def eos_id(self) -> int:
        return SPECIAL_TOKENS["eos"]

    @property
    def vocab_size(self) -> int:
        """Number of ids (the specials, the byte tokens and the learned ones)."""
        return len(self._table)

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Ids of ``text``, without special tokens."""

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        """``encode`` of each text."""
        return [self.encode(text) for text in texts]

    def _ids(self, ids: Iterable[int]) -> list[int]:
        """``ids`` as Python ints, checked against the vocabulary."""
        ids = [int(i) for i in ids]
        if ids and (min(ids) < 0 or max(ids) >= len(self._table)):
            bad = next(i for i in ids if i < 0 or i >= len(self._table))
            raise DataError(f"token id {bad} is outside this {self.kind} tokenizer's vocabulary (0..{len(self._table) - 1})")
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; pad, bos and eos are skipped, invalid UTF-8 becomes U+FFFD."""
        table = self._table
        return _to_text(b"".join([table[i] for i in self._ids(ids)]))

    def token_bytes(self, token_id: int) -> bytes:
        """The UTF-8 bytes token ``token_id`` stands for (``b""`` for a special token);
        a token may hold part of a character."""
        return self._table[self._ids([token_id])[0]]

    def id_to_piece(self, token_id: int) -> str:
        """The vocabulary's string for ``token_id``: ``"<eos>"``, ``"<0xE2>"``, a character,
        or a byte-level BPE piece such as ``"Ġthe"``."""
        return self._pieces[self._ids([token_id])[0]]

    def token_texts(self, ids: Iterable[int]) -> list[str]:
        """Each token's text on its own, for display (specials give ``""``; a token holding
        part of a character shows U+FFFD — use ``decode_stream`` to write text out)."""
        table = self._table
        return [_to_text(table[i]) for i in self._ids(ids)]

    def stream_decoder(self) -> StreamDecoder:
        """A ``StreamDecoder`` for this tokenizer."""
        return StreamDecoder(self)

    def decode_stream(self, ids: Iterable[int]) -> Iterator[str]:
        """Text pieces of ``ids`` as soon as whole characters are available (never an
        empty string); their concatenation is ``decode(ids)``."""
        decoder = StreamDecoder(self)
        for token_id in ids:
            piece = decoder.push(token_id)
            if piece:
                yield piece
        tail = decoder.flush()
        if tail:
            yield tail

    def _header(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "kind": self.kind,
                "special_tokens": self.special_tokens, "vocab_size": self.vocab_size}

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The tokenizer as a JSON-serialisable dict (``tokenizer_from_json`` reads it)."""

    @classmethod
    @abstractmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tokenizer:
        """The tokenizer ``to_json`` wrote."""

    @classmethod
    def _check_header(cls, data: Any) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise DataError(f"a saved tokenizer must be a JSON object, got {type(data).__name__}")
        if data.get("format") != FORMAT or data.get("version") != FORMAT_VERSION:
            raise DataError(f"not a saved tokenizer of this version: expected format {FORMAT!r} version "
                            f"{FORMAT_VERSION}, got {data.get('format')!r} version {data.get('version')!r}")
        if data.get("kind") != cls.kind:
            raise DataError(f"saved tokenizer is of kind {data.get('kind')!r}, not {cls.kind!r}; "
                            "load it with tokenizer_from_json")
        if data.get("special_tokens") != SPECIAL_TOKENS:
            raise DataError(f"saved tokenizer has special tokens {data.get('special_tokens')!r}, expected {SPECIAL_TOKENS}")
        return data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class StreamDecoder:
    """Turns token ids into text one at a time, emitting only whole characters.

    ``push(id)`` returns the text completed by that token (often ``""`` while a
    multi-byte character is split over tokens), ``flush()`` what is left at the end (an
    incomplete character becomes U+FFFD). The pieces joined equal ``decode`` of the ids."""

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer
        self._pending = b""

    def push(self, token_id: int) -> str:
        """Text completed by ``token_id`` (pad, bos and eos add nothing)."""
        buf = self._pending + self._tokenizer.token_bytes(token_id)
        cut = _complete_length(buf)
        self._pending = buf[cut:]
        return _to_text(buf[:cut]) if cut else ""

    def flush(self) -> str:
        """The bytes still held back, decoded (U+FFFD for an unfinished character)."""
        buf, self._pending = self._pending, b""
        return _to_text(buf) if buf else ""


# --- characters with a byte fallback -------------------------------------------------------------
class CharTokenizer(Tokenizer):
    """One id per character seen at fit time; other characters as UTF-8 byte tokens.

    Ids: 0..2 specials, 3..258 the bytes 0x00..0xFF (``<0xNN>``), 259.. the characters in
    descending frequency, ties by code point."""

    kind = "char"

    def __init__(self, chars: Sequence[str]):
        chars = list(chars)
        if any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise DataError("a char tokenizer's characters must be distinct one-character strings")
        if len(chars) > MAX_VOCAB_SIZE - MIN_VOCAB_SIZE:
            raise DataError(f"a char tokenizer holds at most {MAX_VOCAB_SIZE - MIN_VOCAB_SIZE} characters, "
                            f"got {len(chars)}")
        self.chars = tuple(chars)
        self._char_ids = {c: MIN_VOCAB_SIZE + k for k, c in enumerate(chars)}
        self._table = [b""] * _N_SPECIAL + [bytes([b]) for b in range(_N_BYTES)] + [_to_bytes(c) for c in chars]
        self._pieces = list(_SPECIAL_PIECES) + [f"<0x{b:02X}>" for b in range(_N_BYTES)] + chars

    @classmethod
    def fit(cls, texts: Iterable[str], *, max_vocab: int | None = None, min_count: int = 1) -> CharTokenizer:
        """Characters of ``texts`` seen at least ``min_count`` times, the most frequent
        first, keeping at most ``max_vocab`` ids in all (>= 259: 3 specials + 256 bytes);
        the rest are encoded by their bytes."""
        if max_vocab is not None:
            _check_int("max_vocab", max_vocab, MIN_VOCAB_SIZE, MAX_VOCAB_SIZE,
                       f" (a char tokenizer needs {MIN_VOCAB_SIZE} ids for 3 special and 256 byte tokens)")
        _check_int("min_count", min_count, 1)
        counts: Counter[str] = Counter()
        for text in _check_texts(texts):
            counts.update(text)
        ranked = sorted(((n, c) for c, n in counts.items() if n >= min_count), key=lambda nc: (-nc[0], ord(nc[1])))
        limit = (max_vocab if max_vocab is not None else MAX_VOCAB_SIZE) - MIN_VOCAB_SIZE
        return cls([c for _, c in ranked[:limit]])

    def encode(self, text: str) -> list[int]:
        get = self._char_ids.get
        ids = [get(c) for c in _check_text(text)]
        if None not in ids:
            return ids
        out: list[int] = []
        for c, i in zip(text, ids):
            if i is None:
                out.extend(_N_SPECIAL + b for b in _to_bytes(c))
            else:
                out.append(i)
        return out

    def to_json(self) -> dict[str, Any]:
        return {**self._header(), "chars": list(self.chars)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CharTokenizer:
        data = cls._check_header(data)
        chars = data.get("chars")
        if not isinstance(chars, list):
            raise DataError("saved char tokenizer has no 'chars' list")
        tokenizer = cls(chars)
        if data.get("vocab_size", tokenizer.vocab_size) != tokenizer.vocab_size:
            raise DataError(f"saved char tokenizer says vocab_size {data.get('vocab_size')} but holds "
                            f"{tokenizer.vocab_size} ids")
        return tokenizer


# --- byte-level BPE (Hugging Face tokenizers) ----------------------------------------------------
def _byte_to_unicode() -> dict[int, str]:
    """GPT-2's map of the 256 bytes to printable characters (what ``ByteLevel`` uses)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(keep)
    extra = 0
    for b in range(_N_BYTES):
        if b not in keep:
            keep.append(b)
            chars.append(_N_BYTES + extra)
            extra += 1
    return {b: chr(c) for b, c in zip(keep, chars)}


_UNICODE_TO_BYTE = {c: b for b, c in _byte_to_unicode().items()}


def _refuse_surrogates(texts: list[str], what: str) -> None:
    """DataError for the first text holding a lone surrogate (not valid Unicode)."""
    for k, text in enumerate(texts):
        match = _SURROGATE.search(text)
        if match:
            raise DataError(f"{what} {k} holds a lone surrogate U+{ord(match.group()):04X} at character "
                            f"{match.start()}: not valid Unicode, which the BPE tokenizer cannot encode; "
                            "clean it (text.encode('utf-8', 'replace').decode()) or use the char tokenizer")


def _hf_call(fn, texts: list[str], what: str):
    """Call ``tokenizers``, turning its refusal of a lone surrogate into a DataError."""
    try:
        return fn()
    except (TypeError, UnicodeError):
        _refuse_surrogates(texts, what)
        raise


class BPETokenizer(Tokenizer):
    """Byte-level BPE trained with Hugging Face ``tokenizers`` (see the module docstring).

    Ids: 0..2 specials, then the 256 byte symbols, then the merges in training order."""

    kind = "bpe"

    def __init__(self, hf_tokenizer: Any):
        self._hf = hf_tokenizer
        self._hf.encode_special_tokens = True  # "<eos>" in a text is text (not saved in to_str)
        size = hf_tokenizer.get_vocab_size(with_added_tokens=True)
        pieces = [hf_tokenizer.id_to_token(i) for i in range(size)]
        if pieces[:_N_SPECIAL] != list(_SPECIAL_PIECES):
            raise DataError(f"a BPE tokenizer must start with the tokens {list(_SPECIAL_PIECES)}, got {pieces[:_N_SPECIAL]}")
        if hf_tokenizer.normalizer is not None:
            raise DataError("a BPE tokenizer with a normaliser does not round-trip text exactly; refit it")
        table = [b""] * _N_SPECIAL
        for i, piece in enumerate(pieces[_N_SPECIAL:], start=_N_SPECIAL):
            try:
                table.append(bytes(_UNICODE_TO_BYTE[c] for c in piece))
            except (KeyError, TypeError):
                raise DataError(f"BPE token {i} ({piece!r}) is not a byte-level token; refit the tokenizer") from None
        if len(set(table[_N_SPECIAL:]) & {bytes([b]) for b in range(_N_BYTES)}) != _N_BYTES:
            raise DataError("a BPE tokenizer must hold a token for each of the 256 bytes; refit it")
        self._table = table
        self._pieces = pieces

    @classmethod
    def fit(cls, texts: Iterable[str], *, vocab_size: int = 2000, min_frequency: int = 2) -> BPETokenizer:
        """Byte-level BPE of at most ``vocab_size`` ids (the 3 specials and 256 bytes
        included), merging pairs seen at least ``min_frequency`` times. Training has no
        randomness: the same texts give the same tokenizer."""
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, processors, trainers

        _check_int("vocab_size", vocab_size, MIN_VOCAB_SIZE, MAX_VOCAB_SIZE,
                   f" (a byte-level BPE needs {MIN_VOCAB_SIZE} ids for 3 special and 256 byte tokens)")
        _check_int("min_frequency", min_frequency, 1)
        texts = _check_texts(texts)
        hf = HFTokenizer(models.BPE(unk_token=None, byte_fallback=False))
        hf.normalizer = None
        hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=True)
        hf.decoder = decoders.ByteLevel()
        hf.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=list(_SPECIAL_PIECES),
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        _refuse_surrogates(texts, "training text")
        hf.train_from_iterator(texts, trainer=trainer, length=len(texts))
        return cls(hf)

    def encode(self, text: str) -> list[int]:
        text = _check_text(text)
        return _hf_call(lambda: self._hf.encode(text, add_special_tokens=False).ids, [text], "text")

    def encode_batch(self, texts: Iterable[str]) -> list[list[int]]:
        texts = [_check_text(t, f"texts[{k}]") for k, t in enumerate(texts)]
        encodings = _hf_call(lambda: self._hf.encode_batch(texts, add_special_tokens=False), texts, "text")
        return [e.ids for e in encodings]

    def to_json(self) -> dict[str, Any]:
        return {**self._header(), "hf_tokenizer": self._hf.to_str()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer

        data = cls._check_header(data)
        state = data.get("hf_tokenizer")
        if not isinstance(state, str):
            raise DataError("saved BPE tokenizer has no 'hf_tokenizer' string (the tokenizers JSON)")
        try:
            hf = HFTokenizer.from_str(state)
        except Exception as exc:  # tokenizers raises its own Exception for bad JSON
            raise DataError(f"saved BPE tokenizer's 'hf_tokenizer' is not a tokenizers JSON: {exc}") from None
        tokenizer = cls(hf)
        if data.get("vocab_size", tokenizer.vocab_size) != tokenizer.vocab_size:
            raise DataError(f"saved BPE tokenizer says vocab_size {data.get('vocab_size')} but holds "
                            f"{tokenizer.vocab_size} ids")
        return tokenizer


_CLASSES: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "bpe": BPETokenizer}
_OPTIONS = {"char": ("max_vocab", "min_count"), "bpe": ("vocab_size", "min_frequency")}


def make_tokenizer(kind: str, texts: Iterable[str], **options: Any) -> Tokenizer:
    """A tokenizer of ``kind`` ("char" or "bpe") fitted on ``texts`` with its ``fit`` options."""
    if kind not in _CLASSES:
        raise UsageError(f"unknown tokenizer kind {kind!r}; use one of {', '.join(KINDS)}")
    unknown = sorted(set(options) - set(_OPTIONS[kind]))
    if unknown:
        raise UsageError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for the {kind} "
                         f"tokenizer; it takes {', '.join(_OPTIONS[kind])}")
    return _CLASSES[kind].fit(texts, **options)


def tokenizer_from_json(data: Mapping[str, Any] | str) -> Tokenizer:
    """The tokenizer ``to_json`` wrote (the dict, or its JSON text)."""
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise DataError(f"saved tokenizer is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise DataError(f"a saved tokenizer must be a JSON object, got {type(data).__name__}")
    kind = data.get("kind")
    if kind not in _CLASSES:
        raise DataError(f"saved tokenizer has unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _CLASSES[kind].from_json(data)
