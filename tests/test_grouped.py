"""GroupedScaler against a per-group loop over scikit-learn's scalers.

The reference fits scikit-learn's scaler on each group's rows and transforms
them with it; rows of unseen or small groups are transformed by the
scikit-learn scaler fitted on all rows (RobustScaler's all-groups quantiles
come from merged sketches: within their rank error).
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import sparse
from sklearn import preprocessing
from sklearn.base import clone
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline

import sknorm
from sknorm import GroupedScaler

PAIRS = [
    (sknorm.StandardScaler(), preprocessing.StandardScaler()),
    (sknorm.MinMaxScaler(), preprocessing.MinMaxScaler()),
    (sknorm.MaxAbsScaler(), preprocessing.MaxAbsScaler()),
    (sknorm.RobustScaler(), preprocessing.RobustScaler()),
]
PAIR_IDS = [type(pair[0]).__name__ for pair in PAIRS]

#: sknorm and scikit-learn sum a group's rows in different orders, so a
#: standardized value z moves by at most |dm| / s + |z| |ds| / s, with
#: |dm| <= 2 (n + 1) eps mean|x| (mean_atol) and |ds| / s <= (n + 2) eps plus
#: the mean's share (m2_rtol / 2): on ``_data`` at most 4.5e-13 (a group's fit)
#: and 3.2e-13 (all rows); extrema and quantiles are exact. rtol and atol.
TOL = 1e-12


def _data(n=300, n_features=3, n_groups=4, seed=0):
    """Features whose location and spread differ per group; group codes
    0..n_groups-1 in the first column."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, size=n)
    X = rng.normal(size=(n, n_features)) * (1 + groups[:, None]) + 10 * groups[:, None]
    return groups, X


def _reference(sk_scaler, groups, X, X_new=None, groups_new=None, min_size=1):
    """Per-group loop over scikit-learn's scaler: the expected transform."""
    if X_new is None:
        X_new, groups_new = X, groups
    everything = clone(sk_scaler).fit(X)
    out = everything.transform(X_new)
    for g in np.unique(groups_new):
        rows = groups_new == g
        if np.sum(groups == g) >= min_size:
            out[rows] = clone(sk_scaler).fit(X[groups == g]).transform(X_new[rows])
    return out


@pytest.mark.parametrize(("scaler", "sk_scaler"), PAIRS, ids=PAIR_IDS)
def test_dense_matches_per_group_reference(scaler, sk_scaler):
    groups, X = _data()
    fitted = GroupedScaler(scaler).fit(np.column_stack([groups, X]))
    assert_array_equal(fitted.groups_, np.unique(groups))
    assert_array_equal(fitted.group_counts_, np.bincount(groups))
    got = fitted.transform(np.column_stack([groups, X]))
    assert_allclose(got, _reference(sk_scaler, groups, X), rtol=TOL, atol=TOL)


@pytest.mark.parametrize(("scaler", "sk_scaler"), PAIRS[:3], ids=PAIR_IDS[:3])
def test_all_groups_statistics_are_those_of_all_rows(scaler, sk_scaler):
    """The merged statistics equal the scaler fitted on every row."""
    groups, X = _data()
    fitted = GroupedScaler(scaler).fit(np.column_stack([groups, X]))
    X_new = X + 0.5
    new = np.full(len(X), 99)  # unseen
    got = fitted.transform(np.column_stack([new, X_new]))
    expected = clone(sk_scaler).fit(X).transform(X_new)
    assert_allclose(got, expected, rtol=TOL, atol=TOL)


def test_robust_all_groups_within_sketch_rank_error():
    """RobustScaler's all-groups quantiles come from the merged sketches:
    each one's rank among all rows is within the sketch's 1% bound."""
    groups, X = _data(n=4000, n_groups=5)
    fitted = GroupedScaler(sknorm.RobustScaler()).fit(np.column_stack([groups, X]))
    center = fitted.all_groups_scaler_.center_
    ranks = (X < center).mean(axis=0)
    assert np.all(np.abs(ranks - 0.5) < 0.01)
    # The per-group quantiles are exact.
    for g, scaler in zip(fitted.groups_, fitted.scalers_, strict=True):
        assert_array_equal(scaler.center_, np.median(X[groups == g], axis=0))


