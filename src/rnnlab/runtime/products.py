"""The per-step product of a loop and how many threads a call takes.

A step loop multiplies B rows by W_hh at every step (``matmul_rows``), on column panels
packed once per call (``rnnlab.runtime.panels``) or on OpenBLAS's threads, whichever is
faster for the size (``recurrent_operand``); ``loop_parts`` and ``direction_work`` decide
how many of rnnlab's threads a call runs on. The thresholds are measured, and the
comments beside them say where.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnlab.runtime.blas import blas_threads, gemm, gemv
from rnnlab.runtime.panels import LANES, pack_panels, panel_product
from rnnlab.runtime.team import numba_threads, parts_for, parts_for_work, share


@njit(cache=True, nogil=True, error_model="numpy")
def matmul_rows(rows, packed, plain, out, accumulate=False, part=0, parts=1):
    """out ← rows M (or out + rows M with ``accumulate``) for rows (B, K) and M (K, N),
    given as column panels (``packed``, see ``rnnlab.runtime.panels``) or, where
    OpenBLAS's threads do better, ``plain``: M itself for OpenBLAS's GEMM, Mᵀ for its
    matrix-vector product when B = 1. The unused one is empty (see ``recurrent_operand``).
    Part ``part`` of ``parts`` threads computes its share of the panels (packed only)."""
    beta = 1.0 if accumulate else 0.0
    if packed.shape[0] > 0:
        first, stop = share(packed.shape[0], part, parts)
        panel_product(rows, packed, out, accumulate, first, stop)
    elif rows.shape[0] == 1:
        gemv(False, 1.0, plain, rows[0], beta, out[0])
    else:
        gemm(False, False, 1.0, rows, plain, beta, out)


@njit(cache=True, nogil=True, error_model="numpy")
def pack_own_panels(M, transposed, packed, part=0, parts=1):
    """Part ``part`` of ``parts`` threads packs the panels of M that it reads in
    ``matmul_rows`` (share(P, part, parts)), as ``pack_panels`` does; nothing when M goes
    to OpenBLAS plain (``packed`` empty). Packing there, on every thread at once and
    into the cache of the core that reads them, costs less than packing before the loop."""
    if packed.shape[0] > 0:
        first, stop = share(packed.shape[0], part, parts)
        pack_panels(M, transposed, packed, first, stop)


@njit(cache=True, nogil=True, error_model="numpy")
def add_rows(rows, total):
    """total (N,) += Σ_b rows[b] for rows (B, N): a running sum in total's type."""
    for b in range(rows.shape[0]):
        row = rows[b]
        for j in range(row.shape[0]):
            total[j] += row[j]


@njit(cache=True, error_model="numpy")
def transpose_into(matrix, out):
    """out (C, R) ← matrixᵀ for matrix (R, C), in 32 × 32 tiles.

    numpy's strided copy (``np.ascontiguousarray(W.T)``) is up to 10× slower on the
    power-of-two shapes of recurrent weights (31 ms against 4 ms for a 4096 × 1024 W_hh).
    """
    rows, cols = matrix.shape
    tile = 32
    for r0 in range(0, rows, tile):
        r1 = min(r0 + tile, rows)
        for c0 in range(0, cols, tile):
            for c in range(c0, min(c0 + tile, cols)):
                for r in range(r0, r1):
                    out[c, r] = matrix[r, c]


#: OpenBLAS's threads beat one core on the panels for products with at least this many
#: weights, at B = 1 (each core then holds half of M in its L2 cache) and above this batch
_THREADED_WEIGHTS, _THREADED_BATCH = 1 << 18, 32


#: multiply-adds per step (B · G·H · H) from which a loop splits, B = 1 included, when its
#: parts start on numba's threads (2 µs a call): measured on 2 cores, a training step of an
#: LSTM-128 at B = 1 (2¹⁶) ran 1.5× faster split, of an LSTM-64 at B = 16 (2¹⁸) 1.4×,
#: of an RNN-64 at B = 8 (2¹⁵) and of a GRU-96 at B = 1 slower
_SPLIT_STEP_WORK = 1 << 16
#: weights of W_hh from which a B = 1 loop stays on one thread (its matrix-vector products
#: go to OpenBLAS's threads, see ``recurrent_operand``): measured on 2 cores, split, an
#: LSTM-1024 trained at 813 tokens/s against 1,041, an RNN-1024 inferred at 16.9k against
#: 20.4k; an RNN-512 (2¹⁸) trained at 33.6k against 25.6k
_SPLIT_ONE_ROW_MOST = 1 << 20


