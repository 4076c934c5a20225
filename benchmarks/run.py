"""sknorm's benchmark: every estimator against scikit-learn and memory streams,
and the performance targets judged in one run.

    python benchmarks/run.py                     # small sizes, a few minutes
    python benchmarks/run.py --size large        # the sizes of the targets
    python benchmarks/run.py --quick             # a smoke run, seconds
    python benchmarks/run.py --only StandardScaler --sections datasets

Run from the repository root with sknorm importable (installed, or
``PYTHONPATH=.``). Sections (``--sections``):

* ``datasets``: every estimator in ``sknorm.__all__`` (but those of
  ``NOT_BENCHMARKED``, with the reason) and each of its methods
  (``fit``, ``partial_fit`` over 10 row chunks, ``transform``, ``transform``
  with ``copy=False``, ``fit_transform``, ``inverse_transform``) on four data
  sets (dense float64, dense float32, CSR at 0.1% density, wide dense), timed
  against its scikit-learn counterpart and against the memory stream it must at
  least perform, with the peak extra memory of each call;
* ``nonlinear``: ``QuantileTransformer`` (exact fit, dense and sparse CSC at
  1%; transform, uniform and normal output) and ``PowerTransformer`` (fit and
  transform, both methods) on skewed data, against scikit-learn's exact fit and
  transform and ``X.copy()``, with the error of scikit-learn's default
  subsampled quantiles;
* ``embedding``: ``EmbeddingNormalizer(whiten="pca", input_norm=None)`` fit +
  transform against ``PCA(whiten=True)`` + ``normalize``, time and accuracy;
* ``per-call``: the time per call of every method on 100 x 5 and 10,000 x 20;
* ``threads``: the threads running during ``GridSearchCV(n_jobs=2)`` over a
  sknorm pipeline, against the cores.

The run ends with the issue's targets, each with its measured value and
``met`` / ``missed``.

Timing. The calls compared are interleaved, call by call (sknorm, its
counterpart, its memory stream, sknorm, ...), ``--repeat`` times (default 5;
a sknorm call slower than ``--slow`` seconds, 10, runs 3 times);
each figure is the median with [min-max], each ratio the ratio of two medians
of the same interleaved set. sknorm is always run ``--repeat`` times; a
counterpart as many times as fit in ``--budget`` seconds (at least once, at most
``--repeat``): the row says how many (``n``). Every call is run once untimed
first (imports, compilation, caches), except scikit-learn's, whose first timed
run decides how many more fit the budget.

Memory. This VM returns freed memory to the host, so a call that writes fresh
memory pays page faults whose cost varies tenfold from run to run (a cold
``X.copy()`` of 800 MB: 0.14 to 1.9 s). With ``--allocator warm`` (the default,
on glibc) the benchmark re-runs itself with ``MALLOC_MMAP_MAX_=0`` and
``MALLOC_TRIM_THRESHOLD_`` at 1 TB: large arrays then come from the heap and
freed memory stays there, and the heap is grown to several times the data
before timing, so no timed call - sknorm's, scikit-learn's or a reference
stream - pays page faults: they all allocate their outputs alike, from memory
already touched. ``--allocator system`` keeps the system's allocator and
touches as many fresh bytes as the data holds before every timed call; both
sides then pay the same, noisier, first-touch cost.

Peak extra memory is measured with ``tracemalloc`` in a fresh subprocess per
data set, untimed (``--no-memory`` skips it): the peak of what numpy and scipy
allocate during the call (from every thread), above what was allocated before
it, over the input's size; it does not count memory compiled code allocates
without numpy.
"""

import argparse
import concurrent.futures
import gc
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import tracemalloc
import warnings

import numpy as np
import scipy
import sklearn
from scipy import sparse
from sklearn import preprocessing as skp
from sklearn.base import BaseEstimator, TransformerMixin, clone

import sknorm

SIZES = {
    "quick": {
        "dense": (2_000, 10),
        "csr": (2_000, 500),
        "wide": (100, 300),
        "embedding": (2_000, 16),
        "threads": (20_000, 10),
        "quantile": (2_000, 5),
        "quantile sparse": (2_000, 200),
        "power": (2_000, 5),
    },
    "small": {
        "dense": (100_000, 100),
        "csr": (200_000, 2_000),
        "wide": (1_000, 5_000),
        "embedding": (20_000, 384),
        "threads": (200_000, 50),
        "quantile": (200_000, 20),
        "quantile sparse": (50_000, 2_000),
        "power": (20_000, 20),
    },
    "large": {
        "dense": (1_000_000, 100),
        "csr": (1_000_000, 10_000),
        "wide": (10_000, 10_000),
        "embedding": (200_000, 384),
        "threads": (1_000_000, 50),
        # The shapes of the quantile and power transforms' targets.
        "quantile": (1_000_000, 20),
        "quantile sparse": (200_000, 2_000),
        "power": (100_000, 20),
    },
}
#: Density of the CSR matrix (0.1%: 10 stored values per row of 10,000).
CSR_DENSITY = 0.001
DATASETS = ("dense float64", "dense float32", "CSR", "wide")
#: Density of the sparse data of the quantile transform's section (1%).
QUANTILE_SPARSE_DENSITY = 0.01
SECTIONS = (
    "datasets",
    "nonlinear",
    "embedding",
    "per-call",
    "threads",
    "first-call",
)
#: The estimators of the ``nonlinear`` section.
NONLINEAR = ("QuantileTransformer", "PowerTransformer")
PARTIAL_FIT_CHUNKS = 10
PER_CALL_SHAPES = ((100, 5), (10_000, 20))
#: A per-call timing sample runs the call this long at least (``timeit``'s
#: ``number`` is chosen to reach it).
PER_CALL_SAMPLE_S = 0.02
#: Runs of a sknorm call whose untimed first run took longer than ``--slow``
#: (none that a target is about: those take seconds at most).
SLOW_REPEAT = 3
#: Threads of the two-thread read reference (the issue's targets are on 2 cores).
READ_THREADS = 2
#: ``n_jobs`` of the GridSearchCV thread check.
GRID_JOBS = 2
METHODS = (
    "fit",
    "partial_fit",
    "transform",
    "transform copy=False",
    "fit_transform",
    "inverse_transform",
)

# The scikit-learn counterpart of each sknorm estimator, and the methods in
# which the two do the same work.
ALL = frozenset(METHODS)
COUNTERPARTS = {
    "StandardScaler": (skp.StandardScaler, ALL),
    "MinMaxScaler": (skp.MinMaxScaler, ALL),
    "MaxAbsScaler": (skp.MaxAbsScaler, ALL),
    "RobustScaler": (skp.RobustScaler, ALL),
    "Normalizer": (skp.Normalizer, ALL),
    # Row standardization is scikit-learn's scale(X, axis=1) (dense only).
    "RowStandardizer": (
        lambda: skp.FunctionTransformer(skp.scale, kw_args={"axis": 1}),
        frozenset({"transform", "fit_transform"}),
    ),
}
COLUMN_SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")
#: The estimators of the per-call section: those with a scikit-learn class.
PER_CALL_ESTIMATORS = (*COLUMN_SCALERS, "Normalizer")

# Parameters for sparse input (sknorm and scikit-learn alike): what keeps the
# zeros of sparse data zero.
SPARSE_PARAMS = {
    "StandardScaler": {"with_mean": False},
    "RobustScaler": {"with_centering": False},
    "RowStandardizer": {"method": "rms"},
}

# Data sets an estimator is not run on, and why.
SKIPPED = {
    ("EmbeddingNormalizer", "wide"): "a 10,000-feature eigendecomposition, not a "
    "streaming operation",
    ("EmbeddingQuantizer", "wide"): "embeddings are not 10,000-dimensional",
    ("EmbeddingNormalizer", "CSR"): "its centered output of sparse input is dense",
    ("EmbeddingQuantizer", "CSR"): "it quantizes dense embeddings",
}

