"""The Elman RNN cell, forward and backward over a whole sequence.

    h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh),    act = tanh or relu

Parameters (PyTorch names and shapes, H hidden units, I input features):
``W_ih`` (H, I), ``W_hh`` (H, H), ``b_ih`` (H,), ``b_hh`` (H,).

Memory of the tape: (T + 1)·B·H for the hidden states plus T·B·I for the input,
in the parameters' dtype.

``forward`` and ``backward`` are the reference over a whole sequence; the step
functions the same equations for one sequence's step, which the compiled loops run
(``rnnlab.cells.cell`` gives their contract). ``rnn_tanh`` and ``rnn_relu`` are two cells.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from rnnlab.cells import pointwise as pw
from rnnlab.cells.cell import Cell, TorchLayer
from rnnlab.cells.masking import dropped, step_mask
from rnnlab.ops import ACTIVATIONS


def forward(
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: np.ndarray,
    lengths: np.ndarray | None = None,
    recurrent_mask: np.ndarray | None = None,
    nonlinearity: str = "tanh",
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Run the cell over a sequence.

    x: (T, B, I), state0 h_0: (B, H), lengths: (B,) or None
    recurrent_mask: (B, H) or None, recurrent dropout's (``masking.dropped``)
    → out: (T, B, H) (zero past each length), stateT h_T: (B, H), tape.
    """
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    act, _ = ACTIVATIONS[nonlinearity]
    T, B, _ = x.shape
    mask = step_mask(lengths, T, B)

    x_proj = x @ W_ih.T + b_ih  # W_ih x_t + b_ih for every t at once: (T, B, H)
    hidden = np.empty((T + 1, B, W_hh.shape[0]), dtype=x_proj.dtype)
    hidden[0] = state0
    for t in range(T):
        h_t = act(x_proj[t] + dropped(hidden[t], recurrent_mask) @ W_hh.T + b_hh)
        hidden[t + 1] = h_t if mask is None else np.where(mask[t], h_t, hidden[t])

    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "hidden": hidden, "mask": mask, "nonlinearity": nonlinearity}
    tape["recurrent_mask"] = recurrent_mask
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
    W_hh = params["W_hh"]
    recurrent_mask = tape.get("recurrent_mask")  # recurrent dropout's, or None
    _, dact = ACTIVATIONS[nonlinearity or tape["nonlinearity"]]
    x, hidden, mask = tape["x"], tape["hidden"], tape["mask"]
    T = x.shape[0]

    d_pre = np.empty_like(hidden[1:])  # ∂L/∂(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh)
    d_hidden = np.empty_like(hidden[1:])  # ∂L/∂h_t, kept on the tape for probes
    dh = np.zeros_like(hidden[0]) if d_stateT is None else d_stateT.astype(hidden.dtype)
    for t in reversed(range(T)):
        dh = dh + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        d_hidden[t] = dh
        d_pre[t] = dh * dact(hidden[t + 1])
        if mask is not None:  # a padded step passed h_{t−1} through unchanged
            d_pre[t] = np.where(mask[t], d_pre[t], 0)
            dh = dropped(d_pre[t] @ W_hh, recurrent_mask) + np.where(mask[t], 0, dh)
        else:
            dh = dropped(d_pre[t] @ W_hh, recurrent_mask)

    flat_pre = d_pre.reshape(T * x.shape[1], -1)
    grads = {
        "W_ih": flat_pre.T @ x.reshape(flat_pre.shape[0], -1),
        "W_hh": flat_pre.T @ dropped(hidden[:-1], recurrent_mask).reshape(flat_pre.shape[0], -1),
        "b_ih": flat_pre.sum(axis=0),
        "b_hh": flat_pre.sum(axis=0),
    }
    dx = d_pre @ params["W_ih"]
    tape["d_hidden"] = d_hidden
    return dx, grads, dh


def tanh_forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """h_t = tanh(a_x + b_ih + a_h + b_hh)."""
    for j in range(H):
        h[j] = pw.tanh(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])


def tanh_backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂a = ∂L/∂h_t ⊙ (1 − h_t²); h_{t−1} reaches h_t only through W_hh."""
    for j in range(H):
        d_x[j] = dh[j] * pw.dtanh(h[j])


def relu_forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """h_t = max(a_x + b_ih + a_h + b_hh, 0)."""
    for j in range(H):
        h[j] = pw.relu(a_x[j] + b_ih[j] + a_h[j] + b_hh[j])


def relu_backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """∂L/∂a = ∂L/∂h_t where h_t > 0, else 0."""
    for j in range(H):
        d_x[j] = dh[j] * pw.drelu(h[j])


def _elman(act: str, title: str, forward_step: Any, backward_step: Any) -> Cell:
    """The Elman cell with activation ``act`` ("tanh" or "relu")."""
    return Cell(
        name=f"rnn_{act}",
        title=title,
        layer="RNN",
        layer_options={"nonlinearity": act},
        blocks=1,
        gates=(),
        states=("h",),
        forward=partial(forward, nonlinearity=act),
        backward=partial(backward, nonlinearity=act),
        forward_step=forward_step,
        backward_step=backward_step,
        activations={"h": act},
        torch=TorchLayer("RNN", {"nonlinearity": act}),
    )


RNN_TANH = _elman("tanh", "RNN (tanh)", tanh_forward_step, tanh_backward_step)
RNN_RELU = _elman("relu", "RNN (ReLU)", relu_forward_step, relu_backward_step)
