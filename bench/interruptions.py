"""Kill training runs at random moments and check that each resumes to the very weights
of an uninterrupted run (issue #25: "nothing lost").

For every schedule (constant, cosine, warmup_cosine, step) a reference run trains
without interruption. Then, for each interruption, a fresh run is started and sent
SIGKILL (or SIGINT) at a random moment; ``rnnlab train --resume`` is run until the run
reports that it finished (resuming again if a kill left no newer checkpoint), and its
final weights are compared with the reference's. A run killed before its first
checkpoint is started again, as a user would.

    python bench/interruptions.py [--kills 20] [--interrupts 5] [--seed 0]

Prints a Markdown table (one row per interruption: schedule, signal, moment, the step
it resumed from, max |Δw|) and the totals.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from rnnlab.data.corpora import shakespeare
from rnnlab.io import load_checkpoint

SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")
#: a run of a few seconds with frequent checkpoints (best at every improving validation)
RUN = ("--steps", "150", "--hidden", "96", "--batch", "8", "--seq-len", "48")
RUN += ("--eval-every", "15", "--sample-every", "0", "--sample-length", "0")


def rnnlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnnlab.cli", *args]


def train(data: Path, out: Path, schedule: str, *extra: str) -> subprocess.CompletedProcess:
    command = rnnlab("train", "--data", str(data), *RUN, "--schedule", schedule, "--out", str(out))
    return subprocess.run([*command, *extra], capture_output=True, text=True, timeout=600)


def weights(run: Path) -> dict[str, np.ndarray]:
    return load_checkpoint(run / "last.safetensors").params


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def interrupted_run(data: Path, out: Path, schedule: str, number: int, moment: float) -> int:
    """Start a run, send it ``number`` after ``moment`` seconds, then resume it until it
    finishes; returns the step of the first checkpoint it resumed from (0: none)."""
    command = rnnlab("train", "--data", str(data), *RUN, "--schedule", schedule)
    process = subprocess.Popen(
        [*command, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        process.wait(moment)
    except subprocess.TimeoutExpired:
        process.send_signal(number)
        process.wait(60)
    resumed_from = 0
    for _ in range(5):
        if not any((out / name).exists() for name in ("last.safetensors", "best.safetensors")):
            done = train(data, out, schedule, "--force")  # killed before any checkpoint
        else:
            saved = out / "last.safetensors"
            source = saved if saved.exists() else out / "best.safetensors"
            resumed_from = resumed_from or int(load_checkpoint(source).train_state["step"])
            resume = rnnlab("train", "--resume", str(out))
            done = subprocess.run(resume, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            return resumed_from
    raise RuntimeError(f"{out} never finished: {done.stderr[-300:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs, over the schedules")
    parser.add_argument("--interrupts", type=int, default=5, help="SIGINTs, over the schedules")
    parser.add_argument("--seed", type=int, default=0, help="seed of the moments")
    options = parser.parse_args()
    chooser = random.Random(options.seed)
    folder = Path(tempfile.mkdtemp(prefix="rnnlab-interruptions-"))
    data = folder / "data.txt"
    data.write_text(shakespeare()[:200_000], encoding="utf-8")
    try:
        reference, seconds = {}, {}
        for schedule in SCHEDULES:
            started = time.perf_counter()
            done = train(data, folder / f"whole-{schedule}", schedule)
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-500:])
            seconds[schedule] = time.perf_counter() - started
            reference[schedule] = weights(folder / f"whole-{schedule}")
        plan = [signal.SIGKILL] * options.kills + [signal.SIGINT] * options.interrupts
        print("| # | schedule | signal | after s | resumed from step | max abs Δw |")
        print("|---:|---|---|---:|---:|---:|")
        exact = 0
        for index, number in enumerate(plan):
            schedule = SCHEDULES[index % len(SCHEDULES)]
            moment = chooser.uniform(0.3, seconds[schedule])
            out = folder / f"run-{index}"
            step = interrupted_run(data, out, schedule, number, moment)
            difference = max_difference(weights(out), reference[schedule])
            exact += difference == 0.0
            name = signal.Signals(number).name
            row = (index + 1, schedule, name, f"{moment:.2f}", step, f"{difference:.3g}")
            print("| " + " | ".join(map(str, row)) + " |")
            sys.stdout.flush()
            shutil.rmtree(out)
        print(f"\n{exact} of {len(plan)} interrupted runs ended with the uninterrupted weights")
        leftovers = list(folder.glob("**/.*.tmp-*"))
        print(f"temporary files left: {len(leftovers)}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
