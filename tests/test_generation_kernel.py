"""A compiled run of generated tokens computes what the model's forward computes and
draws what ``rnnlab.generate``'s rule draws, on any number of threads."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.backend import use_backend
from rnnlab.cells import CELLS as REGISTERED
from rnnlab.cells import cell_named
from rnnlab.data.text import CharVocab
from rnnlab.generate import iter_sample, sample, stack_weights
from rnnlab.kernels.generation import Generation
from rnnlab.models import LanguageModel, LanguageModelConfig
from rnnlab.runtime import team

#: every registered cell with one product per step; a cell with two (the reset-before
#: GRU) samples through its model's forward, which the last test checks
CELLS = [name for name, cell in REGISTERED.items() if not cell.gated_blocks]


@pytest.fixture(params=[1, 2, 3], ids=lambda parts: f"{parts}threads")
def parts(request):
    """Every run split over 1, 2 and 3 threads (3: more than this machine may have)."""
    team.force_parts(request.param)
    yield request.param
    team.force_parts(None)


def _generation(model, state, logits):
    """The compiled generation of a LanguageModel, as ``rnnlab.generate`` makes it."""
    return Generation(cell_named(model.rnn.mode), stack_weights(model), state, logits)


def _model(cell: str, dtype="float64", embedding_dim=None, hidden=6, layers=2):
    config = LanguageModelConfig(
        vocab_size=9,
        cell=cell,
        hidden_size=hidden,
        num_layers=layers,
        embedding_dim=embedding_dim,
        dtype=dtype,
    )
    return LanguageModel(config, seed=0).eval()


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "embedding_dim,hidden,layers",
    [(None, 6, 2), (5, 6, 2), (None, 33, 1), (None, 7, 3)],  # 33: blocks of unequal panels
)
def test_each_drawn_token_is_fed_back_as_the_full_forward_would(
    cell, embedding_dim, hidden, layers, parts
):
    model = _model(cell, embedding_dim=embedding_dim, hidden=hidden, layers=layers)
    logits, state = model(np.array([[4]]))
    generation = _generation(model, state, logits[-1, 0])
    uniforms = np.random.default_rng(0).random(9)  # odd: the state ends in the second copy
    tokens = generation.run(uniforms, temperature=1.0)
    # the model's forward over the start token and the drawn tokens gives the same logits
    expected, expected_state = model(np.concatenate([[4], tokens])[:, None])
    _assert_state(generation, cell, expected[-1, 0], expected_state)


def _assert_state(generation, cell, logits, state):
    np.testing.assert_allclose(generation.logits, logits, atol=1e-12)
    final = state[0] if REGISTERED[cell].has_cell_state else state
    np.testing.assert_allclose(generation.hidden[:, 0, 0], final[:, 0], atol=1e-12)
    if REGISTERED[cell].has_cell_state:
        np.testing.assert_allclose(generation.cell, state[1][:, 0], atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_tokens_are_drawn_by_the_rule_of_rnnlab_generate(cell, parts):
    """Each token is the first whose cumulative probability exceeds its uniform number."""
    from rnnlab.generate import sampling_distribution

    model = _model(cell)
    logits, state = model(np.array([[0]]))
    uniforms = np.random.default_rng(1).random(12)
    tokens = _generation(model, state, logits[-1, 0]).run(uniforms, 0.7, top_k=5, top_p=0.9)
    history = np.concatenate([[0], tokens])
    all_logits, _ = model(history[:, None])
    for t, u in enumerate(uniforms):
        cumulative = np.cumsum(sampling_distribution(all_logits[t, 0], 0.7, 5, 0.9))
        assert tokens[t] == np.flatnonzero(cumulative > u * cumulative[-1])[0]


@pytest.mark.parametrize("cell", CELLS)
def test_a_run_split_in_pieces_equals_one_run(cell, parts):
    model = _model(cell, hidden=33)
    logits, state = model(np.array([[2]]))
    uniforms = np.random.default_rng(2).random(20)
    whole = _generation(model, state, logits[-1, 0])
    pieces = _generation(model, state, logits[-1, 0])
    one = whole.run(uniforms, 1.0)
    split = np.concatenate([pieces.run(uniforms[:7], 1.0), pieces.run(uniforms[7:], 1.0)])
    np.testing.assert_array_equal(split, one)
    np.testing.assert_allclose(pieces.logits, whole.logits, atol=1e-12)
    np.testing.assert_allclose(pieces.hidden[:, 0], whole.hidden[:, 0], atol=1e-12)
    np.testing.assert_allclose(pieces.cell, whole.cell, atol=1e-12)


def test_the_state_does_not_step_after_the_last_token_unless_asked():
    model = _model("lstm")
    logits, state = model(np.array([[2]]))
    generation = _generation(model, state, logits[-1, 0])
    generation.run(np.array([0.5]), 1.0, advance_last=False)
    np.testing.assert_array_equal(generation.logits, logits[-1, 0])
    np.testing.assert_array_equal(generation.hidden[:, 0, 0], state[0][:, 0])


def test_the_callers_state_is_not_changed():
    model = _model("gru")
    logits, state = model(np.array([[2]]))
    before = state.copy()
    _generation(model, state, logits[-1, 0]).run(np.full(5, 0.3), 1.0)
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
            generation = _generation(model, state, logits[-1, 0])
            results.append((generation.run(uniforms, 1.0), generation.logits.copy()))
        finally:
            team.force_parts(None)
    for tokens, final in results[1:]:
        np.testing.assert_array_equal(tokens, results[0][0])
        np.testing.assert_array_equal(final, results[0][1])


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize(
    "options",
    [
        {"temperature": 0.9, "top_k": 6},
        {"temperature": 1.2, "top_p": 0.8},
        {"temperature": 0.0},
    ],
)
def test_sampling_is_the_same_on_both_backends(cell, options, parts):
    """The numba backend draws runs of tokens (of 8, 8, 16, … here, across several
    runs): it takes the same uniform numbers from the seed as the numpy backend does
    token by token."""
    vocab = CharVocab.from_text("abcdefgh \n")
    config = LanguageModelConfig(
        vocab_size=len(vocab), cell=cell, hidden_size=12, num_layers=2, dtype="float64"
    )
    model = LanguageModel(config, seed=1, vocab=vocab)
    texts = {}
    for backend in ("numpy", "numba"):
        with use_backend(backend):
            texts[backend] = sample(model, n=60, prime="abc", seed=5, **options)
    assert texts["numpy"] == texts["numba"] and len(texts["numba"]) == 60


def test_stopping_in_the_middle_of_a_run_takes_one_number_per_token_taken():
    vocab = CharVocab.from_text("abcdefgh \n")
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=12, dtype="float64")
    model = LanguageModel(config, seed=1, vocab=vocab)
    states = {}
    for backend in ("numpy", "numba"):
        rng = np.random.default_rng(7)
        with use_backend(backend):
            pieces = iter_sample(model, n=100, prime="ab", seed=rng)
            taken = [next(pieces) for _ in range(21)]  # into the third run (8 + 8 + 16)
            pieces.close()
        states[backend] = (taken, rng.random())
    assert states["numba"] == states["numpy"]


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


def test_a_run_made_for_two_threads_runs_whole_on_one_thread(monkeypatch):
    """As when the team is busy: one thread takes every block of units in turn."""
    model = _model("lstm", hidden=33)
    logits, state = model(np.array([[1]]))
    uniforms = np.random.default_rng(4).random(11)
    team.force_parts(2)
    try:
        shared = _generation(model, state, logits[-1, 0])
        alone = _generation(model, state, logits[-1, 0])
    finally:
        team.force_parts(None)
    expected = shared.run(uniforms, 1.0)
    calls = []

    def one_thread(parts, function, *args):  # what Team.run does when it is busy
        calls.append(parts)
        function(0, 1, np.zeros(16, dtype=np.int64), *args)

    monkeypatch.setattr("rnnlab.kernels.generation.team_run", one_thread)
    got = alone.run(uniforms, 1.0)
    assert calls == [2] and alone.parts == 2
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(alone.logits, shared.logits, atol=1e-12)
    np.testing.assert_allclose(alone.hidden[:, 0], shared.hidden[:, 0], atol=1e-12)


@pytest.mark.parametrize("cell", [n for n, c in REGISTERED.items() if c.gated_blocks])
def test_a_cell_with_two_products_per_step_samples_through_its_models_forward(cell):
    config = LanguageModelConfig(vocab_size=6, cell=cell, hidden_size=8, num_layers=2)
    vocab = CharVocab.from_text("abcde\n")
    model = LanguageModel(config, seed=0, vocab=vocab)
    state, logits = None, np.zeros(6)
    with pytest.raises(ValueError, match="two products per step"):
        Generation(REGISTERED[cell], stack_weights(model), state, logits)
    texts = []
    for backend in ("numpy", "numba"):  # the reference never uses the compiled generator
        with use_backend(backend):
            texts.append(sample(model, 40, prime="ab", seed=1))
    assert texts[0] == texts[1] and len(texts[0]) == 40
