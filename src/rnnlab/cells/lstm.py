"""The LSTM cell, forward and backward over a whole sequence.

    i = σ(W_ii x_t + b_ii + W_hi h_{t−1} + b_hi)        input gate
    f = σ(W_if x_t + b_if + W_hf h_{t−1} + b_hf)        forget gate
    g = tanh(W_ig x_t + b_ig + W_hg h_{t−1} + b_hg)     candidate
    o = σ(W_io x_t + b_io + W_ho h_{t−1} + b_ho)        output gate
    c_t = f ⊙ c_{t−1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

Parameters (PyTorch names, gate rows stacked in the order i, f, g, o):
``W_ih`` (4H, I), ``W_hh`` (4H, H), ``b_ih`` (4H,), ``b_hh`` (4H,).

With a projection (PyTorch's ``proj_size`` P < H; Sak et al. 2014) the state h is
P wide: h_t = W_hr (o ⊙ tanh(c_t)), ``W_hr`` (P, H), and ``W_hh`` is (4H, P). The
reference below takes it when ``params`` holds ``W_hr``; the compiled loops run it as a
second product per step (``rnnlab.kernels.projected``).

The tape keeps what a user may want to read: ``gates`` (T, B, 4H) after their
activations, ``cell`` (T + 1, B, H) and ``hidden`` (T + 1, B, H) (with a projection also
``projected`` (T, B, H) = h̃_t, and ``hidden`` is P wide). Memory of the tape:
B·(4T·H + 2(T + 1)·H + T·I) numbers; with a projection B·(4T·H + (T + 1)(P + H) + T·H +
T·I).

``forward`` and ``backward`` are the reference over a whole sequence; ``forward_step``
and ``backward_step`` the same equations for one sequence's step, which the compiled
loops run (``rnnlab.cells.cell`` gives their contract).
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell, TorchLayer
from rnnlab.cells.masking import dropped, step_mask
from rnnlab.ops import dsigmoid, dtanh, sigmoid


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: tuple[np.ndarray, np.ndarray],
    lengths: np.ndarray | None = None,
    recurrent_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict]:
    """Run the cell over a sequence.

    x: (T, B, I), state0 (h_0, c_0): (B, R) and (B, H), R = P with ``W_hr``, else H;
    lengths: (B,) or None; recurrent_mask: (B, R) or None, recurrent dropout's
    (``masking.dropped``) → out: (T, B, R) (zero past each length), stateT (h_T, c_T), tape.
    """
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    W_hr = params.get("W_hr")  # the projection (P, H), or None
    T, B, _ = x.shape
    H, R = W_hh.shape[0] // 4, W_hh.shape[1]
    mask = step_mask(lengths, T, B)

    x_proj = x @ W_ih.T + b_ih  # W_i· x_t + b_i· for every gate and every t: (T, B, 4H)
    gates = np.empty_like(x_proj)
    hidden = np.empty((T + 1, B, R), dtype=x_proj.dtype)
    cell = np.empty((T + 1, B, H), dtype=x_proj.dtype)
    projected = None if W_hr is None else np.zeros((T, B, H), dtype=x_proj.dtype)  # h̃_t
    hidden[0], cell[0] = state0
    for t in range(T):
        a = x_proj[t] + dropped(hidden[t], recurrent_mask) @ W_hh.T + b_hh
        i = sigmoid(a[:, :H])
        f = sigmoid(a[:, H : 2 * H])
        g = np.tanh(a[:, 2 * H : 3 * H])
        o = sigmoid(a[:, 3 * H :])
        c_t = f * cell[t] + i * g
        h_t = o * np.tanh(c_t)
        if W_hr is not None:  # h_t = W_hr h̃_t, h̃_t = o ⊙ tanh(c_t) (zero past a length)
            projected[t] = h_t if mask is None else np.where(mask[t], h_t, 0)
            h_t = h_t @ W_hr.T
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        if mask is None:
            cell[t + 1], hidden[t + 1] = c_t, h_t
        else:
            cell[t + 1] = np.where(mask[t], c_t, cell[t])
            hidden[t + 1] = np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "gates": gates, "cell": cell, "hidden": hidden, "mask": mask}
    tape["recurrent_mask"] = recurrent_mask
    if W_hr is not None:
        tape["projected"] = projected
    return out, (hidden[T].copy(), cell[T].copy()), tape


def backward(
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: tuple[np.ndarray | None, np.ndarray | None] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Backpropagation through time.

    d_out: (T, B, R), d_stateT (∂L/∂h_T, ∂L/∂c_T) or None
    → dx: (T, B, I), grads (keys of ``params``), d_state0 (∂L/∂h_0, ∂L/∂c_0).
    Also leaves ``tape["d_hidden"]`` (T, B, R) and ``tape["d_cell"]`` (T, B, H):
    ∂L/∂h_t, ∂L/∂c_t.
    """
    W_hh, W_hr = params["W_hh"], params.get("W_hr")
    recurrent_mask = tape.get("recurrent_mask")  # recurrent dropout's, or None
    x, gates, cell, hidden, mask = (tape[k] for k in ("x", "gates", "cell", "hidden", "mask"))
    T, B, _ = x.shape
    H, R = W_hh.shape[0] // 4, W_hh.shape[1]
    dh_T, dc_T = d_stateT if d_stateT is not None else (None, None)
    dh = np.zeros_like(hidden[0]) if dh_T is None else dh_T.astype(hidden.dtype)
    dc = np.zeros_like(cell[0]) if dc_T is None else dc_T.astype(cell.dtype)

    d_pre = np.empty_like(gates)  # ∂L/∂a, a = the four gates' pre-activations
    d_hidden = np.empty_like(hidden[1:])  # ∂L/∂h_t, kept on the tape for probes
    d_cell = np.empty_like(cell[1:])  # ∂L/∂c_t
    d_W_hr = None if W_hr is None else np.zeros_like(W_hr)
    for t in reversed(range(T)):
        i, f, g, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
        dh_in = dh + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        d_hidden[t] = dh_in
        tanh_c = np.tanh(cell[t + 1])
        if W_hr is not None:  # h_t = W_hr h̃_t
            d_W_hr += dh_in.T @ tape["projected"][t]  # h̃_t is 0 at a padded step
            dh_in = dh_in @ W_hr  # ∂L/∂h̃_t
        do = dh_in * tanh_c  # h_t = o ⊙ tanh(c_t)
        dc_in = dc + dh_in * o * dtanh(tanh_c)
        d_cell[t] = dc_in
        di = dc_in * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        df = dc_in * cell[t]
        dg = dc_in * i
        d_a = np.concatenate(
            [di * dsigmoid(i), df * dsigmoid(f), dg * dtanh(g), do * dsigmoid(o)], axis=1
        )
        if mask is None:
            d_pre[t] = d_a
            dh = dropped(d_a @ W_hh, recurrent_mask)
            dc = dc_in * f
        else:  # a padded step passed h_{t−1} and c_{t−1} through unchanged
            d_pre[t] = np.where(mask[t], d_a, 0)
            dh = dropped(d_pre[t] @ W_hh, recurrent_mask) + np.where(mask[t], 0, d_hidden[t])
            dc = np.where(mask[t], dc_in * f, dc)

    flat_pre = d_pre.reshape(T * B, 4 * H)
    grads = {
        "W_ih": flat_pre.T @ x.reshape(T * B, -1),
        "W_hh": flat_pre.T @ dropped(hidden[:-1], recurrent_mask).reshape(T * B, R),
        "b_ih": flat_pre.sum(axis=0),
        "b_hh": flat_pre.sum(axis=0),
    }
    if W_hr is not None:
        grads["W_hr"] = d_W_hr
    dx = d_pre @ params["W_ih"]
    tape["d_hidden"], tape["d_cell"] = d_hidden, d_cell
    return dx, grads, (dh, dc)


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """a = a_x + b_ih + a_h + b_hh (4H) → i, f, g, o (kept), c_t, h_t."""
    for j in range(H):
        i = pw.sigmoid(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])
        f = pw.sigmoid(a_x[H + j] + b_ih[H + j] + a_h[H + j] + b_hh[H + j])
        g = pw.tanh(a_x[2 * H + j] + b_ih[2 * H + j] + a_h[2 * H + j] + b_hh[2 * H + j])
        o = pw.sigmoid(a_x[3 * H + j] + b_ih[3 * H + j] + a_h[3 * H + j] + b_hh[3 * H + j])
        c[j] = f * c_prev[j] + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h[j] = o * pw.tanh(c[j])  # h_t = o ⊙ tanh(c_t)
        keep[j], keep[H + j], keep[2 * H + j], keep[3 * H + j] = i, f, g, o


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂h_t, ∂L/∂c_t → ∂L/∂a (4H) and ∂L/∂c_{t−1} (h_{t−1} reaches h_t only through W_hh)."""
    for j in range(H):
        i, f, g, o = keep[j], keep[H + j], keep[2 * H + j], keep[3 * H + j]
        tanh_c = pw.tanh(c[j])
        dc_t = dc[j] + dh[j] * o * pw.dtanh(tanh_c)  # h_t = o ⊙ tanh(c_t)
        d_c[j] = dc_t
        d_x[j] = dc_t * g * pw.dsigmoid(i)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        d_x[H + j] = dc_t * c_prev[j] * pw.dsigmoid(f)
        d_x[2 * H + j] = dc_t * i * pw.dtanh(g)
        d_x[3 * H + j] = dh[j] * tanh_c * pw.dsigmoid(o)
        dc[j] = dc_t * f


LSTM = Cell(
    name="lstm",
    title="LSTM",
    layer="LSTM",
    blocks=4,
    gates=("i", "f", "g", "o"),
    states=("h", "c"),
    forward=forward,
    backward=backward,
    forward_step=forward_step,
    backward_step=backward_step,
    keep=(("gates", 4),),
    projectable=True,
    activations={"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid", "c": "tanh"},
    torch=TorchLayer("LSTM"),
)
