"""The sequences the web lab shows: text examples and three small numeric tasks.

Each numeric task gives, at every step t, an input vector x_t and the value the network
should output there (so a "sequence to sequence" readout y_t = V h_t + c can be trained
on it in seconds, and an untrained one still shows its hidden states and gradients):

    sine     x_t = a wave at t            target: the wave at t + 1 (predict the next value)
    parity   x_t = a bit                  target: x_1 ⊕ … ⊕ x_t (count the ones, mod 2)
    adding   x_t = (value, marker)        target: the sum of the marked values so far
             (Hochreiter & Schmidhuber 1997: two markers; the answer at the last step
             depends on values far back, the classic long-range test)

Everything is seeded and small; nothing here imports more than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def _sine(example: int, length: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(length + 1, dtype=np.float64)
    if example == 0:
        return np.sin(2 * np.pi * t / 24)
    if example == 1:
        return np.sin(2 * np.pi * t / 8)
    if example == 2:
        return 0.6 * np.sin(2 * np.pi * t / 20) + 0.4 * np.sin(2 * np.pi * t / 7 + 1.0)
    period, phase = rng.uniform(6, 30), rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * t / period + phase)


def _bits(example: int, length: int, rng: np.random.Generator) -> np.ndarray:
    if example == 1:
        bits = np.zeros(length)
        bits[0] = 1
        return bits
    return (rng.random(length) < (0.5 if example == 0 else 0.15)).astype(np.float64)


def _markers(example: int, length: int, rng: np.random.Generator) -> tuple[int, int]:
    if example == 0:
        return 0, max(1, length // 2)
    if example == 1:
        return max(0, length - 5), length - 2
    half = max(1, length // 2)
    return int(rng.integers(0, half)), int(rng.integers(half, length))


def numeric_sequence(
    task: str, example: int = 0, length: int = 40, seed: int = 0
) -> NumericSequence:
    """Example ``example`` of ``task`` with ``length`` steps (seeded where random)."""
    info = _check(task, example, length)
    rng = np.random.default_rng(seed)
    if task == "sine":
        wave = _sine(example, length, rng)
        x, target = wave[:length, None], wave[1:]
        labels = [f"{v:+.2f}" for v in wave[:length]]
    elif task == "parity":
        bits = _bits(example, length, rng)
        x, target = bits[:, None], np.cumsum(bits) % 2
        labels = [str(int(b)) for b in bits]
    else:
        values = rng.random(length)
        marks = np.zeros(length)
        marks[list(_markers(example, length, rng))] = 1
        x, target = np.stack([values, marks], axis=1), np.cumsum(values * marks)
        labels = [f"{v:.2f}" + ("●" if m else "") for v, m in zip(values, marks, strict=True)]
    return NumericSequence(
        task,
        info.examples[example],
        x.astype(np.float32),
        target.astype(np.float32),
        labels,
    )


def training_set(
    task: str, n: int = 256, length: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random examples of ``task`` for training: x (n, T, F), targets (n, T, 1), float32.

    Sines get random periods and phases; parity random bits of random density; the
    adding problem one marker in each half of the sequence.
    """
    _check(task, 0, length)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        if task == "parity":
            bits = (rng.random(length) < rng.uniform(0.1, 0.5)).astype(np.float64)
            xs.append(bits[:, None])
            ys.append(np.cumsum(bits) % 2)
        else:
            example = {"sine": 3, "adding": 2}[task]  # the random example of each
            sequence = numeric_sequence(task, example, length, int(rng.integers(2**31)))
            xs.append(sequence.x)
            ys.append(sequence.target)
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)[..., None]
