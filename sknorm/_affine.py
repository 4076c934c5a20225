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
its stored values. Array API input (``array_api_dispatch=True``) is mapped in
its namespace on its device, with the same per-feature operands (computed here
in numpy, so that the power-of-two working exponents are those of the numpy
path): each value is computed in the device's float64 and rounded once to the
input's dtype.
"""

import itertools

import numpy as np

from ._array_api import namespace_of
from ._kernels import kernels
from ._parallel import BLOCK_ELEMENTS, BlockPlan
from ._validation import (
    _column_label,
    _describe_columns,
    _raise_infinity,
    check_finite,
    is_sparse,
)

#: Stored values of a sparse matrix scaled at once (bounds the temporaries).
_SPARSE_CHUNK = BLOCK_ELEMENTS

__all__ = ["AffineMap", "safe_scale"]


def safe_scale(spread, magnitude=None, rounding=0.0):
    """Return ``spread`` with constant features' entries replaced by 1.

    A feature is constant when its spread cannot be told from zero by the
    statistic that measured it: when it is at most ``rounding * |magnitude|``,
    ``rounding`` being the statistic's relative rounding error (0 for extrema
    and quantiles, whose spread of distinct values is never 0; a few ulps of
    the mean for moments, :attr:`sknorm.stats.Moments.spread_rounding`), or
    when it is undefined (NaN: no data). The rule is the same for every scaler
    and does not depend on the number of samples. Tiny spreads (below the
    smallest normal float64) are kept: :class:`AffineMap` divides by them
    without overflow.

    Parameters
    ----------
    spread : array-like of shape (n_features,)
        Standard deviation, range, maximum absolute value or quantile range.
    magnitude : array-like of shape (n_features,), optional
        Size of the feature's values (absolute mean); needed when
        ``rounding > 0``.
    rounding : float, default=0.0
        Relative rounding error of ``spread`` next to ``magnitude``.

    Returns
    -------
    scale : ndarray of float64

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm._affine import safe_scale
    >>> safe_scale([0.0, 2.0, np.nan, 1e-310])
    array([1.e+000, 2.e+000, 1.e+000, 1.e-310])
    >>> safe_scale([1e-5, 1e-20], magnitude=[1e5, 1e5], rounding=1e-15)
    array([1.e-05, 1.e+00])
    """
    spread = np.asarray(spread, dtype=np.float64)
    threshold = 0.0
    if rounding:
        magnitude = np.abs(np.asarray(magnitude, dtype=np.float64))
        threshold = rounding * np.nan_to_num(magnitude, nan=0.0, posinf=0.0)
    with np.errstate(invalid="ignore"):
        varies = spread > threshold
    return np.where(varies, spread, 1.0)


#: Spreads below this are given in units of ``2**-_TINY_UNIT``.
_TINY_SPREAD = 2.0**-1000
_TINY_UNIT = 1000


def spread_in_units(low, high):
    """``high - low`` as ``(spread, unit)``: the spread is ``spread * 2**unit``.

    For extrema and quantiles, whose constant rule is a spread of exactly 0:
    a zero or undefined spread becomes 1. A spread beyond the float64 range
    (``[-1.5e308, 1.5e308]``) is given in halves (``unit`` 1), a spread below
    ``2**-1000`` (subnormal differences included) in units of ``2**-1000``,
    both exactly, so that :class:`AffineMap` can divide by it.

    Examples
    --------
    >>> from sknorm._affine import spread_in_units
    >>> spread, unit = spread_in_units([0.0, 2.0, -1.5e308], [1.0, 2.0, 1.5e308])
    >>> spread, unit
    (array([1.0e+000, 1.0e+000, 1.5e+308]), array([0, 0, 1]))
    """
    low = np.asarray(low, dtype=np.float64)
    high = np.asarray(high, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        spread = high - low
        huge = np.isinf(spread) & np.isfinite(low) & np.isfinite(high)
        tiny = (spread > 0) & (spread < _TINY_SPREAD)
        unit = np.where(huge, 1, np.where(tiny, -_TINY_UNIT, 0))
        spread = np.where(huge, high / 2 - low / 2, spread)
        spread = np.where(
            tiny, np.ldexp(high, _TINY_UNIT) - np.ldexp(low, _TINY_UNIT), spread
        )
        spread = np.where(spread > 0, spread, 1.0)
    return spread, unit


#: Scales and offsets beyond these bounds are rescaled by a power of two
#: inside the map, so that ``x - offset`` cannot overflow (values within half
#: an ulp of the float64 maximum absorb any smaller offset) and the reciprocal
#: of the scale stays a normal float64.
_HUGE = 2.0**969
_SMALL = 2.0**-969


def _working_exponent(offset, scale, unit):
    """Per-column power of two the data is divided by inside the map.

    ``unit`` is the exponent in which ``offset`` and ``scale`` are given
    (their values are ``offset * 2**unit``); on top of it, huge scales or
    offsets are halved and tiny scales brought near 1. Powers of two scale
    exactly, so the result equals the plain formula wherever that does not
    overflow.
    """
    adjust = np.zeros(len(scale), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        huge = (scale >= _HUGE) | (np.abs(offset) >= _HUGE)
        tiny = (scale > 0) & (scale < _SMALL)
    adjust[huge] = 1
    adjust[tiny] = np.frexp(scale[tiny])[1]
    return unit + adjust, adjust


def _power_factors(exponent):
    """Per-column factors whose product is ``2**exponent``: one where it is a
    normal float64 (a result below the normal range is then rounded once),
    two otherwise; None where every exponent is 0."""
    exponent = np.asarray(exponent, np.int64)
    if not np.any(exponent != 0):
        return None
    if np.all(np.abs(exponent) <= 1022):
        return (np.ldexp(1.0, exponent),)
    half = exponent // 2
    return (np.ldexp(1.0, half), np.ldexp(1.0, exponent - half))


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
    unit : ndarray of int of shape (n_features,) or None
        Power of two in which ``offset`` and ``scale`` are given: the map is
        ``(X - offset * 2**unit) / (scale * 2**unit)``, for spreads (and
        offsets) that lie beyond the float64 range although the map's results
        do not, or below the normal range, where they would have lost bits.
        None means 0.
    output_unit : ndarray of int of shape (n_features,) or None
        Power of two in which the map's results are given: the map is
        ``(X - offset * 2**unit) / (scale * 2**unit) * 2**output_unit``, for
        results whose ratio to the data lies beyond the float64 range (a
        ``feature_range`` far wider or narrower than the data's range). The
        power of two is applied last, so a result below the normal range is
        rounded once. None means 0.

    Notes
    -----
    Scales and offsets near the ends of the float64 range are rescaled by
    powers of two inside the map (exactly), so every finite input whose result
    is finite gives that result: a scale below the smallest normal float64
    divides correctly instead of multiplying by an infinite reciprocal, and
    ``x - offset`` never overflows. Elsewhere the map is the plain formula,
    bit for bit.
    """

    def __init__(self, offset=None, scale=None, unit=None, output_unit=None):
        self.offset = None if offset is None else np.asarray(offset, np.float64)
        self.scale = None if scale is None else np.asarray(scale, np.float64)
        self.unit = None if unit is None else np.asarray(unit, np.int64)
        self.output_unit = (
            None if output_unit is None else np.asarray(output_unit, np.int64)
        )
        # The steps of each direction and their per-block operands, built on
        # first use: a fitted estimator keeps its map, so a call on small
        # data does not rebuild them (the map is not changed once built).
        self._memo = {}

    def _working(self):
        """``(prescale, offset, scale, postscale)`` of the map on data divided
        by ``2**exponent`` per column; ``prescale`` holds two factors whose
        product is ``2**-exponent``, or is None where every exponent is 0;
        ``postscale`` the factors of ``2**output_unit``, or None."""
        known = [
            a
            for a in (self.offset, self.scale, self.unit, self.output_unit)
            if a is not None
        ]
        if not known:
            return None, None, None, None
        n = known[0].shape[0]
        offset = np.zeros(n) if self.offset is None else self.offset
        scale = np.ones(n) if self.scale is None else self.scale
        unit = np.zeros(n, np.int64) if self.unit is None else self.unit
        exponent, adjust = _working_exponent(offset, scale, unit)
        prescale = None
        if np.any(exponent != 0):
            # Two factors where one power of two would not be representable.
            half = exponent // 2
            prescale = (np.ldexp(1.0, -half), np.ldexp(1.0, half - exponent))
        if np.any(adjust != 0):
            offset, scale = np.ldexp(offset, -adjust), np.ldexp(scale, -adjust)
        postscale = None
        if self.output_unit is not None:
            postscale = _power_factors(self.output_unit)
        return (
            prescale,
            None if self.offset is None else offset,
            # Without a scale the adjusted one (a power of two) brings the
            # result back from the working exponent.
            None if self.scale is None and not np.any(adjust != 0) else scale,
            postscale,
        )

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
        return self._apply(
            X, "transform", clip, in_place, estimator, sparse_advice, reject_infinity
        )

    def transform_steps(self):
        """The transform as ``(ufunc, operand)`` steps applied in turn.

        ``ufunc`` is :data:`numpy.multiply` or :data:`numpy.subtract`, the
        operand a per-feature float64 array: the factors that bring the data
        to the working exponent (where there are any), the offset, the
        reciprocal of the scale. Steps without effect are left out. The one
        description of the map's arithmetic, which :meth:`transform` runs and
        :mod:`sknorm.onnx` exports.

        Examples
        --------
        >>> from sknorm._affine import AffineMap
        >>> [(ufunc.__name__, operand.tolist())
        ...  for ufunc, operand in AffineMap([1.0], [4.0]).transform_steps()]
        [('subtract', [1.0]), ('multiply', [0.25])]
        """
        return self._steps("transform")

    def _steps(self, direction):
        """The ``(ufunc, operand)`` steps of ``"transform"`` or ``"inverse"``,
        those without effect left out."""
        steps = self._memo.get(direction)
        if steps is not None:
            return steps
        prescale, offset, scale, postscale = self._working()
        if direction == "transform":
            steps = [
                *((np.multiply, factor) for factor in prescale or ()),
                (np.subtract, offset),
                (np.multiply, None if scale is None else 1.0 / scale),
                *((np.multiply, factor) for factor in postscale or ()),
            ]
        else:
            steps = [
                *((np.multiply, 1.0 / factor) for factor in postscale or ()),
                (np.multiply, scale),
                (np.add, offset),
                *((np.multiply, 1.0 / factor) for factor in prescale or ()),
            ]
        steps = [(ufunc, operand) for ufunc, operand in steps if operand is not None]
        self._memo[direction] = steps
        return steps

    def inverse_transform(
        self, X, *, in_place, estimator=None, sparse_advice="", reject_infinity=False
    ):
        """Undo the map: ``X * scale + offset``."""
        return self._apply(
            X, "inverse", None, in_place, estimator, sparse_advice, reject_infinity
        )

    def _dense_steps(self, direction, plan, clip):
        """:func:`_dense_steps` of a direction, kept per width and clip range."""
        key = (direction, plan.n_cols, plan.lanes, id(clip))
        cached = self._memo.get(key)
        if cached is None or cached[0] is not clip:
            cached = (clip, _dense_steps(plan, self._steps(direction), clip))
            self._memo[key] = cached
        return cached[1]

    def _apply(
        self, X, direction, clip, in_place, estimator, sparse_advice, reject_infinity
    ):
        steps = self._steps(direction)
        namespace = namespace_of(X)
        if namespace is not None:
            if reject_infinity:
                check_finite(X, estimator)
            return _apply_in_namespace(X, namespace, steps, clip)
        if is_sparse(X):
            for ufunc, shift in steps:
                if ufunc is not np.multiply:
                    _check_sparse_shift(shift, estimator, sparse_advice)
            factors = [operand for ufunc, operand in steps if ufunc is np.multiply]
            return _apply_sparse(
                X, factors, in_place, clip, estimator if reject_infinity else None
            )
        out = X if in_place else np.empty_like(X, order="K")
        plan = BlockPlan(*X.shape)
        dense_steps = self._dense_steps(direction, plan, clip)
        plan.map(
            lambda task: _apply_dense_task(
                X, out, task, plan, dense_steps, estimator if reject_infinity else None
            )
        )
        return out


