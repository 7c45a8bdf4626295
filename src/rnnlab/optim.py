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
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from rnnlab.errors import ConfigError, ShapeError, check_positive_int, describe_shape

Params = Mapping[str, np.ndarray]

# ---------------------------------------------------------------------------- checks


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _non_negative(name: str, value: Any) -> float:
    value = _real(name, value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    value = _real(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return value


def _in_unit(name: str, value: Any, *, closed: bool = False) -> float:
    """A number in [0, 1) (or [0, 1] when ``closed``)."""
    checked = _real(name, value)
    if not (0 <= checked <= 1 if closed else 0 <= checked < 1):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    return checked


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _check_params(params: Any) -> dict[str, np.ndarray]:
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"params must be a dict name -> numpy array, got {describe_shape(params)}"
        )
    if not params:
        raise ConfigError("params is empty: the optimiser has nothing to update")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ConfigError(
                f"params[{name!r}] must be a floating-point numpy array, got {describe_shape(p)}"
            )
        if not p.flags.writeable:
            raise ConfigError(f"params[{name!r}] is read-only; the optimiser updates it in place")
    return dict(params)


def _check_grad_arrays(grads: Any) -> Mapping[str, np.ndarray]:
    if not isinstance(grads, Mapping):
        raise ConfigError(f"grads must be a dict name -> numpy array, got {describe_shape(grads)}")
    for name, g in grads.items():
        if not isinstance(g, np.ndarray) or not np.issubdtype(g.dtype, np.floating):
            raise ConfigError(
                f"grads[{name!r}] must be a floating-point numpy array, got {describe_shape(g)}"
            )
    return grads


def _key_mismatch(what: str, missing: set[str], unexpected: set[str]) -> str:
    parts = [f"missing {sorted(missing)}"] if missing else []
    parts += [f"unexpected {sorted(unexpected)}"] if unexpected else []
    return f"{what}: " + ", ".join(parts)


# ------------------------------------------------------------------------ optimisers


class Optimizer:
    """Base class: holds the parameters, the learning rate ``lr`` and per-parameter slots.

    Subclasses set ``kind``, allocate ``self.slots[slot][param name]`` (arrays of the
    parameter's shape and dtype), and write the update of one parameter in ``_update``.
    A schedule sets ``optimizer.lr`` before each step.
    """

    kind: ClassVar[str] = "optimizer"

    def __init__(self, params: Params, lr: float, weight_decay: float = 0.0) -> None:
        self.params = _check_params(params)
        self.lr = lr
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self.step_count = 0  # t: updates done so far
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    @property
    def lr(self) -> float:
        """Learning rate η of the next step; a schedule may set it between steps."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = _non_negative("lr", value)

    def step(self, grads: Params) -> None:
        """Update every parameter in place from ``grads`` (same keys and shapes as params)."""
        grads = self._check_grads(grads)
        self.step_count += 1
        for name, W in self.params.items():
            self._update(name, W, grads[name])

    def _update(self, name: str, W: np.ndarray, g: np.ndarray) -> None:
        raise NotImplementedError

    def _hyper(self) -> dict[str, Any]:
        """The constructor arguments (except params) as JSON scalars."""
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def _slot_names(self, step: int) -> tuple[str, ...]:
        """The slots that exist after ``step`` updates (all of them, unless lazily made)."""
        return tuple(self.slots)

    def _check_grads(self, grads: Any) -> dict[str, np.ndarray]:
        grads = _check_grad_arrays(grads)
        missing, unexpected = self.params.keys() - grads.keys(), grads.keys() - self.params.keys()
        if missing or unexpected:
            raise ConfigError(
                _key_mismatch("grads must have the keys of params", missing, unexpected)
            )
        checked = {}
        for name, W in self.params.items():
            g = grads[name]
            if g.shape != W.shape:
                raise ShapeError(
                    f"grads[{name!r}] has shape {g.shape}, expected {W.shape} "
                    f"(the shape of params[{name!r}])"
                )
            checked[name] = np.asarray(g, dtype=W.dtype)  # keeps float32 params float32
        return checked

    def state_dict(self) -> dict[str, Any]:
        """The state as ``{"kind", "hyper", "slots"}``, ready for JSON + safetensors.

        ``hyper`` holds JSON scalars (constructor arguments, ``lr`` and ``step``);
        ``slots`` maps ``"<slot>.<param name>"`` to an array. Arrays are copies: later steps
        do not change a state already taken.
        """
        slots = {
            f"{slot}.{name}": array.copy()
            for slot, arrays in self.slots.items()
            for name, array in arrays.items()
        }
        return {
            "kind": self.kind,
            "hyper": {**self._hyper(), "step": self.step_count},
            "slots": slots,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore hyper-parameters, step count and slots from :meth:`state_dict`.

        Everything is checked before anything changes; a ConfigError names the problem.
        """
        if not isinstance(state, Mapping) or set(state) != {"kind", "hyper", "slots"}:
            got = sorted(state) if isinstance(state, Mapping) else describe_shape(state)
            raise ConfigError(
                f"state_dict must have the keys ['hyper', 'kind', 'slots'], got {got}"
            )
        if state["kind"] != self.kind:
            raise ConfigError(
                f"state_dict kind is {state['kind']!r} but this optimiser is {self.kind!r}"
            )
        if not isinstance(state["hyper"], Mapping) or not isinstance(state["slots"], Mapping):
            raise ConfigError("state_dict 'hyper' and 'slots' must both be dicts")
        hyper = dict(state["hyper"])
        expected = {*self._hyper(), "step"}
        missing, unexpected = expected - hyper.keys(), hyper.keys() - expected
        if missing or unexpected:
            raise ConfigError(
                _key_mismatch(f"state_dict hyper of a {self.kind!r} optimiser", missing, unexpected)
            )
        step = _non_negative_int("state_dict hyper 'step'", hyper.pop("step"))
        try:  # the constructor validates the hyper-parameters once, in one place
            template = type(self)(self.params, **hyper)
        except ConfigError as err:
            raise ConfigError(f"state_dict hyper: {err}") from None

        slots = state["slots"]
        names = template._slot_names(step)
        expected = {f"{slot}.{name}" for slot in names for name in self.params}
        missing, unexpected = expected - slots.keys(), slots.keys() - expected
        if missing or unexpected:
            raise ConfigError(
                _key_mismatch(f"state_dict slots of a {self.kind!r} optimiser", missing, unexpected)
            )
        new_slots = {slot: dict(arrays) for slot, arrays in template.slots.items()}
        for slot in names:
            for name, W in self.params.items():
                key, array = f"{slot}.{name}", slots[f"{slot}.{name}"]
                if not isinstance(array, np.ndarray) or array.shape != W.shape:
                    raise ConfigError(
                        f"state_dict slot {key!r} has {describe_shape(array)}, "
                        f"expected shape {W.shape} (the shape of params[{name!r}])"
                    )
                new_slots[slot][name] = np.array(array, dtype=W.dtype, copy=True)

        for key in hyper:
            setattr(self, key, getattr(template, key))
        self.step_count = step
        self.slots = new_slots

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._hyper().items())
        return f"{type(self).__name__}({args})"


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
        self.momentum = _in_unit("momentum", momentum)
        self.nesterov = _flag("nesterov", nesterov)
        self.dampening = _in_unit("dampening", dampening, closed=True)
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
        self.eps = _non_negative("eps", eps)
        self.initial_accumulator_value = _non_negative(
            "initial_accumulator_value", initial_accumulator_value
        )
        self.lr_decay = _non_negative("lr_decay", lr_decay)
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
        self.alpha = _in_unit("alpha", alpha)
        self.eps = _non_negative("eps", eps)
        self.momentum = _in_unit("momentum", momentum)
        self.centered = _flag("centered", centered)
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
        self.betas = (_in_unit("betas[0]", betas[0]), _in_unit("betas[1]", betas[1]))
        self.eps = _non_negative("eps", eps)
        self.amsgrad = _flag("amsgrad", amsgrad)
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


