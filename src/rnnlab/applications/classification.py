"""A sequence-classification run from plain options: data, split, train, measure.

Data sets (``ClassifyOptions.data``):

- ``digits-rows`` / ``digits-pixels``: scikit-learn's 8×8 digits read row by row (8 steps
  of 8 pixels) or pixel by pixel (64 steps of 1), pixels ÷ 16; split with
  ``train_test_split(X, y, test_size=450, random_state=0, stratify=y)``.
- ``genre``: passages of ``tokens`` words of Shakespeare's plays, labelled comedy /
  history / tragedy by their play (``rnnlab.data.labelled``). The *play* decides the
  split: a ``test_fraction`` of the plays of each genre (drawn with ``split_seed``) is
  held out whole, so no play has passages on both sides. Words are lower-cased, speaker
  names dropped, and the vocabulary (``vocab_size`` most frequent tokens, the rest
  ``<unk>``) is built from the training plays only.
- a CSV path: ``text_column`` and ``label_column`` of every row; a stratified
  ``test_fraction`` of the rows is held out; texts are cut to their first ``tokens``.

There is no model selection: the reported model is the one after the last epoch, and
the baseline is the majority-class rate of the test set. For ``genre`` the plays are
also classified whole, by the majority vote of their passages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.labelled import (
    GENRES,
    LabelledTexts,
    digits,
    genre_plays,
    passages,
    read_text_label_csv,
    speech_text,
)
from rnnlab.data.text import WordVocab
from rnnlab.errors import ConfigError, DataError, check_positive_int
from rnnlab.models.classify import (
    accuracy,
    check_labels,
    confusion_matrix,
    encode_texts,
    majority_rate,
    make_classifier,
    predict_proba,
)
from rnnlab.models.sequence import SequenceModel
from rnnlab.options import (
    cell_option,
    clip_option,
    hidden_option,
    layers_option,
    lr_option,
    option,
    residual_option,
    schedule_option,
    seed_option,
)
from rnnlab.train import TrainConfig, Trainer, TrainResult

DATASETS = ("digits-rows", "digits-pixels", "genre")
#: the most passes a run may ask for: a budget, not a way to run forever (10,000 passes
#: over the digits take hours)
MAX_EPOCHS = 10_000


@dataclass
class ClassifyOptions:
    """Every option of a classification run; the defaults are the digits benchmark's."""

    data: str = option(
        "digits-rows", "digits-rows, digits-pixels, genre, or a CSV of text and label"
    )
    text_column: str = option("text", "CSV: the text column")
    label_column: str = option("label", "CSV: the label column")
    cell: str = cell_option()
    hidden: int = hidden_option(64)
    layers: int = layers_option()
    residual: bool = residual_option()
    readout: str | None = option(
        None, "last (final state) or mean (pooled); '': last for digits, mean for text", none=""
    )
    bidirectional: bool = option(False, "a bidirectional layer")
    recurrent_init: str = option("uniform", "W_hh: uniform or orthogonal (rnnlab.nn.init)")
    #: Glorot input weights: with one input (pixel by pixel) PyTorch's ±1/√H leaves the
    #: input drive so weak that some seeds sit on the ln K plateau for a hundred steps
    input_init: str = option("xavier", "W_ih: xavier or uniform")
    embedding_dim: int = option(32, "text: embedding size", min=1)
    vocab_size: int = option(5000, "text: vocabulary size with <unk>", min=2)
    tokens: int = option(100, "text: passage length (genre) / cut-off (CSV) in words", min=1)
    others: str = option("folio", "genre: problems/roman/romances by the First Folio, or exclude")
    test_fraction: float = option(0.25, "genre: of each genre's plays; CSV: of the rows")
    split_seed: int = option(0, "genre / CSV: seed of the split", min=0)
    epochs: int | None = option(
        None,
        "passes over the training set; 0: 30 for digits, 10 for text",
        none=0,
        min=0,
        max=MAX_EPOCHS,
    )
    batch: int = option(64, "sequences per step", min=1)
    lr: float = lr_option(1e-2)
    schedule: str = schedule_option("cosine")
    clip: float | None = clip_option(1.0)
    seed: int = seed_option("seed for weights and order")


