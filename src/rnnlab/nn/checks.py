"""Input validation shared by the layers: each check names the argument and what it expected."""

from __future__ import annotations

import numpy as np

from rnnlab.errors import DTypeError, ShapeError


def check_float_input(name: str, x: object, dtype: np.dtype, layer: str) -> np.ndarray:
    """``x`` must be a floating array of the layer's dtype."""
    if not isinstance(x, np.ndarray):
        raise DTypeError(f"{layer}: {name} must be a numpy array, got {type(x).__name__}")
    if x.dtype != dtype:
        raise DTypeError(
            f"{layer}: {name} has dtype {x.dtype}, expected {dtype} (the layer's dtype); "
            f"convert with {name}.astype(np.{dtype})"
        )
    return x


def check_last_dim(name: str, x: np.ndarray, size: int, layer: str, what: str) -> None:
    """The last axis of ``x`` must have ``size`` entries."""
    if x.shape[-1] != size:
        raise ShapeError(
            f"{layer}: {name} has {x.shape[-1]} features in its last axis "
            f"(shape {x.shape}), expected {what} = {size}"
        )


def check_shape(name: str, x: np.ndarray, expected: tuple[int, ...], layer: str) -> None:
    """``x`` must have exactly the ``expected`` shape."""
    if x.shape != expected:
        raise ShapeError(f"{layer}: {name} has shape {x.shape}, expected {expected}")


def check_lengths(lengths: object, steps: int, batch: int, layer: str) -> np.ndarray:
    """lengths: (B,) integers in 1 … T → int64 array."""
    values = np.asarray(lengths)
    if not np.issubdtype(values.dtype, np.integer):
        raise DTypeError(f"{layer}: lengths must be integers, got dtype {values.dtype}")
    if values.shape != (batch,):
        raise ShapeError(
            f"{layer}: lengths has shape {values.shape}, expected ({batch},), one length "
            "per sequence in the batch"
        )
    if values.min() < 1:
        raise ShapeError(
            f"{layer}: lengths must be positive, got {int(values.min())} "
            f"at batch index {int(values.argmin())}"
        )
    if values.max() > steps:
        raise ShapeError(
            f"{layer}: lengths must be at most the sequence length T = {steps}, got "
            f"{int(values.max())} at batch index {int(values.argmax())}"
        )
    return values.astype(np.int64)
