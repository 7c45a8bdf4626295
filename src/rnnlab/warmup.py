"""Compiling the kernels a run needs before it needs them, on both cores at once.

The first run on a machine compiles its kernels for that CPU (numba caches them, so
later runs load them in a second). A run needs three sets: the training loops
(forward with a tape, backward), the evaluation loops (forward without a tape) and the
token generator. Compiled one after the other they take about a minute before a
run's first step; ``Warmup`` compiles the training loops here while another process
compiles the evaluation loops and then the generator, so a cold run starts about as
soon as its training loops are ready.

Each set is compiled by running a throwaway copy of the run's model (its configuration,
batch and sequence length, so that the same loop variants are chosen) through it once.

    python -m rnnlab.warmup CONFIG_JSON evaluation generation    # the helper process
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab import backend
from rnnlab.models.language import LanguageModel, LanguageModelConfig

PARTS = ("training", "evaluation", "generation")
#: the parts the helper process compiles, in the order a run needs them
HELPER_PARTS = ("evaluation", "generation")
#: how long to wait for the helper process to compile a part before compiling it here
WAIT_SECONDS = 300.0


def compile_part(config: LanguageModelConfig, batch_size: int, seq_len: int, part: str) -> None:
    """Run a throwaway model of ``config`` through ``part``'s kernels once (on B streams
    of ``seq_len`` tokens), which compiles them or loads them from the cache."""
    from rnnlab.generate import sample
    from rnnlab.train import evaluate

    model = LanguageModel(config, seed=0)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(seq_len + 1, batch_size))
    if part == "training":
        model.compute_loss(ids[:-1], ids[1:], None, train=True)
    elif part == "evaluation":
        evaluate(model, ids.T.reshape(-1), batch_size, seq_len)
    elif part == "generation":
        from rnnlab.data.text import CharVocab

        model.vocab = CharVocab([chr(32 + k) for k in range(config.vocab_size)])
        sample(model, n=2, seed=0)
    else:
        raise ValueError(f"unknown part {part!r}; expected one of {PARTS}")


def cached(config: LanguageModelConfig) -> bool:
    """Whether the kernels of ``config``'s cell are in numba's cache already (its index
    files exist), so that a run loads them instead of compiling; True on the NumPy
    backend, which compiles nothing."""
    return not backend.compiled() or backend.kernels_cached(config.cell)


class Warmup:
    """A helper process compiling the evaluation loops and the generator of a run while
    this process compiles its training loops (``start``); ``wait(part)`` returns once the
    helper has compiled ``part``."""

    def __init__(self, config: LanguageModelConfig, batch_size: int, seq_len: int) -> None:
        self.config, self.batch_size, self.seq_len = config, batch_size, seq_len
        self.ready: set[str] = set()
        document = json.dumps({"config": config.to_json(), "batch": batch_size, "T": seq_len})
        command = [sys.executable, "-m", "rnnlab.warmup", document, *HELPER_PARTS]
        self.helper = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def compile_training(self) -> None:
        """Compile the training loops in this process."""
        compile_part(self.config, self.batch_size, self.seq_len, "training")

    def wait(self, part: str) -> None:
        """Return once the helper has compiled ``part``, or has stopped, or has taken
        ``WAIT_SECONDS`` (then the part is compiled where it is first used)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while part not in self.ready and self.helper.stdout is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.helper.stdout], [], [], left)[0]:
                break
            line = self.helper.stdout.readline()
            if not line:
                break
            self.ready.add(line.strip().removeprefix("ready "))

    def close(self) -> None:
        """Wait for the helper to finish (it is stopped if it outlives ``WAIT_SECONDS``)."""
        try:
            self.helper.wait(WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.stop()

    def stop(self) -> None:
        """Stop the helper now (the run ended early: what it compiles is not needed)."""
        if self.helper.poll() is None:
            self.helper.kill()
        self.helper.wait()


def kernel_cache() -> Path | None:
    """Where numba keeps the compiled kernels (None on the NumPy backend)."""
    return backend.kernel_cache_dir() if backend.compiled() else None


def main(argv: list[str]) -> None:
    """The helper process: compile each part named in ``argv[1:]`` and say so."""
    document: dict[str, Any] = json.loads(argv[0])
    config = LanguageModelConfig.from_json(document["config"])
    for part in argv[1:]:
        compile_part(config, document["batch"], document["T"], part)
        print(f"ready {part}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
