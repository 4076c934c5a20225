"""
Fitting on a Dask cluster
=========================

Every column scaler's statistics are mergeable: on a dask array or DataFrame,
``fit`` computes them per partition on the workers and merges them in a tree,
in one pass over the data, and ``transform`` returns a lazy dask result. Here
a local cluster of two workers fits a ``StandardScaler`` and a
``RobustScaler`` on a dask array, and the results are compared with the
in-memory fit.
"""

# %%
# A local cluster and a dask array
# --------------------------------
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from sknorm import RobustScaler, StandardScaler

cluster = LocalCluster(
    n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
)
client = Client(cluster)
# Made on the workers, partition by partition (a real fit would read files).
chunks = da.exp(da.random.default_rng(0).normal(size=(200_000, 8), chunks=(25_000, 8)))
X = chunks.compute()  # in memory too, for the comparison
print(f"{chunks.numblocks[0]} partitions of {chunks.chunks[0][0]} rows")

# %%
# Mergeable statistics: the same as in memory
# -------------------------------------------
on_dask = StandardScaler().fit(chunks)
in_memory = StandardScaler().fit(X)
print(
    "StandardScaler, largest difference of mean_:",
    np.abs(on_dask.mean_ - in_memory.mean_).max(),
)
print(
    "StandardScaler, largest relative difference of scale_:",
    np.abs(on_dask.scale_ / in_memory.scale_ - 1).max(),
)

# %%
# Quantiles: one pass with the sketch, or exact in a few passes
# -------------------------------------------------------------
sketched = RobustScaler().fit(chunks)  # dask_quantiles="sketch"
exact = RobustScaler(dask_quantiles="exact").fit(chunks)
reference = RobustScaler().fit(X)
print(
    "sketch: largest relative error of center_:",
    np.abs(sketched.center_ / reference.center_ - 1).max(),
)
print(
    "exact:  largest difference of center_:",
    np.abs(exact.center_ - reference.center_).max(),
)

# %%
# A lazy transform
# ----------------
scaled = on_dask.transform(chunks)
print(
    type(scaled).__name__,
    scaled.shape,
    "mean of column 0:",
    float(scaled[:, 0].mean().compute()),
)
client.close()
cluster.close()
