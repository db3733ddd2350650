"""Spectrogram codec: audio <-> log-mel segments (``grid`` layout) for the vae/gan families.

Audio (the piece's own, or its notes rendered by ``synth.render``) becomes a power
mel spectrogram (``librosa.feature.melspectrogram``), in dB relative to 1.0, clipped to
``[db_max - top_db, db_max]`` where ``db_max`` is the loudest training bin, and scaled
linearly to ``[-1, 1]``. Rows are non-overlapping blocks of ``frames`` frames, shape
``(n_mels, frames, 1)``. Decoding inverts the scaling and follows the steps of
``librosa.feature.inverse.mel_to_audio``: mel -> linear magnitude (``mel_inversion``:
``pinv``, the pseudo-inverse of ``librosa.filters.mel`` clipped at 0, about ten times
faster; or ``nnls``, librosa's non-negative least squares, closer to the original),
then Griffin-Lim (``librosa.griffinlim``, seeded with the decode generator). Notes are
transcribed from the result.

Documented loss: phase (Griffin-Lim estimates it), detail finer than the mel bands, and
everything quieter than ``top_db`` below the loudest training bin.
"""

from __future__ import annotations


import numpy as np

from domaingen.errors import DataError
from domaingen.spec import DataSpec

from .codec_state import MusicCodec
from .piece import Piece, make_notes

__all__ = ["SpectrogramCodec", "piece_audio"]


def piece_audio(piece: Piece, sample_rate: int) -> np.ndarray:
    """The piece's audio at ``sample_rate``: its own (resampled) or its notes rendered."""
    if piece.audio is not None:
        if piece.sample_rate == sample_rate:
            return piece.audio
        import librosa

        return librosa.resample(piece.audio, orig_sr=piece.sample_rate, target_sr=sample_rate)
    from .synth import render

    return render(piece, sample_rate)


class SpectrogramCodec(MusicCodec):
    """Audio <-> scaled log-mel blocks (see module doc)."""

    kind = "spectrogram"
    layout = "grid"
    learned = ("db_max_", "tempo_")

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 64,
        frames: int = 64,
        top_db: float = 80.0,
        griffin_lim_iters: int = 32,
        transcribe_decoded: bool = True,
        pitch_low: int = 36,
        pitch_high: int = 96,
        mel_inversion: str = "pinv",
    ):
        if mel_inversion not in ("pinv", "nnls"):
            raise ValueError(f"mel_inversion must be pinv or nnls, got {mel_inversion!r}")
        self.sample_rate = int(sample_rate)
        self.n_fft = int(n_fft)
        self.hop_length = int(hop_length)
        self.n_mels = int(n_mels)
        self.frames = int(frames)
        self.top_db = float(top_db)
        self.griffin_lim_iters = int(griffin_lim_iters)
        self.transcribe_decoded = bool(transcribe_decoded)
        self.pitch_low = int(pitch_low)
        self.pitch_high = int(pitch_high)
        self.mel_inversion = mel_inversion
        self.db_max_: float | None = None
        self.tempo_: float | None = None

    @property
    def segment_seconds(self) -> float:
        return self.frames * self.hop_length / self.sample_rate

    def log_mel(self, y: np.ndarray) -> np.ndarray:
        """``(n_mels, frames)`` power mel spectrogram in dB (ref 1.0)."""
        import librosa

        mel = librosa.feature.melspectrogram(
            y=np.asarray(y, dtype=np.float32), sr=self.sample_rate, n_fft=self.n_fft,
            hop_length=self.hop_length, n_mels=self.n_mels, power=2.0,
        )
        return librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)

    def fit(self, raw: list[Piece]) -> "SpectrogramCodec":
        if not raw:
            raise DataError("no pieces to fit the spectrogram codec on: check data.source")
        self.db_max_ = float(max(self.log_mel(piece_audio(p, self.sample_rate)).max() for p in raw))
        self.tempo_ = float(np.median([p.tempo for p in raw]))
        return self

    def _check_fitted(self) -> None:
        if self.db_max_ is None:
            raise RuntimeError("the spectrogram codec is not fitted: call fit(raw) first")

    @property
    def spec(self) -> DataSpec:
        self._check_fitted()
        return DataSpec(layout="grid", shape=(self.n_mels, self.frames, 1))

    def scale(self, db: np.ndarray) -> np.ndarray:
        low = self.db_max_ - self.top_db
        return np.clip((db - low) / self.top_db * 2.0 - 1.0, -1.0, 1.0).astype(np.float32)

    def unscale(self, x: np.ndarray) -> np.ndarray:
        low = self.db_max_ - self.top_db
        return (np.clip(x, -1.0, 1.0) + 1.0) / 2.0 * self.top_db + low

    def encode(self, raw: list[Piece]) -> np.ndarray:
        self._check_fitted()
        blocks, quiet = [], []
        for piece in raw:
            x = self.scale(self.log_mel(piece_audio(piece, self.sample_rate)))
            n = x.shape[1]
            for a in range(0, max(n - self.frames // 2, 1), self.frames):
                block = np.full((self.n_mels, self.frames), -1.0, dtype=np.float32)
                part = x[:, a : a + self.frames]
                block[:, : part.shape[1]] = part
                (blocks if block.max() > -0.75 else quiet).append(block)
        blocks = blocks or quiet
        if not blocks:
            raise DataError("no audio to encode")
        return np.stack(blocks)[..., None]

    def _mel_pinv(self) -> np.ndarray:
        if getattr(self, "_pinv", None) is None:
            import librosa

            basis = librosa.filters.mel(sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels)
            self._pinv = np.linalg.pinv(basis)
        return self._pinv

    def audio_from_grid(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """One ``(n_mels, frames[, 1])`` block -> audio via Griffin-Lim."""
        import librosa

        db = self.unscale(np.asarray(x, dtype=np.float64).reshape(self.n_mels, self.frames))
        power = librosa.db_to_power(db)
        if self.mel_inversion == "nnls":
            magnitude = librosa.feature.inverse.mel_to_stft(power, sr=self.sample_rate, n_fft=self.n_fft, power=2.0)
        else:
            magnitude = np.sqrt(np.maximum(self._mel_pinv() @ power, 0.0))
        y = librosa.griffinlim(
            magnitude, n_iter=self.griffin_lim_iters, hop_length=self.hop_length, n_fft=self.n_fft,
            random_state=rng if rng is not None else np.random.default_rng(0),
        )
        return np.clip(y, -1.0, 1.0).astype(np.float32)

    def decode(self, x: np.ndarray, rng: np.random.Generator | None = None, labels: np.ndarray | None = None) -> list[Piece]:
        self._check_fitted()
        from .transcribe import transcribe

        rng = rng if rng is not None else np.random.default_rng(0)
        pieces = []
        for i, block in enumerate(np.asarray(x)):
            y = self.audio_from_grid(block, rng)
            notes = make_notes([])
            if self.transcribe_decoded and np.max(np.abs(y)) > 1e-4:
                notes = transcribe(y, self.sample_rate, pitch_low=self.pitch_low, pitch_high=self.pitch_high)
            pieces.append(Piece(notes, tempo=float(self.tempo_), name=f"audio-{i:04d}", audio=y,
                                sample_rate=self.sample_rate))
        return pieces
