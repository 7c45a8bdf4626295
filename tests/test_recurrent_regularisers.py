"""Recurrent dropout (Gal & Ghahramani 2016) and zoneout (Krueger et al. 2016) on every
recurrent layer.

Recurrent dropout: one mask m per sequence, for all its steps, on h_{t−1} where it meets
W_hh (a_t = W_ih x_t + b_ih + W_hh (m ⊙ h_{t−1}) + b_hh), in training only. Zoneout: each
unit of h (and c) keeps its previous value with probability p at each step in training,
s_t = z_t ⊙ s_{t−1} + (1 − z_t) ⊙ s̃_t, and mixes in p at evaluation. The reference is the
papers' equations written with PyTorch autograd; every registered cell is checked
against finite differences with its masks fixed, on both backends.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cell_cases import random_params

import rnnlab
from rnnlab.backend import cell_functions, use_backend
from rnnlab.cells import CELLS
from rnnlab.errors import ConfigError
from rnnlab.nn.dropout import dropout_mask
from rnnlab.probe import step_jacobian
from rnnlab.runtime import team

T, B, I, H = 6, 4, 3, 5
LENGTHS = np.array([6, 2, 5, 1])


def lstm_equations(params, x, h, c, lengths, m, z):
    """An LSTM with recurrent dropout m (B, H) and zoneout z (T, B, 2H), step by step."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    outputs = []
    for t in range(x.shape[0]):
        a = x[t] @ W_ih.T + b_ih + (m * h) @ W_hh.T + b_hh  # W_hh (m ⊙ h_{t−1})
        i, f, o = (torch.sigmoid(a[:, k * H : (k + 1) * H]) for k in (0, 1, 3))
        g = torch.tanh(a[:, 2 * H : 3 * H])
        c_new = f * c + i * g
        h_new = o * torch.tanh(c_new)
        z_h, z_c = z[t, :, :H], z[t, :, H:]
        h_new, c_new = z_h * h + (1 - z_h) * h_new, z_c * c + (1 - z_c) * c_new
        valid = torch.as_tensor(t < lengths)[:, None]
        h, c = torch.where(valid, h_new, h), torch.where(valid, c_new, c)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), (h, c)


