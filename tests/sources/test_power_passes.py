"""PowerTransformer.fit on a stream source: the exact maximum likelihood by
the in-memory fit's Newton iterations, each a pass over the source, against
the in-memory fit of the same rows; the one-pass summary where the source is
read once (``exact=False``, a RecordBatchReader)."""

import functools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sknorm
import sknorm.stats._power_exact
from sknorm import PowerTransformer
from sknorm.stats._power_exact import NEWTON_TOLERANCE

from .._tolerances import EPS

pa = pytest.importorskip("pyarrow", reason="pyarrow is an optional dependency")
pq = pytest.importorskip("pyarrow.parquet")

METHODS = ["yeo-johnson", "box-cox"]
N_ROWS = 20_000
BATCH_ROWS = 777
#: The summary's stated accuracy (sknorm.stats.PowerLikelihood).
SUMMARY_DLAMBDA = 2e-4


@functools.cache
def _data():
    """20,000 rows of lognormal, offset normal and gamma columns (all
    positive: Box-Cox takes them too), 5% NaN, and weights with zeros."""
    rng = np.random.default_rng(7)
    X = np.column_stack(
        [
            rng.lognormal(0.0, 1.0, N_ROWS),
            np.abs(rng.normal(10.0, 2.0, N_ROWS)),
            rng.gamma(2.0, 1.5, N_ROWS),
        ]
    )
    X[rng.random(X.shape) < 0.05] = np.nan
    weight = rng.uniform(0.0, 3.0, N_ROWS)
    weight[rng.random(N_ROWS) < 0.1] = 0.0
    return X, weight


def _table():
    X, weight = _data()
    return pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "w": weight})


def _source(kind, tmp_path, weighted, **options):
    columns = ["a", "b", "c"] + (["w"] if weighted else [])
    table = _table()
    if kind == "parquet":
        path = tmp_path / "data.parquet"
        pq.write_table(table, path, row_group_size=3000)
        return sknorm.scan(path, columns=columns, batch_rows=BATCH_ROWS, **options)
    if kind == "reader":
        batches = table.select(columns).to_batches(max_chunksize=BATCH_ROWS)
        reader = pa.RecordBatchReader.from_batches(batches[0].schema, batches)
        return sknorm.scan(reader, **options)
    return sknorm.scan(table, columns=columns, batch_rows=BATCH_ROWS, **options)


def _frame(X):
    """X as the source's columns (the source-fitted estimator knows their
    names)."""
    return pd.DataFrame(X, columns=["a", "b", "c"])


def _fit(source, method, weighted, standardize=True):
    estimator = PowerTransformer(method=method, standardize=standardize)
    return estimator.fit(source, sample_weight="w" if weighted else None)


@functools.cache
def _in_memory(method, weighted, standardize=True):
    X, weight = _data()
    estimator = PowerTransformer(method=method, standardize=standardize)
    return estimator.fit(X, sample_weight=weight if weighted else None)


# --------------------------------------------------------------------------
# The bounds, from the weighted profile log-likelihood per unit weight
# --------------------------------------------------------------------------


def _transform(x, lam, box_cox):
    return stats.boxcox(x, lam) if box_cox else stats.yeojohnson(x, lam)


def _jacobian(x, box_cox):
    return np.log(x) if box_cox else np.sign(x) * np.log1p(np.abs(x))


def _present(column, weight):
    keep = ~np.isnan(column)
    if weight is not None:
        keep &= weight > 0
    w = np.ones(keep.sum()) if weight is None else weight[keep]
    return column[keep], w / w.sum()


def _llf(x, w, lam, box_cox):
    """``-log var_w(y) / 2 + (lambda - 1) mean_w J``: the log-likelihood
    per unit weight (scipy's ``yeojohnson_llf`` / ``boxcox_llf`` over n)."""
    y = _transform(x, lam, box_cox)
    mean = w @ y
    return -0.5 * np.log(w @ (y - mean) ** 2) + (lam - 1) * (w @ _jacobian(x, box_cox))


