"""Row normalizers: each sample scaled on its own, from its own values.

These are the data-preprocessing counterparts of the normalization layers of
neural networks, applied to the rows of a feature matrix:

* :class:`Normalizer` / :func:`normalize` divide each row by its p-norm (the L2
  normalization used for embeddings and TF-IDF vectors);
* :class:`RowStandardizer` centers each row and divides it by its standard
  deviation (layer normalization of one sample) or divides it by its root mean
  square (RMS normalization);
* with ``groups``, either does the same within each group of columns: group
  normalization, instance normalization (one group per channel), and block-wise
  L2 normalization of concatenated embeddings.

They learn nothing from data: ``fit`` only validates the input and records the
number and names of features, ``transform`` works without ``fit``, and they are
safe inside any cross-validation.

One kernel serves all of them. For every row segment (a row, or the part of a
row in one group of columns) it computes, in float64 whatever the input dtype:

* ``m``, the largest absolute value, NaN ignored;
* ``y = x / m``, the segment scaled into ``[-1, 1]`` so that powers of its
  values neither overflow nor underflow (the technique of LAPACK's ``nrm2``);
* the spread of ``y``: its p-norm about zero (norms), or the root mean square
  of ``y`` about zero or about its mean (RMS, standard deviation); NaN ignored
  and, for sparse input, implicit zeros counted without being materialised;

and maps the segment to ``(y - center) * g``, where ``g`` folds ``m``, the
spread and the estimator's floor (``eps``, zero rows, constant rows) into one
multiplier. Dense data is processed in cache-sized row blocks, sparse data in
chunks of its stored values, so no float64 copy of the whole input is made.
Array API input (``array_api_dispatch=True``) runs the same maths in its
namespace on its device (:func:`_namespace_pass`): every segment takes the
scaled path, in the device's most precise float dtype, and the result is
rounded once to the input's dtype.
"""

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._affine import safe_scale
from ._array_api import namespace_of, to_numpy
from ._callbacks import CallbackSupportMixin, fit_task
from ._dask import DaskDispatchMixin, is_dask_collection, metadata_sample
from ._estimator import DocLinkMixin, ParamsMixin
from ._kernels import kernels
from ._parallel import map_tasks
from ._validation import (
    BLOCK_ELEMENTS,
    _describe_columns,
    check_input,
    feature_names_of,
    is_sparse,
    may_write_in_place,
    row_blocks,
)
from .stats import Moments

__all__ = ["Normalizer", "RowStandardizer", "normalize", "row_norms"]

_NAMED_NORMS = {"l1": 1.0, "l2": 2.0, "max": np.inf}

_NORM_CONSTRAINT = [
    StrOptions(set(_NAMED_NORMS)),
    Interval(Real, 1, None, closed="both"),
]


def _norm_exponent(norm):
    """The exponent p of a norm given by name ("l1", "l2", "max") or number."""
    return _NAMED_NORMS[norm] if isinstance(norm, str) else float(norm)


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RowRule:
    """What one row normalizer computes for each row segment.

    Parameters
    ----------
    p : float
        Exponent of the spread: the norm's p, or 2 for RMS and standard
        deviation.
    about_mean : bool
        Measure the spread about the segment's mean (standard deviation)
        rather than about zero (norms, RMS).
    per_value : bool
        Average ``|value|**p`` over the segment's non-missing values (RMS,
        standard deviation) instead of summing it (norms).
    subtract_mean : bool
        Center the output.
    scale : bool
        Divide the output by the (floored) spread.
    eps : float
        Floor of the spread, see ``floor``.
    floor : {"max", "hypot"}
        ``"max"``: divide by ``max(spread, eps)`` and leave all-zero segments
        as they are (``torch.nn.functional.normalize``). ``"hypot"``: divide
        by ``sqrt(spread**2 + eps)`` (layer and RMS normalization); with
        ``eps=0`` a segment whose spread is within the moments' rounding
        error of its magnitude gets divisor 1
        (:func:`sknorm._affine.safe_scale`, the rule of every sknorm scaler).
    """

    p: float
    about_mean: bool = False
    per_value: bool = False
    subtract_mean: bool = False
    scale: bool = True
    eps: float = 0.0
    floor: str = "max"

    @property
    def is_identity(self):
        return not (self.scale or self.subtract_mean)

    @property
    def has_fast_path(self):
        """Whether unscaled power sums give accurate spreads. Not for other p:
        the rounding of ``1 / p`` in ``sum ** (1 / p)`` costs a relative
        ``log(sum) * eps``, small only for sums near 1 (scaled segments)."""
        return self.p in (1.0, 2.0, np.inf)

    def multiplier(self, m, zero, center, spread):
        """``g`` such that a segment's output is ``(y - center) * g``.

        ``m`` is the segment's max-abs (1 for all-zero segments, flagged by
        ``zero``), ``center`` and ``spread`` are in units of ``y = x / m``.
        """
        if not self.scale:
            return m.copy()
        if self.floor == "max":
            # spread >= 1 for a non-zero segment (its largest |y| is 1).
            g = 1.0 / np.where(zero, 1.0, spread)
            if self.eps > 0:
                below = ~zero & (m * spread < self.eps)
                g[below] = m[below] / self.eps
            return g
        spread_x = m * spread  # at most 2 * m: cannot overflow
        if self.eps > 0:
            divisor = np.hypot(spread_x, np.sqrt(self.eps))
        else:
            magnitude = m * center if center is not None else np.zeros_like(m)
            divisor = safe_scale(spread_x, magnitude, Moments.spread_rounding)
        return m / divisor


def _nan_aware_row_sums(values, nan_rows):
    """Row sums of ``values``; the rows listed in ``nan_rows`` ignore NaN."""
    sums = values.sum(axis=1)
    if nan_rows.size:
        sums[nan_rows] = np.nansum(values[nan_rows], axis=1)
    return sums


