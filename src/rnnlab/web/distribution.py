"""The next-character distribution as panel 5 draws it: what the model gives each
character, and what the sampler (temperature, top-k, top-p) can actually draw."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.generate import next_distribution, sampling_distribution
from rnnlab.models.language import LanguageModel

DIGITS = 6  #: decimals of the probabilities sent


def next_view(
    model: LanguageModel,
    text: str,
    k: int,
    temperature: float,
    top_k: int | None = None,
    top_p: float | None = None,
    include: str | None = None,
) -> dict[str, Any]:
    """The ``k`` likeliest next characters after ``text``, most likely first.

    Each item: ``p`` = softmax(ℓ / temperature), the model's probability over the whole
    vocabulary, and ``q`` = the probability the sampler draws it with ``top_k`` and
    ``top_p`` (``sampling_distribution``: 0 for a character they cut, the kept ones
    renormalised; ``q = p`` without them). ``drawable``: how many characters of the
    vocabulary have q > 0. ``include``: a character to report as ``chosen`` (with its
    rank from 1) even when it is not among the ``k``: the one the sampler drew.
    """
    ranked = next_distribution(model, text, len(model.vocab.symbols), temperature)
    index = {s: i for i, s in enumerate(model.vocab.symbols)}
    probs = np.zeros(len(index))
    for symbol, p in ranked:
        probs[index[symbol]] = p
    if top_k is None and top_p is None:
        drawn = probs
    else:  # the sampler's own rule, on logits log p (softmax(log p) = p)
        with np.errstate(divide="ignore"):
            drawn = sampling_distribution(np.log(probs), 1.0, top_k, top_p)

    def item(rank: int, symbol: str, p: float) -> dict[str, Any]:
        q = float(drawn[index[symbol]])
        return {"symbol": symbol, "p": round(p, DIGITS), "q": round(q, DIGITS), "rank": rank}

    answer: dict[str, Any] = {
        "text_length": len(text),
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "drawable": int(np.count_nonzero(drawn)),
        "vocab_size": len(index),
        "items": [item(r + 1, s, p) for r, (s, p) in enumerate(ranked[:k])],
        "chosen": None,
    }
    if include is not None:
        rank = next(r for r, (s, _) in enumerate(ranked) if s == include)
        answer["chosen"] = item(rank + 1, include, ranked[rank][1])
    return answer
