"""Shared fixtures: DataFrame libraries and sparse containers.

``SCIPY_ARRAY_API=1`` is set here, before anything imports scipy: scikit-learn
refuses ``array_api_dispatch=True`` without it, and its array API checks
(``check_array_api_input``, run by ``parametrize_with_checks`` for estimators
tagged ``array_api_support``) skip themselves without it. scipy reads it once,
at import; with it, scipy rejects ``np.matrix`` and masked arrays, which sknorm
never passes to scipy.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import contextlib
import tempfile

import numpy as np
import pytest
import sklearn
from packaging.version import Version
from scipy import sparse

#: The installed scikit-learn as a tuple, for tests of behaviour that changed
#: between the supported versions: ``SKLEARN_VERSION >= (1, 8)``.
SKLEARN_VERSION = Version(sklearn.__version__).release

SPARSE_CONTAINERS = [
    sparse.csr_matrix,
    sparse.csr_array,
    sparse.csc_matrix,
    sparse.csc_array,
]


def import_polars():
    """polars, skipping the test where scikit-learn cannot read its column names.

    scikit-learn < 1.9 reads polars column names through the DataFrame
    interchange protocol, which polars 1.40 deprecates and polars 2 removes:
    feature names are then lost (scikit-learn's own scalers included), and
    sknorm, which validates through scikit-learn, loses them too.
    """
    pl = pytest.importorskip("polars")
    if SKLEARN_VERSION < (1, 9) and Version(pl.__version__) >= Version("1.40"):
        pytest.skip(
            f"scikit-learn {sklearn.__version__} reads polars column names through "
            f"the interchange protocol, deprecated in polars 1.40 and removed in 2 "
            f"(installed: {pl.__version__}); use polars < 1.40 or scikit-learn >= 1.9"
        )
    return pl


@pytest.fixture(
    params=[
        pytest.param(True, id="numba"),
        pytest.param(False, id="numpy"),
    ]
)
def path(request):
    """Run the test with the compiled kernels, then with the numpy paths."""
    from sknorm._kernels import numba_available, use_numba

    if request.param and not numba_available():
        pytest.skip("numba is not installed (the fast extra): numpy path only")
    with use_numba(request.param):
        yield request.param


@pytest.fixture
def small_tasks(monkeypatch):
    """Blocks of 64 values and tasks of 256: many of each on small arrays."""
    import sknorm._parallel

    monkeypatch.setattr(sknorm._parallel, "BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(sknorm._parallel, "TASK_ELEMENTS", 256)
    monkeypatch.setattr(sknorm._parallel, "MIN_BLOCK_ROWS", 4)


@pytest.fixture(params=["pandas", "polars"])
def df_module(request):
    """Run a DataFrame test once with pandas and once with polars."""
    if request.param == "polars":
        return import_polars()
    return pytest.importorskip(request.param)


#: Options of the dask test clusters: tests talk to 127.0.0.1 only (see the
#: design notes).
DASK_CLUSTER_OPTIONS = dict(
    n_workers=2,
    threads_per_worker=1,
    protocol="tcp",
    host="127.0.0.1",
    dashboard_address="127.0.0.1:0",
)


@pytest.fixture(scope="module")
def cluster_client():
    """A client of a local dask cluster (threads), one per test module."""
    distributed = pytest.importorskip(
        "distributed", reason="distributed is an optional dependency (sknorm[dask])"
    )
    with distributed.LocalCluster(processes=False, **DASK_CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster) as client:
            yield client


@pytest.fixture
def client(cluster_client):
    """:func:`cluster_client`, the current client during the test."""
    with cluster_client.as_current():
        yield cluster_client


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# scikit-learn's own test suite (tests/test_sklearn_suite.py) writes its counts to
# this file, so that the line shows in the terminal summary, also under xdist.
_SKLEARN_SUITE_SUMMARY = "SKNORM_SKLEARN_SUITE_SUMMARY"


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controller (or the only process)
        handle, path = tempfile.mkstemp(prefix="sknorm-sklearn-suite-", suffix=".txt")
        os.close(handle)
        os.environ[_SKLEARN_SUITE_SUMMARY] = path  # inherited by xdist workers


def pytest_terminal_summary(terminalreporter, config):
    path = os.environ.get(_SKLEARN_SUITE_SUMMARY)
    if path and not hasattr(config, "workerinput") and os.path.getsize(path):
        with open(path) as handle:
            terminalreporter.write_sep("=", handle.read().strip())


def pytest_unconfigure(config):
    path = os.environ.get(_SKLEARN_SUITE_SUMMARY)
    if path and not hasattr(config, "workerinput"):
        os.environ.pop(_SKLEARN_SUITE_SUMMARY)
        with contextlib.suppress(OSError):
            os.remove(path)
