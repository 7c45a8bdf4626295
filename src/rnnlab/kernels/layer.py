"""A cell over a whole sequence, compiled: the reference cell's contract for every cell.

    forward(cell, params, x, state0, lengths, workspace, keep_tape, recurrent_mask,
            zoneout) -> (out, stateT, tape)
    backward(cell, params, tape, d_out, d_stateT, workspace, keep_gradients, input_grad,
             into) -> (dx, grads, d_state0)

The input projections of all steps are one GEMM before the loop; the loop
(``rnnlab.kernels.loops``) runs compiled; the weight gradients are GEMMs after the
backward loop (``rnnlab.runtime.gradients``) or, at small sizes on two threads, beside
it (``rnnlab.runtime.pipeline``). The tape holds the same arrays as the reference
cell's (each of ``cell.keep`` a view of one ``keep`` array).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.cells import Cell
from rnnlab.kernels.buffers import (
    all_steps,
    input_projection,
    reuse_input_projection,
    sequence_output,
    step_buffer,
)
from rnnlab.kernels.loops import compiled_loops
from rnnlab.runtime.gradients import weight_gradients
from rnnlab.runtime.pipeline import chunk_steps, gradient_operands, gradient_results, pipelines
from rnnlab.runtime.products import loop_parts, recurrent_operand
from rnnlab.runtime.team import run
from rnnlab.runtime.workspace import Workspace


def _split_state(cell: Cell, state: Any) -> tuple[Any, Any]:
    """(h, c) of a state given as h, or as (h, c) for a cell with a cell state; None
    parts stay None."""
    if not cell.has_cell_state:
        return state, None
    return state if state is not None else (None, None)


def own_parameters(cell: Cell, params: dict[str, np.ndarray], H: int, dtype: Any) -> np.ndarray:
    """The cell's own per-unit parameters stacked: (K, H), K = cell.parameter_rows (a
    parameter of width w · H takes w rows)."""
    if not cell.parameters:
        return np.empty((0, H), dtype)
    rows = [np.reshape(params[name], (-1, H)) for name in cell.parameters]
    return np.ascontiguousarray(np.concatenate(rows), dtype)


def keep_views(cell: Cell, keep: np.ndarray, H: int) -> dict[str, np.ndarray]:
    """The tape's arrays by name (``cell.keep``) as views of the step's keep rows."""
    views, start = {}, 0
    for name, width in cell.keep:
        views[name] = keep[:, :, start * H : (start + width) * H]
        start += width
    return views


def forward(
    cell: Cell,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: Any,
    lengths: np.ndarray | None = None,
    workspace: Workspace | None = None,
    keep_tape: bool = True,
    recurrent_mask: np.ndarray | None = None,
    zoneout: np.ndarray | None = None,
) -> tuple[np.ndarray, Any, dict | None]:
    """As ``cell.forward``; with ``keep_tape=False`` nothing per step is stored.
    recurrent_mask (B, H), zoneout (T or 1, B or 1, H + C): as the reference's
    (``rnnlab.backend.cell_functions``), or None."""
    ws = workspace or Workspace()
    T, B, _ = x.shape
    H = params["W_hh"].shape[1]
    C = H if cell.has_cell_state else 0
    parts = loop_parts(B, params["W_hh"])
    x_proj = input_projection(params, x, ws, parts, bias=False)
    dtype = x_proj.dtype
    hidden, cell_state = starting_states(cell, state0, ws, T, B, H, dtype)
    keep = step_buffer(ws, "keep", (T, B, cell.keep_width * H), dtype, keep_tape)
    pre = ws.array("pre", (B, cell.blocks * H), dtype)
    W_hh = np.ascontiguousarray(params["W_hh"], dtype=dtype)
    packed, plain = recurrent_operand(W_hh, transposed=True, batch=B, parts=parts)
    biases = (np.ascontiguousarray(params[name], dtype) for name in ("b_ih", "b_hh"))
    p = own_parameters(cell, params, H, dtype)
    steps = all_steps(lengths, T, B)
    regularisers = forward_regularisers(ws, recurrent_mask, zoneout, hidden, C, keep_tape)
    loop = (x_proj, W_hh, packed, plain, *biases, p, steps, hidden, cell_state, keep, pre)
    loops = compiled_loops(cell)
    run(parts, loops.forward_loop, *loop, *regularisers, driver=loops.forward_parts)
    out, tape = forward_tape(cell, x, hidden, cell_state, keep, lengths, keep_tape)
    regularised_tape(tape, recurrent_mask, zoneout, regularisers)
    return out, final_state(cell, hidden, cell_state), tape


def forward_regularisers(
    ws: Workspace,
    recurrent_mask: np.ndarray | None,
    zoneout: np.ndarray | None,
    hidden: np.ndarray,
    C: int,
    keep_tape: bool,
) -> tuple[np.ndarray, ...]:
    """(zone, drop, dropped, fresh_h, fresh_c), the regularisers' arrays of a forward
    loop (each empty when off): zoneout's z (T or 1, B or 1, H + C) and the step's own
    s̃_t, which the backward step reads; recurrent dropout's mask m (B, H) and
    dropped = m ⊙ h_0, W_hh's first operand. hidden (T + 1, B, H) with h_0 set."""
    T, B, H = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    dtype = hidden.dtype
    zone, drop = _regulariser(zoneout, 3, dtype), _regulariser(recurrent_mask, 2, dtype)
    dropped = drop * hidden[0] if drop.size else drop
    fresh_h = step_buffer(ws, "fresh_h", (T, B, H if zone.size else 0), dtype, keep_tape)
    fresh_c = step_buffer(ws, "fresh_c", (T, B, C if zone.size else 0), dtype, keep_tape)
    return zone, drop, dropped, fresh_h, fresh_c