# The memory stream each method is compared with: what it must at least do.
STREAM_OF = {
    "fit": "read 2 threads",
    "partial_fit": "read 2 threads",
    "transform": "copy",
    "inverse_transform": "copy",
    "transform copy=False": "scale in place",
    "fit_transform": "read 2 threads + copy",
}


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


class Side:
    """One of the calls timed against each other: ``setup()`` (untimed) returns
    the arguments of ``call`` (timed). ``budgeted``: run as many times as fit
    in the budget, without an untimed first run (scikit-learn's slow calls)."""

    def __init__(self, name, call, setup=tuple, budgeted=False):
        self.name, self.call, self.setup, self.budgeted = name, call, setup, budgeted


class Timer:
    """Interleaved timing; ``touch`` is run before every timed call.

    The garbage collector is off while a call is timed (as in ``timeit``);
    the callers collect between estimators (a full collection takes 0.1 s
    here, more than many of the calls timed)."""

    def __init__(self, repeat, budget, slow=np.inf, touch=None):
        self.repeat, self.budget, self.slow, self.touch = repeat, budget, slow, touch

    def run(self, sides):
        """``{side name: seconds of each run}``, the sides interleaved."""
        wanted = {side.name: self.repeat for side in sides}
        samples = {side.name: [] for side in sides}
        for side in sides:
            if not side.budgeted:
                start = time.perf_counter()
                side.call(*side.setup())
                if time.perf_counter() - start > self.slow:
                    wanted[side.name] = min(self.repeat, SLOW_REPEAT)
        for i in range(self.repeat):
            for side in sides:
                if i >= wanted[side.name]:
                    continue
                arguments = side.setup()
                if self.touch is not None:
                    self.touch()
                gc.disable()
                try:
                    start = time.perf_counter()
                    side.call(*arguments)
                    elapsed = time.perf_counter() - start
                finally:
                    gc.enable()
                samples[side.name].append(elapsed)
                if i == 0 and side.budgeted:
                    fits = int(self.budget // max(elapsed, 1e-9))
                    wanted[side.name] = max(1, min(self.repeat, fits))
        return samples


def summary(samples):
    """Median, min, max and count of timing samples (None for none)."""
    if not samples:
        return None
    return {
        "median": float(np.median(samples)),
        "min": float(np.min(samples)),
        "max": float(np.max(samples)),
        "n": len(samples),
        "samples": [float(s) for s in samples],
    }


def median(stats):
    return None if stats is None else stats["median"]


def quotient(a, b):
    """``a / b`` of two medians, None when either is missing."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


# ---------------------------------------------------------------------------
# Memory that timed calls do not fault in
# ---------------------------------------------------------------------------

WARM_ENVIRONMENT = {
    # Large allocations from the heap, not from fresh mmap regions...
    "MALLOC_MMAP_MAX_": "0",
    # ...and freed memory kept in the heap, not returned to the system.
    "MALLOC_TRIM_THRESHOLD_": str(10**12),
}


def warm_allocator_active():
    return all(os.environ.get(k) == v for k, v in WARM_ENVIRONMENT.items())


def reexec_with_warm_allocator(argv):
    """Replace this process by the same run under ``WARM_ENVIRONMENT`` (glibc)."""
    if platform.libc_ver()[0] != "glibc" or warm_allocator_active():
        return
    environment = {**os.environ, **WARM_ENVIRONMENT}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(
        sys.executable,
        [sys.executable, os.path.abspath(__file__), *argv],
        environment,
    )


def touch_fresh(n):
    """Allocate ``n`` bytes, write every page, free them: with the warm
    allocator, grows the heap so that later allocations up to ``n`` bytes
    reuse touched memory; with the system's, brings the pages back from the
    host before a timed call."""
    if n <= 0:
        return
    buffer = np.empty(int(n), dtype=np.uint8)
    buffer[::4096] = 1
    del buffer


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def make_dataset(name, size):
    """The data set ``name`` at ``size``, the same in every process."""
    rng = np.random.default_rng(0)
    if name == "CSR":
        n_rows, n_cols = SIZES[size]["csr"]
        per_row = max(1, round(CSR_DENSITY * n_cols))
        nnz = n_rows * per_row
        indices = rng.integers(0, n_cols, size=nnz, dtype=np.int32)
        indptr = np.arange(0, nnz + 1, per_row, dtype=np.int32)
        # Positive values: every column then has minimum 0 (an implicit zero),
        # which MinMaxScaler needs to keep sparse data sparse.
        data = rng.exponential(size=nnz) * rng.uniform(0.5, 50, n_cols)[indices]
        X = sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
        X.sum_duplicates()
        return X
    n_rows, n_cols = SIZES[size]["wide" if name == "wide" else "dense"]
    X = rng.standard_normal((n_rows, n_cols))
    X *= rng.uniform(0.5, 20, n_cols)
    X += rng.normal(0, 100, n_cols)
    if name == "dense float32":
        X = X.astype(np.float32)
    return X


def make_embeddings(n_rows, n_cols):
    """Embedding-like float32 data: a common offset (sentence embeddings share
    a mean comparable to their spread; here of norm 10 over a spread of 6.5)
    and a spectrum decaying over four decades (condition number 1e4)."""
    rng = np.random.default_rng(2)
    spectrum = np.logspace(0, -4, n_cols)
    rotation, _ = np.linalg.qr(rng.standard_normal((n_cols, n_cols)))
    X = rng.standard_normal((n_rows, n_cols)) * np.sqrt(spectrum)
    X = X @ rotation.T
    X += 10 * rng.standard_normal(n_cols) / np.sqrt(n_cols)
    return X.astype(np.float32)


def n_bytes(X):
    if sparse.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def describe(X):
    kind = "CSR" if sparse.issparse(X) else "dense"
    density = ""
    if kind == "CSR":
        density = f", {X.nnz:,} stored ({X.nnz / np.prod(X.shape):.1%})"
    return (
        f"{kind} {X.dtype.name} {X.shape[0]:,} x {X.shape[1]:,}{density}, "
        f"{n_bytes(X) / 1e6:,.0f} MB"
    )


def save(X, directory):
    if sparse.issparse(X):
        for part in ("data", "indices", "indptr"):
            np.save(os.path.join(directory, f"{part}.npy"), getattr(X, part))
        np.save(os.path.join(directory, "shape.npy"), np.array(X.shape))
    else:
        np.save(os.path.join(directory, "dense.npy"), X)


def load(directory):
    dense = os.path.join(directory, "dense.npy")
    if os.path.exists(dense):
        return np.load(dense)
    parts = [
        np.load(os.path.join(directory, f"{p}.npy"))
        for p in ("data", "indices", "indptr")
    ]
    shape = tuple(np.load(os.path.join(directory, "shape.npy")))
    return sparse.csr_matrix(tuple(parts), shape=shape)


def chunks_of(X):
    bounds = np.linspace(0, X.shape[0], PARTIAL_FIT_CHUNKS + 1).astype(int)
    return [X[a:b] for a, b in itertools.pairwise(bounds)]


# ---------------------------------------------------------------------------
# Memory streams
# ---------------------------------------------------------------------------

_read_pool = None


def read_pool():
    global _read_pool
    if _read_pool is None:
        _read_pool = concurrent.futures.ThreadPoolExecutor(
            READ_THREADS, thread_name_prefix="bench-read"
        )
    return _read_pool


def streams(X):
    """``{name: call}``: the memory streams on X that a method must at least
    perform. numpy releases the GIL in its reductions, so the two-thread read
    (each thread summing half of the rows) runs on two cores."""
    rng = np.random.default_rng(1)
    values = X.data if sparse.issparse(X) else X
    offset = rng.normal(size=X.shape[1]).astype(values.dtype)
    # Close to 1: scaling the scratch array in place again and again stays finite.
    factor = rng.uniform(0.999, 1.001, X.shape[1]).astype(values.dtype)
    halves = np.array_split(values, READ_THREADS)
    scratch = values.copy()
    if sparse.issparse(X):
        per_value = factor[X.indices]

        def affine():
            Y = X.copy()
            np.multiply(Y.data, per_value, out=Y.data)
            return Y

        found = {
            "affine": affine,
            "affine prealloc": lambda: np.multiply(X.data, per_value, out=scratch),
            "scale in place": lambda: np.multiply(scratch, per_value, out=scratch),
        }
    else:
        buffer = np.empty_like(X)

        def prealloc():
            np.subtract(X, offset, out=buffer)
            np.multiply(buffer, factor, out=buffer)

        found = {
            "affine": lambda: (X - offset) * factor,
            "affine prealloc": prealloc,
            "scale in place": lambda: np.multiply(scratch, factor, out=scratch),
        }

    def read_2():
        return sum(read_pool().map(np.sum, halves))

    def read_2_copy():
        read_2()
        return X.copy()

    return {
        "read": values.sum,
        "read 2 threads": read_2,
        "copy": X.copy,
        "read 2 threads + copy": read_2_copy,
        **found,
    }


# ---------------------------------------------------------------------------
# Estimators and calls
# ---------------------------------------------------------------------------


#: Estimators the data sets cannot exercise, with the reason.
NOT_BENCHMARKED = {
    "GroupedScaler": (
        "needs a group column, which the data sets have not; its cost is its "
        "scaler's on each group's rows"
    ),
    # Measured in their own section, on the data their targets name.
    "QuantileTransformer": "see the nonlinear section",
    "PowerTransformer": "see the nonlinear section",
}


def sknorm_estimators(only):
    """``{name: class}`` of the estimators exported by sknorm (but those of
    ``NOT_BENCHMARKED``)."""
    found = {}
    for name in sknorm.__all__:
        obj = getattr(sknorm, name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            if name in NOT_BENCHMARKED:
                continue
            if only is None or name in only:
                found[name] = obj
    return found


def make_pair(name, cls, dataset):
    """sknorm's estimator and scikit-learn's (or None) for ``dataset``."""
    params = SPARSE_PARAMS.get(name, {}) if dataset == "CSR" else {}
    ours = cls(**params)
    factory, methods = COUNTERPARTS.get(name, (None, frozenset()))
    theirs = None
    if factory is not None:
        theirs = factory()
        try:
            theirs.set_params(**params)
        except ValueError:  # no such parameter: no counterpart for this data
            theirs = None
    return ours, theirs, methods


def calls(estimator, X, chunks):
    """``{method: (call, setup)}``: ``setup()`` (untimed) returns the arguments
    of ``call`` (timed). Methods the estimator lacks are left out."""
    fitted = clone(estimator).fit(X)
    fresh = lambda: (clone(estimator),)  # noqa: E731
    found = {
        "fit": (lambda e: e.fit(X), fresh),
        "fit_transform": (lambda e: e.fit_transform(X), fresh),
        "transform": (lambda: fitted.transform(X), tuple),
    }
    if hasattr(estimator, "partial_fit"):

        def partial_fit(e):
            for chunk in chunks:
                e.partial_fit(chunk)

        found["partial_fit"] = (partial_fit, fresh)
    if "copy" in estimator.get_params():
        in_place = clone(estimator).set_params(copy=False).fit(X)
        scratch = X.copy()  # transformed in place again and again: stays finite
        found["transform copy=False"] = (lambda: in_place.transform(scratch), tuple)
    if hasattr(fitted, "inverse_transform"):
        output = fitted.transform(X)  # codes, for EmbeddingQuantizer
        found["inverse_transform"] = (lambda: fitted.inverse_transform(output), tuple)
    return found


def why_not(estimator, X):
    """None when the estimator fits X, else the first line of its error."""
    try:
        clone(estimator).fit(X[: min(1000, X.shape[0])])
    except (TypeError, ValueError) as error:
        return str(error).split(". ")[0]
    return None


# ---------------------------------------------------------------------------
# Peak memory (subprocess)
# ---------------------------------------------------------------------------


def measure_memory(directory, dataset, only):
    """Peak extra memory of every sknorm call on the data saved in ``directory``,
    as ``{"estimator|method": bytes}``; run in a fresh process."""
    X = load(directory)
    chunks = chunks_of(X)
    results = {}
    for name, cls in sknorm_estimators(only).items():
        if (name, dataset) in SKIPPED:
            continue
        ours, _, _ = make_pair(name, cls, dataset)
        if why_not(ours, X) is not None:
            continue
        for method, (call, setup) in calls(ours, X, chunks).items():
            arguments = setup()
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            result = call(*arguments)
            peak = tracemalloc.get_traced_memory()[1] - before
            tracemalloc.stop()
            del result
            results[f"{name}|{method}"] = peak
    return results


def memory_in_subprocess(X, dataset, only):
    with tempfile.TemporaryDirectory(prefix="sknorm-bench-") as directory:
        save(X, directory)
        command = [sys.executable, __file__, "--memory-worker", directory, dataset]
        if only:
            command += ["--only", ",".join(sorted(only))]
        output = subprocess.run(command, capture_output=True, text=True)
    if output.returncode != 0:
        raise RuntimeError(f"memory measurement failed:\n{output.stderr}")
    return json.loads(output.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------
# Section: data sets
# ---------------------------------------------------------------------------


def run_dataset(dataset, args, timer, log):
    X = make_dataset(dataset, args.size)
    log(f"{dataset}: {describe(X)}")
    # Grown once: the allocations of the timed calls then reuse touched memory.
    touch_fresh(4 * n_bytes(X))
    references = streams(X)
    stream_times = timer.run([Side(k, v) for k, v in references.items()])
    stream_stats = {k: summary(v) for k, v in stream_times.items()}
    log(
        "  streams: "
        + ", ".join(f"{k} {seconds(median(v))}" for k, v in stream_stats.items())
    )
    memory = memory_in_subprocess(X, dataset, args.only) if args.memory else {}
    chunks = chunks_of(X)
    rows, notes = [], []
    for name, cls in sknorm_estimators(args.only).items():
        if (name, dataset) in SKIPPED:
            notes.append(f"{name}: not run ({SKIPPED[name, dataset]}).")
            continue
        ours, theirs, shared = make_pair(name, cls, dataset)
        reason = why_not(ours, X)
        if reason is not None:
            notes.append(f"{name}: not run ({reason}).")
            continue
        gc.collect()
        if theirs is not None and why_not(theirs, X) is not None:
            theirs = None
        our_calls = calls(ours, X, chunks)
        their_calls = calls(theirs, X, chunks) if theirs is not None else {}
        their_fit = None
        for method in METHODS:
            if method not in our_calls:
                continue
            stream = STREAM_OF[method]
            sides = [
                Side("sknorm", *our_calls[method]),
                Side("stream", references[stream]),
            ]
            bound = False
            if method in their_calls and method in shared:
                if (
                    method == "fit_transform"
                    and their_fit is not None
                    and their_fit["median"] > args.too_slow
                ):
                    bound = True  # at least its fit: a lower bound, not timed
                else:
                    sides.append(Side("sklearn", *their_calls[method], budgeted=True))
            found = {k: summary(v) for k, v in timer.run(sides).items()}
            if bound:
                found["sklearn"] = their_fit
            if method == "fit":
                their_fit = found.get("sklearn")
            key = f"{name}|{method}"
            rows.append(
                {
                    "estimator": name,
                    "method": method,
                    "sknorm": found["sknorm"],
                    "sklearn": found.get("sklearn"),
                    "sklearn_lower_bound": bound,
                    "stream": stream,
                    "stream_time": found["stream"],
                    "memory": memory[key] / n_bytes(X) if key in memory else None,
                }
            )
            log(
                f"  {name}.{method}: {seconds(median(found['sknorm']))}, "
                f"scikit-learn {seconds(median(found.get('sklearn')))}"
            )
    return {
        "description": describe(X),
        "streams": stream_stats,
        "rows": rows,
        "notes": notes,
    }


# ---------------------------------------------------------------------------
# Section: QuantileTransformer and PowerTransformer
# ---------------------------------------------------------------------------


def make_skewed(n_rows, n_cols, seed=4):
    """Positive, skewed data (lognormal, a different spread per column): what
    the quantile and power transforms are for, and Box-Cox's domain."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(0.25, 1.5, n_cols)
    return np.exp(rng.standard_normal((n_rows, n_cols)) * sigma)


def make_sparse_skewed(n_rows, n_cols, density, seed=5):
    """CSC data of ``density`` with lognormal stored values (non-negative:
    scikit-learn's QuantileTransformer takes no other sparse data)."""
    rng = np.random.default_rng(seed)
    nnz = round(density * n_rows * n_cols)
    rows = rng.integers(0, n_rows, nnz)
    cols = rng.integers(0, n_cols, nnz)
    values = rng.lognormal(0, 1, nnz)
    X = sparse.csc_matrix((values, (rows, cols)), shape=(n_rows, n_cols))
    X.sum_duplicates()
    return X


def two_thread_read(X):
    """The two-thread read of :func:`streams`, of any matrix's values."""
    values = X.data if sparse.issparse(X) else X
    halves = np.array_split(values, READ_THREADS)
    return lambda: sum(read_pool().map(np.sum, halves))


def _timed_rows(timer, case, name, X, ours, theirs, log, methods):
    """Rows of ``methods`` ("fit", "transform") of ``ours`` against ``theirs``
    (None: no counterpart timed) and ``X.copy()``, interleaved."""
    rows = []
    fitted_ours = clone(ours).fit(X) if "transform" in methods else None
    fitted_theirs = (
        clone(theirs).fit(X) if theirs is not None and "transform" in methods else None
    )
    for method in methods:
        if method == "fit":
            sides = [Side("sknorm", lambda e: e.fit(X), lambda: (clone(ours),))]
            if theirs is not None:
                sides.append(
                    Side(
                        "sklearn",
                        lambda e: e.fit(X),
                        lambda: (clone(theirs),),
                        budgeted=True,
                    )
                )
            sides.append(Side("stream", two_thread_read(X)))
            stream = "read 2 threads"
        else:
            sides = [Side("sknorm", lambda: fitted_ours.transform(X))]
            if fitted_theirs is not None:
                sides.append(
                    Side("sklearn", lambda: fitted_theirs.transform(X), budgeted=True)
                )
            sides.append(Side("stream", X.copy))
            stream = "copy"
        found = {k: summary(v) for k, v in timer.run(sides).items()}
        rows.append(
            {
                "case": case,
                "estimator": name,
                "method": method,
                "sknorm": found["sknorm"],
                "sklearn": found.get("sklearn"),
                "stream": stream,
                "stream_time": found["stream"],
            }
        )
        log(
            f"  {case}: {name}.{method} {seconds(median(found['sknorm']))}, "
            f"scikit-learn {seconds(median(found.get('sklearn')))}"
        )
        gc.collect()
    return rows


def run_nonlinear(args, timer, log):
    """QuantileTransformer and PowerTransformer on the data their targets
    name: exact fits against scikit-learn's exact fit (``subsample=None``),
    transforms against scikit-learn's and ``X.copy()``, and the accuracy of
    scikit-learn's default (subsampled) quantiles against the exact map."""
    wanted = [n for n in NONLINEAR if args.only is None or n in args.only]
    sizes = SIZES[args.size]
    rows, cases, accuracy = [], {}, {}
    if "QuantileTransformer" in wanted:
        X = make_skewed(*sizes["quantile"])
        case = "dense lognormal"
        cases[case] = describe(X)
        log(f"quantile: {cases[case]}")
        touch_fresh(4 * X.nbytes)
        ours = sknorm.QuantileTransformer()
        theirs = skp.QuantileTransformer(subsample=None)
        rows += _timed_rows(
            timer,
            case,
            "QuantileTransformer",
            X,
            ours,
            theirs,
            log,
            ("fit", "transform"),
        )
        normal = {"output_distribution": "normal"}
        rows += _timed_rows(
            timer,
            case + ", normal output",
            "QuantileTransformer",
            X,
            clone(ours).set_params(**normal),
            clone(theirs).set_params(**normal),
            log,
            ("transform",),
        )
        cases[case + ", normal output"] = cases[case]
        # The error of scikit-learn's default map (a random subsample of
        # 10,000 rows) against the exact map, both scikit-learn's.
        exact = theirs.fit(X).transform(X)
        sampled = skp.QuantileTransformer(random_state=0).fit(X).transform(X)
        mine = ours.fit(X).transform(X)
        accuracy = {
            "sampled_vs_exact": float(np.max(np.abs(sampled - exact))),
            "sknorm_vs_exact": float(np.max(np.abs(mine - exact))),
        }
        del exact, sampled, mine
        Xs = make_sparse_skewed(*sizes["quantile sparse"], QUANTILE_SPARSE_DENSITY)
        case = "sparse CSC"
        cases[case] = describe(Xs).replace("CSR", "CSC")
        log(f"quantile sparse: {cases[case]}")
        rows += _timed_rows(
            timer, case, "QuantileTransformer", Xs, ours, theirs, log, ("fit",)
        )
    if "PowerTransformer" in wanted:
        X = make_skewed(*sizes["power"])
        cases["dense lognormal, power"] = describe(X)
        log(f"power: {describe(X)}")
        lambdas = {}
        for method in ("yeo-johnson", "box-cox"):
            ours = sknorm.PowerTransformer(method=method)
            theirs = skp.PowerTransformer(method=method)
            # Yeo-Johnson on data of both signs (both of its branches).
            data = X - 1.0 if method == "yeo-johnson" else X
            rows += _timed_rows(
                timer,
                f"dense lognormal, power, {method}",
                "PowerTransformer",
                data,
                ours,
                theirs,
                log,
                ("fit", "transform"),
            )
            cases[f"dense lognormal, power, {method}"] = describe(data)
            difference = ours.fit(data).lambdas_ - theirs.fit(data).lambdas_
            lambdas[method] = float(np.max(np.abs(difference)))
        accuracy["lambda_difference"] = lambdas
    return {"cases": cases, "rows": rows, "accuracy": accuracy}


# ---------------------------------------------------------------------------
# Section: EmbeddingNormalizer against PCA + normalize
# ---------------------------------------------------------------------------

#: Rows on which the accuracy of the whitened embeddings is compared.
ACCURACY_ROWS = 2_000


def cosine_error(output, reference):
    """Largest deviation of the cosine similarities between the first
    ``ACCURACY_ROWS`` rows of ``output`` from those of ``reference`` (float64).

    Whitening is defined up to the signs (and, for equal eigenvalues, a
    rotation) of the principal directions; the cosine similarities of the
    normalized rows are not, so they compare two whitenings exactly."""
    Z = np.asarray(output[:ACCURACY_ROWS], dtype=np.float64)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return float(np.abs(Z @ Z.T - reference).max())


def exact_cosines(X):
    """Cosine similarities of the first rows after PCA whitening in float64."""
    X64 = X.astype(np.float64)
    mean = X64.mean(axis=0)
    centered = X64 - mean
    covariance = centered.T @ centered / (X.shape[0] - 1)
    eigenvalues, vectors = np.linalg.eigh(covariance)
    Z = centered[:ACCURACY_ROWS] @ (vectors / np.sqrt(eigenvalues))
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return Z @ Z.T


def run_embedding(args, timer, log):
    from sklearn.decomposition import PCA

    n_rows, n_cols = SIZES[args.size]["embedding"]
    X = make_embeddings(n_rows, n_cols)
    log(f"embedding: {describe(X)}")
    touch_fresh(4 * X.nbytes)

    def ours():
        # Raw rows, as PCA whitens them (input_norm="l2", the default, would
        # whiten the L2-normalized rows: another map).
        return (
            sknorm.EmbeddingNormalizer(whiten="pca", input_norm=None)
            .fit(X)
            .transform(X)
        )

    def theirs():
        return skp.normalize(PCA(whiten=True).fit(X).transform(X))

    times = timer.run([Side("sknorm", ours), Side("sklearn", theirs, budgeted=True)])
    reference = exact_cosines(X)
    return {
        "description": describe(X),
        "sknorm": summary(times["sknorm"]),
        "sklearn": summary(times["sklearn"]),
        "sknorm_error": cosine_error(ours(), reference),
        "sklearn_error": cosine_error(theirs(), reference),
    }


# ---------------------------------------------------------------------------
# Section: time per call on small inputs
# ---------------------------------------------------------------------------


def per_call_methods(ours, theirs, X):
    """``{method: (our call, their call)}`` for the methods both have."""
    pairs = {}
    for method in ("fit", "partial_fit", "transform", "fit_transform"):
        if hasattr(ours, method) and hasattr(theirs, method):
            pairs[method] = (getattr(ours, method), getattr(theirs, method))
    fitted_ours, fitted_theirs = clone(ours).fit(X), clone(theirs).fit(X)
    pairs["transform"] = (fitted_ours.transform, fitted_theirs.transform)
    if hasattr(fitted_ours, "inverse_transform") and hasattr(
        fitted_theirs, "inverse_transform"
    ):
        pairs["inverse_transform"] = (
            fitted_ours.inverse_transform,
            fitted_theirs.inverse_transform,
        )
    return pairs


def run_per_call(args, log):
    """Seconds per call, ``timeit`` samples of at least ``PER_CALL_SAMPLE_S``,
    sknorm and scikit-learn interleaved sample by sample."""
    rows = []
    sample_s = PER_CALL_SAMPLE_S / (10 if args.quick else 1)
    for shape in PER_CALL_SHAPES:
        X = np.random.default_rng(3).standard_normal(shape) * 3 + 1
        for name in PER_CALL_ESTIMATORS:
            if args.only is not None and name not in args.only:
                continue
            ours, theirs = getattr(sknorm, name)(), COUNTERPARTS[name][0]()
            for method, (a, b) in per_call_methods(ours, theirs, X).items():
                timers = {
                    "sknorm": timeit.Timer(lambda a=a, X=X: a(X)),
                    "sklearn": timeit.Timer(lambda b=b, X=X: b(X)),
                }
                # Calibrated on the faster: every sample of both lasts long enough.
                fastest = min(min(t.repeat(3, 1)) for t in timers.values())
                number = max(1, math.ceil(sample_s / max(fastest, 1e-7)))
                samples = {k: [] for k in timers}
                for _ in range(args.repeat):
                    for side, t in timers.items():
                        samples[side].append(t.timeit(number) / number)
                found = {k: summary(v) for k, v in samples.items()}
                rows.append(
                    {
                        "shape": list(shape),
                        "estimator": name,
                        "method": method,
                        "number": number,
                        **found,
                    }
                )
        log(f"per-call {shape[0]:,} x {shape[1]}: done")
    return {"rows": rows}


# ---------------------------------------------------------------------------
# Section: threads under GridSearchCV
# ---------------------------------------------------------------------------


#: A number of running threads counts when seen in at least this share of the
#: samples of a fit: a thread pool's hand-over (the caller not yet asleep, the
#: workers already woken) shows one thread more for a few microseconds.
SUSTAINED_SHARE = 0.05


class ThreadSampler:
    """Samples, every millisecond while active, the threads of this process
    that are running or runnable (state R in ``/proc/self/task/*/stat``; the
    sampler itself left out) and the live threads.

    ``running``: the most threads running in at least ``SUSTAINED_SHARE`` of
    the samples; ``running_max``: the most in any sample."""

    def __init__(self):
        self.live = 0
        self.counts = {}
        self._stop = threading.Event()

    @property
    def running(self):
        total = sum(self.counts.values())
        return max(
            (n for n, k in self.counts.items() if k >= SUSTAINED_SHARE * total),
            default=0,
        )

    @property
    def running_max(self):
        return max(self.counts, default=0)

    def _sample(self):
        own = str(threading.get_native_id())
        running = 0
        tasks = os.listdir("/proc/self/task")
        for task in tasks:
            if task == own:
                continue
            try:
                with open(f"/proc/self/task/{task}/stat") as stat:
                    state = stat.read().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue  # the thread ended
            running += state == "R"
        self.counts[running] = self.counts.get(running, 0) + 1
        self.live = max(self.live, len(tasks) - 1)

    def _loop(self):
        while not self._stop.wait(0.001):
            self._sample()

    def __enter__(self):
        self.start = time.time()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample_end = time.time()


class ThreadProbe(TransformerMixin, BaseEstimator):
    """Fits and applies ``estimator``, recording the threads that ran."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y=None):
        with ThreadSampler() as sampler:
            self.estimator_ = clone(self.estimator).fit(X)
            self.estimator_.transform(X)
        self.record_ = {
            "running": sampler.running,
            "running_max": sampler.running_max,
            "live": sampler.live,
            "start": sampler.start,
            "end": sampler._sample_end,
            "pid": os.getpid(),
        }
        return self

    def transform(self, X):
        return self.estimator_.transform(X)


def thread_scorer(estimator, X, y):
    """A multi-metric "score": the thread record of the fitted probe."""
    return {k: float(v) for k, v in estimator[0].record_.items()}


def most_concurrent(records):
    """Largest sum of the running-thread maxima of fits that overlapped in time
    (an upper bound: each fit's maximum may fall at a different moment)."""
    events = sorted(
        [(r["start"], 1, r["running"]) for r in records]
        + [(r["end"], 0, -r["running"]) for r in records]
    )
    total = best = 0
    for _, _, change in events:
        total += change
        best = max(best, total)
    return best


def run_threads(args, log):
    from sklearn.dummy import DummyRegressor
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    names = [
        n
        for n in ("StandardScaler", "MinMaxScaler", "RobustScaler")
        if args.only is None or n in args.only
    ]
    if not names:
        return None
    n_rows, n_cols = SIZES[args.size]["threads"]
    X = np.random.default_rng(4).standard_normal((n_rows, n_cols)) * 5 + 10
    y = X[:, 0].copy()
    candidates = [getattr(sknorm, n)() for n in names]
    # Outside joblib: shows what the probe sees when sknorm may use every core.
    alone = [ThreadProbe(c).fit(X).record_["running"] for c in candidates]
    pipeline = Pipeline([("scale", ThreadProbe()), ("model", DummyRegressor())])
    search = GridSearchCV(
        pipeline,
        {"scale__estimator": candidates},
        scoring=thread_scorer,
        refit=False,
        cv=5,
        n_jobs=GRID_JOBS,
    )
    search.fit(X, y)
    results = search.cv_results_
    records = []
    for split in range(5):
        for i in range(len(candidates)):
            records.append(
                {
                    k: results[f"split{split}_test_{k}"][i]
                    for k in ("running", "running_max", "live", "start", "end", "pid")
                }
            )
    per_worker = {}
    for r in records:
        pid = int(r["pid"])
        per_worker[pid] = max(per_worker.get(pid, 0), int(r["running"]))
    log(f"threads: {len(records)} fits in {len(per_worker)} worker(s)")
    return {
        "shape": [n_rows, n_cols],
        "estimators": names,
        "running_alone": int(max(alone)),
        "running_per_worker": sorted(per_worker.values(), reverse=True),
        "running_max_per_fit": int(max(r["running_max"] for r in records)),
        "live_per_fit_max": int(max(r["live"] for r in records)),
        "running_concurrent": int(most_concurrent(records)),
        "fits": len(records),
        "workers": len(per_worker),
    }


# ---------------------------------------------------------------------------
# Section: the first call in a fresh process
# ---------------------------------------------------------------------------

FIRST_CALL_SCRIPT = """
import time
start = time.perf_counter()
import numpy as np
from scipy import sparse
import sknorm
imported = time.perf_counter()
rng = np.random.default_rng(0)
dense = rng.standard_normal((2000, 10))
data = [dense, dense.astype(np.float32), sparse.random(2000, 50, 0.1, "csr", rng=rng)]
for name in ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler",
             "Normalizer", "RowStandardizer"):
    for X in data:
        cls = getattr(sknorm, name)
        params = {}
        if sparse.issparse(X):
            params = {"StandardScaler": {"with_mean": False},
                      "RobustScaler": {"with_centering": False},
                      "RowStandardizer": {"method": "rms"}}.get(name, {})
        estimator = cls(**params).fit(X)
        Y = estimator.transform(X)
        if hasattr(estimator, "inverse_transform"):
            estimator.inverse_transform(Y)
print(imported - start, time.perf_counter() - imported)
"""


def run_first_call(log):
    """Seconds to import sknorm and to fit, transform and invert every scaler
    once (dense float64, float32, CSR), in fresh processes: with an empty
    numba cache (what a fresh install pays: compiling), then with the cache
    that run left (every later process)."""
    from sknorm import _kernels

    if not _kernels.numba_enabled():
        return None
    found = {}
    with tempfile.TemporaryDirectory(prefix="sknorm-numba-cache-") as cache:
        environment = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("empty cache", "cached"):
            output = subprocess.run(
                [sys.executable, "-c", FIRST_CALL_SCRIPT],
                capture_output=True,
                text=True,
                env=environment,
            )
            if output.returncode != 0:
                raise RuntimeError(f"first-call run failed:\n{output.stderr}")
            imported, calls = map(float, output.stdout.split()[-2:])
            found[label] = {"import": imported, "first calls": calls}
    log(
        "first call: "
        + ", ".join(f"{k} {v['first calls']:.1f} s" for k, v in found.items())
    )
    return found


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


def find_row(report, dataset, name, method):
    for row in report.get("datasets", {}).get(dataset, {}).get("rows", []):
        if row["estimator"] == name and row["method"] == method:
            return row
    return None


def targets(report, cores):
    """``[(target, case, measured, limit, met)]``, one per case the issue
    names; ``measured`` None when the case was not run. A case covering several
    estimators shows the worst of them."""
    found = []

    def add(target, case, values, limit, below=True, digits=2, unit=""):
        """``values``: ``[(value, label)]``; the worst decides."""
        values = [(v, label) for v, label in values if v is not None]
        bound = f"{'<=' if below else '>='} {limit:g}{unit}"
        if not values:
            found.append((target, case, None, bound, None))
            return
        worst = max(values) if below else min(values)
        met = all(v <= limit if below else v >= limit for v, _ in values)
        text = f"{worst[0]:.{digits}f}{unit}"
        if len(values) > 1:
            text += f" ({worst[1]})"
        found.append((target, case, text, bound, met))

    def ratio_of(dataset, name, method, to):
        row = find_row(report, dataset, name, method)
        if row is None:
            return None
        if to == "stream":
            return quotient(median(row["sknorm"]), median(row["stream_time"]))
        if to == "speed-up":
            if row["sklearn_lower_bound"]:
                return None
            return quotient(median(row["sklearn"]), median(row["sknorm"]))
        if to == "sklearn":
            return quotient(median(row["sknorm"]), median(row["sklearn"]))
        raise ValueError(to)

    dense = ("dense float64", "dense float32", "wide")
    for dataset in dense:
        add(
            "fit / 2-thread read (Standard, MinMax, MaxAbs)",
            dataset,
            [(ratio_of(dataset, n, "fit", "stream"), n) for n in COLUMN_SCALERS[:3]],
            1.5,
        )
    for dataset, limit in ((d, 1.0) for d in dense):
        add(
            "transform / X.copy() (column scalers)",
            dataset,
            [(ratio_of(dataset, n, "transform", "stream"), n) for n in COLUMN_SCALERS],
            limit,
        )
    add(
        "transform / X.copy() (column scalers)",
        "CSR",
        [(ratio_of("CSR", n, "transform", "stream"), n) for n in COLUMN_SCALERS],
        1.5,
    )
    for name in COLUMN_SCALERS:
        for dataset in dense[:2]:
            add(
                "fit_transform speed-up over scikit-learn",
                f"{name}, {dataset}",
                [(ratio_of(dataset, name, "fit_transform", "speed-up"), name)],
                5.0,
                below=False,
                digits=1,
                unit="x",
            )
    for dataset, limit in (("dense float64", 15), ("dense float32", 15), ("CSR", 150)):
        add(
            "RobustScaler.fit speed-up over scikit-learn",
            dataset,
            [(ratio_of(dataset, "RobustScaler", "fit", "speed-up"), "RobustScaler")],
            limit,
            below=False,
            digits=1,
            unit="x",
        )
    for dataset in ("dense float64", "dense float32", "CSR"):
        fit = find_row(report, dataset, "RobustScaler", "fit")
        partial = find_row(report, dataset, "RobustScaler", "partial_fit")
        value = None
        if fit is not None and partial is not None:
            value = quotient(median(partial["sknorm"]), median(fit["sknorm"]))
        add(
            "RobustScaler.partial_fit (10 chunks) / fit",
            dataset,
            [(value, "RobustScaler")],
            1.5,
        )

    def nonlinear(case, name, method, to):
        for row in report.get("nonlinear", {}).get("rows", []):
            if (row["case"], row["estimator"], row["method"]) == (case, name, method):
                if to == "stream":
                    return quotient(median(row["sknorm"]), median(row["stream_time"]))
                return quotient(median(row["sklearn"]), median(row["sknorm"]))
        return None

    quantile = "QuantileTransformer"
    for target, case, method, to, limit in (
        (
            f"{quantile} exact fit speed-up over scikit-learn's exact fit",
            "dense lognormal",
            "fit",
            "speed-up",
            5.0,
        ),
        (
            f"{quantile} sparse exact fit speed-up over scikit-learn's",
            "sparse CSC",
            "fit",
            "speed-up",
            20.0,
        ),
        (
            f"{quantile}.transform speed-up over scikit-learn",
            "dense lognormal",
            "transform",
            "speed-up",
            10.0,
        ),
    ):
        add(
            target,
            case,
            [(nonlinear(case, quantile, method, to), quantile)],
            limit,
            below=False,
            digits=1,
            unit="x",
        )
    add(
        f"{quantile}.transform / X.copy()",
        "dense lognormal",
        [(nonlinear("dense lognormal", quantile, "transform", "stream"), quantile)],
        3.0,
    )
    for method in ("yeo-johnson", "box-cox"):
        case = f"dense lognormal, power, {method}"
        add(
            "PowerTransformer.fit speed-up over scikit-learn",
            case,
            [(nonlinear(case, "PowerTransformer", "fit", "speed-up"), method)],
            5.0,
            below=False,
            digits=1,
            unit="x",
        )
        add(
            "PowerTransformer.transform / X.copy()",
            case,
            [(nonlinear(case, "PowerTransformer", "transform", "stream"), method)],
            3.0,
        )
    add(
        "Normalizer.transform / scikit-learn's",
        "CSR",
        [(ratio_of("CSR", "Normalizer", "transform", "sklearn"), "Normalizer")],
        1.0,
    )
    embedding = report.get("embedding")
    case = "not run" if embedding is None else embedding["description"]
    add(
        'EmbeddingNormalizer(whiten="pca") fit+transform / PCA(whiten) + normalize',
        case,
        [
            (
                None
                if embedding is None
                else quotient(
                    median(embedding["sknorm"]), median(embedding["sklearn"])
                ),
                "",
            )
        ],
        1.0,
    )
    if embedding is None:
        found.append(("EmbeddingNormalizer accuracy", "not run", None, "", None))
    else:
        error = embedding["sknorm_error"]
        found.append(
            (
                "EmbeddingNormalizer accuracy: cosine error vs float64",
                f"scikit-learn's: {embedding['sklearn_error']:.1e}",
                f"{error:.1e}",
                f"<= {ACCURACY_LIMIT:g}",
                error <= ACCURACY_LIMIT,
            )
        )
    per_call = report.get("per-call", {}).get("rows", [])
    for shape in PER_CALL_SHAPES:
        for name in PER_CALL_ESTIMATORS:
            values = [
                (quotient(median(r["sknorm"]), median(r["sklearn"])), r["method"])
                for r in per_call
                if tuple(r["shape"]) == shape and r["estimator"] == name
            ]
            add(
                "per call, sknorm / scikit-learn (worst method)",
                f"{name}, {shape[0]:,} x {shape[1]}",
                values or [(None, "")],
                1.0,
            )
    threads = report.get("threads")
    add(
        f"GridSearchCV(n_jobs={GRID_JOBS}): running threads, all workers",
        f"cores: {cores}",
        [(None if threads is None else threads["running_concurrent"], "")],
        cores,
        digits=0,
    )
    return found


#: Largest cosine-similarity error of the whitened embeddings that counts as
#: exact: float32 output carries a relative rounding error of 6e-8 per value.
ACCURACY_LIMIT = 1e-4


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def format_table(header, rows, markdown):
    widths = [
        max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)
    ]

    def line(cells):
        cells = [str(c).ljust(w) for c, w in zip(cells, widths, strict=True)]
        if markdown:
            return "| " + " | ".join(cells) + " |"
        return "  ".join(cells).rstrip()

    if markdown:
        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(header), rule, *map(line, rows)])
    rule = "  ".join("=" * w for w in widths)
    return "\n".join([rule, line(header), rule, *map(line, rows), rule])


