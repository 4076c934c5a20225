"""Column scalers: a mergeable statistic plus an affine map.

Every scaler here learns one or more statistics from :mod:`sknorm.stats` and
derives a per-feature ``offset`` and ``scale`` from them; :class:`~sknorm._affine.
AffineMap` applies them. ``fit`` computes the statistics, ``partial_fit`` merges new
ones into them, ``sample_weight`` and sparse input are handled by the statistics
themselves, so no scaler special-cases any of these.
"""

from ._minmax import MaxAbsScaler, MinMaxScaler
from ._power import PowerTransformer
from ._quantile import QuantileTransformer
from ._robust import RobustScaler
from ._squashing import SquashingScaler
from ._standard import StandardScaler

__all__ = [
    "MaxAbsScaler",
    "MinMaxScaler",
    "PowerTransformer",
    "QuantileTransformer",
    "RobustScaler",
    "SquashingScaler",
    "StandardScaler",
]

# The public classes are documented, pickled and named (skops) as
# ``sknorm.scalers.<name>``, the import path users write.
for _public in (
    MaxAbsScaler,
    MinMaxScaler,
    QuantileTransformer,
    PowerTransformer,
    RobustScaler,
    SquashingScaler,
    StandardScaler,
):
    _public.__module__ = __name__
del _public
