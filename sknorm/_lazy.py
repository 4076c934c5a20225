"""Lazy ``transform`` and ``inverse_transform`` of lazy data frames.

A polars ``LazyFrame``, a DuckDB relation (``duckdb.DuckDBPyRelation``) or a
narwhals ``LazyFrame`` given to ``transform`` (or ``inverse_transform``)
gives one of the same kind back, nothing collected: the engine streams the
result to its destination (``sink_parquet``, ``write_parquet``, a join...)
within its own memory bound. The map is built from the fitted numbers, as
:mod:`sknorm.onnx` builds its graphs, per family of estimators:

* column scalers: the steps of their affine map
  (:meth:`sknorm._affine.AffineMap.transform_steps`, the working powers of
  two included) and the clip range, or the inverse steps;
* :class:`~sknorm.SquashingScaler`: its affine map, the constant features'
  zeros and the squashing (or their inverses);
* :class:`~sknorm.PowerTransformer`: its fitted map per side of 0 (or its
  inverse);
* row normalizers: their row rule (``sknorm.rows``) over horizontal sums
  and maxima of each group of columns.

These are narwhals expressions (``pip install "sknorm[lazy]"``): one
expression layer for polars, DuckDB and the other lazy engines narwhals
serves. Like ``transform``, every value is computed in float64 and rounded
once to the output's dtype (float32 where every input column is float32 and
the estimator keeps float32). Null stays null, NaN stays NaN. The column
scalers' expressions are ``transform``'s float64 operations in its order, so
they give its values bit for bit; the others differ from ``transform`` by a
few roundings (their ``hypot``, ``log1p`` and ``expm1`` are built from
``sqrt``, ``log`` and ``exp``, row sums are added in another order, polars
multiplies by the reciprocal of a constant divisor), bounded in
``tests/test_lazy.py``.

The other estimators, whose map is not a set of column expressions (the
quantile transformer's interpolation, the embedding projection and
quantization, the per-group lookup of :class:`~sknorm.GroupedScaler`), and
:class:`~sknorm.Normalizer` with ``zero_rows="raise"``, map batches instead,
still lazily: ``LazyFrame.map_batches`` (polars) or ``DuckDBPyRelation.map``
(DuckDB) call the in-memory ``transform`` on each batch as the engine reads
it, so what ``transform`` rejects raises when that batch is computed.
DuckDB hands the batches over as pandas DataFrames, where NaN and null are
one missing value: such results hold null for both.

narwhals, polars and DuckDB are imported here only, when such an input
arrives; ``import sknorm`` imports none of them.
"""

import copy

import numpy as np

__all__ = ["is_lazy_frame", "lazy_map"]

_INSTALL_HINT = (
    "transform of a lazy frame (polars LazyFrame, DuckDB relation) needs "
    'narwhals: pip install "sknorm[lazy]"'
)

#: ``(module prefix, class name)`` of the lazy frames mapped here.
_LAZY_TYPES = (
    ("polars", "LazyFrame"),
    ("duckdb", "DuckDBPyRelation"),
    ("narwhals", "LazyFrame"),
)

#: Float64 values at least this large round to infinity as float32 (the
#: midpoint between the largest float32 and ``2**128``, which rounds to even).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def is_lazy_frame(X):
    """Whether X is a lazy frame mapped by :func:`lazy_map`, decided without
    importing polars, DuckDB or narwhals."""
    cls = type(X)
    module = cls.__module__
    return any(
        module.startswith(prefix) and cls.__name__ == name
        for prefix, name in _LAZY_TYPES
    )


def _narwhals():
    try:
        import narwhals
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return narwhals


