"""Tabular benchmark: SDGym's columns for each model family and data set.

For every (family, data set) pair, in a fresh process:

- fit time: codec fit + model training, seconds (as SDV's ``fit`` covers its data
  transformer and model); the rest of ``domaingen.train`` (saving
  the bundle and reloading it with checksums verified) is printed apart as ``bundle s``;
- peak memory: the process's peak resident set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``)
  and its growth over the RSS measured after importing Keras/TensorFlow (so the runtime's own
  ~0.5-1 GiB is shown apart from what the data, model and evaluation add);
- sample time: rows generated per second after a warm-up, end to end (``bundle.generate``,
  decode included) and for the model alone (``model.generate``, encoded arrays);
- quality score with its two halves (Column Shapes, Column Pair Trends), privacy score,
  ML-efficacy ratio (the tabular plugin's report).

When the ``sdv`` package happens to be importable (it is never a dependency), its
GaussianCopulaSynthesizer, TVAESynthesizer and CTGANSynthesizer run on the same training
rows with the same epochs and batch size (each in a fresh process of its own, after
domaingen's run), are evaluated the same way, and the ratios domaingen / SDV are printed.

``--datasets`` also takes two tables built by this script (deterministic for ``--seed``,
``--built-rows`` rows), with the quirks of real clinical tables: ``coded`` (categories
coded as numbers with NaN: 0/1 flag, 1/2 arm, 1-4 stage, 0/0.5/1 grade, beside lab values
that depend on them; target ``stage``) and ``blocks`` (columns B-G missing together for a
fixed 25 % of the rows and 5 % at random elsewhere; target ``outcome``). Column Shapes,
Column Pair Trends and the quality with SDV's detected column types (``q sdv``) are
printed per family.

``--rows N`` builds a large table (breast-cancer rows resampled with 5 % Gaussian jitter,
plus an identifier and an admission date) to check that training + generation +
evaluation stay within a few GiB. ``--repeats N`` runs every job N times in fresh
processes and prints medians, with the spread of the training-speed ratio.

    python benchmarks/tabular.py --families copula,vae --datasets breast_cancer --epochs 100
    python benchmarks/tabular.py --families vae --rows 1000000 --epochs 1 --n-synthetic 100000
    python benchmarks/tabular.py --families vae,gan,diffusion --sample-rows 20000 --sample-timings 1 --no-sdv
    python benchmarks/tabular.py --families copula,vae,gan,diffusion --datasets coded,blocks --epochs 100
    python benchmarks/tabular.py --families vae,diffusion,diffusion-distilled --no-sdv   # the one-step student beside DDIM
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _fresh import rss_mib, run_in_fresh_process  # noqa: E402

TARGETS = {"breast_cancer": ("diagnosis", "classification"), "diabetes": ("target", "regression"), "large": ("diagnosis", "classification"),
           "coded": ("stage", "classification"), "blocks": ("outcome", "classification")}
SDV_NAMES = {"copula": "GaussianCopulaSynthesizer", "vae": "TVAESynthesizer", "gan": "CTGANSynthesizer"}


_rss_mib = rss_mib


def make_large_table(rows: int, path: Path, seed: int = 0) -> Path:
    """Breast-cancer rows resampled to ``rows`` with jitter, written as Parquet."""
    from domaingen_plugins.tabular import DataOptions, plugin

    rng = np.random.default_rng(seed)
    base = plugin.load("sklearn:breast_cancer", DataOptions(), Path("."))
    idx = rng.integers(0, len(base), rows)
    table = base.iloc[idx].reset_index(drop=True)
    numeric = table.columns[:-1]
    noise = rng.normal(0.0, 0.05, size=(rows, len(numeric))) * base[numeric].std().to_numpy()
    table[numeric] = np.clip(table[numeric].to_numpy() + noise, 0.0, None).round(4)
    table.insert(0, "patient_id", np.arange(rows, dtype=np.int64) + 10_000_000)
    days = rng.integers(0, 20 * 365, rows).astype("timedelta64[D]")
    table["admitted"] = (np.datetime64("2000-01-01") + days).astype("datetime64[s]")
    table.to_parquet(path, index=False)
    return path


def make_coded_table(rows: int, path: Path, seed: int = 0) -> Path:
    """Categories coded as numbers, with NaN, as clinical tables write them (Parquet keeps the floats)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    stage = rng.choice([1, 2, 3, 4], rows, p=[0.4, 0.3, 0.2, 0.1])
    flag = (rng.random(rows) < 0.15 + 0.1 * stage).astype(float)
    flag[rng.random(rows) < 0.1] = np.nan
    grade = rng.choice([0.0, 0.5, 1.0], rows, p=[0.5, 0.3, 0.2])
    arm = rng.choice([1, 2], rows)
    lab = np.round(rng.normal(5 + stage + 2 * grade - 0.5 * arm, 1.5, rows), 2)
    grade[rng.random(rows) < 0.15] = np.nan
    age = np.round(rng.normal(55 + 3 * stage, 9, rows), 0)
    pd.DataFrame({"stage": stage.astype(float), "flag": flag, "grade": grade, "arm": arm, "lab": lab,
                  "age": age}).to_parquet(path, index=False)
    return path


