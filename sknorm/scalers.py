"""Column scalers: a mergeable statistic plus an affine map.

Every scaler here learns one or more statistics from :mod:`sknorm.stats` and
derives a per-feature ``offset`` and ``scale`` from them; :class:`~sknorm._affine.
AffineMap` applies them. ``fit`` computes the statistics, ``partial_fit`` merges new
ones into them, ``sample_weight`` and sparse input are handled by the statistics
themselves, so no scaler special-cases any of these.
"""

from numbers import Real

import numpy as np
from scipy.special import ndtri
from sklearn.base import OneToOneFeatureMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._affine import AffineMap, safe_scale, spread_in_units
from ._array_api import host_view, namespace_of
from ._estimator import FIT_SKETCH_SAMPLE, _StatisticsEstimator, derived_from_fit
from ._validation import (
    _is_float_matrix,
    centered_floats,
    check_finite,
    check_input,
    is_sparse,
    may_write_in_place,
    owns_memory,
    wrap_like_transform,
)
from .stats import (
    Extrema,
    MedianAbsoluteDeviation,
    Moments,
    Quantiles,
    QuantileSketch,
)

__all__ = [
    "MaxAbsScaler",
    "MinMaxScaler",
    "RobustScaler",
    "SquashingScaler",
    "StandardScaler",
]


#: A ratio of feature range to data range within ``2**+-_ORDINARY_EXPONENT``
#: is applied as the plain scale; beyond, as a scale near 1 and a power of two.
_ORDINARY_EXPONENT = 900

#: Constraint of the ``decay`` parameter of the scalers whose statistics carry
#: weights (see :meth:`~sknorm.stats.Statistic.reweighted`).
_DECAY_CONSTRAINT = [Interval(Real, 0, 1, closed="left")]


