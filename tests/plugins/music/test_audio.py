"""Audio: rendering, WAV output checked with pYIN, transcription of a synthesised tune."""

import numpy as np
import pytest
import soundfile as sf

from domaingen_plugins.music import plugin
from domaingen_plugins.music.metrics import rendered_note_pitch_accuracy
from domaingen_plugins.music.options import MusicGenerateOptions
from domaingen_plugins.music.synth import render
from domaingen_plugins.music.transcribe import transcribe

TUNE = [60, 62, 64, 64, 67, 65, 64, 62, 60, 72]


@pytest.fixture
def tune(grid_piece):
    # detached quarter notes (90% of the beat) at 120 qpm
    return grid_piece([(p, i, i + 0.9, 90) for i, p in enumerate(TUNE)], name="tune")


def test_render_is_bounded_and_as_long_as_the_notes(tune):
    y = render(tune, 22050)
    assert y.dtype == np.float32 and np.max(np.abs(y)) <= 1.0
    assert len(y) / 22050 == pytest.approx(tune.duration + 0.16, abs=0.01)
    assert np.abs(y[int(0.1 * 22050) : int(0.3 * 22050)]).max() > 0.1
    after_release = int((tune.duration + 0.081) * 22050)
    assert np.abs(y[after_release:]).max() < 1e-3


def test_transcription_recovers_a_synthesised_tune(tune):
    notes = transcribe(render(tune, 22050), 22050, pitch_low=48, pitch_high=84)
    assert notes[:, 0].astype(int).tolist() == TUNE  # the repeated E stays two notes
    np.testing.assert_allclose(notes[:, 1], tune.starts, atol=0.05)


def test_write_midi_and_wav_with_the_same_notes(tmp_path, tune):
    options = MusicGenerateOptions(sample_rate=16000, spectrogram_png=True)
    paths = plugin.write([tune, tune.with_tempo(90)], tmp_path / "part-00000", "midi", options)
    names = sorted(p.name for p in paths)
    assert names == [
        "part-00000-piece-0000.mid", "part-00000-piece-0000.png", "part-00000-piece-0000.wav",
        "part-00000-piece-0001.mid", "part-00000-piece-0001.png", "part-00000-piece-0001.wav",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary files left
    y, sr = sf.read(str(tmp_path / "part-00000-piece-0000.wav"), dtype="float32")
    assert sr == 16000 and y.ndim == 1
    (midi_piece,) = plugin.read([tmp_path / "part-00000-piece-0000.mid"])
    assert midi_piece.pitches.tolist() == TUNE
    assert rendered_note_pitch_accuracy(midi_piece, y, sr) == 1.0
    # a WAV of other notes fails the check
    assert rendered_note_pitch_accuracy(midi_piece.with_tempo(60), y, sr) < 0.7


def test_wav_format_writes_only_audio_and_reads_back(tmp_path, tune):
    paths = plugin.write([tune], tmp_path / "part-00003", "wav", MusicGenerateOptions(sample_rate=16000))
    assert [p.name for p in paths] == ["part-00003-piece-0000.wav"]
    (back,) = plugin.read(paths)
    assert back.audio is not None and back.pitches.tolist() == TUNE


def test_unknown_format_is_a_usage_error(tmp_path, tune):
    from domaingen.errors import UsageError

    with pytest.raises(UsageError, match="midi, wav"):
        plugin.write([tune], tmp_path / "p", "mp3", MusicGenerateOptions())


def test_shipped_demo_wavs_transcribe_to_their_tunes():
    from domaingen_plugins.music.build_corpus import AUDIO_DIR, DEMO_TUNES
    from domaingen_plugins.music.options import MusicDataOptions

    pieces = plugin.load(str(AUDIO_DIR), MusicDataOptions(audio_tempo=120), AUDIO_DIR)
    by_name = {p.name: p for p in pieces}
    for name, (_, rows) in DEMO_TUNES.items():
        assert by_name[name].pitches.tolist() == [r[0] for r in rows]
    assert sum(f.stat().st_size for f in AUDIO_DIR.glob("*.wav")) < 400_000


def test_pitch_check_on_a_single_pitch_piece(grid_piece):
    piece = grid_piece([(64, 0, 1), (64, 2, 3)])
    assert rendered_note_pitch_accuracy(piece, render(piece, 16000), 16000) == 1.0


def test_read_keeps_generated_audio_without_notes(tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "part-00000-piece-0000.wav"), np.zeros(8000, dtype=np.float32), 16000)
    rng = np.random.default_rng(0)
    sf.write(str(tmp_path / "part-00000-piece-0001.wav"), 0.1 * rng.standard_normal(8000).astype(np.float32), 16000)
    silent, noise = plugin.read(sorted(tmp_path.iterdir()))
    assert len(silent.notes) == 0 and silent.audio is not None and len(silent.audio) == 8000
    assert noise.audio is not None
