"""The contract every mergeable statistic follows."""

import itertools

import numpy as np
from scipy import sparse

from .._array_api import to_numpy

__all__ = [
    "Statistic",
    "equal_weights_as_rows",
    "exact_difference_of_sums",
    "implicit_zero_weight",
    "normalized_weights",
    "plus_shift",
    "rows_kept_by_weights",
    "shift_parts",
    "sparse_entries",
]


def shift_parts(shift):
    """``(high, low)``: float64 arrays whose exact sum is the integer ``shift``
    (float64, or Python ints of object dtype, less than ``2**65`` in
    magnitude): ``high`` the float64 nearest it, ``low`` the rest (0 where
    the shift is a float64; exact, being at most half an ulp of ``high``)."""
    shift = np.asarray(shift)
    if shift.dtype != object:
        high = shift.astype(np.float64)
        return high, np.zeros_like(high)
    high = np.array([float(s) for s in shift.ravel()]).reshape(shift.shape)
    low = np.array(
        [
            float(int(s) - int(h))
            for s, h in zip(shift.ravel(), high.ravel(), strict=True)
        ]
    ).reshape(shift.shape)
    return high, low


def plus_shift(values, high, low):
    """``values + (high + low)`` (see :func:`shift_parts`), rounded once.

    Without ``low``, the float64 sum. Otherwise the error of ``values +
    high`` (two-sum, exact) is added to ``low`` before the sum takes it, so
    that the result is the exact sum rounded once where ``values`` are
    integers (that error and ``low`` are then integers of at most ``2**12``, their
    sum exact); for other values, within ``eps`` of an ulp more.
    """
    total = values + high
    if not np.any(low):
        return total
    high_part = total - values
    error = (values - (total - high_part)) + (high - high_part)
    return total + (error + low)


