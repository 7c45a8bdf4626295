"""The GRU with the reset gate before the product (Cho et al. 2014; Keras'
``reset_after=False``), forward and backward.

    r = σ(W_ir x_t + b_ir + W_hr h_{t−1} + b_hr)                reset gate
    z = σ(W_iz x_t + b_iz + W_hz h_{t−1} + b_hz)                update gate
    g = r ⊙ h_{t−1}                                              the reset state
    n = tanh(W_in x_t + b_in + W_hn g + b_hn)                    candidate
    h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n

The only difference from ``rnnlab.cells.gru`` (PyTorch's and cuDNN's form, r ⊙ (W_hn
h_{t−1} + b_hn)) is where r acts: here on h_{t−1} before W_hn multiplies it, as in the
original paper. The weights of one form do not compute the other, which is why moving a
Keras GRU with ``reset_after=False`` into PyTorch fails; rnnlab runs both. z is how much
of the new candidate is taken (PyTorch and Keras write the last line with 1 − z).

Parameters as the GRU's (gate rows r, z, n): ``W_ih`` (3H, I), ``W_hh`` (3H, H),
``b_ih`` (3H,), ``b_hh`` (3H,). The tape keeps ``gates`` (T, B, 3H) = r, z, n,
``gated`` (T, B, H) = g_t and ``hidden`` (T + 1, B, H).

W_hn multiplies g_t, which needs r, which needs W_hr h_{t−1}: two products per step, one
after the other. The compiled loops for such a cell are ``rnnlab.kernels.staged``: the
step's gate part (``gate_step``: g from r) runs between the products, and backward its
mirror (``gate_backward_step``) between theirs (``gated_blocks=1``: the last block reads
g). ``rnnlab.cells.cell`` gives the contract.
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell
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
    recurrent_mask: (B, H) or None, recurrent dropout's: every product with W_hh reads
    m ⊙ h_{t−1} (so g = r ⊙ m ⊙ h_{t−1}, as Keras' GRU), the update (1 − z) ⊙ h_{t−1}
    the whole h_{t−1}
    → out: (T, B, H) (zero past each length), stateT h_T: (B, H), tape.
    """
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    T, B, _ = x.shape
    H = W_hh.shape[1]
    W_hrz, W_hn = W_hh[: 2 * H], W_hh[2 * H :]
    mask = step_mask(lengths, T, B)

    x_proj = x @ W_ih.T + b_ih  # W_i· x_t + b_i· for every gate and every t: (T, B, 3H)
    gates = np.empty_like(x_proj)
    gated = np.empty((T, B, H), dtype=x_proj.dtype)
    hidden = np.empty((T + 1, B, H), dtype=x_proj.dtype)
    hidden[0] = state0
    for t in range(T):
        h_prev = hidden[t]
        h_read = dropped(h_prev, recurrent_mask)  # what W_hh reads: h_{t−1} (or m ⊙ h_{t−1})
        rz = h_read @ W_hrz.T + b_hh[: 2 * H]  # W_h· h_{t−1} + b_h· of r and z
        r = sigmoid(x_proj[t, :, :H] + rz[:, :H])
        z = sigmoid(x_proj[t, :, H : 2 * H] + rz[:, H:])
        g = r * h_read  # the reset state, before W_hn
        n = np.tanh(x_proj[t, :, 2 * H :] + g @ W_hn.T + b_hh[2 * H :])
        h_t = (1 - z) * h_prev + z * n
        gates[t] = np.concatenate([r, z, n], axis=1)
        gated[t] = g
        hidden[t + 1] = h_t if mask is None else np.where(mask[t], h_t, h_prev)

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "gates": gates, "gated": gated, "hidden": hidden, "mask": mask}
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
    x, gates, gated, hidden, mask = (tape[k] for k in ("x", "gates", "gated", "hidden", "mask"))
    T, B, _ = x.shape
    H = W_hh.shape[1]
    W_hrz, W_hn = W_hh[: 2 * H], W_hh[2 * H :]
    dh = np.zeros_like(hidden[0]) if d_stateT is None else d_stateT.astype(hidden.dtype)

    d_pre = np.empty_like(gates)  # ∂L/∂a_t: of both projections' r, z, n blocks alike
    d_hidden = np.empty_like(hidden[1:])  # ∂L/∂h_t, kept on the tape for probes
    for t in reversed(range(T)):
        r, z, n = (gates[t, :, k * H : (k + 1) * H] for k in range(3))
        h_prev = hidden[t]
        h_read = dropped(h_prev, recurrent_mask)
        dh_in = dh + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        d_hidden[t] = dh_in
        d_a_z = dh_in * (n - h_prev) * dsigmoid(z)  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        d_a_n = dh_in * z * dtanh(n)  # n = tanh(a_n), a_n = … + W_hn g + b_hn
        d_g = d_a_n @ W_hn  # g = r ⊙ h_{t−1}
        d_a_r = d_g * h_read * dsigmoid(r)
        d_a = np.concatenate([d_a_r, d_a_z, d_a_n], axis=1)
        if mask is not None:  # a padded step passed h_{t−1} through unchanged
            d_a = np.where(mask[t], d_a, 0)
            d_g = np.where(mask[t], d_g, 0)
        d_pre[t] = d_a
        dh_direct = dh_in * (1 - z)
        if mask is not None:
            dh_direct = np.where(mask[t], dh_direct, dh_in)
        # the products' part, W_hrᵀ, W_hzᵀ ∂L/∂a and g's, reaches h_{t−1} through the mask
        dh = dh_direct + dropped(d_g * r + d_a[:, : 2 * H] @ W_hrz, recurrent_mask)

    flat = d_pre.reshape(T * B, 3 * H)
    grads = {
        "W_ih": flat.T @ x.reshape(T * B, -1),
        "W_hh": np.concatenate(
            [
                flat[:, : 2 * H].T
                @ dropped(hidden[:-1], recurrent_mask).reshape(T * B, H),  # W_hr, W_hz: h_{t−1}
                flat[:, 2 * H :].T @ gated.reshape(T * B, H),  # W_hn: g_t
            ]
        ),
        "b_ih": flat.sum(axis=0),
        "b_hh": flat.sum(axis=0),
    }
    dx = d_pre @ params["W_ih"]
    tape["d_hidden"] = d_hidden
    return dx, grads, dh


