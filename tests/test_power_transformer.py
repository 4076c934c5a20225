"""PowerTransformer and power_transform: scikit-learn's results, exact maps
(mpmath), invariants (hypothesis), streaming within its stated bound,
weights, sparse and array API input, and adversarial data."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn import config_context
from sklearn import preprocessing as skp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

import sknorm
from sknorm import PowerTransformer, power_transform
from sknorm.scalers._power import _map_constants, _PowerMap

from . import _power_reference as R
from ._reference import EPS, MP, mp
from .conftest import SKLEARN_VERSION

METHODS = ["yeo-johnson", "box-cox"]
FLOAT_EPS = float(EPS)


def _data(n=400, seed=0, positive=False):
    """Columns of different shapes: skewed right and left, symmetric (both
    signs for Yeo-Johnson), bounded, with NaN in one."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.lognormal(size=n),
            rng.normal(1.0, 2.0, size=n),
            -rng.exponential(size=n) * 3,
            rng.uniform(0, 5, size=n),
            rng.chisquare(3, size=n),
        ]
    )
    if positive:
        X = np.abs(X) + 0.05
    X[rng.random(n) < 0.1, 3] = np.nan
    return X


def _sklearn(method, standardize, X):
    with warnings.catch_warnings():
        # scipy's Brent may warn about its bracket on some columns.
        warnings.simplefilter("ignore", RuntimeWarning)
        return skp.PowerTransformer(method=method, standardize=standardize).fit(X)


# --------------------------------------------------------------------------
# scikit-learn's results
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lambdas_are_scikit_learns(method, standardize, seed):
    X = _data(seed=seed, positive=method == "box-cox")
    ours = PowerTransformer(method=method, standardize=standardize).fit(X)
    theirs = _sklearn(method, standardize, X)
    # scikit-learn's optimizers stop within about 1.5e-8 of the maximum (their
    # xtol); ours within 1e-10 (tests/stats/test_power.py).
    np.testing.assert_allclose(ours.lambdas_, theirs.lambdas_, rtol=0, atol=1e-6)
    assert ours.n_features_in_ == theirs.n_features_in_
    if standardize:
        assert isinstance(ours._scaler, sknorm.StandardScaler)
        # The moments move with lambda: by at most |dy/dlambda| (below 10
        # std here) times the difference in lambda.
        scale = theirs._scaler.scale_
        np.testing.assert_allclose(
            ours._scaler.mean_, theirs._scaler.mean_, atol=1e-5 * scale.max()
        )
        np.testing.assert_allclose(ours._scaler.scale_, scale, rtol=1e-5)
        # With scikit-learn's lambdas our map is scikit-learn's (rounding
        # apart, see test_standardized_map_is_exact for the bound).
        Z = ours.transform(X)
        np.testing.assert_allclose(Z, theirs.transform(X), atol=1e-4)
    else:
        assert not hasattr(ours, "_scaler")


def test_scikit_learns_docstring_example():
    data = [[1, 2], [3, 2], [4, 5]]
    pt = PowerTransformer().fit(data)
    np.testing.assert_allclose(pt.lambdas_, [1.386, -3.100], atol=1e-3)
    np.testing.assert_allclose(
        pt.transform(data),
        [[-1.316, -0.707], [0.209, -0.707], [1.106, 1.414]],
        atol=1e-3,
    )
    # scikit-learn's lambdas are Brent's (xtol 1.48e-8; scipy 1.10's lie 2e-8
    # from the maximum here): the values move by |dT/dlambda| * 2e-8 < 1e-7.
    np.testing.assert_allclose(
        power_transform(data, method="box-cox"),
        skp.power_transform(data, method="box-cox"),
        rtol=0,
        atol=1e-7,
    )


def test_function_equals_estimator():
    X = _data(seed=3)
    weight = np.random.default_rng(4).integers(0, 3, size=len(X)).astype(float)
    np.testing.assert_array_equal(
        power_transform(X, sample_weight=weight),
        PowerTransformer().fit(X, sample_weight=weight).transform(X),
    )


# --------------------------------------------------------------------------
# The maps, exactly (mpmath)
# --------------------------------------------------------------------------


def _plain_map(lambdas, box_cox):
    lambdas = np.asarray(lambdas, np.float64)

    class Fit:  # the fields _map_constants reads without standardization
        pass

    fit = Fit()
    fit.lambdas = lambdas
    return _PowerMap(lambdas, box_cox, _map_constants(fit, box_cox, None))


