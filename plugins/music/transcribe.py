"""Monophonic transcription: audio -> notes, with ``librosa.pyin`` and onset detection.

Frames are tracked with pYIN (pitch + voicing); note boundaries are the detected onsets,
the voicing changes and the places where the rounded pitch changes and holds for a few
frames (legato). Each voiced stretch between boundaries becomes one note whose pitch is
the median MIDI number of its frames. Polyphonic audio gives the dominant line only.
"""

from __future__ import annotations

import numpy as np

from .piece import make_notes

__all__ = ["transcribe", "estimate_tempo", "TRANSCRIBE_SR"]

TRANSCRIBE_SR = 16000
_HOP = 128
_FRAME = 1024


def estimate_tempo(y: np.ndarray, sr: int, default: float = 120.0) -> float:
    """Beat-tracker tempo in qpm (librosa), folded into [60, 180); ``default`` if none."""
    import librosa

    try:
        tempo = float(np.atleast_1d(librosa.beat.beat_track(y=y, sr=sr)[0])[0])
    except Exception:  # too short for the beat tracker
        return default
    if not np.isfinite(tempo) or tempo <= 0:
        return default
    while tempo < 60:
        tempo *= 2
    while tempo >= 180:
        tempo /= 2
    return tempo


def transcribe(
    y: np.ndarray,
    sr: int,
    *,
    pitch_low: int = 36,
    pitch_high: int = 96,
    min_note_seconds: float = 0.05,
) -> np.ndarray:
    """Notes ``(n, 4)`` (pitch, start s, end s, velocity) of the monophonic line in ``y``."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if sr != TRANSCRIBE_SR:
        y = librosa.resample(y, orig_sr=sr, target_sr=TRANSCRIBE_SR)
        sr = TRANSCRIBE_SR
    if not len(y):
        return make_notes([])
    f0, voiced, _ = librosa.pyin(
        y,
        fmin=float(librosa.midi_to_hz(max(pitch_low - 1, 1))),
        fmax=float(librosa.midi_to_hz(pitch_high + 1)),
        sr=sr,
        frame_length=_FRAME,
        hop_length=_HOP,
        resolution=0.25,
    )
    n = len(f0)
    midi = np.where(voiced, np.round(librosa.hz_to_midi(np.nan_to_num(f0, nan=1.0))), -1).astype(int)
    rms = librosa.feature.rms(y=y, frame_length=_FRAME, hop_length=_HOP)[0][:n]
    onsets = librosa.onset.onset_detect(y=y, sr=sr, hop_length=_HOP, backtrack=False, units="frames")

    boundary = np.zeros(n + 1, dtype=bool)
    boundary[0] = boundary[n] = True
    boundary[onsets[onsets < n]] = True
    boundary[1:n][voiced[1:] != voiced[:-1]] = True
    hold = 3  # frames a new pitch must last to count as a legato note change
    for i in range(1, n - hold + 1):
        if voiced[i] and voiced[i - 1] and midi[i] != midi[i - 1] and np.all(midi[i : i + hold] == midi[i]):
            boundary[i] = True

    edges = np.flatnonzero(boundary)
    frame_s = _HOP / sr
    peak_rms = float(rms.max()) if len(rms) else 0.0
    rows = []
    for a, b in zip(edges[:-1], edges[1:]):
        seg = slice(a, b)
        v = voiced[seg]
        if not v.any() or v.mean() < 0.5:
            continue
        idx = np.flatnonzero(v) + a
        start, end = idx[0] * frame_s, (idx[-1] + 1) * frame_s
        if end - start < min_note_seconds:
            continue
        pitch = int(np.median(midi[idx]))
        if not pitch_low <= pitch <= pitch_high:
            continue
        level = float(np.max(rms[idx])) / peak_rms if peak_rms > 0 else 0.0
        velocity = float(np.clip(round(40 + 80 * level), 1, 127))
        rising = a > 0 and float(np.max(rms[a : a + 8])) > 1.2 * float(np.min(rms[max(0, a - 8) : a + 1]))
        if rows and rows[-1][0] == pitch and abs(rows[-1][2] - start) < 1e-9 and not rising:
            rows[-1][2] = end  # no new attack: a split of the note before, join it back
            continue
        rows.append([pitch, start, end, velocity])
    return make_notes(rows)
