"""The contract every mergeable statistic follows."""

import numpy as np
from scipy import sparse

__all__ = ["Statistic", "sparse_entries"]


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

    def __init__(self, **arrays):
        for name in self._fields:
            setattr(self, name, np.asarray(arrays[name]))

    @classmethod
    def from_data(cls, X, sample_weight=None):  # pragma: no cover - abstract
        """Compute the statistic of ``X`` (rows weighted by ``sample_weight``)."""
        raise NotImplementedError

    def merge(self, other):  # pragma: no cover - abstract
        """Return the statistic of the union of both data sets."""
        raise NotImplementedError

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
        return cls(**{name: state[name] for name in cls._fields})

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
