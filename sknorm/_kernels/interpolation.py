"""Compiled kernels of the quantile map (:mod:`sknorm.scalers._quantile_map`).

Each value is placed among its feature's knots in two steps:

* an *index guide*: the value's bucket among equal buckets spanning the
  knots gives the number of knots below the bucket and the width of the
  window that holds the value's place (built by
  :func:`sknorm.scalers._quantile_map._index_guide`; the bucket is computed
  here with the same operations);
* a branchless binary search in that window, of a fixed number of steps per
  feature (enough for its widest window), run for ``_LANES`` values of one
  feature in lockstep: their loads are independent, so the processor
  overlaps them (a search of one value at a time waits for each load in
  turn, several times slower).

Then each value is interpolated with ``np.interp``'s arithmetic, operation
for operation, so that the results are the numpy path's bit for bit.
float32 input is read into float64 registers; results are rounded once to
the output's dtype. The knots are padded with ``+inf`` so that a search may
probe past the last knot.
"""

import numba
import numpy as np

from .dense import accepts

__all__ = [
    "accepts",
    "forward_dense",
    "forward_sparse",
    "inverse_dense",
    "inverse_sparse",
]

#: scikit-learn's margin around the extreme quantiles for a normal output.
_THRESHOLD = 1e-7

#: Values of one feature searched in lockstep (measured on 2e5 x 20
#: lognormal values and 1000 knots: 16 lanes ran the plain search 6 times
#: faster than 1, 32 and 64 lanes no faster than 16).
_LANES = 16


@numba.njit(cache=True, nogil=True, inline="always")
def _bucket(x, low, scale, n_buckets):
    """The guide's bucket of ``x``: non-decreasing in ``x``; NaN and values
    below ``low`` go to bucket 0, values beyond the last to ``n_buckets``."""
    t = (x - low) * scale
    t = t if t > 0.0 else 0.0  # NaN too
    t = t if t < n_buckets else float(n_buckets)
    return np.int64(t)


@numba.njit(cache=True, nogil=True, inline="always")
def _count_below(knots, n, x):
    """The number of the first ``n`` knots ``< x`` (a plain binary search,
    needed only for values on a knot)."""
    low, high = 0, n
    while low < high:
        middle = (low + high) >> 1
        if knots[middle] < x:
            low = middle + 1
        else:
            high = middle
    return low


# The per-value helpers take scalars only: a helper taking arrays would
# update their reference counts on every call (atomic operations that cost
# more than the interpolation).


@numba.njit(cache=True, nogil=True, inline="always")
def _interior(x, slope, k0, k1, f0, f1):
    """np.interp inside the segment ``k0 < x < k1`` from the right of
    repeated knots (base ``k0``) and from the left (base ``k1``): each takes
    the other base where its result is NaN, and ``f0 == f1`` where both
    are."""
    right = slope * (x - k0) + f0
    left = slope * (x - k1) + f1
    if right != right or left != left:
        if right != right and left != left:
            if f0 == f1:
                right, left = f0, f1
        elif right != right:
            right = left
        else:
            left = right
    return right, left


@numba.njit(cache=True, nogil=True, inline="always")
def _forward_bounds(u, x, first_knot, last_knot, normal):
    """scikit-learn's bounds of the probability ``u`` of ``x``; NaN kept."""
    if normal:
        upper = x + _THRESHOLD > last_knot
        lower = x - _THRESHOLD < first_knot
    else:
        upper = x == last_knot
        lower = x == first_knot
    u = 1.0 if upper else u
    u = 0.0 if lower else u
    return x if x != x else u


@numba.njit(cache=True, nogil=True, inline="always")
def _inverse_interior(u, slope, r0, r1, k0, k1):
    """np.interp of ``u`` inside the segment ``r0 < u < r1``."""
    x = slope * (u - r0) + k0
    if x != x:
        x = slope * (u - r1) + k1
        if x != x and k0 == k1:
            x = k0
    return x


