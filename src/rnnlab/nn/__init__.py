"""Modules with explicit backward: layers hold parameters and the tape, cells compute."""

from rnnlab.nn.attention import Attention
from rnnlab.nn.dropout import Dropout
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.losses import cross_entropy, mse
from rnnlab.nn.module import Module
from rnnlab.nn.recurrent import GRU, LSTM, RNN, IndRNN, RecurrentLayer
from rnnlab.nn.step_cells import GRUCell, LSTMCell, RecurrentCell, RNNCell

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Attention",
    "Dropout",
    "Embedding",
    "GRUCell",
    "IndRNN",
    "LSTMCell",
    "Linear",
    "Module",
    "RNNCell",
    "RecurrentCell",
    "RecurrentLayer",
    "cross_entropy",
    "mse",
]
