"""Attention (Bahdanau et al. 2015's additive score; Luong et al. 2015's dot and general)
over encoder outputs with lengths: equal to the same equations written with PyTorch
autograd (float64, 1e-10, with every gradient), against finite differences, and undone
call by call when a decoder calls it step by step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.errors import ConfigError, ShapeError, StateError
from rnnlab.nn.module import inference

T, S, B, Q, K = 4, 6, 3, 5, 7
LENGTHS = np.array([6, 2, 4])


def torch_attention(kind, params, q, k, lengths):
    """The paper's equations in PyTorch: q (B, T, Q), k (B, S, K) → context, weights."""
    if kind == "dot":
        scores = q @ k.transpose(1, 2)
    elif kind == "general":
        scores = q @ (k @ params["weight"].T).transpose(1, 2)
    else:
        from_query = q @ params["query_weight"].T
        from_keys = k @ params["key_weight"].T + params["bias"]
        u = torch.tanh(from_query[:, :, None, :] + from_keys[:, None, :, :])
        scores = u @ params["score_weight"]
    valid = torch.as_tensor(np.arange(k.shape[1])[None, :] < lengths[:, None])
    weights = torch.softmax(scores.masked_fill(~valid[:, None, :], float("-inf")), dim=-1)
    return weights @ k, weights


def layer(kind, **options):
    query_size = K if kind == "dot" else Q
    return rnnlab.Attention(query_size, K, kind, dtype=np.float64, seed=0, **options)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_attention_equals_the_papers_equations_in_torch_autograd(kind, rng):
    attention = layer(kind)
    query = rng.normal(size=(T, B, attention.query_size))
    keys = rng.normal(size=(S, B, K))
    d_context, d_weights = rng.normal(size=(T, B, K)), rng.normal(size=(T, B, S))

    leaves = {n: torch.tensor(v, requires_grad=True) for n, v in attention.params.items()}
    tq = torch.tensor(query.transpose(1, 0, 2), requires_grad=True)
    tk = torch.tensor(keys.transpose(1, 0, 2), requires_grad=True)
    context_t, weights_t = torch_attention(kind, leaves, tq, tk, LENGTHS)
    loss = (context_t * torch.tensor(d_context.transpose(1, 0, 2))).sum()
    (loss + (weights_t * torch.tensor(d_weights.transpose(1, 0, 2))).sum()).backward()

    context, weights = attention(query, keys, LENGTHS)
    d_query, d_keys = attention.backward(d_context, d_weights)
    np.testing.assert_allclose(context, context_t.detach().numpy().transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(weights, weights_t.detach().numpy().transpose(1, 0, 2), atol=1e-12)
    np.testing.assert_allclose(d_query, tq.grad.numpy().transpose(1, 0, 2), atol=1e-10)
    np.testing.assert_allclose(d_keys, tk.grad.numpy().transpose(1, 0, 2), atol=1e-10)
    assert set(attention.grads) == set(leaves)
    for name, leaf in leaves.items():
        np.testing.assert_allclose(attention.grads[name], leaf.grad.numpy(), atol=1e-10)


@pytest.mark.parametrize("kind", ["dot", "general", "additive"])
def test_attention_gradients_match_finite_differences(kind, rng):
    attention = layer(kind, **({"attention_size": 4} if kind == "additive" else {}))
    query = rng.normal(size=(T, B, attention.query_size))
    keys = rng.normal(size=(S, B, K))
    w_context, w_weights = rng.normal(size=(T, B, K)), rng.normal(size=(T, B, S))

    def loss():
        context, weights = attention(query, keys, LENGTHS)
        attention._tapes.clear()
        return (context * w_context).sum() + (weights * w_weights).sum()

    attention(query, keys, LENGTHS)
    d_query, d_keys = attention.backward(w_context, w_weights)
    arrays = [("query", query, d_query), ("keys", keys, d_keys)]
    arrays += [(name, value, attention.grads[name]) for name, value in attention.params.items()]
    for name, array, analytic in arrays:
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + 1e-6
            plus = loss()
            array[index] = saved - 1e-6
            minus = loss()
            array[index] = saved
            numeric[index] = (plus - minus) / 2e-6
        error = np.abs(analytic - numeric).max() / np.abs(numeric).max()
        assert error < 1e-6, (name, error)


def test_padded_keys_get_no_weight_and_no_gradient(rng):
    attention = layer("additive")
    keys = rng.normal(size=(S, B, K))
    context, weights = attention(rng.normal(size=(B, Q)), keys, LENGTHS)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0)
    for b, length in enumerate(LENGTHS):
        assert (weights[b, :length] > 0).all() and (weights[b, length:] == 0).all()
        np.testing.assert_allclose(context[b], weights[b, :length] @ keys[:length, b])
    _, d_keys = attention.backward(np.ones_like(context))
    for b, length in enumerate(LENGTHS):
        assert (d_keys[length:, b] == 0).all() and np.abs(d_keys[:length, b]).max() > 0


