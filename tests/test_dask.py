"""Fitting and transforming dask arrays and DataFrames on a local cluster.

Every estimator's dask fit is compared with its in-memory fit on the same data
(arrays and DataFrames, float64 and float32, NaN, integer sample weights):
exact statistics to 1e-12 relative, exact quantiles to the last bit, the
quantile sketch within its rank bound.
"""

import collections
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from scipy.special import ndtri
from sklearn.base import clone
from sklearn.utils import get_tags

import sknorm
import sknorm._dask
import sknorm.sources._fit
from sknorm._estimator import _StatisticsEstimator
from sknorm.stats import QuantileSketch, Statistic

from ._tolerances import sum_rtol
from .conftest import DASK_CLUSTER_OPTIONS as CLUSTER_OPTIONS
from .conftest import SPARSE_CONTAINERS

dask = pytest.importorskip(
    "dask", reason="dask is an optional dependency (sknorm[dask])"
)
da = pytest.importorskip(
    "dask.array", reason="dask is an optional dependency (sknorm[dask])"
)
dd = pytest.importorskip(
    "dask.dataframe", reason="dask is an optional dependency (sknorm[dask])"
)
distributed = pytest.importorskip(
    "distributed", reason="distributed is an optional dependency (sknorm[dask])"
)
callbacks = pytest.importorskip(
    "dask.callbacks", reason="dask is an optional dependency (sknorm[dask])"
)


# Every estimator that learns statistics, with parameters that exercise its
# statistics: moments, extrema, exact quantiles, covariance.
FITTED_ESTIMATORS = [
    sknorm.StandardScaler(),
    sknorm.StandardScaler(with_mean=False, clip=True),
    sknorm.StandardScaler(ddof=1),
    sknorm.MinMaxScaler(feature_range=(-1, 2), clip=True),
    sknorm.MaxAbsScaler(),
    sknorm.RobustScaler(dask_quantiles="exact"),
    sknorm.RobustScaler(
        dask_quantiles="exact",
        quantile_range=(5.0, 90.0),
        unit_variance=True,
        clip=True,
    ),
    sknorm.SquashingScaler(max_absolute_value=2.0, dask_quantiles="exact"),
    sknorm.QuantileTransformer(dask_quantiles="exact"),
    sknorm.QuantileTransformer(
        n_quantiles=50, output_distribution="normal", dask_quantiles="exact"
    ),
    sknorm.EmbeddingNormalizer(),
    sknorm.EmbeddingNormalizer(whiten="pca", n_components=2),
    sknorm.EmbeddingNormalizer(whiten="zca", norm=None),
    sknorm.EmbeddingNormalizer(n_remove=1, truncate_dim=2),
    sknorm.EmbeddingNormalizer(center=True, input_norm=None),
    sknorm.EmbeddingNormalizer(whiten="zca", shrinkage="auto", input_norm=None),
    sknorm.EmbeddingQuantizer(),
    sknorm.EmbeddingQuantizer(
        dtype="uint8", quantile_range=(1.0, 99.0), dask_quantiles="exact"
    ),
    sknorm.EmbeddingQuantizer(dtype="binary", center="median", dask_quantiles="exact"),
    sknorm.PowerTransformer(),
    sknorm.PowerTransformer(standardize=False, decay=0.5),
]
ROW_NORMALIZERS = [sknorm.Normalizer, sknorm.RowStandardizer]

# (container, dtype, weighted): between them every kind of input; weighted
# DataFrames have a test of their own.
CASES = [("array", np.float64, True), ("frame", np.float32, False)]
N_BLOCKS = 7


