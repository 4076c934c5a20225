"""Array API namespaces: the one place sknorm handles torch, CuPy and friends.

With ``sklearn.set_config(array_api_dispatch=True)``, input that is an array of
a non-numpy array API library (a ``torch.Tensor``, a CuPy array, an
``array_api_strict`` array) is validated, reduced and transformed with that
library's functions, on the array's device. Everything else (numpy arrays,
array-likes, DataFrames, sparse matrices, dask collections) takes the numpy
code path, which does not look at the configuration at all: numpy input pays
nothing for this module.

The rules, stated once here and followed by validation, the statistics and
the maps:

* **Where.** Per-element work (reductions of the statistics, the affine map,
  the row kernel, the linear map of the embedding normalizer, quantization)
  runs in the input's namespace on its device. Only per-feature results
  (``n_features`` numbers, or a ``d x d`` matrix) cross to the host, where the
  statistics keep their numpy states: they are merged, pickled and sent over
  Dask as before.
* **Precision.** Device work accumulates in the device's most precise float
  dtype (:func:`max_precision_float_dtype`: float64 where the device has it).
  A device without float64 (torch on Apple MPS) computes the statistics that
  accumulate (moments, covariance) on the host from one copy of the data, so
  that they stay exact; the maps then run on the device in float32.
* **Fallbacks.** Statistics without a device kernel (quantiles, quantile
  sketches), unequal ``sample_weight`` for moments and covariance, and the
  columns a device reduction flags (NaN, infinity, magnitudes whose squares
  over- or underflow) are computed on the host by the numpy code from a
  copy of the data (of those columns only, for flagged columns).
* **Results.** Fitted array attributes are moved to the input's namespace and
  device (floats in the device's most precise float dtype, as numpy input
  gives float64); outputs keep the input's float dtype.

Helpers of scikit-learn's ``sklearn.utils._array_api`` are used where they
exist in every supported scikit-learn (1.6 and later); what older releases
lack (``check_same_namespace``) is provided here.
"""

import numpy as np
from scipy import sparse
from sklearn import config_context, get_config
from sklearn.utils import _array_api as _sklearn_array_api

__all__ = [
    "DeviceData",
    "Namespace",
    "check_same_namespace",
    "host_view",
    "is_device_array",
    "max_precision_float_dtype",
    "move_fitted_arrays",
    "namespace_of",
    "to_numpy",
]

#: Values of a row block reduced at once on a device (128 MiB of float64):
#: bounds the float64 working copy of float32 input, large enough that the
#: per-block overhead of a kernel launch is negligible.
DEVICE_BLOCK_ELEMENTS = 1 << 24


def _compat():
    """The array-api-compat module scikit-learn uses (vendored since 1.7)."""
    try:
        from sklearn.externals import array_api_compat
    except ImportError:  # pragma: no cover - scikit-learn < 1.7
        import array_api_compat
    return array_api_compat


def max_precision_float_dtype(xp, device):
    """The most precise float dtype of ``device`` (float64 unless it lacks it).

    The statistics accumulate in it; a device whose answer is float32 gets the
    host rule of the module docstring.
    """
    return _sklearn_array_api._max_precision_float_dtype(xp, device)


def is_device_array(value):
    """Whether ``value`` is an array of a non-numpy array library."""
    if isinstance(value, (np.ndarray, np.generic)) or value is None:
        return False
    if not hasattr(value, "__dlpack__") and not hasattr(value, "__array_namespace__"):
        return False
    compat = _compat()
    return compat.is_array_api_obj(value) and not compat.is_numpy_array(value)