def _map_tolerance(x, lam, box_cox, exact):
    """Rounding bound of ``expm1(theta L) / theta`` (``L = log1p|x|`` or
    ``log x``): each of log1p, the product, expm1 and the quotient errs by
    an ulp or two; the product's error grows by ``|z| exp z / expm1 z`` in
    expm1 (at most ``|z| + 1``). So ``4 eps (4 + |z|) |y|``, plus two
    subnormal steps; a product ``z`` below the normal range is rounded to a
    multiple of ``2**-1074``: ``|y| 2**-1074 / |z|`` more."""
    x = mp(x)
    if box_cox:
        L = MP.log(x)
        theta = MP.mpf(lam)
    elif x >= 0:
        L, theta = MP.log1p(x), MP.mpf(lam)
    else:
        L, theta = MP.log1p(-x), 2 - MP.mpf(lam)
    z = abs(theta * L)
    tiny = MP.mpf(2) ** -1074
    underflow = abs(exact) * tiny / z if 0 < z < 2 * MP.mpf(2) ** -1022 else 0
    return 4 * EPS * (4 + z) * abs(exact) + 2 * tiny + underflow


@pytest.mark.parametrize(
    "lam",
    [-3.5, -1.0, -1e-12, 0.0, 1e-17, 0.4, 1.0, 2.0 - 1e-15, 2.0 - 2**-52, 2.0, 3.3],
)
@pytest.mark.parametrize("method", METHODS)
def test_maps_are_exact_to_rounding(lam, method):
    box_cox = method == "box-cox"
    magnitudes = np.array([1e-300, 3e-17, 1e-5, 0.5, 1.0, 2.5, 1e3, 1e80])
    x = magnitudes if box_cox else np.r_[-magnitudes[::-1], 0.0, magnitudes]
    power_map = _plain_map([lam], box_cox)
    y = power_map.transform_block(x[:, None])[:, 0]
    for xi, yi in zip(x, y, strict=True):
        exact = R.transform(xi, lam, box_cox)
        # (scipy's thresholds: below them the map is the logarithm.)
        if (box_cox and abs(lam) < 1e-19) or (not box_cox and abs(lam) < EPS):
            exact = R.transform(xi, 0.0, box_cox) if (box_cox or xi >= 0) else exact
        if not box_cox and xi < 0 and abs(lam - 2) <= EPS:
            exact = R.transform(xi, 2.0, box_cox)
        if abs(exact) > 1e308:
            assert np.isinf(yi)
            continue
        tol = _map_tolerance(xi, lam, box_cox, exact)
        assert abs(mp(yi) - exact) <= tol, (xi, yi, MP.nstr(exact, 17))


@pytest.mark.parametrize("method", METHODS)
def test_standardized_map_is_exact(method):
    """``z = (y - mean) / std`` at the fitted lambda against mpmath (mean and
    std of the training values in mpmath too), including values far outside
    the training range."""
    box_cox = method == "box-cox"
    X = _data(200, seed=5, positive=box_cox)
    fitted = PowerTransformer(method=method).fit(X)
    rng = np.random.default_rng(6)
    new = X * rng.uniform(0.01, 100.0, size=X.shape)
    Z = fitted.transform(new)
    n = np.count_nonzero(~np.isnan(X), axis=0)
    for j, lam in enumerate(fitted.lambdas_):
        mean, std = R.moments(X[:, j], lam, box_cox)
        # The fitted moments: sums of n rounded terms (8 n eps of |mean| +
        # std, and of the variance), and the last Newton step's second-order
        # correction (negligible).
        moment_error = 8 * n[j] * EPS * (abs(mean) + std)
        for xi, zi in zip(new[:, j], Z[:, j], strict=True):
            if np.isnan(xi):
                assert np.isnan(zi)
                continue
            y = R.transform(xi, lam, box_cox)
            exact = (y - mean) / std
            tol = (
                _map_tolerance(xi, lam, box_cox, y) + moment_error
            ) / std * 4 + moment_error / std * abs(exact)
            assert abs(mp(zi) - exact) <= tol, (j, xi, zi, MP.nstr(exact, 17))


def test_box_cox_keeps_the_digits_of_values_near_zero():
    """Values whose ``x**lambda`` is tiny next to 1 keep their digits in
    the standardized map (scikit-learn's ``(x**lambda - 1) / lambda``
    rounds them to ``-1 / lambda``): inverse_transform gives them back."""
    x = np.random.default_rng(7).lognormal(size=(500, 1)) * 1e-300
    fitted = PowerTransformer(method="box-cox").fit(x)
    back = fitted.inverse_transform(fitted.transform(x))
    np.testing.assert_allclose(back, x, rtol=1e-12)


