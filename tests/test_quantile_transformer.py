"""QuantileTransformer and quantile_transform against scikit-learn's, exact
order statistics, the sketch's rank bound, and invariants.

References: scikit-learn's QuantileTransformer with ``subsample=None``
(``np.nanpercentile`` on all rows) bit for bit, and with the same
``subsample`` and ``random_state`` (the same draws); order statistics of an
exact sort (``fractions``); the guaranteed rank bound of the quantile sketch
for ``partial_fit``.
"""

import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse
from sklearn.preprocessing import QuantileTransformer as SklearnQuantileTransformer
from sklearn.preprocessing import quantile_transform as sklearn_quantile_transform

from sknorm import QuantileTransformer, quantile_transform
from sknorm._kernels import numba_available, use_numba
from sknorm.scalers._quantile import percentile_levels

from .conftest import SKLEARN_VERSION

EPS = float(np.finfo(np.float64).eps)

COMPILED = [False, True] if numba_available() else [False]


def _sklearn(**params):
    params.setdefault("subsample", None)
    return SklearnQuantileTransformer(**params)


def _quietly(function, *args, **kwargs):
    """scikit-learn's fit warns on all-NaN columns (numpy's RuntimeWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(*args, **kwargs)


def _data(n=3_000, p=4, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.lognormal(size=n),
            rng.normal(size=n) * 1e3 - 5,
            rng.integers(0, 4, n).astype(float),  # heavy ties
            rng.standard_cauchy(size=n),
        ][:p]
    )
    X[rng.random(X.shape) < 0.05] = np.nan
    return X.astype(dtype)


def _assert_same_fit(ours, theirs):
    assert ours.n_quantiles_ == theirs.n_quantiles_
    np.testing.assert_array_equal(ours.references_, theirs.references_)
    np.testing.assert_array_equal(ours.quantiles_, theirs.quantiles_)


# --------------------------------------------------------------------------
# scikit-learn's results
# --------------------------------------------------------------------------


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_quantiles", [1000, 100, 2])
@pytest.mark.parametrize("output_distribution", ["uniform", "normal"])
def test_dense_equals_sklearn(compiled, dtype, n_quantiles, output_distribution):
    X = _data(dtype=dtype)
    params = {"n_quantiles": n_quantiles, "output_distribution": output_distribution}
    with use_numba(compiled):
        ours = QuantileTransformer(**params).fit(X)
    theirs = _sklearn(**params).fit(X)
    _assert_same_fit(ours, theirs)
    X_new = _data(seed=1, dtype=dtype) * 1.5
    forward = ours.transform(X_new)
    assert forward.dtype == dtype
    # The map of float32 data is scikit-learn's on the values in float64,
    # rounded once (scikit-learn rounds the normal map's probabilities to
    # float32 first: see sknorm.scalers._quantile_map).
    wide = X_new.astype(np.float64)
    np.testing.assert_array_equal(forward, theirs.transform(wide).astype(dtype))
    back = ours.inverse_transform(forward)
    assert back.dtype == dtype
    expected = theirs.inverse_transform(forward.astype(np.float64)).astype(dtype)
    np.testing.assert_array_equal(back, expected)


@pytest.mark.parametrize("compiled", COMPILED)
def test_large_dense_equals_nanpercentile(compiled):
    """Past the row count where the compiled path buckets the columns."""
    X = _data(n=70_000)
    with use_numba(compiled):
        ours = QuantileTransformer().fit(X)
    expected = np.nanpercentile(X, ours.references_ * 100, axis=0)
    np.testing.assert_array_equal(ours.quantiles_, expected)


@pytest.mark.parametrize("compiled", COMPILED)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("ignore_implicit_zeros", [False, True])
def test_sparse_equals_sklearn(compiled, fmt, ignore_implicit_zeros):
    X = sparse.random(2_000, 5, density=0.1, format=fmt, random_state=0)
    X.data[::13] = 0.0  # stored zeros
    X.data[::17] = np.nan
    # The last column stores nothing: quantiles 0 when zeros are ignored.
    X = sparse.hstack([X[:, :4], sparse.csr_matrix((2_000, 1))]).asformat(fmt)
    params = {"ignore_implicit_zeros": ignore_implicit_zeros, "n_quantiles": 500}
    with use_numba(compiled):
        ours = QuantileTransformer(**params).fit(X)
    theirs = _sklearn(**params).fit(X)
    _assert_same_fit(ours, theirs)
    out = ours.transform(X)
    assert out.format == fmt
    expected = theirs.transform(X.tocsc())
    np.testing.assert_array_equal(out.toarray(), expected.toarray())
    np.testing.assert_array_equal(
        ours.inverse_transform(out).toarray(),
        theirs.inverse_transform(expected).toarray(),
    )


def test_subsample_equals_sklearn_dense():
    X = _data(n=5_000)
    for seed in (0, 7):
        params = {"subsample": 1_000, "random_state": seed, "n_quantiles": 300}
        ours = QuantileTransformer(**params).fit(X)
        theirs = SklearnQuantileTransformer(**params).fit(X)
        _assert_same_fit(ours, theirs)
    # A generator is consumed as scikit-learn consumes it.
    ours = QuantileTransformer(subsample=500, random_state=np.random.RandomState(3))
    theirs = SklearnQuantileTransformer(
        subsample=500, random_state=np.random.RandomState(3), n_quantiles=500
    )
    _assert_same_fit(ours.set_params(n_quantiles=500).fit(X), theirs.fit(X))


@pytest.mark.parametrize("ignore_implicit_zeros", [False, True])
def test_subsample_equals_sklearn_sparse(ignore_implicit_zeros):
    if ignore_implicit_zeros and SKLEARN_VERSION < (1, 9):
        pytest.skip(
            "sknorm draws the stored values as scikit-learn 1.9 does (checked "
            "against 1.9.1); scikit-learn 1.6 drew subsample * nnz / n_samples "
            "of them with ignore_implicit_zeros=True"
        )
    # Columns storing more and fewer values than the subsample.
    X = sparse.random(4_000, 6, density=0.2, format="csc", random_state=1)
    X = sparse.hstack(
        [X, sparse.random(4_000, 3, density=0.01, format="csc", random_state=2)]
    ).tocsc()
    params = {
        "subsample": 300,
        "random_state": 5,
        "n_quantiles": 100,
        "ignore_implicit_zeros": ignore_implicit_zeros,
    }
    ours = QuantileTransformer(**params).fit(X)
    theirs = SklearnQuantileTransformer(**params).fit(X)
    _assert_same_fit(ours, theirs)


def test_all_nan_column_and_constant_columns_as_sklearn():
    X = _data(n=500)
    X[:, 1] = np.nan
    X[:, 2] = 4.0
    ours = QuantileTransformer(n_quantiles=50).fit(X)
    theirs = _quietly(_sklearn(n_quantiles=50).fit, X)
    _assert_same_fit(ours, theirs)
    np.testing.assert_array_equal(
        ours.transform(X), _quietly(theirs.transform, X.copy())
    )


def test_function_equals_sklearn_and_estimator():
    X = _data(n=400)
    for axis, n_quantiles in ((0, 50), (1, 4)):
        ours = quantile_transform(X, axis=axis, n_quantiles=n_quantiles)
        theirs = sklearn_quantile_transform(
            X, axis=axis, n_quantiles=n_quantiles, subsample=None
        )
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(
        quantile_transform(X, n_quantiles=50, output_distribution="normal"),
        QuantileTransformer(n_quantiles=50, output_distribution="normal")
        .fit(X)
        .transform(X),
    )
    one_dimensional = quantile_transform(X[:, 0], n_quantiles=50)
    assert one_dimensional.shape == (400,)


# --------------------------------------------------------------------------
# Errors and warnings as scikit-learn's
# --------------------------------------------------------------------------


def test_more_quantiles_than_samples_warns_as_sklearn():
    X = _data(n=30)
    message = r"n_quantiles \(100\) is greater than the total number of samples \(30\)"
    with pytest.warns(UserWarning, match=message):
        ours = QuantileTransformer(n_quantiles=100).fit(X)
    with pytest.warns(UserWarning, match=message):
        theirs = _sklearn(n_quantiles=100).fit(X)
    _assert_same_fit(ours, theirs)
    assert ours.n_quantiles_ == 30
    # Streaming grows the number of quantiles with the rows seen, silently.
    streamed = QuantileTransformer(n_quantiles=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        streamed.partial_fit(X[:10])
        assert streamed.n_quantiles_ == 10
        streamed.partial_fit(X[10:])
    assert streamed.n_quantiles_ == 30
    np.testing.assert_array_equal(streamed.quantiles_, ours.quantiles_)


def test_more_quantiles_than_subsample_raises_as_sklearn():
    message = "The number of quantiles cannot be greater than the number of samples"
    X = _data(n=100)
    for estimator in (
        QuantileTransformer(subsample=10),
        SklearnQuantileTransformer(subsample=10),
    ):
        with pytest.raises(ValueError, match=message):
            estimator.fit(X)


def test_negative_sparse_input_raises_as_sklearn():
    X = sparse.csr_matrix(np.array([[1.0, -2.0], [0.0, 3.0]]))
    message = "only accepts non-negative sparse matrices"
    with pytest.raises(ValueError, match=message):
        QuantileTransformer().fit(X)
    fitted = QuantileTransformer(n_quantiles=2).fit(abs(X))
    with pytest.raises(ValueError, match=message):
        fitted.transform(X)
    # Ignoring the implicit zeros, negative values are fine.
    QuantileTransformer(n_quantiles=2, ignore_implicit_zeros=True).fit(X)


def test_ignore_implicit_zeros_on_dense_input_warns_as_sklearn():
    X = _data(n=50)
    message = "'ignore_implicit_zeros' takes effect only with sparse matrix"
    with pytest.warns(UserWarning, match=message):
        QuantileTransformer(n_quantiles=10, ignore_implicit_zeros=True).fit(X)


def test_ignore_implicit_zeros_has_no_effect_on_dense_input():
    """Dense input: the flag changes nothing, an all-NaN feature included
    (NaN quantiles, as scikit-learn); sparse input storing nothing in a
    feature: quantiles 0, as scikit-learn."""
    X = _data(n=50)
    X[:, 1] = np.nan
    kwargs = {"n_quantiles": 10, "ignore_implicit_zeros": True}
    with warnings.catch_warnings():
        # The flag's warning, and numpy's on scikit-learn's all-NaN feature.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        ours = QuantileTransformer(**kwargs).fit(X).quantiles_
        theirs = SklearnQuantileTransformer(**kwargs).fit(X).quantiles_
    np.testing.assert_array_equal(ours, theirs)
    assert np.isnan(ours[:, 1]).all()
    S = sparse.csc_matrix(np.abs(_data(n=50)))
    S[:, 1] = 0.0
    S.eliminate_zeros()
    ours = QuantileTransformer(**kwargs).fit(S).quantiles_
    theirs = SklearnQuantileTransformer(**kwargs).fit(S).quantiles_
    np.testing.assert_array_equal(ours, theirs)
    assert (ours[:, 1] == 0).all()


@pytest.mark.parametrize("method", ["fit", "transform", "inverse_transform"])
def test_infinity_is_rejected(method):
    X = _data(n=100)
    fitted = QuantileTransformer(n_quantiles=10).fit(X)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        getattr(fitted, method)(X)
    fitted.set_params(subsample=50)
    with pytest.raises(ValueError, match="infinity"):
        fitted.fit(X)


def test_copy_false_transforms_in_place_and_copy_true_does_not():
    X = _data(n=200)
    fitted = QuantileTransformer(n_quantiles=20).fit(X)
    expected = fitted.transform(X)
    original = X.copy()
    fitted.transform(X, copy=True)
    np.testing.assert_array_equal(X, original)
    out = fitted.set_params(copy=False).transform(X)
    assert out is X or np.shares_memory(out, X)
    np.testing.assert_array_equal(X, expected)


# --------------------------------------------------------------------------
# Exact order statistics, adversarial magnitudes
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column",
    [
        np.full(40, 3.0),  # constant
        np.r_[np.zeros(30), np.ones(10)],  # two-valued
        np.r_[np.full(35, -1.0), np.arange(5.0)],  # heavy ties
        np.geomspace(1e-300, 1e300, 40),  # extreme magnitudes
        np.arange(-20, 20) * 5e-324,  # subnormals
        np.r_[np.full(20, -1.5e308), np.full(20, 1.5e308)],  # a range past float64
    ],
    ids=["constant", "two-valued", "ties", "magnitudes", "subnormal", "overflow"],
)
def test_quantiles_are_exact_order_statistics(column):
    """Each quantile lies between the two values of an exact sort
    (fractions) at the floor and the ceiling of its rank ``(n - 1) q`` (as
    numpy rounds it), and equals scikit-learn's where numpy's interpolation
    does not overflow (ours is computed in halves there)."""
    X = column[:, None]
    ours = QuantileTransformer(n_quantiles=17).fit(X)
    values = sorted(Fraction(x) for x in column)
    n = len(values)
    ranks = (n - 1) * percentile_levels(ours.references_)
    overflows = []
    for q, rank in zip(ours.quantiles_[:, 0], ranks, strict=True):
        low = values[min(int(np.floor(rank)), n - 1)]
        high = values[min(int(np.ceil(rank)), n - 1)]
        assert low <= Fraction(q) <= high
        with np.errstate(over="ignore"):
            overflows.append(not np.isfinite(float(high) - float(low)))
    theirs = _quietly(_sklearn(n_quantiles=17).fit, X)
    # Where high - low overflows numpy's interpolation is not finite (numpy
    # 2) or wrong (numpy 1.24: -1.5e308 as the median of +/-1.5e308).
    same = np.isfinite(theirs.quantiles_[:, 0]) & ~np.array(overflows)
    np.testing.assert_array_equal(ours.quantiles_[same, 0], theirs.quantiles_[same, 0])
    forward = ours.transform(X)
    # The map is np.interp's arithmetic, scikit-learn's: knots closer than
    # the normal range give slopes that overflow, and NaN, as there.
    expected = _quietly(theirs.transform, X.copy())
    np.testing.assert_array_equal(forward, expected)
    mapped = forward[np.argsort(column, kind="stable"), 0]
    mapped = mapped[~np.isnan(mapped)]
    assert np.all((mapped >= 0) & (mapped <= 1))
    assert np.all(np.diff(mapped) >= 0)


# --------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------

_finite = st.floats(-1e6, 1e6, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 60), st.integers(1, 3)), elements=_finite
    ),
    st.integers(2, 80),
    st.sampled_from(["uniform", "normal"]),
)
def test_map_is_monotone_and_matches_sklearn(X, n_quantiles, output_distribution):
    params = {"n_quantiles": n_quantiles, "output_distribution": output_distribution}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = QuantileTransformer(**params).fit(X)
        theirs = _sklearn(**params).fit(X)
    _assert_same_fit(ours, theirs)
    grid = np.sort(np.concatenate([X.ravel(), np.linspace(-2e6, 2e6, 50)]))
    forward = ours.transform(np.repeat(grid[:, None], X.shape[1], axis=1))
    # Monotone up to the rounding of scikit-learn's arithmetic (the mean of
    # two interpolations, each rounded: an ulp or two of values in [0, 1]).
    assert np.all(np.diff(forward, axis=0) >= -4 * EPS)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=60, unique=True
    )
)
def test_inverse_recovers_training_values(values):
    """With a quantile per training value (distinct values), each value is,
    up to the rounding of its rank, a knot of the map: the inverse gives it
    back. Error bound: the knot differs from the value by at most the rank's
    rounding (``n eps``) times the gap to its neighbour (at most the range),
    and each of the two interpolations rounds within a few ``eps`` of the
    largest magnitude."""
    X = np.array(values)[:, None]
    n = len(values)
    fitted = QuantileTransformer(n_quantiles=n).fit(X)
    back = fitted.inverse_transform(fitted.transform(X))
    spread, magnitude = np.ptp(X), np.abs(X).max()
    atol = n * EPS * spread + 8 * EPS * magnitude
    np.testing.assert_allclose(back, X, rtol=0, atol=atol)


@pytest.mark.parametrize("seed", range(3))
def test_partial_fit_quantiles_lie_within_the_sketch_bound(seed):
    """Streamed in chunks, each fitted quantile's rank in all the data lies
    within the sketch's guaranteed bound of its reference level."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.lognormal(size=60_000),
            np.sort(rng.normal(size=60_000)),  # drifting
            rng.integers(0, 50, 60_000).astype(float),  # ties
        ]
    )
    streamed = QuantileTransformer()
    for chunk in np.array_split(X, 17):
        streamed.partial_fit(chunk)
    bound = streamed._stored_statistic("QuantileSketch").rank_error_bound()
    assert np.all(bound < 0.03)
    n = X.shape[0]
    for j in range(X.shape[1]):
        column = np.sort(X[:, j])
        q = streamed.quantiles_[:, j]
        below = np.searchsorted(column, q, side="left") / n
        at_or_below = np.searchsorted(column, q, side="right") / n
        target = streamed.references_
        # The level lies in the range of ranks the value occupies, give or
        # take the bound.
        assert np.all(below <= target + bound[j] + 1 / n)
        assert np.all(at_or_below >= target - bound[j] - 1 / n)


