"""The Python API: load data, train a bundle, generate, evaluate, or run it all.

The CLI is a thin layer over these functions. Each takes a validated ``Recipe`` (see
``load_recipe``) or a ``Bundle`` and returns plain results.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import registry
from .bundle import Bundle, save_bundle
from .errors import DataError
from .evaluation import evaluate_records, write_report
from .generation import generation_counts, write_shards
from .progress import ProgressReporter
from .plugin import as_encoded
from .recipe import Recipe
from .training import derive_seed, fit, seed_everything

__all__ = ["RunResult", "load_data", "train", "run", "evaluate", "generate", "load_bundle"]


@dataclass
class RunResult:
    """Where ``run`` put everything, and what it measured."""

    out_dir: Path
    bundle_dir: Path
    synthetic_dir: Path
    files: list[Path]
    report: dict[str, Any] | None
    report_files: list[Path] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    records: int = 0  # synthetic records written

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "bundle": str(self.bundle_dir),
            "synthetic": [str(p) for p in self.files],
            "records": self.records,
            "reports": [str(p) for p in self.report_files],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "report": self.report,
        }


def load_data(recipe: Recipe) -> tuple[Any, Any]:
    """The recipe's records, split into (train, holdout) with a seed derived from the recipe's."""
    plugin = registry.get_plugin(recipe.model.data.plugin)
    raw = plugin.load(recipe.model.data.source, recipe.data_options, recipe.base_dir)
    if plugin.count(raw) == 0:
        raise DataError(f"data.source {recipe.model.data.source!r}: no records were loaded; point it at non-empty data")
    holdout = recipe.model.evaluate.holdout if recipe.model.evaluate.enabled else 0.0
    train_raw, holdout_raw = plugin.split(raw, holdout, np.random.default_rng(derive_seed(recipe.seed, "split")))
    if plugin.count(train_raw) == 0:
        raise DataError(f"evaluate.holdout={holdout} leaves no records to train on; lower it")
    return train_raw, holdout_raw


def train(recipe: Recipe, bundle_dir: str | Path, *, progress: ProgressReporter | None = None, data: tuple[Any, Any] | None = None) -> Bundle:
    """Fit the codec and model of ``recipe`` and save them as a bundle; return it loaded."""
    progress = progress or ProgressReporter(False)
    plugin = registry.get_plugin(recipe.model.data.plugin)
    family = registry.get_family(recipe.family_name)
    train_raw, holdout_raw = data if data is not None else load_data(recipe)

    train_raw = plugin.training_records(train_raw, recipe.data_options, np.random.default_rng(derive_seed(recipe.seed, "training-records")))
    started = time.perf_counter()
    layout = registry.matching_layout(plugin, recipe.data_options, family)
    codec = plugin.make_codec(recipe.data_options, layout).fit(train_raw)
    encoded = as_encoded(codec.encode(train_raw))
    codec_seconds = time.perf_counter() - started

    family.check_spec(codec.spec)  # a family says what it cannot serve when built, not at sampling
    seed_everything(recipe.seed)
    started = time.perf_counter()
    model = family.build(codec.spec, recipe.family_options, recipe.seed)
    learning_rate = recipe.model.train.learning_rate
    if learning_rate is None:
        learning_rate = family.default_learning_rate
    history = fit(model, encoded.x, recipe.model.train, recipe.seed, progress, learning_rate, labels=encoded.labels)
    fit_seconds = time.perf_counter() - started

    meta = {
        "data_fingerprint": _fingerprint(encoded.x, encoded.labels),
        "train_records": plugin.count(train_raw),
        "holdout_records": plugin.count(holdout_raw),
        "recipe_dir": str(recipe.base_dir),
        "learning_rate": learning_rate,
        "history": history,
        "seconds": {"codec_fit": round(codec_seconds, 3), "train": round(fit_seconds, 3)},
    }
    save_bundle(bundle_dir, model=model, codec=codec, recipe=recipe, meta=meta)
    return Bundle.load(bundle_dir)


def load_bundle(path: str | Path) -> Bundle:
    """Open and verify a bundle (directory or .zip)."""
    return Bundle.load(path)


def generate(bundle: Bundle, out_dir: str | Path, n: int, **kwargs: Any) -> dict[str, Any]:
    """Write ``n`` records as shards plus ``manifest.json``; see ``generation.write_shards``."""
    return write_shards(bundle, out_dir, n, **kwargs)


def evaluate(
    recipe: Recipe,
    synthetic: Any,
    *,
    out_dir: str | Path | None = None,
    data: tuple[Any, Any] | None = None,
    bundle: Bundle | None = None,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare ``synthetic`` records with the recipe's real data; write report files to
    ``out_dir``. With the ``bundle`` that made them, the plugin also scores its model on the
    held-out records (``model_metrics``, e.g. a text model's bits per character); with
    their ``manifest``, the report says how many candidates the filter dropped."""
    plugin = registry.get_plugin(recipe.model.data.plugin)
    real, holdout = data if data is not None else load_data(recipe)
    counts = generation_counts(manifest) if manifest is not None else None
    report = evaluate_records(
        plugin, recipe, real, synthetic, holdout, Path(out_dir) if out_dir else None, bundle=bundle, generation=counts
    )
    if out_dir is not None:
        write_report(Path(out_dir), report)
    return report


def run(recipe: Recipe, out_dir: str | Path, *, progress: ProgressReporter | None = None) -> RunResult:
    """Train, save the bundle, generate, write and evaluate, all in ``out_dir``."""
    progress = progress or ProgressReporter(False)
    out_dir = Path(out_dir)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    data = load_data(recipe)
    seconds["load"] = time.perf_counter() - started

    started = time.perf_counter()
    bundle = train(recipe, out_dir / "bundle", progress=progress, data=data)
    seconds["train"] = time.perf_counter() - started

    started = time.perf_counter()
    gen = recipe.model.generate
    synthetic_dir = out_dir / "synthetic"
    manifest = write_shards(bundle, synthetic_dir, gen.n, overwrite=True, progress=progress)
    files = [synthetic_dir / f["path"] for shard in manifest["shards"] for f in shard["files"]]
    records = sum(int(shard["records"]) for shard in manifest["shards"])
    seconds["generate"] = time.perf_counter() - started

    report, report_files = None, []
    if recipe.model.evaluate.enabled:
        started = time.perf_counter()
        plugin = bundle.plugin
        synthetic = plugin.read(files)
        report = evaluate(recipe, synthetic, out_dir=out_dir, data=data, bundle=bundle, manifest=manifest)
        report_files = [p for p in (out_dir / "report.json", out_dir / "report.html") if p.exists()]
        seconds["evaluate"] = time.perf_counter() - started
    return RunResult(out_dir, out_dir / "bundle", synthetic_dir, files, report, report_files, seconds, records)


def _fingerprint(x: np.ndarray, labels: np.ndarray | None = None) -> str:
    digest = hashlib.sha256()
    digest.update(str((x.shape, str(x.dtype))).encode())
    digest.update(np.ascontiguousarray(x).tobytes())
    if labels is not None:
        digest.update(np.ascontiguousarray(labels).tobytes())
    return digest.hexdigest()
