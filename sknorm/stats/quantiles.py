"""Exact per-column quantiles with numpy's linear interpolation, NaN ignored.

Definition (numpy's default ``method="linear"``, Hyndman and Fan's type 7,
generalized to weights). For a column whose non-missing values have total
weight ``N`` (their count when unweighted), the quantile at level ``q`` is::

    v = (N - 1) * q,   r = floor(v),   t = v - r
    quantile = lerp(x[r], x[r + 1], t)

where ``x[r]`` is the value at rank ``r`` of the column with every row repeated
as many times as its weight: the first value in sorted order whose cumulative
weight exceeds ``r``. ``v >= N - 1`` gives the maximum. Weights are *relative*:
they are first rescaled so that each column's values of positive weight
(implicit zeros of sparse input included, NaN excluded) have mean weight 1, so
that ``N`` is their number; then they act as frequencies. Equal weights of any
value give exactly the unweighted quantiles, and weights of 0.01 or 1e308 are
no different from weights of 1. Integer weights therefore equal repeated rows
when they are all equal; when they differ, both ranks bracketing a level lie
within two rows of mean weight of the repeated rows' (the rescaling changes
the ``- 1`` in ``(N - 1) * q``): a choice, since no
quantile that interpolates between order statistics can be both independent of
the weights' scale and equal to repeated rows for weights ``[1, 1]`` and
``[2, 2]`` alike.
``lerp`` is numpy's (``a + (b - a) * t``, or ``b - (b - a) * (1 - t)`` when
``t >= 0.5``), so unweighted results equal ``np.nanpercentile``'s. The median
uses ``np.median``'s midpoint ``(a + b) / 2`` when ``t == 0.5``.

Unweighted dense columns of many rows are bracketed (see
:func:`_bracketed_order_statistics`): a sample of rows places a window of values
around each level's ranks, one pass over row blocks counts the values below
each window and gathers those inside, and the ranks are selected among the
gathered values; a rank the sample missed sends its column to the direct
selection, so the result is exact whatever the sample. Other dense columns are
reduced by direct selection (single-kth ``np.partition`` calls, which numpy runs
on its SIMD path, recursing into the parts) over a transposed copy, never by a
full sort. Unweighted sparse columns are counted by sign in O(nnz): a rank
among the zeros (implicit zeros counted analytically) is 0, and only columns
with a rank among their non-zero values have those gathered, the ranks
selected among them (compiled) or the values sorted; weighted sparse
columns sort their stored entries. Dense columns at many levels (more than
a few: QuantileTransformer's) are bucketed or sorted instead (see
:mod:`sknorm.stats._many_levels`). No column is ever materialised.
"""

import itertools
import threading

import numpy as np

from .._callbacks import reported_units
from .._kernels import kernels
from .._parallel import BLOCK_ELEMENTS, BlockPlan, iter_tasks, map_tasks
from .._validation import is_sparse
from ._base import (
    Statistic,
    equal_weights_as_rows,
    implicit_zero_weight,
    rows_kept_by_weights,
)

__all__ = ["Quantiles", "absolute_deviations"]

#: Size in bytes of the per-thread buffer holding a group of transposed columns:
#: large enough for 8 float64 columns of a million rows, so that a group reads
#: whole cache lines of each row (narrower groups read every line several times).
_GROUP_BYTES = 1 << 26
#: Below this many values the thread pool costs more than it saves.
_PARALLEL_MIN_VALUES = 1 << 21
#: Stored entries sorted at once on sparse input: bounds the temporary memory,
#: and cache-sized blocks are faster than one large sort.
_SPARSE_BLOCK_ENTRIES = 1 << 16
#: Fewest rows for which dense columns are bracketed from a sample of rows
#: (see :func:`_bracketed_order_statistics`) rather than selected directly.
_BRACKET_MIN_ROWS = 1 << 16
#: Rows in that sample (at most a quarter of the rows): a window then spans
#: about 2 * 5 * 0.5 / sqrt(32768) = 2.8% of a column's values at the median.
_SAMPLE_ROWS = 1 << 15
#: Half-width of a window, in standard deviations of the sample's rank error:
#: a rank falls outside its window (and its column is selected directly) with
#: probability below 1e-6.
_BRACKET_Z = 5.0
#: Columns whose windows would hold more than this share of their values are
#: selected directly (heavy ties, many close levels).
_BRACKET_MAX_SHARE = 0.3
_SAMPLE_SEED = 0x5A4D


def lerp(lower, upper, fraction):
    """numpy's linear interpolation (``numpy.lib._function_base_impl._lerp``),
    computed in halves where ``upper - lower`` overflows (numpy returns NaN
    or infinity there)."""
    with np.errstate(invalid="ignore", over="ignore"):
        difference = upper - lower
        result = lower + difference * fraction
        high = fraction >= 0.5
        if np.any(high):
            result = np.where(high, upper - difference * (1 - fraction), result)
        overflow = np.isinf(difference) & np.isfinite(lower) & np.isfinite(upper)
        if np.any(overflow):
            halves = 2 * (lower / 2 + (upper / 2 - lower / 2) * fraction)
            result = np.where(overflow, halves, result)
    return result