class Statistic:
    """A per-column summary of data that can be computed in pieces and merged.

    Subclasses hold only numpy arrays (listed in ``_fields``) and implement
    :meth:`from_data` and :meth:`merge`. ``merge`` is associative, so a fit over
    chunks, partitions or a stream of ``partial_fit`` calls equals the one-shot
    fit. The state is plain arrays (:meth:`to_state` / :meth:`from_state`), so
    estimators holding it pickle and load with skops without custom types.
    """

    _fields: tuple[str, ...] = ()

    #: Whether :meth:`merge` is possible: only mergeable statistics can be
    #: computed over chunks, partial_fit calls or the partitions of a cluster.
    mergeable = True

    #: Whether any +/-inf in the data (in a row of positive weight) makes the
    #: statistic of its column non-finite, so that a fit can skip the separate
    #: infinity check and inspect only :meth:`nonfinite_columns`.
    reveals_infinity = False

    #: Fields that move with the data (means, extrema, order statistics):
    #: :meth:`shifted` adds the shift to them; the others (weights, spreads)
    #: do not depend on where the data lie.
    _location_fields: tuple[str, ...] = ()

    def __init__(self, **arrays):
        for name in self._fields:
            setattr(self, name, np.asarray(arrays[name]))

    @classmethod
    def from_data(cls, X, sample_weight=None):  # pragma: no cover - abstract
        """Compute the statistic of ``X`` (rows weighted by ``sample_weight``)."""
        raise NotImplementedError

    @classmethod
    def work_units(cls, X, sample_weight=None, **options):
        """Number of units of work :meth:`from_data` reports as fit subtasks.

        A statistic whose computation on large data takes long does it in
        units (groups of columns, blocks of rows) and reports each one to the
        fit's callbacks (:func:`sknorm._callbacks.reported_units`); the fit
        needs their number before it begins. Fast statistics report none.
        """
        return 0

    @classmethod
    def from_device(cls, data, sample_weight=None, **options):
        """The statistic of array API input (:class:`sknorm._array_api.DeviceData`).

        By default the host fallback: :meth:`from_data` on a numpy copy of the
        data (shared by every statistic of the fit). Statistics with a device
        kernel reduce the data where it lives and bring only per-feature
        results to the host.
        """
        return cls.from_data(data.host(), sample_weight, **options)

    @classmethod
    def from_batch(cls, batch, **options):
        """The statistic of a validated batch
        (:class:`sknorm._validation.ValidatedBatch`), weighted by its weights.

        :meth:`from_data` on numpy and scipy data, :meth:`from_device` on
        array API data (the batch's one :class:`~sknorm._array_api.DeviceData`,
        whose host copy every statistic of the batch shares): the namespace
        is the batch's, not looked up again.

        Examples
        --------
        >>> from sknorm import StandardScaler
        >>> from sknorm._validation import validated_batch
        >>> from sknorm.stats import Moments
        >>> batch = validated_batch(StandardScaler(), [[1.0], [3.0]], reset=True)
        >>> Moments.from_batch(batch).mean
        array([2.])
        """
        if batch.namespace is None:
            return cls.from_data(batch.data, batch.sample_weight, **options)
        return cls.from_device(batch.device_data(), batch.sample_weight, **options)

    def merge(self, other):  # pragma: no cover - abstract
        """Return the statistic of the union of both data sets."""
        raise NotImplementedError

    def reweighted(self, factor):
        """The statistic of the same data with every row's weight times ``factor``.

        ``factor`` is a positive float. Estimators that forget (``decay``)
        apply it to what they learned before merging a new batch, so that
        ``a.reweighted(f).merge(b)`` is the statistic of ``a``'s rows weighted
        ``f`` times their weight and ``b``'s rows unchanged. Statistics with
        no weighted state (exact quantiles) do not implement it.
        """
        raise NotImplementedError(
            f"{type(self).__name__} cannot be reweighted: it is not merged."
        )

    #: Fields shared by all columns (not indexed by column), e.g. levels.
    _shared_fields: tuple[str, ...] = ()

    def _take_columns(self, index):
        """The statistic of the columns ``index`` (repeats allowed), in order."""
        index = np.asarray(index, dtype=np.intp)
        return type(self)(
            **{
                name: np.copy(getattr(self, name))
                if name in self._shared_fields
                else np.take(getattr(self, name), index, axis=-1)
                for name in self._fields
            }
        )

    @classmethod
    def _concatenated(cls, parts):
        """The statistic of the columns of ``parts``, side by side."""
        first = parts[0]
        return cls(
            **{
                name: np.copy(getattr(first, name))
                if name in cls._shared_fields
                else np.concatenate([getattr(p, name) for p in parts], axis=-1)
                for name in cls._fields
            }
        )

    def pooled(self, groups):
        """The statistic with each group's columns pooled into one.

        Every column of a group gets the statistic of all the values of the
        group's columns (the group's columns stacked into one column); columns
        in no group keep their own. The result has as many columns as
        ``self``, so that per-feature attributes derive from it unchanged.
        Columns are pooled by :meth:`merge` (exact for moments and extrema,
        within the sketch's bound for a sketch), pairwise in a tree: about
        ``log2(group size)`` merges of all the groups at once.

        Parameters
        ----------
        groups : list of ndarray of int
            Disjoint groups of column indices
            (:func:`sknorm._groups.resolve_groups`).

        Returns
        -------
        Statistic

        Examples
        --------
        >>> from sknorm.stats import Moments
        >>> m = Moments.from_data([[0.0, 2.0, 5.0], [2.0, 4.0, 5.0]])
        >>> m.pooled([[0, 1]]).mean
        array([2., 2., 5.])
        """
        groups = [np.asarray(g, dtype=np.intp) for g in groups if len(g) > 1]
        if not groups:
            return self._take_columns(np.arange(self.n_features))
        current = self._take_columns(np.concatenate(groups))
        # slots[g]: the columns of ``current`` still to be pooled into group g.
        offsets = np.cumsum([0] + [len(g) for g in groups])
        slots = [np.arange(a, b) for a, b in itertools.pairwise(offsets)]
        while any(len(slot) > 1 for slot in slots):
            first = [slot[0 : len(slot) // 2 * 2 : 2] for slot in slots]
            second = [slot[1 : len(slot) // 2 * 2 : 2] for slot in slots]
            carried = [slot[len(slot) // 2 * 2 :] for slot in slots]
            merged = current._take_columns(np.concatenate(first)).merge(
                current._take_columns(np.concatenate(second))
            )
            n_merged = merged.n_features
            rest = current._take_columns(np.concatenate(carried))
            current = type(self)._concatenated([merged, rest])
            new_slots, at_merged, at_rest = [], 0, n_merged
            for pair, left in zip(first, carried, strict=True):
                new_slots.append(
                    np.concatenate(
                        (
                            np.arange(at_merged, at_merged + len(pair)),
                            np.arange(at_rest, at_rest + len(left)),
                        )
                    )
                )
                at_merged += len(pair)
                at_rest += len(left)
            slots = new_slots
        index = np.arange(self.n_features)
        for group, slot in zip(groups, slots, strict=True):
            index[group] = self.n_features + slot[0]
        return type(self)._concatenated([self, current])._take_columns(index)

    @classmethod
    def from_pooled_data(cls, X, sample_weight, groups, **options):
        """:meth:`from_data` with each group's columns pooled, from the data.

        For statistics that cannot be merged (exact quantiles), so that
        :meth:`pooled` cannot pool them: the columns of the groups of each
        size are stacked into columns of ``size`` times as many rows (each
        row's weight repeated), the statistic computed on them, and each
        group's result given to its columns. Same result as :meth:`pooled` on
        a mergeable statistic.
        """
        n_features = X.shape[1]
        groups = [np.asarray(g, dtype=np.intp) for g in groups if len(g) > 1]
        if not groups:
            return cls.from_data(X, sample_weight, **options)
        parts = [cls.from_data(X, sample_weight, **options)]
        index = np.arange(n_features)
        offset = n_features
        for size in sorted({len(g) for g in groups}):
            same = [g for g in groups if len(g) == size]
            stacked = _stacked_columns(X, np.stack(same))
            weight = None if sample_weight is None else np.repeat(sample_weight, size)
            parts.append(cls.from_data(stacked, weight, **options))
            for position, group in enumerate(same):
                index[group] = offset + position
            offset += len(same)
        return cls._concatenated(parts)._take_columns(index)

    @staticmethod
    def _check_factor(factor):
        factor = float(factor)
        if not (0 < factor < np.inf):
            raise ValueError(
                f"the weight factor must be positive and finite, got {factor}."
            )
        return factor

    @property
    def n_features(self):
        """Number of columns summarised."""
        return getattr(self, self._fields[0]).shape[-1]

    def nonfinite_columns(self):
        """Boolean mask of the columns with a non-finite value in any field."""
        bad = np.zeros(self.n_features, dtype=bool)
        for name in self._fields:
            values = getattr(self, name)
            bad |= ~np.isfinite(values.reshape(-1, self.n_features)).all(axis=0)
        return bad

    def shifted(self, shift):
        """The statistic of the data plus ``shift`` (per column).

        For data validated relative to an exact integer centre (see
        :func:`sknorm._validation.check_input`): the statistic in the data's
        own units, or relative to another centre (the partitions of a dask
        fit). Each location is rounded once (exactly so for locations that
        are integers, see :func:`plus_shift`); columns of zero shift keep
        their values bit for bit.

        Parameters
        ----------
        shift : ndarray of shape (n_features,)
            Integers: float64, or Python ints (object dtype) where the shift
            may not be exact in float64 (a difference of two centres).

        Returns
        -------
        Statistic
            A new statistic of the same class.
        """
        high, low = shift_parts(shift)
        arrays = {name: getattr(self, name) for name in self._fields}
        moved = high != 0
        for name in self._location_fields:
            arrays[name] = np.where(
                moved, plus_shift(arrays[name], high, low), arrays[name]
            )
        return type(self)(**arrays)

    def to_state(self):
        """Return the state as a dict of numpy arrays (plus the class name)."""
        state = {name: getattr(self, name).copy() for name in self._fields}
        state["statistic"] = type(self).__name__
        return state

    @classmethod
    def from_state(cls, state):
        """Rebuild a statistic from :meth:`to_state`'s output."""
        if state.get("statistic", cls.__name__) != cls.__name__:
            raise ValueError(
                f"state describes a {state['statistic']}, not a {cls.__name__}."
            )
        # States stay numpy; to_numpy also reads one moved to a device.
        return cls(**{name: to_numpy(state[name]) for name in cls._fields})

    def _check_mergeable(self, other):
        if type(other) is not type(self):
            raise TypeError(
                f"cannot merge a {type(other).__name__} into a {type(self).__name__}."
            )
        if other.n_features != self.n_features:
            raise ValueError(
                f"cannot merge statistics of {other.n_features} and "
                f"{self.n_features} features."
            )

    def __repr__(self):
        return f"{type(self).__name__}(n_features={self.n_features})"

    def __eq__(self, other):
        return type(other) is type(self) and all(
            np.array_equal(getattr(self, f), getattr(other, f), equal_nan=True)
            for f in self._fields
        )

    __hash__ = None


def _stacked_columns(X, columns):
    """``X[:, columns[g]]`` stacked into column ``g``: shape ``(n_rows * size,
    n_groups)`` for ``columns`` of shape ``(n_groups, size)``; row ``i * size +
    j`` holds ``X[i, columns[g, j]]``. Sparse input stays sparse (CSR)."""
    n_rows = X.shape[0]
    n_groups, size = columns.shape
    if sparse.issparse(X):
        part = sparse.coo_array(sparse.csc_array(X)[:, columns.ravel()])
        rows = part.row.astype(np.int64) * size + part.col % size
        cols = part.col // size
        return sparse.csr_array(
            (part.data, (rows, cols)), shape=(n_rows * size, n_groups)
        )
    values = np.asarray(X)[:, columns.ravel()].reshape(n_rows, n_groups, size)
    return np.ascontiguousarray(
        values.transpose(0, 2, 1).reshape(n_rows * size, n_groups)
    )


def sparse_entries(X, sample_weight=None):
    """Describe the stored entries of a CSR/CSC matrix column by column.

    Returns ``(values, columns, entry_weight, column_weight)`` where ``columns``
    gives the column of each stored value, ``entry_weight`` the weight of the row
    it lies in (None when unweighted) and ``column_weight`` the total weight of
    all rows (the weight every column would have if fully stored). Implicit
    zeros are then accounted for analytically, never materialised.
    """
    X = sparse.csr_array(X) if X.format not in ("csr", "csc") else X
    values = X.data
    n_rows, n_cols = X.shape
    lengths = np.diff(X.indptr)
    if X.format == "csr":
        columns = X.indices
        rows = None if sample_weight is None else np.repeat(np.arange(n_rows), lengths)
    else:
        columns = np.repeat(np.arange(n_cols), lengths)
        rows = X.indices
    if sample_weight is None:
        return values, columns, None, float(n_rows)
    return values, columns, sample_weight[rows], float(sample_weight.sum())


def normalized_weights(sample_weight):
    """Weights divided by a power of two so that the largest lies in [1, 2).

    Returns ``(weights, factor)`` with ``sample_weight == weights * factor``
    exactly (up to weights below the smallest float64 after the division, which
    are negligible next to the largest). Statistics accumulate the normalized
    weights, so that weights of any scale (``1e308``, ``1e-320``) neither
    overflow nor lose precision in products and sums, and results depend on the
    relative weights only. ``(None, 1.0)`` for unweighted data.
    """
    if sample_weight is None:
        return None, 1.0
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    largest = sample_weight.max(initial=0.0)
    if largest == 0 or not np.isfinite(largest):
        return sample_weight, 1.0
    exponent = int(np.frexp(largest)[1]) - 1
    if exponent == 0:
        return sample_weight, 1.0
    return np.ldexp(sample_weight, -exponent), float(np.ldexp(1.0, exponent))


def equal_weights_as_rows(X, sample_weight):
    """``(X, weights, unit)`` for a statistic that depends on relative weights.

    Equal positive weights (of any value) give the rows of positive weight
    with no weights, so that the statistic is the unweighted one bit for bit;
    other weights are divided by a power of two (:func:`normalized_weights`).
    ``unit`` is the factor that brings weight sums back to the caller's units
    (the common weight, or the power of two).
    """
    if sample_weight is None:
        return X, None, 1.0
    weight, factor = normalized_weights(sample_weight)
    positive = weight > 0
    kept = weight[positive]
    if not kept.size or np.any(kept != kept[0]):
        return X, weight, factor
    unit = float(kept[0]) * factor
    if positive.all():
        return X, None, unit
    rows = np.flatnonzero(positive)
    return (X[rows] if sparse.issparse(X) else np.asarray(X)[rows]), None, unit


def rows_kept_by_weights(n_rows, sample_weight):
    """Number of rows :func:`equal_weights_as_rows` keeps of ``n_rows``."""
    if sample_weight is None:
        return n_rows
    weight = np.asarray(sample_weight)
    positive = weight > 0
    kept = weight[positive]
    if not kept.size or np.any(kept != kept[0]):
        return n_rows
    return int(np.count_nonzero(positive))


def equal_weight_unit(sample_weight):
    """The common weight when every row has the same positive weight, else None.

    Statistics that depend on relative weights only are then the unweighted
    ones (their weight sums times this unit); 1.0 for unweighted data. Device
    kernels use it to stay on the device for weights such as all ones.
    """
    if sample_weight is None:
        return 1.0
    weight, factor = normalized_weights(sample_weight)
    if not weight.size or not weight[0] > 0 or np.any(weight != weight[0]):
        return None
    return float(weight[0]) * factor


#: Bits of a weight summed exactly per pass of :func:`_split_sums`.
_SPLIT_BITS = 26
#: Entries summed at once: at most 2**_SPLIT_BITS entries of 2**_SPLIT_BITS
#: units each keeps every partial float64 sum an exact integer.
_SPLIT_CHUNK = 1 << _SPLIT_BITS


def _split_sums(groups, weights, n_groups, top):
    """Per-group sums of ``weights`` as exact integer parts plus a leftover.

    Each weight is split into three parts of 26 bits on a grid fixed by
    ``top`` (the error-free extraction of Rump, Ogita and Oishi); the parts are
    summed exactly as integers, the leftover below ``2**-78 * top`` in float64.
    Returns ``(parts, leftover)`` with ``parts`` a list of ``(int64 sums,
    exponent of their unit)``.
    """
    parts = []
    exponent = int(np.frexp(top)[1])
    rest = weights
    for _ in range(3):
        unit_exponent = exponent - _SPLIT_BITS
        sigma = np.ldexp(1.0, exponent + 52 - _SPLIT_BITS)
        high = (sigma + rest) - sigma  # rest rounded to a multiple of the unit
        rest = rest - high
        units = np.ldexp(high, -unit_exponent)
        total = np.zeros(n_groups, dtype=np.int64)
        for start in range(0, len(units), _SPLIT_CHUNK):
            chunk = slice(start, start + _SPLIT_CHUNK)
            total += np.bincount(
                groups[chunk], weights=units[chunk], minlength=n_groups
            ).astype(np.int64)
        parts.append((total, unit_exponent))
        exponent = unit_exponent
    leftover = np.bincount(groups, weights=rest, minlength=n_groups)
    return parts, leftover


def exact_difference_of_sums(total, groups, weights, n_groups):
    """``total - (per-group sums of weights)``, each group's sum exact.

    ``total`` is the sum of a superset of the weights (all rows), ``weights``
    those of a subset per group (the stored entries of each sparse column).
    Both are summed with an error-free splitting on one grid
    (:func:`_split_sums`), so the difference is exact where it is 0 and correct to about
    ``eps**2`` of the total elsewhere (a plain difference of float sums is off
    by ``eps`` times the total).

    Parameters
    ----------
    total : ndarray of shape (n_rows,)
        All weights (summed into every group).
    groups, weights : ndarray of shape (n_entries,)
        Group of each subset entry and its weight.
    n_groups : int

    Returns
    -------
    ndarray of shape (n_groups,)
    """
    total = np.asarray(total, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    top = max(total.max(initial=0.0), weights.max(initial=0.0))
    if top == 0:
        return np.zeros(n_groups)
    all_parts, all_left = _split_sums(np.zeros(len(total), np.intp), total, 1, top)
    sub_parts, sub_left = _split_sums(
        np.asarray(groups, np.intp), weights, n_groups, top
    )
    difference = np.zeros(n_groups)
    # Smallest parts first, so that the exact integer differences are added
    # with a single rounding at the end for the largest.
    difference += all_left[0] - sub_left
    for (whole, exponent), (part, _) in zip(
        reversed(all_parts), reversed(sub_parts), strict=True
    ):
        difference += np.ldexp((whole[0] - part).astype(np.float64), exponent)
    return difference


def implicit_zero_weight(
    X, sample_weight=None, *, entries=None, exact=None, stored_counts=None
):
    """Per column of a CSR/CSC matrix, the total weight of its implicit zeros.

    Unweighted: the row count minus the stored count, exact. Weighted: a
    column that stores every row of positive weight has exactly no zeros (a
    plain ``sum(w) - bincount(w)`` leaves a rounding residue there, which
    statistics would count as zeros); elsewhere the plain difference, whose
    error is ``eps`` times the total weight, or, for the columns flagged in
    ``exact``, :func:`exact_difference_of_sums` (for statistics that multiply
    the zeros' weight by a large value).

    Parameters
    ----------
    X : sparse matrix
    sample_weight : ndarray of shape (n_samples,), default=None
    entries : tuple (columns, entry_weight), default=None
        Column and row weight of every stored entry, when the caller has them
        (:func:`sparse_entries`).
    exact : ndarray of bool of shape (n_features,), default=None
        Columns whose zeros' weight is computed without rounding error.
    stored_counts : tuple (stored, stored_positive, stored_weight), default=None
        Per column, the number of stored entries, of those in rows of positive
        weight, and their weight, when the caller has them (the last two are
        not used unweighted).
    """
    X = X if X.format in ("csr", "csc") else sparse.csr_array(X)
    n_rows, n_cols = X.shape
    if entries is None:
        _, columns, entry_weight, _ = sparse_entries(X, sample_weight)
    else:
        columns, entry_weight = entries
    if stored_counts is None:
        stored = np.bincount(columns, minlength=n_cols)
    else:
        stored, stored_positive, stored_weight = stored_counts
    if sample_weight is None:
        return (n_rows - stored).astype(np.float64)
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    positive_rows = np.count_nonzero(sample_weight > 0)
    if stored_counts is None:
        stored_positive = np.bincount(
            columns, weights=entry_weight > 0, minlength=n_cols
        )
        stored_weight = np.bincount(columns, weights=entry_weight, minlength=n_cols)
    zero_weight = np.maximum(sample_weight.sum() - stored_weight, 0.0)
    zero_weight[stored_positive == positive_rows] = 0.0
    if exact is not None:
        exact = exact & (stored_positive < positive_rows)
        if exact.any():
            chosen = exact[columns]
            zero_weight[exact] = exact_difference_of_sums(
                sample_weight, columns[chosen], entry_weight[chosen], n_cols
            )[exact]
    return zero_weight
