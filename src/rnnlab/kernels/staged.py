"""The loops of a cell with two products per step (``Cell.gated_blocks``; the reset-before
GRU): its last blocks multiply W_hh with a gated state g_t that needs the first blocks'
product, so a step is product, ``gate_step``, product, ``forward_step``, and backward
``backward_step``, product, ``gate_backward_step``, product.

Each product is one OpenBLAS GEMM for the whole batch, called from the compiled loop
(``rnnlab.runtime.blas``), as ``rnnlab.kernels.step`` does for one step; the loop runs on
one thread (OpenBLAS's own threads take large products). The one-product loops of
``rnnlab.kernels.loops`` split a step over the cores and pack W_hh into panels, which is
faster; these are the plain form of the same, written for a contract with two stages.
Templates, made for a cell as those are. The weight gradients are GEMMs after the loop:
the first blocks' rows of W_hh against h_{t−1}, the last ones' against g_t.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
from numba import njit

from rnnlab.cells import Cell
from rnnlab.errors import ConfigError
from rnnlab.kernels.buffers import all_steps, input_projection, step_buffer
from rnnlab.kernels.layer import (
    backward_done,
    carried_gradients,
    final_state,
    forward_tape,
    own_parameter_grads,
    own_parameters,
    starting_states,
    tape_steps,
)
from rnnlab.kernels.loops import add_rows_into, copy_row
from rnnlab.kernels.specialise import OPTIONS, compiled_steps, specialise
from rnnlab.runtime.blas import gemm
from rnnlab.runtime.gradients import gradient_dict, gradient_targets
from rnnlab.runtime.team import matmul
from rnnlab.runtime.workspace import Workspace


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """A cell's forward step (``rnnlab.cells.cell``): ``compiled_staged`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_staged(cell)")


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """A cell's backward step: ``compiled_staged`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_staged(cell)")


def gate_step(a_x, a_h, b_ih, b_hh, p, h_prev, gated, H):
    """A cell's gate step (``rnnlab.cells.cell``): ``compiled_staged`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_staged(cell)")


def gate_backward_step(keep, p, h_prev, d_gated, d_x, dh_prev, H):
    """A cell's gate backward step: ``compiled_staged`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_staged(cell)")


def staged_forward_loop(
    x_proj, W_first, W_last, b_ih, b_hh, p, lengths, hidden, cell, keep, gated, pre
):
    """x_proj (T, B, G·H) = W_ih x_t → fills hidden (T + 1, B, H), cell (T + 1, B, C),
    keep (T or 1, B, W) and gated (T or 1, B, H) = g_t. W_first (F, H), W_last (G·H − F,
    H): W_hh's rows read with h_{t−1} and with g_t; pre (B, G·H) scratch."""
    T, B, _ = x_proj.shape
    H = hidden.shape[2]
    F = W_first.shape[0]
    for t in range(T):
        k = t if keep.shape[0] == T else 0
        gemm(False, True, 1.0, hidden[t], W_first, 0.0, pre[:, :F])  # W_hh h_{t−1}: first blocks
        for b in range(B):
            if t < lengths[b]:
                gate_step(x_proj[t, b], pre[b], b_ih, b_hh, p, hidden[t, b], gated[k, b], H)
            else:
                for j in range(H):
                    gated[k, b, j] = 0
        gemm(False, True, 1.0, gated[k], W_last, 0.0, pre[:, F:])  # W_hh g_t: the last blocks
        for b in range(B):
            if t < lengths[b]:
                h_prev, c_prev = hidden[t, b], cell[t, b]
                h, c = hidden[t + 1, b], cell[t + 1, b]
                forward_step(
                    x_proj[t, b], pre[b], b_ih, b_hh, p, h_prev, c_prev, h, c, keep[k, b], H
                )
            else:  # padded step: the state is carried unchanged
                copy_row(hidden[t, b], hidden[t + 1, b])
                copy_row(cell[t, b], cell[t + 1, b])
                keep[k, b] = 0


def staged_backward_loop(
    W_first, W_last, lengths, keep, p, hidden, cell, gated, d_out, dh, dc, d_pre, d_own,
    d_hidden, d_cell, d_gated, dp,
):  # fmt: skip
    """Walks t = T … 1 carrying dh (B, H), dc (B, C); fills d_pre (T, B, G·H) = ∂L/∂a_t,
    d_hidden and d_cell (T or 1, B, ·); d_gated (B, H) scratch; dp (K, H) float64 += ∂L/∂p."""
    T, B, H = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    F = W_first.shape[0]
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0
        for b in range(B):
            if t < lengths[b]:
                add_rows_into(dh[b], d_out[t, b], d_hidden[k, b])
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], hidden[t + 1, b], cell[t + 1, b],
                    d_hidden[k, b], dc[b], d_cell[k, b], d_pre[t, b], d_own[t, b], dh[b], dp, H,
                )  # fmt: skip
            else:  # padded step: h and c were carried, so are their gradients
                copy_row(dh[b], d_hidden[k, b])
                copy_row(dc[b], d_cell[k, b])
                d_pre[t, b] = 0
        gemm(False, False, 1.0, d_pre[t][:, F:], W_last, 0.0, d_gated)  # ∂L/∂g_t
        for b in range(B):
            if t < lengths[b]:
                gate_backward_step(keep[t, b], p, hidden[t, b], d_gated[b], d_pre[t, b], dh[b], H)
        gemm(False, False, 1.0, d_pre[t][:, :F], W_first, 1.0, dh)  # += W_hhᵀ ∂L/∂a: first
        for b in range(B):
            if t >= lengths[b]:  # padded: h was carried, so is ∂L/∂h
                copy_row(d_hidden[k, b], dh[b])


