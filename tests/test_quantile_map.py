"""The quantile map (``sknorm.scalers._quantile_map``) against scikit-learn.

The reference is scikit-learn's ``QuantileTransformer.transform`` and
``inverse_transform`` (``_transform_col``), run with the same ``quantiles_``
and ``references_`` as the map: fitted by scikit-learn on the test data, or
set by hand for quantiles no fit gives (spans beyond the float64 range,
subnormal gaps).

The bound is equality. Both compute each probability with ``np.interp``'s
operations in the same order (slopes ``(f[i+1] - f[i]) / (k[i+1] - k[i])``,
``slope * (x - k[i]) + f[i]``, the same fallbacks where that is NaN; the
interpolation from the left is ``np.interp``'s on negated arrays, whose
negations are exact and whose roundings are symmetric), every operation
correctly rounded (IEEE 754, no fused multiply-add: numpy's baseline build
and numba without fastmath contract none), then the same ``ndtri``/``ndtr``
of scipy. So the results are equal bit for bit for float64 data; float32 and
float16 data are computed in float64 and rounded once, which is
scikit-learn's result on the float64 values rounded to X's dtype (and
scikit-learn's own float32/float16 result too, for a uniform output and for
every inverse). Every test runs with the compiled kernels and the numpy path
(``path``), on blocks and tasks small enough that a few hundred rows make
many of each (``small_tasks``).
"""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from scipy.special import ndtri
from sklearn import config_context
from sklearn.preprocessing import QuantileTransformer

from sknorm._kernels import numba_available, use_numba
from sknorm.scalers._quantile_map import BOUNDS_THRESHOLD, QuantileMap

from .conftest import SPARSE_CONTAINERS

DISTRIBUTIONS = ["uniform", "normal"]


@pytest.fixture
def small_tasks(small_tasks, monkeypatch):
    """The shared small blocks and tasks, and sparse tasks of 16 values."""
    monkeypatch.setattr("sknorm.scalers._quantile_map._SPARSE_TASK", 16)


def sklearn_with(quantiles, distribution):
    """scikit-learn's transformer with the given quantiles, as if fitted."""
    quantiles = np.asarray(quantiles, dtype=np.float64)
    theirs = QuantileTransformer(
        n_quantiles=quantiles.shape[0], output_distribution=distribution
    )
    theirs.quantiles_ = quantiles
    theirs.references_ = np.linspace(0, 1, quantiles.shape[0])
    theirs.n_quantiles_ = quantiles.shape[0]
    theirs.n_features_in_ = quantiles.shape[1]
    return theirs


def sklearn_fitted(X, n_quantiles, distribution):
    return QuantileTransformer(
        n_quantiles=n_quantiles, output_distribution=distribution, subsample=None
    ).fit(X)


def ours_like(theirs):
    return QuantileMap(
        theirs.quantiles_, theirs.references_, theirs.output_distribution
    )


