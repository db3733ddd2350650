"""Batch generation: records in batches, written as shards with a manifest.

Shard ``k`` is generated from a seed derived from ``(seed, k)``, so the output is the
same whatever the number of workers, any shard can be regenerated alone, and an
interrupted run resumes where it stopped (shards already in the manifest, with matching
checksums, are kept). Files appear only complete (temporary name, then rename); a run
holds the output folder's lock (``files.folder_lock``) and first clears the temporaries an
interrupted run left there. Every path read from a manifest is checked to lie inside its
folder (``manifest_files``). Engines: ``local`` (in-process, default), ``processes``
(``--workers N``) and ``ray``; all of them run ``_run_shard``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from .bundle import Bundle
from .cores import share_cores, worker_share
from .errors import DataError, UsageError
from .files import atomic_path, folder_lock, remove_temporaries, sha256_file
from .progress import ProgressReporter
from .ray_engine import run_shards
from .records import generate_counted, requested_total
from .training import derive_seed

__all__ = [
    "generation_counts",
    "write_shards",
    "read_manifest",
    "manifest_files",
    "MANIFEST_NAME",
    "ENGINES",
]

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = "domaingen-manifest"
# while shards complete the manifest is rewritten at most this often (it lists every file so far,
# so rewriting it per shard grew quadratically: 100,000 images in 100 shards spent most of a
# run serialising it); a run that ends or fails writes it at once
MANIFEST_INTERVAL_S = 1.0
MAX_MANIFEST_BYTES = 512 << 20  # about four million file entries (an image shard lists every PNG)
_SHARD_NAME = re.compile(r"part-\d{5,}(\..*)?")  # what _run_shard names a shard: part-00000[.<ext>]
ENGINES = ("local", "processes", "ray")


def generation_counts(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a manifest's run generated, for the report: the records ``written``, and of
    the candidates drawn from the model those the plugin's filter ``accepted`` and
    ``rejected`` (conditions, constraints, a text item that did not parse)."""
    shards = _shards(manifest, "the manifest")
    written = sum(int(shard["records"]) for shard in shards)
    accepted = sum(int(shard.get("filtered", {}).get("accepted", shard["records"])) for shard in shards)
    rejected = sum(int(shard.get("filtered", {}).get("rejected", 0)) for shard in shards)
    seen = accepted + rejected
    return {"written": written, "accepted": accepted, "rejected": rejected,
            "rejected_share": rejected / seen if seen else None}


# ------------------------------------------------------------------------------------------
# reading manifests


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """``folder``'s ``manifest.json`` (structure checked), or ``None`` when it has none.

    ``DataError`` for a manifest over ``MAX_MANIFEST_BYTES``, not JSON, or not a
    domaingen manifest. Its file paths are checked by ``manifest_files``.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.is_file():
        return None
    redo = "regenerate the output with `domaingen generate`"
    with open(path, "rb") as fh:
        raw = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise DataError(f"{path}: over {MAX_MANIFEST_BYTES:,} bytes (generation.MAX_MANIFEST_BYTES), not a manifest domaingen wrote; {redo}")
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: corrupt JSON ({type(exc).__name__}: {exc}); {redo}") from None
    # (a manifest's "format" key holds the shards' format: the header overrides MANIFEST_FORMAT)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("shards"), list):
        raise DataError(f"{path}: not a domaingen manifest (no list of shards); {redo}")
    _shards(manifest, str(path))
    return manifest


def _shards(manifest: Any, source: str) -> list[dict[str, Any]]:
    """The manifest's shard entries, each checked to have the fields the core reads."""
    shards = manifest.get("shards") if isinstance(manifest, dict) else None
    if not isinstance(shards, list):
        raise DataError(f"{source}: has no list of shards; regenerate the output with `domaingen generate`")
    for shard in shards:
        ok = (
            isinstance(shard, dict)
            and isinstance(shard.get("index"), int)
            and isinstance(shard.get("records"), int)
            and shard["records"] >= 0
            and isinstance(shard.get("files"), list)
            and all(isinstance(f, dict) and isinstance(f.get("path"), str) and isinstance(f.get("sha256"), str) for f in shard["files"])
            and isinstance(shard.get("filtered", {}), dict)
            and all(isinstance(v, int) for v in shard.get("filtered", {}).values())
        )
        if not ok:
            raise DataError(f"{source}: malformed shard entry {json.dumps(shard)[:200]}; regenerate the output with `domaingen generate`")
    return shards


