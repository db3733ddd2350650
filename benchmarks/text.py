"""Text benchmark: training and generation speed, memory and held-out bits per character.

For every model size, in a fresh process, on ``pydoc:topics`` (the Python reference's
help topics, paragraphs of at least 40 characters, 10 % held out; character tokens,
``--seq-len`` windows):

- training: tokens per second over the whole fit (epochs × training window tokens /
  seconds, tracing included) and the fit's seconds; the model's parameter count;
- generation: tokens per second batched (``--batch`` sequences of ``--gen-tokens`` tokens
  at once) and single-stream (one sequence), after a warm-up, median of ``--timings``;
- quality: the model's held-out bits per character beside order-5 and order-8
  Kneser-Ney character models fitted on the same training split (the numbers to beat);
- peak memory of the process.

    python benchmarks/text.py                         # sizes small and 1m, 2 epochs
    python benchmarks/text.py --sizes 1m --epochs 10  # a longer run of the ~1M-parameter model
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

SIZES = {  # transformer options; "1m" is about a million parameters
    "small": {"dim": 64, "heads": 4, "layers": 2, "ff_dim": 128, "dropout": 0.0},
    "1m": {"dim": 128, "heads": 4, "layers": 5, "ff_dim": 384, "dropout": 0.0},
}


def _document(size: str, args) -> dict:
    return {
        "schema_version": 1,
        "name": f"bench-text-{size}",
        "seed": args.seed,
        "data": {"plugin": "text", "source": "pydoc:topics",
                 "options": {"split": "paragraphs", "min_chars": 40, "tokenizer": "char", "seq_len": args.seq_len,
                             **({"max_records": args.max_records} if args.max_records else {})}},
        "model": {"family": "transformer", "options": SIZES[size]},
        "train": {"epochs": args.epochs, "batch_size": 64, "learning_rate": 0.002},
        "generate": {"n": 16},
        "evaluate": {"enabled": True, "holdout": 0.1},
    }


def _median_seconds(call, timings: int) -> float:
    seconds = []
    for _ in range(timings):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def bench_one(size: str, args) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from domaingen import pipeline
    from domaingen.recipe import recipe_from_dict
    from domaingen_plugins.text.evaluation import model_bits_per_char
    from domaingen_plugins.text.metrics import KneserNeyCharModel

    recipe = recipe_from_dict(_document(size, args), base_dir=Path("."), source=f"bench:{size}")
    train, holdout = pipeline.load_data(recipe)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = pipeline.train(recipe, Path(tmp) / "bundle", data=(train, holdout))
        fit_seconds = float(bundle.meta["seconds"]["train"])
        model, codec = bundle.model, bundle.codec
        windows = len(codec.encode(train).x)
        length = 1 + args.gen_tokens
        controls = {"max_length": length, "temperature": 1.0}
        model.sample(args.batch, seed=0, controls=controls, batch_size=args.batch)  # warm-ups: trace and compile
        model.sample(1, seed=0, controls=controls)  # the sampling loop for each batch shape
        batched = _median_seconds(lambda: model.sample(args.batch, seed=1, controls=controls, batch_size=args.batch), args.timings)
        single = _median_seconds(lambda: model.sample(1, seed=2, controls=controls), args.timings)
        bpc = model_bits_per_char(model, codec, holdout)
    train_texts = [r.text for r in train]
    kn = {order: KneserNeyCharModel.fit(train_texts, order=order).bits_per_char([r.text for r in holdout]) for order in (5, 8)}
    return {
        "size": size,
        "params": int(model.count_params()),
        "epochs": args.epochs,
        "train_chars": sum(len(t) for t in train_texts),
        "fit_s": fit_seconds,
        "train_tok_s": args.epochs * windows * (codec.seq_len - 1) / fit_seconds,
        "gen_tok_s_batched": args.batch * args.gen_tokens / batched,
        "gen_tok_s_single": args.gen_tokens / single,
        "bpc_model": bpc,
        "bpc_kn5": kn[5],
        "bpc_kn8": kn[8],
        "peak_mib": rss_mib(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--max-records", type=int, default=None)
    parser.add_argument("--batch", type=int, default=256, help="sequences per batched generation call")
    parser.add_argument("--gen-tokens", type=int, default=128, help="tokens generated per sequence")
    parser.add_argument("--timings", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"cpu cores: {os.cpu_count()}, python {sys.version.split()[0]}, backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}")
    ctx = mp.get_context("spawn")
    rows = []
    for size in args.sizes.split(","):
        rows.append(run_in_fresh_process(ctx, bench_one, {"size": size}, size, args))
        print(json.dumps(rows[-1], default=float), flush=True)
    cols = [("size", "s"), ("params", ",d"), ("epochs", "d"), ("fit_s", ".1f"), ("train_tok_s", ",.0f"),
            ("gen_tok_s_batched", ",.0f"), ("gen_tok_s_single", ",.0f"), ("bpc_model", ".3f"), ("bpc_kn5", ".3f"),
            ("bpc_kn8", ".3f"), ("peak_mib", ",.0f")]
    print("\n" + " | ".join(c for c, _ in cols))
    for row in rows:
        print(" | ".join("—" if row.get(c) is None else format(row[c], f) for c, f in cols) if "error" not in row else f"{row['size']}: ERROR {row['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
