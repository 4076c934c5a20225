"""NaN-aware minimum and maximum per column."""

import numpy as np

from .._array_api import to_numpy
from .._kernels import kernels
from .._parallel import BLOCK_ELEMENTS, BlockPlan, fold
from .._validation import is_sparse
from ._base import Statistic

__all__ = ["Extrema"]


def _task_extrema(X, task, plan, keep):
    """Column minima and maxima of the rows ``task`` of X, NaN ignored.

    ``fmin``/``fmax`` skip NaN by themselves, so every block costs two
    reductions of data already in cache; rows where ``keep`` is False are
    left out.
    """
    compiled = kernels("dense")
    if compiled is not None and compiled.accepts(X):
        return compiled.extrema_rows(X[task], None if keep is None else keep[task])
    low = np.full(plan.n_cols, np.nan)
    high = np.full(plan.n_cols, np.nan)
    for rows in plan.blocks(task):
        block = X[rows]
        if keep is not None:
            block = block[keep[rows]]
        block, lanes = plan.widen(block)
        if block.shape[0] == 0:
            continue
        np.fmin(low, fold(np.fmin.reduce(block, axis=0), lanes, np.fmin), out=low)
        np.fmax(high, fold(np.fmax.reduce(block, axis=0), lanes, np.fmax), out=high)
    return low, high


class Extrema(Statistic):
    """Minimum and maximum of each column, NaN ignored.

    Rows of zero weight are ignored; other weights do not change extrema, so
    integer weights are equivalent to repeated rows. A column with no data has
    NaN extrema. ``merge`` is exact.

    Parameters
    ----------
    minimum, maximum : ndarray of shape (n_features,)
        Column extrema in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import sparse
    >>> from sknorm.stats import Extrema
    >>> X = sparse.csr_array(np.array([[0.0, -2.0], [3.0, np.nan]]))
    >>> e = Extrema.from_data(X)
    >>> e.minimum, e.maximum
    (array([ 0., -2.]), array([ 3., -2.]))
    >>> e.max_abs()
    array([3., 2.])
    """

    _fields = ("minimum", "maximum")
    _location_fields = ("minimum", "maximum")
    reveals_infinity = True

    @classmethod
    def from_data(cls, X, sample_weight=None):
        """Compute the extrema of a dense or CSR/CSC matrix in one pass.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        sample_weight : ndarray of shape (n_samples,), default=None
            Rows with zero weight are ignored.

        Returns
        -------
        Extrema
        """
        keep = None
        if sample_weight is not None and not np.all(sample_weight > 0):
            keep = sample_weight > 0
        if is_sparse(X):
            if keep is not None:
                X = X[np.flatnonzero(keep)]
            return cls._from_sparse(X)
        X = np.asarray(X)
        plan = BlockPlan(*X.shape)
        low = np.full(plan.n_cols, np.nan)
        high = np.full(plan.n_cols, np.nan)
        for task_low, task_high in plan.map(
            lambda task: _task_extrema(X, task, plan, keep)
        ):
            low = np.fmin(low, task_low)
            high = np.fmax(high, task_high)
        return cls(minimum=low.astype(np.float64), maximum=high.astype(np.float64))

    @classmethod
    def from_device(cls, data, sample_weight=None):
        """The extrema of array API input, reduced on its device.

        Minima and maxima are exact in any dtype, so every device (also one
        without float64) computes them. Columns holding NaN (which the device
        reductions propagate and the host path ignores) or infinity are
        recomputed on the host from those columns only.
        """
        if sample_weight is not None and not np.all(sample_weight > 0):
            kept = np.flatnonzero(sample_weight > 0)
            if not kept.size:
                return cls.from_data(np.empty((0, data.shape[1])))
            data = data.rows(kept)
        xp = data.namespace.xp
        low = to_numpy(xp.min(data.array, axis=0)).astype(np.float64)
        high = to_numpy(xp.max(data.array, axis=0)).astype(np.float64)
        suspect = ~(np.isfinite(low) & np.isfinite(high))
        if suspect.any():
            columns = np.flatnonzero(suspect)
            host = cls.from_data(data.host_columns(columns))
            low[columns], high[columns] = host.minimum, host.maximum
        return cls(minimum=low, maximum=high)

    @classmethod
    def _from_sparse(cls, X):
        """Extrema of the stored values; a column with fewer stored values than
        rows also holds a zero. CSC columns are reduced run by run, CSR values
        scattered into the per-column extrema: work proportional to nnz, no
        copy of the matrix."""
        n_rows, n_cols = X.shape
        if X.format not in ("csr", "csc"):
            X = X.tocsr()
        values = X.data
        compiled = kernels("sparse")
        if compiled is not None and compiled.accepts(values):
            low, high, counts = compiled.column_extrema(X)
        elif X.format == "csc":
            counts = np.diff(X.indptr)
            low = np.full(n_cols, np.nan)
            high = np.full(n_cols, np.nan)
            filled = counts > 0
            if filled.any():
                # Values of one column are contiguous: reduce each run.
                starts = X.indptr[:-1][filled]
                low[filled] = np.fmin.reduceat(values, starts)
                high[filled] = np.fmax.reduceat(values, starts)
        else:
            counts = np.zeros(n_cols, dtype=np.int64)
            low = np.full(n_cols, np.nan)
            high = np.full(n_cols, np.nan)
            # In chunks: the index arrays are converted to intp on the way.
            for start in range(0, len(values), BLOCK_ELEMENTS):
                chunk = slice(start, start + BLOCK_ELEMENTS)
                columns = X.indices[chunk].astype(np.intp, copy=False)
                counts += np.bincount(columns, minlength=n_cols)
                np.fmin.at(low, columns, values[chunk])
                np.fmax.at(high, columns, values[chunk])
        has_zero = counts < n_rows
        low = np.where(has_zero, np.fmin(low, 0.0), low)
        high = np.where(has_zero, np.fmax(high, 0.0), high)
        return cls(minimum=low, maximum=high)

    def reweighted(self, factor):
        """The same extrema: positive weights do not change them.

        Extrema carry no weight, so an estimator that forgets (``decay``)
        cannot forget them; a copy is returned, as for any positive weights.

        Examples
        --------
        >>> from sknorm.stats import Extrema
        >>> Extrema.from_data([[1.0], [3.0]]).reweighted(0.5).maximum
        array([3.])
        """
        self._check_factor(factor)
        return type(self)(minimum=self.minimum.copy(), maximum=self.maximum.copy())

    def merge(self, other):
        """Return the extrema of the union of both data sets."""
        self._check_mergeable(other)
        return type(self)(
            minimum=np.fmin(self.minimum, other.minimum),
            maximum=np.fmax(self.maximum, other.maximum),
        )

    def max_abs(self):
        """Per-column maximum absolute value."""
        return np.fmax(np.abs(self.minimum), np.abs(self.maximum))

    def spread(self):
        """Per-column range ``maximum - minimum``."""
        return self.maximum - self.minimum
