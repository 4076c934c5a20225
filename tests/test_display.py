"""The displays of sknorm.display draw what they should: their artists' data
against references computed independently (numpy histograms of
``np.linalg.norm``, sklearn's ``cosine_similarity``, sklearn's ``PCA``).

matplotlib is optional (the ``plot`` extra): the drawing tests skip without
it, through the ``pyplot`` fixture; the Agg backend draws off-screen.
"""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.preprocessing import normalize
from sklearn.random_projection import GaussianRandomProjection

from sknorm import (
    CosineSimilarityDisplay,
    EmbeddingNormalizer,
    EmbeddingNormsDisplay,
    ProjectionDisplay,
    SpectrumDisplay,
    StandardScaler,
)

from ._tolerances import norm_rtol
from .conftest import SPARSE_CONTAINERS


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _embeddings(n=60, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * np.linspace(3.0, 0.5, d) + rng.normal(size=d)
    return X * rng.uniform(0.5, 3.0, size=(n, 1))


def _heights(bars):
    return np.array([patch.get_height() for patch in bars])


def _span_x(patch):
    """The x extent of an axvspan, whatever patch type matplotlib returns."""
    x = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 0]
    return x.min(), x.max()


# ---------------------------------------------------------------------------
# EmbeddingNormsDisplay
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_norms_from_estimator_histograms_the_norms(pyplot, dtype):
    X = _embeddings().astype(dtype)
    normalizer = EmbeddingNormalizer(center=True).fit(X)
    display = EmbeddingNormsDisplay.from_estimator(normalizer, X, bins=12)
    counts, edges = np.histogram(np.linalg.norm(X.astype(np.float64), axis=1), bins=12)
    np.testing.assert_array_equal(_heights(display.bars_[0]), counts)
    np.testing.assert_allclose(display.bin_edges_[0], edges, rtol=1e-14)
    # After the normalizer every norm is 1 to rounding: one full bin there.
    after = _heights(display.bars_[1])
    assert after.sum() == len(X)
    assert np.count_nonzero(after) == 1
    full = np.flatnonzero(after)[0]
    assert display.bin_edges_[1][full] <= 1.0 <= display.bin_edges_[1][full + 1]
    # A unit row's norm, computed again, is 1 within the rounding of two norms
    # of d values and a quotient (norm_rtol); float32 output rounds each value
    # of the unit row by up to 2**-24 more.
    rounding = 0.0 if dtype == np.float64 else np.finfo(np.float32).eps / 2
    rtol = norm_rtol(X.shape[1]) + rounding
    np.testing.assert_allclose(display.norms[1], 1.0, rtol=rtol)
    assert display.names == ["X", "EmbeddingNormalizer(X)"]
    assert [axis.get_title() for axis in display.axes_] == display.names
    assert len(display.axes_) == 2
    assert display.figure_ is display.axes_[0].figure


@pytest.mark.parametrize("container", [np.asarray, *SPARSE_CONTAINERS])
def test_norms_from_embeddings(pyplot, container):
    X = _embeddings()
    display = EmbeddingNormsDisplay.from_embeddings(container(X), name="raw")
    counts, _ = np.histogram(np.linalg.norm(X, axis=1), bins=50)
    np.testing.assert_array_equal(_heights(display.bars_[0]), counts)
    assert display.axes_[0].get_title() == "raw"


def test_norms_draw_on_given_axes(pyplot):
    X = _embeddings()
    figure, axes = pyplot.subplots(1, 2)
    scaler = StandardScaler().fit(X)  # any fitted transformer
    display = EmbeddingNormsDisplay.from_estimator(scaler, X, ax=axes, names=["a", "b"])
    assert list(display.axes_) == list(axes)
    assert display.figure_ is figure
    counts, _ = np.histogram(np.linalg.norm(scaler.transform(X), axis=1), bins=50)
    np.testing.assert_array_equal(_heights(display.bars_[1]), counts)
    with pytest.raises(ValueError, match="one Axes per panel"):
        EmbeddingNormsDisplay.from_estimator(scaler, X, ax=axes[0])
    with pytest.raises(ValueError, match="two names"):
        EmbeddingNormsDisplay.from_estimator(scaler, X, names=["only one"])


