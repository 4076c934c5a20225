"""The one affine map every column scaler applies, and its constant-feature rule.

A fitted column scaler reduces to ``offset`` and ``scale`` per feature::

    transform(X)         = (X - offset) * (1 / scale)
    inverse_transform(Y) = Y * scale + offset

Both run here, dense or sparse, in place when the caller allows it. Dense data
streams through memory once (one read, one write) in cache-sized row blocks, on
all cores (:mod:`sknorm._parallel`): each block is subtracted, multiplied,
clipped and, on request, checked for infinity while it is in cache. float32 data
is computed block by block in float64 and rounded once at the end: subtracting a
float64 offset rounded to float32 (what scikit-learn does) biases the result when
the offset is large compared with the spread. Sparse data is scaled in chunks of
its stored values.
"""

import numpy as np

from ._parallel import BLOCK_ELEMENTS, BlockPlan
from ._validation import (
    _column_label,
    _describe_columns,
    _raise_infinity,
    is_sparse,
)

#: Stored values of a sparse matrix scaled at once (bounds the temporaries).
_SPARSE_CHUNK = BLOCK_ELEMENTS

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

    def transform(
        self,
        X,
        *,
        in_place,
        clip=None,
        estimator=None,
        sparse_advice="",
        reject_infinity=False,
    ):
        """Apply the map; ``clip`` is an optional ``(low, high)`` in output units.

        With ``reject_infinity``, a ValueError naming the features is raised
        when X holds +/-inf, checked block by block as the result is computed
        (the caller's data must not be ``X`` when ``in_place``: a block found
        infinite is detected after the blocks before it were written).
        """
        multiply = None if self.scale is None else 1.0 / self.scale
        return self._apply(
            X,
            (self.offset, multiply, None, clip),
            in_place,
            estimator,
            sparse_advice,
            reject_infinity,
        )

    def inverse_transform(
        self, X, *, in_place, estimator=None, sparse_advice="", reject_infinity=False
    ):
        """Undo the map: ``X * scale + offset``."""
        return self._apply(
            X,
            (None, self.scale, self.offset, None),
            in_place,
            estimator,
            sparse_advice,
            reject_infinity,
        )

    @staticmethod
    def _apply(X, operands, in_place, estimator, sparse_advice, reject_infinity):
        subtract, multiply, add, clip = operands
        if is_sparse(X):
            shift = subtract if subtract is not None else add
            _check_sparse_shift(shift, estimator, sparse_advice)
            return _apply_sparse(
                X, multiply, in_place, clip, estimator if reject_infinity else None
            )
        out = X if in_place else np.empty_like(X, order="K")
        plan = BlockPlan(*X.shape)
        steps = _dense_steps(plan, subtract, multiply, add, clip)
        plan.map(
            lambda task: _apply_dense_task(
                X, out, task, plan, steps, estimator if reject_infinity else None
            )
        )
        return out


def _dense_steps(plan, subtract, multiply, add, clip):
    """The map as ``(ufunc, operands, wide operands)`` steps applied in order.

    Operands are per-feature rows; the wide copies (repeated ``plan.lanes``
    times) serve blocks viewed with :meth:`BlockPlan.widen`.
    """
    n_cols = plan.n_cols

    def row(value):
        return np.broadcast_to(np.asarray(value, np.float64), (n_cols,))

    steps = [
        (ufunc, (row(operand),))
        for ufunc, operand in (
            (np.subtract, subtract),
            (np.multiply, multiply),
            (np.add, add),
        )
        if operand is not None
    ]
    if clip is not None:
        steps.append((np.clip, (row(clip[0]), row(clip[1]))))
    return [
        (ufunc, args, tuple(np.tile(a, plan.lanes) for a in args))
        for ufunc, args in steps
    ]


