"""Learning-rate schedules: pure functions of the step, so resuming needs no state."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rnnlab.errors import ConfigError, check_positive_int, describe_shape
from rnnlab.optim.checks import non_negative, non_negative_int, positive


class Schedule:
    """A learning rate as a pure function of the step: ``lr_at(step)`` for step = 0, 1, ...

    ``step`` is the number of updates already done (0 for the first one), so resuming a
    run needs only the step count.
    """

    def lr_at(self, step: int) -> float:
        raise NotImplementedError


def _check_step(step: Any) -> int:
    return non_negative_int("step", step)


@dataclass
class ConstantLR(Schedule):
    """η_t = base_lr."""

    base_lr: float

    def __post_init__(self) -> None:
        self.base_lr = non_negative("base_lr", self.base_lr)

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
        self.base_lr = non_negative("base_lr", self.base_lr)
        self.step_size = check_positive_int("step_size", self.step_size)
        self.gamma = positive("gamma", self.gamma)

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
        self.base_lr = non_negative("base_lr", self.base_lr)
        self.total_steps = check_positive_int("total_steps", self.total_steps)
        self.min_lr = non_negative("min_lr", self.min_lr)
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
        self.warmup_steps = non_negative_int("warmup_steps", self.warmup_steps)

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
    warmup_steps = non_negative_int("warmup_steps", options.get("warmup_steps", total_steps // 20))
    if warmup_steps >= total_steps:
        raise ConfigError(f"warmup_steps must be < total_steps={total_steps}, got {warmup_steps}")
    return WarmupLR(CosineLR(base_lr, total_steps - warmup_steps, min_lr), warmup_steps)
