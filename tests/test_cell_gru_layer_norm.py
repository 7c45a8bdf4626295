"""The layer-normalised GRU: the input and recurrent projections normalised separately
(Ba, Kiros & Hinton 2016), checked against those equations written with PyTorch autograd
and ``torch.nn.functional.layer_norm``; the registry's generic checks run for it too."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.cells.gru_layer_norm import NORMS
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch

T, B, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])


def paper_equations(params, x, h0, lengths):
    """The layer-normalised GRU in PyTorch autograd, one step at a time: (out, h_T)."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    g_ih, be_ih, g_hh, be_hh = (params[k] for k in NORMS)
    ln = torch.nn.functional.layer_norm
    h, outputs = h0, []
    for t in range(x.shape[0]):
        u = ln(x[t] @ W_ih.T + b_ih, (3 * H,), g_ih, be_ih, 1e-5)
        v = ln(h @ W_hh.T + b_hh, (3 * H,), g_hh, be_hh, 1e-5)
        r = torch.sigmoid(u[:, :H] + v[:, :H])
        z = torch.sigmoid(u[:, H : 2 * H] + v[:, H : 2 * H])
        n = torch.tanh(u[:, 2 * H :] + r * v[:, 2 * H :])
        h_new = (1 - z) * h + z * n
        valid = torch.as_tensor(t < lengths)[:, None]
        h = torch.where(valid, h_new, h)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_layer_norm_gru_matches_the_papers_equations_in_torch_autograd(backend, lengths, rng):
    params = random_params("gru_layer_norm", I, H, rng)
    x, h0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H))
    d_out, d_h = rng.normal(size=(T, B, H)), rng.normal(size=(B, H))
    with use_backend(backend):
        functions = cell_functions("gru_layer_norm")
        out, h_T, tape = functions.forward(params, x, h0, lengths)
        dx, grads, dh0 = functions.backward(params, tape, d_out, d_h)

    ours = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    x_t, h0_t = torch.tensor(x, requires_grad=True), torch.tensor(h0, requires_grad=True)
    full = np.full(B, T) if lengths is None else lengths
    out_t, h_t = paper_equations(ours, x_t, h0_t, full)
    ((out_t * torch.tensor(d_out)).sum() + (h_t * torch.tensor(d_h)).sum()).backward()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-10)
    np.testing.assert_allclose(dx, x_t.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, h0_t.grad.numpy(), atol=1e-10)
    for name, grad in grads.items():
        np.testing.assert_allclose(grad, ours[name].grad.numpy(), atol=1e-10, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_stacked_bidirectional_layer_norm_gru_passes_gradcheck(backend, rng):
    layer = rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, layer_norm=True, seed=0)
    assert layer.mode == "gru_layer_norm"
    assert layer.params["layernorm_hh_bias_l1_reverse"].shape == (12,)
    x, lengths = rng.normal(size=(5, 3, 3)), np.array([5, 2, 4])
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, state=rng.normal(size=(4, 3, 4)), lengths=lengths)
    assert "layernorm_ih_weight_l1" in result.errors
    assert result.ok(1e-6), str(result)


def test_a_single_step_layer_norm_gru_cell_is_the_layer_over_one_step(rng):
    cell = rnnlab.GRUCell(3, 4, layer_norm=True, dtype=np.float64, seed=1)
    layer = rnnlab.GRU(3, 4, layer_norm=True, dtype=np.float64, seed=1)
    layer.load_state_dict({f"{name}_l0": value for name, value in cell.params.items()})
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    _, h_layer = layer(x[None], h[None])
    np.testing.assert_allclose(cell(x, h), h_layer[0], atol=1e-12)


def test_a_layer_norm_gru_has_no_pytorch_counterpart():
    with pytest.raises(ConfigError, match="no PyTorch layer"):
        to_torch(rnnlab.GRU(3, 4, layer_norm=True))