def manifest_files(folder: str | Path, manifest: dict[str, Any], *, overview: bool = False) -> list[Path]:
    """The shard files a manifest lists (and its ``overview`` files if asked), as paths in
    ``folder``; ``DataError`` for any path that leads outside it (absolute, ``..``, or a
    symbolic link out of the folder): a manifest is never followed out of its folder."""
    entries = [f for shard in _shards(manifest, f"{Path(folder) / MANIFEST_NAME}") for f in shard["files"]]
    if overview:
        extra = manifest.get("overview", [])
        if not isinstance(extra, list) or not all(isinstance(f, dict) and isinstance(f.get("path"), str) for f in extra):
            raise DataError(f"{Path(folder) / MANIFEST_NAME}: malformed overview list; regenerate the output with `domaingen generate`")
        entries += extra
    return [inside_folder(folder, f["path"]) for f in entries]


def inside_folder(folder: str | Path, relative: str) -> Path:
    """``folder / relative`` after checking that it stays inside ``folder`` once resolved;
    ``DataError`` for an absolute path, ``..``, or a symbolic link out of the folder."""
    folder = Path(folder)
    pure = PurePosixPath(relative)
    escapes = (
        not relative
        or "\x00" in relative
        or "\\" in relative
        or pure.is_absolute()
        or bool(PureWindowsPath(relative).drive)
        or ".." in pure.parts
    )
    if not escapes:
        try:
            root = folder.resolve()
            resolved = (folder / relative).resolve()
            escapes = root not in resolved.parents  # strictly inside: not the folder itself
        except (OSError, RuntimeError, ValueError):  # a link loop, an unreadable folder
            escapes = True
    if escapes:
        raise DataError(
            f"{folder / MANIFEST_NAME}: file entry {relative!r} leads outside {folder} (an absolute path, '..' or a "
            "link out of the folder); refused: a manifest lists files inside its own folder only, regenerate the output"
        )
    return folder / relative


# ------------------------------------------------------------------------------------------
# shards


def _shard_sizes(n: int, shard_size: int) -> list[int]:
    full, rest = divmod(n, shard_size)
    return [shard_size] * full + ([rest] if rest else [])


def _run_shard(bundle: Any, options: dict[str, Any], k: int, count: int, seed: int, batch_size: int, fmt: str, out_dir: str) -> dict[str, Any]:
    """Generate and write shard ``k``; return its manifest entry."""
    recipe = bundle.recipe_with_options(options)
    records, filtered = generate_counted(bundle, recipe, count, seed=derive_seed(seed, "shard", k), batch_size=batch_size)
    paths = bundle.plugin.write(records, Path(out_dir) / f"part-{k:05d}", fmt, recipe.generate_options)
    return {
        "index": k,
        "records": count,
        "filtered": filtered,
        "files": [_file_entry(p, out_dir) for p in paths],
    }


def _file_entry(path: Any, out_dir: Any) -> dict[str, str]:
    """A manifest's record of one written file: its path inside ``out_dir`` and checksum."""
    return {"path": Path(path).relative_to(out_dir).as_posix(), "sha256": sha256_file(path)}


_WORKER_BUNDLES: dict[str, Any] = {}


def _run_shard_in_worker(bundle_path: str, *args: Any) -> dict[str, Any]:
    """Process-pool / Ray entry: load the bundle once per worker, then run the shard."""
    if bundle_path not in _WORKER_BUNDLES:
        _WORKER_BUNDLES[bundle_path] = Bundle.load(bundle_path)
    return _run_shard(_WORKER_BUNDLES[bundle_path], *args)


