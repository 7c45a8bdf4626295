"""rnnlab's own threads: one compiled loop split over the cores, meeting at barriers.

``run(parts, function, *args, driver=...)`` runs ``function(part, parts, counter, *args)``
once per thread (on numba's threads through the compiled ``driver`` where it can, else
on a pinned team of Python threads), holding OpenBLAS to one thread meanwhile; ``each``
runs independent tasks one per core; ``matmul`` and ``product`` split GEMMs over the
team. Why it is built so, with the measurements: docs/fast-path.md, "Threads".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from rnnlab.runtime.blas import blas_threads, gemm, set_blas_threads

#: multiply-adds per step (B · G·H · H) below which splitting a step loop does not pay:
#: measured on 2 cores, LSTM H = 64 at B = 16 (2¹⁸) gains nothing, 2²⁰ gains 1.3–2×
_SPLIT_WORK = 1 << 19
#: multiply-adds of a single product below which one thread does it (the team's start-up,
#: tens of microseconds, would cost more than the second core saves)
_SPLIT_PRODUCT = 1 << 22
#: counter slots: slot 0 is the barriers' count, slots 8, 16 and 24 other flags of a
#: call (``rnnlab.runtime.pipeline``), each alone on its cache line
_COUNTER_SLOTS = 32

_forced_parts: int | None = None
#: per thread: whether its kernel calls run alone, on one part (see ``each``)
_thread = threading.local()


def _allowed_cpus() -> list[int]:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _pin(cpu: int) -> None:
    """Keep the calling thread on one core (Linux: pid 0 is the calling thread)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


_hold_lock = threading.Lock()
_holders = 0
_held_threads = 1


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Hold numpy's OpenBLAS to one thread for a block; blocks may overlap (in several
    Python threads): the first saves OpenBLAS's count, the last restores it."""
    global _holders, _held_threads
    with _hold_lock:
        if _holders == 0:
            _held_threads = blas_threads()
            if _held_threads > 1:
                set_blas_threads(1)
        _holders += 1
    try:
        yield
    finally:
        with _hold_lock:
            _holders -= 1
            if _holders == 0 and _held_threads > 1:
                set_blas_threads(_held_threads)


def allowed_threads() -> int:
    """The threads numpy's OpenBLAS may use, as its user set them (not our hold)."""
    with _hold_lock:
        return _held_threads if _holders else blas_threads()


def parts_for(batch: int, work: int, enough: int = _SPLIT_WORK) -> int:
    """How many threads a loop with this batch and per-step work (multiply-adds) runs on;
    work below ``enough`` runs on one."""
    if batch < 2 and _forced_parts is None:
        return 1
    return parts_for_work(work, enough)


def parts_for_work(work: int, enough: int) -> int:
    """The threads for ``work`` multiply-adds split in any way: 1 below ``enough``,
    else all the team may have (or what ``force_parts`` set)."""
    if _forced_parts is not None:
        return _forced_parts
    if work < enough or getattr(_thread, "alone", False):
        return 1
    return max(1, min(allowed_threads(), len(_allowed_cpus())))


def force_parts(parts: int | None) -> None:
    """Run every team call on exactly ``parts`` threads (None: decide by size). For tests,
    and to compile the drivers of a model too small to use them (``rnnlab.warmup``)."""
    global _forced_parts
    _forced_parts = parts


#: a counter this large passes every barrier: how a failed call releases its other parts
_RELEASED = 1 << 62
#: whether calls leave their drivers aside (``defer_drivers``)
_drivers_deferred = False


def defer_drivers(deferred: bool) -> None:
    """Run calls on the team's own threads instead of their drivers (``deferred``), or on
    the drivers again. A driver compiled with its loop costs as much again as the loop
    (numba links and re-optimises the loop into it), so a cold run starts on the loops
    alone while another process compiles the drivers (``rnnlab.warmup``); both ways give
    the same numbers."""
    global _drivers_deferred
    _drivers_deferred = deferred


def _call_part(cpu: int, function: Callable[..., Any], part: int, parts: int, counter, args):
    """function(part, parts, counter, *args) on the given core (pinning is best effort);
    if it fails, every slot of the counter is set past every barrier and wait, so the
    other parts can finish."""
    with suppress(OSError):
        _pin(cpu)
    try:
        function(part, parts, counter, *args)
    except BaseException:
        counter[:] = _RELEASED
        raise


