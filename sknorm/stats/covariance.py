"""Weighted mean and scatter matrix of the rows of a matrix."""

import numpy as np

from .._validation import is_sparse, row_blocks
from ._base import Statistic

__all__ = ["Covariance"]

#: Values per dense row block. Larger than the element-wise kernels' blocks:
#: each block feeds one matrix product, which BLAS runs efficiently only on a
#: few hundred rows or more (2 MiB of float64 here).
_BLOCK_ELEMENTS = 1 << 18

#: Stored values per chunk of sparse rows converted to float64 at once.
_SPARSE_CHUNK_ENTRIES = 1 << 20


def _merge_scatter(n_a, mean_a, scatter_a, n_b, mean_b, scatter_b):
    """Chan, Golub and LeVeque's pairwise update in matrix form.

    ``S = S_a + S_b + delta delta^T n_a n_b / n`` with ``delta = mean_b -
    mean_a``: exact in exact arithmetic. A side without weight contributes
    nothing (its mean is undefined).
    """
    if n_b == 0:
        return n_a, mean_a, scatter_a
    if n_a == 0:
        return n_b, mean_b, scatter_b
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    # outer(v, v) of one vector is exactly symmetric, as the scatter must be.
    scaled = delta * np.sqrt(n_a * n_b / n)
    scatter = scatter_a + scatter_b + np.outer(scaled, scaled)
    return n, mean, scatter


def _raise_not_finite(columns):
    columns = np.unique(columns)
    shown = ", ".join(str(c) for c in columns[:10])
    if columns.size > 10:
        shown += f", ... ({columns.size - 10} more)"
    raise ValueError(
        f"Covariance needs complete, finite rows: X contains NaN or infinity in "
        f"feature(s) {shown}. Impute or drop those rows first."
    )


def _dense_block(block, weight, shift):
    """Weight, mean and scatter of one row block, around ``shift``.

    The block is copied to float64 once (it is small); its mean is removed
    before the product and the first-order error of that mean is corrected
    (the corrected two-pass method), so the scatter does not suffer from the
    cancellation of ``sum x x^T - n mean mean^T``.
    """
    deviation = block.astype(np.float64)  # a copy: the caller's data is kept
    deviation -= shift
    if weight is None:
        total = float(len(deviation))
        mean = deviation.mean(axis=0)
    else:
        total = float(weight.sum())
        if total == 0:
            return 0.0, None, None
        mean = (weight @ deviation) / total
    deviation -= mean
    residual = deviation.sum(axis=0) if weight is None else weight @ deviation
    if weight is not None:
        deviation *= np.sqrt(weight)[:, None]
    # ``a.T @ a`` on one buffer runs as a symmetric rank-k update: the result
    # is exactly symmetric.
    scatter = deviation.T @ deviation
    scaled = residual / np.sqrt(total)
    scatter -= np.outer(scaled, scaled)
    return total, mean + residual / total, scatter


