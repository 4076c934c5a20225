"""QuantileSketch: exact while small, rank error within the documented bound on
hard distributions fed in many chunks, merge in any grouping, sparse zeros,
weights, sampling, plain-array state."""

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from sknorm.stats import Quantiles, QuantileSketch
from sknorm.stats import sketch as sketch_module

LEVELS = np.array([0.01, 0.25, 0.5, 0.75, 0.99])
#: The accuracy QuantileSketch documents at its default size.
DOCUMENTED_ERROR = 0.01


def rank_errors(data, estimates, levels):
    """Normalized rank error of each estimate: how far its level lies from the
    range of ranks the estimate occupies in the data (0 inside it)."""
    data = np.sort(data[~np.isnan(data)])
    n = data.shape[0]
    below = np.searchsorted(data, estimates, side="left") / n
    at_or_below = np.searchsorted(data, estimates, side="right") / n
    return np.maximum(0.0, np.maximum(below - levels, levels - at_or_below))


def hard_columns(n, seed=0):
    """Skewed, heavy-tailed, discrete, sorted and drifting data."""
    rng = np.random.default_rng(seed)
    ties = rng.normal(size=n)
    ties[rng.random(n) < 0.3] = 1.0  # 30% of the values tie
    return np.column_stack(
        [
            rng.lognormal(sigma=2, size=n),
            rng.standard_cauchy(size=n),
            rng.pareto(1.1, size=n),
            ties,
            np.round(rng.normal(size=n) * 3),  # few distinct values
            np.sort(rng.normal(size=n)),
            rng.normal(size=n) + np.linspace(0, 30, n),  # drifting
        ]
    )


def sketch_in_chunks(X, n_chunks, **kwargs):
    sketch = None
    for chunk in np.array_split(X, n_chunks):
        part = QuantileSketch.from_data(chunk, **kwargs)
        sketch = part if sketch is None else sketch.merge(part)
    return sketch


def sketch_by_tree(X, n_chunks, **kwargs):
    parts = [QuantileSketch.from_data(c, **kwargs) for c in np.array_split(X, n_chunks)]
    while len(parts) > 1:
        parts = [
            parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i]
            for i in range(0, len(parts), 2)
        ]
    return parts[0]


def worst_errors(X, sketch):
    estimates = sketch.quantiles(LEVELS).values()
    return np.array(
        [rank_errors(X[:, j], estimates[:, j], LEVELS).max() for j in range(X.shape[1])]
    )


@pytest.mark.parametrize(
    ("n", "n_chunks"), [(100_000, 100), (300_000, 30)], ids=["1e5x100", "3e5x30"]
)
@pytest.mark.parametrize("build", [sketch_in_chunks, sketch_by_tree])
def test_rank_error_within_documented_bound(n, n_chunks, build):
    X = hard_columns(n)
    sketch = build(X, n_chunks)
    errors = worst_errors(X, sketch)
    assert errors.max() <= DOCUMENTED_ERROR, errors
    assert np.all(errors <= sketch.rank_error_bound()), (
        errors,
        sketch.rank_error_bound(),
    )
    # Memory per column: at most about 3k items (plus two per level).
    assert sketch.column_sizes.max() <= 3 * int(sketch.k) + 2 * 40
    assert sketch.nbytes() / X.shape[1] < 15_000


def test_one_value_at_a_time_stream():
    rng = np.random.default_rng(1)
    x = rng.lognormal(size=1500)
    sketch = sketch_in_chunks(x[:, None], 1500, k=16)
    error = rank_errors(x, sketch.quantiles(LEVELS).values()[:, 0], LEVELS).max()
    assert error <= sketch.rank_error_bound()[0]
    assert sketch.column_sizes[0] < 3 * 16 + 2 * 12


def test_exact_while_small_and_equal_to_quantiles():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    weight = rng.integers(0, 3, size=150).astype(float)
    streamed = sketch_in_chunks(X, 7)
    assert streamed.compaction_error.max() == 0
    assert streamed.quantiles(LEVELS) == Quantiles.from_data(X, levels=LEVELS)
    weighted = QuantileSketch.from_data(X, weight)
    assert weighted.quantiles(LEVELS) == Quantiles.from_data(X, weight, levels=LEVELS)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_zeros_are_counted_not_stored(fmt):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 3)) * (rng.random((5000, 3)) < 0.04)
    X[:, 2] = -np.abs(X[:, 2])
    X[rng.random(X.shape) < 0.05] = np.nan
    X_sparse = sparse.csr_array(X).asformat(fmt)
    sketch = QuantileSketch.from_data(X_sparse)
    assert sketch.column_sizes.max() <= (~np.isnan(X) & (X != 0)).sum(axis=0).max()
    np.testing.assert_array_equal(sketch.weight_sum(), (~np.isnan(X)).sum(axis=0))
    # Few stored values: nothing is compacted, so the result is exact.
    assert sketch.quantiles(LEVELS) == Quantiles.from_data(X_sparse, levels=LEVELS)
    big = sparse.random(200_000, 2, density=0.3, format=fmt, random_state=0)
    big.data -= 0.5
    estimates = QuantileSketch.from_data(big).quantiles(LEVELS).values()
    dense = big.toarray()
    for j in range(2):
        assert (
            rank_errors(dense[:, j], estimates[:, j], LEVELS).max() < DOCUMENTED_ERROR
        )


