"""RobustScaler and robust_scale: parity with scikit-learn (fitted attributes bit
for bit), sparse == dense, weights == repeated rows, streaming through the
sketch, clip, and the deliberate differences."""

import numpy as np
import pytest
from scipy import sparse
from sklearn import preprocessing as skl
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline

import sknorm
from sknorm import RobustScaler
from sknorm.stats import Quantiles

from .conftest import SPARSE_CONTAINERS
from .test_scalers import DATASETS, _assert_close, _random_data

RANGES = [(25.0, 75.0), (10.0, 90.0), (0.0, 100.0), (1.0, 50.0), (33.3, 33.3)]


def _exact(actual, desired):
    if desired is None:
        assert actual is None
    else:
        np.testing.assert_array_equal(actual, desired)


# unit_variance needs 0 < q_min < q_max < 100 (tested separately below).
RANGE_VARIANCE = [(r, False) for r in RANGES] + [
    (r, True) for r in RANGES if 0 < r[0] < r[1] < 100
]


@pytest.mark.parametrize("data", DATASETS, ids=str)
@pytest.mark.parametrize(("quantile_range", "unit_variance"), RANGE_VARIANCE, ids=str)
@pytest.mark.parametrize("with_centering", [True, False])
@pytest.mark.parametrize("with_scaling", [True, False])
def test_matches_sklearn(
    data, quantile_range, unit_variance, with_centering, with_scaling
):
    X = DATASETS[data]
    params = dict(
        quantile_range=quantile_range,
        with_centering=with_centering,
        with_scaling=with_scaling,
        unit_variance=unit_variance,
    )
    ours, theirs = RobustScaler(**params).fit(X), skl.RobustScaler(**params).fit(X)
    _exact(ours.center_, theirs.center_)
    _exact(ours.scale_, theirs.scale_)
    # sknorm multiplies by the reciprocal scale: equal to rounding.
    _assert_close(ours.transform(X), theirs.transform(X))
    _assert_close(ours.inverse_transform(ours.transform(X)), X)


def test_float32_is_kept_and_close_to_sklearn():
    X = DATASETS["nan"].astype(np.float32)
    ours, theirs = RobustScaler().fit(X), skl.RobustScaler().fit(X)
    # sknorm keeps float64 attributes; scikit-learn's median is float32.
    np.testing.assert_allclose(ours.center_, theirs.center_, rtol=1e-7)
    np.testing.assert_allclose(ours.scale_, theirs.scale_, rtol=1e-6)
    result = ours.transform(X)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, theirs.transform(X), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------- sparse


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_sparse_without_centering_matches_sklearn(container):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5)) * (rng.random((60, 5)) < 0.4)
    X[rng.random(X.shape) < 0.1] = np.nan
    X_sparse = container(X)
    ours = RobustScaler(with_centering=False).fit(X_sparse)
    theirs = skl.RobustScaler(with_centering=False).fit(X_sparse)
    _exact(ours.scale_, theirs.scale_)
    result = ours.transform(X_sparse)
    assert sparse.issparse(result) and result.format == X_sparse.format
    _assert_close(result, theirs.transform(X_sparse))
    back = ours.inverse_transform(result)
    np.testing.assert_allclose(back.toarray(), X_sparse.toarray(), rtol=1e-15)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_centering_on_zero_medians_stays_sparse(fmt):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 4)) * (rng.random((80, 4)) < 0.3)
    X_sparse = sparse.csr_array(X).asformat(fmt)
    scaler = RobustScaler().fit(X_sparse)
    np.testing.assert_array_equal(scaler.center_, 0.0)
    result = scaler.transform(X_sparse)
    assert sparse.issparse(result) and result.format == fmt
    _assert_close(result.toarray(), skl.RobustScaler().fit_transform(X))


def test_sparse_centering_on_nonzero_medians_names_the_features():
    X = np.zeros((10, 3))
    X[:, 1] = np.arange(10) + 1.0  # median 5.5
    X_sparse = sparse.csr_array(X)
    scaler = RobustScaler().fit(X_sparse)
    with pytest.raises(ValueError, match=r"feature\(s\) 1, .*Cannot center sparse"):
        scaler.transform(X_sparse)
    # Fitting on sparse data and transforming dense data is fine.
    _assert_close(scaler.transform(X), skl.RobustScaler().fit_transform(X))


