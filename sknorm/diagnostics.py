"""Diagnostics of a set of embeddings, as numbers: anisotropy, effective rank,
spread of the norms.

:func:`embedding_diagnostics` returns them in a dict for logging;
:mod:`sknorm.display` draws the same quantities (and uses the helpers here, so
a figure and a log line never disagree). Nothing here needs matplotlib.
"""

from numbers import Integral

import numpy as np
from scipy import linalg
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ._validation import is_sparse, row_blocks
from .rows import normalize, row_norms
from .stats import Covariance

__all__ = ["embedding_diagnostics"]

#: Values of the gathered rows per block of pairs in :func:`pair_cosines`.
_PAIR_BLOCK_ELEMENTS = 1 << 18


def check_embeddings(X, name="X"):
    """``X`` as float64 (dense, or CSR/CSC) with at least two rows, no NaN.

    Always a new array: the caller's data is never written.
    """
    return check_array(
        X,
        accept_sparse=("csr", "csc"),
        dtype=np.float64,
        copy=True,
        ensure_min_samples=2,
        input_name=name,
    )


def unit_rows(X):
    """Rows of ``X`` divided by their L2 norm (overflow- and underflow-safe);
    all-zero rows stay zero, as in :func:`sklearn.metrics.pairwise.cosine_similarity`.
    """
    return normalize(X, norm="l2", eps=0.0)


def mean_pairwise_cosine(U):
    """Mean cosine similarity over all pairs of distinct rows, exactly.

    ``U`` holds unit (or zero) rows. The sum over ordered pairs ``i != j`` of
    ``u_i . u_j`` is ``|sum_i u_i|**2 - sum_i |u_i|**2``: all ``n (n - 1) / 2``
    pairs in ``O(n d)`` operations, without sampling.
    """
    n = U.shape[0]
    total = np.asarray(U.sum(axis=0)).ravel()
    squares = U.multiply(U).sum() if is_sparse(U) else np.einsum("ij,ij->", U, U)
    return float((total @ total - squares) / (n * (n - 1)))


def sample_pairs(n_samples, max_pairs, random_state=None):
    """Index arrays ``(i, j)`` of pairs of distinct rows.

    All ``n (n - 1) / 2`` pairs ``i < j`` when there are at most
    ``max_pairs``; otherwise ``max_pairs`` pairs drawn uniformly (with
    replacement) among them.
    """
    if n_samples * (n_samples - 1) // 2 <= max_pairs:
        return np.triu_indices(n_samples, k=1)
    rng = check_random_state(random_state)
    first = rng.randint(n_samples, size=max_pairs)
    # A second index among the n - 1 others: uniform over distinct pairs.
    second = rng.randint(n_samples - 1, size=max_pairs)
    second += second >= first
    return first, second


def pair_cosines(U, pairs):
    """Cosine similarity of each pair of rows of the unit-row matrix ``U``."""
    first, second = pairs
    out = np.empty(len(first))
    if is_sparse(U):
        U = U.tocsr()
    # Blocks of pairs: the gathered rows stay in cache (a single gather of
    # every pair is memory-bound, ten times slower).
    for block in row_blocks(len(first), U.shape[1], _PAIR_BLOCK_ELEMENTS):
        a, b = U[first[block]], U[second[block]]
        if is_sparse(U):
            out[block] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
        else:
            out[block] = np.einsum("ij,ij->i", a, b)
    return out


def covariance_spectrum(X, *, center=True):
    """Eigenvalues of the (biased, centered) covariance of ``X``, decreasing;
    of the uncentered second moment ``E[x x^T]`` with ``center=False``.

    From a :class:`~sknorm.stats.Covariance` statistic in the data's units
    (a power of two), so any finite data gives finite eigenvalues; returned
    in those units together with the exponent: the eigenvalues are
    ``values * 4**exponent``. Rounding below zero is clipped to zero.
    """
    matrix, exponent = Covariance.from_data(X).scaled_covariance(center=center)
    values = linalg.eigvalsh(matrix)[::-1]
    return np.maximum(values, 0.0), exponent


