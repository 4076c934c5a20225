"""Tests of the row normalizers: Normalizer, normalize, row_norms, RowStandardizer."""

import itertools
import warnings
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal, assert_array_max_ulp
from scipy import sparse
from sklearn import preprocessing as skp
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import Normalizer, RowStandardizer, normalize, scale
from sknorm.rows import row_norms

from ._tolerances import norm_rtol

FORMATS = [None, "csr", "csc"]
NAMED_NORMS = {"l1": 1.0, "l2": 2.0, "max": np.inf}


def _container(X, fmt):
    return X if fmt is None else sparse.csr_array(X).asformat(fmt)


def _dense(X):
    return X.toarray() if sparse.issparse(X) else np.asarray(X)


def _signed_data(n_samples=12, n_features=5, seed=0, dtype=np.float64):
    """Rows of different scales, about 30% zeros, no all-zero row."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.lognormal(size=(n_samples, 1))
    X[rng.random(X.shape) < 0.3] = 0.0
    X[:, 0] += 0.5  # every row has a non-zero value
    return X.astype(dtype)


# ---------------------------------------------------------------------------
# Reference implementations
# ---------------------------------------------------------------------------


def _numpy_norms(X, p):
    """p-norms of the rows in float64, NaN ignored (well-scaled data only)."""
    A = np.abs(np.asarray(X, dtype=np.float64))
    if p == np.inf:
        return np.nanmax(np.where(np.isnan(A), -np.inf, A), axis=1).clip(0)
    return np.nansum(A**p, axis=1) ** (1 / p)


def _exact_normalize(row, p):
    """The exactly rounded normalized row and norm, with mpmath."""
    with mpmath.workprec(300):
        values = [mpmath.mpf(float(v)) for v in row]
        if p == np.inf:
            norm = max(abs(v) for v in values)
        else:
            norm = mpmath.fsum(abs(v) ** p for v in values) ** (mpmath.mpf(1) / p)
        return np.array([float(v / norm) for v in values]), float(norm)


def _layer_norm(X, eps=0.0):
    """(x - mean) / sqrt(var + eps) per row, float64, NaN ignored."""
    X = np.asarray(X, dtype=np.float64)
    mean = np.nanmean(X, axis=1, keepdims=True)
    var = np.nanmean((X - mean) ** 2, axis=1, keepdims=True)
    return (X - mean) / np.sqrt(var + eps)


def _rms_norm(X, eps=0.0):
    X = np.asarray(X, dtype=np.float64)
    return X / np.sqrt(np.nanmean(X**2, axis=1, keepdims=True) + eps)


# ---------------------------------------------------------------------------
# Drop-in parity with scikit-learn
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [0, 1])
def test_normalize_matches_scikit_learn(norm, fmt, dtype, axis):
    X = _signed_data(dtype=dtype)
    if axis == 0:
        X = X.T.copy()
    ours = normalize(_container(X, fmt), norm, axis=axis)
    theirs = skp.normalize(_container(X, fmt), norm, axis=axis)
    assert ours.dtype == dtype
    assert sparse.issparse(ours) == (fmt is not None)
    if fmt is not None:
        assert ours.format == fmt  # scikit-learn may convert CSC to CSR
    rtol = 1e-14 if dtype == np.float64 else 2e-6
    assert_allclose(_dense(ours), _dense(theirs), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_return_norm_matches_scikit_learn_for_non_zero_rows(norm, dtype):
    X = _signed_data(dtype=dtype)
    _, ours = normalize(X, norm, return_norm=True)
    _, theirs = skp.normalize(X, norm, return_norm=True)
    assert ours.dtype == np.float64
    # Sums of n_features terms in scikit-learn's order and sknorm's.
    rtol = norm_rtol(X.shape[1]) if dtype == np.float64 else 1e-6
    assert_allclose(ours, theirs, rtol=rtol)


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_return_norm_works_for_sparse_input(norm, fmt):
    # scikit-learn raises NotImplementedError for sparse l1/l2.
    X = _signed_data()
    X[3] = 0.0
    _, dense_norms = normalize(X, norm, return_norm=True)
    _, sparse_norms = normalize(_container(X, fmt), norm, return_norm=True)
    # Sparse, dense and numpy sums of the row's values in different orders.
    rtol = norm_rtol(X.shape[1])
    assert_allclose(sparse_norms, dense_norms, rtol=rtol)
    assert_allclose(dense_norms, _numpy_norms(X, NAMED_NORMS[norm]), rtol=rtol)
    assert dense_norms[3] == 0.0  # the true norm; scikit-learn reports 1


@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_normalizer_matches_scikit_learn_and_the_function(norm, fmt):
    X = _container(_signed_data(), fmt)
    ours = Normalizer(norm).fit(X).transform(X)
    assert_allclose(
        _dense(ours), _dense(skp.Normalizer(norm).fit_transform(X)), rtol=1e-14
    )
    assert_array_equal(_dense(ours), _dense(normalize(X, norm)))


def test_zero_rows_stay_zero_as_in_scikit_learn():
    X = _signed_data()
    X[[2, 5]] = 0.0
    for fmt in FORMATS:
        result = _dense(normalize(_container(X, fmt)))
        assert_array_equal(result[[2, 5]], 0.0)
        assert_allclose(result, _dense(skp.normalize(X)), rtol=1e-14)


# ---------------------------------------------------------------------------
# Overflow, underflow and exactness
# ---------------------------------------------------------------------------

ADVERSARIAL_ROWS = [
    ([1e160, 1e160, 0.0], np.float64),  # squares overflow
    ([1e20, 1e20, 0.0], np.float32),  # float32 squares overflow
    ([1e-200, 1e-200, 0.0], np.float64),  # squares underflow
    ([1e-30, 1e-30, 0.0], np.float32),
    ([1e-7, 1e-7, 0.0], np.float32),  # scikit-learn: dense != sparse
    ([1e300, -1e300, 1e-300], np.float64),  # sum overflows, tiny value
    ([5e-324, 1e-323, 0.0], np.float64),  # subnormal
    ([3e38, 3e38, -3e38], np.float32),  # the float32 norm overflows
    ([1.0, 1e-170, 1e-170], np.float64),
]


@pytest.mark.parametrize(("row", "dtype"), ADVERSARIAL_ROWS)
@pytest.mark.parametrize("norm", ["l1", "l2", "max", 3.0])
@pytest.mark.parametrize("fmt", FORMATS)
def test_overflow_and_underflow_against_exact_reference(row, dtype, norm, fmt):
    X = np.array([row, [3.0, 4.0, 0.0]], dtype=dtype)
    result, norms = normalize(_container(X, fmt), norm, return_norm=True)
    p = NAMED_NORMS.get(norm, norm)
    for i in range(2):
        expected, expected_norm = _exact_normalize(X[i], p)
        assert_array_max_ulp(_dense(result)[i], expected.astype(dtype), maxulp=1)
        assert_allclose(norms[i], expected_norm, rtol=4e-16)


def test_float32_tiny_rows_same_for_dense_and_sparse():
    X = np.array([[1e-7, 1e-7, 0.0]], dtype=np.float32)
    dense = normalize(X)
    for fmt in ["csr", "csc"]:
        assert_array_equal(normalize(_container(X, fmt)).toarray(), dense)
    assert_allclose(dense, [[np.sqrt(0.5), np.sqrt(0.5), 0.0]], rtol=1e-7)


def test_norm_beyond_float64_range_is_reported_as_inf():
    X = np.array([[1.5e308, 1.5e308]])
    result, norms = normalize(X, "l1", return_norm=True)
    assert norms[0] == np.inf  # the true norm, 3e308, is not representable
    assert_allclose(result, [[0.5, 0.5]], rtol=1e-15)


def test_rows_needing_the_robust_path_mixed_with_others_in_place():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(2000, 40))  # several row blocks
    X[[5, 700, 1999]] *= 1e200
    X[[6, 1500]] *= 1e-200
    X[8] = 0.0
    X[9, [1, 2]] = np.nan
    expected = _reference_l2(X)
    result = normalize(X, copy=False)
    assert result is X
    assert_allclose(result, expected, rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("fmt", FORMATS)
def test_groups_needing_the_robust_path_in_place(fmt):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(1500, 50))  # several row blocks
    X[[3, 900], :20] *= 1e200
    X[[4, 1400], 20:] *= 1e-200
    X[7, ::2] = 0.0
    X[8, [1, 3, 5]] = np.nan
    # Two buckets of equal-size interleaved groups, one group alone, and
    # columns 46-49 in no group.
    groups = [np.arange(0, 20, 2), np.arange(1, 20, 2), np.arange(20, 30)]
    groups += [np.arange(30, 38), np.arange(38, 46)]
    expected = X.copy()
    for columns in groups:
        expected[:, columns] = _reference_l2(X[:, columns])
    X_in = _container(X, fmt)
    result = normalize(X_in, groups=groups, copy=False)
    assert result is X_in
    assert_allclose(_dense(result), expected, rtol=1e-14, atol=1e-300)


def _exact_normalize_nan(row):
    if not np.any(row[~np.isnan(row)]):
        return row
    kept = np.where(np.isnan(row), 0.0, row)
    normalized, _ = _exact_normalize(kept, 2)
    return np.where(np.isnan(row), np.nan, normalized)


def _reference_l2(X):
    """Rows divided by their L2 norm, NaN ignored: numpy for well-scaled
    rows, exact arithmetic for rows with huge or tiny values."""
    A = np.abs(X)
    extreme = np.any((A > 1e100) | ((A > 0) & (A < 1e-100)), axis=1)
    with np.errstate(all="ignore"):  # extreme rows are recomputed below
        result = X / np.sqrt(np.nansum(X**2, axis=1, keepdims=True))
    result[~np.any(A > 0, axis=1)] = X[~np.any(A > 0, axis=1)]
    for i in np.flatnonzero(extreme):
        result[i] = _exact_normalize_nan(X[i])
    return result


@pytest.mark.parametrize("fmt", FORMATS)
def test_norms_of_p_between_names_and_infinity(fmt):
    X = _signed_data()
    for p in [1, 1.5, 3.0, 7.0]:
        result, norms = normalize(_container(X, fmt), p, return_norm=True)
        assert_allclose(norms, _numpy_norms(X, p), rtol=1e-13)
        assert_allclose(_dense(result), X / _numpy_norms(X, p)[:, None], rtol=1e-13)
    assert_array_equal(_dense(normalize(X, 1)), _dense(normalize(X, "l1")))
    assert_array_equal(_dense(normalize(X, 2.0)), _dense(normalize(X, "l2")))
    assert_array_equal(_dense(normalize(X, np.inf)), _dense(normalize(X, "max")))


@pytest.mark.parametrize("norm", [0.5, 0, -1, "l3"])
def test_norm_below_one_or_unknown_is_rejected(norm):
    X = _signed_data()
    with pytest.raises(InvalidParameterError, match="'norm' parameter"):
        normalize(X, norm)
    with pytest.raises(InvalidParameterError, match="'norm' parameter"):
        Normalizer(norm).fit(X)
    with pytest.raises(InvalidParameterError, match="'norm' parameter"):
        Normalizer(norm).transform(X)  # stateless: transform validates too


# ---------------------------------------------------------------------------
# NaN, zero rows, eps
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l1", "l2", "max", 3.0])
@pytest.mark.parametrize("fmt", FORMATS)
def test_nan_ignored_in_the_norm_and_kept(norm, fmt):
    X = _signed_data()
    X[1, [0, 3]] = np.nan
    X[4] = np.nan  # all missing
    result, norms = normalize(_container(X, fmt), norm, return_norm=True)
    result = _dense(result)
    p = NAMED_NORMS.get(norm, norm)
    expected_norms = _numpy_norms(X, p)
    expected_norms[4] = 0.0
    assert_allclose(norms, expected_norms, rtol=1e-14)
    assert_array_equal(np.isnan(result), np.isnan(X))
    ok = ~np.isnan(X)
    with np.errstate(invalid="ignore"):
        expected = X / expected_norms[:, None]
    assert_allclose(result[ok], expected[ok], rtol=1e-14)


@pytest.mark.parametrize("fmt", FORMATS)
def test_zero_rows_raise_naming_the_rows(fmt):
    X = _signed_data()
    X[[3, 7]] = 0.0
    X[9] = [np.nan, 0.0, 0.0, np.nan, 0.0]
    with pytest.raises(ValueError, match=r"3 all-zero row\(s\).*row\(s\) 3, 7, 9"):
        normalize(_container(X, fmt), zero_rows="raise")
    with pytest.raises(ValueError, match="zero_rows='keep'"):
        Normalizer(zero_rows="raise").fit_transform(_container(X, fmt))


def test_zero_rows_raise_before_touching_the_data_in_place():
    X = _signed_data()
    X[-1] = 0.0  # found in the last row: the check must precede any write
    original = X.copy()
    with pytest.raises(ValueError, match="row"):
        normalize(X, copy=False, zero_rows="raise")
    assert_array_equal(X, original)


def test_zero_rows_raise_names_the_group():
    X = np.array([[1.0, 2.0, 0.0, 0.0], [1.0, 0.0, 3.0, 1.0]])
    with pytest.raises(ValueError, match=r"row\(s\) 0 \(group 1\)"):
        normalize(X, groups=[[0, 1], [2, 3]], zero_rows="raise")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("norm", ["l1", "l2", "max"])
def test_eps_floors_the_norm(fmt, norm):
    X = _signed_data()
    X[2] *= 1e-9
    X[3] = 0.0
    eps = 1e-4
    result, norms = normalize(_container(X, fmt), norm, eps=eps, return_norm=True)
    expected_norms = _numpy_norms(X, NAMED_NORMS[norm])
    assert_allclose(norms, expected_norms, rtol=1e-14)  # the true norms
    expected = X / np.maximum(expected_norms, eps)[:, None]
    assert_allclose(_dense(result), expected, rtol=1e-14)
    assert_array_equal(_dense(result)[3], 0.0)


def test_eps_zero_normalizes_every_non_zero_row():
    X = np.array([[1e-300, 0.0], [0.0, -1e-310]])
    assert_array_equal(normalize(X), [[1.0, 0.0], [0.0, -1.0]])


# ---------------------------------------------------------------------------
# Dense and sparse give the same results
# ---------------------------------------------------------------------------

_magnitudes = st.floats(-300, 300)


@st.composite
def _sparse_like_matrices(draw):
    """Small matrices with zeros, NaN and rows of very different scales."""
    n_rows = draw(st.integers(1, 6))
    n_cols = draw(st.integers(1, 6))
    values = draw(
        hnp.arrays(
            np.float64,
            (n_rows, n_cols),
            elements=st.floats(-10, 10, allow_nan=False, allow_infinity=False),
        )
    )
    exponents = draw(hnp.arrays(np.float64, (n_rows, 1), elements=_magnitudes))
    X = values * 10.0**exponents
    mask = draw(hnp.arrays(np.int8, (n_rows, n_cols), elements=st.integers(0, 3)))
    X[mask == 0] = 0.0
    X[mask == 1] = np.where(draw(st.booleans()), np.nan, X[mask == 1])
    return X


@st.composite
def _column_groups(draw, n_cols):
    labels = draw(
        hnp.arrays(np.int64, n_cols, elements=st.integers(-1, min(3, n_cols) - 1))
    )
    groups = [np.flatnonzero(labels == g) for g in range(labels.max() + 1)]
    groups = [g for g in groups if g.size]
    return groups or None


_ESTIMATORS_ACCEPTING_SPARSE = [
    {"kind": "normalize", "norm": "l1"},
    {"kind": "normalize", "norm": "l2"},
    {"kind": "normalize", "norm": "max"},
    {"kind": "normalize", "norm": 3.0, "eps": 1e-3},
    {"kind": "standardize", "method": "rms"},
    {"kind": "standardize", "method": "rms", "eps": 0.5},
    {"kind": "standardize", "with_mean": False},
]


def _run(spec, X, groups):
    params = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "normalize":
        return normalize(X, groups=groups, **params)
    return RowStandardizer(groups=groups, **params).fit_transform(X)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), spec=st.sampled_from(_ESTIMATORS_ACCEPTING_SPARSE))
def test_dense_equals_sparse(data, spec):
    X = data.draw(_sparse_like_matrices())
    groups = data.draw(_column_groups(X.shape[1]))
    dense = _run(spec, X, groups)
    for fmt in ["csr", "csc"]:
        result = _run(spec, _container(X, fmt), groups)
        assert result.format == fmt
        assert_allclose(result.toarray(), dense, rtol=1e-13, atol=0)
    assert_array_equal(np.isnan(dense), np.isnan(X))


# ---------------------------------------------------------------------------
# Groups: block-wise, group and instance normalization
# ---------------------------------------------------------------------------


def _cosine(a, b):
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=4),
    data=st.data(),
)
def test_weighted_blocks_give_the_weighted_mean_of_block_cosines(sizes, data):
    n_cols = sum(sizes)
    finite = st.floats(-100, 100, allow_nan=False).filter(lambda v: abs(v) > 1e-3)
    X = data.draw(hnp.arrays(np.float64, (2, n_cols), elements=finite))
    weights = data.draw(
        hnp.arrays(np.float64, len(sizes), elements=st.floats(0.01, 10))
    )
    bounds = np.cumsum([0, *sizes])
    groups = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
    result = Normalizer(groups=groups, weights=weights).fit_transform(X)
    shares = weights / weights.sum()
    expected = sum(
        w * _cosine(X[0, g], X[1, g]) for w, g in zip(shares, groups, strict=True)
    )
    assert np.isclose(result[0] @ result[1], expected, rtol=1e-12, atol=1e-14)
    assert_allclose(np.linalg.norm(result, axis=1), 1.0, rtol=1e-13)
    for w, g in zip(shares, groups, strict=True):
        assert_allclose(
            result[:, g],
            np.sqrt(w) * X[:, g] / np.linalg.norm(X[:, g], axis=1)[:, None],
        )


def test_weights_for_other_norms_give_unit_p_norm():
    X = _signed_data()
    groups = [[0, 1], [2, 3, 4]]
    result = normalize(X, 3.0, groups=groups, weights=[1.0, 3.0])
    assert_allclose(row_norms(result, 3.0), 1.0, rtol=1e-13)
    assert_allclose(row_norms(result, 3.0, groups=groups) ** 3, [[0.25, 0.75]] * 12)


def test_group_normalization_against_numpy():
    rng = np.random.default_rng(1)
    n, channels, length, per_group = 5, 6, 4, 2
    X = rng.normal(size=(n, channels * length)) * 3 + 1
    width = per_group * length
    groups = [slice(s, s + width) for s in range(0, channels * length, width)]
    eps = 1e-5
    result = RowStandardizer(eps=eps, groups=groups).fit_transform(X)
    blocks = X.reshape(n, channels // per_group, width)
    mean = blocks.mean(axis=2, keepdims=True)
    expected = (blocks - mean) / np.sqrt(blocks.var(axis=2, keepdims=True) + eps)
    assert_allclose(result, expected.reshape(n, -1), rtol=1e-13)


def test_instance_normalization_of_interleaved_channels():
    # A (n, length, channels) array flattened: channel c is every
    # channels-th column, given as index arrays.
    rng = np.random.default_rng(2)
    n, length, channels = 4, 5, 3
    X = rng.normal(size=(n, length * channels)) * rng.lognormal(size=(1, 15))
    groups = [np.arange(c, length * channels, channels) for c in range(channels)]
    result = RowStandardizer(groups=groups).fit_transform(X)
    series = X.reshape(n, length, channels)
    expected = (series - series.mean(axis=1, keepdims=True)) / series.std(
        axis=1, keepdims=True
    )
    assert_allclose(result, expected.reshape(n, -1), rtol=1e-13)


@pytest.mark.parametrize("fmt", FORMATS)
def test_columns_in_no_group_pass_through_unchanged(fmt):
    X = _signed_data(dtype=np.float32)
    groups = [[0, 2], [4]]
    result = _dense(normalize(_container(X, fmt), groups=groups))
    assert_array_equal(result[:, [1, 3]], X[:, [1, 3]])
    assert_allclose(result[:, [0, 2]], _dense(normalize(X[:, [0, 2]])), rtol=1e-6)
    standardized = _dense(
        RowStandardizer(method="rms", groups=groups).fit_transform(_container(X, fmt))
    )
    assert_array_equal(standardized[:, [1, 3]], X[:, [1, 3]])


def test_group_specifications_are_equivalent():
    X = _signed_data(n_features=6)
    expected = normalize(X, groups=[[0, 1, 2], [3, 4, 5]])
    for groups in [
        [slice(0, 3), slice(3, None)],
        [np.arange(3), [-3, -2, -1]],
        [[True] * 3 + [False] * 3, [False] * 3 + [True] * 3],
        np.arange(6).reshape(2, 3),
        ([2, 0, 1], (5, 3, 4)),
    ]:
        assert_array_equal(normalize(X, groups=groups), expected)


def test_return_norm_and_row_norms_per_group():
    X = np.array([[3.0, 4.0, 1.0, 0.0], [0.0, 0.0, 0.0, 2.0]])
    _, norms = normalize(X, groups=[[0, 1], [2, 3]], return_norm=True)
    assert_array_equal(norms, [[5.0, 1.0], [0.0, 2.0]])
    assert_array_equal(row_norms(X, groups=[[0, 1], [2, 3]]), norms)
    assert_array_equal(row_norms(X, "max"), [4.0, 2.0])


def test_groups_by_column_name(df_module):
    df = df_module.DataFrame(
        {"a": [3.0, 1.0], "b": [4.0, 0.0], "c": [1.0, 2.0], "d": [5.0, 6.0]}
    )
    groups = [["a", "b"], ["c"]]
    normalizer = Normalizer(groups=groups).set_output(transform="pandas")
    result = normalizer.fit_transform(df)
    assert list(result.columns) == ["a", "b", "c", "d"]
    assert_allclose(result.to_numpy(), [[0.6, 0.8, 1.0, 5.0], [1.0, 0.0, 1.0, 6.0]])
    # Names are resolved at transform time against the fitted names.
    assert_array_equal(normalizer.transform(df).to_numpy(), result.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unfitted = Normalizer(groups=groups).transform(df)
    assert_array_equal(unfitted, result.to_numpy())
    assert_array_equal(normalize(df, groups=groups), result.to_numpy())


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([[0, 1], [1, 2]], r"must not overlap.*column\(s\) 1 appear"),
        ([[0, 0]], r"must not overlap.*column\(s\) 0"),
        ([[0, 9]], r"indices 9 out of range for X with 4 feature\(s\)"),
        ([[-5]], "out of range"),
        ([[]], r"selects no column; X has 4 feature\(s\)"),
        ([slice(4, 8)], "selects no column"),
        ([0, 1, 2], r"not a collection of columns.*\[\[0, 1\], \[2, 3\]\]"),
        ([["a"]], "names columns, but X has no column names"),
        ([[0.5, 1.0]], "integer column indices, column names or booleans"),
        ([[True, False]], "boolean mask of length 2, but X has 4 feature"),
        ([[[0, 1]]], "one-dimensional"),
        ([], "at least one group"),
        ("ab", "'groups' parameter"),
    ],
)
def test_bad_groups_are_rejected_clearly(groups, message):
    X = _signed_data(n_features=4)
    for estimator in [Normalizer(groups=groups), RowStandardizer(groups=groups)]:
        with pytest.raises(ValueError, match=message):
            estimator.fit(X)
        with pytest.raises(ValueError, match=message):
            estimator.transform(X)
    with pytest.raises(ValueError, match=message):
        normalize(X, groups=groups)


def test_unknown_column_names_are_rejected():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_signed_data(n_features=2), columns=["a", "b"])
    with pytest.raises(ValueError, match=r"column\(s\) 'z' that are not in X"):
        Normalizer(groups=[["a", "z"]]).fit(df)
    with pytest.raises(ValueError, match=r"'a' appear more than once"):
        Normalizer(groups=[["a"], ["a", "b"]]).fit(df)


@pytest.mark.parametrize(
    ("weights", "norm", "message"),
    [
        ([1.0], "l2", r"one value per group \(2\)"),
        ([1.0, -1.0], "l2", "non-negative"),
        ([1.0, np.nan], "l2", "finite"),
        ([0.0, 0.0], "l2", "not all be zero"),
        ([1.0, 1.0], "max", "finite norm exponent"),
    ],
)
def test_bad_weights_are_rejected_clearly(weights, norm, message):
    X = _signed_data(n_features=4)
    estimator = Normalizer(norm, groups=[[0, 1], [2, 3]], weights=weights)
    with pytest.raises(ValueError, match=message):
        estimator.fit(X)
    with pytest.raises(ValueError, match=message):
        normalize(X, norm, groups=[[0, 1], [2, 3]], weights=weights)


# ---------------------------------------------------------------------------
# RowStandardizer: layer and RMS normalization
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0, 1e-3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_normalization_against_numpy(eps, dtype):
    X = (_signed_data(n_features=7) * 5 + 3).astype(dtype)
    X[2, 1] = np.nan
    result = RowStandardizer(eps=eps).fit_transform(X)
    assert result.dtype == dtype
    expected = _layer_norm(X, eps)
    if dtype == np.float64:
        assert_allclose(result, expected, rtol=1e-13, atol=1e-15)
    else:  # computed in float64 and rounded once
        assert_array_max_ulp(result, expected.astype(dtype), maxulp=1)


@pytest.mark.parametrize("eps", [0.0, 1e-3])
@pytest.mark.parametrize("fmt", FORMATS)
def test_rms_normalization_against_numpy(eps, fmt):
    X = _signed_data(n_features=7)
    X[2, 1] = np.nan
    result = RowStandardizer(method="rms", eps=eps).fit_transform(_container(X, fmt))
    # The mean square counts the zeros, stored or not.
    assert_allclose(_dense(result), _rms_norm(X, eps), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
def test_standard_method_equals_scale_along_rows(with_mean, with_std):
    X = _signed_data(n_features=6) * 4 - 1
    ours = RowStandardizer(with_mean=with_mean, with_std=with_std).fit_transform(X)
    params = {"with_mean": with_mean, "with_std": with_std}
    assert_allclose(ours, scale(X, axis=1, **params), rtol=1e-13, atol=1e-14)
    assert_allclose(ours, skp.scale(X, axis=1, **params), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_scaling_sparse_rows_by_their_std_without_centering(fmt):
    X = _signed_data(n_features=6)
    result = RowStandardizer(with_mean=False).fit_transform(_container(X, fmt))
    assert result.format == fmt
    expected = X / X.std(axis=1, keepdims=True)
    assert_allclose(result.toarray(), expected, rtol=1e-13)


def test_centering_sparse_rows_is_refused_naming_the_fix():
    X = _container(_signed_data(), "csr")
    for estimator in [RowStandardizer(), RowStandardizer(with_std=False)]:
        with pytest.raises(TypeError, match=r"with_mean=False.*method='rms'"):
            estimator.fit(X)
        with pytest.raises(TypeError, match="sparse"):
            estimator.transform(X)


def test_constant_rows_become_zeros_not_nan():
    # Spread at most 1000 * eps64 of the magnitude: divided by 1, as a
    # constant feature in every sknorm scaler.
    X = np.array([[5.0, 5.0, 5.0], [0.0, 0.0, 0.0], [1e9, 1e9, 1e9 + 1e-6], [0.1] * 3])
    result = RowStandardizer().fit_transform(X)
    # The deviations from the exact mean (numpy's one-pass mean is an ulp off
    # for 0.1 and 1e9 alike).
    deviations = [
        [float(Fraction(v) - sum(map(Fraction, row)) / len(row)) for v in row]
        for row in X
    ]
    assert_array_equal(result, deviations)
    assert_array_equal(result[[0, 1, 3]], 0.0)
    assert_array_equal(RowStandardizer(method="rms").fit_transform(X)[1], 0.0)
    # With eps, the layer-normalization formula applies as it is.
    result = RowStandardizer(eps=1e-5).fit_transform(X)
    with mpmath.workprec(200):
        expected = [
            [
                float(
                    mpmath.mpf(d)
                    / mpmath.sqrt(
                        mpmath.fsum(mpmath.mpf(e) ** 2 for e in row) / len(row)
                        + mpmath.mpf(1e-5)
                    )
                )
                for d in row
            ]
            for row in deviations
        ]
    assert_allclose(result, expected, rtol=1e-14, atol=0)
    assert_array_equal(result[[0, 1, 3]], 0.0)


@pytest.mark.parametrize("value", [3.3, 0.1, 1e160, -7e-300, 1.5e308])
@pytest.mark.parametrize("eps", [0.0, 1e-5])
@pytest.mark.parametrize("nan", [False, True])
def test_constant_rows_standardize_to_exact_zeros(value, eps, nan):
    # The one-pass mean of 7 copies of 3.3 is an ulp off; divided by
    # sqrt(eps) that ulp became 1.6e144 for rows of 1e160.
    X = np.full((3, 7), value)
    if nan:
        X[1, 2] = np.nan
    result = RowStandardizer(eps=eps).fit_transform(X)
    assert_array_equal(np.nan_to_num(result, nan=0.0), 0.0)
    assert_array_equal(np.isnan(result), np.isnan(X))


@pytest.mark.parametrize("offset", [0.0, 1e10, -3e12])
@pytest.mark.parametrize("nan", [False, True])
def test_standardizing_rows_far_from_zero_against_exact_arithmetic(offset, nan):
    # Rows of offset + N(0, 1): the one-pass mean is off by ulps of the offset
    # (1e-6 at 1e10), which the corrected mean removes on both paths (NaN
    # rows take the scaled path, which must scale exactly). (A spread within
    # 4 eps of the magnitude, e.g. N(0, 1) about 3e15, is constant by the
    # rule every scaler shares.)
    X = offset + np.random.default_rng(0).normal(size=(4, 50))
    if nan:
        X[:, -1] = np.nan
    result = RowStandardizer().fit_transform(X)
    with mpmath.workprec(200):
        for row, out in zip(X, result, strict=True):
            values = [mpmath.mpf(float(v)) for v in row if not np.isnan(v)]
            mean = mpmath.fsum(values) / len(values)
            std = mpmath.sqrt(
                mpmath.fsum((v - mean) ** 2 for v in values) / len(values)
            )
            expected = [float((v - mean) / std) for v in values]
            assert_allclose(out[~np.isnan(row)], expected, rtol=1e-14, atol=1e-14)


def test_standardizing_extreme_rows():
    X = np.array([[1.5e308, -1.5e308, 0.0, 1.0], [1e-300, 3e-300, 2e-300, 0.0]])
    result = RowStandardizer().fit_transform(X)
    with mpmath.workprec(200):
        for row, out in zip(X, result, strict=True):
            values = [mpmath.mpf(float(v)) for v in row]
            mean = mpmath.fsum(values) / len(values)
            std = mpmath.sqrt(mpmath.fsum((v - mean) ** 2 for v in values) / 4)
            expected = [float((v - mean) / std) for v in values]
            assert_allclose(out, expected, rtol=1e-14, atol=1e-15)


# ---------------------------------------------------------------------------
# Estimator behaviour: stateless, copy, dtype, containers
# ---------------------------------------------------------------------------

ALL_ESTIMATORS = [
    Normalizer(),
    Normalizer("l1", groups=[[0, 1], [2, 3, 4]], weights=[1, 2]),
    RowStandardizer(),
    RowStandardizer(method="rms", eps=1e-6),
]


def _input_accepted_by(estimator, fmt, dtype):
    if fmt is not None and not estimator.__sklearn_tags__().input_tags.sparse:
        pytest.skip("the estimator centers rows: sparse input is refused")
    return _container(_signed_data(dtype=dtype), fmt)


@pytest.mark.parametrize("estimator", ALL_ESTIMATORS, ids=repr)
def test_transform_needs_no_fit(estimator):
    X = _signed_data()
    assert_array_equal(estimator.transform(X), estimator.fit(X).transform(X))


@pytest.mark.parametrize("estimator", ALL_ESTIMATORS, ids=repr)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_true_leaves_the_input_untouched(estimator, fmt, dtype):
    X = _input_accepted_by(estimator, fmt, dtype)
    original = X.copy()
    result = estimator.transform(X)
    assert result.dtype == dtype
    assert_array_equal(_dense(X), _dense(original))


@pytest.mark.parametrize("estimator", ALL_ESTIMATORS, ids=repr)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_copy_false_works_in_place(estimator, fmt, dtype):
    X = _input_accepted_by(estimator, fmt, dtype)
    expected = estimator.transform(X)
    result = estimator.transform(X, copy=False)
    if fmt is None:
        assert np.shares_memory(result, X)
    else:
        assert result is X
    assert_array_equal(_dense(result), _dense(expected))


def test_copy_false_on_integers_returns_new_floats():
    X = np.array([[3, 4], [1, 0]])
    result = normalize(X, copy=False)
    assert result.dtype == np.float64
    assert_array_equal(X, [[3, 4], [1, 0]])
    assert_allclose(result, [[0.6, 0.8], [1.0, 0.0]])


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_duplicate_sparse_entries_are_summed(fmt):
    data = np.array([3.0, 1.0, 3.0, 5.0])
    rows, cols = np.array([0, 0, 0, 1]), np.array([0, 1, 0, 1])
    X = sparse.coo_array((data, (rows, cols)), shape=(2, 2)).asformat(fmt)
    X.has_canonical_format = False  # scipy may have summed on conversion
    dense = X.toarray()
    copied = X.copy()
    result = normalize(X)
    # Two stored entries of a row summed before the norm, or after: a row of
    # two values either way (norm_rtol(2), 8 eps).
    assert_allclose(result.toarray(), normalize(dense), rtol=norm_rtol(2))
    assert_array_equal(X.data, copied.data)  # the caller's matrix is untouched
    assert_array_equal(X.indices, copied.indices)


def test_fit_records_features_and_checks_them_later():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_signed_data(n_features=3), columns=["x", "y", "z"])
    normalizer = Normalizer().fit(df)
    assert normalizer.n_features_in_ == 3
    assert list(normalizer.feature_names_in_) == ["x", "y", "z"]
    assert list(normalizer.get_feature_names_out()) == ["x", "y", "z"]
    with (
        pytest.warns(UserWarning, match="fitted with feature names"),
        pytest.raises(ValueError, match="features"),
    ):
        normalizer.transform(_signed_data(n_features=4))


def test_fit_validates_groups_against_the_data():
    with pytest.raises(ValueError, match="out of range"):
        Normalizer(groups=[[0, 3]]).fit(_signed_data(n_features=3))


def test_parameters_are_stored_untouched():
    groups = [slice(0, 2), np.array([2, 3])]
    weights = (1, 3)
    normalizer = Normalizer(groups=groups, weights=weights)
    normalizer.fit(_signed_data(n_features=4))
    assert normalizer.groups is groups and normalizer.weights is weights


def test_tags():
    for estimator in ALL_ESTIMATORS:
        tags = estimator.__sklearn_tags__()
        assert tags.requires_fit is False
        assert tags.input_tags.allow_nan
        assert tags.transformer_tags.preserves_dtype == [
            "float64",
            "float32",
            "float16",
        ]
    assert Normalizer().__sklearn_tags__().input_tags.sparse
    assert not RowStandardizer().__sklearn_tags__().input_tags.sparse
    assert RowStandardizer(with_mean=False).__sklearn_tags__().input_tags.sparse
    assert RowStandardizer(method="rms").__sklearn_tags__().input_tags.sparse


@pytest.mark.parametrize("fmt", FORMATS)
def test_axis_zero_normalizes_columns(fmt):
    X = _signed_data()
    result, norms = normalize(_container(X, fmt), axis=0, return_norm=True)
    if fmt is not None:
        assert result.format == fmt
    # Norms of columns of n_samples values, computed along either axis.
    rtol = norm_rtol(X.shape[0])
    assert_allclose(_dense(result), normalize(X.T).T, rtol=rtol)
    assert_allclose(norms, np.linalg.norm(X, axis=0), rtol=rtol)


def test_infinity_is_rejected_naming_the_feature():
    X = _signed_data()
    X[1, 2] = np.inf
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2"):
        normalize(X)
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2"):
        row_norms(X)


def test_row_norms_matches_numpy_and_survives_overflow():
    X = _signed_data()
    for norm, p in NAMED_NORMS.items():
        assert_allclose(row_norms(X, norm), _numpy_norms(X, p), rtol=1e-14)
        for fmt in ["csr", "csc"]:
            assert_allclose(
                row_norms(_container(X, fmt), norm), _numpy_norms(X, p), rtol=1e-14
            )
    assert_allclose(row_norms([[1e200, 1e200]]), [np.sqrt(2) * 1e200], rtol=1e-15)
    assert row_norms(np.zeros((1, 3)))[0] == 0.0