def write_shards(
    bundle: Any,
    out_dir: str | Path,
    n: int,
    *,
    seed: int | None = None,
    batch_size: int | None = None,
    shard_size: int | None = None,
    fmt: str | None = None,
    options: dict[str, Any] | None = None,
    workers: int = 1,
    engine: str = "local",
    overwrite: bool = False,
    progress: ProgressReporter | None = None,
) -> dict[str, Any]:
    """Generate ``n`` records into ``out_dir`` as ``part-NNNNN.<ext>`` shards plus ``manifest.json``."""
    recipe = bundle.recipe_with_options(options)
    gen = recipe.model.generate
    seed = recipe.seed if seed is None else int(seed)
    batch_size = batch_size or gen.batch_size
    shard_size = shard_size or gen.shard_size
    plugin = bundle.plugin
    fmt = fmt or gen.format or plugin.formats[0]
    if fmt not in plugin.formats:
        raise UsageError(f"format {fmt!r}: the {plugin.name} plugin writes {', '.join(plugin.formats)}")
    if engine not in ENGINES:
        raise UsageError(f"engine {engine!r}: use one of {', '.join(ENGINES)}")
    if engine == "local" and workers > 1:
        engine = "processes"
    progress = progress or ProgressReporter(False)
    n = requested_total(bundle, recipe, n)

    out_dir = Path(out_dir)
    created = _missing_folders(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {
        "bundle_weights_sha256": bundle.meta["weights_sha256"],
        "bundle_codec_sha256": bundle.meta["files"]["codec.npz"],
        "plugin_version": bundle.meta["plugin"]["version"],
        "n": n,
        "seed": seed,
        "batch_size": batch_size,
        "shard_size": shard_size,
        "format": fmt,
        "options": recipe.document.get("generate", {}).get("options", {}),
    }
    hint = "wait for that run to finish or choose another --out folder"
    with folder_lock(out_dir, hint=hint):  # one writer per folder: its manifest describes exactly its files
        done: dict[int, dict[str, Any]] = {}
        todo: list[int] = []
        try:
            remove_temporaries(out_dir, descend=lambda name: _SHARD_NAME.fullmatch(name) is not None)
            done = _resume_state(out_dir, header, overwrite)
            sizes = _shard_sizes(n, shard_size)
            todo = [k for k in range(len(sizes)) if k not in done]
            manifest = {"format": MANIFEST_FORMAT, "version": 1, "plugin": plugin.name, **header, "complete": False, "shards": []}

            last_written = 0.0  # time.monotonic() of the last manifest write

            def record(entry: dict[str, Any] | None = None, *, now: bool = True) -> None:
                """Note a finished shard; write the manifest unless it was written less than
                MANIFEST_INTERVAL_S ago (a rerun regenerates shards it does not list yet)."""
                nonlocal last_written
                if entry is not None:
                    done[entry["index"]] = entry
                manifest["shards"] = [done[k] for k in sorted(done)]
                manifest["complete"] = len(done) == len(sizes)
                if now or manifest["complete"] or time.monotonic() - last_written >= MANIFEST_INTERVAL_S:
                    _write_manifest(out_dir, manifest)
                    last_written = time.monotonic()

            with progress.task("generating", n, unit="record") as bar:  # records/s and an ETA
                bar.skip(n - sum(sizes[k] for k in todo))  # shards done before a resume: not in the rate
                for entry in _shard_entries(engine, bundle, dict(header["options"]), todo, sizes, seed, batch_size, fmt, out_dir, workers):
                    record(entry, now=False)
                    bar.advance(entry["records"])
        except BaseException:
            if todo and any(k in done for k in todo):  # shards of this run finished: a rerun resumes after them
                record()
            if created and not (out_dir / MANIFEST_NAME).exists():  # a run that wrote nothing leaves no folder behind
                _remove_created(out_dir, created)
            raise
        overview = plugin.write_overview(bundle, out_dir, recipe.generate_options, derive_seed(seed, "overview"))
        manifest["overview"] = [_file_entry(p, out_dir) for p in overview]
        record()
    return manifest


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, deepest first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _remove_created(out_dir: Path, created: list[Path]) -> None:
    """Remove the output folder this run created, and the parents it created if empty."""
    shutil.rmtree(out_dir, ignore_errors=True)
    for parent in created[1:]:
        try:
            parent.rmdir()
        except OSError:
            break


def _shard_entries(engine, bundle, opts, todo, sizes, seed, batch_size, fmt, out_dir, workers):
    """Generate the shards ``todo`` on ``engine``; yield each one's manifest entry as it completes."""
    if engine == "local":
        for k in todo:
            yield _run_shard(bundle, opts, k, sizes[k], seed, batch_size, fmt, str(out_dir))
    elif engine == "processes":
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        share = worker_share(workers)  # each worker's thread pools sized to its share of the cores
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=share_cores, initargs=(share,)) as pool:
            futures = [
                pool.submit(_run_shard_in_worker, str(bundle.path), opts, k, sizes[k], seed, batch_size, fmt, str(out_dir)) for k in todo
            ]
            for fut in as_completed(futures):
                yield fut.result()
    else:
        yield from _run_with_ray(bundle, opts, todo, sizes, seed, batch_size, fmt, out_dir, workers)


