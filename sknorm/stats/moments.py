"""Weighted, NaN-aware first and second moments per column."""

import numpy as np

from .._array_api import DEVICE_BLOCK_ELEMENTS, to_numpy
from .._kernels import kernels
from .._parallel import BLOCK_ELEMENTS, BlockPlan, fold
from .._validation import is_sparse
from ._base import (
    Statistic,
    equal_weight_unit,
    equal_weights_as_rows,
    implicit_zero_weight,
    plus_shift,
    shift_parts,
    sparse_entries,
)
from .extrema import Extrema

__all__ = ["Moments"]

#: The fast paths accumulate, per column, ``s1`` and ``q``: the sums of the
#: deviations from a center and of their squares, and derive ``m2 = q - s1**2 /
#: n``, whose rounding error is a few ``eps * q``. Where ``q`` exceeds ``m2``
#: more than this many times (the center lies more than about four standard
#: deviations from the mean) the statistics are recomputed by the corrected
#: two-pass method, so that at most 4 bits are ever lost to cancellation.
CANCELLATION_LIMIT = 16.0

#: Stored values of a sparse matrix processed at once (bounds the temporaries).
_SPARSE_CHUNK = BLOCK_ELEMENTS


def _merge_moments(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan, Golub and LeVeque's pairwise update (exact in exact arithmetic).

    Columns with no weight on one side take the other side's values unchanged,
    so an empty chunk never turns a mean into NaN.
    """
    n = n_a + n_b
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = mean_b - mean_a
        share_b = n_b / n
        mean = mean_a + delta * share_b
        m2 = m2_a + m2_b + delta * delta * (n_a * share_b)
    mean = np.where(n_a == 0, mean_b, np.where(n_b == 0, mean_a, mean))
    m2 = np.where(n_a == 0, m2_b, np.where(n_b == 0, m2_a, m2))
    return n, mean, m2


def _moments_from_sums(n, s1, q):
    """Mean (relative to the center) and M2 from shifted sums, and the columns
    whose sums were not precise enough (see ``CANCELLATION_LIMIT``)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        has_data = n > 0
        mean = np.where(has_data, s1 / np.where(has_data, n, 1.0), 0.0)
        m2 = np.where(has_data, q - s1 * mean, 0.0)
        imprecise = has_data & np.isfinite(q) & (q > CANCELLATION_LIMIT * m2)
    return mean, np.maximum(m2, 0.0), imprecise


def _block_moments(block, weight):
    """Weight, mean and M2 of one cache-sized block, by the corrected two-pass method.

    The second pass re-reads the block while it is still in cache; the
    correction term removes the first-order error of the computed mean.
    """
    n_rows = block.shape[0]
    if weight is None:
        total = block.sum(axis=0, dtype=np.float64)
        if np.isfinite(total).all():
            n = np.full(block.shape[1], float(n_rows))
            mean = total / n_rows
            deviation = block - mean
            resid = deviation.sum(axis=0)
            m2 = np.einsum("ij,ij->j", deviation, deviation) - resid * resid / n_rows
            return n, mean, np.maximum(m2, 0.0)
        missing = np.isnan(block)
        n = n_rows - missing.sum(axis=0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(missing, 0.0, block).sum(axis=0, dtype=np.float64) / n
        deviation = block - mean
        deviation[missing] = 0.0
        resid = deviation.sum(axis=0)
    else:
        missing = np.isnan(block)
        has_missing = missing.any()
        if has_missing:
            present = np.where(missing, 0.0, block)
            n = weight @ ~missing
        else:
            present = block
            n = np.full(block.shape[1], weight.sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (weight @ present) / n
        deviation = block - mean
        if has_missing:
            deviation[missing] = 0.0
        resid = weight @ deviation
        deviation *= deviation
        m2 = weight @ deviation
        with np.errstate(invalid="ignore", divide="ignore"):
            m2 = np.where(n > 0, m2 - resid * resid / n, 0.0)
        return n, np.where(n > 0, mean, np.nan), np.maximum(m2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m2 = np.einsum("ij,ij->j", deviation, deviation) - np.where(
            n > 0, resid * resid / n, 0.0
        )
    return n, mean, np.maximum(m2, 0.0)


#: Rows whose mean centers a task's shifted sums: any center within a few
#: standard deviations of the task's mean keeps them precise.
_CENTER_ROWS = 64


def _center_of(block, weight):
    """A per-column center close to the values of ``block``: its mean, NaN
    ignored. Non-finite means (all-NaN columns, infinity) become 0, so that
    subtracting the center never turns an infinite value into NaN."""
    with np.errstate(all="ignore"):
        if weight is None:
            center = block.sum(axis=0, dtype=np.float64) / block.shape[0]
            if np.isfinite(center).all():
                return center
        present = ~np.isnan(block)
        values = np.where(present, block, 0.0)
        if weight is None:
            center = values.sum(axis=0, dtype=np.float64) / present.sum(axis=0)
        else:
            center = (weight @ values) / (weight @ present)
    return np.nan_to_num(center, nan=0.0, posinf=0.0, neginf=0.0)


def _block_sums(block, center, weight, d):
    """``(n, sum(x - c), sum((x - c)**2))`` per column of one block, NaN skipped.

    ``d`` is scratch space of the block's shape. Blocks without NaN (the common
    case) cost one subtraction, one squaring and two column sums, all on data
    already in cache; only a block whose sums are not finite is redone with its
    missing values masked.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        np.subtract(block, center, out=d)
        s1 = np.add.reduce(d, axis=0) if weight is None else weight @ d
        np.multiply(d, d, out=d)
        q = np.add.reduce(d, axis=0) if weight is None else weight @ d
        if np.isfinite(q).all():
            n = float(block.shape[0]) if weight is None else float(weight.sum())
            return n, s1, q
        np.subtract(block, center, out=d)
        missing = np.isnan(d)
        np.copyto(d, 0.0, where=missing)
        if weight is None:
            n = block.shape[0] - missing.sum(axis=0).astype(np.float64)
            s1 = np.add.reduce(d, axis=0)
        else:
            n = weight @ ~missing
            s1 = weight @ d
        np.multiply(d, d, out=d)
        q = np.add.reduce(d, axis=0) if weight is None else weight @ d
    return n, s1, q


def _task_sums(X, blocks, plan, center, weights):
    """``(n, s1, q)`` of :func:`_block_sums` summed over ``blocks`` of X."""
    n_cols = plan.n_cols
    wide_center = np.tile(center, plan.lanes)
    scratch = np.empty(plan.block_rows * n_cols)
    n, s1, q = np.zeros(n_cols), np.zeros(n_cols), np.zeros(n_cols)
    for rows in blocks:
        block, lanes = X[rows], 1
        if weights(rows) is None:
            block, lanes = plan.widen(block)
        block_n, block_s1, block_q = _block_sums(
            block,
            wide_center if lanes > 1 else center,
            weights(rows),
            scratch[: block.size].reshape(block.shape),
        )
        if np.ndim(block_n) == 0:  # the same weight in every column
            n += block_n * lanes
        else:
            np.add(n, fold(block_n, lanes, np.add), out=n)
        np.add(s1, fold(block_s1, lanes, np.add), out=s1)
        np.add(q, fold(block_q, lanes, np.add), out=q)
    return n, s1, q


def _task_moments(X, task, plan, shift, sample_weight):
    """Weight, mean relative to ``shift`` and M2 of the rows ``task`` of X.

    Fast path: sums of deviations from a center (the mean of the task's first
    block), accumulated block by block. When cancellation would cost
    precision, the task is redone block by block with the corrected two-pass
    method and Chan's merge.
    """
    n_cols = plan.n_cols
    blocks = list(plan.blocks(task))

    def weights(rows):
        return None if sample_weight is None else sample_weight[rows]

    head = slice(task.start, min(task.start + _CENTER_ROWS, task.stop))
    center = shift if task.start == 0 else _center_of(X[head], weights(head))
    compiled = kernels("dense")
    if compiled is not None and compiled.accepts(X):
        n, s1, q = compiled.shifted_sums(X[task], center, weights(task))
    else:
        n, s1, q = _task_sums(X, blocks, plan, center, weights)
    mean, m2, imprecise = _moments_from_sums(n, s1, q)
    if not imprecise.any():
        with np.errstate(invalid="ignore"):
            return n, (center - shift) + mean, m2
    n, mean, m2 = np.zeros(n_cols), np.full(n_cols, np.nan), np.zeros(n_cols)
    for rows in blocks:
        block_moments = _block_moments(X[rows] - shift, weights(rows))
        n, mean, m2 = _merge_moments(n, mean, m2, *block_moments)
    return n, mean, m2


def _first_stored_values(values, columns, n_cols):
    """Per column, its first stored non-NaN value (0 for a column without one):
    a center close to the column's values, for shifted sums."""
    first = np.zeros(n_cols)
    present = ~np.isnan(values)
    # Assignments run in order: writing in reverse leaves each column's first.
    first[columns[present][::-1]] = values[present][::-1]
    return first


def _sparse_sums(values, columns, weight, n_cols, center, zero_weight, has_missing):
    """``(sum w (x - c), sum w (x - c)**2)`` per column over stored values
    (NaN skipped) and implicit zeros, in chunks of stored values."""
    shifted = bool(np.any(center != 0))
    compiled = kernels("sparse")
    if compiled is not None and compiled.accepts(values):
        s1, q = compiled.column_sums(
            values, columns, weight, n_cols, center if shifted else None
        )
    else:
        s1, q = _chunked_sparse_sums(
            values, columns, weight, n_cols, center, shifted, has_missing
        )
    # Each implicit zero deviates from the center by -center.
    with np.errstate(over="ignore", invalid="ignore"):
        s1 -= zero_weight * center
        q += zero_weight * (center * center)
    return s1, q


def _chunked_sparse_sums(values, columns, weight, n_cols, center, shifted, has_missing):
    """The stored values' part of :func:`_sparse_sums`, by ``np.bincount``."""
    s1, q = np.zeros(n_cols), np.zeros(n_cols)
    step = max(_SPARSE_CHUNK, n_cols)
    for start in range(0, len(values), step):
        chunk = slice(start, start + step)
        x = values[chunk].astype(np.float64, copy=False)
        c = columns[chunk].astype(np.intp, copy=False)
        w = None if weight is None else weight[chunk]
        if has_missing:
            missing = np.isnan(x)
            if missing.any():
                x, c = x[~missing], c[~missing]
                w = None if w is None else w[~missing]
        d = x - center[c] if shifted else x
        wd = d if w is None else w * d
        s1 += np.bincount(c, weights=wd, minlength=n_cols)
        with np.errstate(over="ignore", invalid="ignore"):
            q += np.bincount(c, weights=wd * d, minlength=n_cols)
    return s1, q


def _sparse_moments(X, weight):
    """Weight, mean and M2 of the columns of a CSR/CSC matrix.

    Shifted sums, the implicit zeros counted analytically: around 0 for
    columns mostly of zeros (the zeros then add weight only), around the first
    stored value for the others, whose zeros' weight is then exact. Columns
    where the shift lies far from the mean (cancellation, see
    ``CANCELLATION_LIMIT``) are redone around their mean: the corrected
    two-pass method, as for dense data. A column whose values are all equal
    gets M2 exactly 0.
    """
    values, columns, entry_weight, total_weight = sparse_entries(X, weight)
    n_rows, n_cols = X.shape
    compiled = kernels("sparse")
    if compiled is not None and compiled.accepts(values):
        tallies = compiled.column_tallies(values, columns, entry_weight, n_cols)
        stored, stored_positive, stored_weight, nan_count, nan_weight, s1, q = tallies
        stored_counts = (stored, stored_positive, stored_weight)
        has_missing = bool(nan_count.any())
    else:
        columns = columns.astype(np.intp, copy=False)
        stored_counts = s1 = q = None
        with np.errstate(over="ignore", invalid="ignore"):
            has_missing = not np.isfinite(values.sum()) and bool(np.isnan(values).any())
        stored_weight = np.bincount(
            columns, weights=entry_weight, minlength=n_cols
        ).astype(np.float64)
        nan_weight, nan_count = 0.0, None
        if has_missing:
            missing = np.isnan(values)
            nan_weight = np.bincount(
                columns[missing],
                None if entry_weight is None else entry_weight[missing],
                minlength=n_cols,
            )
            nan_count = np.bincount(columns[missing], minlength=n_cols)
    # Columns mostly stored are shifted by a stored value: their zeros' weight
    # multiplies it, so it must be exact.
    mostly_stored = 2 * stored_weight > total_weight
    zero_weight = implicit_zero_weight(
        X,
        weight,
        entries=(columns, entry_weight),
        exact=mostly_stored,
        stored_counts=stored_counts,
    )
    n = np.maximum(zero_weight + stored_weight - nan_weight, 0.0)
    if has_missing:
        # A column of NaN only has exactly no weight (no rounding residue).
        n[nan_count == n_rows] = 0.0
    center = np.zeros(n_cols)
    if mostly_stored.any() or s1 is None:
        # (The tallies' sums are around 0, the center of the other columns.)
        if mostly_stored.any():
            first = _first_stored_values(values, columns, n_cols)
            center = np.where(mostly_stored, first, 0.0)
        s1, q = _sparse_sums(
            values, columns, entry_weight, n_cols, center, zero_weight, has_missing
        )
    mean, m2, imprecise = _moments_from_sums(n, s1, q)
    mean = mean + center
    if imprecise.any():
        redo = np.flatnonzero(imprecise)
        center = np.where(imprecise, mean, 0.0)
        s1, q = _sparse_sums(
            values, columns, entry_weight, n_cols, center, zero_weight, has_missing
        )
        again, m2_again, _ = _moments_from_sums(n, s1, q)
        mean[redo] = center[redo] + again[redo]
        m2[redo] = m2_again[redo]
    return n, np.where(n > 0, mean, np.nan), m2


#: Columns whose variance falls below this (standard deviation below 2**-450)
#: may have lost precision to underflowing squares; they are recomputed on
#: data scaled by a power of two (exactly constant columns are found instead).
_TINY_VARIANCE = 2.0**-900


def _dense_moments(X, weight):
    """Weight, mean and M2 of the columns of a dense array (NaN ignored)."""
    plan = BlockPlan(*X.shape)
    tasks = plan.tasks()
    if not tasks:
        return (
            np.zeros(plan.n_cols),
            np.full(plan.n_cols, np.nan),
            np.zeros(plan.n_cols),
        )
    # Means are accumulated relative to one shift (the first rows' mean):
    # merging tasks whose means are large and close would otherwise lose
    # their difference to rounding (a mean carries an error of ulp(mean)).
    head = slice(0, _CENTER_ROWS)
    shift = _center_of(X[head], None if weight is None else weight[head])
    parts = plan.map(lambda task: _task_moments(X, task, plan, shift, weight))
    n, mean, m2 = parts[0]
    for part in parts[1:]:
        n, mean, m2 = _merge_moments(n, mean, m2, *part)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, mean + shift, np.nan)
    return n, mean, m2


def _device_moments(X, namespace):
    """Count, mean and M2 of the columns of an array API array, on its device.

    The corrected two-pass method per row block (in the device's float64),
    the blocks merged by Chan's update; only the per-column results come to
    the host. NaN and infinity propagate: such columns come back non-finite
    (and are recomputed on the host by the caller).
    """
    xp, dtype = namespace.xp, namespace.float_dtype
    n_rows, n_cols = X.shape
    step = max(1, DEVICE_BLOCK_ELEMENTS // max(1, n_cols))
    n, mean, m2 = 0.0, None, None
    for start in range(0, n_rows, step):
        block = xp.astype(X[start : min(start + step, n_rows), :], dtype)
        n_block = float(block.shape[0])
        block_mean = xp.sum(block, axis=0) / n_block
        deviation = block - block_mean
        residual = xp.sum(deviation, axis=0)
        block_m2 = xp.sum(deviation * deviation, axis=0) - residual * residual / n_block
        block_mean = block_mean + residual / n_block
        if mean is None:
            n, mean, m2 = n_block, block_mean, block_m2
            continue
        total = n + n_block
        delta = block_mean - mean
        mean = mean + delta * (n_block / total)
        m2 = m2 + block_m2 + delta * delta * (n * n_block / total)
        n = total
    mean = to_numpy(mean).astype(np.float64)
    m2 = np.maximum(to_numpy(m2).astype(np.float64), 0.0)
    return np.full(n_cols, n), mean, m2


def _raw_moments(X, weight):
    if is_sparse(X):
        return _sparse_moments(X, weight)
    return _dense_moments(np.asarray(X), weight)


def _rescaled_moments(X, weight, columns):
    """Mean, variance and exponent of ``columns`` of X, computed on the columns
    divided by a power of two near their largest absolute value.

    For columns whose squares or sums overflow, or whose squared deviations
    underflow: the scaling is exact, so the mean and variance are those of the
    data, stored as ``mean * 2**exponent`` and ``variance * 4**exponent``.
    Exactly constant columns get their value as mean and variance 0; columns
    holding infinity are left as they are (the fit then rejects them).
    """
    part = X[:, columns]
    if weight is not None and not np.all(weight > 0):
        # Rows of zero weight count for nothing, but scaled by the kept rows'
        # exponent their squares could overflow to inf, and 0 * inf is NaN.
        keep = weight > 0
        part, weight = part[keep], weight[keep]
    if is_sparse(part):
        part = part.tocsc()
    extrema = Extrema.from_data(part, weight)
    largest = extrema.max_abs()
    constant = extrema.minimum == extrema.maximum
    scalable = np.isfinite(largest) & (largest > 0) & ~constant
    exponent = np.where(scalable, np.frexp(np.where(scalable, largest, 1.0))[1], 0)
    if is_sparse(part):
        scaled = part.astype(np.float64)  # a copy, in CSC order
        counts = np.diff(scaled.indptr)
        scaled.data = np.ldexp(scaled.data, -np.repeat(exponent, counts))
    else:
        scaled = np.ldexp(np.asarray(part, dtype=np.float64), -exponent[None, :])
    n, mean, m2 = _raw_moments(scaled, weight)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.where(n > 0, m2 / np.where(n > 0, n, 1.0), 0.0)
    # The mean stays in units of 2**exponent: in real units a mean below the
    # normal range would be rounded to the subnormal grid.
    mean = np.where(constant, extrema.minimum, mean)
    variance = np.where(constant, 0.0, variance)
    return (
        mean,
        variance,
        np.where(constant, 0, exponent).astype(np.float64),
        scalable | constant,
    )


def _merged(n_a, mean_a, var_a, exp_a, n_b, mean_b, var_b, exp_b):
    """Chan, Golub and LeVeque's pairwise update of (weight, mean, variance).

    Means are stored as ``mean * 2**exponent`` and variances as ``variance *
    4**exponent``. The means are brought to the exponent of the larger of
    them (so that neither is rounded to the subnormal grid nor overflows);
    the variance is merged in a common exponent (the largest of the parts
    that carry spread, and the difference of the means'), in which the mean
    is returned. The weights enter only as shares, so neither huge weights
    nor huge values overflow. Columns without weight on one side take the
    other side's values.
    """
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        largest = np.maximum(n_a, n_b)
        safe = np.where(largest > 0, largest, 1.0)
        a, b = n_a / safe, n_b / safe
        share_b = b / np.where(a + b > 0, a + b, 1.0)
        share_a = 1.0 - share_b
        n = n_a + n_b
        # The exponent of the larger mean (of the larger exponent where both
        # means are 0): both means in its units are at most 1.
        size_a = np.where(mean_a != 0, np.frexp(mean_a)[1] + exp_a, exp_a)
        size_b = np.where(mean_b != 0, np.frexp(mean_b)[1] + exp_b, exp_b)
        mean_exp = np.fmax(size_a, size_b)
        mean_exp = np.where(np.isfinite(mean_exp), mean_exp, 0.0)
        unit_a = np.ldexp(mean_a, (exp_a - mean_exp).astype(np.int64))
        unit_b = np.ldexp(mean_b, (exp_b - mean_exp).astype(np.int64))
        half_delta = unit_b / 2 - unit_a / 2
        mean = unit_a + 2 * (half_delta * share_b)
        delta_exp = np.where(
            half_delta != 0,
            np.frexp(np.where(half_delta != 0, half_delta, 1))[1] + 1 + mean_exp,
            -np.inf,
        )
        exponent = np.fmax(
            np.fmax(
                np.where(var_a > 0, exp_a, -np.inf), np.where(var_b > 0, exp_b, -np.inf)
            ),
            delta_exp,
        )
        exponent = np.where(np.isfinite(exponent), exponent, 0.0)
        delta = np.ldexp(half_delta, (1 + mean_exp - exponent).astype(np.int64))
        variance = (
            share_a * np.ldexp(var_a, (2 * (exp_a - exponent)).astype(np.int64))
            + share_b * np.ldexp(var_b, (2 * (exp_b - exponent)).astype(np.int64))
            + delta * delta * (share_a * share_b)
        )
        mean = np.ldexp(mean, (mean_exp - exponent).astype(np.int64))
    only_b, only_a = n_a == 0, n_b == 0
    mean = np.where(only_b, mean_b, np.where(only_a, mean_a, mean))
    variance = np.where(only_b, var_b, np.where(only_a, var_a, variance))
    exponent = np.where(only_b, exp_b, np.where(only_a, exp_a, exponent))
    return n, mean, variance, exponent


class Moments(Statistic):
    """Weighted count, mean and variance per column.

    NaN values are ignored: each column has its own weighted count. ``merge``
    uses the pairwise update of Chan, Golub and LeVeque (1983), exact in exact
    arithmetic, so moments computed over chunks and merged equal the moments of
    all the data to rounding. Every finite input gives finite, correct moments:
    columns whose squares would overflow or underflow are computed on data
    scaled by a power of two (exactly), and the mean and variance are stored
    as ``scaled_mean * 2**exponent`` and ``scaled_variance * 4**exponent``:
    the variance may lie outside the float64 range (``[1e300, -1e300]``)
    although the standard deviation does not, and a mean or standard
    deviation of subnormal data (``[3, 7, 1, 9, 2] * 5e-324``) would be
    rounded to the subnormal grid in real units.
    Weights are normalized by a power of two before use, so the moments depend
    on the relative weights only; ``weight_sum`` is in the caller's units.

    Parameters
    ----------
    weight_sum : ndarray of shape (n_features,)
        Total weight of the non-missing values of each column (their count when
        unweighted).
    scaled_mean : ndarray of shape (n_features,)
        Weighted mean of each column divided by ``2**exponent`` (NaN for a
        column with no data); :attr:`mean` is the mean itself.
    scaled_variance : ndarray of shape (n_features,)
        Weighted population variance divided by ``4**exponent``.
    exponent : ndarray of shape (n_features,)
        Power-of-two scale of each column's values (integers; 0 for data of
        ordinary magnitude, and often others after a merge).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import Moments
    >>> X = np.array([[1.0, 2.0], [3.0, np.nan], [5.0, 6.0]])
    >>> m = Moments.from_data(X[:1]).merge(Moments.from_data(X[1:]))
    >>> m.mean
    array([3., 4.])
    >>> m.variance()
    array([2.66666667, 4.        ])
    >>> m.weight_sum
    array([3., 2.])

    Magnitudes whose variance overflows keep a finite standard deviation:

    >>> big = Moments.from_data(np.array([[1e300], [-1e300]]))
    >>> big.std(), big.variance()
    (array([1.e+300]), array([inf]))
    """

    _fields = ("weight_sum", "scaled_mean", "scaled_variance", "exponent")
    reveals_infinity = True

    #: Relative rounding error of the standard deviation next to the mean: the
    #: corrected two-pass moments of exactly constant data come out within a
    #: few ulps of the mean (a mean rounds to within half an ulp; chunks and
    #: partitions merged add a few more), so a standard deviation of at most
    #: this times ``|mean|`` cannot be told from zero.
    spread_rounding = 4 * np.finfo(np.float64).eps

    @classmethod
    def from_data(cls, X, sample_weight=None):
        """Compute the moments of a dense or CSR/CSC matrix in one pass.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            Data; float32 input is read as it is and accumulated in float64.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        Moments
        """
        X, weight, weight_unit = equal_weights_as_rows(X, sample_weight)
        if not is_sparse(X):
            X = np.asarray(X)
        n, mean, m2 = _raw_moments(X, weight)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(n > 0, m2 / np.where(n > 0, n, 1.0), 0.0)
        exponent = np.zeros(len(n))
        with np.errstate(invalid="ignore"):
            suspect = (n > 0) & (
                ~np.isfinite(variance)
                | ~np.isfinite(mean)
                | (variance < _TINY_VARIANCE)
            )
        if suspect.any():
            columns = np.flatnonzero(suspect)
            new_mean, new_variance, new_exponent, done = _rescaled_moments(
                X, weight, columns
            )
            columns = columns[done]
            mean[columns] = new_mean[done]
            variance[columns] = new_variance[done]
            exponent[columns] = new_exponent[done]
        return cls(
            weight_sum=n * weight_unit,
            scaled_mean=mean,
            scaled_variance=variance,
            exponent=exponent,
        )

    @classmethod
    def from_device(cls, data, sample_weight=None):
        """The moments of array API input, reduced on its device in float64.

        Columns whose device result is not finite (NaN, which the host path
        ignores; infinity; overflowing squares) or whose variance is below
        ``2**-900`` (squares that may underflow) are recomputed on the host
        from those columns only, by :meth:`from_data`. The host computes
        everything for unequal weights, and on devices without float64.
        """
        unit = equal_weight_unit(sample_weight)
        if unit is None or not data.namespace.has_float64:
            return cls.from_data(data.host(), sample_weight)
        n, mean, m2 = _device_moments(data.array, data.namespace)
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = m2 / n
            suspect = (
                ~np.isfinite(variance)
                | ~np.isfinite(mean)
                | (variance < _TINY_VARIANCE)
            )
        exponent = np.zeros(len(n))
        if suspect.any():
            columns = np.flatnonzero(suspect)
            host = cls.from_data(data.host_columns(columns))
            n[columns] = host.weight_sum
            mean[columns] = host.scaled_mean
            variance[columns] = host.scaled_variance
            exponent[columns] = host.exponent
        return cls(
            weight_sum=n * unit,
            scaled_mean=mean,
            scaled_variance=variance,
            exponent=exponent,
        )

    def merge(self, other):
        """Return the moments of the union of both data sets (Chan et al.)."""
        self._check_mergeable(other)
        n, mean, variance, exponent = _merged(
            self.weight_sum,
            self.scaled_mean,
            self.scaled_variance,
            self.exponent,
            other.weight_sum,
            other.scaled_mean,
            other.scaled_variance,
            other.exponent,
        )
        return type(self)(
            weight_sum=n, scaled_mean=mean, scaled_variance=variance, exponent=exponent
        )

    def reweighted(self, factor):
        """The moments with every row's weight times ``factor`` (> 0).

        The mean and variance depend on relative weights only, so only
        ``weight_sum`` changes: exact.

        Examples
        --------
        >>> from sknorm.stats import Moments
        >>> Moments.from_data([[1.0], [3.0]]).reweighted(0.5).weight_sum
        array([1.])
        """
        factor = self._check_factor(factor)
        return type(self)(
            weight_sum=self.weight_sum * factor,
            scaled_mean=self.scaled_mean.copy(),
            scaled_variance=self.scaled_variance.copy(),
            exponent=self.exponent.copy(),
        )

    @property
    def mean(self):
        """Per-column weighted mean (NaN without data), rounded to float64: a
        mean below the normal range loses bits that :attr:`scaled_mean`
        keeps."""
        with np.errstate(over="ignore", under="ignore"):
            return np.ldexp(self.scaled_mean, self.exponent.astype(np.int64))

    def shifted(self, shift):
        """The moments of the data plus ``shift`` (per column): the mean moves,
        in its units of ``2**exponent`` (see :meth:`Statistic.shifted`)."""
        high, low = shift_parts(shift)
        moved = high != 0
        with np.errstate(over="ignore", under="ignore"):
            exponent = -self.exponent.astype(np.int64)
            step = plus_shift(
                self.scaled_mean, *(np.ldexp(p, exponent) for p in (high, low))
            )
        return type(self)(
            weight_sum=self.weight_sum.copy(),
            scaled_mean=np.where(moved, step, self.scaled_mean),
            scaled_variance=self.scaled_variance.copy(),
            exponent=self.exponent.copy(),
        )

    def scaled_std(self, ddof=0):
        """Per-column standard deviation divided by ``2**exponent`` (NaN without
        data): the standard deviation with all its bits where it lies below
        the normal range."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(self.scaled_variance * self._ddof_factor(ddof))

    def _ddof_factor(self, ddof):
        """``weight_sum / (weight_sum - ddof)``: the population variance's
        factor to the one with ``ddof`` degrees of freedom removed."""
        n = self.weight_sum
        if ddof == 0:
            return np.where(n > 0, 1.0, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = n - ddof
            factor = n / np.where(denominator > 0, denominator, 1)
        factor = np.where(np.isinf(n), 1.0, factor)
        return np.where(denominator > 0, factor, np.nan)

    def variance(self, ddof=0):
        """Per-column variance ``m2 / (weight_sum - ddof)`` (NaN without data).

        Infinite (or 0) where the variance lies outside the float64 range;
        :meth:`std` is finite for every finite input.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return np.ldexp(
                self.scaled_variance * self._ddof_factor(ddof),
                (2 * self.exponent).astype(np.int64),
            )

    def std(self, ddof=0):
        """Per-column standard deviation ``sqrt(variance(ddof))`` (NaN without
        data), computed without overflow or underflow."""
        return np.ldexp(self.scaled_std(ddof), self.exponent.astype(np.int64))

    @property
    def m2(self):
        """Weighted sum of squared deviations from the mean (may overflow; 0
        for a column without data)."""
        with np.errstate(over="ignore", invalid="ignore"):
            m2 = self.variance() * self.weight_sum
        return np.where(self.weight_sum > 0, m2, 0.0)
