"""Fitting the statistics of data read in blocks: one pass, merged, and
exact quantiles in further passes.

A *source* (:class:`~sknorm.sources.Source`) yields data in row blocks: the
partitions of a dask collection (:mod:`sknorm._dask`), or the record batches
of a Parquet dataset, a polars LazyFrame, a DuckDB relation or a pyarrow
table or reader (:mod:`sknorm.sources`). Whatever the source, a fit runs here.

**Fit.** :func:`fit_statistics` runs the estimator's in-memory fit of a batch
(``_batch_statistics``: validation, infinity check, ``Statistic.from_data``)
on every block, where the block is read (a dask task, or a thread of sknorm's
pool), and the source merges the blocks' statistics (:func:`merge_parts`).
64-bit integer columns beyond ``2**53`` are taken, in each block, relative to
the block's own integer centre, and the block also returns their minima and
maxima; each merge chooses the centre of its parts' rows from those, moves
their statistics to it, exactly, and merges them (:func:`merge_recentred`),
so that the root is at the whole data's centre (the in-memory fit's): still
one pass, merged as the blocks arrive. Only mergeable statistics can be
fitted that way: the estimator's ``partial_fit`` statistics (for quantiles, a
:class:`~sknorm.stats.QuantileSketch`).

**Exact quantiles** (:func:`exact_quantiles`, when an estimator asks for them
and the source can be read again) are found by narrowing: the sketch of the
first pass brackets each wanted order statistic between two values, within
the sketch's deterministic rank bound. Each further pass counts, per block,
the weight below each bracket and in it (checking that the wanted rank lies
in the bracket) and either sketches the values inside the brackets, which
narrows them again, or, once few enough values remain, collects them so that
the caller selects the exact order statistics. Each pass reads the data once;
only counts, sketches and the collected values are kept.
"""

import numpy as np
from sklearn.base import clone

from .._kernels import kernels
from .._validation import (
    _wide_integer_columns,
    check_input,
    integer_center_of_ranges,
    integer_ranges,
    is_sparse,
    row_blocks,
)
from ..stats import Extrema, Quantiles, QuantileSketch, Statistic
from ..stats.quantiles import sort_by_column_then_value, virtual_ranks

__all__ = [
    "EMPTY",
    "OWN_CENTER",
    "block_center",
    "exact_quantiles",
    "fit_statistics",
    "has_wide_integers",
    "merge_parts",
    "merge_recentred",
]

#: Values collected per pass (all columns together), bounding the memory of
#: the selection of exact quantiles.
_COLLECT_BUDGET = 1 << 22
#: Bytes of a sketch that narrows the brackets (all columns; each partition
#: sends one): its ``k`` grows for narrow data, which narrows more per pass.
_NARROWING_SKETCH_BYTES = 1 << 21
#: Values per row chunk of a bracket pass.
_BRACKET_CHUNK_VALUES = 1 << 18
#: Passes after which exact quantiles give up (never reached: a pass narrows
#: each bracket at least tenfold).
_MAX_PASSES = 64


#: The result of an empty block: no fields, no rows (not None: dask replaces a
#: partition's None by an empty pandas object).
EMPTY = ({}, 0)


def merge_parts(*parts):
    """Merge block results ``(fields, n_rows)``, skipping empty blocks.

    Fields are merged by kind: statistics with ``merge``, arrays of counts by
    addition, tuples of arrays (collected values) by concatenation, the
    ``integer_ranges`` of blocks by their minima and maxima. A field of only
    some blocks (the statistics of a group that only some partitions hold)
    is kept as it is. The blocks' statistics must share one integer centre
    (:func:`merge_recentred` brings them to one).
    """
    parts = [part for part in parts if part[1]]
    if not parts:
        return EMPTY
    merged, n_rows = dict(parts[0][0]), parts[0][1]
    for fields, rows in parts[1:]:
        for name, value in fields.items():
            if name not in merged:
                merged[name] = value
                continue
            held = merged[name]
            if name == "integer_ranges":
                merged[name] = _merged_ranges(held, value)
            elif name == "center":
                pass  # shared (see above)
            elif isinstance(held, Statistic):
                merged[name] = held.merge(value)
            elif isinstance(held, tuple):
                merged[name] = tuple(map(np.concatenate, zip(held, value, strict=True)))
            else:
                merged[name] = held + value
        n_rows += rows
    return merged, n_rows


