"""Sequence labelling: a tag for every token.

    h_t = cell(x_t, h_{t−1})           usually bidirectional: h_t = [→h_t; ←h_t], so the
                                       tag of token t sees the whole sequence
    p_t = softmax(V h_t + c)           the distribution of token t's tag, cross-entropy

The network is a ``SequenceModel`` with task "classification" and readout "all";
``config.labels`` names the tags, ``model.vocab`` is the WordVocab of the tokens and
``config.normalisation = {"tagger": kind, "lowercase": bool}`` says how a text becomes
tokens (kind "punctuation": the words of the text, see ``rnnlab.data.tags``; kind
"tokens": the text split at white space).

Scores, per tag k over every token of a test set:

    precision_k = TP_k / (TP_k + FP_k)   of the tokens tagged k, the share truly k
    recall_k    = TP_k / (TP_k + FN_k)   of the tokens truly k, the share tagged k
    F1_k        = 2 P_k R_k / (P_k + R_k)                  (0 where P_k + R_k = 0)

The baseline gives each token the tag it had most often in the training set (ties: the
tag that is more frequent overall), and a token never seen there the most frequent tag.
Punctuation tags "case|mark" are scored on each half (``factor``): the model's marginal
p(mark) = Σ_case p(case|mark), and the baseline's most frequent mark of each word.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.data.tags import FACTORS, factor, punctuation_tags
from rnnlab.data.words import WordVocab
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.classify import confusion_matrix
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import inference
from rnnlab.ops import softmax

__all__ = [
    "TagScore",
    "decode_tags",
    "encode_tokens",
    "factor_probabilities",
    "make_tagger",
    "most_frequent_tags",
    "tag_probabilities",
    "tag_scores",
    "tag_texts",
]

TAGGER_KINDS = ("punctuation", "tokens")


@dataclass(frozen=True)
class TagScore:
    """One tag's scores over a test set (see the module docstring)."""

    tag: str
    precision: float
    recall: float
    f1: float
    support: int  #: tokens truly of this tag


def make_tagger(
    vocab: WordVocab,
    labels: list[str],
    kind: str = "tokens",
    lowercase: bool = False,
    cell: str = "lstm",
    hidden_size: int = 128,
    num_layers: int = 1,
    bidirectional: bool = True,
    embedding_dim: int = 64,
    dropout: float = 0.0,
    residual: bool = False,
    seed: int | np.random.Generator | None = 0,
) -> SequenceModel:
    """A per-token classifier of ``len(labels)`` tags over ``vocab``'s ids."""
    if kind not in TAGGER_KINDS:
        raise ConfigError(f"kind must be one of {TAGGER_KINDS}, got {kind!r}")
    if len(labels) < 2:
        raise DataError(f"tagging needs at least two tags, got {labels}")
    config = SequenceModelConfig(
        input_size=len(vocab),
        output_size=len(labels),
        task="classification",
        readout="all",
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        bidirectional=bidirectional,
        residual=residual,
        input_tokens=True,
        embedding_dim=embedding_dim,
        input_init="xavier",
        labels=[str(label) for label in labels],
        normalisation={"tagger": kind, "lowercase": lowercase},
    )
    return SequenceModel(config, seed=seed, vocab=vocab)


