"""Checkpoints: one safetensors file holding tensors and a JSON document; never pickle.

A checkpoint is a single file ``NAME.safetensors``, so one atomic rename covers all of it
(two files could disagree after a crash). Its tensors are named

    model.<param name>       every model parameter (``model.rnn.weight_ih_l0``, ...)
    optimizer.<slot key>     the optimiser's slot arrays (``optimizer.m.head.weight``, ...)
    extra.<name>             arrays the caller adds (the trainer's carried hidden state)

and the safetensors header metadata holds ``{"rnnlab": json.dumps(doc)}`` with

    {"format": "rnnlab-checkpoint", "version": 1, "model_kind": "language",
     "model_config": {...}, "vocab": {...} | null,
     "optimizer": {"kind": ..., "hyper": {...}} | null,     # slots are tensors
     "train_state": {...}, "gru_modules": ["rnn"], "checksum": "<sha256 hex>"}

**Model tensors are in PyTorch's convention.** rnnlab's GRU takes z of the new
candidate, PyTorch's takes z' = 1 − z of the old state (see ``rnnlab.interop``), so the
z rows of every GRU weight and bias are stored negated; ``gru_modules`` names the
modules that were converted and loading converts them back. LSTM and RNN weights are
the same on both sides. Hence::

    tensors = safetensors.numpy.load_file("best.safetensors")
    state = {k.removeprefix("model.rnn."): torch.from_numpy(v)
             for k, v in tensors.items() if k.startswith("model.rnn.")}
    torch.nn.GRU(input_size, hidden_size, num_layers).load_state_dict(state)

works as is. Optimiser slots stay in rnnlab's convention (only rnnlab reads them).

The checksum is a SHA-256 over every tensor (sorted by name: name, dtype, shape, raw
bytes) and then over the document itself (canonical JSON, without the checksum): it
catches a corrupted or edited file, which safetensors' own structural checks do not.

Writing goes to a hidden temporary file in the same directory
(``.NAME.safetensors.tmp-PID-XXXX``, never ending in ``.safetensors``), which is flushed,
fsynced and renamed onto the target: the target is always the old checkpoint or the new
one, never a mix. A temporary file whose writer (PID) is gone was left by a killed
write and is removed at the next write in that directory. Reading never executes code
(safetensors, ``json.loads`` and checks) and never allocates more than the file and the
model its config describes, checked against each other and against the free memory first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from rnnlab.data.text import vocab_from_json
from rnnlab.errors import CheckpointError, ConfigError, RnnlabError, describe_shape
from rnnlab.files import write_atomically
from rnnlab.interop import params_from_torch, params_to_torch
from rnnlab.memory import check_fits, human
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.models.size import model_bytes, parameter_count
from rnnlab.nn.module import Module
from rnnlab.nn.recurrent import RecurrentLayer

FORMAT = "rnnlab-checkpoint"
VERSION = 1
SUFFIX = ".safetensors"
#: what a training run's ``--out`` directory is searched for, in order
RUN_FILES = ("best.safetensors", "last.safetensors")
#: model kind → (model class, config class); a model is rebuilt as ``cls(config, ...)``
MODEL_KINDS: dict[str, tuple[type[Module], type]] = {
    "language": (LanguageModel, LanguageModelConfig),
    "sequence": (SequenceModel, SequenceModelConfig),
    "seq2seq": (Seq2Seq, Seq2SeqConfig),
}
#: parameters a checkpoint's config may describe beyond twice what the file holds before
#: the model is refused unbuilt (a smaller misfit is built, then named tensor by tensor)
SMALL_MISFIT = 1_000_000
_PREFIXES = ("model.", "optimizer.", "extra.")
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_DOC_KEYS = {"format", "version", "model_kind", "model_config", "vocab", "optimizer"}
_DOC_KEYS |= {"train_state", "gru_modules", "checksum"}


@dataclass
class Checkpoint:
    """The contents of a checkpoint file, in rnnlab's conventions.

    ``params``: parameter name (no ``model.`` prefix) → array; ``optimizer``: ready for
    ``Optimizer.load_state_dict`` (kind, hyper, slots) or None; ``extra``: name → array.
    """

    path: Path
    model_kind: str
    model_config: dict[str, Any]
    params: dict[str, np.ndarray]
    vocab: dict[str, Any] | None = None
    optimizer: dict[str, Any] | None = None
    train_state: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)


# ------------------------------------------------------------------------------ checksum


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_checksum(tensors: Mapping[str, np.ndarray], doc: Mapping[str, Any]) -> str:
    """SHA-256 hex over the tensors (by sorted name) and the document without its checksum."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        array = _little_endian(tensors[name])
        head = [name, array.dtype.name, list(array.shape), array.nbytes]
        digest.update(_canonical_json(head).encode() + b"\n")
        digest.update(array.data if array.ndim else array.tobytes())
    body = {key: value for key, value in doc.items() if key != "checksum"}
    digest.update(b"doc\n" + _canonical_json(body).encode())
    return digest.hexdigest()


