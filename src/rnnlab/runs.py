"""Setting up a character-level language-model run from plain options (what ``rnnlab train`` does).

A fresh run loads the corpus, builds the character vocabulary over all of it, splits it
contiguously into training and validation text and builds the model. A resumed run takes
the model configuration, vocabulary, data source and training options from the checkpoint
(only the budgets, ``steps`` and ``minutes``, may be changed) and continues exactly.

``distributed`` (a ``rnnlab.distributed.DataParallel``) makes the run one rank of an MPI
job (``mpiexec -n R rnnlab train``): every rank prepares the same run, the trainer shards it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.batching import split_train_val
from rnnlab.data.corpora import load_corpus
from rnnlab.data.text import CharVocab, vocab_from_json
from rnnlab.errors import CheckpointError, DataError
from rnnlab.io import load_checkpoint
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.train import TrainConfig, Trainer


@dataclass
class Run:
    """A trainer ready to ``fit()``, and a one-paragraph description of it."""

    trainer: Trainer
    summary: str
    unit: str = "char"


def _split(vocab: Any, text: str, val_fraction: float, source: str) -> tuple[np.ndarray, ...]:
    ids = vocab.encode(text)
    if len(ids) == 0:
        raise DataError(f"the corpus {source!r} is empty")
    return split_train_val(ids, val_fraction)


def _resume_path(resume: Path) -> Path:
    if resume.is_dir():
        path = resume / "last.safetensors"
        if not path.exists():
            raise CheckpointError(f"{resume} has no last.safetensors to resume from")
        return path
    return resume


def prepare_run(
    *,
    data: str = "shakespeare",
    cell: str = "lstm",
    hidden: int = 128,
    layers: int = 1,
    dropout: float = 0.0,
    embedding_dim: int | None = None,
    val_fraction: float = 0.1,
    dtype: str = "float32",
    out: Path | None = None,
    resume: Path | None = None,
    seed: int = 0,
    distributed: Any = None,
    **train_options: Any,
) -> Run:
    """A Trainer for a char model; ``train_options`` are TrainConfig fields."""
    if resume is not None:
        return _resume_run(Path(resume), train_options, distributed)
    text = load_corpus(data)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = _split(vocab, text, val_fraction, data)
    config = LanguageModelConfig(
        vocab_size=len(vocab),
        cell=cell,
        hidden_size=hidden,
        num_layers=layers,
        dropout=dropout,
        embedding_dim=embedding_dim,
        dtype=dtype,
    )
    model = LanguageModel(config, seed=seed, vocab=vocab)
    train_config = TrainConfig(seed=seed, **train_options)
    source = {"data": data, "val_fraction": val_fraction}
    trainer = Trainer(
        model, train_ids, val_ids, train_config, out, data_source=source, distributed=distributed
    )
    summary = (
        f"{data}: {len(text):,} characters, {len(vocab)} distinct; "
        f"{len(train_ids):,} for training, {len(val_ids):,} for validation\n"
        f"model: {config.cell.upper()} {config.num_layers}×{config.hidden_size}, "
        f"{model.num_parameters():,} parameters; {train_config.optimizer} lr {train_config.lr}, "
        f"batch {train_config.batch_size}×{train_config.seq_len}"
    )
    return Run(trainer, summary + _ranks(distributed, train_config.batch_size))


def _ranks(distributed: Any, batch_size: int) -> str:
    if distributed is None:
        return ""
    return (
        f"\ndata parallel over {distributed.size} MPI rank{'s' * (distributed.size > 1)}: "
        f"{batch_size // distributed.size} streams each, one gradient Allreduce per step; "
        "rank 0 writes and reports"
    )


def _resume_run(resume: Path, train_options: dict[str, Any], distributed: Any) -> Run:
    path = _resume_path(resume)
    checkpoint = load_checkpoint(path)
    state = checkpoint.train_state or {}
    if "config" not in state or "data_source" not in state:
        raise CheckpointError(f"{path} holds no training state to resume from")
    source = state["data_source"]
    vocab = vocab_from_json(checkpoint.vocab)
    model = LanguageModel(LanguageModelConfig.from_json(checkpoint.model_config), vocab=vocab)
    budgets = {k: train_options[k] for k in ("steps", "minutes") if k in train_options}
    config = TrainConfig.from_json(state["config"] | budgets)
    text = load_corpus(source["data"])
    train_ids, val_ids = _split(vocab, text, source["val_fraction"], source["data"])
    trainer = Trainer(
        model, train_ids, val_ids, config, path.parent, data_source=source, distributed=distributed
    )
    trainer.restore(path)
    summary = f"resuming {path} at step {trainer.step} (budget: {config.steps} steps)"
    return Run(trainer, summary + _ranks(distributed, config.batch_size))
