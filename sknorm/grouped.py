"""Per-group scaling: a column scaler whose statistics are learned per value
of a group column of X.

:class:`GroupedScaler` keeps one fitted sknorm column scaler per group, and
the scaler of all groups together, whose statistics are the merge of the
groups' statistics (:func:`~sknorm._estimator.merged_estimator`): mergeable
statistics make the fallback for unseen and small groups free of a second
pass over the data, and ``partial_fit`` continue every group exactly.
"""

import copy
from numbers import Integral, Number

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context, clone
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils._set_output import _get_output_config
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import (
    _check_feature_names,
    _check_feature_names_in,
    _check_n_features,
    _check_sample_weight,
    check_is_fitted,
)

from ._callbacks import CallbackSupportMixin, fit_task
from ._dask import DaskDispatchMixin, blockwise_on_dask, is_dask_collection
from ._estimator import (
    DocLinkMixin,
    ParamsMixin,
    _statistic_class,
    derived_from_fit,
    merged_estimator,
    restored_on_error,
)
from ._validation import (
    _raise_infinity,
    check_input,
    check_sample_weight,
    feature_names_of,
    is_sparse,
)
from .scalers import StandardScaler
from .scalers._base import _ColumnScaler
from .sources import as_source
from .sources._fit import OWN_CENTER, block_center, has_wide_integers

__all__ = ["GroupedScaler"]


def _frame_library(X):
    """``"pandas"`` or ``"polars"`` for a DataFrame of either, else None."""
    module = type(X).__module__.split(".")[0]
    if module in ("pandas", "polars") and hasattr(X, "columns"):
        return module
    return None


def _describe(values, limit=10):
    shown = ", ".join(repr(v) for v in values[:limit])
    if len(values) > limit:
        shown += f", ... ({len(values) - limit} more)"
    return shown


def _plain(values):
    """Group values as plain Python/numpy scalars (numpy scalars unwrapped)."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _absorb_statistics(scaler, statistics, n_rows, weighted, center):
    """Merge ``statistics`` of ``n_rows`` new rows into ``scaler`` (a sknorm
    ``_StatisticsEstimator``), as its ``partial_fit`` does with a batch's;
    both relative to the integer ``center`` (see :func:`_fit_relative`)."""
    stored = getattr(scaler, "_statistics_state", None)
    if stored is not None:
        scaler._check_continuable(list(statistics))
        statistics = {
            name: _statistic_class(name).from_state(stored[name]).merge(new)
            for name, new in statistics.items()
        }
    scaler._statistics_state = {
        name: stat.to_state() for name, stat in statistics.items()
    }
    seen = np.max(np.asarray(getattr(scaler, "n_samples_seen_", 0)))
    scaler._set_fitted_attributes(
        statistics, n_rows=int(seen) + n_rows, weighted=weighted
    )
    _keep_center(scaler, center)


def _fit_relative(scaler, method, rows, weight, center):
    """A group's ``scaler``'s ``method`` (``fit`` or ``partial_fit``) on
    rows relative to the integer ``center`` of the GroupedScaler (None:
    none).

    The scaler learns in the units of the rows, those of every group (so
    that their statistics merge exactly into the all-groups statistics),
    and keeps the centre, with its attributes in the data's units: as the
    scaler fitted alone on the group's data with that centre.
    """
    scaler._integer_center = None  # the rows are relative to it already
    getattr(scaler, method)(rows, sample_weight=weight)
    _keep_center(scaler, center)


def _keep_center(scaler, center):
    """Record ``center`` as the integer centre of ``scaler``, fitted relative
    to it, and bring its attributes to the data's units."""
    scaler._integer_center = center
    if center is not None:
        scaler._uncenter_attributes(center)


def _relative_scaler(scaler):
    """A copy of the fitted ``scaler`` that maps data relative to its integer
    centre: its attributes in those units, no centre of its own."""
    view, center = scaler._centered_view()
    if center is not None:
        view._integer_center = None
    return view


