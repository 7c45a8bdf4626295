"""Pieces the compiled cells share: activations, the per-step product, the GEMMs around it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, types
from numba.core.extending import overload

from rnnlab.kernels.blas import blas_threads, gemm, gemv
from rnnlab.kernels.panels import LANES, pack_panels, panel_product
from rnnlab.kernels.team import matmul, numba_threads, parts_for, parts_for_work, share

# tanh in float32 as a rational function (the minimax fit used by Eigen's fast tanh):
# tanh(a) ≈ a·P(a²) / Q(a²) on |a| ≤ 7.9053, where tanh(a) rounds to ±1 in float32.
# It has no branch and no libm call, so the compiler vectorises the gate loops; its
# error is a few units in the last place (< 2e-7). float64 keeps the exact libm tanh.
_CLAMP = np.float32(7.90531110763549805)
_ALPHA = tuple(
    np.float32(c)
    for c in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_BETA = tuple(
    np.float32(c)
    for c in (
        4.89352518554385e-03,
        2.26843463243900e-03,
        1.18534705686654e-04,
        1.19825839466702e-06,
    )
)


def tanh(a):  # pragma: no cover - compiled only
    """tanh(a): exact in float64, a rational fit within a few ulp in float32."""
    return math.tanh(a)


@overload(tanh, inline="always", jit_options={"cache": True, "error_model": "numpy"})
def _tanh_impl(a):
    if a != types.float32:
        return lambda a: math.tanh(a)
    a1, a3, a5, a7, a9, a11, a13 = _ALPHA
    b0, b2, b4, b6 = _BETA
    clamp = _CLAMP

    def rational(a):
        x = min(max(a, -clamp), clamp)
        x2 = x * x
        p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * a13 + a11) + a9) + a7) + a5) + a3) + a1
        q = x2 * (x2 * (x2 * b6 + b4) + b2) + b0
        return x * p / q

    return rational


def sigmoid(a):  # pragma: no cover - compiled only
    """σ(a) = 1 / (1 + e^(−a)), as (1 + tanh(a/2)) / 2: no overflow for any a."""
    return 0.5 + 0.5 * math.tanh(0.5 * a)


def dsigmoid(y):  # pragma: no cover - compiled only
    """σ'(a) given y = σ(a): y (1 − y)."""
    return y * (1.0 - y)


def dtanh(y):  # pragma: no cover - compiled only
    """tanh'(a) given y = tanh(a): 1 − y²."""
    return 1.0 - y * y


# Numba reads a float literal as float64, which would turn float32 arithmetic into
# float64 (and tanh into the libm call); the constants below carry the argument's type.
_OPTIONS = {"cache": True, "error_model": "numpy"}


@overload(sigmoid, inline="always", jit_options=_OPTIONS)
def _sigmoid_impl(a):
    half = np.float32(0.5) if a == types.float32 else 0.5
    return lambda a: half + half * tanh(half * a)


@overload(dsigmoid, inline="always", jit_options=_OPTIONS)
def _dsigmoid_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: y * (one - y)


@overload(dtanh, inline="always", jit_options=_OPTIONS)
def _dtanh_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one - y * y


def complement(y):  # pragma: no cover - compiled only
    """1 − y in the type of y."""
    return 1.0 - y


@overload(complement, inline="always", jit_options=_OPTIONS)
def _complement_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one - y


def relu(a):  # pragma: no cover - compiled only
    """max(a, 0) in the type of a."""
    return max(a, 0.0)


@overload(relu, inline="always", jit_options=_OPTIONS)
def _relu_impl(a):
    zero = np.float32(0) if a == types.float32 else 0.0
    return lambda a: max(a, zero)


def drelu(y):  # pragma: no cover - compiled only
    """relu' given y = relu(a): 1 where y > 0 (0 at a = 0, as PyTorch)."""
    return 1.0 if y > 0 else 0.0


@overload(drelu, inline="always", jit_options=_OPTIONS)
def _drelu_impl(y):
    zero = np.float32(0) if y == types.float32 else 0.0
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one if y > zero else zero


