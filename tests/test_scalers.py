"""StandardScaler, MinMaxScaler, MaxAbsScaler: parity with scikit-learn and
the cases where sknorm deliberately differs (checked against exact references)."""

import itertools
from fractions import Fraction

import numpy as np
import pytest
from scipy import sparse
from sklearn import preprocessing as skl
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import sknorm
from sknorm import MaxAbsScaler, MinMaxScaler, SquashingScaler, StandardScaler

from ._tolerances import EPS, assert_close
from .conftest import SKLEARN_VERSION, SPARSE_CONTAINERS

RTOL = 1e-12


def _random_data(n_samples=80, n_features=6, seed=0, nan_fraction=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) * rng.uniform(0.1, 100, n_features)
    X += rng.uniform(-1e3, 1e3, n_features)
    if nan_fraction:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    return X


def _adversarial_data():
    """Huge offsets, tiny spreads, mixed magnitudes, ties: still well conditioned
    enough that scikit-learn agrees to 1e-12."""
    rng = np.random.default_rng(7)
    n = 64
    return np.column_stack(
        [
            1e6 + rng.normal(size=n),
            rng.normal(size=n) * 1e-8,
            np.round(rng.normal(size=n)),  # many ties
            rng.lognormal(sigma=3, size=n),  # heavy right tail
            np.where(rng.random(n) < 0.9, 0.0, rng.normal(size=n) * 1e5),
            -1e-3 + rng.normal(size=n) * 1e-6,
        ]
    )


def _assert_close(actual, desired, rtol=RTOL):
    if sparse.issparse(actual):
        actual, desired = actual.toarray(), desired.toarray()
    if actual is None or desired is None:
        assert actual is None and desired is None
        return
    desired = np.asarray(desired, dtype=np.float64)
    scale = np.nanmax(np.abs(desired)) if np.size(desired) else 1.0
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale)


def _assert_same_attributes(ours, theirs, names):
    for name in names:
        _assert_close(getattr(ours, name), getattr(theirs, name))


DATASETS = {
    "random": _random_data(),
    "nan": _random_data(nan_fraction=0.2, seed=1),
    "adversarial": _adversarial_data(),
}


# ---------------------------------------------------------------- StandardScaler


