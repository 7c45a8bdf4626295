"""Setting up a character-level language-model run from plain options (what ``rnnlab train`` does).

A fresh run loads the corpus, builds the character vocabulary over all of it, splits it
contiguously into training and validation text and builds the model. A resumed run takes
the model configuration, vocabulary, data source and training options from the checkpoint
(only the budgets, ``steps`` and ``minutes``, may be changed) and continues exactly.

``distributed`` (a ``rnnlab.distributed.DataParallel``) makes the run one rank of an MPI
job (``mpiexec -n R rnnlab train``): every rank prepares the same run, the trainer shards it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.cells import cell_named
from rnnlab.data.batching import split_train_val
from rnnlab.data.corpora import load_corpus
from rnnlab.data.text import CharVocab
from rnnlab.errors import CheckpointError, ConfigError, DataError, RnnlabError
from rnnlab.io import load_checkpoint, load_model
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.options import (
    cell_option,
    hidden_option,
    layers_option,
    option,
    proj_size_option,
    recurrent_dropout_option,
    recurrent_max_option,
    redefault,
    residual_option,
    zoneout_option,
)
from rnnlab.rundir import claim
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
    """The checkpoint to resume: a file as given, or a run directory's last checkpoint
    (its best when there is no last)."""
    if not resume.is_dir():
        return resume
    for name in ("last.safetensors", "best.safetensors"):
        if (resume / name).is_file():
            return resume / name
    raise CheckpointError(f"{resume} has no checkpoint to resume from (no last or best)")


_MODEL = LanguageModelConfig.__dataclass_fields__  # the model's defaults, written there
#: the hidden size and learning rate of ``rnnlab train``'s run, chosen by the sweep in
#: bench/default_model.py (bench/results/default-model.md); the library's defaults are
#: 128 and 2e-3
DEFAULT_HIDDEN = 256
DEFAULT_LR = 4e-3


@dataclass
class CharRunConfig(TrainConfig):
    """Every option of a character-model run (what ``rnnlab train`` does): the trainer's
    (``TrainConfig``, with the main job's budget: 6,000 steps or 3 minutes) and the data's
    and the model's. The command line's options are made from these fields."""

    steps: int | None = redefault(TrainConfig, "steps", 6000)
    minutes: float | None = redefault(TrainConfig, "minutes", 3.0)
    lr: float = redefault(TrainConfig, "lr", DEFAULT_LR)
    data: str = option("shakespeare", "shakespeare, python, or a UTF-8 text file")
    cell: str = cell_option(_MODEL["cell"].default)
    hidden: int = hidden_option(DEFAULT_HIDDEN)
    layers: int = layers_option(_MODEL["num_layers"].default)
    dropout: float = option(_MODEL["dropout"].default, "dropout between layers")
    residual: bool = residual_option()
    recurrent_dropout: float = recurrent_dropout_option()
    zoneout: float = zoneout_option()
    proj_size: int = proj_size_option()
    recurrent_max: float | None = recurrent_max_option()
    embedding_dim: int | None = option(None, "embedding size; 0: one-hot input", none=0)
    val_fraction: float = option(0.1, "last fraction of the corpus held out")
    dtype: str = option(_MODEL["dtype"].default, "float32 or float64")

    def train_config(self) -> TrainConfig:
        """The trainer's part of the run, as checkpoints store it."""
        return TrainConfig(**{f.name: getattr(self, f.name) for f in fields(TrainConfig)})


def prepare_run(
    config: CharRunConfig | None = None,
    *,
    out: Path | None = None,
    resume: Path | None = None,
    distributed: Any = None,
    force: bool = False,
    **options: Any,
) -> Run:
    """A Trainer for a char model from ``config`` and ``options``, the fields of
    ``CharRunConfig`` that differ from it (or from the defaults, without ``config``:
    ``prepare_run(cell="gru", steps=2000)``), writing into ``out``.

    A resumed run takes everything from its checkpoint but the budgets ``steps`` and
    ``minutes`` (when given in ``options``), and writes where it was (or into ``out``, a
    directory that must hold no other run unless ``force``: the original stays intact)."""
    if resume is not None:
        return _resume_run(Path(resume), out, force, options, distributed)
    config = CharRunConfig(**options) if config is None else replace(config, **options)
    data, seed, train_config = config.data, config.seed, config.train_config()
    text = load_corpus(data)
    vocab = CharVocab.from_text(text)
    train_ids, val_ids = _split(vocab, text, config.val_fraction, data)
    model_config = LanguageModelConfig(
        vocab_size=len(vocab),
        cell=config.cell,
        hidden_size=config.hidden,
        num_layers=config.layers,
        dropout=config.dropout,
        residual=config.residual,
        recurrent_dropout=config.recurrent_dropout,
        zoneout=config.zoneout,
        proj_size=config.proj_size,
        recurrent_max=config.recurrent_max,
        embedding_dim=config.embedding_dim,
        dtype=config.dtype,
    )
    model = LanguageModel(model_config, seed=seed, vocab=vocab)
    source = {"data": data, "val_fraction": config.val_fraction}
    trainer = Trainer(
        model, train_ids, val_ids, train_config, out, data_source=source, distributed=distributed
    )
    summary = (
        f"{data}: {len(text):,} characters, {len(vocab)} distinct; "
        f"{len(train_ids):,} for training, {len(val_ids):,} for validation\n"
        f"model: {cell_named(model_config.cell).title} "
        f"{model_config.num_layers}×{model_config.hidden_size}"
        f"{' residual' if model_config.residual else ''}"
        f"{f' projected to {model_config.proj_size}' if model_config.proj_size else ''}, "
        f"{model.num_parameters():,} parameters; {train_config.optimizer} lr {train_config.lr}, "
        f"batch {train_config.batch_size}×{train_config.seq_len}"
    )
    return Run(trainer, summary + _ranks(distributed, train_config.batch_size))


def _budget(config: TrainConfig, seconds: float) -> str:
    """The budget of a run, as 'budget: 6,000 steps or 3 minutes (1.2 used)'."""
    parts = [f"{config.steps:,} steps"] if config.steps is not None else []
    if config.minutes is not None:
        parts.append(f"{config.minutes:g} minutes ({seconds / 60:.1f} used)")
    return "budget: " + " or ".join(parts)


def _ranks(distributed: Any, batch_size: int) -> str:
    if distributed is None:
        return ""
    return (
        f"\ndata parallel over {distributed.size} MPI rank{'s' * (distributed.size > 1)}: "
        f"{batch_size // distributed.size} streams each, one gradient Allreduce per step; "
        "rank 0 writes and reports"
    )


def _resume_run(
    resume: Path, out: Path | None, force: bool, train_options: dict[str, Any], distributed: Any
) -> Run:
    path = _resume_path(resume)
    try:
        return _resumed(path, out, force, train_options, distributed)
    except RnnlabError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as error:
        # a checkpoint whose checksum holds but whose content no rnnlab wrote
        raise CheckpointError(f"{path}: its training state is malformed ({error!r})") from None


def _resumed(
    path: Path, out: Path | None, force: bool, train_options: dict[str, Any], distributed: Any
) -> Run:
    if out is None or out.resolve() == path.parent.resolve():
        out = path.parent
    elif distributed is None or distributed.is_root:
        out = claim(out, out, force)
    checkpoint = load_checkpoint(path)
    state = checkpoint.train_state or {}
    if "config" not in state or "data_source" not in state:
        raise CheckpointError(f"{path} holds no training state to resume from")
    source = state["data_source"]
    if not (
        isinstance(source, dict)
        and isinstance(source.get("data"), str)
        and isinstance(source.get("val_fraction"), float | int)
    ):
        raise CheckpointError(f"{path}: its data source is malformed ({source!r})")
    model = load_model(path, kind="language")
    vocab = model.vocab
    unknown = train_options.keys() - {"steps", "minutes"}
    if unknown:
        raise ConfigError(
            f"a resumed run keeps its options; only steps and minutes may change, not {unknown}"
        )
    try:
        config = TrainConfig.from_json(state["config"] | train_options)
    except TypeError as error:
        raise CheckpointError(f"{path}: its training options are malformed ({error})") from None
    text = load_corpus(source["data"])
    train_ids, val_ids = _split(vocab, text, source["val_fraction"], source["data"])
    trainer = Trainer(
        model, train_ids, val_ids, config, out, data_source=source, distributed=distributed
    )
    trainer.restore(path)
    summary = f"resuming {path} at step {trainer.step} ({_budget(config, trainer.seconds)})"
    if out != path.parent:
        summary += f"; writing to {out}"
    return Run(trainer, summary + _ranks(distributed, config.batch_size))