def gru_equations(params, x, h, lengths, m, z):
    """rnnlab's GRU (z: how much of the candidate is taken) with recurrent dropout on the
    products with W_hh and zoneout on h, step by step."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    outputs = []
    for t in range(x.shape[0]):
        u, v = x[t] @ W_ih.T + b_ih, (m * h) @ W_hh.T + b_hh
        r = torch.sigmoid(u[:, :H] + v[:, :H])
        update = torch.sigmoid(u[:, H : 2 * H] + v[:, H : 2 * H])
        n = torch.tanh(u[:, 2 * H :] + r * v[:, 2 * H :])
        h_new = (1 - update) * h + update * n  # h_{t−1} itself outside W_hh
        h_new = z[t] * h + (1 - z[t]) * h_new
        valid = torch.as_tensor(t < lengths)[:, None]
        h = torch.where(valid, h_new, h)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h


def gru_reset_before_equations(params, x, h, lengths, m, z):
    """The reset-before GRU (Cho et al. 2014) with recurrent dropout as Keras applies it,
    every product with W_hh reading m ⊙ h_{t−1} (so W_hn (r ⊙ m ⊙ h_{t−1})), and zoneout."""
    W_ih, W_hh, b_ih, b_hh = (params[k] for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
    outputs = []
    for t in range(x.shape[0]):
        u, read = x[t] @ W_ih.T + b_ih, m * h
        v = read @ W_hh[: 2 * H].T + b_hh[: 2 * H]
        r = torch.sigmoid(u[:, :H] + v[:, :H])
        update = torch.sigmoid(u[:, H : 2 * H] + v[:, H:])
        n = torch.tanh(u[:, 2 * H :] + (r * read) @ W_hh[2 * H :].T + b_hh[2 * H :])
        h_new = (1 - update) * h + update * n
        h_new = z[t] * h + (1 - z[t]) * h_new
        valid = torch.as_tensor(t < lengths)[:, None]
        h = torch.where(valid, h_new, h)
        outputs.append(torch.where(valid, h_new, torch.zeros_like(h_new)))
    return torch.stack(outputs), h


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
@pytest.mark.parametrize("mode", ["lstm", "gru", "gru_reset_before"])
def test_recurrent_dropout_and_zoneout_match_the_papers_equations_in_torch_autograd(
    mode, backend, lengths, rng
):
    params = random_params(mode, I, H, rng, scale=0.6)
    lstm = mode == "lstm"
    m = dropout_mask((B, H), 0.3, rng, np.dtype(np.float64))
    z = (rng.random((T, B, 2 * H if lstm else H)) < 0.3).astype(np.float64)
    x, h0, c0 = rng.normal(size=(T, B, I)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    w_out, w_h, w_c = rng.normal(size=(T, B, H)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    given = lengths if lengths is not None else np.full(B, T)

    leaves = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    tx, th0, tc0 = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    tm, tz = torch.tensor(m), torch.tensor(z)
    if lstm:
        out_t, (h_t, c_t) = lstm_equations(leaves, tx, th0, tc0, given, tm, tz)
        loss = (h_t * torch.tensor(w_h)).sum() + (c_t * torch.tensor(w_c)).sum()
    else:
        equations = gru_equations if mode == "gru" else gru_reset_before_equations
        out_t, h_t = equations(leaves, tx, th0, given, tm, tz)
        loss = (h_t * torch.tensor(w_h)).sum()
    (loss + (out_t * torch.tensor(w_out)).sum()).backward()

    with use_backend(backend):
        cell = cell_functions(mode)
        state0, d_state = ((h0, c0), (w_h, w_c)) if lstm else (h0, w_h)
        out, state_T, tape = cell.forward(params, x, state0, lengths, recurrent_mask=m, zoneout=z)
        dx, grads, d_state0 = cell.backward(params, tape, w_out, d_state)
    np.testing.assert_allclose(out, out_t.detach().numpy(), atol=1e-12)
    h_T = state_T[0] if lstm else state_T
    np.testing.assert_allclose(h_T, h_t.detach().numpy(), atol=1e-12)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(grads[name], leaf.grad.numpy(), atol=1e-10, err_msg=name)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=1e-10)
    dh0 = d_state0[0] if lstm else d_state0
    np.testing.assert_allclose(dh0, th0.grad.numpy(), atol=1e-10)
    if lstm:
        np.testing.assert_allclose(d_state0[1], tc0.grad.numpy(), atol=1e-10)


def layer_of(mode: str, **options):
    """A 2-layer bidirectional float64 stack of registered cell ``mode``."""
    cell = CELLS[mode]
    common = dict(num_layers=2, bidirectional=True, dtype=np.float64, seed=2, **options)
    layer = getattr(rnnlab, cell.layer)
    return layer(3, 3, **cell.layer_options, **common)


def finite_difference_errors(layer, x, state, lengths, rng, samples=6):
    """Relative errors of layer.backward against central differences in training mode,
    with the same masks at every call (the generator reset before each)."""

    def run():
        layer.rng = np.random.default_rng(11)
        return layer(x, state, lengths)

    out, final = run()
    w_out = rng.normal(size=out.shape)
    finals = final if isinstance(final, tuple) else (final,)
    w_final = [rng.normal(size=f.shape) for f in finals]

    def loss():
        o, f = run()
        parts = f if isinstance(f, tuple) else (f,)
        return (o * w_out).sum() + sum((p * w).sum() for p, w in zip(parts, w_final, strict=True))

    layer.zero_grad()
    run()
    d_final = tuple(w_final) if isinstance(final, tuple) else w_final[0]
    d_x, d_state = layer.backward(w_out, d_final)
    d_states = d_state if isinstance(d_state, tuple) else (d_state,)
    states = state if isinstance(state, tuple) else (state,)
    arrays = [(name, layer.params[name], layer.grads[name]) for name in layer.params]
    arrays += [("input", x, d_x)] + [
        (f"state {k}", s, d) for k, (s, d) in enumerate(zip(states, d_states, strict=True))
    ]
    errors = {}
    for name, array, analytic in arrays:
        flat = array.reshape(-1)
        picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
        worst = 0.0
        for index in picks:
            saved = flat[index]
            flat[index] = saved + 1e-6
            plus = loss()
            flat[index] = saved - 1e-6
            minus = loss()
            flat[index] = saved
            numeric = (plus - minus) / 2e-6
            worst = max(worst, abs(numeric - analytic.reshape(-1)[index]))
        errors[name] = worst / max(np.abs(analytic).max(), 1e-12)
    return errors


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mode", sorted(CELLS))
def test_every_cell_with_recurrent_dropout_and_zoneout_matches_finite_differences(
    mode, backend, rng
):
    options = {"zoneout": 0.3}
    if CELLS[mode].recurrent:
        options["recurrent_dropout"] = 0.3
    layer = layer_of(mode, **options)
    x = rng.normal(size=(5, 3, 3))
    draw = lambda: rng.normal(size=(4, 3, 3))  # noqa: E731
    state = (draw(), draw()) if CELLS[mode].has_cell_state else draw()
    with use_backend(backend):
        errors = finite_difference_errors(layer, x, state, np.array([5, 2, 4]), rng)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_projected_lstm_with_both_matches_finite_differences_in_training(backend, rng):
    layer = rnnlab.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64,
                        seed=2, recurrent_dropout=0.3, zoneout=0.3)  # fmt: skip
    x, state = rng.normal(size=(5, 3, 3)), (rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 4)))
    with use_backend(backend):
        errors = finite_difference_errors(layer, x, state, np.array([5, 2, 4]), rng)
    assert "weight_hr_l1_reverse" in errors
    assert max(errors.values()) < 1e-6, errors


def test_recurrent_dropout_is_one_mask_per_sequence_in_training_and_none_in_evaluation(rng):
    layer = rnnlab.LSTM(4, 64, recurrent_dropout=0.3, seed=0)
    layer.retain_tapes = True
    x = rng.normal(size=(7, 64, 4)).astype(np.float32)
    layer(x)
    mask = layer.last_tapes[0]["recurrent_mask"]
    assert mask.shape == (64, 64)  # (B, H): the same for every step of a sequence
    assert set(np.unique(mask)) == {0.0, np.float32(1 / 0.7)}
    assert abs((mask == 0).mean() - 0.3) < 0.03
    plain = rnnlab.LSTM(4, 64, seed=0)  # the same weights (the masks draw nothing at init)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0], plain(x)[0])


def test_zoneout_draws_every_step_in_training_and_mixes_its_expectation_in_evaluation(rng):
    layer = rnnlab.LSTM(4, 32, zoneout=0.25, seed=0)
    layer.retain_tapes = True
    x = rng.normal(size=(9, 16, 4)).astype(np.float32)
    layer(x)
    z = layer.last_tapes[0]["zoneout"]
    assert z.shape == (9, 16, 64)  # a draw per step, sequence and unit of h and c
    assert set(np.unique(z)) == {0.0, 1.0} and abs(z.mean() - 0.25) < 0.03
    assert not np.array_equal(z[0], z[1])

    state = (rng.normal(size=(1, 16, 32)).astype(np.float32),) * 2
    one_step = x[:1]
    layer.eval()
    out, (h, c) = layer(one_step, state)
    _, (plain_h, plain_c) = rnnlab.LSTM(4, 32, seed=0)(one_step, state)
    np.testing.assert_allclose(h, 0.25 * state[0] + 0.75 * plain_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c, 0.25 * state[1] + 0.75 * plain_c, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[0], h[0])


def test_the_options_are_checked_and_said():
    with pytest.raises(ConfigError, match=r"recurrent_dropout must be a number in \[0, 1\)"):
        rnnlab.GRU(3, 4, recurrent_dropout=1.0)
    with pytest.raises(ConfigError, match=r"zoneout must be a number in \[0, 1\)"):
        rnnlab.LSTM(3, 4, zoneout=-0.1)
    with pytest.raises(ConfigError, match="IndRNN has no W_hh"):
        rnnlab.IndRNN(3, 4, recurrent_dropout=0.2)
    assert repr(rnnlab.GRU(3, 4, recurrent_dropout=0.2, zoneout=0.1)) == (
        "GRU(3, 4, recurrent_dropout=0.2, zoneout=0.1)"
    )


def test_a_language_model_with_zoneout_samples_what_its_own_forward_gives():
    """The compiled generator has no zoneout: the model's evaluation mixing must not be
    skipped, so both backends draw the same text."""
    from rnnlab.data.text import CharVocab
    from rnnlab.models import LanguageModel, LanguageModelConfig

    vocab = CharVocab.from_text("abcdefgh \n")
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=16, zoneout=0.5)
    model = LanguageModel(config, seed=0, vocab=vocab)
    for name in model.params:  # large weights, so that the mixing shows in the text
        model.params[name] *= 4
    texts = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            texts.append(rnnlab.sample(model, 60, prime="abc", seed=3))
    assert texts[0] == texts[1] and len(texts[0]) == 60


@pytest.mark.parametrize("parts", [1, 2], ids=["one thread", "two threads"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_bidirectional_stack_with_both_gives_the_same_numbers_on_both_backends_and_threads(
    cell, parts, rng
):
    """Every direction draws its masks before the directions may run at once, and the
    compiled loops split over threads (rows and the products' columns) agree."""
    x, lengths = rng.normal(size=(7, 6, 3)), np.array([7, 3, 1, 5, 7, 2])
    results = []
    for backend in ("numpy", "numba"):
        layer = layer_of(cell, recurrent_dropout=0.3, zoneout=0.2)
        layer.rng = np.random.default_rng(9)
        team.force_parts(parts)
        try:
            with use_backend(backend):
                out, _ = layer(x, lengths=lengths)
                d_x, _ = layer.backward(np.cos(out))
        finally:
            team.force_parts(None)
        results.append((out, d_x, {k: v.copy() for k, v in layer.grads.items()}))
    (out_n, dx_n, g_n), (out_k, dx_k, g_k) = results
    np.testing.assert_allclose(out_k, out_n, atol=1e-12)
    np.testing.assert_allclose(dx_k, dx_n, atol=1e-12)
    for name in g_n:
        np.testing.assert_allclose(g_k[name], g_n[name], atol=1e-12, err_msg=name)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_the_probes_step_jacobian_sees_zoneout_and_the_recurrent_mask(mode, backend, rng):
    """J_t = ∂s_t/∂s_{t−1} against central differences of one step taken with the same
    masks (diag(z) + diag(1 − z) J̃ under zoneout)."""
    from rnnlab.cells import zoneout as zoneout_cell

    layer = layer_of(mode, zoneout=0.5, recurrent_dropout=0.3)
    layer.retain_tapes = True
    x = rng.normal(size=(4, 2, 3))
    with use_backend(backend):
        layer(x)
    tape, params, cell = layer.last_tapes[0], layer.cell_params(0, 0), CELLS[mode]
    mixed = [t for t in range(2, 5) if 0 < tape["zoneout"][t - 1].mean() < 1]
    t = mixed[0]  # a step where some units keep their value and others take the new one
    J = step_jacobian(mode, params, tape, t)
    lstm = cell.has_cell_state

    def step(state):  # s_{t−1} (B, S) → s_t with step t's masks
        previous = (state[:, :3], state[:, 3:]) if lstm else state
        _, final, _ = zoneout_cell.forward(
            cell, params, x[t - 1 : t], previous, None, tape["zoneout"][t - 1 : t],
            tape["recurrent_mask"],
        )  # fmt: skip
        return np.concatenate(final, axis=1) if lstm else final

    parts = [tape["hidden"][t - 1]] + ([tape["cell"][t - 1]] if lstm else [])
    s_prev = np.concatenate(parts, axis=1)
    S = s_prev.shape[1]
    numeric = np.empty((2, S, S))
    for k in range(S):
        e = np.zeros_like(s_prev)
        e[:, k] = 1e-6
        numeric[:, :, k] = (step(s_prev + e) - step(s_prev - e)) / 2e-6
    np.testing.assert_allclose(J, numeric, atol=1e-8)
