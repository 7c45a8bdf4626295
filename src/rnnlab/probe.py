"""Look inside a recurrent network: per-step states, gates and gradients.

Everything the cells compute is on their tapes; a probe runs a layer with
``retain_tapes`` on and returns those arrays in time order, one ``LayerRecord`` per
layer and direction. After a backward pass the records also hold ∂L/∂h_t (and ∂L/∂c_t
for an LSTM), which is what the vanishing-gradient plots show.

    gradient_norms(model, inputs, targets)   (T,) ‖∂L/∂h_t‖ of a SequenceModel or LanguageModel
    log_slope(norms)                         the rate at which they shrink (< 0) or grow (> 0)
    step_jacobian(mode, params, tape, t)     ∂s_t/∂s_{t−1}, exact, from the tape
    layer_jacobian_log_norms(layer, x)       ln ‖∂s_T/∂s_t‖₂ for every distance T − t
    layer_saturation(layer, x)               per step, the fraction of saturated units per gate
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rnnlab.cells import Cell, cell_named
from rnnlab.cells.masking import reverse_padded
from rnnlab.errors import ConfigError, StateError
from rnnlab.models.language import LanguageModel
from rnnlab.models.sequence import SequenceModel, split_inputs
from rnnlab.nn.losses import cross_entropy, mse
from rnnlab.nn.recurrent import RecurrentLayer


@dataclass
class LayerRecord:
    """What one layer and direction computed, in time order; every array (T, B, ·): H
    wide, but h and ∂L/∂h_t P wide for an LSTM projected to P (``kept["projected"]``
    holds its H-wide h̃_t)."""

    layer: int
    direction: int
    hidden: np.ndarray  #: h_1 … h_T
    cell: np.ndarray | None = None  #: c_1 … c_T (LSTM)
    gates: dict[str, np.ndarray] = field(default_factory=dict)  #: after their activations
    d_hidden: np.ndarray | None = None  #: ∂L/∂h_t after a backward pass
    d_cell: np.ndarray | None = None  #: ∂L/∂c_t (LSTM) after a backward pass
    #: the rest of what the cell keeps on its tape (``Cell.keep`` but the gates), (T, B,
    #: width · H) each: the layer-normalised LSTM's û, v̂, ĉ and 1/σ's
    kept: dict[str, np.ndarray] = field(default_factory=dict)


def _time_order(array: np.ndarray | None, direction: int, lengths: np.ndarray | None) -> Any:
    if array is None or direction == 0:
        return array
    return reverse_padded(array, lengths)


def layer_records(layer: RecurrentLayer) -> list[LayerRecord]:
    """The records of the layer's last call (``layer.retain_tapes`` must have been on)."""
    if layer.last_tapes is None:
        raise StateError(
            "the layer kept no tapes: set layer.retain_tapes = True, then call the layer"
        )
    H, D, lengths = layer.hidden_size, layer.num_directions, layer.last_lengths
    records = []
    for k, tape in enumerate(layer.last_tapes):
        direction = k % D
        order = lambda a, d=direction: _time_order(a, d, lengths)  # noqa: E731
        gates = {
            name: order(tape["gates"][:, :, i * H : (i + 1) * H])
            for i, name in enumerate(cell_named(layer.mode).gates)
        }
        records.append(
            LayerRecord(
                layer=k // D,
                direction=direction,
                hidden=order(tape["hidden"][1:]),
                cell=order(tape["cell"][1:]) if "cell" in tape else None,
                gates=gates,
                d_hidden=order(tape.get("d_hidden")),
                d_cell=order(tape.get("d_cell")),
                kept={
                    name: order(tape[name])
                    for name in [n for n, _ in cell_named(layer.mode).keep] + ["gated", "projected"]
                    if name != "gates" and name in tape
                },
            )
        )
    return records


def record(layer: RecurrentLayer, x: np.ndarray, state: Any = None, lengths: Any = None) -> list:
    """Run ``layer`` on x (its own layout) and return its LayerRecords (forward only)."""
    layer.retain_tapes = True
    try:
        layer(x, state, lengths)
    finally:
        layer.retain_tapes = False
    return layer_records(layer)