def _data(n_rows=3_000, n_features=4, dtype=np.float64, seed=0, nan=True):
    """Correlated features with distinct variances, NaN, and a tied column."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    X = rng.normal(size=(n_rows, n_features)) * np.geomspace(4, 0.5, n_features)
    X = X @ rotation + np.arange(n_features) * 3.0
    X[:, -1] = np.round(X[:, -1] * 2) / 2  # many ties
    if nan:
        X[::7, 1] = np.nan
    return X.astype(dtype)


def _names(n_features):
    return [f"f{i}" for i in range(n_features)]


def _on_dask(X, weight, container):
    """X (and weight) in memory and as aligned dask collections."""
    if container == "array":
        chunks = (-(-len(X) // N_BLOCKS), X.shape[1] - 1)  # column chunks too
        dweight = None if weight is None else da.from_array(weight, chunks=333)
        return X, da.from_array(X, chunks=chunks), dweight
    frame = pd.DataFrame(X, columns=_names(X.shape[1]))
    dweight = None
    if weight is not None:
        dweight = dd.from_pandas(pd.Series(weight), npartitions=N_BLOCKS)
    return frame, dd.from_pandas(frame, npartitions=N_BLOCKS), dweight


def _fitted_attributes(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _assert_same_fit(fitted, reference, exact=False, n_rows=3_000):
    """Same public fitted attributes: bitwise when ``exact``, else within the
    bound for sums of ``n_rows`` terms in two orders (partitions merged against
    in-memory blocks), ``sum_rtol(n_rows)`` (2.7e-12 for ``_data``'s 3,000
    rows), relative to each attribute's magnitude: the terms of a mean or a
    variance are at most about that magnitude in ``_data``."""
    got, expected = _fitted_attributes(fitted), _fitted_attributes(reference)
    rtol = sum_rtol(n_rows)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if value is None or np.asarray(value).dtype.kind in "OUSb":
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        elif exact:
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            magnitude = np.nanmax(np.abs(value), initial=0.0)
            np.testing.assert_allclose(
                got[name], value, rtol=rtol, atol=rtol * magnitude, err_msg=name
            )


def _exact_quantiles(estimator):
    """Whether the estimator's dask fit is exact to the last bit."""
    return getattr(estimator, "dask_quantiles", None) == "exact"


def _assert_same_output(got, expected, dtype):
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    if dtype.kind != "f":
        np.testing.assert_array_equal(got, expected)
    else:
        rtol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)


def test_every_estimator_with_statistics_is_covered():
    public = {
        cls
        for cls in map(sknorm.__dict__.get, sknorm.__all__)
        if isinstance(cls, type) and issubclass(cls, _StatisticsEstimator)
    }
    assert public == {type(estimator) for estimator in FITTED_ESTIMATORS}


@pytest.mark.parametrize(("container", "dtype", "weighted"), CASES)
@pytest.mark.parametrize(
    "estimator", FITTED_ESTIMATORS, ids=lambda est: repr(est).replace(" ", "")
)
def test_dask_fit_equals_in_memory_fit(client, estimator, container, dtype, weighted):
    X = _data(dtype=dtype, nan=get_tags(estimator).input_tags.allow_nan)
    rng = np.random.default_rng(1)
    weight = rng.integers(0, 4, size=len(X)).astype(float) if weighted else None
    X_memory, X_dask, weight_dask = _on_dask(X, weight, container)

    fitted = clone(estimator).fit(X_dask, sample_weight=weight_dask)
    reference = _in_memory_reference(clone(estimator), X_memory, weight)
    _assert_same_fit(fitted, reference, exact=_exact_quantiles(estimator))

    _check_transforms(fitted, reference, X_dask, X_memory)


def _in_memory_reference(estimator, X, weight):
    """The in-memory fit a dask fit equals: ``fit``, except for
    PowerTransformer, whose exact maximum likelihood needs the data in memory:
    its dask fit merges the partitions' likelihood summaries, which is what
    ``partial_fit`` of all the data computes (its accuracy against ``fit`` is
    tested in tests/test_power_transformer.py)."""
    if isinstance(estimator, sknorm.PowerTransformer):
        return estimator.partial_fit(X, sample_weight=weight)
    return estimator.fit(X, sample_weight=weight)


