"""The layer-normalised GRU (Ba, Kiros & Hinton 2016), forward and backward.

The input and the recurrent projections are normalised separately, each with its own
gain and bias, as in the layer-normalised LSTM (``rnnlab.cells.layer_norm``):

    u_t = W_ih x_t + b_ih,   v_t = W_hh h_{t−1} + b_hh                   (3H each)
    û_t = LN(u_t; γ_ih, β_ih),   v̂_t = LN(v_t; γ_hh, β_hh)
    r = σ(û_r + v̂_r),   z = σ(û_z + v̂_z)
    n = tanh(û_n + r ⊙ v̂_n)
    h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n

LN(u; γ, β) = γ ⊙ (u − μ) / σ + β over the row's 3H entries (σ² = var + ε, ε = 1e-5).
The parameters are the GRU's plus ``layernorm_ih_weight``, ``layernorm_ih_bias``,
``layernorm_hh_weight``, ``layernorm_hh_bias`` (3H each, gate blocks r, z, n); gains
start at 1, biases at 0. z is how much of the candidate is taken (as ``rnnlab.cells.gru``).

The tape keeps ``gates`` (T, B, 3H) = r, z, n; the normalised projections ``x_hat`` and
``h_hat`` (T, B, 3H) before their gains; ``inv_std`` (T, B, 2H) = 1/σ of u and v, each
repeated over H; ``hidden`` (T + 1, B, H). The step reduces over its row (not
``unitwise``); the recurrent side has a gradient of its own in every block.
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell
from rnnlab.cells.masking import dropped, step_mask
from rnnlab.ops import dsigmoid, dtanh, layer_norm, layer_norm_backward, sigmoid

#: the normalisations' gains and biases, in the order of the step's rows of p
NORMS = ("layernorm_ih_weight", "layernorm_ih_bias", "layernorm_hh_weight", "layernorm_hh_bias")


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
    g_ih, be_ih, g_hh, be_hh = (params[name] for name in NORMS)
    T, B, _ = x.shape
    H = W_hh.shape[1]
    mask = step_mask(lengths, T, B)

    u, x_hat, x_inv = layer_norm(x @ W_ih.T + b_ih, g_ih, be_ih)  # û_t for every t
    gates, h_hat = np.empty_like(u), np.empty_like(u)
    inv_std = np.empty((T, B, 2 * H), u.dtype)
    hidden = np.empty((T + 1, B, H), u.dtype)
    hidden[0] = state0
    for t in range(T):
        v, h_hat[t], h_inv = layer_norm(
            dropped(hidden[t], recurrent_mask) @ W_hh.T + b_hh, g_hh, be_hh
        )
        r = sigmoid(u[t, :, :H] + v[:, :H])
        z = sigmoid(u[t, :, H : 2 * H] + v[:, H : 2 * H])
        n = np.tanh(u[t, :, 2 * H :] + r * v[:, 2 * H :])
        h_t = (1 - z) * hidden[t] + z * n
        gates[t] = np.concatenate([r, z, n], axis=1)
        inv_std[t] = np.repeat(np.concatenate([x_inv[t], h_inv], axis=1), H, axis=1)
        hidden[t + 1] = h_t if mask is None else np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "gates": gates, "x_hat": x_hat, "h_hat": h_hat, "inv_std": inv_std}
    tape["recurrent_mask"] = recurrent_mask
    tape |= {"hidden": hidden, "mask": mask}
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
    g_ih, _, g_hh, be_hh = (params[name] for name in NORMS)
    x, gates, hidden, mask = (tape[k] for k in ("x", "gates", "hidden", "mask"))
    x_hat, h_hat, inv_std = (tape[k] for k in ("x_hat", "h_hat", "inv_std"))
    T, B, _ = x.shape
    H = W_hh.shape[1]
    dh = np.zeros_like(hidden[0]) if d_stateT is None else d_stateT.astype(hidden.dtype)

    d_u = np.empty_like(gates)  # ∂L/∂u_t = ∂L/∂(W_ih x_t + b_ih)
    d_v = np.empty_like(gates)  # ∂L/∂v_t = ∂L/∂(W_hh h_{t−1} + b_hh)
    d_hidden = np.empty_like(hidden[1:])
    d_norms = {name: np.zeros_like(params[name]) for name in NORMS}
    for t in reversed(range(T)):
        r, z, n = (gates[t, :, k * H : (k + 1) * H] for k in range(3))
        x_inv, h_inv = inv_std[t, :, :1], inv_std[t, :, H : H + 1]
        valid = 1.0 if mask is None else mask[t]
        h_prev = hidden[t]
        dh_in = dh + d_out[t] * valid
        d_hidden[t] = dh_in
        v_n = g_hh[2 * H :] * h_hat[t, :, 2 * H :] + be_hh[2 * H :]  # v̂_n
        d_a_n = dh_in * z * dtanh(n)  # n = tanh(û_n + r ⊙ v̂_n)
        d_a_r = d_a_n * v_n * dsigmoid(r)
        d_a_z = dh_in * (n - h_prev) * dsigmoid(z)  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        d_x_side = np.concatenate([d_a_r, d_a_z, d_a_n], axis=1) * valid  # ∂L/∂û
        d_h_side = np.concatenate([d_a_r, d_a_z, d_a_n * r], axis=1) * valid  # ∂L/∂v̂
        d_u[t], d_g_ih, d_be_ih = layer_norm_backward(d_x_side, x_hat[t], x_inv, g_ih)
        d_v[t], d_g_hh, d_be_hh = layer_norm_backward(d_h_side, h_hat[t], h_inv, g_hh)
        for name, grad in zip(NORMS, (d_g_ih, d_be_ih, d_g_hh, d_be_hh), strict=True):
            d_norms[name] += grad
        dh_direct = dh_in * (1 - z)
        if mask is not None:  # a padded step passed h_{t−1} through unchanged
            dh_direct = np.where(mask[t], dh_direct, dh_in)
        dh = dh_direct + dropped(d_v[t] @ W_hh, recurrent_mask)

    flat_u, flat_v = d_u.reshape(T * B, 3 * H), d_v.reshape(T * B, 3 * H)
    grads = {
        "W_ih": flat_u.T @ x.reshape(T * B, -1),
        "W_hh": flat_v.T @ dropped(hidden[:-1], recurrent_mask).reshape(T * B, H),
        "b_ih": flat_u.sum(axis=0),
        "b_hh": flat_v.sum(axis=0),
        **d_norms,
    }
    dx = d_u @ params["W_ih"]
    tape["d_hidden"] = d_hidden
    return dx, grads, dh


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """u = a_x + b_ih, v = a_h + b_hh (3H); p rows: γ_ih (0–2), β_ih (3–5), γ_hh (6–8),
    β_hh (9–11) → r, z, n, the normalised projections and their 1/σ's (kept), h_t."""
    for k in range(3 * H):
        keep[3 * H + k] = a_x[k] + b_ih[k]
        keep[6 * H + k] = a_h[k] + b_hh[k]
    inv_u = pw.normalise(keep[3 * H : 6 * H])  # û
    inv_v = pw.normalise(keep[6 * H : 9 * H])  # v̂
    for j in range(H):
        u_r = p[0, j] * keep[3 * H + j] + p[3, j]  # the normalised terms, gains and biases
        u_z = p[1, j] * keep[4 * H + j] + p[4, j]
        u_n = p[2, j] * keep[5 * H + j] + p[5, j]
        v_r = p[6, j] * keep[6 * H + j] + p[9, j]
        v_z = p[7, j] * keep[7 * H + j] + p[10, j]
        v_n = p[8, j] * keep[8 * H + j] + p[11, j]
        r, z = pw.sigmoid(u_r + v_r), pw.sigmoid(u_z + v_z)
        n = pw.tanh(u_n + r * v_n)
        h[j] = pw.complement(z) * h_prev[j] + z * n  # h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n
        keep[j], keep[H + j], keep[2 * H + j] = r, z, n
        keep[9 * H + j], keep[10 * H + j] = inv_u, inv_v


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂h_t → ∂L/∂u (3H, in d_x), ∂L/∂v (3H, the recurrent side's own, in d_own), the
    gains' and biases' gradients and (1 − z) ⊙ ∂L/∂h_t, the path from h_{t−1} outside W_hh."""
    for j in range(H):  # first ∂L/∂û into d_x and ∂L/∂v̂ into d_own
        r, z, n = keep[j], keep[H + j], keep[2 * H + j]
        v_n = p[8, j] * keep[8 * H + j] + p[11, j]
        d_a_n = dh[j] * z * pw.dtanh(n)
        d_a_r = d_a_n * v_n * pw.dsigmoid(r)
        d_a_z = dh[j] * (n - h_prev[j]) * pw.dsigmoid(z)
        d_x[j], d_x[H + j], d_x[2 * H + j] = d_a_r, d_a_z, d_a_n
        d_own[j], d_own[H + j], d_own[2 * H + j] = d_a_r, d_a_z, d_a_n * r
        dh_prev[j] = dh[j] * pw.complement(z)
    pw.normalised_backward(d_x, p, 0, dp, 3, keep[3 * H : 6 * H], keep[9 * H], d_x)
    pw.normalised_backward(d_own, p, 6, dp, 9, keep[6 * H : 9 * H], keep[10 * H], d_own)


GRU_LAYER_NORM = Cell(
    name="gru_layer_norm",
    title="GRU (layer norm)",
    layer="GRU",
    layer_options={"layer_norm": True},
    blocks=3,
    gates=("r", "z", "n"),
    states=("h",),
    forward=forward,
    backward=backward,
    forward_step=forward_step,
    backward_step=backward_step,
    keep=(("gates", 3), ("x_hat", 3), ("h_hat", 3), ("inv_std", 2)),
    own_blocks=3,
    direct_path=True,  # h_t = (1 − z) ⊙ h_{t−1} + …
    parameters=NORMS,
    parameter_widths={name: 3 for name in NORMS},
    parameter_init={name: (1.0 if name.endswith("weight") else 0.0) for name in NORMS},
    unitwise=False,
    activations={"r": "sigmoid", "z": "sigmoid", "n": "tanh"},
)