def encode_tokens(
    vocab: WordVocab, sequences: list[list[str]], lowercase: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Token sequences → (ids (N, T) int64 padded with <unk>, lengths (N,)), T the
    longest; unknown tokens are <unk> (id 0)."""
    if not sequences or not all(sequences):
        raise DataError("every sequence to tag needs at least one token")
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    ids = np.zeros((len(sequences), int(lengths.max())), dtype=np.int64)
    for n, tokens in enumerate(sequences):
        ids[n, : len(tokens)] = vocab.ids([t.lower() for t in tokens] if lowercase else tokens)
    return ids, lengths


def tag_probabilities(
    model: SequenceModel, ids: np.ndarray, lengths: np.ndarray, batch: int = 256
) -> list[np.ndarray]:
    """p_t of every token: for sequence n an array (lengths[n], K) of float64."""
    out: list[np.ndarray] = []
    order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
    with inference(model):
        for start in range(0, len(order), batch):
            index = order[start : start + batch]
            T = int(lengths[index].max())
            chunk = np.ascontiguousarray(ids[index, :T].T)
            probs = softmax(model.predict((chunk, lengths[index])).astype(np.float64))
            out += [probs[: lengths[n], b] for b, n in enumerate(index)]
    result: list[np.ndarray] = [np.empty(0)] * len(order)
    for position, n in enumerate(order):
        result[n] = out[position]
    return result


def factor_probabilities(
    probs: np.ndarray, labels: list[str], which: str
) -> tuple[np.ndarray, list[str]]:
    """Marginal probabilities of one half of punctuation tags: probs (N, K) over joint
    "case|mark" labels → (N, K_f) over that half's values (sorted), and those values."""
    values = sorted({factor(label, which) for label in labels})
    summed = np.zeros((len(probs), len(values)))
    for k, label in enumerate(labels):
        summed[:, values.index(factor(label, which))] += probs[:, k]
    return summed, values


def decode_tags(probs: np.ndarray, labels: list[str], kind: str) -> list[str]:
    """The tag of each token from probs (N, K): the most probable label, or for
    punctuation tags the most probable case joined to the most probable mark (each by
    its marginal)."""
    if kind != "punctuation":
        return [labels[k] for k in probs.argmax(axis=1)]
    picks = []
    for which in FACTORS:
        marginal, values = factor_probabilities(probs, labels, which)
        picks.append([values[k] for k in marginal.argmax(axis=1)])
    return [f"{case}|{mark}" for case, mark in zip(*picks, strict=True)]


def most_frequent_tags(
    tokens: list[list[str]], tags: list[list[str]]
) -> tuple[dict[str, str], str]:
    """The baseline's table from training data: token → its most frequent tag (ties:
    the tag more frequent overall), and the most frequent tag overall (for tokens never
    seen)."""
    overall: Counter[str] = Counter(tag for sequence in tags for tag in sequence)
    if not overall:
        raise DataError("the baseline needs at least one tagged token")
    rank = {tag: (-count, tag) for tag, count in overall.items()}
    per_token: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for words, word_tags in zip(tokens, tags, strict=True):
        for word, tag in zip(words, word_tags, strict=True):
            per_token[word][tag] += 1
    table = {
        word: min(counts, key=lambda tag: (-counts[tag], rank[tag]))
        for word, counts in per_token.items()
    }
    return table, min(overall, key=rank.__getitem__)


def tag_scores(truth: list[str], predicted: list[str], labels: list[str]) -> list[TagScore]:
    """Precision, recall, F1 and support of every tag in ``labels`` (see the module
    docstring), from two equally long lists of tags."""
    if len(truth) != len(predicted) or not truth:
        raise DataError(
            f"need two equal non-empty lists of tags, got {len(truth)}, {len(predicted)}"
        )
    index = {label: k for k, label in enumerate(labels)}
    unknown = sorted((set(truth) | set(predicted)) - set(index))
    if unknown:
        raise DataError(f"tags {unknown} are not among the labels {labels}")
    matrix = confusion_matrix(
        np.array([index[t] for t in truth]), np.array([index[p] for p in predicted]), len(labels)
    )
    scores = []
    for k, label in enumerate(labels):
        tp, predicted_k, support = matrix[k, k], matrix[:, k].sum(), matrix[k].sum()
        precision = tp / predicted_k if predicted_k else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores.append(TagScore(label, float(precision), float(recall), float(f1), int(support)))
    return scores


def tag_texts(model: SequenceModel, texts: list[str]) -> list[tuple[list[str], list[str]]]:
    """Tag raw texts with the model's own preprocessing: → for each text (its tokens, their
    tags). A punctuation tagger reads the words of the text (any punctuation and case in
    it are ignored); a token tagger splits the text at white space."""
    norm: dict[str, Any] = model.config.normalisation or {}
    if model.vocab is None or norm.get("tagger") not in TAGGER_KINDS:
        raise ConfigError("this model is not a tagger (its config names no tagger kind)")
    if norm["tagger"] == "punctuation":
        sequences = [punctuation_tags(text)[0] for text in texts]
    else:
        sequences = [text.split() for text in texts]
    for text, tokens in zip(texts, sequences, strict=True):
        if not tokens:
            raise DataError(f"{text[:40]!r} has no words to tag")
    ids, lengths = encode_tokens(model.vocab, sequences, norm.get("lowercase", False))
    labels = model.config.labels or []
    probs = tag_probabilities(model, ids, lengths)
    return [
        (tokens, decode_tags(p, labels, norm["tagger"]))
        for tokens, p in zip(sequences, probs, strict=True)
    ]
