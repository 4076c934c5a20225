"""The map of QuantileTransformer: piecewise-linear interpolation between
quantiles, then the inverse CDF of the output distribution.

Forward, each value ``x`` of feature ``j`` goes to the probability ``u``
that scikit-learn's ``QuantileTransformer._transform_col`` gives it::

    u = 0.5 * (np.interp(x, q, r) - np.interp(-x, -q[::-1], -r[::-1]))

with ``q`` the feature's quantiles and ``r`` the references: the mean of the
interpolations from the rightmost and from the leftmost of repeated
quantiles. Then the bounds: ``x == q[0]`` gives 0 and ``x == q[-1]`` gives 1
for a uniform output; ``x - 1e-7 < q[0]`` gives 0 and ``x + 1e-7 > q[-1]``
gives 1 for a normal one (the lower bound wins where both hold). A normal
output is ``ndtri(u)`` clipped to ``ndtri(1e-7 - eps)`` ..
``ndtri(1 - (1e-7 - eps))``. The inverse maps ``ndtr(x)`` (normal) or ``x``
(uniform) through ``np.interp(u, r, q)``, with the same bounds on ``u``.

Both directions reproduce ``np.interp``'s arithmetic operation for
operation (the same slopes ``(f[i+1] - f[i]) / (k[i+1] - k[i])``, the same
``slope * (x - k[i]) + f[i]`` and its fallbacks where that is NaN), so the
probabilities are scikit-learn's bit for bit. The interpolation from the
left, ``-np.interp(-x, ...)``, is computed without negating anything: on the
segment ``k[i] < x < k[i+1]`` it is ``slope * (x - k[i+1]) + f[i+1]`` (the
negations are exact and rounding is symmetric).

Values are computed in float64 and rounded once to X's dtype. For float64
data the results are scikit-learn's exactly; for float32 and float16 they
are scikit-learn's on the same values converted to float64, rounded to X's
dtype (scikit-learn's forward normal map of float32 data rounds the
probability to float32 before ``ndtri`` and compares ``x - 1e-7`` in
float32).

The numpy path here and the compiled kernels of
:mod:`sknorm._kernels.interpolation` compute the same values.
"""

import numpy as np
from scipy import sparse
from scipy.special import ndtr, ndtri

from .._array_api import namespace_of, to_numpy
from .._kernels import kernels
from .._parallel import BlockPlan, map_tasks

__all__ = ["BOUNDS_THRESHOLD", "QuantileMap"]

#: scikit-learn's margin around the extreme quantiles for a normal output.
BOUNDS_THRESHOLD = 1e-7

#: Buckets of the index guide per knot. On the 1000 quantiles of lognormal
#: data, with 4 buckets per knot the widest bucket holds 8 to 31 knots (a
#: search of 4 or 5 steps instead of 10); 8 or 16 buckets saved one or two
#: steps but only 5 to 15% of the compiled kernel's time, for twice or four
#: times the memory.
_GUIDE_BUCKETS_PER_KNOT = 4

#: Stored values of a sparse matrix per task.
_SPARSE_TASK = 1 << 20


