"""Input checks shared by every sknorm estimator.

One module owns the input policy so that all estimators behave alike:

* accepted containers: numpy arrays, array-likes, scipy sparse matrices and arrays
  (CSR/CSC kept; COO, LIL and the other formats converted), pandas and polars
  DataFrames (feature names recorded, nullable dtypes with ``pd.NA`` read as NaN);
* dtype: float64, float32 and float16 kept (statistics in float64), integers
  and booleans converted to float64; 64-bit integer columns beyond ``2**53``
  (nanosecond timestamps, 64-bit ids) converted relative to an exact integer
  centre, for the estimators that ask for it (``center_integers``);
* finiteness: NaN allowed (treated as missing) unless the estimator needs
  complete rows, infinity rejected; the message names the offending features;
* object and categorical DataFrame columns of numbers converted to float64 (as
  scikit-learn does); other non-numeric columns (strings, even numeric-looking
  ones) rejected with a message naming them;
* feature count and names checked at ``transform`` and ``inverse_transform``
  (which accepts data without names: an array of the output's coordinates);
* sparse containers: a scipy sparse matrix or array stays the same container
  (as in scikit-learn's scalers); a sparse object sknorm builds from other
  input (a DataFrame of pandas sparse columns) follows scikit-learn's
  ``sparse_interface`` setting (:func:`as_configured_sparse`).
* array API input (``array_api_dispatch=True``, a torch, CuPy or
  array-api-strict array): dense only, validated in its namespace on its
  device (floats kept, integers and booleans converted to the namespace's
  default float), and at ``transform`` required to be in the namespace and
  on the device of the fit (:mod:`sknorm._array_api`).
"""

from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn import get_config
from sklearn.utils._set_output import ADAPTERS_MANAGER, _get_output_config
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    _check_sample_weight,
    _get_feature_names,
    validate_data,
)

from ._array_api import (
    DeviceData,
    check_same_namespace,
    check_sample_weight_on_host,
    namespace_of,
    to_numpy,
)
from ._numeric_columns import column_label as _column_label
from ._numeric_columns import convert_numeric_columns as _convert_numeric_columns
from ._numeric_columns import describe_columns as _describe_columns
from ._numeric_columns import (
    raise_for_non_numeric_array as _raise_for_non_numeric_array,
)
from ._numeric_columns import raise_non_numeric as _raise_non_numeric
from ._parallel import BLOCK_ELEMENTS, row_blocks

__all__ = [
    "BLOCK_ELEMENTS",
    "ValidatedBatch",
    "as_configured_sparse",
    "check_feature_names_out",
    "check_finite",
    "check_input",
    "check_sample_weight",
    "feature_names_of",
    "is_sparse",
    "may_write_in_place",
    "owns_memory",
    "row_blocks",
    "sparse_frame_as_scipy",
    "validated_batch",
    "wrap_like_transform",
]


def is_sparse(X):
    """Return True for scipy sparse matrices and arrays."""
    return sparse.issparse(X)


def feature_names_of(X):
    """scikit-learn's ``_get_feature_names(X)``: the column names of a
    DataFrame, None for input without names; at once for numpy arrays and
    sparse matrices, which have none (detecting a DataFrame costs tens of
    microseconds)."""
    if type(X) is np.ndarray or is_sparse(X):
        return None
    return _get_feature_names(X)


def sparse_interface():
    """scikit-learn's ``sparse_interface`` setting: ``"spmatrix"`` or
    ``"sparray"``; ``"spmatrix"`` (what scikit-learn produced before) with a
    scikit-learn older than 1.9, which has no such setting."""
    interface = get_config().get("sparse_interface", "spmatrix")
    if interface not in ("spmatrix", "sparray"):
        raise ValueError(
            f'scikit-learn\'s "sparse_interface" setting is {interface!r}; sknorm '
            'understands "spmatrix" and "sparray".'
        )
    return interface


def as_configured_sparse(X):
    """``X`` in the sparse container scikit-learn's ``sparse_interface`` asks for.

    For sparse objects sknorm builds from input that is not a scipy sparse
    object; sparse input keeps its own container, as scikit-learn's scalers
    keep it. Dense ``X`` is returned as it is; the conversion shares X's
    buffers.
    """
    if not is_sparse(X):
        return X
    want_array = sparse_interface() == "sparray"
    if want_array != sparse.isspmatrix(X):
        return X
    kind = "array" if want_array else "matrix"
    return getattr(sparse, f"{X.format}_{kind}")(X)


def _is_sparse_frame(X):
    """Whether X is a pandas DataFrame of sparse columns only (scikit-learn
    converts those to a sparse matrix, not to a dense array)."""
    if type(X).__module__.split(".")[0] != "pandas" or not hasattr(X, "sparse"):
        return False
    import pandas as pd

    dtypes = getattr(X, "dtypes", ())
    return len(dtypes) > 0 and all(isinstance(d, pd.SparseDtype) for d in dtypes)


