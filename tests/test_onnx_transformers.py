"""ONNX graphs of the quantile and power transformers (sknorm.onnx) against
scikit-learn's ``QuantileTransformer`` and ``PowerTransformer``.

The graph builders read fitted attributes only (``quantiles_``,
``references_``, ``output_distribution``; ``method``, ``lambdas_``,
``standardize``, ``_scaler``), so scikit-learn's fitted transformers serve as
their source: subclasses of them are registered here with the builders
(:func:`sknorm.onnx._converter_for`), and each graph's output is compared
with scikit-learn's ``transform`` within a bound derived below. sknorm's own
transformers, where this sknorm has them, run through the same tests (and
``test_onnx.py``'s, which covers every public estimator).

Bounds (``eps = 2**-52``):

* uniform output: the graph runs ``np.interp``'s float64 operations in its
  order, so it gives the same value (bit for bit where numpy's C code does not
  fuse multiply-adds, as on x86-64); a fused one moves each of the two
  interpolations by at most ``eps`` (values in [0, 1]).
* normal output: ``ndtri`` of that value. The graph's AS241 is within
  ``NDTRI_RTOL = 17 eps`` of the exact value (asserted against mpmath below;
  derived a priori in ``test_ndtri_graph_against_exact``), scipy's cephes
  ``ndtri`` within its documented peak 7.2e-16; a difference ``du`` of the
  uniform values moves ``z`` by ``du / phi(z)``.
* power transforms: ``expm1(w) / l``, ``w = l * log1p(x)`` (``log x`` for
  Box-Cox). The graph's ``log1p`` and ``expm1`` are within 4 and 5 eps
  (asserted below), glibc's within 1 ulp; ``w`` adds a rounding; ``expm1``
  multiplies the relative error of ``w`` by its condition
  ``kappa = w e**w / (e**w - 1) <= 1 + max(w, 0)``. The two computations
  differ by at most ``(6 kappa + 7) eps`` relative; standardizing divides
  that by the scale, and its two roundings add at most ``eps`` of the output
  on each side.
* float32 input: the graph and ``transform`` compute in float64 and round once,
  so they differ by one float32 ulp at most, plus the float64 bound.
"""

import copy

import mpmath
import numpy as np
import pytest
from scipy import special, stats
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.preprocessing import PowerTransformer, QuantileTransformer

import sknorm
import sknorm.scalers

skl2onnx = pytest.importorskip(
    "skl2onnx", reason="ONNX export needs skl2onnx (pip install sknorm[onnx])"
)
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="running exported models needs onnxruntime"
)

import sknorm.onnx  # noqa: E402 - after the skips: needs skl2onnx

from .conftest import SKLEARN_VERSION  # noqa: E402

EPS = float(np.finfo(np.float64).eps)

#: Relative error bounds: the graph's inverse normal CDF (derived in
#: test_ndtri_graph_against_exact), scipy's (cephes' documented peak), the
#: graph's log1p and expm1 (test_log1p_and_expm1_graphs_against_exact) and
#: glibc's log, log1p, expm1 (1 ulp).
NDTRI_RTOL = 17 * EPS
SCIPY_NDTRI_RTOL = 7.2e-16
LOG1P_RTOL = 4 * EPS
EXPM1_RTOL = 5 * EPS
LIBM_RTOL = EPS


class SklearnQuantileTransformer(QuantileTransformer):
    """scikit-learn's transformer, converted by sknorm's builder."""


class SklearnPowerTransformer(PowerTransformer):
    """scikit-learn's transformer, converted by sknorm's builder."""


class _Elementwise(TransformerMixin, BaseEstimator):
    """Applies one elementwise graph builder of sknorm.onnx (for its tests)."""

    _parameter_constraints: dict = {}

    def __init__(self, function="ndtri"):
        self.function = function

    def fit(self, X, y=None):
        self.n_features_in_ = X.shape[1]
        return self


_ELEMENTWISE = {
    "ndtri": sknorm.onnx._ndtri_graph,
    "log1p": sknorm.onnx._log1p_graph,
    "expm1": sknorm.onnx._expm1_graph,
}

