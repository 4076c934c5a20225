"""Compiled kernels of the quantile map (:mod:`sknorm.scalers._quantile_map`).

Each value is placed among its feature's knots by a branchless binary
search (a fixed number of steps, the step a conditional move), then
interpolated with ``np.interp``'s arithmetic, operation for operation, so
that the results are the numpy path's bit for bit. float32 input is read
into float64 registers; results are rounded once to the output's dtype.
"""

import numba
import numpy as np

from .dense import accepts

__all__ = [
    "accepts",
    "forward_dense",
    "forward_sparse",
    "inverse_dense",
    "inverse_sparse",
]

#: scikit-learn's margin around the extreme quantiles for a normal output.
_THRESHOLD = 1e-7


@numba.njit(cache=True, nogil=True, inline="always")
def _count_at_most(knots, x):
    """The number of ``knots`` (non-decreasing, at least one) ``<= x``."""
    base = 0
    length = knots.shape[0]
    while length > 1:
        half = length >> 1
        # A conditional move, not a branch: the loop's trip count depends
        # on the number of knots only.
        base += half * np.int64(knots[base + half] <= x)
        length -= half
    return base + np.int64(knots[base] <= x)


@numba.njit(cache=True, nogil=True, inline="always")
def _count_below(knots, x):
    """The number of ``knots`` ``< x``."""
    base = 0
    length = knots.shape[0]
    while length > 1:
        half = length >> 1
        base += half * np.int64(knots[base + half] < x)
        length -= half
    return base + np.int64(knots[base] < x)


@numba.njit(cache=True, nogil=True, inline="always")
def _from_low(slope, x, knot, value):
    return slope * (x - knot) + value


@numba.njit(cache=True, nogil=True)
def _forward_value(x, knots, references, slopes, normal):
    """The probability of ``x`` (float64) among one feature's knots, bounds
    applied: see :func:`sknorm.scalers._quantile_map._forward_values`."""
    if x != x:
        return x
    n = knots.shape[0]
    count = _count_at_most(knots, x)
    i = count - 1
    if count > 0 and count < n and knots[i] != x:
        # Strictly inside segment i: np.interp from the right of repeated
        # knots (base i) and from the left (base i + 1), each trying the
        # other base where its result is NaN.
        s = slopes[i]
        right = s * (x - knots[i]) + references[i]
        left = s * (x - knots[i + 1]) + references[i + 1]
        if right != right or left != left:
            if right != right and left != left:
                if references[i] == references[i + 1]:
                    right = references[i]
                    left = references[i + 1]
            elif right != right:
                right = left
            else:
                left = right
        u = 0.5 * (right + left)
    else:
        last = max(i, 0)
        if count > 0 and knots[last] == x:
            first = _count_below(knots, x)
        else:
            first = min(count, n - 1)
        u = 0.5 * (references[last] + references[first])
    if normal:
        if x + _THRESHOLD > knots[n - 1]:
            u = 1.0
        if x - _THRESHOLD < knots[0]:
            u = 0.0
    else:
        if x == knots[n - 1]:
            u = 1.0
        if x == knots[0]:
            u = 0.0
    return u


@numba.njit(cache=True, nogil=True)
def _inverse_value(u, knots, references, slopes, normal):
    """The quantile of a probability ``u``: see
    :func:`sknorm.scalers._quantile_map._inverse_values`."""
    if u != u:
        return u
    n = knots.shape[0]
    count = _count_at_most(references, u)
    i = count - 1
    if count > 0 and count < n and references[i] != u:
        s = slopes[i]
        x = s * (u - references[i]) + knots[i]
        if x != x:
            x = s * (u - references[i + 1]) + knots[i + 1]
            if x != x and knots[i] == knots[i + 1]:
                x = knots[i]
    else:
        x = knots[max(i, 0)]
    if normal:
        if u + _THRESHOLD > 1.0:
            x = knots[n - 1]
        if u - _THRESHOLD < 0.0:
            x = knots[0]
    else:
        if u == 1.0:
            x = knots[n - 1]
        if u == 0.0:
            x = knots[0]
    return x


@numba.njit(cache=True, nogil=True)
def forward_dense(X, out, knots, references, slopes, normal):
    """``out[i, j]`` = the probability of ``X[i, j]`` among ``knots[j]``."""
    n_rows, n_cols = X.shape
    for j in range(n_cols):
        q = knots[j]
        s = slopes[j]
        for i in range(n_rows):
            out[i, j] = _forward_value(np.float64(X[i, j]), q, references, s, normal)


@numba.njit(cache=True, nogil=True)
def inverse_dense(U, out, knots, references, slopes, normal):
    """``out[i, j]`` = the quantile of probability ``U[i, j]`` of feature j."""
    n_rows, n_cols = U.shape
    for j in range(n_cols):
        q = knots[j]
        s = slopes[j]
        for i in range(n_rows):
            out[i, j] = _inverse_value(np.float64(U[i, j]), q, references, s, normal)


@numba.njit(cache=True, nogil=True)
def forward_sparse(
    values, out, starts, first, columns, knots, references, slopes, normal
):
    """The probabilities of stored values: ``values[starts[k]:starts[k+1]]``
    of feature ``first + k`` when ``starts`` is not empty (CSC), else
    ``values[p]`` of feature ``columns[p]`` (CSR)."""
    if starts.shape[0] > 0:
        for k in range(starts.shape[0] - 1):
            j = first + k
            q = knots[j]
            s = slopes[j]
            for p in range(starts[k], starts[k + 1]):
                out[p] = _forward_value(np.float64(values[p]), q, references, s, normal)
    else:
        for p in range(values.shape[0]):
            j = columns[p]
            out[p] = _forward_value(
                np.float64(values[p]), knots[j], references, slopes[j], normal
            )


@numba.njit(cache=True, nogil=True)
def inverse_sparse(
    values, out, starts, first, columns, knots, references, slopes, normal
):
    """The quantiles of stored probabilities, laid out as in
    :func:`forward_sparse`."""
    if starts.shape[0] > 0:
        for k in range(starts.shape[0] - 1):
            j = first + k
            q = knots[j]
            s = slopes[j]
            for p in range(starts[k], starts[k + 1]):
                out[p] = _inverse_value(np.float64(values[p]), q, references, s, normal)
    else:
        for p in range(values.shape[0]):
            j = columns[p]
            out[p] = _inverse_value(
                np.float64(values[p]), knots[j], references, slopes[j], normal
            )
