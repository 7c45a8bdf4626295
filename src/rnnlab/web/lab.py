"""The models of a web-lab session, and their training in the background.

A model is identified by what it is: its task (``text`` or a numeric task), cell, size
and training text, e.g. ``text-lstm-1x64``. Asking for the same settings twice gives
the same model, so a model trained a while ago is still there when the page comes back
to it; at most ``MAX_MODELS`` are kept (the least recently used go first).

Training runs in one background thread at a time, one update per lock acquisition, so
the page can keep asking questions while the loss curve grows. Every question is
answered from a *snapshot* (a copy of the weights taken under the lock), never from the
model being trained.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.corpora import shakespeare
from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.text import CharVocab
from rnnlab.errors import CheckpointError, ConfigError, DataError, RnnlabError
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import Module
from rnnlab.train import TrainConfig, Trainer
from rnnlab.web import limits
from rnnlab.web.schemas import ModelSpec
from rnnlab.web.sequences import TASKS, training_set

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")
CHECKPOINT_ID = "checkpoint"
MAX_LOSS_POINTS = 20_000  #: loss history kept per model


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
    train_data: Any = None  #: token ids (N,), (x, y) arrays, or None: not trainable
    source: str = ""
    seed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    trainer: Trainer | None = None
    steps_done: int = 0
    losses: list[tuple[int, float]] = field(default_factory=list)
    running: bool = False
    target: int = 0
    message: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    last_used: float = field(default_factory=time.monotonic)

    @property
    def config(self) -> Any:
        return self.model.config

    def snapshot(self) -> Module:
        """A copy of the model (same weights, evaluation mode) that no one else touches."""
        with self.lock:
            state = self.model.state_dict()
        copy = type(self.model)(self.config, seed=0, vocab=getattr(self.model, "vocab", None))
        copy.load_state_dict(state)
        copy.eval()
        return copy

    def info(self) -> dict[str, Any]:
        """What the page shows about the model."""
        config = self.config
        vocab = getattr(self.model, "vocab", None)
        return {
            "id": self.id,
            "task": self.task,
            "title": self.title,
            "cell": config.cell,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "parameters": self.model.num_parameters(),
            "vocab_size": len(vocab) if vocab is not None else None,
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
        }


def _cell_title(cell: str) -> str:
    return {"rnn_tanh": "RNN (tanh)", "rnn_relu": "RNN (ReLU)"}.get(cell, cell.upper())


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def _train_shape(n_tokens: int) -> tuple[int, int]:
    """(batch size, chunk length) for a stream of ``n_tokens``: as large as it allows."""
    for batch in (16, 8, 4, 2, 1):
        for seq_len in (32, 16, 8):
            if n_tokens >= batch * (seq_len + 1) + seq_len:
                return batch, seq_len
    raise DataError(
        f"the training text is too short ({n_tokens} characters); "
        f"give at least {limits.MIN_CORPUS_CHARS}"
    )


class Lab:
    """The session's models. ``checkpoint``: a language-model checkpoint to show too;
    ``corpus``: the built-in training text (default: ``shakespeare()``)."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        corpus: Callable[[], str] | None = None,
        max_models: int = limits.MAX_MODELS,
    ) -> None:
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._corpus_fn = corpus or shakespeare
        self._corpus: tuple[CharVocab, np.ndarray] | None = None
        self.max_models = max_models
        self.checkpoint_id: str | None = None
        if checkpoint is not None:
            self._load_checkpoint(Path(checkpoint))

    # -- models ------------------------------------------------------------------
    def corpus(self) -> tuple[CharVocab, np.ndarray]:
        """The built-in corpus's vocabulary and token ids (loaded once)."""
        with self._lock:
            if self._corpus is None:
                text = self._corpus_fn()
                vocab = CharVocab.from_text(text)
                self._corpus = (vocab, vocab.encode(text))
            return self._corpus

    def _load_checkpoint(self, path: Path) -> None:
        from rnnlab.io import load_checkpoint, load_model, resolve_checkpoint

        path = resolve_checkpoint(path)
        model = load_model(path)
        if not isinstance(model, LanguageModel) or model.vocab is None:
            raise CheckpointError(
                f"{path} is not a character language model with a vocabulary; "
                "the web lab shows language models (train one with: rnnlab train)"
            )
        step = (load_checkpoint(path).train_state or {}).get("step")
        config = model.config
        title = f"{path.parent.name}/{path.name}: {_cell_title(config.cell)} "
        title += f"{config.num_layers}×{config.hidden_size}"
        if step is not None:
            title += f", trained {step} steps"
        entry = Entry(CHECKPOINT_ID, (CHECKPOINT_ID,), "text", title, model, source=str(path))
        entry.steps_done = int(step or 0)
        self._entries[CHECKPOINT_ID] = entry
        self.checkpoint_id = CHECKPOINT_ID

    def _build(self, spec: ModelSpec, cell: str) -> tuple[Module, Any, str]:
        """(fresh model, training data, description of the data) for ``spec`` with ``cell``."""
        if spec.task == "text":
            if spec.corpus == "text":
                text = spec.text or ""
                if len(text) < limits.MIN_CORPUS_CHARS:
                    raise ConfigError(
                        f"the typed training text has {len(text)} characters; "
                        f"give at least {limits.MIN_CORPUS_CHARS}"
                    )
                vocab = CharVocab.from_text(text)
                ids, source = vocab.encode(text), f"typed text, {len(text):,} characters"
            else:
                vocab, ids = self.corpus()
                source = f"Shakespeare, {len(ids):,} characters"
            config = LanguageModelConfig(
                vocab_size=len(vocab),
                cell=cell,
                hidden_size=spec.hidden_size,
                num_layers=spec.num_layers,
            )
            return LanguageModel(config, seed=spec.seed, vocab=vocab), ids, source
        info = TASKS[spec.task]
        config = SequenceModelConfig(
            input_size=len(info.features),
            output_size=1,
            readout="all",
            cell=cell,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
        )
        data = training_set(spec.task, n=512, length=40, seed=spec.seed)
        return SequenceModel(config, seed=spec.seed), data, f"{info.title}: 512 random examples"

    @staticmethod
    def _key(spec: ModelSpec, cell: str) -> tuple:
        corpus = "" if spec.task != "text" else spec.corpus
        if spec.task == "text" and spec.corpus == "text":
            corpus = "text-" + _text_key(spec.text or "")
        return (spec.task, cell, spec.num_layers, spec.hidden_size, corpus, spec.seed)

    @staticmethod
    def _id(key: tuple) -> str:
        task, cell, layers, hidden, corpus, seed = key
        name = f"{task}-{cell}-{layers}x{hidden}"
        if corpus.startswith("text-"):
            name += "-" + corpus
        return name + (f"-s{seed}" if seed else "")

    def ensure(self, spec: ModelSpec) -> Entry:
        """The model with these settings, built (untrained, seeded) if it is not there."""
        key = self._key(spec, spec.cell)
        model_id = self._id(key)
        with self._lock:
            if model_id in self._entries:
                return self._touch(model_id)
        model, data, source = self._build(spec, spec.cell)
        task_title = "text" if spec.task == "text" else TASKS[spec.task].title.lower()
        title = f"{_cell_title(spec.cell)} {spec.num_layers}×{spec.hidden_size} · {task_title}"
        entry = Entry(model_id, key, spec.task, title, model, data, source, spec.seed)
        with self._lock:
            if model_id not in self._entries:
                self._make_room()
                self._entries[model_id] = entry
            return self._touch(model_id)

    def _touch(self, model_id: str) -> Entry:
        entry = self._entries[model_id]
        entry.last_used = time.monotonic()
        self._entries.move_to_end(model_id)
        return entry

    def _make_room(self) -> None:
        while len(self._entries) >= self.max_models:
            idle = [e for e in self._entries.values() if not e.running and e.id != CHECKPOINT_ID]
            if not idle:
                raise BusyError("the lab is full of busy models; try again in a moment")
            del self._entries[min(idle, key=lambda e: e.last_used).id]

    def get(self, model_id: str) -> Entry:
        """The model ``model_id``, or UnknownModelError (404)."""
        with self._lock:
            if model_id not in self._entries:
                known = ", ".join(self._entries) or "none yet"
                raise UnknownModelError(
                    f"unknown model {model_id!r}; known models: {known} "
                    "(make one with POST /api/models)"
                )
            return self._touch(model_id)

    def models(self) -> list[dict[str, Any]]:
        """Every model's info, most recently used last."""
        with self._lock:
            return [entry.info() for entry in self._entries.values()]

    def sibling(self, entry: Entry, cell: str) -> tuple[Module, int]:
        """(snapshot, steps trained) of the model like ``entry`` but with ``cell``: the
        lab's own if it has one (perhaps trained), else a fresh seeded one (not kept)."""
        if cell == entry.config.cell:
            return entry.snapshot(), entry.steps_done
        key = (entry.key[0], cell, *entry.key[2:])
        with self._lock:
            twin = self._entries.get(self._id(key)) if entry.id != CHECKPOINT_ID else None
        if twin is not None:
            return twin.snapshot(), twin.steps_done
        config = entry.config
        if entry.task == "text":  # same vocabulary and sizes as the entry, whatever its corpus
            fresh = LanguageModelConfig(
                vocab_size=config.vocab_size,
                cell=cell,
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                embedding_dim=config.embedding_dim,
            )
            return LanguageModel(fresh, seed=entry.seed, vocab=entry.model.vocab).eval(), 0
        spec = ModelSpec(
            task=entry.task,
            cell=cell,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            seed=entry.seed,
        )
        return self._build(spec, cell)[0].eval(), 0

    # -- training ----------------------------------------------------------------
    def train(self, model_id: str, steps: int, lr: float) -> dict[str, Any]:
        """Start ``steps`` updates of ``model_id`` in the background; its status."""
        entry = self.get(model_id)
        if entry.train_data is None:
            raise LabError(
                f"model {model_id!r} was loaded from a checkpoint and is not trained here; "
                "pick a built-in model to train"
            )
        with self._lock:
            busy = [e.id for e in self._entries.values() if e.running]
            if busy:
                raise BusyError(f"model {busy[0]!r} is training; wait for it or stop it first")
            entry.running = True
        entry.stop.clear()
        entry.message = ""
        entry.target = entry.steps_done + steps
        try:
            trainer = self._trainer(entry, lr)
        except RnnlabError:
            entry.running = False
            raise
        entry.thread = threading.Thread(
            target=self._train_loop, args=(entry, trainer, steps), daemon=True
        )
        entry.thread.start()
        return entry.status(len(entry.losses))

    def _trainer(self, entry: Entry, lr: float) -> Trainer:
        """The entry's trainer (its optimiser state kept), rebuilt when ``lr`` changes."""
        if entry.trainer is not None and entry.trainer.config.lr == lr:
            return entry.trainer
        options = dict(
            steps=10**9, lr=lr, clip=5.0, sample_every=0, eval_every=10**9, log_every=10**9
        )
        options["checkpoint_every"] = 10**9
        if entry.task == "text":
            batch, seq_len = _train_shape(len(entry.train_data))
            config = TrainConfig(batch_size=batch, seq_len=seq_len, seed=entry.seed, **options)
            data: Any = entry.train_data
        else:
            config = TrainConfig(batch_size=32, seed=entry.seed, **options)
            x, y = entry.train_data
            data = ArrayBatcher(x, y, 32, seed=entry.seed, per_step_targets=True)
        with entry.lock:
            entry.trainer = Trainer(entry.model, data, None, config)
        return entry.trainer

    def _train_loop(self, entry: Entry, trainer: Trainer, steps: int) -> None:
        try:
            for _ in range(steps):
                if entry.stop.is_set():
                    break
                with entry.lock:
                    loss, norm = trainer.train_step()
                if not (math.isfinite(loss) and math.isfinite(norm)):
                    entry.message = "training diverged (the loss is not finite); try a lower lr"
                    break
                entry.steps_done += 1
                entry.losses.append((entry.steps_done, float(loss)))
            del entry.losses[:-MAX_LOSS_POINTS]
        except Exception as error:  # the page shows it; a thread must not die silently
            entry.message = f"training stopped: {error}"
        finally:
            entry.running = False

    def stop(self, model_id: str) -> dict[str, Any]:
        """Ask ``model_id``'s training to stop after the current update; its status."""
        entry = self.get(model_id)
        entry.stop.set()
        return entry.status(len(entry.losses))

    def wait(self, model_id: str, timeout: float | None = None) -> None:
        """Block until ``model_id``'s training thread has finished (for scripts and tests)."""
        thread = self.get(model_id).thread
        if thread is not None:
            thread.join(timeout)

    def close(self) -> None:
        """Stop every training thread (the server is shutting down)."""
        for entry in list(self._entries.values()):
            entry.stop.set()
        for entry in list(self._entries.values()):
            if entry.thread is not None:
                entry.thread.join(5)
