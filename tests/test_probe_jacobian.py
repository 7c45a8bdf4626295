"""Jacobians ∂s_t/∂s_{t−1}, their products, gradient norms of any model, and saturation.

The analytic Jacobians are checked against central differences of the reference cells
in float64, one step at a time and over the whole sequence.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import CELLS
from rnnlab.models import LanguageModel, LanguageModelConfig, SequenceModel, SequenceModelConfig
from rnnlab.models.language import make_recurrent
from rnnlab.probe import (
    gradient_norms,
    gradient_records,
    layer_jacobian_log_norms,
    layer_records,
    layer_saturation,
    log_slope,
    record,
    saturation,
    step_jacobian,
    step_norms,
)

MODES = tuple(CELLS)  # every registered cell


def make_layer(mode: str, hidden: int = 5, **kw):
    """A float64 layer of cell ``mode`` (an LSTM's forget gates start at bias 1)."""
    return make_recurrent(mode, 3, hidden, dtype=np.float64, forget_bias=1.0, **kw)


def run_from(mode, params, x, state):
    """s_T of the reference cell from state s (a flat (B, S) array), as a flat (B, S)."""
    H = params["W_hh"].shape[1]
    state0 = (state[:, :H], state[:, H:]) if CELLS[mode].has_cell_state else state
    _, final, _ = CELLS[mode].forward(params, x, state0)
    return np.concatenate(final, axis=1) if CELLS[mode].has_cell_state else final


def numerical_jacobian(mode, params, x, state, eps=1e-6):
    """(B, S, S) central differences of s_T with respect to s_0."""
    B, S = state.shape
    J = np.empty((B, S, S))
    for j in range(S):
        step = np.zeros_like(state)
        step[:, j] = eps
        plus, minus = (
            run_from(mode, params, x, state + step),
            run_from(mode, params, x, state - step),
        )
        J[:, :, j] = (plus - minus) / (2 * eps)
    return J


def flat_state(tape, mode, t):
    h = tape["hidden"][t]
    return np.concatenate([h, tape["cell"][t]], axis=1) if CELLS[mode].has_cell_state else h


@pytest.mark.parametrize("mode", MODES)
def test_step_jacobians_match_central_differences(mode, rng):
    layer = make_layer(mode, seed=0)
    x = rng.normal(size=(6, 2, 3))
    record(layer, x, state=None)
    params, tape = layer.cell_params(0, 0), layer.last_tapes[0]
    if mode == "rnn_relu":  # keep away from the kink at 0
        assert np.min(np.abs(tape["hidden"][1:][tape["hidden"][1:] != 0])) > 1e-4
    for t in range(1, 7):
        expected = numerical_jacobian(mode, params, x[t - 1 : t], flat_state(tape, mode, t - 1))
        np.testing.assert_allclose(step_jacobian(mode, params, tape, t), expected, atol=1e-8)


@pytest.mark.parametrize("mode", MODES)
def test_products_give_the_spectral_norm_of_the_whole_sequences_jacobian(mode, rng):
    layer = make_layer(mode, seed=1)
    x = rng.normal(size=(8, 3, 3))
    log_norms = layer_jacobian_log_norms(layer, x)
    assert log_norms.shape == (9, 3)
    params, tape = layer.cell_params(0, 0), layer.last_tapes[0]
    for d in (1, 4, 8):
        t = 8 - d
        J = numerical_jacobian(mode, params, x[t:], flat_state(tape, mode, t))
        with np.errstate(divide="ignore"):  # a ReLU network may pass no gradient at all
            expected = np.log(np.linalg.norm(J, ord=2, axis=(1, 2)))
        np.testing.assert_allclose(log_norms[d], expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(log_norms[0], 0.0)


def test_lstm_hidden_block_is_dh_T_dh_t_at_fixed_cell(rng):
    layer = make_layer("lstm", seed=2)
    x = rng.normal(size=(5, 2, 3))
    log_norms = layer_jacobian_log_norms(layer, x, block="hidden")
    params, tape = layer.cell_params(0, 0), layer.last_tapes[0]
    J = numerical_jacobian("lstm", params, x, flat_state(tape, "lstm", 0))[:, :5, :5]
    np.testing.assert_allclose(log_norms[5], np.log(np.linalg.norm(J, ord=2, axis=(1, 2))))


def test_padded_steps_carry_the_state_so_their_jacobian_is_identity(rng):
    layer = make_layer("gru", seed=3)
    x = rng.normal(size=(6, 2, 3))
    layer.retain_tapes = True
    layer(x, lengths=np.array([6, 3]))
    params, tape = layer.cell_params(0, 0), layer.last_tapes[0]
    np.testing.assert_allclose(step_jacobian("gru", params, tape, 5)[1], np.eye(5))
    assert not np.allclose(step_jacobian("gru", params, tape, 5)[0], np.eye(5))


def test_long_products_neither_underflow_nor_overflow(rng):
    layer = make_layer("rnn_tanh", hidden=8, seed=4)
    layer.params["weight_hh_l0"][...] *= 0.2  # strongly contracting
    log_norms = layer_jacobian_log_norms(layer, rng.normal(size=(600, 1, 3)))
    assert np.all(np.isfinite(log_norms)) and log_norms[-1, 0] < -800  # below 1e-308
    assert np.all(np.diff(log_norms[:, 0]) < 0)


def test_linear_rnn_jacobian_norm_is_the_matrix_power_norm():
    """With tiny inputs and zero biases a tanh RNN is linear: ∂h_T/∂h_t = W^(T−t)."""
    layer = make_layer("rnn_tanh", hidden=6, seed=5, bias=False)
    W = layer.params["weight_hh_l0"]
    x = np.zeros((10, 1, 3))
    log_norms = layer_jacobian_log_norms(layer, x)
    for d in (1, 5, 10):
        expected = np.log(np.linalg.norm(np.linalg.matrix_power(W, d), ord=2))
        assert log_norms[d, 0] == pytest.approx(expected, rel=1e-9)


def test_log_slope_recovers_the_rate():
    norms = 3.0 * 0.8 ** np.arange(30)
    assert log_slope(norms) == pytest.approx(np.log(0.8))
    assert log_slope(np.append(norms, [0.0, np.nan])) == pytest.approx(np.log(0.8))


# -- gradient norms of whole models ----------------------------------------------------
def test_sequence_model_gradient_norms_match_the_layers_d_hidden(rng):
    config = SequenceModelConfig(2, 1, cell="gru", hidden_size=6, dtype="float64")
    model = SequenceModel(config, seed=0)
    x, y = rng.normal(size=(9, 4, 2)), rng.normal(size=(4, 1))
    before = {k: v.copy() for k, v in model.grads.items()}
    records = gradient_records(model, x, y)
    for k, v in model.grads.items():  # gradients untouched
        np.testing.assert_array_equal(v, before[k])
    # ∂L/∂h_t by hand: the loss reads h_T only, so ∂L/∂h_T = 2 V^T (ŷ − y) / B
    outputs, _ = model(x)
    d_h_T = 2 * (outputs - y) / 4 @ model.params["head.weight"]
    np.testing.assert_allclose(records[0].d_hidden[-1], d_h_T, rtol=1e-10)
    norms = gradient_norms(model, x, y)
    np.testing.assert_allclose(norms, step_norms(records[0].d_hidden))
    assert norms.shape == (9,)


def test_sequence_model_with_all_readout_puts_the_loss_on_the_last_step(rng):
    config = SequenceModelConfig(
        4,
        4,
        task="classification",
        readout="all",
        cell="lstm",
        hidden_size=5,
        input_tokens=True,
        dtype="float64",
    )
    model = SequenceModel(config, seed=0)
    ids = rng.integers(0, 4, (7, 3))
    targets = rng.integers(0, 4, (7, 3))
    last = gradient_records(model, ids, targets, at="last")[0]
    every = gradient_records(model, ids, targets, at="all")[0]
    # with the loss at the last step only, ∂L/∂h_T comes from one output; the rest is BPTT
    assert not np.allclose(last.d_hidden, every.d_hidden)
    lengths = np.array([7, 4, 2])
    padded = gradient_records(model, (ids, lengths), targets, at="last")[0]
    assert np.all(padded.d_hidden[4:, 1] == 0) and np.any(padded.d_hidden[3, 1] != 0)


def test_language_models_are_probed_too(rng):
    model = LanguageModel(LanguageModelConfig(5, cell="rnn_tanh", hidden_size=4), seed=0)
    ids = rng.integers(0, 5, (6, 2))
    norms = gradient_norms(model, ids, ids)
    assert norms.shape == (6,) and norms[-1] > 0


def test_gradient_norms_reject_other_models():
    with pytest.raises(rnnlab.errors.ConfigError, match="LanguageModel or a SequenceModel"):
        gradient_records(object(), None, None)


# -- saturation -------------------------------------------------------------------------
def test_saturation_counts_units_past_the_thresholds(rng):
    layer = make_layer("lstm", hidden=4, seed=0)
    x = rng.normal(size=(5, 2, 3))
    rec = record(layer, x)[0]
    rec.gates["f"][...] = 0.5
    rec.gates["f"][2, :, :2] = 0.995  # half the units saturated at t = 3
    rec.gates["g"][...] = 0.0
    rec.gates["g"][4] = -0.999
    stats = saturation(rec, "lstm")
    assert set(stats) == {"i", "f", "g", "o", "tanh(c)"}
    np.testing.assert_allclose(stats["f"], [0, 0, 0.5, 0, 0])
    np.testing.assert_allclose(stats["g"], [0, 0, 0, 0, 1])
    assert all(v.shape == (5,) for v in stats.values())


def test_a_saturated_tanh_rnn_is_reported_saturated(rng):
    layer = make_layer("rnn_tanh", hidden=8, seed=0)
    layer.params["weight_ih_l0"][...] *= 100
    stats = layer_saturation(layer, rng.normal(size=(5, 4, 3)))[0]
    assert stats["h"].mean() > 0.8
    relu = layer_saturation(make_layer("rnn_relu", seed=0), rng.normal(size=(5, 4, 3)))[0]
    assert set(relu) == {"h = 0"} and 0 < relu["h = 0"].mean() < 1
    assert set(layer_saturation(make_layer("gru", seed=0), rng.normal(size=(3, 1, 3)))[0]) == {
        "r",
        "z",
        "n",
    }


def test_records_survive_the_next_call(rng):
    """gradient_records copies: the compiled kernels reuse their buffers."""
    model = SequenceModel(SequenceModelConfig(2, 1, cell="lstm", hidden_size=4), seed=0)
    x = rng.normal(size=(5, 2, 2)).astype(np.float32)
    first = gradient_records(model, x, np.ones((2, 1)))[0].d_hidden.copy()
    kept = gradient_records(model, x, np.ones((2, 1)))[0]
    gradient_records(model, 2 * x, np.zeros((2, 1)))
    np.testing.assert_array_equal(kept.d_hidden, first)
    assert layer_records(model.rnn)  # the layer still has its last tapes
