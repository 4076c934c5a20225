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


@numba.njit(cache=True, nogil=True)
def count_brackets(X, bounds, capacity, offsets, buffer, counts, filled, sums):
    """Count and gather the values of the rows of ``X`` against windows.

    ``bounds`` (1 + 2 * n_windows, n_columns) holds per column ``-inf`` and
    then, for each window, its low bound and the float after its high bound
    (NaN where there is none). ``counts[b, j]`` counts the values of column
    ``j`` at or above bound ``b`` (bound 0: the values that are not NaN), so
    that a value lies inside window ``w`` when it reaches bound ``2 * w + 1``
    but not ``2 * w + 2``. Those go to ``buffer[offsets[w, j]:]``, at most
    ``capacity[w, j]`` of them; ``filled[w, j]`` counts them (past the
    capacity too, so that the caller sees an overflow). ``sums`` adds each
    column's values, NaN included.
    """
    n_rows, n_columns = X.shape
    n_bounds = bounds.shape[0]
    position = np.zeros(n_columns, dtype=np.int64)
    for i in range(n_rows):
        row = X[i]
        # Vectorized along the row: the number of bounds each value reaches.
        for j in range(n_columns):
            sums[j] += row[j]
            position[j] = 0
        for b in range(n_bounds):
            bound = bounds[b]
            count = counts[b]
            for j in range(n_columns):
                reached = row[j] >= bound[j]
                position[j] += reached
                count[j] += reached
        for j in range(n_columns):
            k = position[j]
            # Inside a window: an even number of bounds, -inf included.
            if (k >= 2) & ((k & 1) == 0):
                w = (k >> 1) - 1
                f = filled[w, j]
                if f < capacity[w, j]:
                    buffer[offsets[w, j] + f] = row[j]
                filled[w, j] = f + 1


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
    """Per column of stored entries: ``(negative, zero, nan, sum)`` — the
    counts of values below 0, equal to 0 and NaN, and the sum of the others."""
    negative = np.zeros(n_columns, dtype=np.int64)
    zero = np.zeros(n_columns, dtype=np.int64)
    nan = np.zeros(n_columns, dtype=np.int64)
    total = np.zeros(n_columns, dtype=np.float64)
    for p in range(data.shape[0]):
        x = data[p]
        j = columns[p]
        if x != x:
            nan[j] += 1
            continue
        total[j] += x
        if x < 0:
            negative[j] += 1
        elif x == 0:
            zero[j] += 1
    return negative, zero, nan, total


@numba.njit(cache=True, nogil=True)
def sparse_gather(data, columns, side, starts, out):
    """Group by column the stored values on the ``side`` each column needs.

    ``side[j]`` is -1 (negative values), 1 (positive values) or 0 (none);
    column ``j``'s values go to ``out[starts[j]:starts[j + 1]]``.
    """
    filled = starts[:-1].copy()
    for p in range(data.shape[0]):
        j = columns[p]
        s = side[j]
        if s == 0:
            continue
        x = data[p]
        if (s < 0 and x < 0) or (s > 0 and x > 0):
            out[filled[j]] = x
            filled[j] += 1
