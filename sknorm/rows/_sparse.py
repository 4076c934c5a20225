"""The sparse (CSR/CSC) pass of the row kernel: segments of stored
values, implicit zeros counted without being materialised."""

import numpy as np

from .._kernels import kernels
from .._parallel import map_tasks
from .._validation import (
    BLOCK_ELEMENTS,
)
from ._kernels import _is_safe, _spread_from_power_sums, _spread_in_x_units


def _major_chunks(indptr, block_elements=BLOCK_ELEMENTS):
    """Yield ``(start, stop)`` ranges of the major axis holding about
    ``block_elements`` stored values each."""
    n_major = len(indptr) - 1
    start = 0
    while start < n_major:
        stop = int(np.searchsorted(indptr, indptr[start] + block_elements, "right"))
        stop = min(max(stop - 1, start + 1), n_major)
        yield start, stop
        start = stop


class _Chunk:
    """Some stored values of a sparse matrix and the segments they belong to.

    ``positions`` locates them in ``X.data``; ``values`` are float64;
    ``segments`` are ``row * n_groups + group``. Chunks of whole CSR rows
    (``rows=(start, stop, lengths)``) derive their segments from ``indptr``
    only when asked.
    """

    def __init__(self, positions, values, segments=None, rows=None):
        self.positions = positions
        self.values = values
        self._segments = segments
        self._rows = rows

    @property
    def segments(self):
        if self._segments is None:
            start, stop, lengths = self._rows
            self._segments = np.repeat(np.arange(start, stop), lengths)
        return self._segments

    def expand(self, per_segment):
        """``per_segment`` value of the segment of each stored value."""
        if self._rows is not None:
            start, stop, lengths = self._rows
            return np.repeat(per_segment[start:stop], lengths)
        return per_segment[self.segments]

    def _runs(self):
        """``(segment ids, start offsets)`` of the runs of equal segments, or
        None when the segments are not sorted."""
        if self._rows is not None:
            start, stop, lengths = self._rows
            nonempty = lengths > 0
            offsets = np.concatenate(([0], np.cumsum(lengths[:-1])))
            return np.arange(start, stop)[nonempty], offsets[nonempty]
        segments = self.segments
        boundaries = segments[1:] != segments[:-1]
        if not np.all(segments[1:][boundaries] > segments[:-1][boundaries]):
            return None
        starts = np.flatnonzero(np.concatenate(([True], boundaries)))
        return segments[starts], starts

    def reduce(self, ufunc, accumulator, values):
        """``accumulator[s] = ufunc(accumulator[s], values of segment s)``:
        ``ufunc.reduceat`` over runs of a segment (CSR), else ``ufunc.at``."""
        if self.values.size == 0:
            return
        runs = self._runs()
        if runs is None:
            ufunc.at(accumulator, self.segments, values)
            return
        ids, starts = runs
        accumulator[ids] = ufunc(accumulator[ids], ufunc.reduceat(values, starts))

    def select(self, mask):
        """The chunk restricted to the values where ``mask`` is True."""
        positions = self.positions
        if isinstance(positions, slice):
            positions = np.arange(positions.start, positions.stop)
        return _Chunk(positions[mask], self.values[mask], self.segments[mask])


