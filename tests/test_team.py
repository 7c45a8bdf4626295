"""rnnlab's own threads: the barrier holds, the work is shared out exactly once, and a
team call leaves OpenBLAS and the calling thread as it found them."""

from __future__ import annotations

import os
import select
import signal
import threading
import warnings

import numba
import numpy as np
import pytest
from numba import njit, prange
from threadpoolctl import threadpool_limits

from rnnlab.runtime import products, team
from rnnlab.runtime.blas import blas_threads
from rnnlab.runtime.sync import barrier


@njit(nogil=True)
def _rounds(part, parts, counter, seen, mistakes):
    """Each round every part writes the round number into its slot, then (after a
    barrier) checks that every other part has written it too."""
    rounds = seen.shape[1]
    generation = 0
    for r in range(rounds):
        seen[part, r] = r
        generation = barrier(counter, parts, generation)
        for other in range(parts):
            if seen[other, r] != r:
                mistakes[part] += 1
        generation = barrier(counter, parts, generation)


@pytest.mark.parametrize("parts", [1, 2, 3])  # 3: more threads than this machine may have
def test_no_part_passes_a_barrier_before_every_part_has_reached_it(parts):
    seen = np.full((parts, 2000), -1, dtype=np.int64)
    mistakes = np.zeros(parts, dtype=np.int64)
    team.run(parts, _rounds, seen, mistakes)
    assert mistakes.tolist() == [0] * parts
    assert (seen == np.arange(2000)).all()


@pytest.mark.parametrize("count", [0, 1, 5, 16, 101])
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_shares_cover_the_range_once_in_order_and_evenly(count, parts):
    blocks = [team.share(count, part, parts) for part in range(parts)]
    assert blocks[0][0] == 0 and blocks[-1][1] == count
    assert all(blocks[i][1] == blocks[i + 1][0] for i in range(parts - 1))
    sizes = [stop - start for start, stop in blocks]
    assert max(sizes) - min(sizes) <= 1


def _operands(rng, dtype):
    """A · B with every form matmul takes: plain, transposed, a block of columns."""
    A = rng.normal(size=(37, 19)).astype(dtype)
    B = rng.normal(size=(19, 23)).astype(dtype)
    wide = rng.normal(size=(19, 60)).astype(dtype)
    return {
        "plain": (A, B),
        "A transposed": (np.ascontiguousarray(A.T).T, B),
        "B transposed": (A, np.ascontiguousarray(B.T).T),
        "A a column block, transposed": (wide[:, 10:47].T, B),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_matmul_over_the_team_equals_numpy(parts, dtype):
    for name, (A, B) in _operands(np.random.default_rng(0), dtype).items():
        out = np.full((A.shape[0], B.shape[1]), np.nan, dtype)
        team.matmul(A, B, out, parts)
        tolerance = 1e-12 if dtype == np.float64 else 1e-5
        assert np.abs(out - A @ B).max() < tolerance * np.abs(A @ B).max(), name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_matmul_accumulate_adds_the_product_to_out(parts, dtype):
    rng = np.random.default_rng(1)
    for name, (A, B) in _operands(rng, dtype).items():
        start = rng.normal(size=(A.shape[0], B.shape[1])).astype(dtype)
        out = start.copy()
        assert team.matmul(A, B, out, parts, accumulate=True) is out
        tolerance = 1e-12 if dtype == np.float64 else 1e-5
        expected = start + A @ B
        assert np.abs(out - expected).max() < tolerance * np.abs(expected).max(), name


def test_matmul_refuses_a_matrix_blas_cannot_take():
    A = np.ones((8, 6))[:, ::2]  # rows with stride 2
    with pytest.raises(ValueError, match="unit-stride rows"):
        team.matmul(A, np.ones((3, 4)), np.empty((8, 4)), 2)


def _record_parts(part, parts, counter, record):
    record.append(parts)


def test_a_team_call_restores_openblas_threads_and_the_callers_cores():
    before_threads = blas_threads()
    before_cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    seen_threads = []
    team.run(2, lambda part, parts, counter: seen_threads.append(blas_threads()))
    assert seen_threads == [1, 1]  # OpenBLAS held to one thread inside the call
    assert blas_threads() == before_threads
    if before_cpus is not None:
        assert os.sched_getaffinity(0) == before_cpus


def test_a_failing_call_still_restores_and_raises():
    before = blas_threads()

    def fail(part, parts, counter):
        raise RuntimeError(f"part {part} failed")

    with pytest.raises(RuntimeError, match="failed"):
        team.run(2, fail)
    assert blas_threads() == before
    record = []
    team.run(2, _record_parts, record)  # the team is usable again
    assert sorted(record) == [2, 2]


def test_a_busy_team_runs_the_call_on_the_calling_thread_alone():
    record = []
    busy = team.team(2)
    with busy._lock:  # another Python thread is using it
        team.run(2, _record_parts, record)
    assert record == [1]


def test_parts_follow_the_size_of_the_work_and_the_thread_limit():
    assert team.parts_for(batch=1, work=1 << 30) == 1
    assert team.parts_for(batch=64, work=team._SPLIT_WORK - 1) == 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert team.parts_for(batch=64, work=1 << 30) == min(blas_threads(), cores)
    with threadpool_limits(1, user_api="blas"):
        assert team.parts_for(batch=64, work=1 << 30) == 1


def test_layers_called_from_two_threads_at_once_both_get_the_right_numbers():
    import rnnlab

    team.force_parts(2)
    try:
        layer = rnnlab.LSTM(6, 32, dtype=np.float64, seed=0)
        x = np.random.default_rng(1).normal(size=(20, 9, 6))
        expected, _ = layer(x)
        results = [None, None]

        def call(i):
            copy = rnnlab.LSTM(6, 32, dtype=np.float64, seed=0)
            for _ in range(5):
                results[i], _ = copy(x)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        team.force_parts(None)
    for result in results:
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(3, 4, 5), (300, 128, 200)])  # one thread; split (≥ 2²²)
def test_product_equals_numpy_and_leaves_openblas_threads_as_they_were(shape, dtype):
    m, k, n = shape
    rng = np.random.default_rng(2)
    A = rng.normal(size=(m, k)).astype(dtype)
    W = rng.normal(size=(n, k)).astype(dtype)
    before = blas_threads()
    team.force_parts(None)
    result = team.product(A, W.T)  # as the Linear layer calls it: x Wᵀ
    assert result.shape == (m, n) and result.dtype == dtype
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    assert np.abs(result - A @ W.T).max() < tolerance * np.abs(A @ W.T).max()
    assert blas_threads() == before


