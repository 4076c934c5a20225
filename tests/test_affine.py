"""The shared affine map and the constant-feature rule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm._affine import AffineMap, safe_scale, spread_in_units
from sknorm.stats import Moments

EPS = np.finfo(np.float64).eps


def test_safe_scale_rule_exact_zero_without_rounding():
    # Extrema and quantiles: only an exactly zero (or undefined) spread is
    # constant, whatever its magnitude; tiny spreads are kept.
    spread = np.array([0.0, 1e-20, 1.0, np.nan, 1e-310, 5e-324])
    expected = [1.0, 1e-20, 1.0, 1.0, 1e-310, 5e-324]
    np.testing.assert_array_equal(safe_scale(spread), expected)


def test_safe_scale_rule_with_rounding_error():
    rounding = Moments.spread_rounding
    assert rounding == 4 * EPS
    magnitude = np.array([1.0, 1.0, 1.7e18, 1.7e18, np.nan, 0.0])
    spread = np.array([4 * EPS, 5 * EPS, 256.0, 29_556.0, 1e-300, 1e-300])
    expected = [1.0, 5 * EPS, 1.0, 29_556.0, 1e-300, 1e-300]
    np.testing.assert_array_equal(safe_scale(spread, magnitude, rounding), expected)


def test_spread_in_units_neither_overflows_nor_underflows():
    low = [-1.5e308, 3.0, 0.0, np.nan, 1e-310]
    high = [1.5e308, 3.0, 5e-324, 1.0, 1e-310 + 5e-324]
    spread, unit = spread_in_units(low, high)
    np.testing.assert_array_equal(unit, [1, 0, -1000, 0, -1000])
    np.testing.assert_array_equal(
        spread, [1.5e308, 1.0, np.ldexp(5e-324, 1000), 1.0, np.ldexp(5e-324, 1000)]
    )


@pytest.mark.parametrize(
    ("offset", "scale", "unit", "X", "expected"),
    [
        # A scale below the smallest normal float64: divided, not multiplied
        # by an infinite reciprocal.
        (0.0, 1e-310, 0, [0.0, 1e-310, 2e-310], [0.0, 1.0, 2.0]),
        # A huge offset: x - offset would overflow for -1.7e308.
        (1e308, 1e308, 0, [-1.7e308, 1e308], [-2.7, 0.0]),
        # Offset and scale given in halves (a range of 3e308).
        (-1.5e308 / 2, 1.5e308, 1, [-1.5e308, 0.0, 1.5e308], [0.0, 0.5, 1.0]),
    ],
)
def test_map_at_the_ends_of_the_float64_range(offset, scale, unit, X, expected):
    affine = AffineMap([offset], [scale], [unit])
    X = np.array(X)[:, None]
    Y = affine.transform(X, in_place=False)
    np.testing.assert_allclose(Y.ravel(), expected, rtol=4 * EPS)
    # The round trip is exact to a few ulps of the spread.
    spread = abs(np.ldexp(scale, unit))
    np.testing.assert_allclose(
        affine.inverse_transform(Y, in_place=False), X, rtol=0, atol=8 * EPS * spread
    )
    # Sparse data is only scaled: the same division without overflow.
    if offset == 0:
        Ys = affine.transform(sparse.csr_array(X), in_place=False)
        np.testing.assert_allclose(Ys.toarray().ravel(), expected, rtol=4 * EPS)


@settings(max_examples=50, deadline=None)
@given(
    X=arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 5)),
        elements=st.floats(-1e6, 1e6),
    ),
    data=st.data(),
)
def test_inverse_undoes_transform(X, data):
    n_features = X.shape[1]
    offset = data.draw(arrays(np.float64, n_features, elements=st.floats(-1e3, 1e3)))
    scale = data.draw(arrays(np.float64, n_features, elements=st.floats(1e-3, 1e3)))
    affine = AffineMap(offset, scale)
    Y = affine.transform(X, in_place=False)
    np.testing.assert_allclose(Y, (X - offset) / scale, rtol=1e-13, atol=1e-9)
    back = affine.inverse_transform(Y, in_place=False)
    np.testing.assert_allclose(back, X, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("order", ["C", "F"])
def test_in_place_and_fresh_output(order):
    X = (
        np.asfortranarray(np.arange(12.0).reshape(4, 3))
        if order == "F"
        else (np.arange(12.0).reshape(4, 3))
    )
    affine = AffineMap(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 8.0]))
    expected = (X - [1, 2, 3]) / [2, 4, 8]
    fresh = affine.transform(X, in_place=False)
    assert not np.shares_memory(fresh, X)
    np.testing.assert_array_equal(fresh, expected)
    same = affine.transform(X, in_place=True)
    assert same is X
    np.testing.assert_array_equal(X, expected)


def test_float32_is_computed_in_float64_and_rounded_once():
    X = np.array([[8388608.0], [8388609.0]], dtype=np.float64).astype(np.float32)
    affine = AffineMap(np.array([8388608.5]), np.array([0.5]))
    # float32 cannot hold 8388608.5: a float32 offset would give 0 and 2 (or -2, 0)
    result = affine.transform(X.copy(), in_place=True)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.ravel(), [-1.0, 1.0])


def test_large_arrays_are_processed_in_blocks_consistently():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50_000, 7)).astype(np.float32)
    affine = AffineMap(rng.normal(size=7), rng.uniform(1, 2, 7))
    expected = ((X.astype(np.float64) - affine.offset) / affine.scale).astype(
        np.float32
    )
    np.testing.assert_allclose(affine.transform(X, in_place=False), expected, rtol=1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_scale_and_clip_keep_structure(fmt):
    X = sparse.random(30, 4, density=0.3, random_state=0, format=fmt) * 10
    affine = AffineMap(None, np.array([1.0, 2.0, 4.0, 8.0]))
    result = affine.transform(X, in_place=False, clip=(-0.5, 0.5))
    assert result.format == fmt and result.nnz == X.nnz
    expected = np.clip(X.toarray() / [1, 2, 4, 8], -0.5, 0.5)
    np.testing.assert_allclose(result.toarray(), expected)
    assert X.data.max() > 0.5  # the input was copied, not modified


def test_sparse_shift_is_refused_naming_features():
    X = sparse.random(5, 3, density=0.5, random_state=0, format="csr")
    affine = AffineMap(np.array([0.0, 1.0, 0.0]), np.ones(3))
    with pytest.raises(ValueError, match=r"feature\(s\) 1, .*dense"):
        affine.transform(X, in_place=False)
