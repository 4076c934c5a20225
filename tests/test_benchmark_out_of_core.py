"""The out-of-core benchmark (``benchmarks/out_of_core.py``): its exact
reference against rational arithmetic, and a smoke run that reports every
target. Speed is judged by running the benchmark, never by a test."""

import json
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from ._scripts import BENCHMARKS, load_benchmark_script

pytest.importorskip("pyarrow", reason="the benchmark's data is Parquet")


@pytest.fixture(scope="module")
def bench():
    return load_benchmark_script("out_of_core")


def _values(seed):
    """Signed values over 60 decades, zeros and neighbours of 2**53."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=3000) * 10.0 ** rng.integers(-30, 30, 3000)
    return np.concatenate([x, [0.0, -0.0, 2.0**53 + 2, -(2.0**53), 1e-300]])


@pytest.mark.parametrize("seed", range(3))
def test_exact_sum_is_the_rational_sum(bench, seed, monkeypatch):
    x = _values(seed)
    expected = sum(map(Fraction, x.tolist()), Fraction(0))
    assert bench.exact_sum(x) == expected
    # Several integer accumulations, as for columns over 2**25 values.
    monkeypatch.setattr(bench, "_EXACT_BLOCK", 1000)
    assert bench.exact_sum(x) == expected


@pytest.mark.parametrize("seed", range(3))
def test_exact_moments_and_quantiles(bench, seed):
    x = _values(seed)
    x = x[(np.abs(x) < 1e140) & ((np.abs(x) > 1e-140) | (x == 0))]  # no overflow
    p, e = bench.exact_squares(x)
    for value, high, low in zip(x, p, e, strict=True):
        assert Fraction(high) + Fraction(low) == Fraction(value) ** 2
    exact = list(map(Fraction, x.tolist()))
    mean = sum(exact) / len(exact)
    assert bench.exact_moments(x) == (
        mean,
        sum((v - mean) ** 2 for v in exact) / len(exact),
    )
    # numpy's linear interpolation, h = q (n - 1), between exact order statistics.
    ordered = sorted(exact)
    for q, found in zip(
        bench.QUANTILES, bench.exact_quantiles(x, bench.QUANTILES), strict=True
    ):
        h = Fraction(q) * (len(x) - 1)
        k = int(h)
        assert found == ordered[k] + (h - k) * (ordered[k + 1] - ordered[k])


def test_ulps_apart(bench):
    assert bench.ulps_apart(1.0, np.nextafter(1.0, 2.0)) == 1
    assert bench.ulps_apart(-0.0, 0.0) == 0
    assert bench.ulps_apart(np.nextafter(0.0, -1.0), np.nextafter(0.0, 1.0)) == 2


def test_quick_run_reports_every_target(tmp_path):
    """Engine scans and accuracy always; sknorm's fits where stream sources
    exist, else the run says they are not available."""
    pytest.importorskip("polars")
    pytest.importorskip("duckdb")
    report = tmp_path / "report.json"
    result = subprocess.run(
        [
            sys.executable,
            str(BENCHMARKS / "out_of_core.py"),
            "--quick",
            "--quiet",
            "--no-dask",
            "--data-dir",
            str(tmp_path / "data"),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(BENCHMARKS.parent)},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(report.read_text())
    targets = {(t, case) for t, case, *_ in found["targets"]}
    assert len(targets) == 2 * 3 + 3 + 4 * 3
    rows = found["sections"]["moments"]["rows"]
    assert rows["DuckDB avg/var_pop/min/max"]["time"]["n"] == 3
    accuracy = found["accuracy"]
    # Extrema are exact and medians within a few ulps: the columns compared
    # are the same (a mix-up would be off by orders of magnitude).
    assert accuracy["polars mean/var/min/max"]["min"] == 0
    assert accuracy["DuckDB quantile_cont"]["median"]["error"] < 1e-14
    available = "stream sources not available" not in result.stdout
    fitted = rows["sknorm StandardScaler | polars LazyFrame"]["time"]
    assert (fitted is not None) == available