def test_a_forked_child_gets_a_team_of_its_own():
    record = []
    team.run(2, _record_parts, record)  # the parent's team exists and has its threads
    read, write = os.pipe()
    with warnings.catch_warnings():  # Python ≥ 3.12 warns about forking with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its inherited team has no threads; a call must not hang
        try:
            seen = np.full((2, 50), -1, dtype=np.int64)
            mistakes = np.zeros(2, dtype=np.int64)
            team.run(2, _rounds, seen, mistakes)
            os.write(write, b"ok" if mistakes.sum() == 0 else b"wrong")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:  # the child hangs: stop it and fail
        os.kill(pid, signal.SIGKILL)
    answer = os.read(read, 16) if ready else b"hung"
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"ok"


def test_overlapping_holds_from_several_threads_restore_openblas_threads():
    before = blas_threads()
    rng = np.random.default_rng(4)
    A, B = rng.normal(size=(300, 128)), rng.normal(size=(128, 200))

    def work():
        for _ in range(30):
            team.product(A, B)  # split over the team or on one OpenBLAS thread
            with team.one_blas_thread():
                assert blas_threads() == 1

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert blas_threads() == before
    assert team.allowed_threads() == before


@njit(nogil=True)
def _waits_at_barriers(part, parts, counter, passed):
    generation = 0
    for _ in range(100):
        generation = barrier(counter, parts, generation)
    passed[part] = 1


def _fails_in_part(failing):
    def parts_function(part, parts, counter, passed):
        if part == failing:
            raise RuntimeError(f"part {part} failed before any barrier")
        _waits_at_barriers(part, parts, counter, passed)

    return parts_function


@pytest.mark.parametrize("failing", [0, 1], ids=["the calling thread", "a worker"])
def test_a_part_that_fails_releases_the_others_instead_of_leaving_them_waiting(failing):
    passed = np.zeros(2, dtype=np.int64)
    with pytest.raises(RuntimeError, match=f"part {failing} failed"):
        team.run(2, _fails_in_part(failing), passed)
    assert passed[failing] == 0 and passed[1 - failing] == 1  # the other ran through
    team.run(2, _waits_at_barriers, passed)  # and the team still works
    assert passed.tolist() == [1, 1]


def _two_threads(monkeypatch):
    """A team of two threads, whatever the machine (on one core, pinning is skipped)."""
    monkeypatch.setattr(team, "allowed_threads", lambda: 2)
    monkeypatch.setattr(team, "_allowed_cpus", lambda: [0, 1])


def test_independent_tasks_run_at_once_each_alone_on_its_thread(monkeypatch):
    _two_threads(monkeypatch)
    arrived = threading.Barrier(2, timeout=30)  # neither returns before both have started

    def task(name):
        arrived.wait()
        return name, threading.get_ident(), team.parts_for(batch=64, work=1 << 30)

    results = team.each([lambda: task("forward"), lambda: task("reverse")], work=1 << 30)
    assert [name for name, _, _ in results] == ["forward", "reverse"]  # in the tasks' order
    assert results[0][1] != results[1][1]
    assert [parts for _, _, parts in results] == [1, 1]  # their kernel calls run alone
    assert team.parts_for(batch=64, work=1 << 30) == 2  # and only inside the tasks


