"""Stream sources read as Arrow record batches: pyarrow tables, datasets and
readers, Parquet files, polars LazyFrames and DuckDB relations.

Each kind of source is adapted to one thing, a function that opens the data
as an iterator of ``pyarrow.RecordBatch`` (again for each pass, where the
source can be read again) and the Arrow schema of its columns. Every batch
then becomes a block the estimators' in-memory fit validates: a 2-D float
array, converted in one copy (``RecordBatch.to_tensor``, nulls to NaN), or,
where exact 64-bit integers or a group column must survive the conversion, a
pandas DataFrame. The libraries are imported only when such a source arrives.
"""

import glob
import os

import numpy as np

from ._base import StreamSource, float_dtype_of

__all__ = ["ArrowSource", "scan", "stream_kind"]

_INSTALL_HINT = 'pip install "sknorm[stream]"'

#: Values per batch by default (2 MiB of float64): a batch, its conversion
#: and a statistic's temporaries stay in a core's cache, and the batches in
#: flight (one per thread, one being read) hold a few MB.
BATCH_VALUES = 1 << 18


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.dataset
    except ImportError as error:
        raise ImportError(
            f"Reading this source needs pyarrow: {_INSTALL_HINT}."
        ) from error
    return pyarrow


def stream_kind(X):
    """The kind of stream source X is (``"table"``, ``"dataset"``,
    ``"reader"``, ``"parquet"``, ``"lazyframe"``, ``"duckdb"``), or None;
    decided without importing the libraries."""
    if isinstance(X, ArrowSource):
        return X.kind
    if isinstance(X, str | os.PathLike):
        return "parquet"
    cls = type(X)
    module = cls.__module__.split(".")[0]
    name = cls.__name__
    if module == "polars" and name == "LazyFrame":
        return "lazyframe"
    if module == "duckdb" and name == "DuckDBPyRelation":
        return "duckdb"
    if module == "pyarrow":
        if name == "Table":
            return "table"
        if name == "RecordBatchReader":
            return "reader"
        if name in ("Dataset", "FileSystemDataset", "UnionDataset", "InMemoryDataset"):
            return "dataset"
    return None


