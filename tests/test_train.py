"""The trainer: learning happens, resume is exact, divergence stops cleanly, budgets hold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlab.data.text import CharVocab
from rnnlab.errors import ConfigError
from rnnlab.io import load_checkpoint
from rnnlab.models import LanguageModel, LanguageModelConfig
from rnnlab.train import TrainConfig, Trainer, evaluate

TEXT = "the cat sat on the mat. the dog sat on the log. " * 60


def setup(cell="lstm", seed=0, dropout=0.0, layers=1, **options):
    vocab = CharVocab.from_text(TEXT)
    ids = vocab.encode(TEXT)
    split = int(0.9 * len(ids))
    config = LanguageModelConfig(
        vocab_size=len(vocab), cell=cell, hidden_size=24, num_layers=layers, dropout=dropout
    )
    model = LanguageModel(config, seed=seed, vocab=vocab)
    defaults = dict(
        steps=30,
        batch_size=4,
        seq_len=16,
        eval_every=10,
        sample_every=0,
        checkpoint_every=10,
        log_every=5,
        lr=1e-2,
    )
    return model, ids[:split], ids[split:], TrainConfig(**(defaults | options))


def test_validation_loss_starts_near_ln_vocab_and_falls():
    model, train, val, config = setup(steps=150)
    initial, _ = evaluate(model, val, 4, 16)
    assert abs(initial - np.log(len(model.vocab))) < 0.15
    result = Trainer(model, train, val, config).fit()
    assert result.stopped == "steps" and result.step == 150
    assert result.last_val_loss < initial - 1.0


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_resume_is_bit_for_bit_identical_to_an_uninterrupted_run(tmp_path, cell):
    """Train N steps, stop, resume to 2N: the same parameters as 2N steps in one go."""
    # dropout with two layers: the dropout generator's state must survive the resume too
    model, train, val, config = setup(cell, dropout=0.3, layers=2, steps=40)
    Trainer(model, train, val, config, out_dir=tmp_path / "whole").fit()

    first, train, val, half = setup(cell, dropout=0.3, layers=2, steps=20)
    Trainer(first, train, val, half, out_dir=tmp_path / "split").fit()
    second, train, val, _ = setup(cell, dropout=0.3, layers=2, seed=99)  # other init: overwritten
    resumed = Trainer(second, train, val, config, out_dir=tmp_path / "split")
    resumed.restore(tmp_path / "split" / "last.safetensors")
    assert resumed.step == 20
    resumed.fit()

    for name, value in model.params.items():
        np.testing.assert_array_equal(second.params[name], value, err_msg=name)


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    model, train, val, config = setup(steps=40, checkpoint_every=5, clip=None)
    trainer = Trainer(model, train, val, config, out_dir=tmp_path)
    original_step = trainer.train_step

    def poisoned_step():
        if trainer.step == 12:
            model.head.params["bias"][0] = np.nan  # what an exploding update leaves behind
        return original_step()

    trainer.train_step = poisoned_step
    result = trainer.fit()
    assert result.stopped == "diverged"
    assert "diverged at step 13" in result.message and "--lr" in result.message
    checkpoint = load_checkpoint(tmp_path / "last.safetensors")
    assert checkpoint.train_state["step"] == 10
    assert all(np.isfinite(v).all() for v in checkpoint.params.values())


def test_metrics_are_logged_as_json_lines(tmp_path):
    model, train, val, config = setup(steps=20)
    Trainer(model, train, val, config, out_dir=tmp_path).fit()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if r["event"] == "eval"]
    trains = [r for r in records if r["event"] == "train"]
    assert [r["step"] for r in evals] == [0, 10, 20]
    assert [r["step"] for r in trains] == [5, 10, 15, 20]
    assert all(r["val_bpc"] == pytest.approx(r["val_loss"] / np.log(2)) for r in evals)
    assert all(r["tokens_per_second"] > 0 and r["grad_norm"] > 0 for r in trains)


def test_early_stopping_after_patience_runs_out():
    model, train, val, config = setup(steps=1000, lr=50.0, patience=2, eval_every=5)
    result = Trainer(model, train, val, config).fit()
    assert result.stopped in ("early stopping", "diverged")
    assert result.step < 1000


def test_best_checkpoint_holds_the_best_validation_loss(tmp_path):
    model, train, val, config = setup(steps=30)
    result = Trainer(model, train, val, config, out_dir=tmp_path).fit()
    best = load_checkpoint(tmp_path / "best.safetensors")
    assert best.train_state["best_val_loss"] == result.best_val_loss


@pytest.mark.parametrize(
    "options, match",
    [
        (dict(steps=None, minutes=None), "steps or minutes"),
        (dict(steps=0), "steps must be a positive integer"),
        (dict(batch_size=-1), "batch_size must be a positive integer"),
        (dict(lr=0.0), "lr must be positive"),
        (dict(clip_mode="max"), "clip_mode must be 'norm' or 'value'"),
    ],
)
def test_bad_train_options(options, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**options)
