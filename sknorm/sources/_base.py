"""What every source of row blocks provides to a fit (:mod:`._fit`)."""

import copy

import numpy as np

from .._parallel import iter_stream
from ._fit import merge_parts, merge_recentred

__all__ = ["Source", "StreamSource"]

#: Parts merged at once by the tree of a stream's merges: the depth of the
#: tree (the number of merges that move one block's integer statistics, see
#: :func:`~._fit.merge_recentred`) grows as its logarithm, the parts held at
#: once as its product with that depth.
_MERGE_ARITY = 8


class Source:
    """Data that a fit reads in row blocks, merging their statistics.

    Subclasses give the data (:attr:`data`, shown to callbacks), a one-row
    stand-in with its columns and dtypes (:meth:`metadata_sample`), the number
    of blocks if known (:meth:`n_blocks`), and :meth:`reduce`, which runs a
    function on every block and merges the results. :attr:`rereadable` says
    whether the blocks can be read again (exact quantiles read them more than
    once); :attr:`block_name` names a block in the callbacks' subtasks.
    """

    data = None
    description = "the source"
    block_name = "batch"
    rereadable = True

    def metadata_sample(self):  # pragma: no cover - abstract
        """A one-row in-memory stand-in with the source's columns and dtypes:
        validating it checks the number, names and dtypes of the features
        without reading any data. Its numeric values are 1, which every
        estimator's checks of values accept (Box-Cox's strictly positive
        data)."""
        raise NotImplementedError

    def n_blocks(self):
        """The number of blocks, or None where not known before reading."""
        return None

    def reduce(self, function, estimator, *args, task, n_features=None):
        """``function(estimator, block, weight, *args)`` on every block, merged:
        returns ``(fields, n_rows)`` (see :func:`~._fit.merge_parts`; with
        ``n_features``, :func:`~._fit.merge_recentred`). Each block is a
        subtask :attr:`block_name` of ``task``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def check_numeric(self, allowed=()):
        """Raise a ValueError naming the feature columns that are not numeric
        (but those ``allowed``), where the source knows its columns' types
        before reading; validation of the :meth:`metadata_sample` checks the
        others."""

    def wants_exact(self, estimator):
        """Whether ``fit`` computes the statistics that cannot be merged
        (exact quantiles) in further passes over the source."""
        return self.rereadable and estimator._exact_by_passes()


class StreamSource(Source):
    """A source whose blocks are read one after another in this process and
    computed on sknorm's thread pool while the next is read.

    Subclasses implement :meth:`blocks`. At most one block per thread is
    computed at once and one more is being read (:func:`~sknorm._parallel.iter_stream`),
    so the memory used is a few blocks, whatever the number of blocks. The
    results are merged in the order of the blocks, in a tree of
    :data:`_MERGE_ARITY` parts per merge, so the result does not depend on
    the number of threads.
    """

    def blocks(self):  # pragma: no cover - abstract
        """An iterator of ``(block, weight)``: a DataFrame or 2-D array of
        rows and their weights (a float64 array, or None)."""
        raise NotImplementedError

    def reduce(self, function, estimator, *args, task, n_features=None):
        if n_features is None:
            merge = merge_parts
        else:

            def merge(*parts):
                return merge_recentred(n_features, *parts)

        reported = []

        def read():
            for block, weight in self.blocks():
                # Begun when read, ended when merged (in this thread).
                reported.append(task.begin_subtask(self.block_name))
                yield block, weight

        def compute(item):
            block, weight = item
            if block.shape[0] == 0:
                return merge_parts()
            # Validation records what it sees on the estimator: each thread
            # its own copy.
            return function(copy.copy(estimator), block, weight, *args)

        levels = []  # levels[i]: parts of up to _MERGE_ARITY**i blocks
        for result in iter_stream(compute, read()):
            reported.pop(0).end()
            carry, level = result, 0
            while True:
                if len(levels) == level:
                    levels.append([])
                levels[level].append(carry)
                if len(levels[level]) < _MERGE_ARITY:
                    break
                carry, levels[level] = merge(*levels[level]), []
                level += 1
        # The rest, merged from the top level down (the order of the blocks).
        parts = [part for level in reversed(levels) for part in level]
        return merge(*parts) if parts else merge_parts()


def float_dtype_of(dtypes):
    """The float dtype of validated data with columns of ``dtypes`` (numpy
    dtypes): float16, float32 kept as validation keeps them, else float64
    (see :func:`sknorm._validation._float_dtype_for`)."""
    kinds = {np.dtype(d) for d in dtypes}
    if kinds == {np.dtype(np.float16)}:
        return np.dtype(np.float16)
    if kinds and kinds <= {np.dtype(np.float32), np.dtype(np.float16)}:
        return np.dtype(np.float32)
    return np.dtype(np.float64)
