"""ONNX export of every sknorm estimator, through skl2onnx.

Importing this module registers a shape calculator and a converter with
skl2onnx for each public estimator, so that :func:`skl2onnx.to_onnx` converts
them alone and inside pipelines; :func:`to_onnx` registers and converts in one
call. skl2onnx is imported here only, when this module is imported
(``pip install sknorm[onnx]``); ``import sknorm`` never imports it.

The graphs are generated from the fitted estimator through the arithmetic its
own ``transform`` runs, so a converter serves a whole family:

* column scalers: the steps of their affine map
  (:meth:`sknorm._affine.AffineMap.transform_steps`, the working power of two
  for extreme scales included), then the clip range;
* row normalizers: their row rule (the spread, floor and centering of
  ``sknorm.rows``) on every group of columns;
* :class:`~sknorm.EmbeddingNormalizer`: the input rows' L2 normalization
  (``input_norm``), centering, the fitted projection, row L2 normalization,
  both with the row normalizers' rule;
* :class:`~sknorm.EmbeddingQuantizer`: the affine map to bins, clip and floor
  (int8, uint8 codes), or comparison and bit packing (binary);
* quantile transformers (``quantiles_``, ``references_``,
  ``output_distribution``): scikit-learn's interpolation between the fitted
  quantiles (the mean of the rightmost-tie and leftmost-tie interpolations,
  its bounds rule), the bracketing quantiles found by a binary search of
  comparisons and gathers, then for normal output the inverse normal CDF
  (Wichura's AS241) and the clip range;
* power transformers: the Yeo-Johnson or Box-Cox map per column as
  ``expm1(l * log1p(x)) / l`` (ONNX has neither ``expm1`` nor ``log1p``:
  both are built from ``Exp`` and ``Log``, to a few ulps) and the fitted
  standardization, in the operations of sknorm's fitted map (standardization
  folded into per-side constants), or from ``method``, ``lambdas_``,
  ``standardize`` and ``_scaler`` for an object with scikit-learn's
  attributes only.

Like ``transform``, the graph computes in float64 whatever the input's float
dtype and rounds once to it at the end; row statistics ignore NaN as sknorm's
do. What a graph cannot do (raise on bad rows) raises at conversion instead.
"""

import contextlib

import numpy as np
from sklearn.utils.validation import check_is_fitted

from . import scalers
from .embedding import EmbeddingNormalizer, EmbeddingQuantizer
from .rows import Normalizer, _dense_layout, _RowNormalizer
from .scalers import SquashingScaler
from .scalers._base import _ColumnScaler
from .stats import Moments

__all__ = ["register_converters", "to_onnx"]

#: Oldest ONNX opset the graphs use (Reduce* with dynamic axes from 13 on).
MIN_OPSET = 13

_INSTALL_HINT = (
    "sknorm.onnx needs skl2onnx (and onnxruntime to run the models): "
    "pip install sknorm[onnx]"
)

_registered = False


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return skl2onnx


def register_converters():
    """Register the ONNX converters of every public sknorm estimator with skl2onnx.

    Runs when :mod:`sknorm.onnx` is imported; calling it again does nothing.
    After it, :func:`skl2onnx.to_onnx` converts sknorm estimators and
    pipelines holding them.

    Returns
    -------
    estimators : list of type
        The estimator classes registered.

    Raises
    ------
    ImportError
        If skl2onnx is not installed.

    Examples
    --------
    >>> import sknorm.onnx
    >>> [cls.__name__ for cls in sknorm.onnx.register_converters()][:2]
    ['EmbeddingNormalizer', 'EmbeddingQuantizer']
    """
    global _registered
    skl2onnx = _skl2onnx()
    classes = _convertible_classes()
    if not _registered:
        for cls in classes:
            skl2onnx.update_registered_converter(
                cls, f"Sknorm{cls.__name__}", _shape_calculator, _converter
            )
        _registered = True
    return classes


def to_onnx(model, X=None, **kwargs):
    """Convert a fitted estimator or pipeline holding sknorm estimators to ONNX.

    Registers the converters (:func:`register_converters`) and calls
    :func:`skl2onnx.to_onnx`.

    Parameters
    ----------
    model : estimator or Pipeline
        Fitted model. sknorm estimators may appear anywhere skl2onnx accepts
        a transformer.
    X : ndarray of shape (n_samples, n_features), default=None
        Sample input: its dtype gives the graph's input type (float32,
        float64; integers are taken as float64 by sknorm estimators) and its
        number of columns the input's width. None needs ``initial_types``.
    **kwargs
        Passed to :func:`skl2onnx.to_onnx` (``initial_types``,
        ``target_opset`` (at least 13), ``options``, ...).

    Returns
    -------
    model : onnx.ModelProto

    Raises
    ------
    ValueError
        If a parameter value cannot be expressed in ONNX (``zero_rows="raise"``
        of :class:`~sknorm.Normalizer`), or the target opset is below 13.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> from sknorm import StandardScaler
    >>> from sknorm.onnx import to_onnx
    >>> X = np.array([[0.0, 1.0], [2.0, 5.0], [4.0, 9.0]], dtype=np.float32)
    >>> scaler = StandardScaler().fit(X)
    >>> model = to_onnx(scaler, X)
    >>> session = onnxruntime.InferenceSession(
    ...     model.SerializeToString(), providers=["CPUExecutionProvider"]
    ... )
    >>> session.run(None, {"X": X})[0]
    array([[-1.2247449, -1.2247449],
           [ 0.       ,  0.       ],
           [ 1.2247449,  1.2247449]], dtype=float32)
    """
    skl2onnx = _skl2onnx()
    register_converters()
    return skl2onnx.to_onnx(model, X, **kwargs)