def _check_transforms(fitted, reference, X_dask, X_memory):
    """The dask-fitted estimator's lazy transforms of X_dask equal the
    in-memory estimator's transforms of X_memory (names, dtypes, NaN)."""
    out = fitted.transform(X_dask)
    expected = reference.transform(X_memory)
    lazy = [out]
    frame = isinstance(X_memory, pd.DataFrame)
    if hasattr(fitted, "inverse_transform"):
        back = fitted.inverse_transform(out)
        lazy.append(back)
        if frame:
            expected_names = reference.get_feature_names_out()
            expected = pd.DataFrame(expected, columns=expected_names)
            assert list(back.columns) == list(X_memory.columns)
        expected_back = np.asarray(reference.inverse_transform(expected))
    expected = np.asarray(expected)
    if frame:
        assert all(isinstance(result, dd.DataFrame) for result in lazy)
        assert list(out.columns) == list(reference.get_feature_names_out())
        assert list(out.dtypes) == [expected.dtype] * expected.shape[1]
    else:
        assert all(isinstance(result, da.Array) for result in lazy)
        assert out.dtype == expected.dtype
    computed = dask.compute(*lazy)  # one round trip to the cluster
    if frame:
        pd.testing.assert_index_equal(computed[0].index, X_memory.index)
    _assert_same_output(np.asarray(computed[0]), expected, expected.dtype)
    if len(computed) > 1:
        input_dtype = np.asarray(X_memory).dtype
        _assert_same_output(np.asarray(computed[1]), expected_back, input_dtype)


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.StandardScaler(),
        sknorm.RobustScaler(dask_quantiles="exact"),
        sknorm.EmbeddingNormalizer(),
        sknorm.EmbeddingNormalizer(center=True, whiten="pca", shrinkage="auto"),
    ],
)
def test_weighted_dask_dataframe_fit_equals_in_memory_fit(client, estimator):
    X = _data(nan=get_tags(estimator).input_tags.allow_nan)
    weight = np.random.default_rng(2).integers(0, 4, size=len(X)).astype(float)
    frame, dframe, dweight = _on_dask(X, weight, "frame")
    fitted = clone(estimator).fit(dframe, sample_weight=dweight)
    reference = clone(estimator).fit(frame, sample_weight=weight)
    _assert_same_fit(fitted, reference, exact=_exact_quantiles(estimator))


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.StandardScaler(),
        sknorm.MinMaxScaler(),
        sknorm.EmbeddingNormalizer(whiten="zca"),
        sknorm.EmbeddingNormalizer(center=True, input_norm=None),
        sknorm.EmbeddingQuantizer(),
    ],
)
def test_partial_fit_on_dask_batches_equals_fit(client, estimator):
    X = _data(nan=get_tags(estimator).input_tags.allow_nan)
    streamed = clone(estimator)
    for rows in (slice(0, 1_200), slice(1_200, None)):
        streamed.partial_fit(da.from_array(X[rows], chunks=(500, -1)))
    _assert_same_fit(streamed, clone(estimator).fit(X))


@pytest.mark.parametrize(
    "estimator",
    [sknorm.StandardScaler(decay=0.3), sknorm.EmbeddingNormalizer(decay=0.3)],
    ids=repr,
)
def test_decayed_partial_fit_on_dask_batches_equals_in_memory(client, estimator):
    X = _data(nan=get_tags(estimator).input_tags.allow_nan)
    weight = np.random.default_rng(2).uniform(0, 2, len(X))
    on_dask, in_memory = clone(estimator), clone(estimator)
    for rows in (slice(0, 700), slice(700, 1_200), slice(1_200, None)):
        on_dask.partial_fit(
            da.from_array(X[rows], chunks=(200, -1)),
            sample_weight=da.from_array(weight[rows], chunks=200),
        )
        in_memory.partial_fit(X[rows], sample_weight=weight[rows])
    _assert_same_fit(on_dask, in_memory)


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.StandardScaler(feature_groups=[[0, 2], [1, 3]]),
        sknorm.MaxAbsScaler(feature_groups=[[0, 1, 2]]),
    ],
    ids=repr,
)
def test_pooled_fit_on_dask_equals_in_memory(client, estimator):
    X = _data()
    fitted = clone(estimator).fit(da.from_array(X, chunks=(500, -1)))
    _assert_same_fit(fitted, clone(estimator).fit(X))


def test_pooled_exact_quantiles_need_the_data_in_memory(client):
    X = da.from_array(_data(), chunks=(500, -1))
    scaler = sknorm.RobustScaler(feature_groups=[[0, 1]], dask_quantiles="exact")
    with pytest.raises(ValueError, match="feature_groups needs the data in memory"):
        scaler.fit(X)
    # The sketch pools on the cluster.
    sketched = sknorm.RobustScaler(feature_groups=[[0, 1]]).fit(X)
    assert sketched.center_[0] == sketched.center_[1]


def test_robust_scaler_sketch_is_within_its_bound(client):
    X = np.random.default_rng(3).lognormal(size=(20_000, 2))
    fitted = sknorm.RobustScaler().fit(da.from_array(X, chunks=(1_000, 2)))
    sketch = QuantileSketch.from_state(fitted._statistics_state["QuantileSketch"])
    bound = sketch.rank_error_bound()
    for column in range(2):
        values = X[:, column]
        center = fitted.center_[column]
        low, high = np.mean(values < center), np.mean(values <= center)
        assert max(low - 0.5, 0.5 - high, 0.0) <= bound[column]
    # The sketch is kept, so partial_fit continues from the dask fit.
    fitted.partial_fit(X[:100])
    assert fitted._statistics_state.keys() == {"QuantileSketch"}