def test_weighted_sketch_within_its_bound():
    rng = np.random.default_rng(4)
    x = rng.lognormal(size=60_000)
    weight = rng.integers(1, 4, size=60_000)
    sketch = None
    for rows in np.array_split(np.arange(60_000), 30):
        part = QuantileSketch.from_data(x[rows, None], weight[rows])
        sketch = part if sketch is None else sketch.merge(part)
    repeated = np.repeat(x, weight)
    error = rank_errors(repeated, sketch.quantiles(LEVELS).values()[:, 0], LEVELS)
    assert error.max() <= min(DOCUMENTED_ERROR, sketch.rank_error_bound()[0])
    assert sketch.weight_sum()[0] == weight.sum()


def test_sampled_sketch():
    X = hard_columns(200_000, seed=5)[:, :3]
    sketch = QuantileSketch.from_data(X, sample_size=2**14)
    errors = worst_errors(X, sketch)
    assert np.all(errors <= sketch.rank_error_bound())
    assert errors.max() < 0.02
    np.testing.assert_allclose(sketch.weight_sum(), 200_000)
    # A sample at least as large as the data is the data.
    small = X[:1000]
    assert QuantileSketch.from_data(small, sample_size=1000) == (
        QuantileSketch.from_data(small)
    )


def test_fast_path_equals_generic_compaction():
    """The 2-D fast path of dense, unweighted, NaN-free columns makes the same
    draws and decisions as the generic compaction of flat items."""
    X = np.random.default_rng(6).normal(size=(20_000, 3))
    fast = QuantileSketch.from_data(X)
    generic = QuantileSketch(
        column_sizes=np.full(3, 20_000),
        values=X.T.ravel(),
        weights=np.ones(60_000),
        zero_weight=np.zeros(3),
        compaction_error=np.zeros(3),
        value_count=np.full(3, 20_000.0),
        k=np.int64(sketch_module.DEFAULT_K),
        seed=np.uint64(sketch_module._INITIAL_SEED),
    )._compress()
    assert fast.quantiles(LEVELS) == generic.quantiles(LEVELS)
    np.testing.assert_array_equal(fast.compaction_error, generic.compaction_error)


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 800), min_size=3, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_merge_grouping_keeps_the_bound(sizes, seed):
    """(a + b) + c and a + (b + c): both within the bound of the union."""
    rng = np.random.default_rng(seed)
    parts = [rng.standard_cauchy(size=(n, 1)) for n in sizes]
    a, b, c = (QuantileSketch.from_data(p, k=8) for p in parts)
    union = np.concatenate(parts)[:, 0]
    for merged in (a.merge(b).merge(c), a.merge(b.merge(c))):
        assert merged.weight_sum()[0] == union.shape[0]
        estimates = merged.quantiles(LEVELS).values()[:, 0]
        assert rank_errors(union, estimates, LEVELS).max() <= (
            merged.rank_error_bound()[0] + 1e-12
        )
        assert merged.column_sizes[0] <= 3 * 8 + 2 * 12


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(0, 60), min_size=3, max_size=3))
def test_merge_is_exactly_associative_while_small(sizes):
    rng = np.random.default_rng(sum(sizes))
    parts = [rng.normal(size=(n, 2)) for n in sizes]
    a, b, c = (QuantileSketch.from_data(p) for p in parts)
    left = a.merge(b).merge(c).quantiles(LEVELS)
    right = a.merge(b.merge(c)).quantiles(LEVELS)
    assert left == right
    if sum(sizes):
        assert left == Quantiles.from_data(np.concatenate(parts), levels=LEVELS)


