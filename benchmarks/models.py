"""Throughput of the model families: training steps/s and generated samples/s.

Usage:
    python benchmarks/models.py [--quick] [--families vae,gan,copula,rnn,transformer]
    KERAS_BACKEND=jax python benchmarks/models.py --quick

Synthetic data only (nothing is downloaded). Table data: half continuous columns, half
categorical segments of 5 categories. Token data: sequences of 128 tokens over a vocabulary
of 130 (pad/bos/eos + 127), the shape of eight-bar melodies. Figures are wall-clock on the
machine at hand, after warm-up (the first, compiling epoch and generation call are excluded); prints a plain-text table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from domaingen._quiet import keras_module
from domaingen.spec import DataSpec, Segment


def table_data(n: int, columns: int, rng: np.random.Generator) -> tuple[DataSpec, np.ndarray]:
    segs, parts = [], []
    for j in range(columns):
        if j % 2 == 0:
            segs.append(Segment(f"c{j}", "continuous"))
            parts.append(rng.normal(size=(n, 1)))
        else:
            segs.append(Segment(f"k{j}", "categorical", 5))
            parts.append(np.eye(5)[rng.integers(0, 5, n)])
    x = np.concatenate(parts, axis=1).astype("float32")
    return DataSpec("table", (x.shape[1],), tuple(segs)), x


def token_data(n: int, rng: np.random.Generator) -> tuple[DataSpec, np.ndarray]:
    spec = DataSpec("tokens", (128,), vocab_size=130, special_tokens={"pad": 0, "bos": 1, "eos": 2})
    x = rng.integers(3, 130, size=(n, 128)).astype("int32")
    x[:, 0] = 1
    x[:, -1] = 2
    return spec, x


class EpochClock:
    """Keras callback noting when each epoch ends; rates skip the first (compiling) epoch."""

    def __new__(cls):
        keras = keras_module()

        class _Clock(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.ends: list[float] = []

            def on_epoch_end(self, epoch, logs=None):
                self.ends.append(time.perf_counter())

            def steady_seconds(self) -> float:
                return (self.ends[-1] - self.ends[0]) / max(1, len(self.ends) - 1)

        return _Clock()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_table(family_name: str, rows: int, columns: int, gen_rows: int, epochs: int, batch: int):
    from importlib import import_module

    family = import_module(f"domaingen.models.{family_name}").family
    rng = np.random.default_rng(0)
    spec, x = table_data(rows, columns, rng)
    model = family.build(spec, {}, 0)
    kw = dict(batch_size=batch, learning_rate=1e-3, callbacks=[], seed=0)
    if family_name == "copula":
        seconds = timed(lambda: model.train_on(x, **kw))
        train = f"fit {rows / seconds:,.0f} rows/s"
    else:
        clock = EpochClock()
        model.train_on(x, epochs=epochs, **{**kw, "callbacks": [clock]})
        per_epoch = clock.steady_seconds()
        steps = max(1, rows // batch)
        train = f"{steps / per_epoch:,.1f} steps/s ({rows / per_epoch:,.0f} rows/s)"
    model.generate(min(gen_rows, 65536), seed=0)  # warm-up
    gen = timed(lambda: model.generate(gen_rows, seed=1))
    return f"{family_name} table {rows}x{columns}", train, f"{gen_rows / gen:,.0f} rows/s"


def bench_tokens(family_name: str, rows: int, gen_n: int, epochs: int, batch: int):
    from domaingen.models import autoregressive as ar

    family = ar.rnn_family if family_name == "rnn" else ar.transformer_family
    rng = np.random.default_rng(0)
    spec, x = token_data(rows, rng)
    model = family.build(spec, {}, 0)
    kw = dict(batch_size=batch, learning_rate=1e-3, callbacks=[], seed=0)
    clock = EpochClock()
    model.train_on(x, epochs=epochs, **{**kw, "callbacks": [clock]})
    steps = max(1, rows // batch)
    seconds = clock.steady_seconds()
    model.generate(min(gen_n, 64), seed=0, batch_size=gen_n)
    gen = timed(lambda: model.generate(gen_n, seed=1, batch_size=gen_n))
    return f"{family_name} tokens {rows}x128", f"{steps / seconds:,.2f} steps/s", f"{gen_n / gen:,.1f} seq/s (128 tok)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument("--families", default="copula,vae,gan,rnn,transformer")
    args = parser.parse_args()
    keras = keras_module()
    families = args.families.split(",")
    if args.quick:
        table_sizes = [(5000, 10)]
        gen_rows, epochs, tok_rows, tok_gen = 200_000, 3, 512, 256
    else:
        table_sizes = [(10000, 10), (50000, 30)]
        gen_rows, epochs, tok_rows, tok_gen = 1_000_000, 4, 2048, 1024
    results = []
    for name in ("copula", "vae", "gan"):
        if name in families:
            for rows, cols in table_sizes:
                results.append(bench_table(name, rows, cols, gen_rows, epochs, 500))
    for name in ("rnn", "transformer"):
        if name in families:
            results.append(bench_tokens(name, tok_rows, tok_gen, 3, 64))
    print(f"backend: {keras.backend.backend()}")
    header = ("model / data", "training", "generation")
    widths = [max(len(r[i]) for r in [header, *results]) for i in range(3)]
    for row in [header, tuple("-" * w for w in widths), *results]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    main()
