"""A run of generated tokens in one compiled call, split over rnnlab's threads.

Each thread owns a block of every layer's hidden units and the rows of W_hh (and W_ih)
that compute their gates, packed as panels of its own; the threads meet once per layer
per token, and all draw the same token from the same uniform number. A split changes no
number. Why it is built so: docs/fast-path.md, "Generation".
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from numba import njit

from rnnlab.cells import Cell
from rnnlab.errors import ConfigError
from rnnlab.kernels.sampling import draw_token
from rnnlab.kernels.specialise import compiled_steps, specialise
from rnnlab.runtime.panels import LANES, packed_panels, panel_product
from rnnlab.runtime.sync import barrier
from rnnlab.runtime.team import parts_for_work, share
from rnnlab.runtime.team import run as team_run

#: weights per layer (G·H · H) from which a generation is split over the team: LSTM
#: H = 128 (2¹⁶) samples in about 3.5 µs per token on 2 threads against 4.2 on one;
#: LSTM H = 64 is slower split (2.3 against 1.8)
_SPLIT_WEIGHTS = 1 << 16


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


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """A cell's forward step (``rnnlab.cells.cell``): ``compiled_generation`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_generation(cell)")


def layer_step(layer, block, token, slot, weights, hidden, cell, scratch):
    """h_t (and c_t) of one layer's block of units, from slot ``slot`` of hidden (L, 2, 1,
    H) into the other, and cell (L, C) in place. weights: (table, inputs, b_ih, recurrent,
    b_hh, own) as ``generate_part`` takes them; scratch: pre, x_part (1, G·w_max), no_bias
    (G·w_max) zeros, keep (W·w_max), c_new (w_max)."""
    table, inputs, b_ih, recurrent, b_hh, own = weights
    pre, x_part, no_bias, keep, c_new = scratch
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
    h_prev, h_new = hidden[layer, slot, 0, start:stop], hidden[layer, new, 0, start:stop]
    c = cell[layer, start:stop]  # empty for a cell without c
    p = own[layer, :, start:stop]
    forward_step(
        x_part[0], pre[0], no_bias, b_hh[block, layer], p, h_prev, c, h_new, c_new, keep, w
    )
    c[:] = c_new[: c.size]


