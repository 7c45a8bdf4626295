"""What a cell is: its equations twice (the readable reference and the compiled step), its
names, and how its parameters map to PyTorch's.

A cell file defines one ``Cell`` (or a few that share their equations) and
``rnnlab.cells`` registers it with one line; everything else reads the registry.

The reference (what learners read) runs a whole sequence in NumPy, time-major:

    forward(params, x, state0, lengths=None) -> (out, stateT, tape)
    backward(params, tape, d_out, d_stateT=None) -> (dx, grads, d_state0)

The compiled steps are the pointwise part of one step for one sequence (a row of H
units); ``rnnlab.kernels`` runs them inside its loops, which do everything else (the
products with W_ih and W_hh, the threads, variable lengths, the weight gradients).
With G = ``blocks``, K = ``parameter_rows`` (one row per own parameter of width H, G
rows for one of G·H), C = H if the cell has a cell state c else 0 and W = ``keep_width`` · H:

    forward_step(a_x, a_h, b_ih, b_hh, p, h_prev, c_prev, h, c, keep, H)
        a_x (G·H) = W_ih x_t, a_h (G·H) = W_hh h_{t−1}, b_ih, b_hh (G·H), p (K, H) the
        cell's own per-unit parameters, h_prev (H), c_prev (C)
        → writes h (H), c (C) and keep (W): what the backward step needs (the gates…)
    backward_step(keep, p, h_prev, c_prev, h, c, dh, dc, d_c, d_x, d_own, dh_prev, dp, H)
        dh (H) = ∂L/∂h_t; dc (C): in ∂L/∂c_t from the steps after, out ∂L/∂c_{t−1}
        → writes d_c (C) = the whole ∂L/∂c_t, d_x (G·H) = ∂L/∂a_t, the gradient of the
        pre-activations W_ih x_t + b_ih (and of W_hh h_{t−1} + b_hh, except for the last
        ``own_blocks`` blocks, whose recurrent part gets its own gradient d_own
        (own_blocks·H)), dh_prev (H) = the part of ∂L/∂h_{t−1} that does not pass through
        W_hh (written only by a cell with ``direct_path``), and adds ∂L/∂p to dp (K, H).

A cell whose last ``gated_blocks`` blocks multiply W_hh with a gated state g_t instead of
h_{t−1} (the reset-before GRU's W_hn (r ⊙ h_{t−1})) needs two products per step, one
after the other, and gives two more functions, which the staged loops
(``rnnlab.kernels.staged``) run between them:

    gate_step(a_x, a_h, b_ih, b_hh, p, h_prev, gated, H)
        a_h's first blocks = W_hh h_{t−1} (the rest not yet) → writes gated (H) = g_t;
        forward_step then gets a_h whole, its last blocks = W_hh g_t
    gate_backward_step(keep, p, h_prev, d_gated, d_x, dh_prev, H)
        after backward_step wrote d_x of the blocks that do not feed g, and d_gated (H) =
        ∂L/∂g_t (W_hhᵀ's product over the last blocks): writes the rest of d_x and adds
        g's part of ∂L/∂h_{t−1} to dh_prev

A cell may split off the part of its backward step that reads nothing of the recurrence
(the layer-normalised LSTM's backward through LN(W_ih x_t + b_ih)): backward_step then
leaves in d_x a gradient that does not yet reach W_ih x_t + b_ih, and

    input_backward_step(keep, p, d_x, dp, H)
        d_x (G·H), as backward_step left it → in place, ∂L/∂(W_ih x_t + b_ih); adds to
        dp the gradients it gives (the input normalisation's gain and bias)

takes it there. The loops run it after backward_step on the loop's thread, or, where a
backward pass is a pipeline, on some of the rows beside the loop on the other thread,
off the loop's path. Such a cell's recurrent side has a gradient of its own in every
block (``own_blocks`` = ``blocks``: d_x is the input side's alone), and it runs on the
one-product loops (no ``gated_blocks``, no projection).

A step works unit by unit (entry j of every block belongs to unit j), so the generation
kernel can give each thread a block of units, unless the cell says it is not
``unitwise`` (its step reduces over the row: it then gets whole rows). Write float constants through
``rnnlab.cells.pointwise`` (``complement(z)`` for 1 − z): a float literal would turn
float32 arithmetic into float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class TorchLayer:
    """The PyTorch layer a cell's parameters move to and from unchanged, but for the gate
    blocks listed in ``negated_blocks``, whose rows change sign both ways (the GRU's z)."""

    module: str  #: "RNN", "LSTM" or "GRU": torch.nn's class
    options: dict[str, Any] = field(default_factory=dict)  #: e.g. {"nonlinearity": "relu"}
    negated_blocks: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)  # a cell is itself: hashed and compared by identity
