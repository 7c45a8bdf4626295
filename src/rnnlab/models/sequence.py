"""Supervised sequence models: a recurrent stack, a readout and an output layer.

    h_t = cell(x_t, h_{t−1})                     any RNN / LSTM / GRU stack
    r   = h_T (last), mean_t h_t (mean), or every h_t (all)
    y   = V r + c                                regression: identity output, MSE loss
    p   = softmax(V r + c)                       classification: cross-entropy loss

"last" is many-to-one (forecast the next value, classify a sequence); with lengths it
is each sequence's own last valid step, and with a bidirectional stack it joins the
forward direction's last state to the reverse direction's state at t = 1. "all" is
sequence-to-sequence (one output per step, padding ignored).

Inputs are real vectors x: (T, B, input_size), or token ids (T, B) with
``input_tokens`` (one-hot, or an embedding with ``embedding_dim``). Targets: regression
(B, output_size) or (T, B, output_size); classification ints (B,) or (T, B).
Pass ``(x, lengths)`` as the inputs for sequences of different lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, ShapeError, check_positive_int, check_probability
from rnnlab.models.config import JsonConfig
from rnnlab.models.language import OneHot, canonical_cell, recurrent_from_config
from rnnlab.models.size import check_model_fits
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.losses import cross_entropy, mse
from rnnlab.nn.module import Module, make_rng, resolve_dtype

TASKS = ("regression", "classification")
READOUTS = ("last", "mean", "all")


@dataclass
class SequenceModelConfig(JsonConfig):
    """Everything needed to rebuild a sequence model (stored in checkpoints as JSON)."""

    input_size: int
    output_size: int
    task: str = "regression"
    readout: str = "last"
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    bidirectional: bool = False
    residual: bool = False  #: each layer's input added to its output from the second on
    recurrent_dropout: float = 0.0  #: one mask per sequence on h_{t−1} before W_hh
    zoneout: float = 0.0  #: the share of units that keep their previous value per step
    proj_size: int = 0  #: an LSTM's projection of h to this width (PyTorch's), 0 for none
    recurrent_max: float | None = None  #: IndRNN: |u| ≤ this after every update
    input_tokens: bool = False  #: inputs are ids in [0, input_size), not vectors
    embedding_dim: int | None = None  #: with input_tokens: embed instead of one-hot
    forget_bias: float = 1.0
    recurrent_init: str = "uniform"
    input_init: str = "uniform"  #: or "xavier" (see rnnlab.nn.init)
    dtype: str = "float32"
    labels: list[str] | None = None  #: class names, for classification
    normalisation: dict[str, Any] | None = None  #: e.g. training mean and std of a series

    def __post_init__(self) -> None:
        self.cell = canonical_cell(self.cell)
        if self.labels is not None and len(self.labels) != self.output_size:
            raise ConfigError(
                f"labels has {len(self.labels)} names but output_size is {self.output_size}"
            )
        for name in ("input_size", "output_size", "hidden_size", "num_layers"):
            check_positive_int(name, getattr(self, name))
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.readout not in READOUTS:
            raise ConfigError(f"readout must be one of {READOUTS}, got {self.readout!r}")
        if self.embedding_dim is not None:
            if not self.input_tokens:
                raise ConfigError("embedding_dim needs input_tokens=True (ids as inputs)")
            check_positive_int("embedding_dim", self.embedding_dim)
        for name in ("dropout", "recurrent_dropout", "zoneout"):
            check_probability(name, getattr(self, name))
        self.dtype = str(resolve_dtype(self.dtype))


def split_inputs(inputs: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` or ``(x, lengths)`` → (x, lengths or None)."""
    if isinstance(inputs, tuple):
        if len(inputs) != 2:
            raise ShapeError("inputs must be x or a pair (x, lengths)")
        return inputs[0], None if inputs[1] is None else np.asarray(inputs[1])
    return inputs, None