#: The array API function of each numpy ufunc a map step uses.
_NAMESPACE_OPERATIONS = {
    np.multiply: "multiply",
    np.subtract: "subtract",
    np.add: "add",
}


def _apply_in_namespace(X, namespace, steps, clip):
    """The map's steps on an array API array, on its device.

    The steps (per-feature float64 operands) run in the device's most precise
    float dtype and the result is rounded once to X's dtype, as the numpy
    path computes float32 blocks in float64. ``clip`` bounds are applied with
    ``maximum``/``minimum``, which keep NaN.
    """
    xp = namespace.xp
    n_cols = X.shape[1]
    result = xp.astype(X, namespace.float_dtype)
    for ufunc, operand in steps:
        operand = namespace.asarray(np.broadcast_to(np.asarray(operand), (n_cols,)))
        result = getattr(xp, _NAMESPACE_OPERATIONS[ufunc])(result, operand)
    if clip is not None:
        low, high = (
            namespace.asarray(np.broadcast_to(np.asarray(bound, np.float64), (n_cols,)))
            for bound in clip
        )
        result = xp.minimum(xp.maximum(result, low), high)
    return xp.astype(result, X.dtype)


def _dense_steps(plan, steps, clip):
    """The map as ``(ufunc, operands, wide operands)`` steps applied in order.

    Operands are per-feature rows; the wide copies (repeated ``plan.lanes``
    times) serve blocks viewed with :meth:`BlockPlan.widen`.
    """
    n_cols = plan.n_cols

    def row(value):
        return np.broadcast_to(np.asarray(value, np.float64), (n_cols,))

    steps = [(ufunc, (row(operand),)) for ufunc, operand in steps]
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
    compiled = kernels("dense")
    if compiled is not None and compiled.accepts(X, out):
        _compiled_dense_task(compiled, X, out, task, plan, steps, estimator)
        return
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


