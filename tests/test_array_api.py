"""Array API dispatch: every estimator on numpy, array-api-strict and torch.

Namespace, device and dtype combinations come from scikit-learn's
``yield_namespace_device_dtype_combinations`` and ``_array_api_for_tests``
(which skips, with its reason, what is not installed or has no device here:
CuPy, dpnp, torch on CUDA, XPU or MPS). Every public estimator and every
variant of ``tests/test_common.py`` is fitted and applied with
``array_api_dispatch=True`` and compared with the numpy path on the same
values: output namespace, device and dtype, fitted attributes' namespace and
device, and values (rtol 1e-6 for float32 output, 1e-12 for float64; the
fitted statistics, accumulated in float64 either way, to 1e-12).

The host fallbacks (NaN, quantiles, unequal weights, devices without
float64, simulated) are observed through :class:`sknorm._array_api.DeviceData`,
the one object through which device data reaches the host.
"""

import inspect
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.utils import get_tags
from sklearn.utils._array_api import (
    device as array_device,
)
from sklearn.utils._array_api import (
    get_namespace,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils._testing import _array_api_for_tests

import sknorm
from sknorm import _array_api
from sknorm._array_api import DeviceData, to_numpy

from .test_common import ESTIMATORS, _id

#: The estimators that declare array API support (every one but
#: GroupedScaler, whose per-row group look-up runs on numpy, pandas and polars
#: group columns only: docs/deploying.rst, "Array API").
IN_NAMESPACE = [e for e in ESTIMATORS if get_tags(e).array_api_support]

torch = pytest.importorskip("torch")
array_api_strict = pytest.importorskip("array_api_strict")

COMBINATIONS = list(yield_namespace_device_dtype_combinations())


def _combination_id(combination):
    return "-".join(str(part) for part in combination)


def _namespace(name, device_name, dtype_name):
    """``(xp, device)``; skips (scikit-learn's reason) what is unavailable."""
    if len(inspect.signature(_array_api_for_tests).parameters) == 2:
        return _array_api_for_tests(name, device_name)  # scikit-learn < 1.8
    return _array_api_for_tests(name, device_name, dtype_name)


def _data(dtype, n_rows=80):
    """Columns of different scales and offsets, no constant one."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 6)) * [1, 1e3, 1e-3, 5, 1, 2]
    offsets = np.array([0, 1e4, 0, -3, 0, 100])
    return (X + offsets).astype(dtype)


def _rtol_of(estimator, float32):
    """Tolerance of the comparison of two paths of ``estimator``."""
    if float32:
        return 1e-6
    if getattr(estimator, "input_norm", None) == "l2":
        return INPUT_NORM_RTOL
    return 1e-12


def _fitted_arrays(estimator):
    return {k: v for k, v in vars(estimator).items() if isinstance(v, np.ndarray)}


def _assert_in_namespace(result, X_xp):
    """``result`` is in X_xp's namespace and on its device."""
    with config_context(array_api_dispatch=True):
        assert get_namespace(result)[0].__name__ == get_namespace(X_xp)[0].__name__
        assert array_device(result) == array_device(X_xp)


#: float64 tolerance of the estimators that L2-normalize their input rows
#: (EmbeddingNormalizer's ``input_norm``). A row normalization rounds
#: relative to the row's norm: on ``_data``, whose rows are dominated by the
#: ``1e4`` offset of one column, the normalized rows' covariance has
#: eigenvalues from about 1e-2 down to 1e-14, and its small principal
#: directions carry that rounding amplified by their condition, so two paths
#: that round differently agree to about 1e-10 (at most 2.4e-10 measured).
#: ``input_norm`` itself is tested against scikit-learn in test_embedding.
INPUT_NORM_RTOL = 1e-9


def _assert_close(actual, expected, float32, rtol=None):
    actual = to_numpy(actual)
    assert actual.dtype == expected.dtype
    if expected.dtype.kind in "iu":  # quantization codes: the same bins
        np.testing.assert_array_equal(actual, expected)
        return
    # Relative to each value and, for values that cancel (projections), to
    # the largest value of the result.
    if rtol is None:
        rtol = 1e-6 if float32 else 1e-12
    atol = rtol * np.nanmax(np.abs(expected), initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "combination", COMBINATIONS, ids=[_combination_id(c) for c in COMBINATIONS]
)
@pytest.mark.parametrize("estimator", IN_NAMESPACE, ids=_id)
def test_estimator_in_namespace_matches_numpy(estimator, combination):
    name, device_name, dtype_name = combination
    xp, device = _namespace(name, device_name, dtype_name)
    X = _data(dtype_name or "float64")
    X_xp = xp.asarray(X, device=device)
    reference = clone(estimator).fit(X)
    expected = reference.transform(X)
    with config_context(array_api_dispatch=True):
        fitted = clone(estimator).fit(X_xp)
        result = fitted.transform(X_xp)
    _assert_in_namespace(result, X_xp)
    float32 = X.dtype == np.float32
    rtol = _rtol_of(estimator, float32)
    _assert_close(result, expected, float32=float32, rtol=rtol)
    has_float64 = _array_api.max_precision_float_dtype(xp, device) == xp.float64
    for key, value in _fitted_arrays(reference).items():
        attribute = getattr(fitted, key)
        _assert_in_namespace(attribute, X_xp)
        if has_float64:
            # Relative to the attribute's scale too: unit eigenvectors'
            # small entries carry the rounding of their largest.
            attribute_rtol = _rtol_of(estimator, False)
            atol = attribute_rtol * np.nanmax(np.abs(value), initial=0.0)
            np.testing.assert_allclose(
                to_numpy(attribute), value, rtol=attribute_rtol, atol=atol, err_msg=key
            )
            assert to_numpy(attribute).dtype == value.dtype
    if hasattr(fitted, "inverse_transform"):
        with config_context(array_api_dispatch=True):
            inverse = fitted.inverse_transform(result)
        _assert_in_namespace(inverse, X_xp)
        expected_inverse = reference.inverse_transform(expected)
        _assert_close(inverse, expected_inverse, float32=float32, rtol=rtol)


def _torch(X):
    return torch.asarray(X)


class _HostSpy:
    """Records what device data was copied to the host, and how."""

    def __init__(self, monkeypatch):
        self.whole, self.columns = 0, []
        host, host_columns = DeviceData.host, DeviceData.host_columns

        def spy_host(data):
            self.whole += data._host is None  # copies, not calls
            return host(data)

        def spy_columns(data, columns):
            self.columns.append(list(columns))
            return host_columns(data, columns)

        monkeypatch.setattr(DeviceData, "host", spy_host)
        monkeypatch.setattr(DeviceData, "host_columns", spy_columns)


@pytest.mark.parametrize(
    "estimator",
    [sknorm.StandardScaler(), sknorm.MinMaxScaler(), sknorm.MaxAbsScaler()],
    ids=_id,
)
def test_nan_columns_fall_back_to_the_host(estimator, monkeypatch):
    X = _data("float64")
    X[[3, 10], 2] = np.nan
    X[:, 4] = np.nan
    spy = _HostSpy(monkeypatch)
    reference = clone(estimator).fit(X)
    with config_context(array_api_dispatch=True):
        fitted = clone(estimator).fit(_torch(X))
        result = fitted.transform(_torch(X))
    # Only the NaN columns were copied to the host, once.
    assert spy.whole == 0
    assert spy.columns == [[2, 4]]
    np.testing.assert_allclose(result.numpy(), reference.transform(X), rtol=1e-12)
    for key, value in _fitted_arrays(reference).items():
        np.testing.assert_allclose(
            to_numpy(getattr(fitted, key)), value, rtol=1e-12, err_msg=key
        )


def test_nan_counts_are_per_feature():
    X = _data("float64")
    X[:5, 1] = np.nan
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(_torch(X))
    assert isinstance(fitted.n_samples_seen_, torch.Tensor)
    np.testing.assert_array_equal(
        fitted.n_samples_seen_.numpy(), [80, 75, 80, 80, 80, 80]
    )


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.RobustScaler(),
        sknorm.RobustScaler(clip=True),
        sknorm.EmbeddingQuantizer(quantile_range=(5, 95)),
        sknorm.EmbeddingQuantizer(dtype="binary", center="median"),
    ],
    ids=_id,
)
def test_quantiles_fall_back_to_one_host_copy(estimator, monkeypatch):
    X = _data("float32")
    spy = _HostSpy(monkeypatch)
    reference = clone(estimator).fit(X)
    with config_context(array_api_dispatch=True):
        fitted = clone(estimator).fit(_torch(X))
        result = fitted.transform(_torch(X))
    # The exact quantiles and the sketch share one copy of the data.
    assert spy.whole == 1
    for key, value in _fitted_arrays(reference).items():
        attribute = getattr(fitted, key)
        assert isinstance(attribute, torch.Tensor), key
        np.testing.assert_array_equal(attribute.numpy(), value, err_msg=key)
    _assert_close(result, reference.transform(X), float32=True)


