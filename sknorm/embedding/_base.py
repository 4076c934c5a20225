"""What the embedding estimators share: the eigenvalue floor, row
normalization, feature names out, the sign convention of eigenvectors."""

import numpy as np
from sklearn.utils.validation import (
    _check_feature_names_in,
    _generate_get_feature_names_out,
    check_is_fitted,
)

from ..rows import normalize

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
