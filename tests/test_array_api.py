"""Array API dispatch: every estimator on numpy, array-api-strict and torch.

Namespace, device and dtype combinations come from scikit-learn's
``yield_namespace_device_dtype_combinations`` and ``_array_api_for_tests``
(which skips, with its reason, what is not installed or has no device here:
CuPy, dpnp, torch on CUDA, XPU or MPS). Every public estimator and every
variant of ``tests/test_common.py`` is fitted and applied with
``array_api_dispatch=True`` and compared with the numpy path on the same
values: output namespace, device and dtype, fitted attributes' namespace and
device, and values. The two paths sum in different orders (the device by
row blocks, the host by its kernels), so values agree to rounding-error
bounds (``tests/_tolerances.py``): sums of ``n`` terms relative to the
data's spread for the column and row statistics, the covariance's rounding
times its condition for the principal maps, fitted on embedding-like rows
with well-separated eigenvalues; plus one rounding for float32 output.

The host fallbacks (NaN, quantiles, unequal weights, devices without
float64, simulated) are observed through :class:`sknorm._array_api.DeviceData`,
the one object through which device data reaches the host.
"""

import inspect
import pickle
import re
import warnings
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
from sknorm.embedding import EIGENVALUE_FLOOR

from ._tolerances import (
    EPS,
    assert_close,
    assert_rows_close,
    eigenvalue_atol,
    mean_atol,
    norm_rtol,
    sum_rtol,
)
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


def _embeddings(dtype, n_rows=80):
    """Embedding-like rows for the maps built on principal directions:
    correlated features with an offset, rows of norms over a factor e**2,
    and a covariance (of the rows and of their unit rows) with distinct,
    well-separated eigenvalues (condition 6 and 18, gaps over 7% of the
    largest), so that two orders of computation agree to a useful bound."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, 6)) * [3, 2.4, 1.9, 1.5, 1.2, 1]
    X += [2, -1, 0.5, 0, 0.3, 0]
    return (X * np.exp(rng.uniform(-1, 1, size=(n_rows, 1)))).astype(dtype)


def _has_principal_map(estimator):
    """Whether ``estimator``'s map is built on eigenvectors of a covariance."""
    return isinstance(estimator, sknorm.EmbeddingNormalizer) and bool(
        estimator.n_remove or estimator.whiten or estimator.n_components
    )


def _data_for(estimator, dtype):
    return (_embeddings if _has_principal_map(estimator) else _data)(dtype)


def _statistics_rtol(X, n_terms=None, eps=EPS):
    """Relative tolerance (of each value and of the largest value of an
    array) between two computations of a map built on column or row
    statistics of ``X`` in different orders: device reductions by row blocks
    against the host's kernels.

    The statistics are sums of at most ``n_terms`` terms (``max(n, d)``),
    off by :func:`sum_rtol` relative to ``max |x|``; relative to the spread
    they divide by (a column's or a row's standard deviation) that is
    ``max |x| / std`` times more. Each side then rounds at most four times
    per value (conversion, centering, scaling, offset or clip): ``8 eps``.
    NaN values are left out, and constant columns and rows, exact (0 out,
    tested as such).
    """
    X = np.asarray(X, dtype=np.float64)
    n_terms = max(X.shape) if n_terms is None else n_terms
    condition = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        for axis in (0, 1):
            largest = np.nanmax(np.abs(X), axis=axis, keepdims=True)
            varying = np.nanmin(X, axis=axis) < np.nanmax(X, axis=axis)
            # Divided by its largest value first: no square overflows.
            spread = np.nanstd(X / largest, axis=axis)[varying]
            condition = max(condition, np.max(1 / spread, initial=1.0))
    return sum_rtol(n_terms, condition, eps=eps) + 8 * eps


def _oas_move(variances, n_rows, perturbation):
    """Bound on the move of OAS's shrinkage ``rho = (S + T**2) / ((n + 1)
    (S - T**2 / d))`` (``S = tr C**2``, ``T = tr C``: the formula of
    ``Covariance.oas_shrinkage`` times ``d**2`` above and below) when each
    eigenvalue of ``C`` moves by ``perturbation`` (Weyl): ``S`` and ``T**2``
    by ``2 T`` and ``2 d T`` times it, ``T**2 / d`` by ``2 T`` times it, to
    first order."""
    d = len(variances)
    trace, squares = variances.sum(), (variances**2).sum()
    numerator = squares + trace**2
    spread = squares - trace**2 / d
    rho = min(1.0, numerator / ((n_rows + 1) * spread))
    relative = 2 * (1 + d) * trace / numerator + 4 * trace / spread
    return rho * relative * perturbation


