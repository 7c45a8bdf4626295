"""The step loops of every cell, written once: forward, backward, and the backward pass
as a pipeline; each run by the threads of a team.

These are templates: ``forward_step`` and ``backward_step`` are the cell's (see
``rnnlab.cells.cell``) and ``compiled_loops`` makes the loops of one cell. Per step, one
product does W_hh h_{t−1} (or W_hhᵀ ∂L/∂a) for the whole batch, on W_hh packed once per
call (``rnnlab.runtime.products``); the step functions then do every row's pointwise
part. Each of ``parts`` threads takes a block of the product's panels and a block of the
batch's rows, and they meet twice per step (``rnnlab.runtime.sync.barrier``; once for a
cell without W_hh, three times under recurrent dropout's backward product).
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

import numpy as np
from numba import njit, prange

from rnnlab.cells import Cell
from rnnlab.cells import pointwise as pw
from rnnlab.kernels.specialise import OPTIONS, compiled_steps, specialise
from rnnlab.runtime.pipeline import PROGRESS, gradient_side, gradients, help_gradients
from rnnlab.runtime.products import add_rows, matmul_rows, pack_own_panels
from rnnlab.runtime.sync import atomic_store, barrier
from rnnlab.runtime.team import share


def forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H):
    """A cell's forward step (``rnnlab.cells.cell``): ``compiled_loops`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_loops(cell)")


def backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H):
    """A cell's backward step (``rnnlab.cells.cell``): ``compiled_loops`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_loops(cell)")


def input_backward_step(keep, p, d_x, dp, H):
    """The input side's part of a cell's backward step (``rnnlab.cells.cell``):
    ``compiled_loops`` binds the cell's."""
    raise NotImplementedError("a template's step: use compiled_loops(cell)")


#: whether the cell's last blocks have a recurrent gradient of their own (``own_blocks``),
#: and all of them (``ALL_OWN``), whether h_{t−1} reaches h_t outside W_hh
#: (``direct_path``), whether there is a W_hh at all (``recurrent``; IndRNN has none) and
#: whether the cell splits off its input side's backward (``input_backward_step``):
#: constants of each cell's loops, so a cell compiles only what it uses
OWN_RECURRENT = ALL_OWN = DIRECT_PATH = RECURRENT = INPUT_SIDE = True


@njit(inline="always", **OPTIONS)
def copy_row(source, target):
    """target ← source (equal lengths), element by element: a slice assignment compiles
    numba's shape check and its message, a second or two of every cold start."""
    for j in range(target.shape[0]):
        target[j] = source[j]


@njit(inline="always", **OPTIONS)
def zone_row(zone, t, b):
    """z_t of sequence b (S = H, then C for c): zone is (T, B, S), or (1, 1, S) for the
    same z everywhere (evaluation's p)."""
    return zone[t if zone.shape[0] > 1 else 0, b if zone.shape[1] > 1 else 0]


@njit(inline="always", **OPTIONS)
def mix(z, offset, previous, fresh, target):
    """target ← z ⊙ previous + (1 − z) ⊙ fresh, z from entry ``offset`` of z (zoneout)."""
    for j in range(target.shape[0]):
        keep = z[offset + j]
        target[j] = keep * previous[j] + pw.complement(keep) * fresh[j]


@njit(inline="always", **OPTIONS)
def add_rows_into(a, b, target):
    """target ← a + b (equal lengths), element by element (as ``copy_row``)."""
    for j in range(target.shape[0]):
        target[j] = a[j] + b[j]


