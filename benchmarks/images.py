"""Images benchmark: training and generation speed, memory and quality per model family.

For every (variant, image size) pair, in a fresh process, on scikit-learn's 1,797 real
8x8 digits (upscaled with ``image_size`` for the larger sizes; 20 % held out):

- training: images per second over the whole fit (epochs x training images / seconds,
  tracing and the first compiled call included) and the fit's seconds;
- generation: images per second of the model alone (``model.sample``: encoded arrays)
  and end to end (``bundle.generate``: labels drawn, arrays decoded to uint8 images),
  medians of ``--timings`` calls after a warm-up;
- peak memory: the process's peak resident set size (TensorFlow's runtime included);
- quality (the plugin's report on ``--n-eval`` generated images against the held-out
  real ones): ``fd_classifier`` beside its floor (training vs held-out real images, same
  sample size) and their ratio, conditional accuracy beside the classifier's accuracy on
  held-out real images, precision / recall / coverage (k = 5).

Variants: ``dcgan`` (the ``gan`` family's class-conditional DCGAN: batch-normalised
generator, projection critic, non-saturating loss), ``wgan-gp`` (the same networks with
the WGAN-GP loss), ``vae`` (class-conditional conv VAE), ``diffusion`` (class-conditional
U-Net, 20 DDIM steps with eta 1 and guidance 0.5 at the noise levels σ in (0.5, 1.2];
``--model-options '{"steps": 10}'`` changes them),
``diffusion-distilled`` (that model's sampler distilled into a one-step student, ``distill: true``).

    python benchmarks/images.py                                   # all variants, 8x8 and 28x28
    python benchmarks/images.py --variants dcgan --sizes 8 --epochs 8=300
    python benchmarks/images.py --variants diffusion,vae --sizes 8 --epochs 8=60 --n-generate 2000 --timings 1
    python benchmarks/images.py --variants diffusion --sizes 8 --epochs 8=100 --sampling '[{"guidance_interval": null, "eta": 0.0}]'
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _fresh import rss_mib, run_in_fresh_process  # noqa: E402

VARIANTS = {  # (family, model.options, learning rate): the settings of the recipes images-digits-*.yaml
    "dcgan": ("gan", {"loss": "standard", "noise_dim": 32, "conv_filters": [32, 64]}, 2e-4),
    "wgan-gp": ("gan", {"loss": "wgan-gp", "noise_dim": 32, "conv_filters": [32, 64]}, 5e-4),
    "vae": ("vae", {"latent_dim": 16, "beta": 2.0, "conv_filters": [32, 64]}, 2e-3),
    # channels: default_channels ([16, 32] at 8x8); guidance 0.5 at the noise levels (0.5, 1.2], eta 1
    "diffusion": ("diffusion", {"label_dropout": 0.15, "steps": 20, "guidance": 0.5, "guidance_interval": [0.5, 1.2],
                                "eta": 1.0}, 2e-3),
    # the same model, its deterministic (eta 0) 20-step sampler distilled into a one-step student (sampled with it)
    "diffusion-distilled": ("diffusion", {"label_dropout": 0.15, "steps": 20, "guidance": 0.5, "guidance_interval": [0.5, 1.2],
                                          "distill": True}, 2e-3),
}


def _document(variant: str, size: int, epochs: int, args) -> dict:
    family, options, lr = VARIANTS[variant]
    options = {**options, **json.loads(args.model_options or "{}")}
    return {
        "schema_version": 1,
        "name": f"bench-{variant}-{size}",
        "seed": args.seed,
        "data": {"plugin": "images", "source": "sklearn:digits", "options": {"image_size": [size, size], "channels": 1}},
        "model": {"family": family, "options": options},
        "train": {"epochs": epochs, "batch_size": args.batch_size, "learning_rate": lr},
        "generate": {"n": args.n_eval},
        "evaluate": {"enabled": True, "holdout": 0.2, "options": {"classifier_epochs": args.classifier_epochs}},
    }


def _median_rate(call, count: int, timings: int) -> float:
    seconds = []
    for _ in range(timings):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return count / float(np.median(seconds))


REPORT_KEYS = ("fd_classifier", "fd_floor", "fd_ratio", "conditional_accuracy", "classifier_holdout_accuracy",
               "precision", "recall", "coverage", "memorised_share", "exact_copies")


def _sample_and_score(bundle, recipe, train, holdout, args) -> dict:
    """Generation rates (after a warm-up at the timed size) and the plugin's report."""
    model, n = bundle.model, args.n_generate
    model.sample(n, seed=0)  # warm-up: trace the sampling function for the timed size
    model_rate = _median_rate(lambda: model.sample(n, seed=1), n, args.timings)
    bundle.generate(n, seed=0)
    e2e_rate = _median_rate(lambda: bundle.generate(n, seed=2), n, args.timings)
    synthetic = bundle.generate(args.n_eval, seed=3)
    report = bundle.plugin.evaluate(train, synthetic, holdout, recipe.evaluate_options, None, np.random.default_rng(args.seed))
    return {"model_img_s": model_rate, "e2e_img_s": e2e_rate, "peak_mib": rss_mib(), **{k: report.get(k) for k in REPORT_KEYS}}