def _merged_ranges(held, other):
    """The :func:`~sknorm._validation.integer_ranges` of two parts together."""
    ranges = dict(held)
    for position, (low, high) in other.items():
        known = ranges.get(position, (low, high))
        ranges[position] = (min(known[0], low), max(known[1], high))
    return ranges


def merge_recentred(n_features, *parts):
    """:func:`merge_parts` of blocks, or merged parts, each taken relative
    to its own integer centre (field ``center``, None for none) and holding
    the ``integer_ranges`` of its rows: merged at the centre of their rows
    together, which the result holds with their merged ranges.

    That centre is the in-memory fit's of those rows (per column,
    :func:`~sknorm._validation._center_of_column` of the merged range):
    where both parts have a centre on one side of 0, the one of smaller
    magnitude (the centre rounds the least magnitude toward zero, a
    monotone map), so one part does not move and the other's values stay
    as small as a centre of those rows can make them; 0 where the rows span
    0 or lie within ``2**53``. The merge therefore waits only for its own
    parts, as a plain tree reduction, and the root, whose rows are the
    collection's, is at the collection's centre, the in-memory fit's.

    Each part's statistics move by the exact integer difference of the
    centres (:meth:`~sknorm.stats.Statistic.shifted`), each location rounded
    once per merge that moves it. Every node's rows lie within the
    collection's: where the collection's values of a column are within
    ``2**53`` of its centre (the in-memory fit holds them exactly), so are
    they of every node's centre (a nonzero one lies between the
    collection's and the values), no conversion or move rounds, and extrema
    and sketched values are the in-memory fit's bit for bit. Otherwise a
    value rounds only where it lies beyond ``2**53`` from its node's
    centre, and from there on to the root the centre's magnitude only
    shrinks (or becomes 0, the rows spanning 0): the value's magnitude only
    grows, and each of its ``r`` roundings (its block's conversion and at
    most one per level of merges, ``L``) errs by at most half an ulp of its
    final magnitude. It is within ``r / 2`` ulps of the exact value, hence
    within ``floor((r + 1) / 2)`` ulps of the in-memory fit's (the exact
    value rounded once), ``r <= L + 1``: one ulp for at most
    ``_SPLIT_EVERY`` blocks (one level), two for up to ``_SPLIT_EVERY**3``.
    """
    parts = [part for part in parts if part[1]]
    ranges = {}
    for fields, _ in parts:
        ranges = _merged_ranges(ranges, fields.get("integer_ranges", {}))
    center = integer_center_of_ranges(ranges, n_features) if ranges else None
    moved = []
    for fields, rows in parts:
        fields = dict(fields)
        shift = _center_difference(fields.get("center"), center)
        if shift is not None:
            for name, value in fields.items():
                if isinstance(value, Statistic):
                    fields[name] = value.shifted(shift)
        fields["center"] = center
        moved.append((fields, rows))
    return merge_parts(*moved)


def _center_difference(old, new):
    """``old - new`` (integer centres, None for none) as exact Python ints
    (an array of object dtype), or None where they are the same."""
    if old is None and new is None:
        return None
    n_features = len(old if old is not None else new)
    old = np.zeros(n_features) if old is None else old
    new = np.zeros(n_features) if new is None else new
    if np.array_equal(old, new):
        return None
    shift = np.empty(n_features, dtype=object)
    shift[:] = [int(a) - int(b) for a, b in zip(old, new, strict=True)]
    return shift


#: The ``center`` of a block that chooses its own integer centre.
OWN_CENTER = "own"


