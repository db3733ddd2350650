"""Table sampling (``TableLayout.sample``) on decoder outputs with known distributions."""

from __future__ import annotations

import numpy as np
import pytest

from domaingen._quiet import keras_module
from domaingen.models._table import TableLayout
from domaingen.spec import DataSpec, Segment

keras = keras_module()
ops = keras.ops

SPEC = DataSpec(
    "table",
    (10,),
    (
        Segment("x", "continuous"),
        Segment("colour", "categorical", 3),
        Segment("x.mode", "categorical", 4, auxiliary=True),
        Segment("flag", "binary"),
        Segment("y", "continuous"),
    ),
)
COLOUR = np.array([0.6, 0.3, 0.1])
MODES = np.array([0.1, 0.5, 0.3, 0.1])
N = 40_000


def _outputs(n: int = N) -> np.ndarray:
    """Decoder outputs: means 1.5 and -3, colour / mode logits log p, flag logit log(0.2/0.8)."""
    row = np.concatenate([[1.5], np.log(COLOUR), np.log(MODES), [np.log(0.2 / 0.8)], [-3.0]]).astype("float32")
    return np.tile(row, (n, 1))


def _sample(transposed=False, **kwargs):
    layout = TableLayout(SPEC)
    log_sigma = np.log(np.array([0.5, 1, 1, 1, 1, 1, 1, 1, 1, 2.0], "float32"))
    seed = keras.random.SeedGenerator(3)
    out = layout.sample(ops.convert_to_tensor(_outputs()), seed, ops.convert_to_tensor(log_sigma),
                        transposed=transposed, **kwargs)
    return np.asarray(ops.convert_to_numpy(out))


def _sharpen(p, temperature):
    q = p ** (1.0 / temperature)
    return q / q.sum()


def test_rows_are_exact_and_follow_the_decoder_distributions():
    rows = _sample()
    for block in (rows[:, 1:4], rows[:, 4:8]):
        assert set(np.unique(block)) <= {0.0, 1.0}
        np.testing.assert_array_equal(block.sum(axis=1), 1.0)
    assert set(np.unique(rows[:, 8])) <= {0.0, 1.0}
    # standard errors at 40,000 rows: frequencies <= 0.0025, means 0.0025 / 0.01
    np.testing.assert_allclose(rows[:, 1:4].mean(axis=0), COLOUR, atol=0.01)
    np.testing.assert_allclose(rows[:, 4:8].mean(axis=0), MODES, atol=0.01)
    assert abs(rows[:, 8].mean() - 0.2) < 0.01
    assert abs(rows[:, 0].mean() - 1.5) < 0.015 and abs(rows[:, 0].std() - 0.5) < 0.015
    assert abs(rows[:, 9].mean() + 3.0) < 0.05 and abs(rows[:, 9].std() - 2.0) < 0.05


def test_temperature_and_greedy_segments():
    rows = _sample(temperature=0.5)
    np.testing.assert_allclose(rows[:, 1:4].mean(axis=0), _sharpen(COLOUR, 0.5), atol=0.01)
    greedy = _sample(greedy="auxiliary")
    np.testing.assert_array_equal(greedy[:, 4:8].argmax(axis=1), 1)  # the most probable mode, always
    np.testing.assert_allclose(greedy[:, 1:4].mean(axis=0), COLOUR, atol=0.01)  # true categories still sampled
    assert abs(greedy[:, 8].mean() - 0.2) < 0.01
    soft = _sample(greedy="auxiliary", auxiliary_temperature=0.5)
    np.testing.assert_allclose(soft[:, 4:8].mean(axis=0), _sharpen(MODES, 0.5), atol=0.01)
    every = _sample(greedy="all")
    np.testing.assert_array_equal(every[:, 1:4].argmax(axis=1), 0)
    np.testing.assert_array_equal(every[:, 8], 0.0)  # p(flag) = 0.2 < 0.5


def test_transposed_output_is_the_same_sample():
    np.testing.assert_array_equal(_sample(transposed=True).T, _sample())


@pytest.mark.parametrize("greedy", ["none", "auxiliary", "all"])
def test_ties_give_one_hot_first_category(greedy):
    layout = TableLayout(SPEC)
    out = np.zeros((8, 10), "float32")  # every logit equal
    rows = np.asarray(ops.convert_to_numpy(layout.sample(ops.convert_to_tensor(out), keras.random.SeedGenerator(0), greedy=greedy)))
    np.testing.assert_array_equal(rows[:, 1:4].sum(axis=1), 1.0)
    np.testing.assert_array_equal(rows[:, 4:8].sum(axis=1), 1.0)
    if greedy == "all":
        np.testing.assert_array_equal(rows[:, 1], 1.0)


