"""EmbeddingNormalizer: each map against a numpy float64 reference, singular and
n < d covariances, float32 accuracy, parameter errors, feature names;
``input_norm`` against fits on scikit-learn's normalized rows, and
``shrinkage="auto"`` against scikit-learn's OAS."""

from functools import partial

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.decomposition import PCA

from sknorm import EmbeddingNormalizer
from sknorm.embedding import EIGENVALUE_FLOOR

from ._tolerances import (
    EPS,
    assert_close,
    assert_rows_close,
    eigenvalue_atol,
    inverse_sqrt_rtol,
    mean_atol,
    sum_rtol,
    unit_rows_atol,
)

#: The normalizer on the raw input rows (``input_norm=None``): the numpy
#: references of the maps below are computed on X itself. ``input_norm`` is
#: tested against fits on normalized rows at the end of the module.
_raw = partial(EmbeddingNormalizer, input_norm=None)


def _embeddings(n_samples=300, n_features=16, seed=0, dtype=np.float64):
    """Correlated features with a common offset and a dominant direction, like
    sentence embeddings."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n_features, n_features)) / np.sqrt(n_features)
    X = rng.normal(size=(n_samples, n_features)) @ mixing
    X += 4.0 * rng.normal(size=(n_samples, 1)) * rng.normal(size=n_features)
    X += rng.normal(size=n_features)
    return X.astype(dtype)


def _unit_rows(Y):
    return Y / np.linalg.norm(Y, axis=1, keepdims=True)


def _eig(X, center=True):
    """Reference eigendecomposition (descending) of the biased covariance."""
    C = np.cov(X.T, bias=True) if center else X.T @ X / len(X)
    values, vectors = np.linalg.eigh(C)
    return values[::-1], vectors[:, ::-1]


def _same_up_to_column_signs(A, B, rtol=1e-9):
    signs = np.sign(np.sum(A * B, axis=0))
    np.testing.assert_allclose(A * signs, B, rtol=rtol, atol=rtol)


def test_centering_then_unit_rows():
    X = _embeddings()
    result = _raw(center=True).fit(X).transform(X)
    # sknorm's mean and numpy's sum in different orders (mean_atol); the
    # centred rows' small entries cancel, so the bound is per row, in norm.
    centered = X - X.mean(axis=0)
    bound = unit_rows_atol(centered, mean_atol(X))
    assert_rows_close(result, _unit_rows(centered), bound)
    uncentered = _raw(center=False).fit(X).transform(X)
    assert_rows_close(uncentered, _unit_rows(X), unit_rows_atol(X))


@pytest.mark.parametrize("n_remove", [1, 3])
def test_all_but_the_top_removes_top_directions(n_remove):
    X = _embeddings()
    est = _raw(n_remove=n_remove).fit(X)
    _, vectors = _eig(X)
    top = vectors[:, :n_remove]
    centered = X - X.mean(axis=0)
    expected = _unit_rows(centered - centered @ top @ top.T)
    np.testing.assert_allclose(est.transform(X), expected, rtol=1e-9, atol=1e-12)
    assert est.get_feature_names_out().tolist() == [f"x{i}" for i in range(16)]


def test_pca_whitening_matches_scikit_learn_pca_after_normalization():
    X = _embeddings()
    est = _raw(whiten="pca", n_components=5, norm=None).fit(X)
    whitened = est.transform(X)
    # Unit variance, uncorrelated (biased covariance: divided by n).
    np.testing.assert_allclose(np.cov(whitened.T, bias=True), np.eye(5), atol=1e-10)
    reference = PCA(n_components=5, whiten=True, svd_solver="full").fit(X)
    # scikit-learn divides by n - 1: the same directions, scaled alike.
    _same_up_to_column_signs(
        _unit_rows(whitened),
        _unit_rows(reference.transform(X)),
    )
    normalized = _raw(whiten="pca", n_components=5).fit(X)
    np.testing.assert_allclose(normalized.transform(X), _unit_rows(whitened))


def test_zca_whitening_is_symmetric_and_whitens():
    X = _embeddings()
    est = _raw(whiten="zca", norm=None).fit(X)
    np.testing.assert_allclose(est.projection_, est.projection_.T, atol=1e-12)
    whitened = est.transform(X)
    np.testing.assert_allclose(np.cov(whitened.T, bias=True), np.eye(16), atol=1e-9)
    values, vectors = _eig(X)
    expected = vectors @ np.diag(values**-0.5) @ vectors.T
    np.testing.assert_allclose(est.projection_, expected, rtol=1e-8, atol=1e-10)


def test_shrinkage_and_soft_power_follow_their_formulas():
    X = _embeddings()
    a, power = 0.3, -0.25
    est = _raw(whiten="zca", shrinkage=a, power=power, norm=None)
    est.fit(X)
    C = np.cov(X.T, bias=True)
    shrunk = (1 - a) * C + a * np.trace(C) / 16 * np.eye(16)
    values, vectors = np.linalg.eigh(shrunk)
    expected = vectors @ np.diag(values**power) @ vectors.T
    np.testing.assert_allclose(est.projection_, expected, rtol=1e-8, atol=1e-10)
    # power=0 whitens nothing: ZCA is the identity.
    identity = _raw(whiten="zca", power=0.0).fit(X)
    np.testing.assert_allclose(identity.projection_, np.eye(16), atol=1e-12)


def test_n_components_without_whitening_projects_on_principal_axes():
    X = _embeddings()
    est = _raw(n_components=4, norm=None).fit(X)
    _, vectors = _eig(X)
    _same_up_to_column_signs(est.transform(X), (X - X.mean(axis=0)) @ vectors[:, :4])
    assert est.n_features_out_ == 4
    assert list(est.get_feature_names_out()) == [
        f"embeddingnormalizer{i}" for i in range(4)
    ]


def test_removal_then_components_keeps_the_next_directions():
    X = _embeddings()
    est = _raw(n_remove=2, whiten="pca", n_components=3).fit(X)
    np.testing.assert_allclose(
        est.projection_,
        est.components_[2:5].T * est.explained_variance_[2:5] ** -0.5,
    )


def test_truncate_dim_keeps_leading_outputs_then_renormalizes():
    X = _embeddings()
    est = _raw(center=True, truncate_dim=6).fit(X)
    expected = _unit_rows((X - X.mean(axis=0))[:, :6])
    np.testing.assert_allclose(est.transform(X), expected, rtol=1e-12)
    assert list(est.get_feature_names_out(list("abcdefghijklmnop"))) == list("abcdef")
    zca = _raw(whiten="zca", truncate_dim=6, norm=None).fit(X)
    full = _raw(whiten="zca", norm=None).fit(X)
    np.testing.assert_allclose(zca.transform(X), full.transform(X)[:, :6])


@pytest.mark.parametrize(
    "params",
    [
        {"whiten": "pca"},
        {"whiten": "zca"},
        {"whiten": "pca", "center": False},
        {"whiten": "zca", "power": -0.3},
        {"n_remove": 3, "whiten": "zca"},
    ],
)
@pytest.mark.parametrize("norm", ["l2", None])
def test_fewer_samples_than_dimensions_never_gives_nan(params, norm):
    rng = np.random.default_rng(1)
    X = _embeddings(n_samples=10, n_features=50)
    est = _raw(**params, norm=norm).fit(X)
    new = _embeddings(n_samples=30, n_features=50, seed=2)
    for data in (X, new, np.zeros((2, 50)), rng.normal(size=(5, 50)) * 1e3):
        result = est.transform(data)
        assert np.isfinite(result).all()
    assert np.isfinite(est.projection_).all()
    # At most 10 directions hold data; the others were floored, not inverted.
    assert np.sum(est.explained_variance_ > 1e-12) <= 10
    if norm == "l2":
        np.testing.assert_allclose(np.linalg.norm(est.transform(new), axis=1), 1.0)


def test_singular_covariance_floor_bounds_the_amplification():
    X = _embeddings(n_features=8)
    tiny = 1e-3 * np.random.default_rng(3).normal(size=len(X))  # real, small
    # rank 9 of 11: a sum of columns and a constant column have no variance.
    X = np.column_stack([X, tiny, X[:, 0] + X[:, 1], np.full(len(X), 3.0)])
    est = _raw(whiten="pca", norm=None).fit(X)
    scale = np.linalg.norm(est.projection_, axis=0)
    assert np.isfinite(scale).all()
    # The small direction is scaled by floor**-0.5 times the top one's, ...
    values, _ = _eig(X)
    assert values[-3] < EIGENVALUE_FLOOR * values[0]
    np.testing.assert_allclose(
        scale[-3], (EIGENVALUE_FLOOR * values[0]) ** -0.5, rtol=1e-9
    )
    assert scale[:-2].max() / scale[0] <= EIGENVALUE_FLOOR**-0.5 * (1 + 1e-9)
    # ... the directions without variance are not whitened: scale 1.
    np.testing.assert_allclose(scale[-2:], 1.0, rtol=1e-12)
    assert est.explained_variance_[-2:] == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("params", [{"whiten": "zca"}, {"whiten": "pca"}])
@pytest.mark.parametrize("X", [np.array([[1.0, -2.0, 5.0]]), np.full((20, 3), 7.0)])
def test_one_sample_and_constant_data_only_center(params, X):
    """No variance: nothing is whitened (no 1000 * (x - mean) gain); the map
    centers and, for PCA, rotates, like a scaler's constant feature rule."""
    est = _raw(**params, norm=None).fit(X)
    new = np.array([[2.0, 0.0, 5.0], X[0], [-3.0, 4.0, 1e3]])
    expected = new - X[0]  # closed form
    result = est.transform(new)
    if params["whiten"] == "zca":
        np.testing.assert_allclose(result, expected, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(
        np.linalg.norm(result, axis=1), np.linalg.norm(expected, axis=1), rtol=1e-15
    )
    normalized = _raw(**params).fit(X).transform(new)
    np.testing.assert_allclose(
        np.linalg.norm(normalized, axis=1), [1.0, 0.0, 1.0], rtol=1e-15
    )
    np.testing.assert_array_equal(est.transform(X), 0.0)  # zero rows stay zero


_SCALE_PARAMS = [
    {"whiten": "pca"},
    {"whiten": "zca"},
    {"whiten": "zca", "center": False},
    {"whiten": "pca", "shrinkage": 0.3},
    {"whiten": "zca", "power": -0.25},
    {"n_remove": 2, "whiten": "pca", "n_components": 4},
]


@pytest.mark.parametrize("params", _SCALE_PARAMS)
@pytest.mark.parametrize("exponent", [-1000, -530, -20, 20, 530, 1000])
def test_whitening_is_scale_invariant_for_powers_of_two(params, exponent):
    X = _embeddings(n_samples=120, n_features=8)
    c = 2.0**exponent
    reference = _raw(**params).fit(X)
    scaled = _raw(**params).fit(X * c)
    result = scaled.transform(X * c)
    assert np.isfinite(result).all()
    if params.get("power") is None:
        # Dividing by a power of two is exact: the same bits.
        np.testing.assert_array_equal(result, reference.transform(X))
        np.testing.assert_array_equal(scaled.projection_ * c, reference.projection_)
    else:
        # Soft whitening keeps a factor c ** (1 + 2 power) (closed form),
        # which the row normalization removes.
        factor = 2.0 ** (exponent * (1 + 2 * params["power"]))
        unnormalized = clone(scaled).set_params(norm=None).fit(X * c)
        np.testing.assert_allclose(
            unnormalized.transform(X * c),
            factor * clone(unnormalized).fit(X).transform(X),
            rtol=1e-13,
        )
    np.testing.assert_array_equal(scaled.mean_, reference.mean_ * c)


@pytest.mark.parametrize("params", [p for p in _SCALE_PARAMS if "power" not in p])
def test_whitening_rows_below_the_normal_range_is_a_clear_error(params):
    """Rows of subnormal values have variances near 1e-620: their full
    whitening scale lies beyond the float64 range. fit says so (it used to fit an
    infinite projection_, and transform then named infinity in its output);
    the same rows times 2**1000 (exact) whiten as any others."""
    X = _embeddings(n_samples=120, n_features=8) * 1e-310
    with pytest.raises(ValueError, match="scale beyond the float64 range"):
        _raw(**params).fit(X)
    assert np.isfinite(_raw(**params).fit_transform(np.ldexp(X, 1000))).all()


@pytest.mark.parametrize("params", _SCALE_PARAMS[:4])
@pytest.mark.parametrize("c", [3.7e250, 1e-250, 7.0])
def test_whitening_of_scaled_data_matches_the_numpy_reference(params, c):
    """Other factors: near-equal to a float64 numpy whitening of the unscaled
    data."""
    X = _embeddings(n_samples=120, n_features=8)
    result = _raw(**params, norm=None).fit(X * c).transform(X * c)
    center = params.get("center", True)
    values, vectors = _eig(X, center=center)
    a = params.get("shrinkage", 0.0)
    values = (1 - a) * values + a * values.mean()
    centered = X - X.mean(axis=0) if center else X
    expected = centered @ vectors / np.sqrt(values)
    if params["whiten"] == "zca":
        expected = expected @ vectors.T
        np.testing.assert_allclose(result, expected, rtol=1e-9, atol=1e-9)
    else:
        _same_up_to_column_signs(result, expected, rtol=1e-9)


def test_whitening_near_the_float64_maximum():
    X = _embeddings(n_samples=100, n_features=6)
    X /= np.abs(X).max()
    big = X * 8e307  # squares and sums overflow without the scaling
    est = _raw(whiten="zca", norm=None).fit(big)
    whitened = est.transform(big)
    np.testing.assert_allclose(np.cov(whitened.T, bias=True), np.eye(6), atol=1e-9)
    assert np.isinf(est.explained_variance_).all()  # beyond float64: reported inf
    np.testing.assert_allclose(est.inverse_transform(whitened), big, rtol=1e-9)


@pytest.mark.parametrize("params", [{"n_remove": 1}, {}])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_fit_with_a_large_mean_equals_the_dense_fit(params, weighted):
    rng = np.random.default_rng(5)
    X = 1e6 + rng.normal(size=(400, 6)) * np.array([1e-3, 1.0, 1.0, 1e-2, 5.0, 1.0])
    X[rng.random(400) < 0.2, 2] = 0.0  # mostly stored
    X[rng.random(400) < 0.8, 5] = 0.0  # mostly zeros
    weight = rng.random(400) if weighted else None
    dense = _raw(**params, norm=None).fit(X, sample_weight=weight)
    fitted = _raw(**params, norm=None)
    fitted.fit(sparse.csr_array(X), sample_weight=weight)
    # Sparse and dense sums in different orders.
    assert_close(fitted.mean_, dense.mean_, mean_atol(X, weight))
    # The covariance against the dense path's, relative to the variances.
    scatter = fitted._statistics_state["Covariance"]
    ref = dense._statistics_state["Covariance"]
    std = np.sqrt(np.diag(ref["scaled_cov"]))
    error = np.abs(scatter["scaled_cov"] - ref["scaled_cov"])
    assert (error / np.outer(std, std)).max() < 1e-10
    np.testing.assert_allclose(
        fitted.transform(X), dense.transform(X), rtol=1e-8, atol=1e-9
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_whitening_with_a_large_mean_whitens(weighted):
    """Values 1e6 + N(0, std) stored in a CSR matrix (std down to 3e-2): the
    naive sparse scatter ``X^T X - n mean mean^T`` lost most digits here."""
    rng = np.random.default_rng(6)
    X = 1e6 + rng.normal(size=(400, 4)) @ np.diag([3e-2, 1.0, 1e-1, 5.0])
    X[:, 1] += X[:, 3] / 2  # correlated
    weight = rng.random(400) if weighted else None
    est = _raw(whiten="zca", norm=None)
    est.fit(sparse.csr_array(X), sample_weight=weight)
    whitened = est.transform(X)
    # Against np.cov of the whitened data (a float64 reference).
    covariance = np.cov(whitened.T, aweights=weight, bias=True)
    np.testing.assert_allclose(covariance, np.eye(4), atol=1e-8)
    dense = _raw(whiten="zca", norm=None).fit(X, sample_weight=weight)
    np.testing.assert_allclose(whitened, dense.transform(X), rtol=1e-8, atol=1e-8)


def test_inverse_transform_checks_feature_names(df_module):
    X = _embeddings(n_samples=40, n_features=3)
    frame = df_module.DataFrame({n: X[:, i] for i, n in enumerate("abc")})
    zca = _raw(whiten="zca", norm=None).fit(frame)
    other = df_module.DataFrame({n: X[:, i] for i, n in enumerate("xyz")})
    with pytest.raises(ValueError, match="feature names should match"):
        zca.inverse_transform(other)
    with pytest.raises(ValueError, match="3 features"):
        zca.inverse_transform(X[:, :2])
    np.testing.assert_allclose(zca.inverse_transform(zca.transform(frame)), X)
    pca = _raw(whiten="pca", norm=None).fit(frame)
    with pytest.raises(ValueError, match="feature names of X should match"):
        pca.inverse_transform(frame)  # input names, not principal coordinates
    named = df_module.DataFrame(
        {n: X[:, i] for i, n in enumerate(pca.get_feature_names_out())}
    )
    pca.inverse_transform(named)
    pca.inverse_transform(X)  # plain arrays carry no names


def test_infinity_message_does_not_mention_missing_values():
    X = _embeddings(n_samples=10, n_features=3)
    X[4, 1] = np.inf
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 1") as error:
        _raw().fit(X)
    assert "NaN as missing" not in str(error.value)
    assert "neither NaN nor infinity" in str(error.value)


def test_zero_rows_stay_zero_and_eps_floors_small_rows():
    X = _embeddings()
    est = _raw(center=False, eps=1e-3).fit(X)
    data = np.vstack([np.zeros(16), np.full(16, 1e-6), X[:1]])
    result = est.transform(data)
    np.testing.assert_array_equal(result[0], 0.0)
    np.testing.assert_allclose(result[1], 1e-6 / 1e-3)  # divided by eps
    np.testing.assert_allclose(np.linalg.norm(result[2]), 1.0)


@pytest.mark.parametrize(
    "params", [{}, {"n_remove": 2}, {"whiten": "zca"}, {"whiten": "pca"}]
)
def test_float32_output_has_float32_accurate_cosines(params):
    X64 = _embeddings(n_samples=200, n_features=32)
    X32 = X64.astype(np.float32)
    est = _raw(**params).fit(X32)
    result = est.transform(X32)
    assert result.dtype == np.float32
    reference = est.transform(X32.astype(np.float64))
    cosines = result.astype(np.float64) @ result.T.astype(np.float64)
    np.testing.assert_allclose(cosines, reference @ reference.T, atol=1e-6)
    assert est.transform(X32.astype(np.float16)).dtype == np.float16


def test_statistics_fitted_on_training_data_only():
    X = _embeddings()
    train, test = X[:200], X[200:] + 5.0
    est = _raw(center=True).fit(train)
    np.testing.assert_allclose(est.mean_, train.mean(axis=0))
    expected = _unit_rows(test - train.mean(axis=0))
    np.testing.assert_allclose(est.transform(test), expected, rtol=1e-12)


def test_weighted_partial_fit_equals_weighted_fit():
    X = _embeddings()
    weight = np.random.default_rng(0).random(len(X))
    params = {"whiten": "pca", "n_components": 6}
    one_shot = _raw(**params).fit(X, sample_weight=weight)
    streamed = _raw(**params)
    for rows in np.array_split(np.arange(len(X)), 7):
        streamed.partial_fit(X[rows], sample_weight=weight[rows])
    np.testing.assert_allclose(streamed.transform(X), one_shot.transform(X), atol=1e-10)
    assert streamed.n_samples_seen_ == len(X)


def test_sparse_input_gives_dense_output_without_densifying_x():
    X = sparse.csr_array(sparse.random(200, 30, density=0.1, random_state=0))
    est = _raw(whiten="zca", shrinkage=0.1).fit(X)
    dense = _raw(whiten="zca", shrinkage=0.1).fit(X.toarray())
    result = est.transform(X)
    assert isinstance(result, np.ndarray)
    np.testing.assert_allclose(result, dense.transform(X.toarray()), atol=1e-10)


def test_pca_round_trip_in_principal_coordinates():
    X = _embeddings()
    est = _raw(whiten="pca", norm=None).fit(X)
    np.testing.assert_allclose(est.inverse_transform(est.transform(X)), X, atol=1e-10)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "norm='l2'"),
        ({"norm": None, "n_remove": 1}, "n_remove=1"),
        ({"norm": None, "n_components": 3}, "n_components=3"),
        ({"norm": None, "truncate_dim": 3}, "truncate_dim=3"),
    ],
)
def test_inverse_transform_explains_why_it_is_unavailable(params, reason):
    est = _raw(**params)
    assert not hasattr(est, "inverse_transform")
    with pytest.raises(AttributeError, match="no attribute 'inverse_transform'") as e:
        est.inverse_transform
    # The reason is the cause shown in the traceback.
    assert f"not invertible with {reason}" in str(e.value.__cause__)
    assert hasattr(_raw(norm=None, whiten="zca"), "inverse_transform")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"shrinkage": 0.2}, "shrinkage=0.2 only changes the whitening"),
        ({"power": -0.2}, "power=-0.2 only changes the whitening"),
        ({"n_remove": 5}, r"has 5 feature\(s\)"),
        ({"n_remove": 2, "n_components": 4}, "n_remove=2 and n_components=4"),
        ({"truncate_dim": 6}, "truncate_dim=6 exceeds the 5 features"),
        ({"whiten": "pca", "n_components": 2, "truncate_dim": 3}, "exceeds the 2"),
    ],
)
def test_inconsistent_parameters_are_explained(params, message):
    with pytest.raises(ValueError, match=message):
        _raw(**params).fit(np.random.default_rng(0).normal(size=(9, 5)))


