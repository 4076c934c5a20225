"""Dask fit benchmark: a Parquet dataset larger than the workers' memory.

    python benchmarks/dask_scaling.py             # 2 GB of data, 2 x 256 MB workers
    python benchmarks/dask_scaling.py --large     # 8 GB of data, 2 x 1 GB workers
    python benchmarks/dask_scaling.py --gb 1 --worker-memory 512MB

Writes a float64 Parquet dataset (``--path``, reused when present with the same
size; ``--cleanup`` deletes it afterwards), starts a ``distributed.LocalCluster``
on 127.0.0.1 with memory-limited worker processes, and times, on the same data
and cluster:

- ``ddf.sum()``: one read of the dataset (the I/O and decoding floor: the
  reference every fit is divided by),
- sknorm's ``StandardScaler``, ``MinMaxScaler``, ``RobustScaler`` (quantile
  sketch, and ``dask_quantiles="exact"``) and ``EmbeddingNormalizer`` fits
  (statistics per partition, merged in a tree on the cluster; the embedding
  normalizer on the rows without NaN),
- dask-ml's ``StandardScaler``, ``MinMaxScaler`` and ``RobustScaler`` fits, if
  dask-ml imports (otherwise the reason is printed) and where they run (a
  failure is printed with its error).

Throughput is the in-memory size of the data (rows x columns x 8 bytes) divided
by the time. Peak worker memory is the largest resident set size of any worker
process, sampled every 50 ms during the call. "passes" counts sknorm's reads of
the dataset. Run from the repository root with sknorm importable (installed, or
``PYTHONPATH=.``); for the dask-ml rows, run it with a Python that also has
dask-ml (for example a virtual environment made with
``--system-site-packages`` and ``pip install dask-ml``).
"""

import argparse
import importlib
import os
import shutil
import threading
import time

import numpy as np
import pandas as pd

N_COLUMNS = 16
ROWS_PER_FILE = 250_000  # 32 MB per file in memory: a partition per file


def write_dataset(path, gigabytes, seed=0):
    """Write the dataset (or reuse it) and return its number of rows."""
    n_files = max(1, round(gigabytes * 1e9 / (ROWS_PER_FILE * N_COLUMNS * 8)))
    marker = os.path.join(path, f"_complete_{n_files}")
    if os.path.exists(marker):
        return n_files * ROWS_PER_FILE
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    rng = np.random.default_rng(seed)
    columns = [f"x{i}" for i in range(N_COLUMNS)]
    scales = np.geomspace(1e-3, 1e3, N_COLUMNS)
    for index in range(n_files):
        values = rng.standard_normal((ROWS_PER_FILE, N_COLUMNS)) * scales + index
        values[rng.random(ROWS_PER_FILE) < 0.01, 0] = np.nan
        frame = pd.DataFrame(values, columns=columns)
        frame.to_parquet(os.path.join(path, f"part-{index:05d}.parquet"), index=False)
    open(marker, "w").close()
    return n_files * ROWS_PER_FILE


def _worker_rss():
    import psutil

    return psutil.Process().memory_info().rss


class PeakWorkerMemory:
    """Largest worker RSS seen while the block runs (sampled every 50 ms)."""

    def __init__(self, client):
        self.client = client

    def __enter__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            try:
                rss = self.client.run(_worker_rss)
                self.peak = max(self.peak, *rss.values())
            except Exception:  # a worker restarting: sample again
                pass
            self._stop.wait(0.05)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def measure(client, label, run, nbytes, reference=None, passes=None):
    """Time ``run()``; print time, throughput, peak worker RSS, ratio to the
    reference and passes over the data. Returns the time (None on failure)."""
    counted = [] if passes is None else passes
    counted.clear()
    with PeakWorkerMemory(client) as memory:
        start = time.perf_counter()
        try:
            run()
        except Exception as error:  # report, do not hide, a failing competitor
            message = " ".join(str(error).split())
            print(f"{label:<36} failed: {type(error).__name__}: {message}"[:300])
            return None
        seconds = time.perf_counter() - start
    ratio = "" if reference is None else f"{seconds / reference:8.2f}"
    reads = f"{len(counted):7d}" if passes is not None else ""
    print(
        f"{label:<36} {seconds:8.2f} s {nbytes / seconds / 1e9:8.3f} GB/s "
        f"{memory.peak / 2**20:8.0f} MB {ratio:>8} {reads}",
        flush=True,
    )
    return seconds


