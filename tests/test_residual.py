"""Residual stacks: from the second layer on, a layer's input is added to its output,
y_l = stack_l(x_l) + x_l. PyTorch has no such option, so the reference is a stack of
one-layer torch modules with the same weights and the sums written out in autograd."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.backend import use_backend
from rnnlab.errors import ConfigError
from rnnlab.interop import params_to_torch, to_torch
from rnnlab.io import load_model, save_checkpoint
from rnnlab.models import LanguageModel, LanguageModelConfig

LAYERS = {
    "rnn_tanh": lambda **kw: rnnlab.RNN(3, 4, **kw),
    "lstm": lambda **kw: rnnlab.LSTM(3, 4, **kw),
    "gru": lambda **kw: rnnlab.GRU(3, 4, **kw),
    "lstm_peephole": lambda **kw: rnnlab.LSTM(3, 4, peephole=True, **kw),
}


def _state(layer, rng, batch):
    draw = lambda: rng.normal(size=(layer.num_layers * layer.num_directions, batch, 4))  # noqa: E731
    return (draw(), draw()) if layer.has_cell_state else draw()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("mode", sorted(LAYERS))
def test_a_residual_bidirectional_stack_passes_gradcheck(backend, mode, rng):
    layer = LAYERS[mode](num_layers=3, bidirectional=True, residual=True, dtype=np.float64, seed=5)
    x = rng.normal(size=(5, 3, 3))
    with use_backend(backend):
        result = rnnlab.gradcheck(layer, x, _state(layer, rng, 3), lengths=np.array([5, 1, 3]))
    assert "input" in result.errors and "weight_hh_l2_reverse" in result.errors
    assert result.ok(1e-6), str(result)


def _torch_residual_stack(layer, x, state):
    """The residual stack in torch autograd: one torch module per layer, same weights."""
    D, L = layer.num_directions, layer.num_layers
    kind = type(layer).__name__
    params = {
        name: torch.from_numpy(value)
        for name, value in params_to_torch(layer.params, layer.mode).items()
    }
    modules, inputs = [], x
    h_T, c_T = [], []
    for k in range(L):
        in_size = layer.input_size if k == 0 else D * layer.hidden_size
        module = getattr(torch.nn, kind)(
            in_size, layer.hidden_size, bidirectional=layer.bidirectional, dtype=torch.float64
        )
        own = {}
        for name in module.state_dict():
            own[name] = params[name.replace("_l0", f"_l{k}")]
        module.load_state_dict(own)
        modules.append(module)
        if layer.has_cell_state:
            layer_state = (state[0][k * D : (k + 1) * D], state[1][k * D : (k + 1) * D])
        else:
            layer_state = state[k * D : (k + 1) * D]
        output, final = module(inputs, layer_state)
        if layer.has_cell_state:
            h_T.append(final[0])
            c_T.append(final[1])
        else:
            h_T.append(final)
        inputs = output + inputs if k > 0 else output
    return inputs, modules, torch.cat(h_T), (torch.cat(c_T) if c_T else None)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_a_residual_stack_equals_the_sums_written_out_in_torch(mode, rng):
    layer = LAYERS[mode](num_layers=3, bidirectional=True, residual=True, dtype=np.float64, seed=2)
    x = rng.normal(size=(6, 2, 3))
    state = _state(layer, rng, 2)
    output, final = layer(x, state)
    d_output = rng.normal(size=output.shape)
    d_x, d_state = layer.backward(d_output)

    x_t = torch.tensor(x, requires_grad=True)
    state_t = (
        tuple(torch.tensor(part, requires_grad=True) for part in state)
        if layer.has_cell_state
        else torch.tensor(state, requires_grad=True)
    )
    output_t, modules, h_t, _ = _torch_residual_stack(layer, x_t, state_t)
    (output_t * torch.from_numpy(d_output)).sum().backward()
    np.testing.assert_allclose(output, output_t.detach().numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(
        final[0] if layer.has_cell_state else final, h_t.detach().numpy(), atol=1e-10
    )
    np.testing.assert_allclose(d_x, x_t.grad.numpy(), atol=1e-10)
    first_state = state_t[0] if layer.has_cell_state else state_t
    np.testing.assert_allclose(
        d_state[0] if layer.has_cell_state else d_state, first_state.grad.numpy(), atol=1e-10
    )
    torch_grads = {}
    for k, module in enumerate(modules):
        for name, param in module.named_parameters():
            torch_grads[name.replace("_l0", f"_l{k}")] = param.grad.numpy()
    ours = params_to_torch(layer.grads, layer.mode)
    assert set(ours) == set(torch_grads)
    for name, grad in ours.items():
        np.testing.assert_allclose(grad, torch_grads[name], atol=1e-10, err_msg=name)


def test_the_residual_path_changes_the_output_and_carries_the_gradient(rng):
    plain = rnnlab.LSTM(3, 4, num_layers=2, dtype=np.float64, seed=1)
    residual = rnnlab.LSTM(3, 4, num_layers=2, residual=True, dtype=np.float64, seed=1)
    x = rng.normal(size=(4, 2, 3))
    (y_plain, _), (y_res, _) = plain(x), residual(x)
    first = rnnlab.LSTM(3, 4, dtype=np.float64, seed=1)  # the stacks' first layer alone
    first.load_state_dict({k: v for k, v in plain.params.items() if k.endswith("_l0")})
    y_first, _ = first(x)
    np.testing.assert_allclose(y_res, y_plain + y_first, atol=1e-12)


def test_residual_needs_a_second_layer_and_has_no_pytorch_layer():
    with pytest.raises(ConfigError, match="num_layers=1 has no second layer"):
        rnnlab.GRU(3, 4, residual=True)
    with pytest.raises(ConfigError, match="a residual stack has no PyTorch layer"):
        to_torch(rnnlab.LSTM(3, 4, num_layers=2, residual=True))
    assert "residual=True" in repr(rnnlab.LSTM(3, 4, num_layers=2, residual=True))


def test_a_residual_language_model_saves_and_loads(tmp_path):
    config = LanguageModelConfig(vocab_size=7, hidden_size=6, num_layers=3, residual=True)
    model = LanguageModel(config, seed=0)
    assert model.rnn.residual
    ids = np.random.default_rng(0).integers(0, 7, size=(12, 3))
    first, _ = model(ids)
    save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.rnn.residual and loaded.config.residual
    again, _ = loaded(ids)
    np.testing.assert_array_equal(again, first)


def test_a_residual_model_samples_the_same_text_on_both_backends():
    """The compiled generator has no residual path: a residual model samples through
    its own forward, so both backends draw the same text."""
    from rnnlab.data.text import CharVocab
    from rnnlab.generate import sample

    config = LanguageModelConfig(vocab_size=6, cell="gru", hidden_size=8, num_layers=2)
    vocab = CharVocab(list("abcdef"))
    model = LanguageModel(replace(config, residual=True), seed=1, vocab=vocab)
    texts = []
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            texts.append(sample(model, n=40, seed=3))
    assert texts[0] == texts[1]


def test_the_lab_reads_a_residual_stacks_outputs_with_the_residual_added(rng):
    from rnnlab.probe import record
    from rnnlab.web.views import layer_outputs

    layer = rnnlab.LSTM(3, 4, num_layers=3, residual=True, dtype=np.float64, seed=0)
    x = rng.normal(size=(5, 2, 3))
    output, _ = layer(x)
    outputs = layer_outputs(layer, record(layer, x))
    np.testing.assert_allclose(outputs[-1], output, atol=1e-12)
