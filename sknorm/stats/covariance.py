"""Weighted mean and scatter matrix of the rows of a matrix."""

import numpy as np

from .._array_api import DEVICE_BLOCK_ELEMENTS, namespace_of, to_numpy
from .._callbacks import reported_units
from .._parallel import map_blas_tasks, task_runs
from .._validation import is_sparse, row_blocks
from ._base import (
    Statistic,
    equal_weight_unit,
    equal_weights_as_rows,
    rows_kept_by_weights,
)

__all__ = ["Covariance"]

#: Values per dense row block. Larger than the element-wise kernels' blocks:
#: each block feeds one matrix product, which BLAS runs efficiently only on a
#: few hundred rows or more (2 MiB of float64 here).
_BLOCK_ELEMENTS = 1 << 18

#: Most tasks a dense matrix is cut into, and most bytes of their scatter
#: matrices held at once. The cut depends only on the shape.
_MAX_TASKS = 32
_MAX_TASK_SCATTER_BYTES = 1 << 28

#: Stored values per chunk of sparse rows converted to float64 at once (also
#: the size of the dense block of a chunk's mostly-stored columns).
_SPARSE_CHUNK_ENTRIES = 1 << 20


def _exponent_of(max_abs):
    """The power of two ``e`` with ``max_abs / 2**e`` in [0.5, 1) (0 for zero).

    Values divided by ``2**e`` are at most 1 in magnitude: their products and
    sums of squares neither overflow nor underflow, and the division is exact.
    """
    return int(np.frexp(max_abs)[1]) if max_abs > 0 else 0


def _merge_scatter(n_a, mean_a, scatter_a, n_b, mean_b, scatter_b):
    """Chan, Golub and LeVeque's pairwise update in matrix form.

    ``S = S_a + S_b + delta delta^T n_a n_b / n`` with ``delta = mean_b -
    mean_a``: exact in exact arithmetic. A side without weight contributes
    nothing (its mean is undefined). All arguments are in the same units.
    """
    if n_b == 0:
        return n_a, mean_a, scatter_a
    if n_a == 0:
        return n_b, mean_b, scatter_b
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    # outer(v, v) of one vector is exactly symmetric, as the scatter must be.
    scaled = delta * np.sqrt(n_a * n_b / n)
    scatter = scatter_a + scatter_b + np.outer(scaled, scaled)
    return n, mean, scatter


def _raise_not_finite(columns):
    columns = np.unique(columns)
    shown = ", ".join(str(c) for c in columns[:10])
    if columns.size > 10:
        shown += f", ... ({columns.size - 10} more)"
    raise ValueError(
        f"Covariance needs complete, finite rows: X contains NaN or infinity in "
        f"feature(s) {shown}. Impute or drop those rows first."
    )


def _dense_max_abs(X):
    """Largest absolute value of dense X, read in row blocks; raises on NaN/inf."""
    n_rows, n_cols = X.shape
    largest = 0.0
    for rows in row_blocks(n_rows, n_cols, _BLOCK_ELEMENTS):
        block = X[rows]
        if block.size == 0:
            continue
        block_largest = max(float(block.max()), -float(block.min()))
        if not np.isfinite(block_largest):  # NaN propagates through max/min
            _raise_not_finite(np.flatnonzero(~np.isfinite(block).all(axis=0)))
        largest = max(largest, block_largest)
    return largest


def _dense_block(block, weight, shift, exponent):
    """Weight, mean and scatter of one row block, around ``shift``.

    The block is copied to float64 once (it is small) and divided by
    ``2**exponent`` (exact); its mean is removed before the product and the
    first-order error of that mean is corrected (the corrected two-pass
    method), so the scatter does not suffer from the cancellation of ``sum x
    x^T - n mean mean^T``. Mean and scatter are in units of ``2**exponent``.
    """
    deviation = block.astype(np.float64)  # a copy, then changed in place
    np.ldexp(deviation, -exponent, out=deviation)
    deviation -= shift
    if weight is None:
        total = float(len(deviation))
        mean = deviation.mean(axis=0)
    else:
        total = float(weight.sum())
        if total == 0:
            return 0.0, None, None
        mean = (weight @ deviation) / total
    deviation -= mean
    residual = deviation.sum(axis=0) if weight is None else weight @ deviation
    if weight is not None:
        deviation *= np.sqrt(weight)[:, None]
    # ``a.T @ a`` on one buffer runs as a symmetric rank-k update: the result
    # is exactly symmetric.
    scatter = deviation.T @ deviation
    scaled = residual / np.sqrt(total)
    scatter -= np.outer(scaled, scaled)
    return total, mean + residual / total, scatter


