"""Cache-sized row blocks, grouped into tasks that run on a shared thread pool.

Every dense kernel of sknorm streams its input in row blocks small enough that
a block and the temporaries computed from it stay in a core's cache, so each
value is read from memory once however many operations touch it. Blocks are
grouped into tasks of a few megabytes that run on one pool of threads shared by
all of sknorm: numpy and the compiled kernels release the GIL inside their
loops, so the threads compute at the same time.

Results never depend on the number of threads. How an array is cut into tasks
and blocks depends only on its shape; a task reduces its blocks in order, and
callers combine the tasks' results in task order (:func:`map_tasks` returns
them in that order, whichever thread computed them).

How many threads a call uses (:func:`n_threads`) is read on every call that
has more than one task, so a limit set after ``import sknorm`` applies: the
``SKNORM_NUM_THREADS`` environment variable when set, else the smallest of the
cores this process may run on, ``OMP_NUM_THREADS`` and the OpenMP runtime's
current limit, which ``threadpoolctl.threadpool_limits`` sets (sknorm's threads
count as OpenMP threads, like scikit-learn's own parallel loops). Inside a
joblib worker process, joblib sets ``OMP_NUM_THREADS`` to its share of the
cores, so sknorm runs no more threads than joblib grants. A call with a single
task, or a single thread, runs in the calling thread without touching the pool.
"""

import collections
import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

__all__ = [
    "BLOCK_ELEMENTS",
    "TASK_ELEMENTS",
    "BlockPlan",
    "iter_stream",
    "iter_tasks",
    "map_blas_tasks",
    "map_tasks",
    "n_threads",
    "row_blocks",
    "task_runs",
]

#: Values per row block (2 MiB of float64). A block and a temporary of the same
#: size stay in cache (L2 and the shared L3 of current x86 cores) between the
#: operations that read them; much smaller blocks cost more in per-block Python
#: overhead and, with several threads, in handing the GIL between them than
#: they save (measured on 1e6 x 100 float64: 1 << 15 took twice as long as
#: 1 << 18 on two threads).
BLOCK_ELEMENTS = 1 << 18

#: Fewest rows per block: on wide matrices a block of a few rows costs more in
#: per-block Python overhead than it saves in cache misses.
MIN_BLOCK_ROWS = 16

#: Blocks of rows narrower than this are viewed as several rows side by side
#: (see :meth:`BlockPlan.widen`): numpy's column reductions and broadcasts run
#: their inner loop along a row, which is slow when the row is short.
MIN_ROW_WIDTH = 64

#: Values per task (8 MiB of float64): enough that scheduling a task costs
#: little next to running it, few enough that the tasks of an array balance
#: the threads (a 1e7-value array makes 10 tasks).
TASK_ELEMENTS = 1 << 20


def n_threads():
    """Threads a call of sknorm's kernels may use now.

    ``SKNORM_NUM_THREADS`` when set; else the smallest of the usable cores,
    ``OMP_NUM_THREADS`` and the limit of the OpenMP runtimes loaded in the
    process, as ``threadpoolctl.threadpool_limits`` sets it in the calling
    thread. Cheap enough to read on every call (a few microseconds, after a
    one-off look-up of the OpenMP runtimes).
    """
    value = os.environ.get("SKNORM_NUM_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(
                f"SKNORM_NUM_THREADS must be a positive integer, got {value!r}."
            ) from None
    limit = _usable_cores()
    # "4,2" limits nested OpenMP levels: sknorm's threads are the first level.
    omp = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if omp.isdigit() and int(omp) > 0:
        limit = min(limit, int(omp))
    if limit > 1:
        for runtime in _openmp_runtimes():
            limit = min(limit, max(1, runtime.get_num_threads() or 1))
    return limit


def _usable_cores():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


_runtimes = None


def _openmp_runtimes():
    """threadpoolctl's controllers of the OpenMP runtimes loaded in the process,
    looked up once (listing the loaded libraries takes tens of milliseconds).

    sknorm has no shared library that threadpoolctl could find, so it cannot
    register a controller of its own; it reads the OpenMP limit instead, which
    ``threadpool_limits(n)`` and ``threadpool_limits(n, user_api="openmp")``
    set. scikit-learn loads an OpenMP runtime at import.
    """
    global _runtimes
    if _runtimes is None:
        try:
            from threadpoolctl import ThreadpoolController

            controllers = ThreadpoolController().lib_controllers
            _runtimes = [lib for lib in controllers if lib.user_api == "openmp"]
        except Exception:  # pragma: no cover - threadpoolctl cannot inspect
            _runtimes = []
    return _runtimes