def _power_sums(z, abs_z, p, nan_rows):
    """Per row ``sum(|z|**p)`` (``max |z|`` for p=inf), NaN ignored."""
    if p == 2:
        sums = np.einsum("ij,ij->i", z, z)
        if nan_rows.size:
            part = z[nan_rows]
            sums[nan_rows] = np.nansum(part * part, axis=1)
        return sums
    if p == np.inf:
        return np.fmax.reduce(abs_z, axis=1)
    if p == 1:
        return _nan_aware_row_sums(abs_z, nan_rows)
    return _nan_aware_row_sums(np.power(abs_z, p), nan_rows)


def _spread_from_power_sums(power_sums, count, rule, zero, xp=np):
    """Each segment's spread from its power sums over ``count`` values (0 for
    the segments flagged in ``zero``), in the namespace ``xp``."""
    if rule.per_value and rule.p != np.inf:
        has_values = count > 0
        power_sums = xp.where(
            has_values, power_sums / xp.where(has_values, count, 1.0), 0.0
        )
    if rule.p == 2:
        spread = xp.sqrt(power_sums)
    elif rule.p in (1, np.inf):
        spread = power_sums
    else:
        spread = power_sums ** (1.0 / rule.p)
    return xp.where(zero, 0.0, spread)


def _spread_in_x_units(m, zero, spread):
    """``m * spread``, 0 for all-zero segments; inf where it exceeds float64."""
    with np.errstate(over="ignore"):
        return np.where(zero, 0.0, m * spread)


#: Unscaled power sums at least this large (and finite) are accurate: powers
#: that underflowed contributed at most n * 2**-1074 each, a relative n * 1e-34.
_SAFE_POWER_SUM = 2.0**-960

#: A centered segment whose spread is at least this fraction of its mean's
#: magnitude keeps the one-pass mean: its rounding (a few ulps of the mean)
#: is then below 1e-12 of the spread. Others get the corrected mean
#: (:func:`_corrected_center`).
_CENTER_ACCURACY = 2.0**-8


def _corrected_center(y, center, count, nan_rows):
    """The corrected two-pass mean of each row of ``y``, and ``y`` minus it.

    ``y - center`` is exact where ``center`` is near the values; the mean of
    those differences (the correction) is then subtracted from them rather
    than added to ``center``, whose float cannot hold the mean more finely
    than its own ulp (half an ulp of 1e10 is 1e-6, a millionth of a unit
    spread about 1e10). A constant row gets exact zeros: the one-pass mean of
    n copies of 3.3 is off by an ulp, which the scaling would blow up to
    ``ulp / sqrt(eps)``. Returns ``(center + correction, deviations)``.
    """
    z = y - center[:, None]
    correction = _nan_aware_row_sums(z, nan_rows)
    correction = np.divide(
        correction, count, out=np.zeros_like(correction), where=count > 0
    )
    z -= correction[:, None]
    return center + correction, z


def _is_safe(power_sums):
    """Whether unscaled power sums are accurate (neither under- nor overflow)."""
    return (power_sums >= _SAFE_POWER_SUM) & (power_sums < np.inf)


def _dense_power_sums(z, p):
    """Per row ``sum(|z|**p)`` (``max |z|`` for p=inf) of NaN-free rows."""
    if p == 2:
        return np.einsum("ij,ij->i", z, z)
    if p == np.inf:
        return np.abs(z).max(axis=1)
    if p == 1:
        return np.abs(z).sum(axis=1)
    return np.power(np.abs(z), p).sum(axis=1)


def _unscaled_segment(x, rule):
    """The fast path: statistics of a dense segment ``x`` taken as it is.

    Returns ``(center, spread, values, safe)``. Rows flagged unsafe (NaN, all
    zero, constant when centering, or powers that overflow or underflow) get
    spread 0 and must go through :func:`_scaled_segment`.
    """
    n_cols = x.shape[1]
    if not rule.has_fast_path:
        return None, np.zeros(len(x)), x, np.zeros(len(x), dtype=bool)
    center = None
    z = x
    if rule.about_mean:
        center = x.sum(axis=1) / n_cols
        z = x - center[:, None]
    power_sums = _dense_power_sums(z, rule.p)
    safe = _is_safe(power_sums)
    spread = _spread_from_power_sums(power_sums, n_cols, rule, ~safe)
    if center is not None:
        # Near-constant segments: the one-pass mean's rounding is not small
        # against their spread; they get the corrected mean.
        rows = np.flatnonzero(spread < _CENTER_ACCURACY * np.abs(center))
        if rows.size:
            center[rows], z[rows] = _corrected_center(
                x[rows], center[rows], np.full(rows.size, float(n_cols)), rows[:0]
            )
            power_sums[rows] = _dense_power_sums(z[rows], rule.p)
            safe = _is_safe(power_sums)
            spread = _spread_from_power_sums(power_sums, n_cols, rule, ~safe)
    values = z if rule.subtract_mean else x
    return center, spread, values, safe


def _times_multiplier(values, g):
    """``values * g[:, None]``, where an infinite ``g`` (a spread below eps
    of values near the float64 maximum) leaves zero deviations zero."""
    with np.errstate(all="ignore"):
        product = values * g[:, None]
    overflowed = ~np.isfinite(g)
    if overflowed.any():
        product[overflowed] = np.where(
            values[overflowed] == 0, 0.0, product[overflowed]
        )
    return product


def _power_of_two_above(m):
    """The power of two in ``(m, 2 m]`` (at most 2**1023) of each positive ``m``.

    Deviations from a mean keep every digit only when the values are scaled
    exactly: ``x / max|x|`` rounds each value by half an ulp of 1, a
    millionth of a unit spread about 1e10. Norms need no such care (they are
    relative to the values), and their rule wants ``max |y| == 1``.
    """
    _, exponent = np.frexp(m)
    return np.ldexp(1.0, np.minimum(exponent, 1023))