def test_feature_names_follow_the_output_coordinates(df_module):
    X = _embeddings(n_samples=40, n_features=4)
    names = ["a", "b", "c", "d"]
    frame = df_module.DataFrame({n: X[:, i] for i, n in enumerate(names)})
    zca = _raw(whiten="zca", truncate_dim=3).fit(frame)
    assert list(zca.get_feature_names_out()) == ["a", "b", "c"]
    pca = _raw(whiten="pca", norm=None).set_output(transform="pandas")
    out = pca.fit(frame).transform(frame)
    assert list(out.columns) == [f"embeddingnormalizer{i}" for i in range(4)]
    back = pca.inverse_transform(out)
    assert list(back.columns) == names
    np.testing.assert_allclose(back.to_numpy(), X, atol=1e-10)


def _decaying_spectrum(n_samples, n_features, seed=0):
    """float32 embeddings with a mean large next to their spread and variances
    from 1 down to 1e-4: centering or multiplying in float32 loses the small
    directions (scikit-learn's float32 PCA is off by about 1 in the whitened
    covariance)."""
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(n_features, n_features)))
    scales = np.sqrt(np.geomspace(1.0, 1e-4, n_features))
    X = (rng.normal(size=(n_samples, n_features)) * scales) @ rotation.T
    return (X + 3.0 * rng.normal(size=n_features)).astype(np.float32)


