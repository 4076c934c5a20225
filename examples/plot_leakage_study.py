"""
When does fitting the scaler on all the data mislead?
=====================================================

A scaler fitted on all the data before cross-validation sees the test folds:
its statistics leak into the training of every fold. With
``Pipeline([scaler, model])`` inside ``cross_val_score`` the statistics are
fitted on the training folds only. How much does the leak change the
*estimated* score? It depends on the case. This study simulates data sets
where the *true* score of the deployed model is known (measured on 4,000
fresh rows of the same process: for the drifting data, of the period after
the training data), and compares the cross-validated estimate of the honest
pipeline and of the leaky procedure with it, over repeated data sets, with
95% confidence intervals of the mean bias.
"""

# %%
# The cases
# ---------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GroupKFold, KFold, TimeSeriesSplit
from sklearn.neighbors import KNeighborsClassifier

from sknorm import MinMaxScaler, RobustScaler, StandardScaler
from sknorm.demo import TRUE_ROWS as N_TRUE
from sknorm.demo import drifting_data, estimation_bias, mean_interval

N_REPEATS = 30


def labels(signal, rng):
    return (
        signal[:, 0] + 0.5 * signal[:, 1] + 0.5 * rng.normal(size=len(signal)) > 0
    ).astype(int)


def few_rows(rng, n=30, n_future=0):
    """30 rows, 10 features of different units."""
    scales = np.geomspace(0.1, 100, 10)

    def draw(m):
        signal = rng.normal(size=(m, 10))
        return signal * scales, labels(signal, rng)

    X, y = draw(n)
    return X, y, None, draw(N_TRUE)


def heavy_tails(rng, n=200):
    """Student-t(1.5) features: a few huge values set the min-max range."""

    def draw(m):
        signal = rng.standard_t(1.5, size=(m, 6))
        return signal, labels(np.tanh(signal), rng)

    X, y = draw(n)
    return X, y, None, draw(N_TRUE)


def groups(rng, n_groups=12, per_group=25):
    """Batches (sites, patients) with their own offsets; new batches at
    deployment (GroupKFold)."""

    def draw(k, m):
        group = np.repeat(np.arange(k), m)
        offsets = rng.normal(scale=2.0, size=(k, 5))
        signal = rng.normal(size=(k * m, 5))
        return signal + offsets[group], labels(signal, rng), group

    X, y, g = draw(n_groups, per_group)
    X_true, y_true, _ = draw(N_TRUE // per_group, per_group)
    return X, y, g, (X_true, y_true)


cases = {
    "few rows (30), StandardScaler": (
        few_rows,
        StandardScaler,
        KFold(5, shuffle=True, random_state=0),
    ),
    "heavy tails, MinMaxScaler": (
        heavy_tails,
        MinMaxScaler,
        KFold(5, shuffle=True, random_state=0),
    ),
    "heavy tails, RobustScaler": (
        heavy_tails,
        RobustScaler,
        KFold(5, shuffle=True, random_state=0),
    ),
    "noise growing in time, TimeSeriesSplit": (
        drifting_data,
        StandardScaler,
        TimeSeriesSplit(5),
    ),
    "batches, GroupKFold": (groups, StandardScaler, GroupKFold(5)),
}


# %%
# Repeated simulations
# --------------------
# ``drifting_data``, ``estimation_bias`` and ``mean_interval`` are those of
# ``python -m sknorm.demo``, which prints the drift case.
results = {
    name: estimation_bias(make, scaler(), KNeighborsClassifier(5), cv, N_REPEATS)
    for name, (make, scaler, cv) in cases.items()
}


def interval(bias):
    mean, low, high = mean_interval(bias)
    return f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]"


print(
    f"mean bias of the estimated accuracy (estimate - true), {N_REPEATS} data sets, "
    "95% CI"
)
print(f"{'case':40s} {'honest pipeline':>26s} {'scaler fitted on all data':>26s}")
for name, values in results.items():
    estimated, leaky, true = values.T
    print(f"{name:40s} {interval(estimated - true):>26s} {interval(leaky - true):>26s}")

# %%
# Estimated against true score
# ----------------------------
# On the diagonal an estimate is right. In most cases the leak of a scaler
# is lost in the spread of the estimates: fitted on all rows or on the
# training folds, its statistics differ little, and the final model is fitted
# on all rows too. It matters where the test folds' statistics differ from
# the training folds' in a way deployment will not repeat: when the noise
# grows with time, the leaky scaler has seen the future's noise level and
# shrinks the noisy features that a model trained on the past over-weights.
# There the honest pipeline is optimistic too, without any leak: its folds
# score past periods, each less noisy than the next, while the deployed model
# faces a later, noisier one (``python -m sknorm.demo`` prints the fold
# scores). In the other cases its bias is within its interval of zero.
fig, axes = plt.subplots(
    1, len(results), figsize=(3 * len(results), 3.2), sharex=False, sharey=False
)
for ax, (name, values) in zip(axes, results.items(), strict=True):
    estimated, leaky, true = values.T
    low, high = values.min() - 0.02, values.max() + 0.02
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.scatter(true, estimated, s=10, label="Pipeline (honest)")
    ax.scatter(true, leaky, s=10, marker="x", label="fitted on all data")
    ax.set_title(name, fontsize=8)
    ax.set_xlabel("true accuracy")
axes[0].set_ylabel("estimated accuracy")
axes[0].legend(fontsize=7)
fig.tight_layout()
