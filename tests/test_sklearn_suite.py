"""scikit-learn's own scaler tests, run against sknorm.

The installed scikit-learn's ``sklearn/preprocessing/tests/test_data.py`` and
``test_common.py`` are copied at test time (nothing is vendored) into a temporary
directory and their imports rewritten: every ``from sklearn.preprocessing import
...`` that names one of sknorm's classes or functions (:data:`SKNORM_NAMES`) gets
``; from sknorm import StandardScaler as StandardScaler, ...`` appended on its
last line, so those names come from sknorm while everything else
(``Binarizer``, ``KernelCenterer``, ``_handle_zeros_in_scale``, ...)
still comes from scikit-learn, and line numbers in tracebacks are those of the
installed files. The rewrite is done on the AST and refuses attribute access such
as ``preprocessing.StandardScaler``, which it could not redirect.

The copies run once per session in a ``python -m pytest`` subprocess with:

- an empty ``pytest.ini`` and ``--rootdir`` in the temporary directory, so the
  repository's ``addopts`` (``--doctest-modules``) and filters do not apply;
- ``-p sklearn.conftest`` (scikit-learn's own fixtures, markers and thread
  limits) and ``SKLEARN_WARNINGS_AS_ERRORS=1``, scikit-learn's strict CI mode:
  DeprecationWarning and FutureWarning are errors, as in this repository;
- ``-p no:xdist``: the run is sequential; under ``pytest -n 2`` one worker runs
  it while the others wait on a file lock and reuse its results;
- a small plugin (``conftest.py`` in the temporary directory) that deselects the
  scikit-learn tests that never reach a sknorm name (Binarizer,
  KernelCenterer, ... found by a transitive walk over each
  module's top-level definitions), records which object each sknorm name is
  bound to in the collected modules (:func:`test_rewrite_binds_sknorm_names`
  fails unless every one is sknorm's), and writes every test's outcome and
  failure text to JSON.

At collection time the copies are collected (``--collect-only``, a few seconds)
and :func:`test_sklearn` is parametrized with one case per scikit-learn test id,
so each scikit-learn test is reported on its own: passed, skipped (with
scikit-learn's reason), xfailed when it is listed in :data:`EXPECTED_FAILURES`
and fails as the entry says, failed otherwise. A listed test that passes fails
as a stale entry, and an entry that matches no test fails
:func:`test_expected_failures_table_is_exact`, so the table stays exact.
:func:`test_sklearn_suite_summary` prints the counts; the repository's
``tests/conftest.py`` shows the same line in pytest's terminal summary.

Only deliberate, documented differences ("sknorm does more", or "a deliberate
difference") may be listed; a failure caused by a sknorm defect is not.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest
import sklearn

import sknorm

#: Names that sknorm provides in place of scikit-learn's.
SKNORM_NAMES = (
    "StandardScaler",
    "MinMaxScaler",
    "MaxAbsScaler",
    "RobustScaler",
    "QuantileTransformer",
    "PowerTransformer",
    "Normalizer",
    "scale",
    "minmax_scale",
    "maxabs_scale",
    "robust_scale",
    "quantile_transform",
    "power_transform",
    "normalize",
)

#: scikit-learn modules whose imports of :data:`SKNORM_NAMES` are redirected.
_REDIRECTED_MODULES = ("sklearn.preprocessing", "sklearn.preprocessing._data")

SKLEARN_TEST_DIR = Path(sklearn.__file__).parent / "preprocessing" / "tests"
SKLEARN_TEST_MODULES = ("test_data.py", "test_common.py")

#: Seconds the scikit-learn run may take before it counts as hung.
_RUN_TIMEOUT = 900

DOES_MORE = "sknorm does more"
DELIBERATE = "deliberate difference"


class Expected(NamedTuple):
    """An expected failure of a scikit-learn test."""

    category: str  # DOES_MORE or DELIBERATE
    reason: str
    doc: str  # "differences.rst#<label>": the entry that explains it
    failure: str  # regular expression the failure text must match


#: scikit-learn test id (``*`` matches any characters) -> why it fails.
#: Verified with scikit-learn 1.6.0 and 1.9.1 (the floors and latest runs of CI).
#: Never list a failure due to a sknorm defect.
EXPECTED_FAILURES = {
    "test_data.py::test_standard_scaler_near_constant_features[*-float64-*]": Expected(
        DELIBERATE,
        "sknorm's constant-feature rule does not depend on n_samples; the test "
        "asserts scikit-learn's n*eps*var + n**2*eps**2*mean**2 bound",
        "differences.rst#diff-suite-constant-features",
        r"AssertionError",
    ),
    "test_data.py::test_standard_scaler_numerical_stability": Expected(
        DELIBERATE,
        "scikit-learn warns that its own result lost precision ('standard "
        "deviation of the data is probably very close to 0', 'Dataset may "
        "contain too large values'); sknorm's result is accurate and it does "
        "not warn",
        "differences.rst#diff-suite-precision-warnings",
        r"DID NOT WARN",
    ),
    "test_data.py::test_scale_input_finiteness_validation": Expected(
        DELIBERATE,
        "the error names the infinite feature ('Input X contains infinity in "
        "feature(s) 0...'); the test matches scikit-learn's wording",
        "differences.rst#diff-suite-error-messages",
        r"Regex pattern did not match",
    ),
    "test_data.py::test_robust_scaler_error_sparse": Expected(
        DOES_MORE,
        "RobustScaler(with_centering=True) fits sparse input; scikit-learn "
        "raises in fit",
        "differences.rst#diff-suite-sparse",
        r"DID NOT RAISE",
    ),
    "test_data.py::test_scale_function_without_centering[csr_*]": Expected(
        DOES_MORE,
        "scale() accepts sparse input along axis=1; scikit-learn raises",
        "differences.rst#diff-suite-sparse",
        r"DID NOT RAISE",
    ),
    "test_data.py::test_normalize[csr_*]": Expected(
        DOES_MORE,
        "normalize(return_norm=True) supports sparse input with 'l1' and 'l2'; "
        "scikit-learn raises NotImplementedError",
        "differences.rst#diff-suite-sparse",
        r"DID NOT RAISE (<class ')?NotImplementedError",
    ),
    "test_data.py::test_normalizer_l1_l2_max_non_csr[csc_*]": Expected(
        DELIBERATE,
        "CSC input stays CSC and Normalizer(copy=False) normalizes it in place; "
        "the test expects a new CSR matrix",
        "differences.rst#diff-suite-csc",
        # recent scipy's repr starts with the format name, scipy 1.10's with the shape
        r"assert <.*Compressed Sparse Column.* is not <.*Compressed Sparse Column",
    ),
    "test_common.py::test_missing_value_handling[*-robust_scale-*]": Expected(
        DOES_MORE,
        "RobustScaler has a dask_quantiles parameter that robust_scale() does not "
        "take (the function always computes exact quantiles); the test passes "
        "every estimator parameter to the function",
        "differences.rst#diff-suite-function-parameters",
        r"unexpected keyword argument 'dask_quantiles'",
    ),
    "test_common.py::test_missing_value_handling[*-quantile_transform-*]": Expected(
        DOES_MORE,
        "QuantileTransformer has dask_quantiles and decay parameters that "
        "quantile_transform() does not take (the function always computes exact "
        "quantiles, and fits once); the test passes every estimator parameter "
        "to the function",
        "differences.rst#diff-suite-function-parameters",
        r"unexpected keyword argument '(dask_quantiles|decay)'",
    ),
    "test_common.py::test_missing_value_handling[*-power_transform-*]": Expected(
        DOES_MORE,
        "PowerTransformer has a decay parameter that power_transform() does not "
        "take (a function fits once, which decay does not change); the test "
        "passes every estimator parameter to the function",
        "differences.rst#diff-suite-function-parameters",
        r"unexpected keyword argument 'decay'",
    ),
    "test_data.py::test_power_transformer_2d": Expected(
        DELIBERATE,
        "sknorm's Box-Cox lambdas are the exact maxima of the log-likelihood "
        "(within 1e-12 by mpmath); the test compares with scipy's Brent "
        "search (within 2.1e-8 here), whose values differ by up to 2.3e-7 "
        "at 7 decimals",
        "differences.rst#diff-suite-power-lambda",
        r"Arrays are not almost equal to 7 decimals",
    ),
    "test_data.py::test_power_transformer_box_cox_raise_all_nans_col": Expected(
        DELIBERATE,
        "a feature of missing values only gets lambda 1, as a constant one "
        "does (the identity; its values stay NaN), for both methods; "
        "scikit-learn raises for Box-Cox",
        "differences.rst#diff-suite-power-all-nan",
        r"DID NOT RAISE",
    ),
    "test_common.py::test_missing_value_handling[*-scale-*]": Expected(
        DOES_MORE,
        "StandardScaler has a decay parameter that scale() does not take (a "
        "function fits once, which decay does not change); the test passes "
        "every estimator parameter to the function",
        "differences.rst#diff-suite-function-parameters",
        r"unexpected keyword argument 'decay'",
    ),
}


def _pattern(test_id_pattern):
    """Compile an id pattern in which only ``*`` is special (ids contain [])."""
    return re.compile(
        "".join(
            ".*" if part == "*" else re.escape(part)
            for part in re.split(r"(\*)", test_id_pattern)
        )
        + r"\Z"
    )


_PATTERNS = {key: _pattern(key) for key in EXPECTED_FAILURES}


def expected_failure(test_id):
    """Return ``(pattern, Expected)`` for the table entry matching ``test_id``."""
    matches = [key for key, regex in _PATTERNS.items() if regex.match(test_id)]
    if len(matches) > 1:
        raise AssertionError(f"{test_id} matches several entries: {matches}")
    return (matches[0], EXPECTED_FAILURES[matches[0]]) if matches else (None, None)


# --------------------------------------------------------------------------------
# Rewriting the copies


class RewriteError(Exception):
    """A scikit-learn test module uses a sknorm name in a way we cannot redirect."""


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def rewrite_imports(source):
    """Redirect imports of :data:`SKNORM_NAMES` from scikit-learn to sknorm.

    Returns ``(new_source, overridden)`` where ``overridden`` lists the local
    names now bound to sknorm objects. Line numbers are unchanged: each override
    is appended to the last line of the import it overrides.
    """
    tree = ast.parse(source)
    edits = []
    overridden = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in _REDIRECTED_MODULES:
            names = [alias for alias in node.names if alias.name in SKNORM_NAMES]
            if names:
                aliases = ", ".join(
                    f"{alias.name} as {alias.asname or alias.name}" for alias in names
                )
                edits.append(
                    (
                        node.end_lineno,
                        node.end_col_offset,
                        f"; from sknorm import {aliases}",
                    )
                )
                overridden += [alias.asname or alias.name for alias in names]
        elif isinstance(node, ast.ImportFrom) and node.module == "sklearn":
            if any(alias.name == "preprocessing" for alias in node.names):
                raise RewriteError(
                    f"line {node.lineno}: 'from sklearn import preprocessing' "
                    "cannot be redirected"
                )
        elif isinstance(node, ast.Attribute) and node.attr in SKNORM_NAMES:
            base = _dotted(node.value)
            if base.endswith(("preprocessing", "_data")):
                raise RewriteError(
                    f"line {node.lineno}: {base}.{node.attr} cannot be redirected"
                )
    lines = source.splitlines(keepends=True)
    for lineno, col, text in sorted(edits, reverse=True):
        line = lines[lineno - 1]
        lines[lineno - 1] = line[:col] + text + line[col:]
    return "".join(lines), overridden


def sklearn_only_tests(source):
    """Names of the test functions that cannot reach a sknorm name.

    A top-level definition reaches sknorm when it refers (by name, argument or
    fixture name) to a sknorm name or to another definition that does; the
    rest only test scikit-learn against itself.
    """
    tree = ast.parse(source)
    refs = {}
    tests = []
    for node in tree.body:
        used = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                used.add(sub.id)
            elif isinstance(sub, ast.arg):
                used.add(sub.arg)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            refs.setdefault(node.name, set()).update(used)
            if node.name.startswith("test"):
                tests.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        refs.setdefault(sub.id, set()).update(used)
    reaching = set(SKNORM_NAMES)
    changed = True
    while changed:
        changed = False
        for name, used in refs.items():
            if name not in reaching and used & reaching:
                reaching.add(name)
                changed = True
    return [name for name in tests if name not in reaching]


_PLUGIN = '''\
"""Written by sknorm's tests/test_sklearn_suite.py: select, check, record."""