# ---------------------------------------------------------------------------
# Families: which converter serves which estimator
# ---------------------------------------------------------------------------


def _convertible_classes():
    """Public estimator classes that a family below converts."""
    import sknorm

    classes = []
    for name in sknorm.__all__:
        obj = getattr(sknorm, name)
        if isinstance(obj, type) and _family(obj) is not None:
            classes.append(obj)
    return classes


def _family(cls):
    """The graph builder of an estimator class, found by inheritance.

    The quantile and power transformers are column scalers whose map is not
    affine: they come before ``_ColumnScaler``. They are looked up by name, so
    that this module serves the releases that have them and those that don't.
    """
    for base, build in (
        (getattr(scalers, "QuantileTransformer", None), _quantile_graph),
        (getattr(scalers, "PowerTransformer", None), _power_graph),
        (SquashingScaler, _squashing_graph),
        (_ColumnScaler, _column_scaler_graph),
        (_RowNormalizer, _row_normalizer_graph),
        (EmbeddingNormalizer, _embedding_normalizer_graph),
        (EmbeddingQuantizer, _quantizer_graph),
    ):
        if base is not None and issubclass(cls, base):
            return build
    return None


def _code_type(estimator):
    """ONNX element type name of the codes of a quantizer, else None."""
    if isinstance(estimator, EmbeddingQuantizer):
        return "INT8" if estimator.dtype == "int8" else "UINT8"
    return None


# ---------------------------------------------------------------------------
# skl2onnx hooks
# ---------------------------------------------------------------------------


def _check_estimator(estimator, n_features):
    """Validate the parameters and fit; return the number of input features."""
    estimator._validate_params()
    name = type(estimator).__name__
    if estimator.__sklearn_tags__().requires_fit:
        check_is_fitted(estimator)
    fitted = getattr(estimator, "n_features_in_", None)
    if fitted is not None and n_features is not None and n_features != fitted:
        raise ValueError(
            f"{name} was fitted on {fitted} features, but the ONNX input has "
            f"{n_features} columns."
        )
    n_features = fitted if fitted is not None else n_features
    if not isinstance(n_features, (int, np.integer)):
        raise ValueError(
            f"{name}: the ONNX graph needs the number of input features. Fit the "
            "estimator, or give an input type whose second dimension is known "
            "(initial_types=[('X', FloatTensorType([None, n_features]))])."
        )
    return int(n_features)


def _shape_calculator(operator):
    from skl2onnx.common import data_types

    estimator = operator.raw_operator
    name = type(estimator).__name__
    if len(operator.inputs) != 1:
        raise ValueError(
            f"{name} takes one input tensor in ONNX, got {len(operator.inputs)}: "
            "concatenate the columns first."
        )
    variable = operator.inputs[0]
    input_type = type(variable.type)
    float_types = (data_types.FloatTensorType, data_types.DoubleTensorType)
    int_types = (data_types.Int64TensorType, data_types.Int32TensorType)
    if input_type not in float_types + int_types:
        raise ValueError(
            f"{name} converts float or integer tensors to ONNX, got "
            f"{input_type.__name__}."
        )
    n_features = _check_estimator(estimator, variable.get_second_dimension())
    n_out = getattr(estimator, "n_features_out_", n_features)
    codes = _code_type(estimator)
    if codes is not None:
        output_type = {
            "INT8": data_types.Int8TensorType,
            "UINT8": data_types.UInt8TensorType,
        }[codes]
    elif input_type in int_types:
        output_type = data_types.DoubleTensorType  # sknorm maps integers to float64
    else:
        output_type = input_type
    operator.outputs[0].type = output_type([variable.get_first_dimension(), n_out])


def _converter(scope, operator, container):
    _convert(scope, operator, container, _family(type(operator.raw_operator)))


def _converter_for(build):
    """A converter that builds the graph with ``build``, whatever the class of
    the estimator: the graph builders read fitted attributes only, so this
    converts an estimator of another library that has them (the tests
    compare scikit-learn's transformers with the graphs this way)."""

    def converter(scope, operator, container):
        _convert(scope, operator, container, build)

    return converter


def _convert(scope, operator, container, build):
    """The graph of ``build`` between the cast of the input to float64 and the
    cast to the output type."""
    from onnx import TensorProto

    estimator = operator.raw_operator
    if container.target_opset < MIN_OPSET:
        raise ValueError(
            f"{type(estimator).__name__} converts to ONNX opset {MIN_OPSET} or "
            f"later, got target_opset={container.target_opset}."
        )
    graph = _Graph(scope, container)
    variable = operator.inputs[0]
    n_features = _check_estimator(estimator, variable.get_second_dimension())
    x = variable.full_name
    input_type = variable.type.to_onnx_type().tensor_type.elem_type
    if input_type != TensorProto.DOUBLE:
        x = graph.node("Cast", x, to=TensorProto.DOUBLE)
    result = build(graph, estimator, x, n_features)
    output = operator.outputs[0]
    output_type = output.type.to_onnx_type().tensor_type.elem_type
    if output_type == TensorProto.DOUBLE:
        graph.node("Identity", result, output=output.full_name)
    else:
        graph.node("Cast", result, output=output.full_name, to=output_type)


