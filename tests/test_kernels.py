"""The compiled kernels (``sknorm._kernels``) and the numpy paths they replace.

Every test runs on both paths (the ``path`` fixture) and compares with a
reference computed independently: exact rational arithmetic, numpy's own
reductions, or scikit-learn. Small ``BLOCK_ELEMENTS``/``TASK_ELEMENTS`` (the
``small_tasks`` fixture) cut small arrays into many tasks and blocks, so that
merges across tasks, fallbacks per task and the infinity check per block are
exercised on data whose exact statistics are cheap to compute.
"""

import warnings
from fractions import Fraction

import numpy as np
import pytest
from scipy import sparse
from sklearn import preprocessing as skp

from sknorm import MaxAbsScaler, MinMaxScaler, Normalizer, StandardScaler
from sknorm._affine import AffineMap
from sknorm.stats import Extrema, Moments

from ._tolerances import EPS, assert_close, m2_rtol, mean_atol, norm_rtol


def exact_moments(column, weight=None):
    """Mean and population variance of the non-NaN values, exactly."""
    weight = np.ones(len(column)) if weight is None else weight
    pairs = [
        (Fraction(float(x)), Fraction(float(w)))
        for x, w in zip(column, weight, strict=True)
        if not np.isnan(x) and w > 0
    ]
    total = sum(w for _, w in pairs)
    mean = sum(w * x for x, w in pairs) / total
    variance = sum(w * (x - mean) ** 2 for x, w in pairs) / total
    return float(mean), float(variance)


def assert_moments_exact(moments, X, weight=None, rtol=1e-13):
    for j in range(X.shape[1]):
        mean, variance = exact_moments(X[:, j].astype(np.float64), weight)
        scale = np.sqrt(variance)
        assert abs(moments.mean[j] - mean) <= rtol * (abs(mean) + scale)
        np.testing.assert_allclose(moments.variance()[j], variance, rtol=rtol)


# ---------------------------------------------------------------------------
# Moments
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_moments_of_large_offsets_are_exact(path, small_tasks, dtype):
    # 1e9 + N(0, 1) loses every digit of the variance to a naive sum of
    # squares; float32 at 1e5 + N(0, 1) holds about 3 digits per value.
    rng = np.random.default_rng(0)
    offset = 1e9 if dtype == np.float64 else 1e5
    X = (offset + rng.standard_normal((600, 3))).astype(dtype)
    X[:, 2] = X[:, 2] * 0 + np.float32(offset) + np.arange(600) % 3  # 3 levels
    assert_moments_exact(Moments.from_data(X), X)


def test_moments_with_a_far_center_take_the_two_pass_rescue(path, small_tasks):
    # Every task but the first is centered on its own first rows: a drifting
    # column puts later rows far from that center, the cancellation check
    # sends the task to the corrected two-pass method.
    rng = np.random.default_rng(1)
    X = np.column_stack(
        [
            np.r_[np.zeros(8), np.full(392, 1e8)] + rng.standard_normal(400),
            1e12 + np.arange(400.0) ** 2,
        ]
    )
    assert_moments_exact(Moments.from_data(X), X)


def test_moments_with_nan_inf_and_empty_columns(path, small_tasks):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 4)) * 5 + 7
    X[rng.random(300) < 0.2, 0] = np.nan
    X[:, 1] = np.nan  # no data
    X[17, 2] = np.inf
    m = Moments.from_data(X)
    assert m.weight_sum[0] == np.count_nonzero(~np.isnan(X[:, 0]))
    assert m.weight_sum[1] == 0 and np.isnan(m.mean[1])
    assert not np.isfinite(m.mean[2]) or not np.isfinite(m.variance()[2])
    sub = Moments.from_data(X[:, [0, 3]])
    assert_moments_exact(sub, X[:, [0, 3]])
    np.testing.assert_allclose(m.mean[[0, 3]], sub.mean, rtol=1e-15)


def test_weighted_moments_with_zero_weights_and_nan(path, small_tasks):
    rng = np.random.default_rng(3)
    X = 1e6 + rng.standard_normal((250, 3))
    X[::7, 1] = np.nan
    weight = rng.uniform(0, 3, 250)
    weight[::5] = 0.0
    assert_moments_exact(Moments.from_data(X, weight), X, weight)


@pytest.mark.parametrize("layout", ["F", "strided", "narrow"])
def test_moments_of_any_layout(path, small_tasks, layout):
    rng = np.random.default_rng(4)
    base = 3e7 + rng.standard_normal((400, 6)) * [1, 2, 3, 4, 5, 6]
    base[5, 3] = np.nan
    X = {
        "F": np.asfortranarray(base),
        "strided": base[::2, ::2],
        "narrow": base[:, :1],
    }[layout]
    assert_moments_exact(Moments.from_data(X), X)


