"""scikit-learn's fit callbacks (``sklearn.callback``) on every sknorm estimator.

A recording callback collects the task tree of each fit: every public
estimator (discovered from ``sknorm.__all__``) reports ``fit`` and
``partial_fit`` as tasks, long work as their subtasks (quantile column groups,
sketch blocks, covariance row blocks, Dask partitions and exact-quantile
passes); reporting never changes a result; callbacks propagate through a
Pipeline and GridSearchCV without warnings, and ProgressBar draws there.
Without ``sklearn.callback`` (scikit-learn < 1.9) sknorm still works: that is
simulated in a subprocess.
"""

import inspect
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

callback = pytest.importorskip(
    "sklearn.callback", reason="scikit-learn < 1.9 has no sklearn.callback"
)

import sklearn.preprocessing  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402

import sknorm  # noqa: E402
import sknorm.stats.covariance  # noqa: E402
import sknorm.stats.quantiles  # noqa: E402
import sknorm.stats.sketch  # noqa: E402

from .conftest import DASK_CLUSTER_OPTIONS  # noqa: E402

ESTIMATORS = sorted(
    name
    for name in sknorm.__all__
    if inspect.isclass(getattr(sknorm, name))
    and issubclass(getattr(sknorm, name), BaseEstimator)
)

# The subtasks each estimator reports, with its default parameters, on a small
# dense X (100 x 5): one unit of work per statistic that reports any.
EXPECTED_SUBTASKS = {
    "EmbeddingNormalizer": {
        "fit": ["covariance-rows"],
        "partial_fit": ["covariance-rows"],
    },
    "EmbeddingQuantizer": {"fit": [], "partial_fit": []},
    "GroupedScaler": {"fit": [], "partial_fit": []},
    "MaxAbsScaler": {"fit": [], "partial_fit": []},
    "MinMaxScaler": {"fit": [], "partial_fit": []},
    "Normalizer": {"fit": []},
    "QuantileTransformer": {
        "fit": ["quantiles-columns", "sketch-columns"],
        "partial_fit": ["sketch-columns"],
    },
    "PowerTransformer": {"fit": [], "partial_fit": []},
    "RobustScaler": {
        "fit": ["quantiles-columns", "sketch-columns"],
        "partial_fit": ["sketch-columns"],
    },
    "RowStandardizer": {"fit": []},
    "SquashingScaler": {
        "fit": ["quantiles-columns", "sketch-columns"],
        "partial_fit": ["sketch-columns"],
    },
    "StandardScaler": {"fit": [], "partial_fit": []},
}


class RecordingCallback(callback.FitCallback):
    """Records every hook with its context; a meta-estimator propagates it
    to every depth (see :class:`OwnRecordingCallback` for one that it does
    not)."""

    max_propagation_depth = None

    def __init__(self):
        self.events = []

    def setup(self, estimator, context):
        self.events.append(("setup", estimator, context))

    def teardown(self, estimator, context):
        self.events.append(("teardown", estimator, context))

    def on_fit_task_begin(self, estimator, context, *, X=None, metadata=None):
        self.events.append(("begin", estimator, context))

    def on_fit_task_end(self, estimator, context, *, X=None, fitted_estimator=None):
        self.events.append(("end", estimator, context))
        self.fitted_estimator = fitted_estimator

    def contexts(self, hook):
        return [context for name, _, context in self.events if name == hook]

    def tree(self):
        """The recorded root task as ``(task_name, [subtrees])``, after checking
        that every task began once and ended once, after its parent began and
        before its parent ended, and that siblings have the ids 0, 1, ..."""
        begun, ended = self.contexts("begin"), self.contexts("end")
        assert len({id(c) for c in begun}) == len(begun)
        assert {id(c) for c in begun} == {id(c) for c in ended}
        begins, ends = (
            {id(c): i for i, (name, _, c) in enumerate(self.events) if name == hook}
            for hook in ("begin", "end")
        )
        (root,) = [c for c in begun if c.parent is None]

        def subtree(context):
            children = [c for c in begun if c.parent is context]
            assert [c.task_id for c in children] == list(range(len(children)))
            if context.max_subtasks is not None:
                # A bound in general (iterations may stop early); sknorm's
                # counts are exact.
                assert len(children) <= context.max_subtasks
                if context.estimator_name in ESTIMATORS:
                    assert len(children) == context.max_subtasks
            for child in children:
                assert begins[id(context)] < begins[id(child)]
                assert ends[id(child)] < ends[id(context)]
            return (context.task_name, [subtree(c) for c in children])

        return subtree(root)


