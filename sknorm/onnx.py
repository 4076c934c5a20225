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
  (int8, uint8 codes), or comparison and bit packing (binary).

Like ``transform``, the graph computes in float64 whatever the input's float
dtype and rounds once to it at the end; row statistics ignore NaN as sknorm's
do. What a graph cannot do (raise on bad rows) raises at conversion instead.
"""

import contextlib

import numpy as np
from sklearn.utils.validation import check_is_fitted

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
    """The graph builder of an estimator class, found by inheritance."""
    for base, build in (
        (SquashingScaler, _squashing_graph),
        (_ColumnScaler, _column_scaler_graph),
        (_RowNormalizer, _row_normalizer_graph),
        (EmbeddingNormalizer, _embedding_normalizer_graph),
        (EmbeddingQuantizer, _quantizer_graph),
    ):
        if issubclass(cls, base):
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
    result = _family(type(estimator))(graph, estimator, x, n_features)
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


# Registered on import, so that ``import sknorm.onnx`` is all skl2onnx.to_onnx
# needs. Without skl2onnx the module still imports (for the documentation);
# its functions raise ImportError.
with contextlib.suppress(ImportError):
    register_converters()
