"""The median absolute deviation per column, exact, NaN ignored.

Each column's median (numpy's midpoint of the two middle values), then the
median of the absolute deviations from it, by the exact selection of
:mod:`sknorm.stats.quantiles`; below the normal range both are kept in units of
a power of two, with all their bits.
"""

import numpy as np

from .._affine import _TINY_SPREAD, _TINY_UNIT
from .._validation import is_sparse
from ._base import (
    Statistic,
)
from .quantiles import Quantiles

__all__ = ["MedianAbsoluteDeviation", "median_and_deviation"]


def median_and_deviation(center, deviations):
    """Median and median absolute deviation, below the normal range in units.

    The median of an even count is a midpoint and the median absolute
    deviation a median of distances to it: of subnormal data, both can fall
    between the float64 values of the subnormal grid (``[3, 7, 1, 9, 2, 4] *
    5e-324`` has median 3.5 and deviation 2 in units of ``5e-324``). Columns
    whose deviation lies below ``2**-1000`` (and is not exactly 0) are
    selected again on their values scaled by ``2**1000`` (exactly, where they
    neither overflow nor were subnormal), where every midpoint and distance is
    a normal float64 with all its bits.

    Parameters
    ----------
    center : Quantiles
        The level 0.5 of the data.
    deviations : callable
        ``deviations(median, columns)``: the :class:`Quantiles` at level 0.5 of
        ``|x - median|`` over all the columns (``columns`` None), or over the
        columns ``columns`` of ``x * 2**1000`` (``median`` in those units).

    Returns
    -------
    scaled_median, scaled_mad : ndarray of shape (n_features,)
        The median and the median absolute deviation divided by
        ``2**exponent``.
    exponent : ndarray of int of shape (n_features,)
        ``-1000`` for the columns scaled, 0 for the others.
    """
    median = center.median()
    deviation = deviations(median, None)
    mad = deviation.median()
    with np.errstate(invalid="ignore"):
        tiny = (deviation.upper[deviation._level_index(0.5)] > 0) & (mad < _TINY_SPREAD)
    exponent = np.zeros(median.shape[0], dtype=np.int64)
    if not tiny.any():
        return median, mad, exponent
    columns = np.flatnonzero(tiny)
    unit = np.full(columns.shape[0], -_TINY_UNIT, dtype=np.int64)
    scaled_median = center._take_columns(columns).median(unit)
    scaled_mad = deviations(scaled_median, columns).median()
    # A deviation that overflows in units (a weighted interpolation towards a
    # huge value) keeps the one in real units.
    kept = np.isfinite(scaled_mad) & np.isfinite(scaled_median)
    columns = columns[kept]
    median, mad = median.copy(), mad.copy()
    median[columns] = scaled_median[kept]
    mad[columns] = scaled_mad[kept]
    exponent[columns] = -_TINY_UNIT
    return median, mad, exponent


def _columns_in_units(X, columns, unit):
    """The columns ``columns`` of X divided by ``2**unit`` (one exponent), as
    float64: a dense array or a CSC matrix."""
    with np.errstate(over="ignore", under="ignore"):
        if is_sparse(X):
            part = X.tocsc()[:, columns].astype(np.float64)
            part.data = np.ldexp(part.data, -unit)
            return part
        return np.ldexp(np.asarray(X)[:, columns].astype(np.float64), -unit)


