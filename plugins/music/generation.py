"""``generate.options`` -> a ``GenerationRequest``: sampling controls, primer, key mask, finishing.

Sequence families (rnn/transformer) get native controls: ``temperature``, ``top_k``,
``top_p``, ``max_length`` (all tokens: ``bos``, the requested steps, counting the
primer's, and ``eos``), ``primer`` (token ids starting with ``bos``) and
``allowed_tokens`` (a vocab mask that removes ``pad``, ``bos`` and the note-ons outside
the key or the pitch range), so every generated note obeys the key.
Table families (vae/gan) cannot mask: their decoded notes are folded into the pitch
range by octaves and moved to the nearest scale tone. ``accept`` then trims pieces to
the requested length, applies tempo and velocity, and drops empty pieces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from domaingen.errors import ConditionError
from domaingen.plugin import Codec, GenerationRequest

from .keys import in_key_mask, snap_to_scale
from .melody import BOS, EOS, FIRST_NOTE_ON, N_SPECIAL, NO_EVENT, PAD, MelodyCodec, fold_into_range
from .options import MusicGenerateOptions
from .performance import PerformanceCodec
from .piece import END, PITCH, START, VELOCITY, Piece
from .spectrogram import SpectrogramCodec

__all__ = ["build_request", "DEFAULT_BARS", "requested_pitch_range", "primer_pitches"]

DEFAULT_BARS = 8


def requested_pitch_range(codec: Codec, options: MusicGenerateOptions) -> tuple[int, int]:
    """The pitch range asked for, checked against what the codec can produce."""
    low, high = codec.pitch_low, codec.pitch_high
    if options.pitch_range is None:
        return low, high
    want_low, want_high = options.pitch_range
    if want_low < low or want_high > high:
        raise ConditionError(
            f"generate.options.pitch_range {options.pitch_range} is outside the trained range [{low}, {high}]; "
            "narrow it or retrain with a wider data.options.pitch_range"
        )
    return int(want_low), int(want_high)


def primer_pitches(codec: Codec, options: MusicGenerateOptions) -> tuple[np.ndarray, np.ndarray]:
    """(primer event/token stream without ``bos``, its note pitches); empty if no primer."""
    if options.primer is None:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if isinstance(options.primer, str):
        from .loading import load_midi

        path = Path(options.primer).expanduser()
        if not path.is_file():
            raise ConditionError(f"primer MIDI file {path} does not exist; give a MIDI path or a list of pitches")
        piece = load_midi(path)
        pitches = piece.pitches
        stream = codec.events(piece)
        if isinstance(codec, MelodyCodec):
            stream = stream + N_SPECIAL
        return stream, pitches
    pitches = np.asarray(options.primer, dtype=np.int64)
    if isinstance(codec, MelodyCodec):
        ev = np.full(len(pitches) * codec.steps_per_quarter, NO_EVENT, dtype=np.int64)
        ev[:: codec.steps_per_quarter] = codec.note_on_event(np.clip(pitches, codec.pitch_low, codec.pitch_high))
        return ev + N_SPECIAL, pitches
    beat = 60.0 / float(codec.tempo_)
    notes = [(p, i * beat, (i + 1) * beat, 80) for i, p in enumerate(pitches)]
    return codec.events(Piece(notes, tempo=codec.tempo_)), pitches


def _check_primer(pitches: np.ndarray, low: int, high: int, key: str | None) -> None:
    if not len(pitches):
        return
    outside = pitches[(pitches < low) | (pitches > high)]
    if len(outside):
        raise ConditionError(
            f"primer pitch {int(outside[0])} is outside the pitch range [{low}, {high}]; "
            "change the primer or generate.options.pitch_range"
        )
    if key is not None:
        off = pitches[~in_key_mask(pitches, key)]
        if len(off):
            raise ConditionError(f"primer pitch {int(off[0])} is not in {key}; change the primer or the key")


def output_seconds(codec: Codec, options: MusicGenerateOptions) -> float:
    """Length of each generated piece in seconds at the output tempo."""
    if options.length_seconds is not None:
        return float(options.length_seconds)
    tempo = float(options.tempo or codec.tempo_)
    bars = options.length_bars or DEFAULT_BARS
    return bars * (getattr(codec, "beats_per_bar_", None) or 4) * 60.0 / tempo


def _length_steps(codec: Codec, options: MusicGenerateOptions) -> int:
    """Grid steps (melody) or time steps (performance) of the requested length."""
    beats = output_seconds(codec, options) * float(options.tempo or codec.tempo_) / 60.0
    if isinstance(codec, MelodyCodec):
        return max(1, int(round(beats * codec.steps_per_quarter)))
    return max(1, int(round(beats * 60.0 / float(codec.tempo_) / codec.step_seconds)))


def _temperature(options: MusicGenerateOptions) -> dict:
    """The temperature control for a vae/gan-like family, only when one was asked for: a
    family that takes none (the copula) then refuses it instead of it being ignored."""
    return {"temperature": float(options.temperature)} if options.temperature != 1.0 else {}


def build_request(codec: Codec, options: MusicGenerateOptions) -> GenerationRequest:
    """Controls and the finishing filter for one generation run (see module doc)."""
    if isinstance(codec, SpectrogramCodec):
        for name in ("key", "primer", "pitch_range"):
            if getattr(options, name) is not None:
                raise ConditionError(
                    f"generate.options.{name} needs a symbolic representation (melody or performance); "
                    "the spectrogram representation generates audio"
                )
        return GenerationRequest(controls=_temperature(options), accept=_finisher(codec, options, None, None))

    low, high = requested_pitch_range(codec, options)
    sequence = getattr(codec, "layout", "tokens") == "tokens"
    stream, pitches = primer_pitches(codec, options)
    _check_primer(pitches, low, high, options.key)
    if len(stream) and not sequence:
        raise ConditionError("a primer needs a sequence family (rnn or transformer); the vae/gan families take none")

    controls: dict = {"temperature": float(options.temperature)} if sequence else _temperature(options)
    if sequence:
        steps = _length_steps(codec, options)
        if isinstance(codec, PerformanceCodec):
            steps = codec.sequence_length - 2  # events, not time: trimmed to length when finishing
        if options.top_k is not None:
            controls["top_k"] = int(options.top_k)
        if options.top_p is not None:
            controls["top_p"] = float(options.top_p)
        primer = np.concatenate([[BOS], stream]).astype(np.int32)
        # total tokens: bos, the steps (the primer's first), then room for eos
        controls["max_length"] = int(max(steps, len(stream)) + 2)
        controls["primer"] = primer
        if options.key is not None or options.pitch_range is not None:
            controls["allowed_tokens"] = allowed_tokens(codec, low, high, options.key)
    return GenerationRequest(controls=controls, accept=_finisher(codec, options, (low, high), options.key))


def allowed_tokens(codec: Codec, low: int, high: int, key: str | None) -> np.ndarray:
    """Vocab mask: everything but ``pad``/``bos`` and note-ons outside ``[low, high]``/the key."""
    mask = np.ones(codec.vocab_size, dtype=bool)
    mask[[PAD, BOS]] = False
    pitches = np.arange(codec.pitch_low, codec.pitch_high + 1)
    ok = (pitches >= low) & (pitches <= high)
    if key is not None:
        ok &= in_key_mask(pitches, key)
    if isinstance(codec, MelodyCodec):
        base = N_SPECIAL + FIRST_NOTE_ON
    else:
        base = codec.note_on_base
    mask[base : base + len(pitches)] = ok
    mask[EOS] = True
    return mask


def _trim(piece: Piece, seconds: float) -> Piece:
    notes = piece.notes[piece.notes[:, START] < seconds - 1e-9].copy()
    notes[:, END] = np.minimum(notes[:, END], seconds)
    return Piece(notes, tempo=piece.tempo, name=piece.name, beats_per_bar=piece.beats_per_bar)


def _finisher(codec: Codec, options: MusicGenerateOptions, pitch_range, key):
    tempo = float(options.tempo or codec.tempo_)
    symbolic = not isinstance(codec, SpectrogramCodec)
    table = isinstance(codec, MelodyCodec) and codec.layout == "table"
    seconds = output_seconds(codec, options) if symbolic else None

    def finish(pieces: list[Piece]) -> list[Piece]:
        out = []
        for piece in pieces:
            if not symbolic:
                out.append(piece)
                continue
            notes = piece.notes.copy()
            if table and len(notes):
                low, high = pitch_range
                notes[:, PITCH] = fold_into_range(notes[:, PITCH], low, high)
                if key is not None:
                    notes[:, PITCH] = snap_to_scale(notes[:, PITCH], key)
                    notes[:, PITCH] = fold_into_range(notes[:, PITCH], low, high)
            if isinstance(codec, MelodyCodec) and len(notes):
                notes[:, VELOCITY] = options.velocity
            if not len(notes):
                continue
            if key is not None and not in_key_mask(notes[:, PITCH], key).all():
                continue
            if pitch_range is not None and (notes[:, PITCH].min() < pitch_range[0] or notes[:, PITCH].max() > pitch_range[1]):
                continue
            fixed = Piece(notes, tempo=piece.tempo, name=piece.name, beats_per_bar=piece.beats_per_bar)
            fixed = fixed.with_tempo(tempo) if tempo != piece.tempo else fixed
            fixed = _trim(fixed, seconds)
            if len(fixed.notes):
                out.append(fixed)
        return out

    return finish
