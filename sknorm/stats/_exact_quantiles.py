"""Exact weighted per-column quantiles (a stand-in until sknorm ships its
quantile statistics)."""

import numpy as np

from ._base import Statistic

__all__ = ["ExactQuantiles"]


class ExactQuantiles(Statistic):
    """Exact quantiles of each column by the inverted empirical CDF.

    The quantile at level ``q`` is the smallest value whose cumulative weight
    (rows in increasing order) reaches ``q`` times the total weight; level 0
    is the minimum. Rows of zero weight are ignored, so integer weights are
    equivalent to repeated rows. Unweighted columns are reduced by selection
    (:func:`numpy.partition`), weighted ones by sorting. Rows must be complete
    (no NaN) and dense.

    Exact quantiles cannot be merged from summaries of the parts:
    :meth:`merge` raises.

    Parameters
    ----------
    values : ndarray of shape (n_levels, n_features)
        The quantiles.
    levels : ndarray of shape (n_levels,)
        Quantile levels in [0, 1].
    """

    _fields = ("values", "levels")

    @classmethod
    def from_data(cls, X, sample_weight=None, *, levels=(0.5,)):
        """Compute the quantiles of the dense matrix ``X`` at ``levels``."""
        levels = np.asarray(levels, dtype=np.float64).reshape(-1)
        X = np.asarray(X)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
            keep = sample_weight > 0
            X, sample_weight = X[keep], sample_weight[keep]
            if np.all(sample_weight == sample_weight[:1]):
                sample_weight = None  # equal weights: the unweighted quantiles
        if sample_weight is None:
            values = np.quantile(X, levels, axis=0, method="inverted_cdf")
        else:
            order = np.argsort(X, axis=0)
            cumulative = np.cumsum(sample_weight[order], axis=0)
            targets = levels[:, None] * cumulative[-1]
            ranks = np.stack(
                [
                    np.searchsorted(cumulative[:, j], targets[:, j], side="left")
                    for j in range(X.shape[1])
                ],
                axis=1,
            )
            ranks = np.minimum(ranks, len(X) - 1)
            values = np.take_along_axis(X, np.take_along_axis(order, ranks, 0), 0)
        return cls(values=values.astype(np.float64), levels=levels)

    def merge(self, other):
        """Not possible: exact quantiles of a union need all of its data."""
        raise TypeError(
            "exact quantiles cannot be merged: the quantiles of a union are not a "
            "function of the parts' quantiles, so partial_fit cannot update them."
        )
