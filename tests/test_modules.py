"""Module bookkeeping, Linear, Embedding, Dropout, losses and initialisations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.interop import to_torch
from rnnlab.nn.module import Module


class Tiny(Module):
    def __init__(self):
        super().__init__()
        self.embed = rnnlab.Embedding(5, 3, seed=0)
        self.rnn = rnnlab.GRU(3, 4, seed=0)
        self.head = rnnlab.Linear(4, 5, seed=0)


def test_params_are_flat_dotted_and_live():
    model = Tiny()
    assert "rnn.weight_ih_l0" in model.params and "head.bias" in model.params
    assert set(model.params) == set(model.grads)
    model.params["head.bias"][0] = 42.0
    assert model.head.params["bias"][0] == 42.0


def test_state_dict_round_trip_copies_into_live_arrays():
    model, other = Tiny(), Tiny()
    for value in other.params.values():
        value += 1.0
    live = model.params["rnn.weight_hh_l0"]
    model.load_state_dict(other.state_dict())
    assert model.params["rnn.weight_hh_l0"] is live
    for name, value in other.params.items():
        np.testing.assert_array_equal(model.params[name], value)


def test_load_state_dict_rejects_missing_unexpected_and_misshapen_entries():
    model = Tiny()
    state = model.state_dict()
    del state["head.bias"]
    with pytest.raises(ConfigError, match=r"missing \['head.bias'\]"):
        model.load_state_dict(state)
    state = model.state_dict() | {"extra": np.zeros(1)}
    with pytest.raises(ConfigError, match="unexpected \\['extra'\\]"):
        model.load_state_dict(state)
    state = model.state_dict()
    state["head.weight"] = np.zeros((2, 2), np.float32)
    with pytest.raises(ShapeError, match=r"head.weight.*\(2, 2\).*\(5, 4\)"):
        model.load_state_dict(state)


def test_zero_grad_and_train_eval_reach_every_child():
    model = Tiny()
    for grad in model.grads.values():
        grad += 1
    model.zero_grad()
    assert all(not grad.any() for grad in model.grads.values())
    model.eval()
    assert not model.rnn.training and not model.head.training
    model.train()
    assert model.embed.training


def test_linear_matches_torch(rng):
    layer = rnnlab.Linear(4, 3, dtype=np.float64, seed=0)
    reference = to_torch(layer)
    x = rng.normal(size=(2, 5, 4))
    y = layer(x)
    dy = rng.normal(size=y.shape)
    dx = layer.backward(dy)
    xt = torch.from_numpy(x).requires_grad_(True)
    (reference(xt) * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(y, reference(xt).detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.grads["weight"], reference.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.grads["bias"], reference.bias.grad.numpy(), atol=1e-12)


def test_embedding_accumulates_gradients_of_repeated_ids(rng):
    layer = rnnlab.Embedding(4, 2, dtype=np.float64, seed=0)
    ids = np.array([[1, 1], [3, 1]])
    out = layer(ids)
    np.testing.assert_array_equal(out[0, 0], layer.params["weight"][1])
    layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(layer.grads["weight"][:, 0], [0, 3, 0, 1])
    with pytest.raises(ShapeError, match="id 4 is out of range"):
        layer(np.array([4]))


def test_dropout_keeps_the_expectation_and_backward_uses_the_same_mask():
    layer = rnnlab.Dropout(0.25, seed=0)
    x = np.ones((200, 200), np.float32)
    y = layer(x)
    assert abs(y.mean() - 1.0) < 0.02
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), y)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


def test_interlayer_dropout_only_in_training():
    layer = rnnlab.LSTM(3, 4, num_layers=2, dropout=0.5, seed=0)
    x = np.random.default_rng(0).normal(size=(5, 2, 3)).astype(np.float32)
    a, _ = layer(x)
    b, _ = layer(x)
    assert not np.allclose(a, b)  # a fresh mask each call
    layer.eval()
    c, _ = layer(x)
    d, _ = layer(x)
    np.testing.assert_array_equal(c, d)


def test_dropout_layer_gradients_match_finite_differences_for_a_fixed_mask(rng):
    layer = rnnlab.GRU(3, 3, num_layers=2, dropout=0.5, dtype=np.float64, seed=0)
    x = rng.normal(size=(4, 2, 3))
    w = rng.normal(size=(4, 2, 3))
    state = layer.rng.bit_generator.state

    def loss():
        layer.rng.bit_generator.state = state  # the same dropout mask every call
        return float((layer(x)[0] * w).sum())

    loss()
    layer.zero_grad()
    layer.backward(w)
    name = "weight_ih_l0"
    param = layer.params[name]
    numeric = np.zeros_like(param)
    for index in np.ndindex(param.shape):
        saved = param[index]
        param[index] = saved + 1e-6
        plus = loss()
        param[index] = saved - 1e-6
        minus = loss()
        param[index] = saved
        numeric[index] = (plus - minus) / 2e-6
    assert np.abs(numeric - layer.grads[name]).max() < 1e-6 * np.abs(numeric).max()


def test_cross_entropy_matches_torch_with_ignore_index(rng):
    logits = rng.normal(size=(5, 3, 7))
    targets = rng.integers(0, 7, size=(5, 3))
    targets[0, 0] = -100
    loss, d_logits = rnnlab.cross_entropy(logits, targets, ignore_index=-100)
    lt = torch.from_numpy(logits).requires_grad_(True)
    expected = torch.nn.functional.cross_entropy(
        lt.reshape(-1, 7), torch.from_numpy(targets).reshape(-1), ignore_index=-100
    )
    expected.backward()
    assert abs(loss - expected.item()) < 1e-12
    np.testing.assert_allclose(d_logits, lt.grad.numpy(), atol=1e-12)


def test_cross_entropy_mask_drops_positions_and_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    loss, grad = rnnlab.cross_entropy(logits, np.array([0, 0]), mask=np.array([True, False]))
    assert loss == pytest.approx(0.0) and np.isfinite(grad).all()
    assert not grad[1].any()


def test_mse_matches_torch(rng):
    prediction, target = rng.normal(size=(4, 3, 2)), rng.normal(size=(4, 3, 2))
    loss, grad = rnnlab.mse(prediction, target)
    pt = torch.from_numpy(prediction).requires_grad_(True)
    expected = torch.nn.functional.mse_loss(pt, torch.from_numpy(target))
    expected.backward()
    assert abs(loss - expected.item()) < 1e-12
    np.testing.assert_allclose(grad, pt.grad.numpy(), atol=1e-12)


def test_default_initialisation_is_pytorchs_uniform_bound():
    layer = rnnlab.GRU(10, 16, seed=0)
    bound = 1 / np.sqrt(16)
    for value in layer.params.values():
        assert np.abs(value).max() <= bound
        assert np.abs(value).max() > 0.9 * bound


def test_orthogonal_recurrent_blocks_xavier_inputs_and_forget_bias():
    H, I = 8, 5
    layer = rnnlab.LSTM(
        I,
        H,
        recurrent_init="orthogonal",
        input_init="xavier",
        forget_bias=1.0,
        dtype=np.float64,
        seed=0,
    )
    w_hh = layer.params["weight_hh_l0"]
    for gate in range(4):
        block = w_hh[gate * H : (gate + 1) * H]
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)
    assert np.abs(layer.params["weight_ih_l0"]).max() <= np.sqrt(6 / (I + H))
    forget = slice(H, 2 * H)
    np.testing.assert_array_equal(layer.params["bias_ih_l0"][forget], 1.0)
    np.testing.assert_array_equal(layer.params["bias_hh_l0"][forget], 0.0)


def test_the_same_seed_gives_the_same_weights():
    a, b = rnnlab.LSTM(3, 4, seed=11), rnnlab.LSTM(3, 4, seed=11)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])


def test_the_readme_example_runs():
    import rnnlab

    x = np.random.default_rng(0).normal(size=(7, 3, 10)).astype(np.float32)
    m = rnnlab.LSTM(10, 20, num_layers=2, bidirectional=True)
    y, (h, c) = m(x)
    dx, _ = m.backward(np.ones_like(y))
    assert y.shape == (7, 3, 40) and h.shape == c.shape == (4, 3, 20) and dx.shape == x.shape
