"""Reading pieces: MIDI and audio files or folders, and the embedded Bach corpus.

Sources (``data.source`` in a recipe):

- ``embedded:bach-soprano``: the soprano lines of the music21 Bach chorales, shipped
  pre-extracted in ``data/bach_soprano.json`` (fast, offline).
- ``music21:bach``: the same chorales parsed live from music21's bundled corpus (slow);
  every part, or the soprano only with ``music21:bach-soprano``.
- a path (relative to the recipe's folder): a ``.mid``/``.midi``/``.wav``/``.flac``/``.ogg``
  file, or a folder searched recursively for them.

Audio is resampled to ``sample_rate`` and kept on the piece; its notes come from the
monophonic transcriber unless the representation is ``spectrogram`` (audio only).

Every file is read whole, so its size is checked first (``max_file_bytes``, with
``os.stat``), and audio's declared duration (``max_audio_seconds``) and decoded size
(``MAX_DECODED_BYTES``) from its header before any sample is decoded. A corrupt,
truncated or oversized file is a ``DataError`` naming it.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np

from domaingen.errors import DataError

from .options import MAX_AUDIO_SECONDS, MAX_FILE_BYTES, MusicDataOptions
from .piece import Piece, make_notes

__all__ = [
    "load_source",
    "load_midi",
    "load_audio",
    "load_embedded",
    "load_music21_bach",
    "MIDI_SUFFIXES",
    "AUDIO_SUFFIXES",
    "EMBEDDED_SOURCES",
]

MIDI_SUFFIXES = (".mid", ".midi")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
DATA_DIR = Path(__file__).resolve().parent / "data"
EMBEDDED_SOURCES = {"embedded:bach-soprano": DATA_DIR / "bach_soprano.json"}
MUSIC21_SOURCES = ("music21:bach", "music21:bach-soprano")
SILENCE_PEAK = 1e-4
MAX_DECODED_BYTES = 4 << 30  # float32 samples (all channels) one audio file may decode to


def load_source(source: str, options: MusicDataOptions, base_dir: Path) -> list[Piece]:
    """Every piece named by ``source`` (see module doc), sorted by name, filtered."""
    if source in EMBEDDED_SOURCES:
        pieces = load_embedded(source)
    elif source in MUSIC21_SOURCES:
        pieces = load_music21_bach(soprano_only=source.endswith("soprano"), max_pieces=options.max_pieces)
    elif ":" in source and len(source.split(":", 1)[0]) > 1 and not (Path(base_dir) / source).exists():
        known = ", ".join([*EMBEDDED_SOURCES, *MUSIC21_SOURCES])
        raise DataError(f"unknown music source {source!r}: use one of {known}, or a path to MIDI/audio files")
    else:
        pieces = _load_path(Path(base_dir) / source, options)
    pieces = sorted(pieces, key=lambda p: p.name)
    if options.max_pieces:
        pieces = pieces[: options.max_pieces]
    if options.representation != "spectrogram":
        kept = [p for p in pieces if len(p.notes) >= options.min_notes]
        if not kept:
            raise DataError(
                f"{source}: no piece has at least {options.min_notes} notes "
                "(lower data.options.min_notes or give other files)"
            )
        pieces = kept
    return pieces


def _load_path(path: Path, options: MusicDataOptions) -> list[Piece]:
    if not path.exists():
        raise DataError(f"music source {path} does not exist: give a MIDI/audio file or a folder of them")
    suffixes = MIDI_SUFFIXES + AUDIO_SUFFIXES
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
        if not files:
            raise DataError(
                f"folder {path} holds no music files: put {', '.join(suffixes)} files in it"
            )
    else:
        if path.suffix.lower() not in suffixes:
            raise DataError(f"{path}: not a music file; use one of {', '.join(suffixes)}")
        files = [path]
    pieces = []
    for file in files:
        if file.suffix.lower() in MIDI_SUFFIXES:
            pieces.append(load_midi(file, max_bytes=options.max_file_bytes))
        else:
            pieces.append(load_audio(file, options))
    return pieces


# --- MIDI ----------------------------------------------------------------------------
def check_file_size(path: Path, max_bytes: int) -> None:
    """Refuse (``DataError``) a file that cannot be read or is larger than ``max_bytes``,
    before it is opened: music files are read whole into memory."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror or exc}): check it exists and is readable") from None
    if size > max_bytes:
        raise DataError(
            f"{path}: the file is {size:,} bytes, more than data.options.max_file_bytes ({max_bytes:,}): "
            "raise max_file_bytes, or cut or downsample the file"
        )