def lazy_map(estimator, method, X):
    """``estimator.<method>(X)`` of a lazy frame X, as a lazy frame.

    What ``transform`` and ``inverse_transform`` do with a polars
    ``LazyFrame``, a DuckDB relation or a narwhals ``LazyFrame``: the frame's
    schema is checked against the fit (its columns must be exactly the
    fitted features, in their order, and numeric) before anything is built,
    then the map is added to the frame's plan, nothing collected.

    Parameters
    ----------
    estimator : fitted sknorm estimator
    method : {"transform", "inverse_transform"}
    X : polars.LazyFrame, duckdb.DuckDBPyRelation or narwhals.LazyFrame
        The input, holding the fitted features (``feature_names_in_``; for
        ``inverse_transform``, ``get_feature_names_out()``), in that order.

    Returns
    -------
    X_out : lazy frame of X's kind
        The result's columns are named as ``get_feature_names_out()`` (the
        inverse's as the fitted features), of float dtype (float32 where
        every input column is float32 and the estimator keeps float32; the
        quantizer's codes int8 or uint8).

    Raises
    ------
    ValueError
        If the frame misses fitted features, has others, orders them
        otherwise or holds non-numeric ones.
    ImportError
        If narwhals is not installed.

    Notes
    -----
    A lazy plan cannot raise on the values it streams: where ``transform``
    rejects a value (infinity, Box-Cox's values <= 0), the expressions give
    what the arithmetic gives (infinity or NaN; NaN for Box-Cox), and
    inverse maps give NaN without scikit-learn's warning. Batch-mapped
    estimators run ``transform`` itself, which raises when the batch is
    computed.

    Examples
    --------
    >>> import polars as pl
    >>> from sknorm import MinMaxScaler
    >>> scaler = MinMaxScaler().fit(pl.DataFrame({"a": [0.0, 2.0, 4.0]}))
    >>> lazy = scaler.transform(pl.LazyFrame({"a": [1.0, 4.0, None]}))
    >>> type(lazy).__name__
    'LazyFrame'
    >>> lazy.collect()["a"].to_list()
    [0.25, 1.0, None]
    """
    nw = _narwhals()
    wrapped = type(X).__module__.startswith("narwhals")
    frame = X if wrapped else nw.from_native(X)
    spec = _check_frame(nw, estimator, method, frame)
    build = _expression_family(estimator, method)
    if build is None:
        result = _map_batches(nw, estimator, method, frame, spec)
    else:
        result = build(nw, estimator, method, frame, spec)
    return result if wrapped else nw.to_native(result)


# ---------------------------------------------------------------------------
# The frame against the fit
# ---------------------------------------------------------------------------


class _Spec:
    """What the check of a frame found: its columns and dtypes, the output's
    names, its float dtype, and the position of a group column (or None)."""

    def __init__(self, columns, dtypes, names_out, float_out, group):
        self.columns = columns
        self.dtypes = dtypes
        self.names_out = names_out
        self.float_out = float_out
        self.group = group


def _describe(names):
    names = [repr(str(name)) for name in names]
    if len(names) > 10:
        names = [*names[:10], f"... ({len(names) - 10} more)"]
    return ", ".join(names)