class _PrincipalMapBound:
    """Bounds between two fits of an EmbeddingNormalizer with a principal
    map (eigenvectors of the covariance of its input rows ``U``: ``X``'s
    unit rows with ``input_norm``, else ``X``), computed in different
    orders.

    * The two covariances differ by ``E``: :func:`eigenvalue_atol` (their
      summation orders and eigendecompositions) plus, where the input rows
      are normalized on each side, ``4 norm_rtol(d) sqrt(tr C)`` (unit rows
      off by ``norm_rtol(d)``: first order in the row errors).
    * Every fitted quantity moves, relative to its norm, by at most
      ``4 lambda_max / gap ||E|| / lambda_max + cond / 2 ||E_s|| /
      lambda_max + 2 d eps`` (``map_rtol``): an eigenvector by
      ``sqrt(2) ||E|| / (gap - ||E||)`` (Davis-Kahan, gap to the nearest
      other eigenvalue), twice in ``V S V^T``; a whitening scale
      ``lambda ** power`` (``|power| <= 1/2``) by ``cond / 2`` times
      ``||E_s|| / lambda_max`` relative (``cond``: ``lambda_max`` over the
      shrunk, floored smallest eigenvalue; ``E_s``: ``E`` plus, for OAS's
      shrinkage, its move times ``lambda_max``); an eigenvalue by ``||E||``
      (Weyl); plus the assembly's ``2 d eps``.
    * A transformed row ``y = (u - m) P`` moves by ``||dP|| ||u - m||`` plus
      ``||P||`` times the moves of ``u`` (``norm_rtol(d)``) and of the mean
      (:func:`mean_atol`), plus the product's rounding ``(d + 2) eps ||P||
      ||u - m||``; a normalized row by twice that relative to ``||y||``,
      plus ``(d + 4) eps`` for its own norm.
    """

    def __init__(self, reference, X):
        X = np.asarray(X, dtype=np.float64)
        d = X.shape[1]
        unit = reference.input_norm == "l2"
        rows = sknorm.normalize(X) if unit else X
        self.row_error = norm_rtol(d) if unit else 0.0
        variances = reference.explained_variance_
        largest = variances.max()
        perturbation = eigenvalue_atol(rows) + 4 * self.row_error * np.sqrt(
            variances.sum()
        )
        gap = np.min(np.abs(np.diff(variances)))
        shrinkage = reference.shrinkage_
        shrunk = (1 - shrinkage) * variances + shrinkage * variances.mean()
        smallest = max(shrunk.min(), EIGENVALUE_FLOOR * shrunk.max())
        scale_perturbation = perturbation
        if reference.shrinkage == "auto" and reference.whiten is not None:
            scale_perturbation += largest * _oas_move(variances, len(X), perturbation)
        self.map_rtol = (
            4 * perturbation / gap
            + largest / smallest / 2 * scale_perturbation / largest
            + 2 * d * EPS
        )
        self.rows, self.d, self.reference = rows, d, reference
        self.mean_error = np.linalg.norm(mean_atol(rows))

    def assert_transform_close(self, actual, expected, float32):
        reference, d = self.reference, self.d
        projection = reference.projection_
        size = np.linalg.norm(projection, 2)
        centered = self.rows - reference.mean_
        deviation = np.linalg.norm(centered, axis=1)
        moved = self.row_error * np.linalg.norm(self.rows, axis=1)
        if reference.mean_.any():
            moved += self.mean_error
        row_atol = size * ((self.map_rtol + (d + 2) * EPS) * deviation + moved)
        if reference.norm == "l2":
            mapped = np.linalg.norm(centered @ projection, axis=1)
            row_atol = 2 * row_atol / mapped + (d + 4) * EPS
        actual = to_numpy(actual)
        assert actual.dtype == expected.dtype
        if float32:  # each side's one rounding to float32: an eps32 per row
            row_atol = row_atol + np.linalg.norm(expected, axis=1) * EPS32
        assert_rows_close(actual.astype(np.float64), expected, row_atol)
        return row_atol

    def assert_inverse_close(self, actual, expected, transformed, row_atol):
        """Inverses ``y Q + m`` (``Q`` the map's inverse, off by ``map_rtol``
        as ``P``) of transformed rows within ``row_atol`` of each other."""
        inverse = np.linalg.pinv(self.reference.projection_)
        size = np.linalg.norm(inverse, 2)
        length = np.linalg.norm(transformed, axis=1)
        inverse_atol = size * (row_atol + (self.map_rtol + (self.d + 2) * EPS) * length)
        if self.reference.mean_.any():
            inverse_atol += self.mean_error
        actual = to_numpy(actual)
        assert actual.dtype == expected.dtype
        if expected.dtype == np.float32:
            inverse_atol = inverse_atol + np.linalg.norm(expected, axis=1) * EPS32
        assert_rows_close(actual.astype(np.float64), expected, inverse_atol)

    def attribute_atol(self, key, value):
        if key == "mean_":
            return mean_atol(self.rows)
        return self.map_rtol * np.max(np.abs(value), initial=0.0)


