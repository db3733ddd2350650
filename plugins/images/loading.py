"""Reading images: ImageFolder trees, flat folders, ``.npz`` arrays and scikit-learn's digits.

Sources (``data.source`` in a recipe):

- ``sklearn:digits``: scikit-learn's bundled 1,797 8x8 digits (offline), 0..16 scaled to
  0..255 by ``round(v * 255 / 16)``, classes ``"0"``..``"9"``.
- a folder (relative to the recipe's folder, or absolute) in the ImageFolder convention
  ``root/<class>/**/*.png|jpg|jpeg|bmp|webp`` (classes: sorted sub-folder names), or a flat
  folder with the images directly in it (one unlabelled set). Hidden files and folders
  (a leading ``.``) are ignored; files are read in sorted order.
- a ``.npz`` file with ``x`` (N, H, W) or (N, H, W, C), C 1/3/4 (uint8, or floats in [0, 1]
  or [0, 255]), and an optional ``y`` (integers or strings).
- a single image file (one unlabelled image).

Every image is brought to ``channels`` (alpha composited on black, 16-bit samples shifted
right by 8 bits) and then to ``image_size`` under ``fit``, resampling with Lanczos
(``reducing_gap=3``). Corrupt, truncated or oversized input is a ``DataError`` naming the
file; nothing is decoded before its size has been checked against the caps below.
"""

from __future__ import annotations

import math
import os
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, features

from domaingen.errors import DataError

from .options import MAX_SIDE, AugmentOptions, ImageDataOptions
from .records import ImageSet

__all__ = [
    "load_images",
    "augment",
    "open_image",
    "image_pixels",
    "to_channels",
    "fit_image",
    "IMAGE_SUFFIXES",
    "SKLEARN_SOURCES",
    "MAX_PIXELS",
    "MAX_FILES",
    "MAX_NPZ_BYTES",
    "MAX_TOTAL_BYTES",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SKLEARN_SOURCES = ("sklearn:digits",)
MAX_PIXELS = 40_000_000  # pixels one image file may declare; larger is refused before decoding
MAX_FILES = 1_000_000  # image files one source may hold; more is not a training set but a mistake
MAX_NPZ_BYTES = 2 << 30  # uncompressed bytes a .npz may expand to (zip-bomb guard)
MAX_TOTAL_BYTES = 4 << 30  # bytes of the loaded (or augmented) uint8 set in memory
RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0  # Pillow: >= 3 is indistinguishable from exact resampling, and faster
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")
_SUFFIX_TEXT = ", ".join(IMAGE_SUFFIXES)
_FIT_FIX = "set data.options.fit to crop, pad or stretch (or give images of one size)"


# --------------------------------------------------------------------------- entry points


def load_images(source: str, options: ImageDataOptions, base_dir: Path, seed: int = 0) -> ImageSet:
    """Every image named by ``source`` (see module doc), coloured and sized per ``options``.

    ``max_images`` keeps a seeded random subset (``np.random.default_rng(seed)``) in the
    original order; augmentation is not applied here (``augment`` is for the training split).
    """
    size = _check_image_size(options.image_size)
    if source.startswith("sklearn:"):
        x, labels, classes, names = _take(_load_sklearn(source), options.max_images, seed)
        return _from_arrays(x, labels, classes, names, options, size, source)
    path = _resolve(source, base_dir)
    if path.is_dir():
        return _load_folder(path, options, size, seed)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _load_npz(path, source, options, size, seed)
    if suffix in IMAGE_SUFFIXES:
        return _decode_files([path], [path.name], None, (), options, size, source)
    raise DataError(
        f"image source {path} is not a folder of images, a .npz file or an image ({_SUFFIX_TEXT}): "
        "point data.source at one of those, or at sklearn:digits"
    )


def augment(images: ImageSet, options: AugmentOptions | None, rng: np.random.Generator) -> ImageSet:
    """The original images followed by ``options.copies`` augmented copies of each.

    Copy ``k`` of image ``name`` is named ``name~aug<k>`` and keeps its label. Each copy
    draws, from ``rng`` only, a left-right / up-down flip (when enabled, with probability
    1/2) and an integer shift of up to ``max_shift`` pixels per axis with edge padding,
    so the result is the same for the same generator state.
    """
    if options is None or len(images) == 0:
        return images
    n, h, w, c = images.images.shape
    total = n * (options.copies + 1) * h * w * c
    if total > MAX_TOTAL_BYTES:
        raise DataError(
            f"augmenting {n} images with {options.copies} copies needs {_gib(total)} of memory "
            f"(more than {_gib(MAX_TOTAL_BYTES)}): lower data.options.augment.copies, max_images or image_size"
        )
    parts = [images]
    for k in range(1, options.copies + 1):
        pixels = _augment_once(images.images, options, rng)
        names = tuple(f"{name}~aug{k}" for name in images.names)
        parts.append(ImageSet(pixels, images.labels, images.classes, names))
    return ImageSet.concat(parts)


# --------------------------------------------------------------------------- one image


def open_image(path: Path, name: str | None = None) -> Image.Image:
    """``path`` decoded in full (so truncation shows), after its declared size was checked.

    Refused with a ``DataError`` naming ``name`` (default: the path): a header declaring
    more than ``MAX_PIXELS`` pixels (checked before decoding; Pillow's own decompression
    bomb warning counts as a refusal too, without changing ``Image.MAX_IMAGE_PIXELS``), and
    any file Pillow cannot identify or decode completely.
    """
    label = name or str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                _check_pixels(im.size, label)
                im.load()
                return im
    except DataError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise DataError(f"{label}: refused as a decompression bomb ({exc}): resize the image below "
                        f"{MAX_PIXELS:,} pixels or remove it") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError) as exc:
        if Path(path).suffix.lower() == ".webp" and not features.check("webp"):
            raise DataError(f"{label}: this Pillow was built without WebP support: convert the file to "
                            "PNG or install a Pillow wheel with WebP") from None
        raise DataError(f"{label}: cannot read the image ({type(exc).__name__}: {exc}); the file is "
                        "corrupt, truncated or not an image: re-export it or remove it") from None