@pytest.mark.parametrize(
    "estimator",
    [
        sknorm.StandardScaler(),
        sknorm.MinMaxScaler(),
        sknorm.EmbeddingNormalizer(whiten="zca"),
        sknorm.RobustScaler(),
    ],
    ids=_id,
)
def test_partial_fit_merges_into_numpy_states(estimator):
    X = _data("float64")
    reference = clone(estimator).fit(X)
    streamed = clone(estimator)
    with config_context(array_api_dispatch=True):
        for batch in (X[:30], X[30:]):
            streamed.partial_fit(_torch(batch))
        result = streamed.transform(_torch(X))
    for state in streamed._statistics_state.values():
        for value in state.values():
            assert isinstance(value, (np.ndarray, str))
    if isinstance(estimator, sknorm.RobustScaler):  # exact while small
        np.testing.assert_array_equal(result.numpy(), reference.transform(X))
    else:
        _assert_close(
            result, reference.transform(X), False, rtol=_rtol_of(estimator, False)
        )
    # The statistics (and so the fitted estimator) pickle as numpy states.
    restored = pickle.loads(pickle.dumps(streamed))
    assert restored._statistics_state.keys() == streamed._statistics_state.keys()


def test_numpy_input_takes_the_numpy_path_with_dispatch_on(rng):
    X = _data("float32")
    for estimator in ESTIMATORS:
        expected = clone(estimator).fit(X).transform(X)
        with config_context(array_api_dispatch=True):
            result = clone(estimator).fit(X).transform(X)
        assert isinstance(result, np.ndarray)
        np.testing.assert_array_equal(result, expected, err_msg=_id(estimator))