@numba.njit(cache=True, nogil=True, inline="always")
def _inverse_bounds(x, u, first_knot, last_knot, normal):
    """scikit-learn's bounds of the quantile ``x`` of ``u``; NaN kept."""
    if normal:
        upper = u + _THRESHOLD > 1.0
        lower = u - _THRESHOLD < 0.0
    else:
        upper = u == 1.0
        lower = u == 0.0
    x = last_knot if upper else x
    x = first_knot if lower else x
    return u if u != u else x


@numba.njit(cache=True, nogil=True, inline="always")
def _search_lanes(values, start, m, lane, counts, keys, g, low, scale, top, n_buckets):
    """The counts of ``keys`` (padded, sorted) ``<=`` each of the ``m``
    values from ``start`` into ``lane``/``counts`` (padding lanes hold
    ``low``): the guide's bucket, then a search of all lanes in lockstep, a
    conditional move per step and no branch, so their loads overlap."""
    for k in range(_LANES):
        x = np.float64(values[start + k]) if k < m else low
        lane[k] = x
        counts[k] = g[_bucket(x, low, scale, n_buckets)]
    half = top
    while half > 0:
        for k in range(_LANES):
            counts[k] += half * np.int64(keys[counts[k] + half - 1] <= lane[k])
        half >>= 1


@numba.njit(cache=True, nogil=True)
def _forward_column(values, out, q, n, references, s, g, low, scale, top, normal):
    """The probabilities of one feature's ``values`` (1-D, any stride) into
    ``out``: ``q`` its padded knots, ``s`` its slopes, ``g`` its guide."""
    n_buckets = g.shape[0] - 2
    lane = np.empty(_LANES)
    counts = np.empty(_LANES, np.int64)
    first_knot, last_knot = q[0], q[n - 1]
    size = values.shape[0]
    for start in range(0, size, _LANES):
        m = min(_LANES, size - start)
        _search_lanes(values, start, m, lane, counts, q, g, low, scale, top, n_buckets)
        for k in range(m):
            x = lane[k]
            count = counts[k]
            i = count - 1
            if count > 0 and count < n and q[i] != x:
                right, left = _interior(
                    x, s[i], q[i], q[i + 1], references[i], references[i + 1]
                )
            else:
                # Below, above or on a knot (NaN: count 0): the references
                # of the rightmost knot <= x and of the leftmost >= x.
                last = max(i, 0)
                if count > 0 and q[last] == x:
                    right, left = references[last], references[_count_below(q, n, x)]
                else:
                    right = left = references[min(last, n - 1)]
            u = 0.5 * (right + left)
            out[start + k] = _forward_bounds(u, x, first_knot, last_knot, normal)


@numba.njit(cache=True, nogil=True)
def _inverse_column(values, out, q, n, r, s, g, low, scale, top, normal):
    """The quantiles of one feature's probabilities ``values``: ``r`` the
    padded references, ``g`` their guide, ``q`` the knots, ``s`` the
    slopes."""
    n_buckets = g.shape[0] - 2
    lane = np.empty(_LANES)
    counts = np.empty(_LANES, np.int64)
    first_knot, last_knot = q[0], q[n - 1]
    size = values.shape[0]
    for start in range(0, size, _LANES):
        m = min(_LANES, size - start)
        _search_lanes(values, start, m, lane, counts, r, g, low, scale, top, n_buckets)
        for k in range(m):
            u = lane[k]
            count = counts[k]
            i = count - 1
            if count > 0 and count < n and r[i] != u:
                x = _inverse_interior(u, s[i], r[i], r[i + 1], q[i], q[i + 1])
            else:
                x = q[min(max(i, 0), n - 1)]
            out[start + k] = _inverse_bounds(x, u, first_knot, last_knot, normal)


@numba.njit(cache=True, nogil=True)
def forward_dense(
    X, out, knots, n, references, slopes, guide, lows, scales, steps, normal
):
    """``out[i, j]`` = the probability of ``X[i, j]`` among the first ``n``
    of ``knots[j]`` (padded), the bounds of a normal output if ``normal``."""
    for j in range(X.shape[1]):
        top = (np.int64(1) << steps[j]) >> 1
        _forward_column(
            X[:, j],
            out[:, j],
            knots[j],
            n,
            references,
            slopes[j],
            guide[j],
            lows[j],
            scales[j],
            top,
            normal,
        )


