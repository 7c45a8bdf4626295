"""The synthetic tasks: markers, targets, shapes, baselines, seeding, and the ODE solver."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlab.data import synthetic
from rnnlab.errors import ConfigError


def test_adding_arjovsky_has_one_marker_in_each_half_and_sums_them():
    task = synthetic.adding(500, 50, seed=3)
    x, y = task.inputs, task.targets
    assert x.shape == (500, 50, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :25].sum(axis=1) == 1) and np.all(markers[:, 25:].sum(axis=1) == 1)
    assert x[..., 0].min() >= 0 and x[..., 0].max() <= 1
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * markers).sum(axis=1), rtol=1e-6)
    assert task.lengths is None and not task.per_step_targets


def test_adding_baseline_of_predicting_one_is_a_sixth():
    y = synthetic.adding(20_000, 50, seed=0).targets
    assert np.mean((y - 1.0) ** 2) == pytest.approx(synthetic.ADDING_BASELINE_MSE, abs=0.005)
    assert pytest.approx(1 / 6) == synthetic.ADDING_BASELINE_MSE


def test_adding_hochreiter_follows_the_1997_definition():
    T = 100
    task = synthetic.adding(2000, T, variant="hochreiter", seed=1)
    x, y, lengths = task.inputs, task.targets, task.lengths
    assert x.shape == (2000, T + T // 10, 2)
    assert lengths.min() >= T and lengths.max() <= T + T // 10
    assert len(np.unique(lengths)) > 5  # lengths vary
    for k in range(200):
        n = lengths[k]
        values, markers = x[k, :n, 0], x[k, :n, 1]
        marked = np.flatnonzero(markers == 1.0)
        assert len(marked) == 2
        assert marked[0] < 10 and marked[1] < T // 2 - 1
        assert values.min() >= -1 and values.max() <= 1
        for end in (0, n - 1):  # first and last step carry −1 unless marked
            assert markers[end] in (-1.0, 1.0)
        assert np.all(x[k, n:] == 0)  # padding
        assert y[k, 0] == pytest.approx(0.5 + values[marked].sum() / 4, abs=1e-6)
        if markers[0] == 1.0:
            assert values[0] == 0.0
    assert y.min() >= 0 and y.max() <= 1
    baseline = np.mean((y - 0.5) ** 2)
    assert baseline == pytest.approx(synthetic.ADDING_HOCHREITER_BASELINE_MSE, rel=0.1)


def test_copy_memory_layout_and_memoryless_baseline():
    T = 10
    task = synthetic.copy_memory(64, T, seed=0)
    ids, targets = task.inputs, task.targets
    assert ids.shape == targets.shape == (64, T + 20) and task.per_step_targets
    data = ids[:, :10]
    assert data.max() < synthetic.COPY_DATA_SYMBOLS
    assert np.all(ids[:, 10 : 10 + T - 1] == synthetic.BLANK)
    assert np.all(ids[:, 10 + T - 1] == synthetic.DELIMITER)
    assert np.all(ids[:, -10:] == synthetic.BLANK)
    assert np.all(targets[:, : T + 10] == synthetic.BLANK)
    np.testing.assert_array_equal(targets[:, -10:], data)
    assert synthetic.copy_baseline(T) == pytest.approx(10 * math.log(8) / (T + 20))
    # the memoryless strategy's cross-entropy, computed from its probabilities
    p = np.zeros((T + 20, 10))
    p[: T + 10, synthetic.BLANK] = 1.0
    p[T + 10 :, :8] = 1 / 8
    with np.errstate(divide="ignore"):
        ce = -np.log(p[np.arange(T + 20)[None], targets]).mean()
    assert ce == pytest.approx(synthetic.copy_baseline(T))


def test_parity_and_counting_targets():
    task = synthetic.parity(50, 30, seed=2)
    bits = task.inputs[..., 0]
    assert task.inputs.shape == (50, 30, 1) and task.targets.dtype == np.int64
    np.testing.assert_array_equal(task.targets, np.cumsum(bits, axis=1).astype(int) % 2)
    count = synthetic.counting(50, 30, density=0.5, seed=2)
    np.testing.assert_allclose(count.targets[..., 0], np.cumsum(count.inputs[..., 0], axis=1))
    assert synthetic.parity(4, 10, density=0.0, seed=0).targets.sum() == 0


def test_sine_waves_predict_the_clean_next_value():
    task = synthetic.sine_waves(32, 40, seed=0)
    assert task.inputs.shape == (32, 40, 1) and task.targets.shape == (32, 1)
    assert np.abs(task.inputs).max() <= 1.0
    noisy = synthetic.sine_waves(32, 40, noise=0.3, seed=0)
    np.testing.assert_array_equal(noisy.targets, task.targets)  # same waves, noisy inputs
    assert 0.2 < np.std(noisy.inputs - task.inputs) < 0.4
    series = synthetic.noisy_sines(1000, seed=0)
    assert series.shape == (1000,) and series.dtype == np.float64


def test_mackey_glass_is_converged_and_on_the_attractor():
    x = synthetic.mackey_glass(1000, seed=0)
    assert x.shape == (1000,) and x.min() > 0.2 and x.max() < 1.45
    assert x.std() > 0.15  # chaotic oscillation, not a fixed point
    # halving the step changes the first 300 time units by little (RK4 + Hermite delay)
    coarse = synthetic.mackey_glass(300, dt=0.1, washout=0, seed=0)
    fine = synthetic.mackey_glass(300, dt=0.05, washout=0, seed=0)
    assert np.abs(coarse - fine).max() < 1e-3
    with pytest.raises(ConfigError, match="multiples of dt"):
        synthetic.mackey_glass(10, tau=17.05, dt=0.1)


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: synthetic.adding(20, 12, seed=seed),
        lambda seed: synthetic.adding(20, 40, "hochreiter", seed=seed),
        lambda seed: synthetic.copy_memory(20, 5, seed=seed),
        lambda seed: synthetic.parity(20, 12, seed=seed),
        lambda seed: synthetic.sine_waves(20, 12, noise=0.1, seed=seed),
    ],
)
def test_tasks_are_seeded_and_batchable(make):
    a, b, c = make(5), make(5), make(6)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.inputs, c.inputs)
    inputs, targets = a.batcher(8, seed=0).next_batch()
    x = inputs[0] if isinstance(inputs, tuple) else inputs
    assert x.shape[:2] == (a.inputs.shape[1], 8)  # time-major
    assert len(targets) == (a.inputs.shape[1] if a.per_step_targets else 8)


def test_a_generator_can_be_passed_and_bad_arguments_are_named():
    rng = np.random.default_rng(0)
    first, second = synthetic.adding(4, 10, seed=rng), synthetic.adding(4, 10, seed=rng)
    assert not np.array_equal(first.inputs, second.inputs)
    with pytest.raises(ConfigError, match="variant"):
        synthetic.adding(4, 10, variant="other")
    with pytest.raises(ConfigError, match="length"):
        synthetic.adding(4, 0)
    with pytest.raises(ConfigError, match="≥ 22"):
        synthetic.adding(4, 10, variant="hochreiter")
