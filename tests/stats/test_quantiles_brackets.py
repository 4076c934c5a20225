"""Exact quantiles by bracketing (dense columns of many rows): numpy's
percentiles bit for bit on the data that could mislead the sample — ties at
the windows' bounds, sorted data, misses, NaN, infinity, tiny inputs — on the
compiled and the numpy path alike."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sknorm._kernels import numba_available, use_numba
from sknorm.stats import Quantiles
from sknorm.stats import quantiles as quantiles_module

from .test_quantiles import LEVELS, _numpy_quantiles

paths = pytest.mark.parametrize(
    "compiled",
    [
        pytest.param(
            True,
            marks=pytest.mark.skipif(not numba_available(), reason="needs numba"),
        ),
        False,
    ],
    ids=["numba", "numpy"],
)


@pytest.fixture
def small_brackets(monkeypatch):
    """Bracketing from 64 rows on, with a sample of 32 rows at most."""
    monkeypatch.setattr(quantiles_module, "_BRACKET_MIN_ROWS", 1)
    monkeypatch.setattr(quantiles_module, "_SAMPLE_ROWS", 32)


def _check(X, levels=LEVELS):
    """Quantiles and median equal numpy's, and the direct selection's brackets."""
    q = Quantiles.from_data(X, levels=levels)
    # (At levels 0 and 1 numpy interpolates towards an infinite neighbour,
    # giving NaN, where sknorm returns the minimum or maximum.)
    finite = ~np.isinf(X).any(axis=0)
    expected = _numpy_quantiles(X[:, finite].astype(np.float64), levels)
    np.testing.assert_array_equal(q.values()[:, finite], expected)
    lower, upper, total, value_sum, _ = quantiles_module._selected_order_statistics(
        np.asarray(X), np.asarray(levels, dtype=np.float64), None
    )
    np.testing.assert_array_equal(q.lower, lower)
    np.testing.assert_array_equal(q.upper, upper)
    np.testing.assert_array_equal(q.weight_sum, total)
    np.testing.assert_array_equal(np.isfinite(q._value_sum), np.isfinite(value_sum))
    if 0.5 in levels and finite.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            np.testing.assert_array_equal(
                q.median()[finite],
                np.nanmedian(X[:, finite].astype(np.float64), axis=0),
            )
    return q


def _columns(n, seed=0):
    rng = np.random.default_rng(seed)
    columns = [
        rng.normal(size=n),
        np.round(rng.normal(size=n)),  # few values, heavy ties
        np.where(rng.random(n) < 0.45, 2.0, rng.normal(size=n)),  # one tie, 45%
        np.full(n, 3.5),  # constant
        np.sort(rng.normal(size=n)),  # sorted: the windows fill one task
        np.sort(rng.normal(size=n))[::-1],
        rng.lognormal(sigma=4, size=n),
        np.where(rng.random(n) < 0.97, np.nan, rng.normal(size=n)),  # NaN-heavy
        np.full(n, np.nan),
        np.where(rng.random(n) < 0.02, np.inf, rng.normal(size=n)),
        np.where(rng.random(n) < 0.6, -np.inf, rng.normal(size=n)),  # at -inf
        np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
    ]
    return np.column_stack(columns)


@paths
def test_adversarial_columns_match_numpy(small_brackets, compiled):
    X = _columns(3_000)
    with use_numba(compiled):
        _check(X)
        _check(X, levels=np.array([0.5]))
        _check(X, levels=np.array([0.25, 0.5, 0.75]))


@paths
def test_full_size_path_matches_numpy(compiled):
    # Past the real threshold, with the real sample size.
    n = quantiles_module._BRACKET_MIN_ROWS + 123
    with use_numba(compiled):
        _check(_columns(n, seed=1), levels=np.array([0.25, 0.5, 0.75]))


@paths
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_reduced_precision(small_brackets, compiled, dtype):
    X = _columns(2_000, seed=2)
    X[np.isfinite(X)] = np.clip(X[np.isfinite(X)], -6e4, 6e4)
    X = X.astype(dtype)
    with use_numba(compiled):
        q = _check(X)
    assert q.lower.dtype == np.float64


@paths
@pytest.mark.parametrize("layout", ["fortran", "strided rows", "strided columns"])
def test_layouts(small_brackets, compiled, layout):
    X = _columns(2_001, seed=3)
    if layout == "fortran":
        X = np.asfortranarray(X)
    elif layout == "strided rows":
        X = X[::2]
    else:
        X = np.repeat(X, 2, axis=1)[:, ::2]
    original = X.copy()
    with use_numba(compiled):
        _check(X)
    np.testing.assert_array_equal(X, original)  # the input is never changed


@paths
def test_misses_fall_back_to_direct_selection(small_brackets, monkeypatch, compiled):
    # A two-row sample and no margin: most ranks fall outside their windows.
    monkeypatch.setattr(quantiles_module, "_SAMPLE_ROWS", 2)
    monkeypatch.setattr(quantiles_module, "_BRACKET_Z", 0.0)
    calls = []
    direct = quantiles_module._selected_order_statistics

    def counting(X, levels, sample_weight, **options):
        calls.append(X.shape[1])
        return direct(X, levels, sample_weight, **options)

    monkeypatch.setattr(quantiles_module, "_selected_order_statistics", counting)
    with use_numba(compiled):
        X = _columns(1_000, seed=4)
        q = Quantiles.from_data(X, levels=LEVELS)
    assert calls and calls[0] < X.shape[1]  # some columns were bracketed
    np.testing.assert_array_equal(q.values(), _numpy_quantiles(X, LEVELS))


@paths
def test_adversarial_order_misses(small_brackets, compiled):
    # The rows the sample draws hold the column's largest values: every
    # window lies above the true quantiles.
    n = 4_000
    rng = np.random.default_rng(quantiles_module._SAMPLE_SEED)
    drawn = np.unique(rng.integers(0, n, min(32, n // 4)))
    X = np.random.default_rng(5).normal(size=(n, 3))
    X[drawn] += 100.0
    with use_numba(compiled):
        _check(X)


@pytest.mark.skipif(not numba_available(), reason="needs numba")
def test_overflowing_tasks_run_again_with_exact_room(small_brackets, monkeypatch):
    # No room at all: every task finds more than its buffer holds.
    monkeypatch.setattr(
        quantiles_module,
        "_window_capacity",
        lambda share, n_rows: np.zeros(share.shape, dtype=np.int64),
    )
    with use_numba(True):
        _check(_columns(3_000, seed=6))


@paths
def test_many_levels_merge_windows(small_brackets, compiled):
    X = _columns(2_500, seed=7)
    levels = np.linspace(0, 1, 101)
    with use_numba(compiled):
        _check(X, levels=levels)
        _check(X, levels=np.array([0.5, 0.5000001, 0.25, 0.75]))  # unsorted


@paths
@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_tiny_inputs(monkeypatch, compiled, n):
    monkeypatch.setattr(quantiles_module, "_BRACKET_MIN_ROWS", 1)
    X = _columns(n, seed=8)
    with use_numba(compiled):
        _check(X)


@paths
def test_threads_and_task_sizes_do_not_change_the_result(
    small_brackets, monkeypatch, compiled
):
    X = _columns(5_000, seed=9)
    with use_numba(compiled):
        expected = Quantiles.from_data(X, levels=LEVELS)
        monkeypatch.setenv("SKNORM_NUM_THREADS", "1")
        assert Quantiles.from_data(X, levels=LEVELS) == expected
        monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
        monkeypatch.setattr("sknorm._parallel.TASK_ELEMENTS", 1 << 10)
        assert Quantiles.from_data(X, levels=LEVELS) == expected


matrices = arrays(
    np.float64,
    st.tuples(st.integers(1, 300), st.integers(1, 3)),
    elements=st.one_of(
        st.floats(-1e3, 1e3, allow_nan=False, width=64),
        st.sampled_from([0.0, 1.0, -1.0, np.nan, np.inf, -np.inf]),
    ),
)


@settings(max_examples=60, deadline=None)
@given(X=matrices, level=st.floats(0, 1), compiled=st.booleans())
def test_random_matrices_match_numpy(X, level, compiled):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(quantiles_module, "_BRACKET_MIN_ROWS", 1)
        patch.setattr(quantiles_module, "_SAMPLE_ROWS", 8)
        with use_numba(compiled and numba_available()):
            _check(X, levels=np.array([level, 0.5]))


# ------------------------------------------------------------------ sparse


def _sparse_columns(n, seed=0):
    rng = np.random.default_rng(seed)
    columns = [
        np.zeros(n),  # every value an implicit zero
        np.where(rng.random(n) < 0.01, rng.exponential(size=n), 0.0),  # at 0
        np.where(rng.random(n) < 0.6, rng.normal(size=n), 0.0),  # both signs
        np.where(rng.random(n) < 0.9, -rng.exponential(size=n), 0.0),  # negative
        np.where(rng.random(n) < 0.8, rng.exponential(size=n), 0.0),
        np.where(rng.random(n) < 0.5, np.nan, rng.normal(size=n)),
        np.where(rng.random(n) < 0.3, np.inf, np.where(rng.random(n) < 0.5, -1.0, 0)),
        np.full(n, np.nan),
    ]
    return np.column_stack(columns)


@paths
@pytest.mark.parametrize("container", ["csr", "csc"])
@pytest.mark.parametrize("n", [1, 2, 7, 500])
def test_sparse_counts_match_dense_numpy(compiled, container, n):
    from scipy import sparse

    X = _sparse_columns(n, seed=n)
    matrix = getattr(sparse, f"{container}_matrix")(X)
    # Explicitly stored zeros (of both signs) are zeros too.
    matrix.data[::5] = np.where(np.isnan(matrix.data[::5]), np.nan, 0.0)
    matrix.data[1::7] = np.where(np.isnan(matrix.data[1::7]), np.nan, -0.0)
    dense = matrix.toarray()
    with use_numba(compiled):
        q = Quantiles.from_data(matrix, levels=LEVELS)
    np.testing.assert_array_equal(q.values(), _numpy_quantiles(dense, LEVELS))
    np.testing.assert_array_equal(q.weight_sum, (~np.isnan(dense)).sum(axis=0))
    np.testing.assert_array_equal(
        q.nonfinite_columns(), ~np.isfinite(dense.sum(axis=0))
    )