def generate_part(part, parts, counter, tokens, uniforms, logits, options, stack, head, state):
    """Draw len(tokens) tokens, feeding each back; this thread is ``part`` of ``parts``.

    logits (V,): in, the next token's logits; out, those after the run. uniforms (n,):
    the draws' numbers in [0, 1). hidden (L, 2, 1, H): every layer's h, in slot 0 at
    the start and at the end (slot 1 is the second copy); cell (L, C) every layer's c
    (C = 0 for a cell without one). table (V, G·H): the first layer's W_ih e_v + b_ih.
    The units come in blocks, each with its own rows: inputs, recurrent are per layer
    W_ih and W_hh as ``_own_rows`` packs them (inputs[0] is unused), b_ih, b_hh (blocks,
    L, G·w_max) as ``_own_entries`` orders them (x_part holds b_ih, so the step is given
    zeros for it); own (L, K, H) the cells' own parameters; keep_width W: the step's
    keep row in units of H. This thread takes the blocks share(blocks, part, parts) (all
    of them when it runs alone).
    head (P, H, LANES): the output layer's W packed, head_b (V,). The state steps after
    the last token only with ``advance_last``.
    """
    advance_last, temperature, top_k, top_p = options
    table, inputs, b_ih, recurrent, b_hh, own, keep_width = stack
    (head_W, head_b), (hidden, cell) = head, state
    L, blocks, H = hidden.shape[0], recurrent[0].shape[0], hidden.shape[3]
    first, stop = share(blocks, part, parts)
    dtype = hidden.dtype
    width = b_hh.shape[2]  # G·w of the largest block
    pre = np.zeros((1, width), dtype=dtype)  # W_hh[rows] h_{t−1}
    x_part = np.zeros((1, width), dtype=dtype)  # W_ih[rows] x_t + b_ih[rows]
    widest = -(-H // blocks)
    keep = np.zeros(keep_width * widest, dtype=dtype)  # what the step keeps: unused here
    scratch = (pre, x_part, np.zeros(width, dtype=dtype), keep, np.zeros(widest, dtype=dtype))
    weights = (table, inputs, b_ih, recurrent, b_hh, own)
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
                layer_step(layer, block, token, slot, weights, hidden, cell, scratch)
            passed = barrier(counter, parts, passed)  # this layer's h_t is complete
        slot = 1 - slot
        panel_product(hidden[L - 1, slot], head_W, mine, False)
        mine[0] += head_b
    if slot == 1:  # every read of slot 0 was before the last barrier
        start, end = H * first // blocks, H * stop // blocks
        hidden[:, 0, 0, start:end] = hidden[:, 1, 0, start:end]
    if part == 0:
        logits[:] = mine[0]


@cache
def compiled_generation(cell: Cell) -> Any:
    """``generate_part`` made for ``cell``'s forward step."""
    names = {"forward_step": compiled_steps(cell)["forward_step"]}
    names["layer_step"] = specialise(layer_step, cell, names)
    return specialise(generate_part, cell, names)


class Generation:
    """Generates tokens from a unidirectional stack of ``cell`` layers with an output
    layer in compiled runs.

    ``Generation(cell, weights, state, logits)`` takes the stack's weights: ``table``
    (V, G·H) = W_ih e_v + b_ih of layer 0 for every token v (through the embedding, if
    any), per-layer tuples ``W_ih``, ``b_ih``, ``W_hh``, ``b_hh`` and one for each of the
    cell's own parameters, the output layer ``head_W`` (V, H), ``head_b`` (V,); the state
    the stack returned (batch 1: h (L, 1, H), or (h, c)) and the logits of the next
    token. ``run(uniforms, temperature, top_k, top_p, advance_last) -> tokens`` draws
    len(uniforms) tokens as ``rnnlab.generate`` does (each the first whose cumulative
    probability exceeds its uniform number, see ``rnnlab.kernels.sampling``), feeding each
    one back, and keeps the state and the logits for the next run. top_k, top_p ≤ 0 mean
    "off".
    """

    def __init__(self, cell: Cell, weights: dict[str, Any], state: Any, logits: np.ndarray) -> None:
        if cell.gated_blocks:
            raise ConfigError(
                f"{cell.title} takes two products per step, which this kernel does not "
                "run: sample through the model's forward"
            )
        self.cell_type, gates = cell, cell.blocks
        W_hh = weights["W_hh"]
        L, H, dtype = len(W_hh), W_hh[0].shape[1], W_hh[0].dtype
        self.parts = min(parts_for_work(gates * H * H, _SPLIT_WEIGHTS), H)
        if not cell.unitwise:  # its step reduces over whole rows
            self.parts = 1
        blocks = self.parts  # one block of units per thread
        self.table = weights["table"]
        self.inputs = tuple(
            _own_rows(W_ih, gates, blocks) if layer > 0 else _nothing(blocks, W_ih)
            for layer, W_ih in enumerate(weights["W_ih"])
        )
        self.recurrent = tuple(_own_rows(W, gates, blocks) for W in W_hh)
        self.b_ih = _own_entries(np.stack(weights["b_ih"]), gates, blocks)
        self.b_hh = _own_entries(np.stack(weights["b_hh"]), gates, blocks)
        K = cell.parameter_rows  # a parameter of width w · H takes w rows
        own = [
            [np.reshape(weights[name][layer], (-1, H)) for name in cell.parameters]
            for layer in range(L)
        ]
        stacked = [np.concatenate(rows) if rows else np.empty((0, H)) for rows in own]
        self.own = np.ascontiguousarray(np.reshape(stacked, (L, K, H)), dtype)
        self.head = packed_panels(weights["head_W"], transposed=True)
        self.head_b = weights["head_b"]
        self.hidden = np.zeros((L, 2, 1, H), dtype=dtype)
        self.cell = np.zeros((L, H if cell.has_cell_state else 0), dtype=dtype)
        if cell.has_cell_state:
            self.hidden[:, 0, 0] = state[0][:, 0, :]
            self.cell[:] = state[1][:, 0, :]
        else:
            self.hidden[:, 0, 0] = state[:, 0, :]
        self.logits = np.array(logits, dtype=dtype)

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
            args = (tokens, np.asarray(uniforms, dtype=np.float64), self.logits)
            options = (bool(advance_last), float(temperature), int(top_k), float(top_p))
            weights = (self.table, self.inputs, self.b_ih, self.recurrent, self.b_hh, self.own)
            stack = (*weights, self.cell_type.keep_width)
            head, state = (self.head, self.head_b), (self.hidden, self.cell)
            generate = compiled_generation(self.cell_type)
            team_run(self.parts, generate, *args, options, stack, head, state)
        return tokens