def test_from_estimator_needs_a_fitted_transformer(pyplot):
    X = _embeddings()
    with pytest.raises(NotFittedError):
        EmbeddingNormsDisplay.from_estimator(EmbeddingNormalizer(center=True), X)
    regressor = LinearRegression().fit(X, X[:, 0])
    with pytest.raises(TypeError, match="no transform method"):
        CosineSimilarityDisplay.from_estimator(regressor, X)


def test_displays_do_not_modify_the_input(pyplot):
    X = _embeddings()
    original = X.copy()
    normalizer = EmbeddingNormalizer(center=True, copy=False).fit(X)
    EmbeddingNormsDisplay.from_estimator(normalizer, X)
    CosineSimilarityDisplay.from_estimator(normalizer, X)
    SpectrumDisplay.from_estimator(normalizer, X)
    ProjectionDisplay.from_estimator(normalizer, X)
    np.testing.assert_array_equal(X, original)


# ---------------------------------------------------------------------------
# CosineSimilarityDisplay
# ---------------------------------------------------------------------------


def test_cosine_all_pairs_against_cosine_similarity(pyplot):
    X = _embeddings(n=40)
    normalizer = EmbeddingNormalizer(center=True).fit(X)
    display = CosineSimilarityDisplay.from_estimator(normalizer, X, bins=15)
    upper = np.triu_indices(len(X), k=1)
    for panel, data in enumerate([X, normalizer.transform(X)]):
        reference = cosine_similarity(data)[upper]
        np.testing.assert_allclose(
            display.cosines[panel], reference, rtol=1e-12, atol=1e-15
        )
        edges = display.bin_edges_[panel]
        counts, _ = np.histogram(display.cosines[panel], bins=edges)
        np.testing.assert_array_equal(_heights(display.bars_[panel]), counts)
        line = display.mean_lines_[panel]
        np.testing.assert_allclose(
            line.get_xdata(), [reference.mean()] * 2, rtol=1e-12, atol=1e-15
        )
    # The common component makes raw embeddings anisotropic; centering
    # removes it.
    assert display.mean_cosines[0] > 0.1
    assert abs(display.mean_cosines[1]) < 0.05


def test_cosine_sampled_pairs_keep_the_exact_mean(pyplot):
    X = _embeddings(n=300)
    normalizer = EmbeddingNormalizer(center=True).fit(X)
    display = CosineSimilarityDisplay.from_estimator(
        normalizer, X, max_pairs=1000, random_state=0
    )
    first, second = display.pairs
    assert len(first) == 1000 and np.all(first != second)
    for panel, data in enumerate([X, normalizer.transform(X)]):
        cos = cosine_similarity(data)
        # the same pairs in both panels
        np.testing.assert_allclose(
            display.cosines[panel], cos[first, second], rtol=1e-12, atol=1e-15
        )
        np.testing.assert_array_equal(
            _heights(display.bars_[panel]),
            np.histogram(display.cosines[panel], bins=display.bin_edges_[panel])[0],
        )
        exact = cos[np.triu_indices(len(X), k=1)].mean()
        np.testing.assert_allclose(
            display.mean_lines_[panel].get_xdata()[0], exact, rtol=1e-12, atol=1e-15
        )
    with pytest.raises(ValueError, match="max_pairs"):
        CosineSimilarityDisplay.from_embeddings(X, max_pairs=0)


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_cosine_sparse_equals_dense(pyplot, container):
    X = _embeddings(n=50)
    X[np.abs(X) < 1.0] = 0.0
    dense = CosineSimilarityDisplay.from_embeddings(X, max_pairs=300, random_state=1)
    sparse = CosineSimilarityDisplay.from_embeddings(
        container(X), max_pairs=300, random_state=1
    )
    np.testing.assert_allclose(sparse.cosines[0], dense.cosines[0], rtol=1e-12)
    np.testing.assert_allclose(sparse.mean_cosines, dense.mean_cosines, rtol=1e-12)


# ---------------------------------------------------------------------------
# SpectrumDisplay
# ---------------------------------------------------------------------------


