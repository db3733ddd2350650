"""Codec round-trips: MIDI -> events -> MIDI keeps every note (quantised for melodies)."""

import json

import numpy as np
import pytest

from domaingen import registry
from domaingen.errors import BundleError, UsageError
from domaingen_plugins.music import plugin
from domaingen_plugins.music.codecs import codec_from_config
from domaingen_plugins.music.melody import BOS, EOS, FIRST_NOTE_ON, N_SPECIAL, NO_EVENT, NOTE_OFF, PAD, MelodyCodec
from domaingen_plugins.music.options import MusicDataOptions
from domaingen_plugins.music.performance import PerformanceCodec
from domaingen_plugins.music.piece import Piece


def melody_codec(layout="tokens", **kw):
    return MelodyCodec(layout=layout, pitch_low=48, pitch_high=84, **kw)


def test_melody_events_are_the_documented_tokens(scale_piece):
    codec = melody_codec().fit([scale_piece])
    ev = codec.events(scale_piece)
    assert len(ev) == 48  # last note ends at beat 12 = step 48
    assert ev[0] == FIRST_NOTE_ON + 60 - 48 and ev[1] == NO_EVENT
    assert ev[32] == NOTE_OFF  # the rest after the scale's top C (beat 8)
    assert ev[36] == FIRST_NOTE_ON + 71 - 48 and ev[37] == FIRST_NOTE_ON + 69 - 48


def test_melody_round_trip_keeps_every_note(scale_piece):
    codec = melody_codec().fit([scale_piece])
    x = codec.encode([scale_piece])
    assert x.shape == (1, codec.window_steps + 2) and x.dtype == np.int32
    assert x[0, 0] == BOS and x[0, 49] == EOS and (x[0, 50:] == PAD).all()
    (back,) = codec.decode(x, np.random.default_rng(0))
    np.testing.assert_allclose(back.notes[:, :3], scale_piece.notes[:, :3], atol=1e-9)
    assert codec.spec.vocab_size == N_SPECIAL + 2 + 37 and codec.spec.special_tokens == {"pad": 0, "bos": 1, "eos": 2}


def test_melody_quantises_to_sixteenths_and_keeps_top_of_chords():
    beat = 0.5
    piece = Piece([(60, 0.02, 0.49, 80), (64, 0.0, 0.5, 80), (67, 0.51, 0.99, 80)], tempo=120)
    codec = melody_codec().fit([piece])
    notes = codec.notes_from_events(codec.events(piece))
    assert notes[:, 0].tolist() == [64, 67]
    np.testing.assert_allclose(notes[:, 1], [0.0, beat])
    np.testing.assert_allclose(notes[:, 2], [beat, 2 * beat])


def test_melody_pitches_outside_the_range_move_by_octaves(grid_piece):
    piece = grid_piece([(30, 0, 1), (100, 1, 2)])
    codec = melody_codec().fit([piece])
    assert codec.notes_from_events(codec.events(piece))[:, 0].tolist() == [54, 76]


def test_melody_windows_cover_a_long_piece_bar_aligned(grid_piece):
    rows = [(60 + (i % 12), i, i + 1) for i in range(80)]  # 20 bars of quarter notes
    piece = grid_piece(rows)
    codec = melody_codec(window_bars=8, hop_bars=4).fit([piece])
    x = codec.encode([piece])
    assert len(x) == 4  # windows at bars 0, 4, 8, 12; the last one ends the piece
    assert (x[:, 0] == BOS).all() and (x[-1] == EOS).sum() == 1 and (x[:-1] == EOS).sum() == 0
    # non-overlapping windows (hop = window) rebuild the piece exactly
    whole = melody_codec(window_bars=4, hop_bars=4).fit([piece])
    pieces = whole.decode(whole.encode([piece]))
    starts = np.concatenate([p.starts + 8 * i for i, p in enumerate(pieces)])
    np.testing.assert_allclose(starts, piece.starts)


