"""Groups of feature columns: one resolution of the ``groups`` parameters.

The row normalizers normalize each group of columns of a row on its own
(``groups``); the column scalers pool the statistics of each group of
columns (``feature_groups``). Both accept the same forms, resolved and
validated here.
"""

from numbers import Integral

import numpy as np

from ._validation import _describe_columns

__all__ = ["resolve_groups"]


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
