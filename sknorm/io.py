"""Save and load fitted sknorm estimators with skops, trusting only sknorm.

`skops <https://skops.readthedocs.io>`_ stores a fitted estimator without
pickle's ability to run arbitrary code on load: :func:`skops.io.load` refuses
every type it does not trust by default until the caller names it in
``trusted=``. A fitted sknorm estimator holds only plain data (numpy arrays,
Python scalars, strings, lists, tuples and dicts of them, its statistics
included), so the only types skops does not know in its file are sknorm's own
estimator classes. This module names them:

* :func:`trusted_types` lists them, for ``skops.io.load(file,
  trusted=trusted_types())``;
* :func:`untrusted_types` lists what a file holds beyond them and beyond what
  skops trusts by default (empty for a file of sknorm estimators in
  scikit-learn pipelines);
* :func:`load` loads a file after checking that it holds nothing else.

skops is an optional dependency (``pip install "sknorm[skops]"``), imported
only when these functions are called.
"""

import os

__all__ = ["load", "trusted_types", "untrusted_types"]


def trusted_types():
    """Fully qualified names of the sknorm types a skops file may contain.

    One name per public estimator class of sknorm (discovered from
    ``sknorm.__all__``), as skops names them: ``module.ClassName``. A fitted
    estimator stores nothing else that skops does not trust by default.

    Returns
    -------
    names : list of str
        Sorted names, such as ``"sknorm.scalers.StandardScaler"``.

    See Also
    --------
    load : Load a skops file after checking it holds no other untrusted type.

    Examples
    --------
    >>> import skops.io as sio
    >>> from sknorm import StandardScaler
    >>> from sknorm.io import trusted_types
    >>> data = sio.dumps(StandardScaler().fit([[0.0], [2.0]]))
    >>> sio.get_untrusted_types(data=data)
    ['sknorm.scalers.StandardScaler']
    >>> scaler = sio.loads(data, trusted=trusted_types())
    >>> scaler.transform([[4.0]])
    array([[3.]])
    """
    from sklearn.base import BaseEstimator

    import sknorm

    names = set()
    for public_name in sknorm.__all__:
        obj = getattr(sknorm, public_name)
        if isinstance(obj, type) and issubclass(obj, BaseEstimator):
            names.add(f"{obj.__module__}.{obj.__qualname__}")
    return sorted(names)


def _contents(file):
    """The bytes of a skops file given as bytes, a path or a binary file."""
    if isinstance(file, bytes | bytearray):
        return bytes(file)
    if hasattr(file, "read"):
        return file.read()
    with open(os.fspath(file), "rb") as handle:
        return handle.read()


def untrusted_types(file):
    """Types in a skops file that are neither sknorm's nor trusted by skops.

    Parameters
    ----------
    file : str, path-like, bytes or binary file object
        The path of a skops file, its contents (what :func:`skops.io.dumps`
        returns) or a file opened in binary mode.

    Returns
    -------
    names : list of str
        The other untrusted types, sorted: empty when the file holds only
        sknorm estimators and types skops trusts by default (numpy arrays,
        scikit-learn estimators, ...), which :func:`load` then loads.

    Examples
    --------
    >>> import skops.io as sio
    >>> from sknorm import MaxAbsScaler
    >>> from sknorm.io import untrusted_types
    >>> untrusted_types(sio.dumps(MaxAbsScaler().fit([[1.0], [-4.0]])))
    []
    """
    from skops.io import get_untrusted_types

    found = get_untrusted_types(data=_contents(file))
    return sorted(set(found) - set(trusted_types()))


def load(file):
    """Load a skops file of sknorm estimators, trusting no other unknown type.

    Equivalent to ``skops.io.load(file, trusted=trusted_types())`` after
    checking that the file holds no type beyond sknorm's estimators and those
    skops trusts by default.

    Parameters
    ----------
    file : str, path-like, bytes or binary file object
        The path of a skops file, its contents (what :func:`skops.io.dumps`
        returns) or a file opened in binary mode.

    Returns
    -------
    obj : object
        The stored object: a fitted estimator, or a pipeline holding some.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        If the file holds other untrusted types (for example callbacks set
        on an estimator, or a custom function); they are named, and nothing is
        loaded. Inspect them and, if they are safe, call :func:`skops.io.load`
        with them added to ``trusted``.

    Examples
    --------
    >>> import skops.io as sio
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sknorm import RobustScaler
    >>> from sknorm.io import load
    >>> X, y = [[0.0], [1.0], [2.0], [10.0]], [0, 0, 1, 1]
    >>> model = make_pipeline(RobustScaler(), LogisticRegression()).fit(X, y)
    >>> load(sio.dumps(model)).predict([[9.0]])
    array([1])
    """
    from skops.io import get_untrusted_types, loads
    from skops.io.exceptions import UntrustedTypesFoundException

    # Read once: the types checked are those of the bytes loaded.
    data = _contents(file)
    trusted = trusted_types()
    others = sorted(set(get_untrusted_types(data=data)) - set(trusted))
    if others:
        error = UntrustedTypesFoundException(others)
        error.add_note(
            "sknorm.io.load trusts sknorm's estimator classes only; if you "
            "trust these types too, pass them with sknorm.io.trusted_types() "
            "to skops.io.load(file, trusted=...)."
        )
        raise error
    return loads(data, trusted=trusted)
