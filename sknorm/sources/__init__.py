"""Where the data of a fit comes from when it is not in memory.

``fit`` and ``partial_fit`` of every estimator that learns statistics take,
besides in-memory data:

* a dask array or DataFrame, fitted on the cluster (:mod:`sknorm._dask`);
* a *stream source*, read in batches on this machine (:func:`scan`): a polars
  ``LazyFrame``, a DuckDB relation, a pyarrow ``Dataset``, ``Table`` or
  ``RecordBatchReader``, or a Parquet path or glob.

Each is adapted into a :class:`Source` of row blocks; every source is fitted
by the same code (:mod:`sknorm.sources._fit`): the in-memory fit of each
block, the blocks' statistics merged exactly, and exact quantiles found in
further passes over a source that can be read again. The libraries are
imported only when such a source arrives.
"""

from ._arrow import ArrowSource, scan, stream_kind
from ._base import Source, StreamSource

__all__ = ["ArrowSource", "Source", "StreamSource", "as_source", "scan"]


def as_source(X, sample_weight=None):
    """The :class:`Source` of X (with its ``sample_weight``), or None for
    in-memory data (which the estimators validate themselves)."""
    from .._dask import DaskSource, is_dask_collection

    if isinstance(X, ArrowSource):
        return X.with_weight(sample_weight)
    if is_dask_collection(X):
        return DaskSource(X, sample_weight)
    if stream_kind(X) is not None:
        return ArrowSource(X).with_weight(sample_weight)
    if isinstance(sample_weight, str):
        raise TypeError(
            f"sample_weight={sample_weight!r} names a column, which only a "
            "stream source has (a LazyFrame, a DuckDB relation, a pyarrow "
            "Dataset or Table, a Parquet path: see sknorm.scan). For "
            f"{type(X).__name__} give the weights as an array."
        )
    return None