def language_model_gradient_norms(
    model: Any, ids: np.ndarray, targets: np.ndarray, at: str = "last"
) -> list[LayerRecord]:
    """Records of a LanguageModel after the backward pass of its cross-entropy loss.

    ids, targets: (T, B). ``at="last"`` puts the loss on the last step only, so that
    ‖∂L/∂h_t‖ over t shows how far back the error signal reaches; ``at="all"`` uses the
    loss of every step, as in training. The model's gradients are left untouched.
    """
    rnn = model.rnn
    saved = {name: grad.copy() for name, grad in model.grads.items()}
    rnn.retain_tapes = True
    try:
        logits, _ = model(ids)
        mask = np.zeros(targets.shape, bool)
        if at == "last":
            mask[-1] = True
        elif at == "all":
            mask[:] = True
        else:
            raise ConfigError(f"at must be 'last' or 'all', got {at!r}")
        _, d_logits = cross_entropy(logits, targets, mask=mask)
        model.backward(d_logits)
        return layer_records(rnn)
    finally:
        rnn.retain_tapes = False
        for name, grad in model.grads.items():
            grad[...] = saved[name]


def step_norms(array: np.ndarray) -> np.ndarray:
    """(T, B, H) → (T,): the L2 norm over units, averaged over the batch."""
    return np.linalg.norm(array, axis=-1).mean(axis=-1)


# -- ∂L/∂h_t of any model ------------------------------------------------------------
def _detached(records: list[LayerRecord]) -> list[LayerRecord]:
    """Copies: the kernels reuse their buffers from call to call."""
    return [
        replace(
            r,
            hidden=r.hidden.copy(),
            cell=None if r.cell is None else r.cell.copy(),
            gates={name: g.copy() for name, g in r.gates.items()},
            kept={name: k.copy() for name, k in r.kept.items()},
            d_hidden=None if r.d_hidden is None else r.d_hidden.copy(),
            d_cell=None if r.d_cell is None else r.d_cell.copy(),
        )
        for r in records
    ]


def _check_at(at: str) -> None:
    if at not in ("last", "all"):
        raise ConfigError(f"at must be 'last' or 'all', got {at!r}")


def sequence_model_gradient_records(
    model: SequenceModel, inputs: Any, targets: np.ndarray, at: str = "last"
) -> list[LayerRecord]:
    """Records of a SequenceModel after the backward pass of its loss (MSE or cross-entropy).

    inputs: x (T, B, F), ids (T, B) or (x, lengths); targets as ``compute_loss`` takes
    them. With the "last" and "mean" readouts the loss is the model's own, on the readout;
    with "all", ``at="last"`` keeps only each sequence's last valid step (so ‖∂L/∂h_t‖
    over t shows how far back one error reaches) and ``at="all"`` every step.
    The model's gradients are left untouched.
    """
    _check_at(at)
    rnn = model.rnn
    saved = {name: grad.copy() for name, grad in model.grads.items()}
    rnn.retain_tapes = True
    try:
        outputs, _ = model(inputs)
        _, lengths = split_inputs(inputs)
        mask = None
        if model.config.readout == "all":
            T, B = outputs.shape[:2]
            last = np.full(B, T - 1) if lengths is None else np.asarray(lengths) - 1
            steps = np.arange(T)[:, None]
            mask = steps == last[None, :] if at == "last" else steps <= last[None, :]
        if model.config.task == "regression":
            expected = np.asarray(targets, dtype=outputs.dtype).reshape(outputs.shape)
            _, d_outputs = mse(outputs, expected, mask=mask)
        else:
            _, d_outputs = cross_entropy(outputs, np.asarray(targets), mask=mask)
        model.backward(d_outputs)
        return _detached(layer_records(rnn))
    finally:
        rnn.retain_tapes = False
        for name, grad in model.grads.items():
            grad[...] = saved[name]


def gradient_records(
    model: Any, inputs: Any, targets: np.ndarray, at: str = "last"
) -> list[LayerRecord]:
    """∂L/∂h_t (and everything else) for a LanguageModel or a SequenceModel; see the two."""
    if isinstance(model, LanguageModel):
        return _detached(language_model_gradient_norms(model, inputs, targets, at))
    if isinstance(model, SequenceModel):
        return sequence_model_gradient_records(model, inputs, targets, at)
    raise ConfigError(
        f"model must be a LanguageModel or a SequenceModel, got {type(model).__name__}"
    )


def gradient_norms(
    model: Any, inputs: Any, targets: np.ndarray, at: str = "last", layer: int = -1
) -> np.ndarray:
    """(T,): ‖∂L/∂h_t‖ for t = 1 … T, averaged over the batch, of one layer (forward
    direction; default the top one), for any LanguageModel or SequenceModel."""
    records = [r for r in gradient_records(model, inputs, targets, at) if r.direction == 0]
    return step_norms(records[layer].d_hidden)


