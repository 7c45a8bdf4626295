"""Compiled functions written once for every cell, made for one cell's steps.

A template is a plain Python function that calls a cell's ``forward_step`` or
``backward_step`` (and other templates) by global name. ``specialise`` copies it with
those names bound to one cell's compiled steps and compiles the copy with numba, which
makes a specialisation per cell with the steps inlined, as a hand-written copy would be.

numba's on-disk cache names an entry after the function's qualified name and checks only
the file the function comes from. So each copy is named after its template, its cell and
a digest of every source file it is made from (the cells, the kernels, the runtime): a
cell's entry is its own, and a change in any of those files compiles afresh instead of
loading a stale entry.
"""

from __future__ import annotations

import hashlib
import types
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from numba import njit

from rnnlab.cells import Cell
from rnnlab.cells.pointwise import register_compiled

register_compiled()  # the scalar functions the cells' steps call, for numba
_PACKAGE = Path(__file__).resolve().parent.parent
#: compile options of every loop: no Python lock, numpy's float semantics (no
#: ZeroDivisionError checks in the inner loops)
OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}


@cache
def source_digest() -> str:
    """12 hex digits of a hash of the source files the compiled loops are made from."""
    digest = hashlib.sha256()
    for folder in ("cells", "kernels", "runtime"):
        for path in sorted((_PACKAGE / folder).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def no_input_backward_step(keep, p, d_x, dp, H):
    """A cell whose backward_step writes the input side's gradient whole: nothing left."""


@cache
def compiled_steps(cell: Cell) -> dict[str, Any]:
    """The cell's steps compiled, under the names the templates call them by; inlined
    into the loops (a call per row costs as much as a small cell's arithmetic). A cell
    without an ``input_backward_step`` gets one that does nothing."""
    steps = {
        "forward_step": cell.forward_step,
        "backward_step": cell.backward_step,
        "input_backward_step": cell.input_backward_step or no_input_backward_step,
    }
    return {name: njit(inline="always", **OPTIONS)(step) for name, step in steps.items()}


def specialise(
    template: Callable[..., Any], cell: Cell, names: dict[str, Any], parallel: bool = False
) -> Callable[..., Any]:
    """``template`` compiled with the globals ``names`` (the cell's steps, the other
    templates' copies) in place of its own."""
    scope = {**template.__globals__, **names}
    copy = types.FunctionType(template.__code__, scope, template.__name__, template.__defaults__)
    copy.__qualname__ = f"{template.__name__}_{cell.name}_{source_digest()}"
    copy.__module__ = template.__module__
    copy.__doc__ = template.__doc__
    return njit(parallel=parallel, **OPTIONS)(copy)
