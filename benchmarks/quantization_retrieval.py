"""Retrieval kept by int8 and binary codes, with and without rescoring.

The cross-type task of the Rotten Tomatoes embeddings: the movies are split
in two halves at random (``--seed``); every statistic (the normalizer's, the
quantizer's ranges and thresholds) is fitted on the reviews and plot
synopses of the first half; each plot synopsis of the other half queries the
reviews of that half (relevant: the reviews of the same movie; plots of
movies without reviews are left out). Score: nDCG@10 with binary relevance
(``retrieval_scores`` of ``embedding_quality.py``).

For each post-processing (``EmbeddingNormalizer(center=False)``, L2 only, and
``EmbeddingNormalizer(center=True, input_norm=None)``, centered) the script
prints the float nDCG@10 and,
for the int8 and binary codes of the same embeddings (quantizers fitted on
the first half too), the nDCG@10 of the search of the codes alone and the
*retention* (quantized nDCG / float nDCG) for each rescoring multiplier m:

* ``m=1``: no rescoring, the top 10 of the codes' search (int8: dot products
  of the dequantized query and stored vectors; binary:
  :func:`sknorm.hamming_similarity` of the query's and the stored bits);
* ``m=4``, ``m=10``, ``m=40``: the top ``10 m`` of that search rescored by
  :func:`sknorm.rescore` with the float query, against the dequantized int8
  vectors or the stored bits as ±1, the best 10 kept;
* ``binary, int8 rescoring``: the binary codes' candidates rescored against
  int8 codes stored besides (48 + 384 bytes per vector; only the binary codes
  need to be in memory for the search).

With about 80 queries per split, nDCG@10 differs by a few hundredths
between splits (L2 only: 0.361 with seed 0, 0.395 averaged over seeds 0 to
9); ``--seeds 0,1,2,3,4`` averages several.

Data: all-MiniLM-L6-v2 embeddings (see the "Data" section of
docs/embeddings.rst): the compact set shipped with sknorm
(:func:`sknorm.datasets.load_movie_embeddings`) by default, or the full
``rotten_tomatoes_minilm.npz`` in ``--data DIR``.

Run: ``python benchmarks/quantization_retrieval.py [--data DIR] [--seeds
0,1,2]`` (a few seconds per split on 2 cores; with several seeds, the
figures are the means over the splits).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

from sknorm import EmbeddingNormalizer, EmbeddingQuantizer, hamming_similarity, rescore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedding_quality import FILES, K, load, retrieval_scores, top_k

PLOT = 2  # category of the plot synopses (0, 1: rotten, fresh reviews)
MULTIPLIERS = (1, 4, 10, 40)
POST_PROCESSING = (
    ("L2 only", EmbeddingNormalizer(center=False)),
    ("center", EmbeddingNormalizer(center=True, input_norm=None)),
)
QUANTIZERS = (
    ("int8", EmbeddingQuantizer("int8")),
    ("binary", EmbeddingQuantizer("binary")),
)
#: (label, codes searched, codes rescored).
ROWS = (
    ("int8", "int8", "int8"),
    ("binary", "binary", "binary"),
    ("binary, int8 rescoring", "binary", "int8"),
)


def split(embeddings, category, movies, seed):
    """Fitting rows (first half of the movies), queries and corpus (the other)."""
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(np.unique(movies))
    fit_half = np.isin(movies, shuffled[: len(shuffled) // 2])
    is_plot = category == PLOT
    corpus = ~fit_half & ~is_plot
    # Plots of movies without reviews have nothing to find: left out.
    queries = ~fit_half & is_plot & np.isin(movies, movies[corpus])
    return (
        embeddings[fit_half],
        (embeddings[queries], movies[queries]),
        (embeddings[corpus], movies[corpus]),
    )


def code_search(quantizer, queries, codes):
    """Similarity of the queries' codes to the stored codes, by query rows."""
    query_codes = quantizer.transform(queries)
    if quantizer.dtype == "binary":
        n_bits = quantizer.n_features_in_
        return lambda rows: hamming_similarity(query_codes[rows], codes, n_bits=n_bits)
    stored = quantizer.inverse_transform(codes).astype(np.float32)
    query_values = quantizer.inverse_transform(query_codes).astype(np.float32)
    return lambda rows: query_values[rows] @ stored.T


