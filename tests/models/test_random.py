"""Sampling's random numbers (``_random``) and its batch pieces (``in_row_chunks``)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from domaingen._quiet import keras_module
from domaingen.models._sampling import in_row_chunks, seed_state
from domaingen.models.backends import StatelessFunction
from domaingen.models._random import TensorSeed, piece_seeds, standard_normal

keras = keras_module()
ops = keras.ops


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def test_box_muller_normals_have_normal_moments():
    z = _numpy(standard_normal(7, 20_000, keras.random.SeedGenerator(0))).ravel()  # odd count: one row dropped
    assert z.shape == (140_000,)
    # standard errors at 140,000 draws: mean 0.0027, std 0.0019, kurtosis 0.013
    assert abs(z.mean()) < 0.011 and abs(z.std() - 1.0) < 0.008
    assert abs(stats.kurtosis(z)) < 0.05 and abs(stats.skew(z)) < 0.03
    assert stats.kstest(z, "norm").pvalue > 1e-4
    rows = _numpy(standard_normal(2, 20_000, keras.random.SeedGenerator(1)))
    assert abs(np.corrcoef(rows)[0, 1]) < 0.03  # the cos and sin halves are independent


def test_tensor_seed_draws_are_pure_and_successive_draws_differ():
    seeds = _numpy(piece_seeds(keras.random.SeedGenerator(4), 3))
    assert seeds.shape == (3, 2) and len({tuple(s) for s in seeds}) == 3
    value = ops.convert_to_tensor(seeds[0])
    first = TensorSeed(value)
    a, b = _numpy(keras.random.uniform((5,), seed=first)), _numpy(keras.random.uniform((5,), seed=first))
    assert not np.array_equal(a, b)
    again = TensorSeed(value)
    np.testing.assert_array_equal(_numpy(keras.random.uniform((5,), seed=again)), a)


class _Holder(keras.Model):
    def __init__(self):
        super().__init__()
        self.seed_generator = keras.random.SeedGenerator(0)


def test_pieces_do_not_depend_on_whether_the_batch_size_was_known_when_traced():
    holder = _Holder()

    def sample(rows):
        def piece(start, stop, seed):
            return keras.random.uniform((ops.shape(rows[start:stop])[0],), seed=seed)

        return in_row_chunks(piece, ops.shape(rows)[0], seed_generator=holder.seed_generator, chunks=4)

    def run(fn, n):
        pieces = fn(np.zeros((n,), "float32"), state=seed_state(7))
        return np.concatenate([_numpy(p) for p in pieces])

    fresh = StatelessFunction(holder, sample, seed_generator=holder.seed_generator, jit=False)
    expected = {n: run(fresh, n) for n in (5000, 9000)}  # 2 and 4 pieces
    for n, values in expected.items():
        assert values.shape == (n,) and len(np.unique(values)) > n - 30  # pieces are not copies (24-bit floats collide a little)
    # a function traced on many sizes may relax the batch size to unknown (TensorFlow)
    used = StatelessFunction(holder, sample, seed_generator=holder.seed_generator, jit=False)
    for n in (4100, 4200, 4300, 4400, 9000, 5000):
        values = run(used, n)
    np.testing.assert_array_equal(values, expected[5000])
    np.testing.assert_array_equal(run(used, 9000), expected[9000])
