"""The exact maximum likelihood of the power transforms: safeguarded Newton
iterations over the data, all columns at once.

Each iteration is one pass over the data computing, per column, the mean and
variance of the transformed values ``y`` and their co-moments with the first
two derivatives of ``y`` in lambda: the profile log-likelihood's slope and
curvature, exactly (:mod:`._power_kernels` computes them per lane without
cancellation or overflow). The iterations (:func:`newton_fit`) take their
passes from the data in memory (:func:`exact_fit`) or from a source read
in blocks (:func:`source_evaluator`, each block's raw sums added): the same
steps, from the same start, up to the order in which the sums are added.

Scale. The log-likelihood varies with lambda on the scale ``1 / spread of
L`` (``exp(lambda L)`` moves by a factor e when lambda moves by ``1 / L``):
the columns' logarithms are divided by a power of two near their spread
(exactly), and the iterations run in the matching units of lambda. So data
of any magnitude (``1e-300`` for Yeo-Johnson, whose likelihood then peaks
near ``lambda = -1e300``) is fitted in as many iterations as ordinary data,
and no derivative under- or overflows.
"""

import numpy as np

from .._validation import is_sparse
from ._base import implicit_zero_weight, sparse_entries
from ._power_kernels import (
    _SAFE_EXPONENT,
    _SERIES_LIMIT,
    _empty_phi,
    chan_merge,
    dense_phi_moments,
    dense_phi_sums,
    dense_phi_two_pass,
    lanes_of,
    moments_from_sums,
    phi_at,
    sparse_phi_moments,
)
from .moments import Moments

#: Newton iterations stop once a step is this small (in the scaled units of
#: lambda): the error left is about the square of the step.
NEWTON_TOLERANCE = 1e-6
#: The largest first step (scaled units); it doubles while steps keep going
#: the same way, so that far optima are reached in a few passes.
_FIRST_REACH = 1.0
_MAX_ITERATIONS = 100
#: Logarithm spreads within these bounds are not rescaled.
_PLAIN_SPREAD = (2.0**-4, 2.0**6)


def _lane_ranges(lanes, minimum, maximum, center):
    """Per lane, bounds ``(low, high)`` of ``d = L - c`` from the extrema."""
    columns = lanes.columns
    low_x, high_x = minimum[columns], maximum[columns]
    with np.errstate(divide="ignore", invalid="ignore"):
        if lanes.box_cox:
            low_l, high_l = np.log(low_x), np.log(high_x)
        else:
            low_l = np.where(
                lanes.negative,
                np.log1p(np.maximum(-high_x, 0.0)),
                np.log1p(np.maximum(low_x, 0.0)),
            )
            high_l = np.where(
                lanes.negative, np.log1p(-low_x), np.log1p(np.maximum(high_x, 0.0))
            )
    return low_l - center, high_l - center


def column_exponents(minimum, maximum, centers, box_cox):
    """Per column, the power of two its logarithms are divided by: 0 where
    their spread about the centres is ordinary, else the exponent of it."""
    lanes = lanes_of(minimum, maximum, box_cox)
    center = centers[lanes.side(), lanes.columns]
    low, high = _lane_ranges(lanes, minimum, maximum, center)
    spread = np.zeros(len(minimum))
    with np.errstate(invalid="ignore"):
        np.fmax.at(spread, lanes.columns, np.fmax(np.abs(low), np.abs(high)))
    spread = np.where(np.isfinite(spread), spread, 0.0)
    ordinary = (spread == 0) | (
        (spread >= _PLAIN_SPREAD[0]) & (spread <= _PLAIN_SPREAD[1])
    )
    exponent = np.clip(np.frexp(np.where(ordinary, 1.0, spread))[1], -1000, 1000)
    return np.where(ordinary, 0, exponent).astype(np.int64)


