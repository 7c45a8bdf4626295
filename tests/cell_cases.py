"""What the tests of every registered cell need: random parameters and states of any cell.

The draws come in a fixed order, the four weights of every cell first (W_ih, W_hh,
b_ih, b_hh) and then the cell's own parameters, so a test gets the same numbers for a
cell whatever cells are registered.
"""

from __future__ import annotations

import numpy as np

from rnnlab.cells import CELLS


def random_params(
    mode: str,
    inputs: int,
    hidden: int,
    rng: np.random.Generator,
    scale: float = 0.5,
    bias_scale: float | None = None,
    dtype: type = np.float64,
) -> dict[str, np.ndarray]:
    """A parameter dict of cell ``mode``: normal weights × ``scale``, biases × ``bias_scale``
    (``scale`` if None), the cell's own parameters × ``scale`` about their start."""
    cell, H = CELLS[mode], hidden
    G = cell.blocks
    bias_scale = scale if bias_scale is None else bias_scale
    params = {
        "W_ih": rng.normal(size=(G * H, inputs)) * scale,
        "W_hh": rng.normal(size=(G * H, H)) * scale,  # drawn for every cell (the order)
        "b_ih": rng.normal(size=G * H) * bias_scale,
        "b_hh": rng.normal(size=G * H) * bias_scale,
    }
    if not cell.recurrent:  # IndRNN: no W_hh (the cells get an empty one)
        params["W_hh"] = params["W_hh"][:0]
    for name in cell.parameters:  # about their starting value (a gain about 1)
        size = cell.parameter_width(name) * H
        start = cell.parameter_init.get(name, 0.0)
        centre = sum(start) / 2 if isinstance(start, tuple) else start  # a range's middle
        params[name] = rng.normal(size=size) * scale + centre
    return {name: value.astype(dtype) for name, value in params.items()}


def random_state(mode: str, batch: int, hidden: int, draw) -> object:
    """A state of cell ``mode`` from ``draw()`` (a (B, H) array each call): h, or (h, c)."""
    return (draw(), draw()) if CELLS[mode].has_cell_state else draw()


def has_cell_state(mode: str) -> bool:
    return CELLS[mode].has_cell_state
