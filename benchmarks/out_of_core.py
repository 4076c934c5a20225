"""Fitting from data larger than memory on one machine: sknorm's stream sources
against the engines' own aggregate scans and against Dask, with peak memory
and accuracy against an exact reference.

    python benchmarks/out_of_core.py                    # 2,000,000 x 20 (320 MB)
    python benchmarks/out_of_core.py --size large       # 25,000,000 x 20 (4 GB)
    python benchmarks/out_of_core.py --quick            # a smoke run, seconds
    python benchmarks/out_of_core.py --size large --data-dir /data --json out.json

Run from the repository root with sknorm importable (installed, or
``PYTHONPATH=.``); needs pyarrow, polars and duckdb, and dask + distributed for
the Dask rows (``--no-dask`` leaves them out).

Data. A Parquet dataset of float64 columns of varied distributions (normal
with offsets up to 1e9, lognormal, uniform, exponential, Student t, rounded
normal with ties, and a normal column with about 1% nulls), in several files
with different row-group sizes, written in chunks (generation holds one chunk
of 250,000 rows at a time). It is kept under ``--data-dir`` (default: a
directory of the system's temporary directory) in ``<size>/parquet/`` with
its exact reference statistics in ``<size>/reference.json``, and made again
only when missing.

Timed (interleaved, ``--repeat`` runs each, the median with [min-max]):

* sknorm's ``StandardScaler``, ``MinMaxScaler`` and ``RobustScaler`` (exact
  quantiles, and ``sknorm.scan(..., exact=False)``) fitted from a
  polars ``LazyFrame`` (``pl.scan_parquet``), a ``pyarrow.dataset.dataset``
  and a DuckDB relation over the files;
* the engines' own scans of the same files: DuckDB ``avg``, ``var_pop``,
  ``min`` and ``max`` of all 20 columns in one query, and ``quantile_cont``
  at 0.25, 0.5 and 0.75 in another; polars ``mean``, ``var``, ``min`` and
  ``max``, and ``quantile``, each ``collect(engine="streaming")``;
* ``dd.read_parquet`` + sknorm's fit on a ``distributed.LocalCluster`` of 2
  worker processes x 1 thread, started once before the clock (``RobustScaler``
  with ``dask_quantiles="exact"`` and ``"sketch"``). Dask's fits are run as
  many times as fit in ``--budget`` seconds (at least once, at most
  ``--repeat``; the table gives the count), their first run timed.

Every other call runs once untimed first (imports, caches: the files are then
in the operating system's page cache, so the figures measure decoding and
computing, not the disk).

Memory. Each sknorm fit and each engine scan runs once more in a fresh
process (``--no-memory`` skips it): the increase of its peak resident set
size during the call (Linux's ``VmHWM``: ``getrusage``'s ``ru_maxrss`` of a
child process also counts its parent's size at the fork), over the
in-memory size of the data (rows x columns x 8 bytes). The same call runs
first on a file of the first 100,000 rows (imports, compiled kernels,
threads, the engines' first-call costs); the peak is then lowered to the
current resident size (Linux's ``/proc/self/clear_refs``), so that the
imports' own transient peak does not hide the call's (where it cannot be,
the increase is over the imports' peak, and the run says so). Dask's workers
are other processes: not measured here (see ``benchmarks/dask_scaling.py``).

Accuracy. Every result is compared with the exact statistics of each column:
mean and population variance from exact integer sums of the values and of
their exact squares (each square split into two doubles by Dekker's product),
divided in rational arithmetic and rounded once; minimum and maximum;
quartiles by numpy's linear interpolation between the exact order statistics,
computed in rational arithmetic and rounded once. Each reference is the exact
value correctly rounded: within half an ulp. The IQR's reference is the
difference of the two rounded quartiles (what a float IQR is at best).

The run ends with the targets, each ``met`` or ``missed`` (``not run`` where
the run left the case out): moments and extrema within 1.5 x the fastest
engine scan, exact quantiles within 3 x DuckDB's ``quantile_cont``, the
increase of peak memory of every sknorm fit below 10% of the data.
"""

import argparse
import gc
import importlib
import importlib.util
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

import sknorm


