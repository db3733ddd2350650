"""Music metrics: per-piece symbolic measures (MusPy definitions), corpus histogram
distances, and audio measures (Fréchet MFCC distance, pYIN check of rendered notes).

Every per-piece metric returns ``nan`` for a piece without notes; means skip ``nan``.
Beats are quarter notes at the piece's tempo; the grid for onsets is sixteenths.
The formulas are in ``METRICS`` (also shown by the plugin's ``metrics()``).
"""

from __future__ import annotations

import math

import numpy as np

from domaingen.plugin import Metric

from .keys import SCALES
from .piece import END, PITCH, START, Piece

__all__ = [
    "METRICS",
    "PIECE_METRICS",
    "pitch_range",
    "n_pitch_classes_used",
    "pitch_class_entropy",
    "scale_consistency",
    "empty_beat_rate",
    "polyphony",
    "groove_consistency",
    "note_density",
    "pitch_class_histogram",
    "duration_histogram",
    "js_divergence",
    "frechet_distance",
    "mfcc_frames",
    "rendered_note_pitch_accuracy",
]

GRID_PER_BEAT = 4
DURATION_BINS = 17  # 1..16 sixteenths, then "longer"


def _beats(piece: Piece, column: int) -> np.ndarray:
    return piece.notes[:, column] / piece.seconds_per_beat


