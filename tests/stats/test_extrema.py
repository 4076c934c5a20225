"""Extrema: one-shot == merged, NaN ignored, zero weights, sparse == dense."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm.stats import Extrema, Moments

values = st.one_of(st.floats(-1e300, 1e300, allow_nan=False), st.just(np.nan))
matrices = arrays(
    np.float64, st.tuples(st.integers(1, 30), st.integers(1, 4)), elements=values
)


def _reference(X):
    return np.fmin.reduce(X, axis=0), np.fmax.reduce(X, axis=0)


@settings(max_examples=60, deadline=None)
@given(X=matrices, cut=st.integers(0, 30))
def test_merge_equals_one_shot_and_reference(X, cut):
    low, high = _reference(X)
    one_shot = Extrema.from_data(X)
    merged = Extrema.from_data(X[:cut]) if cut else None
    rest = Extrema.from_data(X[cut:]) if cut < len(X) else None
    merged = rest if merged is None else merged if rest is None else merged.merge(rest)
    for e in (one_shot, merged):
        np.testing.assert_array_equal(e.minimum, low)
        np.testing.assert_array_equal(e.maximum, high)


@settings(max_examples=60, deadline=None)
@given(X=matrices)
def test_sparse_equals_dense(X):
    X = np.where(np.abs(X) < 1e299, 0.0, X)
    dense = Extrema.from_data(X)
    for fmt in ("csr", "csc"):
        e = Extrema.from_data(sparse.csr_array(X).asformat(fmt))
        np.testing.assert_array_equal(e.minimum, dense.minimum)
        np.testing.assert_array_equal(e.maximum, dense.maximum)


def test_sparse_column_without_implicit_zero():
    X = sparse.csc_array(np.array([[2.0, 0.0], [3.0, -1.0]]))
    e = Extrema.from_data(X)
    np.testing.assert_array_equal(e.minimum, [2.0, -1.0])
    np.testing.assert_array_equal(e.maximum, [3.0, 0.0])


@pytest.mark.parametrize("to_sparse", [False, True])
def test_zero_weight_rows_are_ignored(to_sparse):
    X = np.array([[1.0, -5.0], [100.0, 7.0], [2.0, 0.0]])
    weight = np.array([1.0, 0.0, 2.0])
    data = sparse.csr_array(X) if to_sparse else X
    e = Extrema.from_data(data, weight)
    np.testing.assert_array_equal(e.minimum, [1.0, -5.0])
    np.testing.assert_array_equal(e.maximum, [2.0, 0.0])


def test_all_nan_column():
    e = Extrema.from_data(np.array([[np.nan, 1.0], [np.nan, -1.0]]))
    assert np.isnan(e.minimum[0]) and np.isnan(e.maximum[0])
    np.testing.assert_array_equal(e.max_abs()[1:], [1.0])


def test_merge_rejects_other_statistics():
    e = Extrema.from_data(np.ones((2, 2)))
    with pytest.raises(TypeError, match="cannot merge"):
        e.merge(Moments.from_data(np.ones((2, 2))))


def test_reweighted_keeps_the_extrema():
    from sknorm.stats import Extrema

    extrema = Extrema.from_data(np.array([[1.0, np.nan], [-3.0, 2.0]]))
    kept = extrema.reweighted(0.25)
    assert kept == extrema and kept is not extrema
    with pytest.raises(ValueError, match="positive"):
        extrema.reweighted(0.0)
