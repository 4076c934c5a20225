"""The arithmetic of the power transforms' likelihood, in log space.

Both transforms are Box-Cox maps of a logarithm: writing ``T(theta, L) =
(exp(theta * L) - 1) / theta`` (``L`` at ``theta = 0``),

* Box-Cox: ``y = T(lambda, log x)``;
* Yeo-Johnson: ``y = T(lambda, log1p(x))`` for ``x >= 0`` and ``y =
  -T(2 - lambda, log1p(-x))`` for ``x < 0``.

The values of a column on one side of 0 (all of them for Box-Cox) form a
*lane*: a column with values of both signs has two. Everything here works on
the logarithms ``L`` of a lane, centred on a per-lane centre ``c`` (``d = L -
c``): ``T(theta, L) - T(theta, c) = exp(theta * c) * (exp(theta * d) - 1) /
theta``, so that no value is ever formed where it would overflow, the
differences of close values are computed without cancellation (``expm1``), and
the scale ``exp(theta * c)`` is kept apart (in log space, or cancelled in
ratios).

Two computations use lanes: the moments of ``T`` on a fixed grid of exponents
(the mergeable summary, stored as a cumulant generating function and a log
variance per grid point) and, at one exponent per lane, the moments of ``T``
and of its first two derivatives in the exponent (the exact maximum
likelihood's Newton steps).
"""

import numpy as np

from .._parallel import BlockPlan, map_blas_tasks, row_blocks

#: Grid of exponents of the summary: -1 to 3 by 0.0625 (where most maxima
#: lie), on to -2 and 4 by 0.125 and to -4 and 6 by 0.25; symmetric about 1
#: (so that the exponents ``2 - lambda`` of Yeo-Johnson's negative side are
#: grid points too), holding 0 and 2. The recurrence's step doubles where
#: the spacing does (``w**2``, ``v (v + 2)``: no further exponential).
GRID_STEP = 0.0625
GRID = np.concatenate(
    (
        np.arange(-16, -8) * 0.25,
        np.arange(-16, -8) * 0.125,
        np.arange(-16, 48) * GRID_STEP,
        np.arange(24, 32) * 0.125,
        np.arange(16, 25) * 0.25,
    )
)
#: Index of the exponent 0 in :data:`GRID`.
ZERO = int(np.flatnonzero(GRID == 0.0)[0])

#: Values per block of the passes: their half-dozen temporaries of a block
#: stay in a core's cache (measured: 2**18-value blocks took 7 times as long).
BLOCK_VALUES = 1 << 15

#: Where ``|theta * d|`` could exceed this, squares of ``exp(theta * d)``
#: would overflow: the lane's values are divided by ``exp(shift)`` first.
_SAFE_EXPONENT = 300.0
#: A lane whose ``|theta| * max|d|`` is below this uses the Taylor series of
#: the ``phi`` functions (their closed forms cancel there).
_SERIES_LIMIT = 1e-3
#: Terms of those series: ``0.05 ** 10 / 10!`` is below ``2**-80``.
_SERIES_TERMS = 6
#: A summary's recurrence ``u_k = u_(k-1) * w + v`` is abandoned for a two-pass
#: computation where its raw sums lose more than 4 bits to cancellation.
_CANCELLATION_LIMIT = 16.0


# ---------------------------------------------------------------------------
# Lanes: which (column, side) pairs hold data, and their logarithms
# ---------------------------------------------------------------------------


class Workspace:
    """Scratch arrays of a task's blocks, allocated once per task: the
    passes' temporaries are written in place (``out=``), so that a block
    costs no allocation (fresh pages of large temporaries cost as much as
    the arithmetic on them)."""

    def __init__(self, rows, columns):
        self.rows = rows
        self.columns = columns
        self._arrays = {}

    def get(self, name, rows):
        array = self._arrays.get(name)
        if array is None:
            array = self._arrays[name] = np.empty((self.rows, self.columns))
        return array[:rows]