def _column_moments(lanes, result, theta, center, shift, n_features):
    """Per column, the log-likelihood's slope and curvature and the moments
    of ``y`` and its derivatives, from a pass's lane moments (in the
    columns' scaled units)."""
    n, (mean_d, m0, m1, m2), co = result
    with np.errstate(invalid="ignore", divide="ignore"):
        V00, V01, V11, V02 = (co[k] / n for k in ((1, 1), (1, 2), (2, 2), (1, 3)))
    sign = lanes.sign()
    c = center
    k0, k1, k2 = phi_at(c, theta)
    log_f = theta * c + shift
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        F = np.exp(log_f)
        F2 = F * F
        W = np.stack(
            [
                V00,
                c * V00 + V01,
                c * c * V00 + 2 * c * V01 + V11,
                c * c * V00 + 2 * c * V01 + V02,
            ]
        )
        lane_values = {
            "mean_y": sign * (F * m0 + k0),
            "mean_1": F * (c * m0 + m1) + k1,
            "mean_2": sign * (F * (c * c * m0 + 2 * c * m1 + m2) + k2),
            "vyy": F2 * W[0],
            "vy1": sign * F2 * W[1],
            "v11": F2 * W[2],
            "vy2": F2 * W[3],
            "jacobian": sign * (c + mean_d),
        }
    with np.errstate(invalid="ignore", divide="ignore"):
        # y, y', y'' are F times a combination of P0, P1, P2 plus constants:
        # the ratios are F-free, and c cancels from the slope.
        r1 = V01 / V00
        slope = sign * (mean_d - r1)
        curvature = 2 * r1 * r1 - (V11 + V02) / V00
    primary = len(lanes.primary)
    first = lanes.columns[:primary]
    per_lane = {
        **lane_values,
        "n": n,
        "slope": slope,
        "curvature": curvature,
    }
    out = {}
    for name, values in per_lane.items():
        column = np.full((*values.shape[:-1], n_features), np.nan)
        column[..., first] = values[..., :primary]
        out[name] = column
    # Per side, what the final moments need: the lane's moments of P0..P2
    # (the derivatives of P0 in its exponent), its centre, exponent, shift.
    side = lanes.side()
    per_side = {
        "side_n": n,
        "side_m": np.stack([m0, m1, m2]),
        "side_V": np.stack([V00, V01, V11, V02]),
        "side_center": c,
        "side_theta": theta,
        "side_shift": shift,
    }
    for name, values in per_side.items():
        array = np.full((*values.shape[:-1], 2, n_features), np.nan)
        array[..., side, lanes.columns] = values
        out[name] = array
    if len(lanes.mixed):
        _combine_mixed(out, lanes, n, lane_values, primary)
    return out


def _combine_mixed(out, lanes, n, lane_values, primary):
    """Combine the two lanes of each mixed column (Yeo-Johnson): weighted
    means and co-moments plus the between-lanes term (Chan's update), for
    the Newton steps. Within scipy's overflow bounds plain float64 holds
    them."""
    mixed = lanes.mixed
    plus = lanes.mixed_primary
    minus = primary + np.arange(len(mixed))
    total = n[plus] + n[minus]
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(total > 0, n[plus] / total, 0.0)
    b = 1.0 - a
    pairs = {
        "vyy": ("mean_y", "mean_y"),
        "vy1": ("mean_y", "mean_1"),
        "v11": ("mean_1", "mean_1"),
        "vy2": ("mean_y", "mean_2"),
    }
    # (Values beyond float64 here are those of data of both signs beyond
    # about 5e144, whose lambda is fixed at 1: no step uses them.)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        delta = {
            name: lane_values[name][plus] - lane_values[name][minus]
            for name in ("mean_y", "mean_1", "mean_2")
        }
        out["n"][mixed] = total
        for name in ("mean_y", "mean_1", "mean_2", "jacobian"):
            out[name][mixed] = (
                a * lane_values[name][plus] + b * lane_values[name][minus]
            )
        for name, (i, j) in pairs.items():
            out[name][mixed] = (
                a * lane_values[name][plus]
                + b * lane_values[name][minus]
                + a * b * delta[i] * delta[j]
            )
        r = out["vy1"][mixed] / out["vyy"][mixed]
        out["slope"][mixed] = out["jacobian"][mixed] - r
        out["curvature"][mixed] = (
            2 * r * r - (out["v11"][mixed] + out["vy2"][mixed]) / out["vyy"][mixed]
        )