class QuantileMap:
    """Per-feature interpolation between quantiles, forward and inverse.

    Parameters
    ----------
    quantiles : array of shape (n_quantiles, n_features)
        Each column non-decreasing (scikit-learn's ``quantiles_``).
    references : array of shape (n_quantiles,)
        The probabilities of the quantiles, ``np.linspace(0, 1, n_quantiles)``
        (scikit-learn's ``references_``).
    output_distribution : {"uniform", "normal"}
        The distribution of the transformed values.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.scalers._quantile_map import QuantileMap
    >>> quantiles = np.array([[0.0], [1.0], [1.0], [4.0]])
    >>> qmap = QuantileMap(quantiles, np.linspace(0, 1, 4), "uniform")
    >>> X = np.array([[-1.0], [0.5], [1.0], [2.5], [4.0], [np.nan]])
    >>> qmap.transform(X, in_place=False).ravel()
    array([0.        , 0.16666667, 0.5       , 0.83333333, 1.        ,
                  nan])
    >>> qmap.inverse_transform(np.array([[0.25], [0.5], [0.9]]), in_place=False)
    array([[0.75],
           [1.  ],
           [3.1 ]])
    """

    def __init__(self, quantiles, references, output_distribution):
        quantiles = np.asarray(quantiles, dtype=np.float64)
        references = np.asarray(references, dtype=np.float64)
        if quantiles.ndim != 2 or quantiles.shape[0] == 0:
            raise ValueError(
                "quantiles must be a 2-D array of shape (n_quantiles, "
                f"n_features) with n_quantiles >= 1, got shape {quantiles.shape}."
            )
        if references.shape != (quantiles.shape[0],):
            raise ValueError(
                f"references must have shape ({quantiles.shape[0]},), "
                f"got {references.shape}."
            )
        if output_distribution not in ("uniform", "normal"):
            raise ValueError(
                "output_distribution must be 'uniform' or 'normal', got "
                f"{output_distribution!r}."
            )
        self.n_quantiles, self.n_features = quantiles.shape
        self.output_distribution = output_distribution
        self.normal = output_distribution == "normal"
        #: Features with NaN quantiles (fitted on no value): scikit-learn's
        #: interpolation gives NaN there, in both directions.
        self.undefined = np.flatnonzero(np.isnan(quantiles).any(axis=0))
        #: One feature's quantiles per row: contiguous for the searches.
        self.knots = np.ascontiguousarray(quantiles.T)
        self.references = np.ascontiguousarray(references)
        # Where ndtri(u) is clipped, as scikit-learn's stats.norm.ppf bounds.
        self.clip = (
            float(ndtri(BOUNDS_THRESHOLD - np.spacing(1))),
            float(ndtri(1 - (BOUNDS_THRESHOLD - np.spacing(1)))),
        )
        self._memo = {}

    def slopes(self, inverse):
        """np.interp's slopes, ``(f[i+1] - f[i]) / (k[i+1] - k[i])`` per
        feature and segment: of ``references`` over ``quantiles`` forward, of
        ``quantiles`` over ``references`` for the inverse. Built on first use
        (the two tables are each as large as the quantiles); the slopes of
        repeated quantiles (inf or NaN) are never used."""
        slopes = self._memo.get(inverse)
        if slopes is None:
            dk = np.diff(self.knots, axis=1)
            dr = np.diff(self.references)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                slopes = dk / dr if inverse else dr / dk
            slopes = self._memo[inverse] = np.ascontiguousarray(slopes)
        return slopes

    def search(self, inverse):
        """The index guide of the array searched in a direction (each
        feature's quantiles forward, the references for the inverse), built
        on first use: see :func:`_index_guide`."""
        key = ("search", inverse)
        search = self._memo.get(key)
        if search is None:
            searched = self.references[None, :] if inverse else self.knots
            n_buckets = _GUIDE_BUCKETS_PER_KNOT * self.n_quantiles
            search = self._memo[key] = _index_guide(searched, n_buckets)
        return search

    def compiled_tables(self, inverse):
        """The operands of the compiled kernels of a direction, after X and
        the output (:mod:`sknorm._kernels.interpolation`)."""
        padded, guide, lows, scales, steps = self.search(inverse)
        n, slopes = self.n_quantiles, self.slopes(inverse)
        if inverse:
            return (
                self.knots,
                n,
                padded[0],
                slopes,
                guide[0],
                lows[0],
                scales[0],
                int(steps[0]),
            )
        return (padded, n, self.references, slopes, guide, lows, scales, steps)

    def _prepare(self, compiled, inverse):
        # Built before the tasks start, not by each of them.
        self.slopes(inverse)
        self.search(inverse)

    def transform(self, X, *, in_place):
        """Map X to the output distribution.

        Parameters
        ----------
        X : ndarray, CSR/CSC matrix or array API array of shape \
(n_samples, n_features)
            Validated data (float16, float32 or float64; NaN allowed, no
            infinity). Only the stored values of sparse input are mapped.
        in_place : bool
            Write the result into X (an ndarray or a sparse matrix's stored
            values; array API input always gets a new array).

        Returns
        -------
        X_tr : array of the type and dtype of X
        """
        return self._apply(X, False, in_place)

    def inverse_transform(self, X, *, in_place):
        """Map values of the output distribution back to the data's units.

        Parameters
        ----------
        X : ndarray, CSR/CSC matrix or array API array of shape \
(n_samples, n_features)
            Validated transformed data.
        in_place : bool
            Write the result into X (as in :meth:`transform`).

        Returns
        -------
        X_original : array of the type and dtype of X
        """
        return self._apply(X, True, in_place)

    def _apply(self, X, inverse, in_place):
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the map was fitted on "
                f"{self.n_features}."
            )
        namespace = namespace_of(X)
        if namespace is not None:
            out = _apply_in_namespace(self, X, namespace, inverse)
        elif sparse.issparse(X):
            out = _apply_sparse(self, X, inverse, in_place)
        else:
            out = X if in_place else np.empty_like(X, order="K")
            if X.size:
                plan = BlockPlan(*X.shape)
                compiled = kernels("interpolation")
                if compiled is not None and not compiled.accepts(X, out):
                    compiled = None
                self._prepare(compiled, inverse)
                plan.map(
                    lambda task: _dense_task(
                        self, X, out, task, plan, inverse, compiled
                    )
                )
        if self.undefined.size:
            out = _fill_undefined(out, self.undefined, namespace)
        return out