# ------------------------------------------------------------------ weights


@pytest.mark.parametrize("sparse_input", [False, True])
def test_equal_weights_equal_the_rows_kept(sparse_input):
    # Weights are relative: zero removes a row, equal weights of any value are
    # the unweighted quantiles of the rows kept (scikit-learn's, bit for bit).
    X = DATASETS["nan"]
    weight = 0.3 * np.random.default_rng(2).integers(0, 2, size=X.shape[0])
    repeated = X[weight > 0]
    if sparse_input:
        X, repeated = sparse.csc_array(X), sparse.csc_array(repeated)
    params = dict(with_centering=not sparse_input, unit_variance=True)
    weighted = RobustScaler(**params).fit(X, sample_weight=weight)
    reference = RobustScaler(**params).fit(repeated)
    _exact(weighted.center_, reference.center_)
    _exact(weighted.scale_, reference.scale_)
    theirs = skl.RobustScaler(**params).fit(repeated)
    _exact(weighted.scale_, theirs.scale_)


# ---------------------------------------------------------------- streaming


def test_partial_fit_is_exact_while_small():
    X = DATASETS["nan"]
    streamed = RobustScaler()
    for chunk in np.array_split(X, 4):
        streamed.partial_fit(chunk)
    fitted = RobustScaler().fit(X)
    _exact(streamed.center_, fitted.center_)
    _exact(streamed.scale_, fitted.scale_)


def _rank_error(column, value):
    column = np.sort(column)
    return np.searchsorted(column, value) / column.shape[0]


def test_partial_fit_on_large_data_is_within_the_sketch_bound():
    rng = np.random.default_rng(3)
    X = np.column_stack(
        [rng.lognormal(sigma=2, size=120_000), rng.standard_cauchy(size=120_000)]
    )
    streamed = RobustScaler()
    for chunk in np.array_split(X, 40):
        streamed.partial_fit(chunk)
    for j in range(2):
        assert abs(_rank_error(X[:, j], streamed.center_[j]) - 0.5) < 0.01
    exact = RobustScaler().fit(X)
    np.testing.assert_allclose(streamed.scale_, exact.scale_, rtol=0.1)


def test_partial_fit_after_fit_continues_from_the_fitted_data():
    rng = np.random.default_rng(4)
    first = rng.normal(size=(80_000, 2))  # more rows than fit sketches
    second = rng.normal(loc=4.0, size=(40_000, 2))
    scaler = RobustScaler().fit(first).partial_fit(second)
    both = np.concatenate([first, second])
    for j in range(2):
        # Forgetting the fitted data would put the median near 4, not here.
        assert abs(_rank_error(both[:, j], scaler.center_[j]) - 0.5) < 0.015
    assert "Quantiles" not in scaler._statistics_state


def test_partial_fit_refuses_to_forget_when_clip_is_switched_on():
    scaler = RobustScaler().fit(DATASETS["random"])
    scaler.set_params(clip=True)
    with pytest.raises(ValueError, match="silently forget"):
        scaler.partial_fit(DATASETS["random"])


def test_refit_forgets_and_state_pickles():
    import pickle

    scaler = RobustScaler().partial_fit(DATASETS["random"])
    scaler.fit(DATASETS["adversarial"])
    _exact(scaler.center_, RobustScaler().fit(DATASETS["adversarial"]).center_)
    loaded = pickle.loads(pickle.dumps(scaler))
    np.testing.assert_array_equal(
        loaded.partial_fit(DATASETS["random"]).center_,
        scaler.partial_fit(DATASETS["random"]).center_,
    )


# --------------------------------------------------------------------- clip


@pytest.mark.parametrize("stream", [False, True])
def test_clip_to_the_transformed_training_range(stream):
    X = DATASETS["random"]
    scaler = RobustScaler(clip=True)
    if stream:
        for chunk in np.array_split(X, 3):
            scaler.partial_fit(chunk)
    else:
        scaler.fit(X)
    training = RobustScaler().fit(X).transform(X)
    outside = np.vstack([X.min(axis=0) - 1e4, X.max(axis=0) + 1e4])
    np.testing.assert_allclose(
        scaler.transform(outside), [training.min(axis=0), training.max(axis=0)]
    )
    _assert_close(scaler.transform(X), training)


