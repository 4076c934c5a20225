"""
Drop-in swap in a Pipeline with GridSearchCV
============================================

sknorm's scalers have the names, parameters, fitted attributes and results of
scikit-learn's: swapping the import is the whole migration. Here a
``GridSearchCV`` chooses the scaler of a pipeline among scikit-learn's and
sknorm's, and the cross-validated scores agree to rounding.
"""

# %%
# The same search over both libraries' scalers
# --------------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn import preprocessing as skp
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

import sknorm

X, y = load_breast_cancer(return_X_y=True)
names = ["StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler"]
candidates = [getattr(module, name)() for name in names for module in (skp, sknorm)]
pipeline = Pipeline([("scale", skp.StandardScaler()), ("model", LogisticRegression())])
search = GridSearchCV(
    pipeline,
    {"scale": candidates, "model__C": [0.1, 1.0]},
    cv=StratifiedKFold(5, shuffle=True, random_state=0),
)
search.fit(X, y)
print("best:", search.best_params_["scale"], "C =", search.best_params_["model__C"])

# %%
# Scores side by side
# -------------------
# Each scaler's mean accuracy (C = 1) for scikit-learn's and sknorm's class:
# every statistic is fitted on the training folds only, in both.
results = search.cv_results_
scores = {}
for params, score in zip(results["params"], results["mean_test_score"], strict=True):
    if params["model__C"] == 1.0:
        library = type(params["scale"]).__module__.split(".")[0]
        scores[library, type(params["scale"]).__name__] = score
for name in names:
    print(
        f"{name:15s} scikit-learn {scores['sklearn', name]:.4f}"
        f"  sknorm {scores['sknorm', name]:.4f}"
    )

fig, ax = plt.subplots(figsize=(6, 3))
positions = np.arange(len(names))
ax.bar(
    positions - 0.2, [scores["sklearn", n] for n in names], 0.4, label="scikit-learn"
)
ax.bar(positions + 0.2, [scores["sknorm", n] for n in names], 0.4, label="sknorm")
ax.set_xticks(positions, names)
ax.set_ylim(0.9, 1.0)
ax.set_ylabel("mean CV accuracy")
ax.legend(loc="lower right")
fig.tight_layout()

# %%
# The fitted attributes are the same too
# --------------------------------------
theirs = skp.RobustScaler().fit(X)
ours = sknorm.RobustScaler().fit(X)
print("largest difference of center_:", np.abs(theirs.center_ - ours.center_).max())
print("largest difference of scale_: ", np.abs(theirs.scale_ - ours.scale_).max())
