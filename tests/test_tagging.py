"""Sequence labelling: punctuation and case tags made from text, per-tag scores, the
most-frequent-tag baseline, bucketed batches, a tagger that needs both directions, token
CSVs, and the `rnnlab tag` command."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_cli import run

from rnnlab.applications.tagging import TagOptions, load_split, run_tag
from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.tags import (
    PUNCTUATION_TAGS,
    case_of,
    punctuation_tags,
    read_token_tag_csv,
    restore,
)
from rnnlab.data.words import WordVocab
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import save_checkpoint
from rnnlab.models.tagger import (
    decode_tags,
    factor_probabilities,
    make_tagger,
    most_frequent_tags,
    tag_scores,
    tag_texts,
)

# ----------------------------------------------------------------------------- tags from text


def test_each_word_is_tagged_with_its_case_and_the_mark_after_it():
    words, tags = punctuation_tags("Now, fair Hippolyta, our nuptial hour\nDraws on apace; KING O!")
    assert " ".join(words) == "now fair hippolyta our nuptial hour draws on apace king o"
    assert tags == [
        "Capital|,",
        "lower|none",
        "Capital|,",
        "lower|none",
        "lower|none",
        "lower|none",
        "Capital|none",
        "lower|none",
        "lower|;",
        "UPPER|none",
        "Capital|!",
    ]


def test_restoring_the_true_tags_gives_the_text_back_without_what_is_not_restored():
    text = "Go apart, Adam; and thou shalt hear: how he will shake me up?\nO step-dame!"
    words, tags = punctuation_tags(text)
    assert restore(words, tags) == "Go apart, Adam; and thou shalt hear: how he will shake me " + (
        "up? O step dame!"
    )


def test_the_case_of_a_word():
    assert [case_of(w) for w in ("I", "O", "KING", "o'er", "Romeo", "x")] == [
        "Capital",
        "Capital",
        "UPPER",
        "lower",
        "Capital",
        "lower",
    ]


# ----------------------------------------------------------------------------- scores


def test_per_tag_scores_match_scikit_learn(rng):
    from sklearn.metrics import precision_recall_fscore_support

    labels = ["a", "b", "c", "d"]
    truth = [labels[k] for k in rng.integers(0, 3, size=300)]  # "d" never true
    predicted = [t if rng.random() < 0.6 else labels[rng.integers(0, 4)] for t in truth]
    scores = tag_scores(truth, predicted, labels)
    p, r, f, s = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0.0)
    np.testing.assert_allclose([x.precision for x in scores], p)
    np.testing.assert_allclose([x.recall for x in scores], r)
    np.testing.assert_allclose([x.f1 for x in scores], f)
    assert [x.support for x in scores] == s.tolist()
    assert scores[3].support == 0 and scores[3].f1 == 0.0


def test_the_baseline_gives_each_token_its_most_frequent_tag_and_unseen_ones_the_commonest():
    tokens = [["a", "b", "a"], ["b", "c"], ["c", "a"]]
    tags = [["x", "y", "x"], ["z", "y"], ["y", "y"]]
    table, fallback = most_frequent_tags(tokens, tags)
    assert fallback == "y"  # 4 of 7
    assert table == {"a": "x", "b": "y", "c": "y"}  # c: z once, y once → y, more frequent


def test_punctuation_tags_are_decoded_by_their_marginals_not_the_joint_argmax():
    labels = ["lower|,", "Capital|none", "Capital|."]
    probs = np.array([[0.4, 0.3, 0.3]])
    case, values = factor_probabilities(probs, labels, "case")
    assert values == ["Capital", "lower"] and case.tolist() == [[0.6, 0.4]]
    assert decode_tags(probs, labels, "punctuation") == ["Capital|,"]
    assert decode_tags(probs, labels, "tokens") == ["lower|,"]


# ----------------------------------------------------------------------------- batches


def test_bucketed_batches_serve_every_example_once_per_epoch_cut_to_their_longest(rng):
    lengths = rng.integers(1, 41, size=640)
    ids = np.zeros((640, 40), dtype=np.int64)
    for n, length in enumerate(lengths):
        ids[n, :length] = n + 1  # which example, in its valid steps only
    targets = ids.copy()

    def epoch(bucket: bool) -> tuple[list[int], int]:
        batcher = ArrayBatcher(
            ids, targets, 32, seed=3, lengths=lengths, per_step_targets=True, bucket=bucket
        )
        seen, padding = [], 0
        for _ in range(len(batcher)):
            (x, batch_lengths), y = batcher.next_batch()
            assert x.shape == y.shape == (batch_lengths.max(), 32)
            seen += x[0].tolist()
            padding += int(x.shape[0] * 32 - batch_lengths.sum())
        return seen, padding

    bucketed, bucketed_padding = epoch(True)
    shuffled, shuffled_padding = epoch(False)
    assert sorted(bucketed) == sorted(shuffled) == list(range(1, 641))
    assert bucketed_padding < shuffled_padding / 5
    assert epoch(True)[0] == bucketed  # seeded


def test_bucketing_needs_lengths():
    with pytest.raises(ConfigError, match="bucket needs lengths"):
        ArrayBatcher(np.zeros((8, 4)), np.zeros(8), 4, bucket=True)


# ----------------------------------------------------------------------------- learning


def _next_token_csv(path, rng, sentences=300):
    """Tags that need the right context: each token is tagged with the token after it."""
    rows = ["sentence,token,tag"]
    for s in range(sentences):
        tokens = rng.choice(list("abcd"), size=rng.integers(5, 12)).tolist()
        for t, token in enumerate(tokens):
            rows.append(f"{s},{token},{tokens[t + 1] if t + 1 < len(tokens) else 'END'}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("bidirectional", [True, False])
def test_a_tag_that_depends_on_the_next_token_needs_both_directions(tmp_path, rng, bidirectional):
    csv = _next_token_csv(tmp_path / "next.csv", rng)
    options = TagOptions(
        data=str(csv), hidden=24, embedding_dim=8, epochs=12, batch=16, lr=1e-2,
        bidirectional=bidirectional,
    )  # fmt: skip
    outcome = run_tag(options)
    (view,) = outcome.views
    if bidirectional:
        assert view.accuracy > 0.95
        assert view.beats_baseline(min_support=20)
    else:  # it cannot see the token it has to name: a guess among four
        assert view.accuracy < 0.45


def test_token_csv_errors_name_the_file_and_what_is_wrong(tmp_path):
    path = tmp_path / "t.csv"
    with pytest.raises(DataError, match="no such CSV file"):
        read_token_tag_csv(path)
    path.write_text("sentence,word,tag\n1,a,x\n")
    with pytest.raises(DataError, match=r"no column 'token'.*'sentence', 'word', 'tag'"):
        read_token_tag_csv(path)
    path.write_text("sentence,token,tag\n1,a,x\n1,b,x\n")
    with pytest.raises(DataError, match="single tag"):
        read_token_tag_csv(path)
    path.write_text("sentence,token,tag\n1,a,x\n1,,y\n")
    with pytest.raises(DataError, match="data row 2: the 'token' value is empty"):
        read_token_tag_csv(path)


def test_consecutive_rows_of_one_sentence_make_one_sequence(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,token,tag\n1,The,D\n1,cat,N\n2,sat,V\n1,down,A\n")
    data = read_token_tag_csv(path)
    assert data.tokens == [["The", "cat"], ["sat"], ["down"]]
    assert data.tags == [["D", "N"], ["V"], ["A"]]
    assert data.labels == ["A", "D", "N", "V"]


def test_the_shakespeare_split_holds_out_whole_plays():
    split = load_split(TagOptions(test_fraction=0.2))
    assert not set(split.train.groups) & set(split.test.groups)
    assert split.kind == "punctuation" and set(split.train.labels) <= set(PUNCTUATION_TAGS)
    assert max(map(len, split.train.tokens)) == 100  # long speeches cut
    assert all(w == w.lower() for s in split.test.tokens[:50] for w in s)


# ----------------------------------------------------------------------------- the command


def test_tag_train_scores_every_tag_saves_and_the_run_tags_new_text(
    tmp_path, rng, monkeypatch, capsys
):
    csv = _next_token_csv(tmp_path / "next.csv", rng, sentences=120)
    out = tmp_path / "run"
    status, stdout, stderr = run(
        monkeypatch, capsys, "tag", "train", "--data", str(csv), "--out", str(out),
        "--hidden", "16", "--embedding-dim", "8", "--epochs", "2", "--batch", "8",
    )  # fmt: skip
    assert status == 0, stderr
    assert "per-tag scores" in stdout and "baseline" in stdout
    progress = [line for line in stdout.splitlines() if line.startswith("step ")]
    assert len(progress) >= 5  # piped: a line per tenth of the steps, the last one's too
    assert re.match(r"step (\d+)/\1  loss \d\.\d{4}  \(\d+ s\)$", progress[-1])
    scores = json.loads((out / "scores.json").read_text())
    (view,) = scores["views"]
    assert {t["tag"] for t in view["tags"]} == {"a", "b", "c", "d", "END"}
    assert sum(t["support"] for t in view["tags"]) == scores["tokens_scored"]
    status, stdout, stderr = run(monkeypatch, capsys, "tag", str(out), "a b c d")
    assert status == 0, stderr
    assert stdout.split("\n")[3].split()[1] == "a"  # a table of tokens and tags
    status, _, stderr = run(monkeypatch, capsys, "tag", "train", "--data", "nope.csv")
    assert status != 0 and "no such data set or file: 'nope.csv'" in stderr
    assert "Traceback" not in stderr


def test_a_punctuation_tagger_restores_the_words_it_was_given(tmp_path, monkeypatch, capsys):
    vocab = WordVocab.from_tokens(["now", "is", "the", "winter", "of", "our", "discontent"])
    model = make_tagger(vocab, list(PUNCTUATION_TAGS), kind="punctuation", lowercase=True)
    text = "NOW is the winter, of our discontent!"
    ((words, tags),) = tag_texts(model, [text])
    assert words == ["now", "is", "the", "winter", "of", "our", "discontent"]
    assert all(tag in PUNCTUATION_TAGS for tag in tags)
    assert punctuation_tags(restore(words, tags))[0] == words
    save_checkpoint(tmp_path / "tagger.safetensors", model)
    status, stdout, stderr = run(
        monkeypatch, capsys, "tag", str(tmp_path / "tagger.safetensors"), text
    )
    assert status == 0, stderr
    assert stdout.strip() == restore(words, tags)
    with pytest.raises(DataError, match="no words to tag"):
        tag_texts(model, ["!?"])