# -------------------------------------------------------- parameters, output


@pytest.mark.parametrize("quantile_range", [(75.0, 25.0), (-1.0, 50.0), (5.0, 101.0)])
def test_invalid_quantile_range(quantile_range):
    with pytest.raises(ValueError, match="Invalid quantile range"):
        RobustScaler(quantile_range=quantile_range).fit(DATASETS["random"])


@pytest.mark.parametrize("quantile_range", [(0.0, 75.0), (25.0, 100.0), (40.0, 40.0)])
def test_unit_variance_needs_an_inner_range(quantile_range):
    with pytest.raises(ValueError, match="unit_variance=True needs"):
        RobustScaler(quantile_range=quantile_range, unit_variance=True).fit(
            DATASETS["random"]
        )


def test_constant_rule_is_an_exactly_zero_quantile_range():
    # IQR 1e-6 around 1e6: resolved (sknorm scales it, as scikit-learn does).
    x = 1e6 + np.linspace(-1e-6, 1e-6, 41)
    np.testing.assert_allclose(RobustScaler().fit(x[:, None]).scale_, [1e-6], rtol=1e-3)
    # An IQR of one ulp around 1e6 is exact data (quantiles of distinct
    # values never differ by 0): scaled, so the quartiles map to -0.5 / +0.5.
    ulp = np.spacing(1e6)
    y = 1e6 + np.array([-1, 0, 0, 1, 1]) * ulp
    scaler = RobustScaler().fit(y[:, None])
    np.testing.assert_array_equal(scaler.scale_, [ulp])
    np.testing.assert_array_equal(
        scaler.transform(y[:, None]).ravel(), [-1, 0, 0, 1, 1]
    )
    # Only a range of exactly 0 is constant, at any magnitude.
    for value in (1e6, 1.5e308, 5e-324):
        flat = np.array([[value]] * 4 + [[0.0]])
        np.testing.assert_array_equal(RobustScaler().fit(flat).scale_, [1.0])


def test_dataframe_output_and_nan_kept(df_module):
    X = DATASETS["nan"][:, :3]
    frame = df_module.DataFrame({name: X[:, i] for i, name in enumerate("abc")})
    scaler = RobustScaler().set_output(transform=df_module.__name__).fit(frame)
    assert list(scaler.feature_names_in_) == ["a", "b", "c"]
    result = scaler.transform(frame)
    assert type(result).__module__.split(".")[0] == df_module.__name__
    values = np.asarray(result.to_numpy(), dtype=float)
    np.testing.assert_array_equal(np.isnan(values), np.isnan(X))
    back = scaler.inverse_transform(result)
    assert list(back.columns) == ["a", "b", "c"]
    _assert_close(np.asarray(back.to_numpy(), dtype=float), X)


@pytest.mark.parametrize("container", ["dense", "weighted", "csr", "csc"])
def test_infinity_is_rejected_naming_the_feature(container):
    # The exact quantiles flag the columns to inspect (no separate read of X):
    # NaN in another column must not hide or misplace the infinite one.
    X = DATASETS["random"].copy()
    X[3, 2] = -np.inf
    X[5, 0] = np.nan
    weight = None
    if container == "weighted":
        weight = np.linspace(1.0, 2.0, X.shape[0])
    elif container != "dense":
        X = getattr(sparse, f"{container}_matrix")(X)
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2\."):
        RobustScaler(with_centering=False).fit(X, sample_weight=weight)


def test_quantiles_flag_the_columns_that_may_hold_infinity():
    # Infinity, NaN and an overflowing sum are flagged; finite columns are not.
    X = np.array(
        [[1.0, np.nan, 1e308, 4.0], [np.inf, 1.0, 1e308, 5.0], [0.0, 2.0, 1.0, 6.0]]
    )
    flagged = Quantiles.from_data(X).nonfinite_columns()
    np.testing.assert_array_equal(flagged, [True, True, True, False])
    sparse_flagged = Quantiles.from_data(sparse.csr_matrix(X)).nonfinite_columns()
    np.testing.assert_array_equal(sparse_flagged, flagged)