def _compiled_dense_task(compiled, X, out, task, plan, steps, estimator):
    """:func:`_apply_dense_task` by the compiled kernel: one fused read and
    write per value, float32 computed in float64 registers (bit for bit the
    numpy path's values)."""
    clip = None
    if steps and steps[-1][0] is np.clip:
        clip, steps = steps[-1][1], steps[:-1]
    code_of = {
        np.multiply: compiled.MULTIPLY,
        np.subtract: compiled.SUBTRACT,
        np.add: compiled.ADD,
    }
    codes = np.array([code_of[ufunc] for ufunc, _, _ in steps], np.int64)
    operands = np.array([args[0] for _, args, _ in steps], np.float64).reshape(
        len(steps), plan.n_cols
    )
    infinite = compiled.affine_rows(
        X[task],
        out[task],
        codes,
        operands,
        clip,
        plan.block_rows,
        estimator is not None,
    )
    if infinite is not None:
        _raise_infinity(np.flatnonzero(infinite), estimator)


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


def _apply_sparse(X, factors, in_place, clip, estimator):
    """Scale (and clip) the stored values of a CSR/CSC matrix, chunk by chunk.

    ``factors`` are per-feature multipliers applied in turn. Implicit zeros
    stay zeros. Values are computed in float64 and written back in X's dtype;
    with ``estimator``, a chunk whose sum is not finite is searched for
    infinity before it is scaled.
    """
    if not factors and clip is None:
        out = X if in_place else X.copy()
        if estimator is not None:
            _reject_sparse_infinity(out.data, out, slice(None), estimator)
        return out
    n_cols = X.shape[1]
    if clip is not None:
        low = np.broadcast_to(np.asarray(clip[0], np.float64), (n_cols,))
        high = np.broadcast_to(np.asarray(clip[1], np.float64), (n_cols,))
    compiled = kernels("sparse")
    if compiled is not None and compiled.accepts(X.data) and X.format in ("csr", "csc"):
        return _compiled_sparse(compiled, X, factors, in_place, clip, estimator)
    out = X if in_place else X.copy()
    data = out.data
    in_float64 = data.dtype == np.float64
    for chunk, columns in _sparse_chunks(out):
        values = data[chunk]
        with np.errstate(over="ignore", invalid="ignore"):
            if estimator is not None and not np.isfinite(values.sum()):
                _reject_sparse_infinity(values, out, chunk, estimator)
            result = values if in_float64 else values.astype(np.float64)
            for factor in factors:
                np.multiply(result, factor[columns], out=result)
            if clip is not None:
                # Only stored values are clipped: implicit zeros stay zeros.
                np.clip(result, low[columns], high[columns], out=result)
        if not in_float64:
            values[...] = result
    return out