def _lambda_tolerance(column, weight, lam, box_cox):
    """Bound on the difference of two exact fits of one column whose sums
    are added in different orders.

    Each fit stops after a Newton step ``s`` of at most ``tau max(1,
    |lambda|)`` (``tau = 1e-6``; these columns' logarithms have an ordinary
    spread, so lambda's units are not rescaled), which leaves an error of
    at most ``kappa s**2``, ``kappa = |l''' / (2 l'')|`` at the maximum
    (twice that here for the finite differences, and for l''' and l''
    taken within the step). Its slope, ``mean J - cov(y, y') / var(y)``, is
    formed from sums of ``n`` terms, each within ``8 n eps`` (the raw sums
    lose at most 4 bits to cancellation, or two passes are taken), terms of
    size ``mean|J|``: that moves the root by at most ``8 n eps (2 mean|J| +
    1) / |l''|``. Two fits differ by at most twice the sum.
    """
    x, w = _present(column, weight)
    h = 1e-2
    values = [_llf(x, w, lam + k * h, box_cox) for k in (-2, -1, 0, 1, 2)]
    second = (values[1] - 2 * values[2] + values[3]) / h**2
    third = (values[4] - 2 * values[3] + 2 * values[1] - values[0]) / (2 * h**3)
    kappa = abs(third) / (2 * abs(second))
    step = NEWTON_TOLERANCE * max(1.0, abs(lam))
    truncation = 2 * kappa * step**2
    scale = 2 * (w @ np.abs(_jacobian(x, box_cox))) + 1
    rounding = 8 * len(x) * EPS * scale / abs(second)
    return 2 * (truncation + rounding)


def _output_tolerance(column, weight, lam, box_cox, standardize, dlam):
    """Bound on the difference of the outputs of two fits whose lambdas
    differ by at most ``dlam``: the output's derivative in lambda (central
    differences) times ``dlam``, and, standardized, the rounding of the mean
    and variance from sums of ``n`` terms in different orders (``8 n eps``
    of ``|mean y| / std y``, the cancellation), per value ``1 + |z|``."""

    def output(value):
        y = _transform(np.nan_to_num(column, nan=1.0), value, box_cox)
        if not standardize:
            return y
        x, w = _present(column, weight)
        present = _transform(x, value, box_cox)
        mean = w @ present
        return (y - mean) / np.sqrt(w @ (present - mean) ** 2)

    h = 1e-4
    derivative = np.abs(output(lam + h) - output(lam - h)) / (2 * h)
    tolerance = 2 * derivative * dlam + 8 * EPS * np.abs(output(lam))
    if standardize:
        x, w = _present(column, weight)
        y = _transform(x, lam, box_cox)
        cancellation = 1 + abs(w @ y) / np.sqrt(w @ (y - w @ y) ** 2)
        tolerance += 8 * len(x) * EPS * cancellation * (1 + np.abs(output(lam)))
    return np.where(np.isnan(column), 0.0, tolerance)


def _assert_as_in_memory(fitted, reference, weighted, box_cox, standardize):
    X, weight = _data()
    weight = weight if weighted else None
    got, expected = fitted.transform(_frame(X)), reference.transform(X)
    for j in range(X.shape[1]):
        lam = reference.lambdas_[j]
        tol = _lambda_tolerance(X[:, j], weight, lam, box_cox)
        assert abs(fitted.lambdas_[j] - lam) <= tol, (j, fitted.lambdas_[j], lam)
        atol = _output_tolerance(X[:, j], weight, lam, box_cox, standardize, tol)
        difference = np.abs(got[:, j] - expected[:, j])
        assert np.all(np.isnan(got[:, j]) == np.isnan(expected[:, j]))
        assert np.all(np.nan_to_num(difference) <= atol), j


# --------------------------------------------------------------------------
# A source read again: the in-memory fit
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kind", ["table", "parquet"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("standardize", [True, False])
def test_fit_on_a_source_is_the_in_memory_exact_fit(
    method, kind, weighted, standardize, tmp_path
):
    source = _source(kind, tmp_path, weighted)
    fitted = _fit(source, method, weighted, standardize)
    reference = _in_memory(method, weighted, standardize)
    _assert_as_in_memory(fitted, reference, weighted, method == "box-cox", standardize)
    if standardize:
        np.testing.assert_allclose(
            fitted._scaler.n_samples_seen_,
            reference._scaler.n_samples_seen_,
            rtol=2 * N_ROWS * EPS,
        )


