"""An encoder–decoder (Sutskever et al. 2014) with or without attention (Luong, Pham &
Manning 2015, global attention).

    k_1 … k_S, s = encoder(E_s x_1 … E_s x_S)          the keys, and the final state
    o_t, state = decoder(E_t y_{t−1}, state)            from s; y_0 = START
    c_t, α_t = attention(o_t, k_1 … k_S)                (none: h̃_t = o_t)
    h̃_t = tanh(W_c [c_t; o_t] + b_c)
    p(y_t | y_<t, x) = softmax(V h̃_t + b)

The encoder is any registered cell, bidirectional if asked; the decoder the same cell
with D·H units (D = 2 for a bidirectional encoder), so that each of its layers starts
from the encoder layer's final state, the two directions side by side. Training feeds
the true previous token (teacher forcing), so the decoder runs over the whole target in
one call of the compiled layer; ``greedy`` and ``beam_search`` decode a token at a time.

Shapes, time-major as the layers: sources (S, B) ids with source_lengths (B,); target
inputs (U, B) = START, y_1 … y_{U−1}, with their lengths (B,); targets (U, B) = y_1 …
y_U (END last).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.cells import cell_named
from rnnlab.data.text import PairVocab
from rnnlab.errors import ConfigError, ShapeError, StateError, check_positive_int
from rnnlab.memory import check_fits
from rnnlab.models.config import JsonConfig
from rnnlab.models.language import canonical_cell, make_recurrent
from rnnlab.nn.attention import KINDS, Attention
from rnnlab.nn.embedding import Embedding
from rnnlab.nn.linear import Linear
from rnnlab.nn.losses import cross_entropy
from rnnlab.nn.module import Module, evaluating, inference, make_rng, resolve_dtype
from rnnlab.ops import log_softmax

ATTENTION = ("none", *KINDS)


@dataclass
class Seq2SeqConfig(JsonConfig):
    """Everything needed to rebuild an encoder–decoder (stored in checkpoints as JSON)."""

    source_vocab_size: int
    target_vocab_size: int
    start_id: int  #: the target id the decoder starts from (``rnnlab.data.pairs.START``)
    end_id: int  #: the target id that ends a decoded sequence (``rnnlab.data.pairs.END``)
    cell: str = "lstm"
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = True  #: the encoder's
    attention: str = "general"  #: none, dot, general or additive
    embedding_dim: int = 32
    forget_bias: float = 1.0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        self.cell = canonical_cell(self.cell)
        for name in ("source_vocab_size", "target_vocab_size", "hidden_size", "num_layers"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("embedding_dim", self.embedding_dim)
        for name in ("start_id", "end_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ConfigError(f"{name} must be an integer id, got {value!r}")
            if not 0 <= value < self.target_vocab_size:
                raise ConfigError(
                    f"{name} must be a target id in [0, {self.target_vocab_size}), got {value!r}"
                )
            setattr(self, name, int(value))
        if self.start_id == self.end_id:
            raise ConfigError(f"start_id and end_id must differ, both are {self.start_id}")
        if self.attention not in ATTENTION:
            raise ConfigError(f"attention must be one of {ATTENTION}, got {self.attention!r}")
        self.dtype = str(resolve_dtype(self.dtype))

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def numbers_per_token(self) -> int:
        """What a training step keeps per token, at least (for the memory checks): each
        layer's gates, states and input, the attention's read-out, the logits and their
        gradient."""
        cell = cell_named(self.cell)
        H, L, D = self.hidden_size, self.num_layers, self.directions
        W = D * H
        return (
            L * D * (cell.blocks + 3) * H
            + L * (cell.blocks + 3) * W
            + 4 * W
            + 2 * self.target_vocab_size
        )

    def parameter_count(self) -> int:
        """The model's parameters, from the config alone (for the memory checks)."""
        cell = cell_named(self.cell)
        H, E, L, D = self.hidden_size, self.embedding_dim, self.num_layers, self.directions
        W = D * H

        def layer(fan_in: int, units: int) -> int:  # W_ih, b_ih, W_hh, b_hh, the cell's own
            recurrent = units + 1 if cell.recurrent else 0
            return cell.blocks * units * (fan_in + 1 + recurrent) + cell.parameter_rows * units

        encoder = D * (layer(E, H) + (L - 1) * layer(W, H))
        decoder = layer(E, W) + (L - 1) * layer(W, W)
        attention = {"none": 0, "dot": 0, "general": W * W, "additive": 2 * W * W + 2 * W}
        combine = 2 * W * W + W if self.attention != "none" else 0
        head = (W + 1) * self.target_vocab_size
        embeddings = E * (self.source_vocab_size + self.target_vocab_size)
        return embeddings + encoder + decoder + attention[self.attention] + combine + head


