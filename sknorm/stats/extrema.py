"""NaN-aware minimum and maximum per column."""

import warnings

import numpy as np

from .._validation import is_sparse, row_blocks
from ._base import Statistic, sparse_entries

__all__ = ["Extrema"]


def _block_extrema(block):
    low, high = block.min(axis=0), block.max(axis=0)
    if np.isnan(low).any() or np.isnan(high).any():
        # Only blocks holding NaN pay for the NaN-skipping reductions.
        with warnings.catch_warnings():
            # An all-NaN column is legitimate: its extrema stay NaN.
            warnings.simplefilter("ignore", RuntimeWarning)
            low, high = np.nanmin(block, axis=0), np.nanmax(block, axis=0)
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
        if sample_weight is not None and not np.all(sample_weight > 0):
            keep = sample_weight > 0
            X = X[keep] if not is_sparse(X) else X[np.flatnonzero(keep)]
        if is_sparse(X):
            return cls._from_sparse(X)
        X = np.asarray(X)
        n_rows, n_cols = X.shape
        low = np.full(n_cols, np.nan)
        high = np.full(n_cols, np.nan)
        for rows in row_blocks(n_rows, n_cols):
            block_low, block_high = _block_extrema(X[rows])
            low = np.fmin(low, block_low)
            high = np.fmax(high, block_high)
        return cls(minimum=low, maximum=high)

    @classmethod
    def _from_sparse(cls, X):
        X = X.tocsc() if X.format != "csc" else X
        values, columns, _, n_rows = sparse_entries(X)
        n_cols = X.shape[1]
        # A column holds an implicit zero when fewer values are stored than rows.
        has_zero = np.diff(X.indptr) < n_rows
        present = ~np.isnan(values)
        if not present.all():
            values, columns = values[present], columns[present]
        counts = np.bincount(columns, minlength=n_cols)
        low = np.where(has_zero, 0.0, np.nan)
        high = low.copy()
        filled = counts > 0
        if filled.any():
            # Values of one column are contiguous in CSC order: reduce each run.
            starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[filled]
            values = values.astype(np.float64, copy=False)
            low[filled] = np.fmin(low[filled], np.minimum.reduceat(values, starts))
            high[filled] = np.fmax(high[filled], np.maximum.reduceat(values, starts))
        return cls(minimum=low, maximum=high)

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
