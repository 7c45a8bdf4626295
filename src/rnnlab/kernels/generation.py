"""A run of generated tokens in one compiled call, split over rnnlab's threads.

Generating a token is a step at batch 1: a matrix-vector product per layer, too little
work to share out over threads call by call (a team call starts in tens of µs). A
whole run of tokens is one call instead, and there it pays to split every step. The
first layer's input product of a token is a row of a table made once,
``table[v] = W_ih e_v + b_ih``: a lookup instead of a product. Each
thread owns a block of every layer's hidden units, u₀ … u₁ − 1 (a thread that runs
alone, as when the team is busy, takes every block in turn), and with them the rows
of W_hh (and of W_ih above the first layer) that compute those units' gates; it keeps
them packed as column panels of its own (``rnnlab.kernels.panels``), so they stay in its
core's cache from step to step (read forwards at one step and backwards at the next,
so that what a step read last, still cached, comes first at the next; this matters
when a thread's rows fill its cache, as LSTM-512's 2 MB per thread on 2 cores). A
layer's step is then

    pre = W_hh[rows] h_{t−1}  →  the gates of units u₀ … u₁ − 1  →  h_t[u₀ : u₁],

and the threads meet once per layer, when h_t is complete. Every thread then computes
the whole output layer and draws the next token from the same uniform number; the draw
is a pure function (``rnnlab.kernels.sampling.draw_token``), so all threads draw the
same token and the token needs no meeting of its own (the output layer is not split:
for a character vocabulary it is a small part of a step; for a large word vocabulary,
V·H ≫ G·H², it is most of it, and a second thread gains little there). h is kept
twice per layer (the step reads one copy and writes the other), so no thread
overwrites what another still reads. Each unit's sum runs over k in order, so a split
changes no number: 1 thread and 2 give the same tokens.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from rnnlab.kernels.common import relu, tanh
from rnnlab.kernels.gru import _gates_forward as _gru_gates
from rnnlab.kernels.lstm import _gates_forward as _lstm_gates
from rnnlab.kernels.panels import LANES, packed_panels, panel_product
from rnnlab.kernels.sampling import draw_token
from rnnlab.kernels.sync import barrier
from rnnlab.kernels.team import parts_for_work, share
from rnnlab.kernels.team import run as team_run

#: weights per layer (G·H · H) from which a generation is split over the team: LSTM
#: H = 128 (2¹⁶) samples in about 3.5 µs per token on 2 threads against 4.2 on one;
#: LSTM H = 64 is slower split (2.3 against 1.8)
_SPLIT_WEIGHTS = 1 << 16
#: the modes, as the compiled function takes them
_MODES = {"lstm": 0, "gru": 1, "rnn_tanh": 2, "rnn_relu": 3}
_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


def stack_weights(model: Any) -> dict[str, Any]:
    """A unidirectional LanguageModel's weights as the compiled steps take them:
    ``table`` (V, G·H) = W_ih e_v + b_ih of layer 0 for every token v (through the
    embedding, if the model has one), per-layer tuples ``W_ih``, ``b_ih``, ``W_hh``,
    ``b_hh`` (C-contiguous), and the output layer ``head_W`` (V, H), ``head_b`` (V,)."""
    rnn, dtype = model.rnn, model.dtype
    cells = [rnn.cell_params(layer, 0) for layer in range(rnn.num_layers)]
    if hasattr(model.embedding, "params") and "weight" in model.embedding.params:
        embedded = model.embedding.params["weight"]  # (V, E)
    else:
        embedded = np.eye(model.config.vocab_size, dtype=dtype)  # one-hot rows
    weights: dict[str, Any] = {
        "table": np.ascontiguousarray(embedded @ cells[0]["W_ih"].T + cells[0]["b_ih"])
    }
    for name in ("W_ih", "b_ih", "W_hh", "b_hh"):
        weights[name] = tuple(np.ascontiguousarray(cell[name]) for cell in cells)
    weights["head_W"] = np.ascontiguousarray(model.head.params["weight"])
    weights["head_b"] = np.ascontiguousarray(model.head.params["bias"])
    return weights


def _blocks(H: int, blocks: int) -> list[np.ndarray]:
    """The hidden units of each block: block q owns share(H, q, blocks)."""
    return [np.arange(*share(H, block, blocks)) for block in range(blocks)]


def _own_rows(M: np.ndarray, gates: int, blocks: int) -> np.ndarray:
    """M (G·H, K) → (blocks, P, K, LANES): for each block of hidden units, the G gate rows
    of its units in gate order (row g·w + j: gate g of its unit j), as the column panels
    of their transpose; every block has as many panels as the largest (zeros past it)."""
    H = M.shape[0] // gates
    widest = gates * -(-H // blocks)  # rows of the largest block
    owned = np.zeros((blocks, -(-widest // LANES), M.shape[1], LANES), M.dtype)
    for block, units in enumerate(_blocks(H, blocks)):
        rows = np.concatenate([g * H + units for g in range(gates)])
        panels = packed_panels(M[rows], transposed=True)
        owned[block, : panels.shape[0]] = panels
    return owned


def _nothing(blocks: int, W_ih: np.ndarray) -> np.ndarray:
    """The first layer's place in ``inputs``: its input product is a table row."""
    return np.zeros((blocks, 0, W_ih.shape[1], LANES), dtype=W_ih.dtype)


