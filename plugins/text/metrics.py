"""Metrics of the text plugin: numbers for a report on generated text, pure Python + numpy.

- ``KneserNeyCharModel``: an interpolated *modified* Kneser-Ney character n-gram model
  (Chen & Goodman 1998: three discounts D1, D2, D3+ per order from that order's
  count-of-counts), fitted on real text; ``bits_per_char`` of held-out real text and of
  generated text says how much the generated text looks like the real one to it.
- ``distinct_n`` (diversity), ``self_bleu`` (texts resembling each other), ``copy_rate``
  (verbatim copies of the training text), ``length_stats`` and ``readability`` (Flesch
  reading ease, Flesch-Kincaid grade with the syllable heuristic ``count_syllables``).

The n-gram metrics work on regex word tokens ``\\w+|[^\\w\\s]`` (word characters, or one
punctuation mark), case kept. Functions return NaN when there is nothing to count (no
n-grams, fewer than two texts). The formulas are listed in ``METRICS``.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from domaingen.errors import DataError, UsageError
from domaingen.plugin import Metric

__all__ = [
    "METRICS",
    "KneserNeyCharModel",
    "distinct_n",
    "self_bleu",
    "copy_rate",
    "length_stats",
    "readability",
    "count_syllables",
    "word_tokens",
]

TOKEN_RE = re.compile(r"\w+|[^\w\s]")
# readability / length words: a number (3.14, 1,000) or letters and digits with inner ' or -
WORD_RE = re.compile(r"\d+(?:[.,]\d+)+|[^\W_]+(?:['’\-][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?…]+(?=[\s\"'”’)\]]|$)|\n[ \t]*\n")
MAX_ORDER = 16
_MIN_DISCOUNT = 0.01  # keeps every context's back-off weight positive (no zero probabilities)
_BLEU_EPSILON = 0.1  # Chen & Cherry (2014) smoothing method 1, as NLTK's SmoothingFunction().method1

METRICS = [
    Metric("bits_per_char_model", "lower-is-better",
           "the trained model's cross-entropy on the held-out records: -(1/N) sum_i log2 P(c_i | context) over their "
           "N characters (sliding windows, each token predicted once with at least half a window of context; eos not "
           "scored)"),
    *(Metric(f"bits_per_char_kn{order}", "informative",
             f"the same on the held-out records under an order-{order} interpolated modified Kneser-Ney character model "
             "(Chen & Goodman 1998: discounts D1, D2, D3+ per order from count-of-counts) fitted on the training split, "
             "interpolated down to a uniform distribution over the training alphabet + 1 unknown character: the number "
             "to beat (evaluate.options.kn_orders; 5 and 8 by default)")
      for order in (5, 8)),
    *(Metric(f"distinct_{n}", "closer-to-real",
             f"number of distinct word {n}-grams / number of word {n}-grams over all texts (n-grams do not cross texts; "
             "tokens \\w+|[^\\w\\s]): 1 when nothing repeats, near 0 for repetitive text")
      for n in (1, 2, 3)),
    Metric("self_bleu", "closer-to-real",
           "mean over (up to 200 sampled) texts of BLEU-4 (uniform weights, clipped counts, brevity penalty from the "
           "closest reference length, smoothing method 1 of Chen & Cherry 2014, epsilon 0.1) of the text against all "
           "the others as references: high when the texts resemble each other (low diversity)"),
    Metric("copy_rate", "lower-is-better",
           "share of the generated texts' word 8-grams that occur verbatim in the training text: 1 for copied text, "
           "about 0 for new text"),
    Metric("copy_rate_real", "informative",
           "the same share for the held-out real texts: real text reuses phrases too, so this is the baseline, not 0"),
    *(Metric(f"{unit}_{stat}", "closer-to-real", f"{label} of the number of {unit} per text")
      for unit in ("chars", "words")
      for stat, label in (("mean", "mean"), ("median", "median"), ("p10", "10th percentile"), ("p90", "90th percentile"))),
    Metric("words_per_sentence", "closer-to-real",
           "words / sentences over all texts (sentences end at . ! ? … before a space or the end, or at a blank line)"),
    Metric("syllables_per_word", "closer-to-real", "syllables / words over all texts (count_syllables heuristic)"),
    Metric("flesch_reading_ease", "closer-to-real",
           "206.835 - 1.015 words/sentences - 84.6 syllables/words over all texts (higher: easier)"),
    Metric("flesch_kincaid_grade", "closer-to-real",
           "0.39 words/sentences + 11.8 syllables/words - 15.59 over all texts (a US school grade)"),
]


def _texts(texts: Any, what: str = "texts") -> list[str]:
    """``texts`` as a list of str; DataError naming the first item that is not one."""
    if isinstance(texts, str):
        raise DataError(f"{what} must be a list of str, got one str; wrap it in a list")
    texts = list(texts)
    for k, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"{what}[{k}] must be a str, got {type(text).__name__}")
    return texts


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        raise UsageError(f"{name}={value} is out of range; use {low}..{high}" if high is not None
                         else f"{name}={value} is out of range; use {low} or more")
    return value


# --- Kneser-Ney character model ------------------------------------------------------------------
def _discounts(count_of_counts: Counter) -> tuple[float, float, float]:
    """(D1, D2, D3+) of modified Kneser-Ney from an order's count-of-counts n1..n4:
    Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3.

    Too few data for that (some n_i = 0): plain KN's D = Y for all three, or 0.5 without
    singletons. Each D_i is clipped to [0.01, i], so counts stay >= 0 and every seen
    context keeps some probability for the lower orders."""
    n1, n2, n3, n4 = (count_of_counts.get(i, 0) for i in (1, 2, 3, 4))
    if n1 and n2 and n3 and n4:
        y = n1 / (n1 + 2 * n2)
        ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    elif n1:
        y = n1 / (n1 + 2 * n2)
        ds = (y, y, y)
    else:
        ds = (0.5, 0.5, 0.5)
    return tuple(min(max(d, _MIN_DISCOUNT), float(i)) for i, d in enumerate(ds, start=1))


def _sentinels(alphabet: set[str]) -> tuple[str, str]:
    """Two characters outside ``alphabet``: begin-of-text padding and unknown character."""
    found = []
    code = 0xFDD0  # Unicode noncharacters first, then the private use area
    while len(found) < 2:
        c = chr(code)
        if c not in alphabet:
            found.append(c)
        code = code + 1 if code != 0xFDEF else 0xF0000
    return found[0], found[1]


class KneserNeyCharModel:
    """Interpolated modified Kneser-Ney character n-gram model (Chen & Goodman 1998).

    P_k(c | h) = (a_k(hc) - D_k(a_k(hc))) / sum_x a_k(hx) + gamma_k(h) P_{k-1}(c | h'),
    gamma_k(h) = sum_x D_k(a_k(hx)) / sum_x a_k(hx), with h' = h less its first character;
    P_k = P_{k-1} for a context never seen, P_0 = uniform over the training alphabet + 1
    (one "unknown" symbol that every unseen character maps to). ``a_n`` are raw counts
    at the highest order; below it continuation counts (distinct characters seen to the
    left), except for n-grams starting with begin-of-text padding, which keep raw counts
    (as KenLM does). Each text is padded with order-1 begin-of-text symbols, so its first
    characters are predicted as text starts. Probabilities sum to 1 over the alphabet +
    unknown for any context (``distribution``)."""

    def __init__(self, order: int, alphabet: Sequence[str], numerators: list[dict[str, float]],
                 contexts: list[dict[str, tuple[float, float]]], discounts: list[tuple[float, float, float]],
                 n_train_chars: int):
        self.order = order
        self.alphabet = tuple(alphabet)
        self.discounts = discounts  # (D1, D2, D3+) per order 1..n
        self.n_train_chars = n_train_chars
        self._alphabet = frozenset(self.alphabet)
        self._bos, self._unk = _sentinels(set(self.alphabet))
        self._num = numerators  # per order k (index k-1): k-gram -> discounted count
        self._ctx = contexts  # per order k: (k-1)-gram context -> (1 / total count, gamma)
        self._uniform = 1.0 / (len(self.alphabet) + 1)

    @classmethod
    def fit(cls, texts: Iterable[str], order: int = 5) -> KneserNeyCharModel:
        """The model of ``order`` n (1..16; n - 1 characters of context) fitted on ``texts``."""
        _check_int("order", order, 1, MAX_ORDER)
        texts = _texts(texts, "training texts")
        n_chars = sum(map(len, texts))
        if not n_chars:
            raise DataError("training texts hold no characters; give at least one non-empty text")
        alphabet = set().union(*map(set, texts))
        bos, _ = _sentinels(alphabet)
        pad = bos * (order - 1)
        counts: Counter[str] = Counter()  # raw counts of the highest order, one n-gram per character
        for text in texts:
            s = pad + text
            counts.update(map(s.__getitem__, map(slice, range(len(text)), range(order, len(s) + 1))))
        adjusted = [counts]  # orders n, n-1, ..., 1
        for _ in range(order - 1):
            higher = adjusted[-1]
            lower: Counter[str] = Counter(gram[1:] for gram in higher if gram[1] != bos)  # distinct left characters
            for gram, count in higher.items():
                if gram[1] == bos:  # its only left extension is more padding: raw count
                    lower[gram[1:]] = count
            adjusted.append(lower)
        adjusted.reverse()
        numerators, contexts, discounts = [], [], []
        for grams in adjusted:
            d1, d2, d3 = _discounts(Counter(grams.values()))
            by_count = (0.0, d1, d2)
            num: dict[str, float] = {}
            total: dict[str, int] = {}
            mass: dict[str, float] = {}
            for gram, a in grams.items():
                d = by_count[a] if a < 3 else d3
                num[gram] = a - d
                h = gram[:-1]
                total[h] = total.get(h, 0) + a
                mass[h] = mass.get(h, 0.0) + d
            numerators.append(num)
            contexts.append({h: (1.0 / t, mass[h] / t) for h, t in total.items()})
            discounts.append((d1, d2, d3))
        ranked = sorted(alphabet)
        return cls(order, ranked, numerators, contexts, discounts, n_chars)

    def _padded(self, text: str) -> str:
        """Begin-of-text padding + ``text`` with unseen characters as the unknown symbol."""
        if not set(text) <= self._alphabet:
            known = self._alphabet
            text = "".join(c if c in known else self._unk for c in text)
        return self._bos * (self.order - 1) + text

    def _tail(self, context: str) -> str:
        """The last order-1 characters of ``context`` (those the model looks at)."""
        return context[-(self.order - 1):] if self.order > 1 else ""

    def _prob_at(self, s: str, pos: int) -> float:
        """P(s[pos] | the order-1 symbols before it) in the padded string ``s``."""
        p = self._uniform
        for k in range(1, self.order + 1):
            stats = self._ctx[k - 1].get(s[pos - k + 1:pos])
            if stats is None:  # longer contexts are unseen too
                break
            p = self._num[k - 1].get(s[pos - k + 1:pos + 1], 0.0) * stats[0] + stats[1] * p
        return p

    def prob(self, char: str, context: str = "") -> float:
        """P(char | context): ``context`` is the text before ``char`` from the start of a
        text (its last order-1 characters count; a shorter one is a text start). An unseen
        ``char`` gets the unknown symbol's probability."""
        if not isinstance(char, str) or len(char) != 1:
            raise UsageError(f"char must be one character, got {char!r}")
        s = self._padded(self._tail(context)) + (char if char in self._alphabet else self._unk)
        return self._prob_at(s, len(s) - 1)

    def distribution(self, context: str = "") -> dict[str | None, float]:
        """P(c | context) for every training character c, and under ``None`` for the
        unknown symbol (all unseen characters together); the values sum to 1."""
        base = self._padded(self._tail(context))
        out: dict[str | None, float] = {c: self._prob_at(base + c, len(base)) for c in self.alphabet}
        out[None] = self._prob_at(base + self._unk, len(base))
        return out

    def log2_probs(self, text: str) -> list[float]:
        """log2 P of each character of ``text``, scored from its start."""
        s = self._padded(text)
        start = self.order - 1
        return [math.log2(self._prob_at(s, pos)) for pos in range(start, len(s))]

    def bits_per_char(self, texts: Iterable[str]) -> float:
        """-(1/N) sum log2 P over the N characters of ``texts``, each scored from its start;
        NaN when they hold no characters."""
        total, n = 0.0, 0
        log2 = math.log2
        for text in _texts(texts):
            s = self._padded(text)
            total += sum(log2(self._prob_at(s, pos)) for pos in range(self.order - 1, len(s)))
            n += len(text)
        return -total / n if n else float("nan")


# --- word n-gram metrics -------------------------------------------------------------------------
def word_tokens(text: str) -> list[str]:
    """Regex word tokens: runs of word characters, or single punctuation marks."""
    return TOKEN_RE.findall(text)


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return list(zip(*(tokens[i:] for i in range(n))))


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over ``texts`` (n-grams within a text)."""
    _check_int("n", n, 1)
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in _texts(texts):
        grams = _ngrams(word_tokens(text), n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else float("nan")


def _sentence_bleu(counts: list[Counter], ref_max, own: int, hyp_len: int, ref_lens: list[int]) -> float:
    """BLEU-4 of one hypothesis; ``ref_max(n, gram, own)`` is the gram's largest count in
    a reference (the texts other than ``own``)."""
    if hyp_len == 0:
        return 0.0
    log_p = 0.0
    for n in range(1, 5):
        matched = sum(min(c, ref_max(n, gram, own)) for gram, c in counts[n - 1].items())
        if n == 1 and matched == 0:
            return 0.0
        denominator = max(1, hyp_len - n + 1)
        log_p += math.log((matched if matched else _BLEU_EPSILON) / denominator)
    closest = min(ref_lens, key=lambda r: (abs(r - hyp_len), r))
    brevity = 1.0 if hyp_len > closest else math.exp(1.0 - closest / hyp_len)
    return brevity * math.exp(log_p / 4)


def self_bleu(texts: Iterable[str], *, max_texts: int = 200, rng: np.random.Generator | int | None = None) -> float:
    """Mean BLEU-4 of each text against all the others (up to ``max_texts`` texts drawn
    without replacement with ``rng``, seed 0 by default); NaN for fewer than two texts.

    Smoothing: Chen & Cherry's method 1 (a zero n-gram match count counts as 0.1), as
    NLTK's ``SmoothingFunction().method1``; a text with no matching word scores 0."""
    _check_int("max_texts", max_texts, 2)
    texts = _texts(texts)
    if len(texts) > max_texts:
        generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(0 if rng is None else rng)
        texts = [texts[i] for i in sorted(generator.choice(len(texts), size=max_texts, replace=False))]
    if len(texts) < 2:
        return float("nan")
    tokens = [word_tokens(t) for t in texts]
    counts = [[Counter(_ngrams(toks, n)) for n in range(1, 5)] for toks in tokens]
    best: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{}, {}, {}, {}]  # gram -> (top count, its text, 2nd)
    for i, per_n in enumerate(counts):
        for n, grams in enumerate(per_n):
            top = best[n]
            for gram, c in grams.items():
                first, holder, second = top.get(gram, (0, -1, 0))
                if c > first:
                    top[gram] = (c, i, first)
                elif c > second:
                    top[gram] = (first, holder, c)

    def ref_max(n: int, gram: tuple[str, ...], own: int) -> int:
        first, holder, second = best[n - 1][gram]
        return second if holder == own else first

    lengths = [len(t) for t in tokens]
    scores = [_sentence_bleu(counts[i], ref_max, i, lengths[i], lengths[:i] + lengths[i + 1:])
              for i in range(len(texts))]
    return float(np.mean(scores))


