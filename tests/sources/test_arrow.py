"""Stream sources (sknorm/sources/_arrow.py): every kind of source fits every
statistics estimator as the in-memory fit of the same rows does.

The reference is the estimator fitted on the rows in memory (a pandas
DataFrame of the same columns): order statistics and extrema are compared
bit for bit, sums (means, variances, covariances) within the bound for sums
of ``n`` terms added in two orders (blocks merged against in-memory blocks),
``sum_rtol(n)``, relative to each attribute's magnitude.
"""

import copy
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

import sknorm
from sknorm.sources import ArrowSource

from .._tolerances import sum_rtol

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pads = pytest.importorskip("pyarrow.dataset")

N_ROWS = 3_000
BATCH_ROWS = 401  # several batches, none aligned with the files' row groups
FEATURES = ["f0", "f1", "f2", "f3"]

# Estimators whose statistics are order statistics or extrema: equal bit for
# bit; the others are sums.
ESTIMATORS = [
    (sknorm.StandardScaler(), False),
    (sknorm.StandardScaler(with_mean=False), False),
    (sknorm.MinMaxScaler(clip=True), True),
    (sknorm.MaxAbsScaler(), True),
    (sknorm.RobustScaler(), True),
    (sknorm.RobustScaler(quantile_range=(5.0, 90.0), unit_variance=True), True),
    (sknorm.SquashingScaler(max_absolute_value=2.0), True),
    (sknorm.QuantileTransformer(n_quantiles=200), True),
    (sknorm.QuantileTransformer(n_quantiles=50, output_distribution="normal"), True),
    (sknorm.EmbeddingNormalizer(), False),
    (sknorm.EmbeddingNormalizer(whiten="pca", n_components=2), False),
    (sknorm.EmbeddingQuantizer(), False),
    (sknorm.GroupedScaler(group_column="g"), False),
]


def _frame(n_rows=N_ROWS, seed=0, dtype=np.float64, missing=True):
    """Correlated features of distinct scales with NaN, an integer column
    with nulls (neither with ``missing=False``), ties, a weight column and
    a group column."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, 3)) * [4.0, 1.0, 0.25] + [0.0, 3.0, -6.0]
    X[:, 1] += X[:, 0] * 0.5
    X[:, 2] = np.round(X[:, 2] * 2) / 2  # many ties
    frame = pd.DataFrame(X.astype(dtype), columns=FEATURES[:3])
    integers = pd.array(rng.integers(-50, 1000, n_rows), dtype="Int32")
    if missing:
        frame.loc[::7, "f1"] = np.nan
        integers[::11] = pd.NA
    frame["f3"] = integers
    frame["w"] = rng.uniform(0.0, 3.0, n_rows)
    frame.loc[::13, "w"] = 0.0
    frame["g"] = rng.choice(["a", "b", "c"], n_rows)
    return frame


def _table(frame):
    return pa.Table.from_pandas(frame, preserve_index=False)


def _write_files(frame, directory, row_groups=(97, 500, 1_000)):
    """The frame in several Parquet files of different row-group sizes."""
    bounds = np.linspace(0, len(frame), len(row_groups) + 1).astype(int)
    for i, row_group in enumerate(row_groups):
        part = frame.iloc[bounds[i] : bounds[i + 1]]
        pq.write_table(
            _table(part), os.path.join(directory, f"part{i}.parquet"), row_group
        )
    return directory


def _sources(frame, tmp_path, columns):
    """Every kind of source of ``frame``'s ``columns``."""
    directory = _write_files(frame, str(tmp_path))
    table = _table(frame)
    sources = {
        "table": sknorm.scan(table, columns=columns, batch_rows=BATCH_ROWS),
        "reader": sknorm.scan(table.to_reader(max_chunksize=700), columns=columns),
        "directory": sknorm.scan(directory, columns=columns, batch_rows=BATCH_ROWS),
        "glob": sknorm.scan(os.path.join(directory, "*.parquet"), columns=columns),
        "dataset": sknorm.scan(pads.dataset(directory), columns=columns),
    }
    try:
        import polars as pl
    except ImportError:
        pass
    else:
        lazy = pl.scan_parquet(os.path.join(directory, "*.parquet")).select(columns)
        sources["lazyframe"] = sknorm.scan(lazy, batch_rows=BATCH_ROWS)
    try:
        import duckdb
    except ImportError:
        pass
    else:
        names = ", ".join(columns)
        glob = os.path.join(directory, "*.parquet")
        sources["duckdb"] = duckdb.sql(f"select {names} from read_parquet('{glob}')")
    return sources


