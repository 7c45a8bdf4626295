"""rnnlab: recurrent neural networks from first principles, made fast and visible.

import rnnlab
layer = rnnlab.LSTM(10, 20, num_layers=2, bidirectional=True)
output, (h, c) = layer(x)            # x: (T, B, 10) float32
d_x, d_state0 = layer.backward(d_output)
"""

from rnnlab import errors, interop
from rnnlab.errors import RnnlabError
from rnnlab.gradcheck import GradcheckResult, gradcheck
from rnnlab.nn import GRU, LSTM, RNN, Dropout, Embedding, Linear, Module, cross_entropy, mse

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Dropout",
    "Embedding",
    "GradcheckResult",
    "Linear",
    "Module",
    "RnnlabError",
    "cross_entropy",
    "errors",
    "gradcheck",
    "interop",
    "mse",
]
