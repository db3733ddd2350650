"""Loading MIDI, audio and the embedded corpus; bad input raises DataError."""

import json

import numpy as np
import pytest
import soundfile as sf

from domaingen.errors import DataError
from domaingen_plugins.music import plugin
from domaingen_plugins.music.loading import DATA_DIR, load_midi
from domaingen_plugins.music.options import MusicDataOptions
from domaingen_plugins.music.synth import render

OPTS = MusicDataOptions()


def test_midi_file_loads_with_tempo_and_notes(tmp_path, scale_piece):
    path = tmp_path / "scale.mid"
    scale_piece.write_midi(path)
    (piece,) = plugin.load("scale.mid", OPTS, tmp_path)
    assert piece.name == "scale" and piece.tempo == pytest.approx(120.0)
    np.testing.assert_allclose(piece.notes[:, :3], scale_piece.notes[:, :3], atol=2e-3)


def test_midi_tempo_changes_are_folded_into_beats(tmp_path):
    import mido

    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))  # 120 qpm
    for i, pitch in enumerate([60, 62, 64]):
        if i == 1:
            track.append(mido.MetaMessage("set_tempo", tempo=1000000, time=0))  # 60 qpm from beat 1
        track.append(mido.Message("note_on", note=pitch, velocity=80, time=0))
        track.append(mido.Message("note_off", note=pitch, velocity=0, time=480))
    mid.tracks.append(track)
    path = tmp_path / "t.mid"
    mid.save(str(path))
    piece = load_midi(path)
    assert piece.tempo == pytest.approx(120.0)
    # beats 0, 1, 2 at a steady 120 qpm (the file plays them at 0, 0.5 and 1.5 s)
    np.testing.assert_allclose(piece.starts, [0.0, 0.5, 1.0], atol=1e-6)


def test_folder_loads_midi_and_audio_sorted(tmp_path, scale_piece):
    scale_piece.write_midi(tmp_path / "b.mid")
    sub = tmp_path / "sub"
    sub.mkdir()
    sf.write(str(sub / "a.wav"), render(scale_piece, 16000), 16000)
    (tmp_path / "notes.txt").write_text("not music")
    pieces = plugin.load(".", MusicDataOptions(audio_tempo=120), tmp_path)
    assert [p.name for p in pieces] == ["a", "b"]
    assert pieces[0].audio is not None and pieces[0].sample_rate == 16000 and len(pieces[0].notes) >= 10


def test_corrupt_midi_is_a_data_error(tmp_path):
    (tmp_path / "bad.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage-not-midi")
    with pytest.raises(DataError, match="bad.mid: not a readable MIDI file"):
        plugin.load("bad.mid", OPTS, tmp_path)


def test_midi_without_notes_is_a_data_error(tmp_path):
    import pretty_midi

    pretty_midi.PrettyMIDI().write(str(tmp_path / "empty.mid"))
    with pytest.raises(DataError, match="no \\(non-drum\\) notes"):
        plugin.load("empty.mid", OPTS, tmp_path)


def test_silent_audio_is_a_data_error(tmp_path):
    sf.write(str(tmp_path / "quiet.wav"), np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(DataError, match="quiet.wav: the audio is silent"):
        plugin.load("quiet.wav", OPTS, tmp_path)


def test_unreadable_audio_is_a_data_error(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    with pytest.raises(DataError, match="junk.wav: not a readable audio file"):
        plugin.load("junk.wav", OPTS, tmp_path)


def test_empty_folder_and_missing_path_are_data_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no music files"):
        plugin.load("empty", OPTS, tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        plugin.load("nowhere", OPTS, tmp_path)
    with pytest.raises(DataError, match="unknown music source"):
        plugin.load("embedded:mozart", OPTS, tmp_path)


def test_embedded_bach_soprano_ships_offline_with_its_licence(tmp_path):
    pieces = plugin.load("embedded:bach-soprano", OPTS, tmp_path)
    assert len(pieces) > 350
    doc = json.loads((DATA_DIR / "bach_soprano.json").read_text())
    assert "public domain" in doc["licence"] and "Greentree" in doc["licence"]
    assert (DATA_DIR / "bach_soprano.json").stat().st_size < 1_000_000
    pitches = np.concatenate([p.pitches for p in pieces])
    assert 55 <= pitches.min() and pitches.max() <= 84  # soprano register
    assert {p.beats_per_bar for p in pieces} == {3, 4}


def test_max_pieces_and_min_notes(tmp_path):
    pieces = plugin.load("embedded:bach-soprano", MusicDataOptions(max_pieces=5), tmp_path)
    assert len(pieces) == 5 and [p.name for p in pieces] == sorted(p.name for p in pieces)
    with pytest.raises(DataError, match="min_notes"):
        plugin.load("embedded:bach-soprano", MusicDataOptions(max_pieces=3, min_notes=10_000), tmp_path)


def test_music21_live_parse_matches_the_shipped_extract(tmp_path):
    live = plugin.load("music21:bach-soprano", MusicDataOptions(max_pieces=2), tmp_path)
    shipped = {p.name: p for p in plugin.load("embedded:bach-soprano", OPTS, tmp_path)}
    for piece in live:
        np.testing.assert_allclose(piece.notes, shipped[piece.name].notes, atol=1e-3)


def test_music21_every_part_for_performances(tmp_path):
    (piece,) = plugin.load("music21:bach", MusicDataOptions(representation="performance", max_pieces=1), tmp_path)
    starts = np.round(piece.starts, 6)
    assert np.max(np.unique(starts, return_counts=True)[1]) >= 4  # four-part chords
    codec = plugin.make_codec(MusicDataOptions(representation="performance", sequence_length=4096), "tokens")
    (back,) = codec.fit([piece]).decode(codec.encode([piece]))
    # voices in unison (bwv1.6 has a horn doubling the soprano) merge into one note
    distinct = {(int(n[0]), round(n[1], 2)) for n in piece.notes}
    assert {(int(n[0]), round(n[1], 2)) for n in back.notes} == distinct and len(back.notes) == len(distinct)
