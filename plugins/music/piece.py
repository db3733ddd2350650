"""``Piece``: the music plugin's raw record (notes in seconds, a tempo, optional audio).

Notes are a float64 array of shape ``(n, 4)`` with columns pitch (MIDI number), start and
end (seconds) and velocity (1-127), sorted by start then pitch. The tempo (quarter notes
per minute) says where the beats fall, so codecs can put the notes on a sixteenth grid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

__all__ = ["Piece", "NOTE_COLUMNS", "PITCH", "START", "END", "VELOCITY", "make_notes"]

NOTE_COLUMNS = ("pitch", "start", "end", "velocity")
PITCH, START, END, VELOCITY = range(4)


def make_notes(rows) -> np.ndarray:
    """``[(pitch, start, end, velocity), ...]`` -> a sorted ``(n, 4)`` float64 note array."""
    notes = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    if len(notes):
        order = np.lexsort((notes[:, PITCH], notes[:, START]))
        notes = notes[order]
    return notes


@dataclass(eq=False)
class Piece:
    """One piece of music: notes (see module doc), tempo in qpm, a name, optional audio."""

    notes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    tempo: float = 120.0
    name: str = ""
    beats_per_bar: int = 4
    audio: np.ndarray | None = None
    sample_rate: int | None = None

    def __post_init__(self) -> None:
        self.notes = make_notes(self.notes)
        if len(self.notes) and np.any(self.notes[:, END] <= self.notes[:, START]):
            raise ValueError(f"piece {self.name!r}: every note must end after it starts")
        if not self.tempo > 0:
            raise ValueError(f"piece {self.name!r}: tempo must be positive, got {self.tempo}")
        if self.audio is not None:
            self.audio = np.asarray(self.audio, dtype=np.float32).reshape(-1)
            if not self.sample_rate:
                raise ValueError(f"piece {self.name!r}: audio needs a sample_rate")

    # --- views -----------------------------------------------------------------
    @property
    def pitches(self) -> np.ndarray:
        return self.notes[:, PITCH].astype(np.int64)

    @property
    def starts(self) -> np.ndarray:
        return self.notes[:, START]

    @property
    def ends(self) -> np.ndarray:
        return self.notes[:, END]

    @property
    def velocities(self) -> np.ndarray:
        return self.notes[:, VELOCITY]

    @property
    def seconds_per_beat(self) -> float:
        return 60.0 / self.tempo

    @property
    def duration(self) -> float:
        """Length in seconds: the last note end, or the audio length if longer."""
        end = float(self.notes[:, END].max()) if len(self.notes) else 0.0
        if self.audio is not None:
            end = max(end, len(self.audio) / float(self.sample_rate))
        return end

    def __len__(self) -> int:
        return len(self.notes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Piece):
            return NotImplemented
        return (
            self.name == other.name
            and self.tempo == other.tempo
            and self.beats_per_bar == other.beats_per_bar
            and self.notes.shape == other.notes.shape
            and np.array_equal(self.notes, other.notes)
        )

    # --- transformations ---------------------------------------------------------
    def with_tempo(self, tempo: float) -> "Piece":
        """The same notes played at ``tempo`` qpm (times scaled; audio dropped)."""
        scale = self.tempo / float(tempo)
        notes = self.notes.copy()
        notes[:, START] *= scale
        notes[:, END] *= scale
        return replace(self, notes=notes, tempo=float(tempo), audio=None, sample_rate=None)

    # --- MIDI ----------------------------------------------------------------------
    def to_pretty_midi(self, program: int = 0):
        """A ``pretty_midi.PrettyMIDI`` with one instrument holding the notes."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=float(self.tempo))
        pm.time_signature_changes.append(pretty_midi.TimeSignature(int(self.beats_per_bar), 4, 0.0))
        inst = pretty_midi.Instrument(program=int(program), name=self.name[:60] or "melody")
        for p, s, e, v in self.notes:
            vel = int(np.clip(round(v), 1, 127))
            inst.notes.append(pretty_midi.Note(velocity=vel, pitch=int(p), start=float(s), end=float(e)))
        pm.instruments.append(inst)
        return pm

    def write_midi(self, path: str | Path, program: int = 0) -> None:
        self.to_pretty_midi(program).write(str(path))