def test_transform_needs_the_namespace_of_the_fit():
    X = _data("float64")
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(_torch(X))
        with pytest.raises(ValueError, match="must use the same namespace"):
            fitted.transform(X)
        with pytest.raises(ValueError, match=r"inverse_transform\(\)"):
            fitted.inverse_transform(X)
        numpy_fitted = sknorm.MinMaxScaler().fit(X)
        with pytest.raises(ValueError, match="must use the same namespace"):
            numpy_fitted.transform(_torch(X))
    # Without dispatch, numpy data goes through the numpy path (the fitted
    # attributes are read on the host).
    expected = sknorm.StandardScaler().fit(X).transform(X)
    np.testing.assert_allclose(fitted.transform(X), expected, rtol=1e-12)


def test_stateless_row_normalizers_follow_their_input():
    X = _data("float64")
    with config_context(array_api_dispatch=True):
        normalizer = sknorm.Normalizer().fit(X)
        result = normalizer.transform(_torch(X))
    assert isinstance(result, torch.Tensor)
    np.testing.assert_allclose(result.numpy(), sknorm.normalize(X), rtol=1e-13)


def test_float64_less_device_computes_statistics_on_the_host(monkeypatch):
    """torch on MPS has no float64: simulated by its max-precision answer."""
    monkeypatch.setattr(
        _array_api, "max_precision_float_dtype", lambda xp, device: xp.float32
    )
    spy = _HostSpy(monkeypatch)
    X = _data("float32")
    for estimator in (sknorm.StandardScaler(), sknorm.EmbeddingNormalizer()):
        reference = clone(estimator).fit(X)
        with config_context(array_api_dispatch=True):
            fitted = clone(estimator).fit(_torch(X))
            result = fitted.transform(_torch(X))
        assert result.dtype == torch.float32
        for key, value in _fitted_arrays(reference).items():
            attribute = getattr(fitted, key)
            assert attribute.dtype == torch.float32, key
            # The statistics are the host's, rounded to float32.
            np.testing.assert_array_equal(attribute.numpy(), value.astype(np.float32))
        # The map itself runs in float32 there: float32 accuracy.
        np.testing.assert_allclose(
            result.numpy(), reference.transform(X), rtol=1e-4, atol=1e-5
        )
    assert spy.whole == 2  # one host copy per fit
    # Extrema are exact in float32: they stay on the device.
    with config_context(array_api_dispatch=True):
        sknorm.MinMaxScaler().fit(_torch(X))
    assert spy.whole == 2


