"""The row kernel's rules and segment arithmetic, shared by the dense,
sparse and array API passes (see :mod:`sknorm.rows`)."""

from dataclasses import dataclass
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from .._affine import safe_scale
from ..stats import Moments

_NAMED_NORMS = {"l1": 1.0, "l2": 2.0, "max": np.inf}

_NORM_CONSTRAINT = [
    StrOptions(set(_NAMED_NORMS)),
    Interval(Real, 1, None, closed="both"),
]


def _norm_exponent(norm):
    """The exponent p of a norm given by name ("l1", "l2", "max") or number."""
    return _NAMED_NORMS[norm] if isinstance(norm, str) else float(norm)


# ---------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _RowRule:
    """What one row normalizer computes for each row segment.

    Parameters
    ----------
    p : float
        Exponent of the spread: the norm's p, or 2 for RMS and standard
        deviation.
    about_mean : bool
        Measure the spread about the segment's mean (standard deviation)
        rather than about zero (norms, RMS).
    per_value : bool
        Average ``|value|**p`` over the segment's non-missing values (RMS,
        standard deviation) instead of summing it (norms).
    subtract_mean : bool
        Center the output.
    scale : bool
        Divide the output by the (floored) spread.
    eps : float
        Floor of the spread, see ``floor``.
    floor : {"max", "hypot"}
        ``"max"``: divide by ``max(spread, eps)`` and leave all-zero segments
        as they are (``torch.nn.functional.normalize``). ``"hypot"``: divide
        by ``sqrt(spread**2 + eps)`` (layer and RMS normalization); with
        ``eps=0`` a segment whose spread is within the moments' rounding
        error of its magnitude gets divisor 1
        (:func:`sknorm._affine.safe_scale`, the rule of every sknorm scaler).
    """

    p: float
    about_mean: bool = False
    per_value: bool = False
    subtract_mean: bool = False
    scale: bool = True
    eps: float = 0.0
    floor: str = "max"

    @property
    def is_identity(self):
        return not (self.scale or self.subtract_mean)

    @property
    def has_fast_path(self):
        """Whether unscaled power sums give accurate spreads. Not for other p:
        the rounding of ``1 / p`` in ``sum ** (1 / p)`` costs a relative
        ``log(sum) * eps``, small only for sums near 1 (scaled segments)."""
        return self.p in (1.0, 2.0, np.inf)

    def multiplier(self, m, zero, center, spread):
        """``g`` such that a segment's output is ``(y - center) * g``.

        ``m`` is the segment's max-abs (1 for all-zero segments, flagged by
        ``zero``), ``center`` and ``spread`` are in units of ``y = x / m``.
        """
        if not self.scale:
            return m.copy()
        if self.floor == "max":
            # spread >= 1 for a non-zero segment (its largest |y| is 1).
            g = 1.0 / np.where(zero, 1.0, spread)
            if self.eps > 0:
                below = ~zero & (m * spread < self.eps)
                g[below] = m[below] / self.eps
            return g
        spread_x = m * spread  # at most 2 * m: cannot overflow
        if self.eps > 0:
            divisor = np.hypot(spread_x, np.sqrt(self.eps))
            return m / divisor
        magnitude = m * center if center is not None else np.zeros_like(m)
        divisor = safe_scale(spread_x, magnitude, Moments.spread_rounding)
        g = m / divisor
        below = _below_normal(spread_x)
        if below.any():
            # m * spread has lost bits to the subnormal grid; in units of y
            # (where m cancels) the spread has them all.
            g = np.where(below, _unit_multiplier(m, center, spread, np), g)
        return g


def _below_normal(spread_x):
    """Where a spread in x units lies below the normal float64 range."""
    return spread_x < np.finfo(np.float64).tiny


def _unit_multiplier(m, center, spread, xp):
    """The ``"hypot"`` multiplier with ``eps=0`` computed in units of ``y = x /
    m``: ``1 / spread``, or ``m`` (divisor 1 in x units) where the spread is
    within the moments' rounding error of the center (the constant rule of
    :func:`sknorm._affine.safe_scale`, which does not depend on the units)."""
    threshold = xp.zeros_like(spread)
    if center is not None:
        magnitude = xp.abs(center)
        threshold = float(Moments.spread_rounding) * xp.where(
            xp.isfinite(magnitude), magnitude, 0.0
        )
    varies = spread > threshold
    return xp.where(varies, 1.0 / xp.where(varies, spread, 1.0), m)