def pitch_range(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    return float(piece.notes[:, PITCH].max() - piece.notes[:, PITCH].min())


def n_pitch_classes_used(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    return float(len(np.unique(piece.pitches % 12)))


def pitch_class_entropy(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    counts = np.bincount(piece.pitches % 12, minlength=12).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    classes = piece.pitches % 12
    best = 0.0
    for mode in ("major", "minor"):
        steps = np.array(SCALES[mode])
        for tonic in range(12):
            member = np.zeros(12, dtype=bool)
            member[(tonic + steps) % 12] = True
            best = max(best, float(member[classes].mean()))
    return best


def empty_beat_rate(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    starts, ends = _beats(piece, START), _beats(piece, END)
    n_beats = int(math.ceil(ends.max() - 1e-9))
    if n_beats < 1:
        return math.nan
    busy = np.zeros(n_beats, dtype=bool)
    for s, e in zip(starts, ends):
        first = int(math.floor(s + 1e-9))
        last = int(math.ceil(e - 1e-9))  # exclusive
        busy[max(first, 0) : max(last, first + 1)] = True
    return float(1.0 - busy.mean())


def polyphony(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    times = np.concatenate([piece.starts, piece.ends])
    delta = np.concatenate([np.ones(len(piece.notes)), -np.ones(len(piece.notes))])
    order = np.lexsort((delta, times))  # at equal times, offs (-1) before ons
    times, delta = times[order], delta[order]
    active = np.cumsum(delta)[:-1]
    spans = np.diff(times)
    sounding = active > 0
    covered = spans[sounding].sum()
    if covered <= 0:
        return math.nan
    return float((active[sounding] * spans[sounding]).sum() / covered)


def groove_consistency(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    resolution = int(piece.beats_per_bar) * GRID_PER_BEAT
    onsets = np.round(_beats(piece, START) * GRID_PER_BEAT).astype(np.int64)
    n_measures = int(onsets.max() // resolution) + 1
    if n_measures < 2:
        return math.nan
    grid = np.zeros((n_measures, resolution), dtype=bool)
    grid[onsets // resolution, onsets % resolution] = True
    hamming = (grid[1:] != grid[:-1]).sum(axis=1) / resolution
    return float(1.0 - hamming.mean())


def note_density(piece: Piece) -> float:
    if not len(piece.notes):
        return math.nan
    length = float(_beats(piece, END).max())
    return float(len(piece.notes) / length) if length > 0 else math.nan


PIECE_METRICS = {
    "pitch_range": pitch_range,
    "n_pitch_classes_used": n_pitch_classes_used,
    "pitch_class_entropy": pitch_class_entropy,
    "scale_consistency": scale_consistency,
    "empty_beat_rate": empty_beat_rate,
    "polyphony": polyphony,
    "groove_consistency": groove_consistency,
    "note_density": note_density,
}


# --- corpus histograms ------------------------------------------------------------------
def pitch_class_histogram(pieces: list[Piece]) -> np.ndarray:
    """Share of all notes in each of the 12 pitch classes (C = 0)."""
    counts = np.zeros(12)
    for p in pieces:
        counts += np.bincount(p.pitches % 12, minlength=12)
    return counts / counts.sum() if counts.sum() else counts


def duration_histogram(pieces: list[Piece]) -> np.ndarray:
    """Share of notes lasting 1..16 sixteenths (rounded), the last bin for longer ones."""
    counts = np.zeros(DURATION_BINS)
    for p in pieces:
        if len(p.notes):
            sixteenths = np.round((p.ends - p.starts) / p.seconds_per_beat * GRID_PER_BEAT).astype(np.int64)
            counts += np.bincount(np.clip(sixteenths, 1, DURATION_BINS) - 1, minlength=DURATION_BINS)
    return counts / counts.sum() if counts.sum() else counts


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return math.nan
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a, b):
        nz = a > 0
        return float((a[nz] * np.log2(a[nz] / b[nz])).sum())

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


# --- audio ----------------------------------------------------------------------------------
def mfcc_frames(y: np.ndarray, sr: int, n_mfcc: int = 20, floor_db: float = 60.0) -> np.ndarray:
    """``(frames, n_mfcc)`` MFCCs (librosa, 2048-point FFT, 512 hop) of one clip's sounding
    frames: frames more than ``floor_db`` below the clip's loudest are left out, so digital
    silence and a file's noise floor do not dominate the statistics."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc).T
    rms = librosa.feature.rms(y=y, frame_length=2048, hop_length=512)[0][: len(mfcc)]
    if not len(rms) or rms.max() <= 0:
        return mfcc[:0]
    return mfcc[rms >= rms.max() * 10 ** (-floor_db / 20)]


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of ``a`` and of ``b``."""
    from scipy import linalg

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = linalg.sqrtm(cov_a @ cov_b)
    covmean = np.real(covmean)
    value = float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * covmean))
    return max(value, 0.0)


def rendered_note_pitch_accuracy(piece: Piece, y: np.ndarray, sr: int, min_seconds: float = 0.08) -> float:
    """Share of notes (>= ``min_seconds``) whose median pYIN pitch in ``y`` over the
    middle half of the note rounds to the written pitch; ``nan`` if no such note."""
    import librosa

    notes = piece.notes[(piece.ends - piece.starts) >= min_seconds]
    if not len(notes):
        return math.nan
    hop = 256
    # a search band of at least three octaves (pYIN's transition window needs the room),
    # from C1 (two periods fit the frame) to a quarter of the sample rate
    top = float(librosa.hz_to_midi(sr / 4))
    lo = max(24.0, notes[:, PITCH].min() - 2)
    hi = min(top, max(notes[:, PITCH].max() + 2, lo + 36))
    lo = max(24.0, min(lo, hi - 36))
    f0, voiced, _ = librosa.pyin(
        np.asarray(y, dtype=np.float32), sr=sr, hop_length=hop, frame_length=2048, resolution=0.25,
        fmin=float(librosa.midi_to_hz(lo)),
        fmax=float(librosa.midi_to_hz(hi)),
    )
    times = librosa.frames_to_time(np.arange(len(f0)), sr=sr, hop_length=hop)
    hits = 0
    for pitch, start, end, _ in notes:
        quarter = (end - start) / 4
        frames = (times >= start + quarter) & (times <= end - quarter) & voiced
        if frames.any() and int(np.round(np.median(librosa.hz_to_midi(f0[frames])))) == int(pitch):
            hits += 1
    return hits / len(notes)


METRICS = [
    Metric("pitch_range", "closer-to-real", "max(pitch) - min(pitch) over the notes of a piece, in semitones (MusPy)"),
    Metric("n_pitch_classes_used", "closer-to-real", "|{pitch mod 12}|: distinct pitch classes in a piece (MusPy)"),
    Metric(
        "pitch_class_entropy", "closer-to-real",
        "H = -sum_i P(i) log2 P(i), P = share of a piece's notes in pitch class i, i = 0..11 (MusPy)",
    ),
    Metric(
        "scale_consistency", "closer-to-real",
        "max over the 24 major and natural-minor scales of the share of notes whose pitch class is in the scale (MusPy)",
    ),
    Metric(
        "empty_beat_rate", "closer-to-real",
        "#beats in which no note sounds / #beats, beats = quarter notes from 0 to the last note end (MusPy)",
    ),
    Metric(
        "polyphony", "closer-to-real",
        "time-weighted mean number of sounding notes over the time when at least one sounds (MusPy, continuous time)",
    ),
    Metric(
        "groove_consistency", "closer-to-real",
        "1 - mean_i hamming(G_i, G_{i+1}) / R, G_i = onset pattern of bar i on a sixteenth grid, "
        "R = 4 * beats_per_bar (MusPy, measure_resolution = R)",
    ),
    Metric("note_density", "closer-to-real", "#notes / length in beats (quarter notes) of a piece"),
    Metric(
        "pitch_class_histogram_js", "lower-is-better",
        "Jensen-Shannon divergence (bits, 0..1) between the pitch-class histograms of all real and all synthetic notes",
    ),
    Metric(
        "duration_histogram_js", "lower-is-better",
        "Jensen-Shannon divergence (bits, 0..1) between histograms of note lengths in sixteenths (1..16, >16)",
    ),
    Metric(
        "frechet_mfcc_distance", "lower-is-better",
        "|mu_r - mu_s|^2 + Tr(S_r + S_s - 2 (S_r S_s)^(1/2)) of Gaussians fitted to 20-coefficient librosa MFCC "
        "frames of rendered (or given) audio, frames 60 dB below a clip's peak left out; a librosa-feature "
        "analogue of FAD, not VGGish FAD",
    ),
    Metric(
        "rendered_note_pitch_accuracy", "higher-is-better",
        "share of synthetic notes >= 80 ms whose median pYIN pitch (middle half of the note) in the rendered WAV "
        "rounds to the written MIDI pitch",
    ),
]
