"""The scalar functions a cell's compiled steps are written with.

Each is a plain Python function (what it computes) with a compiled implementation that
numba inlines into the loops. Numba reads a float literal as float64, which would turn
float32 arithmetic into float64 (and tanh into the libm call), so a step writes 1 − z as
``complement(z)`` and uses these functions rather than literals: their constants carry
the argument's type. Without numba (the reference backend) the module still imports.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from numba import types
    from numba.core.extending import overload
except ImportError:  # pragma: no cover - the NumPy reference needs none of this
    types = overload = None

_OPTIONS = {"cache": True, "error_model": "numpy"}


def _compiled_as(function: Callable[..., Any]) -> Callable[..., Any]:
    """Register the decorated factory as numba's implementation of ``function``."""
    if overload is None:  # pragma: no cover
        return lambda factory: factory
    return overload(function, inline="always", jit_options=_OPTIONS)


# tanh in float32 as a rational function (the minimax fit used by Eigen's fast tanh):
# tanh(a) ≈ a·P(a²) / Q(a²) on |a| ≤ 7.9053, where tanh(a) rounds to ±1 in float32.
# It has no branch and no libm call, so the compiler vectorises the gate loops; its
# error is a few units in the last place (< 2e-7). float64 keeps the exact libm tanh.
_CLAMP = np.float32(7.90531110763549805)
_ALPHA = tuple(
    np.float32(c)
    for c in (
        4.89352455891786e-03,
        6.37261928875436e-04,
        1.48572235717979e-05,
        5.12229709037114e-08,
        -8.60467152213735e-11,
        2.00018790482477e-13,
        -2.76076847742355e-16,
    )
)
_BETA = tuple(
    np.float32(c)
    for c in (
        4.89352518554385e-03,
        2.26843463243900e-03,
        1.18534705686654e-04,
        1.19825839466702e-06,
    )
)


def tanh(a):  # pragma: no cover - compiled only
    """tanh(a): exact in float64, a rational fit within a few ulp in float32."""
    return math.tanh(a)


@_compiled_as(tanh)
def _tanh_impl(a):
    if a != types.float32:
        return lambda a: math.tanh(a)
    a1, a3, a5, a7, a9, a11, a13 = _ALPHA
    b0, b2, b4, b6 = _BETA
    clamp = _CLAMP

    def rational(a):
        x = min(max(a, -clamp), clamp)
        x2 = x * x
        p = x2 * (x2 * (x2 * (x2 * (x2 * (x2 * a13 + a11) + a9) + a7) + a5) + a3) + a1
        q = x2 * (x2 * (x2 * b6 + b4) + b2) + b0
        return x * p / q

    return rational


def sigmoid(a):  # pragma: no cover - compiled only
    """σ(a) = 1 / (1 + e^(−a)), as (1 + tanh(a/2)) / 2: no overflow for any a."""
    return 0.5 + 0.5 * math.tanh(0.5 * a)


def dsigmoid(y):  # pragma: no cover - compiled only
    """σ'(a) given y = σ(a): y (1 − y)."""
    return y * (1.0 - y)


def dtanh(y):  # pragma: no cover - compiled only
    """tanh'(a) given y = tanh(a): 1 − y²."""
    return 1.0 - y * y


@_compiled_as(sigmoid)
def _sigmoid_impl(a):
    half = np.float32(0.5) if a == types.float32 else 0.5
    return lambda a: half + half * tanh(half * a)


@_compiled_as(dsigmoid)
def _dsigmoid_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: y * (one - y)


@_compiled_as(dtanh)
def _dtanh_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one - y * y


def complement(y):  # pragma: no cover - compiled only
    """1 − y in the type of y."""
    return 1.0 - y


@_compiled_as(complement)
def _complement_impl(y):
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one - y


def relu(a):  # pragma: no cover - compiled only
    """max(a, 0) in the type of a."""
    return max(a, 0.0)


@_compiled_as(relu)
def _relu_impl(a):
    zero = np.float32(0) if a == types.float32 else 0.0
    return lambda a: max(a, zero)


def drelu(y):  # pragma: no cover - compiled only
    """relu' given y = relu(a): 1 where y > 0 (0 at a = 0, as PyTorch)."""
    return 1.0 if y > 0 else 0.0


@_compiled_as(drelu)
def _drelu_impl(y):
    zero = np.float32(0) if y == types.float32 else 0.0
    one = np.float32(1) if y == types.float32 else 1.0
    return lambda y: one if y > zero else zero
