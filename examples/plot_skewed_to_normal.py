"""
Map skewed data to a normal distribution
========================================

Many models work best when features are roughly normal. sknorm has two
transformers that map a skewed feature towards a normal distribution:

* :class:`~sknorm.PowerTransformer` fits one parameter per feature, the
  Box-Cox (positive data) or Yeo-Johnson (any data) exponent ``lambda``, by
  maximum likelihood: a smooth, monotone map with one degree of freedom;
* :class:`~sknorm.QuantileTransformer` with ``output_distribution="normal"``
  maps each value through the feature's quantiles and the inverse normal
  distribution: any continuous feature becomes normal, at the cost of a
  non-parametric map (``n_quantiles`` knots) that flattens the tails.

This example applies both to six distributions, as scikit-learn's "Map data
to a normal distribution" does, and adds what sknorm does beyond it: fitting
the power transform in batches with ``partial_fit``.
"""

# %%
# Six distributions
# -----------------
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

import sknorm

rng = np.random.default_rng(304)
n = 2_000
distributions = {
    "Lognormal": rng.lognormal(size=n),
    "Chi-squared": rng.chisquare(df=3, size=n),
    "Weibull": rng.weibull(a=50, size=n),
    "Gaussian": rng.normal(loc=100, size=n),
    "Uniform": rng.uniform(low=0, high=1, size=n),
    "Bimodal": np.concatenate(
        [rng.normal(loc=-2, scale=0.5, size=n // 2), rng.normal(2, 0.5, n // 2)]
    ),
}

# %%
# Through Box-Cox, Yeo-Johnson and the quantile transform
# -------------------------------------------------------
# Box-Cox needs strictly positive data: on a feature with values of 0 or below
# it raises, naming the feature. The shifted copy below is positive.
maps = {
    "Box-Cox": sknorm.PowerTransformer(method="box-cox"),
    "Yeo-Johnson": sknorm.PowerTransformer(method="yeo-johnson"),
    "Quantile (normal)": sknorm.QuantileTransformer(
        output_distribution="normal", n_quantiles=500
    ),
}
fig, axes = plt.subplots(
    len(maps) + 1, len(distributions), figsize=(15, 9), layout="constrained"
)
print(f"{'':12s} {'skew':>6s} " + " ".join(f"{m:>18s}" for m in maps))
for j, (name, x) in enumerate(distributions.items()):
    column = x.reshape(-1, 1)
    positive = column - column.min() + 1 if column.min() <= 0 else column
    axes[0, j].hist(x, bins=50, color="0.4")
    axes[0, j].set_title(name, fontsize=10)
    row = [f"{name:12s} {stats.skew(x):6.2f}"]
    for i, (label, transformer) in enumerate(maps.items(), start=1):
        data = positive if label == "Box-Cox" else column
        z = transformer.fit_transform(data).ravel()
        axes[i, j].hist(z, bins=50, color=f"C{i}")
        axes[i, j].set_xlim(-4, 4)
        detail = ""
        if hasattr(transformer, "lambdas_"):
            detail = f"lambda {transformer.lambdas_[0]:.2f}, "
        axes[i, j].set_title(f"{label}\n{detail}skew {stats.skew(z):.2f}", fontsize=8)
        row.append(f"{detail + f'skew {stats.skew(z):5.2f}':>18s}")
    print(" ".join(row))
for ax in axes.ravel():
    ax.tick_params(labelsize=7)
fig.suptitle("Skewed data mapped to a normal distribution")
plt.show()

# %%
# The same power transform, fitted in batches
# -------------------------------------------
# ``partial_fit`` merges a likelihood statistic per batch, so data that never
# fits in memory at once gets (almost) the lambda of a fit on all of it; the
# docstring of :class:`~sknorm.PowerTransformer` states the bound.
X = np.column_stack([distributions["Lognormal"], distributions["Chi-squared"]])
whole = sknorm.PowerTransformer().fit(X)
streamed = sknorm.PowerTransformer()
for batch in np.array_split(X, 10):
    streamed.partial_fit(batch)
print("lambdas, one fit:     ", whole.lambdas_.round(4))
print("lambdas, 10 batches:  ", streamed.lambdas_.round(4))
