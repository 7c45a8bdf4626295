"""What a trained application model says, in the numbers the applications panel shows.

Forecast, from an origin o (the first value not seen), for h = 0 … H−1:

    network          x̂_{o+h}  closed loop: each forecast fed back as the newest input
    last value       x̂_{o+h} = x_{o−1}                         (persistence held)
    seasonal naive   x̂_{o+h} = x_{o−s+(h mod s)}               (a season s earlier)
    MAE  = (1/H) Σ_h |x̂_{o+h} − x_{o+h}|      RMSE = sqrt((1/H) Σ_h (x̂_{o+h} − x_{o+h})²)

The season s is read from the training values alone: the lag of the first peak of their
autocorrelation ρ(k) = Σ_t z_t z_{t+k} / Σ_t z_t² (z = x − mean), k = 2 … K; with no
peak, s = 1 and the seasonal naive forecast is the last value.

Classification: p(class | passage) = softmax(V r + c) from ``classify_texts``; the
held-out accuracy next to the majority-class rate of the held-out passages.

Completion: p(w | prompt) for the k likeliest words w (``next_distribution``), each with
the text that appends it to the prompt (``WordVocab.decode``'s spacing), next to the
validation perplexity of the model and of the unigram baseline.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from rnnlab.applications.classification import ClassifyOutcome
from rnnlab.applications.completion import CompleteOutcome, clean_prompt, continue_words
from rnnlab.applications.forecasting import ForecastOutcome
from rnnlab.data.words import UNK, WordVocab
from rnnlab.errors import ConfigError
from rnnlab.generate import next_distribution
from rnnlab.models.classify import classify_texts, encode_texts
from rnnlab.models.forecast import closed_loop_origins
from rnnlab.models.language import LanguageModel
from rnnlab.models.sequence import SequenceModel

# ----------------------------------------------------------------------------- forecast


def last_value(history: np.ndarray, horizon: int) -> np.ndarray:
    """x̂_{o+h} = x_{o−1}: history (o ≥ 1,) → (horizon,)."""
    return np.full(horizon, float(history[-1]))


def seasonal_naive(history: np.ndarray, season: int, horizon: int) -> np.ndarray:
    """x̂_{o+h} = x_{o−s+(h mod s)}, each value a season earlier: history (o ≥ s,) →
    (horizon,)."""
    history = np.asarray(history, dtype=np.float64)
    if not 1 <= season <= len(history):
        raise ConfigError(f"season {season} needs between 1 and {len(history)} values of history")
    return history[len(history) - season + np.arange(horizon) % season]


def season_of(train: np.ndarray, max_lag: int) -> int:
    """The lag k in 2 … max_lag of the first peak of the autocorrelation of ``train``
    (N,): ρ(k − 1) < ρ(k) ≥ ρ(k + 1) and ρ(k) > 0; 1 if there is none."""
    z = np.asarray(train, dtype=np.float64) - np.mean(train)
    energy = float(z @ z)
    lags = np.arange(1, min(max_lag, len(z) - 2) + 2)
    if energy == 0 or len(lags) < 3:
        return 1
    rho = np.array([z[:-k] @ z[k:] / energy for k in lags])
    for i in range(1, len(lags) - 1):
        if rho[i - 1] < rho[i] >= rho[i + 1] and rho[i] > 0:
            return int(lags[i])
    return 1


def errors(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """{"mae": mean |x̂ − x|, "rmse": sqrt(mean (x̂ − x)²)} over every value (any shape)."""
    diff = np.asarray(predicted, np.float64) - np.asarray(truth, np.float64)
    return {"mae": float(np.abs(diff).mean()), "rmse": float(np.sqrt((diff**2).mean()))}


def forecast_view(
    outcome: ForecastOutcome, season: int, horizon: int, start: int
) -> dict[str, Any]:
    """The network's closed-loop forecast of ``horizon`` values from origin o = n_train +
    ``start``, the two naive forecasts, the truth, and their errors there and pooled over
    every test origin; with the history before o to draw."""
    values = outcome.series.values[: outcome.train_points + len(outcome.truth)]
    n_train, n_test = outcome.train_points, len(outcome.truth)
    if horizon > n_test:
        raise ConfigError(f"horizon {horizon} is longer than the {n_test} test values")
    if start > n_test - horizon:
        raise ConfigError(
            f"start {start} leaves fewer than {horizon} test values to forecast; "
            f"with horizon {horizon} it can be 0 to {n_test - horizon}"
        )
    forecasts, truth = closed_loop_origins(outcome.model, values, n_train, horizon)
    origins = n_train + np.arange(len(forecasts))  # every o with H test values after it
    held = np.repeat(values[origins - 1][:, None], horizon, axis=1)
    seasonal = values[origins[:, None] - season + np.arange(horizon) % season]
    o = n_train + start
    window = int(outcome.model.config.normalisation["window"])
    shown = min(o, max(3 * horizon, 2 * season, window, 48))
    methods = {
        "network": forecasts[start],
        "last_value": last_value(values[:o], horizon),
        "seasonal": seasonal_naive(values[:o], season, horizon),
    }
    pooled = {"network": forecasts, "last_value": held, "seasonal": seasonal}
    index = outcome.series.index[: len(values)]
    return {
        "origin": int(o),
        "start": start,
        "horizon": horizon,
        "season": season,
        "origins": len(forecasts),
        "history_x": index[o - shown : o].tolist(),
        "history": values[o - shown : o].tolist(),
        "x": index[o : o + horizon].tolist(),
        "truth": truth[start].tolist(),
        "forecasts": {name: f.tolist() for name, f in methods.items()},
        "errors": {name: errors(f, truth[start]) for name, f in methods.items()},
        "pooled": {name: errors(f, truth) for name, f in pooled.items()},
    }


def forecast_summary(outcome: ForecastOutcome, season: int) -> dict[str, Any]:
    """The series, the split, and the application's own one-step NRMSE numbers."""
    series = outcome.series
    stats = outcome.model.config.normalisation
    return {
        "series": series.name,
        "description": series.source,
        "values": len(outcome.truth) + outcome.train_points,
        "train_points": outcome.train_points,
        "test_points": len(outcome.truth),
        "window": int(stats["window"]),
        "season": season,
        "x_label": "year" if series.name == "sunspots" else "time step t",
        "x_name": "year" if series.name == "sunspots" else "t",
        "nrmse": outcome.nrmse,
        "persistence_nrmse": outcome.persistence_nrmse,
        "steps": outcome.train_result.step if outcome.train_result else 0,
    }


