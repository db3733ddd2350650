"""Which codec a (representation, family) pair gets, and rebuilding codecs from bundles."""

from __future__ import annotations

from typing import Any

import numpy as np

from domaingen.errors import BundleError, UsageError
from domaingen.plugin import Codec

from .melody import MelodyCodec
from .options import MusicDataOptions
from .performance import PerformanceCodec
from .spectrogram import SpectrogramCodec

__all__ = ["make_codec", "codec_from_config", "LAYOUTS_BY_REPRESENTATION"]

#: the layouts each representation can be encoded to, preferred first (a melody is a
#: token sequence for sequence families, fixed-length table rows for vae/gan-like ones)
LAYOUTS_BY_REPRESENTATION = {
    "melody": ("tokens", "table"),
    "performance": ("tokens",),
    "spectrogram": ("grid",),
}
_CODECS = {c.kind: c for c in (MelodyCodec, PerformanceCodec, SpectrogramCodec)}


def make_codec(options: MusicDataOptions, layout: str) -> Codec:
    """A new codec for ``options.representation`` producing ``layout``."""
    rep = options.representation
    allowed = LAYOUTS_BY_REPRESENTATION[rep]
    if layout not in allowed:
        raise UsageError(
            f"the music representation {rep!r} is encoded as {' or '.join(allowed)} data, not {layout!r}: "
            "change model.family or data.options.representation"
        )
    low, high = options.resolved_pitch_range()
    if rep == "melody":
        return MelodyCodec(
            layout=layout,
            pitch_low=low,
            pitch_high=high,
            steps_per_quarter=options.steps_per_quarter,
            window_bars=options.window_bars,
            hop_bars=options.hop_bars,
            segment_bars=options.segment_bars,
            transpose=tuple(options.transpose),
        )
    if rep == "performance":
        return PerformanceCodec(
            pitch_low=low,
            pitch_high=high,
            sequence_length=options.sequence_length,
            time_shift_ms=options.time_shift_ms,
            max_shift_steps=options.max_shift_steps,
            velocity_bins=options.velocity_bins,
        )
    return SpectrogramCodec(
        sample_rate=options.sample_rate,
        n_fft=options.n_fft,
        hop_length=options.hop_length,
        n_mels=options.n_mels,
        frames=options.frames,
        top_db=options.top_db,
        griffin_lim_iters=options.griffin_lim_iters,
        transcribe_decoded=options.transcribe_decoded,
        mel_inversion=options.mel_inversion,
        pitch_low=low,
        pitch_high=high,
    )


def codec_from_config(config: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Codec:
    """Rebuild a fitted music codec from its ``get_config()`` (no arrays are used)."""
    kind = config.get("kind")
    if kind not in _CODECS:
        raise BundleError(f"codec.json names an unknown music codec {kind!r}; expected one of {', '.join(_CODECS)}")
    try:
        return _CODECS[kind].from_config(config, arrays or {})
    except (TypeError, ValueError) as exc:
        raise BundleError(f"codec.json for the {kind} codec is invalid ({exc}); retrain the bundle") from exc
