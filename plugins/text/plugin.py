"""``TextPlugin``: passages and question-answer items in the style of a corpus, from prompts."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel

from domaingen.errors import DataError
from domaingen.plugin import DomainPlugin, GenerationRequest, Metric, as_options

from .codec import TextCodec
from .options import TextDataOptions, TextEvaluateOptions, TextGenerateOptions
from .records import TextRecord

__all__ = ["TextPlugin"]


class TextPlugin(DomainPlugin):
    """Educational text (.txt / .md / .jsonl, pydoc:topics, stdlib:docstrings) as token sequences."""

    name: ClassVar[str] = "text"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = "Educational text and question-answer items (.txt, .md, .jsonl, pydoc:topics, stdlib:docstrings)"
    DataOptions = TextDataOptions
    GenerateOptions = TextGenerateOptions
    EvaluateOptions = TextEvaluateOptions
    layouts: ClassVar[tuple[str, ...]] = ("tokens",)
    default_family: ClassVar[str] = "transformer"
    formats: ClassVar[tuple[str, ...]] = ("jsonl", "txt")

    def load(self, source: str, options: BaseModel, base_dir: Path) -> list[TextRecord]:
        from .loading import load_texts

        return load_texts(str(source), as_options(options, TextDataOptions), Path(base_dir))

    def make_codec(self, options: BaseModel, layout: str) -> TextCodec:
        return TextCodec(as_options(options, TextDataOptions))

    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> TextCodec:
        return TextCodec.from_config(config, arrays)

    def generation_request(self, codec: TextCodec, options: BaseModel) -> GenerationRequest:
        from .generation import build_request

        return build_request(codec, as_options(options, TextGenerateOptions))

    def with_seeds(self, raw: list[TextRecord], seeds: np.ndarray) -> list[TextRecord]:
        return [dataclasses.replace(r, seed=int(s)) for r, s in zip(raw, seeds)]

    def write(self, raw: list[TextRecord], stem: Path, fmt: str, options: BaseModel) -> list[Path]:
        from .output import write_texts

        return write_texts(raw, Path(stem), fmt, as_options(options, TextGenerateOptions).prompt)

    def preview(self, bundle: Any, n: int, options: dict[str, Any], seed: int, write, stream: bool) -> None:
        """Passages one after another; on a terminal each appears as it is written."""
        from .generation import preview

        preview(bundle, n, options, seed, write, stream)

    def read(self, paths: list[Path]) -> list[TextRecord]:
        from .output import read_texts

        return read_texts([Path(p) for p in paths])

    def metrics(self) -> list[Metric]:
        from .metrics import METRICS

        return list(METRICS)

    def evaluate(self, real, synthetic, holdout, options, out_dir, rng) -> dict[str, Any]:
        from .evaluation import evaluate_texts

        for name, records in (("real", real), ("synthetic", synthetic)):
            if not records:
                raise DataError(f"evaluation needs {name} text records")
        return evaluate_texts(real, synthetic, holdout, as_options(options, TextEvaluateOptions), out_dir, rng)

    def model_metrics(self, bundle: Any, holdout: list[TextRecord], options: BaseModel) -> dict[str, Any]:
        from .evaluation import model_bits_per_char

        value = model_bits_per_char(bundle.model, bundle.codec, holdout)
        return {"bits_per_char_model": None if value is None else round(value, 6)}
