"""Moments: one-shot == merged, NaN ignored, weights, sparse == dense, and exact
references."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm.stats import Moments

from .._reference import moments
from .._tolerances import assert_close, mean_atol, sum_rtol

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
with_nan = st.one_of(finite, st.just(np.nan))


def _reference(X, weight=None):
    """float64 numpy reference, NaN ignored column by column."""
    n_cols = X.shape[1]
    weight = np.ones(len(X)) if weight is None else np.asarray(weight, float)
    # Moments depend on relative weights: the reference divides them by a
    # power of two near the largest (exact), so that subnormal weights keep
    # their digits in the products w * x.
    unit = np.ldexp(1.0, int(np.frexp(weight.max(initial=0.0))[1]))
    relative = weight / unit if weight.max(initial=0.0) > 0 else weight
    total, mean, m2 = np.zeros(n_cols), np.full(n_cols, np.nan), np.zeros(n_cols)
    for j in range(n_cols):
        present = ~np.isnan(X[:, j])
        w, x = relative[present], X[present, j]
        total[j] = weight[present].sum()
        if total[j] > 0:
            mean[j] = np.sum(w * x) / w.sum()
            m2[j] = np.sum(w * (x - mean[j]) ** 2) * unit
    return total, mean, m2


def _assert_moments(m, total, mean, m2, scale=1.0):
    np.testing.assert_allclose(m.weight_sum, total, rtol=1e-12)
    np.testing.assert_allclose(m.mean, mean, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(m.m2, m2, rtol=1e-8, atol=1e-8 * scale**2)


matrices = arrays(
    np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=with_nan
)


@settings(max_examples=60, deadline=None)
@given(X=matrices, cuts=st.lists(st.integers(0, 30), max_size=3))
def test_merge_of_chunks_equals_one_shot_and_reference(X, cuts):
    chunks = np.split(X, sorted(c for c in cuts if c <= len(X)))
    merged = Moments.from_data(chunks[0])
    for chunk in chunks[1:]:
        merged = merged.merge(Moments.from_data(chunk))
    one_shot = Moments.from_data(X)
    scale = max(1.0, np.nanmax(np.abs(X), initial=0.0))
    _assert_moments(merged, *_reference(X), scale=scale)
    _assert_moments(one_shot, *_reference(X), scale=scale)


@settings(max_examples=40, deadline=None)
@given(a=matrices, data=st.data())
def test_merge_is_associative(a, data):
    n_cols = a.shape[1]
    b = data.draw(
        arrays(np.float64, (data.draw(st.integers(1, 20)), n_cols), elements=with_nan)
    )
    c = data.draw(
        arrays(np.float64, (data.draw(st.integers(1, 20)), n_cols), elements=with_nan)
    )
    ma, mb, mc = (Moments.from_data(x) for x in (a, b, c))
    left = ma.merge(mb).merge(mc)
    right = ma.merge(mb.merge(mc))
    scale = max(1.0, np.nanmax(np.abs(np.vstack([a, b, c])), initial=0.0))
    _assert_moments(left, right.weight_sum, right.mean, right.m2, scale=scale)


@settings(max_examples=40, deadline=None)
@given(X=matrices, data=st.data())
def test_weighted_matches_reference(X, data):
    weight = np.asarray(
        data.draw(st.lists(st.floats(0, 10), min_size=len(X), max_size=len(X)))
    )
    # Weights are relative, divided by a power of two near the largest: one
    # below 2**-1074 of the largest is then 0 (the float64 cannot hold it).
    weight[weight < 1e-300] = 0.0
    scale = max(1.0, np.nanmax(np.abs(X), initial=0.0))
    _assert_moments(Moments.from_data(X, weight), *_reference(X, weight), scale=scale)


@settings(max_examples=40, deadline=None)
@given(X=matrices, weighted=st.booleans())
def test_sparse_equals_dense(X, weighted):
    X = np.where(np.abs(X) < 1e5, 0.0, X)  # plenty of implicit zeros
    weight = np.linspace(0.5, 2.0, len(X)) if weighted else None
    dense = Moments.from_data(X, weight)
    for fmt in ("csr", "csc"):
        sparse_moments = Moments.from_data(sparse.csr_array(X).asformat(fmt), weight)
        scale = max(1.0, np.nanmax(np.abs(X), initial=0.0))
        _assert_moments(sparse_moments, dense.weight_sum, dense.mean, dense.m2, scale)


def test_nan_is_ignored_per_column():
    X = np.array([[1.0, np.nan], [np.nan, np.nan], [3.0, 4.0]])
    m = Moments.from_data(X)
    np.testing.assert_array_equal(m.weight_sum, [2.0, 1.0])
    np.testing.assert_array_equal(m.mean, [2.0, 4.0])
    np.testing.assert_array_equal(m.m2, [2.0, 0.0])


def test_all_nan_column_has_no_mean_and_merges_cleanly():
    X = np.array([[np.nan, 1.0], [np.nan, 2.0]])
    m = Moments.from_data(X)
    assert np.isnan(m.mean[0]) and m.weight_sum[0] == 0 and m.m2[0] == 0
    merged = m.merge(Moments.from_data(np.array([[5.0, 3.0]])))
    np.testing.assert_array_equal(merged.mean, [5.0, 2.0])


def test_float32_input_is_accumulated_in_float64():
    rng = np.random.default_rng(0)
    X = (1e4 + rng.normal(size=(200_000, 2))).astype(np.float32)
    m = Moments.from_data(X)
    reference = _reference(X.astype(np.float64))
    assert m.mean.dtype == np.float64
    # float32 values in [2**13, 2**14) are multiples of 2**-10 and their sums
    # stay below 2**31: every partial sum is exact in float64, whatever the
    # order, and the means differ only by their last roundings (a few eps).
    np.testing.assert_allclose(m.mean, reference[1], rtol=1e-14)
    np.testing.assert_allclose(m.m2, reference[2], rtol=1e-9)


def test_adversarial_offset_against_exact_arithmetic():
    """Values 1e12 + small integers over many blocks: mean and M2 agree with
    exact rational arithmetic to float64 rounding of the result."""
    rng = np.random.default_rng(1)
    offsets = rng.integers(0, 5, size=300_000)
    column = 1e12 + offsets.astype(np.float64)
    m = Moments.from_data(column[:, None])
    exact_mean = 10**12 + Fraction(int(offsets.sum()), len(offsets))
    assert abs(Fraction(float(m.mean[0])) - exact_mean) <= Fraction(np.spacing(1e12))
    mean_offset = exact_mean - 10**12
    counts = np.bincount(offsets)
    exact_m2 = sum(int(c) * (k - mean_offset) ** 2 for k, c in enumerate(counts))
    assert abs(m.m2[0] / float(exact_m2) - 1) < 1e-9


def test_state_round_trip_and_merge_errors():
    m = Moments.from_data(np.arange(6.0).reshape(3, 2))
    state = m.to_state()
    assert all(isinstance(v, (np.ndarray, str)) for v in state.values())
    assert Moments.from_state(state) == m
    with pytest.raises(ValueError, match="features"):
        m.merge(Moments.from_data(np.ones((2, 3))))


def test_sparse_all_nan_column_with_real_weights_has_exactly_zero_weight():
    # Found by hypothesis: total weight minus the NaN entries' weight left -3.6e-15.
    X = np.array([[np.nan, 1.0]] * 7)
    weight = np.linspace(0.1, 0.7, 7)
    m = Moments.from_data(sparse.csr_array(X), weight)
    assert m.weight_sum[0] == 0.0 and np.isnan(m.mean[0])


@pytest.mark.parametrize("container", [np.asarray, sparse.csr_array, sparse.csc_array])
def test_zero_weight_rows_do_not_overflow_the_rescaled_pass(container):
    # The kept rows' spread is tiny (rescaled by 2**655), the zero-weight
    # row's 1.0 is not: its square overflowed to inf, and 0 * inf was NaN.
    X = np.array([[1.0], [5.58288006e-198], [0.0]])
    weight = np.array([0.0, 1.0, 2.0])
    moments = Moments.from_data(container(X), weight)
    kept = [Fraction(v) for v in X[1:, 0]]
    w = [Fraction(1), Fraction(2)]
    mean = sum(a * b for a, b in zip(w, kept, strict=True)) / 3
    variance = sum(a * (b - mean) ** 2 for a, b in zip(w, kept, strict=True)) / 3
    np.testing.assert_allclose(moments.mean, [float(mean)], rtol=1e-15)
    np.testing.assert_allclose(moments.variance(), [float(variance)], rtol=1e-14)


@pytest.mark.parametrize("factor", [0.3, 1e-3, 2.0**-40, 7.0])
def test_reweighted_then_merged_equals_the_weighted_statistic(factor):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3)) * [1.0, 1e-6, 1e6] + [0.0, 1.0, -5.0]
    old, new = X[:20], X[20:]
    merged = Moments.from_data(old).reweighted(factor).merge(Moments.from_data(new))
    weight = np.r_[np.full(20, factor), np.ones(30)]
    # 20 weights ``factor`` and 30 of 1, summed in two orders.
    np.testing.assert_allclose(merged.weight_sum, weight.sum(), rtol=sum_rtol(50))
    # Exact (Fraction) weighted moments of the columns.
    exact = [moments(X[:, j], weight) for j in range(3)]
    reference_mean = np.array([float(mean) for mean, _, _ in exact])
    reference_var = np.array([float(var) for _, var, _ in exact])
    # Absolute: the first column's mean cancels (mean_atol: sums of 50 terms).
    assert_close(merged.mean, reference_mean, mean_atol(X, weight))
    # Chan's merge of a column of spread 1e-6 around 1 keeps about 12 digits.
    np.testing.assert_allclose(merged.variance(), reference_var, rtol=1e-10)
    for bad in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match="positive and finite"):
            Moments.from_data(old).reweighted(bad)


def test_pooled_moments_equal_the_exact_moments_of_the_stacked_columns():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(25, 9)) * np.arange(1, 10) + np.arange(9) * 10
    X[rng.random(X.shape) < 0.1] = np.nan
    weight = rng.uniform(0, 2, 25)
    groups = [np.array([0, 4, 8, 2, 6]), np.array([1, 3, 5])]
    pooled = Moments.from_data(X, weight).pooled(groups)
    for group in groups:
        stacked = X[:, group].ravel()
        stacked_weight = np.repeat(weight, len(group))
        mean, var, _ = moments(stacked, stacked_weight)
        present = ~np.isnan(stacked)
        bound = mean_atol(stacked[present, None], stacked_weight[present])
        assert_close(pooled.mean[group], float(mean), bound)
        np.testing.assert_allclose(pooled.variance()[group], float(var), rtol=1e-13)
    single = Moments.from_data(X[:, [7]], weight)
    np.testing.assert_array_equal(pooled.mean[7], single.mean[0])
