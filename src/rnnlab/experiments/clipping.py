"""Exploding gradients and gradient-norm clipping (Pascanu, Mikolov & Bengio 2013).

A tanh RNN whose recurrent weights have spectral radius ρ > 1 is in the chaotic regime:
‖∂L/∂h_t‖ grows exponentially with the distance T − t (see the ``vanishing``
experiment), so the gradient of a loss on long sequences is huge and plain SGD steps
along it throw the weights far away. The same model, data and learning rate are trained
twice, without clipping and with the gradient rescaled to norm at most ``clip``
(g ← g · clip / ‖g‖ when ‖g‖ > clip). Without, the loss blows up (or becomes NaN, which
stops the run); with, it trains.

Task (default): one-step-ahead prediction of sine waves of random period, phase and
amplitude from T = 50 steps (``rnnlab.data.synthetic.sine_waves``), loss at the last
step; a task a tanh RNN can learn, so "it trains" is visible as a test MSE well below
both simple predictors: always 0 (E[s²] ≈ 0.29) and repeating the last input (≈ 0.058).
``task="adding"`` uses the adding problem instead (baseline 1/6; at T = 50 a tanh RNN
reaches the baseline at best). A run "blew up" when its training loss became
non-finite or exceeded ``blowup`` × the always-0 (sine) or always-1 (adding) MSE.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data import synthetic
from rnnlab.errors import ConfigError
from rnnlab.experiments.common import (
    TEST_SEED,
    Run,
    TaskStream,
    fmt,
    numbers,
    predict,
    print_table,
    sequence_model,
    set_recurrent_radius,
    train_config,
    train_run,
    write_json,
)


@dataclass
class ClippingConfig:
    """Options of ``rnnlab experiment clipping``."""

    cells: tuple[str, ...] = ("rnn_tanh",)
    task: str = "sine"  #: "sine" or "adding"
    radius: float = 2.0  #: spectral radius of W_hh at initialisation
    length: int = 50
    hidden: int = 64
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.03
    clip: float | None = 1.0  #: the clipped run's maximum gradient norm
    steps: int = 1500
    eval_every: int = 100
    blowup: float = 100.0
    seed: int = 0


def blew_up(run: Run, limit: float) -> bool:
    """Non-finite training loss, or a loss above ``limit``."""
    return run.stopped == "diverged" or any(
        not math.isfinite(loss) or loss > limit for loss in run.train_loss
    )


def _task(name: str, length: int) -> Any:
    """make(n, rng) → TaskData of the named task with ``length`` steps."""
    if name == "sine":
        return lambda n, rng: synthetic.sine_waves(n, length, seed=rng)
    if name == "adding":
        return lambda n, rng: synthetic.adding(n, length, seed=rng)
    raise ConfigError(f"task must be 'sine' or 'adding', got {name!r}")


def _references(name: str, test: synthetic.TaskData) -> list[tuple[float, str]]:
    """The MSEs of the simple predictors on ``test``, as (value, label) lines."""
    y = test.targets.astype(np.float64)
    if name == "adding":
        return [(float(np.mean((y - 1) ** 2)), "always 1 (≈ 1/6)")]
    last = test.inputs[:, -1].astype(np.float64)
    return [
        (float(np.mean(y**2)), "always 0"),
        (float(np.mean((y - last) ** 2)), "repeat the last input"),
    ]


def _nan_stat(function: Any, values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(function(finite)) if finite else math.nan


def run_clipping(config: ClippingConfig, out: Path) -> dict[str, Any]:
    """Train each cell without and with clipping; write clipping.json and clipping.png."""
    T = config.length
    make = _task(config.task, T)
    test = make(1000, np.random.default_rng(TEST_SEED))
    references = _references(config.task, test)
    limit = config.blowup * references[0][0]

    def evaluate(model: Any) -> dict[str, float]:
        return {"test_mse": float(np.mean((predict(model, test) - test.targets) ** 2))}

    runs: list[Run] = []
    for cell in config.cells:
        for clip in (None, config.clip):
            model = sequence_model(cell, test.inputs.shape[-1], 1, config.hidden, config.seed)
            set_recurrent_radius(model, config.radius)
            label = f"{cell}, " + ("no clipping" if clip is None else f"clipped at {clip:g}")
            train = train_config(
                config.steps,
                config.batch_size,
                config.lr,
                clip,
                config.seed,
                config.eval_every,
                optimizer=config.optimizer,
                log_every=1,
            )
            stream = TaskStream(make, config.batch_size, config.seed)
            with np.errstate(over="ignore", invalid="ignore"):  # the unclipped run overflows
                run = train_run(Run(label, cell, config.seed), model, stream, evaluate, train)
            runs.append(run)

    summary = [
        {
            "label": run.label,
            "clipped": "clipped" in run.label,
            "blew_up": blew_up(run, limit),
            "stopped": run.stopped,
            "steps_done": run.train_steps[-1] if run.train_steps else 0,
            "first_loss": run.train_loss[0] if run.train_loss else math.nan,
            "max_loss": _nan_stat(np.max, run.train_loss),
            "final_loss": run.train_loss[-1] if run.train_loss else math.nan,
            "final_test_mse": run.final("test_mse"),
            "median_grad_norm": _nan_stat(np.nanmedian, run.grad_norm),
            "max_grad_norm": _nan_stat(np.nanmax, run.grad_norm),
        }
        for run in runs
    ]
    results = {
        "experiment": "clipping",
        "config": asdict(config),
        "reference_mse": {label: value for value, label in references},
        "blowup_limit": limit,
        "summary": summary,
        "runs": [run.to_json() for run in runs],
    }
    results["plots"] = [p.name for p in plot_clipping(results, out)]
    write_json(out / "clipping.json", results)
    table_clipping(results)
    return results


def plot_clipping(results: dict[str, Any], out: Path) -> list[Path]:
    """clipping.png from the results (as in clipping.json)."""
    from rnnlab import plots

    config, runs = results["config"], results["runs"]
    references = [(value, label) for label, value in results["reference_mse"].items()]
    clip = config["clip"]

    def curves(x: str, y: str, metric: str | None = None) -> list[plots.Curve]:
        return [
            plots.Curve(r[x], numbers(r[y][metric] if metric else r[y]), r["label"]) for r in runs
        ]

    png = plots.panels(
        out / "clipping.png",
        f"Exploding gradients: tanh RNN, W_hh spectral radius {config['radius']:g}, "
        f"{config['task']} task, T = {config['length']}, "
        f"{config['optimizer'].upper()} lr {config['lr']:g}",
        [
            plots.Panel(
                "training loss",
                curves("train_steps", "train_loss"),
                references,
                ylabel="training loss (MSE, log scale)",
            ),
            plots.Panel(
                "test MSE",
                curves("eval_steps", "metrics", "test_mse"),
                references,
                ylabel="test MSE (log scale)",
            ),
            plots.Panel(
                "gradient norm before clipping",
                curves("train_steps", "grad_norm"),
                [(clip, f"clip {clip:g}")] if clip else [],
                ylabel="‖∂L/∂θ‖ (log scale)",
            ),
        ],
        "training step",
        "",
        sharey=False,
    )
    return [png]


def table_clipping(results: dict[str, Any]) -> None:
    """The summary table of the results."""
    config = results["config"]
    summary = [
        {k: numbers(v) if k != "label" else v for k, v in s.items()} for s in results["summary"]
    ]
    print_table(
        f"exploding gradients: tanh RNN, radius {config['radius']:g}, {config['task']}, "
        f"T = {config['length']} (blow-up: loss NaN or > {results['blowup_limit']:.3g}; "
        + ", ".join(
            f"{label}: MSE {value:.3f}" for label, value in results["reference_mse"].items()
        )
        + ")",
        [
            "run",
            "blew up",
            "stopped",
            "steps",
            "first loss",
            "max loss",
            "final loss",
            "test MSE",
            "median ‖g‖",
        ],
        [
            [
                s["label"],
                "yes" if s["blew_up"] else "no",
                s["stopped"],
                str(s["steps_done"]),
                fmt(s["first_loss"]),
                fmt(s["max_loss"]),
                fmt(s["final_loss"]),
                fmt(s["final_test_mse"]),
                fmt(s["median_grad_norm"]),
            ]
            for s in summary
        ],
    )