def _check_frame(nw, estimator, method, frame):
    """Check the fitted state and the frame's schema; return a :class:`_Spec`."""
    from sklearn.utils.validation import _check_feature_names_in, check_is_fitted

    name = type(estimator).__name__
    estimator._validate_params()
    fitted = hasattr(estimator, "n_features_in_")
    if estimator.__sklearn_tags__().requires_fit or method != "transform":
        check_is_fitted(estimator)
    schema = frame.collect_schema()
    columns = list(schema.names())
    dtypes = list(schema.dtypes())
    expected, n_expected = None, None
    if fitted:
        if method == "transform":
            expected = getattr(estimator, "feature_names_in_", None)
            n_expected = estimator.n_features_in_
        else:
            n_expected = len(estimator.get_feature_names_out())
            if hasattr(estimator, "feature_names_in_"):
                expected = estimator.get_feature_names_out()
    advice = (
        f"A lazy frame given to {name}.{method} must hold exactly the fitted "
        "features, in their order (as for in-memory input): select them first."
    )
    if expected is not None:
        expected = [str(c) for c in expected]
        missing = [c for c in expected if c not in columns]
        extra = [c for c in columns if c not in expected]
        if missing:
            raise ValueError(
                f"The frame lacks the fitted feature(s) {_describe(missing)}. {advice}"
            )
        if extra:
            raise ValueError(
                f"The frame has column(s) {_describe(extra)} not seen in fit. {advice}"
            )
        if columns != expected:
            raise ValueError(
                f"The frame's columns are not in the order of fit "
                f"({_describe(expected)}). {advice}"
            )
    elif n_expected is not None and len(columns) != n_expected:
        raise ValueError(
            f"The frame has {len(columns)} columns, but {name} is expecting "
            f"{n_expected} features as input. {advice}"
        )
    group = getattr(estimator, "_group_index", None)
    features = [j for j in range(len(columns)) if j != group]
    bad = [
        columns[j]
        for j in features
        if not (dtypes[j].is_numeric() or dtypes[j] == nw.Boolean)
    ]
    if bad:
        found = ", ".join(
            f"{columns[j]!r} ({dtypes[j]})" for j in features if columns[j] in bad
        )
        raise ValueError(
            f"{name}.{method} takes numeric columns; the frame has non-numeric "
            f"column(s) {found}."
        )
    if not fitted:
        names_out = columns
    elif method == "transform":
        names_out = [str(c) for c in estimator.get_feature_names_out()]
    else:
        names_out = [str(c) for c in _check_feature_names_in(estimator, None)]
    keeps = estimator.__sklearn_tags__().transformer_tags.preserves_dtype
    single = all(dtypes[j] == nw.Float32 for j in features) and features
    float_out = nw.Float32 if single and "float32" in keeps else nw.Float64
    return _Spec(columns, dtypes, names_out, float_out, group)


# ---------------------------------------------------------------------------
# Families
# ---------------------------------------------------------------------------


def _expression_family(estimator, method):
    """The expression builder of an estimator, found by inheritance (as
    :func:`sknorm.onnx._family`), or None for a map mapped by batches."""
    from .rows import Normalizer, _RowNormalizer
    from .scalers import PowerTransformer, QuantileTransformer, SquashingScaler
    from .scalers._base import _ColumnScaler

    if isinstance(estimator, QuantileTransformer):
        return None
    if isinstance(estimator, Normalizer) and estimator.zero_rows == "raise":
        return None  # a plan cannot raise on all-zero rows: transform does
    for base, build in (
        (PowerTransformer, _power_frame),
        (SquashingScaler, _squashing_frame),
        (_ColumnScaler, _affine_frame),
        (_RowNormalizer, _rows_frame),
    ):
        if isinstance(estimator, base):
            return build
    return None


class _Columns:
    """The frame's columns as float64 expressions, nulls as NaN (so that the
    arithmetic below sees IEEE values only; :meth:`output` puts the nulls
    back)."""

    def __init__(self, nw, spec):
        self.nw = nw
        self.spec = spec

    def raw(self, j):
        return self.nw.col(self.spec.columns[j])

    def value(self, j, center=None):
        """Column ``j`` in float64, minus the integer ``center[j]`` if any:
        subtracted in 128-bit integers from an integer column (exact), as
        validation does, before the one rounding to float64."""
        nw = self.nw
        x = self.raw(j)
        shift = 0 if center is None else center[j]
        if shift and self.spec.dtypes[j].is_integer():
            x = (x.cast(nw.Int128) - nw.lit(int(shift), nw.Int128)).cast(nw.Float64)
        else:
            x = x.cast(nw.Float64)
            if shift:
                x = x - float(shift)
        return x.fill_null(float("nan"))

    def output(self, j, expr, name):
        """``expr`` as output column ``name``: null where input column ``j``
        is null, rounded once to the output's float dtype."""
        nw = self.nw
        expr = nw.when(~self.raw(j).is_null()).then(expr)
        return _cast_float(nw, expr, self.spec.float_out).alias(name)