def _nan_aware_row_sums(values, nan_rows):
    """Row sums of ``values``; the rows listed in ``nan_rows`` ignore NaN."""
    sums = values.sum(axis=1)
    if nan_rows.size:
        sums[nan_rows] = np.nansum(values[nan_rows], axis=1)
    return sums


def _power_sums(z, abs_z, p, nan_rows):
    """Per row ``sum(|z|**p)`` (``max |z|`` for p=inf), NaN ignored."""
    if p == 2:
        sums = np.einsum("ij,ij->i", z, z)
        if nan_rows.size:
            part = z[nan_rows]
            sums[nan_rows] = np.nansum(part * part, axis=1)
        return sums
    if p == np.inf:
        return np.fmax.reduce(abs_z, axis=1)
    if p == 1:
        return _nan_aware_row_sums(abs_z, nan_rows)
    return _nan_aware_row_sums(np.power(abs_z, p), nan_rows)


def _spread_from_power_sums(power_sums, count, rule, zero, xp=np):
    """Each segment's spread from its power sums over ``count`` values (0 for
    the segments flagged in ``zero``), in the namespace ``xp``."""
    if rule.per_value and rule.p != np.inf:
        has_values = count > 0
        power_sums = xp.where(
            has_values, power_sums / xp.where(has_values, count, 1.0), 0.0
        )
    if rule.p == 2:
        spread = xp.sqrt(power_sums)
    elif rule.p in (1, np.inf):
        spread = power_sums
    else:
        spread = power_sums ** (1.0 / rule.p)
    return xp.where(zero, 0.0, spread)


def _spread_in_x_units(m, zero, spread):
    """``m * spread``, 0 for all-zero segments; inf where it exceeds float64."""
    with np.errstate(over="ignore"):
        return np.where(zero, 0.0, m * spread)


#: Unscaled power sums at least this large (and finite) are accurate: powers
#: that underflowed contributed at most n * 2**-1074 each, a relative n * 1e-34.
_SAFE_POWER_SUM = 2.0**-960

#: A centered segment whose spread is at least this fraction of its mean's
#: magnitude keeps the one-pass mean: its rounding (a few ulps of the mean)
#: is then below 1e-12 of the spread. Others get the corrected mean
#: (:func:`_corrected_center`).
_CENTER_ACCURACY = 2.0**-8


def _corrected_center(y, center, count, nan_rows):
    """The corrected two-pass mean of each row of ``y``, and ``y`` minus it.

    ``y - center`` is exact where ``center`` is near the values; the mean of
    those differences (the correction) is then subtracted from them rather
    than added to ``center``, whose float cannot hold the mean more finely
    than its own ulp (half an ulp of 1e10 is 1e-6, a millionth of a unit
    spread about 1e10). A constant row gets exact zeros: the one-pass mean of
    n copies of 3.3 is off by an ulp, which the scaling would blow up to
    ``ulp / sqrt(eps)``. Returns ``(center + correction, deviations)``.
    """
    z = y - center[:, None]
    correction = _nan_aware_row_sums(z, nan_rows)
    correction = np.divide(
        correction, count, out=np.zeros_like(correction), where=count > 0
    )
    z -= correction[:, None]
    return center + correction, z


def _is_safe(power_sums):
    """Whether unscaled power sums are accurate (neither under- nor overflow)."""
    return (power_sums >= _SAFE_POWER_SUM) & (power_sums < np.inf)


def _dense_power_sums(z, p):
    """Per row ``sum(|z|**p)`` (``max |z|`` for p=inf) of NaN-free rows."""
    if p == 2:
        return np.einsum("ij,ij->i", z, z)
    if p == np.inf:
        return np.abs(z).max(axis=1)
    if p == 1:
        return np.abs(z).sum(axis=1)
    return np.power(np.abs(z), p).sum(axis=1)