def _device_scatter(X, namespace, exponent):
    """Mean and scatter (in units of ``2**exponent``) of an array API array.

    The dense path's maths in the namespace, on the device, in float64: each
    row block scaled by ``2**-exponent`` (two exact factors, so that neither
    overflows), shifted by the first block's mean, centered with the
    first-order correction, multiplied, and merged by Chan's update. The
    ``d x d`` result comes to the host.
    """
    xp, dtype = namespace.xp, namespace.float_dtype
    n_rows, n_cols = X.shape
    half = exponent // 2
    factors = (2.0**-half, 2.0 ** (half - exponent))
    step = max(1, DEVICE_BLOCK_ELEMENTS // max(1, n_cols))
    total, mean, scatter, shift = 0.0, None, None, None
    for start in range(0, n_rows, step):
        block = (
            xp.astype(X[start : min(start + step, n_rows), :], dtype)
            * factors[0]
            * factors[1]
        )
        if shift is None:
            shift = xp.mean(block, axis=0)
        deviation = block - shift
        n_block = float(deviation.shape[0])
        block_mean = xp.mean(deviation, axis=0)
        deviation = deviation - block_mean
        residual = xp.sum(deviation, axis=0)
        scaled = residual / n_block**0.5
        block_scatter = deviation.T @ deviation - scaled[:, None] * scaled[None, :]
        block_mean = block_mean + residual / n_block
        if mean is None:
            total, mean, scatter = n_block, block_mean, block_scatter
            continue
        both = total + n_block
        delta = block_mean - mean
        mean = mean + delta * (n_block / both)
        scaled = delta * (total * n_block / both) ** 0.5
        scatter = scatter + block_scatter + scaled[:, None] * scaled[None, :]
        total = both
    mean = to_numpy(mean + shift).astype(np.float64)
    scatter = to_numpy(scatter).astype(np.float64)
    # A device's product of a matrix with its transpose need not be exactly
    # symmetric (the host's is): make it so.
    return total, mean, (scatter + scatter.T) / 2


class Covariance(Statistic):
    """Weighted count, mean and scatter matrix of the rows of a matrix.

    The scatter matrix is ``S = sum_i w_i (x_i - mean)(x_i - mean)^T``, so the
    (biased) covariance is ``S / weight_sum``. ``merge`` is the matrix form of
    Chan, Golub and LeVeque's update, exact in exact arithmetic: statistics
    computed over chunks, ``partial_fit`` calls or partitions and merged equal
    the statistic of all the data to rounding.

    **Scale-free.** The data is divided by a power of two ``2**exponent``
    chosen from its largest absolute value (an exact operation) before any
    product, and the biased covariance is stored in those units:
    ``scaled_cov = S / weight_sum / 4**exponent``. Weights are divided by a
    power of two before use and enter the stored matrix only as ratios, so
    the statistic depends on relative weights only (equal weights give the
    unweighted statistic bit for bit) and weights of ``1e308`` or ``1e-320``
    neither overflow nor underflow; ``weight_sum`` is in the caller's units.
    Data of any magnitude, up to the float64 maximum, gives a finite
    statistic, and the statistic of ``2**k * X`` is that of ``X`` with
    ``exponent + k`` (and the mean times ``2**k``), bit for bit.
    :attr:`scatter` and :meth:`covariance` return the unscaled matrices,
    which overflow to infinity where they exceed the float64 range;
    :meth:`scaled_covariance` returns the representable pair.

    Dense data is read in row blocks of a few MiB, each converted to float64
    and centered before its product, so float32 input is never copied as a
    whole and the scatter keeps its accuracy when the mean is large compared
    with the spread. Runs of blocks are tasks on sknorm's pool, each product
    on one BLAS thread, merged in order: the result depends on the shape of
    the data, not on the number of threads.

    Sparse CSR/CSC data is not densified: columns whose
    implicit zeros hold at least half the weight go through sparse products
    (``X^T W X - weight_sum * mean mean^T``, whose cancellation is then at most
    a factor 2), the others — mostly stored, like a sparse matrix of values
    near ``1e6`` — are shifted by their mean and multiplied densely, chunk by
    chunk, with the dense path's correction. Both give the dense path's
    accuracy. The statistic itself is dense: ``n_features**2`` float64
    values.

    CSC input is converted to CSR (a copy of its stored values).

    Rows must be complete: NaN (or infinity) raises a ValueError naming the
    features. A covariance computed from the complete rows only would differ
    from the one the user expects without saying so.

    Parameters
    ----------
    mean : ndarray of shape (n_features,)
        Weighted mean of the rows (NaN when no row has positive weight).
    scaled_cov : ndarray of shape (n_features, n_features)
        Weighted mean of the outer products of the deviations from the mean
        (the biased covariance), divided by ``4**exponent``.
    exponent : int or 0-d ndarray
        The data's units: a power of two of its largest absolute value.
    weight_sum : float or 0-d ndarray
        Total weight of the rows (their number when unweighted).

    Examples
    --------
    >>> import numpy as np
    >>> from sknorm.stats import Covariance
    >>> X = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    >>> c = Covariance.from_data(X[:1]).merge(Covariance.from_data(X[1:]))
    >>> c.mean
    array([2., 4.])
    >>> c.covariance()
    array([[2.66666667, 4.66666667],
           [4.66666667, 8.66666667]])
    >>> np.allclose(c.covariance(), np.cov(X.T, bias=True))
    True

    The statistic of data scaled by a power of two is the same in other units:

    >>> small, big = Covariance.from_data(X), Covariance.from_data(X * 2.0**600)
    >>> int(big.exponent) - int(small.exponent)
    600
    >>> np.array_equal(big.scaled_cov, small.scaled_cov)
    True
    """

    _fields = ("mean", "scaled_cov", "exponent", "weight_sum")

    @classmethod
    def from_data(cls, X, sample_weight=None):
        """Compute the statistic of a dense or CSR/CSC matrix in one pass.

        Parameters
        ----------
        X : ndarray or sparse matrix of shape (n_samples, n_features)
            Data without NaN; float32 is read block by block and accumulated
            in float64.
        sample_weight : ndarray of shape (n_samples,), default=None
            Non-negative row weights.

        Returns
        -------
        Covariance
        """
        X, sample_weight, weight_unit = equal_weights_as_rows(X, sample_weight)
        if is_sparse(X):
            return cls._from_sparse(X, sample_weight)._times_weight(weight_unit)
        X = np.asarray(X)
        n_rows, n_cols = X.shape
        # A cheap first read (max and min per block) finds the units, and
        # NaN or infinity.
        exponent = _exponent_of(_dense_max_abs(X))
        runs = _dense_runs(n_rows, n_cols)
        shift = None
        if runs:
            # Accumulate around the first block's mean: the blocks' means are
            # then small and their differences keep their digits.
            shift = np.ldexp(X[runs[0][0]].astype(np.float64), -exponent).mean(axis=0)

        def scatter_of(run):
            """Chan's merge of the blocks of a run, in order."""
            total, mean, scatter = 0.0, np.full(n_cols, np.nan), np.zeros((n_cols,) * 2)
            for rows in run:
                weight = None if sample_weight is None else sample_weight[rows]
                block = _dense_block(X[rows], weight, shift, exponent)
                total, mean, scatter = _merge_scatter(total, mean, scatter, *block)
            return total, mean, scatter

        # Runs of blocks on the pool, merged in order: the result depends on
        # the shape only, not on the number of threads.
        units = reported_units(runs, "covariance-rows")
        if units is runs:
            results = map_blas_tasks(scatter_of, runs)
        else:  # reported one after the other
            results = [scatter_of(run) for run in units]
        total, mean, scatter = 0.0, np.full(n_cols, np.nan), np.zeros((n_cols,) * 2)
        for result in results:
            total, mean, scatter = _merge_scatter(total, mean, scatter, *result)
        if shift is not None:
            mean = mean + shift
        return cls._in_units(mean, scatter, exponent, total)._times_weight(weight_unit)

    @classmethod
    def work_units(cls, X, sample_weight=None, **options):
        """The runs of dense row blocks, each multiplied by one task (a sparse
        matrix is read in chunks decided on the way, and array API input in
        device blocks: neither is reported)."""
        if is_sparse(X) or namespace_of(X) is not None:
            return 0
        n_rows, n_cols = np.shape(X)
        n_rows = rows_kept_by_weights(n_rows, sample_weight)
        return len(_dense_runs(n_rows, n_cols))

    @classmethod
    def from_device(cls, data, sample_weight=None):
        """The statistic of array API input, reduced on its device in float64.

        One reduction finds the units (and NaN or infinity, which raise as on
        the host); the scatter is then accumulated on the device
        (:func:`_device_scatter`) and only the ``d x d`` matrix comes to the
        host. Unequal weights, and devices without float64, are computed on
        the host.
        """
        unit = equal_weight_unit(sample_weight)
        if unit is None or not data.namespace.has_float64:
            return cls.from_data(data.host(), sample_weight)
        xp, X = data.namespace.xp, data.array
        largest = float(xp.max(xp.abs(X)))
        if not np.isfinite(largest):
            bad = to_numpy(~xp.all(xp.isfinite(X), axis=0))
            _raise_not_finite(np.flatnonzero(bad))
        exponent = _exponent_of(largest)
        total, mean, scatter = _device_scatter(X, data.namespace, exponent)
        return cls._in_units(mean, scatter, exponent, total)._times_weight(unit)

    def _times_weight(self, unit):
        """The statistic with ``weight_sum`` in the caller's units (the
        weights were divided by ``unit``)."""
        if unit != 1.0:
            with np.errstate(over="ignore"):
                self.weight_sum = np.asarray(float(self.weight_sum) * unit)
        return self

    @classmethod
    def _in_units(cls, scaled_mean, scaled_scatter, exponent, total):
        """The statistic from its mean and scatter in units of ``2**exponent``."""
        if total == 0:
            exponent = 0
            scaled_cov = np.zeros_like(scaled_scatter)
        else:
            scaled_cov = scaled_scatter / total
        return cls(
            mean=np.ldexp(scaled_mean, exponent),
            scaled_cov=scaled_cov,
            exponent=exponent,
            weight_sum=total,
        )

    @classmethod
    def _from_sparse(cls, X, sample_weight):
        X = X.tocsr() if X.format != "csr" else X
        n_rows, n_cols = X.shape
        finite = np.isfinite(X.data)
        if not finite.all():
            _raise_not_finite(X.indices[~finite])
        total = float(n_rows if sample_weight is None else sample_weight.sum())
        if total == 0:
            return cls._in_units(
                np.full(n_cols, np.nan), np.zeros((n_cols, n_cols)), 0, 0.0
            )
        exponent = _exponent_of(float(np.abs(X.data).max()) if X.nnz else 0.0)
        chunks = _sparse_row_chunks(n_rows, X.nnz)

        # First pass, O(nnz): weighted sum and stored weight of each column.
        column_sum = np.zeros(n_cols)
        stored_weight = np.zeros(n_cols)
        for rows in chunks:
            chunk = X[rows]
            values = np.ldexp(chunk.data.astype(np.float64), -exponent)
            if sample_weight is not None:
                entry_weight = np.repeat(sample_weight[rows], np.diff(chunk.indptr))
                values *= entry_weight
            else:
                entry_weight = None
            column_sum += np.bincount(chunk.indices, values, minlength=n_cols)
            stored_weight += np.bincount(chunk.indices, entry_weight, minlength=n_cols)
        mean = column_sum / total
        # Columns with at most half their weight on implicit zeros: their
        # variance may be tiny next to mean**2 (values near 1e6 with a small
        # spread), so they are shifted by their mean and multiplied densely.
        # Elsewhere mean**2 / variance <= 1 and sparse products lose nothing.
        dense = np.flatnonzero(2 * stored_weight >= total)
        sparse_cols = np.flatnonzero(2 * stored_weight < total)
        shift = mean[dense]
        if dense.size:
            chunks = _sparse_row_chunks(n_rows, X.nnz, dense_columns=dense.size)

        # Second pass: the scatter around (0 for sparse columns, shift for
        # dense ones), and the residual sums of the deviations.
        around = np.zeros((n_cols, n_cols))
        residual = np.zeros(n_cols)
        ss, dd = np.ix_(sparse_cols, sparse_cols), np.ix_(dense, dense)
        sd, ds = np.ix_(sparse_cols, dense), np.ix_(dense, sparse_cols)
        for rows in chunks:
            chunk = X[rows].astype(np.float64)
            chunk.data = np.ldexp(chunk.data, -exponent)
            root = None if sample_weight is None else np.sqrt(sample_weight[rows])
            if dense.size:
                block = chunk[:, dense].toarray()
                block -= shift
                if root is None:
                    residual[dense] += block.sum(axis=0)
                else:
                    residual[dense] += sample_weight[rows] @ block
                    block *= root[:, None]
                chunk = chunk[:, sparse_cols] if sparse_cols.size else None
            if chunk is None:
                around[dd] += block.T @ block
                continue
            if root is not None:
                # Rows scaled by sqrt(w): chunk^T chunk is then X^T W X.
                chunk = chunk.multiply(root[:, None]).tocsr()
            around[ss] += (chunk.T @ chunk).toarray()
            if dense.size:
                around[dd] += block.T @ block
                cross = np.asarray(chunk.T @ block)
                around[sd] += cross
                around[ds] += cross.T
        residual[sparse_cols] = column_sum[sparse_cols]
        scaled = residual / np.sqrt(total)
        scatter = around - np.outer(scaled, scaled)
        scatter = (scatter + scatter.T) / 2
        center = np.zeros(n_cols)
        center[dense] = shift
        return cls._in_units(center + residual / total, scatter, exponent, total)

    @property
    def scaled_scatter(self):
        """The scatter matrix divided by ``4**exponent`` (in the caller's
        weight units: infinity where huge weights make it overflow)."""
        with np.errstate(over="ignore"):
            return self.scaled_cov * float(self.weight_sum)

    @property
    def scatter(self):
        """The scatter matrix in the data's units (infinity where it overflows)."""
        with np.errstate(over="ignore"):
            return np.ldexp(self.scaled_scatter, 2 * int(self.exponent))

    def reweighted(self, factor):
        """The statistic with every row's weight times ``factor`` (> 0).

        The mean and the (biased) covariance depend on relative weights only,
        so only ``weight_sum`` changes: exact.

        Examples
        --------
        >>> from sknorm.stats import Covariance
        >>> float(Covariance.from_data([[1.0], [3.0]]).reweighted(0.25).weight_sum)
        0.5
        """
        factor = self._check_factor(factor)
        state = {f: np.copy(getattr(self, f)) for f in self._fields}
        state["weight_sum"] = np.asarray(self.weight_sum) * factor
        return type(self)(**state)

    def merge(self, other):
        """Return the statistic of the union of both data sets (Chan et al.).

        The weights enter as shares of their total, so neither huge nor tiny
        weight sums overflow or underflow.
        """
        self._check_mergeable(other)
        if float(other.weight_sum) == 0:
            return type(self)(**{f: getattr(self, f) for f in self._fields})
        if float(self.weight_sum) == 0:
            return type(self)(**{f: getattr(other, f) for f in self._fields})
        exponent = max(int(self.exponent), int(other.exponent))
        n_a, n_b = float(self.weight_sum), float(other.weight_sum)
        largest = max(n_a, n_b)
        share_b = (n_b / largest) / (n_a / largest + n_b / largest)
        share_a = 1.0 - share_b
        # Rescaling by a power of two is exact (short of underflow, which only
        # drops what is negligible next to the other side).
        mean_a = np.ldexp(self.mean, -exponent)
        mean_b = np.ldexp(other.mean, -exponent)
        delta = mean_b - mean_a
        scaled = delta * np.sqrt(share_a * share_b)
        # outer(v, v) of one vector is exactly symmetric, as the matrix must be.
        cov = (
            share_a * np.ldexp(self.scaled_cov, 2 * (int(self.exponent) - exponent))
            + share_b * np.ldexp(other.scaled_cov, 2 * (int(other.exponent) - exponent))
            + np.outer(scaled, scaled)
        )
        with np.errstate(over="ignore"):
            total = n_a + n_b
        return type(self)(
            mean=np.ldexp(mean_a + delta * share_b, exponent),
            scaled_cov=cov,
            exponent=exponent,
            weight_sum=total,
        )

    def nonfinite_columns(self):
        """Boolean mask of the columns whose mean or covariance is not finite."""
        bad = ~np.isfinite(self.mean)
        bad |= ~np.isfinite(self.scaled_cov).all(axis=0)
        return bad

    def scaled_covariance(self, ddof=0, *, center=True):
        """``(matrix, exponent)``: the covariance is ``matrix * 4**exponent``.

        The covariance ``scatter / (weight_sum - ddof)`` in the data's units
        ``2**exponent``, always representable. With ``center=False``, the
        uncentered second moment ``E[x x^T]`` instead. NaN without data.
        """
        exponent = int(self.exponent)
        n = float(self.weight_sum)
        if n - ddof <= 0:
            return np.full_like(self.scaled_cov, np.nan), exponent
        matrix = self.scaled_cov if ddof == 0 else self.scaled_cov * (n / (n - ddof))
        if not center:
            mean = np.ldexp(self.mean, -exponent)
            matrix = matrix + np.outer(mean, mean)
        return matrix, exponent

    def oas_shrinkage(self, *, center=True):
        """The Oracle Approximating Shrinkage coefficient (Chen et al., 2010).

        The weight ``a`` of the scaled identity in ``(1 - a) C + a (tr C / d)
        I`` that approximately minimizes the expected squared error of the
        estimate, from the covariance ``C`` (the second moment with
        ``center=False``) and the sample size alone: mergeable, no second
        pass over the data. With ``alpha = mean(C**2)`` and ``mu = tr C /
        d``, ``a = min((alpha + mu**2) / ((n + 1) (alpha - mu**2 / d)), 1)``,
        the formula of :class:`sklearn.covariance.OAS` (which drops the
        ``2 / d`` terms of the paper's equation 23, negligible for large
        ``d``); 0 for one feature, 1 when every direction has the same
        variance.

        ``n`` is ``weight_sum``: weights count as repetitions of rows (integer
        weights equal repeated rows), not as an effective sample size
        ``(sum w)**2 / sum w**2``, which the statistic does not keep.

        Parameters
        ----------
        center : bool, default=True
            Shrink the covariance (True) or the uncentered second moment
            (False, ``OAS(assume_centered=True)``).

        Returns
        -------
        shrinkage : float in [0, 1]
            NaN without data.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.covariance import OAS
        >>> from sknorm.stats import Covariance
        >>> X = np.random.default_rng(0).normal(size=(50, 10))
        >>> a = Covariance.from_data(X[:20]).merge(Covariance.from_data(X[20:]))
        >>> bool(np.isclose(a.oas_shrinkage(), OAS().fit(X).shrinkage_))
        True
        """
        n = float(self.weight_sum)
        n_features = self.scaled_cov.shape[0]
        if n == 0:
            return float("nan")
        if n_features == 1:
            return 0.0  # the shrunk matrix is the same whatever the coefficient
        # In the data's units 4**exponent: the ratio is scale-free and these
        # values are at most 1, so their squares neither overflow nor underflow.
        matrix, _ = self.scaled_covariance(center=center)
        alpha = float(np.mean(matrix**2))
        mu_squared = (float(np.trace(matrix)) / n_features) ** 2
        denominator = (n + 1) * (alpha - mu_squared / n_features)
        if denominator <= 0:
            return 1.0  # a scaled identity already
        return min((alpha + mu_squared) / denominator, 1.0)

    def covariance(self, ddof=0):
        """Covariance matrix ``scatter / (weight_sum - ddof)`` (NaN without data).

        Infinity where it exceeds the float64 range: see
        :meth:`scaled_covariance`.
        """
        matrix, exponent = self.scaled_covariance(ddof)
        with np.errstate(over="ignore"):
            return np.ldexp(matrix, 2 * exponent)

    def second_moment(self):
        """Uncentered second moment ``E[x x^T] = covariance + mean mean^T``."""
        matrix, exponent = self.scaled_covariance(center=False)
        with np.errstate(over="ignore"):
            return np.ldexp(matrix, 2 * exponent)


def _dense_runs(n_rows, n_cols):
    """Row blocks of a dense matrix, in runs of consecutive blocks (one task
    each), cut by the shape alone."""
    blocks = list(row_blocks(n_rows, n_cols, _BLOCK_ELEMENTS))
    fitting = _MAX_TASK_SCATTER_BYTES // max(1, 8 * n_cols * n_cols)
    most = max(1, min(_MAX_TASKS, fitting))
    return task_runs(blocks, most) if blocks else []


def _sparse_row_chunks(n_rows, nnz, dense_columns=0):
    """Row slices holding about ``_SPARSE_CHUNK_ENTRIES`` stored values each,
    and as many values in their dense block of ``dense_columns`` columns."""
    rows_per_chunk = max(1, _SPARSE_CHUNK_ENTRIES * n_rows // max(1, nnz))
    if dense_columns:
        rows_per_chunk = min(
            rows_per_chunk, max(1, _SPARSE_CHUNK_ENTRIES // dense_columns)
        )
    return [
        slice(start, min(start + rows_per_chunk, n_rows))
        for start in range(0, n_rows, rows_per_chunk)
    ]
