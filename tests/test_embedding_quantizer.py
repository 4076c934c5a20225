"""EmbeddingQuantizer, hamming_similarity and rescore: the round trip within
half a step, clipping, bit packing against a direct computation, exact Hamming
similarity, rescoring against a brute-force numpy reference."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.exceptions import NotFittedError

from sknorm import EmbeddingQuantizer, hamming_similarity, rescore
from sknorm.embedding import MIN_FIT_ROWS

embeddings = arrays(
    st.sampled_from([np.float64, np.float32]),
    st.tuples(st.integers(2, 40), st.integers(1, 12)),
    elements=st.floats(-100, 100, width=32),
)


@settings(max_examples=60, deadline=None)
@given(X=embeddings, dtype=st.sampled_from(["int8", "uint8"]))
def test_round_trip_error_is_at_most_half_a_step(X, dtype):
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(X)
    codes = quantizer.transform(X)
    assert codes.dtype == dtype and codes.shape == X.shape
    back = quantizer.inverse_transform(codes)
    error = np.abs(back - X.astype(np.float64))
    half_step = quantizer.step_ / 2
    # Exact up to the rounding of the bin center (a few ulps of the values).
    slack = 4 * np.finfo(np.float64).eps * np.abs(X).max(axis=0)
    assert np.all(error <= half_step + slack)


def test_codes_cover_the_range_in_equal_bins():
    X = np.linspace(0.0, 1.0, 257)[:, None]  # bin edges k / 256
    for dtype, first in (("int8", -128), ("uint8", 0)):
        codes = EmbeddingQuantizer(dtype=dtype).fit(X).transform(X).ravel()
        expected = np.minimum(np.arange(257), 255) + first
        np.testing.assert_array_equal(codes, expected)


def test_values_outside_the_range_are_clipped():
    X = np.array([[0.0, 10.0], [1.0, 20.0]])
    quantizer = EmbeddingQuantizer(dtype="int8").fit(X)
    new = np.array([[-5.0, 25.0], [0.5, 15.0], [7.0, 9.0]])
    codes = quantizer.transform(new)
    np.testing.assert_array_equal(codes, [[-128, 127], [0, 0], [127, -128]])
    back = quantizer.inverse_transform(codes)
    np.testing.assert_allclose(back[0], [0.5 / 256, 20 - 5 / 256])
    np.testing.assert_allclose(back[1], [0.5 + 0.5 / 256, 15 + 5 / 256])


def test_constant_dimension_is_finite_and_recovered_within_half_step():
    X = np.column_stack([np.full(10, 1e9), np.linspace(-1, 1, 10)])
    quantizer = EmbeddingQuantizer().fit(X)
    assert quantizer.step_[0] == 1 / 256
    back = quantizer.inverse_transform(quantizer.transform(X))
    assert np.abs(back[:, 0] - 1e9).max() <= 1 / 512


def test_zero_weight_rows_do_not_widen_the_range():
    X = np.array([[0.0], [1.0], [100.0]])
    quantizer = EmbeddingQuantizer().fit(X, sample_weight=[1, 2, 0])
    assert quantizer.upper_[0] == 1.0


@pytest.mark.parametrize("n_features", [1, 7, 8, 9, 384])
@pytest.mark.parametrize("center", ["mean", None])
def test_binary_packing_matches_bits_computed_directly(n_features, center):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(50, n_features)) + 0.3
    quantizer = EmbeddingQuantizer(dtype="binary", center=center).fit(X)
    packed = quantizer.transform(X.astype(np.float32))
    n_bytes = -(-n_features // 8)
    assert packed.dtype == np.uint8 and packed.shape == (50, n_bytes)
    assert quantizer.bytes_per_vector_ == quantizer.n_features_out_ == n_bytes
    threshold = X.mean(axis=0) if center == "mean" else np.zeros(n_features)
    np.testing.assert_allclose(quantizer.center_, threshold, rtol=1e-12, atol=1e-15)
    bits = X.astype(np.float32) > threshold
    # Dimension j is bit 7 - j % 8 (most significant first) of byte j // 8.
    weights = 2 ** (7 - np.arange(n_features) % 8)
    for byte in range(n_bytes):
        columns = slice(8 * byte, 8 * byte + 8)
        expected = (bits[:, columns] * weights[columns]).sum(axis=1)
        np.testing.assert_array_equal(packed[:, byte], expected)
    assert list(quantizer.get_feature_names_out()) == [
        f"embeddingquantizer{i}" for i in range(n_bytes)
    ]


def test_bytes_per_vector():
    X = np.random.default_rng(0).normal(size=(5, 384))
    assert EmbeddingQuantizer(dtype="int8").fit(X).bytes_per_vector_ == 384
    assert EmbeddingQuantizer(dtype="uint8").fit(X).bytes_per_vector_ == 384
    assert EmbeddingQuantizer(dtype="binary").fit(X).bytes_per_vector_ == 48


def test_binary_has_no_inverse_and_says_why():
    quantizer = EmbeddingQuantizer(dtype="binary")
    assert not hasattr(quantizer, "inverse_transform")
    with pytest.raises(AttributeError) as error:
        quantizer.inverse_transform
    assert "one bit per dimension" in str(error.value.__cause__)


@settings(max_examples=40, deadline=None)
@given(
    bits_a=arrays(np.bool_, st.tuples(st.integers(1, 6), st.integers(1, 40))),
    data=st.data(),
)
def test_hamming_similarity_counts_equal_bits(bits_a, data):
    n_bits = bits_a.shape[1]
    bits_b = data.draw(arrays(np.bool_, st.tuples(st.integers(1, 6), st.just(n_bits))))
    A, B = np.packbits(bits_a, axis=1), np.packbits(bits_b, axis=1)
    similarity = hamming_similarity(A, B, n_bits=n_bits)
    expected = (bits_a[:, None, :] == bits_b[None, :, :]).mean(axis=2)
    np.testing.assert_array_equal(similarity, expected)
    np.testing.assert_array_equal(np.diag(hamming_similarity(A, n_bits=n_bits)), 1)


def test_hamming_similarity_rejects_mismatched_input():
    A = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="same number of bytes"):
        hamming_similarity(A, np.zeros((2, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="uint8 array of packed bits"):
        hamming_similarity(A.astype(np.int64))
    with pytest.raises(ValueError, match=r"n_bits must lie in \[17, 24\]"):
        hamming_similarity(A, n_bits=25)


def test_quantile_range_clips_the_outliers_of_the_training_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    X[0] = 1e3  # one outlier would stretch min/max bins 100-fold
    quantizer = EmbeddingQuantizer(quantile_range=(1, 99)).fit(X)
    np.testing.assert_array_equal(quantizer.lower_, np.percentile(X, 1, axis=0))
    np.testing.assert_array_equal(quantizer.upper_, np.percentile(X, 99, axis=0))
    codes = quantizer.transform(X)
    assert (codes[0] == 127).all()
    inside = (X >= quantizer.lower_) & (X <= quantizer.upper_)
    error = np.abs(quantizer.inverse_transform(codes) - X)
    half_step = np.broadcast_to(quantizer.step_ / 2, X.shape)
    slack = 4 * np.finfo(np.float64).eps * np.abs(X[inside]).max()  # rounding
    assert np.all(error[inside] <= half_step[inside] + slack)
    full = EmbeddingQuantizer(quantile_range=(0, 100)).fit(X)
    np.testing.assert_array_equal(full.lower_, X.min(axis=0))
    np.testing.assert_array_equal(full.upper_, X.max(axis=0))


@pytest.mark.parametrize(
    "params", [{"quantile_range": (5, 95)}, {"dtype": "binary", "center": "median"}]
)
def test_quantiles_weighted_equal_repeated(params):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 4))
    # Weights are relative: equal weights are the rows kept, unweighted.
    weight = 3 * rng.integers(0, 2, size=60)
    weighted = EmbeddingQuantizer(**params).fit(X, sample_weight=weight)
    repeated = EmbeddingQuantizer(**params).fit(X[weight > 0])
    np.testing.assert_array_equal(weighted.transform(X), repeated.transform(X))


def _rank(column, value):
    return np.searchsorted(np.sort(column), value) / column.shape[0]


def test_streamed_quantiles_are_exact_while_small_and_within_the_bound_after():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.lognormal(size=100_000), rng.standard_cauchy(100_000)])
    small = EmbeddingQuantizer(quantile_range=(5, 95))
    for chunk in np.array_split(X[:240], 3):
        small.partial_fit(chunk)
    exact = EmbeddingQuantizer(quantile_range=(5, 95)).fit(X[:240])
    np.testing.assert_array_equal(small.lower_, exact.lower_)
    np.testing.assert_array_equal(small.upper_, exact.upper_)

    streamed = EmbeddingQuantizer(dtype="binary", center="median")
    for chunk in np.array_split(X, 30):
        streamed.partial_fit(chunk)
    for j in range(2):
        assert abs(_rank(X[:, j], streamed.center_[j]) - 0.5) < 0.01
    # partial_fit after fit continues from (a sample of) the fitted data.
    continued = EmbeddingQuantizer(dtype="binary", center="median").fit(X[:70_000])
    continued.partial_fit(X[70_000:] + 10.0)
    shifted = np.concatenate([X[:70_000], X[70_000:] + 10.0])
    for j in range(2):
        assert abs(_rank(shifted[:, j], continued.center_[j]) - 0.5) < 0.015


def test_median_threshold_sets_half_of_the_bits():
    X = np.random.default_rng(2).lognormal(size=(101, 16))
    quantizer = EmbeddingQuantizer(dtype="binary", center="median").fit(X)
    np.testing.assert_array_equal(quantizer.center_, np.median(X, axis=0))
    bits = np.unpackbits(quantizer.transform(X), axis=1)
    np.testing.assert_array_equal(bits.sum(axis=0), 50)  # 50 above, 1 at, 50 below


@pytest.mark.parametrize("bounds", [(5,), (50, 50), (-1, 50), (10, 101), ("a", 9)])
def test_invalid_quantile_range_is_explained(bounds):
    with pytest.raises(ValueError, match="quantile_range must be two percentiles"):
        EmbeddingQuantizer(quantile_range=bounds).fit(np.ones((3, 2)))


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_constant_dimensions_decode_exactly(dtype):
    X = np.column_stack([np.full(10, 1e9), np.full(10, -0.1), np.linspace(-1, 1, 10)])
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(X)
    back = quantizer.inverse_transform(quantizer.transform(X))
    np.testing.assert_array_equal(back[:, :2], X[:, :2])
    assert np.abs(back[:, 2] - X[:, 2]).max() <= quantizer.step_[2] / 2


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_large_offset_exact_values_keep_their_bins(dtype):
    """``2**60 + 4096 k`` is exact in float64: the range 4096 * 255 is not
    negligible, the codes are k, and values come back within half a step."""
    k = np.arange(256)
    X = np.column_stack([2.0**60 + 4096.0 * k, 2.0**60 + 4096.0 * (k % 7)])
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(X)
    np.testing.assert_array_equal(quantizer.step_, [4096 * 255 / 256, 4096 * 6 / 256])
    codes = quantizer.transform(X).astype(int) - (-128 if dtype == "int8" else 0)
    # Exact bin index: floor(k * 256 / 255), the last value in the last bin.
    np.testing.assert_array_equal(codes[:, 0], np.minimum(k * 256 // 255, 255))
    back = quantizer.inverse_transform(quantizer.transform(X))
    # Exact arithmetic (integers): the error of the bin center, plus half an
    # ulp of 2**60 (256) for its rounding.
    error = np.abs(back - X)
    assert np.all(error <= quantizer.step_ / 2 + 128)


def test_ranges_near_the_float64_maximum():
    X = np.array([[-1.7e308, 0.0], [1.7e308, 1.0], [0.0, 0.5], [1e308, 0.25]])
    quantizer = EmbeddingQuantizer(dtype="uint8").fit(X)
    assert np.isfinite(quantizer.step_).all()
    np.testing.assert_allclose(quantizer.step_[0], 1.7e308 / 128, rtol=1e-15)
    codes = quantizer.transform(X)
    np.testing.assert_array_equal(codes[:, 0], [0, 255, 128, 203])  # closed form
    back = quantizer.inverse_transform(codes)
    assert np.isfinite(back).all()
    slack = 4 * np.finfo(np.float64).eps * np.abs(X)  # rounding of the centers
    assert np.all(np.abs(back - X) <= quantizer.step_ / 2 + slack)


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        (np.zeros((2, 3), dtype=np.float64), "integer codes"),
        (np.zeros((2, 3), dtype=bool), "integer codes"),
        (np.full((2, 3), 128, dtype=np.int64), r"\[-128, 127\]"),
        (np.full((2, 3), -129, dtype=np.int16), r"\[-128, 127\]"),
        (np.zeros((2, 2), dtype=np.int8), "3 features"),
    ],
)
def test_invalid_codes_are_explained(codes, message):
    X = np.random.default_rng(0).normal(size=(20, 3))
    quantizer = EmbeddingQuantizer(dtype="int8").fit(X)
    with pytest.raises(ValueError, match=message):
        quantizer.inverse_transform(codes)
    uint8 = EmbeddingQuantizer(dtype="uint8").fit(X)
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        uint8.inverse_transform(np.full((2, 3), -1, dtype=np.int64))
    np.testing.assert_array_equal(
        quantizer.inverse_transform(quantizer.transform(X).astype(np.int64)),
        quantizer.inverse_transform(quantizer.transform(X)),
    )


@pytest.mark.parametrize(
    ("n_bits", "message"),
    [
        (3.7, "n_bits must be an integer"),
        (True, "n_bits must be an integer"),
        (-1, r"n_bits must lie in \[1, 8\]"),
        (0, r"n_bits must lie in \[1, 8\]"),
        (9, r"n_bits must lie in \[1, 8\]"),
    ],
)
def test_hamming_similarity_rejects_invalid_n_bits(n_bits, message):
    A = np.packbits(np.eye(4, 5, dtype=np.uint8), axis=1)
    with pytest.raises(ValueError, match=message):
        hamming_similarity(A, n_bits=n_bits)
    wide = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"\[17, 24\] for 3 byte\(s\)"):
        hamming_similarity(wide, n_bits=10)  # too many bytes for 10 bits
    np.testing.assert_array_equal(
        hamming_similarity(A, n_bits=np.int64(5)), hamming_similarity(A, n_bits=5)
    )


def test_binary_codes_of_the_wrong_width_are_rejected():
    X = np.random.default_rng(0).normal(size=(20, 10))
    bits = EmbeddingQuantizer(dtype="binary").fit(X)
    codes = bits.transform(X)
    assert codes.shape == (20, 2)
    with pytest.raises(ValueError, match="same number of bytes"):
        hamming_similarity(codes, codes[:, :1])
    np.testing.assert_array_equal(np.diag(hamming_similarity(codes, n_bits=10)), 1.0)


# ---------------------------------------------------------------------------
# The warning on small fits
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, fitted",
    [
        ({"dtype": "int8"}, "ranges"),
        ({"dtype": "uint8", "quantile_range": (1, 99)}, "ranges"),
        ({"dtype": "binary"}, "thresholds"),
        ({"dtype": "binary", "center": "median"}, "thresholds"),
    ],
)
def test_fit_on_fewer_than_min_rows_warns(params, fitted):
    assert MIN_FIT_ROWS == 100
    X = np.random.default_rng(0).normal(size=(MIN_FIT_ROWS, 3))
    message = rf"fitted on 99 row\(s\): its per-dimension {fitted} are unreliable"
    with pytest.warns(UserWarning, match=message) as record:
        EmbeddingQuantizer(**params).fit(X[:-1])
    # The warning names the line that called fit.
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EmbeddingQuantizer(**params).fit(X)


def test_partial_fit_warns_until_the_rows_seen_add_up():
    X = np.random.default_rng(0).normal(size=(MIN_FIT_ROWS, 3))
    quantizer = EmbeddingQuantizer()
    with pytest.warns(UserWarning, match=r"fitted on 60 row\(s\)"):
        quantizer.partial_fit(X[:60])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantizer.partial_fit(X[60:])
    assert quantizer.n_samples_seen_ == MIN_FIT_ROWS


def test_sign_threshold_fits_nothing_and_does_not_warn():
    X = np.random.default_rng(0).normal(size=(5, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EmbeddingQuantizer(dtype="binary", center=None).fit(X)


# ---------------------------------------------------------------------------
# rescore
# ---------------------------------------------------------------------------


def _stored_and_queries(n_stored=150, n_queries=7, n_features=13, seed=0):
    rng = np.random.default_rng(seed)
    stored = rng.normal(size=(n_stored, n_features)) + 0.2
    queries = rng.normal(size=(n_queries, n_features))
    return stored, queries


def _reference_vectors(quantizer, stored):
    """The stored vectors as rescoring sees them, from the fitted attributes:
    bin centers ``lower_ + (bin + 0.5) * step_``, or the bits ``stored >
    center_`` as ±1."""
    if quantizer.dtype == "binary":
        return np.where(stored > quantizer.center_, 1.0, -1.0)
    offset = -128 if quantizer.dtype == "int8" else 0
    bins = quantizer.transform(stored).astype(np.int64) - offset
    return quantizer.lower_ + (bins + 0.5) * quantizer.step_


def _reference_rescore(queries, vectors, candidates, k):
    """Per query: score each present candidate, sort by (-score, position)."""
    indices, scores = [], []
    for query, found in zip(queries, candidates, strict=True):
        scored = [
            (-float(query @ vectors[c]), position, int(c))
            for position, c in enumerate(found)
            if c >= 0
        ]
        best = sorted(scored)[:k]
        width = min(k, len(found))
        pad = width - len(best)
        indices.append([c for _, _, c in best] + [-1] * pad)
        scores.append([-s for s, _, _ in best] + [-np.inf] * pad)
    return np.array(indices), np.array(scores)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "binary"])
@pytest.mark.parametrize("k", [1, 4, 10])
def test_rescore_matches_brute_force(dtype, k):
    stored, queries = _stored_and_queries()
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(stored)
    codes = quantizer.transform(stored)
    rng = np.random.default_rng(1)
    candidates = np.array([rng.permutation(len(stored))[:25] for _ in queries])
    candidates[0, [3, 7]] = -1  # missing candidates, as FAISS pads
    candidates[1, 5] = candidates[1, 2]  # a repeated candidate
    kept = (codes.copy(), candidates.copy(), queries.copy())
    indices, scores = rescore(queries, codes, candidates, quantizer=quantizer, k=k)
    vectors = _reference_vectors(quantizer, stored)
    expected_indices, expected_scores = _reference_rescore(
        queries, vectors, candidates, k
    )
    assert indices.shape == scores.shape == (len(queries), k)
    assert indices.dtype == np.intp and scores.dtype == np.float64
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12, atol=1e-12)
    # The repeated candidate ties with itself: the earlier position first.
    np.testing.assert_array_equal(indices, expected_indices)
    for kept_array, argument in zip(kept, (codes, candidates, queries), strict=True):
        np.testing.assert_array_equal(kept_array, argument)  # inputs untouched


@pytest.mark.parametrize("dtype", ["int8", "binary"])
def test_rescore_of_every_vector_is_the_exact_search_of_the_stored_vectors(dtype):
    stored, queries = _stored_and_queries(n_features=16)
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(stored)
    codes = quantizer.transform(stored)
    every = np.tile(np.arange(len(stored)), (len(queries), 1))
    indices, scores = rescore(queries, codes, every, quantizer=quantizer, k=5)
    exact = queries @ _reference_vectors(quantizer, stored).T
    np.testing.assert_allclose(scores, -np.sort(-exact, axis=1)[:, :5], rtol=1e-12)
    np.testing.assert_allclose(
        np.take_along_axis(exact, indices, axis=1), scores, rtol=1e-12
    )


@pytest.mark.parametrize("dtype", ["int8", "binary"])
def test_rescore_with_fewer_candidates_than_k(dtype):
    stored, queries = _stored_and_queries(n_queries=3)
    quantizer = EmbeddingQuantizer(dtype=dtype).fit(stored)
    codes = quantizer.transform(stored)
    candidates = np.array([[4, 9, 2], [-1, 8, -1], [-1, -1, -1]])
    indices, scores = rescore(queries, codes, candidates, quantizer=quantizer, k=10)
    assert indices.shape == scores.shape == (3, 3)
    vectors = _reference_vectors(quantizer, stored)
    expected_indices, expected_scores = _reference_rescore(
        queries, vectors, candidates, 10
    )
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-12)
    assert set(indices[0]) == {4, 9, 2}
    np.testing.assert_array_equal(indices[1:, 1:], -1)
    assert indices[1, 0] == 8 and np.isneginf(scores[1:, 1:]).all()
    assert np.isneginf(scores[2]).all() and (indices[2] == -1).all()
    # No candidate column at all: no result column.
    empty = np.empty((3, 0), dtype=np.intp)
    indices, scores = rescore(queries, codes, empty, quantizer=quantizer)
    assert indices.shape == scores.shape == (3, 0)
    # Nothing stored: every candidate is missing.
    none = np.full((3, 2), -1)
    indices, scores = rescore(queries, codes[:0], none, quantizer=quantizer)
    np.testing.assert_array_equal(indices, none)
    assert np.isneginf(scores).all()


def test_rescore_takes_float32_queries_and_lists():
    stored, queries = _stored_and_queries(n_queries=2)
    quantizer = EmbeddingQuantizer().fit(stored)
    codes = quantizer.transform(stored)
    candidates = [[0, 1, 2, 3], [4, 5, 6, 7]]
    expected = rescore(queries, codes, np.array(candidates), quantizer=quantizer, k=2)
    single = rescore(
        queries.astype(np.float32).tolist(), codes, candidates, quantizer=quantizer, k=2
    )
    np.testing.assert_array_equal(single[0], expected[0])
    np.testing.assert_allclose(single[1], expected[1], rtol=1e-6)


def _bad_rescore_calls():
    stored, queries = _stored_and_queries(n_queries=2, n_features=10)
    scalar = EmbeddingQuantizer().fit(stored)
    binary = EmbeddingQuantizer(dtype="binary").fit(stored)
    codes, bits = scalar.transform(stored), binary.transform(stored)
    candidates = np.array([[0, 1], [2, 3]])
    return [
        (
            (queries[:, :9], codes, candidates, scalar),
            "queries have 9 features, but the quantizer was fitted on 10",
        ),
        ((queries, codes[:, :9], candidates, scalar), "codes have 9 columns"),
        ((queries, bits[:, :1], candidates, binary), "codes have 1 columns"),
        ((queries, codes[:, :2], candidates, binary), "dtype uint8, got dtype int8"),
        ((queries, codes.view(np.uint8), candidates, scalar), r"lie in \[-128, 127\]"),
        ((queries, codes.astype(float), candidates, scalar), "integer codes"),
        ((queries, codes, candidates[:1], scalar), "one row per query"),
        ((queries, codes, [[0, 1], [2]], scalar), "rows of different lengths"),
        ((queries, codes, candidates[0], scalar), r"got shape \(2,\)"),
        ((queries, codes, candidates * 0.5, scalar), "integer row indices"),
        ((queries, codes, candidates + 148, scalar), r"in \[0, 150\), or -1"),
        ((queries, codes, candidates - 3, scalar), "values from -3 to 0"),
        (
            (queries, codes, candidates, EmbeddingQuantizer()),
            "EmbeddingQuantizer instance is not fitted",
        ),
    ]


@pytest.mark.parametrize("call", range(len(_bad_rescore_calls())))
def test_rescore_rejects_bad_input_saying_why(call):
    (queries, codes, candidates, quantizer), message = _bad_rescore_calls()[call]
    with pytest.raises((ValueError, NotFittedError), match=message):
        rescore(queries, codes, candidates, quantizer=quantizer)


def test_rescore_validates_its_parameters():
    stored, queries = _stored_and_queries(n_queries=2)
    quantizer = EmbeddingQuantizer().fit(stored)
    codes = quantizer.transform(stored)
    with pytest.raises(ValueError, match="'k' parameter of rescore must be"):
        rescore(queries, codes, [[0], [1]], quantizer=quantizer, k=0)
    with pytest.raises(ValueError, match="'quantizer' parameter of rescore must be"):
        rescore(queries, codes, [[0], [1]], quantizer="int8")