def reference(theirs, X, inverse=False):
    """scikit-learn's result (its warnings on extreme values silenced: np.interp
    raises floating-point flags on the spans it handles by its fallbacks)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        method = theirs.inverse_transform if inverse else theirs.transform
        return method(X.copy())


def probes(quantiles, rng, n_random=50):
    """Values to map, per feature: every quantile, its neighbouring floats,
    midpoints, values beyond both ends, random values inside, NaN."""
    q = np.asarray(quantiles)
    lo, hi = q.min(axis=0), q.max(axis=0)
    with np.errstate(over="ignore", invalid="ignore"):
        width = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
        rows = [
            q,
            np.nextafter(q, np.inf),
            np.nextafter(q, -np.inf),
            (q[:-1] + (q[1:] - q[:-1]) / 2) if len(q) > 1 else q,
            q[:-1] / 2 + q[1:] / 2 if len(q) > 1 else q,
            lo - width * np.array([[0.5], [1e-9]]),
            hi + width * np.array([[0.5], [1e-9]]),
            lo + width * rng.uniform(size=(n_random, q.shape[1])),
            lo - BOUNDS_THRESHOLD * np.array([[0.5], [1.0], [1.5]]),
            hi + BOUNDS_THRESHOLD * np.array([[0.5], [1.0], [1.5]]),
            np.full((2, q.shape[1]), np.nan),
        ]
    X = np.concatenate(rows)
    X = X[:, :]
    X[~np.isfinite(X)] = np.nan
    return rng.permutation(X)


def inverse_probes(distribution, n_features, rng, n_quantiles):
    """Values to map back: references and their neighbours, 0 and 1, beyond,
    random, NaN (normal: their ``ndtri``, the clip bounds, far tails)."""
    r = np.linspace(0, 1, n_quantiles)
    u = np.concatenate(
        [
            r,
            np.nextafter(r, 2),
            np.nextafter(r, -1),
            [0.0, 1.0, -0.25, 1.25, 0.5, BOUNDS_THRESHOLD, 1 - BOUNDS_THRESHOLD],
            rng.uniform(size=60),
        ]
    )
    if distribution == "normal":
        with np.errstate(divide="ignore"):
            u = ndtri(np.clip(u, 0, 1))
        u = np.concatenate([u, [-40.0, 40.0, -5.2, 5.2, -5.19933758, 5.19933758]])
    u = np.concatenate([u, [np.nan]])
    u = u[np.isfinite(u) | np.isnan(u)]
    return np.stack([rng.permutation(u) for _ in range(n_features)], axis=1)


def assert_identical(actual, expected):
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(actual, expected, strict=True)


def _datasets():
    rng = np.random.default_rng(42)
    n = 1100
    lognormal = rng.lognormal(size=(n, 3))
    ties = np.round(rng.normal(size=(n, 3)) * np.array([1, 3, 0.3]))
    ties[: n // 2, 2] = 7.0  # half the column on one value
    constant = np.column_stack([np.full(n, 2.5), np.zeros(n), rng.normal(size=n)])
    extreme = rng.normal(size=(n, 4)) * np.array([1e-300, 1e300, 1e-315, 1e-320])
    signed = rng.standard_t(2, size=(n, 2)) * 1e5
    return {
        "lognormal": lognormal,
        "ties": ties,
        "constant": constant,
        "extreme": extreme,
        "signed": signed,
    }


DATASETS = _datasets()


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("n_quantiles", [1, 2, 3, 10, 1000])
@pytest.mark.parametrize("data", sorted(DATASETS))
def test_forward_and_inverse_are_scikit_learns(
    path, small_tasks, data, n_quantiles, distribution
):
    rng = np.random.default_rng(0)
    X = DATASETS[data]
    theirs = sklearn_fitted(X, n_quantiles, distribution)
    ours = ours_like(theirs)
    T = np.concatenate([X, probes(theirs.quantiles_, rng)])
    forward = reference(theirs, T)
    assert_identical(ours.transform(T, in_place=False), forward)
    U = np.concatenate(
        [
            forward,
            inverse_probes(distribution, X.shape[1], rng, theirs.n_quantiles_),
        ]
    )
    assert_identical(
        ours.inverse_transform(U, in_place=False), reference(theirs, U, True)
    )


def test_more_than_2_15_quantiles(path):
    # The index guide counts knots in 32 bits from 2**15 quantiles on.
    rng = np.random.default_rng(8)
    X = rng.standard_t(3, size=(40_000, 2))
    X[:, 1] = np.round(X[:, 1], 1)
    theirs = sklearn_fitted(X, 40_000, "uniform")
    ours = ours_like(theirs)
    T = np.concatenate([X[:2000], probes(theirs.quantiles_[::50], rng)])
    forward = ours.transform(T, in_place=False)
    assert_identical(forward, reference(theirs, T))
    back = ours.inverse_transform(forward, in_place=False)
    assert_identical(back, reference(theirs, forward, True))


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_spans_beyond_the_float64_range_and_subnormal_gaps(
    path, small_tasks, distribution
):
    # Differences of quantiles that overflow (slopes rounded to 0, products
    # 0 * inf) or gaps of a few subnormals (slopes of inf): np.interp's
    # fallbacks decide, and are reproduced.
    quantiles = np.array(
        [
            [-1.7e308, -5e-324, 0.0, -1e308],
            [-1e308, 0.0, 0.0, 0.0],
            [0.0, 5e-324, 1e-323, 0.0],
            [1e308, 5e-324, 2e-323, 1e308],
            [1.7e308, 1e-322, 2e-323, 1.7e308],
        ]
    )
    theirs = sklearn_with(quantiles, distribution)
    ours = ours_like(theirs)
    rng = np.random.default_rng(1)
    T = np.concatenate(
        [
            probes(quantiles, rng),
            rng.uniform(-1, 1, size=(200, 4)) * 1.7e308,
            rng.uniform(-1, 1, size=(200, 4)) * 2e-322,
        ]
    )
    assert_identical(ours.transform(T, in_place=False), reference(theirs, T))
    U = inverse_probes(distribution, 4, rng, 5)
    assert_identical(
        ours.inverse_transform(U, in_place=False), reference(theirs, U, True)
    )


@settings(max_examples=60, deadline=None)
@given(
    knots=st.lists(
        st.sampled_from([-1e300, -3.0, -1.0, -1e-310, 0.0, 5e-324, 1.0, 2.5, 1e300]),
        min_size=1,
        max_size=12,
    ),
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=False, width=64),
        min_size=1,
        max_size=30,
    ),
    distribution=st.sampled_from(DISTRIBUTIONS),
    compiled=st.booleans(),
)
def test_any_quantiles_and_values_are_scikit_learns(
    knots, values, distribution, compiled
):
    # Sorted draws from a small set: ties, zeros, subnormals, huge spans.
    quantiles = np.sort(np.array(knots))[:, None]
    theirs = sklearn_with(quantiles, distribution)
    ours = ours_like(theirs)
    X = np.concatenate([np.array(values), quantiles[:, 0]])[:, None]
    with use_numba(compiled and numba_available()):
        got = ours.transform(X, in_place=False)
        back = ours.inverse_transform(got, in_place=False)
    assert_identical(got, reference(theirs, X))
    assert_identical(back, reference(theirs, got, True))


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_low_precision_is_computed_in_float64_and_rounded_once(
    path, small_tasks, dtype, distribution
):
    rng = np.random.default_rng(2)
    X = np.concatenate([DATASETS["lognormal"], DATASETS["ties"]], axis=1)
    X = X.astype(dtype)
    theirs = sklearn_fitted(X.astype(np.float64), 100, distribution)
    ours = ours_like(theirs)
    T = np.concatenate([X, probes(theirs.quantiles_, rng).astype(dtype)])
    T64 = T.astype(np.float64)  # exact
    forward = ours.transform(T, in_place=False)
    assert_identical(forward, reference(theirs, T64).astype(dtype))
    U = forward.astype(np.float64)
    back = ours.inverse_transform(forward, in_place=False)
    assert_identical(back, reference(theirs, U, True).astype(dtype))
    # scikit-learn on float32/float16 rounds once too where it computes the
    # interpolation in float64 and writes it: the uniform output and every
    # inverse (ndtr returns float64).
    if distribution == "uniform":
        assert_identical(forward, reference(theirs, T))
    assert_identical(back, reference(theirs, forward, True))


def test_float32_normal_output_is_closer_than_a_second_rounding(path):
    # scikit-learn rounds the probability to float32 before ndtri; the map
    # rounds ndtri of the float64 probability once: within half an ulp of
    # float32 of the float64 result, where scikit-learn can be far off in
    # the tails (the float32 spacing of u near 1 is 6e-8).
    rng = np.random.default_rng(3)
    X = rng.lognormal(size=(5000, 1)).astype(np.float32)
    theirs = sklearn_fitted(X.astype(np.float64), 1000, "normal")
    ours = ours_like(theirs).transform(X, in_place=False)
    exact = reference(theirs, X.astype(np.float64))
    half_ulp = np.spacing(np.abs(ours)) / 2
    assert np.all(np.abs(ours - exact) <= half_ulp)


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_in_place_writes_into_x_and_copy_leaves_it(
    path, small_tasks, dtype, order, inverse
):
    rng = np.random.default_rng(4)
    X = np.asarray(rng.lognormal(size=(300, 5)), dtype=dtype, order=order)
    X[::13, 2] = np.nan
    theirs = sklearn_fitted(X.astype(np.float64), 50, "uniform")
    ours = ours_like(theirs)
    if inverse:
        X = np.asarray(rng.uniform(size=X.shape), dtype=dtype, order=order)
    method = ours.inverse_transform if inverse else ours.transform
    before = X.copy()
    copied = method(X, in_place=False)
    np.testing.assert_array_equal(X, before, strict=True)
    assert copied.flags.f_contiguous == (order == "F")
    result = method(X, in_place=True)
    assert result is X
    assert_identical(X, copied)
    expected = reference(theirs, before.astype(np.float64), inverse).astype(dtype)
    assert_identical(copied, expected)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_maps_stored_values_only(
    path, small_tasks, container, dtype, distribution
):
    rng = np.random.default_rng(5)
    dense = rng.lognormal(size=(200, 6)) * (rng.uniform(size=(200, 6)) < 0.4)
    dense[::11, 1] = np.nan
    X = container(dense.astype(dtype))
    X.data[::17] = 0.0  # explicit zeros are mapped as stored values
    X_before = X.copy()
    theirs = sklearn_fitted(dense, 30, distribution)
    ours = ours_like(theirs)
    result = ours.transform(X, in_place=False)
    assert type(result) is type(X)
    assert result.data.dtype == dtype
    np.testing.assert_array_equal(result.indices, X.indices)
    np.testing.assert_array_equal(result.indptr, X.indptr)
    np.testing.assert_array_equal(X.data, X_before.data)
    # scikit-learn maps the stored values of each CSC column.
    csc = sparse.csc_matrix(X_before, dtype=np.float64)
    expected = reference(theirs, csc).astype(dtype)
    assert_identical(sparse.csc_matrix(result).toarray(), expected.toarray())
    back = ours.inverse_transform(result, in_place=False)
    expected_back = reference(theirs, sparse.csc_matrix(result, dtype=np.float64), True)
    assert_identical(
        sparse.csc_matrix(back).toarray(), expected_back.astype(dtype).toarray()
    )
    in_place = ours.transform(X, in_place=True)
    assert in_place is X
    np.testing.assert_array_equal(X.data, result.data, strict=True)


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_empty_and_no_stored_values(path, distribution):
    ours = QuantileMap(np.array([[0.0, 1.0], [2.0, 3.0]]), [0.0, 1.0], distribution)
    for X in (np.empty((0, 2)), np.empty((0, 2), np.float32)):
        assert ours.transform(X, in_place=False).shape == (0, 2)
    X = sparse.csr_matrix((5, 2))
    assert ours.transform(X, in_place=False).nnz == 0
    assert ours.inverse_transform(sparse.csc_array((5, 2)), in_place=False).nnz == 0


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("container", [np.asarray, *SPARSE_CONTAINERS])
def test_a_feature_fitted_on_no_value_maps_to_nan(path, container, distribution):
    # Its quantiles are NaN; scikit-learn's np.interp then gives NaN.
    X = np.column_stack([np.full(20, np.nan), np.arange(20.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # All-NaN slice
        theirs = sklearn_fitted(X, 10, distribution)
    ours = ours_like(theirs)
    T = np.array([[1.0, 1.0], [np.nan, 2.0], [0.0, 0.0], [7.0, 3.0]])
    forward = ours.transform(container(T), in_place=False)
    assert np.isnan(_dense(forward)[[0, 1, 3], 0]).all()
    U = np.array([[0.3, 0.3], [0.0, 0.0], [1.0, 1.0]])
    back = ours.inverse_transform(container(U), in_place=False)
    if container is np.asarray:
        assert_identical(forward, reference(theirs, T))
        assert_identical(back, reference(theirs, U, True))
    else:  # implicit zeros stay 0
        assert _dense(forward)[2, 0] == 0
        np.testing.assert_array_equal(
            _dense(forward)[:, 1], reference(theirs, T)[:, 1] * (T[:, 1] != 0)
        )
    assert np.isnan(_dense(back)[[0, 2], 0]).all()


def _dense(X):
    return X.toarray() if sparse.issparse(X) else X


def test_clip_bounds_are_scikit_learns():
    from scipy import stats

    ours = QuantileMap(np.zeros((2, 1)), [0.0, 1.0], "normal")
    low = stats.norm.ppf(BOUNDS_THRESHOLD - np.spacing(1))
    high = stats.norm.ppf(1 - (BOUNDS_THRESHOLD - np.spacing(1)))
    assert ours.clip == (low, high)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="quantiles must be a 2-D"):
        QuantileMap(np.zeros(3), np.zeros(3), "uniform")
    with pytest.raises(ValueError, match="references must have shape"):
        QuantileMap(np.zeros((3, 2)), np.zeros(2), "uniform")
    with pytest.raises(ValueError, match="output_distribution"):
        QuantileMap(np.zeros((3, 2)), np.zeros(3), "laplace")
    ours = QuantileMap(np.zeros((3, 2)), np.linspace(0, 1, 3), "uniform")
    with pytest.raises(ValueError, match="X has 3 features"):
        ours.transform(np.zeros((4, 3)), in_place=False)
    with pytest.raises(TypeError, match="CSR or CSC sparse input, got coo"):
        ours.transform(sparse.coo_matrix(np.ones((4, 2))), in_place=False)


def _namespaces():
    params = [pytest.param("array_api_strict", id="array_api_strict")]
    params.append(pytest.param("torch", id="torch"))
    return params


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("library", _namespaces())
def test_array_api_input_matches_the_numpy_path(library, distribution):
    # The same float64 operations on the device (torch's CPU kernels and
    # numpy's are correctly rounded and unfused): equal results.
    xp = pytest.importorskip(library)
    rng = np.random.default_rng(6)
    X = np.concatenate([DATASETS["ties"], DATASETS["lognormal"]], axis=1)
    theirs = sklearn_fitted(X, 100, distribution)
    # A last feature fitted on no value (NaN quantiles): NaN out.
    quantiles = np.column_stack([theirs.quantiles_, np.full(100, np.nan)])
    ours = QuantileMap(quantiles, theirs.references_, distribution)
    X = np.column_stack([X, X[:, 0]])
    for dtype in (np.float64, np.float32):
        T = np.concatenate([X, probes(quantiles, rng)]).astype(dtype)
        expected = ours.transform(T, in_place=False)
        expected_back = ours.inverse_transform(expected, in_place=False)
        device_T = xp.asarray(T)
        with config_context(array_api_dispatch=True):
            got = ours.transform(device_T, in_place=False)
            back = ours.inverse_transform(got, in_place=False)
        assert type(got) is type(device_T)
        assert_identical(np.asarray(got), expected)
        assert_identical(np.asarray(back), expected_back)
        assert np.isnan(expected[:, -1]).all()


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_results_do_not_depend_on_the_number_of_threads(
    path, small_tasks, monkeypatch, distribution
):
    rng = np.random.default_rng(7)
    X = rng.lognormal(size=(3000, 7))
    X[::31, 4] = np.nan
    theirs = sklearn_fitted(X, 200, distribution)
    ours = ours_like(theirs)
    S = sparse.csr_matrix(X * (rng.uniform(size=X.shape) < 0.3))

    def run():
        forward = ours.transform(X, in_place=False)
        return [
            forward,
            ours.inverse_transform(forward, in_place=False),
            ours.transform(S, in_place=False).toarray(),
            ours.transform(S.tocsc(), in_place=False).toarray(),
        ]

    monkeypatch.setenv("SKNORM_NUM_THREADS", "1")
    one = run()
    monkeypatch.setenv("SKNORM_NUM_THREADS", "2")
    two = run()
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)
