"""PowerTransformer: the Yeo-Johnson and Box-Cox maps, fitted by maximum
likelihood from a mergeable statistic."""

import warnings

import numpy as np
from sklearn.base import OneToOneFeatureMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from .._array_api import host_view, namespace_of
from .._estimator import _StatisticsEstimator, derived_from_fit
from .._parallel import BlockPlan, row_blocks
from .._validation import (
    _raise_infinity,
    check_finite,
    check_input,
    is_sparse,
    may_write_in_place,
    owns_memory,
    wrap_like_transform,
)
from ..stats import PowerLikelihood
from ._base import _DECAY_CONSTRAINT
from ._standard import StandardScaler

_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).smallest_subnormal
#: scipy's thresholds below which the maps take their logarithmic limit:
#: ``yeojohnson`` (|lambda| < eps, |lambda - 2| <= eps), ``special.boxcox``.
_BOX_COX_LOG = 1e-19
#: Values per row block of the maps (their temporaries stay in cache).
_BLOCK_VALUES = 1 << 16

_POSITIVE_MESSAGE = (
    "The Box-Cox transformation can only be applied to strictly positive data"
)


class _PowerMap:
    """The fitted map of each feature, per side of 0 (Box-Cox: one side)::

        z = gain * expm1(theta * (L - center)) + offset

    ``L = log x`` (Box-Cox) or ``log1p|x|`` (Yeo-Johnson), ``theta = lambda``
    (side 0, ``x >= 0``) or ``2 - lambda`` (side 1). Unstandardized:
    ``center = 0``, ``gain = +/-1 / theta``, ``offset = 0`` (the maps
    themselves). Standardized: ``center`` the mean of the side's fitted
    logarithms, ``gain = +/-exp(theta c) / (theta std)`` and ``offset =
    (+/-T(c) - mean) / std``: the map ``(y - mean) / std`` rearranged so that
    nothing cancels or overflows (Box-Cox values whose ``x**lambda`` is tiny
    next to 1 keep their digits; huge values need no power of two). Where
    ``theta`` is 0 (below scipy's thresholds) ``expm1(theta d) / theta`` is
    ``d`` itself.

    Parameters
    ----------
    lambdas : ndarray of shape (n_features,)
    box_cox : bool
    constants : tuple of ndarray of shape (2, n_features)
        ``(center, gain, offset)``.
    """

    def __init__(self, lambdas, box_cox, constants):
        lam = np.asarray(lambdas, np.float64)
        self.box_cox = box_cox
        self.lam = lam
        self.theta = np.stack([lam, 2.0 - lam])
        log_limit = _log_limits(lam, box_cox)
        self.log_limit = log_limit
        self.any_log = bool(log_limit.any())
        # The exponent of expm1 (0 where the map is the logarithm's limit).
        self.rate = np.where(log_limit, 0.0, self.theta)
        center, gain, offset = (np.asarray(a, np.float64) for a in constants)
        self.center, self.gain, self.offset = center, gain, offset
        with np.errstate(divide="ignore", invalid="ignore"):
            self.inverse_gain = 1.0 / gain
            self.inverse_rate = np.where(log_limit, 0.0, 1.0 / self.theta)
        # Yeo-Johnson: the image of x = 0, where the sides meet.
        with np.errstate(invalid="ignore", over="ignore"):
            at_zero = -center[0]
            self.zero = (
                gain[0]
                * np.where(log_limit[0], at_zero, np.expm1(self.rate[0] * at_zero))
                + offset[0]
            )
        self.zero = np.where(np.isfinite(self.zero), self.zero, 0.0)

    def _logs(self, block):
        """``(L, negative)`` of a block: ``log x`` (Box-Cox) or ``log1p|x|``
        and the mask of negative values (None where there are none)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.box_cox:
                return np.log(block), None
            logs = np.abs(block)
            np.log1p(logs, out=logs)
            negative = block < 0
        return logs, (negative if negative.any() else None)

    def _operands(self, names, side, columns):
        """Per-side operands of the features ``columns``, chosen per value
        where ``side`` (a mask of side-1 values) is given."""
        arrays = [getattr(self, name) for name in names]
        if side is None:
            return [a[0][columns] for a in arrays]
        return [np.where(side, a[1][columns], a[0][columns]) for a in arrays]

    def transform_block(self, block, columns=slice(None)):
        """The fitted map of a float64 block (or of values of the features
        ``columns``, one per value); the block is not written."""
        logs, negative = self._logs(block)
        center, rate, gain, offset = self._operands(
            ("center", "rate", "gain", "offset"), negative, columns
        )
        with np.errstate(over="ignore", invalid="ignore"):
            d = np.subtract(logs, center, out=logs)
            u = np.multiply(d, rate)
            np.expm1(u, out=u)
            if self.any_log:
                limit = self._operands(("log_limit",), negative, columns)[0]
                if np.any(limit):
                    u = np.where(limit, d, u)
            u *= gain
            u += offset
            if negative is not None:
                # The sides meet at x = 0: each side's map is monotone, and
                # their roundings there must not cross.
                zero = self.zero[columns]
                np.minimum(u, zero, out=u, where=negative)
        return u

    def widened(self, lanes):
        """This map for blocks viewed as ``lanes`` rows side by side
        (:meth:`~sknorm._parallel.BlockPlan.widen`): operands tiled, so that
        numpy's broadcasts run along rows of at least 64 values."""
        if lanes == 1:
            return self
        cached = getattr(self, "_widened", {}).get(lanes)
        if cached is not None:
            return cached
        wide = object.__new__(type(self))
        wide.__dict__.update(self.__dict__)
        for name in ("center", "rate", "gain", "offset", "log_limit", "theta"):
            setattr(wide, name, np.tile(getattr(self, name), (1, lanes)))
        wide.zero = np.tile(self.zero, lanes)
        wide._widened = {}
        self.__dict__.setdefault("_widened", {})[lanes] = wide
        return wide

    def transform_into(self, block, target, negative):
        """:meth:`transform_block` of a dense block of all the features,
        written into the float64 array ``target`` (which may be the block
        itself); ``negative`` is the mask of its negative values, or None
        where it has none. Every step runs in place on data in cache."""
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # (dtype: float32 input is computed in float64, not cast after.)
            if self.box_cox:
                np.log(block, out=target, dtype=np.float64)
            else:
                np.abs(block, out=target, dtype=np.float64)
                np.log1p(target, out=target)
            if negative is None:
                center, rate, gain, offset = (
                    self.center[0],
                    self.rate[0],
                    self.gain[0],
                    self.offset[0],
                )
            else:
                center, rate, gain, offset = self._operands(
                    ("center", "rate", "gain", "offset"), negative, slice(None)
                )
            np.subtract(target, center, out=target)
            limited = None
            if self.any_log:
                limit = (
                    self.log_limit[0]
                    if negative is None
                    else self._operands(("log_limit",), negative, slice(None))[0]
                )
                if np.any(limit):
                    limited = np.where(limit, target, np.nan)
            np.multiply(target, rate, out=target)
            np.expm1(target, out=target)
            if limited is not None:
                np.copyto(target, limited, where=~np.isnan(limited))
            np.multiply(target, gain, out=target)
            np.add(target, offset, out=target)
            if negative is not None:
                np.minimum(target, self.zero, out=target, where=negative)
        return target

    def inverse_block(self, block, columns=slice(None)):
        """The inverse map of a float64 block (not written): ``L = center +
        log1p((z - offset) / gain) / theta``, then ``x = exp(L)`` or
        ``+/-expm1(L)``; values beyond the map's range give NaN (or inf at
        its edge)."""
        side = None
        if not self.box_cox:
            with np.errstate(invalid="ignore"):
                side = block < self.zero[columns]
            if not side.any():
                side = None
        center, inverse_rate, inverse_gain, offset = self._operands(
            ("center", "inverse_rate", "inverse_gain", "offset"), side, columns
        )
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            u = np.subtract(block, offset)
            u *= inverse_gain
            d = np.log1p(u)
            d *= inverse_rate
            if self.any_log:
                limit = self._operands(("log_limit",), side, columns)[0]
                if np.any(limit):
                    d = np.where(limit, u, d)
            d += center
            if self.box_cox:
                return np.exp(d, out=d)
            np.expm1(d, out=d)
            if side is not None:
                np.negative(d, out=d, where=side)
        return d