class PassPlan:
    """What one pass computes: the moments at ``lam`` of the columns of
    ``lanes``, in the columns' scaled units (logarithms divided by
    ``2**exponent``).

    The pass over data in memory is :meth:`moments`; over a source read in
    blocks, the blocks' :meth:`sums` add up to those of all the data, which
    :func:`~._power_kernels.moments_from_sums` turns into moments (or, where
    they lost precision, the blocks' :meth:`two_pass` moments, merged by
    Chan's update). :meth:`column_moments` gives a step what it needs.
    """

    def __init__(self, lanes, lam, centers, minimum, maximum, exponent):
        columns = lanes.columns
        scale = np.ldexp(1.0, exponent[columns])
        center = centers[lanes.side(), columns]
        theta = np.where(lanes.negative, 2.0 - lam[columns], lam[columns])
        low_d, high_d = _lane_ranges(lanes, minimum, maximum, center)
        with np.errstate(invalid="ignore", over="ignore"):
            reach = np.fmax(theta * low_d, theta * high_d)
            shift = np.maximum(np.nan_to_num(reach, nan=0.0) - _SAFE_EXPONENT, 0.0)
            series = (
                np.abs(theta) * np.fmax(np.abs(low_d), np.abs(high_d)) < _SERIES_LIMIT
            )
        self.lanes = lanes
        self.n_features = len(minimum)
        self.theta = theta * scale
        self.center = center / scale
        self.shift = shift
        self.series = series
        self.inverse_scale = None if np.all(scale == 1.0) else 1.0 / scale

    def _arguments(self):
        return (
            self.lanes,
            self.center,
            self.theta,
            self.shift,
            self.series,
            self.inverse_scale,
        )

    def moments(self, X, weight, zero_weight=None):
        """The lanes' ``(n, means, comoments)`` of all the data X (dense or
        sparse; ``zero_weight`` the weight of each column's implicit zeros)."""
        if not is_sparse(X):
            return dense_phi_moments(X, weight, *self._arguments())
        lanes = self.lanes
        values, value_columns, entry_weight, _ = sparse_entries(X, weight)
        logs, lane = lanes.sparse_logarithms(values, value_columns)
        on_lane = lane >= 0
        logs, lane = logs[on_lane], lane[on_lane]
        if self.inverse_scale is not None:
            logs = logs * self.inverse_scale[lane]
        return sparse_phi_moments(
            logs,
            lane,
            None if entry_weight is None else entry_weight[on_lane],
            zero_weight,
            lanes,
            self.center,
            self.theta,
            self.shift,
            self.series,
        )

    def sums(self, X, weight):
        """``(n, sums)`` of a block of the data: raw sums that add up over
        the blocks (see :func:`~._power_kernels.dense_phi_sums`)."""
        X = _dense_rows(X)
        if X.shape[0] == 0:
            return np.zeros(self.lanes.n_lanes), np.zeros((8, self.lanes.n_lanes))
        return dense_phi_sums(X, weight, *self._arguments())

    def two_pass(self, X, weight):
        """The lanes' ``(n, means, comoments)`` of a block of the data, by
        the two-pass method (merged over blocks by :func:`chan_merge`)."""
        X = _dense_rows(X)
        if X.shape[0] == 0:
            return _empty_phi(self.lanes.n_lanes)
        return dense_phi_two_pass(X, weight, *self._arguments())

    def column_moments(self, result):
        """Per column, the slope, curvature and moments a step needs, from
        the lanes' ``(n, means, comoments)`` of all the data."""
        return _column_moments(
            self.lanes, result, self.theta, self.center, self.shift, self.n_features
        )


def _dense_rows(X):
    """A block as a float ndarray (a sparse one's implicit zeros stored)."""
    return X.toarray() if is_sparse(X) else np.asarray(X)


def _pass(X, weight, lanes, lam, centers, minimum, maximum, zero_weight, exponent):
    """One pass over X: the moments at ``lam`` of the columns of ``lanes``,
    in the columns' scaled units (logarithms divided by ``2**exponent``)."""
    plan = PassPlan(lanes, lam, centers, minimum, maximum, exponent)
    return plan.column_moments(plan.moments(X, weight, zero_weight))


def _mantissa(values):
    """``(m, e)`` with ``values = m * 2**e`` (m 0 where values are 0)."""
    m, e = np.frexp(values)
    return m, e.astype(np.int64)