@pytest.mark.parametrize("container", ["array", "frame"])
def test_robust_scaler_mad_on_dask_is_the_sketchs(client, container):
    # One pass of merged sketches: the center and the MAD of the merged
    # sketch, as partial_fit over the same partitions computes them.
    X = np.random.default_rng(5).lognormal(size=(20_000, 2))
    weight = np.random.default_rng(6).integers(0, 4, size=len(X)).astype(float)
    X_memory, X_dask, weight_dask = _on_dask(X, weight, container)
    scaler = sknorm.RobustScaler(spread="mad", unit_variance=True)
    fitted = clone(scaler).fit(X_dask, sample_weight=weight_dask)
    sketch = QuantileSketch.from_state(fitted._statistics_state["QuantileSketch"])
    center = sketch.quantiles([0.5]).median()
    mad = sketch.deviation_quantiles(center).median()
    np.testing.assert_array_equal(fitted.center_, center)
    np.testing.assert_allclose(fitted.scale_, mad / ndtri(0.75), rtol=1e-15)
    # Within twice the sketch's bound of the exact MAD's rank.
    bound = sketch.rank_error_bound()
    for column in range(2):
        repeated = np.repeat(X[:, column], weight.astype(int))
        deviations = np.abs(repeated - center[column])
        low = np.mean(deviations < mad[column])
        high = np.mean(deviations <= mad[column])
        assert max(low - 0.5, 0.5 - high, 0.0) <= 2 * bound[column]
    _check_transforms(fitted, fitted, X_dask, X_memory)


def test_robust_scaler_mad_refuses_exact_dask_quantiles(client):
    X = da.from_array(_data(), chunks=(500, -1))
    scaler = sknorm.RobustScaler(spread="mad", dask_quantiles="exact")
    with pytest.raises(ValueError, match="not available with spread='mad'"):
        scaler.fit(X)


def test_squashing_scaler_ignores_infinity_on_dask_as_in_memory(client):
    X = _data()
    X[::50, 0], X[3::70, 2] = np.inf, -np.inf
    scaler = sknorm.SquashingScaler(dask_quantiles="exact")
    fitted = clone(scaler).fit(da.from_array(X, chunks=(500, -1)))
    reference = clone(scaler).fit(X)
    _assert_same_fit(fitted, reference, exact=True)
    out = fitted.transform(da.from_array(X, chunks=(500, -1))).compute()
    np.testing.assert_array_equal(out, reference.transform(X))
    assert np.all(out[::50, 0] == 3.0) and np.all(out[3::70, 2] == -3.0)


@pytest.mark.parametrize("container", ["array", "frame"])
def test_box_cox_fits_on_dask(client, container):
    """The metadata's stand-in row is positive, as Box-Cox needs: the fit
    is the merged summary, within its stated 2e-4 of the exact maximum."""
    X = np.random.default_rng(3).lognormal(size=(2000, 2))
    data = da.from_array(X, chunks=(500, -1))
    if container == "frame":
        data = dd.from_dask_array(data, columns=["a", "b"])
    fitted = sknorm.PowerTransformer(method="box-cox").fit(data)
    reference = sknorm.PowerTransformer(method="box-cox").fit(X)
    assert np.all(np.abs(fitted.lambdas_ - reference.lambdas_) <= 2e-4)


def test_exact_quantiles_recover_from_a_missed_bracket(client, monkeypatch):
    # With a rank bound of zero the first brackets are too narrow to hold the
    # quantiles: the passes must notice and search again. Blocks are also
    # counted in several row chunks each.
    monkeypatch.setattr(sknorm.sources._fit, "_BRACKET_CHUNK_VALUES", 150)
    passes = []
    reduce_blocks = sknorm._dask._reduce_blocks

    def counting(function, *args, **kwargs):
        passes.append(function.__name__)
        return reduce_blocks(function, *args, **kwargs)

    monkeypatch.setattr(sknorm._dask, "_reduce_blocks", counting)
    monkeypatch.setattr(
        QuantileSketch, "rank_error_bound", lambda self: np.zeros(self.n_features)
    )
    X = _data()
    fitted = sknorm.RobustScaler(dask_quantiles="exact").fit(
        da.from_array(X, chunks=(400, 4))
    )
    _assert_same_fit(fitted, sknorm.RobustScaler().fit(X), exact=True)
    assert passes.count("_bracket_pass") >= 2