def _cast_float(nw, expr, dtype):
    """``expr`` (float64) cast to ``dtype``; beyond float32's range +/-inf, as
    numpy's cast (DuckDB refuses the cast of such values)."""
    if dtype != nw.Float32:
        return expr
    rounded = (
        nw.when(expr.is_nan())
        .then(expr)
        .when(expr >= _FLOAT32_OVERFLOW)
        .then(float("inf"))
        .when(expr <= -_FLOAT32_OVERFLOW)
        .then(float("-inf"))
        .when(expr > _FLOAT32_MAX)
        .then(_FLOAT32_MAX)
        .when(expr < -_FLOAT32_MAX)
        .then(-_FLOAT32_MAX)
        .otherwise(expr)
    )
    return rounded.cast(nw.Float32)


def _select(frame, columns, outputs):
    return frame.select(
        *(columns.output(j, expr, name) for j, (expr, name) in enumerate(outputs))
    )


# -- elementwise helpers ------------------------------------------------------
#
# polars and DuckDB order NaN above every number (NaN > x is true): every
# comparison below is of values that cannot be NaN, or guarded.


def _where(nw, condition, when_true, when_false):
    return nw.when(condition).then(when_true).otherwise(when_false)


def _is_inf(x):
    return ~x.is_finite() & ~x.is_nan()


def _signed_infinity(nw, x):
    """``sign(x) * inf`` of a non-zero, non-NaN ``x``."""
    return _where(nw, x > 0, float("inf"), float("-inf"))


def _clip(nw, x, low, high):
    """``numpy.clip``: NaN kept, NaN bounds give NaN."""
    if np.isnan(low) or np.isnan(high):
        return x * float("nan")
    return (
        nw.when(x.is_nan())
        .then(x)
        .when(x < float(low))
        .then(float(low))
        .when(x > float(high))
        .then(float(high))
        .otherwise(x)
    )


def _hypot(nw, a, b):
    """``hypot(a, b)`` for ``a >= 0`` (or NaN) and a constant ``b > 0``,
    without squaring the larger one (:func:`sknorm.onnx._hypot_graph`)."""
    larger = a > b
    high = _where(nw, larger, a, b)
    ratio = _where(nw, larger, b, a) / high
    return high * (ratio * ratio + 1.0).sqrt()


def _log1p(nw, a):
    """``log(1 + a)`` as ``log(u) * (a / (u - 1))``, ``u = 1 + a`` rounded, or
    ``a`` where ``u`` is 1 (Goldberg 1991, theorem 4; narwhals has no
    ``log1p``): the rounding of ``u`` cancels in the ratio, leaving the
    logarithm's error and three roundings (:func:`sknorm.onnx._log1p_graph`)."""
    u = a + 1.0
    d = u - 1.0
    exact = d == 0.0
    value = _where(nw, exact, a, u.log() * (a / _where(nw, exact, 1.0, d)))
    return _where(nw, a == float("inf"), a, value)


def _expm1(nw, w):
    """``exp(w) - 1`` as ``(u - 1) * (w / log(u))``, ``u = exp(w)`` rounded,
    ``w`` where ``u`` is 1, -1 where it is 0 (Kahan's; narwhals has no
    ``expm1``; :func:`sknorm.onnx._expm1_graph`). Overflow gives inf."""
    u = w.exp()
    d = u - 1.0
    exact = d == 0.0
    value = _where(nw, exact, w, d * (w / _where(nw, exact, 1.0, u.log())))
    value = _where(nw, d == -1.0, -1.0, value)
    return _where(nw, u == float("inf"), u, value)


def _steps(x, steps, j, n):
    """The ``(ufunc, operand)`` steps of an affine map (per-feature operands
    of ``n`` features) on column ``j``, in order."""
    for ufunc, operand in steps:
        value = float(np.broadcast_to(np.asarray(operand, np.float64), (n,))[j])
        if ufunc is np.multiply:
            x = x * value
        elif ufunc is np.subtract:
            x = x - value
        else:
            x = x + value
    return x