def forward_loop(
    part,
    parts,
    counter,
    x_proj,
    W_hh,
    packed,
    plain,
    b_ih,
    b_hh,
    p,
    lengths,
    hidden,
    cell,
    keep,
    pre,
    zone,
    drop,
    dropped,
    fresh_h,
    fresh_c,
):
    """x_proj (T, B, G·H) = W_ih x_t → fills hidden (T + 1, B, H), cell (T + 1, B, C) and
    keep: (T, B, W) what every step keeps, or (1, B, W) when it is not kept.

    packed, plain: W_hhᵀ as ``recurrent_operand`` gives it (each thread packs its own
    panels here); b_ih, b_hh (G·H); p (K, H) the cell's own parameters; lengths (B,);
    pre (B, G·H) scratch. The regularisers' arrays are empty (0 rows) when off.
    Zoneout: zone (T or 1, B or 1, H + C) the z_t of every unit; the step writes s̃_t into
    fresh_h, fresh_c (shaped as keep) and hidden, cell get z ⊙ s_{t−1} + (1 − z) ⊙ s̃_t.
    Recurrent dropout: drop (B, H) the masks; W_hh multiplies dropped (B, H) =
    drop ⊙ h_{t−1} (filled with drop ⊙ h_0 by the caller).
    Run by ``parts`` threads; this one is ``part``.
    """
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    T, B, _ = x_proj.shape
    H = hidden.shape[2]
    if RECURRENT:
        pack_own_panels(W_hh, True, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T):
        if RECURRENT:
            source = dropped if dropping else hidden[t]  # W_hh h_{t−1}, or W_hh (m ⊙ h_{t−1})
            matmul_rows(source, packed, plain, pre, False, part, parts)
            generation = barrier(counter, parts, generation)  # pre complete
        k = t if keep.shape[0] == T else 0
        for b in range(first, stop):
            if t < lengths[b]:
                h_prev, c_prev = hidden[t, b], cell[t, b]
                if zoning:  # the step's own s̃_t, mixed below
                    h, c = fresh_h[k, b], fresh_c[k, b]
                else:
                    h, c = hidden[t + 1, b], cell[t + 1, b]
                forward_step(
                    x_proj[t, b], pre[b], b_ih, b_hh, p, h_prev, c_prev, h, c, keep[k, b], H
                )
                if zoning:
                    z = zone_row(zone, t, b)
                    mix(z, 0, h_prev, h, hidden[t + 1, b])
                    mix(z, H, c_prev, c, cell[t + 1, b])
            else:  # padded step: the state is carried unchanged
                copy_row(hidden[t, b], hidden[t + 1, b])
                copy_row(cell[t, b], cell[t + 1, b])
                keep[k, b] = 0
            if dropping:
                for j in range(H):
                    dropped[b, j] = drop[b, j] * hidden[t + 1, b, j]
        generation = barrier(counter, parts, generation)  # h_t complete, pre free


