"""Lazy transform (sknorm._lazy): a polars LazyFrame or a DuckDB relation in,
one of the same kind out, nothing collected, equal to the in-memory
``transform`` of the collected input.

Every public estimator (discovered from ``sknorm.__all__``) is fitted on a
small DataFrame (with NaN where it allows NaN) and its lazy result, collected,
is compared with ``transform`` of the collected frame. Bounds (``eps =
2**-52``; float32 results also within the float32 bound stated):

* column scalers: the expressions run the steps of the fitted affine map
  (``AffineMap.transform_steps``, or the inverse steps) and the clip as
  ``transform`` does, in float64, rounded once to the output's dtype: the
  same IEEE operations in the same order, so the same values, bit for bit.
* SquashingScaler: the affine map as above; ``z / hypot(1, z / B)`` with
  hypot as ``high * sqrt(1 + (low / high)**2)`` (four roundings: within
  ``3 eps`` of the exact value), numpy's ``hypot`` within 1 eps, a quotient
  each, and ``z / B``, which polars computes as ``z * (1 / B)`` (1.5 eps
  from numpy's quotient, at most that in ``hypot``): ``7 eps`` relative.
  The inverse: :func:`_unsquash_atol`.
  float32: ``transform`` rounds ``z`` to float32 and squashes in float32
  (``z / B``, ``hypot``, the quotient: 2.5 float32 ulps, the map's condition
  in ``z`` being at most 1), the lazy map rounds once: 3 float32 eps
  relative, 4 taken.
* PowerTransformer: per value, the derivation in :func:`_power_atol` (the
  expressions' ``log1p`` and ``expm1`` within 4 and 5 eps, checked against
  mpmath in ``test_log1p_expm1_against_exact``, numpy's within 1).
* row normalizers: two computations of a p-norm of ``n`` values and the row
  divided by it, in any order, differ by ``norm_rtol(n) = 2 (n + 2) eps``
  relative (tests/_tolerances.py); the lazy map divides by the row's largest
  value first (one more rounding each side) and takes ``sum ** (1 / p)``
  with ``1 / p`` rounded (``eps ln(n) / (2 p)``): ``2 (n + 4) eps``.
  Centred rows: their deviations ``x - mean`` differ by the two means'
  errors, ``(n + 1) eps max|x|`` each, plus ``eps max|x|`` for the
  subtraction, relative to the row's standard deviation after the division.
* batch-mapped estimators run ``transform`` itself on each batch: their
  per-value maps (quantile interpolation, quantization, per-group scaling)
  give the same values bit for bit; the embedding projection (a matrix
  product, whose summation order may follow the number of rows) within
  the bound of :func:`_projection_row_atol`.
* float32: both compute in float64 and round once, so a float64 difference
  ``d`` becomes at most one float32 ulp plus ``d``.
"""

import copy
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone

import sknorm

from ._tolerances import EPS
from .conftest import import_polars
from .test_common import VARIANTS, public_estimator_classes

nw = pytest.importorskip("narwhals", reason="lazy transform needs narwhals")
duckdb = pytest.importorskip("duckdb", reason="DuckDB relations need duckdb")
pl = import_polars()
mpmath = pytest.importorskip("mpmath")

import sknorm._lazy as lazy  # noqa: E402

EPS32 = float(np.finfo(np.float32).eps)

#: Parameter values the lazy map must cover besides ``VARIANTS``.
LAZY_VARIANTS = {
    "StandardScaler": [{"with_mean": False, "clip": True}],
    "MinMaxScaler": [{"clip": True}],
    "RobustScaler": [{"quantile_range": (10.0, 90.0), "clip": True}],
    "SquashingScaler": [{"max_absolute_value": 0.5}],
    "PowerTransformer": [
        {"method": "box-cox"},
        {"method": "box-cox", "standardize": False},
    ],
    "Normalizer": [
        {"norm": 3.0},
        {"eps": 0.5},
        {"groups": [[3, 0], [5, 1, 2]]},
        {"groups": [[0, 1], [2, 3], [4, 5]], "weights": [1, 2, 3], "norm": "l1"},
        {"zero_rows": "raise"},
    ],
    "RowStandardizer": [
        {"with_mean": False, "with_std": False},
        {"method": "rms", "eps": 0.1, "groups": [[0, 2], [1, 3]]},
        {"eps": 1e-3},
        {"with_std": False},
    ],
    "QuantileTransformer": [{"output_distribution": "normal", "n_quantiles": 20}],
    "GroupedScaler": [
        {"keep_group_column": True},
        {"scaler": sknorm.MinMaxScaler(clip=True), "handle_unknown": "all_groups"},
    ],
}