def block_center(block, center):
    """``(center_integers, fields)`` of a block's validation: with
    ``center`` :data:`OWN_CENTER`, the block's own integer centre (chosen by
    the in-memory rule from its values, None where it has none) and the
    fields ``center`` and ``integer_ranges`` of its result (see
    :func:`merge_recentred`); else the given centre (the estimator's) and
    no fields. ``center_integers`` is False, the plain conversion, where
    there is no centre (bit for bit as before)."""
    fields = {}
    if isinstance(center, str):
        ranges = integer_ranges(block)
        center = integer_center_of_ranges(ranges, block.shape[1]) if ranges else None
        fields = {"center": center, "integer_ranges": ranges}
    return (False if center is None else center), fields


def has_wide_integers(sample, dropped=None):
    """Whether a source's one-row ``sample`` holds 64-bit integer columns (but
    its column ``dropped``, a position): those a fit may centre. Other data
    keeps the plain merge, which never waits for a centre."""
    if dropped is not None:
        keep = np.delete(np.arange(sample.shape[1]), dropped)
        sample = sample.iloc[:, keep] if hasattr(sample, "iloc") else sample[:, keep]
    return bool(_wide_integer_columns(sample))


def _block_statistics(estimator, block, weight, specs, center):
    """Statistics of one (non-empty) block: the in-memory fit of a batch,
    relative to the integer ``center`` (see :func:`block_center`)."""
    if weight is not None:
        weight = np.asarray(weight)
    center_integers, fields = block_center(block, center)
    statistics, n_rows = estimator._batch_statistics(
        block, weight, specs, reset=True, center_integers=center_integers
    )
    return statistics | fields, n_rows


def fit_statistics(estimator, source, specs, *, reset, task, exact=False):
    """Compute ``specs`` over the blocks of ``source``; return ``(statistics,
    n_rows)``.

    Validates the source's metadata (feature count, names, numeric dtypes)
    against ``estimator`` first, recording it when ``reset``, so such errors
    are raised before any data is read. With ``reset`` (for estimators that
    centre integers), each block is taken relative to its own integer centre
    and the merge chooses and records the whole data's, the in-memory fit's
    (:func:`merge_recentred`); otherwise every block is taken relative to
    the estimator's centre. Mergeable statistics take one pass; exact
    :class:`~sknorm.stats.Quantiles` take the further passes of
    :func:`exact_quantiles`.

    Begins the fit's callback ``task`` (:mod:`sknorm._callbacks`) once the
    metadata is valid. Its subtasks are the blocks merged (named by the
    source: ``partition`` of a dask collection, ``batch`` of a stream); with
    ``exact`` (or exact quantiles), the ``pass`` over the blocks of each pass,
    the first included (their number is known only at the end), each with a
    subtask per block.

    With ``exact`` (``fit`` on a source that can be read again), the
    estimator may also refine its statistics in further passes of its own
    (:meth:`~sknorm._estimator._StatisticsEstimator._refined_by_passes`).
    """
    metadata = source.metadata_sample()
    sample = check_input(
        estimator,
        metadata,
        reset=reset,
        accept_sparse=estimator._accept_sparse,
        allow_nan=estimator._allow_nan,
    )
    estimator._check_fit_input(sample)
    # A first fit chooses the integer centre: each block its own, the merge
    # the whole data's; later ones take the blocks relative to the one stored.
    choose = reset and estimator._centers_integers() and has_wide_integers(metadata)
    center = OWN_CENTER if choose else getattr(estimator, "_integer_center", None)
    if reset and not choose:
        estimator._integer_center = None
    n_features = sample.shape[1] if choose else None
    block_estimator = clone(estimator)
    # The blocks report nothing: their copies need no callbacks (clone keeps
    # them), which need not even be picklable.
    block_estimator.__dict__.pop("_skl_callbacks", None)
    mergeable = [spec for spec in specs if spec[0].mergeable]
    unmergeable = [spec for spec in specs if not spec[0].mergeable]
    for cls, _ in unmergeable:
        if cls is not Quantiles:  # pragma: no cover - no other such statistic
            raise TypeError(f"{cls.__name__} cannot be computed from a source.")
    # Exact quantiles, and the estimator's refinement, take further passes.
    exact = exact or bool(unmergeable)
    n_blocks = source.n_blocks()
    task.begin(source.data, max_subtasks=None if exact else n_blocks)
    names = {cls.__name__ for cls, _ in mergeable}
    # Exact quantiles start from a sketch of all the data and its extrema.
    helpers = [
        (cls, {})
        for cls in (QuantileSketch, Extrema)
        if unmergeable and cls.__name__ not in names
    ]
    if exact:
        with task.subtask("pass", max_subtasks=n_blocks) as first_pass:
            result = source.reduce(
                _block_statistics,
                block_estimator,
                mergeable + helpers,
                center,
                task=first_pass,
                n_features=n_features,
            )
    else:
        result = source.reduce(
            _block_statistics,
            block_estimator,
            mergeable,
            center,
            task=task,
            n_features=n_features,
        )
    statistics, n_rows = result
    statistics.pop("integer_ranges", None)
    if choose:
        center = estimator._integer_center = statistics.pop("center", None)
    if not n_rows:
        raise ValueError(
            f"Found array with 0 sample(s) while a minimum of 1 is required by "
            f"{type(estimator).__name__}: {source.description} holds no rows."
        )
    for _, options in estimator._sized_specs(unmergeable, n_rows):
        statistics["Quantiles"] = exact_quantiles(
            block_estimator,
            source,
            options["levels"],
            statistics["QuantileSketch"],
            statistics["Extrema"],
            n_rows,
            task=task,
            center=center,
        )
    for cls, _ in helpers:
        del statistics[cls.__name__]
    if exact:

        def run_pass(function, *args):
            """``function(estimator, X, weight, *args)`` on every validated
            block (relative to the integer centre), merged; one ``pass``."""
            with task.subtask("pass", max_subtasks=source.n_blocks()) as this_pass:
                fields, _ = source.reduce(
                    _validated_block_call,
                    block_estimator,
                    function,
                    center,
                    args,
                    task=this_pass,
                )
            return fields

        statistics = estimator._refined_by_passes(statistics, run_pass)
    return statistics, n_rows


