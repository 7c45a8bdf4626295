"""The Elman RNN cell compiled: the same equations as ``rnnlab.cells.rnn``, fused.

h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),    act = tanh or relu
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rnnlab.kernels.common import (
    all_steps,
    drelu,
    dtanh,
    input_projection,
    loop_parts,
    matmul_rows,
    recurrent_operand,
    relu,
    reuse_input_projection,
    sequence_output,
    step_buffer,
    tanh,
    weight_gradients,
)
from rnnlab.kernels.sync import barrier
from rnnlab.kernels.team import run, share
from rnnlab.kernels.workspace import Workspace


@njit(cache=True, nogil=True, error_model="numpy")
def _forward_loop(
    part, parts, counter, x_proj, packed, plain, b_hh, lengths, hidden, pre, use_relu
):
    """x_proj (T, B, H) = W_ih x_t + b_ih → fills hidden (T + 1, B, H); pre (B, H) scratch.

    Run by ``parts`` threads (``rnnlab.kernels.team``); this one is ``part``.
    """
    T, B, H = x_proj.shape
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
                    hidden[t + 1, b, j] = relu(pre[b, j] + x_proj[t, b, j] + b_hh[j])
            else:
                for j in range(H):
                    hidden[t + 1, b, j] = tanh(pre[b, j] + x_proj[t, b, j] + b_hh[j])
        generation = barrier(counter, parts, generation)  # h_t complete, pre free


@njit(cache=True, nogil=True, error_model="numpy")
def _backward_loop(
    part, parts, counter, packed, plain, lengths, hidden, d_out, dh, d_pre, d_hidden, use_relu
):
    """Walks t = T … 1 carrying dh (B, H); fills d_pre (T, B, H) and d_hidden ((T, B, H)
    to keep ∂L/∂h_t of every step, or (1, B, H)). Run by ``parts`` threads."""
    T, B, H = d_pre.shape
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
        generation = barrier(counter, parts, generation)  # d_pre complete, dh read
        matmul_rows(d_pre[t], packed, plain, dh, False, part, parts)
        generation = barrier(counter, parts, generation)  # dh complete
        for b in range(first, stop):
            if t >= lengths[b]:
                dh[b] = d_hidden[k, b]


def forward(params, x, state0, lengths=None, nonlinearity="tanh", workspace=None, keep_tape=True):
    """As ``rnnlab.cells.rnn.forward``."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    T, B, _ = x.shape
    parts = loop_parts(B, W_hh)
    x_proj = input_projection(params, x, ws, parts)
    # per call, not in the workspace: the output is a view of it
    hidden = np.empty((T + 1, B, W_hh.shape[0]), x_proj.dtype)
    hidden[0] = state0
    pre = ws.array("pre", hidden.shape[1:], x_proj.dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    relu_ = nonlinearity == "relu"
    run(parts, _forward_loop, x_proj, packed, plain, params["b_hh"], steps, hidden, pre, relu_)
    out, mask = sequence_output(hidden, lengths)
    tape = {"x": x, "hidden": hidden, "mask": mask, "nonlinearity": nonlinearity}
    return out, hidden[T].copy(), (tape if keep_tape else None)


def backward(
    params, tape, d_out, d_stateT=None, workspace=None, keep_gradients=True, input_grad=True
):
    """As ``rnnlab.cells.rnn.backward``; ∂L/∂h_t stays on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``."""
    ws = workspace or Workspace()
    W_hh = params["W_hh"]
    x, hidden, mask = tape["x"], tape["hidden"], tape["mask"]
    T, B, _ = x.shape
    lengths = None if mask is None else mask[:, :, 0].sum(axis=0)
    dh = ws.zeros("dh", hidden[0].shape, hidden.dtype)
    if d_stateT is not None:
        dh[...] = d_stateT
    d_pre = reuse_input_projection(ws, hidden[1:].shape, hidden.dtype)
    d_hidden = step_buffer(ws, "d_hidden", hidden[1:].shape, hidden.dtype, keep_gradients)
    d_out = np.ascontiguousarray(d_out, dtype=hidden.dtype)
    parts = loop_parts(B, W_hh)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = all_steps(lengths, T, B)
    relu_ = tape["nonlinearity"] == "relu"
    args = (packed, plain, steps, hidden, d_out, dh, d_pre, d_hidden, relu_)
    run(parts, _backward_loop, *args)
    del packed, plain, args  # freed before the weight gradients' temporaries
    grads, dx = weight_gradients(params, x, hidden, d_pre, ws, input_grad=input_grad, parts=parts)
    if keep_gradients:
        tape["d_hidden"] = d_hidden
    return dx, grads, dh.copy()