@pytest.mark.parametrize("dtype", [np.float16, np.int64])
def test_moments_of_other_dtypes(path, dtype):
    # The kernels read float32/float64 only; others take the numpy path.
    X = (np.arange(60).reshape(20, 3) % 7).astype(dtype)
    assert_moments_exact(Moments.from_data(X), X)


def test_moments_of_no_rows(path):
    m = Moments.from_data(np.empty((0, 3)))
    assert np.all(m.weight_sum == 0) and np.all(np.isnan(m.mean))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_moments_are_exact(path, fmt):
    rng = np.random.default_rng(5)
    X = sparse.random(300, 5, density=0.3, random_state=6, format=fmt)
    X = X.tolil()
    X[:, 4] = 1e9 + rng.standard_normal((300, 1))  # mostly stored, far from 0
    X[3, 0] = np.nan
    X = X.asformat(fmt)
    weight = rng.uniform(0, 2, 300)
    dense = X.toarray()
    assert_moments_exact(Moments.from_data(X), dense)
    assert_moments_exact(Moments.from_data(X, weight), dense, weight)


# ---------------------------------------------------------------------------
# Extrema
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_extrema_match_numpy(path, small_tasks, dtype, layout):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 5)).astype(dtype)
    X[rng.random((200, 5)) < 0.1] = np.nan
    X[:, 1] = np.nan
    X[10, 2], X[20, 3] = np.inf, -np.inf
    X = np.asarray(X, order=layout)
    weight = rng.uniform(0, 1, 200)
    weight[::3] = 0.0
    for w, rows in ((None, slice(None)), (weight, weight > 0)):
        e = Extrema.from_data(X, w)
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
            low, high = np.nanmin(X[rows], axis=0), np.nanmax(X[rows], axis=0)
        np.testing.assert_array_equal(e.minimum, low.astype(np.float64))
        np.testing.assert_array_equal(e.maximum, high.astype(np.float64))


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_extrema_match_dense(path, fmt):
    rng = np.random.default_rng(8)
    X = sparse.random(100, 6, density=0.4, random_state=9, format="lil")
    X[:, 5] = rng.uniform(1, 2, (100, 1))  # no implicit zero
    X[4, 0] = np.nan
    X = X.asformat(fmt)
    X.data -= 0.5
    dense = X.toarray()
    e = Extrema.from_data(X)
    np.testing.assert_array_equal(e.minimum, np.nanmin(dense, axis=0))
    np.testing.assert_array_equal(e.maximum, np.nanmax(dense, axis=0))


# ---------------------------------------------------------------------------
# The affine map
# ---------------------------------------------------------------------------