def _fitted_arrays(estimator):
    return {k: v for k, v in vars(estimator).items() if isinstance(v, np.ndarray)}


def _assert_in_namespace(result, X_xp):
    """``result`` is in X_xp's namespace and on its device."""
    with config_context(array_api_dispatch=True):
        assert get_namespace(result)[0].__name__ == get_namespace(X_xp)[0].__name__
        assert array_device(result) == array_device(X_xp)


#: float32 machine epsilon: two float64 values within ``delta`` of each
#: other round to float32 values within ``delta + eps32`` times their size.
EPS32 = float(np.finfo(np.float32).eps)


def _output_eps(dtype):
    """The output's rounding from float64 (0 for float64): ``eps`` of dtype."""
    return 0.0 if dtype == np.float64 else float(np.finfo(dtype).eps)


def _assert_close(actual, expected, rtol):
    """Within ``rtol`` of each value and, for values that cancel
    (standardized values, centred rows), of the largest value of the
    result; output below float64 adds its one rounding on each side."""
    actual = to_numpy(actual)
    assert actual.dtype == expected.dtype
    if expected.dtype.kind in "iu":  # quantization codes: the same bins
        np.testing.assert_array_equal(actual, expected)
        return
    atol = rtol * np.nanmax(np.abs(expected), initial=0.0)
    rtol += _output_eps(expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    "combination", COMBINATIONS, ids=[_combination_id(c) for c in COMBINATIONS]
)
@pytest.mark.parametrize("estimator", IN_NAMESPACE, ids=_id)
def test_estimator_in_namespace_matches_numpy(estimator, combination):
    name, device_name, dtype_name = combination
    xp, device = _namespace(name, device_name, dtype_name)
    X = _data_for(estimator, dtype_name or "float64")
    X_xp = xp.asarray(X, device=device)
    reference = clone(estimator).fit(X)
    expected = reference.transform(X)
    with config_context(array_api_dispatch=True):
        fitted = clone(estimator).fit(X_xp)
        result = fitted.transform(X_xp)
    _assert_in_namespace(result, X_xp)
    float32 = X.dtype == np.float32
    if _has_principal_map(estimator):
        bound = _PrincipalMapBound(reference, X)
        row_atol = bound.assert_transform_close(result, expected, float32)
    else:
        bound, rtol = None, _statistics_rtol(X)
        _assert_close(result, expected, rtol)
    has_float64 = _array_api.max_precision_float_dtype(xp, device) == xp.float64
    for key, value in _fitted_arrays(reference).items():
        attribute = getattr(fitted, key)
        _assert_in_namespace(attribute, X_xp)
        if has_float64:
            attribute = to_numpy(attribute)
            assert attribute.dtype == value.dtype
            if value.dtype.kind not in "fc":  # counts and flags: the same
                np.testing.assert_array_equal(attribute, value, err_msg=key)
            elif bound is not None:
                assert_close(attribute, value, bound.attribute_atol(key, value))
            else:
                # Relative to the attribute's largest value too, as the
                # output: a mean near zero carries its column's rounding.
                atol = rtol * np.nanmax(np.abs(value), initial=0.0)
                np.testing.assert_allclose(
                    attribute, value, rtol=rtol, atol=atol, err_msg=key
                )
    if hasattr(fitted, "inverse_transform"):
        with config_context(array_api_dispatch=True):
            inverse = fitted.inverse_transform(result)
        _assert_in_namespace(inverse, X_xp)
        expected_inverse = reference.inverse_transform(expected)
        if bound is not None:
            bound.assert_inverse_close(inverse, expected_inverse, expected, row_atol)
        else:
            # The inverse map rounds as the map: the same bound, relative to
            # the data (twice: the transform's error and its own).
            atol = 2 * rtol * np.max(np.abs(expected_inverse))
            if float32 and expected.dtype.kind == "f":
                # Its float32 inputs differ by their rounding, eps32 of each
                # value: the (monotone, per value) inverse map carries that
                # to at most the distance between the inverses of the ends;
                # then its own rounding to float32.
                y = expected.astype(np.float64)
                ends = [
                    reference.inverse_transform(y * f) for f in (1 - EPS32, 1 + EPS32)
                ]
                atol += np.abs(ends[1] - ends[0]) + EPS32 * np.abs(expected_inverse)
            actual_inverse = to_numpy(inverse)
            assert actual_inverse.dtype == expected_inverse.dtype
            assert_close(actual_inverse, expected_inverse, atol)


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
    rtol = _statistics_rtol(X)
    _assert_close(result, reference.transform(X), rtol)
    for key, value in _fitted_arrays(reference).items():
        _assert_close(getattr(fitted, key), value, rtol)


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
    _assert_close(result, reference.transform(X), _statistics_rtol(X))


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
    X = _data_for(estimator, "float64")
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
    elif _has_principal_map(estimator):
        bound = _PrincipalMapBound(reference, X)
        bound.assert_transform_close(result, reference.transform(X), float32=False)
    else:
        _assert_close(result, reference.transform(X), _statistics_rtol(X))
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
    _assert_close(fitted.transform(X), expected, _statistics_rtol(X))