def midpoint(lower, upper):
    """``(a + b) / 2`` as ``np.median`` computes it, without its overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        result = (lower + upper) / 2
        overflow = np.isinf(result) & np.isfinite(lower) & np.isfinite(upper)
        if np.any(overflow):
            result = np.where(overflow, lower / 2 + upper / 2, result)
    return result


def virtual_ranks(total, levels, count=None):
    """Ranks bracketing each level and the interpolation fraction.

    Returns ``(lower_rank, upper_rank, fraction, at_maximum)`` of shape
    ``(n_levels, n_features)``; ranks are float64 (in weight), and
    ``at_maximum`` marks levels answered by the column maximum.

    ``count`` is, per column, the number of values of positive weight (None:
    unweighted, ``count = total``). Ranks count values of the column's mean
    weight ``total / count``, so that they depend on the relative weights
    only: the rank of ``r`` values is the weight ``r * total / count``,
    computed in that order so that integer weights give exact ranks (and
    exact ties with the cumulative weights).
    """
    total = np.asarray(total, dtype=np.float64)
    if count is not None:
        count = np.asarray(count, dtype=np.float64)
        weighted = count != total
        if np.any(weighted):
            low, high, fraction, at_maximum = virtual_ranks(count, levels)
            with np.errstate(invalid="ignore", divide="ignore"):
                safe = np.where(count > 0, count, 1.0)
                low = np.where(weighted, low * total / safe, low)
                high = np.where(weighted, high * total / safe, high)
            return low, high, fraction, at_maximum
    # Same expression as numpy's 'linear' method, so the same rounding.
    virtual = (total - 1)[None, :] * levels[:, None]
    lower_rank = np.floor(virtual)
    fraction = virtual - lower_rank
    # Level 0 is the minimum and level 1 the maximum whatever the weights; a
    # total weight below 1 (less than one row) leaves no room to interpolate:
    # every other level then gives the minimum.
    at_minimum = (virtual < 0) | (levels[:, None] == 0)
    at_maximum = (levels[:, None] == 1) | (
        (virtual >= (total - 1)[None, :]) & ~at_minimum
    )
    bounded = at_maximum | at_minimum
    lower_rank = np.where(at_minimum, 0.0, lower_rank)
    upper_rank = np.where(at_minimum, 0.0, lower_rank + 1)
    fraction = np.where(bounded, 0.0, fraction)
    return lower_rank, upper_rank, fraction, at_maximum


def _check_levels(levels):
    levels = np.asarray(levels, dtype=np.float64).reshape(-1)
    if levels.size == 0 or not np.all((levels >= 0) & (levels <= 1)):
        raise ValueError(f"quantile levels must lie in [0, 1], got {levels!r}.")
    return levels


def sort_by_column_then_value(values, columns, n_columns):
    """Permutation sorting entries by column, then by value within a column
    (NaN last), ties in their given order.

    The compiled kernel groups by column and sorts each column alone. Without
    it: sorting by value first and then *stably* by column needs no lexsort;
    with fewer than 65536 columns the second sort is numpy's O(n) radix sort.
    Both give the same permutation.
    """
    kernels = _kernel_module()
    if kernels is not None and values.dtype in (np.float32, np.float64):
        return kernels.column_value_order(values, columns.astype(np.int64), n_columns)
    order = np.argsort(values, kind="stable")
    keys = columns[order]
    if n_columns <= np.iinfo(np.uint16).max:
        keys = keys.astype(np.uint16)
    return order[np.argsort(keys, kind="stable")]


#: Weights within this relative distance of integer multiples of a column's
#: smallest weight are taken as those multiples (see _commensurate_units).
_COMMENSURATE_TOLERANCE = 1e-9


def _commensurate_units(weights, starts, zero_weight):
    """Each column's weights in units of its smallest, where they are multiples.

    Cumulative weights and ranks ``r * total / count`` are rounded
    differently: with weights of 0.1 the cumulative 0.1 lies below the rank
    ``1 * 0.3 / 3`` = 0.10000000000000002, and the median of ``[-1, 0, 0]``
    came out as -1. In exact arithmetic they tie. Where every weight of a
    column (and the weight of its implicit zeros) is an integer multiple of
    its smallest weight, up to rounding, the column is ranked in those units,
    exact integers; other columns keep their weights (unit 1).

    Returns ``(weights, zero_weight, units)``.
    """
    n_features = len(starts) - 1
    units = np.ones(n_features)
    sizes = np.diff(starts)
    nonempty = np.flatnonzero(sizes > 0)
    if not len(weights) or not nonempty.size:
        return weights, zero_weight, units
    smallest = np.minimum.reduceat(weights, starts[:-1][nonempty])
    unit = np.ones(n_features)
    unit[nonempty] = smallest
    column_of = np.repeat(np.arange(n_features), sizes)
    multiples = weights / unit[column_of]
    whole = np.round(multiples)
    zeros = zero_weight / unit
    whole_zeros = np.round(zeros)
    off = np.abs(multiples - whole) > _COMMENSURATE_TOLERANCE * whole
    bad = np.zeros(n_features, dtype=bool)
    bad[column_of[off]] = True
    bad |= np.abs(zeros - whole_zeros) > _COMMENSURATE_TOLERANCE * np.maximum(
        whole_zeros, 1.0
    )
    good = ~bad & (sizes > 0) & (unit != 1.0)
    if not good.any():
        return weights, zero_weight, units
    units[good] = unit[good]
    snapped = good[column_of]
    weights = np.where(snapped, whole, weights)
    zero_weight = np.where(good, whole_zeros, zero_weight)
    return weights, zero_weight, units


def ragged_value_finder(values, weights, starts, zero_weight, zero_value=None):
    """Look up values by rank in columns stored as sorted, weighted segments.

    Parameters
    ----------
    values : ndarray of float64
        Non-missing values, sorted within each column's segment.
    weights : ndarray of float64
        Positive weight of each value.
    starts : ndarray of int of shape (n_features + 1,)
        Segment boundaries: column ``j`` is ``values[starts[j]:starts[j + 1]]``.
    zero_weight : ndarray of shape (n_features,)
        Weight of implicit zeros (sparse input) not stored in ``values``; they
        rank between the negative and the non-negative stored values.
    zero_value : ndarray of shape (n_features,), default=None
        The value the implicit entries stand for, per column (None: 0); they
        rank between the stored values below it and those not below it.
        Absolute deviations of sparse data from a center ``c`` have implicit
        entries ``|0 - c|``.

    Returns
    -------
    value_at : callable
        ``value_at(rank)`` maps ranks of shape ``(n, n_features)`` to the value
        at each rank: the first value in sorted order whose cumulative weight
        exceeds it (NaN for a column without data).
    total : ndarray of shape (n_features,)
        Weight of each column's non-missing values, zeros included.
    maximum : ndarray of shape (n_features,)
        Largest value of each column (NaN for a column without data).
    """
    n_features = len(starts) - 1
    begin, end = starts[:-1], starts[1:]
    reported_total = np.array(zero_weight, dtype=np.float64, copy=True)
    nonempty = np.flatnonzero(end > begin)
    if nonempty.size:
        reported_total[nonempty] += np.add.reduceat(weights, begin[nonempty])
    weights, zero_weight, units = _commensurate_units(weights, starts, zero_weight)
    cumulative = np.concatenate(([0.0], np.cumsum(weights, dtype=np.float64)))
    base = cumulative[begin]
    column_of = np.repeat(np.arange(n_features), end - begin)
    if zero_value is None:
        implicit = np.zeros(n_features)
        below = values < 0
    else:
        implicit = np.asarray(zero_value, dtype=np.float64)
        below = values < implicit[column_of]
    negative_end = begin + np.bincount(column_of[below], minlength=n_features).astype(
        begin.dtype
    )
    negative_weight = cumulative[negative_end] - base
    total = cumulative[end] - base + zero_weight

    last = np.clip(end - 1, 0, max(len(values) - 1, 0))
    stored_last = values[last] if len(values) else np.zeros(n_features)
    has_nonnegative = negative_end < end
    maximum = np.where(
        has_nonnegative | (zero_weight <= 0), stored_last, implicit
    ).astype(np.float64)
    maximum = np.where(total > 0, maximum, np.nan)

    def value_at(rank, *, in_units=False):
        if not in_units:
            rank = rank / units
        in_negatives = rank < negative_weight
        in_zeros = ~in_negatives & (rank < negative_weight + zero_weight)
        target = base + rank - np.where(in_negatives, 0.0, zero_weight)
        index = np.searchsorted(cumulative[1:], target, side="right")
        index = np.clip(index, begin, np.maximum(end - 1, begin))
        if len(values):
            found = values[np.clip(index, 0, len(values) - 1)]
        else:
            found = np.zeros_like(target)
        found = np.where(in_zeros, implicit, found)
        return np.where(total > 0, found, np.nan)

    value_at.total_in_units = total
    return value_at, reported_total, maximum


def ragged_order_statistics(
    values, weights, starts, zero_weight, levels, count=None, zero_value=None
):
    """Quantile brackets of columns stored as sorted, weighted segments.

    Parameters
    ----------
    values, weights, starts, zero_weight, zero_value
        As for :func:`ragged_value_finder`.
    levels : ndarray of shape (n_levels,)
    count : ndarray of shape (n_features,), default=None
        Number of values of positive weight per column, implicit zeros
        included (see :func:`virtual_ranks`); None when unweighted.

    Returns
    -------
    lower, upper, fraction : ndarray of shape (n_levels, n_features)
    total : ndarray of shape (n_features,)
        Weight of each column's non-missing values, zeros included.
    """
    value_at, total, maximum = ragged_value_finder(
        values, weights, starts, zero_weight, zero_value
    )
    # Ranks in the units the values are looked up in (exact integers where
    # the weights are commensurate).
    lower_rank, upper_rank, fraction, at_maximum = virtual_ranks(
        value_at.total_in_units, levels, count
    )

    def bracket(rank):
        return np.where(at_maximum, maximum, value_at(rank, in_units=True))

    return bracket(lower_rank), bracket(upper_rank), fraction, total


def _select(column, ranks):
    """Values at the given sorted ranks of ``column`` (which is reordered).

    Each step partitions around one rank with a single-kth ``partition`` (numpy's
    fast path; several kth at once take a much slower one) and recurses into the
    two sides; a rank at either end of a part is its minimum or maximum.
    """
    found = {}
    pending = [(0, len(column), list(ranks))]
    while pending:
        start, stop, wanted = pending.pop()
        part = column[start:stop]
        if wanted == [start]:
            found[start] = part.min()
            continue
        if wanted == [stop - 1]:
            found[stop - 1] = part.max()
            continue
        pivot = wanted[len(wanted) // 2]
        part.partition(pivot - start)
        found[pivot] = part[pivot - start]
        below = [r for r in wanted if r < pivot]
        above = [r for r in wanted if r > pivot]
        if below:
            pending.append((start, pivot, below))
        if above:
            pending.append((pivot + 1, stop, above))
    return found


def _transposed_columns(X, columns, buffers=None):
    """A C-ordered copy of ``X[:, columns].T`` in X's dtype, copied in blocks.

    ``buffers`` (a ``threading.local``) lends each thread one reusable buffer:
    allocating a fresh one per group makes the kernel map and zero new pages
    every time, which costs as much as the copy.
    """
    start, stop = columns.start, columns.stop
    shape = (stop - start, X.shape[0])
    if buffers is None:
        out = np.empty(shape, dtype=X.dtype)
    else:
        held = getattr(buffers, "array", None)
        if held is None or held.size < shape[0] * shape[1]:
            held = buffers.array = np.empty(shape[0] * shape[1], dtype=X.dtype)
        out = held[: shape[0] * shape[1]].reshape(shape)
    step = max(256, (1 << 16) // max(1, stop - start))
    for row in range(0, X.shape[0], step):
        out[:, row : row + step] = X[row : row + step, start:stop].T
    return out


def _drop_missing(column):
    """``(column without NaN, sum of the column)``.

    A finite sum proves the column NaN-free without a second full pass (an
    overflowing sum only sends the column to the exact check below); the sum,
    returned, also flags the columns that may hold infinity.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        total = column.sum(dtype=np.float64)
    if np.isfinite(total):
        return column, total
    missing = np.isnan(column)
    return (column[~missing] if missing.any() else column), total


