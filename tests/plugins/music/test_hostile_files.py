"""Hostile music files: truncated or corrupt MIDI and WAV, files too large to read whole,
and audio whose header declares more samples than it should (a tiny sample rate, a long
duration), refused with a DataError naming the file before anything is decoded."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from domaingen.errors import DataError
from domaingen_plugins.music import loading, plugin
from domaingen_plugins.music.options import MAX_FILE_BYTES_LIMIT, MusicDataOptions
from domaingen_plugins.music.output import read_pieces

OPTS = MusicDataOptions(audio_tempo=120)


def _tone(seconds: float, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_truncated_midi_names_the_file(tmp_path, scale_piece):
    scale_piece.write_midi(tmp_path / "whole.mid")
    data = (tmp_path / "whole.mid").read_bytes()
    for cut in (10, 20, len(data) // 2):
        (tmp_path / "cut.mid").write_bytes(data[:cut])
        with pytest.raises(DataError, match=r"cut\.mid: "):
            plugin.load("cut.mid", OPTS, tmp_path)


def test_corrupt_wav_variants_name_the_file(tmp_path):
    sf.write(str(tmp_path / "ok.wav"), _tone(0.5), 8000)
    data = (tmp_path / "ok.wav").read_bytes()
    variants = {
        "header.wav": data[:44],  # the header and no samples
        "cut.wav": data[:30],  # the header itself cut
        "flipped.wav": data[:8] + b"XAVE" + data[12:],  # not a WAVE chunk any more
        "text.wav": b"just some text, not audio at all",
    }
    for name, content in variants.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DataError, match=name.replace(".", r"\.") + ": "):
            plugin.load(name, OPTS, tmp_path)


def test_corrupt_generated_files_are_data_errors_when_read_back(tmp_path):
    (tmp_path / "part-00000").mkdir()
    (tmp_path / "part-00000" / "piece-0.mid").write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    with pytest.raises(DataError, match=r"piece-0\.mid: not a readable MIDI file"):
        read_pieces([tmp_path / "part-00000" / "piece-0.mid"])


def test_file_over_max_file_bytes_is_refused_unread(tmp_path, scale_piece, monkeypatch):
    scale_piece.write_midi(tmp_path / "big.mid")
    sf.write(str(tmp_path / "big.wav"), _tone(1.0), 8000)
    import pretty_midi

    def unread(*args, **kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(pretty_midi, "PrettyMIDI", unread)
    monkeypatch.setattr(sf, "read", unread)
    for name in ("big.mid", "big.wav"):
        with pytest.raises(DataError, match=name.replace(".", r"\.") + r": the file is [\d,]+ bytes, more than "
                           r"data\.options\.max_file_bytes \(64\)"):
            plugin.load(name, MusicDataOptions(max_file_bytes=64), tmp_path)
    with pytest.raises(Exception, match="max_file_bytes"):
        MusicDataOptions(max_file_bytes=MAX_FILE_BYTES_LIMIT + 1)


def test_audio_declaring_too_long_a_duration_is_refused_before_decoding(tmp_path, monkeypatch):
    sf.write(str(tmp_path / "long.wav"), _tone(3.0), 8000)
    # a tiny declared sample rate: 24,000 frames at 1 Hz would be resampled to 24,000 s of audio
    data = bytearray((tmp_path / "long.wav").read_bytes())
    data[24:28] = (1).to_bytes(4, "little")  # the fmt chunk's sample rate
    data[28:32] = (2).to_bytes(4, "little")  # its byte rate (16-bit mono)
    (tmp_path / "slow.wav").write_bytes(bytes(data))

    def unread(*args, **kwargs):
        raise AssertionError("the samples were decoded")

    monkeypatch.setattr(sf, "read", unread)
    with pytest.raises(DataError, match=r"long\.wav: the audio declares 3 s .*max_audio_seconds \(2 s\)"):
        plugin.load("long.wav", MusicDataOptions(max_audio_seconds=2), tmp_path)
    with pytest.raises(DataError, match=r"slow\.wav: the audio declares 24,000 s \(24,000 frames at 1 Hz\)"):
        plugin.load("slow.wav", OPTS, tmp_path)


def test_header_checks_bound_decoded_bytes(monkeypatch, tmp_path):
    monkeypatch.setattr(loading, "MAX_DECODED_BYTES", 1000)
    with pytest.raises(DataError, match=r"x\.wav: the audio would decode to 8,000 bytes \(2 channels\)"):
        loading._check_audio_header(tmp_path / "x.wav", 1000, 8000, 2, 60.0)
