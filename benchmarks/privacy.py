"""Differential-privacy benchmark: what each epsilon costs and what it protects.

For every (data set, family, epsilon), in a fresh process: train with ``train.privacy``
(epsilon, delta 1e-5, max_grad_norm 1) and the public bounds below, generate, and print

- quality (Column Shapes, Column Pair Trends) and the ML-efficacy ratio (the tabular
  plugin's report: a model trained on synthetic rows scored on the holdout, over the same
  model trained on real rows);
- a membership-inference figure: a DCR distinguisher's AUC. Each real row's score is
  minus its distance to the closest synthetic row (SDMetrics' DCR distance, ranges of
  training + holdout); the AUC of telling training rows (members) from holdout rows
  (non-members) by that score. 0.5: the synthetic table says nothing about who was in
  the training set; it should fall towards 0.5 as epsilon shrinks;
- the epsilon spent (from meta.json) and the noise multiplier.

``inf`` is the ordinary, non-private recipe (the data-dependent codec, plain training) at
the same epochs and batch size: what privacy gives up. Under DP every column uses the
public bounds of ``PUBLIC`` (breast cancer: the shipped recipe's; diabetes: below),
rounded generously from what the measurements can be, never the data's own min / max.
The GAN runs with ``pac: 1, conditional: false`` under DP (what DP-SGD needs).

    python benchmarks/privacy.py                                  # vae, both tables, epsilon 1, 3, 10, inf
    python benchmarks/privacy.py --families vae,copula,gan --epochs 30 --batch-size 256
    python benchmarks/privacy.py --datasets breast_cancer --epsilons 1,inf --epochs 2 --n-synthetic 500  # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _fresh import run_in_fresh_process  # noqa: E402

ROOT = Path(__file__).parents[1]
TARGETS = {"breast_cancer": ("diagnosis", "classification"), "diabetes": ("target", "regression")}
DIABETES_BOUNDS = {
    "age": {"min": 0, "max": 120, "decimals": 0},
    "sex": {"categories": [1, 2]},
    "bmi": {"min": 10, "max": 60},
    "bp": {"min": 40, "max": 200},
    "s1": {"min": 50, "max": 400},
    "s2": {"min": 20, "max": 300},
    "s3": {"min": 10, "max": 150},
    "s4": {"min": 1, "max": 12},
    "s5": {"min": 2, "max": 8},
    "s6": {"min": 40, "max": 160},
    "target": {"min": 0, "max": 400, "decimals": 0},
}


def public_columns(dataset: str) -> dict:
    """The public bounds / category lists of every column, all declared never missing."""
    if dataset == "breast_cancer":
        from ruamel.yaml import YAML

        recipe = YAML(typ="safe").load((ROOT / "recipes" / "tabular-breast-cancer-dp.yaml").read_text())
        return recipe["data"]["options"]["columns"]
    return {name: {**facts, "missing": False} for name, facts in DIABETES_BOUNDS.items()}


def document(dataset: str, family: str, epsilon: float, args) -> dict:
    """The benchmark recipe of one job: private (public bounds, train.privacy) unless epsilon is inf."""
    target, task = TARGETS[dataset]
    private = math.isfinite(epsilon)
    model_options = {"pac": 1, "conditional": False} if family == "gan" and private else {}
    data_options = {"columns": public_columns(dataset)} if private else ({"transform": "quantile"} if family == "copula" else {})
    train = {"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate}
    if private:
        train["privacy"] = {"epsilon": epsilon, "delta": args.delta, "max_grad_norm": args.max_grad_norm, "accountant": args.accountant}
    return {
        "schema_version": 1,
        "name": f"privacy-{family}-{dataset}-{epsilon}",
        "seed": args.seed,
        "data": {"plugin": "tabular", "source": f"sklearn:{dataset}", "options": data_options},
        "model": {"family": family, "options": model_options},
        "train": train,
        "generate": {"n": args.n_synthetic},
        "evaluate": {"enabled": True, "holdout": 0.2, "options": {"target": target, "task": task}},
    }


def membership_auc(train, holdout, synthetic, types: dict) -> float:
    """AUC of telling training rows from holdout rows by minus their DCR to the synthetic rows."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from domaingen_plugins.tabular.metrics import dcr

    cols = list(types)
    scale = pd.concat([train[cols], holdout[cols]], ignore_index=True)
    d_train = dcr(train[cols], synthetic[cols], types, scale)
    d_hold = dcr(holdout[cols], synthetic[cols], types, scale)
    labels = np.concatenate([np.ones(len(d_train)), np.zeros(len(d_hold))])
    return float(roc_auc_score(labels, -np.concatenate([d_train, d_hold])))


