"""The peephole LSTM computes the equations of Gers, Schraudolph & Schmidhuber (2002).

PyTorch has no such layer, so the reference is the paper's equations written with
PyTorch autograd, step by step; the registry's generic checks (finite differences, the
compiled loops against the reference, generation, the step Jacobian) run for this cell
as for every other (test_gradcheck, test_kernels, test_generation_kernel,
test_probe_jacobian).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch
from rnnlab.io import load_model, save_checkpoint
from rnnlab.models import LanguageModel, LanguageModelConfig

T, B, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])


def paper_equations(params, x, h0, c0, lengths):
    """The peephole LSTM in PyTorch autograd, one step at a time: (out, h_T, c_T)."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    w_ci, w_cf, w_co = (params[k] for k in ("weight_ci", "weight_cf", "weight_co"))
    h, c, outputs = h0, c0, []
    for t in range(x.shape[0]):
        a = x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i = torch.sigmoid(a[:, :H] + w_ci * c)
        f = torch.sigmoid(a[:, H : 2 * H] + w_cf * c)
        g = torch.tanh(a[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        o = torch.sigmoid(a[:, 3 * H :] + w_co * c_new)
        h_new = o * torch.tanh(c_new)
        valid = torch.as_tensor(t < lengths)[:, None]
        h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h, c


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_peephole_cell_matches_the_papers_equations_in_torch_autograd(backend, lengths, rng):
    params = random_params("lstm_peephole", I, H, rng, scale=0.6)
    x, h0, c0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    w_out, w_h, w_c = rng.normal(size=(T, B, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    given = lengths if lengths is not None else np.full(B, T)

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_t, h_t, c_t = paper_equations(leaves, tx, th0, tc0, given)
    loss = (out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    (loss + (c_t * torch.tensor(w_c)).sum()).backward()

    with use_backend(backend):
        cell = cell_functions("lstm_peephole")
        out, (h_T, c_T), tape = cell.forward(params, x, (h0, c0), lengths)
        dx, grads, (dh0, dc0) = cell.backward(params, tape, w_out, (w_h, w_c))
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c_T, c_t.detach().numpy(), atol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dc0, tc0.grad.numpy(), atol=1e-10)


def test_a_stacked_bidirectional_peephole_layer_gives_the_same_numbers_on_both_backends(rng):
    layer = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, peephole=True, dtype=np.float64)
    assert layer.mode == "lstm_peephole"
    assert {"weight_ci_l0", "weight_cf_l1", "weight_co_l1_reverse"} <= set(layer.params)
    x, lengths = rng.normal(size=(5, 3, 3)), np.array([5, 2, 4])
    state = (rng.normal(size=(4, 3, 4)), rng.normal(size=(4, 3, 4)))
    results = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            layer.zero_grad()
            output, (h, c) = layer(x, state, lengths)
            d_x, _ = layer.backward(np.ones_like(output), (np.ones_like(h), np.ones_like(c)))
            results.append((output, d_x, {k: v.copy() for k, v in layer.grads.items()}))
    (out_n, dx_n, g_n), (out_k, dx_k, g_k) = results
    np.testing.assert_allclose(out_k, out_n, atol=1e-12)
    np.testing.assert_allclose(dx_k, dx_n, atol=1e-12)
    for name in g_n:
        np.testing.assert_allclose(g_k[name], g_n[name], atol=1e-12, err_msg=name)
        assert np.abs(g_n[name]).max() > 0, name  # every parameter, peepholes too, is used


def test_a_peephole_language_model_trains_saves_and_loads(tmp_path):
    config = LanguageModelConfig(vocab_size=7, cell="lstm_peephole", hidden_size=6)
    model = LanguageModel(config, seed=0)
    ids = np.random.default_rng(0).integers(0, 7, size=(12, 3))
    first, _ = model(ids)
    save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.rnn.mode == "lstm_peephole" and loaded.config.cell == "lstm_peephole"
    again, _ = loaded(ids)
    np.testing.assert_array_equal(again, first)


def test_a_layer_refuses_options_no_registered_cell_takes():
    with pytest.raises(ConfigError, match="unexpected keyword argument 'peepholes'"):
        rnnlab.LSTM(3, 4, peepholes=True)
    with pytest.raises(ConfigError, match="unexpected keyword argument 'dropuot'"):
        rnnlab.LSTM(3, 4, dropuot=0.0)  # a misspelt option is refused even when falsy
    with pytest.raises(ConfigError, match="LSTM has no cell for the options"):
        rnnlab.LSTM(3, 4, peephole="yes")


def test_a_peephole_layer_has_no_pytorch_counterpart():
    with pytest.raises(ConfigError, match="no PyTorch layer"):
        to_torch(rnnlab.LSTM(3, 4, peephole=True))