class Team:
    """``size`` threads: the caller and ``size − 1`` workers, each pinned to one core."""

    def __init__(self, size: int) -> None:
        cpus = _allowed_cpus()
        self.cpus = [cpus[i % len(cpus)] for i in range(size)]
        self.size = size
        self._workers = [ThreadPoolExecutor(1, f"rnnlab-team-{part}") for part in range(1, size)]
        self._lock = threading.Lock()

    def run(
        self, function: Callable[..., Any], *args: Any, driver: Callable[..., Any] | None = None
    ) -> None:
        """function(part, parts, counter, *args) on every thread; returns when all have.

        With a ``driver`` — ``driver(parts, counter, *args)``, compiled with
        ``parallel=True``, running ``function``'s parts in a ``prange`` — the parts run
        on numba's threads where they can (``numba_threads``): starting them there costs
        about 2 µs against about 100 µs for this team's own threads, which must be woken
        and take Python's lock in turn.

        ``function`` must release Python's lock while it works: compiled with
        ``nogil=True``, or Python that spends its time in such calls (``each``). A call
        that finds the team busy (another Python thread is using it) runs as one part on
        its own thread. If a part fails (or the call is interrupted), the counter is set
        past every barrier so that the other parts run to their end instead of waiting
        forever; the error is raised once all have.
        """
        counter = np.zeros(_COUNTER_SLOTS, dtype=np.int64)
        if self.size == 1 or not self._lock.acquire(blocking=False):
            function(0, 1, counter, *args)
            return
        try:
            with one_blas_thread():
                if driver is not None and not _drivers_deferred and numba_threads(self.size):
                    previous = numba.get_num_threads()
                    numba.set_num_threads(self.size)
                    try:
                        driver(self.size, counter, *args)
                    finally:
                        numba.set_num_threads(previous)
                    return
                affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
                try:
                    self._run_parts(function, counter, args)
                finally:
                    if affinity is not None:
                        os.sched_setaffinity(0, affinity)
        finally:
            self._lock.release()

    def _run_parts(self, function: Callable[..., Any], counter: np.ndarray, args: tuple) -> None:
        others = []
        try:
            for part, worker in enumerate(self._workers, start=1):
                call = (self.cpus[part], function, part, self.size, counter, args)
                others.append(worker.submit(_call_part, *call))
            _call_part(self.cpus[0], function, 0, self.size, counter, args)
        except BaseException:
            counter[:] = _RELEASED  # also when a submission failed or we were interrupted
            raise
        finally:
            for other in others:  # every part has finished, even when this one failed
                other.exception()
        for other in others:
            other.result()


_teams: dict[tuple[int, int], Team] = {}


def team(size: int) -> Team:
    """The process's team of ``size`` threads (created at first use, and again in a
    forked child, which inherits the parent's teams but not their threads)."""
    key = (os.getpid(), size)
    with _hold_lock:
        if key not in _teams:
            _teams[key] = Team(size)
        return _teams[key]


def run(
    parts: int, function: Callable[..., Any], *args: Any, driver: Callable[..., Any] | None = None
) -> None:
    """function(part, parts, counter, *args) on ``parts`` threads (see ``Team.run``)."""
    team(parts).run(function, *args, driver=driver)


#: the process that started numba's threads, and whether they are ones parts can share
#: out on (an OpenMP or TBB threading layer)
_numba_threads_started: dict[int, bool] = {}


@njit(cache=True, nogil=True, parallel=True)
def _start_numba_threads(parts, counter):
    """An empty ``prange``: loads numba's threading layer (see ``numba_threads``)."""
    for part in prange(parts):
        counter[part] = part


def numba_threads(parts: int) -> bool:
    """Whether ``parts`` parts of a call can run on numba's threads (``Team.run``'s driver).

    They can when numba has that many threads and its threading layer is OpenMP or TBB:
    their threads wait for the next call spinning for a few milliseconds, so a call starts
    in microseconds. The ``workqueue`` layer's threads sleep between calls and may not be
    used from two Python threads. A process forked from one that started numba's threads
    does not use them: GNU OpenMP does not survive a fork (numba stops the child).
    """
    if parts > numba.config.NUMBA_NUM_THREADS:
        return False
    if not _numba_threads_started:
        try:
            _start_numba_threads(2, np.zeros(2, dtype=np.int64))
            usable = numba.threading_layer() in ("omp", "tbb")
        except (ValueError, RuntimeError):  # no threading layer could be loaded
            usable = False
        _numba_threads_started[os.getpid()] = usable
    return _numba_threads_started.get(os.getpid(), False)


def drivers_usable() -> bool:
    """Whether calls can run on their drivers here (two threads allowed, numba's threads
    usable): else the drivers are never compiled."""
    return allowed_threads() >= 2 and numba_threads(2)


#: multiply-adds of a task (for a layer's direction: T · B · G·H · H, see
#: ``products.direction_work``) below which ``each`` runs the tasks in turn: a team call and
#: the handing over of Python's lock between the threads cost more than they save
#: (measured: a bidirectional LSTM-64 at B = 1 ran 20 % slower at once, an LSTM-128 at
#: B = 1 30 % faster)
_EACH_WORK = 1 << 22


