"""Word completion: the split, the unigram baseline, prompts, a model that beats the
baseline, and the `rnnlab complete` command."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_cli import run

from rnnlab.applications.completion import (
    CompleteOptions,
    clean_prompt,
    complete,
    run_complete,
    split_text,
    unigram_loss,
)
from rnnlab.data.text import CharVocab, WordVocab
from rnnlab.errors import ConfigError
from rnnlab.models.language import LanguageModel, LanguageModelConfig

VERSE = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
)
TINY = dict(hidden=32, embedding_dim=16, seq_len=8, batch=8, eval_every=100, lr=1e-2)


def test_the_split_cuts_at_a_line_break_after_the_training_part():
    text = "aaaa\nbbbb\ncccc\ndddd\n"
    train, val = split_text(text, 0.3)
    assert train + val == text and train.endswith("\n") and val == "dddd\n"
    with pytest.raises(ConfigError, match="val_fraction"):
        split_text(text, 1.5)


def test_the_unigram_baseline_is_the_mean_negative_log_frequency():
    vocab = WordVocab.from_text("a a a b", max_size=10)  # counts: a 3, b 1
    ids = vocab.encode("b a b")
    expected = -(math.log(3 / 4) + math.log(1 / 4)) / 2  # the first token is not scored
    assert unigram_loss(vocab, ids) == pytest.approx(expected)
    # an unknown word is <unk>, whose count is the tokens the vocabulary left out
    capped = WordVocab.from_text("a a a b c", max_size=2)
    assert unigram_loss(capped, capped.encode("a zebra")) == pytest.approx(-math.log(2 / 5))


def test_prompts_lose_their_trailing_blank_and_an_empty_prompt_is_an_error():
    assert clean_prompt("To be, or not to ___") == "To be, or not to"
    assert clean_prompt("so my favourite cuisine is …") == "so my favourite cuisine is"
    assert clean_prompt("The cat sat ...") == "The cat sat"
    for empty in ("", "   ", "___", "…"):
        with pytest.raises(ConfigError, match="has no words"):
            clean_prompt(empty)


def test_a_word_model_beats_the_unigram_baseline_and_completes_the_line(tmp_path):
    outcome = run_complete(
        CompleteOptions(steps=150, val_fraction=0.2, **TINY), out=tmp_path, text=VERSE * 60
    )
    assert outcome.unk_rate == 0
    assert outcome.perplexity < outcome.unigram_perplexity / 3
    completion = complete(outcome.model, "To be, or not to ___", k=3, words=4, samples=2)
    words, probs = zip(*completion.top, strict=True)
    assert words[0] == "be" and probs[0] > 0.5
    assert list(probs) == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-9
    assert completion.greedy.startswith(" be,")
    assert len(completion.samples) == 2
    again = complete(outcome.model, "To be, or not to ___", k=3, words=4, samples=2)
    assert again.samples == completion.samples  # seeded


def test_continuations_never_choose_unk_even_when_it_is_the_most_likely():
    vocab = WordVocab.from_text("the cat sat on the mat", max_size=4)
    model = LanguageModel(LanguageModelConfig(vocab_size=4, hidden_size=4, embedding_dim=3))
    model.vocab = vocab
    model.head.params["bias"][vocab.unk_id] = 50.0  # <unk> would take all the mass
    completion = complete(model, "the cat", k=2, words=6, samples=2)
    assert completion.top[0] == ("<unk>", pytest.approx(1.0))
    for text in [completion.greedy, *completion.samples]:
        assert "<unk>" not in text and len(WordVocab.tokenize(text)) == 6


def test_completion_needs_a_word_model():
    vocab = CharVocab.from_text("abc ")
    model = LanguageModel(LanguageModelConfig(vocab_size=len(vocab), hidden_size=4), vocab=vocab)
    with pytest.raises(ConfigError, match="word-level language model"):
        complete(model, "abc")


def test_complete_command_trains_then_completes_a_prompt(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "verse.txt"
    corpus.write_text(VERSE * 40)
    out = tmp_path / "words"
    status, stdout, stderr = run(
        monkeypatch,
        capsys,
        "complete",
        "train",
        "--data",
        str(corpus),
        "--steps",
        "30",
        "--hidden",
        "16",
        "--embedding-dim",
        "8",
        "--seq-len",
        "8",
        "--batch",
        "8",
        "--eval-every",
        "15",
        "--val-fraction",
        "0.2",
        "--out",
        str(out),
    )
    assert status == 0, stderr
    assert "unigram baseline" in stdout and "greedy:" in stdout
    status, stdout, stderr = run(
        monkeypatch, capsys, "complete", str(out), "Whether 'tis nobler in the ___", "-k", "4"
    )
    assert status == 0, stderr
    assert "next word" in stdout and stdout.count("sampled:") == 3
    status, _, stderr = run(monkeypatch, capsys, "complete", str(out), "   ")
    assert status == 2 and "has no words" in stderr
    np.testing.assert_equal((out / "best.safetensors").exists(), True)
