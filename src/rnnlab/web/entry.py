"""One model of the web lab: its weights, training data, trainer and loss history.

``Entry.snapshot()`` copies the weights under the entry's lock, so questions are answered
from a model no one else touches; ``Entry.train()`` is the body of the training thread,
one update per acquisition of that lock, so questions can be answered between updates.
``Entry.versioned()`` names the weights it copies by (generation, steps trained), read
under the same acquisition: the generation is new for every entry made and every reset,
and a step counts under the lock that applies it, so two snapshots with the same name
have the same weights (what a cache of answers may rely on).
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rnnlab.cells import CELLS
from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.pairs import PairData
from rnnlab.data.text import PairVocab
from rnnlab.errors import DataError, RnnlabError
from rnnlab.nn.module import Module
from rnnlab.train import TrainConfig, Trainer, evaluate
from rnnlab.web import limits

CHECKPOINT_ID = "checkpoint"
MAX_LOSS_POINTS = 100_000  #: loss history kept per model (50 full training requests)
#: the generations of every entry of the process: a rebuilt model with the same id, or a
#: reset one, never shares a number with weights it had before
_GENERATIONS = itertools.count(1)


class LabError(RnnlabError):
    """A request the lab cannot serve; ``status`` is the HTTP status to answer with."""

    status = 400


class UnknownModelError(LabError):
    """No model has that id (it was never made, or was dropped to make room)."""

    status = 404


class BusyError(LabError):
    """Another model is training: the machine trains one at a time."""

    status = 409


@dataclass
class Entry:
    """One model of the lab, with its training data, trainer and loss history."""

    id: str
    key: tuple
    task: str
    title: str
    model: Module
    train_data: Any = None  #: token ids (N,), (x, y) arrays, PairData, or None: not trainable
    source: str = ""
    seed: int = 0
    own_text: str | None = None  #: the typed training text, if that is what it learns
    test_data: PairData | None = None  #: an encoder–decoder's held-out pairs
    val_data: Any = None  #: a text model's held-out tail (token ids), or None: no validation
    lock: threading.Lock = field(default_factory=threading.Lock)
    trainer: Trainer | None = None
    steps_done: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    val_losses: list[tuple[int, float]] = field(default_factory=list)  #: (step, loss)
    running: bool = False
    target: int = 0
    message: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    last_used: float = field(default_factory=time.monotonic)
    #: which weights these are, with ``steps_done``: new when made and when reset
    generation: int = field(default_factory=lambda: next(_GENERATIONS))

    @property
    def config(self) -> Any:
        return self.model.config

    def snapshot(self) -> Module:
        """A copy of the model (same weights, evaluation mode) that no one else touches."""
        return self.versioned()[0]

    def versioned(self) -> tuple[Module, int, int]:
        """(snapshot, generation, steps trained): a copy of the model and the two numbers
        that name its weights, all read under one acquisition of the lock."""
        with self.lock:
            state, generation, steps = self.model.state_dict(), self.generation, self.steps_done
        copy = type(self.model)(self.config, seed=0, vocab=getattr(self.model, "vocab", None))
        copy.load_state_dict(state)
        copy.eval()
        return copy, generation, steps

    def info(self) -> dict[str, Any]:
        """What the page shows about the model."""
        config = self.config
        vocab = getattr(self.model, "vocab", None)
        target_size = None
        if isinstance(vocab, PairVocab):  # an encoder–decoder: it reads the source symbols
            vocab, target_size = vocab.source, len(vocab.target)
        return {
            "id": self.id,
            "task": self.task,
            "title": self.title,
            "cell": config.cell,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "residual": getattr(config, "residual", False),
            "proj_size": getattr(config, "proj_size", 0),
            "attention": getattr(config, "attention", None),
            "parameters": self.model.num_parameters(),
            "vocab_size": len(vocab) if vocab is not None else None,
            "target_vocab_size": target_size,
            "symbols": vocab.symbols if vocab is not None else None,
            "source": self.source,
            "trainable": self.train_data is not None,
            "step": self.steps_done,
            "loss": self.losses[-1][1] if self.losses else None,
            "training": self.running,
        }

    def status(self, since: int = 0) -> dict[str, Any]:
        """Training progress: the losses from index ``since`` on, and whether it runs."""
        losses = self.losses[since:]
        return {
            "id": self.id,
            "running": self.running,
            "step": self.steps_done,
            "target": self.target,
            "message": self.message,
            "since": since,
            "total": since + len(losses),
            "losses": [[step, round(loss, 5)] for step, loss in losses],
            "val_losses": [[step, round(loss, 5)] for step, loss in self.val_losses],
        }

    def trainer_for(self, lr: float) -> Trainer:
        """The model's trainer (its optimiser state kept), rebuilt when ``lr`` changes."""
        if self.trainer is not None and self.trainer.config.lr == lr:
            return self.trainer
        options: dict[str, Any] = dict(steps=10**9, lr=lr, clip=5.0, sample_every=0)
        # no evaluation, logging or checkpoints: the page draws every loss itself
        options |= dict.fromkeys(("eval_every", "log_every", "checkpoint_every"), 10**9)
        if self.task == "text":
            batch, seq_len = train_shape(len(self.train_data))
            config = TrainConfig(batch_size=batch, seq_len=seq_len, seed=self.seed, **options)
            data: Any = self.train_data
        elif isinstance(self.train_data, PairData):  # (sources, targets) cut to each batch
            config = TrainConfig(batch_size=64, seed=self.seed, **options)
            data = self.train_data.batcher(64, seed=self.seed)
        else:
            config = TrainConfig(batch_size=32, seed=self.seed, **options)
            x, y = self.train_data
            data = ArrayBatcher(x, y, 32, seed=self.seed, per_step_targets=True)
        with self.lock:
            self.trainer = Trainer(self.model, data, None, config)
        return self.trainer

    def train(self, trainer: Trainer, steps: int, seconds: float | None = None) -> None:
        """Run ``steps`` updates, one per lock acquisition (the training thread's body),
        for at most ``seconds`` (default ``limits.MAX_TRAIN_SECONDS``)."""
        seconds = limits.MAX_TRAIN_SECONDS if seconds is None else seconds
        deadline = time.monotonic() + seconds
        try:
            if not self.val_losses:
                self.validate()  # where the curve starts: the untrained model
            for _ in range(steps):
                if self.stop.is_set():
                    break
                if time.monotonic() > deadline:
                    self.message = (
                        f"stopped after {seconds:.0f} s, the time one request may train; "
                        "press Train again to continue"
                    )
                    break
                with self.lock:  # the update and its count together (``versioned``)
                    loss, norm = trainer.train_step()
                    finite = math.isfinite(loss) and math.isfinite(norm)
                    if finite:  # a non-finite step updates nothing
                        self.steps_done += 1
                if not finite:
                    self.message = "training diverged (the loss is not finite); try a lower lr"
                    break
                self.losses.append((self.steps_done, float(loss)))
                if self.steps_done % limits.VAL_EVERY == 0:
                    self.validate()
            if self.val_losses and self.val_losses[-1][0] != self.steps_done:
                self.validate()  # every request ends on a validation loss
            del self.losses[:-MAX_LOSS_POINTS]
            del self.val_losses[:-MAX_LOSS_POINTS]
        except Exception as error:  # the page shows it; a thread must not die silently
            self.message = f"training stopped: {error}"
        finally:
            self.running = False

    def validate(self) -> None:
        """Append (step, mean loss in nats per character) over the start of the held-out
        tail (``limits.VAL_TOKENS`` characters at most), if the model has one; the model
        is scored in evaluation mode under the lock, between two updates."""
        if self.val_data is None:
            return
        batch, seq_len = train_shape(len(self.train_data))
        with self.lock:
            loss, _ = evaluate(self.model, self.val_data, batch, seq_len, limits.VAL_TOKENS)
        if math.isfinite(loss):
            self.val_losses.append((self.steps_done, float(loss)))

    def reset(self) -> None:
        """Make the model fresh again: the weights it was built with (same seed), no
        optimiser state, no steps, no losses, a new generation. The caller checks it is
        not training."""
        fresh = type(self.model)(
            self.config, seed=self.seed, vocab=getattr(self.model, "vocab", None)
        )
        with self.lock:
            self.model, self.trainer = fresh, None
            self.steps_done, self.generation = 0, next(_GENERATIONS)
        self.target = 0
        self.losses, self.val_losses, self.message = [], [], ""


def cell_title(cell: str) -> str:
    """The cell's name for people: 'RNN (tanh)', 'LSTM', ... (the registry's title)."""
    return CELLS[cell].title if cell in CELLS else cell


def train_shape(n_tokens: int) -> tuple[int, int]:
    """(batch size, chunk length) for a stream of ``n_tokens``: as large as it allows."""
    for batch in (16, 8, 4, 2, 1):
        for seq_len in (32, 16, 8):
            if n_tokens >= batch * (seq_len + 1) + seq_len:
                return batch, seq_len
    raise DataError(
        f"the training text is too short ({n_tokens} characters); "
        f"give at least {limits.MIN_CORPUS_CHARS}"
    )