def test_exact_quantiles_of_small_data_take_one_pass(client, monkeypatch):
    passes = []
    reduce_blocks = sknorm._dask._reduce_blocks
    monkeypatch.setattr(
        sknorm._dask,
        "_reduce_blocks",
        lambda function, *args, **kwargs: (
            passes.append(1) or reduce_blocks(function, *args, **kwargs)
        ),
    )
    X = _data(n_rows=200)  # the sketch keeps every value
    fitted = sknorm.RobustScaler(dask_quantiles="exact").fit(
        da.from_array(X, chunks=(30, 4))
    )
    _assert_same_fit(fitted, sknorm.RobustScaler().fit(X), exact=True)
    assert len(passes) == 1


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.MaxAbsScaler(),
        sknorm.RobustScaler(with_centering=False, dask_quantiles="exact"),
        sknorm.StandardScaler(with_mean=False),
    ],
)
def test_sparse_chunks(client, estimator):
    X = sparse.random(3_000, 4, density=0.3, format="csr", random_state=0)
    X.data = np.round(X.data * 8)  # ties among the stored values
    dX = da.from_array(X, chunks=(500, 4), asarray=False)
    fitted = clone(estimator).fit(dX)
    reference = clone(estimator).fit(X)
    _assert_same_fit(fitted, reference, exact=_exact_quantiles(estimator))
    out = fitted.transform(dX)
    assert sparse.issparse(out._meta)
    computed = out.compute()
    assert sparse.issparse(computed) and computed.format == "csr"
    np.testing.assert_allclose(
        computed.toarray(), reference.transform(X).toarray(), rtol=1e-12
    )


@pytest.mark.parametrize(
    "estimator",
    [sknorm.MaxAbsScaler(), sknorm.Normalizer()],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("container", SPARSE_CONTAINERS, ids=lambda c: c.__name__)
def test_sparse_chunks_keep_their_container(client, estimator, container):
    """Blocks of a CSR/CSC matrix or array come back as the same container,
    as the in-memory transform returns them."""
    X = container(sparse.random(600, 4, density=0.3, random_state=0))
    dX = da.from_array(X, chunks=(100, 4), asarray=False)
    fitted = clone(estimator).fit(dX)
    outputs = {"transform": fitted.transform(dX)}
    if hasattr(fitted, "inverse_transform"):
        outputs["inverse_transform"] = fitted.inverse_transform(outputs["transform"])
    for method, out in outputs.items():
        assert type(out._meta) is container, method
        blocks = [block.compute() for block in out.to_delayed().ravel()]
        assert all(type(block) is container for block in blocks), method
        # Gathered, the blocks are dask's concatenation (older dask makes a
        # matrix of sparse arrays, the input's too).
        assert type(out.compute()) is type(dX.compute()), method


@pytest.mark.parametrize("Normalizer", ROW_NORMALIZERS)
def test_row_normalizers_map_blocks(client, Normalizer):
    X = _data(dtype=np.float32)
    frame = pd.DataFrame(X, columns=_names(4))
    dframe = dd.from_pandas(frame, npartitions=4)
    normalizer = Normalizer().fit(dframe)
    np.testing.assert_array_equal(normalizer.feature_names_in_, _names(4))
    out = normalizer.transform(dframe)
    assert isinstance(out, dd.DataFrame)
    assert list(out.dtypes) == [np.float32] * 4
    expected = Normalizer().fit_transform(frame)
    _assert_same_output(out.compute().to_numpy(), expected, expected.dtype)
    unfitted = Normalizer().transform(da.from_array(X, chunks=(100, 2)))
    _assert_same_output(unfitted.compute(), Normalizer().transform(X), X.dtype)


def test_set_output_keeps_dask_results_lazy(client):
    frame = pd.DataFrame(_data(), columns=_names(4))
    dframe = dd.from_pandas(frame, npartitions=3)
    scaler = sknorm.StandardScaler().set_output(transform="pandas").fit(dframe)
    out = scaler.transform(dframe)
    assert isinstance(out, dd.DataFrame)
    pd.testing.assert_frame_equal(
        out.compute(),
        sknorm.StandardScaler()
        .set_output(transform="pandas")
        .fit(frame)
        .transform(frame),
    )


def test_empty_partitions_are_skipped(client):
    frame = pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0) ** 2})
    dframe = dd.from_pandas(frame, npartitions=3)
    dframe = dframe[dframe["a"] >= 20]  # two partitions left empty
    fitted = sknorm.StandardScaler().fit(dframe)
    kept = frame[frame["a"] >= 20]
    _assert_same_fit(fitted, sknorm.StandardScaler().fit(kept), n_rows=len(kept))
    assert len(fitted.transform(dframe).compute()) == 10
    with pytest.raises(ValueError, match="0 sample"):
        sknorm.StandardScaler().fit(dframe[dframe["a"] > 100])


