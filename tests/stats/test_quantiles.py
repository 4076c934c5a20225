"""Exact Quantiles: numpy's percentiles bit for bit, NaN ignored, sparse == dense,
integer weights == repeated rows, and an independent exact reference for real
weights."""

import pickle
import warnings
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import sparse

from sknorm.stats import Quantiles
from sknorm.stats import quantiles as quantiles_module

LEVELS = np.array([0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0])


def _numpy_quantiles(X, levels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.array(
            [[np.nanquantile(X[:, j], q) for j in range(X.shape[1])] for q in levels]
        ).reshape(len(levels), X.shape[1])


def _numpy_median(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(X, axis=0)


def _assert_identical(actual, desired):
    np.testing.assert_array_equal(actual, desired, strict=False)


def _data(seed=0, n=57, p=6, nan_fraction=0.15):
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [
            rng.normal(size=n),
            rng.lognormal(sigma=3, size=n),
            np.round(rng.normal(size=n)),  # ties
            np.where(rng.random(n) < 0.7, 0.0, rng.normal(size=n)),  # mostly zero
            -rng.pareto(1.5, size=n),  # all negative
            1e6 + rng.normal(size=n) * 1e-3,
        ]
    )[:, :p]
    X[rng.random(X.shape) < nan_fraction] = np.nan
    X[:, -1][:3] = np.nan
    return X


matrices = arrays(
    np.float64,
    st.tuples(st.integers(1, 30), st.integers(1, 4)),
    elements=st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False, width=64),
        st.sampled_from([0.0, 1.0, -1.0, np.nan]),
    ),
)


@settings(max_examples=150, deadline=None)
@given(X=matrices, level=st.floats(0, 1))
def test_matches_numpy_percentiles_bit_for_bit(X, level):
    levels = np.array([level, 0.25, 0.5, 0.75])
    q = Quantiles.from_data(X, levels=levels)
    _assert_identical(q.values(), _numpy_quantiles(X, levels))
    _assert_identical(q.median(), _numpy_median(X))
    np.testing.assert_array_equal(q.weight_sum, (~np.isnan(X)).sum(axis=0))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 601, 1000])
def test_matches_numpy_on_structured_data(n):
    X = _data(n=n)
    q = Quantiles.from_data(X, levels=LEVELS)
    _assert_identical(q.values(), _numpy_quantiles(X, LEVELS))
    _assert_identical(q.median(), _numpy_median(X))
    for i, level in enumerate(LEVELS):
        _assert_identical(q.value(level), q.values()[i])


def test_all_missing_column_is_nan_and_empty_input():
    X = np.array([[np.nan, 1.0], [np.nan, 2.0]])
    q = Quantiles.from_data(X, levels=[0.5])
    _assert_identical(q.values(), [[np.nan, 1.5]])
    assert q.weight_sum.tolist() == [0.0, 2.0]
    empty = Quantiles.from_data(np.empty((0, 2)), levels=[0.5])
    assert np.isnan(empty.values()).all()


def test_float32_is_selected_in_float32_and_interpolated_in_float64():
    X = _data(n=200).astype(np.float32)
    q = Quantiles.from_data(X, levels=LEVELS)
    # The bracketing order statistics are float32 values; interpolation is the
    # float64 one (numpy rounds their difference to float32 first).
    _assert_identical(q.values(), _numpy_quantiles(X.astype(np.float64), LEVELS))
    np.testing.assert_allclose(q.values(), _numpy_quantiles(X, LEVELS), rtol=1e-6)


def test_float32_input_is_not_copied_to_float64():
    import tracemalloc

    X = np.random.default_rng(1).normal(size=(200_000, 10)).astype(np.float32)
    Quantiles.from_data(X, levels=LEVELS)  # numba loads its kernels first
    tracemalloc.start()
    Quantiles.from_data(X, levels=LEVELS)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # One float32 block of columns at a time; a float64 copy would be 2x X.
    assert peak < 1.5 * X.nbytes


