"""Compiled kernels for the hot loops, used when numba is installed.

numba is an extra (``pip install "sknorm[fast]"``), never a requirement: every
kernel in the modules of this package has a pure-numpy counterpart in the
module that calls it, and results are the same either way (the tests run both
paths). The modules here import numba at their top, so they are imported only
through :func:`kernels`, on the first call that uses one: ``import sknorm``
imports neither numba nor them, and nothing is compiled before it is needed.
Kernels are compiled with ``cache=True`` (the machine code is kept next to the
source, so only the first call on a machine pays for compiling) and
``nogil=True`` (they run on sknorm's own thread pool, :mod:`sknorm._parallel`,
never on a pool of numba's).

Set the environment variable ``SKNORM_NUMBA=0`` to use the numpy paths even
where numba is installed.
"""

import contextlib
import importlib
import importlib.util
import os

__all__ = ["kernels", "numba_available", "numba_enabled", "use_numba"]

_FALSE = {"0", "false", "no", "off"}
_available = None
_override = None


def numba_available():
    """Whether numba can be imported (looked up once, without importing it)."""
    global _available
    if _available is None:
        _available = importlib.util.find_spec("numba") is not None
    return _available


def numba_enabled():
    """Whether sknorm uses its compiled kernels now.

    True when numba is installed, unless ``SKNORM_NUMBA`` is set to ``0``
    (or inside :func:`use_numba` ``(False)``).
    """
    if _override is not None:
        return _override and numba_available()
    if os.environ.get("SKNORM_NUMBA", "").strip().lower() in _FALSE:
        return False
    return numba_available()


@contextlib.contextmanager
def use_numba(enabled):
    """Context manager: use (or not) the compiled kernels inside the block.

    Used by the tests to run both paths in one process; not thread-safe.
    """
    global _override
    previous, _override = _override, bool(enabled)
    try:
        yield
    finally:
        _override = previous


def kernels(name):
    """The kernel module ``sknorm._kernels.<name>``, or None when numba is off."""
    if not numba_enabled():
        return None
    return importlib.import_module(f"{__name__}.{name}")