def test_bounded_segments_round_trip_and_validate():
    spec = DataSpec("table", (2,), (Segment("v", "continuous", bounded=True), Segment("w", "continuous")))
    again = DataSpec.from_json(spec.to_json())
    assert again == spec and again.segments[0].bounded and not again.segments[1].bounded
    assert TableLayout(spec).bounded_mask.tolist() == [True, False]
    with pytest.raises(ValueError, match="only continuous"):
        Segment("c", "categorical", 3, bounded=True)


def test_vae_squashes_bounded_columns_only():
    from domaingen.models import vae

    spec = DataSpec("table", (2,), (Segment("v", "continuous", bounded=True), Segment("w", "continuous")))
    model = vae.family.build(spec, {"latent_dim": 2, "hidden": [8]}, 0)
    z = np.random.default_rng(0).normal(0, 30, size=(500, 2)).astype("float32")  # far out: large raw outputs
    mean = np.asarray(ops.convert_to_numpy(model._decode(ops.convert_to_tensor(z))))
    assert np.abs(mean[:, 0]).max() <= 1.0  # tanh (saturates to 1.0 in float32)
    assert np.abs(mean[:, 1]).max() > 1.0  # left as it is


def _draw_frequencies(logits: np.ndarray, n: int = N, **kwargs) -> np.ndarray:
    """Category frequencies of one categorical segment sampled from constant ``logits``."""
    spec = DataSpec("table", (len(logits),), (Segment("c", "categorical", len(logits)),))
    out = ops.convert_to_tensor(np.tile(logits.astype("float32"), (n, 1)))
    rows = np.asarray(ops.convert_to_numpy(TableLayout(spec).sample(out, keras.random.SeedGenerator(5), **kwargs)))
    assert set(np.unique(rows)) <= {0.0, 1.0}
    np.testing.assert_array_equal(rows.sum(axis=1), 1.0)
    return rows.mean(axis=0)


@pytest.mark.parametrize("size", [5, 70])  # 70: past the widest block drawn with matrix products
def test_inverse_cdf_draws_follow_the_softmax(size):
    p = np.random.default_rng(size).dirichlet(np.full(size, 0.5))
    p[0] = 0.0  # impossible category: never drawn
    p /= p.sum()
    logits = np.where(p > 0, np.log(np.maximum(p, 1e-30)), -1e4)
    freq = _draw_frequencies(logits)
    assert freq[0] == 0.0
    assert np.abs(freq - p).max() < 4 * np.sqrt(p.max() * (1 - p.max()) / N)  # 4 standard errors


def test_draws_from_extreme_logits_are_exact():
    # logits far beyond exp's range, sharpened further by a low temperature: no overflow
    freq = _draw_frequencies(np.array([300.0, 300.0 - np.log(3.0), -500.0]), temperature=1.0)
    np.testing.assert_allclose(freq, [0.75, 0.25, 0.0], atol=0.015)
    assert _draw_frequencies(np.array([-50.0, 40.0, 39.0]), n=1000, temperature=0.01)[1] == 1.0


def test_squashed_sampling_bounds_the_means_of_bounded_columns():
    spec = DataSpec("table", (2,), (Segment("v", "continuous", bounded=True), Segment("w", "continuous")))
    cols = ops.convert_to_tensor(np.array([[5.0, -7.0, 0.3], [5.0, -7.0, 0.3]], "float32"))
    out = np.asarray(ops.convert_to_numpy(TableLayout(spec).columns_from(cols, None, squash_bounded=True)))
    np.testing.assert_allclose(out[0], np.tanh([5.0, -7.0, 0.3]), rtol=1e-6)
    np.testing.assert_array_equal(out[1], np.float32([5.0, -7.0, 0.3]))


def _logits_and_rows(rng):
    """Random logits on SPEC's layout, extreme in one row (exp overflows / underflows), and
    rows whose categorical segments hold random one-hots."""
    logits = rng.normal(scale=3.0, size=(6, 10)).astype("float32")
    logits[0, 1:4] = [400.0, 398.0, -600.0]  # colour
    logits[0, 4:8] = [-900.0, -905.0, -950.0, -901.0]  # x.mode
    x = rng.normal(size=(6, 10)).astype("float32")
    x[:, 1:4] = np.eye(3)[rng.integers(0, 3, 6)]
    x[:, 4:8] = np.eye(4)[rng.integers(0, 4, 6)]
    return logits, x