for _cls, _build in [
    (SklearnQuantileTransformer, sknorm.onnx._quantile_graph),
    (SklearnPowerTransformer, sknorm.onnx._power_graph),
    (_Elementwise, lambda graph, est, x, n: _ELEMENTWISE[est.function](graph, x)),
]:
    skl2onnx.update_registered_converter(
        _cls,
        f"SknormTest{_cls.__name__}",
        sknorm.onnx._shape_calculator,
        sknorm.onnx._converter_for(_build),
    )

#: The quantile and power transformer classes converted here: scikit-learn's
#: always, sknorm's where this sknorm has them.
QUANTILE_SOURCES = [SklearnQuantileTransformer] + [
    cls
    for cls in [getattr(sknorm.scalers, "QuantileTransformer", None)]
    if cls is not None
]
POWER_SOURCES = [SklearnPowerTransformer] + [
    cls
    for cls in [getattr(sknorm.scalers, "PowerTransformer", None)]
    if cls is not None
]


#: Skip reason where the reference is scikit-learn's Yeo-Johnson/Box-Cox
#: arithmetic of a release older than the one the bounds were derived for.
OLD_SKLEARN_POWER = (
    None
    if SKLEARN_VERSION >= (1, 9)
    else (
        "the reference is scikit-learn's own power-transform arithmetic as of "
        "1.9 (scipy's expm1/log1p forms and branch thresholds), from which the "
        "bound is derived; scikit-learn 1.6 computes x ** lambda directly"
    )
)


def _source_id(cls):
    return "sklearn" if cls.__name__.startswith("Sklearn") else "sknorm"


def _run(estimator, X):
    model = sknorm.onnx.to_onnx(estimator, X[:1])
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})[0]


def _elementwise(function, values):
    x = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return _run(_Elementwise(function).fit(x), x).ravel()


def _reference(estimator, X):
    """``transform`` in float64, rounded once to the input's dtype: sknorm's
    semantics (scikit-learn's float32 path rounds intermediate values)."""
    with np.errstate(over="ignore"):  # x ** l beyond the float64 range: inf
        if isinstance(estimator, (SklearnQuantileTransformer, SklearnPowerTransformer)):
            return estimator.transform(X.astype(np.float64)).astype(X.dtype)
        return estimator.transform(X)


