"""A forecasting run from plain options: split, normalise, window, train, measure.

The series is split in time: the first ``train_points`` values train, the next
``test_points`` values are the test targets (each forecast from the ``window`` values
before it, which for the first few reach back into the training part; that is the past,
so nothing is leaked). μ and σ come from the training part only. There is no model
selection: the reported model is the one after the last step.

Reported, on the test targets:
- one-step NRMSE of the network and of persistence (x̂_{t+1} = x_t);
- closed-loop NRMSE over ``horizon`` steps, from every test origin with ``horizon``
  values after it: at the last step (``closed_loop_final``, the classic "NRMSE84" of
  Mackey-Glass) and pooled over steps 1 … horizon (``closed_loop_mean``), next to
  persistence held for the whole horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.series import Series, load_series
from rnnlab.errors import ConfigError, DataError, check_positive_int
from rnnlab.models.forecast import (
    check_series,
    closed_loop_origins,
    make_forecaster,
    make_windows,
    normalise,
    nrmse,
    one_step,
    persistence,
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

#: the most steps a run may ask for: a budget, not a way to run forever (hours here)
MAX_STEPS = 1_000_000


@dataclass
class ForecastOptions:
    """Every option of a forecasting run, with the defaults of the Mackey-Glass benchmark."""

    series: str = option(
        "mackey-glass", "mackey-glass, sines, sunspots, or a CSV file (with --column)"
    )
    column: str | None = option(None, "the CSV column to forecast")
    length: int = option(5000, "points of a generated series")
    #: None: the first 80 % (4,000 of 5,000)
    train_points: int | None = option(None, "first N points train; 0: 80 %", none=0)
    #: None: every point after the training part
    test_points: int | None = option(None, "next N points test; 0: the rest", none=0)
    window: int = option(50, "values the model sees per forecast")
    readout: str = option("last", "last (many-to-one) or all (sequence-to-sequence)")
    cell: str = cell_option()
    hidden: int = hidden_option(32)
    layers: int = layers_option()
    residual: bool = residual_option()
    steps: int = option(2000, "training steps", min=1, max=MAX_STEPS)
    batch: int = option(64, "windows per step")
    lr: float = lr_option(3e-3)
    schedule: str = schedule_option("constant")
    clip: float | None = clip_option(1.0)
    horizon: int = option(84, "closed-loop steps")
    seed: int = seed_option("seed for the series, weights and order")


@dataclass
class ForecastOutcome:
    """A trained forecaster and its numbers on the test targets."""

    model: SequenceModel
    series: Series
    train_points: int
    test_index: np.ndarray  #: (n_test,) positions of the test targets in the series
    truth: np.ndarray  #: (n_test,) test targets, original units
    predicted: np.ndarray  #: (n_test,) one-step forecasts
    nrmse: float
    persistence_nrmse: float
    closed_loop: np.ndarray  #: (n_origins, horizon) forecasts from each test origin
    closed_loop_truth: np.ndarray
    closed_loop_final: float  #: NRMSE at the last step of the horizon
    closed_loop_mean: float  #: NRMSE pooled over every step of the horizon
    persistence_closed_loop_mean: float
    train_result: TrainResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def horizon(self) -> int:
        return self.closed_loop.shape[1]


def split_points(n: int, window: int, train: int | None, test: int | None) -> tuple[int, int]:
    """(train points, test points) for a series of n values; DataError if they do not fit."""
    n_train = train if train is not None else int(0.8 * n)
    n_train = check_positive_int("train_points", n_train)
    if n_train >= n:
        raise DataError(
            f"train_points {n_train} leaves nothing to test in a series of {n} values; "
            "use fewer (or 0 on the command line: the first 80 %)"
        )
    n_test = check_positive_int("test_points", test if test is not None else n - n_train)
    if n_train + n_test > n:
        raise DataError(
            f"the series has {n} values: {n_train} for training leave {n - n_train} to test, "
            f"but test_points is {n_test}"
        )
    if n_train <= window:
        raise DataError(
            f"the training part has {n_train} values, too short for one window of {window} "
            f"and a next value; it needs at least {window + 1} (use a shorter --window)"
        )
    return n_train, n_test


def run_forecast(
    options: ForecastOptions,
    out: str | Path | None = None,
    report: Callable[[dict[str, Any]], None] | None = None,
    series: Series | None = None,
) -> ForecastOutcome:
    """Train a forecaster as ``options`` say and measure it (see the module docstring).

    ``series`` overrides ``options.series`` (for data already in memory)."""
    if series is None:
        series = load_series(options.series, options.column, options.length, options.seed)
    values = check_series(series.values, options.window, f"the series {series.name!r}")
    n_train, n_test = split_points(
        len(values), options.window, options.train_points, options.test_points
    )
    horizon = check_positive_int("horizon", options.horizon)
    if horizon > n_test:
        raise ConfigError(f"horizon {horizon} is longer than the {n_test} test points")
    train = values[:n_train]
    model = make_forecaster(
        train,
        options.window,
        options.cell,
        options.hidden,
        options.layers,
        options.readout,
        seed=options.seed,
        residual=options.residual,
    )
    stats = model.config.normalisation
    inputs, targets = make_windows(normalise(train, stats), options.window, options.readout)
    notes = []
    batch = options.batch
    if len(inputs) < batch:
        notes.append(f"batch {batch} > {len(inputs)} training windows; using {len(inputs)}")
        batch = len(inputs)
    batcher = ArrayBatcher(
        inputs.astype(model.dtype),
        targets.astype(model.dtype),
        batch,
        seed=options.seed,
        per_step_targets=options.readout == "all",
    )
    config = TrainConfig(
        steps=options.steps,
        batch_size=batch,
        lr=options.lr,
        schedule=options.schedule,
        clip=options.clip,
        eval_every=options.steps,
        sample_every=0,
        checkpoint_every=options.steps,
        log_every=max(1, min(50, options.steps // 20)),
        seed=options.seed,
    )
    source = {
        "application": "forecast",
        "series": options.series,
        "column": options.column,
        "length": options.length,
        "seed": options.seed,
        "train_points": n_train,
    }
    trainer = Trainer(model, batcher, None, config, out, report=report, data_source=source)
    result = trainer.fit()
    if result.stopped == "diverged":
        raise DataError(result.message)
    return evaluate_forecaster(model, series, n_train, n_test, horizon, result, notes)


def evaluate_forecaster(
    model: SequenceModel,
    series: Series,
    n_train: int,
    n_test: int,
    horizon: int,
    train_result: TrainResult | None = None,
    notes: list[str] | None = None,
) -> ForecastOutcome:
    """One-step and closed-loop NRMSE of ``model`` on values[n_train : n_train + n_test]."""
    values = series.values[: n_train + n_test]
    predicted = one_step(model, values, n_train)
    truth = values[n_train:]
    forecasts, loop_truth = closed_loop_origins(model, values, n_train, horizon)
    held = np.repeat(values[n_train - 1 : len(values) - horizon][:, None], horizon, axis=1)
    return ForecastOutcome(
        model=model,
        series=series,
        train_points=n_train,
        test_index=np.arange(n_train, n_train + n_test),
        truth=truth,
        predicted=predicted,
        nrmse=nrmse(predicted, truth),
        persistence_nrmse=nrmse(persistence(values, n_train), truth),
        closed_loop=forecasts,
        closed_loop_truth=loop_truth,
        closed_loop_final=nrmse(forecasts[:, -1], loop_truth[:, -1]),
        closed_loop_mean=nrmse(forecasts, loop_truth),
        persistence_closed_loop_mean=nrmse(held, loop_truth),
        train_result=train_result,
        notes=notes or [],
    )
