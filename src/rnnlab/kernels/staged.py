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
from rnnlab.cells import pointwise as pw
from rnnlab.kernels.buffers import all_steps, input_projection, step_buffer
from rnnlab.kernels.layer import (
    backward_done,
    backward_regularisers,
    carried_gradients,
    final_state,
    forward_regularisers,
    forward_tape,
    own_parameter_grads,
    own_parameters,
    regularised_tape,
    starting_states,
    tape_steps,
)
from rnnlab.kernels.loops import add_rows_into, copy_row, mix, zone_row
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
    x_proj, W_first, W_last, b_ih, b_hh, p, lengths, hidden, cell, keep, gated, pre,
    zone, drop, dropped, fresh_h, fresh_c,
):  # fmt: skip
    """x_proj (T, B, G·H) = W_ih x_t → fills hidden (T + 1, B, H), cell (T + 1, B, C),
    keep (T or 1, B, W) and gated (T or 1, B, H) = g_t. W_first (F, H), W_last (G·H − F,
    H): W_hh's rows read with h_{t−1} and with g_t; pre (B, G·H) scratch. The
    regularisers as ``rnnlab.kernels.loops.forward_loop``'s (empty when off): under
    recurrent dropout the products read dropped = m ⊙ h_{t−1} (g_t = r ⊙ m ⊙ h_{t−1}),
    the step's own update h_{t−1}; under zoneout the step writes fresh_h, fresh_c and
    the loop mixes."""
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    T, B, _ = x_proj.shape
    H = hidden.shape[2]
    F = W_first.shape[0]
    for t in range(T):
        k = t if keep.shape[0] == T else 0
        source = dropped if dropping else hidden[t]  # what W_hh reads: (m ⊙) h_{t−1}
        gemm(False, True, 1.0, source, W_first, 0.0, pre[:, :F])  # the first blocks
        for b in range(B):
            if t < lengths[b]:
                gate_step(x_proj[t, b], pre[b], b_ih, b_hh, p, source[b], gated[k, b], H)
            else:
                for j in range(H):
                    gated[k, b, j] = 0
        gemm(False, True, 1.0, gated[k], W_last, 0.0, pre[:, F:])  # W_hh g_t: the last blocks
        for b in range(B):
            if t < lengths[b]:
                h_prev, c_prev = hidden[t, b], cell[t, b]
                if zoning:  # the step's own s̃_t, mixed below
                    h, c = fresh_h[k, b], fresh_c[k, b]
                else:
                    h, c = hidden[t + 1, b], cell[t + 1, b]
                forward_step(
                    x_proj[t, b], pre[b], b_ih, b_hh, p, h_prev, c_prev, h, c, keep[k, b], H
                )
                if zoning:
                    z = zone_row(zone, t, b)
                    mix(z, 0, h_prev, h, hidden[t + 1, b])
                    mix(z, H, c_prev, c, cell[t + 1, b])
            else:  # padded step: the state is carried unchanged
                copy_row(hidden[t, b], hidden[t + 1, b])
                copy_row(cell[t, b], cell[t + 1, b])
                keep[k, b] = 0
            if dropping:
                for j in range(H):
                    dropped[b, j] = drop[b, j] * hidden[t + 1, b, j]


