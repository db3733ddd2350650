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
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import registry
from ._quiet import keras_module
from ._version import __version__
from .errors import BundleError, DomaingenError
from .files import atomic_dir, atomic_path, declared_size_problem, load_npz, sha256_file
from .records import generate_records, requested_total

__all__ = ["Bundle", "save_bundle", "BUNDLE_FORMAT", "BUNDLE_FORMAT_VERSION"]

BUNDLE_FORMAT = "domaingen-bundle"
BUNDLE_FORMAT_VERSION = 1
CONTENT_FILES = ("model.keras", "codec.json", "codec.npz", "recipe.yaml")
REQUIRED_META = ("format_version", "domaingen_version", "keras_version", "backend", "plugin", "family", "seed", "weights_sha256")

# Bounds on what a bundle may expand to, checked on the declared sizes before anything is
# decompressed (a zip bundle, its codec.npz, its model.keras), then while extracting.
MAX_BUNDLE_BYTES = 4 << 30  # all members of a bundle zip (or one archive in a bundle) together
MAX_COMPRESSION_RATIO = 200  # uncompressed / compressed, for members above RATIO_CHECKED_ABOVE
RATIO_CHECKED_ABOVE = 8 << 20  # small members may compress well (JSON, YAML)
_COPY_CHUNK = 1 << 20


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
        path = Path(path)
        if path.is_file() and zipfile.is_zipfile(path):
            keepalive = tempfile.TemporaryDirectory(prefix="domaingen-bundle-")
            try:
                _safe_extract(path, Path(keepalive.name))
                return cls._load_folder(path, Path(keepalive.name), keepalive)
            except BaseException:
                keepalive.cleanup()  # nothing extracted outlives a refused bundle
                raise
        if path.is_dir():
            return cls._load_folder(path, path, None)
        if path.exists():
            raise BundleError(f"bundle {path}: not a bundle directory or .zip file; pass the folder `domaingen train` wrote")
        raise BundleError(f"bundle {path}: not found; train one with `domaingen train RECIPE --bundle {path}`")

    @classmethod
    def _load_folder(cls, path: Path, folder: Path, keepalive: Any) -> "Bundle":
        """Verify the bundle files in ``folder`` (``path`` is what the user named)."""
        from .recipe import _parse_yaml, recipe_from_dict

        meta = _read_meta(path, folder)
        _check_versions(path, meta)
        for name, digest in meta["files"].items():
            file = folder / name
            if not file.is_file():
                raise BundleError(f"bundle {path}: {name} is missing; the bundle is incomplete, train it again")
            if sha256_file(file) != digest:
                raise BundleError(f"bundle {path}: {name} does not match its checksum in meta.json (truncated or modified); train it again")
        _check_archive_sizes(path, folder / "model.keras")
        text, base_dir = _member_text(path, folder, "recipe.yaml"), _recipe_dir(path, meta, folder)
        try:
            document = _parse_yaml(text, f"{path}/recipe.yaml")
            recipe = recipe_from_dict(document, base_dir=base_dir, source=f"{path}/recipe.yaml")
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
            try:
                config = json.loads((self.folder / "codec.json").read_text(encoding="utf-8"))
            except (ValueError, RecursionError) as exc:
                raise BundleError(f"bundle {self.path}: this bundle's codec.json is corrupt ({exc}); refused: train the bundle again") from None
            arrays = load_bundle_npz(self.path, self.folder / "codec.npz")
            self._codec = _rebuilt_codec(self.path, self.plugin, config, arrays)
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


def _rebuilt_codec(bundle_path: Path, plugin: Any, config: Any, arrays: dict[str, np.ndarray]) -> Any:
    """``plugin.codec_from_config(config, arrays)``, any failure a ``BundleError`` naming the
    bundle: state that passed the checksums but is not what the plugin wrote (a codec.json
    of another shape, a missing array) must not end in a bare KeyError or AttributeError."""
    try:
        return plugin.codec_from_config(config, arrays)
    except Exception as exc:
        detail = str(exc) if isinstance(exc, DomaingenError) else f"{type(exc).__name__}: {exc}"
        raise BundleError(
            f"bundle {bundle_path}: its codec cannot be rebuilt from codec.json and codec.npz ({detail}); refused: train the bundle again"
        ) from None


def load_bundle_npz(bundle_path: Path, file: Path) -> dict[str, np.ndarray]:
    """The arrays of one ``.npz`` of a bundle, without pickle and within ``MAX_BUNDLE_BYTES``;
    ``BundleError`` naming the bundle when the file is corrupt or holds object arrays."""
    return load_npz(
        file,
        label=f"bundle {bundle_path}: this bundle's {file.name}",
        fix="train the bundle again (or use one from a source you trust)",
        error=BundleError,
        max_bytes=MAX_BUNDLE_BYTES,
        max_ratio=MAX_COMPRESSION_RATIO,
        ratio_above=RATIO_CHECKED_ABOVE,
    )


