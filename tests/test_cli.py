"""The rnnlab command as a user runs it: train, resume, sample, next, evaluate, info, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.io import load_checkpoint

CORPUS = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 80


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run ``rnnlab ARGS`` in this process; returns (exit status, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["rnnlab", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        cli.main()
        status = 0
    except SystemExit as exit_:
        status = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return status, captured.out, captured.err


TINY = [
    "--hidden",
    "16",
    "--batch",
    "4",
    "--seq-len",
    "16",
    "--eval-every",
    "10",
    "--sample-every",
    "0",
    "--sample-length",
    "40",
]


def test_train_prints_progress_validation_and_generated_text(
    trained, tmp_path, corpus, monkeypatch, capsys
):
    status, stdout, _ = run(
        monkeypatch,
        capsys,
        "train",
        "--data",
        str(corpus),
        "--steps",
        "10",
        "--out",
        str(tmp_path / "again"),
        *TINY,
    )
    assert status == 0
    assert "validation loss" in stdout and "nats/char" in stdout and "bits/char" in stdout
    assert "stopped after 10 steps" in stdout
    generated = stdout.split("generated text")[-1]
    assert len(generated.strip()) > 0
    assert (trained / "last.safetensors").exists() and (trained / "best.safetensors").exists()
    assert (trained / "metrics.jsonl").exists()


def test_resume_continues_from_the_last_checkpoint(trained, monkeypatch, capsys):
    status, stdout, _ = run(
        monkeypatch,
        capsys,
        "train",
        "--resume",
        str(trained),
        "--steps",
        "30",
        "--sample-length",
        "10",
    )
    assert status == 0, stdout
    assert "resuming" in stdout and "at step 20" in stdout
    assert load_checkpoint(trained / "last.safetensors").train_state["step"] == 30


def test_sample_is_reproducible_with_a_seed_and_starts_with_the_prime(trained, monkeypatch, capsys):
    args = ["sample", str(trained), "--prime", "ROMEO:", "-n", "50", "--seed", "3"]
    status, first, _ = run(monkeypatch, capsys, *args)
    _, second, _ = run(monkeypatch, capsys, *args)
    assert status == 0 and first == second
    assert first.startswith("ROMEO:") and len(first.rstrip("\n")) == 56


def test_next_prints_a_table_of_ten(trained, monkeypatch, capsys):
    status, stdout, _ = run(monkeypatch, capsys, "next", str(trained), "But sof")
    assert status == 0
    ranks = [line for line in stdout.splitlines() if line.strip()[:1].isdigit() or "│" in line]
    assert any(" 10 " in line for line in ranks)
    probabilities = [
        float(tok)
        for line in stdout.splitlines()
        for tok in line.split()
        if tok.count(".") == 1 and tok.replace(".", "").isdigit()
    ]
    assert len(probabilities) == 10 and probabilities == sorted(probabilities, reverse=True)


def test_evaluate_prints_nats_and_bits_and_counts_skipped_characters(
    trained, tmp_path, monkeypatch, capsys
):
    text = tmp_path / "eval.txt"
    text.write_text("But soft, what light? ✓✓ " * 20, encoding="utf-8")
    status, stdout, _ = run(monkeypatch, capsys, "evaluate", str(trained), "--data", str(text))
    assert status == 0
    first = stdout.splitlines()[0]
    nats, bits = float(first.split()[0]), float(first.split("(")[1].split()[0])
    assert first.endswith("bits/char)") and bits == pytest.approx(nats / np.log(2), abs=0.01)
    assert "40 skipped" in stdout


def test_info_shows_the_configuration_and_step(trained, monkeypatch, capsys):
    status, stdout, _ = run(monkeypatch, capsys, "info", str(trained))
    assert status == 0
    assert "lstm" in stdout and "hidden_size" in stdout and "step" in stdout


def write(name: str, content: str | bytes):
    """A maker of a data file in the test's directory."""

    def make(directory):
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


@pytest.mark.parametrize(
    "make, args, message",
    [
        (lambda p: p / "missing.txt", [], "no such file"),
        (write("empty.txt", ""), [], "empty"),
        (write("bin.txt", b"ab\xff\xfe\x00cd"), [], "bin.txt"),
        (write("short.txt", "tiny text " * 20), [], "need at least"),
        (lambda p: p / "corpus.txt", ["--hidden", "0"], "Invalid value for '--hidden'"),
        (lambda p: p / "corpus.txt", ["--layers=-1"], "Invalid value for '--layers'"),
        (lambda p: p / "corpus.txt", ["--batch", "0"], "batch_size must be a positive integer"),
    ],
    ids=[
        "missing",
        "empty",
        "binary",
        "shorter-than-a-batch",
        "zero-hidden",
        "negative-layers",
        "zero-batch",
    ],
)
def test_train_rejects_bad_data_and_sizes(
    make, args, message, tmp_path, corpus, monkeypatch, capsys
):
    data = make(tmp_path)
    status, _, stderr = run(
        monkeypatch,
        capsys,
        "train",
        "--data",
        str(data),
        "--steps",
        "5",
        "--out",
        str(tmp_path / "o"),
        *args,
    )
    assert status == 2
    assert "rror" in stderr and message in stderr  # "error:" or typer's usage "Error"
    assert "Traceback" not in stderr


def test_sample_rejects_unknown_prime_characters_and_negative_temperature(
    trained, monkeypatch, capsys
):
    status, _, stderr = run(monkeypatch, capsys, "sample", str(trained), "--prime", "Zebra✓")
    assert status == 2 and "'✓'" in stderr
    status, _, stderr = run(monkeypatch, capsys, "sample", str(trained), "--temperature", "-1")
    assert status == 2 and "temperature" in stderr


def test_truncated_tampered_and_foreign_checkpoints_are_refused(
    trained, tmp_path, monkeypatch, capsys
):
    good = (trained / "last.safetensors").read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good[: len(good) // 2])
    status, _, stderr = run(monkeypatch, capsys, "sample", str(truncated))
    assert status == 2 and "truncated" in stderr

    tampered = bytearray(good)
    tampered[-10] ^= 0xFF  # inside the tensor data, after the JSON header
    path = tmp_path / "tampered.safetensors"
    path.write_bytes(bytes(tampered))
    status, _, stderr = run(monkeypatch, capsys, "sample", str(path))
    assert status == 2 and "modified or corrupted" in stderr

    status, _, stderr = run(monkeypatch, capsys, "info", str(tmp_path / "nowhere"))
    assert status == 2 and "nowhere" in stderr


def test_a_checkpoint_of_another_model_kind_is_refused(trained, tmp_path, monkeypatch, capsys):
    import shutil

    from test_io import rewrite

    foreign = tmp_path / "forecast.safetensors"
    shutil.copy(trained / "last.safetensors", foreign)
    rewrite(foreign, lambda tensors, doc: doc.update(model_kind="forecast"))
    status, _, stderr = run(monkeypatch, capsys, "sample", str(foreign))
    assert status == 2 and "a 'forecast' model, expected 'language'" in stderr