def load_midi(path: str | Path, name: str | None = None, max_bytes: int = MAX_FILE_BYTES) -> Piece:
    """A MIDI file as one piece: every non-drum note, re-timed to the first tempo.

    Tempo changes are folded away: each note's position in beats (from the file's ticks)
    is kept and the whole piece plays at the initial tempo. A file over ``max_bytes`` is
    refused unread.
    """
    import pretty_midi

    path = Path(path)
    check_file_size(path, max_bytes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as exc:  # mido/pretty_midi raise many types on a bad file
        raise DataError(f"{path}: not a readable MIDI file ({type(exc).__name__}: {exc}); re-export it") from exc
    _, tempi = pm.get_tempo_changes()
    tempo = float(tempi[0]) if len(tempi) else 120.0
    beats_per_bar = 4
    if pm.time_signature_changes and pm.time_signature_changes[0].denominator == 4:
        beats_per_bar = int(pm.time_signature_changes[0].numerator)
    seconds_per_beat = 60.0 / tempo
    rows = []
    for inst in pm.instruments:
        if inst.is_drum:
            continue
        for note in inst.notes:
            start = pm.time_to_tick(note.start) / pm.resolution * seconds_per_beat
            end = pm.time_to_tick(note.end) / pm.resolution * seconds_per_beat
            if end > start:
                rows.append((note.pitch, start, end, note.velocity))
    if not rows:
        raise DataError(f"{path}: the MIDI file has no (non-drum) notes; remove it from the source")
    return Piece(make_notes(rows), tempo=tempo, name=name or path.stem, beats_per_bar=beats_per_bar)


# --- audio ---------------------------------------------------------------------------
def read_audio(path: str | Path, sample_rate: int, allow_silent: bool = False, max_bytes: int = MAX_FILE_BYTES,
               max_seconds: float = MAX_AUDIO_SECONDS) -> np.ndarray:
    """Mono float32 audio at ``sample_rate``; ``DataError`` if unreadable, empty,
    (unless ``allow_silent``) silent, over ``max_bytes`` on disk, or declaring more than
    ``max_seconds`` or ``MAX_DECODED_BYTES`` of samples in its header (checked before decoding)."""
    import soundfile as sf

    path = Path(path)
    check_file_size(path, max_bytes)
    try:
        info = sf.info(str(path))
        _check_audio_header(path, info.frames, info.samplerate, info.channels, max_seconds)
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: not a readable audio file ({exc}); convert it to WAV or FLAC") from exc
    if data.shape[0] == 0:
        raise DataError(f"{path}: the audio file holds no samples; remove it")
    y = data.mean(axis=1)
    if not np.all(np.isfinite(y)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples; re-export it")
    if not allow_silent and float(np.max(np.abs(y))) < SILENCE_PEAK:
        raise DataError(f"{path}: the audio is silent (peak below {SILENCE_PEAK}); remove it")
    if sr != sample_rate:
        import librosa

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate)
    return y.astype(np.float32)


def _check_audio_header(path: Path, frames: int, rate: int, channels: int, max_seconds: float) -> None:
    """Refuse audio whose header declares more than ``max_seconds`` or ``MAX_DECODED_BYTES``."""
    if rate <= 0 or channels <= 0:
        raise DataError(f"{path}: not a readable audio file (header: {rate} Hz, {channels} channels); re-export it")
    seconds = frames / rate
    if seconds > max_seconds:
        raise DataError(
            f"{path}: the audio declares {seconds:,.0f} s ({frames:,} frames at {rate} Hz), more than "
            f"data.options.max_audio_seconds ({max_seconds:,.0f} s): cut the file, or raise max_audio_seconds"
        )
    if frames * channels * 4 > MAX_DECODED_BYTES:
        raise DataError(
            f"{path}: the audio would decode to {frames * channels * 4:,} bytes ({channels} channels), more than "
            f"{MAX_DECODED_BYTES:,}: mix it down to mono or cut it"
        )


def load_audio(path: str | Path, options: MusicDataOptions) -> Piece:
    """An audio file as one piece: its samples, and transcribed notes for symbolic use."""
    from .transcribe import estimate_tempo, transcribe

    path = Path(path)
    y = read_audio(path, options.sample_rate, max_bytes=options.max_file_bytes, max_seconds=options.max_audio_seconds)
    tempo = options.audio_tempo or estimate_tempo(y, options.sample_rate)
    notes = make_notes([])
    if options.representation != "spectrogram":
        low, high = options.resolved_pitch_range()
        notes = transcribe(y, options.sample_rate, pitch_low=low, pitch_high=high)
        if not len(notes):
            raise DataError(
                f"{path}: no pitched notes found in the audio (range {low}-{high}); "
                "check data.options.pitch_range or use representation: spectrogram"
            )
    return Piece(notes, tempo=tempo, name=path.stem, audio=y, sample_rate=options.sample_rate)


# --- embedded corpus -----------------------------------------------------------------
def load_embedded(source: str = "embedded:bach-soprano") -> list[Piece]:
    """The pre-extracted melodies shipped with the plugin."""
    path = EMBEDDED_SOURCES[source]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(
            f"{path}: the embedded corpus is missing or damaged ({exc}); reinstall domaingen "
            "or rebuild it with python -m domaingen_plugins.music.build_corpus"
        ) from exc
    return melodies_from_json(doc)


def melodies_from_json(doc: dict) -> list[Piece]:
    """Pieces from the ``domaingen-music-melodies/1`` JSON layout (times in quarter notes)."""
    tempo = float(doc.get("default_tempo_qpm", 100))
    beat = 60.0 / tempo
    pieces = []
    for item in doc["pieces"]:
        p = np.asarray(item["p"], dtype=np.float64)
        s = np.asarray(item["s"], dtype=np.float64) * beat
        d = np.asarray(item["d"], dtype=np.float64) * beat
        notes = np.stack([p, s, s + d, np.full_like(p, 80.0)], axis=1)
        pieces.append(Piece(notes, tempo=tempo, name=item["name"], beats_per_bar=int(item.get("beats_per_bar", 4))))
    return pieces


def load_music21_bach(soprano_only: bool = False, max_pieces: int | None = None) -> list[Piece]:
    """Parse the Bach chorales of music21's bundled corpus (every part, or the soprano)."""
    from music21 import corpus

    from .build_corpus import chorale_soprano

    paths = sorted(
        (p for p in corpus.getComposer("bach") if p.suffix in (".mxl", ".xml") and p.name.startswith("bwv")),
        key=lambda p: p.name,
    )
    if not paths:
        raise DataError("music21's corpus has no Bach chorales here; use source embedded:bach-soprano")
    tempo, beat = 100.0, 0.6
    pieces, seen = [], set()
    for path in paths:
        stem = path.name.rsplit(".", 1)[0]
        if stem in seen:
            continue
        seen.add(stem)
        if soprano_only:
            item = chorale_soprano(path)
            if item is None:
                continue
            pieces.extend(melodies_from_json({"default_tempo_qpm": tempo, "pieces": [item]}))
        else:
            score = corpus.parse(path)
            rows = []
            for part in score.parts:
                measures = part.getElementsByClass("Measure")
                shift = float(measures[0].paddingLeft) if len(measures) else 0.0
                for n in part.stripTies().flatten().notes:
                    ql = float(n.duration.quarterLength)
                    if ql <= 0:
                        continue
                    s = (float(n.offset) + shift) * beat
                    for pitch in n.pitches:
                        rows.append((pitch.midi, s, s + ql * beat, 80))
            if rows:
                pieces.append(Piece(make_notes(rows), tempo=tempo, name=stem))
        if max_pieces and len(pieces) >= max_pieces:
            break
    return pieces
