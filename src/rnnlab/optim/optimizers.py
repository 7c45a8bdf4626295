"""Optimisers, gradient clipping and learning-rate schedules, on NumPy.

A model's parameters are a flat dict ``name -> array``; an optimiser keeps a
reference to each array and updates it **in place**, so the model's dict (and any
other reference) sees the new values. Gradients come as a dict with the same keys.

Every update follows ``torch.optim`` exactly (same equations, same defaults, same
order of weight decay and momentum), so a model trained here and one trained with
PyTorch on the same gradients move the same way. Notation, per parameter W with
gradient g at step t = 1, 2, ...: η learning rate, λ weight decay, μ momentum.

The state of an optimiser is split for safetensors + JSON::

    {"kind": "adam",
     "hyper": {"lr": 0.001, "betas": [0.9, 0.999], ..., "step": 12},   # JSON scalars
     "slots": {"m.weight_ih_l0": array, "v.weight_ih_l0": array, ...}}  # "<slot>.<param>"

and loading it back reproduces the uninterrupted run bit for bit.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

import numpy as np

from rnnlab.errors import ConfigError
from rnnlab.optim.base import Optimizer
from rnnlab.optim.checks import (
    Params,
    flag,
    in_unit,
    non_negative,
)


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum (torch.optim.SGD semantics).

        g ← g + λ W                                  (L2 weight decay, if λ > 0)
        b_1 = g_1,   b_t = μ b_{t−1} + (1 − τ) g_t    (momentum buffer, if μ > 0; τ dampening)
        g ← g + μ b_t  (nesterov)   or   g ← b_t
        W ← W − η g

    With μ = 0 this is plain ``W := W − η ∂L/∂W``.
    """

    kind = "sgd"

    def __init__(
        self,
        params: Params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = in_unit("momentum", momentum)
        self.nesterov = flag("nesterov", nesterov)
        self.dampening = in_unit("dampening", dampening, closed=True)
        if self.nesterov and (self.momentum == 0 or self.dampening != 0):
            raise ConfigError(
                f"nesterov=True needs momentum > 0 and dampening = 0, "
                f"got momentum={momentum!r}, dampening={dampening!r}"
            )
        if self.momentum:
            self.slots = {"b": {}}  # made from the first gradient, as in torch

    def _hyper(self) -> dict[str, Any]:
        return {
            **super()._hyper(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "dampening": self.dampening,
        }

    def _slot_names(self, step: int) -> tuple[str, ...]:
        return ("b",) if self.momentum and step > 0 else ()

    def _update(self, name: str, W: np.ndarray, g: np.ndarray) -> None:
        eta, lam, mu, tau = self.lr, self.weight_decay, self.momentum, self.dampening
        if lam:
            g = g + lam * W
        if mu:
            b = self.slots["b"].get(name)
            if b is None:
                b = self.slots["b"][name] = g.copy()
            else:
                b[...] = mu * b + (1 - tau) * g
            g = g + mu * b if self.nesterov else b
        W -= eta * g


class Adagrad(Optimizer):
    """Adagrad (torch.optim.Adagrad semantics): per-coordinate steps shrink with Σ g².

    g ← g + λ W                                  (if λ > 0)
    η_t = η / (1 + (t − 1) · lr_decay)
    G_t = G_{t−1} + g_t ⊙ g_t                    (G_0 = initial_accumulator_value)
    W ← W − η_t g_t / (√G_t + ε)
    """

    kind = "adagrad"

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        lr_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.eps = non_negative("eps", eps)
        self.initial_accumulator_value = non_negative(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.lr_decay = non_negative("lr_decay", lr_decay)
        self.slots = {
            "sum": {
                n: np.full_like(W, self.initial_accumulator_value) for n, W in self.params.items()
            }
        }

    def _hyper(self) -> dict[str, Any]:
        return {
            **super()._hyper(),
            "eps": self.eps,
            "initial_accumulator_value": self.initial_accumulator_value,
            "lr_decay": self.lr_decay,
        }

    def _update(self, name: str, W: np.ndarray, g: np.ndarray) -> None:
        t, lam, eps, G = self.step_count, self.weight_decay, self.eps, self.slots["sum"][name]
        if lam:
            g = g + lam * W
        eta_t = self.lr / (1 + (t - 1) * self.lr_decay)
        G[...] = G + g * g
        W -= eta_t * g / (np.sqrt(G) + eps)


class RMSprop(Optimizer):
    """RMSprop (torch.optim.RMSprop semantics): divide by a running RMS of the gradient.

    g ← g + λ W                                  (if λ > 0)
    v_t = α v_{t−1} + (1 − α) g_t ⊙ g_t
    ḡ_t = α ḡ_{t−1} + (1 − α) g_t                (centered only)
    d_t = √(v_t − ḡ_t ⊙ ḡ_t) + ε   (centered)   or   √v_t + ε
    b_t = μ b_{t−1} + g_t / d_t,   W ← W − η b_t   (if μ > 0)
    W ← W − η g_t / d_t                          (otherwise)
    """

    kind = "rmsprop"

    def __init__(
        self,
        params: Params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        self.alpha = in_unit("alpha", alpha)
        self.eps = non_negative("eps", eps)
        self.momentum = in_unit("momentum", momentum)
        self.centered = flag("centered", centered)
        names = ["v"] + ["g_ave"] * self.centered + ["b"] * (self.momentum > 0)
        self.slots = {s: {n: np.zeros_like(W) for n, W in self.params.items()} for s in names}

    def _hyper(self) -> dict[str, Any]:
        return {
            **super()._hyper(),
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
            "centered": self.centered,
        }

    def _update(self, name: str, W: np.ndarray, g: np.ndarray) -> None:
        eta, lam, alpha, eps, mu = self.lr, self.weight_decay, self.alpha, self.eps, self.momentum
        v = self.slots["v"][name]
        if lam:
            g = g + lam * W
        v[...] = alpha * v + (1 - alpha) * g * g
        if self.centered:
            g_ave = self.slots["g_ave"][name]
            g_ave[...] = alpha * g_ave + (1 - alpha) * g
            # v − ḡ² ≥ 0 in exact arithmetic; rounding can push it a hair below zero.
            d = np.sqrt(np.maximum(v - g_ave * g_ave, 0.0)) + eps
        else:
            d = np.sqrt(v) + eps
        if mu:
            b = self.slots["b"][name]
            b[...] = mu * b + g / d
            W -= eta * b
        else:
            W -= eta * g / d


class Adam(Optimizer):
    """Adam (torch.optim.Adam semantics), with optional AMSGrad.

    g ← g + λ W                                  (L2 weight decay, if λ > 0)
    m_t = β₁ m_{t−1} + (1 − β₁) g_t
    v_t = β₂ v_{t−1} + (1 − β₂) g_t ⊙ g_t
    v_t ← max(v_max, v_t), kept as v_max         (amsgrad only)
    m̂_t = m_t / (1 − β₁ᵗ),   v̂_t = v_t / (1 − β₂ᵗ)
    W ← W − η m̂_t / (√v̂_t + ε)
    """

    kind = "adam"
    decoupled_weight_decay: ClassVar[bool] = False

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, weight_decay)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise ConfigError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (in_unit("betas[0]", betas[0]), in_unit("betas[1]", betas[1]))
        self.eps = non_negative("eps", eps)
        self.amsgrad = flag("amsgrad", amsgrad)
        names = ["m", "v"] + ["v_max"] * self.amsgrad
        self.slots = {s: {n: np.zeros_like(W) for n, W in self.params.items()} for s in names}

    def _hyper(self) -> dict[str, Any]:
        return {
            **super()._hyper(),
            "betas": list(self.betas),
            "eps": self.eps,
            "amsgrad": self.amsgrad,
        }

    def _update(self, name: str, W: np.ndarray, g: np.ndarray) -> None:
        t, eta, lam, eps = self.step_count, self.lr, self.weight_decay, self.eps
        beta1, beta2 = self.betas
        m, v = self.slots["m"][name], self.slots["v"][name]
        if lam and self.decoupled_weight_decay:
            W *= 1 - eta * lam
        elif lam:
            g = g + lam * W
        m[...] = beta1 * m + (1 - beta1) * g
        v[...] = beta2 * v + (1 - beta2) * g * g
        if self.amsgrad:
            v = np.maximum(self.slots["v_max"][name], v, out=self.slots["v_max"][name])
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        W -= eta * m_hat / (np.sqrt(v_hat) + eps)


class AdamW(Adam):
    """AdamW (torch.optim.AdamW semantics): Adam with decoupled weight decay.

        W ← W (1 − η λ)                              (before the Adam step, not in g)

    then the Adam update above on the raw gradient. Default λ = 0.01.
    """

    kind = "adamw"
    decoupled_weight_decay = True

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)


_OPTIMIZERS: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {}),
    "momentum": (SGD, {"momentum": 0.9}),
    "nesterov": (SGD, {"momentum": 0.9, "nesterov": True}),
    "adagrad": (Adagrad, {}),
    "rmsprop": (RMSprop, {}),
    "adam": (Adam, {}),
    "adamw": (AdamW, {}),
}


def make_optimizer(name: str, params: Params, lr: float, **kwargs: Any) -> Optimizer:
    """Build an optimiser by name; ``kwargs`` are its constructor options.

    Names: sgd, momentum (SGD, μ = 0.9), nesterov (SGD, μ = 0.9, Nesterov), adagrad,
    rmsprop, adam, adamw.
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; known: {', '.join(_OPTIMIZERS)}")
    cls, defaults = _OPTIMIZERS[key]
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("params", "lr")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"optimizer {name!r} has no option {unknown}; its options are {', '.join(accepted)}"
        )
    return cls(params, lr, **{**defaults, **kwargs})
