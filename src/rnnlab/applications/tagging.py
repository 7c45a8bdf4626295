"""A sequence-labelling run from plain options: data, split, train, score per tag.

Data sets (``TagOptions.data``):

- ``shakespeare``: restore punctuation and capital letters. Every speech of the plays,
  lower-cased and stripped of punctuation, each word tagged with its case and the mark
  after it (``rnnlab.data.tags``). The *play* decides the split: a ``test_fraction`` of
  the plays of each genre (drawn with ``split_seed``, as ``rnnlab classify --data
  genre``) is held out whole. Scored on each half of the tag: punctuation
  (none , . ; : ? !) and case (lower, Capital, UPPER).
- a CSV path: one token per row with its tag and its sentence (``read_token_tag_csv``);
  a ``test_fraction`` of the sentences (drawn with ``split_seed``) is held out.

Sequences longer than ``tokens`` are cut into pieces of at most that many. The
vocabulary is the ``vocab_size`` most frequent tokens of the training part seen at least
twice (the rest ``<unk>``, which training therefore sees too). There is no model
selection: the reported model is the one after the last epoch. The baseline tags each
token with its most frequent tag in the training part (``most_frequent_tags``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.applications.classification import fit_epochs, split_plays
from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.labelled import genre_plays
from rnnlab.data.tags import (
    FACTORS,
    TaggedSequences,
    cut,
    factor,
    read_token_tag_csv,
    shakespeare_speeches,
)
from rnnlab.data.words import WordVocab
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.sequence import SequenceModel
from rnnlab.models.tagger import (
    TagScore,
    decode_tags,
    encode_tokens,
    make_tagger,
    most_frequent_tags,
    tag_probabilities,
    tag_scores,
)
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
from rnnlab.train import TrainResult

DATASETS = ("shakespeare",)
#: the most passes a run may ask for
MAX_EPOCHS = 1000


@dataclass
class TagOptions:
    """Every option of a tagging run; the defaults are the Shakespeare benchmark's."""

    data: str = option(
        "shakespeare",
        "shakespeare (restore punctuation and capitals), or a CSV of token, tag, sentence",
    )
    token_column: str = option("token", "CSV: the token column")
    label_column: str = option("tag", "CSV: the tag column")
    sentence_column: str = option("sentence", "CSV: the column naming each row's sentence")
    lowercase: bool = option(False, "CSV: lower-case the tokens (Shakespeare's always are)")
    cell: str = cell_option()
    hidden: int = hidden_option(128)
    layers: int = layers_option()
    residual: bool = residual_option()
    bidirectional: bool = option(True, "bidirectional layers (a tag sees the whole sequence)")
    embedding_dim: int = option(64, "embedding size", min=1)
    dropout: float = option(0.0, "dropout between layers")
    vocab_size: int = option(10000, "vocabulary size with <unk>", min=2)
    tokens: int = option(100, "the longest sequence; longer ones are cut", min=1, max=10_000)
    test_fraction: float = option(0.25, "held out: of each genre's plays, or of the sentences")
    split_seed: int = option(0, "seed of the split", min=0)
    epochs: int = option(5, "passes over the training set", min=1, max=MAX_EPOCHS)
    batch: int = option(32, "sequences per step", min=1)
    lr: float = lr_option(3e-3)
    schedule: str = schedule_option("cosine")
    clip: float | None = clip_option(1.0)
    seed: int = seed_option("seed for weights and order")


@dataclass
class TagSplit:
    """Training and test sequences and what they are."""

    train: TaggedSequences
    test: TaggedSequences
    kind: str  #: "punctuation" or "tokens" (see rnnlab.models.tagger)
    lowercase: bool
    description: str = ""


@dataclass
class ViewScores:
    """The scores of one view of the tags (punctuation, case, or the tags themselves)."""

    name: str
    model: list[TagScore]
    baseline: list[TagScore]
    accuracy: float
    baseline_accuracy: float

    def beats_baseline(self, min_support: int = 100) -> bool:
        """Whether the model's F1 is above the baseline's on every tag with at least
        ``min_support`` test tokens."""
        return all(
            m.f1 > b.f1
            for m, b in zip(self.model, self.baseline, strict=True)
            if m.support >= min_support
        )


@dataclass
class TagOutcome:
    """A trained tagger and its scores on the held-out part."""

    model: SequenceModel
    split: TagSplit
    views: list[ViewScores]
    tokens_scored: int
    #: a few test sequences: (tokens, true tags, predicted tags)
    examples: list[tuple[list[str], list[str], list[str]]] = field(default_factory=list)
    train_result: TrainResult | None = None


# ----------------------------------------------------------------------------- data


def shakespeare_split(options: TagOptions) -> TagSplit:
    """The speeches of the training plays and of the held-out plays."""
    train_plays, test_plays = split_plays(genre_plays(), options.test_fraction, options.split_seed)
    train = cut(shakespeare_speeches([p for p, _ in train_plays]), options.tokens)
    test = cut(shakespeare_speeches([p for p, _ in test_plays]), options.tokens)
    held = ", ".join(p.title for p, _ in test_plays)
    description = (
        f"Shakespeare, punctuation and capitals: {len(train):,} training speeches "
        f"({sum(map(len, train.tokens)):,} words) from {len(train_plays)} plays; "
        f"{len(test):,} test speeches ({sum(map(len, test.tokens)):,} words) from "
        f"{len(test_plays)} held-out plays: {held}"
    )
    return TagSplit(train, test, "punctuation", True, description)


