"""QuantileTransformer: quantiles of each feature, and the map that sends a
feature through its empirical CDF to a uniform or normal distribution."""

import math
import warnings
from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.utils import check_random_state, resample
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from .._array_api import host_view
from .._estimator import FIT_SKETCH_SAMPLE, derived_from_fit
from .._validation import check_finite, is_sparse, wrap_like_transform
from ..stats import Quantiles, QuantileSketch
from ..stats.quantiles import lerp
from ._base import _DECAY_CONSTRAINT, _ColumnScaler
from ._quantile_map import QuantileMap

__all__ = ["QuantileTransformer"]


def references(n_quantiles):
    """``references_``: the levels of ``n_quantiles`` quantiles, as
    scikit-learn spaces them."""
    return np.linspace(0, 1, n_quantiles, endpoint=True)


def percentile_levels(references_):
    """The levels ``np.nanpercentile(X, references_ * 100)`` computes: the
    percentiles divided by 100 again, as numpy does (not always
    ``references_`` to the last bit)."""
    return np.true_divide(references_ * 100, 100)


def interpolated_quantiles(quantiles, dtype=None):
    """The statistic's quantiles as ``np.nanpercentile`` computes them on
    data of ``dtype``: numpy subtracts the order statistics in the data's
    float dtype (float32 data: a float32 difference) before interpolating in
    float64. Made non-decreasing down each column (``np.maximum.accumulate``,
    as scikit-learn before 1.8; a no-op on numpy's values)."""
    if dtype is None or np.dtype(dtype) == np.float64:
        values = quantiles.values()
    else:
        lower, upper, t = quantiles.lower, quantiles.upper, quantiles.fraction
        with np.errstate(over="ignore", invalid="ignore"):
            difference = (upper - lower).astype(dtype).astype(np.float64)
        # A difference beyond the dtype's range is kept in float64 (numpy's
        # is infinite and its quantile not a number).
        exact = ~np.isfinite(difference)
        difference = np.where(exact, upper - lower, difference)
        values = np.where(
            t >= 0.5, upper - difference * (1 - t), lower + difference * t
        )
        values = np.where(exact, lerp(lower, upper, t), values)
    return np.maximum.accumulate(values, axis=0)