def _fill_undefined(out, features, namespace):
    """NaN in the given features of a result (stored values of sparse ones)."""
    if namespace is not None:
        xp = namespace.xp
        mask = np.zeros(out.shape[1], bool)
        mask[features] = True
        mask = namespace.asarray(mask)
        return xp.where(mask, xp.full_like(out, float("nan")), out)
    if sparse.issparse(out):
        if out.format == "csr":
            columns = out.indices
        else:
            columns = np.repeat(np.arange(out.shape[1]), np.diff(out.indptr))
        out.data[np.isin(columns, features)] = np.nan
        return out
    out[:, features] = np.nan
    return out


# ---------------------------------------------------------------------------
# The numpy path: one column of values at a time, vectorized.
# ---------------------------------------------------------------------------


def _interpolated(x, knots, values, slopes, count):
    """``np.interp(x, knots, values)`` from the right and from the left, for
    values strictly inside a segment (elsewhere the results are unused).

    ``count`` is the number of knots ``<= x``; ``x`` lies in segment
    ``i = count - 1``, where np.interp computes ``slope * (x - k[i]) + f[i]``
    and, if that is NaN, ``slope * (x - k[i+1]) + f[i+1]``, and if that is
    NaN too and ``f[i] == f[i+1]``, ``f[i]``. From the left the two formulas
    are tried in the other order.
    """
    segment = np.clip(count - 1, 0, len(knots) - 2)
    slope = slopes[segment]
    low, high = values[segment], values[segment + 1]
    with np.errstate(invalid="ignore", over="ignore"):
        from_low = slope * (x - knots[segment]) + low
        from_high = slope * (x - knots[segment + 1]) + high
    low_nan, high_nan = np.isnan(from_low), np.isnan(from_high)
    both = low_nan & high_nan & (low == high)
    right = np.where(low_nan, from_high, from_low)
    left = np.where(high_nan, from_low, from_high)
    if both.any():
        right[both] = low[both]
        left[both] = high[both]
    return right, left


