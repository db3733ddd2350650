"""The text plugin's metrics: Kneser-Ney bits per character against a Markov chain's known
entropy rate, normalised probabilities, and known answers for distinct-n, self-BLEU,
copy rate, length statistics and readability."""

from __future__ import annotations

import bisect
import math
import random
from collections import Counter

import numpy as np
import pytest

from domaingen.errors import DataError, UsageError
from domaingen_plugins.text import metrics as M
from domaingen_plugins.text.metrics import KneserNeyCharModel

ALPHABET = "abcde"


def markov_chain(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random 5-state transition matrix (rows sum to 1) and its stationary distribution."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(len(ALPHABET), 0.5), size=len(ALPHABET))
    values, vectors = np.linalg.eig(p.T)
    pi = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return p, pi / pi.sum()


def entropy_rate(p: np.ndarray, pi: np.ndarray) -> float:
    """H = -sum_i pi_i sum_j P_ij log2 P_ij, bits per symbol."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log2(p), 0.0)
    return float(-(pi * terms.sum(axis=1)).sum())


def sample_chain(p: np.ndarray, pi: np.ndarray, n_texts: int, length: int, seed: int) -> list[str]:
    """``n_texts`` texts of ``length`` characters, each started from the stationary distribution."""
    rnd = random.Random(seed)
    cum = [list(np.cumsum(row)) for row in p]
    start = list(np.cumsum(pi))
    texts = []
    for _ in range(n_texts):
        state = min(bisect.bisect(start, rnd.random()), len(ALPHABET) - 1)
        out = [state]
        for _ in range(length - 1):
            state = min(bisect.bisect(cum[state], rnd.random()), len(ALPHABET) - 1)
            out.append(state)
        texts.append("".join(ALPHABET[s] for s in out))
    return texts


@pytest.fixture(scope="module")
def chain():
    p, pi = markov_chain()
    train = sample_chain(p, pi, 40, 5000, seed=1)
    held_out = sample_chain(p, pi, 8, 5000, seed=2)
    return p, pi, train, held_out


# --- Kneser-Ney ----------------------------------------------------------------------------------
def test_kn_bits_per_char_match_the_chains_entropy_rate(chain):
    p, pi, train, held_out = chain
    h = entropy_rate(p, pi)
    h0 = float(-(pi * np.log2(pi)).sum())
    assert h < h0 - 0.2  # the chain has memory worth modelling
    bpc = {order: KneserNeyCharModel.fit(train, order).bits_per_char(held_out) for order in (1, 2, 3, 5)}
    assert abs(bpc[1] - h0) < 0.05  # no context: the stationary distribution's entropy
    assert abs(bpc[2] - h) < 0.1
    assert bpc[3] < bpc[2] + 0.03 and bpc[5] < bpc[2] + 0.06
    assert KneserNeyCharModel.fit(train, 2).bits_per_char(train[:4]) <= bpc[2] + 0.02


def test_kn_known_answer_at_order_one():
    # raw counts a: 2, b: 1; n1 = n2 = 1 -> plain KN D = 1/3; gamma = 2/9; uniform over {a, b, unknown}
    model = KneserNeyCharModel.fit(["aab"], order=1)
    dist = model.distribution()
    assert dist == pytest.approx({"a": 17 / 27, "b": 8 / 27, None: 2 / 27}, abs=1e-12)
    assert model.prob("z") == pytest.approx(2 / 27)
    assert model.bits_per_char(["ab"]) == pytest.approx(-(math.log2(17 / 27) + math.log2(8 / 27)) / 2)


def test_kn_lower_orders_use_continuation_counts():
    # "x" is frequent but always follows "q": its unigram continuation count is 1, "y" (after 5 others) 5
    texts = ["qx" * 50 + "ay by cy dy ey"]
    model = KneserNeyCharModel.fit(texts, order=2)
    assert model.prob("x", "z") < model.prob("y", "z")  # "z" unseen context: back-off to continuation unigrams
    assert model.prob("x", "q") > 0.9


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8])
def test_kn_probabilities_sum_to_one(chain, order):
    _, _, train, _ = chain
    texts = train[:4] + ["The quick brown fox. ", "Ünïcode 🤖 text"]
    model = KneserNeyCharModel.fit(texts, order)
    rnd = random.Random(order)
    contexts = ["", "a", "🤖", "zzz unseen ☃", "The quick", texts[0][:rnd.randrange(200)]]
    contexts += [texts[rnd.randrange(len(texts))][: rnd.randrange(1, 300)] for _ in range(20)]
    contexts += ["".join(rnd.choice(ALPHABET + "Tq☃") for _ in range(rnd.randrange(12))) for _ in range(20)]
    for context in contexts:
        dist = model.distribution(context)
        assert len(dist) == len(model.alphabet) + 1
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-9)
        assert min(dist.values()) > 0
        assert model.prob("a", context) == pytest.approx(dist["a"], rel=1e-12)
        assert model.prob("\u2603\u2603"[0], context) == pytest.approx(dist[None], rel=1e-12)  # unseen


def test_kn_tiny_training_text_is_still_a_distribution():
    for order in (1, 2, 4):
        for texts in (["a"], ["ab"], ["", "abab"]):
            model = KneserNeyCharModel.fit(texts, order)
            for context in ("", "a", "b", "ba", "xyz"):
                assert sum(model.distribution(context).values()) == pytest.approx(1.0, abs=1e-12)
            assert math.isfinite(model.bits_per_char(["abz", "q"]))


def test_kn_scores_unseen_characters_and_texts_from_their_start(chain):
    _, _, train, _ = chain
    model = KneserNeyCharModel.fit(train[:5], order=3)
    logs = model.log2_probs("abz☃")
    assert len(logs) == 4 and all(math.isfinite(x) and x < 0 for x in logs)
    assert model.bits_per_char(["abz☃"]) == pytest.approx(-sum(logs) / 4)
    both = sum(model.log2_probs("ab")) + sum(model.log2_probs("cd"))
    assert model.bits_per_char(["ab", "cd"]) == pytest.approx(-both / 4)
    assert model.prob("a", "") == pytest.approx(2 ** model.log2_probs("a")[0])
    assert math.isnan(model.bits_per_char([""]))


def test_kn_checks_its_inputs():
    with pytest.raises(UsageError, match="order"):
        KneserNeyCharModel.fit(["abc"], order=0)
    with pytest.raises(UsageError, match="order"):
        KneserNeyCharModel.fit(["abc"], order=17)
    with pytest.raises(DataError, match="no characters"):
        KneserNeyCharModel.fit(["", ""], order=3)
    with pytest.raises(DataError, match=r"training texts\[1\]"):
        KneserNeyCharModel.fit(["abc", None], order=3)


# --- distinct-n, self-BLEU, copy rate ------------------------------------------------------------
def random_words(n_texts: int, words: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [" ".join("".join(rnd.choice(letters) for _ in range(rnd.randint(3, 8))) for _ in range(words)) + "."
            for _ in range(n_texts)]


def test_distinct_n_known_answers():
    assert M.distinct_n(["a b a b"], 1) == 0.5
    assert M.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert M.distinct_n(["a b", "b a"], 2) == 1.0  # n-grams do not cross texts
    assert M.word_tokens("Hello, world! It's 3.5") == ["Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5"]
    assert math.isnan(M.distinct_n(["one"], 2))
    repeated = ["The cat sat on the mat."] * 50
    assert M.distinct_n(repeated, 2) == pytest.approx(6 / 300)  # 6 distinct bigrams, 6 per text
    assert M.distinct_n(random_words(20, 30, seed=0), 1) > 0.9
    with pytest.raises(UsageError, match="n=0"):
        M.distinct_n(repeated, 0)


def naive_bleu(hyp: list[str], refs: list[list[str]]) -> float:
    """Sentence BLEU-4 written the plain way (all references scanned per n-gram), method 1."""
    if not hyp:
        return 0.0
    logs = []
    for n in range(1, 5):
        grams = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        ref_counts = [Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1)) for r in refs]
        matched = sum(min(c, max(rc[g] for rc in ref_counts)) for g, c in grams.items())
        if n == 1 and matched == 0:
            return 0.0
        logs.append(math.log((matched or 0.1) / max(1, len(hyp) - n + 1)))
    r = min((len(x) for x in refs), key=lambda length: (abs(length - len(hyp)), length))
    bp = 1.0 if len(hyp) > r else math.exp(1 - r / len(hyp))
    return bp * math.exp(sum(logs) / 4)


def test_self_bleu_known_answers():
    assert M.self_bleu(["the cat sat on the mat ."] * 5) == pytest.approx(1.0, abs=1e-12)
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> 0.1 (method 1); equal lengths, no brevity penalty
    assert M.self_bleu(["a b c d", "a b c e"]) == pytest.approx((0.75 * (2 / 3) * 0.5 * 0.1) ** 0.25)
    assert math.isnan(M.self_bleu(["alone"]))
    assert M.self_bleu(random_words(30, 20, seed=1)) < 0.05


def test_self_bleu_matches_a_plain_implementation():
    rnd = random.Random(4)
    vocab = ["the", "a", "cat", "dog", "sat", "ran", "on", "mat", ".", ","]
    texts = [" ".join(rnd.choice(vocab) for _ in range(rnd.randint(0, 15))) for _ in range(25)]
    tokens = [M.word_tokens(t) for t in texts]
    expected = np.mean([naive_bleu(tokens[i], tokens[:i] + tokens[i + 1:]) for i in range(len(texts))])
    assert M.self_bleu(texts) == pytest.approx(expected, rel=1e-12)


def test_self_bleu_samples_max_texts_with_the_rng():
    texts = random_words(40, 10, seed=2) + ["same words here"] * 10
    a = M.self_bleu(texts, max_texts=12, rng=np.random.default_rng(5))
    assert a == M.self_bleu(texts, max_texts=12, rng=np.random.default_rng(5))
    assert M.self_bleu(texts, max_texts=12) == M.self_bleu(texts, max_texts=12, rng=0)
    with pytest.raises(UsageError, match="max_texts"):
        M.self_bleu(texts, max_texts=1)


def test_copy_rate_known_answers():
    train = random_words(10, 60, seed=3)
    assert M.copy_rate(train, train) == 1.0
    rnd = random.Random(6)
    shuffled = []
    for text in train:
        words = text.split()
        rnd.shuffle(words)
        shuffled.append(" ".join(words))
    assert M.copy_rate(shuffled, train) < 0.01
    half = [" ".join(train[0].split()[:20]) + " " + " ".join(shuffled[1].split()[:20])]
    assert 0.2 < M.copy_rate(half, train) < 0.5
    assert math.isnan(M.copy_rate(["too short"], train))
    assert M.copy_rate(["x y z"], ["x y z"], n=3) == 1.0


# --- lengths and readability ---------------------------------------------------------------------
def test_length_stats_known_answers():
    stats = M.length_stats(["ab", "abcd ef"])  # chars 2, 7; words 1, 2
    assert stats["chars_mean"] == 4.5 and stats["chars_median"] == 4.5
    assert stats["chars_p10"] == pytest.approx(2.5) and stats["chars_p90"] == pytest.approx(6.5)
    assert stats["words_mean"] == 1.5 and stats["words_p90"] == pytest.approx(1.9)
    assert set(stats) == {f"{u}_{s}" for u in ("chars", "words") for s in ("mean", "median", "p10", "p90")}
    assert all(math.isnan(v) for v in M.length_stats([]).values())


@pytest.mark.parametrize("word, syllables", [
    ("cat", 1), ("the", 1), ("table", 2), ("simple", 2), ("jumped", 1), ("wanted", 2), ("makes", 1),
    ("boxes", 2), ("beautiful", 3), ("education", 4), ("university", 5), ("readability", 5), ("photosynthesis", 5),
    ("2024", 1), ("Éducation", 4),
])
def test_count_syllables(word, syllables):
    assert M.count_syllables(word) == syllables


def test_readability_known_answer_and_order():
    simple = M.readability(["The cat sat on the mat."])  # 6 words, 1 sentence, 6 syllables
    assert simple["words_per_sentence"] == 6 and simple["syllables_per_word"] == 1
    assert simple["flesch_reading_ease"] == pytest.approx(206.835 - 1.015 * 6 - 84.6)
    assert simple["flesch_kincaid_grade"] == pytest.approx(0.39 * 6 + 11.8 - 15.59)
    easy = M.readability(["We like to play. The sun is hot! Can you run fast? I can."])
    hard = M.readability(["Notwithstanding considerable methodological heterogeneity, the investigators "
                          "characterised photosynthetic efficiency across environmental gradients, "
                          "demonstrating unanticipated physiological adaptability."])
    assert easy["flesch_reading_ease"] > 80 > 20 > hard["flesch_reading_ease"]
    assert easy["flesch_kincaid_grade"] < 3 < 15 < hard["flesch_kincaid_grade"]
    assert M.readability(["One. Two three.\n\nA heading\nwithout end"])["words_per_sentence"] == pytest.approx(7 / 3)
    assert M.readability(["Pi is 3.14 today."])["words_per_sentence"] == 4  # a decimal point ends nothing
    assert all(math.isnan(v) for v in M.readability(["", "..."]).values())


def test_metrics_are_documented():
    names = [m.name for m in M.METRICS]
    assert len(names) == len(set(names))
    assert {"bits_per_char_model", "bits_per_char_kn8", "distinct_2", "self_bleu", "copy_rate", "copy_rate_real", "chars_p90", "flesch_reading_ease",
            "flesch_kincaid_grade"} <= set(names)
    assert set(M.length_stats(["a b"])) | set(M.readability(["a b."])) <= set(names)
    assert {m.direction for m in M.METRICS} <= {"higher-is-better", "lower-is-better", "closer-to-real", "informative"}