# ---------------------------------------------------------------- functions


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    "params", [{}, {"quantile_range": (10.0, 90.0), "unit_variance": True}]
)
def test_robust_scale_matches_sklearn(axis, params):
    X = _random_data(n_samples=20, n_features=7)
    _assert_close(
        sknorm.robust_scale(X, axis=axis, **params),
        skl.robust_scale(X, axis=axis, **params),
    )


def test_robust_scale_1d_sparse_and_equals_estimator():
    x = _random_data(n_samples=15, n_features=1).ravel()
    result = sknorm.robust_scale(x)
    assert result.shape == x.shape
    _assert_close(result, skl.robust_scale(x))
    X = DATASETS["nan"]
    np.testing.assert_array_equal(
        sknorm.robust_scale(X), RobustScaler().fit_transform(X)
    )
    X_sparse = sparse.random(10, 6, density=0.4, format="csr", random_state=5)
    _assert_close(
        sknorm.robust_scale(X_sparse, with_centering=False, axis=1),
        skl.robust_scale(X_sparse, with_centering=False, axis=1),
    )


def test_pipeline_cross_validation_matches_sklearn():
    from sklearn.datasets import load_wine
    from sklearn.linear_model import LogisticRegression

    X, y = load_wine(return_X_y=True)
    ours = cross_val_score(make_pipeline(RobustScaler(), LogisticRegression()), X, y)
    theirs = cross_val_score(
        make_pipeline(skl.RobustScaler(), LogisticRegression()), X, y
    )
    np.testing.assert_allclose(ours, theirs)


@pytest.mark.parametrize("weight", [0.1, 0.3, 7.1])
def test_equal_weights_of_any_size_stream_as_no_weights(weight):
    # partial_fit's sketch ranks weights of 0.1 as the rows themselves: the
    # median of [-1, 0, 0] is 0 (it was -1, a rounding tie lost).
    X = np.array([[np.nan, -1.0], [0.0, 0.0], [0.0, 0.0]])
    streamed = RobustScaler().partial_fit(X, sample_weight=np.full(3, weight))
    reference = skl.RobustScaler().fit(X)
    np.testing.assert_array_equal(streamed.center_, reference.center_)
    np.testing.assert_array_equal(streamed.scale_, reference.scale_)


# ------------------------------------------------------ median absolute deviation

from scipy.special import ndtri  # noqa: E402
from scipy.stats import median_abs_deviation  # noqa: E402

from ._reference import weighted_quantile  # noqa: E402


def _mad_data(seed=0):
    """Heavy tails, ties (a MAD of 0), NaN, an even and an odd count."""
    rng = np.random.default_rng(seed)
    n = 91
    X = np.column_stack(
        [
            rng.standard_cauchy(n) * 5 + 2,
            rng.normal(size=n),
            np.where(rng.random(n) < 0.7, 1.0, rng.normal(size=n)),  # MAD 0
            rng.lognormal(sigma=2, size=n),
        ]
    )
    X[::6, 1] = np.nan
    X[1::10, 3] = np.nan
    return X


@pytest.mark.parametrize("unit_variance", [False, True])
@pytest.mark.parametrize("data", ["mad", "nan", "adversarial"])
def test_mad_matches_scipy(data, unit_variance):
    X = _mad_data() if data == "mad" else DATASETS[data]
    scaler = RobustScaler(spread="mad", unit_variance=unit_variance).fit(X)
    expected = median_abs_deviation(
        X, axis=0, nan_policy="omit", scale="normal" if unit_variance else 1.0
    )
    _exact(scaler.center_, np.nanmedian(X, axis=0))
    # A deviation of 0 is a constant feature's: scale 1 (over the normal MAD).
    ones = 1 / ndtri(0.75) if unit_variance else 1.0
    _exact(scaler.scale_, np.where(expected > 0, expected, ones))
    expected_tr = (X - np.nanmedian(X, axis=0)) / scaler.scale_
    _assert_close(scaler.transform(X), expected_tr)


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_mad_of_sparse_input_counts_the_implicit_zeros(container):
    dense = sparse.random(75, 6, density=0.35, random_state=5).toarray()
    dense[dense > 0] -= 0.3  # signed values, medians of either sign
    dense[:, 4] += np.where(np.arange(75) % 3 == 0, 2.0, 0.0)  # nonzero median
    dense[np.arange(0, 75, 11), 2] = np.nan
    X = container(dense)
    original = X.copy()
    scaler = RobustScaler(spread="mad", with_centering=False).fit(X)
    expected = median_abs_deviation(dense, axis=0, nan_policy="omit")
    _exact(scaler.scale_, np.where(expected > 0, expected, 1.0))
    # The input is left as it was (the deviations are a new matrix).
    np.testing.assert_array_equal(X.toarray(), original.toarray())


