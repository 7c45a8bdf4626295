"""Nothing is lost: a run is never overwritten by accident, an interrupted run saves its
state and says how to go on, and a resumed run continues exactly (budget, schedule,
optimiser) as if it had never stopped."""

from __future__ import annotations

import hashlib
import os
import signal
from dataclasses import replace

import numpy as np
import pytest

from rnnlab import io as checkpoints
from rnnlab.cli import ProgressReport
from rnnlab.errors import CheckpointError
from rnnlab.io import load_checkpoint
from rnnlab.runs import CharRunConfig, prepare_run
from tests.test_cli import TINY, run


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train(monkeypatch, capsys, corpus, *args: str) -> tuple[int, str, str]:
    return run(monkeypatch, capsys, "train", "--data", str(corpus), *TINY, *args)


# -- run directories ---------------------------------------------------------------------
def test_training_again_without_out_starts_a_new_numbered_run(
    tmp_path, corpus, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert train(monkeypatch, capsys, corpus, "--steps", "20")[0] == 0
    best = digest(tmp_path / "runs/char/best.safetensors")
    status, stdout, _ = train(monkeypatch, capsys, corpus, "--steps", "10", "--seed", "1")
    assert status == 0
    assert "checkpoints in runs/char-2" in stdout.replace("\n", " ")
    assert digest(tmp_path / "runs/char/best.safetensors") == best  # the first run is intact
    assert load_checkpoint(tmp_path / "runs/char/last.safetensors").train_state["step"] == 20


def test_an_out_that_holds_a_run_is_refused_naming_resume_and_force(
    tmp_path, corpus, monkeypatch, capsys
):
    out = tmp_path / "run"
    assert train(monkeypatch, capsys, corpus, "--steps", "20", "--out", str(out))[0] == 0
    before = {name: digest(out / name) for name in ("best.safetensors", "last.safetensors")}
    status, _, stderr = train(monkeypatch, capsys, corpus, "--steps", "5", "--out", str(out))
    assert status == 2
    assert "already holds a run" in stderr and "--resume" in stderr and "--force" in stderr
    assert {name: digest(out / name) for name in before} == before
    status, _, _ = train(monkeypatch, capsys, corpus, "--steps", "5", "--out", str(out), "--force")
    assert status == 0
    assert load_checkpoint(out / "last.safetensors").train_state["step"] == 5


@pytest.mark.parametrize("where", ["a file", "under a file", "/dev/null"])
def test_an_out_that_cannot_be_written_fails_at_once_in_one_line(
    where, tmp_path, corpus, monkeypatch, capsys
):
    (tmp_path / "file").write_text("not a directory")
    out = {"a file": tmp_path / "file", "under a file": tmp_path / "file/run"}.get(where, where)
    status, stdout, stderr = train(monkeypatch, capsys, corpus, "--steps", "5", "--out", str(out))
    assert status == 2
    assert str(out) in stderr and len(stderr.strip().splitlines()) == 1
    assert "step" not in stdout  # refused before any training


def test_bad_sampling_options_are_refused_before_training(tmp_path, corpus, monkeypatch, capsys):
    out = tmp_path / "run"
    status, _, stderr = train(monkeypatch, capsys, corpus, "--out", str(out), "--temperature", "-1")
    assert status == 2 and "temperature" in stderr
    assert not out.exists()
    status, _, stderr = train(monkeypatch, capsys, corpus, "--out", str(out), "--sample-length=-1")
    assert status == 2 and "sample-length" in stderr
    assert not out.exists()


# -- interruptions -----------------------------------------------------------------------
def interrupt_at(step: int, number: int = signal.SIGINT):
    """A report hook that sends this process ``number`` once the run reaches ``step``."""
    sent = []

    def report(event):
        if event.get("event") == "train" and event["step"] >= step and not sent:
            sent.append(True)
            os.kill(os.getpid(), number)

    return report


def config(**changes) -> CharRunConfig:
    base = CharRunConfig(
        data="", hidden=12, batch_size=4, seq_len=8, eval_every=7, sample_every=0, log_every=1
    )
    return replace(base, minutes=None, **changes)


@pytest.mark.parametrize(
    "schedule, optimizer",
    [
        ("constant", "adam"),
        ("cosine", "adam"),
        ("warmup_cosine", "momentum"),
        ("step", "rmsprop"),
        ("cosine", "sgd"),
        ("constant", "adamw"),
        ("step", "nesterov"),
        ("warmup_cosine", "adagrad"),
    ],
)
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, corpus, schedule, optimizer):
    chosen = config(
        data=str(corpus), steps=30, schedule=schedule, optimizer=optimizer, dropout=0.1, layers=2
    )
    whole = prepare_run(chosen, out=tmp_path / "whole").trainer
    whole.fit()

    stopped = prepare_run(chosen, out=tmp_path / "parts").trainer
    stopped.report = interrupt_at(13)
    result = stopped.fit()
    assert result.stopped == "interrupted" and result.signal == signal.SIGINT
    saved = load_checkpoint(tmp_path / "parts/last.safetensors")
    assert saved.train_state["step"] == 13 == result.step

    resumed = prepare_run(resume=tmp_path / "parts").trainer
    assert resumed.config.steps == 30 and resumed.config.schedule == schedule
    assert resumed.fit().stopped == "steps"
    for name, value in whole.model.params.items():
        assert np.array_equal(resumed.model.params[name], value), name


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_a_run_with_recurrent_dropout_and_zoneout_resumes_bit_for_bit(tmp_path, corpus, cell):
    """Their masks come from the model's generator, whose state the checkpoint carries."""
    chosen = config(data=str(corpus), steps=20, cell=cell, recurrent_dropout=0.3, zoneout=0.2)
    whole = prepare_run(chosen, out=tmp_path / "whole").trainer
    whole.fit()
    stopped = prepare_run(chosen, out=tmp_path / "parts").trainer
    stopped.report = interrupt_at(9)
    assert stopped.fit().stopped == "interrupted"
    resumed = prepare_run(resume=tmp_path / "parts").trainer
    assert resumed.model.rnn.recurrent_dropout == 0.3 and resumed.model.rnn.zoneout == 0.2
    assert resumed.fit().stopped == "steps"
    for name, value in whole.model.params.items():
        assert np.array_equal(resumed.model.params[name], value), name