def test_threaded_column_groups_give_the_same_result(monkeypatch):
    X = _data(seed=3, n=700)
    expected = Quantiles.from_data(X, levels=LEVELS)
    weight = np.arange(700) % 3
    weighted = Quantiles.from_data(X, weight, levels=LEVELS)
    # Groups of one column and the thread pool, on small data.
    monkeypatch.setattr(quantiles_module, "_GROUP_BYTES", 1)
    monkeypatch.setattr(quantiles_module, "_PARALLEL_MIN_VALUES", 1)
    monkeypatch.setenv("SKNORM_NUM_THREADS", "3")
    assert Quantiles.from_data(X, levels=LEVELS) == expected
    # Rescaled weights are summed in another order per group of columns.
    np.testing.assert_allclose(
        Quantiles.from_data(X, weight, levels=LEVELS).values(),
        weighted.values(),
        rtol=1e-14,
    )


def test_fortran_ordered_input_and_no_mutation():
    X = np.asfortranarray(_data(n=300))
    original = X.copy()
    q = Quantiles.from_data(X, levels=LEVELS)
    _assert_identical(q.values(), _numpy_quantiles(original, LEVELS))
    _assert_identical(X, original)


def test_median_midpoint_does_not_overflow():
    x = np.array([[1.5e308], [1.7e308]])
    median = Quantiles.from_data(x, levels=[0.5]).median()
    exact = (Fraction(1.5e308) + Fraction(1.7e308)) / 2
    assert np.isfinite(median[0]) and median[0] == float(exact)


# ------------------------------------------------------------------- sparse


def _sparse_case(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 7)) * (rng.random((40, 7)) < 0.3)
    X[:, 0] = 0.0  # no stored entry at all
    X[:, 1] = np.abs(X[:, 1])  # non-negative
    X[:, 2] = -np.abs(X[:, 2])  # non-positive: maximum is an implicit zero
    X[:, 3] = rng.normal(size=40)  # dense column stored as sparse
    X[rng.random(X.shape) < 0.1] = np.nan
    X[:, 4] = np.nan  # only missing values
    return X


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparse_equals_dense(fmt, seed):
    X = _sparse_case(seed)
    X_sparse = sparse.csr_array(X).asformat(fmt)
    if fmt != "coo":
        # An explicit zero stored in a column counts like an implicit one.
        X_sparse = X_sparse.tocsr()
        X_sparse.data[np.flatnonzero(X_sparse.data)[:2]] = 0.0
        X = X_sparse.toarray()
        X_sparse = X_sparse.asformat(fmt)
    expected = Quantiles.from_data(X, levels=LEVELS)
    if fmt == "coo":
        X_sparse = X_sparse.tocsr()
    assert Quantiles.from_data(X_sparse, levels=LEVELS) == expected


def test_sparse_blocks_give_the_same_result(monkeypatch):
    X = sparse.random(300, 40, density=0.2, format="csc", random_state=4)
    X.data -= 0.5
    expected = Quantiles.from_data(X.toarray(), levels=LEVELS)
    monkeypatch.setattr(quantiles_module, "_SPARSE_BLOCK_ENTRIES", 50)
    assert Quantiles.from_data(X, levels=LEVELS) == expected


def test_sparse_never_builds_columns(monkeypatch):
    """Peak memory stays O(nnz): no n_samples-long array is created."""
    X = sparse.random(2 * 10**6, 3, density=5e-5, format="csr", random_state=0)
    created = []
    original_zeros, original_full = np.zeros, np.full

    def spy(factory):
        def wrapper(shape, *args, **kwargs):
            created.append(np.prod(shape))
            return factory(shape, *args, **kwargs)

        return wrapper

    monkeypatch.setattr(np, "zeros", spy(original_zeros))
    monkeypatch.setattr(np, "full", spy(original_full))
    q = Quantiles.from_data(X, levels=[0.25, 0.5, 0.999999])
    monkeypatch.undo()
    assert max(created, default=0) < 10**5
    column = X[:, [0]].toarray().ravel()
    assert q.value(0.999999)[0] == np.quantile(column, 0.999999)


