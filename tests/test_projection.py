"""An LSTM with ``proj_size`` is PyTorch's (Sak et al. 2014): h_t = W_hr (o ⊙ tanh(c_t)),
h and the output P wide, c H wide, W_hh (4H, P), ``weight_hr_l0`` (P, H).

Checked against ``torch.nn.LSTM(proj_size=P)`` itself (float64, 1e-10, outputs, final
states and every gradient, both backends, stacked and bidirectional, with lengths and an
initial state), by finite differences, and through the model, the command line, the
probes and interop.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import check_a_language_model_trains_saves_samples_and_loads, random_params
from reference import torch_run

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.interop import from_torch, to_torch
from rnnlab.nn.dropout import dropout_mask
from rnnlab.nn.module import inference
from rnnlab.probe import layer_jacobian_log_norms, record, step_jacobian

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")

T, B, I, H, P = 6, 4, 3, 7, 3
LENGTHS = np.array([6, 2, 5, 1])


def torch_lstm(num_layers: int, bidirectional: bool, dtype=torch.float64) -> torch.nn.LSTM:
    torch.manual_seed(0)
    return torch.nn.LSTM(I, H, num_layers, proj_size=P, bidirectional=bidirectional, dtype=dtype)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_a_projected_lstm_equals_pytorchs_with_gradients(backend, lengths, bidirectional, rng):
    module = torch_lstm(2, bidirectional)
    layer = from_torch(module)
    D = 2 if bidirectional else 1
    x = rng.normal(size=(T, B, I))
    state = (rng.normal(size=(2 * D, B, P)), rng.normal(size=(2 * D, B, H)))
    d_out = rng.normal(size=(T, B, D * P))
    if lengths is not None:  # no gradient reaches the output past a length
        d_out *= (np.arange(T)[:, None] < lengths)[..., None]
    d_state = (rng.normal(size=(2 * D, B, P)), rng.normal(size=(2 * D, B, H)))
    expected = torch_run(module, x, state, lengths, d_out, d_state)

    with use_backend(backend):
        out, (h_T, c_T) = layer(x, state, lengths)
        d_x, (d_h0, d_c0) = layer.backward(d_out, d_state)
    assert out.shape == (T, B, D * P) and h_T.shape == (2 * D, B, P) and c_T.shape[2] == H
    np.testing.assert_allclose(out, expected["output"], atol=1e-10)
    np.testing.assert_allclose(h_T, expected["state"][0], atol=1e-10)
    np.testing.assert_allclose(c_T, expected["state"][1], atol=1e-10)
    np.testing.assert_allclose(d_x, expected["d_input"], atol=1e-10)
    np.testing.assert_allclose(d_h0, expected["d_state0"][0], atol=1e-10)
    np.testing.assert_allclose(d_c0, expected["d_state0"][1], atol=1e-10)
    assert set(layer.grads) == set(expected["grads"])  # weight_hr_l0 … among them
    for name, grad in expected["grads"].items():
        np.testing.assert_allclose(layer.grads[name], grad, atol=1e-10, err_msg=name)


def projected_equations(params, x, h, c, lengths, m, z):
    """The projected LSTM with recurrent dropout m (B, P) on h_{t−1} before W_hh and
    zoneout z (T, B, P + H) on h and c, step by step in PyTorch autograd."""
    W_ih, W_hh, b_ih, b_hh, W_hr = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr"))
    outputs = []
    for t in range(x.shape[0]):
        a = x[t] @ W_ih.T + b_ih + (m * h) @ W_hh.T + b_hh
        i, f, g, o = a.chunk(4, dim=1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = (torch.sigmoid(o) * torch.tanh(c_new)) @ W_hr.T  # h_t = W_hr (o ⊙ tanh(c_t))
        z_h, z_c = z[t, :, :P], z[t, :, P:]
        h_new, c_new = z_h * h + (1 - z_h) * h_new, z_c * c + (1 - z_c) * c_new
        valid = torch.as_tensor(t < lengths)[:, None]
        h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), (h, c)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_recurrent_dropout_and_zoneout_on_a_projected_lstm_match_the_equations(
    backend, lengths, rng
):
    params = random_params("lstm", I, H, rng, scale=0.6)
    params["W_hh"] = params["W_hh"][:, :P].copy()
    params["W_hr"] = rng.normal(size=(P, H)) * 0.6
    m = dropout_mask((B, P), 0.3, rng, np.dtype(np.float64))
    z = (rng.random((T, B, P + H)) < 0.3).astype(np.float64)
    x, h0, c0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, P)), rng.normal(size=(B, H))
    w_out, w_h, w_c = rng.normal(size=(T, B, P)), rng.normal(size=(B, P)), rng.normal(size=(B, H))
    given = lengths if lengths is not None else np.full(B, T)

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    out_t, (h_t, c_t) = projected_equations(
        leaves, tx, th0, tc0, given, torch.tensor(m), torch.tensor(z)
    )
    loss = (out_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    (loss + (c_t * torch.tensor(w_c)).sum()).backward()

    with use_backend(backend):
        cell = cell_functions("lstm")
        out, (h_T, c_T), tape = cell.forward(
            params, x, (h0, c0), lengths, recurrent_mask=m, zoneout=z
        )
        dx, grads, (dh0, dc0) = cell.backward(params, tape, w_out, (w_h, w_c))
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(c_T, c_t.detach().numpy(), atol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dh0, th0.grad.numpy(), atol=1e-10)
    np.testing.assert_allclose(dc0, tc0.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(
    "regularisers", [{}, {"recurrent_dropout": 0.3, "zoneout": 0.2}], ids=["plain", "regularised"]
)
def test_a_stacked_bidirectional_projected_lstm_with_lengths_and_state_passes_gradcheck(
    backend, regularisers, rng
):
    layer = rnnlab.LSTM(
        3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64, **regularisers
    )
    x = rng.normal(size=(6, 3, 3))
    state = (rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 5)))
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, state=state, lengths=np.array([6, 2, 4]))
    assert {"weight_hr_l0", "weight_hr_l1_reverse"} <= set(result.errors)
    assert set(result.errors) == set(layer.params) | {"input", "state_h", "state_c"}
    assert result.ok(1e-6), str(result)


def test_the_compiled_loops_in_float32_keep_to_the_reference(rng):
    layer = rnnlab.LSTM(I, 32, num_layers=2, proj_size=12, bidirectional=True, seed=1)
    x = rng.normal(size=(20, 5, I)).astype(np.float32)
    lengths = np.array([20, 3, 17, 1, 9])
    d_out = rng.normal(size=(20, 5, 24)).astype(np.float32)
    results = {}
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            layer.zero_grad()
            out, (h, c) = layer(x, lengths=lengths)
            d_x, _ = layer.backward(d_out)
            results[backend] = (out, h, c, d_x, {k: v.copy() for k, v in layer.grads.items()})
    assert out.dtype == np.float32
    for got, want in zip(results["numba"][:4], results["numpy"][:4], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    for name, want in results["numpy"][4].items():
        got = results["numba"][4][name]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_evaluation_without_a_tape_computes_the_same(backend, rng):
    layer = rnnlab.LSTM(I, H, proj_size=P, dtype=np.float64, seed=2)
    x = rng.normal(size=(T, B, I))
    with use_backend(backend):
        training = layer(x, lengths=LENGTHS)
        with inference(layer):
            evaluated = layer(x, lengths=LENGTHS)
    np.testing.assert_array_equal(evaluated[0], training[0])
    np.testing.assert_array_equal(evaluated[1][0], training[1][0])


def test_parameters_carry_pytorchs_names_shapes_and_order():
    layer = rnnlab.LSTM(I, H, num_layers=2, proj_size=P, bidirectional=True)
    module = torch_lstm(2, True)
    assert list(layer.params) == list(dict(module.named_parameters()))
    for name, value in module.named_parameters():
        assert layer.params[name].shape == tuple(value.shape), name
    assert layer.state_size == P
    assert "proj_size=3" in repr(layer)


def test_interop_goes_both_ways(rng):
    module = torch_lstm(2, True, torch.float32)
    layer = from_torch(module)
    assert layer.proj_size == P
    back = to_torch(layer)
    assert back.proj_size == P
    x = rng.normal(size=(T, B, I)).astype(np.float32)
    theirs = back(torch.from_numpy(x))[0].detach().numpy()
    np.testing.assert_allclose(layer(x)[0], theirs, atol=1e-6)
    np.testing.assert_allclose(theirs, module(torch.from_numpy(x))[0].detach().numpy(), atol=0)


def test_orthogonal_recurrent_blocks_have_orthonormal_columns():
    layer = rnnlab.LSTM(I, H, proj_size=P, recurrent_init="orthogonal", dtype=np.float64, seed=0)
    W_hh = layer.params["weight_hh_l0"]
    assert W_hh.shape == (4 * H, P)
    for block in np.split(W_hh, 4):
        np.testing.assert_allclose(block.T @ block, np.eye(P), atol=1e-12)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"proj_size": H}, "between 1 and hidden_size − 1"),
        ({"proj_size": -1}, "between 1 and hidden_size − 1"),
        ({"proj_size": 2.5}, "must be an int"),
        ({"proj_size": 2, "peephole": True}, "plain LSTM"),
    ],
)
def test_a_projection_it_cannot_take_is_refused_clearly(options, message):
    with pytest.raises(ConfigError, match=message):
        rnnlab.LSTM(I, H, **options)


def test_other_layers_take_no_projection():
    with pytest.raises(ConfigError, match="LSTM only, not to GRU"):
        rnnlab.GRU(I, H, proj_size=2)


def test_a_state_of_the_wrong_width_names_both_widths(rng):
    layer = rnnlab.LSTM(I, H, proj_size=P, dtype=np.float64)
    x = rng.normal(size=(T, B, I))
    with pytest.raises(ShapeError, match=r"h_0 has shape \(1, 4, 7\), expected \(1, 4, 3\)"):
        layer(x, (np.zeros((1, B, H)), np.zeros((1, B, H))))
    with pytest.raises(ShapeError, match=r"\(1, 4, 3\) and \(1, 4, 7\)"):
        layer(x, np.zeros((1, B, P)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_probes_see_the_projection(backend, rng):
    layer = rnnlab.LSTM(I, H, proj_size=P, dtype=np.float64, seed=4)
    x = rng.normal(size=(T, 2, I))
    with use_backend(backend):
        (rec,) = record(layer, x)
        log_norms = layer_jacobian_log_norms(layer, x)
    assert rec.hidden.shape == (T, 2, P) and rec.cell.shape == (T, 2, H)
    assert rec.kept["projected"].shape == (T, 2, H)  # h̃_t = o ⊙ tanh(c_t)
    np.testing.assert_allclose(
        rec.kept["projected"], rec.gates["o"] * np.tanh(rec.cell), atol=1e-12
    )
    assert log_norms.shape == (T + 1, 2) and np.isfinite(log_norms).all()

    # the step Jacobian ∂(h_t, c_t)/∂(h_{t−1}, c_{t−1}) against finite differences
    params, tape, t = layer.cell_params(0, 0), layer.last_tapes[0], 3
    J = step_jacobian("lstm", params, tape, t)
    assert J.shape == (2, P + H, P + H)
    h_prev, c_prev = tape["hidden"][t - 1], tape["cell"][t - 1]

    def step(state):
        h, c = _one_step(params, x[t - 1], state[:, :P], state[:, P:])
        return np.concatenate([h, c], axis=1)

    state = np.concatenate([h_prev, c_prev], axis=1)
    eps = 1e-6
    numeric = np.empty_like(J)
    for k in range(P + H):
        bump = np.zeros_like(state)
        bump[:, k] = eps
        numeric[:, :, k] = (step(state + bump) - step(state - bump)) / (2 * eps)
    np.testing.assert_allclose(J, numeric, atol=1e-8)


def _one_step(params, x_t, h, c):
    """One step of the projected LSTM in NumPy: (h_t, c_t)."""
    a = x_t @ params["W_ih"].T + params["b_ih"] + h @ params["W_hh"].T + params["b_hh"]
    i, f, g, o = np.split(a, 4, axis=1)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c_t = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return (sigmoid(o) * np.tanh(c_t)) @ params["W_hr"].T, c_t


def test_a_projected_language_model_trains_saves_samples_and_loads(tmp_path):
    check_a_language_model_trains_saves_samples_and_loads(tmp_path, "lstm", proj_size=24)


def test_a_bidirectional_projected_classifier_reads_its_last_states(rng):
    from rnnlab.models.sequence import SequenceModel, SequenceModelConfig

    config = SequenceModelConfig(
        input_size=I, output_size=2, task="classification", hidden_size=H, num_layers=2,
        bidirectional=True, proj_size=P, dtype="float64",
    )  # fmt: skip
    model = SequenceModel(config, seed=0)
    assert model.head.params["weight"].shape == (2, 2 * P)
    x, labels = rng.normal(size=(T, B, I)), np.array([0, 1, 1, 0])
    model.zero_grad()
    model.compute_loss((x, LENGTHS), labels)
    W_hr = model.rnn.params["weight_hr_l1_reverse"]
    analytic = model.rnn.grads["weight_hr_l1_reverse"].copy()
    numeric = np.empty_like(W_hr)
    for index in np.ndindex(W_hr.shape):  # the last states' gradient reaches W_hr
        losses = []
        for step in (1e-6, -1e-6):
            W_hr[index] += step
            losses.append(model.compute_loss((x, LENGTHS), labels, train=False)[0])
            W_hr[index] -= step
        numeric[index] = (losses[0] - losses[1]) / 2e-6
    assert np.abs(analytic).max() > 1e-3
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)
