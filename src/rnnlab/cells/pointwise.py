"""The scalar functions a cell's compiled steps are written with.

Each is a plain Python function (what it computes) with a compiled implementation that
numba inlines into the loops. Numba reads a float literal as float64, which would turn
float32 arithmetic into float64 (and tanh into the libm call), so a step writes 1 − z as
``complement(z)`` and uses these functions rather than literals: their constants carry
the argument's type. ``register_compiled`` gives numba the implementations; the compiled
loops call it before they compile, so importing the cells needs no numba.
"""

from __future__ import annotations

import math

import numpy as np

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


def sigmoid(a):  # pragma: no cover - compiled only
    """σ(a) = 1 / (1 + e^(−a)), as (1 + tanh(a/2)) / 2: no overflow for any a."""
    return 0.5 + 0.5 * math.tanh(0.5 * a)


def dsigmoid(y):  # pragma: no cover - compiled only
    """σ'(a) given y = σ(a): y (1 − y)."""
    return y * (1.0 - y)


def dtanh(y):  # pragma: no cover - compiled only
    """tanh'(a) given y = tanh(a): 1 − y²."""
    return 1.0 - y * y


def complement(y):  # pragma: no cover - compiled only
    """1 − y in the type of y."""
    return 1.0 - y


def relu(a):  # pragma: no cover - compiled only
    """max(a, 0) in the type of a."""
    return max(a, 0.0)


def drelu(y):  # pragma: no cover - compiled only
    """relu' given y = relu(a): 1 where y > 0 (0 at a = 0, as PyTorch)."""
    return 1.0 if y > 0 else 0.0


#: layer normalisation's ε, added to the variance
NORM_EPS = 1e-5


def inverse_std(variance):  # pragma: no cover - compiled only
    """1 / √(variance + ε), ε = ``NORM_EPS``: layer normalisation's scale."""
    return 1.0 / math.sqrt(variance + NORM_EPS)


def share_of(count, like):  # pragma: no cover - compiled only
    """1 / count, in the type of ``like`` (a mean is a sum times this)."""
    return 1.0 / count


def normalise(row):  # pragma: no cover - compiled only
    """row ← (row − μ) / σ in place (μ, σ² its mean and variance, plus ε); returns 1/σ.
    Layer normalisation before its gain and bias."""
    inv = 1.0 / math.sqrt(row.var() + NORM_EPS)
    row[:] = (row - row.mean()) * inv
    return inv


def moments(a, b):  # pragma: no cover - compiled only
    """(μ, 1/σ) of the row a + b (σ² its variance plus ε), without writing the sum: layer
    normalisation's statistics of a projection and its bias."""
    u = a + b
    return u.mean(), 1.0 / math.sqrt(u.var() + NORM_EPS)


def normalised_backward(d, p, gain, dp, bias, hat, inv_std, out):  # pragma: no cover
    """d (G·H) = ∂L/∂(γ ⊙ ĥ + β), γ rows gain … gain + G − 1 of p (K, H), ĥ = hat,
    1/σ = inv_std → out (G·H, may be d itself) = ∂L/∂ of what was normalised; adds ∂L/∂γ
    to those rows of dp and ∂L/∂β to rows bias … bias + G − 1."""
    raise NotImplementedError


def _tanh_impl(a):
    """float32: the rational fit; float64: libm's tanh."""
    from numba import types

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


def _typed(value: float, argument) -> float:
    """``value`` as a float32 constant for a float32 argument, else a float."""
    from numba import types

    return np.float32(value) if argument == types.float32 else value


def _sigmoid_impl(a):
    half = _typed(0.5, a)
    return lambda a: half + half * tanh(half * a)


def _dsigmoid_impl(y):
    one = _typed(1.0, y)
    return lambda y: y * (one - y)


def _dtanh_impl(y):
    one = _typed(1.0, y)
    return lambda y: one - y * y