def loop_parts(batch: int, weights: np.ndarray) -> int:
    """The threads a layer call runs on (``rnnlab.runtime.team``): its step product
    multiplies B rows by W_hh (G·H × H), B·G·H multiply-adds per step. Where the parts
    start on numba's threads the loop splits from ``_SPLIT_STEP_WORK``, even at B = 1
    (below ``_SPLIT_ONE_ROW_MOST`` weights); on the team's own threads (100 µs a call)
    only larger loops with B ≥ 2 pay for it."""
    work = batch * weights.size
    parts = parts_for_work(work, _SPLIT_STEP_WORK)
    one_row_split = batch > 1 or weights.size < _SPLIT_ONE_ROW_MOST
    if parts > 1 and one_row_split and numba_threads(parts):
        return parts
    return parts_for(batch, work)


#: bytes of W_hh above which a B = 1 loop alone on one core streams it from memory at every
#: step (two cores' caches hold it split, one core's does not: 2 MiB of L2 here)
_ONE_CORE_CACHE = 1 << 21


def direction_work(steps: int, batch: int, W_hh: np.ndarray) -> int:
    """The multiply-adds T · B · G·H · H of one direction of a bidirectional layer, by which
    ``rnnlab.runtime.team.each`` decides to run the directions at once, each alone on a
    core — or 0 (in turn) at B = 1 with a W_hh beyond one core's cache, where a call of
    its own splits the product over the cores' caches (measured at B = 1: a bidirectional
    GRU-512 ran 1.7× slower at once, an LSTM-256 1.8× faster)."""
    if batch == 1 and W_hh.nbytes > _ONE_CORE_CACHE:
        return 0
    return steps * batch * W_hh.size


def recurrent_operand(
    W_hh: np.ndarray, transposed: bool, batch: int, parts: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The matrix M of a step loop's product rows · M, as (packed, plain) for ``matmul_rows``.

    M = W_hhᵀ (``transposed``: the forward loop's W_hh h_{t−1}) or M = W_hh (the
    backward loop's W_hhᵀ ∂L/∂a). Normally M is packed into column panels once per
    call and every step runs the register-blocked panel kernel on one core: it beats
    OpenBLAS, which repacks M at each step, by 1.3–2× at B ≤ 32, even against two
    OpenBLAS threads. On a large M with more than one BLAS thread, at B = 1 or B > 32,
    OpenBLAS's threads win, so M goes to it plain: M for its GEMM, Mᵀ for its
    matrix-vector product at B = 1 (contiguous; transposed here in tiles where W_hh is
    not already that matrix). A loop split over ``parts`` > 1 threads of rnnlab's own
    always gets the panels (each thread takes a block of them). The panels are only
    allocated here: the loop's threads pack them (``pack_own_panels``, each thread the
    ones it reads). The unused form is an empty placeholder; both are temporaries for
    the length of the loop.
    """
    W_hh = np.ascontiguousarray(W_hh)
    threaded = parts == 1 and (batch == 1 or batch > _THREADED_BATCH)
    if threaded and W_hh.size >= _THREADED_WEIGHTS and blas_threads() > 1:
        empty = np.empty((0, 0, LANES), dtype=W_hh.dtype)
        if transposed != (batch > 1):  # the plain form wanted is W_hh itself
            return empty, W_hh
        W_hh_t = np.empty(W_hh.shape[::-1], dtype=W_hh.dtype)
        transpose_into(W_hh, W_hh_t)
        return empty, W_hh_t
    K, N = W_hh.shape[::-1] if transposed else W_hh.shape
    packed = np.empty((-(-N // LANES), K, LANES), dtype=W_hh.dtype)
    return packed, np.empty((0, 0), dtype=W_hh.dtype)
