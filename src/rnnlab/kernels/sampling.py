"""Drawing the next token, compiled: the rule of ``rnnlab.generate.sampling_distribution``.

temperature → softmax → top-k → top-p (nucleus) → renormalise, in float64, with ties
ranked by token id; then the token is the first whose cumulative probability exceeds
a uniform number u ∈ [0, 1) (the inverse of the distribution function).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")
def inverse_cdf(probs, u):
    """The index of the first cumulative probability above u · total: probs (V,) → int."""
    total = 0.0
    for p in probs:
        total += p
    threshold = u * total
    running = 0.0
    for token in range(probs.size):
        running += probs[token]
        if running > threshold:
            return token
    return probs.size - 1


@njit(cache=True, error_model="numpy")
def draw_token(logits, temperature, top_k, top_p, u):
    """logits (V,) → token id. top_k ≤ 0 and top_p ≤ 0 mean "off"; temperature 0: argmax."""
    V = logits.size
    if temperature == 0.0:
        return int(np.argmax(logits))
    top = logits.max()
    probs = np.empty(V, dtype=np.float64)
    total = 0.0
    for j in range(V):
        probs[j] = np.exp((np.float64(logits[j]) - top) / temperature)
        total += probs[j]
    probs /= total
    if top_k > 0 or top_p > 0.0:
        order = np.argsort(-probs, kind="mergesort")  # stable: ties by token id
        if top_k > 0 and top_k < V:
            for rank in range(top_k, V):
                probs[order[rank]] = 0.0
            probs /= probs.sum()
        if top_p > 0.0:
            running = 0.0
            keep = V
            for rank in range(V):
                running += probs[order[rank]]
                if running >= top_p:
                    keep = rank + 1
                    break
            for rank in range(keep, V):
                probs[order[rank]] = 0.0
        probs /= probs.sum()
    return inverse_cdf(probs, u)