#: Estimators whose lazy map runs ``transform`` on batches.
BATCH_MAPPED = (
    sknorm.QuantileTransformer,
    sknorm.EmbeddingNormalizer,
    sknorm.EmbeddingQuantizer,
    sknorm.GroupedScaler,
)


def _instances():
    instances = []
    for cls in public_estimator_classes():
        params = [{}, *VARIANTS.get(cls.__name__, [])]
        params += LAZY_VARIANTS.get(cls.__name__, [])
        instances.extend(cls(**p) for p in params)
    return instances


def _id(estimator):
    defaults = type(estimator)().get_params(deep=False)
    changed = {
        k: v
        for k, v in estimator.get_params(deep=False).items()
        if repr(v) != repr(defaults[k])
    }
    arguments = ",".join(f"{k}={v!r}" for k, v in changed.items())
    return f"{type(estimator).__name__}({arguments})"


INSTANCES = _instances()

#: Feature names; one with a space and a quote (quoted in SQL).
NAMES = ["a", "b c", "d", "e'f", "g", "h"]


def _allows_nan(estimator):
    return estimator.__sklearn_tags__().input_tags.allow_nan


def _batch_mapped(estimator):
    if isinstance(estimator, sknorm.Normalizer):
        return estimator.zero_rows == "raise"
    return isinstance(estimator, BATCH_MAPPED)


def _grouped(estimator):
    return isinstance(estimator, sknorm.GroupedScaler)


