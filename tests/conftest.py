"""Shared fixtures: DataFrame libraries and sparse containers."""

import numpy as np
import pytest
from scipy import sparse

SPARSE_CONTAINERS = [
    sparse.csr_matrix,
    sparse.csr_array,
    sparse.csc_matrix,
    sparse.csc_array,
]


@pytest.fixture(params=["pandas", "polars"])
def df_module(request):
    """Run a DataFrame test once with pandas and once with polars."""
    return pytest.importorskip(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