def _dense_group(X, columns, levels, buffers):
    """Order statistics of a group of dense columns, unweighted."""
    block = _transposed_columns(X, columns, buffers)
    present, value_sum = zip(*map(_drop_missing, block), strict=True)
    total = np.array([column.shape[0] for column in present], dtype=np.float64)
    low_rank, high_rank, _, at_maximum = virtual_ranks(total, levels)
    last = total[None, :] - 1
    low_rank = np.where(at_maximum, last, low_rank).astype(np.intp)
    high_rank = np.where(at_maximum, last, high_rank).astype(np.intp)
    lower = np.full(low_rank.shape, np.nan)
    upper = lower.copy()
    for j, column in enumerate(present):
        if column.shape[0]:
            wanted = sorted(set(low_rank[:, j].tolist() + high_rank[:, j].tolist()))
            found = _select(column, wanted)
            lower[:, j] = [found[r] for r in low_rank[:, j].tolist()]
            upper[:, j] = [found[r] for r in high_rank[:, j].tolist()]
    return lower, upper, total, np.array(value_sum), total


def _weighted_dense_group(X, columns, levels, sample_weight, buffers):
    """Order statistics of a group of dense columns, rows weighted."""
    block = _transposed_columns(X, columns, buffers)
    positive = sample_weight > 0
    segments, weights, lengths, value_sum = [], [], [], []
    for column in block:
        keep = positive & ~np.isnan(column)
        kept = column[keep]
        with np.errstate(over="ignore", invalid="ignore"):
            value_sum.append(kept.sum(dtype=np.float64))
        order = np.argsort(kept)
        segments.append(kept[order].astype(np.float64))
        weights.append(sample_weight[keep][order])
        lengths.append(len(kept))
    starts = np.concatenate(([0], np.cumsum(lengths)))
    count = np.array(lengths, dtype=np.float64)
    lower, upper, _, total = ragged_order_statistics(
        np.concatenate(segments),
        np.concatenate(weights),
        starts,
        np.zeros(block.shape[0]),
        levels,
        count,
    )
    return lower, upper, total, np.array(value_sum), count