def csv_split(options: TagOptions) -> TagSplit:
    """A ``test_fraction`` of the CSV's sentences held out."""
    if not 0 < options.test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {options.test_fraction!r}")
    data = read_token_tag_csv(
        options.data, options.token_column, options.label_column, options.sentence_column
    )
    if len(data) < 2:
        raise DataError(f"{options.data} has one sentence; a split needs at least two")
    rng = np.random.default_rng(options.split_seed)
    n_test = min(len(data) - 1, max(1, round(options.test_fraction * len(data))))
    is_test = np.zeros(len(data), dtype=bool)
    is_test[rng.choice(len(data), size=n_test, replace=False)] = True
    train = cut(data.select(np.flatnonzero(~is_test)), options.tokens)
    test = cut(data.select(np.flatnonzero(is_test)), options.tokens)
    description = (
        f"{options.data}: {len(data):,} sentences, tags {', '.join(data.labels)}; "
        f"{len(train):,} training and {len(test):,} test sequences"
    )
    return TagSplit(train, test, "tokens", options.lowercase, description)


def load_split(options: TagOptions) -> TagSplit:
    """The TagSplit ``options.data`` names."""
    if options.data == "shakespeare":
        return shakespeare_split(options)
    if not Path(options.data).exists():
        raise DataError(
            f"no such data set or file: {options.data!r}; built in: {', '.join(DATASETS)}, "
            "or the path of a CSV file with token, tag and sentence columns"
        )
    return csv_split(options)


def _lowered(sequences: list[list[str]], lowercase: bool) -> list[list[str]]:
    return [[t.lower() for t in s] for s in sequences] if lowercase else sequences


# ----------------------------------------------------------------------------- the run


def run_tag(
    options: TagOptions,
    out: str | Path | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    split: TagSplit | None = None,
) -> TagOutcome:
    """Train a tagger as ``options`` say and score it on the held-out part."""
    split = split if split is not None else load_split(options)
    train_tokens = _lowered(split.train.tokens, split.lowercase)
    vocab = WordVocab.from_tokens(
        (t for s in train_tokens for t in s), max_size=options.vocab_size, min_count=2
    )
    labels = sorted(set(split.train.labels) | set(split.test.labels))
    model = make_tagger(
        vocab,
        labels,
        kind=split.kind,
        lowercase=split.lowercase,
        cell=options.cell,
        hidden_size=options.hidden,
        num_layers=options.layers,
        bidirectional=options.bidirectional,
        embedding_dim=options.embedding_dim,
        dropout=options.dropout,
        residual=options.residual,
        seed=options.seed,
    )
    ids, lengths = encode_tokens(vocab, train_tokens)
    targets = np.zeros_like(ids)
    index = {label: k for k, label in enumerate(labels)}
    for n, tags in enumerate(split.train.tags):
        targets[n, : len(tags)] = [index[tag] for tag in tags]
    batch = min(options.batch, len(ids))
    batcher = ArrayBatcher(
        ids, targets, batch, options.seed, lengths, per_step_targets=True, bucket=True
    )
    source = {"application": "tag", "data": str(options.data)}
    result = fit_epochs(model, batcher, options.epochs, options, out, report, source)
    return evaluate_tagger(model, split, result)


def evaluate_tagger(
    model: SequenceModel, split: TagSplit, train_result: TrainResult | None = None
) -> TagOutcome:
    """Per-tag scores of the model and of the most-frequent-tag baseline on the test part."""
    labels = model.config.labels or []
    test_tokens = _lowered(split.test.tokens, split.lowercase)
    ids, lengths = encode_tokens(model.vocab, test_tokens)
    predicted = [decode_tags(p, labels, split.kind) for p in tag_probabilities(model, ids, lengths)]
    train_tokens = _lowered(split.train.tokens, split.lowercase)
    names = FACTORS if split.kind == "punctuation" else ("tag",)
    views = []
    for name in names:

        def view(tags: list[list[str]], name: str = name) -> list[list[str]]:
            return tags if name == "tag" else [[factor(t, name) for t in s] for s in tags]

        table, fallback = most_frequent_tags(train_tokens, view(split.train.tags))
        truth = [t for s in view(split.test.tags) for t in s]
        guessed = [t for s in view(predicted) for t in s]
        baseline = [table.get(t, fallback) for s in test_tokens for t in s]
        values = sorted(set(truth) | set(guessed) | set(baseline) | set(table.values()))
        views.append(
            ViewScores(
                name,
                tag_scores(truth, guessed, values),
                tag_scores(truth, baseline, values),
                float(np.mean([a == b for a, b in zip(truth, guessed, strict=True)])),
                float(np.mean([a == b for a, b in zip(truth, baseline, strict=True)])),
            )
        )
    shown = [n for n in range(len(test_tokens)) if 12 <= len(test_tokens[n]) <= 30][:3]
    examples = [(test_tokens[n], split.test.tags[n], predicted[n]) for n in shown]
    return TagOutcome(model, split, views, int(lengths.sum()), examples, train_result)