def test_unseen_and_string_groups_in_pandas():
    pd = pytest.importorskip("pandas")
    groups, X = _data()
    names = np.array(["a", "b", "c", "d"], dtype=object)[groups]
    frame = pd.DataFrame(X, columns=["x", "y", "z"])
    frame.insert(1, "city", names)
    fitted = GroupedScaler(group_column="city").fit(frame)
    assert list(fitted.groups_) == ["a", "b", "c", "d"]
    assert list(fitted.feature_names_in_) == ["x", "city", "y", "z"]
    assert list(fitted.get_feature_names_out()) == ["x", "y", "z"]
    sk = preprocessing.StandardScaler()
    assert_allclose(
        fitted.transform(frame), _reference(sk, groups, X), rtol=TOL, atol=TOL
    )
    # Unseen groups: the statistics of all groups, or an error naming them.
    unseen = frame.assign(city=np.where(groups == 0, "zz", names))
    got = fitted.transform(unseen)
    expected = _reference(sk, groups, X)
    expected[groups == 0] = clone(sk).fit(X).transform(X[groups == 0])
    assert_allclose(got, expected, rtol=TOL, atol=TOL)
    strict = clone(fitted).set_params(handle_unknown="error").fit(frame)
    with pytest.raises(ValueError, match=r"1 group\(s\) unseen in fit: 'zz'"):
        strict.transform(unseen)


def test_pandas_output_keeps_the_group_column_and_inverts():
    pd = pytest.importorskip("pandas")
    groups, X = _data(n=60)
    frame = pd.DataFrame(X, columns=["x", "y", "z"], index=np.arange(60) * 2)
    frame.insert(0, "g", np.array(["p", "q", "r", "s"])[groups])
    scaler = GroupedScaler(group_column="g", keep_group_column=True)
    scaler.set_output(transform="pandas").fit(frame)
    out = scaler.transform(frame)
    assert list(out.columns) == ["g", "x", "y", "z"]
    assert_array_equal(out.index, frame.index)
    assert_array_equal(out["g"], frame["g"])
    expected = _reference(preprocessing.StandardScaler(), groups, X)
    assert_allclose(out[["x", "y", "z"]].to_numpy(), expected, rtol=TOL, atol=TOL)
    back = scaler.inverse_transform(out)
    pd.testing.assert_frame_equal(back, frame, check_exact=False, rtol=TOL, atol=TOL)


def test_polars_input_and_output():
    pl = pytest.importorskip("polars")
    groups, X = _data(n=80)
    frame = pl.DataFrame({"x": X[:, 0], "g": groups.astype(str), "y": X[:, 1]})
    scaler = GroupedScaler(sknorm.MinMaxScaler(), group_column=1)
    scaler.set_output(transform="polars").fit(frame)
    out = scaler.transform(frame)
    assert isinstance(out, pl.DataFrame) and out.columns == ["x", "y"]
    expected = _reference(preprocessing.MinMaxScaler(), groups, X[:, :2])
    assert_allclose(out.to_numpy(), expected, rtol=TOL, atol=TOL)
    kept = clone(scaler).set_params(keep_group_column=True)
    kept.set_output(transform="polars").fit(frame)
    back = kept.inverse_transform(kept.transform(frame))
    assert back.columns == ["x", "g", "y"]
    assert back["g"].to_list() == frame["g"].to_list()
    assert_allclose(back.select("x", "y").to_numpy(), X[:, :2], rtol=TOL, atol=TOL)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize(
    ("scaler", "sk_scaler"),
    [
        (sknorm.MaxAbsScaler(), preprocessing.MaxAbsScaler()),
        (
            sknorm.StandardScaler(with_mean=False),
            preprocessing.StandardScaler(with_mean=False),
        ),
    ],
    ids=["MaxAbsScaler", "StandardScaler"],
)
def test_sparse_keeps_format_and_row_order(fmt, scaler, sk_scaler):
    groups, X = _data(n=120)
    X[np.random.default_rng(1).random(X.shape) < 0.6] = 0.0
    X_sparse = sparse.csr_matrix(np.column_stack([groups, X])).asformat(fmt)
    fitted = GroupedScaler(scaler, group_column=-4).fit(X_sparse)
    out = fitted.transform(X_sparse)
    assert sparse.issparse(out) and out.format == fmt
    assert_allclose(out.toarray(), _reference(sk_scaler, groups, X), rtol=TOL, atol=TOL)
    kept = GroupedScaler(scaler, keep_group_column=True).fit(X_sparse)
    out = kept.transform(X_sparse)
    assert type(out) is type(X_sparse) and out.format == fmt
    assert_array_equal(out.toarray()[:, 0], groups)
    back = kept.inverse_transform(out)
    assert_allclose(back.toarray(), X_sparse.toarray(), rtol=TOL, atol=TOL)


