"""``MusicPlugin``: melodies, performances and audio from a recipe (see docs/plugins/music.md).

Only light modules are imported here; librosa, pretty_midi, soundfile and music21 are
imported inside the functions that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from domaingen.plugin import Codec, DomainPlugin, GenerationRequest, Metric

from .options import MusicDataOptions, MusicEvaluateOptions, MusicGenerateOptions
from .piece import Piece

__all__ = ["MusicPlugin"]


class MusicPlugin(DomainPlugin):
    """Symbolic music (melody / performance tokens) and audio (log-mel grids)."""

    name = "music"
    version = "0.1.0"
    description = "Melodies, polyphonic performances and audio from MIDI, audio files or the Bach chorales"
    DataOptions = MusicDataOptions
    GenerateOptions = MusicGenerateOptions
    EvaluateOptions = MusicEvaluateOptions
    layouts = ("tokens", "table", "grid")
    default_family = "transformer"
    formats = ("midi", "wav")

    def load(self, source: str, options: BaseModel, base_dir: Path) -> list[Piece]:
        from .loading import load_source

        return load_source(source, options, Path(base_dir))

    def layouts_for(self, options: BaseModel) -> tuple[str, ...]:
        from .codecs import LAYOUTS_BY_REPRESENTATION

        return LAYOUTS_BY_REPRESENTATION[options.representation]

    def make_codec(self, options: BaseModel, layout: str) -> Codec:
        from .codecs import make_codec

        return make_codec(options, layout)

    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Codec:
        from .codecs import codec_from_config

        return codec_from_config(config, arrays)

    def generation_request(self, codec: Codec, options: BaseModel) -> GenerationRequest:
        from .generation import build_request

        return build_request(codec, options)

    def write(self, raw: list[Piece], stem: Path, fmt: str, options: BaseModel) -> list[Path]:
        from .output import write_pieces

        return write_pieces(raw, Path(stem), fmt, options)

    def read(self, paths: list[Path]) -> list[Piece]:
        from .output import read_pieces

        return read_pieces(paths)

    def metrics(self) -> list[Metric]:
        from .metrics import METRICS

        return list(METRICS)

    def evaluate(self, real, synthetic, holdout, options, out_dir, rng) -> dict[str, Any]:
        from .evaluation import evaluate

        return evaluate(real, synthetic, holdout, options, out_dir, rng)