# -- column scalers ------------------------------------------------------------


def _affine_frame(nw, estimator, method, frame, spec):
    """The affine map and clip range (``transform``), or the inverse steps
    and the integer centre added back (``inverse_transform``)."""
    columns = _Columns(nw, spec)
    affine, clip, center = estimator._fitted_map()
    n = len(spec.columns)
    outputs = []
    for j, name in enumerate(spec.names_out):
        if method == "transform":
            x = _steps(columns.value(j, center), affine.transform_steps(), j, n)
            if clip is not None:
                low, high = (np.broadcast_to(b, (n,)) for b in clip)
                x = _clip(nw, x, low[j], high[j])
        else:
            x = _steps(columns.value(j), affine._steps("inverse"), j, n)
            if center is not None and center[j]:
                x = x + float(center[j])
        outputs.append((x, name))
    return _select(frame, columns, outputs)


def _squashing_frame(nw, estimator, method, frame, spec):
    """:class:`~sknorm.SquashingScaler`: ``z / hypot(1, z / B)`` of the
    affine map's ``z`` (0 for the finite values of constant features,
    ``+/-inf`` for infinite input), ``+/-B`` for infinite ``z``; the inverse
    ``s / sqrt((1 - s / B) (1 + s / B))`` then the inverse steps."""
    columns = _Columns(nw, spec)
    affine, constant = estimator._fitted_map(centered=True)
    center = getattr(estimator, "_integer_center", None)
    bound = float(estimator.max_absolute_value)
    n = len(spec.columns)
    outputs = []
    for j, name in enumerate(spec.names_out):
        if method == "transform":
            x = columns.value(j, center)
            z = _steps(x, affine.transform_steps(), j, n)
            if constant[j]:
                z = _where(nw, z.is_finite(), 0.0, z)
            z = _where(nw, _is_inf(x), _signed_infinity(nw, x), z)
            squashed = z / _hypot(nw, z.abs() / bound, 1.0)
            edge = _where(nw, z > 0, bound, -bound)
            result = _where(nw, _is_inf(z), edge, squashed)
        else:
            s = columns.value(j)
            ratio = s / bound
            root = ((1.0 - ratio) * (1.0 + ratio)).sqrt()
            z = _where(nw, root == 0.0, _signed_infinity(nw, s), s / root)
            result = _steps(z, affine._steps("inverse"), j, n)
            if center is not None and center[j]:
                result = result + float(center[j])
            if constant[j]:
                value = float(np.asarray(estimator.center_, np.float64)[j])
                result = _where(nw, result.is_nan(), result, value)
        outputs.append((result, name))
    return _select(frame, columns, outputs)


# -- power transformers --------------------------------------------------------


def _power_frame(nw, estimator, method, frame, spec):
    """:class:`~sknorm.PowerTransformer`'s fitted map (``_PowerMap``), per
    side of 0: ``gain * expm1(rate * (L - center)) + offset`` with ``L = log
    x`` (Box-Cox; NaN for ``x <= 0``) or ``log1p|x|`` (Yeo-Johnson), capped
    at the image of 0 on the negative side; or its inverse."""
    columns = _Columns(nw, spec)
    power_map = estimator._power_map()
    box_cox = power_map.box_cox
    outputs = []
    for j, name in enumerate(spec.names_out):
        x = columns.value(j)
        if method == "transform":
            side = None if box_cox else x < 0.0
            logs = x.log() if box_cox else _log1p(nw, x.abs())
        else:
            side = None if box_cox else x < float(power_map.zero[j])

        def operand(attribute, side=side, j=j):
            values = np.asarray(getattr(power_map, attribute), np.float64)[:, j]
            if side is None or np.array_equal(values[0], values[1], equal_nan=True):
                return nw.lit(float(values[0]))
            return _where(nw, side, float(values[1]), float(values[0]))

        limit = np.asarray(power_map.log_limit, bool)[:, j]
        if box_cox or limit[0] == limit[1]:
            uses_limit = nw.lit(bool(limit[0]))
        else:
            uses_limit = _where(nw, side, bool(limit[1]), bool(limit[0]))
        if method == "transform":
            d = logs - operand("center")
            u = _expm1(nw, d * operand("rate"))
            if limit.any():
                u = _where(nw, uses_limit, d, u)
            z = u * operand("gain") + operand("offset")
            if box_cox:
                z = _where(nw, x > 0.0, z, float("nan"))
            else:
                zero = float(power_map.zero[j])
                z = _where(nw, side & (z > zero), zero, z)
        else:
            u = (x - operand("offset")) * operand("inverse_gain")
            d = _log1p(nw, u) * operand("inverse_rate")
            if limit.any():
                d = _where(nw, uses_limit, u, d)
            d = d + operand("center")
            if box_cox:
                z = d.exp()
            else:
                z = _expm1(nw, d)
                z = _where(nw, side, -z, z)
        outputs.append((z, name))
    return _select(frame, columns, outputs)


