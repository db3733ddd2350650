"""Reading images: folders, .npz, digits; colour, size, subsets, bad input, augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from domaingen.errors import DataError
from domaingen_plugins.images import loading
from domaingen_plugins.images.loading import augment, image_pixels, load_images, open_image, to_channels
from domaingen_plugins.images.options import MAX_SIDE, AugmentOptions, ImageDataOptions


def opts(**kwargs) -> ImageDataOptions:
    return ImageDataOptions(**kwargs)


def pixels_of(path: Path, channels: int) -> np.ndarray:
    return to_channels(image_pixels(open_image(path)), channels)


# --------------------------------------------------------------------------- folders


def test_image_folder_labels_classes_shape(quirky_folder, img):
    data = load_images(str(quirky_folder), opts(image_size=(8, 8), channels=3), quirky_folder.parent)
    assert data.classes == ("alpha", "deep", "gray", "palette", "rgb", "tiny")
    rgb = ["rgb/blue.bmp", *(["rgb/green.webp"] if img.has_webp else []), "rgb/red.png"]
    assert data.names == (
        "alpha/clear.png", "alpha/half.png", "deep/sixteen.png",
        "gray/Upper.PNG", "gray/a.png", "gray/b.jpg", "palette/p.png", *rgb, "tiny/one.png",
    )  # sorted per class; hidden files / folders and notes.txt ignored
    assert data.images.shape == (len(data.names), 8, 8, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64
    assert [data.classes[k] for k in data.labels] == [n.split("/")[0] for n in data.names]


def test_relative_and_absolute_sources(quirky_folder):
    rel = load_images("quirky", opts(image_size=(4, 4)), quirky_folder.parent)
    absolute = load_images(str(quirky_folder), opts(image_size=(4, 4)), Path("/nonexistent"))
    assert rel.names == absolute.names and np.array_equal(rel.images, absolute.images)


def test_channel_conversion_values(quirky_folder, img):
    assert np.all(pixels_of(quirky_folder / "rgb" / "red.png", 1) == 76)  # Pillow's L of pure red
    assert np.all(pixels_of(quirky_folder / "rgb" / "blue.bmp", 1) == 29)
    assert np.all(pixels_of(quirky_folder / "rgb" / "red.png", 3) == [255, 0, 0])
    assert np.all(pixels_of(quirky_folder / "alpha" / "clear.png", 3) == 0)  # transparent -> black
    assert np.all(pixels_of(quirky_folder / "alpha" / "half.png", 1) == 100)  # 200 * 128 / 255
    deep = pixels_of(quirky_folder / "deep" / "sixteen.png", 1)[..., 0]
    assert deep[0, 0] == 255 and np.all(deep.ravel()[1:] == 128)  # 16-bit >> 8
    pal = pixels_of(quirky_folder / "palette" / "p.png", 3)
    assert np.all(pal[:, :2] == 0) and np.all(pal[:, 2:] == [0, 0, 255])
    assert np.all(pixels_of(quirky_folder / "gray" / "a.png", 3) == 50)  # gray -> RGB repeats
    assert np.abs(pixels_of(quirky_folder / "gray" / "b.jpg", 1).astype(int) - 100).max() <= 2
    if img.has_webp:
        assert np.all(pixels_of(quirky_folder / "rgb" / "green.webp", 1) == 150)
    assert pixels_of(quirky_folder / "tiny" / "one.png", 3).tolist() == [[[10, 20, 30]]]


def test_uniform_images_keep_their_values_when_resized(quirky_folder):
    data = load_images(str(quirky_folder), opts(image_size=(6, 6), channels=1), quirky_folder.parent)
    by_name = dict(zip(data.names, data.images[..., 0]))
    assert np.all(by_name["rgb/red.png"] == 76)
    assert np.all(by_name["alpha/clear.png"] == 0)
    assert np.all(by_name["gray/Upper.PNG"] == 7)
    assert np.all(by_name["tiny/one.png"] == by_name["tiny/one.png"][0, 0])  # 1x1 stretched


def test_one_pixel_image_loads(tmp_path, img):
    img.save(tmp_path / "flat" / "dot.png", img.gray(1, 1, 42))
    alone = load_images("flat", opts(), tmp_path)
    assert alone.images.shape == (1, 1, 1, 1) and alone.images[0, 0, 0, 0] == 42
    assert alone.labels is None and alone.classes == ()
    for fit in ("crop", "pad", "stretch"):
        grown = load_images("flat", opts(image_size=(4, 4), fit=fit), tmp_path)
        assert grown.images.shape == (1, 4, 4, 1)
    assert np.all(load_images("flat", opts(image_size=(4, 4), fit="crop"), tmp_path).images == 42)


def test_single_image_file_source(tmp_path, img):
    img.save(tmp_path / "one.png", img.gray(3, 5, 9))
    data = load_images("one.png", opts(), tmp_path)
    assert data.images.shape == (1, 3, 5, 1) and data.names == ("one.png",)


# --------------------------------------------------------------------------- fit modes


@pytest.fixture
def wide(tmp_path, img) -> Path:
    """A flat folder with one 4 (high) x 8 (wide) image, columns 0, 10, ..., 70."""
    img.save(tmp_path / "wide" / "w.png", img.columns(4, 8))
    return tmp_path


def test_fit_crop_centre_crops_exactly(wide):
    data = load_images("wide", opts(image_size=(4, 4), fit="crop"), wide)
    assert data.images[0, ..., 0].tolist() == [[20, 30, 40, 50]] * 4


def test_fit_pad_centres_on_black(tmp_path, img):
    img.save(tmp_path / "a" / "small.png", img.columns(2, 4, step=50))
    padded = load_images("a", opts(image_size=(2, 8), fit="pad"), tmp_path).images[0, ..., 0]
    assert padded.tolist() == [[0, 0, 0, 50, 100, 150, 0, 0]] * 2
    img.save(tmp_path / "b" / "flat.png", img.gray(4, 8, 200))
    scaled = load_images("b", opts(image_size=(4, 4), fit="pad"), tmp_path).images[0, ..., 0]
    assert scaled.tolist() == [[0] * 4, [200] * 4, [200] * 4, [0] * 4]


def test_fit_stretch_resizes_to_exact_size(wide, img):
    data = load_images("wide", opts(image_size=(6, 3), fit="stretch"), wide)
    assert data.images.shape == (1, 6, 3, 1)
    row = data.images[0, 0, :, 0].astype(int)
    assert row[0] < row[1] < row[2] and np.all(data.images[0, :, :, 0] == row)
    img.save(wide / "flat" / "u.png", img.gray(4, 8, 123))
    assert np.all(load_images("flat", opts(image_size=(5, 5)), wide).images == 123)


def test_fit_crop_scales_short_side(tmp_path, img):
    img.save(tmp_path / "c" / "u.png", img.gray(4, 8, 90))
    data = load_images("c", opts(image_size=(8, 8), fit="crop"), tmp_path)
    assert data.images.shape == (1, 8, 8, 1) and np.all(data.images == 90)


def test_fit_none_names_file_and_sizes(tmp_path, img):
    img.save(tmp_path / "f" / "a.png", img.gray(4, 4, 1))
    img.save(tmp_path / "f" / "b.png", img.gray(4, 8, 1))
    with pytest.raises(DataError, match=r"b\.png.*4x8.*first image.*4x4.*fit"):
        load_images("f", opts(fit="none"), tmp_path)
    with pytest.raises(DataError, match=r"a\.png.*4x4.*image_size is 2x2.*fit"):
        load_images("f", opts(image_size=(2, 2), fit="none"), tmp_path)


def test_image_size_none_uses_first_image(tmp_path, img):
    img.save(tmp_path / "f" / "a.png", img.gray(3, 5, 1))
    img.save(tmp_path / "f" / "b.png", img.gray(6, 10, 2))
    data = load_images("f", opts(), tmp_path)
    assert data.images.shape == (2, 3, 5, 1) and np.all(data.images[1] == 2)


def test_image_size_above_max_side_is_refused(wide):
    with pytest.raises(DataError, match=f"image_size {MAX_SIDE + 1}x8.*above {MAX_SIDE}"):
        load_images("wide", opts(image_size=(MAX_SIDE + 1, 8)), wide)


# --------------------------------------------------------------------------- bad input


def test_missing_path_is_named(tmp_path):
    with pytest.raises(DataError, match="nothere.*does not exist"):
        load_images("nothere", opts(), tmp_path)


def test_truncated_png_names_file(quirky_folder, img):
    img.truncated_png(quirky_folder / "rgb" / "broken.png")
    with pytest.raises(DataError, match=r"broken\.png.*corrupt, truncated"):
        load_images(str(quirky_folder), opts(image_size=(8, 8)), quirky_folder.parent)


def test_not_an_image_names_file(tmp_path, img):
    img.save(tmp_path / "f" / "a.png", img.gray(4, 4, 1))
    (tmp_path / "f" / "fake.jpg").write_bytes(b"hello, I am text")
    with pytest.raises(DataError, match=r"fake\.jpg.*cannot read"):
        load_images("f", opts(), tmp_path)


def test_empty_class_folder_is_named(tmp_path, img):
    img.save(tmp_path / "d" / "cats" / "a.png", img.gray(4, 4, 1))
    (tmp_path / "d" / "dogs").mkdir()
    img.save(tmp_path / "d" / "dogs" / ".hidden.png", img.gray(4, 4, 1))
    with pytest.raises(DataError, match="class folder 'dogs' has no images"):
        load_images("d", opts(), tmp_path)


def test_folder_without_images(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match="no images"):
        load_images("d", opts(), tmp_path)


def test_mixed_conventions_explained(tmp_path, img):
    img.save(tmp_path / "d" / "loose.png", img.gray(4, 4, 1))
    img.save(tmp_path / "d" / "cls" / "a.png", img.gray(4, 4, 1))
    with pytest.raises(DataError, match="loose.png.*cls.*one sub-folder per class.*directly in the folder"):
        load_images("d", opts(), tmp_path)


def test_nested_files_in_class_folder_are_found(tmp_path, img):
    img.save(tmp_path / "d" / "cls" / "sub" / "b.png", img.gray(4, 4, 2))
    img.save(tmp_path / "d" / "cls" / "a.png", img.gray(4, 4, 1))
    data = load_images("d", opts(), tmp_path)
    assert data.names == ("cls/a.png", "cls/sub/b.png")


def test_too_many_files(tmp_path, img, monkeypatch):
    for i in range(5):
        img.save(tmp_path / "d" / f"{i}.png", img.gray(2, 2, i))
    monkeypatch.setattr(loading, "MAX_FILES", 3)
    with pytest.raises(DataError, match="more than 3 image files"):
        load_images("d", opts(), tmp_path)


def test_decompression_bomb_refused_before_decoding(tmp_path, img):
    before = Image.MAX_IMAGE_PIXELS
    img.save(tmp_path / "d" / "a.png", img.gray(4, 4, 1))
    img.header_only_png(tmp_path / "d" / "bomb.png", 7000, 7000)  # 49M: over our cap only
    with pytest.raises(DataError, match=r"bomb\.png.*7000x7000.*decompression bomb"):
        load_images("d", opts(), tmp_path)
    img.header_only_png(tmp_path / "d" / "bomb.png", 20000, 20000)  # over Pillow's error limit too
    with pytest.raises(DataError, match=r"bomb\.png.*decompression bomb"):
        load_images("d", opts(), tmp_path)
    assert Image.MAX_IMAGE_PIXELS == before


def test_pillow_bomb_warning_counts_as_refusal(tmp_path, img, monkeypatch):
    monkeypatch.setattr(loading, "MAX_PIXELS", 10**12)
    img.header_only_png(tmp_path / "d" / "bomb.png", 10000, 10000)  # Pillow warns (not errors) at 100M
    with pytest.raises(DataError, match=r"bomb\.png.*decompression bomb"):
        load_images("d", opts(), tmp_path)


def test_pixel_cap_applies_to_small_images(tmp_path, img, monkeypatch):
    monkeypatch.setattr(loading, "MAX_PIXELS", 10)
    img.save(tmp_path / "d" / "a.png", img.gray(4, 4, 1))
    with pytest.raises(DataError, match=r"a\.png.*4x4 = 16 pixels"):
        load_images("d", opts(), tmp_path)


# --------------------------------------------------------------------------- max_images


def test_max_images_is_a_seeded_subset_in_order(tmp_path, img):
    for i in range(12):
        img.save(tmp_path / "d" / f"{i:02d}.png", img.gray(2, 2, i))
    full = load_images("d", opts(), tmp_path)
    one = load_images("d", opts(max_images=5), tmp_path, seed=3)
    again = load_images("d", opts(max_images=5), tmp_path, seed=3)
    assert one.names == again.names and len(one) == 5
    assert list(one.names) == sorted(one.names)
    assert {load_images("d", opts(max_images=5), tmp_path, seed=s).names for s in range(6)} != {one.names}
    index = [full.names.index(n) for n in one.names]
    assert np.array_equal(one.images, full.images[index])
    assert len(load_images("d", opts(max_images=50), tmp_path)) == 12


# --------------------------------------------------------------------------- .npz


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def test_npz_uint8_with_integer_labels(tmp_path):
    x = np.arange(5 * 3 * 4, dtype=np.uint8).reshape(5, 3, 4)
    write_npz(tmp_path / "d.npz", x=x, y=np.array([10, 2, 2, 10, 3]))
    data = load_images("d.npz", opts(), tmp_path)
    assert data.classes == ("2", "3", "10") and data.labels.tolist() == [2, 0, 0, 2, 1]
    assert np.array_equal(data.images[..., 0], x) and data.names[0] == "d.npz#0"


def test_npz_string_labels_and_float_pixels(tmp_path):
    x = np.linspace(0, 1, 3 * 2 * 2).reshape(3, 2, 2, 1)
    write_npz(tmp_path / "f.npz", x=x, y=np.array(["dog", "cat", "dog"]))
    data = load_images("f.npz", opts(), tmp_path)
    assert data.classes == ("cat", "dog") and data.labels.tolist() == [1, 0, 1]
    assert np.array_equal(data.images, np.rint(x * 255).astype(np.uint8))
    write_npz(tmp_path / "g.npz", x=x * 255)
    assert np.array_equal(load_images("g.npz", opts(), tmp_path).images, data.images)
    assert load_images("g.npz", opts(), tmp_path).labels is None


def test_npz_colour_channels(tmp_path):
    rgba = np.zeros((2, 3, 3, 4), dtype=np.uint8)
    rgba[0] = [255, 0, 0, 255]
    rgba[1] = [255, 255, 255, 0]
    write_npz(tmp_path / "c.npz", x=rgba)
    gray = load_images("c.npz", opts(channels=1), tmp_path).images
    assert np.all(gray[0] == 76) and np.all(gray[1] == 0)
    rgb = load_images("c.npz", opts(channels=3, image_size=(5, 4)), tmp_path).images
    assert rgb.shape == (2, 5, 4, 3) and np.all(rgb[0] == [255, 0, 0])


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 3, 3), np.uint8)}, "no array named 'x'.*images"),
        ({"x": np.zeros((4,), np.uint8)}, r"x has shape \(4,\)"),
        ({"x": np.zeros((2, 3, 3, 2), np.uint8)}, "C 1, 3 or 4"),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.array([1, 2])}, "y has shape.*3 images"),
        ({"x": np.full((1, 2, 2), 300.0)}, "span 300..300"),
        ({"x": np.full((1, 2, 2), np.nan)}, "NaN"),
        ({"x": np.zeros((2, 2, 2)), "y": np.array([0.5, 1.0])}, "non-integer"),
        ({"x": np.array([np.zeros((2, 2)), np.zeros((3, 3))], dtype=object)}, "object array"),
    ],
)
def test_bad_npz(tmp_path, arrays, message):
    write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message):
        load_images("bad.npz", opts(), tmp_path)


def test_npz_that_is_not_a_zip(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=r"bad\.npz.*not a readable \.npz"):
        load_images("bad.npz", opts(), tmp_path)


def test_npz_zip_bomb_refused(tmp_path, monkeypatch):
    np.savez_compressed(tmp_path / "bomb.npz", x=np.zeros((200, 64, 64), np.uint8))  # 800 KB -> ~1 KB
    assert (tmp_path / "bomb.npz").stat().st_size < 10_000
    monkeypatch.setattr(loading, "MAX_NPZ_BYTES", 100_000)
    with pytest.raises(DataError, match=r"bomb\.npz.*expand.*zip bomb"):
        load_images("bomb.npz", opts(), tmp_path)


def test_npz_max_images(tmp_path):
    write_npz(tmp_path / "d.npz", x=np.arange(10, dtype=np.uint8).reshape(10, 1, 1), y=np.arange(10))
    data = load_images("d.npz", opts(max_images=4), tmp_path, seed=1)
    assert len(data) == 4 and data.images.ravel().tolist() == sorted(data.images.ravel().tolist())
    assert data.classes == tuple(str(i) for i in range(10))


# --------------------------------------------------------------------------- sklearn:digits


def test_sklearn_digits():
    data = load_images("sklearn:digits", opts(), Path("."))
    assert data.images.shape == (1797, 8, 8, 1) and data.images.dtype == np.uint8
    assert data.classes == tuple(str(i) for i in range(10)) and len(set(data.labels.tolist())) == 10
    assert data.images.min() == 0 and data.images.max() == 255
    assert data.names[5] == "sklearn:digits#5"
    from sklearn.datasets import load_digits

    assert np.array_equal(data.images[0, ..., 0], np.round(load_digits().images[0] * 255 / 16))
    small = load_images("sklearn:digits", opts(max_images=20, image_size=(16, 16), channels=3), Path("."))
    assert small.images.shape == (20, 16, 16, 3)


def test_unknown_sklearn_source_lists_known():
    with pytest.raises(DataError, match="sklearn:faces.*sklearn:digits"):
        load_images("sklearn:faces", opts(), Path("."))


# --------------------------------------------------------------------------- augment


@pytest.fixture
def small_set(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, size=(6, 5, 7, 1), dtype=np.uint8)
    write_npz(tmp_path / "s.npz", x=x, y=np.array([0, 1, 0, 1, 2, 2]))
    return load_images("s.npz", opts(), tmp_path)


def test_augment_count_names_labels(small_set):
    options = AugmentOptions(copies=3, flip_horizontal=True, flip_vertical=True, max_shift=2)
    out = augment(small_set, options, np.random.default_rng(0))
    assert len(out) == 6 * 4 and out.images.shape[1:] == small_set.images.shape[1:]
    assert out.names[:6] == small_set.names and out.names[6] == "s.npz#0~aug1" and out.names[-1] == "s.npz#5~aug3"
    assert out.labels.tolist() == small_set.labels.tolist() * 4 and out.classes == small_set.classes
    assert np.array_equal(out.images[:6], small_set.images)


def test_augment_is_deterministic_for_a_seed(small_set):
    options = AugmentOptions(copies=2, flip_horizontal=True, max_shift=2)
    a = augment(small_set, options, np.random.default_rng(7))
    b = augment(small_set, options, np.random.default_rng(7))
    c = augment(small_set, options, np.random.default_rng(8))
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)


def test_augment_flips_and_shifts(small_set):
    flips = augment(small_set, AugmentOptions(copies=4, flip_horizontal=True, max_shift=0), np.random.default_rng(0))
    for k, copy in enumerate(flips.images[6:]):
        original = small_set.images[k % 6]
        assert np.array_equal(copy, original) or np.array_equal(copy, original[:, ::-1])
    plain = augment(small_set, AugmentOptions(copies=1, max_shift=0), np.random.default_rng(0))
    assert np.array_equal(plain.images[6:], small_set.images)
    shifted = augment(small_set, AugmentOptions(copies=2, max_shift=1), np.random.default_rng(0))
    for k, copy in enumerate(shifted.images[6:]):
        padded = np.pad(small_set.images[k % 6], ((1, 1), (1, 1), (0, 0)), mode="edge")
        windows = [padded[i:i + 5, j:j + 7] for i in range(3) for j in range(3)]
        assert any(np.array_equal(copy, w) for w in windows)