class _SparseSegments:
    """The stored values of a CSR/CSC matrix, chunk by chunk, with the
    (row, group) segment each belongs to (``row * n_groups + group``)."""

    def __init__(self, X, groups):
        self.X = X
        self.n_groups = len(groups)
        n_rows, n_cols = X.shape
        self.group_of_column = np.full(n_cols, -1, dtype=np.intp)
        sizes = np.empty(len(groups))
        for b, columns in enumerate(groups):
            self.group_of_column[columns] = b
            sizes[b] = len(columns)
        self.group_sizes = np.tile(sizes, n_rows)
        self.n_segments = n_rows * self.n_groups
        # CSR rows as the only segments: runs are given by indptr.
        self.whole_rows = X.format == "csr" and sizes.tolist() == [n_cols]

    def chunks(self, only=None):
        """Yield the :class:`_Chunk` s of X, restricted to the segments where
        the boolean array ``only`` is True if given."""
        for start, stop in _major_chunks(self.X.indptr):
            if self.whole_rows and only is not None and not only[start:stop].any():
                continue
            yield self.chunk(start, stop, only)

    def for_each_chunk(self, function, only=None):
        """``function(chunk)`` for every chunk; chunks of whole CSR rows (whose
        segments no other chunk shares) run in parallel on the shared pool."""
        if not self.whole_rows:
            for chunk in self.chunks(only):
                function(chunk)
            return
        ranges = [
            (start, stop)
            for start, stop in _major_chunks(self.X.indptr)
            if only is None or only[start:stop].any()
        ]
        map_tasks(lambda bounds: function(self.chunk(*bounds, only)), ranges)

    def chunk(self, start, stop, only=None):
        """The :class:`_Chunk` of the major-axis range ``[start, stop)``."""
        X = self.X
        indptr = X.indptr
        begin, end = int(indptr[start]), int(indptr[stop])
        lengths = np.diff(indptr[start : stop + 1])
        positions = slice(begin, end)
        # A view of X's float64 data (never written), a float64 copy of
        # float32 data.
        values = X.data[positions].astype(np.float64, copy=False)
        if self.whole_rows:
            chunk = _Chunk(positions, values, rows=(start, stop, lengths))
        else:
            major = np.repeat(np.arange(start, stop), lengths)
            minor = X.indices[positions]
            rows, columns = (major, minor) if X.format == "csr" else (minor, major)
            group = self.group_of_column[columns]
            chunk = _Chunk(positions, values, rows * self.n_groups + group)
            if self.n_groups > 1 or (group < 0).any():
                chunk = chunk.select(group >= 0)
        if only is not None:
            chunk = chunk.select(chunk.expand(only))
        return chunk

    def stored_counts(self):
        """Number of stored values of each segment."""
        if self.whole_rows:
            return np.diff(self.X.indptr).astype(np.float64)
        counts = np.zeros(self.n_segments)
        for chunk in self.chunks():
            chunk.reduce(np.add, counts, np.ones(chunk.values.size))
        return counts


def _powers(abs_z, p):
    if p == 2:
        return np.multiply(abs_z, abs_z, out=abs_z)  # a fresh array: square it
    return abs_z if p == 1 else abs_z**p


def _nan_to_zero(values):
    """NaN (missing) replaced by 0; infinities kept (they flag overflow)."""
    return np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf)


def _sparse_power_sums(segments, rule, center, count, only=None, m=None):
    """Per segment ``sum(|z|**p)`` (``max |z|`` for p=inf) of ``z = x / m -
    center``, implicit zeros included.

    Without ``m`` (the fast path) NaN propagates, flagging the segment for the
    robust path; with ``m`` NaN is ignored.
    """
    power_sums = np.zeros(segments.n_segments)
    stored = np.zeros(segments.n_segments)
    if rule.p == np.inf:
        ufunc = np.maximum if m is None else np.fmax
    else:
        ufunc = np.add

    def accumulate(chunk):
        z = chunk.values if m is None else chunk.values / m[chunk.segments]
        if center is not None:
            z = z - center[chunk.segments]  # chunk.values may view X's data
        powers = _powers(np.abs(z), rule.p)
        chunk.reduce(ufunc, power_sums, powers if m is None else _nan_to_zero(powers))
        if center is not None:
            chunk.reduce(np.add, stored, (~np.isnan(chunk.values)).astype(float))

    segments.for_each_chunk(accumulate, only)
    if center is not None:
        # Each implicit zero lies |center| away from the center.
        implicit = count - stored
        if rule.p == np.inf:
            power_sums = np.where(
                implicit > 0, np.fmax(power_sums, np.abs(center)), power_sums
            )
        else:
            power_sums += implicit * _powers(np.abs(center), rule.p)
    return power_sums


def _sparse_centers(segments, count, only=None, m=None):
    """Per segment mean of ``x / m``, implicit zeros counted; NaN propagates
    without ``m`` and is ignored with it."""
    sums = np.zeros(segments.n_segments)
    for chunk in segments.chunks(only):
        y = (
            chunk.values
            if m is None
            else _nan_to_zero(chunk.values / m[chunk.segments])
        )
        chunk.reduce(np.add, sums, y)
    return np.divide(sums, count, out=np.zeros_like(sums), where=count > 0)