def seconds(value):
    if value is None:
        return "—"
    if value >= 0.01:
        return f"{value:.3f}"
    if value >= 1e-4:
        return f"{value:.4f}"
    return f"{value * 1e6:.1f}µs"


def spread(stats, lower_bound=False):
    """``median [min-max]`` of timing samples."""
    if stats is None:
        return "—"
    text = f"{'>' * lower_bound}{seconds(stats['median'])}"
    if stats["n"] > 1 and not lower_bound:
        text += f" [{seconds(stats['min'])}-{seconds(stats['max'])}]"
    return text


def ratio_text(value, lower_bound=False):
    return "—" if value is None else f"{'<' * lower_bound}{value:.2f}"


def machine(cores):
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return f"{model}, {cores} cores{memory}"


def versions():
    from sknorm import _kernels
    from sknorm._parallel import n_threads

    numba = "not installed"
    if _kernels.numba_available():
        import numba as numba_module

        numba = numba_module.__version__
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "sknorm": f"{sknorm.__version__} ({os.path.dirname(sknorm.__file__)})",
        "numba": numba,
        "numba kernels": "on" if _kernels.numba_enabled() else "off",
        "sknorm threads": n_threads(),
    }


def load_average():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def render(report, markdown):
    out = []

    def heading(title):
        out.extend(["", f"**{title}**" if markdown else title])
        if not markdown:
            out.append("-" * len(title))
        out.append("")

    meta = report["meta"]
    out.append(
        f"sknorm benchmark, size {meta['size']}: medians [min-max] of "
        f"{meta['repeat']} interleaved runs (scikit-learn: as many as fit in "
        f"{meta['budget']:g} s, n shown), allocator {meta['allocator']}"
    )
    out.append("")
    out.append(f"Machine: {meta['machine']}")
    out.append(
        "Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    )
    out.append(
        f"Load average (1/5/15 min) at start {meta['load_start']}, at end "
        f"{meta['load_end']}; run took {meta['total_s']:.0f} s "
        "(" + ", ".join(f"{k} {v:.0f} s" for k, v in meta["section_s"].items()) + ")."
    )

    for dataset, section in report.get("datasets", {}).items():
        heading(f"{dataset}: {section['description']}")
        out.append(
            "Memory streams: "
            + ", ".join(f"{k} {spread(v)}" for k, v in section["streams"].items())
            + "."
        )
        out.append("")
        header = (
            "estimator",
            "method",
            "n",
            "sknorm s",
            "sklearn s",
            "sknorm/sklearn",
            "stream",
            "stream s",
            "sknorm/stream",
            "memory/input",
        )
        rows = []
        for r in section["rows"]:
            bound = r["sklearn_lower_bound"]
            n = str(r["sknorm"]["n"])
            if r["sklearn"] is not None:
                n += f"/{'—' if bound else r['sklearn']['n']}"
            rows.append(
                (
                    r["estimator"],
                    r["method"],
                    n,
                    spread(r["sknorm"]),
                    spread(r["sklearn"], bound),
                    ratio_text(
                        quotient(median(r["sknorm"]), median(r["sklearn"])), bound
                    ),
                    r["stream"],
                    seconds(median(r["stream_time"])),
                    ratio_text(quotient(median(r["sknorm"]), median(r["stream_time"]))),
                    "—" if r["memory"] is None else f"{r['memory']:.2f}",
                )
            )
        if rows:
            out.append(format_table(header, rows, markdown))
        for note in section["notes"]:
            out.extend(["", note])

    embedding = report.get("embedding")
    if embedding is not None:
        heading(f'EmbeddingNormalizer(whiten="pca"): {embedding["description"]}')
        out.append(
            format_table(
                ("fit + transform", "n", "s", "cosine error vs float64"),
                [
                    (
                        'sknorm EmbeddingNormalizer(whiten="pca")',
                        embedding["sknorm"]["n"],
                        spread(embedding["sknorm"]),
                        f"{embedding['sknorm_error']:.1e}",
                    ),
                    (
                        "scikit-learn normalize(PCA(whiten=True))",
                        embedding["sklearn"]["n"],
                        spread(embedding["sklearn"]),
                        f"{embedding['sklearn_error']:.1e}",
                    ),
                ],
                markdown,
            )
        )
        out.extend(
            [
                "",
                "Cosine error: the largest deviation of the cosine similarities "
                f"among the first {ACCURACY_ROWS:,} output rows from those of PCA "
                "whitening computed in float64.",
            ]
        )

    nonlinear = report.get("nonlinear")
    if nonlinear is not None and nonlinear["rows"]:
        heading("Quantile and power transforms")
        out.append(
            "Exact fits against scikit-learn's exact fit "
            "(QuantileTransformer(subsample=None)); the stream is a 2-thread "
            "read for fit, X.copy() for transform."
        )
        out.append("")
        for case, description in nonlinear["cases"].items():
            out.append(f"* {case}: {description}")
        header = (
            "case",
            "estimator",
            "method",
            "sknorm",
            "sklearn",
            "stream",
            "speed-up",
            "sknorm/stream",
        )
        rows = [
            (
                r["case"],
                r["estimator"],
                r["method"],
                spread(r["sknorm"]),
                spread(r["sklearn"]),
                spread(r["stream_time"]),
                ratio_text(quotient(median(r["sklearn"]), median(r["sknorm"]))),
                ratio_text(quotient(median(r["sknorm"]), median(r["stream_time"]))),
            )
            for r in nonlinear["rows"]
        ]
        out.append("")
        out.append(format_table(header, rows, markdown))
        accuracy = nonlinear["accuracy"]
        if "sampled_vs_exact" in accuracy:
            out.append("")
            out.append(
                "Largest difference from scikit-learn's exact map on the dense "
                "data: scikit-learn's default (10,000 sampled rows, "
                f"random_state=0) {accuracy['sampled_vs_exact']:.2g}; sknorm's "
                f"default {accuracy['sknorm_vs_exact']:.2g}."
            )
        if "lambda_difference" in accuracy:
            out.append(
                "Largest |lambda - scikit-learn's lambda|: "
                + ", ".join(
                    f"{k} {v:.1e}" for k, v in accuracy["lambda_difference"].items()
                )
                + "."
            )

    per_call = report.get("per-call", {}).get("rows", [])
    if per_call:
        heading("Time per call on small inputs")
        header = (
            "shape",
            "estimator",
            "method",
            "calls/sample",
            "sknorm",
            "sklearn",
            "sknorm/sklearn",
        )
        rows = [
            (
                f"{r['shape'][0]:,} x {r['shape'][1]}",
                r["estimator"],
                r["method"],
                r["number"],
                spread(r["sknorm"]),
                spread(r["sklearn"]),
                ratio_text(quotient(median(r["sknorm"]), median(r["sklearn"]))),
            )
            for r in per_call
        ]
        out.append(format_table(header, rows, markdown))

    threads = report.get("threads")
    if threads is not None:
        heading(f"Threads: GridSearchCV(n_jobs={GRID_JOBS}) over a sknorm pipeline")
        out.append(
            f"{threads['fits']} fits ({', '.join(threads['estimators'])}, cv=5) on "
            f"{threads['shape'][0]:,} x {threads['shape'][1]} float64, in "
            f"{threads['workers']} worker(s); each fit and transform sampled every "
            "millisecond for its running or runnable threads (/proc state R); "
            f"a count counts when seen in {SUSTAINED_SHARE:.0%} of a fit's "
            "samples. "
            f"Most running in one worker: {threads['running_per_worker']}; in "
            f"fits that overlapped in time, summed: {threads['running_concurrent']} "
            f"(cores: {meta['cores']}). Outside joblib the same probe saw "
            f"{threads['running_alone']} running thread(s). Most running in any "
            f"one sample of a fit: {threads['running_max_per_fit']}; most live "
            "threads in "
            f"a worker: {threads['live_per_fit_max']}."
        )

    first = report.get("first-call")
    if first is not None:
        heading("First call in a fresh process")
        out.append(
            "import sknorm, then fit, transform and inverse_transform of "
            "StandardScaler, MinMaxScaler, MaxAbsScaler, RobustScaler, Normalizer "
            "and RowStandardizer once each on dense float64, float32 and CSR data "
            "(2,000 rows): "
            + "; ".join(
                f"{k}: import {v['import']:.2f} s, calls {v['first calls']:.2f} s"
                for k, v in first.items()
            )
            + " (empty cache: numba compiles the kernels, as after a fresh "
            "install; cached: every later process)."
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


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("small", "large"), default="small")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, 3 runs, no memory measurement: checks that it runs",
    )
    parser.add_argument("--only", help="comma-separated estimator names")
    parser.add_argument(
        "--data", help="comma-separated data sets: " + ", ".join(DATASETS)
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
        default=20.0,
        help="seconds a scikit-learn call may take in all; it runs as many times "
        "as fit, at least once (default 20)",
    )
    parser.add_argument(
        "--slow",
        type=float,
        default=10.0,
        help=f"a sknorm call whose untimed first run takes longer than this "
        f"(seconds) runs {SLOW_REPEAT} times, not --repeat (default 10)",
    )
    parser.add_argument(
        "--too-slow",
        type=float,
        default=20.0,
        help="when scikit-learn's fit takes longer than this (seconds), its "
        "fit_transform is not timed: its fit time is shown as a lower bound",
    )
    parser.add_argument(
        "--allocator",
        choices=("warm", "system"),
        default="warm",
        help="warm: no timed call pays page faults (default); system: every "
        "timed call first touches fresh memory",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument("--json", help="also write every figure to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--memory-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.only = set(args.only.split(",")) if args.only else None
    if args.only:
        unknown = args.only - set(sknorm_estimators(None)) - set(NONLINEAR)
        if unknown:
            parser.error(f"unknown estimator(s): {', '.join(sorted(unknown))}")
    args.data = args.data.split(",") if args.data else list(DATASETS)
    for dataset in args.data:
        if dataset not in DATASETS:
            parser.error(f"unknown data set {dataset!r}; choose from {DATASETS}")
    args.sections = args.sections.split(",") if args.sections else list(SECTIONS)
    for section in args.sections:
        if section not in SECTIONS:
            parser.error(f"unknown section {section!r}; choose from {SECTIONS}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.quick:
        args.size, args.repeat = "quick", min(args.repeat, 3)
        args.no_memory = True
    args.memory = not args.no_memory
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse(argv)
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    if args.memory_worker:
        directory, dataset = args.memory_worker
        print(json.dumps(measure_memory(directory, dataset, args.only)))
        return
    if args.allocator == "warm":
        reexec_with_warm_allocator(argv)

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    cores = usable_cores()
    started = time.perf_counter()
    load_start = load_average()
    touch = None
    if args.allocator == "system":
        touch_bytes = [0]
        touch = lambda: touch_fresh(touch_bytes[0])  # noqa: E731
    timer = Timer(args.repeat, args.budget, args.slow, touch)
    report = {"datasets": {}}
    section_s = {}

    def timed(label, function, *arguments):
        begin = time.perf_counter()
        result = function(*arguments)
        section_s[label] = time.perf_counter() - begin
        gc.collect()
        return result

    if "datasets" in args.sections:
        for dataset in args.data:
            if touch is not None:
                touch_bytes[0] = n_bytes(make_dataset(dataset, args.size))
            report["datasets"][dataset] = timed(
                dataset, run_dataset, dataset, args, timer, log
            )
    if "nonlinear" in args.sections and (
        args.only is None or set(NONLINEAR) & args.only
    ):
        report["nonlinear"] = timed("nonlinear", run_nonlinear, args, timer, log)
    if "embedding" in args.sections and (
        args.only is None or "EmbeddingNormalizer" in args.only
    ):
        if touch is not None:
            touch_bytes[0] = 4 * np.prod(SIZES[args.size]["embedding"])
        report["embedding"] = timed("embedding", run_embedding, args, timer, log)
    if "per-call" in args.sections:
        report["per-call"] = timed("per-call", run_per_call, args, log)
    if "threads" in args.sections:
        found = timed("threads", run_threads, args, log)
        if found is not None:
            report["threads"] = found
    if "first-call" in args.sections and not args.quick:
        found = timed("first-call", run_first_call, log)
        if found is not None:
            report["first-call"] = found
    report["meta"] = {
        "size": args.size,
        "repeat": args.repeat,
        "budget": args.budget,
        "allocator": (
            "warm (MALLOC_MMAP_MAX_=0, freed memory kept)"
            if warm_allocator_active()
            else "system"
            + (
                ", fresh memory touched before each timed call"
                if touch is not None
                else ""
            )
        ),
        "machine": machine(cores),
        "cores": cores,
        "versions": versions(),
        "load_start": load_start,
        "load_end": load_average(),
        "total_s": time.perf_counter() - started,
        "section_s": section_s,
    }
    report["targets"] = targets(report, cores)
    print(render(report, args.markdown))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1, default=str)


if __name__ == "__main__":
    main()
