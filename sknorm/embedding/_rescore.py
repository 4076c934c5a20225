"""Search on binary codes: Hamming similarity, and rescoring the
candidates with the int8 codes or the float vectors."""

from numbers import Integral

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, validate_params
from sklearn.utils.validation import (
    check_is_fitted,
)

from .._array_api import host_view
from .._validation import (
    row_blocks,
)
from ._base import _BLOCK_ELEMENTS
from ._quantizer import EmbeddingQuantizer


def hamming_similarity(A, B=None, *, n_bits=None):
    """Fraction of equal bits between packed binary vectors.

    ``1 - hamming_distance / n_bits`` for every pair of rows of ``A`` and
    ``B``, computed exactly (as a float32 product of ±1 vectors, exact for up
    to 2**24 bits).

    Parameters
    ----------
    A : ndarray of uint8 of shape (n_a, n_bytes)
        Packed bits, as returned by ``EmbeddingQuantizer(dtype="binary")``.
    B : ndarray of uint8 of shape (n_b, n_bytes), default=None
        Packed bits; None compares ``A`` with itself.
    n_bits : int, default=None
        Number of meaningful bits (the embedding's dimension), with
        ``ceil(n_bits / 8) == n_bytes``; None means ``8 * n_bytes``. Padding
        bits are zero in every vector, so they never differ.

    Returns
    -------
    similarity : ndarray of float64 of shape (n_a, n_b)
        In [0, 1]; 1 for identical vectors.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import hamming_similarity
    >>> A = np.packbits([[1, 0, 1, 1, 0, 0, 1, 0, 1, 1]], axis=1)
    >>> B = np.packbits([[1, 0, 1, 1, 0, 0, 1, 0, 1, 0],
    ...                  [0, 1, 0, 0, 1, 1, 0, 1, 0, 0]], axis=1)
    >>> hamming_similarity(A, B, n_bits=10)
    array([[0.9, 0. ]])
    """
    A = _check_packed(A, "A")
    B = A if B is None else _check_packed(B, "B")
    if A.shape[1] != B.shape[1]:
        raise ValueError(
            f"A and B must hold the same number of bytes per vector, got "
            f"{A.shape[1]} and {B.shape[1]}."
        )
    n_bytes = A.shape[1]
    total_bits = 8 * n_bytes
    if n_bits is None:
        n_bits = total_bits
    elif not isinstance(n_bits, Integral) or isinstance(n_bits, bool):
        raise ValueError(f"n_bits must be an integer, got {n_bits!r}.")
    elif not 8 * n_bytes - 7 <= n_bits <= total_bits:
        raise ValueError(
            f"n_bits must lie in [{max(1, total_bits - 7)}, {total_bits}] for "
            f"{n_bytes} byte(s) per vector (ceil(n_bits / 8) bytes), got {n_bits}."
        )
    n_bits = int(n_bits)
    signs_b = _signs(B)
    out = np.empty((len(A), len(B)))
    # Blocks of rows of A whose products are large enough for BLAS.
    for rows in row_blocks(len(A), max(len(B), total_bits), _BLOCK_ELEMENTS):
        # equal bits minus unequal bits: an exact integer in float32
        agreement = (_signs(A[rows]) @ signs_b.T).astype(np.float64)
        distance = (total_bits - agreement) / 2
        out[rows] = (n_bits - distance) / n_bits
    return out


def _check_packed(bits, name):
    bits = np.asarray(bits)
    if bits.dtype != np.uint8 or bits.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D uint8 array of packed bits, got "
            f"{bits.ndim}-D {bits.dtype}."
        )
    return bits


def _signs(bits):
    """Unpacked bits as float32 ±1 (exact in float32 products)."""
    signs = np.unpackbits(bits, axis=1).astype(np.float32)
    signs *= 2
    signs -= 1
    return signs


#: Most values of the candidate vectors gathered at once by :func:`rescore`.
_RESCORE_BLOCK_ELEMENTS = 1 << 22


