"""The fitting machinery every estimator that learns statistics shares.

An estimator here learns only mergeable statistics (:mod:`sknorm.stats`):
``fit`` forgets and computes them, ``partial_fit`` computes them on a batch and
merges them into those stored, ``sample_weight`` and sparse input are handled by
the statistics themselves. Subclasses declare which statistics they need and
turn them into fitted attributes; how they transform data is their own business
(a per-feature affine map for the column scalers, a linear map for the
embedding normalizer).

The same ``_update`` fits data that is not in memory (:mod:`sknorm.sources`):
dask arrays and DataFrames, whose partitions' statistics are computed and
merged on the cluster, and stream sources (Parquet, Arrow, polars LazyFrames,
DuckDB relations), whose batches' statistics are computed on sknorm's threads
and merged as they are read; every estimator built on this base fits them
without code of its own.
Array API input (``array_api_dispatch=True``) is reduced on its device by each
statistic's :meth:`~sknorm.stats.Statistic.from_device`; the fitted array
attributes are then moved to its namespace and device, here, for every
estimator (:mod:`sknorm._array_api`).

Each batch is validated once, with its weights, into a
:class:`~sknorm._validation.ValidatedBatch`
(:meth:`_StatisticsEstimator._validated_batch`): the statistics
(:meth:`~sknorm.stats.Statistic.from_batch`), the callback task and the rest
of the fit read its namespace, weights and finiteness checks from it, instead
of working them out again from the data.
"""

import copy
import weakref
from contextlib import contextmanager

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils.fixes import parse_version

from ._array_api import move_fitted_arrays, to_numpy
from ._callbacks import CallbackSupportMixin, fit_task
from ._dask import DaskDispatchMixin
from ._groups import resolve_groups
from ._validation import validated_batch
from .sources import as_source
from .sources._fit import fit_statistics
from .stats import Statistic

__all__ = [
    "DOCS_URL",
    "FIT_SKETCH_SAMPLE",
    "DocLinkMixin",
    "ParamsMixin",
    "_StatisticsEstimator",
    "derived_from_fit",
    "docs_version",
    "merged_estimator",
    "restored_on_error",
]

#: The published documentation; ``{version}`` is the Read the Docs version
#: of the installed release (see :func:`docs_version`).
DOCS_URL = "https://sknorm.readthedocs.io/en/{version}/"

#: Rows sampled by ``fit`` into a quantile sketch, kept beside exact quantiles
#: so that ``partial_fit`` can continue after ``fit``. The sample's rank error
#: (about ``0.9 / sqrt(32768)``, 0.5%) is twice the sketch's own; a larger
#: sample costs ``fit`` time that every fit pays (65,536 rows: a fifth of
#: RobustScaler.fit on 1e6 x 100), for the few fits that are continued.
FIT_SKETCH_SAMPLE = 1 << 15


def _statistic_class(name):
    """The statistic class called ``name`` (to rebuild a stored state)."""
    classes = list(Statistic.__subclasses__())
    while classes:
        cls = classes.pop()
        if cls.__name__ == name:
            return cls
        classes.extend(cls.__subclasses__())
    raise KeyError(name)  # pragma: no cover - states are written by this module


