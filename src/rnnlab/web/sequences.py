"""The sequences the web lab shows: text examples and three small numeric tasks.

Each numeric task gives, at every step t, an input vector x_t and the value the network
should output there (so a "sequence to sequence" readout y_t = V h_t + c can be trained
on it in seconds, and an untrained one still shows its hidden states and gradients):

    sine     x_t = a wave at t            target: the wave at t + 1 (predict the next value)
    parity   x_t = a bit                  target: x_1 ⊕ … ⊕ x_t (count the ones, mod 2)
    adding   x_t = (value, marker)        target: the sum of the marked values so far
             (Hochreiter & Schmidhuber 1997: two markers; the answer at the last step
             depends on values far back, the classic long-range test)

Everything is seeded and small. The random examples and training sets come from
``rnnlab.data.synthetic``; the fixed examples (a slow wave, a lone 1, markers far apart)
are made here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlab.data import synthetic
from rnnlab.errors import ConfigError

#: famous lines, all inside the built-in Shakespeare corpus's vocabulary
TEXT_EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Romeo at the window", "ROMEO:\nBut, soft! what light through yonder window breaks?"),
    ("Hamlet and Yorick", "HAMLET:\nAlas, poor Yorick! I knew him, Horatio: a fellow"),
    ("Portia on mercy", "The quality of mercy is not strain'd,\nIt droppeth as the gentle rain"),
    ("Richard III", "GLOUCESTER:\nNow is the winter of our discontent\nMade glorious summer"),
    ("Mark Antony", "ANTONY:\nFriends, Romans, countrymen, lend me your ears;"),
)


@dataclass(frozen=True)
class TaskInfo:
    """What a numeric task is, for the page."""

    title: str
    features: tuple[str, ...]
    target: str
    description: str
    examples: tuple[str, ...]


TASKS: dict[str, TaskInfo] = {
    "sine": TaskInfo(
        "Sine wave",
        ("x",),
        "next value",
        "The input is a wave; the network should output the wave's next value.",
        ("slow wave (period 24)", "fast wave (period 8)", "two waves mixed", "random wave"),
    ),
    "parity": TaskInfo(
        "Counting / parity",
        ("bit",),
        "parity so far",
        "The input is a bit; the output should be 1 when an odd number of ones has been seen.",
        ("random bits", "a single 1 at the start", "sparse bits"),
    ),
    "adding": TaskInfo(
        "Adding problem",
        ("value", "marker"),
        "sum of marked values",
        "Two values are marked; the output should be their sum (so far). The marks can be "
        "far apart: the network must remember the first value until the end.",
        ("markers far apart", "markers near the end", "random markers"),
    ),
}


@dataclass
class NumericSequence:
    """One numeric sequence: x (T, F) float32, target (T,) float32, labels per step."""

    task: str
    title: str
    x: np.ndarray
    target: np.ndarray
    labels: list[str]


def _check(task: str, example: int, length: int) -> TaskInfo:
    if task not in TASKS:
        raise ConfigError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    info = TASKS[task]
    if not 0 <= example < len(info.examples):
        raise ConfigError(f"example must be in [0, {len(info.examples)}) for {task}, got {example}")
    if length < 2:
        raise ConfigError(f"length must be at least 2, got {length}")
    return info


def _fixed_wave(example: int, length: int) -> np.ndarray:
    """Waves 0–2 (fixed): length + 1 values, the last one only a target."""
    t = np.arange(length + 1, dtype=np.float64)
    if example == 0:
        return np.sin(2 * np.pi * t / 24)
    if example == 1:
        return np.sin(2 * np.pi * t / 8)
    return 0.6 * np.sin(2 * np.pi * t / 20) + 0.4 * np.sin(2 * np.pi * t / 7 + 1.0)


def random_examples(
    task: str, n: int = 256, length: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random examples of ``task`` from ``rnnlab.data.synthetic``, with a target at every
    step: x (n, T, F) float32, targets (n, T) float32.

    Sines have random periods, phases and amplitudes (the target is the next value);
    parity bits have a random density in [0.1, 0.5]; the adding problem has one marker in
    each half (its target so far is the sum of the values marked up to t).
    """
    _check(task, 0, length)
    if task == "sine":
        data = synthetic.sine_waves(n, length, seed=seed)
        x = data.inputs
        targets = np.concatenate([x[:, 1:, 0], data.targets], axis=1)
    elif task == "parity":
        data = synthetic.parity(n, length, seed=seed)
        x, targets = data.inputs, data.targets
    else:
        x = synthetic.adding(n, length, seed=seed).inputs
        targets = np.cumsum(x[..., 0] * x[..., 1], axis=1)
    return x.astype(np.float32), targets.astype(np.float32)


def _labels(task: str, x: np.ndarray) -> list[str]:
    if task == "sine":
        return [f"{v:+.2f}" for v in x[:, 0]]
    if task == "parity":
        return [str(int(b)) for b in x[:, 0]]
    return [f"{v:.2f}" + ("●" if m else "") for v, m in x]


def numeric_sequence(
    task: str, example: int = 0, length: int = 40, seed: int = 0
) -> NumericSequence:
    """Example ``example`` of ``task`` with ``length`` steps (seeded where random)."""
    info = _check(task, example, length)
    if task == "sine" and example < 3:
        wave = _fixed_wave(example, length)
        x, target = wave[:length, None], wave[1:]
    elif task == "parity" and example == 1:  # a single 1 at the start
        x = np.zeros((length, 1))
        x[0] = 1
        target = np.ones(length)
    elif task == "parity":
        data = synthetic.parity(1, length, density=0.5 if example == 0 else 0.15, seed=seed)
        x, target = data.inputs[0], data.targets[0]
    elif task == "adding" and example < 2:
        values = np.random.default_rng(seed).random(length)
        marked = (0, max(1, length // 2)) if example == 0 else (max(0, length - 5), length - 2)
        marks = np.zeros(length)
        marks[list(marked)] = 1
        x, target = np.stack([values, marks], axis=1), np.cumsum(values * marks)
    else:  # the random wave, the random markers
        xs, targets = random_examples(task, 1, length, seed)
        x, target = xs[0], targets[0]
    return NumericSequence(
        task,
        info.examples[example],
        np.asarray(x, np.float32),
        np.asarray(target, np.float32),
        _labels(task, np.asarray(x)),
    )


def training_set(
    task: str, n: int = 256, length: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``random_examples`` shaped for training: x (n, T, F), targets (n, T, 1), float32."""
    x, targets = random_examples(task, n, length, seed)
    return x, targets[..., None]