def test_sample_weight_equals_repeated_rows():
    groups, X = _data(n=100)
    weight = np.random.default_rng(2).integers(1, 4, size=100)
    data = np.column_stack([groups, X])
    weighted = GroupedScaler().fit(data, sample_weight=weight)
    repeated = GroupedScaler().fit(np.repeat(data, weight, axis=0))
    assert_allclose(
        weighted.transform(data), repeated.transform(data), rtol=TOL, atol=TOL
    )
    expected = _reference(
        preprocessing.StandardScaler(),
        np.repeat(groups, weight),
        np.repeat(X, weight, axis=0),
        X,
        groups,
    )
    assert_allclose(weighted.transform(data), expected, rtol=TOL, atol=TOL)
    # Counts are rows, not weights.
    assert_array_equal(weighted.group_counts_, np.bincount(groups))


def test_zero_weight_rows_are_left_out():
    groups, X = _data(n=100)
    weight = np.where(groups == 2, 0.0, 1.0)
    weight[:5] = 0.0
    data = np.column_stack([groups, X])
    weighted = GroupedScaler().fit(data, sample_weight=weight)
    kept = GroupedScaler().fit(data[weight > 0])
    assert_array_equal(weighted.groups_, [0, 1, 3])
    assert_array_equal(weighted.group_counts_, kept.group_counts_)
    assert_allclose(weighted.transform(data), kept.transform(data), rtol=TOL, atol=TOL)


@pytest.mark.parametrize(("scaler", "sk_scaler"), PAIRS, ids=PAIR_IDS)
def test_partial_fit_over_chunks_equals_fit(scaler, sk_scaler):
    groups, X = _data(n=200)
    data = np.column_stack([groups, X])
    streamed = GroupedScaler(scaler)
    for chunk in np.array_split(np.arange(200), [3, 70, 71, 150]):
        streamed.partial_fit(data[chunk])
    fitted = GroupedScaler(scaler).fit(data)
    assert_array_equal(streamed.groups_, fitted.groups_)
    assert_array_equal(streamed.group_counts_, fitted.group_counts_)
    if isinstance(scaler, sknorm.RobustScaler):
        # Sketches are exact while they hold every value: 200 rows do.
        assert_allclose(
            streamed.transform(data), fitted.transform(data), rtol=TOL, atol=TOL
        )
        return
    # Moments merge to within rounding (TOL's sum bounds), extrema exactly.
    assert_allclose(
        streamed.transform(data), fitted.transform(data), rtol=TOL, atol=TOL
    )
    assert_allclose(
        streamed.transform(data),
        _reference(sk_scaler, groups, X),
        rtol=TOL,
        atol=TOL,
    )