def _index_guide(searched, n_buckets):
    """``(padded, guide, lows, scales, steps)``: the index guide of each row
    of ``searched`` (non-decreasing knots), for :func:`_guided_count` and the
    compiled kernels.

    Row ``j``'s knots are cut into ``n_buckets`` equal buckets from its first
    knot (``lows[j]``, ``scales[j]`` buckets per unit; one bucket where the
    span is 0 or overflows) by :func:`_buckets`, a non-decreasing function of
    the value; ``guide[j, b]`` counts the knots whose bucket is below ``b``,
    so a value in bucket ``b`` has between ``guide[j, b]`` and
    ``guide[j, b + 1]`` knots at or below it: ``steps[j]`` steps of binary
    search cover the widest of these windows. ``padded`` holds the knots and
    ``2**max(steps)`` values of ``+inf`` after them, which a search may probe.
    """
    rows = searched.shape[0]
    lows = searched[:, 0].copy()
    with np.errstate(over="ignore", invalid="ignore"):
        spans = searched[:, -1] - lows
        scales = np.zeros(rows)
        np.divide(n_buckets, spans, out=scales, where=(spans > 0) & (spans < np.inf))
    buckets = _buckets(searched, lows[:, None], scales[:, None], n_buckets)
    edges = np.arange(n_buckets + 2)
    # Counts of knots: 16 bits hold those of any n_quantiles below 2**15.
    dtype = np.int16 if searched.shape[1] < 2**15 else np.int32
    guide = np.empty((rows, n_buckets + 2), dtype)
    for j in range(rows):
        guide[j] = np.searchsorted(buckets[j], edges, side="left")
    widest = np.diff(guide, axis=1).max(axis=1)
    steps = np.array([int(w).bit_length() for w in widest], np.int64)
    padding = np.full((rows, 1 << int(steps.max(initial=0))), np.inf)
    padded = np.ascontiguousarray(np.concatenate([searched, padding], axis=1))
    return padded, guide, lows, scales, steps


def _buckets(x, low, scale, n_buckets):
    """The guide's bucket of each value: ``(x - low) * scale`` truncated,
    clamped to ``[0, n_buckets]`` (NaN to 0), as the compiled kernels
    compute it."""
    with np.errstate(over="ignore", invalid="ignore"):
        t = (x - low) * scale
        t = np.where(t > 0, t, 0.0)
    np.minimum(t, n_buckets, out=t)
    return t.astype(np.intp)


def _guided_count(x, padded, guide, low, scale, steps):
    """The number of knots ``<= x`` (0 for NaN): the guide's window, then
    ``steps`` steps of binary search (the compiled kernels' search)."""
    count = guide[_buckets(x, low, scale, guide.shape[0] - 2)].astype(np.intp)
    half = (1 << int(steps)) >> 1
    while half:
        count += (padded.take(count + (half - 1)) <= x) * half
        half >>= 1
    return count


def _forward_values(x, count, knots, references, slopes, normal):
    """The probabilities of float64 values ``x`` of one feature, ``count``
    of its knots at or below each, bounds applied (before ``ndtri``)."""
    n = len(knots)
    last = np.maximum(count - 1, 0)  # the rightmost knot <= x (0 below all)
    # No interpolation below, above or on a knot (NaN counts as below).
    exact = (count == 0) | (count == n) | (knots[last] == x)
    if n > 1:
        right, left = _interpolated(x, knots, references, slopes, count)
        with np.errstate(invalid="ignore", over="ignore"):  # unused where exact
            u = 0.5 * (right + left)
    else:
        u = np.empty_like(x)
    exact = np.flatnonzero(exact)
    if exact.size:
        # The leftmost knot >= x (the last knot above all of them).
        first = np.minimum(np.searchsorted(knots, x[exact], side="left"), n - 1)
        u[exact] = 0.5 * (references[last[exact]] + references[first])
    with np.errstate(invalid="ignore"):
        if normal:
            upper = x + BOUNDS_THRESHOLD > knots[-1]
            lower = x - BOUNDS_THRESHOLD < knots[0]
        else:
            upper, lower = x == knots[-1], x == knots[0]
    u[upper] = 1.0
    u[lower] = 0.0
    np.copyto(u, x, where=np.isnan(x))
    return u