class SequenceModel(Module):
    """Recurrent stack + readout + linear output. See the module docstring for shapes."""

    def __init__(
        self,
        config: SequenceModelConfig,
        seed: int | np.random.Generator | None = None,
        vocab: Any = None,
    ) -> None:
        super().__init__()
        check_model_fits(config)  # before anything is allocated
        self.config = config
        #: the vocabulary that turned text into input ids, if the inputs are text
        self.vocab = vocab
        rng = make_rng(seed)
        dtype = np.dtype(config.dtype)
        self.dtype = dtype
        input_size = config.input_size
        if config.input_tokens and config.embedding_dim is None:
            self.embedding: Module | None = OneHot(config.input_size, dtype)
        elif config.input_tokens:
            self.embedding = Embedding(config.input_size, config.embedding_dim, dtype, rng)
            input_size = config.embedding_dim
        else:
            self.embedding = None
        self.rnn = recurrent_from_config(
            config, input_size, dtype, rng, bidirectional=config.bidirectional
        )
        features = self.rnn.state_size * self.rnn.num_directions
        self.head = Linear(features, config.output_size, dtype=dtype, seed=rng)
        self._cache: dict | None = None

    @property
    def rng(self) -> np.random.Generator:
        """The generator behind dropout (its state goes into checkpoints)."""
        return self.rnn.rng

    def __call__(self, inputs: Any, state: Any = None) -> tuple[np.ndarray, Any]:
        """inputs: x (T, B, F), ids (T, B) or (x, lengths) → (outputs, final state).

        outputs: (B, output_size) for "last"/"mean", (T, B, output_size) for "all";
        logits for classification.
        """
        x, lengths = split_inputs(inputs)
        if self.embedding is not None:
            x = self.embedding(np.asarray(x))
        output, final = self.rnn(x, state, lengths)
        T, B = output.shape[:2]
        valid = (
            np.ones((T, B, 1), self.dtype)
            if lengths is None
            else (np.arange(T)[:, None] < lengths[None, :])[..., None].astype(self.dtype)
        )
        readout = self.config.readout
        if readout == "last":
            h_n = final[0] if isinstance(final, tuple) else final
            D = self.rnn.num_directions
            features = np.concatenate(list(h_n[-D:]), axis=-1)  # (B, D·R)
        elif readout == "mean":
            features = (output * valid).sum(axis=0) / valid.sum(axis=0)
        else:
            features = output
        self._cache = {"output_shape": output.shape, "valid": valid, "final": final}
        return self.head(features), final

    def backward(self, d_outputs: np.ndarray) -> None:
        """d_outputs like the outputs; accumulates every parameter's gradient."""
        cache = self._need_tape(self._cache)
        d_features = self.head.backward(d_outputs)
        readout, valid = self.config.readout, cache["valid"]
        d_output = np.zeros(cache["output_shape"], self.dtype)
        d_state = None
        if readout == "last":
            final = cache["final"]
            h_n = final[0] if isinstance(final, tuple) else final
            D, R = self.rnn.num_directions, self.rnn.state_size
            d_h = np.zeros_like(h_n)
            for d in range(D):
                d_h[len(h_n) - D + d] = d_features[:, d * R : (d + 1) * R]
            d_state = (d_h, None) if isinstance(final, tuple) else d_h
        elif readout == "mean":
            d_output = valid * (d_features / valid.sum(axis=0))[None]
        else:
            d_output = d_features * valid
        learned = isinstance(self.embedding, Embedding)  # the only input with parameters
        d_input, _ = self.rnn.backward(d_output.astype(self.dtype), d_state, input_grad=learned)
        if learned:
            self.embedding.backward(d_input)
        self._cache = None

    def compute_loss(
        self, inputs: Any, targets: np.ndarray, state: Any = None, train: bool = True
    ) -> tuple[float, int, None]:
        """Mean MSE or cross-entropy of the outputs against ``targets``.

        → (loss, number of targets scored, None): no state is carried between batches.
        With ``train`` the gradients are accumulated into ``grads``.
        """
        outputs, _ = self(inputs, None)
        _, lengths = split_inputs(inputs)
        mask = None
        if self.config.readout == "all" and lengths is not None:
            mask = np.arange(outputs.shape[0])[:, None] < lengths[None, :]
        if self.config.task == "regression":
            targets = np.asarray(targets, dtype=self.dtype).reshape(outputs.shape)
            loss, d_outputs = mse(outputs, targets, mask=mask)
        else:
            loss, d_outputs = cross_entropy(outputs, np.asarray(targets), mask=mask)
        if train:
            self.backward(d_outputs)
        else:
            self._cache = None
        count = int(mask.sum()) if mask is not None else int(np.prod(outputs.shape[:-1]))
        return loss, count, None

    def predict(self, inputs: Any) -> np.ndarray:
        """Outputs in evaluation mode (class probabilities are ``softmax`` of these)."""
        was_training = self.training
        self.eval()
        try:
            outputs, _ = self(inputs)
        finally:
            self.train(was_training)
            self._cache = None
        return outputs

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.to_json().items())