class _Graph:
    """Adds nodes and constants to the graph skl2onnx is building."""

    def __init__(self, scope, container):
        self.scope = scope
        self.container = container
        self.opset = container.target_opset

    def constant(self, value, dtype=np.float64):
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        name = self.scope.get_unique_variable_name("sknorm_constant")
        tensor = numpy_helper.from_array(array, name)
        self.container.add_initializer(name, tensor.data_type, array.shape, tensor)
        return name

    def node(self, op_type, *inputs, output=None, **attrs):
        """Add one node; float operands that are not names become constants."""
        names = [
            name if isinstance(name, str) else self.constant(name) for name in inputs
        ]
        output = output or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(
            op_type,
            names,
            [output],
            name=self.scope.get_unique_operator_name(op_type),
            **attrs,
        )
        return output

    def reduce(self, op_type, x, axis=-1):
        """Reduce the last axis, keeping it (axes became an input in opset 13
        for ReduceSum, in 18 for the others)."""
        dynamic_from = 13 if op_type == "ReduceSum" else 18
        if self.opset >= dynamic_from:
            axes = self.constant([axis], np.int64)
            return self.node(op_type, x, axes, keepdims=1)
        return self.node(op_type, x, axes=[axis], keepdims=1)

    def where(self, condition, when_true, when_false):
        return self.node("Where", condition, when_true, when_false)


def _unsupported(estimator, parameter, reason):
    value = getattr(estimator, parameter)
    return ValueError(
        f"{type(estimator).__name__}({parameter}={value!r}) cannot be converted to "
        f"ONNX: {reason}"
    )


# ---------------------------------------------------------------------------
# Column scalers: the affine map, then the clip range
# ---------------------------------------------------------------------------

_ONNX_UFUNCS = {np.multiply: "Mul", np.subtract: "Sub", np.add: "Add"}


def _affine_graph(graph, affine, x):
    """The steps of :meth:`AffineMap.transform_steps`, in order."""
    for ufunc, operand in affine.transform_steps():
        x = graph.node(_ONNX_UFUNCS[ufunc], x, operand)
    return x


def _clip_graph(graph, x, low, high):
    # Max and Min keep NaN, as numpy.clip does (Clip takes scalar bounds only).
    return graph.node("Min", graph.node("Max", x, low), high)


def _column_scaler_graph(graph, estimator, x, n_features):
    x = _affine_graph(graph, estimator._affine_map(), x)
    if estimator.clip:
        x = _clip_graph(graph, x, *estimator._clip_range())
    return x


def _squashing_graph(graph, estimator, x, n_features):
    """The affine map, 0 for the finite values of constant features, then
    ``z / hypot(1, z / B)``, ``+/-inf`` to ``+/-B`` (as ``transform``)."""
    affine, constant = estimator._fitted_map()
    bound = float(estimator.max_absolute_value)
    z = _affine_graph(graph, affine, x)
    if constant.any():
        finite = graph.node(
            "Not", graph.node("Or", graph.node("IsInf", z), graph.node("IsNaN", z))
        )
        zero = graph.node("And", graph.constant(constant, dtype=bool), finite)
        z = graph.where(zero, 0.0, z)
    # Infinite inputs give +/-inf whatever the center and scale.
    infinite_input = graph.node("IsInf", x)
    z = graph.where(infinite_input, graph.node("Mul", graph.node("Sign", x), np.inf), z)
    magnitude = graph.node("Div", graph.node("Abs", z), bound)
    squashed = graph.node("Div", z, _hypot_graph(graph, magnitude, 1.0))
    edge = graph.node("Mul", graph.node("Sign", z), bound)
    return graph.where(graph.node("IsInf", z), edge, squashed)


# ---------------------------------------------------------------------------
# Row normalizers: the row rule on every group of columns
# ---------------------------------------------------------------------------


def _row_normalizer_graph(graph, estimator, x, n_features):
    if isinstance(estimator, Normalizer) and estimator.zero_rows == "raise":
        raise _unsupported(
            estimator,
            "zero_rows",
            "an ONNX graph cannot raise on all-zero rows. Convert a copy with "
            "zero_rows='keep' (such rows then stay zero) and check the rows "
            "before inference.",
        )
    rule = estimator._rule()
    if rule.is_identity:
        return x
    groups = estimator._groups(
        n_features, getattr(estimator, "feature_names_in_", None)
    )
    factors = estimator._factors(len(groups))
    return _grouped_rows_graph(graph, x, rule, groups, factors, n_features)


def _grouped_rows_graph(graph, x, rule, groups, factors, n_features):
    """Apply ``rule`` to each group of columns of each row; other columns pass.

    Groups of one size form one ``(n_rows, n_groups, size)`` tensor (the
    buckets of the dense kernel), reduced along its last axis; the pieces are
    concatenated and put back in column order.
    """
    pieces, order = [], []
    for ids, columns in _dense_layout(groups):
        index = np.atleast_2d(np.arange(n_features)[columns])  # (k, size)
        k, size = index.shape
        segment = x
        if not np.array_equal(index.ravel(), np.arange(n_features)):
            segment = graph.node(
                "Gather", x, graph.constant(index.ravel(), np.int64), axis=1
            )
        if k > 1:
            segment = graph.node(
                "Reshape", segment, graph.constant([-1, k, size], np.int64)
            )
        factor = None if factors is None else factors[ids].reshape(k, 1)
        result = _row_rule_graph(graph, segment, rule, factor, size)
        if k > 1:
            result = graph.node(
                "Reshape", result, graph.constant([-1, k * size], np.int64)
            )
        pieces.append(result)
        order.append(index.ravel())
    passed = np.setdiff1d(np.arange(n_features), np.concatenate(order))
    if passed.size:
        pieces.append(graph.node("Gather", x, graph.constant(passed, np.int64), axis=1))
        order.append(passed)
    result = pieces[0] if len(pieces) == 1 else graph.node("Concat", *pieces, axis=1)
    order = np.concatenate(order)
    if not np.array_equal(order, np.arange(n_features)):
        inverse = np.argsort(order)
        result = graph.node("Gather", result, graph.constant(inverse, np.int64), axis=1)
    return result


