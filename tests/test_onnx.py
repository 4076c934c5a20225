"""ONNX export (sknorm.onnx): every estimator converts, and onnxruntime computes
what ``transform`` computes.

Each public estimator (discovered from ``sknorm.__all__``) is converted with its
defaults, the variants of ``test_common.VARIANTS`` and the parameter values of
``ONNX_VARIANTS``, run with onnxruntime on held-out data (values outside the
training range, all-zero, tiny and constant rows, NaN where the estimator
allows it) and compared with ``transform``: float32 within a relative 1e-6,
float64 within 1e-12, quantized codes exactly.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import sknorm

skl2onnx = pytest.importorskip(
    "skl2onnx", reason="ONNX export needs skl2onnx (pip install sknorm[onnx])"
)
onnxruntime = pytest.importorskip(
    "onnxruntime", reason="running exported models needs onnxruntime"
)

import sknorm.onnx  # noqa: E402 - after the skips: needs skl2onnx

from .test_common import VARIANTS, public_estimator_classes  # noqa: E402
from .test_onnx_transformers import (  # noqa: E402
    EPS,
    normal_output_atol,
    power_transform_atol,
)

#: Parameter values the export must cover besides ``VARIANTS``.
ONNX_VARIANTS = {
    "StandardScaler": [
        {"with_std": False},
        {"with_mean": False, "with_std": False},
        {"with_mean": False, "clip": True},
    ],
    "MinMaxScaler": [{"clip": True}, {"feature_range": (-3.5, 0.25)}],
    "MaxAbsScaler": [],
    "SquashingScaler": [{"max_absolute_value": 0.5}],
    "RobustScaler": [
        {"with_scaling": False},
        {"with_centering": False, "with_scaling": False},
        {"quantile_range": (10.0, 90.0), "clip": True},
    ],
    "Normalizer": [
        {"norm": 1.5},
        {"eps": 0.5},
        {"norm": "l1", "eps": 0.5},
        {"norm": "max", "eps": 0.5},
        # Unequal, unordered groups; column 4 passes through.
        {"groups": [[3, 0], [5, 1, 2]]},
        {"groups": [[0, 1], [2, 3], [4, 5]], "weights": [1, 2, 3], "norm": "l1"},
    ],
    "RowStandardizer": [
        {"with_mean": False, "with_std": False},
        {"method": "rms", "eps": 0.1, "groups": [[0, 2], [1, 3]]},
        {"eps": 1e-3},
    ],
    "EmbeddingNormalizer": [
        {"norm": None},
        {"center": False},
        {"truncate_dim": 3},
        {"eps": 10.0},
        {"whiten": "pca"},
        {"input_norm": None},
        {"input_norm": None, "whiten": "zca", "eps": 10.0},
        {"input_norm": "l2", "whiten": "pca", "shrinkage": "auto", "norm": None},
    ],
    "EmbeddingQuantizer": [
        {"quantile_range": (5.0, 95.0)},
        {"dtype": "uint8", "quantile_range": (10.0, 90.0)},
        {"dtype": "binary", "center": "median"},
    ],
    "QuantileTransformer": [
        {"output_distribution": "normal"},
        {"n_quantiles": 2},
        {"n_quantiles": 1, "output_distribution": "normal"},
    ],
    # test_common's VARIANTS has standardize=False.
    "PowerTransformer": [
        {"method": "box-cox"},
        {"method": "box-cox", "standardize": False},
    ],
}

#: Public estimators without an ONNX converter, with the reason.
WITHOUT_CONVERTER = {
    "GroupedScaler": (
        "per-group statistics are looked up per row by the value of its group "
        "column (a string or a number, unseen ones sent to the all-groups "
        "statistics): not the per-feature affine map or projection the "
        "converter families export"
    ),
}


def _convertible(classes):
    return [cls for cls in classes if cls.__name__ not in WITHOUT_CONVERTER]


#: The checkout whose sknorm the subprocesses import.
ROOT = Path(__file__).resolve().parents[1]

RTOL = {np.float32: 1e-6, np.float64: 1e-12}


def _instances():
    instances = []
    for cls in _convertible(public_estimator_classes()):
        params = [{}, *VARIANTS.get(cls.__name__, [])]
        params += ONNX_VARIANTS[cls.__name__]
        instances.extend(cls(**p) for p in params)
    return instances


def _id(estimator):
    changed = {
        k: v
        for k, v in estimator.get_params(deep=False).items()
        if repr(v) != repr(type(estimator)().get_params(deep=False)[k])
    }
    arguments = ",".join(f"{k}={v!r}" for k, v in changed.items())
    return f"{type(estimator).__name__}({arguments})"


INSTANCES = _instances()


def _allows_nan(estimator):
    return estimator.__sklearn_tags__().input_tags.allow_nan


def _positive_only(estimator):
    """Box-Cox transforms take positive values only."""
    return getattr(estimator, "method", None) == "box-cox"


def _data(estimator, dtype, n_features=6, far=1e4):
    """Training data and held-out data with awkward rows.

    Columns differ in scale and offset (one ``far`` from zero, one constant);
    held-out values reach beyond the training range. Held-out rows include
    an all-zero, a constant and a tiny row and, where allowed, NaN values
    and an all-NaN row. For estimators of positive values, the absolute
    values plus 0.5 (and a constant column that varies: Box-Cox rejects
    constant data).
    """
    rng = np.random.default_rng(0)
    scales = np.array([1.0, 10.0, 3.0, 0.1, 1.0, 2.0])[:n_features]
    offsets = np.array([0.0, 5.0, far, -2.0, 3.0, 0.0])[:n_features]
    X_fit = rng.normal(size=(40, n_features)) * scales + offsets
    X_fit[:, 4 % n_features] = 3.0
    X_test = rng.normal(size=(25, n_features)) * 1.5 * scales + offsets
    X_test[0] = 0.0
    X_test[1] = 2.0
    X_test[2] = 1e-3 * rng.normal(size=n_features)
    if _allows_nan(estimator):
        X_fit[[3, 7], [1, 2]] = np.nan
        X_test[[4, 5, 5], [0, 1, 3]] = np.nan
        X_test[6] = np.nan
    if _positive_only(estimator):
        X_fit, X_test = np.abs(X_fit) + 0.5, np.abs(X_test) + 0.5
        X_fit[:, 4 % n_features] += np.linspace(0.0, 1.0, len(X_fit))
    return X_fit.astype(dtype), X_test.astype(dtype)


def _run(model, X):
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


def _assert_matches(got, expected, dtype, amplification=1.0):
    """Codes exactly; floats within ``RTOL`` of the values (absolute for values
    below 1: outputs are of order 1, and centered ones may cancel to 0), times
    ``amplification`` (per row) where the computation amplifies rounding."""
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    if expected.dtype.kind in "iu":
        np.testing.assert_array_equal(got, expected)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    tolerance = RTOL[dtype] * np.maximum(amplification, 1.0)
    # Equal infinities (power transforms beyond the float range) match.
    with np.errstate(invalid="ignore"):
        error = np.where(
            got == expected, 0.0, np.abs(got.astype(np.float64) - expected)
        )
    bound = tolerance * (1.0 + np.abs(expected))
    finite = ~np.isnan(expected)
    assert (error[finite] <= np.broadcast_to(bound, error.shape)[finite]).all(), (
        f"largest error {np.nanmax(error / bound):.3g} times the tolerance"
    )


def _rounding_amplification(estimator, X):
    """How much the EmbeddingNormalizer's map amplifies a rounding of the
    normalized input rows (``input_norm``), per row: the graph and the row
    kernel normalize with different roundings (unit-sized errors), which the
    map scales by at most ``||P||_2`` and the output normalization divides by
    the mapped row's norm (small where centering cancels).

    For the power and normal-output quantile transformers, the bounds of
    ``test_onnx_transformers`` (their ``expm1`` and ``ndtri`` are evaluated
    differently: a few eps times the map's condition), per value, in units of
    the float64 tolerance.
    """
    if hasattr(estimator, "lambdas_") or (
        getattr(estimator, "output_distribution", None) == "normal"
    ):
        X = X.astype(np.float64)
        expected = estimator.transform(X)
        if hasattr(estimator, "lambdas_"):
            atol = power_transform_atol(estimator, X, expected)
        else:
            # EPS: a fused multiply-add in numpy's interpolation (none on x86-64).
            atol = normal_output_atol(expected, EPS)
        return np.nan_to_num(atol / (RTOL[np.float64] * (1.0 + np.abs(expected))))
    if not isinstance(estimator, sknorm.EmbeddingNormalizer):
        return 1.0
    if estimator.input_norm is None:
        return 1.0
    units = sknorm.normalize(X.astype(np.float64), eps=estimator.eps)
    mapped = (units - estimator.mean_) @ estimator.projection_
    gain = np.linalg.norm(estimator.projection_, 2)
    if estimator.norm is None:
        return np.full((len(X), 1), gain)
    with np.errstate(divide="ignore"):
        norms = np.maximum(np.linalg.norm(mapped, axis=1), estimator.eps)
    return (gain / norms)[:, None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("estimator", INSTANCES, ids=_id)
def test_onnx_matches_transform(estimator, dtype):
    X_fit, X_test = _data(estimator, dtype)
    fitted = clone(estimator).fit(X_fit)
    model = sknorm.onnx.to_onnx(fitted, X_fit[:1])
    (got,) = _run(model, X_test)
    amplification = _rounding_amplification(fitted, X_test)
    _assert_matches(got, fitted.transform(X_test), dtype, amplification)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "estimator",
    # skl2onnx's LogisticRegression converter takes no int8/uint8 input, so
    # the quantizers' codes cannot feed it (see test_quantizer_ends_a_pipeline).
    [e for e in INSTANCES if not isinstance(e, sknorm.EmbeddingQuantizer)],
    ids=_id,
)
def test_onnx_pipeline_with_logistic_regression(estimator, dtype):
    # Offsets the variants that scale nothing can feed to the model.
    X_fit, X_test = _data(estimator, dtype, far=10.0)
    fill = 1.0 if _positive_only(estimator) else 0.0
    X_fit, X_test = np.nan_to_num(X_fit, nan=fill), np.nan_to_num(X_test, nan=fill)
    y = (X_fit[:, 0] - X_fit[:, 3] > np.median(X_fit[:, 0] - X_fit[:, 3])).astype(int)
    pipeline = make_pipeline(clone(estimator), LogisticRegression()).fit(X_fit, y)
    # Registered by `import sknorm.onnx`: skl2onnx's own entry point works.
    model = skl2onnx.to_onnx(pipeline, X_fit[:1], options={"zipmap": False})
    labels, proba = _run(model, X_test)
    np.testing.assert_array_equal(labels, pipeline.predict(X_test))
    # float32: the ONNX classifier computes in float32, scikit-learn in float64.
    atol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(proba, pipeline.predict_proba(X_test), atol=atol)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "binary"])
def test_quantizer_ends_a_pipeline(dtype):
    X_fit, X_test = _data(sknorm.EmbeddingQuantizer(), np.float32)
    pipeline = make_pipeline(
        sknorm.EmbeddingNormalizer(n_remove=1), sknorm.EmbeddingQuantizer(dtype)
    ).fit(X_fit)
    (codes,) = _run(sknorm.onnx.to_onnx(pipeline, X_fit[:1]), X_test)
    _assert_matches(codes, pipeline.transform(X_test), np.float32)


def test_every_public_estimator_converts():
    # A new estimator fails here until a converter family serves it.
    classes = _convertible(public_estimator_classes())
    assert sknorm.onnx.register_converters() == classes
    for cls in classes:
        X_fit, X_test = _data(cls(), np.float64)
        estimator = cls().fit(X_fit)
        (got,) = _run(sknorm.onnx.to_onnx(estimator, X_fit[:1]), X_test)
        amplification = _rounding_amplification(estimator, X_test)
        _assert_matches(got, estimator.transform(X_test), np.float64, amplification)


@pytest.mark.parametrize("name", sorted(WITHOUT_CONVERTER))
def test_estimators_without_converter_are_refused(name):
    """Converting one fails at once, naming the estimator, rather than
    exporting a graph that computes something else."""
    X_fit, _ = _data(getattr(sknorm, name)(), np.float64)
    estimator = getattr(sknorm, name)().fit(X_fit)
    with pytest.raises(RuntimeError, match=name):
        sknorm.onnx.to_onnx(estimator, X_fit[:1])


@pytest.mark.parametrize("n_features", [8, 9, 16, 17])
def test_binary_codes_are_packbits(n_features):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, n_features))
    quantizer = sknorm.EmbeddingQuantizer("binary", center=None).fit(X)
    (codes,) = _run(sknorm.onnx.to_onnx(quantizer, X[:1]), X)
    np.testing.assert_array_equal(codes, np.packbits(X > 0, axis=1))


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_extreme_magnitudes():
    """The working powers of two (affine map, quantizer bins) and the row
    kernel's scaling by the largest value are reproduced in float64."""
    rng = np.random.default_rng(2)
    u = rng.uniform(-1, 1, size=(30, 1))
    X = np.hstack([1.5e308 * u, 1e-310 * u, 1e300 * u + 1e305, 1e-200 * u, u])
    X[0] = [-1.5e308, -1e-310, 1e305 - 1e300, -1e-200, -1.0]
    X[1] = [1.5e308, 1e-310, 1e305 + 1e300, 1e-200, 1.0]
    estimators = [
        sknorm.MinMaxScaler(),
        sknorm.MaxAbsScaler(),
        sknorm.StandardScaler(),
        sknorm.RobustScaler(),
        sknorm.EmbeddingQuantizer(),
    ]
    for estimator in estimators:
        estimator.fit(X)
        (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
        _assert_matches(got, estimator.transform(X), np.float64)
    rows = np.vstack([1e200 * u.T, 1e-200 * u.T, 3e-310 * u.T])
    for estimator in [
        sknorm.Normalizer(),
        sknorm.Normalizer(norm=3),
        sknorm.RowStandardizer(),
        sknorm.RowStandardizer(method="rms"),
    ]:
        (got,) = _run(sknorm.onnx.to_onnx(estimator, rows[:1]), rows)
        _assert_matches(got, estimator.transform(rows), np.float64)
    # Squares that overflow: scikit-learn's own example of sknorm's Normalizer.
    big = np.array([[1e160, 1e160, 0.0]])
    (got,) = _run(sknorm.onnx.to_onnx(sknorm.Normalizer(), big), big)
    np.testing.assert_allclose(got, [[2**-0.5, 2**-0.5, 0.0]], rtol=1e-15)


@pytest.mark.parametrize(
    ("estimator", "X"),
    [
        (sknorm.StandardScaler(), np.array([[3.0], [7], [1], [9], [2]]) * 5e-324),
        (sknorm.StandardScaler(with_std=False), np.array([[1e300], [-1e300], [3e299]])),
        (
            sknorm.MinMaxScaler(feature_range=(-1e308, 1e308)),
            np.array([[1.0], [2], [3]]),
        ),
        (sknorm.MinMaxScaler(feature_range=(0, 1e-310)), np.array([[1.0], [2], [3]])),
        (
            sknorm.RobustScaler(with_centering=False),
            np.random.default_rng(3).normal(size=(20, 1)) * 1e-310,
        ),
    ],
    ids=["subnormal", "without_std_huge", "range_1e308", "range_1e-310", "robust_tiny"],
)
def test_map_in_units_of_powers_of_two(estimator, X):
    """Maps whose operands are in units of powers of two (data below the
    normal range, results beyond or below the float64 range): the graph runs
    the same float64 steps as ``transform``, so it gives the same values, bit
    for bit (outputs below 1e-300 would pass any relative-to-1 tolerance)."""
    estimator.fit(X)
    (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
    np.testing.assert_array_equal(got, estimator.transform(X))


@pytest.mark.parametrize("value", [0.1, 3.3, 1e160, -1e-300])
def test_constant_row_standardizes_to_zeros(value):
    # Exactly 0: the row's mean is its value (no variance, divisor 1).
    row = np.full((1, 30), value)
    (got,) = _run(sknorm.onnx.to_onnx(sknorm.RowStandardizer(), row), row)
    np.testing.assert_array_equal(got, np.zeros_like(row))


def test_nan_in_row_statistics_is_ignored():
    X = np.array([[3.0, np.nan, 4.0], [np.nan, np.nan, np.nan], [1.0, 1.0, np.nan]])
    for estimator in [sknorm.Normalizer(), sknorm.RowStandardizer()]:
        (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
        _assert_matches(got, estimator.transform(X), np.float64)
    (got,) = _run(sknorm.onnx.to_onnx(sknorm.Normalizer(), X[:1]), X)
    np.testing.assert_allclose(got[0], [0.6, np.nan, 0.8])


def test_nan_where_sknorm_rejects_it():
    # sknorm's transform raises on NaN for the embedding estimators; a graph
    # cannot raise, so NaN spreads to the whole row, or gives a 0 bit.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(20, 4))
    X_nan = X.copy()
    X_nan[0, 1] = np.nan
    normalizer = sknorm.EmbeddingNormalizer(n_remove=1).fit(X)
    (got,) = _run(sknorm.onnx.to_onnx(normalizer, X[:1]), X_nan)
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1:], normalizer.transform(X[1:]), rtol=1e-12)
    quantizer = sknorm.EmbeddingQuantizer("binary", center=None).fit(X)
    (codes,) = _run(sknorm.onnx.to_onnx(quantizer, X[:1]), X_nan)
    np.testing.assert_array_equal(codes, np.packbits(np.nan_to_num(X_nan) > 0, axis=1))
    with pytest.raises(ValueError, match="NaN"):
        quantizer.transform(X_nan)


def test_unfitted_row_normalizer_converts():
    # Row normalizers are stateless: the input's width is enough.
    X = np.random.default_rng(4).normal(size=(10, 5))
    estimator = sknorm.Normalizer(groups=[[0, 1], [2, 3, 4]])
    (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
    _assert_matches(got, estimator.transform(X), np.float64)


def test_groups_by_column_name():
    pd = pytest.importorskip("pandas")
    X = np.random.default_rng(5).normal(size=(10, 4))
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    estimator = sknorm.RowStandardizer(groups=[["d", "a"], ["b", "c"]]).fit(frame)
    (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
    _assert_matches(got, estimator.transform(frame), np.float64)


def test_integer_input_gives_float64():
    X = np.arange(24, dtype=np.int64).reshape(6, 4) % 5
    estimator = sknorm.StandardScaler().fit(X)
    (got,) = _run(sknorm.onnx.to_onnx(estimator, X[:1]), X)
    _assert_matches(got, estimator.transform(X), np.float64)


def test_zero_rows_raise_is_refused():
    estimator = sknorm.Normalizer(zero_rows="raise").fit(np.ones((2, 3)))
    with pytest.raises(
        ValueError,
        match=r"Normalizer\(zero_rows='raise'\) cannot be converted to ONNX",
    ):
        sknorm.onnx.to_onnx(estimator, np.ones((1, 3)))


def test_old_opset_is_refused():
    estimator = sknorm.StandardScaler().fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="StandardScaler converts to ONNX opset 13"):
        sknorm.onnx.to_onnx(estimator, np.ones((1, 3)), target_opset=12)


def test_unfitted_estimator_is_refused():
    with pytest.raises(NotFittedError):
        sknorm.onnx.to_onnx(sknorm.MinMaxScaler(), np.ones((1, 3)))


def test_width_mismatch_is_refused():
    estimator = sknorm.MaxAbsScaler().fit(np.ones((2, 3)))
    with pytest.raises(ValueError, match="fitted on 3 features, but the ONNX input"):
        sknorm.onnx.to_onnx(estimator, np.ones((1, 4)))


def test_several_inputs_are_refused():
    from skl2onnx.common.data_types import FloatTensorType

    estimator = sknorm.StandardScaler().fit(np.ones((2, 4)))
    halves = [("a", FloatTensorType([None, 2])), ("b", FloatTensorType([None, 2]))]
    with pytest.raises(ValueError, match="StandardScaler takes one input tensor"):
        sknorm.onnx.to_onnx(estimator, initial_types=halves)


def test_deploying_page_example_runs():
    # The code block of the ONNX section of docs/deploying.rst.
    text = (ROOT / "docs" / "deploying.rst").read_text()
    section = text.split(".. _deploying-onnx:")[1].split(".. _deploying-skops:")[0]
    block = section.split(".. code-block:: python\n")[1]
    lines = []
    for line in block.splitlines()[1:]:
        if line and not line.startswith("   "):
            break
        lines.append(line[3:])
    code = "\n".join(lines)
    assert "skl2onnx.to_onnx(pipeline" in code and "sknorm.onnx.to_onnx(" in code
    exec(compile(code, "deploying.rst", "exec"), {})


def test_missing_skl2onnx_is_explained(monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install sknorm\[onnx\]"):
        sknorm.onnx.to_onnx(sknorm.StandardScaler(), np.ones((1, 3)))


def test_import_sknorm_does_not_import_onnx_and_import_registers():
    # One fresh process (imports are slow): `import sknorm` leaves skl2onnx
    # and onnx alone, `import sknorm.onnx` is all skl2onnx.to_onnx needs.
    code = (
        "import sknorm, sys\n"
        "assert 'skl2onnx' not in sys.modules and 'onnx' not in sys.modules\n"
        "import numpy as np, skl2onnx, sknorm.onnx\n"
        "X = np.ones((2, 3))\n"
        "skl2onnx.to_onnx(sknorm.RobustScaler().fit(X), X)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_squashing_scaler_graph_maps_infinity_and_constant_features(dtype):
    from .test_scalers import _squashing_data

    X_fit = _squashing_data()
    X_test = (_squashing_data(seed=1) * 3).astype(dtype)
    X_test[0] = [np.inf, -np.inf, np.nan, np.inf]
    scaler = sknorm.SquashingScaler(max_absolute_value=2.0).fit(X_fit)
    (got,) = _run(sknorm.onnx.to_onnx(scaler, X_test[:1]), X_test)
    expected = scaler.transform(X_test)
    np.testing.assert_array_equal(got[0], expected[0])
    _assert_matches(got, expected, dtype)
