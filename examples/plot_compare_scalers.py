"""
Compare the effect of the seven scalers on data with outliers
=============================================================

sknorm has every scaler of scikit-learn's preprocessing module: the linear
ones (``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
``RobustScaler``), the non-linear ones (``PowerTransformer``,
``QuantileTransformer``) and the row normalizer ``Normalizer``. This example
applies each to the same two skewed features with a few outliers, as
scikit-learn's guide to scaling does, and shows where the points land.

The linear scalers keep the shape of the data: the outliers still squeeze the
bulk of the points into a corner, more or less depending on how the scale is
measured (the range, the standard deviation or the interquartile range). The
power transform makes each feature closer to a normal distribution; the
quantile transform maps each feature through its own quantiles, so the
outliers become ordinary points at the edge of the range. ``Normalizer`` scales
rows, not columns: every point lands on the unit circle.
"""

# %%
# Two skewed features with outliers
# ---------------------------------
# A lognormal "income" and a heavy-tailed "occupancy" whose largest values are
# a hundred times its median, with a target that depends on both.
import matplotlib.pyplot as plt
import numpy as np

import sknorm

rng = np.random.default_rng(0)
n = 2_000
income = rng.lognormal(mean=1.0, sigma=0.5, size=n)
occupancy = 1 + rng.pareto(a=2.5, size=n)
occupancy[rng.choice(n, 10, replace=False)] *= 60  # a few outliers
X = np.column_stack([income, occupancy])
target = np.log(income) - 0.3 * np.log(occupancy) + rng.normal(0, 0.1, n)
print(f"{n} rows; medians {np.median(X, axis=0).round(2)}, maxima {X.max(axis=0)}")

# %%
# The same data through each transformer
# --------------------------------------
# Every transformer is fitted on the data and transforms it; the quantile
# transform is exact (its quantiles are computed on all rows, not on a random
# subsample), so running this example again gives the same figure.
transformers = {
    "Unscaled": None,
    "StandardScaler": sknorm.StandardScaler(),
    "MinMaxScaler": sknorm.MinMaxScaler(),
    "MaxAbsScaler": sknorm.MaxAbsScaler(),
    "RobustScaler": sknorm.RobustScaler(quantile_range=(25, 75)),
    "PowerTransformer\n(Yeo-Johnson)": sknorm.PowerTransformer(method="yeo-johnson"),
    "PowerTransformer\n(Box-Cox)": sknorm.PowerTransformer(method="box-cox"),
    "QuantileTransformer\n(uniform)": sknorm.QuantileTransformer(
        output_distribution="uniform", n_quantiles=1000
    ),
    "QuantileTransformer\n(normal)": sknorm.QuantileTransformer(
        output_distribution="normal", n_quantiles=1000
    ),
    "Normalizer": sknorm.Normalizer(),
}
outputs = {
    name: X if transformer is None else transformer.fit_transform(X)
    for name, transformer in transformers.items()
}

fig, axes = plt.subplots(2, 5, figsize=(15, 6.5), layout="constrained")
for ax, (name, Z) in zip(axes.ravel(), outputs.items(), strict=True):
    points = ax.scatter(Z[:, 0], Z[:, 1], c=target, s=4, cmap="viridis")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("income", fontsize=8)
    ax.set_ylabel("occupancy", fontsize=8)
    ax.tick_params(labelsize=7)
fig.colorbar(points, ax=axes, shrink=0.6, label="target")
fig.suptitle("Two skewed features with outliers, through each transformer")
plt.show()

# %%
# Where the bulk of the data lies
# -------------------------------
# The share of the output range that holds the middle 90% of each feature's
# values: close to 0 when the outliers squeeze the data, 0.9 for the uniform
# quantile transform (its output is the rank), in between for the others.
print(f"{'':32s} {'income':>8s} {'occupancy':>10s}")
for name, Z in outputs.items():
    low, high = np.percentile(Z, [5, 95], axis=0)
    share = (high - low) / (Z.max(axis=0) - Z.min(axis=0))
    label = name.replace("\n", " ")
    print(f"{label:32s} {share[0]:8.2f} {share[1]:10.2f}")
