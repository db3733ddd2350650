"""Writing images as PNG shards, reading them back, and contact sheets.

A shard is a folder, written complete or not at all (``domaingen.files.atomic_dir``):

    part-00000/                      labelled                 part-00000/     unlabelled
        <class>/000000.png                                        000000.png
        <class>/000001.png ...                                    000001.png ...
        labels.csv    (file,label: path relative to the shard, real class name)

Files are numbered in record order with one counter per shard. A class name that is not
a safe path component becomes a sanitised folder name; labels.csv keeps the real name.
PNGs carry no metadata, so identical pixels give identical bytes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
import re
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from domaingen.errors import DataError
from domaingen.files import atomic_dir, atomic_path

from .loading import open_image
from .records import ImageSet

__all__ = [
    "write_shard",
    "read_shards",
    "contact_sheet",
    "sheet_image",
    "interpolation_strips",
    "png_base64",
    "class_folders",
    "class_sort_key",
    "LABELS_FILE",
]

LABELS_FILE = "labels.csv"
GAP_GREY = 128  # colour of the borders between contact-sheet cells (and of empty cells)
MIN_CELL = 32  # default contact-sheet scale: the smaller cell side is at least this many pixels
MAX_CELL = 512  # ... unless that would make the larger side exceed this
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\<>:"|?*]')
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")
_MAX_NAME = 100


# --------------------------------------------------------------------------- writing


def write_shard(records: ImageSet, stem: Path) -> list[Path]:
    """Write ``records`` as the shard folder ``stem`` and return every file in it.

    The list holds the final paths: the PNGs in record order, then ``labels.csv`` for
    labelled records. The folder is built beside ``stem`` and renamed into place, so a
    failure leaves no ``stem`` (and an existing ``stem`` is replaced only on success).
    """
    stem = Path(stem)
    folders = class_folders(records.classes) if records.labelled else ()
    relative: list[str] = []
    with atomic_dir(stem) as tmp:
        for i, pixels in enumerate(records.images):
            name = f"{i:06d}.png"
            if records.labelled:
                name = f"{folders[int(records.labels[i])]}/{name}"
            _save_png(pixels, tmp / name)
            relative.append(name)
        if records.labelled:
            _write_labels(tmp / LABELS_FILE, relative, [records.classes[int(k)] for k in records.labels])
            relative.append(LABELS_FILE)
    return [stem / name for name in relative]


def class_folders(classes: tuple[str, ...]) -> tuple[str, ...]:
    """A safe, distinct folder name for every class, in the order of ``classes``.

    Names that are safe path components everywhere are kept; others (``/``, ``\\``,
    ``..``, empty, control or Windows-reserved characters, a leading dot, trailing dots or
    spaces, device names such as ``CON``, over 100 characters, ``labels.csv``) are
    rewritten with ``_``. Names equal ignoring case get ``~2``, ``~3`` ... (case-insensitive
    file systems).
    """
    used = {LABELS_FILE}
    out = []
    for name in classes:
        base = _safe_component(name)
        folder, n = base, 1
        while folder.lower() in used:
            n += 1
            folder = f"{base}~{n}"
        used.add(folder.lower())
        out.append(folder)
    return tuple(out)


def _safe_component(name: str) -> str:
    """``name`` as one path component that cannot escape, hide or clash on any system."""
    safe = _UNSAFE.sub("_", unicodedata.normalize("NFC", str(name)))
    safe = re.sub(r"^\.+", lambda m: "_" * len(m.group()), safe)
    safe = re.sub(r"[. ]+$", lambda m: "_" * len(m.group()), safe)
    if not safe:
        safe = "_"
    if safe.split(".")[0].lower() in _RESERVED or safe.lower() == LABELS_FILE:
        safe = f"_{safe}"
    if len(safe.encode("utf-8")) > _MAX_NAME:
        digest = hashlib.sha256(str(name).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        safe = f"{safe.encode('utf-8')[:_MAX_NAME - 13].decode('utf-8', 'ignore')}~{digest}"
    return safe


def _save_png(pixels: np.ndarray, path: Path) -> None:
    """One uint8 (h, w, c) image as a PNG: c 1 -> mode L, 3 -> RGB, 4 -> RGBA; no metadata."""
    channels = pixels.shape[-1]
    if channels == 1:
        im = Image.fromarray(np.ascontiguousarray(pixels[..., 0]), mode="L")
    elif channels in (3, 4):
        im = Image.fromarray(np.ascontiguousarray(pixels), mode="RGB" if channels == 3 else "RGBA")
    else:
        raise ValueError(f"cannot write an image with {channels} channels as PNG (1, 3 or 4)")
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format="PNG")


def _write_labels(path: Path, files: list[str], labels: list[str]) -> None:
    """``labels.csv``: header ``file,label``, one row per image, ``\\n`` line ends."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["file", "label"])
        writer.writerows(zip(files, labels))


# --------------------------------------------------------------------------- reading


