"""generate.options -> controls: key and range masks, primers, lengths, finishing."""

import numpy as np
import pytest
from pydantic import ValidationError

from domaingen.errors import ConditionError
from domaingen_plugins.music import plugin
from domaingen_plugins.music.keys import in_key_mask
from domaingen_plugins.music.melody import BOS, EOS, N_SPECIAL, NO_EVENT, PAD, MelodyCodec
from domaingen_plugins.music.options import MusicDataOptions, MusicGenerateOptions
from domaingen_plugins.music.performance import PerformanceCodec


@pytest.fixture
def bach():
    return plugin.load("embedded:bach-soprano", MusicDataOptions(max_pieces=20), ".")


@pytest.fixture
def token_codec(bach):
    return plugin.make_codec(MusicDataOptions(), "tokens").fit(bach)


def masked_uniform_sampler(n, controls, vocab, rng):
    """A stand-in sequence model: uniform draws among the allowed tokens after the primer."""
    allowed = controls.get("allowed_tokens")
    choices = np.flatnonzero(allowed) if allowed is not None else np.arange(3, vocab)
    choices = choices[choices != EOS]  # run to the full length: the hardest case for the mask
    primer = controls["primer"]
    body = rng.choice(choices, size=(n, controls["max_length"] - len(primer)))
    return np.concatenate([np.repeat(primer[None], n, axis=0), body], axis=1)


def generate(codec, options, n=1000, seed=0):
    request = plugin.generation_request(codec, options)
    x = masked_uniform_sampler(n, request.controls, codec.vocab_size, np.random.default_rng(seed))
    pieces = codec.decode(x, np.random.default_rng(seed))
    return request.accept(pieces), request


@pytest.mark.parametrize("key", ["C major", "A minor", "D dorian", "F# major"])
def test_key_mask_no_out_of_key_note_in_1000_pieces(token_codec, key):
    pieces, request = generate(token_codec, MusicGenerateOptions(key=key))
    assert len(pieces) == 1000
    pitches = np.concatenate([p.pitches for p in pieces])
    assert len(pitches) > 20_000 and in_key_mask(pitches, key).all()
    mask = request.controls["allowed_tokens"]
    assert not mask[PAD] and not mask[BOS] and mask[EOS] and mask[NO_EVENT + N_SPECIAL]


def test_pitch_range_mask(token_codec):
    pieces, _ = generate(token_codec, MusicGenerateOptions(pitch_range=[60, 72], key="C major"), n=200)
    pitches = np.concatenate([p.pitches for p in pieces])
    assert pitches.min() >= 60 and pitches.max() <= 72 and set(np.unique(pitches)) <= {60, 62, 64, 65, 67, 69, 71, 72}


def test_controls_and_length(token_codec):
    request = plugin.generation_request(
        token_codec, MusicGenerateOptions(temperature=0.8, top_k=10, top_p=0.9, length_bars=4)
    )
    c = request.controls
    assert c["temperature"] == 0.8 and c["top_k"] == 10 and c["top_p"] == 0.9
    assert c["max_length"] == 1 + 4 * 16 + 1 and c["primer"].tolist() == [BOS] and "allowed_tokens" not in c
    pieces, _ = generate(token_codec, MusicGenerateOptions(length_seconds=3.0, tempo=60), n=20)
    assert max(p.duration for p in pieces) <= 3.0 + 1e-9  # 3 s at 60 qpm = 3 beats
    assert all(p.tempo == 60 for p in pieces) and all((p.velocities == 80).all() for p in pieces)


def test_pitch_primer_becomes_quarter_notes(token_codec):
    request = plugin.generation_request(token_codec, MusicGenerateOptions(primer=[67, 69], key="C major"))
    primer = request.controls["primer"]
    assert primer[0] == BOS and len(primer) == 1 + 2 * 4
    (piece,) = token_codec.decode(primer[None])
    assert piece.pitches.tolist() == [67, 69]
    np.testing.assert_allclose(piece.ends - piece.starts, [piece.seconds_per_beat] * 2)


