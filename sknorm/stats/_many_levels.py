"""Order statistics of dense columns at many ranks: quantiles at many levels.

The bracketing selection of :mod:`sknorm.stats.quantiles` suits a few
levels: with many (QuantileTransformer's 1000, whose ranks lie a thousandth
of the column apart) its windows cover whole columns, and selecting 2,000
ranks one partition at a time reads each column a dozen times. Here each
column is instead

* with the compiled kernels, and at least ``_BUCKET_MIN_ROWS`` rows,
  *bucketed*: 63 splitters taken from a sorted sample of rows cut the
  column into 64 coarse buckets of about equal size, each cut into 64 fine
  buckets of equal width; one pass finds each value's bucket (a branchless
  search of a 6-level tree, then a linear interpolation,
  :func:`sknorm._kernels.quantiles.bucket_values`: half the time of a
  12-level search) and counts the buckets, so the bucket of every wanted
  rank and its rank within the bucket are known; the values are grouped by
  bucket and each wanted rank is selected within its bucket, about ``n /
  4096`` values (:func:`sknorm._kernels.quantiles.select_bucketed`). The
  sample only decides how even the buckets are: the counts make the result
  exact whatever it drew;
* otherwise sorted (numpy's SIMD sort), then indexed.

Both give the exact order statistics, NaN ignored. Columns are copied in
groups (transposed, each column contiguous: the compiled pass copies as it
buckets), in parallel over tasks of rows, and the groups' columns are then
processed in parallel on sknorm's thread pool.
"""

import itertools
import threading

import numpy as np

from .._callbacks import reported_units
from .._kernels import kernels
from .._parallel import map_tasks, n_threads
from .quantiles import (
    _PARALLEL_MIN_VALUES,
    _dense_column_groups,
    virtual_ranks,
)

__all__ = ["many_level_order_statistics", "many_levels_apply"]

#: More distinct levels than this inside (0, 1) take this module's path: the
#: bracketing selection's windows (a few percent of a column each around
#: each level) would cover most of the column.
MANY_LEVELS = 8
#: Fewest rows for which a column is bucketed rather than sorted.
_BUCKET_MIN_ROWS = 1 << 16
#: Rows sampled for the splitters: four per bucket.
_SAMPLE_ROWS = 1 << 14
_SAMPLE_SEED = 0x9E37
#: Rows of a group copied (and bucketed) by one task.
_ROW_TASK = 1 << 17


def many_levels_apply(levels):
    """Whether quantiles at ``levels`` take this module's path."""
    inside = np.unique(levels[(levels > 0) & (levels < 1)])
    return inside.shape[0] > MANY_LEVELS


def _eytzinger_order(depth):
    """Where the ``i``-th smallest of ``2**depth - 1`` splitters sits in an
    Eytzinger tree (``tree[1]`` the root, children at ``2 i``, ``2 i + 1``):
    an in-order walk of the tree."""
    size = 1 << depth
    order = np.empty(size - 1, dtype=np.intp)
    filled = 0
    stack, node = [], 1
    while stack or node < size:
        while node < size:
            stack.append(node)
            node *= 2
        node = stack.pop()
        order[filled] = node
        filled += 1
        node = 2 * node + 1
    return order


def many_level_order_statistics(X, levels, *, report=True):
    """Order statistics bracketing ``levels`` in each column of dense X,
    unweighted, NaN ignored.

    Returns ``(lower, upper, total, value_sum, count)`` as the selection of
    :mod:`sknorm.stats.quantiles` does: the same values.
    """
    n_rows, n_columns = X.shape
    compiled = kernels("quantiles")
    bucketed = (
        compiled is not None
        and n_rows >= _BUCKET_MIN_ROWS
        and X.dtype in (np.float32, np.float64)
    )
    groups = _dense_column_groups(n_rows, n_columns, X.itemsize)
    parallel = X.size >= _PARALLEL_MIN_VALUES
    plan = _Plan(X, levels, compiled if bucketed else None)
    results = (plan.group(group, parallel) for group in groups)
    if report:
        results = reported_units(results, "quantiles-columns", len(groups))
    parts = list(results)
    if not parts:
        empty = np.empty((len(levels), 0))
        return empty, empty.copy(), np.zeros(0), np.zeros(0), np.zeros(0)
    return tuple(np.concatenate(p, axis=-1) for p in zip(*parts, strict=True))