def _row_rule_graph(graph, x, rule, factor, size):
    """The robust path of the row kernel (``_scaled_segment`` and
    ``_RowRule.multiplier`` of ``sknorm.rows._kernels``) on segments along
    the last axis of ``x``.

    Each segment is divided by its largest absolute value ``m`` first, so no
    power overflows or underflows; NaN is ignored in every statistic and kept
    in the output.
    """
    from onnx import TensorProto

    missing = graph.node("IsNaN", x)
    x_known = graph.where(missing, 0.0, x)
    m = graph.reduce("ReduceMax", graph.node("Abs", x_known))
    zero = graph.node("Not", graph.node("Greater", m, 0.0))
    m = graph.where(zero, 1.0, m)
    y = graph.node("Div", x, m)
    y_known = graph.node("Div", x_known, m)
    if rule.per_value or rule.about_mean:
        n_missing = graph.reduce(
            "ReduceSum", graph.node("Cast", missing, to=TensorProto.DOUBLE)
        )
        count = graph.node("Sub", float(size), n_missing)
        # Sums over no value are 0, so dividing them by 1 gives sknorm's 0.
        divisor = graph.node("Max", count, 1.0)
    center = None
    z, z_known = y, y_known
    if rule.about_mean:
        center = graph.node("Div", graph.reduce("ReduceSum", y_known), divisor)
        z = graph.node("Sub", y, center)
        z_known = graph.where(missing, 0.0, z)
    if rule.p == 2:
        power_sums = graph.reduce("ReduceSumSquare", z_known)
    elif rule.p == np.inf:
        power_sums = graph.reduce("ReduceMax", graph.node("Abs", z_known))
    else:
        powers = graph.node("Abs", z_known)
        if rule.p != 1:
            powers = graph.node("Pow", powers, rule.p)
        power_sums = graph.reduce("ReduceSum", powers)
    if rule.per_value and rule.p != np.inf:
        power_sums = graph.node("Div", power_sums, divisor)
    if rule.p == 2:
        spread = graph.node("Sqrt", power_sums)
    elif rule.p in (1, np.inf):
        spread = power_sums
    else:
        spread = graph.node("Pow", power_sums, 1.0 / rule.p)
    spread = graph.where(zero, 0.0, spread)
    values = z if rule.subtract_mean else y
    g = _multiplier_graph(graph, rule, m, zero, center, spread)
    if factor is not None:
        g = graph.node("Mul", g, factor)
    return graph.node("Mul", values, g)


def _multiplier_graph(graph, rule, m, zero, center, spread):
    """``_RowRule.multiplier``: the factor ``g`` of ``(y - center) * g``."""
    if not rule.scale:
        return m
    if rule.floor == "max":
        g = graph.node("Reciprocal", graph.where(zero, 1.0, spread))
        if rule.eps > 0:
            small = graph.node("Less", graph.node("Mul", m, spread), rule.eps)
            below = graph.node("And", graph.node("Not", zero), small)
            g = graph.where(below, graph.node("Div", m, rule.eps), g)
        return g
    spread_x = graph.node("Mul", m, spread)
    if rule.eps > 0:
        divisor = _hypot_graph(graph, spread_x, np.sqrt(rule.eps))
    else:
        # safe_scale: a spread within the moments' rounding error of the
        # segment's mean is none (divisor 1).
        threshold = 0.0
        if center is not None:
            magnitude = graph.node("Abs", graph.node("Mul", m, center))
            threshold = graph.node("Mul", magnitude, Moments.spread_rounding)
        varies = graph.node("Greater", spread_x, threshold)
        divisor = graph.where(varies, spread_x, 1.0)
        g = graph.node("Div", m, divisor)
        # Below the normal range m * spread has lost bits; in units of y,
        # where m cancels, the spread has them all (rows._kernels).
        threshold_y = 0.0
        if center is not None:
            magnitude_y = graph.node("Abs", center)
            threshold_y = graph.node("Mul", magnitude_y, Moments.spread_rounding)
        varies_y = graph.node("Greater", spread, threshold_y)
        in_units = graph.where(
            varies_y, graph.node("Reciprocal", graph.where(varies_y, spread, 1.0)), m
        )
        below = graph.node("Less", spread_x, float(np.finfo(np.float64).tiny))
        return graph.where(below, in_units, g)
    return graph.node("Div", m, divisor)


def _hypot_graph(graph, a, b):
    """``hypot(a, b)`` for ``a >= 0`` and a constant ``b > 0``, without
    squaring the larger one (which could overflow)."""
    high = graph.node("Max", a, b)
    ratio = graph.node("Div", graph.node("Min", a, b), high)
    root = graph.node("Sqrt", graph.node("Add", graph.node("Mul", ratio, ratio), 1.0))
    return graph.node("Mul", high, root)


# ---------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------


