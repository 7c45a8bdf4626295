"""Vanishing and exploding gradients, measured: ‖∂L/∂h_t‖ against the distance T − t.

For each cell (tanh RNN, LSTM with forget bias 1, GRU) and each recurrent-weight scale
(PyTorch's default initialisation, and the same weights rescaled so that every H×H block
of W_hh has spectral radius ρ), on a batch of adding-problem sequences of length T with
the loss on the last output only:

- ‖∂L/∂h_t‖ for t = T … 1 (averaged over the batch), relative to ‖∂L/∂h_T‖, and the
  least-squares slope of its logarithm against the distance: the error signal shrinks
  (or grows) by a factor e^slope per step back in time;
- ‖∂s_T/∂s_t‖₂, the spectral norm of the product of the per-step Jacobians (the
  geometric mean over a few sequences), which bounds how much of any signal survives;
- the fraction of saturated gates and activations (``rnnlab.probe.saturation``);

once at initialisation and once after ``steps`` steps of training on the adding problem
(Adam, clipping at 1 so that the ρ > 1 models can train at all; the ``clipping``
experiment shows what happens without). Everything runs in float64: at ρ = 0.5 the
norms fall below float32's range within 100 steps.
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
    numbers,
    one_blas_thread,
    predict,
    print_table,
    sequence_model,
    served,
    set_recurrent_radius,
    spectral_radius,
    train_config,
    train_run,
    write_json,
)
from rnnlab.probe import gradient_norms, layer_jacobian_log_norms, layer_saturation, log_slope


@dataclass
class VanishingConfig:
    """Options of ``rnnlab experiment vanishing``."""

    cells: tuple[str, ...] = ("rnn_tanh", "lstm", "gru")
    scales: tuple[float, ...] = (0.5, 0.9, 1.5, 3.0)  #: spectral radii of W_hh blocks
    default_init: bool = True  #: also the unscaled default initialisation
    length: int = 100
    hidden: int = 64
    batch_size: int = 32
    lr: float = 1e-3
    clip: float | None = 1.0
    steps: int = 1000
    jacobian_sequences: int = 4
    seed: int = 0


def measure(model: Any, probe: synthetic.TaskData, sequences: int) -> dict[str, Any]:
    """Gradient norms by distance, their slope, Jacobian norms and saturation."""
    inputs, targets = served(probe, model.dtype)
    with one_blas_thread():
        return _measure(model, inputs, targets, sequences)


def _measure(model: Any, inputs: np.ndarray, targets: np.ndarray, sequences: int) -> dict:
    by_distance = gradient_norms(model, inputs, targets)[::-1]  # d = T − t = 0, 1, …
    relative = by_distance / by_distance[0]
    jacobian = layer_jacobian_log_norms(model.rnn, inputs[:, :sequences]).mean(axis=1)
    stats = layer_saturation(model.rnn, inputs)[0]
    return {
        "gradient_norm": by_distance,
        "relative_gradient_norm": relative,
        "slope": log_slope(by_distance),
        "jacobian_norm": np.exp(jacobian),
        "jacobian_slope": float(np.polyfit(np.arange(len(jacobian)), jacobian, 1)[0]),
        "saturation": {name: float(values.mean()) for name, values in stats.items()},
    }


def run_vanishing(config: VanishingConfig, out: Path) -> dict[str, Any]:
    """Measure every (cell, scale) at init and after training; write vanishing.json and
    vanishing_gradients.png, vanishing_jacobians.png, vanishing_slopes.png."""
    T = config.length
    probe = synthetic.adding(config.batch_size, T, seed=TEST_SEED)
    test = synthetic.adding(500, T, seed=TEST_SEED + 1)
    scales: list[float | None] = ([None] if config.default_init else []) + list(config.scales)

    def evaluate(model: Any) -> dict[str, float]:
        return {"test_mse": float(np.mean((predict(model, test) - test.targets) ** 2))}

    def make(n: int, rng: np.random.Generator) -> synthetic.TaskData:
        return synthetic.adding(n, T, seed=rng)

    models = []
    for cell in config.cells:
        for scale in scales:
            model = sequence_model(cell, 2, 1, config.hidden, config.seed, dtype="float64")
            if scale is not None:
                set_recurrent_radius(model, scale)
            label = f"ρ = {scale:g}" if scale is not None else "default init"
            entry: dict[str, Any] = {
                "cell": cell,
                "scale": scale,
                "label": label,
                "radius": spectral_radius(model),
                "init": measure(model, probe, config.jacobian_sequences),
            }
            run = Run(f"{cell} {label}", cell, config.seed)
            train = train_config(
                config.steps, config.batch_size, config.lr, config.clip, config.seed, 100
            )
            stream = TaskStream(make, config.batch_size, config.seed, model.dtype)
            train_run(run, model, stream, evaluate, train)
            entry["trained"] = measure(model, probe, config.jacobian_sequences)
            entry["trained"]["test_mse"] = run.final("test_mse")
            entry["trained"]["stopped"] = run.stopped
            entry["run"] = run.to_json()
            models.append(entry)

    results = {"experiment": "vanishing", "config": asdict(config), "models": models}
    results["plots"] = [p.name for p in plot_vanishing(results, out)]
    write_json(out / "vanishing.json", results)
    table_vanishing(results)
    return results


def fit_r2(norms: Any) -> float:
    """R² of the straight line through ln norms against distance (1: exactly
    exponential decay or growth)."""
    values = np.log(np.asarray(numbers(norms), dtype=float))
    distance = np.arange(len(values))
    keep = np.isfinite(values)
    values, distance = values[keep], distance[keep]
    if len(values) < 3 or np.ptp(values) == 0:
        return float("nan")
    residual = values - np.polyval(np.polyfit(distance, values, 1), distance)
    return float(1 - np.sum(residual**2) / np.sum((values - values.mean()) ** 2))


def table_vanishing(results: dict[str, Any]) -> None:
    """The summary table of the results."""
    config = results["config"]
    d = min(50, config["length"] - 1)
    rows = []
    for m in results["models"]:
        init, trained = m["init"], m["trained"]
        saturated = max(trained["saturation"].values()) if trained["saturation"] else 0.0
        rows.append(
            [
                f"{cell_named(m['cell']).title}, {m['label']}",
                f"{m['radius']:.2f}",
                f"{init['slope']:+.3f}",
                f"{fit_r2(init['gradient_norm']):.3f}",
                f"{np.exp(init['slope']):.3f}",
                fmt(numbers(init["relative_gradient_norm"][d]), 3),
                f"{trained['slope']:+.3f}",
                fmt(numbers(trained["relative_gradient_norm"][d]), 3),
                f"{saturated:.0%}",
                fmt(numbers(trained["test_mse"])),
            ]
        )
    print_table(
        f"‖∂L/∂h_t‖ against distance T − t (T = {config['length']}; slope of ln per step; "
        f"trained {config['steps']} steps on the adding problem)",
        [
            "model",
            "radius",
            "slope, init",
            "R², init",
            "factor/step",
            f"ratio at {d}, init",
            "slope, trained",
            f"ratio at {d}, trained",
            "most saturated",
            "test MSE",
        ],
        rows,
    )


def plot_vanishing(results: dict[str, Any], out: Path) -> list[Path]:
    """vanishing_gradients.png, vanishing_jacobians.png and vanishing_slopes.png from the
    results (as in vanishing.json)."""
    from rnnlab import plots

    config, models = results["config"], results["models"]
    cells = list(dict.fromkeys(m["cell"] for m in models))

    def grid(key: str) -> list[plots.Panel]:
        panels = []
        for stage in ("init", "trained"):
            for cell in cells:
                curves = []
                for m in models:
                    if m["cell"] != cell:
                        continue
                    values = np.asarray(numbers(m[stage][key]), dtype=float)
                    label = m["label"]
                    if key == "relative_gradient_norm":
                        label += f" (slope {m[stage]['slope']:+.3f})"
                    curves.append(plots.Curve(np.arange(len(values)), values, label))
                when = "at initialisation" if stage == "init" else f"after {config['steps']} steps"
                panels.append(plots.Panel(f"{cell_named(cell).title}, {when}", curves))
        return panels

    T = config["length"]
    gradients = plots.panels(
        out / "vanishing_gradients.png",
        f"How far back the error reaches: ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖, loss at step T = {T} "
        "(adding problem)",
        grid("relative_gradient_norm"),
        "distance T − t (steps)",
        "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)",
        columns=len(cells),
    )
    jacobians = plots.panels(
        out / "vanishing_jacobians.png",
        f"Spectral norm of the Jacobian product ‖∂s_T/∂s_t‖₂ (T = {T}; s = h, or (h, c) for "
        "the LSTM)",
        grid("jacobian_norm"),
        "distance T − t (steps)",
        "‖∂s_T/∂s_t‖₂ (log scale)",
        columns=len(cells),
    )
    slope_curves = []
    for k, cell in enumerate(cells):
        scaled = [m for m in models if m["cell"] == cell and m["scale"] is not None]
        for stage, dashed in (("init", False), ("trained", True)):
            slope_curves.append(
                plots.Curve(
                    [m["scale"] for m in scaled],
                    [m[stage]["slope"] for m in scaled],
                    f"{cell_named(cell).title}, {'init' if stage == 'init' else 'trained'}",
                    dashed=dashed,
                    colour=plots.COLOURS[k],
                    marker="o",
                )
            )
    slopes = plots.panels(
        out / "vanishing_slopes.png",
        "Growth rate of ‖∂L/∂h_t‖ per step back in time",
        [plots.Panel("", slope_curves, [(0.0, "no decay")])],
        "spectral radius ρ of the W_hh blocks",
        "slope of ln ‖∂L/∂h_t‖ per step",
        logy=False,
        columns=1,
        size=(7.0, 4.5),
        legend_outside=True,
    )
    return [gradients, jacobians, slopes]
