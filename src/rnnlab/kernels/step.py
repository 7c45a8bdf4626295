"""One step of a cell for a batch, compiled whole: what a single-step cell
(``rnnlab.nn.step_cells``) runs, called from Python once per step.

The layers' loops split a step over threads and pack W_hh; for one step of a small
batch that machinery costs more than the step, so here the products are OpenBLAS's GEMMs
called from the compiled code (``rnnlab.runtime.blas``), accumulating in place, around
the same ``forward_step``/``backward_step`` as the loops (``rnnlab.cells.cell`` gives
their contract). Templates, made for a cell by ``compiled_step``, as the loops are.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from rnnlab.cells import Cell
from rnnlab.kernels.layer import own_parameters, own_rows
from rnnlab.kernels.specialise import compiled_steps, specialise
from rnnlab.runtime.blas import gemm


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """A cell's forward step (``rnnlab.cells.cell``): ``compiled_step`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_step(cell)")


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """A cell's backward step (``rnnlab.cells.cell``): ``compiled_step`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_step(cell)")


def input_backward_step(keep, p, d_x, dp, H):
    """The rest of a cell's backward step (``rnnlab.cells.cell``): ``compiled_step`` binds
    the cell's (or one that does nothing)."""
    raise NotImplementedError("a template's step: use compiled_step(cell)")


def step_forward(x, h_prev, c_prev, W_ih, W_hh, b_ih, b_hh, p, h, c, keep):
    """x (B, I), h_prev (B, H), c_prev (B, C) → h (B, H), c (B, C) and keep (B, W), what
    the backward step needs; W_ih (G·H, I), W_hh (G·H, H), b_ih, b_hh (G·H), p (K, H)."""
    B, H = h.shape
    a_x = np.empty((B, W_ih.shape[0]), h.dtype)
    a_h = np.empty_like(a_x)
    gemm(False, True, 1.0, x, W_ih, 0.0, a_x)  # W_ih x_t: (B, G·H)
    gemm(False, True, 1.0, h_prev, W_hh, 0.0, a_h)  # W_hh h_{t−1}
    for b in range(x.shape[0]):
        forward_step(a_x[b], a_h[b], b_ih, b_hh, p, h_prev[b], c_prev[b], h[b], c[b], keep[b], H)


def step_backward(
    keep, p, x, h_prev, c_prev, h, c, dh, dc, W_ih, W_hh, d_W_ih, d_W_hh, d_b_ih, d_b_hh, dp, own
):
    """∂L/∂h_t dh (B, H) and ∂L/∂c_t dc (B, C; overwritten with ∂L/∂c_{t−1}) → returns
    (∂L/∂x_t (B, I), ∂L/∂h_{t−1} (B, H)); adds the weight gradients to d_W_ih, d_W_hh,
    d_b_ih, d_b_hh (as the parameters) and ∂L/∂p to dp (K, H, float64). own: the width
    of the last blocks whose recurrent part has its own gradient (own_blocks · H)."""
    B, H = h.shape
    GH = W_hh.shape[0]
    d_pre = np.empty((B, GH), h.dtype)  # ∂L/∂a_t, the input side's pre-activations
    d_own = np.empty((B, own), h.dtype)
    d_c = np.empty_like(c)
    dh_prev = np.zeros_like(h)  # the part of ∂L/∂h_{t−1} outside W_hh (direct_path)
    for b in range(B):
        backward_step(
            keep[b], p, h_prev[b], c_prev[b], h[b], c[b], dh[b], dc[b], d_c[b], d_pre[b],
            d_own[b], dh_prev[b], dp, H,
        )  # fmt: skip
        input_backward_step(keep[b], p, d_pre[b], dp, H)  # the rest, where a cell leaves one
    d_rec = d_pre.copy()  # the recurrent side's: the own blocks have their own gradient
    if own > 0:
        d_rec[:, GH - own :] = d_own
    gemm(True, False, 1.0, d_pre, x, 1.0, d_W_ih)  # += ∂L/∂a_tᵀ x_t
    gemm(True, False, 1.0, d_rec, h_prev, 1.0, d_W_hh)
    for b in range(B):
        d_b_ih += d_pre[b]
        d_b_hh += d_rec[b]
    dx = np.empty_like(x)
    gemm(False, False, 1.0, d_pre, W_ih, 0.0, dx)  # ∂L/∂x_t = W_ihᵀ ∂L/∂a_t
    gemm(False, False, 1.0, d_rec, W_hh, 1.0, dh_prev)  # ∂L/∂h_{t−1} (+)= W_hhᵀ …
    return dx, dh_prev


