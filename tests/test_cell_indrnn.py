"""IndRNN computes the equations of Li, Li, Cook, Zhu & Gao (2018),
h_t = act(W x_t + u ⊙ h_{t−1} + b), its recurrent weight a vector.

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
from cell_cases import check_a_language_model_trains_saves_samples_and_loads, random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.errors import ConfigError
from rnnlab.interop import to_torch
from rnnlab.io import load_model
from rnnlab.runs import prepare_run

T, B, I, H = 7, 4, 3, 5
LENGTHS = np.array([7, 2, 5, 1])


def paper_equations(params, x, h0, lengths, act):
    """IndRNN in PyTorch autograd, one step at a time: (out, h_T)."""
    W, b, u = params["W_ih"], params["b_ih"] + params["b_hh"], params["weight_hh_diag"]
    h, outputs = h0, []
    for t in range(x.shape[0]):
        h_new = act(x[t] @ W.T + b + u * h)
        valid = torch.as_tensor(t < lengths)[:, None]
        h = torch.where(valid, h_new, h)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("mode", ["indrnn_relu", "indrnn_tanh"])
def test_indrnn_matches_the_papers_equations_in_torch_autograd(mode, backend, lengths, rng):
    params = random_params(mode, I, H, rng, scale=0.6)
    x, h0, w_out, w_h = (rng.normal(size=s) for s in ((T, B, I), (B, H), (T, B, H), (B, H)))
    given = lengths if lengths is not None else np.full(B, T)
    act = torch.relu if mode == "indrnn_relu" else torch.tanh

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items() if v.size}
    tx, th0 = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    out_t, h_t = paper_equations(leaves, tx, th0, given, act)
    ((out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()).backward()

    with use_backend(backend):
        cell = cell_functions(mode)
        out, h_T, tape = cell.forward(params, x, h0, lengths)
        dx, grads, dh0 = cell.backward(params, tape, w_out, w_h)
    if mode == "indrnn_relu":  # both sides of the kink are exercised
        assert (out > 0).any() and (out == 0).any()
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("nonlinearity", ["relu", "tanh"])
def test_a_stacked_bidirectional_indrnn_with_lengths_and_state_passes_gradcheck(
    backend, nonlinearity, rng
):
    layer = rnnlab.IndRNN(
        3, 4, num_layers=2, bidirectional=True, nonlinearity=nonlinearity, dtype=np.float64, seed=3
    )
    x, state = rng.normal(size=(6, 3, 3)), rng.normal(size=(4, 3, 4))
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, state=state, lengths=np.array([6, 2, 4]))
    assert set(result.errors) == set(layer.params) | {"input", "state"}
    assert result.ok(1e-6), str(result)


def test_a_stacked_bidirectional_indrnn_gives_the_same_numbers_on_both_backends(rng):
    layer = rnnlab.IndRNN(3, 4, num_layers=2, bidirectional=True, dtype=np.float64, seed=1)
    assert layer.mode == "indrnn_relu"
    assert set(layer.params) >= {"weight_hh_diag_l0", "weight_ih_l1_reverse", "bias_ih_l1"}
    assert not any(name.startswith(("weight_hh_l", "bias_hh")) for name in layer.params)
    x, lengths, state = rng.normal(size=(5, 3, 3)), np.array([5, 2, 4]), rng.normal(size=(4, 3, 4))
    results = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            layer.zero_grad()
            output, h = layer(x, state, lengths)
            d_x, d_h0 = layer.backward(np.ones_like(output), np.ones_like(h))
            results.append((output, h, d_x, d_h0, {k: v.copy() for k, v in layer.grads.items()}))
    numpy_run, numba_run = results
    for a, b in zip(numpy_run[:4], numba_run[:4], strict=True):
        np.testing.assert_allclose(b, a, atol=1e-12)
    for name, grad in numpy_run[4].items():
        np.testing.assert_allclose(numba_run[4][name], grad, atol=1e-12, err_msg=name)
        assert np.abs(grad).max() > 0, name  # every parameter, u too, is used


def test_the_recurrent_weight_starts_in_zero_to_one_and_the_repr_says_what_differs():
    layer = rnnlab.IndRNN(2, 300, seed=0)
    u = layer.params["weight_hh_diag_l0"]
    assert u.shape == (300,) and u.min() >= 0 and u.max() <= 1 and u.std() > 0.2
    assert repr(layer) == "IndRNN(2, 300)"
    assert repr(rnnlab.IndRNN(2, 3, nonlinearity="tanh")) == "IndRNN(2, 3, nonlinearity='tanh')"
    assert repr(rnnlab.RNN(2, 3, nonlinearity="relu")) == "RNN(2, 3, nonlinearity='relu')"


def test_a_unit_sees_only_its_own_past():
    layer = rnnlab.IndRNN(1, 3, bias=False, dtype=np.float64, seed=0)
    layer.params["weight_ih_l0"][:] = [[1.0], [0.0], [0.0]]
    layer.params["weight_hh_diag_l0"][:] = [0.5, 0.9, 1.0]
    x = np.zeros((4, 1, 1))
    x[0] = 1.0  # one impulse into unit 0
    output, _ = layer(x)
    np.testing.assert_allclose(output[:, 0, 0], [1.0, 0.5, 0.25, 0.125])
    np.testing.assert_array_equal(output[:, 0, 1:], 0.0)  # the others never hear of it


def test_an_indrnn_language_model_trains_saves_samples_and_loads(tmp_path):
    check_a_language_model_trains_saves_samples_and_loads(
        tmp_path, "indrnn_relu", cell="indrnn", layers=2
    )


def test_indrnn_refuses_what_it_does_not_have():
    with pytest.raises(ConfigError, match="nonlinearity must be 'relu' or 'tanh'"):
        rnnlab.IndRNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="forget_bias applies to LSTM only"):
        rnnlab.IndRNN(3, 4, forget_bias=1.0)
    with pytest.raises(ConfigError, match="no PyTorch layer"):
        to_torch(rnnlab.IndRNN(3, 4))
    with pytest.raises(ConfigError, match="recurrent_init='orthogonal' shapes W_hh"):
        rnnlab.IndRNN(3, 4, recurrent_init="orthogonal")


def test_recurrent_max_bounds_u_from_the_start_and_after_every_update(tmp_path):
    layer = rnnlab.IndRNN(2, 50, num_layers=2, bidirectional=True, recurrent_max=0.5, seed=0)
    assert repr(layer).endswith("recurrent_max=0.5)")
    diagonals = [name for name in layer.params if name.startswith("weight_hh_diag")]
    assert len(diagonals) == 4
    assert all(np.abs(layer.params[name]).max() == 0.5 for name in diagonals)  # clipped

    text = "abcabcabd " * 60  # a run of 3 steps with a rate that would throw u far out
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    run = prepare_run(data=str(tmp_path / "t.txt"), cell="indrnn", hidden=16, layers=2,
                      recurrent_max=1.01, lr=5.0, optimizer="sgd", clip=None, steps=3,
                      minutes=None, batch_size=4, seq_len=8, eval_every=3, sample_every=0,
                      out=tmp_path / "run")  # fmt: skip
    run.trainer.fit()
    model = run.trainer.model
    assert model.config.recurrent_max == 1.01 and model.rnn.recurrent_max == 1.01
    u = np.concatenate([v for k, v in model.rnn.params.items() if "hh_diag" in k])
    assert np.abs(u).max() <= 1.01 and np.isclose(np.abs(u).max(), 1.01)  # it was pushed
    assert load_model(tmp_path / "run/last.safetensors").rnn.recurrent_max == 1.01


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_recurrent_max_must_be_a_finite_positive_number(value):
    with pytest.raises(ConfigError, match="recurrent_max must be a"):
        rnnlab.IndRNN(2, 3, recurrent_max=value)


def test_recurrent_max_is_for_indrnn_only():
    from rnnlab.models.language import make_recurrent

    with pytest.raises(ConfigError, match="recurrent_max bounds IndRNN's recurrent vector u"):
        make_recurrent("lstm", 2, 3, recurrent_max=1.0)