class Seq2Seq(Module):
    """Encoder–decoder over token ids (see the module's docstring).

    Submodules: ``source_embedding``, ``encoder``, ``target_embedding``, ``decoder``,
    ``attention`` (None without), ``combine`` (W_c, with attention), ``head`` (V).
    ``vocab``, if given (a ``PairVocab``), travels with the model for ``translate``.
    """

    def __init__(
        self,
        config: Seq2SeqConfig,
        seed: int | np.random.Generator | None = None,
        vocab: PairVocab | None = None,
    ) -> None:
        super().__init__()
        if vocab is not None and (len(vocab.source), len(vocab.target)) != (
            config.source_vocab_size,
            config.target_vocab_size,
        ):
            raise ConfigError(
                f"vocab has {len(vocab.source)} source and {len(vocab.target)} target symbols "
                f"but the config {config.source_vocab_size} and {config.target_vocab_size}"
            )
        self.vocab = vocab
        itemsize = 8 if config.dtype == "float64" else 4
        check_fits(  # before anything is allocated
            config.parameter_count() * itemsize * 4,  # weights, gradients, Adam's two slots
            f"a {config.num_layers}×{config.hidden_size} encoder–decoder",
            "choose a smaller hidden size or fewer layers",
        )
        self.config = config
        rng = make_rng(seed)
        dtype = np.dtype(config.dtype)
        self.dtype = dtype
        E, H, L = config.embedding_dim, config.hidden_size, config.num_layers
        W = config.directions * H  # the decoder's width: both directions side by side
        recurrent = {"dtype": dtype, "seed": rng, "forget_bias": config.forget_bias}
        self.source_embedding = Embedding(config.source_vocab_size, E, dtype, rng)
        self.encoder = make_recurrent(
            config.cell, E, H, L, bidirectional=config.bidirectional, **recurrent
        )
        self.target_embedding = Embedding(config.target_vocab_size, E, dtype, rng)
        self.decoder = make_recurrent(config.cell, E, W, L, **recurrent)
        self.attention: Attention | None = None
        if config.attention != "none":
            self.attention = Attention(W, W, config.attention, dtype=dtype, seed=rng)
            self.combine = Linear(2 * W, W, dtype=dtype, seed=rng)
        self.head = Linear(W, config.target_vocab_size, dtype=dtype, seed=rng)
        self._cache: dict[str, Any] | None = None
        #: the attention weights (U, B, S) of the last forward pass, or None
        self.last_weights: np.ndarray | None = None

    @property
    def rng(self) -> np.random.Generator:
        """The generator behind dropout, shared by every layer (checkpoints carry it)."""
        return self.encoder.rng

    # -- the pieces ----------------------------------------------------------------
    def encode(self, sources: np.ndarray, lengths: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """sources (S, B) ids → keys (S, B, D·H) and the decoder's first state."""
        keys, final = self.encoder(self.source_embedding(sources), None, lengths)
        return keys, self._bridge(final)

    def _bridge(self, final: Any) -> Any:
        """The encoder's final state (L·D, B, H) → the decoder's (L, B, D·H): each layer's
        directions side by side (h, and c for an LSTM)."""
        L, D = self.config.num_layers, self.config.directions

        def side_by_side(part: np.ndarray) -> np.ndarray:
            B, H = part.shape[1:]
            return part.reshape(L, D, B, H).transpose(0, 2, 1, 3).reshape(L, B, D * H)

        return tuple(map(side_by_side, final)) if isinstance(final, tuple) else side_by_side(final)

    def _unbridge(self, d_state: Any) -> Any:
        """∂L/∂(the decoder's first state) → ∂L/∂(the encoder's final state)."""
        L, D = self.config.num_layers, self.config.directions

        def apart(part: np.ndarray) -> np.ndarray:
            B, W = part.shape[1:]
            return part.reshape(L, B, D, W // D).transpose(0, 2, 1, 3).reshape(L * D, B, W // D)

        return tuple(map(apart, d_state)) if isinstance(d_state, tuple) else apart(d_state)

    def _read_out(
        self, outputs: np.ndarray, keys: np.ndarray, lengths: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Decoder outputs (…, B, W) → (logits (…, B, V), h̃, attention weights)."""
        if self.attention is None:
            return self.head(outputs), None, None
        context, weights = self.attention(outputs, keys, lengths)
        combined = np.tanh(self.combine(np.concatenate([context, outputs], axis=-1)))
        return self.head(combined), combined, weights

    # -- training ------------------------------------------------------------------
    def __call__(self, inputs: tuple) -> np.ndarray:
        """inputs = (sources (S, B), source_lengths (B,) or None, target_inputs (U, B),
        target_lengths (B,) or None) → logits (U, B, V) of the next target token."""
        sources, source_lengths, target_inputs, target_lengths = _unpack(inputs)
        if self.attention is not None:  # backward undoes this call only: no stale tapes
            self.attention.forget()
        keys, state = self.encode(sources, source_lengths)
        embedded = self.target_embedding(target_inputs)
        outputs, _ = self.decoder(embedded, state, target_lengths)
        logits, combined, weights = self._read_out(outputs, keys, source_lengths)
        self._cache = {"keys_shape": keys.shape, "combined": combined}
        self.last_weights = weights  # (U, B, S): where each output token looked
        return logits

    def backward(self, d_logits: np.ndarray) -> None:
        """d_logits like the logits; accumulates every parameter's gradient."""
        cache = self._need_tape(self._cache)
        if self.attention is not None and not self.attention._tapes:
            raise StateError(
                "Seq2Seq.backward: the forward pass kept no tape (it ran under inference)"
            )
        d_read = self.head.backward(d_logits)
        d_keys = np.zeros(cache["keys_shape"], self.dtype)
        if self.attention is None:
            d_outputs = d_read
        else:  # h̃ = tanh(W_c [c; o] + b_c)
            combined = cache["combined"]
            d_both = self.combine.backward(d_read * (1 - combined * combined))
            W = d_both.shape[-1] // 2
            d_query, d_keys = self.attention.backward(d_both[..., :W])
            d_outputs = d_both[..., W:] + d_query
        d_embedded, d_state = self.decoder.backward(d_outputs.astype(self.dtype))
        self.target_embedding.backward(d_embedded)
        d_sources, _ = self.encoder.backward(d_keys.astype(self.dtype), self._unbridge(d_state))
        self.source_embedding.backward(d_sources)
        self._cache = None

    def compute_loss(
        self, inputs: tuple, targets: np.ndarray, state: Any = None, train: bool = True
    ) -> tuple[float, int, None]:
        """Mean cross-entropy (nats per target token) of the next-token logits against
        ``targets`` (U, B), over each target's length → (loss, tokens scored, None)."""
        if train:
            logits = self(inputs)
        else:
            with inference(self):  # no tapes: nothing to undo
                logits = self(inputs)
        target_lengths = _unpack(inputs)[3]
        mask = None
        if target_lengths is not None:
            mask = np.arange(logits.shape[0])[:, None] < target_lengths[None, :]
        loss, d_logits = cross_entropy(logits, np.asarray(targets), mask=mask)
        if train:
            self.backward(d_logits)
        else:
            self._cache = None
        count = int(mask.sum()) if mask is not None else int(np.prod(logits.shape[:-1]))
        return loss, count, None

    # -- decoding ------------------------------------------------------------------
    def _step(self, tokens: np.ndarray, state: Any, keys: np.ndarray, lengths: Any) -> tuple:
        """One decoder step for a batch: tokens (B,) → (log p (B, V), the next state,
        attention weights (B, S) or None)."""
        outputs, state = self.decoder(self.target_embedding(tokens[None]), state)
        logits, _, weights = self._read_out(outputs[0], keys, lengths)
        log_p = log_softmax(logits.astype(np.float64))
        log_p[:, self.config.start_id] = -np.inf  # START is an input, never an output
        return log_p, state, weights

    def greedy(
        self, sources: np.ndarray, lengths: np.ndarray | None = None, max_length: int = 50
    ) -> list[list[int]]:
        """The most likely next token at every step, for each source (S, B) → B lists of
        target ids (END not included), at most ``max_length`` each."""
        check_positive_int("max_length", max_length)
        sources = np.asarray(sources)
        if sources.ndim != 2:
            raise ShapeError(
                f"greedy: sources has shape {sources.shape}, expected (S, B) ids (one source "
                "of shape (S,) is source[:, None])"
            )
        with inference(self), evaluating(self):
            keys, state = self.encode(sources, lengths)
            B = keys.shape[1]
            tokens = np.full(B, self.config.start_id, np.int64)
            decoded: list[list[int]] = [[] for _ in range(B)]
            done = np.zeros(B, bool)
            for _ in range(max_length):
                log_p, state, _ = self._step(tokens, state, keys, lengths)
                tokens = log_p.argmax(axis=-1)
                for b in np.flatnonzero(~done):
                    if tokens[b] == self.config.end_id:
                        done[b] = True
                    else:
                        decoded[b].append(int(tokens[b]))
                if done.all():
                    break
        return decoded

    def greedy_steps(
        self, source: np.ndarray, max_length: int = 50
    ) -> tuple[list[int], np.ndarray, np.ndarray | None]:
        """``greedy`` for one source (S,) ids, keeping what each step saw (for the web
        lab's attention panel) → (the U tokens emitted, END last if it was reached;
        log p (U, V) of every step; the attention weights (U, S), None without)."""
        check_positive_int("max_length", max_length)
        source = np.asarray(source)
        if source.ndim != 1 or source.size == 0:
            raise ShapeError(f"source must be one sequence of ids (S,), got shape {source.shape}")
        tokens: list[int] = []
        log_ps, weights = [], []
        with inference(self), evaluating(self):
            keys, state = self.encode(source[:, None], None)
            token = self.config.start_id
            for _ in range(max_length):
                log_p, state, alpha = self._step(np.array([token]), state, keys, None)
                token = int(log_p[0].argmax())
                tokens.append(token)
                log_ps.append(log_p[0])
                if alpha is not None:
                    weights.append(np.array(alpha[0]))
                if token == self.config.end_id:
                    break
        return tokens, np.stack(log_ps), np.stack(weights) if weights else None

    def beam_search(
        self, source: np.ndarray, width: int = 5, max_length: int = 50, alpha: float = 0.0
    ) -> list[int]:
        """The most likely target of one source (S,) ids by beam search: keep the
        ``width`` best partial sequences at each step; a sequence ends at END or at
        ``max_length`` tokens. Score: log p(y | x) / len(y)^alpha (length normalisation,
        Wu et al. 2016 use a similar penalty; alpha = 0: the plain log-probability, len
        counting END) → target ids without END."""
        check_positive_int("width", width)
        check_positive_int("max_length", max_length)
        if not alpha >= 0:
            raise ConfigError(f"alpha must be ≥ 0, got {alpha!r}")
        source = np.asarray(source)
        if source.ndim != 1 or source.size == 0:
            raise ShapeError(f"source must be one sequence of ids (S,), got shape {source.shape}")
        end = self.config.end_id
        with inference(self), evaluating(self):
            keys, state = self.encode(source[:, None], None)
            beams = [([], 0.0)]  # (tokens, log p), alive
            finished: list[tuple[list[int], float, float]] = []  # (tokens, log p, score)
            tiled: dict[int, np.ndarray] = {}  # the keys once per live beam, by beam count
            for step in range(max_length):
                count = len(beams)
                if count not in tiled:
                    tiled[count] = np.repeat(keys, count, 1)
                tokens = np.array(
                    [b[0][-1] if b[0] else self.config.start_id for b in beams], np.int64
                )
                log_p, state, _ = self._step(tokens, state, tiled[count], None)
                totals = np.array([b[1] for b in beams])[:, None] + log_p  # (count, V)
                best = np.argsort(totals, axis=None)[::-1][:width]
                rows, ids = np.unravel_index(best, totals.shape)
                survivors, kept = [], []
                for row, token in zip(rows, ids, strict=True):
                    sequence, total = beams[row][0] + [int(token)], float(totals[row, token])
                    if token == end or step == max_length - 1:
                        finished.append((sequence, total, total / len(sequence) ** alpha))
                    else:
                        survivors.append((sequence, total))
                        kept.append(row)
                if alpha == 0 and finished:  # log p only falls as a sequence grows
                    best = max(total for _, total, _ in finished)
                    alive = [k for k, (_, total) in enumerate(survivors) if total > best]
                    survivors, kept = [survivors[k] for k in alive], [kept[k] for k in alive]
                if not survivors:
                    break
                beams = survivors
                state = _rows(state, np.array(kept))
        tokens, _, _ = max(finished, key=lambda item: item[2])
        return tokens[:-1] if tokens and tokens[-1] == end else tokens

    def translate(self, text: str, width: int = 1, max_length: int = 50, alpha: float = 0.0) -> str:
        """A source text → the decoded target text, through ``vocab``: greedy with
        ``width`` 1, beam search with more."""
        if self.vocab is None:
            raise StateError(
                "this Seq2Seq has no vocabulary to read text with: build it with "
                "vocab=PairVocab(source, target), or decode ids with greedy/beam_search"
            )
        source = self.vocab.source.encode(text)
        if source.size == 0:
            raise ShapeError("translate: the text is empty; expected at least one symbol")
        if width == 1:
            tokens = self.greedy(source[:, None], None, max_length)[0]
        else:
            tokens = self.beam_search(source, width, max_length, alpha)
        return self.vocab.target.decode(tokens)

    def log_probability(self, source: np.ndarray, target: list[int]) -> float:
        """log p(target | source) of one source (S,) and target ids (END included if it
        is part of the sequence): what ``beam_search`` ranks by with alpha = 0."""
        with inference(self), evaluating(self):
            keys, state = self.encode(np.asarray(source)[:, None], None)
            total, previous = 0.0, self.config.start_id
            for token in target:
                log_p, state, _ = self._step(np.array([previous]), state, keys, None)
                total += float(log_p[0, token])
                previous = token
        return total


def _rows(state: Any, rows: np.ndarray) -> Any:
    """The decoder state of the given beams: (L, count, W) arrays, indexed on axis 1."""
    if isinstance(state, tuple):
        return tuple(part[:, rows] for part in state)
    return state[:, rows]


def _unpack(inputs: Any) -> tuple:
    """(sources, source_lengths, target_inputs, target_lengths), checked."""
    if not (isinstance(inputs, tuple) and len(inputs) == 4):
        given = f"a tuple of {len(inputs)}" if isinstance(inputs, tuple) else type(inputs).__name__
        raise ShapeError(
            "Seq2Seq inputs must be (sources, source_lengths, target_inputs, target_lengths), "
            f"got {given}"
        )
    sources, source_lengths, target_inputs, target_lengths = inputs
    sources, target_inputs = np.asarray(sources), np.asarray(target_inputs)
    if sources.ndim != 2 or target_inputs.ndim != 2 or sources.shape[1] != target_inputs.shape[1]:
        raise ShapeError(
            f"Seq2Seq: sources {sources.shape} and target inputs {target_inputs.shape} must "
            "be (S, B) and (U, B) with the same B"
        )
    return sources, source_lengths, target_inputs, target_lengths