def test_float32_whitening_of_a_decaying_spectrum_is_float64_accurate(monkeypatch):
    import sknorm.stats.covariance

    # Many blocks in several tasks, as on a large matrix.
    monkeypatch.setattr(sknorm.stats.covariance, "_BLOCK_ELEMENTS", 1 << 14)
    X = _decaying_spectrum(20_000, 48)
    exact = X.astype(np.float64)
    values, vectors = _eig(exact)
    reference = (exact - exact.mean(axis=0)) @ (vectors / np.sqrt(values))
    whitened = _raw(whiten="pca", norm=None).fit(X).transform(X)
    assert whitened.dtype == np.float32
    # The whitened covariance is the identity to float32 rounding of the output.
    covariance = np.cov(whitened.astype(np.float64).T, bias=True)
    np.testing.assert_allclose(covariance, np.eye(48), atol=1e-6)
    _same_up_to_column_signs(whitened.astype(np.float64), reference, rtol=1e-6)
    normalized = _raw(whiten="pca").fit_transform(X)
    np.testing.assert_allclose(
        np.abs(normalized), np.abs(_unit_rows(reference)), rtol=0, atol=1e-7
    )


@pytest.mark.parametrize("params", [{}, {"n_remove": 2}, {"whiten": "pca"}])
def test_results_do_not_depend_on_the_number_of_threads(params, monkeypatch):
    import sknorm.stats.covariance

    monkeypatch.setattr(sknorm.stats.covariance, "_BLOCK_ELEMENTS", 1 << 12)
    monkeypatch.setattr("sknorm.embedding._normalizer._BLOCK_ELEMENTS", 1 << 12)
    X = _decaying_spectrum(5_000, 24)
    pooled = _raw(**params).fit(X)
    monkeypatch.setenv("SKNORM_NUM_THREADS", "1")
    serial = _raw(**params).fit(X)
    np.testing.assert_array_equal(serial.projection_, pooled.projection_)
    np.testing.assert_array_equal(serial.transform(X), pooled.transform(X))