def _validated_block_call(estimator, block, weight, function, center, args):
    """``function(estimator, X, weight, *args)`` of a block validated as in
    the first pass (relative to the integer ``center`` chosen there)."""
    X, weight = estimator._checked_batch(
        block,
        None if weight is None else np.asarray(weight),
        reset=True,
        center_integers=False if center is None else center,
    )
    return function(estimator, X, weight, *args), X.shape[0]


# ---------------------------------------------------------------------------
# Exact quantiles by narrowing brackets
# ---------------------------------------------------------------------------


def _bracket_pass(estimator, block, weight, low, high, sketched, k, center):
    """Weights of one block's values against per-column brackets.

    ``low`` and ``high`` have shape ``(n_brackets, n_features)``; brackets are
    sorted and disjoint per column (padding ones are empty: ``low > high``).
    Returns, per bracket, the weight below it, at its low end, strictly inside
    it and at its high end; each column's total weight; and the values strictly
    inside the brackets: sketched for the ``sketched`` columns, collected for
    the others. The block is processed in row chunks, so the memory used stays
    a small multiple of a chunk however many values lie in the brackets (all of
    them, for a partition of sorted or drifting data).
    """
    # Validated as in the first pass, relative to the collection's integer
    # centre that it chose; it has already rejected infinity.
    X, weight = estimator._checked_batch(
        block,
        None if weight is None else np.asarray(weight),
        reset=True,
        center_integers=False if center is None else center,
    )
    chunks = (
        _bracket_chunk(
            X[rows], None if weight is None else weight[rows], low, high, sketched, k
        )
        for rows in row_blocks(X.shape[0], X.shape[1], _BRACKET_CHUNK_VALUES)
    )
    return merge_parts(*chunks)