def _unscaled_segment(x, rule):
    """The fast path: statistics of a dense segment ``x`` taken as it is.

    Returns ``(center, spread, values, safe)``. Rows flagged unsafe (NaN, all
    zero, constant when centering, or powers that overflow or underflow) get
    spread 0 and must go through :func:`_scaled_segment`.
    """
    n_cols = x.shape[1]
    if not rule.has_fast_path:
        return None, np.zeros(len(x)), x, np.zeros(len(x), dtype=bool)
    center = None
    z = x
    if rule.about_mean:
        center = x.sum(axis=1) / n_cols
        z = x - center[:, None]
    power_sums = _dense_power_sums(z, rule.p)
    safe = _is_safe(power_sums)
    spread = _spread_from_power_sums(power_sums, n_cols, rule, ~safe)
    if center is not None:
        # Near-constant segments: the one-pass mean's rounding is not small
        # against their spread; they get the corrected mean.
        rows = np.flatnonzero(spread < _CENTER_ACCURACY * np.abs(center))
        if rows.size:
            center[rows], z[rows] = _corrected_center(
                x[rows], center[rows], np.full(rows.size, float(n_cols)), rows[:0]
            )
            power_sums[rows] = _dense_power_sums(z[rows], rule.p)
            safe = _is_safe(power_sums)
            spread = _spread_from_power_sums(power_sums, n_cols, rule, ~safe)
    values = z if rule.subtract_mean else x
    return center, spread, values, safe


def _times_multiplier(values, g):
    """``values * g[:, None]``, where an infinite ``g`` (a spread below eps
    of values near the float64 maximum) leaves zero deviations zero."""
    with np.errstate(all="ignore"):
        product = values * g[:, None]
    overflowed = ~np.isfinite(g)
    if overflowed.any():
        product[overflowed] = np.where(
            values[overflowed] == 0, 0.0, product[overflowed]
        )
    return product


def _power_of_two_above(m):
    """The power of two in ``(m, 2 m]`` (at most 2**1023) of each positive ``m``.

    Deviations from a mean keep every digit only when the values are scaled
    exactly: ``x / max|x|`` rounds each value by half an ulp of 1, a
    millionth of a unit spread about 1e10. Norms need no such care (they are
    relative to the values), and their rule wants ``max |y| == 1``.
    """
    _, exponent = np.frexp(m)
    return np.ldexp(1.0, np.minimum(exponent, 1023))


def _scaled_segment(x, rule):
    """The robust path: statistics of ``y = x / m``, NaN ignored.

    ``x`` (a float64 array the caller owns) is overwritten. Returns ``(m,
    zero, center, spread, values)`` where ``values`` is the centered or plain
    ``y`` and ``center`` and ``spread`` are in units of ``y``.
    """
    n_cols = x.shape[1]
    abs_x = np.abs(x)
    m = np.fmax.reduce(abs_x, axis=1)  # NaN ignored; NaN for all-NaN rows
    zero = ~(m > 0)
    m[zero] = 1.0
    if rule.about_mean:
        m = _power_of_two_above(m)
    x /= m[:, None]
    abs_x /= m[:, None]
    # A row sum of |y| (each at most 1) is NaN exactly when the row holds NaN.
    abs_sums = abs_x.sum(axis=1)
    nan_rows = np.flatnonzero(np.isnan(abs_sums))
    count = np.full(len(m), float(n_cols))
    if nan_rows.size:
        count[nan_rows] -= np.isnan(x[nan_rows]).sum(axis=1)
        abs_sums[nan_rows] = np.nansum(abs_x[nan_rows], axis=1)
    center = None
    z, abs_z = x, abs_x
    if rule.about_mean:
        sums = _nan_aware_row_sums(x, nan_rows)
        center = np.divide(sums, count, out=np.zeros_like(sums), where=count > 0)
        center, z = _corrected_center(x, center, count, nan_rows)
        abs_z = np.abs(z) if rule.p != 2 else None
    if rule.p == 1 and not rule.about_mean:
        power_sums = abs_sums
    else:
        power_sums = _power_sums(z, abs_z, rule.p, nan_rows)
    spread = _spread_from_power_sums(power_sums, count, rule, zero)
    values = z if rule.subtract_mean else x
    return m, zero, center, spread, values
