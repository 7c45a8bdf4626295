"""rnnlab's RNN, LSTM and GRU compute what torch.nn computes, for every combination of options.

Outputs, final states, input gradients, initial-state gradients and every weight gradient
agree to 1e-10 in float64 and 1e-5 in float32 (dropout 0), packed sequences included.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from reference import torch_run

import rnnlab
from rnnlab.backend import use_backend
from rnnlab.interop import params_from_torch, recurrent_kind, to_torch

CELLS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
T, B, I, H = 5, 3, 4, 5
LENGTHS = np.array([5, 2, 4])
TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}


def make_layer(cell, num_layers, bidirectional, batch_first, dtype):
    options = dict(
        num_layers=num_layers,
        bidirectional=bidirectional,
        batch_first=batch_first,
        dtype=dtype,
        seed=7,
    )
    if cell.startswith("rnn"):
        return rnnlab.RNN(I, H, nonlinearity=cell[4:], **options)
    return {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU}[cell](I, H, **options)


def close(actual, expected, tol):
    if isinstance(expected, tuple):
        for a, e in zip(actual, expected, strict=True):
            close(a, e, tol)
        return
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol)


GRID = list(
    itertools.product(CELLS, [1, 3], [False, True], [False, True], [False, True], [False, True])
)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "cell,num_layers,bidirectional,batch_first,with_lengths,with_state",
    GRID,
    ids=["-".join(map(str, g)) for g in GRID],
)
def test_layer_matches_torch(
    cell, num_layers, bidirectional, batch_first, with_lengths, with_state, dtype, backend
):
    with use_backend(backend):
        check_layer_against_torch(
            cell, num_layers, bidirectional, batch_first, with_lengths, with_state, dtype
        )


def check_layer_against_torch(
    cell, num_layers, bidirectional, batch_first, with_lengths, with_state, dtype
):
    rng = np.random.default_rng(hash((cell, num_layers, bidirectional, batch_first)) % 2**32)
    layer = make_layer(cell, num_layers, bidirectional, batch_first, dtype)
    # biases away from zero so a doubled or dropped bias cannot pass unseen
    for name, value in layer.params.items():
        if name.startswith("bias"):
            value += dtype(0.3)
    reference = to_torch(layer)
    D = 2 if bidirectional else 1
    x = rng.standard_normal((B, T, I) if batch_first else (T, B, I)).astype(dtype)
    state_shape = (num_layers * D, B, H)
    draw = lambda: rng.standard_normal(state_shape).astype(dtype)  # noqa: E731
    state = ((draw(), draw()) if cell == "lstm" else draw()) if with_state else None
    lengths = LENGTHS if with_lengths else None

    output, final = layer(x, state, lengths)
    d_output = rng.standard_normal(output.shape).astype(dtype)
    d_state = (draw(), draw()) if cell == "lstm" else draw()
    layer.zero_grad()
    d_input, d_state0 = layer.backward(d_output, d_state)
    expected = torch_run(reference, x, state, lengths, d_output, d_state)

    tol = TOLERANCE[dtype]
    close(output, expected["output"], tol)
    close(final, expected["state"], tol)
    close(d_input, expected["d_input"], tol)
    if with_state:
        close(d_state0, expected["d_state0"], tol)
    expected_grads = params_from_torch(expected["grads"], recurrent_kind(layer))
    assert set(layer.grads) == set(expected_grads)
    for name, grad in layer.grads.items():
        close(grad, expected_grads[name], tol)


def test_unbatched_input_matches_torch(rng):
    layer = rnnlab.GRU(I, H, num_layers=2, dtype=np.float64, seed=1)
    reference = to_torch(layer)
    x = rng.standard_normal((T, I))
    output, h = layer(x)
    expected_out, expected_h = reference(torch.from_numpy(x))
    assert output.shape == (T, H) and h.shape == (2, H)
    close(output, expected_out.detach().numpy(), 1e-12)
    close(h, expected_h.detach().numpy(), 1e-12)
    d_x, d_h0 = layer.backward(np.ones_like(output))
    assert d_x.shape == (T, I) and d_h0.shape == (2, H)


def test_layer_without_bias_matches_torch(rng):
    layer = rnnlab.LSTM(I, H, bias=False, dtype=np.float64, seed=3)
    assert not any(name.startswith("bias") for name in layer.params)
    reference = to_torch(layer)
    x = rng.standard_normal((T, B, I))
    output, _ = layer(x)
    close(output, reference(torch.from_numpy(x))[0].detach().numpy(), 1e-12)
