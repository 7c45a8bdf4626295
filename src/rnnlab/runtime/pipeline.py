"""A backward pass on two threads as a pipeline: the loop on one, the GEMMs on the other.

Part 0 runs the backward loop alone, publishing how many steps are finished; part 1
adds each finished chunk's terms to the weight gradients and ∂L/∂x; when part 0 is
through it takes half of the chunks left. The chunks are fixed and every sum runs over
them in order, so the result does not depend on timing: docs/fast-path.md, "Pipeline".

A cell whose loop leaves work on a finished chunk before its terms can be summed (its
input side's backward on some of the rows, ``rnnlab.cells.cell``) has copies of these
functions made by ``rnnlab.kernels.loops`` with ``PREPARES`` set and its
``prepare_chunk``: part 1 prepares each chunk before its terms and marks it ready, and
part 0 helps only with chunks marked so.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnlab.runtime.blas import gemm
from rnnlab.runtime.gradients import gradient_dict, gradient_targets
from rnnlab.runtime.sync import atomic_read, atomic_store, wait_until

#: GEMM rows (steps × batch) per chunk: enough for OpenBLAS to run near its peak, few
#: enough that little of the GEMMs is left for after the loop
CHUNK_ROWS = 128


def chunk_steps(batch: int) -> int:
    """The steps in a chunk for this batch size."""
    return max(1, -(-CHUNK_ROWS // batch))


@njit(cache=True, nogil=True, error_model="numpy")
def _add_terms(x, hidden, d_pre, d_own, W_ih, W_ih_grad, W_hh_grad, dx, t0, t1, beta, half, halves):
    """Chunk t0 … t1 − 1's terms of rows share(G, half, halves) of the weight gradients,
    and rows share(t1 − t0) · B of its ∂L/∂x (see ``gradients``)."""
    B, I = x.shape[1], x.shape[2]
    G, H = W_hh_grad.shape
    rows = (t1 - t0) * B
    r0, r1 = G * half // halves, G * (half + 1) // halves
    d_a = d_pre[t0:t1].reshape(rows, G)
    h_prev = hidden[t0:t1].reshape(rows, H)
    if r1 > r0:
        gemm(True, False, 1.0, d_a[:, r0:r1], x[t0:t1].reshape(rows, I), beta, W_ih_grad[r0:r1])
    n0 = G - d_own.shape[2] if d_own.shape[0] > 0 else G  # the last blocks' own recurrent term
    if min(r1, n0) > r0:
        gemm(True, False, 1.0, d_a[:, r0 : min(r1, n0)], h_prev, beta, W_hh_grad[r0 : min(r1, n0)])
    if r1 > max(r0, n0):
        d_n = d_own[t0:t1].reshape(rows, G - n0)[:, max(r0, n0) - n0 : r1 - n0]
        gemm(True, False, 1.0, d_n, h_prev, beta, W_hh_grad[max(r0, n0) : r1])
    if dx.shape[0] > 0:
        s0, s1 = rows * half // halves, rows * (half + 1) // halves
        if s1 > s0:
            gemm(False, False, 1.0, d_a[s0:s1], W_ih, 0.0, dx[t0:t1].reshape(rows, I)[s0:s1])


#: flags in the team's counter (``rnnlab.runtime.team``; slot 0 is the barriers'): the
#: steps the loop has finished; that the loop's thread is free to help; from which chunk
#: the two threads share the rest; the steps prepared, where a cell prepares its chunks
#: (on _SHARED's cache line: part 1 writes both)
PROGRESS, _JOINED, _SHARED, _READY = 8, 16, 24, 28
#: the value of the _SHARED slot when nothing was left to share (a chunk t0 is t0 + 2)
_NOTHING_LEFT = 1
#: whether a chunk is prepared before its terms (the copies made for such a cell)
PREPARES = False


@njit(cache=True, nogil=True, error_model="numpy")
def prepare_chunk(prepare, t0, t1):
    """A cell's work on the finished steps t0 … t1 − 1 before their terms are summed
    (``prepare``: its arrays): none here."""


@njit(cache=True, nogil=True, error_model="numpy")
def gradients(
    x, hidden, d_pre, d_own, W_ih, W_ih_grad, W_hh_grad, dx, first_beta, steps, done, prepare
):
    """The weight gradients and ∂L/∂x from the backward loop's d_pre, chunk by chunk as
    the loop finishes them; the loop's thread calls ``help_gradients`` when it is done.

    x (T, B, I), hidden (T + 1, B, H) (h_{t−1} of step t is hidden[t]), d_pre (T, B, G)
    = ∂L/∂a_t. W_ih_grad (G, I) ← Σ_t d_preᵀ x, W_hh_grad (G, H) ← Σ_t d_preᵀ h_{t−1}
    — except, where a cell's last blocks have their own recurrent gradient (d_own
    (T, B, W), else empty), their rows, d_ownᵀ h_{t−1}; with ``first_beta`` 1.0 instead
    of 0.0 the weight gradients are added to what the arrays hold. dx (T, B, I)
    ← d_pre W_ih, unless it is empty.
    done: the team's counter; done[PROGRESS] is the number of steps the loop has
    finished, from the last. prepare: the arrays of ``prepare_chunk``, which runs on
    each chunk first where the cell ``PREPARES`` its chunks.
    Every chunk's terms are two GEMMs, one for each half of the rows; once the loop's
    thread has joined, it takes the first half of the chunks left. Each sum runs over
    the chunks in the same order and every GEMM is the same whoever runs it, so the
    result does not depend on when it joined.
    """
    T = x.shape[0]
    last = (T - 1) // steps * steps  # the first step of the last chunk
    alone = True
    for t0 in range(last, -1, -steps):
        t1 = min(t0 + steps, T)
        wait_until(done[PROGRESS:], T - t0)
        if PREPARES:
            prepare_chunk(prepare, t0, t1)
            atomic_store(done[_READY:], T - t0)
        if alone and atomic_read(done[_JOINED:]) > 0:
            atomic_store(done[_SHARED:], t0 + 2)
            alone = False
        beta = first_beta if t0 == last else 1.0
        terms = (x, hidden, d_pre, d_own, W_ih, W_ih_grad, W_hh_grad, dx)
        if alone:
            _add_terms(*terms, t0, t1, beta, 0, 2)
        _add_terms(*terms, t0, t1, beta, 1, 2)
    if alone:
        atomic_store(done[_SHARED:], _NOTHING_LEFT)


@njit(cache=True, nogil=True, error_model="numpy")
def help_gradients(
    x, hidden, d_pre, d_own, W_ih, W_ih_grad, W_hh_grad, dx, first_beta, steps, done, prepare
):
    """The loop's thread, its loop done: takes the first half of the rows of every chunk
    that ``gradients`` has not started yet (once it is prepared, where it must be)."""
    T = x.shape[0]
    last = (T - 1) // steps * steps
    atomic_store(done[_JOINED:], 1)
    wait_until(done[_SHARED:], _NOTHING_LEFT)
    shared = atomic_read(done[_SHARED:]) - 2
    for t0 in range(shared, -1, -steps):
        t1 = min(t0 + steps, T)
        if PREPARES:
            wait_until(done[_READY:], T - t0)
        beta = first_beta if t0 == last else 1.0
        terms = (x, hidden, d_pre, d_own, W_ih, W_ih_grad, W_hh_grad, dx)
        _add_terms(*terms, t0, t1, beta, 0, 2)


@njit(cache=True, nogil=True, error_model="numpy")
def gradient_side(part, parts, counter, gradient_terms, prepare):
    """The gradients' side of a pipelined backward pass, after part 0's loop: part 1 sums
    the chunks as they are finished (``gradients``), part 0 helps once its loop is done
    (``help_gradients``); on one thread (the team busy) part 0 sums them all."""
    if part == 1 or parts == 1:
        gradients(*gradient_terms, counter, prepare)
    if part == 0 and parts > 1:
        help_gradients(*gradient_terms, counter, prepare)


#: the largest step product (B · G·H · H multiply-adds) and the largest H of a pipelined
#: backward pass (measured: above them the split loop wins, for every cell at H = 512)
_PIPELINE_WORK, _PIPELINE_HIDDEN = 1 << 24, 256


def pipelines(batch: int, W_hh: np.ndarray, parts: int) -> bool:
    """Whether a backward pass on ``parts`` threads runs as the pipeline: on exactly two,
    with a batch, while a step's product (B · G·H · H multiply-adds) is small enough
    that splitting the loop pays less than giving it a core of its own."""
    small = batch * W_hh.size <= _PIPELINE_WORK and W_hh.shape[1] <= _PIPELINE_HIDDEN
    return parts == 2 and batch >= 2 and small


def gradient_operands(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    hidden: np.ndarray,
    d_pre: np.ndarray,
    input_grad: bool,
    d_own: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> tuple:
    """The arguments of ``gradients`` up to ``steps``: the operands (d_own, the last
    blocks' own recurrent gradient, or None), the arrays that receive the weight
    gradients — ``into``'s, added to (``rnnlab.runtime.gradients.gradient_targets``), or
    new ones — and ∂L/∂x (empty without ``input_grad``), and ``first_beta``."""
    T, B, I = x.shape
    G, H = d_pre.shape[2], hidden.shape[2]
    dtype = d_pre.dtype
    inputs = np.ascontiguousarray(x, dtype=dtype)
    W_ih = np.ascontiguousarray(params["W_ih"], dtype=dtype)
    n_block = np.empty((0, B, 0), dtype) if d_own is None or d_own.shape[2] == 0 else d_own
    dx = np.empty((T if input_grad else 0, B, I), dtype)
    W_ih_grad, W_hh_grad, add = gradient_targets(into, (G, I), (G, H), dtype)
    first_beta = 1.0 if add else 0.0
    return inputs, hidden, d_pre, n_block, W_ih, W_ih_grad, W_hh_grad, dx, first_beta


def gradient_results(
    terms: tuple,
    bias_grad: np.ndarray,
    own_bias_grad: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """(grads, dx) as the cells return them, from ``gradient_operands``'s arrays after
    ``gradients`` and the bias gradients (see ``rnnlab.runtime.gradients.gradient_dict``)."""
    *_, W_ih_grad, W_hh_grad, dx, _ = terms
    grads = gradient_dict(W_ih_grad, W_hh_grad, bias_grad, own_bias_grad, into)
    return grads, (dx if dx.shape[0] > 0 else None)
