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

from rnnlab.errors import ConfigError
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.module import Module
from rnnlab.nn.recurrent import GRU, LSTM, RNN, RecurrentLayer

KINDS = ("rnn", "lstm", "gru")


def _flip_gru_update_gate(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Negate the z block (the second of three) of every GRU weight and bias."""
    flipped = {}
    for name, value in arrays.items():
        value = np.array(value, copy=True)
        if name.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
            hidden = value.shape[0] // 3
            value[hidden : 2 * hidden] *= -1
        flipped[name] = value
    return flipped


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")


def params_to_torch(params: Mapping[str, np.ndarray], kind: str) -> dict[str, np.ndarray]:
    """rnnlab parameters (or gradients) of a recurrent layer → PyTorch's convention.

    params: name → array, PyTorch names; kind: "rnn", "lstm" or "gru" → new dict of copies.
    """
    _check_kind(kind)
    if kind == "gru":
        return _flip_gru_update_gate(params)
    return {name: np.array(value, copy=True) for name, value in params.items()}


def params_from_torch(state_dict: Mapping[str, Any], kind: str) -> dict[str, np.ndarray]:
    """A PyTorch recurrent state dict (tensors or arrays) → rnnlab's convention, as NumPy."""
    _check_kind(kind)
    arrays = {name: _to_numpy(value) for name, value in state_dict.items()}
    if kind == "gru":
        return _flip_gru_update_gate(arrays)
    return arrays


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
    """nn.RNN / nn.LSTM / nn.GRU / nn.Linear / nn.Embedding → the rnnlab module with its weights.

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
    if isinstance(module, torch.nn.RNNBase):
        if getattr(module, "proj_size", 0):
            raise ConfigError("from_torch: LSTM with proj_size > 0 is not supported")
        options = {
            "num_layers": module.num_layers,
            "bias": module.bias,
            "batch_first": module.batch_first,
            "dropout": float(module.dropout),
            "bidirectional": module.bidirectional,
            "dtype": dtype,
            "seed": seed,
        }
        if isinstance(module, torch.nn.LSTM):
            layer, kind = LSTM(module.input_size, module.hidden_size, **options), "lstm"
        elif isinstance(module, torch.nn.GRU):
            layer, kind = GRU(module.input_size, module.hidden_size, **options), "gru"
        elif isinstance(module, torch.nn.RNN):
            nonlinearity = module.nonlinearity
            layer = RNN(module.input_size, module.hidden_size, nonlinearity=nonlinearity, **options)
            kind = "rnn"
        else:
            raise ConfigError(f"from_torch: unsupported recurrent module {type(module).__name__}")
        layer.load_state_dict(params_from_torch(module.state_dict(), kind))
        layer.train(module.training)
        return layer
    raise ConfigError(
        f"from_torch: cannot convert {type(module).__name__}; expected torch.nn.RNN, LSTM, "
        "GRU, Linear or Embedding"
    )


def recurrent_kind(layer: RecurrentLayer) -> str:
    """ "rnn", "lstm" or "gru" for an rnnlab recurrent layer."""
    return "rnn" if layer.mode.startswith("rnn") else layer.mode


def to_torch(layer: Module) -> Any:
    """An rnnlab RNN / LSTM / GRU / Linear / Embedding → the equivalent torch.nn module."""
    import torch

    if not isinstance(layer, Linear | Embedding | RecurrentLayer):
        raise ConfigError(
            f"to_torch: cannot convert {type(layer).__name__}; expected an rnnlab RNN, LSTM, "
            "GRU, Linear or Embedding"
        )
    dtype = _torch_dtype(np.dtype(layer.dtype))
    if isinstance(layer, Linear):
        module = torch.nn.Linear(layer.in_features, layer.out_features, layer.has_bias, dtype=dtype)
        kind = "rnn"
    elif isinstance(layer, Embedding):
        module = torch.nn.Embedding(layer.num_embeddings, layer.embedding_dim, dtype=dtype)
        kind = "rnn"
    else:
        kind = recurrent_kind(layer)
        cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
        extra = {"nonlinearity": layer.nonlinearity} if kind == "rnn" else {}
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
        )
    converted = params_to_torch(layer.params, kind)
    module.load_state_dict({name: torch.from_numpy(value) for name, value in converted.items()})
    module.train(layer.training)
    return module