class Covariance(Statistic):
    """Weighted count, mean and scatter matrix of the rows of a matrix.

    The scatter matrix is ``S = sum_i w_i (x_i - mean)(x_i - mean)^T``, so the
    (biased) covariance is ``S / weight_sum``. ``merge`` is the matrix form of
    Chan, Golub and LeVeque's update, exact in exact arithmetic: statistics
    computed over chunks, ``partial_fit`` calls or partitions and merged equal
    the statistic of all the data to rounding.

    Dense data is read in row blocks of a few MiB, each converted to float64
    and centered before its product, so float32 input is never copied as a
    whole and the scatter keeps its accuracy when the mean is large compared
    with the spread. Sparse CSR/CSC data is never densified: the scatter is
    ``X^T W X - weight_sum * mean mean^T`` computed with sparse products (its
    rounding error grows with ``mean**2 / variance``, which is small for the
    mostly-zero features sparse data has). The statistic itself is dense:
    ``n_features**2`` float64 values.

    CSC input is converted to CSR (a copy of its stored values).

    Rows must be complete: NaN (or infinity) raises a ValueError naming the
    features. A covariance computed from the complete rows only would differ
    from the one the user expects without saying so.

    Parameters
    ----------
    mean : ndarray of shape (n_features,)
        Weighted mean of the rows (NaN when no row has positive weight).
    scatter : ndarray of shape (n_features, n_features)
        Weighted sum of the outer products of the deviations from the mean.
    weight_sum : float or 0-d ndarray
        Total weight of the rows (their number when unweighted).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import Covariance
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    >>> c = Covariance.from_data(X[:1]).merge(Covariance.from_data(X[1:]))
    >>> c.mean
    array([2., 4.])
    >>> c.covariance()
    array([[2.66666667, 4.66666667],
           [4.66666667, 8.66666667]])
    >>> np.allclose(c.covariance(), np.cov(X.T, bias=True))
    True
    """

    _fields = ("mean", "scatter", "weight_sum")

    @classmethod
    def from_data(cls, X, sample_weight=None):
        """Compute the statistic of a dense or CSR/CSC matrix in one pass.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            Data without NaN; float32 is read block by block and accumulated
            in float64.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        Covariance
        """
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if is_sparse(X):
            return cls._from_sparse(X, sample_weight)
        X = np.asarray(X)
        n_rows, n_cols = X.shape
        total, mean, scatter = 0.0, np.full(n_cols, np.nan), np.zeros((n_cols,) * 2)
        shift = None
        for rows in row_blocks(n_rows, n_cols, _BLOCK_ELEMENTS):
            block = X[rows]
            if shift is None:
                # Accumulate around the first block's mean: the blocks' means
                # are then small and their differences keep their digits.
                shift = block.mean(axis=0, dtype=np.float64)
            with np.errstate(over="ignore", invalid="ignore"):
                suspicious = not np.isfinite(block.sum(dtype=np.float64))
            if suspicious:  # NaN, infinity, or finite values summing past the max
                bad = np.flatnonzero(~np.isfinite(block).all(axis=0))
                if bad.size:
                    _raise_not_finite(bad)
            weight = None if sample_weight is None else sample_weight[rows]
            block_total, block_mean, block_scatter = _dense_block(block, weight, shift)
            total, mean, scatter = _merge_scatter(
                total, mean, scatter, block_total, block_mean, block_scatter
            )
        if shift is not None:
            mean = mean + shift
        return cls(mean=mean, scatter=scatter, weight_sum=total)

    @classmethod
    def _from_sparse(cls, X, sample_weight):
        X = X.tocsr() if X.format != "csr" else X
        n_rows, n_cols = X.shape
        finite = np.isfinite(X.data)
        if not finite.all():
            _raise_not_finite(X.indices[~finite])
        weighted_sum = np.zeros(n_cols)
        second_moment = np.zeros((n_cols, n_cols))
        rows_per_chunk = max(1, _SPARSE_CHUNK_ENTRIES * n_rows // max(1, X.nnz))
        for start in range(0, n_rows, rows_per_chunk):
            chunk = X[start : start + rows_per_chunk].astype(np.float64)
            if sample_weight is not None:
                weight = sample_weight[start : start + rows_per_chunk]
                weighted_sum += chunk.T @ weight
                # Rows scaled by sqrt(w): chunk^T chunk is then X^T W X.
                chunk = chunk.multiply(np.sqrt(weight)[:, None]).tocsr()
            else:
                weighted_sum += np.asarray(chunk.sum(axis=0)).ravel()
            product = chunk.T @ chunk
            second_moment += product.toarray()
        total = float(n_rows if sample_weight is None else sample_weight.sum())
        if total == 0:
            return cls(
                mean=np.full(n_cols, np.nan),
                scatter=np.zeros((n_cols, n_cols)),
                weight_sum=0.0,
            )
        mean = weighted_sum / total
        scatter = second_moment - np.outer(mean, weighted_sum)
        return cls(mean=mean, scatter=(scatter + scatter.T) / 2, weight_sum=total)

    def merge(self, other):
        """Return the statistic of the union of both data sets (Chan et al.)."""
        self._check_mergeable(other)
        total, mean, scatter = _merge_scatter(
            float(self.weight_sum),
            self.mean,
            self.scatter,
            float(other.weight_sum),
            other.mean,
            other.scatter,
        )
        return type(self)(mean=mean, scatter=scatter, weight_sum=total)

    def covariance(self, ddof=0):
        """Covariance matrix ``scatter / (weight_sum - ddof)`` (NaN without data)."""
        denominator = float(self.weight_sum) - ddof
        if denominator <= 0:
            return np.full_like(self.scatter, np.nan)
        return self.scatter / denominator

    def second_moment(self):
        """Uncentered second moment ``E[x x^T] = covariance + mean mean^T``."""
        return self.covariance() + np.outer(self.mean, self.mean)
