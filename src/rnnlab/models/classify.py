"""Sequence classification: a whole sequence in, one class out.

    h_t = cell(x_t, h_{t−1})             t = 1 … T_n, each sequence its own length T_n
    r   = h_{T_n}                        readout "last"  (with a bidirectional layer:
                                         [→h_{T_n}; ←h_1], both directions' final states)
        = (1/T_n) Σ_t h_t                readout "mean"  (pooled states)
    p   = softmax(V r + c)               class probabilities, cross-entropy loss

The network is a ``SequenceModel`` with task "classification"; ``config.labels`` names
the classes, and for text ``config.normalisation = {"lowercase": bool, "tokens": n}``
says how a text becomes ids (``model.vocab`` is the WordVocab; a text is cut to its
first n tokens).

Metrics: accuracy = (1/N) Σ_n [ŷ_n = y_n]; the confusion matrix C[i, j] counts the
sequences of true class i predicted as j, so its rows sum to the class sizes and its
diagonal to the correct ones; the majority-class rate max_k (1/N) Σ_n [y_n = k] is the
accuracy of always answering the most frequent class of the test set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.data.text import WordVocab
from rnnlab.errors import ConfigError, DataError, ShapeError, check_positive_int
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import inference
from rnnlab.ops import softmax

__all__ = [
    "accuracy",
    "check_labels",
    "classify_texts",
    "confusion_matrix",
    "encode_texts",
    "majority_rate",
    "make_classifier",
    "predict_proba",
]

CLASSIFY_READOUTS = ("last", "mean")


def check_labels(y: Any, labels: list[str]) -> np.ndarray:
    """y as int64 class ids in [0, K), with K = len(labels) ≥ 2 and every class present."""
    if len(labels) < 2:
        raise DataError(
            f"the labels have a single class ({labels[0] if labels else None!r}); "
            "classification needs at least two"
        )
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ShapeError(f"y must be 1-D integer class ids, got shape {y.shape}, {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= len(labels)):
        raise DataError(f"class ids must be in [0, {len(labels)}), got [{y.min()}, {y.max()}]")
    present = np.unique(y)
    if len(present) < 2:
        raise DataError(
            f"every example has the class {labels[int(present[0])]!r}; "
            "classification needs examples of at least two classes"
        )
    return y.astype(np.int64)


def make_classifier(
    input_size: int,
    labels: list[str],
    cell: str = "lstm",
    hidden_size: int = 64,
    num_layers: int = 1,
    readout: str = "last",
    bidirectional: bool = False,
    residual: bool = False,
    input_tokens: bool = False,
    embedding_dim: int | None = None,
    normalisation: dict[str, Any] | None = None,
    vocab: Any = None,
    recurrent_init: str = "uniform",
    input_init: str = "xavier",
    dtype: str = "float32",
    seed: int | np.random.Generator | None = 0,
) -> SequenceModel:
    """A classification ``SequenceModel`` over ``len(labels)`` classes."""
    if readout not in CLASSIFY_READOUTS:
        raise ConfigError(f"readout must be one of {CLASSIFY_READOUTS}, got {readout!r}")
    if len(labels) < 2:
        raise DataError(f"classification needs at least two classes, got labels {labels}")
    config = SequenceModelConfig(
        input_size=input_size,
        output_size=len(labels),
        task="classification",
        readout=readout,
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        bidirectional=bidirectional,
        residual=residual,
        input_tokens=input_tokens,
        embedding_dim=embedding_dim,
        dtype=dtype,
        labels=[str(label) for label in labels],
        normalisation=normalisation,
        recurrent_init=recurrent_init,
        input_init=input_init,
    )
    return SequenceModel(config, seed=seed, vocab=vocab)


def predict_proba(
    model: SequenceModel, x: np.ndarray, lengths: np.ndarray | None = None, batch: int = 512
) -> np.ndarray:
    """Class probabilities of sample-first inputs x (N, T, F) or ids (N, T) → (N, K)."""
    x = np.asarray(x)
    out = []
    with inference(model):
        for i in range(0, len(x), batch):
            chunk = np.swapaxes(x[i : i + batch], 0, 1)
            if not model.config.input_tokens:
                chunk = chunk.astype(model.dtype)
            inputs = chunk if lengths is None else (chunk, lengths[i : i + batch])
            out.append(softmax(model.predict(inputs).astype(np.float64)))
    return np.concatenate(out) if out else np.zeros((0, model.config.output_size))


def accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """The fraction of ``predicted`` class ids equal to ``truth`` (both (N,))."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or predicted.ndim != 1 or not len(truth):
        raise ShapeError(
            f"need two equal non-empty (N,) arrays, got {predicted.shape}, {truth.shape}"
        )
    return float(np.mean(predicted == truth))


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """C (k, k) int64: C[i, j] = how many of true class i were predicted as class j."""
    k = check_positive_int("k", k)
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def majority_rate(truth: np.ndarray, k: int) -> float:
    """The accuracy of always answering the most frequent class of ``truth``."""
    truth = np.asarray(truth, np.int64)
    return float(np.bincount(truth, minlength=k).max() / len(truth))


def encode_texts(
    vocab: WordVocab, texts: list[str], tokens: int, lowercase: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """texts → (ids (N, T) int64 padded with <unk>, lengths (N,)), T = the longest text
    cut to ``tokens``. An empty text (no tokens) is a DataError naming it."""
    tokens = check_positive_int("tokens", tokens)
    encoded = []
    for i, text in enumerate(texts):
        ids = vocab.encode(text.lower() if lowercase else text)[:tokens]
        if not len(ids):
            raise DataError(f"text {i} ({text[:40]!r}) has no word tokens to classify")
        encoded.append(ids)
    T = max(len(ids) for ids in encoded) if encoded else 1
    out = np.zeros((len(encoded), T), dtype=np.int64)
    for i, ids in enumerate(encoded):
        out[i, : len(ids)] = ids
    return out, np.array([len(ids) for ids in encoded], dtype=np.int64)


def classify_texts(model: SequenceModel, texts: list[str]) -> np.ndarray:
    """Class probabilities (N, K) of raw texts, with the model's own vocabulary and
    preprocessing (``config.normalisation``)."""
    norm = model.config.normalisation or {}
    if model.vocab is None or not model.config.input_tokens or "tokens" not in norm:
        raise ConfigError(
            "this classifier does not take text (it has no word vocabulary and text "
            "preprocessing); give it arrays with predict_proba"
        )
    ids, lengths = encode_texts(
        model.vocab, texts, int(norm["tokens"]), norm.get("lowercase", True)
    )
    return predict_proba(model, ids, lengths)
