"""Moving weights (and gradients) between rnnlab and PyTorch.

Parameter names and shapes are the same on both sides. The one difference is the GRU
update gate: rnnlab writes h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n, PyTorch
h_t = (1 − z') ⊙ n + z' ⊙ h_{t−1}, so z' = 1 − z. Since σ(−a) = 1 − σ(a), negating the
z rows of ``weight_ih``, ``weight_hh``, ``bias_ih`` and ``bias_hh`` turns one into the
other; gradients map the same way (∂L/∂(−w) = −∂L/∂w). The map is its own inverse.

torch is imported only inside the functions that take or return torch objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rnnlab.cells import ALIASES, CELLS, Cell, cell_named
from rnnlab.errors import ConfigError
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.module import Module
from rnnlab.nn.recurrent import LAYERS, RecurrentLayer
from rnnlab.nn.step_cells import STEP_CELLS, RecurrentCell

#: the kinds of layer, as torch.nn names them in lower case ("rnn" is either RNN cell)
KINDS = ("rnn", "lstm", "gru")


def _cell_of_kind(kind: str) -> Cell:
    """The registered cell of ``kind``: a KIND or a cell's name (``rnnlab.cells``)."""
    if ALIASES.get(kind, kind) not in CELLS:
        raise ConfigError(f"kind must be one of {KINDS} or a cell of {tuple(CELLS)}, got {kind!r}")
    cell = cell_named(kind)
    if cell.torch is None:
        raise ConfigError(f"the {cell.title} cell has no PyTorch counterpart")
    return cell


