"""Long commands show their progress on a terminal, and piped output keeps every number
whole (rich would otherwise fit it to 80 columns)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_a_terminal(args: list[str], cwd, timeout: float = 300) -> str:
    """Run ``rnnlab ARGS`` with a pseudo-terminal as its stdout; its output, without
    terminal codes."""
    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rnnlab.cli", *args],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
        env=env,
    )
    os.close(follower)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], timeout)
            if not ready:
                raise TimeoutError(f"rnnlab {' '.join(args)} printed nothing for {timeout} s")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the other end closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        process.wait(timeout)
        os.close(leader)
    assert process.returncode == 0, b"".join(chunks)[-2000:]
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


def test_train_shows_a_progress_bar_on_a_terminal(corpus, tmp_path):
    args = ["train", "--data", str(corpus), "--steps", "30", "--hidden", "16", "--batch", "4"]
    shown = on_a_terminal([*args, "--seq-len", "16", "--out", "run"], tmp_path)
    assert re.search(r"step \d+/30", shown) and "tok/s" in shown and "ETA" in shown


def test_an_experiment_shows_a_bar_per_run_on_a_terminal(tmp_path):
    args = ["experiment", "adding", "--steps", "30", "--cell", "lstm,gru", "--out", "exp"]
    shown = on_a_terminal(args, tmp_path)
    assert re.search(r"lstm-64 seed 0\s.*step \d+/30", shown)
    assert re.search(r"gru-64 seed 0\s.*step \d+/30", shown)


def test_piped_tables_keep_every_number_whole(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    args = ["experiment", "adding", "--steps", "20", "--cell", "lstm", "--out", "exp"]
    done = subprocess.run(
        [sys.executable, "-m", "rnnlab.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        check=True,
    )
    row = next(line for line in done.stdout.splitlines() if "lstm-64 seed 0 " in line)
    assert "…" not in row
    assert re.search(r"\b0\.\d{4}\b", row)  # the MSEs, to four decimals


def test_an_application_shows_its_progress_on_a_terminal(tmp_path):
    args = ["forecast", "train", "--steps", "40", "--hidden", "8", "--no-plot", "--out", "f"]
    shown = on_a_terminal(args, tmp_path)
    assert re.search(r"step \d+/40", shown)


def test_the_benchmark_shows_a_line_per_measurement_on_a_terminal(tmp_path):
    args = ["bench", "--cells", "rnn", "--hidden", "16", "--batch", "1", "--threads", "1"]
    shown = on_a_terminal([*args, "--repeats", "1", "--out", "results"], tmp_path)
    assert re.search(r"1 thr\s+rnn H=16\s+B=1\s+train\s+[\d,]+ tok/s", shown)