def log_slope(norms: np.ndarray) -> float:
    """Least-squares slope of ln norms[d] against d (d = 0, 1, …, distance in steps).

    Negative: the norms shrink by a factor exp(slope) per step (vanishing); positive:
    they grow (exploding). Zero or non-finite values are left out of the fit.
    """
    norms = np.asarray(norms, dtype=np.float64)
    distance = np.arange(len(norms), dtype=np.float64)
    keep = np.isfinite(norms) & (norms > 0)
    if keep.sum() < 2:
        raise ConfigError("log_slope needs at least two positive finite values")
    return float(np.polyfit(distance[keep], np.log(norms[keep]), 1)[0])


# -- Jacobians ∂s_t/∂s_{t−1} and their products ---------------------------------------
def _one_step_tape(cell: Cell, tape: dict, t: int, copies: int, I: int) -> dict:
    """The reference tape of step t alone, each sequence repeated ``copies`` times, in
    float64: what ``cell.backward`` needs to take a gradient back through that step."""
    B = tape["hidden"].shape[1]
    rows = lambda a: np.repeat(a.astype(np.float64), copies, axis=1)  # noqa: E731
    zoned = "zoneout" in tape  # the step's own output is s̃_t, before the mixing
    one = {
        "x": np.zeros((1, B * copies, I)),
        "mask": None,
        "hidden": rows(tape["hidden"][t - 1 : t + 1]),
    }
    if zoned:
        one["hidden"][1] = rows(tape["fresh_h"][t - 1 : t])[0]
    if cell.has_cell_state:
        one["cell"] = rows(tape["cell"][t - 1 : t + 1])
        if zoned:
            one["cell"][1] = rows(tape["fresh_c"][t - 1 : t])[0]
    for name, _ in cell.keep:
        one[name] = rows(tape[name][t - 1 : t])
    if cell.gated_blocks:  # g_t, what the last blocks' product read
        one["gated"] = rows(tape["gated"][t - 1 : t])
    if "projected" in tape:  # h̃_t, what the projection read
        one["projected"] = rows(tape["projected"][t - 1 : t])
    if tape.get("recurrent_mask") is not None:  # (B, R): one mask per sequence
        one["recurrent_mask"] = np.repeat(tape["recurrent_mask"].astype(np.float64), copies, 0)
    return one


def _state_width(cell: Cell, tape: dict) -> int:
    """S, the width of the state s = h or (h, c) on ``tape``."""
    return tape["hidden"].shape[2] + (tape["cell"].shape[2] if cell.has_cell_state else 0)


def step_jacobian(mode: str, params: dict[str, np.ndarray], tape: dict, t: int) -> np.ndarray:
    """J_t = ∂s_t/∂s_{t−1} at step t = 1 … T of a cell's tape, in float64: (B, S, S).

    The state s is h (S = H), or (h, c) for a cell with a cell state (S = 2H, h first;
    S = P + H with an LSTM's projection, h being P wide).
    Row k of J is the gradient that the cell's backward pass takes back through step t
    from a loss that is s_t's k-th entry, so one reference backward pass over a batch of
    B·S copies of step t gives every row, for every cell, exactly (in float64).
    At a padded step (past a sequence's length) the state is carried over: J = I. Under
    zoneout J = diag(z_t) + diag(1 − z_t) J̃, J̃ the step's own Jacobian; under recurrent
    dropout the step reads the tape's mask.
    """
    cell = cell_named(mode)
    hidden = tape["hidden"]
    T, B, R = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    if not 1 <= t <= T:
        raise ConfigError(f"t must be in 1 … {T}, got {t}")
    S = _state_width(cell, tape)
    params64 = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    one = _one_step_tape(cell, tape, t, S, params64["W_ih"].shape[1])
    units = np.tile(np.eye(S), (B, 1))  # row b·S + k: the loss s_t[k] of sequence b
    d_state = (units[:, :R], units[:, R:]) if cell.has_cell_state else units
    _, _, d_state0 = cell.backward(params64, one, np.zeros((1, B * S, R)), d_state)
    rows = np.concatenate(d_state0, axis=1) if cell.has_cell_state else d_state0
    J = rows.reshape(B, S, S)
    if "zoneout" in tape:  # s_t = z ⊙ s_{t−1} + (1 − z) ⊙ s̃_t: J = diag(z) + (1 − z) J̃
        z = tape["zoneout"]
        z = np.broadcast_to(z[t - 1 if z.shape[0] > 1 else 0], (B, S)).astype(np.float64)
        J = z[:, :, None] * np.eye(S) + (1 - z)[:, :, None] * J
    mask = tape.get("mask")
    if mask is not None:
        J = np.where(mask[t - 1][:, :, None], J, np.eye(S))
    return J