def _check_archive_sizes(bundle_path: Path, file: Path) -> None:
    """Refuse an archive inside a bundle (``model.keras``) whose declared sizes are a bomb."""
    try:
        with zipfile.ZipFile(file) as zf:
            problem = _size_problem(zf.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise BundleError(f"bundle {bundle_path}: this bundle's {file.name} is corrupt ({exc}); refused: train the bundle again") from None
    if problem:
        raise BundleError(f"bundle {bundle_path}: this bundle's {file.name}: {problem}; refused before reading it: train the bundle again")


def _size_problem(infos: list[zipfile.ZipInfo]) -> str | None:
    """``files.declared_size_problem`` with this module's limits (read at call time)."""
    return declared_size_problem(infos, max_bytes=MAX_BUNDLE_BYTES, max_ratio=MAX_COMPRESSION_RATIO, ratio_above=RATIO_CHECKED_ABOVE)


def _safe_extract(zip_path: Path, folder: Path) -> None:
    """Extract a bundle zip into ``folder``: only the bundle's own member names, each once,
    unencrypted, within the declared-size limits (checked before anything is written) and
    never past its declared size (checked while writing). On refusal nothing written stays."""
    written: list[Path] = []
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = zf.infolist()
            _check_members(zip_path, infos)
            for info in infos:
                target = folder / info.filename
                written.append(target)
                with zf.open(info) as src, open(target, "xb") as dst:
                    _copy_member(src, dst, info, zip_path)
    except BaseException as exc:
        for target in written:
            target.unlink(missing_ok=True)
        if isinstance(exc, (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error, NotImplementedError)):
            raise BundleError(f"bundle {zip_path}: corrupt zip ({type(exc).__name__}: {exc}); train it again") from None
        raise


def _check_members(zip_path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse a bundle zip by its directory alone: unknown, repeated or encrypted members,
    or declared sizes past the limits (a zip bomb)."""
    allowed = set(CONTENT_FILES) | {"meta.json"}
    seen: set[str] = set()
    for info in infos:
        if info.filename not in allowed:
            raise BundleError(f"bundle {zip_path}: unexpected member {info.filename!r}; a bundle holds only {', '.join(sorted(allowed))}")
        if info.filename in seen:
            raise BundleError(f"bundle {zip_path}: member {info.filename!r} appears twice; refused: train the bundle again")
        if info.flag_bits & 0x1:
            raise BundleError(f"bundle {zip_path}: member {info.filename!r} is encrypted; a bundle zip is never encrypted")
        seen.add(info.filename)
    problem = _size_problem(infos)
    if problem:
        raise BundleError(
            f"bundle {zip_path}: {problem}; refused before extracting (limits: bundle.MAX_BUNDLE_BYTES, "
            "bundle.MAX_COMPRESSION_RATIO); train the bundle again or unzip one you trust and pass the folder"
        )


def _copy_member(src: IO[bytes], dst: IO[bytes], info: zipfile.ZipInfo, zip_path: Path) -> int:
    """Copy one member's bytes, refusing more (or fewer) than its header declares: a lying
    header cannot make extraction write past the size that was checked."""
    copied = 0
    while block := src.read(min(_COPY_CHUNK, info.file_size - copied + 1)):
        copied += len(block)
        if copied > info.file_size:
            raise BundleError(
                f"bundle {zip_path}: member {info.filename!r} holds more than the {info.file_size:,} bytes its header "
                "declares; refused (extraction stopped): train the bundle again"
            )
        dst.write(block)
    if copied != info.file_size:
        raise BundleError(f"bundle {zip_path}: member {info.filename!r} holds {copied:,} of its declared {info.file_size:,} bytes; train the bundle again")
    return copied


def _read_meta(path: Path, folder: Path) -> dict[str, Any]:
    meta_file = folder / "meta.json"
    if not meta_file.is_file():
        raise BundleError(f"bundle {path}: meta.json is missing; this is not a domaingen bundle (or an incomplete one)")
    try:
        meta = json.loads(_member_text(path, folder, "meta.json"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BundleError(f"bundle {path}: meta.json is corrupt ({type(exc).__name__}: {exc}); train the bundle again") from None
    if not isinstance(meta, dict) or meta.get("format") != BUNDLE_FORMAT or not isinstance(meta.get("files"), dict):
        raise BundleError(f"bundle {path}: meta.json does not describe a domaingen bundle")
    missing = [key for key in REQUIRED_META if key not in meta]
    if missing:
        raise BundleError(f"bundle {path}: meta.json lacks {', '.join(missing)}; train the bundle again")
    if set(meta["files"]) != set(CONTENT_FILES):
        raise BundleError(f"bundle {path}: meta.json lists unexpected files {sorted(meta['files'])}")
    return meta


def _member_text(path: Path, folder: Path, name: str) -> str:
    """A bundle's text member (meta.json, recipe.yaml) as UTF-8; ``BundleError`` if it is not."""
    try:
        return (folder / name).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"bundle {path}: {name} is not UTF-8 text ({exc}); it is corrupt: train the bundle again") from None


def _recipe_dir(path: Path, meta: dict[str, Any], folder: Path) -> str | Path:
    """The folder the bundle's recipe came from (its relative data paths start there), as
    meta.json records it; ``BundleError`` for a value that is not a folder path."""
    value = meta.get("recipe_dir", folder)
    if isinstance(value, Path) or (isinstance(value, str) and value and "\x00" not in value):
        return value
    raise BundleError(f"bundle {path}: meta.json's recipe_dir {str(value)[:80]!r} is not a folder path; the bundle is corrupt: train it again")


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

