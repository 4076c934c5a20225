"""Fitting and transforming dask arrays and DataFrames.

sknorm calls into this module when it is given a dask collection; dask itself
is imported only then, so sknorm never imports dask at module load.

**Fit.** :func:`fit_statistics` runs the estimator's in-memory fit of a batch
(``_batch_statistics``: validation, infinity check, ``Statistic.from_data``)
on every row block (array chunk or DataFrame partition), in the task that
reads the block, and merges the statistics in a tree on the cluster: one pass
over the data, and only the small merged statistics come back to the client.
64-bit integer columns beyond ``2**53`` are taken, in each block, relative
to the block's own integer centre, and the block also returns their minima
and maxima; each merge of the tree chooses the centre of its parts' rows
from those, moves their statistics to it, exactly, and merges them
(:func:`_merge_recentred`), so that the root is at the collection's centre
(the in-memory fit's): still one pass, merged as the blocks arrive.
Only mergeable statistics can be fitted that way: the estimator's
``partial_fit`` statistics (for quantiles, a
:class:`~sknorm.stats.QuantileSketch`).

**Exact quantiles** (:func:`exact_quantiles`, when an estimator asks for them)
are found by narrowing: the sketch of the first pass brackets each wanted order
statistic between two values, within the sketch's deterministic rank bound.
Each further pass counts, per partition, the weight below each bracket and in
it (checking that the wanted rank lies in the bracket) and either sketches the
values inside the brackets, which narrows them again, or, once few enough
values remain, collects them so that the client selects the exact order
statistics. Each pass reads the data once; only counts, sketches and the
collected values travel.

**Transform.** :func:`blockwise_on_dask` makes ``transform`` and
``inverse_transform`` map the in-memory method over the blocks, lazily.
"""

import functools
import inspect

import numpy as np
from sklearn.base import clone

from ._lazy import is_lazy_frame, lazy_map
from ._validation import (
    _wide_integer_columns,
    check_input,
    integer_center_of_ranges,
    integer_ranges,
    is_sparse,
    row_blocks,
)
from .stats import Extrema, Quantiles, QuantileSketch, Statistic
from .stats.quantiles import sort_by_column_then_value, virtual_ranks

__all__ = [
    "DaskDispatchMixin",
    "blockwise_on_dask",
    "exact_quantiles",
    "fit_statistics",
    "is_dask_collection",
    "map_blockwise",
    "metadata_sample",
]

#: Number of partial results merged by one task of the tree reduction.
_SPLIT_EVERY = 8
#: Values collected to the client per pass (all columns together), bounding the
#: client's memory when it selects exact quantiles.
_COLLECT_BUDGET = 1 << 22
#: Bytes of a sketch that narrows the brackets (all columns; each partition
#: sends one): its ``k`` grows for narrow data, which narrows more per pass.
_NARROWING_SKETCH_BYTES = 1 << 21
#: Values per row chunk of a bracket pass.
_BRACKET_CHUNK_VALUES = 1 << 18
#: Passes after which exact quantiles give up (never reached: a pass narrows
#: each bracket at least tenfold).
_MAX_PASSES = 64


def is_dask_collection(X):
    """Whether X is a dask collection, decided without importing dask."""
    cls = type(X)
    return cls.__module__.startswith("dask") and hasattr(cls, "__dask_graph__")


def _is_dask_frame(X):
    return hasattr(X, "npartitions") and hasattr(X, "columns")


def metadata_sample(X):
    """A one-row in-memory stand-in with X's columns and dtypes.

    Validating it checks the number, names and dtypes of X's features without
    reading any data.
    """
    if _is_dask_frame(X):
        import pandas as pd

        meta = X._meta
        columns = {}
        for position, dtype in enumerate(meta.dtypes):
            try:
                columns[position] = pd.Series([0], dtype=dtype)
            except (TypeError, ValueError):
                columns[position] = pd.Series([None], dtype=dtype)
        sample = pd.DataFrame(columns)
        sample.columns = meta.columns
        return sample
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array of shape (n_samples, n_features), got "
            f"{X.ndim} dimension(s)."
        )
    if np.isnan(X.shape[1]):
        raise ValueError("The number of columns of the dask array must be known.")
    sample = np.zeros((1, X.shape[1]), dtype=X.dtype)
    # Chunks of scipy.sparse matrices: a sparse stand-in, checked as such.
    return type(X._meta)(sample) if is_sparse(X._meta) else sample


