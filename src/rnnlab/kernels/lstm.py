"""The LSTM cell compiled: the same equations as ``rnnlab.cells.lstm``, fused.

The input projections of all steps are one GEMM before the loop; the loop runs
compiled, with one product per step for W_hh h_{t−1} (W_hh packed once per call, see
``rnnlab.kernels.panels``) and one pass over
the four gates per row that writes each result once; the weight gradients are one GEMM
each after the backward loop. The tape has the same arrays as the reference cell's.
Large enough calls run on several threads (``rnnlab.kernels.team``): each takes a block
of the product's panels and a block of the batch's rows, meeting twice per step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rnnlab.kernels.common import (
    add_rows,
    all_steps,
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
def _gates_forward(pre, x_proj, bias, c_prev, c_new, h_new, gates, H):
    """One row: a = pre + x_proj + bias (4H) → the gates, c_t and h_t (H each)."""
    for j in range(H):
        i = sigmoid(pre[j] + x_proj[j] + bias[j])
        f = sigmoid(pre[H + j] + x_proj[H + j] + bias[H + j])
        g = tanh(pre[2 * H + j] + x_proj[2 * H + j] + bias[2 * H + j])
        o = sigmoid(pre[3 * H + j] + x_proj[3 * H + j] + bias[3 * H + j])
        c = f * c_prev[j] + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        c_new[j] = c
        h_new[j] = o * tanh(c)  # h_t = o ⊙ tanh(c_t)
        gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j] = i, f, g, o


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
    lengths,
    hidden,
    cell,
    gates,
    pre,
    keep,
):
    """x_proj (T, B, 4H) = W_ih x_t → fills hidden, cell (T + 1, B, H), gates.

    packed, plain: W_hhᵀ (H, 4H) as ``recurrent_operand`` gives it
    (each thread packs its own panels here); bias = b_ih + b_hh; pre (B, 4H) scratch.
    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, G = x_proj.shape
    H = G // 4
    pack_own_panels(W_hh, True, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T):
        matmul_rows(hidden[t], packed, plain, pre, False, part, parts)  # W_hh h_{t−1}
        generation = barrier(counter, parts, generation)  # pre complete
        g_t = gates[t] if keep else gates[0]
        for b in range(first, stop):
            if t < lengths[b]:
                _gates_forward(
                    pre[b],
                    x_proj[t, b],
                    bias,
                    cell[t, b],
                    cell[t + 1, b],
                    hidden[t + 1, b],
                    g_t[b],
                    H,
                )
            else:  # padded step: the state is carried unchanged
                hidden[t + 1, b] = hidden[t, b]
                cell[t + 1, b] = cell[t, b]
                g_t[b] = 0
        generation = barrier(counter, parts, generation)  # h_t complete, pre free