def _X(n_rows=100, n_features=5, seed=0):
    return np.random.default_rng(seed).normal(size=(n_rows, n_features)) + 3.0


@pytest.mark.parametrize("name", ESTIMATORS)
def test_every_estimator_reports_its_fit_methods_as_tasks(name):
    assert set(EXPECTED_SUBTASKS) == set(ESTIMATORS)
    cls = getattr(sknorm, name)
    methods = [m for m in ("fit", "partial_fit") if hasattr(cls, m)]
    assert list(EXPECTED_SUBTASKS[name]) == methods
    X = _X()
    for method in methods:
        recorder = RecordingCallback()
        estimator = cls().set_callbacks(recorder)
        assert getattr(estimator, method)(X) is estimator
        expected = [(unit, []) for unit in EXPECTED_SUBTASKS[name][method]]
        assert recorder.tree() == (method, expected)
        # setup before everything, teardown after, once each.
        assert [e[0] for e in recorder.events[:2]] == ["setup", "begin"]
        assert [e[0] for e in recorder.events[-2:]] == ["end", "teardown"]
        root = recorder.contexts("begin")[0]
        assert root.estimator_name == name
        # The root task ends on a fitted estimator: its copy transforms alike.
        assert_allclose(recorder.fitted_estimator.transform(X), estimator.transform(X))
        # Reporting changes nothing.
        unobserved = getattr(cls(), method)(X)
        assert_array_equal(unobserved.transform(X), estimator.transform(X))


def test_partial_fit_tasks_follow_each_other():
    recorder = RecordingCallback()
    scaler = sknorm.StandardScaler().set_callbacks(recorder)
    X = _X()
    scaler.partial_fit(X[:50]).partial_fit(X[50:])
    roots = [c for c in recorder.contexts("begin") if c.parent is None]
    assert [c.task_name for c in roots] == ["partial_fit", "partial_fit"]
    assert roots[0].root_uuid != roots[1].root_uuid
    assert_allclose(scaler.mean_, X.mean(axis=0))


def test_no_task_is_begun_on_invalid_input():
    recorder = RecordingCallback()
    with pytest.raises(ValueError, match=r"column\(s\) 0, 1 are not numeric"):
        sknorm.StandardScaler().set_callbacks(recorder).fit([["a", "b"]])
    assert recorder.contexts("begin") == []


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
def test_exact_quantiles_report_their_column_groups(monkeypatch, threads, weighted):
    # 1000 float64 rows per column, groups of at most 3 * 8000 bytes: columns
    # are selected 3 at a time, 4 groups for 10 columns. Equal weights with
    # zeros drop the rows of weight 0: 500 rows, 6 columns at a time, 2 groups.
    monkeypatch.setattr(sknorm.stats.quantiles, "_GROUP_BYTES", 3 * 8000)
    monkeypatch.setenv("SKNORM_NUM_THREADS", str(threads))
    monkeypatch.setattr(sknorm.stats.quantiles, "_PARALLEL_MIN_VALUES", 0)
    X = _X(1000, 10)
    weight = np.repeat([0.0, 2.0], 500) if weighted else None
    recorder = RecordingCallback()
    scaler = sknorm.RobustScaler().set_callbacks(recorder)
    scaler.fit(X, sample_weight=weight)
    # The sketch kept beside (one block; none with unequal weights, which
    # are sorted at once).
    groups = [("quantiles-columns", [])] * (2 if weighted else 4)
    sketch = [] if weighted else [("sketch-columns", [])]
    assert recorder.tree() == ("fit", groups + sketch)
    rows = slice(500, None) if weighted else slice(None)
    reference = sklearn.preprocessing.RobustScaler().fit(X[rows])
    assert_allclose(scaler.center_, reference.center_)
    assert_allclose(scaler.scale_, reference.scale_)