#: Reads of each block by :func:`_read_block`, per test (the cluster's
#: workers are threads of this process; the function is pickled by name).
_BLOCK_READS = collections.Counter()


def _read_block(X, i, rows):
    _BLOCK_READS[i] += 1
    return X[rows]


def _counted_array(X, n_blocks):
    """X as a dask array of ``n_blocks`` row blocks, each produced by a task
    that counts its reads in :data:`_BLOCK_READS` (block index: count)."""
    bounds = np.linspace(0, len(X), n_blocks + 1).astype(int)
    blocks = [
        da.from_delayed(
            dask.delayed(_read_block, pure=True)(X, i, slice(bounds[i], bounds[i + 1])),
            shape=(bounds[i + 1] - bounds[i], X.shape[1]),
            dtype=X.dtype,
        )
        for i in range(n_blocks)
    ]
    return da.concatenate(blocks)


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.StandardScaler(),
        sknorm.MinMaxScaler(),
        sknorm.RobustScaler(dask_quantiles="sketch"),
        sknorm.GroupedScaler(sknorm.StandardScaler()),
    ],
    ids=lambda e: type(e).__name__,
)
def test_small_int64_dask_fit_reads_once_as_float64(client, estimator):
    """int64 values float64 holds exactly have no integer centre: a dask fit
    reads each partition once (the centre is chosen in the merge, not in a
    pass of its own) and equals the fit of the same values as float64, bit
    for bit."""
    rng = np.random.default_rng(7)
    X = rng.integers(-1000, 1000, size=(600, 3))
    X[:, 0] = rng.integers(0, 4, size=len(X))  # GroupedScaler's groups
    _BLOCK_READS.clear()
    fitted = clone(estimator).fit(_counted_array(X, 5))
    assert dict(_BLOCK_READS) == dict.fromkeys(range(5), 1)
    assert getattr(fitted, "_integer_center", None) is None
    as_float = clone(estimator).fit(_counted_array(X.astype(float), 5))
    pairs = [(fitted, as_float)]
    if hasattr(as_float, "scalers_"):  # and each group's scaler
        pairs += zip(fitted.scalers_, as_float.scalers_, strict=True)
        pairs.append((fitted.all_groups_scaler_, as_float.all_groups_scaler_))
    for got, expected in pairs:
        attributes = [
            name
            for name, value in vars(expected).items()
            if name.endswith("_") and isinstance(value, np.ndarray)
        ]
        assert attributes
        for name in attributes:
            np.testing.assert_array_equal(
                getattr(got, name), getattr(expected, name), name
            )
    X_lazy = da.from_array(X, chunks=(100, -1))
    np.testing.assert_array_equal(
        fitted.transform(X_lazy).compute(), as_float.transform(X.astype(float))
    )


