"""Readable NumPy reference cells: one cell a file, forward and backward side by side.

Every cell module offers the same two pure functions over a parameter dict
(``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``), time-major:

    forward(params, x, state0, lengths=None) -> (out, stateT, tape)
    backward(params, tape, d_out, d_stateT=None) -> (dx, grads, d_state0)
"""

from __future__ import annotations

from functools import partial
from types import SimpleNamespace

from rnnlab.cells import gru, lstm, rnn

#: mode → the number of gate blocks stacked in W_ih / W_hh.
GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}

CELLS = {
    "rnn_tanh": SimpleNamespace(
        forward=partial(rnn.forward, nonlinearity="tanh"), backward=rnn.backward
    ),
    "rnn_relu": SimpleNamespace(
        forward=partial(rnn.forward, nonlinearity="relu"), backward=rnn.backward
    ),
    "lstm": SimpleNamespace(forward=lstm.forward, backward=lstm.backward),
    "gru": SimpleNamespace(forward=gru.forward, backward=gru.backward),
}

__all__ = ["CELLS", "GATES", "gru", "lstm", "rnn"]
