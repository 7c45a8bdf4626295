"""Specification of rnnlab.data.text: character and word vocabularies."""

import json

import numpy as np
import pytest

from rnnlab.data import CharVocab, WordVocab, vocab_from_json
from rnnlab.errors import ConfigError, DataError, VocabularyError

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind\n"

# ----------------------------------------------------------------------------- CharVocab


def test_char_vocab_ids_follow_sorted_characters():
    vocab = CharVocab.from_text("hello")
    assert vocab.symbols == ["e", "h", "l", "o"]
    assert vocab.encode("hello").tolist() == [1, 0, 2, 2, 3]
    assert vocab.encode("hello").dtype == np.int64


def test_char_vocab_round_trips_text_including_non_ascii():
    text = TEXT + "naïve — café ✓ 𝄞"
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.shape == (len(text),)
    assert vocab.decode(ids) == text
    assert vocab.decode(ids.tolist()) == text


def test_char_vocab_from_symbols_keeps_the_given_order():
    vocab = CharVocab(["z", "a", "\n"])
    assert vocab.encode("a\nz").tolist() == [1, 2, 0]
    assert len(vocab) == 3
    assert "z" in vocab
    assert "b" not in vocab


def test_char_vocab_unknown_error_names_characters_and_vocab_size():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(VocabularyError) as info:
        vocab.encode("abXcY!X")
    message = str(info.value)
    assert "'X'" in message and "'Y'" in message and "'!'" in message
    assert "3 symbols" in message
    assert "unknown='skip'" in message


def test_char_vocab_unknown_error_shows_only_a_few_characters():
    vocab = CharVocab.from_text("a")
    with pytest.raises(VocabularyError, match="and 5 more"):
        vocab.encode("bcdefghijk")


def test_char_vocab_skip_drops_unknown_and_counting_reports_them():
    vocab = CharVocab.from_text("abc")
    assert vocab.encode("aXbYYc", unknown="skip").tolist() == [0, 1, 2]
    ids, n_skipped = vocab.encode_counting("aXbYYc")
    assert ids.tolist() == [0, 1, 2]
    assert n_skipped == 3


def test_char_vocab_rejects_a_bad_unknown_mode():
    with pytest.raises(ConfigError, match="unknown"):
        CharVocab.from_text("abc").encode("a", unknown="ignore")


def test_char_vocab_decode_rejects_out_of_range_ids():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(VocabularyError, match="3 symbols"):
        vocab.decode([0, 3])
    with pytest.raises(VocabularyError):
        vocab.decode([-1])


def test_char_vocab_rejects_repeated_or_multi_character_symbols():
    with pytest.raises(ConfigError, match="repeat"):
        CharVocab(["a", "b", "a"])
    with pytest.raises(ConfigError, match="single characters"):
        CharVocab(["a", "bc"])
    with pytest.raises(DataError, match="empty"):
        CharVocab.from_text("")


def test_char_vocab_json_round_trip_through_a_json_string():
    vocab = CharVocab.from_text(TEXT)
    obj = json.loads(json.dumps(vocab.to_json()))
    assert obj["kind"] == "char"
    again = CharVocab.from_json(obj)
    assert again == vocab
    assert again.encode(TEXT).tolist() == vocab.encode(TEXT).tolist()
    assert vocab_from_json(obj) == vocab


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (["a", "b"], "expects a dict"),
        ({"kind": "word", "tokens": ["<unk>"]}, "kind='char'"),
        ({"kind": "char"}, "'symbols'"),
        ({"kind": "char", "symbols": ["a", "a"]}, "repeat"),
        ({"kind": "char", "symbols": ["ab"]}, "single characters"),
    ],
)
def test_char_vocab_from_bad_json_raises_data_error(obj, expected):
    with pytest.raises(DataError, match=expected):
        CharVocab.from_json(obj)


# ----------------------------------------------------------------------------- WordVocab