# -- row normalizers -----------------------------------------------------------


def _tree(values, combine):
    """``combine`` over ``values`` as a balanced tree (depth log2 n)."""
    values = list(values)
    while len(values) > 1:
        paired = [
            combine(values[k], values[k + 1]) for k in range(0, len(values) - 1, 2)
        ]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


def _rows_frame(nw, estimator, method, frame, spec):
    """The row rule of a row normalizer (``sknorm.rows``) on each group of
    columns of each row, by horizontal sums and maxima: the robust path of
    the row kernel (``_scaled_segment`` and ``_RowRule.multiplier``, as the
    array API pass and :func:`sknorm.onnx._row_rule_graph`). The statistics
    of a group are columns added to the plan stage by stage, so each is
    computed once per row."""
    from .stats import Moments

    columns = _Columns(nw, spec)
    rule = estimator._rule()
    n = len(spec.columns)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = np.asarray(spec.columns, dtype=object)
    groups = [] if rule.is_identity else estimator._groups(n, names)
    factors = estimator._factors(len(groups)) if groups else None
    taken = set(spec.columns)

    def temporary():
        name = nw.generate_temporary_column_name(8, sorted(taken))
        taken.add(name)
        return name

    # Stage 0: the inputs in float64, null as NaN.
    x_names = [temporary() for _ in range(n)]
    frame = frame.with_columns(*(columns.value(j).alias(x_names[j]) for j in range(n)))
    x = [nw.col(name) for name in x_names]
    results = list(x)

    def stage(**exprs):
        nonlocal frame
        aliases = {key: temporary() for key in exprs}
        frame = frame.with_columns(
            *(expr.alias(aliases[key]) for key, expr in exprs.items())
        )
        return {key: nw.col(alias) for key, alias in aliases.items()}

    for b, group in enumerate(groups):
        group = [int(j) for j in np.asarray(group)]
        size = len(group)
        missing = {j: x[j].is_nan() for j in group}
        known = {j: _where(nw, missing[j], 0.0, x[j]) for j in group}
        first = stage(
            m=_tree(
                (known[j].abs() for j in group), lambda a, c: _where(nw, c > a, c, a)
            ),
            count=float(size)
            - _tree((missing[j].cast(nw.Float64) for j in group), lambda a, c: a + c),
        )
        zero = ~(first["m"] > 0.0)
        m = _where(nw, zero, 1.0, first["m"])
        if rule.about_mean:
            # An exact scaling, so that deviations keep their digits.
            exponent = m.log(2.0).ceil()
            m = nw.lit(2.0) ** _where(nw, exponent > 1023.0, 1023.0, exponent)
        second = stage(
            m=m,
            zero=zero,
            divisor=_where(nw, first["count"] > 1.0, first["count"], 1.0),
        )
        m, zero, divisor = second["m"], second["zero"], second["divisor"]
        y = {j: x[j] / m for j in group}
        center = None
        z = y
        if rule.about_mean:
            total = _tree(
                (_where(nw, missing[j], 0.0, y[j]) for j in group), lambda a, c: a + c
            )
            first_center = stage(c=total / divisor)["c"]
            residual = _tree(
                (_where(nw, missing[j], 0.0, y[j] - first_center) for j in group),
                lambda a, c: a + c,
            )
            correction = stage(c=residual / divisor)["c"]
            z = {j: (y[j] - first_center) - correction for j in group}
            center = first_center + correction
        present = [_where(nw, missing[j], 0.0, z[j]) for j in group]
        if rule.p == 2:
            sums = _tree((v * v for v in present), lambda a, c: a + c)
        elif rule.p == np.inf:
            sums = _tree(
                (v.abs() for v in present), lambda a, c: _where(nw, c > a, c, a)
            )
        elif rule.p == 1:
            sums = _tree((v.abs() for v in present), lambda a, c: a + c)
        else:
            sums = _tree((v.abs() ** rule.p for v in present), lambda a, c: a + c)
        if rule.per_value and rule.p != np.inf:
            sums = sums / divisor
        if rule.p == 2:
            spread = sums.sqrt()
        elif rule.p in (1, np.inf):
            spread = sums
        else:
            spread = sums ** (1.0 / rule.p)
        statistics = {"spread": _where(nw, zero, 0.0, spread)}
        if center is not None:
            statistics["center"] = center
        statistics = stage(**statistics)
        g = _multiplier(
            nw, rule, m, zero, statistics.get("center"), statistics["spread"], Moments
        )
        if factors is not None:
            g = g * float(factors[b])
        g = stage(g=g)["g"]
        values = z if rule.subtract_mean else y
        for j in group:
            product = values[j] * g
            # An infinite multiplier leaves zero deviations zero.
            results[j] = _where(nw, ~g.is_finite() & (values[j] == 0.0), 0.0, product)
    return _select(frame, columns, list(zip(results, spec.names_out, strict=True)))