def _assert_within(got, expected, atol):
    """NaN and infinities where expected; elsewhere ``|got - expected|`` within
    ``atol`` (float64 bounds), plus one ulp of the output's dtype."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    infinite = np.isinf(expected)
    np.testing.assert_array_equal(got[infinite], expected[infinite])
    finite = np.isfinite(expected)
    bound = np.broadcast_to(atol, expected.shape).astype(np.float64)
    if expected.dtype == np.float32:
        bound = bound + np.spacing(np.abs(expected)).astype(np.float64)
    with np.errstate(invalid="ignore"):  # inf - inf, compared above
        error = np.abs(got.astype(np.float64) - expected)
    beyond = finite & ~(error <= bound)
    assert not beyond.any(), (
        f"{beyond.sum()} values beyond the bound: got {got[beyond][:4]}, "
        f"expected {expected[beyond][:4]}, bound {bound[beyond][:4]}"
    )


# ---------------------------------------------------------------------------
# Building blocks against exact arithmetic
# ---------------------------------------------------------------------------


def _exact_ndtri(p):
    """The inverse normal CDF of ``p`` to 40 digits (Newton on mpmath's ncdf,
    from scipy's value)."""
    with mpmath.workdps(40):
        target = mpmath.mpf(float(p))
        root = mpmath.findroot(lambda z: mpmath.ncdf(z) - target, special.ndtri(p))
        return float(root)


def test_ndtri_graph_against_exact():
    """Within ``NDTRI_RTOL = 17 eps`` relative, a priori: ``q = p - 1/2``
    rounds by at most ``eps / 2`` (amplified at most twofold in ``z``),
    ``t = 0.180625 - q*q`` by ``0.09 eps`` absolute (``|d log R / dt| <= 3``);
    in the tails ``r = sqrt(-log(min(p, 1 - p)))`` (``1 - p`` exact, ``Log``
    1 ulp from the correctly rounded value) carries ``1.25 eps``, about as
    much in ``z``; each Horner evaluation of degree 7 (positive coefficients,
    argument ``>= 0``: condition 1) errs by ``gamma_14 ~ 7 eps``, the quotient
    and product by ``eps / 2`` each, AS241 itself by 1e-16."""
    rng = np.random.default_rng(0)
    p = np.concatenate(
        [
            rng.uniform(size=300),
            10.0 ** rng.uniform(-300, -0.3, 300),  # lower tail, every region
            1 - 10.0 ** rng.uniform(-16, -0.3, 300),  # upper tail
            [0.075, 0.925, 0.5, np.exp(-25), 1e-7, 1 - 1e-7, 5e-324],
        ]
    )
    exact = np.array([_exact_ndtri(v) for v in p])
    got = _elementwise("ndtri", p)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(
            exact == 0, np.abs(got), np.abs(got - exact) / np.abs(exact)
        )
    assert relative.max() <= NDTRI_RTOL
    # The premise of the normal-output bound: scipy's ndtri on the same grid.
    scipy_relative = np.abs(special.ndtri(p) - exact) / np.maximum(
        np.abs(exact), 1e-300
    )
    assert scipy_relative.max() <= SCIPY_NDTRI_RTOL
    edges = _elementwise("ndtri", [0.0, 1.0, np.nan, -0.5, 1.5])
    np.testing.assert_array_equal(edges, [-np.inf, np.inf, np.nan, np.nan, np.nan])


def test_log1p_and_expm1_graphs_against_exact():
    rng = np.random.default_rng(1)
    a = np.concatenate(
        [
            10.0 ** rng.uniform(-320, 308, 1000),
            rng.uniform(0, 2, 1000),
            10.0 ** rng.uniform(-17, -14, 500),  # 1 + a within a few ulps of 1
            [0.0, 5e-324, EPS, EPS / 2, 1.0, 1.7e308],
        ]
    )
    with mpmath.workdps(40):
        exact = np.array([float(mpmath.log1p(mpmath.mpf(v))) for v in a])
    got = _elementwise("log1p", a)
    positive = exact > 0
    assert got[exact == 0].tolist() == [0.0]
    assert (np.abs(got - exact)[positive] <= LOG1P_RTOL * exact[positive]).all()
    np.testing.assert_array_equal(
        _elementwise("log1p", [np.inf, np.nan]), [np.inf, np.nan]
    )

    w = np.concatenate(
        [
            rng.uniform(-745, 709, 1000),
            rng.uniform(-2, 2, 1000),
            10.0 ** rng.uniform(-320, 0, 500),
            -(10.0 ** rng.uniform(-320, 0, 500)),
            [0.0, 5e-324, -5e-324, 709.78, -745.0, -740.0],
        ]
    )
    with mpmath.workdps(40):
        exact = np.array([float(mpmath.expm1(mpmath.mpf(v))) for v in w])
    got = _elementwise("expm1", w)
    np.testing.assert_array_equal(got[exact == 0], 0.0)
    assert (np.abs(got - exact) <= EXPM1_RTOL * np.abs(exact)).all()
    edges = _elementwise("expm1", [710.0, np.inf, -800.0, -np.inf, np.nan])
    np.testing.assert_array_equal(edges, [np.inf, np.inf, -1.0, -1.0, np.nan])


# ---------------------------------------------------------------------------
# Quantile transformers
# ---------------------------------------------------------------------------


def _quantile_training_data(n_samples=1200, seed=0):
    """Columns with every kind of quantile table: continuous, integer atoms
    (repeated quantiles), an atom at the minimum, heavy tails (long end
    segments: values of the first and last segment map far into the tails),
    constant, with NaN."""
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n_samples),
            np.round(rng.normal(scale=2.0, size=n_samples)),
            np.where(
                rng.uniform(size=n_samples) < 0.5, 0.0, rng.exponential(size=n_samples)
            ),
            rng.standard_cauchy(size=n_samples) * 1e3,
            np.full(n_samples, 7.0),
        ]
    )
    X[rng.uniform(size=X.shape) < 0.01] = np.nan
    return X


