"""Synthetic sequence tasks: the long-range benchmarks and a few simple series.

Every generator takes ``seed`` (an int or a ``numpy.random.Generator``) and returns
arrays sample-first, as ``rnnlab.data.datasets.ArrayBatcher`` takes them:

    adding(n, T)             x (n, T, 2) (value, marker)     y (n, 1)    sum of the marked
    adding(..., "hochreiter") as above, lengths (n,) in [T, T + T/10], y scaled to [0, 1]
    copy_memory(n, T)        ids (n, T + 20) in [0, 10)      y (n, T + 20) ids, per step
    parity(n, T)             bits (n, T, 1)                  y (n, T) ints, parity so far
    counting(n, T)           bits (n, T, 1)                  y (n, T, 1) ones so far
    sine_waves(n, T)         x (n, T, 1)                     y (n, 1)    the next value
    noisy_sines(N), mackey_glass(N)                          one series (N,) float64

The tasks come as a ``TaskData`` (inputs, targets, lengths, per_step_targets) whose
``batcher(batch_size, seed)`` serves them; ``ADDING_BASELINE_MSE`` and
``copy_baseline(T)`` are the losses of the best memoryless predictors, the lines a
model must get below to show it remembers anything.

Imports nothing of rnnlab but ``rnnlab.errors`` and ``rnnlab.data.datasets``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.errors import ConfigError, check_positive_int

__all__ = [
    "ADDING_BASELINE_MSE",
    "ADDING_HOCHREITER_BASELINE_MSE",
    "BLANK",
    "COPY_DATA_SYMBOLS",
    "COPY_LENGTH",
    "COPY_SYMBOLS",
    "DELIMITER",
    "TaskData",
    "adding",
    "copy_baseline",
    "copy_memory",
    "counting",
    "mackey_glass",
    "noisy_sines",
    "parity",
    "sine_waves",
]

Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ConfigError("seed must be an int or a numpy.random.Generator, got None")
    return np.random.default_rng(seed)


@dataclass
class TaskData:
    """A supervised sequence task, sample-first.

    inputs: (N, T, F) float32 or (N, T) int64 token ids; targets: (N, ...) — (N, T, ...)
    when ``per_step_targets``; lengths: (N,) int64 when sequences differ in length
    (inputs are zero past each length), else None.
    """

    inputs: np.ndarray
    targets: np.ndarray
    lengths: np.ndarray | None = None
    per_step_targets: bool = False

    def __len__(self) -> int:
        return len(self.inputs)

    def batcher(self, batch_size: int, seed: int = 0, shuffle: bool = True) -> ArrayBatcher:
        """An ``ArrayBatcher`` over these examples (time-major batches)."""
        return ArrayBatcher(
            self.inputs,
            self.targets,
            batch_size,
            seed=seed,
            lengths=self.lengths,
            per_step_targets=self.per_step_targets,
            shuffle=shuffle,
        )


# -------------------------------------------------------------------------- adding
#: MSE of always predicting 1 = E[X1 + X2] for the Arjovsky variant: Var(U1 + U2) = 2/12
ADDING_BASELINE_MSE = 1.0 / 6.0
#: MSE of always predicting 0.5 for the Hochreiter–Schmidhuber variant: Var((X1+X2)/4)
#: with X1, X2 ~ U[−1, 1] (slightly less in practice: a marked first step counts 0)
ADDING_HOCHREITER_BASELINE_MSE = (2.0 / 3.0) / 16.0


def adding(n: int, length: int, variant: str = "arjovsky", seed: Seed = 0) -> TaskData:
    """The adding problem: remember two marked values and output their sum at the end.

    ``variant="arjovsky"`` (Arjovsky, Shah & Bengio 2016, after Le et al. 2015): x_t =
    (value_t, marker_t), values U[0, 1], exactly one marker in [0, T/2) and one in
    [T/2, T), target y = the sum of the two marked values. Baseline (predict 1): 1/6.

    ``variant="hochreiter"`` (Hochreiter & Schmidhuber 1997, experiment 4), with its
    choices: values U[−1, 1]; the length is drawn uniformly from the integers in
    [T, T + T//10] (so ``lengths`` is set and x is zero-padded to T + T//10); the first
    marker is one of the first 10 positions, the second one of the first T/2 − 1
    positions not already marked; both carry marker 1.0; the first and the last step
    carry marker −1.0 unless marked; if the first step is marked its value X1 is set to
    0; the target is 0.5 + (X1 + X2)/4, in [0, 1]. The paper counts a sequence as
    solved when |error| < 0.04. Baseline (predict 0.5): ≈ 1/24.

    → TaskData: inputs (n, T', 2) float32, targets (n, 1) float32.
    """
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    rng = _rng(seed)
    if variant == "arjovsky":
        if length < 2:
            raise ConfigError(f"length must be ≥ 2 for the adding problem, got {length}")
        half = length // 2
        values = rng.uniform(0.0, 1.0, (n, length))
        first = rng.integers(0, half, n)
        second = rng.integers(half, length, n)
        markers = np.zeros((n, length))
        rows = np.arange(n)
        markers[rows, first] = markers[rows, second] = 1.0
        target = values[rows, first] + values[rows, second]
        x = np.stack([values, markers], axis=-1)
        return TaskData(x.astype(np.float32), target[:, None].astype(np.float32))
    if variant == "hochreiter":
        return _adding_hochreiter(n, length, rng)
    raise ConfigError(f"variant must be 'arjovsky' or 'hochreiter', got {variant!r}")


def _adding_hochreiter(n: int, length: int, rng: np.random.Generator) -> TaskData:
    if length < 22:
        raise ConfigError(
            f"length must be ≥ 22 for the Hochreiter–Schmidhuber adding problem (the second "
            f"marker lies among the first T/2 − 1 steps, after the first ten), got {length}"
        )
    longest = length + length // 10
    lengths = rng.integers(length, longest + 1, n)
    x = np.zeros((n, longest, 2))
    target = np.empty(n)
    for k in range(n):
        T = int(lengths[k])
        values = rng.uniform(-1.0, 1.0, T)
        markers = np.zeros(T)
        markers[0] = markers[T - 1] = -1.0
        first = int(rng.integers(0, 10))
        # the second marker: one of the first T/2 − 1 positions other than ``first``
        candidates = np.delete(np.arange(length // 2 - 1), first)
        second = int(rng.choice(candidates))
        markers[first] = markers[second] = 1.0
        if first == 0 or second == 0:
            values[0] = 0.0
        target[k] = 0.5 + (values[first] + values[second]) / 4.0
        x[k, :T, 0], x[k, :T, 1] = values, markers
    return TaskData(x.astype(np.float32), target[:, None].astype(np.float32), lengths)


# -------------------------------------------------------------------------- copy memory
COPY_DATA_SYMBOLS = 8  #: data symbols a_0 … a_7
BLANK = 8  #: a_8, the blank
DELIMITER = 9  #: a_9, "now repeat"
COPY_SYMBOLS = 10  #: the alphabet size
COPY_LENGTH = 10  #: symbols to remember


def copy_baseline(delay: int) -> float:
    """Cross-entropy per step of the memoryless strategy: 10·ln 8 / (T + 20).

    It predicts the blank for the first T + 10 outputs (no loss) and a uniform guess
    among the 8 data symbols for the last 10 (ln 8 each), averaged over T + 20 steps.
    """
    delay = check_positive_int("delay", delay)
    return COPY_LENGTH * math.log(COPY_DATA_SYMBOLS) / (delay + 2 * COPY_LENGTH)


def copy_memory(n: int, delay: int, seed: Seed = 0) -> TaskData:
    """The copy-memory task of Arjovsky, Shah & Bengio (2016), delay T.

    Input (T + 20 ids): 10 data symbols drawn uniformly with replacement from a_0 … a_7,
    then T − 1 blanks (a_8), the delimiter (a_9), then 10 blanks. Target: T + 10 blanks,
    then the 10 data symbols in the same order. The loss is the cross-entropy averaged
    over all T + 20 steps; ``copy_baseline(T)`` is the memoryless strategy's.

    → TaskData: inputs (n, T + 20) int64, targets (n, T + 20) int64, per step.
    """
    n = check_positive_int("n", n)
    delay = check_positive_int("delay", delay)
    total = delay + 2 * COPY_LENGTH
    data = _rng(seed).integers(0, COPY_DATA_SYMBOLS, (n, COPY_LENGTH))
    inputs = np.full((n, total), BLANK, dtype=np.int64)
    inputs[:, :COPY_LENGTH] = data
    inputs[:, COPY_LENGTH + delay - 1] = DELIMITER
    targets = np.full((n, total), BLANK, dtype=np.int64)
    targets[:, -COPY_LENGTH:] = data
    return TaskData(inputs, targets, per_step_targets=True)


# -------------------------------------------------------------------------- counting
def _bits(n: int, length: int, density: float | None, rng: np.random.Generator) -> np.ndarray:
    """(n, T) bits; each sequence has its own density U[0.1, 0.5] unless one is given."""
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    if density is None:
        p = rng.uniform(0.1, 0.5, (n, 1))
    elif 0.0 <= density <= 1.0:
        p = np.full((n, 1), float(density))
    else:
        raise ConfigError(f"density must be in [0, 1] or None, got {density!r}")
    return (rng.random((n, length)) < p).astype(np.float32)


def parity(n: int, length: int, density: float | None = None, seed: Seed = 0) -> TaskData:
    """Running parity: input bits b_t, target at every step (b_1 + … + b_t) mod 2.

    → TaskData: inputs (n, T, 1) float32, targets (n, T) int64 (two classes), per step.
    """
    bits = _bits(n, length, density, _rng(seed))
    targets = (np.cumsum(bits, axis=1) % 2).astype(np.int64)
    return TaskData(bits[..., None], targets, per_step_targets=True)


def counting(n: int, length: int, density: float | None = None, seed: Seed = 0) -> TaskData:
    """Running count: input bits b_t, target at every step b_1 + … + b_t (regression).

    → TaskData: inputs (n, T, 1) float32, targets (n, T, 1) float32, per step.
    """
    bits = _bits(n, length, density, _rng(seed))
    return TaskData(bits[..., None], np.cumsum(bits, axis=1)[..., None], per_step_targets=True)


# -------------------------------------------------------------------------- sines
def sine_waves(
    n: int,
    length: int,
    noise: float = 0.0,
    periods: tuple[float, float] = (6.0, 30.0),
    seed: Seed = 0,
) -> TaskData:
    """One-step-ahead prediction of sine waves of random period, phase and amplitude.

    s_t = a sin(2π t / p + φ), p ~ U[periods], φ ~ U[0, 2π), a ~ U[0.5, 1]; the input is
    s_1 … s_T plus Gaussian noise of standard deviation ``noise``, the target the clean
    s_{T+1}. → TaskData: inputs (n, T, 1) float32, targets (n, 1) float32.
    """
    n = check_positive_int("n", n)
    length = check_positive_int("length", length)
    if noise < 0:
        raise ConfigError(f"noise must be ≥ 0, got {noise!r}")
    low, high = periods
    if not 0 < low <= high:
        raise ConfigError(f"periods must be (low, high) with 0 < low ≤ high, got {periods!r}")
    rng = _rng(seed)
    period = rng.uniform(low, high, (n, 1))
    phase = rng.uniform(0.0, 2 * np.pi, (n, 1))
    amplitude = rng.uniform(0.5, 1.0, (n, 1))
    t = np.arange(length + 1)[None, :]
    wave = amplitude * np.sin(2 * np.pi * t / period + phase)
    x = wave[:, :length] + noise * rng.standard_normal((n, length))
    return TaskData(x[..., None].astype(np.float32), wave[:, length:].astype(np.float32))


def noisy_sines(
    n: int,
    periods: tuple[float, ...] = (25.0, 9.0, 60.0),
    amplitudes: tuple[float, ...] = (1.0, 0.5, 0.3),
    noise: float = 0.1,
    seed: Seed = 0,
) -> np.ndarray:
    """One series of n points: Σ_k a_k sin(2π t / p_k + φ_k) + noise·ε_t.

    Phases φ_k ~ U[0, 2π) and ε_t ~ N(0, 1) come from ``seed``. → (n,) float64.
    """
    n = check_positive_int("n", n)
    if len(periods) != len(amplitudes) or not periods:
        raise ConfigError("periods and amplitudes must be non-empty and of the same length")
    if noise < 0:
        raise ConfigError(f"noise must be ≥ 0, got {noise!r}")
    rng = _rng(seed)
    t = np.arange(n, dtype=np.float64)
    phases = rng.uniform(0.0, 2 * np.pi, len(periods))
    series = sum(
        a * np.sin(2 * np.pi * t / p + phi)
        for a, p, phi in zip(amplitudes, periods, phases, strict=True)
    )
    return series + noise * rng.standard_normal(n)


# -------------------------------------------------------------------------- Mackey-Glass
def mackey_glass(
    n: int,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    power: float = 10.0,
    dt: float = 0.1,
    sample_every: float = 1.0,
    washout: float = 500.0,
    seed: Seed = 0,
) -> np.ndarray:
    """The Mackey-Glass delay equation, sampled every ``sample_every`` time units.

        dx/dt = β x(t − τ) / (1 + x(t − τ)^power) − γ x(t)

    With τ = 17 (the default) the solution is chaotic (Mackey & Glass 1977; the usual
    forecasting benchmark). Integrated with classical Runge–Kutta (RK4) at step ``dt``
    (τ and ``sample_every`` must be multiples of it): the delayed values at the stage
    times t − τ + dt/2 fall half-way between grid points and are interpolated with the
    cubic Hermite polynomial through the two neighbours and their derivatives,
    x(t + dt/2) ≈ (x_k + x_{k+1})/2 + dt (f_k − f_{k+1})/8, which keeps the scheme
    fourth order. The history x(t ≤ 0) is constant, x_0 ~ U[0.5, 1.5] drawn from
    ``seed``; the first ``washout`` time units are discarded so the series starts on
    the attractor. → (n,) float64, roughly in [0.2, 1.4].
    """
    n = check_positive_int("n", n)
    for name, value in (("tau", tau), ("dt", dt), ("sample_every", sample_every)):
        if not value > 0:
            raise ConfigError(f"{name} must be positive, got {value!r}")
    if washout < 0:
        raise ConfigError(f"washout must be ≥ 0, got {washout!r}")
    lag, stride = round(tau / dt), round(sample_every / dt)
    if not (math.isclose(lag * dt, tau) and math.isclose(stride * dt, sample_every)):
        raise ConfigError(
            f"tau ({tau}) and sample_every ({sample_every}) must be multiples of dt ({dt})"
        )
    skip = round(washout / sample_every)
    steps = (skip + n - 1) * stride
    x0 = float(_rng(seed).uniform(0.5, 1.5))

    def rate(x: float, delayed: float) -> float:
        return beta * delayed / (1.0 + delayed**power) - gamma * x

    # x[k] = x(k dt) for k = −lag … steps, stored at index k + lag; f[k] = dx/dt there
    x = np.empty(steps + lag + 1)
    f = np.zeros(steps + lag + 1)
    x[: lag + 1] = x0
    f[lag] = rate(x0, x0)
    for k in range(lag, lag + steps):
        d0, d1 = x[k - lag], x[k - lag + 1]
        d_half = 0.5 * (d0 + d1) + dt * (f[k - lag] - f[k - lag + 1]) / 8.0
        xk = x[k]
        k1 = rate(xk, d0)
        k2 = rate(xk + 0.5 * dt * k1, d_half)
        k3 = rate(xk + 0.5 * dt * k2, d_half)
        k4 = rate(xk + dt * k3, d1)
        x[k + 1] = xk + dt * (k1 + 2 * k2 + 2 * k3 + k4) / 6.0
        f[k + 1] = rate(x[k + 1], x[k + 1 - lag])
    return x[lag + skip * stride :: stride][:n].copy()
