"""``TabularPlugin``: tables (CSV, Parquet, scikit-learn's medical data sets) as a domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from domaingen.errors import DataError
from domaingen.plugin import DomainPlugin, GenerationRequest, Metric, as_options

from .codec import TabularCodec
from .conditions import build_request
from .io import FORMATS, read_tables, write_table
from .loading import load_table
from .metrics import METRICS, conform_synthetic, evaluate_tables, quality_score, sdtypes
from .options import DataOptions, EvaluateOptions, GenerateOptions

__all__ = ["TabularPlugin"]


class TabularPlugin(DomainPlugin):
    """Synthetic tables: typed columns, missing values, identifiers, constraints, SDMetrics-style report."""

    name: ClassVar[str] = "tabular"
    version: ClassVar[str] = "0.1.0"
    description: ClassVar[str] = "Tables (CSV, Parquet, sklearn:breast_cancer, sklearn:diabetes) with typed columns"
    DataOptions = DataOptions
    GenerateOptions = GenerateOptions
    EvaluateOptions = EvaluateOptions
    layouts: ClassVar[tuple[str, ...]] = ("table",)
    default_family: ClassVar[str] = "vae"
    formats: ClassVar[tuple[str, ...]] = FORMATS
    auto_families: ClassVar[tuple[str, ...]] = ("copula", "vae", "gan")  # the fast ones; diffusion on request
    selection_metric: ClassVar[str] = "quality_score"
    auto_data_options: ClassVar[dict[str, dict[str, Any]]] = {"copula": {"transform": "quantile"}}  # normal scores: what a copula models

    # --- data -----------------------------------------------------------------------------
    def load(self, source: str, options: BaseModel, base_dir: Path) -> pd.DataFrame:
        return load_table(str(source), as_options(options, DataOptions), Path(base_dir))

    def make_codec(self, options: BaseModel, layout: str) -> TabularCodec:
        # one encoding serves every family: the table layout is family-neutral
        return TabularCodec(as_options(options, DataOptions))

    def codec_from_config(self, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> TabularCodec:
        return TabularCodec.from_config(config, arrays)

    # --- record collections ---------------------------------------------------------------
    def count(self, raw: pd.DataFrame) -> int:
        return len(raw)

    def take_indices(self, raw: pd.DataFrame, idx: np.ndarray) -> pd.DataFrame:
        return raw.iloc[np.asarray(idx, dtype=np.int64)].reset_index(drop=True)

    def concat(self, parts: list[pd.DataFrame]) -> pd.DataFrame:
        parts = [p for p in parts if p is not None]
        if not parts:
            return pd.DataFrame()
        if len(parts) == 1:
            return parts[0].reset_index(drop=True) if not isinstance(parts[0].index, pd.RangeIndex) else parts[0]
        return pd.concat(parts, ignore_index=True)

    # --- generation and output ------------------------------------------------------------
    def generation_request(self, codec: TabularCodec, options: BaseModel) -> GenerationRequest:
        return build_request(codec, as_options(options, GenerateOptions))

    def write(self, raw: pd.DataFrame, stem: Path, fmt: str, options: BaseModel) -> list[Path]:
        return write_table(raw, Path(stem), fmt)

    def read(self, paths: list[Path]) -> pd.DataFrame:
        return read_tables([Path(p) for p in paths])

    # --- evaluation -----------------------------------------------------------------------
    def metrics(self) -> list[Metric]:
        return list(METRICS)

    def selection_score(self, real, synthetic, options, rng) -> float:
        return quality_score(real, synthetic, as_options(options, EvaluateOptions), rng)

    def evaluate(self, real, synthetic, holdout, options, out_dir, rng) -> dict[str, Any]:
        options = as_options(options, EvaluateOptions)
        for name, frame in (("real", real), ("synthetic", synthetic)):
            if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
                raise DataError(f"evaluation needs a non-empty {name} table")
        # the synthetic table in the real one's schema (refused when it lacks a real column)
        conformed = conform_synthetic(real, synthetic, sdtypes(real, options.column_types))
        report = evaluate_tables(real, synthetic, holdout, options, rng, options.column_types, conformed)
        if out_dir is not None and options.report_html:
            from .report import write_report

            path = write_report(report, real, conformed[0], Path(out_dir), options.plot_columns)
            report["report_html"] = path.name
        return report
