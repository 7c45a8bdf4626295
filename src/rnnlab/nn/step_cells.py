"""Single-step cells with PyTorch's signatures: ``RNNCell``, ``LSTMCell``, ``GRUCell``.

One call is one step of one cell, the natural way to write a decoder or any loop whose
next input depends on the last output:

    cell = rnnlab.LSTMCell(input_size, hidden_size)
    h, c = cell(x_t, (h, c))                 # x_t (B, I) or unbatched (I,)
    ...
    d_x_t, (d_h, d_c) = cell.backward((d_h, d_c))   # the latest call first

Each call runs the cell's own step equations, compiled with the two products of the step
around them (``rnnlab.backend.step_functions``; the reference cell over one step on the
NumPy backend) and, in training mode (``cell.train()``, the default; not in ``eval()`` or
under ``rnnlab.nn.module.inference``), keeps its tape on a stack; ``backward`` takes the
gradient of the loss with respect to the state that call returned (the step's output is
its state), pops that call's tape, adds the weight gradients to ``grads`` and returns
∂L/∂x_t and ∂L/∂state_{t−1}, to be added to what the previous step's output received. So
a Python loop of calls is undone by the same loop backwards, as BPTT by hand. Inputs and
states are copied in and out, so a loop may change its buffers in place.

Parameters carry PyTorch's names and shapes (``weight_ih`` (G·H, I), ``weight_hh``
(G·H, H), ``bias_ih``, ``bias_hh`` (G·H,), and a cell's own, such as the peepholes), so
``rnnlab.interop`` moves them to and from ``torch.nn.LSTMCell`` and the others.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.backend import step_functions
from rnnlab.cells import CELLS
from rnnlab.errors import ConfigError, ShapeError, StateError, check_positive_int
from rnnlab.nn.checks import check_float_input, check_last_dim, check_shape
from rnnlab.nn.init import initial_weights, own_parameters
from rnnlab.nn.module import Module, make_rng, resolve_dtype
from rnnlab.nn.recurrent import (
    CELL_KEYS,
    cell_grads,
    cell_of_layer,
    cell_options_text,
    cell_params,
)


class RecurrentCell(Module):
    """The machinery common to RNNCell, LSTMCell and GRUCell; use one of those. The cell
    comes from the registry as for the layers (``LSTMCell(..., peephole=True)``)."""

    cell_layer: str  #: the layer whose cells this runs (``rnnlab.cells.Cell.layer``)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        dtype: object = np.float32,
        seed: int | np.random.Generator | None = None,
        **cell_options: object,
    ) -> None:
        super().__init__()
        self.mode = cell_of_layer(self.cell_layer, cell_options)
        if CELLS[self.mode].gated_blocks:  # the compiled step takes one product
            raise ConfigError(
                f"{type(self).__name__} has no {CELLS[self.mode].title} (two products per "
                "step); run it as a layer, rnnlab.GRU(..., reset_after=False)"
            )
        self.cell_options = {k: v for k, v in cell_options.items() if v not in (None, False)}
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.bias = bool(bias)
        self.dtype = resolve_dtype(dtype)
        self.rng = make_rng(seed)
        cell, H = CELLS[self.mode], self.hidden_size
        weights = initial_weights(cell.blocks, self.input_size, H, self.rng, "uniform", "uniform")
        for key, name in CELL_KEYS:
            if self.bias or key.startswith("W"):
                self.add_param(name, weights[key].astype(self.dtype))
        for name, value in own_parameters(cell, H, self.rng).items():
            self.add_param(name, value.astype(self.dtype))
        #: keep each call's tape for ``backward``; off for inference (``inference``)
        self.keep_tape = True
        self._tapes: list[dict] = []

    @property
    def has_cell_state(self) -> bool:
        return CELLS[self.mode].has_cell_state

    def cell_params(self) -> dict[str, np.ndarray]:
        """The cell's parameters by the cells' names (``rnnlab.nn.recurrent.cell_params``)."""
        return cell_params(self.mode, self._params, "", self.dtype)

    def __call__(self, x: np.ndarray, state: Any = None) -> Any:
        """One step: x (B, input_size) or (input_size,), state h (B, H) — for LSTMCell
        (h, c) — or None (zeros) → the next state, in the same layout."""
        name = type(self).__name__
        check_float_input("x", x, self.dtype, name)
        if x.ndim not in (1, 2):
            raise ShapeError(
                f"{name}: x has shape {x.shape} (rank {x.ndim}), expected (B, input_size) or "
                "(input_size,) for one unbatched input"
            )
        check_last_dim("x", x, self.input_size, name, "input_size")
        unbatched = x.ndim == 1
        batch = 1 if unbatched else x.shape[0]
        state0 = self._checked_state(state, batch, unbatched, "state")
        # copies: the tape keeps them, and a loop may refill its input buffer in place
        inputs = np.array(x, dtype=self.dtype).reshape(batch, self.input_size)
        state_T, tape = step_functions(self.mode).forward(self.cell_params(), inputs, state0)
        if self.keep_tape and self.training:
            self._tapes.append({"tape": tape, "unbatched": unbatched, "batch": batch})
        return self._to_user(state_T, unbatched)

    def backward(self, d_state: Any) -> tuple[np.ndarray, Any]:
        """Undo the latest call not yet undone: d_state = ∂L/∂(the state it returned), as
        that state (for LSTMCell (d_h, d_c), either may be None) → (∂L/∂x, ∂L/∂state it
        was given), in the call's layouts. Adds the weight gradients to ``grads``."""
        if not self._tapes:
            raise StateError(
                f"{type(self).__name__}.backward() was called more times than the cell "
                "was in training mode (each such call allows one backward, the latest "
                "first; in evaluation mode or under inference() no tape is kept)"
            )
        call = self._tapes[-1]
        unbatched, batch = call["unbatched"], call["batch"]
        d_final = self._checked_state(d_state, batch, unbatched, "d_state", allow_none=True)
        self._tapes.pop()
        into = cell_grads(self.mode, self._grads, "")  # the weight gradients go there
        backward = step_functions(self.mode).backward
        d_x, d_state0 = backward(self.cell_params(), call["tape"], d_final, into)
        d_x = d_x[0] if unbatched else d_x
        return d_x, self._to_user(d_state0, unbatched)

    def forget(self) -> None:
        """Drop the tapes of the calls not undone (start a new sequence without backward)."""
        self._tapes.clear()

    def _checked_state(
        self, state: Any, batch: int, unbatched: bool, label: str, allow_none: bool = False
    ) -> Any:
        """The user's state (or its gradient) as the cell functions take it: (B, H) arrays,
        (h, c) for a cell state; None parts stay None where allowed, else zeros."""
        name, H = type(self).__name__, self.hidden_size
        shape = (H,) if unbatched else (batch, H)
        parts: Any
        if self.has_cell_state:
            if state is None:
                parts = (None, None)
            elif isinstance(state, tuple | list) and len(state) == 2:
                parts = tuple(state)
            else:
                raise ShapeError(
                    f"{name}: {label} must be a tuple (h, c) of arrays of shape {shape}, "
                    f"got {type(state).__name__}"
                )
        else:
            parts = (state,)
        checked = []
        for part_label, part in zip(("h", "c"), parts, strict=False):
            if part is None:
                checked.append(None if allow_none else np.zeros((batch, H), self.dtype))
                continue
            full = f"{label}[{part_label}]" if self.has_cell_state else label
            check_float_input(full, part, self.dtype, name)
            check_shape(full, part, shape, name)
            checked.append(np.array(part, dtype=self.dtype).reshape(batch, H))  # a copy
        return tuple(checked) if self.has_cell_state else checked[0]

    @staticmethod
    def _to_user(state: Any, unbatched: bool) -> Any:
        """Copies, in the caller's layout: the tape keeps its own (a loop may change the
        state it was given, say reset finished sequences, before the backward pass)."""
        if isinstance(state, tuple):
            return tuple((part[0] if unbatched else part).copy() for part in state)
        return (state[0] if unbatched else state).copy()

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        return text + cell_options_text(self.cell_options)


class RNNCell(RecurrentCell):
    """One Elman step, h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu."""

    cell_layer = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        **options: Any,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, nonlinearity=nonlinearity, **options)


class LSTMCell(RecurrentCell):
    """One LSTM step: (h, c) → (h', c'). See ``rnnlab.cells.lstm``; ``peephole=True``
    for the peephole LSTM (``rnnlab.cells.peephole``)."""

    cell_layer = "LSTM"


class GRUCell(RecurrentCell):
    """One GRU step: h → h'. See ``rnnlab.cells.gru``."""

    cell_layer = "GRU"


#: the single-step cells by the name a cell gives (``rnnlab.cells.Cell.layer``)
STEP_CELLS: dict[str, type[RecurrentCell]] = {"RNN": RNNCell, "LSTM": LSTMCell, "GRU": GRUCell}
