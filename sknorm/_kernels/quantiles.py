"""Compiled kernels of exact quantiles (:mod:`sknorm.stats.quantiles`).

``count_brackets`` is the one pass over dense data of the bracketing
selection: it classifies every value of a block of rows against per-column
windows ``[low, high]`` and gathers the values strictly inside them;
``sparse_counts`` and ``sparse_gather`` are its O(nnz) counterparts on stored
entries. The numpy paths in :mod:`sknorm.stats.quantiles` compute the same
counts and gather the same values.

``bucket_rows`` and ``select_bucketed`` find the order statistics of one
column at many ranks (quantiles at many levels, see
:mod:`sknorm.stats._many_levels`): values put in buckets by splitters, then
each rank selected within its bucket; the numpy path sorts the column.
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
def select_segments(values, starts, rank_starts, ranks, out, first, last):
    """Order statistics of segments, without sorting them.

    For each column ``j`` with ``first <= j < last``, the segment
    ``values[starts[j]:starts[j + 1]]`` (no NaN; reordered) and its wanted
    ranks ``ranks[rank_starts[j]:rank_starts[j + 1]]`` (sorted, within the
    segment): ``out[k]`` gets the value of rank ``ranks[k]``. The middle
    rank is selected (:func:`_select_rank`), which splits the segment and
    the ranks in two, each part done alike: ``O(n log r)`` for ``r`` ranks
    among ``n`` values, where a sort takes ``O(n log n)`` (segments with
    ranks more than an eighth of their values are sorted).
    """
    stack = np.empty((64, 4), dtype=np.int64)
    for j in range(first, last):
        if rank_starts[j + 1] == rank_starts[j]:
            continue
        base = starts[j]
        if 8 * (rank_starts[j + 1] - rank_starts[j]) > starts[j + 1] - base:
            # Ranks everywhere: sorting costs less than selecting each.
            _quicksort(values, base, starts[j + 1])
            for k in range(rank_starts[j], rank_starts[j + 1]):
                out[k] = values[base + ranks[k]]
            continue
        stack[0] = (base, starts[j + 1], rank_starts[j], rank_starts[j + 1])
        top = 1
        while top:
            top -= 1
            lo, hi, p, q = stack[top]
            mid = (p + q) // 2
            r = base + ranks[mid]
            value, _ = _select_rank(values, lo, hi, r)
            out[mid] = value
            # Repeated ranks take the same value.
            before, after = mid, mid + 1
            while before > p and ranks[before - 1] == ranks[mid]:
                before -= 1
                out[before] = value
            while after < q and ranks[after] == ranks[mid]:
                out[after] = value
                after += 1
            if p < before:
                stack[top] = (lo, r, p, before)
                top += 1
            if after < q:
                stack[top] = (r + 1, hi, after, q)
                top += 1


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


#: Rows of :func:`bucket_rows` whose values are bucketed column after column.
_CHUNK_ROWS = 512
#: Depth of the search tree of :func:`bucket_rows`: ``2**6`` coarse
#: buckets, each cut into ``FINE_BUCKETS`` by linear interpolation.
COARSE_DEPTH = 6
FINE_BUCKETS = 64
_COARSE = 1 << COARSE_DEPTH
#: Ranks wanted in one bucket beyond which the bucket is sorted whole.
_SORTED_BUCKET_RANKS = 4
#: Below this many values a part is sorted by insertion.
_SMALL_PART = 24
#: Knuth's 64-bit linear congruential generator (pivot positions).
_LCG_A = np.uint64(6364136223846793005)
_LCG_C = np.uint64(1442695040888963407)


@numba.njit(cache=True, nogil=True)
def _fine_bucket(x, node, low, scale):
    """The bucket of ``x`` found in coarse bucket ``node - 2**COARSE_DEPTH``:
    its place between the coarse bucket's bounds, linearly, clamped (NaN
    and values below go to its first fine bucket)."""
    coarse = node - _COARSE
    f = (x - low[coarse]) * scale[coarse]
    f = f if f > 0.0 else 0.0
    f = f if f < FINE_BUCKETS - 1.0 else FINE_BUCKETS - 1.0
    return coarse * FINE_BUCKETS + np.int64(f)


@numba.njit(cache=True, nogil=True)
def bucket_rows(X, first, trees, low, scale, block, ids, counts):
    """Bucket the values of columns ``first:first + w`` of the rows ``X``.

    Column ``j`` of the group has ``2**COARSE_DEPTH - 1`` sorted splitters in
    ``trees[j]`` (their Eytzinger layout: ``tree[1]`` the middle one, the
    children of ``tree[i]`` at ``2 i`` and ``2 i + 1``): a value's coarse
    bucket ``c`` is the number of them at or below it, and its fine bucket
    ``(x - low[j, c]) * scale[j, c]`` clamped to ``[0, FINE_BUCKETS)``.
    Buckets are numbered in the order of the values (``c * FINE_BUCKETS +
    fine``). Each value is copied to ``block[j, i]`` (the group transposed)
    and its bucket written to ``ids[j, i]``; ``counts[j, b]`` counts the
    values in bucket ``b``, NaN excluded (NaN goes to bucket 0). Returns the
    sums of the columns in float64 (NaN where they hold NaN).
    """
    n, width = X.shape[0], trees.shape[0]
    sums = np.zeros(width)
    stop = n - n % 8
    # Chunks of rows whose cache lines serve every column of the group; eight
    # rows of a column at once, without branches, so that their loads overlap.
    for chunk in range(0, stop, _CHUNK_ROWS):
        for j in range(width):
            c = first + j
            tree, lo, sc = trees[j], low[j], scale[j]
            row, out, count = block[j], ids[j], counts[j]
            for i in range(chunk, min(chunk + _CHUNK_ROWS, stop), 8):
                x0, x1, x2, x3 = X[i, c], X[i + 1, c], X[i + 2, c], X[i + 3, c]
                x4, x5, x6, x7 = X[i + 4, c], X[i + 5, c], X[i + 6, c], X[i + 7, c]
                b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 1
                for _ in range(COARSE_DEPTH):
                    b0 = 2 * b0 + (x0 >= tree[b0])
                    b1 = 2 * b1 + (x1 >= tree[b1])
                    b2 = 2 * b2 + (x2 >= tree[b2])
                    b3 = 2 * b3 + (x3 >= tree[b3])
                    b4 = 2 * b4 + (x4 >= tree[b4])
                    b5 = 2 * b5 + (x5 >= tree[b5])
                    b6 = 2 * b6 + (x6 >= tree[b6])
                    b7 = 2 * b7 + (x7 >= tree[b7])
                b0 = _fine_bucket(x0, b0, lo, sc)
                b1 = _fine_bucket(x1, b1, lo, sc)
                b2 = _fine_bucket(x2, b2, lo, sc)
                b3 = _fine_bucket(x3, b3, lo, sc)
                b4 = _fine_bucket(x4, b4, lo, sc)
                b5 = _fine_bucket(x5, b5, lo, sc)
                b6 = _fine_bucket(x6, b6, lo, sc)
                b7 = _fine_bucket(x7, b7, lo, sc)
                row[i], row[i + 1], row[i + 2], row[i + 3] = x0, x1, x2, x3
                row[i + 4], row[i + 5], row[i + 6], row[i + 7] = x4, x5, x6, x7
                out[i], out[i + 1], out[i + 2], out[i + 3] = b0, b1, b2, b3
                out[i + 4], out[i + 5], out[i + 6], out[i + 7] = b4, b5, b6, b7
                count[b0] += x0 == x0
                count[b1] += x1 == x1
                count[b2] += x2 == x2
                count[b3] += x3 == x3
                count[b4] += x4 == x4
                count[b5] += x5 == x5
                count[b6] += x6 == x6
                count[b7] += x7 == x7
                sums[j] += ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))
    for i in range(stop, n):
        for j in range(width):
            x = X[i, first + j]
            b = 1
            for _ in range(COARSE_DEPTH):
                b = 2 * b + (x >= trees[j, b])
            b = _fine_bucket(x, b, low[j], scale[j])
            block[j, i] = x
            ids[j, i] = b
            counts[j, b] += x == x
            sums[j] += x
    return sums


@numba.njit(cache=True, nogil=True)
def _insertion_sort(a, lo, hi):
    for i in range(lo + 1, hi):
        v = a[i]
        k = i - 1
        while k >= lo and a[k] > v:
            a[k + 1] = a[k]
            k -= 1
        a[k + 1] = v


@numba.njit(cache=True, nogil=True)
def _pivot(a, lo, hi, state):
    """``(pivot, state)``: the median of three values of ``a[lo:hi]`` at
    pseudo-random positions (a linear congruential generator's ``state``),
    so that no order of the data makes the partitions unbalanced (the
    branchless partitions rotate a part's values: fixed positions would see
    patterns the earlier partitions left)."""
    size = np.uint64(hi - lo)
    state = state * _LCG_A + _LCG_C
    x = a[lo + np.int64((state >> np.uint64(33)) % size)]
    state = state * _LCG_A + _LCG_C
    y = a[lo + np.int64((state >> np.uint64(33)) % size)]
    state = state * _LCG_A + _LCG_C
    z = a[lo + np.int64((state >> np.uint64(33)) % size)]
    return max(min(x, y), min(max(x, y), z)), state


@numba.njit(cache=True, nogil=True)
def _select_rank(a, lo, hi, r):
    """``(value, end)``: the value of rank ``r`` of ``a[lo:hi]`` (no NaN),
    which is reordered so that ``a[lo:r] <= a[r] <= a[r + 1:hi]``; the
    positions ``r`` to ``end - 1`` all hold that value.

    Quickselect with branchless Lomuto partitions around a median of three
    values drawn at random (:func:`_pivot`);
    a part whose values are not below the pivot is split again into the
    values equal to it and those above (ties cost one pass). A part still
    large after ``2 log2`` rounds (an adversarial order) is sorted.
    """
    rounds = 0
    state = np.uint64(hi)
    limit = 16
    size = hi - lo
    while size > 1:
        limit += 2
        size >>= 1
    while hi - lo > _SMALL_PART:
        rounds += 1
        if rounds > limit:
            _quicksort(a, lo, hi)
            return a[r], r + 1
        if r == lo:
            m = lo
            for i in range(lo + 1, hi):
                if a[i] < a[m]:
                    m = i
            v = a[m]
            a[m] = a[lo]
            a[lo] = v
            return v, lo + 1
        pivot, state = _pivot(a, lo, hi, state)
        s = lo
        for i in range(lo, hi):
            v = a[i]
            a[i] = a[s]
            a[s] = v
            s += v < pivot
        if r < s:
            hi = s
            continue
        if 8 * (s - lo) < hi - lo:
            # Few values below the pivot: set apart the values equal to it,
            # so that ties shrink the part too.
            e = s
            for i in range(s, hi):
                v = a[i]
                a[i] = a[e]
                a[e] = v
                e += v <= pivot
            if r < e:
                return pivot, e
            lo = e
        else:
            lo = s
    _insertion_sort(a, lo, hi)
    end = r + 1
    while end < hi and a[end] == a[r]:
        end += 1
    return a[r], end


@numba.njit(cache=True, nogil=True)
def _quicksort(a, lo, hi):
    """Sort ``a[lo:hi]`` (no NaN) in place: quicksort with the branchless
    partitions of :func:`_select_rank`, the smaller part first so the stack
    stays short; a part still large after ``2 log2`` rounds is given to
    numba's sort."""
    stack = np.empty(256, dtype=np.int64)
    depth_stack = np.empty(128, dtype=np.int64)
    top = 0
    state = np.uint64(hi)
    limit = 16
    size = hi - lo
    while size > 1:
        limit += 2
        size >>= 1
    depth = 0
    while True:
        while hi - lo > _SMALL_PART:
            depth += 1
            if depth > limit:
                a[lo:hi].sort()
                lo = hi
                break
            pivot, state = _pivot(a, lo, hi, state)
            s = lo
            for i in range(lo, hi):
                v = a[i]
                a[i] = a[s]
                a[s] = v
                s += v < pivot
            if 8 * (s - lo) < hi - lo:
                # Few values below the pivot: set its ties apart.
                e = s
                for i in range(s, hi):
                    v = a[i]
                    a[i] = a[e]
                    a[e] = v
                    e += v <= pivot
            else:
                e = s
            # Parts [lo, s) and [e, hi): the larger waits on the stack.
            if s - lo < hi - e:
                stack[2 * top], stack[2 * top + 1] = e, hi
                hi = s
            else:
                stack[2 * top], stack[2 * top + 1] = lo, s
                lo = e
            depth_stack[top] = depth
            top += 1
        if hi - lo > 1:
            _insertion_sort(a, lo, hi)
        if top == 0:
            return
        top -= 1
        lo, hi = stack[2 * top], stack[2 * top + 1]
        depth = depth_stack[top]


@numba.njit(cache=True, nogil=True)
def select_bucketed(column, ids, starts, ranks, out, buffer):
    """The values of ``column`` at ``ranks`` (sorted, among its values
    without NaN), bucketed by :func:`bucket_rows` (``ids``, and ``starts``:
    the number of values in the buckets before each bucket, then all).

    The values are grouped by bucket into ``buffer`` (as long as
    ``column``); each rank is then selected within its bucket, or read from
    the bucket sorted when it holds more than a few ranks. ``out[k]`` gets
    the value of rank ``ranks[k]``.
    """
    n_buckets = starts.shape[0] - 1
    position = starts[:n_buckets].copy()
    for i in range(column.shape[0]):
        x = column[i]
        if x == x:
            b = ids[i]
            buffer[position[b]] = x
            position[b] += 1
    n_ranks = ranks.shape[0]
    b = 0
    k = 0
    while k < n_ranks:
        while starts[b + 1] <= ranks[k]:
            b += 1
        lo, hi = starts[b], starts[b + 1]
        last = k
        while last < n_ranks and ranks[last] < hi:
            last += 1
        if last - k > _SORTED_BUCKET_RANKS:
            _quicksort(buffer, lo, hi)
            for t in range(k, last):
                out[t] = buffer[ranks[t]]
            k = last
            continue
        end = lo
        value = 0.0
        while k < last:
            r = ranks[k]
            if r >= end:
                value, end = _select_rank(buffer, lo, hi, r)
                lo = r + 1
            out[k] = value
            k += 1


@numba.njit(cache=True, nogil=True)
def place_in_brackets(X, weight, edges, n_edges, below, up_to, inside):
    """Place every value of X among its column's bracket ends.

    ``edges[j, :n_edges[j]]`` are column j's sorted bracket ends (low, high,
    low, high, ...). Adds each present value's weight (1 without ``weight``;
    NaN and rows of zero weight are skipped) to ``below[j, r]``, ``r`` the
    number of ends ``<= x``, and to ``up_to[j, l]``, ``l`` the number of
    ends ``< x`` (histograms whose cumulative sums are the weights below and
    up to each end), and marks ``inside[i, j]`` where the value lies
    strictly inside a bracket. One read of X, row by row.
    """
    n_rows, n_features = X.shape
    for i in range(n_rows):
        w = 1.0
        if weight.shape[0]:
            w = weight[i]
            if not w > 0:
                continue
        for j in range(n_features):
            x = X[i, j]
            if x != x:
                continue
            left = 0
            right = 0
            for e in range(n_edges[j]):
                end = edges[j, e]
                if end < x:
                    left += 1
                    right += 1
                elif end == x:
                    right += 1
                else:
                    break
            below[j, right] += w
            up_to[j, left] += w
            if left == right and left % 2 == 1:
                inside[i, j] = True
