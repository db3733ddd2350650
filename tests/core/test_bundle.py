import json
import shutil
import zipfile

import numpy as np
import pytest

import domaingen as dg
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


def test_codec_arrays_are_loaded_without_pickle(bundle_copy):
    np.savez(bundle_copy / "codec.npz", mean=np.array([object()], dtype=object), std=np.ones(2))
    meta = json.loads((bundle_copy / "meta.json").read_text())
    meta["files"]["codec.npz"] = sha256_file(bundle_copy / "codec.npz")
    (bundle_copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="pickle"):
        dg.load_bundle(bundle_copy).codec


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
