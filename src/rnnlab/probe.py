"""Look inside a recurrent network: per-step states, gates and gradients.

Everything the cells compute is on their tapes; a probe runs a layer with
``retain_tapes`` on and returns those arrays in time order, one ``LayerRecord`` per
layer and direction. After a backward pass the records also hold ∂L/∂h_t (and ∂L/∂c_t
for an LSTM), which is what the vanishing-gradient plots show.

    gradient_norms(model, inputs, targets)   (T,) ‖∂L/∂h_t‖ of a SequenceModel or LanguageModel
    log_slope(norms)                         the rate at which they shrink (< 0) or grow (> 0)
    step_jacobian(mode, params, tape, t)     ∂s_t/∂s_{t−1}, exact, from the tape (formulas there)
    layer_jacobian_log_norms(layer, x)       ln ‖∂s_T/∂s_t‖₂ for every distance T − t
    layer_saturation(layer, x)               per step, the fraction of saturated units per gate
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rnnlab.cells.masking import reverse_padded
from rnnlab.errors import ConfigError, StateError
from rnnlab.models.language import LanguageModel
from rnnlab.models.sequence import SequenceModel, split_inputs
from rnnlab.nn.losses import cross_entropy, mse
from rnnlab.nn.recurrent import RecurrentLayer

GATE_NAMES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n"), "rnn_tanh": (), "rnn_relu": ()}


@dataclass
class LayerRecord:
    """What one layer and direction computed, in time order; every array (T, B, H)."""

    layer: int
    direction: int
    hidden: np.ndarray  #: h_1 … h_T
    cell: np.ndarray | None = None  #: c_1 … c_T (LSTM)
    gates: dict[str, np.ndarray] = field(default_factory=dict)  #: after their activations
    d_hidden: np.ndarray | None = None  #: ∂L/∂h_t after a backward pass
    d_cell: np.ndarray | None = None  #: ∂L/∂c_t (LSTM) after a backward pass


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
            for i, name in enumerate(GATE_NAMES[layer.mode])
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
def _diag(v: np.ndarray) -> np.ndarray:
    """(B, H) → (B, H, H) diagonal matrices."""
    return v[:, :, None] * np.eye(v.shape[1])


def step_jacobian(mode: str, params: dict[str, np.ndarray], tape: dict, t: int) -> np.ndarray:
    """J_t = ∂s_t/∂s_{t−1} at step t = 1 … T of a cell's tape, in float64: (B, S, S).

    The state s is h for RNN and GRU (S = H) and (h, c) for the LSTM (S = 2H, h first).
    With W_· the H×H blocks of W_hh, diag(v) a diagonal matrix and every gate the one
    of step t (as the tape keeps it, after its activation):

    RNN      J = diag(act′(a_t)) W_hh,  act′ = 1 − h_t² (tanh) or [h_t > 0] (relu)
    GRU      J = diag(1 − z) + diag((n − h_{t−1}) z(1 − z)) W_z
                 + diag(z(1 − n²)) [diag(r) W_n + diag((W_n h_{t−1} + b_hn) r(1 − r)) W_r]
    LSTM     ∂c_t/∂h_{t−1} = diag(c_{t−1} f(1 − f)) W_f + diag(g i(1 − i)) W_i
                             + diag(i(1 − g²)) W_g
             ∂c_t/∂c_{t−1} = diag(f)
             ∂h_t/∂h_{t−1} = diag(tanh(c_t) o(1 − o)) W_o + diag(o(1 − tanh²c_t)) ∂c_t/∂h_{t−1}
             ∂h_t/∂c_{t−1} = diag(o(1 − tanh²c_t) f)

    At a padded step (past a sequence's length) the state is carried over: J = I.
    """
    hidden = tape["hidden"]
    T, H = hidden.shape[0] - 1, hidden.shape[2]
    if not 1 <= t <= T:
        raise ConfigError(f"t must be in 1 … {T}, got {t}")
    W = params["W_hh"].astype(np.float64)
    h_prev, h = hidden[t - 1].astype(np.float64), hidden[t].astype(np.float64)
    if mode in ("rnn_tanh", "rnn_relu"):
        slope = 1 - h**2 if mode == "rnn_tanh" else (h > 0).astype(np.float64)
        J = slope[:, :, None] * W
    elif mode == "gru":
        r, z, n = (
            tape["gates"][t - 1, :, k * H : (k + 1) * H].astype(np.float64) for k in range(3)
        )
        hn = tape["hidden_n"][t - 1].astype(np.float64)
        W_r, W_z, W_n = W[:H], W[H : 2 * H], W[2 * H :]
        dn = z * (1 - n**2)
        J = (
            _diag(1 - z)
            + ((n - h_prev) * z * (1 - z))[:, :, None] * W_z
            + dn[:, :, None] * (r[:, :, None] * W_n + (hn * r * (1 - r))[:, :, None] * W_r)
        )
    elif mode == "lstm":
        i, f, g, o = (
            tape["gates"][t - 1, :, k * H : (k + 1) * H].astype(np.float64) for k in range(4)
        )
        cell = tape["cell"]
        c_prev, tanh_c = cell[t - 1].astype(np.float64), np.tanh(cell[t].astype(np.float64))
        W_i, W_f, W_g, W_o = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
        dc_dh = (
            (c_prev * f * (1 - f))[:, :, None] * W_f
            + (g * i * (1 - i))[:, :, None] * W_i
            + (i * (1 - g**2))[:, :, None] * W_g
        )
        k = o * (1 - tanh_c**2)
        dh_dh = (tanh_c * o * (1 - o))[:, :, None] * W_o + k[:, :, None] * dc_dh
        J = np.concatenate(
            [
                np.concatenate([dh_dh, _diag(k * f)], axis=2),
                np.concatenate([dc_dh, _diag(f)], axis=2),
            ],
            axis=1,
        )
    else:
        raise ConfigError(f"mode must be one of {tuple(GATE_NAMES)}, got {mode!r}")
    mask = tape.get("mask")
    if mask is not None:
        J = np.where(mask[t - 1][:, :, None], J, np.eye(J.shape[1]))
    return J


def jacobian_log_norms(
    mode: str, params: dict[str, np.ndarray], tape: dict, block: str = "state"
) -> np.ndarray:
    """(T + 1, B): ln ‖∂s_T/∂s_{T−d}‖₂ for d = 0 … T (the spectral norm, per sequence).

    ∂s_T/∂s_t = J_T J_{T−1} ⋯ J_{t+1}, built from t = T down; the product is rescaled
    after every step and its scale kept as a logarithm, so thousands of steps neither
    underflow nor overflow. ``block="hidden"`` takes ∂h_T/∂h_t (the h rows and columns;
    for the LSTM, at fixed c_t); ``"state"`` the whole of ∂s_T/∂s_t.
    """
    if block not in ("state", "hidden"):
        raise ConfigError(f"block must be 'state' or 'hidden', got {block!r}")
    hidden = tape["hidden"]
    T, B, H = hidden.shape[0] - 1, hidden.shape[1], hidden.shape[2]
    S = 2 * H if mode == "lstm" else H
    size = H if block == "hidden" else S
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
SIGMOID_GATES = ("i", "f", "o", "r", "z")
TANH_GATES = ("g", "n")


def saturation(
    rec: LayerRecord, mode: str, tanh_limit: float = 0.99, sigmoid_range: tuple = (0.01, 0.99)
) -> dict[str, np.ndarray]:
    """Per step, the fraction of units that are saturated: name → (T,).

    σ gates (i, f, o; r, z): outside ``sigmoid_range``; tanh gates (g, n), the LSTM's
    tanh(c_t) and a tanh RNN's h_t: |value| > ``tanh_limit``; a ReLU RNN's h_t: dead
    (= 0). Saturated units pass almost no gradient (σ′ < 0.01, tanh′ < 0.02).
    Averaged over units and the batch (padded steps included).
    """
    low, high = sigmoid_range
    stats = {}
    for name, values in rec.gates.items():
        if name in TANH_GATES:
            stats[name] = (np.abs(values) > tanh_limit).mean(axis=(1, 2))
        else:
            stats[name] = ((values < low) | (values > high)).mean(axis=(1, 2))
    if mode == "lstm":
        stats["tanh(c)"] = (np.abs(np.tanh(rec.cell)) > tanh_limit).mean(axis=(1, 2))
    elif mode == "rnn_tanh":
        stats["h"] = (np.abs(rec.hidden) > tanh_limit).mean(axis=(1, 2))
    elif mode == "rnn_relu":
        stats["h = 0"] = (rec.hidden <= 0).mean(axis=(1, 2))
    return stats


def layer_saturation(layer: RecurrentLayer, x: np.ndarray | None = None) -> list[dict]:
    """``saturation`` of every record of ``layer`` (after running it on ``x`` if given)."""
    records = record(layer, x) if x is not None else layer_records(layer)
    return [saturation(r, layer.mode) for r in records]