def test_weighted_mad_is_the_weighted_median_of_the_deviations():
    # Both medians are those of Quantiles' weighted definition, computed here
    # in exact arithmetic (tests/_reference.py); the deviations are float64.
    X = _mad_data(seed=1)
    weight = np.random.default_rng(2).integers(0, 4, len(X)).astype(float)
    scaler = RobustScaler(spread="mad").fit(X, sample_weight=weight)
    for j in range(X.shape[1]):
        keep = ~np.isnan(X[:, j])
        column, w = X[keep, j], weight[keep]
        median = float(weighted_quantile(column, 0.5, w)[0])
        assert scaler.center_[j] == median
        deviation = float(weighted_quantile(np.abs(column - median), 0.5, w)[0])
        assert scaler.scale_[j] == (deviation if deviation > 0 else 1.0)


def test_weighted_mad_equal_weights_are_repeated_rows():
    X = _mad_data(seed=3)
    scaler = RobustScaler(spread="mad").fit(X, sample_weight=np.full(len(X), 3.0))
    repeated = np.repeat(X, 3, axis=0)
    expected = median_abs_deviation(repeated, axis=0, nan_policy="omit")
    _exact(scaler.scale_, np.where(expected > 0, expected, 1.0))


@pytest.mark.parametrize("container", [None, sparse.csr_matrix])
def test_mad_partial_fit_is_exact_while_small(container):
    X = np.abs(_mad_data(seed=4))
    X[X < 1] = 0
    X = np.nan_to_num(X)
    data = X if container is None else container(X)
    streamed = RobustScaler(spread="mad", with_centering=container is None)
    for rows in (slice(0, 30), slice(30, 60), slice(60, None)):
        streamed.partial_fit(data[rows])
    _exact(streamed.scale_, RobustScaler(spread="mad").fit(X).scale_)


def test_mad_partial_fit_on_large_data_is_within_the_sketch_bound():
    rng = np.random.default_rng(6)
    n = 120_000
    X = np.column_stack([rng.lognormal(sigma=2, size=n), rng.standard_cauchy(n)])
    streamed = RobustScaler(spread="mad")
    for chunk in np.array_split(X, 40):
        streamed.partial_fit(chunk)
    sketch = sknorm.stats.QuantileSketch.from_state(
        streamed._statistics_state["QuantileSketch"]
    )
    bound = sketch.rank_error_bound()
    for j in range(2):
        # The sketch's median has the sketch's rank error; the MAD found from
        # it has at most twice that in the data's deviations from that median.
        center = streamed.center_[j]
        assert abs(_rank_error(X[:, j], center) - 0.5) <= bound[j]
        deviations = np.abs(X[:, j] - center)
        assert abs(_rank_error(deviations, streamed.scale_[j]) - 0.5) <= 2 * bound[j]
        # The measured error is far below the bound (the sketch's typical 1%).
        assert abs(_rank_error(deviations, streamed.scale_[j]) - 0.5) < 0.02


def test_mad_rejects_a_quantile_range():
    with pytest.raises(ValueError, match="no effect with spread='mad'"):
        RobustScaler(spread="mad", quantile_range=(10.0, 90.0)).fit(_mad_data())
    RobustScaler(spread="mad", quantile_range=(25, 75)).fit(_mad_data())


def test_invalid_spread():
    with pytest.raises(ValueError, match="spread"):
        RobustScaler(spread="std").fit(_mad_data())


def test_robust_scale_mad_equals_the_estimator():
    X = _mad_data(seed=7)
    expected = RobustScaler(spread="mad", unit_variance=True).fit_transform(X)
    result = sknorm.robust_scale(X, spread="mad", unit_variance=True)
    np.testing.assert_array_equal(result, expected)