import json
import pathlib

HERE = pathlib.Path(__file__).parent
CONFIG = json.loads((HERE / "sknorm_suite_config.json").read_text())
STATE = {"collected": [], "bindings": {}, "results": {}, "deselected": 0}


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        skip = CONFIG["deselect"].get(item.path.name, ())
        name = getattr(item, "originalname", item.name)
        (drop if name in skip else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    STATE["deselected"] = len(drop)


def pytest_collection_finish(session):
    STATE["collected"] = [item.nodeid for item in session.items]
    for item in session.items:
        module = getattr(item, "module", None)
        if module is None or item.path.name in STATE["bindings"]:
            continue
        STATE["bindings"][item.path.name] = {
            name: getattr(getattr(module, name), "__module__", "?")
            for name in CONFIG["names"]
            if hasattr(module, name)
        }


def pytest_runtest_logreport(report):
    rec = STATE["results"].setdefault(
        report.nodeid, {"outcome": "passed", "text": "", "reason": ""}
    )
    if report.failed:
        rec["outcome"] = "failed"
        rec["text"] += f"[{report.when}] " + report.longreprtext + "\\n"
    elif rec["outcome"] == "failed":
        pass
    elif report.skipped:
        if hasattr(report, "wasxfail"):
            rec["outcome"], rec["reason"] = "xfailed", report.wasxfail
        else:
            rec["outcome"] = "skipped"
            why = report.longrepr
            rec["reason"] = why[2] if isinstance(why, tuple) else str(why)
    elif report.when == "call" and hasattr(report, "wasxfail"):
        rec["outcome"] = "xpassed"


def pytest_sessionfinish(session, exitstatus):
    STATE["exitstatus"] = int(exitstatus)
    (HERE / "sknorm_suite_results.json").write_text(json.dumps(STATE))
'''


def prepare(directory):
    """Copy and rewrite scikit-learn's test modules into ``directory``.

    Returns the rewrite report: the names each module now takes from sknorm.
    """
    directory = Path(directory)
    overridden = {}
    deselect = {}
    for name in SKLEARN_TEST_MODULES:
        source = (SKLEARN_TEST_DIR / name).read_text(encoding="utf-8")
        new_source, overridden[name] = rewrite_imports(source)
        deselect[name] = sklearn_only_tests(source)
        (directory / name).write_text(new_source, encoding="utf-8")
    (directory / "pytest.ini").write_text("[pytest]\n")
    (directory / "conftest.py").write_text(_PLUGIN)
    config = {"names": list(SKNORM_NAMES), "deselect": deselect}
    (directory / "sknorm_suite_config.json").write_text(json.dumps(config))
    return overridden


def run_suite(directory, *extra_args, log=None):
    """Run the prepared copies with pytest in a subprocess; return its record."""
    directory = Path(directory)
    # PYTEST_XDIST_WORKER_COUNT is kept: scikit-learn's conftest divides the
    # BLAS/OpenMP threads by it, as under xdist.
    dropped = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS", "PYTEST_XDIST_WORKER")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["SKLEARN_WARNINGS_AS_ERRORS"] = "1"
    sknorm_root = str(Path(sknorm.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(
        [sknorm_root, *filter(None, [env.get("PYTHONPATH")])]
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(directory / "pytest.ini"),
        "--rootdir",
        str(directory),
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-p",
        "no:randomly",
        "-p",
        "sklearn.conftest",
        # pytest >= 9.2 deprecates the generators some scikit-learn tests pass
        # to parametrize; scikit-learn's strict mode (its ini filters, which
        # the command line overrides) would make that an error that says
        # nothing about sknorm.
        "-W",
        "ignore:Passing a non-Collection iterable to parametrize:DeprecationWarning",
        "-q",
        *extra_args,
        *(str(directory / name) for name in SKLEARN_TEST_MODULES),
    ]
    start, cpu_start = time.perf_counter(), os.times()
    completed = subprocess.run(
        command,
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=_RUN_TIMEOUT,
        check=False,
    )
    wall = time.perf_counter() - start
    cpu_end = os.times()
    cpu = (cpu_end.children_user - cpu_start.children_user) + (
        cpu_end.children_system - cpu_start.children_system
    )
    if log is not None:
        Path(log).write_text(completed.stdout)
    results_file = directory / "sknorm_suite_results.json"
    if not results_file.exists():
        raise RuntimeError(
            f"scikit-learn's tests did not run (exit {completed.returncode}):\n"
            + completed.stdout[-5000:]
        )
    record = json.loads(results_file.read_text())
    record.update(wall_s=wall, cpu_s=cpu, returncode=completed.returncode)
    record["output_tail"] = completed.stdout[-5000:]
    return record


def _collect():
    with tempfile.TemporaryDirectory(prefix="sknorm-sklearn-collect-") as tmp:
        prepare(tmp)
        record = run_suite(tmp, "--collect-only")
    if record["exitstatus"] != 0:
        raise RuntimeError(record["output_tail"])
    return record["collected"]


try:
    COLLECTED_IDS = _collect()
    COLLECTION_ERROR = None
except Exception as exc:  # reported by test_sklearn_suite_summary
    COLLECTED_IDS = []
    COLLECTION_ERROR = f"{type(exc).__name__}: {exc}"


# --------------------------------------------------------------------------------
# The session run, shared by xdist workers


@contextmanager
def _file_lock(path):
    try:
        import fcntl
    except ImportError:  # no POSIX locks: every worker runs the suite itself
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    """The scikit-learn run, done once per session even under pytest-xdist."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by all workers of this session
    shared = root / "sknorm-sklearn-suite"
    shared.mkdir(exist_ok=True)
    done = shared / "record.json"
    with _file_lock(shared / "lock"):
        if done.exists():
            return json.loads(done.read_text())
        work = shared / "run"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        overridden = prepare(work)
        record = run_suite(work, log=shared / "output.txt")
        record["overridden"] = overridden
        record["counts"] = _counts(record)
        record["summary"] = _summary_line(record)
        tmp = shared / "record.json.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(done)
    summary_path = os.environ.get("SKNORM_SKLEARN_SUITE_SUMMARY")
    if summary_path:
        Path(summary_path).write_text(record["summary"] + "\n")
    return record


def _counts(record):
    counts = {
        "passed": 0,
        "failed": 0,
        "expected failures": 0,
        "skipped": 0,
        "xfailed by scikit-learn": 0,
    }
    for test_id, result in record["results"].items():
        outcome = result["outcome"]
        if outcome == "xpassed":
            outcome = "passed"
        if outcome == "xfailed":
            outcome = "xfailed by scikit-learn"
        if outcome == "failed" and expected_failure(test_id)[1] is not None:
            outcome = "expected failures"
        counts[outcome] += 1
    counts["deselected (no sknorm name)"] = record["deselected"]
    return counts


def _summary_line(record):
    counts = ", ".join(f"{value} {key}" for key, value in record["counts"].items())
    return (
        f"scikit-learn {sklearn.__version__} preprocessing tests on sknorm: "
        f"{counts} in {record['wall_s']:.1f} s ({record['cpu_s']:.1f} s CPU)"
    )


# --------------------------------------------------------------------------------
# Tests


def test_sklearn_suite_summary(suite, capsys):
    """The run completed and collected what collection saw; print the counts."""
    assert COLLECTION_ERROR is None, COLLECTION_ERROR
    with capsys.disabled():
        print("\n" + suite["summary"])
    assert suite["exitstatus"] in (0, 1), suite["output_tail"]
    assert suite["collected"] == COLLECTED_IDS
    assert set(suite["results"]) == set(COLLECTED_IDS)


def test_rewrite_binds_sknorm_names(suite):
    """Every sknorm name in the copied modules is sknorm's, not scikit-learn's."""
    assert set(suite["overridden"]) == set(SKLEARN_TEST_MODULES)
    for module in SKLEARN_TEST_MODULES:
        overridden = suite["overridden"][module]
        bindings = suite["bindings"][module]
        assert overridden, f"{module}: no import was redirected to sknorm"
        assert set(bindings) >= set(overridden)
        wrong = {
            name: where
            for name, where in bindings.items()
            if not where.startswith("sknorm")
        }
        assert not wrong, f"{module} still uses scikit-learn's {wrong}"


def test_rewrite_keeps_other_names_and_lines():
    source = (
        "from sklearn.preprocessing import (\n"
        "    Binarizer,\n"
        "    StandardScaler as SS,\n"
        ")  # comment\n"
        "from sklearn.preprocessing._data import _handle_zeros_in_scale, scale\n"
    )
    new, overridden = rewrite_imports(source)
    assert overridden == ["SS", "scale"]
    assert new.count("\n") == source.count("\n")
    namespace = {}
    exec(compile(new, "<rewritten>", "exec"), namespace)
    assert namespace["SS"] is sknorm.StandardScaler
    assert namespace["scale"] is sknorm.scale
    assert namespace["Binarizer"].__module__.startswith("sklearn.")
    assert namespace["_handle_zeros_in_scale"].__module__.startswith("sklearn.")
    with pytest.raises(RewriteError):
        rewrite_imports("import sklearn.preprocessing\nsklearn.preprocessing.scale\n")


def test_expected_failures_table_is_exact():
    """Each entry matches a scikit-learn test and points to a documented label."""
    assert COLLECTION_ERROR is None, COLLECTION_ERROR
    unmatched = [
        key
        for key, regex in _PATTERNS.items()
        if not any(regex.match(i) for i in COLLECTED_IDS)
    ]
    assert not unmatched, f"entries matching no scikit-learn test: {unmatched}"
    differences = Path(__file__).resolve().parents[1] / "docs" / "differences.rst"
    if not differences.exists():
        pytest.skip("docs/differences.rst is not available")
    labels = set(re.findall(r"^\.\. _([\w-]+):", differences.read_text(), re.M))
    for key, entry in EXPECTED_FAILURES.items():
        assert entry.category in (DOES_MORE, DELIBERATE), key
        page, _, anchor = entry.doc.partition("#")
        assert page == "differences.rst" and anchor in labels, (key, entry.doc)


def verdict(test_id, result):
    """How :func:`test_sklearn` reports one scikit-learn result.

    Returns ``(action, message)`` with action ``"pass"``, ``"skip"``,
    ``"xfail"`` or ``"fail"``.
    """
    if result is None:
        return "fail", f"{test_id} was collected but did not run"
    outcome = result["outcome"]
    key, entry = expected_failure(test_id)
    if outcome == "failed":
        text = result["text"]
        if entry is None:
            return (
                "fail",
                f"scikit-learn's {test_id} fails with sknorm:\n{text[-6000:]}",
            )
        if not re.search(entry.failure, text):
            return "fail", (
                f"{test_id} fails, but not as EXPECTED_FAILURES[{key!r}] says "
                f"({entry.failure!r}):\n{text[-6000:]}"
            )
        return "xfail", f"{entry.category}: {entry.reason} ({entry.doc})"
    if outcome == "skipped":  # says nothing about an entry either way
        return "skip", f"scikit-learn skips it: {result['reason']}"
    if outcome == "xfailed":
        return "xfail", f"scikit-learn marks it xfail: {result['reason']}"
    if entry is not None:
        return "fail", (
            f"stale entry: {test_id} now {outcome}; remove or narrow "
            f"EXPECTED_FAILURES[{key!r}] and its line in docs/differences.rst"
        )
    return "pass", ""


def test_verdict():
    listed = "test_data.py::test_normalize[csr_matrix]"
    raised = {
        "outcome": "failed",
        "text": "Failed: DID NOT RAISE <class 'NotImplementedError'>",
    }
    other = {"outcome": "failed", "text": "ValueError: something else"}
    passed = {"outcome": "passed", "text": "", "reason": ""}
    skipped = {"outcome": "skipped", "text": "", "reason": "no torch"}
    assert verdict(listed, raised)[0] == "xfail"
    assert verdict(listed, other)[0] == "fail"  # fails for another reason
    assert verdict(listed, passed)[0] == "fail"  # stale entry
    assert "stale" in verdict(listed, passed)[1]
    assert verdict(listed, skipped)[0] == "skip"
    assert verdict("test_data.py::test_new", other)[0] == "fail"  # a new defect
    assert verdict("test_data.py::test_new", passed)[0] == "pass"
    assert verdict("test_data.py::test_new", None)[0] == "fail"
    assert expected_failure("test_data.py::test_normalize") == (None, None)


@pytest.mark.parametrize("test_id", COLLECTED_IDS)
def test_sklearn(test_id, suite):
    """One scikit-learn test, run against sknorm in the session's subprocess."""
    action, message = verdict(test_id, suite["results"].get(test_id))
    if action == "fail":
        pytest.fail(message, pytrace=False)
    if action == "skip":
        pytest.skip(message)
    if action == "xfail":
        pytest.xfail(message)
