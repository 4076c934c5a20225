"""EmbeddingNormalizer: a linear map derived from the covariance, between
two row normalizations."""

from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    check_is_fitted,
)

from .._array_api import check_same_namespace, host_view, namespace_of
from .._dask import blockwise_on_dask
from .._estimator import _StatisticsEstimator
from .._parallel import map_blas_tasks, task_runs
from .._validation import (
    check_feature_names_out,
    check_input,
    is_sparse,
    may_write_in_place,
    row_blocks,
    wrap_like_transform,
)
from ..rows import normalize
from ..stats import Covariance
from ._base import (
    _BLOCK_ELEMENTS,
    _TRANSFORM_TASKS,
    EIGENVALUE_FLOOR,
    ZERO_VARIANCE,
    _FeatureNamesOutMixin,
    _normalize_rows,
    _sign_convention,
)


class EmbeddingNormalizer(_FeatureNamesOutMixin, _StatisticsEstimator):
    """Center, decorrelate and L2-normalize embeddings with statistics fitted on
    training data.

    The transform is a fitted linear map between two row L2 normalizations::

        transform(X) = normalize((normalize(X) - mean_) @ projection_)

    The inner normalization (``input_norm="l2"``, the default) puts every row
    on the unit sphere before the statistics are accumulated and before the
    map: raw mean-pooled embeddings have norms that differ by the type of text
    (about 2.2 for plot synopses, 3.8 for reviews in the benchmark data), and
    statistics of raw vectors are dominated by the longer ones.

    ``projection_`` is built from the eigendecomposition ``C = U Λ U^T`` of the
    training covariance (the uncentered second moment without centering):

    * ``n_remove=r`` drops the top ``r`` principal directions
      ("all-but-the-top", Mu and Viswanath, 2018): they carry variance common
      to all embeddings (frequency, length) rather than meaning;
    * ``n_components=k`` keeps the ``k`` next directions;
    * ``whiten`` scales each kept direction ``i`` by ``λ_i ** power``
      (``power=-0.5``: unit variance, BERT-whitening, Su et al., 2021; values
      between -0.5 and 0 whiten softly). ``shrinkage=a`` first replaces ``C``
      by ``(1 - a) C + a (tr C / d) I``, which keeps the directions and pulls
      the eigenvalues towards their mean; ``shrinkage="auto"`` chooses ``a``
      by the Oracle Approximating Shrinkage (Chen et al., 2010) from the
      statistic alone (:meth:`~sknorm.stats.Covariance.oas_shrinkage`);
    * the result is expressed in principal coordinates (``whiten="pca"``, or
      ``n_components`` without whitening: ``k`` output features) or rotated
      back to the input's coordinates (``whiten="zca"``, or removal alone:
      ``n_features_in_`` output features);
    * ``truncate_dim=t`` keeps the first ``t`` output features (Matryoshka
      truncation), before the normalization.

    Eigenvalues are floored at ``EIGENVALUE_FLOOR = 1e-6`` times the largest
    one before any negative power, so fewer samples than dimensions or a
    singular covariance never give NaN or infinity. A direction without
    variance (within the rounding error: at most ``ZERO_VARIANCE *
    n_features_in_`` times the largest variance) is not whitened: its scale is
    1, as the scalers leave a constant feature, so a fit on one sample only
    centers. Everything is relative: whitening ``2**k * X`` gives exactly the
    result of whitening ``X`` (the covariance is computed in units of a power
    of two of the data, so data near the float64 limits neither overflows nor
    underflows). Statistics are accumulated
    in float64; float32 and float16 input keep their dtype, computed in
    float64 row blocks and rounded once. NaN is rejected: a row with a missing
    value has no place in a covariance, and its whole output row would be
    undefined. Sparse input (CSR/CSC) is accepted, without densifying it, also
    with ``center=True``; the output is always a dense array.

    **The default never loses more than 0.5 point to L2 only on any task of
    benchmarks/embedding_quality.py** (classification accuracy; review to
    review and plot to review retrieval nDCG@10 with statistics fitted in
    domain, out of domain and on 300 rows). Centering does not pass: on
    L2-normalized rows it gains 1.8 points of review to review nDCG@10 in
    domain (0.236 to 0.254) but loses 0.8 point of plot to review nDCG@10
    with statistics fitted on out-of-domain headlines (0.361 to 0.353). So
    the defaults fit no map: ``EmbeddingNormalizer()`` L2-normalizes the rows
    (``center="auto"`` centers only the maps built on principal
    directions). Whitening of normalized rows with ``shrinkage=0.5`` stayed
    within the rule in the measured run (worst: accuracy 0.761 against
    0.762) and gains 5 to 8 points of retrieval in domain (plot to review
    0.361 to 0.441); it is opt-in, its margins measured on one model and one
    split. docs/embeddings.rst lists the figures of every option.

    Parameters
    ----------
    center : bool or "auto", default="auto"
        Subtract the training mean. With ``False`` the principal directions
        are those of the uncentered second moment ``E[x x^T]``. ``"auto"``
        centers when the map removes, whitens or keeps principal directions
        (``n_remove``, ``whiten``, ``n_components``: directions of the
        covariance), and not otherwise: centering alone, on the mean of
        training data that may not match the data transformed, can hurt.
    n_remove : int, default=0
        Number of top principal directions to remove.
    whiten : {None, "pca", "zca"}, default=None
        Scale the kept principal directions by ``λ ** power``. ``"pca"``
        returns principal coordinates, ``"zca"`` rotates back to the input's
        coordinates (the whitening closest to the original embedding).
    n_components : int, default=None
        Number of principal directions kept after the removed ones; None keeps
        all. Without whitening the output is the projection on them, in
        principal coordinates.
    shrinkage : float in [0, 1] or "auto", default=0.0
        Weight of the scaled identity in the covariance used for whitening.
        ``"auto"``: the Oracle Approximating Shrinkage coefficient of the
        fitted covariance (the formula of
        :class:`sklearn.covariance.OAS`), close to 1 when there are few
        samples for the dimension and close to 0 when there are many; the
        sample size is the total weight (weights count as repeated rows).
        The value used is ``shrinkage_``. Needs ``whiten``.
    power : float in [-0.5, 0], default=None
        Exponent of the eigenvalues in the whitening; None means -0.5 (full
        whitening). Needs ``whiten``.
    truncate_dim : int, default=None
        Keep only the first ``truncate_dim`` output features, then normalize.
    norm : {"l2", None}, default="l2"
        Normalize each output row to unit L2 norm, or not.
    input_norm : {"l2", None}, default="l2"
        Normalize each input row to unit L2 norm (sknorm's row kernel, with
        ``eps``) before the statistics and before the map, in ``fit``,
        ``partial_fit`` and ``transform``; None uses the raw rows.
    eps : float >= 0, default=1e-12
        Rows whose norm is below ``eps`` are divided by ``eps`` instead (in
        both normalizations); rows equal to the mean (zero after centering)
        stay zero.
    copy : bool, default=True
        If False and the output has the input's shape and float dtype, write
        it into the input array.
    decay : float in [0, 1), default=0.0
        Share of the learned weight each ``partial_fit`` forgets before it
        merges its batch: a row seen ``j`` batches ago weighs ``(1 - decay) **
        j`` times its weight in the mean and covariance (exact). ``fit`` is
        not affected. See :ref:`decay`.

    Attributes
    ----------
    mean_ : ndarray of shape (`n_features_in_`,)
        Mean subtracted before the map (of the normalized rows with
        ``input_norm``; zeros without centering).
    components_ : ndarray of shape (`n_features_in_`, `n_features_in_`) or None
        Principal directions (rows), by decreasing variance; an entry of
        largest magnitude of each is positive. None when the map needs no
        eigendecomposition (no removal, whitening or ``n_components``).
    explained_variance_ : ndarray of shape (`n_features_in_`,) or None
        Variance along each principal direction (eigenvalues of the covariance,
        divided by the total weight), before shrinkage and floor; infinity
        where it exceeds the float64 range (data above about ``1e154``: the
        map is computed in the data's units and stays exact).
    projection_ : ndarray of shape (`n_features_in_`, `n_features_out_`)
        The linear map, float64.
    shrinkage_ : float
        The shrinkage used by the whitening: ``shrinkage``, or the computed
        coefficient with ``shrinkage="auto"`` (0.0 without whitening).
    n_features_out_ : int
        Number of output features.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.
    n_samples_seen_ : int or float
        Number of rows seen by ``fit`` and ``partial_fit`` (their decayed
        number, a float, when ``decay > 0``).

    See Also
    --------
    EmbeddingQuantizer : Store embeddings in int8, uint8 or one bit per
        dimension.
    sklearn.decomposition.PCA : PCA with whitening, without row normalization,
        ``partial_fit`` or ``sample_weight``.

    References
    ----------
    J. Mu and P. Viswanath, "All-but-the-Top: Simple and Effective
    Postprocessing for Word Representations", ICLR 2018.

    J. Su, J. Cao, W. Liu and Y. Ou, "Whitening Sentence Representations for
    Better Semantics and Faster Retrieval", arXiv:2103.15316, 2021.

    Y. Chen, A. Wiesel, Y. C. Eldar and A. O. Hero, "Shrinkage Algorithms for
    MMSE Covariance Estimation", IEEE Trans. Signal Processing 58(10), 2010.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 8)) @ rng.normal(size=(8, 8)) + 3.0
    >>> normalizer = EmbeddingNormalizer(whiten="pca", n_components=4).fit(X)
    >>> Z = normalizer.transform(X)
    >>> Z.shape
    (200, 4)
    >>> np.allclose(np.linalg.norm(Z, axis=1), 1.0)
    True
    >>> normalizer.get_feature_names_out()
    array(['embeddingnormalizer0', 'embeddingnormalizer1',
           'embeddingnormalizer2', 'embeddingnormalizer3'], dtype=object)

    The defaults fit no map: the rows are L2-normalized.

    >>> unit_rows = X / np.linalg.norm(X, axis=1, keepdims=True)
    >>> np.allclose(EmbeddingNormalizer().fit(X).transform(X), unit_rows)
    True

    Whitening without output normalization gives uncorrelated unit-variance
    features and can be inverted, up to the input rows' norms (``input_norm``
    keeps only their directions):

    >>> zca = EmbeddingNormalizer(whiten="zca", norm=None).fit(X)
    >>> np.allclose(np.cov(zca.transform(X).T, bias=True), np.eye(8))
    True
    >>> np.allclose(zca.inverse_transform(zca.transform(X)), unit_rows)
    True
    >>> raw = EmbeddingNormalizer(whiten="zca", norm=None, input_norm=None).fit(X)
    >>> np.allclose(raw.inverse_transform(raw.transform(X)), X)
    True

    ``shrinkage="auto"`` shrinks more when there are fewer samples:

    >>> few = EmbeddingNormalizer(whiten="pca", shrinkage="auto").fit(X[:20])
    >>> many = EmbeddingNormalizer(whiten="pca", shrinkage="auto").fit(X)
    >>> bool(few.shrinkage_ > many.shrinkage_)
    True
    """

    _parameter_constraints: dict = {
        "center": ["boolean", StrOptions({"auto"})],
        "n_remove": [Interval(Integral, 0, None, closed="left")],
        "whiten": [StrOptions({"pca", "zca"}), None],
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "shrinkage": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "power": [Interval(Real, -0.5, 0, closed="both"), None],
        "truncate_dim": [Interval(Integral, 1, None, closed="left"), None],
        "norm": [StrOptions({"l2"}), None],
        "input_norm": [StrOptions({"l2"}), None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "copy": ["boolean"],
        "decay": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        *,
        center="auto",
        n_remove=0,
        whiten=None,
        n_components=None,
        shrinkage=0.0,
        power=None,
        truncate_dim=None,
        norm="l2",
        input_norm="l2",
        eps=1e-12,
        copy=True,
        decay=0.0,
    ):
        self.center = center
        self.n_remove = n_remove
        self.whiten = whiten
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.power = power
        self.truncate_dim = truncate_dim
        self.norm = norm
        self.input_norm = input_norm
        self.eps = eps
        self.copy = copy
        self.decay = decay

    # ------------------------------------------------------------------
    # fitting: one Covariance statistic, then the map
    # ------------------------------------------------------------------

    _allow_nan = False

    def _statistic_types(self):
        return (Covariance,)

    def _validate_fit_params(self):
        for name, value, neutral in (
            ("shrinkage", self.shrinkage, 0),
            ("power", self.power, None),
        ):
            if self.whiten is None and value != neutral:
                raise ValueError(
                    f"{name}={value!r} only changes the whitening: set whiten to "
                    f"'pca' or 'zca', or leave {name} at {neutral!r}."
                )

    def _check_fit_input(self, X):
        n_features = X.shape[1]
        kept = self.n_remove + (self.n_components or 0)
        if self.n_remove >= n_features or kept > n_features:
            raise ValueError(
                f"n_remove={self.n_remove} and n_components={self.n_components} "
                f"leave no direction of X, which has {n_features} feature(s): "
                "n_remove must be below the number of features and n_remove + "
                "n_components at most that number."
            )
        if self.truncate_dim is not None:
            n_out = self._n_coordinates(n_features)
            if self.truncate_dim > n_out:
                raise ValueError(
                    f"truncate_dim={self.truncate_dim} exceeds the {n_out} "
                    f"features of the map (X has {n_features} feature(s))."
                )

    def _fit_input(self, batch):
        """The rows the statistics see: the batch's, L2-normalized with
        ``input_norm``.

        A batch of a copy (X's dtype and sparse format: sparse input stays
        sparse), by sknorm's row kernel with ``eps``. Infinity is rejected
        first, with the features named: normalization would turn it into
        NaN; the copy is then known finite.
        """
        if self.input_norm is None:
            return batch
        batch.check_finite(self, allow_nan=False)
        rows = normalize(batch.data, norm="l2", eps=self.eps)
        return batch.replaced(rows, finite_checked=True, has_nan=False)

    def _centers(self):
        """Whether the map subtracts the training mean: ``center``, where
        ``"auto"`` centers the maps built on principal directions (those of
        the covariance) and leaves the plain row normalization alone."""
        if self.center == "auto":
            return self._needs_eigenvectors()
        return self.center

    def _principal_coordinates(self):
        """Whether the output is in the principal basis (vs the input's)."""
        return self.whiten == "pca" or (
            self.whiten is None and self.n_components is not None
        )

    _new_features = _principal_coordinates

    def _needs_eigenvectors(self):
        return bool(self.n_remove or self.whiten or self.n_components)

    def _n_coordinates(self, n_features):
        """Number of features of the map before truncation."""
        if self._principal_coordinates():
            return self.n_components or n_features - self.n_remove
        return n_features

    def _set_fitted_attributes(self, statistics, n_rows, weighted):
        covariance = statistics["Covariance"]
        n_features = covariance.n_features
        self.n_samples_seen_ = n_rows
        center = self._centers()
        self.mean_ = covariance.mean if center else np.zeros(n_features)
        self.components_ = self.explained_variance_ = None
        self.shrinkage_ = 0.0 if self.shrinkage == "auto" else float(self.shrinkage)
        if self._needs_eigenvectors():
            # In the data's units 2**exponent (exact): the eigendecomposition,
            # and so the map, is the same for X and 2**k * X.
            spread, exponent = covariance.scaled_covariance(center=center)
            variances, vectors = linalg.eigh(spread)
            variances = np.maximum(variances[::-1], 0.0)  # rounding below zero
            vectors = _sign_convention(vectors[:, ::-1])
            self.components_ = vectors.T
            self._scaled_variance, self._variance_exponent = variances, exponent
            if self.shrinkage == "auto" and self.whiten is not None:
                self.shrinkage_ = covariance.oas_shrinkage(center=center)
            with np.errstate(over="ignore"):
                self.explained_variance_ = np.ldexp(variances, 2 * exponent)
        with np.errstate(over="ignore", invalid="ignore"):
            self.projection_, self._direction_scale = self._projection(n_features)
        if not np.all(np.isfinite(self.projection_)):
            # Whitening variances below about 1e-616 (rows of subnormal values)
            # needs a scale beyond the float64 range.
            raise ValueError(
                "whitening these rows needs a scale beyond the float64 range: "
                "their variance is too small (values below the normal range, "
                "|x| < 2.2e-308). Scale the rows by a power of two first "
                "(np.ldexp(X, 1000) is exact), or use input_norm='l2' with eps=0."
            )
        self.n_features_out_ = self.projection_.shape[1]

    def _projection(self, n_features):
        """The map (d_in, d_out) and the scale of each kept principal direction."""
        if not self._needs_eigenvectors():
            projection = np.eye(n_features)
            scale = None
        else:
            vectors = self.components_.T
            first = self.n_remove
            last = first + (self.n_components or n_features - first)
            scale = np.ones(last - first)
            if self.whiten is not None:
                scale = self._whitening_scale()[first:last]
            kept = vectors[:, first:last] * scale
            if self._principal_coordinates():
                projection = kept
            else:
                projection = kept @ vectors[:, first:last].T
        if self.truncate_dim is not None:
            projection = projection[:, : self.truncate_dim]
        return np.ascontiguousarray(projection), scale

    def _whitening_scale(self):
        """``λ ** power`` of each direction, λ shrunk and floored; 1 for the
        directions without variance.

        Computed on the variances in the data's units ``4**exponent`` (the
        floor and the zero test are relative to the largest one), so the
        scale of ``2**k * X`` is that of ``X`` times ``2**(2 k power)``.
        """
        variances = self._scaled_variance
        shrinkage = self.shrinkage_
        if shrinkage:
            target = variances.mean()  # tr C / d
            variances = (1 - shrinkage) * variances + shrinkage * target
        largest = variances.max()
        power = -0.5 if self.power is None else self.power
        # Variance within the rounding error of the covariance and its
        # eigendecomposition is none: such a direction (all of them after one
        # sample) is left unscaled, as the scalers leave a constant feature.
        zero = variances <= ZERO_VARIANCE * len(variances) * largest
        floored = np.maximum(variances, largest * EIGENVALUE_FLOOR)
        with np.errstate(divide="ignore"):
            scale = floored**power
        units = 2 * self._variance_exponent * power
        if units == int(units):
            scale = np.ldexp(scale, int(units))  # exact: full whitening
        else:
            scale *= 2.0**units
        scale[zero] = 1.0
        return scale

    def _is_selection(self):
        """Whether ``projection_`` only selects leading columns (no product)."""
        return not self._needs_eigenvectors()

    # ------------------------------------------------------------------
    # transform
    # ------------------------------------------------------------------

    def transform(self, X, copy=None):
        """Apply the fitted map and normalize each row.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, \
`n_features_in_`)
            Embeddings, without NaN.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : ndarray of shape (n_samples, `n_features_out_`)
            X's float dtype (float16, float32, float64), float64 otherwise.
        """
        check_is_fitted(self)
        copy = self.copy if copy is None else copy
        X_checked = check_input(self, X, reset=False, allow_nan=False)
        namespace = namespace_of(X_checked)
        if namespace is not None:
            return self._transform_in_namespace(X_checked, namespace)
        self = host_view(self)  # numpy attributes, whatever the fit saw
        n_rows = X_checked.shape[0]
        dtype = X_checked.dtype
        out = None
        if (
            not is_sparse(X_checked)
            and X_checked.shape[1] == self.n_features_out_
            and may_write_in_place(X_checked, X, copy)
        ):
            out = X_checked  # each block is read before its rows are written
        if out is None:
            out = np.empty((n_rows, self.n_features_out_), dtype=dtype)
        if is_sparse(X_checked):
            self._transform_sparse(X_checked.tocsr(), out)  # CSC rows slice slowly
        else:
            self._transform_dense(X_checked, out)
        return out

    def _transform_dense(self, X, out):
        """Write the transform of dense ``X`` into ``out``, block by block.

        Each block is centered in float64 straight from X (one pass, no
        converted copy), multiplied into a reused buffer, normalized there and
        rounded once into ``out``. Runs of blocks are tasks on sknorm's pool,
        each product on one BLAS thread (:func:`map_blas_tasks`); every row's
        result is the same whatever the threads. ``out`` may be ``X`` itself:
        a block is read before its rows are written.
        """
        n_rows = X.shape[0]
        n_in, n_out = self.n_features_in_, self.n_features_out_
        selection = self._is_selection()
        # A selection centers only the kept columns.
        n_read = n_out if selection else n_in
        mean = self.mean_[:n_read]
        blocks = list(row_blocks(n_rows, max(n_in, n_out), _BLOCK_ELEMENTS))

        def transform_run(run):
            most = max(rows.stop - rows.start for rows in run)
            centered = np.empty((most, n_read))
            mapped = None if selection else np.empty((most, n_out))
            # The input norm needs whole rows, even for a selection.
            unit = np.empty((most, n_in)) if self.input_norm else None
            for rows in run:
                size = rows.stop - rows.start
                block = X[rows, :n_read]
                if unit is not None:
                    block = unit[:size]
                    block[...] = X[rows]
                    _normalize_rows(block, self.eps)
                    block = block[:, :n_read]
                block = np.subtract(block, mean, out=centered[:size])
                if not selection:
                    block = np.matmul(block, self.projection_, out=mapped[:size])
                if self.norm == "l2":
                    _normalize_rows(block, self.eps)
                out[rows] = block

        if blocks:
            map_blas_tasks(transform_run, task_runs(blocks, _TRANSFORM_TASKS))

    def _transform_sparse(self, X, out):
        """Write the transform of CSR ``X`` into ``out``: ``(X - mean) P = X P -
        mean P``, so the sparse blocks are never densified."""
        offset = self.mean_ @ self.projection_
        width = max(self.n_features_in_, self.n_features_out_)
        for rows in row_blocks(X.shape[0], width, _BLOCK_ELEMENTS):
            block = X[rows]
            if self.input_norm:
                # A float64 copy of the block's stored values, still sparse.
                block = _normalize_rows(block.astype(np.float64), self.eps)
            mapped = np.asarray(block @ self.projection_, dtype=np.float64)
            mapped -= offset
            if self.norm == "l2":
                _normalize_rows(mapped, self.eps)
            out[rows] = mapped

    def _transform_in_namespace(self, X, namespace):
        """:meth:`transform` of an array API array, on its device: the map in
        the device's float64 (the fitted ``mean_`` and ``projection_`` live
        there), the row normalization by the row kernel, one rounding to X's
        dtype."""
        xp = namespace.xp
        mapped = xp.astype(X, namespace.float_dtype)
        if self.input_norm:
            mapped = _normalize_rows(mapped, self.eps)
        mapped = mapped - self.mean_
        if self._is_selection():
            mapped = mapped[:, : self.n_features_out_]
        else:
            mapped = mapped @ self.projection_
        if self.norm == "l2":
            mapped = _normalize_rows(mapped, self.eps)
        return xp.astype(mapped, X.dtype)

    # ------------------------------------------------------------------
    # inverse_transform
    # ------------------------------------------------------------------

    def _check_invertible(self):
        reasons = []
        if self.norm is not None:
            reasons.append(
                f"norm={self.norm!r} (row normalization discards each row's length)"
            )
        if self.n_remove:
            reasons.append(f"n_remove={self.n_remove} (removed directions are lost)")
        if self.n_components is not None:
            reasons.append(
                f"n_components={self.n_components} (dropped directions are lost)"
            )
        if self.truncate_dim is not None:
            reasons.append(
                f"truncate_dim={self.truncate_dim} (dropped features are lost)"
            )
        if reasons:
            raise AttributeError(
                f"{type(self).__name__} is not invertible with "
                + ", ".join(reasons)
                + ". Use norm=None without removal, n_components or truncation."
            )
        return True

    @available_if(_check_invertible)
    @blockwise_on_dask
    def inverse_transform(self, X, copy=None):
        """Map transformed data back to the input space.

        Available only when the map is invertible: ``norm=None`` and no
        removal, ``n_components`` or truncation. With ``input_norm="l2"``
        (the default) the map was applied to the L2-normalized input rows,
        so only those are recovered: the direction of each input row, not
        its norm. With ``input_norm=None`` the input rows themselves are.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, `n_features_out_`)
            Transformed data.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_original : {ndarray, DataFrame} of shape (n_samples, `n_features_in_`)
            Data in the input space (unit rows with ``input_norm="l2"``), in
            the container chosen by ``set_output``.
        """
        check_is_fitted(self)
        copy = self.copy if copy is None else copy
        if not self._principal_coordinates():
            # The output features are the input's: checked as the scalers
            # check theirs (count, and names against feature_names_in_).
            X_checked = check_input(
                self, X, reset=False, allow_nan=False, method="inverse_transform"
            )
        else:
            check_same_namespace(X, self, method="inverse_transform")
            X_checked = check_input(
                self, X, reset=False, check_features=False, allow_nan=False
            )
            if X_checked.shape[1] != self.n_features_out_:
                raise ValueError(
                    f"X has {X_checked.shape[1]} features, but "
                    f"{type(self).__name__} produces {self.n_features_out_} "
                    "features."
                )
            check_feature_names_out(self, X)
        namespace = namespace_of(X_checked)
        if namespace is None:
            self = host_view(self)  # numpy attributes, whatever the fit saw
        inverse = None
        if self._needs_eigenvectors():
            # The same expression in numpy or in the fit's namespace.
            vectors = self.components_.T
            inverse = vectors.T / self._direction_scale[:, None]
            if not self._principal_coordinates():
                inverse = vectors @ inverse
        if namespace is not None:
            block = namespace.xp.astype(X_checked, namespace.float_dtype)
            if inverse is not None:
                block = block @ inverse
            return namespace.xp.astype(block + self.mean_, X_checked.dtype)
        X_dense = X_checked.toarray() if is_sparse(X_checked) else X_checked
        in_place = not is_sparse(X_checked) and may_write_in_place(X_checked, X, copy)
        out = X_dense if in_place else np.empty_like(X_dense)
        for rows in row_blocks(len(X_dense), self.n_features_in_, _BLOCK_ELEMENTS):
            block = X_dense[rows].astype(np.float64)
            if inverse is not None:
                block = block @ inverse
            block += self.mean_
            out[rows] = block
        return wrap_like_transform(self, out, X)


# ---------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------

#: Codes of the scalar quantizers: 256 equal bins over the fitted range.