class Cell:
    """One registered cell: see the module's docstring for the step contract."""

    name: str  #: the registry's key, the CLI's ``--cell`` and a layer's ``mode``
    title: str  #: for people: "LSTM", "RNN (tanh)"
    #: the layer of ``rnnlab.nn`` that runs it ("RNN", "LSTM", "GRU") and the options of
    #: that layer's constructor that choose this cell, e.g. {"nonlinearity": "relu"}
    layer: str
    blocks: int  #: G, the gate blocks stacked in W_ih (G·H, I) and W_hh (G·H, H)
    gates: tuple[str, ...]  #: the gates' names in block order, as kept on the tape
    states: tuple[str, ...]  #: ("h",) or ("h", "c")
    forward: Callable[..., Any]  #: the readable reference over a whole sequence
    backward: Callable[..., Any]
    forward_step: Callable[..., Any]  #: the compiled steps (see the module's docstring)
    backward_step: Callable[..., Any]
    #: the tape's arrays the compiled step keeps, by name and width in units of H, in
    #: the order of the step's ``keep`` row
    keep: tuple[tuple[str, int], ...] = ()
    own_blocks: int = 0  #: last blocks whose recurrent part has a gradient of its own
    #: whether h_{t−1} reaches h_t other than through W_hh (the step's dh_prev is not 0)
    direct_path: bool = False
    #: whether the cell has recurrent weights W_hh (G·H, H) and b_hh, multiplied with
    #: h_{t−1} at every step; False for a cell whose recurrence is all in its step (IndRNN's
    #: u ⊙ h_{t−1}): its layers hold neither, its steps get W_hh (0, H), b_hh zeros and
    #: no a_h worth reading, and the loops skip the product
    recurrent: bool = True
    #: the last blocks whose recurrent product reads a gated state g_t = gate_step(…)
    #: instead of h_{t−1} (see the module's docstring); 0 for one product per step
    gated_blocks: int = 0
    #: whether the cell's reference takes a projection W_hr (P, H) of its output,
    #: h_t = W_hr h̃_t (PyTorch's LSTM ``proj_size``); the compiled loops of
    #: ``rnnlab.kernels.projected`` run it for a cell that reads h_{t−1} only through W_hh
    projectable: bool = False
    gate_step: Callable[..., Any] | None = None
    gate_backward_step: Callable[..., Any] | None = None
    #: the backward step's part that reads nothing of the recurrence, which the loops may
    #: run beside the loop (see the module's docstring); None: backward_step does it all
    input_backward_step: Callable[..., Any] | None = None
    parameters: tuple[str, ...] = ()  #: the cell's own per-unit parameters (H each)
    #: the width of an own parameter in units of H where it is not 1 (the gain of all
    #: G·H pre-activations: G); it takes that many rows of p, one per block
    parameter_widths: dict[str, int] = field(default_factory=dict)
    #: how an own parameter starts: a constant (a gain 1, a bias 0) or (low, high) for
    #: uniform in that range; the others start uniform in ±1/√H as PyTorch's weights do
    parameter_init: dict[str, float | tuple[float, float]] = field(default_factory=dict)
    #: the parameter that is the gates' bias, where a forget bias is set: "b_ih", or
    #: an own parameter of width G (a normalised cell's β)
    gate_bias: str = "b_ih"
    #: whether the step works unit by unit (entry j of every block belongs to unit j and
    #: nothing else), so that generation can give each thread a block of units; False
    #: for a cell that reduces over a row (layer normalisation)
    unitwise: bool = True
    #: the activation of each gate ("sigmoid" or "tanh") and of the state the cell shows
    activations: dict[str, str] = field(default_factory=dict)
    torch: TorchLayer | None = None
    layer_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.projectable and (
            self.direct_path or self.own_blocks or self.gated_blocks or not self.recurrent
        ):
            raise ValueError(
                f"cell {self.name!r}: a projection serves a cell that reads h_{{t−1}} only "
                "through one product with W_hh (no direct_path, own_blocks or gated_blocks)"
            )
        if self.input_backward_step is not None and (
            self.own_blocks != self.blocks or self.gated_blocks or self.projectable
        ):
            raise ValueError(
                f"cell {self.name!r}: an input_backward_step needs a recurrent gradient of "
                f"its own in every block (own_blocks={self.blocks}, got {self.own_blocks}) "
                "and one product per step (no gated_blocks, not projectable)"
            )

    @property
    def keep_width(self) -> int:
        """The keep row's width in units of H."""
        return sum(width for _, width in self.keep)

    @property
    def has_cell_state(self) -> bool:
        return "c" in self.states

    def parameter_width(self, name: str) -> int:
        """Own parameter ``name``'s width in units of H (its rows of p)."""
        return self.parameter_widths.get(name, 1)

    @property
    def parameter_rows(self) -> int:
        """K, the rows of p (K, H) that the own parameters take."""
        return sum(self.parameter_width(name) for name in self.parameters)


def cell_for_layer(cells: Mapping[str, Cell], layer: str, **options: Any) -> Cell:
    """The cell that ``layer`` (a class name of ``rnnlab.nn``) runs with ``options``: the
    one whose ``layer_options`` are those of ``options`` that are set (not None/False)."""
    chosen = {name: value for name, value in options.items() if value not in (None, False)}
    for cell in cells.values():
        if cell.layer == layer and cell.layer_options == chosen:
            return cell
    raise ValueError(f"no registered cell for {layer} with {chosen}")


def registry(*cells: Cell) -> MappingProxyType:
    """The read-only map name → Cell of the given cells (names must be unique)."""
    table: dict[str, Cell] = {}
    for cell in cells:
        if cell.name in table:
            raise ValueError(f"two cells are named {cell.name!r}")
        table[cell.name] = cell
    return MappingProxyType(table)