def _multiplier(nw, rule, m, zero, center, spread, moments):
    """``_RowRule.multiplier``: the factor ``g`` of ``(y - center) * g``."""
    if not rule.scale:
        return m
    if rule.floor == "max":
        g = 1.0 / _where(nw, zero, 1.0, spread)
        if rule.eps > 0:
            below = ~zero & (m * spread < rule.eps)
            g = _where(nw, below, m / rule.eps, g)
        return g
    spread_x = m * spread
    if rule.eps > 0:
        return m / _hypot(nw, spread_x, float(np.sqrt(rule.eps)))
    rounding = float(moments.spread_rounding)
    threshold = nw.lit(0.0)
    threshold_y = nw.lit(0.0)
    if center is not None:
        magnitude = (m * center).abs()
        threshold = _where(nw, magnitude.is_finite(), magnitude, 0.0) * rounding
        threshold_y = _where(nw, center.abs().is_finite(), center.abs(), 0.0) * rounding
    g = m / _where(nw, spread_x > threshold, spread_x, 1.0)
    # Below the normal range m * spread has lost bits; in units of y, where m
    # cancels, the spread has them all (rows._kernels._unit_multiplier).
    varies_y = spread > threshold_y
    in_units = _where(nw, varies_y, 1.0 / _where(nw, varies_y, spread, 1.0), m)
    below = spread_x < float(np.finfo(np.float64).tiny)
    return _where(nw, below, in_units, g)


# ---------------------------------------------------------------------------
# Batches
# ---------------------------------------------------------------------------


def _snapshot(estimator, output):
    """A copy of the fitted estimator whose ``transform`` returns ``output``
    DataFrames (``set_output``), so that later fits of the estimator do not
    change a plan built now."""
    snapshot = copy.deepcopy(estimator)
    snapshot._sklearn_output_config = dict(
        getattr(estimator, "_sklearn_output_config", {})
    )
    snapshot.set_output(transform=output)
    return snapshot