def _little_endian(array: np.ndarray) -> np.ndarray:
    """A C-contiguous little-endian copy (or the array itself if it already is one)."""
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


# -------------------------------------------------------------------------------- saving


def _model_kind(model: Module) -> str:
    for kind, (cls, _) in MODEL_KINDS.items():
        if isinstance(model, cls):
            return kind
    known = ", ".join(cls.__name__ for cls, _ in MODEL_KINDS.values())
    raise ConfigError(f"save_checkpoint: cannot save a {type(model).__name__}; expected {known}")


def _gru_modules(model: Module) -> list[str]:
    """Dotted names ('' for the model itself) of the GRU layers, stored in torch's convention."""
    return [
        prefix.rstrip(".")
        for prefix, module in model.named_modules()
        if isinstance(module, RecurrentLayer) and module.mode == "gru"
    ]


def _module_prefix(name: str) -> str:
    return f"{name}." if name else ""


def _model_tensors(model: Module, gru_modules: list[str]) -> dict[str, np.ndarray]:
    tensors = dict(model.params)
    modules = dict(model.named_modules())
    for name in gru_modules:
        prefix = _module_prefix(name)
        for key, value in params_to_torch(modules[prefix].params, "gru").items():
            tensors[prefix + key] = value
    return {f"model.{name}": value for name, value in tensors.items()}


def _extra_tensors(extra: Mapping[str, Any] | None) -> dict[str, np.ndarray]:
    tensors = {}
    for name, value in (extra or {}).items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"save_checkpoint: extra names must be non-empty str, got {name!r}")
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
            raise ConfigError(
                f"save_checkpoint: extra[{name!r}] must be a numeric numpy array, "
                f"got {describe_shape(value)}"
            )
        tensors[f"extra.{name}"] = value
    return tensors


def _json_document(**parts: Any) -> dict[str, Any]:
    """The document as it will read back (tuples → lists), or ConfigError if not JSON."""
    try:
        return json.loads(json.dumps(parts))
    except (TypeError, ValueError) as error:
        raise ConfigError(
            f"save_checkpoint: train_state must be JSON-serialisable: {error}"
        ) from None