def _compiled_sparse(compiled, X, factors, in_place, clip, estimator):
    """:func:`_apply_sparse` by the compiled kernel, in one pass over the
    stored values; a copy gets fresh values, never a copy of the old ones."""
    n_cols = X.shape[1]
    if in_place:
        out = X
    else:
        structure = (np.empty_like(X.data), X.indices.copy(), X.indptr.copy())
        out = type(X)(structure, shape=X.shape)
    operands = np.array(
        [np.broadcast_to(f, (n_cols,)) for f in factors], np.float64
    ).reshape(len(factors), n_cols)
    if clip is not None:
        clip = tuple(
            np.ascontiguousarray(np.broadcast_to(bound, (n_cols,)), np.float64)
            for bound in clip
        )
    infinite = compiled.scale_values(
        X, out.data, operands, clip, _chunk_bounds(X), estimator is not None
    )
    if infinite is not None:
        _raise_infinity(np.flatnonzero(infinite), estimator)
    return out


def _chunk_bounds(X):
    """Where the chunks of :func:`_sparse_chunks` start, and the end of the
    last: positions in ``X.data`` for CSR, columns (whole runs) for CSC."""
    indptr = X.indptr
    n_values = int(indptr[-1])
    if X.format == "csr":
        return np.append(np.arange(0, n_values, _SPARSE_CHUNK), n_values)
    n_cols = len(indptr) - 1
    bounds = [0]
    while bounds[-1] < n_cols:
        first = bounds[-1]
        stop = int(np.searchsorted(indptr, indptr[first] + _SPARSE_CHUNK, "right"))
        bounds.append(min(max(stop - 1, first + 1), n_cols))
    return np.array(bounds, np.int64)


def _sparse_chunks(X):
    """Yield ``(slice of X.data, column of each value)`` over all stored values,
    about ``_SPARSE_CHUNK`` values at a time (whole columns for CSC)."""
    indptr = X.indptr
    bounds = _chunk_bounds(X)
    for first, stop in itertools.pairwise(bounds.tolist()):
        if X.format == "csr":
            chunk = slice(int(first), int(stop))
            yield chunk, X.indices[chunk]
            continue
        counts = np.diff(indptr[first : stop + 1])
        columns = np.repeat(np.arange(first, stop), counts)
        yield slice(int(indptr[first]), int(indptr[stop])), columns


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
