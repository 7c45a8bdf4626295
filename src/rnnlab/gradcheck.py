"""Check a module's hand-written backward against central finite differences.

For a module f the check draws fixed random weights R and uses the scalar
L = Σ R_out ⊙ output (+ Σ R_state ⊙ final state for recurrent layers). Every gradient
the module computes — of its parameters, of its input and of its initial state — is
compared with (L(w + ε) − L(w − ε)) / 2ε, one element at a time, in float64.

The error of a tensor is max |analytic − numeric| / max(max |analytic|, max |numeric|):
relative to the tensor's scale, so entries that are near zero do not dominate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from rnnlab.errors import ConfigError
from rnnlab.nn.module import Module


@dataclass
class GradcheckResult:
    """Relative error per checked tensor; ``max_error`` is the worst of them."""

    errors: dict[str, float] = field(default_factory=dict)

    @property
    def max_error(self) -> float:
        return max(self.errors.values(), default=0.0)

    def ok(self, tolerance: float = 1e-6) -> bool:
        return self.max_error < tolerance

    def __str__(self) -> str:
        rows = [f"  {name:<28} {error:.2e}" for name, error in sorted(self.errors.items())]
        return "relative error per tensor:\n" + "\n".join(rows)


def _as_float64(module: Module) -> Module:
    """A float64 copy of ``module`` (the original is left untouched)."""
    twin = copy.deepcopy(module)
    for _, sub in twin.named_modules():
        for store in (sub._params, sub._grads):
            for name in store:
                store[name] = store[name].astype(np.float64)
        if hasattr(sub, "dtype"):
            sub.dtype = np.dtype(np.float64)
    return twin


def _relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    if scale == 0:
        return 0.0
    return float(np.abs(analytic - numeric).max() / scale)


def _check_tensor(
    loss: Callable[[], float], array: np.ndarray, analytic: np.ndarray, eps: float, picked: list
) -> float:
    """Perturb ``array`` in place at ``picked`` and compare with ``analytic`` there."""
    numeric = np.zeros_like(array)
    checked = np.zeros(array.shape, dtype=bool)
    for index in picked:
        saved = array[index]
        array[index] = saved + eps
        plus = loss()
        array[index] = saved - eps
        minus = loss()
        array[index] = saved
        numeric[index] = (plus - minus) / (2 * eps)
        checked[index] = True
    return _relative_error(np.where(checked, analytic, 0), numeric)


def _random_like(value: object, rng: np.random.Generator) -> object:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(rng.standard_normal(part.shape) for part in value)
    return rng.standard_normal(value.shape)


def _pairs(values: object, weights: object) -> list:
    if isinstance(values, tuple):
        return list(zip(values, weights, strict=True))
    return [(values, weights)]


def gradcheck(
    module: Module,
    x: np.ndarray,
    state: object = None,
    lengths: np.ndarray | None = None,
    eps: float = 1e-6,
    max_checks: int | None = None,
    seed: int = 0,
) -> GradcheckResult:
    """Compare every analytic gradient of ``module`` with central differences.

    module: any rnnlab module whose call returns ``output`` or ``(output, state)`` and
    whose ``backward`` takes the matching gradients. A float64 copy is checked, in
    evaluation mode (dropout off), so the module itself is unchanged.
    x: the input (floating point, or integer ids for an Embedding); state and lengths
    are passed on to recurrent layers. max_checks: check at most this many elements of
    each tensor (chosen at random), for large modules.
    → GradcheckResult with one relative error per parameter, "input" and "state".
    """
    if eps <= 0:
        raise ConfigError(f"gradcheck: eps must be positive, got {eps}")
    twin = _as_float64(module).eval()
    rng = np.random.default_rng(seed)
    floating_input = np.issubdtype(np.asarray(x).dtype, np.floating)
    x = np.array(x, dtype=np.float64 if floating_input else None)
    recurrent = hasattr(twin, "hidden_size")
    kwargs = {}
    if recurrent:
        if state is not None:
            state = (
                tuple(np.array(s, np.float64) for s in state)
                if isinstance(state, tuple)
                else np.array(state, np.float64)
            )
        kwargs = {"state": state, "lengths": lengths}

    def run() -> tuple[np.ndarray, object]:
        result = twin(x, **kwargs)
        return result if recurrent else (result, None)

    output, final = run()
    weight_out = rng.standard_normal(output.shape)
    weight_state = _random_like(final, rng)

    def loss() -> float:
        out, fin = run()
        total = float((out * weight_out).sum())
        if fin is not None:
            total += sum(float((a * w).sum()) for a, w in _pairs(fin, weight_state))
        return total

    twin.zero_grad()
    run()
    if recurrent:
        d_x, d_state = twin.backward(weight_out, weight_state)
    else:
        d_x, d_state = twin.backward(weight_out), None

    def picked(array: np.ndarray) -> list:
        every = list(np.ndindex(array.shape))
        if max_checks is None or len(every) <= max_checks:
            return every
        chosen = rng.choice(len(every), size=max_checks, replace=False)
        return [every[i] for i in chosen]

    result = GradcheckResult()
    analytic = twin.grads
    for name, param in twin.params.items():
        result.errors[name] = _check_tensor(loss, param, analytic[name], eps, picked(param))
    if floating_input and d_x is not None:
        result.errors["input"] = _check_tensor(loss, x, d_x, eps, picked(x))
    if state is not None and d_state is not None:
        names = ("state_h", "state_c") if isinstance(state, tuple) else ("state",)
        for name, (s, ds) in zip(names, _pairs(state, d_state), strict=True):
            result.errors[name] = _check_tensor(loss, s, ds, eps, picked(s))
    return result