def test_spectrum_from_embeddings_is_pca_explained_variance(pyplot):
    X = _embeddings(n=200, d=8)
    display = SpectrumDisplay.from_embeddings(X)
    pca = PCA().fit(X)
    np.testing.assert_allclose(
        display.line_.get_ydata(), pca.explained_variance_ratio_, rtol=1e-10
    )
    np.testing.assert_array_equal(display.line_.get_xdata(), np.arange(1, 9))
    n = len(X)  # the display's variances are biased (divided by n), as sknorm's
    np.testing.assert_allclose(
        display.explained_variance * n / (n - 1), pca.explained_variance_, rtol=1e-10
    )
    assert display.ax_.get_yscale() == "log"
    assert display.spans_ == {} and display.line_transformed_ is None
    assert display.explained_variance_ratio_transformed is None


def test_spectrum_from_estimator_shades_the_map(pyplot):
    X = _embeddings(n=200, d=8)
    normalizer = EmbeddingNormalizer(
        n_remove=2, n_components=3, whiten="pca", shrinkage=0.1
    ).fit(X)
    display = SpectrumDisplay.from_estimator(normalizer, X)
    # The spectrum of the rows the statistics were fitted on (input_norm="l2").
    pca = PCA().fit(normalize(X))
    np.testing.assert_allclose(
        display.line_.get_ydata(), pca.explained_variance_ratio_, rtol=1e-10
    )
    Z = normalizer.transform(X)
    np.testing.assert_allclose(
        display.line_transformed_.get_ydata(),
        PCA().fit(Z).explained_variance_ratio_,
        rtol=1e-8,
    )
    assert [_span_x(span) for span in display.spans_["removed"]] == [(0.5, 2.5)]
    assert [_span_x(span) for span in display.spans_["kept"]] == [(2.5, 5.5)]
    assert [_span_x(span) for span in display.spans_["dropped"]] == [(5.5, 8.5)]
    labels = display.ax_.get_legend_handles_labels()[1]
    assert "kept, whitened (pca, λ^-0.5, shrinkage 0.1)" in labels
    assert {"removed", "dropped"} <= set(labels)


def test_spectrum_roles_follow_the_parameters(pyplot):
    X = _embeddings(n=100, d=6)
    roles = {
        "truncated": EmbeddingNormalizer(whiten="pca", truncate_dim=2),
        "zca": EmbeddingNormalizer(whiten="zca", power=-0.25, n_remove=1),
    }
    truncated = SpectrumDisplay.from_estimator(roles["truncated"].fit(X))
    assert list(truncated.roles) == ["kept"] * 2 + ["dropped"] * 4
    zca = SpectrumDisplay.from_estimator(roles["zca"].fit(X))
    assert list(zca.roles) == ["removed"] + ["kept"] * 5
    assert zca.kept_label == "kept, whitened (zca, λ^-0.25)"


def test_spectrum_of_a_map_without_eigendecomposition(pyplot):
    X = _embeddings(n=100, d=6)
    normalizer = EmbeddingNormalizer(center=True).fit(X)  # centering and L2
    with pytest.raises(ValueError, match="needs X"):
        SpectrumDisplay.from_estimator(normalizer)
    display = SpectrumDisplay.from_estimator(normalizer, X)
    np.testing.assert_allclose(
        display.line_.get_ydata(),
        PCA().fit(normalize(X)).explained_variance_ratio_,
        rtol=1e-10,
    )
    assert list(display.roles) == ["kept"] * 6
    # log-log by default; "linear" on request
    assert display.ax_.get_xscale() == "log"
    linear = SpectrumDisplay.from_estimator(normalizer, X, xscale="linear")
    assert linear.ax_.get_xscale() == "linear"
    # Uncentered: the spectrum of the second moment E[x x^T].
    uncentered = EmbeddingNormalizer(center=False, n_remove=1).fit(X)
    display = SpectrumDisplay.from_estimator(uncentered)
    fitted_rows = normalize(X)
    moment = np.linalg.eigvalsh(fitted_rows.T @ fitted_rows / len(X))[::-1]
    np.testing.assert_allclose(
        display.line_.get_ydata(), moment / moment.sum(), rtol=1e-10
    )
    with pytest.raises(TypeError, match="EmbeddingNormalizer"):
        SpectrumDisplay.from_estimator(StandardScaler().fit(X), X)