class Lanes:
    """The lanes of a batch: one per column side that holds values.

    Parameters
    ----------
    positive, negative : ndarray of bool of shape (n_features,)
        Whether each column has values ``>= 0`` (all of Box-Cox's values) and
        values ``< 0`` (Yeo-Johnson only).
    box_cox : bool

    Attributes
    ----------
    columns : ndarray of int of shape (n_lanes,)
        Column of each lane: first one lane per column with data (its
        positive side where it has one), in column order, then the negative
        lanes of the columns with values of both signs.
    negative : ndarray of bool of shape (n_lanes,)
        Whether the lane holds the negative values of its column.
    """

    def __init__(self, positive, negative, box_cox):
        positive = np.asarray(positive, bool)
        negative = np.zeros_like(positive) if box_cox else np.asarray(negative, bool)
        self.box_cox = box_cox
        self.n_features = len(positive)
        present = positive | negative
        self.primary = np.flatnonzero(present)
        self.mixed = np.flatnonzero(positive & negative)
        self.columns = np.concatenate((self.primary, self.mixed))
        self.negative = np.concatenate(
            (~positive[self.primary], np.ones(len(self.mixed), bool))
        )
        #: Primary lanes of the mixed columns (their positive sides).
        self.mixed_primary = np.searchsorted(self.primary, self.mixed)

    @property
    def n_lanes(self):
        return len(self.columns)

    def sign(self):
        """+1 for positive lanes, -1 for negative ones (the sign of ``y``)."""
        return np.where(self.negative, -1.0, 1.0)

    def side(self):
        """0 for positive lanes, 1 for negative ones."""
        return self.negative.astype(np.intp)

    def logarithms(self, block, out=None):
        """The lanes' logarithms of a dense block (never written), NaN off
        the lane, in ``out`` (a float64 array of the result's shape) when
        given.

        Box-Cox: ``log x``; Yeo-Johnson: ``log1p(|x|)``, NaN in a lane for
        the values of the other sign (and missing values).
        """
        if len(self.primary) < block.shape[1]:
            block = block[:, self.primary]
        if len(self.mixed):
            out = None  # the result is wider than the block
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.box_cox:
                logs = np.log(block, out=out, dtype=np.float64)
            else:
                logs = np.abs(block, out=out, dtype=np.float64)
                np.log1p(logs, out=logs)
        if len(self.mixed):
            with np.errstate(invalid="ignore"):
                below = block[:, self.mixed_primary] < 0
            second = logs[:, self.mixed_primary]
            logs[:, self.mixed_primary] = np.where(below, np.nan, second)
            second[~below] = np.nan
            logs = np.concatenate((logs, second), axis=1)
        return logs

    def sparse_logarithms(self, values, columns):
        """``(logs, lane)`` of the stored values of a sparse matrix."""
        values = np.asarray(values, dtype=np.float64)
        lane_of = np.full((2, self.n_features), -1, np.intp)
        lane_of[self.side(), self.columns] = np.arange(self.n_lanes)
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.box_cox:
                return np.log(values), lane_of[0, columns]
            side = (values < 0).astype(np.intp)
            return np.log1p(np.abs(values)), lane_of[side, columns]


def lanes_of(minimum, maximum, box_cox):
    """:class:`Lanes` from the columns' extrema (NaN: no data)."""
    with np.errstate(invalid="ignore"):
        positive = maximum >= 0
        negative = minimum < 0
    if box_cox:
        positive = ~np.isnan(maximum)
    return Lanes(positive, negative, box_cox)


# ---------------------------------------------------------------------------
# The phi functions: T and its derivatives, without cancellation
# ---------------------------------------------------------------------------


def _series(z, derivative):
    """``phi1(z) = expm1(z) / z`` (or its first or second derivative) by its
    Taylor series, for ``|z| <= _SERIES_LIMIT``."""
    # phi1^(m)(z) = sum_k (k + 1)...(k + m) z^k / (k + m + 1)!
    coefficients = []
    factorial = 1.0
    for k in range(_SERIES_TERMS + derivative + 1):
        factorial *= k + 1
        if k >= derivative:
            rising = 1.0
            for i in range(1, derivative + 1):
                rising *= k - derivative + i
            coefficients.append(rising / factorial)
    result = np.full_like(z, coefficients[-1])
    for coefficient in coefficients[-2::-1]:
        result *= z
        result += coefficient
    return result


def phi_moments(d, theta, shift, series, work=None):
    """``(P0, P1, P2)``: ``d**(m + 1) * phi1^(m)(theta * d)`` for m = 0, 1, 2.

    With ``F = exp(theta * c)``, ``T(theta, c + d) - T(theta, c) = F * P0``,
    and the first and second derivatives in ``theta`` differ from their
    values at ``c`` by ``F * (c P0 + P1)`` and ``F * (c**2 P0 + 2 c P1 +
    P2)``. Lanes with ``shift > 0`` give the three divided by
    ``exp(shift)`` (their exponentials would overflow); ``series`` lanes
    (``|theta * d|`` below ``_SERIES_LIMIT``) use the Taylor series. ``d``
    is 2-D (rows, lanes) with the per-lane arrays broadcast along rows;
    ``work`` (a :class:`Workspace`) holds the results when given.
    """
    theta = np.asarray(theta, dtype=np.float64)
    shifted = ~series & (shift > 0)
    plain = ~series & ~shifted
    if plain.all():
        out = None
        if work is not None:
            rows = d.shape[0]
            out = tuple(work.get(name, rows) for name in ("P0", "P1", "P2"))
        return _direct_plain(d, theta, out)
    groups = ((shifted, _direct_shifted), (series, _direct_series))
    for index, compute in groups:
        if index.all():
            return compute(d, theta, shift)
    result = [np.empty_like(d) for _ in range(3)]
    if plain.any():
        columns = np.flatnonzero(plain)
        parts = _direct_plain(d[:, columns], theta[columns])
        for target, part in zip(result, parts, strict=True):
            target[:, columns] = part
    for index, compute in groups:
        if index.any():
            columns = np.flatnonzero(index)
            parts = compute(d[:, columns], theta[columns], shift[columns])
            for target, part in zip(result, parts, strict=True):
                target[:, columns] = part
    return tuple(result)


