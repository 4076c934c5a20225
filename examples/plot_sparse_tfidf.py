"""
Scaling sparse TF-IDF features without densifying them
======================================================

Text features are sparse: a document holds a few of many terms. Centering
them would fill every zero, so sparse scaling divides each column by a
spread that keeps zeros at zero. scikit-learn's ``MaxAbsScaler`` and
``RobustScaler(with_centering=False)`` do this; sknorm does too, keeps the
input's sparse format, and also accepts ``MinMaxScaler`` on sparse input when
the fitted map sends 0 to 0 (non-negative data and ``feature_range=(0, 1)``).
"""

# %%
# A TF-IDF matrix of synthetic documents
# --------------------------------------
import matplotlib.pyplot as plt
import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

import sknorm

rng = np.random.default_rng(0)
vocabulary = [f"w{i}" for i in range(3000)]
# Zipf-like term frequencies, as in real text.
frequency = 1.0 / np.arange(1, len(vocabulary) + 1)
frequency /= frequency.sum()
documents = [
    " ".join(rng.choice(vocabulary, size=rng.integers(5, 80), p=frequency))
    for _ in range(5000)
]
X = TfidfVectorizer().fit_transform(documents)
print(
    f"{X.shape[0]} documents, {X.shape[1]} terms, {X.nnz} stored values "
    f"({X.nnz / np.prod(X.shape):.2%})"
)

# %%
# Scaled, still sparse
# --------------------
for scaler in (
    sknorm.MaxAbsScaler(),
    sknorm.RobustScaler(with_centering=False),
    sknorm.MinMaxScaler(),
):
    Y = scaler.fit_transform(X)
    print(
        f"{type(scaler).__name__:13s} -> {type(Y).__name__}, {Y.nnz} stored values, "
        f"format {Y.format}"
    )

# %%
# The scales the scalers learned
# ------------------------------
# ``RobustScaler`` on sparse input counts the implicit zeros in its quantiles:
# for rare terms the interquartile range is 0 and the feature keeps scale 1
# (a constant feature), as in scikit-learn.
maxabs = sknorm.MaxAbsScaler().fit(X)
robust = sknorm.RobustScaler(with_centering=False, quantile_range=(1, 99)).fit(X)
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(np.log10(maxabs.scale_), bins=50, alpha=0.7, label="MaxAbsScaler scale_")
ax.hist(
    np.log10(robust.scale_),
    bins=50,
    alpha=0.7,
    label="RobustScaler(quantile_range=(1, 99)) scale_",
)
ax.set_xlabel("log10(scale)")
ax.set_ylabel("terms")
ax.legend()
fig.tight_layout()

# %%
# The same as scikit-learn's
# --------------------------
from sklearn import preprocessing as skp

theirs = skp.MaxAbsScaler().fit_transform(X)
ours = sknorm.MaxAbsScaler().fit_transform(X)
print(
    "largest difference:", abs(theirs - ours).max(), "| sparse:", sparse.issparse(ours)
)
