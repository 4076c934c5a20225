"""The likelihood of the Yeo-Johnson and Box-Cox power transforms.

:class:`PowerLikelihood` summarises a batch of data so that the maximum
likelihood power transform of each column (its ``lambda``, and the mean and
standard deviation of the transformed values) can be found from it, exactly
from the data of one batch, approximately (within a stated bound) from
summaries merged over chunks, ``partial_fit`` calls or the partitions of a
cluster.

The profile log-likelihood of ``lambda`` for transformed values ``y`` is
scipy's (:func:`scipy.stats.yeojohnson_llf`, :func:`scipy.stats.boxcox_llf`),
with weights as frequency weights::

    llf(lambda) = -W / 2 * log var_w(y) + (lambda - 1) * sum_i w_i * J(x_i)

``W`` the total weight, ``J(x) = sign(x) * log1p(|x|)`` (Yeo-Johnson) or
``log x`` (Box-Cox). The maximum depends on the relative weights only.
"""

from collections import namedtuple

import numpy as np
from scipy.interpolate import CubicSpline
from scipy.special import lambertw

from .._validation import is_sparse
from ._base import (
    Statistic,
    equal_weights_as_rows,
    implicit_zero_weight,
    normalized_weights,
    sparse_entries,
)
from ._power_exact import (
    RowWeights,
    _final,
    _pass,
    column_exponents,
    exact_fit,
    newton_fit,
    source_evaluator,
)
from ._power_kernels import (
    GRID,
    ZERO,
    dense_summary,
    lanes_of,
    merge_summaries,
    sparse_summary,
)
from .extrema import Extrema
from .moments import Moments

__all__ = ["PowerLikelihood", "lambda_bounds"]

#: Values (rows times columns) a statistic keeps as they are, so that small
#: data is fitted exactly however it is split; at most this many rows.
BUFFER_VALUES = 1 << 14
BUFFER_ROWS = 1024
#: Rows whose summary an exact fit computes to bracket its Newton iterations
#: (and keeps, so that ``partial_fit`` can continue after ``fit``).
FIT_SAMPLE = 8192
#: Newton iterations stop once a step is this small: the error left is about
#: the square of the step.
_NEWTON_TOLERANCE = 1e-6
_MAX_STEP = 1.0
_MAX_ITERATIONS = 60
_EPS = np.finfo(np.float64).eps
#: Precision of the interpolated maximum that starts the exact iterations
#: (a sample's maximum differs from all rows' by far more).
_START_TOLERANCE = 1e-8
#: The largest lambda (in magnitude) any fit returns.
_LAMBDA_LIMIT = 1e300


def _method_flag(method):
    if method not in ("yeo-johnson", "box-cox"):
        raise ValueError(f"method must be 'yeo-johnson' or 'box-cox', got {method!r}.")
    return method == "box-cox"


