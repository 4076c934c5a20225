"""Shifts by exact integers (the centres of dask partitions)."""

import numpy as np

from sknorm.stats import Extrema, Moments, QuantileSketch
from sknorm.stats._base import plus_shift, shift_parts


def _object_array(values):
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def test_integer_values_move_by_an_exact_shift_rounded_once():
    # Integers float64 holds exactly, moved by differences of two 64-bit
    # centres (a quarter of which float64 does not hold: rounded first, the
    # shift would round the sum twice).
    rng = np.random.default_rng(0)
    values = [int(v) for v in rng.integers(-(2**53), 2**53, size=4000)]
    shifts = [
        int(a) - int(b)
        for a, b in rng.integers(-(2**63), 2**63, size=(4000, 2), dtype=np.int64)
    ]
    high, low = shift_parts(_object_array(shifts))
    assert [int(h) + int(lo) for h, lo in zip(high, low, strict=True)] == shifts
    moved = plus_shift(np.array(values, dtype=np.float64), high, low)
    # float(int) rounds the exact sum to nearest, ties to even: once.
    expected = [float(v + s) for v, s in zip(values, shifts, strict=True)]
    np.testing.assert_array_equal(moved, expected)


def test_float_shifts_add_as_before():
    values = np.array([0.1, -3.5, 2.0**60])
    shift = np.array([3.0, 2.0**62, -1.0])
    np.testing.assert_array_equal(
        plus_shift(values, *shift_parts(shift)), values + shift
    )


def test_statistics_move_by_an_exact_shift():
    # 2**61 - 2**59 - 128 is no float64 (its ulp is 256): rounded first, it
    # would move 1 or -1 to a neighbour of the exact sum rounded.
    shift = 2**61 - 2**59 - 128
    X = np.array([[1.0, -1.0], [1.0, 4.0]])
    assert any(float(shift) + v != float(shift + v) for v in (1, -1))
    shifts = _object_array([shift, shift])
    extrema = Extrema.from_data(X).shifted(shifts)
    assert extrema.minimum.tolist() == [float(shift + 1), float(shift - 1)]
    assert extrema.maximum.tolist() == [float(shift + 1), float(shift + 4)]
    sketch = QuantileSketch.from_data(X).shifted(shifts)
    expected = [float(shift + v) for v in (1, 1, -1, 4)]
    assert sorted(sketch.values.tolist()) == sorted(expected)
    moments = Moments.from_data(X).shifted(shifts)
    assert (moments.scaled_mean * 2.0**moments.exponent)[0] == float(shift + 1)
