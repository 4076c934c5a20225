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
from ._array_api import host_view
from ._estimator import FIT_SKETCH_SAMPLE, _StatisticsEstimator, derived_from_fit
from ._validation import (
    check_finite,
    check_input,
    is_sparse,
    may_write_in_place,
    owns_memory,
    wrap_like_transform,
)
from .stats import Extrema, Moments, Quantiles, QuantileSketch

__all__ = ["MaxAbsScaler", "MinMaxScaler", "RobustScaler", "StandardScaler"]


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

    def _clip_range(self):
        """``(low, high)`` of transformed values: by default the training range.

        Needs an ``Extrema`` statistic (declared when ``clip=True``).
        """
        extrema = Extrema.from_state(self._statistics_state["Extrema"])
        affine = self._affine_map()
        low = affine.transform(extrema.minimum[None, :], in_place=False)[0]
        high = affine.transform(extrema.maximum[None, :], in_place=False)[0]
        return low, high

    def _fitted_map(self):
        """``(affine map, clip range or None)`` of the fitted estimator, built
        once per fitted state (see :func:`~sknorm._estimator.derived_from_fit`)
        from its numpy view."""

        def build():
            fitted = host_view(self)
            return fitted._affine_map(), fitted._clip_range() if self.clip else None

        return derived_from_fit(self, "affine_map", build)

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
        X_checked, in_place, check_as_we_go = self._check_for_map(X, copy)
        affine, clip = self._fitted_map()
        return affine.transform(
            X_checked,
            in_place=in_place,
            clip=clip,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )

    def _check_for_map(self, X, copy, method="transform"):
        """Validate X for transform/inverse_transform.

        Returns ``(X_checked, in_place, check_as_we_go)``. The map checks for
        infinity block by block as it computes, except when it writes into the
        caller's own array: that is checked first, so that bad input is
        rejected before any of it is overwritten.
        """
        copy = self.copy if copy is None else copy
        X_checked = check_input(
            self, X, reset=False, reject_infinity=False, method=method
        )
        in_place = may_write_in_place(X_checked, X, copy)
        callers_memory = in_place and not owns_memory(X_checked, X)
        if callers_memory:
            check_finite(X_checked, self)
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
        affine, _ = self._fitted_map()
        result = affine.inverse_transform(
            X_checked,
            in_place=in_place,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )
        return wrap_like_transform(self, result, X)


