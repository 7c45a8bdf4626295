"""Losses that return their value and their gradient together.

    cross-entropy  L = −(1/N) Σ_n log softmax(y_n)[k_n],  ∂L/∂y_n = (softmax(y_n) − onehot(k_n)) / N
    mean squared   L = (1/N) Σ_n ‖ŷ_n − y_n‖²,            ∂L/∂ŷ_n = 2 (ŷ_n − y_n) / N

N counts the positions that take part: those where ``mask`` is True and the target is
not ``ignore_index`` (for MSE, every element of a kept position).
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import ConfigError, DTypeError, ShapeError
from rnnlab.ops import log_softmax


def _keep_mask(shape: tuple[int, ...], mask: np.ndarray | None, name: str) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != shape:
        raise ShapeError(f"{name}: mask has shape {mask.shape}, expected {shape}")
    return mask


def _reduce(total: np.floating, count: int, reduction: str, name: str) -> tuple[float, float]:
    if reduction == "mean":
        return float(total) / max(count, 1), 1.0 / max(count, 1)
    if reduction == "sum":
        return float(total), 1.0
    raise ConfigError(f"{name}: reduction must be 'mean' or 'sum', got {reduction!r}")


def cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    ignore_index: int | None = None,
    reduction: str = "mean",
) -> tuple[float, np.ndarray]:
    """Softmax cross-entropy over any leading axes.

    logits: (..., V), targets: (...) ints in [0, V), mask: (...) bool or None
    → (loss in nats, ∂loss/∂logits: (..., V)).
    """
    targets = np.asarray(targets)
    if not np.issubdtype(targets.dtype, np.integer):
        raise DTypeError(f"cross_entropy: targets must be integers, got dtype {targets.dtype}")
    if logits.shape[:-1] != targets.shape:
        raise ShapeError(
            f"cross_entropy: logits have shape {logits.shape} and targets {targets.shape}; "
            "expected targets to match every axis of logits but the last"
        )
    keep = _keep_mask(targets.shape, mask, "cross_entropy")
    if ignore_index is not None:
        keep = keep & (targets != ignore_index)
    vocab = logits.shape[-1]
    kept_targets = targets[keep]
    if kept_targets.size and (kept_targets.min() < 0 or kept_targets.max() >= vocab):
        raise ShapeError(f"cross_entropy: targets must be in [0, {vocab}), got values outside")

    log_p = log_softmax(logits)
    safe_targets = np.where(keep, targets, 0)[..., None]
    picked = np.take_along_axis(log_p, safe_targets, axis=-1)[..., 0]
    loss, scale = _reduce(-(picked * keep).sum(), int(keep.sum()), reduction, "cross_entropy")

    d_logits = np.exp(log_p)
    np.put_along_axis(
        d_logits, safe_targets, np.take_along_axis(d_logits, safe_targets, -1) - 1, -1
    )
    d_logits *= (keep * scale)[..., None].astype(logits.dtype)
    return loss, d_logits


def mse(
    prediction: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    reduction: str = "mean",
) -> tuple[float, np.ndarray]:
    """Mean squared error.

    prediction, target: (..., F), mask: prediction.shape[:-1] bool or None
    → (loss, ∂loss/∂prediction: (..., F)).
    """
    target = np.asarray(target)
    if prediction.shape != target.shape:
        raise ShapeError(
            f"mse: prediction has shape {prediction.shape}, target {target.shape}; "
            "expected the same shape"
        )
    keep = _keep_mask(prediction.shape[:-1], mask, "mse")[..., None]
    error = (prediction - target) * keep
    count = int(keep.sum()) * prediction.shape[-1]
    loss, scale = _reduce((error**2).sum(), count, reduction, "mse")
    return loss, (2 * scale * error).astype(prediction.dtype)