def backward_loop(
    part,
    parts,
    counter,
    input_rows,
    W_hh,
    packed,
    plain,
    lengths,
    keep,
    p,
    hidden,
    cell,
    d_out,
    dh,
    dc,
    d_pre,
    d_own,
    d_rec,
    d_hidden,
    d_cell,
    d_bias,
    d_own_bias,
    dp,
    zone,
    drop,
    d_dropped,
    fresh_h,
    fresh_c,
    d_fresh,
    dc_kept,
    dc_step,
):
    """Walks t = T … 1 carrying dh (B, H), dc (B, C); fills d_pre (T, B, G·H) = ∂L/∂a_t,
    d_own (T, B, O), d_hidden and d_cell (T or 1, B, ·); d_rec: scratch (B, G·H). Rows
    ``part`` of d_bias, d_own_bias, dp (float64) ← this thread's sums; counter[PROGRESS]
    ← the steps finished (``rnnlab.runtime.pipeline``). zone, drop, fresh_h, fresh_c as
    the forward loop's, with scratch d_dropped, d_fresh (B, H), dc_kept, dc_step (B, C),
    empty when off: under zoneout the step
    gets (1 − z) ⊙ ∂L/∂s_t and z ⊙ ∂L/∂s_t goes straight to s_{t−1}; under recurrent
    dropout W_hhᵀ's product reaches ∂L/∂h_{t−1} through the mask. docs/architecture.md
    has more. A cell's ``input_backward_step`` runs here after its step on the rows
    b < ``input_rows`` (all of them but in the pipeline, whose other side runs it on the
    rest: ``input_chunk``); d_bias sums only those rows."""
    zoning, dropping = zone.shape[0] > 0, drop.shape[0] > 0
    adds = DIRECT_PATH or zoning  # dh holds a part of ∂L/∂h_{t−1} before the product
    T, B, H = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    C = cell.shape[2]
    if RECURRENT:
        pack_own_panels(W_hh, False, packed, part, parts)
    first, stop = share(B, part, parts)
    generation = 0
    for t in range(T - 1, -1, -1):
        k = t if d_hidden.shape[0] == T else 0  # one step's worth when not kept
        for b in range(first, stop):
            if t < lengths[b] and zoning:
                add_rows_into(dh[b], d_out[t, b], d_hidden[k, b])  # ∂L/∂h_t
                z = zone_row(zone, t, b)
                for j in range(H):  # the step's share of ∂L/∂h_t
                    d_fresh[b, j] = pw.complement(z[j]) * d_hidden[k, b, j]
                for j in range(C):  # of ∂L/∂c_t; the rest is kept for c_{t−1}
                    d_cell[k, b, j] = dc[b, j]  # ∂L/∂c_t: the mixed c_t feeds later steps only
                    dc_kept[b, j] = z[H + j] * dc[b, j]
                    dc[b, j] -= dc_kept[b, j]
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], fresh_h[t, b], fresh_c[t, b],
                    d_fresh[b], dc[b], dc_step[b], d_pre[t, b], d_own[t, b], dh[b],
                    dp[part], H,
                )  # fmt: skip
                for j in range(C):
                    dc[b, j] += dc_kept[b, j]
                for j in range(H):  # z ⊙ ∂L/∂h_t, beside the step's direct part
                    if DIRECT_PATH:
                        dh[b, j] += z[j] * d_hidden[k, b, j]
                    else:
                        dh[b, j] = z[j] * d_hidden[k, b, j]
            elif t < lengths[b]:
                add_rows_into(dh[b], d_out[t, b], d_hidden[k, b])
                backward_step(
                    keep[t, b], p, hidden[t, b], cell[t, b], hidden[t + 1, b], cell[t + 1, b],
                    d_hidden[k, b], dc[b], d_cell[k, b], d_pre[t, b], d_own[t, b], dh[b],
                    dp[part], H,
                )  # fmt: skip
            else:  # padded step: h and c were carried, so are their gradients
                copy_row(dh[b], d_hidden[k, b])
                copy_row(dc[b], d_cell[k, b])
                d_pre[t, b] = 0
                d_own[t, b] = 0
            if INPUT_SIDE and t < lengths[b] and b < input_rows:  # the rest of the step
                input_backward_step(keep[t, b], p, d_pre[t, b], dp[part], H)
        add_rows(d_pre[t, first : min(stop, input_rows)], d_bias[part])  # ∂L/∂b, in cache
        if OWN_RECURRENT:
            add_rows(d_own[t, first:stop], d_own_bias[part])
        if OWN_RECURRENT and not ALL_OWN:  # the recurrent side's rows: d_pre's, d_own in
            recurrent_rows(d_pre[t], d_own[t], d_rec, first, stop)  # its place
        generation = barrier(counter, parts, generation)  # rows complete, dh's direct part too
        if RECURRENT:  # dh_{t−1} (+)= W_hhᵀ ∂L/∂a (the recurrent side's rows):
            rows = d_own[t] if ALL_OWN else d_rec if OWN_RECURRENT else d_pre[t]
            if dropping:  # … through the mask: dh_{t−1} (+)= m ⊙ W_hhᵀ ∂L/∂a
                matmul_rows(rows, packed, plain, d_dropped, False, part, parts)
            else:
                matmul_rows(rows, packed, plain, dh, adds, part, parts)
            generation = barrier(counter, parts, generation)  # dh complete
            if dropping:
                for b in range(first, stop):
                    for j in range(H):
                        if adds:
                            dh[b, j] += drop[b, j] * d_dropped[b, j]
                        else:
                            dh[b, j] = drop[b, j] * d_dropped[b, j]
        for b in range(first, stop):
            if t >= lengths[b]:  # padded: h was carried, so is ∂L/∂h
                copy_row(d_hidden[k, b], dh[b])
        if part == 0:
            atomic_store(counter[PROGRESS:], T - t)  # d_pre[t], d_own[t] are complete


