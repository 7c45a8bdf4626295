"""How a character is chosen: the five steps of generation, with the model's own numbers
(panel 5's stepper, ``POST /api/choose``).

    1 read     x_t = onehot(c_t)               (an embedding row, for a model with one)
    2 update   h_t = cell(x_t, h_{t−1})        the top layer's state, h_0 = 0
    3 score    ℓ = V h_t + c                   one logit per character of the vocabulary
    4 softmax  p = softmax(ℓ / T)              then top-k / top-p keep some: q
    5 draw     c_{t+1} ~ q, and feed it back as x_{t+1}

The text is run once through the model's own layers (embedding, recurrent stack, head),
so ℓ is exactly what ``LanguageModel.__call__`` gives after the text's last character,
and q what ``rnnlab.generate.sampling_distribution`` draws from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.generate import sampling_distribution
from rnnlab.models.language import LanguageModel, OneHot
from rnnlab.nn.module import evaluating, inference

DIGITS = 6  #: decimals of the numbers sent
UNITS = 4  #: units of h_t shown in step 2 (those that moved most)
X_VALUES = 8  #: values of an embedding row shown in step 1


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def choose_view(
    model: LanguageModel,
    text: str,
    temperature: float,
    k: int = 5,
    top_k: int | None = None,
    top_p: float | None = None,
    drawn: str | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The five steps after ``text`` (T ≥ 1 known characters) at ``temperature`` > 0.

    ``k``: how many characters steps 3 and 4 list (the highest logits first).
    ``drawn``: the character the sampler drew here (reported with its rank); None: one
    is drawn now as the sampler draws, with ``numpy.random.default_rng(seed)``: the first
    character whose cumulative q exceeds u · Σq, u = rng.random().
    """
    vocab = model.vocab
    symbols = vocab.symbols
    ids = np.asarray(vocab.encode(text), dtype=np.int64)  # (T,)
    with evaluating(model), inference(model):
        x = model.embedding(ids[:, None])  # (T, 1, input size)
        hidden, _ = model.rnn(x, None)  # (T, 1, H): the top layer's h_1 … h_T
        logits = model.head(hidden[-1])[0]  # one per character: V h_T + c
    h = hidden[-1, 0].astype(np.float64)
    h_prev = hidden[-2, 0].astype(np.float64) if len(ids) > 1 else np.zeros_like(h)
    ell = logits.astype(np.float64)
    scaled = ell / temperature
    p = sampling_distribution(ell, temperature)  # softmax(ℓ / T)
    q = sampling_distribution(ell, temperature, top_k, top_p)
    order = np.argsort(-ell, kind="stable")  # highest logit (and p) first, ties by id
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(1, len(order) + 1)

    def item(i: int) -> dict[str, Any]:
        return {
            "symbol": symbols[i],
            "index": int(i),
            "rank": int(rank[i]),
            "logit": _r(ell[i]),
            "scaled": _r(scaled[i]),
            "p": _r(p[i]),
            "q": _r(q[i]),
        }

    current = int(ids[-1])
    one_hot = isinstance(model.embedding, OneHot)
    read: dict[str, Any] = {
        "symbol": symbols[current],
        "index": current,
        "vocab_size": len(symbols),
        "encoding": "one-hot" if one_hot else "embedding",
        "size": int(x.shape[-1]),
    }
    if not one_hot:
        read["values"] = [_r(v) for v in x[-1, 0, :X_VALUES]]
        read["norm"] = _r(np.linalg.norm(x[-1, 0]))
    moved = np.argsort(-np.abs(h - h_prev), kind="stable")[:UNITS]
    update = {
        "t": len(ids),
        "cell": model.config.cell,
        "hidden_size": int(h.size),
        "layers": model.config.num_layers,
        "h_prev_norm": _r(np.linalg.norm(h_prev)),
        "h_norm": _r(np.linalg.norm(h)),
        "units": [{"unit": int(u), "before": _r(h_prev[u]), "after": _r(h[u])} for u in moved],
    }
    shift = scaled.max()  # log Σ exp(ℓ/T), computed without overflow
    log_normaliser = shift + np.log(np.exp(scaled - shift).sum())
    draw: dict[str, Any]
    if drawn is not None:
        chosen = symbols.index(drawn)
        draw = {"by": "given", "seed": None, "u": None}
    else:
        u = float(np.random.default_rng(seed).random())
        cumulative = np.cumsum(q)
        above = np.flatnonzero(cumulative > u * cumulative[-1])
        chosen = int(above[0]) if above.size else len(q) - 1
        draw = {"by": "seed", "seed": seed, "u": _r(u)}
    return {
        "text_length": len(ids),
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "read": read,
        "update": update,
        "score": {
            "items": [item(i) for i in order[:k]],
            "min": _r(ell.min()),
            "max": _r(ell.max()),
        },
        "softmax": {"log_normaliser": _r(log_normaliser), "drawable": int(np.count_nonzero(q))},
        "draw": draw | item(chosen),
    }
