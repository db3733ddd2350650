"""Performance codec: polyphonic event streams (PerformanceRNN style), ``tokens`` layout.

Vocabulary (``P`` pitches, ``M`` time shifts, ``V`` velocity bins):
``pad`` 0, ``bos`` 1, ``eos`` 2, ``NOTE_ON(p)`` 3..3+P-1, ``NOTE_OFF(p)`` 3+P..3+2P-1,
``TIME_SHIFT(k)`` (k = 1..M steps of ``time_shift_ms``) 3+2P..3+2P+M-1,
``VELOCITY(b)`` 3+2P+M..3+2P+M+V-1 (sets the velocity of the following note-ons).

Events are ordered by time, note-offs before note-ons at the same time. Each training
row is ``[bos] + events + [eos]`` (``eos`` where the piece ends), padded to
``sequence_length``; long pieces are cut into overlapping windows.

Documented loss of ``decode(encode(x))``: times snap to ``time_shift_ms``; velocities
become the centre of their bin; a note shorter than one step lasts one step; an earlier
note of the same pitch is cut where the next one starts; pitches outside the range move
by octaves into it; the tempo becomes the corpus median (times are kept in seconds).
"""

from __future__ import annotations


import numpy as np

from domaingen.errors import DataError
from domaingen.spec import DataSpec

from .codec_state import MusicCodec
from .melody import BOS, EOS, N_SPECIAL, PAD, fold_into_range
from .piece import END, PITCH, START, VELOCITY, Piece, make_notes

__all__ = ["PerformanceCodec"]