def _apply_dense_task(X, out, task, plan, steps, estimator):
    """Map the rows ``task`` of X into ``out``, one cache-resident block at a time.

    Every step reads and writes the block in cache, so memory sees one read of
    X and one write of ``out``. float32 blocks are computed in float64: the
    first step reads float32 into a float64 scratch block, the last writes
    float32, each value rounded once. With ``estimator``, each result block is
    summed first (bringing it into cache) and a block whose sum is not finite
    is searched for infinity.
    """
    scratch = None
    if X.dtype != np.float64 and len(steps) > 1:
        scratch = np.empty(plan.block_rows * plan.n_cols)
    last = len(steps) - 1
    for rows in plan.blocks(task):
        source, lanes = plan.widen(X[rows])
        target, target_lanes = plan.widen(out[rows])
        if target_lanes != lanes:  # out laid out unlike X: no widening
            source, target, lanes = X[rows], out[rows], 1
        with np.errstate(over="ignore", invalid="ignore"):
            if estimator is not None:
                # Checked before the block is overwritten (in place) or
                # clipped (which would hide infinity); it is in cache after.
                _check_block(source, X, rows, estimator)
            for i, (ufunc, args, wide_args) in enumerate(steps):
                result = target
                if scratch is not None and i < last:
                    result = scratch[: source.size].reshape(source.shape)
                ufunc(
                    source,
                    *(wide_args if lanes > 1 else args),
                    out=result,
                    casting="same_kind",
                )
                source = result
            if not steps:
                np.copyto(target, source)


def _check_block(block, X, rows, estimator):
    """Raise naming the features if ``block`` (``X[rows]``, maybe widened) holds
    infinity: a finite sum proves it does not."""
    if not np.isfinite(np.add.reduce(block, axis=None)):
        infinite = np.isinf(X[rows]).any(axis=0)
        if infinite.any():
            _raise_infinity(np.flatnonzero(infinite), estimator)


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


def _apply_sparse(X, multiply, in_place, clip, estimator):
    """Scale (and clip) the stored values of a CSR/CSC matrix, chunk by chunk.

    Implicit zeros stay zeros. Values are computed in float64 and written back
    in X's dtype; with ``estimator``, a chunk whose sum is not finite is
    searched for infinity before it is scaled.
    """
    out = X if in_place else X.copy()
    if multiply is None and clip is None:
        if estimator is not None:
            _reject_sparse_infinity(out.data, out, slice(None), estimator)
        return out
    n_cols = X.shape[1]
    if clip is not None:
        low = np.broadcast_to(np.asarray(clip[0], np.float64), (n_cols,))
        high = np.broadcast_to(np.asarray(clip[1], np.float64), (n_cols,))
    data = out.data
    in_float64 = data.dtype == np.float64
    for chunk, columns in _sparse_chunks(out):
        values = data[chunk]
        with np.errstate(over="ignore", invalid="ignore"):
            if estimator is not None and not np.isfinite(values.sum()):
                _reject_sparse_infinity(values, out, chunk, estimator)
            result = values if in_float64 else values.astype(np.float64)
            if multiply is not None:
                np.multiply(result, multiply[columns], out=result)
            if clip is not None:
                # Only stored values are clipped: implicit zeros stay zeros.
                np.clip(result, low[columns], high[columns], out=result)
        if not in_float64:
            values[...] = result
    return out


def _sparse_chunks(X):
    """Yield ``(slice of X.data, column of each value)`` over all stored values,
    about ``_SPARSE_CHUNK`` values at a time (whole columns for CSC)."""
    indptr = X.indptr
    n_values = int(indptr[-1])
    if X.format == "csr":
        for start in range(0, n_values, _SPARSE_CHUNK):
            chunk = slice(start, min(start + _SPARSE_CHUNK, n_values))
            yield chunk, X.indices[chunk]
        return
    n_cols = len(indptr) - 1
    first = 0
    while first < n_cols:
        stop = int(np.searchsorted(indptr, indptr[first] + _SPARSE_CHUNK, "right"))
        stop = min(max(stop - 1, first + 1), n_cols)
        counts = np.diff(indptr[first : stop + 1])
        columns = np.repeat(np.arange(first, stop), counts)
        yield slice(int(indptr[first]), int(indptr[stop])), columns
        first = stop


def _reject_sparse_infinity(values, X, chunk, estimator):
    """Raise naming the features when the stored ``values`` (``X.data[chunk]``)
    hold +/-inf."""
    infinite = np.isinf(values)
    if not infinite.any():
        return
    positions = np.flatnonzero(infinite) + (chunk.start or 0)
    if X.format == "csr":
        columns = X.indices[positions]
    else:
        columns = np.searchsorted(X.indptr, positions, side="right") - 1
    _raise_infinity(np.unique(columns), estimator)
