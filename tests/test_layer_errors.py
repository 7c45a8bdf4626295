"""Bad input to a layer raises an error naming the argument, what it got, what it expected."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab.errors import ConfigError, DTypeError, RnnlabError, ShapeError, StateError


@pytest.fixture
def lstm():
    return rnnlab.LSTM(4, 6, num_layers=2, seed=0)


def x_of(*shape, dtype=np.float32):
    return np.zeros(shape, dtype=dtype)


def test_wrong_input_rank(lstm):
    with pytest.raises(ShapeError, match=r"x has shape \(2, 3, 4, 5\) \(rank 4\), expected rank 3"):
        lstm(x_of(2, 3, 4, 5))


def test_wrong_feature_size(lstm):
    with pytest.raises(ShapeError, match=r"x has 5 features .* expected input_size = 4"):
        lstm(x_of(3, 2, 5))


def test_wrong_dtype_says_how_to_convert(lstm):
    with pytest.raises(DTypeError, match=r"x has dtype float64, expected float32 .*astype"):
        lstm(x_of(3, 2, 4, dtype=np.float64))
    with pytest.raises(DTypeError, match="x must be a numpy array, got list"):
        lstm([[0.0] * 4])


def test_wrong_state_batch_or_shape(lstm):
    h = x_of(2, 5, 6)
    with pytest.raises(ShapeError, match=r"h_0 has shape \(2, 5, 6\), expected \(2, 2, 6\)"):
        lstm(x_of(3, 2, 4), (h, h))
    with pytest.raises(ShapeError, match=r"state must be a tuple \(h_0, c_0\)"):
        lstm(x_of(3, 2, 4), x_of(2, 2, 6))
    gru = rnnlab.GRU(4, 6, bidirectional=True)
    with pytest.raises(ShapeError, match=r"h_0 has shape \(1, 2, 6\), expected \(2, 2, 6\)"):
        gru(x_of(3, 2, 4), x_of(1, 2, 6))


def test_lengths_longer_than_T_or_not_positive(lstm):
    with pytest.raises(
        ShapeError, match=r"lengths must be at most the sequence length T = 3, got 4"
    ):
        lstm(x_of(3, 2, 4), lengths=[3, 4])
    with pytest.raises(ShapeError, match="lengths must be positive, got 0 at batch index 1"):
        lstm(x_of(3, 2, 4), lengths=[3, 0])
    with pytest.raises(ShapeError, match=r"lengths has shape \(3,\), expected \(2,\)"):
        lstm(x_of(3, 2, 4), lengths=[3, 2, 1])
    with pytest.raises(DTypeError, match="lengths must be integers"):
        lstm(x_of(3, 2, 4), lengths=[1.5, 2.0])


def test_backward_before_forward(lstm):
    with pytest.raises(StateError, match=r"LSTM.backward\(\) was called before forward\(\)"):
        lstm.backward(x_of(3, 2, 6))
    output, _ = lstm(x_of(3, 2, 4))
    lstm.backward(np.ones_like(output))
    with pytest.raises(StateError, match="before forward"):  # one backward per forward
        lstm.backward(np.ones_like(output))


def test_wrong_gradient_shape(lstm):
    lstm(x_of(3, 2, 4))
    with pytest.raises(ShapeError, match=r"d_output has shape \(3, 2, 5\), expected \(3, 2, 6\)"):
        lstm.backward(x_of(3, 2, 5))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: rnnlab.LSTM(0, 4), "input_size must be a positive integer, got 0"),
        (lambda: rnnlab.GRU(3, -2), "hidden_size must be a positive integer, got -2"),
        (lambda: rnnlab.RNN(3, 4, num_layers=1.5), "num_layers must be a positive integer"),
        (lambda: rnnlab.RNN(3, 4, nonlinearity="sigmoid"), "nonlinearity must be 'tanh' or 'relu'"),
        (lambda: rnnlab.LSTM(3, 4, dropout=1.0), r"dropout must be a number in \[0, 1\)"),
        (lambda: rnnlab.GRU(3, 4, dtype=np.int32), "dtype must be float32 or float64"),
        (lambda: rnnlab.GRU(3, 4, forget_bias=1.0), "forget_bias applies to LSTM only"),
        (lambda: rnnlab.LSTM(3, 4, recurrent_init="eye"), "recurrent_init must be one of"),
    ],
)
def test_bad_constructor_arguments(make, match):
    with pytest.raises(ConfigError, match=match):
        make()


def test_every_error_is_an_rnnlab_error_and_a_builtin():
    with pytest.raises(RnnlabError):
        rnnlab.LSTM(4, 6)(x_of(3, 2, 5))
    with pytest.raises(ValueError):
        rnnlab.LSTM(4, 6)(x_of(3, 2, 5))