def sparse_frame_as_scipy(X):
    """A DataFrame of pandas sparse columns as a CSR matrix or array (per
    ``sparse_interface``); any other input unchanged."""
    if not _is_sparse_frame(X):
        return X
    return as_configured_sparse(X.sparse.to_coo().tocsr())


def _float_dtype_for(X):
    """The float dtype of validated input: float16, float32 and float64 kept.

    Integers, booleans and objects become float64; DataFrames whose columns mix
    float16 and float32 become float32. The statistics accumulate in float64
    whatever this dtype, and the affine map computes each block in float64 and
    rounds once to it. (scipy's sparse matrices have no float16: float16 data
    in them cannot occur.)
    """
    dtype = getattr(X, "dtype", None)
    if dtype is None and hasattr(X, "dtypes"):
        dtypes = X.dtypes
        dtypes = (
            list(dtypes) if not hasattr(dtypes, "unique") else list(dtypes.unique())
        )
        kinds = {str(d).lower() for d in dtypes}
        if kinds == {"float16"}:
            return np.float16
        if kinds and kinds <= {"float32", "float16"}:
            return np.float32
        return np.float64
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            return np.float64
        if dtype in (np.float32, np.float16):
            return dtype
    return np.float64


def check_finite(X, estimator, *, allow_nan=True, columns=None):
    """Raise a ValueError naming the features that hold +/-inf (or NaN).

    The fast path sums each row block: a finite sum proves the block finite. Only
    blocks whose sum is not finite (they hold NaN or inf) are inspected further.

    Parameters
    ----------
    X : ndarray or sparse matrix
        Validated data.
    estimator : BaseEstimator
        Named in the message, with its feature names.
    allow_nan : bool, default=True
        Whether NaN is allowed (infinity never is).
    columns : array of int, optional
        Only inspect these columns of dense X (the ones a statistic found not
        finite); sparse X is always inspected whole, in O(nnz).

    Returns
    -------
    has_nan : bool or None
        False when the values inspected hold no NaN (every block sum finite,
        or NaN rejected), True when they are known to hold some, None when
        they may.
    """
    return _checked_finite(X, namespace_of(X), estimator, allow_nan, columns)


def _checked_finite(X, namespace, estimator, allow_nan, columns):
    """:func:`check_finite` of X in its ``namespace`` (None: numpy/scipy)."""
    if namespace is not None:
        return _check_finite_in_namespace(X, namespace, estimator, allow_nan, columns)
    rules = _finiteness_rules(allow_nan)
    if is_sparse(X):
        data = X.data
        # Finite values may sum past the maximum, to inf and then inf - inf.
        with np.errstate(over="ignore", invalid="ignore"):
            data_sum = data.sum() if data.size else 0.0
        if np.isfinite(data_sum):
            return False
        for is_bad, raise_error in rules:
            bad = is_bad(data)
            if bad.any():
                bad_columns = (
                    X.indices[bad] if X.format == "csr" else _csc_columns(X)[bad]
                )
                raise_error(np.unique(bad_columns), estimator)
        return None if allow_nan else False
    if X.size == 0:
        return False
    columns = np.arange(X.shape[1]) if columns is None else np.asarray(columns)
    whole = len(columns) == X.shape[1]
    has_nan = False
    for rows in row_blocks(X.shape[0], len(columns)):
        block = X[rows] if whole else X[rows][:, columns]
        # Finite values may sum past the maximum, to inf and then inf - inf.
        with np.errstate(over="ignore", invalid="ignore"):
            block_sum = block.sum()
        if np.isfinite(block_sum):
            continue
        for is_bad, raise_error in rules:
            bad = is_bad(block).any(axis=0)
            if bad.any():
                raise_error(columns[bad], estimator)
        if allow_nan:
            has_nan = None
    return has_nan


def _check_finite_in_namespace(X, namespace, estimator, allow_nan, columns):
    """:func:`check_finite` on the device: one reduction proves X finite; only
    then are the bad features looked for (per-feature flags to the host)."""
    xp = namespace.xp
    labels = np.arange(X.shape[1]) if columns is None else np.asarray(columns)
    if columns is not None:
        X = namespace.take_columns(X, labels)
    if X.shape[0] == 0 or bool(xp.all(xp.isfinite(X))):
        return False
    tests = [(xp.isinf, _raise_infinity)]
    if not allow_nan:
        tests.append((xp.isnan, _raise_nan))
    for is_bad, raise_error in tests:
        bad = to_numpy(xp.any(is_bad(X), axis=0))
        if bad.any():
            raise_error(labels[bad], estimator)
    # Not finite, no infinity: NaN.
    return True


def _finiteness_rules(allow_nan):
    """``(test, error)`` pairs: infinity always rejected, NaN unless allowed."""
    rules = [(np.isinf, _raise_infinity)]
    if not allow_nan:
        rules.append((np.isnan, _raise_nan))
    return rules


def _csc_columns(X):
    """Column index of every stored entry of a CSC matrix."""
    return np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))


