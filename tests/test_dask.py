"""Fitting and transforming dask arrays and DataFrames on a local cluster."""

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

import sknorm
from sknorm.stats import QuantileSketch

da = pytest.importorskip(
    "dask.array", reason="dask is an optional dependency (sknorm[dask])"
)
dd = pytest.importorskip(
    "dask.dataframe", reason="dask is an optional dependency (sknorm[dask])"
)
distributed = pytest.importorskip(
    "distributed", reason="distributed is an optional dependency (sknorm[dask])"
)

# Tests talk to 127.0.0.1 only (see the design notes).
CLUSTER_OPTIONS = dict(
    n_workers=2,
    threads_per_worker=1,
    protocol="tcp",
    host="127.0.0.1",
    dashboard_address="127.0.0.1:0",
)

COLUMN_SCALERS = [
    sknorm.StandardScaler,
    sknorm.MinMaxScaler,
    sknorm.MaxAbsScaler,
    sknorm.RobustScaler,
]
EXACT_SCALERS = COLUMN_SCALERS[:3]
ROW_NORMALIZERS = [sknorm.Normalizer, sknorm.RowStandardizer]


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(processes=False, **CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _data(n_rows=600, n_features=4, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(
        loc=3.0, scale=[1.0, 10.0, 0.1, 5.0][:n_features], size=(n_rows, n_features)
    )
    X[::7, 1] = np.nan
    X[:, -1] = np.abs(X[:, -1])
    return X.astype(dtype)


def _fitted_arrays(estimator):
    """Public fitted arrays of an estimator, by name."""
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_") and value is not None
    }


def _assert_same_fit(fitted, reference, rtol=1e-12):
    got, expected = _fitted_arrays(fitted), _fitted_arrays(reference)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if name == "feature_names_in_":
            np.testing.assert_array_equal(got[name], value)
        else:
            np.testing.assert_allclose(
                got[name], value, rtol=rtol, atol=0, err_msg=name
            )


def test_sknorm_does_not_import_dask():
    code = "import sknorm, sys; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("Scaler", EXACT_SCALERS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exact_fit_on_dask_array_matches_in_memory(client, Scaler, dtype):
    X = _data(dtype=dtype)
    # Column chunks too: the fit must gather every column of a row block.
    dX = da.from_array(X, chunks=(70, 3))
    fitted = Scaler().fit(dX)
    _assert_same_fit(fitted, Scaler().fit(X))
    transformed = fitted.transform(dX)
    assert isinstance(transformed, da.Array)
    assert transformed.dtype == dtype
    result = transformed.compute()
    assert result.dtype == dtype
    np.testing.assert_array_equal(np.isnan(result), np.isnan(X))
    expected = Scaler().fit(X).transform(X)
    np.testing.assert_allclose(
        result, expected, rtol=1e-6 if dtype == np.float32 else 1e-12
    )
    back = fitted.inverse_transform(transformed).compute()
    reference = Scaler().fit(X)
    np.testing.assert_allclose(
        back,
        reference.inverse_transform(reference.transform(X)),
        rtol=1e-6 if dtype == np.float32 else 1e-12,
    )


@pytest.mark.parametrize("Scaler", EXACT_SCALERS)
def test_fit_on_dask_dataframe_keeps_names_and_dtypes(client, Scaler):
    X = _data(dtype=np.float32)
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    dframe = dd.from_pandas(frame, npartitions=6)
    fitted = Scaler().fit(dframe)
    _assert_same_fit(fitted, Scaler().fit(frame))
    out = fitted.transform(dframe)
    assert isinstance(out, dd.DataFrame)
    assert list(out.columns) == ["a", "b", "c", "d"]
    assert list(out.dtypes) == [np.float32] * 4
    computed = out.compute()
    pd.testing.assert_index_equal(computed.index, frame.index)
    np.testing.assert_allclose(
        computed.to_numpy(), Scaler().fit(frame).transform(frame), rtol=1e-6
    )
    restored = fitted.inverse_transform(out).compute()
    reference = Scaler().fit(frame)
    np.testing.assert_allclose(
        restored.to_numpy(),
        reference.inverse_transform(
            pd.DataFrame(reference.transform(frame), columns=frame.columns)
        ),
        rtol=1e-6,
    )


def test_weights_partial_fit_and_mixed_dtypes(client):
    X = _data()
    weight = np.random.default_rng(1).integers(0, 4, size=X.shape[0]).astype(float)
    dX, dweight = da.from_array(X, chunks=(50, 4)), da.from_array(weight, chunks=33)
    fitted = sknorm.StandardScaler().fit(dX, sample_weight=dweight)
    _assert_same_fit(fitted, sknorm.StandardScaler().fit(X, sample_weight=weight))

    streamed = sknorm.StandardScaler()
    for rows in (slice(0, 250), slice(250, None)):
        streamed.partial_fit(da.from_array(X[rows], chunks=(40, 4)))
    _assert_same_fit(streamed, sknorm.StandardScaler().fit(X))

    frame = pd.DataFrame({"i": np.arange(40), "f": np.linspace(0, 1, 40)})
    dframe = dd.from_pandas(frame, npartitions=3)
    _assert_same_fit(
        sknorm.MinMaxScaler().fit(dframe), sknorm.MinMaxScaler().fit(frame)
    )
    w_frame = dd.from_pandas(pd.Series(np.arange(40.0)), npartitions=3)
    _assert_same_fit(
        sknorm.StandardScaler().fit(dframe, sample_weight=w_frame),
        sknorm.StandardScaler().fit(frame, sample_weight=np.arange(40.0)),
    )


def test_empty_partitions_are_skipped(client):
    frame = pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0) ** 2})
    dframe = dd.from_pandas(frame, npartitions=3)
    dframe = dframe[dframe["a"] >= 20]  # two partitions left empty
    fitted = sknorm.StandardScaler().fit(dframe)
    _assert_same_fit(fitted, sknorm.StandardScaler().fit(frame[frame["a"] >= 20]))
    assert len(fitted.transform(dframe).compute()) == 10
    with pytest.raises(ValueError, match="0 sample"):
        sknorm.StandardScaler().fit(dframe[dframe["a"] > 100])