def test_a_decoder_loop_is_undone_call_by_call_as_one_call_over_all_steps(rng):
    """Step by step, each backward undoes the latest call: the gradients add up to those
    of one call with every query at once."""
    attention = layer("general")
    queries, keys = rng.normal(size=(T, B, Q)), rng.normal(size=(S, B, K))
    d_context = rng.normal(size=(T, B, K))
    context, _ = attention(queries, keys, LENGTHS)
    d_queries, d_keys = attention.backward(d_context)
    whole = attention.grads["weight"].copy()

    attention.zero_grad()
    steps = [attention(queries[t], keys, LENGTHS)[0] for t in range(T)]
    np.testing.assert_allclose(np.stack(steps), context, atol=1e-12)
    d_keys_steps = np.zeros_like(keys)
    for t in reversed(range(T)):
        d_query, d_k = attention.backward(d_context[t])
        np.testing.assert_allclose(d_query, d_queries[t], atol=1e-12)
        d_keys_steps += d_k
    np.testing.assert_allclose(d_keys_steps, d_keys, atol=1e-12)
    np.testing.assert_allclose(attention.grads["weight"], whole, atol=1e-12)
    with pytest.raises(StateError, match="no call left to undo"):
        attention.backward(d_context[0])


def test_inference_keeps_no_tape_and_the_last_weights_stay_readable(rng):
    attention = layer("dot")
    with inference(attention):
        _, weights = attention(rng.normal(size=(B, K)), rng.normal(size=(S, B, K)))
    assert attention._tapes == [] and attention.last_weights is weights


def test_float32_by_default_and_the_repr_says_the_kind():
    attention = rnnlab.Attention(8, 6, "additive", attention_size=5)
    assert all(value.dtype == np.float32 for value in attention.params.values())
    assert repr(attention) == "Attention(8, 6, kind='additive', attention_size=5)"
    assert set(attention.params) == {"query_weight", "key_weight", "bias", "score_weight"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((4, 5, "dot"), "needs query_size = key_size"),
        ((4, 5, "cosine"), "kind must be one of"),
        ((4, 5, "general", 3), "attention_size is the additive score's width"),
        ((0, 5, "general"), "query_size must be a positive integer"),
    ],
)
def test_a_bad_configuration_is_named(arguments, message):
    with pytest.raises(ConfigError, match=message):
        rnnlab.Attention(*arguments)


def test_bad_shapes_are_named(rng):
    attention = layer("general")
    keys = rng.normal(size=(S, B, K))
    with pytest.raises(ShapeError, match=r"keys has shape \(6, 3\), expected \(S, B, 7\)"):
        attention(rng.normal(size=(B, Q)), keys[:, :, 0])
    with pytest.raises(ShapeError, match=r"query has shape \(2, 5\), expected \(3, 5\)"):
        attention(rng.normal(size=(2, Q)), keys)
    with pytest.raises(ShapeError, match="lengths must be at most"):
        attention(rng.normal(size=(B, Q)), keys, np.array([7, 1, 1]))
    attention(rng.normal(size=(B, Q)), keys)
    with pytest.raises(ShapeError, match=r"d_context has shape \(2, 3, 7\), expected \(3, 7\)"):
        attention.backward(rng.normal(size=(2, B, K)))