def _block_group_statistics(estimator, block, weight, center):
    """Fields of one (non-empty) block of a dask fit: the mergeable
    statistics of each group's rows, ``("stat", group, name)``, relative to
    the integer ``center`` of the features (see
    :func:`~sknorm.sources._fit.block_center`: the block's own, on a first fit,
    with its fields), and its rows of positive weight, ``("rows", group)``."""
    position = estimator._group_position(block, block.shape[1], True)
    keep = np.delete(np.arange(block.shape[1]), position)
    features_only = block.iloc[:, keep] if hasattr(block, "iloc") else block[:, keep]
    center_integers, fields = block_center(features_only, center)
    groups, features, _ = estimator._split(
        block, reset=True, center_integers=center_integers
    )
    base = estimator._base_scaler()
    if weight is not None:
        # Validated per partition: one may weigh all its rows zero.
        weight = _check_sample_weight(
            np.asarray(weight), features, dtype=np.float64, ensure_non_negative=True
        )
        kept = np.flatnonzero(weight > 0)
        groups, features, weight = groups[kept], features[kept], weight[kept]
    if not len(groups):
        return fields, block.shape[0]
    batch_groups, codes = np.unique(groups, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(batch_groups) + 1))
    specs = base._specs(True)
    for i, group in enumerate(_plain(batch_groups)):
        rows = order[bounds[i] : bounds[i + 1]]
        statistics, _ = clone(base)._batch_statistics(
            features[rows], None if weight is None else weight[rows], specs, reset=True
        )
        for name, statistic in statistics.items():
            fields[("stat", group, name)] = statistic
        fields[("rows", group)] = len(rows)
    return fields, block.shape[0]