def staged_backward_loop(
    W_first, W_last, lengths, keep, p, hidden, cell, gated, d_out, dh, dc, d_pre, d_own,
    d_hidden, d_cell, d_gated, dp, zone, drop, d_dropped, read, fresh_h, fresh_c, d_fresh,
    dc_kept, dc_step,
):  # fmt: skip
    """Walks t = T … 1 carrying dh (B, H), dc (B, C); fills d_pre (T, B, G·H) = ∂L/∂a_t,
    d_hidden and d_cell (T or 1, B, ·); d_gated (B, H) scratch; dp (K, H) float64 +=
    ∂L/∂p. The regularisers as ``rnnlab.kernels.loops.backward_loop``'s, with scratch
    read (B, H) = m ⊙ h_{t−1}: the products' part of ∂L/∂h_{t−1}, and g's, gather in
    d_dropped and reach dh through the mask."""
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    T, B, H = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    C = cell.shape[2]
    F = W_first.shape[0]
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0
        for b in range(B):
            if t < lengths[b]:
                add_rows_into(dh[b], d_out[t, b], d_hidden[k, b])  # ∂L/∂h_t
                h, c, d_step, dc_out = (
                    hidden[t + 1, b],
                    cell[t + 1, b],
                    d_hidden[k, b],
                    d_cell[k, b],
                )
                if zoning:  # the step gets (1 − z) ⊙ ∂L/∂s_t; z ⊙ ∂L/∂s_t goes to s_{t−1}
                    z = zone_row(zone, t, b)
                    for j in range(H):
                        d_fresh[b, j] = pw.complement(z[j]) * d_hidden[k, b, j]
                    for j in range(C):
                        d_cell[k, b, j] = dc[b, j]
                        dc_kept[b, j] = z[H + j] * dc[b, j]
                        dc[b, j] -= dc_kept[b, j]
                    h, c, d_step, dc_out = fresh_h[t, b], fresh_c[t, b], d_fresh[b], dc_step[b]
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], h, c, d_step, dc[b], dc_out,
                    d_pre[t, b], d_own[t, b], dh[b], dp, H,
                )  # fmt: skip
                if zoning:
                    for j in range(C):
                        dc[b, j] += dc_kept[b, j]
                    for j in range(H):
                        dh[b, j] += z[j] * d_hidden[k, b, j]
            else:  # padded step: h and c were carried, so are their gradients
                copy_row(dh[b], d_hidden[k, b])
                copy_row(dc[b], d_cell[k, b])
                d_pre[t, b] = 0
        gemm(False, False, 1.0, d_pre[t][:, F:], W_last, 0.0, d_gated)  # ∂L/∂g_t
        target = d_dropped if dropping else dh  # where the products' part of ∂L/∂h_{t−1} goes
        if dropping:
            for b in range(B):
                for j in range(H):
                    read[b, j] = drop[b, j] * hidden[t, b, j]
                    d_dropped[b, j] = 0
        source = read if dropping else hidden[t]  # what W_hh read: (m ⊙) h_{t−1}
        for b in range(B):
            if t < lengths[b]:
                gate_backward_step(keep[t, b], p, source[b], d_gated[b], d_pre[t, b], target[b], H)
        gemm(False, False, 1.0, d_pre[t][:, :F], W_first, 1.0, target)  # += W_hhᵀ ∂L/∂a: first
        if dropping:
            for b in range(B):
                for j in range(H):
                    dh[b, j] += drop[b, j] * d_dropped[b, j]
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
    holds ``gated`` (T, B, H)."""
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
    C = cell_state.shape[2]
    regularisers = forward_regularisers(ws, recurrent_mask, zoneout, hidden, C, keep_tape)
    compiled_staged(cell).forward_loop(
        x_proj, W_hh[:F], W_hh[F:], b_ih, b_hh, p, steps, hidden, cell_state, keep, gated, pre,
        *regularisers,
    )  # fmt: skip
    out, tape = forward_tape(cell, x, hidden, cell_state, keep, lengths, keep_tape)
    regularised_tape(tape, recurrent_mask, zoneout, regularisers)
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
    zone, drop, d_dropped, *zoned = backward_regularisers(ws, tape, B, H, C)
    read = ws.array("read", drop.shape, dtype)  # m ⊙ h_{t−1}, a step's
    compiled_staged(cell).backward_loop(
        W_hh[:F], W_hh[F:], tape_steps(mask, T, B), keep, p, hidden, cell_state, gated,
        np.ascontiguousarray(d_out, dtype=dtype), dh, dc, d_pre, d_own, d_hidden, d_cell,
        d_gated, dp, zone, drop, d_dropped, read, *zoned,
    )  # fmt: skip
    if drop.size:  # what the first blocks of W_hh multiplied: m ⊙ h_{t−1}
        hidden = hidden * drop

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
