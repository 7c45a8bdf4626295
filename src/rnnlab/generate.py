"""Sampling text from a trained language model, one token at a time.

The prime (the text to continue) is run through the model in one forward call to build
the recurrent state; then each sampled token is fed back as the next input:

    logits_t, state = model(token_{t−1}, state)
    p_t = sampling_distribution(logits_t, temperature, top_k, top_p)
    token_t ~ p_t

The rule, applied in this order to the logits ℓ (shape (V,)):

    temperature T   p ∝ exp(ℓ / T); T = 0 is greedy (all mass on the argmax)
    top_k  = k      keep the k most probable tokens
    top_p  = p      keep the smallest set of most probable tokens with Σ ≥ p (the nucleus)

then renormalise and draw with a ``numpy.random.Generator``. Char or word level is
decided by the vocabulary (``model.vocab`` unless one is passed).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnlab import backend
from rnnlab.cells import CELLS
from rnnlab.errors import ConfigError, ShapeError, check_positive_int
from rnnlab.models.language import LanguageModel
from rnnlab.nn.module import evaluating, inference
from rnnlab.ops import softmax

__all__ = ["iter_sample", "next_distribution", "sample", "sampling_distribution"]

Seed = int | np.random.Generator | None


# ----------------------------------------------------------------------------- the rule


def check_sampling_options(temperature: Any, top_k: Any = None, top_p: Any = None) -> None:
    """ConfigError unless temperature ≥ 0 is finite, top_k ≥ 1 and 0 < top_p ≤ 1 (each
    None: unused)."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float | np.integer | np.floating)
        or not np.isfinite(temperature)
        or temperature < 0
    ):
        raise ConfigError(
            f"temperature must be a finite number >= 0 (0 means greedy), got {temperature!r}"
        )
    if top_k is not None:
        check_positive_int("top_k", top_k)
    if top_p is not None and (
        isinstance(top_p, bool)
        or not isinstance(top_p, int | float | np.integer | np.floating)
        or not 0 < top_p <= 1
    ):
        raise ConfigError(f"top_p must be a number in (0, 1], got {top_p!r}")