def _quantile_test_data(quantiles, seed=1):
    """Values on and next to every quantile, at the bounds rule's thresholds
    (``q[0] +/- 1e-7``, ``q[-1] -/+ 1e-7`` and their neighbours), fractions
    of the first and last segments down to 1e-9 of one (uniform values far
    into the tails), beyond the fitted range, NaN."""
    q = np.asarray(quantiles, dtype=np.float64)
    first, last = q[0], q[-1]
    second, before_last = q[min(1, len(q) - 1)], q[max(len(q) - 2, 0)]
    fractions = np.logspace(-9, 0, 40)[:, None]
    thresholds = []
    for edge in (first - 1e-7, first + 1e-7, last - 1e-7, last + 1e-7):
        for k in range(-2, 3):
            value = edge
            for _ in range(abs(k)):
                value = np.nextafter(value, np.sign(k) * np.inf)
            thresholds.append(value)
    rng = np.random.default_rng(seed)
    spread = np.where(last > first, last - first, 1.0)
    rows = [
        q,
        np.nextafter(q, np.inf),
        np.nextafter(q, -np.inf),
        np.array(thresholds),
        first + fractions * (second - first),
        last - fractions * (last - before_last),
        first + spread * rng.uniform(-0.2, 1.2, size=(200, q.shape[1])),
        np.vstack([first - 10 * spread, last + 10 * spread, [-1e30] * q.shape[1]]),
        np.full((2, q.shape[1]), np.nan),
    ]
    X = np.vstack([np.broadcast_to(r, (len(r), q.shape[1])) for r in rows])
    X[5, 1] = np.nan
    return X


def _uniform_difference(estimator, X):
    """``|du|`` between the graph's and scikit-learn's uniform values."""
    uniform = copy.deepcopy(estimator)
    uniform.output_distribution = "uniform"
    return np.abs(_run(uniform, X) - _reference(uniform, X))


def normal_output_atol(expected, du):
    """Bound on ``|graph - transform|`` for normal output ``expected`` of a
    quantile transformer whose uniform values differ by ``du``."""
    density = stats.norm.pdf(expected)
    return (NDTRI_RTOL + SCIPY_NDTRI_RTOL) * np.abs(expected) + 2 * du / density


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("output_distribution", ["uniform", "normal"])
@pytest.mark.parametrize("n_quantiles", [1, 2, 10, 1000])
@pytest.mark.parametrize("source", QUANTILE_SOURCES, ids=_source_id)
def test_quantile_transform_matches(source, n_quantiles, output_distribution, dtype):
    X_fit = _quantile_training_data()
    estimator = source(
        n_quantiles=n_quantiles, output_distribution=output_distribution
    ).fit(X_fit)
    X = _quantile_test_data(estimator.quantiles_).astype(dtype)
    expected = _reference(estimator, X)
    got = _run(estimator, X)
    if output_distribution == "uniform":
        _assert_within(got, expected, EPS)
    else:
        du = _uniform_difference(estimator, X.astype(np.float64))
        _assert_within(got, expected, normal_output_atol(expected, du))


def test_quantile_transform_far_tails_reach_the_clip_range():
    """Values a fraction of the first or last segment from the ends map to
    uniform values from 1e-12 up: below 1e-7 the output is scikit-learn's clip
    value, above it AS241's tails, within the derived bound."""
    X_fit = _quantile_training_data()[:, [3]]
    estimator = SklearnQuantileTransformer(
        n_quantiles=1000, output_distribution="normal"
    ).fit(X_fit)
    q = estimator.quantiles_[:, 0]
    fractions = np.logspace(-9, 0, 200)
    X = np.concatenate(
        [q[0] + fractions * (q[1] - q[0]), q[-1] - fractions * (q[-1] - q[-2])]
    )[:, None]
    expected = estimator.transform(X)
    clip = stats.norm.ppf(1e-7 - np.spacing(1))
    assert (expected == clip).any() and (np.abs(expected) < 5.0).any()
    assert (np.abs(expected) > 4.0).sum() > 100  # far in the tails
    du = _uniform_difference(estimator, X)
    _assert_within(_run(estimator, X), expected, normal_output_atol(expected, du))


