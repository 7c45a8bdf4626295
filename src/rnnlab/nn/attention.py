"""Attention over a sequence of encoder outputs, with an explicit backward.

A decoder state q (the query) looks at the encoder's outputs k_1 … k_S (the keys, which
are also the values) and takes a weighted mean of them, the context:

    e_s = score(q, k_s)           s = 1 … S; −∞ past a sequence's length
    α = softmax(e)                the attention weights, Σ_s α_s = 1
    c = Σ_s α_s k_s               the context

with one of three scores:

    dot        e_s = q · k_s                              Luong, Pham & Manning 2015 (Q = K)
    general    e_s = q · (W_a k_s)                        Luong et al. 2015, W_a (Q, K)
    additive   e_s = v · tanh(W_q q + W_k k_s + b)        Bahdanau, Cho & Bengio 2015,
                                                          W_q (A, Q), W_k (A, K), b, v (A,)

The gradient reaches every k_s twice, through the context and through its score: so
the decoder's loss reaches each encoder step directly, however far back it is, the
shortened path that makes attention a remedy for vanishing gradients.

    attention(query, keys, lengths=None) -> (context, weights)
    attention.backward(d_context, d_weights=None) -> (d_query, d_keys)

query (B, Q) for one decoder step or (T, B, Q) for T of them at once; keys (S, B, K),
time-major as the recurrent layers' outputs; lengths (B,) the valid keys of each
sequence → context (…, B, K), weights (…, B, S) (zero past each length). Each call
keeps its tape on a stack (not under ``rnnlab.nn.module.inference``), and ``backward``
undoes the latest call (as the single-step cells do), so a decoder loop is undone by
the same loop backwards (``forget`` drops the tapes of calls never undone); the
``weights`` of the last call stay on ``last_weights`` for the lab and the probes.
Memory of a tape: B·T·S numbers for the weights, B·S·Q for the general score's W_a k_s,
and B·T·S·A for the additive score's tanh; the query and the keys are kept as given (so
they must not be changed before ``backward``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, ShapeError, StateError, check_positive_int
from rnnlab.nn.checks import check_float_input, check_lengths
from rnnlab.nn.module import Module, make_rng, resolve_dtype
from rnnlab.ops import softmax

KINDS = ("dot", "general", "additive")


class Attention(Module):
    """Attention of a query over keys (see the module's docstring for the equations).

    Parameters: ``general``: ``weight`` (Q, K); ``additive``: ``query_weight`` (A, Q),
    ``key_weight`` (A, K), ``bias`` (A,), ``score_weight`` (A,), A = ``attention_size``
    (default K); ``dot`` has none. Each starts uniform in ±1/√(fan-in), as nn.Linear.
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        kind: str = "additive",
        attention_size: int | None = None,
        *,
        dtype: object = np.float32,
        seed: int | np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"kind must be one of {KINDS}, got {kind!r}")
        self.query_size = check_positive_int("query_size", query_size)
        self.key_size = check_positive_int("key_size", key_size)
        if kind == "dot" and query_size != key_size:
            raise ConfigError(
                f"the dot score q · k needs query_size = key_size, got {query_size} and "
                f"{key_size}; use kind='general' (q · W_a k) for different sizes"
            )
        if attention_size is not None and kind != "additive":
            raise ConfigError(f"attention_size is the additive score's width, not {kind}'s")
        self.kind = kind
        self.attention_size = check_positive_int(
            "attention_size", key_size if attention_size is None else attention_size
        )
        self.dtype = resolve_dtype(dtype)
        rng = make_rng(seed)
        Q, K, A = self.query_size, self.key_size, self.attention_size

        def uniform(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
            bound = 1.0 / np.sqrt(fan_in)
            return rng.uniform(-bound, bound, shape).astype(self.dtype)

        if kind == "general":
            self.add_param("weight", uniform((Q, K), K))
        elif kind == "additive":
            self.add_param("query_weight", uniform((A, Q), Q))
            self.add_param("key_weight", uniform((A, K), K))
            self.add_param("bias", uniform((A,), K))
            self.add_param("score_weight", uniform((A,), A))
        #: keep each call's tape for ``backward``; off for inference
        self.keep_tape = True
        self._tapes: list[dict[str, Any]] = []
        #: the weights (…, B, S) of the last call
        self.last_weights: np.ndarray | None = None

    # -- forward -----------------------------------------------------------------
    def __call__(
        self, query: np.ndarray, keys: np.ndarray, lengths: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """query (B, Q) or (T, B, Q), keys (S, B, K), lengths (B,) or None →
        (context (…, B, K), weights (…, B, S))."""
        name = type(self).__name__
        check_float_input("query", query, self.dtype, name)
        check_float_input("keys", keys, self.dtype, name)
        if keys.ndim != 3 or keys.shape[2] != self.key_size:
            raise ShapeError(
                f"{name}: keys has shape {keys.shape}, expected (S, B, {self.key_size}): "
                "the encoder's outputs, time-major"
            )
        S, B = keys.shape[:2]
        if query.ndim not in (2, 3) or query.shape[-2:] != (B, self.query_size):
            raise ShapeError(
                f"{name}: query has shape {query.shape}, expected ({B}, {self.query_size}) "
                f"for one step or (T, {B}, {self.query_size}) for T steps"
            )
        one_step = query.ndim == 2
        valid = np.ones((B, S), bool)
        if lengths is not None:
            lengths = check_lengths(lengths, S, B, name)
            valid = np.arange(S)[None, :] < lengths[:, None]
        q = (query[None] if one_step else query).transpose(1, 0, 2)  # batch-major views:
        k = keys.transpose(1, 0, 2)  # (B, T, Q) and (B, S, K), kept without a copy

        scores, kept = self._scores(q, k)  # (B, T, S)
        scores = np.where(valid[:, None, :], scores, -np.inf)
        weights = softmax(scores, axis=-1)  # α: 0 past each length
        context = weights @ k  # c = Σ_s α_s k_s: (B, T, K)

        if self.keep_tape:
            self._tapes.append({"q": q, "k": k, "weights": weights, "one_step": one_step, **kept})
        context, weights = context.transpose(1, 0, 2), weights.transpose(1, 0, 2)
        if one_step:
            context, weights = context[0], weights[0]
        self.last_weights = weights
        return context, weights

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """e (B, T, S) from q (B, T, Q) and k (B, S, K), and what backward needs of it."""
        if self.kind == "dot":
            return q @ k.transpose(0, 2, 1), {}
        if self.kind == "general":
            projected = k @ self._params["weight"].T  # W_a k_s: (B, S, Q)
            return q @ projected.transpose(0, 2, 1), {"projected": projected}
        p = self._params
        from_query = q @ p["query_weight"].T  # W_q q: (B, T, A)
        from_keys = k @ p["key_weight"].T + p["bias"]  # W_k k_s + b: (B, S, A)
        u = np.tanh(from_query[:, :, None, :] + from_keys[:, None, :, :])  # (B, T, S, A)
        return u @ p["score_weight"], {"u": u}

    def forget(self) -> None:
        """Drop the tapes of the calls not undone (forward passes that had no backward)."""
        self._tapes.clear()

    # -- backward ----------------------------------------------------------------
    def backward(
        self, d_context: np.ndarray, d_weights: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Undo the latest call not yet undone: d_context like its context (and
        d_weights like its weights, or None) → (∂L/∂query, ∂L/∂keys) in the call's
        layouts. Adds the parameters' gradients to ``grads``."""
        if not self._tapes:
            raise StateError(
                f"{type(self).__name__}.backward: no call left to undo (call it, outside "
                "inference, before backward, once per call)"
            )
        tape = self._tapes[-1]
        q, k, weights, one_step = tape["q"], tape["k"], tape["weights"], tape["one_step"]
        expected = (*weights.shape[:2], self.key_size)
        d_c = self._batch_major(d_context, "d_context", expected, one_step)
        d_alpha = d_c @ k.transpose(0, 2, 1)  # c = Σ_s α_s k_s
        if d_weights is not None:
            d_alpha = d_alpha + self._batch_major(d_weights, "d_weights", weights.shape, one_step)
        d_k = weights.transpose(0, 2, 1) @ d_c
        # α = softmax(e): ∂L/∂e = α ⊙ (∂L/∂α − Σ_s α_s ∂L/∂α_s); 0 where α is 0 (padding)
        d_e = weights * (d_alpha - (weights * d_alpha).sum(axis=-1, keepdims=True))
        d_q, d_k_score = self._score_backward(d_e, q, k, tape)
        self._tapes.pop()
        d_q, d_k = d_q.transpose(1, 0, 2), (d_k + d_k_score).transpose(1, 0, 2)
        return (d_q[0] if one_step else d_q), d_k

    def _score_backward(
        self, d_e: np.ndarray, q: np.ndarray, k: np.ndarray, tape: dict[str, Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """∂L/∂e (B, T, S) → (∂L/∂q (B, T, Q), the score's part of ∂L/∂k (B, S, K));
        adds the parameters' gradients."""
        if self.kind == "dot":  # e_s = q · k_s
            return d_e @ k, d_e.transpose(0, 2, 1) @ q
        grads, p = self._grads, self._params
        if self.kind == "general":  # e_s = q · (W_a k_s)
            d_projected = d_e.transpose(0, 2, 1) @ q  # (B, S, Q)
            grads["weight"] += np.einsum("bsq,bsk->qk", d_projected, k)
            return d_e @ tape["projected"], d_projected @ p["weight"]
        u = tape["u"]  # e_s = v · u_s, u_s = tanh(W_q q + W_k k_s + b)
        grads["score_weight"] += np.einsum("btsa,bts->a", u, d_e)
        d_pre = d_e[..., None] * p["score_weight"] * (1 - u * u)  # (B, T, S, A)
        d_from_query, d_from_keys = d_pre.sum(axis=2), d_pre.sum(axis=1)
        grads["query_weight"] += np.einsum("bta,btq->aq", d_from_query, q)
        grads["key_weight"] += np.einsum("bsa,bsk->ak", d_from_keys, k)
        grads["bias"] += d_from_keys.sum(axis=(0, 1))
        return d_from_query @ p["query_weight"], d_from_keys @ p["key_weight"]

    def _batch_major(
        self, array: np.ndarray, name: str, shape: tuple[int, ...], one_step: bool
    ) -> np.ndarray:
        """A gradient given like the call's output, checked, as (B, T, ·)."""
        check_float_input(name, array, self.dtype, type(self).__name__)
        B, T, width = shape
        expected = (B, width) if one_step else (T, B, width)
        if array.shape != expected:
            raise ShapeError(
                f"{type(self).__name__}.backward: {name} has shape {array.shape}, expected "
                f"{expected} (as the call being undone returned it)"
            )
        return (array[None] if one_step else array).transpose(1, 0, 2)

    def extra_repr(self) -> str:
        text = f"{self.query_size}, {self.key_size}, kind={self.kind!r}"
        if self.kind == "additive" and self.attention_size != self.key_size:
            text += f", attention_size={self.attention_size}"
        return text