def test_melody_transpose_adds_shifted_copies(scale_piece):
    codec = melody_codec(transpose=(2, -3)).fit([scale_piece])
    x = codec.encode([scale_piece])
    assert len(x) == 3
    firsts = [codec.decode(x[i : i + 1])[0].pitches[0] for i in range(3)]
    assert firsts == [60, 62, 57]


def test_melody_table_layout_one_hot_segments(scale_piece):
    codec = melody_codec("table", segment_bars=2, hop_bars=2).fit([scale_piece])
    spec = codec.spec
    x = codec.encode([scale_piece])
    assert spec.layout == "table" and len(spec.segments) == 32 and spec.shape == (32 * 39,)
    assert x.shape == (2, 32 * 39)  # bars 0-1 and 2-3 (the piece has 3 bars)
    blocks = x.reshape(2, 32, 39)
    assert (blocks.sum(axis=2) == 1).all()
    first = codec.decode(x[:1])[0]
    np.testing.assert_allclose(first.notes[:, :3], scale_piece.notes[:8, :3])


def test_performance_round_trip_keeps_every_note():
    rng = np.random.default_rng(1)
    rows = []
    for _ in range(300):  # polyphonic, overlapping, random velocities, off the 10 ms grid
        s = rng.uniform(0, 40)
        rows.append((int(rng.integers(21, 109)), s, s + rng.uniform(0.02, 2.5), int(rng.integers(1, 128))))
    piece = Piece(rows, tempo=100)
    codec = PerformanceCodec(sequence_length=8192).fit([piece])
    tokens = codec.encode([piece])
    assert tokens.shape == (1, 8192)
    (back,) = codec.decode(tokens)
    # same-pitch overlaps are cut at the next onset (documented), otherwise nothing is lost
    key = lambda n: (int(n[0]), round(n[1], 2))  # noqa: E731
    src = sorted(piece.notes.tolist(), key=key)
    got = sorted(back.notes.tolist(), key=key)
    assert len(got) == len(src)
    for a, b in zip(src, got):
        assert a[0] == b[0]
        assert abs(a[1] - b[1]) <= 0.005 + 1e-9
        assert b[2] <= a[2] + 0.005 + 1e-9
        assert abs(a[3] - b[3]) <= 127 / 32 / 2 + 1


def test_performance_event_grammar():
    piece = Piece([(60, 0.0, 1.5, 100), (64, 0.0, 0.5, 100)], tempo=120)
    codec = PerformanceCodec(pitch_low=48, pitch_high=72, velocity_bins=8, max_shift_steps=100).fit([piece])
    ev = codec.events(piece)
    names = []
    for t in ev:
        if codec.note_on_base <= t < codec.note_off_base:
            names.append(f"on{t - codec.note_on_base + 48}")
        elif codec.note_off_base <= t < codec.shift_base:
            names.append(f"off{t - codec.note_off_base + 48}")
        elif codec.shift_base <= t < codec.velocity_base:
            names.append(f"shift{t - codec.shift_base + 1}")
        else:
            names.append(f"vel{t - codec.velocity_base}")
    assert names == ["vel6", "on60", "on64", "shift50", "off64", "shift100", "off60"]


def test_long_performance_is_windowed():
    rows = [(60 + i % 5, i * 0.1, i * 0.1 + 0.05, 80) for i in range(400)]
    piece = Piece(rows)
    codec = PerformanceCodec(sequence_length=128).fit([piece])
    x = codec.encode([piece])
    assert x.shape[1] == 128 and len(x) > 10
    assert (x[:, 0] == BOS).all() and (x == EOS).sum() == 1


def _codec_for(options, family):
    """The codec the core makes for ``family``: families are matched by layout."""
    return plugin.make_codec(options, registry.matching_layout(plugin, options, registry.get_family(family)))


