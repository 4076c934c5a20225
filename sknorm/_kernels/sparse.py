"""Compiled loops over the stored values of CSR/CSC matrices.

Per-column sums and extrema of stored values (:mod:`sknorm.stats.moments`,
:mod:`sknorm.stats.extrema`), the scaling of stored values by per-column
factors (:mod:`sknorm._affine`), and per-row power sums and scaling for the
row normalizers (:mod:`sknorm.rows`). Each reads the stored values once, in
their order, converts float32 in registers and computes in float64; the
callers' numpy paths compute the same values. Implicit zeros are the callers'
business (counted analytically), as on the numpy paths.
"""

import numba
import numpy as np

from .._parallel import map_tasks
from .dense import accepts

__all__ = [
    "accepts",
    "column_extrema",
    "column_sums",
    "column_tallies",
    "normalize_rows",
    "scale_values",
]


@numba.njit(cache=True, nogil=True)
def _column_sums(values, columns, weight, center, s1, q):
    weighted = weight.shape[0] > 0
    shifted = center.shape[0] > 0
    for k in range(values.shape[0]):
        x = np.float64(values[k])
        if x != x:
            continue
        j = columns[k]
        d = x - center[j] if shifted else x
        wd = weight[k] * d if weighted else d
        s1[j] += wd
        q[j] += wd * d


def column_sums(values, columns, weight, n_cols, center):
    """``(sum w (x - c), sum w (x - c)**2)`` per column over stored ``values``
    (NaN skipped), ``columns`` giving each value's column and ``weight`` its
    row's weight (None: 1); ``center`` is None for no shift."""
    s1, q = np.zeros(n_cols), np.zeros(n_cols)
    _column_sums(
        values,
        columns,
        np.empty(0) if weight is None else weight,
        np.empty(0) if center is None else center,
        s1,
        q,
    )
    return s1, q


@numba.njit(cache=True, nogil=True)
def _column_tallies(values, columns, weight, start, stop, tallies):
    weighted = weight.shape[0] > 0
    for k in range(start, stop):
        j = columns[k]
        x = np.float64(values[k])
        w = weight[k] if weighted else 1.0
        tallies[0, j] += 1.0
        tallies[1, j] += 1.0 if w > 0 else 0.0
        tallies[2, j] += w
        if x != x:
            tallies[3, j] += 1.0
            tallies[4, j] += w
            continue
        wx = w * x
        tallies[5, j] += wx
        tallies[6, j] += wx * x


#: Stored values per task of :func:`column_tallies` (at least 8 per column, so
#: that the per-task tallies stay small next to the data).
_TALLY_VALUES = 1 << 20


def column_tallies(values, columns, weight, n_cols):
    """Per column, in one parallel pass over the stored values: the number
    stored, the number in rows of positive weight, their weight, the number
    and weight of NaN, and ``sum w x`` and ``sum w x**2`` (NaN skipped).

    The values are cut into tasks by their number only, and the tasks'
    tallies are added in order, so the result does not depend on the number
    of threads. ``weight`` is each value's row weight (None: 1). Returns seven
    float64 arrays of shape (n_cols,) (counts are exact integers).
    """
    weights = np.empty(0) if weight is None else weight
    step = max(_TALLY_VALUES, 8 * n_cols)
    bounds = list(range(0, len(values), step))

    def task(start):
        tallies = np.zeros((7, n_cols))
        stop = min(start + step, len(values))
        _column_tallies(values, columns, weights, start, stop, tallies)
        return tallies

    total = np.zeros((7, n_cols))
    for tallies in map_tasks(task, bounds):
        total += tallies
    return tuple(total)


@numba.njit(cache=True, nogil=True)
def _column_extrema(values, columns, indptr, by_column, low, high, counts):
    if by_column:
        for j in range(indptr.shape[0] - 1):
            a, b = low[j], high[j]
            for k in range(indptr[j], indptr[j + 1]):
                x = np.float64(values[k])
                a = x if x < a else a
                b = x if x > b else b
            low[j], high[j] = a, b
            counts[j] = indptr[j + 1] - indptr[j]
        return
    for k in range(values.shape[0]):
        j = columns[k]
        x = np.float64(values[k])
        low[j] = x if x < low[j] else low[j]
        high[j] = x if x > high[j] else high[j]
        counts[j] += 1


def column_extrema(X):
    """Per-column minimum and maximum of the stored values of CSR/CSC ``X``
    (NaN ignored; NaN for a column without stored non-NaN values), and the
    number of values stored in each column."""
    n_cols = X.shape[1]
    low, high = np.full(n_cols, np.inf), np.full(n_cols, -np.inf)
    counts = np.zeros(n_cols, dtype=np.int64)
    by_column = X.format == "csc"
    columns = X.indices if not by_column else np.empty(0, X.indices.dtype)
    _column_extrema(X.data, columns, X.indptr, by_column, low, high, counts)
    empty = low > high
    low[empty], high[empty] = np.nan, np.nan
    return low, high, counts


