"""Forecasting a univariate series with a recurrent network: a window in, the next value out.

    z_t     = (x_t − μ) / σ                    μ, σ: mean and std of the training part only
    h_t     = cell(z_t, h_{t−1})               over the window z_{t−w+1} … z_t, from h = 0
    ẑ_{t+1} = V h_t + c                        identity output, mean squared error
    x̂_{t+1} = μ + σ ẑ_{t+1}                    back in the series' own units

The network is a ``SequenceModel`` (task "regression", input and output size 1):

- readout ``"last"`` is many-to-one: one target per window, the value after it;
- readout ``"all"`` is sequence-to-sequence: a target at every step, that step's next
  value; a forecast is the output of the window's last step.

``config.normalisation = {"mean": μ, "std": σ, "window": w}`` travels with the model, so
a checkpoint forecasts in original units from raw values.

One-step prediction forecasts each target from the ``w`` true values before it.
Closed-loop (multi-step) prediction feeds each forecast back as the newest input: the
window slides over the model's own outputs, as it must when the future is unknown.

    NRMSE(x̂, x) = sqrt(mean((x̂ − x)²)) / std(x)       over the targets x
    persistence:  x̂_{t+1} = x_t                        (tomorrow is like today)

NRMSE 1 is as good as forecasting the mean of the targets; 0 is perfect.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, DataError, ShapeError, check_positive_int
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import inference

__all__ = [
    "check_series",
    "closed_loop",
    "closed_loop_origins",
    "denormalise",
    "forecast_next",
    "make_forecaster",
    "make_windows",
    "normalise",
    "nrmse",
    "one_step",
    "persistence",
    "zscore_stats",
]

FORECAST_READOUTS = ("last", "all")


# ----------------------------------------------------------------------------- data


def check_series(values: Any, window: int, name: str = "series") -> np.ndarray:
    """``values`` as a 1-D float64 array of finite numbers longer than one window.

    A series of N values has N − w windows with a next value to predict, so it needs at
    least w + 1 values; DataError otherwise, naming both numbers."""
    window = check_positive_int("window", window)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ShapeError(f"{name} must be 1-D (one value per time step), got shape {array.shape}")
    if not np.isfinite(array).all():
        first = int(np.flatnonzero(~np.isfinite(array))[0])
        raise DataError(f"{name} has a non-finite value {array[first]} at position {first}")
    if len(array) <= window:
        raise DataError(
            f"{name} has {len(array)} values, too short for one window of {window} and a next "
            f"value; it needs at least {window + 1} (use a shorter --window or a longer series)"
        )
    return array


def zscore_stats(train: np.ndarray) -> dict[str, float]:
    """μ and σ of the training values (only those: the test part must stay unseen)."""
    train = np.asarray(train, dtype=np.float64)
    mean, std = float(train.mean()), float(train.std())
    if not std > 0:
        raise DataError(
            f"the training part of the series is constant ({mean}); there is nothing to forecast"
        )
    return {"mean": mean, "std": std}


def normalise(values: np.ndarray, stats: dict[str, float]) -> np.ndarray:
    """z = (x − μ) / σ, any shape."""
    return (np.asarray(values, dtype=np.float64) - stats["mean"]) / stats["std"]


def denormalise(z: np.ndarray, stats: dict[str, float]) -> np.ndarray:
    """x = μ + σ z, any shape."""
    return stats["mean"] + stats["std"] * np.asarray(z, dtype=np.float64)


def make_windows(
    z: np.ndarray, window: int, readout: str = "last", start: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``z`` (N,) with its target(s), sample-first for ``ArrayBatcher``.

    Window k holds z[k : k + w]; its targets are z[k + w] (readout "last") → inputs
    (N − w, w, 1), targets (N − w, 1), or z[k + 1 : k + w + 1] (readout "all") → targets
    (N − w, w, 1). With ``start``, only windows whose (last) target index is ≥ ``start``.
    """
    window = check_positive_int("window", window)
    if readout not in FORECAST_READOUTS:
        raise ConfigError(f"readout must be one of {FORECAST_READOUTS}, got {readout!r}")
    z = np.asarray(z)
    if len(z) <= window:
        raise DataError(f"{len(z)} values make no window of {window} with a next value")
    first = 0 if start is None else max(0, start - window)
    k = np.arange(first, len(z) - window)
    inputs = z[k[:, None] + np.arange(window)][..., None]
    if readout == "last":
        return inputs, z[k + window][:, None]
    return inputs, z[k[:, None] + np.arange(1, window + 1)][..., None]


# ----------------------------------------------------------------------------- metrics


def nrmse(predicted: np.ndarray, truth: np.ndarray) -> float:
    """sqrt(mean((x̂ − x)²)) / std(x): root mean squared error in units of the truth's std."""
    predicted, truth = np.asarray(predicted, np.float64), np.asarray(truth, np.float64)
    if predicted.shape != truth.shape:
        raise ShapeError(f"predicted has shape {predicted.shape} but truth {truth.shape}")
    std = truth.std()
    if not std > 0:
        raise DataError("the truth is constant, so its NRMSE is undefined (std 0)")
    return float(np.sqrt(np.mean((predicted - truth) ** 2)) / std)


