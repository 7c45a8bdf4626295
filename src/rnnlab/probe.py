"""Look inside a recurrent network: per-step states, gates and gradients.

Everything the cells compute is on their tapes; a probe runs a layer with
``retain_tapes`` on and returns those arrays in time order, one ``LayerRecord`` per
layer and direction. After a backward pass the records also hold ∂L/∂h_t (and ∂L/∂c_t
for an LSTM), which is what the vanishing-gradient plots show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.cells.masking import reverse_padded
from rnnlab.errors import ConfigError, StateError
from rnnlab.nn.losses import cross_entropy
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