def test_min_group_size_falls_back_and_partial_fit_promotes():
    groups, X = _data(n=200)
    groups[:3] = 7  # a group of three rows
    data = np.column_stack([groups, X])
    sk = preprocessing.StandardScaler()
    small = GroupedScaler(min_group_size=4).fit(data)
    expected = _reference(sk, groups, X, min_size=4)
    assert_allclose(small.transform(data), expected, rtol=TOL, atol=TOL)
    # Absolute too: standardized values near 0 have no relative accuracy.
    assert_allclose(
        small.transform(data[:3]),
        clone(sk).fit(X).transform(X[:3]),
        rtol=TOL,
        atol=TOL,
    )
    # A fourth row of the group, streamed in: the group has its own scaler.
    extra = np.array([[7, *(X[0] + 1)]])
    small.partial_fit(extra)
    X_all = np.vstack([X, extra[:, 1:]])
    own = clone(sk).fit(X_all[[0, 1, 2, 200]]).transform(X[:3])
    assert_allclose(small.transform(data[:3]), own, rtol=TOL, atol=TOL)
    assert small.group_counts_[list(small.groups_).index(7)] == 4


def test_pipeline_grid_search_and_no_leakage():
    groups, X = _data(n=240)
    y = X @ np.array([1.0, -2.0, 0.5]) + groups
    data = np.column_stack([groups, X])
    pipeline = make_pipeline(GroupedScaler(), Ridge())
    search = GridSearchCV(
        pipeline,
        {"groupedscaler__scaler": [sknorm.StandardScaler(), sknorm.RobustScaler()]},
        cv=3,
    ).fit(data, y)
    assert search.best_estimator_.steps[0][1].scalers_
    scores = cross_val_score(pipeline, data, y, cv=KFold(4))
    # Each fold's statistics come from its training rows only.
    for (train, test), score in zip(KFold(4).split(data), scores, strict=True):
        scaler = GroupedScaler().fit(data[train])
        for g, fitted in zip(scaler.groups_, scaler.scalers_, strict=True):
            rows = train[groups[train] == g]
            assert_allclose(fitted.mean_, X[rows].mean(axis=0), rtol=TOL, atol=TOL)
        model = Ridge().fit(scaler.transform(data[train]), y[train])
        expected = model.score(scaler.transform(data[test]), y[test])
        assert score == pytest.approx(expected, rel=1e-12)


def test_nan_in_features_kept_nan_in_groups_rejected():
    groups, X = _data(n=50)
    X[4, 1] = np.nan
    data = np.column_stack([groups, X])
    out = GroupedScaler().fit(data).transform(data)
    assert np.isnan(out[4, 1]) and np.isfinite(np.delete(out.ravel(), 4 * 3 + 1)).all()
    data[7, 0] = np.nan
    with pytest.raises(ValueError, match=r"missing values .* 1 row\(s\), e.g. row 7"):
        GroupedScaler().fit(data)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"g": ["a", None, "b"], "x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"'g'.*missing values"):
        GroupedScaler(group_column="g").fit(frame)


def test_clear_errors():
    groups, X = _data(n=20)
    data = np.column_stack([groups, X])
    with pytest.raises(TypeError, match="needs a sknorm column scaler"):
        GroupedScaler(preprocessing.StandardScaler()).fit(data)
    with pytest.raises(ValueError, match="out of range"):
        GroupedScaler(group_column=4).fit(data)
    with pytest.raises(ValueError, match="no column names"):
        GroupedScaler(group_column="g").fit(data)
    # Without the group column there is no inverse_transform; the reason is
    # the cause of the AttributeError (shown with its traceback).
    with pytest.raises(AttributeError, match="inverse_transform") as error:
        GroupedScaler().fit(data).inverse_transform(data)
    assert "set keep_group_column=True" in str(error.value.__cause__)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"g": ["a", "b"] * 5, "x": np.arange(10.0)})
    with pytest.raises(ValueError, match="needs numeric group values"):
        GroupedScaler(group_column="g", keep_group_column=True).fit(frame).transform(
            frame
        )


def test_input_is_not_modified():
    groups, X = _data(n=40)
    data = np.column_stack([groups, X])
    original = data.copy()
    fitted = GroupedScaler(keep_group_column=True).fit(data)
    out = fitted.transform(data)
    fitted.inverse_transform(out.copy())
    assert_array_equal(data, original)


