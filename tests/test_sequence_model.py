"""Sequence models: exact gradients for every readout, learning, batching, resume, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.errors import ConfigError, DataError
from rnnlab.io import load_model, save_checkpoint
from rnnlab.models import SequenceModel, SequenceModelConfig
from rnnlab.train import TrainConfig, Trainer


def finite_difference_error(model, inputs, targets):
    """Max relative error of the analytic parameter gradients of compute_loss."""
    model.zero_grad()
    model.compute_loss(inputs, targets)
    worst = 0.0
    for name, param in model.params.items():
        analytic = model.grads[name].copy()
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + 1e-6
            plus = model.compute_loss(inputs, targets, train=False)[0]
            param[index] = saved - 1e-6
            minus = model.compute_loss(inputs, targets, train=False)[0]
            param[index] = saved
            numeric[index] = (plus - minus) / 2e-6
        scale = max(np.abs(analytic).max(), np.abs(numeric).max(), 1e-12)
        worst = max(worst, np.abs(analytic - numeric).max() / scale)
    return worst


@pytest.mark.parametrize("readout", ["last", "mean", "all"])
@pytest.mark.parametrize("task", ["regression", "classification"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gradients_of_every_readout_match_finite_differences(readout, task, cell, rng):
    config = SequenceModelConfig(
        input_size=2,
        output_size=3,
        task=task,
        readout=readout,
        cell=cell,
        hidden_size=3,
        num_layers=2,
        bidirectional=True,
        dtype="float64",
    )
    model = SequenceModel(config, seed=0)
    T, B = 5, 3
    lengths = np.array([5, 2, 4])
    x = rng.normal(size=(T, B, 2))
    shape = (T, B) if readout == "all" else (B,)
    if task == "regression":
        targets = rng.normal(size=(*shape, 3))
    else:
        targets = rng.integers(0, 3, size=shape)
    assert finite_difference_error(model, (x, lengths), targets) < 1e-6


def test_token_inputs_with_embedding_pass_the_gradient_check(rng):
    config = SequenceModelConfig(
        input_size=6,
        output_size=2,
        task="classification",
        input_tokens=True,
        embedding_dim=3,
        hidden_size=3,
        cell="rnn_tanh",
        dtype="float64",
    )
    model = SequenceModel(config, seed=1)
    ids = rng.integers(0, 6, size=(4, 3))
    assert finite_difference_error(model, ids, np.array([0, 1, 1])) < 1e-6


def test_padding_does_not_change_the_last_readout(rng):
    config = SequenceModelConfig(input_size=2, output_size=1, hidden_size=4, dtype="float64")
    model = SequenceModel(config, seed=0)
    x = rng.normal(size=(3, 1, 2))
    padded = np.concatenate([x, rng.normal(size=(4, 1, 2))])
    short = model.predict(x)
    long = model.predict((padded, np.array([3])))
    np.testing.assert_allclose(short, long, atol=1e-12)


def sum_task(n, rng):
    """Regression: the sum of a sequence of 6 numbers."""
    x = rng.uniform(-1, 1, size=(n, 6, 1)).astype(np.float32)
    return x, x.sum(axis=1)


def test_trainer_fits_a_many_to_one_regression_with_array_batches(rng):
    x, y = sum_task(512, rng)
    x_val, y_val = sum_task(128, rng)
    model = SequenceModel(SequenceModelConfig(input_size=1, output_size=1, hidden_size=16), seed=0)

    def val(m):
        return float(((m.predict(np.swapaxes(x_val, 0, 1)) - y_val) ** 2).mean())

    before = val(model)
    config = TrainConfig(steps=300, batch_size=32, lr=1e-2, eval_every=100, sample_every=0)
    result = Trainer(model, ArrayBatcher(x, y, 32, seed=0), val, config).fit()
    assert result.last_val_loss < before / 20


def test_resume_with_array_batches_is_bit_for_bit(tmp_path, rng):
    x, y = sum_task(256, rng)

    def make():
        model = SequenceModel(
            SequenceModelConfig(input_size=1, output_size=1, hidden_size=8, cell="gru"), seed=0
        )
        return model, ArrayBatcher(x, y, 16, seed=3)

    options = dict(batch_size=16, lr=1e-2, eval_every=50, sample_every=0, checkpoint_every=50)
    whole, batches = make()
    Trainer(whole, batches, None, TrainConfig(steps=40, **options)).fit()
    first, batches = make()
    Trainer(first, batches, None, TrainConfig(steps=25, **options), out_dir=tmp_path).fit()
    second, batches = make()
    resumed = Trainer(second, batches, None, TrainConfig(steps=40, **options), out_dir=tmp_path)
    resumed.restore(tmp_path / "last.safetensors")
    resumed.fit()
    for name, value in whole.params.items():
        np.testing.assert_array_equal(second.params[name], value, err_msg=name)


def test_sequence_model_checkpoints_round_trip_with_labels(tmp_path):
    config = SequenceModelConfig(
        input_size=3,
        output_size=2,
        task="classification",
        labels=["comedy", "tragedy"],
        bidirectional=True,
        hidden_size=5,
    )
    model = SequenceModel(config, seed=0)
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    loaded = load_model(path, kind="sequence")
    assert loaded.config.labels == ["comedy", "tragedy"]
    for name, value in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], value)


def test_array_batcher_visits_every_example_once_per_epoch():
    inputs = np.arange(20).reshape(10, 2)
    batcher = ArrayBatcher(inputs, np.arange(10), batch_size=5, seed=1)
    seen = np.concatenate([batcher.next_batch()[1] for _ in range(2)])
    assert sorted(seen) == list(range(10))
    x, _ = batcher.next_batch()
    assert batcher.wrapped and batcher.epoch == 1 and x.shape == (2, 5)


def test_bad_sequence_configs_and_data():
    with pytest.raises(ConfigError, match="task must be one of"):
        SequenceModelConfig(input_size=1, output_size=1, task="ranking")
    with pytest.raises(ConfigError, match="labels has 3 names but output_size is 2"):
        SequenceModelConfig(input_size=1, output_size=2, labels=["a", "b", "c"])
    with pytest.raises(DataError, match="fewer than one batch"):
        ArrayBatcher(np.zeros((3, 4)), np.zeros(3), batch_size=8)