def _embedding_normalizer_graph(graph, estimator, x, n_features):
    if estimator.input_norm == "l2":
        rule = Normalizer(norm="l2", eps=estimator.eps)._rule()
        x = _row_rule_graph(graph, x, rule, None, n_features)
    x = graph.node("Sub", x, estimator.mean_)
    if estimator._is_selection():
        if estimator.n_features_out_ < n_features:
            kept = np.arange(estimator.n_features_out_)
            x = graph.node("Gather", x, graph.constant(kept, np.int64), axis=1)
    else:
        x = graph.node("MatMul", x, estimator.projection_)
    if estimator.norm == "l2":
        rule = Normalizer(norm="l2", eps=estimator.eps)._rule()
        x = _row_rule_graph(graph, x, rule, None, estimator.n_features_out_)
    return x


def _quantizer_graph(graph, estimator, x, n_features):
    from .embedding._quantizer import _CODE_OFFSET, _N_LEVELS

    if estimator.dtype == "binary":
        bits = graph.node("Greater", x, estimator.center_)
        return _packed_bits_graph(graph, bits, n_features)
    prescale = estimator._prescale()
    if (prescale != 1).any():
        x = graph.node("Mul", x, prescale)
    x = _affine_graph(graph, estimator._bins(prescale), x)
    x = graph.node("Floor", _clip_graph(graph, x, 0.0, _N_LEVELS - 1.0))
    if _CODE_OFFSET[estimator.dtype]:
        x = graph.node("Add", x, float(_CODE_OFFSET[estimator.dtype]))
    return x  # exact integers, cast to the codes' type by the converter