def test_word_tokenizer_splits_words_punctuation_numbers_and_newlines():
    tokens = WordVocab.tokenize("Don't stop, Bernardo's 42 men!\n'Tis here--now.")
    assert tokens == [
        "Don't", "stop", ",", "Bernardo's", "42", "men", "!", "\n",
        "'", "Tis", "here", "-", "-", "now", ".",
    ]  # fmt: skip


def test_word_vocab_reserves_unk_at_zero_and_ranks_by_count_then_alphabet():
    vocab = WordVocab.from_text("b a c b a b d")
    assert vocab.tokens == ["<unk>", "b", "a", "c", "d"]
    assert vocab.unk_id == 0


def test_word_vocab_max_size_and_min_count_send_rare_words_to_unk():
    text = "the cat the dog the cat a bird"
    vocab = WordVocab.from_text(text, max_size=3)  # <unk>, the, cat
    assert vocab.tokens == ["<unk>", "the", "cat"]
    assert vocab.encode("the bird sat").tolist() == [1, 0, 0]
    ids, n_unknown = vocab.encode_counting("the bird sat")
    assert ids.tolist() == [1, 0, 0]
    assert n_unknown == 2
    assert WordVocab.from_text(text, min_count=2).tokens == ["<unk>", "the", "cat"]


def test_word_vocab_counts_give_a_unigram_distribution():
    vocab = WordVocab.from_text("the cat the dog the cat a bird", max_size=3)
    # <unk> counts the 3 tokens (dog, a, bird) that were left out.
    assert vocab.counts.tolist() == [3, 3, 2]
    assert np.allclose(vocab.unigram_probabilities(), [3 / 8, 3 / 8, 2 / 8])
    assert np.allclose(vocab.unigram_probabilities(alpha=1.0), [4 / 11, 4 / 11, 3 / 11])


def test_word_vocab_decode_restores_ordinary_spacing():
    text = "Hello, world! How are you?\nFine; thanks: to-night (maybe).\nBye."
    vocab = WordVocab.from_text(text)
    assert vocab.decode(vocab.encode(text)) == text


def test_word_vocab_decode_writes_unk_for_unknown_words():
    vocab = WordVocab.from_text("to be or not")
    assert vocab.decode(vocab.encode("to see or not")) == "to <unk> or not"


def test_word_vocab_json_round_trip_keeps_tokens_and_counts():
    vocab = WordVocab.from_text(TEXT)
    obj = json.loads(json.dumps(vocab.to_json()))
    assert obj["kind"] == "word"
    again = vocab_from_json(obj)
    assert isinstance(again, WordVocab)
    assert again == vocab
    assert again.counts.tolist() == vocab.counts.tolist()


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"kind": "word", "tokens": ["the", "<unk>"]}, "must start with '<unk>'"),
        ({"kind": "word", "tokens": ["<unk>", "a"], "counts": [1]}, "counts"),
        ({"kind": "word", "tokens": "abc"}, "'tokens'"),
        ({"kind": "char", "symbols": ["a"]}, "kind='word'"),
    ],
)
def test_word_vocab_from_bad_json_raises_data_error(obj, expected):
    with pytest.raises(DataError, match=expected):
        WordVocab.from_json(obj)


def test_vocab_from_json_rejects_unknown_kinds():
    with pytest.raises(DataError, match="'char', 'word' or 'pair'"):
        vocab_from_json({"kind": "bpe"})
    with pytest.raises(DataError, match="'char', 'word' or 'pair'"):
        vocab_from_json("char")


def test_a_pair_of_vocabularies_round_trips_through_json():
    from rnnlab.data.text import PairVocab

    pair = PairVocab(CharVocab.from_text("abc"), CharVocab.from_text("xyz-"))
    assert vocab_from_json(pair.to_json()) == pair
    with pytest.raises(DataError, match="kind 'char', 'word' or 'pair'"):
        vocab_from_json({"kind": "pair", "source": {"kind": "bpe"}, "target": {}})