@dataclass
class Split:
    """Training and test examples, ready for ``ArrayBatcher`` / ``predict_proba``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list[str]
    lengths_train: np.ndarray | None = None
    lengths_test: np.ndarray | None = None
    groups_test: list[str] | None = None  #: e.g. the play of each test passage
    vocab: WordVocab | None = None
    description: str = ""
    group_labels: dict[str, int] = field(default_factory=dict)  #: group → its class


@dataclass
class ClassifyOutcome:
    """A trained classifier and its numbers on the test set."""

    model: SequenceModel
    split: Split
    predicted: np.ndarray  #: (N_test,) class ids
    accuracy: float
    majority_rate: float
    confusion: np.ndarray  #: (K, K), rows true, columns predicted
    group_accuracy: float | None = None  #: whole plays by majority vote, genre only
    group_votes: dict[str, str] = field(default_factory=dict)  #: group → predicted label
    train_result: TrainResult | None = None

    @property
    def labels(self) -> list[str]:
        return self.split.labels


# ----------------------------------------------------------------------------- data


def digits_split(order: str) -> Split:
    """The digits benchmark split: 450 test images, stratified, random_state 0."""
    from sklearn.model_selection import train_test_split

    data = digits(order)
    x_train, x_test, y_train, y_test = train_test_split(
        data.x, data.y, test_size=450, random_state=0, stratify=data.y
    )
    steps, width = data.x.shape[1:]
    description = (
        f"digits, {'row' if order == 'rows' else 'pixel'} by row: {steps} steps of {width}; "
        f"{len(y_train)} training and {len(y_test)} test images"
    )
    return Split(x_train, y_train, x_test, y_test, data.labels, description=description)


def split_plays(
    plays_genres: list[tuple[Any, str]], test_fraction: float, seed: int
) -> tuple[list[tuple[Any, str]], list[tuple[Any, str]]]:
    """Hold out round(test_fraction · n_g) plays (at least 1) of each genre g, drawn with
    ``seed``; the rest train. → (train, test), each [(play, genre)] in corpus order."""
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for genre in GENRES:
        slugs = sorted(p.slug for p, g in plays_genres if g == genre)
        if len(slugs) < 2:
            raise DataError(f"genre {genre!r} has {len(slugs)} plays; a split needs at least 2")
        n = min(len(slugs) - 1, max(1, round(test_fraction * len(slugs))))
        held.update(rng.choice(slugs, size=n, replace=False).tolist())
    train = [(p, g) for p, g in plays_genres if p.slug not in held]
    test = [(p, g) for p, g in plays_genres if p.slug in held]
    return train, test


def _texts_to_split(
    train: LabelledTexts,
    test: LabelledTexts,
    options: ClassifyOptions,
    description: str,
    grouped: bool = False,
) -> Split:
    vocab = WordVocab.from_text(
        "\n".join(t.lower() for t in train.texts), max_size=options.vocab_size, min_count=2
    )
    x_train, l_train = encode_texts(vocab, train.texts, options.tokens)
    x_test, l_test = encode_texts(vocab, test.texts, options.tokens)
    return Split(
        x_train,
        train.y,
        x_test,
        test.y,
        train.labels,
        l_train,
        l_test,
        test.groups if grouped else None,
        vocab,
        description + f"; vocabulary {len(vocab)} tokens from the training part",
        dict(zip(test.groups, test.y.tolist(), strict=True)) if grouped else {},
    )


def genre_split(options: ClassifyOptions) -> Split:
    """Passages of the training plays and of the held-out plays (see the module docstring)."""
    plays_genres = genre_plays(options.others)
    train, test = split_plays(plays_genres, options.test_fraction, options.split_seed)
    labels = list(GENRES)

    def texts(part: list[tuple[Any, str]]) -> LabelledTexts:
        out, y, groups = [], [], []
        for play, genre in part:
            cut = passages(speech_text(play), options.tokens)
            out += cut
            y += [labels.index(genre)] * len(cut)
            groups += [play.title] * len(cut)
        return LabelledTexts(out, np.array(y, dtype=np.int64), labels, groups)

    held = ", ".join(f"{p.title} ({g})" for p, g in test)
    description = (
        f"Shakespeare genre: passages of {options.tokens} words; {len(train)} training plays, "
        f"{len(test)} held out: {held}"
    )
    return _texts_to_split(texts(train), texts(test), options, description, grouped=True)


def csv_split(options: ClassifyOptions) -> Split:
    """A stratified ``test_fraction`` of the CSV rows held out."""
    data = read_text_label_csv(options.data, options.text_column, options.label_column)
    if not 0 < options.test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {options.test_fraction!r}")
    rng = np.random.default_rng(options.split_seed)
    test_rows = []
    for k in range(len(data.labels)):
        rows = np.flatnonzero(data.y == k)
        n = round(options.test_fraction * len(rows))
        test_rows += rng.choice(rows, size=min(n, len(rows) - 1), replace=False).tolist()
    is_test = np.zeros(len(data.y), dtype=bool)
    is_test[test_rows] = True
    if not is_test.any():
        raise DataError(f"{options.data} has too few rows to hold any out for testing")

    def part(mask: np.ndarray) -> LabelledTexts:
        index = np.flatnonzero(mask)
        groups = [data.groups[i] for i in index]
        return LabelledTexts([data.texts[i] for i in index], data.y[index], data.labels, groups)

    description = (
        f"{options.data}: {len(data.y)} rows, classes {', '.join(data.labels)}; "
        f"{int((~is_test).sum())} training and {int(is_test.sum())} test rows"
    )
    return _texts_to_split(part(~is_test), part(is_test), options, description)


def load_split(options: ClassifyOptions) -> Split:
    """The Split ``options.data`` names."""
    if options.data in ("digits-rows", "digits-pixels"):
        return digits_split(options.data.removeprefix("digits-"))
    if options.data == "genre":
        return genre_split(options)
    if not Path(options.data).exists():
        raise DataError(
            f"no such data set or file: {options.data!r}; built in: {', '.join(DATASETS)}, "
            "or the path of a CSV file with text and label columns"
        )
    return csv_split(options)


# ----------------------------------------------------------------------------- the run


def run_classify(
    options: ClassifyOptions,
    out: str | Path | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    split: Split | None = None,
) -> ClassifyOutcome:
    """Train a classifier as ``options`` say and measure it on the held-out part."""
    split = split if split is not None else load_split(options)
    y_train = check_labels(split.y_train, split.labels)
    text = split.vocab is not None
    epochs = check_positive_int("epochs", options.epochs or (10 if text else 30))
    readout = options.readout or ("mean" if text else "last")
    model = make_classifier(
        len(split.vocab) if text else split.x_train.shape[-1],
        split.labels,
        cell=options.cell,
        hidden_size=options.hidden,
        num_layers=options.layers,
        residual=options.residual,
        readout=readout,
        bidirectional=options.bidirectional,
        input_tokens=text,
        embedding_dim=options.embedding_dim if text else None,
        normalisation={"lowercase": True, "tokens": options.tokens} if text else None,
        vocab=split.vocab,
        recurrent_init=options.recurrent_init,
        input_init=options.input_init,
        seed=options.seed,
    )
    batch = min(options.batch, len(y_train))
    batcher = ArrayBatcher(
        split.x_train, y_train, batch, seed=options.seed, lengths=split.lengths_train
    )
    source = {"application": "classify", "data": str(options.data)}
    result = fit_epochs(model, batcher, epochs, options, out, report, source)
    return evaluate_classifier(model, split, result)


def fit_epochs(
    model: SequenceModel,
    batcher: ArrayBatcher,
    epochs: int,
    options: Any,
    out: str | Path | None,
    report: Callable[[dict[str, Any]], None] | None,
    source: dict[str, str],
) -> TrainResult:
    """Train ``model`` for ``epochs`` passes over ``batcher`` with the ``options``' lr,
    schedule, clip and seed (a checkpoint at the end, no validation set); a diverged run
    is a DataError with the trainer's message."""
    steps = epochs * len(batcher)
    config = TrainConfig(
        steps=steps,
        batch_size=batcher.batch_size,
        lr=options.lr,
        schedule=options.schedule,
        clip=options.clip,
        eval_every=steps,
        sample_every=0,
        checkpoint_every=steps,
        log_every=max(1, min(20, steps // 20)),
        seed=options.seed,
    )
    trainer = Trainer(model, batcher, None, config, out, report=report, data_source=source)
    result = trainer.fit()
    if result.stopped == "diverged":
        raise DataError(result.message)
    return result


def evaluate_classifier(
    model: SequenceModel, split: Split, train_result: TrainResult | None = None
) -> ClassifyOutcome:
    """Accuracy, majority rate, confusion matrix (and play votes) on the test set."""
    k = len(split.labels)
    probs = predict_proba(model, split.x_test, split.lengths_test)
    predicted = probs.argmax(axis=1)
    outcome = ClassifyOutcome(
        model=model,
        split=split,
        predicted=predicted,
        accuracy=accuracy(predicted, split.y_test),
        majority_rate=majority_rate(split.y_test, k),
        confusion=confusion_matrix(split.y_test, predicted, k),
        train_result=train_result,
    )
    if split.groups_test is not None and split.group_labels:
        votes = {}
        for group in split.group_labels:
            mine = np.array([g == group for g in split.groups_test])
            votes[group] = int(np.bincount(predicted[mine], minlength=k).argmax())
        outcome.group_votes = {g: split.labels[v] for g, v in votes.items()}
        outcome.group_accuracy = float(np.mean([votes[g] == split.group_labels[g] for g in votes]))
    return outcome
