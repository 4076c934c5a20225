"""The function forms: :func:`normalize` and :func:`row_norms`."""

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._validation import (
    check_input,
    feature_names_of,
    may_write_in_place,
)
from ._estimators import Normalizer, _row_pass
from ._kernels import _NORM_CONSTRAINT

# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "norm": _NORM_CONSTRAINT,
        "axis": [Interval(Integral, 0, 1, closed="both")],
        "copy": ["boolean"],
        "return_norm": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="left")],
        "zero_rows": [StrOptions({"keep", "raise"})],
        "groups": ["array-like", None],
        "weights": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def normalize(
    X,
    norm="l2",
    *,
    axis=1,
    copy=True,
    return_norm=False,
    eps=0.0,
    zero_rows="keep",
    groups=None,
    weights=None,
):
    """Scale input vectors individually to unit norm.

    The function form of :class:`~sknorm.Normalizer`, drop-in for
    :func:`sklearn.preprocessing.normalize`: the same parameters and results
    for rows whose norm is representable, plus overflow- and underflow-safe
    norms, NaN ignored, any ``p >= 1``, ``eps``, ``zero_rows``, ``groups`` and
    ``weights`` (see :class:`~sknorm.Normalizer`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to normalize. CSR and CSC input keep their format.
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm to divide by, or the exponent p of the p-norm.
    axis : {0, 1}, default=1
        1 normalizes each sample (row), 0 each feature (column).
    copy : bool, default=True
        If False, normalize in place where possible.
    return_norm : bool, default=False
        Whether to also return the norms.
    eps : float >= 0, default=0.0
        Vectors whose norm is below ``eps`` are divided by ``eps`` instead.
    zero_rows : {"keep", "raise"}, default="keep"
        What to do with all-zero (or all-NaN) vectors: leave them as zeros, or
        raise a ValueError naming them.
    groups : list of index groups, default=None
        Normalize each group of columns (rows, for ``axis=0``) separately; see
        :class:`~sknorm.Normalizer`.
    weights : array-like of shape (n_groups,), default=None
        Relative weight of each group; see :class:`~sknorm.Normalizer`.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Normalized input, of X's float dtype.
    norms : ndarray of float64 of shape (n_samples,) if axis=1 else (n_features,)
        Returned when ``return_norm=True``: the norm of each vector, NaN
        ignored, 0 for all-zero vectors, ``inf`` only where the true norm
        exceeds the float64 range. With ``groups``, of shape
        ``(n_vectors, n_groups)``: the norm of each group of each vector.

    See Also
    --------
    Normalizer : The estimator, for use in a Pipeline.
    row_norms : The norms alone.

    Examples
    --------
    >>> from sknorm import normalize
    >>> X = [[-2, 1, 2], [-1, 0, 1]]
    >>> normalize(X, norm="l1")
    array([[-0.4,  0.2,  0.4],
           [-0.5,  0. ,  0.5]])
    >>> X_normalized, norms = normalize(X, return_norm=True)
    >>> X_normalized.round(2)
    array([[-0.67,  0.33,  0.67],
           [-0.71,  0.  ,  0.71]])
    >>> norms
    array([3.        , 1.41421356])
    """
    estimator = Normalizer(
        norm=norm,
        copy=copy,
        eps=eps,
        zero_rows=zero_rows,
        groups=groups,
        weights=weights,
    )
    X_checked = check_input(estimator, X, reset=False, check_features=False)
    in_place = may_write_in_place(X_checked, X, copy)
    names = feature_names_of(X) if axis == 1 else None
    if axis == 0:
        X_checked = X_checked.T
    out, norms = estimator._normalize(X_checked, in_place=in_place, names=names)
    if axis == 0:
        out = out.T
    if not return_norm:
        return out
    return out, norms[:, 0] if groups is None else norms


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "norm": _NORM_CONSTRAINT,
        "groups": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def row_norms(X, norm="l2", *, groups=None):
    """The norm of each row of X (or of each group of columns of each row).

    The kernel behind :class:`Normalizer` and :func:`normalize`, for dense and
    CSR/CSC input alike: computed in float64 with each row first scaled by its
    largest absolute value, so that neither squares nor sums overflow or
    underflow; NaN values are ignored.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data.
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm, or the exponent p of the p-norm.
    groups : list of column groups, default=None
        Compute the norm of each group of columns separately; see
        :class:`Normalizer`.

    Returns
    -------
    norms : ndarray of float64 of shape (n_samples,) or (n_samples, n_groups)
        The norms; 0 for rows with only zeros and NaN; ``inf`` only where the
        true norm exceeds the float64 range. Two-dimensional when ``groups`` is
        given.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.rows import row_norms
    >>> row_norms(np.array([[3.0, 4.0], [1e200, 1e200], [np.nan, 2.0]]))
    array([5.00000000e+000, 1.41421356e+200, 2.00000000e+000])
    >>> row_norms([[3.0, 4.0, 1.0, -1.0]], "l1", groups=[[0, 1], [2, 3]])
    array([[7., 2.]])
    """
    estimator = Normalizer(norm=norm, groups=groups)
    X_checked = check_input(estimator, X, reset=False, check_features=False)
    columns = estimator._groups(X_checked.shape[1], feature_names_of(X))
    norms, _ = _row_pass(X_checked, estimator._rule(), columns)
    return norms[:, 0] if groups is None else norms
