"""Single-step cells: PyTorch's RNNCell, LSTMCell and GRUCell, called in a Python loop and
undone by the same loop backwards (BPTT by hand), equal to torch.nn's cells with autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.backend import use_backend
from rnnlab.errors import ShapeError, StateError
from rnnlab.interop import from_torch, params_from_torch, to_torch
from rnnlab.nn.module import inference

T, B, I, H = 5, 3, 4, 6
CELLS = {
    "rnn_tanh": lambda **kw: rnnlab.RNNCell(I, H, **kw),
    "rnn_relu": lambda **kw: rnnlab.RNNCell(I, H, nonlinearity="relu", **kw),
    "lstm": lambda **kw: rnnlab.LSTMCell(I, H, **kw),
    "gru": lambda **kw: rnnlab.GRUCell(I, H, **kw),
    "lstm_peephole": lambda **kw: rnnlab.LSTMCell(I, H, peephole=True, **kw),
}


def _h(state):
    return state[0] if isinstance(state, tuple) else state


def run_loop(cell, xs, state0, weights):
    """Our cell over xs step by step, the loss Σ_t ⟨w_t, h_t⟩, and BPTT by hand:
    (loss, dxs, d_state0)."""
    cell.zero_grad()
    state, states = state0, []
    for x in xs:
        state = cell(x, state)
        states.append(state)
    loss = sum(float((_h(s) * w).sum()) for s, w in zip(states, weights, strict=True))
    d_state = (weights[-1], None) if cell.has_cell_state else weights[-1]
    dxs = [None] * len(xs)
    for t in reversed(range(len(xs))):
        dxs[t], d_state = cell.backward(d_state)
        if t > 0:  # h_{t−1} was also an output
            if cell.has_cell_state:
                d_state = (d_state[0] + weights[t - 1], d_state[1])
            else:
                d_state = d_state + weights[t - 1]
    return loss, np.stack(dxs), d_state


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mode", ["rnn_tanh", "rnn_relu", "lstm", "gru"])
@pytest.mark.parametrize("unbatched", [False, True], ids=["batched", "unbatched"])
def test_a_loop_of_steps_and_its_backward_equal_torchs_cell_with_autograd(
    backend, mode, unbatched, rng
):
    cell = CELLS[mode](dtype=np.float64, seed=1)
    shape = (H,) if unbatched else (B, H)
    xs = rng.normal(size=(T, *(() if unbatched else (B,)), I))
    weights = rng.normal(size=(T, *shape))
    state0 = (rng.normal(size=shape), rng.normal(size=shape)) if cell.has_cell_state else None
    with use_backend(backend):
        loss, dxs, d_state0 = run_loop(cell, xs, state0, weights)

    ours = to_torch(cell)
    assert type(ours).__name__ == type(cell).__name__
    xs_t = torch.tensor(xs, requires_grad=True)
    state_t = (
        tuple(torch.tensor(p, requires_grad=True) for p in state0) if state0 is not None else None
    )
    state, loss_t = state_t, 0
    for t in range(T):
        state = ours(xs_t[t], state)
        loss_t = loss_t + (_h(state) * torch.from_numpy(weights[t])).sum()
    loss_t.backward()
    assert loss == pytest.approx(loss_t.item(), abs=1e-10)
    np.testing.assert_allclose(dxs, xs_t.grad.numpy(), atol=1e-10)
    if state_t is not None:
        np.testing.assert_allclose(d_state0[0], state_t[0].grad.numpy(), atol=1e-10)
        np.testing.assert_allclose(d_state0[1], state_t[1].grad.numpy(), atol=1e-10)
    # the same names; gradients convert as weights do (the GRU's z rows change sign)
    torch_grads = params_from_torch({k: p.grad for k, p in ours.named_parameters()}, mode)
    for name, grad in cell.grads.items():
        np.testing.assert_allclose(grad, torch_grads[name], atol=1e-10, err_msg=name)
        assert np.abs(grad).max() > 0, name


@pytest.mark.parametrize("mode", sorted(CELLS))
def test_the_hand_written_backward_matches_finite_differences(mode, rng):
    cell = CELLS[mode](dtype=np.float64, seed=2)
    xs = rng.normal(size=(3, 2, I))
    weights = rng.normal(size=(3, 2, H))
    state0 = (rng.normal(size=(2, H)), rng.normal(size=(2, H))) if cell.has_cell_state else None
    _, dxs, _ = run_loop(cell, xs, state0, weights)
    analytic = {name: grad.copy() for name, grad in cell.grads.items()}

    def loss() -> float:
        with inference(cell):
            return run_loop_value(cell, xs, state0, weights)

    eps, worst = 1e-6, 0.0
    for name, param in [*cell.params.items(), ("x", xs)]:
        grad = dxs if name == "x" else analytic[name]
        for index in list(np.ndindex(param.shape))[:: max(1, param.size // 12)]:
            keep = param[index]
            param[index] = keep + eps
            up = loss()
            param[index] = keep - eps
            down = loss()
            param[index] = keep
            numeric = (up - down) / (2 * eps)
            worst = max(worst, abs(numeric - grad[index]) / max(1e-3, abs(numeric)))
    assert worst < 1e-6, worst


def run_loop_value(cell, xs, state0, weights) -> float:
    state, total = state0, 0.0
    for x, w in zip(xs, weights, strict=True):
        state = cell(x, state)
        total += float((_h(state) * w).sum())
    return total


def test_float32_cells_run_and_every_backward_needs_its_call(rng):
    cell = rnnlab.LSTMCell(I, H, seed=0)
    h, c = cell(rng.normal(size=(B, I)).astype(np.float32))
    assert h.dtype == c.dtype == np.float32 and h.shape == (B, H)
    cell.backward((np.ones_like(h), None))
    with pytest.raises(StateError, match="more times than the cell"):
        cell.backward((np.ones_like(h), None))
    with inference(cell):
        cell(rng.normal(size=(B, I)).astype(np.float32))
    with pytest.raises(StateError):
        cell.backward((np.ones_like(h), None))  # no tape was kept


def test_bad_inputs_and_states_are_refused_in_one_line(rng):
    cell = rnnlab.GRUCell(I, H, seed=0)
    with pytest.raises(ShapeError, match=r"x has 3 features .* expected input_size = 4"):
        cell(np.zeros((2, 3), np.float32))
    with pytest.raises(ShapeError, match=r"state has shape \(2, 5\), expected \(2, 6\)"):
        cell(np.zeros((2, I), np.float32), np.zeros((2, 5), np.float32))
    lstm = rnnlab.LSTMCell(I, H)
    with pytest.raises(ShapeError, match=r"must be a tuple \(h, c\)"):
        lstm(np.zeros((2, I), np.float32), np.zeros((2, H), np.float32))


def test_cells_move_to_torch_and_back_with_their_options():
    for module in (
        torch.nn.LSTMCell(I, H),
        torch.nn.GRUCell(I, H, bias=False),
        torch.nn.RNNCell(I, H, nonlinearity="relu"),
    ):
        cell = from_torch(module)
        back = to_torch(cell)
        assert type(back) is type(module) and back.bias == module.bias
        for name, value in module.state_dict().items():
            torch.testing.assert_close(back.state_dict()[name], value)
    assert from_torch(torch.nn.RNNCell(I, H, nonlinearity="relu")).mode == "rnn_relu"
    with pytest.raises(rnnlab.errors.ConfigError, match="no PyTorch cell"):
        to_torch(rnnlab.LSTMCell(I, H, peephole=True))


def test_a_loop_that_refills_its_buffers_in_place_still_gets_exact_gradients(rng):
    """Each call keeps copies of its input and state, as torch's autograd would insist."""
    cell, twin = (rnnlab.GRUCell(I, H, dtype=np.float64, seed=3) for _ in range(2))
    xs = rng.normal(size=(4, 2, I))
    buffer, state, fresh = np.empty((2, I)), np.zeros((2, H)), None
    for x in xs:
        buffer[:] = x  # one input buffer, refilled
        state[:] = cell(buffer, state)  # one state buffer, updated in place
        fresh = twin(x.copy(), fresh)
    d_state = d_fresh = np.ones((2, H))
    for _ in xs:
        d_x, d_state = cell.backward(d_state)
        d_x_fresh, d_fresh = twin.backward(d_fresh)
        np.testing.assert_array_equal(d_x, d_x_fresh)
    for name, grad in cell.grads.items():
        np.testing.assert_array_equal(grad, twin.grads[name], err_msg=name)


def test_changing_a_returned_state_in_place_leaves_the_gradients_exact(rng):
    """A loop may reset finished sequences in the state a call returned."""
    cell, twin = (rnnlab.RNNCell(I, H, dtype=np.float64, seed=4) for _ in range(2))
    x = rng.normal(size=(2, I))
    h, h_twin = cell(x), twin(x)
    h[...] = 0  # what the loop does with the state before the backward pass
    d_x, _ = cell.backward(np.ones((2, H)))
    d_x_twin, _ = twin.backward(np.ones((2, H)))
    np.testing.assert_array_equal(d_x, d_x_twin)
    assert np.abs(h_twin).max() > 0


def test_a_cell_in_evaluation_mode_keeps_no_tape(rng):
    cell = rnnlab.LSTMCell(I, H, seed=0).eval()
    state = None
    for _ in range(100):  # a sampling loop: no backward, so nothing may pile up
        state = cell(rng.normal(size=(1, I)).astype(np.float32), state)
    assert cell._tapes == []
    with pytest.raises(StateError, match="evaluation mode"):
        cell.backward((state[0], None))