def _reference_nll(logits, x):
    from scipy.special import log_softmax

    parts = [-(x[:, a:b] * log_softmax(logits[:, a:b].astype("float64"), axis=1)).sum(axis=1) for a, b in ((1, 4), (4, 8))]
    return np.stack(parts, axis=1)  # (rows, segments)


def test_segment_likelihoods_match_log_softmax_even_for_extreme_logits():
    layout = TableLayout(SPEC)
    logits, x = _logits_and_rows(np.random.default_rng(4))
    want = _reference_nll(logits, x)
    onehots = np.concatenate([x[:, 1:4], x[:, 4:8]], axis=1)
    per_segment = np.asarray(ops.convert_to_numpy(layout.cats.cross_entropy(ops.convert_to_tensor(onehots), ops.convert_to_tensor(logits))))
    per_row = np.asarray(ops.convert_to_numpy(layout.cats.row_nll(ops.convert_to_tensor(x), ops.convert_to_tensor(logits))))
    assert np.isfinite(per_row).all()
    np.testing.assert_allclose(per_segment, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(per_row, want.sum(axis=1), rtol=1e-5, atol=1e-4)


def test_segment_likelihood_gradient_is_softmax_minus_one_hot():
    from scipy.special import softmax

    from domaingen.models.backends import input_gradient  # the per-backend gradient the GAN's penalty uses

    layout = TableLayout(SPEC)
    logits, x = _logits_and_rows(np.random.default_rng(5))
    layout_nll = lambda t: layout.cats.row_nll(ops.convert_to_tensor(x), t)  # noqa: E731
    got = np.asarray(ops.convert_to_numpy(input_gradient(layout_nll, ops.convert_to_tensor(logits))))
    want = np.zeros_like(logits)  # columns outside the segments get no gradient
    for a, b in ((1, 4), (4, 8)):
        want[:, a:b] = softmax(logits[:, a:b].astype("float64"), axis=1) - x[:, a:b]
    np.testing.assert_allclose(got, want, atol=1e-5)


WIDE = DataSpec(
    "table",
    (3 + 3 + 4 + 70 + 2 + 1,),
    (
        Segment("x", "continuous", bounded=True),
        Segment("colour", "categorical", 3),
        Segment("z", "continuous", 2),
        Segment("x.mode", "categorical", 4, auxiliary=True),
        Segment("code", "categorical", 70),  # past the widest block drawn with matrix products
        Segment("flags", "binary", 2),
        Segment("y", "continuous"),
    ),
)


@pytest.mark.parametrize("settings", [
    {},
    {"temperature": 0.7},
    {"greedy": "auxiliary"},
    {"greedy": "auxiliary", "auxiliary_temperature": 0.15},
    {"greedy": "all"},
])
@pytest.mark.parametrize("with_sigma, squash", [(True, True), (False, False)])
def test_fast_columns_equal_the_plain_reference(settings, with_sigma, squash):
    """``TableLayout.columns_given`` (the compiled fast path) and ``_table_reference.sample_rows``
    (segment by segment, NumPy) give the same rows from the same outputs and random numbers.
    A categorical draw may differ in a rare row whose ``u`` lies within float32 rounding of
    a boundary of the softmax's CDF (the two sum in different orders): at most 2 of 3,000."""
    from domaingen.models._random import TensorSeed
    from domaingen.models._table_reference import sample_rows

    layout = TableLayout(WIDE)
    rng = np.random.default_rng(11)
    n = 3000
    out = (rng.normal(size=(n, WIDE.width)) * 2.0).astype("float32")
    log_sigma = (rng.normal(size=WIDE.width) * 0.3).astype("float32") if with_sigma else None
    seed = TensorSeed(ops.convert_to_tensor(np.array([5, 9], "int32")))
    draws = layout.draws(n, seed, with_sigma, **settings)
    fast = layout.columns_given(ops.transpose(ops.convert_to_tensor(out)), draws,
                                None if log_sigma is None else ops.convert_to_tensor(log_sigma), squash_bounded=squash, **settings)
    fast = np.asarray(ops.convert_to_numpy(fast)).T
    plain = sample_rows(layout, out, {k: None if v is None else ops.convert_to_numpy(v) for k, v in draws.items()},
                        log_sigma, squash_bounded=squash, **settings)
    continuous = layout.cont_idx
    np.testing.assert_allclose(fast[:, continuous], plain[:, continuous], rtol=1e-5, atol=1e-5)
    discrete = np.setdiff1d(np.arange(WIDE.width), continuous)
    differ = np.flatnonzero((fast[:, discrete] != plain[:, discrete]).any(axis=1))
    assert len(differ) <= 2, f"{len(differ)} of {n} rows differ"
    assert set(np.unique(fast[:, discrete])) <= {0.0, 1.0}
