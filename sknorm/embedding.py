"""Post-processing of embeddings: a fitted linear map, then row L2 normalization.

:class:`EmbeddingNormalizer` learns one mergeable statistic,
:class:`~sknorm.stats.Covariance` (weight, mean, scatter matrix), and derives
from its eigendecomposition a linear map applied between two row
normalizations::

    transform(X) = normalize((normalize(X) - mean_) @ projection_)

(the inner one is ``input_norm``, on by default).

Centering, removal of the top principal directions ("all-but-the-top"), PCA or
ZCA whitening, soft whitening, covariance shrinkage and Matryoshka-style
truncation are all choices of ``projection_``; ``fit``, ``partial_fit``,
``sample_weight`` and sparse input all go through the statistic.

:class:`EmbeddingQuantizer` stores embeddings in one byte per dimension (int8 or
uint8 scalar quantization, per-dimension ranges fitted on training data) or one
bit per dimension (binary, against a fitted per-dimension threshold).
"""

import os
import sys
import warnings
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_feature_names_in,
    _generate_get_feature_names_out,
    check_is_fitted,
)

from ._affine import AffineMap
from ._array_api import check_same_namespace, host_view, namespace_of
from ._dask import blockwise_on_dask
from ._estimator import FIT_SKETCH_SAMPLE, _StatisticsEstimator
from ._parallel import map_blas_tasks, task_runs
from ._validation import (
    check_feature_names_out,
    check_finite,
    check_input,
    is_sparse,
    may_write_in_place,
    row_blocks,
    wrap_like_transform,
)
from .rows import normalize
from .stats import Covariance, Extrema, Moments, Quantiles, QuantileSketch

__all__ = [
    "EmbeddingNormalizer",
    "EmbeddingQuantizer",
    "hamming_similarity",
    "rescore",
]

#: Eigenvalues are floored at this fraction of the largest one before they are
#: raised to a negative power. Covariances of embeddings are often singular
#: (fewer samples than dimensions; models whose outputs lie in a subspace):
#: without a floor their null directions would be divided by zero, or by
#: rounding noise. The floor bounds the amplification of any direction to
#: ``1e3`` times that of the leading one (for whitening, power -0.5), far
#: below what would let float32 rounding noise (a relative 6e-8) dominate.
EIGENVALUE_FLOOR = 1e-6

#: A principal direction whose variance is at most ``ZERO_VARIANCE *
#: n_features`` times the largest one has none: that is within the rounding
#: error of the covariance and of its eigendecomposition. It is not whitened
#: (scale 1, as the scalers leave a constant feature): there is no variance to
#: equalize, and its values (rounding noise on training data) are not
#: amplified. A fit on one sample, or on identical rows, has no variance at
#: all: its map only centers (and rotates).
ZERO_VARIANCE = 1000 * np.finfo(np.float64).eps

#: Values per row block of the transform: each block is one matrix product.
_BLOCK_ELEMENTS = 1 << 18

#: Most tasks of a dense transform (runs of blocks on sknorm's pool, cut by
#: the shape alone).
_TRANSFORM_TASKS = 32


def _normalize_rows(Y, eps):
    """L2-normalize the rows of the float64 array ``Y`` in place.

    sknorm's row kernel (:func:`sknorm.normalize`): overflow-safe; rows whose
    norm is below ``eps`` are divided by ``eps``; all-zero rows stay zero.
    """
    return normalize(Y, norm="l2", eps=eps, copy=False)


