"""The loops of a layer with a projection (PyTorch's LSTM ``proj_size``; Sak et al. 2014):
the cell's step gives h̃_t (H), and the state it carries is h_t = W_hr h̃_t (P < H), so a
step is two products, the recurrent one on the P-wide state and the projection:

    a_h = W_hh h_{t−1}   (B, 4H) ← (B, P)      forward_step → h̃_t, c_t
    h_t = W_hr h̃_t       (B, P)  ← (B, H)

and backward ∂L/∂h̃_t = W_hrᵀ ∂L/∂h_t, ``backward_step``, ∂L/∂h_{t−1} = W_hhᵀ ∂L/∂a_t.
The weight gradients are GEMMs after the loop: ∂L/∂W_hh = Σ ∂L/∂a_t h_{t−1}ᵀ,
∂L/∂W_hr = Σ ∂L/∂h_t h̃_tᵀ (padded steps have h̃_t = 0, so add nothing).

Each product is one OpenBLAS GEMM for the whole batch, called from the compiled loop, as
in ``rnnlab.kernels.staged``; the loop runs on one thread. It serves a cell whose step
reads h_{t−1} only through W_hh (no ``direct_path``, one product, ``recurrent``): the
step's h_prev and dh_prev arguments are P wide here and such a step touches neither.
The tape holds ``projected`` (T, B, H) = h̃_t beside the cell's arrays; ``hidden`` is
(T + 1, B, P).
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

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
from rnnlab.kernels.specialise import compiled_steps, specialise
from rnnlab.runtime.blas import gemm
from rnnlab.runtime.gradients import gradient_dict, gradient_targets
from rnnlab.runtime.team import matmul
from rnnlab.runtime.workspace import Workspace


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """A cell's forward step (``rnnlab.cells.cell``): ``compiled_projected`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_projected(cell)")


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """A cell's backward step: ``compiled_projected`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_projected(cell)")


def projected_forward_loop(
    x_proj, W_hh, W_hr, b_ih, b_hh, p, lengths, hidden, cell, keep, inner, pre,
    zone, drop, dropped, fresh_h, fresh_c,
):  # fmt: skip
    """x_proj (T, B, G·H) = W_ih x_t → fills hidden (T + 1, B, P) = h_t, cell (T + 1, B,
    C), keep (T or 1, B, W) and inner (T or 1, B, H) = h̃_t. W_hh (G·H, P), W_hr (P, H);
    pre (B, G·H) scratch. The regularisers as ``rnnlab.kernels.loops.forward_loop``'s
    (empty when off), on the P-wide h: recurrent dropout's W_hh reads dropped = m ⊙
    h_{t−1} (B, P); zoneout's z (T or 1, B or 1, P + C) mixes the projected h (fresh_h
    (T or 1, B, P)) and the step's c (fresh_c)."""
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    T, B, _ = x_proj.shape
    P, H = W_hr.shape
    for t in range(T):
        k = t if keep.shape[0] == T else 0
        source = dropped if dropping else hidden[t]  # what W_hh reads: (m ⊙) h_{t−1}
        gemm(False, True, 1.0, source, W_hh, 0.0, pre)
        for b in range(B):
            if t < lengths[b]:
                h_prev, c_prev = hidden[t, b], cell[t, b]
                c = fresh_c[k, b] if zoning else cell[t + 1, b]
                forward_step(
                    x_proj[t, b], pre[b], b_ih, b_hh, p, h_prev, c_prev, inner[k, b], c,
                    keep[k, b], H,
                )  # fmt: skip
                if zoning:
                    mix(zone_row(zone, t, b), P, c_prev, c, cell[t + 1, b])
            else:  # padded step: the state is carried unchanged, h̃_t is none
                copy_row(cell[t, b], cell[t + 1, b])
                keep[k, b] = 0
                inner[k, b] = 0
        projected = fresh_h[k] if zoning else hidden[t + 1]
        gemm(False, True, 1.0, inner[k], W_hr, 0.0, projected)  # h_t = W_hr h̃_t
        for b in range(B):
            if t >= lengths[b]:
                copy_row(hidden[t, b], hidden[t + 1, b])
            elif zoning:
                mix(zone_row(zone, t, b), 0, hidden[t, b], projected[b], hidden[t + 1, b])
            if dropping:
                for j in range(P):
                    dropped[b, j] = drop[b, j] * hidden[t + 1, b, j]


