"""scikit-learn's fit callbacks (``sklearn.callback``, scikit-learn >= 1.9).

One home for callback support. Every public estimator inherits
:class:`CallbackSupportMixin` (through
:class:`~sknorm._estimator._StatisticsEstimator` or
:class:`~sknorm.rows._RowNormalizer`), so it takes ``set_callbacks`` and can
be a step of a :class:`~sklearn.pipeline.Pipeline` or the estimator of a
:class:`~sklearn.model_selection.GridSearchCV` that propagates callbacks such
as :class:`~sklearn.callback.ProgressBar`.

Each ``fit`` and ``partial_fit`` is a task (:func:`fit_task`), begun once its
input is validated, as in scikit-learn's scalers. Long work is reported as
subtasks of it, in the units in which sknorm does it:

* the column groups of exact quantiles and of quantile sketches, and the row
  blocks of a covariance: the kernel wraps its loop in :func:`reported_units`,
  which reports each unit to the task made current by
  :meth:`FitTask.reporting_units`;
* the partitions of a Dask fit, and its passes over them when exact quantiles
  take several (see :mod:`sknorm._dask`), through :meth:`FitTask.subtask`.

Without callbacks nothing is reported and nothing is added to the work: a task
costs two attribute look-ups and a unit loop one context-variable read. With a
scikit-learn older than 1.9, which has no callbacks, the mixin is empty and
every task a no-op.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from ._validation import ValidatedBatch

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9: no callbacks to support

    class CallbackSupportMixin:
        """Stand-in for ``sklearn.callback.CallbackSupportMixin``."""


__all__ = ["CallbackSupportMixin", "FitTask", "fit_task", "reported_units"]

#: The task whose kernels report their units of work (see ``reported_units``).
_reporting_task = ContextVar("sknorm_reporting_task", default=None)


class FitTask:
    """A task of a fit, reported to the estimator's callbacks.

    A task without a callback context (no callbacks, or a scikit-learn without
    them) reports nothing, and neither do its subtasks.
    """

    __slots__ = ("_X", "_context", "_estimator", "_metadata")

    def __init__(self, estimator, context=None, X=None, metadata=None):
        self._estimator = estimator
        self._context = context
        self._X = X
        self._metadata = metadata

    @property
    def reporting(self):
        """Whether this task's subtasks reach any callback."""
        return self._context is not None and bool(
            getattr(self._estimator, "_skl_callbacks", None)
        )

    def begin_subtask(self, name, max_subtasks=0):
        """Begin and return a subtask (end it with :meth:`end`).

        ``max_subtasks`` is the number of its own subtasks (0: none; None:
        not known in advance). Subtasks get consecutive ids from 0.
        """
        if not self.reporting:
            return _SILENT
        context = self._context.subcontext(task_name=name, max_subtasks=max_subtasks)
        context.call_on_fit_task_begin(
            estimator=self._estimator, X=self._X, metadata=self._metadata
        )
        return FitTask(self._estimator, context, self._X, self._metadata)

    @contextmanager
    def subtask(self, name, max_subtasks=0):
        """The body as a subtask (see :meth:`begin_subtask`)."""
        task = self.begin_subtask(name, max_subtasks)
        yield task
        task.end()

    def end(self, reconstruction_attributes=None):
        """Report the end of the task (its ``stop`` request is ignored: a fit
        of statistics has no iterations to stop)."""
        if self._context is not None:
            self._context.call_on_fit_task_end(
                estimator=self._estimator,
                X=self._X,
                metadata=self._metadata,
                reconstruction_attributes=reconstruction_attributes,
            )

    @contextmanager
    def reporting_units(self):
        """Make this task the one :func:`reported_units` reports to, in the
        body (in this thread only: kernels report from the calling thread)."""
        if not self.reporting:
            yield
            return
        token = _reporting_task.set(self)
        try:
            yield
        finally:
            _reporting_task.reset(token)


_SILENT = FitTask(None)


class _RootTask(FitTask):
    """The task of one ``fit`` or ``partial_fit``: begun by :meth:`begin`."""

    __slots__ = ("_name",)

    def __init__(self, estimator, name, metadata):
        super().__init__(estimator, metadata=metadata)
        self._name = name

    @property
    def has_callbacks(self):
        """Whether the estimator has callbacks (its own or propagated ones)."""
        return bool(getattr(self._estimator, "_skl_callbacks", None))

    def begin(self, X, max_subtasks=0):
        """Create the estimator's callback context and report the beginning.

        Called once the input is validated, so that the callbacks see valid
        data: ``X`` is a :class:`~sknorm._validation.ValidatedBatch` (the
        callbacks see its data), or a dask collection whose metadata was
        validated. ``max_subtasks`` counts the subtasks the fit will report.
        """
        estimator = self._estimator
        # Without callbacks, a context is still needed when a meta-estimator
        # propagated one: the task then joins the meta-estimator's task tree.
        if not hasattr(estimator, "_init_callback_context") or not (
            self.has_callbacks or hasattr(estimator, "_parent_callback_ctx")
        ):
            return self
        if isinstance(X, ValidatedBatch):
            X = X.data
        self._X = X
        self._context = estimator._init_callback_context(
            task_name=self._name, max_subtasks=max_subtasks
        )
        self._context.call_on_fit_task_begin(
            estimator=estimator, X=X, metadata=self._metadata
        )
        return self


@contextmanager
def fit_task(estimator, name, metadata=None):
    """The task of a fit method called ``name``, yielded before it begins.

    The body calls the task's ``begin(X, max_subtasks)`` once X is validated;
    the end is reported when the body returns (the estimator is then fitted,
    so the callbacks' ``fitted_estimator`` is a copy of it). Callbacks' setup
    and teardown are scikit-learn's ``_fit_context``'s business.
    """
    task = _RootTask(estimator, name, metadata)
    yield task
    task.end(reconstruction_attributes={})


def reported_units(units, name, count=None):
    """Iterate over ``units`` of work, each one a subtask ``name`` of the
    reporting task (see :meth:`FitTask.reporting_units`), if any.

    A unit runs from the request for it (an iterator of results computes it
    then) until the request for the next (a loop computes it in its body).
    ``count`` is the number of units, ``len(units)`` by default.
    """
    task = _reporting_task.get()
    if task is None:
        return units
    return _report_units(task, units, name, len(units) if count is None else count)


def _report_units(task, units, name, count):
    iterator = iter(units)
    for _ in range(count):
        unit = task.begin_subtask(name)
        value = next(iterator, _DONE)
        if value is _DONE:  # pragma: no cover - count is the number of units
            unit.end()
            return
        yield value
        unit.end()
    # Never lose work to a wrong count.
    yield from iterator


_DONE = object()
