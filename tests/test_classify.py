"""Sequence classification: metrics, the digits as sequences, the play-level genre split,
text CSVs, bad labels, learning, and the `rnnlab classify` command."""

from __future__ import annotations

import numpy as np
import pytest
from test_cli import run

from rnnlab.applications.classification import (
    ClassifyOptions,
    digits_split,
    genre_split,
    run_classify,
    split_plays,
)
from rnnlab.data.corpora import Play
from rnnlab.data.labelled import digits, genre_of, genre_plays, read_text_label_csv, speech_text
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.classify import (
    accuracy,
    check_labels,
    classify_texts,
    confusion_matrix,
    majority_rate,
    make_classifier,
)

# ----------------------------------------------------------------------------- metrics


def test_confusion_matrix_rows_are_true_classes_and_it_sums_to_the_examples(rng):
    truth = rng.integers(0, 4, size=200)
    predicted = np.where(rng.random(200) < 0.7, truth, rng.integers(0, 4, size=200))
    matrix = confusion_matrix(truth, predicted, 4)
    assert matrix.sum() == 200
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(truth, minlength=4))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(predicted, minlength=4))
    assert np.trace(matrix) == np.sum(truth == predicted)
    assert accuracy(predicted, truth) == pytest.approx(np.trace(matrix) / 200)
    assert confusion_matrix(np.array([0]), np.array([2]), 3)[0, 2] == 1


def test_majority_rate_is_the_share_of_the_most_frequent_class():
    assert majority_rate(np.array([0, 1, 1, 2, 1]), 3) == pytest.approx(0.6)


def test_a_label_set_of_one_class_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="single class"):
        check_labels(np.zeros(5, dtype=int), ["only"])
    with pytest.raises(DataError, match="every example has the class 'a'"):
        check_labels(np.zeros(5, dtype=int), ["a", "b"])
    path = tmp_path / "one.csv"
    path.write_text("text,label\nhello there,greeting\nhi,greeting\n")
    with pytest.raises(DataError, match=r"column 'label' has a single class \('greeting'\)"):
        read_text_label_csv(path)


