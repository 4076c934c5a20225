"""Numbers in columns that are not numeric, and the messages naming columns.

Validation converts object, string and categorical columns of numbers (in
DataFrames and numpy arrays of objects) to float64 as scikit-learn does, and
names the columns that hold anything else; the helpers here do both, and
label columns in messages (by feature name where the estimator has them).
"""

import numpy as np

__all__ = [
    "column_label",
    "convert_numeric_columns",
    "describe_columns",
    "is_missing",
    "numbers_as_float64",
    "raise_for_non_numeric_array",
    "raise_non_numeric",
]


def column_label(estimator, index):
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None and index < len(names):
        return repr(str(names[index]))
    return str(index)


def describe_columns(labels, limit=10):
    labels = list(labels)
    shown = ", ".join(labels[:limit])
    if len(labels) > limit:
        shown += f", ... ({len(labels) - limit} more)"
    return shown


def numbers_as_float64(values):
    """float64 array of the values, or None if any non-missing value is not a
    number. Numbers written as strings (``"1.5"``) convert, as scikit-learn
    converts them (with ``float``); other strings do not."""
    values = np.asarray(values, dtype=object)
    missing = np.array([is_missing(v) for v in values], dtype=bool)
    present = values[~missing]
    if any(isinstance(v, (bool, np.bool_)) for v in present):
        present = present.astype(np.float64)
    try:
        converted = present.astype(np.float64)
    except (TypeError, ValueError):
        return None
    out = np.full(len(values), np.nan)
    out[~missing] = converted
    return out


def is_missing(value):
    """None, NaN, pd.NA or NaT (but not a number)."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT
    except TypeError:  # pd.NA refuses bool()
        return True


def convert_numeric_columns(X):
    """Return ``(X, names)``: object and categorical DataFrame columns that hold
    numbers converted to float64 (as scikit-learn converts them), and the names
    of the columns left that are not numeric.

    pandas: object and string columns of numbers (and missing values),
    categoricals whose categories are numbers. polars: String, Categorical and
    Object columns of numbers. Numbers written as strings convert, as in
    scikit-learn; columns holding other values are named.
    """
    module = type(X).__module__.split(".")[0]
    if module == "pandas" and hasattr(X, "dtypes") and hasattr(X, "columns"):
        import pandas as pd
        from pandas.api.types import (
            is_bool_dtype,
            is_numeric_dtype,
            is_object_dtype,
        )

        if getattr(X, "ndim", 2) != 2:
            numeric = is_numeric_dtype(X.dtype) or is_bool_dtype(X.dtype)
            return X, [] if numeric else [str(X.name)]
        names, converted = [], {}
        for position, (name, dtype) in enumerate(zip(X.columns, X.dtypes, strict=True)):
            if is_numeric_dtype(dtype) or is_bool_dtype(dtype):
                continue
            values = None
            column = X.iloc[:, position]
            if isinstance(dtype, pd.CategoricalDtype):
                categories = numbers_as_float64(dtype.categories.to_numpy())
                if categories is not None:
                    codes = column.cat.codes.to_numpy()
                    values = np.where(codes >= 0, categories[codes], np.nan)
            elif is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
                values = numbers_as_float64(column.to_numpy(dtype=object))
            if values is None:
                names.append(str(name))
            else:
                converted[position] = values
        if converted and not names:
            X = X.copy(deep=False)  # the caller's frame is kept
            for position, values in converted.items():
                X.isetitem(position, values)
        return X, names
    if module == "polars" and hasattr(X, "schema"):
        import polars as pl

        names, converted = [], {}
        for name, dtype in X.schema.items():
            if dtype.is_numeric() or dtype == pl.Boolean:
                continue
            values = None
            if dtype in (pl.Object, pl.String, pl.Categorical):
                values = numbers_as_float64(
                    X.get_column(name).cast(pl.String).to_list()
                    if dtype == pl.Categorical
                    else X.get_column(name).to_list()
                )
            if values is None:
                names.append(str(name))
            else:
                converted[name] = pl.Series(name, values, dtype=pl.Float64)
        if converted and not names:
            X = X.with_columns(list(converted.values()))
        return X, names
    return X, []


def raise_non_numeric(name, labels, detail="", error=None):
    """Raise the error for non-numeric columns: a ValueError, or ``error``'s
    type (a TypeError for values that are neither numbers nor strings, as
    scikit-learn raises), its message appended."""
    message = (
        f"{name} needs numeric features; column(s) {describe_columns(labels)} "
        f"are not numeric{detail}. Encode or drop them first (for example with "
        "sklearn.compose.ColumnTransformer)."
    )
    if isinstance(error, TypeError):
        raise TypeError(f"{message} ({error})") from error
    raise ValueError(message) from error


def raise_for_non_numeric_array(estimator, X, error):
    """Name the columns of a numpy array (or nested list) of objects or
    strings that hold something other than numbers, with the first such value
    of each: scikit-learn's conversion (which raised ``error``) names only the
    value. Returns when every column converts (the conversion failed for
    another reason)."""
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except ValueError:  # ragged: scikit-learn's own error says so
            return
    if not isinstance(X, np.ndarray) or X.ndim != 2 or X.dtype.kind not in "OUS":
        return
    offending = {}
    for position in range(X.shape[1]):
        column = X[:, position]
        if numbers_as_float64(column) is None:
            offending[position] = next(
                v
                for v in column.tolist()
                if not is_missing(v) and numbers_as_float64([v]) is None
            )
    if not offending:
        return
    labels = [column_label(estimator, position) for position in offending]
    examples = ", ".join(
        f"column {label} holds {value!r}"
        for label, value in list(zip(labels, offending.values(), strict=True))[:3]
    )
    raise_non_numeric(type(estimator).__name__, labels, f" ({examples})", error)
