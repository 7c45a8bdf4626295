"""The GRU cell, forward and backward over a whole sequence.

    r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)                reset gate
    z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)                update gate
    n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t−1} + b_hn))       candidate
    h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n

z is how much of the new candidate is taken. PyTorch writes the last line with
z' = 1 − z; ``rnnlab.interop`` converts (see DESIGN.md).

Parameters (gate rows stacked in the order r, z, n, as PyTorch):
``W_ih`` (3H, I), ``W_hh`` (3H, H), ``b_ih`` (3H,), ``b_hh`` (3H,).

The tape keeps ``gates`` (T, B, 3H) = r, z, n after their activations, ``hidden_n``
(T, B, H) = W_hn h_{t−1} + b_hn (needed for ∂r) and ``hidden`` (T + 1, B, H).

``forward`` and ``backward`` are the reference over a whole sequence; ``forward_step``
and ``backward_step`` the same equations for one sequence's step, which the compiled
loops run (``rnnlab.cells.cell`` gives their contract). W_hn h_{t−1} reaches the loss
through r ⊙ (…), so the n block's recurrent gradient is its own (``own_blocks=1``).
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
    state0: np.ndarray,
    lengths: np.ndarray | None = None,
    recurrent_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run the cell over a sequence.

    x: (T, B, I), state0 h_0: (B, H), lengths: (B,) or None
    recurrent_mask: (B, H) or None, recurrent dropout's (``masking.dropped``)
    → out: (T, B, H) (zero past each length), stateT h_T: (B, H), tape.
    """
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    mask = step_mask(lengths, T, B)

    x_proj = x @ W_ih.T + b_ih  # W_i· x_t + b_i· for every gate and every t: (T, B, 3H)
    gates = np.empty_like(x_proj)
    hidden_n = np.empty((T, B, H), dtype=x_proj.dtype)
    hidden = np.empty((T + 1, B, H), dtype=x_proj.dtype)
    hidden[0] = state0
    for t in range(T):
        h_proj = dropped(hidden[t], recurrent_mask) @ W_hh.T + b_hh  # W_h· h_{t−1} + b_h·: (B, 3H)
        r = sigmoid(x_proj[t, :, :H] + h_proj[:, :H])
        z = sigmoid(x_proj[t, :, H : 2 * H] + h_proj[:, H : 2 * H])
        n = np.tanh(x_proj[t, :, 2 * H :] + r * h_proj[:, 2 * H :])
        h_t = (1 - z) * hidden[t] + z * n
        gates[t] = np.concatenate([r, z, n], axis=1)
        hidden_n[t] = h_proj[:, 2 * H :]
        hidden[t + 1] = h_t if mask is None else np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "gates": gates, "hidden_n": hidden_n, "hidden": hidden, "mask": mask}
    tape["recurrent_mask"] = recurrent_mask
    return out, hidden[T].copy(), tape