def test_spectrum_axis_stops_at_the_eigenvalue_floor(pyplot):
    # Rank 3 in 6 dimensions: three ratios are rounding noise (or zero).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(100, 3)) @ rng.normal(size=(3, 6))
    display = SpectrumDisplay.from_embeddings(X)
    largest = display.explained_variance_ratio.max()
    np.testing.assert_allclose(display.ax_.get_ylim()[0], 1e-6 * largest)
    # Full rank and well conditioned: the axis is matplotlib's.
    full = SpectrumDisplay.from_embeddings(_embeddings(n=100))
    assert full.ax_.get_ylim()[0] < full.explained_variance_ratio.min()


# ---------------------------------------------------------------------------
# ProjectionDisplay
# ---------------------------------------------------------------------------


def test_projection_is_the_pca_projection(pyplot):
    X = _embeddings(n=120, d=6)
    y = np.where(np.arange(120) % 3 == 0, "synopsis", "review")
    normalizer = EmbeddingNormalizer(center=True).fit(X)
    display = ProjectionDisplay.from_estimator(normalizer, X, y)
    for panel, data in enumerate([X, normalizer.transform(X)]):
        reference = PCA(n_components=2).fit_transform(data)
        np.testing.assert_allclose(
            display.scatters_[panel].get_offsets(), reference, rtol=1e-10, atol=1e-12
        )
    np.testing.assert_array_equal(display.classes_, ["review", "synopsis"])
    legend = display.axes_[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["review", "synopsis"]
    # One colour per class, different between the classes.
    colors = display.scatters_[0].get_facecolors()
    first = colors[y == "review"]
    assert np.all(first == first[0])
    assert not np.array_equal(colors[y == "synopsis"][0], first[0])


def test_projection_subsamples_the_same_rows(pyplot):
    X = _embeddings(n=300, d=6)
    y = np.arange(300) % 4
    normalizer = EmbeddingNormalizer(center=True).fit(X)
    display = ProjectionDisplay.from_estimator(
        normalizer, X, y, max_samples=100, random_state=0
    )
    rows = display.sample_indices
    assert len(np.unique(rows)) == 100
    np.testing.assert_array_equal(display.y, y[rows])
    for panel, data in enumerate([X, normalizer.transform(X)]):
        reference = PCA(n_components=2).fit_transform(data[rows])
        np.testing.assert_allclose(
            display.scatters_[panel].get_offsets(), reference, rtol=1e-10, atol=1e-12
        )


@pytest.mark.parametrize("container", [np.asarray, *SPARSE_CONTAINERS])
def test_projection_with_another_transformer(pyplot, container):
    X = _embeddings(n=80, d=6)
    projection = GaussianRandomProjection(n_components=2, random_state=0)
    display = ProjectionDisplay.from_embeddings(container(X), projection=projection)
    reference = GaussianRandomProjection(n_components=2, random_state=0)
    np.testing.assert_allclose(
        display.scatters_[0].get_offsets(), reference.fit_transform(X), rtol=1e-12
    )
    assert display.classes_ is None and display.axes_[0].get_legend() is None
    with pytest.raises(ValueError, match="2 features"):
        ProjectionDisplay.from_embeddings(
            X, projection=GaussianRandomProjection(n_components=3)
        )
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        ProjectionDisplay.from_embeddings(X, y=np.zeros(5))


# ---------------------------------------------------------------------------
# without matplotlib
# ---------------------------------------------------------------------------


def test_import_sknorm_does_not_need_matplotlib():
    code = """
import sys
sys.modules["matplotlib"] = None  # as if it were not installed
import numpy as np
import sknorm
X = np.random.default_rng(0).normal(size=(20, 4))
assert sknorm.embedding_diagnostics(X)["n_samples"] == 20
try:
    sknorm.EmbeddingNormsDisplay.from_embeddings(X)
except ImportError as error:
    assert "requires matplotlib" in str(error), error
else:
    raise AssertionError("no ImportError")
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_import_sknorm_does_not_import_matplotlib():
    code = "import sys, sknorm; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
