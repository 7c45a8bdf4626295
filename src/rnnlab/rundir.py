"""Run directories: a trained run is never overwritten by accident.

A directory *holds a run* when it has a checkpoint or a metrics log in it. A training
command given no ``--out`` takes its default directory, or the first of ``DEFAULT-2``,
``DEFAULT-3``, … that holds none (as experiment trackers number their runs); given an
``--out`` that holds a run, it refuses and names ``--resume`` and ``--force``. The
directory is checked writable before any work starts, so a read-only or misnamed
``--out`` fails in the first second, not after the training.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError

#: the files whose presence means a directory holds a run
RUN_FILES = ("best.safetensors", "last.safetensors", "metrics.jsonl")


def holds_run(directory: Path) -> bool:
    """True if ``directory`` has a checkpoint or a metrics log of a run (or has been
    claimed by a run being started: its log is created empty)."""
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


def claim(
    out: Path | None,
    default: Path,
    force: bool = False,
    resumable: bool = True,
    clear: bool = True,
) -> Path:
    """The directory a new run writes to: ``out`` (refused if it holds a run, unless
    ``force``) or, without ``out``, the first free one of ``default``'s series; checked
    writable, and marked as taken at once (an empty ``metrics.jsonl``, created only if
    absent), so that two runs started together never share a directory.

    ``force`` removes the run that was there, now or (``clear=False``) when the caller
    calls ``start_over`` once its own checks have passed. ``resumable``: whether the
    command has ``--resume`` (the refusal names it)."""
    for _ in range(1000):  # another run may take a directory between a look and a claim
        chosen = first_free(default) if out is None else out
        if out is not None and holds_run(out) and not force:
            resume = f"continue it with --resume {out}, " if resumable else ""
            raise ConfigError(
                f"{out} already holds a run: {resume}train into another --out, or add "
                "--force to start a new run there (replacing its files)"
            )
        check_writable(chosen)
        if force:
            if clear:
                start_over(chosen)
            return chosen
        try:
            (chosen / "metrics.jsonl").open("x").close()
            return chosen
        except FileExistsError:
            continue
    raise ConfigError(f"no free run directory next to {default}")


def start_over(directory: Path) -> None:
    """Remove the run in ``directory`` (``--force``) and mark the directory as taken."""
    for name in RUN_FILES:
        (directory / name).unlink(missing_ok=True)
    (directory / "metrics.jsonl").touch()


def release(directory: Path) -> None:
    """Give back a directory claimed by a run that failed before it logged anything."""
    log = directory / "metrics.jsonl"
    with contextlib.suppress(OSError):
        if log.stat().st_size == 0 and not (directory / "last.safetensors").exists():
            log.unlink()


def claim_from_options(values: dict[str, Any], default: str) -> Path:
    """``claim`` for a command without ``--resume`` (the applications' ``train``), with
    its ``--out`` and ``--force`` options popped from ``values``."""
    return claim(values.pop("out"), Path(default), values.pop("force"), resumable=False)
