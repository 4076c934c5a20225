"""
Per-group scaling
=================

Measurements from several sites, machines or patients often differ by a
per-group offset and unit: a sensor reads 2 degrees high, a lab reports in
other units. ``GroupedScaler`` learns one set of statistics per value of a
group column and scales each row with its group's, so that every group is
centered and scaled on its own. Groups seen at transform but not in fit are
scaled with the statistics of all groups (their merge, no second pass over
the data), or rejected.
"""

# %%
# Sites with their own offset and unit
# ------------------------------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline

from sknorm import GroupedScaler, StandardScaler

rng = np.random.default_rng(0)
n_sites, per_site = 8, 150
site = np.repeat([f"site {i}" for i in range(n_sites)], per_site)
signal = rng.normal(size=(n_sites * per_site, 3))
y = (signal[:, 0] - signal[:, 1] + 0.5 * rng.normal(size=len(signal)) > 0).astype(int)
offset = rng.normal(scale=3.0, size=(n_sites, 3))
unit = rng.uniform(0.3, 3.0, size=(n_sites, 3))
index = np.repeat(np.arange(n_sites), per_site)
X = pd.DataFrame(signal * unit[index] + offset[index], columns=["a", "b", "c"])
X.insert(0, "site", site)

# %%
# One scaler for all rows, or one per site
# ----------------------------------------
# Statistics are fitted on the training folds only. GroupKFold keeps each
# site's rows in one fold, so the sites of a test fold are unseen in its fit:
# their rows get the statistics of all training sites, and no scaler can
# remove an offset it has never seen. Both pipelines are near chance there.
per_site_model = make_pipeline(
    GroupedScaler(StandardScaler(), group_column="site"), LogisticRegression()
)
global_model = make_pipeline(
    ColumnTransformer([("scale", StandardScaler(), ["a", "b", "c"])]),
    LogisticRegression(),
)
cv = GroupKFold(4)
for name, model in (("one scaler", global_model), ("per site", per_site_model)):
    unseen = cross_val_score(model, X, y, groups=site, cv=cv).mean()
    print(f"{name:10s} accuracy on unseen sites {unseen:.3f}")

# %%
# Sites seen in training: within-site scaling removes the offsets
# ---------------------------------------------------------------
# With every site in the training folds (a new measurement from a known
# site), each site is centered and scaled on its own statistics, and the
# classifier sees the signal instead of the sites' offsets.
from sklearn.model_selection import StratifiedKFold

cv = StratifiedKFold(4, shuffle=True, random_state=0)
for name, model in (("one scaler", global_model), ("per site", per_site_model)):
    seen = cross_val_score(model, X, y, cv=cv).mean()
    print(f"{name:10s} accuracy on known sites  {seen:.3f}")

# %%
# What each site looks like after scaling
# ---------------------------------------
scaled = GroupedScaler(StandardScaler(), group_column="site").fit_transform(X)
fig, axes = plt.subplots(1, 2, figsize=(7, 3), sharey=True)
for i in range(n_sites):
    rows = index == i
    axes[0].scatter(X["a"][rows], X["b"][rows], s=3)
    axes[1].scatter(scaled[rows, 0], scaled[rows, 1], s=3)
axes[0].set_title("raw: one cloud per site")
axes[1].set_title("GroupedScaler(StandardScaler())")
for ax in axes:
    ax.set_xlabel("a")
axes[0].set_ylabel("b")
fig.tight_layout()
