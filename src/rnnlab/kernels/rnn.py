"""The Elman RNN cell compiled: the same equations as ``rnnlab.cells.rnn``, fused.

h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),    act = tanh or relu

Structured as ``rnnlab.kernels.lstm``: one GEMM for the input projections, one product
per step, the backward pass pipelined on two threads at small sizes
(``rnnlab.kernels.pipeline``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from rnnlab.kernels.common import (
    add_rows,
    all_steps,
    drelu,
    dtanh,
    input_projection,
    loop_parts,
    matmul_rows,
    pack_own_panels,
    recurrent_operand,
    relu,
    reuse_input_projection,
    sequence_output,
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
def _forward_loop(
    part, parts, counter, x_proj, W_hh, packed, plain, bias, lengths, hidden, pre, use_relu
):
    """x_proj (T, B, H) = W_ih x_t → fills hidden (T + 1, B, H); pre (B, H) scratch.

    packed, plain: W_hhᵀ as ``recurrent_operand`` gives it (each thread
    packs its own panels here); bias = b_ih + b_hh.
    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, H = x_proj.shape
    pack_own_panels(W_hh, True, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T):
        matmul_rows(hidden[t], packed, plain, pre, False, part, parts)
        generation = barrier(counter, parts, generation)  # pre complete
        for b in range(first, stop):
            if t >= lengths[b]:  # padded step: the state is carried unchanged
                hidden[t + 1, b] = hidden[t, b]
            elif use_relu:
                for j in range(H):
                    hidden[t + 1, b, j] = relu(pre[b, j] + x_proj[t, b, j] + bias[j])
            else:
                for j in range(H):
                    hidden[t + 1, b, j] = tanh(pre[b, j] + x_proj[t, b, j] + bias[j])
        generation = barrier(counter, parts, generation)  # h_t complete, pre free


@njit(cache=True, nogil=True, error_model="numpy")
def _backward_loop(
    part,
    parts,
    counter,
    W_hh,
    packed,
    plain,
    lengths,
    hidden,
    d_out,
    dh,
    d_pre,
    d_hidden,
    d_bias,
    use_relu,
):
    """Walks t = T … 1 carrying dh (B, H); fills d_pre (T, B, H) and d_hidden ((T, B, H)
    to keep ∂L/∂h_t of every step, or (1, B, H)).

    packed, plain: W_hh as ``recurrent_operand`` gives it.
    d_bias (parts, H), float64 zeros: row ``part`` ← Σ d_pre over this thread's rows.
    counter[PROGRESS] ← the steps finished, from the last (``rnnlab.kernels.pipeline``).
    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, H = d_pre.shape
    pack_own_panels(W_hh, False, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0  # one step's worth when not kept
        for b in range(first, stop):
            if t < lengths[b]:
                d_hidden[k, b] = dh[b] + d_out[t, b]
                for j in range(H):
                    y = hidden[t + 1, b, j]
                    slope = drelu(y) if use_relu else dtanh(y)
                    d_pre[t, b, j] = d_hidden[k, b, j] * slope
            else:  # padded step: h was carried, so is its gradient
                d_hidden[k, b] = dh[b]
                d_pre[t, b] = 0
        add_rows(d_pre[t, first:stop], d_bias[part])  # ∂L/∂b, while d_pre is in cache
        generation = barrier(counter, parts, generation)  # d_pre complete, dh read
        matmul_rows(d_pre[t], packed, plain, dh, False, part, parts)
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


def forward(params, x, state0, lengths=None, nonlinearity="tanh", workspace=None, keep_tape=True):
    """As ``rnnlab.cells.rnn.forward``."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    T, B, _ = x.shape
    parts = loop_parts(B, W_hh)
    x_proj = input_projection(params, x, ws, parts, bias=False)
    # per call, not in the workspace: the output is a view of it
    hidden = np.empty((T + 1, B, W_hh.shape[0]), x_proj.dtype)
    hidden[0] = state0
    pre = ws.array("pre", hidden.shape[1:], x_proj.dtype)
    W_hh = np.ascontiguousarray(W_hh, dtype=x_proj.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    bias = params["b_ih"] + params["b_hh"]  # b_ih is not in x_proj: one pass less
    relu_ = nonlinearity == "relu"
    args = (x_proj, W_hh, packed, plain, bias, steps, hidden, pre, relu_)
    run(parts, _forward_loop, *args, driver=_forward_parts)
    out, mask = sequence_output(hidden, lengths)
    tape = {"x": x, "hidden": hidden, "mask": mask, "nonlinearity": nonlinearity}
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
    """As ``rnnlab.cells.rnn.backward``; ∂L/∂h_t stays on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``; with ``into`` (a layer's
    gradient arrays by name) the weight gradients are added to them in place and returned."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    x, hidden, mask = tape["x"], tape["hidden"], tape["mask"]
    T, B, _ = x.shape
    H = hidden.shape[2]
    lengths = None if mask is None else mask[:, :, 0].sum(axis=0)
    dh = ws.zeros("dh", hidden[0].shape, hidden.dtype)
    if d_stateT is not None:
        dh[...] = d_stateT
    d_pre = reuse_input_projection(ws, hidden[1:].shape, hidden.dtype)
    d_hidden = step_buffer(ws, "d_hidden", hidden[1:].shape, hidden.dtype, keep_gradients)
    d_out = np.ascontiguousarray(d_out, dtype=hidden.dtype)
    parts = loop_parts(B, W_hh)
    W_hh = np.ascontiguousarray(W_hh, dtype=hidden.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    d_bias = np.zeros((parts, H))  # float64: sums of T·B terms
    relu_ = tape["nonlinearity"] == "relu"
    loop = (W_hh, packed, plain, steps, hidden, d_out, dh, d_pre, d_hidden, d_bias, relu_)
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
        tape["d_hidden"] = d_hidden
    return dx, grads, dh.copy()
