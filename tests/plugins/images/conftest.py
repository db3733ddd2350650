"""Test data for the images plugin, made with Pillow at test time, with real data's quirks.

``quirky_folder`` is an ImageFolder tree whose classes hold images of different modes
(L, RGB, RGBA with transparency, LA, P with a transparent index, 16-bit ``I;16``),
sizes and formats (PNG, JPEG, BMP, WebP when Pillow has it, an upper-case ``.PNG``), a
1x1 image, and hidden / non-image files that must be ignored. The helpers are handed out
as fixtures (``--import-mode=importlib`` makes conftest modules unimportable).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, features

HAS_WEBP = features.check("webp")


def save(path: Path, im: Image.Image, **kwargs) -> Path:
    """Save ``im`` to ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, **kwargs)
    return path


def gray(height: int, width: int, value: int) -> Image.Image:
    """A uniform mode-L image."""
    return Image.fromarray(np.full((height, width), value, dtype=np.uint8))


def columns(height: int, width: int, step: int = 10) -> Image.Image:
    """A mode-L image whose column j has the value ``j * step`` (a pattern crops keep exactly)."""
    row = (np.arange(width) * step).astype(np.uint8)
    return Image.fromarray(np.tile(row, (height, 1)))


def header_only_png(path: Path, width: int, height: int) -> Path:
    """A valid-looking 1-bit PNG declaring ``width`` x ``height`` with almost no data.

    Opening it reads only the header, so a huge declared size costs nothing unless the
    loader decodes it: the cheap stand-in for a decompression bomb.
    """

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def truncated_png(path: Path, size: int = 48) -> Path:
    """The first half of a noisy PNG (its image data cut mid-stream)."""
    noise = np.random.default_rng(0).integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    save(path, Image.fromarray(noise))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def make_quirky_folder(root: Path) -> Path:
    """The ImageFolder tree described in the module doc."""
    rgba = Image.new("RGBA", (6, 4), (255, 0, 0, 0))  # red, fully transparent
    save(root / "alpha" / "clear.png", rgba)
    save(root / "alpha" / "half.png", Image.new("LA", (5, 5), (200, 128)))
    deep = np.full((3, 4), 0x8080, dtype=np.uint16)
    deep[0, 0] = 65535
    save(root / "deep" / "sixteen.png", Image.fromarray(deep))  # mode I;16
    save(root / "gray" / "a.png", gray(8, 8, 50))
    save(root / "gray" / "b.jpg", gray(10, 16, 100), quality=95)
    save(root / "gray" / "Upper.PNG", gray(3, 3, 7))
    save(root / "gray" / ".hidden.png", gray(8, 8, 1))
    (root / "gray" / "notes.txt").write_text("not an image")
    (root / "gray" / ".DS_Store").write_bytes(b"\0\1\2")
    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    pal.putdata([0, 0, 1, 1, 0, 0, 1, 1])  # left half index 0 (transparent), right half blue
    save(root / "palette" / "p.png", pal, transparency=0)
    save(root / "rgb" / "red.png", Image.new("RGB", (7, 5), (255, 0, 0)))
    save(root / "rgb" / "blue.bmp", Image.new("RGB", (10, 10), (0, 0, 255)))
    if HAS_WEBP:
        save(root / "rgb" / "green.webp", Image.new("RGB", (6, 6), (0, 255, 0)), lossless=True)
    save(root / "tiny" / "one.png", Image.new("RGB", (1, 1), (10, 20, 30)))
    save(root / ".cache" / "ignored.png", gray(8, 8, 3))
    return root


@pytest.fixture
def quirky_folder(tmp_path: Path) -> Path:
    return make_quirky_folder(tmp_path / "quirky")


@pytest.fixture
def img() -> SimpleNamespace:
    """The helpers above, for tests (``img.save``, ``img.gray``, ``img.header_only_png`` ...)."""
    return SimpleNamespace(
        save=save,
        gray=gray,
        columns=columns,
        header_only_png=header_only_png,
        truncated_png=truncated_png,
        has_webp=HAS_WEBP,
    )


@pytest.fixture(scope="session")
def real_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits as uint8 (n, 8, 8, 1) images (values x 255 / 16) and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * 255.0 / 16.0).astype(np.uint8)[..., None]
    return images, digits.target.astype(np.int64)


@pytest.fixture(scope="module", autouse=True)
def _deterministic():
    """Op determinism, as the core sets it before training or evaluating."""
    from domaingen.training import seed_everything

    seed_everything(0)
