"""RobustScaler benchmark: sknorm against scikit-learn and memory bandwidth.

    python benchmarks/robust_scaler.py                # small, about 30 s
    python benchmarks/robust_scaler.py --size large   # 1e6 x 100, 1e6 x 1e4 CSR

Prints four tables:

1. ``fit`` on dense float64 (and float32) data: sknorm's time, scikit-learn's
   ``RobustScaler.fit``, the speed-up, and two references measured in the same
   run on the same array: ``X.sum()`` (one read of the data: the memory-bandwidth
   floor) and ``np.partition(X, n // 2, axis=0)`` (numpy's own selection along
   columns, one kth).
2. ``fit`` on CSR data at 0.1% density with ``with_centering=False`` (scikit-learn
   cannot center sparse data).
3. ``partial_fit`` throughput (the streaming sketch), in chunks.
4. The sketch's accuracy: worst normalized rank error over the levels .01, .25,
   .5, .75 and .99, for hard distributions fed in 100 chunks, against the
   documented 1% and the sketch's own deterministic ``rank_error_bound()``.

Times are the best of ``--repeat`` runs (scikit-learn: of two, one for the
large sparse case). On a shared machine timings vary from run to run; the best
of several runs is the least disturbed. Run from the repository root with
sknorm importable (installed, or ``PYTHONPATH=.``).

Peak extra memory is measured separately (not timed) with ``tracemalloc``: the
peak of the allocations made during the call, above what was allocated before
it. numpy and scipy report their array buffers to tracemalloc, from every
thread, so this counts the temporary copies, the thread buffers and the fitted
state; it does not count the input itself.
"""

import argparse
import gc
import time
import tracemalloc

import numpy as np
from scipy import sparse
from sklearn.preprocessing import RobustScaler as SklearnRobustScaler

from sknorm import RobustScaler
from sknorm.stats import QuantileSketch
from sknorm.stats import sketch as sketch_module

SIZES = {
    "small": {"dense": (200_000, 50), "sparse": (200_000, 2_000), "sketch": 100_000},
    "large": {
        "dense": (1_000_000, 100),
        "sparse": (1_000_000, 10_000),
        "sketch": 1_000_000,
    },
}
DENSITY = 0.001
LEVELS = np.array([0.01, 0.25, 0.5, 0.75, 0.99])


def best_time(function, repeat):
    """Best wall time of ``repeat`` calls, and the last call's result."""
    best = np.inf
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def peak_extra_mb(function):
    gc.collect()
    tracemalloc.start()
    try:
        function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20


def table(title, header, rows):
    widths = [
        max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)
    ]
    line = "  ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True))
    print(f"\n{title}\n{'-' * len(line)}\n{line}")
    for row in rows:
        print("  ".join(f"{x:>{w}}" for x, w in zip(row, widths, strict=True)))