def _join_column_groups(results):
    """Concatenate the per-column arrays of consecutive column groups."""
    return tuple(np.concatenate(parts, axis=-1) for parts in zip(*results, strict=True))


def _dense_column_groups(n_rows, n_cols, itemsize):
    """The groups of columns of a dense array selected one after another."""
    width = max(1, min(n_cols, _GROUP_BYTES // max(1, n_rows * itemsize)))
    if width >= 8:
        width -= width % 8  # whole cache lines per row when copying a group
    return [slice(j, min(j + width, n_cols)) for j in range(0, n_cols, width)]


def _selected_order_statistics(X, levels, sample_weight, *, report=True):
    """Order statistics of dense columns, each column copied and selected in
    (the groups of columns reported as units of work when ``report``)."""
    groups = _dense_column_groups(*X.shape, X.itemsize)

    buffers = threading.local()

    def work(group):
        if sample_weight is None:
            return _dense_group(X, group, levels, buffers)
        return _weighted_dense_group(X, group, levels, sample_weight, buffers)

    # np.partition, argsort and the block copies release the GIL.
    results = iter_tasks(work, groups, parallel=X.size >= _PARALLEL_MIN_VALUES)
    if report:
        results = reported_units(results, "quantiles-columns", len(groups))
    return _join_column_groups(results)


# ----------------------------------------------------------- bracketing selection
#
# Dense columns of many rows are not copied and selected in whole: a sample of
# rows places, per column, a window [low, high] of values around each level's
# ranks; one pass over row blocks counts the values below every window and
# gathers those inside (a few percent of the data); the wanted ranks are then
# selected among the gathered values. The result is exact whatever the
# sample: a rank that falls outside every window (a sample unlike the data)
# sends its column to the direct selection.


def _brackets_apply(n_rows, dtype):
    """Whether :func:`_bracketed_order_statistics` computes these columns."""
    return n_rows >= _BRACKET_MIN_ROWS and dtype.kind == "f"


def _sample_windows(X, levels):
    """Disjoint windows around each level's ranks, from a sample of rows.

    Returns ``(low, high, share)`` of shape ``(n_windows, n_columns)``: the
    windows' bounds (NaN pads the windows a column does not use) and the
    share of the sample each window holds (an estimate of its size).
    """
    n_rows, n_columns = X.shape
    size = max(1, min(_SAMPLE_ROWS, n_rows // 4))
    rng = np.random.default_rng(_SAMPLE_SEED)
    rows = np.sort(rng.integers(0, n_rows, size))
    width = max(1, BLOCK_ELEMENTS // size)
    groups = [slice(j, min(j + width, n_columns)) for j in range(0, n_columns, width)]
    parts = map_tasks(lambda group: _group_windows(X[rows, group].T, levels), groups)
    n_windows = max(low.shape[0] for low, _, _ in parts)
    low = np.full((n_windows, n_columns), np.nan)
    high = low.copy()
    share = np.zeros(low.shape)
    for group, (group_low, group_high, group_share) in zip(groups, parts, strict=True):
        used = group_low.shape[0]
        low[:used, group], high[:used, group] = group_low, group_high
        share[:used, group] = group_share
    return low, high, share


def _group_windows(sample, levels):
    """:func:`_sample_windows` of a group of columns, ``sample`` holding
    their sampled values, one column per row."""
    sample = np.sort(sample, axis=1)
    n_columns, size = sample.shape
    present = np.count_nonzero(~np.isnan(sample), axis=1)
    safe = np.maximum(present, 1).astype(np.float64)
    last = present - 1
    column = np.arange(n_columns)
    unique_levels = np.unique(levels)
    low = np.full((len(unique_levels), n_columns), np.nan)
    high = low.copy()
    window = np.zeros(n_columns, dtype=np.int64)
    for i, q in enumerate(unique_levels):
        # Sample positions _BRACKET_Z standard deviations of the sample's
        # rank error either side of the level, with room for rank r + 1.
        spread = _BRACKET_Z * np.sqrt(np.maximum(q * (1 - q), 1 / safe) / safe)
        first = np.floor((q - spread) * last).astype(np.int64) - 1
        stop = np.ceil((q + spread) * last).astype(np.int64) + 2
        first = np.where(present > 0, first, -1)
        stop = np.where(present > 0, stop, size)
        lo = np.where(first >= 0, sample[column, np.clip(first, 0, size - 1)], -np.inf)
        hi = np.where(stop <= last, sample[column, np.clip(stop, 0, size - 1)], np.inf)
        if i:
            # Windows that meet (in value: a tie joins them too) are merged.
            window += lo > high[window, column]
        fresh = np.isnan(low[window, column])
        low[window, column] = np.where(fresh, lo, low[window, column])
        high[window, column] = hi
    used = int(window.max(initial=0)) + 1
    low, high = low[:used], high[:used]
    # The sample's values inside each window, ties with its bounds included.
    share = np.zeros(low.shape)
    for w in range(used):
        inside = (sample >= low[w, :, None]) & (sample <= high[w, :, None])
        share[w] = np.count_nonzero(inside, axis=1) / safe
    return low, high, share


def _window_bounds(low, high):
    """``(lows, ends)`` as :func:`sknorm._kernels.quantiles.count_brackets`
    takes them: bound 0 is the empty ``[-inf, -inf)``, then each window's low
    bound and the float after its high bound (NaN, which no value reaches,
    after ``+inf``), NaN up to a multiple of 4 bounds."""
    n_windows, n_columns = low.shape
    n_bounds = 4 * (n_windows // 4 + 1)
    lows = np.full((n_bounds, n_columns), np.nan)
    ends = lows.copy()
    lows[0] = ends[0] = -np.inf
    lows[1 : n_windows + 1] = low
    with np.errstate(invalid="ignore"):
        ends[1 : n_windows + 1] = np.where(
            np.isposinf(high), np.nan, np.nextafter(high, np.inf)
        )
    return lows, ends


def _window_capacity(share, n_rows):
    """Room for the values a task of ``n_rows`` rows finds inside each window:
    the share the sample saw, with a margin (a task that finds more is run
    again with room for what it found)."""
    expected = share * n_rows
    return (1.25 * expected + 4 * np.sqrt(expected) + 16).astype(np.int64)


def _count_block_numpy(part, lows, ends, counts, filled, sums, values, segments):
    """The numpy path of :func:`sknorm._kernels.quantiles.count_brackets` on
    one block, gathered values appended to ``values`` with the segment
    ``window * n_columns + column`` of each to ``segments``."""
    with np.errstate(over="ignore", invalid="ignore"):
        sums += part.sum(axis=0, dtype=np.float64)
    for b in range(filled.shape[0] + 1):
        reached = part >= lows[b]
        counts[b] += np.count_nonzero(reached, axis=0)
        if b:
            inside = reached & ~(part >= ends[b])
            filled[b - 1] += np.count_nonzero(inside, axis=0)
            row, column = np.nonzero(inside)
            values.append(part[row, column])
            segments.append((b - 1) * part.shape[1] + column)


def _gathered_segments(X, lows, ends, share, plan, kernels):
    """One pass over the tasks of ``plan``: the counts of values at or above
    each low bound and inside each window (see
    :func:`sknorm._kernels.quantiles.count_brackets`), the column sums, and
    the values inside each window grouped by segment
    (``values[starts[g]:starts[g + 1]]``, ``g = window * n_columns + column``).
    """
    n_columns = lows.shape[1]
    n_segments = share.size
    contiguous = X.flags.c_contiguous

    def blocks(rows):
        # The kernel reads rows; other layouts are copied a block at a time.
        if contiguous:
            yield X[rows]
        else:
            for block in plan.blocks(rows):
                yield np.ascontiguousarray(X[block])

    if kernels is None:

        def run(rows):
            counts = np.zeros(lows.shape, dtype=np.int64)
            filled = np.zeros(share.shape, dtype=np.int64)
            sums = np.zeros(n_columns)
            values, segments = [np.zeros(0, X.dtype)], [np.zeros(0, np.intp)]
            for part in plan.blocks(rows):
                _count_block_numpy(
                    X[part], lows, ends, counts, filled, sums, values, segments
                )
            values, segments = np.concatenate(values), np.concatenate(segments)
            return counts, sums, values, segments, filled

    else:
        capacity = _window_capacity(share, plan.task_rows)

        def run(rows, capacity=capacity):
            offsets = np.concatenate(([0], np.cumsum(capacity.ravel())))
            buffer = np.empty(int(offsets[-1]), dtype=X.dtype)
            offsets = offsets[:-1].reshape(capacity.shape)
            counts = np.zeros(lows.shape, dtype=np.int64)
            filled = np.zeros(capacity.shape, dtype=np.int64)
            sums = np.zeros(n_columns)
            for part in blocks(rows):
                kernels.count_brackets(
                    part, lows, ends, capacity, offsets, buffer, counts, filled, sums
                )
            if np.any(filled > capacity):
                # More than the sample foretold (sorted data, say): again,
                # with room for exactly what this task holds.
                return run(rows, filled)
            return counts, sums, buffer, offsets.ravel(), filled

    results = map_tasks(run, reported_units(plan.tasks(), "quantiles-rows"))
    counts = sum(r[0] for r in results)
    sums = np.zeros(n_columns)
    for r in results:
        sums += r[1]  # in task order: the same sums whatever the threads
    filled = sum(r[-1] for r in results)
    sizes = filled.ravel()
    starts = np.concatenate(([0], np.cumsum(sizes)))
    if kernels is None:
        segments = np.concatenate([r[3] for r in results])
        keys = segments.astype(np.uint16) if n_segments <= 1 << 16 else segments
        values = np.concatenate([r[2] for r in results])
        values = values[np.argsort(keys, kind="stable")]
    else:
        values = np.empty(int(starts[-1]), dtype=X.dtype)
        position = starts[:-1].copy()
        for _, _, buffer, offsets, part in results:
            kernels.append_segments(buffer, offsets, part.ravel(), position, values)
    return counts, filled, sums, values, starts


def _bracketed_order_statistics(X, levels):
    """Order statistics of unweighted dense columns by bracketing (see above).

    Returns ``(lower, upper, total, value_sum, count)`` as
    :func:`_selected_order_statistics` does, the same values.
    """
    n_rows, n_columns = X.shape
    low, high, share = _sample_windows(X, levels)
    # Columns whose windows hold much of the data (ties, many levels) are
    # selected directly: gathering them would copy most of the column.
    direct = share.sum(axis=0) > _BRACKET_MAX_SHARE
    low[:, direct], high[:, direct], share[:, direct] = np.nan, np.nan, 0.0
    kernels = _kernel_module() if X.dtype in (np.float32, np.float64) else None
    counts, sizes, value_sum, values, starts = _gathered_segments(
        X, *_window_bounds(low, high), share, BlockPlan(n_rows, n_columns), kernels
    )
    total = counts[0].astype(np.float64)
    low_rank, high_rank, _, at_maximum = virtual_ranks(total, levels)
    last = total[None, :] - 1
    ranks = np.concatenate(
        (np.where(at_maximum, last, low_rank), np.where(at_maximum, last, high_rank))
    ).astype(np.int64)
    # Rank of the first value of each window, and the window of each rank.
    first = counts[0] - counts[1 : low.shape[0] + 1]
    window = np.full(ranks.shape, -1)
    for w in range(low.shape[0]):
        local = ranks - first[w]
        window = np.where((local >= 0) & (local < sizes[w]), w, window)
    found = np.full(ranks.shape, np.nan)
    level_of, column_of = np.nonzero(window >= 0)
    segment = window[level_of, column_of] * n_columns + column_of
    rank = ranks[level_of, column_of] - first[window[level_of, column_of], column_of]
    order = np.lexsort((rank, segment))
    segment, rank = segment[order], rank[order]
    level_of, column_of = level_of[order], column_of[order]
    bounds = np.flatnonzero(np.diff(segment, prepend=-1, append=-1))
    for begin, end in itertools.pairwise(bounds):
        g = segment[begin]
        picked = _select(
            values[starts[g] : starts[g + 1]], sorted(set(rank[begin:end].tolist()))
        )
        found[level_of[begin:end], column_of[begin:end]] = [
            picked[r] for r in rank[begin:end].tolist()
        ]
    missed = np.flatnonzero(np.any(window < 0, axis=0) & (total > 0))
    n_levels = len(levels)
    lower, upper = found[:n_levels], found[n_levels:]
    if missed.size:
        # The sample misled these columns (or they were left to it): select
        # them directly.
        lower[:, missed], upper[:, missed], *_ = _selected_order_statistics(
            X[:, missed], levels, None, report=False
        )
    return lower, upper, total, value_sum, total


def _dense_order_statistics(X, levels, sample_weight):
    if sample_weight is None:
        from ._many_levels import many_level_order_statistics, many_levels_apply

        if many_levels_apply(levels):
            return many_level_order_statistics(X, levels)
    if sample_weight is None and _brackets_apply(X.shape[0], X.dtype):
        return _bracketed_order_statistics(X, levels)
    return _selected_order_statistics(X, levels, sample_weight)


def _kernel_module():
    return kernels("quantiles")


def _sparse_entry_columns(X):
    """The column of each stored entry of a CSR or CSC matrix."""
    if X.format == "csr":
        return X.indices
    return np.repeat(np.arange(X.shape[1], dtype=np.int32), np.diff(X.indptr))


def _counted_sparse_order_statistics(X, levels, implicit_zeros=True):
    """Order statistics of unweighted sparse columns in O(nnz), no sort of
    what is not needed.

    The stored values are counted by sign; a rank falling among a column's
    zeros (implicit or stored; stored only when not ``implicit_zeros``) is
    0, and only the columns with a rank among their non-zero values have
    those gathered, and their ranks selected (compiled) or the values
    sorted. Returns ``(lower, upper, total, count,
    value_sum)``.
    """
    X = X if X.format in ("csr", "csc") else X.tocsr()
    n_rows, n_columns = X.shape
    data, columns = X.data, _sparse_entry_columns(X)
    kernels = _kernel_module()
    if kernels is not None:
        negative, positive, nan, value_sum = kernels.sparse_counts(
            data, columns, n_columns
        )
    else:
        missing = np.isnan(data)
        nan = np.bincount(columns[missing], minlength=n_columns)
        negative = np.bincount(columns[data < 0], minlength=n_columns)
        positive = np.bincount(columns[data > 0], minlength=n_columns)
        with np.errstate(over="ignore", invalid="ignore"):
            value_sum = np.bincount(
                columns[~missing], weights=data[~missing], minlength=n_columns
            )
    if implicit_zeros:
        n_values = n_rows
    else:  # the stored values only
        n_values = np.bincount(columns, minlength=n_columns)
    zeros = n_values - negative - positive - nan  # implicit and stored zeros
    total = (n_values - nan).astype(np.float64)
    with np.errstate(invalid="ignore"):
        value_sum = np.where(nan > 0, np.nan, value_sum)
    low_rank, high_rank, _, at_maximum = virtual_ranks(total, levels)
    last = total[None, :] - 1
    ranks = np.concatenate(
        (np.where(at_maximum, last, low_rank), np.where(at_maximum, last, high_rank))
    ).astype(np.int64)
    # Ranks among the column's non-zero values, sorted: negatives first.
    in_zeros = (ranks >= negative) & (ranks < negative + zeros)
    local = np.where(ranks < negative, ranks, ranks - zeros)
    found = np.where(in_zeros, 0.0, np.nan)
    needed = ~in_zeros & (ranks >= 0) & (total > 0)
    wanted = needed.any(axis=0)
    if wanted.any():
        sizes = np.where(wanted, negative + positive, 0)
        starts = np.concatenate(([0], np.cumsum(sizes)))
        if kernels is not None:
            values = np.empty(int(starts[-1]), dtype=data.dtype)
            kernels.sparse_gather(data, columns, wanted, starts, values)
        else:
            keep = wanted[columns] & ((data < 0) | (data > 0))
            values = data[keep][np.argsort(columns[keep], kind="stable")]
        column_of, level_of = np.nonzero(needed.T)  # by column
        ranks = local[level_of, column_of]
        if kernels is None:
            _sort_segments(values, starts)
            found[level_of, column_of] = values[starts[column_of] + ranks]
        else:
            found[level_of, column_of] = _selected_in_segments(
                values, starts, column_of, ranks, kernels
            )
    n_levels = len(levels)
    return found[:n_levels], found[n_levels:], total, total, value_sum


def _sort_segments(values, starts):
    """Sort ``values[starts[j]:starts[j + 1]]`` for each column ``j``, in
    place."""
    n_columns = len(starts) - 1
    owner = np.repeat(np.arange(n_columns), np.diff(starts))
    values[:] = values[sort_by_column_then_value(values, owner, n_columns)]


def _selected_in_segments(values, starts, column_of, ranks, kernels):
    """The values of ``ranks`` within the segments of their columns
    ``column_of`` (sorted by column), selected without sorting the segments
    (:func:`sknorm._kernels.quantiles.select_segments`), tasks of columns in
    parallel. ``values`` is reordered."""
    n_columns = len(starts) - 1
    order = np.lexsort((ranks, column_of))
    sorted_ranks = ranks[order].astype(np.int64)
    rank_starts = np.searchsorted(column_of[order], np.arange(n_columns + 1))
    # Tasks of whole columns holding about _PARALLEL_MIN_VALUES / 8 values.
    bounds = np.searchsorted(
        starts, np.arange(0, starts[-1], _PARALLEL_MIN_VALUES // 8), side="right"
    )
    bounds = np.unique(np.concatenate(([0], bounds - 1, [n_columns])))
    out = np.empty(len(order))
    map_tasks(
        lambda task: kernels.select_segments(
            values, starts, rank_starts, sorted_ranks, out, *task
        ),
        list(itertools.pairwise(bounds.tolist())),
        parallel=starts[-1] >= _PARALLEL_MIN_VALUES,
    )
    found = np.empty_like(out)
    found[order] = out
    return found


def _sparse_order_statistics(
    X, levels, sample_weight, zero_value=None, implicit_zeros=True
):
    X = X.tocsc() if X.format != "csc" else X
    n_cols = X.shape[1]
    indptr = X.indptr
    zero_weight = implicit_zero_weight(X, sample_weight)
    # Implicit zeros in rows of positive weight count as values.
    if not implicit_zeros:
        zero_weight = zero_count = np.zeros(n_cols)
    elif sample_weight is None:
        zero_count = zero_weight
    else:
        positive = sample_weight > 0
        column_of = np.repeat(np.arange(n_cols), np.diff(indptr))
        stored_positive = np.bincount(
            column_of, weights=positive[X.indices], minlength=n_cols
        )
        zero_count = np.count_nonzero(positive) - stored_positive
    results = []
    first = 0
    while first < n_cols:
        # Blocks of whole columns holding about _SPARSE_BLOCK_ENTRIES entries.
        limit = indptr[first] + _SPARSE_BLOCK_ENTRIES
        last = int(np.searchsorted(indptr, limit, side="right")) - 1
        last = min(max(last, first + 1), n_cols)
        span = slice(indptr[first], indptr[last])
        values = X.data[span]
        columns = np.repeat(np.arange(last - first), np.diff(indptr[first : last + 1]))
        weights = (
            np.ones(len(values))
            if sample_weight is None
            else sample_weight[X.indices[span]]
        )
        keep = ~np.isnan(values) & (weights > 0)
        if not keep.all():
            values, columns, weights = values[keep], columns[keep], weights[keep]
        order = sort_by_column_then_value(values, columns, last - first)
        counts = np.bincount(columns, minlength=last - first)
        starts = np.concatenate(([0], np.cumsum(counts)))
        count = counts + zero_count[first:last]
        lower, upper, _, total = ragged_order_statistics(
            values[order].astype(np.float64),
            weights[order],
            starts,
            zero_weight[first:last],
            levels,
            count,
            None if zero_value is None else zero_value[first:last],
        )
        results.append((lower, upper, total, count))
        first = last
    if not results:
        empty = np.empty((len(levels), 0))
        return empty, empty.copy(), np.zeros(0), np.zeros(0)
    return _join_column_groups(results)


def _sparse_value_sum(X):
    """Sum of each column's stored values (not finite where NaN or inf is)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(X.sum(axis=0, dtype=np.float64)).reshape(-1)


#: Rows of absolute deviations computed at once (a cache-sized block).
_DEVIATION_BLOCK_ELEMENTS = 1 << 16


def absolute_deviations(X, center):
    """``|X - center|`` per column, in float64, X left untouched.

    Dense X gives a new array, filled block by block of rows (no temporary of
    X's size besides it). Sparse X gives ``(D, zero_value)``: a CSC matrix of
    the stored entries' deviations and, per column, the deviation
    ``|0 - center|`` of its implicit zeros, which stay implicit (see the
    ``zero_value`` of :func:`ragged_value_finder`). NaN stays NaN.
    """
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    if center.shape[0] != X.shape[1]:
        raise ValueError(
            f"center has {center.shape[0]} values for {X.shape[1]} features."
        )
    if is_sparse(X):
        from scipy import sparse

        X = X.tocsc()
        columns = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))
        data = np.abs(X.data.astype(np.float64) - center[columns])
        D = sparse.csc_matrix((data, X.indices.copy(), X.indptr.copy()), shape=X.shape)
        return D, np.abs(center)
    X = np.asarray(X)
    D = np.empty(X.shape, dtype=np.float64)
    step = max(1, _DEVIATION_BLOCK_ELEMENTS // max(X.shape[1], 1))
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        np.subtract(X[rows], center, out=D[rows])
        np.abs(D[rows], out=D[rows])
    return D


class Quantiles(Statistic):
    """Exact quantiles of each column at chosen levels, NaN ignored.

    The values are numpy's linear-interpolation quantiles (the same as
    ``np.nanpercentile`` unweighted; with ``sample_weight``, those of the data
    with each row repeated as often as its *relative* weight: the weights are
    rescaled to mean 1 over the rows of positive weight, so only their ratios
    matter; see the module docstring). Implicit zeros of
    sparse input count as values, as in the dense matrix.

    The statistic keeps, per level and column, the two order statistics that
    bracket the level and the interpolation fraction, so both the interpolated
    quantile and ``np.median``'s midpoint can be reproduced bit for bit.

    Exact quantiles cannot be merged from summaries of the parts: :meth:`merge`
    raises. Use :class:`~sknorm.stats.QuantileSketch` for chunked, streamed or
    distributed data.

    Parameters
    ----------
    lower, upper : ndarray of shape (n_levels, n_features)
        Order statistics bracketing each level.
    fraction : ndarray of shape (n_levels, n_features)
        Interpolation weight of ``upper``.
    weight_sum : ndarray of shape (n_features,)
        Weight (count when unweighted) of each column's non-missing values.
    levels : ndarray of shape (n_levels,)
        Quantile levels in [0, 1].

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import Quantiles
    >>> X = np.array([[1.0, 5.0], [2.0, np.nan], [4.0, 1.0], [8.0, 3.0]])
    >>> q = Quantiles.from_data(X, levels=[0.25, 0.5, 0.75])
    >>> q.values()
    array([[1.75, 2.  ],
           [3.  , 3.  ],
           [5.  , 4.  ]])
    >>> q.median()
    array([3., 3.])
    >>> Quantiles.from_data(X[:, :1], sample_weight=[1, 0, 0, 3]).median()
    array([4.5])
    >>> Quantiles.from_data(X[:, :1], sample_weight=[0.01, 0, 0, 0.03]).median()
    array([4.5])
    """

    _fields = ("lower", "upper", "fraction", "weight_sum", "levels")
    _location_fields = ("lower", "upper")
    _shared_fields = ("levels",)
    reveals_infinity = True

    mergeable = False

    @classmethod
    def from_data(
        cls,
        X,
        sample_weight=None,
        *,
        levels=(0.25, 0.5, 0.75),
        center=None,
        implicit_zeros=True,
    ):
        """Compute exact quantiles of a dense or CSR/CSC matrix.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            float32 input is selected in float32 (never copied to float64).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights; only their ratios matter.
        levels : array-like of float in [0, 1], default=(0.25, 0.5, 0.75)
            Quantile levels to compute.
        center : array-like of shape (n_features,), default=None
            If given, the quantiles are those of the absolute deviations
            ``|X - center|`` (see :func:`absolute_deviations`: X is not
            modified, and the implicit zeros of sparse X, of deviation
            ``|center|``, are counted without being stored; dense
            deviations are one new float64 array of X's size). The median of
            the deviations from the median is the median absolute deviation.
        implicit_zeros : bool, default=True
            Whether the implicit zeros of sparse X are values (as in the
            dense matrix). False gives the quantiles of each column's stored
            values only (stored zeros included; scikit-learn's
            ``ignore_implicit_zeros``); a column storing none has no values
            (NaN). No effect on dense X.

        Returns
        -------
        Quantiles
        """
        levels = _check_levels(levels)
        if sample_weight is not None:
            X, sample_weight, factor = equal_weights_as_rows(X, sample_weight)
        else:
            factor = 1.0
        if center is not None and is_sparse(X):
            D, zero_value = absolute_deviations(X, center)
            lower, upper, total, count = _sparse_order_statistics(
                D, levels, sample_weight, zero_value, implicit_zeros
            )
            value_sum = _sparse_value_sum(D)
        elif center is not None:
            lower, upper, total, value_sum, count = _dense_order_statistics(
                absolute_deviations(X, center), levels, sample_weight
            )
        elif is_sparse(X) and sample_weight is None:
            lower, upper, total, count, value_sum = _counted_sparse_order_statistics(
                X, levels, implicit_zeros
            )
        elif is_sparse(X):
            lower, upper, total, count = _sparse_order_statistics(
                X, levels, sample_weight, implicit_zeros=implicit_zeros
            )
            value_sum = _sparse_value_sum(X)
        else:
            X = np.asarray(X)
            if X.dtype.kind != "f":
                X = X.astype(np.float64)
            lower, upper, total, value_sum, count = _dense_order_statistics(
                X, levels, sample_weight
            )
        _, _, fraction, _ = virtual_ranks(total, levels, count)
        if factor != 1.0:
            with np.errstate(over="ignore"):
                total = total * factor  # in the caller's units
        quantiles = cls(
            lower=lower.astype(np.float64),
            upper=upper.astype(np.float64),
            fraction=fraction,
            weight_sum=total,
            levels=levels,
        )
        # Not part of the state: only a fit that just computed it looks at it.
        quantiles._value_sum = value_sum
        return quantiles

    @classmethod
    def work_units(cls, X, sample_weight=None, *, levels=(0.25, 0.5, 0.75), **options):
        """The tasks of rows of the bracketing pass over dense columns, or the
        groups of columns selected (or sorted, for many levels) one after
        another (a sparse matrix is sorted in blocks too small to report)."""
        from ._many_levels import many_levels_apply

        if is_sparse(X):
            return 0
        X = np.asarray(X)
        dtype = X.dtype if X.dtype.kind == "f" else np.dtype(np.float64)
        n_rows = rows_kept_by_weights(X.shape[0], sample_weight)
        weighted = sample_weight is not None and n_rows == X.shape[0]
        if weighted:
            positive = np.asarray(sample_weight)
            weighted = bool(np.any(positive != positive[0]))
        many = many_levels_apply(_check_levels(levels))
        if not weighted and not many and _brackets_apply(n_rows, dtype):
            return len(BlockPlan(n_rows, X.shape[1]).tasks())
        return len(_dense_column_groups(n_rows, X.shape[1], dtype.itemsize))

    def nonfinite_columns(self):
        """Columns that may hold +/-inf: those whose sum of values is not finite
        (NaN, infinity or overflow; all of them when not computed from data)."""
        value_sum = getattr(self, "_value_sum", None)
        if value_sum is None:
            return np.ones(self.n_features, dtype=bool)
        return ~np.isfinite(value_sum)

    def merge(self, other):
        """Not possible: exact quantiles of a union need all of its data.

        Raises
        ------
        TypeError
            Always; use :class:`~sknorm.stats.QuantileSketch` to merge.
        """
        raise TypeError(
            "exact Quantiles cannot be merged: the quantiles of a union are not "
            "a function of the parts' quantiles. Use QuantileSketch, whose merge "
            "keeps a bounded rank error, for chunked or streamed data."
        )

    def _level_index(self, level):
        matches = np.flatnonzero(self.levels == level)
        if not matches.size:
            raise ValueError(
                f"level {level} was not computed; levels are {self.levels.tolist()}."
            )
        return int(matches[0])

    def values(self):
        """Interpolated quantiles, shape ``(n_levels, n_features)``."""
        return lerp(self.lower, self.upper, self.fraction)

    def value(self, level, unit=None):
        """Interpolated quantile at one computed ``level``, per column.

        With ``unit`` (per column), the quantile divided by ``2**unit``: the
        order statistics are scaled (exactly) before they are interpolated,
        so that a quantile below the normal range keeps all its bits.
        """
        i = self._level_index(level)
        lower, upper = _in_units(self.lower[i], unit), _in_units(self.upper[i], unit)
        return lerp(lower, upper, self.fraction[i])

    def median(self, unit=None):
        """Per-column median as ``np.nanmedian`` computes it (level 0.5 needed);
        with ``unit``, divided by ``2**unit`` as in :meth:`value`."""
        i = self._level_index(0.5)
        lower, upper = _in_units(self.lower[i], unit), _in_units(self.upper[i], unit)
        fraction = self.fraction[i]
        return np.where(
            fraction == 0.5, midpoint(lower, upper), lerp(lower, upper, fraction)
        )


def _in_units(values, unit):
    """``values / 2**unit`` (exact where the result is normal), or ``values``
    where ``unit`` is None."""
    if unit is None:
        return values
    with np.errstate(over="ignore", under="ignore"):
        return np.ldexp(values, -np.asarray(unit, np.int64))