def make_blocks_table(rows: int, path: Path, seed: int = 0) -> Path:
    """Columns B-G missing together on a fixed 25 % of the rows (a sub-study), 5 % at random elsewhere."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    age = np.round(rng.normal(60, 10, rows), 1)
    block = rng.random(rows) < 0.25
    table = pd.DataFrame({"age": age})
    for j, col in enumerate("BCDEFG"):
        values = np.round(0.5 * age + rng.normal(0, 5, rows) + j, 2)
        values[block | (rng.random(rows) < 0.05)] = np.nan
        table[col] = values
    table["outcome"] = np.where(age + rng.normal(0, 8, rows) > 62, "event", "none")
    table.to_parquet(path, index=False)
    return path


BUILT = {"coded": make_coded_table, "blocks": make_blocks_table}


# --families also takes these names: a family with options of its own, benchmarked as a
# row of its own (--family-options etc. of the family, then of the variant, apply)
VARIANTS = {"diffusion-distilled": ("diffusion", {"distill": True})}


def _for(option: str, family: str) -> dict:
    """A JSON ``{family: settings}`` option's settings for ``family`` (a variant also
    takes its base family's, overridden by its own)."""
    table = json.loads(option)
    base = VARIANTS.get(family, (family,))[0]
    return {**table.get(base, {}), **table.get(family, {})} if base != family else table.get(family, {})


