"""The shared input policy, exercised through the scalers."""

from contextlib import nullcontext

import numpy as np
import pytest
from scipy import sparse
from sklearn import config_context, get_config
from sklearn import preprocessing as sklearn_preprocessing
from sklearn.base import clone

from sknorm import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    StandardScaler,
    maxabs_scale,
    minmax_scale,
    normalize,
    robust_scale,
    scale,
)

from .conftest import SPARSE_CONTAINERS


def _frame(df_module, data, columns):
    if df_module.__name__ == "pandas":
        return df_module.DataFrame(data, columns=columns)
    return df_module.DataFrame(data, schema=columns, orient="row")


def test_dataframe_names_kept_and_set_output(df_module):
    X = _frame(df_module, [[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]], ["a", "b"])
    scaler = StandardScaler().set_output(transform=df_module.__name__).fit(X)
    np.testing.assert_array_equal(scaler.feature_names_in_, ["a", "b"])
    result = scaler.transform(X)
    assert isinstance(result, df_module.DataFrame)
    assert list(result.columns) == ["a", "b"]
    back = scaler.inverse_transform(result)
    assert isinstance(back, df_module.DataFrame)
    np.testing.assert_allclose(np.asarray(back), np.asarray(X))


def test_infinity_error_names_the_dataframe_column(df_module):
    X = _frame(df_module, [[1.0, 10.0], [2.0, np.inf]], ["height", "weight"])
    with pytest.raises(ValueError, match="infinity in feature\\(s\\) 'weight'"):
        StandardScaler().fit(X)


def test_non_numeric_columns_are_named(df_module):
    X = _frame(df_module, [[1.0, "x"], [2.0, "y"]], ["size", "colour"])
    with pytest.raises(ValueError, match="'colour' are not numeric"):
        MinMaxScaler().fit(X)


def test_wrong_feature_names_at_transform(df_module):
    scaler = StandardScaler().fit(
        _frame(df_module, [[1.0, 2.0], [3.0, 5.0]], ["a", "b"])
    )
    with pytest.raises(ValueError, match="feature names"):
        scaler.transform(_frame(df_module, [[1.0, 2.0]], ["a", "c"]))
    with pytest.raises(ValueError, match="feature names"):
        scaler.inverse_transform(_frame(df_module, [[1.0, 2.0]], ["b", "a"]))


def test_pandas_nullable_dtypes_read_as_nan():
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(
        {
            "a": pd.array([1, None, 3], dtype="Int64"),
            "b": pd.array([1.5, 2.5, None], dtype="Float64"),
            "c": pd.array([True, False, None], dtype="boolean"),
        }
    )
    result = StandardScaler().fit_transform(X)
    np.testing.assert_array_equal(np.isnan(result), X.isna().to_numpy())
    np.testing.assert_allclose(result[[0, 2], 0], [-1.0, 1.0])


def test_pandas_copy_on_write_view_untouched():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 7.0]})
    view = df[["a", "b"]]
    for copy in (True, False):
        scaler = StandardScaler(copy=copy).fit(view)
        scaler.inverse_transform(scaler.transform(view))
        np.testing.assert_array_equal(df.to_numpy(), [[1, 4], [2, 5], [3, 7]])
        np.testing.assert_array_equal(view.to_numpy(), [[1, 4], [2, 5], [3, 7]])


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float64, np.float64),
        (np.float32, np.float32),
        (np.float16, np.float16),
        (np.int64, np.float64),
        (np.int8, np.float64),
        (bool, np.float64),
    ],
)
def test_dtype_policy(dtype, expected):
    X = np.array([[0, 1], [1, 0], [1, 1]]).astype(dtype)
    assert StandardScaler().fit_transform(X).dtype == expected


@pytest.mark.parametrize("fmt", ["coo", "lil", "dok", "bsr", "dia"])
def test_other_sparse_formats_are_converted(fmt):
    X = sparse.random(20, 4, density=0.4, random_state=0, format="csr")
    result = MaxAbsScaler().fit_transform(X.asformat(fmt))
    assert sparse.issparse(result) and result.format in ("csr", "csc")
    np.testing.assert_allclose(
        result.toarray(), MaxAbsScaler().fit_transform(X.toarray())
    )


