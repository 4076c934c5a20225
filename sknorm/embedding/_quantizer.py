"""EmbeddingQuantizer: int8/uint8 scalar and binary codes with fitted
per-dimension ranges."""

import os
import sys
import warnings
from numbers import Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_is_fitted,
)

from .._affine import AffineMap
from .._array_api import host_view, namespace_of
from .._dask import blockwise_on_dask
from .._estimator import FIT_SKETCH_SAMPLE, _StatisticsEstimator
from .._validation import (
    check_input,
    is_sparse,
    row_blocks,
    wrap_like_transform,
)
from ..stats import Extrema, Moments, Quantiles, QuantileSketch
from ._base import (
    _FeatureNamesOutMixin,
)

_N_LEVELS = 256
_CODE_OFFSET = {"int8": -128, "uint8": 0}

#: Fewest rows a quantizer's ranges or thresholds should be fitted on: each
#: dimension's minimum, maximum, quantiles or mean is estimated from that many
#: values, and the extremes of fewer rows clip much of the data seen later.
MIN_FIT_ROWS = 100


class EmbeddingQuantizer(_FeatureNamesOutMixin, _StatisticsEstimator):
    """Quantize embeddings to one byte or one bit per dimension.

    * ``dtype="int8"`` or ``"uint8"``: scalar quantization. Each dimension's
      fitted range ``[lower_, upper_]`` is cut into 256 equal bins of width
      ``step_``; a value is stored as the index of its bin (shifted by -128
      for int8). Values outside the range are clipped to the first or last
      bin. :meth:`inverse_transform` returns the bin centers, so a value
      inside the range comes back within half a step; a constant dimension
      (range exactly zero) comes back exactly. Ranges up to the float64
      maximum work (the bins are computed on halved values where the range
      overflows).
    * ``dtype="binary"``: one bit per dimension, set when the value exceeds
      the fitted threshold ``center_`` (the median, the mean, or 0), packed
      eight dimensions to a byte with :func:`numpy.packbits` (big-endian bit
      order, the last byte padded with zeros). Compare packed vectors with
      :func:`hamming_similarity`.

    The ranges are the training minimum and maximum (the
    :class:`~sknorm.stats.Extrema` statistic), or quantiles with
    ``quantile_range``, which keeps a few outliers from widening the bins of
    every other value. Every statistic is fitted on the training data only;
    fitted on fewer than 100 rows (counting all the rows ``partial_fit`` has
    seen), the quantizer warns that its per-dimension ranges or thresholds
    are unreliable (the sign threshold, ``center=None``, fits nothing).
    Minimum, maximum and mean are mergeable, so ``partial_fit`` over chunks
    equals ``fit``. Quantiles (``quantile_range``, ``center="median"``) are
    exact after ``fit``; ``partial_fit`` streams them through a
    :class:`~sknorm.stats.QuantileSketch`, within its documented rank error.

    ============  ====================  ======================
    dtype         bytes per vector      for 384 dimensions
    ============  ====================  ======================
    float32       ``4 * n_features``    1536
    int8, uint8   ``n_features``        384 (4x smaller)
    binary        ``ceil(n / 8)``       48 (32x smaller)
    ============  ====================  ======================

    Parameters
    ----------
    dtype : {"int8", "uint8", "binary"}, default="int8"
        The stored type.
    quantile_range : tuple (q_min, q_max) or None, default=None
        Percentiles (0 to 100) of the training data used as the range of the
        scalar quantizers (:class:`~sknorm.stats.Quantiles`: numpy's linear
        interpolation, as ``np.percentile`` and :class:`RobustScaler`); None
        uses the minimum and maximum. Ignored by ``dtype="binary"``.
    center : {"mean", "median", None}, default="mean"
        Threshold of the binary quantizer: the training mean or median of
        each dimension (with the median, each bit is set for about half of the
        training vectors), or 0 (the sign of the value). Ignored by the scalar
        quantizers.
    dask_quantiles : {"sketch", "exact"}, default="sketch"
        How ``fit`` computes quantiles (``quantile_range``, ``center="median"``)
        of a dask array or DataFrame: ``"sketch"`` in one pass, with the
        accuracy of ``partial_fit``; ``"exact"`` the values of an in-memory
        ``fit``, in further passes over the data (see
        :ref:`dask-exact-quantiles`).

    Attributes
    ----------
    lower_, upper_ : ndarray of shape (`n_features_in_`,) or None
        Range of each dimension (scalar quantizers).
    step_ : ndarray of shape (`n_features_in_`,) or None
        Width of a bin: ``(upper_ - lower_) / 256``, computed as
        ``(upper_ / 2 - lower_ / 2) / 128`` so that it stays finite
        (``1 / 256`` for a constant dimension).
    center_ : ndarray of shape (`n_features_in_`,) or None
        Threshold of each dimension (binary quantizer).
    bytes_per_vector_ : int
        Memory of one quantized vector.
    n_features_out_ : int
        Number of output columns (bytes per vector).
    quantile_method_ : {"exact", "sketch"}
        Which quantiles the fitted map uses: ``"exact"`` (those of all the
        rows: an in-memory ``fit``, a dask fit with
        ``dask_quantiles="exact"``, a stream source read again, see
        :func:`sknorm.scan`) or ``"sketch"`` (the mergeable quantile sketch:
        ``partial_fit``, a one-pass fit of a source, and this estimator's
        in-memory ``fit``, which sketches a sample).

    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.
    n_samples_seen_ : int
        Number of rows seen by ``fit`` and ``partial_fit``.

    See Also
    --------
    EmbeddingNormalizer : Center, whiten and normalize before quantizing.
    hamming_similarity : Similarity of packed binary vectors.
    rescore : Rank candidates found among the codes again with float queries.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import EmbeddingQuantizer
    >>> X = np.array([[0.0, -1.0], [0.5, 0.0], [1.0, 1.0]])
    >>> quantizer = EmbeddingQuantizer(dtype="uint8").fit(X)
    >>> codes = quantizer.transform(X)
    >>> codes
    array([[  0,   0],
           [128, 128],
           [255, 255]], dtype=uint8)
    >>> quantizer.inverse_transform(codes)
    array([[ 0.00195312, -0.99609375],
           [ 0.50195312,  0.00390625],
           [ 0.99804688,  0.99609375]])
    >>> quantizer.transform([[2.0, -5.0]])  # clipped to the range
    array([[255,   0]], dtype=uint8)

    Binary codes hold one bit per dimension:

    >>> bits = EmbeddingQuantizer(dtype="binary", center=None).fit(X)
    >>> bits.transform([[0.3, -0.2], [-1.0, 2.0]])
    array([[128],
           [ 64]], dtype=uint8)
    >>> bits.bytes_per_vector_
    1
    """

    _parameter_constraints: dict = {
        "dtype": [StrOptions({"int8", "uint8", "binary"})],
        "quantile_range": [tuple, None],
        "center": [StrOptions({"mean", "median"}), None],
        "dask_quantiles": [StrOptions({"sketch", "exact"})],
    }

    _accept_sparse = False
    _allow_nan = False

    def __init__(
        self,
        dtype="int8",
        *,
        quantile_range=None,
        center="mean",
        dask_quantiles="sketch",
    ):
        self.dtype = dtype
        self.quantile_range = quantile_range
        self.center = center
        self.dask_quantiles = dask_quantiles

    def _validate_fit_params(self):
        if self.quantile_range is None:
            return
        bounds = self.quantile_range
        if not (
            len(bounds) == 2
            and all(isinstance(b, Real) for b in bounds)
            and 0 <= bounds[0] < bounds[1] <= 100
        ):
            raise ValueError(
                "quantile_range must be two percentiles 0 <= q_min < q_max <= 100, "
                f"got {bounds!r}."
            )

    def _quantile_levels(self):
        """Levels of the quantiles the fit needs, or None (no quantile)."""
        if self.dtype == "binary":
            return (0.5,) if self.center == "median" else None
        if self.quantile_range is None:
            return None
        return tuple(np.true_divide(self.quantile_range, 100))

    def _statistic_types(self):
        levels = self._quantile_levels()
        if levels is None:
            return self._streaming_statistic_types()
        # The sketch of a sample lets partial_fit continue after fit.
        exact = (Quantiles, {"levels": levels})
        return (exact, (QuantileSketch, {"sample_size": FIT_SKETCH_SAMPLE}))

    def _streaming_statistic_types(self):
        if self._quantile_levels() is not None:
            return (QuantileSketch,)
        if self.dtype == "binary":
            return (Moments,) if self.center == "mean" else ()
        return (Extrema,)

    def _quantiles(self, statistics):
        """Quantiles at the fitted levels: exact after fit, sketched when streamed."""
        if "Quantiles" in statistics:
            return statistics["Quantiles"]
        return statistics["QuantileSketch"].quantiles(self._quantile_levels())

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        n_features = self.n_features_in_
        self.n_samples_seen_ = n_rows
        self.lower_ = self.upper_ = self.step_ = self.center_ = None
        if self.dtype == "binary":
            if self.center == "mean":
                self.center_ = statistics["Moments"].mean
            elif self.center == "median":
                self.center_ = self._quantiles(statistics).median()
            else:
                self.center_ = np.zeros(n_features)
            self.bytes_per_vector_ = -(-n_features // 8)
        else:
            if self.quantile_range is None:
                extrema = statistics["Extrema"]
                self.lower_, self.upper_ = extrema.minimum, extrema.maximum
            else:
                self.lower_, self.upper_ = self._quantiles(statistics).values()
            # A dimension is constant when its range is exactly zero: a
            # difference of distinct floats never is (2**60 + 4096 k keeps
            # its bins). Halves keep ranges near the float64 maximum finite.
            varies = self.upper_ > self.lower_
            half_width = self.upper_ * 0.5 - self.lower_ * 0.5
            self.step_ = np.where(varies, half_width / (_N_LEVELS // 2), 1 / _N_LEVELS)
            self.bytes_per_vector_ = n_features
        self.n_features_out_ = self.bytes_per_vector_
        self._warn_if_few_rows(n_rows)

    def _warn_if_few_rows(self, n_rows):
        """Warn when the fitted ranges or thresholds rest on few rows.

        The count is of all rows seen, so ``partial_fit`` over small chunks
        warns only until the chunks add up to :data:`MIN_FIT_ROWS`. Thresholds
        at zero (``dtype="binary", center=None``) are fitted on nothing.
        """
        if self.dtype == "binary" and self.center is None:
            return
        n_rows = int(n_rows)
        if n_rows >= MIN_FIT_ROWS:
            return
        fitted = "thresholds" if self.dtype == "binary" else "ranges"
        warnings.warn(
            f"EmbeddingQuantizer fitted on {n_rows} row(s): its per-dimension "
            f"{fitted} are unreliable with fewer than {MIN_FIT_ROWS}. Fit it on "
            f"at least {MIN_FIT_ROWS} embeddings representative of those it will "
            "quantize.",
            UserWarning,
            stacklevel=_caller_stacklevel(),
        )

    def _new_features(self):
        return self.dtype == "binary"

    def _prescale(self):
        """Per dimension, 1, or 0.5 where ``value - lower_`` could overflow.

        The map to bins runs on values times this power of two (exact), so
        ranges up to the float64 maximum (``[-1.7e308, 1.7e308]``) work.
        """
        with np.errstate(over="ignore"):
            overflows = ~np.isfinite(self.step_ * _N_LEVELS)
        return np.where(overflows, 0.5, 1.0)

    def _bins(self, prescale):
        """The affine map from values times ``prescale`` to bin coordinates
        ``[0, 256)``."""
        return AffineMap(self.lower_ * prescale, self.step_ * prescale)

    def transform(self, X):
        """Quantize X.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, `n_features_in_`)
            Embeddings, without NaN.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.

        Returns
        -------
        codes : ndarray of shape (n_samples, `n_features_out_`)
            int8 or uint8 bin indices, or bits packed into uint8.
        """
        check_is_fitted(self)
        X = check_input(self, X, reset=False, accept_sparse=False, allow_nan=False)
        namespace = namespace_of(X)
        if namespace is not None:
            return self._transform_in_namespace(X, namespace)
        self = host_view(self)  # numpy attributes, whatever the fit saw
        n_rows, n_features = X.shape
        if self.dtype == "binary":
            out = np.empty((n_rows, self.n_features_out_), dtype=np.uint8)
            for rows in row_blocks(n_rows, n_features):
                out[rows] = np.packbits(X[rows] > self.center_, axis=1)
            return out
        out = np.empty((n_rows, n_features), dtype=self.dtype)
        prescale = self._prescale()
        halve = bool((prescale != 1).any())
        bins = self._bins(prescale)
        for rows in row_blocks(n_rows, n_features):
            # float64, so that the floor sees the exact bin coordinate.
            block = X[rows].astype(np.float64)
            if halve:
                block *= prescale
            position = bins.transform(block, in_place=True, clip=(0, _N_LEVELS - 1))
            np.floor(position, out=position)
            position += _CODE_OFFSET[self.dtype]
            out[rows] = position
        return out

    def _transform_in_namespace(self, X, namespace):
        """:meth:`transform` of an array API array, on its device.

        Scalar codes: the bins' affine map (per-dimension operands from the
        host, applied on the device in float64), clipped, floored and cast.
        Binary codes: the bits ``X > center_``, padded to whole bytes and
        packed big-endian (as :func:`numpy.packbits`) as a weighted sum of
        each byte's eight bits.
        """
        xp = namespace.xp
        values = xp.astype(X, namespace.float_dtype)
        if self.dtype == "binary":
            n_rows, n_features = X.shape
            bits = xp.astype(values > self.center_, xp.uint8)
            padding = 8 * self.n_features_out_ - n_features
            if padding:
                zeros = xp.zeros((n_rows, padding), dtype=xp.uint8, device=X.device)
                bits = xp.concat([bits, zeros], axis=1)
            bits = xp.reshape(bits, (n_rows, self.n_features_out_, 8))
            place = namespace.asarray(2 ** np.arange(7, -1, -1), dtype=xp.uint8)
            return xp.sum(bits * place, axis=-1, dtype=xp.uint8)
        fitted = host_view(self)
        prescale = fitted._prescale()
        if (prescale != 1).any():
            values = values * namespace.asarray(prescale)
        position = fitted._bins(prescale).transform(
            values, in_place=False, clip=(0, _N_LEVELS - 1)
        )
        position = xp.floor(position) + float(_CODE_OFFSET[self.dtype])
        return xp.astype(position, getattr(xp, self.dtype))

    def _check_scalar(self):
        if self.dtype == "binary":
            raise AttributeError(
                "inverse_transform is not available for dtype='binary': one bit "
                "per dimension keeps only which side of center_ a value lies on."
            )
        return True

    @available_if(_check_scalar)
    @blockwise_on_dask
    def inverse_transform(self, X):
        """Dequantize codes to the centers of their bins.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, `n_features_in_`)
            Codes from :meth:`transform`: integers in ``[-128, 127]``
            (int8) or ``[0, 255]`` (uint8); other dtypes or values raise a
            ValueError.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.

        Returns
        -------
        X_original : {ndarray, DataFrame} of shape (n_samples, `n_features_in_`)
            float64 values, within half a step of the quantized values that
            lay inside the fitted range.
        """
        check_is_fitted(self)
        codes = check_input(
            self,
            X,
            reset=False,
            accept_sparse=False,
            allow_nan=False,
            method="inverse_transform",
        )
        self._check_codes(X)  # after the feature count and names
        namespace = namespace_of(codes)
        if namespace is not None:
            return self._inverse_in_namespace(codes, namespace)
        return wrap_like_transform(self, host_view(self)._dequantize(codes), X)

    def _dequantize(self, codes):
        """Bin centers of validated numpy ``codes``, as a new float64 array."""
        position = codes.astype(np.float64)  # a copy: the caller's codes are kept
        position += 0.5 - _CODE_OFFSET[self.dtype]
        prescale = self._prescale()
        result = self._bins(prescale).inverse_transform(position, in_place=True)
        if (prescale != 1).any():
            result /= prescale
        # A constant dimension decodes to its value, exactly.
        constant = ~(self.upper_ > self.lower_)
        result[:, constant] = self.lower_[constant]
        return result

    def _inverse_in_namespace(self, codes, namespace):
        """:meth:`inverse_transform` of array API codes, on their device."""
        xp = namespace.xp
        fitted = host_view(self)
        position = xp.astype(codes, namespace.float_dtype)
        position = position + (0.5 - _CODE_OFFSET[self.dtype])
        prescale = fitted._prescale()
        result = fitted._bins(prescale).inverse_transform(position, in_place=False)
        if (prescale != 1).any():
            result = result / namespace.asarray(prescale)
        # A constant dimension decodes to its value, exactly.
        constant = namespace.asarray(~(fitted.upper_ > fitted.lower_))
        return xp.where(constant, self.lower_, result)

    def _check_codes(self, X):
        """Raise a ValueError unless X holds integer codes of ``dtype``."""
        if is_sparse(X):
            return  # check_input rejects sparse input with its own message
        namespace = namespace_of(X)
        if namespace is not None:
            xp = namespace.xp
            integral = xp.isdtype(X.dtype, "integral")
            size = int(np.prod(X.shape))
            low, high = (xp.min(X), xp.max(X)) if integral and size else (0, 0)
            dtype = X.dtype
        else:
            codes = check_array(X, dtype=None, ensure_all_finite=False, ensure_2d=False)
            integral, size, dtype = codes.dtype.kind in "iu", codes.size, codes.dtype
            low, high = (codes.min(), codes.max()) if integral and size else (0, 0)
        first = _CODE_OFFSET[self.dtype]
        last = first + _N_LEVELS - 1
        if not integral:
            raise ValueError(
                f"inverse_transform needs the integer codes transform returns "
                f"({self.dtype}), got an array of dtype {dtype}."
            )
        low, high = int(low), int(high)
        if size and (low < first or high > last):
            raise ValueError(
                f"Codes of dtype={self.dtype!r} lie in [{first}, {last}], got values "
                f"from {low} to {high}."
            )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = []  # quantized codes
        return tags


def _caller_stacklevel():
    """The ``stacklevel`` of the first frame outside sknorm and scikit-learn:
    a warning of ``fit`` then names the line that called it (or the
    pipeline that did)."""
    import sklearn

    packages = (
        # sknorm's root (this module lies in sknorm/embedding/).
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        os.path.dirname(os.path.abspath(sklearn.__file__)),
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(packages):
        frame, level = frame.f_back, level + 1
    return level