def test_state_round_trip_pickle_and_reproducibility():
    X = hard_columns(20_000)
    sketch = sketch_in_chunks(X, 5)
    state = sketch.to_state()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k != "statistic")
    assert QuantileSketch.from_state(state) == sketch
    assert pickle.loads(pickle.dumps(sketch)) == sketch
    assert sketch_in_chunks(X, 5) == sketch  # seeded: the same data, the same sketch


def test_merge_and_parameter_errors():
    a = QuantileSketch.from_data(np.ones((3, 2)))
    with pytest.raises(ValueError, match="different sizes"):
        a.merge(QuantileSketch.from_data(np.ones((3, 2)), k=64))
    with pytest.raises(ValueError, match="2 features"):
        a.merge(QuantileSketch.from_data(np.ones((3, 1))))
    with pytest.raises(ValueError, match="k must be an integer"):
        QuantileSketch.from_data(np.ones((3, 2)), k=4)


def test_column_blocks_and_threads_do_not_change_the_sketch(monkeypatch):
    X = hard_columns(30_000)
    expected = QuantileSketch.from_data(X)
    sampled = QuantileSketch.from_data(X, sample_size=5_000)
    monkeypatch.setattr(sketch_module, "_BLOCK_BYTES", 1)  # one column per block
    monkeypatch.setattr(sketch_module, "_PARALLEL_MIN_VALUES", 1)
    monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
    assert QuantileSketch.from_data(X) == expected
    assert QuantileSketch.from_data(X, sample_size=5_000) == sampled


def test_from_columns_equals_from_data_padded_with_nan():
    """Ragged columns give the sketch of the matrix that holds them, NaN-padded."""
    rng = np.random.default_rng(7)
    X = hard_columns(5_000)
    X[rng.random(X.shape) < 0.4] = np.nan
    weights = rng.integers(0, 3, size=len(X)).astype(float)
    columns, rows = np.nonzero(~np.isnan(X.T))
    for weight in (None, weights):
        ragged = QuantileSketch.from_columns(
            X[rows, columns],
            columns,
            X.shape[1],
            None if weight is None else weight[rows],
            k=64,
        )
        padded = QuantileSketch.from_data(X, weight, k=64)
        assert ragged.quantiles(LEVELS) == padded.quantiles(LEVELS)
        np.testing.assert_array_equal(ragged.weight_sum(), padded.weight_sum())
        np.testing.assert_array_equal(
            ragged.rank_error_bound(), padded.rank_error_bound()
        )
    with pytest.raises(ValueError, match="k must be an integer"):
        QuantileSketch.from_columns([1.0], [0], 1, k=2)


@pytest.mark.parametrize("fmt", [None, "csr"])
def test_values_at_ranks_within_the_bound(fmt):
    """The value returned for a rank occupies ranks within the bound of it."""
    X = hard_columns(50_000)[:, :4]
    if fmt:
        X = np.where(np.abs(X) < 1, 0.0, X)  # implicit zeros, counted apart
    parts = [
        QuantileSketch.from_data(sparse.csr_array(chunk) if fmt else chunk)
        for chunk in np.array_split(X, 10)
    ]
    sketch = parts[0]
    for part in parts[1:]:
        sketch = sketch.merge(part)
    if fmt:
        assert np.all(sketch.zero_weight > 0)
    total = sketch.weight_sum()
    ranks = np.array([0.0, 0.1, 0.5, 0.9, 1.0])[:, None] * (total - 1)
    found = sketch.values_at_ranks(ranks)
    bound = sketch.rank_error_bound() * total
    for j in range(X.shape[1]):
        column = np.sort(X[:, j])
        below = np.searchsorted(column, found[:, j], side="left")
        through = np.searchsorted(column, found[:, j], side="right")
        # the value's ranks [below, through) lie within the bound of the rank
        assert np.all(below <= ranks[:, j] + bound[j])
        assert np.all(through > ranks[:, j] - bound[j])
    exact = QuantileSketch.from_data(X[:100])  # small: every value kept
    np.testing.assert_array_equal(
        exact.values_at_ranks(np.arange(100.0)[:, None].repeat(4, 1)),
        np.sort(X[:100], axis=0),
    )


@pytest.mark.parametrize("container", [None, sparse.csr_matrix])
def test_deviation_quantiles_of_a_small_sketch_are_exact(container):
    from scipy.stats import median_abs_deviation

    dense = sparse.random(200, 3, density=0.4, random_state=4).toarray() - 0.1
    dense[dense == -0.1] = 0.0
    X = dense if container is None else container(dense)
    sketch = QuantileSketch.from_data(X)
    center = sketch.quantiles([0.5]).median()
    np.testing.assert_array_equal(center, np.median(dense, axis=0))
    mad = sketch.deviation_quantiles(center).median()
    np.testing.assert_array_equal(mad, median_abs_deviation(dense, axis=0))
    levels = [0.1, 0.9]
    expected = np.quantile(np.abs(dense - center), levels, axis=0)
    np.testing.assert_array_equal(
        sketch.deviation_quantiles(center, levels).values(), expected
    )