def buffer_rows(n_features):
    """Rows a statistic of ``n_features`` columns keeps as they are."""
    return min(BUFFER_ROWS, BUFFER_VALUES // max(1, n_features))


# ---------------------------------------------------------------------------
# Where lambda may lie: scipy's overflow bounds
# ---------------------------------------------------------------------------


def _box_cox_inverse_lambda(x, y):
    """The lambda with ``boxcox(x, lambda) = y`` (scipy's ``_boxcox_inv_lmbda``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_x = np.log(x)
        branch = lambertw(-(x ** (-1 / y)) * log_x / y, k=-1)
        return np.real(-branch / log_x - 1 / y)


def lambda_bounds(minimum, maximum, box_cox):
    """``(low, high)``: where each column's lambda may lie.

    Those of scipy, which scikit-learn's fit inherits. Yeo-Johnson
    (:func:`scipy.stats.yeojohnson_normmax`): the bounds within which values
    up to 20 times the largest ``|x|`` transform without over- or underflow
    (half of float64's exponent range). Box-Cox
    (:func:`scipy.stats.boxcox_normmax`): the lambdas that keep
    ``|boxcox(x, lambda)|`` of the extreme values within ``float64 max /
    1e4``. The likelihood's maximum is taken within them. For Yeo-Johnson
    data of both signs beyond about ``5e144`` in magnitude they are empty
    (no lambda keeps both sides within float64): the fits then take lambda
    1, the identity. Bounds beyond ``+/-1e300`` (data below about 1e-298)
    are clipped there.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats.power import lambda_bounds
    >>> low, high = lambda_bounds(np.array([0.0]), np.array([1e300]), False)
    >>> float(low[0]), float(high[0])
    (-0.4845..., 0.4855...)
    """
    minimum = np.asarray(minimum, np.float64)
    maximum = np.asarray(maximum, np.float64)
    info = np.finfo(np.float64)
    if box_cox:
        ymax = info.max / 10000
        with np.errstate(invalid="ignore"):
            high = np.full(len(maximum), np.inf)
            above = maximum > 1
            high[above] = _box_cox_inverse_lambda(maximum[above], ymax)
            low = np.full(len(minimum), -np.inf)
            below = minimum < 1
            low[below] = _box_cox_inverse_lambda(minimum[below], -ymax)
        return low, high
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        largest = np.maximum(np.abs(minimum), np.abs(maximum))
        log1p_max = np.log1p(20 * largest)
        log_eps = np.log(info.eps)
        low = (np.log(info.tiny) - log_eps) / 2 / log1p_max
        high = (np.log(info.max) + log_eps) / 2 / log1p_max
        all_negative = maximum < 0
        any_negative = minimum < 0
        low, high = (
            np.where(
                all_negative,
                2 - high,
                np.where(any_negative, np.maximum(2 - high, low), low),
            ),
            np.where(
                all_negative,
                2 - low,
                np.where(any_negative, np.minimum(2 - low, high), high),
            ),
        )
    # Data below 1e-298 in magnitude would have bounds beyond float64: its
    # lambda stays within +/-1e300.
    low = np.clip(np.nan_to_num(low, nan=-_LAMBDA_LIMIT), -_LAMBDA_LIMIT, _LAMBDA_LIMIT)
    high = np.clip(
        np.nan_to_num(high, nan=_LAMBDA_LIMIT), -_LAMBDA_LIMIT, _LAMBDA_LIMIT
    )
    no_data = np.isnan(minimum)
    return np.where(no_data, -np.inf, low), np.where(no_data, np.inf, high)


def _is_constant(mean, variance, n_rows):
    """scikit-learn's rule (``_is_constant_feature``): a variance within the
    rounding error bound of the two-pass algorithm on ``n_rows`` values.
    ``mean`` and ``variance`` may be given in units of any power of two
    (the rule is homogeneous), so that neither underflows."""
    with np.errstate(over="ignore", invalid="ignore"):
        bound = n_rows * _EPS * variance + (n_rows * mean * _EPS) ** 2
        return variance <= bound


# ---------------------------------------------------------------------------
# Lanes to sides: per column, the positive (or Box-Cox) side and the negative
# ---------------------------------------------------------------------------


def _to_sides(lanes, summary, n_features):
    """Lane summaries as ``(2, ...)`` arrays: side 0 positive, 1 negative."""
    n, mean, cgf, variance = summary
    K = len(GRID)
    sides = (
        np.zeros((2, n_features)),
        np.full((2, n_features), np.nan),
        np.full((2, K, n_features), np.nan),
        np.full((2, K, n_features), np.nan),
    )
    side = lanes.side()
    sides[0][side, lanes.columns] = n
    sides[1][side, lanes.columns] = mean
    sides[2][side, :, lanes.columns] = cgf.T
    sides[3][side, :, lanes.columns] = variance.T
    return sides


def _summary_of(X, weight, box_cox, minimum, maximum):
    """The side summaries of X (dense or sparse), weights normalized."""
    n_features = X.shape[1]
    lanes = lanes_of(minimum, maximum, box_cox)
    if is_sparse(X):
        values, columns, entry_weight, _ = sparse_entries(X, weight)
        logs, lane = lanes.sparse_logarithms(values, columns)
        summary = sparse_summary(logs, lane, entry_weight, lanes.n_lanes)
        sides = _to_sides(lanes, summary, n_features)
        zeros = implicit_zero_weight(X, weight)
        if zeros.any():
            point = _zero_point(zeros)
            sides = merge_summaries(sides, point)
        return sides
    return _to_sides(lanes, dense_summary(X, weight, lanes), n_features)


def _zero_point(zero_weight):
    """The side summary of ``zero_weight`` zeros per column (``L = 0``)."""
    n_features = len(zero_weight)
    K = len(GRID)
    n = np.zeros((2, n_features))
    n[0] = zero_weight
    mean = np.full((2, n_features), np.nan)
    mean[0] = 0.0
    cgf = np.full((2, K, n_features), np.nan)
    cgf[0] = 0.0
    variance = np.full((2, K, n_features), np.nan)
    variance[0] = -np.inf
    return n, mean, cgf, variance


# ---------------------------------------------------------------------------
# The interpolated likelihood of a summary
# ---------------------------------------------------------------------------


class _Interpolant:
    """Cubic splines through a summary's grid values, per column side.

    Per side ``s`` at exponent ``theta``: ``q_s(theta) = K_s(theta) /
    theta`` (``K`` the cumulant generating function of ``L``; ``q(0)`` the
    mean of ``L``) gives the mean ``expm1(theta q) / theta`` of ``T``, and
    ``l_s(theta)`` its log variance. Both are analytic in ``theta``.
    """

    def __init__(self, side_weight, mean_log, cgf, log_variance, box_cox):
        self.box_cox = box_cox
        weight = np.asarray(side_weight, np.float64)
        total = weight.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.share = np.where(total > 0, weight / np.where(total > 0, total, 1), 0)
        self.present = weight > 0
        theta = GRID[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            q = cgf / theta
        q[:, ZERO] = mean_log
        self.mean_log = mean_log
        # A side of a single value has variance 0 at every exponent.
        self.degenerate = ~np.all(np.isfinite(log_variance), axis=1) & self.present
        usable = self.present & ~self.degenerate
        q = np.where(self.present[:, None, :], q, 0.0)
        q = np.where(np.isfinite(q), q, 0.0)
        variance = np.where(usable[:, None, :], log_variance, 0.0)
        n_features = weight.shape[1]
        stacked = np.concatenate(
            [q[0], q[1], variance[0], variance[1]], axis=1
        )  # (K, 4 p)
        spline = CubicSpline(GRID, stacked, axis=0)
        self._coefficients = spline.c  # (4, K - 1, 4 p)
        self.n_features = n_features

    def _evaluate(self, theta, block, derivative=False):
        """Spline ``block`` (0: q+, 1: q-, 2: l+, 3: l-), or its derivative,
        at per-column ``theta`` of shape (..., n_features)."""
        p = self.n_features
        index = np.clip(
            np.searchsorted(GRID, theta, side="right") - 1, 0, len(GRID) - 2
        )
        t = theta - GRID[index]
        columns = block * p + np.arange(p)
        c = self._coefficients[:, index, np.broadcast_to(columns, index.shape)]
        if derivative:
            return (3 * c[0] * t + 2 * c[1]) * t + c[2]
        return ((c[0] * t + c[1]) * t + c[2]) * t + c[3]

    def _log_mean_slope(self, theta, side):
        """``d log M / d theta`` of a side's mean ``M = expm1(K) / theta``,
        ``K = theta q(theta)``: ``-K' / expm1(-K) - 1 / theta``, by its
        series where ``K`` is small (the two terms cancel there)."""
        q = self._evaluate(theta, side)
        dq = self._evaluate(theta, side, derivative=True)
        K = theta * q
        dK = q + theta * dq
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # e**K / expm1(K) - 1 / K, for |K| < 0.1 (error below 1e-17).
            tail = 0.5 + K * (1 / 12 + K * K * (-1 / 720 + K * K * (1 / 30240)))
            tail = tail - K**7 / 1209600
            series = dq / q + dK * tail
            direct = -dK / np.expm1(-K) - 1.0 / theta
        return np.where(np.abs(K) < 0.1, series, direct)

    def slope(self, lam):
        """The derivative in lambda of :meth:`log_likelihood` (from the
        splines' derivatives)."""
        jacobian = self.jacobian()
        dl0 = self._evaluate(lam, 2, derivative=True)
        if self.box_cox:
            return -0.5 * dl0 + jacobian
        dl1 = -self._evaluate(2.0 - lam, 3, derivative=True)
        (lm0, _, lv0), (lm1, _, lv1) = self.side_moments(lam)
        log_var = self.moments(lam)[0]
        p0, p1 = self.share
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_p0, log_p1 = np.log(p0), np.log(p1)
            w0 = np.where(p0 > 0, np.exp(log_p0 + lv0 - log_var), 0.0)
            w1 = np.where(p1 > 0, np.exp(log_p1 + lv1 - log_var), 0.0)
            log_gap = np.logaddexp(lm0, lm1)  # |m+ - m-| = |m+| + |m-|
            both = (p0 > 0) & (p1 > 0)
            wb = np.where(both, np.exp(log_p0 + log_p1 + 2 * log_gap - log_var), 0.0)
            g0 = self._log_mean_slope(lam, 0)
            g1 = self._log_mean_slope(2.0 - lam, 1)
            # d(m+ - m-)/d lambda over (m+ - m-): M+' - M-' (M- at 2 - lambda).
            gap_slope = np.where(
                np.isfinite(lm0), np.exp(lm0 - log_gap) * g0, 0.0
            ) - np.where(np.isfinite(lm1), np.exp(lm1 - log_gap) * g1, 0.0)
            ratio = (
                np.where(w0 > 0, w0 * dl0, 0.0)
                + np.where(w1 > 0, w1 * dl1, 0.0)
                + np.where(wb > 0, 2 * wb * gap_slope, 0.0)
            )
        return -0.5 * ratio + jacobian

    def side_moments(self, lam):
        """Per side, ``(log|mean| of T, sign of the mean, log variance)`` at
        lambda (the negative side at ``2 - lambda``, its mean negated)."""
        out = []
        for side, theta in ((0, lam), (1, 2.0 - lam)):
            q = self._evaluate(theta, side)
            log_var = self._evaluate(theta, 2 + side)
            log_var = np.where(self.degenerate[side], -np.inf, log_var)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                K = theta * q
                small = np.abs(theta) < 1e-300
                big = K > 30
                log_mean = np.where(
                    big,
                    K + np.log1p(-np.exp(-np.where(big, K, 30.0))),
                    np.log(np.abs(np.expm1(np.where(big, 0.0, K)))),
                ) - np.log(np.abs(theta))
                log_mean = np.where(small, np.log(np.abs(q)), log_mean)
                sign = np.sign(
                    np.where(small, q, np.expm1(np.minimum(K, 30.0)) / theta)
                )
            if side == 1:
                sign = -sign
            out.append((log_mean, sign, log_var))
        return out

    def moments(self, lam):
        """``(log variance, log|mean|, sign of mean)`` of the transformed
        column at lambda (per-column array), the sides combined."""
        (lm0, s0, lv0), (lm1, s1, lv1) = self.side_moments(lam)
        if self.box_cox:
            return lv0, lm0, s0
        p0, p1 = self.share
        with np.errstate(divide="ignore"):
            log_p0, log_p1 = np.log(p0), np.log(p1)
        both = (p0 > 0) & (p1 > 0)
        # Means of opposite signs: |m+ - m-| = |m+| + |m-|.
        between = np.where(
            both,
            log_p0 + log_p1 + 2 * np.logaddexp(lm0, lm1),
            -np.inf,
        )
        terms = [
            np.where(p0 > 0, log_p0 + lv0, -np.inf),
            np.where(p1 > 0, log_p1 + lv1, -np.inf),
            between,
        ]
        stacked = np.stack(np.broadcast_arrays(*terms))
        top = np.max(stacked, axis=0)
        safe = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(divide="ignore", under="ignore"):
            log_var = safe + np.log(np.sum(np.exp(stacked - safe), axis=0))
        # The mean: p+ m+ + p- m- (m- <= 0), by magnitudes.
        a = np.where(p0 > 0, log_p0 + lm0, -np.inf)
        b = np.where(p1 > 0, log_p1 + lm1, -np.inf)
        top = np.maximum(a, b)
        with np.errstate(
            invalid="ignore", over="ignore", under="ignore", divide="ignore"
        ):
            ratio = np.exp(-np.abs(a - b))
            magnitude = np.where(
                np.isfinite(top), top + np.log(np.abs(1 - ratio)), -np.inf
            )
            positive_larger = a >= b
            sign = np.where(positive_larger, s0, s1)
            magnitude = np.where(
                np.isinf(a) & ~np.isinf(b), b, np.where(np.isinf(b), a, magnitude)
            )
        return log_var, magnitude, sign

    def relative_means(self, lam, center, unit):
        """Per side, the mean of ``T(L) - T(c)`` at lambda, in units of
        ``2**unit``: ``exp(theta c) * expm1(K - theta c) / theta`` (``K`` the
        interpolated cumulant generating function), without cancellation."""
        out = np.full((2, self.n_features), np.nan)
        ln2 = np.log(2.0)
        for side, theta in ((0, lam), (1, 2.0 - lam)):
            q = self._evaluate(theta, side)
            c = center[side]
            with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
                gap = theta * (q - c)  # K - theta c
                small = np.abs(theta) < 1e-300
                log_size = (
                    theta * c + np.log(np.abs(np.expm1(gap))) - np.log(np.abs(theta))
                )
                sign = np.sign(np.expm1(gap)) * np.sign(theta)
                value = sign * np.exp(log_size - unit * ln2)
                value = np.where(small, np.ldexp(q - c, -unit.astype(np.int64)), value)
                value = np.where(gap == 0, 0.0, value)
            out[side] = np.where(self.present[side], value, np.nan)
        return out

    def jacobian(self):
        """The weighted mean of ``J(x)`` per column."""
        p0, p1 = self.share
        m0 = np.where(p0 > 0, self.mean_log[0], 0.0)
        m1 = np.where(p1 > 0, self.mean_log[1], 0.0)
        return p0 * m0 - p1 * m1

    def log_likelihood(self, lam):
        """Per unit weight: ``-log var / 2 + (lambda - 1) J``."""
        log_var = self.moments(lam)[0]
        return -0.5 * log_var + (lam - 1.0) * self.jacobian()

    def maximum(self, low, high, tolerance=1e-15):
        """The interpolant's maximum per column within ``[low, high]`` and
        the grid's range: the best grid point, then a search between its
        neighbours (:func:`_root` on the slope, to ``tolerance``). Also
        whether the grid's end bound it."""
        lo = np.maximum(low, GRID[0])
        hi = np.minimum(high, GRID[-1])
        empty = ~(lo <= hi)
        lo = np.where(empty, 1.0, lo)
        hi = np.where(empty, 1.0, hi)
        candidates = np.clip(GRID[:, None], lo, hi)  # (K, p)
        values = self.log_likelihood(candidates)
        values = np.where(np.isfinite(values), values, -np.inf)
        best = np.argmax(values, axis=0)
        a = np.maximum(lo, GRID[np.maximum(best - 1, 0)])
        b = np.minimum(hi, GRID[np.minimum(best + 1, len(GRID) - 1)])
        lam = _root(self.slope, a, b, tolerance)
        clamped = (
            ((lam <= GRID[0] + 1e-9) & (low < GRID[0]))
            | ((lam >= GRID[-1] - 1e-9) & (high > GRID[-1]))
        ) & ~empty
        return lam, clamped


def _root(function, a, b, tolerance=1e-15):
    """Where the decreasing ``function`` (a slope) crosses 0 in ``[a, b]``,
    per column (``a`` where it is negative there, ``b`` where positive):
    regula falsi with the Illinois modification, bisection when a step
    leaves the bracket; to ``tolerance`` relative."""
    fa, fb = function(a), function(b)
    result = np.where(~(fa > 0), a, np.where(~(fb < 0), b, np.nan))
    active = np.isnan(result)
    a, b, fa, fb = (np.where(active, v, 0.0) for v in (a, b, fa, fb))
    kept = np.zeros(len(a))  # which end the last step kept: -1 a, +1 b
    c = (a + b) / 2
    previous = np.full(len(a), np.inf)
    for _ in range(100):
        if not active.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            c = b - fb * (b - a) / (fb - fa)
        c = np.where((c > a) & (c < b), c, a / 2 + b / 2)
        fc = function(c)
        right = fc < 0  # the root is left of c: c becomes b
        b_new = np.where(right, c, b)
        a_new = np.where(right, a, c)
        fb_new = np.where(right, fc, np.where(kept == 1, fb / 2, fb))
        fa_new = np.where(right, np.where(kept == -1, fa / 2, fa), fc)
        kept = np.where(right, -1.0, 1.0)
        a, b, fa, fb = (
            np.where(active, new, old)
            for new, old in ((a_new, a), (b_new, b), (fa_new, fa), (fb_new, fb))
        )
        scale = tolerance * np.maximum(1.0, np.abs(c))
        done = (b - a <= scale) | (np.abs(c - previous) <= scale) | (fc == 0)
        previous = c
        result = np.where(active & done, c, result)
        active &= ~done
    return np.where(np.isnan(result), (a + b) / 2, result)


def _scaled_moments(weight_sum, log_var, log_mean, sign):
    """:class:`Moments` from log magnitudes: plain float64 where they lie
    within ``2**-900 .. 2**900``, scaled by a power of two elsewhere."""
    ln2 = np.log(2.0)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        magnitude = np.fmax(log_mean, log_var / 2)
        plain = np.isfinite(magnitude) & (np.abs(magnitude) < 900 * ln2)
        plain |= ~np.isfinite(magnitude)
        exponent = np.where(plain, 0, np.floor(np.where(plain, 0, magnitude) / ln2) + 1)
        mean = sign * np.exp(log_mean - exponent * ln2)
        variance = np.exp(log_var - 2 * exponent * ln2)
    mean = np.where(
        np.isfinite(log_mean) | (sign == 0), np.where(sign == 0, 0.0, mean), 0.0
    )
    variance = np.where(np.isnan(variance), 0.0, variance)
    empty = ~(weight_sum > 0)
    return Moments(
        weight_sum=weight_sum,
        scaled_mean=np.where(empty, np.nan, mean),
        scaled_variance=np.where(empty, 0.0, variance),
        exponent=exponent.astype(np.float64),
    )


# ---------------------------------------------------------------------------
# The statistic
# ---------------------------------------------------------------------------


def _centers(sides_mean, lanes_min, lanes_max, box_cox):
    """Per column side, the centre of its logarithms: the summary's mean of
    ``L`` where it has one, else the middle of the side's range."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if box_cox:
            low = np.log(lanes_min)
            high = np.log(lanes_max)
            middle = np.stack([(low + high) / 2, np.zeros_like(low)])
        else:
            positive = np.log1p(np.maximum(lanes_max, 0.0)) / 2
            negative = np.log1p(np.maximum(-lanes_min, 0.0)) / 2
            middle = np.stack([positive, negative])
    return np.where(np.isfinite(sides_mean), sides_mean, np.nan_to_num(middle))


def _constant_columns(moments, n_rows):
    """scikit-learn's constant rule on :class:`Moments` (in their scaled
    units), and columns without data."""
    constant = _is_constant(moments.scaled_mean, moments.scaled_variance, n_rows)
    return constant | ~np.isfinite(moments.scaled_mean)


MaximumLikelihood = namedtuple(
    "MaximumLikelihood",
    ["lambdas", "moments", "center", "share", "relative", "clamped"],
)
MaximumLikelihood.__doc__ = """The maximum likelihood transform of each column
(see :meth:`PowerLikelihood.maximum_likelihood`)."""


class PowerLikelihood(Statistic):
    """The power transform likelihood of each column, mergeable.

    Answers, per column, the maximum likelihood ``lambda`` of the
    Yeo-Johnson or Box-Cox transform and the mean and variance of the
    transformed values there (:meth:`maximum_likelihood`), and the profile
    log-likelihood at any ``lambda`` (:meth:`log_likelihood`, scipy's
    ``yeojohnson_llf`` / ``boxcox_llf`` with weights as frequency weights).
    NaN values are ignored; weights count relative to each other only.

    **Three states.** (1) A statistic of at most ``min(1024, 16384 //
    n_features)`` rows keeps them (and their weights): its answers are those
    of the exact maximum likelihood, however the rows were split into
    batches. (2) Beyond, it keeps a summary: per column and side of 0 (the
    values ``>= 0`` and ``< 0`` of Yeo-Johnson; all of Box-Cox's), the
    weight, the mean of ``L`` (``log1p|x|``, or ``log x``) and, at each of 97
    exponents from -4 to 6 (by 0.0625 between -1 and 3, 0.125 on to -2 and
    4, 0.25 beyond), the
    cumulant generating function ``log mean exp(theta L)`` and the log
    variance of ``(exp(theta L) - 1) / theta``, both analytic in ``theta``.
    Summaries merge exactly (Chan's update, in log space: no overflow at any
    magnitude). The likelihood is interpolated between grid points by cubic
    splines and maximized where the splines' slope vanishes. (3)
    ``from_data(..., exact=True)`` (an estimator's ``fit``) adds the exact
    maximum over all its rows (safeguarded Newton iterations, see
    :func:`~sknorm.stats._power_exact.exact_fit`), which a merge drops; its
    summary is then that of a uniform sample of 8,192 rows (all of them
    when fewer), weighted to stand for all.

    **Accuracy of a summary** against the exact maximum likelihood of the
    same data: ``|dlambda| <= 2e-4`` and standardized values within ``2e-3``
    (absolute), for maxima inside the grid and data whose ``E[x**(2
    lambda)]`` is finite; ten times the largest errors measured on 2e4
    values, 5% NaN, unweighted and weighted, fed in 7 chunks: lognormal
    (sigma 1 and 2), normal, uniform, exponential, chi2(3), beta, gamma
    (shapes 0.5 to 2.5, of both signs), Pareto, Student t(3): ``|dlambda|``
    at most ``3.2e-5`` and ``|dz|`` at most ``2.1e-4`` (both for Box-Cox on
    Gamma(0.5) data, whose ``log x`` has an exponential left tail; typically
    1e-6 and 1e-5). The tests check the stated bounds.
    **Outside the grid** the interpolated maximum is
    clamped to ``[-4, 6]`` (:meth:`maximum_likelihood` reports which columns
    were); the exact maximum is not bounded by the grid. Both are bounded by
    :func:`lambda_bounds`, scipy's bounds against overflow.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import PowerLikelihood
    >>> X = np.random.default_rng(0).lognormal(size=(5000, 1))
    >>> exact = PowerLikelihood.from_data(X, method="box-cox", exact=True)
    >>> merged = PowerLikelihood.from_data(X[:2500], method="box-cox").merge(
    ...     PowerLikelihood.from_data(X[2500:], method="box-cox"))
    >>> lam = exact.maximum_likelihood().lambdas
    >>> lam_merged = merged.maximum_likelihood().lambdas
    >>> lam.round(6), bool(abs(lam_merged - lam)[0] < 2e-3)
    (array([-0.006693]), True)
    """

    _fields = (
        "weight_sum",
        "minimum",
        "maximum",
        "side_weight",
        "mean_log",
        "cgf",
        "log_variance",
        "buffer",
        "exact_lambda",
        "exact_scaled_mean",
        "exact_scaled_variance",
        "exact_exponent",
        "exact_center",
        "exact_share",
        "exact_relative",
        "grid",
        "box_cox",
        "n_rows",
        "buffer_weight",
    )
    _shared_fields = ("grid", "box_cox", "n_rows", "buffer_weight")
    reveals_infinity = True

    # -- construction -------------------------------------------------------

    @classmethod
    def _assemble(cls, box_cox, n_features, **arrays):
        K = len(GRID)
        nan = np.full(n_features, np.nan)
        defaults = {
            "side_weight": np.zeros((2, n_features)),
            "mean_log": np.full((2, n_features), np.nan),
            "cgf": np.zeros((2, 0, n_features)),
            "log_variance": np.zeros((2, 0, n_features)),
            "buffer": np.zeros((0, n_features)),
            "buffer_weight": np.zeros(0),
            "exact_lambda": nan,
            "exact_scaled_mean": nan,
            "exact_scaled_variance": nan,
            "exact_exponent": nan,
            "exact_center": np.full((2, n_features), np.nan),
            "exact_share": np.full((2, n_features), np.nan),
            "exact_relative": np.full((2, n_features), np.nan),
            "grid": GRID.copy(),
            "box_cox": np.asarray(bool(box_cox)),
            "n_rows": np.asarray(0.0),
        }
        defaults.update(arrays)
        del K
        return cls(**defaults)

    @classmethod
    def from_data(cls, X, sample_weight=None, *, method="yeo-johnson", exact=False):
        """Summarize X (dense or CSR/CSC; NaN ignored).

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        sample_weight : ndarray of shape (n_samples,), default=None
        method : {"yeo-johnson", "box-cox"}, default="yeo-johnson"
        exact : bool, default=False
            Also find the exact maximum likelihood of X (dropped by a merge).

        Returns
        -------
        PowerLikelihood
        """
        box_cox = _method_flag(method)
        if not is_sparse(X):
            X = np.asarray(X)
        n_features = X.shape[1]
        X, weight, unit = equal_weights_as_rows(X, sample_weight)
        if weight is not None and not np.all(weight > 0):
            keep = np.flatnonzero(weight > 0)
            X, weight = X[keep], weight[keep]
        extrema = Extrema.from_data(X, weight)
        minimum, maximum = extrema.minimum, extrema.maximum
        if box_cox:
            _check_positive(X, minimum)
        n_rows = float(X.shape[0])
        common = dict(minimum=minimum, maximum=maximum, n_rows=np.asarray(n_rows))
        if X.shape[0] <= buffer_rows(n_features):
            values = X.toarray() if is_sparse(X) else X
            values = np.array(values, dtype=np.float64)
            row_weight = np.ones(X.shape[0]) if weight is None else weight
            with np.errstate(invalid="ignore"):
                weight_sum = row_weight @ ~np.isnan(values) * unit
            return cls._assemble(
                box_cox,
                n_features,
                weight_sum=weight_sum,
                buffer=values,
                buffer_weight=row_weight * unit,
                **common,
            )
        sampled = exact and X.shape[0] > FIT_SAMPLE
        if sampled:
            rng = np.random.default_rng(0x5EED)
            rows = np.sort(rng.choice(X.shape[0], size=FIT_SAMPLE, replace=False))
            part = X[rows]
            part_weight = None if weight is None else weight[rows]
            total = X.shape[0] if weight is None else weight.sum()
            kept = FIT_SAMPLE if weight is None else part_weight.sum()
            sides = _summary_of(part, part_weight, box_cox, minimum, maximum)
            scale = total / kept
        else:
            sides = _summary_of(X, weight, box_cox, minimum, maximum)
            scale = 1.0
        side_weight, mean_log, cgf, log_variance = sides
        side_weight = side_weight * (scale * unit)
        arrays = dict(
            side_weight=side_weight,
            mean_log=mean_log,
            cgf=cgf,
            log_variance=log_variance,
            weight_sum=side_weight.sum(axis=0),
            **common,
        )
        if exact:
            moments = Moments.from_data(X, weight)
            arrays["weight_sum"] = moments.weight_sum * unit
            fixed = _constant_columns(moments, n_rows)
            interpolant = _Interpolant(*sides, box_cox)
            low, high = lambda_bounds(minimum, maximum, box_cox)
            start, _ = interpolant.maximum(low, high, _START_TOLERANCE)
            centers = _centers(mean_log, minimum, maximum, box_cox)
            lambdas, result, (share, relative) = exact_fit(
                X,
                weight,
                box_cox,
                minimum,
                maximum,
                start,
                centers,
                fixed,
                (low, high),
            )
            arrays.update(
                exact_lambda=lambdas,
                exact_scaled_mean=result.scaled_mean,
                exact_scaled_variance=result.scaled_variance,
                exact_exponent=result.exponent,
                exact_center=np.where(share > 0, centers, np.nan),
                exact_share=share,
                exact_relative=relative,
            )
        return cls._assemble(box_cox, n_features, **arrays)

    def with_exact_fit(self, read):
        """This statistic with the exact maximum likelihood of its data,
        read again in passes: what ``from_data(..., exact=True)`` finds on
        all the data in memory.

        The merged statistic of the data's blocks gives the start (its
        interpolated maximum) and the centres of the logarithms; a pass
        gives the data's :class:`Moments` (scikit-learn's constant rule)
        and the range of its weights; then the Newton iterations of
        :func:`~sknorm.stats._power_exact.newton_fit`, the in-memory fit's,
        each one pass (two where the raw sums lost precision, as in
        memory). A statistic that holds its rows answers exactly already:
        it is returned as it is.

        Parameters
        ----------
        read : callable
            ``read(function, *args)`` runs ``function(X, weight, *args)`` on
            every block of the data (validated rows as in the pass that
            built this statistic, their weights or None) and returns the
            merged fields of the results (statistics merged, arrays added,
            tuples of arrays concatenated in the order of the blocks).

        Returns
        -------
        PowerLikelihood
        """
        if self.buffered:
            return self
        box_cox = bool(self.box_cox)
        fields = read(_block_moments)
        moments = fields["moments"]
        smallest, largest = _weight_range(fields)
        fixed = _constant_columns(moments, float(self.n_rows))
        sides = self._sides()
        low, high = lambda_bounds(self.minimum, self.maximum, box_cox)
        start, _ = _Interpolant(*sides, box_cox).maximum(low, high, _START_TOLERANCE)
        centers = _centers(sides[1], self.minimum, self.maximum, box_cox)
        lambdas, result, (share, relative) = newton_fit(
            source_evaluator(read, RowWeights(smallest, largest)),
            box_cox,
            self.minimum,
            self.maximum,
            start,
            centers,
            fixed,
            (low, high),
        )
        arrays = {name: getattr(self, name) for name in self._fields}
        arrays.update(
            weight_sum=moments.weight_sum,
            exact_lambda=lambdas,
            exact_scaled_mean=result.scaled_mean,
            exact_scaled_variance=result.scaled_variance,
            exact_exponent=result.exponent,
            exact_center=np.where(share > 0, centers, np.nan),
            exact_share=share,
            exact_relative=relative,
        )
        return type(self)(**arrays)

    # -- state ---------------------------------------------------------------

    @property
    def method(self):
        """``"box-cox"`` or ``"yeo-johnson"``."""
        return "box-cox" if bool(self.box_cox) else "yeo-johnson"

    @property
    def buffered(self):
        """Whether the statistic holds its rows (and answers exactly)."""
        return self.cgf.shape[-2] == 0

    def _rows(self):
        """The buffered rows and their normalized weights."""
        weight, _ = normalized_weights(self.buffer_weight)
        if weight is not None and np.all(weight == weight[0]):
            weight = None
        return self.buffer, weight

    def _sides(self):
        """The summary ``(side_weight, mean_log, cgf, log_variance)``,
        computed from the rows of a buffered statistic."""
        if not self.buffered:
            return self.side_weight, self.mean_log, self.cgf, self.log_variance
        rows, weight = self._rows()
        sides = _summary_of(
            rows, weight, bool(self.box_cox), self.minimum, self.maximum
        )
        total = sides[0].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            unit = np.where(
                total > 0, self.weight_sum / np.where(total > 0, total, 1), 0
            )
        return (sides[0] * unit, *sides[1:])

    def nonfinite_columns(self):
        """Columns whose extrema are infinite (the data held +/-inf)."""
        return np.isinf(self.minimum) | np.isinf(self.maximum)

    def merge(self, other):
        """The statistic of both data sets: rows kept while they fit the
        buffer, summaries merged exactly otherwise; an exact maximum is
        dropped."""
        self._check_mergeable(other)
        if bool(self.box_cox) != bool(other.box_cox):
            raise ValueError("cannot merge the likelihoods of different methods.")
        n_features = self.n_features
        common = dict(
            weight_sum=self.weight_sum + other.weight_sum,
            minimum=np.fmin(self.minimum, other.minimum),
            maximum=np.fmax(self.maximum, other.maximum),
            n_rows=np.asarray(float(self.n_rows) + float(other.n_rows)),
        )
        rows = len(self.buffer) + len(other.buffer)
        if self.buffered and other.buffered and rows <= buffer_rows(n_features):
            return self._assemble(
                bool(self.box_cox),
                n_features,
                buffer=np.concatenate((self.buffer, other.buffer)),
                buffer_weight=np.concatenate((self.buffer_weight, other.buffer_weight)),
                **common,
            )
        a, b = self._sides(), other._sides()
        side_weight, mean_log, cgf, log_variance = merge_summaries(a, b)
        return self._assemble(
            bool(self.box_cox),
            n_features,
            side_weight=side_weight,
            mean_log=mean_log,
            cgf=cgf,
            log_variance=log_variance,
            **common,
        )

    def reweighted(self, factor):
        """The statistic with every row's weight times ``factor``: weights
        scale, the likelihood's maximum does not move."""
        factor = self._check_factor(factor)
        arrays = {name: np.copy(getattr(self, name)) for name in self._fields}
        arrays["weight_sum"] = self.weight_sum * factor
        arrays["side_weight"] = self.side_weight * factor
        arrays["buffer_weight"] = self.buffer_weight * factor
        return type(self)(**arrays)

    # -- answers ---------------------------------------------------------------

    def maximum_likelihood(self):
        """The maximum likelihood transform of each column.

        Returns
        -------
        MaximumLikelihood
            A named tuple: ``lambdas`` (1 for a column without data or
            constant by scikit-learn's rule, a variance within ``n eps`` of
            the two-pass error bound: the identity shape, no search);
            ``moments`` (:class:`Moments` of the transformed values);
            ``center``, ``share`` and ``relative`` (per side of each column,
            shape (2, n_features): the centre ``c`` of its logarithms, its
            weight share and the mean of ``T(L) - T(c)`` in the units of
            ``moments``, from which the standardized map is computed without
            cancellation); ``clamped`` (columns whose interpolated maximum
            the grid's end bounded).
        """
        box_cox = bool(self.box_cox)
        n_features = self.n_features
        clamped = np.zeros(n_features, dtype=bool)
        if self.buffered:
            rows, weight = self._rows()
            moments = Moments.from_data(rows, weight)
            fixed = _constant_columns(moments, float(self.n_rows))
            sides = _summary_of(rows, weight, box_cox, self.minimum, self.maximum)
            low, high = lambda_bounds(self.minimum, self.maximum, box_cox)
            start, _ = _Interpolant(*sides, box_cox).maximum(
                low, high, _START_TOLERANCE
            )
            centers = _centers(sides[1], self.minimum, self.maximum, box_cox)
            lambdas, result, (share, relative) = exact_fit(
                rows,
                weight,
                box_cox,
                self.minimum,
                self.maximum,
                start,
                centers,
                fixed,
                (low, high),
            )
            center = np.where(share > 0, centers, np.nan)
            return MaximumLikelihood(
                lambdas, self._with_weights(result), center, share, relative, clamped
            )
        if not np.all(np.isnan(self.exact_lambda)):
            result = Moments(
                weight_sum=self.weight_sum,
                scaled_mean=self.exact_scaled_mean,
                scaled_variance=self.exact_scaled_variance,
                exponent=self.exact_exponent,
            )
            return MaximumLikelihood(
                self.exact_lambda.copy(),
                result,
                self.exact_center.copy(),
                self.exact_share.copy(),
                self.exact_relative.copy(),
                clamped,
            )
        sides = self._sides()
        interpolant = _Interpolant(*sides, box_cox)
        one = np.ones(n_features)
        log_var, log_mean, sign = interpolant.moments(one)
        # The moments of x, in units exp(size) so that none overflows
        # (Box-Cox's y at lambda 1 is x - 1).
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            size = np.fmax(np.fmax(log_mean, log_var / 2), 0.0)
            size = np.where(np.isfinite(size), size, 0.0)
            mean_x = sign * np.exp(log_mean - size)
            if box_cox:
                mean_x = mean_x + np.exp(-size)
            var_x = np.exp(log_var - 2 * size)
        fixed = _is_constant(mean_x, var_x, float(self.n_rows))
        fixed |= ~(self.weight_sum > 0)
        low, high = lambda_bounds(self.minimum, self.maximum, box_cox)
        lambdas, clamped = interpolant.maximum(low, high)
        lambdas = np.where(fixed, 1.0, lambdas)
        clamped &= ~fixed
        log_var, log_mean, sign = interpolant.moments(lambdas)
        result = _scaled_moments(self.weight_sum, log_var, log_mean, sign)
        center = np.where(interpolant.present, sides[1], np.nan)
        relative = interpolant.relative_means(lambdas, center, result.exponent)
        return MaximumLikelihood(
            lambdas, result, center, interpolant.share, relative, clamped
        )

    def _with_weights(self, moments):
        return Moments(
            weight_sum=self.weight_sum,
            scaled_mean=moments.scaled_mean,
            scaled_variance=moments.scaled_variance,
            exponent=moments.exponent,
        )

    def log_likelihood(self, lmbda):
        """The profile log-likelihood of each column at ``lmbda``.

        ``-W / 2 * log var(y) + (lmbda - 1) * sum w J(x)`` (scipy's
        ``yeojohnson_llf`` / ``boxcox_llf`` when unweighted): exact for a
        statistic that holds its rows, the summary's interpolation
        otherwise (exact at the grid's exponents, up to rounding).

        Parameters
        ----------
        lmbda : float or ndarray of shape (n_features,)

        Returns
        -------
        ndarray of shape (n_features,)
        """
        box_cox = bool(self.box_cox)
        lam = np.broadcast_to(np.asarray(lmbda, np.float64), (self.n_features,)).copy()
        if self.buffered:
            rows, weight = self._rows()
            sides = _summary_of(rows, weight, box_cox, self.minimum, self.maximum)
            centers = _centers(sides[1], self.minimum, self.maximum, box_cox)
            lanes = lanes_of(self.minimum, self.maximum, box_cox)
            exponent = column_exponents(self.minimum, self.maximum, centers, box_cox)
            moments = _pass(
                rows,
                weight,
                lanes,
                lam,
                centers,
                self.minimum,
                self.maximum,
                None,
                exponent,
            )
            # In the columns' scaled units: y / 2**exponent.
            variance, _, _ = _final(moments, 0.0, self.weight_sum, exponent)
            with np.errstate(divide="ignore", invalid="ignore"):
                log_var = np.log(variance.scaled_variance) + 2 * np.log(2.0) * (
                    variance.exponent
                )
                jacobian = np.ldexp(moments["jacobian"], exponent)
                per_weight = -0.5 * log_var + (lam - 1) * jacobian
            return self.weight_sum * per_weight
        interpolant = _Interpolant(*self._sides(), box_cox)
        return self.weight_sum * interpolant.log_likelihood(lam)


def _block_moments(X, weight):
    """A block's :class:`Moments` and the range of its weights (the
    smallest positive one, the largest)."""
    fields = {"moments": Moments.from_data(X, weight)}
    if weight is not None:
        positive = weight[weight > 0]
        fields["weight_range"] = (
            np.array([positive.min(initial=np.inf)]),
            np.array([weight.max(initial=0.0)]),
        )
    return fields


def _weight_range(fields):
    """The smallest positive weight and the largest of all the blocks
    (1 and 1, equal weights, for unweighted data)."""
    if "weight_range" not in fields:
        return 1.0, 1.0
    smallest, largest = fields["weight_range"]
    return float(smallest.min()), float(largest.max())


def _check_positive(X, minimum):
    """Box-Cox needs strictly positive data."""
    with np.errstate(invalid="ignore"):
        bad = minimum <= 0
    if is_sparse(X) and X.shape[0]:
        stored = np.diff(X.tocsc().indptr)
        bad |= stored < X.shape[0]
    if bad.any():
        raise ValueError(
            "The Box-Cox transformation can only be applied to strictly positive data"
        )
