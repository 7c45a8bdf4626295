"""Masks: variable lengths as a mask over time steps, and recurrent dropout's.

A sequence of length L is valid at steps 0 … L−1. At a padded step the cell does not
move: the state is carried unchanged and the output is zero, which is what PyTorch's
packed sequences compute. Under recurrent dropout a cell multiplies W_hh with
m ⊙ h_{t−1} instead of h_{t−1} (``dropped``).
"""

from __future__ import annotations

import numpy as np


def step_mask(lengths: np.ndarray | None, steps: int, batch: int) -> np.ndarray | None:
    """lengths: (B,) ints in 1 … T → mask: (T, B, 1) bool, True where step t < length.

    Returns None when ``lengths`` is None (every step valid), so callers skip the work.
    """
    if lengths is None:
        return None
    return (np.arange(steps)[:, None] < np.asarray(lengths)[None, :]).reshape(steps, batch, 1)


def reverse_padded(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Reverse each sequence within its own length; padding stays where it is.

    x: (T, B, F) → (T, B, F) with out[t, b] = x[L_b − 1 − t, b] for t < L_b and
    out[t, b] = x[t, b] after. Applying it twice gives ``x`` back, so the same function
    turns a reverse direction's outputs and gradients back into time order.
    """
    if lengths is None:
        return x[::-1]
    steps = np.arange(x.shape[0])[:, None]
    index = np.where(steps < lengths[None, :], lengths[None, :] - 1 - steps, steps)
    return np.take_along_axis(x, index[:, :, None], axis=0)


def dropped(h: np.ndarray, recurrent_mask: np.ndarray | None) -> np.ndarray:
    """h ⊙ m: what a cell multiplies by W_hh under recurrent dropout (Gal & Ghahramani
    2016), m (B, H) one mask per sequence for all its steps, 0 or 1/(1 − p) (so the
    expectation is h); h itself without (None). Applied to ∂L/∂(m ⊙ h) it gives ∂L/∂h
    of that path, and to the h_{t−1} of a weight gradient what W_hh saw."""
    return h if recurrent_mask is None else h * recurrent_mask
