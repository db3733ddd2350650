"""The images plugin end to end: the digits demo, conditions, balanced sets, byte
reproducibility, a folder recipe, and bad input through the CLI.

The demo (class-conditional WGAN-GP on 1,437 training digits) runs once per module. A
logistic regression on raw pixels, fitted on the real digits (97 % accurate on them),
reads the generated images: it must find the class each image was generated for in at
least 80 % of them (the demo measured about 95 %); random images score 10 %.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import domaingen as dg
from domaingen.cli import cli
from domaingen.errors import ConditionError

RECIPES = Path(__file__).parents[3] / "recipes"
DEMO = RECIPES / "images-digits-demo.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    recipe = dg.load_recipe(DEMO, overrides={"generate.n": 300})
    return dg.run(recipe, tmp_path_factory.mktemp("images-demo"))


@pytest.fixture(scope="module")
def pixel_classifier():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    digits = load_digits()
    pixels = np.rint(digits.images * 255 / 16).reshape(len(digits.images), -1) / 255.0
    return LogisticRegression(max_iter=2000).fit(pixels, digits.target)


def _read_labels(shard: Path) -> list[tuple[str, str]]:
    with open(shard / "labels.csv", newline="", encoding="utf-8") as fh:
        return [(row["file"], row["label"]) for row in csv.DictReader(fh)]


def _predict(classifier, files: list[Path]) -> np.ndarray:
    pixels = np.stack([np.asarray(Image.open(f)) for f in files]).reshape(len(files), -1) / 255.0
    return classifier.predict(pixels)


def test_demo_writes_an_image_folder_sheets_and_reports(demo):
    synthetic = demo.synthetic_dir
    shard = synthetic / "part-00000"
    rows = _read_labels(shard)
    assert len(rows) == 300 == demo.records
    assert {label for _, label in rows} <= {str(d) for d in range(10)} and len({label for _, label in rows}) == 10
    for file, label in rows:  # every image sits in its class folder and is an 8x8 grayscale PNG
        assert file.split("/")[0] == label
        with Image.open(shard / file) as im:
            assert im.size == (8, 8) and im.mode == "L"
    assert (synthetic / "grid.png").is_file() and (synthetic / "manifest.json").is_file()
    report = json.loads((demo.out_dir / "report.json").read_text())
    assert (demo.out_dir / "report.html").is_file()
    metrics = report["metrics"]
    assert metrics["conditional_accuracy"] >= 0.8
    assert metrics["fd_floor"] > 0 and metrics["fd_classifier"] > 0


def test_labels_csv_names_the_class_each_image_was_generated_for(demo, pixel_classifier):
    shard = demo.synthetic_dir / "part-00000"
    rows = _read_labels(shard)
    predicted = _predict(pixel_classifier, [shard / f for f, _ in rows])
    agreement = (predicted == np.array([int(label) for _, label in rows])).mean()
    assert agreement >= 0.8, f"the pixel classifier agrees with labels.csv on only {agreement:.0%}"


def test_one_class_on_request_and_a_balanced_set(demo, pixel_classifier, tmp_path):
    bundle = dg.load_bundle(demo.bundle_dir)
    threes = bundle.generate(60, seed=3, options={"conditions": {"label": "3"}})
    assert (threes.labels == threes.classes.index("3")).all()
    assert (pixel_classifier.predict(threes.images.reshape(60, -1) / 255.0) == 3).mean() >= 0.8
    manifest = dg.generate(bundle, tmp_path / "balanced", 1, options={"per_class": 7})
    rows = _read_labels(tmp_path / "balanced" / "part-00000")
    counts = np.bincount([int(label) for _, label in rows], minlength=10)
    assert manifest["n"] == 70 and (counts == 7).all()


def test_an_unknown_class_is_refused_with_the_known_ones(demo, tmp_path):
    bundle = dg.load_bundle(demo.bundle_dir)
    with pytest.raises(ConditionError, match="unknown class 'seven'; the classes are: 0, 1, 2"):
        bundle.generate(5, options={"conditions": {"label": "seven"}})
    out = tmp_path / "nope"
    result = CliRunner().invoke(
        cli, ["generate", str(demo.bundle_dir), "-n", "5", "--out", str(out), "--option", 'conditions={label: "seven"}']
    )
    assert result.exit_code == 2 and "unknown class 'seven'" in result.output and not out.exists()


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_bundle_and_seed_give_identical_files_and_the_saved_bundle_reloads_identically(demo, tmp_path):
    bundle = dg.load_bundle(demo.bundle_dir)
    dg.generate(bundle, tmp_path / "a", 120, seed=11)
    again = dg.load_bundle(demo.bundle_dir)  # a fresh load of the saved bundle
    dg.generate(again, tmp_path / "b", 120, seed=11)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a == b and "part-00000/labels.csv" in a and "grid.png" in a
    dg.generate(bundle, tmp_path / "c", 120, seed=12)
    assert _digests(tmp_path / "c") != a


def _export_image_folder(root: Path, per_class: int = 30) -> Path:
    """Real digits 0-2 as an ImageFolder of PNGs, in mixed modes (L, RGB, RGBA), as a user's folder might be."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for k, name in enumerate(["zero", "one", "two"]):
        for i, image in enumerate(digits.images[digits.target == k][:per_class]):
            im = Image.fromarray(np.rint(image * 255 / 16).astype(np.uint8))
            im = [im, im.convert("RGB"), im.convert("RGBA")][i % 3]
            (root / name).mkdir(parents=True, exist_ok=True)
            im.resize((16, 16), Image.Resampling.NEAREST).save(root / name / f"{i:03d}.png")
    return root


def test_a_folder_recipe_trains_and_writes_its_classes(tmp_path):
    _export_image_folder(tmp_path / "digits")
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(
        "schema_version: 1\nname: folder\nseed: 1\n"
        "data: {plugin: images, source: digits, options: {image_size: [8, 8], channels: 1}}\n"
        "model: {family: vae, options: {latent_dim: 4, conv_filters: [8, 16]}}\n"
        "train: {epochs: 3, batch_size: 32}\ngenerate: {n: 12}\nevaluate: {enabled: false}\n",
        encoding="utf-8",
    )
    result = dg.run(dg.load_recipe(recipe_path), tmp_path / "out")
    rows = _read_labels(result.synthetic_dir / "part-00000")
    assert len(rows) == 12 and {label for _, label in rows} <= {"zero", "one", "two"}
    assert (result.synthetic_dir / "interpolation.png").is_file()  # a latent family draws its walks


def test_bad_images_exit_2_and_leave_nothing_behind(tmp_path):
    root = _export_image_folder(tmp_path / "digits", per_class=4)
    (root / "one" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    recipe_path = tmp_path / "recipe.yaml"
    recipe_path.write_text(
        "schema_version: 1\nname: bad\nseed: 1\ndata: {plugin: images, source: digits}\n"
        "model: {family: gan}\ntrain: {epochs: 1}\ngenerate: {n: 4}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(recipe_path), "--out", str(out)])
    assert result.exit_code == 2 and "broken.png" in result.output and "Traceback" not in result.output
    assert not out.exists() or not any(out.rglob("*"))
    result = CliRunner().invoke(cli, ["run", str(recipe_path), "--out", str(out), "--set", "model.family=copula"])
    assert result.exit_code == 2 and "does not support the 'copula' family" in result.output


def test_evaluate_reads_the_shards_back(demo, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(
        cli, ["evaluate", "--recipe", str(DEMO), "--synthetic", str(demo.synthetic_dir), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["records"]["synthetic"] == 300
    assert report["metrics"]["conditional_accuracy"] >= 0.8
