"""Post-processing of embeddings: a fitted linear map, then row L2 normalization.

:class:`EmbeddingNormalizer` learns one mergeable statistic,
:class:`~sknorm.stats.Covariance` (weight, mean, scatter matrix), and derives
from its eigendecomposition a linear map applied between two row
normalizations::

    transform(X) = normalize((normalize(X) - mean_) @ projection_)

(the inner one is ``input_norm``, on by default).

Centering, removal of the top principal directions ("all-but-the-top"), PCA or
ZCA whitening, soft whitening, covariance shrinkage and Matryoshka-style
truncation are all choices of ``projection_``; ``fit``, ``partial_fit``,
``sample_weight`` and sparse input all go through the statistic.

:class:`EmbeddingQuantizer` stores embeddings in one byte per dimension (int8 or
uint8 scalar quantization, per-dimension ranges fitted on training data) or one
bit per dimension (binary, against a fitted per-dimension threshold).
"""

from ._base import EIGENVALUE_FLOOR
from ._normalizer import EmbeddingNormalizer
from ._quantizer import MIN_FIT_ROWS, EmbeddingQuantizer
from ._rescore import hamming_similarity, rescore

__all__ = [
    "EIGENVALUE_FLOOR",
    "MIN_FIT_ROWS",
    "EmbeddingNormalizer",
    "EmbeddingQuantizer",
    "hamming_similarity",
    "rescore",
]

# The public names are documented, pickled and named (skops) as
# ``sknorm.embedding.<name>``, the import path users write.
for _public in (EmbeddingNormalizer, EmbeddingQuantizer, hamming_similarity, rescore):
    _public.__module__ = __name__
del _public