def sampling_distribution(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """The distribution a token is drawn from: logits (V,) → probabilities (V,), float64.

    ``p ∝ exp(ℓ / temperature)`` (``temperature = 0``: one-hot on the argmax, the first
    one on ties); then only the ``top_k`` most probable tokens are kept (``top_k > V``
    keeps all); then only the nucleus, the smallest set of most probable tokens whose
    probabilities sum to at least ``top_p`` (at least one token always stays); then the
    kept probabilities are renormalised to sum to 1. Ties are ranked by token id.
    """
    check_sampling_options(temperature, top_k, top_p)
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1 or logits.size == 0:
        raise ShapeError(f"logits must have shape (V,) with V >= 1, got shape {logits.shape}")
    V = logits.size
    if temperature == 0:
        return np.eye(V)[int(np.argmax(logits))]
    # Shift before dividing so that a tiny temperature gives −inf, never inf − inf = nan.
    probs = softmax((logits - logits.max()) / temperature)
    order = np.argsort(-probs, kind="stable")  # most probable first
    if top_k is not None:
        probs[order[int(top_k) :]] = 0.0
        probs /= probs.sum()
    if top_p is not None:
        # the nucleus ends at the first position where the running sum reaches top_p
        cumulative = np.cumsum(probs[order])
        probs[order[int(np.searchsorted(cumulative, top_p, side="left")) + 1 :]] = 0.0
    return probs / probs.sum()


# ----------------------------------------------------------------------------- helpers


def _resolve_vocab(model: LanguageModel, vocab: Any) -> Any:
    vocab = vocab if vocab is not None else getattr(model, "vocab", None)
    if vocab is None:
        raise ConfigError(
            "no vocabulary: the model has none (model.vocab is None) and vocab was not given; "
            "pass vocab=CharVocab/WordVocab, or build the model with vocab=..."
        )
    config = getattr(model, "config", None)
    size = getattr(config, "vocab_size", len(vocab))
    if len(vocab) != size:
        raise ConfigError(f"vocab has {len(vocab)} symbols but the model's vocab_size is {size}")
    return vocab


def _resolve_rng(seed: Any) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise ConfigError(f"seed must be an int, a numpy.random.Generator or None, got {seed!r}")


def _last_logits(model: LanguageModel, ids: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
    """ids (T,) → (logits after the last one (V,), state), in one forward call (T, 1)."""
    with evaluating(model), inference(model):
        logits, state = model(np.asarray(ids, dtype=np.int64)[:, None], state)
    return logits[-1, 0], state


def _model_steps(model: LanguageModel, state: Any) -> Any:
    """A function token → next logits (V,) that carries the state along: the model's own
    forward on a (1, 1) batch (the numpy backend, and bidirectional models)."""
    carried = [state]

    def step(token: int) -> np.ndarray:
        logits, carried[0] = _last_logits(model, np.array([token]), carried[0])
        return logits

    return step


def stack_weights(model: LanguageModel) -> dict[str, Any]:
    """A unidirectional LanguageModel's weights as the compiled generation takes them
    (``rnnlab.backend.generation``): ``table`` (V, G·H) = W_ih e_v + b_ih of layer 0 for
    every token v (through the embedding, if the model has one), per-layer tuples
    ``W_ih``, ``b_ih``, ``W_hh``, ``b_hh`` and the cell's own parameters (C-contiguous),
    and the output layer ``head_W`` (V, H), ``head_b`` (V,)."""
    rnn, dtype = model.rnn, model.dtype
    cells = [rnn.cell_params(layer, 0) for layer in range(rnn.num_layers)]
    if hasattr(model.embedding, "params") and "weight" in model.embedding.params:
        embedded = model.embedding.params["weight"]  # (V, E)
    else:
        embedded = np.eye(model.config.vocab_size, dtype=dtype)  # one-hot rows
    weights: dict[str, Any] = {
        "table": np.ascontiguousarray(embedded @ cells[0]["W_ih"].T + cells[0]["b_ih"])
    }
    for name in cells[0]:
        weights[name] = tuple(np.ascontiguousarray(cell[name]) for cell in cells)
    weights["head_W"] = np.ascontiguousarray(model.head.params["weight"])
    weights["head_b"] = np.ascontiguousarray(model.head.params["bias"])
    return weights


def _compiled_generation(model: LanguageModel, state: Any, logits: np.ndarray) -> Any | None:
    """The compiled generator of ``model`` from ``state`` (``rnnlab.backend.generation``),
    or None: on the reference backend, or for a bidirectional or residual model, one
    with zoneout, whose evaluation mixes p h_{t−1} into h_t, or one whose cell takes two
    products per step, or a projection (the model's own forward then steps it)."""
    if not hasattr(model, "rnn") or model.rnn.bidirectional or not backend.compiled():
        return None
    rnn = model.rnn
    if rnn.residual or rnn.zoneout > 0 or CELLS[rnn.mode].gated_blocks or rnn.proj_size:
        return None
    return backend.generation(model.rnn.mode, stack_weights(model), state, logits)


#: the most tokens per compiled call: the call's start-up (tens of µs) is small per
#: token. Runs start at ``FIRST_RUN`` tokens and double, so streamed text starts soon.
TOKENS_PER_CALL = 128
FIRST_RUN = 8


def _model_token_ids(
    model: LanguageModel,
    logits: np.ndarray,
    state: Any,
    n: int,
    options: tuple[float, int | None, float | None],
    rng: np.random.Generator,
) -> Iterator[int]:
    """The ids of n tokens, each drawn from the logits after the one before (the first
    from ``logits``) with the uniform numbers rng.random() gives one by one, one per
    token taken; the state is not stepped after the last. options: (temperature,
    top_k, top_p). Token by token, through the model's own forward."""
    temperature, top_k, top_p = options
    step = _model_steps(model, state)
    for i in range(n):
        probs = sampling_distribution(logits, temperature, top_k, top_p)
        cumulative = np.cumsum(probs)
        above = np.flatnonzero(cumulative > rng.random() * cumulative[-1])
        token = int(above[0]) if above.size else probs.size - 1
        yield token
        if i < n - 1:  # the last token needs no forward pass
            logits = step(token)


def _compiled_token_ids(
    generation: Any,
    n: int,
    options: tuple[float, int | None, float | None],
    rng: np.random.Generator,
) -> Iterator[int]:
    """``_model_token_ids`` in compiled runs of tokens of ``generation``
    (``_compiled_generation``). ``rng`` still gives one number per token taken: if the
    caller stops in the middle of a run, the numbers of the tokens not taken are given
    back."""
    temperature, top_k, top_p = options
    drawn = 0
    while drawn < n:
        count = min(TOKENS_PER_CALL, max(FIRST_RUN, drawn), n - drawn)
        before = rng.bit_generator.state
        uniforms = rng.random(count)  # the numbers count calls of rng.random() give
        last = drawn + count == n
        tokens = generation.run(uniforms, temperature, top_k or 0, top_p or 0.0, not last)
        taken = 0
        try:
            for token in tokens:
                taken += 1
                yield int(token)
        finally:
            if taken < count:  # the caller stopped: keep the numbers of the tokens taken
                rng.bit_generator.state = before
                rng.random(taken)
        drawn += count


def _start_id(vocab: Any) -> int:
    """The input that begins generation without a prime: "\\n" if known, else id 0."""
    symbols = vocab.symbols
    return symbols.index("\n") if "\n" in symbols else 0


def _piece(vocab: Any, prev: int | None, token: int) -> str:
    """The text ``token`` adds after ``prev``: the token itself plus whatever the
    vocabulary puts between the two (a space between words; nothing between chars)."""
    text = vocab.decode([token])
    if prev is None:
        return text
    head, pair = vocab.decode([prev]), vocab.decode([prev, token])
    return pair[len(head) :] if pair.startswith(head) else text


# ----------------------------------------------------------------------------- sampling


def iter_sample(
    model: LanguageModel,
    n: int = 200,
    prime: str = "",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: Seed = None,
    vocab: Any = None,
) -> Iterator[str]:
    """Like ``sample``, but yield the continuation one decoded token at a time (streaming).

    ``"".join(iter_sample(...)) == sample(...)`` for the same arguments. Each piece
    carries its leading separator, if the vocabulary has one: for a word vocabulary a
    piece is ``" word"`` (or ``","``), so the pieces join into readable text.
    Arguments are checked and the prime is encoded at the call, before the first token;
    the model is in evaluation mode only during its forward calls, so an abandoned
    generator leaves nothing switched.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(f"n must be a non-negative integer (tokens to generate), got {n!r}")
    if not isinstance(prime, str):
        raise ConfigError(f"prime must be a str, got {type(prime).__name__}")
    check_sampling_options(temperature, top_k, top_p)
    vocab = _resolve_vocab(model, vocab)
    rng = _resolve_rng(seed)
    ids = vocab.encode(prime)  # VocabularyError names unknown characters
    # The first piece joins onto the prime's last token, unless the prime ends in a space.
    prev = int(ids[-1]) if len(ids) and not prime[-1].isspace() else None
    if not len(ids):
        ids = np.array([_start_id(vocab)])
    return _generate(model, vocab, ids, prev, int(n), (temperature, top_k, top_p), rng)


def _generate(
    model: LanguageModel,
    vocab: Any,
    ids: np.ndarray,
    prev: int | None,
    n: int,
    options: tuple[float, int | None, float | None],
    rng: np.random.Generator,
) -> Iterator[str]:
    if n == 0:
        return
    logits, state = _last_logits(model, ids, None)
    generation = _compiled_generation(model, state, logits)
    if generation is not None:
        token_ids = _compiled_token_ids(generation, n, options, rng)
    else:
        token_ids = _model_token_ids(model, logits, state, n, options, rng)
    for token in token_ids:
        yield _piece(vocab, prev, token)
        prev = token


def sample(
    model: LanguageModel,
    n: int = 200,
    prime: str = "",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: Seed = None,
    vocab: Any = None,
) -> str:
    """Sample ``n`` tokens continuing ``prime``; return ONLY the continuation.

    The prime is run through the model in one forward call (ids (T, 1)) to build the
    state; then each token is drawn from ``sampling_distribution(logits, temperature,
    top_k, top_p)`` and fed back. With an empty prime generation starts from the zero
    state with the input "\\n" if the vocabulary has it, else token id 0; that start
    token is not part of the output. For a char vocabulary the result has ``n``
    characters; for a word vocabulary it begins with the space joining it to the prime,
    so ``prime + sample(...)`` reads right.

    ``vocab`` defaults to ``model.vocab``. ``seed`` (an int, a Generator or None) makes
    the draw reproducible. Symbols of ``prime`` outside a char vocabulary raise
    VocabularyError naming them (a word vocabulary maps unknown words to ``<unk>``).
    The model runs in evaluation mode (dropout off); its modes are restored afterwards.
    """
    return "".join(iter_sample(model, n, prime, temperature, top_k, top_p, seed, vocab))


def next_distribution(
    model: LanguageModel,
    text: str,
    k: int = 10,
    temperature: float = 1.0,
    vocab: Any = None,
) -> list[tuple[str, float]]:
    """The ``k`` most likely next tokens after ``text``: [(symbol, probability)], most
    likely first (ties by token id); fewer than ``k`` if the vocabulary is smaller.

    Probabilities are softmax(ℓ / temperature) over the whole vocabulary (temperature 0:
    all mass on the argmax), so they sum to at most 1, and to 1 with ``k >= V``.
    """
    if not isinstance(text, str):
        raise ConfigError(f"text must be a str, got {type(text).__name__}")
    if not text:
        raise ConfigError("text must not be empty: give at least one symbol to continue")
    check_positive_int("k", k)
    check_sampling_options(temperature, None, None)
    vocab = _resolve_vocab(model, vocab)
    ids = vocab.encode(text)
    if not len(ids):
        raise ConfigError(f"text must contain at least one token, got {text!r}")
    logits, _ = _last_logits(model, ids, None)
    probs = sampling_distribution(logits, temperature)
    order = np.argsort(-probs, kind="stable")[:k]
    symbols = vocab.symbols
    return [(symbols[i], float(probs[i])) for i in order]
