"""The text plugin end to end: a known word grammar learned and reproduced, the codec's
exact round trip, prompts, stop strings, labels, question-answer items, reproducibility
and bad input through the CLI.

The grammar: words follow a Markov chain with given transition probabilities
(``the`` -> ``cat`` 0.5 / ``dog`` 0.5, ``cat`` -> ``sat`` 0.7 / ``ran`` 0.3, ``dog`` ->
``ran`` 0.8 / ``sat`` 0.2, ``sat`` / ``ran`` -> ``the``). A character-level transformer
trained on 300 passages of 40 words (longer than its 64-token window) must write text whose word transitions match those
probabilities within 0.1, with at least 95 % of the words in the vocabulary.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import domaingen as dg
from domaingen.cli import cli
from domaingen.errors import ConditionError
from domaingen_plugins.text.codec import TextCodec
from domaingen_plugins.text.options import TextDataOptions
from domaingen_plugins.text.records import TextRecord

CHAIN = {"the": {"cat": 0.5, "dog": 0.5}, "cat": {"sat": 0.7, "ran": 0.3}, "dog": {"ran": 0.8, "sat": 0.2}, "sat": {"the": 1.0}, "ran": {"the": 1.0}}


def grammar_lines(n: int, words: int = 12, seed: int = 0, vary: bool = False) -> list[str]:
    """Lines of the word chain; ``vary``: lengths spread from half to 1.5x ``words`` (with
    one fixed length a model learns where windows end rather than where lines do)."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        w, out = "the", ["the"]
        for _ in range((int(rng.integers(words // 2, words * 3 // 2 + 1)) if vary else words) - 1):
            nxt = list(CHAIN[w])
            w = nxt[rng.choice(len(nxt), p=[CHAIN[w][k] for k in nxt])]
            out.append(w)
        lines.append(" ".join(out))
    return lines


def _recipe(tmp_path: Path, source: str, data: str = "", generate: str = "", epochs: int = 8) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(
        f"schema_version: 1\nname: grammar\nseed: 3\n"
        f"data: {{plugin: text, source: {source}, options: {{split: paragraphs, seq_len: 64{data}}}}}\n"
        "model: {family: transformer, options: {dim: 64, heads: 4, layers: 2, ff_dim: 128, dropout: 0.0}}\n"
        f"train: {{epochs: {epochs}, batch_size: 32, learning_rate: 0.003}}\n"
        f"generate: {{n: 40, options: {{max_chars: 120, temperature: 1.0{generate}}}}}\n"
        "evaluate: {enabled: true, holdout: 0.1, options: {kn_orders: [3]}}\n",
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def grammar_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grammar")
    (root / "corpus.txt").write_text("\n\n".join(grammar_lines(300, words=40, vary=True)) + "\n", encoding="utf-8")
    recipe = dg.load_recipe(_recipe(root, "corpus.txt", epochs=10), overrides={"generate.n": 80})
    return dg.run(recipe, root / "out"), root


def _records(result) -> list[dict]:
    return [json.loads(line) for f in result.files for line in Path(f).read_text(encoding="utf-8").splitlines()]


def test_the_word_grammar_is_learned(grammar_run):
    result, _ = grammar_run
    texts = [r["text"] for r in _records(result)]
    words = [w for t in texts for w in t.split()]
    assert len(words) > 300
    assert np.mean([w in CHAIN for w in words]) >= 0.95
    pairs = Counter((a, b) for t in texts for a, b in zip(t.split(), t.split()[1:]) if a in CHAIN and b in CHAIN)
    for a, nexts in CHAIN.items():
        total = sum(pairs[(a, b)] for b in CHAIN)
        assert total >= 20, a
        for b, p in nexts.items():
            assert abs(pairs[(a, b)] / total - p) <= 0.1, (a, b, pairs[(a, b)] / total, p)
    report = json.loads((result.out_dir / "report.json").read_text())["metrics"]
    assert report["bits_per_char_model"] < 1.5 * report["bits_per_char_kn3"]


def test_prompt_stop_and_reproducibility(grammar_run, tmp_path):
    result, _ = grammar_run
    bundle = dg.load_bundle(result.bundle_dir)
    options = {"prompt": "the dog", "stop": [" sat"], "max_chars": 200}
    a = bundle.generate(30, seed=5, options=options)
    assert all(r.text.startswith("the dog") and " sat" not in r.text[len("the dog") :] for r in a)
    dg.generate(bundle, tmp_path / "x", 30, seed=5, options=options)
    dg.generate(dg.load_bundle(result.bundle_dir), tmp_path / "y", 30, seed=5, options=options)
    digest = lambda p: hashlib.sha256((p / "part-00000.jsonl").read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "x") == digest(tmp_path / "y")


def test_each_line_has_the_seed_that_writes_it_again(grammar_run):
    """A JSONL line's ``seed``, given to ``domaingen sample --seed`` with the same options,
    prints that passage again: each passage is drawn from its own seed, whatever its batch."""
    from domaingen_plugins.text.generation import preview

    result, _ = grammar_run
    lines = _records(result)
    seeds = [r["seed"] for r in lines]
    assert all(isinstance(s, int) for s in seeds) and len(set(seeds)) == len(seeds)
    bundle = dg.load_bundle(result.bundle_dir)
    for line in lines[:3] + lines[-2:]:
        pieces: list[str] = []
        preview(bundle, 1, {}, line["seed"], pieces.append, False)
        assert "".join(pieces).rstrip("\n") == line["text"]


def test_generation_past_the_training_window(grammar_run):
    result, _ = grammar_run
    bundle = dg.load_bundle(result.bundle_dir)
    long = bundle.generate(4, seed=1, options={"max_chars": 600, "temperature": 0.8})
    assert max(len(r.text) for r in long) > 120  # past the 64-token window the model was trained on
    words = [w for r in long for w in r.text.split()]
    assert np.mean([w in CHAIN for w in words]) >= 0.9


def test_bad_prompts_and_lengths_exit_2(grammar_run, tmp_path):
    result, root = grammar_run
    bundle = dg.load_bundle(result.bundle_dir)
    with pytest.raises(ConditionError, match="characters the training text never had"):
        bundle.generate(2, options={"prompt": "the 猫"})
    with pytest.raises(ConditionError, match="longer than max_chars"):
        bundle.generate(2, options={"stop": ["the cat sat"], "max_chars": 5})
    runner = CliRunner()
    out = tmp_path / "o"
    res = runner.invoke(cli, ["generate", str(result.bundle_dir), "-n", "2", "--out", str(out), "--option", "max_chars=0"])
    assert res.exit_code == 2 and "max_chars" in res.output and not out.exists()
    res = runner.invoke(cli, ["generate", str(result.bundle_dir), "-n", "2", "--out", str(out), "--option", "max_chars=100000000"])
    assert res.exit_code == 2 and not out.exists()


def test_codec_round_trip_is_exact():
    texts = ["def f(x):\n\treturn x  # tab\n\n```py\nprint('é')\n```", "  spaces  \r kept", "naïve café ∑ 😀"]
    records = [TextRecord(t) for t in texts]
    for kind in ("char", "bpe"):
        codec = TextCodec(TextDataOptions(tokenizer=kind, vocab_size=300, seq_len=512)).fit(records)
        x = codec.encode(records).x
        assert [r.text for r in codec.decode(x)] == texts
        unseen = codec.decode(np.asarray([codec.record_ids("ünseen ☃")]))[0].text
        assert unseen == "ünseen ☃"


def test_labels_and_question_answer_items(tmp_path):
    lines = []
    for i in range(300):
        a, b = i % 7, (i * 3) % 5
        lines.append(json.dumps({"question": f"What is {a} plus {b}?", "answer": f"{a + b}.", "label": "add" if i % 2 else "sum"}))
    (tmp_path / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    recipe = dg.load_recipe(_recipe(tmp_path, "items.jsonl", data=", records: qa, label_from: field", generate=", conditions: {label: add}", epochs=6))
    result = dg.run(recipe, tmp_path / "out")
    items = _records(result)
    assert items and all(set(r) >= {"question", "answer", "label", "text"} for r in items)
    assert all(r["label"] == "add" and r["text"].startswith("Q: ") and "\nA: " in r["text"] for r in items)
    assert all(r["question"] and r["answer"] and r["question"] in r["text"] and r["answer"] in r["text"] for r in items)
    assert np.mean([r["question"].startswith("What is") for r in items]) >= 0.8
    generation = json.loads((result.out_dir / "report.json").read_text())["generation"]
    assert generation["written"] == len(items) and generation["accepted"] >= len(items)
    assert generation["rejected"] >= 0 and generation["rejected_share"] == generation["rejected"] / (generation["accepted"] + generation["rejected"])


def test_sample_command_prints_passages_and_streams_exactly(grammar_run):
    from domaingen_plugins.text.generation import build_request, finish, preview

    result, _ = grammar_run
    res = CliRunner().invoke(cli, ["sample", str(result.bundle_dir), "--prompt", "the cat", "-n", "2", "--option", "max_chars=60"])
    assert res.exit_code == 0, res.output
    passages = [p for p in res.output.split("\n") if p]
    assert len(passages) == 2 and all(p.startswith("the cat") for p in passages)
    bundle = dg.load_bundle(result.bundle_dir)
    options = {"prompt": "the dog", "stop": [" sat"], "max_chars": 80}
    for stream in (False, True):  # a terminal gets pieces as they are drawn; they add up to the same text
        pieces: list[str] = []
        preview(bundle, 3, options, 7, pieces.append, stream)
        assert len(pieces) > (3 if stream else 2)
        texts = [t for t in "".join(pieces).split("\n") if t]
        assert len(texts) == 3 and all(t.startswith("the dog") and " sat" not in t[7:] for t in texts)
        if not stream:
            plain = texts
    assert texts == plain
    request = build_request(bundle.codec, bundle.recipe_with_options(options).generate_options)
    assert finish([TextRecord("the dog ran the dog sat the")], bundle.recipe_with_options(options).generate_options, False)[0].text == "the dog ran the dog"
    assert request.controls["primer"].tolist() == bundle.codec.tokenizer.encode("the dog")
