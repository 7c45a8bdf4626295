"""The adding problem (Arjovsky et al. 2016 variant): can the network carry two values
across T steps?

Each step gives (value ~ U[0, 1], marker); one marker lies in each half of the sequence
and the target, read from the last hidden state, is the sum of the two marked values.
A model that remembers nothing does best by always answering E[sum] = 1, for a mean
squared error of Var(U1 + U2) = 1/6 ≈ 0.167: the baseline line. Training: batches of
fresh sequences, Adam, gradient-norm clipping; test: 2,000 fixed sequences.

Published behaviour (what the command checks, with the defaults): at T = 50 an LSTM-64
(forget bias 1) gets below 0.05 within 3,000 steps and below 0.01 within 4,000, a
GRU-64 below 0.01 within 2,000; a tanh RNN-64 at T = 100 stays on the baseline.
IndRNN runs as Li et al. (2018) train it for this task: |u| ≤ 2^(1/T) after every update
(``--recurrent-max`` sets another bound, 0 none).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.cells import cell_named
from rnnlab.data import synthetic
from rnnlab.experiments.common import (
    TEST_SEED,
    Run,
    TaskStream,
    fmt,
    predict,
    print_table,
    sequence_model,
    train_config,
    train_run,
    write_json,
)

THRESHOLDS = (0.05, 0.01)


@dataclass
class AddingConfig:
    """Options of ``rnnlab experiment adding`` (the defaults are the published setup)."""

    cells: tuple[str, ...] = ("lstm", "gru", "rnn_tanh")
    length: int = 50
    hidden: int = 64
    batch_size: int = 64
    lr: float = 1e-3
    clip: float | None = 1.0
    steps: int = 4000
    eval_every: int = 100
    test_size: int = 2000
    seed: int = 0
    repeats: int = 1  #: seeds seed, seed + 1, …
    layers: int = 1  #: stacked recurrent layers (Li et al. 2018 stack two IndRNNs)
    #: IndRNN's bound on |u|: None for Li et al.'s 2^(1/T), 0 for none
    recurrent_max: float | None = None


def indrnn_bound(config: AddingConfig) -> float | None:
    """IndRNN's |u| bound of a run: Li et al.'s 2^(1/T) unless the config says otherwise
    (0: none)."""
    if config.recurrent_max is None:
        return 2 ** (1 / config.length)
    return config.recurrent_max or None


def run_adding(config: AddingConfig, out: Path) -> dict[str, Any]:
    """Train every cell (× repeats); write adding.json and adding.png into ``out``."""
    T = config.length
    test = synthetic.adding(config.test_size, T, seed=TEST_SEED)

    def evaluate(model: Any) -> dict[str, float]:
        prediction = predict(model, test)
        return {"test_mse": float(np.mean((prediction - test.targets) ** 2))}

    def make(n: int, rng: np.random.Generator) -> synthetic.TaskData:
        return synthetic.adding(n, T, seed=rng)

    runs: list[Run] = []
    for cell in config.cells:
        for seed in range(config.seed, config.seed + config.repeats):
            bound = indrnn_bound(config) if cell_named(cell).layer == "IndRNN" else None
            model = sequence_model(
                cell, 2, 1, config.hidden, seed, num_layers=config.layers, recurrent_max=bound
            )
            stream = TaskStream(make, config.batch_size, seed)
            size = f"{config.layers}×{config.hidden}" if config.layers > 1 else str(config.hidden)
            run = Run(f"{cell}-{size} seed {seed}", cell, seed)
            train = train_config(
                config.steps, config.batch_size, config.lr, config.clip, seed, config.eval_every
            )
            runs.append(train_run(run, model, stream, evaluate, train))

    summary = [
        {
            "label": run.label,
            "cell": run.cell,
            "seed": run.seed,
            "final_test_mse": run.final("test_mse"),
            "best_test_mse": float(np.nanmin(run.metrics["test_mse"])),
            **{f"first_step_below_{t}": run.first_step_below("test_mse", t) for t in THRESHOLDS},
            "stopped": run.stopped,
            "seconds": round(run.seconds, 1),
        }
        for run in runs
    ]
    results = {
        "experiment": "adding",
        "config": asdict(config),
        "baseline_mse": float(np.mean((1.0 - test.targets) ** 2)),
        "baseline_mse_theory": synthetic.ADDING_BASELINE_MSE,
        "summary": summary,
        "runs": [run.to_json() for run in runs],
    }
    results["plots"] = [p.name for p in plot_adding(results, out)]
    write_json(out / "adding.json", results)
    table_adding(results)
    return results


def plot_adding(results: dict[str, Any], out: Path) -> list[Path]:
    """adding.png from the results (as written to adding.json)."""
    from rnnlab import plots

    config, baseline = results["config"], results["baseline_mse"]
    curves = plots.by_group(
        [
            (r["cell"], r["seed"] - config["seed"], r["eval_steps"], r["metrics"]["test_mse"],
             r["label"])
            for r in results["runs"]
        ]
    )  # fmt: skip
    png = plots.learning_curves(
        out / "adding.png",
        f"Adding problem, T = {config['length']}: test MSE on {config['test_size']} fixed "
        "sequences",
        curves,
        "test MSE (log scale)",
        baseline=(baseline, f"baseline: always 1 ({baseline:.3f})"),
        thresholds=[(t, f"threshold {t}") for t in THRESHOLDS],
    )
    return [png]


def table_adding(results: dict[str, Any]) -> None:
    """The summary table of the results."""
    print_table(
        f"adding problem, T = {results['config']['length']} "
        f"(baseline MSE {results['baseline_mse']:.4f} ≈ 1/6)",
        ["run", "final MSE", "best MSE", "step < 0.05", "step < 0.01", "stopped", "seconds"],
        [
            [
                s["label"],
                fmt(s["final_test_mse"]),
                fmt(s["best_test_mse"]),
                fmt(s["first_step_below_0.05"]),
                fmt(s["first_step_below_0.01"]),
                s["stopped"],
                f"{s['seconds']:.0f}",
            ]
            for s in results["summary"]
        ],
    )