def test_bracketed_quantiles_report_their_row_tasks(monkeypatch):
    # 1000 rows in tasks of about 2000 values: one subtask per task.
    monkeypatch.setattr(sknorm.stats.quantiles, "_BRACKET_MIN_ROWS", 1)
    monkeypatch.setattr("sknorm._parallel.BLOCK_ELEMENTS", 200)
    monkeypatch.setattr("sknorm._parallel.TASK_ELEMENTS", 2000)
    X = _X(1000, 10)
    recorder = RecordingCallback()
    scaler = sknorm.RobustScaler().set_callbacks(recorder)
    scaler.fit(X)
    n_tasks = len(sknorm._parallel.BlockPlan(1000, 10).tasks())
    assert n_tasks > 1
    groups = [("quantiles-rows", [])] * n_tasks
    assert recorder.tree() == ("fit", [*groups, ("sketch-columns", [])])
    reference = sklearn.preprocessing.RobustScaler().fit(X)
    assert_array_equal(scaler.center_, reference.center_)
    assert_allclose(scaler.scale_, reference.scale_)


def test_quantile_sketch_reports_its_column_blocks(monkeypatch):
    # 200 rows of 8 bytes per column, blocks of 2 * 1600 bytes: 5 blocks.
    monkeypatch.setattr(sknorm.stats.sketch, "_BLOCK_BYTES", 2 * 1600)
    recorder = RecordingCallback()
    X = _X(200, 10)
    scaler = sknorm.RobustScaler().set_callbacks(recorder).partial_fit(X)
    assert recorder.tree() == ("partial_fit", [("sketch-columns", [])] * 5)
    assert_allclose(scaler.center_, np.median(X, axis=0))  # the sketch kept all


def test_covariance_reports_its_row_blocks(monkeypatch):
    # Blocks of 800 values of 8 columns: 100 rows each, 10 blocks.
    monkeypatch.setattr(sknorm.stats.covariance, "_BLOCK_ELEMENTS", 800)
    X = _X(1000, 8)
    recorder = RecordingCallback()
    whitening = sknorm.EmbeddingNormalizer(whiten="zca", norm=None, input_norm=None)
    whitening.set_callbacks(recorder).fit(X)
    assert recorder.tree() == ("fit", [("covariance-rows", [])] * 10)
    assert_allclose(whitening.mean_, X.mean(axis=0))
    # Whitened by the covariance of all the blocks: identity covariance.
    whitened = whitening.transform(X)
    assert_allclose(np.cov(whitened.T, bias=True), np.eye(8), atol=1e-12)


def test_sparse_input_reports_no_units():
    sparse = pytest.importorskip("scipy.sparse")
    recorder = RecordingCallback()
    X = sparse.random(200, 6, density=0.3, format="csc", random_state=0)
    sknorm.RobustScaler(with_centering=False).set_callbacks(recorder).fit(X)
    assert recorder.tree() == ("fit", [])


# ---------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------


@pytest.fixture(params=["sync", "threads", "distributed"])
def dask_scheduler(request):
    """Run a Dask test on a local scheduler and on a distributed cluster."""
    dask = pytest.importorskip("dask")
    if request.param != "distributed":
        with dask.config.set(scheduler=request.param):
            yield request.param
        return
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(processes=False, **DASK_CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster):
            yield request.param


