"""The table of docs/neural_normalizers.rst: each sknorm estimator computes the
formula the page gives, checked in numpy and, when torch is installed,
against the PyTorch layer it names; and the page's sparse-noise claim."""

import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from sknorm import Normalizer, RowStandardizer, StandardScaler

N_SAMPLES, N_CHANNELS, LENGTH = 64, 6, 5
EPS = 1e-5


@pytest.fixture
def X():
    rng = np.random.default_rng(0)
    return rng.normal(size=(N_SAMPLES, N_CHANNELS * LENGTH)) * 3.0 + 1.5


def _channels(X):
    return X.reshape(len(X), N_CHANNELS, LENGTH)


def _standardize(values, axis, eps):
    mean = values.mean(axis=axis, keepdims=True)
    variance = values.var(axis=axis, keepdims=True)
    return (values - mean) / np.sqrt(variance + eps)


def _channel_groups(n_groups):
    size = N_CHANNELS // n_groups * LENGTH
    return [slice(g * size, (g + 1) * size) for g in range(n_groups)]


def test_standard_scaler_is_batch_normalization_at_inference(X):
    train, test = X[:48], X[48:]
    expected = (test - train.mean(axis=0)) / train.std(axis=0)
    got = StandardScaler().fit(train).transform(test)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_row_standardizer_is_layer_normalization(X):
    got = RowStandardizer(eps=EPS).fit_transform(X)
    np.testing.assert_allclose(got, _standardize(X, 1, EPS), rtol=1e-12, atol=1e-12)


def test_rms_row_standardizer_is_rms_normalization(X):
    got = RowStandardizer(method="rms", eps=EPS).fit_transform(X)
    expected = X / np.sqrt((X**2).mean(axis=1, keepdims=True) + EPS)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_groups", [1, 2, 3, N_CHANNELS])
def test_grouped_row_standardizer_is_group_normalization(X, n_groups):
    got = RowStandardizer(eps=EPS, groups=_channel_groups(n_groups)).fit_transform(X)
    grouped = X.reshape(len(X), n_groups, -1)
    expected = _standardize(grouped, 2, EPS).reshape(X.shape)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_normalizer_is_l2_normalization(X):
    got = Normalizer().fit_transform(X)
    np.testing.assert_allclose(got, X / np.linalg.norm(X, axis=1, keepdims=True))


# ---------------------------------------------------------------------------
# The PyTorch layers named on the page
# ---------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="torch is not installed")


def _run(layer, values):
    torch = _torch()
    with torch.no_grad():
        return layer(torch.from_numpy(values)).numpy()


def test_batch_norm_in_eval_mode_matches_standard_scaler_with_its_statistics(X):
    torch = _torch()
    train, test = X[:48], X[48:]
    layer = torch.nn.BatchNorm1d(X.shape[1], affine=False, eps=0.0).double()
    layer.running_mean = torch.from_numpy(train.mean(axis=0))
    layer.running_var = torch.from_numpy(train.var(axis=0))
    layer.eval()
    expected = _run(layer, test)
    got = StandardScaler().fit(train).transform(test)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_layer_norm_and_rms_norm_match_row_standardizer(X):
    torch = _torch()
    d = X.shape[1]
    layer = torch.nn.LayerNorm(d, eps=EPS, elementwise_affine=False).double()
    np.testing.assert_allclose(
        RowStandardizer(eps=EPS).fit_transform(X),
        _run(layer, X),
        rtol=1e-10,
        atol=1e-10,
    )
    rms = torch.nn.RMSNorm(d, eps=EPS, elementwise_affine=False).double()
    np.testing.assert_allclose(
        RowStandardizer(method="rms", eps=EPS).fit_transform(X),
        _run(rms, X),
        rtol=1e-10,
        atol=1e-10,
    )


@pytest.mark.parametrize("n_groups", [2, 3])
def test_group_norm_and_instance_norm_match_grouped_row_standardizer(X, n_groups):
    torch = _torch()
    layer = torch.nn.GroupNorm(n_groups, N_CHANNELS, eps=EPS, affine=False).double()
    expected = _run(layer, _channels(X)).reshape(X.shape)
    got = RowStandardizer(eps=EPS, groups=_channel_groups(n_groups)).fit_transform(X)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)
    instance = torch.nn.InstanceNorm1d(N_CHANNELS, eps=EPS).double()
    expected = _run(instance, _channels(X)).reshape(X.shape)
    got = RowStandardizer(eps=EPS, groups=_channel_groups(N_CHANNELS)).fit_transform(X)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------------------
# "Sparse vectors: normalization can amplify noise"
# ---------------------------------------------------------------------------


def _sparse_noise():
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    sys.path.insert(0, str(benchmarks))
    try:
        import sparse_noise
    finally:
        sys.path.remove(str(benchmarks))
    return sparse_noise


def test_eps_keeps_near_empty_rows_out_of_the_top_ranks():
    results = {name: (p, noise) for name, p, noise in _sparse_noise().table(seed=3)}
    raw = results["raw counts (no normalization)"]
    l2 = results["Normalizer() (L2, eps=0)"]
    floored = results["Normalizer(eps=4)"]
    # L2 beats raw counts, but lifts near-empty rows into the top 10 ...
    assert l2[0] > raw[0]
    assert l2[1] > 0.2 and raw[1] == 0
    # ... which a norm floor between noise and real rows keeps out.
    assert floored[1] < 0.05 * l2[1] + 1e-12
    assert floored[0] > l2[0]


def test_sparse_noise_corpus_is_sparse_and_seeded():
    module = _sparse_noise()
    first = module.make_corpus(seed=5, n_near_empty=10, documents_per_topic=3)
    again = module.make_corpus(seed=5, n_near_empty=10, documents_per_topic=3)
    assert sparse.issparse(first[0])
    assert (first[0] != again[0]).nnz == 0