def test_midi_primer(tmp_path, token_codec, grid_piece):
    path = tmp_path / "primer.mid"
    grid_piece([(60, 0, 1), (64, 1, 1.5), (67, 1.5, 2)]).write_midi(path)
    primer = plugin.generation_request(token_codec, MusicGenerateOptions(primer=str(path))).controls["primer"]
    assert token_codec.decode(primer[None])[0].pitches.tolist() == [60, 64, 67]


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(primer=[40, 60]), "primer pitch 40 is outside the pitch range \\[48, 84\\]"),
        (dict(primer=[60, 74], pitch_range=[55, 72]), "primer pitch 74 is outside the pitch range \\[55, 72\\]"),
        (dict(primer=[61], key="C major"), "primer pitch 61 is not in C major"),
        (dict(pitch_range=[30, 70]), "outside the trained range"),
        (dict(primer="/nowhere/primer.mid"), "does not exist"),
    ],
)
def test_bad_primers_and_ranges_are_condition_errors(token_codec, options, message):
    with pytest.raises(ConditionError, match=message):
        plugin.generation_request(token_codec, MusicGenerateOptions(**options))


def test_option_validation():
    with pytest.raises(ValidationError, match="unknown key"):
        MusicGenerateOptions(key="C bebop")
    with pytest.raises(ValidationError, match="not both"):
        MusicGenerateOptions(length_bars=4, length_seconds=2)
    with pytest.raises(ValidationError, match="pitch_range"):
        MusicGenerateOptions(pitch_range=[80, 60])
    with pytest.raises(ValidationError):
        MusicGenerateOptions(tempo_bpm=100)


def test_table_family_snaps_into_key_and_range(bach):
    codec = plugin.make_codec(MusicDataOptions(), "table").fit(bach)
    request = plugin.generation_request(codec, MusicGenerateOptions(key="D dorian", pitch_range=[60, 74]))
    rng = np.random.default_rng(0)
    events = rng.integers(0, codec.n_events, size=(300, codec.segment_steps))
    x = np.eye(codec.n_events, dtype=np.float32)[events].reshape(300, -1)  # one-hot rows, as the vae returns
    pieces = request.accept(codec.decode(x, rng))
    assert len(pieces) == 300
    pitches = np.concatenate([p.pitches for p in pieces])
    assert in_key_mask(pitches, "D dorian").all() and pitches.min() >= 60 and pitches.max() <= 74
    with pytest.raises(ConditionError, match="sequence family"):
        plugin.generation_request(codec, MusicGenerateOptions(primer=[62]))


def test_performance_key_mask(bach):
    codec = plugin.make_codec(MusicDataOptions(representation="performance", sequence_length=256), "tokens").fit(bach)
    assert isinstance(codec, PerformanceCodec)
    request = plugin.generation_request(codec, MusicGenerateOptions(key="A minor", length_seconds=4))
    mask = request.controls["allowed_tokens"]
    pitches = np.arange(codec.pitch_low, codec.pitch_high + 1)
    on = mask[codec.note_on_base : codec.note_on_base + len(pitches)]
    assert (on == in_key_mask(pitches, "A minor")).all()
    assert mask[codec.note_off_base : codec.vocab_size].all()
    pieces, _ = generate(codec, MusicGenerateOptions(key="A minor", length_seconds=4), n=100)
    assert all(p.duration <= 4.0 + 1e-9 for p in pieces)
    assert in_key_mask(np.concatenate([p.pitches for p in pieces]), "A minor").all()


def test_melody_codec_is_the_transformer_default(token_codec):
    assert isinstance(token_codec, MelodyCodec) and plugin.default_family == "transformer"
    assert plugin.layouts_for(MusicDataOptions()) == ("tokens", "table") and plugin.formats[0] == "midi"
