"""Every gradient rnnlab writes by hand matches central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
from cell_cases import has_cell_state, random_params

import rnnlab
from rnnlab.cells import CELLS

TOLERANCE = 1e-6


@pytest.mark.parametrize("mode", sorted(CELLS))
@pytest.mark.parametrize("with_lengths", [False, True])
def test_cell_gradients_match_finite_differences(mode, with_lengths, rng):
    T, B, I, H = 5, 3, 4, 3
    params = random_params(mode, I, H, rng, scale=0.6, bias_scale=0.3)
    x = rng.normal(size=(T, B, I))
    lstm = has_cell_state(mode)
    state0 = (rng.normal(size=(B, H)), rng.normal(size=(B, H))) if lstm else rng.normal(size=(B, H))
    lengths = np.array([5, 2, 3]) if with_lengths else None
    cell = CELLS[mode]
    out, state_T, tape = cell.forward(params, x, state0, lengths)
    w_out = rng.normal(size=out.shape)
    w_state = tuple(rng.normal(size=s.shape) for s in state_T) if lstm else rng.normal(size=(B, H))

    def loss():
        o, s, _ = cell.forward(params, x, state0, lengths)
        pairs = zip(s, w_state, strict=True) if lstm else [(s, w_state)]
        return (o * w_out).sum() + sum((a * w).sum() for a, w in pairs)

    def numeric(array):
        grad = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            plus = loss()
            array[index] = saved - 1e-6
            minus = loss()
            array[index] = saved
            grad[index] = (plus - minus) / 2e-6
        return grad

    dx, grads, d_state0 = cell.backward(params, tape, w_out, w_state)
    checks = [(grads[k], params[k]) for k in params if params[k].size] + [(dx, x)]
    checks += list(zip(d_state0, state0, strict=True)) if lstm else [(d_state0, state0)]
    for analytic, array in checks:
        error = np.abs(analytic - numeric(array)).max() / np.abs(analytic).max()
        assert error < TOLERANCE


LAYERS = {
    "rnn_tanh": lambda **kw: rnnlab.RNN(3, 3, nonlinearity="tanh", **kw),
    "rnn_relu": lambda **kw: rnnlab.RNN(3, 3, nonlinearity="relu", **kw),
    "lstm": lambda **kw: rnnlab.LSTM(3, 3, **kw),
    "gru": lambda **kw: rnnlab.GRU(3, 3, **kw),
    "lstm_peephole": lambda **kw: rnnlab.LSTM(3, 3, peephole=True, **kw),
    "indrnn_relu": lambda **kw: rnnlab.IndRNN(3, 3, **kw),
    "indrnn_tanh": lambda **kw: rnnlab.IndRNN(3, 3, nonlinearity="tanh", **kw),
}


@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_two_layer_bidirectional_layer_with_state_and_lengths_passes_gradcheck(mode, rng):
    layer = LAYERS[mode](num_layers=2, bidirectional=True, dtype=np.float64, seed=5)
    x = rng.normal(size=(4, 3, 3))
    draw = lambda: rng.normal(size=(4, 3, 3))  # noqa: E731
    state = (draw(), draw()) if has_cell_state(mode) else draw()
    result = rnnlab.gradcheck(layer, x, state=state, lengths=np.array([4, 1, 3]))
    expected = (
        set(layer.params)
        | {"input"}
        | ({"state_h", "state_c"} if has_cell_state(mode) else {"state"})
    )
    assert set(result.errors) == expected
    assert result.ok(TOLERANCE), str(result)


def test_gradcheck_checks_a_float32_module_in_float64_and_leaves_it_unchanged(rng):
    layer = rnnlab.LSTM(3, 4, batch_first=True, seed=0)
    before = layer.state_dict()
    result = rnnlab.gradcheck(layer, rng.normal(size=(2, 5, 3)).astype(np.float32))
    assert result.ok(TOLERANCE), str(result)
    assert layer.params["weight_hh_l0"].dtype == np.float32
    for name, value in layer.params.items():
        np.testing.assert_array_equal(value, before[name])


def test_gradcheck_of_linear_and_embedding(rng):
    assert rnnlab.gradcheck(rnnlab.Linear(4, 3, seed=0), rng.normal(size=(2, 5, 4))).ok(TOLERANCE)
    result = rnnlab.gradcheck(rnnlab.Embedding(6, 3, seed=0), np.array([[0, 5, 2], [2, 2, 1]]))
    assert set(result.errors) == {"weight"} and result.ok(TOLERANCE)


class LinearWithWrongWeightGradient(rnnlab.Linear):
    def backward(self, d_y):
        d_x = super().backward(d_y)
        self._grads["weight"] *= 1.01  # a 1 % error
        return d_x


def test_gradcheck_finds_a_one_percent_error_in_a_gradient(rng):
    result = rnnlab.gradcheck(LinearWithWrongWeightGradient(3, 2, seed=0), rng.normal(size=(4, 3)))
    assert not result.ok(TOLERANCE)
    assert result.errors["weight"] > 1e-3
    assert result.errors["bias"] < TOLERANCE


def test_gradcheck_max_checks_samples_elements(rng):
    layer = rnnlab.GRU(3, 8, seed=0)
    result = rnnlab.gradcheck(layer, rng.normal(size=(3, 2, 3)), max_checks=5)
    assert result.ok(TOLERANCE)
