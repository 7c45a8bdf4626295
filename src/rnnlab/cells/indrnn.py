"""The independently recurrent neural network (IndRNN), Li, Li, Cook, Zhu & Gao 2018.

    h_t = act(W_ih x_t + b_ih + u ⊙ h_{t−1}),    act = relu (the paper's) or tanh

The recurrent weight is a vector u (H,): each unit sees only its own past. A unit's
gradient through time is then a product of scalars, ∂h_T/∂h_t = Π act′ · u_j, which is
u_j^(T−t) while the unit's relu is active: keeping |u_j| within [ε^(1/T), γ^(1/T)]
keeps a gradient over T steps between ε and γ (Li et al., §3.1), so a stack learns over
thousands of steps where an Elman RNN forgets after tens. The units exchange information through
the next layer's W_ih, so IndRNNs are stacked.

Parameters: ``W_ih`` (H, I), ``b_ih`` (H,) and ``weight_hh_diag`` (H,) = u; the layer
has no W_hh and no b_hh (the cells get W_hh (0, H) and b_hh zeros: ``recurrent=False``
tells the loops to skip the product).

Memory of the tape: (T + 1)·B·H for the hidden states plus T·B·I for the input.

``forward`` and ``backward`` are the reference over a whole sequence; the step functions
the same equations for one sequence's step, which the compiled loops run
(``rnnlab.cells.cell`` gives their contract). ``indrnn_relu`` and ``indrnn_tanh`` are
two cells.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell
from rnnlab.cells.masking import step_mask
from rnnlab.errors import ConfigError
from rnnlab.ops import ACTIVATIONS

#: the recurrent weight's name: the diagonal of a W_hh that the cell never forms
RECURRENT_WEIGHT = "weight_hh_diag"


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: np.ndarray,
    lengths: np.ndarray | None = None,
    nonlinearity: str = "relu",
    recurrent_mask: None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run the cell over a sequence.

    x: (T, B, I), state0 h_0: (B, H), lengths: (B,) or None
    → out: (T, B, H) (zero past each length), stateT h_T: (B, H), tape.
    recurrent_mask must be None: recurrent dropout drops what W_hh reads, and there is
    no W_hh (the layers refuse it).
    """
    if recurrent_mask is not None:
        raise ConfigError("IndRNN has no W_hh for recurrent dropout to act on")
    W_ih, b_ih, b_hh, u = params["W_ih"], params["b_ih"], params["b_hh"], params[RECURRENT_WEIGHT]
    act, _ = ACTIVATIONS[nonlinearity]
    T, B, _ = x.shape
    mask = step_mask(lengths, T, B)

    x_proj = x @ W_ih.T + b_ih + b_hh  # W_ih x_t + b for every t at once: (T, B, H)
    hidden = np.empty((T + 1, B, u.shape[0]), dtype=x_proj.dtype)
    hidden[0] = state0
    for t in range(T):
        h_t = act(x_proj[t] + u * hidden[t])  # u ⊙ h_{t−1}: each unit its own past
        hidden[t + 1] = h_t if mask is None else np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "hidden": hidden, "mask": mask, "nonlinearity": nonlinearity}
    return out, hidden[T].copy(), tape


