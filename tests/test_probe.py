"""Probes return what the cells computed, in time order, and ∂L/∂h_t exactly."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab.models import LanguageModel, LanguageModelConfig
from rnnlab.probe import language_model_gradient_norms, layer_records, record, step_norms

LAYERS = {
    "rnn_tanh": lambda **kw: rnnlab.RNN(3, 4, **kw),
    "lstm": lambda **kw: rnnlab.LSTM(3, 4, **kw),
    "gru": lambda **kw: rnnlab.GRU(3, 4, **kw),
}


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_records_hold_the_outputs_of_both_directions_in_time_order(mode, rng):
    layer = LAYERS[mode](num_layers=2, bidirectional=True, dtype=np.float64, seed=0)
    x = rng.normal(size=(6, 2, 3))
    lengths = np.array([6, 4])
    output, _ = layer(x, lengths=lengths)
    records = record(layer, x, lengths=lengths)
    assert [(r.layer, r.direction) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    top_forward, top_reverse = records[2], records[3]
    valid = np.arange(6)[:, None] < lengths[None, :]
    np.testing.assert_allclose(np.where(valid[..., None], top_forward.hidden, 0), output[..., :4])
    np.testing.assert_allclose(np.where(valid[..., None], top_reverse.hidden, 0), output[..., 4:])
    expected_gates = {"lstm": {"i", "f", "g", "o"}, "gru": {"r", "z", "n"}}.get(mode, set())
    assert set(top_forward.gates) == expected_gates
    for name, values in top_forward.gates.items():
        assert values.shape == (6, 2, 4)
        low = -1 if name in ("g", "n") else 0
        assert values.min() >= low and values.max() <= 1
    assert (top_forward.cell is not None) == (mode == "lstm")


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_d_hidden_is_the_total_gradient_reaching_each_state(mode, rng):
    """∂L/∂h_t = ∂L/∂out_t + ∂L_(after t)/∂h_t, the latter from a run that starts at h_t."""
    layer = LAYERS[mode](dtype=np.float64, seed=1)
    T, t = 7, 3
    x = rng.normal(size=(T, 2, 3))
    d_out = rng.normal(size=(T, 2, 4))
    layer.retain_tapes = True
    layer(x)
    layer.backward(d_out)
    d_hidden = layer_records(layer)[0].d_hidden

    _, state_t = layer(x[: t + 1])
    layer(x[t + 1 :], state_t)
    _, d_state = layer.backward(d_out[t + 1 :])
    d_h_rest = d_state[0] if mode == "lstm" else d_state
    np.testing.assert_allclose(d_hidden[t], d_out[t] + d_h_rest[0], atol=1e-12)


def test_language_model_gradient_norms_leave_the_gradients_alone(rng):
    model = LanguageModel(LanguageModelConfig(vocab_size=5, hidden_size=6, cell="gru"), seed=0)
    ids = rng.integers(0, 5, size=(12, 3))
    for grad in model.grads.values():
        grad += 1.0
    records = language_model_gradient_norms(model, ids, np.roll(ids, -1, 0), at="last")
    assert all((grad == 1.0).all() for grad in model.grads.values())
    norms = step_norms(records[0].d_hidden)
    assert norms.shape == (12,) and norms[-1] > 0
    with pytest.raises(rnnlab.errors.ConfigError, match="at must be"):
        language_model_gradient_norms(model, ids, ids, at="middle")