def copy_rate(generated: Iterable[str], reference_texts: Iterable[str], n: int = 8) -> float:
    """Share of the word n-grams of ``generated`` found verbatim in ``reference_texts``
    (n-grams within a text); NaN when the generated texts hold no n-gram."""
    _check_int("n", n, 1)
    reference: set[tuple[str, ...]] = set()
    for text in _texts(reference_texts, "reference_texts"):
        reference.update(_ngrams(word_tokens(text), n))
    found = total = 0
    for text in _texts(generated, "generated"):
        grams = _ngrams(word_tokens(text), n)
        total += len(grams)
        found += sum(1 for g in grams if g in reference)
    return found / total if total else float("nan")


# --- lengths and readability ---------------------------------------------------------------------
def _summary(values: list[int], prefix: str) -> dict[str, float]:
    if not values:
        return {f"{prefix}_{k}": float("nan") for k in ("mean", "median", "p10", "p90")}
    v = np.asarray(values, dtype=np.float64)
    return {f"{prefix}_mean": float(v.mean()), f"{prefix}_median": float(np.median(v)),
            f"{prefix}_p10": float(np.percentile(v, 10)), f"{prefix}_p90": float(np.percentile(v, 90))}


def length_stats(texts: Iterable[str]) -> dict[str, float]:
    """Mean, median, 10th and 90th percentile (linear interpolation) of the characters and
    the words (``WORD_RE``) per text: ``chars_mean`` … ``words_p90``; NaN without texts."""
    texts = _texts(texts)
    return {**_summary([len(t) for t in texts], "chars"),
            **_summary([len(WORD_RE.findall(t)) for t in texts], "words")}