def _inverse_values(u, count, knots, references, slopes, normal):
    """The quantile of float64 probabilities ``u`` of one feature (``ndtr``
    already applied for a normal output), ``count`` of the references at or
    below each."""
    n = len(knots)
    last = np.maximum(count - 1, 0)
    exact = (count == 0) | (count == n) | (references[last] == u)
    if n > 1:
        x, _ = _interpolated(u, references, knots, slopes, count)
        x[exact] = knots[last[exact]]
    else:
        x = knots[last]
    with np.errstate(invalid="ignore"):
        if normal:
            upper = u + BOUNDS_THRESHOLD > 1
            lower = u - BOUNDS_THRESHOLD < 0
        else:
            upper, lower = u == 1, u == 0
    x[upper] = knots[-1]
    x[lower] = knots[0]
    np.copyto(x, u, where=np.isnan(u))
    return x


def _map_values(qmap, x, j, inverse):
    """The numpy path's map of float64 values ``x`` of feature ``j``."""
    padded, guide, lows, scales, steps = qmap.search(inverse)
    row = 0 if inverse else j
    count = _guided_count(
        x, padded[row], guide[row], lows[row], scales[row], steps[row]
    )
    function = _inverse_values if inverse else _forward_values
    return function(
        x, count, qmap.knots[j], qmap.references, qmap.slopes(inverse)[j], qmap.normal
    )


def _numpy_block(qmap, source, target, inverse):
    """Map the columns of a 2-D block ``source`` into ``target`` (float64
    probabilities forward, the data's dtype inverse)."""
    for j in range(source.shape[1]):
        target[:, j] = _map_values(qmap, source[:, j].astype(np.float64), j, inverse)


def _to_output(qmap, u, out):
    """``ndtri`` and clipping of float64 probabilities ``u`` into ``out``
    (through ``u`` when ``out`` is not float64: one rounding)."""
    target = out if out.dtype == np.float64 else u
    with np.errstate(divide="ignore"):
        ndtri(u, out=target)
    np.clip(target, *qmap.clip, out=target)
    if target is not out:
        out[...] = target


def _probabilities(values, u):
    """``ndtr`` of ``values`` in float64, into ``u``."""
    if values.dtype != np.float64:
        u[...] = values  # ndtr of float32 would compute in float32
        values = u
    ndtr(values, out=u)


def _dense_task(qmap, X, out, task, plan, inverse, compiled):
    """Map the rows ``task`` of X into ``out``, one cache-sized block at a time.

    A normal output goes through a float64 block of probabilities: ``ndtr``
    before the inverse interpolation, ``ndtri`` and the clip after the
    forward one.
    """
    scratch = None
    for rows in plan.blocks(task):
        source, target = X[rows], out[rows]
        if qmap.normal:
            if scratch is None:
                scratch = np.empty(plan.block_rows * plan.n_cols)
            u = scratch[: source.size].reshape(source.shape)
            if inverse:
                _probabilities(source, u)
                _interpolate_block(qmap, u, target, inverse, compiled)
            else:
                _interpolate_block(qmap, source, u, inverse, compiled)
                _to_output(qmap, u, target)
        else:
            _interpolate_block(qmap, source, target, inverse, compiled)


def _interpolate_block(qmap, source, target, inverse, compiled):
    if compiled is None:
        _numpy_block(qmap, source, target, inverse)
        return
    tables = qmap.compiled_tables(inverse)
    kernel = compiled.inverse_dense if inverse else compiled.forward_dense
    kernel(source, target, *tables, qmap.normal)


# ---------------------------------------------------------------------------
# Sparse input: the stored values of each column.
# ---------------------------------------------------------------------------


