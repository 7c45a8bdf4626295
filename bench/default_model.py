"""The sweep behind ``rnnlab train``'s default model: which model and schedule learn the
most in three minutes on this machine (issue #24).

Each candidate is a real ``rnnlab train --minutes 3`` run on the bundled plays. A
candidate with a decaying schedule needs a step budget that ends within the three
minutes, so each model size is first timed for a few hundred steps and its budget set
to what it reaches in ``SECONDS_OF_STEPS`` seconds. For every run the table gives the
steps done, the validation loss on all of the held-out text (nats/char) and the share
of the words of three samples (800 characters at temperature 0.8, seeds 1–3) that occur
in the corpus.

    python bench/default_model.py [--only NAME,...] > bench/results/default-model.md
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from rnnlab.data.corpora import shakespeare
from rnnlab.io import load_checkpoint

#: seconds of training steps a decaying schedule is planned for (3 minutes, less the
#: compilation, the evaluations and the samples)
SECONDS_OF_STEPS = 150.0
#: candidate → (the options, whether its schedule decays over a step budget)
CANDIDATES: dict[str, tuple[list[str], bool]] = {
    "lstm-128 constant (old default)": (["--hidden", "128"], False),
    "lstm-256 constant": (["--hidden", "256"], False),
    "lstm-256 cosine lr 3e-3": (["--hidden", "256", "--schedule", "cosine", "--lr", "3e-3"], True),
    "lstm-256 cosine": (["--hidden", "256", "--schedule", "cosine"], True),
    "lstm-384 constant": (["--hidden", "384"], False),
    "lstm-2x256 constant": (["--hidden", "256", "--layers", "2"], False),
    "lstm-256 constant batch 64": (["--hidden", "256", "--batch", "64"], False),
    "lstm-256 constant lr 3e-3": (["--hidden", "256", "--lr", "3e-3"], False),
    "lstm-256 constant lr 4e-3": (["--hidden", "256", "--lr", "4e-3"], False),
    "lstm-256 constant lr 6e-3": (["--hidden", "256", "--lr", "6e-3"], False),
}


def train(options: list[str], out: Path) -> str:
    command = [sys.executable, "-m", "rnnlab.cli", "train", *options, "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-500:])
    return done.stdout


def steps_per_second(options: list[str], folder: Path) -> float:
    """Training steps per second of a model, timed over 300 steps."""
    size = [option for option in options if option != "--schedule" and option != "cosine"]
    timing = [*size, "--steps", "300", "--sample-length", "0", "--force"]
    out = train(timing, folder / "timing")
    match = re.search(r"in training steps at ([\d.]+)k tokens/s", " ".join(out.split()))
    if not match:
        raise RuntimeError(f"no step rate in: {out[-400:]}")
    seq_len = int(options[options.index("--seq-len") + 1]) if "--seq-len" in options else 64
    batch = int(options[options.index("--batch") + 1]) if "--batch" in options else 32
    return float(match.group(1)) * 1000 / (batch * seq_len)


def word_share(run: Path, vocabulary: set[str]) -> float:
    """The share of the words of three samples (seeds 1–3) that occur in the corpus."""
    found = total = 0
    for seed in (1, 2, 3):
        command = [sys.executable, "-m", "rnnlab.cli", "sample", str(run), "-n", "800"]
        command += ["--temperature", "0.8", "--seed", str(seed)]
        text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        words = re.findall(r"[a-z']+", text.lower())
        found += sum(word.strip("'") in vocabulary for word in words)
        total += len(words)
    return found / max(total, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated candidate names")
    chosen = {name for name in parser.parse_args().only.split(",") if name}
    vocabulary = {word.strip("'") for word in re.findall(r"[a-z']+", shakespeare().lower())}
    folder = Path(tempfile.mkdtemp(prefix="rnnlab-sweep-"))
    print("| candidate | options | steps | validation (all, nats/char) | words in corpus |")
    print("|---|---|---:|---:|---:|")
    for name, (options, decays) in CANDIDATES.items():
        if chosen and name not in chosen:
            continue
        budget = ["--steps", "0"]
        if decays:
            steps = int(steps_per_second(options, folder) * SECONDS_OF_STEPS)
            budget = ["--steps", str(steps)]
        run = folder / re.sub(r"\W+", "-", name)
        train([*options, *budget, "--minutes", "3", "--sample-length", "0"], run)
        state = load_checkpoint(run / "last.safetensors").train_state
        log = (run / "metrics.jsonl").read_text().splitlines()
        full = [line for line in log if '"scope": "all"' in line]
        loss = float(re.search(r'"val_loss": ([\d.]+)', full[-1]).group(1)) if full else None
        share = word_share(run, vocabulary)
        shown = " ".join(options + budget)
        print(f"| {name} | `{shown}` | {state['step']} | {loss:.3f} | {share:.1%} |", flush=True)


if __name__ == "__main__":
    main()