def test_sparse_with_duplicate_entries_is_summed_not_corrupted():
    X = sparse.coo_array(([1.0, 2.0, -5.0], ([0, 0, 1], [0, 0, 0])), shape=(3, 1))
    scaler = MaxAbsScaler().fit(X)
    assert scaler.max_abs_[0] == 5.0
    X_csr = sparse.csr_array(
        (np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2, 2])), shape=(2, 1)
    )
    assert not X_csr.has_canonical_format
    assert MaxAbsScaler().fit(X_csr).max_abs_[0] == 3.0
    assert X_csr.nnz == 2  # the caller's matrix is left as it was


def test_empty_input_is_rejected():
    with pytest.raises(ValueError, match="0 sample"):
        StandardScaler().fit(np.empty((0, 3)))
    with pytest.raises(ValueError, match="0 feature"):
        StandardScaler().fit(np.empty((3, 0)))


def test_one_dimensional_input_is_rejected_with_advice():
    with pytest.raises(ValueError, match="reshape"):
        StandardScaler().fit(np.arange(3.0))


def test_negative_sample_weight_is_rejected():
    with pytest.raises(ValueError, match="Negative values in data passed to"):
        StandardScaler().fit(np.ones((3, 1)), sample_weight=[1.0, -1.0, 1.0])


