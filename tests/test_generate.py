"""generate.py: the sampling rule, sampling from a model, and the next-token distribution."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.data.text import CharVocab, WordVocab
from rnnlab.errors import ConfigError, VocabularyError
from rnnlab.generate import iter_sample, next_distribution, sample, sampling_distribution
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.ops import softmax

TEXT = "hello world\nthe quick brown fox\n"
VOCAB = CharVocab.from_text(TEXT)
V = len(VOCAB)
LOGITS = np.array([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 3.0, 0.25])


def make_model(cell: str = "lstm", vocab=VOCAB, scale: float = 1.0, **config) -> LanguageModel:
    """A small model; ``scale`` multiplies every weight so that its choices are decisive."""
    cfg = LanguageModelConfig(vocab_size=len(vocab), cell=cell, hidden_size=16, **config)
    model = LanguageModel(cfg, seed=0, vocab=vocab)
    for p in model.params.values():
        p *= scale
    return model


def biased_model(logits: np.ndarray, vocab=VOCAB) -> LanguageModel:
    """A model whose next-token logits are always ``logits`` (head weight 0, bias set)."""
    model = make_model(vocab=vocab)
    model.params["head.weight"][...] = 0.0
    model.params["head.bias"][...] = logits
    return model


def greedy_by_hand(model: LanguageModel, prime_ids: list[int], n: int) -> list[int]:
    """The argmax path, run step by step with the model directly."""
    logits, state = model(np.array(prime_ids)[:, None], None)
    path = []
    for _ in range(n):
        token = int(np.argmax(logits[-1, 0]))
        path.append(token)
        logits, state = model(np.array([[token]]), state)
    return path


def entropy(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


# ----------------------------------------------------------------------------- the rule


def test_temperature_zero_is_one_hot_on_the_argmax():
    p = sampling_distribution(LOGITS, temperature=0)
    np.testing.assert_array_equal(p, np.eye(len(LOGITS))[6])


def test_temperature_one_is_softmax_and_sums_to_one():
    p = sampling_distribution(LOGITS, temperature=1.0)
    np.testing.assert_allclose(p, softmax(LOGITS), rtol=1e-12)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_entropy_rises_monotonically_with_temperature():
    entropies = [entropy(sampling_distribution(LOGITS, t)) for t in (0.2, 0.5, 1, 1.5, 2)]
    assert np.all(np.diff(entropies) > 0)
    np.testing.assert_allclose(sampling_distribution(LOGITS, 0.5), softmax(LOGITS / 0.5))


def test_tiny_temperature_is_greedy_without_nan():
    p = sampling_distribution(LOGITS * 1e3, temperature=1e-300)
    np.testing.assert_array_equal(p, np.eye(len(LOGITS))[6])


@pytest.mark.parametrize("k", [1, 3, 5])
def test_top_k_keeps_exactly_the_k_most_probable(k):
    p = sampling_distribution(LOGITS, temperature=1.0, top_k=k)
    kept = np.flatnonzero(p)
    assert set(kept) == set(np.argsort(-LOGITS)[:k])
    np.testing.assert_allclose(p[kept], softmax(LOGITS[kept]), rtol=1e-12)
    assert p.sum() == pytest.approx(1.0)


def test_top_k_larger_than_vocabulary_keeps_all():
    p = sampling_distribution(LOGITS, top_k=100)
    np.testing.assert_allclose(p, softmax(LOGITS))


def test_top_p_keeps_the_minimal_nucleus():
    probs = np.array([0.05, 0.4, 0.3, 0.15, 0.1])
    logits = np.log(probs)
    # sorted: 0.4, 0.3, 0.15, 0.1, 0.05; cumulative 0.4, 0.7, 0.85, 0.95, 1.0
    for top_p, expected in [(0.3, {1}), (0.4, {1}), (0.5, {1, 2}), (0.8, {1, 2, 3}), (1.0, None)]:
        p = sampling_distribution(logits, top_p=top_p)
        expected = set(range(5)) if expected is None else expected
        assert set(np.flatnonzero(p)) == expected, top_p
        kept = sorted(expected)
        np.testing.assert_allclose(p[kept], probs[kept] / probs[kept].sum(), rtol=1e-9)


def test_top_p_always_keeps_one_token():
    p = sampling_distribution(LOGITS, top_p=1e-9)
    np.testing.assert_array_equal(p, np.eye(len(LOGITS))[6])


def test_temperature_then_top_k_then_top_p():
    # at T=2 the top three are 0.388, 0.235, 0.143 of the total: top_k=3 renormalised
    # would need 0.8 to reach the third, so top_p=0.6 keeps two of the three.
    p = sampling_distribution(LOGITS, temperature=2.0, top_k=3, top_p=0.6)
    base = softmax(LOGITS / 2.0)[[6, 0, 1]]
    assert base[0] / base.sum() < 0.6 <= base[:2].sum() / base.sum()
    assert set(np.flatnonzero(p)) == {6, 0}
    np.testing.assert_allclose(p[[6, 0]], base[:2] / base[:2].sum())


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"temperature": -0.5}, "temperature must be a finite number >= 0"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_sampling_distribution_rejects_bad_options(options, named):
    with pytest.raises(ConfigError, match=named):
        sampling_distribution(LOGITS, **options)


# ----------------------------------------------------------------------------- sample


def test_same_seed_same_text_and_different_seeds_differ():
    model = make_model()
    a = sample(model, n=60, prime="the ", seed=1)
    assert a == sample(model, n=60, prime="the ", seed=1)
    assert a != sample(model, n=60, prime="the ", seed=2)


def test_generator_seed_is_used_and_advanced():
    model = make_model()
    rng = np.random.default_rng(5)
    first, second = sample(model, 40, seed=rng), sample(model, 40, seed=rng)
    assert first == sample(model, 40, seed=np.random.default_rng(5))
    assert first != second


def test_output_has_n_characters_from_the_vocabulary():
    text = sample(make_model(), n=123, prime="hello", seed=0)
    assert len(text) == 123
    assert set(text) <= set(VOCAB.symbols)


def test_n_zero_gives_empty_text():
    assert sample(make_model(), n=0, prime="hello", seed=0) == ""


@pytest.mark.parametrize("n", [-1, 2.0, True, "5"])
def test_bad_n_is_a_config_error(n):
    with pytest.raises(ConfigError, match="n must be a non-negative integer"):
        sample(make_model(), n=n)


def depends_on_more_than_the_last_token(first_input: int, path: list[int]) -> bool:
    """True if some input token is followed by different outputs along ``path``, so the
    path could not be produced by a model that forgets its state between steps."""
    seen: dict[int, int] = {}
    inputs = [first_input, *path[:-1]]
    return any(seen.setdefault(i, o) != o for i, o in zip(inputs, path, strict=True))


@pytest.mark.parametrize(("cell", "scale"), [("lstm", 4.0), ("rnn_tanh", 4.0), ("rnn_relu", 3.0)])
def test_greedy_equals_the_argmax_path_run_by_hand(cell, scale):
    model = make_model(cell, scale=scale)
    prime = "the qu"
    path = greedy_by_hand(model, list(VOCAB.encode(prime)), 30)
    assert depends_on_more_than_the_last_token(VOCAB.encode(prime)[-1], path)
    assert sample(model, n=30, prime=prime, temperature=0, seed=0) == VOCAB.decode(path)


def counting_model() -> LanguageModel:
    """An RNN whose state counts the characters seen, h = relu(onehot(x) + h), and whose
    logits are those counts: greedy decoding repeats the most frequent character so far
    (the first in id order on ties), which only the whole prime's state can tell."""
    cfg = LanguageModelConfig(vocab_size=V, cell="rnn_relu", hidden_size=V)
    model = LanguageModel(cfg, seed=0, vocab=VOCAB)
    for name, value in model.params.items():
        value[...] = np.eye(V) if "weight" in name else 0.0
    return model


