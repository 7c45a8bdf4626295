"""Argument checks shared by the optimisers and schedules; each names the argument."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, describe_shape

Params = Mapping[str, np.ndarray]


def real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def non_negative(name: str, value: Any) -> float:
    value = real(name, value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return value


def positive(name: str, value: Any) -> float:
    value = real(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}")
    return value


def in_unit(name: str, value: Any, *, closed: bool = False) -> float:
    """A number in [0, 1) (or [0, 1] when ``closed``)."""
    checked = real(name, value)
    if not (0 <= checked <= 1 if closed else 0 <= checked < 1):
        interval = "[0, 1]" if closed else "[0, 1)"
        raise ConfigError(f"{name} must be a number in {interval}, got {value!r}")
    return checked


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def non_negative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ConfigError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def check_params(params: Any) -> dict[str, np.ndarray]:
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


def check_grad_arrays(grads: Any) -> Mapping[str, np.ndarray]:
    if not isinstance(grads, Mapping):
        raise ConfigError(f"grads must be a dict name -> numpy array, got {describe_shape(grads)}")
    for name, g in grads.items():
        if not isinstance(g, np.ndarray) or not np.issubdtype(g.dtype, np.floating):
            raise ConfigError(
                f"grads[{name!r}] must be a floating-point numpy array, got {describe_shape(g)}"
            )
    return grads


def key_mismatch(what: str, missing: set[str], unexpected: set[str]) -> str:
    parts = [f"missing {sorted(missing)}"] if missing else []
    parts += [f"unexpected {sorted(unexpected)}"] if unexpected else []
    return f"{what}: " + ", ".join(parts)