@njit(cache=True, nogil=True, error_model="numpy")
def matmul_rows(rows, packed, plain, out, accumulate=False, part=0, parts=1):
    """out ← rows M (or out + rows M with ``accumulate``) for rows (B, K) and M (K, N),
    given as column panels (``packed``, see ``rnnlab.kernels.panels``) or, where
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
    """The threads a layer call runs on (``rnnlab.kernels.team``): its step product
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
    ``rnnlab.kernels.team.each`` decides to run the directions at once, each alone on a
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


def sequence_output(
    hidden: np.ndarray, lengths: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The layer's output h_1 … h_T from hidden (T + 1, B, H), and the padding mask.

    Without lengths the output is a read-only view of ``hidden``, which the tape also
    holds (no copy, one (T, B, H) array less): writing into it would corrupt the
    gradients, so numpy refuses. With lengths, padded steps are zeros in a new array.
    """
    T = hidden.shape[0] - 1
    if lengths is None:
        out = hidden[1:]
        out.flags.writeable = False
        return out, None
    mask = (np.arange(T)[:, None] < lengths[None, :])[..., None]
    return np.where(mask, hidden[1:], 0), mask


def step_buffer(
    workspace: Any, name: str, shape: tuple[int, ...], dtype: np.dtype, keep: bool
) -> np.ndarray:
    """A per-step record (T, B, n) when ``keep``, else one step's scratch (1, B, n).

    Gates are kept only for a backward pass, ∂L/∂h_t and ∂L/∂c_t only for probes
    (``layer.retain_tapes``). The two forms live under different names, so switching
    between training and evaluation reallocates (and faults in) nothing.
    """
    if keep:
        return workspace.array(name, shape, dtype)
    return workspace.array(f"step_{name}", (1, *shape[1:]), dtype)


def all_steps(lengths: np.ndarray | None, steps: int, batch: int) -> np.ndarray:
    """lengths (B,) as int64, or T for every sequence when there are none."""
    if lengths is None:
        return np.full(batch, steps, dtype=np.int64)
    return np.ascontiguousarray(lengths, dtype=np.int64)


def input_projection(
    params: dict[str, np.ndarray], x: np.ndarray, workspace: Any, parts: int = 1, bias: bool = True
) -> np.ndarray:
    """W_ih x_t + b_ih for every step at once: x (T, B, I) → (T, B, G·H), one GEMM
    (over ``parts`` threads, see ``rnnlab.kernels.team.matmul``); without ``bias``
    only W_ih x_t (a loop that adds b_ih to its gates itself saves a pass)."""
    T, B, I = x.shape
    W_ih = params["W_ih"]
    x_proj = workspace.array("x_proj", (T * B, W_ih.shape[0]), W_ih.dtype)
    inputs = np.ascontiguousarray(x.reshape(T * B, I), dtype=W_ih.dtype)
    matmul(inputs, np.ascontiguousarray(W_ih).T, x_proj, parts)
    if bias:
        x_proj += params["b_ih"]
    return x_proj.reshape(T, B, -1)


def reuse_input_projection(workspace: Any, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """The input projection's buffer as (T, B, G·H) scratch for the backward pass.

    The forward loop is its only reader, so the backward pass can write ∂L/∂a there
    and the step needs one (T, B, G·H) array less.
    """
    T, B, GH = shape
    return workspace.array("x_proj", (T * B, GH), dtype).reshape(T, B, GH)


def weight_gradients(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    hidden: np.ndarray,
    d_pre: np.ndarray,
    d_h_n: np.ndarray | None = None,
    *,
    input_grad: bool = True,
    parts: int = 1,
    bias_grad: np.ndarray,
    n_bias_grad: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The weight gradients as GEMMs over all steps after the loop, and ∂L/∂x.

    d_pre: (T, B, G·H) gradient of the pre-activations, which is the gradient of both
    projections W_ih x_t + b_ih and W_hh h_{t−1} + b_hh — except for the GRU's n gate,
    whose recurrent part has its own gradient d_h_n = r ⊙ ∂L/∂a_n (T, B, H)
    → (grads, dx (T, B, I), or None without ``input_grad``: a first layer fed one-hot
    vectors has no use for it, and skipping it saves a GEMM and a (T, B, I) array).
    The GEMMs run over ``parts`` threads (``rnnlab.kernels.team.matmul``).
    ``bias_grad`` (G·H,) = Σ_t,b ∂L/∂a and, for the GRU, ``n_bias_grad`` (H,) = Σ_t,b
    d_h_n, as the backward loop summed them. ``into``: the caller's gradient arrays
    (see ``gradient_targets``), which the GEMMs add to in place.
    """
    T, B, I = x.shape
    H = hidden.shape[-1]
    flat = d_pre.reshape(T * B, -1)
    G = flat.shape[1]
    dtype = flat.dtype
    h_prev = hidden[:-1].reshape(T * B, H)
    x_flat = np.ascontiguousarray(x.reshape(T * B, I), dtype=dtype)
    W_ih_grad, W_hh_grad, add = gradient_targets(into, (G, I), (G, H), dtype)
    matmul(flat.T, x_flat, W_ih_grad, parts, add)
    if d_h_n is None:
        matmul(flat.T, h_prev, W_hh_grad, parts, add)
    else:  # GRU: r and z blocks from d_pre, the n block from d_h_n
        # written in place: stacking the two products would hold them twice at once
        matmul(flat[:, : 2 * H].T, h_prev, W_hh_grad[: 2 * H], parts, add)
        matmul(d_h_n.reshape(T * B, H).T, h_prev, W_hh_grad[2 * H :], parts, add)
    grads = gradient_dict(W_ih_grad, W_hh_grad, bias_grad, n_bias_grad, into)
    dx = None
    if input_grad:
        dx = matmul(flat, np.ascontiguousarray(params["W_ih"]), np.empty((T * B, I), dtype), parts)
        dx = dx.reshape(T, B, I)
    return grads, dx


def gradient_targets(
    into: dict[str, np.ndarray] | None,
    W_ih_shape: tuple[int, int],
    W_hh_shape: tuple[int, int],
    dtype: np.dtype,
) -> tuple[np.ndarray, np.ndarray, bool]:
    """(W_ih's gradient, W_hh's gradient, whether the GEMMs add to them): the caller's
    arrays ``into["W_ih"]``, ``into["W_hh"]`` (a layer's ``grads``, C-contiguous, of the
    cell's shape and dtype), which then need no temporary and no pass to add them, or
    new arrays when ``into`` is None."""
    if into is None:
        return np.empty(W_ih_shape, dtype), np.empty(W_hh_shape, dtype), False
    for key, shape in (("W_ih", W_ih_shape), ("W_hh", W_hh_shape)):
        target = into.get(key)
        if target is None or target.shape != shape or target.dtype != dtype:
            found = "nothing" if target is None else f"{target.dtype} {target.shape}"
            raise ValueError(f"into[{key!r}]: expected {np.dtype(dtype)} {shape}, got {found}")
        if not target.flags.c_contiguous:
            raise ValueError(f"into[{key!r}] must be C-contiguous")
    return into["W_ih"], into["W_hh"], True


def gradient_dict(
    W_ih_grad: np.ndarray,
    W_hh_grad: np.ndarray,
    bias_grad: np.ndarray,
    n_bias_grad: np.ndarray | None = None,
    into: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """A cell's gradients by name. bias_grad = Σ_t,b ∂L/∂a is the gradient of both biases,
    except for the GRU's n block of b_hh, which has its own (n_bias_grad, H). The bias
    gradients are added to ``into``'s where it has them (a layer without biases has not)."""
    b_ih_grad = bias_grad.astype(W_ih_grad.dtype)
    b_hh_grad = b_ih_grad.copy()
    if n_bias_grad is not None:
        b_hh_grad[-n_bias_grad.size :] = n_bias_grad
    grads = {"W_ih": W_ih_grad, "W_hh": W_hh_grad, "b_ih": b_ih_grad, "b_hh": b_hh_grad}
    for key in ("b_ih", "b_hh"):
        if into is not None and key in into:
            into[key] += grads[key]
            grads[key] = into[key]
    return grads
