"""Bundles: a trained generator saved as a directory (optionally zipped), without pickle.

Layout::

    model.keras   the Keras model (loaded with safe_mode=True)
    codec.json    the codec's JSON state       codec.npz  its arrays (allow_pickle=False)
    recipe.yaml   the resolved recipe          meta.json  versions, seed, fingerprint,
                                                          history, SHA-256 of every file

Loading verifies the format version, the versions that wrote it and every file's
checksum, so a truncated, tampered or incompatible bundle fails with a clear message.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from . import registry
from ._quiet import keras_module
from ._version import __version__
from .errors import BundleError, DomaingenError
from .files import atomic_dir, atomic_path, sha256_file

__all__ = ["Bundle", "save_bundle", "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION"]

BUNDLE_FORMAT = "domaingen-bundle"
BUNDLE_FORMAT_VERSION = 1
CONTENT_FILES = ("model.keras", "codec.json", "codec.npz", "recipe.yaml")
REQUIRED_META = ("format_version", "domaingen_version", "keras_version", "backend", "plugin", "family", "seed", "weights_sha256")


def save_bundle(target: str | Path, *, model: Any, codec: Any, recipe: Any, meta: dict[str, Any]) -> Path:
    """Write a bundle to ``target`` (a directory, or a ``.zip`` file); return its path.

    The bundle appears complete or not at all.
    """
    target = Path(target)
    if target.suffix == ".zip":
        with tempfile.TemporaryDirectory() as tmp:
            folder = save_bundle(Path(tmp) / "bundle", model=model, codec=codec, recipe=recipe, meta=meta)
            with atomic_path(target) as tmp_zip:
                with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                    for name in CONTENT_FILES + ("meta.json",):
                        zf.write(folder / name, arcname=name)
        return target

    keras = keras_module()
    with atomic_dir(target) as tmp:
        model.save(tmp / "model.keras")
        (tmp / "codec.json").write_text(json.dumps(codec.get_config(), indent=2, sort_keys=True), encoding="utf-8")
        arrays = {k: np.asarray(v) for k, v in codec.get_arrays().items()}
        for key, arr in arrays.items():
            if arr.dtype == object:
                raise TypeError(f"codec array {key!r} has dtype object; codecs must store numeric or string arrays")
        with open(tmp / "codec.npz", "wb") as fh:
            np.savez(fh, **arrays)
        (tmp / "recipe.yaml").write_text(recipe.to_yaml(), encoding="utf-8")
        plugin_entry = registry.plugins()[recipe.model.data.plugin]
        family_entry = registry.families()[recipe.family_name]
        full_meta = {
            "format": BUNDLE_FORMAT,
            "format_version": BUNDLE_FORMAT_VERSION,
            "domaingen_version": __version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "plugin": {"name": plugin_entry.name, "version": plugin_entry.version, "distribution": plugin_entry.distribution},
            "family": {"name": family_entry.name, "distribution": family_entry.distribution, "version": family_entry.version},
            "seed": recipe.seed,
            "weights_sha256": weights_digest(model),
            "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
            **meta,
            "files": {name: sha256_file(tmp / name) for name in CONTENT_FILES},
        }
        (tmp / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True), encoding="utf-8")
    return target


def weights_digest(model: Any) -> str:
    """SHA-256 over the model's weight values: the model's identity, independent of the
    timestamps a ``.keras`` file carries (two identical trainings give the same digest)."""
    keras = keras_module()
    digest = hashlib.sha256()
    for index, weight in enumerate(model.weights):  # by position: layer names vary between processes
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{index}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


class Bundle:
    """A loaded, verified bundle: its recipe, plugin, codec and (lazily) its model."""

    def __init__(self, path: Path, folder: Path, meta: dict[str, Any], recipe: Any, keepalive: Any = None):
        self.path = path
        self.folder = folder
        self.meta = meta
        self.recipe = recipe
        self._keepalive = keepalive  # a TemporaryDirectory for zipped bundles
        self._model = None
        self._codec = None

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> "Bundle":
        """Open and verify a bundle directory or ``.zip``; ``BundleError`` if it cannot be trusted."""
        from .recipe import _parse_yaml, recipe_from_dict

        path = Path(path)
        keepalive = None
        if path.is_file() and zipfile.is_zipfile(path):
            keepalive = tempfile.TemporaryDirectory(prefix="domaingen-bundle-")
            folder = Path(keepalive.name)
            _safe_extract(path, folder)
        elif path.is_dir():
            folder = path
        elif path.exists():
            raise BundleError(f"bundle {path}: not a bundle directory or .zip file; pass the folder `domaingen train` wrote")
        else:
            raise BundleError(f"bundle {path}: not found; train one with `domaingen train RECIPE --bundle {path}`")

        meta = _read_meta(path, folder)
        _check_versions(path, meta)
        for name, digest in meta["files"].items():
            file = folder / name
            if not file.is_file():
                raise BundleError(f"bundle {path}: {name} is missing; the bundle is incomplete, train it again")
            if sha256_file(file) != digest:
                raise BundleError(f"bundle {path}: {name} does not match its checksum in meta.json (truncated or modified); train it again")
        try:
            document = _parse_yaml((folder / "recipe.yaml").read_text(encoding="utf-8"), f"{path}/recipe.yaml")
            recipe = recipe_from_dict(document, base_dir=meta.get("recipe_dir", folder), source=f"{path}/recipe.yaml")
        except DomaingenError as exc:
            raise BundleError(f"bundle {path}: its recipe is no longer valid here: {exc}") from None
        return cls(path, folder, meta, recipe, keepalive)

    @property
    def plugin(self):
        return registry.get_plugin(self.recipe.model.data.plugin)

    @property
    def codec(self):
        """The fitted codec, rebuilt from codec.json and codec.npz."""
        if self._codec is None:
            config = json.loads((self.folder / "codec.json").read_text(encoding="utf-8"))
            with np.load(self.folder / "codec.npz", allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            self._codec = self.plugin.codec_from_config(config, arrays)
        return self._codec

    @property
    def model(self):
        """The Keras model, loaded in safe mode (no code from the bundle can run)."""
        if self._model is None:
            keras = keras_module()
            registry.get_family(self.recipe.family_name)  # registers the family's classes
            try:
                self._model = keras.saving.load_model(self.folder / "model.keras", safe_mode=True, compile=False)
            except Exception as exc:
                raise BundleError(f"bundle {self.path}: model.keras cannot be loaded safely ({type(exc).__name__}: {exc})") from None
        return self._model

    # -- generation ------------------------------------------------------------------------
    def generate(self, n: int, *, seed: int | None = None, options: dict[str, Any] | None = None, batch_size: int | None = None):
        """``n`` records as the plugin's domain objects (a DataFrame for tables); the
        plugin may fix the number for its options (images' ``per_class``)."""
        from .generation import generate_records, requested_total

        recipe = self.recipe_with_options(options)
        seed = recipe.seed if seed is None else seed
        n = requested_total(self, recipe, n)
        return generate_records(self, recipe, n, seed=seed, batch_size=batch_size or recipe.model.generate.batch_size)

    def recipe_with_options(self, options: dict[str, Any] | None):
        """The bundle's recipe with ``generate.options`` keys replaced (validated)."""
        if not options:
            return self.recipe
        from .recipe import recipe_from_dict

        return recipe_from_dict(
            self.recipe.document,
            {f"generate.options.{k}": v for k, v in options.items()},
            base_dir=self.recipe.base_dir,
            source=self.recipe.source,
        )


def _safe_extract(zip_path: Path, folder: Path) -> None:
    allowed = set(CONTENT_FILES) | {"meta.json"}
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                if info.filename not in allowed:
                    raise BundleError(f"bundle {zip_path}: unexpected member {info.filename!r}; a bundle holds only {', '.join(sorted(allowed))}")
                zf.extract(info, folder)
    except zipfile.BadZipFile as exc:
        raise BundleError(f"bundle {zip_path}: corrupt zip ({exc}); train it again") from None


def _read_meta(path: Path, folder: Path) -> dict[str, Any]:
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        raise BundleError(f"bundle {path}: meta.json is missing; this is not a domaingen bundle (or an incomplete one)")
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"bundle {path}: meta.json is corrupt ({exc}); train the bundle again") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT or not isinstance(meta.get("files"), dict):
        raise BundleError(f"bundle {path}: meta.json does not describe a domaingen bundle")
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise BundleError(f"bundle {path}: meta.json lacks {', '.join(missing)}; train the bundle again")
    if set(meta["files"]) != set(CONTENT_FILES):
        raise BundleError(f"bundle {path}: meta.json lists unexpected files {sorted(meta['files'])}")
    return meta


def _check_versions(path: Path, meta: dict[str, Any]) -> None:
    keras = keras_module()
    if meta.get("format_version") != BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"bundle {path}: format version {meta.get('format_version')!r} is not readable by domaingen {__version__} "
            f"(reads {BUNDLE_FORMAT_VERSION}); use the domaingen release that wrote it ({meta.get('domaingen_version')})"
        )
    made_by = _major_minor(str(meta.get("domaingen_version", "")))
    here = _major_minor(__version__)
    if made_by is None or made_by[0] != here[0] or made_by > here:
        raise BundleError(
            f"bundle {path}: written by domaingen {meta.get('domaingen_version')}, which this release ({__version__}) "
            "cannot read; install that release or retrain the bundle"
        )
    if _major_minor(str(meta.get("keras_version", ""))) is None or str(meta["keras_version"]).split(".")[0] != keras.__version__.split(".")[0]:
        raise BundleError(f"bundle {path}: saved with Keras {meta.get('keras_version')}, this is Keras {keras.__version__}; retrain the bundle")


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None

