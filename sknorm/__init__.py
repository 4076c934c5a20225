"""sknorm: scikit-learn compatible normalization transformers.

Drop-in replacements for scikit-learn's scalers built on mergeable statistics,
so that ``fit``, ``partial_fit``, ``sample_weight``, sparse input and distributed
fitting share one code path.
"""

from .embedding import EmbeddingNormalizer, EmbeddingQuantizer, hamming_similarity
from .functions import maxabs_scale, minmax_scale, robust_scale, scale
from .grouped import GroupedScaler
from .rows import Normalizer, RowStandardizer, normalize
from .scalers import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

__version__ = "0.1.0"

__all__ = [
    "EmbeddingNormalizer",
    "EmbeddingQuantizer",
    "GroupedScaler",
    "MaxAbsScaler",
    "MinMaxScaler",
    "Normalizer",
    "RobustScaler",
    "RowStandardizer",
    "StandardScaler",
    "hamming_similarity",
    "maxabs_scale",
    "minmax_scale",
    "normalize",
    "robust_scale",
    "scale",
]
