"""Tolerances derived from rounding-error bounds.

Two computations of the same value in different orders (BLAS kernels, thread
counts, numba against numpy, blocked against one-pass, chunked against whole)
differ by a multiple of eps times the condition of the value. The helpers here
state that multiple once, so a test names the bound it relies on instead of a
number one machine printed. Standard worst-case bounds (Higham, *Accuracy and
Stability of Numerical Algorithms*, 2nd ed.):

* a sum of ``n`` terms, in any order: ``|error| <= (n - 1) eps sum|x_i|``
  (section 4.2), so two orders differ by at most twice that;
* an eigendecomposition of a symmetric ``d x d`` matrix (LAPACK's ``syevr``)
  is exact for ``C + E`` with ``||E|| <= p(d) eps ||C||``, ``p(d)`` a modest
  multiple of ``d`` (taken as ``d`` here);
* ``f(C) = C ** -1/2`` moves, for a perturbation ``E`` of ``C``, by at most
  ``||E||_F / (2 lambda_min ** 1.5)`` (its Frechet derivative in the
  eigenbasis multiplies ``E_ij`` by the divided difference of
  ``lambda ** -1/2``, at most ``1 / (2 lambda_min ** 1.5)`` in size), that is
  ``||dF|| / ||F|| <= cond(C) / 2 * ||E|| / ||C||`` with
  ``||F||_2 = lambda_min ** -1/2``;
* an eigenvalue of a symmetric matrix moves by at most the perturbation's
  norm (Weyl), so small eigenvalues are compared in absolute terms.

Means, standardized values and centred rows cancel: their tolerances are
absolute (scaled by ``sum|x|``, not by the result), checked with
:func:`assert_close` or per row with :func:`assert_rows_close`. Bit-for-bit
comparisons stay where sknorm promises them (thread counts, powers of two,
equal weights, copies), not here.
"""

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # 2**-52


def sum_rtol(n_terms, condition=1.0, eps=EPS):
    """Relative tolerance between two orders of a sum of ``n_terms`` terms.

    Each order errs by at most ``(n - 1) eps sum|x|``; the two differ by at
    most twice that. ``condition`` is ``sum|x| / |sum x|`` (1 for terms of
    one sign, as sums of squares and counts).
    """
    return 2 * max(n_terms - 1, 1) * eps * condition


def inverse_sqrt_rtol(eigenvalues, n_rows, input_rtol=0.0):
    """Normwise relative tolerance between two computations of the whitening
    matrix ``C ** -1/2`` (the ZCA map) from ``n_rows`` rows; ``eigenvalues``
    are those of ``C``.

    Each computation perturbs ``C`` by the rounding of its scatter sum (at
    most ``n_rows eps tr C``: sums of ``n_rows`` products, the squared norms
    adding up to the trace), by its eigendecomposition (``d eps ||C||``) and,
    where the two fits see rows that differ by ``input_rtol`` in norm, by
    ``4 input_rtol sqrt(tr C)`` (unit rows: first order in the row errors,
    the mean's error cancelling). The rounding happens in both computations,
    so it counts twice; ``C ** -1/2`` moves
    by ``cond(C) / 2`` times it relative to ``||C||``; assembling
    ``V diag(s) V^T`` adds ``d eps`` of orthogonality loss and rounding.

    Compare with ``atol = inverse_sqrt_rtol(...) * ||F||_2``: the entries of
    the difference are bounded by its spectral norm.
    """
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    d = len(eigenvalues)
    largest, smallest = eigenvalues.max(), eigenvalues.min()
    trace = eigenvalues.sum()
    rounding = 2 * (n_rows * EPS * trace + d * EPS * largest)
    perturbation = rounding + 4 * input_rtol * np.sqrt(trace)
    return largest / smallest / 2 * perturbation / largest + 2 * d * EPS


