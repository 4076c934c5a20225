"""embedding_diagnostics against brute-force references.

The mean cosine over all pairs against sklearn's ``cosine_similarity`` matrix
(every pair, zero rows included); the effective rank against the entropy of
numpy's eigenvalues of ``np.cov``, and against exact values (``k`` equal
eigenvalues give ``k``; a rank-one matrix 1; isotropic data close to ``d``);
the norms against ``np.linalg.norm``. None of these tests needs matplotlib.
"""

import numpy as np
import pytest
from scipy import sparse
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.utils._param_validation import InvalidParameterError

from sknorm import embedding_diagnostics
from sknorm.diagnostics import sample_pairs

from .conftest import SPARSE_CONTAINERS


def _embeddings(n=40, d=7, seed=0):
    rng = np.random.default_rng(seed)
    # A common component and unequal norms, as raw model outputs have.
    X = rng.normal(size=(n, d)) + rng.normal(size=d)
    return X * rng.uniform(0.5, 3.0, size=(n, 1))


def _all_pair_cosines(X):
    cos = cosine_similarity(X)
    return cos[np.triu_indices(len(X), k=1)]


def _reference_effective_rank(X):
    eigenvalues = np.clip(np.linalg.eigvalsh(np.cov(X.T, bias=True)), 0, None)
    p = eigenvalues[eigenvalues > 0] / eigenvalues.sum()
    return np.exp(-np.sum(p * np.log(p)))


@pytest.mark.parametrize("container", [np.asarray, *SPARSE_CONTAINERS])
def test_matches_brute_force_references(container):
    X = _embeddings()
    X[3] = 0.0  # cosine 0 with every row, as cosine_similarity has it
    result = embedding_diagnostics(container(X), sample_size=10_000)
    cosines = _all_pair_cosines(X)
    norms = np.linalg.norm(X, axis=1)
    np.testing.assert_allclose(result["mean_cosine"], cosines.mean(), rtol=1e-12)
    # 780 pairs <= sample_size: every pair once
    np.testing.assert_allclose(result["cosine_std"], cosines.std(), rtol=1e-10)
    np.testing.assert_allclose(
        result["effective_rank"], _reference_effective_rank(X), rtol=1e-10
    )
    np.testing.assert_allclose(result["norm_mean"], norms.mean(), rtol=1e-14)
    assert result["norm_min"] == 0.0
    np.testing.assert_allclose(result["norm_median"], np.median(norms), rtol=1e-14)
    np.testing.assert_allclose(result["norm_max"], norms.max(), rtol=1e-14)
    np.testing.assert_allclose(
        result["norm_cv"], norms.std() / norms.mean(), rtol=1e-12
    )
    assert (result["n_samples"], result["n_features"]) == X.shape
    assert all(type(value) in (int, float) for value in result.values())


def test_mean_cosine_is_exact_over_all_pairs_when_pairs_are_sampled():
    X = _embeddings(n=400, d=12)
    result = embedding_diagnostics(X, sample_size=500, random_state=0)
    cosines = _all_pair_cosines(X)
    np.testing.assert_allclose(result["mean_cosine"], cosines.mean(), rtol=1e-12)
    # 500 of 79,800 pairs: the standard deviation is estimated. Its relative
    # standard error is about sqrt((kurtosis - 1) / (4 n)) ~ 0.03 here; 0.2
    # is over six of those.
    np.testing.assert_allclose(result["cosine_std"], cosines.std(), rtol=0.2)
    again = embedding_diagnostics(X, sample_size=500, random_state=0)
    assert again == result


def test_sample_pairs_draws_distinct_rows_of_every_index():
    # 300 rows have 44,850 pairs: 20,000 are drawn.
    first, second = sample_pairs(300, 20_000, random_state=0)
    assert len(first) == len(second) == 20_000
    assert np.all(first != second)
    # Each row is drawn about 67 times in each position.
    assert set(first) == set(second) == set(range(300))
    # At most n (n - 1) / 2 pairs requested: each unordered pair once.
    first, second = sample_pairs(50, 1225)
    np.testing.assert_array_equal(
        np.stack([first, second]), np.stack(np.triu_indices(50, k=1))
    )


@pytest.mark.parametrize("k", [1, 2, 5])
def test_effective_rank_of_equal_eigenvalues_is_their_number(k):
    # Rows ±e_1, ..., ±e_k (and zeros elsewhere): covariance diag(1/k, ...).
    d = 9
    X = np.zeros((2 * k, d))
    X[:k, :k] = np.eye(k)
    X[k:, :k] = -np.eye(k)
    result = embedding_diagnostics(X)
    np.testing.assert_allclose(result["effective_rank"], k, rtol=1e-12)


def test_effective_rank_of_isotropic_gaussian_is_near_d():
    d, n = 16, 20_000
    X = np.random.default_rng(1).normal(size=(n, d))
    rank = embedding_diagnostics(X)["effective_rank"]
    # The sample eigenvalues scatter by about sqrt(d / n) relatively, which
    # lowers exp(entropy) by about d * (d / n) / 2 ~ 0.1: allow 0.2.
    assert d - 0.2 < rank <= d


def test_effective_rank_of_rank_one_matrix_is_one():
    rng = np.random.default_rng(2)
    X = np.outer(rng.normal(size=60), rng.normal(size=10))
    np.testing.assert_allclose(embedding_diagnostics(X)["effective_rank"], 1.0)


def test_identical_and_zero_rows():
    same = embedding_diagnostics(np.tile([[3.0, 4.0]], (5, 1)))
    assert same["mean_cosine"] == pytest.approx(1.0, abs=1e-15)
    assert same["effective_rank"] == 0.0  # no variance: rank 0
    assert same["norm_cv"] == 0.0
    zero = embedding_diagnostics(np.zeros((4, 3)))
    assert zero["mean_cosine"] == 0.0
    assert zero["effective_rank"] == 0.0
    assert np.isnan(zero["norm_cv"])  # 0 / 0: no norm to compare with


def test_input_is_not_modified():
    X = _embeddings().astype(np.float32)
    original = X.copy()
    embedding_diagnostics(X)
    np.testing.assert_array_equal(X, original)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="NaN"):
        embedding_diagnostics([[1.0, np.nan], [0.0, 1.0]])
    with pytest.raises(ValueError, match="minimum of 2"):
        embedding_diagnostics([[1.0, 2.0]])
    with pytest.raises(InvalidParameterError, match="sample_size"):
        embedding_diagnostics(_embeddings(), sample_size=0)
    dense = _embeddings()
    assert embedding_diagnostics(sparse.csr_array(dense))["n_samples"] == len(dense)
