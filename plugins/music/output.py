"""Writing pieces as MIDI / WAV / PNG files and reading them back.

Files are named from the shard stem: ``part-00000`` -> ``part-00000-piece-0000.mid``
(``.wav``, ``.png``), each written through ``domaingen.files.atomic_path``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaingen.errors import DataError, UsageError
from domaingen.files import atomic_path

from .piece import Piece

__all__ = ["write_pieces", "read_pieces", "piece_path", "write_spectrogram_png", "FORMATS"]

FORMATS = ("midi", "wav")


def piece_path(stem: Path, index: int, suffix: str) -> Path:
    stem = Path(stem)
    return stem.parent / f"{stem.name}-piece-{index:04d}{suffix}"


def _audio_for(piece: Piece, sample_rate: int) -> np.ndarray:
    from .spectrogram import piece_audio

    return piece_audio(piece, sample_rate)


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(audio, dtype=np.float32), int(sample_rate), format="WAV", subtype="PCM_16")


def write_spectrogram_png(path: Path, audio: np.ndarray, sample_rate: int, title: str = "") -> None:
    """A log-mel spectrogram image of ``audio`` (matplotlib, no global pyplot state)."""
    import librosa
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mel = librosa.feature.melspectrogram(y=audio, sr=sample_rate, n_mels=64)
    db = librosa.power_to_db(mel, ref=np.max)
    fig = Figure(figsize=(6, 2.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    ax.imshow(db, origin="lower", aspect="auto", cmap="magma",
              extent=(0, len(audio) / sample_rate, 0, db.shape[0]))
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel band")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(str(tmp), format="png")


def write_pieces(pieces: list[Piece], stem: Path, fmt: str, options) -> list[Path]:
    """Write one shard; return the paths written (see module doc)."""
    if fmt not in FORMATS:
        raise UsageError(f"the music plugin writes {', '.join(FORMATS)}, not {fmt!r}; change generate.format")
    paths: list[Path] = []
    sr = int(options.sample_rate)
    for i, piece in enumerate(pieces):
        if fmt == "midi":
            if len(piece.notes):
                path = piece_path(stem, i, ".mid")
                with atomic_path(path) as tmp:
                    piece.write_midi(tmp, program=options.program)
                paths.append(path)
        audio = None
        if fmt == "wav" or options.render_wav:
            audio = _audio_for(piece, sr)
            path = piece_path(stem, i, ".wav")
            write_wav(path, audio, sr)
            paths.append(path)
        if options.spectrogram_png:
            audio = _audio_for(piece, sr) if audio is None else audio
            path = piece_path(stem, i, ".png")
            write_spectrogram_png(path, audio, sr, title=piece.name)
            paths.append(path)
    return paths


def read_pieces(paths: list[Path], sample_rate: int = 16000) -> list[Piece]:
    """Pieces from files this plugin wrote: MIDI notes, with the WAV of the same name as
    audio; a WAV without a MIDI beside it is transcribed (no notes if none are found)."""
    from .loading import SILENCE_PEAK, load_midi, read_audio
    from .transcribe import estimate_tempo, transcribe

    groups: dict[str, dict[str, Path]] = {}
    for p in map(Path, paths):
        groups.setdefault(str(p.with_suffix("")), {})[p.suffix.lower()] = p
    pieces = []
    for key in sorted(groups):
        files = groups[key]
        midi = files.get(".mid") or files.get(".midi")
        wav = files.get(".wav") or files.get(".flac") or files.get(".ogg")
        if midi is not None:
            piece = load_midi(midi)
            if wav is not None:
                piece.audio = read_audio(wav, sample_rate, allow_silent=True)
                piece.sample_rate = sample_rate
        elif wav is not None:
            y = read_audio(wav, sample_rate, allow_silent=True)
            notes = transcribe(y, sample_rate) if np.max(np.abs(y)) >= SILENCE_PEAK else None
            piece = Piece(notes if notes is not None else np.zeros((0, 4)), tempo=estimate_tempo(y, sample_rate),
                          name=wav.stem, audio=y, sample_rate=sample_rate)
        else:
            continue
        pieces.append(piece)
    if not pieces:
        raise DataError("no MIDI or audio files among the given paths; point at the files generate wrote")
    return pieces