def _document(dataset: str, source: str, family: str, args) -> dict:
    target, task = TARGETS[dataset]
    base, variant_options = VARIANTS.get(family, (family, {}))
    data_options = {"transform": "quantile"} if family == "copula" else {}
    data_options.update(_for(args.family_data_options, family))
    if dataset == "large":
        data_options["columns"] = {"patient_id": {"type": "id"}}
    return {
        "schema_version": 1,
        "name": f"bench-{family}-{dataset}",
        "seed": args.seed,
        "data": {"plugin": "tabular", "source": source, "options": data_options},
        "model": {"family": base, "options": {**json.loads(args.model_options), **variant_options,
                                              **_for(args.family_options, family)}},
        "train": {**{"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate},
                  **_for(args.family_train, family)},
        "generate": {"n": args.n_synthetic, "batch_size": 50_000, "format": "parquet"},
        "evaluate": {"enabled": True, "holdout": 0.2, "options": {"target": target, "task": task}},
    }


def _recipe_and_data(family: str, dataset: str, source: str, args):
    """The benchmark recipe of one job and its (train, holdout) split: both tools get the same rows."""
    import domaingen as dg

    recipe = dg.recipe_from_dict(_document(dataset, source, family, args), base_dir=".", source="<benchmark>")
    return (recipe, *dg.load_data(recipe))


def bench_one(family: str, dataset: str, source: str, args) -> dict:
    """Train, sample and evaluate one family on one data set (call in a fresh process)."""
    import domaingen as dg
    from domaingen import registry

    for name in (registry.get_plugin("tabular").auto_families if family == "auto" else [family]):  # auto: its candidates
        registry.get_family(VARIANTS.get(name, (name,))[0])  # import the family (and Keras) before the baseline
    import sklearn.cluster  # noqa: F401  (the codec's k-means++; SDV's libraries are imported before its clock too)
    baseline = _rss_mib()
    recipe, train, holdout = _recipe_and_data(family, dataset, source, args)
    plugin = registry.get_plugin("tabular")
    row = {"family": family, "dataset": dataset, "rows": len(train) + len(holdout), "columns": train.shape[1]}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        bundle = dg.train(recipe, Path(tmp) / "bundle", data=(train, holdout))
        total = time.perf_counter() - started
        seconds = bundle.meta["seconds"]  # what SDV's fit() covers: the data transformer and the model
        row["fit_s"] = seconds["codec_fit"] + seconds["train"]
        selection = bundle.meta.get("model_selection")
        if selection:  # family auto: the candidates' training counts too; the row names the winner
            row["fit_s"] += sum(c["train_seconds"] for c in selection["candidates"])
            row["family"] = f"auto:{selection['chosen']}"
        row["bundle_s"] = total - row["fit_s"]  # saving and verified reload of the bundle
        synthetic = bundle.generate(args.n_synthetic, seed=0)
        bundle.model.generate(args.sample_batch, seed=2, batch_size=args.sample_batch)  # compile for the timed batch size
        # medians over several timed calls: one call on a shared 2-core machine swings by up to 1.5x
        row["sample_rows_per_s"] = _median_rate(
            lambda k: bundle.generate(args.sample_rows, seed=10 + k, batch_size=args.sample_batch), args.sample_rows, args.sample_timings
        )
        row["model_rows_per_s"] = _median_rate(
            lambda k: bundle.model.generate(args.sample_rows, seed=10 + k, batch_size=args.sample_batch), args.sample_rows, args.sample_timings
        )
    started = time.perf_counter()
    report = plugin.evaluate(train, synthetic, holdout, recipe.evaluate_options, None, np.random.default_rng(0))
    row["evaluate_s"] = time.perf_counter() - started
    s = report["summary"]
    row.update(quality=s["quality_score"], privacy=s["privacy_score"], ml_efficacy=s["ml_efficacy_ratio"])
    row.update(_quality_properties(report))
    row["peak_rss_mib"] = _rss_mib()
    row["rss_growth_mib"] = row["peak_rss_mib"] - baseline
    return row


def _quality_properties(report: dict) -> dict:
    """The two halves of the quality score (SDMetrics' QualityReport properties), from the
    report's summary: ``shapes`` (Column Shapes) and ``pairs`` (Column Pair Trends)."""
    s = report["summary"]
    return {"shapes": s.get("column_shapes"), "pairs": s.get("column_pair_trends"),
            "quality_sdv_types": s.get("quality_score_sdv_types")}


def _median_rate(call, rows: int, timings: int) -> float:
    """Rows per second of ``call(k)`` (which makes ``rows`` rows), median of ``timings`` calls."""
    seconds = []
    for k in range(max(1, timings)):
        started = time.perf_counter()
        call(k)
        seconds.append(time.perf_counter() - started)
    return rows / float(np.median(seconds))


def bench_sdv(family: str, dataset: str, source: str, args) -> dict:
    """The matching SDV synthesizer on the same training rows, epochs and batch size, in a
    process of its own (call in a fresh process; sdv must be importable)."""
    # SDV's torch loads Triton, and Triton loaded after TensorFlow segfaults (both bundle
    # LLVM); the recipe below imports Keras, so the peer's stack comes first
    warnings.filterwarnings("ignore", category=UserWarning, module=r"sdv\.")  # its advice to save metadata, once per fit
    import sdv.single_table as st
    from sdv.metadata import Metadata

    try:
        import torch._dynamo  # noqa: F401  (pulls in Triton where torch has it)
    except ImportError:
        pass
    from domaingen import registry

    recipe, train, holdout = _recipe_and_data(family, dataset, source, args)
    try:
        return _fit_sdv(st, Metadata, family, train, holdout, recipe, registry.get_plugin("tabular"), args)
    except Exception as exc:  # an SDV failure must not hide domaingen's own figures
        return {"error": f"{type(exc).__name__}: {exc}"}


def _fit_sdv(st, Metadata, family, train, holdout, recipe, plugin, args) -> dict:
    sdv_1 = hasattr(Metadata, "detect_from_dataframe")  # SDV 2 takes and returns {table name: DataFrame}
    metadata = Metadata.detect_from_dataframe(train) if sdv_1 else Metadata.detect_from_dataframes({"table": train})
    cls = getattr(st, SDV_NAMES[family])
    kwargs = {} if family == "copula" else {"epochs": args.epochs, "batch_size": args.batch_size, "enable_gpu": False}
    model = cls(metadata, **kwargs)
    started = time.perf_counter()
    model.fit(train if sdv_1 else {"table": train})
    fit_s = time.perf_counter() - started
    synthetic = model.sample(args.n_synthetic)
    if isinstance(synthetic, dict):
        synthetic = synthetic["table"]
    started = time.perf_counter()
    model.sample(args.sample_rows)
    rate = args.sample_rows / (time.perf_counter() - started)
    report = plugin.evaluate(train, synthetic, holdout, recipe.evaluate_options, None, np.random.default_rng(0))
    s = report["summary"]
    return {"fit_s": fit_s, "sample_rows_per_s": rate, "quality": s["quality_score"], "privacy": s["privacy_score"],
            "ml_efficacy": s["ml_efficacy_ratio"], **_quality_properties(report)}


def _run_in_fresh_process(ctx, job, family, dataset, source, args) -> dict:
    """``job`` (``bench_one`` or ``bench_sdv``) in a new process (``_fresh.py``)."""
    return run_in_fresh_process(ctx, job, {"family": family, "dataset": dataset}, family, dataset, source, args)


def median_row(runs: list[dict]) -> dict:
    """One row from repeated runs of a job: the median of every number (SDV's too), and
    the per-run training-speed ratios against SDV under ``speed_runs``."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return runs[0]

    def median_of(dicts):
        out = dict(dicts[0])
        for key, value in dicts[0].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values = [d[key] for d in dicts if isinstance(d.get(key), (int, float))]
                if values:
                    middle = float(np.median(values))
                    out[key] = int(round(middle)) if isinstance(value, int) else middle
        return out

    row = median_of(ok)
    row["repeats"] = len(ok)
    sdvs = [r["sdv"] for r in ok if r.get("sdv") and "error" not in r["sdv"]]
    if sdvs:
        row["sdv"] = median_of(sdvs)
        row["speed_runs"] = [r["sdv"]["fit_s"] / r["fit_s"] for r in ok if r.get("sdv") and "error" not in r["sdv"]]
    return row


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict]) -> None:
    head = f"{'family':19} {'dataset':14} {'rows':>9} {'fit s':>8} {'bundle s':>8} {'peak MiB':>9} {'+MiB':>7} {'rows/s':>10} {'model r/s':>10} {'quality':>8} {'shapes':>7} {'pairs':>7} {'q sdv':>7} {'privacy':>8} {'ML eff.':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['family']:19} {r['dataset']:14} ERROR {r['error']}")
            continue
        print(
            f"{r['family']:19} {r['dataset']:14} {r['rows']:>9} {r['fit_s']:>8.2f} {r['bundle_s']:>8.2f} {r['peak_rss_mib']:>9.0f} "
            f"{r['rss_growth_mib']:>7.0f} {r['sample_rows_per_s']:>10.0f} {r['model_rows_per_s']:>10.0f} {_fmt(r['quality'], '8.3f')} "
            f"{_fmt(r.get('shapes'), '7.3f')} {_fmt(r.get('pairs'), '7.3f')} {_fmt(r.get('quality_sdv_types'), '7.3f')} {_fmt(r['privacy'], '8.3f')} {_fmt(r['ml_efficacy'], '8.3f')}"
        )
    for r in rows:
        sdv = r.get("sdv")
        if sdv and "error" in sdv:
            print(f"vs SDV {SDV_NAMES[r['family']]} on {r['dataset']}: SDV failed: {sdv['error']}")
        elif sdv:
            ratio = lambda k: (r[k] / sdv[k]) if r.get(k) and sdv.get(k) else None  # noqa: E731
            speed = sdv["fit_s"] / r["fit_s"] if r.get("fit_s") else None
            runs = r.get("speed_runs", [])
            spread = f" [runs x{min(runs):.2f}-x{max(runs):.2f}]" if len(runs) > 1 else ""
            print(
                f"vs SDV {SDV_NAMES[r['family']]} on {r['dataset']}: SDV fit {sdv['fit_s']:.2f} s, "
                f"training speed x{_fmt(speed, '.2f')}{spread} (SDV fit time / ours), "
                f"sample rate x{_fmt(ratio('sample_rows_per_s'), '.2f')}, quality x{_fmt(ratio('quality'), '.3f')} "
                f"(SDV shapes {_fmt(sdv.get('shapes'), '.3f')}, pairs {_fmt(sdv.get('pairs'), '.3f')}), "
                f"privacy x{_fmt(ratio('privacy'), '.3f')}, ML efficacy x{_fmt(ratio('ml_efficacy'), '.3f')}"
            )
    print("peak MiB: process peak RSS (resource.getrusage ru_maxrss) incl. the TensorFlow runtime; "
          "+MiB: growth over the RSS after importing the model family")
    print("quality: mean of shapes (Column Shapes: KS / TV complement per column) and pairs (Column Pair "
          "Trends: correlation / contingency similarity over the pairs with a real trend), as SDMetrics' QualityReport; "
          "q sdv: the same score with the column types SDV's Metadata.detect_from_dataframe gives the table")
    print("rows/s: bundle.generate end to end (decoded, filtered table); model r/s: the model's own "
          "generate; each the median of --sample-timings calls of --sample-rows rows")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", default="copula,vae,gan")
    parser.add_argument("--datasets", default="breast_cancer,diabetes")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="default: each family's own (vae 1e-3 as TVAE, gan 2e-4 as CTGAN)")
    parser.add_argument("--n-synthetic", type=int, default=10_000)
    parser.add_argument("--sample-rows", type=int, default=200_000, help="rows timed for the sampling rate (after a warm-up)")
    parser.add_argument("--sample-timings", type=int, default=5, help="timed sampling calls; the rate is their median")
    parser.add_argument("--sample-batch", type=int, default=100_000, help="rows per model call when timing sampling")
    parser.add_argument("--built-rows", type=int, default=2000, help="rows of the built tables (--datasets coded,blocks)")
    parser.add_argument("--rows", type=int, default=0, help="also benchmark a resampled table of this many rows")
    parser.add_argument("--model-options", default="{}",
                        help="JSON recipe model.options for every family run, e.g. '{\"generator_hidden\": [128, 128]}'")
    parser.add_argument("--family-options", default="{}",
                        help="JSON {family: model.options} for one family's runs, e.g. '{\"diffusion\": {\"steps\": 10}}'")
    parser.add_argument("--family-data-options", default="{}",
                        help="JSON {family: data.options} for one family's runs, e.g. '{\"diffusion\": {\"transform\": \"quantile\"}}'")
    parser.add_argument("--family-train", default="{}",
                        help="JSON {family: train settings} for one family's runs, e.g. '{\"diffusion\": {\"batch_size\": 64}}'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1,
                        help="fresh-process runs per family and data set; the table shows medians "
                             "(timings of both tools vary by ~20 %% between runs)")
    parser.add_argument("--no-sdv", dest="sdv", action="store_false", help="skip SDV even when installed")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    args = parser.parse_args(argv)

    families = [f for f in args.families.split(",") if f]
    datasets = [d for d in args.datasets.split(",") if d]
    unknown = [d for d in datasets if d not in TARGETS or d == "large"]
    if unknown:
        parser.error(f"unknown --datasets {unknown}; use {', '.join(k for k in TARGETS if k != 'large')} (and --rows for 'large')")
    tmp = tempfile.TemporaryDirectory()
    sources = {d: str(BUILT[d](args.built_rows, Path(tmp.name) / f"{d}.parquet", args.seed)) if d in BUILT else f"sklearn:{d}"
               for d in datasets}
    jobs = [(f, d, sources[d]) for d in datasets for f in families]
    if args.rows:
        path = make_large_table(args.rows, Path(tmp.name) / "large.parquet", args.seed)
        jobs += [(f, "large", str(path)) for f in families]
    ctx = mp.get_context("spawn")
    with_sdv = args.sdv and importlib.util.find_spec("sdv") is not None
    rows = []
    for family, dataset, source in jobs:
        runs = []
        for _ in range(max(1, args.repeats)):
            runs.append(_run_in_fresh_process(ctx, bench_one, family, dataset, source, args))
            if "error" in runs[-1]:
                print(f"failed: {family} on {dataset}: {runs[-1]['error']}", file=sys.stderr, flush=True)
            elif with_sdv and family in SDV_NAMES:
                runs[-1]["sdv"] = _run_in_fresh_process(ctx, bench_sdv, family, dataset, source, args)
        rows.append(median_row(runs))
        print(f"done: {family} on {dataset}", file=sys.stderr, flush=True)
    tmp.cleanup()
    print_table(rows)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