def effective_rank(eigenvalues):
    """``exp`` of the Shannon entropy of ``eigenvalues / sum(eigenvalues)``.

    Roy and Vetterli's effective rank (2007) of a positive semi-definite
    matrix with these eigenvalues: between 1 (one direction) and their number
    (all equal); 0 when all are zero (no variance).
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    total = eigenvalues.sum()
    if not total > 0:
        return 0.0
    p = eigenvalues[eigenvalues > 0] / total
    return float(np.exp(-np.sum(p * np.log(p))))


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "sample_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def embedding_diagnostics(X, *, sample_size=100_000, random_state=None):
    """Anisotropy, effective rank and norm spread of a set of embeddings.

    Numbers to log while fitting or serving embeddings (the quantities that
    :mod:`sknorm.display` draws):

    * ``mean_cosine``: the mean cosine similarity over all pairs of distinct
      rows (the *anisotropy*: near 0 for directions spread over the sphere,
      near 1 when all embeddings share a common component), computed exactly
      over all pairs in ``O(n d)``; all-zero rows have cosine 0 with every
      row, as in :func:`sklearn.metrics.pairwise.cosine_similarity`;
    * ``cosine_std``: the standard deviation of the cosine similarities, over
      ``sample_size`` pairs drawn at random (all pairs when there are fewer);
    * ``effective_rank``: the effective rank of the centered covariance
      (Roy and Vetterli, 2007), ``exp(-sum_i p_i log p_i)`` with ``p_i =
      λ_i / sum_j λ_j`` its normalized eigenvalues: how many directions carry
      the variance (``d`` for isotropic data, 1 for a rank-one matrix, 0 for
      identical rows);
    * the row L2 norms: ``norm_mean``, ``norm_min``, ``norm_median``,
      ``norm_max`` and ``norm_cv``, their coefficient of variation (population
      standard deviation over the mean; 0 when every row has the same norm,
      NaN when all are zero).

    Every value is scale-free where it should be (multiplying ``X`` by a
    constant changes only the norms) and finite for any finite ``X``: the
    norms and the covariance are computed overflow- and underflow-safely.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Embeddings, at least two rows, without NaN.
    sample_size : int, default=100_000
        Number of random pairs of rows behind ``cosine_std``.
    random_state : int, RandomState instance or None, default=None
        Draws the pairs; only used when there are more than ``sample_size``.

    Returns
    -------
    diagnostics : dict
        ``n_samples``, ``n_features``, ``mean_cosine``, ``cosine_std``,
        ``effective_rank``, ``norm_mean``, ``norm_min``, ``norm_median``,
        ``norm_max``, ``norm_cv``; Python ints and floats.

    See Also
    --------
    CosineSimilarityDisplay : The distribution of the cosine
        similarities, with the mean marked.
    SpectrumDisplay : The eigenvalues behind the effective rank.
    EmbeddingNormsDisplay : Histograms of the row norms.

    References
    ----------
    O. Roy and M. Vetterli, "The effective rank: A measure of effective
    dimensionality", 15th European Signal Processing Conference (EUSIPCO),
    2007, pp. 606-610.

    K. Ethayarajh, "How Contextual are Contextualized Word Representations?",
    EMNLP 2019 (anisotropy as the mean cosine similarity of random pairs).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import EmbeddingNormalizer, embedding_diagnostics
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 16)) + 2.0  # a common component
    >>> raw = embedding_diagnostics(X, random_state=0)
    >>> round(raw["mean_cosine"], 1)
    0.8
    >>> centered = EmbeddingNormalizer(center=True).fit_transform(X)
    >>> after = embedding_diagnostics(centered)
    >>> abs(after["mean_cosine"]) < 0.01
    True
    >>> round(after["norm_cv"], 6)
    0.0
    >>> 15 < after["effective_rank"] <= 16
    True
    """
    X = check_embeddings(X)
    n_samples, n_features = X.shape
    norms = row_norms(X)
    U = unit_rows(X)
    cosines = pair_cosines(U, sample_pairs(n_samples, sample_size, random_state))
    # Relative to the largest norm: the mean and spread of norms near the
    # float64 maximum are computed without overflow.
    largest = norms.max()
    relative = norms / largest if 0 < largest < np.inf else norms
    with np.errstate(invalid="ignore"):
        cv = relative.std() / relative.mean()
    mean_norm = relative.mean() * largest if 0 < largest < np.inf else largest
    eigenvalues, _ = covariance_spectrum(X)
    return {
        "n_samples": int(n_samples),
        "n_features": int(n_features),
        "mean_cosine": mean_pairwise_cosine(U),
        "cosine_std": float(cosines.std()),
        "effective_rank": effective_rank(eigenvalues),
        "norm_mean": float(mean_norm),
        "norm_min": float(norms.min()),
        "norm_median": float(np.median(norms)),
        "norm_max": float(largest),
        "norm_cv": float(cv),
    }
