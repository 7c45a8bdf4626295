"""The GRU with the reset gate before the product (Cho et al. 2014; Keras'
``reset_after=False``): n = tanh(W_in x + b_in + W_hn (r ⊙ h_{t−1}) + b_hn).

PyTorch has no such layer, so the reference is the paper's equations written with
PyTorch autograd, step by step; the registry's generic checks (finite differences, the
compiled loops against the reference, the step Jacobian) run for this cell as for every
other (test_gradcheck, test_kernels, test_probe_jacobian).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import check_a_language_model_trains_saves_samples_and_loads, random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch

T, B, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])


def paper_equations(params, x, h, lengths):
    """Cho et al.'s GRU in PyTorch autograd (z: how much of the candidate is taken)."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    W_hr, W_hz, W_hn = W_hh[:H], W_hh[H : 2 * H], W_hh[2 * H :]
    outputs = []
    for t in range(x.shape[0]):
        u = x[t] @ W_ih.T + b_ih
        r = torch.sigmoid(u[:, :H] + h @ W_hr.T + b_hh[:H])
        z = torch.sigmoid(u[:, H : 2 * H] + h @ W_hz.T + b_hh[H : 2 * H])
        n = torch.tanh(u[:, 2 * H :] + (r * h) @ W_hn.T + b_hh[2 * H :])  # r before W_hn
        h_new = (1 - z) * h + z * n
        valid = torch.as_tensor(t < lengths)[:, None]
        h = torch.where(valid, h_new, h)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_reset_before_gru_matches_the_papers_equations_in_torch_autograd(backend, lengths, rng):
    params = random_params("gru_reset_before", I, H, rng, scale=0.6)
    x, h0, w_out, w_h = (rng.normal(size=s) for s in ((T, B, I), (B, H), (T, B, H), (B, H)))
    given = lengths if lengths is not None else np.full(B, T)
    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, th0 = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    out_t, h_t = paper_equations(leaves, tx, th0, given)
    ((out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()).backward()

    with use_backend(backend):
        cell = cell_functions("gru_reset_before")
        out, h_T, tape = cell.forward(params, x, h0, lengths)
        dx, grads, dh0 = cell.backward(params, tape, w_out, w_h)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_stacked_bidirectional_reset_before_gru_passes_gradcheck(backend, rng):
    layer = rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, reset_after=False, seed=4)
    assert layer.mode == "gru_reset_before" and repr(layer).endswith("reset_after=False)")
    x, state = rng.normal(size=(6, 3, 3)), rng.normal(size=(4, 3, 4))
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, state=state, lengths=np.array([6, 2, 4]))
    assert set(result.errors) == set(layer.params) | {"input", "state"}
    assert result.ok(1e-6), str(result)


def test_the_two_forms_share_their_parameters_but_not_their_numbers(rng):
    after = rnnlab.GRU(3, 4, seed=0, dtype=np.float64)
    before = rnnlab.GRU(3, 4, seed=0, dtype=np.float64, reset_after=False)
    assert list(after.params) == list(before.params)
    for name, value in after.params.items():
        np.testing.assert_array_equal(before.params[name], value)
    x = rng.normal(size=(5, 2, 3))
    difference = np.abs(after(x)[0] - before(x)[0]).max()
    assert difference > 1e-3  # W_hn (r ⊙ h) is not r ⊙ (W_hn h): a weight move must say which


def test_a_reset_before_language_model_trains_saves_samples_and_loads(tmp_path):
    check_a_language_model_trains_saves_samples_and_loads(
        tmp_path, "gru_reset_before", cell="gru_reset_before"
    )


def test_reset_after_is_checked_and_the_form_has_no_pytorch_layer():
    with pytest.raises(ConfigError, match="reset_after must be True or False"):
        rnnlab.GRU(3, 4, reset_after="no")
    with pytest.raises(ConfigError, match="no PyTorch layer"):
        to_torch(rnnlab.GRU(3, 4, reset_after=False))
    with pytest.raises(ConfigError, match=r"options: \['layer_norm', 'reset_after'\]"):
        rnnlab.GRU(3, 4, peephole=True)
    with pytest.raises(ConfigError, match="no layer-normalised form with reset_after=False"):
        rnnlab.GRU(3, 4, reset_after=False, layer_norm=True)
    with pytest.raises(ConfigError, match="GRUCell has no GRU \\(reset before\\)"):
        rnnlab.GRUCell(3, 4, reset_before=True)