def bench_one(variant: str, size: int, epochs: int, args) -> dict:
    """Train one variant, then time and score it; each ``--sampling`` override of its
    model options is timed and scored again on the same trained model (key ``sampling``)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from domaingen import pipeline
    from domaingen._quiet import keras_module
    from domaingen.recipe import recipe_from_dict

    keras_module()
    base_rss = rss_mib()
    recipe = recipe_from_dict(_document(variant, size, epochs, args), base_dir=Path("."), source=f"bench:{variant}")
    train, holdout = pipeline.load_data(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = pipeline.train(recipe, Path(tmp) / "bundle", data=(train, holdout))
        fit_seconds = float(bundle.meta["seconds"]["train"])
        row = {"variant": variant, "size": size, "epochs": epochs, "train_images": len(train), "fit_s": fit_seconds,
               "train_img_s": epochs * len(train) / fit_seconds, **_sample_and_score(bundle, recipe, train, holdout, args)}
        trained, resampled = bundle.model.options, []
        for override in json.loads(args.sampling or "[]"):  # same weights, other sampling options
            bundle.model.options = type(trained).model_validate({**trained.model_dump(), **override})
            resampled.append({"variant": f"{variant} {json.dumps(override)}", "size": size, "epochs": epochs,
                              **_sample_and_score(bundle, recipe, train, holdout, args)})
        bundle.model.options = trained
    row["growth_mib"] = rss_mib() - base_rss
    return {**row, "sampling": resampled} if resampled else row


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def print_table(rows: list[dict]) -> None:
    cols = [
        ("variant", "variant", "s"), ("size", "size", "d"), ("epochs", "epochs", "d"), ("fit_s", "fit s", ".1f"),
        ("train_img_s", "train img/s", ",.0f"), ("model_img_s", "model img/s", ",.0f"), ("e2e_img_s", "e2e img/s", ",.0f"),
        ("peak_mib", "peak MiB", ",.0f"), ("fd_classifier", "fd_classifier", ".2f"), ("fd_floor", "floor", ".2f"),
        ("fd_ratio", "×floor", ".2f"), ("conditional_accuracy", "cond acc", ".3f"),
        ("classifier_holdout_accuracy", "real acc", ".3f"), ("precision", "prec", ".3f"), ("recall", "recall", ".3f"),
        ("coverage", "cover", ".3f"),
    ]
    print(" | ".join(title for _, title, _ in cols))
    for row in rows:
        if "error" in row:
            print(f"{row.get('variant')} {row.get('size')}: ERROR {row['error']}")
            continue
        print(" | ".join(_fmt(row.get(key), spec) for key, _, spec in cols))
    print("train img/s: epochs x training images / fit seconds (tracing included); model img/s: model.sample; "
          "e2e img/s: bundle.generate (labels drawn, decoded to uint8); medians after a warm-up.")
    print("fd_classifier: Fréchet distance in the plugin's classifier features, synthetic vs held-out real; floor: "
          "training vs held-out real at the same sample size; cond acc: classifier accuracy on synthetic images "
          "against their generated labels (real acc: on held-out real images).")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--sizes", default="8,28")
    parser.add_argument("--epochs", default="8=300,28=40", help="epochs per size, e.g. 8=300,28=40")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--model-options", default=None, help="JSON merged into every variant's model.options")
    parser.add_argument("--n-generate", type=int, default=20000, help="images per timed generation call")
    parser.add_argument("--n-eval", type=int, default=2000, help="generated images scored")
    parser.add_argument("--classifier-epochs", type=int, default=20)
    parser.add_argument("--timings", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampling", default=None,
                        help="JSON list of model.options overrides, each sampled and scored again on the trained model, "
                             "e.g. '[{\"guidance\": 0.0, \"eta\": 1.0}]'")
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    args = parser.parse_args(argv)
    epochs = {int(k): int(v) for k, v in (item.split("=") for item in args.epochs.split(","))}
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"cpu cores: {os.cpu_count()}, python {sys.version.split()[0]}, backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    ctx = mp.get_context("spawn")
    rows = []
    for size in sizes:
        for variant in args.variants.split(","):
            label = {"variant": variant, "size": size}
            row = run_in_fresh_process(ctx, bench_one, label, variant, size, epochs.get(size, 30), args)
            for done in [row, *row.pop("sampling", [])]:
                rows.append(done)
                print(json.dumps(done, default=float), flush=True)
    print()
    print_table(rows)
    if args.json:
        print(json.dumps(rows, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