def _direct_plain(d, theta, out=None):
    """The closed forms: ``P0 = expm1(theta d) / theta``, ``P1 = (d
    exp(theta d) - P0) / theta``, ``P2 = (d**2 exp(theta d) - 2 P1) /
    theta``, written into ``out`` when given."""
    if out is None:
        out = tuple(np.empty_like(d) for _ in range(3))
    P0, P1, P2 = out
    with np.errstate(over="ignore", invalid="ignore"):
        inverse = 1.0 / theta
        np.multiply(d, theta, out=P2)
        np.expm1(P2, out=P0)  # u = expm1(theta d)
        np.add(P0, 1.0, out=P2)
        P2 *= d  # d exp(theta d)
        P0 *= inverse
        np.subtract(P2, P0, out=P1)
        P1 *= inverse
        P2 *= d  # d**2 exp(theta d)
        P2 -= P1
        P2 -= P1
        P2 *= inverse
    return P0, P1, P2


def _direct_shifted(d, theta, shift):
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        inverse = 1.0 / theta
        e = np.exp(d * theta - shift)
        P0 = (e - np.exp(-shift)) * inverse
        e *= d
        P1 = (e - P0) * inverse
        e *= d
        P2 = (e - 2.0 * P1) * inverse
    return P0, P1, P2


def _direct_series(d, theta, shift):
    z = d * theta
    P0 = d * _series(z, 0)
    dd = d * d
    P1 = dd * _series(z, 1)
    P2 = dd * d * _series(z, 2)
    return P0, P1, P2


def phi_at(c, theta):
    """``(T, T', T'')`` at ``L = c`` per lane (scalars): ``c**(m + 1) *
    phi1^(m)(theta * c)``, by the series where ``|theta * c|`` is small."""
    c = np.asarray(c, dtype=np.float64)[None, :]
    theta = np.asarray(theta, dtype=np.float64)
    series = np.abs(theta * c[0]) < _SERIES_LIMIT
    parts = phi_moments(c, theta, np.zeros_like(theta), series)
    return tuple(p[0] for p in parts)


# ---------------------------------------------------------------------------
# Chan's pairwise update of several variables' means and co-moments
# ---------------------------------------------------------------------------


def chan_merge(a, b):
    """Merge two ``(n, means, comoments)`` of per-lane variables.

    ``means`` is a list of per-lane arrays; ``comoments`` a dict
    ``(i, j) -> sum of products of deviations`` (not divided by the
    weight). Lanes without weight on one side take the other's values.
    """
    n_a, means_a, co_a = a
    n_b, means_b, co_b = b
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(n > 0, n_b / np.where(n > 0, n, 1.0), 0.0)
        cross = n_a * share
    deltas = [mb - ma for ma, mb in zip(means_a, means_b, strict=True)]
    means = []
    for ma, mb, delta in zip(means_a, means_b, deltas, strict=True):
        merged = ma + delta * share
        means.append(np.where(n_a == 0, mb, np.where(n_b == 0, ma, merged)))
    comoments = {}
    for (i, j), value in co_a.items():
        merged = value + co_b[(i, j)] + deltas[i] * deltas[j] * cross
        comoments[(i, j)] = np.where(
            n_a == 0, co_b[(i, j)], np.where(n_b == 0, value, merged)
        )
    return n, means, comoments


# ---------------------------------------------------------------------------
# The exact pass: moments of T, T', T'' at one exponent per lane
# ---------------------------------------------------------------------------

#: The co-moments a Newton step needs: var P0, cov(P0, P1), var P1, cov(P0, P2).
_PAIRS = ((0, 0), (0, 1), (1, 1), (0, 2))


_ONES = {}


def _ones(n):
    ones = _ONES.get(n)
    if ones is None:
        if len(_ONES) > 64:
            _ONES.clear()
        ones = _ONES[n] = np.ones(n)
    return ones