def _load_suite():
    """``benchmarks/run.py``, for its timer and output helpers (benchmarks is
    no package)."""
    spec = importlib.util.spec_from_file_location(
        "_sknorm_benchmark_suite", Path(__file__).with_name("run.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


suite = _load_suite()
Side, Timer = suite.Side, suite.Timer
summary, median, quotient = suite.summary, suite.median, suite.quotient
format_table, spread, ratio_text = suite.format_table, suite.spread, suite.ratio_text

#: ``(rows, files)`` of each size.
SIZES = {
    "quick": (200_000, 2),
    "small": (2_000_000, 4),
    "large": (25_000_000, 10),
}
#: Row-group sizes of the files, in turn (the last group of a file may be
#: shorter); a chunk written at once holds a whole number of them.
ROW_GROUPS = (50_000, 100_000, 250_000, 500_000)
CHUNK_ROWS = 250_000
#: Bumped whenever the data or the reference change: a cached dataset of an
#: older version is made again.
DATA_VERSION = 1
#: ``(name, distribution, parameters)`` of each column, drawn in this order.
COLUMNS = (
    ("c00", "normal", (1.0, 1.0)),
    ("c01", "normal", (100.0, 10.0)),
    ("c02", "normal", (-1e4, 100.0)),
    ("c03", "normal", (1e6, 1.0)),  # offset 1e6 x the spread
    ("c04", "normal", (1e9, 1e3)),
    ("c05", "normal", (-5.0, 3.0)),
    ("c06", "normal", (1e-3, 1e-4)),
    ("c07", "normal", (50.0, 50.0)),
    ("c08", "lognormal", (0.0, 0.5)),
    ("c09", "lognormal", (0.0, 1.0)),
    ("c10", "lognormal", (2.0, 1.5)),
    ("c11", "lognormal", (-3.0, 2.0)),
    ("c12", "uniform", (0.0, 1.0)),
    ("c13", "uniform", (-1.0, 3.0)),
    ("c14", "uniform", (1e3, 1e3 + 1)),
    ("c15", "uniform", (-100.0, 300.0)),
    ("c16", "exponential", (2.0,)),
    ("c17", "student_t", (3.0, 10.0)),  # heavy tails, shifted by 10
    ("c18", "rounded_normal", (20.0, 5.0)),  # integers: many ties
    ("c19", "normal_nulls", (10.0, 2.0, 0.01)),  # about 1% nulls
)
NAMES = tuple(name for name, _, _ in COLUMNS)
QUANTILES = (0.25, 0.5, 0.75)
SOURCES = ("polars LazyFrame", "pyarrow Dataset", "DuckDB relation")
#: sknorm's fits: ``(label, statistics compared)``.
ESTIMATORS = (
    "StandardScaler",
    "MinMaxScaler",
    "RobustScaler exact",
    "RobustScaler sketch",
)
ENGINE_SCANS = ("DuckDB avg/var_pop/min/max", "polars mean/var/min/max")
ENGINE_QUANTILES = ("DuckDB quantile_cont", "polars quantile")
DASK_FITS = (
    "StandardScaler",
    "MinMaxScaler",
    "RobustScaler exact",
    "RobustScaler sketch",
)
SECTIONS = ("moments", "quantiles")
#: The targets' limits.
SCAN_LIMIT, QUANTILE_LIMIT, MEMORY_LIMIT = 1.5, 3.0, 0.10
UNAVAILABLE = "stream sources not available"


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def _draw(rng, kind, parameters, n):
    """``(values, null mask or None)`` of one column."""
    if kind == "normal":
        return rng.normal(*parameters, n), None
    if kind == "lognormal":
        return rng.lognormal(*parameters, n), None
    if kind == "uniform":
        return rng.uniform(*parameters, n), None
    if kind == "exponential":
        return rng.exponential(*parameters, n), None
    if kind == "student_t":
        df, shift = parameters
        return rng.standard_t(df, n) + shift, None
    if kind == "rounded_normal":
        return np.round(rng.normal(*parameters, n)), None
    if kind == "normal_nulls":
        loc, scale, share = parameters
        return rng.normal(loc, scale, n), rng.random(n) < share
    raise ValueError(kind)


def _chunk_table(rng, n):
    import pyarrow as pa

    arrays = []
    for _, kind, parameters in COLUMNS:
        values, nulls = _draw(rng, kind, parameters, n)
        arrays.append(pa.array(values, mask=nulls))
    return pa.Table.from_arrays(arrays, names=list(NAMES))


def write_file(path, n_rows, row_group, seed):
    """One Parquet file of ``n_rows``, written chunk by chunk."""
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    chunk = max(row_group, CHUNK_ROWS // row_group * row_group)
    with pq.ParquetWriter(path, _chunk_table(rng, 0).schema) as writer:
        for start in range(0, n_rows, chunk):
            table = _chunk_table(rng, min(chunk, n_rows - start))
            writer.write_table(table, row_group_size=row_group)


class Data:
    """The dataset of one size under ``root``: its files, made when missing."""

    def __init__(self, root, size):
        self.size = size
        self.n_rows, self.n_files = SIZES[size]
        self.directory = Path(root) / size
        self.parquet = self.directory / "parquet"
        self.reference_path = self.directory / "reference.json"
        self.marker = self.directory / "complete.json"
        self.glob = str(self.parquet / "*.parquet")
        self.nbytes = self.n_rows * len(COLUMNS) * 8

    @property
    def files(self):
        return sorted(str(p) for p in self.parquet.glob("*.parquet"))

    def layout(self):
        """``[(file name, rows, row-group size)]``."""
        base, extra = divmod(self.n_rows, self.n_files)
        return [
            (
                f"part-{i:02d}.parquet",
                base + (i < extra),
                ROW_GROUPS[i % len(ROW_GROUPS)],
            )
            for i in range(self.n_files)
        ]

    def ready(self):
        if not (self.marker.exists() and self.reference_path.exists()):
            return False
        meta = json.loads(self.marker.read_text())
        return meta.get("version") == DATA_VERSION and meta.get("layout") == [
            list(x) for x in self.layout()
        ]

    def make(self, log):
        """Write the files and the reference unless they are there already."""
        if self.ready():
            return
        # Only what this script writes is removed.
        for stale in (self.marker, self.reference_path):
            stale.unlink(missing_ok=True)
        if self.parquet.exists():
            shutil.rmtree(self.parquet)
        self.parquet.mkdir(parents=True)
        started = time.perf_counter()
        for i, (name, rows, row_group) in enumerate(self.layout()):
            write_file(self.parquet / name, rows, row_group, seed=[DATA_VERSION, i])
            log(f"  wrote {name}: {rows:,} rows, row groups of {row_group:,}")
        log(f"data written in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        reference = exact_reference(self.files, log)
        self.reference_path.write_text(json.dumps(reference, indent=1))
        log(f"exact reference computed in {time.perf_counter() - started:.0f} s")
        on_disk = sum(os.path.getsize(f) for f in self.files)
        self.marker.write_text(
            json.dumps(
                {
                    "version": DATA_VERSION,
                    "layout": [list(x) for x in self.layout()],
                    "bytes_on_disk": on_disk,
                }
            )
        )

    def reference(self):
        return json.loads(self.reference_path.read_text())

    def bytes_on_disk(self):
        return json.loads(self.marker.read_text())["bytes_on_disk"]

    def describe(self):
        groups = sorted({g for _, _, g in self.layout()})
        return (
            f"{self.n_rows:,} rows x {len(COLUMNS)} float64 columns "
            f"({self.nbytes / 1e9:.2f} GB in memory, "
            f"{self.bytes_on_disk() / 1e9:.2f} GB of Parquet) in {self.n_files} "
            f"files, row groups of {', '.join(f'{g:,}' for g in groups)} rows"
        )


def load_column(files, name):
    """One column of every file as float64 without its nulls."""
    import pyarrow.parquet as pq

    parts = []
    for path in files:
        column = pq.read_table(path, columns=[name]).column(0)
        parts.append(column.drop_null().to_numpy())
    return np.concatenate(parts)


# ---------------------------------------------------------------------------
# The exact reference
# ---------------------------------------------------------------------------

#: Values summed per integer accumulation: partial sums stay below 2**53.
_EXACT_BLOCK = 2**25


def exact_sum(x):
    """The exact sum of float64 values, as a Fraction.

    Each value is ``m * 2**(e - 53)`` with an integer ``|m| < 2**53``; ``m``
    is split into ``hi * 2**26 + lo`` (``|hi| < 2**27``, ``0 <= lo < 2**26``)
    and the halves are summed per exponent with ``np.bincount``: at most
    ``2**25`` values at a time keep every partial sum an integer below
    ``2**53``, which float64 holds exactly.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ValueError("exact_sum takes finite values only")
    total = Fraction(0)
    for start in range(0, x.size, _EXACT_BLOCK):
        block = x[start : start + _EXACT_BLOCK]
        mantissa, exponent = np.frexp(block)
        integers = (mantissa * 2.0**53).astype(np.int64)  # exact
        high, low = integers >> 26, integers & (2**26 - 1)
        lowest = int(exponent.min())
        index = exponent - lowest
        sum_high = np.bincount(index, weights=high.astype(np.float64))
        sum_low = np.bincount(index, weights=low.astype(np.float64))
        scaled = 0
        for k in np.flatnonzero((sum_high != 0) | (sum_low != 0)):
            scaled += (int(sum_high[k]) * 2**26 + int(sum_low[k])) << int(k)
        total += Fraction(scaled) * Fraction(2) ** (lowest - 53)
    return total


def exact_squares(x):
    """``(p, e)`` with ``x**2 == p + e`` exactly (Dekker's product: Veltkamp's
    split into halves of 26 bits; exact without overflow or underflow)."""
    x = np.asarray(x, dtype=np.float64)
    p = x * x
    c = 134217729.0 * x  # 2**27 + 1
    high = c - (c - x)
    low = x - high
    e = ((high * high - p) + 2.0 * high * low) + low * low
    return p, e


def exact_moments(x):
    """``(mean, population variance)`` of ``x`` as Fractions, exactly."""
    n = x.size
    s1 = exact_sum(x)
    p, e = exact_squares(x)
    s2 = exact_sum(p) + exact_sum(e)
    return s1 / n, (s2 - s1 * s1 / n) / n


def exact_quantiles(x, levels):
    """numpy's linear interpolation (its default method) at ``levels``
    between the exact order statistics, as Fractions."""
    n = x.size
    positions = [Fraction(q) * (n - 1) for q in levels]
    ranks = sorted({math.floor(h) for h in positions})
    ranks = sorted({*ranks, *(min(r + 1, n - 1) for r in ranks)})
    ordered = np.partition(x, ranks)
    found = []
    for h in positions:
        k = math.floor(h)
        below = Fraction(float(ordered[k]))
        above = Fraction(float(ordered[min(k + 1, n - 1)]))
        found.append(below + (h - k) * (above - below))
    return found


def ulps_apart(a, b):
    """How many representable doubles separate a and b."""
    a, b = np.float64(a), np.float64(b)
    if a == b:
        return 0
    ia, ib = (int(np.array(v).view(np.int64)) for v in (a, b))
    # Map the sign-magnitude order of doubles onto the integers.
    ia = ia if ia >= 0 else -(ia & 0x7FFFFFFFFFFFFFFF)
    ib = ib if ib >= 0 else -(ib & 0x7FFFFFFFFFFFFFFF)
    return abs(ia - ib)


def exact_reference(files, log):
    """The exact statistics of every column, each rounded once (JSON)."""
    found = {key: [] for key in ("n", "mean", "var", "min", "max", "median", "iqr")}
    found["quantiles"], found["numpy_quantile_ulps"] = [], []
    for name in NAMES:
        x = load_column(files, name)
        mean, var = exact_moments(x)
        quartiles = exact_quantiles(x, QUANTILES)
        rounded = [float(q) for q in quartiles]
        numpy_q = np.quantile(x, QUANTILES)
        found["n"].append(int(x.size))
        found["mean"].append(float(mean))
        found["var"].append(float(var))
        found["min"].append(float(x.min()))
        found["max"].append(float(x.max()))
        found["quantiles"].append(rounded)
        found["median"].append(rounded[1])
        found["iqr"].append(float(Fraction(rounded[2]) - Fraction(rounded[0])))
        found["numpy_quantile_ulps"].append(
            max(ulps_apart(a, b) for a, b in zip(numpy_q, rounded, strict=True))
        )
        log(f"  reference of {name}: {x.size:,} values")
    return found


# ---------------------------------------------------------------------------
# Sources, fits and scans
# ---------------------------------------------------------------------------


class Context:
    """What the timed calls share: the data, a DuckDB connection and Dask's
    client (both made once, outside the timing)."""

    def __init__(self, data):
        self.data = data
        self._duckdb = None
        self.client = None

    @property
    def duckdb(self):
        if self._duckdb is None:
            import duckdb

            self._duckdb = duckdb.connect()
        return self._duckdb

    def source(self, kind):
        """A new source object of ``kind`` over the files (timed with the fit:
        it is what a user makes)."""
        if kind == "polars LazyFrame":
            import polars as pl

            return pl.scan_parquet(self.data.glob)
        if kind == "pyarrow Dataset":
            import pyarrow.dataset as ds

            return ds.dataset(self.data.files, format="parquet")
        if kind == "DuckDB relation":
            return self.duckdb.sql(f"select * from read_parquet('{self.data.glob}')")
        raise ValueError(kind)


def stream_sources_missing():
    """None when sknorm fits stream sources, else why not."""
    if not hasattr(sknorm, "scan"):
        return f"{UNAVAILABLE}: sknorm has no scan()"
    try:
        import polars as pl

        fitted = sknorm.StandardScaler().fit(pl.LazyFrame({"a": [1.0, 3.0]}))
    except Exception as error:  # any refusal means: not there
        return f"{UNAVAILABLE}: {type(error).__name__}: {error}"
    if not np.allclose(fitted.mean_, [2.0]):
        return f"{UNAVAILABLE}: a LazyFrame fit gave mean_ {fitted.mean_}"
    return None


def make_estimator(label, dask=False):
    if label == "StandardScaler":
        return sknorm.StandardScaler()
    if label == "MinMaxScaler":
        return sknorm.MinMaxScaler()
    if label.startswith("RobustScaler"):
        if dask:
            return sknorm.RobustScaler(dask_quantiles=label.split()[-1])
        return sknorm.RobustScaler()
    raise ValueError(label)


def sknorm_fit(context, label, kind):
    """The timed call of one sknorm fit from a source of ``kind``."""

    def call():
        source = context.source(kind)
        if label == "RobustScaler sketch":
            source = sknorm.scan(source, exact=False)
        return make_estimator(label).fit(source)

    return call


def reading_only(context, kind):
    """Read every record batch of a source as ``fit`` does, and nothing else."""

    def call():
        import sknorm

        source = sknorm.scan(context.source(kind))
        return sum(batch.num_rows for batch in source._record_batches())

    return call


def dask_fit(context, label):
    def call():
        import dask.dataframe as dd

        return make_estimator(label, dask=True).fit(dd.read_parquet(context.data.glob))

    return call


def engine_call(context, label):
    """The timed call of one engine scan, returning its raw result."""
    glob = context.data.glob
    if label.startswith("DuckDB"):
        if "quantile" in label:
            levels = ", ".join(map(str, QUANTILES))
            terms = [f"quantile_cont({c}, [{levels}])" for c in NAMES]
        else:
            terms = [
                f"{f}({c})" for f in ("avg", "var_pop", "min", "max") for c in NAMES
            ]
        query = f"select {', '.join(terms)} from read_parquet('{glob}')"
        return lambda: context.duckdb.sql(query).fetchall()[0]

    import polars as pl

    if "quantile" in label:
        expressions = [
            pl.all().quantile(q, interpolation="linear").name.suffix(f"|q{q}")
            for q in QUANTILES
        ]
    else:
        expressions = [
            pl.all().mean().name.suffix("|mean"),
            pl.all().var(ddof=0).name.suffix("|var"),
            pl.all().min().name.suffix("|min"),
            pl.all().max().name.suffix("|max"),
        ]
    return lambda: pl.scan_parquet(glob).select(expressions).collect(engine="streaming")


def statistics_of(label, result):
    """``{statistic: per-column list}`` of a fitted estimator or an engine's
    raw result, in the order of ``NAMES``."""
    n = len(NAMES)
    if label.startswith("DuckDB"):
        row = list(result)
        if "quantile" in label:
            quartiles = np.array(row, dtype=np.float64)  # (columns, 3)
            return {
                "median": quartiles[:, 1].tolist(),
                "iqr": (quartiles[:, 2] - quartiles[:, 0]).tolist(),
            }
        values = np.array(row, dtype=np.float64).reshape(4, n)
        return dict(zip(("mean", "var", "min", "max"), values.tolist(), strict=True))
    if label.startswith("polars"):
        row = result.row(0, named=True)

        def pick(suffix):
            return np.array([row[f"{c}|{suffix}"] for c in NAMES], dtype=np.float64)

        if "quantile" in label:
            low, mid, high = (pick(f"q{q}") for q in QUANTILES)
            return {"median": mid.tolist(), "iqr": (high - low).tolist()}
        return {s: pick(s).tolist() for s in ("mean", "var", "min", "max")}
    # A fitted sknorm estimator: its columns in the order of NAMES.
    names = list(getattr(result, "feature_names_in_", NAMES))
    order = [names.index(c) for c in NAMES]
    if hasattr(result, "var_"):
        return {
            "mean": result.mean_[order].tolist(),
            "var": result.var_[order].tolist(),
        }
    if hasattr(result, "data_min_"):
        return {
            "min": result.data_min_[order].tolist(),
            "max": result.data_max_[order].tolist(),
        }
    found = {
        "median": result.center_[order].tolist(),
        "iqr": result.scale_[order].tolist(),
    }
    if hasattr(result, "quantile_method_"):
        found["quantile_method_"] = str(result.quantile_method_)
    return found


def sknorm_label(estimator, source):
    return f"sknorm {estimator} | {source}"


def dask_label(estimator):
    return f"Dask + sknorm {estimator}"


# ---------------------------------------------------------------------------
# Peak memory (fresh processes)
# ---------------------------------------------------------------------------


def peak_rss():
    """The process's peak resident set size in bytes: Linux's ``VmHWM``
    (``ru_maxrss`` also counts the parent's size when this process was
    started), else ``getrusage``'s ``ru_maxrss``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss():
    """Lower the peak resident set size to the current one (Linux >= 4.0:
    ``/proc/self/clear_refs``); False where it cannot be."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def memory_worker(root, size, case):
    """Run one case once after every import; print its peak RSS increase."""
    import duckdb  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.dataset
    import pyarrow.parquet

    context = Context(Data(root, size))
    kind, label, source = case.split("|")
    # The same call first on the first 100,000 rows, in a file of their own:
    # imports, compiled kernels, threads and the engines' first-call costs
    # are paid before the baseline, as in a program that fits more than once.
    first = pyarrow.parquet.ParquetFile(context.data.files[0])
    head = next(first.iter_batches(batch_size=100_000))
    directory = tempfile.mkdtemp()
    warm = os.path.join(directory, "head.parquet")
    pyarrow.parquet.write_table(pyarrow.Table.from_batches([head]), warm)
    warm_context = Context(types.SimpleNamespace(glob=warm, files=[warm]))
    if kind == "sknorm":
        sknorm_fit(warm_context, label, source)()
        call = sknorm_fit(context, label, source)
    else:
        engine_call(warm_context, label)()
        call = engine_call(context, label)
    context.duckdb  # noqa: B018  (connected before the baseline)
    gc.collect()
    reset = reset_peak_rss()
    before = peak_rss()
    call()
    print(json.dumps({"before": before, "after": peak_rss(), "reset": reset}))


def measure_memory(args, cases, log):
    """``{case: bytes of peak RSS increase}``; each case in a fresh process."""
    found = {}
    for case in cases:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--memory-worker",
            case,
            "--size",
            args.size,
            "--data-dir",
            str(args.data_dir),
        ]
        output = subprocess.run(command, capture_output=True, text=True)
        if output.returncode != 0:
            log(f"  memory of {case} failed: {output.stderr.strip()[-500:]}")
            found[case] = None
            continue
        peaks = json.loads(output.stdout.strip().splitlines()[-1])
        found[case] = peaks["after"] - peaks["before"]
        if not peaks["reset"]:
            log("  (peak RSS could not be reset: the increase over the imports' peak)")
        log(f"  memory of {case}: +{found[case] / 1e6:,.0f} MB")
    return found


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def start_dask(context, log):
    """A LocalCluster of 2 worker processes x 1 thread on 127.0.0.1, with
    sknorm imported and some data read on the workers."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    # distributed sets OMP_NUM_THREADS=1 (and MKL's, OpenBLAS's) in this
    # process's environment for the workers it spawns: sknorm's own fits here
    # would then run on one thread (sknorm reads OMP_NUM_THREADS).
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    )
    client = Client(cluster)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    client.run(importlib.import_module, "sknorm")
    frame = dd.read_parquet(context.data.glob)
    frame.partitions[:2].sum().compute()
    log(f"Dask: {len(client.scheduler_info()['workers'])} workers started")
    return cluster, client


# ---------------------------------------------------------------------------
# A section: interleaved timing of its sides
# ---------------------------------------------------------------------------


def run_section(section, context, args, timer, missing, log):
    """Time the section's sides, interleaved; ``{label: row}``."""
    results, sides, notes = {}, [], []

    def keep(label, call):
        def timed():
            results[label] = call()

        return timed

    engines = ENGINE_SCANS if section == "moments" else ENGINE_QUANTILES
    estimators = ESTIMATORS[:2] if section == "moments" else ESTIMATORS[2:]
    for label in engines:
        sides.append(Side(label, keep(label, engine_call(context, label))))
    rows = {label: {"kind": "engine"} for label in engines}
    for estimator in estimators:
        for source in SOURCES:
            label = sknorm_label(estimator, source)
            rows[label] = {"kind": "sknorm", "estimator": estimator, "source": source}
            if missing is None:
                call = sknorm_fit(context, estimator, source)
                sides.append(Side(label, keep(label, call)))
    if section == "moments" and missing is None:
        # The reading alone: each source's record batches as a fit reads
        # them, without converting them or computing anything (a fit's floor).
        for source in SOURCES:
            label = f"reading only | {source}"
            rows[label] = {"kind": "reading", "source": source}
            sides.append(Side(label, reading_only(context, source)))
    if missing is not None:
        notes.append(f"sknorm's fits not run: {missing}.")
    if context.client is not None:
        for estimator in estimators:
            label = dask_label(estimator)
            rows[label] = {"kind": "dask", "estimator": estimator}
            call = dask_fit(context, estimator)
            sides.append(Side(label, keep(label, call), budgeted=True))
    log(f"{section}: {len(sides)} calls, {args.repeat} runs each, interleaved")
    samples = timer.run(sides)
    for label, row in rows.items():
        row["time"] = summary(samples.get(label, []))
        row["statistics"] = (
            statistics_of(label, results[label]) if label in results else None
        )
        if row["time"] is not None:
            log(f"  {label}: {spread(row['time'])} s")
    return {"rows": rows, "notes": notes}


# ---------------------------------------------------------------------------
# Accuracy
# ---------------------------------------------------------------------------


def relative_errors(values, reference):
    values, reference = np.asarray(values), np.asarray(reference)
    scale = np.where(reference == 0, 1.0, np.abs(reference))
    return np.abs(values - reference) / scale


def median_rank_errors(data, rows, reference):
    """``{label: largest |rank - the exact median's rank|}`` of each row's
    medians over the columns. The rank of a value: the share of values below
    it plus half the share equal to it (the exact median's is 0.5 but for
    ties)."""
    with_median = {
        label: row["statistics"]["median"]
        for label, row in rows.items()
        if row["statistics"] and "median" in row["statistics"]
    }
    worst = dict.fromkeys(with_median, 0.0)

    def rank(x, value):
        below = np.count_nonzero(x < value)
        return (below + np.count_nonzero(x <= value)) / (2 * x.size)

    for j, name in enumerate(NAMES if with_median else ()):
        x = load_column(data.files, name)
        own = rank(x, reference["median"][j])
        for label, medians in with_median.items():
            worst[label] = max(worst[label], abs(rank(x, medians[j]) - own))
    return worst


def accuracy(data, sections, reference):
    """Per row: the largest relative error of each statistic over the columns,
    the number of columns whose extrema differ, the median's rank error."""
    rows = {}
    for section in sections.values():
        rows.update(section["rows"])
    ranks = median_rank_errors(data, rows, reference)
    found = {}
    for label, row in rows.items():
        stats = row["statistics"]
        if not stats:
            continue
        entry = {}
        for key in ("mean", "var", "median", "iqr"):
            if key in stats:
                errors = relative_errors(stats[key], reference[key])
                worst = int(np.argmax(errors))
                entry[key] = {"error": float(errors[worst]), "column": NAMES[worst]}
        for key in ("min", "max"):
            if key in stats:
                entry[key] = int(
                    np.sum(np.asarray(stats[key]) != np.asarray(reference[key]))
                )
        if label in ranks:
            entry["median_rank"] = ranks[label]
        if "quantile_method_" in stats:
            entry["quantile_method_"] = stats["quantile_method_"]
        found[label] = entry
    return found


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


def targets(report):
    """``[(target, case, measured, limit, met)]``; ``measured`` None when the
    case was not run."""
    found = []
    moments = report["sections"].get("moments", {}).get("rows", {})
    quantiles = report["sections"].get("quantiles", {}).get("rows", {})

    def time_of(rows, label):
        return median(rows.get(label, {}).get("time"))

    engine_times = [
        (time_of(moments, label), label)
        for label in ENGINE_SCANS
        if time_of(moments, label) is not None
    ]
    fastest = min(engine_times) if engine_times else (None, None)

    def add(target, case, value, limit, unit="", digits=2):
        if value is None:
            found.append((target, case, None, f"<= {limit:g}{unit}", None))
        else:
            text = f"{value:.{digits}f}{unit}"
            found.append((target, case, text, f"<= {limit:g}{unit}", value <= limit))

    for estimator in ESTIMATORS[:2]:
        for source in SOURCES:
            value = quotient(
                time_of(moments, sknorm_label(estimator, source)), fastest[0]
            )
            add(
                f"{estimator}.fit / fastest engine scan ({fastest[1] or '—'})",
                source,
                value,
                SCAN_LIMIT,
            )
    duckdb = time_of(quantiles, "DuckDB quantile_cont")
    for source in SOURCES:
        value = quotient(
            time_of(quantiles, sknorm_label("RobustScaler exact", source)), duckdb
        )
        add(
            "RobustScaler exact fit / DuckDB quantile_cont",
            source,
            value,
            QUANTILE_LIMIT,
        )
    memory = report.get("memory", {})
    nbytes = report["meta"]["data_bytes"]
    for estimator in ESTIMATORS:
        for source in SOURCES:
            peak = memory.get(f"sknorm|{estimator}|{source}")
            add(
                "peak memory increase / data",
                f"{estimator}, {source}",
                None if peak is None else 100 * peak / nbytes,
                100 * MEMORY_LIMIT,
                unit="%",
                digits=1,
            )
    return found


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def error_text(entry, key):
    if key not in entry:
        return "—"
    value = entry[key]
    if isinstance(value, dict):
        if value["error"] == 0:
            return "0"
        return f"{value['error']:.1e} ({value['column']})"
    return f"{value}/{len(NAMES)} differ"


def render(report, markdown):
    out = []

    def heading(title):
        out.extend(["", title, ("-" if not markdown else "") * len(title), ""])
        if markdown:
            out[-3] = f"### {title}"
            del out[-2]

    meta = report["meta"]
    out.append(
        f"Out-of-core fits, size {meta['size']}: {meta['data']}; "
        f"{meta['repeat']} interleaved runs (Dask: as many as fit in "
        f"{meta['budget']:g} s, n shown)."
    )
    out.append("")
    out.append(f"Machine: {meta['machine']}")
    out.append(
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    )
    out.append(
        f"Load average (1/5/15 min) at start {meta['load_start']}, at end "
        f"{meta['load_end']}; run took {meta['total_s']:.0f} s."
    )
    for note in meta["notes"]:
        out.extend(["", note])

    memory = report.get("memory", {})
    nbytes = meta["data_bytes"]

    def memory_text(case):
        peak = memory.get(case)
        if peak is None:
            return "—"
        return f"{peak / 1e6:,.0f} MB ({100 * peak / nbytes:.1f}%)"

    for section, body in report["sections"].items():
        title = {
            "moments": "Moments and extrema",
            "quantiles": "Quantiles (median and IQR)",
        }[section]
        heading(title)
        if section == "moments":
            engines = [median(body["rows"][e]["time"]) for e in ENGINE_SCANS]
            engines = [t for t in engines if t is not None]
            fastest = min(engines) if engines else None
            relative_to = "fastest engine scan"
        else:
            fastest = median(body["rows"]["DuckDB quantile_cont"]["time"])
            relative_to = "DuckDB quantile_cont"
        rows = []
        for label, row in body["rows"].items():
            if row["kind"] == "engine":
                case = f"engine|{label}|-"
            elif row["kind"] == "sknorm":
                case = f"sknorm|{row['estimator']}|{row['source']}"
            else:
                case = None
            rows.append(
                (
                    label,
                    "—" if row["time"] is None else row["time"]["n"],
                    spread(row["time"]),
                    ratio_text(quotient(median(row["time"]), fastest)),
                    memory_text(case) if case else "not measured",
                )
            )
        out.append(
            format_table(
                (
                    "fit or scan",
                    "n",
                    "seconds",
                    f"/ {relative_to}",
                    "peak memory increase (/ data)",
                ),
                rows,
                markdown,
            )
        )
        for note in body["notes"]:
            out.extend(["", note])

    accuracy_rows = report.get("accuracy", {})
    if accuracy_rows:
        heading("Accuracy against the exact statistics")
        out.append(
            "Largest relative error over the 20 columns (the column named), "
            "extrema that differ from the exact ones, and the largest rank "
            "error of the median (|rank - the exact median's rank|; a sketch's "
            "guarantee is on ranks). The reference is exact, rounded once: "
            "within half an ulp (mean and variance from exact integer sums of "
            "the values and of their exact squares, quartiles interpolated "
            "between the exact order statistics in rational arithmetic). "
            "numpy's np.quantile is within "
            f"{max(report['reference_numpy_ulps'])} ulp(s) of it on every column."
        )
        out.append("")
        rows = []
        for label, entry in accuracy_rows.items():
            rank = entry.get("median_rank")
            rows.append(
                (
                    label,
                    error_text(entry, "mean"),
                    error_text(entry, "var"),
                    error_text(entry, "min"),
                    error_text(entry, "max"),
                    error_text(entry, "median"),
                    error_text(entry, "iqr"),
                    "—" if rank is None else f"{rank:.1e}",
                    entry.get("quantile_method_", "—"),
                )
            )
        out.append(
            format_table(
                (
                    "result of",
                    "mean",
                    "variance",
                    "min",
                    "max",
                    "median",
                    "IQR",
                    "median rank",
                    "quantile_method_",
                ),
                rows,
                markdown,
            )
        )

    heading("Targets")
    rows = [
        (
            target,
            case,
            "—" if measured is None else measured,
            limit,
            "not run" if met is None else ("met" if met else "missed"),
        )
        for target, case, measured, limit, met in report["targets"]
    ]
    out.append(
        format_table(("target", "case", "measured", "limit", "result"), rows, markdown)
    )
    return "\n".join(out)


def versions():
    found = suite.versions()
    for module in ("pyarrow", "polars", "duckdb", "dask", "distributed"):
        try:
            found[module] = importlib.import_module(module).__version__
        except ImportError:
            found[module] = "not installed"
    return found


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def default_data_dir():
    return Path(tempfile.gettempdir()) / "sknorm-out-of-core"


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "large", "quick"), default="small")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="--size quick (200,000 rows), 3 runs, no memory measurement",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="where the data of each size is kept (<dir>/<size>/); default "
        f"{default_data_dir()}",
    )
    parser.add_argument(
        "--sections", help="comma-separated sections: " + ", ".join(SECTIONS)
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved runs per call (default 5)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=120.0,
        help="seconds a Dask fit may take in all; it runs as many times as fit, "
        "at least once (default 120)",
    )
    parser.add_argument("--no-dask", action="store_true", help="leave Dask out")
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory")
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="make the data and its reference if missing, then stop",
    )
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.repeat, args.no_memory = "quick", min(args.repeat, 3), True
    args.sections = args.sections.split(",") if args.sections else list(SECTIONS)
    for section in args.sections:
        if section not in SECTIONS:
            parser.error(f"unknown section {section!r}; choose from {SECTIONS}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    if args.memory_worker:
        memory_worker(args.data_dir, args.size, args.memory_worker)
        return

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    data = Data(args.data_dir, args.size)
    log(f"data: {data.directory}")
    data.make(log)
    if args.generate_only:
        return
    cores = suite.usable_cores()
    started = time.perf_counter()
    load_start = suite.load_average()
    missing = stream_sources_missing()
    if missing is not None:
        log(missing)
    context = Context(data)
    notes = []
    cluster = None
    if not args.no_dask:
        try:
            cluster, context.client = start_dask(context, log)
        except ImportError as error:
            notes.append(f"Dask not run: {error}.")
    else:
        notes.append("Dask not run (--no-dask).")
    timer = Timer(args.repeat, args.budget)
    report = {"sections": {}}
    try:
        for section in args.sections:
            report["sections"][section] = run_section(
                section, context, args, timer, missing, log
            )
            gc.collect()
    finally:
        if context.client is not None:
            context.client.close()
            cluster.close()
    if args.no_memory:
        notes.append("Peak memory not measured (--no-memory).")
    else:
        cases = [
            f"engine|{label}|-"
            for section in args.sections
            for label in (ENGINE_SCANS if section == "moments" else ENGINE_QUANTILES)
        ]
        if missing is None:
            wanted = {
                "moments": ESTIMATORS[:2],
                "quantiles": ESTIMATORS[2:],
            }
            cases += [
                f"sknorm|{estimator}|{source}"
                for section in args.sections
                for estimator in wanted[section]
                for source in SOURCES
            ]
        log("peak memory, each call in a fresh process")
        report["memory"] = measure_memory(args, cases, log)
    reference = data.reference()
    log("accuracy")
    report["accuracy"] = accuracy(data, report["sections"], reference)
    report["reference_numpy_ulps"] = reference["numpy_quantile_ulps"]
    report["meta"] = {
        "size": args.size,
        "data": data.describe(),
        "data_bytes": data.nbytes,
        "data_dir": str(data.directory),
        "repeat": args.repeat,
        "budget": args.budget,
        "machine": suite.machine(cores),
        "cores": cores,
        "versions": versions(),
        "load_start": load_start,
        "load_end": suite.load_average(),
        "total_s": time.perf_counter() - started,
        "notes": ([missing] if missing else []) + notes,
    }
    report["targets"] = targets(report)
    print(render(report, args.markdown))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1, default=str)


if __name__ == "__main__":
    main()
