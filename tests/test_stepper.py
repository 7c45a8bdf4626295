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
