"""The pipelined backward pass: the loop on one thread, the weight gradients on the other."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

import rnnlab
from rnnlab.kernels import layer as compiled_layer
from rnnlab.runtime import team
from rnnlab.runtime.pipeline import PROGRESS, chunk_steps, gradients, help_gradients, pipelines

T, B, I, H = 10, 4, 3, 5


def _terms(gates: int, gru: bool, input_grad: bool, seed: int = 0, start=None) -> tuple:
    """gradients' arguments up to ``steps``: weight gradients that start as NaN (to be
    overwritten), or as ``start`` (W_ih's, W_hh's) to be added to."""
    rng = np.random.default_rng(seed)
    G = gates * H
    x = rng.standard_normal((T, B, I))
    hidden = rng.standard_normal((T + 1, B, H))
    d_pre = rng.standard_normal((T, B, G))
    d_h_n = rng.standard_normal((T, B, H)) if gru else np.empty((0, B, H))
    W_ih = rng.standard_normal((G, I))
    dx = np.full((T if input_grad else 0, B, I), np.nan)
    if start is None:
        W_ih_grad, W_hh_grad, first_beta = np.full((G, I), np.nan), np.full((G, H), np.nan), 0.0
    else:
        W_ih_grad, W_hh_grad, first_beta = start[0].copy(), start[1].copy(), 1.0
    return x, hidden, d_pre, d_h_n, W_ih, W_ih_grad, W_hh_grad, dx, first_beta


def _finished_counter(joined: bool) -> np.ndarray:
    counter = np.zeros(32, dtype=np.int64)
    counter[PROGRESS] = T  # the loop has finished every step
    counter[16] = int(joined)  # the loop's thread has joined before the first chunk
    return counter


@pytest.mark.parametrize("gru", [False, True], ids=["lstm-like", "gru"])
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_the_chunked_gradients_are_the_sums_over_all_steps(gru, steps):
    terms = _terms(3 if gru else 4, gru, input_grad=True)
    x, hidden, d_pre, d_h_n, W_ih, W_ih_grad, W_hh_grad, dx, _ = terms
    gradients(*terms, steps, _finished_counter(joined=False), ())
    h_prev = hidden[:-1]
    expected_hh = np.einsum("tbg,tbh->gh", d_pre, h_prev)
    if gru:  # the n block's recurrent term has its own gradient
        expected_hh[2 * H :] = np.einsum("tbn,tbh->nh", d_h_n, h_prev)
    np.testing.assert_allclose(W_ih_grad, np.einsum("tbg,tbi->gi", d_pre, x), atol=1e-12)
    np.testing.assert_allclose(W_hh_grad, expected_hh, atol=1e-12)
    np.testing.assert_allclose(dx, d_pre @ W_ih, atol=1e-12)


def test_with_a_first_beta_of_one_the_gradients_are_added_to_what_is_there():
    """A layer's gradient arrays are given to the pipeline to add to (``into``)."""
    G = 4 * H
    start = (np.arange(G * I, dtype=float).reshape(G, I), np.ones((G, H)))
    added = _terms(4, gru=False, input_grad=False, start=start)
    fresh = _terms(4, gru=False, input_grad=False)
    for terms in (added, fresh):
        gradients(*terms, 3, _finished_counter(joined=False), ())
    np.testing.assert_allclose(added[5], start[0] + fresh[5], atol=1e-12)
    np.testing.assert_allclose(added[6], start[1] + fresh[6], atol=1e-12)


def test_without_input_gradient_no_dx_is_computed():
    terms = _terms(4, gru=False, input_grad=False)
    gradients(*terms, 3, _finished_counter(joined=False), ())
    assert terms[7].shape[0] == 0
    assert np.isfinite(terms[5]).all() and np.isfinite(terms[6]).all()


def test_the_result_does_not_depend_on_when_the_loop_thread_joins():
    """Alone, the gradients' thread computes both halves of every chunk; joined from the
    first chunk, it computes one half and the loop's thread the other: the same bits."""
    alone = _terms(4, gru=False, input_grad=True)
    gradients(*alone, 3, _finished_counter(joined=False), ())
    shared = _terms(4, gru=False, input_grad=True)
    counter = _finished_counter(joined=True)
    gradients(*shared, 3, counter, ())
    assert counter[24] == (T - 1) // 3 * 3 + 2  # shared from the last chunk on
    help_gradients(*shared, 3, counter, ())
    for mine, theirs in zip(alone[5:8], shared[5:8], strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_small_batched_layers_on_two_threads_are_pipelined():
    W_hh = np.zeros((4 * 128, 128), dtype=np.float32)
    assert pipelines(16, W_hh, parts=2)
    assert not pipelines(1, W_hh, parts=2)  # no batch: nothing to split
    assert not pipelines(16, W_hh, parts=1)
    assert not pipelines(16, W_hh, parts=3)
    assert not pipelines(64, np.zeros((4 * 1024, 1024), dtype=np.float32), parts=2)
    assert not pipelines(16, np.zeros((3 * 512, 512), dtype=np.float32), parts=2)
    assert chunk_steps(16) == 8 and chunk_steps(1000) == 1


def _train_step(layer, x, dy):
    layer.zero_grad()
    layer(x)
    dx, _ = layer.backward(dy)
    return dx, {name: grad.copy() for name, grad in layer.grads.items()}


LAYERS = {
    "rnn": rnnlab.RNN,
    "lstm": rnnlab.LSTM,
    "gru": rnnlab.GRU,
    # its input_backward_step runs on the gradients' side, chunk by chunk
    "lstm_layer_norm": partial(rnnlab.LSTM, layer_norm=True),
}


@pytest.mark.parametrize("cell", sorted(LAYERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_pipelined_backward_gives_the_same_bits_on_one_thread_and_on_two(
    monkeypatch, cell, dtype
):
    """Run alone (as when the team is busy), the loop's thread does the gradients itself."""
    make = LAYERS[cell]
    layer = make(8, 24, seed=1, dtype=dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((13, 6, 8)).astype(dtype)
    dy = rng.standard_normal((13, 6, 24)).astype(dtype)
    team.force_parts(2)
    try:
        assert pipelines(6, layer.cell_params(0, 0)["W_hh"], parts=2)
        runs = [_train_step(layer, x, dy) for _ in range(3)]
        calls = []

        def one_thread(parts, function, *args, driver=None):  # Team.run when it is busy
            calls.append(function.__name__)
            function(0, 1, np.zeros(32, dtype=np.int64), *args)

        monkeypatch.setattr(compiled_layer, "run", one_thread)
        alone = _train_step(layer, x, dy)
    finally:
        team.force_parts(None)
    assert "pipelined_backward" in calls
    for dx, grads in [*runs[1:], alone]:
        np.testing.assert_array_equal(dx, runs[0][0])
        for name, grad in grads.items():
            np.testing.assert_array_equal(grad, runs[0][1][name], err_msg=name)