# ------------------------------------------------------------------ weights


@pytest.mark.parametrize("seed", range(4))
def test_equal_integer_weights_equal_repeated_rows_exactly(seed):
    # Zero removes a row; equal positive weights are the unweighted quantiles
    # of the rows kept, whatever the weights' value (they are relative).
    X = _data(seed=seed, n=40)
    keep = np.random.default_rng(seed).integers(0, 2, size=40)
    for value in (1, 3, 0.01, 2.0**-1070, 1e308):
        weighted = Quantiles.from_data(X, keep * value, levels=LEVELS)
        _assert_identical(weighted.values(), _numpy_quantiles(X[keep > 0], LEVELS))
        _assert_identical(weighted.median(), _numpy_median(X[keep > 0]))


@pytest.mark.parametrize("seed", range(4))
def test_integer_weights_are_within_one_row_of_repeated_rows(seed):
    # Unequal integer weights: the ranks count rows of mean weight, so they
    # differ from the repeated rows' by less than one row: each quantile lies
    # between the repeated data's quantiles one row apart.
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, 3))
    weight = rng.integers(1, 5, size=40)
    repeated = np.repeat(X, weight, axis=0)
    values = Quantiles.from_data(X, weight, levels=LEVELS).values()
    n, row = len(repeated), len(repeated) / 40  # a row of mean weight
    for i, level in enumerate(LEVELS):
        # Both bracketing ranks lie within two such rows of numpy's rank.
        rows = np.clip(level * (n - 1) + np.array([-2.0, 2.0]) * row, 0, n - 1)
        low, high = np.nanquantile(repeated, rows / (n - 1), axis=0)
        assert np.all((values[i] >= low - 1e-12) & (values[i] <= high + 1e-12))


@pytest.mark.parametrize("seed", range(3))
def test_weights_are_scale_free(seed):
    X = _data(seed=seed, n=60)
    weight = np.random.default_rng(seed).uniform(0, 3, size=60)
    reference = Quantiles.from_data(X, weight, levels=LEVELS)
    for power in (-900, -30, 1, 900):
        scaled = Quantiles.from_data(X, np.ldexp(weight, power), levels=LEVELS)
        _assert_identical(scaled.values(), reference.values())
        _assert_identical(scaled.median(), reference.median())
    np.testing.assert_allclose(
        Quantiles.from_data(X, weight * 0.01, levels=LEVELS).values(),
        reference.values(),
        rtol=1e-12,
    )


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_integer_weights_equal_repeated_rows(fmt):
    X = _sparse_case(5)
    weight = 3 * np.random.default_rng(5).integers(0, 2, size=len(X))
    weighted = Quantiles.from_data(
        sparse.csr_array(X).asformat(fmt), weight, levels=LEVELS
    )
    # Equal weights are relative: the rows of positive weight, unweighted.
    repeated = X[weight > 0]
    _assert_identical(weighted.values(), _numpy_quantiles(repeated, LEVELS))
    _assert_identical(weighted.median(), _numpy_median(repeated))


def _exact_weighted_quantile(values, weights, level):
    """Independent reference in exact rationals: the definition, item by item
    (weights rescaled to mean 1 over the positive ones, then frequencies)."""
    pairs = sorted(
        (Fraction(v), Fraction(w))
        for v, w in zip(values, weights, strict=True)
        if w > 0 and not np.isnan(v)
    )
    mean_weight = sum(w for _, w in pairs) / len(pairs)
    pairs = [(v, w / mean_weight) for v, w in pairs]
    total = sum(w for _, w in pairs)
    virtual = (total - 1) * Fraction(level)

    def at_rank(rank):
        cumulative = 0
        for value, weight in pairs:
            cumulative += weight
            if cumulative > rank:
                return value
        return pairs[-1][0]

    if virtual >= total - 1:
        return pairs[-1][0]
    if virtual < 0:
        return pairs[0][0]
    rank = virtual.numerator // virtual.denominator
    fraction = virtual - rank
    low, high = at_rank(rank), at_rank(rank + 1)
    return low + (high - low) * fraction


