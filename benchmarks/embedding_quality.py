"""Quality of embedding post-processing on real sentence embeddings.

For each post-processing (L2 only, centering, all-but-the-top, PCA/ZCA
whitening, shrinkage, soft whitening, truncation, int8 and binary
quantization) the script prints:

* ``acc``: fresh vs rotten classification accuracy of the reviews,
  ``cross_val_score(Pipeline([post-processing, LogisticRegression(max_iter=1000)]),
  groups=movie_id, cv=StratifiedGroupKFold(5))``: every statistic is fitted on
  the training folds only;
* ``nDCG``/``R@10``: review -> review retrieval: the movies are split in two
  halves at random; the statistics are fitted on the reviews of one half and
  each review of the other half queries the other reviews of its half
  (relevant: the reviews of the same movie, the query itself excluded);
  nDCG@10 with binary relevance and recall@10 (relevant found in the top 10
  over all relevant);
* ``nDCG ood``/``R@10 ood``: the same with the statistics fitted on the
  out-of-domain Guardian headlines;
* ``ovl@10``: for the quantized rows, the overlap of the top 10 with the top
  10 of the exact float search on the same (unquantized) embeddings;
* ``bytes``: memory per vector.

Data: ``rotten_tomatoes_minilm.npz`` and ``guardian_headlines_minilm.npz``
(all-MiniLM-L6-v2 embeddings, see the "Data" section of docs/embeddings.rst
for how to make them), looked up in ``--data`` (default: ``../shared/data``
relative to the repository root).

Run: ``python benchmarks/embedding_quality.py [--data DIR]`` (about 3 minutes
on 2 cores, no subsampling).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold, cross_val_score
from sklearn.pipeline import Pipeline

from sknorm import EmbeddingNormalizer, EmbeddingQuantizer, hamming_similarity

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT / ".." / "shared" / "data"
FILES = ("rotten_tomatoes_minilm.npz", "guardian_headlines_minilm.npz")
K = 10


class QuantizedFeatures(TransformerMixin, BaseEstimator):
    """What a model sees of stored quantized vectors: the dequantized values
    (int8/uint8), or the bits as ±1 / sqrt(d) (binary)."""

    def __init__(self, quantizer):
        self.quantizer = quantizer

    def fit(self, X, y=None):
        self.quantizer_ = clone(self.quantizer).fit(X)
        return self

    def transform(self, X):
        codes = self.quantizer_.transform(X)
        if self.quantizer_.dtype != "binary":
            return self.quantizer_.inverse_transform(codes)
        n_features = self.quantizer_.n_features_in_
        bits = np.unpackbits(codes, axis=1)[:, :n_features].astype(np.float32)
        return (2 * bits - 1) / np.sqrt(n_features)


def rows():
    """(name, post-processing, quantizer or None)."""
    l2 = EmbeddingNormalizer(center=False)
    centered = EmbeddingNormalizer()
    soft = EmbeddingNormalizer(whiten="pca", power=-0.25)
    table = [
        ("L2 only", l2, None),
        ("center", centered, None),
    ]
    table += [
        (f"all-but-the-top r={r}", EmbeddingNormalizer(n_remove=r), None)
        for r in (1, 2, 3)
    ]
    table += [
        (f"PCA whiten k={k}", EmbeddingNormalizer(whiten="pca", n_components=k), None)
        for k in (64, 128, 256, 384)
    ]
    table += [
        ("ZCA whiten", EmbeddingNormalizer(whiten="zca"), None),
        (
            "PCA whiten, shrinkage 0.1",
            EmbeddingNormalizer(whiten="pca", shrinkage=0.1),
            None,
        ),
        (
            "PCA whiten, shrinkage 0.5",
            EmbeddingNormalizer(whiten="pca", shrinkage=0.5),
            None,
        ),
        ("soft whiten power -0.25", soft, None),
        ("center, truncate 128", EmbeddingNormalizer(truncate_dim=128), None),
        ("int8 of L2 only", l2, EmbeddingQuantizer("int8")),
        ("int8 of center", centered, EmbeddingQuantizer("int8")),
        (
            "int8 (1-99 %) of L2 only",
            l2,
            EmbeddingQuantizer("int8", quantile_range=(1, 99)),
        ),
        ("binary (sign) of L2 only", l2, EmbeddingQuantizer("binary", center=None)),
        ("binary (mean) of L2 only", l2, EmbeddingQuantizer("binary")),
        (
            "binary (median) of L2 only",
            l2,
            EmbeddingQuantizer("binary", center="median"),
        ),
        ("binary (mean) of soft whiten", soft, EmbeddingQuantizer("binary")),
    ]
    return table


def load(data_dir):
    data_dir = Path(data_dir)
    missing = [name for name in FILES if not (data_dir / name).is_file()]
    if missing:
        sys.exit(
            f"error: {', '.join(missing)} not found in {data_dir.resolve()}. Pass "
            "--data DIR; docs/embeddings.rst ('Data') says how to make the files."
        )
    reviews = np.load(data_dir / FILES[0])
    headlines = np.load(data_dir / FILES[1])["embeddings"]
    is_review = reviews["category"] < 2
    return (
        reviews["embeddings"][is_review],
        reviews["category"][is_review].astype(int),
        reviews["movie_id"][is_review],
        headlines,
    )


def classification_accuracy(pipeline_steps, X, y, groups):
    model = Pipeline([*pipeline_steps, ("clf", LogisticRegression(max_iter=1000))])
    scores = cross_val_score(model, X, y, groups=groups, cv=StratifiedGroupKFold(5))
    return scores.mean()


def top_k(similarity, n_queries, k=K, block=1024, exclude_self=True):
    """Indices of the k most similar other items for every query, best first.

    ``exclude_self=False`` when the queries are not items of the corpus.
    """
    top = np.empty((n_queries, k), dtype=np.intp)
    for start in range(0, n_queries, block):
        stop = min(start + block, n_queries)
        scores = np.asarray(similarity(slice(start, stop)), dtype=np.float64)
        if exclude_self:
            scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        best = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
        top[start:stop] = np.take_along_axis(best, order, axis=1)
    return top


def retrieval_scores(top, groups, corpus_groups=None):
    """Mean nDCG@k and recall@k over queries with at least one relevant item.

    Relevant: the other items of the query's group; with ``corpus_groups``
    (queries that are not items of the corpus), the corpus items of the
    query's group.
    """
    if corpus_groups is None:
        _, group_index, group_size = np.unique(
            groups, return_inverse=True, return_counts=True
        )
        n_relevant = group_size[group_index] - 1
        corpus_groups = groups
    else:
        corpus_ids, corpus_size = np.unique(corpus_groups, return_counts=True)
        where = np.searchsorted(corpus_ids, groups).clip(max=len(corpus_ids) - 1)
        n_relevant = np.where(corpus_ids[where] == groups, corpus_size[where], 0)
    has_relevant = n_relevant > 0
    relevant = corpus_groups[top] == groups[:, None]
    discount = 1.0 / np.log2(np.arange(2, K + 2))
    dcg = relevant @ discount
    ideal = np.cumsum(discount)[np.minimum(n_relevant, K) - 1]
    ndcg = dcg[has_relevant] / ideal[has_relevant]
    recall = relevant.sum(axis=1)[has_relevant] / n_relevant[has_relevant]
    return ndcg.mean(), recall.mean()


def search(normalizer, quantizer, fit_X, X):
    """Top-k of every item of X among the others, statistics fitted on fit_X.

    Returns the (quantized) search's top-k, for quantized rows the exact float
    search's on the same normalized embeddings (else None), and the memory of
    one stored vector in bytes.
    """
    normalizer = clone(normalizer).fit(fit_X)
    embedded = normalizer.transform(X)
    exact = top_k(lambda rows: embedded[rows] @ embedded.T, len(X))
    if quantizer is None:
        return exact, None, embedded.itemsize * embedded.shape[1]
    quantizer = clone(quantizer).fit(normalizer.transform(fit_X))
    codes = quantizer.transform(embedded)
    if quantizer.dtype == "binary":
        n_bits = quantizer.n_features_in_

        def similarity(rows):
            return hamming_similarity(codes[rows], codes, n_bits=n_bits)
    else:
        values = quantizer.inverse_transform(codes).astype(np.float32)

        def similarity(rows):
            return values[rows] @ values.T

    return top_k(similarity, len(X)), exact, quantizer.bytes_per_vector_


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="data directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    X, y, movies, headlines = load(args.data)

    rng = np.random.default_rng(args.seed)
    unique_movies = rng.permutation(np.unique(movies))
    fit_half = np.isin(movies, unique_movies[: len(unique_movies) // 2])
    fit_X, query_X, query_movies = X[fit_half], X[~fit_half], movies[~fit_half]
    print(
        f"{len(X)} reviews of {len(unique_movies)} movies, {X.shape[1]} dims; "
        f"retrieval: {len(query_X)} queries, statistics fitted on {len(fit_X)} "
        f"reviews of the other movies or on {len(headlines)} headlines\n"
    )
    header = (
        f"{'post-processing':<30} {'acc':>6} {'nDCG':>6} {'R@10':>6} "
        f"{'nDCG ood':>8} {'R@10 ood':>8} {'ovl@10':>6} {'bytes':>5}"
    )
    print(header)
    print("-" * len(header))
    for name, normalizer, quantizer in rows():
        steps = [("normalizer", normalizer)]
        if quantizer is not None:
            steps.append(("quantized", QuantizedFeatures(quantizer)))
        accuracy = classification_accuracy(steps, X, y, movies)
        top, exact, n_bytes = search(normalizer, quantizer, fit_X, query_X)
        ndcg, recall = retrieval_scores(top, query_movies)
        top_ood, _, _ = search(normalizer, quantizer, headlines, query_X)
        ndcg_ood, recall_ood = retrieval_scores(top_ood, query_movies)
        overlap = "-"
        if exact is not None:
            shared = (top[:, :, None] == exact[:, None, :]).any(axis=2)
            overlap = f"{shared.mean():.3f}"
        print(
            f"{name:<30} {accuracy:6.3f} {ndcg:6.3f} {recall:6.3f} "
            f"{ndcg_ood:8.3f} {recall_ood:8.3f} {overlap:>6} {n_bytes:5d}",
            flush=True,
        )
    print(f"\ntotal time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