def bench_one(dataset: str, family: str, epsilon: float, args) -> dict:
    """Train, generate and evaluate one job (call in a fresh process)."""
    import domaingen as dg
    from domaingen import registry
    from domaingen_plugins.tabular.metrics import sdtypes

    recipe = dg.recipe_from_dict(document(dataset, family, epsilon, args), base_dir=".", source="<benchmark>")
    train, holdout = dg.load_data(recipe)
    plugin = registry.get_plugin("tabular")
    row = {"dataset": dataset, "family": family, "epsilon": epsilon}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bundle = dg.train(recipe, Path(tmp) / "bundle", data=(train, holdout))
        row["fit_s"] = time.perf_counter() - started
        synthetic = bundle.generate(args.n_synthetic, seed=0)
        spent = bundle.meta.get("privacy")
    if spent:
        training = spent["where"]["training"]
        row["spent"] = spent["epsilon"]
        row["sigma"] = training.get("noise_multiplier", training.get("noise_multiplier_marginals"))
    report = plugin.evaluate(train, synthetic, holdout, recipe.evaluate_options, None, np.random.default_rng(0))
    s = report["summary"]
    row.update(quality=s["quality_score"], shapes=s.get("column_shapes"), pairs=s.get("column_pair_trends"),
               ml_efficacy=s["ml_efficacy_ratio"])
    row["mia_auc"] = membership_auc(train, holdout, synthetic, sdtypes(train, recipe.evaluate_options.column_types))
    return row


def _fmt(value, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def print_table(rows: list[dict]) -> None:
    head = f"{'dataset':<14}{'family':<8}{'eps':>6}{'spent':>8}{'sigma':>8}{'quality':>9}{'shapes':>8}{'pairs':>8}{'ML eff':>8}{'MIA AUC':>9}{'fit s':>7}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['dataset']:<14}{r['family']:<8}{r['epsilon']:>6}  error: {r['error']}")
            continue
        print(f"{r['dataset']:<14}{r['family']:<8}{r['epsilon']:>6}{_fmt(r.get('spent'), '.2f'):>8}{_fmt(r.get('sigma'), '.2f'):>8}"
              f"{_fmt(r['quality'], '.3f'):>9}{_fmt(r['shapes'], '.3f'):>8}{_fmt(r['pairs'], '.3f'):>8}"
              f"{_fmt(r['ml_efficacy'], '.3f'):>8}{_fmt(r['mia_auc'], '.3f'):>9}{_fmt(r['fit_s'], '.1f'):>7}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="vae")
    parser.add_argument("--datasets", default="breast_cancer,diabetes")
    parser.add_argument("--epsilons", default="1,3,10,inf", help="comma-separated; inf: the non-private recipe")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument("--accountant", default="rdp", choices=["rdp", "pld"])
    parser.add_argument("--n-synthetic", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)
    epsilons = [float(e) for e in args.epsilons.split(",")]
    ctx = mp.get_context("spawn")
    rows = []
    for dataset in args.datasets.split(","):
        for family in args.families.split(","):
            for epsilon in epsilons:
                label = {"dataset": dataset, "family": family, "epsilon": epsilon}
                rows.append(run_in_fresh_process(ctx, bench_one, label, dataset, family, epsilon, args))
                print(f"done: {dataset} {family} epsilon={epsilon}", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