def jacobian_log_norms(
    mode: str, params: dict[str, np.ndarray], tape: dict, block: str = "state"
) -> np.ndarray:
    """(T + 1, B): ln ‖∂s_T/∂s_{T−d}‖₂ for d = 0 … T (the spectral norm, per sequence).

    ∂s_T/∂s_t = J_T J_{T−1} ⋯ J_{t+1}, built from t = T down; the product is rescaled
    after every step and its scale kept as a logarithm, so thousands of steps neither
    underflow nor overflow. ``block="hidden"`` takes ∂h_T/∂h_t (the h rows and columns;
    for a cell with a cell state, at fixed c_t); ``"state"`` the whole of ∂s_T/∂s_t.
    """
    if block not in ("state", "hidden"):
        raise ConfigError(f"block must be 'state' or 'hidden', got {block!r}")
    hidden = tape["hidden"]
    T, B, R = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    S = _state_width(cell_named(mode), tape)
    params = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    size = R if block == "hidden" else S
    product = np.broadcast_to(np.eye(S), (B, S, S)).copy()
    log_scale = np.zeros(B)
    out = np.empty((T + 1, B))
    out[0] = 0.0
    for d in range(1, T + 1):
        product = product @ step_jacobian(mode, params, tape, T - d + 1)
        scale = np.linalg.norm(product, axis=(1, 2))
        scale = np.where(scale > 0, scale, 1.0)
        product /= scale[:, None, None]
        log_scale += np.log(scale)
        with np.errstate(divide="ignore"):
            spectral = np.log(np.linalg.norm(product[:, :size, :size], ord=2, axis=(1, 2)))
        out[d] = log_scale + spectral
    return out


def layer_jacobian_log_norms(
    layer: RecurrentLayer, x: np.ndarray | None = None, index: int = 0, block: str = "state"
) -> np.ndarray:
    """``jacobian_log_norms`` of one cell of ``layer`` (index = layer · D + direction),
    after running the layer on ``x`` (or from its last call with ``retain_tapes`` on).
    Reverse directions count steps in their own (reversed) order."""
    if x is not None:
        record(layer, x)
    if layer.last_tapes is None:
        raise StateError("the layer kept no tapes: pass x, or call it with retain_tapes on")
    if not 0 <= index < len(layer.last_tapes):
        raise ConfigError(f"index must be in [0, {len(layer.last_tapes)}), got {index}")
    D = layer.num_directions
    params = layer.cell_params(index // D, index % D)
    return jacobian_log_norms(layer.mode, params, layer.last_tapes[index], block)


# -- saturation -----------------------------------------------------------------------
def saturation(
    rec: LayerRecord, mode: str, tanh_limit: float = 0.99, sigmoid_range: tuple = (0.01, 0.99)
) -> dict[str, np.ndarray]:
    """Per step, the fraction of units that are saturated: name → (T,).

    σ gates (i, f, o; r, z): outside ``sigmoid_range``; tanh gates (g, n), the LSTM's
    tanh(c_t) and a tanh RNN's h_t: |value| > ``tanh_limit``; a ReLU RNN's h_t: dead
    (= 0). Saturated units pass almost no gradient (σ′ < 0.01, tanh′ < 0.02). Which
    activation each has is the cell's (``Cell.activations``). Averaged over units and the
    batch (padded steps included).
    """
    activations = cell_named(mode).activations
    low, high = sigmoid_range
    stats = {}
    for name, values in rec.gates.items():
        if activations[name] == "tanh":
            stats[name] = (np.abs(values) > tanh_limit).mean(axis=(1, 2))
        else:
            stats[name] = ((values < low) | (values > high)).mean(axis=(1, 2))
    if activations.get("c") == "tanh":
        stats["tanh(c)"] = (np.abs(np.tanh(rec.cell)) > tanh_limit).mean(axis=(1, 2))
    if activations.get("h") == "tanh":
        stats["h"] = (np.abs(rec.hidden) > tanh_limit).mean(axis=(1, 2))
    elif activations.get("h") == "relu":
        stats["h = 0"] = (rec.hidden <= 0).mean(axis=(1, 2))
    return stats


def layer_saturation(layer: RecurrentLayer, x: np.ndarray | None = None) -> list[dict]:
    """``saturation`` of every record of ``layer`` (after running it on ``x`` if given)."""
    records = record(layer, x) if x is not None else layer_records(layer)
    return [saturation(r, layer.mode) for r in records]