@pytest.mark.parametrize("container", ["array", "frame"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_dask_fit_reports_each_partition(dask_scheduler, container, method):
    da = pytest.importorskip("dask.array")
    X = _X(400, 3)
    if container == "array":
        data = da.from_array(X, chunks=(100, 3))
    else:
        dd = pytest.importorskip("dask.dataframe")
        pd = pytest.importorskip("pandas")
        data = dd.from_pandas(pd.DataFrame(X, columns=list("abc")), npartitions=4)
    recorder = RecordingCallback()
    scaler = getattr(sknorm.StandardScaler().set_callbacks(recorder), method)(data)
    assert recorder.tree() == (method, [("partition", [])] * 4)
    assert_allclose(scaler.mean_, X.mean(axis=0))
    assert_allclose(scaler.var_, X.var(axis=0))


def test_dask_exact_quantiles_report_passes_of_partitions(dask_scheduler):
    da = pytest.importorskip("dask.array")
    # More values than the sketch keeps: the first pass, then narrowing ones.
    X = _X(20_000, 3)
    recorder = RecordingCallback()
    scaler = sknorm.RobustScaler(dask_quantiles="exact").set_callbacks(recorder)
    scaler.fit(da.from_array(X, chunks=(5_000, 3)))
    name, passes = recorder.tree()
    assert name == "fit"
    assert len(passes) >= 2
    assert passes == [("pass", [("partition", [])] * 4)] * len(passes)
    (root,) = [c for c in recorder.contexts("begin") if c.parent is None]
    assert root.max_subtasks is None  # the number of passes is found on the way
    reference = sklearn.preprocessing.RobustScaler().fit(X)
    assert_array_equal(scaler.center_, reference.center_)
    assert_allclose(scaler.scale_, reference.scale_)


def test_dask_fit_without_callbacks_reports_nothing(dask_scheduler):
    da = pytest.importorskip("dask.array")
    scaler = sknorm.StandardScaler().fit(da.from_array(_X(), chunks=(25, 5)))
    assert not hasattr(scaler, "_callback_fit_ctx")
    assert_allclose(scaler.mean_, _X().mean(axis=0))


# ---------------------------------------------------------------------------
# Meta-estimators and ProgressBar
# ---------------------------------------------------------------------------


def _classification(n_rows=60):
    X = _X(n_rows, 4)
    return X, (X[:, 0] > 3.0).astype(int)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_pipeline_propagates_callbacks_without_warning(name):
    # Enough rows that EmbeddingQuantizer and QuantileTransformer (1000
    # quantiles) have no reason to warn.
    X, y = _classification(1000)
    pipe = make_pipeline(getattr(sknorm, name)(), LogisticRegression())
    recorder = RecordingCallback()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipe.set_callbacks(recorder).fit(X, y)
    step_tasks = [
        c
        for c in recorder.contexts("begin")
        if c.estimator_name == name and c.task_name == "fit"
    ]
    # The step's fit is the Pipeline's fit-transform task of that step.
    (fit,) = step_tasks
    assert fit.source_estimator_name == "Pipeline"
    assert fit.source_task_name == f"fit-transform-{name.lower()}"
    assert recorder.tree()[0] == "fit"
    # Propagated callbacks are taken back after the fit.
    assert not hasattr(pipe.steps[0][1], "_skl_callbacks")


class OwnRecordingCallback(RecordingCallback):
    """A recording callback of a step's own: not an ``AutoPropagatedCallback``
    (it hides ``max_propagation_depth``), so a meta-estimator may hold it."""

    @property
    def max_propagation_depth(self):
        raise AttributeError("not auto-propagated")


def test_own_callback_of_a_step_sees_its_task_in_the_pipeline_tree():
    X, y = _classification()
    step_recorder = OwnRecordingCallback()
    assert not isinstance(step_recorder, callback.AutoPropagatedCallback)
    scaler = sknorm.RobustScaler().set_callbacks(step_recorder)
    Pipeline([("scale", scaler), ("clf", LogisticRegression())]).fit(X, y)
    root, *units = step_recorder.contexts("begin")
    assert (root.estimator_name, root.task_name) == ("RobustScaler", "fit")
    assert root.parent.estimator_name == "Pipeline"
    assert root.source_task_name == "fit-transform-scale"
    assert [unit.parent for unit in units] == [root] * len(units) != []


def _progress_bar_output(capsys, fit):
    pytest.importorskip("rich", reason="ProgressBar needs rich")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit()
    return capsys.readouterr().out


def test_progress_bar_in_a_pipeline(capsys, monkeypatch):
    # Several column groups, so that the scaler's own bar has subtasks.
    monkeypatch.setattr(sknorm.stats.quantiles, "_GROUP_BYTES", 60 * 8)
    X, y = _classification()
    pipe = make_pipeline(
        sknorm.RobustScaler(), sknorm.Normalizer(), LogisticRegression()
    )
    out = _progress_bar_output(
        capsys,
        lambda: pipe.set_callbacks(
            callback.ProgressBar(max_propagation_depth=None)
        ).fit(X, y),
    )
    assert "Pipeline - fit" in out
    assert "RobustScaler - fit" in out
    assert "Normalizer - fit" in out
    assert "100%" in out


def test_progress_bar_in_grid_search(capsys):
    X, y = _classification(80)
    search = GridSearchCV(
        make_pipeline(sknorm.StandardScaler(), LogisticRegression()),
        {"standardscaler__with_mean": [True, False]},
        cv=2,
    )
    search.set_callbacks(callback.ProgressBar(max_propagation_depth=None))
    out = _progress_bar_output(capsys, lambda: search.fit(X, y))
    assert "GridSearchCV - fit" in out
    assert "StandardScaler - fit" in out
    assert search.best_estimator_.score(X, y) > 0.9


def test_progress_bar_on_an_estimator(capsys):
    out = _progress_bar_output(
        capsys,
        lambda: (
            sknorm.EmbeddingNormalizer().set_callbacks(callback.ProgressBar()).fit(_X())
        ),
    )
    assert "EmbeddingNormalizer - fit" in out


# ---------------------------------------------------------------------------
# scikit-learn without sklearn.callback
# ---------------------------------------------------------------------------


def test_without_sklearn_callback_every_estimator_still_fits():
    # scikit-learn's own modules use sklearn.callback (1.9): imported first,
    # they keep working; sknorm then finds no sklearn.callback, as with 1.6-1.8.
    script = textwrap.dedent(
        """
        import inspect, sys
        import sklearn.base, sklearn.pipeline, sklearn.preprocessing
        from sklearn.utils.estimator_checks import check_transformer_general
        sys.modules["sklearn.callback"] = None

        import numpy as np
        import sknorm

        assert sknorm._callbacks.CallbackSupportMixin.__module__ == "sknorm._callbacks"
        X = np.random.default_rng(0).normal(size=(40, 3))
        names = [
            n
            for n in sknorm.__all__
            if inspect.isclass(getattr(sknorm, n))
            and issubclass(getattr(sknorm, n), sklearn.base.BaseEstimator)
        ]
        for name in names:
            cls = getattr(sknorm, name)
            estimator = cls().fit(X)
            assert not hasattr(estimator, "set_callbacks"), name
            if hasattr(estimator, "partial_fit"):
                estimator.partial_fit(X)
            check_transformer_general(name, cls())
        scaled = sknorm.StandardScaler().fit_transform(X)
        np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-12)
        print(len(names), "estimators")
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": root},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{len(ESTIMATORS)} estimators"


class _UnpicklableRecordingCallback(RecordingCallback):
    def __reduce__(self):
        raise TypeError("this callback cannot be pickled")


def test_dask_workers_get_no_callbacks():
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    recorder = _UnpicklableRecordingCallback()
    X = _X(400, 3)
    with distributed.LocalCluster(processes=False, **DASK_CLUSTER_OPTIONS) as cluster:
        with distributed.Client(cluster):
            scaler = sknorm.StandardScaler().set_callbacks(recorder)
            scaler.fit(da.from_array(X, chunks=(100, 3)))
    assert recorder.tree() == ("fit", [("partition", [])] * 4)
    assert_allclose(scaler.mean_, X.mean(axis=0))
