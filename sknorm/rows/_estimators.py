"""The row normalizers and the dispatch of a pass to its kernel."""

from numbers import Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions

from .._array_api import namespace_of, to_numpy
from .._callbacks import CallbackSupportMixin, fit_task
from .._dask import DaskDispatchMixin, is_dask_collection, metadata_sample
from .._estimator import DocLinkMixin, ParamsMixin
from .._groups import resolve_groups
from .._validation import (
    _describe_columns,
    check_input,
    feature_names_of,
    is_sparse,
    may_write_in_place,
)
from ._dense import _dense_pass, _namespace_pass
from ._kernels import _NORM_CONSTRAINT, _norm_exponent, _RowRule
from ._sparse import _sparse_pass


def _row_pass(X, rule, groups, *, out=None, factors=None):
    """Apply ``rule`` to every (row, group) segment of validated ``X``.

    Parameters
    ----------
    X : ndarray or CSR/CSC matrix of float32 or float64
        Validated input (see :func:`sknorm._validation.check_input`).
    rule : _RowRule
        What to compute.
    groups : list of ndarray of int
        Non-overlapping column indices; columns in no group are left alone.
    out : ndarray or sparse matrix, optional
        Receives the result: X itself (in place) or an array of X's shape and
        dtype (for sparse input, a copy of X with the same structure).
    factors : ndarray of shape (n_groups,), optional
        Extra multiplier of each group's output.

    Returns
    -------
    spreads : ndarray of shape (n_rows, n_groups)
        Each segment's spread in X's units (its norm, RMS or standard
        deviation; 0 for all-zero segments); ``inf`` only where the true value
        exceeds the float64 range.
    zeros : ndarray of bool of shape (n_rows, n_groups)
        Segments whose values are all zero or missing.
    """
    namespace = namespace_of(X)
    if namespace is not None:
        _, spreads, zeros = _namespace_pass(
            X, namespace, rule, groups, factors, with_output=False
        )
        return spreads, zeros
    if is_sparse(X):
        if rule.subtract_mean:  # pragma: no cover - estimators refuse earlier
            raise ValueError("Sparse rows cannot be centered.")
        return _sparse_pass(X, rule, groups, out, factors)
    return _dense_pass(X, rule, groups, out, factors)


def _output_for(X, in_place, groups):
    """Where the result goes: X itself, or a copy of it when some columns are
    passed through (or X is sparse), else a fresh array."""
    if in_place:
        return X
    every_column = sum(map(len, groups)) == X.shape[1]
    if is_sparse(X) and every_column:
        # Every stored value is written: copy the structure, not the values.
        structure = (np.empty_like(X.data), X.indices.copy(), X.indptr.copy())
        return type(X)(structure, shape=X.shape)
    if is_sparse(X) or not every_column:
        return X.copy()
    return np.empty_like(X)


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