@pytest.mark.parametrize(
    "representation, family, cls_name, layout",
    [
        ("melody", "transformer", "MelodyCodec", "tokens"),
        ("melody", "rnn", "MelodyCodec", "tokens"),
        ("melody", "vae", "MelodyCodec", "table"),
        ("melody", "gan", "MelodyCodec", "table"),
        ("performance", "transformer", "PerformanceCodec", "tokens"),
        ("spectrogram", "vae", "SpectrogramCodec", "grid"),
        ("spectrogram", "gan", "SpectrogramCodec", "grid"),
    ],
)
def test_codec_choice(representation, family, cls_name, layout):
    codec = _codec_for(MusicDataOptions(representation=representation), family)
    assert type(codec).__name__ == cls_name and codec.layout == layout


@pytest.mark.parametrize("representation, family", [("performance", "vae"), ("spectrogram", "transformer"), ("performance", "copula")])
def test_codec_refuses_a_family_it_cannot_feed(representation, family):
    with pytest.raises(UsageError, match="does not support the"):
        _codec_for(MusicDataOptions(representation=representation), family)


@pytest.mark.parametrize("representation, family", [("melody", "transformer"), ("melody", "vae"), ("performance", "rnn")])
def test_codec_state_is_json_and_rebuilds_identically(representation, family, scale_piece):
    codec = _codec_for(MusicDataOptions(representation=representation, transpose=[1]), family).fit([scale_piece])
    config = json.loads(json.dumps(codec.get_config()))
    again = plugin.codec_from_config(config, codec.get_arrays())
    np.testing.assert_array_equal(again.encode([scale_piece]), codec.encode([scale_piece]))
    assert again.spec == codec.spec


def test_unknown_codec_kind_is_a_bundle_error():
    with pytest.raises(BundleError, match="unknown music codec"):
        codec_from_config({"kind": "banjo"})


def test_spectrogram_round_trip_keeps_the_notes(grid_piece):
    from domaingen_plugins.music.spectrogram import SpectrogramCodec

    piece = grid_piece([(p, i, i + 0.9) for i, p in enumerate([60, 64, 67, 72])], tempo=120)  # 2 s
    codec = SpectrogramCodec(frames=128, pitch_low=48, pitch_high=84).fit([piece])
    x = codec.encode([piece])
    assert x.shape == (1, 64, 128, 1) and x.dtype == np.float32
    assert x.max() == pytest.approx(1.0) and x.min() >= -1.0
    assert codec.spec.layout == "grid" and codec.spec.shape == (64, 128, 1)
    (back,) = codec.decode(x, np.random.default_rng(0))
    assert back.audio is not None and back.sample_rate == 16000
    assert back.pitches.tolist() == [60, 64, 67, 72]
    np.testing.assert_allclose(back.starts, piece.starts, atol=0.06)
    # the scaling inverts exactly
    db = codec.log_mel(back.audio)
    np.testing.assert_allclose(codec.unscale(codec.scale(db)), np.clip(db, codec.db_max_ - 80, codec.db_max_), atol=1e-3)
    again = plugin.codec_from_config(json.loads(json.dumps(codec.get_config())), {})
    np.testing.assert_array_equal(again.encode([piece]), x)
    (same,) = again.decode(x, np.random.default_rng(0))
    np.testing.assert_array_equal(same.audio, back.audio)  # Griffin-Lim seeded by the generator


def test_spectrogram_nnls_inversion_is_closer_than_pinv(grid_piece):
    from domaingen_plugins.music.spectrogram import SpectrogramCodec

    piece = grid_piece([(p, i, i + 0.9) for i, p in enumerate([57, 64, 69, 76])], tempo=120)
    errors = {}
    for method in ("pinv", "nnls"):
        codec = SpectrogramCodec(frames=128, mel_inversion=method).fit([piece])
        x = codec.encode([piece])
        (back,) = codec.decode(x, np.random.default_rng(0))
        errors[method] = np.abs(codec.scale(codec.log_mel(back.audio))[:, :128] - x[0, :, :, 0]).mean()
    assert errors["nnls"] < errors["pinv"] < 0.5  # mean |error| in scaled units (2 = top_db)
    with pytest.raises(ValueError, match="mel_inversion"):
        SpectrogramCodec(mel_inversion="magic")