class StandardScaler(_ColumnScaler):
    """Standardize features by removing the mean and scaling to unit variance.

    Drop-in for :class:`sklearn.preprocessing.StandardScaler`: the same
    parameters, attributes and results, computed from a mergeable
    :class:`~sknorm.stats.Moments` statistic. The transform is::

        z = (x - mean_) / scale_

    with ``scale_`` the population standard deviation (``ddof=0``).

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
        Per-feature scale: the standard deviation, or 1 for a constant feature
        (a standard deviation within the moments' rounding error: at most
        ``4 * eps`` times the absolute mean). None when ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean. None when ``with_mean=False`` and ``with_std=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-feature variance (``ddof=0``). None when ``with_std=False``.
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
        decay=0.0,
        feature_groups=None,
    ):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.clip = clip
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
            self.var_ = moments.variance()
            # Constant features: a standard deviation within the moments'
            # rounding error of the mean (the rule of every scaler).
            self.scale_ = safe_scale(
                moments.std(), moments.mean, Moments.spread_rounding
            )
        else:
            self.var_ = None
            self.scale_ = None

    def _affine_map(self):
        return AffineMap(self.mean_ if self.with_mean else None, self.scale_)

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

    def _half_width(self):
        """Half the width of ``feature_range``: finite even where ``max -
        min`` overflows (``(-1e308, 1e308)``)."""
        low, high = self._range()
        return high / 2 - low / 2

    def _statistic_types(self):
        return (Extrema,)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        extrema = statistics["Extrema"]
        low, _ = self._range()
        self.data_min_ = extrema.minimum
        self.data_max_ = extrema.maximum
        # inf where the range exceeds the float64 maximum; the map does not.
        with np.errstate(over="ignore"):
            self.data_range_ = extrema.spread()
        spread, unit = spread_in_units(self.data_min_, self.data_max_)
        with np.errstate(under="ignore", over="ignore"):
            # 0 or inf where the true value lies outside the float64 range.
            self.scale_ = np.ldexp(self._half_width() / (spread / 2), -unit)
        with np.errstate(invalid="ignore", over="ignore"):
            # A minimum of 0 gives min_ = low exactly, also where scale_ is
            # inf (a range below 2**-1074 of the width); 0 * inf is NaN.
            self.min_ = np.where(
                self.data_min_ == 0, low, low - self.data_min_ * self.scale_
            )
        self.n_samples_seen_ = n_rows

    def _affine_map(self):
        # Kept as (x - offset) / scale with offset = data_min_ when min = 0, so
        # the training minimum maps to exactly 0 (and sparse zeros stay zero).
        # Offset and scale are in units of 2**unit: halves where the range
        # overflows.
        low, _ = self._range()
        spread, unit = spread_in_units(self.data_min_, self.data_max_)
        # Halves of spread and width: exact, and neither overflows.
        scale = (spread / 2) / self._half_width()
        offset = np.ldexp(self.data_min_, -unit) - low * scale
        return AffineMap(offset, scale, unit)

    def _clip_range(self):
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

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        self.max_abs_ = statistics["Extrema"].max_abs()
        self.scale_ = safe_scale(self.max_abs_)
        self.n_samples_seen_ = n_rows

    def _affine_map(self):
        return AffineMap(None, self.scale_)

    def _clip_range(self):
        return -1.0, 1.0


class RobustScaler(_ColumnScaler):
    """Scale features using statistics that are robust to outliers.

    Drop-in for :class:`sklearn.preprocessing.RobustScaler`: the same parameters,
    attributes and results. It removes the median and divides by the quantile
    range (the interquartile range by default)::

        x_scaled = (x - center_) / scale_

    ``fit`` computes **exact** quantiles (:class:`~sknorm.stats.Quantiles`, the
    same values as scikit-learn's ``np.nanpercentile``/``np.nanmedian``) by
    selection rather than sorting, in parallel over columns, and on sparse input
    without materialising any column. ``partial_fit`` streams instead: it merges
    a :class:`~sknorm.stats.QuantileSketch` per batch, whose normalized rank
    error stays below 1% at its default size (exact while fewer than a few
    hundred values per feature were seen).

    Additions: ``sample_weight`` (relative weights: equal weights of any value
    give exactly the unweighted result, zero removes a row; see
    :mod:`sknorm.stats.quantiles` for the definition), ``partial_fit``,
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
        Percentiles whose difference is the scale.
    copy : bool, default=True
        If False, scale in place where possible.
    unit_variance : bool, default=False
        Divide the scale by the quantile range of the standard normal
        distribution, so that normally distributed features get unit variance.
        Needs ``0 < q_min < q_max < 100``.
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
        exact quantiles.
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
        Per-feature quantile range (divided by the normal one when
        ``unit_variance``), or 1 for a constant feature (a range of exactly
        0). inf (or 0) where the range lies outside the float64 range; the
        transform is still computed correctly. None when
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
    """

    _parameter_constraints: dict = {
        **_ColumnScaler._parameter_constraints,
        "with_centering": ["boolean"],
        "with_scaling": ["boolean"],
        "quantile_range": [tuple],
        "unit_variance": ["boolean"],
        "dask_quantiles": [StrOptions({"sketch", "exact"})],
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
        self.decay = decay
        self.feature_groups = feature_groups

    def _levels(self):
        """Quantile levels as fractions, divided by 100 exactly as numpy does."""
        q_min, q_max = self.quantile_range
        return np.true_divide([q_min, 0.5 * 100, q_max], 100)

    def _validate_fit_params(self):
        bounds = self.quantile_range
        valid = len(bounds) == 2 and all(
            isinstance(q, Real) and not isinstance(q, bool) for q in bounds
        )
        if not valid or not 0 <= bounds[0] <= bounds[1] <= 100:
            raise ValueError(f"Invalid quantile range: {bounds}")
        if self.unit_variance and not 0 < bounds[0] < bounds[1] < 100:
            raise ValueError(
                "unit_variance=True needs 0 < q_min < q_max < 100: the normal "
                f"distribution's range for quantile_range={bounds} is "
                f"{'infinite' if bounds[0] < bounds[1] else 'zero'}."
            )

    def _statistic_types(self):
        # The sketch of a sample lets partial_fit continue after fit.
        exact = (Quantiles, {"levels": self._levels()})
        sampled = (QuantileSketch, {"sample_size": FIT_SKETCH_SAMPLE})
        return (exact, sampled, Extrema) if self.clip else (exact, sampled)

    def _streaming_statistic_types(self):
        return (QuantileSketch, Extrema) if self.clip else (QuantileSketch,)

    def _center_and_scale(self, statistics):
        if "Quantiles" in statistics:
            quantiles = statistics["Quantiles"]
        else:
            quantiles = statistics["QuantileSketch"].quantiles(self._levels())
        q_min, _, q_max = self._levels()
        center = quantiles.median()
        if not self.with_scaling:
            return center, None, None
        # Constant features: a quantile range of exactly 0 (distinct values
        # never give 0), in units where it neither overflows nor underflows.
        spread, unit = spread_in_units(quantiles.value(q_min), quantiles.value(q_max))
        if self.unit_variance:
            spread = spread / (ndtri(q_max) - ndtri(q_min))
        return center, spread, unit

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        center, spread, unit = self._center_and_scale(statistics)
        self.center_ = center if self.with_centering else None
        with np.errstate(over="ignore", under="ignore"):
            # inf (or 0) where the quantile range lies outside float64.
            self.scale_ = None if spread is None else np.ldexp(spread, unit)
        # The map's scale in units of 2**unit.
        self._scale_in_units = None if spread is None else (spread, unit)

    def _affine_map(self):
        if self._scale_in_units is None:
            return AffineMap(self.center_, None)
        scale, unit = self._scale_in_units
        center = None if self.center_ is None else np.ldexp(self.center_, -unit)
        return AffineMap(center, scale, unit)