@njit(cache=True, nogil=True, error_model="numpy")
def _gates_backward(gates, c_prev, c_new, dh_in, dc, d_pre, d_cell, H):
    """One row: ∂L/∂h_t (dh_in) and ∂L/∂c_t (dc, updated to ∂L/∂c_{t−1}) → d_pre (4H)."""
    for j in range(H):
        i, f, g, o = gates[j], gates[H + j], gates[2 * H + j], gates[3 * H + j]
        tanh_c = tanh(c_new[j])
        dc_in = dc[j] + dh_in[j] * o * dtanh(tanh_c)
        d_cell[j] = dc_in
        d_pre[j] = dc_in * g * dsigmoid(i)
        d_pre[H + j] = dc_in * c_prev[j] * dsigmoid(f)
        d_pre[2 * H + j] = dc_in * i * dtanh(g)
        d_pre[3 * H + j] = dh_in[j] * tanh_c * dsigmoid(o)
        dc[j] = dc_in * f


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
    hidden,
    cell,
    d_out,
    dh,
    dc,
    d_pre,
    d_hidden,
    d_cell,
    d_bias,
):
    """Walks t = T … 1 carrying dh, dc (B, H); fills d_pre (T, B, 4H), d_hidden, d_cell.

    packed, plain: W_hh (4H, H) as ``recurrent_operand`` gives it.
    d_hidden, d_cell: (T, B, H) to keep ∂L/∂h_t, ∂L/∂c_t of every step, or (1, B, H).
    d_bias (parts, 4H), float64 zeros: row ``part`` ← Σ d_pre over this thread's rows.
    counter[PROGRESS] ← the steps finished, from the last (``rnnlab.kernels.pipeline``).
    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, G = gates.shape
    H = G // 4
    pack_own_panels(W_hh, False, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0  # one step's worth when not kept
        for b in range(first, stop):
            if t < lengths[b]:
                d_hidden[k, b] = dh[b] + d_out[t, b]
                _gates_backward(
                    gates[t, b],
                    cell[t, b],
                    cell[t + 1, b],
                    d_hidden[k, b],
                    dc[b],
                    d_pre[t, b],
                    d_cell[k, b],
                    H,
                )
            else:  # padded step: h and c were carried, so are their gradients
                d_hidden[k, b] = dh[b]
                d_cell[k, b] = dc[b]
                d_pre[t, b] = 0
        add_rows(d_pre[t, first:stop], d_bias[part])  # ∂L/∂b, while d_a is in cache
        generation = barrier(counter, parts, generation)  # d_a complete, dh read
        matmul_rows(d_pre[t], packed, plain, dh, False, part, parts)  # dh_{t−1} = W_hhᵀ d_a
        generation = barrier(counter, parts, generation)  # dh complete
        for b in range(first, stop):
            if t >= lengths[b]:
                dh[b] = d_hidden[k, b]
        if part == 0:
            atomic_store(counter[PROGRESS:], T - t)  # d_pre[t] is complete


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
    """As ``rnnlab.cells.lstm.forward``; with ``keep_tape=False`` no gates are stored."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    parts = loop_parts(B, W_hh)
    x_proj = input_projection(params, x, ws, parts, bias=False)
    hidden = np.empty((T + 1, B, H), x_proj.dtype)  # per call: the output is a view of it
    cell = ws.array("cell", (T + 1, B, H), x_proj.dtype)
    hidden[0], cell[0] = state0
    gates = step_buffer(ws, "gates", (T, B, 4 * H), x_proj.dtype, keep_tape)
    pre = ws.array("pre", (B, 4 * H), x_proj.dtype)
    W_hh = np.ascontiguousarray(W_hh, dtype=x_proj.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    bias = params["b_ih"] + params["b_hh"]  # b_ih is not in x_proj: one pass less
    args = (x_proj, W_hh, packed, plain, bias, steps, hidden, cell, gates, pre, keep_tape)
    run(parts, _forward_loop, *args, driver=_forward_parts)
    out, mask = sequence_output(hidden, lengths)
    tape = {"x": x, "gates": gates, "cell": cell, "hidden": hidden, "mask": mask}
    return out, (hidden[T].copy(), cell[T].copy()), (tape if keep_tape else None)


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
    """As ``rnnlab.cells.lstm.backward``; ∂L/∂h_t, ∂L/∂c_t stay on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``; with ``into`` (a layer's
    gradient arrays by name) the weight gradients are added to them in place and returned."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    x, gates, cell, hidden, mask = (tape[k] for k in ("x", "gates", "cell", "hidden", "mask"))
    T, B, _ = x.shape
    lengths = None if mask is None else mask[:, :, 0].sum(axis=0)
    dh_T, dc_T = d_stateT if d_stateT is not None else (None, None)
    dh = ws.zeros("dh", hidden[0].shape, hidden.dtype)
    dc = ws.zeros("dc", cell[0].shape, cell.dtype)
    if dh_T is not None:
        dh[...] = dh_T
    if dc_T is not None:
        dc[...] = dc_T
    d_pre = reuse_input_projection(ws, gates.shape, gates.dtype)
    d_hidden = step_buffer(ws, "d_hidden", hidden[1:].shape, hidden.dtype, keep_gradients)
    d_cell = step_buffer(ws, "d_cell", cell[1:].shape, cell.dtype, keep_gradients)
    d_out = np.ascontiguousarray(d_out, dtype=hidden.dtype)
    parts = loop_parts(B, W_hh)
    W_hh = np.ascontiguousarray(W_hh, dtype=hidden.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    d_bias = np.zeros((parts, gates.shape[2]))  # float64: sums of T·B terms
    buffers = (d_out, dh, dc, d_pre, d_hidden, d_cell, d_bias)
    loop = (W_hh, packed, plain, steps, gates, hidden, cell, *buffers)
    if pipelines(B, W_hh, parts):
        terms = gradient_operands(params, x, hidden, d_pre, input_grad, into=into)
        run(parts, _pipelined_backward, loop, (*terms, chunk_steps(B)), driver=_pipelined_parts)
        grads, dx = gradient_results(terms, d_bias.sum(0), into=into)
    else:
        run(parts, _backward_loop, *loop, driver=_backward_parts)
        del packed, plain, loop  # freed before the weight gradients' temporaries
        grads, dx = weight_gradients(
            params,
            x,
            hidden,
            d_pre,
            input_grad=input_grad,
            parts=parts,
            bias_grad=d_bias.sum(0),
            into=into,
        )
    if keep_gradients:
        tape["d_hidden"], tape["d_cell"] = d_hidden, d_cell
    return dx, grads, (dh.copy(), dc.copy())