class _RowNormalizer(
    DocLinkMixin,
    ParamsMixin,
    CallbackSupportMixin,
    DaskDispatchMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Shared machinery of the stateless row normalizers.

    Subclasses describe their computation (:meth:`_rule`) and may refuse sparse
    input (:meth:`_sparse_advice`) or add per-group factors (:meth:`_factors`).
    """

    _parameter_constraints: dict = {
        "groups": ["array-like", None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "copy": ["boolean"],
    }

    def _rule(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sparse_advice(self):
        """None if sparse input is supported, else the advice to give."""
        return None

    def _factors(self, n_groups):
        return None

    def _check(self, X, *, reset, fitted=True):
        advice = self._sparse_advice()
        return check_input(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc") if advice is None else False,
            sparse_message=advice,
            check_features=fitted,
        )

    def _groups(self, n_features, feature_names):
        return resolve_groups(
            self.groups, n_features, feature_names, type(self).__name__
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate X and record its number and names of features.

        Row normalizers learn nothing from data: ``transform`` works without
        ``fit``. Fitting checks the parameters against X (for example that
        ``groups`` refers to existing columns) and lets ``transform`` check
        that later data has the same features.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data whose features later data must match.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        with fit_task(self, "fit") as task:
            if is_dask_collection(X):
                # Only the metadata is needed: never read the data.
                X = metadata_sample(X)
            X = self._check(X, reset=True)
            task.begin(X)
            groups = self._groups(X.shape[1], getattr(self, "feature_names_in_", None))
            self._factors(len(groups))
        return self

    def transform(self, X, copy=None):
        """Normalize each row (each group of columns within each row) of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to normalize. NaN values are ignored in the row statistics and
            kept in the output.
            Also a polars LazyFrame or DuckDB relation, mapped lazily.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Normalized data, of X's float dtype and, if sparse, X's format.
        """
        # Stateless: transform may be the first call, so it validates too.
        self._validate_params()
        copy = self.copy if copy is None else copy
        fitted = hasattr(self, "n_features_in_")
        X_checked = self._check(X, reset=False, fitted=fitted)
        names = (
            getattr(self, "feature_names_in_", None) if fitted else feature_names_of(X)
        )
        out, _ = self._normalize(
            X_checked, in_place=may_write_in_place(X_checked, X, copy), names=names
        )
        return out

    def _normalize(self, X, *, in_place, names):
        """Normalize validated X; return ``(X_out, spreads)``."""
        rule = self._rule()
        namespace = namespace_of(X)
        if rule.is_identity:
            if namespace is not None:
                return namespace.xp.asarray(X, copy=True), None
            return (X if in_place else X.copy()), None
        groups = self._groups(X.shape[1], names)
        factors = self._factors(len(groups))
        self._before_pass(X, rule, groups)
        if namespace is not None:
            out, spreads, _ = _namespace_pass(
                X, namespace, rule, groups, factors, with_output=True
            )
            return out, spreads
        out = _output_for(X, in_place, groups)
        spreads, _ = _row_pass(X, rule, groups, out=out, factors=factors)
        return out, spreads

    def _before_pass(self, X, rule, groups):
        """Hook run before X is written to (for checks that must not leave a
        half-transformed array behind)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.array_api_support = True
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = self._sparse_advice() is None
        tags.transformer_tags.preserves_dtype = ["float64", "float32", "float16"]
        return tags


class Normalizer(_RowNormalizer):
    """Normalize samples individually to unit norm.

    Drop-in for :class:`sklearn.preprocessing.Normalizer`: each row ``x`` is
    divided by its norm,

    .. math:: x \\mapsto \\frac{x}{\\max(\\|x\\|_p, \\varepsilon)}

    and rows that are all zero stay zero. Computed in float64 with each row
    first scaled by its largest absolute value, so that rows whose squares
    overflow or underflow (``[1e160, 1e160]``, float32 ``[1e20, 1e20]``,
    ``[1e-200, 1e-200]``) are normalized correctly, where scikit-learn returns
    zeros or leaves them unscaled.

    Additions:

    * any exponent ``p >= 1`` as ``norm`` (``"l1"`` is 1, ``"l2"`` 2 and
      ``"max"`` infinity);
    * NaN values are ignored in the norm and kept in the output;
    * ``eps``, the floor of the norm, and ``zero_rows`` to refuse all-zero rows;
    * ``groups`` of columns normalized separately (block-wise normalization of
      concatenated embeddings) with optional ``weights``;
    * CSC input stays CSC.

    Parameters
    ----------
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm to divide each row by: ``"l1"``, ``"l2"``, ``"max"`` (the
        largest absolute value) or the exponent p of the p-norm.
    copy : bool, default=True
        If False, normalize in place where possible (a float array or a CSR/CSC
        matrix that the caller passed directly).
    eps : float >= 0, default=0.0
        Rows whose norm is below ``eps`` are divided by ``eps`` instead, so
        that tiny rows are not blown up to unit norm. With ``eps=0`` every row
        that is not all zero gets unit norm, however small it is.
    zero_rows : {"keep", "raise"}, default="keep"
        What to do with rows (or row groups) whose values are all zero or NaN,
        which have no direction: ``"keep"`` leaves them as they are,
        ``"raise"`` raises a ValueError naming them.
    groups : list of column groups, default=None
        Normalize each group of columns separately. Each group is a list or
        array of column indices, a list of column names (for DataFrames), a
        boolean mask or a slice. Groups must not overlap; columns in no group
        are passed through unchanged. None normalizes whole rows.
    weights : array-like of shape (n_groups,), default=None
        Relative weight of each group, for ``groups`` of embeddings: weights
        are divided by their sum, and group ``b`` of each row is scaled to
        p-norm ``weights[b] ** (1 / p)`` (instead of 1). For ``norm="l2"`` the
        dot product of two results is then the weighted mean of the cosine
        similarities of their groups, and each result row has unit norm. Needs
        a finite p.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    normalize : The function, which can also return the norms.
    RowStandardizer : Layer and RMS normalization of each row.

    Notes
    -----
    The estimator is stateless: ``transform`` needs no ``fit`` and is safe in
    any cross-validation. The norm is computed in float64 for float32 input,
    in row blocks, and the result is rounded once.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import Normalizer
    >>> X = [[4, 1, 2, 2], [1, 3, 9, 3], [5, 7, 5, 1]]
    >>> Normalizer().fit_transform(X)
    array([[0.8, 0.2, 0.4, 0.4],
           [0.1, 0.3, 0.9, 0.3],
           [0.5, 0.7, 0.5, 0.1]])

    Squares that overflow are no problem:

    >>> Normalizer().transform(np.array([[1e160, 1e160, 0.0]]))
    array([[0.70710678, 0.70710678, 0.        ]])

    Two concatenated embeddings, each normalized and weighted, so that the dot
    product of two rows is ``0.75 * cos(a) + 0.25 * cos(b)``:

    >>> blocks = Normalizer(groups=[slice(0, 2), slice(2, 4)], weights=[3, 1])
    >>> blocks.fit_transform([[3.0, 4.0, 0.0, 2.0]])
    array([[0.51961524, 0.69282032, 0.        , 0.5       ]])
    """

    _parameter_constraints: dict = {
        **_RowNormalizer._parameter_constraints,
        "norm": _NORM_CONSTRAINT,
        "zero_rows": [StrOptions({"keep", "raise"})],
        "weights": ["array-like", None],
    }

    def __init__(
        self,
        norm="l2",
        *,
        copy=True,
        eps=0.0,
        zero_rows="keep",
        groups=None,
        weights=None,
    ):
        self.norm = norm
        self.copy = copy
        self.eps = eps
        self.zero_rows = zero_rows
        self.groups = groups
        self.weights = weights

    def _rule(self):
        return _RowRule(p=_norm_exponent(self.norm), eps=float(self.eps))

    def _factors(self, n_groups):
        """Per-group output multipliers ``w_b ** (1 / p)`` from ``weights``."""
        if self.weights is None:
            return None
        name = type(self).__name__
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n_groups,):
            raise ValueError(
                f"{name}: weights must hold one value per group ({n_groups}), "
                f"got shape {weights.shape}."
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"{name}: weights must be finite and non-negative.")
        total = weights.sum()
        if not total > 0:
            raise ValueError(f"{name}: weights must not all be zero.")
        p = _norm_exponent(self.norm)
        if p == np.inf:
            raise ValueError(
                f"{name}: weights need a finite norm exponent; with norm='max' "
                "they cannot set the groups' share of the norm."
            )
        return (weights / total) ** (1.0 / p)

    def _before_pass(self, X, rule, groups):
        if self.zero_rows != "raise":
            return
        _, zeros = _row_pass(X, rule, groups)
        zeros = to_numpy(zeros)
        if zeros.any():
            rows, group = np.nonzero(zeros)
            if len(groups) == 1:
                where = [str(r) for r in rows]
            else:
                where = [f"{r} (group {b})" for r, b in zip(rows, group, strict=True)]
            raise ValueError(
                f"{type(self).__name__} found {len(rows)} all-zero row(s) (zero "
                f"or NaN values only), which have no direction: row(s) "
                f"{_describe_columns(where)}. Drop them first, or use "
                "zero_rows='keep' to leave them as zeros."
            )