# -------------------------------------------------------------------------- clipping


def global_norm(grads: Params) -> float:
    """‖g‖ = √(Σ over every array and element of g²), accumulated in float64."""
    total = 0.0
    for g in _check_grad_arrays(grads).values():
        g64 = np.asarray(g, dtype=np.float64).ravel()
        total += float(np.dot(g64, g64))
    return math.sqrt(total)


def clip_grad_norm(grads: Params, max_norm: float) -> float:
    """Scale every gradient in place so the global norm is at most ``max_norm``.

    scale = max_norm / (‖g‖ + 1e-6), applied when < 1 (torch.nn.utils.clip_grad_norm_).
    Returns ‖g‖ *before* clipping. A non-finite norm (inf or nan) is returned as is and
    the gradients are left untouched, so the caller can detect it and skip the step.
    """
    max_norm = _positive("max_norm", max_norm)
    norm = global_norm(grads)
    if not math.isfinite(norm):
        return norm
    scale = max_norm / (norm + 1e-6)
    if scale < 1:
        for g in grads.values():
            g *= scale
    return norm


def clip_grad_value(grads: Params, clip_value: float) -> None:
    """Clamp every gradient element in place to [−clip_value, clip_value]."""
    clip_value = _positive("clip_value", clip_value)
    for g in _check_grad_arrays(grads).values():
        np.clip(g, -clip_value, clip_value, out=g)


# ------------------------------------------------------------------------- schedules


