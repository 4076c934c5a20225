"""Row normalizers: each sample scaled on its own, from its own values.

These are the data-preprocessing counterparts of the normalization layers of
neural networks, applied to the rows of a feature matrix:

* :class:`Normalizer` / :func:`normalize` divide each row by its p-norm (the L2
  normalization used for embeddings and TF-IDF vectors);
* :class:`RowStandardizer` centers each row and divides it by its standard
  deviation (layer normalization of one sample) or divides it by its root mean
  square (RMS normalization);
* with ``groups``, either does the same within each group of columns: group
  normalization, instance normalization (one group per channel), and block-wise
  L2 normalization of concatenated embeddings.

They learn nothing from data: ``fit`` only validates the input and records the
number and names of features, ``transform`` works without ``fit``, and they are
safe inside any cross-validation.

One kernel serves all of them. For every row segment (a row, or the part of a
row in one group of columns) it computes, in float64 whatever the input dtype:

* ``m``, the largest absolute value, NaN ignored;
* ``y = x / m``, the segment scaled into ``[-1, 1]`` so that powers of its
  values neither overflow nor underflow (the technique of LAPACK's ``nrm2``);
* the spread of ``y``: its p-norm about zero (norms), or the root mean square
  of ``y`` about zero or about its mean (RMS, standard deviation); NaN ignored
  and, for sparse input, implicit zeros counted without being materialised;

and maps the segment to ``(y - center) * g``, where ``g`` folds ``m``, the
spread and the estimator's floor (``eps``, zero rows, constant rows) into one
multiplier. Dense data is processed in cache-sized row blocks, sparse data in
chunks of its stored values, so no float64 copy of the whole input is made.
Array API input (``array_api_dispatch=True``) runs the same maths in its
namespace on its device (:func:`_namespace_pass`): every segment takes the
scaled path, in the device's most precise float dtype, and the result is
rounded once to the input's dtype.

The package holds the rule and segment arithmetic (``_kernels``), the dense
and array API passes (``_dense``), the sparse pass (``_sparse``), the
estimators (``_estimators``) and the functions (``_functions``); column groups
are resolved by :mod:`sknorm._groups`, shared with the column scalers.
"""

# (The private names are re-exported for sknorm.onnx and the tests.)
from .._groups import resolve_groups as resolve_groups
from ._dense import _dense_layout as _dense_layout
from ._estimators import Normalizer, RowStandardizer
from ._estimators import _RowNormalizer as _RowNormalizer
from ._functions import normalize, row_norms

__all__ = ["Normalizer", "RowStandardizer", "normalize", "row_norms"]

# The public names are documented, pickled and trusted by skops as
# ``sknorm.rows.<name>``, whichever module of the package defines them.
for _public in (Normalizer, RowStandardizer, normalize, row_norms):
    _public.__module__ = __name__
del _public