class _Plan:
    """What every group of columns shares: the data, the levels, the kernels,
    the rows sampled and the buffers reused."""

    def __init__(self, X, levels, compiled):
        self.X = X
        self.levels = levels
        self.compiled = compiled
        self.buffers = threading.local()
        self.block = self.ids = None
        n_rows = X.shape[0]
        if compiled is not None:
            rng = np.random.default_rng(_SAMPLE_SEED)
            self.sample_rows = np.sort(rng.integers(0, n_rows, _SAMPLE_ROWS))
            n_coarse = 1 << compiled.COARSE_DEPTH
            # Splitter i at the sample's quantile (i + 1) / n_coarse.
            self.splitter_rows = np.round(
                np.arange(1, n_coarse) * (_SAMPLE_ROWS - 1) / n_coarse
            ).astype(np.intp)
            self.tree_order = _eytzinger_order(compiled.COARSE_DEPTH)

    def _buffer(self, name, shape, dtype):
        """A reused array of ``shape`` (the previous group's memory)."""
        size = shape[0] * shape[1]
        held = getattr(self, name)
        if held is None or held.size < size or held.dtype != dtype:
            held = np.empty(size, dtype=dtype)
            setattr(self, name, held)
        return held[:size].reshape(shape)

    def group(self, group, parallel):
        """``(lower, upper, total, value_sum, count)`` of a group of columns."""
        if self.compiled is not None:
            return self._bucketed_group(group, parallel)
        block = self._transposed(group, parallel)
        # One task per few columns: np.sort frees the GIL.
        tasks = _chunks(range(block.shape[0]), parallel)
        sums = map_tasks(lambda c: _sorted_in_place(block[c]), tasks, parallel=parallel)
        value_sum = np.concatenate(sums)
        total = np.full(block.shape[0], float(block.shape[1]))
        with_nan = np.isnan(block[:, -1])  # NaN sorts last
        if with_nan.any():
            total[with_nan] = np.count_nonzero(~np.isnan(block[with_nan]), axis=1)
        lower, upper = _indexed(block, total, self.levels)
        return lower, upper, total, value_sum, total

    def _transposed(self, group, parallel):
        """A C-ordered copy of ``X[:, group].T``, copied by tasks of rows."""
        X = self.X
        block = self._buffer("block", (group.stop - group.start, X.shape[0]), X.dtype)
        step = max(256, (1 << 16) // block.shape[0])

        def copy(rows):
            for start in range(rows.start, rows.stop, step):
                stop = min(start + step, rows.stop)
                block[:, start:stop] = X[start:stop, group].T

        map_tasks(copy, _row_tasks(X.shape[0]), parallel=parallel)
        return block

    def _bucketed_group(self, group, parallel):
        """The compiled path: the group's columns bucketed in one pass over
        tasks of rows (copied, transposed, on the way), then each column's
        ranks selected within their buckets, columns in parallel."""
        compiled, X = self.compiled, self.X
        n_rows, width = X.shape[0], group.stop - group.start
        trees, low, scale = self._splitters(group)
        block = self._buffer("block", (width, n_rows), X.dtype)
        ids = self._buffer("ids", (width, n_rows), np.uint16)
        n_buckets = trees.shape[1] * compiled.FINE_BUCKETS

        def bucket(rows):
            counts = np.zeros((width, n_buckets), dtype=np.int64)
            sums = compiled.bucket_rows(
                X[rows],
                group.start,
                trees,
                low,
                scale,
                block[:, rows],
                ids[:, rows],
                counts,
            )
            return counts, sums

        results = map_tasks(bucket, _row_tasks(n_rows), parallel=parallel)
        starts = np.zeros((width, n_buckets + 1), dtype=np.int64)
        value_sum = np.zeros(width)
        for counts, sums in results:  # in task order: the same sums always
            starts[:, 1:] += counts
            value_sum += sums
        np.cumsum(starts, axis=1, out=starts)
        total = starts[:, -1].astype(np.float64)
        selected = map_tasks(
            lambda j: self._selected(block[j], ids[j], starts[j]),
            range(width),
            parallel=parallel,
        )
        lower, upper = (
            np.stack(parts, axis=-1) for parts in zip(*selected, strict=True)
        )
        return lower, upper, total, value_sum, total

    def _splitters(self, group):
        """``(trees, low, scale)`` of :func:`~sknorm._kernels.quantiles.bucket_rows`
        for the columns of ``group``, from their sorted sample: 63 splitters
        at equal steps of the sample, coarse bucket ``c`` spanning
        ``[edges[c], edges[c + 1]]`` (the splitters, and the sample's extremes
        at the ends: values beyond are clamped into the end buckets)."""
        compiled = self.compiled
        sample = np.sort(self.X[self.sample_rows, group], axis=0).T
        sample = sample.astype(np.float64)
        # NaN sorts last: as splitters, +inf (above every value).
        sample[np.isnan(sample)] = np.inf
        splitters = sample[:, self.splitter_rows]
        trees = np.full((sample.shape[0], 1 << compiled.COARSE_DEPTH), np.inf)
        trees[:, self.tree_order] = splitters
        edges = np.concatenate((sample[:, :1], splitters, sample[:, -1:]), axis=1)
        low = np.ascontiguousarray(edges[:, :-1])
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            width = edges[:, 1:] - low
            scale = compiled.FINE_BUCKETS / width
        # Empty, infinite or overflowing widths: the coarse bucket uncut.
        scale[~(np.isfinite(scale) & (width > 0))] = 0.0
        return trees, low, scale

    def _selected(self, column, ids, starts):
        """``(lower, upper)`` of one column bucketed (``ids``, ``starts``)."""
        total = float(starts[-1])
        n_levels = self.levels.shape[0]
        if total == 0:
            nothing = np.full(n_levels, np.nan)
            return nothing, nothing.copy()
        buffers = self.buffers
        values = getattr(buffers, "values", None)
        if values is None or values.shape[0] < column.shape[0]:
            values = buffers.values = np.empty(column.shape[0], dtype=column.dtype)
        if values.dtype != column.dtype:
            values = buffers.values = np.empty(column.shape[0], dtype=column.dtype)
        low, high, _, at_maximum = virtual_ranks(np.array([total]), self.levels)
        last = total - 1
        ranks = np.concatenate(
            (np.where(at_maximum, last, low), np.where(at_maximum, last, high))
        ).astype(np.int64)[:, 0]
        order = np.argsort(ranks, kind="stable")
        found = np.empty(ranks.shape[0])
        self.compiled.select_bucketed(column, ids, starts, ranks[order], found, values)
        result = np.empty_like(found)
        result[order] = found
        return result[:n_levels], result[n_levels:]


def _row_tasks(n_rows):
    return [
        slice(start, min(start + _ROW_TASK, n_rows))
        for start in range(0, n_rows, _ROW_TASK)
    ]


def _chunks(columns, parallel):
    """Columns split into about two tasks per thread."""
    n = len(columns)
    parts = min(n, 2 * n_threads()) if parallel else 1
    bounds = np.linspace(0, n, parts + 1).round().astype(int)
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def _sorted_in_place(block):
    """Sort each row of ``block`` (columns of X); return their sums."""
    with np.errstate(over="ignore", invalid="ignore"):
        value_sum = block.sum(axis=1, dtype=np.float64)
    block.sort(axis=1)
    return value_sum


def _indexed(block, total, levels):
    """The order statistics bracketing ``levels`` in the sorted rows of
    ``block`` of ``total`` values each (NaN after them)."""
    low, high, _, at_maximum = virtual_ranks(total, levels)
    last = np.maximum(total - 1, 0)[None, :]
    low = np.where(at_maximum, last, low).astype(np.intp)
    high = np.where(at_maximum, last, high).astype(np.intp)
    lower = np.take_along_axis(block, low.T, axis=1).T.astype(np.float64)
    upper = np.take_along_axis(block, high.T, axis=1).T.astype(np.float64)
    empty = total <= 0
    lower[:, empty] = upper[:, empty] = np.nan
    return lower, upper