class Schedule:
    """A learning rate as a pure function of the step: ``lr_at(step)`` for step = 0, 1, ...

    ``step`` is the number of updates already done (0 for the first one), so resuming a
    run needs only the step count.
    """

    def lr_at(self, step: int) -> float:
        raise NotImplementedError


def _check_step(step: Any) -> int:
    return _non_negative_int("step", step)


@dataclass
class ConstantLR(Schedule):
    """η_t = base_lr."""

    base_lr: float

    def __post_init__(self) -> None:
        self.base_lr = _non_negative("base_lr", self.base_lr)

    def lr_at(self, step: int) -> float:
        _check_step(step)
        return self.base_lr


@dataclass
class StepLR(Schedule):
    """η_t = base_lr · γ^⌊t / step_size⌋ (torch.optim.lr_scheduler.StepLR)."""

    base_lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        self.base_lr = _non_negative("base_lr", self.base_lr)
        self.step_size = check_positive_int("step_size", self.step_size)
        self.gamma = _positive("gamma", self.gamma)

    def lr_at(self, step: int) -> float:
        return self.base_lr * self.gamma ** (_check_step(step) // self.step_size)


@dataclass
class CosineLR(Schedule):
    """η_t = η_min + (base_lr − η_min) · (1 + cos(π t / T)) / 2 for t ≤ T, then η_min.

    T = ``total_steps`` (torch.optim.lr_scheduler.CosineAnnealingLR over one half period).
    """

    base_lr: float
    total_steps: int
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        self.base_lr = _non_negative("base_lr", self.base_lr)
        self.total_steps = check_positive_int("total_steps", self.total_steps)
        self.min_lr = _non_negative("min_lr", self.min_lr)
        if self.min_lr > self.base_lr:
            raise ConfigError(f"min_lr must be <= base_lr={self.base_lr!r}, got {self.min_lr!r}")

    def lr_at(self, step: int) -> float:
        t = min(_check_step(step), self.total_steps)
        cosine = (1 + math.cos(math.pi * t / self.total_steps)) / 2
        return self.min_lr + (self.base_lr - self.min_lr) * cosine


@dataclass
class WarmupLR(Schedule):
    """Linear warmup, then ``schedule`` (shifted so that it starts when warmup ends).

        η_t = schedule(0) · (t + 1) / (W + 1)      for t < W
        η_t = schedule(t − W)                      for t ≥ W

    The first step already moves (η_0 = schedule(0) / (W + 1)), and the ramp ends just
    below the schedule's start, so the peak is reached once, at t = W.
    """

    schedule: Schedule
    warmup_steps: int

    def __post_init__(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise ConfigError(f"schedule must be a Schedule, got {describe_shape(self.schedule)}")
        self.warmup_steps = _non_negative_int("warmup_steps", self.warmup_steps)

    def lr_at(self, step: int) -> float:
        t, W = _check_step(step), self.warmup_steps
        if t < W:
            return self.schedule.lr_at(0) * (t + 1) / (W + 1)
        return self.schedule.lr_at(t - W)


_SCHEDULE_OPTIONS = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "cosine": ("min_lr",),
    "warmup_cosine": ("warmup_steps", "min_lr"),
}


def make_schedule(name: str, base_lr: float, total_steps: int, **options: Any) -> Schedule:
    """Build a schedule by name for a run of ``total_steps`` updates.

    - ``constant``: base_lr throughout.
    - ``step``: × gamma (default 0.1) every step_size (default total_steps // 3) steps.
    - ``cosine``: cosine from base_lr to min_lr (default 0) over total_steps.
    - ``warmup_cosine``: linear warmup over warmup_steps (default total_steps // 20),
      then cosine to min_lr over the remaining steps.
    """
    if name not in _SCHEDULE_OPTIONS:
        raise ConfigError(f"unknown schedule {name!r}; known: {', '.join(_SCHEDULE_OPTIONS)}")
    total_steps = check_positive_int("total_steps", total_steps)
    unknown = sorted(set(options) - set(_SCHEDULE_OPTIONS[name]))
    if unknown:
        accepted = ", ".join(_SCHEDULE_OPTIONS[name]) or "none"
        raise ConfigError(f"schedule {name!r} has no option {unknown}; its options: {accepted}")
    if name == "constant":
        return ConstantLR(base_lr)
    if name == "step":
        step_size = options.get("step_size", max(1, total_steps // 3))
        return StepLR(base_lr, step_size, options.get("gamma", 0.1))
    min_lr = options.get("min_lr", 0.0)
    if name == "cosine":
        return CosineLR(base_lr, total_steps, min_lr)
    warmup_steps = _non_negative_int("warmup_steps", options.get("warmup_steps", total_steps // 20))
    if warmup_steps >= total_steps:
        raise ConfigError(f"warmup_steps must be < total_steps={total_steps}, got {warmup_steps}")
    return WarmupLR(CosineLR(base_lr, total_steps - warmup_steps, min_lr), warmup_steps)
