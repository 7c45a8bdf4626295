"""Activations, a stable softmax and log-softmax, and the derivatives the cells need.

Derivatives are written in terms of the activation's *output* (``y``), the form BPTT
uses: the tape keeps activations, not pre-activations.
"""

from __future__ import annotations

import numpy as np


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1 / (1 + e^(−a)), computed without overflow for large |a|."""
    # tanh form: σ(a) = (1 + tanh(a/2)) / 2 never overflows and keeps the dtype.
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def dsigmoid(y: np.ndarray) -> np.ndarray:
    """σ'(a) given y = σ(a): y (1 − y)."""
    return y * (1.0 - y)


def tanh(a: np.ndarray) -> np.ndarray:
    """tanh(a)."""
    return np.tanh(a)


def dtanh(y: np.ndarray) -> np.ndarray:
    """tanh'(a) given y = tanh(a): 1 − y²."""
    return 1.0 - y * y


def relu(a: np.ndarray) -> np.ndarray:
    """max(a, 0)."""
    return np.maximum(a, 0)


def drelu(y: np.ndarray) -> np.ndarray:
    """relu'(a) given y = relu(a): 1 where y > 0, else 0 (0 at a = 0, as PyTorch)."""
    return (y > 0).astype(y.dtype)


ACTIVATIONS = {"tanh": (tanh, dtanh), "relu": (relu, drelu)}


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax along ``axis``, shifted by the maximum so that exp never overflows."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """softmax along ``axis``: exp(a_k) / Σ_j exp(a_j), stable for any magnitude."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


#: layer normalisation's ε (the compiled steps use the same: ``rnnlab.cells.pointwise``)
NORM_EPS = 1e-5


def layer_norm(
    u: np.ndarray, gain: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Layer normalisation over the last axis (Ba, Kiros & Hinton 2016).

    u (..., n), gain and bias (n,) → (y = gain ⊙ û + bias, û = (u − μ) / σ, 1/σ (..., 1)),
    μ and σ² the mean and variance of each row, σ = √(σ² + ε).
    """
    mean = u.mean(axis=-1, keepdims=True)
    inv_std = 1.0 / np.sqrt(((u - mean) ** 2).mean(axis=-1, keepdims=True) + NORM_EPS)
    u_hat = (u - mean) * inv_std
    return gain * u_hat + bias, u_hat, inv_std


def layer_norm_backward(
    dy: np.ndarray, u_hat: np.ndarray, inv_std: np.ndarray, gain: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """∂L/∂y (..., n) of ``layer_norm`` → (∂L/∂u (..., n), ∂L/∂gain, ∂L/∂bias (n,), summed
    over the leading axes): ∂L/∂u = (d − mean(d) − û mean(d ⊙ û)) / σ with d = gain ⊙ ∂L/∂y."""
    d = dy * gain
    du = inv_std * (
        d - d.mean(axis=-1, keepdims=True) - u_hat * (d * u_hat).mean(axis=-1, keepdims=True)
    )
    leading = tuple(range(dy.ndim - 1))
    return du, (dy * u_hat).sum(axis=leading), dy.sum(axis=leading)
