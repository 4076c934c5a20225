"""The dense and array API passes of the row kernel over (row, group)
segments."""

import math

import numpy as np

from .._validation import (
    row_blocks,
)
from ..stats import Moments
from ._kernels import (
    _scaled_segment,
    _spread_from_power_sums,
    _spread_in_x_units,
    _times_multiplier,
    _unit_multiplier,
    _unscaled_segment,
)


def _dense_layout(groups):
    """Groups bucketed by size, so that equally sized groups run as one batch.

    Returns a list of ``(group ids, columns)``: ``columns`` is a slice for a
    bucket of one contiguous group (a view of each row block), else an index
    matrix of shape (groups in the bucket, group size).
    """
    by_size = {}
    for b, columns in enumerate(groups):
        by_size.setdefault(len(columns), []).append(b)
    layout = []
    for ids in by_size.values():
        matrix = np.stack([np.asarray(groups[b]) for b in ids])
        first, last = matrix[0, 0], matrix[0, -1]
        if len(ids) == 1 and np.array_equal(matrix[0], np.arange(first, last + 1)):
            layout.append((np.array(ids), slice(int(first), int(last) + 1)))
        else:
            layout.append((np.array(ids), matrix))
    return layout


def _dense_pass(X, rule, groups, out, factors):
    """Run the kernel over dense ``X``; write the result to ``out`` if given.

    Each cache-sized row block is converted to float64 (float32 input); the
    segments of a bucket of equally sized groups form the rows of one matrix
    (a view for a single contiguous group), which takes the fast path; only
    the segments that need it are then scaled by their max-abs. Returns the
    spread of every (row, group) segment in X's units and the mask of
    all-zero segments, both of shape (n_rows, n_groups).
    """
    n_rows, n_cols = X.shape
    spreads = np.empty((n_rows, len(groups)))
    zeros = np.zeros((n_rows, len(groups)), dtype=bool)
    for ids, columns in _dense_layout(groups):
        one_view = isinstance(columns, slice)
        n_per_row = len(ids)
        for rows in row_blocks(n_rows, n_cols):
            block = X[rows].astype(np.float64, copy=False)
            n_block = block.shape[0]
            x = block[:, columns]
            if not one_view:  # (rows, groups, size) -> one segment per row
                x = x.reshape(n_block * n_per_row, -1)
            factor = 1.0 if factors is None else np.tile(factors[ids], n_block)
            with np.errstate(all="ignore"):
                center, spread, values, safe = _unscaled_segment(x, rule)
            unsafe = np.flatnonzero(~safe)
            # Copied before the fast path's output may overwrite x in place.
            x_unsafe = x[unsafe] if unsafe.size else None
            spreads[rows, ids] = spread.reshape(n_block, n_per_row)
            target = None if out is None else out[rows]
            if target is not None:
                g = rule.multiplier(np.ones_like(spread), ~safe, center, spread)
                g *= factor
                with np.errstate(all="ignore"):
                    if one_view:
                        np.multiply(values, g[:, None], out=target[:, columns])
                    else:
                        target[:, columns] = (values * g[:, None]).reshape(
                            n_block, n_per_row, -1
                        )
            if x_unsafe is None:
                continue
            m, zero, center, spread, values = _scaled_segment(x_unsafe, rule)
            row, which = np.divmod(unsafe, n_per_row)
            spreads[rows][row, ids[which]] = _spread_in_x_units(m, zero, spread)
            zeros[rows][row, ids[which]] = zero
            if target is not None:
                g = rule.multiplier(m, zero, center, spread)
                g *= factor if np.isscalar(factor) else factor[unsafe]
                selected = columns if one_view else columns[which]
                target[row[:, None] if not one_view else row, selected] = (
                    _times_multiplier(values, g)
                )
    return spreads, zeros


