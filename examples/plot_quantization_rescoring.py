"""
Quantized embeddings and rescoring
==================================

``EmbeddingQuantizer`` stores an embedding in one byte per dimension (int8)
or one bit (binary): 4 and 32 times less memory than float32. Searching the
codes is approximate; :func:`sknorm.rescore` takes more candidates than
needed from that search and ranks them again with the float query, as vector
databases do. This example measures, on real sentence embeddings, how much
of the float search's nDCG@10 each kind of code keeps, with and without
rescoring: plot synopses query the reviews of their movie (Rotten Tomatoes,
all-MiniLM-L6-v2, see :doc:`/embeddings`).
"""

# %%
# Data and a float baseline
# -------------------------
import matplotlib.pyplot as plt
import numpy as np

from sknorm import EmbeddingNormalizer, EmbeddingQuantizer, hamming_similarity, rescore
from sknorm.datasets import load_movie_embeddings

data = load_movie_embeddings()
X, category, movie = data.embeddings, data.category, data.movie_id
rng = np.random.default_rng(0)
movies = np.unique(movie)
held_out = np.isin(movie, rng.permutation(movies)[: len(movies) // 2])
fit_rows = ~held_out
corpus = held_out & (category < 2)
# Plot queries of held-out movies that have reviews in the corpus.
queries = held_out & (category == 2) & np.isin(movie, movie[corpus])
corpus_movie, query_movie = movie[corpus], movie[queries]
K = 10

normalizer = EmbeddingNormalizer(center=False).fit(X[fit_rows])  # L2 only
stored, asked = normalizer.transform(X[corpus]), normalizer.transform(X[queries])


def ndcg(top):
    relevant = corpus_movie[top] == query_movie[:, None]
    discount = 1 / np.log2(np.arange(2, K + 2))
    n_relevant = (corpus_movie[None, :] == query_movie[:, None]).sum(axis=1)
    ideal = np.cumsum(discount)[np.minimum(n_relevant, K) - 1]
    return float((relevant @ discount / ideal).mean())


def top(scores, n):
    best = np.argpartition(-scores, n, axis=1)[:, :n]
    order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
    return np.take_along_axis(best, order, axis=1)


exact = ndcg(top(asked @ stored.T, K))
print(
    f"{queries.sum()} plot queries over {corpus.sum()} reviews; "
    f"float32 nDCG@10 = {exact:.3f}"
)

# %%
# Search the codes, then rescore the top ``10 m``
# -----------------------------------------------
multipliers = [1, 2, 4, 10, 40]
fitted = normalizer.transform(X[fit_rows])
quantizers = {
    dtype: EmbeddingQuantizer(dtype).fit(fitted) for dtype in ("int8", "binary")
}
codes = {dtype: q.transform(stored) for dtype, q in quantizers.items()}
searched = {
    "int8": asked @ quantizers["int8"].inverse_transform(codes["int8"]).T,
    "binary": hamming_similarity(
        quantizers["binary"].transform(asked), codes["binary"], n_bits=stored.shape[1]
    ),
}
# (codes searched, codes rescored): the last keeps both codes of each vector.
settings = {
    "int8": ("int8", "int8"),
    "binary": ("binary", "binary"),
    "binary search, int8 rescoring": ("binary", "int8"),
}
retention = {}
for name, (search_with, rescore_with) in settings.items():
    retention[name] = []
    for m in multipliers:
        candidates = top(searched[search_with], K * m)
        indices, _ = rescore(
            asked,
            codes[rescore_with],
            candidates,
            quantizer=quantizers[rescore_with],
            k=K,
        )
        retention[name].append(ndcg(indices) / exact)
    print(
        f"{name:29s} retention "
        + ", ".join(
            f"m={m}: {r:.3f}" for m, r in zip(multipliers, retention[name], strict=True)
        )
    )

# %%
# int8 codes lose nothing. Binary codes lose about a fifth of the quality,
# and rescoring their candidates with the bits themselves recovers only part
# of it: the bits are the limit. Searching the binary codes (48 bytes per vector, fast
# Hamming distances) and rescoring a few times ``k`` candidates with their
# int8 codes brings the float quality back.
fig, ax = plt.subplots(figsize=(6, 3))
for dtype, values in retention.items():
    ax.plot(multipliers, values, marker="o", label=dtype)
ax.axhline(1.0, color="grey", linestyle="--")
ax.set_xscale("log")
ax.set_xlabel("candidates rescored / k (m)")
ax.set_ylabel("nDCG@10 / float nDCG@10")
ax.legend()
fig.tight_layout()
