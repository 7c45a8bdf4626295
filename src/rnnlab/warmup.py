"""Compiling the kernels a run needs before it needs them, on both cores at once.

The first run on a machine compiles its kernels for that CPU (numba caches them, so
later runs load them in a second). A run needs: the training loops (forward with a
tape, backward; evaluation runs the same forward), their drivers (the ``prange``
functions that start a loop on numba's threads in microseconds; compiling one costs as
much again as its loop, which numba links and re-optimises into it) and the token
generator. ``Warmup`` compiles the forward loop here while a helper process compiles
the backward loops (on a tape of zeros: ``backend.compile_backward``), then the drivers,
then the generator. The run starts as soon as it has its loops, with the drivers set
aside (``backend.defer_drivers``: the loops then run on rnnlab's own threads, to the
same numbers), and moves onto the drivers once the helper has them in the cache.

Each part is compiled by running a throwaway copy of the run's model (its configuration,
batch and sequence length, so that the same loop variants are chosen) through it once.

    python -m rnnlab.warmup CONFIG_JSON backward drivers generation    # the helper
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab import backend
from rnnlab.models.language import LanguageModel, LanguageModelConfig

PARTS = ("training", "evaluation", "backward", "drivers", "generation")
#: the parts the helper process compiles, in the order a run needs them
HELPER_PARTS = ("backward", "drivers", "generation")
#: how long to wait for the helper process to compile a part before compiling it here
WAIT_SECONDS = 300.0


def compile_part(config: LanguageModelConfig, batch_size: int, seq_len: int, part: str) -> None:
    """Run a throwaway model of ``config`` through ``part``'s kernels once (on B streams
    of ``seq_len`` tokens), which compiles them or loads them from the cache."""
    from rnnlab.generate import sample
    from rnnlab.train import evaluate

    model, dtype = LanguageModel(config, seed=0), np.dtype(config.dtype)
    ids = np.random.default_rng(0).integers(0, config.vocab_size, size=(seq_len + 1, batch_size))
    if part == "training":
        model.compute_loss(ids[:-1], ids[1:], None, train=True)
    elif part == "backward":  # without a forward pass (a run compiles that meanwhile)
        sizes = (seq_len, batch_size, config.hidden_size, dtype, config.proj_size)
        backend.compile_backward(config.cell, *sizes)
    elif part in ("drivers", "generation") and config.proj_size:
        pass  # the projected loops have no drivers, and such a model samples through them
    elif part == "drivers":  # on two threads even where the model is too small to split
        backend.force_parts(2)
        try:
            model.compute_loss(ids[:-1], ids[1:], None, train=True)
        finally:
            backend.force_parts(None)
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
    return not backend.compiled() or backend.kernels_cached(config.cell, config.proj_size > 0)


class Warmup:
    """A helper process compiling the drivers of a run's loops and its generator while
    this process compiles the loops (``compile_training``); the run uses the drivers
    once the helper has them, and ``wait(part)`` returns once the helper has ``part``."""

    def __init__(self, config: LanguageModelConfig, batch_size: int, seq_len: int) -> None:
        self.config, self.batch_size, self.seq_len = config, batch_size, seq_len
        self.ready: set[str] = set()
        self.ended = False  # the helper has closed its output (finished or stopped)
        self._changed = threading.Condition()
        document = json.dumps({"config": config.to_json(), "batch": batch_size, "T": seq_len})
        command = [sys.executable, "-m", "rnnlab.warmup", document, *HELPER_PARTS]
        self.helper = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        backend.defer_drivers(True)
        self._listener = threading.Thread(target=self._listen, name="rnnlab-warmup", daemon=True)
        self._listener.start()

    def _listen(self) -> None:
        """Note each part the helper says is ready (the drivers: the run takes them up
        from its next call); at its end, the drivers are no longer set aside."""
        assert self.helper.stdout is not None
        for line in self.helper.stdout:
            part = line.strip().removeprefix("ready ")
            if part == "drivers":
                backend.defer_drivers(False)
            with self._changed:
                self.ready.add(part)
                self._changed.notify_all()
        backend.defer_drivers(False)
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def compile_training(self) -> None:
        """Compile the forward loop here while the helper compiles the backward loops,
        then load those (the run's training and evaluation need nothing else)."""
        compile_part(self.config, self.batch_size, self.seq_len, "evaluation")
        self.wait("backward")
        compile_part(self.config, self.batch_size, self.seq_len, "training")

    def wait(self, part: str) -> None:
        """Return once the helper has compiled ``part``, or has stopped, or has taken
        ``WAIT_SECONDS`` (then the part is compiled where it is first used)."""
        with self._changed:
            self._changed.wait_for(lambda: part in self.ready or self.ended, WAIT_SECONDS)

    def close(self) -> None:
        """Wait for the helper to finish (it is stopped if it outlives ``WAIT_SECONDS``)."""
        try:
            self.helper.wait(WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.stop()
        self._listener.join()

    def stop(self) -> None:
        """Stop the helper now (the run ended early: what it compiles is not needed)."""
        if self.helper.poll() is None:
            self.helper.kill()
        self.helper.wait()
        self._listener.join()


def kernel_cache() -> Path | None:
    """Where numba keeps the compiled kernels (None on the NumPy backend)."""
    return backend.kernel_cache_dir() if backend.compiled() else None


def main(argv: list[str]) -> None:
    """The helper process: compile each part named in ``argv[1:]`` and say so."""
    document: dict[str, Any] = json.loads(argv[0])
    config = LanguageModelConfig.from_json(document["config"])
    for part in argv[1:]:
        backend.defer_drivers(part == "backward")  # the backward loops first, alone
        compile_part(config, document["batch"], document["T"], part)
        print(f"ready {part}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