def mean_atol(X, weight=None):
    """Absolute tolerance between two computations of the weighted column
    means of ``X`` (n rows), in any order.

    Each errs by at most ``(n + 1) eps sum w |x| / sum w``: a sum of ``n``
    products ``w x`` (each rounded), then a quotient. Two differ by twice that.
    NaN values are left out, column by column.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if weight is None else np.asarray(weight, np.float64)
    present = ~np.isnan(X)
    n = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = (w @ np.where(present, np.abs(X), 0.0)) / (w @ present)
    return 2 * (n + 1) * EPS * mean_abs


def m2_rtol(X, weight=None):
    """Relative tolerance between two computations of the weighted sums of
    squared deviations ``sum w (x - m) ** 2`` of the columns of ``X``.

    Each sums ``n`` non-negative terms, each a rounded deviation squared:
    ``(n + 2) eps``. A mean off by ``dm`` (:func:`mean_atol`) adds
    ``sum w dm ** 2 = m2 dm ** 2 / var`` (the first-order term vanishes, the
    deviations summing to zero). Twice that between two. NaN values are left
    out, column by column.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if weight is None else np.asarray(weight, np.float64)
    present = ~np.isnan(X)
    n = present.sum(axis=0)
    values = np.where(present, X, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = w @ present
        mean = (w @ values) / total
        variance = (w @ np.where(present, (X - mean) ** 2, 0.0)) / total
        mean_error = mean_atol(X, w) / 2
        rtol = 2 * ((n + 2) * EPS + mean_error**2 / variance)
    return np.where(n > 0, rtol, 0.0)  # a column without values sums nothing


def covariance_atol(X, weight=None):
    """Bound on the spectral norm of the difference between two computations
    of the weighted covariance of ``X`` (``bias=True``), in any order.

    A centred row ``x - m`` errs by ``eps |x| + |dm|`` (``|dm|`` from
    :func:`mean_atol`), its outer product by twice that times ``|x - m|``,
    and the sum of ``n`` outer products by ``n eps`` times the sum of their
    norms ``|x - m| ** 2``. Two computations differ by twice one's bound.
    """
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    w = np.ones(n) if weight is None else np.asarray(weight, np.float64)
    mean = w @ X / w.sum()
    size = np.linalg.norm(X, axis=1)
    deviation = np.linalg.norm(X - mean, axis=1)
    mean_error = np.linalg.norm(mean_atol(X, w)) / 2
    one = w @ (2 * (EPS * size + mean_error) * deviation + n * EPS * deviation**2)
    return 2 * one / w.sum()


def scatter_atol(X, weight=None):
    """:func:`covariance_atol` for the scatter matrix (the covariance times
    the weight sum), entry by entry or in norm."""
    w = np.ones(len(X)) if weight is None else np.asarray(weight, np.float64)
    return covariance_atol(X, w) * w.sum()


def eigenvalue_atol(X, weight=None):
    """Absolute tolerance between two computations of the eigenvalues of the
    covariance of ``X``: by Weyl's inequality each eigenvalue moves by at most
    the covariance's perturbation (:func:`covariance_atol`) plus each
    eigendecomposition's backward error ``d eps ||C||``."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if weight is None else np.asarray(weight, np.float64)
    mean = w @ X / w.sum()
    largest = np.linalg.norm(((X - mean).T * w) @ (X - mean) / w.sum(), 2)
    return covariance_atol(X, w) + 2 * X.shape[1] * EPS * largest


def unit_rows_atol(centered, center_atol=0.0):
    """Per-row tolerance (in norm) between two computations of the unit rows
    of ``centered = X - m``, whose centres differ by ``center_atol`` (a
    vector, or 0 for uncentred rows).

    The centred rows differ by ``|dm| + eps |x - m|``; normalizing moves a row
    by at most twice its error relative to its norm, plus each side's own
    rounding of the norm and quotient, ``(d / 2 + 2) eps``.
    """
    centered = np.asarray(centered, dtype=np.float64)
    d = centered.shape[1]
    size = np.linalg.norm(centered, axis=1)
    shift = np.linalg.norm(np.broadcast_to(center_atol, (d,)))
    return 2 * (shift + EPS * size) / size + (d + 4) * EPS


def assert_rows_close(actual, desired, row_atol):
    """Each row of ``actual`` within ``row_atol`` (per row, in norm) of
    ``desired``'s."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    error = np.linalg.norm(actual - desired, axis=1)
    bad = np.flatnonzero(~(error <= row_atol))
    assert bad.size == 0, (
        f"rows {bad[:10].tolist()} differ by {error[bad[:10]].tolist()}, "
        f"more than the bound {np.broadcast_to(row_atol, error.shape)[bad[:10]]}"
    )


def assert_close(actual, desired, atol):
    """``|actual - desired| <= atol`` entry by entry (``atol`` broadcast: a
    bound per column, as :func:`mean_atol` gives, or a scalar); NaN where
    both are NaN, as :func:`numpy.testing.assert_allclose` allows."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    error = np.abs(actual - desired)
    bound = np.broadcast_to(atol, error.shape)
    bad = ~(error <= bound) & ~(np.isnan(actual) & np.isnan(desired))
    assert not bad.any(), (
        f"{int(bad.sum())} of {error.size} entries beyond the bound: errors "
        f"{error[bad][:5].tolist()}, bounds {bound[bad][:5].tolist()}"
    )


def norm_rtol(n_terms, eps=EPS):
    """Relative tolerance between two computations, in any order, of a p-norm
    of ``n_terms`` values, or of the values divided by it.

    Each norm errs by at most ``(n - 1) eps`` for its sum, an eps for the
    powers and the root (a root divides the sum's relative error by p >= 1),
    and the quotient by half an eps: ``(n + 2) eps`` per side, twice that
    between two.
    """
    return 2 * (n_terms + 2) * eps
