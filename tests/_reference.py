"""Exact references for ``tests/test_adversarial.py``.

Every statistic here is computed from the float inputs *exactly*: sums, means,
variances, order statistics and interpolations with :class:`fractions.Fraction`
(float64 values are dyadic rationals, so nothing is rounded), and only square
roots and quotients in mpmath at 256 bits (a private context, so mpmath's
global precision is left alone). Results are returned as mpmath numbers and
compared with sknorm's float output by :func:`assert_within`, whose error is
computed in mpmath too (so huge or subnormal values neither overflow nor
underflow in the comparison).

No helper calls numpy's statistics: numpy only converts containers.
"""

import math
from fractions import Fraction

import mpmath
import numpy as np

#: A private mpmath context at 256 bits (mp.prec >= 200 as the spec asks).
MP = mpmath.MPContext()
MP.prec = 256

EPS = MP.mpf(np.finfo(np.float64).eps)  # 2**-52
EPS32 = MP.mpf(float(np.finfo(np.float32).eps))  # 2**-23
EPS16 = MP.mpf(float(np.finfo(np.float16).eps))  # 2**-10
#: The smallest positive subnormal float64, float32, float16.
SUB64 = MP.mpf(2) ** -1074
SUB32 = MP.mpf(2) ** -149
SUB16 = MP.mpf(2) ** -24
NAN = MP.mpf("nan")


def mp(value):
    """An mpmath number from a float (exact), a Fraction (256-bit quotient) or
    an mpmath number (unchanged)."""
    if isinstance(value, Fraction):
        return MP.mpf(value.numerator) / value.denominator
    if isinstance(value, (float, np.floating)):
        return MP.mpf(float(value))
    return MP.convert(value)


def column_groups(column, weight=None):
    """The non-missing values of ``column`` with positive weight, grouped.

    Returns a list sorted by value of ``(value, total_weight, count)``, with the
    value and weight as exact Fractions (float32 input is exact in Fraction
    too). NaN values and rows of zero weight are dropped.
    """
    col = np.asarray(column, dtype=np.float64).ravel()
    w = np.ones(len(col)) if weight is None else np.asarray(weight, np.float64)
    keep = ~np.isnan(col) & (w > 0)
    groups = {}
    for x, wi in zip(col[keep].tolist(), w[keep].tolist(), strict=True):
        total, count = groups.get(x, (Fraction(0), 0))
        groups[x] = (total + Fraction(wi), count + 1)
    return sorted((Fraction(x), t, c) for x, (t, c) in groups.items())


def moments(column, weight=None):
    """Exact ``(mean, variance, mean_abs)`` of a column (weighted, ddof=0).

    ``mean_abs`` is the weighted mean of ``|x|``: the condition of the mean,
    whose float64 rounding error is a few eps times it. All Fractions.
    """
    groups = column_groups(column, weight)
    total = sum(w for _, w, _ in groups)
    mean = sum(x * w for x, w, _ in groups) / total
    var = sum(w * (x - mean) ** 2 for x, w, _ in groups) / total
    mean_abs = sum(abs(x) * w for x, w, _ in groups) / total
    return mean, var, mean_abs


def weighted_quantile(column, q, weight=None):
    """Quantile ``q`` (a float in [0, 1]) with the spec's count semantics.

    The positive weights of the non-missing values are rescaled to mean 1; with
    ``n`` values, the virtual index is ``v = (n - 1) q``; ``x[r]`` is the first
    value in sorted order whose cumulative rescaled weight exceeds ``r``; the
    result is ``x[j] + g (x[j+1] - x[j])`` with ``j = floor(v)``, ``g = v - j``.
    Unit weights give numpy's ``'linear'`` method (and its midpoint median).

    Returns ``(value, bracket)``: the exact quantile as a Fraction, and the
    scale of its float64 rounding error as a Fraction: the larger magnitude of
    the two order statistics ``a, b`` it interpolates, plus ``v |b - a|`` (the
    virtual index ``(n - 1) q`` is itself rounded, by up to eps ``v``, and that
    error moves the result along ``b - a``). The bound used by the tests is
    ``4 eps bracket + SUB``.
    """
    groups = column_groups(column, weight)
    n = sum(c for _, _, c in groups)
    total = sum(w for _, w, _ in groups)
    cumulative, running = [], Fraction(0)
    for x, w, _ in groups:
        running += w * n / total
        cumulative.append((running, x))

    def order_statistic(r):
        for cum, x in cumulative:
            if cum > r:
                return x
        return cumulative[-1][1]  # r = n - 1 and rounding-free: unreachable

    v = (n - 1) * Fraction(float(q))
    j = math.floor(v)
    g = v - j
    a = order_statistic(j)
    if g == 0:
        return a, abs(a)
    b = order_statistic(j + 1)
    return a + g * (b - a), max(abs(a), abs(b)) + v * abs(b - a)