@pytest.mark.parametrize("seed", range(3))
def test_real_weights_follow_the_documented_definition(seed):
    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=25), 1)  # ties
    weight = rng.uniform(0, 3, size=25)
    weight[:3] = 0.0
    levels = np.array([0.0, 0.1, 0.37, 0.5, 0.9, 1.0])
    q = Quantiles.from_data(x[:, None], weight, levels=levels)
    for i, level in enumerate(levels):
        exact = float(_exact_weighted_quantile(x, weight, level))
        np.testing.assert_allclose(q.values()[i, 0], exact, rtol=1e-14, atol=1e-15)


def test_weights_summing_below_one_are_relative():
    # Weights of 0.25, 0.375, 0.125 are the weights 2, 3, 1: no collapse to
    # the minimum (they are not less than one row in all). (Factors that are
    # not powers of two give the same result up to rounding, except where a
    # rank falls exactly on a cumulative weight: 0.2 + 0.4 > 0.6 in float64.)
    X = [[3.0], [1.0], [2.0]]
    levels = [0, 0.5, 0.99, 1]
    small = Quantiles.from_data(X, [0.25, 0.375, 0.125], levels=levels)
    small = small.values()[:, 0]
    integer = Quantiles.from_data(X, [2, 3, 1], levels=levels).values()[:, 0]
    np.testing.assert_allclose(small, integer, rtol=1e-15)
    exact = [float(_exact_weighted_quantile([3, 1, 2], [2, 3, 1], q)) for q in levels]
    np.testing.assert_allclose(integer, exact, rtol=1e-15)


# ---------------------------------------------------------------- contract


def test_merge_is_refused_with_a_pointer_to_the_sketch():
    q = Quantiles.from_data(_data())
    with pytest.raises(TypeError, match="QuantileSketch"):
        q.merge(q)


def test_state_round_trip_and_pickle():
    q = Quantiles.from_data(_data(), levels=LEVELS)
    state = q.to_state()
    assert all(isinstance(v, np.ndarray) for k, v in state.items() if k != "statistic")
    assert Quantiles.from_state(state) == q
    assert pickle.loads(pickle.dumps(q)) == q


def test_unknown_level_and_bad_levels():
    q = Quantiles.from_data(_data(), levels=[0.25, 0.75])
    with pytest.raises(ValueError, match=r"level 0\.5 was not computed"):
        q.median()
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        Quantiles.from_data(_data(), levels=[25, 75])


@pytest.mark.parametrize("unit", [0.1, 0.3, 3.7, 1e-5])
@pytest.mark.parametrize("container", [np.asarray, sparse.csr_array, sparse.csc_array])
@pytest.mark.parametrize("statistic", ["Quantiles", "QuantileSketch"])
def test_weights_that_tie_in_exact_arithmetic_tie(unit, container, statistic):
    # With weights of 0.1 the cumulative weight 0.1 and the rank
    # 1 * 0.3 / 3 = 0.10000000000000002 tie in exact arithmetic; rounded
    # apart, the median of [-1, 0, 0] was -1. Equal weights of any size must
    # give the unweighted quantiles (numpy's), and weights unit * [1, 2, 1, 3]
    # those of the integer weights [1, 2, 1, 3] (weights are relative).
    from sknorm.stats import QuantileSketch

    X = np.array([[-1.0, 0.0], [0.0, 2.0], [0.0, 0.0], [5.0, -3.0]])
    levels = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]

    def quantiles(data, weight):
        if statistic == "Quantiles":
            return Quantiles.from_data(container(data), weight, levels=levels).values()
        return (
            QuantileSketch.from_data(container(data), weight).quantiles(levels).values()
        )

    np.testing.assert_allclose(
        quantiles(X[:3], np.full(3, unit)),
        np.quantile(X[:3], levels, axis=0),
        rtol=1e-15,
        atol=1e-15,
    )
    multiples = np.array([1.0, 2.0, 1.0, 3.0])
    np.testing.assert_allclose(
        quantiles(X, unit * multiples), quantiles(X, multiples), rtol=1e-15, atol=1e-15
    )