def reference_map(X, offset, scale, clip=None):
    """The map's formula, step by step in float64, rounded once."""
    result = (X.astype(np.float64) - offset) * (1.0 / scale)
    if clip is not None:
        result = np.clip(result, *clip)
    return result.astype(X.dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
@pytest.mark.parametrize("clip", [None, (-1.0, 0.5)])
def test_affine_map_is_bit_exact(path, small_tasks, dtype, layout, clip):
    rng = np.random.default_rng(10)
    base = (1e4 + rng.standard_normal((120, 6)) * 3).astype(dtype)
    base[3, 2] = np.nan
    X = {
        "C": base,
        "F": np.asfortranarray(base),
        "strided": base[::2, ::2],
    }[layout]
    n = X.shape[1]
    offset, scale = 1e4 + rng.standard_normal(n), rng.uniform(1, 5, n)
    affine = AffineMap(offset, scale)
    result = affine.transform(X, in_place=False, clip=clip)
    expected = reference_map(X, offset, scale, clip)
    assert result.dtype == X.dtype
    np.testing.assert_array_equal(result, expected)
    inverse = affine.inverse_transform(result, in_place=False)
    expected_inverse = (result.astype(np.float64) * scale + offset).astype(X.dtype)
    np.testing.assert_array_equal(inverse, expected_inverse)
    copy = X.copy()
    assert affine.transform(copy, in_place=True, clip=clip) is copy
    np.testing.assert_array_equal(copy, expected)


def test_affine_map_with_power_of_two_steps(path):
    # Scales and offsets near the ends of the float64 range add prescaling
    # steps; the result is the plain formula where that does not overflow.
    X = np.array([[1e300, 3.0], [-1e300, 5.0], [0.0, 4.0]])
    affine = AffineMap(np.array([0.0, 4.0]), np.array([1e300, 1e-300]))
    assert len(affine.transform_steps()) > 2
    result = affine.transform(X, in_place=False)
    np.testing.assert_allclose(result, [[1, -1e300], [-1, 1e300], [0, 0]], rtol=1e-15)
    inverse = affine.inverse_transform(result, in_place=False)
    np.testing.assert_allclose(inverse, X, rtol=1e-15)


def test_affine_map_rejects_infinity_naming_the_feature(path, small_tasks):
    X = np.ones((100, 3))
    X[70, 1] = X[90, 2] = np.inf
    estimator = StandardScaler().fit(X[:2])
    affine = AffineMap(np.zeros(3), np.ones(3))
    # Clipped output would hide it: the input is checked. Only the first
    # block holding infinity is named (the tasks are cut by shape).
    for clip in (None, (0.0, 1.0)):
        with pytest.raises(ValueError, match=r"infinity.*\b1\b") as error:
            affine.transform(
                X, in_place=False, clip=clip, estimator=estimator, reject_infinity=True
            )
        assert "2" not in str(error.value).split("infinity", 1)[1].split(".")[0]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_affine_map_is_bit_exact(path, fmt, dtype):
    X = sparse.random(80, 5, density=0.3, random_state=11, format=fmt, dtype=dtype)
    X.data *= 10
    scale = np.array([1.0, 3.0, 7.0, 0.1, 2.0])
    affine = AffineMap(None, scale)
    for clip in (None, (-0.5, 0.5)):
        result = affine.transform(X, in_place=False, clip=clip)
        assert result.format == fmt and result.dtype == dtype
        expected = X.toarray().astype(np.float64) * (1.0 / scale)
        if clip is not None:
            expected = np.where(X.toarray() != 0, np.clip(expected, *clip), 0.0)
        np.testing.assert_array_equal(result.toarray(), expected.astype(dtype))
    X.data[5] = np.inf
    column = X.indices[5] if fmt == "csr" else np.searchsorted(X.indptr, 5, "right") - 1
    estimator = MaxAbsScaler().fit(np.ones((2, 5)))
    with pytest.raises(ValueError, match=rf"infinity.*\b{column}\b"):
        affine.transform(X, in_place=False, estimator=estimator, reject_infinity=True)


# ---------------------------------------------------------------------------
# Scalers and row norms against scikit-learn
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "ours, theirs",
    [
        (StandardScaler, skp.StandardScaler),
        (MinMaxScaler, skp.MinMaxScaler),
        (MaxAbsScaler, skp.MaxAbsScaler),
    ],
)
def test_scalers_match_scikit_learn(path, small_tasks, ours, theirs, dtype):
    rng = np.random.default_rng(12)
    X = (rng.standard_normal((300, 7)) * 4 + 2).astype(dtype)
    expected = theirs().fit_transform(X.astype(np.float64))
    result = ours().fit_transform(X)
    if dtype == np.float32:  # the float32 output's rounding
        np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-6)
        return
    # (x - m) / s with sknorm's and scikit-learn's sums of 300 terms in two
    # orders: |dz| <= |dm| / s + |z| |ds| / s, with |ds| / s <= m2_rtol / 2
    # (the extrema of the other scalers are exact: a few eps of rounding).
    bound = mean_atol(X) / X.std(axis=0) + (m2_rtol(X) / 2 + 4 * EPS) * np.abs(expected)
    assert_close(result, expected, bound)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_row_norms_match_scikit_learn(path, norm, dtype):
    X = sparse.random(200, 30, density=0.2, random_state=13, format="csr", dtype=dtype)
    X.data -= 0.3
    X = X.tolil()
    X[5] = 0  # a row without stored values
    X = X.tocsr()
    X.data[X.indptr[7] : X.indptr[8]] = 0.0  # explicit zeros only
    result = Normalizer(norm=norm).fit_transform(X)
    assert result.dtype == dtype
    expected = skp.normalize(X.astype(np.float64), norm=norm)
    # Rows of up to 30 stored values (about 6), summed by sknorm and by
    # scikit-learn in different orders: norm_rtol of the longest row.
    longest = int(np.diff(X.indptr).max())
    rtol = 1e-6 if dtype == np.float32 else norm_rtol(longest)
    np.testing.assert_allclose(result.toarray(), expected.toarray(), rtol=rtol, atol=0)


def test_sparse_row_norms_are_overflow_safe_with_eps_and_nan(path):
    X = sparse.csr_matrix(
        np.array(
            [
                [1e300, 1e300, 0.0],  # squares overflow: the robust path
                [1e-200, 0.0, 1e-200],  # squares underflow
                [3.0, 4.0, 0.0],
                [1e-3, 0.0, 0.0],  # below eps
                [np.nan, 3.0, 4.0],
            ]
        )
    )
    result = Normalizer().fit_transform(X).toarray()
    s = np.sqrt(0.5)
    np.testing.assert_allclose(result[0], [s, s, 0], rtol=1e-15)
    np.testing.assert_allclose(result[1], [s, 0, s], rtol=1e-15)
    np.testing.assert_allclose(result[2], [0.6, 0.8, 0], rtol=1e-15)
    np.testing.assert_allclose(result[3], [1, 0, 0], rtol=1e-15)
    assert np.isnan(result[4, 0])
    np.testing.assert_allclose(result[4, 1:], [0.6, 0.8], rtol=1e-15)
    floored = Normalizer(eps=0.01).fit_transform(X).toarray()
    np.testing.assert_allclose(floored[1], [1e-198, 0, 1e-198], rtol=1e-15)
    np.testing.assert_allclose(floored[2], [0.6, 0.8, 0], rtol=1e-15)
    np.testing.assert_allclose(floored[3], [0.1, 0, 0], rtol=1e-15)