class PerformanceCodec(MusicCodec):
    """Polyphonic notes <-> note-on/note-off/time-shift/velocity tokens."""

    kind = "performance"
    layout = "tokens"

    def __init__(
        self,
        *,
        pitch_low: int = 21,
        pitch_high: int = 108,
        sequence_length: int = 512,
        time_shift_ms: int = 10,
        max_shift_steps: int = 100,
        velocity_bins: int = 32,
        default_velocity: int = 80,
    ):
        self.pitch_low = int(pitch_low)
        self.pitch_high = int(pitch_high)
        self.sequence_length = int(sequence_length)
        self.time_shift_ms = int(time_shift_ms)
        self.max_shift_steps = int(max_shift_steps)
        self.velocity_bins = int(velocity_bins)
        self.default_velocity = int(default_velocity)
        self.tempo_: float | None = None
        self.beats_per_bar_: int | None = None

    # --- vocabulary --------------------------------------------------------------------
    @property
    def note_on_base(self) -> int:
        return N_SPECIAL

    @property
    def note_off_base(self) -> int:
        return N_SPECIAL + self.n_pitches

    @property
    def shift_base(self) -> int:
        return N_SPECIAL + 2 * self.n_pitches

    @property
    def velocity_base(self) -> int:
        return self.shift_base + self.max_shift_steps

    @property
    def vocab_size(self) -> int:
        return self.velocity_base + self.velocity_bins

    @property
    def step_seconds(self) -> float:
        return self.time_shift_ms / 1000.0

    def note_on_token(self, pitch) -> np.ndarray:
        return self.note_on_base + np.asarray(pitch, dtype=np.int64) - self.pitch_low

    def velocity_bin(self, velocity) -> np.ndarray:
        v = np.clip(np.asarray(velocity, dtype=np.float64), 1, 127)
        return np.minimum(((v - 1) * self.velocity_bins / 127.0).astype(np.int64), self.velocity_bins - 1)

    def bin_velocity(self, b: int) -> int:
        return int(np.clip(round(1 + (b + 0.5) * 127.0 / self.velocity_bins), 1, 127))

    # --- fitting ---------------------------------------------------------------------------
    def fit(self, raw: list[Piece]) -> "PerformanceCodec":
        return self.fit_notes(raw)

    @property
    def spec(self) -> DataSpec:
        self._check_fitted()
        return DataSpec(
            layout="tokens",
            shape=(self.sequence_length,),
            vocab_size=self.vocab_size,
            special_tokens={"pad": PAD, "bos": BOS, "eos": EOS},
        )

    # --- events ------------------------------------------------------------------------------
    def events(self, piece: Piece) -> np.ndarray:
        """The token stream of ``piece`` (no ``bos``/``eos``)."""
        if not len(piece.notes):
            return np.zeros(0, dtype=np.int64)
        step = self.step_seconds
        starts = np.round(piece.notes[:, START] / step).astype(np.int64)
        ends = np.maximum(np.round(piece.notes[:, END] / step).astype(np.int64), starts + 1)
        pitches = fold_into_range(piece.notes[:, PITCH], self.pitch_low, self.pitch_high)
        bins = self.velocity_bin(piece.notes[:, VELOCITY])
        order = np.lexsort((starts, pitches))  # per pitch, by start
        starts, ends, pitches, bins = starts[order], ends[order], pitches[order], bins[order]
        same = np.append(pitches[1:] == pitches[:-1], False)
        nxt = np.append(starts[1:], 0)
        ends = np.where(same, np.minimum(ends, nxt), ends)
        keep = ends > starts  # a duplicate onset of one pitch: keep the later copy
        starts, ends, pitches, bins = starts[keep], ends[keep], pitches[keep], bins[keep]
        # (time, 0=off/1=on, pitch, velocity bin), sorted: offs before ons at equal times
        ev = np.concatenate(
            [
                np.stack([ends, np.zeros_like(ends), pitches, bins], axis=1),
                np.stack([starts, np.ones_like(starts), pitches, bins], axis=1),
            ]
        )
        ev = ev[np.lexsort((ev[:, 2], ev[:, 1], ev[:, 0]))]
        out, now, velocity = [], 0, -1
        for t, is_on, pitch, b in ev:
            dt = int(t - now)
            while dt > 0:
                k = min(dt, self.max_shift_steps)
                out.append(self.shift_base + k - 1)
                dt -= k
            now = int(t)
            if is_on:
                if b != velocity:
                    out.append(self.velocity_base + int(b))
                    velocity = b
                out.append(self.note_on_base + int(pitch) - self.pitch_low)
            else:
                out.append(self.note_off_base + int(pitch) - self.pitch_low)
        return np.asarray(out, dtype=np.int64)

    def notes_from_events(self, tokens: np.ndarray) -> np.ndarray:
        """Token stream (no specials) -> notes; notes still sounding end at the last time."""
        step = self.step_seconds
        now, velocity = 0, self.default_velocity
        sounding: dict[int, tuple[int, int]] = {}
        rows = []
        for tok in np.asarray(tokens, dtype=np.int64):
            if self.note_on_base <= tok < self.note_off_base:
                pitch = int(tok - self.note_on_base) + self.pitch_low
                if pitch in sounding and sounding[pitch][0] < now:
                    s, v = sounding[pitch]
                    rows.append((pitch, s * step, now * step, v))
                sounding[pitch] = (now, velocity)
            elif self.note_off_base <= tok < self.shift_base:
                pitch = int(tok - self.note_off_base) + self.pitch_low
                if pitch in sounding:
                    s, v = sounding.pop(pitch)
                    if now > s:
                        rows.append((pitch, s * step, now * step, v))
            elif self.shift_base <= tok < self.velocity_base:
                now += int(tok - self.shift_base) + 1
            elif self.velocity_base <= tok < self.vocab_size:
                velocity = self.bin_velocity(int(tok - self.velocity_base))
        for pitch, (s, v) in sounding.items():
            rows.append((pitch, s * step, max(now, s + 1) * step, v))
        return make_notes(rows)

    # --- encode / decode -----------------------------------------------------------------------
    def encode(self, raw: list[Piece]) -> np.ndarray:
        self._check_fitted()
        body = self.sequence_length - 2
        hop = max(1, body // 2)
        rows = []
        for piece in raw:
            ev = self.events(piece)
            if not len(ev):
                continue
            for a in range(0, max(len(ev) - body, 0) + hop, hop):
                window = ev[a : a + body]
                row = np.full(self.sequence_length, PAD, dtype=np.int32)
                row[0] = BOS
                row[1 : 1 + len(window)] = window
                if a + body >= len(ev):
                    row[1 + len(window)] = EOS
                rows.append(row)
        if not rows:
            raise DataError("no piece with notes to encode")
        return np.stack(rows)

    def decode_events(self, x: np.ndarray) -> list[np.ndarray]:
        out = []
        for row in np.asarray(x).astype(np.int64):
            row = row[1:] if len(row) and row[0] == BOS else row
            stop = np.flatnonzero((row == EOS) | (row == PAD) | (row == BOS))
            out.append(row[: stop[0]] if len(stop) else row)
        return out

    def decode(self, x: np.ndarray, rng: np.random.Generator | None = None, labels: np.ndarray | None = None) -> list[Piece]:
        self._check_fitted()
        return [
            Piece(self.notes_from_events(ev), tempo=float(self.tempo_), name=f"performance-{i:04d}",
                  beats_per_bar=int(self.beats_per_bar_))
            for i, ev in enumerate(self.decode_events(x))
        ]
