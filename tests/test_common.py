"""Every public sknorm estimator through scikit-learn's checks and our own.

Estimators are discovered from ``sknorm.__all__``, so a new estimator is tested
as soon as it is exported. scikit-learn's ``parametrize_with_checks`` runs with
two kinds of expected failure, decided by what an estimator declares
(:func:`expected_failed_checks`): weighted quantiles are scale-free by design,
so they cannot equal repeated rows exactly; and the stateless row normalizers
(``requires_fit=False``) transform data of any array namespace, whatever
``fit`` saw, so they do not raise in ``check_array_api_same_namespace``.
Every estimator is tagged ``array_api_support``, so ``parametrize_with_checks``
runs scikit-learn's array API checks (``check_array_api_input`` for numpy,
array-api-strict and torch on the CPU; CuPy and GPU devices skip when absent);
they need ``SCIPY_ARRAY_API=1``, which ``tests/conftest.py`` sets before scipy
is imported.

scikit-learn leaves some checks out of ``parametrize_with_checks``
(parameter validation, ``set_output``, feature names); they run here separately,
followed by sknorm's own common checks for what scikit-learn's do not catch.
Those adapt to what an estimator declares, never to its name:

* estimators without ``OneToOneFeatureMixin`` (projections) may return dense
  output for sparse input, compared with the dense result;
* estimators tagged ``allow_nan=False`` must reject NaN naming the features;
* estimators whose tags preserve no float dtype (quantizers) skip the exact
  inverse round trip and the float32 check;
* the ``copy`` checks apply to estimators with a ``copy`` parameter.
"""

import inspect
import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse
from sklearn import config_context, get_config
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_global_set_output_transform_polars,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

import sknorm
from sknorm.stats import MedianAbsoluteDeviation, Quantiles

from .conftest import SKLEARN_VERSION, SPARSE_CONTAINERS

# Parameter settings worth running through every check besides the defaults.
VARIANTS = {
    "StandardScaler": [{"with_mean": False}, {"clip": True}, {"ddof": 1}],
    "MinMaxScaler": [{"feature_range": (-1, 2), "clip": True}],
    "MaxAbsScaler": [{"clip": True}],
    "RobustScaler": [
        {"with_centering": False},
        {"unit_variance": True},
        {"spread": "mad", "with_centering": False},
        {"spread": "mad", "unit_variance": True, "clip": True},
    ],
    "SquashingScaler": [{"max_absolute_value": 1.0, "quantile_range": (10.0, 90.0)}],
    "PowerTransformer": [{"standardize": False}],
    "EmbeddingNormalizer": [
        {"n_remove": 1},
        {"n_components": 2},
        {"whiten": "pca", "n_components": 2},
        {"whiten": "zca", "norm": None},
        {"whiten": "zca", "norm": None, "center": False},
        {"whiten": "zca", "shrinkage": 0.1, "power": -0.25, "truncate_dim": 2},
        {"input_norm": None},
        {"input_norm": None, "whiten": "zca", "shrinkage": "auto", "n_remove": 1},
        {"whiten": "zca", "norm": None, "shrinkage": "auto"},
    ],
    "EmbeddingQuantizer": [
        {"dtype": "uint8"},
        {"dtype": "binary"},
        {"dtype": "binary", "center": None},
    ],
    "Normalizer": [
        {"norm": "l1"},
        {"norm": "max"},
        {"norm": 3.0, "eps": 1e-12},
        {"groups": [slice(0, 1), slice(1, None)], "weights": [1.0, 3.0]},
    ],
    "GroupedScaler": [
        {"keep_group_column": True},
        {"scaler": sknorm.MaxAbsScaler(), "min_group_size": 1},
        {"scaler": sknorm.RobustScaler(with_centering=False)},
    ],
    "RowStandardizer": [
        {"method": "rms"},
        {"with_mean": False},
        {"with_std": False},
        {"eps": 1e-5, "groups": [slice(0, None, 2), slice(1, None, 2)]},
    ],
}


