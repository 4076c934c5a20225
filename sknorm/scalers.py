"""Column scalers: a mergeable statistic plus an affine map.

Every scaler here learns one or more statistics from :mod:`sknorm.stats` and
derives a per-feature ``offset`` and ``scale`` from them; :class:`~sknorm._affine.
AffineMap` applies them. ``fit`` computes the statistics, ``partial_fit`` merges new
ones into them, ``sample_weight`` and sparse input are handled by the statistics
themselves, so no scaler special-cases any of these.
"""

from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils.validation import check_is_fitted

from ._affine import AffineMap, safe_scale
from ._validation import (
    check_input,
    check_no_infinity,
    check_sample_weight,
    is_sparse,
    may_write_in_place,
    owns_memory,
    wrap_like_transform,
)
from .stats import Extrema, Moments

__all__ = ["MaxAbsScaler", "MinMaxScaler", "StandardScaler"]

_STATISTICS = {cls.__name__: cls for cls in (Extrema, Moments)}


class _ColumnScaler(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Shared machinery of the column scalers.

    Subclasses declare which statistics they need (:meth:`_statistic_types`), turn
    them into fitted attributes (:meth:`_set_fitted_attributes`) and describe their
    map (:meth:`_affine_map`, :meth:`_clip_range`). Everything else — validation,
    merging, weights, sparse data, in-place operation, output containers — lives
    here once.
    """

    _parameter_constraints: dict = {"copy": ["boolean"], "clip": ["boolean"]}

    #: Advice appended to the error raised when sparse input would densify.
    _sparse_advice = ""

    def _statistic_types(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _set_fitted_attributes(self, statistics, n_rows, weighted):  # pragma: no cover
        """Set the public fitted attributes; ``n_rows`` counts all rows seen."""
        raise NotImplementedError

    def _affine_map(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _clip_range(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fit_input(self, X):
        """Hook for estimator-specific checks of validated fit input."""

    def _reset(self):
        """Forget everything learned by earlier calls to fit/partial_fit."""
        for name in [a for a in vars(self) if a.endswith("_") and a[0] != "_"]:
            delattr(self, name)
        self.__dict__.pop("_statistics_state", None)

    def fit(self, X, y=None, sample_weight=None):
        """Compute the statistics used for later scaling.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data. NaN values are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples. Integer weights are equivalent
            to repeating rows.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        self._reset()
        return self.partial_fit(X, y, sample_weight=sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the statistics with a batch of samples.

        The statistics of ``X`` are merged exactly into those already learned, so
        a sequence of ``partial_fit`` calls over chunks equals one ``fit`` over
        all of them.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            A batch of training data. NaN values are ignored.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : object
            Fitted scaler.
        """
        first_call = not hasattr(self, "_statistics_state")
        self._validate_fit_params()
        X = check_input(self, X, reset=first_call, reject_infinity=False)
        self._check_fit_input(X)
        weight = check_sample_weight(sample_weight, X)
        types = self._statistic_types()
        # Statistics that reveal infinity spare the fit a read of all the data:
        # only the columns whose statistic is not finite are inspected.
        fused_check = all(cls.reveals_infinity for cls in types) and (
            weight is None or bool(np.all(weight > 0))
        )
        if not fused_check:
            check_no_infinity(X, self)
        statistics = {cls.__name__: cls.from_data(X, weight) for cls in types}
        if fused_check:
            suspect = np.zeros(X.shape[1], dtype=bool)
            for statistic in statistics.values():
                suspect |= statistic.nonfinite_columns()
            if suspect.any():
                check_no_infinity(X, self, columns=np.flatnonzero(suspect))
        if not first_call:
            for name, previous in self._statistics_state.items():
                if name in statistics:
                    old = _STATISTICS[name].from_state(previous)
                    statistics[name] = old.merge(statistics[name])
        self._statistics_state = {
            name: stat.to_state() for name, stat in statistics.items()
        }
        self._set_fitted_attributes(
            statistics,
            n_rows=getattr(self, "n_samples_seen_", 0) + X.shape[0],
            weighted=weight is not None,
        )
        return self

    def _validate_fit_params(self):
        """Hook for checks of parameter combinations (single values are
        validated by ``_parameter_constraints``)."""

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
        return self._affine_map().transform(
            X_checked,
            in_place=in_place,
            clip=self._clip_range() if self.clip else None,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )

    def _check_for_map(self, X, copy):
        """Validate X for transform/inverse_transform.

        Returns ``(X_checked, in_place, check_as_we_go)``. The map checks for
        infinity block by block as it computes, except when it writes into the
        caller's own array: that is checked first, so that bad input is
        rejected before any of it is overwritten.
        """
        copy = self.copy if copy is None else copy
        X_checked = check_input(self, X, reset=False, reject_infinity=False)
        in_place = may_write_in_place(X_checked, X, copy)
        callers_memory = in_place and not owns_memory(X_checked, X)
        if callers_memory:
            check_no_infinity(X_checked, self)
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
        X_checked, in_place, check_as_we_go = self._check_for_map(X, copy)
        result = self._affine_map().inverse_transform(
            X_checked,
            in_place=in_place,
            estimator=self,
            sparse_advice=self._sparse_advice,
            reject_infinity=check_as_we_go,
        )
        return wrap_like_transform(self, result, X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


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

    Attributes
    ----------
    scale_ : ndarray of shape (n_features,) or None
        Per-feature scale: the standard deviation, or 1 for a constant feature
        (spread at most ``1000 * eps`` times the feature's magnitude). None when
        ``with_std=False``.
    mean_ : ndarray of shape (n_features,) or None
        Per-feature mean. None when ``with_mean=False`` and ``with_std=False``.
    var_ : ndarray of shape (n_features,) or None
        Per-feature variance (``ddof=0``). None when ``with_std=False``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.
    n_samples_seen_ : int or ndarray of shape (n_features,)
        Number of non-missing samples per feature (sum of weights when weighted);
        an int when the same for all features.

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
    """

    _parameter_constraints: dict = {
        **_ColumnScaler._parameter_constraints,
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    _sparse_advice = "Use with_mean=False to scale sparse data without centering."

    def __init__(self, *, copy=True, with_mean=True, with_std=True, clip=False):
        self.copy = copy
        self.with_mean = with_mean
        self.with_std = with_std
        self.clip = clip

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
            self.var_ = moments.variance()
            # Constant features are decided on the standard deviation relative
            # to the mean: the same rule as every other scaler.
            self.scale_ = safe_scale(np.sqrt(self.var_), moments.mean)
        else:
            self.var_ = None
            self.scale_ = None

    def _affine_map(self):
        return AffineMap(self.mean_ if self.with_mean else None, self.scale_)

    def _clip_range(self):
        extrema = Extrema.from_state(self._statistics_state["Extrema"])
        affine = self._affine_map()
        low = affine.transform(extrema.minimum[None, :], in_place=False)[0]
        high = affine.transform(extrema.maximum[None, :], in_place=False)[0]
        return low, high

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
    clear error names the features that would densify.

    Parameters
    ----------
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of transformed data.
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip transformed values of held-out data to ``feature_range``.

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

    def __init__(self, feature_range=(0, 1), *, copy=True, clip=False):
        self.feature_range = feature_range
        self.copy = copy
        self.clip = clip

    def _validate_fit_params(self):
        low, high = self._range()
        if not low < high:
            raise ValueError(
                "Minimum of desired feature range must be smaller than maximum. "
                f"Got {self.feature_range}."
            )

    def _range(self):
        low, high = self.feature_range
        for bound in (low, high):
            if not isinstance(bound, Real) or not np.isfinite(bound):
                raise ValueError(
                    "feature_range must hold two finite numbers, got "
                    f"{self.feature_range!r}."
                )
        return float(low), float(high)

    def _statistic_types(self):
        return (Extrema,)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        extrema = statistics["Extrema"]
        low, high = self._range()
        self.data_min_ = extrema.minimum
        self.data_max_ = extrema.maximum
        self.data_range_ = extrema.spread()
        self.scale_ = (high - low) / self._safe_range()
        self.min_ = low - self.data_min_ * self.scale_
        self.n_samples_seen_ = n_rows

    def _safe_range(self):
        magnitude = np.fmax(np.abs(self.data_min_), np.abs(self.data_max_))
        return safe_scale(self.data_range_, magnitude)

    def _affine_map(self):
        # Kept as (x - offset) / scale with offset = data_min_ when min = 0, so
        # the training minimum maps to exactly 0 (and sparse zeros stay zero).
        low, high = self._range()
        scale = self._safe_range() / (high - low)
        return AffineMap(self.data_min_ - low * scale, scale)

    def _clip_range(self):
        return self._range()


class MaxAbsScaler(_ColumnScaler):
    """Scale each feature by its maximum absolute value.

    Drop-in for :class:`sklearn.preprocessing.MaxAbsScaler`, computed from a
    mergeable :class:`~sknorm.stats.Extrema` statistic. It neither shifts nor
    centers, so sparse input stays sparse::

        x_scaled = x / max_abs_

    Additions: ``sample_weight`` (rows of zero weight ignored) and
    ``inverse_transform`` that honours ``set_output``.

    Parameters
    ----------
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip transformed values of held-out data to ``[-1, 1]``.

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

    def __init__(self, *, copy=True, clip=False):
        self.copy = copy
        self.clip = clip

    def _statistic_types(self):
        return (Extrema,)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        self.max_abs_ = statistics["Extrema"].max_abs()
        self.scale_ = safe_scale(self.max_abs_, self.max_abs_)
        self.n_samples_seen_ = n_rows

    def _affine_map(self):
        return AffineMap(None, self.scale_)

    def _clip_range(self):
        return -1.0, 1.0