def test_partial_fit_after_fit_continues():
    X = _data(n=2_000)
    fitted = QuantileTransformer(n_quantiles=100).fit(X[:1_000])
    assert "Quantiles" not in fitted._statistics_state
    fitted.partial_fit(X[1_000:])
    assert fitted.n_samples_seen_ == 2_000
    exact = QuantileTransformer(n_quantiles=100).fit(X)
    # The first 1,000 rows are kept whole by the fit's sampled sketch: exact
    # sketch while small enough, else within its bound.
    bound = fitted._stored_statistic("QuantileSketch").rank_error_bound()
    for j in range(X.shape[1]):
        column = np.sort(X[~np.isnan(X[:, j]), j])
        ranks = np.searchsorted(column, fitted.quantiles_[:, j]) / len(column)
        exact_ranks = np.searchsorted(column, exact.quantiles_[:, j]) / len(column)
        assert np.all(np.abs(ranks - exact_ranks) <= bound[j] + 2 / len(column))


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64, st.tuples(st.integers(2, 40), st.integers(1, 3)), elements=_finite
    ),
    st.floats(1e-6, 1e6),
    st.integers(0, 2**32 - 1),
)
def test_weights_are_relative(X, factor, seed):
    """Weights w and c * w give the same fit; equal weights give the
    unweighted fit; zero weight removes a row."""
    weight = np.random.default_rng(seed).integers(1, 5, X.shape[0]).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = QuantileTransformer(n_quantiles=20).fit(X, sample_weight=weight)
        b = QuantileTransformer(n_quantiles=20).fit(X, sample_weight=weight * factor)
        np.testing.assert_array_equal(a.quantiles_, b.quantiles_)
        equal = QuantileTransformer(n_quantiles=20).fit(
            X, sample_weight=np.full(len(X), factor)
        )
        plain = QuantileTransformer(n_quantiles=20).fit(X)
        np.testing.assert_array_equal(equal.quantiles_, plain.quantiles_)
        if len(X) > 2:
            zero = weight.copy()
            zero[0] = 0
            removed = QuantileTransformer(n_quantiles=20).fit(X, sample_weight=zero)
            kept = QuantileTransformer(n_quantiles=20).fit(
                X[1:], sample_weight=weight[1:]
            )
            np.testing.assert_array_equal(removed.quantiles_, kept.quantiles_)