def _holds_statistics(value):
    """Whether a task's result ``value`` holds a statistic (a block's or a
    merge's ``(fields, n_rows)``)."""
    if isinstance(value, Statistic):
        return True
    if isinstance(value, (tuple, list)):
        return any(map(_holds_statistics, value))
    if isinstance(value, dict):
        return any(map(_holds_statistics, value.values()))
    if isinstance(value, np.ndarray) and value.dtype == object:
        return any(map(_holds_statistics, value.ravel()))
    return False


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.MinMaxScaler(),
        sknorm.RobustScaler(dask_quantiles="sketch"),
        sknorm.GroupedScaler(sknorm.StandardScaler()),
    ],
    ids=lambda e: type(e).__name__,
)
def test_integer_centred_merges_do_not_wait_for_the_collection(estimator):
    """Partitions of 64-bit integers beyond 2**53, each taken relative to its
    own centre, are merged as they arrive (each merge at the centre of its
    own parts' rows), as in the plain tree reduction: the first merge runs
    before the last partition is read, and the scheduler holds at most the
    statistics of a depth-first walk of the two-level tree, not every
    partition's (as merges waiting for the collection's centre would)."""
    n_blocks = 64
    rng = np.random.default_rng(3)
    # Within 2**52 of their least value: each partition has its own centre,
    # and the merges move them exactly (bit for bit, see _merge_recentred).
    X = rng.integers(2**60, 2**60 + 2**52, size=(640, 3))
    X[:, 0] = rng.integers(2**62, 2**62 + 4, size=len(X))  # GroupedScaler's groups
    held = []
    reads_at_first_merge = []

    def after_task(key, result, dsk, state, worker_id):
        if "merge" in str(key) and not reads_at_first_merge:
            reads_at_first_merge.append(sum(_BLOCK_READS.values()))
        held.append(sum(map(_holds_statistics, state["cache"].values())))

    _BLOCK_READS.clear()
    with (
        dask.config.set(scheduler="sync"),
        callbacks.Callback(posttask=after_task),
    ):
        fitted = clone(estimator).fit(_counted_array(X, n_blocks))
    assert dict(_BLOCK_READS) == dict.fromkeys(range(n_blocks), 1)
    assert reads_at_first_merge and reads_at_first_merge[0] < n_blocks
    # 64 blocks make two levels of merges of _SPLIT_EVERY parts: a depth-first
    # order holds at most _SPLIT_EVERY - 1 merged parts of the first level
    # and the _SPLIT_EVERY blocks of the next merge.
    split = sknorm._dask._SPLIT_EVERY
    assert n_blocks == split**2
    assert max(held) <= 2 * split - 1
    in_memory = clone(estimator).fit(X)
    np.testing.assert_array_equal(fitted._integer_center, in_memory._integer_center)
    assert fitted._integer_center is not None
    if isinstance(estimator, sknorm.MinMaxScaler):
        for name in ("data_min_", "data_max_", "scale_", "min_"):
            np.testing.assert_array_equal(
                getattr(fitted, name), getattr(in_memory, name), name
            )


def test_input_errors_name_the_problem(client):
    frame = pd.DataFrame({"a": [1.0, 2.0], "s": ["x", "y"]})
    with pytest.raises(ValueError, match="'s'"):
        sknorm.StandardScaler().fit(dd.from_pandas(frame, npartitions=1))
    fitted = sknorm.StandardScaler().fit(da.from_array(_data(), chunks=100))
    with pytest.raises(ValueError, match="features"):
        fitted.partial_fit(da.from_array(_data(n_features=3), chunks=100))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(da.from_array(_data(n_features=3), chunks=100))
    with pytest.raises(ValueError, match="2-D"):
        sknorm.StandardScaler().fit(da.ones(10, chunks=5))
    with pytest.raises(ValueError, match=r"[Ii]nf"):
        sknorm.StandardScaler().fit(da.from_array(np.array([[1.0], [np.inf]])))
    # Raised from the metadata, before any data is read.
    with pytest.raises(ValueError, match="n_remove=4"):
        sknorm.EmbeddingNormalizer(n_remove=4).fit(da.from_array(_data(), chunks=100))
    # NaN is found in the data, on a worker, and named as in memory.
    with pytest.raises(ValueError, match="NaN"):
        sknorm.EmbeddingNormalizer().fit(da.from_array(_data(), chunks=100))
    with pytest.raises(TypeError, match="dask Series"):
        sknorm.StandardScaler().fit(
            dd.from_pandas(frame[["a"]], npartitions=1), sample_weight=np.ones(2)
        )