def each(tasks: Sequence[Callable[[], Any]], work: int) -> list[Any]:
    """[task() for task in tasks], the tasks run at once, one per thread of the team.

    For independent work such as the two directions of a bidirectional layer: each
    thread runs its tasks alone on its core (their kernel calls take one part, with no
    barrier to meet, and the W_hh each reads stays in that core's cache) instead of every
    call splitting its steps over the cores. Measured on 2 cores, a bidirectional layer
    at B = 16 trains 1.1–1.6× faster up to H = 512, as fast at H = 1024.

    The tasks run in turn on the calling thread, each call split as usual, when the team
    has one thread or more threads than tasks (some would sit idle), or the tasks are
    small (``work`` multiply-adds each, below ``_EACH_WORK``; 0 for work that is faster
    split, see ``products.direction_work``). When the team is busy they run in turn, each
    alone. An error in one task is raised once all have finished.
    """
    parts = parts_for_work(work, _EACH_WORK)
    if not 2 <= parts <= len(tasks):
        return [task() for task in tasks]
    results: list[Any] = [None] * len(tasks)
    run(parts, _run_tasks, tasks, results)
    return results


def _run_tasks(part: int, parts: int, counter: np.ndarray, tasks: Sequence, results: list) -> None:
    """Part ``part``'s share of ``each``'s tasks, alone on its thread."""
    alone, _thread.alone = getattr(_thread, "alone", False), True
    try:
        for index in range(part, len(tasks), parts):
            results[index] = tasks[index]()
    finally:
        _thread.alone = alone


@njit(cache=True, nogil=True, inline="always")
def share(count, part, parts):
    """Part ``part`` of ``parts``'s block [start, stop) of range(count), blocks in order."""
    return count * part // parts, count * (part + 1) // parts


@njit(cache=True, nogil=True)
def _matmul_part(part, parts, counter, trans_a, trans_b, A, B, C, beta):
    """Rows share(m) of C ← op(A) op(B) + β C, op(M) = M or Mᵀ (C: m × n)."""
    start, stop = share(C.shape[0], part, parts)
    if start == stop:
        return
    if trans_a:
        gemm(True, trans_b, 1.0, A[:, start:stop], B, beta, C[start:stop])
    else:
        gemm(False, trans_b, 1.0, A[start:stop], B, beta, C[start:stop])


@njit(cache=True, nogil=True, parallel=True)
def _matmul_parts(parts, counter, *args):
    """``_matmul_part``'s parts on numba's threads (``Team.run``)."""
    for part in prange(parts):
        _matmul_part(np.int64(part), parts, counter, *args)


def matmul(
    A: np.ndarray, B: np.ndarray, out: np.ndarray, parts: int, accumulate: bool = False
) -> np.ndarray:
    """out ← A B (or out + A B with ``accumulate``, in the GEMM: no temporary) over
    ``parts`` threads, each a block of out's rows on one OpenBLAS thread.

    A (m, k) and B (k, n): row-major with unit-stride rows (C-contiguous, or a block of
    columns of such a matrix) or the transpose of one (``M.T``); out (m, n)
    C-contiguous. With one part this is OpenBLAS's GEMM on its own threads (numpy's
    matmul where it only assigns): a layer too small for the team keeps them, which is
    faster for it alone.
    """
    if parts == 1 and not accumulate:
        return np.matmul(A, B, out=out)
    trans_a, trans_b = not _unit_rows(A), not _unit_rows(B)
    operands = (A.T if trans_a else A, B.T if trans_b else B)
    if not all(_unit_rows(operand) for operand in operands) or not out.flags.c_contiguous:
        raise ValueError("matmul takes matrices with unit-stride rows or their transposes")
    beta = 1.0 if accumulate else 0.0
    run(parts, _matmul_part, trans_a, trans_b, *operands, out, beta, driver=_matmul_parts)
    return out


def _unit_rows(M: np.ndarray) -> bool:
    """Whether M is a row-major matrix whose rows are unit-stride (BLAS can take it)."""
    return M.strides[1] == M.itemsize and M.strides[0] >= M.shape[1] * M.itemsize


def product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A B without waking OpenBLAS's own threads, into a new array: over the team when
    it has ≥ 2²² multiply-adds, else numpy's matmul on one OpenBLAS thread. For the
    products between the layers' kernels (the output layer's): a threaded OpenBLAS call
    there would leave OpenBLAS's threads spinning on the cores through the next layer
    call (see the module docstring)."""
    m, k = A.shape
    out = np.empty((m, B.shape[1]), dtype=np.result_type(A, B))
    parts = parts_for(m, m * out.shape[1] * k, _SPLIT_PRODUCT)
    if parts > 1 and A.dtype == B.dtype == out.dtype:
        try:
            return matmul(A, B, out, parts)
        except ValueError:  # an operand BLAS cannot take as it is
            pass
    with one_blas_thread():
        return np.matmul(A, B, out=out)
