"""A character- or word-level language model: tokens → recurrent stack → softmax.

    x_t = onehot(token_t)  (or an embedding of it)
    h_t = cell(x_t, h_{t−1})                 any RNN / LSTM / GRU stack
    y_t = softmax(V h_t + c)                 the next token's distribution

Trained with cross-entropy on the next token; the state is carried from chunk to chunk
(truncated BPTT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.cells import cell_named
from rnnlab.errors import ConfigError, DTypeError, ShapeError, check_positive_int, check_probability
from rnnlab.models.config import JsonConfig
from rnnlab.models.size import check_model_fits
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.losses import cross_entropy
from rnnlab.nn.module import Module, make_rng, resolve_dtype
from rnnlab.nn.recurrent import LAYERS, RecurrentLayer


def canonical_cell(cell: str) -> str:
    """The registered name of ``cell`` (``rnnlab.cells.CELLS``; 'rnn', 'tanh', 'relu' too)."""
    return cell_named(cell).name


@dataclass
class LanguageModelConfig(JsonConfig):
    """Everything needed to rebuild a language model (stored in checkpoints as JSON).

    ``embedding_dim = None`` feeds one-hot vectors, as min-char-rnn and char-rnn do;
    ``forget_bias`` 1.0 starts LSTM forget gates mostly open (Jozefowicz et al. 2015).
    """

    vocab_size: int
    cell: str = "lstm"
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    residual: bool = False  #: each layer's input added to its output from the second on
    recurrent_dropout: float = 0.0  #: one mask per sequence on h_{t−1} before W_hh
    zoneout: float = 0.0  #: the share of units that keep their previous value per step
    proj_size: int = 0  #: an LSTM's projection of h to this width (PyTorch's), 0 for none
    recurrent_max: float | None = None  #: IndRNN: |u| ≤ this after every update
    embedding_dim: int | None = None
    forget_bias: float = 1.0
    recurrent_init: str = "uniform"
    input_init: str = "uniform"  #: or "xavier" (see rnnlab.nn.init)
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.cell = canonical_cell(self.cell)
        for name in ("vocab_size", "hidden_size", "num_layers"):
            check_positive_int(name, getattr(self, name))
        if self.embedding_dim is not None:
            check_positive_int("embedding_dim", self.embedding_dim)
        for name in ("dropout", "recurrent_dropout", "zoneout"):
            check_probability(name, getattr(self, name))
        self.dtype = str(resolve_dtype(self.dtype))


def make_recurrent(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    dropout: float = 0.0,
    dtype: object = np.float32,
    seed: int | np.random.Generator | None = None,
    forget_bias: float | None = 1.0,
    **options: Any,
) -> RecurrentLayer:
    """The recurrent stack of a registered cell, by name (``rnnlab.cells.CELLS``);
    ``forget_bias`` applies to a cell with a forget gate f."""
    chosen = cell_named(cell)
    if "recurrent_max" in options and chosen.layer != "IndRNN":
        raise ConfigError(
            f"recurrent_max bounds IndRNN's recurrent vector u; the {chosen.title} has none"
        )
    common = dict(num_layers=num_layers, dropout=dropout, dtype=dtype, seed=seed, **options)
    if "f" in chosen.gates:
        common["forget_bias"] = forget_bias
    layer = LAYERS[chosen.layer]
    return layer(input_size, hidden_size, **chosen.layer_options, **common)


def recurrent_from_config(
    config: Any, input_size: int, dtype: np.dtype, rng: np.random.Generator, **options: Any
) -> RecurrentLayer:
    """The stack a model config describes (its cell, hidden_size, num_layers, dropout,
    residual, recurrent_dropout, zoneout, proj_size, recurrent_max (IndRNN's, where set),
    forget_bias, recurrent_init and input_init);
    ``options`` go to the layer as they are."""
    return make_recurrent(
        config.cell,
        input_size,
        config.hidden_size,
        config.num_layers,
        config.dropout,
        dtype=dtype,
        seed=rng,
        forget_bias=config.forget_bias,
        recurrent_init=config.recurrent_init,
        input_init=config.input_init,
        residual=config.residual,
        recurrent_dropout=config.recurrent_dropout,
        zoneout=config.zoneout,
        proj_size=config.proj_size,
        **({} if config.recurrent_max is None else {"recurrent_max": config.recurrent_max}),
        **options,
    )


class OneHot(Module):
    """ids: (...) → one-hot vectors (..., vocab_size). No parameters."""

    def __init__(self, vocab_size: int, dtype: object = np.float32) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.dtype = resolve_dtype(dtype)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return np.eye(self.vocab_size, dtype=self.dtype)[ids]

    def backward(self, d_out: np.ndarray) -> None:
        """Token ids have no gradient."""


class LanguageModel(Module):
    """Next-token model. ids (T, B) → logits (T, B, V), carrying the recurrent state.

    Submodules: ``embedding`` (an Embedding, or OneHot without ``embedding_dim``), ``rnn``,
    ``head`` (V h + c). ``vocab``, if given, travels with the model for generation.
    """

    def __init__(
        self,
        config: LanguageModelConfig,
        seed: int | np.random.Generator | None = None,
        vocab: Any = None,
    ) -> None:
        super().__init__()
        if vocab is not None and len(vocab) != config.vocab_size:
            raise ConfigError(
                f"vocab has {len(vocab)} symbols but config.vocab_size is {config.vocab_size}"
            )
        check_model_fits(config)  # before anything is allocated
        self.config = config
        #: the CharVocab or WordVocab that maps text to ids (used by generation), or None
        self.vocab = vocab
        rng = make_rng(seed)
        V, dtype = config.vocab_size, np.dtype(config.dtype)
        if config.embedding_dim is None:
            self.embedding: Module = OneHot(V, dtype)
            input_size = V
        else:
            self.embedding = Embedding(V, config.embedding_dim, dtype=dtype, seed=rng)
            input_size = config.embedding_dim
        self.rnn = recurrent_from_config(config, input_size, dtype, rng)
        self.head = Linear(self.rnn.state_size, V, dtype=dtype, seed=rng)
        self.dtype = dtype

    @property
    def rng(self) -> np.random.Generator:
        """The generator behind dropout (its state goes into checkpoints)."""
        return self.rnn.rng

    def __call__(self, ids: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any]:
        """ids: (T, B) ints in [0, V) → (logits (T, B, V), final state)."""
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise DTypeError(f"LanguageModel: ids must be integers, got dtype {ids.dtype}")
        if ids.ndim != 2:
            raise ShapeError(f"LanguageModel: ids must have shape (T, B), got {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.config.vocab_size):
            raise ShapeError(
                f"LanguageModel: token ids must be in [0, {self.config.vocab_size}), "
                f"got values in [{ids.min()}, {ids.max()}]"
            )
        hidden, state = self.rnn(self.embedding(ids), state)
        return self.head(hidden), state

    def backward(self, d_logits: np.ndarray) -> None:
        """d_logits: (T, B, V); accumulates every parameter's gradient."""
        d_hidden = self.head.backward(d_logits)
        one_hot = isinstance(self.embedding, OneHot)  # no parameters below: no ∂L/∂x needed
        d_input, _ = self.rnn.backward(d_hidden, input_grad=not one_hot)
        if not one_hot:
            self.embedding.backward(d_input)

    def compute_loss(
        self, inputs: np.ndarray, targets: np.ndarray, state: Any = None, train: bool = True
    ) -> tuple[float, int, Any]:
        """Mean cross-entropy (nats/token) of predicting ``targets`` from ``inputs``.

        inputs, targets: (T, B) → (loss, number of tokens scored, final state).
        With ``train`` the gradients are accumulated into ``grads``.
        """
        logits, state = self(inputs, state)
        loss, d_logits = cross_entropy(logits, targets)
        if train:
            self.backward(d_logits)
        return loss, targets.size, state

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.to_json().items())
