"""MinMaxScaler and MaxAbsScaler: the extrema and the maps to a range."""

from numbers import Real

import numpy as np

from .._affine import AffineMap, safe_scale, spread_in_units
from ..stats import (
    Extrema,
)
from ._base import _ColumnScaler

#: A ratio of feature range to data range within ``2**+-_ORDINARY_EXPONENT``
#: is applied as the plain scale; beyond, as a scale near 1 and a power of two.
_ORDINARY_EXPONENT = 900


class MinMaxScaler(_ColumnScaler):
    """Transform features by scaling each feature to a given range.

    Drop-in for :class:`sklearn.preprocessing.MinMaxScaler`, computed from a
    mergeable :class:`~sknorm.stats.Extrema` statistic::

        x_scaled = (x - data_min_) / data_range_ * (max - min) + min

    where ``min, max = feature_range``.

    Additions: ``sample_weight`` (rows of zero weight ignored), sparse input
    (CSR/CSC) whenever the fitted map sends 0 to 0 for every feature — for
    example non-negative data whose minimum is 0 with ``feature_range=(0, 1)`` —
    in which case the result stays sparse in the input's format; otherwise a
    clear error names the features that would densify. There is no ``decay``
    (see :class:`StandardScaler`): extrema carry no weight that could be
    forgotten, and a decayed weight is never zero, so old rows would still set
    them.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of transformed data: two finite numbers, ``min < max``,
        with ``max - min`` a finite float64 (a ValueError otherwise).
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip transformed values of held-out data to ``feature_range``.
    feature_groups : list of column groups, default=None
        Groups of features that share one scale (pixels, an embedding block,
        columns in one unit): each group's statistics are those of all the
        values of its columns pooled, as if stacked into one column, and the
        fitted attributes stay per feature (equal within a group). A group is
        a list of column indices or names, a boolean mask or a slice, as the
        row normalizers' ``groups``; features in no group keep their own.
        See :ref:`feature-groups`.

    Attributes
    ----------
    min_ : ndarray of shape (n_features,)
        Per-feature adjustment for minimum: ``min - data_min_ * scale_``.
    scale_ : ndarray of shape (n_features,)
        Per-feature relative scaling: ``(max - min) / data_range_`` (1 for a
        constant feature).
    data_min_ : ndarray of shape (n_features,)
        Per-feature minimum seen in the data.
    data_max_ : ndarray of shape (n_features,)
        Per-feature maximum seen in the data.
    data_range_ : ndarray of shape (n_features,)
        Per-feature range ``data_max_ - data_min_``.
    n_features_in_ : int
        Number of features seen during fit.
    n_samples_seen_ : int
        Number of samples processed.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    StandardScaler : Scale to zero mean and unit variance.
    MaxAbsScaler : Scale by the maximum absolute value.

    Examples
    --------
    >>> from sknorm import MinMaxScaler
    >>> X = [[-1, 2], [-0.5, 6], [0, 10], [1, 18]]
    >>> scaler = MinMaxScaler().fit(X)
    >>> scaler.data_max_
    array([ 1., 18.])
    >>> scaler.transform(X)
    array([[0.  , 0.  ],
           [0.25, 0.25],
           [0.5 , 0.5 ],
           [1.  , 1.  ]])
    >>> scaler.transform([[2, 2]])
    array([[1.5, 0. ]])
    """

    _parameter_constraints: dict = {
        **_ColumnScaler._parameter_constraints,
        "feature_range": [tuple],
    }

    _sparse_advice = (
        "MinMaxScaler keeps sparse data sparse only where the training minimum "
        "maps to feature_range[0] = 0; use MaxAbsScaler for signed sparse data, "
        "or densify X first."
    )

    def __init__(
        self, feature_range=(0, 1), *, copy=True, clip=False, feature_groups=None
    ):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip
        self.feature_groups = feature_groups

    def _validate_fit_params(self):
        low, high = self._range()
        if not low < high:
            raise ValueError(
                "Minimum of desired feature range must be smaller than maximum. "
                f"Got {self.feature_range}."
            )

    def _range(self):
        bounds = self.feature_range
        if len(bounds) != 2:
            raise ValueError(
                "feature_range must be a tuple (min, max) of two numbers, got "
                f"{len(bounds)} value(s): {bounds!r}."
            )
        for bound in bounds:
            if (
                not isinstance(bound, Real)
                or isinstance(bound, bool)
                or not np.isfinite(bound)
            ):
                raise ValueError(
                    f"feature_range must hold two finite numbers, got {bounds!r}."
                )
        return float(bounds[0]), float(bounds[1])

    def _width_in_units(self):
        """``max - min`` of ``feature_range`` as ``(width, unit)``, exactly: the
        width is ``width * 2**unit`` (:func:`~sknorm._affine.spread_in_units`),
        finite where ``max - min`` overflows (``(-1e308, 1e308)``) and normal
        where it is subnormal (``(0, 1e-310)``)."""
        low, high = self._range()
        width, unit = spread_in_units([low], [high])
        return width[0], int(unit[0])

    def _statistic_types(self):
        return (Extrema,)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        extrema = statistics["Extrema"]
        self.data_min_ = extrema.minimum
        self.data_max_ = extrema.maximum
        # inf where the range exceeds the float64 maximum; the map does not.
        with np.errstate(over="ignore"):
            self.data_range_ = extrema.spread()
        spread, unit = spread_in_units(self.data_min_, self.data_max_)
        width, width_unit = self._width_in_units()
        with np.errstate(under="ignore", over="ignore"):
            # 0 or inf where the true value lies outside the float64 range.
            self.scale_ = np.ldexp(width / spread, width_unit - unit)
        self._set_min()
        self.n_samples_seen_ = n_rows

    _location_attributes = ("data_min_", "data_max_")

    def _set_min(self):
        low, _ = self._range()
        with np.errstate(invalid="ignore", over="ignore"):
            # A minimum of 0 gives min_ = low exactly, also where scale_ is
            # inf (a range below 2**-1074 of the width); 0 * inf is NaN.
            self.min_ = np.where(
                self.data_min_ == 0, low, low - self.data_min_ * self.scale_
            )

    def _uncenter_attributes(self, center):
        # min_ follows data_min_ (the scale is that of the exact range).
        super()._uncenter_attributes(center)
        self._set_min()

    def _affine_map(self):
        # Kept as (x - offset) / scale with offset = data_min_ when min = 0, so
        # the training minimum maps to exactly 0 (and sparse zeros stay zero).
        # The data's range is spread * 2**unit, the width of feature_range
        # width * 2**width_unit (both exact); offset and scale are in units of
        # 2**unit, and the result in units of 2**output_unit where the ratio
        # of width to range lies outside the float64 range (or near its ends).
        low, _ = self._range()
        spread, unit = spread_in_units(self.data_min_, self.data_max_)
        width, width_unit = self._width_in_units()
        spread_mantissa, spread_exponent = np.frexp(spread)
        width_mantissa, width_exponent = np.frexp(width)
        output_unit = width_unit + width_exponent - spread_exponent
        ordinary = (width_unit == 0) & (np.abs(output_unit) < _ORDINARY_EXPONENT)
        # Ordinary ranges keep the plain scale (the map bit for bit as before);
        # the others a scale in [1/2, 2) and the power of two after the map.
        scale = np.where(ordinary, spread / width, spread_mantissa / width_mantissa)
        output_unit = np.where(ordinary, 0, output_unit)
        # low in units of the result, times the scale: the offset that maps
        # the minimum to low.
        offset = np.ldexp(self.data_min_, -unit) - np.ldexp(low, -output_unit) * scale
        return AffineMap(
            offset, scale, unit, output_unit if np.any(output_unit != 0) else None
        )

    def _clip_range(self, centered=False):
        return self._range()