def _raise_bad_values(kind, advice, columns, estimator):
    labels = [_column_label(estimator, int(c)) for c in columns]
    name = type(estimator).__name__
    raise ValueError(
        f"Input X contains {kind} in feature(s) {_describe_columns(labels)}. "
        f"{name} {advice}"
    )


def _estimator_allows_nan(estimator):
    """Whether ``estimator`` treats NaN as missing (its ``allow_nan`` tag)."""
    allow_nan = getattr(estimator, "_allow_nan", None)
    if allow_nan is None and estimator is not None:
        try:
            allow_nan = estimator.__sklearn_tags__().input_tags.allow_nan
        except AttributeError:  # pragma: no cover - not a scikit-learn estimator
            allow_nan = True
    return True if allow_nan is None else bool(allow_nan)


def _raise_infinity(columns, estimator):
    if _estimator_allows_nan(estimator):
        advice = (
            "treats NaN as missing but cannot scale infinite values; replace "
            "them (for example with NaN) first."
        )
    else:
        advice = (
            "needs complete rows of finite values (it accepts neither NaN nor "
            "infinity); replace the infinite values or drop those rows first."
        )
    _raise_bad_values("infinity", advice, columns, estimator)


def _raise_nan(columns, estimator):
    _raise_bad_values(
        "NaN",
        "needs complete rows (it mixes all features of a row); impute the "
        "missing values or drop those rows first.",
        columns,
        estimator,
    )


def check_input(
    estimator,
    X,
    *,
    reset,
    accept_sparse=("csr", "csc"),
    sparse_message=None,
    check_features=True,
    allow_nan=True,
    reject_infinity=True,
    method="transform",
    center_integers=False,
):
    """Validate ``X`` for ``estimator`` and return it as a float array or matrix.

    The returned object may be the caller's own data: callers that write into it
    must first ask :func:`owns_memory` whether that is allowed.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator that records (``reset=True``) or checks (``reset=False``)
        ``n_features_in_`` and ``feature_names_in_``.
    X : array-like, sparse matrix or DataFrame
        The input.
    reset : bool
        Whether to record the number and names of features (first fit).
    accept_sparse : tuple of str or False, default=("csr", "csc")
        Sparse formats kept as they are; other sparse formats are converted to
        the first one. ``False`` rejects sparse input with a ``TypeError``.
    sparse_message : str, optional
        Extra advice appended to the error raised for sparse input when
        ``accept_sparse`` is False.
    check_features : bool, default=True
        Whether to record/check feature count and names (False for stateless
        use such as module-level functions).
    allow_nan : bool, default=True
        Whether NaN (missing values) may appear; False raises a ValueError
        naming the features that hold NaN.
    reject_infinity : bool, default=True
        Whether to check for infinity here (a read of all the data). Kernels that
        read the data anyway pass False and check as they go: the statistics
        (a non-finite statistic reveals infinity, see
        :func:`check_finite`'s ``columns``) and the affine map
        (``reject_infinity`` of :meth:`sknorm._affine.AffineMap.transform`).
        NaN is still checked here when ``allow_nan=False``.
    method : str, default="transform"
        The estimator's method that asks (named in the error raised when X is
        not in the namespace of the fit; ``reset=False`` only). For
        ``"inverse_transform"``, X without feature names (an array) is not
        warned about: only its feature count is checked.
    center_integers : bool, ndarray or None, default=False
        Whether X is returned relative to the estimator's integer centre
        (``X - estimator._integer_center``, the centre subtracted exactly in
        integer arithmetic from 64-bit integer columns before their one
        rounding to float64). With ``reset``, the centre is chosen from X and
        recorded: for each 64-bit integer column holding a value beyond
        ``2**53`` in magnitude (which float64 cannot hold exactly) on one
        side of 0, its value nearest 0, rounded toward 0 to a float64
        (:func:`_center_of_column`); None where no
        column has one, so that other data is converted as it always was,
        bit for bit. An array (or None) is a centre chosen elsewhere (for a
        dask partition, see :func:`sknorm._dask.block_center`; shared by the
        scalers of :class:`~sknorm.GroupedScaler`): it is recorded as the
        estimator's and X is returned relative to it. Dense numpy arrays
        (and nested lists of integers) and pandas and polars DataFrames only.

    Returns
    -------
    X : ndarray or sparse matrix of float16, float32 or float64, or an array
        of X's array API namespace (with ``array_api_dispatch=True``)
    """
    return _validated_input(
        estimator,
        X,
        reset=reset,
        accept_sparse=accept_sparse,
        sparse_message=sparse_message,
        check_features=check_features,
        allow_nan=allow_nan,
        reject_infinity=reject_infinity,
        method=method,
        center_integers=center_integers,
    )[0]


