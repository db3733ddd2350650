"""PNG shards (write / read back, atomic, deterministic, safe names) and contact sheets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from domaingen.errors import DataError
from domaingen_plugins.images.output import (
    class_folders,
    contact_sheet,
    interpolation_strips,
    png_base64,
    read_shards,
    sheet_image,
    write_shard,
)
from domaingen_plugins.images.records import ImageSet


def make_set(n: int = 7, channels: int = 1, classes: tuple[str, ...] | None = ("a", "b", "c"), seed: int = 0) -> ImageSet:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 5, 6, channels), dtype=np.uint8)
    labels = None if classes is None else rng.integers(0, len(classes), size=n)
    return ImageSet(images, labels, classes or (), tuple(f"r{i}" for i in range(n)))


# --------------------------------------------------------------------------- write / read


def test_round_trip_labelled(tmp_path):
    records = make_set(9, channels=3)
    files = write_shard(records, tmp_path / "part-00000")
    assert files[-1] == tmp_path / "part-00000" / "labels.csv" and all(p.is_file() for p in files)
    pngs = files[:-1]
    assert [p.name for p in pngs] == [f"{i:06d}.png" for i in range(9)]  # one counter per shard
    assert [p.parent.name for p in pngs] == [records.classes[k] for k in records.labels]
    for source in (files, [tmp_path / "part-00000"], [tmp_path]):
        back = read_shards(source)
        assert np.array_equal(back.images, records.images)
        assert [back.classes[k] for k in back.labels] == [records.classes[k] for k in records.labels]


def test_round_trip_unlabelled_gray(tmp_path):
    records = make_set(4, channels=1, classes=None)
    files = write_shard(records, tmp_path / "part-00003")
    assert [p.relative_to(tmp_path).as_posix() for p in files] == [f"part-00003/{i:06d}.png" for i in range(4)]
    assert not (tmp_path / "part-00003" / "labels.csv").exists()
    assert Image.open(files[0]).mode == "L"
    back = read_shards(files)
    assert back.labels is None and back.classes == () and np.array_equal(back.images, records.images)


def test_rgb_is_written_as_rgb(tmp_path):
    files = write_shard(make_set(2, channels=3), tmp_path / "s")
    assert Image.open(files[0]).mode == "RGB"


def test_labels_csv_content(tmp_path):
    records = ImageSet(np.zeros((3, 2, 2, 1), np.uint8), np.array([1, 0, 1]), ("x,y", "plain"), ())
    files = write_shard(records, tmp_path / "p")
    assert class_folders(records.classes) == ("x,y", "plain")
    text = (tmp_path / "p" / "labels.csv").read_bytes().decode("utf-8")
    assert text == 'file,label\nplain/000000.png,plain\n"x,y/000001.png","x,y"\nplain/000002.png,plain\n'
    assert read_shards(files).classes == ("plain", "x,y")


def test_several_shards_and_numeric_class_order(tmp_path):
    classes = tuple(str(i) for i in range(12))
    first = ImageSet(np.full((3, 2, 2, 1), 1, np.uint8), np.array([10, 2, 11]), classes, ())
    second = ImageSet(np.full((2, 2, 2, 1), 2, np.uint8), np.array([2, 1]), classes, ())
    files = write_shard(first, tmp_path / "out" / "part-00000") + write_shard(second, tmp_path / "out" / "part-00001")
    for source in (files, [tmp_path / "out"]):
        back = read_shards(source)
        assert back.classes == ("1", "2", "10", "11")  # numerically, "2" < "10"
        assert [back.classes[k] for k in back.labels] == ["10", "2", "11", "2", "1"]
        assert back.images[:, 0, 0, 0].tolist() == [1, 1, 1, 2, 2]
    explicit = read_shards(files, classes=classes)
    assert explicit.classes == classes and explicit.labels.tolist() == [10, 2, 11, 2, 1]
    with pytest.raises(DataError, match="label '10' is not one of the classes"):
        read_shards(files, classes=("1", "2"))


def test_unsafe_class_names_stay_inside_the_shard(tmp_path):
    classes = ("../evil", "", ".hidden", "a/b", "c\\d", "..", "labels.csv", "CON", "tab\there", "ok", "OK")
    records = ImageSet(np.zeros((len(classes), 2, 2, 1), np.uint8), np.arange(len(classes)), classes, ())
    stem = tmp_path / "shard" / "part-00000"
    files = write_shard(records, stem)
    assert sorted(p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()) == ["shard"] * len(files)
    for path in files:
        assert path.resolve().is_relative_to(stem.resolve())
        relative = path.relative_to(stem).parts
        assert len(relative) == (1 if path.name == "labels.csv" else 2)
        assert not any(part.startswith(".") for part in relative)
    folders = [p.parent.name for p in files[:-1]]
    assert len({f.lower() for f in folders}) == len(classes)  # distinct even ignoring case
    back = read_shards(files)
    assert [back.classes[k] for k in back.labels] == list(classes)


def test_write_failure_leaves_no_folder(tmp_path, monkeypatch):
    original = Image.Image.save
    calls = {"n": 0}

    def failing_save(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        write_shard(make_set(6), tmp_path / "part-00000")
    assert list(tmp_path.iterdir()) == []


def test_failed_rewrite_keeps_the_old_shard(tmp_path, monkeypatch):
    stem = tmp_path / "part-00000"
    files = write_shard(make_set(3), stem)

    def failing_save(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError):
        write_shard(make_set(5, seed=1), stem)
    assert sorted(tmp_path.iterdir()) == [stem] and all(p.is_file() for p in files)


def test_identical_pixels_give_identical_bytes(tmp_path):
    records = make_set(5, channels=3)
    one = write_shard(records, tmp_path / "one")
    two = write_shard(records, tmp_path / "two")
    assert [p.relative_to(tmp_path / "one") for p in one] == [p.relative_to(tmp_path / "two") for p in two]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, two))


def test_corrupt_png_is_named(tmp_path):
    files = write_shard(make_set(3), tmp_path / "part-00000")
    files[1].write_bytes(files[1].read_bytes()[:40])
    with pytest.raises(DataError, match=f"{files[1].name}.*corrupt, truncated"):
        read_shards([tmp_path / "part-00000"])


def test_missing_png_and_empty_input(tmp_path):
    files = write_shard(make_set(3), tmp_path / "part-00000")
    files[0].unlink()
    with pytest.raises(DataError, match=f"{files[0].name} is missing"):
        read_shards([tmp_path / "part-00000"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no PNG images"):
        read_shards([tmp_path / "empty"])
    with pytest.raises(DataError, match="does not exist"):
        read_shards([tmp_path / "nowhere.png"])


# --------------------------------------------------------------------------- contact sheets


def test_contact_sheet_size_default_scale_and_padding(tmp_path):
    rows = [np.full((3, 8, 8, 1), 200, np.uint8), np.full((2, 8, 8, 1), 10, np.uint8)]
    path = contact_sheet(rows, tmp_path / "sheets" / "grid.png")
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (1 + 2 * 33, 1 + 3 * 33)  # 8 px scaled x4 to 32, 1 px gaps, mode L
    assert sheet[1, 1] == 200 and sheet[34, 1] == 10
    assert sheet[0, 0] == 128 and sheet[40, 80] == 128  # gap and padded cell are grey
    assert [p.name for p in (tmp_path / "sheets").iterdir()] == ["grid.png"]  # no temporary left


def test_contact_sheet_explicit_scale_gap_colour_and_labels(tmp_path):
    rows = [np.zeros((2, 4, 5, 3), np.uint8), np.zeros((1, 4, 5, 1), np.uint8)]
    plain = sheet_image(rows, scale=2, gap=3)
    assert plain.mode == "RGB" and plain.size == (3 + 2 * (10 + 3), 3 + 2 * (8 + 3))
    labelled = sheet_image(rows, scale=2, gap=3, labels=["class a", "b"])
    assert labelled.size[1] == plain.size[1] and labelled.size[0] > plain.size[0]
    assert isinstance(png_base64(labelled), str) and png_base64(np.asarray(labelled))[:4] == "iVBO"
    with pytest.raises(ValueError):
        sheet_image(rows, labels=["only one"])


def test_interpolation_strips(tmp_path):
    strips = np.random.default_rng(0).integers(0, 256, size=(3, 5, 8, 8, 1), dtype=np.uint8)
    path = interpolation_strips(strips, tmp_path / "walks.png", scale=1, gap=1)
    assert Image.open(path).size == (1 + 5 * 9, 1 + 3 * 9)
    assert np.array_equal(np.asarray(Image.open(path))[1:9, 1:9], strips[0, 0, ..., 0])