@pytest.mark.parametrize(("scaler", "sk_scaler"), PAIRS, ids=PAIR_IDS)
@pytest.mark.parametrize("weighted", [False, True])
def test_dask_array_fit_merges_groups_across_partitions(scaler, sk_scaler, weighted):
    """Partitions hold different groups (sorted rows: most partitions one or
    two groups); their statistics merge per group on the cluster."""
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    groups, X = _data(n=240)
    order = np.argsort(groups, kind="stable")
    groups, X = groups[order], X[order]
    data = np.column_stack([groups, X])
    weight = np.random.default_rng(3).integers(0, 3, 240).astype(float)
    weight = weight if weighted else None
    X_dask = da.from_array(data, chunks=(50, 2))
    w_dask = None if weight is None else da.from_array(weight, chunks=25)
    with dask.config.set(scheduler="synchronous"):
        on_dask = GroupedScaler(scaler).fit(X_dask, sample_weight=w_dask)
    # In memory, the same mergeable statistics are those of partial_fit.
    in_memory = GroupedScaler(scaler).partial_fit(data, sample_weight=weight)
    assert_array_equal(on_dask.groups_, in_memory.groups_)
    assert_array_equal(on_dask.group_counts_, in_memory.group_counts_)
    assert_allclose(
        on_dask.transform(data), in_memory.transform(data), rtol=TOL, atol=TOL
    )
    if not weighted and not isinstance(scaler, sknorm.RobustScaler):
        expected = _reference(sk_scaler, groups, X)
        assert_allclose(on_dask.transform(data), expected, rtol=TOL, atol=TOL)


def test_dask_dataframe_fit_with_string_groups_and_partial_fit():
    pytest.importorskip("dask.dataframe")
    import dask
    import dask.dataframe as dd
    import pandas as pd

    groups, X = _data(n=200)
    frame = pd.DataFrame(X, columns=["x", "y", "z"])
    frame.insert(2, "shop", np.array(["n", "e", "s", "w"])[groups])
    with dask.config.set(scheduler="synchronous"):
        on_dask = GroupedScaler(group_column="shop").fit(
            dd.from_pandas(frame.iloc[:120], npartitions=3)
        )
        on_dask.partial_fit(dd.from_pandas(frame.iloc[120:], npartitions=2))
    assert list(on_dask.feature_names_in_) == ["x", "y", "shop", "z"]
    expected = _reference(preprocessing.StandardScaler(), groups, X)
    assert_allclose(on_dask.transform(frame), expected, rtol=TOL, atol=TOL)
    with pytest.raises(ValueError, match="shop"):
        on_dask.partial_fit(dd.from_pandas(frame.drop(columns="shop"), npartitions=2))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dask_transform_and_inverse_are_lazy_and_equal(dtype):
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    groups, X = _data(n=150)
    data = np.column_stack([groups, X]).astype(dtype)
    # handle_unknown="error": the lazy result's metadata uses a known group.
    fitted = GroupedScaler(keep_group_column=True, handle_unknown="error").fit(data)
    X_dask = da.from_array(data, chunks=(40, 2))
    with dask.config.set(scheduler="synchronous"):
        out = fitted.transform(X_dask)
        assert isinstance(out, da.Array) and out.dtype == dtype
        assert_array_equal(out.compute(), fitted.transform(data))
        back = fitted.inverse_transform(out)
        assert isinstance(back, da.Array)
        assert_array_equal(
            back.compute(), fitted.inverse_transform(fitted.transform(data))
        )


def test_failed_partial_fit_leaves_the_fit_unchanged():
    groups, X = _data(n=60)
    data = np.column_stack([groups, X])
    fitted = GroupedScaler().partial_fit(data)
    before = fitted.transform(data)
    bad = data[:10].copy()
    bad[-1, 2] = np.inf
    with pytest.raises(ValueError, match=r"infinity in feature\(s\) 2"):
        fitted.partial_fit(bad)  # named by its column in X
    assert_array_equal(fitted.transform(data), before)
    assert_array_equal(fitted.group_counts_, np.bincount(groups))
