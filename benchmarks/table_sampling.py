"""Table sampling: the plain reference (``_table_reference.sample_rows``, NumPy, segment by
segment) against the fast path (``TableLayout.columns_from``, one compiled function with
every segment of a kind batched), on the same decoder outputs.

Usage:
    python benchmarks/table_sampling.py [--rows 100000] [--columns 30] [--repeats 5]

Synthetic decoder outputs: half continuous columns, half categorical segments of 5
categories, plus a binary flag per 10 columns. Each path draws its own random numbers
(NumPy's generator for the reference, ``keras.random`` inside the compiled function for
the fast path) and returns NumPy rows. The fast path is timed as the families run it
(compiled as ``backends.resolve_jit`` decides for sampling, the batch cut into pieces by
``in_row_chunks``) and as one piece. Rates are the median of ``--repeats`` timed calls
after one warm-up (which compiles the fast path); the last line is their ratio.
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
    from domaingen.models._sampling import in_row_chunks
    from domaingen.models._table import TableLayout
    from domaingen.models._table_reference import sample_rows

    spec = _spec(args.columns)
    layout = TableLayout(spec)
    rng = np.random.default_rng(0)
    out = rng.normal(size=(args.rows, spec.width)).astype("float32")
    log_sigma = (rng.normal(size=spec.width) * 0.3).astype("float32")
    cols = ops.transpose(ops.convert_to_tensor(out))
    sigma = ops.convert_to_tensor(log_sigma)
    generator = keras.random.SeedGenerator(3)
    holder = keras.Model()
    holder.generator = generator  # the seed generator's state travels with the model's variables

    def one_piece(cols, sigma):
        return layout.columns_from(cols, generator, sigma)

    def in_pieces(cols, sigma):
        return in_row_chunks(lambda a, b, seed: layout.columns_from(cols[:, a:b], seed, sigma), ops.shape(cols)[1],
                             seed_generator=generator)

    jit = backends.resolve_jit(None)  # what the families' samplers use by default
    state = np.array([1, 2])
    rates = {}
    for name, fn in (("fast, in pieces (as the families)", in_pieces), ("fast, one piece", one_piece)):
        compiled = backends.StatelessFunction(holder, fn, seed_generator=generator, jit=jit)
        rates[name] = _median_rate(lambda: keras.tree.map_structure(ops.convert_to_numpy, compiled(cols, sigma, state=state)),
                                   args.rows, args.repeats)

    def reference():
        draw = np.random.default_rng(1)
        draws = {"normals": draw.standard_normal((len(layout.cont_idx), args.rows)),
                 "half_uniforms": 0.5 * draw.random((len(layout.categorical), 1, args.rows)),
                 "uniforms": draw.random((len(layout.bin_idx), args.rows))}
        return sample_rows(layout, out, draws, log_sigma)

    rates["reference (_table_reference)"] = _median_rate(reference, args.rows, args.repeats)
    print(f"backend: {backends.NAME}; {args.rows} rows, {len(spec.segments)} segments, width {spec.width}, jit {jit}")
    print(f"{'path':<36} {'rows/s':>12}")
    for name, rate in rates.items():
        print(f"{name:<36} {rate:>12,.0f}")
    base = rates["reference (_table_reference)"]
    pieces, one = rates["fast, in pieces (as the families)"], rates["fast, one piece"]
    print(f"fast / reference: x{pieces / base:.2f} in pieces, x{one / base:.2f} in one piece")


if __name__ == "__main__":
    main()
