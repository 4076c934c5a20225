"""Quality of embedding post-processing on real sentence embeddings.

For each post-processing (L2 only, centering, all-but-the-top, PCA/ZCA
whitening, shrinkage, fixed or "auto", soft whitening, truncation, the same
maps on L2-normalized input rows (``input_norm="l2"``, rows "in-l2"), int8 and
binary quantization) the script prints one column per task:

* ``acc``: fresh vs rotten classification accuracy of the reviews,
  ``cross_val_score(Pipeline([post-processing, LogisticRegression(max_iter=1000)]),
  groups=movie_id, cv=StratifiedGroupKFold(5))``: every statistic is fitted on
  the training folds only;
* ``rr``: review -> review retrieval: the movies are split in two halves at
  random; the statistics are fitted on the reviews of one half and each
  review of the other half queries the other reviews of its half (relevant:
  the reviews of the same movie, the query itself excluded); nDCG@10 with
  binary relevance;
* ``rr ood``: the same with the statistics fitted on the out-of-domain
  Guardian headlines;
* ``rr 300``: the same with the statistics fitted on 300 reviews (fewer rows
  than the 384 dimensions) drawn from the fitting half;
* ``pr``: plot -> review retrieval across text types: the plot synopses of
  the held-out half query its reviews (relevant: the reviews of the plot's
  movie), statistics fitted on the reviews and plots of the other half;
* ``pr ood``, ``pr 300``: the same, fitted on the headlines, or on 300 rows
  of the fitting half's reviews and plots;
* ``ovl@10``: for the quantized rows, the overlap of the top 10 with the top
  10 of the exact float search on the same (unquantized) embeddings (the
  quantized rows are measured on ``acc``, ``rr`` and ``rr ood`` only);
* ``bytes``: memory per vector.

The row marked ``*`` is ``EmbeddingNormalizer()`` with its defaults; the last
lines give its largest loss to L2 only over the tasks (the defaults are chosen
so that it is at most 0.005).

Data: all-MiniLM-L6-v2 embeddings (see the "Data" section of
docs/embeddings.rst). By default the compact set shipped with sknorm
(:func:`sknorm.datasets.load_movie_embeddings`, 6,495 rows of 385 movies),
without the ``ood`` columns; with ``--data DIR`` the full files
``rotten_tomatoes_minilm.npz`` (13,905 rows) and
``guardian_headlines_minilm.npz`` in DIR (``benchmarks/make_movie_embeddings.py``
makes them), with every column.

Run: ``python benchmarks/embedding_quality.py [--data DIR]`` (on the full
files 160 s on 2 free cores, 4.6 minutes of CPU time; no subsampling).
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
from sknorm.datasets import load_movie_embeddings

FILES = ("rotten_tomatoes_minilm.npz", "guardian_headlines_minilm.npz")
K = 10
#: Rows of the few-samples fits (fewer than the 384 dimensions).
SMALL_FIT = 300
#: Name of the row of the estimator's defaults, marked in the table.
DEFAULT_NAME = "* default"


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
    """(name, post-processing, quantizer or None); the default's row is the
    one whose post-processing is ``EmbeddingNormalizer()``."""
    l2 = EmbeddingNormalizer(center=False, input_norm=None)
    centered = EmbeddingNormalizer(center=True, input_norm=None)
    soft = EmbeddingNormalizer(whiten="pca", power=-0.25, input_norm=None)
    table = [
        ("L2 only", l2, None),
        (DEFAULT_NAME, EmbeddingNormalizer(), None),
        ("center", centered, None),
    ]
    table += [
        (
            f"all-but-the-top r={r}",
            EmbeddingNormalizer(n_remove=r, input_norm=None),
            None,
        )
        for r in (1, 2, 3)
    ]
    table += [
        (
            f"PCA whiten k={k}",
            EmbeddingNormalizer(whiten="pca", n_components=k, input_norm=None),
            None,
        )
        for k in (64, 128, 256)
    ]
    # PCA whitening of all 384 directions gives ZCA's cosine similarities.
    table += [
        ("PCA/ZCA whiten", EmbeddingNormalizer(whiten="zca", input_norm=None), None),
    ]
    table += [
        (
            f"PCA whiten, shrinkage {a}",
            EmbeddingNormalizer(whiten="pca", shrinkage=a, input_norm=None),
            None,
        )
        for a in (0.1, 0.5, "auto")
    ]
    table += [
        ("soft whiten power -0.25", soft, None),
        (
            "center, truncate 128",
            EmbeddingNormalizer(center=True, truncate_dim=128, input_norm=None),
            None,
        ),
    ]
    # The same maps on L2-normalized input rows (input_norm="l2").
    table += [
        ("in-l2, center", EmbeddingNormalizer(center=True, input_norm="l2"), None),
    ]
    table += [
        (
            f"in-l2, all-but-the-top r={r}",
            EmbeddingNormalizer(n_remove=r, input_norm="l2"),
            None,
        )
        for r in (1, 2, 3)
    ]
    table += [
        (
            "in-l2, PCA whiten",
            EmbeddingNormalizer(whiten="pca", input_norm="l2"),
            None,
        ),
    ]
    table += [
        (
            f"in-l2, PCA whiten, shrinkage {a}",
            EmbeddingNormalizer(whiten="pca", shrinkage=a, input_norm="l2"),
            None,
        )
        for a in (0.1, 0.5, "auto")
    ]
    table += [
        (
            "in-l2, soft whiten -0.25",
            EmbeddingNormalizer(whiten="pca", power=-0.25, input_norm="l2"),
            None,
        ),
    ]
    table += [
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


def load(data_dir=None, files=FILES):
    """Embeddings, category (0/1 review, 2 plot), movie of every text of the
    corpus, and the headlines: from the full ``files`` in ``data_dir``, or
    without ``data_dir`` from the compact set shipped with sknorm (no
    headlines: None)."""
    if data_dir is None:
        data = load_movie_embeddings()
        return data.embeddings, data.category.astype(int), data.movie_id, None
    data_dir = Path(data_dir)
    missing = [name for name in files if not (data_dir / name).is_file()]
    if missing:
        sys.exit(
            f"error: {', '.join(missing)} not found in {data_dir.resolve()}. "
            "benchmarks/make_movie_embeddings.py makes the files."
        )
    corpus = np.load(data_dir / files[0])
    headlines = np.load(data_dir / files[1])["embeddings"] if files[1:] else None
    return (
        corpus["embeddings"],
        corpus["category"].astype(int),
        corpus["movie_id"],
        headlines,
    )


def classification_accuracy(pipeline_steps, X, y, groups):
    model = Pipeline([*pipeline_steps, ("clf", LogisticRegression(max_iter=1000))])
    scores = cross_val_score(model, X, y, groups=groups, cv=StratifiedGroupKFold(5))
    return scores.mean()


def top_k(similarity, n_queries, exclude_self, k=K, block=1024):
    """Indices of the k most similar corpus items for every query, best first
    (the query itself excluded when the queries are the corpus)."""
    top = np.empty((n_queries, k), dtype=np.intp)
    for start in range(0, n_queries, block):
        stop = min(start + block, n_queries)
        # The scores' own dtype (float32 products): a copy to float64 of each
        # block would cost as much as the search.
        scores = np.asarray(similarity(slice(start, stop)))
        if scores.dtype.kind != "f":  # Hamming similarities
            scores = scores.astype(np.float64)
        if exclude_self:
            scores[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        best = np.argpartition(scores, -k, axis=1)[:, -k:]
        order = np.argsort(-np.take_along_axis(scores, best, axis=1), axis=1)
        top[start:stop] = np.take_along_axis(best, order, axis=1)
    return top


def retrieval_scores(top, query_groups, corpus_groups, exclude_self=False):
    """Mean nDCG@k and recall@k over queries with at least one relevant item
    (a corpus item of the query's group, the query itself excluded)."""
    groups, counts = np.unique(corpus_groups, return_counts=True)
    position = np.searchsorted(groups, query_groups)
    found = groups[np.minimum(position, len(groups) - 1)] == query_groups
    n_relevant = np.where(found, counts[np.minimum(position, len(groups) - 1)], 0)
    n_relevant -= int(exclude_self)
    has_relevant = n_relevant > 0
    relevant = corpus_groups[top] == query_groups[:, None]
    discount = 1.0 / np.log2(np.arange(2, K + 2))
    dcg = relevant @ discount
    ideal = np.cumsum(discount)[np.minimum(n_relevant, K) - 1]
    ndcg = dcg[has_relevant] / ideal[has_relevant]
    recall = relevant.sum(axis=1)[has_relevant] / n_relevant[has_relevant]
    return ndcg.mean(), recall.mean()


def search(normalizer, quantizer, fit_X, corpus, queries=None):
    """Top-k of every query among the corpus, statistics fitted on fit_X.

    Without ``queries`` every corpus item queries the others. Returns the
    (quantized) search's top-k, for quantized rows the exact float search's on
    the same normalized embeddings (else None), and the memory of one stored
    vector in bytes.
    """
    exclude_self = queries is None
    normalizer = clone(normalizer).fit(fit_X)
    embedded = normalizer.transform(corpus)
    asked = embedded if exclude_self else normalizer.transform(queries)
    n_queries = len(asked)
    exact = top_k(lambda rows: asked[rows] @ embedded.T, n_queries, exclude_self)
    if quantizer is None:
        return exact, None, embedded.itemsize * embedded.shape[1]
    quantizer = clone(quantizer).fit(normalizer.transform(fit_X))
    codes = quantizer.transform(embedded)
    asked_codes = codes if exclude_self else quantizer.transform(asked)
    if quantizer.dtype == "binary":
        n_bits = quantizer.n_features_in_

        def similarity(rows):
            return hamming_similarity(asked_codes[rows], codes, n_bits=n_bits)
    else:
        values = quantizer.inverse_transform(codes).astype(np.float32)
        asked_values = quantizer.inverse_transform(asked_codes).astype(np.float32)

        def similarity(rows):
            return asked_values[rows] @ values.T

    top = top_k(similarity, n_queries, exclude_self)
    return top, exact, quantizer.bytes_per_vector_


#: Columns of the table: name and width.
COLUMNS = (
    ("acc", 6),
    ("rr", 6),
    ("rr ood", 6),
    ("rr 300", 6),
    ("pr", 6),
    ("pr ood", 6),
    ("pr 300", 6),
    ("ovl@10", 6),
    ("bytes", 5),
)
#: The tasks on which the default is compared with L2 only.
TASKS = ("acc", "rr", "rr ood", "rr 300", "pr", "pr ood", "pr 300")
#: The tasks added to the review ones (not measured on the quantized rows).
NEW_TASKS = ("rr 300", "pr", "pr ood", "pr 300")
#: Largest loss of the default to L2 only allowed on any task.
TOLERANCE = 0.005


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", help="directory of the full files (default: the shipped set)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the split")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    embeddings, category, movie_ids, headlines = load(args.data)
    is_review = category < 2
    X, y, movies = embeddings[is_review], category[is_review], movie_ids[is_review]

    rng = np.random.default_rng(args.seed)
    unique_movies = rng.permutation(np.unique(movie_ids))
    fit_movies = unique_movies[: len(unique_movies) // 2]
    in_fit_half = np.isin(movie_ids, fit_movies)
    # review -> review: fitted on the reviews of one half, queried on the other.
    fit_X = embeddings[is_review & in_fit_half]
    query_X, query_movies = (
        embeddings[is_review & ~in_fit_half],
        movie_ids[is_review & ~in_fit_half],
    )
    # plot -> review: fitted on the reviews and plots of the same half.
    fit_mixed = embeddings[in_fit_half]
    is_plot = (category == 2) & ~in_fit_half
    plots, plot_movies = embeddings[is_plot], movie_ids[is_plot]
    # Few samples: 300 rows (fewer than the dimensions) of each fitting set.
    fit_small = fit_X[rng.choice(len(fit_X), SMALL_FIT, replace=False)]
    mixed_small = fit_mixed[rng.choice(len(fit_mixed), SMALL_FIT, replace=False)]
    n_plot_queries = np.isin(plot_movies, query_movies).sum()
    if headlines is None:
        ood = "not measured (the headlines come with --data)"
    else:
        ood = f"fitted on {len(headlines)} headlines"
    print(
        f"{len(X)} reviews and {int((category == 2).sum())} plots of "
        f"{len(unique_movies)} movies, {X.shape[1]} dims. Statistics fitted on "
        f"one half of the movies, queries on the other.\n"
        f"rr: {len(query_X)} reviews query the other reviews, statistics fitted "
        f"on {len(fit_X)} reviews; pr: {n_plot_queries} plots query the "
        f"{len(query_X)} reviews, statistics fitted on {len(fit_mixed)} reviews "
        f"and plots; ood: {ood}; 300: fitted on "
        f"{SMALL_FIT} rows of the fitting set\n"
    )
    header = " ".join(
        [f"{'post-processing':<32}"] + [f"{name:>{width}}" for name, width in COLUMNS]
    )
    print(header)
    print("-" * len(header))
    results = {}
    for name, normalizer, quantizer in rows():
        steps = [("normalizer", normalizer)]
        if quantizer is not None:
            steps.append(("quantized", QuantizedFeatures(quantizer)))
        scores = {"acc": classification_accuracy(steps, X, y, movies)}
        top, exact, n_bytes = search(normalizer, quantizer, fit_X, query_X)
        scores["rr"] = retrieval_scores(top, query_movies, query_movies, True)[0]
        if headlines is not None:
            top_ood, _, _ = search(normalizer, quantizer, headlines, query_X)
            scores["rr ood"] = retrieval_scores(
                top_ood, query_movies, query_movies, True
            )[0]
        results[name] = scores
        # The quantized rows measure storage on the review tasks only.
        new_tasks = () if quantizer is not None else NEW_TASKS
        if "rr 300" in new_tasks:
            top_small, _, _ = search(normalizer, quantizer, fit_small, query_X)
            scores["rr 300"] = retrieval_scores(
                top_small, query_movies, query_movies, True
            )[0]
        for task, fitted_on in (
            ("pr", fit_mixed),
            ("pr ood", headlines),
            ("pr 300", mixed_small),
        ):
            if task not in new_tasks or fitted_on is None:
                continue
            top_plots, _, _ = search(normalizer, quantizer, fitted_on, query_X, plots)
            scores[task] = retrieval_scores(
                top_plots, plot_movies, query_movies, False
            )[0]
        overlap = "-"
        if exact is not None:
            shared = (top[:, :, None] == exact[:, None, :]).any(axis=2)
            overlap = f"{shared.mean():.3f}"
        cells = [
            f"{scores[task]:6.3f}" if task in scores else f"{'-':>6}" for task in TASKS
        ]
        print(
            " ".join([f"{name:<32}", *cells, f"{overlap:>6}", f"{n_bytes:5d}"]),
            flush=True,
        )
    losses = {
        task: results["L2 only"][task] - results[DEFAULT_NAME][task]
        for task in TASKS
        if task in results["L2 only"]
    }
    worst = max(losses, key=losses.get)
    verdict = "within" if losses[worst] <= TOLERANCE else "OUTSIDE"
    print(
        f"\n* the default, EmbeddingNormalizer(): largest loss to L2 only "
        f"{losses[worst]:+.3f} ({worst}), {verdict} the {TOLERANCE} tolerance"
    )
    print(f"total time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
