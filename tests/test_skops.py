"""Fitted estimators saved with skops load trusting sknorm's classes only.

Every public estimator (discovered, with the parameter variants of
``test_common``) is fitted on dense and, where it takes them, sparse data,
dumped with skops and loaded with ``trusted=sknorm.io.trusted_types()``: the
file's untrusted types are exactly the estimator's own class, and the loaded
estimator transforms bit for bit as the original and continues ``partial_fit``
from the stored statistics.
"""

import io

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils import get_tags

import sknorm
import sknorm.io

from .test_common import ESTIMATORS, _data, _id, public_estimator_classes

sio = pytest.importorskip("skops.io", reason="skops is not installed")


def _qualified_name(cls):
    return f"{cls.__module__}.{cls.__name__}"


def _assert_identical(result, expected):
    """Same container, dtype and values bit for bit (NaN where NaN)."""
    assert type(result) is type(expected)
    if sparse.issparse(expected):
        assert result.format == expected.format
        for part in ("data", "indices", "indptr"):
            _assert_identical(getattr(result, part), getattr(expected, part))
        return
    assert result.dtype == expected.dtype and result.shape == expected.shape
    assert np.asarray(result).tobytes() == np.asarray(expected).tobytes()


def _fit_inputs(estimator):
    """``(label, X)`` pairs the estimator is fitted on: dense, and CSR/CSC
    where it takes sparse input and keeps it sparse (its fitted map keeps zeros
    zero) or projects it to dense output."""
    X = _data()
    inputs = [("dense", X)]
    if get_tags(estimator).input_tags.sparse:
        moves_zeros = np.any(
            clone(estimator).fit(X).transform(np.zeros((1, X.shape[1])))
        )
        if not moves_zeros or not isinstance(estimator, OneToOneFeatureMixin):
            inputs += [
                (fmt, sparse.csr_array(X).asformat(fmt)) for fmt in ("csr", "csc")
            ]
    return inputs


CASES = [
    pytest.param(estimator, label, X, id=f"{_id(estimator)}-{label}")
    for estimator in ESTIMATORS
    for label, X in _fit_inputs(estimator)
]


def test_trusted_types_are_the_public_estimator_classes():
    names = sknorm.io.trusted_types()
    assert names == sorted(_qualified_name(c) for c in public_estimator_classes())
    assert "sknorm.scalers.StandardScaler" in names
    assert "sknorm.rows.Normalizer" in names


def test_importing_sknorm_io_does_not_import_skops():
    import subprocess
    import sys

    code = "import sys, sknorm, sknorm.io; print('skops' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def _nested_estimators(value):
    """The estimators held by ``value`` (a fitted meta-estimator's per-group
    scalers, its parameters), ``value`` itself included."""
    if isinstance(value, BaseEstimator):
        found = [value]
        for item in vars(value).values():
            found += _nested_estimators(item)
        return found
    if isinstance(value, list | tuple):
        return [e for item in value for e in _nested_estimators(item)]
    return []


def _statistics_states(estimator):
    """The statistics' state of the estimator and of those it holds."""
    return [
        e._statistics_state
        for e in _nested_estimators(estimator)
        if hasattr(e, "_statistics_state")
    ]


@pytest.mark.parametrize(("estimator", "label", "X"), CASES)
def test_only_the_estimator_class_is_untrusted(estimator, label, X):
    fitted = clone(estimator).fit(X)
    data = sio.dumps(fitted)
    # The estimator's class and those of the estimators it holds.
    classes = {_qualified_name(type(e)) for e in _nested_estimators(fitted)}
    assert sio.get_untrusted_types(data=data) == sorted(classes)
    assert sknorm.io.untrusted_types(data) == []


def _comparable_params(estimator):
    """Parameters, an estimator parameter by its class and parameters (a
    loaded one is a new object)."""
    return {
        name: (type(value), _comparable_params(value))
        if isinstance(value, BaseEstimator)
        else value
        for name, value in estimator.get_params(deep=False).items()
    }