def regularised_tape(
    tape: dict | None,
    recurrent_mask: np.ndarray | None,
    zoneout: np.ndarray | None,
    regularisers: tuple[np.ndarray, ...],
) -> None:
    """Put on the tape what the backward loop needs of the regularisers that are on."""
    zone, drop, _, fresh_h, fresh_c = regularisers
    if tape is not None and recurrent_mask is not None:
        tape["recurrent_mask"] = drop
    if tape is not None and zoneout is not None:
        tape |= {"zoneout": zone, "fresh_h": fresh_h, "fresh_c": fresh_c}


def backward_regularisers(ws: Workspace, tape: dict, B: int, H: int, C: int) -> tuple:
    """(zone, drop, d_dropped, fresh_h, fresh_c, d_fresh, dc_kept, dc_step): the
    regularisers' arrays of a backward loop from the tape, with their scratch (each
    empty when off)."""
    dtype = tape["hidden"].dtype
    zone = tape.get("zoneout", np.empty((0, 0, 0), dtype))
    drop = tape.get("recurrent_mask", np.empty((0, 0), dtype))
    fresh_h = tape.get("fresh_h", np.empty((0, B, H), dtype))
    fresh_c = tape.get("fresh_c", np.empty((0, B, C), dtype))
    d_fresh = ws.array("d_fresh", (B, H if zone.size else 0), dtype)
    dc_kept, dc_step = (
        ws.array(name, (B, C if zone.size else 0), dtype) for name in ("dc_kept", "dc_step")
    )
    d_dropped = ws.array("d_dropped", drop.shape, dtype)
    return zone, drop, d_dropped, fresh_h, fresh_c, d_fresh, dc_kept, dc_step


