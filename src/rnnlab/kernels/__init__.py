"""The compiled fast path: the loops of every cell written once, each made for a cell's
compiled steps (``rnnlab.cells``); how they run fast lives in ``rnnlab.runtime``.

The library reaches this package only through ``rnnlab.backend``, which uses the names
below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rnnlab.cells import Cell
from rnnlab.kernels import layer, projected, staged
from rnnlab.kernels.generation import Generation
from rnnlab.kernels.step import step_functions
from rnnlab.runtime.products import direction_work
from rnnlab.runtime.team import defer_drivers, drivers_usable, each, force_parts, product


@cache
def cell_functions(cell: Cell) -> SimpleNamespace:
    """``cell``'s forward and backward over a sequence, compiled (``rnnlab.kernels.layer``,
    ``rnnlab.kernels.staged`` for a cell with two products per step, and
    ``rnnlab.kernels.projected`` for a layer whose parameters hold a projection W_hr)."""
    module = staged if cell.gated_blocks else layer

    def forward(params: dict[str, Any], *args: Any, **options: Any) -> Any:
        chosen = projected if "W_hr" in params else module
        return chosen.forward(cell, params, *args, **options)

    def backward(params: dict[str, Any], *args: Any, **options: Any) -> Any:
        chosen = projected if "W_hr" in params else module
        return chosen.backward(cell, params, *args, **options)

    return SimpleNamespace(forward=forward, backward=backward)


def compile_backward(
    cell: Cell, steps: int, batch: int, hidden_size: int, dtype: Any, proj_size: int = 0
) -> None:
    """``cell``'s backward loops for these sizes compiled without a forward pass
    (``rnnlab.kernels.layer.compile_backward``)."""
    layer.compile_backward(cell, steps, batch, hidden_size, dtype, proj_size)


def run_directions(
    tasks: Sequence[Callable[[], Any]], steps: int, batch: int, W_hh: Any
) -> list[Any]:
    """The directions of a bidirectional layer: at once, one per thread, each alone on a
    core, where that is faster (``rnnlab.runtime.team.each``), else in turn."""
    return each(tasks, direction_work(steps, batch, W_hh))


def cache_index_files(cell: Cell, projection: bool = False) -> list[Path]:
    """The index files of numba's on-disk cache for ``cell``'s loops, their drivers and
    generator, or with ``projection`` its loops with a projection (they exist once the
    kernels were compiled on this machine)."""
    from rnnlab.kernels.generation import compiled_generation
    from rnnlab.kernels.loops import compiled_loops

    if projection:  # the projected loops, and sampling through the model
        loops = projected.compiled_projected(cell)
        dispatchers = [loops.forward_loop, loops.backward_loop]
    elif cell.gated_blocks:  # the staged loops, and sampling through the model
        loops = staged.compiled_staged(cell)
        dispatchers = [loops.forward_loop, loops.backward_loop]
    else:
        loops = compiled_loops(cell)
        dispatchers = [loops.forward_loop, loops.backward_loop, compiled_generation(cell)]
        if drivers_usable():
            dispatchers.append(loops.forward_parts)
    return [Path(d._cache._cache_file._index_path) for d in dispatchers]  # numba's


def cache_directory() -> Path:
    """Where numba keeps the compiled kernels of this installation."""
    from rnnlab.cells import CELLS
    from rnnlab.kernels.loops import compiled_loops

    return Path(compiled_loops(CELLS["lstm"]).forward_loop._cache._cache_path)


__all__ = [
    "Generation",
    "cache_directory",
    "cache_index_files",
    "cell_functions",
    "compile_backward",
    "defer_drivers",
    "force_parts",
    "product",
    "run_directions",
    "step_functions",
]