def _validated_input(
    estimator,
    X,
    *,
    reset,
    accept_sparse,
    sparse_message,
    check_features,
    allow_nan,
    reject_infinity,
    method,
    center_integers,
):
    """:func:`check_input`'s work: ``(X, namespace, finite_checked, has_nan)``,
    the validated X with its :class:`~sknorm._array_api.Namespace` (None for
    numpy and scipy), whether infinity was rejected, and whether X holds NaN
    (None: not known)."""
    if not reset and check_features:
        check_same_namespace(X, estimator, method=method)
    # inverse_transform takes data in the output's coordinates, where an
    # array is as valid as a DataFrame of the output's names: data without
    # names is not warned about (scikit-learn #31947), names given are
    # checked.
    count_only = (
        check_features
        and not reset
        and method == "inverse_transform"
        and _get_feature_names(X) is None
    )
    if count_only:
        check_features = False
    namespace = namespace_of(X)
    if namespace is not None:
        X = _check_array_api_input(
            estimator, X, namespace, reset=reset, check_features=check_features
        )
        if count_only:
            _check_n_features(estimator, X, reset=False)
        if reject_infinity or not allow_nan:
            has_nan = _checked_finite(X, namespace, estimator, allow_nan, None)
            return X, namespace, True, has_nan
        return X, namespace, False, None
    center = None
    if center_integers is not False:
        X, center = _integer_centered(
            estimator, X, reset=reset, center_integers=center_integers
        )
    if _is_float_matrix(X):
        if check_features:
            _check_matrix_features(estimator, X, reset=reset)
    else:
        X = _validated_container(
            estimator,
            X,
            reset=reset,
            accept_sparse=accept_sparse,
            sparse_message=sparse_message,
            check_features=check_features,
        )
    if count_only:
        _check_n_features(estimator, X, reset=False)
    if center is not None:
        X = centered_floats(X, center)
    if reject_infinity or not allow_nan:
        has_nan = _checked_finite(X, None, estimator, allow_nan, None)
        return X, None, True, has_nan
    return X, None, False, None


class ValidatedBatch:
    """One batch of fit input, validated, with what validation learned of it.

    Built once per call by :func:`validated_batch` (for an estimator, by
    ``_StatisticsEstimator._validated_batch``), and handed down whole: the
    statistics (:meth:`sknorm.stats.Statistic.from_batch`), the fit's
    callback task and the estimator's fit path read the namespace, weights
    and checks from it instead of working them out again from the data.

    Parameters
    ----------
    data : ndarray, sparse matrix or array
        The validated data: a float numpy array, a CSR/CSC matrix or array,
        or an array of an array API namespace (on its device).
    namespace : Namespace or None, default=None
        The :class:`~sknorm._array_api.Namespace` (and device) of ``data``;
        None for numpy and scipy data.
    sample_weight : ndarray of float64 of shape (n_rows,) or None, default=None
        Validated weights (see :func:`check_sample_weight`); None: unweighted.
    feature_names : ndarray of str or None, default=None
        The column names of the input (a DataFrame's), None without names.
    finite_checked : bool, default=False
        Whether infinity was already rejected.
    has_nan : bool or None, default=None
        Whether ``data`` holds NaN; None where it is not known.

    Attributes
    ----------
    dtype : dtype
        The float dtype of ``data`` (float64, float32 or float16, or the
        namespace's float dtype).
    sparse_format : {"csr", "csc"} or None
        The format of sparse ``data``; None for dense data.
    n_rows, n_features : int
        The shape of ``data``.
    n_positive : int
        Number of rows of positive weight (every row when unweighted).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import StandardScaler
    >>> from sknorm._validation import validated_batch
    >>> batch = validated_batch(
    ...     StandardScaler(), [[1, 2], [3, 4], [5, 6]], [1.0, 0.0, 2.0], reset=True
    ... )
    >>> batch.dtype, batch.sparse_format, batch.n_rows, batch.n_positive
    (dtype('float64'), None, 3, 2)
    """

    __slots__ = (
        "_device_data",
        "data",
        "dtype",
        "feature_names",
        "finite_checked",
        "has_nan",
        "n_features",
        "n_positive",
        "n_rows",
        "namespace",
        "sample_weight",
        "sparse_format",
    )

    def __init__(
        self,
        data,
        *,
        namespace=None,
        sample_weight=None,
        feature_names=None,
        finite_checked=False,
        has_nan=None,
    ):
        self.data = data
        self.namespace = namespace
        self.dtype = data.dtype
        dense = type(data) is np.ndarray or namespace is not None
        self.sparse_format = None if dense or not is_sparse(data) else data.format
        self.sample_weight = sample_weight
        self.feature_names = feature_names
        n_rows, n_features = data.shape
        self.n_rows = n_rows
        self.n_features = n_features
        self.n_positive = (
            n_rows
            if sample_weight is None
            else int(np.count_nonzero(sample_weight > 0))
        )
        self.finite_checked = finite_checked
        self.has_nan = has_nan
        self._device_data = None

    @property
    def shape(self):
        """``(n_rows, n_features)``."""
        return (self.n_rows, self.n_features)

    @property
    def device(self):
        """The device of array API data; None for numpy and scipy data."""
        return None if self.namespace is None else self.namespace.device

    def device_data(self):
        """The :class:`~sknorm._array_api.DeviceData` of array API data, made
        once (so its host copy is shared by every statistic); None for numpy
        and scipy data."""
        if self.namespace is not None and self._device_data is None:
            self._device_data = DeviceData(self.data, self.namespace)
        return self._device_data

    def host(self):
        """The data as numpy or scipy (array API data copied to the host
        once)."""
        if self.namespace is None:
            return self.data
        return self.device_data().host()

    def replaced(self, data, *, finite_checked, has_nan):
        """A batch of other ``data`` of the same rows (a transformed copy),
        with this batch's namespace, weights and names, and what is known
        of the new data's values."""
        batch = ValidatedBatch.__new__(ValidatedBatch)
        for name in self.__slots__:
            setattr(batch, name, getattr(self, name))
        batch.data = data
        batch.dtype = data.dtype
        if batch.sparse_format is not None:
            batch.sparse_format = data.format
        batch.finite_checked = finite_checked
        batch.has_nan = has_nan
        batch._device_data = None
        return batch

    def check_finite(self, estimator, *, allow_nan=True, columns=None):
        """:func:`check_finite` of the data, in its namespace.

        Checking every column records the result: infinity is rejected
        (:attr:`finite_checked`), and so is NaN without ``allow_nan``
        (:attr:`has_nan` False).
        """
        has_nan = _checked_finite(
            self.data, self.namespace, estimator, allow_nan, columns
        )
        if columns is None:
            self.finite_checked = True
            if self.has_nan is None or not allow_nan:
                self.has_nan = has_nan

    def __repr__(self):
        namespace = None if self.namespace is None else self.namespace.xp.__name__
        return (
            f"ValidatedBatch(shape={self.shape}, dtype={self.dtype}, "
            f"sparse_format={self.sparse_format}, "
            f"weighted={self.sample_weight is not None}, "
            f"namespace={namespace})"
        )