# --------------------------------------------------------------------------
# Invariants
# --------------------------------------------------------------------------

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=64)


def _column(draw_values, positive):
    x = np.asarray(draw_values, dtype=np.float64)
    if positive:
        x = np.abs(x) + 1e-3
    return x


@given(
    values=st.lists(finite, min_size=5, max_size=40, unique=True),
    method=st.sampled_from(METHODS),
    standardize=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_map_is_monotone(values, method, standardize):
    x = _column(values, method == "box-cox")
    fitted = PowerTransformer(method=method, standardize=standardize)
    fitted.fit(x[:, None])
    ordered = np.sort(x)
    z = fitted.transform(ordered[:, None])[:, 0]
    assert np.all(np.diff(z) >= 0)


def _roundtrip_tolerance(fitted, X):
    """Bound on ``|inverse(transform(x)) - x|``.

    With ``L`` the logarithm, ``theta`` its exponent and ``s`` the scale (1
    unstandardized), the forward map errs by ``8 eps (|z| + |offset| + 1)``
    plus ``8 eps (|L| + |c| + 1)`` in units of ``exp(theta L) / s`` (the
    rounding of ``L - c``); the inverse divides by the map's slope
    ``exp(theta L) / s`` in ``L``, adds its own rounding of ``L`` (``8 eps
    (|L| + |c| + 1)``) and ``exp(L)`` multiplies the error of ``L`` (``1 +
    |x|`` or ``x``). Four times that. Where the error of ``theta L`` nears 1
    the map has saturated (unstandardized ``y`` within rounding of ``-1 /
    lambda``: the values' digits are not in the float64 output) and nothing
    is promised."""
    power_map = fitted._power_map()
    box_cox = fitted.method == "box-cox"
    X = np.asarray(X, np.float64)
    with np.errstate(all="ignore"):
        L = np.log(X) if box_cox else np.log1p(np.abs(X))
        side = (X < 0).astype(int)
        columns = np.arange(X.shape[1])
        theta = power_map.theta[side, columns]
        center = power_map.center[side, columns]
        gain = np.abs(power_map.gain[side, columns])
        offset = np.abs(power_map.offset[side, columns])
        Z = np.abs(fitted.transform(X))
        # |d z / d L| = |gain| theta exp(theta (L - c)).
        slope = np.where(
            power_map.log_limit[side, columns],
            gain,
            gain * np.abs(theta) * np.exp(theta * (L - center)),
        )
        error_L = 8 * FLOAT_EPS * (Z + offset + 1) / slope + 16 * FLOAT_EPS * (
            np.abs(L) + np.abs(center) + 1
        )
        growth = X if box_cox else 1 + np.abs(X)
        tol = 4 * (error_L * growth + FLOAT_EPS * np.abs(X))
        return np.where(error_L * np.abs(theta) < 0.5, tol, np.inf)


@given(
    values=st.lists(finite, min_size=6, max_size=40),
    method=st.sampled_from(METHODS),
    standardize=st.booleans(),
)
@settings(max_examples=80, deadline=None)
def test_inverse_transform_recovers_the_data(values, method, standardize):
    x = _column(values, method == "box-cox")
    X = np.column_stack([x, x[::-1] * 3 + 1])
    if method == "box-cox":
        X = np.abs(X) + 1e-3
    fitted = PowerTransformer(method=method, standardize=standardize).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = fitted.inverse_transform(fitted.transform(X))
    tol = _roundtrip_tolerance(fitted, X)
    assert np.all(np.abs(back - X) <= tol), np.max(np.abs(back - X) / tol)


@given(cuts=st.lists(st.integers(1, 2999), min_size=1, max_size=6, unique=True))
@settings(max_examples=15, deadline=None)
def test_chunked_partial_fit_is_within_the_stated_bound(cuts):
    """lambda within 2e-4 and standardized values within 2e-3 of ``fit``
    (PowerLikelihood's stated bound), however the data is cut."""
    X = _data(3000, seed=8)
    fitted = PowerTransformer().fit(X)
    streamed = PowerTransformer()
    for chunk in np.split(X, sorted(cuts)):
        streamed.partial_fit(chunk)
    np.testing.assert_allclose(streamed.lambdas_, fitted.lambdas_, rtol=0, atol=2e-4)
    np.testing.assert_allclose(
        streamed.transform(X), fitted.transform(X), rtol=0, atol=2e-3
    )


@pytest.mark.parametrize("name", ["lognormal", "exponential", "chi2", "uniform"])
@pytest.mark.parametrize("method", METHODS)
def test_streaming_z_scores_within_the_stated_bound(name, method):
    rng = np.random.default_rng(9)
    draw = {
        "lognormal": lambda: rng.lognormal(size=20_000),
        "exponential": lambda: rng.exponential(size=20_000),
        "chi2": lambda: rng.chisquare(3, size=20_000),
        "uniform": lambda: rng.uniform(0.1, 1, size=20_000),
    }[name]
    X = np.column_stack([draw(), draw()])
    X[rng.random(X.shape) < 0.05] = np.nan
    weight = rng.integers(0, 4, size=len(X)).astype(float)
    fitted = PowerTransformer(method=method).fit(X, sample_weight=weight)
    streamed = PowerTransformer(method=method)
    for rows in np.array_split(np.arange(len(X)), 5):
        streamed.partial_fit(X[rows], sample_weight=weight[rows])
    np.testing.assert_allclose(streamed.lambdas_, fitted.lambdas_, rtol=0, atol=2e-4)
    np.testing.assert_allclose(
        streamed.transform(X), fitted.transform(X), rtol=0, atol=2e-3
    )


@given(exponent=st.integers(-100, 100), factor=st.floats(0.01, 100.0))
@settings(max_examples=15, deadline=None)
def test_weights_are_scale_free(exponent, factor):
    X = _data(300, seed=10)
    weight = np.random.default_rng(11).uniform(0.1, 3.0, size=len(X))
    base = PowerTransformer().fit(X, sample_weight=weight)
    powered = PowerTransformer().fit(X, sample_weight=np.ldexp(weight, exponent))
    np.testing.assert_array_equal(powered.transform(X), base.transform(X))
    scaled = PowerTransformer().fit(X, sample_weight=weight * factor)
    np.testing.assert_allclose(scaled.lambdas_, base.lambdas_, rtol=1e-10)
    np.testing.assert_allclose(scaled.transform(X), base.transform(X), atol=1e-9)


@pytest.mark.parametrize("n_rows", [100, 3000])
def test_integer_weights_equal_repeated_rows(n_rows):
    X = _data(n_rows, seed=12)
    weight = np.random.default_rng(13).integers(0, 4, size=n_rows)
    weighted = PowerTransformer().fit(X, sample_weight=weight)
    repeated = PowerTransformer().fit(np.repeat(X, weight, axis=0))
    np.testing.assert_allclose(weighted.lambdas_, repeated.lambdas_, rtol=1e-9)
    np.testing.assert_allclose(weighted.transform(X), repeated.transform(X), atol=1e-9)


@given(
    values=st.lists(finite, min_size=20, max_size=60),
    zeros=st.floats(0.0, 0.9),
)
@settings(max_examples=30, deadline=None)
def test_dense_equals_sparse(values, zeros):
    x = np.asarray(values)
    X = np.column_stack([x, -x[::-1] / 7])
    X[np.random.default_rng(14).random(X.shape) < zeros] = 0.0
    dense = PowerTransformer(standardize=False).fit(X)
    for fmt in ("csr", "csc"):
        X_sparse = sparse.csr_array(X).asformat(fmt)
        fitted = PowerTransformer(standardize=False).fit(X_sparse)
        np.testing.assert_allclose(
            fitted.lambdas_, dense.lambdas_, rtol=1e-9, atol=1e-12
        )
        out = fitted.transform(X_sparse)
        assert sparse.issparse(out) and out.format == fmt
        np.testing.assert_allclose(
            out.toarray(), dense.transform(X), rtol=1e-9, atol=1e-12
        )
        back = fitted.inverse_transform(out)
        assert sparse.issparse(back) and back.format == fmt
        # Implicit zeros stay zeros; stored values within the round trip's
        # bound (a saturating map, lambda far from 1, amplifies rounding).
        tol = _roundtrip_tolerance(fitted, X)
        assert np.all(np.abs(back.toarray() - X) <= tol)


# --------------------------------------------------------------------------
# Streaming, weights, dtypes, copies
# --------------------------------------------------------------------------


def test_small_data_streams_exactly():
    X = _data(90, seed=15)
    fitted = PowerTransformer().fit(X)
    streamed = PowerTransformer()
    for chunk in np.array_split(X, [7, 40, 41]):
        streamed.partial_fit(chunk)
    np.testing.assert_allclose(streamed.lambdas_, fitted.lambdas_, rtol=1e-12)
    np.testing.assert_allclose(streamed.transform(X), fitted.transform(X), atol=1e-12)


def test_decay_weighs_older_batches_less():
    X = _data(200, seed=16)
    forgetful = PowerTransformer(decay=0.75)
    forgetful.partial_fit(X[:100]).partial_fit(X[100:])
    weight = np.r_[np.full(100, 0.25), np.ones(100)]
    weighted = PowerTransformer().fit(X, sample_weight=weight)
    np.testing.assert_allclose(forgetful.lambdas_, weighted.lambdas_, rtol=1e-10)


def test_partial_fit_continues_after_fit():
    X = _data(20_000, seed=17)
    continued = PowerTransformer().fit(X[:10_000]).partial_fit(X[10_000:])
    fitted = PowerTransformer().fit(X)
    # fit keeps the summary of 8,192 sampled rows: the continued fit has the
    # sample's statistical error on its first half (about 1 / sqrt(8192) of
    # lambda's spread), not only the summary's bound.
    np.testing.assert_allclose(continued.lambdas_, fitted.lambdas_, atol=0.05)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_float_dtypes_are_kept_and_computed_in_float64(dtype):
    X = _data(200, seed=18, positive=True).astype(dtype)
    for method in METHODS:
        fitted = PowerTransformer(method=method).fit(X)
        assert fitted.lambdas_.dtype == np.float64
        out = fitted.transform(X)
        assert out.dtype == dtype
        reference = fitted.transform(X.astype(np.float64))
        np.testing.assert_allclose(
            out, reference.astype(dtype), rtol=np.finfo(dtype).eps, atol=0
        )
        assert fitted.inverse_transform(out).dtype == dtype


def test_copy_false_transforms_in_place_and_copy_true_does_not():
    X = _data(100, seed=19)
    original = X.copy()
    fitted = PowerTransformer().fit(X)
    fitted.transform(X)
    np.testing.assert_array_equal(X, original)
    result = PowerTransformer(copy=False).fit(X).transform(X)
    assert result is X
    np.testing.assert_allclose(result, fitted.transform(original), rtol=1e-15)


# --------------------------------------------------------------------------
# Sparse input, bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "advice"),
    [
        ({}, "standardize=False"),
        ({"method": "box-cox", "standardize": False}, "method='yeo-johnson'"),
    ],
)
def test_sparse_input_needs_yeo_johnson_without_standardization(params, advice):
    X = sparse.csr_array(np.abs(_data(50, seed=20)) + 1)
    with pytest.raises(ValueError, match=advice):
        PowerTransformer(**params).fit(X)
    fitted = PowerTransformer(**params).fit(X.toarray())
    with pytest.raises(ValueError, match=advice):
        fitted.transform(X)