def gate_step(a_x, a_h, b_ih, b_hh, p, h_prev, gated, H):
    """a_x + b_ih, a_h + b_hh of r (the first block; z's is there too) → g = r ⊙ h_{t−1}."""
    for j in range(H):
        r = pw.sigmoid(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])
        gated[j] = r * h_prev[j]


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """a_h's n block is W_hn g (the second product) → r, z, n (kept) and h_t."""
    for j in range(H):
        r = pw.sigmoid(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])
        z = pw.sigmoid(a_x[H + j] + b_ih[H + j] + a_h[H + j] + b_hh[H + j])
        n = pw.tanh(a_x[2 * H + j] + b_ih[2 * H + j] + a_h[2 * H + j] + b_hh[2 * H + j])
        h[j] = pw.complement(z) * h_prev[j] + z * n  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        keep[j], keep[H + j], keep[2 * H + j] = r, z, n


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂h_t → ∂L/∂a of z and n and (1 − z) ⊙ ∂L/∂h_t; r's needs ∂L/∂g, which the
    product with W_hnᵀ gives next (``gate_backward_step``)."""
    for j in range(H):
        z, n = keep[H + j], keep[2 * H + j]
        d_x[H + j] = dh[j] * (n - h_prev[j]) * pw.dsigmoid(z)
        d_x[2 * H + j] = dh[j] * z * pw.dtanh(n)
        dh_prev[j] = dh[j] * pw.complement(z)


def gate_backward_step(keep, p, h_prev, d_gated, d_x, dh_prev, H):
    """∂L/∂g = W_hnᵀ ∂L/∂a_n → ∂L/∂a_r and the part g's path adds to ∂L/∂h_{t−1}."""
    for j in range(H):
        r = keep[j]
        d_x[j] = d_gated[j] * h_prev[j] * pw.dsigmoid(r)
        dh_prev[j] += d_gated[j] * r


GRU_RESET_BEFORE = Cell(
    name="gru_reset_before",
    title="GRU (reset before)",
    layer="GRU",
    layer_options={"reset_before": True},
    blocks=3,
    gates=("r", "z", "n"),
    states=("h",),
    forward=forward,
    backward=backward,
    forward_step=forward_step,
    backward_step=backward_step,
    keep=(("gates", 3),),
    direct_path=True,  # h_t = (1 − z) ⊙ h_{t−1} + …, and g = r ⊙ h_{t−1}
    gated_blocks=1,
    gate_step=gate_step,
    gate_backward_step=gate_backward_step,
    activations={"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
)