class QuantileTransformer(_ColumnScaler):
    """Transform features using quantiles information.

    Drop-in for :class:`sklearn.preprocessing.QuantileTransformer`: the same
    parameters, attributes, errors and results. Each feature is mapped
    through an estimate of its cumulative distribution function, its
    ``n_quantiles_`` quantiles at the levels ``references_`` with linear
    interpolation between them, to a uniform distribution on ``[0, 1]``, and
    then (``output_distribution="normal"``) through the normal quantile
    function. Values below or above the fitted range go to the bounds; NaN is
    kept.

    **Exact quantiles.** ``fit`` computes the quantiles on **all** the rows by
    default (``subsample=None``; scikit-learn's default, 10,000, estimates
    them from a random subset): the values of ``np.nanpercentile(X,
    references_ * 100, axis=0)``, bit for bit, without sorting the data
    (:class:`~sknorm.stats.Quantiles`; on sparse input in O(nnz), the
    implicit zeros counted, or ignored with ``ignore_implicit_zeros=True``).
    ``subsample=int`` subsamples as scikit-learn does (the same rows for the
    same ``random_state``, so the same quantiles).

    **Streaming.** ``partial_fit`` and ``fit`` on a dask collection merge a
    :class:`~sknorm.stats.QuantileSketch` per batch or partition. Each
    fitted quantile then lies within the sketch's rank error of its level:
    for every feature, the share of the data below it differs from its
    reference by at most
    :meth:`~sknorm.stats.QuantileSketch.rank_error_bound` (a bound that
    holds whatever the sketch's random draws: about 2.3% when streamed from
    the first batch, up to 1.5% more on the part fitted by a ``fit`` that
    ``partial_fit`` continues, see Notes; the typical error is about 0.25%,
    and 0 while fewer than a few hundred values per feature were seen).
    ``n_quantiles_`` is then ``min(n_quantiles, n_samples_seen_)``.

    Additions: ``sample_weight`` (relative weights, as
    :class:`RobustScaler`'s: equal weights of any value give the unweighted
    result, zero removes a row; see :mod:`sknorm.stats.quantiles`),
    ``partial_fit``, ``decay``, dask input, an ``inverse_transform`` that
    honours ``set_output``.

    Parameters
    ----------
    n_quantiles : int, default=1000
        Number of quantiles, the landmarks of the estimated CDF; at most the
        number of samples (a larger value is reduced to it, with a warning
        in ``fit``).
    output_distribution : {"uniform", "normal"}, default="uniform"
        Marginal distribution of the transformed data.
    ignore_implicit_zeros : bool, default=False
        Sparse input only: learn the quantiles of the stored values, leaving
        out the implicit zeros (stored zeros still count). If False, sparse
        input must be non-negative and its implicit zeros count as zeros.
    subsample : int or None, default=None
        If an int, ``fit`` estimates the quantiles from this many samples
        drawn at random (dense input: rows; sparse input: the stored values
        of each column holding more, as scikit-learn does), which is faster
        on large data. None (the default, unlike scikit-learn's 10,000)
        computes them exactly on all the data. Used by ``fit`` on in-memory
        data only.
    random_state : int, RandomState instance or None, default=None
        The draws of ``subsample``. Pass an int for reproducible results.
    copy : bool, default=True
        If False, transform in place where possible.
    dask_quantiles : {"sketch", "exact"}, default="sketch"
        How ``fit`` computes the quantiles of a dask array or DataFrame: one
        pass merging sketches, or the exact values of an in-memory ``fit`` in
        further passes (see :class:`RobustScaler`).
    decay : float in [0, 1), default=0.0
        Share of the learned weight each ``partial_fit`` forgets before it
        merges its batch (see :class:`RobustScaler`); 0 forgets nothing.

    Attributes
    ----------
    n_quantiles_ : int
        The number of quantiles used: ``min(n_quantiles, n_samples_seen_)``.
    quantiles_ : ndarray of shape (`n_quantiles_`, n_features)
        The quantiles of each feature at the levels ``references_``,
        non-decreasing down each column.
    references_ : ndarray of shape (`n_quantiles_`,)
        The levels of the quantiles, ``np.linspace(0, 1, n_quantiles_)``.
    n_samples_seen_ : int or float
        Rows seen by ``fit`` and ``partial_fit`` (rows of zero weight
        included; a decayed count with ``decay``).
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
    quantile_transform : The function form.
    RobustScaler : Scale with the median and a quantile range.

    Notes
    -----
    NaN is ignored by ``fit`` and kept by ``transform``; infinity is
    rejected. A feature without values (all NaN) gets NaN quantiles; with
    ``ignore_implicit_zeros=True``, a feature storing no value gets
    quantiles 0, as in scikit-learn.

    ``fit`` also keeps a sketch of a sample of 32,768 rows (all of them
    below), so that ``partial_fit`` after ``fit`` continues from the fitted
    data (see :class:`RobustScaler`: the sample adds a rank error below 0.5%
    typically, 1.5% with probability 1 - 1e-6, on the fitted part); a fitted
    estimator holds the quantiles (8 bytes per quantile and feature) and
    that sketch (about 14 KB per feature).

    ``fit`` computes the quantiles of dense columns by bucketing them (a
    sample of rows places the buckets, one pass counts them and each level
    is selected within its bucket) where numba is installed, by sorting them
    otherwise; sparse columns in O(nnz). Scikit-learn's own exact fit
    (``subsample=None``) partitions each column around every quantile.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import QuantileTransformer
    >>> rng = np.random.RandomState(0)
    >>> X = np.sort(rng.normal(loc=0.5, scale=0.25, size=(25, 1)), axis=0)
    >>> qt = QuantileTransformer(n_quantiles=10).fit(X)
    >>> qt.quantiles_.ravel()
    array([-0.13824745,  0.30513118,  0.46617223,  0.53601089,  0.59449906,
            0.62844542,  0.71610905,  0.82394042,  0.94963856,  1.06743866])
    >>> qt.transform([[0.0], [0.5], [2.0]])
    array([[0.03464494],
           [0.27604114],
           [1.        ]])
    >>> qt.inverse_transform([[0.25], [0.5]])
    array([[0.48363189],
           [0.61147224]])

    The quantiles are ``np.nanpercentile``'s on all the rows:

    >>> large = rng.lognormal(size=(50_000, 2))
    >>> qt = QuantileTransformer().fit(large)
    >>> bool(np.array_equal(
    ...     qt.quantiles_, np.nanpercentile(large, qt.references_ * 100, axis=0)))
    True

    Streamed in batches, each quantile lies within the sketch's rank bound:

    >>> streamed = QuantileTransformer()
    >>> for batch in np.array_split(large, 5):
    ...     streamed = streamed.partial_fit(batch)
    >>> ranks = (large[:, :1] < streamed.quantiles_[:, 0]).mean(axis=0)
    >>> bool(np.all(np.abs(ranks - streamed.references_) < 0.023))
    True
    """

    _parameter_constraints: dict = {
        "n_quantiles": [Interval(Integral, 1, None, closed="left")],
        "output_distribution": [StrOptions({"uniform", "normal"})],
        "ignore_implicit_zeros": ["boolean"],
        "subsample": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "copy": ["boolean"],
        "dask_quantiles": [StrOptions({"sketch", "exact"})],
        "decay": _DECAY_CONSTRAINT,
    }

    #: Not a parameter: the map clips to the fitted range on its own.
    clip = False

    #: The exact quantiles give quantiles_ once; partial_fit continues from
    #: the sketch, so the fitted estimator does not keep them.
    _transient_statistics = ("Quantiles",)

    def __init__(
        self,
        *,
        n_quantiles=1000,
        output_distribution="uniform",
        ignore_implicit_zeros=False,
        subsample=None,
        random_state=None,
        copy=True,
        dask_quantiles="sketch",
        decay=0.0,
    ):
        self.n_quantiles = n_quantiles
        self.output_distribution = output_distribution
        self.ignore_implicit_zeros = ignore_implicit_zeros
        self.subsample = subsample
        self.random_state = random_state
        self.copy = copy
        self.dask_quantiles = dask_quantiles
        self.decay = decay

    # ------------------------------------------------------------------ fit

    def _validate_fit_params(self):
        if self.subsample is not None and self.n_quantiles > self.subsample:
            raise ValueError(
                "The number of quantiles cannot be greater than the number of "
                f"samples used. Got {self.n_quantiles} quantiles and "
                f"{self.subsample} samples."
            )

    def _centers_integers(self):
        # Quantiles and their map need no integer centre (the map is not
        # affine); 64-bit integers are converted to float64 as scikit-learn does.
        return False

    def _n_quantiles_of(self, n_rows):
        return max(1, min(self.n_quantiles, math.ceil(n_rows)))

    def _statistic_types(self):
        implicit = {"implicit_zeros": not self.ignore_implicit_zeros}
        levels = percentile_levels(references(self.n_quantiles))
        exact = (Quantiles, {"levels": levels, **implicit})
        # The sketch of a sample lets partial_fit continue after fit.
        sampled = (QuantileSketch, {"sample_size": FIT_SKETCH_SAMPLE, **implicit})
        return (exact, sampled)

    def _streaming_statistic_types(self):
        return ((QuantileSketch, {"implicit_zeros": not self.ignore_implicit_zeros}),)

    def _sized_specs(self, specs, n_rows):
        """The exact quantiles of ``n_rows`` rows: ``min(n_quantiles,
        n_rows)`` of them (scikit-learn warns when that is fewer)."""
        if not any(cls is Quantiles for cls, _ in specs):
            return specs
        if self.n_quantiles > n_rows:
            warnings.warn(
                f"n_quantiles ({self.n_quantiles}) is greater than the total "
                f"number of samples ({n_rows}). n_quantiles is set to n_samples.",
                stacklevel=4,
            )
        levels = percentile_levels(references(self._n_quantiles_of(n_rows)))
        return [
            (cls, {**options, "levels": levels}) if cls is Quantiles else (cls, options)
            for cls, options in specs
        ]

    def _exact_on_dask(self):
        exact = super()._exact_on_dask()
        if exact and self.ignore_implicit_zeros:
            raise ValueError(
                "dask_quantiles='exact' counts the implicit zeros of sparse "
                "partitions: it is not available with ignore_implicit_zeros=True. "
                "Use dask_quantiles='sketch', or fit in memory."
            )
        return exact

    def _check_fit_input(self, X):
        self._check_sparse_sign(X)
        # The float dtype np.nanpercentile would subtract in (see
        # interpolated_quantiles); dask fits see their metadata here.
        numpy_input = isinstance(X, np.ndarray) or is_sparse(X)
        self._fit_dtype = X.dtype if numpy_input else None
        # ignore_implicit_zeros concerns sparse input only.
        self._fit_sparse = is_sparse(X)

    def _check_sparse_sign(self, X):
        if self.ignore_implicit_zeros or not is_sparse(X):
            return
        with np.errstate(invalid="ignore"):
            negative = np.any(X.data < 0)
        if negative:
            raise ValueError(
                "QuantileTransformer only accepts non-negative sparse matrices."
            )

    def _computed_statistics(self, batch, specs, groups=None):
        exact = [options for cls, options in specs if cls is Quantiles]
        if not exact:
            return super()._computed_statistics(batch, specs, groups)
        if self.ignore_implicit_zeros and batch.sparse_format is None:
            warnings.warn(
                "'ignore_implicit_zeros' takes effect only with sparse matrix. "
                "This parameter has no effect.",
                stacklevel=4,
            )
        if self.subsample is None:
            return super()._computed_statistics(batch, specs, groups)
        # Subsampled as scikit-learn does; the infinity check reads all of X
        # (the statistics see a sample).
        if not batch.finite_checked:
            batch.check_finite(self)
        quantiles = _subsampled_quantiles(
            batch.host(),
            batch.sample_weight,
            exact[0],
            self.subsample,
            check_random_state(self.random_state),
        )
        others = [(cls, options) for cls, options in specs if cls is not Quantiles]
        statistics = super()._computed_statistics(batch, others, groups)
        statistics["Quantiles"] = quantiles
        return statistics

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        exact = statistics.get("Quantiles")
        if exact is not None:
            # Computed at the levels of the rows of positive weight.
            n_quantiles = exact.levels.shape[0]
            quantiles = exact
            dtype = getattr(self, "_fit_dtype", None)
        else:
            n_quantiles = self._n_quantiles_of(n_rows)
            levels = percentile_levels(references(n_quantiles))
            quantiles = statistics["QuantileSketch"].quantiles(levels)
            dtype = None
        references_ = references(n_quantiles)
        self.__dict__.pop("_fit_dtype", None)
        fit_sparse = self.__dict__.pop("_fit_sparse", False)
        values = interpolated_quantiles(quantiles, dtype)
        if self.ignore_implicit_zeros and fit_sparse:
            # A feature that stores no value: quantiles 0, as scikit-learn
            # (dense input: the parameter has no effect, all-NaN gives NaN).
            values[:, ~(quantiles.weight_sum > 0)] = 0.0
        self.n_quantiles_ = n_quantiles
        self.references_ = references_
        self.quantiles_ = values
        self.n_samples_seen_ = n_rows

    # ------------------------------------------------------------ the map

    def _fitted_map(self):
        """The :class:`QuantileMap` of the fitted quantiles, built once per
        fitted state, from their numpy view."""

        def build():
            fitted = host_view(self)
            return QuantileMap(
                fitted.quantiles_, fitted.references_, self.output_distribution
            )

        return derived_from_fit(self, "quantile_map", build)

    def _transforms_relative_to_center(self):
        return False

    def _checked_for_map(self, X, copy, method):
        X_checked, in_place, check_as_we_go = self._check_for_map(
            X, copy, method=method
        )
        if check_as_we_go:  # the map does not look for infinity
            check_finite(X_checked, self)
        return X_checked, in_place

    def transform(self, X, copy=None):
        """Map each feature of X to the output distribution.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to transform. NaN is kept. Sparse input must be
            non-negative unless ``ignore_implicit_zeros=True``; only its
            stored values are mapped.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Transformed data, of X's float dtype and, if sparse, X's format.
        """
        check_is_fitted(self)
        X_checked, in_place = self._checked_for_map(X, copy, "transform")
        self._check_sparse_sign(X_checked)
        return self._fitted_map().transform(X_checked, in_place=in_place)

    def inverse_transform(self, X, copy=None):
        """Map transformed values back to the data's units.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Transformed data.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.
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
        X_checked, in_place = self._checked_for_map(X, copy, "inverse_transform")
        result = self._fitted_map().inverse_transform(X_checked, in_place=in_place)
        return wrap_like_transform(self, result, X)


def _subsampled_quantiles(X, weight, options, subsample, rng):
    """Exact quantiles of a subsample of X drawn as scikit-learn draws it.

    Dense X: ``subsample`` rows (``sklearn.utils.resample`` without
    replacement, the same rows for the same generator state). Sparse X: per
    column in order, a column storing more than ``subsample`` values has
    ``subsample`` values drawn from them with implicit zeros ignored, or
    ``subsample * nnz // n_samples`` of them and zeros for the rest; the
    other columns keep all their rows.
    """
    n_rows = X.shape[0]
    if not is_sparse(X):
        if subsample >= n_rows:
            return Quantiles.from_data(X, weight, **options)
        rows = resample(
            np.arange(n_rows), replace=False, n_samples=subsample, random_state=rng
        )
        return Quantiles.from_data(
            X[rows], None if weight is None else weight[rows], **options
        )
    X = sparse.csc_matrix(X)
    stored = np.diff(X.indptr)
    drawn = np.flatnonzero(stored > subsample)
    if not drawn.size:
        return Quantiles.from_data(X, weight, **options)
    if weight is not None:
        raise ValueError(
            "sample_weight cannot be used with subsample on sparse input: "
            "the values of each column are drawn on their own. Use "
            "subsample=None (exact quantiles), or dense input."
        )
    ignore = not options.get("implicit_zeros", True)
    data, indices, indptr = [], [], [0]
    for j in drawn:
        values = X.data[X.indptr[j] : X.indptr[j + 1]]
        size = subsample if ignore else subsample * len(values) // n_rows
        data.append(values[rng.choice(len(values), size=size, replace=False)])
        indices.append(np.arange(size))
        indptr.append(indptr[-1] + size)
    # The drawn values of each column in its first rows; the rest of its
    # ``subsample`` rows are zeros.
    sampled = sparse.csc_matrix(
        (np.concatenate(data), np.concatenate(indices), np.array(indptr)),
        shape=(subsample, drawn.size),
    )
    parts = [Quantiles.from_data(sampled, None, **{**options, "implicit_zeros": True})]
    kept = np.flatnonzero(stored <= subsample)
    index = np.empty(X.shape[1], dtype=np.intp)
    index[drawn] = np.arange(drawn.size)
    if kept.size:
        parts.append(Quantiles.from_data(X[:, kept], None, **options))
        index[kept] = drawn.size + np.arange(kept.size)
    return Quantiles._concatenated(parts)._take_columns(index)
