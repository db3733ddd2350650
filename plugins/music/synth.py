"""A small additive synthesiser: notes -> mono audio, for WAV output and audio metrics.

Each note is a sum of harmonics of ``librosa.midi_to_hz(pitch)`` (amplitudes 1, 1/2,
1/4, 1/8, dropped above Nyquist) shaped by an ADSR envelope and scaled by velocity.
The fundamental dominates, so pitch trackers (``librosa.pyin``) find the written pitch.
"""

from __future__ import annotations

import numpy as np

from .piece import PITCH, Piece

__all__ = ["render", "DEFAULT_HARMONICS", "DEFAULT_ADSR"]

DEFAULT_HARMONICS = (1.0, 0.5, 0.25, 0.125)
DEFAULT_ADSR = (0.01, 0.08, 0.7, 0.08)  # attack s, decay s, sustain level, release s


def _envelope(n_on: int, n_total: int, sr: int, adsr) -> np.ndarray:
    attack, decay, sustain, release = adsr
    a = max(1, int(attack * sr))
    d = max(1, int(decay * sr))
    env = np.empty(n_total, dtype=np.float64)
    t = np.arange(n_on, dtype=np.float64)
    held = np.where(t < a, t / a, np.where(t < a + d, 1.0 - (1.0 - sustain) * (t - a) / d, sustain))
    env[:n_on] = held
    n_rel = n_total - n_on
    if n_rel > 0:
        level = held[-1] if n_on else 0.0
        env[n_on:] = level * np.linspace(1.0, 0.0, n_rel, endpoint=False)
    return env


def render(
    piece: Piece,
    sample_rate: int = 22050,
    *,
    harmonics: tuple[float, ...] = DEFAULT_HARMONICS,
    adsr: tuple[float, float, float, float] = DEFAULT_ADSR,
    gain: float = 0.3,
    tail: float | None = None,
) -> np.ndarray:
    """Render ``piece``'s notes to float32 audio in [-1, 1] at ``sample_rate``.

    The output lasts until the last note's release ends (plus ``tail`` seconds, default
    the release time). A mix that would clip is scaled down as a whole.
    """
    import librosa

    sr = int(sample_rate)
    release = adsr[3]
    tail = release if tail is None else tail
    total = int(np.ceil((piece.duration + release + tail) * sr)) + 1
    out = np.zeros(total, dtype=np.float64)
    if not len(piece.notes):
        return out.astype(np.float32)
    freqs = librosa.midi_to_hz(piece.notes[:, PITCH])
    nyquist = sr / 2.0
    weights = np.asarray(harmonics, dtype=np.float64)
    k = np.arange(1, len(weights) + 1, dtype=np.float64)
    for (pitch, start, end, vel), f0 in zip(piece.notes, freqs):
        s0 = int(round(start * sr))
        n_on = max(1, int(round(end * sr)) - s0)
        n_total = min(n_on + int(release * sr), total - s0)
        if n_total <= 0:
            continue
        n_on = min(n_on, n_total)
        t = np.arange(n_total, dtype=np.float64) / sr
        keep = k * f0 < nyquist
        phases = 2.0 * np.pi * f0 * np.outer(k[keep], t)
        wave = weights[keep] @ np.sin(phases)
        wave *= _envelope(n_on, n_total, sr, adsr) * (gain * float(vel) / 127.0)
        out[s0 : s0 + n_total] += wave
    peak = float(np.max(np.abs(out)))
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)
