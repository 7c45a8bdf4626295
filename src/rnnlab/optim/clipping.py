"""Gradient clipping: by global L2 norm (torch's clip_grad_norm_) or by value."""

from __future__ import annotations

import math

import numpy as np

from rnnlab.optim.checks import Params, check_grad_arrays, positive


def global_norm(grads: Params) -> float:
    """‖g‖ = √(Σ over every array and element of g²), accumulated in float64."""
    total = 0.0
    for g in check_grad_arrays(grads).values():
        g64 = np.asarray(g, dtype=np.float64).ravel()
        # a sum, not np.dot: a BLAS dot of a large gradient runs on OpenBLAS's threads,
        # which would then spin through the next layer call (see rnnlab.runtime.team)
        total += float(np.square(g64).sum())
    return math.sqrt(total)


def clip_factor(norm: float, max_norm: float) -> float:
    """What clipping at ``max_norm`` multiplies a gradient of global norm ``norm`` by:
    max_norm / (norm + 1e-6) when that is below 1, else 1 (torch's clip_grad_norm_).
    ``norm`` must be finite."""
    return min(1.0, max_norm / (norm + 1e-6))


def clip_grad_norm(grads: Params, max_norm: float) -> float:
    """Scale every gradient in place so the global norm is at most ``max_norm``
    (by ``clip_factor``). Returns ‖g‖ *before* clipping. A non-finite norm (inf or nan) is
    returned as is and the gradients are left untouched, so the caller can detect it and
    skip the step.
    """
    max_norm = positive("max_norm", max_norm)
    norm = global_norm(grads)
    if not math.isfinite(norm):
        return norm
    scale = clip_factor(norm, max_norm)
    if scale < 1:
        for g in grads.values():
            g *= scale
    return norm


def clip_grad_value(grads: Params, clip_value: float) -> None:
    """Clamp every gradient element in place to [−clip_value, clip_value]."""
    clip_value = positive("clip_value", clip_value)
    for g in check_grad_arrays(grads).values():
        np.clip(g, -clip_value, clip_value, out=g)