def projected_backward_loop(
    W_hh, W_hr, lengths, keep, p, hidden, cell, inner, d_out, dh, dc, d_pre, d_own,
    d_hidden, d_cell, d_inner, dp, d_projected, zone, drop, d_dropped, fresh_c, dc_kept,
    dc_step,
):  # fmt: skip
    """Walks t = T … 1 carrying dh (B, P), dc (B, C); fills d_pre (T, B, G·H) = ∂L/∂a_t,
    d_hidden (T, B, P) = ∂L/∂h_t, d_cell (T or 1, B, C); d_inner (B, H) scratch;
    dp (K, H) float64 += ∂L/∂p. d_projected (T, B, P) ← ∂L/∂(W_hr h̃_t), which W_hr's
    gradient reads: under zoneout (1 − z) ⊙ ∂L/∂h_t (the array is d_hidden without).
    The regularisers as the forward loop's, with scratch d_dropped (B, P), dc_kept and
    dc_step (B, C)."""
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    T, B = hidden.shape[0] - 1, hidden.shape[1]
    P, H = W_hr.shape
    C = cell.shape[2]
    for t in range(T - 1, -1, -1):
        k = t if d_cell.shape[0] == T else 0
        for b in range(B):
            if t < lengths[b]:
                add_rows_into(dh[b], d_out[t, b], d_hidden[t, b])
                if zoning:  # the step's share of ∂L/∂h_t; z ⊙ ∂L/∂h_t goes to h_{t−1}
                    z = zone_row(zone, t, b)
                    for j in range(P):
                        d_projected[t, b, j] = pw.complement(z[j]) * d_hidden[t, b, j]
            else:
                copy_row(dh[b], d_hidden[t, b])
                if zoning:
                    d_projected[t, b] = 0
        gemm(False, False, 1.0, d_projected[t], W_hr, 0.0, d_inner)  # ∂L/∂h̃_t = W_hrᵀ ·
        for b in range(B):
            if t < lengths[b] and zoning:
                z = zone_row(zone, t, b)
                for j in range(C):  # ∂L/∂c_t: the mixed c_t's; the step gets (1 − z) of it
                    d_cell[k, b, j] = dc[b, j]
                    dc_kept[b, j] = z[P + j] * dc[b, j]
                    dc[b, j] -= dc_kept[b, j]
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], inner[t, b], fresh_c[t, b],
                    d_inner[b], dc[b], dc_step[b], d_pre[t, b], d_own[t, b], dh[b], dp, H,
                )  # fmt: skip
                for j in range(C):
                    dc[b, j] += dc_kept[b, j]
            elif t < lengths[b]:
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], inner[t, b], cell[t + 1, b],
                    d_inner[b], dc[b], d_cell[k, b], d_pre[t, b], d_own[t, b], dh[b], dp, H,
                )  # fmt: skip
            else:  # padded step: c was carried, so is its gradient
                copy_row(dc[b], d_cell[k, b])
                d_pre[t, b] = 0
        target = d_dropped if dropping else dh
        gemm(False, False, 1.0, d_pre[t], W_hh, 0.0, target)  # ∂L/∂h_{t−1} = W_hhᵀ ∂L/∂a_t
        for b in range(B):
            if t >= lengths[b]:  # padded: h was carried, so is ∂L/∂h
                copy_row(d_hidden[t, b], dh[b])
                continue
            if dropping:  # … through the mask
                for j in range(P):
                    dh[b, j] = drop[b, j] * d_dropped[b, j]
            if zoning:
                z = zone_row(zone, t, b)
                for j in range(P):
                    dh[b, j] += z[j] * d_hidden[t, b, j]


