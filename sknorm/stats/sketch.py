"""A mergeable quantile sketch (KLL) per column, for streamed and chunked data.

The sketch follows Karnin, Lang and Liberty, "Optimal Quantile Approximation in
Streams" (FOCS 2016): items live in levels; a level whose size exceeds its
capacity ``max(2, ceil(k * (2/3) ** (top - level)))`` is *compacted*: its items
are sorted, paired with their neighbour, and one item of each pair survives, one
level up, carrying the pair's weight. A compaction moves the rank of any value by
at most one item's weight, up or down at random, so the errors of successive
compactions cancel rather than add up.

Two generalizations, both reducing to plain KLL for unweighted data:

* Items carry weights (sample weights, and ``2 ** level`` in plain KLL). An
  item's level is ``floor(log2(weight))``, so only items of comparable weight are
  paired, and the survivor of a pair is drawn with probability proportional to
  its weight, which keeps every rank estimate unbiased.
* Implicit zeros of sparse input are counted exactly per column
  (``zero_weight``) instead of being inserted as items.

The query is the same weighted linear-interpolation quantile as the exact
:class:`~sknorm.stats.Quantiles`, so a sketch that never compacted (fewer than
``k`` values per column) gives exactly the exact statistic's values.

Vectorized over columns: all items of all columns sit in flat arrays grouped by
column, and every compaction round processes all columns at once.
"""

import numpy as np

from .._affine import _TINY_UNIT
from .._callbacks import reported_units
from .._parallel import iter_tasks
from .._validation import is_sparse
from ._base import (
    Statistic,
    implicit_zero_weight,
    plus_shift,
    shift_parts,
    sparse_entries,
)
from .deviation import MedianAbsoluteDeviation, median_and_deviation
from .quantiles import (
    _PARALLEL_MIN_VALUES,
    Quantiles,
    _check_levels,
    _kernel_module,
    _transposed_columns,
    ragged_order_statistics,
    ragged_value_finder,
    sort_by_column_then_value,
    virtual_ranks,
)

__all__ = ["QuantileSketch"]

#: Default number of items kept at the top level of each column's sketch.
DEFAULT_K = 320
#: Ratio between the capacities of successive levels (KLL's ``c``).
_CAPACITY_RATIO = 2.0 / 3.0
_INITIAL_SEED = 0x5EED
#: Probability that the sampling error of a sampled sketch exceeds its bound.
_SAMPLING_RISK = 1e-6
#: Bytes of dense columns sorted and compacted at once.
_BLOCK_BYTES = 1 << 23
_FULL_LEVELS = 0


#: Items lighter than ``2**-_NEGLIGIBLE_BITS`` of their column's weight are
#: dropped by :meth:`QuantileSketch.reweighted` (their weight counted as error).
_NEGLIGIBLE_BITS = 60


def _level_of(weights):
    """``floor(log2(w))`` computed exactly from the binary exponent."""
    return np.frexp(weights)[1].astype(np.int64) - 1


def _column_starts(column_sizes):
    return np.concatenate(([0], np.cumsum(column_sizes))).astype(np.int64)


def _group_by_column(values, weights, columns, n_columns):
    """Reorder items so that each column's items are contiguous (stably)."""
    kernels = _kernel_module()
    if kernels is not None:
        order = kernels.column_order(columns, n_columns)
    else:
        wide = n_columns > np.iinfo(np.uint16).max
        order = np.argsort(
            columns if wide else columns.astype(np.uint16), kind="stable"
        )
    sizes = np.bincount(columns, minlength=n_columns).astype(np.int64)
    return values[order], weights[order], sizes


