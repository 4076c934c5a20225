"""The shared input policy, exercised through the scalers."""

import numpy as np
import pytest
from scipy import sparse

from sknorm import MaxAbsScaler, MinMaxScaler, StandardScaler


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
