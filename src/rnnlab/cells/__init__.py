"""The cells: one file a cell, and the registry below, the only list of them.

Each cell file holds its equations twice, side by side: the readable NumPy reference
over a whole sequence (what learners read) and the step that the compiled loops run
(``rnnlab.cells.cell`` says what a cell gives). The CLI's ``--cell`` choices, the layers,
the web lab, the probes, the benchmark and the PyTorch interop read ``CELLS``; adding a
cell is its file, its test and one line here.
"""

from __future__ import annotations

from rnnlab.cells import (
    gru,
    gru_layer_norm,
    gru_reset_before,
    indrnn,
    layer_norm,
    lstm,
    peephole,
    rnn,
)
from rnnlab.cells.cell import Cell, TorchLayer, cell_for_layer, registry
from rnnlab.errors import ConfigError

CELLS = registry(
    rnn.RNN_TANH,
    rnn.RNN_RELU,
    lstm.LSTM,
    peephole.LSTM_PEEPHOLE,
    layer_norm.LSTM_LAYER_NORM,
    gru.GRU,
    gru_layer_norm.GRU_LAYER_NORM,
    gru_reset_before.GRU_RESET_BEFORE,
    indrnn.INDRNN_RELU,
    indrnn.INDRNN_TANH,
)

#: other names people use for a cell
ALIASES = {"rnn": "rnn_tanh", "tanh": "rnn_tanh", "relu": "rnn_relu", "indrnn": "indrnn_relu"}


def cell_named(name: str) -> Cell:
    """The registered cell called ``name`` (or one of its ``ALIASES``)."""
    cell = CELLS.get(ALIASES.get(name, name))
    if cell is None:
        raise ConfigError(
            f"cell must be one of {tuple(CELLS)} (or 'rnn' for rnn_tanh, 'indrnn' for "
            f"indrnn_relu), got {name!r}"
        )
    return cell


__all__ = ["ALIASES", "CELLS", "Cell", "TorchLayer", "cell_for_layer", "cell_named"]