def read_shards(paths: list[Path], *, classes: tuple[str, ...] | None = None) -> ImageSet:
    """Read what ``write_shard`` wrote back into one ImageSet.

    ``paths``: the files ``write_shard`` returned (PNGs and ``labels.csv``, from any
    number of shards), shard folders, or folders of ``part-*`` shard folders. Labels come
    from each shard's ``labels.csv`` (a shard without one but with class sub-folders is
    labelled by folder name); ``classes`` is the sorted set of label names
    (numeric-looking names numerically, ``"2" < "10"``) unless given.
    """
    items: list[tuple[Path, str | None]] = []
    shard_labels: dict[Path, dict[str, str]] = {}
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for shard in _shard_folders(path):
                items.extend(_shard_items(shard))
        elif path.name == LABELS_FILE:
            continue  # read with the PNGs it labels
        elif path.is_file():
            items.append((path, _label_of(path, shard_labels)))
        else:
            raise DataError(f"{path} does not exist: give the files or folders write_shard wrote")
    if not items:
        shown = ", ".join(str(p) for p in list(paths)[:3]) or "(no paths)"
        raise DataError(f"no PNG images in {shown}: give the shard folders or files write_shard wrote")
    return _assemble(items, classes)


def class_sort_key(name: str) -> tuple:
    """Sort key for class names: numeric-looking names first, by value; then the rest as text."""
    if _NUMBER.match(name):
        return (0, float(name), name)
    return (1, 0.0, name)


def _shard_folders(path: Path) -> list[Path]:
    """``path`` itself when it is a shard, else its ``part-*`` sub-folders in sorted order."""
    parts = sorted(p for p in path.glob("part-*") if p.is_dir())
    if parts and not (path / LABELS_FILE).is_file() and not any(path.glob("*.png")):
        return parts
    return [path]


def _shard_items(shard: Path) -> list[tuple[Path, str | None]]:
    """(PNG, label or None) for one shard folder, in record order."""
    labels_file = shard / LABELS_FILE
    if labels_file.is_file():
        return [(shard / rel, label) for rel, label in _read_labels(labels_file).items()]
    loose = sorted(shard.glob("*.png"))
    if loose:
        return [(p, None) for p in loose]
    return [(p, p.parent.name) for sub in sorted(d for d in shard.iterdir() if d.is_dir())
            for p in sorted(sub.glob("*.png"))]


def _label_of(png: Path, shard_labels: dict[Path, dict[str, str]]) -> str | None:
    """The label of one PNG from its shard's labels.csv (None: an unlabelled shard);
    ``shard_labels`` caches each labels.csv for the duration of one ``read_shards`` call."""
    shard = png.parent.parent
    labels_file = shard / LABELS_FILE
    if not labels_file.is_file():
        return None
    if labels_file not in shard_labels:
        shard_labels[labels_file] = _read_labels(labels_file)
    rel = png.relative_to(shard).as_posix()
    if rel not in shard_labels[labels_file]:
        raise DataError(f"{png}: not listed in {labels_file}: the shard is incomplete; write it again")
    return shard_labels[labels_file][rel]


def _read_labels(path: Path) -> dict[str, str]:
    """``labels.csv`` as {relative file: label}, in file order."""
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read the labels ({exc}): write the shard again") from None
    if not rows or rows[0] != ["file", "label"] or any(len(r) != 2 for r in rows[1:]):
        raise DataError(f"{path}: not a labels file (expected the header file,label and two columns): "
                        "write the shard again")
    return {rel: label for rel, label in rows[1:]}


def _assemble(items: list[tuple[Path, str | None]], classes: tuple[str, ...] | None) -> ImageSet:
    """Decode every PNG and map labels to class indices."""
    labelled = {label is not None for _, label in items}
    if len(labelled) > 1:
        raise DataError("some shards are labelled (labels.csv) and some are not: read them separately")
    pixels = [_read_png(path) for path, _ in items]
    shapes = {p.shape for p in pixels}
    if len(shapes) > 1:
        raise DataError(f"the images have different shapes {sorted(shapes)}: read shards of one run at a time")
    names = tuple(path.as_posix() for path, _ in items)
    images = np.stack(pixels)
    if labelled == {False}:
        return ImageSet(images, None, (), names)
    labels = [label for _, label in items]
    if classes is None:
        classes = tuple(sorted(set(labels), key=class_sort_key))
    index = {name: i for i, name in enumerate(classes)}
    missing = sorted(set(labels) - set(index), key=class_sort_key)
    if missing:
        raise DataError(f"label {missing[0]!r} is not one of the classes {list(classes)}: give the full classes")
    return ImageSet(images, np.array([index[label] for label in labels], dtype=np.int64), tuple(classes), names)