def image_pixels(im: Image.Image) -> np.ndarray:
    """uint8 ``(h, w, 1)`` gray or ``(h, w, 3)`` RGB pixels of a Pillow image of any mode.

    16-bit samples (``I;16*``, ``I``) keep their high byte (``v >> 8``, so 257*k -> k);
    images with alpha (RGBA, LA, PA, or a palette / colour key with transparency) are
    composited on black; other modes (CMYK, YCbCr, palette, 1-bit ...) go through Pillow's
    ``convert``.
    """
    mode = im.mode
    if mode in _SIXTEEN_BIT:
        wide = np.clip(np.asarray(im).astype(np.int64), 0, 65535)
        return (wide >> 8).astype(np.uint8)[..., None]
    if mode in _ALPHA_MODES or "transparency" in im.info:
        return _composite(np.asarray(im.convert("RGBA")))
    if mode == "L":
        return np.asarray(im)[..., None]
    if mode in ("1", "F"):
        return np.asarray(im.convert("L"))[..., None]
    return np.asarray(im.convert("RGB"))


def to_channels(pixels: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``(..., k)`` pixels, k 1/3/4, as ``(..., channels)``: alpha on black, gray by Pillow's
    ITU-R 601-2 weights (``(r*19595 + g*38470 + b*7471 + 32768) >> 16``, as ``convert("L")``)."""
    if pixels.shape[-1] == 4:
        pixels = _composite(pixels)
    k = pixels.shape[-1]
    if k == channels:
        return pixels
    if channels == 3:
        return np.repeat(pixels, 3, axis=-1)
    rgb = pixels.astype(np.uint32)
    gray = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return gray.astype(np.uint8)[..., None]


def fit_image(pixels: np.ndarray, size: tuple[int, int], fit: str) -> np.ndarray:
    """uint8 ``(h, w, c)`` brought to ``size`` = (H, W) by ``fit``: ``stretch`` (resize to
    exactly H x W), ``crop`` (scale so the short side fits, centre-crop) or ``pad`` (scale so
    the long side fits, centre on black). An image already H x W is returned unchanged."""
    h, w, c = pixels.shape
    height, width = size
    if (h, w) == (height, width):
        return pixels
    im = Image.fromarray(pixels[..., 0] if c == 1 else pixels)
    if fit == "stretch":
        im = _resize(im, width, height)
    elif fit == "crop":
        scale = max(height / h, width / w)
        new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
        im = _resize(im, new_w, new_h)
        left, top = (new_w - width) // 2, (new_h - height) // 2
        im = im.crop((left, top, left + width, top + height))
    elif fit == "pad":
        scale = min(height / h, width / w)
        new_w, new_h = min(width, max(1, round(w * scale))), min(height, max(1, round(h * scale)))
        canvas = Image.new(im.mode, (width, height), 0)
        canvas.paste(_resize(im, new_w, new_h), ((width - new_w) // 2, (height - new_h) // 2))
        im = canvas
    else:
        raise ValueError(f"fit_image: unknown fit {fit!r}")
    out = np.asarray(im)
    return out[..., None] if c == 1 else out


# --------------------------------------------------------------------------- helpers


def _resize(im: Image.Image, width: int, height: int) -> Image.Image:
    """Lanczos resize (no-op at the same size, so exact sizes stay exact)."""
    if im.size == (width, height):
        return im
    return im.resize((width, height), RESAMPLE, reducing_gap=REDUCING_GAP)


def _composite(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 -> RGB on black, rounded: ``(rgb * a + 127) // 255``."""
    rgb = rgba[..., :3].astype(np.uint16)
    alpha = rgba[..., 3:4].astype(np.uint16)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _check_pixels(size: tuple[int, int], label: str) -> None:
    """Refuse an image declaring more than ``MAX_PIXELS`` pixels (a decompression bomb)."""
    width, height = size
    if width * height > MAX_PIXELS:
        raise DataError(
            f"{label}: the image declares {width}x{height} = {width * height:,} pixels, more than "
            f"{MAX_PIXELS:,}: refused as a possible decompression bomb; resize it or remove it"
        )


def _check_image_size(size: tuple[int, int] | None) -> tuple[int, int] | None:
    """``image_size`` as (H, W) ints, each side 1..MAX_SIDE."""
    if size is None:
        return None
    height, width = int(size[0]), int(size[1])
    if height < 1 or width < 1:
        raise DataError(f"data.options.image_size {height}x{width}: each side must be at least 1")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise DataError(
            f"data.options.image_size {height}x{width}: sides above {MAX_SIDE} are not supported; "
            "use a smaller image_size such as [64, 64]"
        )
    return height, width


def _first_size(shape: tuple[int, ...], name: str) -> tuple[int, int]:
    """The first image's (H, W) as the target size when ``image_size`` is unset."""
    height, width = int(shape[0]), int(shape[1])
    if height > MAX_SIDE or width > MAX_SIDE:
        raise DataError(
            f"{name}: the first image is {height}x{width}, larger than {MAX_SIDE} pixels a side, and "
            "data.options.image_size is unset: set image_size (e.g. [64, 64]) and a fit"
        )
    return height, width


def _size_mismatch(name: str, shape: tuple[int, ...], target: tuple[int, int], given: bool) -> DataError:
    """The ``fit: none`` error: which file, its size and the size expected."""
    what = "data.options.image_size" if given else "the first image's size"
    return DataError(
        f"{name}: image is {shape[0]}x{shape[1]} (height x width) but {what} is "
        f"{target[0]}x{target[1]} and data.options.fit is none: {_FIT_FIX}"
    )


def _check_total(n: int, size: tuple[int, int], channels: int, source: str) -> None:
    """Refuse a set whose pixels would not fit in ``MAX_TOTAL_BYTES``."""
    total = n * size[0] * size[1] * channels
    if total > MAX_TOTAL_BYTES:
        raise DataError(
            f"{source}: {n} images of {size[0]}x{size[1]}x{channels} need {_gib(total)} of memory "
            f"(more than {_gib(MAX_TOTAL_BYTES)}): set data.options.max_images or a smaller image_size"
        )


def _gib(nbytes: int) -> str:
    return f"{nbytes / (1 << 30):.1f} GiB"


def _subset(n: int, max_images: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded random sample of ``max_images`` out of ``n`` (None: keep all)."""
    if max_images is None or n <= max_images:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, size=max_images, replace=False))


def _resolve(source: str, base_dir: Path) -> Path:
    """``source`` as a path (relative to ``base_dir``) that must exist."""
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = Path(base_dir) / path
    if not path.exists():
        raise DataError(
            f"image source {path} does not exist: give a folder of images, a .npz file, or one of "
            f"{', '.join(SKLEARN_SOURCES)} (relative paths are read from the recipe's folder)"
        )
    return path


# --------------------------------------------------------------------------- array sources


def _load_sklearn(source: str) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """scikit-learn's bundled digits as uint8 (n, 8, 8, 1), their labels, classes and names."""
    if source not in SKLEARN_SOURCES:
        raise DataError(
            f"unknown embedded image source {source!r}: use one of {', '.join(SKLEARN_SOURCES)}, "
            "a folder of images or a .npz file"
        )
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)[..., None]
    names = tuple(f"{source}#{i}" for i in range(len(x)))
    return x, digits.target.astype(np.int64), tuple(str(i) for i in range(10)), names


def _take(arrays: tuple, max_images: int | None, seed: int) -> tuple:
    """``(x, labels, classes, names)`` cut to the seeded ``max_images`` sample (see ``_subset``)."""
    x, labels, classes, names = arrays
    keep = _subset(len(x), max_images, seed)
    if keep is None:
        return arrays
    return x[keep], None if labels is None else labels[keep], classes, tuple(names[i] for i in keep)


def _from_arrays(x: np.ndarray, labels: np.ndarray | None, classes: tuple[str, ...], names: tuple[str, ...],
                 options: ImageDataOptions, size: tuple[int, int] | None, source: str) -> ImageSet:
    """An ImageSet from in-memory uint8 (n, h, w, k) pixels: channels, then size per ``fit``."""
    x = to_channels(x, options.channels)
    target = size or _first_size(x.shape[1:3], source)
    if x.shape[1:3] != target:
        if options.fit == "none":
            raise _size_mismatch(source, x.shape[1:3], target, size is not None)
        _check_total(len(x), target, x.shape[-1], source)
        x = np.stack([fit_image(img, target, options.fit) for img in x])
    return ImageSet(x, labels, classes, names)


def _load_npz(path: Path, source: str, options: ImageDataOptions, size: tuple[int, int] | None,
              seed: int) -> ImageSet:
    """Images ``x`` and optional labels ``y`` from a .npz, after bounding its decompression."""
    _check_npz(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "x" not in archive.files:
                raise DataError(
                    f"{path}: no array named 'x' (found: {', '.join(archive.files) or 'none'}): save the "
                    "images as x (and labels as y), e.g. np.savez(path, x=images, y=labels)"
                )
            x = archive["x"]
            y = archive["y"] if "y" in archive.files else None
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{path}: cannot read the arrays without pickle ({exc}): save plain numeric "
                        "or string arrays (no object arrays)") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DataError(f"{path}: the .npz file is corrupt or truncated ({exc}): save it again") from None
    pixels, scale = _npz_pixels(x, path)
    labels, classes = _npz_labels(y, len(pixels), path) if y is not None else (None, ())
    names = tuple(f"{source}#{i}" for i in range(len(pixels)))
    pixels, labels, classes, names = _take((pixels, labels, classes, names), options.max_images, seed)
    return _from_arrays(_npz_to_uint8(pixels, scale), labels, classes, names, options, size, source)


def _check_npz(path: Path) -> None:
    """Refuse a .npz that is not a zip, or whose entries would expand past ``MAX_NPZ_BYTES``.

    Reads the zip directory and each ``.npy`` header only: the declared uncompressed sizes
    and array shapes are checked before any array is decompressed (a zip bomb never runs).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            declared = sum(info.file_size for info in infos)
            if declared > MAX_NPZ_BYTES:
                raise _npz_too_big(path, declared)
            arrays = 0
            for info in infos:
                if info.filename.endswith(".npy"):
                    arrays += _npy_bytes(archive, info, path)
            if arrays > MAX_NPZ_BYTES:
                raise _npz_too_big(path, arrays)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError) as exc:
        raise DataError(f"{path}: not a readable .npz (zip) file ({exc}): save it with np.savez") from None


def _npy_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> int:
    """The bytes one .npy entry's header declares; refuses object arrays and lying headers."""
    from numpy.lib import format as npy

    with archive.open(info) as fh:
        try:
            version = npy.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npy.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = npy.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise DataError(f"{path}: entry {info.filename} is not a readable array ({exc}): "
                            "save the file with np.savez") from None
    if dtype.hasobject:
        raise DataError(f"{path}: {info.filename} is an object array, which cannot be read safely "
                        "(no pickle): save numeric images and integer or string labels")
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > info.file_size:
        raise DataError(f"{path}: {info.filename} declares {nbytes:,} bytes but holds {info.file_size:,}: "
                        "the file is corrupt; save it again")
    return nbytes


def _npz_too_big(path: Path, nbytes: int) -> DataError:
    return DataError(
        f"{path}: the arrays expand to {_gib(nbytes)}, more than {_gib(MAX_NPZ_BYTES)}: refused (a zip bomb "
        "or a set too large to load at once); split it, or save fewer or smaller images"
    )


def _npz_pixels(x: np.ndarray, path: Path) -> tuple[np.ndarray, float]:
    """``x`` as (N, H, W, C) with its validated value scale (1: 0..255, 255: floats in [0, 1])."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise DataError(f"{path}: x has shape {x.shape}; expected (N, H, W) or (N, H, W, C) with C 1, 3 "
                        "or 4: reshape the images before saving")
    if 0 in x.shape:
        raise DataError(f"{path}: x has shape {x.shape}, no images: save at least one image")
    if x.dtype == np.uint8:
        return x, 1.0
    if x.dtype == np.bool_:
        return x, 255.0
    if x.dtype.kind not in "iuf":
        raise DataError(f"{path}: x has dtype {x.dtype}; save uint8 pixels or floats in [0, 1] or [0, 255]")
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise DataError(f"{path}: x holds NaN or infinite values: replace them before saving")
    if lo < 0 or hi > 255:
        raise DataError(f"{path}: x values span {lo:g}..{hi:g}; expected 0..255 (or floats in [0, 1]): "
                        "rescale the images before saving")
    return x, 255.0 if x.dtype.kind == "f" and hi <= 1.0 else 1.0


def _npz_to_uint8(x: np.ndarray, scale: float, chunk: int = 4096) -> np.ndarray:
    """Validated pixels as uint8, converted in chunks so float input needs little extra memory."""
    if x.dtype == np.uint8:
        return x
    out = np.empty(x.shape, dtype=np.uint8)
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk].astype(np.float64) * scale
        out[start:start + chunk] = np.clip(np.rint(part), 0, 255)
    return out


def _npz_labels(y: np.ndarray, n: int, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """``y`` as class indices and classes: sorted unique values (integers numerically)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{path}: y has shape {y.shape} but x holds {n} images: give one label per image")
    if y.dtype.kind == "S":
        try:
            y = np.char.decode(y, "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: y holds bytes that are not UTF-8 ({exc}): save labels as str") from None
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise DataError(f"{path}: y holds non-integer numbers: save integer or string class labels")
        y = y.astype(np.int64)
    if y.dtype.kind == "b":
        y = y.astype(np.int64)
    if y.dtype.kind not in "iuU":
        raise DataError(f"{path}: y has dtype {y.dtype}: save integer or string class labels")
    values, labels = np.unique(y, return_inverse=True)
    return labels.astype(np.int64).reshape(-1), tuple(str(v) for v in values.tolist())


# --------------------------------------------------------------------------- folders


class _Walk:
    """Counts what a folder walk has seen, so an enormous tree fails fast instead of hanging."""

    def __init__(self, root: Path):
        self.root = root
        self.images = 0
        self.entries = 0
        self.seen: set[tuple[int, int]] = set()

    def entry(self) -> None:
        self.entries += 1
        if self.entries > 4 * MAX_FILES:
            raise DataError(f"{self.root}: more than {4 * MAX_FILES:,} files and folders: point "
                            "data.source at the folder of the training images only")

    def image(self) -> None:
        self.images += 1
        if self.images > MAX_FILES:
            raise DataError(f"{self.root}: more than {MAX_FILES:,} image files: point data.source at a "
                            "smaller folder (or subsample it beforehand)")


def _entries(folder: Path, walk: _Walk) -> tuple[list[Path], list[Path]]:
    """Non-hidden sub-folders and image files directly in ``folder``, each sorted by name."""
    folders, images = [], []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                walk.entry()
                if entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    folders.append(Path(entry.path))
                elif entry.is_file() and os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                    walk.image()
                    images.append(Path(entry.path))
    except OSError as exc:
        raise DataError(f"{folder}: cannot list the folder ({exc.strerror or exc}): check it exists "
                        "and is readable") from None
    return sorted(folders, key=lambda p: p.name), sorted(images, key=lambda p: p.name)


def _images_below(folder: Path, walk: _Walk) -> list[Path]:
    """Image files anywhere under ``folder`` (depth first, sorted; symlink loops visited once)."""
    try:
        stat = folder.stat()
    except OSError:
        return []
    key = (stat.st_dev, stat.st_ino)
    if key in walk.seen:
        return []
    walk.seen.add(key)
    folders, images = _entries(folder, walk)
    found = list(images)
    for sub in folders:
        found.extend(_images_below(sub, walk))
    return found


def _list_folder(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """The image files of ``root``, their class indices (None: flat) and the classes."""
    walk = _Walk(root)
    walk.seen.add((root.stat().st_dev, root.stat().st_ino))
    folders, loose = _entries(root, walk)
    per_class = {sub.name: _images_below(sub, walk) for sub in folders}
    filled = [name for name, files in per_class.items() if files]
    if loose and filled:
        raise DataError(
            f"{root}: holds both images ({loose[0].name}) and sub-folders of images ({filled[0]}/); use one "
            "convention: one sub-folder per class (root/<class>/*.png, labelled) or all images directly "
            "in the folder (unlabelled); move the loose images into a class folder, or the folders out"
        )
    if loose:
        return loose, None, ()
    if not filled:
        raise DataError(f"{root}: no images ({_SUFFIX_TEXT}) in the folder or its sub-folders: point "
                        "data.source at a folder of images, a .npz file or sklearn:digits")
    empty = [name for name, files in per_class.items() if not files]
    if empty:
        raise DataError(f"{root}: class folder {empty[0]!r} has no images ({_SUFFIX_TEXT}): add images to "
                        f"it or remove it{' (also empty: ' + ', '.join(empty[1:]) + ')' if empty[1:] else ''}")
    classes = tuple(per_class)
    files, labels = [], []
    for index, name in enumerate(classes):
        files.extend(per_class[name])
        labels.extend([index] * len(per_class[name]))
    return files, labels, classes


def _load_folder(root: Path, options: ImageDataOptions, size: tuple[int, int] | None, seed: int) -> ImageSet:
    """An ImageFolder tree or a flat folder of images, subsampled before any decoding."""
    files, labels, classes = _list_folder(root)
    keep = _subset(len(files), options.max_images, seed)
    if keep is not None:
        files = [files[i] for i in keep]
        labels = None if labels is None else [labels[i] for i in keep]
    names = [p.relative_to(root).as_posix() for p in files]
    return _decode_files(files, names, labels, classes, options, size, str(root))


def _decode_files(files: list[Path], names: list[str], labels: list[int] | None, classes: tuple[str, ...],
                  options: ImageDataOptions, size: tuple[int, int] | None, source: str) -> ImageSet:
    """Decode, colour and size every file into one preallocated uint8 array."""
    out = None
    target = size
    for i, path in enumerate(files):
        pixels = to_channels(image_pixels(open_image(path)), options.channels)
        if out is None:
            target = size or _first_size(pixels.shape, str(path))
            _check_total(len(files), target, options.channels, source)
            out = np.empty((len(files), *target, options.channels), dtype=np.uint8)
        if pixels.shape[:2] != target:
            if options.fit == "none":
                raise _size_mismatch(str(path), pixels.shape, target, size is not None)
            pixels = fit_image(pixels, target, options.fit)
        out[i] = pixels
    return ImageSet(out, None if labels is None else np.asarray(labels, dtype=np.int64), classes, tuple(names))


def _augment_once(images: np.ndarray, options: AugmentOptions, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of every image: flips, then an edge-padded integer shift."""
    out = images.copy()
    n, h, w, _ = images.shape
    if options.flip_horizontal:
        flip = rng.random(n) < 0.5
        out[flip] = out[flip][:, :, ::-1]
    if options.flip_vertical:
        flip = rng.random(n) < 0.5
        out[flip] = out[flip][:, ::-1]
    s = options.max_shift
    if s:
        dy, dx = rng.integers(-s, s + 1, size=(2, n))
        padded = np.pad(out, ((0, 0), (s, s), (s, s), (0, 0)), mode="edge")
        rows = (s - dy)[:, None] + np.arange(h)[None, :]
        cols = (s - dx)[:, None] + np.arange(w)[None, :]
        out = padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out
