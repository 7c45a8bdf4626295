"""Zoneout (Krueger et al. 2016) around any cell: each unit keeps its previous value with
probability p instead of taking the new one.

    s_t = z_t ⊙ s_{t−1} + (1 − z_t) ⊙ s̃_t,     s̃_t = the cell's step from s_{t−1}

for each part of the state (h, and c for a cell that has one). In training z_t is drawn
afresh at every step for every unit (1 with probability p); at evaluation z_t = p, the
expectation. Like dropout it keeps units from co-adapting, but what is dropped is the
update, so the state and its gradient still flow through time: ∂s_t/∂s_{t−1} gains
the identity path z_t.

``zoneout`` arrays are (T, B, S), S = H for h then H for c (P + H for an LSTM whose h
is projected to P), or (1, 1, S) for the same
z at every step and sequence (evaluation). The reference here runs the cell one step
at a time and mixes, the same for every cell; the compiled loops mix inside
(``rnnlab.kernels.loops``).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from rnnlab.cells.cell import Cell
from rnnlab.cells.masking import step_mask


def keeps(zoneout: np.ndarray, t: int, widths: list[int]) -> list[np.ndarray]:
    """z_t of each part of the state, (B or 1, width) each: the row holds h's then c's
    (an LSTM with a projection has h narrower than c)."""
    row = zoneout[t if zoneout.shape[0] > 1 else 0]
    edges = np.cumsum([0, *widths])
    return [row[:, start:stop] for start, stop in pairwise(edges)]


def _parts(cell: Cell, state: Any) -> list[np.ndarray]:
    return list(state) if cell.has_cell_state else [state]


def _state(cell: Cell, parts: list[Any]) -> Any:
    return tuple(parts) if cell.has_cell_state else parts[0]


def forward(
    cell: Cell,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state0: Any,
    lengths: np.ndarray | None,
    zoneout: np.ndarray,
    recurrent_mask: np.ndarray | None = None,
) -> tuple[np.ndarray, Any, dict]:
    """``cell.forward`` with zoneout: x (T, B, I), state0 as the cell's, zoneout (T or 1,
    B or 1, S) → out (T, B, R) (R = h's width), the final state, and a tape that holds
    each step's own (``steps``) and, stacked over time, the arrays the probes read."""
    T, B, _ = x.shape
    mask = step_mask(lengths, T, B)
    first = _parts(cell, state0)
    widths = [part.shape[-1] for part in first]
    states = [np.empty((T + 1, *part.shape), dtype=x.dtype) for part in first]
    for series, part in zip(states, first, strict=True):
        series[0] = part
    steps = []
    for t in range(T):
        previous = [series[t] for series in states]
        _, fresh, tape = cell.forward(
            params, x[t : t + 1], _state(cell, previous), recurrent_mask=recurrent_mask
        )
        for series, z, prev, new in zip(
            states, keeps(zoneout, t, widths), previous, _parts(cell, fresh), strict=True
        ):
            mixed = z * prev + (1 - z) * new  # s_t = z ⊙ s_{t−1} + (1 − z) ⊙ s̃_t
            series[t + 1] = mixed if mask is None else np.where(mask[t], mixed, prev)
        tape["fresh"] = _parts(cell, fresh)  # s̃_t, the step's own
        steps.append(tape)
    hidden = states[0]
    out = hidden[1:] if mask is None else np.where(mask, hidden[1:], 0)
    tape = {"x": x, "hidden": hidden, "mask": mask, "zoneout": zoneout, "steps": steps}
    if cell.has_cell_state:
        tape["cell"] = states[1]
    for name, value in steps[0].items():  # the gates and the rest of a step, over time
        if name not in tape and isinstance(value, np.ndarray) and value.shape[:1] == (1,):
            tape[name] = np.concatenate([step[name] for step in steps])
    tape["recurrent_mask"] = recurrent_mask
    for k, name in enumerate(("fresh_h", "fresh_c")[: len(states)]):  # s̃_t (T, B, ·)
        tape[name] = np.stack([step["fresh"][k] for step in steps])
    return out, _state(cell, [series[T].copy() for series in states]), tape


def backward(
    cell: Cell,
    params: dict[str, np.ndarray],
    tape: dict,
    d_out: np.ndarray,
    d_stateT: Any = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], Any]:
    """``cell.backward`` through ``forward``'s tape: each step's ∂L/∂s_t splits into
    (1 − z_t) ⊙ ∂L/∂s_t for the cell's step and z_t ⊙ ∂L/∂s_t straight to s_{t−1}.
    Leaves ``tape["d_hidden"]`` (and ``tape["d_cell"]``) = ∂L/∂s_t of the mixed states."""
    x, hidden, mask, zoneout = tape["x"], tape["hidden"], tape["mask"], tape["zoneout"]
    T, B, _ = x.shape
    series = [hidden, tape["cell"]] if cell.has_cell_state else [hidden]  # (T + 1, B, ·)
    widths = [states.shape[2] for states in series]
    given = _parts(cell, d_stateT) if d_stateT is not None else [None] * len(series)
    d_state = [
        np.zeros_like(states[0]) if d is None else d.astype(x.dtype)
        for states, d in zip(series, given, strict=True)
    ]
    grads = {name: np.zeros_like(value) for name, value in params.items()}
    dx = np.empty_like(x)
    d_series = [np.empty_like(states[1:]) for states in series]  # ∂L/∂h_t (and ∂L/∂c_t)
    no_output = np.zeros((1, B, hidden.shape[2]), x.dtype)
    for t in reversed(range(T)):
        d_state[0] = d_state[0] + (d_out[t] if mask is None else np.where(mask[t], d_out[t], 0))
        for record, d in zip(d_series, d_state, strict=True):
            record[t] = d
        z = keeps(zoneout, t, widths)
        d_fresh = [(1 - z_k) * d for z_k, d in zip(z, d_state, strict=True)]
        d_kept = [z_k * d for z_k, d in zip(z, d_state, strict=True)]
        if mask is not None:  # a padded step carried the state: all of it goes back
            d_fresh = [np.where(mask[t], d, 0) for d in d_fresh]
            d_kept = [np.where(mask[t], k, d) for k, d in zip(d_kept, d_state, strict=True)]
        d_x, step_grads, d_prev = cell.backward(
            params, tape["steps"][t], no_output, _state(cell, d_fresh)
        )
        dx[t] = d_x[0]
        d_state = [k + d for k, d in zip(d_kept, _parts(cell, d_prev), strict=True)]
        for name, grad in step_grads.items():
            grads[name] += grad
    tape["d_hidden"] = d_series[0]
    if cell.has_cell_state:  # the mixed c_t's: it reaches the loss through later steps only
        tape["d_cell"] = d_series[1]
    return dx, grads, _state(cell, d_state)
