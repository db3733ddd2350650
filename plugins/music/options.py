"""The music plugin's recipe sections: ``data.options``, ``generate.options``, ``evaluate.options``."""

from __future__ import annotations

from typing import Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from domaingen.plugin import StrictModel

from .keys import parse_key

__all__ = [
    "MusicDataOptions", "MusicGenerateOptions", "MusicEvaluateOptions", "REPRESENTATIONS",
    "MAX_FILE_BYTES", "MAX_FILE_BYTES_LIMIT", "MAX_AUDIO_SECONDS",
]

REPRESENTATIONS = ("melody", "performance", "spectrogram")
DEFAULT_RANGES = {"melody": (48, 84), "performance": (21, 108), "spectrogram": (36, 96)}
MAX_FILE_BYTES = 512 << 20  # default max_file_bytes: a music file is read whole into memory
MAX_FILE_BYTES_LIMIT = 4 << 30  # the largest max_file_bytes accepted
MAX_AUDIO_SECONDS = 1800.0  # default max_audio_seconds: audio is decoded whole (and resampled)


def _check_range(value):
    if value is None:
        return value
    low, high = int(value[0]), int(value[1])
    if not 0 <= low < high <= 127:
        raise ValueError(f"pitch_range must be [low, high] MIDI numbers with 0 <= low < high <= 127, got {value}")
    return [low, high]


class MusicDataOptions(StrictModel):
    """How pieces are read and encoded."""

    representation: Literal["melody", "performance", "spectrogram"] = "melody"
    pitch_range: Optional[list[int]] = Field(
        None, min_length=2, max_length=2,
        description="[low, high] MIDI numbers; default melody [48, 84], performance [21, 108]",
    )
    max_pieces: Optional[int] = Field(None, ge=1, description="keep the first N pieces (sorted by name)")
    min_notes: int = Field(4, ge=0, description="drop pieces with fewer notes")
    max_file_bytes: int = Field(
        MAX_FILE_BYTES, ge=1, le=MAX_FILE_BYTES_LIMIT,
        description="a MIDI or audio file larger than this is refused before it is read (files are read whole)",
    )
    max_audio_seconds: float = Field(
        MAX_AUDIO_SECONDS, gt=0, le=24 * 3600,
        description="an audio file whose header declares a longer duration is refused before decoding",
    )
    # melody
    steps_per_quarter: int = Field(4, ge=1, le=24, description="grid steps per quarter note (4 = sixteenths)")
    window_bars: int = Field(8, ge=1, le=64, description="bars per training sequence (rnn/transformer)")
    hop_bars: int = Field(2, ge=1, le=64, description="bars between consecutive training windows")
    segment_bars: int = Field(2, ge=1, le=16, description="bars per table row for the vae/gan families")
    transpose: list[int] = Field(
        default_factory=list, description="extra copies of the training pieces shifted by these semitones"
    )
    # performance
    sequence_length: int = Field(512, ge=16, le=8192, description="events per performance training sequence")
    time_shift_ms: int = Field(10, ge=1, le=100, description="performance time resolution")
    max_shift_steps: int = Field(100, ge=1, le=1000, description="longest single time-shift event, in steps")
    velocity_bins: int = Field(32, ge=1, le=127)
    # audio
    sample_rate: int = Field(16000, ge=4000, le=96000, description="rate audio is read and analysed at")
    audio_tempo: Optional[float] = Field(
        None, gt=0, description="tempo (qpm) of audio sources; default estimated with librosa's beat tracker"
    )
    n_mels: int = Field(64, ge=8, le=256)
    n_fft: int = Field(1024, ge=128, le=8192)
    hop_length: int = Field(256, ge=32, le=4096)
    frames: int = Field(64, ge=8, le=1024, description="spectrogram frames per grid sample")
    top_db: float = Field(80.0, gt=0, description="dynamic range kept in the log-mel grid")
    griffin_lim_iters: int = Field(32, ge=1, le=500)
    mel_inversion: Literal["pinv", "nnls"] = Field(
        "pinv", description="spectrogram decoding: mel -> linear by pseudo-inverse (fast) or NNLS (closer)"
    )
    transcribe_decoded: bool = Field(
        True, description="spectrogram: transcribe generated audio to notes (for MIDI and note metrics)"
    )

    @field_validator("pitch_range")
    @classmethod
    def _range(cls, value):
        return _check_range(value)

    @model_validator(mode="after")
    def _ranges_wide_enough(self):
        low, high = self.resolved_pitch_range()
        if self.representation == "melody" and high - low < 11:
            raise ValueError("pitch_range for melodies must span at least an octave (high - low >= 11)")
        return self

    def resolved_pitch_range(self) -> tuple[int, int]:
        if self.pitch_range is not None:
            return int(self.pitch_range[0]), int(self.pitch_range[1])
        return DEFAULT_RANGES[self.representation]


class MusicGenerateOptions(StrictModel):
    """Sampling controls and output of ``generate``."""

    length_bars: Optional[int] = Field(None, ge=1, le=256, description="length of each piece (default 8 bars)")
    length_seconds: Optional[float] = Field(None, gt=0, le=3600, description="alternative to length_bars")
    tempo: Optional[float] = Field(None, gt=0, le=400, description="qpm of the output; default the corpus median")
    temperature: float = Field(1.0, gt=0)
    top_k: Optional[int] = Field(None, ge=1)
    top_p: Optional[float] = Field(None, gt=0, le=1)
    primer: Optional[Union[list[int], str]] = Field(
        None, description="MIDI pitches (one quarter note each) or the path of a MIDI file"
    )
    pitch_range: Optional[list[int]] = Field(None, min_length=2, max_length=2)
    key: Optional[str] = Field(None, description="e.g. 'C major', 'A minor', 'D dorian'")
    velocity: int = Field(80, ge=1, le=127, description="velocity of generated melody notes")
    program: int = Field(0, ge=0, le=127, description="General MIDI program of written MIDI files")
    sample_rate: int = Field(22050, ge=4000, le=96000, description="rate of rendered WAVs")
    render_wav: bool = Field(True, description="format midi: also write a rendered .wav per piece")
    spectrogram_png: bool = Field(False, description="also write a log-mel spectrogram .png per piece")

    @field_validator("pitch_range")
    @classmethod
    def _range(cls, value):
        return _check_range(value)

    @field_validator("key")
    @classmethod
    def _key(cls, value):
        if value is not None:
            parse_key(value)
        return value

    @model_validator(mode="after")
    def _one_length(self):
        if self.length_bars is not None and self.length_seconds is not None:
            raise ValueError("give length_bars or length_seconds, not both")
        return self


class MusicEvaluateOptions(StrictModel):
    """What ``evaluate`` computes."""

    audio_metrics: bool = Field(True, description="Fréchet MFCC distance and the pYIN pitch check")
    audio_pieces: int = Field(16, ge=2, le=1000, description="pieces per side rendered for audio metrics")
    audio_seconds: float = Field(8.0, gt=0, le=600, description="seconds of each piece used for audio metrics")
    pitch_check_pieces: int = Field(4, ge=0, le=1000, description="rendered pieces checked with pYIN")
    sample_rate: int = Field(16000, ge=4000, le=96000)
    html: bool = Field(True, description="write report.html beside report.json")
