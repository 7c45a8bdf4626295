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

The remedies, at their default initialisation, measured the same way and drawn side by
side with the cells above (vanishing_remedies.png): the other gated cells (peephole and
layer-normalised LSTM, layer-normalised GRU), IndRNN (whose unit j carries its gradient
by u_j per step), and residual connections: a stack of ``stack_layers`` tanh RNN layers
with and without them, where ‖∂L/∂h_t‖ is that of the first layer, the farthest from
the loss in depth as well as in time.
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
from rnnlab.models.language import canonical_cell
from rnnlab.probe import (
    gradient_records,
    layer_jacobian_log_norms,
    layer_saturation,
    log_slope,
    step_norms,
)


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
    #: drawn beside the cells at their default initialisation: registered cells by name,
    #: and "residual" for a tanh RNN stack with and without residual connections
    remedies: tuple[str, ...] = (
        "lstm_peephole",
        "lstm_layer_norm",
        "gru_layer_norm",
        "indrnn_relu",
        "residual",
    )
    stack_layers: int = 4


def measure(model: Any, probe: synthetic.TaskData, sequences: int) -> dict[str, Any]:
    """Gradient norms by distance, their slope, Jacobian norms and saturation."""
    inputs, targets = served(probe, model.dtype)
    with one_blas_thread():
        return _measure(model, inputs, targets, sequences)


def _measure(model: Any, inputs: np.ndarray, targets: np.ndarray, sequences: int) -> dict:
    # the first layer's: in a stack, the gradient also crosses the layers above it
    records = [r for r in gradient_records(model, inputs, targets) if r.direction == 0]
    by_distance = step_norms(records[0].d_hidden)[::-1]  # d = T − t = 0, 1, …
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
        # ‖∂L/∂h_T‖ of each layer, the first first: how much of the loss reaches it
        "layer_gradient_norm": [float(step_norms(r.d_hidden)[-1]) for r in records],
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

    def measured(cell: str, scale: float | None, label: str, **stack: Any) -> dict[str, Any]:
        model = sequence_model(cell, 2, 1, config.hidden, config.seed, dtype="float64", **stack)
        if scale is not None:
            set_recurrent_radius(model, scale)
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
        return entry

    models = []
    for cell in config.cells:
        for scale in scales:
            label = f"ρ = {scale:g}" if scale is not None else "default init"
            models.append(measured(cell, scale, label))
    remedies = []
    for remedy in config.remedies:
        if remedy != "residual":
            remedies.append(measured(canonical_cell(remedy), None, "default init"))
            continue
        for residual in (False, True):
            label = f"{config.stack_layers} layers" + (", residual" if residual else "")
            stack = {"num_layers": config.stack_layers, "residual": residual}
            remedies.append(measured("rnn_tanh", None, label, **stack))

    results = {"experiment": "vanishing", "config": asdict(config), "models": models}
    results["remedies"] = remedies
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
    for m in results["models"] + results.get("remedies", []):
        init, trained = m["init"], m["trained"]
        saturated = max(trained["saturation"].values()) if trained["saturation"] else 0.0
        rows.append(
            [
                model_title(m),
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
    paths = [gradients, jacobians, slopes]
    remedies = results.get("remedies", [])
    if remedies:
        paths.extend(
            plot_remedies(config, [m for m in models if m["scale"] is None], remedies, out)
        )
    return paths


def plot_remedies(
    config: dict[str, Any], baselines: list[dict], remedies: list[dict], out: Path
) -> list[Path]:
    """vanishing_remedies.png: through time, every cell at its default initialisation
    (the stacks dashed); vanishing_depth.png: through depth, ‖∂L/∂h_T‖ of each layer of
    the stacks with and without residual connections."""
    from rnnlab import plots

    T, steps = config["length"], config["steps"]
    stages = (("init", "at initialisation"), ("trained", f"after {steps} steps"))
    time_panels = []
    for stage, when in stages:
        curves = []
        for k, m in enumerate(baselines + remedies):
            values = np.asarray(numbers(m[stage]["relative_gradient_norm"]), dtype=float)
            label = f"{model_title(m)} (slope {m[stage]['slope']:+.3f})"
            stacked = len(m[stage]["layer_gradient_norm"]) > 1
            colour = plots.COLOURS[k % len(plots.COLOURS)]
            curves.append(plots.Curve(np.arange(len(values)), values, label, stacked, colour))
        time_panels.append(plots.Panel(when, curves))
    paths = [
        plots.panels(
            out / "vanishing_remedies.png",
            f"The remedies through time: ‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ of the first layer, loss at "
            f"step T = {T}, default initialisation (dashed: stacks)",
            time_panels,
            "distance T − t (steps)",
            "‖∂L/∂h_t‖ / ‖∂L/∂h_T‖ (log scale)",
            columns=2,
            size=(6.0, 4.5),
            legend_outside=True,
        )
    ]
    stacks = [m for m in remedies if len(m["init"]["layer_gradient_norm"]) > 1]
    if stacks:
        depth_curves = []
        for k, m in enumerate(stacks):
            for (stage, when), dashed in zip(stages, (False, True), strict=True):
                norms = m[stage]["layer_gradient_norm"]
                layers = np.arange(1, len(norms) + 1)
                label = f"{model_title(m)}, {when}"
                colour = plots.COLOURS[k]
                depth_curves.append(plots.Curve(layers, norms, label, dashed, colour, marker="o"))
        paths.append(
            plots.panels(
                out / "vanishing_depth.png",
                "The remedy through depth: ‖∂L/∂h_T‖ of each layer (layer 1 is the farthest "
                "from the loss)",
                [plots.Panel("", depth_curves)],
                "layer",
                "‖∂L/∂h_T‖ (log scale)",
                columns=1,
                size=(7.0, 4.5),
                legend_outside=True,
            )
        )
    return paths


def model_title(m: dict[str, Any]) -> str:
    """ "LSTM (peephole), default init", "RNN (tanh), 4 layers, residual"."""
    return f"{cell_named(m['cell']).title}, {m['label']}"