def test_sparse_infinity_names_feature():
    X = sparse.csc_array(np.array([[0.0, 1.0], [np.inf, 0.0], [0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"feature\(s\) 0\."):
        MaxAbsScaler().fit(X)


def test_partial_fit_checks_feature_count():
    scaler = StandardScaler().partial_fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match="features"):
        scaler.partial_fit(np.ones((3, 3)))


@pytest.mark.parametrize("fmt", [None, "csr", "csc"])
def test_nan_rejected_naming_features_when_not_allowed(fmt):
    from sknorm._validation import check_input

    X = np.ones((4, 5))
    X[1, 3] = np.nan
    X[2, 0] = np.nan
    if fmt is not None:
        X = sparse.csr_array(X).asformat(fmt)
    assert check_input(StandardScaler(), X, reset=True) is not None
    with pytest.raises(ValueError, match=r"NaN in feature\(s\) 0, 3\. StandardScaler"):
        check_input(StandardScaler(), X, reset=True, allow_nan=False)
    # Infinity is reported first: it is never allowed.
    X[0, 4] = np.inf
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 4\."):
        check_input(StandardScaler(), X, reset=True, allow_nan=False)


def test_pandas_object_and_categorical_numbers_convert_like_sklearn():
    pd = pytest.importorskip("pandas")
    from sklearn import preprocessing as skl

    X = pd.DataFrame(
        {
            "a": pd.Series([1, 2, 3, None], dtype=object),
            "b": pd.Categorical([1.0, 2.0, 3.0, 2.0]),
            "c": pd.Series([1.5, np.nan, True, 4], dtype=object),
            "d": [0.5, 1.0, 2.0, 8.0],
        }
    )
    before = X.copy()
    scaler = StandardScaler().fit(X)
    reference = skl.StandardScaler().fit(X)
    np.testing.assert_allclose(scaler.mean_, reference.mean_, rtol=1e-15)
    np.testing.assert_allclose(scaler.transform(X), reference.transform(X), rtol=1e-14)
    assert list(scaler.feature_names_in_) == ["a", "b", "c", "d"]
    pd.testing.assert_frame_equal(X, before)  # the caller's frame is kept
    assert scaler.transform(X).dtype == np.float64


@pytest.mark.parametrize("categorical", [False, True])
def test_pandas_strings_in_object_or_categorical_columns_are_named(categorical):
    pd = pytest.importorskip("pandas")
    column = ["x", "2", "z"]
    values = pd.Categorical(column) if categorical else pd.Series(column, dtype=object)
    X = pd.DataFrame({"n": [1.0, 2.0, 3.0], "s": values})
    with pytest.raises(ValueError, match="column\\(s\\) 's' are not numeric"):
        StandardScaler().fit(X)


@pytest.mark.parametrize(
    "make",
    [
        lambda rows: np.array(rows, dtype=object),
        lambda rows: np.array(rows, dtype=str),
        lambda rows: np.array(rows, dtype=bytes),
        lambda rows: rows,  # a nested list, converted by validation
    ],
    ids=["object", "unicode", "bytes", "list"],
)
@pytest.mark.parametrize("method", ["fit", "partial_fit", "transform", "inverse"])
def test_arrays_of_strings_name_the_columns_like_dataframes(make, method):
    # Columns 1 and 2 hold words; column 0 numbers written as strings, which
    # convert as scikit-learn converts them.
    X = make([["1", "a", "3"], ["2.5", "4", "b"], ["3", "5", "6"]])
    kept = np.array(X, copy=True) if isinstance(X, np.ndarray) else None
    scaler = StandardScaler()
    if method in ("transform", "inverse"):
        scaler.fit(np.ones((2, 3)))
    call = {
        "fit": scaler.fit,
        "partial_fit": scaler.partial_fit,
        "transform": scaler.transform,
        "inverse": scaler.inverse_transform,
    }[method]
    as_bytes = isinstance(X, np.ndarray) and X.dtype.kind == "S"
    first, second = (b"a", b"b") if as_bytes else ("a", "b")
    expected = (
        "StandardScaler needs numeric features; column(s) 1, 2 are not numeric "
        f"(column 1 holds {first!r}, column 2 holds {second!r})."
    )
    with pytest.raises(ValueError) as error:
        call(X)
    assert str(error.value).startswith(expected)
    if kept is not None:
        np.testing.assert_array_equal(X, kept)  # the caller's data is kept


def test_array_of_strings_names_the_fitted_feature_names():
    pd = pytest.importorskip("pandas")
    scaler = StandardScaler().fit(pd.DataFrame({"p": [1.0, 2.0], "q": [3.0, 5.0]}))
    X = np.array([[1, 2], [3, "x"]], dtype=object)
    with pytest.warns(UserWarning, match="valid feature names"):
        with pytest.raises(ValueError, match=r"column\(s\) 'q' .*'q' holds 'x'"):
            scaler.transform(X)


def test_array_of_other_objects_names_the_column_with_sklearns_error_type():
    # scikit-learn raises a TypeError for values that are neither numbers nor
    # strings (its estimator checks expect it): kept, with the column named.
    X = np.ones((3, 2), dtype=object)
    X[1, 1] = {"foo": "bar"}
    with pytest.raises(TypeError, match=r"column\(s\) 1 .*argument must be a string"):
        MinMaxScaler().fit(X)


def test_array_of_numbers_as_objects_still_converts_like_sklearn():
    X = np.array([["1", 2.0], [None, "4"], [3, True]], dtype=object)
    np.testing.assert_array_equal(
        StandardScaler().fit_transform(X),
        sklearn_preprocessing.StandardScaler().fit_transform(X),
    )


@pytest.mark.parametrize(
    "column", [["1", "2", "3.5"], [1.0, "2", 3.0], ["1", None, "4"]]
)
@pytest.mark.parametrize("kind", ["object", "categorical", "string"])
def test_numbers_written_as_strings_convert_like_sklearn(column, kind):
    # scikit-learn converts them with float(): a drop-in must too.
    pd = pytest.importorskip("pandas")
    from sklearn import preprocessing as skl

    if kind == "categorical":
        values = pd.Categorical(column)
    elif kind == "string":
        if any(not isinstance(v, str) and v is not None for v in column):
            pytest.skip("a string dtype holds strings only")
        values = pd.Series(column, dtype="string")
    else:
        values = pd.Series(column, dtype=object)
    X = pd.DataFrame({"n": [1.0, 2.0, 5.0], "s": values})
    # scikit-learn's reference on the object column (it cannot read pd.NA).
    same = pd.DataFrame({"n": [1.0, 2.0, 5.0], "s": pd.Series(column, dtype=object)})
    np.testing.assert_allclose(
        StandardScaler().fit_transform(X),
        skl.StandardScaler().fit_transform(same),
        rtol=1e-15,
    )


def test_polars_object_numbers_convert_like_sklearn():
    pl = pytest.importorskip("polars")
    from sklearn import preprocessing as skl

    X = pl.DataFrame(
        {
            "a": pl.Series([1, 2, 3, 5], dtype=pl.Object),
            "b": [0.5, 1.0, 2.0, 8.0],
        }
    )
    scaler = MinMaxScaler().fit(X)
    reference = skl.MinMaxScaler().fit(X)
    np.testing.assert_allclose(scaler.transform(X), reference.transform(X), rtol=1e-15)
    strings = pl.DataFrame({"a": pl.Series(["x", "y"], dtype=pl.Object)})
    with pytest.raises(ValueError, match="'a' are not numeric"):
        MinMaxScaler().fit(strings)
    # Numbers written as strings convert, as scikit-learn converts them.
    categorical = pl.DataFrame(
        {
            "c": pl.Series(["1", "2", "4"], dtype=pl.Categorical),
            "s": ["0.5", "1", "3"],
        }
    )
    np.testing.assert_allclose(
        MinMaxScaler().fit_transform(categorical),
        skl.MinMaxScaler().fit_transform(categorical),
        rtol=1e-15,
    )


def test_infinity_message_depends_on_allow_nan():
    from sknorm import EmbeddingNormalizer, EmbeddingQuantizer

    X = np.array([[1.0, 2.0], [3.0, np.inf], [0.0, 1.0]])
    with pytest.raises(ValueError, match="treats NaN as missing"):
        StandardScaler().fit(X)
    for estimator in (EmbeddingNormalizer(), EmbeddingQuantizer()):
        with pytest.raises(ValueError, match=r"infinity in feature\(s\) 1") as error:
            estimator.fit(X)
        assert "NaN as missing" not in str(error.value)
        assert "accepts neither NaN nor infinity" in str(error.value)


# --------------------------------------------------------------------------
# Sparse containers: scipy input keeps its container, as in scikit-learn's
# scalers; sparse output built from a DataFrame of sparse columns follows
# scikit-learn's ``sparse_interface`` setting.
# --------------------------------------------------------------------------

SPARSE_INTERFACES = (
    ["spmatrix", "sparray"] if "sparse_interface" in get_config() else [None]
)


def _interface_context(interface):
    return config_context(sparse_interface=interface) if interface else nullcontext()


def _is_sparse_array(X):
    return sparse.issparse(X) and not sparse.isspmatrix(X)


def _sparse_data():
    """Positive values with a zero in every row and column, so that
    minmax_scale keeps zeros zero along either axis."""
    rng = np.random.default_rng(0)
    X = rng.uniform(1, 2, size=(30, 4)) * (rng.random((30, 4)) < 0.6)
    X[np.arange(30), np.arange(30) % 4] = 0.0
    return sparse.csr_matrix(X)


def _sparse_inputs():
    """``(name, input)``: each scipy container, and a pandas DataFrame of
    sparse columns (which validation converts to a sparse matrix)."""
    X = _sparse_data()
    inputs = [(c.__name__, c(X)) for c in SPARSE_CONTAINERS]
    pd = pytest.importorskip("pandas")
    inputs.append(("sparse DataFrame", pd.DataFrame.sparse.from_spmatrix(X)))
    return inputs


def _expected_interface(reference_output, X):
    """Whether sknorm's output should be a sparse array, given scikit-learn's
    output for the same input under the current setting.

    For scipy input: scikit-learn's own output (its scalers keep the input's
    container). For a DataFrame, whose sparse matrix the estimator builds:
    scikit-learn's ``sparse_interface`` rule for "every sparse object
    scikit-learn produces" (``_align_api_if_sparse``). scikit-learn 1.9's
    scalers return a CSR matrix there whatever the setting; sknorm follows
    the setting.
    """
    if not sparse.issparse(X) and "sparse_interface" in get_config():
        from sklearn.utils._sparse import _align_api_if_sparse

        reference_output = _align_api_if_sparse(reference_output)
    return _is_sparse_array(reference_output)


SCALER_PAIRS = [
    (
        StandardScaler(with_mean=False),
        sklearn_preprocessing.StandardScaler(with_mean=False),
    ),
    (MaxAbsScaler(), sklearn_preprocessing.MaxAbsScaler()),
    (Normalizer(), sklearn_preprocessing.Normalizer()),
]


@pytest.mark.parametrize("interface", SPARSE_INTERFACES)
@pytest.mark.parametrize(
    ("estimator", "reference"),
    SCALER_PAIRS,
    ids=[type(pair[0]).__name__ for pair in SCALER_PAIRS],
)
def test_sparse_container_as_in_sklearn(estimator, reference, interface):
    for name, X in _sparse_inputs():
        with _interface_context(interface):
            fitted, fitted_reference = clone(estimator).fit(X), clone(reference).fit(X)
            Xt, Xt_reference = fitted.transform(X), fitted_reference.transform(X)
            outputs = {
                "transform": (Xt, Xt_reference),
                "fit_transform": (
                    clone(estimator).fit_transform(X),
                    clone(reference).fit_transform(X),
                ),
            }
            if hasattr(reference, "inverse_transform"):
                outputs["inverse_transform"] = (
                    fitted.inverse_transform(Xt),
                    fitted_reference.inverse_transform(Xt_reference),
                )
            for method, (result, expected) in outputs.items():
                where = (name, method, interface)
                assert sparse.issparse(result) and sparse.issparse(expected), where
                expected_array = _expected_interface(expected, X)
                assert _is_sparse_array(result) == expected_array, where
                if sparse.issparse(X):
                    # sknorm also keeps CSC as CSC (scikit-learn's Normalizer
                    # returns CSR): the container is exactly the input's.
                    assert type(result) is type(X), where


FUNCTION_PAIRS = [
    (scale, sklearn_preprocessing.scale, {"with_mean": False}),
    (maxabs_scale, sklearn_preprocessing.maxabs_scale, {}),
    (robust_scale, sklearn_preprocessing.robust_scale, {"with_centering": False}),
    (normalize, sklearn_preprocessing.normalize, {}),
    (minmax_scale, None, {}),  # scikit-learn's takes no sparse input
]


@pytest.mark.parametrize("interface", SPARSE_INTERFACES)
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize(
    ("function", "reference", "kwargs"),
    FUNCTION_PAIRS,
    ids=[pair[0].__name__ for pair in FUNCTION_PAIRS],
)
def test_functions_sparse_container(function, reference, kwargs, axis, interface):
    for name, X in _sparse_inputs():
        with _interface_context(interface):
            result = function(X, axis=axis, **kwargs)
            if sparse.issparse(X):
                expected_array = _is_sparse_array(X)
            else:  # sknorm builds the sparse matrix: the setting decides
                expected_array = interface == "sparray"
            if reference is not None and (
                axis == 0 or reference is not sklearn_preprocessing.scale
            ):
                # scikit-learn's scale takes sparse input on axis 0 only.
                expected = reference(X, axis=axis, **kwargs)
                assert _expected_interface(expected, X) == expected_array
        where = (name, axis, interface)
        assert sparse.issparse(result), where
        assert _is_sparse_array(result) == expected_array, where
        if sparse.issparse(X):
            assert type(result) is type(X), where


def test_sparse_interface_read_from_sklearn_config(monkeypatch):
    from sknorm import _validation

    matrix = sparse.csr_matrix(_sparse_data())
    # scikit-learn < 1.9 has no setting: sparse matrices, as it produced then.
    monkeypatch.setattr(_validation, "get_config", lambda: {})
    assert _validation.sparse_interface() == "spmatrix"
    assert _validation.as_configured_sparse(matrix) is matrix
    monkeypatch.setattr(_validation, "get_config", lambda: {"sparse_interface": "x"})
    with pytest.raises(ValueError, match="'x'; sknorm understands \"spmatrix\""):
        _validation.as_configured_sparse(matrix)
    monkeypatch.setattr(
        _validation, "get_config", lambda: {"sparse_interface": "sparray"}
    )
    converted = _validation.as_configured_sparse(sparse.csc_matrix(matrix))
    assert type(converted) is sparse.csc_array
    np.testing.assert_array_equal(converted.toarray(), matrix.toarray())
    dense = np.ones((2, 2))
    assert _validation.as_configured_sparse(dense) is dense


# ---------------------------------------------------------------------------
# The validated batch: one object per fit call
# ---------------------------------------------------------------------------


def test_batch_of_a_float_array_is_the_array_itself():
    from sknorm._validation import validated_batch

    X = np.arange(12.0).reshape(4, 3)
    scaler = StandardScaler()
    batch = validated_batch(scaler, X, reset=True, reject_infinity=False)
    assert batch.data is X  # validated without a copy
    assert batch.namespace is None and batch.device is None
    assert batch.dtype == np.float64
    assert batch.sparse_format is None
    assert batch.sample_weight is None
    assert batch.feature_names is None
    assert (batch.n_rows, batch.n_features, batch.n_positive) == (4, 3, 4)
    assert batch.shape == X.shape
    assert batch.host() is X and batch.device_data() is None
    # Nothing was checked for infinity, so nothing is claimed.
    assert not batch.finite_checked and batch.has_nan is None
    assert scaler.n_features_in_ == 3  # recorded, as check_input records it


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [(np.float32, np.float32), (np.float16, np.float16), (np.int64, np.float64)],
)
def test_batch_dtype_is_the_validated_float_dtype(dtype, expected):
    from sknorm._validation import validated_batch

    X = np.arange(12).reshape(4, 3).astype(dtype)
    batch = validated_batch(StandardScaler(), X, reset=True)
    assert batch.dtype == expected
    assert batch.data.dtype == expected


@pytest.mark.parametrize("container", SPARSE_CONTAINERS)
def test_batch_of_sparse_input_names_its_format(container):
    from sknorm._validation import validated_batch

    X = container(np.array([[0.0, 1.0], [2.0, 0.0], [0.0, 0.0]]))
    batch = validated_batch(StandardScaler(with_mean=False), X, reset=True)
    assert type(batch.data) is container
    assert batch.sparse_format == X.format
    assert batch.namespace is None and batch.dtype == np.float64
    assert batch.n_rows == 3 and batch.n_features == 2


def test_batch_of_other_sparse_formats_is_csr():
    from sknorm._validation import validated_batch

    X = sparse.coo_array(np.array([[0.0, 1.0], [2.0, 0.0]]))
    batch = validated_batch(StandardScaler(with_mean=False), X, reset=True)
    assert batch.sparse_format == "csr"


def test_batch_of_a_dataframe_keeps_the_feature_names(df_module):
    from sknorm._validation import validated_batch

    X = _frame(df_module, [[1, 10.0], [2, 20.0], [4, np.nan]], ["a", "b"])
    scaler = StandardScaler()
    batch = validated_batch(scaler, X, reset=True)
    np.testing.assert_array_equal(batch.feature_names, ["a", "b"])
    np.testing.assert_array_equal(scaler.feature_names_in_, ["a", "b"])
    assert isinstance(batch.data, np.ndarray)
    assert batch.dtype == np.float64 and batch.sparse_format is None
    assert batch.finite_checked  # reject_infinity=True by default
    # A NaN that the check saw is not claimed absent.
    assert batch.has_nan is not False


def test_batch_weights_are_validated_with_the_data():
    from sknorm._validation import validated_batch

    X = np.ones((4, 2))
    batch = validated_batch(StandardScaler(), X, [1, 0, 2, 0], reset=True)
    assert batch.sample_weight.dtype == np.float64
    np.testing.assert_array_equal(batch.sample_weight, [1.0, 0.0, 2.0, 0.0])
    assert (batch.n_rows, batch.n_positive) == (4, 2)
    with pytest.raises(ValueError, match=r"(?i)negative"):
        validated_batch(StandardScaler(), X, [1, -1, 2, 0], reset=True)
    with pytest.raises(ValueError, match="non-zero"):
        validated_batch(StandardScaler(), X, np.zeros(4), reset=True)
    with pytest.raises(ValueError, match=r"\(3,\)"):
        validated_batch(StandardScaler(), X, np.ones(3), reset=True)


def test_batch_records_what_its_finiteness_check_found():
    from sknorm._validation import validated_batch

    X = np.ones((5, 3))
    batch = validated_batch(StandardScaler(), X, reset=True, reject_infinity=False)
    batch.check_finite(StandardScaler())
    assert batch.finite_checked and batch.has_nan is False
    # Without NaN allowed, a batch that passes holds none.
    X[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN in feature\(s\) 2"):
        validated_batch(StandardScaler(), X, reset=True, allow_nan=False)
    X[1, 2] = 1.0
    batch = validated_batch(StandardScaler(), X, reset=True, allow_nan=False)
    assert batch.finite_checked and batch.has_nan is False
    X[3, 1] = -np.inf
    batch = validated_batch(StandardScaler(), X, reset=True, reject_infinity=False)
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 1\."):
        batch.check_finite(StandardScaler())
    assert not batch.finite_checked


def test_replaced_batch_keeps_rows_weights_and_names():
    from sknorm._validation import validated_batch

    X = np.arange(6.0).reshape(3, 2)
    batch = validated_batch(StandardScaler(), X, [1.0, 2.0, 0.0], reset=True)
    other = batch.replaced(X.astype(np.float32), finite_checked=True, has_nan=False)
    assert other.dtype == np.float32 and other.data.dtype == np.float32
    assert other.sample_weight is batch.sample_weight
    assert other.n_positive == 2 and other.shape == (3, 2)
    assert other.finite_checked and other.has_nan is False
    assert batch.data is X and batch.dtype == np.float64  # the original unchanged


def test_batch_of_an_array_api_array_carries_its_namespace_and_device():
    array_api_strict = pytest.importorskip("array_api_strict")
    from sknorm._array_api import Namespace
    from sknorm._validation import validated_batch

    values = np.arange(12.0).reshape(4, 3)
    X = array_api_strict.asarray(values)
    weight = array_api_strict.asarray([1.0, 0.0, 2.0, 3.0])
    with config_context(array_api_dispatch=True):
        batch = validated_batch(StandardScaler(), X, weight, reset=True)
    assert isinstance(batch.namespace, Namespace)
    assert batch.device == X.device
    assert batch.dtype == array_api_strict.float64
    assert batch.sparse_format is None
    assert type(batch.data) is type(X)
    # Weights are validated and kept on the host.
    assert isinstance(batch.sample_weight, np.ndarray)
    assert batch.sample_weight.dtype == np.float64
    assert batch.n_positive == 3
    # One device view, whose host copy every statistic shares.
    assert batch.device_data() is batch.device_data()
    assert batch.host() is batch.device_data().host()
    np.testing.assert_array_equal(batch.host(), values)


def test_batch_of_an_array_api_integer_array_is_the_default_float():
    array_api_strict = pytest.importorskip("array_api_strict")
    from sknorm._validation import validated_batch

    X = array_api_strict.asarray(np.arange(6).reshape(3, 2))
    with config_context(array_api_dispatch=True):
        batch = validated_batch(StandardScaler(), X, reset=True)
    assert batch.dtype == array_api_strict.float64
    assert batch.data.dtype == array_api_strict.float64


def _count_namespace_lookups(monkeypatch):
    """Count every call of namespace_of, through any module that imported it."""
    import sys

    from sknorm import _array_api

    original = _array_api.namespace_of
    calls = []

    def counting(X):
        calls.append(type(X))
        return original(X)

    for name, module in list(sys.modules.items()):
        if name.startswith("sknorm") and getattr(module, "namespace_of", None) is (
            original
        ):
            monkeypatch.setattr(module, "namespace_of", counting)
    return calls


@pytest.mark.parametrize("estimator", [StandardScaler(), MinMaxScaler()], ids=repr)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
def test_partial_fit_looks_up_the_namespace_once(
    monkeypatch, estimator, weighted, namespace
):
    X = np.random.default_rng(0).normal(size=(50, 3))
    weight = np.linspace(0.5, 2.0, len(X)) if weighted else None
    dispatch = nullcontext()
    if namespace == "array_api_strict":
        array_api_strict = pytest.importorskip("array_api_strict")
        X = array_api_strict.asarray(X)
        dispatch = config_context(array_api_dispatch=True)
    with dispatch:
        estimator = clone(estimator).partial_fit(X, sample_weight=weight)
        calls = _count_namespace_lookups(monkeypatch)
        estimator.partial_fit(X, sample_weight=weight)
    assert len(calls) == 1, calls


def test_statistics_skip_the_infinity_check_a_batch_already_did(monkeypatch):
    from sknorm import _validation
    from sknorm._validation import validated_batch

    checks = []
    original = _validation._checked_finite

    def counting(*args):
        checks.append(args)
        return original(*args)

    monkeypatch.setattr(_validation, "_checked_finite", counting)
    X = np.random.default_rng(0).normal(size=(20, 3))
    # A zero weight: the statistics cannot reveal infinity, so the fit checks.
    weight = np.r_[0.0, np.ones(19)]
    scaler = StandardScaler()
    specs = scaler._specs(True)
    for reject_infinity, expected in ((True, 0), (False, 1)):
        batch = validated_batch(
            scaler, X, weight, reset=True, reject_infinity=reject_infinity
        )
        checks.clear()
        scaler._computed_statistics(batch, specs)
        assert len(checks) == expected
        assert batch.finite_checked


def test_checked_batch_and_batch_statistics_keep_their_signatures():
    X = np.arange(12.0).reshape(4, 3)
    weight = np.array([1.0, 2.0, 0.0, 1.0])
    scaler = StandardScaler()
    checked, checked_weight = scaler._checked_batch(
        X, weight, reset=True, center_integers=False
    )
    assert checked is X
    np.testing.assert_array_equal(checked_weight, weight)
    statistics, n_rows = scaler._batch_statistics(
        X, weight, scaler._specs(True), reset=True, center_integers=False
    )
    assert n_rows == 4
    expected = np.average(X, axis=0, weights=weight)
    np.testing.assert_allclose(statistics["Moments"].mean, expected, rtol=1e-15)