@pytest.mark.parametrize(("estimator", "label", "X"), CASES)
def test_loaded_estimator_transforms_bit_for_bit(estimator, label, X):
    fitted = clone(estimator).fit(X)
    loaded = sio.loads(sio.dumps(fitted), trusted=sknorm.io.trusted_types())
    assert type(loaded) is type(fitted)
    assert _comparable_params(loaded) == _comparable_params(fitted)
    Xt = fitted.transform(X)
    _assert_identical(loaded.transform(X), Xt)
    if hasattr(fitted, "inverse_transform"):
        _assert_identical(loaded.inverse_transform(Xt), fitted.inverse_transform(Xt))


@pytest.mark.parametrize(("estimator", "label", "X"), CASES)
def test_partial_fit_continues_after_loading(estimator, label, X):
    if not hasattr(estimator, "partial_fit"):
        pytest.skip("no partial_fit")
    first, second = X[:30], X[30:]
    original = clone(estimator).partial_fit(first)
    loaded = sio.loads(sio.dumps(original), trusted=sknorm.io.trusted_types())
    original.partial_fit(second)
    loaded.partial_fit(second)
    _assert_identical(loaded.transform(X), original.transform(X))
    _assert_same_state(_statistics_states(loaded), _statistics_states(original))
    if any(_statistics_states(original)):
        # The loaded statistics carried the first batch: they are not those of
        # the second batch alone.
        alone = clone(estimator).partial_fit(second)
        with pytest.raises(AssertionError):
            _assert_same_state(_statistics_states(alone), _statistics_states(original))


def _assert_same_state(result, expected):
    """Equal nested dicts, lists and arrays, arrays bit for bit."""
    assert type(result) is type(expected)
    if isinstance(expected, dict):
        assert result.keys() == expected.keys()
        for key in expected:
            _assert_same_state(result[key], expected[key])
    elif isinstance(expected, list | tuple):
        assert len(result) == len(expected)
        for r, e in zip(result, expected, strict=True):
            _assert_same_state(r, e)
    elif isinstance(expected, np.ndarray):
        _assert_identical(result, expected)
    else:
        assert result == expected or (result != result and expected != expected)


def test_pipeline_with_logistic_regression_loads_trusting_sknorm_only(tmp_path):
    X = _data(n_samples=80)
    y = (X[:, 0] > np.median(X[:, 0])).astype(int)
    model = make_pipeline(
        sknorm.RobustScaler(), sknorm.Normalizer(), LogisticRegression()
    ).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    assert sio.get_untrusted_types(file=path) == [
        "sknorm.rows.Normalizer",
        "sknorm.scalers.RobustScaler",
    ]
    assert sknorm.io.untrusted_types(path) == []
    for loaded in (
        sio.load(path, trusted=sknorm.io.trusted_types()),
        sknorm.io.load(path),
        sknorm.io.load(str(path)),
        sknorm.io.load(path.read_bytes()),
        sknorm.io.load(io.BytesIO(path.read_bytes())),
    ):
        _assert_identical(loaded.predict_proba(X), model.predict_proba(X))
        _assert_identical(loaded.decision_function(X), model.decision_function(X))


def _not_sknorm(X):
    return X


def test_load_refuses_other_untrusted_types_naming_them():
    from sklearn.preprocessing import FunctionTransformer
    from skops.io.exceptions import UntrustedTypesFoundException

    X = _data()
    model = make_pipeline(
        FunctionTransformer(_not_sknorm), sknorm.StandardScaler()
    ).fit(X)
    data = sio.dumps(model)
    expected = [f"{__name__}._not_sknorm"]
    assert sknorm.io.untrusted_types(data) == expected
    with pytest.raises(UntrustedTypesFoundException, match="_not_sknorm") as error:
        sknorm.io.load(data)
    assert "sknorm.scalers.StandardScaler" not in str(error.value)
    assert any("trusted_types()" in note for note in error.value.__notes__)
    # Trusted explicitly, the same file loads.
    loaded = sio.loads(data, trusted=sknorm.io.trusted_types() + expected)
    _assert_identical(loaded.transform(X), model.transform(X))
