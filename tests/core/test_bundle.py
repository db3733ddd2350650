import io
import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import domaingen as dg
from domaingen import bundle as bundle_module
from domaingen._quiet import keras_module
from domaingen.errors import BundleError
from domaingen.files import sha256_file


@pytest.fixture
def bundle_copy(toy_bundle_dir, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(toy_bundle_dir, dst)
    return dst


def rewrite_meta(folder, **changes):
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_bundle_contents_and_meta(toy_bundle_dir):
    names = sorted(p.name for p in toy_bundle_dir.iterdir())
    assert names == ["codec.json", "codec.npz", "meta.json", "model.keras", "recipe.yaml"]
    meta = json.loads((toy_bundle_dir / "meta.json").read_text())
    assert meta["format"] == "domaingen-bundle" and meta["seed"] == 7
    assert meta["plugin"] == {"name": "toy", "version": "1.2.0", "distribution": "domaingen-toy-plugin"}
    assert meta["family"]["name"] == "toy-gauss"
    assert len(meta["data_fingerprint"]) == 64
    assert meta["train_records"] == 1600 and meta["holdout_records"] == 400
    assert "loss" in meta["history"]
    assert meta["keras_version"].startswith("3.")
    assert meta["learning_rate"] == pytest.approx(1e-3)  # the recipe gives none: the toy family's default


def test_recipe_learning_rate_overrides_the_family_default(tmp_path, toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path, overrides={"train.learning_rate": 0.01})
    bundle = dg.train(recipe, tmp_path / "bundle")
    assert bundle.meta["learning_rate"] == pytest.approx(0.01)


def test_loaded_bundle_generates_the_known_distribution(toy_bundle_dir):
    bundle = dg.load_bundle(toy_bundle_dir)
    records = bundle.generate(20000, seed=1)
    xy = np.array([[r["x"], r["y"]] for r in records])
    assert np.allclose(xy.mean(axis=0), [1.0, -2.0], atol=0.08)
    assert np.corrcoef(xy.T)[0, 1] == pytest.approx(0.8, abs=0.03)
    freq = np.mean([r["c"] == "a" for r in records])
    assert freq == pytest.approx(0.5, abs=0.03)


def test_tampered_file_is_refused(bundle_copy):
    with open(bundle_copy / "codec.npz", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(BundleError, match="codec.npz does not match its checksum"):
        dg.load_bundle(bundle_copy)


def test_truncated_model_is_refused(bundle_copy):
    data = (bundle_copy / "model.keras").read_bytes()
    (bundle_copy / "model.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleError, match="model.keras does not match"):
        dg.load_bundle(bundle_copy)


def test_missing_meta_and_missing_file(bundle_copy, tmp_path):
    (bundle_copy / "recipe.yaml").unlink()
    with pytest.raises(BundleError, match="recipe.yaml is missing"):
        dg.load_bundle(bundle_copy)
    (bundle_copy / "meta.json").unlink()
    with pytest.raises(BundleError, match="meta.json is missing"):
        dg.load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="not found"):
        dg.load_bundle(tmp_path / "nowhere")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format_version": 99}, "format version 99"),
        ({"domaingen_version": "7.0.0"}, "written by domaingen 7.0.0"),
        ({"keras_version": "2.15.0"}, "saved with Keras 2.15.0"),
    ],
)
def test_incompatible_versions_are_refused(bundle_copy, changes, message):
    rewrite_meta(bundle_copy, **changes)
    with pytest.raises(BundleError, match=message):
        dg.load_bundle(bundle_copy)


def test_unsafe_model_is_refused_even_with_valid_checksums(bundle_copy):
    """A stranger's model.keras holding a Lambda (arbitrary code) must not load."""
    keras = keras_module()
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(bundle_copy / "model.keras")
    meta = json.loads((bundle_copy / "meta.json").read_text())
    meta["files"]["model.keras"] = sha256_file(bundle_copy / "model.keras")
    (bundle_copy / "meta.json").write_text(json.dumps(meta))
    bundle = dg.load_bundle(bundle_copy)
    with pytest.raises(BundleError, match="cannot be loaded safely"):
        bundle.model