def input_chunk(prepare, t0, t1):
    """The pipeline's work on a finished chunk of steps t0 … t1 − 1 before its terms
    (``rnnlab.runtime.pipeline.prepare_chunk``): a cell's ``input_backward_step`` on the
    rows b ≥ input_rows, which the loop left, and their sum. prepare = (keep, p, d_pre,
    lengths, input_rows, and the gradient side's rows of d_bias and dp)."""
    keep, p, d_pre, lengths, input_rows, d_bias, dp = prepare
    H, B = p.shape[1], d_pre.shape[1]
    for t in range(t0, t1):
        for b in range(input_rows, B):
            if t < lengths[b]:
                input_backward_step(keep[t, b], p, d_pre[t, b], dp, H)
        add_rows(d_pre[t, input_rows:], d_bias)


@njit(**OPTIONS)
def recurrent_rows(d_pre, d_own, d_rec, first, stop):
    """Rows first … stop − 1 of d_rec (B, G·H), the rows W_hhᵀ multiplies at a step for a
    cell whose last blocks have their own recurrent gradient d_own (B, O): d_pre's
    (B, G·H) first blocks, then d_own."""
    GH, own = d_pre.shape[1], d_own.shape[1]
    for b in range(first, stop):
        for j in range(GH - own):
            d_rec[b, j] = d_pre[b, j]
        for j in range(own):
            d_rec[b, GH - own + j] = d_own[b, j]


def pipelined_backward(part, parts, counter, loop, gradient_terms, prepare):
    """Part 0 runs ``backward_loop(*loop)`` alone while part 1 sums the weight gradients
    of the chunks it has finished (``rnnlab.runtime.pipeline.gradient_side``), for a
    cell with an ``input_backward_step`` once it has run it on the chunk's rows that the
    loop left (``input_chunk``)."""
    if part == 0:
        input_rows = prepare[4]
        backward_loop(0, 1, counter, input_rows, *loop)
    gradient_side(part, parts, counter, gradient_terms, prepare)


def forward_parts(parts, counter, *args):
    """``forward_loop``'s parts on numba's threads (``rnnlab.runtime.team.Team.run``)."""
    for part in prange(parts):
        forward_loop(np.int64(part), parts, counter, *args)


def backward_parts(parts, counter, *args):
    """``backward_loop``'s parts on numba's threads."""
    for part in prange(parts):
        backward_loop(np.int64(part), parts, counter, *args)


def pipelined_parts(parts, counter, loop, gradient_terms, prepare):
    """``pipelined_backward``'s parts on numba's threads."""
    for part in prange(parts):
        pipelined_backward(np.int64(part), parts, counter, loop, gradient_terms, prepare)


@cache
def compiled_loops(cell: Cell) -> SimpleNamespace:
    """The loops above made for ``cell`` (compiled at their first call, or loaded from
    numba's cache): forward_loop, backward_loop, pipelined_backward and their parts."""
    constants = {"OWN_RECURRENT": cell.own_blocks > 0, "DIRECT_PATH": cell.direct_path}
    constants |= {"ALL_OWN": cell.own_blocks == cell.blocks, "RECURRENT": cell.recurrent}
    constants["INPUT_SIDE"] = cell.input_backward_step is not None
    names = {**compiled_steps(cell), **constants}
    if cell.input_backward_step is not None:  # the pipeline's other side runs it per chunk
        side = {"PREPARES": True, "prepare_chunk": specialise(input_chunk, cell, names)}
        for function in (gradients, help_gradients, gradient_side):  # the runtime's, made
            side[function.__name__] = specialise(function.py_func, cell, side)  # to call it
        names["gradient_side"] = side["gradient_side"]
    for template in (forward_loop, backward_loop, pipelined_backward):
        names[template.__name__] = specialise(template, cell, names)
    for template in (forward_parts, backward_parts, pipelined_parts):
        names[template.__name__] = specialise(template, cell, names, parallel=True)
    loops = {name: value for name, value in names.items() if name.endswith(("_loop", "_parts"))}
    return SimpleNamespace(**loops, pipelined_backward=names["pipelined_backward"])