def _read_png(path: Path) -> np.ndarray:
    """One image file as uint8 (h, w, c): L -> 1, RGB -> 3, RGBA -> 4 channels."""
    if not path.is_file():
        raise DataError(f"{path} is missing: the shard is incomplete; write it again")
    im = open_image(path)
    if im.mode == "L":
        return np.asarray(im)[..., None]
    if im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
    return np.asarray(im)


# --------------------------------------------------------------------------- contact sheets


def sheet_image(rows: list[np.ndarray], *, scale: int | None = None, gap: int = 1,
                labels: list[str] | None = None) -> Image.Image:
    """A grid of images, one row per entry of ``rows`` (uint8 (k, h, w, c), k per row).

    Cells are ``h*scale`` x ``w*scale`` (nearest-neighbour; default ``scale``: the smaller
    side at least 32 px), separated and surrounded by ``gap`` grey pixels; short rows are
    padded with grey. ``labels`` (one per row) are drawn at the left with Pillow's default
    font. The sheet is mode L when every image is gray, RGB otherwise.
    """
    rows = [np.asarray(r) for r in rows]
    h, w, color = _sheet_geometry(rows, labels)
    scale = scale or _default_scale(h, w)
    if scale < 1 or gap < 0:
        raise ValueError("contact sheet: scale must be >= 1 and gap >= 0")
    cell_h, cell_w = h * scale, w * scale
    label_w = _label_width(labels)
    columns = max(len(r) for r in rows)
    size = (label_w + gap + columns * (cell_w + gap), gap + len(rows) * (cell_h + gap))
    mode = "RGB" if color else "L"
    sheet = Image.new(mode, size, (GAP_GREY,) * 3 if color else GAP_GREY)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for r, row in enumerate(rows):
        top = gap + r * (cell_h + gap)
        if label_w:
            draw.rectangle((0, top, label_w - 1, top + cell_h - 1), fill=(255,) * 3 if color else 255)
            _, text_top, _, text_bottom = font.getbbox(str(labels[r]))
            y = top + (cell_h - (text_bottom - text_top)) // 2 - text_top
            draw.text((4, y), str(labels[r]), fill=(0,) * 3 if color else 0, font=font)
        for c, pixels in enumerate(row):
            cell = np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)
            cell = cell[..., 0] if not color else (np.repeat(cell, 3, axis=-1) if cell.shape[-1] == 1 else cell)
            sheet.paste(Image.fromarray(np.ascontiguousarray(cell)), (label_w + gap + c * (cell_w + gap), top))
    return sheet


def contact_sheet(rows: list[np.ndarray], path: Path, *, scale: int | None = None, gap: int = 1,
                  labels: list[str] | None = None) -> Path:
    """``sheet_image(rows, ...)`` written atomically as the PNG ``path``; returns ``path``."""
    sheet = sheet_image(rows, scale=scale, gap=gap, labels=labels)
    path = Path(path)
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")
    return path


def interpolation_strips(strips: np.ndarray, path: Path, *, scale: int | None = None, gap: int = 1,
                         labels: list[str] | None = None) -> Path:
    """Latent walks uint8 (rows, steps, h, w, c) as one contact sheet, a walk per row."""
    strips = np.asarray(strips)
    if strips.ndim != 5:
        raise ValueError(f"interpolation strips must be (rows, steps, h, w, c), got shape {strips.shape}")
    return contact_sheet(list(strips), path, scale=scale, gap=gap, labels=labels)


def png_base64(image: Image.Image | np.ndarray) -> str:
    """A PNG as base64 text, for ``<img src="data:image/png;base64,...">`` in a report."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _sheet_geometry(rows: list[np.ndarray], labels: list[str] | None) -> tuple[int, int, bool]:
    """(h, w, colour?) shared by every image of ``rows``; checks shapes and label count."""
    if not rows or all(len(r) == 0 for r in rows):
        raise ValueError("contact sheet: no images")
    if labels is not None and len(labels) != len(rows):
        raise ValueError(f"contact sheet: {len(labels)} labels for {len(rows)} rows")
    shapes = {r.shape[1:3] for r in rows if len(r)}
    bad = [r.shape for r in rows if r.ndim != 4 or r.dtype != np.uint8 or r.shape[-1] not in (1, 3)]
    if bad or len(shapes) != 1:
        raise ValueError(f"contact sheet: rows must be uint8 (k, h, w, 1|3) of one h, w; got {bad or shapes}")
    (h, w), = shapes
    return h, w, any(r.shape[-1] == 3 for r in rows if len(r))


def _default_scale(h: int, w: int) -> int:
    """Integer upscale making the smaller side >= MIN_CELL, the larger side <= MAX_CELL if possible."""
    want = math.ceil(MIN_CELL / min(h, w))
    return max(1, min(want, MAX_CELL // max(h, w)))


def _label_width(labels: list[str] | None) -> int:
    """Width of the label column: the widest label plus 4 px either side (0 without labels)."""
    if not labels:
        return 0
    font = ImageFont.load_default()
    return max(math.ceil(font.getlength(str(t))) for t in labels) + 8