@settings(max_examples=30, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 40), st.integers(1, 3)),
        elements=st.floats(0, 1e6) | st.just(0.0),
    ),
    st.booleans(),
)
def test_dense_equals_sparse(X, ignore_implicit_zeros):
    """Dense and sparse input of the same values fit alike (zeros counted);
    ignoring implicit zeros fits each column's non-zero values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        from_sparse = QuantileTransformer(
            n_quantiles=25, ignore_implicit_zeros=ignore_implicit_zeros
        ).fit(sparse.csc_matrix(X))
        if not ignore_implicit_zeros:
            dense = QuantileTransformer(n_quantiles=25).fit(X)
            np.testing.assert_array_equal(from_sparse.quantiles_, dense.quantiles_)
            return
        for j in range(X.shape[1]):
            stored = X[X[:, j] != 0, j]
            if not stored.size:
                np.testing.assert_array_equal(from_sparse.quantiles_[:, j], 0.0)
                continue
            # The levels come from the row count (scikit-learn's n_samples);
            # the quantiles are the stored values'.
            expected = np.nanpercentile(stored, from_sparse.references_ * 100)
            np.testing.assert_array_equal(from_sparse.quantiles_[:, j], expected)


def test_decay_follows_drifting_data():
    """With decay, older batches weigh less: the median follows the drift."""
    rng = np.random.default_rng(4)
    forgetting = QuantileTransformer(n_quantiles=101, decay=0.5)
    remembering = QuantileTransformer(n_quantiles=101)
    for shift in (0.0, 0.0, 0.0, 10.0, 10.0, 10.0):
        batch = rng.normal(loc=shift, size=(500, 1))
        forgetting.partial_fit(batch)
        remembering.partial_fit(batch)
    median = 50  # references_[50] == 0.5
    # Weights 1/32 .. 1 of six batches: 7/63 of the weight is old data.
    assert forgetting.quantiles_[median, 0] > 9.0
    assert 0.0 < remembering.quantiles_[median, 0] < 10.0
    assert forgetting.n_samples_seen_ == pytest.approx(500 * (2 - 0.5**5))


@pytest.mark.parametrize("ignore_implicit_zeros", [False, True])
def test_sparse_partial_fit_equals_fit_while_exact(ignore_implicit_zeros):
    """The sketch keeps every value while it holds few (exact), so streaming
    small sparse data gives the fit's quantiles, implicit zeros counted or
    ignored alike."""
    X = sparse.random(300, 4, density=0.3, format="csr", random_state=6)
    params = {"n_quantiles": 50, "ignore_implicit_zeros": ignore_implicit_zeros}
    streamed = QuantileTransformer(**params)
    for rows in np.array_split(np.arange(300), 3):
        streamed.partial_fit(X[rows])
    fitted = QuantileTransformer(**params).fit(X)
    np.testing.assert_array_equal(streamed.quantiles_, fitted.quantiles_)
