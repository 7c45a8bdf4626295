"""Weights move between rnnlab and torch.nn unchanged, and the GRU update gate is converted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.errors import ConfigError
from rnnlab.interop import from_torch, params_from_torch, params_to_torch, to_torch


def torch_modules():
    torch.manual_seed(0)
    return [
        torch.nn.RNN(3, 4, num_layers=2, nonlinearity="relu", bidirectional=True),
        torch.nn.LSTM(3, 4, num_layers=3, batch_first=True, dropout=0.25),
        torch.nn.GRU(3, 4, num_layers=2, bidirectional=True, bias=False),
        torch.nn.GRU(3, 5).double(),
        torch.nn.Linear(4, 7),
        torch.nn.Embedding(9, 4),
    ]


@pytest.mark.parametrize("module", torch_modules(), ids=lambda m: type(m).__name__)
def test_to_torch_of_from_torch_reproduces_the_parameters_exactly(module):
    back = to_torch(from_torch(module))
    assert type(back) is type(module)
    original, returned = module.state_dict(), back.state_dict()
    assert original.keys() == returned.keys()
    for name in original:
        assert returned[name].dtype == original[name].dtype
        assert torch.equal(returned[name], original[name]), name


def test_from_torch_keeps_the_configuration():
    layer = from_torch(torch.nn.LSTM(3, 4, num_layers=3, batch_first=True, dropout=0.25))
    assert isinstance(layer, rnnlab.LSTM)
    assert (layer.num_layers, layer.batch_first, layer.dropout) == (3, True, 0.25)
    relu = from_torch(torch.nn.RNN(2, 3, nonlinearity="relu"))
    assert relu.nonlinearity == "relu"
    assert from_torch(torch.nn.GRU(2, 3).double()).dtype == np.float64


def test_gru_update_gate_rows_are_negated_both_ways(rng):
    H = 4
    params = {
        "weight_ih_l0": rng.normal(size=(3 * H, 2)),
        "weight_hh_l0": rng.normal(size=(3 * H, H)),
        "bias_ih_l0": rng.normal(size=3 * H),
        "bias_hh_l0": rng.normal(size=3 * H),
    }
    converted = params_to_torch(params, "gru")
    for name, value in params.items():
        np.testing.assert_array_equal(converted[name][:H], value[:H])  # r unchanged
        np.testing.assert_array_equal(converted[name][H : 2 * H], -value[H : 2 * H])  # z negated
        np.testing.assert_array_equal(converted[name][2 * H :], value[2 * H :])  # n unchanged
    back = params_from_torch(converted, "gru")
    for name, value in params.items():
        np.testing.assert_array_equal(back[name], value)
    assert params_to_torch(params, "lstm")["weight_ih_l0"] is not params["weight_ih_l0"]


def test_gru_gradients_map_like_the_weights(rng):
    """A gradient computed by rnnlab, mapped to torch's convention, equals torch's gradient."""
    layer = rnnlab.GRU(3, 4, dtype=np.float64, seed=2)
    reference = to_torch(layer)
    x = rng.normal(size=(6, 2, 3))
    output, _ = layer(x)
    layer.backward(np.ones_like(output))
    reference(torch.from_numpy(x))[0].sum().backward()
    mapped = params_to_torch(layer.grads, "gru")
    for name, parameter in reference.named_parameters():
        np.testing.assert_allclose(mapped[name], parameter.grad.numpy(), atol=1e-12)


def test_params_from_torch_accepts_tensors_and_returns_numpy():
    arrays = params_from_torch(torch.nn.LSTM(2, 3).state_dict(), "lstm")
    assert all(isinstance(value, np.ndarray) for value in arrays.values())


def test_unknown_kind_and_module_are_named_in_the_error():
    with pytest.raises(ConfigError, match="kind must be one of"):
        params_to_torch({}, "transformer")
    with pytest.raises(ConfigError, match="Conv1d"):
        from_torch(torch.nn.Conv1d(2, 2, 3))
    with pytest.raises(ConfigError, match="Dropout"):
        to_torch(rnnlab.Dropout(0.1))