def zscores(x, center, scale):
    """``(x - center) / scale`` in mpmath for every float of ``x`` (NaN kept)."""
    c, s = mp(center), mp(scale)
    return [NAN if math.isnan(v) else (mp(v) - c) / s for v in np.ravel(x).tolist()]


def affine_tolerance(x, z, c_abs, s, d_center, rel_scale):
    """Honest error bound of ``z = (x - c) / s`` computed in float64.

    ``d_center`` bounds the error of the fitted center, ``rel_scale`` the
    relative error of the fitted scale (both include their own float64
    rounding). The map adds a rounding of ``x - c`` (a few eps of ``|x| +
    |c|`` before cancellation) and of the quotient (a few eps of ``|z|``); an
    output below the normal range is off by up to one subnormal step::

        tol = (d_center + 4 eps (|x| + |c|)) / s + |z| (rel_scale + 4 eps) + 2 SUB
    """
    return [
        NAN
        if MP.isnan(zi)
        else (d_center + 4 * EPS * (abs(mp(xi)) + c_abs)) / s
        + abs(zi) * (rel_scale + 4 * EPS)
        + 2 * SUB64
        for xi, zi in zip(np.ravel(x).tolist(), z, strict=True)
    ]


def float32_tolerance(reference, tol64, sub=SUB32, eps=EPS32):
    """Widen float64 bounds for a result rounded once to a smaller float:
    half an ulp of the exact value (at most ``eps / 2 * |z|``, or half the
    smallest subnormal step) on top of the float64 error."""
    return [
        NAN if MP.isnan(r) else t + eps / 2 * abs(r) + sub
        for r, t in zip(reference, tol64, strict=True)
    ]


def assert_within(actual, reference, tol, label=""):
    """Assert ``|actual - reference| <= tol`` element-wise, in mpmath.

    ``reference`` and ``tol`` are flat sequences of mpmath numbers (NaN in
    ``reference``: ``actual`` must be NaN there). A non-finite ``actual`` where
    the reference is finite always fails, whatever the tolerance. The message
    names the worst element and its error in units of the tolerance.
    """
    actual = np.asarray(actual.toarray() if hasattr(actual, "toarray") else actual)
    flat = actual.ravel().tolist()
    assert len(flat) == len(reference), (label, len(flat), len(reference))
    worst, where = MP.mpf(0), None
    for i, (a, r, t) in enumerate(zip(flat, reference, tol, strict=True)):
        if MP.isnan(r):
            assert math.isnan(a), f"{label}[{i}]: expected NaN, got {a!r}"
            continue
        assert math.isfinite(a), f"{label}[{i}]: got {a!r}, exact {MP.nstr(r, 17)}"
        err = abs(mp(a) - r)
        ratio = err / t if t > 0 else (MP.inf if err > 0 else MP.mpf(0))
        if ratio > worst:
            worst, where = ratio, (i, a, r, t)
    if worst > 1:
        i, a, r, t = where
        raise AssertionError(
            f"{label}[{i}] = {a!r}, exact {MP.nstr(r, 20)}, error "
            f"{MP.nstr(abs(mp(a) - r), 5)} = {MP.nstr(worst, 4)} x the "
            f"tolerance {MP.nstr(t, 5)}"
        )


def row_norm(row, norm):
    """Exact l1 / l2 / max norm of a row (NaN ignored), as an mpmath number."""
    vals = [Fraction(v) for v in np.ravel(row).tolist() if not math.isnan(v)]
    if norm == "l1":
        return mp(sum(abs(v) for v in vals))
    if norm == "max":
        return mp(max((abs(v) for v in vals), default=Fraction(0)))
    return MP.sqrt(mp(sum(v * v for v in vals)))


def to_float(value):
    """An mpmath number rounded to the nearest float64 (inf on overflow)."""
    return float(value)