def test_the_prime_sets_the_state_of_the_continuation():
    model = counting_model()
    assert sample(model, n=5, prime="hello w", temperature=0) == "lllll"  # l and o twice
    assert sample(model, n=5, prime="the qui", temperature=0) == "     "  # all once; " " first
    assert sample(model, n=5, prime="w", temperature=0) == "wwwww"
    assert sample(model, n=5, prime="ooh", temperature=0) == "ooooo"


def test_empty_prime_starts_from_newline_in_the_zero_state():
    model = make_model("lstm", scale=4.0)
    path = greedy_by_hand(model, list(VOCAB.encode("\n")), 25)
    assert depends_on_more_than_the_last_token(VOCAB.encode("\n")[0], path)
    assert sample(model, n=25, prime="", temperature=0) == VOCAB.decode(path)
    assert sample(counting_model(), n=3, temperature=0) == "\n\n\n"


def test_empty_prime_without_newline_starts_from_id_zero():
    vocab = CharVocab.from_text("abcab cba")  # no newline: id 0 is " "
    model = make_model("lstm", vocab=vocab, scale=3.0)
    expected = vocab.decode(greedy_by_hand(model, [0], 15))
    assert sample(model, n=15, temperature=0) == expected


def test_unknown_prime_characters_raise_naming_them():
    with pytest.raises(VocabularyError, match="'Z'"):
        sample(make_model(), n=5, prime="heZlo")


def test_missing_vocabulary_is_a_config_error():
    model = LanguageModel(LanguageModelConfig(vocab_size=V, hidden_size=8), seed=0)
    with pytest.raises(ConfigError, match="vocab"):
        sample(model, n=5)
    assert len(sample(model, n=5, vocab=VOCAB, seed=0)) == 5


def test_vocabulary_of_the_wrong_size_is_a_config_error():
    with pytest.raises(ConfigError, match="vocab"):
        sample(make_model(), n=5, vocab=CharVocab("ab"))


