"""rnnlab: recurrent neural networks from first principles, made fast and visible.

import rnnlab
layer = rnnlab.LSTM(10, 20, num_layers=2, bidirectional=True)
output, (h, c) = layer(x)            # x: (T, B, 10) float32
d_x, d_state0 = layer.backward(d_output)
"""

from rnnlab import backend, errors, interop, show
from rnnlab.backend import get_backend, set_backend, use_backend
from rnnlab.errors import RnnlabError
from rnnlab.generate import next_distribution, sample
from rnnlab.gradcheck import GradcheckResult, gradcheck
from rnnlab.io import load_checkpoint, load_model, save_checkpoint
from rnnlab.models import LanguageModel, LanguageModelConfig
from rnnlab.nn import (
    GRU,
    LSTM,
    RNN,
    Attention,
    Dropout,
    Embedding,
    GRUCell,
    IndRNN,
    Linear,
    LSTMCell,
    Module,
    RNNCell,
    cross_entropy,
    mse,
)
from rnnlab.train import TrainConfig, Trainer

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Attention",
    "Dropout",
    "Embedding",
    "GRUCell",
    "GradcheckResult",
    "IndRNN",
    "LSTMCell",
    "LanguageModel",
    "LanguageModelConfig",
    "Linear",
    "Module",
    "RNNCell",
    "RnnlabError",
    "TrainConfig",
    "Trainer",
    "backend",
    "cross_entropy",
    "errors",
    "get_backend",
    "gradcheck",
    "interop",
    "load_checkpoint",
    "load_model",
    "mse",
    "next_distribution",
    "sample",
    "save_checkpoint",
    "set_backend",
    "show",
    "use_backend",
]
