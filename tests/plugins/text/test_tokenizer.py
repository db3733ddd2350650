"""The text plugin's tokenizers: exact round trips of tricky text (char and byte-level BPE),
the byte fallback, JSON save / load, streaming decode of split characters, bounds."""

from __future__ import annotations

import json
import random

import pytest

from domaingen.errors import DataError, UsageError
from domaingen_plugins.text.tokenizer import (
    MIN_VOCAB_SIZE,
    BPETokenizer,
    CharTokenizer,
    StreamDecoder,
    Tokenizer,
    make_tokenizer,
    tokenizer_from_json,
)

ENGLISH = [
    "Photosynthesis is the process by which green plants use sunlight to make food from carbon dioxide and water.",
    "The water cycle describes how water evaporates from the surface of the earth, rises into the atmosphere, "
    "cools and condenses into clouds, and falls again to the surface as precipitation.",
    "A fraction represents a part of a whole. The top number is the numerator and the bottom number is the denominator.",
    "In this lesson, students will learn how to add and subtract fractions with unlike denominators.",
    "Newton's first law states that an object at rest stays at rest, and an object in motion stays in motion, "
    "unless acted upon by an outside force.",
    "Exercise 3: Explain, in your own words, why the seasons change. Use the terms axis, orbit and tilt.",
]
CODE = [
    "def area(width, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    return width * height\n\n\nprint(area(3, 4))\n",
    "for i in range(10):\n\tif i % 2 == 0:\n\t\tprint(i)  # even\n",
    "```python\nx = [1, 2, 3]\n```\n",
]
CORPUS = (ENGLISH + CODE) * 8

TRICKY = [
    "",
    "hello",
    "\t  x  \n\n",
    "   leading and trailing   ",
    "multiple    inner     spaces",
    "def f(x):\n    if x:\n\treturn x  # tab\n",
    "```\ncode block\n    indented\n```\n",
    "\x00",
    "a\x00b\x01\x7f",
    "\r\n",
    "line one\r\nline two\rline three\n",
    "e\u0301 n\u0303 a\u0308\u0304",  # combining marks (NFC would merge them)
    "🤖 👩\u200d👩\u200d👧 🇫🇷 👍🏽",
    "日本語のテキスト, Ελληνικά, русский, עברית, العربية",
    "ﬁ ligature, Ａ full-width, ² superscript, Ⅻ",  # NFKC would change these
    "\ufeffBOM and \u2028 separators \u2029",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 astral",
    "<eos> <pad> <bos> look like special tokens",
    " ",
    "\n",
]


def random_unicode(n: int, seed: int = 0) -> str:
    """``n`` random characters: controls, ASCII, Latin-1, combining marks, BMP (no
    surrogates), astral planes and ZWJ."""
    rnd = random.Random(seed)
    ranges = [(0x00, 0x1F), (0x20, 0x7E), (0x80, 0xFF), (0x300, 0x36F), (0x370, 0xD7FF), (0xE000, 0xFFFF),
              (0x10000, 0x10FFFF), (0x200D, 0x200D)]
    out = []
    for _ in range(n):
        low, high = rnd.choice(ranges)
        out.append(chr(rnd.randint(low, high)))
    return "".join(out)


@pytest.fixture(scope="module")
def char_tok() -> CharTokenizer:
    return CharTokenizer.fit(CORPUS)


@pytest.fixture(scope="module")
def bpe_tok() -> BPETokenizer:
    return BPETokenizer.fit(CORPUS, vocab_size=600, min_frequency=2)


@pytest.fixture(params=["char", "bpe"])
def tok(request, char_tok, bpe_tok) -> Tokenizer:
    return {"char": char_tok, "bpe": bpe_tok}[request.param]


# --- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text", TRICKY, ids=[repr(t)[:20] for t in TRICKY])
def test_round_trip_of_tricky_text(tok, text):
    ids = tok.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert not set(ids) & set(tok.special_tokens.values())  # encode adds no specials, "<eos>" is text
    assert tok.decode(ids) == text


def test_round_trip_of_random_unicode(tok):
    text = random_unicode(10_000)
    assert tok.decode(tok.encode(text)) == text


def test_round_trip_of_the_corpus_and_batches(tok):
    assert tok.encode_batch(CORPUS[:5] + TRICKY) == [tok.encode(t) for t in CORPUS[:5] + TRICKY]
    assert [tok.decode(ids) for ids in tok.encode_batch(CORPUS)] == CORPUS


def test_decode_skips_special_tokens(tok):
    ids = tok.encode("some text")
    sp = tok.special_tokens
    assert sp["pad"] == 0 and sp["bos"] == 1 and sp["eos"] == 2
    assert tok.decode([sp["bos"], *ids, sp["eos"], sp["pad"], sp["pad"]]) == "some text"
    assert [tok.id_to_piece(i) for i in (0, 1, 2)] == ["<pad>", "<bos>", "<eos>"]