class MaxAbsScaler(_ColumnScaler):
    """Scale each feature by its maximum absolute value.

    Drop-in for :class:`sklearn.preprocessing.MaxAbsScaler`, computed from a
    mergeable :class:`~sknorm.stats.Extrema` statistic. It neither shifts nor
    centers, so sparse input stays sparse::

        x_scaled = x / max_abs_

    Additions: ``sample_weight`` (rows of zero weight ignored) and
    ``inverse_transform`` that honours ``set_output``. There is no ``decay``
    (see :class:`StandardScaler`): a maximum carries no weight that could be
    forgotten, and a decayed weight is never zero, so old rows would still set
    it.

    Parameters
    ----------
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip transformed values of held-out data to ``[-1, 1]``.
    feature_groups : list of column groups, default=None
        Groups of features that share one scale (pixels, an embedding block,
        columns in one unit): each group's statistics are those of all the
        values of its columns pooled, as if stacked into one column, and the
        fitted attributes stay per feature (equal within a group). A group is
        a list of column indices or names, a boolean mask or a slice, as the
        row normalizers' ``groups``; features in no group keep their own.
        See :ref:`feature-groups`.

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,)
        Per-feature scale: the maximum absolute value, or 1 for an all-zero
        feature.
    max_abs_ : ndarray of shape (n_features,)
        Per-feature maximum absolute value.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.
    n_samples_seen_ : int
        Number of samples processed.

    See Also
    --------
    StandardScaler : Scale to zero mean and unit variance.
    MinMaxScaler : Scale features to a range.

    Examples
    --------
    >>> from sknorm import MaxAbsScaler
    >>> X = [[1.0, -1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 1.0, -1.0]]
    >>> MaxAbsScaler().fit_transform(X)
    array([[ 0.5, -1. ,  1. ],
           [ 1. ,  0. ,  0. ],
           [ 0. ,  1. , -0.5]])
    """

    def __init__(self, *, copy=True, clip=False, feature_groups=None):
        self.copy = copy
        self.clip = clip
        self.feature_groups = feature_groups

    def _statistic_types(self):
        return (Extrema,)

    def _centers_integers(self):
        # No offset: x / max|x| has no cancellation to avoid, and the maximum
        # absolute value of centered data is not the data's.
        return False

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        self.max_abs_ = statistics["Extrema"].max_abs()
        self.scale_ = safe_scale(self.max_abs_)
        self.n_samples_seen_ = n_rows

    def _affine_map(self):
        return AffineMap(None, self.scale_)

    def _clip_range(self, centered=False):
        return -1.0, 1.0
