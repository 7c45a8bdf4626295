"""Inverted dropout: in training, zero each unit with probability p, scale the rest by 1/(1−p)."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import check_probability
from rnnlab.nn.module import Module, make_rng


def dropout_mask(
    shape: tuple[int, ...], p: float, rng: np.random.Generator, dtype: np.dtype
) -> np.ndarray:
    """A mask of 0 and 1/(1−p), each unit kept with probability 1 − p."""
    keep = rng.random(shape) >= p
    return keep.astype(dtype) / dtype.type(1 - p)


class Dropout(Module):
    """x: any shape → x ⊙ mask in training, x unchanged in evaluation."""

    def __init__(self, p: float = 0.5, seed: int | np.random.Generator | None = None) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.rng = make_rng(seed)
        self._mask: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Apply dropout; the mask is kept for backward."""
        if not self.training or self.p == 0:
            self._mask = np.ones((), dtype=x.dtype)
            return x
        self._mask = dropout_mask(x.shape, self.p, self.rng, x.dtype)
        return x * self._mask

    def backward(self, d_out: np.ndarray) -> np.ndarray:
        """∂L/∂x = ∂L/∂y ⊙ mask."""
        return d_out * self._need_tape(self._mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"