class _ColumnScaler(OneToOneFeatureMixin, _StatisticsEstimator):
    """Shared machinery of the column scalers.

    Subclasses declare which statistics they need (:meth:`_statistic_types`, and
    :meth:`_streaming_statistic_types` when ``partial_fit`` needs mergeable
    ones), turn them into fitted attributes (:meth:`_set_fitted_attributes`) and
    describe their map (:meth:`_affine_map`, :meth:`_clip_range`). Fitting,
    merging and weights live in :class:`~sknorm._estimator._StatisticsEstimator`;
    validation, sparse data, in-place operation and output containers of the map
    live here once. NaN values are ignored by the statistics and kept by the map.
    The map is built from numpy attributes (:func:`~sknorm._array_api.host_view`
    of an estimator fitted on a device) and applied where X lives.

    64-bit integer columns beyond ``2**53`` (nanosecond timestamps, 64-bit
    ids) are fitted, transformed and restored relative to an exact integer
    centre chosen at the first fit (:meth:`_centers_integers`): the map is
    built from the statistics in those units, so a spread of a few units on
    top of ``1.7e18`` is scaled exactly; the fitted attributes are in the
    data's units.
    """

    _parameter_constraints: dict = {
        "copy": ["boolean"],
        "clip": ["boolean"],
        "feature_groups": ["array-like", None],
    }

    #: Advice appended to the error raised when sparse input would densify.
    _sparse_advice = ""

    def _affine_map(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _centers_integers(self):
        # Pooled groups would mix columns of different centres.
        return not self._has_groups()

    def _clip_range(self, centered=False):
        """``(low, high)`` of transformed values: by default the training range.

        Needs an ``Extrema`` statistic (declared when ``clip=True``); the
        map is that of data relative to the integer centre when ``centered``.
        """
        extrema = self._stored_statistic("Extrema", uncentered=not centered)
        affine = self._affine_map()
        low = affine.transform(extrema.minimum[None, :], in_place=False)[0]
        high = affine.transform(extrema.maximum[None, :], in_place=False)[0]
        return low, high

    def _fitted_map(self):
        """``(affine map, clip range or None, integer centre or None)`` of the
        fitted estimator, built once per fitted state (see
        :func:`~sknorm._estimator.derived_from_fit`) from its numpy view.

        With an integer centre, a map with an offset is that of the data
        minus the centre (built from the statistics in those units); a map
        without one scales the data itself (``x / scale``: nothing cancels,
        and centering would round small values of a wide column away) and
        needs no centre.
        """

        def build():
            fitted, center = host_view(self)._centered_view()
            affine = fitted._affine_map()
            if affine.offset is None:
                center = None
            clip = (
                fitted._clip_range(centered=center is not None) if self.clip else None
            )
            return affine, clip, center

        return derived_from_fit(self, "affine_map", build)

    def _transforms_relative_to_center(self):
        """Whether ``transform`` takes X relative to the integer centre: there
        is one and the map has an offset (see :meth:`_fitted_map`)."""
        return self._fitted_map()[2] is not None

    def transform(self, X, copy=None):
        """Scale the features of X with the fitted statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to scale. NaN values are kept.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Scaled data, of X's float dtype and, if sparse, X's format.
        """
        check_is_fitted(self)
        affine, clip, center = self._fitted_map()
        X_checked, in_place, check_as_we_go = self._check_for_map(
            X, copy, center_integers=center is not None
        )
        return affine.transform(
            X_checked,
            in_place=in_place,
            clip=clip,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )

    def _check_for_map(self, X, copy, method="transform", center_integers=False):
        """Validate X for transform/inverse_transform (relative to the integer
        centre with ``center_integers``).

        Returns ``(X_checked, in_place, check_as_we_go)``. The map checks for
        infinity block by block as it computes, except when it writes into the
        caller's own array: that is checked first, so that bad input is
        rejected before any of it is overwritten.
        """
        copy = self.copy if copy is None else copy
        center_here = _centered_in_place(X, copy, center_integers)
        X_checked = check_input(
            self,
            X,
            reset=False,
            reject_infinity=False,
            method=method,
            center_integers=center_integers and not center_here,
        )
        in_place = may_write_in_place(X_checked, X, copy)
        callers_memory = in_place and not owns_memory(X_checked, X)
        if callers_memory:
            check_finite(X_checked, self)
        if center_here:
            X_checked = centered_floats(X_checked, self._integer_center, in_place=True)
        return X_checked, in_place, not callers_memory

    def inverse_transform(self, X, copy=None):
        """Undo the scaling of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Scaled data.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_original : {ndarray, sparse matrix, DataFrame} of shape \
(n_samples, n_features)
            Data in the original units, in the container chosen by
            ``set_output``.
        """
        check_is_fitted(self)
        X_checked, in_place, check_as_we_go = self._check_for_map(
            X, copy, method="inverse_transform"
        )
        affine, _, center = self._fitted_map()
        result = affine.inverse_transform(
            X_checked,
            in_place=in_place,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )
        return wrap_like_transform(self, _uncentered(result, center), X)


def _centered_in_place(X, copy, center_integers):
    """Whether a transform relative to the integer centre subtracts it from
    X itself: a float array it may write into (``copy=False``), once X is
    checked (validation would subtract it in new memory)."""
    return bool(center_integers) and not copy and _is_float_matrix(X)


def _uncentered(result, center):
    """The inverse map's dense ``result``, computed relative to the integer
    ``center`` (if any), in the data's units: the centre added in place,
    with one rounding."""
    if center is None:
        return result
    moved = np.flatnonzero(center)
    result[:, moved] = result[:, moved].astype(np.float64) + center[moved]
    return result


class StandardScaler(_ColumnScaler):
    """Standardize features by removing the mean and scaling to unit variance.

    Drop-in for :class:`sklearn.preprocessing.StandardScaler`: the same
    parameters, attributes and results, computed from a mergeable
    :class:`~sknorm.stats.Moments` statistic. The transform is::

        z = (x - mean_) / scale_

    with ``scale_`` the standard deviation with ``ddof`` delta degrees of
    freedom: the population standard deviation by default (``ddof=0``, as
    scikit-learn), the sample standard deviation with ``ddof=1`` (as Spark
    MLlib's ``StandardScaler``, R's ``scale`` and ``np.std(ddof=1)``).

    Additions: ``sample_weight`` and ``partial_fit`` through exact moment merging,
    ``clip`` to the training range, and a float32 transform free of the bias that
    rounding the mean to float32 causes.

    Parameters
    ----------
    copy : bool, default=True
        If False, scale in place where possible (a float array of the input's
        dtype that the caller passed directly).
    with_mean : bool, default=True
        Center the data before scaling. Not possible for sparse input, which
        would become dense: use ``with_mean=False`` there.
    with_std : bool, default=True
        Scale the data to unit variance.
    clip : bool, default=False
        Clip transformed values to the transformed range of the training data.
        For sparse input only stored values are clipped.
    ddof : float, default=0
        Delta degrees of freedom of ``var_`` and ``scale_``: the sum of squared
        deviations from the mean is divided by ``n - ddof``, ``n`` the number
        of non-missing values of the feature. With ``sample_weight`` the
        weights are frequency weights: the divisor is ``sum(w) - ddof`` over
        the non-missing values, as ``np.cov(x, fweights=w, ddof=ddof)``
        computes it, so integer weights equal repeated rows (and the result
        depends on the weights' scale when ``ddof > 0``). Spark's weighted
        summarizer treats weights as reliability weights instead, dividing by
        ``sum(w) - sum(w**2) / sum(w)``: the same for equal weights of 1
        only. A feature with ``n <= ddof`` has no defined variance: ``var_``
        is NaN there and ``scale_`` is 1, the rule of a constant feature, so
        the transform only centers it (never a NaN or infinite scale; numpy
        returns inf or NaN instead).
    decay : float in [0, 1), default=0.0
        Share of the learned weight each ``partial_fit`` forgets before it
        merges its batch: a row seen ``j`` batches ago weighs ``(1 - decay) **
        j`` times its weight, so the mean and variance follow data that
        drifts (exponentially weighted moments, exactly). ``fit`` is one batch
        and is not affected; 0 forgets nothing. The weights are per row, not
        per batch: see :ref:`decay` for batch normalization's ``momentum``.
        The ``clip`` range is not forgotten (extrema carry no weight).
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
    scale_ : ndarray of shape (n_features,) or None
        Per-feature scale: the standard deviation (with ``ddof``), or 1 for a
        constant feature (a standard deviation within the moments' rounding
        error: at most ``4 * eps`` times the absolute mean) or one with
        ``n <= ddof``. None when ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean. None when ``with_mean=False`` and ``with_std=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-feature variance with ``ddof`` delta degrees of freedom (NaN where
        ``n <= ddof``). None when ``with_std=False``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.
    n_samples_seen_ : int or ndarray of shape (n_features,)
        Number of non-missing samples per feature (sum of weights when weighted,
        the decayed sum of weights, a float, when ``decay > 0``; with
        ``feature_groups``, that of the values pooled into the feature's
        group); an int when the same for all features.

    See Also
    --------
    MinMaxScaler : Scale features to a range.
    MaxAbsScaler : Scale by the maximum absolute value, sparse-friendly.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import StandardScaler
    >>> X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    >>> scaler = StandardScaler().fit(X)
    >>> scaler.mean_
    array([0.5, 0.5])
    >>> scaler.transform([[2.0, 2.0]])
    array([[3., 3.]])

    float32 data far from zero keeps its resolution:

    >>> X32 = np.array([[1e7], [1e7 + 1]] * 4, dtype=np.float32)
    >>> StandardScaler().fit_transform(X32).ravel()
    array([-1.,  1., -1.,  1., -1.,  1., -1.,  1.], dtype=float32)

    The sample standard deviation (``ddof=1``), as ``np.std(ddof=1)``:

    >>> StandardScaler(ddof=1).fit([[1.0], [2.0], [3.0], [4.0]]).scale_
    array([1.29099445])
    >>> float(np.std([1.0, 2.0, 3.0, 4.0], ddof=1))
    1.2909944487358056

    With ``decay=0.5`` the first batch's rows weigh half as much once the
    second batch is merged:

    >>> forgetful = StandardScaler(decay=0.5)
    >>> for batch in ([[0.0], [2.0]], [[10.0], [12.0]]):
    ...     forgetful = forgetful.partial_fit(batch)
    >>> forgetful.mean_  # (0.5 * (0 + 2) + 10 + 12) / 3
    array([7.66666667])
    >>> float(forgetful.n_samples_seen_)
    3.0
    """

    _parameter_constraints: dict = {
        **_ColumnScaler._parameter_constraints,
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "ddof": [Interval(Real, 0, None, closed="left")],
        "decay": _DECAY_CONSTRAINT,
    }

    _sparse_advice = "Use with_mean=False to scale sparse data without centering."

    def __init__(
        self,
        *,
        copy=True,
        with_mean=True,
        with_std=True,
        clip=False,
        ddof=0,
        decay=0.0,
        feature_groups=None,
    ):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.clip = clip
        self.ddof = ddof
        self.decay = decay
        self.feature_groups = feature_groups

    def _statistic_types(self):
        return (Moments, Extrema) if self.clip else (Moments,)

    def _check_fit_input(self, X):
        if self.with_mean and is_sparse(X):
            raise ValueError(
                "Cannot center sparse matrices: pass `with_mean=False` instead. "
                "Centering would make the data dense."
            )

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        moments = statistics["Moments"]
        counts = moments.weight_sum
        if not weighted and np.all(counts == np.round(counts)):
            counts = counts.astype(np.int64)
        self.n_samples_seen_ = counts[0] if np.all(counts == counts[0]) else counts
        self.mean_ = moments.mean if self.with_mean or self.with_std else None
        if self.with_std:
            # var_ may over- or underflow where the variance lies outside the
            # float64 range; the standard deviation is computed without.
            # NaN where n <= ddof: no defined variance.
            self.var_ = moments.variance(self.ddof)
            # Constant features: a standard deviation within the moments'
            # rounding error of the mean (the rule of every scaler); also
            # those of undefined (NaN) standard deviation.
            self.scale_ = safe_scale(
                moments.std(self.ddof), moments.mean, Moments.spread_rounding
            )
        else:
            self.var_ = None
            self.scale_ = None
        self._operands_in_units = self._moments_in_units(moments)

    def _moments_in_units(self, moments):
        """``(offset, scale, unit)`` of the map's features whose mean or
        standard deviation lies below the normal range (None if none does):
        the moments in units of ``2**unit``, with all their bits, where
        ``mean_`` and ``scale_`` are rounded to the subnormal grid."""
        tiny = np.finfo(np.float64).tiny
        with np.errstate(invalid="ignore"):
            below = np.zeros(moments.n_features, dtype=bool)
            if self.with_mean:
                magnitude = np.abs(self.mean_)
                below |= (magnitude > 0) & (magnitude < tiny)
            if self.with_std:
                std = moments.std(self.ddof)
                below |= (std > 0) & (std < tiny)
                # Constant features keep the scale 1 (in real units).
                below &= self.scale_ == std
        below &= moments.exponent != 0
        if not below.any():
            return None
        unit = np.where(below, moments.exponent, 0).astype(np.int64)
        offset = None
        if self.with_mean:
            offset = np.where(below, moments.scaled_mean, self.mean_)
        scale = None
        if self.with_std:
            scale = np.where(below, moments.scaled_std(self.ddof), self.scale_)
        return offset, scale, unit

    _location_attributes = ("mean_",)

    def _affine_map(self):
        if self._operands_in_units is None:
            return AffineMap(self.mean_ if self.with_mean else None, self.scale_)
        offset, scale, unit = self._operands_in_units
        # Without a scale the result is brought back from units of 2**unit.
        return AffineMap(offset, scale, unit, None if self.with_std else unit)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = not self.with_mean
        return tags


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


def quantile_spread_in_units(quantiles, q_min, q_max):
    """``quantile(q_max) - quantile(q_min)`` as ``(spread, unit)`` (see
    :func:`~sknorm._affine.spread_in_units`): a constant feature's spread of
    exactly 0 becomes 1 (distinct values never give 0); a spread below the
    normal range is computed from quantiles interpolated in its units, where
    they keep the bits that float64 quantiles below the normal range lose."""
    spread, unit = spread_in_units(quantiles.value(q_min), quantiles.value(q_max))
    tiny = unit < 0
    if tiny.any():
        exact = quantiles.value(q_max, unit) - quantiles.value(q_min, unit)
        spread = np.where(tiny & (exact > 0), exact, spread)
    return spread, unit


def _check_quantile_range(bounds):
    valid = len(bounds) == 2 and all(
        isinstance(q, Real) and not isinstance(q, bool) for q in bounds
    )
    if not valid or not 0 <= bounds[0] <= bounds[1] <= 100:
        raise ValueError(f"Invalid quantile range: {bounds}")


class RobustScaler(_ColumnScaler):
    """Scale features using statistics that are robust to outliers.

    Drop-in for :class:`sklearn.preprocessing.RobustScaler`: the same parameters,
    attributes and results. It removes the median and divides by the quantile
    range (the interquartile range by default), or with ``spread="mad"`` by
    the median absolute deviation ``median(|x - median(x)|)``::

        x_scaled = (x - center_) / scale_

    ``fit`` computes **exact** quantiles (:class:`~sknorm.stats.Quantiles`, the
    same values as scikit-learn's ``np.nanpercentile``/``np.nanmedian``) by
    selection rather than sorting, in parallel over columns, and on sparse input
    without materialising any column. ``partial_fit`` streams instead: it merges
    a :class:`~sknorm.stats.QuantileSketch` per batch, whose normalized rank
    error stays below 1% at its default size (exact while fewer than a few
    hundred values per feature were seen).

    Additions: ``spread="mad"``, ``sample_weight`` (relative weights: equal
    weights of any value give exactly the unweighted result, zero removes a
    row; see :mod:`sknorm.stats.quantiles` for the definition), ``partial_fit``,
    ``clip``, sparse input with ``with_centering=True`` whenever every fitted
    median is 0 (the result stays sparse), and an ``inverse_transform`` that
    honours ``set_output``.

    Parameters
    ----------
    with_centering : bool, default=True
        Subtract the median before scaling. Sparse input can be transformed only
        if every fitted median is 0 (it then stays sparse); otherwise transform
        raises, naming the features: use ``with_centering=False``.
    with_scaling : bool, default=True
        Divide by the quantile range.
    quantile_range : tuple (q_min, q_max), 0.0 <= q_min <= q_max <= 100.0, \
default=(25.0, 75.0)
        Percentiles whose difference is the scale (``spread="iqr"`` only:
        another value with ``spread="mad"`` raises).
    copy : bool, default=True
        If False, scale in place where possible.
    unit_variance : bool, default=False
        Divide the scale by the quantile range of the standard normal
        distribution, so that normally distributed features get unit variance.
        Needs ``0 < q_min < q_max < 100``. With ``spread="mad"``, divide by
        the normal distribution's MAD, ``ndtri(0.75)`` (about 0.6745), as
        ``scipy.stats.median_abs_deviation(scale="normal")``: a consistent
        estimate of the standard deviation of normal data.
    clip : bool, default=False
        Clip transformed values to the transformed range of the training data.
        For sparse input only stored values are clipped.
    dask_quantiles : {"sketch", "exact"}, default="sketch"
        How ``fit`` computes the quantiles of a dask array or DataFrame.
        ``"sketch"``: one pass over the data merging a
        :class:`~sknorm.stats.QuantileSketch` per partition, the accuracy of
        ``partial_fit``. ``"exact"``: the values of an in-memory ``fit``, found
        in further passes that narrow the sketch's brackets (two to four passes
        in all, see :ref:`dask-exact-quantiles`). In-memory input always gets
        exact quantiles. ``"exact"`` is not available with ``spread="mad"``
        (its second selection depends on the first's result).
    spread : {"iqr", "mad"}, default="iqr"
        The scale: ``"iqr"``, the quantile range of ``quantile_range``;
        ``"mad"``, the median absolute deviation, exact in ``fit`` (the
        median, then the median of ``|x - median|``: the values of
        ``scipy.stats.median_abs_deviation(x, nan_policy="omit")``; the
        implicit zeros of sparse input count, without densifying it) and
        from the sketch in ``partial_fit`` and on dask input (the weighted
        median of ``|item - median|`` over the sketch's items; its rank error
        is at most twice the sketch's). The MAD has a breakdown point of 50%
        (the IQR's is 25%).
    decay : float in [0, 1), default=0.0
        Share of the learned weight each ``partial_fit`` forgets before it
        merges its batch: a row seen ``j`` batches ago weighs ``(1 - decay) **
        j`` times its weight (the sketch's items are reweighted), so the
        quantiles follow data that drifts, with the sketch's rank error.
        ``fit`` is one batch and is not affected; 0 forgets nothing. See
        :ref:`decay`. The ``clip`` range is not forgotten (extrema carry no
        weight).
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
    center_ : ndarray of shape (n_features,) or None
        Per-feature median (float64). None when ``with_centering=False``.
    scale_ : ndarray of shape (n_features,) or None
        Per-feature quantile range or median absolute deviation (divided by
        the normal one when ``unit_variance``), or 1 for a constant feature (a
        range, or deviation, of exactly 0). inf (or 0) where the range lies
        outside the float64 range; the transform is still computed correctly.
        None when
        ``with_scaling=False``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    robust_scale : The function form.
    StandardScaler : Scale with mean and standard deviation.

    Notes
    -----
    ``fit`` also keeps a :class:`~sknorm.stats.QuantileSketch` of its data —
    of all of it up to 32,768 rows, of a uniform random sample of that many
    rows beyond — so that ``partial_fit`` after ``fit`` continues from the
    fitted data rather than forgetting it. The sampling adds a rank error below
    0.5% typically (1.5% with probability 1 - 1e-6) on the fitted part; to
    stream with the sketch's accuracy only, call ``partial_fit`` from the first
    batch on. The fitted estimator holds the sketch: about 14 KB per feature.

    ``spread="mad"`` makes ``fit`` select twice (the median, then the median
    of ``|x - median|``) and hold the dense deviations, one float64 array of
    X's size, while it selects; sparse input's deviations stay sparse.

    Examples
    --------
    >>> from sknorm import RobustScaler
    >>> X = [[1.0, -2.0, 2.0], [-2.0, 1.0, 3.0], [4.0, 1.0, -2.0]]
    >>> scaler = RobustScaler().fit(X)
    >>> scaler.center_
    array([1., 1., 2.])
    >>> scaler.transform(X)
    array([[ 0. , -2. ,  0. ],
           [-1. ,  0. ,  0.4],
           [ 1. ,  0. , -1.6]])

    Streaming, with the same result while the data is small:

    >>> streamed = RobustScaler()
    >>> for batch in (X[:2], X[2:]):
    ...     streamed = streamed.partial_fit(batch)
    >>> streamed.scale_
    array([3. , 1.5, 2.5])

    Scaling by the median absolute deviation, normal-consistent, as scipy
    computes it; the second feature's deviation is 0 (two of its three values
    tie), so it is treated as constant (scale 1, divided by the normal
    constant as scikit-learn does for a zero quantile range):

    >>> from scipy.stats import median_abs_deviation
    >>> median_abs_deviation(X, scale="normal")
    array([4.44780666, 0.        , 1.48260222])
    >>> RobustScaler(spread="mad", unit_variance=True).fit(X).scale_
    array([4.44780666, 1.48260222, 1.48260222])
    """

    _parameter_constraints: dict = {
        **_ColumnScaler._parameter_constraints,
        "with_centering": ["boolean"],
        "with_scaling": ["boolean"],
        "quantile_range": [tuple],
        "unit_variance": ["boolean"],
        "dask_quantiles": [StrOptions({"sketch", "exact"})],
        "spread": [StrOptions({"iqr", "mad"})],
        "decay": _DECAY_CONSTRAINT,
    }

    _sparse_advice = (
        "Cannot center sparse matrices on non-zero medians: use "
        "`with_centering=False` instead, or densify X."
    )

    def __init__(
        self,
        *,
        with_centering=True,
        with_scaling=True,
        quantile_range=(25.0, 75.0),
        copy=True,
        unit_variance=False,
        clip=False,
        dask_quantiles="sketch",
        spread="iqr",
        decay=0.0,
        feature_groups=None,
    ):
        self.with_centering = with_centering
        self.with_scaling = with_scaling
        self.quantile_range = quantile_range
        self.copy = copy
        self.unit_variance = unit_variance
        self.clip = clip
        self.dask_quantiles = dask_quantiles
        self.spread = spread
        self.decay = decay
        self.feature_groups = feature_groups

    def _levels(self):
        """Quantile levels as fractions, divided by 100 exactly as numpy does."""
        q_min, q_max = self.quantile_range
        return np.true_divide([q_min, 0.5 * 100, q_max], 100)

    def _validate_fit_params(self):
        bounds = self.quantile_range
        _check_quantile_range(bounds)
        if self.spread == "mad":
            if tuple(bounds) != (25.0, 75.0):
                raise ValueError(
                    f"quantile_range={bounds} has no effect with spread='mad' "
                    "(the median absolute deviation uses no quantile range): "
                    "leave quantile_range at its default (25.0, 75.0)."
                )
            return
        if self.unit_variance and not 0 < bounds[0] < bounds[1] < 100:
            raise ValueError(
                "unit_variance=True needs 0 < q_min < q_max < 100: the normal "
                f"distribution's range for quantile_range={bounds} is "
                f"{'infinite' if bounds[0] < bounds[1] else 'zero'}."
            )

    def _statistic_types(self):
        # The sketch of a sample lets partial_fit continue after fit.
        if self.spread == "mad":
            exact = MedianAbsoluteDeviation
        else:
            exact = (Quantiles, {"levels": self._levels()})
        sampled = (QuantileSketch, {"sample_size": FIT_SKETCH_SAMPLE})
        return (exact, sampled, Extrema) if self.clip else (exact, sampled)

    def _streaming_statistic_types(self):
        return (QuantileSketch, Extrema) if self.clip else (QuantileSketch,)

    def _exact_on_dask(self):
        exact = super()._exact_on_dask()
        if exact and self.spread == "mad":
            raise ValueError(
                "dask_quantiles='exact' is not available with spread='mad': the "
                "deviations' selection depends on the median of all the data. "
                "Use dask_quantiles='sketch', or fit in memory."
            )
        return exact

    def _mad_center_and_scale(self, statistics):
        if "MedianAbsoluteDeviation" in statistics:
            statistic = statistics["MedianAbsoluteDeviation"]
        else:
            statistic = statistics["QuantileSketch"].median_absolute_deviation()
        center = statistic.median
        if not self.with_scaling:
            return center, None, None, None
        # A deviation of exactly 0 (more than half the values tied): scale 1.
        spread, unit = spread_in_units(np.zeros_like(center), statistic.mad)
        # Below the normal range, the statistic's units keep all the bits.
        scaled = (statistic.exponent != 0) & (statistic.scaled_mad > 0)
        spread = np.where(scaled, statistic.scaled_mad, spread)
        unit = np.where(scaled, statistic.exponent, unit)
        if self.unit_variance:
            spread = spread / ndtri(0.75)
        with np.errstate(over="ignore", under="ignore"):
            scaled_center = np.ldexp(
                statistic.scaled_median, (statistic.exponent - unit).astype(np.int64)
            )
        return center, spread, unit, scaled_center

    def _center_and_scale(self, statistics):
        """``(center, spread, unit, scaled_center)``: the median, the spread
        in units of ``2**unit`` (see :func:`quantile_spread_in_units`) and the
        median in those units (spread, unit and scaled center None without
        scaling)."""
        if self.spread == "mad":
            return self._mad_center_and_scale(statistics)
        if "Quantiles" in statistics:
            quantiles = statistics["Quantiles"]
        else:
            quantiles = statistics["QuantileSketch"].quantiles(self._levels())
        q_min, _, q_max = self._levels()
        center = quantiles.median()
        if not self.with_scaling:
            return center, None, None, None
        spread, unit = quantile_spread_in_units(quantiles, q_min, q_max)
        if self.unit_variance:
            spread = spread / (ndtri(q_max) - ndtri(q_min))
        return center, spread, unit, quantiles.median(unit)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        center, spread, unit, scaled_center = self._center_and_scale(statistics)
        self.center_ = center if self.with_centering else None
        with np.errstate(over="ignore", under="ignore"):
            # inf (or 0) where the quantile range lies outside float64.
            self.scale_ = None if spread is None else np.ldexp(spread, unit)
        # The map's center and scale in units of 2**unit.
        self._scale_in_units = None
        if spread is not None:
            if not self.with_centering:
                scaled_center = None
            self._scale_in_units = (scaled_center, spread, unit)

    _location_attributes = ("center_",)

    def _affine_map(self):
        if self._scale_in_units is None:
            return AffineMap(self.center_, None)
        return AffineMap(*self._scale_in_units)


def _squash(Z, bound):
    """``z / sqrt(1 + (z / bound)**2)`` in place, ``+/-inf`` to ``+/-bound``.

    Computed as ``z / hypot(1, z / bound)``: ``(z / bound)**2`` would overflow
    to inf (and the result to 0) for ``|z|`` beyond ``1e154 * bound``.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        infinite = np.isinf(Z)
        sign = np.sign(Z)
        np.divide(Z, np.hypot(1, Z / bound), out=Z)
        if infinite.any():
            Z[infinite] = sign[infinite] * bound
    return Z


def _unsquash(S, bound):
    """``s / sqrt(1 - (s / bound)**2)`` in place: the inverse of
    :func:`_squash` on ``(-bound, bound)``; ``+/-bound`` give ``+/-inf``, values
    outside ``[-bound, bound]`` NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = S / bound
        root = np.sqrt((1 - ratio) * (1 + ratio))  # 1 - r**2 without cancellation
        edge = root == 0
        np.divide(S, root, out=S, where=~edge)
        if edge.any():
            S[edge] = np.copysign(np.inf, S[edge])
    return S


def _squash_in_namespace(namespace, Z, X, bound):
    """:func:`_squash` of an array API ``Z`` (the scaled ``X``), on its device,
    in the device's most precise float dtype."""
    xp = namespace.xp
    Z = xp.astype(Z, namespace.float_dtype)
    magnitude = xp.abs(Z) / bound
    ones = xp.ones_like(magnitude)
    high = xp.maximum(magnitude, ones)
    ratio = xp.minimum(magnitude, ones) / high
    squashed = Z / (high * xp.sqrt(1 + ratio * ratio))
    squashed = xp.where(xp.isinf(Z), xp.sign(Z) * bound, squashed)
    sign = xp.astype(xp.sign(X), namespace.float_dtype)
    squashed = xp.where(xp.isinf(X), sign * bound, squashed)
    return xp.astype(squashed, X.dtype)


class SquashingScaler(_ColumnScaler):
    """Robust scaling followed by a smooth clipping to ``(-B, B)``.

    The robust scaling and smooth clipping of Holzmüller et al. (2024), as
    skrub's ``SquashingScaler``: each feature is centered on its median and
    divided by its quantile range (the interquartile range by default), then
    squashed into ``(-max_absolute_value, max_absolute_value)``::

        z = (x - center_) / scale_
        x_out = z / sqrt(1 + (z / B)**2)        B = max_absolute_value

    Outliers are pulled smoothly towards ``+/-B`` (the map is the identity near
    0 and strictly increasing), so they neither dominate the scale (the
    quantiles are robust) nor the transformed values. ``+/-inf`` map to
    ``+/-B``; NaN is kept.

    Features whose quantile range is 0 follow skrub's fallback: a feature with
    distinct values is divided by half its range, ``(max - min) / 2`` (so
    ``z`` lies in ``[-2, 2]``), and a constant feature maps every finite value
    to 0. The statistics are those of :class:`RobustScaler`: exact quantiles
    in ``fit``, a :class:`~sknorm.stats.QuantileSketch` in ``partial_fit`` and
    on dask input (``dask_quantiles``), ``sample_weight`` as there; infinite
    values are ignored by ``fit``, as missing values.

    Parameters
    ----------
    max_absolute_value : float, default=3.0
        The bound ``B`` of the transformed values.
    quantile_range : tuple (q_min, q_max), 0.0 <= q_min <= q_max <= 100.0, \
default=(25.0, 75.0)
        Percentiles whose difference is the scale.
    copy : bool, default=True
        If False, transform in place where possible.
    dask_quantiles : {"sketch", "exact"}, default="sketch"
        How ``fit`` computes the quantiles of a dask array or DataFrame (see
        :class:`RobustScaler`).

    Attributes
    ----------
    center_ : ndarray of shape (n_features,)
        Per-feature median.
    scale_ : ndarray of shape (n_features,)
        Per-feature quantile range; half the range ``(max - min) / 2`` where
        the quantile range is 0; 1 for a constant feature (whose finite values
        are mapped to 0 whatever the scale).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    RobustScaler : The robust scaling alone.

    Notes
    -----
    ``inverse_transform`` undoes the squashing on ``(-B, B)`` with
    ``z = s / sqrt(1 - (s / B)**2)``; ``+/-B`` give ``+/-inf`` and values
    beyond ``B`` NaN. A constant feature is given back as its value.

    Differences from skrub: sparse input is rejected (the centering would
    densify it, and skrub rejects it too); skrub adds the smallest normal
    float32 to the range of a zero-quantile-range feature, which changes its
    scale only for ranges below about 1e-22; the squashing is computed
    without overflow (skrub's ``(z / B)**2`` overflows beyond
    ``|z| > 1e154 * B``, giving 0 there).

    References
    ----------
    D. Holzmüller, L. Grinsztajn and I. Steinwart, "Better by default: Strong
    pre-tuned MLPs and boosted trees on tabular data", NeurIPS 2024,
    https://arxiv.org/abs/2407.04491.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import SquashingScaler
    >>> X = np.array([[np.inf], [-np.inf], [3.0], [-1.0], [np.nan], [2.0]])
    >>> SquashingScaler(max_absolute_value=3).fit_transform(X)
    array([[ 3.        ],
           [-3.        ],
           [ 0.49319696],
           [-1.34164079],
           [        nan],
           [ 0.        ]])

    A feature of zero interquartile range is scaled by half its range:

    >>> X = np.array([[-5.0], [0.0], [0.0], [0.0], [5.0], [np.nan]])
    >>> SquashingScaler().fit_transform(X).ravel()
    array([-0.9486833,  0.       ,  0.       ,  0.       ,  0.9486833,        nan])
    """

    _parameter_constraints: dict = {
        "copy": ["boolean"],
        "max_absolute_value": [Interval(Real, 0, None, closed="neither")],
        "quantile_range": [tuple],
        "dask_quantiles": [StrOptions({"sketch", "exact"})],
    }

    # The median centering would make sparse data dense.
    _accept_sparse = False

    #: Not a parameter: the map clips smoothly, on its own.
    clip = False

    #: +/-inf is accepted: ignored by fit, mapped to +/-B by transform.
    _maps_infinity = True

    def __init__(
        self,
        max_absolute_value=3.0,
        *,
        quantile_range=(25.0, 75.0),
        copy=True,
        dask_quantiles="sketch",
    ):
        self.max_absolute_value = max_absolute_value
        self.quantile_range = quantile_range
        self.copy = copy
        self.dask_quantiles = dask_quantiles

    def _validate_fit_params(self):
        if not np.isfinite(self.max_absolute_value):
            raise ValueError(
                "max_absolute_value must be a positive finite number, got "
                f"{self.max_absolute_value!r}."
            )
        _check_quantile_range(self.quantile_range)

    def _levels(self):
        q_min, q_max = self.quantile_range
        return np.true_divide([q_min, 0.5 * 100, q_max], 100)

    def _statistic_types(self):
        exact = (Quantiles, {"levels": self._levels()})
        sampled = (QuantileSketch, {"sample_size": FIT_SKETCH_SAMPLE})
        return (exact, sampled, Extrema)

    def _streaming_statistic_types(self):
        return (QuantileSketch, Extrema)

    _location_attributes = ("center_",)

    def _checked_batch(self, X, sample_weight, *, reset, center_integers=False):
        X, weight = super()._checked_batch(
            X, sample_weight, reset=reset, center_integers=center_integers
        )
        namespace = namespace_of(X)
        xp = np if namespace is None else namespace.xp
        infinite = xp.isinf(X)
        if bool(xp.any(infinite)):
            # Ignored by the statistics, as missing values (a new array: the
            # caller's data is never written).
            X = xp.where(infinite, xp.full_like(X, float("nan")), X)
        return X, weight

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        if "Quantiles" in statistics:
            quantiles = statistics["Quantiles"]
        else:
            quantiles = statistics["QuantileSketch"].quantiles(self._levels())
        extrema = statistics["Extrema"]
        q_min, _, q_max = self._levels()
        low, high = quantiles.value(q_min), quantiles.value(q_max)
        spread, unit = quantile_spread_in_units(quantiles, q_min, q_max)
        range_spread, range_unit = spread_in_units(extrema.minimum, extrema.maximum)
        with np.errstate(invalid="ignore"):
            fallback = ~(high > low) & (extrema.maximum > extrema.minimum)
        # Half the range: z in [-2, 2] as skrub's fallback.
        spread = np.where(fallback, range_spread / 2, spread)
        unit = np.where(fallback, range_unit, unit)
        self.center_ = quantiles.median()
        with np.errstate(over="ignore", under="ignore"):
            self.scale_ = np.ldexp(spread, unit)
        self._scale_in_units = (quantiles.median(unit), spread, unit)
        with np.errstate(invalid="ignore"):
            self._constant = ~(extrema.maximum > extrema.minimum)

    def _fitted_map(self, centered=False):
        """``(affine map, constant features)``; with ``centered``, the map of
        data validated relative to the integer centre (if any)."""

        def build():
            fitted = host_view(self)
            if centered:
                fitted, _ = fitted._centered_view()
            center, spread, unit = fitted._scale_in_units
            return AffineMap(center, spread, unit), np.asarray(fitted._constant)

        name = "centered_squashing_map" if centered else "squashing_map"
        return derived_from_fit(self, name, build)

    def _transforms_relative_to_center(self):
        # The map always has an offset (the median).
        return getattr(self, "_integer_center", None) is not None

    def _check_for_map(self, X, copy, method="transform"):
        copy = self.copy if copy is None else copy
        center_integers = method == "transform"
        center_here = _centered_in_place(X, copy, center_integers) and (
            getattr(self, "_integer_center", None) is not None
        )
        X_checked = check_input(
            self,
            X,
            reset=False,
            reject_infinity=False,
            accept_sparse=False,
            method=method,
            center_integers=center_integers and not center_here,
        )
        if center_here:  # +/-inf and NaN stay as they are: nothing to check
            X_checked = centered_floats(X_checked, self._integer_center, in_place=True)
        return X_checked, may_write_in_place(X_checked, X, copy)

    def transform(self, X, copy=None):
        """Scale robustly and squash the features of X into ``(-B, B)``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Data to transform. NaN is kept, ``+/-inf`` become ``+/-B``.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : ndarray of shape (n_samples, n_features)
            Transformed data, of X's float dtype.
        """
        check_is_fitted(self)
        X_checked, in_place = self._check_for_map(X, copy)
        affine, constant = self._fitted_map(centered=True)
        bound = float(self.max_absolute_value)
        namespace = namespace_of(X_checked)
        if namespace is not None:
            xp = namespace.xp
            Z = affine.transform(X_checked, in_place=False, estimator=self)
            if constant.any():
                zero = namespace.asarray(constant) & xp.isfinite(Z)
                Z = xp.where(zero, xp.zeros_like(Z), Z)
            return _squash_in_namespace(namespace, Z, X_checked, bound)
        infinite = np.isinf(X_checked)
        signs = np.sign(X_checked[infinite]) if infinite.any() else None
        Z = np.asarray(affine.transform(X_checked, in_place=in_place, estimator=self))
        if constant.any():
            # skrub's rule: every finite value of a constant feature is 0.
            Z[constant[None, :] & np.isfinite(Z)] = 0
        if signs is not None:
            # +/-B whatever the center and scale (even of a feature without data).
            Z[infinite] = signs * np.inf
        return _squash(Z, bound)

    def inverse_transform(self, X, copy=None):
        """Undo the squashing and the scaling of X.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Transformed data, in ``[-B, B]``.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_original : {ndarray, DataFrame} of shape (n_samples, n_features)
            Data in the original units (``+/-inf`` for ``+/-B``, NaN beyond),
            in the container chosen by ``set_output``.
        """
        check_is_fitted(self)
        X_checked, in_place = self._check_for_map(X, copy, method="inverse_transform")
        namespace = namespace_of(X_checked)
        if namespace is not None:
            return wrap_like_transform(
                self, self._inverse_in_namespace(X_checked, namespace), X
            )
        if not in_place:
            X_checked = X_checked.copy()
        Z = _unsquash(X_checked, float(self.max_absolute_value))
        affine, constant = self._fitted_map(centered=True)
        result = np.asarray(affine.inverse_transform(Z, in_place=True, estimator=self))
        result = _uncentered(result, getattr(self, "_integer_center", None))
        if constant.any():
            center = np.broadcast_to(
                np.asarray(self.center_, result.dtype), result.shape
            )
            keep = constant[None, :] & ~np.isnan(result)
            result[keep] = center[keep]
        return wrap_like_transform(self, result, X)

    def _inverse_in_namespace(self, S, namespace):
        xp = namespace.xp
        affine, constant = self._fitted_map()
        ratio = xp.astype(S, namespace.float_dtype) / float(self.max_absolute_value)
        # +/-B divide by 0: +/-inf; beyond B the root is NaN.
        Z = xp.astype(ratio / xp.sqrt((1 - ratio) * (1 + ratio)), S.dtype)
        Z = Z * float(self.max_absolute_value)
        result = affine.inverse_transform(Z, in_place=False, estimator=self)
        if constant.any():
            center = namespace.asarray(host_view(self).center_, dtype=result.dtype)
            keep = namespace.asarray(constant) & ~xp.isnan(result)
            result = xp.where(keep, center * xp.ones_like(result), result)
        return result