def merged_estimator(estimators, *, n_rows=None, weighted=False):
    """A fitted clone of ``estimators[0]`` whose statistics are the merge of
    the mergeable statistics of the fitted ``estimators`` (of one class and
    parameters, fitted on the same features): the estimator fitted on all
    their data, without a pass over it.

    Statistics that cannot be merged (exact quantiles) are left out; what an
    estimator derives from them comes from the mergeable summary it keeps
    beside them (a quantile sketch). ``n_rows`` counts the rows of all the
    data (by default the sum of ``n_samples_seen_``); ``weighted`` says
    whether any of it was weighted.
    """
    first = estimators[0]
    names = [
        name
        for name in first._statistics_state
        if _statistic_class(name).mergeable
        and all(name in e._statistics_state for e in estimators)
    ]
    # Estimators of one integer centre (the scalers of GroupedScaler's
    # groups) merge in its units, exactly, and the merge keeps it; others
    # in the data's own units, each centre added back.
    center = _shared_integer_center(estimators)
    statistics = {}
    for name in names:
        parts = [
            e._stored_statistic(name, uncentered=center is None) for e in estimators
        ]
        # Pairwise, so that rounding grows with the depth of the tree only.
        while len(parts) > 1:
            pairs = [parts[i].merge(parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
            parts = pairs + parts[len(parts) - len(parts) % 2 :]
        statistics[name] = parts[0]
    merged = clone(first)
    for attribute in ("n_features_in_", "feature_names_in_"):
        if hasattr(first, attribute):
            setattr(merged, attribute, getattr(first, attribute))
    merged._integer_center = center
    merged._statistics_state = {
        name: stat.to_state() for name, stat in statistics.items()
    }
    if n_rows is None:
        n_rows = sum(
            np.max(to_numpy(getattr(e, "n_samples_seen_", 0))) for e in estimators
        )
    merged._set_fitted_attributes(statistics, n_rows=n_rows, weighted=weighted)
    if center is not None:
        merged._uncenter_attributes(center)
    return merged


def _shared_integer_center(estimators):
    """The integer centre of every one of ``estimators``, or None where they
    have none or different ones."""
    center = getattr(estimators[0], "_integer_center", None)
    if center is None or any(
        not np.array_equal(getattr(e, "_integer_center", None), center)
        for e in estimators[1:]
    ):
        return None
    return center


#: Values derived from each estimator's fitted attributes and parameters, by
#: name: ``(snapshot of vars(estimator), value)``. Kept beside the estimators
#: (weakly), not in them, so that neither pickles, clones nor copies see them.
_derived = weakref.WeakKeyDictionary()


def _snapshot(estimator):
    # Arrays by content (an in-place change of a fitted array is seen), other
    # values by identity (held here, so an identity cannot be reused).
    return [
        (name, True, (value.dtype, value.shape, value.tobytes()))
        if type(value) is np.ndarray
        else (name, False, value)
        for name, value in vars(estimator).items()
    ]


def _same_snapshot(old, new):
    return len(old) == len(new) and all(
        a[0] == b[0] and a[1] == b[1] and (a[2] == b[2] if a[1] else a[2] is b[2])
        for a, b in zip(old, new, strict=True)
    )


def derived_from_fit(estimator, name, build):
    """``build()``, computed once for the estimator's current fitted state.

    For values that depend only on the estimator's attributes (fitted
    attributes and parameters) and cost more than a small call should pay
    (the affine map of a scaler): the value is rebuilt when any attribute
    changed since it was built: a fit, a ``partial_fit``, ``set_params``, an
    assignment, or an in-place change of an array attribute.
    """
    snapshot = _snapshot(estimator)
    values = _derived.setdefault(estimator, {})
    cached = values.get(name)
    if cached is not None and _same_snapshot(cached[0], snapshot):
        return cached[1]
    value = build()
    values[name] = (snapshot, value)
    return value


@contextmanager
def restored_on_error(estimator):
    """Undo every change to ``estimator``'s attributes if the block raises.

    For ``fit`` and ``partial_fit``: a call that refuses its input (in
    validation, or once a statistic reveals infinity) leaves the estimator
    fitted as before, or unfitted, never half-reset; scikit-learn's
    estimators validate before they learn. The attributes are restored as
    they were (the same objects), so nothing derived from them is rebuilt.
    """
    before = dict(vars(estimator))
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(before)
        raise


def docs_version(version):
    """The Read the Docs version documenting sknorm ``version``.

    ``"stable"`` (the newest release) for a release, ``"latest"`` (the main
    branch) for a development version, as scikit-learn links a development
    build to its ``dev`` documentation.
    """
    return "latest" if parse_version(version).dev is not None else "stable"


class DocLinkMixin:
    """Link the estimator's HTML representation to its API page.

    scikit-learn's HTML repr (``_repr_html_``, shown by notebooks) links each
    estimator to the page ``_get_doc_link`` returns; this gives every public
    sknorm estimator the page the docs build generates for it from
    ``docs/api.rst``: ``generated/sknorm.<ClassName>.html``. Precedes
    ``BaseEstimator`` in the bases of the estimators' shared base classes.
    """

    _doc_link_module = "sknorm"

    @property
    def _doc_link_template(self):
        from . import __version__

        base = DOCS_URL.format(version=docs_version(__version__))
        return base + "generated/sknorm.{estimator_name}.html"

    def _doc_link_url_param_generator(self):
        # Every estimator is documented under its public name, sknorm.<Name>,
        # not under the module that defines it.
        return {"estimator_name": type(self).__name__}


#: Parameter values whose validation is remembered: immutable values only, so
#: that a remembered valid set cannot have changed since it was validated.
_IMMUTABLE_PARAM_TYPES = (bool, int, float, str, type(None))
#: ``(class, parameters)`` that passed ``_validate_params``; bounded.
_valid_params = set()
_VALID_PARAMS_KEPT = 1024


def _frozen_params(params):
    """A hashable key of ``params`` (types included: ``1`` is not ``True``), or
    None when a value is not an immutable scalar or a tuple of them."""

    def frozen(value):
        if type(value) in _IMMUTABLE_PARAM_TYPES:
            return (type(value), value)
        if type(value) is tuple:
            items = tuple(frozen(item) for item in value)
            return None if None in items else (tuple, items)
        return None

    items = tuple((name, frozen(value)) for name, value in sorted(params.items()))
    return None if any(value is None for _, value in items) else items


class ParamsMixin:
    """Parameter introspection and validation at the cost of a dictionary
    look-up, for estimators fitted thousands of times on small data (a
    pipeline in a cross-validation).

    scikit-learn reads the signature of ``__init__`` on every ``get_params``
    and validates every parameter's constraints on every ``fit``; the names
    are kept per class here, and a set of immutable parameter values that
    passed validation once is not validated again (anything else always is).
    Precedes ``BaseEstimator`` in the bases of the estimators' base classes.
    """

    @classmethod
    def _get_param_names(cls):
        names = cls.__dict__.get("_param_names_of_class")
        if names is None:
            names = tuple(super()._get_param_names())
            cls._param_names_of_class = names
        return list(names)

    def _validate_params(self):
        key = _frozen_params(self.get_params(deep=False))
        if key is not None and (type(self), key) in _valid_params:
            return
        super()._validate_params()
        if key is not None:
            if len(_valid_params) >= _VALID_PARAMS_KEPT:
                _valid_params.clear()
            _valid_params.add((type(self), key))


class _StatisticsEstimator(
    DocLinkMixin,
    ParamsMixin,
    CallbackSupportMixin,
    DaskDispatchMixin,
    TransformerMixin,
    BaseEstimator,
):
    """``fit`` = reset + ``partial_fit``; ``partial_fit`` merges statistics.

    Subclasses implement :meth:`_statistic_types` and
    :meth:`_set_fitted_attributes`, and may override the hooks
    :meth:`_streaming_statistic_types`, :meth:`_validate_fit_params`,
    :meth:`_check_fit_input`, :meth:`_fit_input`, :attr:`_accept_sparse` and
    :attr:`_allow_nan`.
    """

    #: Sparse formats ``fit`` accepts (passed to :func:`validated_batch`).
    _accept_sparse = ("csr", "csc")

    #: Whether NaN may appear in the input (passed to :func:`validated_batch`).
    _allow_nan = True

    def __sklearn_tags__(self):
        # The input tags follow the attributes that govern validation.
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = self._allow_nan
        tags.input_tags.sparse = bool(self._accept_sparse)
        tags.transformer_tags.preserves_dtype = ["float64", "float32", "float16"]
        tags.array_api_support = True
        return tags

    def _statistic_types(self):  # pragma: no cover - abstract
        """Statistics ``fit`` computes: classes, or ``(class, from_data kwargs)``."""
        raise NotImplementedError

    def _streaming_statistic_types(self):
        """Statistics ``partial_fit`` computes and merges; by default the same.

        An estimator whose exact statistic cannot be merged (quantiles) may
        stream a mergeable summary instead.
        """
        return self._statistic_types()

    def _set_fitted_attributes(self, statistics, n_rows, weighted):  # pragma: no cover
        """Set the public fitted attributes; ``n_rows`` counts all rows seen."""
        raise NotImplementedError

    def _has_groups(self):
        return getattr(self, "feature_groups", None) is not None

    def _pooling_groups(self, n_features):
        """The groups of columns whose statistics are pooled
        (``feature_groups``, resolved against the fitted features), or None."""
        if not self._has_groups():
            return None
        return resolve_groups(
            self.feature_groups,
            n_features,
            getattr(self, "feature_names_in_", None),
            f"{type(self).__name__} feature_groups",
        )

    def _kept_weight(self):
        """Share of the learned weight kept when ``partial_fit`` merges a batch.

        ``1 - decay`` for estimators with a ``decay`` parameter (their
        statistics are :meth:`~sknorm.stats.Statistic.reweighted` by it before
        the batch is merged), 1 for the others; ``fit`` forgets everything.
        """
        return 1.0 - getattr(self, "decay", 0.0)

    def _validate_fit_params(self):
        """Hook for checks of parameter combinations (single values are
        validated by ``_parameter_constraints``)."""

    def _check_fit_input(self, X):
        """Hook for estimator-specific checks of validated fit input (the
        data of a batch, or the metadata of a dask collection)."""

    def _fit_input(self, batch):
        """Hook: the validated batch (:class:`~sknorm._validation.ValidatedBatch`)
        as the statistics see it.

        ``batch`` itself by default; an estimator that transforms its input
        before the fitted map (the row normalization of
        :class:`~sknorm.EmbeddingNormalizer`'s ``input_norm``) returns a batch
        of the transformed copy (:meth:`~sknorm._validation.ValidatedBatch.replaced`).
        Every fit path (``fit``, ``partial_fit``, each partition of a dask
        fit) goes through :meth:`_validated_batch`, so through here.
        """
        return batch

    def _reset(self):
        """Forget everything learned by earlier calls to fit/partial_fit."""
        for name in [a for a in vars(self) if a.endswith("_") and a[0] != "_"]:
            delattr(self, name)
        self.__dict__.pop("_statistics_state", None)
        self.__dict__.pop("_integer_center", None)

    #: Statistics only the fit that computes them uses (they derive its
    #: fitted attributes): not kept in the fitted state. An estimator whose
    #: ``partial_fit`` continues from a summary kept beside them (a sketch)
    #: and that never rebuilds its attributes from them lists them here.
    _transient_statistics = ()

    #: Fitted attributes that are locations in the data's units (a mean, a
    #: median, extrema): the ones :meth:`_uncenter_attributes` moves from the
    #: integer centre back to the data's origin.
    _location_attributes = ()

    def _centers_integers(self):
        """Whether a first fit validates 64-bit integer columns beyond
        ``2**53`` relative to an exact integer centre (see
        :func:`~sknorm._validation.check_input`'s ``center_integers``).

        The statistics of such columns are then computed on exact
        differences, stored in centered units (later batches, ``transform``
        and ``inverse_transform`` reuse the centre), and the public fitted
        attributes are brought back to the data's units
        (:meth:`_uncenter_attributes`). Estimators whose map depends on where
        the data lie (a centering offset) opt in.
        """
        return False

    def _uncenter_attributes(self, center):
        """Move the :attr:`_location_attributes`, computed relative to the
        integer ``center``, to the data's units: each rounded once (the
        centre is an exact float64 integer); features of zero centre are
        left bit for bit."""
        moved = center != 0
        for name in self._location_attributes:
            value = getattr(self, name, None)
            if value is not None:
                setattr(self, name, np.where(moved, value + center, value))

    def _stored_statistic(self, name, *, uncentered=False):
        """The stored statistic ``name``: in centered units (as stored), or
        with ``uncentered`` in the data's own units."""
        statistic = _statistic_class(name).from_state(self._statistics_state[name])
        center = getattr(self, "_integer_center", None)
        if uncentered and center is not None:
            statistic = statistic.shifted(center)
        return statistic

    def _centered_view(self):
        """``(view, center)``: a copy of the fitted estimator whose fitted
        attributes are relative to its integer centre (the units of the
        stored statistics and of data validated with ``center_integers``),
        and that centre; ``(self, None)`` without one."""
        center = getattr(self, "_integer_center", None)
        if center is None:
            return self, None
        view = copy.copy(self)
        statistics = {
            name: self._stored_statistic(name) for name in self._statistics_state
        }
        view._set_fitted_attributes(
            statistics, n_rows=getattr(self, "n_samples_seen_", 0), weighted=True
        )
        return view, center

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Learn the statistics of X (forgetting earlier fits).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data; also a dask array or DataFrame, fitted on the
            cluster in one pass of mergeable statistics (see
            ``dask_quantiles`` for estimators that learn quantiles).
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples. Integer weights are equivalent
            to repeating rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._update(X, sample_weight, streaming=False, reset=True)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the statistics with a batch of samples.

        The statistics of ``X`` are merged exactly into those already learned, so
        a sequence of ``partial_fit`` calls over chunks equals one ``fit`` over
        all of them. Estimators with a ``decay`` parameter first multiply the
        weight of what they learned by ``1 - decay``: the sequence then equals
        one weighted ``fit`` where a row seen ``j`` batches ago weighs ``(1 -
        decay) ** j`` times its weight.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            A batch of training data; also a dask array or DataFrame, whose
            partitions' statistics are merged on the cluster.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        return self._update(X, sample_weight, streaming=True)

    def _update(self, X, sample_weight, streaming, reset=False):
        """Compute the statistics of X and merge them into those stored
        (``reset``: forget them first, as ``fit``).

        One callback task (see :mod:`sknorm._callbacks`), begun once X is
        validated: its subtasks are the units of work of the statistics, or
        the partitions of a dask X (see :func:`sknorm._dask.fit_statistics`).
        A call that raises (input refused by validation, a statistic's
        check) leaves the estimator as it was: fitted as before, or not
        fitted, never half-reset.
        """
        task_name = "partial_fit" if streaming else "fit"
        with restored_on_error(self):
            if reset:
                self._reset()
            with fit_task(self, task_name, {"sample_weight": sample_weight}) as task:
                self._update_in_task(X, sample_weight, streaming, task)
        return self

    def _update_in_task(self, X, sample_weight, streaming, task):
        first_call = not hasattr(self, "_statistics_state")
        self._validate_fit_params()
        source = as_source(X, sample_weight)
        specs = self._specs(streaming or source is not None)
        if source is not None and not streaming and source.wants_exact(self):
            # Statistics that cannot be merged (exact quantiles) take extra
            # passes over the source (see sknorm.sources._fit).
            specs += [spec for spec in self._specs(False) if not spec[0].mergeable]
        if not first_call:
            self._check_continuable([cls.__name__ for cls, _ in specs])
        if source is not None:
            if any(not cls.mergeable for cls, _ in specs) and self._has_groups():
                raise ValueError(
                    f"{type(self).__name__}: feature_groups needs the data in "
                    "memory for exact quantiles: use dask_quantiles='sketch' "
                    "(pooled sketches) on dask, sknorm.scan(..., "
                    "exact=False) on a stream, or fit a numpy array."
                )
            source.check_numeric()
            # Relative to the integer centre: that of the whole data, chosen
            # first (first call), or the one stored.
            statistics, n_new_rows = fit_statistics(
                self,
                source,
                specs,
                reset=first_call,
                task=task,
                exact=not streaming and source.wants_exact(self),
            )
            namespace = None  # sources (dask included) are read as numpy
        else:
            batch = self._validated_batch(
                X,
                sample_weight,
                reset=first_call,
                center_integers=self._centers_integers() if first_call else True,
            )
            specs = self._sized_specs(specs, batch.n_positive)
            units = 0
            if task.has_callbacks:
                units = sum(
                    cls.work_units(batch.data, batch.sample_weight, **kw)
                    for cls, kw in specs
                )
            task.begin(batch, max_subtasks=units)
            with task.reporting_units():
                statistics = self._computed_statistics(
                    batch, specs, self._pooling_groups(batch.n_features)
                )
            n_new_rows = batch.n_rows
            namespace = batch.namespace
        # What was learned keeps this share of its weight (decay).
        kept = 1.0 if first_call else self._kept_weight()
        if not first_call:
            for name, new in statistics.items():
                old = _statistic_class(name).from_state(self._statistics_state[name])
                if kept != 1.0:
                    old = old.reweighted(kept)
                statistics[name] = old.merge(new)
        self._statistics_state = {
            name: stat.to_state()
            for name, stat in statistics.items()
            if name not in self._transient_statistics
        }
        seen = to_numpy(getattr(self, "n_samples_seen_", 0))
        groups = self._pooling_groups(self.n_features_in_)
        if groups is not None:
            # Stored per column (merged exactly by later batches), pooled
            # for the fitted attributes; statistics that cannot be merged were
            # pooled from the data.
            statistics = {
                name: stat.pooled(groups) if stat.mergeable else stat
                for name, stat in statistics.items()
            }
        self._set_fitted_attributes(
            statistics,
            n_rows=(seen * kept if kept != 1.0 else seen) + n_new_rows,
            weighted=sample_weight is not None or self._kept_weight() != 1.0,
        )
        if hasattr(self, "dask_quantiles"):
            # Estimators that learn quantiles say which they kept.
            exact = any(not _statistic_class(n).mergeable for n in statistics)
            self.quantile_method_ = "exact" if exact else "sketch"
        center = getattr(self, "_integer_center", None)
        if center is not None:
            self._uncenter_attributes(center)
        if namespace is not None:
            move_fitted_arrays(self, namespace)
        return self

    def _batch_statistics(
        self, X, sample_weight, specs, *, reset, center_integers=False
    ):
        """Validate a batch and compute its statistics ``specs``.

        Returns ``(statistics, n_rows)``. The one path from data to statistics:
        ``fit`` and ``partial_fit`` run it on in-memory input (in two steps,
        :meth:`_validated_batch` then :meth:`_computed_statistics`, so that
        their callback task begins on validated input), a dask fit on each
        partition (on the workers, with ``reset=True`` on a copy of the
        estimator, and ``center_integers`` the integer centre of the whole
        collection or the partition's own, see
        :func:`~sknorm._dask.block_center`).
        """
        batch = self._validated_batch(
            X, sample_weight, reset=reset, center_integers=center_integers
        )
        return self._computed_statistics(batch, specs), batch.n_rows

    def _computed_statistics(self, batch, specs, groups=None):
        """The statistics ``specs`` of a validated batch, infinity rejected.

        With ``groups``, statistics that cannot be merged are computed pooled
        (:meth:`~sknorm.stats.Statistic.from_pooled_data`); the others are
        pooled from their per-column state once merged.
        """
        # A statistic that reveals infinity (it reads every row, and an infinite
        # value makes its column's result non-finite) spares the fit a read of
        # all the data: only the columns it flags are inspected. (A zero weight
        # would hide an infinite value from it.)
        revealing = []
        if not batch.finite_checked and batch.n_positive == batch.n_rows:
            revealing = [cls.__name__ for cls, _ in specs if cls.reveals_infinity]
        if not revealing and not batch.finite_checked:
            batch.check_finite(self)
        statistics = {}
        for cls, options in specs:
            if groups is not None and not cls.mergeable:
                stat = cls.from_pooled_data(
                    batch.host(), batch.sample_weight, groups, **options
                )
            else:
                stat = cls.from_batch(batch, **options)
            statistics[cls.__name__] = stat
        if revealing:
            suspect = np.zeros(batch.n_features, dtype=bool)
            for name in revealing:
                suspect |= statistics[name].nonfinite_columns()
            if suspect.any():
                batch.check_finite(self, columns=np.flatnonzero(suspect))
        return statistics

    def _validated_batch(self, X, sample_weight, *, reset, center_integers=False):
        """The :class:`~sknorm._validation.ValidatedBatch` of X and its weights
        as the statistics see it (:meth:`_check_fit_input` and
        :meth:`_fit_input` applied), infinity not checked yet; relative to
        the integer centre with ``center_integers`` (see
        :meth:`_centers_integers`)."""
        batch = validated_batch(
            self,
            X,
            sample_weight,
            reset=reset,
            accept_sparse=self._accept_sparse,
            allow_nan=self._allow_nan,
            reject_infinity=False,
            center_integers=center_integers,
        )
        self._check_fit_input(batch.data)
        return self._fit_input(batch)

    def _checked_batch(self, X, sample_weight, *, reset, center_integers=False):
        """Validated ``(X, weight)`` of a batch (:meth:`_validated_batch`'s
        data and weights), infinity not checked yet."""
        batch = self._validated_batch(
            X, sample_weight, reset=reset, center_integers=center_integers
        )
        return batch.data, batch.sample_weight

    def _specs(self, mergeable):
        """``(class, from_data kwargs)`` of the statistics to compute.

        Those of ``partial_fit`` when ``mergeable`` (they are merged with
        statistics of other data: stored ones, or other partitions of a dask
        collection), those of ``fit`` otherwise.
        """
        if mergeable:
            types = self._streaming_statistic_types()
        else:
            types = self._statistic_types()
        return [t if isinstance(t, tuple) else (t, {}) for t in types]

    def _sized_specs(self, specs, n_rows):
        """Hook: the ``specs`` of a batch of ``n_rows`` rows of positive weight
        (all the rows of a dask collection), for statistics whose options
        depend on the number of rows (QuantileTransformer's levels); ``specs``
        by default."""
        return specs

    def _exact_on_dask(self):
        """Whether ``fit`` on a dask collection computes the statistics that
        cannot be merged (exact quantiles) too, in extra passes over the data.

        Estimators that learn quantiles choose with their ``dask_quantiles``
        parameter; by default a dask fit computes mergeable statistics only,
        in one pass, as ``partial_fit`` does.
        """
        return getattr(self, "dask_quantiles", "sketch") == "exact"

    def _exact_by_passes(self):
        """Whether the statistics that cannot be merged can be computed
        exactly in further passes over a source (see
        :meth:`sknorm.sources.Source.wants_exact`): exact quantiles can;
        estimators whose statistic depends on another first (a median
        absolute deviation) say no, and a source fit then keeps their
        sketch."""
        return True

    def _refined_by_passes(self, statistics, run_pass):
        """Hook: the ``statistics`` of a ``fit`` on a source that can be read
        again (their mergeable summaries, and exact quantiles), refined in
        further passes over it: ``run_pass(function, *args)`` returns the
        merged fields of ``function(estimator, X, weight, *args)`` over the
        validated blocks (each returns a dict of statistics, arrays added
        across blocks, or tuples of arrays concatenated). ``statistics`` as
        they are by default."""
        return statistics

    def _check_continuable(self, needed):
        """partial_fit must find every statistic it updates among those stored.

        Stored statistics it does not need are dropped (e.g. exact quantiles
        superseded by a sketch that ``fit`` also kept).
        """
        missing = sorted(set(needed) - set(self._statistics_state))
        if missing:
            name = type(self).__name__
            raise ValueError(
                f"{name}.partial_fit cannot update this fitted estimator: it needs "
                f"{', '.join(missing)} of the data seen so far, which was not "
                "computed (a parameter such as clip changed since). Continuing "
                "would silently forget that data: call fit on all the data, or "
                "partial_fit on every batch with the new parameters."
            )