def _own_entries(b: np.ndarray, gates: int, blocks: int) -> np.ndarray:
    """b (L, G·H) → (blocks, L, G·w_max): each block's entries in the order of its rows."""
    L, GH = b.shape
    H = GH // gates
    owned = np.zeros((blocks, L, gates * -(-H // blocks)), b.dtype)
    for block, units in enumerate(_blocks(H, blocks)):
        entries = np.concatenate([g * H + units for g in range(gates)])
        owned[block, :, : entries.size] = b[:, entries]
    return owned


@njit(cache=True, nogil=True, error_model="numpy")
def _product(row, packed, out, backwards):
    """out ← row · M for M packed (P, K, LANES); with ``backwards`` the panels are read
    from the last to the first, a tile (4 panels) at a time."""
    panels = packed.shape[0]
    if not backwards:
        panel_product(row, packed, out, False)
        return
    stop = panels
    while stop > 0:
        first = max(0, stop - 4)
        panel_product(row, packed, out, False, first, stop)
        stop = first


@njit(cache=True, nogil=True, error_model="numpy")
def _layer_step(mode, layer, block, token, slot, weights, hidden, cell, scratch):
    """h_t (and the LSTM's c_t) of one layer's block of units, from slot ``slot`` of
    hidden (L, 2, 1, H) into the other, and cell (L, H) in place. weights: (table,
    inputs, b_ih, recurrent, b_hh, gate_bias) as ``_generate_part`` takes them; scratch:
    pre, x_part (1, G·w_max), gate_values (G·w_max), spare (w_max)."""
    table, inputs, b_ih, recurrent, b_hh, gate_bias = weights
    pre, x_part, gate_values, spare = scratch
    blocks, H, G = recurrent[0].shape[0], hidden.shape[3], table.shape[1] // hidden.shape[3]
    start, stop = share(H, block, blocks)
    w = stop - start
    new = 1 - slot
    _product(hidden[layer, slot], recurrent[layer][block], pre, new == 1)
    if layer == 0:
        for g in range(G):
            x_part[0, g * w : (g + 1) * w] = table[token, g * H + start : g * H + start + w]
    else:
        _product(hidden[layer - 1, new], inputs[layer][block], x_part, new == 1)
        x_part[0] += b_ih[block, layer]
    h_new = hidden[layer, new, 0, start : start + w]
    if mode == 0:
        c = cell[layer, start : start + w]
        _lstm_gates(pre[0], x_part[0], gate_bias[block, layer], c, spare, h_new, gate_values, w)
        c[:] = spare[:w]
    elif mode == 1:
        h_prev = hidden[layer, slot, 0, start : start + w]
        bias, b_n = gate_bias[block, layer], b_hh[block, layer]
        _gru_gates(pre[0], x_part[0], bias, b_n, h_prev, h_new, gate_values, spare, w)
    else:
        for j in range(w):
            a = pre[0, j] + x_part[0, j] + b_hh[block, layer, j]
            h_new[j] = relu(a) if mode == 3 else tanh(a)


@njit(cache=True, nogil=True, error_model="numpy")
def _generate_part(
    part,
    parts,
    counter,
    mode,
    tokens,
    uniforms,
    logits,
    advance_last,
    temperature,
    top_k,
    top_p,
    table,
    inputs,
    b_ih,
    recurrent,
    b_hh,
    gate_bias,
    head,
    head_b,
    hidden,
    cell,
):
    """Draw len(tokens) tokens, feeding each back; this thread is ``part`` of ``parts``.

    logits (V,): in, the next token's logits; out, those after the run. uniforms (n,):
    the draws' numbers in [0, 1). hidden (L, 2, 1, H): every layer's h, in slot 0 at
    the start and at the end (slot 1 is the second copy); cell (L, H) the LSTM's c (else
    unused). table (V, G·H): the first layer's W_ih e_v + b_ih. The units come in
    blocks, each with its own rows: inputs, recurrent are per layer W_ih and W_hh as
    ``_own_rows`` packs them (inputs[0] is unused), b_ih, b_hh (blocks, L, G·w_max) as
    ``_own_entries`` orders them, and gate_bias the bias the gate kernels add to
    x_part + pre (b_hh; the GRU's without its n block, which goes inside r ⊙ (…)); this
    thread takes the blocks share(blocks, part, parts) (all of them when it runs alone).
    head (P, H, LANES): the output layer's W packed, head_b (V,). The state steps after
    the last token only with ``advance_last``.
    """
    L, blocks, H = hidden.shape[0], recurrent[0].shape[0], hidden.shape[3]
    first, stop = share(blocks, part, parts)
    dtype = hidden.dtype
    width = b_hh.shape[2]  # G·w of the largest block
    pre = np.zeros((1, width), dtype=dtype)  # W_hh[rows] h_{t−1}
    x_part = np.zeros((1, width), dtype=dtype)  # W_ih[rows] x_t + b_ih[rows]
    spare = np.zeros(-(-H // blocks), dtype=dtype)  # the GRU's W_hn h + b_hn; the LSTM's c_t
    scratch = (pre, x_part, np.zeros(width, dtype=dtype), spare)
    weights = (table, inputs, b_ih, recurrent, b_hh, gate_bias)
    mine = np.empty((1, logits.size), dtype=dtype)
    mine[0] = logits
    slot = 0
    passed = 0
    n = tokens.size
    for i in range(n):
        token = draw_token(mine[0], temperature, top_k, top_p, uniforms[i])
        if part == 0:
            tokens[i] = token
        if i == n - 1 and not advance_last:
            break
        for layer in range(L):
            for block in range(first, stop):
                _layer_step(mode, layer, block, token, slot, weights, hidden, cell, scratch)
            passed = barrier(counter, parts, passed)  # this layer's h_t is complete
        slot = 1 - slot
        panel_product(hidden[L - 1, slot], head, mine, False)
        mine[0] += head_b
    if slot == 1:  # every read of slot 0 was before the last barrier
        start, end = H * first // blocks, H * stop // blocks
        hidden[:, 0, 0, start:end] = hidden[:, 1, 0, start:end]
    if part == 0:
        logits[:] = mine[0]


class Generation:
    """Generates tokens from a unidirectional LanguageModel in compiled runs.

    ``Generation(model, state, logits)`` takes the state the model returned (batch 1)
    and the logits of the next token; ``run(uniforms, temperature, top_k, top_p,
    advance_last) -> tokens`` draws len(uniforms) tokens as ``rnnlab.generate`` does
    (each the first whose cumulative probability exceeds its uniform number, see
    ``rnnlab.kernels.sampling``), feeding each one back, and keeps the state and the
    logits for the next run. top_k, top_p ≤ 0 mean "off".
    """

    def __init__(self, model: Any, state: Any, logits: np.ndarray) -> None:
        mode = model.rnn.mode
        self.mode, gates = _MODES[mode], _GATES[mode]
        weights = stack_weights(model)
        L, H = model.rnn.num_layers, weights["W_hh"][0].shape[1]
        self.parts = min(parts_for_work(gates * H * H, _SPLIT_WEIGHTS), H)
        blocks = self.parts  # one block of units per thread
        self.table = weights["table"]
        self.inputs = tuple(
            _own_rows(W_ih, gates, blocks) if layer > 0 else _nothing(blocks, W_ih)
            for layer, W_ih in enumerate(weights["W_ih"])
        )
        self.recurrent = tuple(_own_rows(W_hh, gates, blocks) for W_hh in weights["W_hh"])
        self.b_ih = _own_entries(np.stack(weights["b_ih"]), gates, blocks)
        self.b_hh = _own_entries(np.stack(weights["b_hh"]), gates, blocks)
        gate_bias = np.stack(weights["b_hh"])
        if mode == "gru":  # x_part holds b_ih; the gate kernel adds b_hn inside r ⊙ (…)
            gate_bias[:, 2 * H :] = 0
        self.gate_bias = _own_entries(gate_bias, gates, blocks)
        self.head = packed_panels(weights["head_W"], transposed=True)
        self.head_b = weights["head_b"]
        self.hidden = np.zeros((L, 2, 1, H), dtype=model.dtype)
        self.cell = np.zeros((L, H), dtype=model.dtype)
        if mode == "lstm":
            self.hidden[:, 0, 0] = state[0][:, 0, :]
            self.cell[:] = state[1][:, 0, :]
        else:
            self.hidden[:, 0, 0] = state[:, 0, :]
        self.logits = np.array(logits, dtype=model.dtype)

    def run(
        self,
        uniforms: np.ndarray,
        temperature: float,
        top_k: int = 0,
        top_p: float = 0.0,
        advance_last: bool = True,
    ) -> np.ndarray:
        """Draw len(uniforms) tokens (int64); the state steps after the last one only
        with ``advance_last`` (the last token of a generation needs no step)."""
        tokens = np.empty(len(uniforms), dtype=np.int64)
        if tokens.size:
            args = (self.mode, tokens, np.asarray(uniforms, dtype=np.float64), self.logits)
            options = (bool(advance_last), float(temperature), int(top_k), float(top_p))
            biases = (self.b_hh, self.gate_bias)
            weights = (self.table, self.inputs, self.b_ih, self.recurrent, *biases)
            head, state = (self.head, self.head_b), (self.hidden, self.cell)
            team_run(self.parts, _generate_part, *args, *options, *weights, *head, *state)
        return tokens