def public_estimator_classes():
    classes = []
    for name in sknorm.__all__:
        obj = getattr(sknorm, name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            classes.append(obj)
    return classes


def estimator_instances():
    instances = []
    for cls in public_estimator_classes():
        instances.append(cls())
        instances.extend(cls(**params) for params in VARIANTS.get(cls.__name__, []))
    return instances


ESTIMATORS = estimator_instances()


def _id(estimator):
    params = estimator.get_params(deep=False)
    defaults = type(estimator)().get_params(deep=False)
    changed = {k: v for k, v in params.items() if repr(v) != repr(defaults[k])}
    return type(estimator).__name__ + (
        "(" + ",".join(f"{k}={v!r}" for k, v in changed.items()) + ")"
        if changed
        else ""
    )


def test_estimators_are_discovered():
    names = {cls.__name__ for cls in public_estimator_classes()}
    assert {"StandardScaler", "MinMaxScaler", "MaxAbsScaler"} <= names


#: Why estimators that learn weighted quantiles fail scikit-learn's
#: repeated-rows check (docs/differences.rst, "Weighted quantiles").
RELATIVE_WEIGHTS = (
    "weighted quantiles depend on the relative weights only (rescaled to mean 1 "
    "over the rows of positive weight): no interpolating quantile can both be "
    "scale-free and equal repeated rows for weights [1, 1] and [2, 2] alike; "
    "ranks differ from the repeated rows' by less than one row"
)

SPARSE_TAG_IGNORED = (
    "scikit-learn < 1.7 runs this check on sparse data whatever the estimator's "
    "input_tags.sparse says and tolerates only a TypeError; with these "
    "parameters sparse input is refused with a ValueError, as scikit-learn's "
    "StandardScaler(with_mean=True) does"
)


def _refuses_sparse_with_value_error(estimator):
    X = sparse.csr_array(np.random.default_rng(0).normal(size=(20, 5)))
    try:
        clone(estimator).fit(X)
    except ValueError:
        return True
    except TypeError:
        return False
    return False


#: Why the stateless row normalizers pass check_array_api_same_namespace's
#: data through (docs/deploying.rst, "Array API").
STATELESS_NAMESPACE = (
    "stateless (requires_fit=False): no fitted array ties the estimator to a "
    "namespace, and transform works without fit, on data of any namespace"
)


#: Why a per-group scaler with a minimum group size fails scikit-learn's
#: repeated-rows check (sknorm.GroupedScaler, min_group_size).
ROWS_NOT_WEIGHTS = (
    "min_group_size counts rows, not weights: a row of weight 2 is a group of "
    "one row (scaled by the statistics of all groups), the row repeated is a "
    "group of two (scaled by its own)"
)


#: Why an estimator with a group column fails checks that put NaN or an
#: object into the first column, its group column by default.
GROUP_COLUMN_VALUES = (
    "the check puts NaN or a dict into column 0, the group column: every row "
    "needs a group value (a string or a number), so GroupedScaler rejects "
    "the input with its own error by design"
)


def expected_failed_checks(estimator):
    """scikit-learn checks an estimator fails by design, with the reason.

    Decided by the statistics and tags an estimator declares, not by its name.
    """
    specs = (
        estimator._statistic_types() if hasattr(estimator, "_statistic_types") else ()
    )
    learned = {spec[0] if isinstance(spec, tuple) else spec for spec in specs}
    expected = {}
    if SKLEARN_VERSION < (1, 7) and _refuses_sparse_with_value_error(estimator):
        expected["check_sample_weight_equivalence_on_sparse_data"] = SPARSE_TAG_IGNORED
    if learned & {Quantiles, MedianAbsoluteDeviation}:
        expected["check_sample_weight_equivalence_on_dense_data"] = RELATIVE_WEIGHTS
        expected["check_sample_weight_equivalence_on_sparse_data"] = RELATIVE_WEIGHTS
    if not get_tags(estimator).requires_fit:
        expected["check_array_api_same_namespace"] = STATELESS_NAMESPACE
    if estimator.get_params().get("min_group_size", 1) > 1:
        expected["check_sample_weight_equivalence_on_dense_data"] = ROWS_NOT_WEIGHTS
        expected["check_sample_weight_equivalence_on_sparse_data"] = ROWS_NOT_WEIGHTS
    if "group_column" in estimator.get_params():
        for check in (
            "check_dtype_object",
            "check_estimators_pickle",
            "check_estimators_pickle(readonly_memmap=True)",
        ):
            expected[check] = GROUP_COLUMN_VALUES
    return expected


def _parametrize_with_checks(estimators, **kwargs):
    """``parametrize_with_checks`` with its cases in a list.

    scikit-learn < 1.7 hands pytest a generator, which pytest >= 9.2 deprecates
    (an error under this repository's filters); the cases are the same.
    """
    mark = parametrize_with_checks(estimators, **kwargs)
    argnames, argvalues = mark.args
    return pytest.mark.parametrize(argnames, list(argvalues), **mark.kwargs)


@_parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


EXTRA_SKLEARN_CHECKS = [
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_set_output_transform_polars,
    check_global_set_output_transform_polars,
    check_dataframe_column_names_consistency,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
]


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("check", EXTRA_SKLEARN_CHECKS, ids=lambda c: c.__name__)
def test_checks_left_out_by_parametrize_with_checks(estimator, check):
    if check.__name__.endswith("polars"):
        pytest.importorskip("polars")
    check(type(estimator).__name__, clone(estimator))


# --------------------------------------------------------------------------
# sknorm's own common checks
# --------------------------------------------------------------------------


def _data(n_samples=60, n_features=5, seed=0, dtype=np.float64):
    """Features of different location and spread, every column holding a zero."""
    rng = np.random.default_rng(seed)
    X = rng.lognormal(size=(n_samples, n_features)) * np.arange(1, n_features + 1)
    X += np.linspace(0, 40, n_features)
    X[rng.random((n_samples, n_features)) < 0.3] = 0.0
    X[0] = 0.0
    return X.astype(dtype)


def _has(estimator, method):
    return hasattr(estimator, method)


def _outputs_floats(estimator):
    """Transformers that do not keep the float dtype return codes (quantizers):
    their inverse_transform is lossy by design."""
    return bool(get_tags(estimator).transformer_tags.preserves_dtype)


def _with_copy(estimator, copy):
    """A clone with ``copy`` set, for estimators that have the parameter."""
    estimator = clone(estimator)
    if "copy" in estimator.get_params():
        estimator.set_params(copy=copy)
    return estimator


def _fit_accepts_sample_weight(estimator):
    return "sample_weight" in inspect.signature(estimator.fit).parameters


def _scales_features_one_by_one(estimator):
    """Whether each output feature is one input feature scaled: one-to-one
    estimators, and per-group scalers (which drop or pass through their
    group column); projections mix features."""
    return isinstance(estimator, OneToOneFeatureMixin) or (
        "group_column" in estimator.get_params()
    )


def _dense(X):
    return X.toarray() if sparse.issparse(X) else np.asarray(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_transform_before_fit_raises_not_fitted(estimator):
    if not get_tags(estimator).requires_fit:
        pytest.skip("stateless estimator: transform needs no fit")
    with pytest.raises(NotFittedError):
        clone(estimator).transform(_data())


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_constant_features_never_give_nan_or_inf(estimator):
    rng = np.random.default_rng(1)
    n = 50
    X = np.column_stack(
        [
            np.zeros(n),
            np.full(n, 5.0),
            np.full(n, 1e9),
            np.full(n, -7.25),
            np.full(n, 3e-300),
            np.full(n, 0.1),
            rng.normal(size=n),
        ]
    )
    X_new = X + rng.normal(scale=0.5, size=X.shape)
    fitted = clone(estimator).fit(X)
    assert np.isfinite(_dense(fitted.transform(X))).all()
    assert np.isfinite(_dense(fitted.transform(X_new))).all()
    if hasattr(fitted, "scale_") and fitted.scale_ is not None:
        assert np.isfinite(fitted.scale_).all()


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_refit_forgets_previous_fit(estimator):
    X1, X2 = _data(seed=1), _data(n_samples=40, seed=2) * 3 + 1
    refitted = clone(estimator).fit(X1).fit(X2)
    fresh = clone(estimator).fit(X2)
    np.testing.assert_array_equal(refitted.transform(X2), fresh.transform(X2))
    if _has(estimator, "partial_fit"):
        # fit after partial_fit forgets the streamed data too.
        streamed = clone(estimator).partial_fit(X1).fit(X2)
        np.testing.assert_array_equal(streamed.transform(X2), fresh.transform(X2))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_refused_fit_keeps_the_fitted_state(estimator):
    """A fit that raises on bad input leaves the estimator as it was (as
    scikit-learn's, which validate before they learn), not half-reset."""
    X = _data()
    fitted = clone(estimator).fit(X)
    expected = _dense(fitted.transform(X))
    state = sorted(vars(fitted))
    bad = X.astype(object)
    bad[2, 1] = "city"  # refused by validation
    refused = [bad]
    if not getattr(estimator, "_maps_infinity", False):
        infinite = _data()
        infinite[4, 3] = np.inf  # refused once the statistics are computed
        refused.append(infinite)
    methods = ["fit", "partial_fit"] if _has(estimator, "partial_fit") else ["fit"]
    for X_bad in refused:
        for method in methods:
            with pytest.raises(ValueError):
                getattr(fitted, method)(X_bad)
            assert sorted(vars(fitted)) == state
            np.testing.assert_array_equal(_dense(fitted.transform(X)), expected)


def _recoverable(estimator, X):
    """What ``inverse_transform`` recovers of X: X itself, or the directions
    of its rows where the estimator L2-normalizes its input rows first
    (EmbeddingNormalizer's ``input_norm``), by scikit-learn's normalize."""
    if getattr(estimator, "input_norm", None) == "l2":
        from sklearn.preprocessing import normalize as sklearn_normalize

        return sklearn_normalize(np.asarray(X, dtype=np.float64))
    return X


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inverse_transform_round_trip(estimator, dtype):
    if not _has(estimator, "inverse_transform"):
        pytest.skip("no inverse_transform")
    if not _outputs_floats(estimator):
        pytest.skip("quantized output: the round trip is lossy by design")
    X = _data(dtype=dtype)
    fitted = clone(estimator).fit(X)
    X_back = fitted.inverse_transform(fitted.transform(X))
    assert X_back.dtype == dtype
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    target = _recoverable(estimator, X)
    np.testing.assert_allclose(
        X_back, target, rtol=rtol, atol=rtol * np.abs(target).max()
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_partial_fit_over_chunks_equals_fit(estimator):
    if not _has(estimator, "partial_fit"):
        pytest.skip("no partial_fit")
    X = _data(n_samples=90)
    if get_tags(estimator).input_tags.allow_nan:
        X[5, 1] = np.nan
    streamed = clone(estimator)
    for chunk in np.array_split(X, [7, 40, 41]):
        streamed.partial_fit(chunk)
    fitted = clone(estimator).fit(X)
    np.testing.assert_allclose(
        streamed.transform(X), fitted.transform(X), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_integer_sample_weight_equals_repeated_rows(estimator):
    if not _fit_accepts_sample_weight(estimator):
        pytest.skip("fit takes no sample_weight")
    X = _data()
    weight = np.random.default_rng(3).integers(0, 4, size=X.shape[0])
    weight[1] = 2
    reasons = set(expected_failed_checks(estimator).values())
    if reasons & {RELATIVE_WEIGHTS, ROWS_NOT_WEIGHTS}:
        # Weighted quantiles are scale-free: equal weights equal the rows kept
        # (see RELATIVE_WEIGHTS), and a group's size counts rows; zero still
        # removes a row. (Not for every expected failure: ddof > 0 makes
        # weights frequency weights, equal to repeated rows.)
        weight = 2 * (weight > 0)
        repeated = clone(estimator).fit(X[weight > 0])
    else:
        repeated = clone(estimator).fit(np.repeat(X, weight, axis=0))
    weighted = clone(estimator).fit(X, sample_weight=weight)
    np.testing.assert_allclose(
        weighted.transform(X), repeated.transform(X), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "partial_fit_after"])
@pytest.mark.parametrize("fmt", [None, "csr"])
def test_all_zero_sample_weight_is_rejected(estimator, method, fmt):
    """As scikit-learn >= 1.9 does (its StandardScaler is the reference): a fit
    on no weight has no statistics. sknorm rejects it on every version."""
    if not _fit_accepts_sample_weight(estimator):
        pytest.skip("fit takes no sample_weight")
    if method != "fit" and not _has(estimator, "partial_fit"):
        pytest.skip("no partial_fit")
    X = _data()
    if fmt is not None:
        if not get_tags(estimator).input_tags.sparse:
            pytest.skip("no sparse input with these parameters")
        X = sparse.csr_array(X)
    zeros = np.zeros(X.shape[0])
    message = "Sample weights must contain at least one non-zero number."
    if SKLEARN_VERSION >= (1, 9):  # earlier versions accept all-zero weights
        with pytest.raises(ValueError, match="at least one non-zero") as reference:
            from sklearn.preprocessing import StandardScaler as SklearnScaler

            SklearnScaler(with_mean=fmt is None).fit(X, sample_weight=zeros)
        assert str(reference.value) == message
    fitted = clone(estimator)
    if method == "partial_fit_after":
        fitted.partial_fit(X)  # a batch of zero weight after data
    fit = fitted.fit if method == "fit" else fitted.partial_fit
    with pytest.raises(ValueError, match=re.escape(message)):
        fit(X, sample_weight=zeros)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_dense_equals_sparse(estimator, fmt):
    if not get_tags(estimator).input_tags.sparse:
        pytest.skip("estimator does not take sparse input with these parameters")
    X = _data()
    X_sparse = sparse.csr_array(X).asformat(fmt)
    from_dense = clone(estimator).fit(X)
    from_sparse = clone(estimator).fit(X_sparse)
    if not _scales_features_one_by_one(estimator):
        # Estimators that mix features (projections) return dense arrays.
        result = from_sparse.transform(X_sparse)
        assert isinstance(result, np.ndarray)
        np.testing.assert_allclose(
            result, from_dense.transform(X), rtol=1e-10, atol=1e-12
        )
        if _has(estimator, "inverse_transform"):
            back = from_sparse.inverse_transform(result)
            target = _recoverable(estimator, X)
            np.testing.assert_allclose(
                back, target, rtol=1e-10, atol=1e-10 * np.abs(target).max()
            )
        return
    if np.any(from_dense.transform(np.zeros((1, X.shape[1])))):
        # The fitted map moves zeros: the result would be dense, so sknorm refuses.
        with pytest.raises(ValueError, match="making the result dense"):
            from_sparse.transform(X_sparse)
        return
    result = from_sparse.transform(X_sparse)
    assert sparse.issparse(result) and result.format == fmt
    np.testing.assert_allclose(
        result.toarray(), from_dense.transform(X), rtol=1e-12, atol=1e-14
    )
    if _has(estimator, "inverse_transform"):
        back = from_sparse.inverse_transform(result)
        assert sparse.issparse(back) and back.format == fmt
        np.testing.assert_allclose(back.toarray(), X, rtol=1e-12)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_float32_in_float32_out(estimator):
    if "float32" not in get_tags(estimator).transformer_tags.preserves_dtype:
        pytest.skip("output dtype is not the input's (quantized codes)")
    X64 = _data()
    X32 = X64.astype(np.float32)
    fitted = clone(estimator).fit(X32)
    result = fitted.transform(X32)
    assert result.dtype == np.float32
    reference = clone(estimator).fit(X32.astype(np.float64)).transform(X32)
    np.testing.assert_allclose(result, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_nan_ignored_in_fit_and_kept_in_transform(estimator):
    X = _data()
    X_nan = X.copy()
    holes = np.zeros_like(X, dtype=bool)
    holes[[3, 10, 11], [0, 2, 4]] = True
    X_nan[holes] = np.nan
    if "group_column" in estimator.get_params():
        # Every row needs a group: NaN in the group column is rejected.
        with pytest.raises(ValueError, match=r"group column .* missing values"):
            clone(estimator).fit(X_nan)
        group = estimator.get_params()["group_column"]
        X_nan[:, group] = X[:, group]
        holes[:, group] = False
        if not estimator.get_params()["keep_group_column"]:
            holes = np.delete(holes, group, axis=1)  # not in the output
    if not get_tags(estimator).input_tags.allow_nan:
        # Estimators that mix the features of a row need complete rows.
        with pytest.raises(ValueError, match=r"NaN in feature\(s\) 0, 2, 4"):
            clone(estimator).fit(X_nan)
        fitted = clone(estimator).fit(X)
        with pytest.raises(ValueError, match=r"NaN in feature\(s\) 0, 2, 4"):
            fitted.transform(X_nan)
        return
    result = clone(estimator).fit(X_nan).transform(X_nan)
    assert np.isnan(result[holes]).all()
    assert np.isfinite(result[~holes]).all()


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_copy_true_leaves_input_untouched(estimator):
    X = _data()
    original = X.copy()
    fitted = _with_copy(estimator, True).fit(X)
    Xt = fitted.transform(X)
    np.testing.assert_array_equal(X, original)
    if _has(fitted, "inverse_transform"):
        Xt_original = Xt.copy()
        fitted.inverse_transform(Xt)
        np.testing.assert_array_equal(Xt, Xt_original)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_copy_true_leaves_dataframe_untouched(estimator):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_data(), columns=[f"f{i}" for i in range(5)])
    view = df[["f0", "f1", "f2", "f3", "f4"]]
    original = df.copy()
    _with_copy(estimator, True).fit(view).transform(view)
    pd.testing.assert_frame_equal(df, original)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_copy_false_transforms_float_arrays_in_place(estimator):
    if "copy" not in estimator.get_params():
        pytest.skip("no copy parameter: transform never writes into its input")
    X = _data()
    fitted = clone(estimator).set_params(copy=False).fit(X)
    expected = clone(estimator).fit(X).transform(X)
    result = fitted.transform(X)
    np.testing.assert_allclose(result, expected, rtol=1e-12)
    if result.shape == X.shape:
        assert np.shares_memory(result, X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_infinity_rejected_naming_the_feature(estimator):
    if getattr(estimator, "_maps_infinity", False):
        pytest.skip("maps +/-inf by design (tested in the estimator's own tests)")
    X = _data()
    X[4, 3] = np.inf
    with pytest.raises(ValueError, match="infinity in feature"):
        clone(estimator).fit(X)
    fitted = clone(estimator).fit(_data())
    with pytest.raises(ValueError, match=r"feature\(s\) 3"):
        fitted.transform(X)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_non_numeric_column_rejected_naming_it(estimator):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_data(n_samples=6, n_features=2), columns=["a", "b"])
    df["city"] = ["x", "y", "z", "x", "y", "z"]
    with pytest.raises(ValueError, match="'city'"):
        clone(estimator).fit(df)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_wrong_number_of_features_rejected(estimator):
    fitted = clone(estimator).fit(_data(n_features=5))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(_data(n_features=4))
    if _has(fitted, "inverse_transform"):
        with pytest.raises(ValueError, match="features"):
            fitted.inverse_transform(_data(n_features=4))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_inverse_transform_honours_set_output(estimator):
    pd = pytest.importorskip("pandas")
    if not _has(estimator, "inverse_transform"):
        pytest.skip("no inverse_transform")
    df = pd.DataFrame(_data(), columns=[f"f{i}" for i in range(5)])
    fitted = clone(estimator).set_output(transform="pandas").fit(df)
    back = fitted.inverse_transform(fitted.transform(df))
    assert isinstance(back, pd.DataFrame)
    assert list(back.columns) == list(df.columns)
    if not _outputs_floats(estimator):
        return  # quantized: the values are checked by the estimator's own tests
    target = _recoverable(estimator, df.to_numpy())
    np.testing.assert_allclose(
        back.to_numpy(), target, rtol=1e-12, atol=1e-12 * np.abs(target).max()
    )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_inverse_transform_takes_arrays_after_a_dataframe_fit(estimator):
    """inverse_transform's input is in the output's coordinates: an array is
    not warned about for lacking the names of a DataFrame fit (scikit-learn
    #31947); its feature count is still checked."""
    pd = pytest.importorskip("pandas")
    if not _has(estimator, "inverse_transform"):
        pytest.skip("no inverse_transform")
    df = pd.DataFrame(_data(), columns=[f"f{i}" for i in range(5)])
    fitted = clone(estimator).fit(df)
    Xt = _dense(fitted.transform(df))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.inverse_transform(Xt)
    with pytest.raises(ValueError, match="features"):
        fitted.inverse_transform(Xt[:, :-1])


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_pickle_round_trip_keeps_results(estimator):
    X = _data()
    fitted = clone(estimator).fit(X)
    loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


#: Types a fitted estimator's learned state may be built of: what pickle-free
#: formats (skops) store without custom types, and `to_state` of the statistics
#: produces. numpy arrays must hold numbers, booleans or strings.
_PLAIN_SCALARS = (bool, int, float, str, type(None), np.bool_, np.integer, np.floating)


def _assert_plain(value, where):
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), f"{where}: key {key!r} is not a str"
            _assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _assert_plain(item, f"{where}[{i}]")
    elif isinstance(value, BaseEstimator):
        # A meta-estimator's fitted estimators: their learned state likewise.
        params = value.get_params(deep=False)
        for name, item in vars(value).items():
            if name not in params:
                _assert_plain(item, f"{where}.{name}")
    elif isinstance(value, np.ndarray):
        if value.dtype == object:  # feature_names_in_: strings only
            assert all(isinstance(v, str) for v in value.ravel()), where
        else:
            assert value.dtype.kind in "biufcU", f"{where}: dtype {value.dtype}"
    else:
        assert type(value) in _PLAIN_SCALARS or isinstance(value, _PLAIN_SCALARS), (
            f"{where} is a {type(value).__name__}, not plain data"
        )


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_learned_state_is_plain_data(estimator):
    """Everything fit stores (public attributes, private caches, the
    statistics' state) is numbers, strings, arrays and containers of them: no
    functions, dtype objects, slices or statistic objects, so that the estimator
    saves without custom types (sknorm.io)."""
    pd = pytest.importorskip("pandas")
    X = _data()
    fits = [lambda e: e.fit(X), lambda e: e.fit(pd.DataFrame(X).add_prefix("f"))]
    if get_tags(estimator).input_tags.sparse:
        fits.append(lambda e: e.fit(sparse.csr_array(X)))
    if _has(estimator, "partial_fit"):
        fits.append(lambda e: e.partial_fit(X[:20]).partial_fit(X[20:]))
    if _fit_accepts_sample_weight(estimator):
        fits.append(lambda e: e.fit(X, sample_weight=np.arange(len(X)) % 3))
    for fit in fits:
        fitted = fit(clone(estimator))
        params = fitted.get_params(deep=False)
        learned = {k: v for k, v in vars(fitted).items() if k not in params}
        assert learned, "fit stored nothing"
        for name, value in learned.items():
            _assert_plain(value, name)


_DOCS = Path(__file__).resolve().parent.parent / "docs"


def _api_pages():
    """Names of the API pages the docs build generates, from the autosummary
    lists of ``docs/api.rst``: ``<currentmodule>.<name>`` for every entry of an
    autosummary with ``:toctree: generated/``."""
    api = _DOCS / "api.rst"
    if not api.exists():
        pytest.skip("docs/api.rst is not in this checkout")
    pages, module, in_toctree = set(), None, False
    for line in api.read_text().splitlines():
        if match := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = match[1]
        elif line.startswith(".. autosummary::"):
            in_toctree = False
        elif line.strip() == ":toctree: generated/":
            in_toctree = True
        elif in_toctree and re.fullmatch(r"   \w+", line):
            pages.add(f"{module}.{line.strip()}")
        elif line and not line.startswith(" "):
            in_toctree = False
    return pages


@pytest.mark.parametrize("cls", public_estimator_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    ("version", "docs_version"),
    [("0.1.0", "stable"), ("1.2.3", "stable"), ("0.2.0.dev0", "latest")],
)
def test_html_repr_links_to_the_generated_api_page(
    cls, version, docs_version, monkeypatch
):
    """scikit-learn's HTML repr links the estimator to its API page: the page
    docs/api.rst generates, on Read the Docs, of the installed version."""
    monkeypatch.setattr(sknorm, "__version__", version)
    estimator = cls()
    page = f"sknorm.{cls.__name__}"
    link = estimator._get_doc_link()
    assert link == (
        f"https://sknorm.readthedocs.io/en/{docs_version}/generated/{page}.html"
    )
    assert page in _api_pages()
    built = _DOCS / "generated"
    if built.is_dir():  # the docs were built in this checkout
        assert (built / f"{page}.rst").exists()
    assert f'href="{link}"' in estimator._repr_html_()


#: scikit-learn's ``sparse_interface`` values (scikit-learn >= 1.9); None runs
#: once without the setting on older versions.
SPARSE_INTERFACES = (
    ["spmatrix", "sparray"] if "sparse_interface" in get_config() else [None]
)


def _sparse_interface(value):
    return config_context(sparse_interface=value) if value else config_context()


def _keeps_sparse_output(estimator, X):
    """Whether the estimator fitted on X returns sparse output for sparse
    input: it takes sparse input, keeps features one to one (projections
    return dense arrays) and its fitted map keeps zeros zero (else sknorm
    refuses, see test_dense_equals_sparse)."""
    if not get_tags(estimator).input_tags.sparse:
        return False
    if not _scales_features_one_by_one(estimator):
        return False
    zeros = np.zeros((1, X.shape[1]))
    return not np.any(clone(estimator).fit(X).transform(zeros))


def _sparse_outputs(estimator, X):
    """Every sparse output of the estimator for sparse X: fit_transform,
    transform (after fit and partial_fit) and inverse_transform."""
    fitted = clone(estimator).fit(X)
    outputs = {
        "fit_transform": clone(estimator).fit_transform(X),
        "transform": fitted.transform(X),
    }
    if _has(estimator, "partial_fit"):
        outputs["partial_fit+transform"] = clone(estimator).partial_fit(X).transform(X)
    if _has(estimator, "inverse_transform"):
        outputs["inverse_transform"] = fitted.inverse_transform(outputs["transform"])
    return outputs


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
@pytest.mark.parametrize("container", SPARSE_CONTAINERS, ids=lambda c: c.__name__)
def test_sparse_input_keeps_its_container(estimator, container):
    """A CSR/CSC matrix or array comes back as the same container from every
    method, whatever ``sparse_interface`` says: scikit-learn's scalers keep
    their input's container too (tests/test_validation.py compares them)."""
    X = _data()
    if not _keeps_sparse_output(estimator, X):
        pytest.skip("no sparse output for sparse input with these parameters")
    X_sparse = container(X)
    for interface in SPARSE_INTERFACES:
        with _sparse_interface(interface):
            for method, result in _sparse_outputs(estimator, X_sparse).items():
                assert type(result) is container, (interface, method)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_id)
def test_sparse_dataframe_output_follows_sparse_interface(estimator):
    """A DataFrame of pandas sparse columns is converted to sparse by
    validation: sknorm builds that container, so it follows scikit-learn's
    ``sparse_interface`` (CSR matrix before scikit-learn 1.9)."""
    pd = pytest.importorskip("pandas")
    X = _data()
    if not _keeps_sparse_output(estimator, X):
        pytest.skip("no sparse output for sparse input with these parameters")
    frame = pd.DataFrame.sparse.from_spmatrix(sparse.csr_matrix(X))
    for interface in SPARSE_INTERFACES:
        expected = sparse.csr_array if interface == "sparray" else sparse.csr_matrix
        with _sparse_interface(interface):
            for method, result in _sparse_outputs(estimator, frame).items():
                assert type(result) is expected, (interface, method)