def validated_batch(
    estimator,
    X,
    sample_weight=None,
    *,
    reset,
    accept_sparse=("csr", "csc"),
    allow_nan=True,
    reject_infinity=True,
    center_integers=False,
    method="partial_fit",
):
    """Validate fit input ``X`` and its ``sample_weight`` together, once.

    :func:`check_input` (the same checks, recording or checking the
    estimator's features) and :func:`check_sample_weight`, with the
    namespace of X looked up once; the result carries what the layers
    below need.

    Parameters
    ----------
    estimator : BaseEstimator
        The estimator that records (``reset=True``) or checks
        (``reset=False``) ``n_features_in_`` and ``feature_names_in_``.
    X : array-like, sparse matrix or DataFrame
        The input.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Weights of the rows.
    reset : bool
        Whether to record the number and names of features (first fit).
    accept_sparse : tuple of str or False, default=("csr", "csc")
        As in :func:`check_input`.
    allow_nan : bool, default=True
        As in :func:`check_input`.
    reject_infinity : bool, default=True
        As in :func:`check_input`; the batch says whether it was done
        (:attr:`ValidatedBatch.finite_checked`).
    center_integers : bool, ndarray or None, default=False
        As in :func:`check_input`.
    method : str, default="partial_fit"
        The estimator's method that asks (named in the error raised when X is
        not in the namespace of the fit; ``reset=False`` only).

    Returns
    -------
    batch : ValidatedBatch
    """
    data, namespace, finite_checked, has_nan = _validated_input(
        estimator,
        X,
        reset=reset,
        accept_sparse=accept_sparse,
        sparse_message=None,
        check_features=True,
        allow_nan=allow_nan,
        reject_infinity=reject_infinity,
        method=method,
        center_integers=center_integers,
    )
    return ValidatedBatch(
        data,
        namespace=namespace,
        sample_weight=_checked_sample_weight(sample_weight, data, namespace),
        feature_names=feature_names_of(X),
        finite_checked=finite_checked,
        has_nan=has_nan,
    )


#: 64-bit integers of at most this magnitude convert to float64 exactly.
_EXACT_INTEGER_LIMIT = 2**53


def _wide_integer_columns(X):
    """``{position: (values, missing)}`` of X's 64-bit integer columns, or None.

    numpy int64/uint64 arrays (every column), pandas int64/uint64/Int64/UInt64
    and polars Int64/UInt64 columns; ``values`` is an int64 or uint64 array
    (0 where missing), ``missing`` a boolean mask or None. Narrower integers
    convert to float64 exactly and are left out; so is every other container.
    """
    if isinstance(X, np.ndarray):
        if X.ndim != 2 or X.dtype.kind not in "iu" or X.dtype.itemsize != 8:
            return None
        return {j: (X[:, j], None) for j in range(X.shape[1])}
    module = type(X).__module__.split(".")[0]
    if module == "pandas" and getattr(X, "ndim", 0) == 2 and hasattr(X, "dtypes"):
        columns = {}
        for position, dtype in enumerate(X.dtypes):
            kind = getattr(dtype, "kind", None)
            if kind not in ("i", "u") or getattr(dtype, "itemsize", 0) != 8:
                continue
            column = X.iloc[:, position]
            missing = column.isna().to_numpy()
            values = column.to_numpy(dtype=f"{kind}8", na_value=0)
            columns[position] = (values, missing if missing.any() else None)
        return columns or None
    if module == "polars" and hasattr(X, "schema"):
        import polars as pl

        columns = {}
        for position, (name, dtype) in enumerate(X.schema.items()):
            if dtype not in (pl.Int64, pl.UInt64):
                continue
            column = X.get_column(name)
            missing = column.is_null().to_numpy()
            values = column.fill_null(0).to_numpy()
            columns[position] = (values, missing if missing.any() else None)
        return columns or None
    return None