def _scaled_segment(x, rule):
    """The robust path: statistics of ``y = x / m``, NaN ignored.

    ``x`` (a float64 array the caller owns) is overwritten. Returns ``(m,
    zero, center, spread, values)`` where ``values`` is the centered or plain
    ``y`` and ``center`` and ``spread`` are in units of ``y``.
    """
    n_cols = x.shape[1]
    abs_x = np.abs(x)
    m = np.fmax.reduce(abs_x, axis=1)  # NaN ignored; NaN for all-NaN rows
    zero = ~(m > 0)
    m[zero] = 1.0
    if rule.about_mean:
        m = _power_of_two_above(m)
    x /= m[:, None]
    abs_x /= m[:, None]
    # A row sum of |y| (each at most 1) is NaN exactly when the row holds NaN.
    abs_sums = abs_x.sum(axis=1)
    nan_rows = np.flatnonzero(np.isnan(abs_sums))
    count = np.full(len(m), float(n_cols))
    if nan_rows.size:
        count[nan_rows] -= np.isnan(x[nan_rows]).sum(axis=1)
        abs_sums[nan_rows] = np.nansum(abs_x[nan_rows], axis=1)
    center = None
    z, abs_z = x, abs_x
    if rule.about_mean:
        sums = _nan_aware_row_sums(x, nan_rows)
        center = np.divide(sums, count, out=np.zeros_like(sums), where=count > 0)
        center, z = _corrected_center(x, center, count, nan_rows)
        abs_z = np.abs(z) if rule.p != 2 else None
    if rule.p == 1 and not rule.about_mean:
        power_sums = abs_sums
    else:
        power_sums = _power_sums(z, abs_z, rule.p, nan_rows)
    spread = _spread_from_power_sums(power_sums, count, rule, zero)
    values = z if rule.subtract_mean else x
    return m, zero, center, spread, values


def _dense_layout(groups):
    """Groups bucketed by size, so that equally sized groups run as one batch.

    Returns a list of ``(group ids, columns)``: ``columns`` is a slice for a
    bucket of one contiguous group (a view of each row block), else an index
    matrix of shape (groups in the bucket, group size).
    """
    by_size = {}
    for b, columns in enumerate(groups):
        by_size.setdefault(len(columns), []).append(b)
    layout = []
    for ids in by_size.values():
        matrix = np.stack([np.asarray(groups[b]) for b in ids])
        first, last = matrix[0, 0], matrix[0, -1]
        if len(ids) == 1 and np.array_equal(matrix[0], np.arange(first, last + 1)):
            layout.append((np.array(ids), slice(int(first), int(last) + 1)))
        else:
            layout.append((np.array(ids), matrix))
    return layout


def _dense_pass(X, rule, groups, out, factors):
    """Run the kernel over dense ``X``; write the result to ``out`` if given.

    Each cache-sized row block is converted to float64 (float32 input); the
    segments of a bucket of equally sized groups form the rows of one matrix
    (a view for a single contiguous group), which takes the fast path; only
    the segments that need it are then scaled by their max-abs. Returns the
    spread of every (row, group) segment in X's units and the mask of
    all-zero segments, both of shape (n_rows, n_groups).
    """
    n_rows, n_cols = X.shape
    spreads = np.empty((n_rows, len(groups)))
    zeros = np.zeros((n_rows, len(groups)), dtype=bool)
    for ids, columns in _dense_layout(groups):
        one_view = isinstance(columns, slice)
        n_per_row = len(ids)
        for rows in row_blocks(n_rows, n_cols):
            block = X[rows].astype(np.float64, copy=False)
            n_block = block.shape[0]
            x = block[:, columns]
            if not one_view:  # (rows, groups, size) -> one segment per row
                x = x.reshape(n_block * n_per_row, -1)
            factor = 1.0 if factors is None else np.tile(factors[ids], n_block)
            with np.errstate(all="ignore"):
                center, spread, values, safe = _unscaled_segment(x, rule)
            unsafe = np.flatnonzero(~safe)
            # Copied before the fast path's output may overwrite x in place.
            x_unsafe = x[unsafe] if unsafe.size else None
            spreads[rows, ids] = spread.reshape(n_block, n_per_row)
            target = None if out is None else out[rows]
            if target is not None:
                g = rule.multiplier(np.ones_like(spread), ~safe, center, spread)
                g *= factor
                with np.errstate(all="ignore"):
                    if one_view:
                        np.multiply(values, g[:, None], out=target[:, columns])
                    else:
                        target[:, columns] = (values * g[:, None]).reshape(
                            n_block, n_per_row, -1
                        )
            if x_unsafe is None:
                continue
            m, zero, center, spread, values = _scaled_segment(x_unsafe, rule)
            row, which = np.divmod(unsafe, n_per_row)
            spreads[rows][row, ids[which]] = _spread_in_x_units(m, zero, spread)
            zeros[rows][row, ids[which]] = zero
            if target is not None:
                g = rule.multiplier(m, zero, center, spread)
                g *= factor if np.isscalar(factor) else factor[unsafe]
                selected = columns if one_view else columns[which]
                target[row[:, None] if not one_view else row, selected] = (
                    _times_multiplier(values, g)
                )
    return spreads, zeros


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


def _namespace_segments(xp, x, rule):
    """:func:`_scaled_segment` on segments ``x`` of shape (rows, segments,
    size) of an array API array: ``(m, zero, center, spread, values)``, NaN
    ignored, each of shape (rows, segments) but ``values`` (x's shape)."""
    dtype = x.dtype
    missing = xp.isnan(x)
    m = xp.max(xp.where(missing, 0.0, xp.abs(x)), axis=-1)
    zero = ~(m > 0)
    m = xp.where(zero, 1.0, m)
    if rule.about_mean:  # an exact scaling (see _power_of_two_above)
        exponent = xp.clip(xp.ceil(xp.log2(m)), max=1023.0)
        m = xp.full_like(m, 2.0) ** exponent
    y = x / m[..., None]
    count = xp.sum(xp.astype(~missing, dtype), axis=-1)
    has_values = count > 0
    safe_count = xp.where(has_values, count, 1.0)
    center, z = None, y
    if rule.about_mean:
        total = xp.sum(xp.where(missing, 0.0, y), axis=-1)
        center = xp.where(has_values, total / safe_count, 0.0)
        # The corrected two-pass mean (see _corrected_center).
        z = y - center[..., None]
        residual = xp.sum(xp.where(missing, 0.0, z), axis=-1)
        correction = xp.where(has_values, residual / safe_count, 0.0)
        z = z - correction[..., None]
        center = center + correction
    present = xp.where(missing, 0.0, z)
    if rule.p == 2:
        sums = xp.sum(present * present, axis=-1)
    elif rule.p == np.inf:
        sums = xp.max(xp.abs(present), axis=-1)
    elif rule.p == 1:
        sums = xp.sum(xp.abs(present), axis=-1)
    else:
        sums = xp.sum(xp.abs(present) ** rule.p, axis=-1)
    spread = _spread_from_power_sums(sums, count, rule, zero, xp)
    return m, zero, center, spread, (z if rule.subtract_mean else y)