class MedianAbsoluteDeviation(Statistic):
    """Exact median and median absolute deviation of each column, NaN ignored.

    ``mad = median(|x - median(x)|)``, found by two exact selections with
    :class:`Quantiles`: the median, then the median of the absolute
    deviations from it (:func:`absolute_deviations`: X is not modified; the
    implicit zeros of sparse input, of deviation ``|median|``, are counted
    without being stored). Both medians follow ``np.nanmedian`` (the midpoint
    of the two middle values), so unweighted results equal
    ``scipy.stats.median_abs_deviation(x, nan_policy="omit")``; with
    ``sample_weight``, both are the weighted medians of :class:`Quantiles`.
    Columns whose deviation lies below ``2**-1000`` (subnormal data) are
    selected a third time in units of ``2**-1000`` (see
    :func:`median_and_deviation`), where their median and deviation keep the
    bits that float64 values on the subnormal grid lose.

    Like exact quantiles, the statistic cannot be merged: stream a
    :class:`~sknorm.stats.QuantileSketch` and use its
    :meth:`~sknorm.stats.QuantileSketch.median_absolute_deviation` instead.

    Parameters
    ----------
    scaled_median : ndarray of shape (n_features,)
        Median of each column (NaN without data) divided by ``2**exponent``;
        :attr:`median` is the median itself.
    scaled_mad : ndarray of shape (n_features,)
        Median absolute deviation from it divided by ``2**exponent``.
    exponent : ndarray of int of shape (n_features,)
        Power of two of each column's units: 0 but for deviations below
        ``2**-1000``.
    weight_sum : ndarray of shape (n_features,)
        Weight (count when unweighted) of each column's non-missing values.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import MedianAbsoluteDeviation
    >>> X = np.array([[1.0, 2.0], [2.0, np.nan], [4.0, 8.0], [100.0, 3.0]])
    >>> mad = MedianAbsoluteDeviation.from_data(X)
    >>> mad.median, mad.mad
    (array([3., 3.]), array([1.5, 1. ]))

    Of subnormal data, in units of ``2**-1000`` (the float64 values are
    rounded to the grid of ``5e-324``: 3.5 to 4, 1.5 to 2):

    >>> g = 5e-324
    >>> tiny = MedianAbsoluteDeviation.from_data(np.array([[3.0], [7], [1], [4]]) * g)
    >>> tiny.exponent, tiny.median / g, tiny.mad / g
    (array([-1000]), array([4.]), array([2.]))
    >>> unit = np.ldexp(g, 1000)
    >>> tiny.scaled_median / unit, tiny.scaled_mad / unit
    (array([3.5]), array([1.5]))
    """

    _fields = ("scaled_median", "scaled_mad", "exponent", "weight_sum")
    reveals_infinity = True
    mergeable = False

    @classmethod
    def from_data(cls, X, sample_weight=None):
        """Compute the median and the median absolute deviation of each column.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; only their ratios matter.

        Returns
        -------
        MedianAbsoluteDeviation
        """
        center = Quantiles.from_data(X, sample_weight, levels=[0.5])

        def deviations(median, columns):
            data = X if columns is None else _columns_in_units(X, columns, -_TINY_UNIT)
            return Quantiles.from_data(data, sample_weight, levels=[0.5], center=median)

        median, mad, exponent = median_and_deviation(center, deviations)
        statistic = cls(
            scaled_median=median,
            scaled_mad=mad,
            exponent=exponent,
            weight_sum=center.weight_sum,
        )
        statistic._value_sum = center._value_sum
        return statistic

    @property
    def median(self):
        """Per-column median (NaN without data), rounded to float64."""
        with np.errstate(under="ignore"):
            return np.ldexp(self.scaled_median, self.exponent.astype(np.int64))

    @property
    def mad(self):
        """Per-column median absolute deviation, rounded to float64: below the
        normal range it loses bits that :attr:`scaled_mad` keeps."""
        with np.errstate(under="ignore"):
            return np.ldexp(self.scaled_mad, self.exponent.astype(np.int64))

    def shifted(self, shift):
        """The statistic of the data plus ``shift`` (per column): the median
        moves, in its units of ``2**exponent`` (see :meth:`Statistic.shifted`)."""
        shift = np.asarray(shift, dtype=np.float64)
        with np.errstate(over="ignore", under="ignore"):
            step = np.ldexp(shift, -self.exponent.astype(np.int64))
        return type(self)(
            scaled_median=np.where(
                shift != 0, self.scaled_median + step, self.scaled_median
            ),
            scaled_mad=self.scaled_mad.copy(),
            exponent=self.exponent.copy(),
            weight_sum=self.weight_sum.copy(),
        )

    @classmethod
    def work_units(cls, X, sample_weight=None, **options):
        """Those of the two selections (see :meth:`Quantiles.work_units`)."""
        return 2 * Quantiles.work_units(X, sample_weight)

    def nonfinite_columns(self):
        """Columns that may hold +/-inf (see :meth:`Quantiles.nonfinite_columns`)."""
        value_sum = getattr(self, "_value_sum", None)
        if value_sum is None:
            return np.ones(self.n_features, dtype=bool)
        return ~np.isfinite(value_sum)

    def merge(self, other):
        """Not possible: the median absolute deviation of a union needs all of
        its data.

        Raises
        ------
        TypeError
            Always; merge :class:`~sknorm.stats.QuantileSketch` instead.
        """
        raise TypeError(
            "an exact MedianAbsoluteDeviation cannot be merged: use "
            "QuantileSketch and its deviation_quantiles for chunked or streamed "
            "data."
        )
