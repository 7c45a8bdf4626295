"""The small Module every layer and model derives from.

A module holds its own parameters (``_params``), their gradients (``_grads``, same keys
and shapes) and child modules. ``params`` and ``grads`` are flat dicts over the whole
tree with dotted names (``rnn.weight_ih_l0``), holding the *live* arrays: optimisers
update them in place and ``load_state_dict`` copies into them, so references stay valid.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from rnnlab.errors import ConfigError, DTypeError, ShapeError, StateError


class Module:
    """Parameters, gradients, children and a train/eval switch; nothing hidden."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "_grads", {})
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, Module):
            self._children[name] = value
        object.__setattr__(self, name, value)

    # -- parameters --------------------------------------------------------------
    def add_param(self, name: str, value: np.ndarray) -> np.ndarray:
        """Register a parameter (and a zero gradient of the same shape)."""
        self._params[name] = value
        self._grads[name] = np.zeros_like(value)
        return value

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """Yield (dotted name, module) for this module and every descendant."""
        yield prefix, self
        for name, child in self._children.items():
            yield from child.named_modules(f"{prefix}{name}.")

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter of the tree by dotted name (live arrays)."""
        return {f"{p}{k}": v for p, m in self.named_modules() for k, v in m._params.items()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Every gradient of the tree, same keys as ``params`` (live arrays)."""
        return {f"{p}{k}": v for p, m in self.named_modules() for k, v in m._grads.items()}

    def constrain(self) -> None:
        """Bring every parameter of the tree back within its module's constraints, after
        an update (the trainer calls it after every optimizer step); most have none."""
        for _, module in self.named_modules():
            module.constrain_own()

    def constrain_own(self) -> None:
        """This module's own constraints on its parameters (``constrain``): none here."""

    def zero_grad(self) -> None:
        """Set every gradient to zero (backward accumulates)."""
        for grad in self.grads.values():
            grad.fill(0)

    def num_parameters(self) -> int:
        """The number of scalar parameters."""
        return sum(p.size for p in self.params.values())

    # -- modes -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Switch this module and its children to training (dropout on) or evaluation."""
        for _, module in self.named_modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        """Switch to evaluation mode (dropout off)."""
        return self.train(False)

    # -- state -------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter by dotted name."""
        return {name: value.copy() for name, value in self.params.items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray], strict: bool = True) -> None:
        """Copy ``state`` into the live parameters, checking names, shapes and dtypes.

        With ``strict`` every parameter must be present and no other key may be.
        Nothing is changed unless every entry is valid.
        """
        params = self.params
        missing = sorted(set(params) - set(state))
        unexpected = sorted(set(state) - set(params))
        if strict and (missing or unexpected):
            raise ConfigError(
                f"state_dict does not match the module: missing {missing}, unexpected {unexpected}"
            )
        for name, value in state.items():
            if name not in params:
                continue
            value = np.asarray(value)
            if value.shape != params[name].shape:
                raise ShapeError(
                    f"state_dict[{name!r}] has shape {value.shape}, expected {params[name].shape}"
                )
            if not np.issubdtype(value.dtype, np.floating):
                raise DTypeError(
                    f"state_dict[{name!r}] has dtype {value.dtype}, expected floating point"
                )
        for name, value in state.items():
            if name in params:
                params[name][...] = value

    def _need_tape(self, tape: object) -> object:
        """Return ``tape`` or raise the error for calling backward before forward."""
        if tape is None:
            raise StateError(
                f"{type(self).__name__}.backward() was called before forward(): "
                "call the module on an input first (each forward allows one backward)"
            )
        return tape

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        """The constructor arguments shown by ``repr``."""
        return ""


def resolve_dtype(dtype: object) -> np.dtype:
    """float32 or float64 from a dtype-like, else ConfigError."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise ConfigError(f"dtype must be float32 or float64, got {dtype!r}") from error
    if resolved not in (np.float32, np.float64):
        raise ConfigError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def make_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A NumPy Generator from a seed, an existing Generator or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


@contextmanager
def evaluating(module: Module) -> Iterator[Module]:
    """Evaluation mode (dropout off) inside the block; every module's own mode after."""
    modes = [(sub, sub.training) for _, sub in module.named_modules()]
    module.eval()
    try:
        yield module
    finally:
        for sub, mode in modes:
            object.__setattr__(sub, "training", mode)


@contextmanager
def inference(module: Module) -> Iterator[Module]:
    """Run ``module`` without keeping tapes: faster and lighter, but no backward.

    Inside the block every recurrent layer of the tree skips the tape; on leaving, each
    layer gets its previous setting back.
    """
    layers = [m for _, m in module.named_modules() if hasattr(m, "keep_tape")]
    saved = [m.keep_tape for m in layers]
    for layer in layers:
        layer.keep_tape = False
    try:
        yield module
    finally:
        for layer, keep in zip(layers, saved, strict=True):
            layer.keep_tape = keep