def test_mad_partial_fit_after_fit_continues_from_the_fitted_data():
    rng = np.random.default_rng(8)
    first = rng.normal(size=(5_000, 2))
    second = rng.normal(size=(5_000, 2)) * 4  # a much wider batch
    scaler = RobustScaler(spread="mad").fit(first).partial_fit(second)
    both = np.concatenate([first, second])
    for j in range(2):
        deviations = np.abs(both[:, j] - scaler.center_[j])
        # Forgetting the fitted data would give the MAD of the wide batch.
        assert abs(_rank_error(deviations, scaler.scale_[j]) - 0.5) < 0.02
    assert list(scaler._statistics_state) == ["QuantileSketch"]


# -- decay: the sketch's items are reweighted ---------------------------------


def _weighted_rank_range(values, weight, estimate):
    """``(W(x < v), W(x <= v)) / W``: the normalized ranks ``estimate`` spans."""
    total = weight.sum()
    return (
        weight[values < estimate].sum() / total,
        weight[values <= estimate].sum() / total,
    )


def test_decayed_stream_is_exact_while_small():
    # Kept whole, the sketch gives the exact weighted quantiles of the rows
    # weighted (1 - decay) ** (batches since): the Fraction reference.
    from ._reference import weighted_quantile

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    sizes, decay = [20, 10, 30], 0.3
    streamed = RobustScaler(decay=decay)
    for rows in np.split(np.arange(60), np.cumsum(sizes)[:-1]):
        streamed.partial_fit(X[rows])
    weight = np.concatenate(
        [np.full(size, (1 - decay) ** (2 - b)) for b, size in enumerate(sizes)]
    )
    for j in range(2):
        median, _ = weighted_quantile(X[:, j], 0.5, weight)
        q1, _ = weighted_quantile(X[:, j], 0.25, weight)
        q3, _ = weighted_quantile(X[:, j], 0.75, weight)
        assert streamed.center_[j] == pytest.approx(float(median), rel=1e-14)
        assert streamed.scale_[j] == pytest.approx(float(q3 - q1), rel=1e-13)


@pytest.mark.parametrize("decay", [0.05, 0.3])
def test_decayed_stream_within_the_sketch_bound(decay):
    from sknorm.stats import QuantileSketch

    rng = np.random.default_rng(1)
    n_batches, size = 40, 2_000
    # Drifting data: the decayed quantiles differ from the undecayed ones.
    X = (
        rng.lognormal(size=(n_batches * size, 2))
        + np.repeat(np.arange(n_batches), size)[:, None] * 0.2
    )
    streamed = RobustScaler(decay=decay)
    for rows in np.array_split(np.arange(len(X)), n_batches):
        streamed.partial_fit(X[rows])
    weight = np.repeat((1 - decay) ** np.arange(n_batches - 1, -1, -1.0), size)
    sketch = QuantileSketch.from_state(streamed._statistics_state["QuantileSketch"])
    bound = sketch.rank_error_bound()
    assert np.all(bound < 0.05)
    assert np.all(sketch.column_sizes <= 3 * int(sketch.k) + 64)
    np.testing.assert_allclose(sketch.weight_sum(), weight.sum(), rtol=1e-12)
    for j in range(2):
        low, high = _weighted_rank_range(X[:, j], weight, streamed.center_[j])
        error = max(low - 0.5, 0.5 - high, 0.0)
        assert error <= min(bound[j], 0.01)
        # The undecayed median lies far outside: the decay is seen.
        assert abs(np.median(X[:, j]) - streamed.center_[j]) > 1.0


def test_decayed_sparse_stream_counts_zeros_with_their_weight():
    X = sparse.random(300, 3, density=0.3, random_state=0, format="csr")
    decayed = RobustScaler(with_centering=False, decay=0.5)
    for rows in (slice(0, 100), slice(100, 300)):
        decayed.partial_fit(X[rows])
    weight = np.r_[np.full(100, 0.5), np.ones(200)]
    reference = RobustScaler(with_centering=False).fit(X, sample_weight=weight)
    np.testing.assert_allclose(decayed.scale_, reference.scale_, rtol=1e-12)
