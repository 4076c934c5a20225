"""How row normalization amplifies noise in sparse vectors, and what ``eps`` does.

Synthetic bag-of-words retrieval, seeded: ``n_topics`` topics with their own
vocabularies and a pool of common words shared by all; a document has 10 to
100 words (uniformly), half from its topic's vocabulary, half common words.
Raw counts favour long documents, whatever their topic: that is why rows are
normalized. The corpus also holds near-empty documents: one or two terms drawn
from the whole vocabulary (boilerplate, a stray token, an empty text with one
OCR artefact). Each query (a held-out topic document) ranks the corpus by dot
product; relevant documents share its topic; the score is precision@10.

L2 normalization gives every row unit norm, the near-empty ones included: a
one-term row that shares a term with the query gets cosine ``q_t / ||q||``,
far above the cosine of a real document of the same topic, which shares a few
of its many terms. The near-empty rows then crowd the top of the ranking.
``Normalizer(eps=e)`` divides rows whose norm is below ``e`` by ``e``, so they
keep their small norm and real documents rank first again.

Run: ``python benchmarks/sparse_noise.py`` (a few seconds).
"""

import argparse

import numpy as np
from scipy import sparse

from sknorm import Normalizer

K = 10


def make_corpus(
    *,
    n_topics=20,
    vocabulary_per_topic=500,
    documents_per_topic=100,
    queries_per_topic=10,
    shortest=10,
    longest=100,
    n_common=100,
    n_near_empty=4_000,
    seed=0,
):
    """``(corpus, corpus_topic, queries, query_topic)``: CSR term counts; the
    near-empty documents have topic -1 (relevant to no query)."""
    rng = np.random.default_rng(seed)
    n_terms = n_topics * vocabulary_per_topic + n_common

    def documents(topics):
        rows, cols = [], []
        for i, topic in enumerate(topics):
            length = rng.integers(shortest, longest + 1)
            topical = topic * vocabulary_per_topic + rng.integers(
                0, vocabulary_per_topic, length - length // 2
            )
            common = n_topics * vocabulary_per_topic + rng.integers(
                0, n_common, length // 2
            )
            rows.append(np.full(length, i))
            cols.append(np.concatenate([topical, common]))
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        counts = sparse.csr_array(
            (np.ones(len(rows)), (rows, cols)), shape=(len(topics), n_terms)
        )
        counts.sum_duplicates()
        return counts

    corpus_topic = np.repeat(np.arange(n_topics), documents_per_topic)
    query_topic = np.repeat(np.arange(n_topics), queries_per_topic)
    real, queries = documents(corpus_topic), documents(query_topic)
    n_words = rng.integers(1, 3, n_near_empty)
    rows = np.repeat(np.arange(n_near_empty), n_words)
    near_empty = sparse.csr_array(
        (np.ones(len(rows)), (rows, rng.integers(0, n_terms, len(rows)))),
        shape=(n_near_empty, n_terms),
    )
    near_empty.sum_duplicates()
    corpus = sparse.vstack([real, near_empty], format="csr")
    corpus_topic = np.concatenate([corpus_topic, np.full(n_near_empty, -1)])
    return corpus, corpus_topic, queries, query_topic


def precision_at_k(corpus, corpus_topic, queries, query_topic, k=K):
    """Mean precision@k of dot-product retrieval."""
    scores = (queries @ corpus.T).toarray()
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return float((corpus_topic[top] == query_topic[:, None]).mean())


def near_empty_in_top(corpus, corpus_topic, queries, k=K):
    """Mean number of near-empty documents among the top k."""
    scores = (queries @ corpus.T).toarray()
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    return float((corpus_topic[top] == -1).sum(axis=1).mean())


def rows():
    """(name, corpus transformer or None): the settings compared. Real
    documents have norms of about 3 to 10, near-empty ones 1 to 2."""
    return [
        ("raw counts (no normalization)", None),
        ("Normalizer() (L2, eps=0)", Normalizer()),
        ("Normalizer(eps=2)", Normalizer(eps=2.0)),
        ("Normalizer(eps=4)", Normalizer(eps=4.0)),
    ]


def table(**corpus_options):
    """``[(setting, precision@10, near-empty rows in the top 10)]``."""
    corpus, corpus_topic, queries, query_topic = make_corpus(**corpus_options)
    # Queries are L2-normalized in every setting: only the corpus rows differ.
    queries = Normalizer().fit_transform(queries)
    results = []
    for name, transformer in rows():
        X = corpus if transformer is None else transformer.fit_transform(corpus)
        results.append(
            (
                name,
                precision_at_k(X, corpus_topic, queries, query_topic),
                near_empty_in_top(X, corpus_topic, queries),
            )
        )
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    results = table(seed=args.seed)
    width = max(len(name) for name, _, _ in results)
    print(f"{'corpus rows':<{width}}  precision@10  near-empty in top 10")
    for name, precision, noise in results:
        print(f"{name:<{width}}  {precision:12.3f}  {noise:20.2f}")


if __name__ == "__main__":
    main()