def test_quantiles_at_the_ends_of_the_float64_range():
    """``np.interp``'s special cases: a slope of 0 (a gap beyond the float64
    range) times an infinite ``x - q``, retried from the segment's other end,
    and a slope that overflows to inf (a gap below the normal range) where a
    value equals a quantile. ``quantiles_`` are set; the builder and
    ``transform`` both read them."""
    X_fit = np.linspace(0.0, 1.0, 6)[:, None]
    estimator = SklearnQuantileTransformer(n_quantiles=6).fit(np.hstack([X_fit] * 2))
    estimator.quantiles_ = np.array(
        [
            [-1.5e308, -1.0],
            [1.5e308, 0.0],
            [1.6e308, 5e-324],
            [1.7e308, 1e-323],
            [1.75e308, 1.0],
            [1.79e308, 2.0],
        ]
    )
    X = np.array(
        [
            [-1.5e308, -1.0],
            [-1.4e308, 0.0],
            [-1e308, 5e-324],
            [0.0, 1e-323],
            [1.4e308, 0.5],
            [1.5e308, -0.5],
            [1.65e308, 1.5],
        ]
    )
    for output_distribution in ["uniform", "normal"]:
        estimator.output_distribution = output_distribution
        with np.errstate(over="ignore", invalid="ignore"):
            expected = estimator.transform(X)
        if output_distribution == "uniform":
            np.testing.assert_array_equal(_run(estimator, X), expected)
        else:
            _assert_within(
                _run(estimator, X), expected, normal_output_atol(expected, 0.0)
            )


@pytest.mark.parametrize("output_distribution", ["uniform", "normal"])
def test_infinity_maps_to_the_ends(output_distribution):
    # transform rejects infinity; the graph maps it as the largest finite
    # values beyond the fitted range.
    X_fit = _quantile_training_data()
    estimator = SklearnQuantileTransformer(
        n_quantiles=1000, output_distribution=output_distribution
    ).fit(X_fit)
    X = np.array([[np.inf] * 5, [-np.inf] * 5])
    expected = estimator.transform(np.array([[1e300] * 5, [-1e300] * 5]))
    np.testing.assert_array_equal(_run(estimator, X), expected)


def test_repeated_quantiles_take_the_mean_of_both_interpolations():
    # A value equal to a repeated quantile maps to the mean of its first and
    # last reference (scikit-learn's two-sided interpolation).
    X_fit = np.array([[0.0], [1.0], [1.0], [1.0], [2.0]])
    estimator = SklearnQuantileTransformer(n_quantiles=5).fit(X_fit)
    X = np.array([[1.0], [0.5], [1.5], [0.0], [2.0], [-1.0], [3.0], [np.nan]])
    got = _run(estimator, X)
    np.testing.assert_array_equal(got, estimator.transform(X))
    np.testing.assert_array_equal(
        got.ravel(), [0.5, 0.125, 0.875, 0.0, 1.0, 0.0, 1.0, np.nan]
    )


# ---------------------------------------------------------------------------
# Power transformers
# ---------------------------------------------------------------------------


def _power_training_data(method, n_samples=300, seed=2):
    """Mixed-sign, positive, negative and wide-ranging columns (Yeo-Johnson),
    or positive ones from near 0 to 1e6 (Box-Cox), with NaN."""
    rng = np.random.default_rng(seed)
    if method == "box-cox":
        X = np.column_stack(
            [
                rng.lognormal(size=n_samples),
                rng.lognormal(sigma=3.0, size=n_samples),
                1 + rng.exponential(1e-3, size=n_samples),
                rng.uniform(1e-6, 1e6, size=n_samples),
                rng.gamma(0.5, size=n_samples) + 1e-9,
            ]
        )
    else:
        X = np.column_stack(
            [
                rng.normal(size=n_samples),
                rng.normal(3.0, 1.0, size=n_samples),
                -rng.exponential(size=n_samples),
                rng.standard_cauchy(size=n_samples),
                rng.normal(scale=1e3, size=n_samples) ** 2,
            ]
        )
    X[rng.uniform(size=X.shape) < 0.02] = np.nan
    return X