class RowStandardizer(_RowNormalizer):
    """Standardize each sample across its features: layer or RMS normalization.

    ``method="standard"`` (layer normalization of one sample, the row version
    of :class:`StandardScaler`) centers each row on its mean and divides it by
    its standard deviation,

    .. math:: x \\mapsto \\frac{x - \\bar x}{\\sqrt{\\operatorname{var}(x) +
              \\varepsilon}}

    and ``method="rms"`` (RMS normalization) divides each row by its root mean
    square, without centering,

    .. math:: x \\mapsto \\frac{x}{\\sqrt{\\overline{x^2} + \\varepsilon}}

    Statistics are taken over the row's non-missing values with ``ddof=0``
    (as in :func:`sknorm.scale` with ``axis=1``, which ``method="standard"``
    reproduces). With ``groups``, each group of columns of each row is
    standardized separately: group normalization, or instance normalization
    with one group per channel.

    Parameters
    ----------
    method : {"standard", "rms"}, default="standard"
        ``"standard"``: subtract the row mean (``with_mean``) and divide by
        the row standard deviation (``with_std``). ``"rms"``: divide by the
        root mean square of the row; it never centers, so ``with_mean`` and
        ``with_std`` are not used.
    with_mean : bool, default=True
        For ``method="standard"``, center each row. Sparse input cannot be
        centered (it would become dense): use ``with_mean=False`` or
        ``method="rms"`` there.
    with_std : bool, default=True
        For ``method="standard"``, divide each row by its standard deviation.
    eps : float >= 0, default=0.0
        Added to the variance (or mean square) under the square root, as in
        ``torch.nn.LayerNorm`` and ``torch.nn.RMSNorm``, which this reproduces
        with the same ``eps``. With ``eps=0``, a row whose spread is within the
        rounding error of its moments (at most ``4 * eps64`` times its mean)
        is divided by 1 instead: the constant-feature rule of every sknorm
        scaler, so a constant row becomes zeros, never NaN.
    groups : list of column groups, default=None
        Standardize each group of columns separately. Each group is a list or
        array of column indices, a list of column names (for DataFrames), a
        boolean mask or a slice. Groups must not overlap; columns in no group
        are passed through unchanged. None standardizes whole rows.
    copy : bool, default=True
        If False, transform in place where possible.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    Normalizer : Divide each row by its norm.
    StandardScaler : Standardize each feature across samples.

    Notes
    -----
    The estimator is stateless: ``transform`` needs no ``fit`` and is safe in
    any cross-validation. Sparse input is accepted when nothing is centered
    (``method="rms"``, or ``with_mean=False``): the mean square then counts
    the implicit zeros, so dense and sparse input give the same result.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import RowStandardizer
    >>> X = np.array([[1.0, 2.0, 3.0, 6.0], [-1.0, 1.0, -1.0, 1.0]])
    >>> RowStandardizer().fit_transform(X)
    array([[-1.06904497, -0.53452248,  0.        ,  1.60356745],
           [-1.        ,  1.        , -1.        ,  1.        ]])
    >>> RowStandardizer(method="rms").fit_transform(X)
    array([[ 0.28284271,  0.56568542,  0.84852814,  1.69705627],
           [-1.        ,  1.        , -1.        ,  1.        ]])

    Instance normalization of 2 channels of length 2, flattened to columns
    ``[c0t0, c0t1, c1t0, c1t1]``: one group per channel.

    >>> n_channels, length = 2, 2
    >>> channels = [
    ...     slice(c * length, (c + 1) * length) for c in range(n_channels)
    ... ]
    >>> RowStandardizer(groups=channels).fit_transform(X)
    array([[-1.,  1., -1.,  1.],
           [-1.,  1., -1.,  1.]])
    """

    _parameter_constraints: dict = {
        **_RowNormalizer._parameter_constraints,
        "method": [StrOptions({"standard", "rms"})],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    def __init__(
        self,
        method="standard",
        *,
        with_mean=True,
        with_std=True,
        eps=0.0,
        groups=None,
        copy=True,
    ):
        self.method = method
        self.with_mean = with_mean
        self.with_std = with_std
        self.eps = eps
        self.groups = groups
        self.copy = copy

    def _centers(self):
        return self.method == "standard" and bool(self.with_mean)

    def _rule(self):
        eps = float(self.eps)
        if self.method == "rms":
            return _RowRule(p=2.0, per_value=True, eps=eps, floor="hypot")
        return _RowRule(
            p=2.0,
            about_mean=True,
            per_value=True,
            subtract_mean=bool(self.with_mean),
            scale=bool(self.with_std),
            eps=eps,
            floor="hypot",
        )

    def _sparse_advice(self):
        if not self._centers():
            return None
        return (
            "Centering rows would make sparse data dense: use with_mean=False "
            "(divide by the row standard deviation) or method='rms' (divide by "
            "the root mean square), or convert X to a dense array first."
        )
