"""The models of a web-lab session, and their training in the background.

A model is identified by what it is: its task (``text``, a numeric task or an
encoder–decoder task), cell, size and training text or attention, e.g. ``text-lstm-1x64``
or ``reverse-gru-1x64-general``. Asking for the same settings twice gives
the same model, so a model trained a while ago is still there when the page comes back
to it; at most ``MAX_MODELS`` are kept (the least recently used go first).

Training runs in one background thread at a time (``Entry.train``), one update per lock
acquisition, so the page can keep asking questions while the loss curve grows. Every
question is answered from a *snapshot* (a copy of the weights taken under the lock),
never from the model being trained.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.corpora import shakespeare
from rnnlab.data.pairs import END, START
from rnnlab.data.text import CharVocab
from rnnlab.errors import CheckpointError, ConfigError, RnnlabError
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import Module
from rnnlab.web import limits
from rnnlab.web.entry import (
    CHECKPOINT_ID,
    BusyError,
    Entry,
    LabError,
    UnknownModelError,
    cell_title,
)
from rnnlab.web.pairs import PAIR_TASKS, TEST_PAIRS
from rnnlab.web.runs import PastRun, find_run_dirs
from rnnlab.web.schemas import ModelSpec
from rnnlab.web.sequences import TASKS, training_set


def held_out(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """(training ids, held-out tail or None): the last ``limits.VAL_FRACTION`` of a text
    held out for validation, as ``rnnlab train`` does, unless that tail would be shorter
    than ``limits.MIN_VAL_CHARS`` (then the whole text trains and there is no tail)."""
    n_val = len(ids) - int(len(ids) * (1 - limits.VAL_FRACTION))
    if n_val < limits.MIN_VAL_CHARS:
        return ids, None
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


class Lab:
    """The session's models. ``checkpoint``: a language-model checkpoint to show too;
    ``corpus``: the built-in training text (default: ``shakespeare()``); ``runs``: run
    directories (or directories of them) whose metrics.jsonl the "Compare runs" panel
    shows, besides the checkpoint's own run."""

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        corpus: Callable[[], str] | None = None,
        max_models: int = limits.MAX_MODELS,
        runs: Sequence[str | Path] = (),
    ) -> None:
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._corpus_fn = corpus or shakespeare
        self._corpus: tuple[CharVocab, np.ndarray] | None = None
        self.max_models = max_models
        self.checkpoint_id: str | None = None
        #: what trains outside the lab's models (``claim``), sharing the one-at-a-time rule
        self.claimed: str | None = None
        #: the run directories whose metrics.jsonl is compared (read at each request)
        self.run_dirs: list[Path] = find_run_dirs(runs)
        #: the curves of models reset or dropped from memory, oldest first
        self.past_runs: deque[PastRun] = deque(maxlen=limits.MAX_PAST_RUNS)
        self._past_count = 0
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
        title = f"{path.parent.name}/{path.name}: {cell_title(config.cell)} "
        title += f"{config.num_layers}×{config.hidden_size}"
        title += " residual" if config.residual else ""
        title += f" projected to {config.proj_size}" if config.proj_size else ""
        if step is not None:
            title += f", trained {step} steps"
        entry = Entry(CHECKPOINT_ID, (CHECKPOINT_ID,), "text", title, model, source=str(path))
        entry.steps_done = int(step or 0)
        self._entries[CHECKPOINT_ID] = entry
        self.checkpoint_id = CHECKPOINT_ID
        run = path.parent.resolve()
        if (run / "metrics.jsonl").is_file() and run not in self.run_dirs:
            self.run_dirs.insert(0, run)  # the checkpoint's own run first

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
                residual=spec.residual,
            )
            return LanguageModel(config, seed=spec.seed, vocab=vocab), ids, source
        if spec.task in PAIR_TASKS:
            return self._build_pairs(spec, cell)
        info = TASKS[spec.task]
        config = SequenceModelConfig(
            input_size=len(info.features),
            output_size=1,
            readout="all",
            cell=cell,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            residual=spec.residual,
        )
        data = training_set(spec.task, n=512, length=40, seed=spec.seed)
        return SequenceModel(config, seed=spec.seed), data, f"{info.title}: 512 random examples"

    @staticmethod
    def _build_pairs(spec: ModelSpec, cell: str) -> tuple[Module, Any, str]:
        """An encoder–decoder for ``spec.task`` (reverse, dates) with its training pairs.

        The encoder reads one way only, so that without attention the decoder starts
        from, and knows of the source only, the encoder's last state h_S."""
        info = PAIR_TASKS[spec.task]
        data = info.data(info.train_pairs, "train", spec.seed)
        start, end = (int(data.target_vocab.encode(marker)[0]) for marker in (START, END))
        config = Seq2SeqConfig(
            source_vocab_size=len(data.source_vocab),
            target_vocab_size=len(data.target_vocab),
            start_id=start,
            end_id=end,
            cell=cell,
            hidden_size=spec.hidden_size,
            num_layers=spec.num_layers,
            bidirectional=False,
            attention=spec.attention,
            embedding_dim=16,
        )
        model = Seq2Seq(config, seed=spec.seed, vocab=data.vocab)
        return model, data, f"{info.title}: {info.train_pairs:,} random pairs"

    @staticmethod
    def _check(spec: ModelSpec) -> None:
        """LabError for settings that do not go together (the schema checks each alone)."""
        pairs = spec.task in PAIR_TASKS
        if pairs and spec.residual:
            raise LabError(
                "residual stacks are offered for the text and numeric models; "
                f"the {spec.task} encoder–decoder has plain layers (residual=false)"
            )
        if not pairs and "attention" in spec.model_fields_set:
            raise LabError(
                f"attention is a setting of the encoder–decoder tasks {sorted(PAIR_TASKS)}, "
                f"not of {spec.task!r}"
            )

    @staticmethod
    def _key(spec: ModelSpec, cell: str) -> tuple:
        corpus = "" if spec.task != "text" else spec.corpus
        if spec.task == "text" and spec.corpus == "text":
            corpus = "text-" + _text_key(spec.text or "")
        if spec.task in PAIR_TASKS:
            corpus = "attention-" + spec.attention
        layers = (spec.num_layers, spec.residual)
        return (spec.task, cell, layers, spec.hidden_size, corpus, spec.seed)

    @staticmethod
    def _id(key: tuple) -> str:
        task, cell, (layers, residual), hidden, corpus, seed = key
        name = f"{task}-{cell}-{layers}x{hidden}" + ("-residual" if residual else "")
        if corpus.startswith("text-"):
            name += "-" + corpus
        if corpus.startswith("attention-"):
            name += "-" + corpus.removeprefix("attention-")
        return name + (f"-s{seed}" if seed else "")

    def ensure(self, spec: ModelSpec) -> Entry:
        """The model with these settings, built (untrained, seeded) if it is not there."""
        self._check(spec)
        key = self._key(spec, spec.cell)
        model_id = self._id(key)
        with self._lock:
            if model_id in self._entries:
                return self._touch(model_id)
        model, data, source = self._build(spec, spec.cell)
        residual = " residual" if spec.residual else ""
        title = f"{cell_title(spec.cell)} {spec.num_layers}×{spec.hidden_size}{residual}"
        if spec.task in PAIR_TASKS:
            attention = "no" if spec.attention == "none" else spec.attention
            title += f" · {PAIR_TASKS[spec.task].title.lower()}, {attention} attention"
        else:
            title += " · " + ("text" if spec.task == "text" else TASKS[spec.task].title.lower())
        val = None
        if spec.task == "text":
            data, val = held_out(data)
            if val is not None:
                source += f" (the last {len(val):,} held out for validation)"
        entry = Entry(model_id, key, spec.task, title, model, data, source, spec.seed)
        entry.val_data = val
        if spec.task == "text" and spec.corpus == "text":
            entry.own_text = spec.text
        if spec.task in PAIR_TASKS:
            entry.test_data = PAIR_TASKS[spec.task].data(TEST_PAIRS, "test", spec.seed)
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
            oldest = min(idle, key=lambda e: e.last_used)
            self._keep_curves(oldest, "dropped from memory")
            del self._entries[oldest.id]

    def _keep_curves(self, entry: Entry, why: str) -> None:
        """Keep ``entry``'s loss curves among the past runs (if it was trained)."""
        if entry.losses:
            self._past_count += 1
            title = f"{entry.title}, {why} at step {entry.steps_done}"
            run = PastRun(f"{entry.id}@{self._past_count}", title, entry.task)
            run.train, run.val = list(entry.losses), list(entry.val_losses)
            self.past_runs.append(run)

    def reset(self, model_id: str) -> Entry:
        """Make ``model_id`` fresh again (untrained, the same seed); its curves so far
        are kept among the past runs. Refused while it trains (409) and for a model
        loaded from a checkpoint (400)."""
        entry = self.get(model_id)
        if entry.train_data is None:
            raise LabError(
                f"model {model_id!r} was loaded from a checkpoint and is not trained here; "
                "there is nothing to reset"
            )
        with self._lock:
            if entry.running:
                raise BusyError(
                    f"model {model_id!r} is training; stop it (and wait for the update under "
                    "way) before resetting it"
                )
            self._keep_curves(entry, "reset")
            entry.reset()
        return entry

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

    def trained(self) -> list[Entry]:
        """The models with a loss curve, most recently used last (none is touched)."""
        with self._lock:
            return [entry for entry in self._entries.values() if entry.losses]

    def models(self) -> list[dict[str, Any]]:
        """Every model's info, most recently used last."""
        with self._lock:
            return [entry.info() for entry in self._entries.values()]

    def sibling(self, entry: Entry, cell: str, fresh: bool = False) -> tuple[Module, int]:
        """(snapshot, steps trained) of the model like ``entry`` but with ``cell``: the
        lab's own if it has one (perhaps trained), else a fresh seeded one (not kept);
        ``fresh``: always a fresh seeded one, so that every cell is compared untrained."""
        if cell == entry.config.cell and not fresh:
            model, _, steps = entry.versioned()
            return model, steps
        key = (entry.key[0], cell, *entry.key[2:])
        with self._lock:
            known = entry.id != CHECKPOINT_ID and not fresh
            twin = self._entries.get(self._id(key)) if known else None
        if twin is not None:
            model, _, steps = twin.versioned()
            return model, steps
        config = entry.config
        if entry.task == "text":  # same vocabulary and sizes as the entry, whatever its corpus
            fresh = LanguageModelConfig(
                vocab_size=config.vocab_size,
                cell=cell,
                hidden_size=config.hidden_size,
                num_layers=config.num_layers,
                residual=config.residual,
                embedding_dim=config.embedding_dim,
            )
            return LanguageModel(fresh, seed=entry.seed, vocab=entry.model.vocab).eval(), 0
        spec = ModelSpec(
            task=entry.task,
            cell=cell,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            residual=config.residual,
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
            self._check_idle()
            entry.running = True
        entry.stop.clear()
        entry.message = ""
        entry.target = entry.steps_done + steps
        try:
            trainer = entry.trainer_for(lr)
        except RnnlabError:
            entry.running = False
            raise
        entry.thread = threading.Thread(target=entry.train, args=(trainer, steps), daemon=True)
        entry.thread.start()
        return entry.status(len(entry.losses))

    def _check_idle(self) -> None:
        """BusyError while a model of the lab or another trainer trains (under the lock)."""
        busy = [e.id for e in self._entries.values() if e.running]
        busy += [self.claimed] if self.claimed is not None else []
        if busy:
            raise BusyError(f"model {busy[0]!r} is training; wait for it or stop it first")

    def claim(self, name: str) -> None:
        """Take the one training slot for ``name``, a trainer outside the lab's models
        (the applications panel): BusyError while anything trains. ``release`` gives it
        back."""
        with self._lock:
            self._check_idle()
            self.claimed = name

    def release(self, name: str) -> None:
        """Give back the training slot ``claim`` took for ``name``."""
        with self._lock:
            if self.claimed == name:
                self.claimed = None

    def corpus_text(self) -> str:
        """The built-in training text (the corpus function's)."""
        return self._corpus_fn()

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