def _power_test_data(method, n_features, dtype=np.float64, seed=3):
    """Random values over many magnitudes, values next to 0 and 1, large ones
    (beyond float32's range only for float64 input: ``x ** l`` overflows),
    NaN."""
    rng = np.random.default_rng(seed)
    if method == "box-cox":
        special_values = [1.0, np.nextafter(1.0, 2.0), 1 - EPS / 2, 1e-30, 1e-9, 1e6]
        special_values += [1e-300, 1e300] if dtype == np.float64 else []
        random = 10.0 ** rng.uniform(-12, 7, size=(200, n_features))
    else:
        special_values = [0.0, -0.0, 1e-40, -1e-40, 1e-17, -1e-17, 1.0, -1.0]
        special_values += [1e4, -1e4, 1e30, -1e30]
        special_values += [5e-324, 1e300, -1e300] if dtype == np.float64 else []
        random = rng.normal(size=(200, n_features)) * 10.0 ** rng.uniform(
            -3, 3, size=(200, 1)
        )
    rows = np.repeat(np.array(special_values)[:, None], n_features, axis=1)
    X = np.vstack([rows, random, np.full((1, n_features), np.nan)])
    X[-2, 0] = np.nan
    return X.astype(dtype)


def _unstandardized(estimator, X):
    """scipy's Yeo-Johnson or Box-Cox of each column of ``X`` with the fitted
    ``lambdas_`` (scikit-learn's transform before standardizing)."""
    X = np.asarray(X, dtype=np.float64)
    columns = []
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for column, lmbda in zip(X.T, estimator.lambdas_, strict=True):
            if estimator.method == "box-cox":
                columns.append(special.boxcox(column, lmbda))
            else:
                columns.append(stats.yeojohnson(column, lmbda))
    return np.column_stack(columns)


def _without_overflow(estimator, X):
    """The rows of ``X`` that ``transform`` accepts: with ``standardize``, the
    scaler rejects the infinities of ``x ** l`` beyond the float64 range (the
    graph gives +/-inf there)."""
    if not estimator.standardize:
        return X
    return X[~np.isinf(_unstandardized(estimator, X.astype(np.float64))).any(axis=1)]


def power_transform_atol(estimator, X, expected):
    """Bound on ``|graph - transform|`` per value of ``X`` for a fitted power
    transformer (float64): ``(6 kappa + 7) eps |y|`` for the unstandardized
    ``y``, divided by the scale, plus ``2 eps |expected|`` (module docstring);
    for sknorm's, whose map the graph follows, :func:`_fitted_map_atol`."""
    if hasattr(estimator, "_power_map"):
        return _fitted_map_atol(estimator, X, expected)
    X = np.asarray(X, dtype=np.float64)
    lambdas = np.asarray(estimator.lambdas_, dtype=np.float64)
    with np.errstate(all="ignore"):
        if estimator.method == "box-cox":
            w = lambdas * np.log(X)
        else:
            w = np.where(X >= 0, lambdas, 2 - lambdas) * np.log1p(np.abs(X))
        kappa = 1 + np.maximum(w, 0)
        rtol = kappa * (LOG1P_RTOL + LIBM_RTOL + EPS) + EXPM1_RTOL + LIBM_RTOL + EPS
        y = _unstandardized(estimator, X)
        atol = rtol * np.abs(y)
        if estimator.standardize:
            scaler = estimator._scaler
            if scaler.with_std:
                atol = atol / scaler.scale_
            atol = atol + 2 * EPS * np.abs(expected)
    return atol


def _fitted_map_atol(estimator, X, expected):
    """Bound on ``|graph - transform|`` for sknorm's power transformer, whose
    map ``z = gain * expm1(v) + offset``, ``v = rate * (L - center)``, the
    graph runs operation for operation (``_fitted_power_map_graph``): ``L``
    differs by ``(LOG1P_RTOL + LIBM_RTOL) |L|``, ``d = L - center`` by that
    plus ``eps |d|`` (a rounding on each side), ``v`` by ``|rate|`` times
    that plus ``eps |v|``, ``expm1(v)`` by ``e**v`` times that plus
    ``(EXPM1_RTOL + LIBM_RTOL) |expm1(v)|``, ``z`` by ``|gain|`` times that
    plus ``eps (|gain expm1(v)| + |z|)``."""
    power_map = estimator._power_map()
    X = np.asarray(X, dtype=np.float64)
    with np.errstate(all="ignore"):
        if power_map.box_cox:
            side = np.zeros(X.shape, dtype=bool)
            logs = np.log(X)
        else:
            side = X < 0
            logs = np.log1p(np.abs(X))

        def operand(name):
            values = np.asarray(getattr(power_map, name))
            return np.where(side, values[1], values[0])

        d = logs - operand("center")
        d_error = (LOG1P_RTOL + LIBM_RTOL) * np.abs(logs) + EPS * np.abs(d)
        rate, gain = operand("rate"), operand("gain")
        v = d * rate
        u = np.expm1(v)
        # |gain| e**v without overflow where e**v alone would.
        scaled = np.exp(np.log(np.abs(gain)) + v)
        u_error = scaled * (np.abs(rate) * d_error + EPS * np.abs(v))
        u_error += np.abs(gain) * (EXPM1_RTOL + LIBM_RTOL) * np.abs(u)
        limit = operand("log_limit").astype(bool)
        u_error = np.where(limit, np.abs(gain) * d_error, u_error)
        u = np.where(limit, d, u)
        return u_error + EPS * (np.abs(gain * u) + np.abs(expected))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