def _complement_impl(y):
    one = _typed(1.0, y)
    return lambda y: one - y


def _relu_impl(a):
    zero = _typed(0.0, a)
    return lambda a: max(a, zero)


def _drelu_impl(y):
    # relu′ from its output y ≥ 0: 1 where y > 0, else 0, which is sign(y); written without
    # a branch, whose inlined copies numba's SSA pass warns about
    return lambda y: np.sign(y)


def _inverse_std_impl(variance):
    one, eps = _typed(1.0, variance), _typed(NORM_EPS, variance)
    return lambda variance: one / math.sqrt(variance + eps)


def _share_of_impl(count, like):
    one = _typed(1.0, like)
    if isinstance(one, float):
        return lambda count, like: one / count
    return lambda count, like: one / np.float32(count)


def _normalise_impl(row):
    def impl(row):
        n = row.shape[0]
        per, zero = share_of(n, row[0]), row[0] - row[0]
        total = zero
        for k in range(n):
            total += row[k]
        mean = total * per
        variance = zero
        for k in range(n):
            variance += (row[k] - mean) * (row[k] - mean)
        inv = inverse_std(variance * per)
        for k in range(n):
            row[k] = (row[k] - mean) * inv
        return inv

    return impl


def _moments_impl(a, b):
    def impl(a, b):
        n = a.shape[0]
        per, zero = share_of(n, a[0]), a[0] - a[0]
        total = zero
        for k in range(n):
            total += a[k] + b[k]
        mean = total * per
        variance = zero
        for k in range(n):
            variance += (a[k] + b[k] - mean) * (a[k] + b[k] - mean)
        return mean, inverse_std(variance * per)

    return impl


def _normalised_backward_impl(d, p, gain, dp, bias, hat, inv_std, out):
    def impl(d, p, gain, dp, bias, hat, inv_std, out):
        H = p.shape[1]
        G = d.shape[0] // H
        per, zero = share_of(G * H, d[0]), d[0] - d[0]
        total, along = zero, zero  # Σ γ ⊙ d and Σ γ ⊙ d ⊙ ĥ
        for q in range(G):
            for j in range(H):
                k = q * H + j
                total += d[k] * p[gain + q, j]
                along += d[k] * p[gain + q, j] * hat[k]
        for q in range(G):
            for j in range(H):
                k = q * H + j
                dk = d[k]  # out may be d
                dp[gain + q, j] += dk * hat[k]
                dp[bias + q, j] += dk
                out[k] = inv_std * (dk * p[gain + q, j] - total * per - hat[k] * along * per)

    return impl


_COMPILED = {
    tanh: _tanh_impl,
    sigmoid: _sigmoid_impl,
    dsigmoid: _dsigmoid_impl,
    inverse_std: _inverse_std_impl,
    share_of: _share_of_impl,
    normalise: _normalise_impl,
    moments: _moments_impl,
    normalised_backward: _normalised_backward_impl,
    dtanh: _dtanh_impl,
    complement: _complement_impl,
    relu: _relu_impl,
    drelu: _drelu_impl,
}
#: the functions over a whole row (see ``register_compiled``)
_ROW_FUNCTIONS = (normalise, moments, normalised_backward)
_registered: list[bool] = []


def register_compiled() -> None:
    """Give numba the compiled implementations of the functions above (once): the scalar
    ones inlined wherever a compiled step calls them, the row functions (layer
    normalisation's sums over a row) called, compiled with reassociation so that their
    sums vectorise."""
    if _registered:
        return
    from numba.core.extending import overload

    options = {"cache": True, "error_model": "numpy"}
    for function, implementation in _COMPILED.items():
        if function in _ROW_FUNCTIONS:  # a call of its own, its sums free to vectorise
            row_options = {**options, "fastmath": {"reassoc"}}
            overload(function, inline="never", jit_options=row_options)(implementation)
        else:
            overload(function, inline="always", jit_options=options)(implementation)
    _registered.append(True)