def count_syllables(word: str) -> int:
    """English syllables of ``word``, by a heuristic (about 90% right on common words).

    Accents are stripped and the word lower-cased; a word without Latin letters (a number,
    another script) counts 1. Words of up to 3 letters count 1; otherwise the number of
    vowel groups (a e i o u y), less one for a silent final "e" (not "-le" after a
    consonant: "ta-ble"), for "-ed" unless after t or d ("jumped" 1, "wanted" 2), and for
    "-es" unless after s, x, z, c, g, ch or sh ("makes" 1, "boxes" 2); at least 1."""
    w = "".join(c for c in unicodedata.normalize("NFD", word.lower()) if "a" <= c <= "z")
    if len(w) <= 3:
        return 1
    count = len(re.findall("[aeiouy]+", w))
    if w.endswith("e") and not (w.endswith("le") and w[-3] not in "aeiouy") and not w.endswith(("ee", "ye")):
        count -= 1
    elif w.endswith("ed") and w[-3] not in "td":
        count -= 1
    elif w.endswith("es") and not w.endswith(("ses", "xes", "zes", "ces", "ges", "ches", "shes")):
        count -= 1
    return max(1, count)


def _sentences(text: str) -> int:
    """Sentences of ``text``: pieces between sentence ends holding at least one word."""
    return sum(1 for piece in _SENTENCE_END.split(text) if WORD_RE.search(piece))


def readability(texts: Iterable[str]) -> dict[str, float]:
    """Flesch reading ease and Flesch-Kincaid grade of ``texts`` pooled (all their words,
    sentences and syllables), with ``words_per_sentence`` and ``syllables_per_word``;
    NaN when they hold no word."""
    words = sentences = syllables = 0
    for text in _texts(texts):
        found = WORD_RE.findall(text)
        words += len(found)
        syllables += sum(map(count_syllables, found))
        sentences += _sentences(text)
    if not words:
        return dict.fromkeys(("words_per_sentence", "syllables_per_word", "flesch_reading_ease",
                              "flesch_kincaid_grade"), float("nan"))
    wps, spw = words / sentences, syllables / words
    return {"words_per_sentence": wps, "syllables_per_word": spw,
            "flesch_reading_ease": 206.835 - 1.015 * wps - 84.6 * spw,
            "flesch_kincaid_grade": 0.39 * wps + 11.8 * spw - 15.59}