# ---------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------


def test_results_do_not_depend_on_the_number_of_threads(path, monkeypatch):
    rng = np.random.default_rng(14)
    X = 1e5 + rng.standard_normal((200_000, 20))
    X[::97, 3] = np.nan
    weight = rng.uniform(0, 2, len(X))
    S = sparse.random(20_000, 400, density=0.05, random_state=15, format="csr")

    def run():
        scaler = StandardScaler().fit(X, sample_weight=weight)
        return [
            scaler.mean_,
            scaler.scale_,
            StandardScaler().fit(X).scale_,
            MinMaxScaler().fit(X).transform(X),
            Normalizer().fit_transform(S).toarray(),
        ]

    monkeypatch.setenv("SKNORM_NUM_THREADS", "1")
    one = run()
    monkeypatch.setenv("SKNORM_NUM_THREADS", "2")
    two = run()
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ties", [False, True])
def test_column_then_value_order_is_the_stable_lexicographic_order(path, dtype, ties):
    from sknorm.stats.quantiles import sort_by_column_then_value

    rng = np.random.default_rng(3)
    n, n_columns = 5_000, 37
    if ties:  # signed zeros and NaN among few distinct values
        values = rng.choice([0.0, -0.0, 1.0, -2.5, np.nan], n).astype(dtype)
    else:
        values = rng.normal(size=n).astype(dtype)
    columns = rng.integers(0, n_columns, n)
    columns[:50] = 5  # a long segment, and columns left empty
    columns[columns == 7] = 8
    order = sort_by_column_then_value(values, columns, n_columns)
    # np.lexsort is stable: column, then value (NaN last), then position.
    np.testing.assert_array_equal(order, np.lexsort((values, columns)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [1, 3, 4, 7, 64, 65])
def test_extrema_of_four_row_groups_ignore_nan_anywhere(path, dtype, n_rows):
    """The kernel reduces four rows at a time: NaN in any of them, whole NaN
    columns and the rows left over after the groups of four."""
    rng = np.random.default_rng(n_rows)
    X = rng.normal(size=(n_rows, 9)).astype(dtype)
    X[rng.random(X.shape) < 0.3] = np.nan
    X[:, 0] = np.nan  # no value
    X[:-1, 1] = np.nan  # only the last row
    X[1:, 2] = np.nan  # only the first row
    X[:, 3] = rng.normal(size=n_rows)  # no NaN
    extrema = Extrema.from_data(X)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN column
        np.testing.assert_array_equal(extrema.minimum, np.nanmin(X, axis=0))
        np.testing.assert_array_equal(extrema.maximum, np.nanmax(X, axis=0))


# ---------------------------------------------------------------------------
# Quantile map
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["uniform", "normal"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_quantile_map_is_scikit_learns_bit_for_bit(
    path, small_tasks, layout, dtype, distribution
):
    # Both paths reproduce np.interp's operations (tests/test_quantile_map.py
    # says why that makes them equal): scikit-learn's result on the float64
    # values, rounded once to X's dtype, in any layout, forward and back.
    from sknorm.scalers._quantile_map import QuantileMap

    rng = np.random.default_rng(16)
    X = rng.lognormal(size=(300, 8))
    X[:, 1] = np.round(X[:, 1])  # ties
    X[::7, 2] = np.nan
    theirs = skp.QuantileTransformer(
        n_quantiles=50, output_distribution=distribution, subsample=None
    ).fit(X)
    ours = QuantileMap(theirs.quantiles_, theirs.references_, distribution)
    data = np.asarray(X * 1.1 - 0.05, dtype=dtype)
    if layout == "F":
        data = np.asfortranarray(data)
    elif layout == "strided":
        data = np.repeat(data, 2, axis=1)[:, ::2]
    expected = theirs.transform(data.astype(np.float64)).astype(dtype)
    forward = ours.transform(data, in_place=False)
    np.testing.assert_array_equal(forward, expected, strict=True)
    back = ours.inverse_transform(forward, in_place=False)
    expected_back = theirs.inverse_transform(forward.astype(np.float64))
    np.testing.assert_array_equal(back, expected_back.astype(dtype), strict=True)