def count_passes():
    """Record each of sknorm's tree-reduced passes over the data in a list."""
    import sknorm._dask

    passes = []
    reduce_blocks = sknorm._dask._reduce_blocks

    def counting(function, *args):
        passes.append(function.__name__)
        return reduce_blocks(function, *args)

    sknorm._dask._reduce_blocks = counting
    return passes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=2.0, help="dataset size (GB)")
    parser.add_argument("--worker-memory", default="256MB")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--large", action="store_true", help="8 GB, 1 GB workers")
    parser.add_argument("--path", default="/tmp/sknorm_dask_bench")
    parser.add_argument("--cleanup", action="store_true", help="delete the data")
    args = parser.parse_args()
    if args.large:
        args.gb, args.worker_memory = 8.0, "1GB"

    import dask
    import dask.dataframe as dd
    import distributed
    from dask.utils import parse_bytes
    from distributed import Client, LocalCluster

    import sknorm

    started = time.perf_counter()
    n_rows = write_dataset(args.path, args.gb)
    nbytes = n_rows * N_COLUMNS * 8
    on_disk = sum(entry.stat().st_size for entry in os.scandir(args.path))
    print(
        f"dataset written in {time.perf_counter() - started:.0f} s "
        f"({on_disk / 1e9:.2f} GB of Parquet on disk)"
    )
    total_memory = args.workers * parse_bytes(args.worker_memory)
    passes = count_passes()
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=args.worker_memory,
            protocol="tcp",
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        frame = dd.read_parquet(args.path)
        # Workers import sknorm and read some data before the clock starts.
        client.run(importlib.import_module, "sknorm")
        frame.partitions[: args.workers].sum().compute()
        idle = max(client.run(_worker_rss).values())
        print(
            f"dask {dask.__version__}, distributed {distributed.__version__}, "
            f"{os.cpu_count()} CPU(s)"
        )
        print(
            f"{nbytes / 1e9:.2f} GB ({n_rows:,} rows x {N_COLUMNS} float64 columns, "
            f"{frame.npartitions} partitions) on {args.workers} workers limited to "
            f"{args.worker_memory} each: data = {nbytes / total_memory:.1f} x the "
            f"workers' total memory (idle worker RSS {idle / 2**20:.0f} MB)"
        )
        print(
            f"{'':<36} {'time':>10} {'throughput':>13} {'peak RSS':>11} "
            f"{'/ sum':>8} {'passes':>7}"
        )
        reference = measure(
            client, "reference: ddf.sum()", lambda: frame.sum().compute(), nbytes
        )
        for label, estimator in [
            ("StandardScaler", sknorm.StandardScaler()),
            ("MinMaxScaler", sknorm.MinMaxScaler()),
            ("RobustScaler (sketch)", sknorm.RobustScaler()),
            ("RobustScaler (exact)", sknorm.RobustScaler(dask_quantiles="exact")),
            ("EmbeddingNormalizer", sknorm.EmbeddingNormalizer(whiten="pca")),
        ]:
            # Embeddings have no missing values: drop the rows holding NaN.
            data = frame.dropna() if "Embedding" in label else frame
            measure(
                client,
                f"sknorm {label}",
                lambda e=estimator, data=data: e.fit(data),
                nbytes,
                reference,
                passes,
            )
        try:
            import dask_ml
            import dask_ml.preprocessing
        except Exception as error:
            print(f"dask-ml not measured: {type(error).__name__}: {error}")
        else:
            print(f"dask-ml {dask_ml.__version__}")
            for name in ("StandardScaler", "MinMaxScaler", "RobustScaler"):
                scaler = getattr(dask_ml.preprocessing, name)()
                measure(
                    client,
                    f"dask-ml {name}",
                    lambda s=scaler: s.fit(frame),
                    nbytes,
                    reference,
                )
    if args.cleanup:
        shutil.rmtree(args.path)
        print(f"deleted {args.path}")


if __name__ == "__main__":
    main()
