"""Function versions of the scalers, for one-off use outside a pipeline.

Each function fits its estimator on ``X`` and transforms ``X`` with it, so function
and estimator give the same result. Fitting on all the data before splitting it
leaks test data into the statistics: inside cross-validation use the estimators
in a :class:`~sklearn.pipeline.Pipeline` instead.
"""

from numbers import Integral, Real

import numpy as np
from sklearn import config_context
from sklearn.utils._param_validation import (
    Interval,
    Options,
    StrOptions,
    validate_params,
)

from ._array_api import namespace_of
from ._validation import is_sparse, sparse_frame_as_scipy
from .scalers import (
    MaxAbsScaler,
    MinMaxScaler,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

__all__ = [
    "maxabs_scale",
    "minmax_scale",
    "power_transform",
    "quantile_transform",
    "robust_scale",
    "scale",
]


def _fit_transform_along_axis(estimator, X, axis, sample_weight=None):
    """Fit ``estimator`` on X's columns (axis=0) or rows (axis=1) and transform.

    1-D input is treated as one feature and returned 1-D. ``sample_weight``
    weights the samples (rows) and so needs ``axis=0``: with ``axis=1`` the
    statistics are computed over the features of each sample, and weights
    would weight features, which no estimator defines.
    """
    if getattr(estimator, "feature_groups", None) is not None and axis == 1:
        raise ValueError(
            "feature_groups groups features (columns) and needs axis=0; with "
            "axis=1 each sample is scaled by statistics over its features."
        )
    if sample_weight is not None and axis == 1:
        raise ValueError(
            "sample_weight weights samples (rows) and needs axis=0; with axis=1 "
            "each sample is scaled by statistics over its features, which "
            "sample_weight does not weight."
        )
    namespace = namespace_of(X)
    if namespace is not None:  # array API input stays in its namespace
        one_dimensional = X.ndim == 1
        if one_dimensional:
            X = namespace.xp.reshape(X, (-1, 1))
        if axis == 1:
            X = X.T
    else:
        one_dimensional = not is_sparse(X) and np.ndim(X) == 1
        if one_dimensional:
            X = np.asarray(X).reshape(-1, 1)
        if axis == 1:
            # sparse columns stay sparse when transposed
            X = sparse_frame_as_scipy(X)
            X = X.T if is_sparse(X) or isinstance(X, np.ndarray) else np.asarray(X).T
    with config_context(transform_output="default"):
        result = estimator.fit_transform(X, sample_weight=sample_weight)
    if axis == 1:
        result = result.T
    if not one_dimensional:
        return result
    return result.ravel() if namespace is None else namespace.xp.reshape(result, (-1,))


_COMMON_CONSTRAINTS = {
    "X": ["array-like", "sparse matrix"],
    "axis": [Options(Integral, {0, 1})],
    "copy": ["boolean"],
    "clip": ["boolean"],
    "sample_weight": ["array-like", None],
    "feature_groups": ["array-like", None],
}


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
        "ddof": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def scale(
    X,
    *,
    axis=0,
    with_mean=True,
    with_std=True,
    copy=True,
    clip=False,
    sample_weight=None,
    ddof=0,
    feature_groups=None,
):
    """Standardize a dataset along any axis.

    The function form of :class:`~sknorm.StandardScaler` (``z = (x - mean) /
    std``), drop-in for :func:`sklearn.preprocessing.scale`.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        The data to center and scale. Sparse data cannot be centered.
    axis : {0, 1}, default=0
        0 standardizes each feature, 1 each sample.
    with_mean : bool, default=True
        Center the data before scaling.
    with_std : bool, default=True
        Scale the data to unit variance.
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip the transformed values to the transformed range of the data
        (the function transforms the data it fits, so this only matters for
        values the statistics ignore, such as rows of zero weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples (integer weights equal repeated
        rows). Needs ``axis=0``: a ValueError is raised with ``axis=1``.
    ddof : float, default=0
        Delta degrees of freedom of the standard deviation (1: the sample
        standard deviation); see :class:`StandardScaler`.
    feature_groups : list of column groups, default=None
        Groups of features scaled by the statistics of all their values
        pooled (see the estimator). Needs ``axis=0``.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of the shape of X
        The transformed data.

    See Also
    --------
    StandardScaler : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> from sknorm import scale
    >>> scale([[-2.0, 1.0, 2.0], [-1.0, 0.0, 1.0]], axis=0)
    array([[-1.,  1.,  1.],
           [ 1., -1., -1.]])
    >>> scale([[-2.0, 1.0, 2.0], [-1.0, 0.0, 1.0]], axis=1).round(2)
    array([[-1.37,  0.39,  0.98],
           [-1.22,  0.  ,  1.22]])
    """
    estimator = StandardScaler(
        with_mean=with_mean,
        with_std=with_std,
        copy=copy,
        clip=clip,
        ddof=ddof,
        feature_groups=feature_groups,
    )
    return _fit_transform_along_axis(estimator, X, axis, sample_weight)


@validate_params(
    {**_COMMON_CONSTRAINTS, "feature_range": [tuple]},
    prefer_skip_nested_validation=True,
)
def minmax_scale(
    X,
    feature_range=(0, 1),
    *,
    axis=0,
    copy=True,
    clip=False,
    sample_weight=None,
    feature_groups=None,
):
    """Scale each feature (or sample) to a given range.

    The function form of :class:`~sknorm.MinMaxScaler`, drop-in for
    :func:`sklearn.preprocessing.minmax_scale`, and also accepting sparse input
    whose minimum maps to 0.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        The data.
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of transformed data.
    axis : {0, 1}, default=0
        0 scales each feature, 1 each sample.
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip the transformed values to the transformed range of the data
        (the function transforms the data it fits, so this only matters for
        values the statistics ignore, such as rows of zero weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples (integer weights equal repeated
        rows). Needs ``axis=0``: a ValueError is raised with ``axis=1``.
    feature_groups : list of column groups, default=None
        Groups of features scaled by the statistics of all their values
        pooled (see the estimator). Needs ``axis=0``.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of the shape of X
        The transformed data.

    See Also
    --------
    MinMaxScaler : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> from sknorm import minmax_scale
    >>> minmax_scale([[-2.0, 1.0, 2.0], [-1.0, 0.0, 1.0]], axis=0)
    array([[0., 1., 1.],
           [1., 0., 0.]])
    """
    estimator = MinMaxScaler(
        feature_range=feature_range,
        copy=copy,
        clip=clip,
        feature_groups=feature_groups,
    )
    return _fit_transform_along_axis(estimator, X, axis, sample_weight)


@validate_params(_COMMON_CONSTRAINTS, prefer_skip_nested_validation=True)
def maxabs_scale(
    X, *, axis=0, copy=True, clip=False, sample_weight=None, feature_groups=None
):
    """Scale each feature (or sample) by its maximum absolute value.

    The function form of :class:`~sknorm.MaxAbsScaler`, drop-in for
    :func:`sklearn.preprocessing.maxabs_scale`. Sparse input stays sparse.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        The data.
    axis : {0, 1}, default=0
        0 scales each feature, 1 each sample.
    copy : bool, default=True
        If False, scale in place where possible.
    clip : bool, default=False
        Clip the transformed values to the transformed range of the data
        (the function transforms the data it fits, so this only matters for
        values the statistics ignore, such as rows of zero weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples (integer weights equal repeated
        rows). Needs ``axis=0``: a ValueError is raised with ``axis=1``.
    feature_groups : list of column groups, default=None
        Groups of features scaled by the statistics of all their values
        pooled (see the estimator). Needs ``axis=0``.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of the shape of X
        The transformed data.

    See Also
    --------
    MaxAbsScaler : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> from sknorm import maxabs_scale
    >>> maxabs_scale([[-2.0, 1.0, 2.0], [-1.0, 0.0, 1.0]], axis=0)
    array([[-1. ,  1. ,  1. ],
           [-0.5,  0. ,  0.5]])
    """
    estimator = MaxAbsScaler(copy=copy, clip=clip, feature_groups=feature_groups)
    return _fit_transform_along_axis(estimator, X, axis, sample_weight)


@validate_params(
    {
        **_COMMON_CONSTRAINTS,
        "with_centering": ["boolean"],
        "with_scaling": ["boolean"],
        "quantile_range": [tuple],
        "unit_variance": ["boolean"],
        "spread": [StrOptions({"iqr", "mad"})],
    },
    prefer_skip_nested_validation=True,
)
def robust_scale(
    X,
    *,
    axis=0,
    with_centering=True,
    with_scaling=True,
    quantile_range=(25.0, 75.0),
    copy=True,
    unit_variance=False,
    clip=False,
    sample_weight=None,
    spread="iqr",
    feature_groups=None,
):
    """Center on the median and scale by a quantile range, along any axis.

    The function form of :class:`~sknorm.RobustScaler` (``(x - median) /
    (q_max - q_min)``), drop-in for :func:`sklearn.preprocessing.robust_scale`,
    with exact quantiles (also for a dask array: the function has no
    ``dask_quantiles`` parameter and always computes them exactly).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        The data. Sparse data can be centered only if every median is 0.
    axis : {0, 1}, default=0
        0 scales each feature, 1 each sample.
    with_centering : bool, default=True
        Subtract the median.
    with_scaling : bool, default=True
        Divide by the quantile range.
    quantile_range : tuple (q_min, q_max), default=(25.0, 75.0)
        Percentiles whose difference is the scale.
    copy : bool, default=True
        If False, scale in place where possible.
    unit_variance : bool, default=False
        Scale so that normally distributed data gets unit variance.
    clip : bool, default=False
        Clip the transformed values to the transformed range of the data
        (the function transforms the data it fits, so this only matters for
        values the statistics ignore, such as rows of zero weight).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, relative (equal weights give the
        unweighted result, zero removes a row; see :class:`RobustScaler`).
        Needs ``axis=0``: a ValueError is raised with ``axis=1``.
    spread : {"iqr", "mad"}, default="iqr"
        Scale by the quantile range or by the median absolute deviation (see
        :class:`RobustScaler`; ``"mad"`` is exact in memory only and raises
        for a dask array).
    feature_groups : list of column groups, default=None
        Groups of features scaled by the statistics of all their values
        pooled (see the estimator). Needs ``axis=0``.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of the shape of X
        The transformed data.

    See Also
    --------
    RobustScaler : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> from sknorm import robust_scale
    >>> X = [[-2, 1, 2], [-1, 0, 1]]
    >>> robust_scale(X, axis=0)
    array([[-1.,  1.,  1.],
           [ 1., -1., -1.]])
    >>> robust_scale(X, axis=1)
    array([[-1.5,  0. ,  0.5],
           [-1. ,  0. ,  1. ]])
    """
    estimator = RobustScaler(
        with_centering=with_centering,
        with_scaling=with_scaling,
        quantile_range=quantile_range,
        copy=copy,
        unit_variance=unit_variance,
        clip=clip,
        spread=spread,
        # Exact quantiles whatever X is: a dask array gets the values of an
        # in-memory fit (RobustScaler's dask_quantiles is not a parameter of
        # the function, whose result must not depend on X's container).
        dask_quantiles="exact",
        feature_groups=feature_groups,
    )
    return _fit_transform_along_axis(estimator, X, axis, sample_weight)


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "axis": [Options(Integral, {0, 1})],
        "n_quantiles": [Interval(Integral, 1, None, closed="left")],
        "output_distribution": [StrOptions({"uniform", "normal"})],
        "ignore_implicit_zeros": ["boolean"],
        "subsample": [Interval(Integral, 1, None, closed="left"), None],
        "random_state": ["random_state"],
        "copy": ["boolean"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def quantile_transform(
    X,
    *,
    axis=0,
    n_quantiles=1000,
    output_distribution="uniform",
    ignore_implicit_zeros=False,
    subsample=None,
    random_state=None,
    copy=True,
    sample_weight=None,
):
    """Transform features using quantiles information, along any axis.

    The function form of :class:`~sknorm.QuantileTransformer`, drop-in for
    :func:`sklearn.preprocessing.quantile_transform`, with exact quantiles
    by default: ``subsample=None`` uses every row (scikit-learn's default,
    ``100_000``, estimates the quantiles from that many; an int here
    subsamples as scikit-learn does). A dask array gets the exact quantiles
    of an in-memory fit.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or (n_samples,)
        The data to transform.
    axis : {0, 1}, default=0
        0 transforms each feature, 1 each sample.
    n_quantiles : int, default=1000
        Number of quantiles (at most the number of samples).
    output_distribution : {"uniform", "normal"}, default="uniform"
        Marginal distribution of the transformed data.
    ignore_implicit_zeros : bool, default=False
        Sparse input only: learn the quantiles of the stored values.
    subsample : int or None, default=None
        Samples drawn to estimate the quantiles; None uses all of them.
    random_state : int, RandomState instance or None, default=None
        The draws of ``subsample``.
    copy : bool, default=True
        If False, transform in place where possible.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples, relative (see
        :class:`~sknorm.QuantileTransformer`). Needs ``axis=0``.

    Returns
    -------
    Xt : {ndarray, sparse matrix} of the shape of X
        The transformed data.

    See Also
    --------
    QuantileTransformer : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import quantile_transform
    >>> X = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 30.0], [8.0, 40.0]])
    >>> quantile_transform(X, n_quantiles=4)
    array([[0.        , 0.        ],
           [0.33333333, 0.33333333],
           [0.66666667, 0.66666667],
           [1.        , 1.        ]])
    """
    estimator = QuantileTransformer(
        n_quantiles=n_quantiles,
        output_distribution=output_distribution,
        ignore_implicit_zeros=ignore_implicit_zeros,
        subsample=subsample,
        random_state=random_state,
        copy=copy,
        # Exact quantiles whatever X is (see robust_scale).
        dask_quantiles="exact",
    )
    return _fit_transform_along_axis(estimator, X, axis, sample_weight)


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "method": [StrOptions({"yeo-johnson", "box-cox"})],
        "standardize": ["boolean"],
        "copy": ["boolean"],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def power_transform(
    X, method="yeo-johnson", *, standardize=True, copy=True, sample_weight=None
):
    """Parametric, monotonic transformation to make data more Gaussian-like.

    The function form of :class:`~sknorm.PowerTransformer`, drop-in for
    :func:`sklearn.preprocessing.power_transform`: each feature's ``lambda``
    is the exact maximum likelihood one (see the estimator for the method and
    its numerical safety).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data. Sparse data needs ``method="yeo-johnson"`` and
        ``standardize=False`` (zeros stay zeros).
    method : {"yeo-johnson", "box-cox"}, default="yeo-johnson"
        Yeo-Johnson works with any real values, Box-Cox with strictly
        positive values only.
    standardize : bool, default=True
        Apply zero-mean, unit-variance normalization to the transformed
        output.
    copy : bool, default=True
        If False, transform in place where possible.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative weights of the samples (integer weights equal repeated
        rows).

    Returns
    -------
    X_trans : {ndarray, sparse matrix} of shape (n_samples, n_features)
        The transformed data.

    See Also
    --------
    PowerTransformer : The estimator, for use in a Pipeline.

    Examples
    --------
    >>> from sknorm import power_transform
    >>> power_transform([[1, 2], [3, 2], [4, 5]], method="box-cox")
    array([[-1.33269291, -0.70710678],
           [ 0.25653283, -0.70710678],
           [ 1.07616008,  1.41421356]])
    """
    estimator = PowerTransformer(method=method, standardize=standardize, copy=copy)
    with config_context(transform_output="default"):
        return estimator.fit_transform(X, sample_weight=sample_weight)
