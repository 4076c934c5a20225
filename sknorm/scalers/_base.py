"""The machinery every column scaler shares: fit over statistics, the
affine map built from them, transform and inverse_transform."""

from numbers import Real

import numpy as np
from sklearn.base import OneToOneFeatureMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from .._array_api import host_view
from .._estimator import _StatisticsEstimator, derived_from_fit
from .._validation import (
    _is_float_matrix,
    centered_floats,
    check_finite,
    check_input,
    may_write_in_place,
    owns_memory,
    wrap_like_transform,
)

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
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
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
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
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