def test_deviation_quantiles_of_a_large_sketch_are_within_twice_its_bound():
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.lognormal(size=200_000), rng.standard_t(2, 200_000)])
    sketch = QuantileSketch.from_data(X[:100_000]).merge(
        QuantileSketch.from_data(X[100_000:])
    )
    center = np.array([1.0, -0.5])  # any center, not only the median
    values = sketch.deviation_quantiles(center, [0.25, 0.5, 0.9]).values()
    bound = sketch.rank_error_bound()
    for j in range(2):
        deviations = np.sort(np.abs(X[:, j] - center[j]))
        for level, value in zip([0.25, 0.5, 0.9], values[:, j], strict=True):
            rank = np.searchsorted(deviations, value) / len(deviations)
            assert abs(rank - level) <= 2 * bound[j]


@pytest.mark.parametrize("factor", [0.7, 0.3, 2.0**-3, 1e-5])
def test_reweighted_sketch_merges_within_its_bound(factor):
    # Non-power-of-two factors split a level's items over two levels: the
    # compactions still pair them, and the bound holds on the weighted data.
    rng = np.random.default_rng(2)
    x = rng.lognormal(size=40_000)
    sketch = None
    for rows in np.array_split(np.arange(40_000), 20):
        part = QuantileSketch.from_data(x[rows, None])
        sketch = part if sketch is None else sketch.reweighted(factor).merge(part)
    weight = np.repeat(factor ** np.arange(19, -1, -1.0), 2_000)
    np.testing.assert_allclose(sketch.weight_sum(), weight.sum(), rtol=1e-12)
    # About 3 k items, plus two per level: at most 60 levels of light items
    # below the top's (see reweighted) and the levels of the data's weights.
    assert sketch.column_sizes[0] <= 3 * int(sketch.k) + 2 * (60 + 20)
    estimates = sketch.quantiles(LEVELS).values()[:, 0]
    order = np.argsort(x)
    cumulative = np.cumsum(weight[order]) / weight.sum()
    sorted_x = x[order]
    bound = sketch.rank_error_bound()[0]
    for level, estimate in zip(LEVELS, estimates, strict=True):
        i_low = np.searchsorted(sorted_x, estimate, side="left")
        i_high = np.searchsorted(sorted_x, estimate, side="right")
        low = cumulative[i_low - 1] if i_low else 0.0
        high = cumulative[i_high - 1] if i_high else 0.0
        assert max(low - level, level - high, 0.0) <= bound
    # The relative bound does not change under reweighting alone.
    np.testing.assert_allclose(sketch.reweighted(0.3).rank_error_bound(), bound)


def test_pooled_sketch_within_its_bound_on_the_stacked_values():
    # Columns of a group of odd size (5) merged in a tree: the pooled sketch
    # answers for the group's values stacked into one column.
    rng = np.random.default_rng(6)
    X = rng.lognormal(size=(20_000, 6)) * [1, 2, 3, 4, 5, 1]
    sketch = QuantileSketch.from_data(X[:10_000]).merge(
        QuantileSketch.from_data(X[10_000:])
    )
    pooled = sketch.pooled([np.arange(5)])
    stacked = X[:, :5].ravel()
    estimates = pooled.quantiles(LEVELS).values()
    bound = pooled.rank_error_bound()
    for j in range(5):
        np.testing.assert_array_equal(estimates[:, j], estimates[:, 0])
        assert pooled.weight_sum()[j] == stacked.size
    assert rank_errors(stacked, estimates[:, 0], LEVELS).max() <= bound[0]
    # Column 5 is in no group: unchanged.
    np.testing.assert_array_equal(
        estimates[:, 5], sketch.quantiles(LEVELS).values()[:, 5]
    )


def test_pooled_quantiles_from_data_equal_numpy_on_the_stack():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(31, 7))
    X[rng.random(X.shape) < 0.1] = np.nan
    groups = [np.array([0, 3, 6]), np.array([1, 5]), np.array([2, 4])]
    pooled = Quantiles.from_pooled_data(X, None, groups, levels=LEVELS)
    for group in groups:
        expected = np.nanquantile(X[:, group].ravel(), LEVELS)
        for j in group:
            np.testing.assert_array_equal(pooled.values()[:, j], expected)