def _scaled_sparse_statistics(segments, rule, only):
    """The robust path for the segments flagged in ``only``; see
    :func:`_scaled_segment`."""
    n = segments.n_segments
    m = np.zeros(n)
    missing = np.zeros(n)
    for chunk in segments.chunks(only):
        chunk.reduce(np.fmax, m, np.abs(chunk.values))
        np.add.at(missing, chunk.segments, np.isnan(chunk.values).astype(float))
    zero = ~(m > 0)
    m[zero] = 1.0
    count = segments.group_sizes - missing
    center = _sparse_centers(segments, count, only, m) if rule.about_mean else None
    power_sums = _sparse_power_sums(segments, rule, center, count, only, m)
    spread = _spread_from_power_sums(power_sums, count, rule, zero)
    return m, zero, center, spread


def _compiled_rows_apply(compiled, X, rule, segments):
    """Whether :func:`_compiled_norms` computes ``rule`` on X: norms (p of 1,
    2 or inf, floor "max") of whole CSR rows of float32/float64."""
    return (
        segments.whole_rows
        and rule.has_fast_path
        and rule.scale
        and rule.floor == "max"
        and not (rule.about_mean or rule.per_value or rule.subtract_mean)
        and compiled.accepts(X.data)
    )


def _compiled_norms(compiled, X, rule, out, factor):
    """The fast path of :func:`_sparse_pass` by the compiled kernel, rows in
    parallel: each row's norm and, into ``out`` (if given), the row divided by
    it (times ``factor``), in one read of the row. Returns ``(spread, safe)``
    as the numpy fast path computes them; unsafe rows are not written."""
    n_rows = X.shape[0]
    spread = np.empty(n_rows)
    safe = np.empty(n_rows, dtype=bool)
    code = {1.0: compiled.L1, 2.0: compiled.L2, np.inf: compiled.MAX}[rule.p]
    target = None if out is None else out.data
    map_tasks(
        lambda rows: compiled.normalize_rows(
            X, code, rule.eps, factor, *rows, target, spread, safe
        ),
        _major_chunks(X.indptr),
    )
    return spread, safe


def _sparse_pass(X, rule, groups, out, factors):
    """The kernel over CSR/CSC ``X`` (no centering). See :func:`_dense_pass`.

    Fast path first (statistics of the values as they are), then the robust
    path for the segments that need it, as for dense data.
    """
    segments = _SparseSegments(X, groups)
    count = segments.group_sizes
    center, power_sums = None, np.zeros(segments.n_segments)
    compiled = kernels("sparse")
    if compiled is not None and _compiled_rows_apply(compiled, X, rule, segments):
        g = None if factors is None else factors[0]
        spread, safe = _compiled_norms(compiled, X, rule, out, g)
    else:
        compiled = None
        with np.errstate(all="ignore"):
            if rule.has_fast_path and rule.about_mean:
                center = _sparse_centers(segments, count)
            if rule.has_fast_path:
                power_sums = _sparse_power_sums(segments, rule, center, count)
        safe = _is_safe(power_sums)
        spread = _spread_from_power_sums(power_sums, count, rule, ~safe)
    zero = np.zeros(segments.n_segments, dtype=bool)
    spreads = spread.copy()
    unsafe = ~safe
    if unsafe.any():
        # Segments without stored values are all zero: no need to look again.
        unsafe &= segments.stored_counts() > 0
        zero[~safe & ~unsafe] = True
    if unsafe.any():
        m_u, zero_u, center_u, spread_u = _scaled_sparse_statistics(
            segments, rule, unsafe
        )
        zero[unsafe] = zero_u[unsafe]
        spreads[unsafe] = _spread_in_x_units(m_u, zero_u, spread_u)[unsafe]
    if out is not None:
        factors = 1.0 if factors is None else np.tile(factors, X.shape[0])
        if compiled is None:
            g = rule.multiplier(np.ones_like(spread), ~safe, center, spread)
            g *= factors

        def write(chunk):
            factor = chunk.expand(g)
            if isinstance(chunk.positions, slice):  # write into out's data
                np.multiply(
                    chunk.values,
                    factor,
                    out=out.data[chunk.positions],
                    casting="same_kind",
                )
            else:
                out.data[chunk.positions] = chunk.values * factor

        if compiled is None:  # else written with the norms
            segments.for_each_chunk(write)
        if unsafe.any():
            g_u = rule.multiplier(m_u, zero_u, center_u, spread_u) * factors
            for chunk in segments.chunks(unsafe):
                m_chunk = m_u[chunk.segments]
                out.data[chunk.positions] = chunk.values / m_chunk * g_u[chunk.segments]
    shape = (X.shape[0], segments.n_groups)
    return spreads.reshape(shape), zero.reshape(shape)
