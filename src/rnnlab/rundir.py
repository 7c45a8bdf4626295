"""Run directories: a trained run is never overwritten by accident.

A directory *holds a run* when it has a checkpoint or a metrics log in it. A training
command given no ``--out`` takes its default directory, or the first of ``DEFAULT-2``,
``DEFAULT-3``, … that holds none (as experiment trackers number their runs); given an
``--out`` that holds a run, it refuses and names ``--resume`` and ``--force``. The
directory is checked writable before any work starts, so a read-only or misnamed
``--out`` fails in the first second, not after the training.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError

#: the files whose presence means a directory holds a run
RUN_FILES = ("best.safetensors", "last.safetensors", "metrics.jsonl")


def holds_run(directory: Path) -> bool:
    """True if ``directory`` has a checkpoint or a metrics log of a run."""
    return any((directory / name).exists() for name in RUN_FILES)


def first_free(default: Path) -> Path:
    """``default``, or ``default-2``, ``default-3``, … : the first that holds no run."""
    candidate, number = default, 1
    while holds_run(candidate):
        number += 1
        candidate = default.with_name(f"{default.name}-{number}")
    return candidate


def check_writable(directory: Path) -> None:
    """Create ``directory`` if needed and write a probe file in it; ConfigError if either
    cannot be done, naming the directory and the cause."""
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"--out {directory} is a file, not a directory: name a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as error:
        raise ConfigError(f"cannot write to --out {directory}: {error.strerror or error}") from None


def claim(out: Path | None, default: Path, force: bool = False, resumable: bool = True) -> Path:
    """The directory a new run writes to: ``out`` (refused if it holds a run, unless
    ``force``, which removes that run's files) or, without ``out``, the first free one
    of ``default``'s series; checked writable. ``resumable``: whether the command has
    ``--resume`` (the refusal names it)."""
    if out is None:
        out = first_free(default)
    elif holds_run(out) and not force:
        resume = f"continue it with --resume {out}, " if resumable else ""
        raise ConfigError(
            f"{out} already holds a run: {resume}train into another --out, or add --force "
            "to start a new run there (replacing its files)"
        )
    check_writable(out)
    if force:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    return out


def claim_from_options(values: dict[str, Any], default: str) -> Path:
    """``claim`` for a command without ``--resume`` (the applications' ``train``), with
    its ``--out`` and ``--force`` options popped from ``values``."""
    return claim(values.pop("out"), Path(default), values.pop("force"), resumable=False)
