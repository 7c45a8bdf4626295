"""The compiled one-token step computes what the model's forward computes."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.backend import use_backend
from rnnlab.data.text import CharVocab
from rnnlab.generate import sample
from rnnlab.kernels.stepper import Stepper
from rnnlab.models import LanguageModel, LanguageModelConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("embedding_dim", [None, 5])
def test_each_step_gives_the_logits_of_the_full_forward(cell, embedding_dim):
    config = LanguageModelConfig(
        vocab_size=9,
        cell=cell,
        hidden_size=6,
        num_layers=2,
        embedding_dim=embedding_dim,
        dtype="float64",
    )
    model = LanguageModel(config, seed=0).eval()
    tokens = np.random.default_rng(0).integers(0, 9, size=8)
    expected, _ = model(tokens[:, None])
    _, state = model(tokens[:1, None])
    stepper = Stepper(model, state)
    for t in range(1, len(tokens)):
        np.testing.assert_allclose(stepper.step(int(tokens[t])), expected[t, 0], atol=1e-12)


def test_sampling_is_the_same_on_both_backends():
    vocab = CharVocab.from_text("abcdefgh \n")
    config = LanguageModelConfig(
        vocab_size=len(vocab), hidden_size=12, num_layers=2, dtype="float64"
    )
    model = LanguageModel(config, seed=1, vocab=vocab)
    texts = {}
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            texts[backend] = sample(model, n=60, prime="abc", temperature=0.9, seed=5)
    assert texts["numpy"] == texts["numba"] and len(texts["numba"]) == 60


@pytest.mark.parametrize(
    "temperature,top_k,top_p", [(1.0, None, None), (0.5, 3, None), (1.3, None, 0.7), (0.8, 4, 0.5)]
)
def test_the_compiled_draw_follows_sampling_distribution(temperature, top_k, top_p):
    from rnnlab.generate import sampling_distribution
    from rnnlab.kernels.sampling import draw_token

    rng = np.random.default_rng(2)
    for _ in range(20):
        logits = rng.normal(size=11).astype(np.float32) * 3
        probs = sampling_distribution(logits, temperature, top_k, top_p)
        cumulative = np.cumsum(probs)
        for u in rng.random(50):
            expected = int(np.flatnonzero(cumulative > u * cumulative[-1])[0])
            got = draw_token(logits, temperature, top_k or 0, top_p or 0.0, u)
            assert got == expected


def test_the_compiled_draw_is_greedy_at_temperature_zero():
    from rnnlab.kernels.sampling import draw_token

    logits = np.array([0.1, 2.0, 2.0, -1.0], np.float32)
    assert draw_token(logits, 0.0, 0, 0.0, 0.99) == 1