def _float_toward_zero(value):
    """The integer ``value`` rounded toward zero to a float64 (exactly)."""
    nearest = float(value)
    if abs(nearest) > abs(value):
        return float(np.nextafter(nearest, 0.0))
    return nearest


def _center_of_column(low, high):
    """The integer centre of a column of integers in ``[low, high]``.

    Its value nearest zero, rounded toward zero to a float64, when the
    column holds a value beyond ``2**53`` in magnitude and does not span 0:
    every difference from it is then smaller in magnitude than the value
    itself, so nothing is lost and the offset cancels exactly. 0 (no centre)
    otherwise: a column spanning 0 (or the small integers float64 holds
    exactly) gains nothing from a centre, whose differences could only be
    larger than its values near 0.
    """
    if high <= _EXACT_INTEGER_LIMIT and low >= -_EXACT_INTEGER_LIMIT:
        return 0.0
    if low > 0:
        return _float_toward_zero(low)
    if high < 0:
        return _float_toward_zero(high)
    return 0.0


def integer_ranges(X):
    """``{position: (low, high)}``: the least and greatest value (Python
    integers) of each of X's :func:`_wide_integer_columns` that holds one;
    empty for other input.

    The ranges of parts of X (the partitions of a dask collection) combine
    by their minimum and maximum into those of X.
    """
    if is_sparse(X) or len(getattr(X, "shape", ())) != 2 or X.shape[0] == 0:
        return {}
    if isinstance(X, np.ndarray):  # all columns integers: at once
        if X.dtype.kind not in "iu" or X.dtype.itemsize != 8:
            return {}
        low, high = X.min(axis=0), X.max(axis=0)
        return {j: (int(low[j]), int(high[j])) for j in range(X.shape[1])}
    ranges = {}
    for position, (values, missing) in (_wide_integer_columns(X) or {}).items():
        present = values if missing is None else values[~missing]
        if present.size:
            ranges[position] = (int(present.min()), int(present.max()))
    return ranges


def integer_center_of_ranges(ranges, n_features):
    """Per-feature centre (:func:`_center_of_column`) of the columns of
    :func:`integer_ranges` ``ranges``, 0 for the other features; None when
    no feature has one."""
    center = np.zeros(n_features)
    for position, (low, high) in ranges.items():
        center[position] = _center_of_column(low, high)
    return center if center.any() else None


#: The numpy dtypes of 64-bit integers.
_WIDE_INTEGERS = (np.dtype(np.int64), np.dtype(np.uint64))