def _aligned(X, sample_weight):
    """X with whole rows in each block, and sample_weight (or None) in the
    same row blocks."""
    if _is_dask_frame(X):
        if sample_weight is not None and not (
            is_dask_collection(sample_weight)
            and getattr(sample_weight, "npartitions", None) == X.npartitions
        ):
            raise TypeError(
                "sample_weight for a dask DataFrame must be a dask Series with "
                f"the same partitions as X ({X.npartitions}); got "
                f"{type(sample_weight).__name__}."
            )
        return X, sample_weight
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    if sample_weight is None:
        return X, None
    import dask.array as da

    weight = da.asarray(sample_weight)
    if weight.ndim != 1 or weight.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight must have shape ({X.shape[0]},), got {weight.shape}."
        )
    return X, weight.rechunk((X.chunks[0],))


#: The result of an empty block: no fields, no rows (not None: dask replaces a
#: partition's None by an empty pandas object).
_EMPTY = ({}, 0)


def _run_on_block(block, weight, function, estimator, args):
    if block.shape[0] == 0:
        return _EMPTY
    return function(estimator, block, weight, *args)


def _per_block(function, estimator, data, args):
    """Delayed ``function(estimator, block, weight, *args)`` of every row block.

    Each is one task with the reading of its block (map_partitions/blockwise
    fuse them), so no block waits in a worker's memory for its statistics.
    """
    X, weight = data
    if _is_dask_frame(X):
        import pandas as pd

        results = X.map_partitions(
            _run_on_block,
            weight,
            function,
            estimator,
            args,
            meta=pd.Series([], dtype=object),
            align_dataframes=False,
        )
    else:
        import dask.array as da

        results = da.blockwise(
            _run_on_block,
            "i",
            X,
            "ij",
            weight,
            None if weight is None else "i",
            function,
            None,
            estimator,
            None,
            args,
            None,
            concatenate=True,
            adjust_chunks={"i": 1},
            dtype=object,
            meta=np.empty((0,), dtype=object),
        )
    return list(results.to_delayed())


def _merge_parts(*parts):
    """Merge block results ``(fields, n_rows)``, skipping empty blocks.

    Fields are merged by kind: statistics with ``merge``, arrays of counts by
    addition, tuples of arrays (collected values) by concatenation, the
    ``integer_ranges`` of blocks by their minima and maxima. A field of only
    some blocks (the statistics of a group that only some partitions hold)
    is kept as it is. The blocks' statistics must share one integer centre
    (:func:`_merge_recentred` brings them to one).
    """
    parts = [part for part in parts if part[1]]
    if not parts:
        return _EMPTY
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


