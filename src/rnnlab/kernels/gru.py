"""The GRU cell compiled: the same equations as ``rnnlab.cells.gru``, fused.

    r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)
    z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))
    h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n

One GEMM for the input projections of all steps, one product per step for W_hh h_{t−1}
(W_hh packed once per call, see ``rnnlab.kernels.panels``), one fused pass over the
gates per row, weight gradients after the loop — or, at small sizes on two threads,
beside it (``rnnlab.kernels.pipeline``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rnnlab.kernels.common import (
    add_rows,
    all_steps,
    complement,
    dsigmoid,
    dtanh,
    input_projection,
    loop_parts,
    matmul_rows,
    pack_own_panels,
    recurrent_operand,
    reuse_input_projection,
    sequence_output,
    sigmoid,
    step_buffer,
    tanh,
    weight_gradients,
)
from rnnlab.kernels.pipeline import (
    PROGRESS,
    chunk_steps,
    gradient_operands,
    gradient_results,
    gradient_side,
    pipelines,
)
from rnnlab.kernels.sync import atomic_store, barrier
from rnnlab.kernels.team import run, share
from rnnlab.kernels.workspace import Workspace


@njit(cache=True, nogil=True, error_model="numpy")
def _gates_forward(h_proj, x_proj, bias, b_hh, h_prev, h_new, gates, hidden_n, H):
    """One row: h_proj = W_hh h_{t−1} (3H), x_proj = W_ih x_t (3H) → r, z, n and h_t.

    bias (3H): b_ih + b_hh for r and z, b_in for n; b_hh: b_hn is its n block.
    """
    for j in range(H):
        hn = h_proj[2 * H + j] + b_hh[2 * H + j]  # W_hn h_{t−1} + b_hn
        r = sigmoid(x_proj[j] + h_proj[j] + bias[j])
        z = sigmoid(x_proj[H + j] + h_proj[H + j] + bias[H + j])
        n = tanh(x_proj[2 * H + j] + bias[2 * H + j] + r * hn)
        h_new[j] = complement(z) * h_prev[j] + z * n
        gates[j], gates[H + j], gates[2 * H + j] = r, z, n
        hidden_n[j] = hn


@njit(cache=True, nogil=True, error_model="numpy")
def _forward_loop(
    part,
    parts,
    counter,
    x_proj,
    W_hh,
    packed,
    plain,
    bias,
    b_hh,
    lengths,
    hidden,
    gates,
    hidden_n,
    h_proj,
    keep,
):
    """x_proj (T, B, 3H) = W_ih x_t → fills hidden (T + 1, B, H), gates (T, B, 3H),
    hidden_n (T, B, H).

    packed, plain: W_hhᵀ as ``recurrent_operand`` gives it (each thread
    packs its own panels here); bias, b_hh as ``_gates_forward`` takes them; h_proj
    (B, 3H) scratch. Run by ``parts`` threads (``rnnlab.kernels.team``).
    """
    T, B, G = x_proj.shape
    H = G // 3
    pack_own_panels(W_hh, True, packed, part, parts)
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
                    bias,
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
    W_hh,
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
    d_bias,
    d_n_bias,
):
    """Walks t = T … 1 carrying dh (B, H); fills d_x_proj (T, B, 3H), d_h_n (T, B, H) and
    d_hidden ((T, B, H) to keep ∂L/∂h_t of every step, or (1, B, H)).

    packed, plain: W_hh as ``recurrent_operand`` gives it. d_h (B, 3H)
    scratch: this step's ∂L/∂(W_hh h_{t−1} + b_hh). d_bias (parts, 3H), d_n_bias
    (parts, H), float64 zeros: row ``part`` ← Σ d_x_proj, Σ d_h_n over this thread's rows.
    counter[PROGRESS] ← the steps finished, from the last (``rnnlab.kernels.pipeline``).
    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, G = gates.shape
    H = G // 3
    pack_own_panels(W_hh, False, packed, part, parts)
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
        add_rows(d_x_proj[t, first:stop], d_bias[part])  # ∂L/∂b, while they are in cache
        add_rows(d_h_n[t, first:stop], d_n_bias[part])
        generation = barrier(counter, parts, generation)  # d_h and the direct part of dh complete
        matmul_rows(d_h, packed, plain, dh, True, part, parts)  # dh_{t−1} += W_hhᵀ d_h
        generation = barrier(counter, parts, generation)  # dh complete
        if part == 0:
            atomic_store(counter[PROGRESS:], T - t)  # d_x_proj[t], d_h_n[t] are complete