def moments_in_units(weight_sum, mean, mean_exponent, variance, variance_exponent):
    """:class:`Moments` of ``mean * 2**mean_exponent`` and ``variance *
    4**variance_exponent``: plain float64 where both lie within
    ``2**-900 .. 2**900``, else in units of a power of two near the larger
    of the mean and the standard deviation (powers of two: exact)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        _, mean_e = _mantissa(mean)
        _, std_e = _mantissa(np.sqrt(variance))
    size = np.maximum(
        np.where(mean != 0, mean_e + mean_exponent, -(2**30)),
        np.where(variance > 0, std_e + variance_exponent, -(2**30)),
    )
    plain = (np.abs(size) < 900) | (size == -(2**30))
    unit = np.where(plain, 0, size)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        scaled_mean = np.ldexp(mean, mean_exponent - unit)
        scaled_variance = np.ldexp(variance, 2 * (variance_exponent - unit))
    empty = ~(weight_sum > 0)
    return Moments(
        weight_sum=weight_sum,
        scaled_mean=np.where(empty, np.nan, scaled_mean),
        scaled_variance=np.where(
            empty | np.isnan(scaled_variance), 0.0, scaled_variance
        ),
        exponent=unit.astype(np.float64),
    )


def _final(moments, delta, weight_sum, exponent):
    """The moments of y at ``lambda + delta`` (scaled units) from a pass at
    lambda, and per side its weight share and the mean of ``T(L) - T(c)``
    in the units of the moments.

    Per side, ``T(L) - T(c) = F P0`` with ``F = exp(theta c)`` taken at the
    new exponent exactly and ``P0``'s moments moved to it to second order
    (their derivatives in the exponent are ``P1`` and ``P2``, of the size of
    the data's spread: the error is of the order of ``(delta spread)**3``;
    a Taylor expansion of the moments of y themselves would carry powers of
    ``delta c``). Sides are combined by Chan's update, in units of a power
    of two near the larger side's ``F`` (which may lie beyond float64).
    """
    n = np.nan_to_num(moments["side_n"], nan=0.0)
    total = n.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, n / np.where(total > 0, total, 1.0), 0.0)
    sigma = np.array([[1.0], [-1.0]])  # d theta / d lambda per side
    step = sigma * delta
    m0, m1, m2 = moments["side_m"]
    V00, V01, V11, V02 = moments["side_V"]
    c = moments["side_center"]
    theta = moments["side_theta"] + step
    shift = moments["side_shift"]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        mean_p = m0 + step * m1 + 0.5 * step**2 * m2
        var_p = np.maximum(V00 + 2 * step * V01 + step**2 * (V11 + V02), 0.0)
        log_f = theta * c + shift
        t_center = phi_at(c.ravel(), theta.ravel())[0].reshape(c.shape)
        # T(c) / F without overflow where F is far from 1.
        far = np.abs(theta * c) > 1
        t_over_f = np.where(
            far,
            -np.expm1(-theta * c) * np.exp(-shift) / theta,
            t_center * np.exp(-log_f),
        )
    present = share > 0
    # Both sides in units of 2**top, top the larger side's power of two of
    # F: nothing overflows however far apart the sides' scales are.
    ln2 = np.log(2.0)
    powers = np.where(present, np.floor(np.nan_to_num(log_f) / ln2), -np.inf)
    top = np.max(powers, axis=0)
    top = np.where(np.isfinite(top), top, 0.0).astype(np.int64)
    sign = np.array([[1.0], [-1.0]])
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        F = np.where(present, np.exp(log_f - top * ln2), 0.0)
        side_mean = sign * F * (mean_p + t_over_f)
        side_var = F * F * var_p
        relative = F * mean_p
        p0, p1 = share
        both = present.all(axis=0)
        gap = np.where(both, side_mean[0] - side_mean[1], 0.0)
        mean = np.where(present, share * side_mean, 0.0).sum(axis=0)
        variance = (
            np.where(present, share * side_var, 0.0).sum(axis=0) + p0 * p1 * gap * gap
        )
    mean = np.where(present.any(axis=0), mean, np.nan)
    variance = np.where(np.isnan(variance), 0.0, variance)
    power = top + exponent
    result = moments_in_units(weight_sum, mean, power, variance, power)
    unit = result.exponent.astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        relative = np.ldexp(relative, power - unit)
    return result, share, np.where(present, relative, np.nan)


def exact_fit(X, weight, box_cox, minimum, maximum, start, centers, fixed, bounds):
    """The maximum likelihood lambda of every column of X, and the moments
    of the transformed values there: :func:`newton_fit` with each pass over
    X in memory.

    Parameters
    ----------
    X : ndarray or sparse matrix
    weight : ndarray or None
        Normalized row weights.
    box_cox, minimum, maximum, start, centers, fixed, bounds
        See :func:`newton_fit`.

    Returns
    -------
    See :func:`newton_fit`.
    """
    zero_weight = implicit_zero_weight(X, weight) if is_sparse(X) else None

    def evaluate(plan):
        return plan.moments(X, weight, zero_weight)

    return newton_fit(
        evaluate, box_cox, minimum, maximum, start, centers, fixed, bounds
    )


def newton_fit(evaluate, box_cox, minimum, maximum, start, centers, fixed, bounds):
    """The maximum likelihood lambda of every column of some data, and the
    moments of the transformed values there.

    Safeguarded Newton iterations, all columns at once, each one pass over
    the data: ``evaluate(plan)`` returns the lanes' moments of all the data
    for a :class:`PassPlan` (:func:`exact_fit`: the data in memory; a source
    read in blocks: :func:`source_evaluator`). A step is the Newton step
    when the curvature is negative and the step stays inside the bracket of
    slope sign changes found so far (bisection otherwise), at most a reach
    that starts at 1 (in the scaled units of lambda) and doubles while steps
    keep their direction, clipped to ``bounds``. A column stops when its
    step is below ``1e-6`` (the error left is of the order of its square)
    or it sits on a bound its slope points beyond; its moments are those of
    its last pass, corrected to second order for the last step.

    Parameters
    ----------
    evaluate : callable
    box_cox : bool
    minimum, maximum : ndarray
        The columns' extrema.
    start : ndarray
        Starting lambdas.
    centers : ndarray of shape (2, n_features)
        Centres of the logarithms of each column's sides.
    fixed : ndarray of bool
        Columns fitted at lambda 1 without iterating (constant features).
    bounds : tuple of ndarray
        ``(low, high)`` of lambda per column.

    Returns
    -------
    lambdas : ndarray
    moments : Moments
        Of the transformed values at ``lambdas``.
    sides : tuple of ndarray of shape (2, n_features)
        Per side of each column (values ``>= 0``, ``< 0``): its weight share
        and the mean of ``T(L) - T(c)`` in the units of ``moments``.
    """
    n_features = len(minimum)
    low, high = bounds
    # No lambda keeps both sides of the data within float64 (Yeo-Johnson on
    # values of both signs beyond about 5e144): the identity.
    fixed = fixed | (low > high)
    exponent = column_exponents(minimum, maximum, centers, box_cox)
    # Lambda in units of the columns' scale: steps and tolerances there.
    unit = np.ldexp(1.0, -exponent)
    lam = np.where(fixed, 1.0, np.clip(start, low, high))
    lower = np.full(n_features, -np.inf)
    upper = np.full(n_features, np.inf)
    reach = np.full(n_features, _FIRST_REACH)
    previous = np.zeros(n_features)
    active = ~np.isnan(minimum)
    lambdas = np.ones(n_features)
    delta = np.zeros(n_features)
    stored = {}
    for _ in range(_MAX_ITERATIONS):
        if not active.any():
            break
        columns = np.flatnonzero(active)
        lanes = lanes_of(
            np.where(active, minimum, np.nan),
            np.where(active, maximum, np.nan),
            box_cox,
        )
        plan = PassPlan(lanes, lam, centers, minimum, maximum, exponent)
        moments = plan.column_moments(evaluate(plan))
        for key, value in moments.items():
            target = stored.setdefault(key, np.full(value.shape, np.nan))
            target[..., columns] = value[..., columns]
        slope = moments["slope"][columns]
        curvature = moments["curvature"][columns]
        current = lam[columns]
        scaled = unit[columns]
        stuck = fixed[columns] | ~np.isfinite(slope)
        lower_c = np.where(slope > 0, np.fmax(lower[columns], current), lower[columns])
        upper_c = np.where(slope < 0, np.fmin(upper[columns], current), upper[columns])
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            newton = -slope / curvature
            # Doubling the reach while the slope keeps its sign.
            same_way = np.sign(slope) == previous[columns]
            reach_c = np.where(same_way, 2 * reach[columns], reach[columns])
            step = np.where(curvature < 0, newton, np.sign(slope) * reach_c)
            step = np.clip(np.nan_to_num(step, nan=0.0), -reach_c, reach_c)
            proposal = current + step * scaled
            outside = (proposal <= lower_c) | (proposal >= upper_c)
            bisect = outside & np.isfinite(lower_c) & np.isfinite(upper_c)
            proposal = np.where(bisect, lower_c / 2 + upper_c / 2, proposal)
            proposal = np.clip(proposal, low[columns], high[columns])
            step = (proposal - current) / scaled
            narrow = (upper_c - lower_c) / scaled <= NEWTON_TOLERANCE
        small = np.abs(step) <= NEWTON_TOLERANCE * np.maximum(
            1.0, np.abs(current / scaled)
        )
        done = stuck | (small & ~bisect) | narrow | (step == 0)
        lambdas[columns] = np.where(stuck, current, np.where(done, proposal, current))
        delta[columns] = np.where(done & ~stuck, step, 0.0)
        lower[columns], upper[columns] = lower_c, upper_c
        reach[columns] = reach_c
        previous[columns] = np.sign(slope)
        lam[columns] = proposal
        active[columns[done]] = False
    lambdas = np.where(np.isnan(minimum), 1.0, lambdas)
    weight_sum = np.nan_to_num(stored.get("n", np.zeros(n_features)), nan=0.0)
    if not stored:
        empty = moments_in_units(
            weight_sum,
            np.full(n_features, np.nan),
            np.zeros(n_features, np.int64),
            np.zeros(n_features),
            np.zeros(n_features, np.int64),
        )
        nothing = np.full((2, n_features), np.nan)
        return lambdas, empty, (np.zeros((2, n_features)), nothing)
    result, share, relative = _final(stored, delta, weight_sum, exponent)
    return lambdas, result, (share, relative)


# ---------------------------------------------------------------------------
# The passes over a source read in blocks
# ---------------------------------------------------------------------------


class RowWeights:
    """The weights of a source's rows as :func:`exact_fit` takes them in
    memory (:func:`~._base.equal_weights_as_rows`): rows of weight 0 left
    out; equal positive weights as none; others divided by the power of two
    of the largest (exactly).

    Parameters
    ----------
    smallest, largest : float
        The smallest positive weight and the largest weight of all the rows.
    """

    def __init__(self, smallest, largest):
        self.equal = smallest == largest
        exponent = 0
        if largest > 0 and np.isfinite(largest):
            exponent = int(np.frexp(largest)[1]) - 1
        self.exponent = exponent

    def rows(self, X, weight):
        """A block's rows and weights as the in-memory fit takes them."""
        if weight is None:
            return X, None
        positive = weight > 0
        if not positive.all():
            rows = np.flatnonzero(positive)
            X, weight = X[rows], weight[rows]
        if self.equal:
            return X, None
        return X, np.ldexp(weight, -self.exponent)


