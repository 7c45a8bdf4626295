"""Which implementation of the cells the layers run: the NumPy reference or the compiled kernels.

    rnnlab.set_backend("auto" | "numpy" | "numba")
    with rnnlab.use_backend("numpy"): ...

This module is the one door from the library to the fast path: ``nn/``, ``generate.py``
and the faces above reach ``rnnlab.kernels`` only through it.

"auto" (the default, or the ``RNNLAB_BACKEND`` environment variable) picks the compiled
kernels, and falls back to NumPy with a warning only when Numba cannot load them. Both
backends offer every option (variable lengths, bidirectional and stacked layers run on
the kernels too) and compute the same numbers: tests hold them to 1e-12 in float64.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from rnnlab.cells import CELLS, Cell
from rnnlab.cells import zoneout as zoneout_cell
from rnnlab.errors import ConfigError

BACKENDS = ("auto", "numpy", "numba")
_choice = os.environ.get("RNNLAB_BACKEND", "auto")


def set_backend(name: str) -> None:
    """Choose the backend for every layer from now on."""
    global _choice
    if name not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "numba":
        _kernels()  # fail now, with the reason, rather than at the first call
    _choice = name


def compiled() -> bool:
    """Whether the compiled kernels are in force."""
    return get_backend() == "numba"


def get_backend() -> str:
    """The backend in force: "numpy" or "numba" ("auto" resolved)."""
    if _choice == "numpy":
        return "numpy"
    if _choice == "numba":
        return "numba"
    try:
        _kernels()
    except ConfigError as error:
        warnings.warn(f"{error}; using the NumPy backend", RuntimeWarning, stacklevel=2)
        return "numpy"
    return "numba"


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run a block with another backend, then restore the previous choice."""
    global _choice
    previous = _choice
    set_backend(name)
    try:
        yield
    finally:
        _choice = previous


@cache
def _kernels() -> Any:
    """``rnnlab.kernels``' entry points, or a ConfigError saying why they cannot load."""
    try:
        import rnnlab.kernels as entry
    except Exception as error:  # numba missing, or numpy's BLAS not found
        raise ConfigError(f"the compiled kernels cannot be loaded ({error})") from error
    return entry


@cache
def _reference(cell: Cell) -> SimpleNamespace:
    """The reference cell with the kernels' signature (the workspace and ``keep_tape`` are
    the kernels' concern; recurrent dropout's mask goes to the cell, zoneout wraps it)."""

    def forward(
        params,
        x,
        state0,
        lengths=None,
        workspace=None,
        keep_tape=True,
        recurrent_mask=None,
        zoneout=None,
    ):
        if zoneout is None:
            out, state, tape = cell.forward(
                params, x, state0, lengths, recurrent_mask=recurrent_mask
            )
        else:
            out, state, tape = zoneout_cell.forward(
                cell, params, x, state0, lengths, zoneout, recurrent_mask
            )
        if lengths is None:  # a view of the tape's hidden, as the kernels return it
            out.flags.writeable = False
        return out, state, (tape if keep_tape else None)

    def backward(
        params,
        tape,
        d_out,
        d_stateT=None,
        workspace=None,
        keep_gradients=True,
        input_grad=True,
        into=None,
    ):
        # the reference always leaves ∂L/∂h_t (and ∂L/∂c_t) on the tape and computes dx
        if "zoneout" in tape:
            dx, grads, d_state0 = zoneout_cell.backward(cell, params, tape, d_out, d_stateT)
        else:
            dx, grads, d_state0 = cell.backward(params, tape, d_out, d_stateT)
        for name, total in (into or {}).items():  # added as the kernels add them
            total += grads[name]
            grads[name] = total
        return (dx if input_grad else None), grads, d_state0

    return SimpleNamespace(forward=forward, backward=backward)


def cell_functions(mode: str) -> SimpleNamespace:
    """forward(params, x, state0, lengths, workspace, keep_tape, recurrent_mask, zoneout)
    and backward(params, tape, d_out, d_stateT, workspace, keep_gradients, input_grad,
    into) of the cell ``mode`` on the backend in force; ``into``: arrays by name (W_ih,
    W_hh, b_ih, b_hh, the cell's own, an LSTM's projection W_hr) that backward adds the
    weight gradients to and returns as them. recurrent_mask (B, R), R = h's width (H, or
    a projection's P): recurrent dropout's (``rnnlab.cells.masking.dropped``); zoneout
    (T or 1, B or 1, S): z_t of every unit (``rnnlab.cells.zoneout``); None for neither."""
    cell = CELLS[mode]
    if get_backend() == "numba":
        return _kernels().cell_functions(cell)
    return _reference(cell)


