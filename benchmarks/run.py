"""sknorm's benchmark suite: every estimator against scikit-learn and memory bandwidth.

    python benchmarks/run.py                     # small sizes, about two minutes
    python benchmarks/run.py --size large        # 1e6 x 100 dense, 1e6 x 1e4 CSR
    python benchmarks/run.py --only StandardScaler,MinMaxScaler --markdown

Run from the repository root with sknorm importable (installed, or
``PYTHONPATH=.``). In one run, for every estimator in ``sknorm.__all__`` and each
of its methods (``fit``, ``partial_fit`` over 10 row chunks, ``transform``,
``transform`` with ``copy=False``, ``fit_transform``, ``inverse_transform``) on
four data sets (dense float64, dense float32, CSR at 0.1% density and a wide
dense matrix), it measures

* sknorm's time and its scikit-learn counterpart's (table ``COUNTERPARTS``), and
  their ratio ``sknorm / sklearn`` (below 1: sknorm is faster);
* reference streams on the same data, the memory-bandwidth floor of a streaming
  operation: one read (``X.sum()``), a copy, and numpy's affine map ``(X - a) *
  b`` into a fresh array and into a preallocated one; the ratio ``sknorm / ref``
  compares each method with the stream it must at least perform: a read for
  ``fit`` and ``partial_fit``, a fresh affine map for ``transform`` and
  ``inverse_transform``, the preallocated one for ``transform`` with
  ``copy=False``, a read plus a fresh affine map for ``fit_transform``;
* the peak extra memory of each sknorm call, as a multiple of the input's size.

Times are the best of ``--repeat`` runs (a call slower than ``--slow`` seconds
is run once): on a shared machine the best run is the least disturbed one. The
load average at the start and end of the run is printed with the results. When
scikit-learn's ``fit`` takes more than ``--too-slow`` seconds, its
``fit_transform`` is not timed: its ``fit`` time is shown as a lower bound
(``>``).

Peak extra memory is measured with ``tracemalloc`` in a fresh subprocess per
data set (its bookkeeping would slow the timed runs): the peak of the memory
allocated during the call, above what was allocated before it. numpy and scipy
report their array buffers to tracemalloc from every thread, so this counts the
result, temporary copies and the kernels' per-thread buffers; it does not count
the input, nor memory that compiled code allocates without numpy.

The output is a set of reStructuredText simple tables (the format of
``docs/performance.rst``); ``--markdown`` prints Markdown tables instead.
"""

import argparse
import gc
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
import scipy
import sklearn
from scipy import sparse
from sklearn import preprocessing as skp
from sklearn.base import BaseEstimator, clone

import sknorm

SIZES = {
    "small": {
        "dense": (100_000, 100),
        "csr": (200_000, 2_000),
        "wide": (1_000, 5_000),
    },
    "large": {
        "dense": (1_000_000, 100),
        "csr": (1_000_000, 10_000),
        "wide": (10_000, 10_000),
    },
}
#: Density of the CSR matrix (0.1%: 10 stored values per row of 10,000).
CSR_DENSITY = 0.001
DATASETS = ("dense float64", "dense float32", "CSR", "wide")
PARTIAL_FIT_CHUNKS = 10
METHODS = (
    "fit",
    "partial_fit",
    "transform",
    "transform copy=False",
    "fit_transform",
    "inverse_transform",
)

# The scikit-learn counterpart of each sknorm estimator (None: there is none),
# and the methods in which the two do the same work.
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

# What each method is compared with among the reference streams.
REFERENCE_OF = {
    "fit": ("read",),
    "partial_fit": ("read",),
    "transform": ("affine",),
    "inverse_transform": ("affine",),
    "transform copy=False": ("affine prealloc",),
    "fit_transform": ("read", "affine"),
}


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


def n_bytes(X):
    if sparse.issparse(X):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