def test_fitted_estimator_is_used_without_dask(client):
    # sknorm never imports dask at module load, and an estimator fitted on dask
    # is an ordinary one: it loads and transforms where dask is never imported.
    X = _data(nan=False)
    fitted = sknorm.EmbeddingNormalizer(whiten="pca").fit(
        da.from_array(X, chunks=(500, 4))
    )
    code = (
        "import pickle, sys\n"
        "import numpy as np, sknorm, sknorm._dask\n"
        "def dask_modules():\n"
        "    return [m for m in sys.modules if m.split('.')[0] == 'dask']\n"
        "assert not dask_modules(), dask_modules()\n"
        "est = pickle.loads(sys.stdin.buffer.read())\n"
        "print(est.transform(np.ones((1, 4)))[0, 0].item().hex())\n"
        "assert not dask_modules(), dask_modules()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(fitted),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr.decode()
    expected = fitted.transform(np.ones((1, 4)))[0, 0]
    assert float.fromhex(result.stdout.decode()) == expected


def _recomputed_keys(dask_scheduler):
    """Keys that reached memory more than once (in the scheduler's log)."""
    finished = collections.Counter(
        transition[0]
        for transition in dask_scheduler.transition_log
        if transition[2] == "memory"
    )
    return [str(key) for key, times in finished.items() if times > 1]


def test_fit_survives_a_killed_worker(client):
    X = _data(n_rows=2_000)
    dX = da.from_array(X, chunks=(100, 4))
    undisturbed = sknorm.StandardScaler().fit(dX)

    def slow_identity(block):
        time.sleep(0.1)
        return block

    slow = dX.map_blocks(slow_identity, dtype=X.dtype)
    with distributed.LocalCluster(processes=True, **CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster) as process_client:
            pid_of = process_client.run(os.getpid)
            victim = next(iter(pid_of))
            result = {}

            def fit():
                with process_client.as_current():
                    result["fitted"] = sknorm.StandardScaler().fit(slow)

            fitting = threading.Thread(target=fit)
            fitting.start()
            # Kill the worker once it holds results of the fit, so they are lost.
            deadline = time.monotonic() + 30
            while not process_client.has_what().get(victim):
                assert time.monotonic() < deadline, "the worker never held a result"
                time.sleep(0.02)
            assert fitting.is_alive(), "the fit ended before a worker was killed"
            os.kill(pid_of[victim], signal.SIGKILL)
            fitting.join(timeout=120)
            assert not fitting.is_alive()
            assert pid_of[victim] not in process_client.run(os.getpid).values()
            # Results lost with the worker were computed again.
            assert process_client.run_on_scheduler(_recomputed_keys)
    # The same tree of merges: bitwise the undisturbed result.
    _assert_same_fit(result["fitted"], undisturbed, exact=True)
    _assert_same_fit(result["fitted"], sknorm.StandardScaler().fit(X))


@pytest.mark.parametrize(
    "params",
    [{"center": True}, {"whiten": "zca", "shrinkage": "auto", "norm": None}],
)
def test_input_norm_on_dask_equals_fitting_normalized_rows(client, params):
    """Each partition's rows are normalized before its statistic: the fit
    equals an in-memory fit on scikit-learn's normalized rows."""
    from sklearn.preprocessing import normalize as sklearn_normalize

    X = _data(nan=False)
    X *= np.linspace(0.5, 5.0, len(X))[:, None]  # rows of varied norms
    weight = np.random.default_rng(5).random(len(X))
    fitted = sknorm.EmbeddingNormalizer(**params, input_norm="l2").fit(
        da.from_array(X, chunks=(500, -1)), sample_weight=da.from_array(weight, 500)
    )
    reference = sknorm.EmbeddingNormalizer(**params, input_norm=None).fit(
        sklearn_normalize(X), sample_weight=weight
    )
    np.testing.assert_allclose(fitted.mean_, reference.mean_, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        fitted.projection_, reference.projection_, rtol=1e-9, atol=1e-10
    )
    transformed = fitted.transform(da.from_array(X, chunks=(500, -1))).compute()
    np.testing.assert_allclose(
        transformed, reference.transform(sklearn_normalize(X)), rtol=1e-9, atol=1e-10
    )


@pytest.mark.parametrize("container", ["array", "frame"])
@pytest.mark.parametrize("weighted", [False, True])
def test_grouped_scaler_fit_on_the_cluster(client, container, weighted):
    """Per-group statistics per partition, merged across partitions on the
    cluster: the groups' scalers equal those of the in-memory partial_fit
    (the same mergeable statistics); a group in a few partitions only is kept."""
    X = _data(n_rows=1_200)
    groups = np.repeat(np.arange(6), 200)  # sorted: most partitions hold one
    groups[::97] = 6  # a group spread thinly over the partitions
    X[:, 0] = groups
    rng = np.random.default_rng(4)
    weight = rng.integers(0, 3, size=len(X)).astype(float) if weighted else None
    X_memory, X_dask, weight_dask = _on_dask(X, weight, container)
    scaler = sknorm.GroupedScaler(sknorm.MinMaxScaler(), handle_unknown="error")
    on_dask = clone(scaler).fit(X_dask, sample_weight=weight_dask)
    in_memory = clone(scaler).partial_fit(X_memory, sample_weight=weight)
    np.testing.assert_array_equal(on_dask.groups_, in_memory.groups_)
    np.testing.assert_array_equal(on_dask.group_counts_, in_memory.group_counts_)
    for got, expected in zip(on_dask.scalers_, in_memory.scalers_, strict=True):
        np.testing.assert_array_equal(got.data_min_, expected.data_min_)
        np.testing.assert_array_equal(got.data_max_, expected.data_max_)
    got = np.asarray(on_dask.transform(X_dask).compute())
    expected = in_memory.transform(X_memory)
    _assert_same_output(got, expected, np.dtype(np.float64))