@pytest.mark.parametrize("source", POWER_SOURCES, ids=_source_id)
def test_power_transform_matches(source, method, standardize, dtype):
    if OLD_SKLEARN_POWER and _source_id(source) == "sklearn":
        pytest.skip(OLD_SKLEARN_POWER)
    X_fit = _power_training_data(method)
    estimator = source(method=method, standardize=standardize).fit(X_fit)
    X = _without_overflow(estimator, _power_test_data(method, X_fit.shape[1], dtype))
    expected = _reference(estimator, X)
    atol = power_transform_atol(estimator, X, expected)
    _assert_within(_run(estimator, X), expected, atol)


#: Lambdas at and next to the branch points of the maps: 0 and 2 (and within
#: eps of them: the logarithm branches), negative, far from 1.
SPECIAL_LAMBDAS = {
    "yeo-johnson": [
        *[0.0, 2.0, -1.5, 3.5, 1e-15, 1e-17, -EPS / 4, 1.5 * EPS],
        *[np.nextafter(2.0, 3.0), np.nextafter(2.0, 1.0)],  # 2 + 2 eps, 2 - eps
    ],
    "box-cox": [0.0, -1.5, 1e-20, 30.0, 0.5, 3.0, -1e-15, 2.0],
}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("method", ["yeo-johnson", "box-cox"])
def test_power_transform_special_lambdas(method, standardize, dtype):
    """``lambdas_`` set to the branch points; the builders and scikit-learn's
    ``transform`` both read them (the scaler is refitted to them)."""
    if OLD_SKLEARN_POWER:
        pytest.skip(OLD_SKLEARN_POWER)
    lambdas = np.array(SPECIAL_LAMBDAS[method])
    rng = np.random.default_rng(4)
    if method == "box-cox":
        X_fit = rng.lognormal(size=(100, len(lambdas)))
    else:
        X_fit = rng.normal(scale=2.0, size=(100, len(lambdas)))
    estimator = SklearnPowerTransformer(method=method, standardize=standardize)
    estimator.fit(X_fit)
    estimator.lambdas_ = lambdas
    if standardize:
        estimator._scaler = clone(estimator._scaler).fit(
            _unstandardized(estimator, X_fit)
        )
    test_data = _power_test_data(method, len(lambdas), dtype)
    X = _without_overflow(estimator, np.vstack([X_fit.astype(dtype), test_data]))
    expected = _reference(estimator, X)
    atol = power_transform_atol(estimator, X, expected)
    _assert_within(_run(estimator, X), expected, atol)


def test_box_cox_where_the_power_overflows():
    """scipy's third branch, ``sign(l) * exp(l * log(x) - log|l|) - 1 / l``
    where ``l * log(x) >= 709.78``: finite where ``x ** l`` overflows (here
    ``x`` in [2.0, 2.045] at ``l = 1000``, up to ``2.045 ** 1000 / 1000``
    about 5e307), infinite beyond."""
    if OLD_SKLEARN_POWER:
        pytest.skip(OLD_SKLEARN_POWER)
    rng = np.random.default_rng(6)
    X_fit = rng.lognormal(size=(50, 2))
    estimator = SklearnPowerTransformer(method="box-cox", standardize=False)
    estimator.fit(X_fit)
    estimator.lambdas_ = np.array([1000.0, -1000.0])
    x = np.concatenate([np.linspace(2.0, 2.045, 300), [2.1, 2.5]])
    X = np.column_stack([x, 1 / x])
    expected = _reference(estimator, X)
    assert (np.log(x[:300]) * 1000 >= 709.78).sum() > 50
    assert np.isfinite(expected[:300]).all() and np.isinf(expected[300:]).all()
    atol = power_transform_atol(estimator, X, expected)
    _assert_within(_run(estimator, X), expected, atol)


