"""Blocked, threaded kernels: results independent of threads and of the cut into
tasks and blocks, the slow paths they fall back to, and the infinity checks
fused into the statistics pass and into the affine map."""

import itertools
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from sknorm import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    RobustScaler,
    StandardScaler,
    _parallel,
)
from sknorm._affine import AffineMap
from sknorm._parallel import BlockPlan, fold, map_tasks
from sknorm.rows import _sparse as rows_sparse
from sknorm.stats import Extrema, Moments
from sknorm.stats import quantiles as quantiles_module
from sknorm.stats import sketch as sketch_module

from ._tolerances import assert_close, m2_rtol, mean_atol, sum_rtol


@pytest.fixture
def small_cuts(monkeypatch):
    """Cut small arrays into many tasks of a few small blocks each."""
    monkeypatch.setattr(_parallel, "BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_ROWS", 2)
    monkeypatch.setattr(_parallel, "TASK_ELEMENTS", 300)


def _with_threads(monkeypatch, n, function):
    monkeypatch.setenv("SKNORM_NUM_THREADS", str(n))
    return function()


def _data(rng, n_rows=500, n_cols=7, dtype=np.float64):
    X = rng.normal(size=(n_rows, n_cols)) * [1, 10, 1e-3, 5, 1, 1, 2][:n_cols]
    X += [0, 1e6, -3, 0, 1e9, 0, 7][:n_cols]
    return X.astype(dtype)


def test_plan_covers_all_rows_in_whole_widenable_blocks(small_cuts):
    plan = BlockPlan(1001, 3)
    assert plan.lanes > 1 and plan.block_rows % plan.lanes == 0
    covered = [rows for task in plan.tasks() for rows in plan.blocks(task)]
    assert covered[0].start == 0 and covered[-1].stop == 1001
    assert all(a.stop == b.start for a, b in itertools.pairwise(covered))
    assert len(plan.tasks()) > 2
    block = np.arange(plan.block_rows * 3.0).reshape(-1, 3)
    view, lanes = plan.widen(block)
    assert lanes == plan.lanes and np.shares_memory(view, block)
    np.testing.assert_array_equal(fold(view.sum(axis=0), lanes, np.add), block.sum(0))
    # A block that cannot be widened (odd row count) is returned as it is.
    assert plan.widen(block[1:])[1] == 1


def test_map_tasks_keeps_order_and_raises(monkeypatch):
    monkeypatch.setenv("SKNORM_NUM_THREADS", "2")
    assert map_tasks(lambda i: i * i, range(20)) == [i * i for i in range(20)]

    def fail_on_three(i):
        if i == 3:
            raise KeyError(i)
        return i

    with pytest.raises(KeyError):
        map_tasks(fail_on_three, range(8))


def test_thread_count_from_environment(monkeypatch):
    monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
    assert _parallel.n_threads() == 3
    monkeypatch.setenv("SKNORM_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="SKNORM_NUM_THREADS"):
        _parallel.n_threads()


@pytest.mark.parametrize("n_cols", [1, 3, 7])
@pytest.mark.parametrize("weighted", [False, True])
def test_results_do_not_depend_on_threads(
    monkeypatch, small_cuts, rng, n_cols, weighted
):
    X = _data(rng, n_cols=n_cols)
    X[rng.random(X.shape) < 0.05] = np.nan
    weight = rng.random(len(X)) if weighted else None
    affine = AffineMap(rng.normal(size=n_cols), rng.random(n_cols) + 0.5)

    def run():
        return (
            Moments.from_data(X, weight),
            Extrema.from_data(X, weight),
            affine.transform(X, in_place=False),
        )

    one = _with_threads(monkeypatch, 1, run)
    two = _with_threads(monkeypatch, 2, run)
    assert one[0] == two[0] and one[1] == two[1]
    np.testing.assert_array_equal(one[2], two[2])


def _reference_moments(X, weight=None):
    weight = np.ones(len(X)) if weight is None else weight
    present = ~np.isnan(X)
    n = weight @ present
    with np.errstate(invalid="ignore"):
        mean = (weight @ np.where(present, X, 0.0)) / n
    m2 = weight @ np.where(present, (X - mean) ** 2, 0.0)
    return n, mean, m2


@pytest.mark.parametrize("weighted", [False, True])
def test_many_tasks_match_reference(small_cuts, rng, weighted):
    X = _data(rng)
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 5] = np.nan  # a column without data
    weight = rng.random(len(X)) * 3 if weighted else None
    m = Moments.from_data(X, weight)
    n, mean, m2 = _reference_moments(X, weight)
    # Sums of up to 500 terms in sknorm's blocks and in BLAS's order; means
    # absolute (two columns' cancel), the 1e9-offset column's m2 relative to
    # its mean's error squared over its variance (m2_rtol).
    np.testing.assert_allclose(m.weight_sum, n, rtol=sum_rtol(len(X)))
    assert_close(m.mean, mean, mean_atol(X, weight))
    assert_close(m.m2, m2, m2_rtol(X, weight) * m2)
    e = Extrema.from_data(X, weight)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_array_equal(e.minimum, np.nanmin(X, axis=0))


