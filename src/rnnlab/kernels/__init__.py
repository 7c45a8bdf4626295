"""The compiled fast path: the loops of every cell written once, each made for a cell's
compiled steps (``rnnlab.cells``); how they run fast lives in ``rnnlab.runtime``.

The library reaches this package only through ``rnnlab.backend``, which uses the names
below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, partial
from types import SimpleNamespace
from typing import Any

from rnnlab.cells import Cell
from rnnlab.kernels import layer
from rnnlab.kernels.generation import Generation
from rnnlab.runtime.products import direction_work
from rnnlab.runtime.team import each, product


@cache
def cell_functions(cell: Cell) -> SimpleNamespace:
    """``cell``'s forward and backward over a sequence, compiled (``rnnlab.kernels.layer``)."""
    return SimpleNamespace(
        forward=partial(layer.forward, cell), backward=partial(layer.backward, cell)
    )


def run_directions(
    tasks: Sequence[Callable[[], Any]], steps: int, batch: int, W_hh: Any
) -> list[Any]:
    """The directions of a bidirectional layer: at once, one per thread, each alone on a
    core, where that is faster (``rnnlab.runtime.team.each``), else in turn."""
    return each(tasks, direction_work(steps, batch, W_hh))


__all__ = ["Generation", "cell_functions", "product", "run_directions"]