def _integer_center_of(X):
    """Per-feature centre (:func:`_center_of_column`) of X's
    :func:`_wide_integer_columns`, 0 for the other features; None when no
    feature has one."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in _WIDE_INTEGERS:
        # Most integer data is small: two reductions of the whole array say so.
        if (
            X.size
            and X.max() <= _EXACT_INTEGER_LIMIT
            and X.min() >= -_EXACT_INTEGER_LIMIT
        ):
            return None
    ranges = integer_ranges(X)
    return integer_center_of_ranges(ranges, X.shape[1]) if ranges else None


def _integer_minus_center(values, center):
    """``values - center`` (int64 or uint64 values, an integer ``center``)
    rounded once to float64.

    The difference is exact in 64-bit modular arithmetic: it lies in
    ``(-2**64, 2**64)``, so its magnitude, ``values - center`` above the
    centre and ``center - values`` below it, is the modular difference.
    """
    center = int(center)
    bits = values.view(np.uint64)
    center_bits = np.uint64(center % 2**64)
    above = (bits - center_bits).astype(np.float64)
    below = values < center
    if below.any():
        above[below] = -(center_bits - bits[below]).astype(np.float64)
    return above


def _integer_centered(estimator, X, *, reset, center_integers=True):
    """``(X, center)``: X with its 64-bit integer columns replaced by their
    float64 differences from the estimator's integer centre (recorded first
    when ``reset``, or given as ``center_integers``, an array or None), and
    the centre still to subtract from the other columns once X is float
    (None when there is nothing to subtract).

    The caller's data is not modified: a numpy array is converted into new
    memory, a DataFrame's columns are replaced in a shallow copy.
    """
    given = not isinstance(center_integers, bool)
    if given:
        # Chosen elsewhere: recorded as it is.
        estimator._integer_center = center_integers
    elif not reset and getattr(estimator, "_integer_center", None) is None:
        return X, None
    if isinstance(X, (list, tuple)) and len(X):
        as_array = np.asarray(X)
        if as_array.dtype.kind in "iu":
            X = as_array
    if reset and not given:
        estimator._integer_center = _integer_center_of(X)
    center = getattr(estimator, "_integer_center", None)
    if center is None or is_sparse(X) or len(getattr(X, "shape", ())) != 2:
        return X, None
    if X.shape[1] != center.shape[0]:
        return X, None  # validation names the feature count that differs
    columns = _wide_integer_columns(X)
    differences = {
        position: _integer_minus_center(values, center[position])
        for position, (values, _) in (columns or {}).items()
        if center[position] != 0
    }
    for position, (_, missing) in (columns or {}).items():
        if missing is not None and position in differences:
            differences[position][missing] = np.nan
    X = _with_float_columns(X, differences)
    rest = center.copy()
    rest[list(differences)] = 0
    return X, rest if rest.any() else None


def _with_float_columns(X, replacements):
    """X with the columns ``{position: float64 values}`` replaced (new memory
    for a numpy array, a shallow copy of a DataFrame)."""
    if not replacements:
        return X
    if isinstance(X, np.ndarray):
        X = X.astype(np.float64)
        for position, values in replacements.items():
            X[:, position] = values
        return X
    if hasattr(X, "isetitem"):  # pandas
        X = X.copy(deep=False)
        for position, values in replacements.items():
            X.isetitem(position, values)
        return X
    import polars as pl

    names = X.columns
    return X.with_columns(
        [
            pl.Series(names[position], values, dtype=pl.Float64)
            for position, values in replacements.items()
        ]
    )


def centered_floats(X, center, *, in_place=False):
    """Validated float X minus the per-feature ``center`` (exact integers),
    in X's dtype: a new array, or X itself with ``in_place``."""
    if is_sparse(X):
        # The centered map moves sparse zeros: it refuses sparse X itself.
        return X
    moved = np.flatnonzero(center)
    shifted = X if in_place else X.copy()
    shifted[:, moved] = (X[:, moved].astype(np.float64) - center[moved]).astype(X.dtype)
    return shifted


#: The dtypes of :func:`_is_float_matrix` (native byte order only).
_FLOAT_MATRIX_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _is_float_matrix(X):
    """Whether ``X`` is input that validation returns as it is: a writeable,
    non-empty, 2-D numpy array of float64 or float32 (not a subclass).

    The common case in a pipeline, validated without the rest of
    ``validate_data`` (its DataFrame detection and conversions cost tens of
    microseconds per call, as much as scaling 100 x 5 values).
    """
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype in _FLOAT_MATRIX_DTYPES
        and X.shape[0] > 0
        and X.shape[1] > 0
        and X.flags.writeable
    )


def _check_matrix_features(estimator, X, *, reset):
    """What ``validate_data`` does to the estimator for a :func:`_is_float_matrix`
    X: record (``reset``) or check ``n_features_in_``, and forget (``reset``)
    or warn about missing ``feature_names_in_``, with scikit-learn's own
    functions and messages. An array has no feature names, so only an
    estimator that recorded some has anything to do about them."""
    if hasattr(estimator, "feature_names_in_"):
        _check_feature_names(estimator, X, reset=reset)
    _check_n_features(estimator, X, reset=reset)


def _validated_container(
    estimator, X, *, reset, accept_sparse, sparse_message, check_features
):
    """:func:`check_input` for any input but a :func:`_is_float_matrix`, through
    scikit-learn's ``validate_data`` (or ``check_array``), infinity not
    checked."""
    name = type(estimator).__name__
    from_scipy = is_sparse(X)
    if from_scipy and not accept_sparse:
        advice = f" {sparse_message}" if sparse_message else ""
        raise TypeError(
            f"{name} does not support sparse input (got a {X.format.upper()} "
            f"matrix).{advice}"
        )
    X, non_numeric = _convert_numeric_columns(X)
    if non_numeric:
        _raise_non_numeric(name, [repr(c) for c in non_numeric])
    dtype = _float_dtype_for(X)
    kwargs = dict(
        accept_sparse=list(accept_sparse) if accept_sparse else False,
        dtype=dtype,
        ensure_all_finite=False,
        copy=False,
        force_writeable=True,
    )
    try:
        if check_features:
            X = validate_data(estimator, X, reset=reset, **kwargs)
        else:
            from sklearn.utils import check_array

            X = check_array(X, estimator=estimator, **kwargs)
    except (TypeError, ValueError) as error:
        _raise_for_non_numeric_array(estimator, X, error)
        raise
    if not from_scipy:
        # A sparse matrix built by validation (from a DataFrame of sparse
        # columns) is sknorm's output container to choose.
        X = as_configured_sparse(X)
    if is_sparse(X) and not X.has_canonical_format:
        # Duplicate entries would be counted twice by the statistics; sum them
        # in a copy so the caller's matrix keeps its structure.
        X = X.copy()
        X.sum_duplicates()
    return X