class _FeatureNamesOutMixin:
    """``get_feature_names_out`` for estimators whose output features are
    either the leading input features or new ones (``_new_features()``)."""

    def get_feature_names_out(self, input_features=None):
        """Names of the output features.

        The names of the first ``n_features_out_`` input features when the
        output features are input features (the input's coordinates, perhaps
        truncated; one quantized value per input feature); otherwise
        ``<classname>0``, ``<classname>1``, ... (principal coordinates, packed
        bytes).

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input feature names; checked against ``feature_names_in_``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_out_")
        n_out = self.n_features_out_
        if self._new_features():
            return _generate_get_feature_names_out(self, n_out, input_features)
        return _check_feature_names_in(self, input_features)[:n_out]


def _sign_convention(vectors):
    """Flip each column so that its entry of largest magnitude is positive.

    Eigenvectors are defined up to sign; this makes the fitted map a function
    of the covariance alone (the same for chunked, weighted or repeated data).
    """
    largest = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[largest, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


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

    def _fit_input(self, X):
        """The rows the statistics see: X's, L2-normalized with ``input_norm``.

        A copy (X's dtype and sparse format: sparse input stays sparse), by
        sknorm's row kernel with ``eps``. Infinity is rejected first, with
        the features named: normalization would turn it into NaN.
        """
        if self.input_norm is None:
            return X
        check_finite(X, self, allow_nan=False)
        return normalize(X, norm="l2", eps=self.eps)

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
        os.path.dirname(os.path.abspath(__file__)),
        os.path.dirname(os.path.abspath(sklearn.__file__)),
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(packages):
        frame, level = frame.f_back, level + 1
    return level


def hamming_similarity(A, B=None, *, n_bits=None):
    """Fraction of equal bits between packed binary vectors.

    ``1 - hamming_distance / n_bits`` for every pair of rows of ``A`` and
    ``B``, computed exactly (as a float32 product of ±1 vectors, exact for up
    to 2**24 bits).

    Parameters
    ----------
    A : ndarray of uint8 of shape (n_a, n_bytes)
        Packed bits, as returned by ``EmbeddingQuantizer(dtype="binary")``.
    B : ndarray of uint8 of shape (n_b, n_bytes), default=None
        Packed bits; None compares ``A`` with itself.
    n_bits : int, default=None
        Number of meaningful bits (the embedding's dimension), with
        ``ceil(n_bits / 8) == n_bytes``; None means ``8 * n_bytes``. Padding
        bits are zero in every vector, so they never differ.

    Returns
    -------
    similarity : ndarray of float64 of shape (n_a, n_b)
        In [0, 1]; 1 for identical vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import hamming_similarity
    >>> A = np.packbits([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]], axis=1)
    >>> B = np.packbits([[1, 0, 1, 1, 0, 0, 1, 0, 1, 0],
    ...                  [0, 1, 0, 0, 1, 1, 0, 1, 0, 0]], axis=1)
    >>> hamming_similarity(A, B, n_bits=10)
    array([[0.9, 0. ]])
    """
    A = _check_packed(A, "A")
    B = A if B is None else _check_packed(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"A and B must hold the same number of bytes per vector, got "
            f"{A.shape[1]} and {B.shape[1]}."
        )
    n_bytes = A.shape[1]
    total_bits = 8 * n_bytes
    if n_bits is None:
        n_bits = total_bits
    elif not isinstance(n_bits, Integral) or isinstance(n_bits, bool):
        raise ValueError(f"n_bits must be an integer, got {n_bits!r}.")
    elif not 8 * n_bytes - 7 <= n_bits <= total_bits:
        raise ValueError(
            f"n_bits must lie in [{max(1, total_bits - 7)}, {total_bits}] for "
            f"{n_bytes} byte(s) per vector (ceil(n_bits / 8) bytes), got {n_bits}."
        )
    n_bits = int(n_bits)
    signs_b = _signs(B)
    out = np.empty((len(A), len(B)))
    # Blocks of rows of A whose products are large enough for BLAS.
    for rows in row_blocks(len(A), max(len(B), total_bits), _BLOCK_ELEMENTS):
        # equal bits minus unequal bits: an exact integer in float32
        agreement = (_signs(A[rows]) @ signs_b.T).astype(np.float64)
        distance = (total_bits - agreement) / 2
        out[rows] = (n_bits - distance) / n_bits
    return out


def _check_packed(bits, name):
    bits = np.asarray(bits)
    if bits.dtype != np.uint8 or bits.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D uint8 array of packed bits, got "
            f"{bits.ndim}-D {bits.dtype}."
        )
    return bits


def _signs(bits):
    """Unpacked bits as float32 ±1 (exact in float32 products)."""
    signs = np.unpackbits(bits, axis=1).astype(np.float32)
    signs *= 2
    signs -= 1
    return signs


#: Most values of the candidate vectors gathered at once by :func:`rescore`.
_RESCORE_BLOCK_ELEMENTS = 1 << 22


@validate_params(
    {
        "queries": ["array-like"],
        "codes": ["array-like"],
        "candidates": ["array-like"],
        "quantizer": [EmbeddingQuantizer],
        "k": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def rescore(queries, codes, candidates, *, quantizer, k=10):
    """Rescore candidates found among quantized vectors with float queries.

    Searching quantized codes is cheap but approximate. Rescoring, as vector
    databases and sentence-transformers' ``semantic_search_faiss`` do it,
    takes more candidates than needed from that search (say the top
    ``4 * k``) and ranks them again by the dot product of the *float* query
    with each stored vector as the codes give it back:

    * int8 and uint8 codes: the dequantized vector,
      ``quantizer.inverse_transform(code)`` (bin centers, within half a step
      of the original);
    * binary codes: the bits as ±1 (``2 * bit - 1``). The query is not
      centered: ``query @ sign(x - center_)`` follows ``query @ (x -
      center_)``, which ranks the candidates as ``query @ x`` does.

    Parameters
    ----------
    queries : array-like of shape (n_queries, `quantizer.n_features_in_`)
        Float queries, post-processed as the stored vectors were before
        quantization (e.g. by the same :class:`EmbeddingNormalizer`).
    codes : array-like of shape (n_stored, `quantizer.n_features_out_`)
        The stored codes, ``quantizer.transform(stored)``.
    candidates : array-like of int of shape (n_queries, n_candidates)
        Row indices into ``codes`` of each query's candidates, such as the
        top ``k * rescore_multiplier`` of a search of the codes. ``-1`` marks
        a missing candidate (as FAISS pads short result lists); a repeated
        candidate is returned as often as it appears.
    quantizer : EmbeddingQuantizer
        The fitted quantizer that made ``codes``.
    k : int, default=10
        Number of results per query.

    Returns
    -------
    indices : ndarray of intp of shape (n_queries, min(k, n_candidates))
        The best candidates of each query, best first; ties keep the order
        of ``candidates``. ``-1`` where a query has fewer candidates.
    scores : ndarray of float64 of shape (n_queries, min(k, n_candidates))
        Their rescored dot products; ``-inf`` where ``indices`` is ``-1``.

    See Also
    --------
    EmbeddingQuantizer : Makes the codes.
    hamming_similarity : Search binary codes for the candidates.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import EmbeddingQuantizer, hamming_similarity, rescore
    >>> rng = np.random.default_rng(0)
    >>> stored = rng.normal(size=(200, 16))
    >>> quantizer = EmbeddingQuantizer(dtype="binary").fit(stored)
    >>> codes = quantizer.transform(stored)
    >>> queries = stored[:2] + 0.1 * rng.normal(size=(2, 16))
    >>> # Shortlist 20 candidates by Hamming similarity, keep the best 3.
    >>> similarity = hamming_similarity(quantizer.transform(queries), codes, n_bits=16)
    >>> candidates = np.argsort(-similarity, axis=1, kind="stable")[:, :20]
    >>> indices, scores = rescore(queries, codes, candidates, quantizer=quantizer, k=3)
    >>> indices[:, 0]  # each query finds the vector it was made from
    array([0, 1])
    >>> bool(np.all(np.diff(scores, axis=1) <= 0))  # best first
    True
    """
    check_is_fitted(quantizer)
    n_features = quantizer.n_features_in_
    queries = check_array(queries, dtype=(np.float64, np.float32))
    if queries.shape[1] != n_features:
        raise ValueError(
            f"queries have {queries.shape[1]} features, but the quantizer was "
            f"fitted on {n_features}."
        )
    codes = check_array(codes, dtype=None, ensure_min_samples=0)
    if codes.shape[1] != quantizer.n_features_out_:
        raise ValueError(
            f"codes have {codes.shape[1]} columns, but the quantizer's codes have "
            f"{quantizer.n_features_out_} ({quantizer.dtype})."
        )
    if quantizer.dtype == "binary":
        if codes.dtype != np.uint8:
            raise ValueError(
                f"Binary codes are packed bits of dtype uint8, got dtype {codes.dtype}."
            )
    else:
        if codes.dtype.kind not in "iu":
            raise ValueError(
                f"codes must be the integer codes of quantizer.transform "
                f"({quantizer.dtype}), got dtype {codes.dtype}."
            )
        if len(codes):
            quantizer._check_codes(codes)  # their range
    try:
        candidates = np.asarray(candidates)
    except ValueError:  # rows of different lengths
        candidates = None
    if candidates is None or candidates.ndim != 2 or len(candidates) != len(queries):
        got = "rows of different lengths"
        if candidates is not None:
            got = f"shape {candidates.shape}"
        raise ValueError(
            f"candidates must be a 2-D array with one row per query "
            f"({len(queries)}; pad short rows with -1), got {got}."
        )
    if candidates.size and candidates.dtype.kind not in "iu":
        raise ValueError(
            f"candidates must hold integer row indices into codes, got dtype "
            f"{candidates.dtype}."
        )
    candidates = candidates.astype(np.intp, copy=False)
    if candidates.size and (candidates.min() < -1 or candidates.max() >= len(codes)):
        raise ValueError(
            f"candidates must be row indices into codes, in [0, {len(codes)}), "
            f"or -1 for none; got values from {candidates.min()} to "
            f"{candidates.max()}."
        )

    n_queries, n_candidates = candidates.shape
    n_out = min(k, n_candidates)
    indices = np.full((n_queries, n_out), -1, dtype=np.intp)
    scores = np.full((n_queries, n_out), -np.inf)
    if n_out == 0 or len(codes) == 0:  # no column, or every candidate -1
        return indices, scores
    block = max(1, _RESCORE_BLOCK_ELEMENTS // (n_candidates * n_features))
    for start in range(0, n_queries, block):
        rows = slice(start, min(start + block, n_queries))
        found = candidates[rows]
        present = found >= 0
        # Missing candidates gather row 0, then score -inf.
        gathered = codes[np.where(present, found, 0).ravel()]
        vectors = _stored_vectors(quantizer, gathered, n_features)
        vectors = vectors.reshape(*found.shape, n_features)
        query = queries[rows].astype(np.float64)
        block_scores = np.matmul(vectors, query[:, :, None])[:, :, 0]
        block_scores[~present] = -np.inf
        # Stable: ties keep the candidates' order, missing ones go last.
        order = np.argsort(-block_scores, axis=1, kind="stable")[:, :n_out]
        best = np.take_along_axis(found, order, axis=1)
        best_scores = np.take_along_axis(block_scores, order, axis=1)
        best[np.isneginf(best_scores)] = -1
        indices[rows], scores[rows] = best, best_scores
    return indices, scores


def _stored_vectors(quantizer, codes, n_features):
    """Float64 vectors of validated ``codes`` as :func:`rescore` scores them."""
    if quantizer.dtype == "binary":
        bits = np.unpackbits(codes, axis=1, count=n_features).astype(np.float64)
        return 2 * bits - 1
    return host_view(quantizer)._dequantize(codes)
