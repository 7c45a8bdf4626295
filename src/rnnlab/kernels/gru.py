"""The GRU cell compiled: the same equations as ``rnnlab.cells.gru``, fused.

    r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n

One GEMM for the input projections of all steps, one product per step for W_hh h_{t−1}
(W_hh packed once per call, see ``rnnlab.kernels.panels``), one fused pass over the
gates per row, weight gradients after the loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnlab.kernels.common import (
    all_steps,
    complement,
    dsigmoid,
    dtanh,
    input_projection,
    loop_parts,
    matmul_rows,
    recurrent_operand,
    reuse_input_projection,
    sequence_output,
    sigmoid,
    step_buffer,
    tanh,
    weight_gradients,
)
from rnnlab.kernels.sync import barrier
from rnnlab.kernels.team import run, share
from rnnlab.kernels.workspace import Workspace


@njit(cache=True, nogil=True, error_model="numpy")
def _gates_forward(h_proj, x_proj, b_hh, h_prev, h_new, gates, hidden_n, H):
    """One row: h_proj = W_hh h_{t−1} (3H), x_proj (3H) → r, z, n and h_t."""
    for j in range(H):
        hn = h_proj[2 * H + j] + b_hh[2 * H + j]  # W_hn h_{t−1} + b_hn
        r = sigmoid(x_proj[j] + h_proj[j] + b_hh[j])
        z = sigmoid(x_proj[H + j] + h_proj[H + j] + b_hh[H + j])
        n = tanh(x_proj[2 * H + j] + r * hn)
        h_new[j] = complement(z) * h_prev[j] + z * n
        gates[j], gates[H + j], gates[2 * H + j] = r, z, n
        hidden_n[j] = hn


@njit(cache=True, nogil=True, error_model="numpy")
def _forward_loop(
    part,
    parts,
    counter,
    x_proj,
    packed,
    plain,
    b_hh,
    lengths,
    hidden,
    gates,
    hidden_n,
    h_proj,
    keep,
):
    """x_proj (T, B, 3H) → fills hidden (T + 1, B, H), gates (T, B, 3H), hidden_n (T, B, H).

    h_proj (B, 3H) scratch. Run by ``parts`` threads (``rnnlab.kernels.team``).
    """
    T, B, G = x_proj.shape
    H = G // 3
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T):
        matmul_rows(hidden[t], packed, plain, h_proj, False, part, parts)
        generation = barrier(counter, parts, generation)  # h_proj complete
        k = t if keep else 0
        for b in range(first, stop):
            if t < lengths[b]:
                _gates_forward(
                    h_proj[b],
                    x_proj[t, b],
                    b_hh,
                    hidden[t, b],
                    hidden[t + 1, b],
                    gates[k, b],
                    hidden_n[k, b],
                    H,
                )
            else:  # padded step: the state is carried unchanged
                hidden[t + 1, b] = hidden[t, b]
                gates[k, b] = 0
                hidden_n[k, b] = 0
        generation = barrier(counter, parts, generation)  # h_t complete, h_proj free


@njit(cache=True, nogil=True, error_model="numpy")
def _gates_backward(gates, hidden_n, h_prev, dh_in, d_x, d_h, d_h_n, dh_direct, H):
    """One row: ∂L/∂h_t → ∂L/∂(input part) d_x, ∂L/∂(W_h· h + b_h·) d_h (3H), direct ∂L/∂h_{t−1}.

    d_h_n (H) keeps d_h's n block, r ⊙ ∂L/∂a_n, for the weight gradients: the r and z
    blocks of d_h equal d_x's, so only this block needs a record of its own.
    """
    for j in range(H):
        r, z, n = gates[j], gates[H + j], gates[2 * H + j]
        dz = dh_in[j] * (n - h_prev[j])  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        d_a_n = dh_in[j] * z * dtanh(n)
        d_a_r = d_a_n * hidden_n[j] * dsigmoid(r)
        d_a_z = dz * dsigmoid(z)
        d_x[j], d_x[H + j], d_x[2 * H + j] = d_a_r, d_a_z, d_a_n
        d_h[j], d_h[H + j], d_h[2 * H + j] = d_a_r, d_a_z, d_a_n * r
        d_h_n[j] = d_a_n * r
        dh_direct[j] = dh_in[j] * complement(z)


@njit(cache=True, nogil=True, error_model="numpy")
def _backward_loop(
    part,
    parts,
    counter,
    packed,
    plain,
    lengths,
    gates,
    hidden_n,
    hidden,
    d_out,
    dh,
    d_x_proj,
    d_h_n,
    d_hidden,
    d_h,
):
    """Walks t = T … 1 carrying dh (B, H); fills d_x_proj (T, B, 3H), d_h_n (T, B, H) and
    d_hidden ((T, B, H) to keep ∂L/∂h_t of every step, or (1, B, H)).

    d_h (B, 3H) scratch: this step's ∂L/∂(W_hh h_{t−1} + b_hh). Run by ``parts`` threads.
    """
    T, B, G = gates.shape
    H = G // 3
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0
        for b in range(first, stop):
            if t < lengths[b]:
                d_hidden[k, b] = dh[b] + d_out[t, b]
                _gates_backward(
                    gates[t, b],
                    hidden_n[t, b],
                    hidden[t, b],
                    d_hidden[k, b],
                    d_x_proj[t, b],
                    d_h[b],
                    d_h_n[t, b],
                    dh[b],
                    H,
                )
            else:  # padded step: h was carried, so is its gradient
                d_hidden[k, b] = dh[b]
                d_x_proj[t, b] = 0
                d_h[b] = 0
                d_h_n[t, b] = 0
        generation = barrier(counter, parts, generation)  # d_h and the direct part of dh complete
        matmul_rows(d_h, packed, plain, dh, True, part, parts)  # dh_{t−1} += W_hhᵀ d_h
        generation = barrier(counter, parts, generation)  # dh complete


def forward(params, x, state0, lengths=None, workspace=None, keep_tape=True):
    """As ``rnnlab.cells.gru.forward``; with ``keep_tape=False`` no gates are stored."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    parts = loop_parts(B, W_hh)
    x_proj = input_projection(params, x, ws, parts)
    hidden = np.empty((T + 1, B, H), x_proj.dtype)  # per call: the output is a view of it
    hidden[0] = state0
    gates = step_buffer(ws, "gates", (T, B, 3 * H), x_proj.dtype, keep_tape)
    hidden_n = step_buffer(ws, "hidden_n", (T, B, H), x_proj.dtype, keep_tape)
    h_proj = ws.array("h_proj", (B, 3 * H), x_proj.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    b_hh = params["b_hh"]
    args = (x_proj, packed, plain, b_hh, steps, hidden, gates, hidden_n, h_proj, keep_tape)
    run(parts, _forward_loop, *args)
    out, mask = sequence_output(hidden, lengths)
    tape = {"x": x, "gates": gates, "hidden_n": hidden_n, "hidden": hidden, "mask": mask}
    return out, hidden[T].copy(), (tape if keep_tape else None)


def backward(
    params, tape, d_out, d_stateT=None, workspace=None, keep_gradients=True, input_grad=True
):
    """As ``rnnlab.cells.gru.backward``; ∂L/∂h_t stays on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    x, gates, hidden_n, hidden, mask = (
        tape[k] for k in ("x", "gates", "hidden_n", "hidden", "mask")
    )
    T, B, _ = x.shape
    lengths = None if mask is None else mask[:, :, 0].sum(axis=0)
    dh = ws.zeros("dh", hidden[0].shape, hidden.dtype)
    if d_stateT is not None:
        dh[...] = d_stateT
    d_x_proj = reuse_input_projection(ws, gates.shape, gates.dtype)
    d_h_n = ws.array("d_h_n", hidden[1:].shape, hidden.dtype)
    d_hidden = step_buffer(ws, "d_hidden", hidden[1:].shape, hidden.dtype, keep_gradients)
    d_out = np.ascontiguousarray(d_out, dtype=hidden.dtype)
    d_h = ws.array("d_h", gates.shape[1:], gates.dtype)
    parts = loop_parts(B, W_hh)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    args = (packed, plain, steps, gates, hidden_n, hidden, d_out, dh, d_x_proj, d_h_n, d_hidden)
    run(parts, _backward_loop, *args, d_h)
    del packed, plain, args  # freed before the weight gradients' temporaries
    grads, dx = weight_gradients(
        params, x, hidden, d_x_proj, ws, d_h_n, input_grad=input_grad, parts=parts
    )
    if keep_gradients:
        tape["d_hidden"] = d_hidden
    return dx, grads, dh.copy()