@cache
def _reference_step(cell: Cell) -> SimpleNamespace:
    """The reference cell over one step, with the compiled step's signature."""
    reference = _reference(cell)

    def forward(params, x, state0):
        _, state, tape = reference.forward(params, x[None], state0)
        return state, tape

    def backward(params, tape, d_state, into):
        d_out = np.zeros_like(tape["hidden"][1:])
        dx, _, d_state0 = reference.backward(params, tape, d_out, d_state, into=into)
        return dx[0], d_state0

    return SimpleNamespace(forward=forward, backward=backward)


def step_functions(mode: str) -> SimpleNamespace:
    """One step of the cell ``mode`` for a batch, on the backend in force (what the
    single-step cells run): forward(params, x (B, I), state0) → (state, tape) and
    backward(params, tape, d_state, into) → (∂L/∂x, ∂L/∂state0), where d_state's parts
    may be None and ``into`` holds the gradient arrays (W_ih, W_hh, b_ih, b_hh and the
    cell's own, by those names) that the weight gradients are added to."""
    cell = CELLS[mode]
    if get_backend() == "numba":
        return _kernels().step_functions(cell)
    return _reference_step(cell)


def workspace() -> Any:
    """Scratch arrays for one cell of a layer, reused from call to call by the kernels."""
    from rnnlab.runtime.workspace import Workspace

    return Workspace()


def run_independent(
    tasks: Sequence[Callable[[], Any]], steps: int, batch: int, W_hh: Any
) -> list[Any]:
    """[task() for task in tasks] for the directions of a bidirectional layer (T steps,
    B sequences, recurrent weights W_hh), which share nothing: on the kernels at once,
    each on a core of its own where that is faster; on the reference cells in turn."""
    if len(tasks) < 2 or get_backend() != "numba":
        return [task() for task in tasks]
    return _kernels().run_directions(tasks, steps, batch, W_hh)


def product(A: Any, B: Any) -> Any:
    """A B; on the kernels, split over rnnlab's threads rather than OpenBLAS's, whose threads
    would keep spinning into the next layer call."""
    if get_backend() != "numba":
        return A @ B
    return _kernels().product(A, B)


def kernels_cached(mode: str, projection: bool = False) -> bool:
    """Whether the kernels of cell ``mode`` (with ``projection``: its projected loops) are
    in numba's on-disk cache (a run loads them in a second instead of compiling them);
    True where that cannot be told."""
    try:
        files = _kernels().cache_index_files(CELLS[mode], projection)
        return all(path.exists() for path in files)
    except (AttributeError, TypeError):  # numba's cache laid out otherwise
        return True


def compile_backward(
    mode: str, steps: int, batch: int, hidden_size: int, dtype: Any, proj_size: int = 0
) -> None:
    """Compile the backward loops of cell ``mode`` for these sizes (with a projection to
    ``proj_size``) without a forward pass (``rnnlab.kernels.layer.compile_backward``);
    nothing on the reference backend."""
    if get_backend() == "numba":
        _kernels().compile_backward(CELLS[mode], steps, batch, hidden_size, dtype, proj_size)


def defer_drivers(deferred: bool) -> None:
    """Run the compiled loops on rnnlab's own threads while their drivers are compiled
    in another process (``rnnlab.warmup``), or on the drivers again; nothing on the
    reference backend."""
    if get_backend() == "numba" or not deferred:  # set aside, or given back in any case
        with suppress(ConfigError):  # no kernels: nothing to give back
            _kernels().defer_drivers(deferred)


def force_parts(parts: int | None) -> None:
    """Split every compiled call over exactly ``parts`` threads (None: as its sizes
    say); nothing on the reference backend."""
    if get_backend() == "numba":
        _kernels().force_parts(parts)


def kernel_cache_dir() -> Any:
    """The directory of numba's on-disk cache of the kernels."""
    return _kernels().cache_directory()


def generation(mode: str, weights: dict[str, Any], state: Any, logits: Any) -> Any | None:
    """A compiled generator of tokens for a stack of ``mode`` cells (see
    ``rnnlab.kernels.generation.Generation`` for the arrays it takes), or None on the
    reference backend."""
    if get_backend() != "numba":
        return None
    return _kernels().Generation(CELLS[mode], weights, state, logits)
