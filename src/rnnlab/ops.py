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
