"""Melody codec: monophonic lines on a sixteenth-note grid (MelodyRNN / MusicVAE style).

One event per grid step: ``NO_EVENT`` (hold the sounding note, or keep silent),
``NOTE_OFF`` (end the sounding note) or ``NOTE_ON(p)`` (end the sounding note and start
pitch ``p``, ``low <= p <= high``). Event ids: 0 = no event, 1 = note off,
``2 + p - low`` = note on.

- ``tokens`` layout (families ``rnn``/``transformer``): token = event id + 3, with
  ``pad`` 0, ``bos`` 1, ``eos`` 2. Each training row is ``[bos] + window + [eos]`` (the
  ``eos`` only where the piece ends inside the window), padded to ``window + 2``.
- ``table`` layout (families ``vae``/``gan``): each row is ``segment_bars`` bars, one
  categorical segment (one-hot over the events) per step, for MusicVAE-style sampling
  and interpolation.

Documented loss of ``decode(encode(x))``: note times snap to the grid (at the piece's
tempo); a note shorter than a step lasts one step; chords keep their highest note and a
note is cut where the next one starts; pitches outside the range move by octaves into
it; velocities become the codec's (default 80); the tempo becomes the corpus median.
"""

from __future__ import annotations


import numpy as np

from domaingen.errors import DataError
from domaingen.spec import DataSpec, Segment

from .codec_state import MusicCodec
from .piece import END, PITCH, START, Piece, make_notes

__all__ = ["MelodyCodec", "NO_EVENT", "NOTE_OFF", "FIRST_NOTE_ON", "PAD", "BOS", "EOS", "N_SPECIAL"]

NO_EVENT, NOTE_OFF, FIRST_NOTE_ON = 0, 1, 2
PAD, BOS, EOS = 0, 1, 2
N_SPECIAL = 3


def fold_into_range(pitches: np.ndarray, low: int, high: int) -> np.ndarray:
    """Move pitches by whole octaves until they lie in ``[low, high]`` (needs a >= 12 span)."""
    p = np.asarray(pitches, dtype=np.int64).copy()
    while np.any(p < low):
        p = np.where(p < low, p + 12, p)
    while np.any(p > high):
        p = np.where(p > high, p - 12, p)
    return p