@validate_params(
    {
        "queries": ["array-like"],
        "codes": ["array-like"],
        "candidates": ["array-like"],
        "quantizer": [EmbeddingQuantizer],
        "k": [Interval(Integral, 1, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def rescore(queries, codes, candidates, *, quantizer, k=10):
    """Rescore candidates found among quantized vectors with float queries.

    Searching quantized codes is cheap but approximate. Rescoring, as vector
    databases and sentence-transformers' ``semantic_search_faiss`` do it,
    takes more candidates than needed from that search (say the top
    ``4 * k``) and ranks them again by the dot product of the *float* query
    with each stored vector as the codes give it back:

    * int8 and uint8 codes: the dequantized vector,
      ``quantizer.inverse_transform(code)`` (bin centers, within half a step
      of the original);
    * binary codes: the bits as ±1 (``2 * bit - 1``). The query is not
      centered: ``query @ sign(x - center_)`` follows ``query @ (x -
      center_)``, which ranks the candidates as ``query @ x`` does.

    Parameters
    ----------
    queries : array-like of shape (n_queries, `quantizer.n_features_in_`)
        Float queries, post-processed as the stored vectors were before
        quantization (e.g. by the same :class:`EmbeddingNormalizer`).
    codes : array-like of shape (n_stored, `quantizer.n_features_out_`)
        The stored codes, ``quantizer.transform(stored)``.
    candidates : array-like of int of shape (n_queries, n_candidates)
        Row indices into ``codes`` of each query's candidates, such as the
        top ``k * rescore_multiplier`` of a search of the codes. ``-1`` marks
        a missing candidate (as FAISS pads short result lists); a repeated
        candidate is returned as often as it appears.
    quantizer : EmbeddingQuantizer
        The fitted quantizer that made ``codes``.
    k : int, default=10
        Number of results per query.

    Returns
    -------
    indices : ndarray of intp of shape (n_queries, min(k, n_candidates))
        The best candidates of each query, best first; ties keep the order
        of ``candidates``. ``-1`` where a query has fewer candidates.
    scores : ndarray of float64 of shape (n_queries, min(k, n_candidates))
        Their rescored dot products; ``-inf`` where ``indices`` is ``-1``.

    See Also
    --------
    EmbeddingQuantizer : Makes the codes.
    hamming_similarity : Search binary codes for the candidates.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import EmbeddingQuantizer, hamming_similarity, rescore
    >>> rng = np.random.default_rng(0)
    >>> stored = rng.normal(size=(200, 16))
    >>> quantizer = EmbeddingQuantizer(dtype="binary").fit(stored)
    >>> codes = quantizer.transform(stored)
    >>> queries = stored[:2] + 0.1 * rng.normal(size=(2, 16))
    >>> # Shortlist 20 candidates by Hamming similarity, keep the best 3.
    >>> similarity = hamming_similarity(quantizer.transform(queries), codes, n_bits=16)
    >>> candidates = np.argsort(-similarity, axis=1, kind="stable")[:, :20]
    >>> indices, scores = rescore(queries, codes, candidates, quantizer=quantizer, k=3)
    >>> indices[:, 0]  # each query finds the vector it was made from
    array([0, 1])
    >>> bool(np.all(np.diff(scores, axis=1) <= 0))  # best first
    True
    """
    check_is_fitted(quantizer)
    n_features = quantizer.n_features_in_
    queries = check_array(queries, dtype=(np.float64, np.float32))
    if queries.shape[1] != n_features:
        raise ValueError(
            f"queries have {queries.shape[1]} features, but the quantizer was "
            f"fitted on {n_features}."
        )
    codes = check_array(codes, dtype=None, ensure_min_samples=0)
    if codes.shape[1] != quantizer.n_features_out_:
        raise ValueError(
            f"codes have {codes.shape[1]} columns, but the quantizer's codes have "
            f"{quantizer.n_features_out_} ({quantizer.dtype})."
        )
    if quantizer.dtype == "binary":
        if codes.dtype != np.uint8:
            raise ValueError(
                f"Binary codes are packed bits of dtype uint8, got dtype {codes.dtype}."
            )
    else:
        if codes.dtype.kind not in "iu":
            raise ValueError(
                f"codes must be the integer codes of quantizer.transform "
                f"({quantizer.dtype}), got dtype {codes.dtype}."
            )
        if len(codes):
            quantizer._check_codes(codes)  # their range
    try:
        candidates = np.asarray(candidates)
    except ValueError:  # rows of different lengths
        candidates = None
    if candidates is None or candidates.ndim != 2 or len(candidates) != len(queries):
        got = "rows of different lengths"
        if candidates is not None:
            got = f"shape {candidates.shape}"
        raise ValueError(
            f"candidates must be a 2-D array with one row per query "
            f"({len(queries)}; pad short rows with -1), got {got}."
        )
    if candidates.size and candidates.dtype.kind not in "iu":
        raise ValueError(
            f"candidates must hold integer row indices into codes, got dtype "
            f"{candidates.dtype}."
        )
    candidates = candidates.astype(np.intp, copy=False)
    if candidates.size and (candidates.min() < -1 or candidates.max() >= len(codes)):
        raise ValueError(
            f"candidates must be row indices into codes, in [0, {len(codes)}), "
            f"or -1 for none; got values from {candidates.min()} to "
            f"{candidates.max()}."
        )

    n_queries, n_candidates = candidates.shape
    n_out = min(k, n_candidates)
    indices = np.full((n_queries, n_out), -1, dtype=np.intp)
    scores = np.full((n_queries, n_out), -np.inf)
    if n_out == 0 or len(codes) == 0:  # no column, or every candidate -1
        return indices, scores
    block = max(1, _RESCORE_BLOCK_ELEMENTS // (n_candidates * n_features))
    for start in range(0, n_queries, block):
        rows = slice(start, min(start + block, n_queries))
        found = candidates[rows]
        present = found >= 0
        # Missing candidates gather row 0, then score -inf.
        gathered = codes[np.where(present, found, 0).ravel()]
        vectors = _stored_vectors(quantizer, gathered, n_features)
        vectors = vectors.reshape(*found.shape, n_features)
        query = queries[rows].astype(np.float64)
        block_scores = np.matmul(vectors, query[:, :, None])[:, :, 0]
        block_scores[~present] = -np.inf
        # Stable: ties keep the candidates' order, missing ones go last.
        order = np.argsort(-block_scores, axis=1, kind="stable")[:, :n_out]
        best = np.take_along_axis(found, order, axis=1)
        best_scores = np.take_along_axis(block_scores, order, axis=1)
        best[np.isneginf(best_scores)] = -1
        indices[rows], scores[rows] = best, best_scores
    return indices, scores


def _stored_vectors(quantizer, codes, n_features):
    """Float64 vectors of validated ``codes`` as :func:`rescore` scores them."""
    if quantizer.dtype == "binary":
        bits = np.unpackbits(codes, axis=1, count=n_features).astype(np.float64)
        return 2 * bits - 1
    return host_view(quantizer)._dequantize(codes)