def test_sampling_runs_in_eval_mode_and_restores_the_mode():
    model = make_model(num_layers=2, dropout=0.5)
    assert model.training
    # with dropout on, the same seed would still give different text from call to call
    assert sample(model, 80, prime="the", seed=3) == sample(model, 80, prime="the", seed=3)
    assert all(m.training for _, m in model.named_modules())
    model.eval()
    sample(model, 5, seed=3)
    assert not any(m.training for _, m in model.named_modules())


def test_empirical_frequencies_match_the_distribution():
    logits = np.linspace(-1.0, 1.5, V)
    model = biased_model(logits)
    options = {"temperature": 0.8, "top_k": 6, "top_p": 0.9}
    rng = np.random.default_rng(0)
    draws = [sample(model, n=1, prime="he", seed=rng, **options) for _ in range(3000)]
    counts = np.array([draws.count(s) for s in VOCAB.symbols])
    expected = sampling_distribution(logits.astype(np.float32), **options)
    assert np.all(counts[expected == 0] == 0)
    np.testing.assert_allclose(counts / len(draws), expected, atol=0.03)


def test_iter_sample_yields_the_tokens_of_sample():
    model = make_model()
    pieces = list(iter_sample(model, n=50, prime="fox", seed=4, top_k=5))
    assert all(len(p) == 1 for p in pieces)
    assert "".join(pieces) == sample(model, n=50, prime="fox", seed=4, top_k=5)


def test_iter_sample_checks_arguments_at_the_call():
    with pytest.raises(ConfigError, match="temperature"):
        iter_sample(make_model(), n=5, temperature=-1)


# ----------------------------------------------------------------------------- word level

WORDS = WordVocab.from_text("the cat sat on the mat.\nthe dog sat, too.\n")


def test_word_level_sampling_joins_words_with_spaces():
    model = make_model("gru", vocab=WORDS, scale=3.0)
    prime = "the cat"
    path = greedy_by_hand(model, list(WORDS.encode(prime)), 12)
    text = sample(model, n=12, prime=prime, temperature=0)
    pieces = list(iter_sample(model, n=12, prime=prime, temperature=0))
    assert len(pieces) == 12
    assert "".join(pieces) == text
    # prime + continuation reads as the decoded whole
    assert prime + text == WORDS.decode([*WORDS.encode(prime), *path])


def test_word_level_unknown_prime_words_map_to_unk():
    model = make_model("lstm", vocab=WORDS)
    assert len(list(iter_sample(model, n=4, prime="the zebra", seed=0))) == 4


# ----------------------------------------------------------------------------- next_distribution


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_next_distribution_is_the_softmax_of_the_models_logits(temperature):
    model = make_model("lstm", scale=2.0)
    text = "hello wor"
    top = next_distribution(model, text, k=10, temperature=temperature)
    logits, _ = model(VOCAB.encode(text)[:, None])
    probs = softmax(logits[-1, 0].astype(np.float64) / temperature)
    assert len(top) == 10
    values = [p for _, p in top]
    assert values == sorted(values, reverse=True)
    for symbol, p in top:
        assert p == pytest.approx(probs[VOCAB.symbols.index(symbol)], rel=1e-6)
    assert [s for s, _ in top] == [VOCAB.symbols[i] for i in np.argsort(-probs)[:10]]
    assert sum(values) <= 1.0


def test_next_distribution_over_the_whole_vocabulary_sums_to_one():
    top = next_distribution(make_model(), "the", k=V)
    assert len(top) == V
    assert sum(p for _, p in top) == pytest.approx(1.0)
    assert len(next_distribution(make_model(), "the", k=V + 5)) == V


def test_next_distribution_of_a_known_head():
    top = next_distribution(biased_model(np.arange(V, dtype=float)), "the", k=3)
    assert [s for s, _ in top] == VOCAB.symbols[::-1][:3]
    np.testing.assert_allclose([p for _, p in top], softmax(np.arange(V))[::-1][:3], rtol=1e-6)


def test_next_distribution_word_level():
    model = make_model("gru", vocab=WORDS)
    top = next_distribution(model, "the dog", k=4)
    logits, _ = model(WORDS.encode("the dog")[:, None])
    probs = softmax(logits[-1, 0].astype(np.float64))
    assert [s for s, _ in top] == [WORDS.tokens[i] for i in np.argsort(-probs)[:4]]
    np.testing.assert_allclose([p for _, p in top], np.sort(probs)[::-1][:4], rtol=1e-6)


def test_next_distribution_errors():
    model = make_model()
    with pytest.raises(ConfigError, match="text must not be empty"):
        next_distribution(model, "")
    with pytest.raises(VocabularyError, match="'Q'"):
        next_distribution(model, "Quick")
    with pytest.raises(ConfigError, match="k must be a positive integer"):
        next_distribution(model, "the", k=0)