def test_sigterm_saves_as_sigint_does(tmp_path, corpus):
    trainer = prepare_run(config(data=str(corpus), steps=40), out=tmp_path / "run").trainer
    trainer.report = interrupt_at(9, signal.SIGTERM)
    result = trainer.fit()
    assert (result.stopped, result.signal, result.step) == ("interrupted", signal.SIGTERM, 9)
    assert load_checkpoint(tmp_path / "run/last.safetensors").train_state["step"] == 9
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers are put back


def test_ctrl_c_on_the_command_line_saves_and_says_how_to_resume(
    tmp_path, corpus, monkeypatch, capsys
):
    shown = ProgressReport.__call__

    def report(self, event):
        shown(self, event)
        if event.get("event") == "train" and event["step"] == 10:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ProgressReport, "__call__", report)
    out = tmp_path / "run"
    status, stdout, _ = train(monkeypatch, capsys, corpus, "--steps", "1000", "--out", str(out))
    assert status == 130
    said = " ".join(stdout.split())
    assert "interrupted at step 10" in said and f"rnnlab train --resume {out}" in said
    assert load_checkpoint(out / "last.safetensors").train_state["step"] == 10


def test_last_is_written_by_the_clock_as_well_as_by_steps(tmp_path, corpus, monkeypatch):
    chosen = config(data=str(corpus), steps=6, checkpoint_every=1000, checkpoint_seconds=1e-9)
    trainer = prepare_run(chosen, out=tmp_path / "run").trainer
    steps_saved = []
    save = type(trainer).save
    monkeypatch.setattr(
        type(trainer),
        "save",
        lambda self, name: steps_saved.append((name, self.step)) or save(self, name),
    )
    trainer.fit()
    assert [step for name, step in steps_saved if name == "last"][:6] == [1, 2, 3, 4, 5, 6]


# -- resuming ------------------------------------------------------------------------------
def test_resume_keeps_the_original_budget_and_refuses_other_options(
    tmp_path, corpus, monkeypatch, capsys
):
    out = tmp_path / "run"
    assert train(monkeypatch, capsys, corpus, "--steps", "12", "--out", str(out))[0] == 0
    checkpoint = load_checkpoint(out / "last.safetensors")
    assert checkpoint.train_state["config"]["steps"] == 12
    status, stdout, _ = run(monkeypatch, capsys, "train", "--resume", str(out))
    assert status == 0
    assert "budget: 12 steps" in " ".join(stdout.split())  # not the command's default
    status, _, stderr = run(monkeypatch, capsys, "train", "--resume", str(out), "--hidden", "64")
    assert status == 2 and "--hidden cannot be changed" in " ".join(stderr.split())


def test_resume_from_a_directory_with_only_best(tmp_path, corpus, monkeypatch, capsys):
    out = tmp_path / "run"
    assert train(monkeypatch, capsys, corpus, "--steps", "20", "--out", str(out))[0] == 0
    (out / "last.safetensors").unlink()
    best_step = load_checkpoint(out / "best.safetensors").train_state["step"]
    status, stdout, _ = run(monkeypatch, capsys, "train", "--resume", str(out), "--steps", "25")
    assert status == 0 and f"at step {best_step}" in stdout
    assert load_checkpoint(out / "last.safetensors").train_state["step"] == 25