def test_extreme_magnitudes_are_recomputed_on_the_host(monkeypatch):
    X = _data("float64")
    X[:, 0] *= 1e300  # squares overflow
    X[:, 3] *= 1e-300  # squares underflow
    spy = _HostSpy(monkeypatch)
    reference = sknorm.StandardScaler().fit(X)
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(_torch(X))
        result = fitted.transform(_torch(X))
    assert spy.columns == [[0, 3]]
    np.testing.assert_allclose(fitted.scale_.numpy(), reference.scale_, rtol=1e-14)
    np.testing.assert_allclose(result.numpy(), reference.transform(X), rtol=1e-12)


def test_sample_weight(monkeypatch):
    X = _data("float64")
    spy = _HostSpy(monkeypatch)
    equal = array_api_strict.asarray(np.full(len(X), 3.0))  # another namespace
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(_torch(X), sample_weight=equal)
    assert spy.whole == 0  # equal weights: the unweighted moments, on device
    np.testing.assert_allclose(
        fitted.mean_.numpy(), sknorm.StandardScaler().fit(X).mean_, rtol=1e-14
    )
    weight = np.random.default_rng(1).uniform(0, 2, len(X))
    weight[:5] = 0
    for estimator in (sknorm.StandardScaler(), sknorm.MinMaxScaler()):
        reference = clone(estimator).fit(X, sample_weight=weight)
        with config_context(array_api_dispatch=True):
            fitted = clone(estimator).fit(_torch(X), sample_weight=_torch(weight))
        for key, value in _fitted_arrays(reference).items():
            np.testing.assert_allclose(
                to_numpy(getattr(fitted, key)), value, rtol=1e-12, err_msg=key
            )
    assert spy.whole == 1  # unequal weights: moments on the host


def test_infinity_and_nan_are_rejected_naming_the_feature():
    X = _data("float64")
    X[4, 3] = np.inf
    with config_context(array_api_dispatch=True):
        with pytest.raises(ValueError, match=r"infinity in feature\(s\) 3\."):
            sknorm.StandardScaler().fit(_torch(X))
        fitted = sknorm.MaxAbsScaler().fit(_torch(_data("float64")))
        with pytest.raises(ValueError, match=r"infinity in feature\(s\) 3\."):
            fitted.transform(_torch(X))
        X[4, 3] = np.nan
        with pytest.raises(ValueError, match=r"NaN in feature\(s\) 3\."):
            sknorm.EmbeddingNormalizer().fit(_torch(X))