def reseal(folder, name):
    """Record ``name``'s new checksum in meta.json, as a forger would."""
    meta = json.loads((folder / "meta.json").read_text())
    meta["files"][name] = sha256_file(folder / name)
    (folder / "meta.json").write_text(json.dumps(meta))


def test_codec_arrays_are_loaded_without_pickle(bundle_copy):
    np.savez(bundle_copy / "codec.npz", mean=np.array([object()], dtype=object), std=np.ones(2))
    reseal(bundle_copy, "codec.npz")
    with pytest.raises(BundleError, match=r"this bundle's codec.npz holds a non-numeric array 'mean'.*refused") as info:
        dg.load_bundle(bundle_copy).codec
    assert str(bundle_copy) in str(info.value)


def test_truncated_codec_npz_is_refused_clearly(bundle_copy):
    data = (bundle_copy / "codec.npz").read_bytes()
    (bundle_copy / "codec.npz").write_bytes(data[: len(data) // 2])
    reseal(bundle_copy, "codec.npz")
    with pytest.raises(BundleError, match=r"this bundle's codec.npz is corrupt.*refused") as info:
        dg.load_bundle(bundle_copy).codec
    assert str(bundle_copy) in str(info.value)


def test_codec_npz_array_header_larger_than_its_bytes_is_refused(bundle_copy):
    """A .npy header claiming 10**12 floats must be refused before numpy allocates them."""
    from numpy.lib import format as npy

    header = io.BytesIO()
    npy.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with zipfile.ZipFile(bundle_copy / "codec.npz", "w") as zf:
        zf.writestr("mean.npy", header.getvalue() + np.ones(2).tobytes())
        zf.writestr("std.npy", header.getvalue())
    reseal(bundle_copy, "codec.npz")
    with pytest.raises(BundleError, match=r"codec.npz is corrupt: array 'mean' declares shape \(1000000000000,\)"):
        dg.load_bundle(bundle_copy).codec


def test_codec_npz_over_the_size_limit_is_refused(bundle_copy, monkeypatch):
    np.savez(bundle_copy / "codec.npz", mean=np.zeros(2), std=np.ones(5000))
    reseal(bundle_copy, "codec.npz")
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_BYTES", 10_000)
    with pytest.raises(BundleError, match=r"codec.npz: its members declare 40,\d+ bytes uncompressed, over the limit of 10,000"):
        dg.load_bundle(bundle_copy).codec


def test_bundle_archive_with_a_bomb_inside_is_refused(bundle_copy, monkeypatch):
    """model.keras is a zip too: its declared sizes are checked before Keras opens it."""
    with zipfile.ZipFile(bundle_copy / "model.keras", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.weights.h5", bytes(3 << 20))
    reseal(bundle_copy, "model.keras")
    monkeypatch.setattr(bundle_module, "RATIO_CHECKED_ABOVE", 1 << 20)
    with pytest.raises(BundleError, match=r"model.keras: member model.weights.h5 expands .* a likely zip bomb"):
        dg.load_bundle(bundle_copy)


def zeros_zip(path, size, *, names=("codec.npz",)):
    """A zip whose members are ``size`` zero bytes each, deflated (ratio about 1000)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            zf.writestr(name, bytes(size))
    return path


def test_zip_bomb_is_refused_before_anything_is_extracted(tmp_path, monkeypatch):
    bomb = zeros_zip(tmp_path / "bomb.zip", 5 << 20)  # 5 MB of zeros in about 5 KB
    monkeypatch.setattr(bundle_module, "RATIO_CHECKED_ABOVE", 1 << 20)
    folder = tmp_path / "extracted"
    folder.mkdir()
    with pytest.raises(BundleError, match=r"member codec.npz expands \d[\d,]* bytes to 5,242,880 \(ratio \d+, limit 200\)"):
        bundle_module._safe_extract(bomb, folder)
    assert list(folder.iterdir()) == []
    with pytest.raises(BundleError, match="likely zip bomb"):
        dg.load_bundle(bomb)


def test_zip_whose_members_declare_too_much_is_refused(tmp_path, monkeypatch):
    big = zeros_zip(tmp_path / "big.zip", 600_000, names=("codec.npz", "model.keras"))
    monkeypatch.setattr(bundle_module, "MAX_BUNDLE_BYTES", 1_000_000)
    folder = tmp_path / "extracted"
    folder.mkdir()
    with pytest.raises(BundleError, match=r"declare 1,200,000 bytes uncompressed, over the limit of 1,000,000; refused before extracting"):
        bundle_module._safe_extract(big, folder)
    assert list(folder.iterdir()) == []


def lie_about_size(path, name, declared):
    """Rewrite the uncompressed size of member ``name`` in the zip's local and central headers."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = data.find(signature)
        while start >= 0:
            if data[start + name_at : start + name_at + len(encoded)] == encoded:
                data[start + size_at : start + size_at + 4] = struct.pack("<I", declared)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_member_whose_header_lies_about_its_size_is_refused_and_nothing_stays(tmp_path):
    liar = zeros_zip(tmp_path / "liar.zip", 2 << 20, names=("meta.json", "codec.npz"))
    lie_about_size(liar, "codec.npz", 1000)  # declares 1000 bytes, holds 2 MB: passes the declared checks
    folder = tmp_path / "extracted"
    folder.mkdir()
    with pytest.raises(BundleError, match=r"bundle .*liar.zip: corrupt zip"):
        bundle_module._safe_extract(liar, folder)
    assert list(folder.iterdir()) == []  # the partial codec.npz and the earlier meta.json are gone


def test_extraction_stops_at_the_declared_size():
    """Whatever the zip reader hands over, no more than the declared bytes are written."""
    info = zipfile.ZipInfo("codec.npz")
    info.file_size = 10
    out = io.BytesIO()
    with pytest.raises(BundleError, match=r"member 'codec.npz' holds more than the 10 bytes its header declares"):
        bundle_module._copy_member(io.BytesIO(bytes(10_000)), out, info, Path("b.zip"))
    assert len(out.getvalue()) <= 10
    with pytest.raises(BundleError, match=r"holds 3 of its declared 10 bytes"):
        bundle_module._copy_member(io.BytesIO(b"abc"), io.BytesIO(), info, Path("b.zip"))


def test_repeated_or_encrypted_member_is_refused(tmp_path):
    twice = tmp_path / "twice.zip"
    with zipfile.ZipFile(twice, "w") as zf:
        zf.writestr("meta.json", "{}")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("meta.json", "{}")
    with pytest.raises(BundleError, match="'meta.json' appears twice"):
        dg.load_bundle(twice)
    locked = tmp_path / "locked.zip"
    with zipfile.ZipFile(locked, "w") as zf:
        zf.writestr("meta.json", "{}")
    data = bytearray(locked.read_bytes())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        data[data.find(signature) + flags_at] |= 0x1  # the "encrypted" bit
    locked.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="'meta.json' is encrypted"):
        dg.load_bundle(locked)


def test_zip_bundle_round_trip_and_bad_member(tmp_path, toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path)
    target = tmp_path / "toy.zip"
    bundle = dg.train(recipe, target)
    assert target.is_file() and zipfile.is_zipfile(target)
    records = bundle.generate(10, seed=3)
    assert records == dg.load_bundle(target).generate(10, seed=3)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(BundleError, match="unexpected member"):
        dg.load_bundle(evil)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_failed_training_leaves_no_bundle(tmp_path, toy_recipe_path):
    recipe = dg.load_recipe(toy_recipe_path, ["data.source=missing.jsonl"])
    with pytest.raises(dg.DataError, match="file not found"):
        dg.train(recipe, tmp_path / "b")
    assert list(tmp_path.iterdir()) == []


def test_gan_recipe_without_learning_rate_trains_at_the_family_default(tmp_path, toy_recipe_path, monkeypatch):
    from domaingen.models import gan

    used = []
    original = gan.GAN.train_on

    def spy(self, x, **kwargs):
        used.append(kwargs["learning_rate"])
        return original(self, x, **kwargs)

    monkeypatch.setattr(gan.GAN, "train_on", spy)
    recipe = dg.load_recipe(
        toy_recipe_path,
        overrides={"model.family": "gan", "data.options.rows": 200, "evaluate.enabled": False},
    )
    bundle = dg.train(recipe, tmp_path / "bundle")
    assert used == [pytest.approx(2e-4)] and bundle.meta["learning_rate"] == pytest.approx(2e-4)
