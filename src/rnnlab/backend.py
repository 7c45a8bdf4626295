"""Which implementation of the cells the layers run: the NumPy reference or the compiled kernels.

    rnnlab.set_backend("auto" | "numpy" | "numba")
    with rnnlab.use_backend("numpy"): ...

"auto" (the default, or the ``RNNLAB_BACKEND`` environment variable) picks the compiled
kernels, and falls back to NumPy with a warning only when Numba cannot load them. Both
backends offer every option (variable lengths, bidirectional and stacked layers run on
the kernels too) and compute the same numbers: tests hold them to 1e-12 in float64.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache, partial
from types import SimpleNamespace
from typing import Any

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
def _kernels() -> dict[str, SimpleNamespace]:
    try:
        from rnnlab.kernels import gru, lstm, rnn
    except Exception as error:  # numba missing, or numpy's BLAS not found
        raise ConfigError(f"the compiled kernels cannot be loaded ({error})") from error
    return {
        "rnn_tanh": SimpleNamespace(
            forward=partial(rnn.forward, nonlinearity="tanh"), backward=rnn.backward
        ),
        "rnn_relu": SimpleNamespace(
            forward=partial(rnn.forward, nonlinearity="relu"), backward=rnn.backward
        ),
        "lstm": SimpleNamespace(forward=lstm.forward, backward=lstm.backward),
        "gru": SimpleNamespace(forward=gru.forward, backward=gru.backward),
    }


def _reference() -> dict[str, SimpleNamespace]:
    from rnnlab.cells import CELLS

    def adapt(cell: SimpleNamespace) -> SimpleNamespace:
        def forward(params, x, state0, lengths=None, workspace=None, keep_tape=True):
            out, state, tape = cell.forward(params, x, state0, lengths)
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
            dx, grads, d_state0 = cell.backward(params, tape, d_out, d_stateT)
            for name, total in (into or {}).items():  # added as the kernels add them
                total += grads[name]
                grads[name] = total
            return (dx if input_grad else None), grads, d_state0

        return SimpleNamespace(forward=forward, backward=backward)

    return {mode: adapt(cell) for mode, cell in CELLS.items()}


_REFERENCE = None


def cell_functions(mode: str) -> SimpleNamespace:
    """forward(params, x, state0, lengths, workspace, keep_tape) and backward(params, tape,
    d_out, d_stateT, workspace, keep_gradients, input_grad, into) of ``mode`` on the
    backend in force; ``into``: arrays by name (W_ih, W_hh, b_ih, b_hh) that backward adds
    the weight gradients to and returns as them."""
    global _REFERENCE
    if get_backend() == "numba":
        return _kernels()[mode]
    if _REFERENCE is None:
        _REFERENCE = _reference()
    return _REFERENCE[mode]


def run_independent(
    tasks: Sequence[Callable[[], Any]], steps: int, batch: int, W_hh: Any
) -> list[Any]:
    """[task() for task in tasks] for the directions of a bidirectional layer (T steps,
    B sequences, recurrent weights W_hh), which share nothing: on the kernels at once, one
    per thread, each alone on a core, where that is faster (``rnnlab.kernels.team.each``);
    on the reference cells in turn."""
    if len(tasks) < 2 or get_backend() != "numba":
        return [task() for task in tasks]
    from rnnlab.kernels.common import direction_work
    from rnnlab.kernels.team import each

    return each(tasks, direction_work(steps, batch, W_hh))