def _serialize(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """The safetensors file's bytes (a seam the tests break to simulate a failed write)."""
    return safetensors.numpy.save(tensors, metadata=metadata)


def save_checkpoint(
    path: str | os.PathLike[str],
    model: Module,
    vocab: Any = None,
    optimizer: Any = None,
    train_state: Mapping[str, Any] | None = None,
    extra: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Write ``model`` (and optionally its vocab, optimiser, JSON train state and extra
    arrays) to ``path`` atomically; return the path.

    ``vocab`` defaults to ``model.vocab``. On any error the previous file at ``path`` is
    left as it was and the temporary file is removed.
    """
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"cannot save a checkpoint to {path}: it is a directory")
    vocab = getattr(model, "vocab", None) if vocab is None else vocab
    gru_modules = _gru_modules(model)
    tensors = _model_tensors(model, gru_modules)
    optimizer_doc = None
    if optimizer is not None:
        state = optimizer.state_dict()
        optimizer_doc = {"kind": state["kind"], "hyper": state["hyper"]}
        tensors.update({f"optimizer.{key}": value for key, value in state["slots"].items()})
    tensors.update(_extra_tensors(extra))
    tensors = {name: _little_endian(value) for name, value in tensors.items()}
    doc = _json_document(
        format=FORMAT,
        version=VERSION,
        model_kind=_model_kind(model),
        model_config=model.config.to_json(),
        vocab=None if vocab is None else vocab.to_json(),
        optimizer=optimizer_doc,
        train_state=dict(train_state or {}),
        gru_modules=gru_modules,
    )
    doc["checksum"] = compute_checksum(tensors, doc)
    _write_atomically(path, tensors, {"rnnlab": json.dumps(doc)})
    return path


def _write_atomically(path: Path, tensors: dict[str, np.ndarray], metadata: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    write_atomically(path, lambda handle: handle.write(_serialize(tensors, metadata)))


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Remove the temporary files that killed writers left in ``directory`` (those whose
    process, named in the file name, is gone); returns what was removed."""
    removed = []
    for temp in directory.glob(f".*{SUFFIX}.tmp-*"):
        writer = temp.name.rpartition(".tmp-")[2].split("-")[0]
        if writer.isdigit() and _alive(int(writer)):
            continue  # being written now, by a live process
        with contextlib.suppress(OSError):
            temp.unlink()
            removed.append(temp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but is someone else's
        return True
    return True


# ------------------------------------------------------------------------------- loading


def resolve_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file → itself; a run directory → its best, else its last checkpoint."""
    path = Path(path)
    if path.is_dir():
        for name in RUN_FILES:
            if (path / name).is_file():
                return path / name
        raise CheckpointError(
            f"no checkpoint in directory {path}: looked for {' and '.join(RUN_FILES)}"
        )
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def _read_file(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Tensors and document of one file, read once (a concurrent rename cannot mix two);
    only a regular file, and only one that fits in memory."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise CheckpointError(f"checkpoint {path} is not a regular file (a pipe or device?)")
        check_fits(path.stat().st_size, f"reading checkpoint {path}", "is it a checkpoint?")
        data = path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"cannot read checkpoint {path}: {error.strerror}") from None
    try:
        tensors = safetensors.numpy.load(data)
    except (SafetensorError, ValueError, TypeError, KeyError) as error:
        raise CheckpointError(
            f"checkpoint {path} is truncated or not a safetensors file ({error})"
        ) from None
    header_size = int.from_bytes(data[:8], "little")
    metadata = _parse_json(path, data[8 : 8 + header_size]).get("__metadata__") or {}
    if "rnnlab" not in metadata:
        raise CheckpointError(f"checkpoint {path} has no rnnlab metadata (not an rnnlab file)")
    doc = _parse_json(path, metadata["rnnlab"])
    if not isinstance(doc, dict):
        raise CheckpointError(f"checkpoint {path}: its metadata is not a JSON object")
    return tensors, doc


def _parse_json(path: Path, text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise CheckpointError(f"checkpoint {path}: its metadata is nested too deeply") from None
    except ValueError as error:
        raise CheckpointError(
            f"checkpoint {path}: its metadata is not valid JSON ({error})"
        ) from None


def _check_document(path: Path, doc: dict[str, Any], tensors: dict[str, np.ndarray]) -> None:
    if doc.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {doc.get('format')!r}, expected {FORMAT!r}"
        )
    if doc.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {doc.get('version')!r}; this rnnlab reads "
            f"version {VERSION} (a newer rnnlab may have written it)"
        )
    if doc.get("checksum") != compute_checksum(tensors, doc):
        raise CheckpointError(
            f"checkpoint {path} was modified or corrupted after it was written "
            "(its checksum does not match its contents)"
        )
    missing = sorted(_DOC_KEYS - doc.keys())
    if missing:
        raise CheckpointError(f"checkpoint {path}: its metadata is missing {missing}")
    for key, kinds in [("model_kind", str), ("model_config", dict), ("train_state", dict)]:
        if not isinstance(doc[key], kinds):
            raise CheckpointError(f"checkpoint {path}: metadata {key!r} has the wrong type")
    for name, array in tensors.items():
        if not name.startswith(_PREFIXES):
            raise CheckpointError(f"checkpoint {path}: unexpected tensor {name!r}")
        if name.startswith(("model.", "optimizer.")) and array.dtype not in _FLOATS:
            raise CheckpointError(
                f"checkpoint {path}: tensor {name!r} has unexpected dtype {array.dtype}, "
                "expected float32 or float64"
            )


def _split(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): np.array(v) for k, v in tensors.items() if k.startswith(prefix)}


def _params_from_file(model: dict[str, np.ndarray], gru_modules: list[str]) -> dict:
    params = dict(model)
    for name in gru_modules:
        prefix = _module_prefix(name)
        own = {k.removeprefix(prefix): v for k, v in model.items() if k.startswith(prefix)}
        params.update({prefix + k: v for k, v in params_from_torch(own, "gru").items()})
    return params


def _optimizer_state(path: Path, doc: dict[str, Any], tensors: dict) -> dict[str, Any] | None:
    slots = _split(tensors, "optimizer.")
    entry = doc["optimizer"]
    if entry is None:
        if slots:
            raise CheckpointError(f"checkpoint {path}: optimizer tensors but no optimizer")
        return None
    if not isinstance(entry, dict) or set(entry) != {"kind", "hyper"}:
        raise CheckpointError(f"checkpoint {path}: metadata 'optimizer' must have kind and hyper")
    return {"kind": entry["kind"], "hyper": entry["hyper"], "slots": slots}


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read and verify a checkpoint (a file, or a run directory: see resolve_checkpoint)."""
    path = resolve_checkpoint(path)
    tensors, doc = _read_file(path)
    _check_document(path, doc, tensors)
    gru_modules = doc["gru_modules"]
    if not isinstance(gru_modules, list) or not all(isinstance(m, str) for m in gru_modules):
        raise CheckpointError(f"checkpoint {path}: metadata 'gru_modules' must list names")
    return Checkpoint(
        path=path,
        model_kind=doc["model_kind"],
        model_config=doc["model_config"],
        params=_params_from_file(_split(tensors, "model."), gru_modules),
        vocab=doc["vocab"],
        optimizer=_optimizer_state(path, doc, tensors),
        train_state=doc["train_state"],
        extra=_split(tensors, "extra."),
    )


def _check_params(path: Path, model: Module, params: dict[str, np.ndarray]) -> None:
    expected = model.params
    missing, unexpected = sorted(expected.keys() - params), sorted(params.keys() - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"checkpoint {path} does not fit the model its config describes: "
            f"missing tensors {missing}, unexpected tensors {unexpected}"
        )
    for name, want in expected.items():  # in the model's order: the first misfit is named
        value = params[name]
        if value.shape != want.shape or value.dtype != want.dtype:
            raise CheckpointError(
                f"checkpoint {path}: tensor 'model.{name}' has {describe_shape(value)}, "
                f"but the model its config describes expects {describe_shape(want)}"
            )


def _check_size(path: Path, config: Any, params: dict[str, np.ndarray]) -> None:
    """CheckpointError, before the model is built, if its config describes a model far
    larger than the parameters the file holds (a config edited to ask for 18 GiB). A
    smaller misfit is built and then named tensor by tensor (``_check_params``)."""
    held, described = sum(p.size for p in params.values()), parameter_count(config)
    if described > 2 * held + SMALL_MISFIT:
        raise CheckpointError(
            f"checkpoint {path}: its config describes a model of {described:,} parameters "
            f"({human(model_bytes(config))}), but the file holds {held:,}"
        )


def load_model(
    path: str | os.PathLike[str], kind: str | None = None, *, seed: int | None = None
) -> Module:
    """Rebuild the model of a checkpoint, with its weights and vocab, in eval mode.

    ``kind`` (e.g. "language") is checked against the checkpoint; ``seed`` seeds the
    rebuilt model's dropout generator.
    """
    checkpoint = load_checkpoint(path)
    path, found = checkpoint.path, checkpoint.model_kind
    if kind is not None and found != kind:
        raise CheckpointError(f"{path} is a checkpoint of a {found!r} model, expected {kind!r}")
    if found not in MODEL_KINDS:
        raise CheckpointError(
            f"{path} is a checkpoint of a {found!r} model; known kinds: {sorted(MODEL_KINDS)}"
        )
    cls, config_cls = MODEL_KINDS[found]
    try:
        config = config_cls.from_json(checkpoint.model_config)
        _check_size(path, config, checkpoint.params)
        options = {} if checkpoint.vocab is None else {"vocab": vocab_from_json(checkpoint.vocab)}
        model = cls(config, seed=seed, **options)
    except CheckpointError:
        raise
    except (RnnlabError, TypeError, ValueError, KeyError) as error:
        raise CheckpointError(f"checkpoint {path} has an invalid model config: {error}") from None
    _check_params(path, model, checkpoint.params)
    model.load_state_dict(checkpoint.params)
    model.eval()
    return model
