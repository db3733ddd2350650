"""RNN and transformer families: learn a known next-token rule, sampling controls, saving."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.errors import DataError, UsageError
from domaingen.models import autoregressive as ar

from .conftest import (
    BOS,
    CYCLE,
    EOS,
    PAD,
    SEQ_LEN,
    TABLE_SPEC,
    TOKEN_SPEC,
    VOCAB,
    cycle_sequences,
    next_token,
    rule_accuracy,
    weights_equal,
)

keras = keras_module()
FAMILIES = {
    "rnn": (ar.rnn_family, {"units": 64, "layers": 1, "embedding_dim": 16}),
    "transformer": (ar.transformer_family, {"dim": 32, "heads": 2, "layers": 2, "ff_dim": 64}),
}
EPOCHS = {"rnn": 20, "transformer": 12}
LR = {"rnn": 1e-2, "transformer": 3e-3}


def _train(name, epochs=None, seed=0, n=600):
    epochs = epochs or EPOCHS[name]
    family, options = FAMILIES[name]
    model = family.build(TOKEN_SPEC, options, seed)
    model.train_on(cycle_sequences(n), epochs=epochs, batch_size=64, learning_rate=LR[name], callbacks=[], seed=seed)
    return model


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request):
    return _train(request.param)


def test_learns_next_token_rule_and_structure(trained):
    g = trained.generate(300, seed=1)
    assert g.shape == (300, SEQ_LEN) and g.dtype == np.int32
    assert np.all(g[:, 0] == BOS)
    assert rule_accuracy(g) > 0.97
    # every sequence ends with eos (lengths 8..17 in training) and only pad follows it
    has_eos = (g == EOS).any(axis=1)
    assert has_eos.mean() > 0.9  # the model must also learn to count to 8..17
    for row in g[has_eos]:
        end = int(np.argmax(row == EOS))
        assert np.all(row[end + 1 :] == PAD)
        assert PAD not in row[:end] and BOS not in row[1:end]


def test_same_seed_same_sequences_and_save_load(trained, tmp_keras):
    a = trained.generate(64, seed=7)
    assert np.array_equal(a, trained.generate(64, seed=7))
    assert not np.array_equal(a, trained.generate(64, seed=8))
    trained.save(tmp_keras)
    loaded = keras.saving.load_model(tmp_keras, safe_mode=True)
    assert type(loaded) is type(trained)
    assert weights_equal(trained, loaded)
    assert np.array_equal(a, loaded.generate(64, seed=7))


def test_primer_greedy_and_max_length(trained):
    g = trained.generate(4, seed=0, controls={"primer": [5, 6, 7], "temperature": 0.0, "max_length": 10})
    assert g.shape == (4, 10)
    assert np.all(g[:, :4] == [BOS, 5, 6, 7])  # bos is put in front of the primer
    assert np.all(g == g[0])  # greedy: every sample identical
    assert g[0, 4] == next_token(7)
    per_sample = np.array([[BOS, 3], [BOS, 9]])
    p = trained.generate(2, seed=0, controls={"primer": per_sample, "temperature": 0.0, "max_length": 5})
    assert p[0, 2] == next_token(3) and p[1, 2] == next_token(9)


def test_top_k_one_equals_greedy_and_top_p_small_too(trained):
    greedy = trained.generate(16, seed=3, controls={"temperature": 0.0, "primer": [4]})
    k1 = trained.generate(16, seed=3, controls={"top_k": 1, "primer": [4]})
    p_small = trained.generate(16, seed=3, controls={"top_p": 1e-6, "primer": [4]})
    assert np.array_equal(greedy, k1) and np.array_equal(greedy, p_small)


def test_high_temperature_breaks_the_rule(trained):
    hot = trained.generate(200, seed=1, controls={"temperature": 50.0})
    assert rule_accuracy(hot) < 0.5


def test_allowed_tokens_mask(trained):
    allowed = np.zeros(VOCAB, bool)
    allowed[[3, 4, 5]] = True
    g = trained.generate(100, seed=0, controls={"allowed_tokens": allowed})
    body = g[:, 1:]
    assert set(np.unique(body)) <= {3, 4, 5, EOS, PAD}
    with pytest.raises(UsageError):
        trained.generate(2, seed=0, controls={"allowed_tokens": np.zeros(VOCAB, bool)})
    with pytest.raises(UsageError):
        trained.generate(2, seed=0, controls={"allowed_tokens": np.ones(3, bool)})


def test_bad_controls_and_data_raise(trained):
    with pytest.raises(UsageError, match="unknown"):
        trained.generate(2, seed=0, controls={"temp": 1.0})
    with pytest.raises(UsageError):
        trained.generate(2, seed=0, controls={"primer": [VOCAB + 3]})
    with pytest.raises(UsageError):
        trained.generate(2, seed=0, controls={"primer": np.zeros((3, 2), int)})
    with pytest.raises(DataError):
        trained.train_on(np.full((4, SEQ_LEN), VOCAB), epochs=1, batch_size=2, learning_rate=1e-3, callbacks=[])


def _endless_cycles(n: int, seed: int = 0) -> np.ndarray:
    """bos then the cycle rule for the whole sequence (no eos): text that never ends."""
    rng = np.random.default_rng(seed)
    out = np.full((n, SEQ_LEN), BOS, "int32")
    out[:, 1] = rng.integers(3, 3 + CYCLE, n)
    for j in range(2, SEQ_LEN):
        out[:, j] = next_token(out[:, j - 1])
    return out


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_generation_continues_past_the_training_window(name):
    """Trained on 20-token windows, asked for 90 tokens: the rule holds all the way (the
    transformer rebuilds its cache from the last half window when it is full)."""
    from domaingen.spec import DataSpec

    spec = DataSpec("tokens", (SEQ_LEN,), vocab_size=VOCAB, special_tokens={"pad": PAD, "bos": BOS})
    family, options = FAMILIES[name]
    model = family.build(spec, options, 0)
    model.train_on(_endless_cycles(400), epochs=EPOCHS[name], batch_size=64, learning_rate=LR[name], callbacks=[], seed=0)
    g = model.generate(16, seed=0, controls={"max_length": 90, "temperature": 0.0})
    assert g.shape == (16, 90) and (g[:, 1:] >= 3).all()
    assert rule_accuracy(g) > 0.97
    sampled = model.generate(16, seed=1, controls={"max_length": 90})
    assert rule_accuracy(sampled) > 0.9
    with pytest.raises(UsageError, match="max_length"):
        model.generate(1, seed=0, controls={"max_length": 10**7})


@pytest.mark.parametrize(
    "controls",
    [
        {},
        {"max_length": 70, "top_k": 4, "temperature": 0.8, "primer": [3, 4, 5]},  # past the window: cache rebuilds
        {"top_p": 0.9, "repetition_penalty": 1.5, "max_length": 45},
        {"temperature": 0.0, "max_length": 30},
    ],
)
def test_fused_sampling_loop_equals_the_per_position_reference(trained, controls):
    """The fused loop (many positions per compiled call) draws exactly the tokens of the
    plain per-position loop, batch by batch, for the same seed."""
    fused = trained.sample(37, seed=11, controls=controls, batch_size=16)
    plain = trained.sample(37, seed=11, controls=controls, batch_size=16, fused=False)
    assert fused.x.shape == plain.x.shape
    np.testing.assert_array_equal(fused.x, plain.x)
    whole = trained.sample(37, seed=11, controls=controls, batch_size=37)  # each row from its own seed
    np.testing.assert_array_equal(whole.x, plain.x)
    again = trained.sample(1, seed=0, controls=controls, row_seeds=fused.seeds[5:6])
    np.testing.assert_array_equal(again.x[0], fused.x[5])


def test_no_repeat_ngram_and_repetition_penalty(trained):
    """The cycle repeats every 9 tokens; forbidding repeated bigrams must break it exactly,
    and a repetition penalty must make repeated tokens rarer."""
    g = trained.generate(64, seed=4, controls={"no_repeat_ngram": 2, "primer": [3, 4, 5]})
    for row in g:
        body = [int(t) for t in row if t >= 3]
        bigrams = list(zip(body, body[1:]))
        assert len(bigrams) == len(set(bigrams)), row

    def repeats(x):
        return np.mean([len(r[r >= 3]) - len(set(r[r >= 3])) for r in x])

    plain = trained.generate(200, seed=5)
    penalised = trained.generate(200, seed=5, controls={"repetition_penalty": 20.0})
    assert repeats(penalised) < repeats(plain)


def test_labels_select_the_rule_of_their_class():
    """Label 'up' sequences count up the cycle, label 'down' ones count down; sampled
    sequences must follow the rule of the label they were generated for."""
    from domaingen.spec import DataSpec, Label

    spec = DataSpec(
        "tokens", (SEQ_LEN,), vocab_size=VOCAB, special_tokens={"pad": PAD, "bos": BOS}, labels=(Label("dir", ("up", "down")),)
    )
    x = _endless_cycles(600)
    codes = (np.arange(600) % 2).astype("int32")[:, None]
    for j in range(2, SEQ_LEN):  # the 'down' rows: previous token minus one
        x[codes[:, 0] == 1, j] = 3 + (x[codes[:, 0] == 1, j - 1] - 3 - 1) % CYCLE
    for name in sorted(FAMILIES):
        family, options = FAMILIES[name]
        model = family.build(spec, options, 0)
        model.train_on(x, labels=codes, epochs=EPOCHS[name], batch_size=64, learning_rate=LR[name], callbacks=[], seed=0)
        samples = model.sample(100, seed=2)
        up = samples.labels[:, 0] == 0
        assert 0.3 < up.mean() < 0.7  # drawn from the training frequencies (1/2)
        assert rule_accuracy(samples.x[up]) > 0.95, name
        down = samples.x[~up]
        assert (down[:, 2:] == 3 + (down[:, 1:-1] - 3 - 1) % CYCLE).mean() > 0.95, name
        only_down = model.sample(20, seed=3, conditions={"dir": 1})
        assert (only_down.labels == 1).all()


def test_cosine_schedule_with_warm_up_learns_the_rule():
    family, options = FAMILIES["transformer"]
    model = family.build(TOKEN_SPEC, {**options, "lr_schedule": "cosine", "warmup_steps": 20}, 0)
    model.train_on(cycle_sequences(600), epochs=EPOCHS["transformer"], batch_size=64, learning_rate=LR["transformer"], seed=0)
    assert rule_accuracy(model.generate(100, seed=1, controls={"temperature": 0.0})) > 0.97


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_same_seed_gives_identical_training(name):
    m1, m2 = _train(name, epochs=1, seed=3, n=128), _train(name, epochs=1, seed=3, n=128)
    assert weights_equal(m1, m2)
    assert np.array_equal(m1.generate(20, seed=0), m2.generate(20, seed=0))


def test_no_bos_starts_from_training_first_tokens():
    from domaingen.spec import DataSpec

    spec = DataSpec("tokens", (SEQ_LEN - 1,), vocab_size=VOCAB, special_tokens={"pad": PAD, "eos": EOS})
    x = cycle_sequences(600)[:, 1:]  # drop bos: first tokens uniform over 3..11
    model = ar.rnn_family.build(spec, FAMILIES["rnn"][1], 0)
    model.train_on(x, epochs=20, batch_size=64, learning_rate=1e-2, callbacks=[], seed=0)
    g = model.generate(400, seed=0)
    assert set(np.unique(g[:, 0])) <= set(range(3, 12)) and len(np.unique(g[:, 0])) >= 7
    assert rule_accuracy(g) > 0.95


def test_build_rejects_other_layouts():
    for family in (ar.rnn_family, ar.transformer_family):
        with pytest.raises(UsageError):
            family.build(TABLE_SPEC, {}, 0)