@cache
def compiled_staged(cell: Cell) -> SimpleNamespace:
    """The loops above made for ``cell`` (compiled at their first call, or loaded from
    numba's cache)."""
    names = {
        **compiled_steps(cell),
        "gate_step": njit(inline="always", **OPTIONS)(cell.gate_step),
        "gate_backward_step": njit(inline="always", **OPTIONS)(cell.gate_backward_step),
    }
    return SimpleNamespace(
        forward_loop=specialise(staged_forward_loop, cell, names),
        backward_loop=specialise(staged_backward_loop, cell, names),
    )


def _first_rows(cell: Cell, H: int) -> int:
    """F, the rows of W_hh that multiply h_{t−1} (the rest multiply g_t)."""
    return (cell.blocks - cell.gated_blocks) * H


def forward(
    cell: Cell,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: Any,
    lengths: np.ndarray | None = None,
    workspace: Workspace | None = None,
    keep_tape: bool = True,
    recurrent_mask: np.ndarray | None = None,
    zoneout: np.ndarray | None = None,
) -> tuple[np.ndarray, Any, dict | None]:
    """As ``rnnlab.kernels.layer.forward`` for a cell with ``gated_blocks``; the tape also
    holds ``gated`` (T, B, H). Recurrent dropout and zoneout are not offered (the layers
    refuse them for such a cell)."""
    if recurrent_mask is not None or zoneout is not None:
        raise ConfigError(f"{cell.title} takes no recurrent dropout or zoneout")
    ws = workspace or Workspace()
    T, B, _ = x.shape
    H = params["W_hh"].shape[1]
    x_proj = input_projection(params, x, ws, bias=False)
    dtype = x_proj.dtype
    hidden, cell_state = starting_states(cell, state0, ws, T, B, H, dtype)
    keep = step_buffer(ws, "keep", (T, B, cell.keep_width * H), dtype, keep_tape)
    gated = step_buffer(ws, "gated", (T, B, H), dtype, keep_tape)
    pre = ws.array("pre", (B, cell.blocks * H), dtype)
    W_hh = np.ascontiguousarray(params["W_hh"], dtype=dtype)
    F = _first_rows(cell, H)
    b_ih, b_hh = (np.ascontiguousarray(params[name], dtype) for name in ("b_ih", "b_hh"))
    p = own_parameters(cell, params, H, dtype)
    steps = all_steps(lengths, T, B)
    compiled_staged(cell).forward_loop(
        x_proj, W_hh[:F], W_hh[F:], b_ih, b_hh, p, steps, hidden, cell_state, keep, gated, pre
    )
    out, tape = forward_tape(cell, x, hidden, cell_state, keep, lengths, keep_tape)
    if tape is not None:
        tape["gated"] = gated
    return out, final_state(cell, hidden, cell_state), tape


def backward(
    cell: Cell,
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: Any = None,
    workspace: Workspace | None = None,
    keep_gradients: bool = True,
    input_grad: bool = True,
    into: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, dict[str, np.ndarray], Any]:
    """As ``rnnlab.kernels.layer.backward`` for a cell with ``gated_blocks``."""
    ws = workspace or Workspace()
    x, hidden, mask, keep, gated = (tape[k] for k in ("x", "hidden", "mask", "keep", "gated"))
    T, B, I = x.shape
    H, dtype = hidden.shape[2], hidden.dtype
    C, GH = (H if cell.has_cell_state else 0), cell.blocks * H
    cell_state = tape["cell"] if C else ws.array("cell", (T + 1, B, 0), dtype)
    dh, dc = carried_gradients(cell, d_stateT, ws, B, H, dtype)
    d_pre = ws.array("d_pre", (T, B, GH), dtype)
    d_own = ws.array("d_own", (T, B, 0), dtype)
    d_hidden = step_buffer(ws, "d_hidden", (T, B, H), dtype, keep_gradients)
    d_cell = step_buffer(ws, "d_cell", (T, B, C), dtype, keep_gradients)
    d_gated = ws.array("d_gated", (B, H), dtype)
    W_hh = np.ascontiguousarray(params["W_hh"], dtype=dtype)
    F = _first_rows(cell, H)
    p = own_parameters(cell, params, H, dtype)
    dp = np.zeros(p.shape)  # float64, as the loops sum it
    compiled_staged(cell).backward_loop(
        W_hh[:F], W_hh[F:], tape_steps(mask, T, B), keep, p, hidden, cell_state, gated,
        np.ascontiguousarray(d_out, dtype=dtype), dh, dc, d_pre, d_own, d_hidden, d_cell,
        d_gated, dp,
    )  # fmt: skip

    flat = d_pre.reshape(T * B, GH)
    W_ih_grad, W_hh_grad, add = gradient_targets(into, (GH, I), (GH, H), dtype)
    x_flat = np.ascontiguousarray(x.reshape(T * B, I), dtype=dtype)
    matmul(flat.T, x_flat, W_ih_grad, 1, add)  # Σ ∂L/∂a_t x_tᵀ
    matmul(flat[:, :F].T, hidden[:-1].reshape(T * B, H), W_hh_grad[:F], 1, add)  # h_{t−1}
    matmul(flat[:, F:].T, gated.reshape(T * B, H), W_hh_grad[F:], 1, add)  # g_t
    grads = gradient_dict(W_ih_grad, W_hh_grad, flat.sum(axis=0, dtype=np.float64), None, into)
    grads.update(own_parameter_grads(cell, dp, dtype, into))
    dx = None
    if input_grad:
        W_ih = np.ascontiguousarray(params["W_ih"], dtype=dtype)
        dx = matmul(flat, W_ih, np.empty((T * B, I), dtype), 1).reshape(T, B, I)
    return dx, grads, backward_done(cell, tape, keep_gradients, d_hidden, d_cell, dh, dc)