def _namespace_multiplier(xp, rule, m, zero, center, spread):
    """:meth:`_RowRule.multiplier` with the namespace's functions."""
    if not rule.scale:
        return m
    if rule.floor == "max":
        g = 1.0 / xp.where(zero, 1.0, spread)
        if rule.eps > 0:
            below = ~zero & (m * spread < rule.eps)
            g = xp.where(below, m / rule.eps, g)
        return g
    spread_x = m * spread
    if rule.eps > 0:
        divisor = xp.hypot(spread_x, xp.full_like(spread_x, math.sqrt(rule.eps)))
    else:
        # safe_scale's constant rule: a spread within the moments' rounding
        # error of the magnitude is none.
        threshold = xp.zeros_like(spread_x)
        if center is not None:
            magnitude = xp.abs(m * center)
            threshold = float(Moments.spread_rounding) * xp.where(
                xp.isfinite(magnitude), magnitude, 0.0
            )
        divisor = xp.where(spread_x > threshold, spread_x, 1.0)
    return m / divisor


def _namespace_pass(X, namespace, rule, groups, factors, with_output):
    """The kernel over an array API array, on its device.

    Each bucket of equally sized groups is gathered into one (rows, groups,
    size) array and takes the scaled path (:func:`_namespace_segments`); the
    outputs and the columns in no group are put back in column order with
    one ``take``. Returns ``(out, spreads, zeros)`` as :func:`_row_pass`,
    in the namespace (``out`` None unless ``with_output``).
    """
    xp = namespace.xp
    n_rows, n_cols = X.shape
    x = xp.astype(X, namespace.float_dtype)
    pieces, piece_columns, spreads, zeros, group_ids = [], [], [], [], []
    for ids, columns in _dense_layout(groups):
        flat = np.arange(n_cols)[columns] if isinstance(columns, slice) else columns
        flat = flat.reshape(-1)
        segment = x[:, columns] if isinstance(columns, slice) else None
        if segment is None:
            segment = namespace.take_columns(x, flat)
        segment = xp.reshape(segment, (n_rows, len(ids), -1))
        m, zero, center, spread, values = _namespace_segments(xp, segment, rule)
        spreads.append(xp.where(zero, 0.0, m * spread))
        zeros.append(zero)
        group_ids.extend(int(b) for b in ids)
        if with_output:
            g = _namespace_multiplier(xp, rule, m, zero, center, spread)
            if factors is not None:
                g = g * namespace.asarray(factors[ids])
            pieces.append(xp.reshape(values * g[..., None], (n_rows, -1)))
            piece_columns.append(flat)
    group_order = np.argsort(group_ids)
    spreads = namespace.take_columns(xp.concat(spreads, axis=1), group_order)
    zeros = namespace.take_columns(xp.concat(zeros, axis=1), group_order)
    if not with_output:
        return None, spreads, zeros
    passed = np.setdiff1d(np.arange(n_cols), np.concatenate(piece_columns))
    if passed.size:  # columns in no group, unchanged
        pieces.append(namespace.take_columns(x, passed))
        piece_columns.append(passed)
    out = xp.concat(pieces, axis=1)
    order = np.argsort(np.concatenate(piece_columns))
    if np.any(order != np.arange(n_cols)):
        out = namespace.take_columns(out, order)
    return xp.astype(out, X.dtype), spreads, zeros


def _row_pass(X, rule, groups, *, out=None, factors=None):
    """Apply ``rule`` to every (row, group) segment of validated ``X``.

    Parameters
    ----------
    X : ndarray or CSR/CSC matrix of float32 or float64
        Validated input (see :func:`sknorm._validation.check_input`).
    rule : _RowRule
        What to compute.
    groups : list of ndarray of int
        Non-overlapping column indices; columns in no group are left alone.
    out : ndarray or sparse matrix, optional
        Receives the result: X itself (in place) or an array of X's shape and
        dtype (for sparse input, a copy of X with the same structure).
    factors : ndarray of shape (n_groups,), optional
        Extra multiplier of each group's output.

    Returns
    -------
    spreads : ndarray of shape (n_rows, n_groups)
        Each segment's spread in X's units (its norm, RMS or standard
        deviation; 0 for all-zero segments); ``inf`` only where the true value
        exceeds the float64 range.
    zeros : ndarray of bool of shape (n_rows, n_groups)
        Segments whose values are all zero or missing.
    """
    namespace = namespace_of(X)
    if namespace is not None:
        _, spreads, zeros = _namespace_pass(
            X, namespace, rule, groups, factors, with_output=False
        )
        return spreads, zeros
    if is_sparse(X):
        if rule.subtract_mean:  # pragma: no cover - estimators refuse earlier
            raise ValueError("Sparse rows cannot be centered.")
        return _sparse_pass(X, rule, groups, out, factors)
    return _dense_pass(X, rule, groups, out, factors)


def _output_for(X, in_place, groups):
    """Where the result goes: X itself, or a copy of it when some columns are
    passed through (or X is sparse), else a fresh array."""
    if in_place:
        return X
    every_column = sum(map(len, groups)) == X.shape[1]
    if is_sparse(X) and every_column:
        # Every stored value is written: copy the structure, not the values.
        structure = (np.empty_like(X.data), X.indices.copy(), X.indptr.copy())
        return type(X)(structure, shape=X.shape)
    if is_sparse(X) or not every_column:
        return X.copy()
    return np.empty_like(X)