@pytest.mark.parametrize("method", METHODS)
def test_sums_that_lost_precision_take_the_two_pass_moments(method, monkeypatch):
    """Where the raw sums of a pass cancel (here: always), each block's
    moments are computed by the two-pass method and merged by Chan's update
    in the order of the blocks, as the in-memory pass does with its row
    blocks."""
    import sknorm.stats._power_kernels as kernels

    calls = []
    two_pass = kernels.dense_phi_two_pass

    def counted(*args, **kwargs):
        calls.append(args[0].shape[0])
        return two_pass(*args, **kwargs)

    monkeypatch.setattr(kernels, "_CANCELLATION_LIMIT", 0.0)
    # The in-memory pass calls it from the kernels, a block's from the plan.
    monkeypatch.setattr(kernels, "dense_phi_two_pass", counted)
    monkeypatch.setattr(sknorm.stats._power_exact, "dense_phi_two_pass", counted)
    X, weight = _data()
    table = _table()
    fitted = PowerTransformer(method=method).fit(
        sknorm.scan(table, batch_rows=BATCH_ROWS), sample_weight="w"
    )
    source_calls = len(calls)
    reference = PowerTransformer(method=method).fit(X, sample_weight=weight)
    assert source_calls > len(calls) - source_calls > 0
    _assert_as_in_memory(fitted, reference, True, method == "box-cox", True)


@pytest.mark.parametrize("method", METHODS)
def test_the_bound_tells_the_passes_from_the_summary(method, tmp_path):
    """The summary of one pass lies outside the bound the passes meet: the
    comparison above would see a fit that skipped them."""
    summary = _fit(_source("table", tmp_path, False, exact=False), method, False)
    X, _ = _data()
    reference = _in_memory(method, False).lambdas_
    for j in range(X.shape[1]):
        tol = _lambda_tolerance(X[:, j], None, reference[j], method == "box-cox")
        assert abs(summary.lambdas_[j] - reference[j]) > tol


def test_equal_weights_are_no_weights(tmp_path):
    """Equal weights (any value, zeros aside) fit as no weights do."""
    X, _ = _data()
    weight = np.full(N_ROWS, 3.0)
    weight[::7] = 0.0
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "w": weight})
    fitted = PowerTransformer().fit(
        sknorm.scan(table, batch_rows=BATCH_ROWS), sample_weight="w"
    )
    reference = PowerTransformer().fit(X[weight > 0])
    for j in range(X.shape[1]):
        column = X[weight > 0, j]
        lam = reference.lambdas_[j]
        tol = _lambda_tolerance(column, None, lam, box_cox=False)
        assert abs(fitted.lambdas_[j] - lam) <= tol


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_small_source_keeps_its_rows_and_is_the_in_memory_fit(method, weighted):
    """At most 1024 rows (3 columns) are kept as they are: the fit of the
    merged rows is the in-memory fit, bit for bit."""
    X, weight = _data()
    X, weight = X[:900], weight[:900]
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "w": weight})
    columns = ["a", "b", "c"] + (["w"] if weighted else [])
    fitted = PowerTransformer(method=method).fit(
        sknorm.scan(table, columns=columns, batch_rows=100),
        sample_weight="w" if weighted else None,
    )
    reference = PowerTransformer(method=method).fit(
        X, sample_weight=weight if weighted else None
    )
    np.testing.assert_array_equal(fitted.lambdas_, reference.lambdas_)
    np.testing.assert_array_equal(fitted.transform(_frame(X)), reference.transform(X))


# --------------------------------------------------------------------------
# A source read once: the summary
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_one_pass_keeps_the_summary(method, weighted, tmp_path):
    """``exact=False`` fits the merged summary, as ``partial_fit`` of the
    same source does, within the summary's stated accuracy."""
    fitted = _fit(_source("table", tmp_path, weighted, exact=False), method, weighted)
    streamed = PowerTransformer(method=method).partial_fit(
        _source("table", tmp_path, weighted), sample_weight="w" if weighted else None
    )
    np.testing.assert_array_equal(fitted.lambdas_, streamed.lambdas_)
    reference = _in_memory(method, weighted).lambdas_
    assert np.all(np.abs(fitted.lambdas_ - reference) <= SUMMARY_DLAMBDA)
    assert not np.all(fitted.lambdas_ == reference)


@pytest.mark.parametrize("method", METHODS)
def test_a_reader_is_read_once_and_gets_the_summary(method, tmp_path):
    reader = _source("reader", tmp_path, False)
    fitted = _fit(reader, method, False)
    summary = _fit(_source("table", tmp_path, False, exact=False), method, False)
    np.testing.assert_array_equal(fitted.lambdas_, summary.lambdas_)
    reference = _in_memory(method, False).lambdas_
    assert np.all(np.abs(fitted.lambdas_ - reference) <= SUMMARY_DLAMBDA)