def test_robust_scaler_uses_the_sketch_within_its_bound(client):
    X = np.random.default_rng(3).lognormal(size=(20_000, 2))
    fitted = sknorm.RobustScaler().fit(da.from_array(X, chunks=(1_000, 2)))
    bound = QuantileSketch.from_state(
        fitted._statistics_state["QuantileSketch"]
    ).rank_error_bound()
    for column in range(2):
        values = X[:, column]
        low, high = (
            np.mean(values < fitted.center_[column]),
            np.mean(values <= fitted.center_[column]),
        )
        rank_error = max(low - 0.5, 0.5 - high, 0.0)
        assert rank_error <= bound[column]
    # Close to the exact fit, as the sketch's typical error (< 1%) implies.
    exact = sknorm.RobustScaler().fit(X)
    np.testing.assert_allclose(fitted.center_, exact.center_, rtol=0.05)
    np.testing.assert_allclose(fitted.scale_, exact.scale_, rtol=0.05)


@pytest.mark.parametrize("Normalizer", ROW_NORMALIZERS)
def test_row_normalizers_map_blocks(client, Normalizer):
    X = _data()
    frame = pd.DataFrame(X, columns=list("abcd"))
    dframe = dd.from_pandas(frame, npartitions=4)
    normalizer = Normalizer().fit(dframe)
    np.testing.assert_array_equal(normalizer.feature_names_in_, list("abcd"))
    out = normalizer.transform(dframe)
    assert isinstance(out, dd.DataFrame)
    np.testing.assert_allclose(
        out.compute().to_numpy(), Normalizer().fit_transform(frame), rtol=1e-12
    )
    unfitted = Normalizer().transform(da.from_array(X, chunks=(100, 2)))
    np.testing.assert_allclose(
        unfitted.compute(), Normalizer().transform(X), rtol=1e-12
    )


def test_metadata_errors_are_raised_before_computing(client):
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


def test_fitted_scaler_pickles_without_dask(client):
    X = _data()
    fitted = sknorm.StandardScaler().fit(da.from_array(X, chunks=(100, 4)))
    code = (
        "import pickle, sys, numpy as np; est = pickle.loads(sys.stdin.buffer.read()); "
        "assert 'dask' not in sys.modules; print(est.transform(np.ones((1, 4)))[0, 0])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        input=pickle.dumps(fitted),
        capture_output=True,
        check=True,
    )
    expected = fitted.transform(np.ones((1, 4)))[0, 0]
    assert float(result.stdout) == pytest.approx(expected, rel=1e-12)


def test_fit_survives_a_killed_worker(client):
    X = _data(n_rows=2_000)
    dX = da.from_array(X, chunks=(100, 4))
    undisturbed = sknorm.StandardScaler().fit(dX)

    def slow_identity(block):
        time.sleep(0.25)
        return block

    slow = dX.map_blocks(slow_identity, dtype=X.dtype)
    with distributed.LocalCluster(processes=True, **CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster) as process_client:
            pids = process_client.run(os.getpid)
            result = {}
            fitting = threading.Thread(
                target=lambda: result.update(est=sknorm.StandardScaler().fit(slow))
            )
            fitting.start()
            time.sleep(1.5)
            assert fitting.is_alive(), "the fit ended before a worker was killed"
            killed = next(iter(pids.values()))
            os.kill(killed, signal.SIGKILL)
            fitting.join(timeout=60)
            assert not fitting.is_alive()
            assert killed not in process_client.run(os.getpid).values()
    # The same tree of merges: bitwise the undisturbed result.
    for name, value in _fitted_arrays(undisturbed).items():
        np.testing.assert_array_equal(getattr(result["est"], name), value)
    _assert_same_fit(result["est"], sknorm.StandardScaler().fit(X))
