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
  ``||F||_2 = lambda_min ** -1/2``.
"""

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # 2**-52
EPS32 = float(np.finfo(np.float32).eps)  # 2**-23


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