def _data(estimator, dtype, n_features=6):
    """Training and held-out frames (polars): columns of different scales and
    offsets (one constant in fit), held-out values beyond the training range,
    an all-zero, a constant and a tiny row; NaN and nulls (and an all-missing
    row) where the estimator allows NaN; positive values for Box-Cox; a
    string group column first for GroupedScaler (one group unseen in fit)."""
    rng = np.random.default_rng(0)
    scales = np.array([1.0, 10.0, 3.0, 0.1, 1.0, 2.0])[:n_features]
    offsets = np.array([0.0, 5.0, 1e4, -2.0, 3.0, 0.0])[:n_features]
    X_fit = rng.normal(size=(40, n_features)) * scales + offsets
    X_fit[:, 4] = 3.0
    X_test = rng.normal(size=(25, n_features)) * 1.5 * scales + offsets
    X_test[0] = 0.0
    X_test[1] = 2.0
    X_test[2] = 1e-3 * rng.normal(size=n_features)
    nulls = np.zeros(X_test.shape, dtype=bool)
    if _allows_nan(estimator):
        X_fit[[3, 7], [1, 2]] = np.nan
        X_test[[4, 5, 5], [0, 1, 3]] = np.nan
        X_test[6] = np.nan
        nulls[[8, 9, 9], [2, 0, 5]] = True
        nulls[10] = True
    if getattr(estimator, "method", None) == "box-cox":
        X_fit, X_test = np.abs(X_fit) + 0.5, np.abs(X_test) + 0.5
        X_fit[:, 4] += np.linspace(0.0, 1.0, len(X_fit))
    polars_dtype = pl.Float32 if dtype == np.float32 else pl.Float64
    fit = pl.DataFrame(X_fit.astype(dtype), schema=NAMES[:n_features]).cast(
        polars_dtype
    )
    test = pl.DataFrame(
        {
            name: pl.Series(
                [
                    None if null else v
                    for v, null in zip(X_test[:, j], nulls[:, j], strict=True)
                ],
                dtype=polars_dtype,
            )
            for j, name in enumerate(NAMES[:n_features])
        }
    )
    if _grouped(estimator):
        fit.insert_column(0, pl.Series("group", ["x", "y"] * (len(fit) // 2)))
        groups = ["x", "y", "z"] * len(test)
        test.insert_column(0, pl.Series("group", groups[: len(test)]))
    return fit, test


def _collect(result):
    """A lazy result as a polars DataFrame."""
    if isinstance(result, pl.LazyFrame):
        return result.collect()
    return result.pl()


def _to_backend(frame, backend, connection=None):
    if backend == "polars":
        return frame.lazy()
    return (connection or duckdb).from_arrow(frame.to_arrow())


# ---------------------------------------------------------------------------
# Tolerances
# ---------------------------------------------------------------------------


def _power_atol(estimator, X, inverse=False):
    """Per-value bound between the lazy power map and ``transform`` (float64).

    With the quantities of the fitted map (``L = log1p|x|`` or ``log x``,
    ``d = L - center``, ``w = rate d``, ``u = expm1(w)``, ``z = gain u +
    offset``): ``L`` differs by ``(4 + 1) eps |L|`` (the expressions'
    ``log1p`` and numpy's; Box-Cox's ``log`` 1 eps each side), ``d`` adds
    its two roundings (``eps |d|``), ``w`` the rate's multiple of that plus
    ``eps |w|``, ``u`` ``e**w`` times the error of ``w`` plus ``(5 + 1) eps
    |u|`` (the two ``expm1``), ``z`` ``|gain|`` times that plus the roundings
    of the product and the sum (``eps (|gain u| + |z|)``). First order,
    doubled for the second-order terms. The inverse, likewise from ``u =
    (z - offset) / gain``: ``log1p`` moves by ``|du| / |1 + u|`` plus its
    ``5 eps``, ``exp`` and ``expm1`` by ``e**d`` times the error of ``d``.
    """
    pm = estimator._power_map()
    X = np.asarray(X, np.float64)

    def side_operand(name, side):
        values = np.asarray(getattr(pm, name), np.float64)
        return np.where(side, values[1], values[0])

    with np.errstate(all="ignore"):
        if not inverse:
            side = np.zeros(X.shape, bool) if pm.box_cox else X < 0
            L = np.log(X) if pm.box_cox else np.log1p(np.abs(X))
            dL = (2 if pm.box_cox else 5) * EPS * np.abs(L)
            d = L - side_operand("center", side)
            dd = dL + EPS * np.abs(d)
            rate = side_operand("rate", side)
            w = d * rate
            dw = np.abs(rate) * dd + EPS * np.abs(w)
            u = np.expm1(w)
            du = np.exp(w) * dw + 6 * EPS * np.abs(u)
            limit = side_operand("log_limit", side).astype(bool)
            du = np.where(limit, dd, du)
            u = np.where(limit, d, u)
            gain = side_operand("gain", side)
            z = gain * u + side_operand("offset", side)
            dz = np.abs(gain) * du + EPS * (np.abs(gain * u) + np.abs(z))
            return 2 * dz
        side = np.zeros(X.shape, bool) if pm.box_cox else X < pm.zero
        inverse_gain = side_operand("inverse_gain", side)
        u = (X - side_operand("offset", side)) * inverse_gain
        du = EPS * np.abs(u) * 2
        log = np.log1p(u)
        dlog = du / np.abs(1 + u) + 6 * EPS * np.abs(log)
        inverse_rate = side_operand("inverse_rate", side)
        limit = side_operand("log_limit", side).astype(bool)
        d = np.where(limit, u, log * inverse_rate)
        dd = np.where(limit, du, np.abs(inverse_rate) * dlog + EPS * np.abs(d))
        d = d + side_operand("center", side)
        dd = dd + EPS * np.abs(d)
        x = np.exp(d) if pm.box_cox else np.expm1(d)
        dx = np.exp(d) * dd + (2 if pm.box_cox else 6) * EPS * np.abs(x)
        return 2 * dx


def _row_atol(estimator, X, expected):
    """Per-value bound for the row normalizers (see the module docstring),
    per group of columns."""
    rule = estimator._rule()
    X = np.asarray(X, np.float64)
    atol = np.zeros(X.shape)
    if rule.is_identity:
        return atol
    names = getattr(estimator, "feature_names_in_", None)
    groups = estimator._groups(X.shape[1], names)
    for group in groups:
        group = np.asarray(group)
        x = X[:, group]
        n = len(group)
        rtol = 2 * (n + 4) * EPS + (2 * EPS if rule.floor == "hypot" else 0.0)
        bound = rtol * np.abs(expected[:, group])
        if rule.about_mean:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
                largest = np.nanmax(np.abs(x), axis=1, initial=0.0)[:, None]
                deviation = 2 * (n + 2) * EPS * largest
                if rule.scale:
                    spread = np.sqrt(
                        np.nanmean((x - np.nanmean(x, 1)[:, None]) ** 2, 1)
                    )
                    floor = np.sqrt(spread**2 + rule.eps)[:, None]
                    deviation = deviation / np.where(floor > 0, floor, 1.0)
            bound = bound + np.nan_to_num(deviation)
        atol[:, group] = bound
    return atol


def _unsquash_atol(estimator, S, expected):
    """Per-value bound for SquashingScaler's inverse: polars divides by a
    constant as a multiplication by its reciprocal (1.5 eps from numpy's
    quotient ``r = s / B``), which ``z = s / sqrt((1 - r) (1 + r))`` amplifies
    by ``1 / (1 - r**2)``; the roundings of the root and the quotient add
    ``4 eps``; ``x = z scale + offset`` multiplies by the scale and rounds
    twice."""
    S = np.asarray(S, np.float64)
    with np.errstate(all="ignore"):
        r = S / estimator.max_absolute_value
        z = S / np.sqrt((1 - r) * (1 + r))
        dz = np.abs(z) * (2 * EPS / (1 - r * r) + 4 * EPS)
        scaled = np.abs(z * estimator.scale_)
        return dz * estimator.scale_ + EPS * (scaled + np.abs(expected))


def _projection_row_atol(estimator, X):
    """Per-row bound (in norm) for :class:`~sknorm.EmbeddingNormalizer`: the
    matrix product of the centred row ``c`` with the projection ``P`` sums
    ``d`` products in an order that may depend on the batch: its entries
    differ by ``2 d eps (|c| @ |P|)``; normalizing moves a row by twice its
    error relative to its norm plus ``(d + 4) eps`` (``unit_rows_atol``)."""
    X = np.asarray(X, np.float64)
    if estimator.input_norm == "l2":
        X = sknorm.normalize(X, eps=estimator.eps)
    centred = X - estimator.mean_
    P = estimator.projection_
    d = X.shape[1]
    error = np.linalg.norm(2 * d * EPS * (np.abs(centred) @ np.abs(P)), axis=1)
    mapped = centred @ P
    if estimator.norm is None:
        return error + d * EPS * np.linalg.norm(mapped, axis=1)
    norms = np.maximum(np.linalg.norm(mapped, axis=1), estimator.eps)
    return 2 * error / norms + (d + 4) * EPS


def _atol(estimator, X, expected, method="transform"):
    """Per-value float64 bound between the lazy result and ``expected``
    (``transform`` of the float64 input ``X``)."""
    if isinstance(estimator, sknorm.PowerTransformer):
        return _power_atol(estimator, X, inverse=method != "transform")
    if isinstance(estimator, sknorm.SquashingScaler):
        if method == "transform":
            return 7 * EPS * np.abs(expected)
        return _unsquash_atol(estimator, X, expected)
    if isinstance(estimator, (sknorm.Normalizer, sknorm.RowStandardizer)):
        if not _batch_mapped(estimator):
            return _row_atol(estimator, X, expected)
    return np.zeros(expected.shape)


def _float32_rtol(estimator):
    """Relative float32 bound on top of one float32 ulp (module docstring)."""
    if isinstance(estimator, sknorm.SquashingScaler):
        return 4 * EPS32
    return 0.0


# ---------------------------------------------------------------------------
# The lazy result against transform
# ---------------------------------------------------------------------------


def _assert_lazy_matches(estimator, got, expected, test, backend, atol, dtype):
    """``got`` (a collected lazy result) against ``expected`` (``transform``
    of ``test``): names, dtypes, nulls, NaN, values."""
    assert got.columns == [str(c) for c in estimator.get_feature_names_out()]
    values = got.to_numpy()
    if expected.dtype.kind in "iu":
        assert values.dtype == expected.dtype
        np.testing.assert_array_equal(values, expected)
        return
    float_columns = [c for c, t in got.schema.items() if t.is_float()]
    expected_dtype = pl.Float32 if dtype == np.float32 else pl.Float64
    assert all(got.schema[c] == expected_dtype for c in float_columns)
    nulls = got.select(pl.all().is_null()).to_numpy()
    if _grouped(estimator) and estimator.keep_group_column:
        # The group column, kept as it came.
        assert got["group"].to_list() == test["group"].to_list()
        keep = [c != "group" for c in got.columns]
        values, nulls = values[:, keep], nulls[:, keep]
        if np.shape(atol) == expected.shape:
            atol = np.asarray(atol)[:, keep]
        expected = expected[:, keep]
    values = values.astype(np.float64)
    expected = np.asarray(expected, np.float64)
    features = test.drop("group") if _grouped(estimator) else test
    input_nulls = features.select(pl.all().is_null()).to_numpy()
    if backend == "duckdb" and _batch_mapped(estimator):
        # DuckDB's map passes pandas DataFrames: NaN and null are one value.
        np.testing.assert_array_equal(nulls, np.isnan(expected))
    else:
        if nulls.shape == input_nulls.shape:
            np.testing.assert_array_equal(nulls, input_nulls)
        else:
            assert not nulls.any()
        np.testing.assert_array_equal(
            np.isnan(values) & ~nulls, np.isnan(expected) & ~nulls
        )
    finite = ~np.isnan(expected)
    bound = np.broadcast_to(atol, expected.shape).astype(np.float64)
    if dtype == np.float32:
        magnitude = np.abs(expected).astype(np.float32)
        bound = bound + np.spacing(magnitude).astype(np.float64)
        if _float32_rtol(estimator):
            bound = bound + _float32_rtol(estimator) * np.abs(expected)
    with np.errstate(invalid="ignore"):
        error = np.abs(values - expected)
    beyond = finite & (values != expected) & ~(error <= bound)
    assert not beyond.any(), (
        f"{beyond.sum()} values beyond the bound: got {values[beyond][:4]}, "
        f"expected {expected[beyond][:4]}, bound {bound[beyond][:4]}"
    )


def _expected(estimator, test, method="transform"):
    """``method`` of the in-memory frame, as a numpy array (a kept group
    column, which may hold strings, as zeros: compared separately)."""
    if _grouped(estimator) and estimator.keep_group_column:
        estimator = copy.deepcopy(estimator).set_output(transform="polars")
        result = getattr(estimator, method)(test)
        return result.with_columns(pl.lit(0.0).alias("group")).to_numpy()
    return np.asarray(getattr(estimator, method)(test))


@pytest.mark.parametrize("backend", ["polars", "duckdb"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("estimator", INSTANCES, ids=_id)
def test_lazy_transform_matches_transform(estimator, dtype, backend):
    fit, test = _data(estimator, dtype)
    fitted = clone(estimator).fit(fit)
    if isinstance(estimator, sknorm.Normalizer) and estimator.zero_rows == "raise":
        # All-zero (or all-missing) rows raise, in transform and lazily.
        test = test.filter(~pl.all_horizontal(pl.all().fill_nan(None).is_null()))
        test = test.filter(~pl.all_horizontal(pl.all() == 0))
    expected = _expected(fitted, test)
    result = fitted.transform(_to_backend(test, backend))
    lazy_type = pl.LazyFrame if backend == "polars" else duckdb.DuckDBPyRelation
    assert isinstance(result, lazy_type)
    got = _collect(result)
    features = test.drop("group") if _grouped(fitted) else test
    X64 = features.to_numpy().astype(np.float64)
    if isinstance(fitted, sknorm.EmbeddingNormalizer):
        reference = _expected(fitted, test.cast(pl.Float64))
        row_atol = _projection_row_atol(fitted, X64)
        error = np.linalg.norm(got.to_numpy().astype(np.float64) - reference, axis=1)
        bound = row_atol + (
            np.sqrt(got.width) * EPS32 * np.linalg.norm(reference, axis=1)
            if dtype == np.float32
            else 0.0
        )
        assert (error <= bound).all(), (error / bound).max()
        assert got.columns == [str(c) for c in fitted.get_feature_names_out()]
        return
    with np.errstate(all="ignore"):
        expected64 = _expected(
            fitted, test.cast({c: pl.Float64 for c in features.columns})
        )
        atol = _atol(fitted, X64, expected64)
    _assert_lazy_matches(fitted, got, expected, test, backend, atol, dtype)


def _invertible(estimator):
    if not hasattr(estimator, "inverse_transform"):
        return False
    if _grouped(estimator):
        return estimator.keep_group_column
    return True


@pytest.mark.parametrize("backend", ["polars", "duckdb"])
@pytest.mark.parametrize("estimator", [e for e in INSTANCES if _invertible(e)], ids=_id)
def test_lazy_inverse_transform_matches(estimator, backend):
    fit, test = _data(estimator, np.float64)
    fitted = clone(estimator).fit(fit)
    if _grouped(fitted):
        # String groups need DataFrame output in memory.
        framed = copy.deepcopy(fitted).set_output(transform="polars")
        transformed = framed.transform(test)
        expected = framed.inverse_transform(transformed)
        expected = expected.with_columns(pl.lit(0.0).alias("group")).to_numpy()
    else:
        transformed = fitted.transform(test)
        names = [str(c) for c in fitted.get_feature_names_out()]
        transformed = pl.DataFrame(np.asarray(transformed), schema=names, orient="row")
        if isinstance(fitted, sknorm.EmbeddingQuantizer):
            dtype = pl.Int8 if fitted.dtype == "int8" else pl.UInt8
            transformed = transformed.cast(dtype)
        expected = np.asarray(fitted.inverse_transform(transformed))
    result = fitted.inverse_transform(_to_backend(transformed, backend))
    assert not isinstance(result, pl.DataFrame)
    got = _collect(result)
    assert got.columns == [str(c) for c in fitted.feature_names_in_]
    if _grouped(fitted):
        assert got["group"].to_list() == test["group"].to_list()
        got, expected = got.drop("group"), expected[:, 1:]
    values = got.to_numpy().astype(np.float64)
    expected = expected.astype(np.float64)
    if isinstance(fitted, sknorm.EmbeddingNormalizer):
        # The inverse projection's matrix product, as in the forward map.
        scale = np.abs(transformed.to_numpy()) @ np.abs(
            np.linalg.pinv(fitted.projection_)
        )
        atol = 2 * transformed.width * EPS * scale + EPS * np.abs(expected)
    else:
        atol = _atol(fitted, transformed.to_numpy(), expected, "inverse_transform")
    np.testing.assert_array_equal(np.isnan(expected), np.isnan(values))
    with np.errstate(invalid="ignore"):
        error = np.abs(values - expected)
    beyond = ~np.isnan(expected) & (values != expected) & ~(error <= atol)
    assert not beyond.any(), (values[beyond][:4], expected[beyond][:4])


# ---------------------------------------------------------------------------
# Laziness, streaming, schema errors, imports
# ---------------------------------------------------------------------------

#: One estimator of each expression family, and the batch-mapped ones.
FAMILIES = [
    sknorm.StandardScaler(clip=True),
    sknorm.SquashingScaler(),
    sknorm.PowerTransformer(),
    sknorm.RowStandardizer(),
    sknorm.QuantileTransformer(n_quantiles=10),
    sknorm.GroupedScaler(),
]


@pytest.mark.parametrize("estimator", FAMILIES, ids=_id)
def test_polars_plan_reads_at_collect(estimator, tmp_path):
    """The result reads its source when collected, not before: with the
    source file gone, collecting fails; written back, it succeeds."""
    fit, test = _data(estimator, np.float64)
    fitted = clone(estimator).fit(fit)
    source = tmp_path / "source.parquet"
    test.write_parquet(source)
    result = fitted.transform(pl.scan_parquet(source))
    assert isinstance(result, pl.LazyFrame)
    assert "SCAN" in result.explain().upper()  # a plan over the file
    source.unlink()
    with pytest.raises((OSError, pl.exceptions.ComputeError)):
        result.collect()
    test.write_parquet(source)
    got = result.collect()
    np.testing.assert_array_equal(
        np.isnan(got.to_numpy().astype(float)),
        np.isnan(_expected(fitted, test).astype(float)),
    )


@pytest.mark.parametrize("estimator", FAMILIES, ids=_id)
def test_duckdb_plan_reads_at_execution(estimator, tmp_path):
    fit, test = _data(estimator, np.float64)
    fitted = clone(estimator).fit(fit)
    source = str(tmp_path / "source.parquet")
    test.head(5).write_parquet(source)
    connection = duckdb.connect()
    result = fitted.transform(connection.read_parquet(source))
    assert isinstance(result, duckdb.DuckDBPyRelation)
    test.write_parquet(source)
    assert len(result.pl()) == test.height
    # A relation can be read again (and joined, filtered: it is a relation).
    assert result.aggregate("count(*)").fetchall() == [(test.height,)]


@pytest.mark.parametrize("estimator", FAMILIES, ids=_id)
def test_sink_parquet_streams(estimator, tmp_path):
    fit, test = _data(estimator, np.float64)
    fitted = clone(estimator).fit(fit)
    source, target = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pl.concat([test] * 40).write_parquet(source, row_group_size=100)
    fitted.transform(pl.scan_parquet(source)).sink_parquet(target)
    written = pl.read_parquet(target)
    expected = np.asarray(fitted.transform(pl.read_parquet(source)), dtype=float)
    np.testing.assert_array_equal(
        np.isnan(written.to_numpy().astype(float)), np.isnan(expected)
    )
    features = pl.read_parquet(source)
    if _grouped(fitted):
        features = features.drop("group")
    X64 = features.to_numpy().astype(float)
    with np.errstate(all="ignore"):
        atol = _atol(fitted, X64, expected)
    finite = ~np.isnan(expected)
    error = np.abs(written.to_numpy().astype(float) - expected)
    assert (error[finite] <= atol[finite]).all()
    # DuckDB's writer streams the relation likewise.
    duck_target = str(tmp_path / "duck.parquet")
    fitted.transform(duckdb.read_parquet(str(source))).write_parquet(duck_target)
    assert pl.read_parquet(duck_target).height == features.height


def test_batches_are_mapped_as_the_engine_reads(monkeypatch):
    """Nothing runs ``transform`` before the result is collected; then it
    runs once per batch the engine hands over."""
    fit, test = _data(sknorm.QuantileTransformer(), np.float64)
    fitted = sknorm.QuantileTransformer(n_quantiles=10).fit(fit)
    calls = []
    original = sknorm.QuantileTransformer.transform

    def counting(self, X, *args, **kwargs):
        if not lazy.is_lazy_frame(X):  # a batch
            calls.append(len(X))
        return original(self, X, *args, **kwargs)

    monkeypatch.setattr(sknorm.QuantileTransformer, "transform", counting)
    relation = duckdb.from_arrow(pl.concat([test] * 400).to_arrow())
    result = fitted.transform(relation)
    lazy_result = fitted.transform(pl.concat([test] * 4).lazy())
    assert calls == []  # nothing read yet
    rows = result.aggregate("count(*)").fetchall()[0][0]
    assert rows == 400 * test.height
    assert len(calls) > 1 and sum(calls) == rows  # DuckDB's chunks
    calls.clear()
    assert lazy_result.collect().height == 4 * test.height
    assert sum(calls) == 4 * test.height


def test_frame_must_hold_the_fitted_features():
    fit, test = _data(sknorm.StandardScaler(), np.float64)
    scaler = sknorm.StandardScaler().fit(fit)
    for backend in ("polars", "duckdb"):
        frame = _to_backend(test, backend)
        nw_frame = nw.from_native(frame)
        with pytest.raises(ValueError, match=r"lacks the fitted feature\(s\) 'a'"):
            scaler.transform(nw.to_native(nw_frame.drop("a")))
        extra = nw_frame.with_columns(nw.col("a").alias("z"))
        with pytest.raises(ValueError, match=r"column\(s\) 'z' not seen in fit"):
            scaler.transform(nw.to_native(extra))
        reordered = nw_frame.select(*reversed(NAMES))
        with pytest.raises(ValueError, match="order of fit"):
            scaler.transform(nw.to_native(reordered))
        text = nw_frame.with_columns(nw.col("d").cast(nw.String))
        with pytest.raises(ValueError, match=r"non-numeric column\(s\) 'd' \(String\)"):
            scaler.transform(nw.to_native(text))
    unnamed = sknorm.StandardScaler().fit(fit.to_numpy())
    with pytest.raises(
        ValueError, match="has 5 columns, but StandardScaler is expecting 6"
    ):
        unnamed.transform(test.drop("a").lazy())
    with pytest.raises(Exception, match="not fitted"):
        sknorm.StandardScaler().transform(test.lazy())


def test_integer_and_boolean_columns():
    """Integers (64-bit beyond 2**53 included, relative to the integer centre
    in exact arithmetic) and booleans are float64 data, as in memory."""
    base = 1_700_000_000_000_000_000
    fit = pl.DataFrame(
        {
            "t": [base + 1024 * k for k in range(8)],
            "i": list(range(8)),
            "b": [True, False] * 4,
        }
    )
    test = pl.DataFrame(
        {
            "t": [base - 7, base + 5000, None],
            "i": [3, None, -2],
            "b": [True, None, False],
        }
    )
    for estimator in (
        sknorm.StandardScaler(),
        sknorm.MinMaxScaler(),
        sknorm.SquashingScaler(),
    ):
        estimator.fit(fit)
        expected = np.asarray(estimator.transform(test))
        for backend in ("polars", "duckdb"):
            got = _collect(estimator.transform(_to_backend(test, backend)))
            assert got.schema == {"t": pl.Float64, "i": pl.Float64, "b": pl.Float64}
            atol = _atol(estimator, test.to_numpy(), expected)
            error = np.abs(got.to_numpy() - expected)
            assert (error[~np.isnan(expected)] <= atol[~np.isnan(expected)]).all()
            np.testing.assert_array_equal(np.isnan(got.to_numpy()), np.isnan(expected))


def test_row_normalizer_without_fit():
    _, test = _data(sknorm.Normalizer(), np.float64)
    expected = sknorm.Normalizer().transform(test)
    got = _collect(sknorm.Normalizer().transform(test.lazy()))
    assert got.columns == test.columns
    atol = _row_atol(sknorm.Normalizer(), test.to_numpy(), expected)
    finite = ~np.isnan(expected)
    assert (np.abs(got.to_numpy() - expected)[finite] <= atol[finite]).all()


def test_narwhals_frame_in_narwhals_frame_out():
    fit, test = _data(sknorm.StandardScaler(), np.float64)
    scaler = sknorm.StandardScaler().fit(fit)
    result = scaler.transform(nw.from_native(test.lazy()))
    assert isinstance(result, nw.LazyFrame)
    np.testing.assert_array_equal(
        result.collect().to_numpy(), np.asarray(scaler.transform(test))
    )


def test_log1p_expm1_against_exact():
    """The expressions' log1p and expm1 (narwhals has neither) within 4 and
    5 eps relative of the exact values (Goldberg's and Kahan's bounds, as
    sknorm.onnx's), in polars and DuckDB."""
    a = np.concatenate(
        [
            -np.logspace(-300, np.log10(0.999), 150),
            np.logspace(-300, 300, 150),
            [0.0, -0.5, 0.75, 1e-16, -1e-16],
        ]
    )
    w = np.concatenate(
        [
            np.linspace(-700, 700, 301),
            np.logspace(-300, 0, 100),
            -np.logspace(-300, 0, 100),
        ]
    )
    with mpmath.workdps(40):
        exact = {
            "log1p": np.array([float(mpmath.log1p(mpmath.mpf(float(v)))) for v in a]),
            "expm1": np.array([float(mpmath.expm1(mpmath.mpf(float(v)))) for v in w]),
        }
    for name, values, build, rtol in (
        ("log1p", a, lazy._log1p, 4 * EPS),
        ("expm1", w, lazy._expm1, 5 * EPS),
    ):
        frame = pl.DataFrame({"v": values})
        for native in (frame.lazy(), duckdb.from_arrow(frame.to_arrow())):
            out = nw.from_native(native).select(build(nw, nw.col("v")).alias("r"))
            got = _collect(nw.to_native(out))["r"].to_numpy()
            error = np.abs(got - exact[name])
            assert (error <= rtol * np.abs(exact[name])).all(), name


def test_missing_narwhals_says_how_to_install(monkeypatch):
    scaler = sknorm.StandardScaler().fit(np.ones((3, 1)) * [[1.0], [2.0], [4.0]])
    frame = pl.LazyFrame({"x0": [1.0]})
    monkeypatch.setitem(sys.modules, "narwhals", None)  # import fails
    with pytest.raises(ImportError, match=r'pip install "sknorm\[lazy\]"'):
        scaler.transform(frame)


def test_is_lazy_frame():
    frame = pl.DataFrame({"a": [1.0]})
    assert lazy.is_lazy_frame(frame.lazy())
    assert lazy.is_lazy_frame(duckdb.from_arrow(frame.to_arrow()))
    assert lazy.is_lazy_frame(nw.from_native(frame.lazy()))
    assert not lazy.is_lazy_frame(frame)
    assert not lazy.is_lazy_frame(frame.to_numpy())
    assert not lazy.is_lazy_frame(frame.to_pandas())


#: Run in a fresh interpreter: records which module imports narwhals, polars
#: or DuckDB (the nearest frame outside importlib), then imports sknorm.
_IMPORTERS = """
import sys

watched = ("narwhals", "polars", "duckdb")
importers = set()


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in watched:
            frame = sys._getframe(1)
            while frame and "importlib" in frame.f_globals.get("__name__", "_"):
                frame = frame.f_back
            if frame is not None:
                importers.add(frame.f_globals.get("__name__", ""))
        return None


sys.meta_path.insert(0, Watch())
import sknorm, sknorm._lazy  # noqa: E401

ours = sorted(m for m in importers if m.split(".")[0] == "sknorm")
assert not ours, ours
loaded = [m for m in ("polars", "duckdb") if m in sys.modules]
assert not loaded, loaded
"""


def test_import_sknorm_imports_no_lazy_engine():
    """No sknorm module imports narwhals, polars or DuckDB when sknorm is
    imported (scikit-learn >= 1.9 imports narwhals itself: only sknorm's
    own imports are checked for it), and polars and DuckDB are not loaded."""
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTERS],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 0, result.stderr.decode()
