"""Weighted, NaN-aware first and second moments per column."""

import numpy as np

from .._validation import is_sparse, row_blocks
from ._base import Statistic, sparse_entries

__all__ = ["Moments"]


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
        n_rows, n_cols = X.shape
        n = np.zeros(n_cols)
        mean = np.full(n_cols, np.nan)
        m2 = np.zeros(n_cols)
        shift = None
        for rows in row_blocks(n_rows, n_cols):
            weight = None if sample_weight is None else sample_weight[rows]
            block = X[rows]
            if shift is None:
                # Accumulate around the first block's mean: merging blocks whose
                # means are large and close would lose their difference to
                # rounding (the means carry an absolute error of ulp(mean)).
                shift = np.nan_to_num(_block_moments(block, weight)[1])
            block_moments = _block_moments(block - shift, weight)
            n, mean, m2 = _merge_moments(n, mean, m2, *block_moments)
        return cls(weight_sum=n, mean=mean if shift is None else mean + shift, m2=m2)

    @classmethod
    def _from_sparse(cls, X, sample_weight):
        values, columns, entry_weight, total_weight = sparse_entries(X, sample_weight)
        n_cols = X.shape[1]
        missing = np.isnan(values)
        if missing.any():
            present = ~missing
            missing_weight = np.bincount(
                columns[missing],
                weights=None if entry_weight is None else entry_weight[missing],
                minlength=n_cols,
            )
            # A column of NaN only has no weight at all; the subtraction below
            # could leave a rounding residue of the weights' sum.
            all_missing = np.bincount(columns[missing], minlength=n_cols) == X.shape[0]
            missing_weight[all_missing] = total_weight
            values, columns = values[present], columns[present]
            entry_weight = None if entry_weight is None else entry_weight[present]
        else:
            missing_weight = 0.0
        values = values.astype(np.float64, copy=False)
        n = np.maximum(np.full(n_cols, total_weight) - missing_weight, 0.0)
        weighted = values if entry_weight is None else entry_weight * values
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.bincount(columns, weights=weighted, minlength=n_cols) / n
        # Two-pass M2: the stored entries' squared deviations plus, for every
        # implicit zero, mean**2 weighted by the zeros' total weight.
        deviation = values - mean[columns]
        squares = deviation * deviation
        if entry_weight is not None:
            squares *= entry_weight
        stored_weight = np.bincount(columns, weights=entry_weight, minlength=n_cols)
        zero_weight = np.maximum(n - stored_weight, 0.0)
        m2 = np.bincount(columns, weights=squares, minlength=n_cols)
        m2 = m2 + zero_weight * np.where(n > 0, mean, 0.0) ** 2
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