@njit(cache=True, nogil=True, error_model="numpy")
def _pipelined_backward(part, parts, counter, loop, gradient_terms):
    """Part 0 runs ``_backward_loop(*loop)`` alone while part 1 sums the weight gradients
    of the chunks it has finished (``pipeline.gradient_side``)."""
    if part == 0:
        _backward_loop(0, 1, counter, *loop)
    gradient_side(part, parts, counter, gradient_terms)


@njit(cache=True, nogil=True, parallel=True)
def _forward_parts(parts, counter, *args):
    """``_forward_loop``'s parts on numba's threads (``rnnlab.kernels.team.Team.run``)."""
    for part in prange(parts):
        _forward_loop(part, parts, counter, *args)


@njit(cache=True, nogil=True, parallel=True)
def _backward_parts(parts, counter, *args):
    """``_backward_loop``'s parts on numba's threads."""
    for part in prange(parts):
        _backward_loop(part, parts, counter, *args)


@njit(cache=True, nogil=True, parallel=True)
def _pipelined_parts(parts, counter, loop, gradient_terms):
    """``_pipelined_backward``'s parts on numba's threads."""
    for part in prange(parts):
        _pipelined_backward(part, parts, counter, loop, gradient_terms)


def forward(params, x, state0, lengths=None, workspace=None, keep_tape=True):
    """As ``rnnlab.cells.gru.forward``; with ``keep_tape=False`` no gates are stored."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    parts = loop_parts(B, W_hh)
    x_proj = input_projection(params, x, ws, parts, bias=False)
    hidden = np.empty((T + 1, B, H), x_proj.dtype)  # per call: the output is a view of it
    hidden[0] = state0
    gates = step_buffer(ws, "gates", (T, B, 3 * H), x_proj.dtype, keep_tape)
    hidden_n = step_buffer(ws, "hidden_n", (T, B, H), x_proj.dtype, keep_tape)
    h_proj = ws.array("h_proj", (B, 3 * H), x_proj.dtype)
    W_hh = np.ascontiguousarray(W_hh, dtype=x_proj.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    b_hh = params["b_hh"]
    bias = params["b_ih"] + b_hh  # b_ih is not in x_proj: one pass less
    bias[2 * H :] = params["b_ih"][2 * H :]  # b_hn is inside r ⊙ (…)
    loop = (x_proj, W_hh, packed, plain, bias, b_hh, steps, hidden, gates, hidden_n, h_proj)
    run(parts, _forward_loop, *loop, keep_tape, driver=_forward_parts)
    out, mask = sequence_output(hidden, lengths)
    tape = {"x": x, "gates": gates, "hidden_n": hidden_n, "hidden": hidden, "mask": mask}
    return out, hidden[T].copy(), (tape if keep_tape else None)


def backward(
    params,
    tape,
    d_out,
    d_stateT=None,
    workspace=None,
    keep_gradients=True,
    input_grad=True,
    into=None,
):
    """As ``rnnlab.cells.gru.backward``; ∂L/∂h_t stays on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``; with ``into`` (a layer's
    gradient arrays by name) the weight gradients are added to them in place and returned."""
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
    W_hh = np.ascontiguousarray(W_hh, dtype=hidden.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    H = hidden.shape[2]
    d_bias, d_n_bias = np.zeros((parts, 3 * H)), np.zeros((parts, H))  # float64 sums
    buffers = (d_out, dh, d_x_proj, d_h_n, d_hidden, d_h, d_bias, d_n_bias)
    loop = (W_hh, packed, plain, steps, gates, hidden_n, hidden, *buffers)
    if pipelines(B, W_hh, parts):
        terms = gradient_operands(params, x, hidden, d_x_proj, input_grad, d_h_n, into)
        run(parts, _pipelined_backward, loop, (*terms, chunk_steps(B)), driver=_pipelined_parts)
        grads, dx = gradient_results(terms, d_bias.sum(0), d_n_bias.sum(0), into)
    else:
        run(parts, _backward_loop, *loop, driver=_backward_parts)
        del packed, plain, loop  # freed before the weight gradients' temporaries
        grads, dx = weight_gradients(
            params,
            x,
            hidden,
            d_x_proj,
            d_h_n,
            input_grad=input_grad,
            parts=parts,
            bias_grad=d_bias.sum(0),
            n_bias_grad=d_n_bias.sum(0),
            into=into,
        )
    if keep_gradients:
        tape["d_hidden"] = d_hidden
    return dx, grads, dh.copy()