def _fitted_attributes(estimator):
    return {
        name: value
        for name, value in vars(estimator).items()
        if name.endswith("_") and not name.startswith("_")
    }


def _assert_same_fit(fitted, reference, exact):
    got, expected = _fitted_attributes(fitted), _fitted_attributes(reference)
    got.pop("quantile_method_", None)
    expected.pop("quantile_method_", None)
    assert got.keys() == expected.keys()
    rtol = sum_rtol(N_ROWS)
    for name, value in expected.items():
        if isinstance(value, list):  # GroupedScaler's scalers
            for mine, theirs in zip(got[name], value, strict=True):
                _assert_same_fit(mine, theirs, exact)
        elif hasattr(value, "get_params"):
            _assert_same_fit(got[name], value, exact)
        elif value is None or np.asarray(value).dtype.kind in "OUSb" or exact:
            np.testing.assert_array_equal(got[name], value, err_msg=name)
        else:
            magnitude = np.nanmax(np.abs(value), initial=0.0)
            np.testing.assert_allclose(
                got[name], value, rtol=rtol, atol=rtol * magnitude, err_msg=name
            )


def _complete_rows(estimator):
    """Embedding estimators mix the features of a row: no missing values."""
    return isinstance(estimator, sknorm.EmbeddingNormalizer | sknorm.EmbeddingQuantizer)


def _columns(estimator):
    columns = FEATURES + (["g"] if isinstance(estimator, sknorm.GroupedScaler) else [])
    return columns


@pytest.mark.parametrize(
    "estimator, exact", ESTIMATORS, ids=[repr(e) for e, _ in ESTIMATORS]
)
def test_every_source_fits_as_in_memory(estimator, exact, tmp_path):
    frame = _frame(missing=not _complete_rows(estimator))
    columns = _columns(estimator)
    reference = clone(estimator).fit(frame[columns])
    for kind, source in _sources(frame, tmp_path, columns).items():
        fitted = clone(estimator).fit(source)
        one_shot = kind == "reader"
        # A reader is read once: its quantiles are the sketch's.
        quantiles = hasattr(estimator, "dask_quantiles")
        if one_shot and quantiles:
            assert fitted.quantile_method_ == "sketch"
            continue
        if quantiles:
            assert fitted.quantile_method_ == reference.quantile_method_
        try:
            _assert_same_fit(fitted, reference, exact)
        except AssertionError as error:
            raise AssertionError(f"source {kind}: {error}") from None


WEIGHTED = [e for e in ESTIMATORS if not isinstance(e[0], sknorm.GroupedScaler)]


@pytest.mark.parametrize(
    "estimator, exact", WEIGHTED, ids=[repr(e) for e, _ in WEIGHTED]
)
def test_weights_from_a_column(estimator, exact, tmp_path):
    frame = _frame(missing=not _complete_rows(estimator))
    reference = clone(estimator).fit(frame[FEATURES], sample_weight=frame["w"])
    table = _table(frame[[*FEATURES, "w"]])
    fitted = clone(estimator).fit(
        sknorm.scan(table, batch_rows=BATCH_ROWS), sample_weight="w"
    )
    assert list(fitted.feature_names_in_) == FEATURES
    _assert_same_fit(fitted, reference, exact)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_columns_keep_their_dtype(dtype, tmp_path):
    frame = _frame(dtype=dtype)[FEATURES[:3]]
    reference = sknorm.StandardScaler().fit(frame)
    fitted = sknorm.StandardScaler().fit(sknorm.scan(_table(frame), batch_rows=333))
    _assert_same_fit(fitted, reference, exact=False)
    assert fitted.transform(frame).dtype == reference.transform(frame).dtype