def test_decode_refuses_ids_outside_the_vocabulary(tok):
    with pytest.raises(DataError, match="outside"):
        tok.decode([3, tok.vocab_size])
    with pytest.raises(DataError, match="outside"):
        tok.decode([-1])


def test_invalid_byte_sequences_decode_to_replacement_characters(char_tok):
    byte = lambda b: 3 + b  # noqa: E731  the byte token of b
    assert char_tok.decode([byte(0xE2), byte(0x82)]) == "\ufffd"  # truncated euro sign
    assert char_tok.decode([byte(0xFF), *char_tok.encode("ok")]) == "\ufffdok"


# --- the char tokenizer --------------------------------------------------------------------------
def test_char_ids_are_sorted_by_frequency_then_code_point():
    tok = CharTokenizer.fit(["aab c", "b"])  # a: 2, b: 2, ' ': 1, c: 1
    assert tok.chars == ("a", "b", " ", "c")
    assert tok.encode("abc ") == [MIN_VOCAB_SIZE, MIN_VOCAB_SIZE + 1, MIN_VOCAB_SIZE + 3, MIN_VOCAB_SIZE + 2]
    assert tok.vocab_size == MIN_VOCAB_SIZE + 4
    assert CharTokenizer.fit(["aab c", "b"]).to_json() == tok.to_json()


def test_unseen_characters_use_the_byte_fallback():
    tok = CharTokenizer.fit(["plain ascii text"])
    ids = tok.encode("é🤖t")
    assert [tok.id_to_piece(i) for i in ids] == ["<0xC3>", "<0xA9>", "<0xF0>", "<0x9F>", "<0xA4>", "<0x96>", "t"]
    assert all(3 <= i < MIN_VOCAB_SIZE for i in ids[:-1])
    assert tok.decode(ids) == "é🤖t"
    assert tok.token_bytes(ids[0]) == b"\xc3"


def test_max_vocab_and_min_count_leave_rare_characters_to_bytes():
    texts = ["aaaa bbb cc d"]
    assert CharTokenizer.fit(texts, max_vocab=MIN_VOCAB_SIZE + 2).chars == ("a", " ")
    assert CharTokenizer.fit(texts, min_count=3).chars == ("a", " ", "b")
    tok = CharTokenizer.fit(texts, min_count=100)  # only bytes: still exact
    assert tok.chars == () and tok.decode(tok.encode("aaaa d")) == "aaaa d"


def test_a_lone_surrogate_round_trips_through_the_char_tokenizer(char_tok):
    text = "a\ud800b\udfff"
    assert char_tok.decode(char_tok.encode(text)) == text
    assert "".join(char_tok.decode_stream(char_tok.encode(text))) == text


# --- BPE -----------------------------------------------------------------------------------------
def test_bpe_configuration_is_exact_byte_level(bpe_tok):
    state = json.loads(bpe_tok.to_json()["hf_tokenizer"])
    assert state["normalizer"] is None
    assert state["pre_tokenizer"]["type"] == "ByteLevel" and state["pre_tokenizer"]["add_prefix_space"] is False
    assert state["decoder"]["type"] == "ByteLevel"
    assert state["model"]["type"] == "BPE"
    assert bpe_tok.vocab_size <= 600


def test_bpe_decode_agrees_with_the_tokenizers_decoder(bpe_tok):
    for text in TRICKY[1:] + ENGLISH:
        ids = bpe_tok.encode(text)
        assert bpe_tok._hf.decode(ids) == bpe_tok.decode(ids) == text


def test_bpe_compresses_english(bpe_tok, char_tok):
    held_out = ("The numerator of a fraction is the number on the top, and the denominator is the number "
                "at the bottom. Students will explain how water falls as precipitation.")
    assert len(bpe_tok.encode(held_out)) < 0.6 * len(held_out)
    assert len(char_tok.encode(held_out)) == len(held_out)


def test_bpe_training_is_deterministic(bpe_tok):
    again = BPETokenizer.fit(CORPUS, vocab_size=600, min_frequency=2)
    assert again.to_json() == bpe_tok.to_json()


def test_bpe_refuses_a_lone_surrogate(bpe_tok):
    with pytest.raises(DataError, match="lone surrogate U\\+D800"):
        bpe_tok.encode("x\ud800")
    with pytest.raises(DataError, match="lone surrogate"):
        BPETokenizer.fit(["fine", "bad \udc00"], vocab_size=300)


# --- JSON ----------------------------------------------------------------------------------------
def test_json_save_and_load_give_identical_encodings(tok):
    saved = json.dumps(tok.to_json())
    loaded = tokenizer_from_json(json.loads(saved))
    assert type(loaded) is type(tok) and loaded.kind == tok.kind and loaded.vocab_size == tok.vocab_size
    assert tokenizer_from_json(saved).to_json() == tok.to_json()
    texts = TRICKY + CORPUS[:9] + [random_unicode(2000, seed=1)]
    assert loaded.encode_batch(texts) == tok.encode_batch(texts)
    assert type(tok).from_json(tok.to_json()).encode(TRICKY[-3]) == tok.encode(TRICKY[-3])