def test_integers_become_the_namespace_default_float():
    X = np.arange(24).reshape(8, 3)
    with config_context(array_api_dispatch=True):
        result = sknorm.StandardScaler().fit_transform(torch.asarray(X))
    assert result.dtype == torch.get_default_dtype()
    np.testing.assert_allclose(
        result.numpy(), sknorm.StandardScaler().fit_transform(X), rtol=1e-6
    )


@pytest.mark.parametrize(
    "function",
    [sknorm.scale, sknorm.minmax_scale, sknorm.maxabs_scale, sknorm.robust_scale],
)
@pytest.mark.parametrize("axis", [0, 1])
def test_functions_follow_their_estimators(function, axis):
    X = _data("float64")
    with config_context(array_api_dispatch=True):
        result = function(_torch(X), axis=axis)
        one_feature = function(_torch(X[:, 1]))
    assert isinstance(result, torch.Tensor) and one_feature.shape == (len(X),)
    np.testing.assert_allclose(result.numpy(), function(X, axis=axis), rtol=1e-12)


def test_normalize_returns_norms_in_the_namespace():
    X = _data("float32")
    X[2, 1] = np.nan
    X[5] = 0
    with config_context(array_api_dispatch=True):
        result, norms = sknorm.normalize(_torch(X), return_norm=True)
        with pytest.raises(ValueError, match=r"row\(s\) 5\."):
            sknorm.normalize(_torch(X), zero_rows="raise")
    expected, expected_norms = sknorm.normalize(X, return_norm=True)
    assert isinstance(norms, torch.Tensor)
    np.testing.assert_allclose(norms.numpy(), expected_norms, rtol=1e-12)
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6, atol=1e-12)


def test_quantizer_rejects_bad_codes_on_the_device():
    X = _data("float64")
    with config_context(array_api_dispatch=True):
        quantizer = sknorm.EmbeddingQuantizer(dtype="uint8").fit(_torch(X))
        codes = quantizer.transform(_torch(X))
        assert codes.dtype == torch.uint8
        with pytest.raises(ValueError, match="integer codes"):
            quantizer.inverse_transform(_torch(X))
        with pytest.raises(ValueError, match=r"lie in \[0, 255\]"):
            quantizer.inverse_transform(codes.to(torch.int64) + 1000)


def test_deploying_example_runs():
    """The torch example of docs/deploying.rst runs as written."""
    text = (Path(__file__).parent.parent / "docs" / "deploying.rst").read_text()
    section = text[text.index(".. _deploying-array-api:") :]
    block = re.search(r".. code-block:: python\n\n((?:    .*\n|\n)+)", section)
    code = "\n".join(line[4:] for line in block.group(1).splitlines())
    namespace = {}
    exec(compile(code, "deploying.rst", "exec"), namespace)
    assert namespace["Z"].dtype == torch.float32


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_constant_features_and_float16(dtype):
    X = _data("float64")[:, :3]
    X[:, 1], X[:, 2] = 0.1, 1e3 + 7
    X = X.astype(dtype)
    reference = sknorm.StandardScaler().fit(X)
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(torch.asarray(X))
        result = fitted.transform(torch.asarray(X))
    assert result.dtype == getattr(torch, dtype)
    # Constant features: variance exactly 0, scale 1, output exactly 0.
    np.testing.assert_array_equal(fitted.scale_.numpy()[1:], [1.0, 1.0])
    np.testing.assert_array_equal(fitted.var_.numpy()[1:], [0.0, 0.0])
    np.testing.assert_array_equal(result.numpy()[:, 1:], 0.0)
    np.testing.assert_allclose(fitted.var_.numpy(), reference.var_, rtol=1e-14)
    _assert_close(result, reference.transform(X), float32=dtype != "float64")


def test_only_the_grouped_scaler_leaves_the_array_api_out():
    left_out = {type(e).__name__ for e in ESTIMATORS if e not in IN_NAMESPACE}
    assert left_out == {"GroupedScaler"}