_pool = None
_pool_size = 0
_pool_lock = threading.Lock()
#: Set in the pool's threads: a task that maps tasks runs them itself rather
#: than wait for threads that may all be waiting too.
_worker = threading.local()


def _executor(size):
    """The shared pool, grown to at least ``size`` threads."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < size:
            if _pool is not None:
                _pool.shutdown(wait=False)  # its threads end when idle
            _pool = ThreadPoolExecutor(
                size, thread_name_prefix="sknorm", initializer=_mark_worker
            )
            _pool_size = size
        return _pool


def _mark_worker():
    _worker.active = True


def _forget_pool():
    # A child created by fork has none of its parent's threads: start afresh.
    global _pool, _pool_size, _pool_lock
    _pool = None
    _pool_size = 0
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def iter_tasks(function, tasks, *, parallel=True):
    """The results of ``function(task)`` for ``tasks``, in their order, as an
    iterator; the tasks run on the shared pool.

    At most :func:`n_threads` threads run the tasks, the calling thread among
    them: each takes the next task not yet taken. One task, one thread,
    ``parallel=False`` (the caller judged the work too small to share) or a
    call from a task already on the pool run the tasks in the calling thread,
    one per request for a result. An exception raised by a task is re-raised
    in its place; no task begins after it, and none is left running.
    """
    tasks = list(tasks)
    threads = 1
    if parallel and len(tasks) > 1 and not getattr(_worker, "active", False):
        threads = min(n_threads(), len(tasks))
    if threads <= 1:
        return (function(task) for task in tasks)
    return _shared(function, tasks, threads)


def _shared(function, tasks, threads):
    results = [Future() for _ in tasks]
    taken = iter(range(len(tasks)))
    lock = threading.Lock()
    failed = False

    def take():
        with lock:
            return None if failed else next(taken, None)

    def run(index):
        nonlocal failed
        try:
            results[index].set_result(function(tasks[index]))
        except BaseException as error:  # handed to the caller, in its place
            with lock:
                failed = True
            results[index].set_exception(error)

    def help_out():
        while (index := take()) is not None:
            run(index)

    pool = _executor(threads - 1)
    helpers = [pool.submit(help_out) for _ in range(threads - 1)]
    try:
        for result in results:
            # The caller computes tasks too, until the next result is ready.
            while not result.done() and (index := take()) is not None:
                run(index)
            yield result.result()
    finally:
        with lock:
            failed = True  # no task begins after an error or an early exit
        for helper in helpers:
            helper.result()


def iter_stream(function, items, *, parallel=True):
    """The results of ``function(item)`` for an iterator of ``items``, in
    their order, as an iterator; the items are taken one at a time.

    The calling thread takes the next item (reading it from a source, say)
    while the pool's threads compute the items taken before: at most
    :func:`n_threads` items are computed at once and one more is held, so
    the memory used is a few items whatever the number of items (unlike
    :func:`iter_tasks`, which takes them all first). One thread,
    ``parallel=False`` or a call from a task already on the pool compute
    each item in the calling thread. An exception raised by a task is
    re-raised in its place; no item is taken after it, and no task is left
    running.
    """
    threads = 1
    if parallel and not getattr(_worker, "active", False):
        threads = n_threads()
    if threads <= 1:
        yield from map(function, items)
        return
    pool = _executor(threads)
    pending = collections.deque()
    try:
        for item in items:
            pending.append(pool.submit(function, item))
            del item  # held by its task only
            if len(pending) >= threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            if not future.cancelled():
                future.exception()  # wait: no task outlives the call


def map_tasks(function, tasks, *, parallel=True):
    """``[function(task) for task in tasks]``, run on the shared pool.

    See :func:`iter_tasks`; results come back in the order of ``tasks``.
    """
    return list(iter_tasks(function, tasks, parallel=parallel))


def row_blocks(n_rows, n_cols, block_elements=BLOCK_ELEMENTS, *, start=0, stop=None):
    """Yield slices of rows holding about ``block_elements`` values each.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape of the array.
    block_elements : int, default=BLOCK_ELEMENTS
        Target number of values per block.
    start, stop : int, optional
        Only cover the rows ``start:stop``.
    """
    stop = n_rows if stop is None else stop
    step = max(1, block_elements // max(1, n_cols))
    for first in range(start, stop, step):
        yield slice(first, min(first + step, stop))


class BlockPlan:
    """How a dense ``(n_rows, n_cols)`` array is cut into tasks and row blocks.

    The cut depends only on the shape. Blocks hold about ``BLOCK_ELEMENTS``
    values but at least ``MIN_BLOCK_ROWS`` rows; when rows are narrower than
    ``MIN_ROW_WIDTH``, a block's row count is a multiple of ``lanes`` so that
    :meth:`widen` can view it as ``lanes`` rows side by side. Tasks are runs of
    whole blocks holding about ``TASK_ELEMENTS`` values.

    Parameters
    ----------
    n_rows, n_cols : int
        Shape of the array.
    """

    def __init__(self, n_rows, n_cols):
        self.n_rows = n_rows
        self.n_cols = n_cols
        width = max(1, n_cols)
        self.lanes = max(1, -(-MIN_ROW_WIDTH // width))
        rows = max(MIN_BLOCK_ROWS, BLOCK_ELEMENTS // width)
        self.block_rows = max(self.lanes, rows - rows % self.lanes)
        blocks_per_task = max(1, TASK_ELEMENTS // (self.block_rows * width))
        self.task_rows = self.block_rows * blocks_per_task

    def tasks(self):
        """Row slices of the tasks, in order."""
        return [
            slice(start, min(start + self.task_rows, self.n_rows))
            for start in range(0, self.n_rows, self.task_rows)
        ]

    def blocks(self, task):
        """Row slices of the blocks of ``task``, in order."""
        for start in range(task.start, task.stop, self.block_rows):
            yield slice(start, min(start + self.block_rows, task.stop))

    def map(self, function):
        """``function(task)`` for every task, on the pool; results in task order."""
        return map_tasks(function, self.tasks())

    def widen(self, block):
        """View a block of narrow rows as ``lanes`` consecutive rows side by side.

        Returns ``(view, lanes)``: a C-contiguous block whose row count is a
        multiple of :attr:`lanes` is reshaped (no copy) to rows of
        ``lanes * n_cols`` values; any other block is returned as it is with
        ``lanes = 1``. Per-column results of a widened block are combined
        with :func:`fold`.
        """
        lanes = self.lanes
        if lanes > 1 and block.flags.c_contiguous and block.shape[0] % lanes == 0:
            return block.reshape(block.shape[0] // lanes, lanes * block.shape[1]), lanes
        return block, 1


def fold(values, lanes, ufunc):
    """Combine the ``lanes`` copies of a per-column result of a widened block."""
    if lanes == 1:
        return values
    return ufunc.reduce(values.reshape(lanes, -1), axis=0)


_blas_controller = None


def map_blas_tasks(function, tasks):
    """:func:`map_tasks` of tasks whose matrix products run
    on one BLAS thread each.

    The tasks run side by side on sknorm's pool instead of one product after
    another on BLAS's threads. On a 2-core machine this is as fast when the
    cores are idle and several times faster when other processes compete for
    them (BLAS's threads wait for each other at the end of every product);
    and a product's rounding never depends on BLAS's thread count. The limit
    applies to the whole process while the tasks run.
    """
    global _blas_controller
    if _blas_controller is None:
        from threadpoolctl import ThreadpoolController  # a scikit-learn dependency

        _blas_controller = ThreadpoolController()
    with _blas_controller.limit(limits=1, user_api="blas"):
        return map_tasks(function, tasks)


def task_runs(blocks, n_tasks):
    """``blocks`` cut into ``n_tasks`` runs of consecutive blocks (as even as
    possible, in order)."""
    n_tasks = max(1, min(n_tasks, len(blocks)))
    bounds = np.linspace(0, len(blocks), n_tasks + 1).round().astype(int)
    return [blocks[a:b] for a, b in itertools.pairwise(bounds)]