def _check_array_api_input(estimator, X, namespace, *, reset, check_features):
    """Validate an array of a non-numpy namespace on its device: 2-D, not
    empty, the feature count; floats kept, integers and booleans converted
    to the namespace's default float."""
    xp = namespace.xp
    if xp.isdtype(X.dtype, "real floating"):
        dtype = X.dtype
    elif xp.isdtype(X.dtype, ("integral", "bool")):
        dtype = namespace.default_float()
    else:
        raise ValueError(
            f"{type(estimator).__name__} needs real numbers, got an array of "
            f"dtype {X.dtype}."
        )
    kwargs = dict(dtype=dtype, ensure_all_finite=False, copy=False)
    if check_features:
        return validate_data(estimator, X, reset=reset, **kwargs)
    from sklearn.utils import check_array

    return check_array(X, estimator=estimator, **kwargs)


def check_feature_names_out(estimator, X):
    """Check the feature names of data in the estimator's output coordinates.

    For ``inverse_transform`` of an estimator whose output features are new
    ones (principal coordinates): a DataFrame's column names must be those of
    ``get_feature_names_out()``, in order, as the scalers require
    ``feature_names_in_`` of theirs. Data without names is accepted.
    """
    names = _get_feature_names(X)
    if names is None:
        return
    expected = estimator.get_feature_names_out()
    if len(names) != len(expected) or np.any(names != expected):
        raise ValueError(
            f"The feature names of X should match those {type(estimator).__name__} "
            f"produces (get_feature_names_out()): expected "
            f"{_describe_columns(repr(str(n)) for n in expected)}, got "
            f"{_describe_columns(repr(str(n)) for n in names)}."
        )


def check_sample_weight(sample_weight, X):
    """Validate ``sample_weight``: 1-D, one non-negative finite value per row,
    not all zero.

    Returns None when ``sample_weight`` is None (the unweighted fast path) and a
    float64 array otherwise.
    """
    if sample_weight is None:
        return None
    return _checked_sample_weight(sample_weight, X, namespace_of(X))


def _checked_sample_weight(sample_weight, X, namespace):
    """:func:`check_sample_weight` for validated X of ``namespace`` (None:
    numpy/scipy)."""
    if sample_weight is None:
        return None
    if namespace is not None:
        # Weights of any namespace, validated and kept on the host.
        return check_sample_weight_on_host(
            sample_weight, X.shape[0], _host_sample_weight
        )
    return _host_sample_weight(sample_weight, X)


def _host_sample_weight(sample_weight, X):
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True
    )
    # scikit-learn >= 1.9 raises this itself; earlier versions accept all-zero
    # weights, which leave nothing to fit.
    if not sample_weight.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return sample_weight


def may_write_in_place(X_checked, X_original, copy):
    """Whether a transform may write its result into ``X_checked``.

    Always when validation produced new memory; with ``copy=False`` also into
    the caller's numpy array or sparse matrix. DataFrames are never modified:
    their buffers may be shared with other frames (pandas copy-on-write).
    """
    if owns_memory(X_checked, X_original):
        return True
    return not copy and (isinstance(X_original, np.ndarray) or is_sparse(X_original))


def owns_memory(X_checked, X_original):
    """Whether ``X_checked`` may be written to without touching the caller's data.

    True when validation produced new memory (a dtype conversion, a DataFrame
    converted by copying, a list turned into an array, a sparse format change).
    """
    if X_checked is X_original:
        return False
    if is_sparse(X_checked):
        original_data = getattr(X_original, "data", None)
        if not isinstance(original_data, np.ndarray):
            return True
        return not np.may_share_memory(X_checked.data, original_data)
    if isinstance(X_original, np.ndarray):
        return not np.may_share_memory(X_checked, X_original)
    if isinstance(X_original, (list, tuple)):
        return True
    # DataFrames and other containers may hand out views of their buffers.
    return False


def wrap_like_transform(estimator, X_out, X_in):
    """Wrap ``X_out`` in the container configured by ``set_output(transform=...)``.

    scikit-learn wraps ``transform`` automatically; ``inverse_transform`` goes
    through this helper so that it honours the same configuration. Its columns
    are the estimator's input features (``feature_names_in_``, or ``x0, x1,
    ...``), which differ from ``get_feature_names_out()`` when the estimator
    changes the features.
    """
    config = _get_output_config("transform", estimator)
    if config["dense"] == "default" or is_sparse(X_out):
        return X_out
    adapter = ADAPTERS_MANAGER.adapters[config["dense"]]
    return adapter.create_container(
        X_out, X_in, columns=lambda: _check_feature_names_in(estimator, None)
    )


def check_axis(axis):
    """Validate the ``axis`` argument of the module-level functions."""
    if not isinstance(axis, Integral) or axis not in (0, 1):
        raise ValueError(f"axis must be 0 or 1, got {axis!r}.")
    return int(axis)