def _namespace_segments(xp, x, rule):
    """:func:`_scaled_segment` on segments ``x`` of shape (rows, segments,
    size) of an array API array: ``(m, zero, center, spread, values)``, NaN
    ignored, each of shape (rows, segments) but ``values`` (x's shape)."""
    dtype = x.dtype
    missing = xp.isnan(x)
    m = xp.max(xp.where(missing, 0.0, xp.abs(x)), axis=-1)
    zero = ~(m > 0)
    m = xp.where(zero, 1.0, m)
    if rule.about_mean:  # an exact scaling (see _power_of_two_above)
        exponent = xp.clip(xp.ceil(xp.log2(m)), max=1023.0)
        m = xp.full_like(m, 2.0) ** exponent
    y = x / m[..., None]
    count = xp.sum(xp.astype(~missing, dtype), axis=-1)
    has_values = count > 0
    safe_count = xp.where(has_values, count, 1.0)
    center, z = None, y
    if rule.about_mean:
        total = xp.sum(xp.where(missing, 0.0, y), axis=-1)
        center = xp.where(has_values, total / safe_count, 0.0)
        # The corrected two-pass mean (see _corrected_center).
        z = y - center[..., None]
        residual = xp.sum(xp.where(missing, 0.0, z), axis=-1)
        correction = xp.where(has_values, residual / safe_count, 0.0)
        z = z - correction[..., None]
        center = center + correction
    present = xp.where(missing, 0.0, z)
    if rule.p == 2:
        sums = xp.sum(present * present, axis=-1)
    elif rule.p == np.inf:
        sums = xp.max(xp.abs(present), axis=-1)
    elif rule.p == 1:
        sums = xp.sum(xp.abs(present), axis=-1)
    else:
        sums = xp.sum(xp.abs(present) ** rule.p, axis=-1)
    spread = _spread_from_power_sums(sums, count, rule, zero, xp)
    return m, zero, center, spread, (z if rule.subtract_mean else y)


def _namespace_multiplier(xp, rule, m, zero, center, spread):
    """:meth:`_RowRule.multiplier` with the namespace's functions."""
    if not rule.scale:
        return m
    if rule.floor == "max":
        g = 1.0 / xp.where(zero, 1.0, spread)
        if rule.eps > 0:
            below = ~zero & (m * spread < rule.eps)
            g = xp.where(below, m / rule.eps, g)
        return g
    spread_x = m * spread
    if rule.eps > 0:
        divisor = xp.hypot(spread_x, xp.full_like(spread_x, math.sqrt(rule.eps)))
    else:
        # safe_scale's constant rule: a spread within the moments' rounding
        # error of the magnitude is none.
        threshold = xp.zeros_like(spread_x)
        if center is not None:
            magnitude = xp.abs(m * center)
            threshold = float(Moments.spread_rounding) * xp.where(
                xp.isfinite(magnitude), magnitude, 0.0
            )
        divisor = xp.where(spread_x > threshold, spread_x, 1.0)
        # Below the normal range m * spread has lost bits: see multiplier.
        below = spread_x < float(np.finfo(np.float64).tiny)
        return xp.where(below, _unit_multiplier(m, center, spread, xp), m / divisor)
    return m / divisor


def _namespace_pass(X, namespace, rule, groups, factors, with_output):
    """The kernel over an array API array, on its device.

    Each bucket of equally sized groups is gathered into one (rows, groups,
    size) array and takes the scaled path (:func:`_namespace_segments`); the
    outputs and the columns in no group are put back in column order with
    one ``take``. Returns ``(out, spreads, zeros)`` as :func:`_row_pass`,
    in the namespace (``out`` None unless ``with_output``).
    """
    xp = namespace.xp
    n_rows, n_cols = X.shape
    x = xp.astype(X, namespace.float_dtype)
    pieces, piece_columns, spreads, zeros, group_ids = [], [], [], [], []
    for ids, columns in _dense_layout(groups):
        flat = np.arange(n_cols)[columns] if isinstance(columns, slice) else columns
        flat = flat.reshape(-1)
        segment = x[:, columns] if isinstance(columns, slice) else None
        if segment is None:
            segment = namespace.take_columns(x, flat)
        segment = xp.reshape(segment, (n_rows, len(ids), -1))
        m, zero, center, spread, values = _namespace_segments(xp, segment, rule)
        spreads.append(xp.where(zero, 0.0, m * spread))
        zeros.append(zero)
        group_ids.extend(int(b) for b in ids)
        if with_output:
            g = _namespace_multiplier(xp, rule, m, zero, center, spread)
            if factors is not None:
                g = g * namespace.asarray(factors[ids])
            pieces.append(xp.reshape(values * g[..., None], (n_rows, -1)))
            piece_columns.append(flat)
    group_order = np.argsort(group_ids)
    spreads = namespace.take_columns(xp.concat(spreads, axis=1), group_order)
    zeros = namespace.take_columns(xp.concat(zeros, axis=1), group_order)
    if not with_output:
        return None, spreads, zeros
    passed = np.setdiff1d(np.arange(n_cols), np.concatenate(piece_columns))
    if passed.size:  # columns in no group, unchanged
        pieces.append(namespace.take_columns(x, passed))
        piece_columns.append(passed)
    out = xp.concat(pieces, axis=1)
    order = np.argsort(np.concatenate(piece_columns))
    if np.any(order != np.arange(n_cols)):
        out = namespace.take_columns(out, order)
    return xp.astype(out, X.dtype), spreads, zeros
