"""Codec mode fitting: scikit-learn per column vs the batched fit of ``modes.fit_modes``.

For the breast-cancer training split (455 rows x 30 numeric columns) and a larger table
(breast-cancer rows resampled to ``--rows`` rows with 5 % Gaussian jitter, 30 columns, all
rows fitted), each column standardised as the codec does, prints the seconds of

- scikit-learn per column: ``BayesianGaussianMixture`` with ``covariance_type="full"`` (the
  codec's former fit) and ``"diag"`` (the same model in 1-D), same settings as the codec;
- the batched fit (``fit_modes``, all columns in one call),

and the largest absolute difference between the batched and the scikit-learn modes (kept
means and standard deviations), plus the whole ``TabularCodec.fit`` on the breast-cancer split.

    python benchmarks/codec_fit.py
    python benchmarks/codec_fit.py --rows 50000 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from domaingen_plugins.tabular.modes import reference_modes

MAX_MODES, THRESHOLD = 10, 0.005


def sklearn_modes(z: np.ndarray, covariance_type: str) -> tuple[np.ndarray, np.ndarray]:
    return reference_modes(z, MAX_MODES, THRESHOLD, covariance_type)


def timed(fn, repeats: int):
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def max_difference(a: list, b: list) -> float:
    worst = 0.0
    for (means_a, stds_a), (means_b, stds_b) in zip(a, b):
        if means_a.shape != means_b.shape:
            return np.inf  # a different number of kept modes
        worst = max(worst, float(np.abs(means_a - means_b).max()), float(np.abs(stds_a - stds_b).max()))
    return worst


def compare(name: str, table: np.ndarray, repeats: int) -> None:
    from domaingen_plugins.tabular.modes import fit_modes

    columns = [(c - c.mean()) / (c.std() or 1.0) for c in table.T]
    fit_modes(columns[:1], MAX_MODES, THRESHOLD)  # imports and first-call costs out of the timing
    batched_s, batched = timed(lambda: fit_modes(columns, MAX_MODES, THRESHOLD), repeats)
    print(f"{name}: {table.shape[0]} rows x {table.shape[1]} columns")
    print(f"  batched fit_modes           {batched_s:8.3f} s")
    for covariance_type in ("full", "diag"):
        seconds, ref = timed(lambda: [sklearn_modes(z, covariance_type) for z in columns], repeats)  # noqa: B023
        print(
            f"  sklearn per column ({covariance_type}) {seconds:8.3f} s   x{seconds / batched_s:5.1f}   "
            f"max |diff| of means/stds {max_difference(batched, ref):.1e}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the larger table")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    args = parser.parse_args()

    import pandas as pd
    from domaingen_plugins.tabular.codec import TabularCodec
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer().data
    rng = np.random.default_rng(0)
    train = data[rng.permutation(len(data))[:455]]
    compare("breast cancer", train, args.repeats)

    frame = pd.DataFrame(train, columns=[f"x{j}" for j in range(train.shape[1])])
    TabularCodec().fit(frame)
    seconds, _ = timed(lambda: TabularCodec().fit(frame), args.repeats)
    print(f"  TabularCodec.fit (gmm)      {seconds:8.3f} s")

    rows = data[rng.integers(0, len(data), args.rows)]
    large = np.clip(rows + rng.normal(0.0, 0.05, rows.shape) * data.std(axis=0), 0.0, None).round(4)
    compare("resampled breast cancer", large, args.repeats)


if __name__ == "__main__":
    main()