def test_stateless_row_normalizers_follow_their_input():
    X = _data("float64")
    with config_context(array_api_dispatch=True):
        normalizer = sknorm.Normalizer().fit(X)
        result = normalizer.transform(_torch(X))
    assert isinstance(result, torch.Tensor)
    # Unit rows, each side's norm in its own order: norm_rtol(d) per row.
    assert_rows_close(result.numpy(), sknorm.normalize(X), norm_rtol(X.shape[1]))


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
        # The map itself runs in float32 there, on statistics rounded to
        # float32: float32 accuracy, its sums (the row norms) of d terms.
        rtol = _statistics_rtol(X, n_terms=X.shape[1], eps=EPS32)
        _assert_close(result, reference.transform(X), rtol)
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
    rtol = _statistics_rtol(X)
    np.testing.assert_allclose(fitted.scale_.numpy(), reference.scale_, rtol=rtol)
    _assert_close(result, reference.transform(X), rtol)


def test_sample_weight(monkeypatch):
    X = _data("float64")
    spy = _HostSpy(monkeypatch)
    equal = array_api_strict.asarray(np.full(len(X), 3.0))  # another namespace
    with config_context(array_api_dispatch=True):
        fitted = sknorm.StandardScaler().fit(_torch(X), sample_weight=equal)
    assert spy.whole == 0  # equal weights: the unweighted moments, on device
    mean = sknorm.StandardScaler().fit(X).mean_
    assert_close(fitted.mean_.numpy(), mean, mean_atol(X))
    weight = np.random.default_rng(1).uniform(0, 2, len(X))
    weight[:5] = 0
    for estimator in (sknorm.StandardScaler(), sknorm.MinMaxScaler()):
        reference = clone(estimator).fit(X, sample_weight=weight)
        with config_context(array_api_dispatch=True):
            fitted = clone(estimator).fit(_torch(X), sample_weight=_torch(weight))
        # The same host kernel on the same values: bit for bit.
        for key, value in _fitted_arrays(reference).items():
            np.testing.assert_array_equal(
                to_numpy(getattr(fitted, key)), value, err_msg=key
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
    # float64 statistics on the device, one rounding to the default float.
    rtol = _statistics_rtol(X)
    expected = sknorm.StandardScaler().fit_transform(X)
    error = _output_eps(result.numpy().dtype) + rtol
    np.testing.assert_allclose(
        result.numpy(), expected, rtol=error, atol=rtol * np.abs(expected).max()
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
    _assert_close(result, function(X, axis=axis), _statistics_rtol(X))


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
    # Each side's norm in its own order (norm_rtol), rounded once to X's
    # float32; the unit rows' entries, at most 1, to the same absolute bound.
    rtol = norm_rtol(X.shape[1]) + _output_eps(expected.dtype)
    assert_close(norms.numpy(), expected_norms, rtol * expected_norms)
    assert_close(result.numpy(), expected, rtol)


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
    np.testing.assert_allclose(
        fitted.var_.numpy(), reference.var_, rtol=_statistics_rtol(X)
    )
    _assert_close(result, reference.transform(X), _statistics_rtol(X))


def test_only_the_grouped_scaler_leaves_the_array_api_out():
    left_out = {type(e).__name__ for e in ESTIMATORS if e not in IN_NAMESPACE}
    assert left_out == {"GroupedScaler"}