@numba.njit(cache=True, nogil=True)
def inverse_dense(
    U, out, knots, n, references, slopes, guide, low, scale, step, normal
):
    """``out[i, j]`` = the quantile of probability ``U[i, j]`` of feature
    ``j``; ``references`` padded, with their own guide."""
    top = (np.int64(1) << step) >> 1
    for j in range(U.shape[1]):
        _inverse_column(
            U[:, j],
            out[:, j],
            knots[j],
            n,
            references,
            slopes[j],
            guide,
            low,
            scale,
            top,
            normal,
        )


@numba.njit(cache=True, nogil=True)
def forward_sparse(
    values,
    out,
    starts,
    first_column,
    columns,
    knots,
    n,
    references,
    slopes,
    guide,
    lows,
    scales,
    steps,
    normal,
):
    """The probabilities of stored values: ``values[starts[c]:starts[c+1]]``
    of feature ``first_column + c`` when ``starts`` is not empty (CSC), else
    ``values[p]`` of feature ``columns[p]`` (CSR)."""
    if starts.shape[0] > 0:
        for c in range(starts.shape[0] - 1):
            j = first_column + c
            span = slice(starts[c], starts[c + 1])
            _forward_column(
                values[span],
                out[span],
                knots[j],
                n,
                references,
                slopes[j],
                guide[j],
                lows[j],
                scales[j],
                (np.int64(1) << steps[j]) >> 1,
                normal,
            )
        return
    # CSR: each value of its own feature; 2-D indexing, no views per value.
    n_buckets = guide.shape[1] - 2
    for p in range(values.shape[0]):
        j = columns[p]
        x = np.float64(values[p])
        count = np.int64(guide[j, _bucket(x, lows[j], scales[j], n_buckets)])
        half = (np.int64(1) << steps[j]) >> 1
        while half > 0:
            count += half * np.int64(knots[j, count + half - 1] <= x)
            half >>= 1
        i = count - 1
        if count > 0 and count < n and knots[j, i] != x:
            right, left = _interior(
                x,
                slopes[j, i],
                knots[j, i],
                knots[j, i + 1],
                references[i],
                references[i + 1],
            )
        else:
            last = max(i, 0)
            if count > 0 and knots[j, last] == x:
                right = references[last]
                left = references[_count_below(knots[j], n, x)]
            else:
                right = left = references[min(last, n - 1)]
        u = 0.5 * (right + left)
        out[p] = _forward_bounds(u, x, knots[j, 0], knots[j, n - 1], normal)


@numba.njit(cache=True, nogil=True)
def inverse_sparse(
    values,
    out,
    starts,
    first_column,
    columns,
    knots,
    n,
    references,
    slopes,
    guide,
    low,
    scale,
    step,
    normal,
):
    """The quantiles of stored probabilities, laid out as in
    :func:`forward_sparse`."""
    top = (np.int64(1) << step) >> 1
    if starts.shape[0] > 0:
        for c in range(starts.shape[0] - 1):
            j = first_column + c
            span = slice(starts[c], starts[c + 1])
            _inverse_column(
                values[span],
                out[span],
                knots[j],
                n,
                references,
                slopes[j],
                guide,
                low,
                scale,
                top,
                normal,
            )
        return
    n_buckets = guide.shape[0] - 2
    for p in range(values.shape[0]):
        j = columns[p]
        u = np.float64(values[p])
        count = np.int64(guide[_bucket(u, low, scale, n_buckets)])
        half = top
        while half > 0:
            count += half * np.int64(references[count + half - 1] <= u)
            half >>= 1
        i = count - 1
        if count > 0 and count < n and references[i] != u:
            x = _inverse_interior(
                u,
                slopes[j, i],
                references[i],
                references[i + 1],
                knots[j, i],
                knots[j, i + 1],
            )
        else:
            x = knots[j, min(max(i, 0), n - 1)]
        out[p] = _inverse_bounds(x, u, knots[j, 0], knots[j, n - 1], normal)