@cache
def compiled_projected(cell: Cell) -> SimpleNamespace:
    """The loops above made for ``cell`` (compiled at their first call, or loaded from
    numba's cache)."""
    names = compiled_steps(cell)
    return SimpleNamespace(
        forward_loop=specialise(projected_forward_loop, cell, names),
        backward_loop=specialise(projected_backward_loop, cell, names),
    )


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
    """As ``rnnlab.kernels.layer.forward`` for a layer whose ``params`` hold ``W_hr``
    (P, H): out (T, B, P), state (h_T (B, P), c_T (B, H)); recurrent_mask (B, P),
    zoneout (T or 1, B or 1, P + C)."""
    ws = workspace or Workspace()
    T, B, _ = x.shape
    P, H = params["W_hr"].shape
    C = H if cell.has_cell_state else 0
    x_proj = input_projection(params, x, ws, bias=False)
    dtype = x_proj.dtype
    hidden, cell_state = starting_states(cell, state0, ws, T, B, H, dtype, P)
    keep = step_buffer(ws, "keep", (T, B, cell.keep_width * H), dtype, keep_tape)
    inner = step_buffer(ws, "projected", (T, B, H), dtype, keep_tape)
    pre = ws.array("pre", (B, cell.blocks * H), dtype)
    W_hh, W_hr = (np.ascontiguousarray(params[name], dtype) for name in ("W_hh", "W_hr"))
    b_ih, b_hh = (np.ascontiguousarray(params[name], dtype) for name in ("b_ih", "b_hh"))
    p = own_parameters(cell, params, H, dtype)
    steps = all_steps(lengths, T, B)
    regularisers = forward_regularisers(ws, recurrent_mask, zoneout, hidden, C, keep_tape)
    compiled_projected(cell).forward_loop(
        x_proj, W_hh, W_hr, b_ih, b_hh, p, steps, hidden, cell_state, keep, inner, pre,
        *regularisers,
    )  # fmt: skip
    out, tape = forward_tape(cell, x, hidden, cell_state, keep, lengths, keep_tape)
    if tape is not None:
        tape["projected"] = inner
    regularised_tape(tape, recurrent_mask, zoneout, regularisers)
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
    """As ``rnnlab.kernels.layer.backward`` for a layer with a projection; the gradients
    include ``W_hr``'s."""
    ws = workspace or Workspace()
    x, hidden, mask, keep, inner = (tape[k] for k in ("x", "hidden", "mask", "keep", "projected"))
    T, B, I = x.shape
    P, H = params["W_hr"].shape
    dtype = hidden.dtype
    C, GH = (H if cell.has_cell_state else 0), cell.blocks * H
    cell_state = tape["cell"] if C else ws.array("cell", (T + 1, B, 0), dtype)
    dh, dc = carried_gradients(cell, d_stateT, ws, B, H, dtype, P)
    d_pre = ws.array("d_pre", (T, B, GH), dtype)
    d_own = ws.array("d_own", (T, B, 0), dtype)
    d_hidden = ws.array("d_hidden", (T, B, P), dtype)  # always: W_hr's gradient reads it
    d_cell = step_buffer(ws, "d_cell", (T, B, C), dtype, keep_gradients)
    d_inner = ws.array("d_projected", (B, H), dtype)
    W_hh, W_hr = (np.ascontiguousarray(params[name], dtype) for name in ("W_hh", "W_hr"))
    p = own_parameters(cell, params, H, dtype)
    dp = np.zeros(p.shape)  # float64, as the loops sum it
    zone, drop, d_dropped, _, fresh_c, _, dc_kept, dc_step = backward_regularisers(
        ws, tape, B, P, C
    )
    # ∂L/∂(W_hr h̃_t): ∂L/∂h_t itself without zoneout, (1 − z) ⊙ ∂L/∂h_t with
    d_projected = ws.array("d_projected_out", (T, B, P), dtype) if zone.size else d_hidden
    compiled_projected(cell).backward_loop(
        W_hh, W_hr, tape_steps(mask, T, B), keep, p, hidden, cell_state, inner,
        np.ascontiguousarray(d_out, dtype=dtype), dh, dc, d_pre, d_own, d_hidden, d_cell,
        d_inner, dp, d_projected, zone, drop, d_dropped, fresh_c, dc_kept, dc_step,
    )  # fmt: skip
    if drop.size:  # what W_hh multiplied: m ⊙ h_{t−1}
        hidden = hidden * drop

    flat = d_pre.reshape(T * B, GH)
    W_ih_grad, W_hh_grad, add = gradient_targets(into, (GH, I), (GH, P), dtype)
    x_flat = np.ascontiguousarray(x.reshape(T * B, I), dtype=dtype)
    matmul(flat.T, x_flat, W_ih_grad, 1, add)  # Σ ∂L/∂a_t x_tᵀ
    matmul(flat.T, hidden[:-1].reshape(T * B, P), W_hh_grad, 1, add)  # Σ ∂L/∂a_t h_{t−1}ᵀ
    grads = gradient_dict(W_ih_grad, W_hh_grad, flat.sum(axis=0, dtype=np.float64), None, into)
    into_hr = into is not None and "W_hr" in into  # a layer's array, added to in place
    W_hr_grad = into["W_hr"] if into_hr else np.empty((P, H), dtype)
    flat_inner = inner.reshape(T * B, H)
    matmul(d_projected.reshape(T * B, P).T, flat_inner, W_hr_grad, 1, into_hr)  # Σ ∂L/∂h_t h̃_tᵀ
    grads["W_hr"] = W_hr_grad
    grads.update(own_parameter_grads(cell, dp, dtype, into))
    dx = None
    if input_grad:
        W_ih = np.ascontiguousarray(params["W_ih"], dtype=dtype)
        dx = matmul(flat, W_ih, np.empty((T * B, I), dtype), 1).reshape(T, B, I)
    return dx, grads, backward_done(cell, tape, keep_gradients, d_hidden, d_cell, dh, dc)
