"""SquashingScaler: robust scaling, then smooth clipping to ``(-B, B)``."""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._affine import AffineMap, spread_in_units
from .._array_api import host_view, namespace_of
from .._estimator import FIT_SKETCH_SAMPLE, derived_from_fit
from .._validation import (
    centered_floats,
    check_input,
    may_write_in_place,
    wrap_like_transform,
)
from ..stats import (
    Extrema,
    Quantiles,
    QuantileSketch,
)
from ._base import _centered_in_place, _ColumnScaler, _uncentered
from ._robust import _check_quantile_range, quantile_spread_in_units


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
    quantile_method_ : {"exact", "sketch"}
        Which quantiles the fitted map uses: ``"exact"`` (those of all the
        rows: an in-memory ``fit``, a dask fit with
        ``dask_quantiles="exact"``, a stream source read again, see
        :func:`sknorm.scan`) or ``"sketch"`` (the mergeable quantile sketch:
        ``partial_fit``, a one-pass fit of a source).

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

    def _fit_input(self, batch):
        X = batch.data
        xp = np if batch.namespace is None else batch.namespace.xp
        infinite = xp.isinf(X)
        if not bool(xp.any(infinite)):
            batch.finite_checked = True  # no need to look again
            return batch
        # Ignored by the statistics, as missing values (a new array: the
        # caller's data is never written).
        X = xp.where(infinite, xp.full_like(X, float("nan")), X)
        return batch.replaced(X, finite_checked=True, has_nan=True)

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
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
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
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
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