class Namespace:
    """An array namespace and device, with the conversions sknorm needs.

    Parameters
    ----------
    xp : module
        The (array-api-compat wrapped) namespace.
    device : device
        Where the input lives.
    """

    __slots__ = ("device", "float_dtype", "xp")

    def __init__(self, xp, device):
        self.xp = xp
        self.device = device
        self.float_dtype = max_precision_float_dtype(xp, device)

    @property
    def has_float64(self):
        """Whether the device computes in float64."""
        return self.float_dtype == self.xp.float64

    def asarray(self, values, dtype=None):
        """Host values on the device; floats in ``dtype`` (default: the
        device's most precise float dtype)."""
        values = np.asarray(values)
        if dtype is None and values.dtype.kind == "f":
            dtype = self.float_dtype
        if dtype is not None and dtype == self.xp.float32:
            values = values.astype(np.float32)  # never ask a device for float64
        if not values.flags.writeable:  # broadcast views: torch wants its own
            values = values.copy()
        return self.xp.asarray(values, dtype=dtype, device=self.device)

    def default_float(self):
        """The namespace's default float dtype on the device (integer input
        becomes it)."""
        return self.xp.asarray(0.0, device=self.device).dtype

    def take_columns(self, X, columns):
        """``X[:, columns]`` for host integer ``columns``."""
        index = self.xp.asarray(np.asarray(columns, dtype=np.int64), device=self.device)
        return self.xp.take(X, index, axis=1)

    def take_rows(self, X, rows):
        """``X[rows]`` for host integer ``rows``."""
        index = self.xp.asarray(np.asarray(rows, dtype=np.int64), device=self.device)
        return self.xp.take(X, index, axis=0)


def namespace_of(X):
    """The :class:`Namespace` of ``X`` if it takes the array API path, else None.

    Only with ``array_api_dispatch=True`` and an array of a non-numpy array
    library (dask arrays excepted: they have their own path). numpy arrays,
    lists and sparse matrices return at once, without reading the
    configuration.
    """
    if isinstance(X, (np.ndarray, list, tuple)) or sparse.issparse(X):
        return None
    if not get_config()["array_api_dispatch"] or not is_device_array(X):
        return None
    if _compat().is_dask_array(X):
        return None
    xp, _, device = _sklearn_array_api.get_namespace_and_device(X)
    return Namespace(xp, device)


def to_numpy(array):
    """``array`` as a numpy array on the host (numpy input returned as it is).

    Works whatever the configuration (an estimator fitted on a GPU may be used
    with dispatch off).
    """
    if isinstance(array, np.ndarray) or not is_device_array(array):
        return array
    xp = _compat().array_namespace(array)
    if "array_api_strict" in xp.__name__:
        # Its arrays convert to numpy only on its CPU device.
        cpu = getattr(xp, "Device", None)
        if cpu is not None:
            array = xp.asarray(array, device=cpu("CPU_DEVICE"))
        return np.asarray(array)
    return _sklearn_array_api._convert_to_numpy(array, xp)


class DeviceData:
    """Validated array API input of a fit, and its host copy made on demand.

    The statistics reduce :attr:`array` on its device; those without a device
    kernel read :meth:`host`, converted once however many statistics ask.

    Parameters
    ----------
    array : array
        Validated 2-D input.
    namespace : Namespace
    """

    def __init__(self, array, namespace):
        self.array = array
        self.namespace = namespace
        self._host = None

    @property
    def shape(self):
        return tuple(self.array.shape)

    def host(self):
        """The whole array as numpy (copied from the device once)."""
        if self._host is None:
            self._host = to_numpy(self.array)
        return self._host

    def host_columns(self, columns):
        """Some columns as numpy: only they cross to the host."""
        if self._host is not None:
            return self._host[:, columns]
        return to_numpy(self.namespace.take_columns(self.array, columns))

    def rows(self, rows):
        """The data of some rows (host integer indices), as DeviceData."""
        return DeviceData(self.namespace.take_rows(self.array, rows), self.namespace)


def check_sample_weight_on_host(sample_weight, n_rows, validate):
    """``validate(weights, X)`` (scikit-learn's checks) run on host weights.

    Weights of any namespace are moved to the host: the statistics use them
    there (per-feature results), or only to decide that they are equal.
    """
    with config_context(array_api_dispatch=False):
        return validate(to_numpy(sample_weight), np.empty((n_rows, 0)))