class MelodyCodec(MusicCodec):
    """Monophonic melody <-> grid events (see module doc)."""

    kind = "melody"

    def __init__(
        self,
        *,
        layout: str = "tokens",
        pitch_low: int = 48,
        pitch_high: int = 84,
        steps_per_quarter: int = 4,
        window_bars: int = 8,
        hop_bars: int = 2,
        segment_bars: int = 2,
        transpose: tuple[int, ...] = (),
        velocity: int = 80,
    ):
        if layout not in ("tokens", "table"):
            raise ValueError(f"melody layout must be tokens or table, got {layout!r}")
        if pitch_high - pitch_low < 11:
            raise ValueError("melody pitch range must span at least an octave")
        self.layout = layout
        self.pitch_low = int(pitch_low)
        self.pitch_high = int(pitch_high)
        self.steps_per_quarter = int(steps_per_quarter)
        self.window_bars = int(window_bars)
        self.hop_bars = int(hop_bars)
        self.segment_bars = int(segment_bars)
        self.transpose = tuple(int(t) for t in transpose)
        self.velocity = int(velocity)
        self.tempo_: float | None = None
        self.beats_per_bar_: int | None = None

    # --- sizes ---------------------------------------------------------------------
    @property
    def n_events(self) -> int:
        return FIRST_NOTE_ON + self.n_pitches

    @property
    def vocab_size(self) -> int:
        return N_SPECIAL + self.n_events

    @property
    def steps_per_bar(self) -> int:
        return int(self.beats_per_bar_ or 4) * self.steps_per_quarter

    @property
    def window_steps(self) -> int:
        return self.window_bars * self.steps_per_bar

    @property
    def segment_steps(self) -> int:
        return self.segment_bars * self.steps_per_bar

    def note_on_event(self, pitch) -> np.ndarray:
        return FIRST_NOTE_ON + np.asarray(pitch, dtype=np.int64) - self.pitch_low

    def event_pitches(self, events: np.ndarray) -> np.ndarray:
        """Pitch of each note-on event (other events give -1)."""
        events = np.asarray(events)
        return np.where(events >= FIRST_NOTE_ON, events - FIRST_NOTE_ON + self.pitch_low, -1)

    # --- fitting ---------------------------------------------------------------------
    def fit(self, raw: list[Piece]) -> "MelodyCodec":
        return self.fit_notes(raw)

    @property
    def spec(self) -> DataSpec:
        self._check_fitted()
        if self.layout == "tokens":
            return DataSpec(
                layout="tokens",
                shape=(self.window_steps + 2,),
                vocab_size=self.vocab_size,
                special_tokens={"pad": PAD, "bos": BOS, "eos": EOS},
            )
        segments = tuple(Segment(f"step_{i:03d}", "categorical", self.n_events) for i in range(self.segment_steps))
        return DataSpec(layout="table", shape=(self.segment_steps * self.n_events,), segments=segments)

    # --- events ------------------------------------------------------------------------
    def events(self, piece: Piece) -> np.ndarray:
        """The grid events of ``piece`` (length: the step where its last note ends)."""
        if not len(piece.notes):
            return np.zeros(0, dtype=np.int64)
        per_step = piece.seconds_per_beat / self.steps_per_quarter
        starts = np.round(piece.notes[:, START] / per_step).astype(np.int64)
        ends = np.maximum(np.round(piece.notes[:, END] / per_step).astype(np.int64), starts + 1)
        pitches = fold_into_range(piece.notes[:, PITCH], self.pitch_low, self.pitch_high)
        order = np.lexsort((-pitches, starts))  # by start, highest pitch first
        starts, ends, pitches = starts[order], ends[order], pitches[order]
        first = np.ones(len(starts), dtype=bool)
        first[1:] = starts[1:] != starts[:-1]
        starts, ends, pitches = starts[first], ends[first], pitches[first]
        next_start = np.append(starts[1:], np.iinfo(np.int64).max)
        cut = np.minimum(ends, next_start)
        n_steps = int(cut[-1])
        ev = np.full(n_steps, NO_EVENT, dtype=np.int64)
        ev[starts] = self.note_on_event(pitches)
        gaps = (cut < next_start) & (cut < n_steps)
        ev[cut[gaps]] = NOTE_OFF
        return ev

    def notes_from_events(self, events: np.ndarray, tempo: float | None = None) -> np.ndarray:
        """Grid events -> notes ``(n, 4)`` at ``tempo`` (default the codec's tempo)."""
        per_step = 60.0 / float(tempo or self.tempo_ or 120.0) / self.steps_per_quarter
        rows, pitch, start = [], None, 0
        for i, e in enumerate(np.asarray(events, dtype=np.int64)):
            if e >= FIRST_NOTE_ON or e == NOTE_OFF:
                if pitch is not None:
                    rows.append((pitch, start * per_step, i * per_step, self.velocity))
                pitch, start = (int(e) - FIRST_NOTE_ON + self.pitch_low, i) if e >= FIRST_NOTE_ON else (None, 0)
        if pitch is not None:
            rows.append((pitch, start * per_step, len(events) * per_step, self.velocity))
        return make_notes(rows)

    def piece_from_events(self, events: np.ndarray, name: str = "") -> Piece:
        return Piece(self.notes_from_events(events), tempo=float(self.tempo_), name=name, beats_per_bar=self.beats_per_bar_)

    # --- encode / decode -------------------------------------------------------------
    def _augmented(self, raw: list[Piece]) -> list[np.ndarray]:
        out = []
        for piece in raw:
            ev = self.events(piece)
            if not len(ev):
                continue
            out.append(ev)
            for shift in self.transpose:
                pitches = self.event_pitches(ev)
                on = pitches >= 0
                moved = ev.copy()
                moved[on] = self.note_on_event(fold_into_range(pitches[on] + shift, self.pitch_low, self.pitch_high))
                out.append(moved)
        return out

    @staticmethod
    def _window_starts(n: int, width: int, hop: int) -> range:
        """Bar-aligned window starts; the last window reaches the end of the piece."""
        hop = max(1, min(hop, width))
        return range(0, max(n - width, 0) + hop, hop)

    def encode(self, raw: list[Piece]) -> np.ndarray:
        self._check_fitted()
        sequences = self._augmented(raw)
        if not sequences:
            raise DataError("no piece with notes to encode")
        return self._encode_tokens(sequences) if self.layout == "tokens" else self._encode_table(sequences)

    def _encode_tokens(self, sequences: list[np.ndarray]) -> np.ndarray:
        width, hop = self.window_steps, self.hop_bars * self.steps_per_bar
        rows = []
        for ev in sequences:
            for a in self._window_starts(len(ev), width, hop):
                window = ev[a : a + width] + N_SPECIAL
                row = np.full(width + 2, PAD, dtype=np.int32)
                row[0] = BOS
                row[1 : 1 + len(window)] = window
                if a + width >= len(ev):
                    row[1 + len(window)] = EOS
                rows.append(row)
        return np.stack(rows)

    def _encode_table(self, sequences: list[np.ndarray]) -> np.ndarray:
        width = self.segment_steps
        hop = min(self.hop_bars, self.segment_bars) * self.steps_per_bar
        rows = []
        for ev in sequences:
            padded = np.concatenate([ev, [NOTE_OFF], np.zeros(width, dtype=np.int64)])
            for a in self._window_starts(len(ev), width, hop):
                window = padded[a : a + width]
                if np.any(window >= FIRST_NOTE_ON):
                    rows.append(window)
        events = np.stack(rows)
        onehot = np.zeros((len(events), width, self.n_events), dtype=np.float32)
        np.put_along_axis(onehot, events[:, :, None], 1.0, axis=2)
        return onehot.reshape(len(events), -1)

    def decode_events(self, x: np.ndarray) -> list[np.ndarray]:
        """Model output -> one event array per row (tokens: up to ``eos``/``pad``)."""
        x = np.asarray(x)
        out = []
        if self.layout == "tokens":
            for row in x.astype(np.int64):
                row = row[1:] if len(row) and row[0] == BOS else row
                stop = np.flatnonzero((row == EOS) | (row == PAD) | (row == BOS))
                row = row[: stop[0]] if len(stop) else row
                out.append(row - N_SPECIAL)
        else:
            scores = x.reshape(len(x), self.segment_steps, self.n_events)
            out.extend(np.argmax(scores, axis=2))
        return out

    def decode(self, x: np.ndarray, rng: np.random.Generator | None = None, labels: np.ndarray | None = None) -> list[Piece]:
        self._check_fitted()
        return [self.piece_from_events(ev, name=f"melody-{i:04d}") for i, ev in enumerate(self.decode_events(x))]