def backward(
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Backpropagation through time.

    d_out: (T, B, H), d_stateT ∂L/∂h_T: (B, H) or None
    → dx: (T, B, I), grads (keys of ``params``), d_state0 ∂L/∂h_0: (B, H).
    Also leaves ``tape["d_hidden"]`` (T, B, H) = ∂L/∂h_t for t = 1 … T.
    """
    W_hh = params["W_hh"]
    recurrent_mask = tape.get("recurrent_mask")  # recurrent dropout's, or None
    x, gates, hidden_n, hidden, mask = (
        tape[k] for k in ("x", "gates", "hidden_n", "hidden", "mask")
    )
    T, B, _ = x.shape
    H = W_hh.shape[1]
    dh = np.zeros_like(hidden[0]) if d_stateT is None else d_stateT.astype(hidden.dtype)

    d_x_proj = np.empty_like(gates)  # ∂L/∂(W_i· x_t + b_i·)
    d_h_proj = np.empty_like(gates)  # ∂L/∂(W_h· h_{t−1} + b_h·)
    d_hidden = np.empty_like(hidden[1:])  # ∂L/∂h_t, kept on the tape for probes
    for t in reversed(range(T)):
        r, z, n = (gates[t, :, k * H : (k + 1) * H] for k in range(3))
        h_prev = hidden[t]
        dh_in = dh + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        d_hidden[t] = dh_in
        dz = dh_in * (n - h_prev)  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        dn = dh_in * z
        d_a_n = dn * dtanh(n)  # n = tanh(a_n), a_n = x-part + r ⊙ (W_hn h + b_hn)
        dr = d_a_n * hidden_n[t]
        d_a_r = dr * dsigmoid(r)
        d_a_z = dz * dsigmoid(z)
        d_x = np.concatenate([d_a_r, d_a_z, d_a_n], axis=1)
        d_h = np.concatenate([d_a_r, d_a_z, d_a_n * r], axis=1)
        if mask is not None:  # a padded step passed h_{t−1} through unchanged
            d_x = np.where(mask[t], d_x, 0)
            d_h = np.where(mask[t], d_h, 0)
        d_x_proj[t], d_h_proj[t] = d_x, d_h
        dh_direct = dh_in * (1 - z)
        if mask is not None:
            dh_direct = np.where(mask[t], dh_direct, dh_in)
        dh = dh_direct + dropped(d_h @ W_hh, recurrent_mask)

    flat_x = d_x_proj.reshape(T * B, 3 * H)
    flat_h = d_h_proj.reshape(T * B, 3 * H)
    grads = {
        "W_ih": flat_x.T @ x.reshape(T * B, -1),
        "W_hh": flat_h.T @ dropped(hidden[:-1], recurrent_mask).reshape(T * B, H),
        "b_ih": flat_x.sum(axis=0),
        "b_hh": flat_h.sum(axis=0),
    }
    dx = d_x_proj @ params["W_ih"]
    tape["d_hidden"] = d_hidden
    return dx, grads, dh


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """a_x + b_ih, a_h + b_hh (3H each) → r, z, n, W_hn h_{t−1} + b_hn (kept) and h_t."""
    for j in range(H):
        r = pw.sigmoid(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])
        z = pw.sigmoid(a_x[H + j] + b_ih[H + j] + a_h[H + j] + b_hh[H + j])
        hn = a_h[2 * H + j] + b_hh[2 * H + j]  # W_hn h_{t−1} + b_hn
        n = pw.tanh(a_x[2 * H + j] + b_ih[2 * H + j] + r * hn)
        h[j] = pw.complement(z) * h_prev[j] + z * n  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        keep[j], keep[H + j], keep[2 * H + j], keep[3 * H + j] = r, z, n, hn


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂h_t → ∂L/∂a (3H), r ⊙ ∂L/∂a_n (the n block's own recurrent gradient) and
    (1 − z) ⊙ ∂L/∂h_t, the path from h_{t−1} to h_t outside W_hh."""
    for j in range(H):
        r, z, n, hn = keep[j], keep[H + j], keep[2 * H + j], keep[3 * H + j]
        d_a_n = dh[j] * z * pw.dtanh(n)
        d_x[j] = d_a_n * hn * pw.dsigmoid(r)
        d_x[H + j] = dh[j] * (n - h_prev[j]) * pw.dsigmoid(z)
        d_x[2 * H + j] = d_a_n
        d_own[j] = d_a_n * r
        dh_prev[j] = dh[j] * pw.complement(z)


GRU = Cell(
    name="gru",
    title="GRU",
    layer="GRU",
    blocks=3,
    gates=("r", "z", "n"),
    states=("h",),
    forward=forward,
    backward=backward,
    forward_step=forward_step,
    backward_step=backward_step,
    keep=(("gates", 3), ("hidden_n", 1)),
    own_blocks=1,
    direct_path=True,  # h_t = (1 − z) ⊙ h_{t−1} + …
    activations={"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
    torch=TorchLayer("GRU", negated_blocks=(1,)),  # PyTorch's z' = 1 − z (DESIGN.md)
)