def _bracket_chunk(X, weight, low, high, sketched, k):
    if is_sparse(X):
        X = X.toarray()
    X = np.asarray(X, dtype=np.float64)
    n_brackets, n_features = low.shape
    # Each column's real brackets (the others pad: empty) are sorted and
    # disjoint: their ends, in order, place every value with one search.
    real = low <= high
    n_ends = 2 * real.sum(axis=0)
    edges = np.zeros((n_features, max(1, n_ends.max())))
    for j in range(n_features):
        edges[j, 0 : n_ends[j] : 2] = low[real[:, j], j]
        edges[j, 1 : n_ends[j] : 2] = high[real[:, j], j]
    # Histograms of each value's place: below[j, r] adds the weights of the
    # values with r ends <= them, up_to[j, l] of those with l ends < them;
    # their cumulative sums at k are the weights < and <= end k.
    size = edges.shape[1] + 1
    below, up_to = np.zeros((n_features, size)), np.zeros((n_features, size))
    inside = np.zeros(X.shape, dtype=bool)  # strictly inside a bracket
    weights = np.zeros(0) if weight is None else np.asarray(weight, np.float64)
    compiled = kernels("quantiles")
    place = _place_in_brackets if compiled is None else compiled.place_in_brackets
    place(X, weights, edges, n_ends, below, up_to, inside)
    below, up_to = np.cumsum(below, axis=1), np.cumsum(up_to, axis=1)
    total = below[:, -1]
    counts = np.zeros((4, n_brackets, n_features))  # below, at low, inside, at high
    counts[0] = total  # padding brackets: every value below them
    for j in range(n_features):
        low_end, high_end = np.arange(0, n_ends[j], 2), np.arange(1, n_ends[j], 2)
        open_bracket = edges[j, low_end] < edges[j, high_end]
        rows = np.flatnonzero(real[:, j])
        counts[0, rows, j] = below[j, low_end]
        counts[1, rows, j] = up_to[j, low_end] - below[j, low_end]
        counts[2, rows, j] = np.where(
            open_bracket, below[j, high_end] - up_to[j, low_end], 0.0
        )
        counts[3, rows, j] = np.where(
            open_bracket, up_to[j, high_end] - below[j, high_end], 0.0
        )
    # The values inside the brackets, column by column.
    columns, rows = np.nonzero(inside.T)
    values = X[rows, columns]
    weights = np.ones(len(rows)) if weight is None else weight[rows]
    to_sketch = sketched[columns]
    fields = {
        "counts": counts,
        "total": total,
        "sketch": QuantileSketch.from_columns(
            values[to_sketch],
            columns[to_sketch],
            X.shape[1],
            weights[to_sketch],
            k=k,
        ),
        "collected": tuple(part[~to_sketch] for part in (values, weights, columns)),
    }
    return fields, X.shape[0]


def _place_in_brackets(X, weight, edges, n_ends, below, up_to, inside):
    """numpy counterpart of :func:`sknorm._kernels.quantiles.place_in_brackets`."""
    present = ~np.isnan(X)
    if weight.shape[0]:
        present &= (weight > 0)[:, None]
    for j in range(X.shape[1]):
        ends = edges[j, : n_ends[j]]
        rows = np.flatnonzero(present[:, j])
        x = X[rows, j]
        left = np.searchsorted(ends, x, side="left")
        right = np.searchsorted(ends, x, side="right")
        w = weight[rows] if weight.shape[0] else None
        size = below.shape[1]
        below[j] += np.bincount(right, weights=w, minlength=size)
        up_to[j] += np.bincount(left, weights=w, minlength=size)
        inside[rows[(left == right) & (left % 2 == 1)], j] = True


