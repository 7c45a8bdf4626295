"""Sizes bounded before anything is allocated: estimates of what a model and a training
step need, checked against the memory this machine has.

The estimates count the large arrays only (parameters, their gradients and optimiser
slots; a step's tape and logits), so they are a lower bound of what a run needs: a run
they refuse could not have fitted. A checkpoint's configuration is also checked against
the size of the tensors the file really holds, before the model it describes is built.
"""

from __future__ import annotations

import os
from typing import Any

from rnnlab.cells import cell_named
from rnnlab.errors import ConfigError

#: at most this fraction of the available memory is planned for one process
SHARE = 0.8
#: slots an optimiser keeps per parameter at most (Adam: m and v)
OPTIMIZER_SLOTS = 2


def available_bytes() -> int:
    """The memory this process can still use: Linux's MemAvailable, else all of RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 1 << 40  # unknown: let the allocator decide


def human(nbytes: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} bytes" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_fits(nbytes: int, what: str, hint: str) -> None:
    """ConfigError unless ``nbytes`` fit in this machine's available memory (its share)."""
    limit = int(available_bytes() * SHARE)
    if nbytes > limit:
        raise ConfigError(
            f"{what} needs at least {human(nbytes)}, but this machine has {human(limit)} "
            f"to spare; {hint}"
        )


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
    direction's W_ih (G·H, I), W_hh (G·H, H), two biases and the cell's own vectors, and
    the output layer."""
    cell = cell_named(config.cell)
    width, inputs, outputs, directions = _sizes(config)
    H = config.hidden_size
    embedding = inputs * config.embedding_dim if config.embedding_dim else 0

    def layer(fan_in: int) -> int:  # both directions
        return directions * (cell.blocks * H * (fan_in + H + 2) + len(cell.parameters) * H)

    stack = layer(width) + (config.num_layers - 1) * layer(directions * H)
    return embedding + stack + outputs * (directions * H + 1)


def model_bytes(config: Any) -> int:
    """Bytes of the parameters of the model a config describes."""
    return parameter_count(config) * _itemsize(config)


def training_bytes(config: Any, batch_size: int, seq_len: int) -> int:
    """Bytes a training step of this model needs at least: parameters, gradients and
    optimiser slots, and for B×T tokens the tape (each layer's gates and states) and the
    logits with their gradient."""
    cell = cell_named(config.cell)
    _, _, outputs, directions = _sizes(config)
    tokens = batch_size * seq_len
    per_token = config.num_layers * directions * config.hidden_size
    per_token *= cell.blocks + len(cell.states) + 1
    per_token += 2 * outputs
    weights = (2 + OPTIMIZER_SLOTS) * parameter_count(config)
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