class QuantileSketch(Statistic):
    """KLL quantile sketch of each column, mergeable with a bounded rank error.

    ``from_data`` summarises a batch, ``merge`` combines two sketches (any
    order, any grouping: batches, ``partial_fit`` calls, partitions of a
    cluster) and :meth:`quantiles` answers queries with numpy's linear
    interpolation. NaN values are ignored; implicit zeros of sparse input are
    counted exactly without being stored.

    **Accuracy.** The normalized rank error of a returned quantile — how far
    ``q`` lies from the range of ranks (divided by the total weight) that the
    returned value occupies in the data — stays below 1% at the default
    ``k=320``. Measured over levels .01, .25, .5, .75 and .99 on 6e4 to 1e6
    values fed in 1 to 1000 chunks (about 1,800 columns of normal data, and
    lognormal, Cauchy, Pareto, 30%-ties, sorted and drifting data): median
    0.25%, 99th percentile 0.6%, worst 0.66%. The error is random (it depends on
    the sketch's seeded draws, not on the order of the data) and shrinks about
    as ``1 / k``. Merging sketches gives the same accuracy as one sketch of all
    the data, whatever the grouping. :meth:`rank_error_bound` gives, per
    column, a deterministic bound that holds whatever the random draws (the sum
    of every compaction's worst case plus the heaviest item's weight, about
    2.3% at ``k=320``), far more conservative than the typical error. With
    unequal sample weights a compaction errs by at most its heaviest item, so
    that bound follows the weights.

    **Memory.** At most about ``3 k`` items (value and weight, 16 bytes each)
    per column plus two per level: about 14 KB per column at ``k=320`` once
    more than a few thousand values were seen, less before.

    Parameters
    ----------
    column_sizes : ndarray of int64 of shape (n_features,)
        Number of items kept per column.
    values, weights : ndarray of float64 of shape (sum(column_sizes),)
        Items, grouped by column.
    zero_weight : ndarray of shape (n_features,)
        Weight of the implicit zeros of sparse input, per column.
    compaction_error : ndarray of shape (n_features,)
        Sum over compactions of their largest possible rank error (in weight).
    value_count : ndarray of shape (n_features,)
        Number of values of positive weight sketched per column (implicit
        zeros included; estimated when sampled). Ranks count values of the
        column's mean weight, so quantiles depend on relative weights only.
    k : int
        Capacity of the top level.
    seed : int
        State of the pseudo-random draws (sketches are reproducible).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import QuantileSketch
    >>> rng = np.random.default_rng(0)
    >>> X = rng.lognormal(size=(100_000, 2))
    >>> sketch = QuantileSketch.from_data(X[:50_000])
    >>> sketch = sketch.merge(QuantileSketch.from_data(X[50_000:]))
    >>> approx = sketch.quantiles([0.25, 0.5, 0.75]).values()
    >>> exact = np.quantile(X, [0.25, 0.5, 0.75], axis=0)
    >>> bool(np.all(np.abs(approx / exact - 1) < 0.02))
    True
    >>> int(sketch.column_sizes.max()) <= 3 * 320
    True

    Small data is kept whole, so its quantiles are exact:

    >>> small = QuantileSketch.from_data([[1.0], [2.0], [4.0], [8.0]])
    >>> small.quantiles([0.5]).values()
    array([[3.]])
    """

    _fields = (
        "column_sizes",
        "values",
        "weights",
        "zero_weight",
        "compaction_error",
        "value_count",
        "k",
        "seed",
    )

    @classmethod
    def from_data(
        cls,
        X,
        sample_weight=None,
        *,
        k=DEFAULT_K,
        sample_size=None,
        implicit_zeros=True,
    ):
        """Sketch the columns of a dense or CSR/CSC matrix.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative row weights.
        k : int, default=320
            Top-level capacity: larger is more accurate and larger.
        sample_size : int, default=None
            If given and X has more rows, sketch only this many rows drawn at
            random with replacement (with probability proportional to their
            weight), each standing for ``total weight / sample_size``. This is
            fast whatever the size of X; it adds a sampling error whose largest
            value over all ranks is below ``0.9 / sqrt(sample_size)`` typically
            and ``sqrt(ln(2e6) / (2 * sample_size))`` with probability
            ``1 - 1e-6`` (Dvoretzky-Kiefer-Wolfowitz), counted in
            :meth:`rank_error_bound`. Each column's total weight is then
            estimated from the sample.
        implicit_zeros : bool, default=True
            Whether the implicit zeros of sparse X are values (counted, never
            stored). False sketches each column's stored values only (see
            :meth:`Quantiles.from_data <sknorm.stats.Quantiles.from_data>`).
            No effect on dense X.

        Returns
        -------
        QuantileSketch
        """
        if int(k) != k or k < 8:
            raise ValueError(f"k must be an integer of at least 8, got {k!r}.")
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if not is_sparse(X):
            X = np.asarray(X)
        n_rows, n_columns = X.shape
        # Weight of each row when counting values (None: the items' weight
        # sums are the counts, as when unweighted).
        count_weight = None
        if sample_weight is not None:
            count_weight = (sample_weight > 0).astype(np.float64)
        seed = _INITIAL_SEED
        rows = None  # the rows sketched: all of them, or a sample
        sampling_error = 0.0
        if sample_size is not None and n_rows > sample_size:
            rng = np.random.default_rng(seed)
            seed = int(rng.integers(2**63))
            total = n_rows if sample_weight is None else sample_weight.sum()
            chance = None if sample_weight is None else sample_weight / total
            rows = np.sort(rng.choice(n_rows, size=sample_size, p=chance))
            if count_weight is not None:
                # Horvitz-Thompson: each sampled row stands for this many rows.
                count_weight = total / (sample_size * sample_weight[rows])
            if is_sparse(X):
                X, rows = X[rows], None
            sample_weight = np.full(sample_size, total / sample_size)
            sampling_error = np.sqrt(np.log(2 / _SAMPLING_RISK) / (2 * sample_size))
        if is_sparse(X):
            values, columns, weights, zero_weight = cls._sparse_items(X, sample_weight)
            if not implicit_zeros:
                zero_weight = np.zeros(n_columns)
            error = np.zeros(n_columns)
        else:
            values, columns, weights, error, seed = _dense_items(
                X, rows, sample_weight, int(k), seed
            )
            zero_weight = np.zeros(n_columns)
        sketch = cls._from_items(
            values, columns, weights, n_columns, k, seed, zero_weight, error
        )
        if count_weight is not None:
            sketch.value_count = _value_counts(X, rows, count_weight, implicit_zeros)
        if sampling_error:
            sketch.compaction_error += sampling_error * sketch.weight_sum()
        return sketch._compress()

    @classmethod
    def work_units(
        cls, X, sample_weight=None, *, k=DEFAULT_K, sample_size=None, **options
    ):
        """The blocks of dense columns sorted and compacted one after another
        (none for sparse input, or unequal weights: those are sorted at once)."""
        if is_sparse(X):
            return 0
        n_rows, n_columns = np.shape(X)
        if sample_size is not None and n_rows > sample_size:
            n_rows = sample_size  # a sample of rows of equal weights
        elif sample_weight is not None and not _equal_weights(
            np.asarray(sample_weight, dtype=np.float64)
        ):
            return 0
        return len(_dense_blocks(n_rows, n_columns))

    @classmethod
    def from_columns(cls, values, columns, n_columns, weights=None, *, k=DEFAULT_K):
        """Sketch values given with the column each belongs to.

        For columns holding different numbers of values (for example the
        values of each column that lie in a range): the same sketch as
        :meth:`from_data` of a matrix holding these values, padded with NaN.

        Parameters
        ----------
        values : array-like of shape (n_values,)
        columns : array-like of int of shape (n_values,)
            Column of each value, in ``[0, n_columns)``.
        n_columns : int
        weights : array-like of shape (n_values,), default=None
            Non-negative weight of each value; None weighs each value 1.
        k : int, default=320

        Returns
        -------
        QuantileSketch
        """
        if int(k) != k or k < 8:
            raise ValueError(f"k must be an integer of at least 8, got {k!r}.")
        values = np.asarray(values, dtype=np.float64)
        columns = np.asarray(columns, dtype=np.intp)
        weighted = weights is not None
        weights = np.ones(values.shape[0]) if weights is None else weights
        weights = np.asarray(weights, dtype=np.float64)
        sketch = cls._from_items(
            values,
            columns,
            weights,
            n_columns,
            k,
            _INITIAL_SEED,
            np.zeros(n_columns),
            np.zeros(n_columns),
        )
        if weighted:
            counted = ~np.isnan(values) & (weights > 0)
            sketch.value_count = np.bincount(
                columns[counted], minlength=n_columns
            ).astype(np.float64)
        return sketch._compress()

    @classmethod
    def _from_items(
        cls, values, columns, weights, n_columns, k, seed, zero_weight, error
    ):
        """The uncompressed sketch holding the given items (NaN and items of
        no weight dropped)."""
        keep = ~np.isnan(values) & (weights > 0)
        if not keep.all():
            values, columns, weights = values[keep], columns[keep], weights[keep]
        values, weights, sizes = _group_by_column(
            values.astype(np.float64), weights, columns, n_columns
        )
        return cls(
            column_sizes=sizes,
            values=values,
            weights=weights,
            zero_weight=zero_weight,
            compaction_error=np.asarray(error, dtype=np.float64),
            # The weight sums: the counts of unweighted values (their items'
            # weights are powers of two summing exactly); weighted values are
            # counted by the callers.
            value_count=np.bincount(
                np.repeat(np.arange(n_columns), sizes),
                weights=weights,
                minlength=n_columns,
            )
            + zero_weight,
            k=np.int64(k),
            seed=np.uint64(seed),
        )

    @staticmethod
    def _sparse_items(X, sample_weight):
        values, columns, entry_weight, _ = sparse_entries(X, sample_weight)
        weights = np.ones(values.shape[0]) if entry_weight is None else entry_weight
        return values, columns, weights, implicit_zero_weight(X, sample_weight)

    def shifted(self, shift):
        """The sketch of the data plus ``shift`` (per column): its items moved
        (see :meth:`Statistic.shifted`). Implicit zeros cannot move without
        becoming items: a column holding some must have zero shift."""
        high, low = shift_parts(shift)
        moved = high != 0
        if np.any(moved & (self.zero_weight > 0)):
            raise ValueError(
                "cannot shift the implicit zeros of a sketch of sparse data."
            )
        arrays = {name: getattr(self, name) for name in self._fields}
        high, low = (np.repeat(p, self.column_sizes) for p in (high, low))
        arrays["values"] = np.where(
            high != 0, plus_shift(self.values, high, low), self.values
        )
        return type(self)(**arrays)

    def merge(self, other):
        """Return the sketch of the union of both data sets.

        The rank error of the merged sketch is bounded like that of a single
        sketch of all the data.
        """
        self._check_mergeable(other)
        if int(other.k) != int(self.k):
            raise ValueError(
                f"cannot merge sketches of different sizes (k={int(self.k)} and "
                f"k={int(other.k)})."
            )
        n_columns = self.n_features
        columns = np.concatenate(
            (
                np.repeat(np.arange(n_columns), self.column_sizes),
                np.repeat(np.arange(n_columns), other.column_sizes),
            )
        )
        values, weights, sizes = _group_by_column(
            np.concatenate((self.values, other.values)),
            np.concatenate((self.weights, other.weights)),
            columns,
            n_columns,
        )
        seed = np.random.default_rng([int(self.seed), int(other.seed)]).integers(
            2**63, dtype=np.uint64
        )
        merged = type(self)(
            column_sizes=sizes,
            values=values,
            weights=weights,
            zero_weight=self.zero_weight + other.zero_weight,
            compaction_error=self.compaction_error + other.compaction_error,
            value_count=self.value_count + other.value_count,
            k=self.k,
            seed=seed,
        )
        return merged._compress()

    def reweighted(self, factor):
        """The sketch with every row's weight times ``factor`` (> 0).

        Items, implicit zeros and the compaction error (a rank error in
        weight) are scaled; ``value_count`` counts values, not weight, and is
        kept, so the sketch answers as a sketch of the same values with
        weights ``factor`` times theirs (a weighted fit). An item's level is
        ``floor(log2(weight))``: scaling by a factor that is not a power of
        two moves the items of one level to at most two adjacent levels, which
        the compactions tolerate (they pair items of a level whatever their
        weights and charge the heavier one's weight as the pair's error). The
        bound :meth:`rank_error_bound` is unchanged, being a ratio of weights;
        merged with new data, the lighter old items are compacted first, so
        their error is charged at their reduced weight.

        Each reweighting by ``f`` moves the old items ``log2(1 / f)`` levels
        down, and KLL keeps at least two items per level: items lighter than
        ``2**-60`` of their column's total weight are therefore dropped, their
        weight added to ``compaction_error`` (removing an item moves any rank
        by at most its weight), so that a long decayed stream keeps about 60
        levels below its top, not one per reweighting.

        Examples
        --------
        >>> from sknorm.stats import QuantileSketch
        >>> sketch = QuantileSketch.from_data([[1.0], [2.0], [4.0]])
        >>> sketch.reweighted(0.5).weight_sum()
        array([1.5])
        >>> sketch.reweighted(0.5).quantiles([0.5]).values()
        array([[2.]])
        """
        factor = self._check_factor(factor)
        weights = self.weights * factor
        values, sizes = self.values, self.column_sizes
        zero_weight = self.zero_weight * factor
        error = self.compaction_error * factor
        columns = np.repeat(np.arange(self.n_features), sizes)
        total = np.bincount(columns, weights=weights, minlength=self.n_features)
        negligible = weights < np.ldexp(total + zero_weight, -_NEGLIGIBLE_BITS)[columns]
        if negligible.any():
            error = error + np.bincount(
                columns[negligible],
                weights=weights[negligible],
                minlength=self.n_features,
            )
            kept = ~negligible
            values, weights = values[kept], weights[kept]
            sizes = np.bincount(columns[kept], minlength=self.n_features)
        return type(self)(
            column_sizes=np.asarray(sizes, dtype=self.column_sizes.dtype),
            values=values.copy(),
            weights=weights,
            zero_weight=zero_weight,
            compaction_error=error,
            value_count=self.value_count.copy(),
            k=self.k.copy(),
            seed=self.seed.copy(),
        )

    def _take_columns(self, index):
        index = np.asarray(index, dtype=np.intp)
        starts = _column_starts(self.column_sizes)
        sizes = self.column_sizes[index]
        # Positions of the items of the chosen columns, column after column.
        within = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        items = np.repeat(starts[:-1][index], sizes) + within
        return type(self)(
            column_sizes=sizes,
            values=self.values[items],
            weights=self.weights[items],
            zero_weight=self.zero_weight[index],
            compaction_error=self.compaction_error[index],
            value_count=self.value_count[index],
            k=self.k.copy(),
            seed=self.seed.copy(),
        )

    @classmethod
    def _concatenated(cls, parts):
        return cls(
            column_sizes=np.concatenate([p.column_sizes for p in parts]),
            values=np.concatenate([p.values for p in parts]),
            weights=np.concatenate([p.weights for p in parts]),
            zero_weight=np.concatenate([p.zero_weight for p in parts]),
            compaction_error=np.concatenate([p.compaction_error for p in parts]),
            value_count=np.concatenate([p.value_count for p in parts]),
            k=parts[0].k.copy(),
            seed=parts[0].seed.copy(),
        )

    def _compress(self):
        """Compact levels until every column fits its total capacity.

        As in KLL, a column is compacted only while it holds more items than
        the sum of its levels' capacities, and then at its lowest level that is
        at capacity; each round does this for every column at once.
        """
        n_columns = self.n_features
        values, weights = self.values, self.weights
        sizes = self.column_sizes
        error = self.compaction_error.copy()
        seed = int(self.seed)
        while True:
            columns = np.repeat(np.arange(n_columns), sizes)
            levels = _level_of(weights)
            filled = sizes > 0
            top = _per_column(np.maximum, levels, sizes, 0)
            bottom = _per_column(np.minimum, levels, sizes, 0)
            depth_range = np.where(filled, top - bottom, 0)
            capacity = _capacity_table(int(self.k), int(depth_range.max(initial=0)))
            total_capacity = np.cumsum(capacity)
            too_big = filled & (sizes > total_capacity[depth_range])
            if not too_big.any():
                break
            low = levels.min()
            span = int(levels.max() - low + 1)
            group = columns * span + (levels - low)
            group_size = np.bincount(group, minlength=n_columns * span)
            # Indexing by column = repeating per column (items are grouped).
            full = np.repeat(too_big, sizes) & (
                group_size[group] >= capacity[np.repeat(top, sizes) - levels]
            )
            # The lowest full level of each column that is too big.
            never = np.iinfo(np.int64).max
            lowest = _per_column(
                np.minimum, np.where(full, levels, never), sizes, never
            )
            chosen = levels == np.repeat(lowest, sizes)
            rng = np.random.default_rng(seed)
            seed = int(rng.integers(2**63))
            kept, new_values, new_weights, new_columns, pair_error = _compact(
                values[chosen], weights[chosen], columns[chosen], n_columns, rng
            )
            error += pair_error
            rest = ~chosen
            values, weights, sizes = _group_by_column(
                # Survivors before the odd one out (the largest): a column
                # compacted whole stays sorted.
                np.concatenate((values[rest], new_values, kept[0])),
                np.concatenate((weights[rest], new_weights, kept[1])),
                np.concatenate((columns[rest], new_columns, kept[2])),
                n_columns,
            )
        return type(self)(
            column_sizes=sizes,
            values=values,
            weights=weights,
            zero_weight=self.zero_weight,
            compaction_error=error,
            value_count=self.value_count,
            k=self.k,
            seed=np.uint64(seed),
        )

    def quantiles(self, levels):
        """Estimate the quantiles of every column.

        Parameters
        ----------
        levels : array-like of float in [0, 1]

        Returns
        -------
        Quantiles
            Exact statistic of the sketched items: use its ``values()``,
            ``value(level)`` and ``median()``.
        """
        levels = _check_levels(levels)
        lower, upper, _, total = ragged_order_statistics(
            *self._sorted_items(), levels, self.value_count
        )
        _, _, fraction, _ = virtual_ranks(total, levels, self.value_count)
        return Quantiles(
            lower=lower,
            upper=upper,
            fraction=fraction,
            weight_sum=total,
            levels=levels,
        )

    def deviation_quantiles(self, center, levels=(0.5,), unit=None):
        """Estimate the quantiles of the absolute deviations ``|x - center|``.

        The weighted quantiles of ``|item - center|`` over the sketched items
        and the implicit zeros of sparse input (of deviation ``|center|``):
        with ``center`` the sketch's median, the median of the result is the
        median absolute deviation. The sketch's rank error bounds, on each
        side of ``center``, the error of the count of values within any
        distance of it, so the returned deviations' normalized rank error in
        the data's deviations from ``center`` is at most twice
        :meth:`rank_error_bound` (and typically about twice the quantiles').

        Parameters
        ----------
        center : array-like of shape (n_features,)
        levels : array-like of float in [0, 1], default=(0.5,)
        unit : array-like of int of shape (n_features,), default=None
            If given, the deviations of the items divided by ``2**unit``
            (exactly, where they stay normal) from ``center`` given in those
            units: below the normal range, distances to a center between
            two subnormals keep all their bits.

        Returns
        -------
        Quantiles

        Examples
        --------
        >>> import numpy as np
        >>> from sknorm.stats import QuantileSketch
        >>> sketch = QuantileSketch.from_data([[1.0], [2.0], [4.0], [100.0]])
        >>> center = sketch.quantiles([0.5]).median()
        >>> sketch.deviation_quantiles(center).median()
        array([1.5])
        """
        levels = _check_levels(levels)
        center = np.asarray(center, dtype=np.float64).reshape(-1)
        n_columns = self.n_features
        columns = np.repeat(np.arange(n_columns), self.column_sizes)
        values = self.values
        if unit is not None:
            unit = np.broadcast_to(np.asarray(unit, dtype=np.int64), (n_columns,))
            with np.errstate(over="ignore", under="ignore"):
                values = np.ldexp(values, -unit[columns])
        deviations = np.abs(values - center[columns])
        order = sort_by_column_then_value(deviations, columns, n_columns)
        lower, upper, _, total = ragged_order_statistics(
            deviations[order],
            self.weights[order],
            _column_starts(self.column_sizes),
            self.zero_weight,
            levels,
            self.value_count,
            np.abs(center),
        )
        _, _, fraction, _ = virtual_ranks(total, levels, self.value_count)
        return Quantiles(
            lower=lower,
            upper=upper,
            fraction=fraction,
            weight_sum=total,
            levels=levels,
        )

    def median_absolute_deviation(self):
        """Estimate each column's median and median absolute deviation.

        The median of :meth:`quantiles`, then the median of
        :meth:`deviation_quantiles` from it; below the normal range both in
        units of a power of two, as in the exact statistic (see
        :func:`~sknorm.stats.deviation.median_and_deviation`).

        Returns
        -------
        MedianAbsoluteDeviation

        Examples
        --------
        >>> import numpy as np
        >>> from sknorm.stats import QuantileSketch
        >>> sketch = QuantileSketch.from_data([[1.0], [2.0], [4.0], [100.0]])
        >>> estimate = sketch.median_absolute_deviation()
        >>> estimate.median, estimate.mad
        (array([3.]), array([1.5]))
        """
        center = self.quantiles([0.5])

        def deviations(median, columns):
            if columns is None:
                return self.deviation_quantiles(median)
            return self._take_columns(columns).deviation_quantiles(
                median, unit=-_TINY_UNIT
            )

        median, mad, exponent = median_and_deviation(center, deviations)
        return MedianAbsoluteDeviation(
            scaled_median=median,
            scaled_mad=mad,
            exponent=exponent,
            weight_sum=center.weight_sum,
        )

    def values_at_ranks(self, ranks):
        """Values of the sketched items at given ranks of each column.

        Parameters
        ----------
        ranks : ndarray of shape (n, n_features)
            Ranks in weight (count when unweighted), from 0 to the column's
            total weight.

        Returns
        -------
        ndarray of shape (n, n_features)
            The first item in sorted order whose cumulative weight exceeds the
            rank (implicit zeros counted), NaN for a column without data. The
            item's rank in the data differs from the rank asked by at most
            ``rank_error_bound() * weight_sum()``.
        """
        value_at, _, _ = ragged_value_finder(*self._sorted_items())
        return value_at(np.asarray(ranks, dtype=np.float64))

    def _sorted_items(self):
        """``(values, weights, starts, zero_weight)``, sorted within columns."""
        n_columns = self.n_features
        columns = np.repeat(np.arange(n_columns), self.column_sizes)
        order = sort_by_column_then_value(self.values, columns, n_columns)
        return (
            self.values[order],
            self.weights[order],
            _column_starts(self.column_sizes),
            self.zero_weight,
        )

    def weight_sum(self):
        """Total weight (count when unweighted) of each column's values."""
        columns = np.repeat(np.arange(self.n_features), self.column_sizes)
        stored = np.bincount(columns, weights=self.weights, minlength=self.n_features)
        return stored + self.zero_weight

    def rank_error_bound(self):
        """Deterministic bound on each column's normalized rank error.

        Every compaction moves any rank by at most the weight of one of its
        items; a returned item spans at most its own weight of ranks. The bound
        adds both and divides by the column's total weight. It holds for every
        outcome of the random draws; the typical error is much smaller (see the
        class docstring).
        """
        heaviest = _per_column(np.maximum, self.weights, self.column_sizes, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (self.compaction_error + heaviest) / self.weight_sum()

    def nbytes(self):
        """Memory held by the sketch's arrays, in bytes."""
        return sum(getattr(self, name).nbytes for name in self._fields)


def _value_counts(X, rows, count_weight, implicit_zeros=True):
    """Per column, the sum of ``count_weight`` over the rows (``X[rows]``, or
    all of sparse X) whose value is not NaN; implicit zeros are values unless
    not ``implicit_zeros``."""
    if is_sparse(X):
        X = X.tocsc()
        column_of = np.repeat(np.arange(X.shape[1]), np.diff(X.indptr))
        missing = np.isnan(X.data)
        if not implicit_zeros:
            return np.bincount(
                column_of[~missing],
                weights=count_weight[X.indices[~missing]],
                minlength=X.shape[1],
            )
        nan_weight = np.bincount(
            column_of[missing],
            weights=count_weight[X.indices[missing]],
            minlength=X.shape[1],
        )
        return count_weight.sum() - nan_weight
    part = X if rows is None else X[rows]
    return count_weight @ ~np.isnan(part)


def _equal_weights(sample_weight):
    return sample_weight is None or np.all(sample_weight == sample_weight[0])


def _dense_blocks(n_rows, n_columns):
    """The blocks of columns :func:`_dense_items` sorts and compacts in turn."""
    width = max(1, min(n_columns, _BLOCK_BYTES // max(1, 8 * n_rows)))
    return [
        slice(start, min(start + width, n_columns))
        for start in range(0, n_columns, width)
    ]


def _dense_items(X, rows, sample_weight, k, seed):
    """Items of dense columns (of ``X[rows]`` when ``rows`` is given).

    Each column is sorted up front (numpy's SIMD sort), so compactions pair
    neighbours without sorting again. When all rows weigh the same, every
    NaN-free column holds the same number of equal-weight items and the
    compactions run on 2-D blocks of columns directly — pairing neighbours and
    keeping all the first or all the second items of a column, with the same
    draws and the same stopping rule as :meth:`QuantileSketch._compress`, which
    then finds little left to do. Columns are processed in blocks of about
    ``_BLOCK_BYTES``, so the memory used stays small whatever the width of X.
    """
    n_columns = X.shape[1]
    n_rows = X.shape[0] if rows is None else rows.shape[0]
    if not _equal_weights(sample_weight):
        order = np.argsort(X, axis=0).T
        values = np.take_along_axis(X.T, order, axis=1).ravel()
        columns = np.repeat(np.arange(n_columns), n_rows)
        return values, columns, sample_weight[order].ravel(), np.zeros(n_columns), seed
    weight = 1.0 if sample_weight is None or not n_rows else float(sample_weight[0])
    blocks = _dense_blocks(n_rows, n_columns)

    def sketch_block(block):
        if rows is None:
            # A C-ordered copy: never a view of the caller's data, sorted next.
            values = _transposed_columns(X, block)
        else:
            values = _transposed_columns(
                X[rows, block], slice(0, block.stop - block.start)
            )
        values.sort(axis=1)
        if n_rows and weight > 0 and not np.isnan(values[:, -1]).any():
            return _halve_sorted(values, weight, k, seed, block, n_columns)
        return values, np.full(n_rows, weight), 0.0, seed

    # Sorting and copying free the GIL; blocks share no state.
    parallel = n_rows * n_columns >= _PARALLEL_MIN_VALUES
    results = iter_tasks(sketch_block, blocks, parallel=parallel)
    results = list(reported_units(results, "sketch-columns", len(blocks)))
    error = np.zeros(n_columns)
    for block, (_, _, block_error, _) in zip(blocks, results, strict=True):
        error[block] = block_error
    # Blocks that compacted made the same draws and end on the same seed.
    seed = next((s for _, _, e, s in results if e), seed)
    values = np.concatenate([v.ravel() for v, _, _, _ in results] or [np.zeros(0)])
    weights = np.concatenate(
        [np.tile(w, v.shape[0]) for v, w, _, _ in results] or [np.zeros(0)]
    )
    columns = np.concatenate(
        [
            np.repeat(np.arange(block.start, block.stop), w.shape[0])
            for block, (_, w, _, _) in zip(blocks, results, strict=True)
        ]
        or [np.zeros(0, dtype=np.int64)]
    )
    return values, columns, weights, error, seed


def _halve_sorted(values, weight, k, seed, block, n_columns):
    """Compact sorted columns of equal-weight items while KLL would.

    ``values`` holds the columns ``block`` of ``n_columns``; the draws of the
    other columns are made and skipped, so every block sees the same ones.
    Returns the items, their weights (the same for every column), the
    worst-case error added to each column, and the seed after the draws.
    """
    parts, part_weights, leftover_levels = [], [], []
    level = _level_of(np.array([weight]))[0]
    error = 0.0
    while True:
        bottom = min(leftover_levels, default=level)
        capacity = _capacity_table(k, level - bottom)
        if values.shape[1] + len(leftover_levels) <= capacity.sum():
            break
        rng = np.random.default_rng(seed)
        seed = int(rng.integers(2**63))
        if values.shape[1] % 2:
            # The odd one out (each column's largest) stays at this level.
            parts.append(values[:, -1:])
            part_weights.append(weight)
            leftover_levels.append(level)
            values = values[:, :-1]
        pairs = values.reshape(values.shape[0], -1, 2)
        keep_first = rng.random(n_columns)[block] < 0.5
        values = np.where(keep_first[:, None], pairs[..., 0], pairs[..., 1])
        error += weight
        weight *= 2
        level += 1
    parts.append(values)
    part_weights.append(weight)
    item_weights = np.concatenate(
        [np.full(part.shape[1], w) for part, w in zip(parts, part_weights, strict=True)]
    )
    return np.concatenate(parts, axis=1), item_weights, error, seed


def _per_column(ufunc, items, sizes, empty):
    """Reduce items grouped by column (``sizes`` per column) with ``ufunc``."""
    result = np.full(sizes.shape[0], empty, dtype=items.dtype)
    filled = sizes > 0
    if filled.any():
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))[filled]
        result[filled] = ufunc.reduceat(items, starts)
    return result


def _capacity_table(k, max_depth):
    """Capacity of a level ``depth`` levels below its column's top level."""
    depth = np.arange(max_depth + 1)
    depth = np.maximum(depth - _FULL_LEVELS, 0)
    return np.maximum(2, np.ceil(k * _CAPACITY_RATIO**depth)).astype(np.int64)


def _compact(values, weights, columns, n_columns, rng):
    """Compact one level per column: pair sorted neighbours, keep one of each.

    Returns the items left alone (the last of an odd-sized level), the
    survivors with their pairs' weights, and each column's worst-case error.
    """
    # Items arrive grouped by column; sort them by value unless they already are.
    if not np.all((values[1:] >= values[:-1]) | (columns[1:] != columns[:-1])):
        order = sort_by_column_then_value(values, columns, n_columns)
        values, weights, columns = values[order], weights[order], columns[order]
    sizes = np.bincount(columns, minlength=n_columns)
    starts = _column_starts(sizes)
    position = np.arange(values.shape[0]) - np.repeat(starts[:-1], sizes)
    paired = position < np.repeat(sizes - sizes % 2, sizes)
    leftover = ~paired
    first = np.flatnonzero(paired & (position % 2 == 0))
    second = first + 1
    first_weight, second_weight = weights[first], weights[second]
    pair_weight = first_weight + second_weight
    # Survivor drawn in proportion to its weight, so rank estimates stay
    # unbiased, from one uniform draw per column as in KLL (one coin per
    # compaction: with equal weights, all the odd or all the even items).
    draw = rng.random(n_columns)[columns[first]]
    keep_first = draw * pair_weight < first_weight
    survivor = np.where(keep_first, first, second)
    pair_error = _per_column(
        np.maximum,
        np.maximum(first_weight, second_weight),
        np.bincount(columns[first], minlength=n_columns),
        0.0,
    )
    kept = (values[leftover], weights[leftover], columns[leftover])
    return kept, values[survivor], pair_weight, columns[first], pair_error