def measure(normalizer, fit_X, queries, corpus):
    """Float nDCG@10, and per row of codes the nDCG@10 of each multiplier.

    Rows: int8 codes searched and rescored; binary codes searched and
    rescored; binary codes searched, their candidates rescored with int8
    codes (stored besides).
    """
    (query_X, query_movies), (corpus_X, corpus_movies) = queries, corpus
    normalizer = clone(normalizer).fit(fit_X)
    fit_E = normalizer.transform(fit_X)
    query_E = normalizer.transform(query_X)
    corpus_E = normalizer.transform(corpus_X)
    n_queries = len(query_E)

    def ndcg(top):
        return retrieval_scores(top, query_movies, corpus_movies)[0]

    def float_search(rows):
        return query_E[rows] @ corpus_E.T

    exact = ndcg(top_k(float_search, n_queries, exclude_self=False))
    fitted = {}
    for name, quantizer in QUANTIZERS:
        quantizer = clone(quantizer).fit(fit_E)
        fitted[name] = (quantizer, quantizer.transform(corpus_E))
    rows = {}
    for label, searched, rescored in ROWS:
        search_quantizer, search_codes = fitted[searched]
        similarity = code_search(search_quantizer, query_E, search_codes)
        quantizer, codes = fitted[rescored]
        scores = []
        for multiplier in MULTIPLIERS:
            top = top_k(similarity, n_queries, k=K * multiplier, exclude_self=False)
            if multiplier > 1:
                top, _ = rescore(query_E, codes, top, quantizer=quantizer, k=K)
            scores.append(ndcg(top))
        n_bytes = str(search_quantizer.bytes_per_vector_)
        if rescored != searched:
            n_bytes += f"+{quantizer.bytes_per_vector_}"
        rows[label] = (scores, n_bytes)
    return exact, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="directory of the full file (default: the shipped set)"
    )
    parser.add_argument(
        "--seeds", default="0", help="seeds of the splits, comma-separated"
    )
    args = parser.parse_args(argv)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    start = time.perf_counter()
    embeddings, category, movies, _ = load(args.data, FILES[:1])

    splits = [split(embeddings, category, movies, seed) for seed in seeds]
    for seed, (fit_X, (_, query_movies), (_, corpus_movies)) in zip(
        seeds, splits, strict=True
    ):
        print(
            f"split {seed}: statistics fitted on {len(fit_X)} reviews and plots; "
            f"{len(query_movies)} plot queries over {len(corpus_movies)} reviews "
            f"of {len(np.unique(corpus_movies))} movies"
        )
    columns = " ".join(f"{'m=' + str(m):>6}" for m in MULTIPLIERS)
    header = (
        f"\n{'post-processing':<16} {'codes (search, rescoring)':<26} {'bytes':>6} "
        f"{'nDCG@10':>7}   retention (nDCG / float), top 10 m rescored\n"
        f"{'':<16} {'':<26} {'':>6} {'':>7}   {columns}"
    )
    print(header)
    print("-" * len(header.splitlines()[-1]))
    for name, normalizer in POST_PROCESSING:
        results = [measure(normalizer, *data) for data in splits]
        exact = np.mean([float_ndcg for float_ndcg, _ in results])
        n_bytes = str(4 * embeddings.shape[1])
        print(f"{name:<16} {'float32':<26} {n_bytes:>6} {exact:7.3f}")
        for label, _, _ in ROWS:
            n_bytes = results[0][1][label][1]
            scores = np.mean([rows[label][0] for _, rows in results], axis=0)
            retention = " ".join(f"{score / exact:6.3f}" for score in scores)
            print(
                f"{'':<16} {label:<26} {n_bytes:>6} {scores[0]:7.3f}   {retention}",
                flush=True,
            )
    print(f"\ntotal time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