def _batch_dtypes(nw, estimator, method, spec):
    """The narwhals dtype of each output column of a batch-mapped map."""
    from .embedding import EmbeddingQuantizer

    if isinstance(estimator, EmbeddingQuantizer) and method == "transform":
        codes = nw.Int8 if estimator.dtype == "int8" else nw.UInt8
        return [codes] * len(spec.names_out)
    dtypes = [spec.float_out] * len(spec.names_out)
    if spec.group is not None and len(spec.names_out) == len(spec.columns):
        dtypes[spec.group] = spec.dtypes[spec.group]  # the group column, kept
    return dtypes


def _map_batches(nw, estimator, method, frame, spec):
    """Map the frame's batches with the in-memory ``method``, lazily."""
    native = nw.to_native(frame)
    module = type(native).__module__
    dtypes = _batch_dtypes(nw, estimator, method, spec)
    if module.startswith("polars"):
        result = _polars_batches(nw, estimator, method, native, spec, dtypes)
    elif module.startswith("duckdb"):
        result = _duckdb_batches(nw, estimator, method, native, spec, dtypes)
    else:
        raise TypeError(
            f"{type(estimator).__name__}.{method} maps lazy frames batch by batch, "
            f"for polars LazyFrames and DuckDB relations only; got a "
            f"{module}.{type(native).__name__} frame."
        )
    return nw.from_native(result)


def _polars_batches(nw, estimator, method, lazy, spec, dtypes):
    """``LazyFrame.map_batches`` of ``method`` (streamable: batches are
    independent rows); nulls of the input kept in same-named outputs."""
    import polars as pl

    snapshot = _snapshot(estimator, "polars")
    names = spec.names_out
    native_types = {
        nw.Float64: pl.Float64,
        nw.Float32: pl.Float32,
        nw.Int8: pl.Int8,
        nw.UInt8: pl.UInt8,
    }
    source = lazy.collect_schema()
    schema = {
        name: native_types[dtype]
        if dtype in native_types
        else source[spec.columns[position]]  # the group column, as it came
        for position, (name, dtype) in enumerate(zip(names, dtypes, strict=True))
    }
    nullable = [name for name in names if name in spec.columns]

    def function(batch):
        if batch.height == 0:
            return pl.DataFrame(schema=schema)
        out = getattr(snapshot, method)(batch)
        if not isinstance(out, pl.DataFrame):
            out = pl.DataFrame(np.asarray(out), schema=names, orient="row")
        out = out.rename(dict(zip(out.columns, names, strict=True))).cast(schema)
        restored = [
            pl.when(batch[name].is_null())
            .then(None)
            .otherwise(pl.col(name))
            .alias(name)
            for name in nullable
            if batch[name].null_count()
        ]
        return out.with_columns(restored) if restored else out

    return lazy.map_batches(function, schema=schema, streamable=True)


def _duckdb_batches(nw, estimator, method, relation, spec, dtypes):
    """``DuckDBPyRelation.map`` of ``method``: DuckDB calls it on pandas
    DataFrames of up to 2048 rows as it reads them."""
    import duckdb
    import pandas as pd

    snapshot = _snapshot(estimator, "pandas")
    names = spec.names_out
    types = {
        nw.Float64: ("DOUBLE", np.float64),
        nw.Float32: ("FLOAT", np.float32),
        nw.Int8: ("TINYINT", np.int8),
        nw.UInt8: ("UTINYINT", np.uint8),
    }
    schema, numpy_types = {}, {}
    for position, (name, dtype) in enumerate(zip(names, dtypes, strict=True)):
        if dtype in types:
            sql_type, numpy_types[name] = types[dtype]
            schema[name] = duckdb.sqltype(sql_type)
        else:  # the group column, as it came
            schema[name] = relation.types[position]

    def function(batch):
        out = getattr(snapshot, method)(batch)
        if not isinstance(out, pd.DataFrame):
            out = pd.DataFrame(np.asarray(out), columns=names)
        out.columns = names
        return out.astype(numpy_types)

    return relation.map(function, schema=schema)