def _weighted_sum(weight, values):
    """Column sums of a 2-D block (weighted by row), as a matrix-vector
    product: several times faster than numpy's column reduction of a
    C-ordered block (the passes run BLAS on one thread per task)."""
    if weight is None:
        weight = _ones(values.shape[0])
    return weight @ values


def _block_phi_moments(logs, weight, center, theta, shift, series, work=None):
    """``(n, means [d, P0, P1, P2], comoments)`` of one block's lanes.

    Two passes over the block while it is in cache: the means, then the
    co-moments of the deviations from them. Missing values (NaN) count for
    nothing. ``logs`` is overwritten (it becomes ``d = L - center``).
    """
    d = np.subtract(logs, center, out=logs)
    missing = np.isnan(d)
    has_missing = missing.any()
    if has_missing:
        d[missing] = 0.0
        present = ~missing
        n = _weighted_sum(weight, present.astype(np.float64))
    else:
        rows = d.shape[0]
        n = np.full(d.shape[1], float(rows) if weight is None else weight.sum())
    P = phi_moments(d, theta, shift, series, work)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = [_weighted_sum(weight, v) / n for v in (d, *P)]
        for value, mean in zip(P, means[1:], strict=True):
            value -= mean
            if has_missing:
                value[missing] = 0.0
        first = P[0]
        if weight is not None:
            first = (
                np.multiply(P[0], weight[:, None], out=work.get("W", len(weight)))
                if work is not None
                else P[0] * weight[:, None]
            )
        comoments = {
            (0, 0): np.einsum("ij,ij->j", first, P[0]),
            (0, 1): np.einsum("ij,ij->j", first, P[1]),
            (0, 2): np.einsum("ij,ij->j", first, P[2]),
        }
        second = P[1] if weight is None else P[1] * weight[:, None]
        comoments[(1, 1)] = np.einsum("ij,ij->j", second, P[1])
    means = [np.where(n > 0, m, 0.0) for m in means]
    # Variables 0..2 of the co-moments are P0..P2 (means[1:]).
    return n, means, comoments


def _block_phi_sums(logs, weight, center, theta, shift, series, work):
    """``(n, sums)`` of one block's lanes: the raw sums of ``d, P0, P1, P2``
    and of the products ``P0 P0, P0 P1, P1 P1, P0 P2`` (shape (8, lanes)),
    about the lanes' fixed centres. Missing values give ``d = 0`` and so
    ``P = 0``: they add nothing. ``logs`` is overwritten."""
    d = np.subtract(logs, center, out=logs)
    missing = np.isnan(d)
    if missing.any():
        d[missing] = 0.0
        n = _weighted_sum(weight, (~missing).astype(np.float64))
    else:
        rows = d.shape[0]
        n = np.full(d.shape[1], float(rows) if weight is None else weight.sum())
    P0, P1, P2 = phi_moments(d, theta, shift, series, work)
    sums = np.empty((8, d.shape[1]))
    for i, value in enumerate((d, P0, P1, P2)):
        sums[i] = _weighted_sum(weight, value)
    first, second = P0, P1
    if weight is not None:
        first = np.multiply(P0, weight[:, None], out=work.get("W", len(weight)))
        second = P1 * weight[:, None]
    sums[4] = np.einsum("ij,ij->j", first, P0)
    sums[5] = np.einsum("ij,ij->j", first, P1)
    sums[6] = np.einsum("ij,ij->j", second, P1)
    sums[7] = np.einsum("ij,ij->j", first, P2)
    return n, sums


def _moments_from_sums(n, sums):
    """``(n, means [d, P0, P1, P2], comoments)`` from raw sums, and the lanes
    whose variances lost more than 4 bits to cancellation."""
    with np.errstate(invalid="ignore", divide="ignore"):
        means = [np.where(n > 0, s / n, 0.0) for s in sums[:4]]
        comoments = {}
        for (i, j), row in zip(_PAIRS, sums[4:], strict=True):
            comoments[(i + 1, j + 1)] = row - sums[1 + i] * means[1 + j]
        imprecise = (n > 0) & (
            (sums[4] > _CANCELLATION_LIMIT * comoments[(1, 1)])
            | (sums[6] > _CANCELLATION_LIMIT * comoments[(2, 2)])
        )
    return (n, means, comoments), imprecise


def _shifted_indices(result):
    """Re-key ``(n, [d, P0, P1, P2], comoments)`` so that the co-moments'
    variable indices address ``means`` (d is variable 0 there)."""
    n, means, comoments = result
    return n, means, {(i + 1, j + 1): v for (i, j), v in comoments.items()}


