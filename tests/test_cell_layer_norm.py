"""The layer-normalised LSTM computes the equations of Ba, Kiros & Hinton (2016), with
the cell state normalised before its tanh as haste's LayerNormLSTM.

PyTorch has no such layer, so the reference is the equations written with PyTorch
autograd and ``torch.nn.functional.layer_norm``, step by step; the registry's generic
checks (finite differences, the compiled loops against the reference, generation, the
step Jacobian, the parameter count) run for this cell as for every other.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.cells.layer_norm import NORMS
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch
from rnnlab.io import load_model, save_checkpoint
from rnnlab.models import LanguageModel, LanguageModelConfig

T, B, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])


def paper_equations(params, x, h0, c0, lengths):
    """The layer-normalised LSTM in PyTorch autograd, one step at a time: (out, h_T, c_T)."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    g_ih, be_ih, g_hh, be_hh, g_c, be_c = (params[k] for k in NORMS)
    ln = torch.nn.functional.layer_norm
    h, c, outputs = h0, c0, []
    for t in range(x.shape[0]):
        a = ln(x[t] @ W_ih.T + b_ih, (4 * H,), g_ih, be_ih, 1e-5)
        a = a + ln(h @ W_hh.T + b_hh, (4 * H,), g_hh, be_hh, 1e-5)
        i, f, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in (0, 1, 3))
        g = torch.tanh(a[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        h_new = o * torch.tanh(ln(c_new, (H,), g_c, be_c, 1e-5))
        valid = torch.as_tensor(t < lengths)[:, None]
        h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h, c


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_layer_norm_cell_matches_the_papers_equations_in_torch_autograd(backend, lengths, rng):
    params = random_params("lstm_layer_norm", I, H, rng)
    x = rng.normal(size=(T, B, I))
    h0, c0 = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    d_out = rng.normal(size=(T, B, H))
    d_h, d_c = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    with use_backend(backend):
        functions = cell_functions("lstm_layer_norm")
        out, (h_T, c_T), tape = functions.forward(params, x, (h0, c0), lengths)
        dx, grads, (dh0, dc0) = functions.backward(params, tape, d_out, (d_h, d_c))

    ours = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x_t, h0_t, c0_t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    full = np.full(B, T) if lengths is None else lengths
    out_t, h_t, c_t = paper_equations(ours, x_t, h0_t, c0_t, full)
    loss = (out_t * torch.tensor(d_out)).sum() + (h_t * torch.tensor(d_h)).sum()
    (loss + (c_t * torch.tensor(d_c)).sum()).backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(c_T, c_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dc0, c0_t.grad.numpy(), atol=1e-10)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, ours[name].grad.numpy(), atol=1e-10, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_stacked_bidirectional_layer_norm_lstm_passes_gradcheck(backend, rng):
    layer = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, layer_norm=True, seed=0)
    assert layer.mode == "lstm_layer_norm"
    assert layer.params["layernorm_ih_weight_l1_reverse"].shape == (16,)
    assert layer.params["layernorm_c_bias_l0"].shape == (4,)
    np.testing.assert_array_equal(layer.params["layernorm_hh_weight_l0"], 1.0)
    x, lengths = rng.normal(size=(5, 3, 3)), np.array([5, 2, 4])
    state = (rng.normal(size=(4, 3, 4)), rng.normal(size=(4, 3, 4)))
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, state=state, lengths=lengths)
    assert "layernorm_c_weight_l1" in result.errors
    assert result.ok(1e-6), str(result)


def test_a_forget_bias_goes_into_the_normalised_gates_bias():
    layer = rnnlab.LSTM(3, 4, layer_norm=True, forget_bias=1.0)
    beta = layer.params["layernorm_ih_bias_l0"]
    np.testing.assert_array_equal(beta[4:8], 1.0)  # the f block
    np.testing.assert_array_equal(np.delete(beta, range(4, 8)), 0.0)


def test_a_layer_norm_language_model_trains_samples_saves_and_loads(tmp_path):
    config = LanguageModelConfig(vocab_size=7, cell="lstm_layer_norm", hidden_size=6)
    model = LanguageModel(config, seed=0)
    ids = np.random.default_rng(0).integers(0, 7, size=(12, 3))
    loss, _, _ = model.compute_loss(ids[:-1], ids[1:], train=True)
    assert np.isfinite(loss) and np.abs(model.grads["rnn.layernorm_c_weight_l0"]).max() > 0
    first, _ = model(ids)
    save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.rnn.mode == "lstm_layer_norm"
    again, _ = loaded(ids)
    np.testing.assert_array_equal(again, first)


def test_a_single_step_layer_norm_cell_is_the_layer_over_one_step(rng):
    cell = rnnlab.LSTMCell(3, 4, layer_norm=True, dtype=np.float64, seed=1)
    layer = rnnlab.LSTM(3, 4, layer_norm=True, dtype=np.float64, seed=1)
    layer.load_state_dict({f"{name}_l0": value for name, value in cell.params.items()})
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))
    h_cell, c_cell = cell(x, (h, c))
    _, (h_layer, c_layer) = layer(x[None], (h[None], c[None]))
    np.testing.assert_allclose(h_cell, h_layer[0], atol=1e-12)
    np.testing.assert_allclose(c_cell, c_layer[0], atol=1e-12)


def test_a_layer_norm_lstm_has_no_pytorch_counterpart():
    with pytest.raises(ConfigError, match="no PyTorch layer"):
        to_torch(rnnlab.LSTM(3, 4, layer_norm=True))