def persistence(values: np.ndarray, start: int, stop: int | None = None) -> np.ndarray:
    """The persistence forecast of values[start:stop]: x̂_t = x_{t−1}."""
    if start < 1:
        raise ConfigError(f"persistence needs a previous value: start must be ≥ 1, got {start}")
    stop = len(values) if stop is None else stop
    return np.asarray(values, dtype=np.float64)[start - 1 : stop - 1]


# ----------------------------------------------------------------------------- the model


def make_forecaster(
    train: np.ndarray,
    window: int,
    cell: str = "lstm",
    hidden_size: int = 32,
    num_layers: int = 1,
    readout: str = "last",
    dtype: str = "float32",
    seed: int | np.random.Generator | None = 0,
    residual: bool = False,
) -> SequenceModel:
    """A regression ``SequenceModel`` whose config carries μ, σ of ``train`` and ``window``."""
    if readout not in FORECAST_READOUTS:
        raise ConfigError(f"readout must be one of {FORECAST_READOUTS}, got {readout!r}")
    train = check_series(train, window, "the training part")
    config = SequenceModelConfig(
        input_size=1,
        output_size=1,
        task="regression",
        readout=readout,
        cell=cell,
        hidden_size=hidden_size,
        num_layers=num_layers,
        residual=residual,
        dtype=dtype,
        normalisation={**zscore_stats(train), "window": int(window)},
    )
    return SequenceModel(config, seed=seed)


def _stats(model: SequenceModel) -> dict[str, Any]:
    stats = model.config.normalisation
    if not stats or not {"mean", "std", "window"} <= set(stats):
        raise ConfigError(
            "this model has no forecasting normalisation (config.normalisation with mean, std "
            "and window); build it with make_forecaster"
        )
    if model.config.input_size != 1 or model.config.output_size != 1:
        raise ConfigError("a forecaster takes and predicts one value per step (sizes 1 and 1)")
    return stats


def _predict_z(model: SequenceModel, windows: np.ndarray) -> np.ndarray:
    """Normalised windows (B, w) → the next normalised value of each (B,)."""
    x = np.ascontiguousarray(windows.T[..., None], dtype=model.dtype)  # (w, B, 1)
    with inference(model):
        y = model.predict(x)
    return (y[-1] if model.config.readout == "all" else y)[:, 0].astype(np.float64)


def forecast_next(model: SequenceModel, contexts: np.ndarray, batch: int = 4096) -> np.ndarray:
    """contexts (B, n ≥ w) raw values → the next raw value after each (B,), from its last w."""
    stats = _stats(model)
    window = int(stats["window"])
    contexts = np.asarray(contexts, dtype=np.float64)
    if contexts.ndim != 2 or contexts.shape[1] < window:
        raise ShapeError(f"contexts must have shape (B, n ≥ {window}), got {contexts.shape}")
    z = normalise(contexts[:, -window:], stats)
    out = [_predict_z(model, z[i : i + batch]) for i in range(0, len(z), batch)]
    return denormalise(np.concatenate(out), stats)


def one_step(
    model: SequenceModel, values: np.ndarray, start: int, stop: int | None = None
) -> np.ndarray:
    """One-step forecasts of values[start:stop], each from the w true values before it.

    values: (N,) raw → (stop − start,) raw. Needs start ≥ w."""
    window = int(_stats(model)["window"])
    values = np.asarray(values, dtype=np.float64)
    stop = len(values) if stop is None else stop
    if start < window:
        raise DataError(f"one-step forecasts from index {start} need {window} values before it")
    t = np.arange(start, stop)
    return forecast_next(model, values[t[:, None] - window + np.arange(window)])


def closed_loop(model: SequenceModel, contexts: np.ndarray, steps: int) -> np.ndarray:
    """Forecast ``steps`` values after each context, feeding every forecast back.

    contexts (B, n ≥ w) raw → (B, steps) raw; step k sees the last w values of the
    context followed by forecasts 1 … k − 1 (never a true value after the context)."""
    steps = check_positive_int("steps", steps)
    stats = _stats(model)
    window = int(stats["window"])
    contexts = np.asarray(contexts, dtype=np.float64)
    if contexts.ndim != 2 or contexts.shape[1] < window:
        raise ShapeError(f"contexts must have shape (B, n ≥ {window}), got {contexts.shape}")
    z = normalise(contexts[:, -window:], stats)
    forecasts = np.empty((len(z), steps))
    for k in range(steps):
        forecasts[:, k] = _predict_z(model, z)
        z = np.concatenate([z[:, 1:], forecasts[:, k : k + 1]], axis=1)
    return denormalise(forecasts, stats)


def closed_loop_origins(
    model: SequenceModel, values: np.ndarray, start: int, steps: int, every: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-loop forecasts from every ``every``-th origin o in [start, N − steps].

    Each run sees values[o − w : o] and forecasts values[o : o + steps].
    → (forecasts (n_origins, steps), truth (n_origins, steps)), raw units."""
    window = int(_stats(model)["window"])
    values = np.asarray(values, dtype=np.float64)
    origins = np.arange(max(start, window), len(values) - steps + 1, every)
    if not len(origins):
        raise DataError(
            f"no origin from {start} leaves {steps} values to forecast in a series of "
            f"{len(values)}; use fewer --horizon steps"
        )
    contexts = values[origins[:, None] - window + np.arange(window)]
    truth = values[origins[:, None] + np.arange(steps)]
    return closed_loop(model, contexts, steps), truth
