"""What a model and its training need, from its configuration alone (before anything is
allocated): parameter counts, bytes, and the checks against the free memory.

The estimates count the large arrays only (parameters, their gradients and optimiser
slots; a step's tape and logits), so they are a lower bound of what a run needs: a run
they refuse could not have fitted. ``rnnlab.io`` also checks a checkpoint's
configuration against the size of the tensors the file really holds.
"""

from __future__ import annotations

from typing import Any

from rnnlab.cells import cell_named
from rnnlab.memory import check_fits

#: slots an optimiser keeps per parameter at most (Adam: m and v)
OPTIMIZER_SLOTS = 2


def _itemsize(config: Any) -> int:
    return 8 if str(getattr(config, "dtype", "float32")) == "float64" else 4


def _sizes(config: Any) -> tuple[int, int, int, int]:
    """(input width, vocabulary or input size, output size, directions) of a model config
    (``LanguageModelConfig`` or ``SequenceModelConfig``)."""
    vocab = getattr(config, "vocab_size", None)
    inputs = vocab if vocab is not None else config.input_size
    outputs = vocab if vocab is not None else config.output_size
    directions = 2 if getattr(config, "bidirectional", False) else 1
    return config.embedding_dim or inputs, inputs, outputs, directions


def parameter_count(config: Any) -> int:
    """The parameters of the model a config describes: embedding, each layer and
    direction's W_ih (G·H, I), W_hh (G·H, R) and b_hh where the cell has them, b_ih, the
    cell's own vectors and the projection W_hr (R, H) where there is one (R = proj_size,
    else H), and the output layer."""
    if hasattr(config, "parameter_count"):  # a config that counts its own (Seq2SeqConfig)
        return int(config.parameter_count())
    cell = cell_named(config.cell)
    width, inputs, outputs, directions = _sizes(config)
    H = config.hidden_size
    R = getattr(config, "proj_size", 0) or H
    embedding = inputs * config.embedding_dim if config.embedding_dim else 0

    def layer(fan_in: int) -> int:  # both directions
        recurrent = R + 1 if cell.recurrent else 0  # W_hh's row and b_hh's entry
        projection = R * H if R != H else 0
        own = cell.parameter_rows * H
        return directions * (cell.blocks * H * (fan_in + 1 + recurrent) + own + projection)

    stack = layer(width) + (config.num_layers - 1) * layer(directions * R)
    return embedding + stack + outputs * (directions * R + 1)


def model_bytes(config: Any) -> int:
    """Bytes of the parameters of the model a config describes."""
    return parameter_count(config) * _itemsize(config)


def training_bytes(config: Any, batch_size: int, seq_len: int) -> int:
    """Bytes a training step of this model needs at least: parameters, gradients and
    optimiser slots, and for B×T tokens the tape (each layer's gates and states, with
    zoneout's draws and the step's own states, recurrent dropout's masked states, a
    staged cell's g_t, a projection's h̃_t) and the logits with their gradient."""
    tokens = batch_size * seq_len
    weights = (2 + OPTIMIZER_SLOTS) * parameter_count(config)
    if hasattr(config, "numbers_per_token"):  # a config that counts its own (Seq2SeqConfig)
        return (weights + tokens * int(config.numbers_per_token())) * _itemsize(config)
    cell = cell_named(config.cell)
    _, _, outputs, directions = _sizes(config)
    H = config.hidden_size
    R = getattr(config, "proj_size", 0) or H  # h's width
    C = H if cell.has_cell_state else 0
    numbers = cell.blocks * H + C + R + R  # per token: gates, c, h and the input (as h)
    if getattr(config, "zoneout", 0) > 0:  # the draws z_t and the step's own s̃_t
        numbers += 2 * (R + C)
    if getattr(config, "recurrent_dropout", 0) > 0:  # m ⊙ h_{t−1} for W_hh's gradient
        numbers += R
    numbers += H if cell.gated_blocks else 0  # g_t
    numbers += H if R != H else 0  # h̃_t
    per_token = config.num_layers * directions * numbers + 2 * outputs
    return (weights + tokens * per_token) * _itemsize(config)


def check_model_fits(config: Any) -> None:
    """ConfigError, before anything is allocated, if the model's parameters cannot fit."""
    check_fits(
        model_bytes(config),
        f"a {config.num_layers}×{config.hidden_size} {cell_named(config.cell).title} model "
        f"({parameter_count(config):,} parameters)",
        "choose a smaller hidden size, fewer layers or a smaller vocabulary",
    )


def check_training_fits(config: Any, batch_size: int, seq_len: int) -> None:
    """ConfigError if a training step of this model at batch × seq_len cannot fit."""
    check_fits(
        training_bytes(config, batch_size, seq_len),
        f"training a {config.num_layers}×{config.hidden_size} model on batches of "
        f"{batch_size}×{seq_len}",
        "choose a smaller --hidden, --batch or --seq-len",
    )