class GroupedScaler(
    DocLinkMixin,
    ParamsMixin,
    CallbackSupportMixin,
    DaskDispatchMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Scale features with statistics learned per value of a group column.

    Each group (each distinct value of the column ``group_column`` of X) gets
    its own fitted copy of ``scaler``, fitted on the group's rows; a row is
    transformed by the scaler of its group. The scaler of all groups
    together, ``all_groups_scaler_``, is the merge of the groups' mergeable
    statistics (no second pass over the data); it scales the rows of groups
    unseen in fit (``handle_unknown="all_groups"``) and of small groups
    (``min_group_size``).

    Parameters
    ----------
    scaler : sknorm column scaler, default=None
        The scaler fitted per group: :class:`StandardScaler` (None),
        :class:`MinMaxScaler`, :class:`MaxAbsScaler` or
        :class:`RobustScaler`, with any parameters. Other estimators are
        rejected (TypeError): the fallback needs mergeable statistics. For
        :class:`RobustScaler`, the all-groups quantiles come from the merged
        quantile sketches that ``fit`` keeps beside its exact quantiles, so
        they carry the sketch's rank error (below 1%, see its Notes); the
        per-group quantiles are exact.
    group_column : str or int, default=0
        The group column: a column name of a pandas or polars DataFrame, or
        a column position (negative counts from the end) of any input
        (DataFrame, array, CSR/CSC matrix). Its values may be numbers or
        strings; missing values (NaN, None) are rejected.
    keep_group_column : bool, default=False
        Whether the output holds the group column, unchanged, at its position
        (needed by ``inverse_transform``). Array and sparse output need
        numeric group values; pandas and polars output
        (``set_output(transform=...)``) keep any.
    handle_unknown : {"all_groups", "error"}, default="all_groups"
        What transform does with the rows of a group unseen in fit:
        ``"all_groups"`` scales them with the statistics of all groups,
        ``"error"`` raises a ValueError naming the unseen groups.
    min_group_size : int, default=2
        A group seen with fewer rows than this (counted over every ``fit``
        and ``partial_fit`` call since the last ``fit``, each row of positive
        weight once, whatever its weight) is scaled with the statistics of
        all groups. Decided at transform time, so ``partial_fit`` can bring
        a group to the size where its own statistics are used. Its rows
        always count in the all-groups statistics.

    Attributes
    ----------
    groups_ : ndarray of shape (n_groups,)
        The groups seen in fit, sorted.
    scalers_ : list of estimators
        The fitted scaler of each group, in the order of ``groups_``.
    group_counts_ : ndarray of shape (n_groups,)
        The rows of positive weight seen per group.
    all_groups_scaler_ : estimator
        The scaler of all groups: the merge of the statistics of
        ``scalers_``.
    n_features_in_ : int
        Number of columns seen during fit, the group column included.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when X was a DataFrame with string column names.

    See Also
    --------
    StandardScaler : The default per-group scaler.

    Notes
    -----
    ``sample_weight`` is split with the rows: each group's scaler is fitted
    on its rows and their weights. Rows of zero weight are left out (a zero
    weight removes a row); a group all of whose rows have zero weight is not
    seen. NaN in the features is handled by the per-group scalers (ignored
    by fit, kept by transform).

    ``fit`` on a dask array or DataFrame computes each partition's
    statistics per group and merges them on the cluster across partitions
    (one pass; the mergeable statistics of ``partial_fit``, so
    :class:`RobustScaler` groups get sketched quantiles there);
    ``transform`` and ``inverse_transform`` of dask input are lazy.

    64-bit integer features beyond ``2**53`` (nanosecond timestamps, 64-bit
    ids) are scaled exactly, as by the scalers alone: relative to one exact
    integer centre per feature, chosen at the first fit from all the rows
    and shared by the groups' scalers (whose statistics then merge exactly
    into the all-groups statistics). The group column is never converted.

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm import GroupedScaler
    >>> X = np.array([[0, 1.0], [0, 3.0], [1, 10.0], [1, 30.0]])
    >>> scaler = GroupedScaler().fit(X)
    >>> scaler.groups_
    array([0., 1.])
    >>> scaler.transform(X)
    array([[-1.],
           [ 1.],
           [-1.],
           [ 1.]])

    Rows of a group unseen in fit get the statistics of all groups:

    >>> scaler.all_groups_scaler_.mean_
    array([11.])
    >>> scaler.transform([[2, 11.0]])
    array([[0.]])
    """

    _parameter_constraints: dict = {
        "scaler": [None, HasMethods(["fit", "partial_fit", "transform"])],
        "group_column": [str, Interval(Integral, None, None, closed="neither")],
        "keep_group_column": ["boolean"],
        "handle_unknown": [StrOptions({"all_groups", "error"})],
        "min_group_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        scaler=None,
        *,
        group_column=0,
        keep_group_column=False,
        handle_unknown="all_groups",
        min_group_size=2,
    ):
        self.scaler = scaler
        self.group_column = group_column
        self.keep_group_column = keep_group_column
        self.handle_unknown = handle_unknown
        self.min_group_size = min_group_size

    #: NaN in the features is the per-group scalers' business (see
    #: sknorm._validation's messages).
    _allow_nan = True

    def _base_scaler(self):
        """The scaler to clone per group, checked."""
        if self.scaler is None:
            return StandardScaler()
        if not isinstance(self.scaler, _ColumnScaler):
            raise TypeError(
                "GroupedScaler needs a sknorm column scaler (StandardScaler, "
                "MinMaxScaler, MaxAbsScaler or RobustScaler), whose mergeable "
                "statistics give the statistics of all groups; got "
                f"{type(self.scaler).__module__}.{type(self.scaler).__name__}."
            )
        return self.scaler

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        try:
            inner = get_tags(self._base_scaler())
        except TypeError:  # an invalid scaler: rejected by fit
            return tags
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.transformer_tags.preserves_dtype = list(
            inner.transformer_tags.preserves_dtype
        )
        return tags

    # ------------------------------------------------------------------
    # Input: the group column and the features
    # ------------------------------------------------------------------

    def _group_position(self, X, n_columns, reset):
        column = self.group_column
        if isinstance(column, str):
            if reset:
                names = list(X.columns) if _frame_library(X) else None
            else:
                names = getattr(self, "feature_names_in_", None)
                if names is None and _frame_library(X):
                    names = list(X.columns)
                names = None if names is None else list(names)
            if names is None:
                raise ValueError(
                    f"group_column={column!r} names a column, but X has no "
                    "column names (it is not a DataFrame): pass the column's "
                    "position instead."
                )
            if column not in names:
                raise ValueError(
                    f"group_column={column!r} is not a column of X; its columns "
                    f"are {_describe([str(n) for n in names])}."
                )
            return names.index(column)
        if not -n_columns <= column < n_columns:
            raise ValueError(
                f"group_column={column} is out of range for X of {n_columns} column(s)."
            )
        return column % n_columns

    def _split(
        self, X, *, reset, method="fit", check_groups=True, center_integers=False
    ):
        """``(groups, features, position)``: the group values of X's rows, the
        other columns validated (a float array or CSR/CSC matrix; relative
        to the integer centre with ``center_integers``, see
        :func:`~sknorm._validation.check_input`) and the group column's
        position."""
        if is_dask_collection(X):
            raise NotImplementedError(
                f"GroupedScaler.{method} does not take dask collections; "
                "compute X (or a partition of it) into memory first."
            )
        library = _frame_library(X)
        if library is None and not is_sparse(X):
            from sklearn.utils import check_array

            X = check_array(
                X,
                dtype=None,
                ensure_all_finite=False,
                estimator=self,
                input_name="X",
            )
        elif is_sparse(X) and X.format not in ("csr", "csc"):
            X = X.tocsr()
        if method != "inverse_transform" or feature_names_of(X) is not None:
            # (inverse_transform takes arrays without names, see check_input)
            _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        n_columns = X.shape[1]
        position = self._group_position(X, n_columns, reset)
        if n_columns < 2:
            raise ValueError(
                f"GroupedScaler needs features besides the group column: X has "
                f"{n_columns} feature(s)."
            )
        keep = np.delete(np.arange(n_columns), position)
        if library == "pandas":
            groups = X.iloc[:, position].to_numpy()
            features = X.iloc[:, keep]
        elif library == "polars":
            groups = X.to_series(position).to_numpy()
            features = X.select([X.columns[i] for i in keep])
        elif is_sparse(X):
            groups = X[:, [position]].toarray().ravel()
            features = X[:, keep]
        else:
            groups = X[:, position]
            features = X[:, keep]
        if groups.dtype.kind not in "biuf":
            groups = groups.astype(object)
        missing = pd.isna(groups)
        if check_groups and missing.any():
            raise ValueError(
                f"The group column ({self._group_label(position)}) holds missing "
                f"values (NaN or None) in {int(missing.sum())} row(s), e.g. row "
                f"{int(np.flatnonzero(missing)[0])}: every row needs a group. "
                "Fill them (for example with a group of their own) first."
            )
        base = self._base_scaler()
        features = check_input(
            self,
            features,
            reset=reset,
            accept_sparse=base._accept_sparse,
            check_features=False,
            reject_infinity=False,
            center_integers=center_integers,
        )
        self._reject_infinity(features, keep)
        return groups, features, position

    def _dask_metadata_sample(self, X):
        """The one-row stand-in for dask X whose transform gives the output's
        width and dtype (see :func:`sknorm._dask.map_blockwise`): in a group
        seen in fit, so that ``handle_unknown="error"`` does not refuse it."""
        from ._dask import metadata_sample

        sample = metadata_sample(X)
        position = self._group_index
        if _frame_library(sample) == "pandas":
            sample = sample.astype({sample.columns[position]: object})
            sample.iloc[0, position] = self.groups_[0]
        else:
            group = self.groups_[0]
            if sample.dtype.kind not in "biuf" or sample.dtype.type(group) != group:
                # The group does not fit X's dtype: the output's dtype is
                # that of X's float features all the same.
                sample = sample.astype(object)
            sample[0, position] = group
        return sample

    def _group_label(self, position):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            return repr(str(names[position]))
        return f"column {position}"

    def _reject_infinity(self, features, keep):
        """Infinity in the features, named by their columns in X."""
        data = features.data if is_sparse(features) else features
        with np.errstate(over="ignore", invalid="ignore"):
            total = data.sum() if data.size else 0.0
        if np.isfinite(total):
            return
        if is_sparse(features):
            bad = np.isinf(features.data)
            if not bad.any():
                return
            if features.format == "csr":
                columns = features.indices[bad]
            else:
                columns = np.repeat(
                    np.arange(features.shape[1]), np.diff(features.indptr)
                )[bad]
            columns = np.unique(columns)
        else:
            columns = np.flatnonzero(np.isinf(features).any(axis=0))
            if not columns.size:
                return
        _raise_infinity(keep[columns], self)

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _reset(self):
        for name in [a for a in vars(self) if a.endswith("_") and a[0] != "_"]:
            delattr(self, name)
        self.__dict__.pop("_weighted", None)
        self.__dict__.pop("_group_index", None)
        self.__dict__.pop("_integer_center", None)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit a scaler per group of X (forgetting earlier fits).

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data, the group column included.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, split with the rows.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with restored_on_error(self):
            self._reset()
            return self._update(X, sample_weight, streaming=False)

    @_fit_context(prefer_skip_nested_validation=False)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the scalers of the groups of a batch of samples.

        The scaler of each group seen before is updated with its rows
        (``partial_fit``); a new group gets a new scaler. The all-groups
        statistics are merged again from the groups'.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            A batch of training data, the group column included.
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        with restored_on_error(self):
            return self._update(X, sample_weight, streaming=True)

    def _update(self, X, sample_weight, streaming):
        task_name = "partial_fit" if streaming else "fit"
        with fit_task(self, task_name, {"sample_weight": sample_weight}) as task:
            source = as_source(X, sample_weight)
            if source is not None:
                self._update_on_source(source, sample_weight, task)
                return self
            base = self._base_scaler()
            first_call = not hasattr(self, "scalers_")
            # The features' integer centre is chosen at the first fit (if the
            # scaler centres integers) and kept by later ones.
            groups, features, position = self._split(
                X,
                reset=first_call,
                center_integers=base._centers_integers() if first_call else True,
            )
            center = getattr(self, "_integer_center", None)
            if not first_call and position != self._group_index:
                raise ValueError(  # pragma: no cover - the names fix the position
                    "The group column moved since the first fit."
                )
            weight = check_sample_weight(sample_weight, features)
            task.begin(features)
            if weight is not None:
                # A zero weight removes a row (and a group of such rows).
                kept = np.flatnonzero(weight > 0)
                groups, features, weight = groups[kept], features[kept], weight[kept]
            try:
                batch_groups, codes = np.unique(groups, return_inverse=True)
            except TypeError as error:
                raise TypeError(
                    "The values of the group column cannot be sorted (mixed "
                    f"types?): {error}"
                ) from error
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(batch_groups) + 1))
            known = self._known_groups()
            for i, group in enumerate(_plain(batch_groups)):
                rows = order[bounds[i] : bounds[i + 1]]
                rows_weight = None if weight is None else weight[rows]
                if group in known:
                    # On a copy: a batch that fails leaves the fit unchanged.
                    scaler, count = known[group]
                    scaler = copy.deepcopy(scaler)
                    method = "partial_fit"
                else:
                    scaler = clone(base).set_output(transform="default")
                    method = "partial_fit" if streaming else "fit"
                    count = 0
                _fit_relative(scaler, method, features[rows], rows_weight, center)
                known[group] = (scaler, count + len(rows))
            self._store_groups(known, position, weight is not None)
        return self

    def _known_groups(self):
        """``{group: (scaler, rows)}`` of the groups fitted so far."""
        if not hasattr(self, "scalers_"):
            return {}
        return {
            g: (s, c)
            for g, s, c in zip(
                _plain(self.groups_), self.scalers_, self.group_counts_, strict=True
            )
        }

    def _store_groups(self, known, position, weighted):
        """Set the fitted attributes from ``{group: (scaler, rows)}``."""
        try:
            names = sorted(known)
        except TypeError as error:
            raise TypeError(
                "The values of the group column cannot be sorted (mixed "
                f"types?): {error}"
            ) from error
        if all(isinstance(g, bool | int | float) for g in names):
            all_groups = np.array(names)
        else:
            all_groups = np.empty(len(names), dtype=object)
            all_groups[:] = names
        self.groups_ = all_groups
        self.scalers_ = [known[g][0] for g in names]
        self.group_counts_ = np.array([known[g][1] for g in names], dtype=np.int64)
        self._group_index = position
        self._weighted = bool(getattr(self, "_weighted", False)) or weighted
        self.all_groups_scaler_ = merged_estimator(
            self.scalers_,
            n_rows=int(self.group_counts_.sum()),
            weighted=self._weighted,
        )

    def _update_on_source(self, source, sample_weight, task):
        """Fit on data read in blocks (a dask collection, a stream source, see
        :mod:`sknorm.sources`): each block's statistics per group, merged
        across blocks (a group's statistics merge where several blocks hold
        it), then into the groups' scalers.

        The per-group statistics are the mergeable ones (those of
        ``partial_fit``: for quantiles, a sketch), in one pass over the data.
        """
        base = self._base_scaler()
        first_call = not hasattr(self, "scalers_")
        # Names, feature count and the group column, checked on the metadata.
        metadata = source.metadata_sample()
        _, sample, position = self._split(
            metadata, reset=first_call, check_groups=False
        )
        base._check_fit_input(sample)
        if hasattr(source, "as_frames"):
            # The group column, of any type, is read with the features.
            source.check_numeric(allowed=(str(metadata.columns[position]),))
            source = source.as_frames()
        block_estimator = clone(self)
        block_estimator.__dict__.pop("_skl_callbacks", None)
        # A first fit chooses the features' integer centre (the group column
        # left out): each block its own, the merge the whole data's, as the
        # in-memory fit would.
        choose = (
            first_call
            and base._centers_integers()
            and has_wide_integers(metadata, dropped=position)
        )
        center = OWN_CENTER if choose else getattr(self, "_integer_center", None)
        task.begin(source.data, max_subtasks=source.n_blocks())
        fields, n_rows = source.reduce(
            _block_group_statistics,
            block_estimator,
            center,
            task=task,
            n_features=sample.shape[1] if choose else None,
        )
        fields.pop("integer_ranges", None)
        if first_call:
            self._integer_center = fields.pop("center", None)
        center = getattr(self, "_integer_center", None)
        if not n_rows:
            raise ValueError(
                "Found array with 0 sample(s) while a minimum of 1 is required "
                "by GroupedScaler."
            )
        known = self._known_groups()
        per_group = {}
        for (kind, group, *name), value in fields.items():
            entry = per_group.setdefault(group, [{}, 0])
            if kind == "rows":
                entry[1] += int(value)
            else:
                entry[0][name[0]] = value
        weighted = sample_weight is not None
        for group, (statistics, rows) in per_group.items():
            if group in known:
                scaler, count = known[group]
            else:
                scaler = clone(base).set_output(transform="default")
                scaler.n_features_in_ = sample.shape[1]
                count = 0
            _absorb_statistics(scaler, statistics, rows, weighted, center)
            known[group] = (scaler, count + rows)
        if not known:
            raise ValueError(
                "Sample weights must contain at least one non-zero number."
            )
        self._store_groups(known, position, weighted)

    # ------------------------------------------------------------------
    # Transform
    # ------------------------------------------------------------------

    def _scaler_of_rows(self, groups):
        """Index into ``scalers_`` of each row's scaler, -1 for all groups."""
        index = pd.Index(self.groups_).get_indexer(pd.Index(groups, dtype=object))
        unseen = index < 0
        if unseen.any() and self.handle_unknown == "error":
            values = pd.unique(pd.Series(groups[unseen], dtype=object))
            raise ValueError(
                f"X holds {len(values)} group(s) unseen in fit: "
                f"{_describe(_plain(values))}. Use handle_unknown='all_groups' "
                "to scale them with the statistics of all groups."
            )
        small = self.group_counts_ < self.min_group_size
        if small.any():
            index = np.where((index >= 0) & small[np.maximum(index, 0)], -1, index)
        return index

    def _maps_centered(self):
        """Whether transform maps the features relative to the integer
        centre: the scalers do (they share it, and their parameters: a map
        without an offset scales the data's own values)."""
        if getattr(self, "_integer_center", None) is None:
            return False
        return self.all_groups_scaler_._transforms_relative_to_center()

    def _relative_scalers(self):
        """``(scalers, all-groups scaler)`` mapping data relative to the
        integer centre (:func:`_relative_scaler`), built once per fit."""

        def build():
            return (
                [_relative_scaler(s) for s in self.scalers_],
                _relative_scaler(self.all_groups_scaler_),
            )

        return derived_from_fit(self, "relative_scalers", build)

    def _map_groups(self, method, groups, features, centered=False):
        """``method`` of each row's scaler on its rows, in X's row order
        (the features relative to the integer centre with ``centered``)."""
        scalers, all_groups = self.scalers_, self.all_groups_scaler_
        if centered:
            scalers, all_groups = self._relative_scalers()
        which = self._scaler_of_rows(groups)
        order = np.argsort(which, kind="stable")
        values, starts = np.unique(which[order], return_index=True)
        bounds = [*starts, len(order)]
        parts, part_rows = [], []
        for k, value in enumerate(values):
            rows = order[bounds[k] : bounds[k + 1]]
            scaler = all_groups if value < 0 else scalers[value]
            # features[rows] is a copy: the scaler may work in it.
            parts.append(getattr(scaler, method)(features[rows], copy=False))
            part_rows.append(rows)
        if len(parts) == 1:
            # One scaler for every row, in their order.
            return parts[0]
        if is_sparse(features):
            # scipy < 1.11 stacks sparse arrays into a sparse matrix: the
            # parts' own container (the input's) is restored.
            stacked = type(parts[0])(sparse.vstack(parts, format=features.format))
            inverse = np.empty(len(order), dtype=np.intp)
            inverse[np.concatenate(part_rows)] = np.arange(len(order))
            return stacked[inverse]
        out = np.empty((features.shape[0], parts[0].shape[1]), dtype=parts[0].dtype)
        for rows, part in zip(part_rows, parts, strict=True):
            out[rows] = part
        return out

    def _with_group_column(self, out, groups, position, X, method):
        """``out`` with the group column inserted at ``position``."""
        container = _get_output_config("transform", self)["dense"]
        if container in ("pandas", "polars") and not is_sparse(out):
            names = list(self.get_feature_names_out())
            if method == "inverse_transform":
                names = list(_check_feature_names_in(self, None))
            others = names[:position] + names[position + 1 :]
            if container == "pandas":
                index = X.index if _frame_library(X) == "pandas" else None
                frame = pd.DataFrame(out, columns=others, index=index)
                frame.insert(position, names[position], groups)
                return frame
            import polars as pl

            columns = {name: out[:, i] for i, name in enumerate(others)}
            series = pl.Series(names[position], _plain(groups))
            frame = pl.DataFrame(columns)
            return frame.insert_column(position, series)
        numeric = groups.dtype.kind in "biuf" or all(
            isinstance(g, Number) and not isinstance(g, str) for g in groups
        )
        if not numeric:
            raise ValueError(
                "keep_group_column=True puts the group column into the "
                "output, which needs numeric group values for array or "
                "sparse output; the groups are not numbers. Use "
                "set_output(transform='pandas') (or 'polars') to keep "
                "them, or keep_group_column=False."
            )
        column = groups.astype(out.dtype)
        if is_sparse(out):
            kind = type(out)
            pieces = [
                out[:, :position],
                kind(column.reshape(-1, 1)),
                out[:, position:],
            ]
            return kind(sparse.hstack(pieces, format=out.format))
        return np.insert(out, position, column, axis=1)

    def transform(self, X):
        """Scale the rows of each group with the statistics of their group.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Data to scale, the group column included. NaN in the features is
            kept.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.

        Returns
        -------
        X_tr : {ndarray, sparse matrix, DataFrame}
            The scaled features, with the group column when
            ``keep_group_column=True``; sparse input keeps its format.
        """
        check_is_fitted(self)
        centered = self._maps_centered()
        groups, features, position = self._split(
            X, reset=False, method="transform", center_integers=centered
        )
        out = self._map_groups("transform", groups, features, centered)
        if self.keep_group_column:
            out = self._with_group_column(out, groups, position, X, "transform")
        return out

    def _check_inverse(self):
        if not self.keep_group_column:
            raise AttributeError(
                "GroupedScaler.inverse_transform needs the group column in its "
                "input: set keep_group_column=True, so that transform keeps it."
            )
        return True

    @available_if(_check_inverse)
    @blockwise_on_dask
    def inverse_transform(self, X):
        """Undo the scaling of each group's rows.

        Available with ``keep_group_column=True``: the group column of X says
        which statistics scaled each row.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Scaled data, the group column included.
            Also a polars LazyFrame or DuckDB relation, mapped lazily, batch by
            batch.

        Returns
        -------
        X_original : {ndarray, sparse matrix, DataFrame}
            Data in the original units, the group column included, in the
            container chosen by ``set_output``.
        """
        check_is_fitted(self)
        groups, features, position = self._split(
            X, reset=False, method="inverse_transform"
        )
        out = self._map_groups("inverse_transform", groups, features)
        return self._with_group_column(out, groups, position, X, "inverse_transform")

    def get_feature_names_out(self, input_features=None):
        """Names of the output features: the input's, less the group column
        unless ``keep_group_column=True``.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Input feature names (the group column included); by default
            ``feature_names_in_``, or ``x0, x1, ...``.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self, "n_features_in_")
        names = _check_feature_names_in(self, input_features)
        if self.keep_group_column:
            return names
        return np.delete(names, self._group_index)
