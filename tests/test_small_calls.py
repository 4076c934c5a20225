"""The shortcuts of small calls: plain float arrays validated without
``validate_data``'s container detection, the affine map kept between calls on
a fitted scaler, parameter names kept per class and valid parameters
remembered. Each must behave exactly as the long way does."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn.preprocessing
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import validate_data

from sknorm import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    RowStandardizer,
    StandardScaler,
    _estimator,
)
from sknorm._validation import _is_float_matrix, check_input

SCALERS = [
    StandardScaler(),
    MinMaxScaler(),
    MaxAbsScaler(),
    RobustScaler(),
    StandardScaler(clip=True),
    MinMaxScaler(feature_range=(-2, 3), clip=True),
]


@pytest.fixture
def X():
    return np.random.default_rng(0).normal(size=(40, 3)) * [1, 10, 100] + 5


@pytest.mark.parametrize(
    "array, plain",
    [
        (np.ones((3, 2)), True),
        (np.ones((3, 2), np.float32), True),
        (np.ones((3, 2)).T, True),  # any memory layout
        (np.ones((3, 2), np.float16), False),
        (np.ones((3, 2), ">f8"), False),
        (np.ones((3, 2), int), False),
        (np.ones(3), False),
        (np.ones((0, 2)), False),
        (np.ones((3, 0)), False),
        (np.ones((3, 2)).view(type("Subclass", (np.ndarray,), {})), False),
        ([[1.0, 2.0]], False),
    ],
)
def test_only_arrays_validation_keeps_take_the_shortcut(array, plain):
    assert _is_float_matrix(array) is plain


def test_read_only_arrays_are_copied_by_validation():
    X = np.ones((3, 2))
    X.flags.writeable = False
    assert not _is_float_matrix(X)
    checked = check_input(StandardScaler(), X, reset=True)
    assert checked.flags.writeable and not np.shares_memory(checked, X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shortcut_returns_what_validate_data_returns(X, dtype):
    X = X.astype(dtype)
    ours, theirs = StandardScaler(), StandardScaler()
    assert check_input(ours, X, reset=True) is X
    expected = validate_data(theirs, X, reset=True, dtype=dtype, copy=False)
    assert expected is X and ours.n_features_in_ == theirs.n_features_in_ == 3
    assert not hasattr(ours, "feature_names_in_")


def test_shortcut_checks_the_feature_count_with_sklearns_message(X):
    ours = StandardScaler().fit(X)
    theirs = sklearn.preprocessing.StandardScaler().fit(X)
    with pytest.raises(ValueError) as expected:
        theirs.transform(X[:, :2])
    with pytest.raises(ValueError) as raised:
        ours.transform(X[:, :2])
    assert str(raised.value) == str(expected.value)


def test_shortcut_forgets_and_warns_about_feature_names(X):
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    scaler = StandardScaler().fit(frame)
    reference = sklearn.preprocessing.StandardScaler().fit(frame)
    with pytest.warns(UserWarning, match="does not have valid feature names") as w:
        scaler.transform(X)
    with pytest.warns(UserWarning) as w_reference:
        reference.transform(X)
    assert str(w[0].message) == str(w_reference[0].message)
    # A fit on an array forgets the names of an earlier fit on a frame.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaler.fit(X)
        scaler.transform(X)
    assert not hasattr(scaler, "feature_names_in_")


@pytest.mark.parametrize("scaler", SCALERS, ids=repr)
def test_kept_map_follows_every_change_of_the_fit(scaler, X):
    Y = np.random.default_rng(1).normal(size=X.shape) * 3 - 7

    def check(previous=None):
        """The kept map gives what a copy of the scaler, which builds its map
        afresh, gives, and (after a change) not the previous result."""
        result = scaler.transform(X)
        assert_array_equal(result, copy.deepcopy(scaler).transform(X))
        inverse = copy.deepcopy(scaler).inverse_transform(X)
        assert_array_equal(scaler.inverse_transform(X), inverse)
        if previous is not None:
            assert not np.array_equal(result, previous)
        return result

    scaler.fit(X)
    first = check()
    assert_array_equal(scaler.fit(X).transform(X), first)
    scaler.fit(Y)
    check(previous=first)
    if not isinstance(scaler, RobustScaler):  # partial_fit after fit: a sketch
        last = scaler.transform(X)
        scaler.partial_fit(X)
        check(previous=last)
    last = scaler.fit(X).transform(X)
    assert_array_equal(last, first)
    names = {"with_mean": False, "feature_range": (1, 4), "with_centering": False}
    for name, value in names.items():
        if name in scaler.get_params():
            scaler.set_params(**{name: value})
            check()


def test_kept_map_follows_fitted_arrays_changed_in_place(X):
    scaler = StandardScaler().fit(X)
    scaler.transform(X)

    def formula():
        return (X - scaler.mean_) / scaler.scale_

    scaler.scale_[0] *= 2  # as a user may edit a fitted scaler
    np.testing.assert_allclose(scaler.transform(X), formula(), rtol=1e-15)
    scaler.mean_ = scaler.mean_ + 1  # or assign a new array
    np.testing.assert_allclose(scaler.transform(X), formula(), rtol=1e-15)


def test_kept_map_is_not_part_of_the_estimator(X):
    import pickle

    from sklearn.base import clone

    scaler = StandardScaler().fit(X)
    scaler.transform(X)
    assert not any("map" in name for name in vars(scaler))
    restored = pickle.loads(pickle.dumps(scaler))
    assert_array_equal(restored.transform(X), scaler.transform(X))
    assert not hasattr(clone(scaler), "mean_")


@pytest.mark.parametrize(
    "estimator",
    [StandardScaler(), MinMaxScaler(), RobustScaler(), Normalizer(), RowStandardizer()],
    ids=repr,
)
def test_parameter_names_are_those_of_the_signature(estimator):
    assert estimator._get_param_names() == BaseEstimator._get_param_names.__func__(
        type(estimator)
    )


def test_remembered_validation_still_rejects_every_invalid_value(X):
    scaler = MinMaxScaler()
    for _ in range(2):
        scaler.fit(X)  # valid, then remembered
        scaler.set_params(copy=1)  # 1 is not True: validated again
        with pytest.raises(InvalidParameterError, match="'copy' parameter"):
            scaler.fit(X)
        scaler.set_params(copy=True, feature_range=(0, "1"))
        with pytest.raises(ValueError, match="feature_range"):
            scaler.fit(X)
        scaler.set_params(feature_range=(0, 1))


def test_mutable_parameter_values_are_validated_on_every_fit(X, monkeypatch):
    calls = []
    original = BaseEstimator._validate_params

    def counting(self):
        calls.append(type(self).__name__)
        return original(self)

    monkeypatch.setattr(BaseEstimator, "_validate_params", counting)
    monkeypatch.setattr(_estimator, "_valid_params", set())  # none remembered
    scaler = RobustScaler()
    scaler.fit(X)
    scaler.fit(X)
    assert calls == ["RobustScaler"]  # immutable values: validated once
    scaler.set_params(quantile_range=[25.0, 75.0])  # a list: never remembered
    with pytest.raises(InvalidParameterError):
        scaler.fit(X)
    with pytest.raises(InvalidParameterError):
        scaler.fit(X)
    assert len(calls) == 3
