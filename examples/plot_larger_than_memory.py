"""
Fitting data larger than memory from Parquet files
==================================================

``fit`` takes a polars ``LazyFrame``, a pyarrow ``Dataset``, a DuckDB relation
or a Parquet path, and reads it in record batches on sknorm's threads: memory
holds a few batches, never the data. The batches' statistics are merged, so
the fitted scaler is the one an in-memory fit of all the rows gives, exact
quantiles included (in a second pass over the files). Here a small dataset of
Parquet files stands for one that would not fit; the stream fit is compared
with the in-memory fit, and the data is scaled lazily into a new Parquet file
without being loaded.
"""

# %%
# A dataset of Parquet files
# --------------------------
# Four files of 100,000 rows and six columns of different shapes, one with
# missing values (Parquet nulls). A real dataset would have many more rows:
# nothing below depends on its size.
import shutil
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import sknorm

directory = Path(tempfile.mkdtemp(prefix="sknorm-example-"))
rng = np.random.default_rng(0)
for part in range(4):
    n = 100_000
    score = rng.normal(0, 1, n)
    score[rng.random(n) < 0.02] = np.nan  # stored as nulls
    pl.DataFrame(
        {
            "income": rng.lognormal(10, 0.8, n),
            "age": rng.normal(45, 12, n).round(),
            "temperature": rng.normal(285, 8, n),
            "load": rng.uniform(0, 1, n) ** 3,
            "latency": rng.standard_t(3, n) * 5 + 40,
            "score": score,
        },
        nan_to_null=True,
    ).write_parquet(directory / f"part-{part}.parquet", row_group_size=25_000)
files = str(directory / "*.parquet")
print(sorted(p.name for p in directory.iterdir()))

# %%
# Fitting from the files
# ----------------------
# ``pl.scan_parquet`` reads nothing yet: it is a query. ``fit`` runs it with
# polars' streaming engine and merges the statistics of each batch.
standard = sknorm.StandardScaler().fit(pl.scan_parquet(files))
print("columns:", list(standard.feature_names_in_))
print("mean_:", np.round(standard.mean_, 3))

# A path or a glob is read with pyarrow. RobustScaler's quantiles are exact:
# a first pass brackets them with a quantile sketch, a second one selects
# them among the few values inside the brackets.
robust = sknorm.RobustScaler().fit(files)
print("quantile_method_:", robust.quantile_method_)

# One pass only, with the quantile sketch of ``partial_fit``:
sketched = sknorm.RobustScaler().fit(sknorm.scan(files, exact=False))
print("quantile_method_:", sketched.quantile_method_)

# %%
# The same as the in-memory fit
# -----------------------------
# Loaded whole (possible here only because the example is small), the data
# gives the same statistics: moments up to rounding, quantiles bit for bit
# where exact.
X = pl.read_parquet(files).to_numpy()  # nulls become NaN
in_memory = sknorm.StandardScaler().fit(X)
robust_in_memory = sknorm.RobustScaler().fit(X)
print(
    "StandardScaler, largest relative difference of mean_ and var_:",
    np.max(np.abs(standard.mean_ / in_memory.mean_ - 1)),
    np.max(np.abs(standard.var_ / in_memory.var_ - 1)),
)
print(
    "RobustScaler exact: center_ and scale_ identical:",
    np.array_equal(robust.center_, robust_in_memory.center_)
    and np.array_equal(robust.scale_, robust_in_memory.scale_),
)
# The sketch's median is off by a small fraction of the interquartile range.
print(
    "RobustScaler sketch: largest error of center_, in IQRs:",
    np.max(np.abs(sketched.center_ - robust_in_memory.center_) / robust.scale_),
)

# %%
# Scaling lazily into a new file
# ------------------------------
# ``transform`` of a ``LazyFrame`` is a ``LazyFrame``: the fitted numbers
# become column expressions, and ``sink_parquet`` streams the scaled rows to
# disk, batch by batch, without collecting them.
scaled = robust.transform(pl.scan_parquet(files))
print(type(scaled).__name__)
scaled.sink_parquet(directory / "scaled.parquet")
result = pl.read_parquet(directory / "scaled.parquet")
print(result.shape)

# %%
# Medians and interquartile ranges, before and after
# --------------------------------------------------
# After ``RobustScaler`` every column has median 0 and interquartile range 1,
# whatever its units and its tails (nulls stay missing).
names = list(robust.feature_names_in_)
after = result.select(names).to_numpy()
q_before = np.nanquantile(X, [0.25, 0.5, 0.75], axis=0)
q_after = np.nanquantile(after, [0.25, 0.5, 0.75], axis=0)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, q, title in ((axes[0], q_before, "before"), (axes[1], q_after, "after")):
    positions = np.arange(len(names))
    ax.bar(positions, q[2] - q[0], bottom=q[0], color="tab:blue", alpha=0.5)
    ax.scatter(positions, q[1], color="black", zorder=3, label="median")
    ax.set_xticks(positions, names, rotation=45, ha="right")
    ax.set_title(f"{title}: median and interquartile range")
axes[0].set_yscale("symlog")
axes[0].legend()
fig.tight_layout()

# %%
shutil.rmtree(directory)