def test_bad_saved_tokenizers_are_refused(char_tok, bpe_tok):
    with pytest.raises(DataError, match="unknown kind"):
        tokenizer_from_json({**char_tok.to_json(), "kind": "wordpiece"})
    with pytest.raises(DataError, match="version"):
        tokenizer_from_json({**char_tok.to_json(), "version": 99})
    with pytest.raises(DataError, match="not 'bpe'"):
        BPETokenizer.from_json(char_tok.to_json())
    with pytest.raises(DataError, match="tokenizers JSON"):
        tokenizer_from_json({**bpe_tok.to_json(), "hf_tokenizer": "{not json"})
    with pytest.raises(DataError, match="JSON object"):
        tokenizer_from_json([1, 2])


# --- streaming -----------------------------------------------------------------------------------
def test_stream_decoding_waits_for_whole_characters():
    tok = CharTokenizer.fit(["abc"])
    ids = tok.encode("a🤖b")  # the emoji is 4 byte tokens
    decoder = tok.stream_decoder()
    assert [decoder.push(i) for i in ids] == ["a", "", "", "", "🤖", "b"]
    assert decoder.flush() == ""
    assert list(tok.decode_stream(ids)) == ["a", "🤖", "b"]
    assert list(tok.decode_stream(ids[:3])) == ["a", "\ufffd"]  # an unfinished character at the end


def test_stream_decoding_of_split_characters_equals_the_full_decode(tok):
    text = "Ünïcödé 🤖 façade — 日本語 e\u0301 👩\u200d👩\u200d👧 " + random_unicode(500, seed=2)
    ids = tok.encode(text)
    split = [i for i in ids if not _is_valid_utf8(tok.token_bytes(i))]
    assert split  # some tokens hold part of a character
    pieces = list(tok.decode_stream(ids))
    assert "".join(pieces) == tok.decode(ids) == text
    assert all(pieces) and "\ufffd" not in "".join(pieces)
    assert len(tok.token_texts(ids)) == len(ids)


def test_stream_decoding_of_random_byte_tokens_equals_the_full_decode(char_tok):
    rnd = random.Random(3)
    special = [0, 1, 2]
    char_ids = list(range(MIN_VOCAB_SIZE, char_tok.vocab_size))
    lead = [3 + b for b in (0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xF8, 0xC0)]
    cont = [3 + b for b in range(0x80, 0xC0)]
    for _ in range(300):
        pool = [rnd.choice(lead) if rnd.random() < 0.3 else rnd.choice(cont) if rnd.random() < 0.6
                else rnd.choice(char_ids + special) for _ in range(rnd.randint(0, 20))]
        decoder = StreamDecoder(char_tok)
        streamed = "".join(decoder.push(i) for i in pool) + decoder.flush()
        assert streamed == char_tok.decode(pool)


def _is_valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# --- bounds and errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("kind, option, value", [
    ("char", "max_vocab", 100), ("char", "max_vocab", 70_000), ("char", "min_count", 0),
    ("bpe", "vocab_size", 258), ("bpe", "vocab_size", 65_537), ("bpe", "vocab_size", True),
    ("bpe", "min_frequency", 0),
])
def test_options_out_of_bounds_are_refused(kind, option, value):
    with pytest.raises(UsageError, match=option) as err:
        make_tokenizer(kind, ENGLISH, **{option: value})
    assert not isinstance(err.value, DataError)


def test_vocab_sizes_at_the_bounds_work():
    assert BPETokenizer.fit(ENGLISH, vocab_size=MIN_VOCAB_SIZE).vocab_size == MIN_VOCAB_SIZE
    assert CharTokenizer.fit(ENGLISH, max_vocab=MIN_VOCAB_SIZE).chars == ()


@pytest.mark.parametrize("kind", ["char", "bpe"])
@pytest.mark.parametrize("texts, match", [([], "no characters"), (["", ""], "no characters"),
                                          ("a str", "list of str"), (["ok", 3], r"\[1\] must be a str")])
def test_bad_training_text_is_refused(kind, texts, match):
    with pytest.raises(DataError, match=match):
        make_tokenizer(kind, texts)


def test_make_tokenizer_checks_kind_and_options():
    assert make_tokenizer("char", ENGLISH).kind == "char"
    assert make_tokenizer("bpe", ENGLISH, vocab_size=300).kind == "bpe"
    with pytest.raises(UsageError, match="unknown tokenizer kind 'word'.*char, bpe"):
        make_tokenizer("word", ENGLISH)
    with pytest.raises(UsageError, match="unknown option vocab_size for the char tokenizer"):
        make_tokenizer("char", ENGLISH, vocab_size=300)


def test_encode_refuses_non_text(tok):
    with pytest.raises(DataError, match="must be a str"):
        tok.encode(b"bytes")