def _run_with_ray(bundle, opts, todo, sizes, seed, batch_size, fmt, out_dir, workers):
    """The ``ray`` engine (``ray_engine.run_shards``, in-process or on a cluster); at the end,
    under the folder's lock, clear the temporaries of workers killed mid-write (their
    shards were retried)."""
    out = Path(out_dir).resolve()
    try:
        yield from run_shards(_run_shard_in_worker, str(Path(bundle.path).resolve()), opts, todo, sizes, seed, batch_size, fmt, str(out), workers)
    finally:
        remove_temporaries(out, descend=lambda name: _SHARD_NAME.fullmatch(name) is not None)


def _resume_state(out_dir: Path, header: dict[str, Any], overwrite: bool) -> dict[int, dict[str, Any]]:
    """Shards already written by an earlier run with the same parameters (checksums verified).

    Shards the manifest does not list as done are removed (they are regenerated). With
    ``overwrite``, the output of a different (or unreadable) earlier run is removed first."""
    try:
        previous = read_manifest(out_dir)
        if previous is not None:
            manifest_files(out_dir, previous, overview=True)
    except DataError as exc:
        if not overwrite:
            raise DataError(f"{exc}; to replace what {out_dir} holds, pass --overwrite") from None
        _clear_previous(out_dir, None)
        return {}
    if previous is None:
        if overwrite:
            _clear_previous(out_dir, None)
        return {}
    same_run = all(previous.get(key) == value for key, value in header.items())
    if not same_run:
        if not overwrite:
            raise UsageError(
                f"{out_dir} holds the output of a different generation run (other bundle, n, seed, batch or shard size, format or options); "
                "choose another --out folder or pass --overwrite"
            )
        _clear_previous(out_dir, previous)
        return {}
    done = {}
    for shard in previous["shards"]:
        files = manifest_files(out_dir, {"shards": [shard]})
        if files and all(p.is_file() and sha256_file(p) == f["sha256"] for p, f in zip(files, shard["files"])):
            done[int(shard["index"])] = shard
    _remove_unlisted_shards(out_dir, {PurePosixPath(f["path"]).parts[0] for shard in done.values() for f in shard["files"]})
    return done


def _clear_previous(out_dir: Path, previous: dict[str, Any] | None) -> None:
    """Delete an earlier run's output in ``out_dir``: the files its manifest lists (inside
    the folder only), every top-level shard even if unlisted, and the manifest itself."""
    if previous is not None:
        for path in manifest_files(out_dir, previous, overview=True):
            _remove_output(out_dir, path)
    _remove_unlisted_shards(out_dir, set())
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)


def _remove_unlisted_shards(out_dir: Path, keep: set[str]) -> None:
    """Remove the top-level shards (``part-NNNNN[.<ext>]``, files or folders) not in ``keep``:
    those an interrupted run wrote before its manifest listed them, or a shard that failed
    its checksum, so that the manifest describes exactly the folder's shards."""
    for entry in sorted(out_dir.iterdir()):
        if _SHARD_NAME.fullmatch(entry.name) and entry.name not in keep:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def _remove_output(out_dir: Path, path: Path) -> None:
    """Delete one file an earlier run wrote (checked to be inside ``out_dir``) and the
    folders it leaves empty below ``out_dir``."""
    if path.is_dir() and not path.is_symlink():
        return
    path.unlink(missing_ok=True)
    for folder in path.parents:
        if folder == out_dir:
            break
        try:
            folder.rmdir()
        except OSError:
            break


def _write_manifest(out_dir: Path, manifest: dict[str, Any]) -> None:
    """Replace ``manifest.json`` atomically (it lists every file of the shards done so far)."""
    with atomic_path(out_dir / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
