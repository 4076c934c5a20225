"""PowerLikelihood: the exact maximum and the log-likelihood against mpmath,
merging, weights, NaN, sparse input, the stated accuracy of a summary, and
states."""

import numpy as np
import pytest
import scipy
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse, special, stats
from sklearn.utils.fixes import parse_version

from sknorm.stats import PowerLikelihood, Statistic
from sknorm.stats.power import BUFFER_ROWS, buffer_rows, lambda_bounds

from .. import _power_reference as R
from .._reference import MP, mp
from .._tolerances import EPS

METHODS = ["yeo-johnson", "box-cox"]


def _columns(n, seed=0, positive=False):
    """Columns of different shapes: skewed right and left, symmetric, of
    both signs (Yeo-Johnson), with NaN in one."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.lognormal(size=n),
            rng.normal(1.0, 2.0, size=n),
            -rng.exponential(size=n) * 3,
            rng.uniform(0, 5, size=n),
        ]
    )
    if positive:
        X = np.abs(X) + 0.05
    X[rng.random(n) < 0.1, 3] = np.nan
    return X


def _stat(X, method, weight=None, exact=False):
    return PowerLikelihood.from_data(X, weight, method=method, exact=exact)


# --------------------------------------------------------------------------
# The exact maximum and the log-likelihood, against mpmath
# --------------------------------------------------------------------------


def _slope_tolerance(column, lam, box_cox, weight=None):
    """Bound on the error of the fitted lambda.

    Newton's last step is below 1e-6 and leaves an error of about ``C * 1e-12``
    (``C = |f''' / 2 f''|``, below 100 for these data): 1e-10. The slope is
    computed from sums of n terms, each within a few eps: its rounding is at
    most ``8 n eps (mean|J| + |cov(y, y') / var(y)|)``, which moves the root
    by that over the curvature."""
    values = np.asarray(column)
    values = values[~np.isnan(values)]
    step = MP.mpf(10) ** -20
    curvature = abs(
        R.slope(column, lam + step, box_cox, weight)
        - R.slope(column, lam - step, box_cox, weight)
    ) / (2 * step)
    jacobian = np.mean(np.abs(np.log(values) if box_cox else np.log1p(np.abs(values))))
    scale = mp(jacobian) + abs(R.slope(column, lam, box_cox, weight)) + 10
    return 1e-10 + float(8 * len(values) * mp(EPS) * scale / curvature)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("exact", [False, True], ids=["buffered", "from_data"])
def test_exact_maximum_is_the_root_of_the_likelihoods_slope(method, weighted, exact):
    box_cox = method == "box-cox"
    X = _columns(150, positive=box_cox)
    weight = None
    if weighted:
        weight = np.random.default_rng(1).integers(0, 4, size=len(X)).astype(float)
    fit = _stat(X, method, weight, exact=exact).maximum_likelihood()
    mean, std = fit.moments.mean, fit.moments.std()
    for j in range(X.shape[1]):
        lam = R.maximum(X[:, j], fit.lambdas[j], box_cox, weight)
        tol = _slope_tolerance(X[:, j], lam, box_cox, weight)
        assert abs(mp(fit.lambdas[j]) - lam) <= tol, (j, fit.lambdas[j], lam)
        # The moments there: their rounding, and lambda's error times
        # their derivative (below 100 std here).
        exact_mean, exact_std = R.moments(X[:, j], lam, box_cox, weight)
        atol = exact_std * (100 * tol + 1e-12) + 64 * mp(EPS) * abs(exact_mean)
        assert abs(mp(mean[j]) - exact_mean) <= atol
        assert abs(mp(std[j]) - exact_std) <= atol


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", [-1.3, 0.0, 0.5, 2.0, 3.7])
def test_log_likelihood_of_a_buffered_statistic_is_exact(method, lam):
    box_cox = method == "box-cox"
    X = _columns(120, seed=2, positive=box_cox)
    statistic = _stat(X, method)
    assert statistic.buffered
    got = statistic.log_likelihood(lam)
    for j in range(X.shape[1]):
        column = X[:, j]
        values = column[~np.isnan(column)]
        exact = R.log_likelihood(column, lam, box_cox)
        # log var from sums of n terms (relative error 8 n eps times the
        # cancellation 1 + mean**2 / var), the Jacobian's sum within n eps.
        mean, std = R.moments(column, lam, box_cox)
        cancellation = 1 + (mean / std) ** 2
        jacobian = np.sum(
            np.abs(np.log(values) if box_cox else np.log1p(np.abs(values)))
        )
        tol = len(values) / 2 * 8 * len(values) * mp(EPS) * cancellation
        tol += abs(lam - 1) * 4 * len(values) * mp(EPS) * mp(jacobian)
        assert abs(mp(got[j]) - exact) <= tol, (j, got[j], exact)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("lam", [-2.0, -0.25, 0.0, 1.0, 2.5, 4.0])
def test_log_likelihood_of_a_summary_is_exact_at_the_grid(method, lam):
    """At a grid exponent the summary's interpolation returns the stored
    value: the log-likelihood of all the rows up to rounding."""
    box_cox = method == "box-cox"
    X = _columns(1500, seed=3, positive=box_cox)[:, :2]
    statistic = _stat(X, method)
    assert not statistic.buffered
    got = statistic.log_likelihood(lam)
    for j in range(X.shape[1]):
        exact = R.log_likelihood(X[:, j], lam, box_cox)
        mean, std = R.moments(X[:, j], lam, box_cox)
        n = len(X)
        # Sums of n terms in the log-space merge of row blocks.
        tol = n / 2 * 16 * n * mp(EPS) * (1 + (mean / std) ** 2) + 1e-9 * abs(exact)
        assert abs(mp(got[j]) - exact) <= tol, (j, got[j], exact)


def test_scipy_log_likelihood_is_the_unweighted_case():
    x = np.random.default_rng(4).lognormal(size=300)
    statistic = _stat(x[:, None], "yeo-johnson")
    for lam in (-1.0, 0.3, 1.7):
        np.testing.assert_allclose(
            statistic.log_likelihood(lam)[0], stats.yeojohnson_llf(lam, x), rtol=1e-12
        )
    statistic = _stat(x[:, None], "box-cox")
    np.testing.assert_allclose(
        statistic.log_likelihood(0.3)[0], stats.boxcox_llf(0.3, x), rtol=1e-12
    )


# --------------------------------------------------------------------------
# The stated accuracy of a summary
# --------------------------------------------------------------------------

DISTRIBUTIONS = {
    "lognormal": lambda rng, n: rng.lognormal(size=n),
    "normal": lambda rng, n: rng.normal(3.0, 1.0, size=n),
    "uniform": lambda rng, n: rng.uniform(0.1, 1.0, size=n),
    "exponential": lambda rng, n: rng.exponential(size=n),
    "chi2": lambda rng, n: rng.chisquare(3, size=n),
    "gamma(0.5)": lambda rng, n: rng.gamma(0.5, size=n),
    "beta(6, 1)": lambda rng, n: rng.beta(6, 1, size=n) * 10,
    "normal, both signs": lambda rng, n: rng.normal(size=n),
}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weighted", [False, True])
def test_summary_maximum_is_within_the_stated_bound(name, method, weighted):
    """|dlambda| <= 2e-4 (the docstring's bound) between the summary of 7
    chunks merged and the exact maximum, 5% NaN."""
    rng = np.random.default_rng(5)
    x = DISTRIBUTIONS[name](rng, 20_000)
    if method == "box-cox" and x.min() <= 0:
        pytest.skip("Box-Cox needs positive data")
    x[rng.random(len(x)) < 0.05] = np.nan
    X = x[:, None]
    weight = rng.integers(0, 4, size=len(x)).astype(float) if weighted else None
    exact = _stat(X, method, weight, exact=True).maximum_likelihood()
    chunks = np.array_split(np.arange(len(x)), 7)
    merged = None
    for rows in chunks:
        part = _stat(X[rows], method, None if weight is None else weight[rows])
        merged = part if merged is None else merged.merge(part)
    assert not merged.buffered
    approx = merged.maximum_likelihood()
    assert abs(approx.lambdas[0] - exact.lambdas[0]) <= 2e-4
    assert not approx.clamped[0]
    # The moments at the approximate lambda: the same up to their
    # derivative in lambda times the error.
    np.testing.assert_allclose(approx.moments.std(), exact.moments.std(), rtol=2e-3)


def test_a_maximum_beyond_the_grid_is_clamped_and_reported():
    x = np.random.default_rng(6).beta(20, 1, size=3000) * 10
    summary = _stat(x[:, None], "box-cox").maximum_likelihood()
    exact = _stat(x[:, None], "box-cox", exact=True).maximum_likelihood()
    assert summary.lambdas[0] == 6.0 and summary.clamped[0]
    assert exact.lambdas[0] > 10  # the exact maximum is not bounded by the grid
    assert not exact.clamped[0]


# --------------------------------------------------------------------------
# Merging, states, weights, NaN, sparse input
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_small_data_stays_exact_however_it_is_split(method):
    X = _columns(90, seed=7, positive=method == "box-cox")
    whole = _stat(X, method).maximum_likelihood()
    merged = _stat(X[:7], method).merge(_stat(X[7:40], method))
    merged = merged.merge(_stat(X[40:], method))
    assert merged.buffered
    split = merged.maximum_likelihood()
    np.testing.assert_array_equal(split.lambdas, whole.lambdas)
    np.testing.assert_array_equal(split.moments.mean, whole.moments.mean)


@pytest.mark.parametrize("method", METHODS)
def test_summaries_merge_like_one_summary_of_all_rows(method):
    X = _columns(4000, seed=8, positive=method == "box-cox")
    whole = _stat(X, method)
    a, b, c = (
        _stat(X[:1500], method),
        _stat(X[1500:3100], method),
        _stat(X[3100:], method),
    )
    left, right = a.merge(b).merge(c), a.merge(b.merge(c))
    for merged in (left, right):
        for field in ("side_weight", "mean_log"):
            np.testing.assert_allclose(
                getattr(merged, field), getattr(whole, field), rtol=1e-12
            )
        # Log-space values: absolute rounding of sums of 4000 terms.
        finite = np.isfinite(whole.log_variance)
        np.testing.assert_allclose(
            merged.log_variance[finite], whole.log_variance[finite], atol=1e-10
        )
        np.testing.assert_allclose(merged.cgf, whole.cgf, atol=1e-10, equal_nan=True)
        # The interpolated maximum moves by the values' rounding over the
        # likelihood's curvature.
        np.testing.assert_allclose(
            merged.maximum_likelihood().lambdas,
            whole.maximum_likelihood().lambdas,
            atol=1e-9,
        )


def test_buffer_holds_up_to_its_rows_then_summarizes():
    assert buffer_rows(4) == BUFFER_ROWS
    assert buffer_rows(10_000) == 1
    X = _columns(BUFFER_ROWS)
    full = _stat(X, "yeo-johnson")
    assert full.buffered and full.buffer.shape == X.shape
    more = full.merge(_stat(X[:1], "yeo-johnson"))
    assert not more.buffered and more.buffer.shape == (0, X.shape[1])


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("n_rows", [50, 3000])
def test_state_round_trip(exact, n_rows):
    statistic = _stat(_columns(n_rows), "yeo-johnson", exact=exact)
    state = statistic.to_state()
    assert all(
        isinstance(v, np.ndarray) and v.dtype.kind in "fb"
        for k, v in state.items()
        if k != "statistic"
    )
    again = PowerLikelihood.from_state(state)
    assert again == statistic
    np.testing.assert_array_equal(
        again.maximum_likelihood().lambdas, statistic.maximum_likelihood().lambdas
    )
    assert issubclass(PowerLikelihood, Statistic)


@pytest.mark.parametrize("n_rows", [60, 3000])
def test_reweighting_moves_weights_not_the_maximum(n_rows):
    X = _columns(n_rows, seed=9)
    statistic = _stat(X, "yeo-johnson")
    half = statistic.reweighted(0.5)
    np.testing.assert_array_equal(half.weight_sum, statistic.weight_sum * 0.5)
    np.testing.assert_array_equal(
        half.maximum_likelihood().lambdas, statistic.maximum_likelihood().lambdas
    )


@pytest.mark.parametrize("n_rows", [60, 3000])
def test_decayed_merge_equals_the_weighted_statistic(n_rows):
    X = _columns(2 * n_rows, seed=10)
    old, new = X[:n_rows], X[n_rows:]
    decayed = (
        _stat(old, "yeo-johnson").reweighted(0.25).merge(_stat(new, "yeo-johnson"))
    )
    weight = np.r_[np.full(n_rows, 0.25), np.ones(n_rows)]
    weighted = _stat(X, "yeo-johnson", weight)
    np.testing.assert_allclose(
        decayed.maximum_likelihood().lambdas,
        weighted.maximum_likelihood().lambdas,
        rtol=1e-9,
    )


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("n_rows", [60, 3000])
def test_integer_weights_equal_repeated_rows(exact, n_rows):
    X = _columns(n_rows, seed=11)
    weight = np.random.default_rng(12).integers(0, 4, size=n_rows)
    repeated = _stat(np.repeat(X, weight, axis=0), "yeo-johnson", exact=exact)
    weighted = _stat(X, "yeo-johnson", weight.astype(float), exact=exact)
    a, b = repeated.maximum_likelihood(), weighted.maximum_likelihood()
    # The repeated rows may cross the buffer's size; both are exact, or
    # both are summaries of the same values: rounding apart.
    np.testing.assert_allclose(a.lambdas, b.lambdas, rtol=1e-9)
    np.testing.assert_allclose(a.moments.mean, b.moments.mean, rtol=1e-9)


@given(exponent=st.integers(-60, 60), factor=st.floats(0.1, 10.0))
@settings(max_examples=20, deadline=None)
def test_weights_are_scale_free(exponent, factor):
    X = _columns(200, seed=13)
    weight = np.random.default_rng(14).uniform(0.5, 2.0, size=len(X))
    base = _stat(X, "yeo-johnson", weight).maximum_likelihood()
    powered = _stat(X, "yeo-johnson", np.ldexp(weight, exponent)).maximum_likelihood()
    np.testing.assert_array_equal(powered.lambdas, base.lambdas)
    scaled = _stat(X, "yeo-johnson", weight * factor).maximum_likelihood()
    np.testing.assert_allclose(scaled.lambdas, base.lambdas, rtol=1e-10)


@pytest.mark.parametrize("n_rows", [80, 3000])
def test_missing_values_are_ignored(n_rows):
    rng = np.random.default_rng(15)
    x = rng.lognormal(size=n_rows)
    holes = rng.random(n_rows) < 0.2
    with_nan = np.where(holes, np.nan, x)
    a = _stat(with_nan[:, None], "box-cox", exact=True).maximum_likelihood()
    b = _stat(x[~holes][:, None], "box-cox", exact=True).maximum_likelihood()
    np.testing.assert_allclose(a.lambdas, b.lambdas, rtol=1e-10)
    np.testing.assert_allclose(a.moments.weight_sum, [np.count_nonzero(~holes)])


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("n_rows", [100, 3000])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_equals_dense(exact, n_rows, fmt, weighted):
    rng = np.random.default_rng(16)
    X = _columns(n_rows, seed=17)
    X[rng.random(X.shape) < 0.6] = 0.0
    weight = rng.integers(0, 4, size=n_rows).astype(float) if weighted else None
    dense = _stat(X, "yeo-johnson", weight, exact=exact).maximum_likelihood()
    sparse_fit = _stat(
        sparse.csr_array(X).asformat(fmt), "yeo-johnson", weight, exact=exact
    ).maximum_likelihood()
    np.testing.assert_allclose(sparse_fit.lambdas, dense.lambdas, rtol=1e-9)
    np.testing.assert_allclose(sparse_fit.moments.mean, dense.moments.mean, rtol=1e-9)
    np.testing.assert_allclose(sparse_fit.moments.std(), dense.moments.std(), rtol=1e-9)


def test_box_cox_needs_positive_data():
    with pytest.raises(ValueError, match="strictly positive"):
        _stat(np.array([[1.0], [0.0]]), "box-cox")
    with pytest.raises(ValueError, match="strictly positive"):
        _stat(sparse.csr_array(np.array([[1.0], [0.0], [2.0]])), "box-cox")
    with pytest.raises(ValueError, match="method must be"):
        _stat(np.ones((3, 1)), "log")


def test_merging_different_methods_is_refused():
    X = _columns(20)
    with pytest.raises(ValueError, match="different methods"):
        _stat(X, "yeo-johnson").merge(_stat(np.abs(X) + 1, "box-cox"))


# --------------------------------------------------------------------------
# scipy's bounds, and magnitudes
# --------------------------------------------------------------------------


def test_box_cox_bounds_keep_the_extremes_within_scipys_limit():
    minimum, maximum = np.array([1e-300, 2.0]), np.array([1e300, 1e10])
    low, high = lambda_bounds(minimum, maximum, True)
    ymax = np.finfo(np.float64).max / 10000
    np.testing.assert_allclose(special.boxcox(maximum, high), ymax, rtol=1e-9)
    np.testing.assert_allclose(special.boxcox(minimum[:1], low[:1]), -ymax, rtol=1e-9)
    assert low[1] == -np.inf  # no value below 1: no lower bound


@pytest.mark.skipif(
    parse_version(scipy.__version__) < parse_version("1.17"),
    reason="checked against scipy 1.17.1, whose yeojohnson_normmax bounds lambda "
    "against overflow; the floors' scipy 1.10 does not",
)
def test_yeo_johnson_bounds_are_scipys():
    # Data near 1e250 of small relative spread: the likelihood rises past
    # the upper bound, where scipy's fminbound (scikit-learn's fit) stops.
    x = 1e250 * (1 + 0.01 * np.random.default_rng(0).normal(size=200))
    _, high = lambda_bounds(np.array([x.min()]), np.array([x.max()]), False)
    found = stats.yeojohnson_normmax(x)
    np.testing.assert_allclose(found, high[0], rtol=1e-7)
    fitted = _stat(x[:, None], "yeo-johnson", exact=True).maximum_likelihood()
    assert fitted.lambdas[0] == high[0]


@pytest.mark.parametrize("exponent", [-997, 997, -1060])
def test_box_cox_lambda_does_not_depend_on_the_data_scale(exponent):
    """Box-Cox's lambda is scale-invariant: data times a power of two
    (subnormal below 2**-1022, where the products are rounded: the base is
    then the rounded data scaled back, exactly)."""
    x = np.random.default_rng(18).lognormal(size=(400, 1))
    scaled_x = np.ldexp(x, exponent)
    base = _stat(np.ldexp(scaled_x, -exponent), "box-cox", exact=True)
    base = base.maximum_likelihood()
    scaled = _stat(scaled_x, "box-cox", exact=True).maximum_likelihood()
    # log(2**e x) = e log 2 + log x: the logarithms' rounding, |e| eps,
    # moves lambda by that over the spread of log x (about 1).
    np.testing.assert_allclose(scaled.lambdas, base.lambdas, atol=1e-9)
    assert np.isfinite(scaled.moments.scaled_std()).all()
    assert np.all(scaled.moments.scaled_std() > 0)