# ------------------------------------------------------------ absolute deviations


def _deviation_data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(80, 4)) * [1, 10, 1e-3, 1e5]
    X[::7, 0] = np.nan
    X[:30, 2] = 0.5  # ties
    return X


LEVELS = [0.0, 0.1, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_deviation_quantiles_equal_numpys_of_the_deviations(dtype):
    X = _deviation_data().astype(dtype)
    original = X.copy()
    center = np.array([0.3, -2.0, 0.5, 1e4])
    q = Quantiles.from_data(X, levels=LEVELS, center=center)
    expected = np.nanpercentile(
        np.abs(X.astype(np.float64) - center), np.multiply(LEVELS, 100), axis=0
    )
    np.testing.assert_array_equal(q.values(), expected)
    np.testing.assert_array_equal(X, original)


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csc_array])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_deviation_quantiles_count_the_implicit_zeros(container, weighted):
    dense = sparse.random(90, 5, density=0.3, random_state=1).toarray() - 0.2
    dense[dense == -0.2] = 0.0
    dense[5, 1] = np.nan
    X = container(dense)
    weight = (
        np.random.default_rng(3).integers(0, 3, 90).astype(float) if weighted else None
    )
    center = np.array([0.0, 0.1, -0.4, 0.25, 2.0])
    q = Quantiles.from_data(X, weight, levels=LEVELS, center=center)
    # The densified deviations are the reference (implicit zeros: |center|).
    reference = Quantiles.from_data(np.abs(dense - center), weight, levels=LEVELS)
    np.testing.assert_array_equal(q.values(), reference.values())
    np.testing.assert_array_equal(q.weight_sum, reference.weight_sum)
    if not weighted:
        expected = np.nanpercentile(
            np.abs(dense - center), np.multiply(LEVELS, 100), axis=0
        )
        np.testing.assert_array_equal(q.values(), expected)


# --------------------------------------------------------------------------
# Many levels (QuantileTransformer's): bucketed (compiled) or sorted columns
# --------------------------------------------------------------------------

MANY_LEVELS = np.linspace(0, 1, 1000)
#: Rows enough for the compiled path to bucket the columns.
BUCKETED_ROWS = 1 << 16


