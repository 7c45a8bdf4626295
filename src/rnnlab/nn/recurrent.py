"""Recurrent layers with PyTorch's signatures: ``RNN``, ``LSTM``, ``GRU``.

A layer stacks ``num_layers`` cells, each run forward in time and, if bidirectional,
also backward in time; layer k + 1 reads the (concatenated) outputs of layer k, with
dropout between layers in training. With ``residual=True`` each layer from the second on
adds its input to its output, y_l = stack_l(x_l) + x_l (both D·R wide, R = H or the
projection's P): a path around
the layer's cells for the gradient (He et al. 2016; Wu et al. 2016 for stacked LSTMs).
Parameters carry PyTorch's names and shapes (``weight_ih_l0``, ``weight_hh_l1_reverse``,
...), so state dicts move between the two.

    layer(x, state=None, lengths=None) -> (output, state)
    layer.backward(d_output, d_state=None) -> (d_input, d_state0)

Shapes (T steps, B sequences, D = 2 if bidirectional else 1, L = num_layers):
x (T, B, input_size), or (B, T, input_size) with ``batch_first``, or (T, input_size)
unbatched; output (T, B, D·H) in the same layout; state h (L·D, B, H) and, for LSTM,
(h, c). With ``lengths`` each sequence stops at its own length: outputs past it are
zero, the final state is the one at its last valid step, and no gradient flows from
padding. An LSTM with ``proj_size=P`` (PyTorch's; 0 < P < H) projects each step's
output, h_t = W_hr (o ⊙ tanh(c_t)) with ``weight_hr_l0`` (P, H): h, the output and
W_hh's columns are then P wide (output (T, B, D·P), h (L·D, B, P), c (L·D, B, H)).

Memory: the tapes of all L·D cells are kept from forward to backward (see each cell's
header for its size), plus the dropout masks, L − 1 arrays of (T, B, D·R).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from rnnlab.backend import cell_functions, run_independent, workspace
from rnnlab.cells import CELLS, cell_for_layer
from rnnlab.cells.indrnn import RECURRENT_WEIGHT
from rnnlab.cells.masking import reverse_padded
from rnnlab.errors import ConfigError, ShapeError, check_positive_int, check_probability
from rnnlab.nn.checks import check_float_input, check_last_dim, check_lengths, check_shape
from rnnlab.nn.dropout import dropout_mask
from rnnlab.nn.init import check_init_names, initial_weights, own_parameters
from rnnlab.nn.module import Module, make_rng, resolve_dtype

CELL_KEYS = (
    ("W_ih", "weight_ih"),
    ("W_hh", "weight_hh"),
    ("b_ih", "bias_ih"),
    ("b_hh", "bias_hh"),
)


def cell_params(
    mode: str, params: dict[str, np.ndarray], suffix: str, dtype: object
) -> dict[str, np.ndarray]:
    """One cell's parameter dict by the cells' names (W_ih, W_hh, b_ih, b_hh, the cell's
    own, such as the peepholes, and an LSTM's projection W_hr) from a module's
    ``params``, whose names carry ``suffix`` ("_l0", "_l1_reverse", or "" for a
    single-step cell). Without bias the biases are zeros, which the cells treat like any
    other bias."""
    kind = CELLS[mode]
    cell = {name: params[name + suffix] for name in kind.parameters}
    rows = params["weight_ih" + suffix].shape[0]  # G·H
    if not kind.recurrent:  # no W_hh: an empty one keeps H = W_hh.shape[1] true
        cell["W_hh"] = np.zeros((0, rows // kind.blocks), dtype)
    for key, torch_name in CELL_KEYS:
        name = torch_name + suffix
        if name in params:
            cell[key] = params[name]
        elif key not in cell:
            cell[key] = np.zeros(rows, dtype)
    if "weight_hr" + suffix in params:  # an LSTM's projection (proj_size)
        cell["W_hr"] = params["weight_hr" + suffix]
    return cell


def cell_grads(mode: str, grads: dict[str, np.ndarray], suffix: str) -> dict[str, np.ndarray]:
    """One cell's gradient arrays by the cells' names (W_ih, W_hh, b_ih and b_hh when the
    module has biases and the cell has them, the cell's own, and W_hr with a projection),
    which its backward pass adds to."""
    names = [(key, torch_name + suffix) for key, torch_name in CELL_KEYS]
    names += [(name, name + suffix) for name in CELLS[mode].parameters]
    names.append(("W_hr", "weight_hr" + suffix))
    return {key: grads[name] for key, name in names if name in grads}


def cell_options_text(options: dict[str, object], nonlinearity: str = "tanh") -> str:
    """The cell options of a ``repr`` (", peephole=True"); the default ``nonlinearity``
    unsaid."""
    return "".join(
        f", {option}={value!r}"
        for option, value in options.items()
        if option != "nonlinearity" or value != nonlinearity
    )


class RecurrentLayer(Module):
    """The machinery common to RNN, LSTM and GRU; use one of those.

    The cell comes from the registry (``rnnlab.cells.CELLS``): the one that this layer
    class (``RNN``, ``LSTM``, ``GRU``) runs with the given ``cell_options`` (its
    ``layer_options``, e.g. ``LSTM(..., peephole=True)``); its name is ``mode``.
    """

    mode: str
    cell_layer: str  #: the layer name cells give (``rnnlab.cells.Cell.layer``)
    default_nonlinearity = "tanh"  #: what a ``repr`` leaves unsaid

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        dtype: object = np.float32,
        seed: int | np.random.Generator | None = None,
        recurrent_init: str = "uniform",
        input_init: str = "uniform",
        forget_bias: float | None = None,
        residual: bool = False,
        recurrent_dropout: float = 0.0,
        zoneout: float = 0.0,
        proj_size: int = 0,
        **cell_options: object,
    ) -> None:
        super().__init__()
        if "recurrent_max" in cell_options:  # IndRNN takes it by name; no other layer has u
            raise ConfigError(
                f"recurrent_max bounds IndRNN's recurrent vector u; {type(self).__name__} has none"
            )
        self.mode = mode = cell_of_layer(self.cell_layer, cell_options)
        self.cell_options = {k: v for k, v in cell_options.items() if v not in (None, False)}
        self.input_size = check_positive_int("input_size", input_size)
        self.hidden_size = check_positive_int("hidden_size", hidden_size)
        self.num_layers = check_positive_int("num_layers", num_layers)
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = check_probability("dropout", dropout)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.dtype = resolve_dtype(dtype)
        check_init_names(recurrent_init, input_init)
        if recurrent_init != "uniform" and not CELLS[mode].recurrent:
            raise ConfigError(
                f"recurrent_init={recurrent_init!r} shapes W_hh; {type(self).__name__} has "
                "none (its recurrent weight, a vector u, starts uniform in [0, 1])"
            )
        self.recurrent_init, self.input_init = recurrent_init, input_init
        if forget_bias is not None and "f" not in CELLS[mode].gates:
            raise ConfigError(f"forget_bias applies to LSTM only, not to {type(self).__name__}")
        self.forget_bias = forget_bias
        self.residual = bool(residual)
        if self.residual and self.num_layers < 2:
            raise ConfigError(
                "residual=True adds each layer's input to its output from the second layer "
                f"on; num_layers={self.num_layers} has no second layer"
            )
        self.recurrent_dropout = check_probability("recurrent_dropout", recurrent_dropout)
        if self.recurrent_dropout and not CELLS[mode].recurrent:
            raise ConfigError(
                f"recurrent_dropout drops h_{{t−1}} before the product with W_hh; "
                f"{type(self).__name__} has no W_hh (use dropout between layers, or zoneout)"
            )
        self.zoneout = check_probability("zoneout", zoneout)
        self.proj_size = self._checked_projection(proj_size)
        #: the width of h, of W_hh's columns and of each direction's output: P or H
        self.state_size = self.proj_size or self.hidden_size
        self.rng = make_rng(seed)
        self._init_params()
        self._tape: dict | None = None
        #: keep what backward needs; off for inference (see ``rnnlab.nn.module.inference``)
        self.keep_tape = True
        #: keep the cells' tapes of the last call in ``last_tapes`` (for ``rnnlab.probe``)
        self.retain_tapes = False
        self._workspaces: dict[int, object] = {}
        self.last_tapes: list[dict] | None = None
        self.last_lengths: np.ndarray | None = None

    def _checked_projection(self, proj_size: object) -> int:
        """``proj_size`` validated: 0 (none), or 0 < P < H for a cell that takes one."""
        name, cell = type(self).__name__, CELLS[self.mode]
        if isinstance(proj_size, bool) or not isinstance(proj_size, int | np.integer):
            raise ConfigError(f"proj_size must be an int ≥ 0, got {proj_size!r}")
        if proj_size == 0:
            return 0
        if not cell.projectable:
            raise ConfigError(
                f"proj_size is offered for the plain LSTM (PyTorch's), not for the "
                f"{cell.title}: use the plain LSTM, or leave out proj_size"
                if cell.layer == "LSTM"
                else f"proj_size applies to LSTM only, not to {name}"
            )
        if not 0 < proj_size < self.hidden_size:
            raise ConfigError(
                f"proj_size must be between 1 and hidden_size − 1 = {self.hidden_size - 1} "
                f"(it narrows h), got {proj_size}"
            )
        return int(proj_size)

    # -- parameters --------------------------------------------------------------
    @staticmethod
    def _suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def _init_params(self) -> None:
        cell = CELLS[self.mode]
        H, G, R = self.hidden_size, cell.blocks, self.state_size
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else R * self.num_directions
            for direction in range(self.num_directions):
                weights = initial_weights(
                    G, in_size, H, self.rng, self.recurrent_init, self.input_init, R
                )
                weights |= own_parameters(cell, H, self.rng)  # the cell's own
                if self.forget_bias is not None:
                    f = cell.gates.index("f")  # the forget gate's block of the gates' bias
                    weights[cell.gate_bias][f * H : (f + 1) * H] = self.forget_bias
                    weights["b_hh"][f * H : (f + 1) * H] = 0.0
                suffix = self._suffix(layer, direction)
                for key, torch_name in CELL_KEYS:
                    recurrent = key.endswith("_hh")
                    if (self.bias or key.startswith("W")) and (cell.recurrent or not recurrent):
                        self.add_param(torch_name + suffix, weights[key].astype(self.dtype))
                for name in cell.parameters:
                    self.add_param(name + suffix, weights[name].astype(self.dtype))
                if self.proj_size:  # PyTorch's order: after the biases
                    self.add_param("weight_hr" + suffix, weights["W_hr"].astype(self.dtype))

    def cell_params(self, layer: int, direction: int) -> dict[str, np.ndarray]:
        """The parameter dict of one layer and direction's cell (``cell_params``)."""
        return cell_params(self.mode, self._params, self._suffix(layer, direction), self.dtype)

    def _cell_grads(self, layer: int, direction: int) -> dict[str, np.ndarray]:
        """The gradient arrays of one layer and direction's cell (``cell_grads``)."""
        return cell_grads(self.mode, self._grads, self._suffix(layer, direction))

    def _workspace(self, k: int) -> object:
        """Scratch buffers of cell k (layer · D + direction), reused from call to call."""
        if k not in self._workspaces:
            self._workspaces[k] = workspace()
        return self._workspaces[k]

    # -- state -------------------------------------------------------------------
    @property
    def has_cell_state(self) -> bool:
        """Whether the cell carries c_t beside h_t (the state is then (h, c))."""
        return CELLS[self.mode].has_cell_state

    def _state_shapes(self, batch: int, unbatched: bool = False) -> tuple[tuple[int, ...], ...]:
        """The shapes of h and, for LSTM, c: (L·D, B, R) and (L·D, B, H), without B
        for an unbatched call."""
        count = self.num_layers * self.num_directions
        widths = (self.state_size, self.hidden_size) if self.has_cell_state else (self.state_size,)
        return tuple((count, width) if unbatched else (count, batch, width) for width in widths)

    def _initial_state(self, state: object, batch: int, unbatched: bool) -> list:
        """Validate the user's state; return one (B, R) array (or (h, c) pair) per cell."""
        shapes = self._state_shapes(batch)
        user_shapes = self._state_shapes(batch, unbatched)
        if state is None:
            parts = tuple(np.zeros(shape, self.dtype) for shape in shapes)
        else:
            if self.has_cell_state:
                if not (isinstance(state, tuple | list) and len(state) == 2):
                    expected = " and ".join(str(shape) for shape in dict.fromkeys(user_shapes))
                    raise ShapeError(
                        f"LSTM: state must be a tuple (h_0, c_0) of arrays of shape {expected}, "
                        f"got {type(state).__name__}"
                    )
                names = ("h_0", "c_0")
            else:
                state, names = (state,), ("h_0",)
            parts = []
            for name, part, user_shape in zip(names, state, user_shapes, strict=True):
                check_float_input(name, part, self.dtype, type(self).__name__)
                check_shape(name, part, user_shape, type(self).__name__)
                parts.append(part[:, None, :] if unbatched else part)
        count = shapes[0][0]
        if self.has_cell_state:
            return [(parts[0][k], parts[1][k]) for k in range(count)]
        return [parts[0][k] for k in range(count)]

    # -- forward -----------------------------------------------------------------
    def __call__(
        self,
        x: np.ndarray,
        state: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None,
        lengths: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """Run the stack over a batch of sequences; returns (output, final state)."""
        name = type(self).__name__
        check_float_input("x", x, self.dtype, name)
        if x.ndim not in (2, 3):
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            raise ShapeError(
                f"{name}: x has shape {x.shape} (rank {x.ndim}), expected rank 3 {layout} "
                "or rank 2 (T, input_size) for one unbatched sequence"
            )
        check_last_dim("x", x, self.input_size, name, "input_size")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        T, B = x.shape[:2]
        if T == 0:
            raise ShapeError(f"{name}: x has no time steps (shape {x.shape}); expected T ≥ 1")
        if lengths is not None:
            lengths = check_lengths(lengths, T, B, name)
        states0 = self._initial_state(state, B, unbatched)

        cell = cell_functions(self.mode)
        keep = self.keep_tape or self.retain_tapes
        D = self.num_directions
        tapes, masks, final = [], [], []
        layer_input = np.ascontiguousarray(x)

        def run_direction(
            direction: int, layer: int, layer_input: np.ndarray, regularisers: tuple
        ) -> tuple:
            inp = layer_input if direction == 0 else reverse_padded(layer_input, lengths)
            k = layer * D + direction
            recurrent_mask, zoneout = regularisers
            return cell.forward(
                self.cell_params(layer, direction),
                np.ascontiguousarray(inp),
                states0[k],
                lengths,
                workspace=self._workspace(k),
                keep_tape=keep,
                recurrent_mask=recurrent_mask,
                zoneout=zoneout,
            )

        for layer in range(self.num_layers):
            # drawn here, in order, before the directions may run at once on two threads
            drawn = [self._regulariser_masks(T, B) for _ in range(D)]
            directions = [partial(run_direction, d, layer, layer_input, drawn[d]) for d in range(D)]
            W_hh = self.cell_params(layer, 0)["W_hh"]
            results = run_independent(directions, T, B, W_hh)
            outputs = []
            for direction, (out, state_T, tape) in enumerate(results):
                outputs.append(out if direction == 0 else reverse_padded(out, lengths))
                tapes.append(tape)
                final.append(state_T)
            layer_output = outputs[0] if D == 1 else np.concatenate(outputs, axis=-1)
            if self.residual and layer > 0:  # y_l = stack_l(x_l) + x_l, both (T, B, D·R)
                layer_output = layer_output + layer_input
            if layer < self.num_layers - 1 and self.training and self.dropout > 0:
                mask = dropout_mask(layer_output.shape, self.dropout, self.rng, self.dtype)
                layer_output = layer_output * mask
                masks.append(mask)
            else:
                masks.append(None)
            layer_input = layer_output

        self._tape = (
            {"tapes": tapes, "masks": masks, "lengths": lengths, "unbatched": unbatched}
            if self.keep_tape
            else None
        )
        if self.retain_tapes:  # one tape per layer and direction, k = layer · D + direction
            self.last_tapes, self.last_lengths = tapes, lengths
        output = layer_input
        if self.has_cell_state:
            final_state = tuple(np.stack([s[k] for s in final]) for k in range(2))
        else:
            final_state = np.stack(final)
        return self._to_user_layout(output, unbatched), self._state_out(final_state, unbatched)

    def _regulariser_masks(self, steps: int, batch: int) -> tuple:
        """(recurrent_mask, zoneout) of one cell's call, each None when off.

        Recurrent dropout (training only): one mask (B, R) of 0 and 1/(1 − p) per sequence
        for all its steps (Gal & Ghahramani 2016). Zoneout: in training z_t (T, B, S) of
        0 and 1, 1 (keep the previous value) with probability p, afresh at every step
        for every unit of h (and c); at evaluation z = p, its expectation, as (1, 1, S).
        Both are drawn from the layer's generator, which checkpoints carry."""
        R = self.state_size  # h's width: H, or P with a projection
        recurrent_mask = zoneout = None
        if self.training and self.recurrent_dropout > 0:
            recurrent_mask = dropout_mask((batch, R), self.recurrent_dropout, self.rng, self.dtype)
        if self.zoneout > 0:
            width = R + (self.hidden_size if self.has_cell_state else 0)
            if self.training:
                draws = self.rng.random((steps, batch, width), dtype=np.float32)
                zoneout = (draws < self.zoneout).astype(self.dtype)
            else:
                zoneout = np.full((1, 1, width), self.zoneout, self.dtype)
        return recurrent_mask, zoneout

    def _user_shape(self, steps: int, batch: int, features: int, unbatched: bool) -> tuple:
        if unbatched:
            return (steps, features)
        return (batch, steps, features) if self.batch_first else (steps, batch, features)

    def _to_user_layout(self, seq: np.ndarray, unbatched: bool) -> np.ndarray:
        if unbatched:
            return seq[:, 0, :]
        return seq.transpose(1, 0, 2) if self.batch_first else seq

    def _state_out(self, state: object, unbatched: bool) -> object:
        if not unbatched:
            return state
        if isinstance(state, tuple):
            return tuple(part[:, 0, :] for part in state)
        return state[:, 0, :]

    # -- backward ----------------------------------------------------------------
    def backward(
        self,
        d_output: np.ndarray,
        d_state: np.ndarray | tuple[np.ndarray | None, np.ndarray | None] | None = None,
        input_grad: bool = True,
    ) -> tuple[np.ndarray | None, np.ndarray | tuple[np.ndarray, np.ndarray]]:
        """BPTT through every layer and direction.

        d_output: like ``output``; d_state: like the final state, or None (zero)
        → (∂L/∂x like x, ∂L/∂state0 like the state). Accumulates into ``grads``.
        With ``input_grad=False`` ∂L/∂x is not computed and None is returned in its
        place (as PyTorch skips it for an input that does not require grad): the first
        layer saves a GEMM and a (T, B, input_size) array.
        """
        name = type(self).__name__
        tape = self._need_tape(self._tape)
        unbatched, lengths = tape["unbatched"], tape["lengths"]
        first = tape["tapes"][0]["x"]
        T, B = first.shape[:2]
        R, D = self.state_size, self.num_directions
        check_float_input("d_output", d_output, self.dtype, name)
        check_shape("d_output", d_output, self._user_shape(T, B, D * R, unbatched), name)
        d_seq = d_output[:, None, :] if unbatched else d_output
        if self.batch_first and not unbatched:
            d_seq = d_seq.transpose(1, 0, 2)
        d_final = self._final_state_grads(d_state, B, unbatched)

        cell = cell_functions(self.mode)
        d_states0: list = [None] * (self.num_layers * D)

        def run_direction(direction: int, layer: int, d_seq: np.ndarray) -> tuple:
            k = layer * D + direction
            d_out = d_seq[..., direction * R : (direction + 1) * R]
            if direction == 1:
                d_out = reverse_padded(d_out, lengths)
            return cell.backward(
                self.cell_params(layer, direction),
                tape["tapes"][k],
                np.ascontiguousarray(d_out),
                d_final[k],
                workspace=self._workspace(k),
                keep_gradients=self.retain_tapes,  # only probes read ∂L/∂h_t
                input_grad=input_grad or layer > 0,
                into=self._cell_grads(layer, direction),
            )

        for layer in reversed(range(self.num_layers)):
            mask = tape["masks"][layer]
            if mask is not None:
                d_seq = d_seq * mask
            directions = [partial(run_direction, d, layer, d_seq) for d in range(D)]
            W_hh = self.cell_params(layer, 0)["W_hh"]
            results = run_independent(directions, T, B, W_hh)
            d_input = None
            for direction, (dx, _, d_initial) in enumerate(results):
                d_states0[layer * D + direction] = d_initial
                if dx is None:
                    continue
                if direction == 1:
                    dx = reverse_padded(dx, lengths)
                d_input = dx if d_input is None else d_input + dx
            if self.residual and layer > 0:  # ∂L/∂x_l also takes ∂L/∂y_l whole
                d_input = d_input + d_seq
            d_seq = d_input
        self._tape = None

        if self.has_cell_state:
            d_state0 = tuple(np.stack([s[k] for s in d_states0]) for k in range(2))
        else:
            d_state0 = np.stack(d_states0)
        d_x = None if d_seq is None else self._to_user_layout(d_seq, unbatched)
        return d_x, self._state_out(d_state0, unbatched)

    def _final_state_grads(self, d_state: object, batch: int, unbatched: bool) -> list:
        """One ∂L/∂state_T per cell (None where the user gave none)."""
        count = self.num_layers * self.num_directions
        if d_state is None:
            return [None] * count
        parts = d_state if self.has_cell_state else (d_state,)
        if self.has_cell_state and not (isinstance(parts, tuple | list) and len(parts) == 2):
            raise ShapeError("LSTM: d_state must be a tuple (d_h, d_c); either may be None")
        user_shapes = self._state_shapes(batch, unbatched)
        checked = []
        labels = ("d_state[0]", "d_state[1]")
        for label, part, user_shape in zip(labels, parts, user_shapes, strict=False):
            if part is not None:
                check_float_input(label, part, self.dtype, type(self).__name__)
                check_shape(label, part, user_shape, type(self).__name__)
                part = part[:, None, :] if unbatched else part
            checked.append(part)
        if self.has_cell_state:
            return [tuple(None if p is None else p[k] for p in checked) for k in range(count)]
        return [None if checked[0] is None else checked[0][k] for k in range(count)]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for option, default in (
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("residual", False),
            ("recurrent_dropout", 0.0),
            ("zoneout", 0.0),
            ("proj_size", 0),
        ):
            if getattr(self, option) != default:
                text += f", {option}={getattr(self, option)}"
        return text + cell_options_text(self.cell_options, self.default_nonlinearity)


class RNN(RecurrentLayer):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), act = tanh or relu."""

    cell_layer = "RNN"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        **options: object,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ConfigError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        layout = (num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__(input_size, hidden_size, *layout, nonlinearity=nonlinearity, **options)


class LSTM(RecurrentLayer):
    """Long short-term memory; state is (h, c). See ``rnnlab.cells.lstm`` for the equations.

    ``forget_bias=None`` (the default) keeps PyTorch's initialisation exactly, so a model
    ported from PyTorch starts the same way; language models in ``rnnlab.models`` pass
    ``forget_bias=1.0``, the usual choice (Jozefowicz et al. 2015). ``peephole=True``
    lets the gates see the cell state (``rnnlab.cells.peephole``): parameters
    ``weight_ci_l0``, ``weight_cf_l0``, ``weight_co_l0`` (H,) are added per cell.
    ``proj_size=P`` is PyTorch's projection (see the module's docstring).
    """

    cell_layer = "LSTM"


class GRU(RecurrentLayer):
    """Gated recurrent unit, h_t = (1 − z) ⊙ h_{t−1} + z ⊙ n. See ``rnnlab.cells.gru``.

    ``reset_after=True`` (the default) is PyTorch's and cuDNN's candidate,
    n = tanh(W_in x + b_in + r ⊙ (W_hn h_{t−1} + b_hn)); ``reset_after=False`` is the
    original paper's and Keras' other form, n = tanh(W_in x + b_in + W_hn (r ⊙ h_{t−1}) +
    b_hn) (``rnnlab.cells.gru_reset_before``), with the same parameters."""

    cell_layer = "GRU"

    def __init__(
        self, input_size: int, hidden_size: int, *args: object, reset_after: bool = True,
        **options: object,
    ) -> None:  # fmt: skip
        if not isinstance(reset_after, bool):
            raise ConfigError(f"reset_after must be True or False, got {reset_after!r}")
        if not reset_after:
            if options.get("layer_norm"):
                raise ConfigError(
                    "GRU has no layer-normalised form with reset_after=False; choose one"
                )
            options["reset_before"] = True  # the registered cell's option
        super().__init__(input_size, hidden_size, *args, **options)
        if self.cell_options.pop("reset_before", False):
            self.cell_options["reset_after"] = False  # a repr says what the user wrote


class IndRNN(RecurrentLayer):
    """Independently recurrent network (Li et al. 2018): h_t = act(W_ih x_t + b_ih + u ⊙
    h_{t−1}), act = relu (the default, the paper's) or tanh; u is the vector
    ``weight_hh_diag_l0`` (H,), started uniform in [0, 1]. No ``weight_hh``, no
    ``bias_hh``. See ``rnnlab.cells.indrnn``; the other arguments are ``RNN``'s.

    ``recurrent_max=γ`` keeps |u| ≤ γ from construction and after every update
    (``constrain``, which the trainer calls; weights loaded into the layer stay as given
    until then): with relu a unit's gradient over T steps is then at most γ^T, so Li et
    al. take γ = 2^(1/T) to learn over T steps.
    """

    cell_layer = "IndRNN"
    default_nonlinearity = "relu"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "relu",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        *,
        recurrent_max: float | None = None,
        **options: object,
    ) -> None:
        if nonlinearity not in ("relu", "tanh"):
            raise ConfigError(f"nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.recurrent_max = check_recurrent_max(recurrent_max)
        layout = (num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__(input_size, hidden_size, *layout, nonlinearity=nonlinearity, **options)
        self.constrain_own()

    def constrain_own(self) -> None:
        """|u| ≤ recurrent_max for every cell's u (nothing without a bound)."""
        if self.recurrent_max is None:
            return
        for name, u in self._params.items():
            if name.startswith(RECURRENT_WEIGHT):
                np.clip(u, -self.recurrent_max, self.recurrent_max, out=u)

    def extra_repr(self) -> str:
        text = super().extra_repr()
        return text + (f", recurrent_max={self.recurrent_max}" if self.recurrent_max else "")


def check_recurrent_max(value: object) -> float | None:
    """IndRNN's bound on |u|: None (no bound) or a finite number > 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"recurrent_max must be a number > 0 or None, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ConfigError(f"recurrent_max must be a finite number > 0, got {value!r}")
    return float(value)


#: registered cell options that the layers take under another name (GRU's reset_after)
SAID = {"reset_before": "reset_after"}


def cell_of_layer(layer: str, options: dict[str, object]) -> str:
    """The name of the registered cell that ``layer`` runs with ``options``; a keyword no
    cell of ``layer`` takes is refused as Python refuses an unexpected keyword."""
    known = {key for cell in CELLS.values() if cell.layer == layer for key in cell.layer_options}
    unknown = sorted(set(options) - known)
    if unknown:
        said = sorted(SAID.get(key, key) for key in known)  # as the user writes them
        raise ConfigError(
            f"{layer} got an unexpected keyword argument {unknown[0]!r} "
            f"(its cells' options: {said or 'none'})"
        )
    try:
        return cell_for_layer(CELLS, layer, **options).name
    except ValueError:
        offered = [cell.layer_options for cell in CELLS.values() if cell.layer == layer]
        raise ConfigError(
            f"{layer} has no cell for the options {options}; its cells take {offered}"
        ) from None


#: the layers by the name a cell gives (``rnnlab.cells.Cell.layer``)
LAYERS: dict[str, type[RecurrentLayer]] = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU, "IndRNN": IndRNN}