def _apply_sparse(qmap, X, inverse, in_place):
    if X.format not in ("csr", "csc"):
        raise TypeError(
            f"The quantile map takes CSR or CSC sparse input, got {X.format}."
        )
    if in_place:
        out = X
    else:
        structure = (np.empty_like(X.data), X.indices.copy(), X.indptr.copy())
        out = type(X)(structure, shape=X.shape)
    compiled = kernels("interpolation")
    if compiled is not None and not compiled.accepts(X.data, out.data):
        compiled = None
    qmap._prepare(compiled, inverse)
    if X.format == "csc":
        tasks = _csc_tasks(X.indptr)
    else:
        n = X.data.shape[0]
        tasks = [(a, min(a + _SPARSE_TASK, n)) for a in range(0, n, _SPARSE_TASK)]
    map_tasks(
        lambda task: _sparse_task(qmap, X, out.data, task, inverse, compiled), tasks
    )
    return out


def _csc_tasks(indptr):
    """Runs of whole columns of about ``_SPARSE_TASK`` stored values."""
    n_cols = len(indptr) - 1
    tasks, first = [], 0
    while first < n_cols:
        stop = int(np.searchsorted(indptr, indptr[first] + _SPARSE_TASK, "right"))
        stop = min(max(stop - 1, first + 1), n_cols)
        tasks.append((first, stop))
        first = stop
    return tasks


def _sparse_task(qmap, X, data_out, task, inverse, compiled):
    """Map the stored values of a task: columns ``task`` (CSC) or positions
    ``task`` (CSR)."""
    if X.format == "csc":
        first, stop = task
        span = slice(int(X.indptr[first]), int(X.indptr[stop]))
        starts = X.indptr[first : stop + 1] - X.indptr[first]
        columns = None
    else:
        span = slice(*task)
        starts, first = None, 0
        columns = X.indices[span]
    values = X.data[span]
    if values.size == 0:
        return
    target = data_out[span]
    if qmap.normal:
        u = np.empty(values.shape)
        if inverse:
            _probabilities(values, u)
            _interpolate_values(
                qmap, u, target, starts, first, columns, inverse, compiled
            )
        else:
            _interpolate_values(
                qmap, values, u, starts, first, columns, inverse, compiled
            )
            _to_output(qmap, u, target)
    else:
        _interpolate_values(
            qmap, values, target, starts, first, columns, inverse, compiled
        )


def _interpolate_values(
    qmap, values, target, starts, first, columns, inverse, compiled
):
    """Map stored values: ``values[starts[k]:starts[k + 1]]`` belong to
    feature ``first + k`` (CSC), or ``values[p]`` to ``columns[p]`` (CSR)."""
    if compiled is not None:
        kernel = compiled.inverse_sparse if inverse else compiled.forward_sparse
        if columns is None:
            columns = np.empty(0, np.int64)
        else:
            starts = np.empty(0, np.int64)
        tables = qmap.compiled_tables(inverse)
        kernel(values, target, starts, first, columns, *tables, qmap.normal)
        return
    if columns is not None:
        # Grouped by column (stable), mapped per column, scattered back.
        order = np.argsort(columns, kind="stable")
        counts = np.bincount(columns, minlength=qmap.n_features)
        starts = np.concatenate(([0], np.cumsum(counts)))
        values = values[order]
        grouped = np.empty(values.shape)
    else:
        order, grouped = None, target
    for k in np.flatnonzero(np.diff(starts)):
        segment = slice(int(starts[k]), int(starts[k + 1]))
        grouped[segment] = _map_values(
            qmap, values[segment].astype(np.float64), first + k, inverse
        )
    if order is not None:
        target[order] = grouped


# ---------------------------------------------------------------------------
# Array API input: the same steps in the input's namespace, per column.
# ---------------------------------------------------------------------------