def _signs(block, estimator, box_cox, check):
    """The mask of a block's negative values (None where there are none),
    after rejecting (``check``) infinity, naming the features, and values
    <= 0 for Box-Cox. Two reductions decide it for blocks of finite
    values (the common case)."""
    with np.errstate(invalid="ignore"):
        low, high = np.min(block), np.max(block)
        if not (np.isfinite(low) and np.isfinite(high)):
            if check:
                infinite = np.isinf(block).any(axis=0)
                if infinite.any():
                    _raise_infinity(np.flatnonzero(infinite), estimator)
            low = np.fmin.reduce(block, axis=None)  # NaN left out
        if box_cox:
            if check and low <= 0:
                raise ValueError(_POSITIVE_MESSAGE)
            return None
        if not low < 0:
            return None
        return block < 0


def _map_dense(X, out, power_map, estimator, check):
    """The fitted map of a dense X into ``out``, by cache-sized row blocks on
    the thread pool: each block is checked (``check``: infinity, Box-Cox's
    domain) before anything is written, mapped in place in the output
    (float64) or in a float64 scratch block rounded once to ``out``'s
    dtype."""
    plan = BlockPlan(*X.shape)
    lanes = plan.lanes
    rows_per_block = max(lanes, _BLOCK_VALUES // max(1, X.shape[1]))
    rows_per_block -= rows_per_block % lanes
    direct = out.dtype == np.float64 and out.flags.c_contiguous

    def task(rows):
        scratch = None if direct else np.empty((rows_per_block, X.shape[1]))
        for block_rows in row_blocks(
            rows.stop, 1, rows_per_block, start=rows.start, stop=rows.stop
        ):
            block = X[block_rows]
            target = out[block_rows] if direct else scratch[: len(block)]
            # Narrow rows viewed side by side (same values, same order).
            wide, block_lanes = plan.widen(block)
            wide_target, target_lanes = plan.widen(target)
            if block_lanes != target_lanes:
                wide, wide_target, block_lanes = block, target, 1
            negative = _signs(wide, estimator, power_map.box_cox, check)
            power_map.widened(block_lanes).transform_into(wide, wide_target, negative)
            if not direct:
                # Rounded once; beyond the dtype's range: inf, as a cast.
                with np.errstate(over="ignore"):
                    out[block_rows] = target

    plan.map(task)
    return out


def _map_dense_function(X, out, function):
    """``out = function(X)`` (a block map) by row blocks on the thread pool,
    float32 blocks computed in float64 and rounded once."""
    plan = BlockPlan(*X.shape)
    rows_per_block = max(1, _BLOCK_VALUES // max(1, X.shape[1]))

    def task(rows):
        for block_rows in row_blocks(
            rows.stop, 1, rows_per_block, start=rows.start, stop=rows.stop
        ):
            result = function(np.asarray(X[block_rows], dtype=np.float64))
            with np.errstate(over="ignore"):  # beyond the dtype's range: inf
                out[block_rows] = result

    plan.map(task)
    return out


class PowerTransformer(OneToOneFeatureMixin, _StatisticsEstimator):
    """Apply a power transform featurewise to make data more Gaussian-like.

    Drop-in for :class:`sklearn.preprocessing.PowerTransformer`: the same
    parameters, fitted attributes (``lambdas_``, and the private ``_scaler``,
    a fitted :class:`StandardScaler` of the transformed data when
    ``standardize=True``) and results. Each feature's ``lambda`` maximizes the
    profile log-likelihood of the transformed values (scipy's
    ``yeojohnson_llf`` / ``boxcox_llf``)::

        Yeo-Johnson  y = ((x + 1)**lambda - 1) / lambda             x >= 0
                     y = -((1 - x)**(2 - lambda) - 1) / (2 - lambda)  x < 0
        Box-Cox      y = (x**lambda - 1) / lambda                   x > 0

        z = (y - mean(y)) / std(y)          (standardize=True)

    **How lambda is found.** ``fit`` finds the exact maximum, per feature,
    within scipy's bounds against overflow (the optimum scikit-learn finds,
    within its optimizer's tolerance): a summary of a sample of 8,192 rows
    (:class:`~sknorm.stats.PowerLikelihood`) brackets it, then safeguarded
    Newton iterations on all rows, all features at once (each iteration one
    pass over the data, computing the log-likelihood's exact slope and
    curvature), stop when a step is below 1e-6 (the error left is about its
    square). ``fit`` on a source read in batches that can be read again
    (:func:`sknorm.scan`) runs the same iterations, each a pass over it,
    from the summary of all its rows: a closer start, so that the two fits
    may stop after different steps; their lambdas differ by the error those
    steps leave (about ``kappa * (1e-6 * max(1, |lambda|))**2``, ``kappa``
    the ratio of the log-likelihood's third derivative to twice its second)
    and by the rounding of their sums. ``partial_fit``, dask input,
    ``decay`` and a source read once (``sknorm.scan(..., exact=False)``, a
    ``RecordBatchReader``) fit from the merged summary instead (exact while
    at most ``min(1024, 16384 // n_features)`` rows were seen; beyond,
    ``lambda`` within 2e-4 of the exact maximum and standardized values
    within 2e-3, typically 1e-6 and 1e-5, see
    :class:`~sknorm.stats.PowerLikelihood`; interpolated maxima are clamped to
    ``[-4, 6]``). ``fit`` keeps the summary of a sample of 8,192 of its rows
    (of all of them from a source), so that ``partial_fit`` can continue
    after it.

    **Safety.** Every finite input gives finite statistics and a finite
    output where the result is representable: the likelihood and the moments
    are computed on ``log`` values centred per feature, with ``expm1`` and
    powers of two scaling them apart where ``x**lambda`` would overflow
    (values of 1e300 and 1e-300, subnormals, extreme lambdas). No warning is
    raised on valid input. A constant feature (scikit-learn's rule: a
    variance within the two-pass algorithm's error bound) gets ``lambda = 1``
    (the identity shape) and a scale of 1, for both methods.

    Additions: ``sample_weight`` (a weighted likelihood; relative weights:
    integer weights equal repeated rows), ``partial_fit``, ``decay``, sparse
    input with ``method="yeo-johnson", standardize=False`` (zeros stay
    zeros; implicit zeros are counted in the likelihood without being
    stored), array API input (the maps run on its device), dask input.

    Parameters
    ----------
    method : {"yeo-johnson", "box-cox"}, default="yeo-johnson"
        The power transform: Yeo-Johnson works with any real values,
        Box-Cox with strictly positive values only.
    standardize : bool, default=True
        Apply zero-mean, unit-variance normalization to the transformed
        output.
    copy : bool, default=True
        If False, transform in place where possible.
    decay : float in [0, 1), default=0.0
        Share of the learned weight each ``partial_fit`` forgets before it
        merges its batch (see :class:`StandardScaler`); ``fit`` is not
        affected.

    Attributes
    ----------
    lambdas_ : ndarray of shape (n_features,)
        The parameter of each feature's transform (float64 whatever the
        input's float dtype).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    power_transform : The function form.
    sknorm.stats.PowerLikelihood : The statistic, its accuracy and merging.

    Notes
    -----
    Differences from scikit-learn. Box-Cox on a constant feature (or one of
    missing values only) gives ``lambda = 1`` where scikit-learn raises.
    float32 input is fitted in float64 (scikit-learn's optimizer runs in
    float32 and returns float32 ``lambdas_``). The likelihood is evaluated
    without cancellation: where scikit-learn's float64 log-likelihood
    degenerates, lambdas differ (Yeo-Johnson on data of magnitude 1e300 or
    1e-300, whose variance over- or underflows there and which scikit-learn
    then treats as constant; two close values, whose transformed spread it
    rounds away); on data of both signs beyond about 5e144, where no lambda
    keeps both sides within float64, ``lambda = 1``. ``_scaler`` is sknorm's
    :class:`StandardScaler`, with its constant-feature rule; the transform
    standardizes from a form centred per side (``gain * expm1(theta (L -
    c)) + offset``) that keeps the digits of values whose transformed spread
    lies far below their mean's resolution (Box-Cox of values near 0),
    where ``(y - _scaler.mean_) / _scaler.scale_`` in float64 (and
    scikit-learn) cannot. With ``standardize=False`` the output is the maps'
    float64 values themselves: values mapped within rounding of ``-1 /
    lambda`` keep no digits, and their inverse is inf.
    ``inverse_transform`` maps values outside the transform's range to NaN
    with scikit-learn's UserWarning (Yeo-Johnson, dense input).
    ``lambdas_`` set by hand (as scikit-learn's own tests do) are applied
    with ``_scaler`` as fitted, in scikit-learn's arithmetic: ``(T(x) -
    _scaler.mean_) / _scaler.scale_``.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import PowerTransformer
    >>> data = [[1, 2], [3, 2], [4, 5]]
    >>> pt = PowerTransformer().fit(data)
    >>> pt.lambdas_.round(3)
    array([ 1.387, -3.101])
    >>> pt.transform(data).round(3)
    array([[-1.316, -0.707],
           [ 0.21 , -0.707],
           [ 1.106,  1.414]])

    Streaming gives the same lambdas on small data (the statistic keeps the
    rows while they are few):

    >>> streamed = PowerTransformer()
    >>> for batch in (data[:1], data[1:]):
    ...     streamed = streamed.partial_fit(batch)
    >>> bool(np.allclose(streamed.lambdas_, pt.lambdas_, rtol=1e-10))
    True

    Huge values neither overflow nor warn:

    >>> X = np.random.default_rng(0).lognormal(size=(100, 1)) * 1e300
    >>> bool(np.isfinite(PowerTransformer(method="box-cox").fit_transform(X)).all())
    True
    """

    _parameter_constraints: dict = {
        "method": [StrOptions({"yeo-johnson", "box-cox"})],
        "standardize": ["boolean"],
        "copy": ["boolean"],
        "decay": _DECAY_CONSTRAINT,
    }

    def __init__(self, method="yeo-johnson", *, standardize=True, copy=True, decay=0.0):
        self.method = method
        self.standardize = standardize
        self.copy = copy
        self.decay = decay

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = self.method == "yeo-johnson" and not self.standardize
        tags.input_tags.positive_only = self.method == "box-cox"
        return tags

    # -- fitting ---------------------------------------------------------------

    def _statistic_types(self):
        return ((PowerLikelihood, {"method": self.method, "exact": True}),)

    def _streaming_statistic_types(self):
        return ((PowerLikelihood, {"method": self.method}),)

    def _refined_by_passes(self, statistics, run_pass):
        # The exact maximum likelihood of a source, by the in-memory fit's
        # Newton iterations, each a pass over it.
        def read(function, *args):
            return run_pass(_block_call, function, *args)

        statistic = statistics["PowerLikelihood"].with_exact_fit(read)
        return {**statistics, "PowerLikelihood": statistic}

    def _sparse_error(self):
        if self.method == "box-cox":
            return (
                "PowerTransformer(method='box-cox') cannot take sparse input: "
                "Box-Cox needs strictly positive data, and the implicit zeros "
                "of a sparse matrix are zeros. Use method='yeo-johnson' with "
                "standardize=False (it maps 0 to 0, so the result stays "
                "sparse), or densify X."
            )
        return (
            "PowerTransformer(standardize=True) cannot take sparse input: "
            "standardizing would move the zeros, making the result dense. Use "
            "standardize=False (Yeo-Johnson maps 0 to 0, so the result stays "
            "sparse), or densify X."
        )

    def _check_fit_input(self, X):
        if is_sparse(X):
            if self.method == "box-cox" or self.standardize:
                raise ValueError(self._sparse_error())
            return
        if self.method == "box-cox":
            _check_positive(X)

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        statistic = statistics["PowerLikelihood"]
        fit = statistic.maximum_likelihood()
        self.lambdas_ = fit.lambdas
        self.__dict__.pop("_scaler", None)
        scaler = None
        if self.standardize:
            scaler = StandardScaler(copy=False).set_output(transform="default")
            scaler.n_features_in_ = self.n_features_in_
            scaler._statistics_state = {"Moments": fit.moments.to_state()}
            scaler._set_fitted_attributes(
                {"Moments": fit.moments}, n_rows=n_rows, weighted=weighted
            )
            self._scaler = scaler
        self._map_constants = _map_constants(fit, self.method == "box-cox", scaler)
        # What the constants were derived from: they serve while lambdas_ and
        # _scaler hold these values (scikit-learn's users set lambdas_).
        self._map_source = _map_source(self, np.array(fit.lambdas, np.float64), scaler)

    # -- the map ---------------------------------------------------------------

    def _power_map(self):
        """The :class:`_PowerMap` of the fitted attributes: the one fitted
        (the constants ``fit`` derived, for ``lambdas_`` and ``_scaler`` as
        fitted), or scikit-learn's map of ``lambdas_`` and ``_scaler``
        (``lambdas_`` set by hand, on a fitted estimator or not)."""

        def build():
            fitted = host_view(self)
            box_cox = self.method == "box-cox"
            lambdas = np.asarray(fitted.lambdas_, dtype=np.float64)
            scaler = None
            if self.standardize:
                scaler = getattr(fitted, "_scaler", None)
                if scaler is None:
                    raise NotFittedError(
                        f"This {type(self).__name__} has lambdas_ but no fitted "
                        "standardization (_scaler): call fit, or set "
                        "standardize=False."
                    )
            source = getattr(fitted, "_map_source", None)
            if source is not None and _same_source(source, self, lambdas, scaler):
                lambdas = source[2]  # as fitted, not rounded by a device
                constants = tuple(np.asarray(a) for a in fitted._map_constants)
            else:
                _check_shapes(lambdas, scaler)
                constants = _plain_constants(lambdas, box_cox, scaler)
            return _PowerMap(lambdas, box_cox, constants)

        return derived_from_fit(self, "power_map", build)

    def _checked(self, X, copy, method):
        """``(X_checked, in_place, checked)``: validated X, whether the result
        may overwrite it, and whether it was checked whole already (values
        the caller's own array: checked before anything is written)."""
        copy = self.copy if copy is None else copy
        box_cox = self.method == "box-cox"
        X_checked = check_input(
            self,
            X,
            reset=False,
            accept_sparse=("csr", "csc"),
            reject_infinity=False,
            method=method,
        )
        if is_sparse(X_checked) and (box_cox or self.standardize):
            raise ValueError(self._sparse_error())
        in_place = may_write_in_place(X_checked, X, copy)
        callers_memory = in_place and not owns_memory(X_checked, X)
        if (
            callers_memory
            or is_sparse(X_checked)
            or namespace_of(X_checked) is not None
        ):
            check_finite(X_checked, self)
            if box_cox and method == "transform":
                _check_positive(X_checked)
            return X_checked, in_place, True
        return X_checked, in_place, False

    def transform(self, X, copy=None):
        """Apply the power transform (and standardization) to each feature.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to transform (strictly positive for Box-Cox). NaN is kept.
            Sparse input needs ``method="yeo-johnson", standardize=False``.
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Transformed data, of X's float dtype.
        """
        check_is_fitted(self)
        X_checked, in_place, checked = self._checked(X, copy, "transform")
        power_map = self._power_map()
        _check_feature_count(power_map, X_checked)
        namespace = namespace_of(X_checked)
        if namespace is not None:
            return _map_in_namespace(X_checked, namespace, power_map, inverse=False)
        if is_sparse(X_checked):
            return _map_sparse(X_checked, in_place, power_map.transform_block)
        out = X_checked if in_place else np.empty_like(X_checked, order="C")
        return _map_dense(X_checked, out, power_map, self, not checked)

    def inverse_transform(self, X, copy=None):
        """Apply the inverse power transformation using the fitted lambdas.

        The inverse of the Box-Cox transformation is ``x = (y * lambda +
        1) ** (1 / lambda)`` (``exp(y)`` for ``lambda = 0``); the inverse of
        the Yeo-Johnson transformation is ``x = (y * lambda + 1) ** (1 /
        lambda) - 1`` for ``y >= 0`` and ``x = 1 - (1 - (2 - lambda) * y) **
        (1 / (2 - lambda))`` for ``y < 0`` (computed as ``expm1(log1p(.) /
        .)``). Values outside the transform's range give NaN, with
        scikit-learn's UserWarning for Yeo-Johnson.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Transformed data.
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
        X_checked, in_place, _ = self._checked(X, copy, "inverse_transform")
        power_map = self._power_map()
        _check_feature_count(power_map, X_checked)
        namespace = namespace_of(X_checked)
        if namespace is not None:
            result = _map_in_namespace(X_checked, namespace, power_map, inverse=True)
            return wrap_like_transform(self, result, X)
        if is_sparse(X_checked):
            result = _map_sparse(X_checked, in_place, power_map.inverse_block)
            _warn_new_nan(result.data, X_checked.data, None, self.method)
            return result
        out = X_checked if in_place else np.empty_like(X_checked)
        before = np.isnan(X_checked).any(axis=0) if self.method != "box-cox" else None
        result = _map_dense_function(X_checked, out, power_map.inverse_block)
        _warn_new_nan(result, None, before, self.method)
        return wrap_like_transform(self, result, X)


def _block_call(estimator, X, weight, function, *args):
    """``function(X, weight, *args)`` of a validated block of a source."""
    return function(X, weight, *args)


def _warn_new_nan(result, source_values, nan_before, method):
    """scikit-learn's warning when the inverse Yeo-Johnson map gives NaN for
    values outside its range."""
    if method == "box-cox":
        return
    if source_values is not None:  # sparse: the stored values
        return
    with np.errstate(invalid="ignore"):
        now = np.isnan(result).any(axis=0)
    for column in np.flatnonzero(now & ~nan_before):
        warnings.warn(
            f"Some values in column {column} of the inverse-transformed data "
            f"are NaN. This may be caused by numerical issues in the "
            f"transformation process, e.g. extremely skewed data. "
            f"Consider inspecting the input data or preprocessing it "
            f"before applying the transformation.",
            UserWarning,
            stacklevel=3,
        )


def _check_positive(X):
    """scikit-learn's error for Box-Cox on data <= 0 (NaN ignored)."""
    namespace = namespace_of(X)
    if namespace is not None:
        xp = namespace.xp
        bad = bool(xp.any(X <= 0))
    else:
        with np.errstate(invalid="ignore"):
            bad = bool(np.any(np.asarray(X) <= 0))
    if bad:
        raise ValueError(_POSITIVE_MESSAGE)


def _map_constants(fit, box_cox, scaler):
    """``(center, gain, offset)`` of :class:`_PowerMap`, per side and feature.

    Standardized features: ``gain = +/-exp(theta c) / (theta std)`` in log
    space and, for a feature with values on one side only, ``offset =
    -/+relative / std`` (``relative`` the mean of ``T(L) - T(c)``, in the
    units of the moments: nothing cancels); with values on both sides
    (Yeo-Johnson, values within scipy's overflow bounds) ``offset = (+/-T(c)
    - mean) / std`` in float64. Unstandardized features and constant ones:
    the plain maps (``center = 0``; constant features keep a scale of 1).

    A feature is constant when its spread cannot be told from the rounding
    of the logarithms it is computed from: a standard deviation of the
    centred logarithms, about ``std exp(-theta c)``, within ``4 eps (1 +
    |c|)``, or no spread at all. That is not the scaler's rule (a standard
    deviation within ``4 eps`` of ``|mean|``): the map keeps the digits of
    values whose transformed spread is far below their mean's resolution
    (Box-Cox of values near 0), where the scaler, as scikit-learn's, sees a
    constant feature.
    """
    lam = np.asarray(fit.lambdas, np.float64)
    plain = _plain_constants(lam, box_cox, None)
    if scaler is None:
        return plain
    plain_gain = plain[1]
    theta = np.stack([lam, 2.0 - lam])
    sign = np.array([1.0, -1.0])[:, None]
    limit = _log_limits(lam, box_cox)
    moments = fit.moments
    unit = moments.exponent.astype(np.int64)
    std = moments.scaled_std()  # in units of 2**unit
    mean = moments.scaled_mean
    present = fit.share > 0
    center = np.where(present, fit.center, 0.0)
    ln2 = np.log(2.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_std = np.log(std) + unit * ln2
        # The spread of the centred logarithms, per side.
        spread = log_std - np.where(limit, 0.0, theta * center)
        floor = np.log(4 * _EPS * np.abs(center) + _TINY)
        resolved = np.where(present, spread > floor, True).all(axis=0)
        constant = ~(std > 0) | ~resolved | ~present.any(axis=0)
        log_gain = (
            np.where(limit, 0.0, theta * center - np.log(np.abs(theta))) - log_std
        )
        gain = sign * np.where(limit, 1.0, np.sign(theta)) * np.exp(log_gain)
        # +/-T(c), in units of 2**unit (0 on a side without values).
        t_center = np.where(
            limit, center, np.expm1(theta * center) / np.where(limit, 1.0, theta)
        )
        t_scaled = sign * np.ldexp(t_center, -unit)
        offset = (t_scaled - mean) / std
        one_side = present.sum(axis=0) == 1
        own = -sign * fit.relative / std
        offset = np.where(one_side & present, own, offset)
    gain = np.where(constant, plain_gain, gain)
    center = np.where(constant, 0.0, center)
    plain_offset = -np.ldexp(mean, unit) * np.ones((2, 1))
    offset = np.where(constant, plain_offset, offset)
    return center, gain, offset


def _map_source(estimator, lambdas, scaler):
    """What a fit derived its map from: the method, standardize, ``lambdas_``
    and ``_scaler``'s ``mean_`` and ``scale_`` (float64 copies)."""
    if scaler is None:
        return (estimator.method, False, lambdas, None, None)
    fitted = host_view(scaler)
    return (
        estimator.method,
        True,
        lambdas,
        np.array(fitted.mean_, np.float64),
        np.array(fitted.scale_, np.float64),
    )


def _same_values(stored, value):
    """Whether ``value`` (an attribute now) holds the float64 ``stored``, or
    its rounding to a narrower float dtype (moved to a float32 device)."""
    if stored is None or value is None:
        return stored is None and value is None
    value = np.asarray(value)
    if value.shape != stored.shape:
        return False
    if value.dtype.kind == "f" and value.dtype.itemsize < 8:
        stored = stored.astype(value.dtype)
    return bool(np.array_equal(stored, value, equal_nan=True))


def _same_source(source, estimator, lambdas, scaler):
    """Whether the fitted map's ``source`` (:func:`_map_source`) still
    describes the estimator's parameters, ``lambdas_`` and ``_scaler``."""
    method, standardize, fitted_lambdas, mean, scale = source
    if method != estimator.method or standardize != (scaler is not None):
        return False
    if not _same_values(fitted_lambdas, lambdas):
        return False
    if scaler is None:
        return True
    fitted = host_view(scaler)
    return _same_values(mean, getattr(fitted, "mean_", None)) and _same_values(
        scale, getattr(fitted, "scale_", None)
    )


def _check_feature_count(power_map, X):
    """X must have a feature per lambda (lambdas_ may be set by hand)."""
    if power_map.lam.shape[0] != X.shape[1]:
        raise ValueError(
            f"X has {X.shape[1]} features, but lambdas_ has "
            f"{power_map.lam.shape[0]} values (one per feature)."
        )


def _check_shapes(lambdas, scaler):
    """lambdas_ (set by hand) must hold one value per feature, as many as
    ``_scaler`` has."""
    if lambdas.ndim != 1:
        raise ValueError(
            f"lambdas_ must hold one value per feature (a 1-D array), got "
            f"shape {lambdas.shape}."
        )
    if scaler is not None:
        fitted = host_view(scaler)
        for name in ("mean_", "scale_"):
            shape = np.shape(getattr(fitted, name, None))
            if shape != lambdas.shape:
                raise ValueError(
                    f"lambdas_ has {len(lambdas)} values but _scaler.{name} "
                    f"has shape {shape}."
                )


def _log_limits(lam, box_cox):
    """Where each side's map is its logarithmic limit, per scipy's tests:
    ``special.boxcox``'s ``|lambda| < 1e-19``; ``yeojohnson``'s ``|lambda| <
    eps`` (side 0) and ``not |lambda - 2| > eps`` (side 1, NaN included)."""
    lam = np.asarray(lam, np.float64)
    if box_cox:
        return np.stack([np.abs(lam) < _BOX_COX_LOG, np.zeros(lam.shape, bool)])
    return np.stack([np.abs(lam) < _EPS, ~(np.abs(lam - 2) > _EPS)])


def _plain_constants(lam, box_cox, scaler):
    """``(center, gain, offset)`` of :class:`_PowerMap` from ``lambdas_``
    and ``_scaler`` alone: scikit-learn's map, ``y = T(x)`` then, with a
    ``scaler``, ``(y - mean_) / scale_``. For ``lambdas_`` set by hand (and
    for unstandardized fits, where it is the fitted map itself)."""
    lam = np.asarray(lam, np.float64)
    theta = np.stack([lam, 2.0 - lam])
    sign = np.array([1.0, -1.0])[:, None]
    with np.errstate(divide="ignore"):
        gain = np.where(_log_limits(lam, box_cox), sign, sign / theta)
    zeros = np.zeros(theta.shape)
    if scaler is None:
        return zeros, gain, zeros
    fitted = host_view(scaler)
    mean = np.asarray(fitted.mean_, np.float64)
    scale = np.asarray(fitted.scale_, np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return zeros, gain / scale, -mean / scale * np.ones((2, 1))


def _map_sparse(X, in_place, function):
    """``function(values, columns)`` of the stored values of a CSR/CSC
    matrix, chunk by chunk (zeros stay zeros: the Yeo-Johnson maps send 0 to
    0)."""
    out = X if in_place else X.copy()
    if out.format == "csr":
        columns = out.indices
    else:
        columns = np.repeat(np.arange(X.shape[1]), np.diff(out.indptr))
    values = out.data
    for start in range(0, len(values), _BLOCK_VALUES):
        chunk = slice(start, start + _BLOCK_VALUES)
        block = np.asarray(values[chunk], np.float64)
        result = function(block, columns[chunk])
        with np.errstate(over="ignore"):  # beyond the dtype's range: inf
            values[chunk] = result
    return out


def _map_in_namespace(X, namespace, power_map, inverse):
    """The map of an array API array on its device, in its most precise
    float dtype, rounded once to X's dtype (the operands of the numpy map)."""
    xp = namespace.xp
    Y = xp.astype(X, namespace.float_dtype)

    def operands(name, side):
        values = getattr(power_map, name)
        first = namespace.asarray(np.asarray(values[0]))
        if side is None:
            return first
        return xp.where(side, namespace.asarray(np.asarray(values[1])), first)

    if inverse:
        side = None
        if not power_map.box_cox:
            side = Y < namespace.asarray(power_map.zero)
        u = (Y - operands("offset", side)) * operands("inverse_gain", side)
        d = xp.log1p(u) * operands("inverse_rate", side)
        d = xp.where(operands("log_limit", side), u, d) + operands("center", side)
        if power_map.box_cox:
            return xp.astype(xp.exp(d), X.dtype)
        result = xp.expm1(d)
        return xp.astype(xp.where(side, -result, result), X.dtype)
    if power_map.box_cox:
        side = None
        logs = xp.log(Y)
    else:
        side = Y < 0
        logs = xp.log1p(xp.abs(Y))
    d = logs - operands("center", side)
    u = xp.expm1(d * operands("rate", side))
    u = xp.where(operands("log_limit", side), d, u)
    u = u * operands("gain", side) + operands("offset", side)
    if side is not None:
        zero = namespace.asarray(power_map.zero)
        u = xp.where(side, xp.minimum(u, zero), u)
    return xp.astype(u, X.dtype)