def _is_numeric(arrow_type):
    import pyarrow as pa

    return (
        pa.types.is_integer(arrow_type)
        or pa.types.is_floating(arrow_type)
        or pa.types.is_boolean(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_null(arrow_type)
    )


def _numpy_dtype(arrow_type):
    """The numpy dtype an in-memory DataFrame gives a numeric Arrow column
    (decimals and all-null columns as float64)."""
    import pyarrow as pa

    if pa.types.is_decimal(arrow_type) or pa.types.is_null(arrow_type):
        return np.dtype(np.float64)
    return np.dtype(arrow_type.to_pandas_dtype())


def _is_wide_integer(arrow_type):
    import pyarrow as pa

    return pa.types.is_integer(arrow_type) and arrow_type.bit_width == 64


def _quoted(name):
    return '"' + name.replace('"', '""') + '"'


def _parquet_paths(path):
    """The files of a Parquet path: a file, a directory or a glob."""
    path = os.fspath(path)
    if glob.has_magic(path):
        paths = sorted(glob.glob(path, recursive=True))
        if not paths:
            raise FileNotFoundError(f"No file matches the Parquet glob {path!r}.")
        return paths
    if not os.path.exists(path):
        raise FileNotFoundError(f"No Parquet file or directory at {path!r}.")
    return path


class ArrowSource(StreamSource):
    """A stream source read as Arrow record batches (see :func:`scan`).

    Attributes
    ----------
    data : object
        The source as given (a LazyFrame, relation, dataset, table, reader or
        path).
    kind : str
        ``"lazyframe"``, ``"duckdb"``, ``"dataset"``, ``"parquet"``,
        ``"table"`` or ``"reader"``.
    columns : list of str
        The columns read, the weight column included.
    sample_weight : str or None
        The column of the samples' weights.
    batch_rows : int
        Rows per block (the source may give fewer).
    exact : bool
        Whether ``fit`` takes further passes for what one pass cannot
        merge exactly (quantiles, the power transform's maximum likelihood).
    rereadable : bool
        Whether the source can be read more than once (a reader cannot).
    """

    def __init__(
        self, data, *, columns=None, batch_rows=None, exact=True, frames=False
    ):
        self.data = data
        self.kind = stream_kind(data)
        if self.kind is None:
            raise TypeError(
                "sknorm.scan takes a polars LazyFrame, a pyarrow Table, Dataset or "
                "RecordBatchReader, a DuckDB relation or a Parquet path, not "
                f"{type(data).__name__}."
            )
        if not isinstance(exact, bool | np.bool_):
            raise TypeError(f"exact must be True or False, got {exact!r}.")
        if batch_rows is not None and (
            not isinstance(batch_rows, int | np.integer) or batch_rows < 1
        ):
            raise ValueError(
                f"batch_rows must be a positive integer, got {batch_rows!r}."
            )
        self.exact = bool(exact)
        self.sample_weight = None
        self._frames = frames
        self._read = False
        schema = self._open_schema()
        names = list(schema.names)
        if columns is not None:
            columns = [columns] if isinstance(columns, str) else list(columns)
            missing = [c for c in columns if c not in names]
            if missing:
                raise ValueError(
                    f"Column(s) {missing} are not in {self.description} (its "
                    f"columns: {names})."
                )
            schema = _pyarrow().schema([schema.field(c) for c in columns])
        self.schema = schema
        self.columns = list(schema.names)
        self.rereadable = self.kind != "reader"
        width = max(1, len(self.columns))
        self.batch_rows = int(batch_rows or max(1024, BATCH_VALUES // width))

    # ------------------------------------------------------------------
    # The kinds of source
    # ------------------------------------------------------------------

    @property
    def description(self):
        return {
            "lazyframe": "the polars LazyFrame",
            "duckdb": "the DuckDB relation",
            "dataset": "the pyarrow Dataset",
            "parquet": f"the Parquet data at {os.fspath(self.data)!r}"
            if self.kind == "parquet"
            else "the Parquet data",
            "table": "the pyarrow Table",
            "reader": "the pyarrow RecordBatchReader",
        }.get(getattr(self, "kind", None), "the source")

    def _dataset(self):
        pa = _pyarrow()
        if self.kind == "parquet":
            if not hasattr(self, "_parquet"):
                self._parquet = pa.dataset.dataset(
                    _parquet_paths(self.data), format="parquet"
                )
            return self._parquet
        return self.data

    def _open_schema(self):
        """The Arrow schema of all the source's columns, reading no rows."""
        if self.kind == "lazyframe":
            import polars as pl

            _pyarrow()
            return pl.DataFrame(schema=self.data.collect_schema()).to_arrow().schema
        if self.kind == "duckdb":
            _pyarrow()
            return self.data.limit(0).to_arrow_table().schema
        if self.kind in ("dataset", "parquet"):
            return self._dataset().schema
        _pyarrow()
        return self.data.schema

    def _record_batches(self):
        """The source's record batches of :attr:`columns`, read anew."""
        columns, rows = self.columns, self.batch_rows
        if self.kind == "lazyframe":
            frames = self.data.select(columns).collect_batches(
                chunk_size=rows, lazy=True
            )
            return (b for frame in frames for b in frame.to_arrow().to_batches())
        if self.kind == "duckdb":
            projection = ", ".join(map(_quoted, columns))
            return iter(self.data.project(projection).to_arrow_reader(rows))
        if self.kind in ("dataset", "parquet"):
            dataset = self._dataset()
            options = {}
            file_format = getattr(dataset, "format", None)
            if getattr(file_format, "default_extname", None) == "parquet":
                # Pre-buffering reads whole row groups ahead (the memory of
                # the file, measured); without it a fit holds a few batches.
                options["fragment_scan_options"] = (
                    _pyarrow().dataset.ParquetFragmentScanOptions(pre_buffer=False)
                )
            return dataset.to_batches(
                columns=columns,
                batch_size=rows,
                batch_readahead=1,
                fragment_readahead=1,
                # Decoded in the reading thread: arrow's threads decode ahead
                # of a fit (measured: 35 to 45 MB more at the peak on a 320 MB
                # file, twice as fast on 2 idle cores; a polars LazyFrame
                # decodes on polars' threads with a bounded memory).
                use_threads=False,
                **options,
            )
        if self.kind == "table":
            return iter(self.data.select(columns).to_batches(max_chunksize=rows))
        if self._read:
            raise ValueError(
                "The pyarrow RecordBatchReader was read already: a reader can be "
                "read once. Give a source that can be read again (a Table, a "
                "Dataset, a path) for several passes or fits."
            )
        self._read = True
        return (batch.select(columns) for batch in self.data)

    # ------------------------------------------------------------------
    # What a fit asks
    # ------------------------------------------------------------------

    def with_weight(self, sample_weight):
        """This source with the samples' weights in column ``sample_weight``
        (a name), or itself for None; any other weights are refused."""
        if sample_weight is None:
            return self
        if not isinstance(sample_weight, str):
            raise TypeError(
                f"sample_weight for {self.description} must name one of its "
                f"columns (a str), got {type(sample_weight).__name__}: the "
                "weights are read with the rows, batch by batch."
            )
        if sample_weight not in self.columns:
            raise ValueError(
                f"sample_weight={sample_weight!r} is not a column of "
                f"{self.description} (its columns: {self.columns})."
            )
        if not _is_numeric(self.schema.field(sample_weight).type):
            raise ValueError(
                f"The sample_weight column {sample_weight!r} of {self.description} "
                f"is not numeric ({self.schema.field(sample_weight).type})."
            )
        weighted = object.__new__(type(self))
        weighted.__dict__.update(self.__dict__)
        weighted.sample_weight = sample_weight
        return weighted

    def as_frames(self):
        """This source with its blocks as pandas DataFrames (for a column
        that is not a feature, such as a group column)."""
        framed = object.__new__(type(self))
        framed.__dict__.update(self.__dict__)
        framed._frames = True
        return framed

    def _feature_fields(self):
        return [f for f in self.schema if f.name != self.sample_weight]

    def check_numeric(self, allowed=()):
        """Raise a ValueError naming the non-numeric feature columns (but
        those ``allowed``, names)."""
        bad = [
            f"{f.name!r} ({f.type})"
            for f in self._feature_fields()
            if f.name not in allowed and not _is_numeric(f.type)
        ]
        if bad:
            raise ValueError(
                f"{self.description} has non-numeric column(s) {', '.join(bad)}. "
                "Select the numeric columns: sknorm.scan(source, columns=[...]), "
                "or select them in the source (LazyFrame.select, a SQL "
                "projection, the columns of a Dataset)."
            )

    def metadata_sample(self):
        import pandas as pd

        columns = {}
        for position, field in enumerate(self._feature_fields()):
            if _is_numeric(field.type):
                columns[position] = pd.Series([1], dtype=_numpy_dtype(field.type))
            else:
                columns[position] = pd.Series([""], dtype=object)
        sample = pd.DataFrame(columns)
        sample.columns = [f.name for f in self._feature_fields()]
        return sample

    def blocks(self):
        pa = _pyarrow()
        fields = self._feature_fields()
        names = [f.name for f in fields]
        as_frames = self._frames or any(_is_wide_integer(f.type) for f in fields)
        if not as_frames:
            dtype = float_dtype_of(_numpy_dtype(f.type) for f in fields)
            target = pa.schema([pa.field(n, pa.from_numpy_dtype(dtype)) for n in names])
        for batch in self._record_batches():
            starts = range(0, max(batch.num_rows, 1), self.batch_rows)
            parts = [batch.slice(start, self.batch_rows) for start in starts]
            del batch  # (the parts are views of it)
            while parts:
                part = parts.pop(0)
                weight = self._weights(part)
                features = part.select(names)
                if as_frames:
                    block = features.to_pandas(types_mapper=_nullable_types())
                else:
                    # One copy: nulls become NaN, the columns float rows.
                    tensor = features.cast(target).to_tensor(
                        null_to_nan=True, row_major=True
                    )
                    block = np.asarray(tensor).reshape(part.num_rows, len(names))
                    del tensor
                # Only the block is held while it is computed.
                del part, features
                yield block, weight

    def _weights(self, batch):
        if self.sample_weight is None:
            return None
        column = batch.column(self.sample_weight)
        if column.null_count:
            raise ValueError(
                f"The sample_weight column {self.sample_weight!r} of "
                f"{self.description} holds {column.null_count} null(s): every "
                "row needs a weight (0 to leave it out)."
            )
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)

    def wants_exact(self, estimator):
        return self.exact and super().wants_exact(estimator)


def _nullable_types():
    """pandas dtypes that keep 64-bit integers exact beside nulls."""
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int64(): pd.Int64Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return mapping.get


def scan(source, *, columns=None, batch_rows=None, exact=True):
    """Read a source larger than memory in batches, for ``fit`` and ``partial_fit``.

    Every sknorm estimator that learns statistics fits the sources below
    directly (``est.fit(pl.scan_parquet("data/*.parquet"))``); ``scan``
    chooses the columns, the size of the batches, or one pass of sketched
    quantiles. The batches are read one after another, their statistics
    computed on sknorm's threads while the next batch is read, and merged
    exactly: the fitted estimator equals the fit of all the rows in memory,
    and the memory used is a few batches.

    Parameters
    ----------
    source : LazyFrame, DuckDB relation, pyarrow Dataset, Table or reader, or path
        The data: a polars ``LazyFrame`` (read with polars' streaming engine),
        a DuckDB relation (its query, run by DuckDB), a pyarrow ``Dataset``,
        ``Table`` or ``RecordBatchReader`` (read once), or the path of a
        Parquet file, a directory of them, or a glob such as
        ``"data/*.parquet"``.
    columns : list of str, default=None
        The columns to read (the features, and the ``sample_weight`` column
        if any); all by default. Every feature must be numeric (integer,
        float, boolean or decimal; nulls are missing values, as NaN).
    batch_rows : int, default=None
        Rows per batch; by default about 262,000 values (2 MiB of float64) per
        batch.
    exact : bool, default=True
        What ``fit`` does where one pass cannot give the in-memory fit's
        result: the quantiles of ``RobustScaler`` and ``QuantileTransformer``,
        the maximum likelihood of ``PowerTransformer``. True reads a source
        that can be read again in further passes (usually one or two for
        quantiles; for the maximum likelihood, one per Newton iteration) and
        gives the in-memory fit's result (the maximum likelihood's within
        the error its stopping tolerance leaves, see
        ``PowerTransformer``); False reads it once
        and keeps ``partial_fit``'s summary (the quantile sketch, the
        likelihood's summary; their error bounds are in their docstrings). A
        ``RecordBatchReader`` can be read once: it gets the summary. The
        fitted ``quantile_method_`` of the quantile estimators says which.

    Returns
    -------
    source : ArrowSource
        The source, to pass to ``fit`` or ``partial_fit`` (with
        ``sample_weight`` the name of a column, if any).

    Examples
    --------
    >>> import pyarrow as pa
    >>> import sknorm
    >>> table = pa.table({"a": [1.0, 2.0, 3.0, 4.0], "b": [10, 20, None, 40],
    ...                   "label": ["x", "y", "x", "y"]})
    >>> scaler = sknorm.StandardScaler().fit(sknorm.scan(table, columns=["a", "b"]))
    >>> scaler.mean_
    array([ 2.5       , 23.33333333])
    >>> scaler.feature_names_in_
    array(['a', 'b'], dtype=object)
    """
    return ArrowSource(source, columns=columns, batch_rows=batch_rows, exact=exact)
