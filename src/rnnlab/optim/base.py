"""The optimiser interface: in-place updates of a parameter dict, and a state that resumes exactly.

See ``rnnlab.optim.optimizers`` for the update rules and the state format.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from rnnlab.errors import ConfigError, ShapeError, describe_shape
from rnnlab.optim.checks import (
    Params,
    check_grad_arrays,
    check_params,
    key_mismatch,
    non_negative,
    non_negative_int,
)


class Optimizer:
    """Base class: holds the parameters, the learning rate ``lr`` and per-parameter slots.

    Subclasses set ``kind``, allocate ``self.slots[slot][param name]`` (arrays of the
    parameter's shape and dtype), and write the update of one parameter in ``_update``.
    A schedule sets ``optimizer.lr`` before each step.
    """

    kind: ClassVar[str] = "optimizer"

    def __init__(self, params: Params, lr: float, weight_decay: float = 0.0) -> None:
        self.params = check_params(params)
        self.lr = lr
        self.weight_decay = non_negative("weight_decay", weight_decay)
        self.step_count = 0  # t: updates done so far
        self.slots: dict[str, dict[str, np.ndarray]] = {}

    @property
    def lr(self) -> float:
        """Learning rate η of the next step; a schedule may set it between steps."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = non_negative("lr", value)

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
        grads = check_grad_arrays(grads)
        missing, unexpected = self.params.keys() - grads.keys(), grads.keys() - self.params.keys()
        if missing or unexpected:
            raise ConfigError(
                key_mismatch("grads must have the keys of params", missing, unexpected)
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
                key_mismatch(f"state_dict hyper of a {self.kind!r} optimiser", missing, unexpected)
            )
        step = non_negative_int("state_dict hyper 'step'", hyper.pop("step"))
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
                key_mismatch(f"state_dict slots of a {self.kind!r} optimiser", missing, unexpected)
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
