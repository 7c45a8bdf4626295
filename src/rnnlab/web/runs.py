"""The "Compare runs" panel's data: the loss curves of every run the lab knows.

Three kinds of run, each a training curve (step, loss) and a validation curve:

- ``lab``: a model trained in this lab session (``Entry.losses``, one loss per update,
  and ``Entry.val_losses``, the loss on the held-out tail of a text model's training
  text every ``limits.VAL_EVERY`` updates);
- ``past``: such a model's curves before it was reset, or dropped from memory;
- ``file``: a run of ``rnnlab train`` (the directory the lab was started on, and those
  given with ``rnnlab serve --runs DIR``), read from its ``metrics.jsonl``: the
  ``{"event": "train", "step", "loss"}`` rows and the ``{"event": "eval", "step",
  "val_loss"}`` rows (not the last one over the whole validation text, ``"scope": "all"``,
  which measures something else). The file is read at each request, so a run still
  training grows; it is bounded in bytes and rows, and a malformed line ends the reading
  with one line that says where and why (the rows before it are kept).

Each curve sent has at most ``limits.MAX_RUN_POINTS`` points (a longer one keeps every
k-th point and the last). The smoothing is the page's (``js/panels/runs.js``).
"""

from __future__ import annotations

import json
import math
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnnlab.errors import ConfigError
from rnnlab.web import limits

if TYPE_CHECKING:
    from rnnlab.web.lab import Lab

Curve = list[tuple[int, float]]  #: [(step, loss)], steps increasing


@dataclass
class PastRun:
    """The curves of a lab model before it was reset or dropped from memory."""

    id: str
    title: str
    task: str
    train: Curve = field(default_factory=list)
    val: Curve = field(default_factory=list)


@dataclass
class Metrics:
    """What a metrics.jsonl holds: the two curves, and a line for what could not be read."""

    train: Curve = field(default_factory=list)
    val: Curve = field(default_factory=list)
    message: str = ""


def find_run_dirs(paths: Any) -> list[Path]:
    """The run directories under ``paths``: each path is a run directory (it holds a
    metrics.jsonl) or a directory of them (its subdirectories that hold one, sorted by
    name). At most ``limits.MAX_RUN_DIRS`` in all; ConfigError, in one line, for a path
    that does not exist or holds no run."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise ConfigError(
                f"--runs {path}: no such directory (name a run directory of rnnlab train, "
                "or a directory of them)"
            )
        if (path / "metrics.jsonl").is_file():
            runs = [path]
        else:
            runs = sorted(d for d in path.iterdir() if (d / "metrics.jsonl").is_file())
        if not runs:
            raise ConfigError(
                f"--runs {path}: no metrics.jsonl in it or in its subdirectories "
                "(rnnlab train writes one into each run directory)"
            )
        for run in runs:
            if run.resolve() not in found:
                found.append(run.resolve())
    if len(found) > limits.MAX_RUN_DIRS:
        raise ConfigError(
            f"--runs names {len(found)} run directories; the lab compares at most "
            f"{limits.MAX_RUN_DIRS}: name fewer"
        )
    return found


def _number(record: dict[str, Any], key: str) -> float:
    value = record.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"its {key!r} is {value!r}, not a number")
    return float(value)


def _step(record: dict[str, Any]) -> int:
    value = _number(record, "step")
    if not math.isfinite(value):  # 1e400 and Infinity read as inf, which int() refuses
        raise ValueError(f"its 'step' is {value}, not a finite number")
    return int(value)


def read_metrics(path: Path) -> Metrics:
    """The training and validation curves of a metrics.jsonl written by ``rnnlab train``.

    Never raises for what is in the file: a file that cannot be read, or is larger than
    ``limits.MAX_METRICS_BYTES``, gives no curves and a message; a line that is not a
    JSON object, or a train/eval row without a numeric loss and a finite step (1e400 or
    Infinity is not one), ends the reading (the rows before it are kept) with a message
    naming the line; past ``limits.MAX_METRICS_ROWS`` rows the rest are left, and said
    so. A last line without its newline is a row still being written, and is skipped.
    Non-finite losses (a run that diverged) are left out of the curves."""
    out = Metrics()
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            out.message = f"{path} is not a regular file"
            return out
        if info.st_size > limits.MAX_METRICS_BYTES:
            out.message = (
                f"{path} has {info.st_size:,} bytes, more than the {limits.MAX_METRICS_BYTES:,} "
                "the lab reads; not shown"
            )
            return out
        with open(path, "rb") as file:
            data = file.read(limits.MAX_METRICS_BYTES + 1)
    except OSError as error:
        out.message = f"cannot read {path}: {error.strerror or error}"
        return out
    lines = data.split(b"\n")
    complete = len(lines) - 1  # the part after the last newline is still being written
    for number, raw in enumerate(lines, 1):
        if number > limits.MAX_METRICS_ROWS:
            out.message = f"{path}: only its first {limits.MAX_METRICS_ROWS:,} rows are shown"
            break
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            event = record.get("event")
            if event == "train":
                point = (_step(record), _number(record, "loss"))
                curve = out.train
            elif event == "eval" and record.get("scope") != "all":
                point = (_step(record), _number(record, "val_loss"))
                curve = out.val
            else:
                continue
        except (ValueError, UnicodeDecodeError) as error:
            if number > complete:
                break  # the last row, not finished yet
            reason = error.msg if isinstance(error, json.JSONDecodeError) else str(error)
            out.message = f"{path}, line {number}: {reason}; the rows before it are shown"
            break
        if math.isfinite(point[1]):
            curve.append(point)
    return out


def thin(curve: Curve, most: int = limits.MAX_RUN_POINTS) -> list[list[float]]:
    """At most ``most`` (≥ 2) points of ``curve`` of n: all if n ≤ most, else every k-th
    from the first, k = ⌈(n − 1) / (most − 1)⌉, and the last; as [step, loss], the loss
    to 5 decimals."""
    n = len(curve)
    kept = curve
    if n > most:
        every = math.ceil((n - 1) / (most - 1))
        kept = curve[: n - 1 : every] + curve[-1:]
    return [[step, round(loss, 5)] for step, loss in kept]


def _run(run_id: str, kind: str, title: str, task: str, train: Curve, val: Curve) -> dict:
    return {
        "id": run_id,
        "kind": kind,
        "title": title,
        "task": task,
        "steps": max((step for step, _ in train[-1:] + val[-1:]), default=0),
        "points": {"train": len(train), "val": len(val)},
        "train": thin(train),
        "val": thin(val),
        "message": "",
    }


def runs_view(lab: Lab) -> dict[str, Any]:
    """Every run with a curve: the lab's trained models (most recently used last), their
    past curves, then the run directories' metrics.jsonl (read now)."""
    runs = []
    for entry in lab.trained():
        train, val = list(entry.losses), list(entry.val_losses)
        runs.append(_run(entry.id, "lab", entry.title, entry.task, train, val))
    for past in list(lab.past_runs):
        runs.append(_run(past.id, "past", past.title, past.task, past.train, past.val))
    for number, directory in enumerate(lab.run_dirs, 1):
        metrics = read_metrics(directory / "metrics.jsonl")
        title = f"{directory.parent.name}/{directory.name} (rnnlab train)"
        run = _run(f"file-{number}", "file", title, "text", metrics.train, metrics.val)
        run["message"] = metrics.message
        runs.append(run)
    return {"runs": runs, "val_every": limits.VAL_EVERY, "max_points": limits.MAX_RUN_POINTS}