def _apply_in_namespace(qmap, X, namespace, inverse):
    """The map of an array API array, on its device, in the device's most
    precise float dtype, rounded once to X's dtype.

    ``ndtr`` and ``ndtri`` have no array API counterpart: a normal output
    sends the probabilities to the host for them (one round trip of the
    array).
    """
    xp = namespace.xp
    dtype = X.dtype
    n_rows = X.shape[0]
    values = xp.astype(X, namespace.float_dtype)
    if inverse and qmap.normal:
        values = namespace.asarray(ndtr(to_numpy(values).astype(np.float64)))
    # One feature per row, contiguous (searchsorted reads 1-D arrays).
    by_feature = xp.reshape(xp.permute_dims(values, (1, 0)), (-1,))
    knots = namespace.asarray(qmap.knots)
    references = namespace.asarray(qmap.references)
    slopes = namespace.asarray(qmap.slopes(inverse))
    results = []
    # np.errstate: array API libraries built on numpy (array_api_strict)
    # warn on the arithmetic that is unused where a value lies on a knot.
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        for j in range(qmap.n_features):
            x = by_feature[j * n_rows : (j + 1) * n_rows]
            function = _inverse_in_namespace if inverse else _forward_in_namespace
            results.append(
                function(xp, x, knots[j, :], references, slopes[j, :], qmap.normal)
            )
    result = xp.stack(results, axis=1) if results else values
    if not inverse and qmap.normal:
        host = to_numpy(result).astype(np.float64)
        _to_output(qmap, host, host)
        result = namespace.asarray(host)
    return xp.astype(result, dtype)


def _take(xp, table, index):
    return xp.take(table, xp.reshape(index, (-1,)), axis=0)


def _interpolated_in_namespace(xp, x, knots, values, slopes, count):
    """:func:`_interpolated` in an array namespace."""
    n = knots.shape[0]
    segment = xp.clip(count - 1, 0, n - 2)
    slope = _take(xp, slopes, segment)
    low, high = _take(xp, values, segment), _take(xp, values, segment + 1)
    from_low = slope * (x - _take(xp, knots, segment)) + low
    from_high = slope * (x - _take(xp, knots, segment + 1)) + high
    low_nan, high_nan = xp.isnan(from_low), xp.isnan(from_high)
    both = low_nan & high_nan & (low == high)
    right = xp.where(both, low, xp.where(low_nan, from_high, from_low))
    left = xp.where(both, high, xp.where(high_nan, from_low, from_high))
    return right, left


def _forward_in_namespace(xp, x, knots, references, slopes, normal):
    n = knots.shape[0]
    count = xp.searchsorted(knots, x, side="right")
    last = xp.clip(count - 1, 0, n - 1)
    first = xp.clip(xp.searchsorted(knots, x, side="left"), 0, n - 1)
    exact = (count == 0) | (count == n) | (_take(xp, knots, last) == x)
    on_knot = 0.5 * (_take(xp, references, last) + _take(xp, references, first))
    if n > 1:
        right, left = _interpolated_in_namespace(
            xp, x, knots, references, slopes, count
        )
        u = xp.where(exact, on_knot, 0.5 * (right + left))
    else:
        u = on_knot
    if normal:
        upper = x + BOUNDS_THRESHOLD > knots[-1]
        lower = x - BOUNDS_THRESHOLD < knots[0]
    else:
        upper, lower = x == knots[-1], x == knots[0]
    u = xp.where(upper, xp.ones_like(u), u)
    u = xp.where(lower, xp.zeros_like(u), u)
    return xp.where(xp.isnan(x), x, u)


def _inverse_in_namespace(xp, u, knots, references, slopes, normal):
    n = knots.shape[0]
    count = xp.searchsorted(references, u, side="right")
    last = xp.clip(count - 1, 0, n - 1)
    on_knot = _take(xp, knots, last)
    if n > 1:
        exact = (count == 0) | (count == n) | (_take(xp, references, last) == u)
        x, _ = _interpolated_in_namespace(xp, u, references, knots, slopes, count)
        x = xp.where(exact, on_knot, x)
    else:
        x = on_knot
    if normal:
        upper, lower = u + BOUNDS_THRESHOLD > 1, u - BOUNDS_THRESHOLD < 0
    else:
        upper, lower = u == 1, u == 0
    x = xp.where(upper, knots[-1] * xp.ones_like(x), x)
    x = xp.where(lower, knots[0] * xp.ones_like(x), x)
    return xp.where(xp.isnan(u), u, x)