def test_drift_takes_the_careful_path(small_cuts):
    """A column whose first rows are far from the rest (in standard deviations)
    would lose precision to cancellation in the shifted sums."""
    column = np.concatenate([np.zeros(20), 1e8 + np.arange(480.0) % 3])
    X = np.column_stack([column, column[::-1], np.sort(column)])
    m = Moments.from_data(X)
    _n, mean, m2 = _reference_moments(X)
    # Integers below 2**53: every sum is exact, in any order, and the means
    # differ by their last roundings only; the deviations from them are then
    # exact too (Sterbenz), so m2 errs by (n + 2) eps ~ 1e-13 per side.
    np.testing.assert_allclose(m.mean, mean, rtol=1e-15)
    np.testing.assert_allclose(m.m2, m2, rtol=1e-12)


def test_float32_blocks_accumulate_in_float64(small_cuts, rng):
    X = (1e4 + rng.normal(size=(999, 3))).astype(np.float32)
    m = Moments.from_data(X)
    _n, mean, m2 = _reference_moments(X.astype(np.float64))
    # float32 values in [2**13, 2**14) are multiples of 2**-10, and 999 of
    # them sum below 2**24: every sum is exact in float64, in any order.
    np.testing.assert_allclose(m.mean, mean, rtol=1e-15)
    assert_close(m.m2, m2, m2_rtol(X) * m2)


def test_sparse_large_offset_column_takes_the_two_pass_path(rng):
    X = sparse.random(300, 4, density=0.3, format="csr", random_state=0).toarray()
    X[:, 2] = 1e9 + rng.normal(size=300)  # fully stored, mean >> spread
    for fmt in ("csr", "csc"):
        m = Moments.from_data(sparse.csr_array(X).asformat(fmt))
        _n, mean, m2 = _reference_moments(X)
        # Sums of 300 terms in two orders (1e9 + N(0, 1) is not exact).
        assert_close(m.mean, mean, mean_atol(X))
        assert_close(m.m2, m2, m2_rtol(X) * m2)


@pytest.mark.parametrize(
    "estimator", [StandardScaler(), MinMaxScaler(), MaxAbsScaler(clip=True)], ids=str
)
@pytest.mark.parametrize("n_cols", [2, 9])
def test_infinity_found_in_any_block(small_cuts, rng, estimator, n_cols):
    X = rng.normal(size=(400, n_cols))
    X[:, 1] = np.nan  # non-finite statistics that are not infinity
    fitted = clone(estimator).fit(X)
    for row in (0, 217, 399):
        bad = X.copy()
        bad[row, n_cols - 1] = -np.inf
        with pytest.raises(ValueError, match=rf"infinity in feature\(s\) {n_cols - 1}"):
            clone(estimator).fit(bad)
        with pytest.raises(ValueError, match=rf"feature\(s\) {n_cols - 1}"):
            fitted.transform(bad)
        with pytest.raises(ValueError, match=rf"feature\(s\) {n_cols - 1}"):
            fitted.inverse_transform(bad)


def test_infinity_in_a_row_of_zero_weight_is_rejected():
    X = np.array([[1.0, 2.0], [np.inf, 3.0], [4.0, 5.0]])
    weight = np.array([1.0, 0.0, 1.0])
    for estimator in (StandardScaler(), MinMaxScaler(), MaxAbsScaler()):
        with pytest.raises(ValueError, match=r"infinity in feature\(s\) 0"):
            estimator.fit(X, sample_weight=weight)