@pytest.mark.parametrize(
    ("method", "lambdas", "limits"),
    [
        (
            "yeo-johnson",
            [0.5, 0.0, 2.0, 3.0, -1.0],
            [
                [np.inf, np.inf, np.inf, np.inf, 1.0],
                [-np.inf, -np.inf, -np.inf, -1.0, -np.inf],
            ],
        ),
        ("box-cox", [0.5, 0.0, -2.0], [[np.inf, np.inf, 0.5]]),
    ],
)
def test_power_transform_of_infinity_is_the_limit(method, lambdas, limits):
    # transform rejects infinity; the graph gives the map's limit:
    # ((1 + x) ** l - 1) / l tends to -1 / l for l < 0, -((1 - x) ** (2 - l)
    # - 1) / (2 - l) to 1 / (2 - l) for l > 2, the others to +/-inf.
    X_fit = np.random.default_rng(7).lognormal(size=(50, len(lambdas)))
    estimator = SklearnPowerTransformer(method=method, standardize=False).fit(X_fit)
    estimator.lambdas_ = np.array(lambdas)
    X = np.array([[np.inf], [-np.inf]][: len(limits)]).repeat(len(lambdas), axis=1)
    np.testing.assert_array_equal(_run(estimator, X), limits)


def test_box_cox_of_non_positive_values_is_nan():
    # transform rejects x <= 0; a graph cannot raise, so it gives NaN.
    X_fit = np.random.default_rng(5).lognormal(size=(50, 2))
    estimator = SklearnPowerTransformer(method="box-cox").fit(X_fit)
    X = np.array([[0.0, 1.0], [-2.0, 3.0], [-0.0, -3.0]])
    with pytest.raises(ValueError, match="strictly positive"):
        estimator.transform(X)
    got = _run(estimator, X)
    assert np.isnan(got[:, 0]).all() and np.isnan(got[2, 1])
    positive = X[:2].copy()
    positive[:, 0] = 1.0
    np.testing.assert_allclose(got[:2, 1], estimator.transform(positive)[:, 1])


# ---------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("QuantileTransformer", sknorm.onnx._quantile_graph),
        ("PowerTransformer", sknorm.onnx._power_graph),
    ],
)
def test_transformer_classes_get_their_family_before_the_affine_one(
    monkeypatch, name, build
):
    """``sknorm.scalers.<name>``, a column scaler, is served by its own
    builder, not the affine one of ``_ColumnScaler`` (checked with a stand-in
    class where this sknorm has none)."""
    cls = getattr(sknorm.scalers, name, None)
    if cls is None:
        cls = type(name, (sknorm.scalers._base._ColumnScaler,), {})
        monkeypatch.setattr(sknorm.scalers, name, cls, raising=False)
    assert sknorm.onnx._family(cls) is build
    assert (
        sknorm.onnx._family(sknorm.StandardScaler) is sknorm.onnx._column_scaler_graph
    )


@pytest.mark.parametrize(
    "estimator",
    [
        SklearnQuantileTransformer(n_quantiles=50, output_distribution="normal"),
        SklearnPowerTransformer(),
        SklearnPowerTransformer(method="box-cox"),
    ],
    ids=["quantile", "yeo-johnson", "box-cox"],
)
def test_graphs_run_at_the_minimum_opset(estimator):
    # Integer Max, Min and Where, LessOrEqual and GreaterOrEqual: opset 12+.
    X = np.random.default_rng(8).lognormal(size=(100, 3))
    estimator.fit(X)
    model = sknorm.onnx.to_onnx(estimator, X[:1], target_opset=sknorm.onnx.MIN_OPSET)
    assert model.opset_import[0].version == sknorm.onnx.MIN_OPSET
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {"X": X})
    expected = estimator.transform(X)
    if isinstance(estimator, SklearnQuantileTransformer):
        atol = normal_output_atol(expected, _uniform_difference(estimator, X))
    else:
        atol = power_transform_atol(estimator, X, expected)
    _assert_within(got, expected, atol)