def move_fitted_arrays(estimator, namespace):
    """Move every fitted array attribute of ``estimator`` to ``namespace``.

    Public and private attributes alike (scikit-learn's array API checks look
    at both); float arrays in the device's most precise float dtype (numpy
    input gives float64), integers and booleans as they are; object arrays
    (feature names) stay on the host.
    """
    for name, value in list(vars(estimator).items()):
        learned = name.endswith("_") or name.startswith("_")  # not a parameter
        if not learned or not isinstance(value, np.ndarray):
            continue
        if value.dtype.kind in "fiub":  # not feature names (objects)
            setattr(estimator, name, namespace.asarray(value))


#: Attribute types that are never device arrays (numpy scalars included).
_HOST_TYPES = frozenset(
    {np.ndarray, dict, list, str, int, float, bool, type(None)}
    | {np.dtype(code).type for code in "?bhilqBHILQefdg"}
)


def host_view(estimator):
    """``estimator`` itself, or a shallow copy whose arrays are numpy.

    The maps of the numpy path (and the per-feature operands of the device
    path) are built from numpy attributes; an estimator fitted on a device
    is read through this view. Nothing is copied for one fitted on numpy.
    """
    converted = {}
    for name, value in vars(estimator).items():
        if type(value) in _HOST_TYPES:  # the common case, decided at once
            continue
        if isinstance(value, tuple):
            if any(is_device_array(item) for item in value):
                converted[name] = tuple(to_numpy(item) for item in value)
        elif is_device_array(value):
            converted[name] = to_numpy(value)
    if not converted:
        return estimator
    view = object.__new__(type(estimator))
    view.__dict__.update(vars(estimator))
    view.__dict__.update(converted)
    return view


def _reference_attribute(estimator):
    """The first fitted array attribute: its namespace and device are the
    estimator's."""
    for name, value in vars(estimator).items():
        if (
            name.endswith("_")
            and not name.startswith("_")
            and name != "feature_names_in_"
            and (isinstance(value, np.ndarray) or is_device_array(value))
        ):
            return name
    return None


def check_same_namespace(X, estimator, *, method):
    """Raise if ``X`` is not in the namespace and on the device of the fit.

    scikit-learn's rule (``sklearn.utils._array_api.check_same_namespace``,
    used where it exists): with ``array_api_dispatch=True``, data passed to
    ``transform`` must be in the namespace and on the device of the arrays
    ``fit`` saw; the message says how to move the estimator. Estimators
    without fitted arrays (the stateless row normalizers) accept any
    namespace. With dispatch off nothing is checked: device-fitted
    estimators then transform numpy data through :func:`host_view`.
    """
    if not get_config()["array_api_dispatch"]:
        return
    attribute = _reference_attribute(estimator)
    if attribute is None:
        return
    fitted = getattr(estimator, attribute)
    if isinstance(X, np.ndarray) and isinstance(fitted, np.ndarray):
        return
    checker = getattr(_sklearn_array_api, "check_same_namespace", None)
    if checker is not None:
        checker(X, estimator, attribute=attribute, method=method)
        return
    _check_same_namespace(X, estimator, attribute, method)  # pragma: no cover


def _check_same_namespace(X, estimator, attribute, method):  # pragma: no cover
    """scikit-learn 1.9's check, for releases that lack it."""
    fitted = getattr(estimator, attribute)
    fitted_device = is_device_array(fitted)
    input_device = is_device_array(X)
    if not fitted_device and not input_device:
        return
    if fitted_device and input_device:
        ns_fit, ns_X = namespace_of(fitted), namespace_of(X)
        if ns_fit.xp.__name__ == ns_X.xp.__name__ and str(ns_fit.device) == str(
            ns_X.device
        ):
            return
    raise ValueError(
        f"Inputs passed to {type(estimator).__name__}.{method}() must use the same "
        "namespace and the same device as those passed to fit(). Move the "
        "estimator to X's namespace and device, or X to the estimator's."
    )
