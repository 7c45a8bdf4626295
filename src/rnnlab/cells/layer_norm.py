"""The layer-normalised LSTM (Ba, Kiros & Hinton 2016), forward and backward.

The input and the recurrent projections are normalised separately, each with its own
gain and bias, and so is the cell state before its tanh (as haste's LayerNormLSTM):

    u_t = W_ih x_t + b_ih,   v_t = W_hh h_{t−1} + b_hh                   (4H each)
    a_t = LN(u_t; γ_ih, β_ih) + LN(v_t; γ_hh, β_hh)
    i = σ(a_i),  f = σ(a_f),  g = tanh(a_g),  o = σ(a_o)
    c_t = f ⊙ c_{t−1} + i ⊙ g
    h_t = o ⊙ tanh(LN(c_t; γ_c, β_c))

LN(u; γ, β) = γ ⊙ (u − μ) / σ + β, with μ and σ² = var + ε (ε = 1e-5) over the row's
entries (all 4H of u, all H of c). PyTorch's biases b_ih and b_hh are kept, inside the
normalisations (the gates' own bias is β_ih + β_hh; a forget bias goes into β_ih), so
the parameters are the LSTM's plus ``layernorm_ih_weight``, ``layernorm_ih_bias``,
``layernorm_hh_weight``, ``layernorm_hh_bias`` (4H each, gate blocks i, f, g, o) and
``layernorm_c_weight``, ``layernorm_c_bias`` (H); gains start at 1, biases at 0.

The tape keeps ``gates`` (T, B, 4H) = i, f, g, o; the normalised projections ``x_hat``
and ``h_hat`` (T, B, 4H) and cell state ``c_hat`` (T, B, H) before their gains;
``inv_std`` (T, B, 3H) = 1/σ of u, v and c, each repeated over H; ``cell`` and
``hidden`` (T + 1, B, H).

``forward`` and ``backward`` are the reference over a whole sequence; ``forward_step``
and ``backward_step`` the same equations for one sequence's step, which the compiled
loops run (``rnnlab.cells.cell``). The backward through LN(u_t) reads nothing of the
recurrence, so the reference runs it for all steps at once after its loop, and the
steps split it off: ``backward_step`` leaves ∂L/∂a_t and ``input_backward_step`` takes
it on to ∂L/∂u_t (and γ_ih's and β_ih's gradients), which the compiled loops may run
beside the loop. The step reduces over its row (not ``unitwise``), and the recurrent
side has a gradient of its own in every block (``own_blocks=4``): v_t passes through
its own normalisation.
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell
from rnnlab.cells.masking import dropped, step_mask
from rnnlab.ops import dsigmoid, dtanh, layer_norm, layer_norm_backward, sigmoid

#: the normalisations' gains and biases, in the order of the step's rows of p
NORMS = (
    "layernorm_ih_weight",
    "layernorm_ih_bias",
    "layernorm_hh_weight",
    "layernorm_hh_bias",
    "layernorm_c_weight",
    "layernorm_c_bias",
)


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: tuple[np.ndarray, np.ndarray],
    lengths: np.ndarray | None = None,
    recurrent_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], dict]:
    """Run the cell over a sequence.

    x: (T, B, I), state0 (h_0, c_0): (B, H) each, lengths: (B,) or None
    recurrent_mask: (B, H) or None, recurrent dropout's (``masking.dropped``)
    → out: (T, B, H) (zero past each length), stateT (h_T, c_T), tape.
    """
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    g_ih, be_ih, g_hh, be_hh, g_c, be_c = (params[name] for name in NORMS)
    T, B, _ = x.shape
    H = W_hh.shape[1]
    mask = step_mask(lengths, T, B)

    a_x, x_hat, x_inv = layer_norm(x @ W_ih.T + b_ih, g_ih, be_ih)  # LN(u_t) for every t
    dtype = a_x.dtype
    gates, h_hat = np.empty_like(a_x), np.empty_like(a_x)
    c_hat, inv_std = np.empty((T, B, H), dtype), np.empty((T, B, 3 * H), dtype)
    hidden = np.empty((T + 1, B, H), dtype)
    cell = np.empty_like(hidden)
    hidden[0], cell[0] = state0
    for t in range(T):
        a_h, h_hat[t], h_inv = layer_norm(
            dropped(hidden[t], recurrent_mask) @ W_hh.T + b_hh, g_hh, be_hh
        )
        a = a_x[t] + a_h
        i, f, o = sigmoid(a[:, :H]), sigmoid(a[:, H : 2 * H]), sigmoid(a[:, 3 * H :])
        g = np.tanh(a[:, 2 * H : 3 * H])
        c_t = f * cell[t] + i * g
        c_norm, c_hat[t], c_inv = layer_norm(c_t, g_c, be_c)
        h_t = o * np.tanh(c_norm)
        gates[t] = np.concatenate([i, f, g, o], axis=1)
        inv_std[t] = np.repeat(np.concatenate([x_inv[t], h_inv, c_inv], axis=1), H, axis=1)
        if mask is None:
            cell[t + 1], hidden[t + 1] = c_t, h_t
        else:
            cell[t + 1] = np.where(mask[t], c_t, cell[t])
            hidden[t + 1] = np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "gates": gates, "x_hat": x_hat, "h_hat": h_hat, "c_hat": c_hat}
    tape["recurrent_mask"] = recurrent_mask
    tape |= {"inv_std": inv_std, "cell": cell, "hidden": hidden, "mask": mask}
    return out, (hidden[T].copy(), cell[T].copy()), tape


def backward(
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: tuple[np.ndarray | None, np.ndarray | None] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Backpropagation through time.

    d_out: (T, B, H), d_stateT (∂L/∂h_T, ∂L/∂c_T) or None
    → dx: (T, B, I), grads (keys of ``params``), d_state0 (∂L/∂h_0, ∂L/∂c_0).
    Also leaves ``tape["d_hidden"]`` and ``tape["d_cell"]`` (T, B, H): ∂L/∂h_t, ∂L/∂c_t.
    """
    W_hh = params["W_hh"]
    recurrent_mask = tape.get("recurrent_mask")  # recurrent dropout's, or None
    g_ih, _, g_hh, _, g_c, be_c = (params[name] for name in NORMS)
    x, gates, cell, hidden, mask = (tape[k] for k in ("x", "gates", "cell", "hidden", "mask"))
    x_hat, h_hat, c_hat, inv_std = (tape[k] for k in ("x_hat", "h_hat", "c_hat", "inv_std"))
    T, B, _ = x.shape
    H = W_hh.shape[1]
    dh_T, dc_T = d_stateT if d_stateT is not None else (None, None)
    dh = np.zeros_like(hidden[0]) if dh_T is None else dh_T.astype(hidden.dtype)
    dc = np.zeros_like(cell[0]) if dc_T is None else dc_T.astype(cell.dtype)

    d_a = np.empty_like(gates)  # ∂L/∂a_t, which is ∂L/∂LN(u_t) and ∂L/∂LN(v_t)
    d_v = np.empty_like(gates)  # ∂L/∂v_t = ∂L/∂(W_hh h_{t−1} + b_hh)
    d_hidden, d_cell = np.empty_like(hidden[1:]), np.empty_like(cell[1:])
    d_norms = {name: np.zeros_like(params[name]) for name in NORMS}
    for t in reversed(range(T)):
        i, f, g, o = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
        h_inv, c_inv = (inv_std[t, :, k * H : k * H + 1] for k in (1, 2))
        valid = 1.0 if mask is None else mask[t]
        dh_in = dh + d_out[t] * valid
        d_hidden[t] = dh_in
        tanh_c = np.tanh(g_c * c_hat[t] + be_c)
        d_a_o = dh_in * tanh_c * dsigmoid(o)  # h_t = o ⊙ tanh(LN(c_t))
        d_norm = dh_in * o * dtanh(tanh_c) * valid
        dc_norm, d_g_c, d_be_c = layer_norm_backward(d_norm, c_hat[t], c_inv, g_c)
        d_norms["layernorm_c_weight"] += d_g_c
        d_norms["layernorm_c_bias"] += d_be_c
        dc_in = dc + dc_norm
        d_cell[t] = dc_in
        d_a_i = dc_in * g * dsigmoid(i)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        d_a_f = dc_in * cell[t] * dsigmoid(f)
        d_a_g = dc_in * i * dtanh(g)
        d_a[t] = np.concatenate([d_a_i, d_a_f, d_a_g, d_a_o], axis=1) * valid
        d_v[t], d_g_hh, d_be_hh = layer_norm_backward(d_a[t], h_hat[t], h_inv, g_hh)
        d_norms["layernorm_hh_weight"] += d_g_hh
        d_norms["layernorm_hh_bias"] += d_be_hh
        if mask is None:
            dh, dc = dropped(d_v[t] @ W_hh, recurrent_mask), dc_in * f
        else:  # a padded step passed h_{t−1} and c_{t−1} through unchanged
            dh = dropped(d_v[t] @ W_hh, recurrent_mask) + np.where(mask[t], 0, dh_in)
            dc = np.where(mask[t], dc_in * f, dc)

    # a_t = LN(u_t) + …: back through the input side's normalisation, every step at once
    d_u, d_g_ih, d_be_ih = layer_norm_backward(d_a, x_hat, inv_std[:, :, :1], g_ih)
    d_norms["layernorm_ih_weight"], d_norms["layernorm_ih_bias"] = d_g_ih, d_be_ih
    flat_u, flat_v = d_u.reshape(T * B, 4 * H), d_v.reshape(T * B, 4 * H)
    grads = {
        "W_ih": flat_u.T @ x.reshape(T * B, -1),
        "W_hh": flat_v.T @ dropped(hidden[:-1], recurrent_mask).reshape(T * B, H),
        "b_ih": flat_u.sum(axis=0),
        "b_hh": flat_v.sum(axis=0),
        **d_norms,
    }
    dx = d_u @ params["W_ih"]
    tape["d_hidden"], tape["d_cell"] = d_hidden, d_cell
    return dx, grads, (dh, dc)


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """u = a_x + b_ih, v = a_h + b_hh (4H); p rows: γ_ih (0–3), β_ih (4–7), γ_hh (8–11),
    β_hh (12–15), γ_c (16), β_c (17) → the gates, û, v̂, ĉ and the 1/σ's (kept), c_t, h_t."""
    mean_u, inv_u = pw.moments(a_x, b_ih)  # of u = a_x + b_ih
    mean_v, inv_v = pw.moments(a_h, b_hh)  # of v = a_h + b_hh
    for q in range(4):  # û, v̂ and a = γ_ih ⊙ û + β_ih + γ_hh ⊙ v̂ + β_hh (the gates' places)
        for j in range(H):
            k = q * H + j
            u_hat = (a_x[k] + b_ih[k] - mean_u) * inv_u
            v_hat = (a_h[k] + b_hh[k] - mean_v) * inv_v
            keep[4 * H + k], keep[8 * H + k] = u_hat, v_hat
            keep[k] = p[q, j] * u_hat + p[4 + q, j] + p[8 + q, j] * v_hat + p[12 + q, j]
    for j in range(H):
        i, f = pw.sigmoid(keep[j]), pw.sigmoid(keep[H + j])
        g, o = pw.tanh(keep[2 * H + j]), pw.sigmoid(keep[3 * H + j])
        keep[j], keep[H + j], keep[2 * H + j], keep[3 * H + j] = i, f, g, o
        c[j] = f * c_prev[j] + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
        keep[12 * H + j] = c[j]
    inv_c = pw.normalise(keep[12 * H : 13 * H])  # ĉ
    for j in range(H):
        h[j] = keep[3 * H + j] * pw.tanh(p[16, j] * keep[12 * H + j] + p[17, j])
        keep[13 * H + j], keep[14 * H + j], keep[15 * H + j] = inv_u, inv_v, inv_c


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂h_t, ∂L/∂c_t → ∂L/∂a (4H, in d_x: ``input_backward_step`` takes it on to ∂L/∂u),
    ∂L/∂v (4H, the recurrent side's own, in d_own), ∂L/∂c_{t−1} and the gradients of the
    gains and biases of v and c; h_{t−1} reaches h_t only through W_hh. d_own serves as
    scratch until its turn."""
    inv_v, inv_c = keep[14 * H], keep[15 * H]
    for j in range(H):  # through h_t = o ⊙ tanh(γ_c ĉ + β_c)
        o = keep[3 * H + j]
        tanh_c = pw.tanh(p[16, j] * keep[12 * H + j] + p[17, j])
        d_x[3 * H + j] = dh[j] * tanh_c * pw.dsigmoid(o)  # ∂L/∂a_o
        d_own[j] = dh[j] * o * pw.dtanh(tanh_c)  # ∂L/∂(γ_c ĉ + β_c), for now
    pw.normalised_backward(d_own[:H], p, 16, dp, 17, keep[12 * H : 13 * H], inv_c, d_c)
    for j in range(H):
        i, f, g = keep[j], keep[H + j], keep[2 * H + j]
        dc_t = dc[j] + d_c[j]  # the whole ∂L/∂c_t: from the steps after and through h_t
        d_c[j] = dc_t
        d_x[j] = dc_t * g * pw.dsigmoid(i)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        d_x[H + j] = dc_t * c_prev[j] * pw.dsigmoid(f)
        d_x[2 * H + j] = dc_t * i * pw.dtanh(g)
        dc[j] = dc_t * f
    # d_x holds ∂L/∂a (4H): back through a = LN(u) + LN(v) on the v side, which the
    # loop's product needs; the u side is input_backward_step's
    pw.normalised_backward(d_x, p, 8, dp, 12, keep[8 * H : 12 * H], inv_v, d_own)


def input_backward_step(keep, p, d_x, dp, H):
    """∂L/∂a (4H, in d_x) → ∂L/∂u in place, and γ_ih's and β_ih's gradients: back
    through a = LN(u) + LN(v) on the u side."""
    pw.normalised_backward(d_x, p, 0, dp, 4, keep[4 * H : 8 * H], keep[13 * H], d_x)


LSTM_LAYER_NORM = Cell(
    name="lstm_layer_norm",
    title="LSTM (layer norm)",
    layer="LSTM",
    layer_options={"layer_norm": True},
    blocks=4,
    gates=("i", "f", "g", "o"),
    states=("h", "c"),
    forward=forward,
    backward=backward,
    forward_step=forward_step,
    backward_step=backward_step,
    input_backward_step=input_backward_step,
    keep=(("gates", 4), ("x_hat", 4), ("h_hat", 4), ("c_hat", 1), ("inv_std", 3)),
    own_blocks=4,
    parameters=NORMS,
    parameter_widths={name: 4 for name in NORMS[:4]},
    parameter_init={name: (1.0 if name.endswith("weight") else 0.0) for name in NORMS},
    gate_bias="layernorm_ih_bias",
    unitwise=False,
    activations={"i": "sigmoid", "f": "sigmoid", "g": "tanh", "o": "sigmoid", "c": "tanh"},
)