@pytest.mark.parametrize("data", DATASETS, ids=str)
@pytest.mark.parametrize("with_mean", [True, False])
@pytest.mark.parametrize("with_std", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_standard_scaler_matches_sklearn(data, with_mean, with_std, weighted):
    X = DATASETS[data]
    weight = np.random.default_rng(2).uniform(0, 3, len(X)) if weighted else None
    params = dict(with_mean=with_mean, with_std=with_std)
    ours = StandardScaler(**params).fit(X, sample_weight=weight)
    theirs = skl.StandardScaler(**params).fit(X, sample_weight=weight)
    _assert_same_attributes(ours, theirs, ["mean_", "var_", "scale_"])
    if weighted and not (with_mean or with_std):
        # scikit-learn counts rows instead of summing weights in this one case;
        # sknorm reports the weight sum, as documented for every other case.
        expected = np.nansum(np.where(np.isnan(X), 0, weight[:, None]), axis=0)
        np.testing.assert_allclose(ours.n_samples_seen_, expected, rtol=RTOL)
    else:
        np.testing.assert_allclose(ours.n_samples_seen_, theirs.n_samples_seen_)
        assert np.ndim(ours.n_samples_seen_) == np.ndim(theirs.n_samples_seen_)
    # (x - mean) / std loses |x| * eps / std to rounding whoever computes it:
    # compare to that conditioning, not to the output's own magnitude.
    scale = ours.scale_ if ours.scale_ is not None else 1.0
    conditioning = RTOL * np.nanmax(np.abs(X), axis=0) / scale
    np.testing.assert_allclose(
        ours.transform(X), theirs.transform(X), rtol=RTOL, atol=conditioning.max()
    )
    Xt = theirs.transform(X)
    _assert_close(ours.inverse_transform(Xt), theirs.inverse_transform(Xt))


def test_standard_scaler_n_samples_seen_type_matches_sklearn():
    X = _random_data()
    assert isinstance(StandardScaler().fit(X).n_samples_seen_, np.integer)
    X[0, 0] = np.nan
    ours = StandardScaler().fit(X).n_samples_seen_
    np.testing.assert_array_equal(ours, skl.StandardScaler().fit(X).n_samples_seen_)
    assert ours.dtype == np.int64


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
@pytest.mark.parametrize("weighted", [False, True])
def test_standard_scaler_sparse_matches_sklearn(container, weighted):
    X = sparse.random(70, 5, density=0.3, random_state=3, format="csr") * 10
    X = container(X)
    X.data[::7] = np.nan
    weight = np.random.default_rng(4).uniform(0, 2, X.shape[0]) if weighted else None
    ours = StandardScaler(with_mean=False).fit(X, sample_weight=weight)
    theirs = skl.StandardScaler(with_mean=False).fit(X, sample_weight=weight)
    _assert_same_attributes(ours, theirs, ["mean_", "var_", "scale_"])
    np.testing.assert_allclose(ours.n_samples_seen_, theirs.n_samples_seen_)
    result = ours.transform(X)
    assert result.format == X.format and type(result) is type(X)
    _assert_close(result, theirs.transform(X))


def test_standard_scaler_partial_fit_matches_sklearn():
    X = DATASETS["nan"]
    ours, theirs = StandardScaler(), skl.StandardScaler()
    for chunk in np.array_split(X, 5):
        ours.partial_fit(chunk)
        theirs.partial_fit(chunk)
    _assert_same_attributes(ours, theirs, ["mean_", "var_", "scale_"])
    np.testing.assert_array_equal(ours.n_samples_seen_, theirs.n_samples_seen_)


def test_standard_scaler_sparse_centering_error():
    X = sparse.random(10, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(ValueError, match="Cannot center sparse matrices"):
        StandardScaler().fit(X)
    fitted = StandardScaler().fit(X.toarray())
    with pytest.raises(ValueError, match="with_mean=False"):
        fitted.transform(X)


def test_standard_scaler_float32_large_offset_is_unbiased():
    """scikit-learn >= 1.8 maps float32 [1e7, 1e7 + 1] * 4 to [0, 2]: the float64
    mean 1e7 + 0.5 is rounded to float32 (1e7) before subtraction (earlier
    versions subtract in float64). The exact answer is [-1, 1]."""
    X = np.array([[1e7], [1e7 + 1]] * 4, dtype=np.float32)
    result = StandardScaler().fit_transform(X)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result.ravel(), [-1, 1] * 4)
    sklearn_result = skl.StandardScaler().fit_transform(X)
    sklearn_expected = [0, 2] if SKLEARN_VERSION >= (1, 8) else [-1, 1]
    np.testing.assert_array_equal(sklearn_result.ravel(), sklearn_expected * 4)


def _exact_standardize(column):
    """Exact z-scores of a column of floats, rounded once to float64."""
    values = [Fraction(float(v)) for v in column]
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / n
    # sqrt is irrational: use a float64 sqrt of the exact variance (one rounding).
    std = Fraction(float(variance) ** 0.5)
    return np.array([float((v - mean) / std) for v in values])


def test_standard_scaler_against_exact_arithmetic_with_large_offset():
    """float64 data 1e9 + small steps: the error is bounded by the float64
    rounding of the mean (half an ulp of 1e9) divided by the spread, the best a
    float64 mean allows, and no worse than scikit-learn's."""
    rng = np.random.default_rng(11)
    column = 1e9 + rng.integers(-3, 4, size=200).astype(np.float64) * 0.25
    X = column[:, None]
    ours = StandardScaler().fit_transform(X).ravel()
    exact = _exact_standardize(column)
    bound = np.spacing(1e9) / column.std() + 1e-14
    assert np.abs(ours - exact).max() <= bound
    theirs = skl.StandardScaler().fit_transform(X).ravel()
    assert np.abs(ours - exact).max() <= np.abs(theirs - exact).max() + 1e-15


def test_standard_scaler_float32_against_exact_arithmetic():
    rng = np.random.default_rng(12)
    column = (np.float32(3e6) + rng.integers(0, 8, size=300)).astype(np.float32)
    ours = StandardScaler().fit_transform(column[:, None]).ravel()
    exact = _exact_standardize(column.astype(np.float64))
    # One float32 rounding of the exact result.
    np.testing.assert_allclose(ours, exact.astype(np.float32), rtol=0, atol=1e-6)
    theirs = skl.StandardScaler().fit_transform(column[:, None]).ravel()
    assert np.abs(ours - exact).max() <= np.abs(theirs - exact).max()


def test_constant_rule_is_the_rounding_error_and_independent_of_n():
    """Distinct float64 values are real data: a spread of 1e-14 (45 ulps)
    relative to the mean is scaled, whatever n is (scikit-learn's rule
    depends on n). Only a standard deviation within the moments' rounding
    error (4 ulps of the mean) is constant; extrema need exactly equal values.
    """
    ulp = np.spacing(1.0)
    for n in (10, 10_000):
        for step in (1e-10, 1e-14):
            base = np.full(n, 1.0)
            base[::2] += step
            np.testing.assert_allclose(
                StandardScaler().fit(base[:, None]).scale_, [step / 2], rtol=1e-3
            )
            np.testing.assert_allclose(
                MinMaxScaler().fit(base[:, None]).data_range_, [step], rtol=1e-3
            )
        one_ulp = np.full(n, 1.0)
        one_ulp[::2] += ulp
        assert StandardScaler().fit(one_ulp[:, None]).scale_[0] == 1.0
        assert MinMaxScaler().fit(one_ulp[:, None]).scale_[0] == 1 / ulp
        flat = np.full((n, 1), 1.0 / 3)
        assert StandardScaler().fit(flat).scale_[0] == 1.0
        assert MinMaxScaler().fit(flat).scale_[0] == 1.0


def test_standard_scaler_clip_to_training_range():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    scaler = StandardScaler(clip=True).fit(X)
    bounds = scaler.transform(np.array([[0.0], [3.0]])).ravel()
    result = scaler.transform(np.array([[-10.0], [1.5], [10.0]])).ravel()
    np.testing.assert_allclose(result, [bounds[0], 0.0, bounds[1]])


@pytest.mark.parametrize("ddof", [0, 1, 2, 0.5])
def test_standard_scaler_ddof_matches_numpy(ddof):
    X = DATASETS["nan"]
    scaler = StandardScaler(ddof=ddof).fit(X)
    _assert_close(scaler.var_, np.nanvar(X, axis=0, ddof=ddof))
    _assert_close(scaler.scale_, np.nanstd(X, axis=0, ddof=ddof))
    _assert_close(scaler.mean_, np.nanmean(X, axis=0))
    expected = (X - np.nanmean(X, axis=0)) / np.nanstd(X, axis=0, ddof=ddof)
    _assert_close(scaler.transform(X), expected)


def test_standard_scaler_ddof_one_is_sparks_sample_deviation():
    # Spark's summarizer (the statistic of its StandardScaler) divides the sum
    # of squared deviations by W - sum(w**2) / W; with unit weights W = n:
    # the sample variance. Computed here in exact rational arithmetic.
    X = _random_data(n_samples=30, n_features=3, seed=5)
    scaler = StandardScaler(ddof=1).fit(X)
    for j in range(X.shape[1]):
        column = [Fraction(v) for v in X[:, j]]
        n = len(column)
        mean = sum(column) / n
        weight_sum, weight_square_sum = Fraction(n), Fraction(n)
        variance = sum((v - mean) ** 2 for v in column) / (
            weight_sum - weight_square_sum / weight_sum
        )
        np.testing.assert_allclose(scaler.var_[j], float(variance), rtol=1e-14)


@pytest.mark.parametrize("ddof", [1, 3])
def test_standard_scaler_weighted_ddof_is_frequency_weighted(ddof):
    # Frequency weights: np.cov(fweights=...) divides by sum(w) - ddof, and
    # integer weights equal repeated rows.
    X = _random_data(n_samples=40, n_features=3, seed=6)
    weight = np.random.default_rng(7).integers(0, 5, len(X))
    scaler = StandardScaler(ddof=ddof).fit(X, sample_weight=weight.astype(float))
    for j in range(X.shape[1]):
        expected = np.cov(X[:, j], fweights=weight, ddof=ddof)
        np.testing.assert_allclose(scaler.var_[j], expected, rtol=1e-12)
    repeated = np.repeat(X, weight, axis=0)
    _assert_close(scaler.scale_, np.std(repeated, axis=0, ddof=ddof))


def test_standard_scaler_ddof_without_enough_values_scales_by_one():
    # n <= ddof: no variance (NaN, where numpy gives inf or NaN with a
    # warning); the feature is only centered, as a constant one.
    X = np.array([[1.0, 2.0], [np.nan, 4.0], [np.nan, 7.0]])
    scaler = StandardScaler(ddof=1).fit(X)
    assert np.isnan(scaler.var_[0])
    np.testing.assert_allclose(scaler.var_[1], np.var(X[:, 1], ddof=1))
    assert scaler.scale_[0] == 1.0
    np.testing.assert_allclose(scaler.transform(X)[:, 0], X[:, 0] - 1.0)
    assert np.all(np.isnan(StandardScaler(ddof=3).fit(X).var_))


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_standard_scaler_ddof_sparse_and_partial_fit(container):
    dense = sparse.random(60, 4, density=0.4, random_state=8).toarray() * 5
    X = container(dense)
    fitted = StandardScaler(with_mean=False, ddof=1).fit(X)
    _assert_close(fitted.scale_, np.std(dense, axis=0, ddof=1))
    streamed = StandardScaler(with_mean=False, ddof=1)
    for rows in (slice(0, 25), slice(25, None)):
        streamed.partial_fit(X[rows])
    _assert_close(streamed.var_, np.var(dense, axis=0, ddof=1))
    _assert_close(streamed.transform(X), fitted.transform(X))


@pytest.mark.parametrize("ddof", [-1, "1", None])
def test_standard_scaler_invalid_ddof(ddof):
    with pytest.raises(ValueError, match="ddof"):
        StandardScaler(ddof=ddof).fit(_random_data())


# ------------------------------------------------------------------ MinMaxScaler


@pytest.mark.parametrize("data", DATASETS, ids=str)
@pytest.mark.parametrize("feature_range", [(0, 1), (-1, 1), (-3.5, 10)])
@pytest.mark.parametrize("clip", [False, True])
def test_minmax_scaler_matches_sklearn(data, feature_range, clip):
    X = DATASETS[data]
    ours = MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
    theirs = skl.MinMaxScaler(feature_range=feature_range, clip=clip).fit(X)
    _assert_same_attributes(
        ours, theirs, ["data_min_", "data_max_", "data_range_", "scale_", "min_"]
    )
    assert ours.n_samples_seen_ == theirs.n_samples_seen_
    X_new = X * 1.5 - 3
    _assert_close(ours.transform(X_new), theirs.transform(X_new))
    Xt = theirs.transform(X)
    _assert_close(ours.inverse_transform(Xt), theirs.inverse_transform(Xt))


def test_minmax_scaler_partial_fit_matches_sklearn():
    X = DATASETS["nan"]
    ours, theirs = MinMaxScaler(), skl.MinMaxScaler()
    for chunk in np.array_split(X, 4):
        ours.partial_fit(chunk)
        theirs.partial_fit(chunk)
    _assert_same_attributes(ours, theirs, ["data_min_", "data_max_", "scale_"])
    assert ours.n_samples_seen_ == theirs.n_samples_seen_


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_minmax_scaler_keeps_nonnegative_sparse_data_sparse(container):
    X = container(sparse.random(50, 4, density=0.2, random_state=1) * 7)
    scaler = MinMaxScaler().fit(X)
    result = scaler.transform(X)
    assert type(result) is type(X) and result.format == X.format
    assert result.nnz == X.nnz
    _assert_close(result.toarray(), skl.MinMaxScaler().fit_transform(X.toarray()))
    _assert_close(scaler.inverse_transform(result).toarray(), X.toarray())


def test_minmax_scaler_sparse_error_names_densifying_features():
    dense = sparse.random(50, 4, density=0.3, random_state=1).toarray()
    dense[[3, 9], 2] = [-1.0, 1.0]  # column 2: zeros would map to 0.5
    X = sparse.csr_array(dense)
    scaler = MinMaxScaler().fit(X)
    with pytest.raises(ValueError, match=r"feature\(s\) 2\b.*MaxAbsScaler"):
        scaler.transform(X)


def test_minmax_scaler_rejects_inverted_range():
    with pytest.raises(ValueError, match="must be smaller than maximum"):
        MinMaxScaler(feature_range=(2, 1)).fit([[0.0], [1.0]])


@pytest.mark.parametrize(
    ("feature_range", "message"),
    [
        ((0, 1, 2), r"two numbers, got 3 value\(s\)"),
        ((0,), r"two numbers, got 1 value\(s\)"),
        ((), r"two numbers, got 0 value\(s\)"),
        (("a", 1), "two finite numbers"),
        ((0, None), "two finite numbers"),
        ((False, True), "two finite numbers"),
        ((0, np.inf), "two finite numbers"),
        ((np.nan, 1), "two finite numbers"),
        ((1, 1), "must be smaller than maximum"),
    ],
)
def test_minmax_scaler_invalid_feature_range_is_explained(feature_range, message):
    with pytest.raises(ValueError, match=message):
        MinMaxScaler(feature_range=feature_range).fit([[0.0], [1.0]])
    with pytest.raises(ValueError, match=message):
        sknorm.minmax_scale([[0.0], [1.0]], feature_range=feature_range)


@pytest.mark.parametrize("bounds", [(-8e307, 8e307), (-1e308, 1e308), (-1.7e308, 0)])
def test_minmax_scaler_wide_range_matches_exact_arithmetic(bounds):
    # (-1e308, 1e308) is wider than the largest float64, the results are not.
    X = np.array([[0.0], [0.25], [1.0], [3.0]])
    low, high = bounds
    scaler = MinMaxScaler(feature_range=(low, high)).fit(X)
    result = scaler.transform(X)
    exact = [
        float(Fraction(low) + (Fraction(x) / 3) * (Fraction(high) - Fraction(low)))
        for x in X.ravel()
    ]
    np.testing.assert_allclose(result.ravel(), exact, rtol=1e-15, atol=1e293)
    np.testing.assert_allclose(scaler.inverse_transform(result), X, atol=1e-15)


def test_minmax_scaler_clip_keeps_range():
    scaler = MinMaxScaler(clip=True).fit([[0.0], [10.0]])
    np.testing.assert_array_equal(
        scaler.transform([[-5.0], [5.0], [50.0]]).ravel(), [0.0, 0.5, 1.0]
    )


# ------------------------------------------------------------------ MaxAbsScaler


@pytest.mark.parametrize("data", DATASETS, ids=str)
@pytest.mark.parametrize(
    "clip",
    [
        False,
        pytest.param(
            True,
            marks=pytest.mark.skipif(
                SKLEARN_VERSION < (1, 8),
                reason="scikit-learn's MaxAbsScaler has clip since 1.8",
            ),
        ),
    ],
)
def test_maxabs_scaler_matches_sklearn(data, clip):
    X = DATASETS[data]
    ours = MaxAbsScaler(clip=clip).fit(X)
    theirs = skl.MaxAbsScaler(**({"clip": True} if clip else {})).fit(X)
    _assert_same_attributes(ours, theirs, ["max_abs_", "scale_"])
    assert ours.n_samples_seen_ == theirs.n_samples_seen_
    X_new = X * 2
    _assert_close(ours.transform(X_new), theirs.transform(X_new))
    _assert_close(ours.inverse_transform(X_new), theirs.inverse_transform(X_new))


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_maxabs_scaler_sparse_matches_sklearn(container):
    X = sparse.random(60, 5, density=0.3, random_state=2, format="csr")
    X.data -= 0.5
    X = container(X)
    ours, theirs = MaxAbsScaler().fit(X), skl.MaxAbsScaler().fit(X)
    _assert_same_attributes(ours, theirs, ["max_abs_", "scale_"])
    result = ours.transform(X)
    assert type(result) is type(X)
    _assert_close(result, theirs.transform(X))


# ---------------------------------------------------------------- functions


FUNCTION_PAIRS = [
    (sknorm.scale, skl.scale, {}),
    (sknorm.scale, skl.scale, {"with_mean": False}),
    (sknorm.minmax_scale, skl.minmax_scale, {"feature_range": (-2, 2)}),
    (sknorm.maxabs_scale, skl.maxabs_scale, {}),
]


@pytest.mark.parametrize(("ours", "theirs", "params"), FUNCTION_PAIRS)
@pytest.mark.parametrize("axis", [0, 1])
def test_functions_match_sklearn(ours, theirs, params, axis):
    X = _random_data(n_samples=20, n_features=7)
    _assert_close(ours(X, axis=axis, **params), theirs(X, axis=axis, **params))


@pytest.mark.parametrize(("ours", "theirs", "params"), FUNCTION_PAIRS)
def test_functions_accept_1d_input(ours, theirs, params):
    x = _random_data(n_samples=15, n_features=1).ravel()
    result = ours(x, **params)
    assert result.shape == x.shape
    _assert_close(result, theirs(x, **params))


@pytest.mark.parametrize(
    ("function", "estimator"),
    [
        (sknorm.scale, StandardScaler()),
        (sknorm.minmax_scale, MinMaxScaler()),
        (sknorm.maxabs_scale, MaxAbsScaler()),
    ],
)
def test_function_equals_estimator(function, estimator):
    X = DATASETS["nan"]
    np.testing.assert_array_equal(function(X), estimator.fit_transform(X))


FUNCTION_CLASSES = [
    (sknorm.scale, StandardScaler),
    (sknorm.minmax_scale, MinMaxScaler),
    (sknorm.maxabs_scale, MaxAbsScaler),
    (sknorm.robust_scale, sknorm.RobustScaler),
]


@pytest.mark.parametrize(("function", "cls"), FUNCTION_CLASSES)
def test_functions_take_every_parameter_of_their_class(function, cls):
    """Every constructor parameter and fit's sample_weight, except
    RobustScaler's dask_quantiles (the function always computes exact
    quantiles, whatever the container of X) and decay (a function fits one
    batch, which decay does not change)."""
    import inspect

    expected = set(inspect.signature(cls).parameters) - {"dask_quantiles", "decay"}
    expected |= {"sample_weight", "X", "axis"}
    parameters = inspect.signature(function).parameters
    assert set(parameters) == expected
    # Every parameter is validated (@validate_params constraints complete).
    from sklearn.utils._param_validation import InvalidParameterError

    for name in set(parameters) - {"X"}:
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            function([[0.0], [1.0]], **{name: object()})


@pytest.mark.parametrize(("function", "cls"), FUNCTION_CLASSES)
def test_function_sample_weight_and_clip_equal_the_estimator(function, cls):
    X = DATASETS["random"]
    weight = np.random.default_rng(2).integers(0, 4, size=len(X)).astype(float)
    weight[0] = 0.0  # a row of zero weight lies outside the fitted range
    X = X.copy()
    X[0] = 1e4
    for clip in (False, True):
        expected = cls(clip=clip).fit(X, sample_weight=weight).transform(X)
        result = function(X, sample_weight=weight, clip=clip)
        np.testing.assert_array_equal(result, expected)
    # Integer weights equal repeated rows: against the function on them.
    # Weighted quantiles are relative: equal weights there (zero removes).
    if cls is sknorm.RobustScaler:
        weight = 2.0 * (weight > 0)
    kept = weight > 0
    repeats = kept.astype(int) if cls is sknorm.RobustScaler else weight.astype(int)
    repeated = function(np.repeat(X, repeats, axis=0))
    first = np.cumsum(repeats)[kept] - 1
    weighted = function(X, sample_weight=weight)
    np.testing.assert_allclose(weighted[kept], repeated[first], rtol=1e-12)


def test_function_sample_weight_matches_sklearn_estimators():
    X = DATASETS["random"]
    weight = np.random.default_rng(4).random(len(X))
    reference = skl.StandardScaler().fit(X, sample_weight=weight).transform(X)
    _assert_close(sknorm.scale(X, sample_weight=weight), reference)
    # Weighted quantiles are relative: equal weights are scikit-learn's
    # unweighted result.
    robust = skl.robust_scale(X)
    _assert_close(sknorm.robust_scale(X, sample_weight=np.full(len(X), 2)), robust)


@pytest.mark.parametrize(("function", "cls"), FUNCTION_CLASSES)
def test_function_sample_weight_with_axis_1_is_refused(function, cls):
    X = DATASETS["random"]
    with pytest.raises(ValueError, match="sample_weight weights samples"):
        function(X, axis=1, sample_weight=np.ones(len(X)))
    with pytest.raises(ValueError, match="at least one non-zero"):
        function(X, sample_weight=np.zeros(len(X)))


def test_function_copy_false_works_in_place():
    X = _random_data()
    result = sknorm.scale(X, copy=False)
    assert np.shares_memory(result, X)


def test_maxabs_scale_sparse_rows():
    X = sparse.random(10, 6, density=0.4, format="csr", random_state=5)
    result = sknorm.maxabs_scale(X, axis=1)
    _assert_close(result, skl.maxabs_scale(X, axis=1))


# ------------------------------------------------------------ in a pipeline


@pytest.mark.parametrize("scaler", [StandardScaler(), MinMaxScaler(), MaxAbsScaler()])
def test_pipeline_cross_validation_matches_sklearn(scaler):
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    ours = cross_val_score(make_pipeline(scaler, LogisticRegression()), X, y, cv=3)
    sklearn_scaler = getattr(skl, type(scaler).__name__)()
    theirs = cross_val_score(
        make_pipeline(sklearn_scaler, LogisticRegression()), X, y, cv=3
    )
    np.testing.assert_allclose(ours, theirs)


def test_minmax_min_is_exact_for_a_zero_minimum_below_the_float_range():
    # The range 5e-324 makes scale_ 2**1074 (inf in float64); min_ is exactly
    # feature_range[0] - 0 * scale_ = 0, not the NaN of 0 * inf.
    X = np.array([[0.0, 0.0], [0.0, 5e-324]])
    scaler = MinMaxScaler(feature_range=(-1, 1)).fit(X)
    np.testing.assert_array_equal(scaler.min_, [-1.0, -1.0])
    np.testing.assert_array_equal(scaler.scale_, [2.0, np.inf])
    np.testing.assert_array_equal(scaler.transform(X), [[-1.0, -1.0], [-1.0, 1.0]])


# --------------------------------------------------------------- SquashingScaler


def _squashing_data(seed=0):
    """Outliers, NaN, +/-inf, a feature of zero interquartile range and a
    constant one."""
    rng = np.random.default_rng(seed)
    n = 50
    X = np.column_stack(
        [
            rng.standard_t(1, size=n) * 10 + 3,  # heavy tails
            rng.normal(size=n),
            np.where(rng.random(n) < 0.8, 2.0, rng.normal(size=n) * 50),  # IQR 0
            np.full(n, -4.0),  # constant
        ]
    )
    X[::9, 1] = np.nan
    X[3, 0], X[5, 1] = np.inf, -np.inf
    return X


def _squashing_reference(X_fit, X, bound=3.0, quantile_range=(25.0, 75.0)):
    """skrub's SquashingScaler formula, written from its documented
    definition with numpy: robust scaling over the finite values, half-range
    scaling where the quantile range is 0, 0 for constant features, then
    z / sqrt(1 + (z / B)**2) with +/-inf at +/-B."""
    finite = np.where(np.isfinite(X_fit), X_fit, np.nan)
    low, high = np.nanpercentile(finite, quantile_range, axis=0)
    median = np.nanmedian(finite, axis=0)
    minimum, maximum = np.nanmin(finite, axis=0), np.nanmax(finite, axis=0)
    scale = np.where(high > low, high - low, (maximum - minimum) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (X - median) / scale
    z = np.where((maximum == minimum) & np.isfinite(X), 0.0, z)
    with np.errstate(invalid="ignore"):
        out = z / np.sqrt(1 + (z / bound) ** 2)
    return np.where(np.isinf(X), np.sign(X) * bound, out)


@pytest.mark.parametrize("bound", [3.0, 1.0, 10.0])
def test_squashing_scaler_matches_its_formula(bound):
    X = _squashing_data()
    held_out = _squashing_data(seed=1) * 3
    scaler = SquashingScaler(max_absolute_value=bound).fit(X)
    np.testing.assert_allclose(
        scaler.transform(X), _squashing_reference(X, X, bound), rtol=1e-12, atol=1e-15
    )
    np.testing.assert_allclose(
        scaler.transform(held_out),
        _squashing_reference(X, held_out, bound),
        rtol=1e-12,
        atol=1e-15,
    )


@pytest.mark.parametrize("quantile_range", [(25.0, 75.0), (10.0, 90.0)])
def test_squashing_scaler_matches_skrub(quantile_range):
    skrub = pytest.importorskip("skrub", reason="skrub is the reference here")
    X = _squashing_data()
    held_out = _squashing_data(seed=2) - 1
    ours = SquashingScaler(quantile_range=quantile_range).fit(X)
    theirs = skrub.SquashingScaler(quantile_range=quantile_range).fit(X)
    for data in (X, held_out):
        np.testing.assert_allclose(
            ours.transform(data), theirs.transform(data), rtol=1e-12, atol=1e-15
        )


def test_squashing_scaler_bounds_infinity_and_nan():
    X = _squashing_data()
    result = SquashingScaler(max_absolute_value=2.5).fit_transform(X)
    assert result[3, 0] == 2.5 and result[5, 1] == -2.5
    np.testing.assert_array_equal(np.isnan(result), np.isnan(X))
    assert np.all(np.abs(result[~np.isnan(result)]) <= 2.5)


def test_squashing_scaler_inverse_transform_undoes_it():
    X = _squashing_data()
    scaler = SquashingScaler().fit(X)
    back = scaler.inverse_transform(scaler.transform(X))
    varying = X[:, :3]
    finite = np.isfinite(varying)
    np.testing.assert_allclose(back[:, :3][finite], varying[finite], rtol=1e-9)
    # +/-B give +/-inf back, beyond B NaN; a constant feature its value.
    np.testing.assert_array_equal(back[:, :3][~finite], varying[~finite])
    edges = scaler.inverse_transform([[3.0, -3.0, 4.0, 1.0]])
    np.testing.assert_array_equal(edges, [[np.inf, -np.inf, np.nan, -4.0]])


def test_squashing_scaler_leaves_the_input_alone():
    X = _squashing_data()
    original = X.copy()
    scaler = SquashingScaler().fit(X)
    scaler.transform(X)
    np.testing.assert_array_equal(X, original)
    in_place = scaler.transform(X, copy=False)
    assert np.shares_memory(in_place, X)
    np.testing.assert_allclose(
        in_place, _squashing_reference(original, original), rtol=1e-12, atol=1e-15
    )


def test_squashing_scaler_partial_fit_equals_fit_on_small_data():
    # The sketch is exact while it holds every value.
    X = _squashing_data()
    streamed = SquashingScaler()
    for rows in (slice(0, 20), slice(20, None)):
        streamed.partial_fit(X[rows])
    fitted = SquashingScaler().fit(X)
    np.testing.assert_allclose(streamed.center_, fitted.center_, rtol=1e-12)
    np.testing.assert_allclose(streamed.scale_, fitted.scale_, rtol=1e-12)


@pytest.mark.parametrize("bound", [0, -1.0, np.inf, "3"])
def test_squashing_scaler_invalid_bound(bound):
    with pytest.raises(ValueError, match="max_absolute_value"):
        SquashingScaler(max_absolute_value=bound).fit(_squashing_data())


def test_squashing_scaler_rejects_sparse_input():
    X = sparse.random(10, 3, density=0.5, format="csr", random_state=0)
    with pytest.raises(TypeError, match=r"[Ss]parse"):
        SquashingScaler().fit(X)


# -- decay: exponentially weighted statistics ---------------------------------


def _decay_weights(batch_sizes, decay):
    """Row weights of the one weighted fit that a decayed stream equals: batch
    ``b`` of ``B`` weighs ``(1 - decay) ** (B - 1 - b)``."""
    n_batches = len(batch_sizes)
    return np.concatenate(
        [
            np.full(size, (1 - decay) ** (n_batches - 1 - b))
            for b, size in enumerate(batch_sizes)
        ]
    )


@pytest.mark.parametrize("decay", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("container", [np.asarray, *SPARSE_CONTAINERS])
@pytest.mark.parametrize("weighted", [False, True])
def test_decayed_partial_fit_equals_weighted_fit(decay, container, weighted):
    X = _random_data(n_samples=200, nan_fraction=0.05)
    if container is not np.asarray:
        X[np.abs(X) < 300] = 0.0
    sizes = [30, 70, 1, 50, 49]
    bounds = np.cumsum([0, *sizes])
    rng = np.random.default_rng(3)
    user_weight = rng.uniform(0, 3, len(X)) if weighted else np.ones(len(X))
    params = {"with_mean": container is np.asarray, "decay": decay}
    streamed = StandardScaler(**params)
    for start, stop in itertools.pairwise(bounds):
        batch_weight = user_weight[start:stop] if weighted else None
        streamed.partial_fit(container(X[start:stop]), sample_weight=batch_weight)
    weight = user_weight * _decay_weights(sizes, decay)
    # The reference: scikit-learn's weighted fit (no decay there).
    reference = skl.StandardScaler(with_mean=params["with_mean"]).fit(
        container(X), sample_weight=weight
    )
    _assert_same_attributes(streamed, reference, ["var_", "scale_", "mean_"])
    _assert_close(streamed.n_samples_seen_, reference.n_samples_seen_)
    if decay:
        assert np.asarray(streamed.n_samples_seen_).dtype == np.float64


def test_decay_after_fit_and_fit_unaffected():
    X = _random_data(n_samples=120)
    decayed = StandardScaler(decay=0.25).fit(X[:80])
    _assert_same_attributes(decayed, skl.StandardScaler().fit(X[:80]), ["mean_"])
    decayed.partial_fit(X[80:])
    weight = _decay_weights([80, 40], 0.25)
    reference = skl.StandardScaler().fit(X, sample_weight=weight)
    _assert_same_attributes(decayed, reference, ["mean_", "var_", "scale_"])


def test_decay_is_validated():
    for bad in (1.0, -0.1, 2):
        with pytest.raises(ValueError, match="decay"):
            StandardScaler(decay=bad).fit([[1.0], [2.0]])
    assert "decay" not in MinMaxScaler().get_params()
    assert "decay" not in MaxAbsScaler().get_params()


def _batchnorm_running(batches, momentum, unbiased=True):
    """numpy re-implementation of torch.nn.BatchNorm1d's running statistics in
    training mode: running = (1 - momentum) * running + momentum * batch, from
    running_mean = 0 and running_var = 1; the batch variance is unbiased."""
    n_features = batches[0].shape[1]
    mean, var = np.zeros(n_features), np.ones(n_features)
    for batch in batches:
        batch_var = batch.var(axis=0, ddof=1 if unbiased else 0)
        mean = (1 - momentum) * mean + momentum * batch.mean(axis=0)
        var = (1 - momentum) * var + momentum * batch_var
    return mean, var


def _running_mean_atol(batches):
    """Tolerance between two weighted means of ``batches`` that combine the
    same batch means in two orders (BatchNorm's recursion, sknorm's decayed
    merges): a convex combination errs by at most its terms' largest error,
    a batch mean's ``(n + 1) eps mean|x|``, plus an eps of each of the
    combination's steps; twice that between two."""
    n_rows = max(len(batch) for batch in batches)
    largest = max(np.abs(batch).mean(axis=0).max() for batch in batches)
    return 2 * (n_rows + 1 + len(batches)) * EPS * largest


def _batchnorm_as_decay(batches, momentum):
    """StandardScaler reproducing BatchNorm's running mean: ``decay=momentum``
    and a first batch standing for BatchNorm's initial state (mean 0, variance
    1) with the weight n / momentum of the steady state, ``n`` rows per batch."""
    n_rows, n_features = batches[0].shape
    prior = np.array([-np.ones(n_features), np.ones(n_features)])
    scaler = StandardScaler(decay=momentum)
    scaler.partial_fit(prior, sample_weight=np.full(2, n_rows / momentum / 2))
    for batch in batches:
        scaler.partial_fit(batch)
    return scaler


@pytest.mark.parametrize("momentum", [0.1, 0.5, 0.01])
def test_decay_reproduces_batchnorm_running_mean(momentum):
    rng = np.random.default_rng(0)
    # Drifting batches of 32 rows.
    batches = [
        rng.normal(loc=0.1 * b, scale=1 + 0.05 * b, size=(32, 3)) for b in range(40)
    ]
    scaler = _batchnorm_as_decay(batches, momentum)
    running_mean, running_var = _batchnorm_running(batches, momentum)
    assert_close(scaler.mean_, running_mean, _running_mean_atol(batches))
    # The variance differs: sknorm's is the weighted variance of all rows, so
    # the batch means' spread around the running mean enters it, and the
    # batch variances are biased (ddof=0).
    assert not np.allclose(scaler.var_, running_var, rtol=1e-3)
    # With batches centred on the running mean's path neither term differs
    # but the bias: BatchNorm with the biased variance agrees exactly.
    centred = [b - b.mean(axis=0) for b in batches]
    scaler = _batchnorm_as_decay(centred, momentum)
    running_mean, running_var = _batchnorm_running(centred, momentum, unbiased=False)
    assert_close(scaler.mean_, running_mean, _running_mean_atol(centred))
    # The same for the batch variances, of non-negative terms: relative.
    squares = [b**2 for b in centred]
    np.testing.assert_allclose(
        scaler.var_, running_var, rtol=_running_mean_atol(squares) / running_var.min()
    )


def test_batch_weights_reproduce_batchnorm_with_unequal_batches():
    # Rows weighted 1 / n make each batch count once, whatever its size.
    rng = np.random.default_rng(1)
    batches = [
        rng.normal(loc=b, size=(size, 2)) for b, size in enumerate([5, 50, 9, 200])
    ]
    momentum = 0.3
    scaler = StandardScaler(decay=momentum)
    scaler.partial_fit(
        np.array([[-1.0, -1.0], [1.0, 1.0]]), sample_weight=[0.5 / momentum] * 2
    )
    for batch in batches:
        scaler.partial_fit(batch, sample_weight=np.full(len(batch), 1 / len(batch)))
    running_mean, _ = _batchnorm_running(batches, momentum)
    assert_close(scaler.mean_, running_mean, _running_mean_atol(batches))


# -- feature_groups: one statistic per group of columns ----------------------

#: Groups of the 6 columns of _random_data; column 3 is in none.
GROUPS = [[0, 2, 5], [1, 4]]

#: (sknorm class, scikit-learn class, parameters, attributes compared).
POOLED_CASES = [
    (StandardScaler, skl.StandardScaler, {}, ["mean_", "var_", "scale_"]),
    (MinMaxScaler, skl.MinMaxScaler, {}, ["data_min_", "data_max_", "scale_", "min_"]),
    (MaxAbsScaler, skl.MaxAbsScaler, {}, ["max_abs_", "scale_"]),
    (sknorm.RobustScaler, skl.RobustScaler, {}, ["center_", "scale_"]),
]


def _stacked(X, columns):
    """The columns stacked into one: row i * size + j holds X[i, columns[j]]."""
    part = X[:, columns]
    if sparse.issparse(part):
        part = part.toarray()
    return np.asarray(part).reshape(-1, 1)


def _check_pooled(ours, reference_factory, X, names, weight=None):
    """Each group's attributes (and transform) equal those of the reference
    scaler fitted on the group's columns stacked into one column; column 3,
    in no group, those of the reference fitted on it alone."""
    dense = X.toarray() if sparse.issparse(X) else X
    for columns in [*GROUPS, [3]]:
        stacked = _stacked(dense, columns)
        stacked_weight = None if weight is None else np.repeat(weight, len(columns))
        reference = reference_factory()
        if stacked_weight is None:
            reference.fit(stacked)
        elif isinstance(reference, (skl.MinMaxScaler, skl.MaxAbsScaler)):
            # Unweighted there: extrema ignore the rows of zero weight only.
            reference.fit(stacked[stacked_weight > 0])
        else:
            reference.fit(stacked, sample_weight=stacked_weight)
        for name in names:
            got = np.asarray(getattr(ours, name))[columns]
            _assert_close(got, np.full(len(columns), getattr(reference, name)[0]))
        expected = reference.transform(stacked).reshape(len(dense), len(columns))
        out = ours.transform(X)
        out = out.toarray() if sparse.issparse(out) else out
        _assert_close(out[:, columns], expected)


@pytest.mark.parametrize(("cls", "skl_cls", "params", "names"), POOLED_CASES)
@pytest.mark.parametrize("mode", ["fit", "weighted", "partial_fit"])
def test_pooled_scalers_equal_sklearn_on_stacked_columns(
    cls, skl_cls, params, names, mode
):
    X = _random_data(n_samples=60, nan_fraction=0.05)
    weight = None
    if mode == "weighted":
        weight = np.random.default_rng(5).integers(0, 4, len(X)).astype(float)
        if cls is sknorm.RobustScaler:
            # Weighted quantiles are sknorm's (relative weights); the
            # reference is then sknorm's exact weighted fit of the stack.
            skl_cls = sknorm.RobustScaler
    ours = cls(**params, feature_groups=GROUPS)
    if mode == "partial_fit":
        for rows in (slice(0, 25), slice(25, 60)):
            ours.partial_fit(X[rows])
    else:
        ours.fit(X, sample_weight=weight)
    _check_pooled(ours, lambda: skl_cls(**params), X, names, weight)


@pytest.mark.parametrize(
    ("cls", "skl_cls", "params", "names"),
    [
        (MaxAbsScaler, skl.MaxAbsScaler, {}, ["max_abs_", "scale_"]),
        (StandardScaler, skl.StandardScaler, {"with_mean": False}, ["var_", "scale_"]),
        (
            sknorm.RobustScaler,
            skl.RobustScaler,
            {"with_centering": False},
            ["scale_"],
        ),
    ],
)
@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_pooled_scalers_on_sparse_input(cls, skl_cls, params, names, container):
    X = _random_data(n_samples=60)
    X[np.abs(X) < 400] = 0.0
    ours = cls(**params, feature_groups=GROUPS).fit(container(X))
    _check_pooled(ours, lambda: skl_cls(**params), container(X), names)


def test_pooled_groups_by_name_mask_and_slice_and_errors():
    pd = pytest.importorskip("pandas")
    X = _random_data(n_samples=40)
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(6)])
    by_name = StandardScaler(feature_groups=[["c0", "c2", "c5"], ["c1", "c4"]])
    by_index = StandardScaler(feature_groups=GROUPS).fit(X)
    np.testing.assert_array_equal(by_name.fit(frame).scale_, by_index.scale_)
    mask = np.zeros(6, dtype=bool)
    mask[[0, 2, 5]] = True
    pooled = StandardScaler(feature_groups=[mask, slice(1, 5, 3)]).fit(X)
    np.testing.assert_array_equal(pooled.scale_, by_index.scale_)
    with pytest.raises(ValueError, match="overlap"):
        StandardScaler(feature_groups=[[0, 1], [1, 2]]).fit(X)
    with pytest.raises(ValueError, match="out of range"):
        MinMaxScaler(feature_groups=[[0, 9]]).fit(X)


def test_pooled_partial_fit_with_decay_equals_weighted_fit():
    X = _random_data(n_samples=90)
    decayed = StandardScaler(decay=0.5, feature_groups=GROUPS)
    for rows in (slice(0, 30), slice(30, 90)):
        decayed.partial_fit(X[rows])
    weight = _decay_weights([30, 60], 0.5)
    _check_pooled(decayed, skl.StandardScaler, X, ["mean_", "var_"], weight)


def test_decay_keeps_the_clip_range_of_all_batches():
    # Extrema carry no weight: the clip range is that of every row seen.
    X = _random_data(n_samples=40)
    decayed = StandardScaler(decay=0.5, clip=True)
    for rows in (slice(0, 20), slice(20, 40)):
        decayed.partial_fit(X[rows])
    reference = skl.StandardScaler().fit(X, sample_weight=_decay_weights([20, 20], 0.5))
    low = (X.min(axis=0) - reference.mean_) / reference.scale_
    high = (X.max(axis=0) - reference.mean_) / reference.scale_
    beyond = np.vstack([X.min(axis=0) - 1e4, X.max(axis=0) + 1e4])
    _assert_close(decayed.transform(beyond), np.vstack([low, high]))


@pytest.mark.parametrize(("function", "cls"), FUNCTION_CLASSES)
def test_functions_pool_feature_groups_as_their_class(function, cls):
    X = _random_data(n_samples=30)
    expected = cls(feature_groups=GROUPS).fit_transform(X)
    np.testing.assert_array_equal(function(X, feature_groups=GROUPS), expected)
    with pytest.raises(ValueError, match=r"feature_groups .* needs axis=0"):
        function(X, axis=1, feature_groups=GROUPS)
