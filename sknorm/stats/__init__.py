"""Mergeable statistics: the only state sknorm's column scalers learn from data.

Each statistic is computed from dense or CSR/CSC data in one pass
(``Stat.from_data(X, sample_weight)``), accumulated in float64, NaN-aware, and
combined with ``merge`` (exactly for moments and extrema, within a bounded rank
error for the quantile sketch). ``fit``, ``partial_fit``, ``sample_weight``,
sparse input and distributed fitting all go through these classes. Exact
:class:`Quantiles` are the one statistic that cannot be merged.
:class:`Covariance` does the same for the rows' mean and scatter matrix.
"""

from ._base import Statistic
from .covariance import Covariance
from .deviation import MedianAbsoluteDeviation
from .extrema import Extrema
from .moments import Moments
from .power import PowerLikelihood
from .quantiles import Quantiles
from .sketch import QuantileSketch

__all__ = [
    "Covariance",
    "Extrema",
    "MedianAbsoluteDeviation",
    "Moments",
    "PowerLikelihood",
    "QuantileSketch",
    "Quantiles",
    "Statistic",
]