# Inlined: a call taking arrays costs their reference counting per value.
@numba.njit(cache=True, nogil=True, inline="always")
def _scaled(v, j, factors, low, high):
    for f in range(factors.shape[0]):
        v = v * factors[f, j]
    if low.shape[0] > 0:
        # Comparisons with NaN are False: NaN stays NaN, as in np.clip.
        v = low[j] if v < low[j] else v
        v = high[j] if v > high[j] else v
    return v


@numba.njit(cache=True, nogil=True)
def _scale_csr_values(
    values, columns, factors, low, high, out, first, last, check, bad
):
    """The values at positions ``first:last``."""
    found = False
    for k in range(first, last):
        j = columns[k]
        v = np.float64(values[k])
        if check and np.isinf(v):
            bad[j] = True
            found = True
        out[k] = _scaled(v, j, factors, low, high)
    return found


@numba.njit(cache=True, nogil=True)
def _scale_csc_values(values, indptr, factors, low, high, out, first, last, check, bad):
    """The values of columns ``first:last``."""
    found = False
    for j in range(first, last):
        for k in range(indptr[j], indptr[j + 1]):
            v = np.float64(values[k])
            if check and np.isinf(v):
                bad[j] = True
                found = True
            out[k] = _scaled(v, j, factors, low, high)
    return found


def scale_values(X, out, factors, clip, bounds, check):
    """``out[k] = clip(X.data[k] * factor_1[j] * ...)`` for every stored value.

    Chunks run in parallel on sknorm's pool; the result does not depend on
    the number of threads.

    Parameters
    ----------
    X : CSR/CSC matrix
    out : ndarray
        Receives the values (``X.data`` itself, in place, or a fresh array).
    factors : ndarray of float64 of shape (n_factors, n_cols)
    clip : tuple of two ndarray of shape (n_cols,) or None
    bounds : ndarray of int64
        Where the chunks start, and where the last ends: value positions for
        CSR, columns for CSC.
    check : bool
        Look for +/-inf in the stored values.

    Returns
    -------
    infinite : ndarray of bool of shape (n_cols,) or None
        With ``check``, the columns holding infinity in the first chunk that
        holds any; else None.
    """
    n_cols = X.shape[1]
    low, high = (np.empty(0), np.empty(0)) if clip is None else clip
    kernel, positions = (
        (_scale_csc_values, X.indptr)
        if X.format == "csc"
        else (_scale_csr_values, X.indices)
    )

    def chunk(i):
        bad = np.zeros(n_cols if check else 0, dtype=np.bool_)
        found = kernel(
            X.data,
            positions,
            factors,
            low,
            high,
            out,
            bounds[i],
            bounds[i + 1],
            check,
            bad,
        )
        return bad if found else None

    for infinite in map_tasks(chunk, range(len(bounds) - 1)):
        if infinite is not None:
            return infinite
    return None


#: Codes of the norms :func:`normalize_rows` computes.
L1, L2, MAX = 1, 2, 0

#: Power sums at least this large (and finite) are accurate: the threshold of
#: ``sknorm.rows._kernels._SAFE_POWER_SUM``.
_SAFE_POWER_SUM = 2.0**-960


@numba.njit(cache=True, nogil=True)
def _normalize_rows(
    indptr, values, code, eps, factor, start, stop, write, out, spread, safe
):
    for r in range(start, stop):
        total = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            a = abs(np.float64(values[k]))
            if code == 2:
                total += a * a
            elif code == 1:
                total += a
            elif a > total or a != a:  # NaN propagates, as np.maximum
                total = a
        ok = total >= _SAFE_POWER_SUM and total < np.inf
        norm = (np.sqrt(total) if code == 2 else total) if ok else 0.0
        spread[r] = norm
        safe[r] = ok
        if not (write and ok):
            continue  # unsafe rows take the numpy path's robust pass
        g = 1.0 / eps if eps > 0 and norm < eps else 1.0 / norm
        g = g * factor
        for k in range(indptr[r], indptr[r + 1]):
            out[k] = np.float64(values[k]) * g


def normalize_rows(X, code, eps, factor, start, stop, out, spread, safe):
    """Norms of CSR rows ``start:stop`` and, into ``out``, the rows divided
    by them: the fast path of :func:`sknorm.rows._sparse._sparse_pass` for norms.

    Per row, ``sum |x|**p`` (``max |x|`` for ``MAX``) of the stored values,
    NaN propagating; rows whose sum is below ``2**-960`` or not finite are
    flagged unsafe (``safe[r] = False``, ``spread[r] = 0``) and not written.
    Others get ``spread[r]`` (the norm) and ``out[k] = x_k * g`` with ``g =
    factor / max(norm, eps)`` as ``_RowRule.multiplier`` computes it (``1 /
    eps`` or ``1 / norm``, then times ``factor``), rounded once to ``out``'s
    dtype. ``out`` None: norms only; ``factor`` None: 1.
    """
    write = out is not None
    _normalize_rows(
        X.indptr,
        X.data,
        code,
        float(eps),
        1.0 if factor is None else float(factor),
        start,
        stop,
        write,
        out if write else np.empty(0, X.data.dtype),
        spread,
        safe,
    )