def _disjoint_brackets(low, high, open_):
    """Merge each column's overlapping brackets (of its open slots).

    Returns the merged brackets ``(lows, highs)`` of shape ``(n, n_features)``,
    sorted and disjoint per column (padded with empty ones), and the index of
    each slot's bracket (0 for closed slots).
    """
    n_slots, n_features = low.shape
    merged = []
    slot_bracket = np.zeros((n_slots, n_features), dtype=np.intp)
    for j in range(n_features):
        slots = np.flatnonzero(open_[:, j])
        column = []
        for slot in slots[np.argsort(low[slots, j], kind="stable")]:
            if column and low[slot, j] <= column[-1][1]:
                column[-1][1] = max(column[-1][1], high[slot, j])
            else:
                column.append([low[slot, j], high[slot, j]])
            slot_bracket[slot, j] = len(column) - 1
        merged.append(column)
    size = max(1, *map(len, merged))
    lows = np.full((size, n_features), np.inf)
    highs = np.full((size, n_features), -np.inf)
    for j, column in enumerate(merged):
        for b, (lo, hi) in enumerate(column):
            lows[b, j], highs[b, j] = lo, hi
    return lows, highs, slot_bracket


def _narrowed(sketch, ranks, low, high, factor):
    """Brackets of the values at ``ranks`` of the sketched data.

    The margin either side is the sketch's deterministic rank bound plus one,
    times ``factor``; brackets are kept within ``[low, high]``. Returns the
    brackets and their width in weight.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = sketch.rank_error_bound() * sketch.weight_sum()
    margin = factor * (np.where(np.isfinite(margin), margin, 0.0) + 1)
    new_low = np.fmax(sketch.values_at_ranks(np.maximum(ranks - margin, 0)), low)
    new_high = np.fmin(sketch.values_at_ranks(ranks + margin), high)
    return new_low, new_high, np.broadcast_to(2 * margin + 1, ranks.shape)


def _select_collected(collected, ranks, low, high, slots):
    """Values at ``ranks`` (in weight) among the collected values strictly
    inside ``(low, high)`` of each slot; NaN for other slots."""
    values, weights, columns = collected
    n_features = ranks.shape[1]
    order = sort_by_column_then_value(values, columns, n_features)
    values, weights = values[order], weights[order]
    starts = np.searchsorted(columns[order], np.arange(n_features + 1))
    cumulative = np.concatenate(([0.0], np.cumsum(weights)))
    found = np.full(ranks.shape, np.nan)
    for i, j in zip(*np.nonzero(slots), strict=True):
        column = values[starts[j] : starts[j + 1]]
        first = starts[j] + np.searchsorted(column, low[i, j], side="right")
        target = cumulative[first] + ranks[i, j]
        found[i, j] = values[np.searchsorted(cumulative[1:], target, side="right")]
    return found


def _at_slots(slot_bracket, array):
    """Per-bracket ``array`` of shape (n_brackets, n_features) at each slot."""
    return np.take_along_axis(array, slot_bracket, axis=0)


def exact_quantiles(
    estimator, source, levels, sketch, extrema, n_rows, *, task, center=None
):
    """Exact quantiles of the data of ``source``, from its sketch and
    extrema; each pass over the data is a subtask ``pass`` of ``task``.

    ``center`` is the integer centre the blocks are taken relative to, as in
    the root of the first pass's merge (the collection's, see
    :func:`merge_recentred`).

    Equal to ``Quantiles.from_data`` on all the data (to the last bit without
    weights or with integer weights; with real weights, up to the order in
    which weights are summed). Columns whose sketch kept every value are
    answered by the sketch; the others take further passes over the data
    (see the module docstring) until every wanted order statistic is found.
    """
    levels = np.asarray(levels, dtype=np.float64)
    answer = sketch.quantiles(levels)
    # Ranks count values of mean weight: weights are relative (see
    # sknorm.stats.quantiles); the sketch counts the values exactly.
    count = sketch.value_count
    # Slots: the order statistics bracketing each level (lower, then upper).
    value = np.vstack([answer.lower, answer.upper])
    open_ = np.broadcast_to(sketch.compaction_error > 0, value.shape).copy()
    if not open_.any():
        return answer
    n_features = value.shape[1]
    minimum, maximum = extrema.minimum, extrema.maximum
    factor = np.ones(n_features)
    # A sketch holds about 3 k items of 16 bytes per column.
    k = int(np.clip(_NARROWING_SKETCH_BYTES // (48 * n_features), 320, 4096))

    def wanted_ranks(total):
        """Ranks of the slots; closes those whose value needs no search."""
        lower, upper, _, at_maximum = virtual_ranks(total, levels, count)
        ranks = np.vstack([lower, upper])
        at_maximum = np.vstack([at_maximum, at_maximum])
        for where, known in (
            (np.broadcast_to(total <= 0, ranks.shape), np.nan),
            (at_maximum, maximum),
            (ranks == 0, minimum),
        ):
            where = where & open_
            value[where] = np.broadcast_to(known, ranks.shape)[where]
            open_[where] = False
        return ranks

    total = answer.weight_sum
    ranks = wanted_ranks(total)
    low, high, width = _narrowed(sketch, ranks, minimum, maximum, factor)
    for _ in range(_MAX_PASSES):
        if not open_.any():
            break
        lows, highs, slot_bracket = _disjoint_brackets(low, high, open_)
        rows_per_weight = n_rows / np.where(total > 0, total, 1.0)
        expected_rows = np.where(open_, width, 0.0).sum(axis=0) * rows_per_weight
        sketched = expected_rows > _COLLECT_BUDGET / n_features
        with task.subtask("pass", max_subtasks=source.n_blocks()) as this_pass:
            fields, _ = source.reduce(
                _bracket_pass,
                estimator,
                lows,
                highs,
                sketched,
                k,
                center,
                task=this_pass,
            )
        total = fields["total"]
        ranks = wanted_ranks(total)

        below, at_low, inside, at_high = (
            _at_slots(slot_bracket, c) for c in fields["counts"]
        )
        slot_low, slot_high = (
            _at_slots(slot_bracket, lows),
            _at_slots(slot_bracket, highs),
        )
        rank = ranks - below  # within the bracket
        found_low = open_ & (rank >= 0) & (rank < at_low)
        rank -= at_low
        in_bracket = open_ & ~found_low & (rank >= 0) & (rank < inside)
        rank -= inside
        found_high = open_ & ~found_low & ~in_bracket & (rank >= 0) & (rank < at_high)
        rank += inside
        value[found_low] = slot_low[found_low]
        value[found_high] = slot_high[found_high]
        collect = in_bracket & ~sketched
        value[collect] = _select_collected(
            fields["collected"], rank, slot_low, slot_high, collect
        )[collect]
        narrow = in_bracket & sketched
        if narrow.any():
            # Ranks among the sketched values: those inside earlier brackets
            # of the column come first.
            before = np.cumsum(fields["counts"][2], axis=0) - fields["counts"][2]
            interior_low = np.nextafter(slot_low, np.inf)
            interior_high = np.nextafter(slot_high, -np.inf)
            new = _narrowed(
                fields["sketch"],
                rank + _at_slots(slot_bracket, before),
                interior_low,
                interior_high,
                factor,
            )
            low, high, width = (
                np.where(narrow, n, old)
                for n, old in zip(new, (low, high, width), strict=True)
            )
        missed = open_ & ~(found_low | found_high | in_bracket)
        open_ &= ~(found_low | found_high | collect)
        if missed.any():
            # The rank bound rules this out, but the counts are the proof:
            # search these slots again from the whole range, wider margins.
            factor[missed.any(axis=0)] *= 4
            low, high = np.where(missed, minimum, low), np.where(missed, maximum, high)
            width = np.where(missed, total, width)
    else:  # pragma: no cover - every pass narrows the brackets
        raise RuntimeError("The exact quantiles of the source did not converge.")
    _, _, fraction, _ = virtual_ranks(total, levels, count)
    n_levels = len(levels)
    return Quantiles(
        lower=value[:n_levels],
        upper=value[n_levels:],
        fraction=fraction,
        weight_sum=total,
        levels=levels,
    )