@pytest.mark.parametrize("threads,work", [(1, 1 << 30), (2, 1000)], ids=["one thread", "small"])
def test_independent_tasks_run_in_turn_without_a_second_thread_or_when_small(
    monkeypatch, threads, work
):
    _two_threads(monkeypatch)
    monkeypatch.setattr(team, "allowed_threads", lambda: threads)
    callers = []

    def task(name):
        callers.append(threading.get_ident())
        return name

    assert team.each([lambda: task("a"), lambda: task("b")], work) == ["a", "b"]
    assert callers == [threading.get_ident()] * 2  # in turn, on the calling thread


def test_an_error_in_one_task_is_raised_once_both_have_finished(monkeypatch):
    _two_threads(monkeypatch)
    finished = []

    def fails():
        raise ValueError("task failed")

    def works():
        finished.append(True)

    with pytest.raises(ValueError, match="task failed"):
        team.each([fails, works], work=1 << 30)
    assert finished == [True]


@njit(nogil=True)
def _rounds_on_own_threads(part, parts, counter, seen, mistakes, ran_on):
    ran_on[part] = 1
    _rounds(part, parts, counter, seen, mistakes)


@njit(nogil=True, parallel=True)
def _rounds_on_numba_threads(parts, counter, seen, mistakes, ran_on):
    for part in prange(parts):
        ran_on[part] = 2
        _rounds(part, parts, counter, seen, mistakes)


def _rounds_with_a_driver():
    """_rounds on two parts, given a driver: → (mistakes, which threads each part ran on:
    1 the team's own, 2 numba's)."""
    seen = np.full((2, 500), -1, dtype=np.int64)
    mistakes, ran_on = np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64)
    arrays = (seen, mistakes, ran_on)
    team.run(2, _rounds_on_own_threads, *arrays, driver=_rounds_on_numba_threads)
    return mistakes.tolist(), ran_on.tolist()


def test_a_call_with_a_driver_runs_its_parts_at_once_on_numba_threads():
    assert team.numba_threads(2)  # Linux: GNU OpenMP (libgomp1), CI installs it
    assert numba.threading_layer() in ("omp", "tbb")
    threads_before = numba.get_num_threads()
    assert _rounds_with_a_driver() == ([0, 0], [2, 2])  # both parts met at every barrier
    assert numba.get_num_threads() == threads_before


def test_without_numba_threads_a_driver_call_runs_on_the_teams_own(monkeypatch):
    monkeypatch.setattr(team, "numba_threads", lambda parts: False)
    assert _rounds_with_a_driver() == ([0, 0], [1, 1])


def test_a_child_forked_after_numba_threads_started_uses_the_teams_own():
    team.numba_threads(2)  # numba's threads have started in this process
    read, write = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # GNU OpenMP's threads do not survive a fork: numba would stop the child
        try:
            answer = _rounds_with_a_driver() == ([0, 0], [1, 1]) and not team.numba_threads(2)
            os.write(write, b"ok" if answer else b"wrong")
        finally:
            os._exit(0)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 60)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    answer = os.read(read, 16) if ready else b"hung"
    os.waitpid(pid, 0)
    os.close(read)
    assert answer == b"ok"


def test_loops_split_from_less_work_and_at_batch_one_where_parts_start_on_numba_threads(
    monkeypatch,
):
    monkeypatch.setattr(team, "allowed_threads", lambda: 2)
    monkeypatch.setattr(team, "_allowed_cpus", lambda: [0, 1])
    lstm_128 = np.empty((4 * 128, 128), dtype=np.float32)  # 2¹⁶ multiply-adds a row
    monkeypatch.setattr(products, "numba_threads", lambda parts: True)
    assert products.loop_parts(1, lstm_128) == 2
    assert products.loop_parts(1, lstm_128[: 128 * 3, :96]) == 1  # a GRU-96: 27,648
    assert products.loop_parts(4, lstm_128[:128, :32]) == 1  # an RNN-64-ish row: 4 · 4,096
    lstm_512 = np.empty((4 * 512, 512), dtype=np.float32)  # 2²⁰ weights
    assert products.loop_parts(1, lstm_512) == 1  # left to OpenBLAS's threaded products
    assert products.loop_parts(2, lstm_512) == 2
    monkeypatch.setattr(products, "numba_threads", lambda parts: False)  # 100 µs a call
    assert products.loop_parts(1, lstm_128) == 1
    assert products.loop_parts(4, lstm_128) == 1  # 2¹⁸ < 2¹⁹
    assert products.loop_parts(16, lstm_128) == 2