def _block_sums(X, weight, plan, weights):
    X, weight = weights.rows(X, weight)
    n, sums = plan.sums(X, weight)
    return {"n": n, "sums": sums}


def _block_two_pass(X, weight, plan, weights):
    X, weight = weights.rows(X, weight)
    n, means, comoments = plan.two_pass(X, weight)
    keys = sorted(comoments)
    return {
        "parts": (
            n[None],
            np.stack(means)[None],
            np.stack([comoments[key] for key in keys])[None],
        )
    }


def source_evaluator(read, weights):
    """The ``evaluate`` of :func:`newton_fit` for data read in blocks:
    ``read(function, *args)`` runs ``function(X, weight, *args)`` on every
    block (validated rows, their weights or None) and returns the merged
    fields (arrays added, tuples of arrays concatenated in the order of the
    blocks); ``weights`` the :class:`RowWeights` of all the rows.

    A pass adds the blocks' raw sums (:meth:`PassPlan.sums`); where they
    lost precision to cancellation (as in memory,
    :func:`~._power_kernels.dense_phi_moments`) a second pass computes each
    block's moments by the two-pass method, merged by Chan's update in the
    order of the blocks. The results equal the in-memory pass's up to the
    order in which the same terms are added.
    """

    def evaluate(plan):
        fields = read(_block_sums, plan, weights)
        result, imprecise = moments_from_sums(fields["n"], fields["sums"])
        if not imprecise:
            return result
        n, means, comoments = read(_block_two_pass, plan, weights)["parts"]
        keys = sorted(_empty_phi(0)[2])
        total = _empty_phi(plan.lanes.n_lanes)
        for part in zip(n, means, comoments, strict=True):
            block = (part[0], list(part[1]), dict(zip(keys, part[2], strict=True)))
            total = chan_merge(total, block)
        return total

    return evaluate
