"""Order statistics of dense columns at many ranks: quantiles at many levels.

The bracketing selection of :mod:`sknorm.stats.quantiles` suits a few
levels: with many (QuantileTransformer's 1000, whose ranks lie a thousandth
of the column apart) its windows cover whole columns, and selecting 2,000
ranks one partition at a time reads each column a dozen times. Here each
column is instead

* with the compiled kernels, and at least ``_BUCKET_MIN_ROWS`` rows,
  *bucketed*: ``2**12 - 1`` splitters taken from a sorted sample of rows cut
  the column into 4,096 buckets of about equal size; one pass finds each
  value's bucket (a branchless search of a 12-level tree,
  :func:`sknorm._kernels.quantiles.bucket_values`) and counts the buckets, so
  the bucket of every wanted rank and its rank within the bucket are known;
  the values are grouped by bucket and each wanted rank is selected within
  its bucket, about ``n / 4096`` values
  (:func:`sknorm._kernels.quantiles.select_bucketed`). The sample only
  decides how even the buckets are: the counts make the result exact
  whatever it drew;
* otherwise sorted (numpy's SIMD sort), then indexed.

Both give the exact order statistics, NaN ignored. Columns are copied in
groups (transposed, each column contiguous) and the groups' columns are
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
#: Rows of a group copied by one task.
_COPY_TASK_ROWS = 1 << 17


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
    the rows sampled and the buffers each thread reuses."""

    def __init__(self, X, levels, compiled):
        self.X = X
        self.levels = levels
        self.compiled = compiled
        self.buffers = threading.local()
        self.block = None
        n_rows = X.shape[0]
        if compiled is not None:
            rng = np.random.default_rng(_SAMPLE_SEED)
            self.sample_rows = np.sort(rng.integers(0, n_rows, _SAMPLE_ROWS))
            n_buckets = 1 << compiled.BUCKET_DEPTH
            # Splitter i at the sample's quantile (i + 1) / n_buckets.
            self.splitter_rows = np.round(
                np.arange(1, n_buckets) * (_SAMPLE_ROWS - 1) / n_buckets
            ).astype(np.intp)
            self.tree_order = _eytzinger_order(compiled.BUCKET_DEPTH)

    def group(self, group, parallel):
        """``(lower, upper, total, value_sum, count)`` of a group of columns."""
        block = self._transposed(group, parallel)
        columns = range(block.shape[0])
        if self.compiled is None:
            # One task per few columns: np.sort frees the GIL.
            tasks = _chunks(columns, parallel)
            sums = map_tasks(
                lambda c: _sorted_in_place(block[c]), tasks, parallel=parallel
            )
            value_sum = np.concatenate(sums)
            total = np.full(block.shape[0], float(block.shape[1]))
            with_nan = np.isnan(block[:, -1])  # NaN sorts last
            if with_nan.any():
                total[with_nan] = np.count_nonzero(~np.isnan(block[with_nan]), axis=1)
            lower, upper = _indexed(block, total, self.levels)
            return lower, upper, total, value_sum, total
        results = map_tasks(
            lambda j: self._bucketed(block[j]), columns, parallel=parallel
        )
        lower, upper, total, value_sum = (
            np.stack(parts, axis=-1) for parts in zip(*results, strict=True)
        )
        return lower, upper, total, value_sum, total

    def _transposed(self, group, parallel):
        """A C-ordered copy of ``X[:, group].T`` (the previous group's
        memory reused), copied by tasks of rows."""
        X = self.X
        shape = (group.stop - group.start, X.shape[0])
        size = shape[0] * shape[1]
        if self.block is None or self.block.size < size:
            self.block = np.empty(size, dtype=X.dtype)
        block = self.block[:size].reshape(shape)
        step = max(256, (1 << 16) // shape[0])

        def copy(rows):
            for start in range(rows.start, rows.stop, step):
                stop = min(start + step, rows.stop)
                block[:, start:stop] = X[start:stop, group].T

        tasks = [
            slice(start, min(start + _COPY_TASK_ROWS, shape[1]))
            for start in range(0, shape[1], _COPY_TASK_ROWS)
        ]
        map_tasks(copy, tasks, parallel=parallel)
        return block

    def _bucketed(self, column):
        """``(lower, upper, total, value_sum)`` of one contiguous column."""
        compiled = self.compiled
        buffers = self.buffers
        n_rows = column.shape[0]
        if getattr(buffers, "values", None) is None or (
            buffers.values.shape[0] < n_rows or buffers.values.dtype != column.dtype
        ):
            buffers.values = np.empty(n_rows, dtype=column.dtype)
            buffers.ids = np.empty(n_rows, dtype=np.uint16)
        sample = np.sort(column[self.sample_rows]).astype(np.float64)
        splitters = sample[self.splitter_rows]
        tree = np.full(1 << compiled.BUCKET_DEPTH, np.inf)
        # NaN sorts last: as splitters, +inf (above every value).
        tree[self.tree_order] = np.where(np.isnan(splitters), np.inf, splitters)
        starts = np.empty(tree.shape[0] + 1, dtype=np.int64)
        value_sum = compiled.bucket_values(column, tree, buffers.ids[:n_rows], starts)
        total = float(starts[-1])
        n_levels = self.levels.shape[0]
        if total == 0:
            nothing = np.full(n_levels, np.nan)
            return nothing, nothing.copy(), total, value_sum
        low, high, _, at_maximum = virtual_ranks(np.array([total]), self.levels)
        last = total - 1
        ranks = np.concatenate(
            (np.where(at_maximum, last, low), np.where(at_maximum, last, high))
        ).astype(np.int64)[:, 0]
        order = np.argsort(ranks, kind="stable")
        found = np.empty(ranks.shape[0])
        compiled.select_bucketed(
            column, buffers.ids[:n_rows], starts, ranks[order], found, buffers.values
        )
        values = np.empty_like(found)
        values[order] = found
        return values[:n_levels], values[n_levels:], total, value_sum


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
