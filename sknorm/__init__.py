"""sknorm: scikit-learn compatible normalization transformers.

Drop-in replacements for scikit-learn's scalers built on mergeable statistics,
so that ``fit``, ``partial_fit``, ``sample_weight``, sparse input and distributed
fitting share one code path.
"""

from .diagnostics import embedding_diagnostics
from .display import (
    CosineSimilarityDisplay,
    EmbeddingNormsDisplay,
    ProjectionDisplay,
    SpectrumDisplay,
)
from .embedding import (
    EmbeddingNormalizer,
    EmbeddingQuantizer,
    hamming_similarity,
    rescore,
)
from .functions import (
    maxabs_scale,
    minmax_scale,
    power_transform,
    quantile_transform,
    robust_scale,
    scale,
)
from .grouped import GroupedScaler
from .rows import Normalizer, RowStandardizer, normalize
from .scalers import (
    MaxAbsScaler,
    MinMaxScaler,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SquashingScaler,
    StandardScaler,
)
from .sources import scan

__version__ = "0.1.0"

__all__ = [
    "CosineSimilarityDisplay",
    "EmbeddingNormalizer",
    "EmbeddingNormsDisplay",
    "EmbeddingQuantizer",
    "GroupedScaler",
    "MaxAbsScaler",
    "MinMaxScaler",
    "Normalizer",
    "PowerTransformer",
    "ProjectionDisplay",
    "QuantileTransformer",
    "RobustScaler",
    "RowStandardizer",
    "SpectrumDisplay",
    "SquashingScaler",
    "StandardScaler",
    "embedding_diagnostics",
    "hamming_similarity",
    "maxabs_scale",
    "minmax_scale",
    "normalize",
    "power_transform",
    "quantile_transform",
    "rescore",
    "robust_scale",
    "scale",
    "scan",
]