def test_a_csv_without_the_text_or_label_column_is_a_clear_error(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("sentence,label\nhi,a\nho,b\n")
    with pytest.raises(DataError, match=r"no column 'text'; its columns are: 'sentence', 'label'"):
        read_text_label_csv(path)
    assert read_text_label_csv(path, text_column="sentence").labels == ["a", "b"]


# ----------------------------------------------------------------------------- digits


def test_digits_are_read_row_by_row_or_pixel_by_pixel():
    rows, pixels = digits("rows"), digits("pixels")
    assert rows.x.shape == (1797, 8, 8) and pixels.x.shape == (1797, 64, 1)
    np.testing.assert_array_equal(rows.x.reshape(1797, 64), pixels.x[..., 0])
    assert rows.x.min() == 0 and rows.x.max() == 1  # pixels ÷ 16
    split = digits_split("rows")
    assert len(split.y_test) == 450 and len(split.y_train) == 1347
    assert np.ptp(np.bincount(split.y_test)) <= 3  # stratified: 43 to 46 of each digit
    with pytest.raises(ConfigError, match="order must be one of"):
        digits("columns")


def test_a_short_run_on_digits_learns_far_above_the_majority_class():
    options = ClassifyOptions(data="digits-rows", hidden=32, epochs=4, cell="gru")
    outcome = run_classify(options)
    assert outcome.majority_rate < 0.11
    assert outcome.accuracy > 0.6
    assert outcome.confusion.sum() == 450


# ----------------------------------------------------------------------------- genre


def test_problems_roman_and_romances_take_their_first_folio_genre():
    def play(genre: str, slug: str) -> Play:
        return Play(slug, genre, slug, "")

    assert genre_of(play("roman", "julius-caesar")) == "tragedy"
    assert genre_of(play("romances", "the-tempest")) == "comedy"
    assert genre_of(play("problems", "measure-for-measure")) == "comedy"
    assert genre_of(play("romances", "pericles")) is None  # not in the Folio
    assert genre_of(play("roman", "julius-caesar"), "exclude") is None
    assert genre_of(play("histories", "richard-ii"), "exclude") == "history"
    genres = [g for _, g in genre_plays()]
    assert len(genres) == 37 and set(genres) == {"comedy", "history", "tragedy"}


def test_the_play_decides_the_split_so_no_play_is_on_both_sides():
    plays = genre_plays()
    train, test = split_plays(plays, 0.25, seed=0)
    train_slugs, test_slugs = {p.slug for p, _ in train}, {p.slug for p, _ in test}
    assert not train_slugs & test_slugs
    assert train_slugs | test_slugs == {p.slug for p, _ in plays}
    for genre in ("comedy", "history", "tragedy"):
        assert any(g == genre for _, g in train) and any(g == genre for _, g in test)
    other = {p.slug for p, _ in split_plays(plays, 0.25, seed=1)[1]}
    assert other != test_slugs  # the seed draws the plays


def test_genre_passages_are_labelled_by_held_out_plays_only():
    split = genre_split(ClassifyOptions(data="genre", tokens=50, vocab_size=500))
    _, test = split_plays(genre_plays(), 0.25, seed=0)
    assert set(split.groups_test) == {p.title for p, _ in test}
    assert split.x_train.shape[1] == 50 and (split.lengths_test == 50).all()
    for title, label in split.group_labels.items():
        genre = next(g for p, g in test if p.title == title)
        assert split.labels[label] == genre
    # speaker names are not part of the passages
    hamlet = next(p for p, _ in genre_plays() if p.slug == "hamlet")
    assert "HAMLET:" in hamlet.text and "HAMLET:" not in speech_text(hamlet)


# ----------------------------------------------------------------------------- text


def text_csv(path, n: int = 80):
    rng = np.random.default_rng(0)
    good = ["lovely", "bright", "merry", "sweet"]
    bad = ["grim", "dark", "bloody", "cruel"]
    rows = ["text,label"]
    for i in range(n):
        words = good if i % 2 else bad
        filler = rng.choice(["the", "a", "day", "night", "was"], size=4).tolist()
        text = " ".join(rng.permutation(filler + rng.choice(words, size=2).tolist()))
        rows.append(f"{text},{'happy' if i % 2 else 'sad'}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_a_text_classifier_learns_a_csv_and_classifies_raw_text(tmp_path):
    path = text_csv(tmp_path / "mood.csv")
    options = ClassifyOptions(
        data=str(path),
        hidden=16,
        embedding_dim=8,
        epochs=40,
        batch=16,
        lr=2e-2,
        test_fraction=0.25,
    )
    outcome = run_classify(options)
    assert outcome.labels == ["happy", "sad"]
    assert outcome.accuracy >= 0.9
    probs = classify_texts(outcome.model, ["a merry sweet day", "A GRIM BLOODY NIGHT"])
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    assert probs[0].argmax() == 0 and probs[1].argmax() == 1  # lower-cased like training


def test_a_bidirectional_classifier_reads_the_joined_final_states():
    model = make_classifier(3, ["a", "b"], hidden_size=5, bidirectional=True)
    assert model.head.params["weight"].shape == (2, 10)
    with pytest.raises(ConfigError, match="readout must be one of"):
        make_classifier(3, ["a", "b"], readout="all")
    with pytest.raises(ConfigError, match="does not take text"):
        classify_texts(model, ["hello"])


# ----------------------------------------------------------------------------- command


def test_classify_command_trains_and_classifies_texts(tmp_path, monkeypatch, capsys):
    path = text_csv(tmp_path / "mood.csv")
    out = tmp_path / "run"
    status, stdout, stderr = run(
        monkeypatch,
        capsys,
        "classify",
        "train",
        "--data",
        str(path),
        "--hidden",
        "8",
        "--embedding-dim",
        "8",
        "--epochs",
        "3",
        "--batch",
        "16",
        "--out",
        str(out),
    )
    assert status == 0, stderr
    assert "confusion matrix" in stdout and "majority class" in stdout
    assert (out / "confusion.png").exists()
    status, stdout, stderr = run(monkeypatch, capsys, "classify", str(out), "a merry day")
    assert status == 0, stderr
    assert "happy" in stdout and "sad" in stdout
    status, _, stderr = run(monkeypatch, capsys, "classify", "train", "--data", "nope.csv")
    assert status == 2 and "no such data set or file" in stderr


def test_classifiers_start_from_glorot_input_weights_and_record_it():
    model = make_classifier(1, ["a", "b"], hidden_size=64, seed=0)
    W_ih = model.rnn.params["weight_ih_l0"]  # (4H, 1): one input, as pixel by pixel
    bound = np.sqrt(6 / (64 + 1))  # Glorot per gate block, not PyTorch's 1/√64 = 0.125
    assert model.config.input_init == "xavier"
    assert 0.2 < np.abs(W_ih).max() <= bound


def test_an_unknown_initialisation_is_a_clear_error(monkeypatch, capsys):
    status, _, stderr = run(
        monkeypatch, capsys, "classify", "train", "--input-init", "zeros", "--epochs", "1"
    )
    assert status == 2 and "input_init must be one of" in stderr
