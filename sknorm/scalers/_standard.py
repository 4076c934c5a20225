"""StandardScaler: the moments and the map to zero mean and unit variance."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from .._affine import AffineMap, safe_scale
from .._validation import (
    is_sparse,
)
from ..stats import (
    Extrema,
    Moments,
)
from ._base import _DECAY_CONSTRAINT, _ColumnScaler


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