def describe(X):
    kind = "CSR" if sparse.issparse(X) else "dense"
    dtype = X.dtype.name
    density = ""
    if kind == "CSR":
        density = f", {X.nnz:,} stored ({X.nnz / np.prod(X.shape):.1%})"
    return (
        f"{kind} {dtype} {X.shape[0]:,} x {X.shape[1]:,}{density}, "
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


# ---------------------------------------------------------------------------
# Estimators and calls
# ---------------------------------------------------------------------------


def sknorm_estimators(only):
    """``{name: class}`` of the estimators exported by sknorm."""
    found = {}
    for name in sknorm.__all__:
        obj = getattr(sknorm, name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
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
    """``{method: (setup, call)}``: ``setup()`` (untimed) returns the arguments
    of ``call`` (timed). Methods the estimator lacks are left out."""
    fitted = clone(estimator).fit(X)
    found = {
        "fit": (lambda: (clone(estimator),), lambda e: e.fit(X)),
        "fit_transform": (lambda: (clone(estimator),), lambda e: e.fit_transform(X)),
        "transform": (lambda: (), lambda: fitted.transform(X)),
    }
    if hasattr(estimator, "partial_fit"):

        def partial_fit(e):
            for chunk in chunks:
                e.partial_fit(chunk)

        found["partial_fit"] = (lambda: (clone(estimator),), partial_fit)
    if "copy" in estimator.get_params():
        in_place = clone(estimator).set_params(copy=False).fit(X)
        scratch = X.copy()  # transformed in place again and again: stays finite
        found["transform copy=False"] = (
            lambda: (),
            lambda: in_place.transform(scratch),
        )
    if hasattr(fitted, "inverse_transform"):
        found["inverse_transform"] = (lambda: (), lambda: fitted.inverse_transform(X))
    return found


def best_time(setup, call, repeat, slow):
    best = np.inf
    for _ in range(repeat):
        arguments = setup()
        gc.collect()
        start = time.perf_counter()
        call(*arguments)
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        if elapsed > slow:
            break
    return best


def reference_streams(X, repeat):
    """Times of the memory-bandwidth references on X."""
    n_cols = X.shape[1]
    rng = np.random.default_rng(1)
    dtype = np.float64 if sparse.issparse(X) else X.dtype
    offset = rng.normal(size=n_cols).astype(dtype)
    factor = rng.uniform(0.5, 2, n_cols).astype(dtype)
    if sparse.issparse(X):
        buffer = np.empty_like(X.data)

        def affine():
            Y = X.copy()
            np.multiply(Y.data, factor[Y.indices], out=Y.data)
            return Y

        streams = {
            "read": lambda: X.data.sum(),
            "copy": X.copy,
            "affine": affine,
            "affine prealloc": lambda: np.multiply(
                X.data, factor[X.indices], out=buffer
            ),
        }
    else:
        buffer = np.empty_like(X)

        def prealloc():
            np.subtract(X, offset, out=buffer)
            np.multiply(buffer, factor, out=buffer)

        streams = {
            "read": X.sum,
            "copy": X.copy,
            "affine": lambda: (X - offset) * factor,
            "affine prealloc": prealloc,
        }
    return {
        name: best_time(tuple, stream, repeat, np.inf)
        for name, stream in streams.items()
    }


def chunks_of(X):
    bounds = np.linspace(0, X.shape[0], PARTIAL_FIT_CHUNKS + 1).astype(int)
    return [X[a:b] for a, b in itertools.pairwise(bounds)]


def why_not(estimator, X):
    """None when the estimator fits X, else the first line of its error."""
    try:
        clone(estimator).fit(X[: min(1000, X.shape[0])])
    except (TypeError, ValueError) as error:
        return str(error).split(". ")[0]
    return None


# ---------------------------------------------------------------------------
# Memory (subprocess)
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
        for method, (setup, call) in calls(ours, X, chunks).items():
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
# Tables
# ---------------------------------------------------------------------------


def format_table(header, rows, markdown):
    widths = [
        max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)
    ]

    def line(cells):
        if markdown:
            return (
                "| "
                + " | ".join(
                    str(c).ljust(w) for c, w in zip(cells, widths, strict=True)
                )
                + " |"
            )
        return "  ".join(
            str(c).ljust(w) for c, w in zip(cells, widths, strict=True)
        ).rstrip()

    if markdown:
        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        return "\n".join([line(header), rule, *map(line, rows)])
    rule = "  ".join("=" * w for w in widths)
    return "\n".join([rule, line(header), rule, *map(line, rows), rule])


def seconds(value):
    if value is None:
        return "—"
    return f"{value:.3f}" if value >= 0.01 else f"{value:.4f}"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "—"
    return f"{a / b:.2f}"


def machine_description():
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    from sknorm._parallel import n_threads

    return (
        f"{model}, {cores} cores{memory}; sknorm threads: {n_threads()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
        f"sknorm {sknorm.__version__}"
    )


def load_average():
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


COLUMN_SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


def target_report(results, references):
    """sknorm's performance targets, each judged on ratios from this run.

    Where a target covers several estimators, the worst of them is shown.
    """
    lines = []

    def ratios(datasets, names, method, of):
        found = []
        for dataset in datasets:
            for name in names:
                entry = results.get((dataset, name, method))
                if entry is not None:
                    value = of(entry, references.get(dataset, {}))
                    if value is not None:
                        found.append((value, f"{name}, {dataset}"))
        return found

    def check(label, found, limit, better="below"):
        if not found:
            return
        worst = max(found) if better == "below" else min(found)
        met = all(v <= limit if better == "below" else v >= limit for v, _ in found)
        sign = "<=" if better == "below" else ">="
        where = f"worst {worst[0]:.2f}: {worst[1]}" if len(found) > 1 else worst[1]
        lines.append(
            f"- [{'met' if met else 'NOT met'}] {label} {sign} {limit:g}: "
            f"{worst[0]:.2f} ({where}; {len(found)} case(s))"
        )

    def over(reference):
        def ratio_to(entry, refs):
            return entry["sknorm"] / refs[reference] if refs.get(reference) else None

        return ratio_to

    def speed_up(entry, refs):
        return entry["sklearn"] / entry["sknorm"] if entry.get("sklearn") else None

    def memory(entry, refs):
        return entry.get("memory")

    dense = ("dense float64", "dense float32", "wide")
    simple = COLUMN_SCALERS[:3]
    for dataset in dense:
        check(
            f"fit / read, {dataset}",
            ratios([dataset], simple, "fit", over("read")),
            2.0,
        )
    for dataset in (*dense, "CSR"):
        check(
            f"transform / fresh affine, {dataset}",
            ratios([dataset], COLUMN_SCALERS, "transform", over("affine")),
            1.3,
        )
        check(
            f"transform(copy=False) / preallocated affine, {dataset}",
            ratios(
                [dataset],
                COLUMN_SCALERS,
                "transform copy=False",
                over("affine prealloc"),
            ),
            1.3,
        )
    for dataset in dense[:2]:
        check(
            f"fit_transform speed-up over scikit-learn, {dataset}",
            ratios([dataset], COLUMN_SCALERS, "fit_transform", speed_up),
            3.0,
            better="above",
        )
    for datasets, limit in ((dense[:2], 10.0), (("CSR",), 100.0)):
        check(
            f"RobustScaler.fit speed-up over scikit-learn, {', '.join(datasets)}",
            ratios(datasets, ["RobustScaler"], "fit", speed_up),
            limit,
            better="above",
        )
    check(
        "RobustScaler.fit peak extra memory / matrix, CSR",
        ratios(["CSR"], ["RobustScaler"], "fit", memory),
        2.0,
    )
    names = sorted({name for _, name, _ in results})
    check(
        "transform peak extra memory / input (one output array: 1)",
        ratios(DATASETS, names, "transform", memory),
        1.05,
    )
    check(
        "transform(copy=False) peak extra memory / input",
        ratios(DATASETS, names, "transform copy=False", memory),
        0.05,
    )
    return lines


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def run_dataset(dataset, size, only, repeat, slow, too_slow, with_memory, log):
    X = make_dataset(dataset, size)
    log(f"{dataset}: {describe(X)}")
    references = reference_streams(X, repeat)
    log(
        "  references: "
        + ", ".join(f"{k} {seconds(v)} s" for k, v in references.items())
    )
    memory = memory_in_subprocess(X, dataset, only) if with_memory else {}
    chunks = chunks_of(X)
    results = {}
    notes = []
    for name, cls in sknorm_estimators(only).items():
        if (name, dataset) in SKIPPED:
            notes.append(f"{name}: not run ({SKIPPED[name, dataset]}).")
            continue
        ours, theirs, shared = make_pair(name, cls, dataset)
        reason = why_not(ours, X)
        if reason is not None:
            notes.append(f"{name}: not run ({reason}).")
            continue
        if theirs is not None and why_not(theirs, X) is not None:
            theirs = None
        our_calls = calls(ours, X, chunks)
        their_calls = calls(theirs, X, chunks) if theirs is not None else {}
        for method in METHODS:
            if method not in our_calls:
                continue
            entry = {"sknorm": best_time(*our_calls[method], repeat, slow)}
            their_fit = results.get((dataset, name, "fit"), {}).get("sklearn")
            if method in their_calls and method in shared:
                if method == "fit_transform" and their_fit and their_fit > too_slow:
                    # At least as long as its fit: a lower bound, not timed.
                    entry["sklearn"], entry["sklearn_bound"] = their_fit, True
                else:
                    entry["sklearn"] = best_time(*their_calls[method], repeat, slow)
            reference = sum(references[r] for r in REFERENCE_OF[method])
            entry["reference"] = reference
            entry["memory"] = (
                memory[f"{name}|{method}"] / n_bytes(X)
                if f"{name}|{method}" in memory
                else None
            )
            results[dataset, name, method] = entry
            log(
                f"  {name}.{method}: {seconds(entry['sknorm'])} s, "
                f"scikit-learn {seconds(entry.get('sklearn'))} s"
            )
    return describe(X), references, results, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--only", help="comma-separated estimator names")
    parser.add_argument(
        "--data", help="comma-separated data sets: " + ", ".join(DATASETS)
    )
    parser.add_argument("--repeat", type=int, default=3, help="best of N (default 3)")
    parser.add_argument(
        "--slow",
        type=float,
        default=2.0,
        help="run a call once when it takes longer than this (seconds)",
    )
    parser.add_argument(
        "--too-slow",
        type=float,
        default=20.0,
        help="when scikit-learn's fit takes longer than this (seconds), its "
        "fit_transform is not timed: its fit time is shown as a lower bound",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip memory")
    parser.add_argument("--markdown", action="store_true", help="Markdown tables")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--memory-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    if args.memory_worker:
        directory, dataset = args.memory_worker
        print(json.dumps(measure_memory(directory, dataset, only)))
        return
    if only:
        unknown = only - set(sknorm_estimators(None))
        if unknown:
            parser.error(f"unknown estimator(s): {', '.join(sorted(unknown))}")
    datasets = args.data.split(",") if args.data else list(DATASETS)
    for dataset in datasets:
        if dataset not in DATASETS:
            parser.error(f"unknown data set {dataset!r}; choose from {DATASETS}")

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    load_before = load_average()
    results, references, sections = {}, {}, []
    for dataset in datasets:
        description, refs, found, notes = run_dataset(
            dataset,
            args.size,
            only,
            args.repeat,
            args.slow,
            args.too_slow,
            not args.no_memory,
            log,
        )
        gc.collect()
        references[dataset] = refs
        results.update(found)
        sections.append((dataset, description, refs, notes))

    out = []
    out.append(f"sknorm benchmark, size {args.size}, best of {args.repeat}")
    out.append("")
    out.append(f"Machine: {machine_description()}")
    out.append(
        f"Load average at start {load_before}, at end {load_average()}; "
        f"run took {time.perf_counter() - started:.0f} s."
    )
    header = (
        "estimator",
        "method",
        "sknorm s",
        "sklearn s",
        "sknorm/sklearn",
        "reference",
        "sknorm/ref",
        "memory/input",
    )
    for dataset, description, refs, notes in sections:
        out.append("")
        title = f"{dataset}: {description}"
        out.append(f"**{title}**" if args.markdown else title)
        out.append("-" * len(title) if not args.markdown else "")
        out.append(
            "Reference streams: "
            + ", ".join(f"{k} {seconds(v)} s" for k, v in refs.items())
            + "."
        )
        out.append("")
        rows = []
        for (d, name, method), entry in results.items():
            if d != dataset:
                continue
            memory = entry.get("memory")
            bound = entry.get("sklearn_bound", False)
            rows.append(
                (
                    name,
                    method,
                    seconds(entry["sknorm"]),
                    ">" * bound + seconds(entry.get("sklearn")),
                    "<" * bound + ratio(entry["sknorm"], entry.get("sklearn")),
                    " + ".join(REFERENCE_OF[method]),
                    ratio(entry["sknorm"], entry["reference"]),
                    "—" if memory is None else f"{memory:.2f}",
                )
            )
        if rows:
            out.append(format_table(header, rows, args.markdown))
        for note in notes:
            out.append("")
            out.append(note)
    targets = target_report(results, references)
    if targets:
        out.append("")
        out.append("Targets")
        out.append("-------" if not args.markdown else "")
        out.append("")
        out.extend(targets)
    print("\n".join(out))


if __name__ == "__main__":
    main()