def test_partial_fit_of_sources_equals_partial_fit_of_batches():
    frame = _frame()[FEATURES]
    halves = frame.iloc[:1500], frame.iloc[1500:]
    reference = sknorm.RobustScaler()
    fitted = sknorm.RobustScaler()
    for half in halves:
        reference.partial_fit(half)
        fitted.partial_fit(_table(half))
    assert fitted.quantile_method_ == "sketch"
    # Each table is read in one batch: the sketch sees the same rows in the
    # same order as partial_fit of the frames.
    np.testing.assert_array_equal(fitted.center_, reference.center_)
    np.testing.assert_array_equal(fitted.scale_, reference.scale_)
    # The sketch of the same rows, fed in other batches: its median lies
    # within its deterministic rank bound of the median.
    bound = fitted._stored_statistic("QuantileSketch").rank_error_bound()
    X = frame.to_numpy(dtype=float, na_value=np.nan)
    present = (~np.isnan(X)).sum(axis=0)
    below = np.sum(X < fitted.center_, axis=0) / present
    at_or_below = np.sum(X <= fitted.center_, axis=0) / present
    assert np.all(below <= 0.5 + bound + 1 / present)
    assert np.all(at_or_below >= 0.5 - bound - 1 / present)


def test_exact_false_keeps_one_pass_summaries(tmp_path):
    frame = _frame()[FEATURES]
    fitted = sknorm.RobustScaler().fit(sknorm.scan(_table(frame), exact=False))
    assert fitted.quantile_method_ == "sketch"
    assert sknorm.RobustScaler().fit(frame).quantile_method_ == "exact"


def test_results_do_not_depend_on_the_number_of_threads(tmp_path):
    frame = _frame()[FEATURES]
    directory = _write_files(frame, str(tmp_path))
    fits = []
    for threads in ("1", "2", "3"):
        code = (
            "import sys, pickle, sknorm\n"
            f"s = sknorm.StandardScaler().fit(sknorm.scan({directory!r}, "
            "batch_rows=300))\n"
            "sys.stdout.buffer.write(pickle.dumps((s.mean_, s.var_)))\n"
        )
        env = dict(os.environ, SKNORM_NUM_THREADS=threads)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, check=True
        ).stdout
        fits.append(__import__("pickle").loads(out))
    for mean, var in fits[1:]:
        np.testing.assert_array_equal(mean, fits[0][0])
        np.testing.assert_array_equal(var, fits[0][1])


def test_non_numeric_columns_are_named_unless_excluded():
    frame = _frame()
    table = _table(frame[[*FEATURES, "g"]])
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) 'g'.*columns=") as e:
        sknorm.StandardScaler().fit(table)
    assert "string" in str(e.value)
    fitted = sknorm.StandardScaler().fit(sknorm.scan(table, columns=FEATURES))
    assert list(fitted.feature_names_in_) == FEATURES


def test_empty_source_is_refused(tmp_path):
    frame = _frame()[FEATURES].iloc[:0]
    path = str(tmp_path / "empty.parquet")
    pq.write_table(_table(frame), path)
    for source in (path, _table(frame)):
        with pytest.raises(ValueError, match=r"0 sample.*holds no rows"):
            sknorm.StandardScaler().fit(source)


