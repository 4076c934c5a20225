"""Fitting and transforming dask arrays and DataFrames.

sknorm calls into this module when it is given a dask collection; dask itself
is imported only then, so sknorm never imports dask at module load.

**Fit.** :class:`DaskSource` is the dask collection as a source of row blocks
(array chunks or DataFrame partitions) for :mod:`sknorm.sources._fit`, which
fits every source alike: the estimator's in-memory fit of a batch runs on
every block, in the task that reads the block, and the statistics are merged
in a tree on the cluster (:func:`_reduce_blocks`): one pass over the data, and
only the small merged statistics come back to the client; exact quantiles
take further passes, each a tree of counts and sketches.

**Transform.** :func:`blockwise_on_dask` makes ``transform`` and
``inverse_transform`` map the in-memory method over the blocks, lazily.
"""

import functools
import inspect

import numpy as np

from ._lazy import is_lazy_frame, lazy_map
from ._validation import is_sparse
from .sources._base import Source
from .sources._fit import EMPTY, merge_parts, merge_recentred

__all__ = [
    "DaskDispatchMixin",
    "DaskSource",
    "blockwise_on_dask",
    "is_dask_collection",
    "map_blockwise",
    "metadata_sample",
]

#: Number of partial results merged by one task of the tree reduction.
_SPLIT_EVERY = 8


def is_dask_collection(X):
    """Whether X is a dask collection, decided without importing dask."""
    cls = type(X)
    return cls.__module__.startswith("dask") and hasattr(cls, "__dask_graph__")


def _is_dask_frame(X):
    return hasattr(X, "npartitions") and hasattr(X, "columns")


def metadata_sample(X):
    """A one-row in-memory stand-in with X's columns and dtypes.

    Validating it checks the number, names and dtypes of X's features without
    reading any data. Its values are 1, which every estimator's checks of
    values accept (Box-Cox's strictly positive data).
    """
    if _is_dask_frame(X):
        import pandas as pd

        meta = X._meta
        columns = {}
        for position, dtype in enumerate(meta.dtypes):
            try:
                columns[position] = pd.Series([1], dtype=dtype)
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
    sample = np.ones((1, X.shape[1]), dtype=X.dtype)
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


def _run_on_block(block, weight, function, estimator, args):
    if block.shape[0] == 0:
        return EMPTY
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
    :func:`merge_parts`, or, where ``n_features`` is given (blocks taken
    relative to their own integer centres), by :func:`merge_recentred`,
    which chooses each merge's centre from its own parts' minima and
    maxima. No merge waits for a block outside its subtree, so the
    statistics held at once are those of the merges under way (not every
    block's until the last block is read), and every block is read once."""
    merge = (
        merge_parts
        if n_features is None
        else functools.partial(merge_recentred, n_features)
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


class DaskSource(Source):
    """A dask array or DataFrame (and its ``sample_weight``, a dask array or
    Series in the same row blocks) as a :class:`~sknorm.sources.Source`:
    its row blocks are fitted and merged on the cluster."""

    block_name = "partition"
    rereadable = True

    def __init__(self, X, sample_weight=None):
        if isinstance(sample_weight, str):
            raise TypeError(
                "sample_weight names a column only for the stream sources "
                "(sknorm.scan); for a dask DataFrame give a dask Series."
            )
        self.data = X
        self.description = f"the dask {type(X).__name__}"
        self._sample_weight = sample_weight

    @functools.cached_property
    def _blocks(self):
        # Aligned once the metadata is validated (a 1-D array has no rows).
        return _aligned(self.data, self._sample_weight)

    def metadata_sample(self):
        return metadata_sample(self.data)

    def n_blocks(self):
        return _n_blocks(self._blocks)

    def reduce(self, function, estimator, *args, task, n_features=None):
        return _reduce_blocks(
            function, estimator, self._blocks, *args, task=task, n_features=n_features
        )

    def wants_exact(self, estimator):
        return estimator._exact_on_dask()


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
