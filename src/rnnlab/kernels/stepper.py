"""One compiled call per generated token: embedding → stack → output layer.

For sampling, the model advances one token at a time with batch 1. The first layer's
input product W_ih x + b_ih of a one-hot (or embedded) token is a row of a table
computed once, ``table[v] = W_ih e_v + b_ih``: a lookup instead of a product. Every
other product is a matrix-vector call into numpy's OpenBLAS, and the gates are the
same fused row functions the training kernels use.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from rnnlab.kernels.blas import gemv
from rnnlab.kernels.common import relu, tanh
from rnnlab.kernels.gru import _gates_forward as _gru_gates
from rnnlab.kernels.lstm import _gates_forward as _lstm_gates


@njit(cache=True, error_model="numpy")
def _input_part(layer, token, table, W_ih, b_ih, h, x_proj):
    """x_proj ← W_ih x + b_ih for this layer: a table row for layer 0."""
    if layer == 0:
        x_proj[:] = table[token]
    else:
        gemv(False, 1.0, W_ih[layer], h[layer - 1], 0.0, x_proj)
        x_proj += b_ih[layer]


@njit(cache=True, error_model="numpy")
def _output(h_top, head_W, head_b, logits):
    gemv(False, 1.0, head_W, h_top, 0.0, logits)
    logits += head_b


@njit(cache=True, error_model="numpy")
def lstm_step(token, table, W_ih, b_ih, W_hh, b_hh, h, c, head_W, head_b, logits):
    """Advance an LSTM stack by one token; h, c (L, H) are updated in place."""
    L, H = h.shape
    x_proj = np.empty(4 * H, dtype=h.dtype)
    pre = np.empty(4 * H, dtype=h.dtype)
    gates = np.empty(4 * H, dtype=h.dtype)
    h_new = np.empty(H, dtype=h.dtype)
    c_new = np.empty(H, dtype=h.dtype)
    for layer in range(L):
        _input_part(layer, token, table, W_ih, b_ih, h, x_proj)
        gemv(False, 1.0, W_hh[layer], h[layer], 0.0, pre)
        _lstm_gates(pre, x_proj, b_hh[layer], c[layer], c_new, h_new, gates, H)
        h[layer] = h_new
        c[layer] = c_new
    _output(h[L - 1], head_W, head_b, logits)


@njit(cache=True, error_model="numpy")
def gru_step(token, table, W_ih, b_ih, W_hh, b_hh, h, head_W, head_b, logits):
    """Advance a GRU stack by one token; h (L, H) is updated in place."""
    L, H = h.shape
    x_proj = np.empty(3 * H, dtype=h.dtype)
    h_proj = np.empty(3 * H, dtype=h.dtype)
    gates = np.empty(3 * H, dtype=h.dtype)
    hidden_n = np.empty(H, dtype=h.dtype)
    h_new = np.empty(H, dtype=h.dtype)
    for layer in range(L):
        _input_part(layer, token, table, W_ih, b_ih, h, x_proj)
        gemv(False, 1.0, W_hh[layer], h[layer], 0.0, h_proj)
        _gru_gates(h_proj, x_proj, b_hh[layer], h[layer], h_new, gates, hidden_n, H)
        h[layer] = h_new
    _output(h[L - 1], head_W, head_b, logits)


@njit(cache=True, error_model="numpy")
def rnn_step(token, table, W_ih, b_ih, W_hh, b_hh, h, head_W, head_b, logits, use_relu):
    """Advance an Elman RNN stack by one token; h (L, H) is updated in place."""
    L, H = h.shape
    x_proj = np.empty(H, dtype=h.dtype)
    pre = np.empty(H, dtype=h.dtype)
    for layer in range(L):
        _input_part(layer, token, table, W_ih, b_ih, h, x_proj)
        gemv(False, 1.0, W_hh[layer], h[layer], 0.0, pre)
        for j in range(H):
            a = pre[j] + x_proj[j] + b_hh[layer][j]
            h[layer, j] = relu(a) if use_relu else tanh(a)
    _output(h[L - 1], head_W, head_b, logits)


class Stepper:
    """Advances a unidirectional LanguageModel one token at a time, compiled.

    ``Stepper(model, state)`` takes the state the model returned (batch 1);
    ``step(token) -> logits (V,)`` feeds one token and returns the next token's logits.
    """

    def __init__(self, model: Any, state: Any) -> None:
        rnn, dtype = model.rnn, model.dtype
        self.mode = rnn.mode
        L = rnn.num_layers
        cells = [rnn.cell_params(layer, 0) for layer in range(L)]
        if hasattr(model.embedding, "params") and "weight" in model.embedding.params:
            embedded = model.embedding.params["weight"]  # (V, E)
        else:
            embedded = np.eye(model.config.vocab_size, dtype=dtype)  # one-hot rows
        self.table = np.ascontiguousarray(embedded @ cells[0]["W_ih"].T + cells[0]["b_ih"])
        self.W_ih = tuple(np.ascontiguousarray(c["W_ih"]) for c in cells)
        self.b_ih = tuple(np.ascontiguousarray(c["b_ih"]) for c in cells)
        self.W_hh = tuple(np.ascontiguousarray(c["W_hh"]) for c in cells)
        self.b_hh = tuple(np.ascontiguousarray(c["b_hh"]) for c in cells)
        self.head_W = np.ascontiguousarray(model.head.params["weight"])
        self.head_b = np.ascontiguousarray(model.head.params["bias"])
        self.logits = np.empty(self.head_W.shape[0], dtype=dtype)
        if self.mode == "lstm":
            self.h = np.ascontiguousarray(state[0][:, 0, :])
            self.c = np.ascontiguousarray(state[1][:, 0, :])
        else:
            self.h = np.ascontiguousarray(state[:, 0, :])

    def step(self, token: int) -> np.ndarray:
        """Feed ``token``; return the logits of the next token (a buffer reused per call)."""
        common = (self.table, self.W_ih, self.b_ih, self.W_hh, self.b_hh)
        if self.mode == "lstm":
            lstm_step(token, *common, self.h, self.c, self.head_W, self.head_b, self.logits)
        elif self.mode == "gru":
            gru_step(token, *common, self.h, self.head_W, self.head_b, self.logits)
        else:
            use_relu = self.mode == "rnn_relu"
            rnn_step(token, *common, self.h, self.head_W, self.head_b, self.logits, use_relu)
        return self.logits