def test_resume_into_another_out_leaves_the_original_intact(tmp_path, corpus, monkeypatch, capsys):
    out, fork = tmp_path / "run", tmp_path / "fork"
    assert train(monkeypatch, capsys, corpus, "--steps", "10", "--out", str(out))[0] == 0
    before = digest(out / "last.safetensors")
    args = ["train", "--resume", str(out), "--out", str(fork), "--steps", "15"]
    status, stdout, _ = run(monkeypatch, capsys, *args)
    assert status == 0 and f"checkpoints in {fork}" in " ".join(stdout.split())
    assert digest(out / "last.safetensors") == before
    assert load_checkpoint(fork / "last.safetensors").train_state["step"] == 15


def test_the_time_budget_counts_the_time_of_earlier_invocations(tmp_path, corpus):
    chosen = config(data=str(corpus), steps=1000)
    trainer = prepare_run(chosen, out=tmp_path / "run").trainer
    trainer.report = interrupt_at(5)
    trainer.fit()
    used = load_checkpoint(tmp_path / "run/last.safetensors").train_state["seconds"]
    assert used > 0
    resumed = prepare_run(resume=tmp_path / "run", minutes=used / 60 / 2).trainer
    result = resumed.fit()  # its budget was spent before: it stops at once
    assert (result.stopped, result.step) == ("time", 5)


def test_a_malformed_training_state_is_refused_in_one_line(tmp_path, corpus, monkeypatch, capsys):
    from tests.test_io import rewrite

    out = tmp_path / "run"
    assert train(monkeypatch, capsys, corpus, "--steps", "10", "--out", str(out))[0] == 0
    rewrite(out / "last.safetensors", lambda tensors, doc: doc["train_state"].update(step="abc"))
    with pytest.raises(CheckpointError, match="training state is malformed"):
        prepare_run(resume=out)
    status, _, stderr = run(monkeypatch, capsys, "train", "--resume", str(out))
    assert status == 2 and "malformed" in stderr and "Traceback" not in stderr


def test_temporary_files_of_killed_writes_are_removed_at_the_next_write(tmp_path, corpus):
    out = tmp_path / "run"
    trainer = prepare_run(config(data=str(corpus), steps=3), out=out).trainer
    out.mkdir()
    dead = out / f".last.safetensors.tmp-{2**22 + 7}-abc"  # no such process
    old_style = out / ".best.safetensors.tmp-xyz"
    live = out / f".last.safetensors.tmp-{os.getpid()}-abc"  # being written by us
    for path in (dead, old_style, live):
        path.write_bytes(b"half a checkpoint")
    trainer.fit()
    assert not dead.exists() and not old_style.exists()
    assert live.exists()
    assert checkpoints.remove_stale_temporaries(out) == []


def test_runs_started_together_never_share_a_directory(tmp_path):
    from rnnlab.rundir import claim

    first, second = (claim(None, tmp_path / "runs/char") for _ in range(2))
    assert (first.name, second.name) == ("char", "char-2")  # the first is taken at once


def test_a_run_that_cannot_start_leaves_its_directory_free(tmp_path, corpus, monkeypatch, capsys):
    out = tmp_path / "run"
    status, _, stderr = train(monkeypatch, capsys, corpus, "--out", str(out), "--data", "nope.txt")
    assert status == 2 and "no such file" in stderr
    assert train(monkeypatch, capsys, corpus, "--steps", "5", "--out", str(out))[0] == 0


def test_force_replaces_a_run_only_once_the_new_one_can_start(
    tmp_path, corpus, monkeypatch, capsys
):
    out = tmp_path / "run"
    assert train(monkeypatch, capsys, corpus, "--steps", "10", "--out", str(out))[0] == 0
    before = digest(out / "best.safetensors")
    args = ["--out", str(out), "--force", "--data", "nope.txt"]
    assert train(monkeypatch, capsys, corpus, *args)[0] == 2
    assert digest(out / "best.safetensors") == before  # a typo did not cost the old run


def test_results_and_plots_are_written_whole_with_ordinary_permissions(tmp_path):
    from rnnlab.experiments.common import write_json
    from rnnlab.files import umask, write_atomically

    path = write_json(tmp_path / "results.json", {"exact": 0.95})
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask()  # not a temporary file's 0600

    def fail(handle) -> None:
        handle.write(b"half of it")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, fail)
    assert path.read_text() == '{\n "exact": 0.95\n}\n'  # the old file, whole
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary left
