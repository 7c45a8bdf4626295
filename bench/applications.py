"""The applications' full-size runs, one after another: the numbers of
bench/results/applications.md.

    OPENBLAS_NUM_THREADS=1 python bench/applications.py [--only forecast,digits,genre,words]

Each finished run is appended to bench/results/applications.jsonl as one JSON line, so a
long session can be stopped and resumed with ``--only``. Every run uses the same code
as the commands (``rnnlab forecast train``, ``rnnlab classify train``,
``rnnlab complete train``) with the options printed next to its numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "applications.jsonl"


def record(kind: str, options: object, numbers: dict, started: float) -> None:
    line = {
        "kind": kind,
        "options": asdict(options),
        **numbers,
        "seconds": round(time.perf_counter() - started, 1),
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
    }
    print(json.dumps(line), flush=True)
    with open(RESULTS, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")


def forecast() -> None:
    from rnnlab.applications.forecasting import ForecastOptions, run_forecast
    from rnnlab.applications.plots import plot_forecast

    runs = [
        ForecastOptions(cell="lstm"),
        ForecastOptions(cell="gru"),
        ForecastOptions(cell="lstm", readout="all"),
        ForecastOptions(cell="gru", readout="all"),
        ForecastOptions(series="sines", cell="lstm", horizon=50),
        ForecastOptions(
            series="sunspots",
            window=20,
            train_points=None,
            test_points=None,
            horizon=11,
            steps=1000,
            batch=32,
        ),
    ]
    for options in runs:
        started = time.perf_counter()
        outcome = run_forecast(options)
        name = f"{options.series}-{options.cell}-{options.readout}"
        plot_forecast(outcome, Path(__file__).parent / "results" / f"forecast-{name}.png")
        numbers = {
            "nrmse": outcome.nrmse,
            "persistence_nrmse": outcome.persistence_nrmse,
            "closed_loop_final": outcome.closed_loop_final,
            "closed_loop_mean": outcome.closed_loop_mean,
            "persistence_closed_loop_mean": outcome.persistence_closed_loop_mean,
        }
        record("forecast", options, numbers, started)


def digits() -> None:
    from rnnlab.applications.classification import ClassifyOptions, run_classify

    runs = [
        ClassifyOptions(data="digits-rows", cell=cell, seed=seed)
        for seed in range(5)
        for cell in ("lstm", "gru", "rnn_tanh")
    ]
    runs += [ClassifyOptions(data="digits-pixels", cell="lstm", seed=seed) for seed in range(10)]
    for options in runs:
        started = time.perf_counter()
        outcome = run_classify(options)
        numbers = {"accuracy": outcome.accuracy, "majority_rate": outcome.majority_rate}
        record("classify", options, numbers, started)


def genre() -> None:
    from rnnlab.applications.classification import ClassifyOptions, run_classify

    runs = [ClassifyOptions(data="genre", split_seed=s) for s in range(3)]
    runs.append(ClassifyOptions(data="genre", others="exclude"))
    for options in runs:
        started = time.perf_counter()
        outcome = run_classify(options)
        numbers = {
            "accuracy": outcome.accuracy,
            "majority_rate": outcome.majority_rate,
            "plays_right": outcome.group_accuracy,
            "votes": outcome.group_votes,
            "confusion": outcome.confusion.tolist(),
        }
        record("classify", options, numbers, started)


def genre_bag_of_words() -> None:
    """A stronger baseline than the majority class: multinomial naive Bayes on the word
    counts of the very same passages and split (order ignored)."""
    import numpy as np
    from sklearn.naive_bayes import MultinomialNB

    from rnnlab.applications.classification import ClassifyOptions, load_split

    for split_seed in range(3):
        options = ClassifyOptions(data="genre", split_seed=split_seed)
        started = time.perf_counter()
        split = load_split(options)
        V = len(split.vocab)
        train = np.stack([np.bincount(row, minlength=V) for row in split.x_train])
        test = np.stack([np.bincount(row, minlength=V) for row in split.x_test])
        model = MultinomialNB().fit(train, split.y_train)
        accuracy = float((model.predict(test) == split.y_test).mean())
        record("bag-of-words", options, {"accuracy": accuracy}, started)


def words() -> None:
    from rnnlab.applications.completion import CompleteOptions, complete, run_complete

    options = CompleteOptions()
    started = time.perf_counter()
    outcome = run_complete(options, out=Path("runs/bench-words"))
    completion = complete(outcome.model, "To be, or not to ___", k=5)
    numbers = {
        "perplexity": outcome.perplexity,
        "unigram_perplexity": outcome.unigram_perplexity,
        "val_tokens": outcome.val_tokens,
        "unk_rate": outcome.unk_rate,
        "top": completion.top,
        "greedy": completion.greedy,
    }
    record("complete", options, numbers, started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="forecast,digits,genre,words")
    for name in parser.parse_args().only.split(","):
        runs = {"forecast": forecast, "digits": digits, "genre": genre, "words": words}
        runs["bag-of-words"] = genre_bag_of_words
        runs[name]()


if __name__ == "__main__":
    main()