def _numpy_many_quantiles(X, levels):
    """np.nanquantile per column, all the levels at once."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        return np.column_stack(
            [np.nanquantile(X[:, j], levels) for j in range(X.shape[1])]
        )


def _compiled_paths():
    from sknorm._kernels import numba_available

    return [False, True] if numba_available() else [False]


def _adversarial_columns(n, seed=0):
    """Columns that stress buckets drawn from a sample: ties, sorted and
    reversed runs, an organ pipe, huge and tiny magnitudes, subnormals, a
    constant, NaN, a column without data."""
    rng = np.random.default_rng(seed)
    half = n // 2
    organ = np.concatenate((np.arange(half), np.arange(n - half)[::-1]))
    tiny = rng.normal(size=n) * 1e-300
    columns = [
        rng.lognormal(size=n),
        rng.integers(0, 5, n).astype(float),
        np.sort(rng.normal(size=n)),
        np.sort(rng.normal(size=n))[::-1],
        organ.astype(float),
        rng.standard_cauchy(size=n) * 1e300,
        tiny,
        rng.integers(-3, 3, n) * 5e-324,
        np.full(n, 7.25),
        np.where(rng.random(n) < 0.999, 1.0, rng.normal(size=n)),
        np.full(n, np.nan),
    ]
    X = np.column_stack(columns)
    X[rng.random(X.shape) < 0.05] = np.nan
    return X


@pytest.mark.parametrize("compiled", _compiled_paths())
@pytest.mark.parametrize("n_rows", [BUCKETED_ROWS + 3, 301])
def test_many_levels_equal_numpy(compiled, n_rows):
    from sknorm._kernels import use_numba

    X = _adversarial_columns(n_rows)
    with use_numba(compiled):
        q = Quantiles.from_data(X, levels=MANY_LEVELS)
    _assert_identical(q.values(), _numpy_many_quantiles(X, MANY_LEVELS))


@pytest.mark.parametrize("compiled", _compiled_paths())
def test_many_levels_float32_selected_in_float32(compiled):
    from sknorm._kernels import use_numba

    X = _adversarial_columns(BUCKETED_ROWS, seed=1)[:, :5].astype(np.float32)
    with use_numba(compiled):
        q = Quantiles.from_data(X, levels=MANY_LEVELS)
    # The order statistics are X's float32 values, exactly.
    sorted_columns = np.sort(X, axis=0).astype(np.float64)
    total = np.count_nonzero(~np.isnan(X), axis=0)
    for j in range(X.shape[1]):
        virtual = (total[j] - 1) * MANY_LEVELS
        low = np.floor(virtual).astype(int)
        # Level 0 is the minimum alone (both brackets), as the maximum is 1's.
        high = np.where(MANY_LEVELS > 0, np.minimum(low + 1, total[j] - 1), 0)
        np.testing.assert_array_equal(q.lower[:, j], sorted_columns[low, j])
        np.testing.assert_array_equal(q.upper[:, j], sorted_columns[high, j])


def test_many_levels_compiled_equals_numpy_and_rejects_nothing_it_should_not():
    """The statistic only reveals infinity (the fit inspects those columns):
    infinite values must not break the buckets."""
    from sknorm._kernels import numba_available, use_numba

    if not numba_available():
        pytest.skip("numba is not installed: no compiled path")
    X = _adversarial_columns(BUCKETED_ROWS, seed=2)
    X[::97, 0] = np.inf
    X[::89, 2] = -np.inf
    with use_numba(True):
        compiled = Quantiles.from_data(X, levels=MANY_LEVELS)
    with use_numba(False):
        numpy_path = Quantiles.from_data(X, levels=MANY_LEVELS)
    _assert_identical(compiled.lower, numpy_path.lower)
    _assert_identical(compiled.upper, numpy_path.upper)
    assert compiled.nonfinite_columns()[[0, 2]].all()


@settings(max_examples=25, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 3)),
        elements=st.floats(allow_infinity=False, width=64) | st.sampled_from([0.0]),
    ),
    st.integers(9, 60),
)
def test_many_levels_match_exact_order_statistics(X, n_levels):
    """Against order statistics of an exact sort (fractions): each level's
    two brackets are the sorted values at floor and floor + 1 of the exact
    ``(n - 1) q``, or at the float rank numpy computes, which may round
    across an integer; the quantile lies between them."""
    levels = np.linspace(0, 1, n_levels)
    q = Quantiles.from_data(X, levels=levels)
    for j in range(X.shape[1]):
        column = sorted(Fraction(x) for x in X[:, j] if not np.isnan(x))
        n = len(column)
        if not n:
            assert np.isnan(q.values()[:, j]).all()
            continue
        for i, level in enumerate(levels):
            virtual = (n - 1) * level  # numpy's float rank
            low = min(int(np.floor(virtual)), n - 1)
            high = min(low + 1, n - 1)
            if level == 0 or level == 1:
                low = high = 0 if level == 0 else n - 1
            assert Fraction(q.lower[i, j]) == column[low]
            assert Fraction(q.upper[i, j]) == column[high]
            value = q.values()[i, j]
            assert column[low] <= Fraction(value) <= column[high]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_quantiles_of_stored_values(fmt, weighted):
    rng = np.random.default_rng(3)
    X = sparse.random(200, 6, density=0.2, format=fmt, random_state=4)
    X.data -= 0.3
    X.data[::7] = 0.0  # stored zeros are values
    X.data[::11] = np.nan
    # Column 5 stores nothing.
    X = sparse.hstack([X[:, :5], sparse.csr_matrix((200, 1))]).asformat(fmt)
    weight = rng.integers(1, 4, 200).astype(float) if weighted else None
    q = Quantiles.from_data(X, weight, levels=LEVELS, implicit_zeros=False)
    C = X.tocsc()
    for j in range(6):
        rows = C.indices[C.indptr[j] : C.indptr[j + 1]]
        values = C.data[C.indptr[j] : C.indptr[j + 1]]
        if weighted:
            values = np.repeat(values, weight[rows].astype(int))
        expected = _numpy_quantiles(values[:, None], LEVELS)[:, 0]
        got = q.values()[:, j]
        if weighted:  # relative weights: ranks within two rows (see module)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
            present = values[~np.isnan(values)]
            if present.size:
                assert np.all((got >= present.min()) & (got <= present.max()))
        else:
            _assert_identical(got, expected)


def test_sketch_of_stored_values_is_exact_while_small():
    from sknorm.stats import QuantileSketch

    X = sparse.random(300, 4, density=0.3, format="csc", random_state=5)
    exact = Quantiles.from_data(X, levels=LEVELS, implicit_zeros=False)
    sketch = QuantileSketch.from_data(X, implicit_zeros=False)
    _assert_identical(sketch.quantiles(LEVELS).values(), exact.values())
    assert np.all(sketch.zero_weight == 0)
    weighted = QuantileSketch.from_data(
        X, np.full(300, 2.0), sample_size=50, implicit_zeros=False
    )
    stored = np.diff(X.indptr)
    # Estimated from 50 of 300 rows: each sampled stored value stands for 6.
    assert np.all(weighted.value_count <= 6 * np.minimum(stored, 50))


@pytest.mark.parametrize("compiled", _compiled_paths())
@pytest.mark.parametrize("layout", ["F", "strided"])
def test_many_levels_of_any_layout(compiled, layout, monkeypatch):
    from sknorm._kernels import use_numba

    X = _adversarial_columns(BUCKETED_ROWS + 5, seed=3)
    X = np.asfortranarray(X) if layout == "F" else np.repeat(X, 2, axis=1)[:, ::2]
    expected = _numpy_many_quantiles(X, MANY_LEVELS)
    with use_numba(compiled):
        _assert_identical(Quantiles.from_data(X, levels=MANY_LEVELS).values(), expected)
        # Whatever the threads: one runs every task.
        monkeypatch.setenv("SKNORM_NUM_THREADS", "1")
        _assert_identical(Quantiles.from_data(X, levels=MANY_LEVELS).values(), expected)


@pytest.mark.parametrize("compiled", _compiled_paths())
@pytest.mark.parametrize("implicit_zeros", [True, False])
def test_many_levels_of_sparse_columns_equal_numpy(compiled, implicit_zeros):
    """Stored values that stress the selection within segments: ties,
    sorted and reversed runs, both signs, NaN; rows mostly zero or not."""
    from sknorm._kernels import use_numba

    n = 3_000
    dense = _adversarial_columns(n, seed=4)
    rng = np.random.default_rng(4)
    dense[rng.random(dense.shape) < 0.7] = 0.0
    dense[:, 5] = 0.0  # a column of implicit zeros only
    X = sparse.csc_matrix(dense)
    with use_numba(compiled):
        q = Quantiles.from_data(X, levels=MANY_LEVELS, implicit_zeros=implicit_zeros)
    if implicit_zeros:
        expected = _numpy_many_quantiles(dense, MANY_LEVELS)
    else:
        stored = [X.data[X.indptr[j] : X.indptr[j + 1]] for j in range(X.shape[1])]
        expected = np.column_stack(
            [
                _numpy_many_quantiles(values[:, None], MANY_LEVELS)[:, 0]
                if values.size
                else np.full(len(MANY_LEVELS), np.nan)
                for values in stored
            ]
        )
    _assert_identical(q.values(), expected)
