"""Covariance: one-shot == merged == numpy float64 reference, weights, sparse ==
dense, accuracy far from the origin, complete rows required."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm.stats import Covariance
from sknorm.stats import covariance as covariance_module

from .._tolerances import EPS, assert_close, mean_atol, scatter_atol, sum_rtol

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)
matrices = arrays(
    np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=finite
)


def _reference(X, weight=None):
    """numpy float64: weight sum, weighted mean, np.cov(bias=True) * weight sum."""
    weight = np.ones(len(X)) if weight is None else np.asarray(weight, float)
    total = weight.sum()
    mean = np.average(X, axis=0, weights=weight)
    covariance = np.atleast_2d(np.cov(X.T, aweights=weight, bias=True))
    return total, mean, covariance * total


def _assert_covariance(c, total, mean, scatter, scale):
    np.testing.assert_allclose(c.weight_sum, total, rtol=1e-12)
    np.testing.assert_allclose(c.mean, mean, rtol=1e-9, atol=1e-9 * scale)
    size = max(1.0, float(total))
    np.testing.assert_allclose(
        c.scatter, scatter, rtol=1e-8, atol=1e-9 * scale**2 * size
    )
    np.testing.assert_array_equal(c.scatter, c.scatter.T)


def _scale(*arrays_):
    return max(1.0, max(np.abs(a).max() for a in arrays_))


def _merge_all(chunks, weights=None):
    weights = weights or [None] * len(chunks)
    merged = Covariance.from_data(chunks[0], weights[0])
    for chunk, weight in zip(chunks[1:], weights[1:], strict=True):
        merged = merged.merge(Covariance.from_data(chunk, weight))
    return merged


@settings(max_examples=60, deadline=None)
@given(X=matrices, cuts=st.lists(st.integers(1, 29), max_size=3))
def test_merge_of_chunks_equals_one_shot_and_reference(X, cuts):
    chunks = np.split(X, sorted({c for c in cuts if c < len(X)}))
    reference = _reference(X)
    _assert_covariance(_merge_all(chunks), *reference, scale=_scale(X))
    _assert_covariance(Covariance.from_data(X), *reference, scale=_scale(X))


@settings(max_examples=40, deadline=None)
@given(a=matrices, data=st.data())
def test_merge_is_associative(a, data):
    def more_rows():
        n = data.draw(st.integers(1, 20))
        return data.draw(arrays(np.float64, (n, a.shape[1]), elements=finite))

    b, c = more_rows(), more_rows()
    ca, cb, cc = (Covariance.from_data(x) for x in (a, b, c))
    left = ca.merge(cb).merge(cc)
    right = ca.merge(cb.merge(cc))
    _assert_covariance(
        left, right.weight_sum, right.mean, right.scatter, scale=_scale(a, b, c)
    )


@settings(max_examples=40, deadline=None)
@given(X=matrices, data=st.data())
def test_weighted_matches_reference_and_merges(X, data):
    weight = np.asarray(
        # No subnormal weights: the numpy reference divides by their sum.
        data.draw(
            st.lists(
                st.one_of(st.just(0.0), st.floats(1e-3, 10)),
                min_size=len(X),
                max_size=len(X),
            )
        )
    )
    if weight.sum() == 0:
        weight[0] = 1.0
    reference = _reference(X, weight)
    _assert_covariance(Covariance.from_data(X, weight), *reference, scale=_scale(X))
    half = len(X) // 2
    merged = _merge_all([X[:half], X[half:]], [weight[:half], weight[half:]])
    _assert_covariance(merged, *reference, scale=_scale(X))


def test_integer_weights_equal_repeated_rows(rng):
    X = rng.normal(size=(40, 6)) + 3
    weight = rng.integers(0, 4, size=40)
    weighted = Covariance.from_data(X, weight)
    rows = np.repeat(X, weight, axis=0)
    repeated = Covariance.from_data(rows)
    # Products w x summed against repeated terms: two orders of the same sums
    # (the scatter's off-diagonal entries cancel, so the bound is absolute).
    assert_close(weighted.scatter, repeated.scatter, scatter_atol(rows))
    assert_close(weighted.mean, repeated.mean, mean_atol(rows))
    assert weighted.weight_sum == repeated.weight_sum


@settings(max_examples=40, deadline=None)
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 25), st.integers(1, 5)),
        elements=st.one_of(st.just(0.0), st.floats(-1e3, 1e3)),
    ),
    fmt=st.sampled_from(["csr", "csc"]),
    weighted=st.booleans(),
)
def test_sparse_equals_dense(X, fmt, weighted):
    weight = np.linspace(0.5, 2.0, len(X)) if weighted else None
    from_sparse = Covariance.from_data(sparse.csr_array(X).asformat(fmt), weight)
    reference = _reference(X, weight)
    _assert_covariance(from_sparse, *reference, scale=_scale(X))


def test_sparse_chunks_equal_one_chunk(rng, monkeypatch):
    X = sparse.csr_array(sparse.random(300, 8, density=0.3, random_state=0))
    weight = rng.random(300)
    one_chunk = Covariance.from_data(X, weight)
    monkeypatch.setattr(covariance_module, "_SPARSE_CHUNK_ENTRIES", 50)
    chunked = Covariance.from_data(X, weight)
    # The same sums, cut into chunks differently.
    assert_close(chunked.scatter, one_chunk.scatter, scatter_atol(X.toarray(), weight))
    assert_close(chunked.mean, one_chunk.mean, mean_atol(X.toarray(), weight))


def test_many_blocks_far_from_origin_keep_their_digits(monkeypatch):
    """Rows ``1e8 + k / 4`` (exact in float64): the scatter is known exactly."""
    monkeypatch.setattr(covariance_module, "_BLOCK_ELEMENTS", 64)
    k = np.arange(1000, dtype=np.float64)
    offsets = np.column_stack([k % 7, (k * 3) % 11, k % 2]) / 4
    X = 1e8 + offsets
    c = Covariance.from_data(X)
    # Against the exact scatter (translation-invariant: that of the offsets).
    # Sums of n = 1000 products of deviations err by n eps sum|d d^T|; sknorm
    # sums deviations from a shift within the data's range, so its mean errs
    # by eps |mean| (the final addition) plus (n + 1) eps times the range.
    exact = _exact_scatter(offsets)
    deviation = np.abs(offsets - offsets.mean(axis=0))
    assert_close(c.scatter, exact, sum_rtol(len(X)) * deviation.T @ deviation)
    spread = np.ptp(offsets, axis=0)
    exact_mean = 1e8 + np.array(
        [float(sum(map(Fraction, column)) / len(X)) for column in offsets.T]
    )
    assert_close(c.mean, exact_mean, EPS * 1e8 + (len(X) + 1) * EPS * spread)
    # Summing x x^T and subtracting n mean mean^T would lose every digit here.


def test_float32_read_in_blocks_equals_float64_input(rng, monkeypatch):
    monkeypatch.setattr(covariance_module, "_BLOCK_ELEMENTS", 100)
    X32 = (rng.normal(size=(333, 7)) * 5 + 2).astype(np.float32)
    from_float32 = Covariance.from_data(X32)
    from_float64 = Covariance.from_data(X32.astype(np.float64))
    assert from_float32 == from_float64
    assert from_float32.scatter.dtype == np.float64


@pytest.mark.parametrize("fmt", [None, "csr", "csc"])
def test_nan_rejected_naming_the_features(fmt):
    X = np.ones((6, 5))
    X[2, 1] = np.nan
    X[4, 3] = np.nan
    if fmt is not None:
        X = sparse.csr_array(X).asformat(fmt)
    with pytest.raises(ValueError, match=r"NaN or infinity in feature\(s\) 1, 3\."):
        Covariance.from_data(X)


def test_no_weight_gives_undefined_mean_and_merges_as_nothing():
    X = np.array([[1.0, 2.0], [3.0, 5.0]])
    empty = Covariance.from_data(X, np.zeros(2))
    assert empty.weight_sum == 0 and np.isnan(empty.mean).all()
    assert np.isnan(empty.covariance()).all()
    full = Covariance.from_data(X)
    assert empty.merge(full) == full
    assert full.merge(empty) == full
    assert Covariance.from_data(sparse.csr_array(X), np.zeros(2)).weight_sum == 0


def test_state_round_trip_and_helpers(rng):
    X = rng.normal(size=(50, 3)) + np.array([1.0, -2.0, 5.0])
    c = Covariance.from_data(X)
    state = c.to_state()
    assert state["statistic"] == "Covariance"
    assert Covariance.from_state(state) == c
    assert c.n_features == 3
    np.testing.assert_allclose(c.covariance(ddof=1), np.cov(X.T), rtol=1e-12)
    np.testing.assert_allclose(c.second_moment(), X.T @ X / 50, rtol=1e-12)
    with pytest.raises(ValueError, match="cannot merge statistics of 2 and 3"):
        c.merge(Covariance.from_data(X[:, :2]))


def _exact_scatter(X, weight=None):
    """Exact weighted scatter (fractions), rounded once to float64."""
    from fractions import Fraction

    n, d = X.shape
    w = [Fraction(1)] * n if weight is None else [Fraction(float(v)) for v in weight]
    F = [[Fraction(float(v)) for v in row] for row in X]
    total = sum(w)
    mean = [sum(w[i] * F[i][j] for i in range(n)) / total for j in range(d)]
    return np.array(
        [
            [
                float(
                    sum(
                        w[i] * (F[i][a] - mean[a]) * (F[i][b] - mean[b])
                        for i in range(n)
                    )
                )
                for b in range(d)
            ]
            for a in range(d)
        ]
    )


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_with_a_large_mean_is_as_accurate_as_dense(fmt, weighted, rng):
    """Mostly stored columns near 1e6 with a small spread, mixed with mostly
    zero ones, against the exact scatter: ``X^T X - n mean mean^T`` would lose
    about 12 of 16 digits on the first column."""
    X = 1e6 + rng.normal(size=(120, 4)) * np.array([1e-2, 1.0, 3.0, 1.0])
    X[rng.random(120) < 0.3, 1] = 0.0  # mostly stored
    X[rng.random(120) < 0.7, 2] = 0.0  # mostly zeros
    X[:, 3] = np.where(rng.random(120) < 0.5, 0.0, rng.normal(size=120))
    weight = rng.random(120) if weighted else None
    exact = _exact_scatter(X, weight)
    std = np.sqrt(np.diag(exact))
    for data in (X, sparse.csr_array(X).asformat(fmt)):
        c = Covariance.from_data(data, weight)
        assert (np.abs(c.scatter - exact) / np.outer(std, std)).max() < 1e-13
        np.testing.assert_array_equal(c.scatter, c.scatter.T)
        np.testing.assert_allclose(
            c.mean, np.average(X, 0, weight), rtol=1e-14, atol=1e-9
        )


@pytest.mark.parametrize("sparse_input", [False, True])
@pytest.mark.parametrize("k", [-1000, -530, -1, 3, 530, 1000])
def test_power_of_two_scaling_changes_only_the_exponent(rng, sparse_input, k):
    X = rng.normal(size=(60, 4)) + np.array([0.0, 3.0, -1.0, 2.0])
    X[X < -1] = 0.0
    scaled = X * 2.0**k
    if sparse_input:
        X, scaled = sparse.csr_array(X), sparse.csr_array(scaled)
    weight = rng.random(60)
    a, b = Covariance.from_data(X, weight), Covariance.from_data(scaled, weight)
    np.testing.assert_array_equal(b.scaled_scatter, a.scaled_scatter)
    assert int(b.exponent) == int(a.exponent) + k
    np.testing.assert_array_equal(b.mean, a.mean * 2.0**k)


def test_merge_of_statistics_in_different_units(rng):
    X = rng.normal(size=(60, 3)) + 2.0
    X[30:] = X[30:] * 1e-6 + 1.0  # a second chunk in units 2**20 smaller
    a, b = Covariance.from_data(X[:30]), Covariance.from_data(X[30:])
    assert int(a.exponent) - int(b.exponent) == 2
    whole = Covariance.from_data(X)
    merged = a.merge(b)
    _assert_covariance(merged, *_reference(X), scale=_scale(X))
    # Merged against one pass: the same sums in two orders. In the whole
    # statistic's units, 2 ** exponent.
    unit = 2.0 ** int(whole.exponent)
    assert_close(merged.scaled_scatter, whole.scaled_scatter, scatter_atol(X / unit))
    assert int(merged.exponent) == int(whole.exponent)
    assert b.merge(a) == merged


def test_extreme_magnitudes_give_finite_scaled_statistics(rng):
    X = rng.uniform(-1.0, 1.0, size=(50, 3)) * 1.7e308
    c = Covariance.from_data(X)
    matrix, exponent = c.scaled_covariance()
    assert np.isfinite(matrix).all() and exponent == 1024
    assert np.isinf(c.covariance()).all()  # beyond float64, reported as inf
    # The same data in units of 2**1024, computed directly
    reference = np.cov(X.T / 2.0**1000, bias=True) / 2.0**48
    np.testing.assert_allclose(matrix, reference, rtol=1e-12)
    np.testing.assert_allclose(c.mean, (X / 256).mean(axis=0) * 256, rtol=1e-12)
    tiny = np.ldexp(X, -2000)  # squares underflow without the scaling
    t = Covariance.from_data(tiny)
    np.testing.assert_array_equal(t.scaled_scatter, c.scaled_scatter)
    assert int(t.exponent) == exponent - 2000


def test_reweighted_then_merged_equals_the_weighted_statistic():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3)) @ rng.normal(size=(3, 3)) + 2.0
    merged = (
        Covariance.from_data(X[:15]).reweighted(0.2).merge(Covariance.from_data(X[15:]))
    )
    weight = np.r_[np.full(15, 0.2), np.ones(25)]
    # 15 weights of 0.2 and 25 of 1, summed in two orders.
    np.testing.assert_allclose(
        float(merged.weight_sum), weight.sum(), rtol=sum_rtol(len(X))
    )
    np.testing.assert_allclose(merged.mean, np.average(X, axis=0, weights=weight))
    reference = np.cov(X.T, aweights=weight, bias=True)
    np.testing.assert_allclose(merged.covariance(), reference, rtol=1e-12)