def _empty_phi(n_lanes):
    zeros = np.zeros(n_lanes)
    return (
        zeros.copy(),
        [zeros.copy() for _ in range(4)],
        {(i + 1, j + 1): zeros.copy() for i, j in _PAIRS},
    )


def _dense_blocks(X, weight, lanes, inverse_scale):
    """The plan of tasks of a dense X and, per task, its row blocks'
    logarithms (in a task's :class:`Workspace`) and weights."""
    plan = BlockPlan(*X.shape)
    block_rows = max(1, BLOCK_VALUES // max(1, lanes.n_lanes))

    def blocks(task, work):
        for rows in row_blocks(
            task.stop, 1, block_rows, start=task.start, stop=task.stop
        ):
            size = rows.stop - rows.start
            logs = lanes.logarithms(X[rows], out=work.get("logs", size))
            if inverse_scale is not None:
                logs *= inverse_scale
            yield logs, None if weight is None else weight[rows]

    return plan, block_rows, blocks


def dense_phi_sums(X, weight, lanes, center, theta, shift, series, inverse_scale=None):
    """``(n, sums)`` of the lanes of a dense X: the raw sums of
    :func:`_block_phi_sums` about the lanes' fixed centres, over row blocks
    on the thread pool, added in task order (the result does not depend on
    the number of threads). Sums of several parts of the data add up."""
    plan, block_rows, blocks = _dense_blocks(X, weight, lanes, inverse_scale)

    def task_sums(task):
        work = Workspace(block_rows, lanes.n_lanes)
        n, sums = np.zeros(lanes.n_lanes), np.zeros((8, lanes.n_lanes))
        for logs, w in blocks(task, work):
            block_n, block_sums = _block_phi_sums(
                logs, w, center, theta, shift, series, work
            )
            n += block_n
            sums += block_sums
        return n, sums

    n, sums = np.zeros(lanes.n_lanes), np.zeros((8, lanes.n_lanes))
    for part_n, part_sums in map_blas_tasks(task_sums, plan.tasks()):
        n += part_n
        sums += part_sums
    return n, sums


def dense_phi_two_pass(
    X, weight, lanes, center, theta, shift, series, inverse_scale=None
):
    """``(n, means [d, P0, P1, P2], comoments)`` of the lanes of a dense X by
    the two-pass method per row block (nothing cancels), merged by Chan's
    update (:func:`chan_merge`) in task order."""
    plan, block_rows, blocks = _dense_blocks(X, weight, lanes, inverse_scale)

    def task_moments(task):
        total = _empty_phi(lanes.n_lanes)
        work = Workspace(block_rows, lanes.n_lanes)
        for logs, w in blocks(task, work):
            block = _block_phi_moments(logs, w, center, theta, shift, series, work)
            total = chan_merge(total, _shifted_indices(block))
        return total

    total = _empty_phi(lanes.n_lanes)
    for part in map_blas_tasks(task_moments, plan.tasks()):
        total = chan_merge(total, part)
    return total


def moments_from_sums(n, sums):
    """``(moments, imprecise)``: the ``(n, means, comoments)`` of raw sums
    (:func:`dense_phi_sums`, of all the data) and whether any lane's
    variances lost more than 4 bits to cancellation there (the moments are
    then to be computed by :func:`dense_phi_two_pass`)."""
    result, imprecise = _moments_from_sums(n, sums)
    return result, bool(imprecise.any())


def dense_phi_moments(
    X, weight, lanes, center, theta, shift, series, inverse_scale=None
):
    """Moments of ``P0, P1, P2`` (and the mean of ``d``) of every lane of a
    dense X, over row blocks on the thread pool (the result does not depend
    on the number of threads). The logarithms are multiplied by
    ``inverse_scale`` (powers of two) first."""
    # Raw sums about the lanes' centres (the data's means: nothing cancels
    # but in skewed data), two passes per block where they lost precision.
    arguments = (X, weight, lanes, center, theta, shift, series, inverse_scale)
    result, imprecise = moments_from_sums(*dense_phi_sums(*arguments))
    return dense_phi_two_pass(*arguments) if imprecise else result


def sparse_phi_moments(
    values, lane, weight, zero_weight, lanes, center, theta, shift, series
):
    """:func:`dense_phi_moments` of the stored values of a sparse matrix
    (their logarithms ``values``, the ``lane`` of each, ``weight`` its row's
    weight or None), the implicit zeros of each column (``zero_weight``, a
    point ``L = 0`` on its positive lane) merged in analytically."""
    n_lanes = lanes.n_lanes
    d = values - center[lane]
    keep = ~np.isnan(d)
    d, lane = d[keep], lane[keep]
    w = None if weight is None else weight[keep]
    P = [
        part[0]
        for part in phi_moments(d[None, :], theta[lane], shift[lane], series[lane])
    ]
    n = np.bincount(lane, weights=w, minlength=n_lanes).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = [
            np.bincount(lane, weights=v if w is None else v * w, minlength=n_lanes) / n
            for v in (d, *P)
        ]
    means = [np.where(n > 0, m, 0.0) for m in means]
    dev = [v - m[lane] for v, m in zip(P, means[1:], strict=True)]
    wdev0 = dev[0] if w is None else dev[0] * w
    wdev1 = dev[1] if w is None else dev[1] * w
    comoments = {
        (1, 1): np.bincount(lane, weights=wdev0 * dev[0], minlength=n_lanes),
        (1, 2): np.bincount(lane, weights=wdev0 * dev[1], minlength=n_lanes),
        (1, 3): np.bincount(lane, weights=wdev0 * dev[2], minlength=n_lanes),
        (2, 2): np.bincount(lane, weights=wdev1 * dev[1], minlength=n_lanes),
    }
    total = (n, means, comoments)
    zeros_lane = np.zeros(n_lanes)
    positive = ~lanes.negative
    zeros_lane[positive] = zero_weight[lanes.columns[positive]]
    if zeros_lane.any():
        # Every implicit zero has L = 0: d = -center, one point per lane.
        point = phi_moments(
            -center[None, :], theta, shift, np.abs(theta * center) < _SERIES_LIMIT
        )
        zero_means = [-center] + [p[0] for p in point]
        zero_co = {key: np.zeros(n_lanes) for key in comoments}
        total = chan_merge(total, (zeros_lane, zero_means, zero_co))
    return total


# ---------------------------------------------------------------------------
# The summary pass: cumulant generating function and log variance on the grid
# ---------------------------------------------------------------------------


def _log_moments_from_sums(n, s1, s2, theta, center):
    """``(cgf, log variance)`` of ``T(theta, L)`` from sums of ``u = expm1(theta
    d)``: ``K = theta c + log1p(mean u)``, ``log var T = 2 theta c + log var
    u - 2 log|theta|``; also whether the raw sums lost precision."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        m2 = s2 - s1 * mean
        imprecise = (n > 0) & (s2 > _CANCELLATION_LIMIT * m2)
        cgf = theta * center + np.log1p(mean)
        log_variance = (
            2 * theta * center
            + np.log(np.maximum(m2, 0.0) / n)
            - 2 * np.log(abs(theta))
        )
    return cgf, log_variance, imprecise


def _two_pass_log_moments(d, weight, n, present, theta, center):
    """``(cgf, log variance)`` of ``T(theta, L)`` for one exponent, lanes
    given by the columns of ``d`` (deviations from ``center``, 0 where
    missing), by the two-pass method on values divided by ``exp(shift)``,
    ``shift`` the largest ``theta * d`` of each lane where positive."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        z = d * theta
        if present is not None:
            z = np.where(present, z, -np.inf)
        shift = np.maximum(np.max(z, axis=0, initial=-np.inf), 0.0)
        shift = np.where(np.isfinite(shift), shift, 0.0)
        e = np.where(shift > 0, np.exp(z - shift), np.expm1(z))
        if present is not None:
            e = np.where(present, e, 0.0)
        big = shift > 0
        mean = _weighted_sum(weight, e) / n
        deviation = e - mean
        if present is not None:
            deviation = np.where(present, deviation, 0.0)
        squares = deviation * deviation
        m2 = _weighted_sum(weight, squares) / n
        # exp(shift) * mean of exp(z - shift), or log1p of the mean of expm1.
        cgf = theta * center + np.where(big, shift + np.log(mean), np.log1p(mean))
        log_variance = (
            2 * theta * center
            + np.where(big, 2 * shift, 0.0)
            + np.log(m2)
            - 2 * np.log(np.abs(theta))
        )
    return cgf, log_variance


def block_summary(logs, weight, work=None):
    """The summary of one block of lane logarithms (``logs`` is overwritten).

    Returns ``(n, mean_log, cgf, log_variance)``: per lane the weight and
    mean of ``L``, and at each grid exponent the log of the mean of
    ``exp(theta L)`` and the log variance of ``T(theta, L)`` (at 0: of
    ``L``). The exponentials at successive grid points come from one
    ``expm1`` per value by the exact recurrence ``u_(k+1) = u_k * w + v``
    (``v = expm1(h d)``, ``w = 1 + v``), outward from 0 so that no step
    cancels; lanes whose exponentials could overflow are computed point by
    point with a per-lane shift.
    """
    n_rows, n_lanes = logs.shape
    if work is None:
        work = Workspace(n_rows, n_lanes)
    with np.errstate(invalid="ignore"):
        total = _weighted_sum(weight, logs)
    missing = None
    if np.isfinite(total).all():
        n = np.full(n_lanes, float(n_rows) if weight is None else float(weight.sum()))
    else:
        missing = np.isnan(logs)
        present = ~missing
        n = _weighted_sum(weight, present.astype(np.float64))
        total = _weighted_sum(weight, np.where(missing, 0.0, logs))
    K = len(GRID)
    with np.errstate(invalid="ignore", divide="ignore"):
        center = np.where(n > 0, total / n, 0.0)
    d = np.subtract(logs, center, out=logs)
    if missing is not None:
        d[missing] = 0.0
    square = work.get("square", n_rows)
    np.multiply(d, d, out=square)
    s1 = _weighted_sum(weight, d)
    s2 = _weighted_sum(weight, square)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_d = s1 / n
        mean_log = center + mean_d
        log_variance_zero = np.log(np.maximum(s2 - s1 * mean_d, 0.0) / n)
    reach = np.maximum(np.max(d, axis=0, initial=0.0), -np.min(d, axis=0, initial=0.0))
    wide = reach * max(abs(GRID[0]), abs(GRID[-1])) > _SAFE_EXPONENT / 2
    d_narrow = d
    if wide.any():
        d_narrow = np.where(wide, 0.0, d)
    sums = np.zeros((2, K, n_lanes))
    v, w, u = (work.get(name, n_rows) for name in ("v", "w", "u"))
    with np.errstate(over="ignore", invalid="ignore"):
        np.multiply(d_narrow, GRID_STEP, out=v)
        np.expm1(v, out=v)
        np.add(v, 1.0, out=w)
        for direction in (1, -1):
            if direction == -1:
                np.negative(v, out=v)
                v /= w  # expm1(-h d)
                np.divide(1.0, w, out=w)
            u[...] = 0.0
            step = GRID_STEP
            k = ZERO + direction
            while 0 <= k < K:
                while abs(GRID[k] - GRID[k - direction]) > step * 1.5:
                    # expm1(2a) = expm1(a) (expm1(a) + 2), exp(2a) = exp(a)**2.
                    v *= v + 2.0
                    w *= w
                    step *= 2
                u *= w
                u += v
                np.multiply(u, u, out=square)
                sums[0, k] = _weighted_sum(weight, u)
                sums[1, k] = _weighted_sum(weight, square)
                k += direction
            if direction == 1 and step != GRID_STEP:
                # Back to the first step for the other direction.
                np.multiply(d_narrow, GRID_STEP, out=v)
                np.expm1(v, out=v)
                np.add(v, 1.0, out=w)
    cgf, log_variance, imprecise = _log_moments_from_sums(
        n, sums[0], sums[1], GRID[:, None], center
    )
    log_variance[ZERO] = log_variance_zero
    cgf[ZERO] = 0.0
    imprecise[:, wide] = True
    imprecise[ZERO] = False
    for k in np.flatnonzero(imprecise.any(axis=1)):
        redo = np.flatnonzero(imprecise[k])
        cgf[k, redo], log_variance[k, redo] = _two_pass_log_moments(
            d[:, redo],
            weight,
            n[redo],
            None if missing is None else ~missing[:, redo],
            GRID[k],
            center[redo],
        )
    empty = n == 0
    if empty.any():
        mean_log[empty] = np.nan
        cgf[:, empty] = np.nan
        log_variance[:, empty] = np.nan
    return n, mean_log, cgf, log_variance


def _log_sum_exp(*terms):
    """``log(sum(exp(t)))`` of same-shaped arrays, -inf terms ignored."""
    stacked = np.stack(terms)
    top = np.max(stacked, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore", under="ignore", invalid="ignore"):
        return safe + np.log(np.sum(np.exp(stacked - safe), axis=0))


def log_abs_mean_difference(cgf_a, cgf_b, theta):
    """``log|m_a - m_b|`` for means ``m = expm1(K) / theta`` of two parts."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        top = np.maximum(cgf_a, cgf_b)
        gap = -np.abs(cgf_a - cgf_b)
        return top + np.log(-np.expm1(gap)) - np.log(np.abs(theta))


def merge_summaries(a, b):
    """Merge two ``(n, mean_log, cgf, log_variance)`` summaries of the same
    lanes (the grid on axis -2), in log space: the cumulant generating
    functions by a weighted log-sum-exp, the variances by Chan's update,
    whose squared difference of means ``(expm1(K_a) - expm1(K_b))**2 /
    theta**2`` is formed from ``K_a - K_b`` without cancellation."""
    n_a, mean_a, cgf_a, var_a = a
    n_b, mean_b, cgf_b, var_b = b
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        share_a = np.where(n > 0, n_a / np.where(n > 0, n, 1.0), 0.0)
        share_b = np.where(n > 0, n_b / np.where(n > 0, n, 1.0), 0.0)
        log_a, log_b = np.log(share_a), np.log(share_b)
        mean = np.where(
            n_a == 0,
            mean_b,
            np.where(n_b == 0, mean_a, mean_a * share_a + mean_b * share_b),
        )
    theta = GRID[:, None]
    log_a_k, log_b_k = log_a[..., None, :], log_b[..., None, :]
    with np.errstate(invalid="ignore"):
        cgf = np.logaddexp(log_a_k + cgf_a, log_b_k + cgf_b)
        log_diff = log_abs_mean_difference(cgf_a, cgf_b, theta)
        log_diff[..., ZERO, :] = np.log(np.abs(mean_a - mean_b))
    cgf[..., ZERO, :] = 0.0
    variance = _log_sum_exp(
        log_a_k + var_a, log_b_k + var_b, log_a_k + log_b_k + 2 * log_diff
    )
    only_b = (n_a == 0)[..., None, :]
    only_a = (n_b == 0)[..., None, :]
    cgf = np.where(only_b, cgf_b, np.where(only_a, cgf_a, cgf))
    variance = np.where(only_b, var_b, np.where(only_a, var_a, variance))
    return n, mean, cgf, variance


def dense_summary(X, weight, lanes):
    """The summary of every lane of a dense X, block by block on the pool."""
    plan = BlockPlan(*X.shape)
    block_rows = max(1, BLOCK_VALUES // max(1, lanes.n_lanes))

    def task_summary(task):
        total = None
        work = Workspace(block_rows, lanes.n_lanes)
        for rows in row_blocks(
            task.stop, 1, block_rows, start=task.start, stop=task.stop
        ):
            size = rows.stop - rows.start
            logs = lanes.logarithms(X[rows], out=work.get("logs", size))
            part = block_summary(logs, None if weight is None else weight[rows], work)
            total = part if total is None else merge_summaries(total, part)
        return total

    total = None
    for part in map_blas_tasks(task_summary, plan.tasks()):
        total = part if total is None else merge_summaries(total, part)
    if total is None:
        return empty_summary(lanes.n_lanes)
    return total


def empty_summary(n_lanes):
    return (
        np.zeros(n_lanes),
        np.full(n_lanes, np.nan),
        np.full((len(GRID), n_lanes), np.nan),
        np.full((len(GRID), n_lanes), np.nan),
    )


def sparse_summary(logs, lane, weight, n_lanes):
    """The summary of the stored values of a sparse matrix, lane by lane.

    The values are gathered into a dense ``(longest lane, lanes)`` layout
    only when that is compact; otherwise each lane is summarized on its own
    values (O(stored values) either way)."""
    keep = ~np.isnan(logs)
    logs, lane = logs[keep], lane[keep]
    w = None if weight is None else weight[keep]
    order = np.argsort(lane, kind="stable")
    logs, lane = logs[order], lane[order]
    w = None if w is None else w[order]
    counts = np.bincount(lane, minlength=n_lanes)
    starts = np.concatenate(([0], np.cumsum(counts)))
    total = empty_summary(n_lanes)
    longest = int(counts.max(initial=0))
    if longest == 0:
        return total
    # Lanes grouped by length (up to a factor 2), padded with NaN (weight 0).
    lengths = np.maximum(counts, 1)
    classes = np.floor(np.log2(lengths)).astype(int)
    for cls in np.unique(classes[counts > 0]):
        members = np.flatnonzero((classes == cls) & (counts > 0))
        width = int(counts[members].max())
        block = np.full((width, len(members)), np.nan)
        block_weight = None if w is None else np.zeros((width, len(members)))
        for position, member in enumerate(members):
            segment = slice(starts[member], starts[member + 1])
            block[: counts[member], position] = logs[segment]
            if w is not None:
                block_weight[: counts[member], position] = w[segment]
        part = _weighted_block_summary(block, block_weight)
        for field, values in zip(total, part, strict=True):
            field[..., members] = values
    return total


def _weighted_block_summary(block, block_weight):
    """:func:`block_summary` of lanes with per-value weights (``None``:
    unweighted): weighted lanes are summarized one by one."""
    if block_weight is None:
        return block_summary(block, None)
    parts = [
        block_summary(block[:, [j]], block_weight[:, j]) for j in range(block.shape[1])
    ]
    return tuple(np.concatenate(p, axis=-1) for p in zip(*parts, strict=True))