# ---------------------------------------------------------------------------
# input_norm: the map of the L2-normalized rows
# ---------------------------------------------------------------------------

_INPUT_NORM_PARAMS = [
    {"center": True},
    {"center": True, "truncate_dim": 5},
    {"n_remove": 2},
    {"whiten": "zca", "norm": None},
    {"whiten": "pca", "shrinkage": "auto", "n_components": 6},
    {"whiten": "zca", "power": -0.25, "center": False},
]


def _rows_of_varied_norms(n_samples=300, n_features=16, seed=0):
    """Embeddings whose row norms vary by a factor 20, as raw mean-pooled
    embeddings of different kinds of text do."""
    X = _embeddings(n_samples, n_features, seed)
    scale = np.random.default_rng(seed + 1).uniform(0.25, 5.0, size=(n_samples, 1))
    return X * scale


def _assert_same_normalizer(fitted, reference, X_new):
    """``fitted`` (input_norm="l2") against ``reference`` (input_norm=None,
    fitted on scikit-learn's normalize of the same rows)."""
    from sklearn.preprocessing import normalize as sklearn_normalize

    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        fitted.projection_, reference.projection_, rtol=1e-9, atol=1e-10
    )
    assert fitted.shrinkage_ == pytest.approx(reference.shrinkage_, rel=1e-12)
    expected = reference.transform(sklearn_normalize(X_new))
    for data in (X_new, sparse.csr_array(X_new), sparse.csc_array(X_new)):
        np.testing.assert_allclose(
            fitted.transform(data), expected, rtol=1e-9, atol=1e-10
        )


