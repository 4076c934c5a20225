"""scikit-learn's fit callbacks (``sklearn.callback``, scikit-learn >= 1.9).

One home for callback support: :class:`~sknorm._estimator._StatisticsEstimator`
inherits :class:`CallbackSupportMixin` and reports each ``fit`` or
``partial_fit`` as one task (its statistics are computed in one pass, with no
iterations to report), so every estimator built on it takes
``set_callbacks`` as scikit-learn's own scalers do. With an older
scikit-learn, which has no callbacks, the mixin is empty and the task a no-op.
"""

from contextlib import contextmanager

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9: no callbacks to support

    class CallbackSupportMixin:
        """Stand-in for ``sklearn.callback.CallbackSupportMixin``."""


__all__ = ["CallbackSupportMixin", "fit_task"]


@contextmanager
def fit_task(estimator, X, sample_weight):
    """Report the body of a fit as one task to the estimator's callbacks.

    Calls ``on_fit_task_begin`` before and ``on_fit_task_end`` after the body
    (the estimator is then fitted: no reconstruction attributes are needed).
    ``setup`` and ``teardown`` are called by scikit-learn's ``_fit_context``.
    """
    init = getattr(estimator, "_init_callback_context", None)
    if init is None:
        yield
        return
    context = init()
    metadata = {"sample_weight": sample_weight}
    context.call_on_fit_task_begin(estimator=estimator, X=X, metadata=metadata)
    yield
    context.call_on_fit_task_end(
        estimator=estimator, X=X, metadata=metadata, reconstruction_attributes={}
    )