def _packed_bits_graph(graph, bits, n_bits):
    """``numpy.packbits(bits, axis=1)``: big-endian bytes, the last padded with
    zeros, as int32 byte values (cast to uint8 by the converter)."""
    from onnx import TensorProto

    n_bytes = -(-n_bits // 8)
    bits = graph.node("Cast", bits, to=TensorProto.INT32)
    if 8 * n_bytes > n_bits:
        pads = graph.constant([0, 0, 0, 8 * n_bytes - n_bits], np.int64)
        bits = graph.node("Pad", bits, pads)
    bits = graph.node("Reshape", bits, graph.constant([-1, n_bytes, 8], np.int64))
    weighted = graph.node(
        "Mul", bits, graph.constant(1 << np.arange(7, -1, -1), np.int32)
    )
    packed = graph.reduce("ReduceSum", weighted)
    return graph.node("Reshape", packed, graph.constant([-1, n_bytes], np.int64))


# ---------------------------------------------------------------------------
# Quantile transformers: interpolation between the fitted quantiles
# ---------------------------------------------------------------------------

#: scikit-learn's ``BOUNDS_THRESHOLD`` (``sklearn.preprocessing._data``): how
#: close to the first and last quantile a value maps to 0 and 1 (normal output).
_BOUNDS_THRESHOLD = 1e-7


def _quantile_graph(graph, estimator, x, n_features):
    """scikit-learn's ``QuantileTransformer._transform_col``, forward.

    With ``j`` the rightmost quantile ``<= x`` and ``i`` the leftmost ``>= x``
    (per column), ``np.interp(x, quantiles, references)`` is
    ``r[j] + s[j] * (x - q[j])`` and the mirrored interpolation of
    ``-x`` is, negated, ``r[i] - s[i-1] * (q[i] - x)`` (``s`` the slopes
    ``diff(r) / diff(q)``), each with ``np.interp``'s cases at the ends, on a
    quantile and for a NaN product; the value is the mean of the two. The
    graph runs these float64 operations in numpy's order, so it gives the
    same value. ``j`` and ``i`` come from the counts of quantiles ``<= x`` and
    ``< x``, found by binary search.
    """
    quantiles = np.asarray(estimator.quantiles_, dtype=np.float64).T  # (F, n)
    references = np.asarray(estimator.references_, dtype=np.float64)
    n = quantiles.shape[1]
    first, last = quantiles[:, 0], quantiles[:, -1]
    if n == 1:
        # np.interp on one point gives its reference (0) everywhere.
        u = graph.constant(references[0])
    else:
        u = _interpolation_graph(graph, x, quantiles, references)
    if estimator.output_distribution == "normal":
        high = graph.node("Greater", graph.node("Add", x, _BOUNDS_THRESHOLD), last)
        low = graph.node("Less", graph.node("Sub", x, _BOUNDS_THRESHOLD), first)
    else:
        high = graph.node("Equal", x, last)
        low = graph.node("Equal", x, first)
    # The lower bound wins where both hold, as in scikit-learn (set last).
    u = graph.where(low, 0.0, graph.where(high, 1.0, u))
    if estimator.output_distribution == "normal":
        from scipy import stats

        # scikit-learn's clip range, which keeps the output finite.
        edge = _BOUNDS_THRESHOLD - np.spacing(1)
        clip_range = stats.norm.ppf(edge), stats.norm.ppf(1 - edge)
        u = _clip_graph(graph, _ndtri_graph(graph, u), *clip_range)
    return graph.where(graph.node("IsNaN", x), x, u)


def _interpolation_graph(graph, x, quantiles, references):
    """The mean of the two ``np.interp`` of :func:`_quantile_graph`, for
    ``n >= 2`` quantiles per column (rows of ``quantiles``)."""
    n_features, n = quantiles.shape
    # One table of all columns' quantiles, each padded with +inf to a power
    # of two for the binary search; the slopes in the same layout.
    width = 1 << n.bit_length()
    table = np.full((n_features, width), np.inf)
    table[:, :n] = quantiles
    with np.errstate(all="ignore"):
        # np.interp's slopes, inf or 0 where the quantiles' gap is below or
        # beyond the float64 range; those of repeated quantiles are unused.
        slopes = np.zeros((n_features, width))
        slopes[:, : n - 1] = np.diff(references) / np.diff(quantiles, axis=1)
    offsets = graph.constant(np.arange(n_features) * width, np.int64)
    tables = {
        "q": graph.constant(table.ravel()),
        "s": graph.constant(slopes.ravel()),
        "r": graph.constant(references),
    }

    def gather(name, index):
        if name != "r":
            index = graph.node("Add", index, offsets)
        return graph.node("Gather", tables[name], index, axis=0)

    def clamp(index, low, high):
        index = graph.node("Max", index, graph.constant(low, np.int64))
        return graph.node("Min", index, graph.constant(high, np.int64))

    def plus(index, k):
        return graph.node("Add", index, graph.constant(k, np.int64))

    def equal_count(count, value):
        return graph.node("Equal", count, graph.constant(value, np.int64))

    at_most = _count_graph(graph, x, table, "LessOrEqual", gather, plus, n)
    below = _count_graph(graph, x, table, "Less", gather, plus, n)
    r_first, r_last = float(references[0]), float(references[-1])

    # Rightmost quantile <= x: segment j of np.interp(x, q, r).
    j = clamp(plus(at_most, -1), 0, n - 2)
    q_j, q_next = gather("q", j), gather("q", plus(j, 1))
    r_j, r_next = gather("r", j), gather("r", plus(j, 1))
    slope = gather("s", j)
    a = graph.node("Add", graph.node("Mul", slope, graph.node("Sub", x, q_j)), r_j)
    # np.interp's retry from the other end of the segment where the product
    # is NaN (0 * inf with quantiles at the ends of the float64 range). Its
    # last resort, for equal references, cannot arise: references increase.
    retry = graph.node(
        "Add", graph.node("Mul", slope, graph.node("Sub", x, q_next)), r_next
    )
    a = graph.where(graph.node("IsNaN", a), retry, a)
    a = graph.where(graph.node("Equal", q_j, x), r_j, a)
    a = graph.where(equal_count(at_most, n), r_last, a)
    a = graph.where(equal_count(at_most, 0), r_first, a)

    # Leftmost quantile >= x: np.interp(-x, -q[::-1], -r[::-1]) negated, its
    # operations mirrored exactly (negation is exact).
    i = clamp(below, 1, n - 1)
    q_i, q_previous = gather("q", i), gather("q", plus(i, -1))
    r_i, r_previous = gather("r", i), gather("r", plus(i, -1))
    slope = gather("s", plus(i, -1))
    b = graph.node("Sub", r_i, graph.node("Mul", slope, graph.node("Sub", q_i, x)))
    retry = graph.node(
        "Sub", r_previous, graph.node("Mul", slope, graph.node("Sub", q_previous, x))
    )
    b = graph.where(graph.node("IsNaN", b), retry, b)
    b = graph.where(graph.node("Equal", q_i, x), r_i, b)
    b = graph.where(equal_count(below, n), r_last, b)
    b = graph.where(equal_count(below, 0), r_first, b)
    return graph.node("Mul", graph.node("Add", a, b), 0.5)


def _count_graph(graph, x, table, comparison, gather, plus, n):
    """Per value of ``x``, how many of its column's quantiles ``q`` satisfy
    ``comparison(q, x)`` (``Less``, ``LessOrEqual``): a binary search over
    the rows of ``table`` (sorted, padded with +inf), one gather per halving.

    NaN counts none; +inf counts the padding too for ``LessOrEqual``, hence
    the final minimum with ``n``.
    """
    count = None
    for step in (1 << k for k in reversed(range(n.bit_length()))):
        if count is None:
            # The first probe is the same for every row: a constant per column.
            below = graph.node(comparison, table[:, step - 1], x)
            count = graph.where(
                below, graph.constant(step, np.int64), graph.constant(0, np.int64)
            )
            continue
        candidate = plus(count, step)
        below = graph.node(comparison, gather("q", plus(candidate, -1)), x)
        count = graph.where(below, candidate, count)
    return graph.node("Min", count, graph.constant(n, np.int64))


#: Wichura's AS241 (PPND16) rational approximations of the inverse normal
#: CDF, relative error about 1e-16: numerator and denominator coefficients,
#: lowest degree first, for the central region ``|p - 1/2| <= 0.425`` and for
#: the tails at ``r = sqrt(-log(min(p, 1 - p)))`` up to 5 and beyond.
_AS241 = {
    "central": (
        (
            3.3871328727963666080e0,
            1.3314166789178437745e2,
            1.9715909503065514427e3,
            1.3731693765509461125e4,
            4.5921953931549871457e4,
            6.7265770927008700853e4,
            3.3430575583588128105e4,
            2.5090809287301226727e3,
        ),
        (
            1.0,
            4.2313330701600911252e1,
            6.8718700749205790830e2,
            5.3941960214247511077e3,
            2.1213794301586595867e4,
            3.9307895800092710610e4,
            2.8729085735721942674e4,
            5.2264952788528545610e3,
        ),
    ),
    "intermediate": (
        (
            1.42343711074968357734e0,
            4.63033784615654529590e0,
            5.76949722146069140550e0,
            3.64784832476320460504e0,
            1.27045825245236838258e0,
            2.41780725177450611770e-1,
            2.27238449892691845833e-2,
            7.74545014278341407640e-4,
        ),
        (
            1.0,
            2.05319162663775882187e0,
            1.67638483018380384940e0,
            6.89767334985100004550e-1,
            1.48103976427480074590e-1,
            1.51986665636164571966e-2,
            5.47593808499534494600e-4,
            1.05075007164441684324e-9,
        ),
    ),
    "far": (
        (
            6.65790464350110377720e0,
            5.46378491116411436990e0,
            1.78482653991729133580e0,
            2.96560571828504891230e-1,
            2.65321895265761230930e-2,
            1.24266094738807843860e-3,
            2.71155556874348757815e-5,
            2.01033439929228813265e-7,
        ),
        (
            1.0,
            5.99832206555887937690e-1,
            1.36929880922735805310e-1,
            1.48753612908506148525e-2,
            7.86869131145613259100e-4,
            1.84631831751005468180e-5,
            1.42151175831644588870e-7,
            2.04426310338993978564e-15,
        ),
    ),
}


def _ndtri_graph(graph, p):
    """The inverse of the standard normal CDF (``scipy.special.ndtri``) by
    Wichura's AS241: ``-inf`` at 0, ``inf`` at 1, NaN outside ``[0, 1]``.

    Within 17 eps relative of the exact value, a priori: each rational is
    two Horner evaluations of positive coefficients at a non-negative
    argument (7 eps each), plus the roundings of its argument and AS241's
    1e-16 (2.9 eps measured against mpmath). Every region is computed for
    every value and the right one selected, so the tails' logarithm is taken
    of ``max(min(p, 1 - p), 5e-324)`` (finite).
    """

    def rational(region, t):
        numerator, denominator = _AS241[region]
        return graph.node(
            "Div",
            _horner_graph(graph, numerator, t),
            _horner_graph(graph, denominator, t),
        )

    q = graph.node("Sub", p, 0.5)
    central = graph.node(
        "Mul",
        q,
        rational("central", graph.node("Sub", 0.180625, graph.node("Mul", q, q))),
    )
    tail = graph.node("Min", p, graph.node("Sub", 1.0, p))
    r = graph.node(
        "Sqrt",
        graph.node("Neg", graph.node("Log", graph.node("Max", tail, 5e-324))),
    )
    magnitude = graph.where(
        graph.node("LessOrEqual", r, 5.0),
        rational("intermediate", graph.node("Sub", r, 1.6)),
        rational("far", graph.node("Sub", r, 5.0)),
    )
    magnitude = graph.where(graph.node("Equal", tail, 0.0), np.inf, magnitude)
    signed = graph.where(
        graph.node("Less", q, 0.0), graph.node("Neg", magnitude), magnitude
    )
    z = graph.where(
        graph.node("LessOrEqual", graph.node("Abs", q), 0.425), central, signed
    )
    outside = graph.node(
        "Or", graph.node("Less", p, 0.0), graph.node("Greater", p, 1.0)
    )
    return graph.where(outside, np.nan, z)


def _horner_graph(graph, coefficients, t):
    """``sum(c[k] * t ** k)`` by Horner's rule, highest degree first."""
    value = graph.constant(coefficients[-1])
    for c in reversed(coefficients[:-1]):
        value = graph.node("Add", graph.node("Mul", value, t), c)
    return value


# ---------------------------------------------------------------------------
# Power transformers: Yeo-Johnson or Box-Cox per column, then standardization
# ---------------------------------------------------------------------------


def _power_graph(graph, estimator, x, n_features):
    """The power transform of each column, then the fitted standardization.

    sknorm's :class:`~sknorm.scalers.PowerTransformer` evaluates its fitted
    map (``_power_map``: the standardization folded into per-side constants,
    so that nothing cancels); the graph runs the same operations. Otherwise
    (scikit-learn's, or an object with its attributes): ``scipy.stats.
    yeojohnson`` or ``scipy.special.boxcox`` per column with ``lambdas_``,
    then ``_scaler``'s standardization.

    Both maps are ``expm1(l * log1p(x)) / l`` (``log`` for Box-Cox) at heart;
    with :func:`_log1p_graph` and :func:`_expm1_graph` (a few ulps each, from
    ``Log`` and ``Exp``) the relative difference from numpy's is a few eps
    times ``1 + max(l * log1p(x), 0)``, the condition of ``expm1`` (derived in
    ``tests/test_onnx_transformers.py``).
    """
    power_map = getattr(estimator, "_power_map", None)
    if power_map is not None:
        return _fitted_power_map_graph(graph, power_map(), x)
    lambdas = np.asarray(estimator.lambdas_, dtype=np.float64)
    if estimator.method == "box-cox":
        y = _box_cox_graph(graph, x, lambdas)
    else:
        y = _yeo_johnson_graph(graph, x, lambdas)
    if not estimator.standardize:
        return y
    scaler = estimator._scaler
    if isinstance(scaler, _ColumnScaler):
        return _column_scaler_graph(graph, scaler, y, n_features)
    # scikit-learn's StandardScaler.transform: subtract, then divide.
    if scaler.with_mean:
        y = graph.node("Sub", y, np.asarray(scaler.mean_, dtype=np.float64))
    if scaler.with_std:
        y = graph.node("Div", y, np.asarray(scaler.scale_, dtype=np.float64))
    return y


def _fitted_power_map_graph(graph, power_map, x):
    """sknorm's ``_PowerMap.transform_block``: with ``L = log x`` (Box-Cox)
    or ``log1p|x|`` (Yeo-Johnson; side 1 where ``x < 0``), ``gain *
    expm1(rate * (L - center)) + offset`` with the operands of the value's
    side (``L - center`` for ``expm1`` where the map is the logarithm's
    limit). Box-Cox of ``x <= 0``, which ``transform`` rejects, gives NaN."""
    if power_map.box_cox:
        side = None
        logs = graph.node("Log", x)
    else:
        side = graph.node("Less", x, 0.0)
        logs = _log1p_graph(graph, graph.node("Abs", x))

    def operand(name):
        values = np.asarray(getattr(power_map, name), dtype=np.float64)
        if side is None or np.array_equal(values[0], values[1], equal_nan=True):
            return values[0]
        return graph.where(side, values[1], values[0])

    d = graph.node("Sub", logs, operand("center"))
    u = _expm1_graph(graph, graph.node("Mul", d, operand("rate")))
    limit = np.asarray(power_map.log_limit, dtype=bool)
    if limit.any():
        sides = [
            graph.where(graph.constant(limit[k], bool), d, u) if limit[k].any() else u
            for k in (0, 1)
        ]
        u = sides[0] if side is None else graph.where(side, sides[1], sides[0])
    z = graph.node("Add", graph.node("Mul", u, operand("gain")), operand("offset"))
    if power_map.box_cox:
        z = graph.where(graph.node("Greater", x, 0.0), z, np.nan)
    return z


def _yeo_johnson_graph(graph, x, lambdas):
    """``scipy.stats._morestats._yeojohnson_transform``: for ``x >= 0``,
    ``expm1(l * log1p(x)) / l`` (``log1p(x)`` where ``|l| < eps``); below,
    the same of ``-x`` with ``2 - l``, negated (``-log1p(-x)`` where
    ``|l - 2| <= eps``). NaN takes the second branch and stays NaN."""
    eps = np.finfo(np.float64).eps
    positive = graph.node("GreaterOrEqual", x, 0.0)
    t = _log1p_graph(graph, graph.node("Abs", x))
    by_log = [np.abs(lambdas) < eps, ~(np.abs(lambdas - 2) > eps)]
    exponents = [
        np.where(by_log[0], 1.0, lambdas),
        np.where(by_log[1], 1.0, 2 - lambdas),
    ]
    exponent = graph.where(positive, *exponents)
    y = graph.node("Div", _expm1_graph(graph, graph.node("Mul", exponent, t)), exponent)
    branches = [y, y]
    for k in (0, 1):
        if by_log[k].any():
            branches[k] = graph.where(graph.constant(by_log[k], bool), t, y)
    return graph.where(positive, branches[0], graph.node("Neg", branches[1]))


def _box_cox_graph(graph, x, lambdas):
    """``scipy.special.boxcox``: ``log(x)`` where ``|l| < 1e-19``,
    ``expm1(l * log(x)) / l`` while ``l * log(x) < 709.78``, beyond
    ``sign(l) * exp(l * log(x) - log|l|) - 1 / l`` (finite where ``x ** l``
    overflows). ``transform`` rejects ``x <= 0``; a graph cannot raise, so it
    gives NaN there."""
    by_log = np.abs(lambdas) < 1e-19
    safe = np.where(by_log, 1.0, lambdas)
    log_x = graph.node("Log", x)
    w = graph.node("Mul", log_x, safe)
    y = graph.node("Div", _expm1_graph(graph, w), safe)
    with np.errstate(divide="ignore"):
        shift = np.log(np.abs(safe))
    large = graph.node(
        "Sub",
        graph.node(
            "Mul",
            graph.node("Exp", graph.node("Sub", w, shift)),
            np.copysign(1.0, safe),
        ),
        1.0 / safe,
    )
    y = graph.where(graph.node("Less", w, 709.78), y, large)
    if by_log.any():
        y = graph.where(graph.constant(by_log, bool), log_x, y)
    return graph.where(graph.node("Greater", x, 0.0), y, np.nan)


def _log1p_graph(graph, a):
    """``log(1 + a)`` for ``a >= 0`` (or NaN, +inf) as
    ``log(u) * (a / (u - 1))`` with ``u = 1 + a`` rounded, ``a`` where ``u`` is
    1 (Goldberg 1991, theorem 4): the rounding of ``u`` cancels in the ratio,
    leaving ``Log``'s error (onnxruntime: 1 ulp from the correctly rounded
    value) and three roundings, under 4 eps relative."""
    u = graph.node("Add", a, 1.0)
    d = graph.node("Sub", u, 1.0)
    exact = graph.node("Equal", d, 0.0)
    ratio = graph.node("Div", a, graph.where(exact, 1.0, d))
    value = graph.where(exact, a, graph.node("Mul", graph.node("Log", u), ratio))
    return graph.where(graph.node("IsInf", a), a, value)


def _expm1_graph(graph, w):
    """``exp(w) - 1`` as ``(u - 1) * (w / log(u))`` with ``u = exp(w)``
    rounded, ``w`` where ``u`` is 1 and -1 where ``u`` is 0 (Kahan's; Higham,
    *Accuracy and Stability of Numerical Algorithms*, 2nd ed., section 1.14.1):
    ``(u - 1) / log(u)`` is well conditioned in ``u``, leaving ``Exp``'s and
    ``Log``'s errors (1 ulp each from the correctly rounded value) and three
    roundings, under 5 eps relative. Overflow gives inf."""
    u = graph.node("Exp", w)
    d = graph.node("Sub", u, 1.0)
    exact = graph.node("Equal", d, 0.0)
    ratio = graph.node("Div", w, graph.where(exact, 1.0, graph.node("Log", u)))
    value = graph.where(exact, w, graph.node("Mul", d, ratio))
    value = graph.where(graph.node("Equal", d, -1.0), -1.0, value)
    return graph.where(graph.node("IsInf", u), u, value)


# Registered on import, so that ``import sknorm.onnx`` is all skl2onnx.to_onnx
# needs. Without skl2onnx the module still imports (for the documentation);
# its functions raise ImportError.
with contextlib.suppress(ImportError):
    register_converters()