# ---------------------------------------------------------------------------
# Groups of columns
# ---------------------------------------------------------------------------


def _column_labels(columns, feature_names):
    if feature_names is not None:
        return [repr(str(feature_names[c])) for c in columns]
    return [str(int(c)) for c in columns]


def _resolve_group(group, index, n_features, feature_names, name):
    """Column indices selected by one entry of ``groups``."""
    where = f"{name}: group {index} ({group!r})"
    if isinstance(group, slice):
        return np.arange(n_features)[group]
    if isinstance(group, (str, bytes, Integral)) or not hasattr(group, "__iter__"):
        raise ValueError(
            f"{where} is not a collection of columns: each group must be a list "
            "or array of column indices or names, a boolean mask or a slice "
            "(write [[0, 1], [2, 3]], not [0, 1, 2, 3])."
        )
    selected = np.asarray(group if isinstance(group, np.ndarray) else list(group))
    if selected.ndim != 1:
        raise ValueError(f"{where} must be one-dimensional.")
    if selected.size == 0:
        return selected.astype(np.intp)
    kind = selected.dtype.kind
    if kind == "b":
        if selected.size != n_features:
            raise ValueError(
                f"{where} is a boolean mask of length {selected.size}, but X has "
                f"{n_features} feature(s)."
            )
        return np.flatnonzero(selected)
    if kind in "iu":
        bad = selected[(selected < -n_features) | (selected >= n_features)]
        if bad.size:
            raise ValueError(
                f"{where} holds column indices {_describe_columns(map(str, bad))} "
                f"out of range for X with {n_features} feature(s)."
            )
        return np.where(selected < 0, selected + n_features, selected).astype(np.intp)
    if kind in "UO" and all(isinstance(c, str) for c in selected):
        if feature_names is None:
            raise ValueError(
                f"{where} names columns, but X has no column names: pass a "
                "DataFrame with string column names, or column indices."
            )
        position = {str(c): i for i, c in enumerate(feature_names)}
        unknown = [repr(str(c)) for c in selected if c not in position]
        if unknown:
            raise ValueError(
                f"{where} names column(s) {_describe_columns(unknown)} that are "
                "not in X."
            )
        return np.array([position[c] for c in selected], dtype=np.intp)
    raise ValueError(
        f"{where} must hold integer column indices, column names or booleans; "
        f"got values of dtype {selected.dtype}."
    )


def resolve_groups(groups, n_features, feature_names=None, name="groups"):
    """Turn a ``groups`` parameter into validated column index arrays.

    Parameters
    ----------
    groups : list of groups or None
        Each group is a list or array of column indices (negative indices count
        from the end), a list of column names (when ``feature_names`` is
        known), a boolean mask over the columns, or a slice. None means one
        group holding every column.
    n_features : int
        Number of columns of X.
    feature_names : ndarray of str, optional
        Column names of X, to resolve names.
    name : str
        Who is asking, for error messages.

    Returns
    -------
    groups : list of ndarray of int
        One index array per group. Groups never overlap; columns in no group
        are absent.

    Raises
    ------
    ValueError
        If a group is empty, refers to columns X does not have, or shares
        columns with another group.
    """
    if groups is None:
        return [np.arange(n_features)]
    if isinstance(groups, (str, slice)) or not hasattr(groups, "__iter__"):
        raise ValueError(
            f"{name}: groups must be a list of column groups, got {groups!r}."
        )
    resolved = []
    for index, group in enumerate(groups):
        columns = _resolve_group(group, index, n_features, feature_names, name)
        if columns.size == 0:
            raise ValueError(
                f"{name}: group {index} ({group!r}) selects no column; X has "
                f"{n_features} feature(s)."
            )
        resolved.append(columns)
    if not resolved:
        raise ValueError(f"{name}: groups must hold at least one group.")
    times_used = np.bincount(np.concatenate(resolved), minlength=n_features)
    shared = np.flatnonzero(times_used > 1)
    if shared.size:
        raise ValueError(
            f"{name}: groups must not overlap, but column(s) "
            f"{_describe_columns(_column_labels(shared, feature_names))} appear "
            "more than once."
        )
    return resolved


# ---------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------


