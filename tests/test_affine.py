"""The shared affine map and the constant-feature rule."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm._affine import RELATIVE_TOLERANCE, AffineMap, safe_scale


def test_safe_scale_rule():
    spread = np.array([0.0, 1e-20, 1.0, 2e-13, 3e-13, np.nan, 1e-310, 5.0])
    magnitude = np.array([0.0, 0.0, 1e12, 1.0, 1.0, 1.0, 0.0, np.nan])
    expected = [1.0, 1e-20, 1.0, 1.0, 3e-13, 1.0, 1.0, 5.0]
    np.testing.assert_array_equal(safe_scale(spread, magnitude), expected)
    assert 2e-13 <= RELATIVE_TOLERANCE < 3e-13


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