def test_box_cox_rejects_non_positive_data_with_scikit_learns_message():
    message = "The Box-Cox transformation can only be applied to strictly positive"
    X = np.abs(_data(50, seed=21)) + 1
    bad = X.copy()
    bad[3, 1] = 0.0
    with pytest.raises(ValueError, match=message):
        PowerTransformer(method="box-cox").fit(bad)
    fitted = PowerTransformer(method="box-cox").fit(X)
    with pytest.raises(ValueError, match=message):
        fitted.transform(bad)
    negative = X.copy()
    negative[0, 0] = -1.0
    for copy in (True, False):
        kept = negative.copy()
        with pytest.raises(ValueError, match=message):
            PowerTransformer(method="box-cox", copy=copy).fit(X).transform(kept)
        np.testing.assert_array_equal(kept, negative)  # never partly written


def test_infinity_is_rejected_naming_the_feature():
    X = _data(50, seed=22)
    X[4, 2] = np.inf
    with pytest.raises(ValueError, match=r"infinity in feature"):
        PowerTransformer().fit(X)
    fitted = PowerTransformer().fit(_data(50, seed=22))
    with pytest.raises(ValueError, match=r"feature\(s\) 2"):
        fitted.transform(X)


def test_inverse_outside_the_range_is_nan_with_scikit_learns_warning():
    X = _data(200, seed=23)
    ours = PowerTransformer(standardize=False).fit(X)
    lam = ours.lambdas_
    # Column 0 (lognormal) has lambda < 0: y >= -1 / lambda has no preimage.
    assert lam[0] < 0
    Y = np.zeros((3, X.shape[1]))
    Y[:, 0] = [0.5 * -1 / lam[0], -1 / lam[0], 2 * -1 / lam[0]]
    with pytest.warns(UserWarning, match="Some values in column 0"):
        back = ours.inverse_transform(Y)
    theirs = _sklearn("yeo-johnson", False, X)
    theirs.lambdas_ = lam
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = theirs.inverse_transform(Y)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(expected))
    np.testing.assert_array_equal(np.isinf(back), np.isinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(back[finite], expected[finite], rtol=1e-12, atol=1e-15)


# --------------------------------------------------------------------------
# Fitted attributes set by hand (scikit-learn's own tests set lambdas_)
# --------------------------------------------------------------------------


def _sklearn_with(ours, X):
    """scikit-learn's PowerTransformer holding our lambdas_ and our
    _scaler's mean_ and scale_ (its map of the same attributes)."""
    theirs = _sklearn(ours.method, ours.standardize, X)
    theirs.lambdas_ = np.asarray(ours.lambdas_, np.float64).copy()
    if ours.standardize:
        theirs._scaler.mean_ = ours._scaler.mean_.copy()
        theirs._scaler.scale_ = ours._scaler.scale_.copy()
    return theirs


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("as_list", [True, False])
def test_lambdas_set_by_hand_give_scikit_learns_map(method, standardize, as_list):
    """A fitted estimator whose lambdas_ are replaced maps with them, and
    with _scaler as fitted, as scikit-learn's does: ``y = T(x)``, then
    ``(y - mean_) / scale_``. Each of ``y`` and the two operations errs by
    an ulp or two of ``|y| + |mean_|`` (8 eps over scale_), ``y`` by its
    map's bound (:func:`_map_tolerance`, at most ``4 eps (4 + |theta L|)
    |y|``); the inverse agrees within the round trip's bound."""
    if method == "yeo-johnson" and SKLEARN_VERSION < (1, 9):
        pytest.skip(
            "the bound is derived for scikit-learn 1.9's Yeo-Johnson arithmetic "
            "(scipy's expm1/log1p forms); scikit-learn 1.6 computes x ** lambda"
        )
    X = _data(100, seed=33, positive=method == "box-cox")
    ours = PowerTransformer(method=method, standardize=standardize).fit(X)
    fitted_z = ours.transform(X)
    lambdas = ours.lambdas_ + np.linspace(-0.3, 0.3, X.shape[1])
    ours.lambdas_ = lambdas.tolist() if as_list else lambdas
    theirs = _sklearn_with(ours, X)
    Z, expected = ours.transform(X), theirs.transform(X)
    y = np.abs(_sklearn_with(ours, X).set_params(standardize=False).transform(X))
    L = np.log(np.abs(X)) if method == "box-cox" else np.log1p(np.abs(X))
    theta = np.where(X < 0, 2 - lambdas, lambdas)
    y_error = 4 * FLOAT_EPS * (4 + np.abs(theta * L)) * y
    if standardize:
        mean, scale = ours._scaler.mean_, ours._scaler.scale_
        tol = (y_error + 8 * FLOAT_EPS * (y + np.abs(mean))) / scale
    else:
        tol = 2 * y_error
    finite = ~np.isnan(X)
    assert np.all(np.abs(Z - expected)[finite] <= tol[finite])
    np.testing.assert_array_equal(np.isnan(Z), np.isnan(X))
    assert not np.allclose(Z[finite], fitted_z[finite])  # the new lambdas
    back = ours.inverse_transform(Z)
    bound = _roundtrip_tolerance(ours, X)
    assert np.all(np.abs(back - X)[finite] <= bound[finite])
    # Set back to the fitted values: the fitted map again, bit for bit.
    ours.lambdas_ = ours._map_source[2].copy()
    np.testing.assert_array_equal(ours.transform(X), fitted_z)


@pytest.mark.parametrize("method", METHODS)
def test_lambdas_set_on_an_unfitted_estimator(method):
    """scikit-learn's tests set lambdas_ on an estimator never fitted:
    lambda 1 is the identity for both maps (Box-Cox shifted by -1), to
    rounding; standardize=True needs the fitted _scaler."""
    X = np.abs(_data(50, seed=34)) + 0.5
    pt = PowerTransformer(method=method, standardize=False)
    pt.lambdas_ = np.array([1] * X.shape[1])
    expected = X - 1 if method == "box-cox" else X
    # expm1(log1p(x)): two roundings, each growing by at most 1 + |x|.
    np.testing.assert_allclose(
        pt.transform(X), expected, rtol=0, atol=8 * FLOAT_EPS * (1 + np.nanmax(X))
    )
    np.testing.assert_allclose(pt.inverse_transform(expected), X, rtol=16 * FLOAT_EPS)
    with pytest.raises(ValueError, match="X has 4 features, but lambdas_ has 5"):
        pt.transform(X[:, :4])
    pt.lambdas_ = np.ones((5, 1))
    with pytest.raises(ValueError, match="one value per feature"):
        pt.transform(X)
    standardized = PowerTransformer(method=method)
    standardized.lambdas_ = np.ones(5)
    with pytest.raises(NotFittedError, match="_scaler"):
        standardized.transform(X)


def test_parameters_changed_after_fit_give_scikit_learns_map():
    """standardize=False set after a standardized fit maps without _scaler,
    as scikit-learn does; the fitted map serves again once it is set back."""
    X = _data(80, seed=35)
    ours = PowerTransformer().fit(X)
    fitted_z = ours.transform(X)
    ours.set_params(standardize=False)
    plain = PowerTransformer(standardize=False)
    plain.lambdas_ = ours.lambdas_
    np.testing.assert_array_equal(ours.transform(X), plain.transform(X))
    ours.set_params(standardize=True)
    np.testing.assert_array_equal(ours.transform(X), fitted_z)


def test_inverse_of_values_without_preimage_is_nan():
    """scikit-learn's test_invserse_box_cox: lambda 0.5 maps onto ``y >
    -2``; -2.1 has no preimage."""
    pt = PowerTransformer(method="box-cox", standardize=False).fit([[1.0], [2.0]])
    pt.lambdas_ = [0.5]
    assert np.isnan(pt.inverse_transform([[-2.1]])).all()
    np.testing.assert_allclose(
        pt.inverse_transform([[-1.0]]), [[0.25]], rtol=4 * FLOAT_EPS
    )


def test_a_refused_fit_keeps_the_fitted_state():
    """scikit-learn's Box-Cox fit on data <= 0 raises before it learns
    anything: the estimator stays fitted (and transform still says why the
    data is refused)."""
    X = np.abs(_data(60, seed=36)) + 0.1
    fitted = PowerTransformer(method="box-cox").fit(X)
    lambdas, Z = fitted.lambdas_.copy(), fitted.transform(X)
    for bad in (-X, np.zeros_like(X)):
        with pytest.raises(ValueError, match="strictly positive"):
            fitted.fit(bad)
        with pytest.raises(ValueError, match="strictly positive"):
            fitted.transform(bad)
        np.testing.assert_array_equal(fitted.lambdas_, lambdas)
        np.testing.assert_array_equal(fitted.transform(X), Z)


def test_float32_results_beyond_its_range_are_inf_without_warnings():
    """The maps run in float64 and round once to float32: results beyond
    float32's range are inf, silently, as a cast (and the affine scalers)
    give them."""
    X = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
    pt = PowerTransformer(method="box-cox", standardize=False).fit(X)
    pt.lambdas_ = np.array([20.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pt.transform(np.array([[1e3], [2.0]], np.float32))
        back = pt.inverse_transform(np.array([[np.finfo(np.float32).max]], np.float32))
        yeo_johnson = PowerTransformer(standardize=False).fit(X)
        yeo_johnson.lambdas_ = np.array([20.0])
        sparse_out = yeo_johnson.transform(
            sparse.csr_array(np.array([[1e3], [0.0]], np.float32))
        )
    assert sparse_out.dtype == np.float32
    assert sparse_out.toarray()[0, 0] == np.inf  # 1001**20 / 20
    assert out.dtype == np.float32
    assert out[0, 0] == np.inf  # 1e60 / 20
    assert out[1, 0] == np.float32((2.0**20 - 1) / 20)
    assert np.isfinite(back).all()  # (1 + 20 y)**(1/20): about 89


def test_yeo_johnson_takes_scipys_logarithm_at_two_minus_eps():
    """scipy (and scikit-learn) take the negative side's logarithmic limit
    where ``|lambda - 2| <= eps``: lambda = 2 - eps maps x < 0 to
    ``-log1p(-x)`` exactly."""
    from scipy import stats

    x = -np.random.default_rng(37).lognormal(size=40)
    pt = PowerTransformer(standardize=False)
    pt.lambdas_ = np.array([2.0 - FLOAT_EPS])
    np.testing.assert_array_equal(
        pt.transform(x[:, None])[:, 0], stats.yeojohnson(x, 2.0 - FLOAT_EPS)
    )
    np.testing.assert_array_equal(pt.transform(x[:, None])[:, 0], -np.log1p(-x))


# --------------------------------------------------------------------------
# Adversarial data: finite results, no warnings
# --------------------------------------------------------------------------

ADVERSARIAL = {
    "constant": np.full(60, 7.25),
    "near-constant": np.r_[np.full(30, 1.0), np.full(30, np.nextafter(1.0, 2.0))],
    "two values": np.tile([1.0, 2.0], 30),
    "heavy ties": np.round(np.random.default_rng(24).lognormal(size=60)),
    "1e-300": np.random.default_rng(25).lognormal(size=60) * 1e-300,
    "1e300": np.random.default_rng(26).lognormal(size=60) * 1e300,
    "subnormal": np.random.default_rng(27).integers(1, 1000, size=60) * 5e-324,
    "huge range": np.exp(np.random.default_rng(28).normal(size=60) * 60),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("standardize", [True, False])
def test_adversarial_columns_give_finite_results_without_warnings(
    name, method, standardize
):
    x = ADVERSARIAL[name]
    if method == "box-cox" and x.min() <= 0:
        x = x + 1.0
    X = np.column_stack([x, np.random.default_rng(29).lognormal(size=len(x))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = PowerTransformer(method=method, standardize=standardize).fit(X)
        Z = fitted.transform(X)
        back = fitted.inverse_transform(Z)
        streamed = PowerTransformer(method=method, standardize=standardize)
        streamed.partial_fit(np.tile(X, (30, 1)))  # a summary
        streamed.transform(X)
    assert np.isfinite(fitted.lambdas_).all()
    assert np.isfinite(Z).all()
    assert np.isfinite(back).all()
    if standardize:
        assert np.isfinite(fitted._scaler.scale_).all()


@pytest.mark.parametrize("method", METHODS)
def test_constant_columns_get_lambda_one_and_zero_output(method):
    X = np.column_stack([np.full(50, 5.0), np.linspace(1, 2, 50)])
    fitted = PowerTransformer(method=method).fit(X)
    assert fitted.lambdas_[0] == 1.0
    np.testing.assert_array_equal(fitted.transform(X)[:, 0], 0.0)


def test_all_nan_columns_are_fitted_and_kept_nan():
    X = _data(50, seed=30)
    X[:, 1] = np.nan
    for method in METHODS:
        data = np.abs(X) + 1 if method == "box-cox" else X
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fitted = PowerTransformer(method=method).fit(data)
            out = fitted.transform(data)
        assert fitted.lambdas_[1] == 1.0
        assert np.isnan(out[:, 1]).all()
        assert np.isfinite(out[:, [0, 2, 4]]).all()


def test_yeo_johnson_of_tiny_values_peaks_far_from_zero():
    """Yeo-Johnson is not scale-invariant: values of 1e-5 peak near lambda
    -5.8e4 (scikit-learn finds it too), values of 1e-300 near -5.8e299
    (scikit-learn returns 1 there: its variance underflows to 0)."""
    x = np.random.default_rng(31).lognormal(size=(500, 1))
    small = PowerTransformer().fit(x * 1e-5)
    np.testing.assert_allclose(
        small.lambdas_, _sklearn("yeo-johnson", True, x * 1e-5).lambdas_, rtol=1e-6
    )
    tiny = PowerTransformer().fit(x * 1e-300)
    # ((1 + x)**lambda - 1) / lambda depends on lambda x alone up to terms of
    # relative size x (log1p(x) = x (1 - x / 2 + ...)): lambda x agrees to
    # about the data's 1e-5 times its spread.
    np.testing.assert_allclose(tiny.lambdas_ * 1e-300, small.lambdas_ * 1e-5, rtol=1e-4)
    assert np.isfinite(tiny.transform(x * 1e-300)).all()


# --------------------------------------------------------------------------
# Array API
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("standardize", [True, False])
def test_array_api_strict_input_is_mapped_in_its_namespace(method, standardize):
    xp = pytest.importorskip("array_api_strict")
    X = _data(80, seed=32, positive=method == "box-cox")
    reference = PowerTransformer(method=method, standardize=standardize).fit(X)
    with config_context(array_api_dispatch=True):
        X_xp = xp.asarray(X)
        fitted = PowerTransformer(method=method, standardize=standardize).fit(X_xp)
        out = fitted.transform(X_xp)
        back = fitted.inverse_transform(out)
        assert type(out) is type(X_xp)
    np.testing.assert_allclose(
        np.asarray(out), reference.transform(X), rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(np.asarray(back), X, rtol=1e-10, atol=1e-10)


def test_clone_keeps_parameters():
    estimator = PowerTransformer(method="box-cox", standardize=False, decay=0.5)
    assert clone(estimator).get_params() == estimator.get_params()