class _RowNormalizer(
    DocLinkMixin,
    ParamsMixin,
    CallbackSupportMixin,
    DaskDispatchMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Shared machinery of the stateless row normalizers.

    Subclasses describe their computation (:meth:`_rule`) and may refuse sparse
    input (:meth:`_sparse_advice`) or add per-group factors (:meth:`_factors`).
    """

    _parameter_constraints: dict = {
        "groups": ["array-like", None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "copy": ["boolean"],
    }

    def _rule(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _sparse_advice(self):
        """None if sparse input is supported, else the advice to give."""
        return None

    def _factors(self, n_groups):
        return None

    def _check(self, X, *, reset, fitted=True):
        advice = self._sparse_advice()
        return check_input(
            self,
            X,
            reset=reset,
            accept_sparse=("csr", "csc") if advice is None else False,
            sparse_message=advice,
            check_features=fitted,
        )

    def _groups(self, n_features, feature_names):
        return resolve_groups(
            self.groups, n_features, feature_names, type(self).__name__
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate X and record its number and names of features.

        Row normalizers learn nothing from data: ``transform`` works without
        ``fit``. Fitting checks the parameters against X (for example that
        ``groups`` refers to existing columns) and lets ``transform`` check
        that later data has the same features.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data whose features later data must match.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        with fit_task(self, "fit") as task:
            if is_dask_collection(X):
                # Only the metadata is needed: never read the data.
                X = metadata_sample(X)
            X = self._check(X, reset=True)
            task.begin(X)
            groups = self._groups(X.shape[1], getattr(self, "feature_names_in_", None))
            self._factors(len(groups))
        return self

    def transform(self, X, copy=None):
        """Normalize each row (each group of columns within each row) of X.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to normalize. NaN values are ignored in the row statistics and
            kept in the output.
        copy : bool, default=None
            Whether to leave X untouched; None uses the ``copy`` parameter.

        Returns
        -------
        X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
            Normalized data, of X's float dtype and, if sparse, X's format.
        """
        # Stateless: transform may be the first call, so it validates too.
        self._validate_params()
        copy = self.copy if copy is None else copy
        fitted = hasattr(self, "n_features_in_")
        X_checked = self._check(X, reset=False, fitted=fitted)
        names = (
            getattr(self, "feature_names_in_", None) if fitted else feature_names_of(X)
        )
        out, _ = self._normalize(
            X_checked, in_place=may_write_in_place(X_checked, X, copy), names=names
        )
        return out

    def _normalize(self, X, *, in_place, names):
        """Normalize validated X; return ``(X_out, spreads)``."""
        rule = self._rule()
        namespace = namespace_of(X)
        if rule.is_identity:
            if namespace is not None:
                return namespace.xp.asarray(X, copy=True), None
            return (X if in_place else X.copy()), None
        groups = self._groups(X.shape[1], names)
        factors = self._factors(len(groups))
        self._before_pass(X, rule, groups)
        if namespace is not None:
            out, spreads, _ = _namespace_pass(
                X, namespace, rule, groups, factors, with_output=True
            )
            return out, spreads
        out = _output_for(X, in_place, groups)
        spreads, _ = _row_pass(X, rule, groups, out=out, factors=factors)
        return out, spreads

    def _before_pass(self, X, rule, groups):
        """Hook run before X is written to (for checks that must not leave a
        half-transformed array behind)."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.array_api_support = True
        tags.input_tags.allow_nan = True
        tags.input_tags.sparse = self._sparse_advice() is None
        tags.transformer_tags.preserves_dtype = ["float64", "float32", "float16"]
        return tags


class Normalizer(_RowNormalizer):
    """Normalize samples individually to unit norm.

    Drop-in for :class:`sklearn.preprocessing.Normalizer`: each row ``x`` is
    divided by its norm,

    .. math:: x \\mapsto \\frac{x}{\\max(\\|x\\|_p, \\varepsilon)}

    and rows that are all zero stay zero. Computed in float64 with each row
    first scaled by its largest absolute value, so that rows whose squares
    overflow or underflow (``[1e160, 1e160]``, float32 ``[1e20, 1e20]``,
    ``[1e-200, 1e-200]``) are normalized correctly, where scikit-learn returns
    zeros or leaves them unscaled.

    Additions:

    * any exponent ``p >= 1`` as ``norm`` (``"l1"`` is 1, ``"l2"`` 2 and
      ``"max"`` infinity);
    * NaN values are ignored in the norm and kept in the output;
    * ``eps``, the floor of the norm, and ``zero_rows`` to refuse all-zero rows;
    * ``groups`` of columns normalized separately (block-wise normalization of
      concatenated embeddings) with optional ``weights``;
    * CSC input stays CSC.

    Parameters
    ----------
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm to divide each row by: ``"l1"``, ``"l2"``, ``"max"`` (the
        largest absolute value) or the exponent p of the p-norm.
    copy : bool, default=True
        If False, normalize in place where possible (a float array or a CSR/CSC
        matrix that the caller passed directly).
    eps : float >= 0, default=0.0
        Rows whose norm is below ``eps`` are divided by ``eps`` instead, so
        that tiny rows are not blown up to unit norm. With ``eps=0`` every row
        that is not all zero gets unit norm, however small it is.
    zero_rows : {"keep", "raise"}, default="keep"
        What to do with rows (or row groups) whose values are all zero or NaN,
        which have no direction: ``"keep"`` leaves them as they are,
        ``"raise"`` raises a ValueError naming them.
    groups : list of column groups, default=None
        Normalize each group of columns separately. Each group is a list or
        array of column indices, a list of column names (for DataFrames), a
        boolean mask or a slice. Groups must not overlap; columns in no group
        are passed through unchanged. None normalizes whole rows.
    weights : array-like of shape (n_groups,), default=None
        Relative weight of each group, for ``groups`` of embeddings: weights
        are divided by their sum, and group ``b`` of each row is scaled to
        p-norm ``weights[b] ** (1 / p)`` (instead of 1). For ``norm="l2"`` the
        dot product of two results is then the weighted mean of the cosine
        similarities of their groups, and each result row has unit norm. Needs
        a finite p.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    normalize : The function, which can also return the norms.
    RowStandardizer : Layer and RMS normalization of each row.

    Notes
    -----
    The estimator is stateless: ``transform`` needs no ``fit`` and is safe in
    any cross-validation. The norm is computed in float64 for float32 input,
    in row blocks, and the result is rounded once.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import Normalizer
    >>> X = [[4, 1, 2, 2], [1, 3, 9, 3], [5, 7, 5, 1]]
    >>> Normalizer().fit_transform(X)
    array([[0.8, 0.2, 0.4, 0.4],
           [0.1, 0.3, 0.9, 0.3],
           [0.5, 0.7, 0.5, 0.1]])

    Squares that overflow are no problem:

    >>> Normalizer().transform(np.array([[1e160, 1e160, 0.0]]))
    array([[0.70710678, 0.70710678, 0.        ]])

    Two concatenated embeddings, each normalized and weighted, so that the dot
    product of two rows is ``0.75 * cos(a) + 0.25 * cos(b)``:

    >>> blocks = Normalizer(groups=[slice(0, 2), slice(2, 4)], weights=[3, 1])
    >>> blocks.fit_transform([[3.0, 4.0, 0.0, 2.0]])
    array([[0.51961524, 0.69282032, 0.        , 0.5       ]])
    """

    _parameter_constraints: dict = {
        **_RowNormalizer._parameter_constraints,
        "norm": _NORM_CONSTRAINT,
        "zero_rows": [StrOptions({"keep", "raise"})],
        "weights": ["array-like", None],
    }

    def __init__(
        self,
        norm="l2",
        *,
        copy=True,
        eps=0.0,
        zero_rows="keep",
        groups=None,
        weights=None,
    ):
        self.norm = norm
        self.copy = copy
        self.eps = eps
        self.zero_rows = zero_rows
        self.groups = groups
        self.weights = weights

    def _rule(self):
        return _RowRule(p=_norm_exponent(self.norm), eps=float(self.eps))

    def _factors(self, n_groups):
        """Per-group output multipliers ``w_b ** (1 / p)`` from ``weights``."""
        if self.weights is None:
            return None
        name = type(self).__name__
        weights = np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (n_groups,):
            raise ValueError(
                f"{name}: weights must hold one value per group ({n_groups}), "
                f"got shape {weights.shape}."
            )
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError(f"{name}: weights must be finite and non-negative.")
        total = weights.sum()
        if not total > 0:
            raise ValueError(f"{name}: weights must not all be zero.")
        p = _norm_exponent(self.norm)
        if p == np.inf:
            raise ValueError(
                f"{name}: weights need a finite norm exponent; with norm='max' "
                "they cannot set the groups' share of the norm."
            )
        return (weights / total) ** (1.0 / p)

    def _before_pass(self, X, rule, groups):
        if self.zero_rows != "raise":
            return
        _, zeros = _row_pass(X, rule, groups)
        zeros = to_numpy(zeros)
        if zeros.any():
            rows, group = np.nonzero(zeros)
            if len(groups) == 1:
                where = [str(r) for r in rows]
            else:
                where = [f"{r} (group {b})" for r, b in zip(rows, group, strict=True)]
            raise ValueError(
                f"{type(self).__name__} found {len(rows)} all-zero row(s) (zero "
                f"or NaN values only), which have no direction: row(s) "
                f"{_describe_columns(where)}. Drop them first, or use "
                "zero_rows='keep' to leave them as zeros."
            )


class RowStandardizer(_RowNormalizer):
    """Standardize each sample across its features: layer or RMS normalization.

    ``method="standard"`` (layer normalization of one sample, the row version
    of :class:`StandardScaler`) centers each row on its mean and divides it by
    its standard deviation,

    .. math:: x \\mapsto \\frac{x - \\bar x}{\\sqrt{\\operatorname{var}(x) +
              \\varepsilon}}

    and ``method="rms"`` (RMS normalization) divides each row by its root mean
    square, without centering,

    .. math:: x \\mapsto \\frac{x}{\\sqrt{\\overline{x^2} + \\varepsilon}}

    Statistics are taken over the row's non-missing values with ``ddof=0``
    (as in :func:`sknorm.scale` with ``axis=1``, which ``method="standard"``
    reproduces). With ``groups``, each group of columns of each row is
    standardized separately: group normalization, or instance normalization
    with one group per channel.

    Parameters
    ----------
    method : {"standard", "rms"}, default="standard"
        ``"standard"``: subtract the row mean (``with_mean``) and divide by
        the row standard deviation (``with_std``). ``"rms"``: divide by the
        root mean square of the row; it never centers, so ``with_mean`` and
        ``with_std`` are not used.
    with_mean : bool, default=True
        For ``method="standard"``, center each row. Sparse input cannot be
        centered (it would become dense): use ``with_mean=False`` or
        ``method="rms"`` there.
    with_std : bool, default=True
        For ``method="standard"``, divide each row by its standard deviation.
    eps : float >= 0, default=0.0
        Added to the variance (or mean square) under the square root, as in
        ``torch.nn.LayerNorm`` and ``torch.nn.RMSNorm``, which this reproduces
        with the same ``eps``. With ``eps=0``, a row whose spread is within the
        rounding error of its moments (at most ``4 * eps64`` times its mean)
        is divided by 1 instead: the constant-feature rule of every sknorm
        scaler, so a constant row becomes zeros, never NaN.
    groups : list of column groups, default=None
        Standardize each group of columns separately. Each group is a list or
        array of column indices, a list of column names (for DataFrames), a
        boolean mask or a slice. Groups must not overlap; columns in no group
        are passed through unchanged. None standardizes whole rows.
    copy : bool, default=True
        If False, transform in place where possible.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Feature names, when X was a DataFrame with string column names.

    See Also
    --------
    Normalizer : Divide each row by its norm.
    StandardScaler : Standardize each feature across samples.

    Notes
    -----
    The estimator is stateless: ``transform`` needs no ``fit`` and is safe in
    any cross-validation. Sparse input is accepted when nothing is centered
    (``method="rms"``, or ``with_mean=False``): the mean square then counts
    the implicit zeros, so dense and sparse input give the same result.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import RowStandardizer
    >>> X = np.array([[1.0, 2.0, 3.0, 6.0], [-1.0, 1.0, -1.0, 1.0]])
    >>> RowStandardizer().fit_transform(X)
    array([[-1.06904497, -0.53452248,  0.        ,  1.60356745],
           [-1.        ,  1.        , -1.        ,  1.        ]])
    >>> RowStandardizer(method="rms").fit_transform(X)
    array([[ 0.28284271,  0.56568542,  0.84852814,  1.69705627],
           [-1.        ,  1.        , -1.        ,  1.        ]])

    Instance normalization of 2 channels of length 2, flattened to columns
    ``[c0t0, c0t1, c1t0, c1t1]``: one group per channel.

    >>> n_channels, length = 2, 2
    >>> channels = [
    ...     slice(c * length, (c + 1) * length) for c in range(n_channels)
    ... ]
    >>> RowStandardizer(groups=channels).fit_transform(X)
    array([[-1.,  1., -1.,  1.],
           [-1.,  1., -1.,  1.]])
    """

    _parameter_constraints: dict = {
        **_RowNormalizer._parameter_constraints,
        "method": [StrOptions({"standard", "rms"})],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    def __init__(
        self,
        method="standard",
        *,
        with_mean=True,
        with_std=True,
        eps=0.0,
        groups=None,
        copy=True,
    ):
        self.method = method
        self.with_mean = with_mean
        self.with_std = with_std
        self.eps = eps
        self.groups = groups
        self.copy = copy

    def _centers(self):
        return self.method == "standard" and bool(self.with_mean)

    def _rule(self):
        eps = float(self.eps)
        if self.method == "rms":
            return _RowRule(p=2.0, per_value=True, eps=eps, floor="hypot")
        return _RowRule(
            p=2.0,
            about_mean=True,
            per_value=True,
            subtract_mean=bool(self.with_mean),
            scale=bool(self.with_std),
            eps=eps,
            floor="hypot",
        )

    def _sparse_advice(self):
        if not self._centers():
            return None
        return (
            "Centering rows would make sparse data dense: use with_mean=False "
            "(divide by the row standard deviation) or method='rms' (divide by "
            "the root mean square), or convert X to a dense array first."
        )


# ---------------------------------------------------------------------------
# Functions
# ---------------------------------------------------------------------------


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "norm": _NORM_CONSTRAINT,
        "axis": [Interval(Integral, 0, 1, closed="both")],
        "copy": ["boolean"],
        "return_norm": ["boolean"],
        "eps": [Interval(Real, 0, None, closed="left")],
        "zero_rows": [StrOptions({"keep", "raise"})],
        "groups": ["array-like", None],
        "weights": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def normalize(
    X,
    norm="l2",
    *,
    axis=1,
    copy=True,
    return_norm=False,
    eps=0.0,
    zero_rows="keep",
    groups=None,
    weights=None,
):
    """Scale input vectors individually to unit norm.

    The function form of :class:`~sknorm.Normalizer`, drop-in for
    :func:`sklearn.preprocessing.normalize`: the same parameters and results
    for rows whose norm is representable, plus overflow- and underflow-safe
    norms, NaN ignored, any ``p >= 1``, ``eps``, ``zero_rows``, ``groups`` and
    ``weights`` (see :class:`~sknorm.Normalizer`).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data to normalize. CSR and CSC input keep their format.
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm to divide by, or the exponent p of the p-norm.
    axis : {0, 1}, default=1
        1 normalizes each sample (row), 0 each feature (column).
    copy : bool, default=True
        If False, normalize in place where possible.
    return_norm : bool, default=False
        Whether to also return the norms.
    eps : float >= 0, default=0.0
        Vectors whose norm is below ``eps`` are divided by ``eps`` instead.
    zero_rows : {"keep", "raise"}, default="keep"
        What to do with all-zero (or all-NaN) vectors: leave them as zeros, or
        raise a ValueError naming them.
    groups : list of index groups, default=None
        Normalize each group of columns (rows, for ``axis=0``) separately; see
        :class:`~sknorm.Normalizer`.
    weights : array-like of shape (n_groups,), default=None
        Relative weight of each group; see :class:`~sknorm.Normalizer`.

    Returns
    -------
    X_tr : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Normalized input, of X's float dtype.
    norms : ndarray of float64 of shape (n_samples,) if axis=1 else (n_features,)
        Returned when ``return_norm=True``: the norm of each vector, NaN
        ignored, 0 for all-zero vectors, ``inf`` only where the true norm
        exceeds the float64 range. With ``groups``, of shape
        ``(n_vectors, n_groups)``: the norm of each group of each vector.

    See Also
    --------
    Normalizer : The estimator, for use in a Pipeline.
    row_norms : The norms alone.

    Examples
    --------
    >>> from sknorm import normalize
    >>> X = [[-2, 1, 2], [-1, 0, 1]]
    >>> normalize(X, norm="l1")
    array([[-0.4,  0.2,  0.4],
           [-0.5,  0. ,  0.5]])
    >>> X_normalized, norms = normalize(X, return_norm=True)
    >>> X_normalized.round(2)
    array([[-0.67,  0.33,  0.67],
           [-0.71,  0.  ,  0.71]])
    >>> norms
    array([3.        , 1.41421356])
    """
    estimator = Normalizer(
        norm=norm,
        copy=copy,
        eps=eps,
        zero_rows=zero_rows,
        groups=groups,
        weights=weights,
    )
    X_checked = check_input(estimator, X, reset=False, check_features=False)
    in_place = may_write_in_place(X_checked, X, copy)
    names = feature_names_of(X) if axis == 1 else None
    if axis == 0:
        X_checked = X_checked.T
    out, norms = estimator._normalize(X_checked, in_place=in_place, names=names)
    if axis == 0:
        out = out.T
    if not return_norm:
        return out
    return out, norms[:, 0] if groups is None else norms


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "norm": _NORM_CONSTRAINT,
        "groups": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
def row_norms(X, norm="l2", *, groups=None):
    """The norm of each row of X (or of each group of columns of each row).

    The kernel behind :class:`Normalizer` and :func:`normalize`, for dense and
    CSR/CSC input alike: computed in float64 with each row first scaled by its
    largest absolute value, so that neither squares nor sums overflow or
    underflow; NaN values are ignored.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        The data.
    norm : {"l1", "l2", "max"} or float >= 1, default="l2"
        The norm, or the exponent p of the p-norm.
    groups : list of column groups, default=None
        Compute the norm of each group of columns separately; see
        :class:`Normalizer`.

    Returns
    -------
    norms : ndarray of float64 of shape (n_samples,) or (n_samples, n_groups)
        The norms; 0 for rows with only zeros and NaN; ``inf`` only where the
        true norm exceeds the float64 range. Two-dimensional when ``groups`` is
        given.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.rows import row_norms
    >>> row_norms(np.array([[3.0, 4.0], [1e200, 1e200], [np.nan, 2.0]]))
    array([5.00000000e+000, 1.41421356e+200, 2.00000000e+000])
    >>> row_norms([[3.0, 4.0, 1.0, -1.0]], "l1", groups=[[0, 1], [2, 3]])
    array([[7., 2.]])
    """
    estimator = Normalizer(norm=norm, groups=groups)
    X_checked = check_input(estimator, X, reset=False, check_features=False)
    columns = estimator._groups(X_checked.shape[1], feature_names_of(X))
    norms, _ = _row_pass(X_checked, estimator._rule(), columns)
    return norms[:, 0] if groups is None else norms
