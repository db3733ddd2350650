"""Table sampling: the plain reference (``_table_reference.sample_rows``, NumPy, segment by
segment) against the fast path (``TableLayout.columns_given``, one compiled function with
every segment of a kind batched), on the same outputs; the fast rate includes drawing its
random numbers, the reference is handed them.

Usage:
    python benchmarks/table_sampling.py [--rows 100000] [--columns 30] [--repeats 5]

Synthetic decoder outputs: half continuous columns, half categorical segments of 5
categories, plus a binary flag per 10 columns; the rate is the median of ``--repeats``
timed calls after one warm-up (which compiles the fast path). Prints rows/s of each and
their ratio.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from domaingen._quiet import keras_module  # noqa: E402
from domaingen.spec import DataSpec, Segment  # noqa: E402


def _spec(columns: int) -> DataSpec:
    segments = []
    for j in range(columns):
        segments.append(Segment(f"c{j}", "continuous") if j % 2 == 0 else Segment(f"k{j}", "categorical", 5))
        if j % 10 == 9:
            segments.append(Segment(f"b{j}", "binary"))
    return DataSpec("table", (sum(s.size for s in segments),), tuple(segments))


def _median_rate(fn, rows: int, repeats: int) -> float:
    fn()  # warm-up: compiles the fast path
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return rows / float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    keras = keras_module()
    ops = keras.ops
    from domaingen.models import backends
    from domaingen.models._random import TensorSeed
    from domaingen.models._table import TableLayout
    from domaingen.models._table_reference import sample_rows

    spec = _spec(args.columns)
    layout = TableLayout(spec)
    rng = np.random.default_rng(0)
    out = rng.normal(size=(args.rows, spec.width)).astype("float32")
    log_sigma = (rng.normal(size=spec.width) * 0.3).astype("float32")
    cols = ops.transpose(ops.convert_to_tensor(out))
    sigma = ops.convert_to_tensor(log_sigma)

    def fast_fn(cols, sigma, seed):
        return layout.columns_from(cols, TensorSeed(seed), sigma)

    fast = backends.StatelessFunction(keras.Model(), fast_fn, jit=backends.resolve_jit(None, default=True))
    seed = ops.convert_to_tensor(np.array([1, 2], "int32"))
    draws = {k: None if v is None else ops.convert_to_numpy(v) for k, v in layout.draws(args.rows, TensorSeed(seed), True).items()}
    fast_rate = _median_rate(lambda: ops.convert_to_numpy(fast(cols, sigma, seed)), args.rows, args.repeats)
    plain_rate = _median_rate(lambda: sample_rows(layout, out, draws, log_sigma), args.rows, args.repeats)
    print(f"backend: {backends.NAME}; {args.rows} rows, {len(spec.segments)} segments, width {spec.width}")
    print(f"{'path':<36} {'rows/s':>12}")
    print(f"{'reference (_table_reference)':<36} {plain_rate:>12,.0f}")
    print(f"{'fast (TableLayout.columns_from)':<36} {fast_rate:>12,.0f}")
    print(f"fast / reference: x{fast_rate / plain_rate:.2f}")


if __name__ == "__main__":
    main()
