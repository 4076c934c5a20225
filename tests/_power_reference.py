"""Exact references for the power transforms, in mpmath at 256 bits.

The Yeo-Johnson and Box-Cox maps, the profile log-likelihood (scipy's
``yeojohnson_llf`` / ``boxcox_llf``, weights as frequency weights) and its
derivative in lambda, computed from the float inputs exactly (a float is an
exact mpmath number) with 256-bit arithmetic, so that sknorm's float64
results are compared with values whose own error is far below any tolerance.
"""

import numpy as np

from ._reference import MP, mp


def transform(x, lam, box_cox):
    """``y`` of one float ``x`` at ``lam`` (an mpmath number or float), by
    mpmath's ``expm1`` and ``log1p`` (so that ``1 + x`` is not rounded)."""
    x, lam = mp(x), MP.mpf(lam)
    if box_cox:
        L, theta, sign = MP.log(x), lam, 1
    elif x >= 0:
        L, theta, sign = MP.log1p(x), lam, 1
    else:
        L, theta, sign = MP.log1p(-x), 2 - lam, -1
    if theta == 0:
        return sign * L
    return sign * MP.expm1(theta * L) / theta


def derivative(x, lam, box_cox):
    """``dy / dlambda`` of one float ``x`` at ``lam`` (lam not 0 or 2)."""
    x, lam = mp(x), MP.mpf(lam)
    if box_cox or x >= 0:
        L = MP.log(x) if box_cox else MP.log1p(x)
        e = MP.exp(lam * L)
        return (L * e * lam - (e - 1)) / lam**2
    theta = 2 - lam
    L = MP.log1p(-x)
    e = MP.exp(theta * L)
    # y = -T(2 - lambda, L): dy/dlambda = T'(theta).
    return (L * e * theta - (e - 1)) / theta**2


def jacobian(x, box_cox):
    x = mp(x)
    if box_cox:
        return MP.log(x)
    return MP.log1p(x) if x >= 0 else -MP.log1p(-x)


def _present(column, weight):
    column = np.asarray(column, dtype=np.float64)
    weight = np.ones(len(column)) if weight is None else np.asarray(weight, float)
    keep = ~np.isnan(column) & (weight > 0)
    return column[keep], weight[keep]


def log_likelihood(column, lam, box_cox, weight=None):
    """``-W / 2 log var_w(y) + (lam - 1) sum w J(x)`` of one column."""
    values, weight = _present(column, weight)
    w = [mp(v) for v in weight]
    total = MP.fsum(w)
    y = [transform(x, lam, box_cox) for x in values]
    mean = MP.fsum(wi * yi for wi, yi in zip(w, y, strict=True)) / total
    variance = MP.fsum(wi * (yi - mean) ** 2 for wi, yi in zip(w, y, strict=True))
    variance /= total
    J = MP.fsum(wi * jacobian(x, box_cox) for wi, x in zip(w, values, strict=True))
    return -total / 2 * MP.log(variance) + (MP.mpf(lam) - 1) * J


def slope(column, lam, box_cox, weight=None):
    """The derivative in lambda of :func:`log_likelihood` per unit weight:
    ``-cov(y, y') / var(y) + mean J``."""
    values, weight = _present(column, weight)
    w = [mp(v) for v in weight]
    total = MP.fsum(w)
    y = [transform(x, lam, box_cox) for x in values]
    dy = [derivative(x, lam, box_cox) for x in values]
    mean = MP.fsum(wi * yi for wi, yi in zip(w, y, strict=True)) / total
    dmean = MP.fsum(wi * di for wi, di in zip(w, dy, strict=True)) / total
    covariance = MP.fsum(
        wi * (yi - mean) * (di - dmean) for wi, yi, di in zip(w, y, dy, strict=True)
    )
    variance = MP.fsum(wi * (yi - mean) ** 2 for wi, yi in zip(w, y, strict=True))
    J = MP.fsum(wi * jacobian(x, box_cox) for wi, x in zip(w, values, strict=True))
    return -covariance / variance + J / total


def maximum(column, start, box_cox, weight=None):
    """The maximum likelihood lambda of one column, by Newton's method on
    :func:`slope` in mpmath from ``start`` (the curvature by a central
    difference of the slope at 256 bits)."""
    lam = MP.mpf(start)
    step = MP.mpf(10) ** -30
    for _ in range(60):
        value = slope(column, lam, box_cox, weight)
        curvature = (
            slope(column, lam + step, box_cox, weight)
            - slope(column, lam - step, box_cox, weight)
        ) / (2 * step)
        delta = -value / curvature
        lam += delta
        if abs(delta) < MP.mpf(10) ** -40:
            break
    return lam


def moments(column, lam, box_cox, weight=None):
    """``(mean, std)`` of the transformed values (population, weighted)."""
    values, weight = _present(column, weight)
    w = [mp(v) for v in weight]
    total = MP.fsum(w)
    y = [transform(x, lam, box_cox) for x in values]
    mean = MP.fsum(wi * yi for wi, yi in zip(w, y, strict=True)) / total
    variance = MP.fsum(wi * (yi - mean) ** 2 for wi, yi in zip(w, y, strict=True))
    return mean, MP.sqrt(variance / total)
