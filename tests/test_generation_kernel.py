"""A compiled run of generated tokens computes what the model's forward computes and
draws what ``rnnlab.generate``'s rule draws, on any number of threads."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.backend import use_backend
from rnnlab.data.text import CharVocab
from rnnlab.generate import sample
from rnnlab.kernels import team
from rnnlab.kernels.generation import Generation
from rnnlab.models import LanguageModel, LanguageModelConfig

CELLS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.fixture(params=[1, 2, 3], ids=lambda parts: f"{parts}threads")
def parts(request):
    """Every run split over 1, 2 and 3 threads (3: more than this machine may have)."""
    team.force_parts(request.param)
    yield request.param
    team.force_parts(None)


def _model(cell: str, dtype: str = "float64", embedding_dim: int | None = None, hidden=6):
    config = LanguageModelConfig(
        vocab_size=9,
        cell=cell,
        hidden_size=hidden,
        num_layers=2,
        embedding_dim=embedding_dim,
        dtype=dtype,
    )
    return LanguageModel(config, seed=0).eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("embedding_dim", [None, 5])
def test_each_drawn_token_is_fed_back_as_the_full_forward_would(cell, embedding_dim, parts):
    model = _model(cell, embedding_dim=embedding_dim)
    logits, state = model(np.array([[4]]))
    generation = Generation(model, state, logits[-1, 0])
    uniforms = np.random.default_rng(0).random(8)
    tokens = generation.run(uniforms, temperature=1.0)
    # the model's forward over the start token and the drawn tokens gives the same logits
    expected, expected_state = model(np.concatenate([[4], tokens])[:, None])
    np.testing.assert_allclose(generation.logits, expected[-1, 0], atol=1e-12)
    final = expected_state[0] if cell == "lstm" else expected_state
    np.testing.assert_allclose(generation.hidden[:, 0, 0], final[:, 0], atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(generation.cell, expected_state[1][:, 0], atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_tokens_are_drawn_by_the_rule_of_rnnlab_generate(cell, parts):
    """Each token is the first whose cumulative probability exceeds its uniform number."""
    from rnnlab.generate import sampling_distribution

    model = _model(cell)
    logits, state = model(np.array([[0]]))
    uniforms = np.random.default_rng(1).random(12)
    tokens = Generation(model, state, logits[-1, 0]).run(uniforms, 0.7, top_k=5, top_p=0.9)
    history = np.concatenate([[0], tokens])
    all_logits, _ = model(history[:, None])
    for t, u in enumerate(uniforms):
        cumulative = np.cumsum(sampling_distribution(all_logits[t, 0], 0.7, 5, 0.9))
        assert tokens[t] == np.flatnonzero(cumulative > u * cumulative[-1])[0]


@pytest.mark.parametrize("cell", CELLS)
def test_a_run_split_in_pieces_equals_one_run(cell):
    model = _model(cell)
    logits, state = model(np.array([[2]]))
    uniforms = np.random.default_rng(2).random(20)
    whole = Generation(model, state, logits[-1, 0])
    pieces = Generation(model, state, logits[-1, 0])
    one = whole.run(uniforms, 1.0)
    split = np.concatenate([pieces.run(uniforms[:7], 1.0), pieces.run(uniforms[7:], 1.0)])
    np.testing.assert_array_equal(split, one)
    np.testing.assert_array_equal(pieces.logits, whole.logits)


def test_the_state_does_not_step_after_the_last_token_unless_asked():
    model = _model("lstm")
    logits, state = model(np.array([[2]]))
    generation = Generation(model, state, logits[-1, 0])
    generation.run(np.array([0.5]), 1.0, advance_last=False)
    np.testing.assert_array_equal(generation.logits, logits[-1, 0])
    np.testing.assert_array_equal(generation.hidden[:, 0, 0], state[0][:, 0])


def test_the_callers_state_is_not_changed():
    model = _model("gru")
    logits, state = model(np.array([[2]]))
    before = state.copy()
    Generation(model, state, logits[-1, 0]).run(np.full(5, 0.3), 1.0)
    np.testing.assert_array_equal(state, before)


@pytest.mark.parametrize("cell", CELLS)
def test_float32_gives_the_same_tokens_on_one_thread_and_on_several(cell):
    """Each unit's sum runs in the same order however the units are shared out."""
    model = _model(cell, dtype="float32", hidden=40)
    logits, state = model(np.array([[1]]))
    uniforms = np.random.default_rng(3).random(30)
    results = []
    for parts in (1, 2, 3):
        team.force_parts(parts)
        try:
            generation = Generation(model, state, logits[-1, 0])
            results.append((generation.run(uniforms, 1.0), generation.logits.copy()))
        finally:
            team.force_parts(None)
    for tokens, final in results[1:]:
        np.testing.assert_array_equal(tokens, results[0][0])
        np.testing.assert_array_equal(final, results[0][1])


def test_sampling_is_the_same_on_both_backends(monkeypatch):
    """The numba backend draws runs of tokens: across run boundaries it takes the same
    uniform numbers from the seed as the numpy backend does token by token."""
    monkeypatch.setattr("rnnlab.generate._RUN", 7)
    vocab = CharVocab.from_text("abcdefgh \n")
    config = LanguageModelConfig(
        vocab_size=len(vocab), hidden_size=12, num_layers=2, dtype="float64"
    )
    model = LanguageModel(config, seed=1, vocab=vocab)
    texts = {}
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            texts[backend] = sample(model, n=60, prime="abc", temperature=0.9, seed=5, top_k=6)
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


def test_a_run_made_for_two_threads_runs_whole_on_one_when_the_team_is_busy():
    """Another Python thread holds the team: the call runs alone, taking every block."""
    model = _model("lstm", hidden=40)
    logits, state = model(np.array([[1]]))
    uniforms = np.random.default_rng(4).random(10)
    team.force_parts(2)
    try:
        shared = Generation(model, state, logits[-1, 0])
        expected = shared.run(uniforms, 1.0)
        alone = Generation(model, state, logits[-1, 0])
        with team.team(2)._lock:
            got = alone.run(uniforms, 1.0)
    finally:
        team.force_parts(None)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(alone.logits, shared.logits)