# ----------------------------------------------------------------------------- classify


def classify_view(model: SequenceModel, text: str) -> dict[str, Any]:
    """p(class | text) for each class, most likely first kept in the classes' order, and
    how much of the text the model read (its first ``tokens`` words, unknown ones)."""
    norm = model.config.normalisation or {}
    tokens = WordVocab.tokenize(text.lower())
    if not tokens:
        raise ConfigError("the passage has no words to classify; type or pick one")
    ids, _ = encode_texts(model.vocab, [text], int(norm["tokens"]))
    probs = classify_texts(model, [text])[0]
    labels = model.config.labels
    return {
        "classes": [
            {"label": label, "p": float(p)} for label, p in zip(labels, probs, strict=True)
        ],
        "predicted": labels[int(probs.argmax())],
        "words": len(tokens),
        "read": int(ids.shape[1]),
        "unknown": int((ids[0] == model.vocab.unk_id).sum()),
    }


def classify_summary(outcome: ClassifyOutcome, examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Held-out accuracy, the majority class's rate, the confusion matrix, the unseen
    plays' votes, and passages of those plays to pick."""
    split, labels = outcome.split, outcome.labels
    counts = np.bincount(split.y_test, minlength=len(labels))
    plays = [
        {"play": play, "genre": labels[truth], "vote": outcome.group_votes.get(play)}
        for play, truth in split.group_labels.items()
    ]
    return {
        "labels": labels,
        "accuracy": outcome.accuracy,
        "majority_rate": outcome.majority_rate,
        "majority_label": labels[int(counts.argmax())],
        "test_passages": len(split.y_test),
        "train_passages": len(split.y_train),
        "test_counts": counts.tolist(),
        "confusion": outcome.confusion.tolist(),
        "plays": plays,
        "play_accuracy": outcome.group_accuracy,
        "tokens": int(outcome.model.config.normalisation["tokens"]),
        "vocab_size": len(outcome.model.vocab),
        "steps": outcome.train_result.step if outcome.train_result else 0,
        "examples": examples,
    }


def readable(passage: str) -> str:
    """A passage of tokens joined with spaces, written as text (no space before
    punctuation, line breaks as such); it splits back into the same tokens."""
    words = WordVocab.tokenize(passage)
    vocab = WordVocab.from_tokens(words, max_size=len(words) + 1)
    return vocab.decode(vocab.ids(words))


# ----------------------------------------------------------------------------- complete

#: spaces, tabs and blanks ("___", "…", "...") at the end of a prompt; line breaks stay
_TRAILING_BLANK = re.compile(r"(?:[ \t]|_|…|\.\.\.)+$")


def next_words_view(model: LanguageModel, text: str, k: int) -> dict[str, Any]:
    """The ``k`` likeliest next tokens after ``text`` with p and the text that appends
    each (None for ``<unk>``, which stands for every rarer word), and a greedy
    continuation of 8 tokens. A trailing blank ("___", "…") is dropped as ``complete``
    drops it, but not a trailing line break: the page appends line breaks too."""
    clean_prompt(text)  # a ConfigError if there are no words
    prompt = _TRAILING_BLANK.sub("", text)
    vocab = model.vocab
    ids = vocab.encode(prompt)
    last = int(ids[-1])
    head = vocab.decode([last])

    def join(word: str) -> str | None:
        return None if word == UNK else vocab.decode([last, int(vocab.ids([word])[0])])[len(head) :]

    items = [
        {"word": word, "p": p, "rank": rank, "join": join(word)}
        for rank, (word, p) in enumerate(next_distribution(model, prompt, k=k), start=1)
    ]
    return {
        "prompt": prompt,
        "tokens": len(ids),
        "unknown": int((ids == vocab.unk_id).sum()),
        "items": items,
        "greedy": continue_words(model, prompt, 8),
    }


def complete_summary(outcome: CompleteOutcome) -> dict[str, Any]:
    """Validation perplexity of the model and of the unigram model, and the data."""
    result = outcome.train_result
    return {
        "perplexity": outcome.perplexity,
        "unigram_perplexity": outcome.unigram_perplexity,
        "val_loss": outcome.val_loss,
        "unigram_loss": outcome.unigram_loss,
        "val_tokens": outcome.val_tokens,
        "train_tokens": outcome.train_tokens,
        "unk_rate": outcome.unk_rate,
        "vocab_size": len(outcome.model.vocab),
        "steps": result.step if result else 0,
        "stopped": result.stopped if result else "steps",
    }
