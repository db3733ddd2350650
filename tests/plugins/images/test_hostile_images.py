"""Hostile image files: every mode Pillow hands out (CMYK, 32-bit integer, float, 1-bit
next to the L / RGBA / P / I;16 of the quirky folder), seeded byte corruption and
truncation of each format, and decompression bombs in a second format (BMP). A bad file
is a DataError naming it, never a raw Pillow / zlib exception; the loader has no skip
policy, so one bad file refuses the source."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image

from domaingen.errors import DataError
from domaingen_plugins.images.loading import MAX_PIXELS, image_pixels, load_images, open_image, to_channels
from domaingen_plugins.images.options import ImageDataOptions


def test_cmyk_jpeg_and_wide_modes_become_gray_and_rgb(tmp_path, img):
    img.save(tmp_path / "d" / "cmyk.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=100)  # red
    data = load_images("d", ImageDataOptions(channels=3), tmp_path)
    red = data.images[0].reshape(-1, 3).astype(int)
    assert np.abs(red - [255, 0, 0]).max() <= 3
    wide = Image.fromarray(np.full((2, 3), 70000, dtype=np.int32))  # mode I beyond 16 bits: clipped
    assert wide.mode == "I" and np.all(image_pixels(wide) == 255)
    floats = Image.fromarray(np.full((2, 2), 100.4, dtype=np.float32))
    assert floats.mode == "F" and np.all(image_pixels(floats) == 100)
    bits = Image.new("1", (4, 4), 1)
    assert np.all(to_channels(image_pixels(bits), 3) == 255)


def _encoded(fmt: str, mode: str) -> bytes:
    noise = np.random.default_rng(1).integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
    im = Image.fromarray(noise)
    im = Image.fromarray((noise[..., 0].astype(np.uint16) * 257)) if mode == "I;16" else im.convert(mode)
    buf = io.BytesIO()
    im.save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt, mode, suffix", [
    ("PNG", "RGB", ".png"), ("PNG", "P", ".png"), ("PNG", "I;16", ".png"), ("PNG", "LA", ".png"),
    ("JPEG", "RGB", ".jpg"), ("JPEG", "CMYK", ".jpg"), ("BMP", "RGB", ".bmp"),
])
def test_corrupted_and_truncated_files_are_data_errors_naming_the_file(tmp_path, fmt, mode, suffix):
    data = _encoded(fmt, mode)
    rng = np.random.default_rng(0)
    path = tmp_path / f"bad{suffix}"
    refused = 0
    for trial in range(60):
        broken = bytearray(data)
        if trial % 2:
            broken = broken[: int(rng.integers(0, len(broken)))]
        else:
            for i in rng.integers(0, len(broken), size=3):
                broken[i] ^= 0xFF
        path.write_bytes(bytes(broken))
        try:
            to_channels(image_pixels(open_image(path)), 1)  # a flip in pixel data may still decode
        except DataError as exc:
            assert str(path) in str(exc)
            refused += 1
    assert refused >= 20  # every truncation at least


def test_bmp_decompression_bomb_is_refused_from_its_header(tmp_path):
    width, height = 8000, 8000  # 64M pixels declared in 60 bytes
    header = struct.pack("<2sIHHI", b"BM", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "bomb.bmp").write_bytes(header + b"\0" * 6)
    assert width * height > MAX_PIXELS and Image.MAX_IMAGE_PIXELS is not None
    with pytest.raises(DataError, match=r"bomb\.bmp.*8000x8000.*decompression bomb"):
        load_images("d", ImageDataOptions(), tmp_path)


def test_one_corrupt_file_refuses_the_folder_naming_it(tmp_path, img):
    img.save(tmp_path / "set" / "a" / "good.png", img.gray(4, 4, 10))
    img.truncated_png(tmp_path / "set" / "b" / "broken.png")
    with pytest.raises(DataError, match=r"b/broken\.png: cannot read the image .*corrupt, truncated"):
        load_images("set", ImageDataOptions(image_size=(4, 4)), tmp_path)
