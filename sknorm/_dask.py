"""Fitting and transforming dask arrays and DataFrames.

The estimators call into this module when they are given a dask collection; it
is imported only then, so sknorm never imports dask at module load.

A fit maps ``Statistic.from_data`` over the row blocks (array chunks or
DataFrame partitions), validating each block exactly as the in-memory path does,
and merges the statistics in a tree on the cluster: one pass over the data, and
only the small merged statistics come back to the client. Because the partial
statistics are merged, a fit uses the estimator's mergeable (streaming)
statistics: for RobustScaler that is the quantile sketch, not exact quantiles.
Transforms map the in-memory transform over blocks and stay lazy.
"""

import numpy as np
from sklearn.base import clone

from ._validation import check_input, check_sample_weight

#: Number of partial statistics merged by one task of the tree reduction.
_SPLIT_EVERY = 8


def is_dask_collection(X):
    """Whether X is a dask collection, decided without importing dask."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "dask")


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
    return np.zeros((1, X.shape[1]), dtype=X.dtype)


def _row_blocks(X):
    """Delayed row blocks of X, each holding every column."""
    if _is_dask_frame(X):
        return list(X.to_delayed())
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return list(X.to_delayed()[:, 0])


def _weight_blocks(X, sample_weight):
    """Delayed weight blocks aligned with :func:`_row_blocks`, or Nones."""
    n_blocks = X.npartitions if _is_dask_frame(X) else X.numblocks[0]
    if sample_weight is None:
        return [None] * n_blocks
    if _is_dask_frame(X):
        if not (
            is_dask_collection(sample_weight)
            and getattr(sample_weight, "npartitions", None) == n_blocks
        ):
            raise TypeError(
                "sample_weight for a dask DataFrame must be a dask Series with "
                f"the same partitions as X ({n_blocks}); got "
                f"{type(sample_weight).__name__}."
            )
        return list(sample_weight.to_delayed())
    import dask.array as da

    weight = da.asarray(sample_weight)
    if weight.ndim != 1 or weight.shape[0] != X.shape[0]:
        raise ValueError(
            f"sample_weight must have shape ({X.shape[0]},), got {weight.shape}."
        )
    return list(weight.rechunk((X.chunks[0],)).to_delayed())


def _block_statistics(estimator, block, weight, specs):
    """Statistics of one block, validated as the in-memory fit validates."""
    if block.shape[0] == 0:
        return None
    X = check_input(estimator, block, reset=True)
    estimator._check_fit_input(X)
    weight = check_sample_weight(None if weight is None else np.asarray(weight), X)
    statistics = {
        cls.__name__: cls.from_data(X, weight, **options) for cls, options in specs
    }
    return statistics, X.shape[0]


def _merge_statistics(*parts):
    """Merge block results ``(statistics, n_rows)``; None marks an empty block."""
    parts = [part for part in parts if part is not None]
    if not parts:
        return None
    merged, n_rows = dict(parts[0][0]), parts[0][1]
    for statistics, rows in parts[1:]:
        for name, statistic in statistics.items():
            merged[name] = merged[name].merge(statistic)
        n_rows += rows
    return merged, n_rows


def fit_statistics(estimator, X, sample_weight, specs, *, reset):
    """Compute ``specs`` on dask X in one tree-reduced pass on the cluster.

    Validates X's metadata (feature count, names, numeric dtypes) against
    ``estimator`` (recording it when ``reset``), then returns
    ``(statistics, n_rows)``.
    """
    import dask

    check_input(estimator, metadata_sample(X), reset=reset)
    block_estimator = clone(estimator)
    block_task = dask.delayed(_block_statistics, pure=True)
    merge_task = dask.delayed(_merge_statistics, pure=True)
    parts = [
        block_task(block_estimator, block, weight, specs)
        for block, weight in zip(
            _row_blocks(X), _weight_blocks(X, sample_weight), strict=True
        )
    ]
    while len(parts) > 1:
        parts = [
            merge_task(*parts[start : start + _SPLIT_EVERY])
            for start in range(0, len(parts), _SPLIT_EVERY)
        ]
    (result,) = dask.compute(parts[0])
    if result is None:
        raise ValueError(
            f"Found array with 0 sample(s) while a minimum of 1 is required by "
            f"{type(estimator).__name__}."
        )
    return result


def _apply(block, estimator, method, dtype):
    """The in-memory ``method`` on one block, never writing into the block."""
    if block.shape[0] == 0:
        return np.empty(block.shape, dtype=dtype)
    return np.asarray(getattr(estimator, method)(block, copy=True))


def _apply_frame(partition, estimator, method, dtype):
    import pandas as pd

    if len(partition) == 0:
        values = np.empty(partition.shape, dtype=dtype)
    else:
        values = getattr(estimator, method)(partition, copy=True)
        if hasattr(values, "to_numpy"):
            values = values.to_numpy()
    return pd.DataFrame(values, index=partition.index, columns=partition.columns)


def map_blockwise(estimator, method, X):
    """Lazy ``estimator.method(X)`` over the row blocks of dask X.

    The result is a dask array, or a dask DataFrame with X's columns and index,
    of the dtype the in-memory method gives (float32 kept).
    """
    # Checks fitted state, feature count and names now, not at compute time.
    dtype = np.asarray(getattr(estimator, method)(metadata_sample(X), copy=True)).dtype
    if _is_dask_frame(X):
        import pandas as pd

        meta = pd.DataFrame(
            np.empty((0, len(X.columns)), dtype=dtype),
            columns=X._meta.columns,
            index=X._meta.index,
        )
        return X.map_partitions(
            _apply_frame, estimator, method, dtype, meta=meta, align_dataframes=False
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(
        _apply,
        estimator,
        method,
        dtype,
        dtype=dtype,
        meta=np.empty((0, 0), dtype=dtype),
    )