def test_copy_false_with_infinity_leaves_the_array_untouched(small_cuts, rng):
    X = rng.normal(size=(300, 4))
    X[250, 2] = np.inf
    fitted = StandardScaler(copy=False).fit(rng.normal(size=(50, 4)))
    before = X.copy()
    with pytest.raises(ValueError, match=r"feature\(s\) 2"):
        fitted.transform(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_infinity_found_in_any_chunk(monkeypatch, fmt):
    from sknorm import _affine

    monkeypatch.setattr(_affine, "_SPARSE_CHUNK", 7)
    X = sparse.random(60, 5, density=0.5, format=fmt, random_state=1)
    fitted = MaxAbsScaler(clip=True).fit(X)
    X = X.copy()
    X.data[-3] = np.inf
    column = int(X.tocoo().col[np.isinf(X.tocoo().data)][0])
    with pytest.raises(ValueError, match=rf"feature\(s\) {column}"):
        fitted.transform(X)
    scaled = fitted.transform(sparse.random(60, 5, density=0.5, format=fmt))
    assert scaled.format == fmt


# --- The shared pool and its thread count ---------------------------------


def test_tasks_run_on_exactly_the_granted_threads(monkeypatch):
    """Each of the first ``k`` tasks waits for the others: they can only all
    pass if ``k`` distinct threads (the caller among them) took them."""
    monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
    barrier = threading.Barrier(3, timeout=30)
    seen = []

    def task(i):
        seen.append(threading.get_ident())
        if i < 3:
            barrier.wait()
        return i

    assert map_tasks(task, range(12)) == list(range(12))
    assert threading.get_ident() in seen and len(set(seen)) == 3


def test_a_failing_task_stops_the_others_and_leaves_none_running(monkeypatch):
    monkeypatch.setenv("SKNORM_NUM_THREADS", "2")
    started, finished = [], []

    def task(i):
        started.append(i)
        if i == 1:
            raise KeyError(i)
        time.sleep(0.01)
        finished.append(i)

    with pytest.raises(KeyError):
        map_tasks(task, range(50))
    # Nothing runs once the call has raised, and tasks were taken in order.
    count = len(finished)
    time.sleep(0.05)
    assert len(finished) == count and len(started) < 50
    assert sorted(started) == list(range(len(started)))


def test_nested_maps_run_in_the_thread_of_their_task(monkeypatch):
    monkeypatch.setenv("SKNORM_NUM_THREADS", "2")

    def outer(i):
        return map_tasks(lambda j: (threading.get_ident(), i * j), range(4))

    for i, inner in enumerate(map_tasks(outer, range(6))):
        assert len({ident for ident, _ in inner}) == 1
        assert [value for _, value in inner] == [i * j for j in range(4)]


@pytest.fixture
def pool_calls(monkeypatch):
    """The thread counts of the calls that used the pool, and the threads that
    ran their tasks."""
    calls = []
    shared = _parallel._shared

    def recording(function, tasks, threads):
        idents = set()
        calls.append((threads, idents))

        def run(task):
            idents.add(threading.get_ident())
            return function(task)

        return shared(run, tasks, threads)

    monkeypatch.setattr(_parallel, "_shared", recording)
    return calls


def _many_tasks_everywhere(monkeypatch):
    """Cut every kernel's small work into many tasks, all worth sharing."""
    monkeypatch.setattr(_parallel, "BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(_parallel, "MIN_BLOCK_ROWS", 2)
    monkeypatch.setattr(_parallel, "TASK_ELEMENTS", 300)
    monkeypatch.setattr(quantiles_module, "_GROUP_BYTES", 1)
    monkeypatch.setattr(quantiles_module, "_PARALLEL_MIN_VALUES", 1)
    monkeypatch.setattr(sketch_module, "_BLOCK_BYTES", 1)
    monkeypatch.setattr(sketch_module, "_PARALLEL_MIN_VALUES", 1)
    chunks = rows_sparse._major_chunks
    monkeypatch.setattr(
        rows_sparse, "_major_chunks", lambda indptr: chunks(indptr, 200)
    )


_KERNELS = ["moments", "extrema", "quantiles", "sketch", "rows"]


def _kernel_calls(calls, X, X_csr):
    """The pool calls of each kernel of ``_every_kernel``, by kernel."""
    by_kernel = {}
    steps = [
        lambda: StandardScaler().fit(X),
        lambda: MinMaxScaler().fit(X),
        lambda: RobustScaler(with_centering=False).fit(X),
        lambda: RobustScaler().partial_fit(X),
        lambda: Normalizer().fit_transform(X_csr),
    ]
    for name, step in zip(_KERNELS, steps, strict=True):
        calls.clear()
        step()
        by_kernel[name] = list(calls)
    return by_kernel


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_kernel_honours_sknorm_num_threads(monkeypatch, pool_calls, rng, threads):
    _many_tasks_everywhere(monkeypatch)
    monkeypatch.setenv("SKNORM_NUM_THREADS", str(threads))
    X = _data(rng, n_rows=400, n_cols=5)
    X_csr = sparse.random(400, 30, density=0.3, format="csr", random_state=0)
    for name, calls in _kernel_calls(pool_calls, X, X_csr).items():
        if threads == 1:
            assert calls == [], f"{name} used the pool with one thread"
            continue
        assert calls, f"{name} never used the pool"
        for granted, idents in calls:
            assert granted == threads, name
            assert 1 <= len(idents) <= threads, name


def test_results_do_not_depend_on_the_thread_count(monkeypatch, rng):
    _many_tasks_everywhere(monkeypatch)
    X = _data(rng, n_rows=400, n_cols=5)
    X_csr = sparse.random(400, 30, density=0.3, format="csr", random_state=0)
    results = []
    for threads in ["1", "3"]:
        monkeypatch.setenv("SKNORM_NUM_THREADS", threads)
        robust = RobustScaler().fit(X)
        sketch = RobustScaler().partial_fit(X)
        results.append(
            [
                StandardScaler().fit_transform(X),
                MinMaxScaler().fit_transform(X),
                robust.center_,
                robust.scale_,
                sketch.center_,
                sketch.scale_,
                Normalizer().fit_transform(X_csr).toarray(),
            ]
        )
    for one, three in zip(*results, strict=True):
        np.testing.assert_array_equal(one, three)


@pytest.fixture
def no_thread_settings(monkeypatch):
    """No sknorm or OpenMP setting in the environment, and 8 usable cores, so
    that only the setting a test makes limits the count."""
    monkeypatch.delenv("SKNORM_NUM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_parallel, "_usable_cores", lambda: 8)


def test_omp_num_threads_limits_the_count(monkeypatch, no_thread_settings):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _parallel.n_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3,1")  # sknorm's threads: level one
    assert _parallel.n_threads() <= 3
    monkeypatch.setenv("SKNORM_NUM_THREADS", "5")  # sknorm's own setting wins
    assert _parallel.n_threads() == 5


def test_omp_num_threads_in_a_fresh_process():
    code = "from sknorm import _parallel; print(_parallel.n_threads())"
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("SKNORM_NUM_THREADS", "OMP_NUM_THREADS")
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "1"


@pytest.mark.skipif(
    not _parallel._openmp_runtimes(),
    reason="no OpenMP runtime loaded: threadpoolctl has no limit to set",
)
def test_threadpool_limits_are_honoured(
    monkeypatch, pool_calls, no_thread_settings, rng
):
    _many_tasks_everywhere(monkeypatch)
    X = _data(rng, n_rows=400, n_cols=5)
    X_csr = sparse.random(400, 30, density=0.3, format="csr", random_state=0)
    with threadpool_limits(limits=3):
        assert _parallel.n_threads() == 3
        for name, calls in _kernel_calls(pool_calls, X, X_csr).items():
            assert calls and {granted for granted, _ in calls} == {3}, name
        with threadpool_limits(limits=1, user_api="openmp"):
            assert _parallel.n_threads() == 1
        with threadpool_limits(limits=1):
            assert _parallel.n_threads() == 1
            kernels = _kernel_calls(pool_calls, X, X_csr)
            assert all(calls == [] for calls in kernels.values())
        assert _parallel.n_threads() == 3


def _sknorm_threads(estimator, X, y):
    """Scorer: the threads that may run sknorm's tasks in this process (the
    calling thread and the pool's threads alive)."""
    names = [thread.name for thread in threading.enumerate()]
    return 1 + sum(name.startswith("sknorm") for name in names)


def _tasks_per_fit(estimator, X, y):
    """Scorer: the number of tasks sknorm cuts this fold into."""
    return len(BlockPlan(*X.shape).tasks())


def test_grid_search_workers_run_no_more_threads_than_cores(
    monkeypatch, no_thread_settings, rng
):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(_parallel, "_usable_cores", lambda: cores)
    # Each training fold is cut into several tasks: a worker that ignored the
    # limit would run a pool of threads on it.
    X = rng.normal(size=(2 * _parallel.TASK_ELEMENTS // 4 + 1000, 8))
    y = (X[:, 0] > 0).astype(int)
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]),
        {"model__C": [1.0]},
        scoring={"threads": _sknorm_threads, "tasks": _tasks_per_fit},
        refit=False,
        cv=2,
        n_jobs=2,
    )
    search.fit(X, y)
    results = search.cv_results_
    folds = [f"split{i}_test_" for i in range(2)]
    assert min(results[f + "tasks"].min() for f in folds) >= 1
    threads = np.concatenate([results[f + "threads"] for f in folds])
    # Two workers at a time: together no more threads than cores.
    assert threads.max() <= max(1, cores // 2)
