"""The vitals plugin: the one object domaingen talks to (entry point ``plugin``).

It ties the parts together: where series come from (``load``: the embedded simulator or
JSONL files), how they become arrays and back (``make_codec``, codec.py), what a generation
run asks of the model (``generation_request``), how output is written and read (io.py) and
how it is judged (metrics.py). Layout ``tokens``: any family that takes token sequences
fits (``rnn``, ``transformer``, or a third party's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from domaingen.errors import DataError
from domaingen.plugin import DomainPlugin, GenerationRequest, Metric

from . import __version__
from .codec import VitalsCodec
from .demo import SOURCE, demo_records
from .io import read_jsonl, write_jsonl
from .metrics import METRICS, evaluate
from .options import DataOptions, EvaluateOptions, GenerateOptions

__all__ = ["VitalsPlugin", "plugin"]


class VitalsPlugin(DomainPlugin):
    """Records are vital-sign series; each is encoded as one window of reading tokens."""

    name = "vitals"
    version = __version__
    description = "Bedside vital signs: heart rate and systolic blood pressure every 5 minutes."
    DataOptions = DataOptions
    GenerateOptions = GenerateOptions
    EvaluateOptions = EvaluateOptions
    layouts = ("tokens",)
    default_family = "transformer"
    formats = ("jsonl",)

    # --- data ---------------------------------------------------------------------------
    # --8<-- [start:load]
    def load(self, source: str, options: DataOptions, base_dir: Path) -> list[dict]:
        """The simulator's series, or those of a JSONL file (relative to the recipe)."""
        if source == SOURCE:
            return demo_records(options.rows, options.seed, steps=options.max_steps)
        # --8<-- [end:load]
        if source.startswith(f"{self.name}:"):
            raise DataError(f"data.source {source!r}: unknown embedded source; the {self.name} plugin has {SOURCE}")
        path = Path(source) if Path(source).is_absolute() else Path(base_dir) / source
        if not path.is_file():
            raise DataError(f"data.source {source!r}: no file at {path}; give a JSONL file or {SOURCE}")
        records = read_jsonl([path])
        if not records:
            raise DataError(f"data.source {source!r}: {path} holds no records")
        return records

    # --8<-- [start:make_codec]
    def make_codec(self, options: DataOptions, layout: str) -> VitalsCodec:
        steps = {"heart_rate": options.heart_rate_step, "systolic": options.systolic_step}
        return VitalsCodec(options.max_steps, steps)
    # --8<-- [end:make_codec]

    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> VitalsCodec:
        return VitalsCodec.from_config(config, arrays)

    # --- generation and output ------------------------------------------------------------
    # --8<-- [start:request]
    def generation_request(self, codec: VitalsCodec, options: GenerateOptions) -> GenerationRequest:
        """The temperature as a sampling control; ``min_steps`` as a filter on the series."""
        def accept(records: list[dict]) -> list[dict]:
            return [r for r in records if len(r["heart_rate"]) >= options.min_steps]

        return GenerationRequest(controls={"temperature": options.temperature}, accept=accept)
    # --8<-- [end:request]

    def write(self, raw: list[dict], stem: Path, fmt: str, options: GenerateOptions) -> list[Path]:
        return [write_jsonl(raw, Path(f"{stem}.jsonl"))]

    def read(self, paths: list[Path]) -> list[dict]:
        return read_jsonl([Path(p) for p in paths])

    # --- evaluation -------------------------------------------------------------------------
    def metrics(self) -> list[Metric]:
        return list(METRICS)

    def evaluate(self, real, synthetic, holdout, options, out_dir, rng) -> dict[str, Any]:
        return evaluate(real, synthetic)


plugin = VitalsPlugin()