def starting_states(
    cell: Cell, state0: Any, ws: Workspace, T: int, B: int, H: int, dtype: Any, R: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """hidden (T + 1, B, R), new for every call (the output is a view of it), and the
    cell state (T + 1, B, C) from the workspace, their row 0 the given state (zeros where
    none is given, as the reference). R: h's width, H unless projected (0: H)."""
    C = H if cell.has_cell_state else 0
    hidden = np.empty((T + 1, B, R or H), dtype)
    cell_state = ws.array("cell", (T + 1, B, C), dtype)
    h0, c0 = _split_state(cell, state0)
    hidden[0] = 0 if h0 is None else h0
    if C:
        cell_state[0] = 0 if c0 is None else c0
    return hidden, cell_state


def forward_tape(
    cell: Cell,
    x: np.ndarray,
    hidden: np.ndarray,
    cell_state: np.ndarray,
    keep: np.ndarray,
    lengths: np.ndarray | None,
    keep_tape: bool,
) -> tuple[np.ndarray, dict | None]:
    """The output (T, B, H) and the tape a forward loop leaves (None without
    ``keep_tape``): the reference's arrays, the keep row's views among them."""
    out, mask = sequence_output(hidden, lengths)
    if not keep_tape:
        return out, None
    tape = {"x": x, "hidden": hidden, "mask": mask, "keep": keep}
    if cell.keep_width:  # the cell's units from keep's width: h may be projected, narrower
        tape |= keep_views(cell, keep, keep.shape[2] // cell.keep_width)
    if cell.has_cell_state:
        tape["cell"] = cell_state
    return out, tape


def final_state(cell: Cell, hidden: np.ndarray, cell_state: np.ndarray) -> Any:
    """h_T, or (h_T, c_T), copied out of the loop's arrays."""
    if cell.has_cell_state:
        return hidden[-1].copy(), cell_state[-1].copy()
    return hidden[-1].copy()


def backward(
    cell: Cell,
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: Any = None,
    workspace: Workspace | None = None,
    keep_gradients: bool = True,
    input_grad: bool = True,
    into: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray | None, dict[str, np.ndarray], Any]:
    """As ``cell.backward``; ∂L/∂h_t (and ∂L/∂c_t) stay on the tape only when
    ``keep_gradients`` is set; dx is None unless ``input_grad``; with ``into`` (a layer's
    gradient arrays by name) the weight gradients are added to them in place and returned."""
    ws = workspace or Workspace()
    x, hidden, mask, keep = tape["x"], tape["hidden"], tape["mask"], tape["keep"]
    T, B, _ = x.shape
    H, dtype = hidden.shape[2], hidden.dtype
    C, GH, own = (H if cell.has_cell_state else 0), cell.blocks * H, cell.own_blocks * H
    cell_state = tape["cell"] if C else ws.array("cell", (T + 1, B, 0), dtype)
    dh, dc = carried_gradients(cell, d_stateT, ws, B, H, dtype)
    d_pre = reuse_input_projection(ws, (T, B, GH), dtype)
    d_own = ws.array("d_own", (T, B, own), dtype)
    d_rec = ws.array("d_rec", (B, GH if 0 < own < GH else 0), dtype)  # all own: d_own itself
    d_hidden = step_buffer(ws, "d_hidden", (T, B, H), dtype, keep_gradients)
    d_cell = step_buffer(ws, "d_cell", (T, B, C), dtype, keep_gradients)
    d_out = np.ascontiguousarray(d_out, dtype=dtype)
    parts = loop_parts(B, params["W_hh"])
    W_hh = np.ascontiguousarray(params["W_hh"], dtype=dtype)
    packed, plain = recurrent_operand(W_hh, transposed=False, batch=B, parts=parts)
    steps = tape_steps(mask, T, B)
    p = own_parameters(cell, params, H, dtype)
    sums = np.zeros((parts, GH)), np.zeros((parts, own)), np.zeros((parts, *p.shape))  # float64
    records = (d_pre, d_own, d_rec, d_hidden, d_cell)
    regularisers = backward_regularisers(ws, tape, B, H, C)
    drop = regularisers[1]
    loop = (W_hh, packed, plain, steps, keep, p, hidden, cell_state, d_out, dh, dc, *records, *sums)
    loop = (*loop, *regularisers)
    loops = compiled_loops(cell)
    if drop.size:  # what W_hh multiplied: m ⊙ h_{t−1}
        hidden = hidden * drop
    if cell.recurrent and pipelines(B, W_hh, parts):
        terms = gradient_operands(params, x, hidden, d_pre, input_grad, d_own, into)
        # a cell's input_backward_step: the loop's thread runs it on the first rows, the
        # gradients' side on the others, into its own rows of the sums
        input_rows = loop_input_rows(B) if cell.input_backward_step else B
        prepare = (keep, p, d_pre, steps, input_rows, sums[0][-1], sums[2][-1])
        loop_args = (loop, (*terms, chunk_steps(B)), prepare)
        run(parts, loops.pipelined_backward, *loop_args, driver=loops.pipelined_parts)
        grads, dx = gradient_results(terms, sums[0].sum(0), sums[1].sum(0), into)
    else:
        run(parts, loops.backward_loop, B, *loop, driver=loops.backward_parts)
        del packed, plain, loop  # freed before the weight gradients' temporaries
        gradient_sums = {"bias_grad": sums[0].sum(0), "own_bias_grad": sums[1].sum(0)}
        options = {"input_grad": input_grad, "parts": parts, "into": into, **gradient_sums}
        grads, dx = weight_gradients(params, x, hidden, d_pre, d_own, **options)
    grads.update(own_parameter_grads(cell, sums[2].sum(0), dtype, into))
    return dx, grads, backward_done(cell, tape, keep_gradients, d_hidden, d_cell, dh, dc)


#: the share of the rows whose input side's backward (``Cell.input_backward_step``) a
#: pipelined backward pass runs in its loop; the gradients' side runs it on the rest. On
#: the layer-normalised LSTM at H = 128, B = 16 (2 cores) none in the loop left the
#: gradients' side the longer one, all of it the loop; a half was best (bench/results/cells.md)
LOOP_INPUT_SHARE = 0.5


def loop_input_rows(batch: int) -> int:
    """The rows b < this of a pipelined backward pass whose input side's backward its loop
    runs: a fixed share of the batch, so that the sums do not depend on timing."""
    return round(batch * LOOP_INPUT_SHARE)


def carried_gradients(
    cell: Cell, d_stateT: Any, ws: Workspace, B: int, H: int, dtype: Any, R: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """dh (B, R) and dc (B, C), the gradients a backward loop carries, from ∂L/∂s_T
    (zeros where none is given). R: h's width, H unless projected (0: H)."""
    C = H if cell.has_cell_state else 0
    dh, dc = ws.zeros("dh", (B, R or H), dtype), ws.zeros("dc", (B, C), dtype)
    dh_T, dc_T = _split_state(cell, d_stateT)
    if dh_T is not None:
        dh[...] = dh_T
    if dc_T is not None:
        dc[...] = dc_T
    return dh, dc


def tape_steps(mask: np.ndarray | None, T: int, B: int) -> np.ndarray:
    """Each sequence's length (B,) int64, from the tape's padding mask."""
    return all_steps(None if mask is None else mask[:, :, 0].sum(axis=0), T, B)


def backward_done(
    cell: Cell,
    tape: dict,
    keep_gradients: bool,
    d_hidden: np.ndarray,
    d_cell: np.ndarray,
    dh: np.ndarray,
    dc: np.ndarray,
) -> Any:
    """∂L/∂s_0 copied out of the carried gradients; ∂L/∂h_t (and ∂L/∂c_t) left on the
    tape with ``keep_gradients``."""
    if keep_gradients:
        tape["d_hidden"] = d_hidden
        if cell.has_cell_state:
            tape["d_cell"] = d_cell
    return (dh.copy(), dc.copy()) if cell.has_cell_state else dh.copy()


def _regulariser(mask: np.ndarray | None, rank: int, dtype: Any) -> np.ndarray:
    """A regulariser's array for the loops, or an empty one of its rank when it is off."""
    if mask is None:
        return np.empty((0,) * rank, dtype)
    return np.ascontiguousarray(mask, dtype)


def own_rows(cell: Cell, p: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """p (K, H) → each own parameter's rows, flattened to its (width · H,) shape."""
    pieces, start = [], 0
    for name in cell.parameters:
        width = cell.parameter_width(name)
        pieces.append((name, p[start : start + width].reshape(-1)))
        start += width
    return pieces


def compile_backward(
    cell: Cell, steps: int, batch: int, hidden_size: int, dtype: Any, proj_size: int = 0
) -> None:
    """Compile (or load from numba's cache) the loops ``backward`` runs for ``batch`` rows
    of ``hidden_size`` units in ``dtype`` (with a projection to ``proj_size``), without a
    forward pass: on a tape of zeros. The loops' types depend only on the arrays' dtypes
    and ranks, their choice on the sizes; so another process can compile them while a run
    compiles its forward loop."""
    T, B, H = steps, batch, hidden_size
    R = proj_size or H  # h's width
    GH, C = cell.blocks * H, (H if cell.has_cell_state else 0)
    params = {
        "W_ih": np.zeros((GH, H), dtype),
        "W_hh": np.zeros((GH if cell.recurrent else 0, R), dtype),
    }
    params |= {name: np.zeros(GH, dtype) for name in ("b_ih", "b_hh")}
    params |= {name: np.zeros(cell.parameter_width(name) * H, dtype) for name in cell.parameters}
    tape = {"x": np.zeros((T, B, H), dtype), "hidden": np.zeros((T + 1, B, R), dtype)}
    tape |= {"mask": None, "cell": np.zeros((T + 1, B, C), dtype)}
    tape["keep"] = np.zeros((T, B, cell.keep_width * H), dtype)
    run_backward = backward  # the others' loops are imported here: they import this module
    if proj_size:
        from rnnlab.kernels.projected import backward as run_backward

        params["W_hr"] = np.zeros((R, H), dtype)
        tape["projected"] = np.zeros((T, B, H), dtype)
    elif cell.gated_blocks:
        from rnnlab.kernels.staged import backward as run_backward

        tape["gated"] = np.zeros((T, B, H), dtype)
    into = {name: np.zeros_like(value) for name, value in params.items() if value.size}
    run_backward(cell, params, tape, np.zeros((T, B, R), dtype), keep_gradients=False, into=into)


def own_parameter_grads(
    cell: Cell, dp: np.ndarray, dtype: Any, into: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """The gradients of the cell's own parameters by name, from dp (K, H), added to
    ``into``'s where it has them."""
    grads = {}
    for name, grad in own_rows(cell, dp.astype(dtype)):
        if into is not None and name in into:
            into[name] += grad
            grad = into[name]
        grads[name] = grad
    return grads
