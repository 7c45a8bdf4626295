"""PNG plots of the applications' results (matplotlib, imported only when a plot is drawn).

Every function writes one PNG atomically (a temporary file, then a rename) and returns
its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError
from rnnlab.files import write_atomically


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError(
            'plots need matplotlib: pip install "rnnlab[plot]" (or pass no --plot)'
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"plots are PNG files: the path must end in .png, got {path}")
    try:
        write_atomically(
            path, lambda handle: figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        )
    finally:
        figure.clf()
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


def plot_forecast(outcome: Any, path: str | Path, span: int = 300) -> Path:
    """Two panels: one-step forecasts against the truth over the first ``span`` test
    points, and a closed-loop run from the first test origin against the truth."""
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5))
    index = outcome.series.index[outcome.test_index][:span]
    n = len(index)
    top.plot(index, outcome.truth[:n], color="black", lw=1.4, label="truth")
    top.plot(
        index,
        outcome.predicted[:n],
        color="tab:orange",
        lw=1.1,
        ls="--",
        label=f"one-step forecast (NRMSE {outcome.nrmse:.4f})",
    )
    top.set_title(
        f"{outcome.series.name}: one step ahead (persistence NRMSE {outcome.persistence_nrmse:.4f})"
    )
    top.legend(loc="upper right", fontsize=8)
    window = int(outcome.model.config.normalisation["window"])
    start = outcome.train_points
    values = outcome.series.values
    horizon = outcome.horizon
    context = np.arange(start - window, start)
    future = np.arange(start - 1, start + horizon)  # joined to the context's last value
    idx = outcome.series.index
    bottom.plot(idx[context], values[context], color="gray", lw=1.2, label="context")
    bottom.plot(idx[future], values[future], color="black", lw=1.4, label="truth")
    bottom.plot(
        idx[future],
        np.concatenate([[values[start - 1]], outcome.closed_loop[0]]),
        color="tab:blue",
        lw=1.3,
        ls="--",
        label="closed-loop forecast",
    )
    bottom.axvline(idx[start - 1], color="gray", lw=0.8, ls=":")
    bottom.set_title(
        f"closed loop, {horizon} steps fed back (NRMSE at step {horizon}: "
        f"{outcome.closed_loop_final:.3f}, over all steps {outcome.closed_loop_mean:.3f})"
    )
    bottom.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_continuation(
    index: np.ndarray, values: np.ndarray, forecasts: np.ndarray, path: str | Path, title: str
) -> Path:
    """The end of a series and its closed-loop continuation."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(10, 3.5))
    axis.plot(index, values, color="black", lw=1.3, label="series")
    step = index[-1] - index[-2] if len(index) > 1 else 1
    ahead = index[-1] + step * np.arange(1, len(forecasts) + 1)
    axis.plot(ahead, forecasts, color="tab:blue", lw=1.3, ls="--", label="forecast")
    axis.set_title(title)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return _save(figure, path)


def plot_confusion(matrix: np.ndarray, labels: list[str], path: str | Path, title: str) -> Path:
    """A confusion matrix (rows: true class, columns: predicted), with counts."""
    plt = _pyplot()
    k = len(labels)
    figure, axis = plt.subplots(figsize=(1.0 + 0.6 * k, 0.8 + 0.6 * k))
    axis.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            colour = "white" if matrix[i, j] > matrix.max() / 2 else "black"
            axis.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour, fontsize=8)
    axis.set_xticks(range(k), labels, rotation=45, ha="right")
    axis.set_yticks(range(k), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    return _save(figure, path)