def _merge_recentred(n_features, *parts):
    """:func:`_merge_parts` of blocks, or merged parts, each taken relative
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
    return _merge_parts(*moved)


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


def _merge_tree(parts, merge):
    """The root of a tree of ``merge(*group)`` over ``parts``."""
    while len(parts) > 1:
        parts = [
            merge(*parts[start : start + _SPLIT_EVERY])
            for start in range(0, len(parts), _SPLIT_EVERY)
        ]
    return parts[0]


def _reduction(parts, submit, n_features):
    """The root of a tree of merges of ``parts`` by ``submit(function,
    *args)`` (a delayed call or a cluster's task), each merging up to
    ``_SPLIT_EVERY`` parts as soon as they are computed: by
    :func:`_merge_parts`, or, where ``n_features`` is given (blocks taken
    relative to their own integer centres), by :func:`_merge_recentred`,
    which chooses each merge's centre from its own parts' minima and
    maxima. No merge waits for a block outside its subtree, so the
    statistics held at once are those of the merges under way (not every
    block's until the last block is read), and every block is read once."""
    merge = (
        _merge_parts
        if n_features is None
        else functools.partial(_merge_recentred, n_features)
    )
    return _merge_tree(parts, functools.partial(submit, merge))


def _delayed_call(function, *args):
    import dask

    return dask.delayed(function, pure=True)(*args)


def _n_blocks(data):
    """Number of row blocks of ``data`` (X and its weights), one task each."""
    X, _ = data
    return X.npartitions if _is_dask_frame(X) else X.numblocks[0]


def _reduce_blocks(function, estimator, data, *args, task, n_features=None):
    """``function(estimator, block, weight, *args)`` on every block of ``data``
    (X and its weights), merged in a tree on the cluster; returns the merged
    ``(fields, n_rows)`` (no fields and no rows when every block is empty).

    With ``n_features``, the blocks' results hold statistics relative to
    their own integer centres (fields ``center`` and ``integer_ranges``, see
    :func:`_block_statistics`), merged at the collection's centre (the
    merged field ``center``, see :func:`_reduction`).

    When ``task`` reports to callbacks, each block is a subtask ``partition``
    of it (its ``max_subtasks`` is :func:`_n_blocks`), begun when the work is
    submitted and ended when the block's result is computed.
    """
    import dask

    parts = _per_block(function, estimator, data, args)
    if not task.reporting:
        (result,) = dask.compute(_reduction(parts, _delayed_call, n_features))
        return result
    partitions = [task.begin_subtask("partition") for _ in parts]
    client = _distributed_client(parts)
    if client is not None:
        from distributed import as_completed

        futures = client.compute(parts)
        root = _reduction(futures, client.submit, n_features)
        index = {future.key: i for i, future in enumerate(futures)}
        for future in as_completed(futures):
            if future.status == "error":
                break  # raised by root.result()
            partitions[index[future.key]].end()
        return root.result()
    from dask.callbacks import Callback

    index = {part.key: i for i, part in enumerate(parts)}

    def block_done(key, *_):
        # Local schedulers call this in the calling thread, for every task.
        if key in index:
            partitions[index[key]].end()

    with Callback(posttask=block_done):
        (result,) = dask.compute(_reduction(parts, _delayed_call, n_features))
    return result


def _distributed_client(collections):
    """The ``distributed`` client that would compute ``collections``, or None
    (a local scheduler)."""
    import sys

    from dask.base import get_scheduler

    if "distributed" not in sys.modules:  # no client without it
        return None
    from distributed import Client

    owner = getattr(get_scheduler(collections=collections), "__self__", None)
    return owner if isinstance(owner, Client) else None


#: The ``center`` of a block that chooses its own integer centre.
OWN_CENTER = "own"


def block_center(block, center):
    """``(center_integers, fields)`` of a block's validation: with
    ``center`` :data:`OWN_CENTER`, the block's own integer centre (chosen by
    the in-memory rule from its values, None where it has none) and the
    fields ``center`` and ``integer_ranges`` of its result (see
    :func:`_merge_recentred`); else the given centre (the estimator's) and
    no fields. ``center_integers`` is False, the plain conversion, where
    there is no centre (bit for bit as before)."""
    fields = {}
    if isinstance(center, str):
        ranges = integer_ranges(block)
        center = integer_center_of_ranges(ranges, block.shape[1]) if ranges else None
        fields = {"center": center, "integer_ranges": ranges}
    return (False if center is None else center), fields


def has_wide_integers(X, dropped=None):
    """Whether dask X's metadata holds 64-bit integer columns (but its
    column ``dropped``, a position): those a fit may centre. Other data
    keeps the plain merge, which never waits for a centre."""
    sample = metadata_sample(X)
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


def fit_statistics(estimator, X, sample_weight, specs, *, reset, task):
    """Compute ``specs`` on dask X with the cluster; return ``(statistics, n_rows)``.

    Validates X's metadata (feature count, names, numeric dtypes) against
    ``estimator`` first, recording it when ``reset``, so such errors are raised
    before any data is read. With ``reset`` (for estimators that centre
    integers), each block is taken relative to its own integer centre and
    the merge chooses and records the collection's, the in-memory fit's
    (:func:`_merge_recentred`); otherwise every block is taken relative to
    the estimator's centre. Mergeable statistics take one tree-reduced pass;
    exact :class:`~sknorm.stats.Quantiles` take the further passes of
    :func:`exact_quantiles`.

    Begins the fit's callback ``task`` (:mod:`sknorm._callbacks`) once the
    metadata is valid. Its subtasks are the ``partition`` of each block
    merged; with exact quantiles, the ``pass`` over the blocks of each pass
    (their number is known only at the end), each with a ``partition``
    subtask per block.
    """
    sample = check_input(
        estimator,
        metadata_sample(X),
        reset=reset,
        accept_sparse=estimator._accept_sparse,
        allow_nan=estimator._allow_nan,
    )
    estimator._check_fit_input(sample)
    data = _aligned(X, sample_weight)
    # A first fit chooses the integer centre: each block its own, the merge
    # the collection's; later ones take the blocks relative to the one stored.
    choose = reset and estimator._centers_integers() and has_wide_integers(X)
    center = OWN_CENTER if choose else getattr(estimator, "_integer_center", None)
    if reset and not choose:
        estimator._integer_center = None
    n_features = sample.shape[1] if choose else None
    block_estimator = clone(estimator)
    # The blocks report nothing: their copies need no callbacks (clone keeps
    # them), which need not even be picklable.
    block_estimator.__dict__.pop("_skl_callbacks", None)
    mergeable = [spec for spec in specs if spec[0].mergeable]
    exact = [spec for spec in specs if not spec[0].mergeable]
    for cls, _ in exact:
        if cls is not Quantiles:  # pragma: no cover - no other such statistic
            raise TypeError(f"{cls.__name__} cannot be computed on dask input.")
    n_blocks = _n_blocks(data)
    task.begin(X, max_subtasks=None if exact else n_blocks)
    names = {cls.__name__ for cls, _ in mergeable}
    # Exact quantiles start from a sketch of all the data and its extrema.
    helpers = [
        (cls, {})
        for cls in (QuantileSketch, Extrema)
        if exact and cls.__name__ not in names
    ]
    if exact:
        with task.subtask("pass", max_subtasks=n_blocks) as first_pass:
            result = _reduce_blocks(
                _block_statistics,
                block_estimator,
                data,
                mergeable + helpers,
                center,
                task=first_pass,
                n_features=n_features,
            )
    else:
        result = _reduce_blocks(
            _block_statistics,
            block_estimator,
            data,
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
            f"{type(estimator).__name__}."
        )
    for _, options in estimator._sized_specs(exact, n_rows):
        statistics["Quantiles"] = exact_quantiles(
            block_estimator,
            data,
            options["levels"],
            statistics["QuantileSketch"],
            statistics["Extrema"],
            n_rows,
            task=task,
            center=center,
        )
    for cls, _ in helpers:
        del statistics[cls.__name__]
    return statistics, n_rows


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
    return _merge_parts(*chunks)


def _bracket_chunk(X, weight, low, high, sketched, k):
    if is_sparse(X):
        X = X.toarray()
    present = ~np.isnan(X)
    if weight is None:
        weight_of = functools.partial(np.sum, axis=0, dtype=np.float64)
    else:
        present &= (weight > 0)[:, None]
        weight_of = functools.partial(np.matmul, weight)
    counts = np.zeros((4, *low.shape))  # below, at low, inside, at high
    wanted = np.zeros(X.shape, dtype=bool)
    for b, (lo, hi) in enumerate(zip(low, high, strict=True)):
        counts[0, b] = weight_of(present & (X < lo))
        counts[1, b] = weight_of(present & (X == lo))
        counts[3, b] = weight_of(present & (X == hi) & (lo < hi))
        inside = present & (X > lo) & (X < hi)
        counts[2, b] = weight_of(inside)
        wanted |= inside
    # The values inside the brackets, column by column.
    columns, rows = np.nonzero(wanted.T)
    values = X[rows, columns].astype(np.float64)
    weights = np.ones(len(rows)) if weight is None else weight[rows]
    to_sketch = sketched[columns]
    fields = {
        "counts": counts,
        "total": weight_of(present),
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
    estimator, data, levels, sketch, extrema, n_rows, *, task, center=None
):
    """Exact quantiles of ``data`` (X and its weights), from its sketch and
    extrema; each pass over the data is a subtask ``pass`` of ``task``.

    ``center`` is the integer centre the blocks are taken relative to, as in
    the root of the first pass's merge (the collection's, see
    :func:`_merge_recentred`).

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
        with task.subtask("pass", max_subtasks=_n_blocks(data)) as this_pass:
            fields, _ = _reduce_blocks(
                _bracket_pass,
                estimator,
                data,
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
        raise RuntimeError("The exact quantiles of the dask input did not converge.")
    _, _, fraction, _ = virtual_ranks(total, levels, count)
    n_levels = len(levels)
    return Quantiles(
        lower=value[:n_levels],
        upper=value[n_levels:],
        fraction=fraction,
        weight_sum=total,
        levels=levels,
    )


# ---------------------------------------------------------------------------
# Transforms
# ---------------------------------------------------------------------------


def _call(estimator, method, X):
    """The in-memory ``method``, never writing into X (dask may share blocks)."""
    function = getattr(estimator, method)
    if "copy" in inspect.signature(function).parameters:
        return function(X, copy=True)
    return function(X)


def _apply(block, estimator, method, shape, dtype):
    if block.shape[0] == 0:
        return np.empty((0, shape), dtype=dtype)
    result = _call(estimator, method, block)
    return result if is_sparse(result) else np.asarray(result)


def _apply_frame(partition, estimator, method, meta):
    import pandas as pd

    values = _apply(partition, estimator, method, meta.shape[1], meta.dtypes.iloc[0])
    return pd.DataFrame(values, index=partition.index, columns=meta.columns)


def _output_columns(estimator, method, X, n_out):
    """Column names of ``method``'s output for a dask DataFrame X."""
    import pandas as pd

    new_features = getattr(estimator, "_new_features", lambda: False)()
    if n_out == len(X.columns) and not new_features:
        return X._meta.columns
    if method == "transform":
        return pd.Index(estimator.get_feature_names_out())
    names = getattr(estimator, "feature_names_in_", None)
    return pd.Index(names if names is not None else [f"x{i}" for i in range(n_out)])


def map_blockwise(estimator, method, X):
    """Lazy ``estimator.method(X)`` over the row blocks of dask X.

    The result is a dask array (of sparse chunks where the in-memory method
    keeps sparse input sparse), or a dask DataFrame with X's index and the
    output's column names, of the dtype the in-memory method gives (float32
    kept). The fitted state, feature count and names are checked now, on a
    one-row stand-in for X, not when the result is computed.
    """
    # An estimator may choose its stand-in (one with a group it knows).
    sample = getattr(estimator, "_dask_metadata_sample", metadata_sample)(X)
    example = _call(estimator, method, sample)
    if not is_sparse(example):
        example = np.asarray(example)
    n_out, dtype = example.shape[1], example.dtype
    if _is_dask_frame(X):
        import pandas as pd

        columns = _output_columns(estimator, method, X, n_out)
        meta = pd.DataFrame(
            np.empty((0, n_out), dtype=dtype), columns=columns, index=X._meta.index
        )
        return X.map_partitions(
            _apply_frame, estimator, method, meta, meta=meta, align_dataframes=False
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(
        _apply,
        estimator,
        method,
        n_out,
        dtype,
        dtype=dtype,
        chunks=(X.chunks[0], (n_out,)),
        meta=example[:0],
    )


def blockwise_on_dask(method):
    """Decorate ``transform``/``inverse_transform``: dask input is mapped lazily
    over its blocks by :func:`map_blockwise`; other input goes to ``method``.

    :class:`DaskDispatchMixin` applies it to every estimator's methods; only a
    method it cannot see (wrapped by ``available_if``) needs it explicitly.
    """

    @functools.wraps(method)
    def dispatch(self, X, *args, **kwargs):
        if is_dask_collection(X):
            return map_blockwise(self, method.__name__, X)
        if is_lazy_frame(X):
            return lazy_map(self, method.__name__, X)
        return method(self, X, *args, **kwargs)

    return dispatch


class DaskDispatchMixin:
    """Give dask input to ``transform`` and ``inverse_transform`` lazy results.

    Every subclass's own ``transform`` and ``inverse_transform`` functions are
    wrapped by :func:`blockwise_on_dask` when the class is created. It runs
    after scikit-learn's ``set_output`` wrapping of ``transform`` (this mixin
    precedes ``TransformerMixin`` in the bases), so it is the outer wrapper: a
    dask result is returned as it is, never converted to (that is, computed
    into) a pandas or polars DataFrame.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in ("transform", "inverse_transform"):
            method = cls.__dict__.get(name)
            if inspect.isfunction(method):
                setattr(cls, name, blockwise_on_dask(method))
