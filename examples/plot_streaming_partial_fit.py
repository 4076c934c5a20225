"""
Streaming ``partial_fit`` with a quantile sketch
================================================

Exact quantiles need all the data at once. ``RobustScaler.partial_fit``
streams instead: each batch updates a mergeable quantile sketch (KLL) of each
feature, of bounded size, from which ``center_`` and ``scale_`` are
recomputed after every batch. This example streams 200,000 rows of skewed,
heavy-tailed and drifting features in 40 batches and compares the streamed
quantiles with the exact ones of all the rows seen so far.
"""

# %%
# A stream of batches
# -------------------
import matplotlib.pyplot as plt
import numpy as np

from sknorm import RobustScaler

rng = np.random.default_rng(0)
n_batches, batch_rows = 40, 5_000


def batch(b):
    drift = b / n_batches  # the third feature's location moves
    return np.column_stack(
        [
            rng.lognormal(size=batch_rows),
            rng.standard_cauchy(size=batch_rows),
            rng.normal(loc=5 * drift, size=batch_rows),
        ]
    )


streamed = RobustScaler()
seen, rank_errors = [], []
for b in range(n_batches):
    X = batch(b)
    streamed.partial_fit(X)
    seen.append(X)
    everything = np.vstack(seen)
    # The normalized rank of the streamed median among all the values seen:
    # 0.5 for an exact median.
    rank = (everything < streamed.center_).mean(axis=0)
    rank_errors.append(np.abs(rank - 0.5))
rank_errors = np.array(rank_errors)

# %%
# Against the exact fit
# ---------------------
exact = RobustScaler().fit(everything)
print("rows seen:", len(everything))
for name, j in zip(["lognormal", "Cauchy", "drifting normal"], range(3), strict=True):
    print(
        f"{name:16s} center_ streamed {streamed.center_[j]: .4f} exact "
        f"{exact.center_[j]: .4f} | scale_ streamed {streamed.scale_[j]:.4f} "
        f"exact {exact.scale_[j]:.4f}"
    )
sketch = streamed._statistics_state["QuantileSketch"]
held = sketch["values"].nbytes + sketch["weights"].nbytes
print(f"sketch: {held / 1e3:.0f} kB for {everything.nbytes / 1e6:.1f} MB of data")

# %%
# The rank error of the streamed median, batch after batch
# --------------------------------------------------------
# The sketch's error is random, below 1% of the rank at its default size
# (``k=320``); it does not grow with the number of batches.
fig, ax = plt.subplots(figsize=(6, 3))
for j, name in enumerate(["lognormal", "Cauchy", "drifting normal"]):
    ax.plot(np.arange(1, n_batches + 1), 100 * rank_errors[:, j], label=name)
ax.axhline(1.0, color="grey", linestyle="--", label="1%")
ax.set_xlabel("batches seen")
ax.set_ylabel("rank error of center_ (%)")
ax.legend()
fig.tight_layout()
