"""Compiled kernels of exact quantiles (:mod:`sknorm.stats.quantiles`).

``count_brackets`` is the one pass over dense data of the bracketing
selection: it classifies every value of a block of rows against per-column
windows ``[low, high]`` and gathers the values strictly inside them;
``sparse_counts`` and ``sparse_gather`` are its O(nnz) counterparts on stored
entries. The numpy paths in :mod:`sknorm.stats.quantiles` compute the same
counts and gather the same values.
"""

import numba
import numpy as np

#: Rows counted in 16-bit fields before they are added to the counts.
_PACKED_ROWS = 1 << 15


@numba.njit(cache=True, nogil=True)
def count_brackets(X, lows, ends, capacity, offsets, buffer, counts, filled, sums):
    """Count and gather the values of the rows of ``X`` against windows.

    Bound ``b`` of column ``j`` is the window ``[lows[b, j], ends[b, j])``
    (``ends`` holds the float after each window's high bound; NaN never
    reached): ``b = 0`` is ``[-inf, -inf)``, empty, so that ``counts[0, j]``
    counts the values that are not NaN; the windows are disjoint and NaN pads
    unused bounds up to a multiple of 4. ``counts[b, j]`` counts the values
    at or above ``lows[b, j]``. The values inside window ``b`` go to
    ``buffer[offsets[b - 1, j]:]``, at most ``capacity[b - 1, j]`` of them;
    ``filled[b - 1, j]`` counts them (past the capacity too, so that the
    caller sees an overflow). ``sums`` adds each column's values, NaN
    included.
    """
    n_rows, n_columns = X.shape
    n_groups = lows.shape[0] // 4
    window = np.zeros(n_columns, dtype=np.int64)
    chosen = np.zeros(n_columns, dtype=np.int64)
    # Four counts per int64, in 16-bit fields, so that one vector add
    # counts four bounds; added to ``counts`` before they can overflow.
    packed = np.zeros((n_groups, n_columns), dtype=np.int64)
    for start in range(0, n_rows, _PACKED_ROWS):
        for i in range(start, min(start + _PACKED_ROWS, n_rows)):
            row = X[i]
            for g in range(n_groups):
                b = 4 * g
                l0, l1, l2, l3 = lows[b], lows[b + 1], lows[b + 2], lows[b + 3]
                e0, e1, e2, e3 = ends[b], ends[b + 1], ends[b + 2], ends[b + 3]
                count = packed[g]
                # Vectorized along the row (no branch).
                for j in range(n_columns):
                    x = row[j]
                    a0, a1, a2, a3 = x >= l0[j], x >= l1[j], x >= l2[j], x >= l3[j]
                    count[j] += (
                        np.int64(a0)
                        + (np.int64(a1) << 16)
                        + (np.int64(a2) << 32)
                        + (np.int64(a3) << 48)
                    )
                    # The window holding x, if any, as b + 1.
                    inside = (
                        (np.int64(a0 & ~(x >= e0[j])) * (b + 1))
                        + (np.int64(a1 & ~(x >= e1[j])) * (b + 2))
                        + (np.int64(a2 & ~(x >= e2[j])) * (b + 3))
                        + (np.int64(a3 & ~(x >= e3[j])) * (b + 4))
                    )
                    if g == 0:
                        window[j] = inside
                        sums[j] += x
                    else:
                        window[j] += inside
            # The columns whose value lies in a window, without branches.
            n_chosen = 0
            for j in range(n_columns):
                chosen[n_chosen] = j
                n_chosen += window[j] != 0
            for t in range(n_chosen):
                j = chosen[t]
                w = window[j] - 2
                f = filled[w, j]
                if f < capacity[w, j]:
                    buffer[offsets[w, j] + f] = row[j]
                filled[w, j] = f + 1
        for g in range(n_groups):
            for u in range(4):
                for j in range(n_columns):
                    counts[4 * g + u, j] += (packed[g, j] >> (16 * u)) & 0xFFFF
        packed[:] = 0


@numba.njit(cache=True, nogil=True)
def append_segments(buffer, offsets, filled, position, out):
    """Append the ``filled[g]`` values a task gathered at
    ``buffer[offsets[g]:]`` to segment ``g`` of ``out``, which continues at
    ``position[g]`` (advanced past them)."""
    for g in range(offsets.shape[0]):
        size = filled[g]
        start = position[g]
        out[start : start + size] = buffer[offsets[g] : offsets[g] + size]
        position[g] = start + size


@numba.njit(cache=True, nogil=True)
def sparse_counts(data, columns, n_columns):
    """Per column of stored entries: ``(negative, positive, nan, sum)`` —
    the counts of values below and above 0 and of NaN, and the sum of the
    values that are not NaN."""
    # One row of counts per column: an entry touches one cache line.
    counts = np.zeros((n_columns, 4), dtype=np.int64)
    total = np.zeros(n_columns, dtype=np.float64)
    for p in range(data.shape[0]):
        x = data[p]
        j = columns[p]
        if x != x:
            counts[j, 2] += 1
            continue
        total[j] += x
        counts[j, 0] += x < 0
        counts[j, 1] += x > 0
    return counts[:, 0].copy(), counts[:, 1].copy(), counts[:, 2].copy(), total


@numba.njit(cache=True, nogil=True)
def sparse_gather(data, columns, wanted, starts, out):
    """Group by column the non-zero stored values of the ``wanted`` columns:
    column ``j``'s go to ``out[starts[j]:starts[j + 1]]`` (in stored order)."""
    filled = starts[:-1].copy()
    for p in range(data.shape[0]):
        j = columns[p]
        x = data[p]
        if wanted[j] and (x < 0 or x > 0):
            out[filled[j]] = x
            filled[j] += 1


@numba.njit(cache=True, nogil=True)
def column_order(columns, n_columns):
    """The stable permutation grouping items by column (a counting sort)."""
    starts = np.zeros(n_columns + 1, dtype=np.int64)
    for p in range(columns.shape[0]):
        starts[columns[p] + 1] += 1
    for j in range(n_columns):
        starts[j + 1] += starts[j]
    order = np.empty(columns.shape[0], dtype=np.int64)
    for p in range(columns.shape[0]):
        j = columns[p]
        order[starts[j]] = p
        starts[j] += 1
    return order


@numba.njit(cache=True, nogil=True)
def column_value_order(values, columns, n_columns):
    """The stable permutation sorting items by column, then by value within a
    column (NaN last), ties in their given order.

    Grouped first by a counting sort, then each column's segment sorted alone:
    ``sum(n_j log n_j)`` work instead of a sort of all the items.
    """
    order = column_order(columns, n_columns)
    starts = np.zeros(n_columns + 1, dtype=np.int64)
    for p in range(columns.shape[0]):
        starts[columns[p] + 1] += 1
    for j in range(n_columns):
        starts[j + 1] += starts[j]
    for j in range(n_columns):
        first, last = starts[j], starts[j + 1]
        if last - first > 1:
            segment = order[first:last].copy()
            within = np.argsort(values[segment], kind="mergesort")
            order[first:last] = segment[within]
    return order
