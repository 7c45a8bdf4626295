"""PNG plots of the experiments: learning curves and quantities against distance in time.

matplotlib is imported inside the functions (Agg backend, no display needed), so
importing rnnlab never needs it; it comes with ``pip install "rnnlab[plot]"``. Every
figure has a title, labelled axes and a legend, and is written atomically (a temporary
file, then a rename).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError
from rnnlab.files import write_atomically

#: one colour per curve within a panel, in order (colour-blind safe: Okabe & Ito)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
#: reference lines: grey, told apart by their dashes
REFERENCE_STYLES = (":", "-.", (0, (5, 5)), (0, (1, 4)))


@dataclass
class Curve:
    """One line: x and y values, a label, and optionally a dashed style."""

    x: Sequence[float]
    y: Sequence[float]
    label: str
    dashed: bool = False
    colour: str | None = None
    linestyle: Any = None  #: any matplotlib line style; overrides ``dashed``
    marker: str | None = None  #: e.g. "o" to show the points of a short curve


@dataclass
class Panel:
    """One set of axes: its curves, a title and horizontal reference lines."""

    title: str
    curves: list[Curve]
    hlines: list[tuple[float, str]] = field(default_factory=list)  #: (y, label)
    ylabel: str | None = None  #: instead of the figure's
    logy: bool | None = None  #: instead of the figure's


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:
        raise ConfigError(
            'plots need matplotlib: pip install "rnnlab[plot]" (or matplotlib)'
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> Path:
    return write_atomically(
        path, lambda handle: figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
    )


def panels(
    path: str | Path,
    title: str,
    content: Sequence[Panel],
    xlabel: str,
    ylabel: str,
    logy: bool = True,
    columns: int | None = None,
    sharey: bool = True,
    size: tuple[float, float] = (5.0, 3.9),
    legend_outside: bool = False,
) -> Path:
    """Panels side by side (``columns`` per row), each a set of curves; → the PNG path.

    ``size`` is one panel's (width, height) in inches; ``legend_outside`` puts each
    legend to the right of its panel. Non-finite and (on a log axis) non-positive values
    are left out of each curve.
    """
    plt = _pyplot()
    count = len(content)
    if count == 0:
        raise ConfigError("nothing to plot: no panels")
    columns = columns or min(count, 3)
    rows = -(-count // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(size[0] * columns, size[1] * rows), sharey=sharey, squeeze=False
    )
    for index, (ax, panel) in enumerate(zip(axes.flat, content, strict=False)):
        log_axis = logy if panel.logy is None else panel.logy
        for k, curve in enumerate(panel.curves):
            x, y = np.asarray(curve.x, dtype=float), np.asarray(curve.y, dtype=float)
            keep = np.isfinite(y) & ((y > 0) if log_axis else True)
            ax.plot(
                x[keep],
                y[keep],
                linestyle=curve.linestyle or ("--" if curve.dashed else "-"),
                color=curve.colour or COLOURS[k % len(COLOURS)],
                label=curve.label,
                linewidth=1.6,
                marker=curve.marker,
            )
        for k, (y, label) in enumerate(panel.hlines):
            style = REFERENCE_STYLES[k % len(REFERENCE_STYLES)]
            ax.axhline(y, color="dimgrey", linestyle=style, linewidth=1.3, label=label)
        if log_axis:
            ax.set_yscale("log")
        ax.set_title(panel.title)
        ax.set_xlabel(xlabel)
        if panel.ylabel or not (sharey and index % columns):  # shared: the first column's
            ax.set_ylabel(panel.ylabel or ylabel)
        ax.grid(True, which="major", alpha=0.3)
        if legend_outside:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            ax.legend(fontsize=8, loc="best")
    for ax in list(axes.flat)[count:]:
        ax.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    try:
        return _save(figure, Path(path))
    finally:
        plt.close(figure)


def learning_curves(
    path: str | Path,
    title: str,
    runs: Mapping[str, tuple[Sequence[float], Sequence[float]]] | Sequence[Curve],
    ylabel: str,
    baseline: tuple[float, str] | None = None,
    thresholds: Sequence[tuple[float, str]] = (),
    logy: bool = True,
    xlabel: str = "training step",
) -> Path:
    """One panel of curves — label → (steps, values), or Curves — with a baseline and
    thresholds as reference lines; the legend sits beside the axes."""
    hlines = ([baseline] if baseline else []) + list(thresholds)
    if isinstance(runs, Mapping):
        curves = [Curve(x, y, label) for label, (x, y) in runs.items()]
    else:
        curves = list(runs)
    return panels(
        path,
        title,
        [Panel("", curves, hlines)],
        xlabel,
        ylabel,
        logy,
        columns=1,
        size=(7.0, 4.5),
        legend_outside=True,
    )


def by_group(
    entries: Sequence[tuple[str, int, Sequence[float], Sequence[float], str]],
) -> list[Curve]:
    """Curves coloured by group and dashed by repeat: (group, repeat, x, y, label) each."""
    groups = list(dict.fromkeys(group for group, *_ in entries))
    styles = ("-", "--", ":", "-.")
    return [
        Curve(
            x,
            y,
            label,
            colour=COLOURS[groups.index(group) % len(COLOURS)],
            linestyle=styles[repeat % len(styles)],
        )
        for group, repeat, x, y, label in entries
    ]


def heatmap(
    path: str | Path,
    title: str,
    values: np.ndarray,
    column_labels: Sequence[str],
    row_labels: Sequence[str],
    xlabel: str,
    ylabel: str,
) -> Path:
    """A matrix of values in [0, max] (an attention map: rows × columns), white to blue,
    each row and column named."""
    plt = _pyplot()
    rows, columns = values.shape
    figure, ax = plt.subplots(figsize=(max(4.0, 0.3 * columns + 2), max(3.0, 0.3 * rows + 1.5)))
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=max(float(values.max()), 1e-12))
    ax.set_xticks(range(columns), list(column_labels))
    ax.set_yticks(range(rows), list(row_labels))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    figure.colorbar(image, ax=ax, fraction=0.04)
    figure.tight_layout()
    try:
        return _save(figure, Path(path))
    finally:
        plt.close(figure)


def bars(
    path: str | Path,
    title: str,
    groups: Mapping[str, Mapping[str, float]],
    ylabel: str,
) -> Path:
    """Grouped bars: group (x tick) → series label → value."""
    plt = _pyplot()
    labels = list(groups)
    series = sorted({name for values in groups.values() for name in values}, key=str)
    figure, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(labels) * max(1, len(series)) / 2), 4))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(labels))
    for k, name in enumerate(series):
        values = [groups[g].get(name, np.nan) for g in labels]
        ax.bar(
            x + (k - (len(series) - 1) / 2) * width,
            values,
            width,
            label=name,
            color=COLOURS[k % len(COLOURS)],
        )
    ax.set_xticks(x, labels, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    figure.tight_layout()
    try:
        return _save(figure, Path(path))
    finally:
        plt.close(figure)