def _negate(arrays: Mapping[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    """Copies of ``arrays`` with the rows of ``kind``'s negated gate blocks
    (``Cell.torch.negated_blocks``) of every weight and bias of a cell (weight_ih,
    weight_hh, bias_ih, bias_hh) negated: the map is its own inverse (σ(−a) = 1 − σ(a);
    ∂L/∂(−w) = −∂L/∂w)."""
    cell = _cell_of_kind(kind)
    blocks, gates = cell.torch.negated_blocks, cell.blocks
    converted = {}
    for name, value in arrays.items():
        value = np.array(value, copy=True)
        if blocks and name.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            hidden = value.shape[0] // gates
            for block in blocks:
                value[block * hidden : (block + 1) * hidden] *= -1
        converted[name] = value
    return converted


def params_to_torch(params: Mapping[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    """rnnlab parameters (or gradients) of a recurrent layer → PyTorch's convention.

    params: name → array, PyTorch names; kind: "rnn", "lstm", "gru" or a cell's name
    → new dict of copies.
    """
    return _negate(params, kind)


def params_from_torch(state_dict: Mapping[str, Any], kind: str) -> dict[str, np.ndarray]:
    """A PyTorch recurrent state dict (tensors or arrays) → rnnlab's convention, as NumPy."""
    return _negate({name: _to_numpy(value) for name, value in state_dict.items()}, kind)


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy().copy()
    return np.array(value, copy=True)


def _torch_dtype(dtype: np.dtype) -> Any:
    import torch

    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[dtype]


def _numpy_dtype(module: Any) -> np.dtype:
    import torch

    first = next(module.parameters())
    if first.dtype not in (torch.float32, torch.float64):
        raise ConfigError(f"from_torch: parameters must be float32 or float64, got {first.dtype}")
    return np.dtype(np.float32 if first.dtype == torch.float32 else np.float64)


def from_torch(module: Any, seed: int | np.random.Generator | None = None) -> Module:
    """nn.RNN / nn.LSTM / nn.GRU, their single-step cells (nn.LSTMCell …), nn.Linear and
    nn.Embedding → the rnnlab module with its weights.

    ``seed`` seeds the new module's dropout (weights come from ``module``).
    """
    import torch

    dtype = _numpy_dtype(module)
    if isinstance(module, torch.nn.Linear):
        layer: Module = Linear(
            module.in_features, module.out_features, module.bias is not None, dtype, seed
        )
        layer.load_state_dict(params_from_torch(module.state_dict(), "rnn"))
        return layer
    if isinstance(module, torch.nn.Embedding):
        layer = Embedding(module.num_embeddings, module.embedding_dim, dtype, seed)
        layer.load_state_dict(params_from_torch(module.state_dict(), "rnn"))
        return layer
    if isinstance(module, torch.nn.RNNCellBase):
        cell = _cell_of_torch(module, step=True)
        step_cell = STEP_CELLS[cell.layer](
            module.input_size, module.hidden_size, module.bias, dtype=dtype, seed=seed,
            **cell.layer_options,
        )  # fmt: skip
        step_cell.load_state_dict(params_from_torch(module.state_dict(), cell.name))
        step_cell.train(module.training)
        return step_cell
    if isinstance(module, torch.nn.RNNBase):
        options = {
            "num_layers": module.num_layers,
            "bias": module.bias,
            "batch_first": module.batch_first,
            "dropout": float(module.dropout),
            "bidirectional": module.bidirectional,
            "dtype": dtype,
            "seed": seed,
        }
        cell = _cell_of_torch(module)
        if getattr(module, "proj_size", 0):
            options["proj_size"] = module.proj_size
        layer = LAYERS[cell.layer](
            module.input_size, module.hidden_size, **cell.layer_options, **options
        )
        layer.load_state_dict(params_from_torch(module.state_dict(), cell.name))
        layer.train(module.training)
        return layer
    raise ConfigError(
        f"from_torch: cannot convert {type(module).__name__}; expected torch.nn.RNN, LSTM, "
        "GRU, Linear or Embedding"
    )


def _cell_of_torch(module: Any, step: bool = False) -> Cell:
    """The registered cell whose PyTorch layer ``module`` is (``Cell.torch``), or whose
    single-step cell (nn.LSTMCell …) it is with ``step``."""
    import torch

    options = {"nonlinearity": module.nonlinearity} if hasattr(module, "nonlinearity") else {}
    for cell in CELLS.values():
        layer = cell.torch
        if layer is None or layer.options != options:
            continue
        torch_class = getattr(torch.nn, layer.module + ("Cell" if step else ""))
        if isinstance(module, torch_class):  # subclasses too
            return cell
    raise ConfigError(f"from_torch: unsupported recurrent module {type(module).__name__}")


def recurrent_kind(layer: RecurrentLayer) -> str:
    """The name of an rnnlab recurrent layer's cell, as ``params_to_torch`` takes it."""
    return layer.mode


def to_torch(layer: Module) -> Any:
    """An rnnlab RNN / LSTM / GRU, RNNCell / LSTMCell / GRUCell, Linear or Embedding → the
    equivalent torch.nn module."""
    import torch

    if not isinstance(layer, Linear | Embedding | RecurrentLayer | RecurrentCell):
        raise ConfigError(
            f"to_torch: cannot convert {type(layer).__name__}; expected an rnnlab RNN, LSTM, "
            "GRU, RNNCell, LSTMCell, GRUCell, Linear or Embedding"
        )
    dtype = _torch_dtype(np.dtype(layer.dtype))
    if isinstance(layer, Linear):
        module = torch.nn.Linear(layer.in_features, layer.out_features, layer.has_bias, dtype=dtype)
        kind = "rnn"
    elif isinstance(layer, Embedding):
        module = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim, dtype=dtype)
        kind = "rnn"
    elif isinstance(layer, RecurrentCell):
        kind, counterpart = layer.mode, CELLS[layer.mode].torch
        if counterpart is None:
            raise ConfigError(f"to_torch: the {CELLS[kind].title} cell has no PyTorch cell")
        module = getattr(torch.nn, counterpart.module + "Cell")(
            layer.input_size, layer.hidden_size, layer.bias, dtype=dtype, **counterpart.options
        )
    else:
        kind = recurrent_kind(layer)
        counterpart = CELLS[kind].torch
        if counterpart is None:
            raise ConfigError(f"to_torch: the {CELLS[kind].title} cell has no PyTorch layer")
        if layer.residual:
            raise ConfigError(
                "to_torch: a residual stack has no PyTorch layer (torch.nn's stacks add no "
                "input to their output); convert it layer by layer"
            )
        cls, extra = getattr(torch.nn, counterpart.module), counterpart.options
        module = cls(
            layer.input_size,
            layer.hidden_size,
            num_layers=layer.num_layers,
            bias=layer.bias,
            batch_first=layer.batch_first,
            dropout=layer.dropout,
            bidirectional=layer.bidirectional,
            dtype=dtype,
            **extra,
            **({"proj_size": layer.proj_size} if layer.proj_size else {}),
        )
    converted = params_to_torch(layer.params, kind)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in converted.items()})
    module.train(layer.training)
    return module
