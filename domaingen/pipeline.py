"""The Python API: load data, train a bundle, generate, evaluate, or run it all.

The CLI is a thin layer over these functions. Each takes a validated ``Recipe`` (see
``load_recipe``) or a ``Bundle`` and returns plain results. A function that fails removes
the output folder (or bundle) it created (``removed_on_failure``); what existed before it
ran is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import auto, registry
from .bundle import Bundle, save_bundle
from .errors import DataError, UsageError
from .evaluation import evaluate_records, write_report
from .files import LOCK_NAME
from .generation import MANIFEST_NAME, generation_counts, manifest_files, write_shards
from .progress import ProgressReporter
from .plugin import as_encoded
from .recipe import Recipe, generation_size_problems
from .training import derive_seed, fit, seed_everything

__all__ = ["RunResult", "load_data", "train", "run", "evaluate", "generate", "load_bundle", "removed_on_failure"]


@contextlib.contextmanager
def removed_on_failure(path: str | Path, keep: Callable[[Path], bool] | None = None, parts: tuple[str, ...] = ()) -> Iterator[Path]:
    """Run the block; if it fails, remove what it created at ``path``.

    That is the outermost of ``path`` and its parents that did not exist before the block
    (a folder or a file, e.g. a ``.zip`` bundle); when ``path`` is an existing folder, the
    entries named in ``parts`` (what the block writes there) that did not exist before.
    Nothing is removed when ``keep(path)`` says what is there is worth keeping (work a
    rerun resumes), or while another writer holds a lock there (``files.LOCK_NAME``): a
    failed command leaves no empty or half-made output, and never touches what was there
    before it.
    """
    path = Path(path)
    outermost = _outermost_missing(path)
    created = [outermost] if outermost is not None else [path / part for part in parts if _outermost_missing(path / part) is not None]
    try:
        yield path
    except BaseException:
        if not (keep is not None and keep(path)):
            for item in created:
                if not _locked_by_other(item):
                    _remove(item)
        raise


def _outermost_missing(path: Path) -> Path | None:
    """The outermost of ``path`` and its parents that does not exist (``None``: ``path`` exists)."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate.exists() or candidate.is_symlink():
            break
        missing = candidate
    return missing


def _locked_by_other(folder: Path) -> bool:
    """Whether a writer's lock lies in ``folder`` or a folder just below it (our own
    locks are released before the failure reaches ``removed_on_failure``)."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    return (folder / LOCK_NAME).exists() or any((child / LOCK_NAME).exists() for child in folder.iterdir() if child.is_dir() and not child.is_symlink())


def _remove(path: Path) -> None:
    """Delete ``path`` (a folder with its content, or a file); links are removed, not followed."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _resumable(out_dir: Path) -> bool:
    """Whether a generation folder holds a manifest, i.e. shards a rerun resumes from."""
    return (out_dir / MANIFEST_NAME).is_file()


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
    with removed_on_failure(bundle_dir):
        return _train(recipe, Path(bundle_dir), progress or ProgressReporter(False), data)


def _train(recipe: Recipe, bundle_dir: Path, progress: ProgressReporter, data: tuple[Any, Any] | None) -> Bundle:
    """``train`` without the clean-up of a failed run."""
    plugin = registry.get_plugin(recipe.model.data.plugin)
    train_raw, holdout_raw = data if data is not None else load_data(recipe)
    selection: dict[str, Any] = {}
    if recipe.family_name == auto.AUTO:  # candidates compared on a split of train_raw; the winner trains below
        recipe, chosen = auto.select_family(recipe, train_raw, lambda r, path, records: _train(r, path, progress, records))
        selection = {"model_selection": chosen}
    family = registry.get_family(recipe.family_name)

    train_raw = plugin.training_records(train_raw, recipe.data_options, np.random.default_rng(derive_seed(recipe.seed, "training-records")))
    started = time.perf_counter()
    layout = registry.matching_layout(plugin, recipe.data_options, family)
    from .privacy import fit_codec, prepare_model, privacy_meta  # train.privacy: public codec, DP training, meta

    codec = fit_codec(plugin.make_codec(recipe.data_options, layout), train_raw, recipe.model.train.privacy)
    encoded = as_encoded(codec.encode(train_raw))
    codec_seconds = time.perf_counter() - started

    family.check_spec(codec.spec)  # a family says what it cannot serve when built, not at sampling
    seed_everything(recipe.seed)
    started = time.perf_counter()
    model = family.build(codec.spec, recipe.family_options, recipe.seed)
    learning_rate = recipe.model.train.learning_rate
    if learning_rate is None:
        learning_rate = family.default_learning_rate
    model = prepare_model(model, codec, recipe.model.train.privacy)
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
        **privacy_meta(codec, model),
        **selection,
    }
    save_bundle(bundle_dir, model=model, codec=codec, recipe=recipe, meta=meta)
    return Bundle.load(bundle_dir)


def load_bundle(path: str | Path) -> Bundle:
    """Open and verify a bundle (directory or .zip)."""
    return Bundle.load(path)


def generate(bundle: Bundle, out_dir: str | Path, n: int, *, address: str | None = None, **kwargs: Any) -> dict[str, Any]:
    """Write ``n`` records as shards plus ``manifest.json``; see ``generation.write_shards``.

    ``n``, ``batch_size`` and ``shard_size`` are held to the recipe's bounds (``UsageError``).
    A failed run removes the folder it created unless it holds shards a rerun resumes.
    ``address`` (``auto`` or ``HOST:PORT``): the Ray cluster ``engine="ray"`` runs on (``ray_engine``).
    """
    shard_size = kwargs.get("shard_size") or bundle.recipe.model.generate.shard_size
    problems = generation_size_problems(int(n), int(shard_size), kwargs.get("batch_size"))
    if problems:
        raise UsageError(f"generate into {out_dir}: " + "; ".join(problems))
    if address is not None and kwargs.get("engine") != "ray":
        raise UsageError(f"--address {address}: a Ray cluster's address is for --engine ray; add --engine ray or drop --address")
    from .ray_engine import use_address

    with removed_on_failure(out_dir, keep=_resumable), use_address(address):
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
    with removed_on_failure(out_dir) if out_dir is not None else contextlib.nullcontext():
        return _evaluate(recipe, synthetic, out_dir, data, bundle, manifest)


def _evaluate(recipe: Recipe, synthetic: Any, out_dir: Any, data: Any, bundle: Bundle | None, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """``evaluate`` without the clean-up of a failed run."""
    plugin = registry.get_plugin(recipe.model.data.plugin)
    real, holdout = data if data is not None else load_data(recipe)
    counts = generation_counts(manifest) if manifest is not None else None
    report = evaluate_records(
        plugin, recipe, real, synthetic, holdout, Path(out_dir) if out_dir else None, bundle=bundle, generation=counts
    )
    if out_dir is not None:
        write_report(Path(out_dir), report)
    return report


_RUN_PARTS = ("bundle", "synthetic", "report.json", "report.html")  # what ``run`` writes in its folder


def run(recipe: Recipe, out_dir: str | Path, *, progress: ProgressReporter | None = None) -> RunResult:
    """Train, save the bundle, generate, write and evaluate, all in ``out_dir``; a failed
    run removes ``out_dir`` if it created it (what it made inside an existing one, too)."""
    with removed_on_failure(out_dir, parts=_RUN_PARTS):
        return _run(recipe, Path(out_dir), progress or ProgressReporter(False))


def _run(recipe: Recipe, out_dir: Path, progress: ProgressReporter) -> RunResult:
    """``run`` without the clean-up of a failed run."""
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
    files = manifest_files(synthetic_dir, manifest)
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