def test_bad_arguments_get_clear_errors(tmp_path):
    table = _table(_frame()[[*FEATURES, "w"]])
    with pytest.raises(ValueError, match=r"Column\(s\) \['nope'\] are not in"):
        sknorm.scan(table, columns=["f0", "nope"])
    with pytest.raises(ValueError, match="batch_rows must be a positive integer"):
        sknorm.scan(table, batch_rows=0)
    with pytest.raises(TypeError, match="exact must be True or False"):
        sknorm.scan(table, exact="yes")
    with pytest.raises(TypeError, match=r"sknorm\.scan takes a polars LazyFrame"):
        sknorm.scan(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="sample_weight='v' is not a column"):
        sknorm.StandardScaler().fit(table, sample_weight="v")
    with pytest.raises(TypeError, match="must name one of its columns"):
        sknorm.StandardScaler().fit(table, sample_weight=np.ones(N_ROWS))
    with pytest.raises(TypeError, match="names a column, which only a stream"):
        sknorm.StandardScaler().fit(np.ones((3, 2)), sample_weight="w")
    with pytest.raises(FileNotFoundError, match="No Parquet file or directory"):
        sknorm.StandardScaler().fit(str(tmp_path / "missing.parquet"))
    with pytest.raises(FileNotFoundError, match="No file matches the Parquet glob"):
        sknorm.StandardScaler().fit(str(tmp_path / "*.parquet"))
    nulls = table.set_column(
        4, "w", pa.array([None] + [1.0] * (N_ROWS - 1), pa.float64())
    )
    with pytest.raises(ValueError, match=r"column 'w' .* holds 1 null"):
        sknorm.StandardScaler().fit(nulls, sample_weight="w")


def test_a_reader_is_read_once():
    table = _table(_frame()[FEATURES])
    source = sknorm.scan(table.to_reader())
    fitted = sknorm.RobustScaler().fit(source)
    assert fitted.quantile_method_ == "sketch"
    with pytest.raises(ValueError, match="read already: a reader can be read once"):
        sknorm.StandardScaler().fit(source)


def test_a_failed_fit_keeps_the_fitted_state():
    frame = _frame()
    fitted = sknorm.StandardScaler().fit(frame[FEATURES])
    before = copy.deepcopy(fitted.__dict__)
    with pytest.raises(ValueError, match="non-numeric"):
        fitted.fit(_table(frame[[*FEATURES, "g"]]))
    np.testing.assert_array_equal(fitted.mean_, before["mean_"])


def test_progress_reports_batches_and_passes():
    callback = pytest.importorskip("sklearn.callback")
    from ..test_callbacks import RecordingCallback

    assert callback is not None
    table = _table(_frame()[FEATURES])
    recorder = RecordingCallback()
    sknorm.RobustScaler().set_callbacks(recorder).fit(
        sknorm.scan(table, batch_rows=500)
    )
    name, passes = recorder.tree()
    assert name == "fit"
    assert [p[0] for p in passes][:2] == ["pass", "pass"]
    first_pass = passes[0][1]
    assert [b[0] for b in first_pass] == ["batch"] * 6


def test_sources_are_not_imported_by_sknorm():
    # (pandas and scikit-learn import pyarrow and narwhals themselves where
    # they are installed.)
    code = (
        "import sys, pandas, scipy.stats, sklearn.base, sklearn.preprocessing\n"
        "before = set(sys.modules)\n"
        "import sknorm\n"
        "new = [m for m in ('pyarrow', 'polars', 'duckdb', 'narwhals')\n"
        "       if m in sys.modules and m not in before]\n"
        "assert not new, new\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_source_attributes():
    table = _table(_frame()[[*FEATURES, "w"]])
    source = sknorm.scan(table, batch_rows=100).with_weight("w")
    assert isinstance(source, ArrowSource)
    assert source.kind == "table" and source.rereadable and source.exact
    assert source.columns == [*FEATURES, "w"] and source.batch_rows == 100
    assert list(source.metadata_sample().columns) == FEATURES
    sizes = [block.shape for block, _ in source.blocks()]
    assert sizes[0] == (100, 4) and sum(s[0] for s in sizes) == N_ROWS