@cache
def compiled_step(cell: Cell) -> SimpleNamespace:
    """``step_forward`` and ``step_backward`` made for ``cell`` (compiled at their first
    call, or loaded from numba's cache)."""
    names = compiled_steps(cell)
    return SimpleNamespace(
        forward=specialise(step_forward, cell, names),
        backward=specialise(step_backward, cell, names),
    )


@cache
def step_functions(cell: Cell) -> SimpleNamespace:
    """One step of ``cell`` for a batch, compiled (``rnnlab.backend.step_functions``):

    forward(params, x (B, I), state0) → (state, tape)
    backward(params, tape, d_state, into) → (∂L/∂x (B, I), ∂L/∂state0)
    """
    compiled = compiled_step(cell)
    own = cell.own_blocks

    def forward(params: dict, x: np.ndarray, state0: Any) -> tuple[Any, dict]:
        dtype, (B, _), H = x.dtype, x.shape, params["W_hh"].shape[1]
        C = H if cell.has_cell_state else 0
        h_prev, c_prev = state0 if C else (state0, np.zeros((B, 0), dtype))
        h_prev, c_prev, x = (np.ascontiguousarray(a, dtype) for a in (h_prev, c_prev, x))
        weights = [np.ascontiguousarray(params[k], dtype) for k in ("W_ih", "W_hh", "b_ih", "b_hh")]
        p = own_parameters(cell, params, H, dtype)
        h, c = np.empty((B, H), dtype), np.empty((B, C), dtype)
        keep = np.empty((B, cell.keep_width * H), dtype)
        compiled.forward(x, h_prev, c_prev, *weights, p, h, c, keep)
        tape = {"x": x, "h_prev": h_prev, "c_prev": c_prev, "h": h, "c": c, "keep": keep}
        return ((h, c) if C else h), tape

    def backward(params: dict, tape: dict, d_state: Any, into: dict) -> tuple[np.ndarray, Any]:
        h, c = tape["h"], tape["c"]
        dtype, H = h.dtype, h.shape[1]
        d_h, d_c = d_state if c.shape[1] else (d_state, None)
        dh = np.zeros_like(h) if d_h is None else np.ascontiguousarray(d_h, dtype)
        dc = np.zeros_like(c) if d_c is None else np.array(d_c, dtype)  # becomes ∂L/∂c_{t−1}
        W_ih, W_hh = (np.ascontiguousarray(params[k], dtype) for k in ("W_ih", "W_hh"))
        sums = [into[k] if k in into else np.zeros_like(params[k]) for k in _WEIGHTS]
        p = own_parameters(cell, params, H, dtype)
        dp = np.zeros(p.shape)  # float64, as the loops sum it
        args = (tape["keep"], p, tape["x"], tape["h_prev"], tape["c_prev"], h, c, dh, dc)
        dx, dh_prev = compiled.backward(*args, W_ih, W_hh, *sums, dp, own * H)
        for name, grad in own_rows(cell, dp):
            into[name] += grad.astype(dtype)
        return dx, ((dh_prev, dc) if c.shape[1] else dh_prev)

    return SimpleNamespace(forward=forward, backward=backward)


#: the gradients step_backward adds to, in its order
_WEIGHTS = ("W_ih", "W_hh", "b_ih", "b_hh")