def backward(
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: np.ndarray | None = None,
    nonlinearity: str | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Backpropagation through time.

    d_out: (T, B, H) = ∂L/∂out, d_stateT: (B, H) = ∂L/∂h_T or None; the nonlinearity
    is the tape's unless given
    → dx: (T, B, I), grads (keys of ``params``), d_state0 ∂L/∂h_0: (B, H).
    Also leaves ``tape["d_hidden"]`` (T, B, H) = ∂L/∂h_t for t = 1 … T.
    """
    u = params[RECURRENT_WEIGHT]
    _, dact = ACTIVATIONS[nonlinearity or tape["nonlinearity"]]
    x, hidden, mask = tape["x"], tape["hidden"], tape["mask"]
    T, B, _ = x.shape

    d_pre = np.empty_like(hidden[1:])  # ∂L/∂(W_ih x_t + b + u ⊙ h_{t−1})
    d_hidden = np.empty_like(hidden[1:])  # ∂L/∂h_t, kept on the tape for probes
    d_u = np.zeros_like(u)
    dh = np.zeros_like(hidden[0]) if d_stateT is None else d_stateT.astype(hidden.dtype)
    for t in reversed(range(T)):
        dh = dh + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        d_hidden[t] = dh
        d_pre[t] = dh * dact(hidden[t + 1])
        if mask is not None:  # a padded step passed h_{t−1} through unchanged
            d_pre[t] = np.where(mask[t], d_pre[t], 0)
        d_u += (d_pre[t] * hidden[t]).sum(axis=0)
        dh = d_pre[t] * u + (0 if mask is None else np.where(mask[t], 0, dh))

    flat_pre = d_pre.reshape(T * B, -1)
    H = u.shape[0]
    grads = {
        "W_ih": flat_pre.T @ x.reshape(T * B, -1),
        "W_hh": np.zeros((0, H), hidden.dtype),  # the cell has none
        "b_ih": flat_pre.sum(axis=0),
        "b_hh": flat_pre.sum(axis=0),
        RECURRENT_WEIGHT: d_u,
    }
    dx = d_pre @ params["W_ih"]
    tape["d_hidden"] = d_hidden
    return dx, grads, dh


def relu_forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """h_t = max(a_x + b + u ⊙ h_{t−1}, 0); a_h is not used (no W_hh)."""
    for j in range(H):
        h[j] = pw.relu(a_x[j] + b_ih[j] + b_hh[j] + p[0, j] * h_prev[j])


def relu_backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂a = ∂L/∂h_t where h_t > 0; ∂L/∂h_{t−1} = u ⊙ ∂L/∂a (all of it: there is no
    W_hh), ∂L/∂u += ∂L/∂a ⊙ h_{t−1}."""
    for j in range(H):
        d_a = dh[j] * pw.drelu(h[j])
        d_x[j] = d_a
        dh_prev[j] = d_a * p[0, j]
        dp[0, j] += d_a * h_prev[j]


def tanh_forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """h_t = tanh(a_x + b + u ⊙ h_{t−1})."""
    for j in range(H):
        h[j] = pw.tanh(a_x[j] + b_ih[j] + b_hh[j] + p[0, j] * h_prev[j])


def tanh_backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """As the relu step's, with tanh′ = 1 − h_t²."""
    for j in range(H):
        d_a = dh[j] * pw.dtanh(h[j])
        d_x[j] = d_a
        dh_prev[j] = d_a * p[0, j]
        dp[0, j] += d_a * h_prev[j]


def _indrnn(act: str, title: str, forward_step: Any, backward_step: Any) -> Cell:
    """IndRNN with activation ``act`` ("relu" or "tanh")."""
    return Cell(
        name=f"indrnn_{act}",
        title=title,
        layer="IndRNN",
        layer_options={"nonlinearity": act},
        blocks=1,
        gates=(),
        states=("h",),
        forward=partial(forward, nonlinearity=act),
        backward=partial(backward, nonlinearity=act),
        forward_step=forward_step,
        backward_step=backward_step,
        direct_path=True,  # u ⊙ h_{t−1}: the whole recurrence is outside W_hh
        recurrent=False,
        parameters=(RECURRENT_WEIGHT,),
        parameter_init={RECURRENT_WEIGHT: (0.0, 1.0)},  # uniform in [0, 1], as Li et al.
        activations={"h": act},
    )


INDRNN_RELU = _indrnn("relu", "IndRNN (ReLU)", relu_forward_step, relu_backward_step)
INDRNN_TANH = _indrnn("tanh", "IndRNN (tanh)", tanh_forward_step, tanh_backward_step)
