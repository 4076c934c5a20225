"""Weighted, NaN-aware first and second moments per column."""

import numpy as np

from .._parallel import BLOCK_ELEMENTS, BlockPlan, fold
from .._validation import is_sparse
from ._base import Statistic, sparse_entries

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
    """Mean (relative to the center) and M2 from shifted sums, and whether the
    sums were precise enough (see ``CANCELLATION_LIMIT``)."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        has_data = n > 0
        mean = np.where(has_data, s1 / np.where(has_data, n, 1.0), 0.0)
        m2 = np.where(has_data, q - s1 * mean, 0.0)
        imprecise = has_data & np.isfinite(q) & (q > CANCELLATION_LIMIT * m2)
    return mean, np.maximum(m2, 0.0), not imprecise.any()


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
    wide_center = np.tile(center, plan.lanes)
    scratch = np.empty(plan.block_rows * n_cols)
    n, s1, q = np.zeros(n_cols), np.zeros(n_cols), np.zeros(n_cols)
    for rows in blocks:
        block, lanes = X[rows], 1
        if sample_weight is None:
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
    mean, m2, precise = _moments_from_sums(n, s1, q)
    if precise:
        with np.errstate(invalid="ignore"):
            return n, (center - shift) + mean, m2
    n, mean, m2 = np.zeros(n_cols), np.full(n_cols, np.nan), np.zeros(n_cols)
    for rows in blocks:
        block_moments = _block_moments(X[rows] - shift, weights(rows))
        n, mean, m2 = _merge_moments(n, mean, m2, *block_moments)
    return n, mean, m2


def _two_pass_sparse(values, columns, entry_weight, n, stored_weight):
    """Mean and M2 of sparse columns by the two-pass method, NaN ignored.

    The stored entries contribute their squared deviations from the mean,
    every implicit zero ``mean**2`` times the zeros' total weight.
    """
    n_cols = len(n)
    present = ~np.isnan(values)
    if not present.all():
        values, columns = values[present], columns[present]
        entry_weight = None if entry_weight is None else entry_weight[present]
    values = values.astype(np.float64, copy=False)
    weighted = values if entry_weight is None else entry_weight * values
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(columns, weights=weighted, minlength=n_cols) / n
    mean = np.where(n > 0, mean, 0.0)
    deviation = values - mean[columns]
    squares = deviation * deviation
    if entry_weight is not None:
        squares *= entry_weight
    zero_weight = np.maximum(n - stored_weight, 0.0)
    m2 = np.bincount(columns, weights=squares, minlength=n_cols)
    return mean, m2 + zero_weight * mean**2


class Moments(Statistic):
    """Weighted count, mean and sum of squared deviations (M2) per column.

    NaN values are ignored: each column has its own weighted count. ``merge``
    uses the pairwise update of Chan, Golub and LeVeque (1983), exact in exact
    arithmetic, so moments computed over chunks and merged equal the moments of
    all the data to rounding.

    Parameters
    ----------
    weight_sum : ndarray of shape (n_features,)
        Total weight of the non-missing values of each column (their count when
        unweighted).
    mean : ndarray of shape (n_features,)
        Weighted mean of each column (NaN for a column with no data).
    m2 : ndarray of shape (n_features,)
        Weighted sum of squared deviations from the mean.

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
    """

    _fields = ("weight_sum", "mean", "m2")
    reveals_infinity = True

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
        if is_sparse(X):
            return cls._from_sparse(X, sample_weight)
        X = np.asarray(X)
        plan = BlockPlan(*X.shape)
        tasks = plan.tasks()
        if not tasks:
            return cls(
                weight_sum=np.zeros(plan.n_cols),
                mean=np.full(plan.n_cols, np.nan),
                m2=np.zeros(plan.n_cols),
            )
        # Means are accumulated relative to one shift (the first rows' mean):
        # merging tasks whose means are large and close would otherwise lose
        # their difference to rounding (a mean carries an error of ulp(mean)).
        head = slice(0, _CENTER_ROWS)
        shift = _center_of(
            X[head], None if sample_weight is None else sample_weight[head]
        )
        parts = plan.map(
            lambda task: _task_moments(X, task, plan, shift, sample_weight)
        )
        n, mean, m2 = parts[0]
        for part in parts[1:]:
            n, mean, m2 = _merge_moments(n, mean, m2, *part)
        with np.errstate(invalid="ignore"):
            mean = np.where(n > 0, mean + shift, np.nan)
        return cls(weight_sum=n, mean=mean, m2=m2)

    @classmethod
    def _from_sparse(cls, X, sample_weight):
        """Moments of the stored values, the implicit zeros counted analytically.

        Fast path: sums of the values and of their squares per column (the
        center is 0, where the implicit zeros already are), in chunks of
        stored values. Columns whose mean is large against their spread are
        then recomputed by the two-pass method.
        """
        values, columns, entry_weight, total_weight = sparse_entries(X, sample_weight)
        n_cols = X.shape[1]
        stored, s1, q = np.zeros(n_cols), np.zeros(n_cols), np.zeros(n_cols)
        missing_weight = np.zeros(n_cols)
        missing_count = np.zeros(n_cols, dtype=np.int64)
        for start in range(0, len(values), max(_SPARSE_CHUNK, n_cols)):
            chunk = slice(start, start + max(_SPARSE_CHUNK, n_cols))
            x = values[chunk].astype(np.float64, copy=False)
            c = columns[chunk].astype(np.intp, copy=False)
            w = None if entry_weight is None else entry_weight[chunk]
            with np.errstate(over="ignore", invalid="ignore"):
                finite = np.isfinite(x.sum())
            if not finite:
                missing = np.isnan(x)
                if missing.any():
                    missing_count += np.bincount(c[missing], minlength=n_cols)
                    missing_weight += np.bincount(
                        c[missing],
                        weights=None if w is None else w[missing],
                        minlength=n_cols,
                    )
                    present = ~missing
                    x, c = x[present], c[present]
                    w = None if w is None else w[present]
            wx = x if w is None else w * x
            stored += np.bincount(c, weights=w, minlength=n_cols)
            s1 += np.bincount(c, weights=wx, minlength=n_cols)
            with np.errstate(over="ignore", invalid="ignore"):
                q += np.bincount(c, weights=wx * x, minlength=n_cols)
        # A column of NaN only has no weight at all; the subtraction below
        # could leave a rounding residue of the weights' sum.
        missing_weight[missing_count == X.shape[0]] = total_weight
        n = np.maximum(total_weight - missing_weight, 0.0)
        # Implicit zeros deviate from the center 0 by 0: they add weight only.
        mean, m2, precise = _moments_from_sums(n, s1, q)
        if not precise:
            mean, m2 = _two_pass_sparse(values, columns, entry_weight, n, stored)
        return cls(weight_sum=n, mean=np.where(n > 0, mean, np.nan), m2=m2)

    def merge(self, other):
        """Return the moments of the union of both data sets (Chan et al.)."""
        self._check_mergeable(other)
        n, mean, m2 = _merge_moments(
            self.weight_sum, self.mean, self.m2, other.weight_sum, other.mean, other.m2
        )
        return type(self)(weight_sum=n, mean=mean, m2=m2)

    def variance(self, ddof=0):
        """Per-column variance ``m2 / (weight_sum - ddof)`` (NaN without data)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = self.weight_sum - ddof
            return np.where(denominator > 0, self.m2 / denominator, np.nan)