def dense_row(X, repeat, sklearn_repeat):
    n_rows, n_cols = X.shape
    ours, _ = best_time(lambda: RobustScaler().fit(X), repeat)
    theirs, _ = best_time(lambda: SklearnRobustScaler().fit(X), sklearn_repeat)
    read, _ = best_time(lambda: X.sum(), max(repeat, 3))
    select, _ = best_time(lambda: np.partition(X, n_rows // 2, axis=0), 1)
    return [
        f"{n_rows:.0e} x {n_cols} {X.dtype.name}",
        f"{ours:.3f}",
        f"{theirs:.3f}",
        f"{theirs / ours:.1f}x",
        f"{read:.3f}",
        f"{ours / read:.1f}",
        f"{select:.3f}",
        f"{X.nbytes / 2**20:.0f}",
        f"{peak_extra_mb(lambda: RobustScaler().fit(X)):.0f}",
        f"{peak_extra_mb(lambda: SklearnRobustScaler().fit(X)):.0f}",
    ]


def dense_rows(n_rows, n_cols, repeat, sklearn_repeat):
    X = np.random.default_rng(0).lognormal(sigma=1.5, size=(n_rows, n_cols))
    rows = [dense_row(X, repeat, sklearn_repeat)]
    rows.append(dense_row(X.astype(np.float32), repeat, sklearn_repeat))
    return rows


def random_csr(n_rows, n_cols, seed=0):
    rng = np.random.default_rng(seed)
    nnz = int(n_rows * n_cols * DENSITY)
    rows = rng.integers(0, n_rows, nnz)
    cols = rng.integers(0, n_cols, nnz)
    values = rng.lognormal(size=nnz) * rng.choice([-1.0, 1.0], size=nnz)
    return sparse.csr_array((values, (rows, cols)), shape=(n_rows, n_cols))


def sparse_rows(n_rows, n_cols, repeat, sklearn_repeat):
    X = random_csr(n_rows, n_cols)
    ours, ours_fitted = best_time(
        lambda: RobustScaler(with_centering=False).fit(X), repeat
    )
    theirs, theirs_fitted = best_time(
        lambda: SklearnRobustScaler(with_centering=False).fit(X),
        1 if X.shape[0] * X.shape[1] > 10**9 else sklearn_repeat,
    )
    ours_mb = peak_extra_mb(lambda: RobustScaler(with_centering=False).fit(X))
    theirs_mb = peak_extra_mb(lambda: SklearnRobustScaler(with_centering=False).fit(X))
    data_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    same = np.array_equal(ours_fitted.scale_, theirs_fitted.scale_)
    return [
        [
            f"{n_rows:.0e} x {n_cols:.0e} CSR, nnz {X.nnz:.1e}",
            f"{ours:.3f}",
            f"{theirs:.3f}",
            f"{theirs / ours:.0f}x",
            f"{data_mb:.0f}",
            f"{ours_mb:.0f}",
            f"{theirs_mb:.0f}",
            "yes" if same else "NO",
        ]
    ]


def streaming_rows(n_rows, n_cols, repeat):
    X = np.random.default_rng(1).lognormal(size=(n_rows, n_cols))
    chunks = np.array_split(X, 10)

    def stream():
        scaler = RobustScaler()
        for chunk in chunks:
            scaler.partial_fit(chunk)

    streamed, _ = best_time(stream, repeat)
    fitted, _ = best_time(lambda: RobustScaler().fit(X), repeat)
    return [
        [
            f"{n_rows:.0e} x {n_cols}, 10 chunks",
            f"{streamed:.3f}",
            f"{X.size / streamed / 1e6:.0f}",
            f"{fitted:.3f}",
        ]
    ]


def hard_columns(n, seed=0):
    rng = np.random.default_rng(seed)
    ties = rng.normal(size=n)
    ties[rng.random(n) < 0.3] = 1.0
    return {
        "lognormal": rng.lognormal(sigma=2, size=n),
        "Cauchy": rng.standard_cauchy(size=n),
        "Pareto(1.1)": rng.pareto(1.1, size=n),
        "30% ties": ties,
        "discrete": np.round(rng.normal(size=n) * 3),
        "sorted": np.sort(rng.normal(size=n)),
        "drifting": rng.normal(size=n) + np.linspace(0, 30, n),
    }


def rank_error(data, estimates):
    data = np.sort(data)
    below = np.searchsorted(data, estimates, side="left") / data.shape[0]
    at_or_below = np.searchsorted(data, estimates, side="right") / data.shape[0]
    return np.maximum(0.0, np.maximum(below - LEVELS, LEVELS - at_or_below)).max()


def sketch_rows(n):
    columns = hard_columns(n)
    X = np.column_stack(list(columns.values()))
    sketch = None
    for chunk in np.array_split(X, 100):
        part = QuantileSketch.from_data(chunk)
        sketch = part if sketch is None else sketch.merge(part)
    estimates = sketch.quantiles(LEVELS).values()
    bound = sketch.rank_error_bound()
    bytes_per_column = sketch.nbytes() / X.shape[1]
    return [
        [
            name,
            f"{rank_error(X[:, j], estimates[:, j]):.4f}",
            "0.0100",
            f"{bound[j]:.4f}",
            f"{sketch.column_sizes[j]}",
            f"{bytes_per_column / 1024:.1f}",
        ]
        for j, name in enumerate(columns)
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=SIZES, default="small")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = SIZES[args.size]
    sklearn_repeat = 2  # the sparse large case runs scikit-learn once (about 60 s)

    table(
        "Dense fit (times in s; memory in MiB, peak extra during fit)",
        [
            "data",
            "sknorm",
            "scikit-learn",
            "speed-up",
            "X.sum()",
            "sknorm/X.sum()",
            "np.partition axis=0",
            "X MiB",
            "sknorm MiB",
            "sklearn MiB",
        ],
        dense_rows(*size["dense"], args.repeat, sklearn_repeat),
    )
    table(
        "Sparse fit, with_centering=False (times in s; memory in MiB)",
        [
            "data",
            "sknorm",
            "scikit-learn",
            "speed-up",
            "X MiB",
            "sknorm MiB",
            "sklearn MiB",
            "same scale_",
        ],
        sparse_rows(*size["sparse"], args.repeat, sklearn_repeat),
    )
    n_rows, n_cols = size["dense"]
    table(
        "Streaming: partial_fit through the sketch (times in s)",
        ["data", "partial_fit", "Mvalues/s", "fit (exact)"],
        streaming_rows(n_rows, n_cols, args.repeat),
    )
    table(
        f"Sketch accuracy: {size['sketch']:.0e} values per column in 100 chunks, "
        f"k={sketch_module.DEFAULT_K}",
        [
            "distribution",
            "worst rank error",
            "documented",
            "rank_error_bound()",
            "items",
            "KiB/column",
        ],
        sketch_rows(size["sketch"]),
    )


if __name__ == "__main__":
    main()