@pytest.mark.parametrize("params", _INPUT_NORM_PARAMS)
@pytest.mark.parametrize("container", ["dense", "csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_input_norm_equals_fitting_normalized_rows(params, container, weighted):
    from sklearn.preprocessing import normalize as sklearn_normalize

    X = _rows_of_varied_norms()
    X[::7, 3] = 0.0  # some implicit zeros in the sparse containers
    weight = np.random.default_rng(3).random(len(X)) if weighted else None
    data = {
        "dense": X,
        "csr": sparse.csr_array(X),
        "csc": sparse.csc_array(X),
    }[container]
    original = data.copy()
    fitted = EmbeddingNormalizer(**params, input_norm="l2")
    fitted.fit(data, sample_weight=weight)
    reference = EmbeddingNormalizer(**params, input_norm=None)
    reference.fit(sklearn_normalize(X), sample_weight=weight)
    _assert_same_normalizer(fitted, reference, _rows_of_varied_norms(50, seed=9))
    # The caller's data is left alone.
    if container == "dense":
        np.testing.assert_array_equal(data, original)
    else:
        np.testing.assert_array_equal(data.toarray(), original.toarray())


@pytest.mark.parametrize("params", _INPUT_NORM_PARAMS[2:5])
def test_input_norm_partial_fit_equals_fitting_normalized_rows(params):
    from sklearn.preprocessing import normalize as sklearn_normalize

    X = _rows_of_varied_norms()
    weight = np.random.default_rng(4).random(len(X))
    streamed = EmbeddingNormalizer(**params)  # input_norm="l2" by default
    for rows in np.array_split(np.arange(len(X)), 5):
        streamed.partial_fit(X[rows], sample_weight=weight[rows])
    reference = EmbeddingNormalizer(**params, input_norm=None)
    reference.fit(sklearn_normalize(X), sample_weight=weight)
    _assert_same_normalizer(streamed, reference, _rows_of_varied_norms(50, seed=9))


def test_input_norm_float32_transform_is_float64_accurate():
    X = _rows_of_varied_norms().astype(np.float32)
    est = EmbeddingNormalizer(whiten="zca").fit(X)
    result = est.transform(X)
    assert result.dtype == np.float32
    reference = est.transform(X.astype(np.float64))
    np.testing.assert_allclose(result, reference, atol=1e-6)


def test_input_norm_keeps_rows_of_any_magnitude_finite():
    X = _rows_of_varied_norms(n_features=6)
    # eps=0: no floor, so rows of norm 1e-300 are normalized too.
    est = EmbeddingNormalizer(whiten="zca", eps=0.0).fit(X * 1e300)
    reference = EmbeddingNormalizer(whiten="zca", eps=0.0).fit(X)
    # Normalized rows do not depend on the scale (overflow-safe norms), up to
    # rounding: the rows of X * 1e300 are X's rounded (1e300 is no power of
    # two), and a row's norm and quotient err by (d / 2 + 1) eps, so the two
    # fits' unit rows differ by at most (d + 4) eps in norm. Both whitening
    # maps C ** -1/2 then err by cond(C) / 2 times the covariance's rounding
    # (sums of n = 300 products, and the eigendecomposition), relative to its
    # norm: about 5e-11 here (cond(C) = 608); one machine measured 6e-14.
    d = X.shape[1]
    row_rtol = (d + 4) * EPS
    variances = reference.explained_variance_
    map_rtol = inverse_sqrt_rtol(variances, len(X), input_rtol=row_rtol)
    norm = np.linalg.norm(reference.projection_, 2)
    np.testing.assert_allclose(
        est.projection_, reference.projection_, rtol=0, atol=map_rtol * norm
    )
    # A transformed row y = P (u - m), normalized: its direction moves by at
    # most 2 ||dy|| / ||y|| <= 2 sqrt(cond(C)) (map_rtol + ||du|| / ||u - m||),
    # since ||y|| >= ||u - m|| / sqrt(lambda_max); plus the transform's own
    # rounding (d terms a product, then a norm: 2 (d + 2) eps).
    deviation = np.linalg.norm(_unit_rows(X) - reference.mean_, axis=1)
    row_atol = (
        2
        * np.sqrt(variances.max() / variances.min())
        * (map_rtol + row_rtol / deviation)
        + 2 * (d + 2) * EPS
    )
    difference = est.transform(X * 1e-300) - reference.transform(X)
    assert np.all(np.linalg.norm(difference, axis=1) <= row_atol)
    # With the default eps, rows below it are divided by eps, not normalized.
    floored = EmbeddingNormalizer(center=True, eps=1e-3).fit(X)
    tiny = floored.transform(np.full((1, 6), 1e-6))
    np.testing.assert_allclose(tiny, _unit_rows(1e-3 - floored.mean_[None]))


def test_input_norm_rejects_infinity_naming_the_feature():
    X = _embeddings(n_samples=10, n_features=3)
    X[4, 2] = -np.inf
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2"):
        EmbeddingNormalizer(center=True).fit(X)
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2"):
        EmbeddingNormalizer(center=True).fit(sparse.csr_array(X))


def test_inverse_transform_with_input_norm_recovers_the_directions():
    X = _rows_of_varied_norms()
    est = EmbeddingNormalizer(whiten="zca", norm=None).fit(X)
    np.testing.assert_allclose(
        est.inverse_transform(est.transform(X)), _unit_rows(X), atol=1e-10
    )


def test_default_is_row_normalization_and_auto_centers_principal_maps():
    from sklearn.preprocessing import normalize as sklearn_normalize

    X = _rows_of_varied_norms()
    est = EmbeddingNormalizer().fit(X)
    np.testing.assert_array_equal(est.mean_, 0.0)
    np.testing.assert_allclose(est.transform(X), sklearn_normalize(X), rtol=1e-12)
    unit = _unit_rows(X)
    for params in ({"n_remove": 1}, {"whiten": "pca"}, {"n_components": 3}):
        fitted = EmbeddingNormalizer(**params).fit(X)
        np.testing.assert_allclose(fitted.mean_, unit.mean(axis=0), rtol=1e-12)
    assert not EmbeddingNormalizer(truncate_dim=3).fit(X).mean_.any()
    assert not EmbeddingNormalizer(whiten="zca", center=False).fit(X).mean_.any()


# ---------------------------------------------------------------------------
# shrinkage="auto": Oracle Approximating Shrinkage
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("n_samples", [5, 20, 300])
def test_auto_shrinkage_is_scikit_learn_oas(center, n_samples):
    from sklearn.covariance import OAS

    X = _embeddings(n_samples=n_samples)
    est = EmbeddingNormalizer(
        whiten="zca", shrinkage="auto", center=center, input_norm=None, norm=None
    ).fit(X)
    expected = OAS(assume_centered=not center).fit(X).shrinkage_
    assert est.shrinkage_ == pytest.approx(expected, rel=1e-10)
    # The map is the whitening with that fixed shrinkage.
    fixed = clone(est).set_params(shrinkage=expected).fit(X)
    np.testing.assert_allclose(est.projection_, fixed.projection_, rtol=1e-9)


def test_auto_shrinkage_streams_and_counts_weights_as_repetitions():
    from sklearn.covariance import OAS

    X = _embeddings(n_samples=60)
    counts = np.random.default_rng(7).integers(0, 4, size=len(X))
    repeated = np.repeat(X, counts, axis=0)
    expected = OAS().fit(repeated).shrinkage_
    params = {"whiten": "pca", "shrinkage": "auto", "input_norm": None}
    weighted = EmbeddingNormalizer(**params).fit(X, sample_weight=counts)
    assert weighted.shrinkage_ == pytest.approx(expected, rel=1e-10)
    streamed = EmbeddingNormalizer(**params)
    for rows in np.array_split(np.arange(len(X)), 4):
        streamed.partial_fit(X[rows], sample_weight=counts[rows])
    assert streamed.shrinkage_ == pytest.approx(expected, rel=1e-10)


def test_auto_shrinkage_of_one_feature_and_without_whitening():
    X = _embeddings(n_samples=30, n_features=1)
    est = EmbeddingNormalizer(whiten="pca", shrinkage="auto", norm=None).fit(X)
    assert est.shrinkage_ == 0.0  # as scikit-learn's OAS: shrinking changes nothing
    assert EmbeddingNormalizer().fit(X).shrinkage_ == 0.0
    with pytest.raises(ValueError, match="shrinkage='auto' only changes the whiten"):
        EmbeddingNormalizer(shrinkage="auto").fit(X)


def test_decayed_partial_fit_equals_weighted_fit():
    # The reference: numpy's weighted mean and covariance of the rows weighted
    # (1 - decay) ** (batches since).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4)) @ rng.normal(size=(4, 4)) + 1.0
    decay = 0.4
    streamed = EmbeddingNormalizer(
        whiten="pca", norm=None, decay=decay, input_norm=None
    )
    for rows in np.split(np.arange(90), [30, 50]):
        streamed.partial_fit(X[rows])
    weight = np.concatenate([np.full(30, 0.6**2), np.full(20, 0.6), np.ones(40)])
    # Three positive terms summed in two orders: sum_rtol(3).
    np.testing.assert_allclose(streamed.n_samples_seen_, weight.sum(), rtol=sum_rtol(3))
    expected_mean = np.average(X, axis=0, weights=weight)
    assert_close(streamed.mean_, expected_mean, mean_atol(X, weight))
    covariance = np.cov(X.T, aweights=weight, bias=True)
    # Weyl: each eigenvalue within the covariances' difference (absolute: the
    # smallest, 7e-6 of the largest, has no relative accuracy to speak of).
    np.testing.assert_allclose(
        streamed.explained_variance_,
        np.linalg.eigvalsh(covariance)[::-1],
        rtol=0,
        atol=eigenvalue_atol(X, weight),
    )
