"""The one affine map every column scaler applies, and its constant-feature rule.

A fitted column scaler reduces to ``offset`` and ``scale`` per feature::

    transform(X)         = (X - offset) * (1 / scale)
    inverse_transform(Y) = Y * scale + offset

Both run here, dense or sparse, in place when the caller allows it, in cache-sized
row blocks so the subtraction and the multiplication read memory once. float32 data
is computed block by block in float64 and rounded once at the end: subtracting a
float64 offset rounded to float32 (what scikit-learn does) biases the result when
the offset is large compared with the spread.
"""

import numpy as np

from ._validation import _column_label, _describe_columns, is_sparse, row_blocks

__all__ = ["RELATIVE_TOLERANCE", "AffineMap", "safe_scale"]

#: A feature whose spread is at most this fraction of its magnitude is constant.
#: float64 accumulation errors are a few ulps of the magnitude (pairwise and
#: per-block sums with corrected two-pass deviations), far below this, and
#: float64 cannot resolve a relative spread this small anyway, whatever n is.
RELATIVE_TOLERANCE = 1000 * np.finfo(np.float64).eps


def safe_scale(spread, magnitude):
    """Return ``spread`` with constant features' entries replaced by 1.

    A feature is constant when its spread is at most
    ``RELATIVE_TOLERANCE * magnitude``, when it is so small that its reciprocal
    would overflow, or when it is undefined (NaN: no data). The rule is the same
    for every scaler and does not depend on the number of samples.

    Parameters
    ----------
    spread : array-like of shape (n_features,)
        Standard deviation, range, maximum absolute value or IQR.
    magnitude : array-like of shape (n_features,)
        Size of the feature's values (absolute mean, largest absolute extremum,
        absolute median).

    Returns
    -------
    scale : ndarray of float64
    """
    spread = np.asarray(spread, dtype=np.float64)
    magnitude = np.abs(np.asarray(magnitude, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        varies = (spread > RELATIVE_TOLERANCE * np.nan_to_num(magnitude)) & (
            spread >= np.finfo(np.float64).tiny
        )
    return np.where(varies, spread, 1.0)


def _csr_or_csc_columns(X):
    if X.format == "csr":
        return X.indices
    return np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))


class AffineMap:
    """Per-feature ``(X - offset) / scale`` and its inverse.

    Parameters
    ----------
    offset : ndarray of shape (n_features,) or None
        Subtracted before scaling; None means zero (no centering).
    scale : ndarray of shape (n_features,) or None
        Divisor; None means one. Applied as a multiplication by its float64
        reciprocal.
    """

    def __init__(self, offset=None, scale=None):
        self.offset = None if offset is None else np.asarray(offset, np.float64)
        self.scale = None if scale is None else np.asarray(scale, np.float64)

    def transform(self, X, *, in_place, clip=None, estimator=None, sparse_advice=""):
        """Apply the map; ``clip`` is an optional ``(low, high)`` in output units."""
        multiply = None if self.scale is None else 1.0 / self.scale
        return self._apply(
            X, self.offset, multiply, None, in_place, clip, estimator, sparse_advice
        )

    def inverse_transform(self, X, *, in_place, estimator=None, sparse_advice=""):
        """Undo the map: ``X * scale + offset``."""
        return self._apply(
            X, None, self.scale, self.offset, in_place, None, estimator, sparse_advice
        )

    @staticmethod
    def _apply(X, subtract, multiply, add, in_place, clip, estimator, sparse_advice):
        if is_sparse(X):
            shift = subtract if subtract is not None else add
            _check_sparse_shift(shift, estimator, sparse_advice)
            return _apply_sparse(X, multiply, in_place, clip)
        out = X if in_place else np.empty_like(X, order="K")
        work_in_float64 = X.dtype != np.float64
        steps = [
            (op, operand)
            for op, operand in (
                (np.subtract, subtract),
                (np.multiply, multiply),
                (np.add, add),
            )
            if operand is not None
        ]
        if clip is not None:
            steps.append((np.clip, clip))
        n_rows, n_cols = X.shape
        for rows in row_blocks(n_rows, n_cols):
            source = X[rows]
            if work_in_float64:
                source = target = source.astype(np.float64)
            else:
                target = out[rows]
            for op, operand in steps:
                if op is np.clip:
                    np.clip(source, operand[0], operand[1], out=target)
                else:
                    op(source, operand, out=target)
                source = target
            if work_in_float64:
                out[rows] = target
            elif source is not target:
                target[...] = source
        return out


def _check_sparse_shift(shift, estimator, advice):
    """Sparse data is only scaled: a non-zero shift would make it dense."""
    if shift is None:
        return
    nonzero = np.flatnonzero(shift != 0)
    if nonzero.size:
        labels = [_column_label(estimator, int(j)) for j in nonzero]
        name = type(estimator).__name__ if estimator is not None else "The map"
        raise ValueError(
            f"{name} would map the zeros of sparse input to non-zero values in "
            f"feature(s) {_describe_columns(labels)}, making the result dense. "
            f"{advice}".rstrip()
        )


def _apply_sparse(X, multiply, in_place, clip):
    out = X if in_place else X.copy()
    if multiply is None and clip is None:
        return out
    values = out.data.astype(np.float64, copy=False)
    if multiply is not None:
        values = values * multiply[_csr_or_csc_columns(out)]
    if clip is not None:
        # Only stored values are clipped: implicit zeros stay zeros.
        columns = _csr_or_csc_columns(out)
        low = np.broadcast_to(clip[0], (X.shape[1],))[columns]
        high = np.broadcast_to(clip[1], (X.shape[1],))[columns]
        values = np.clip(values, low, high)
    out.data[...] = values
    return out
