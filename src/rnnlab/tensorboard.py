"""Optional TensorBoard logging of a run (``pip install "rnnlab[tensorboard]"``), for users
who already watch their runs there; ``metrics.jsonl`` is written as always.

``TensorBoardLog(directory)`` takes the trainer's events (``Trainer.report``) and writes
them with tensorboardX: ``train/loss``, ``train/bpc``, ``train/grad_norm``, ``train/lr``,
``train/tokens_per_second`` at every logged step, ``validation/loss`` and
``validation/bpc`` at every evaluation (``validation/all_loss`` for the final one over
all of the validation text) and the preview samples as text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnlab.errors import ConfigError

Report = Callable[[dict[str, Any]], None]
#: a training event's field → its TensorBoard tag
TRAIN_TAGS = {
    "loss": "train/loss",
    "bpc": "train/bpc",
    "grad_norm": "train/grad_norm",
    "lr": "train/lr",
    "tokens_per_second": "train/tokens_per_second",
}


class TensorBoardLog:
    """A report that writes each event to TensorBoard, then passes it to ``then``."""

    def __init__(self, directory: Path, then: Report | None = None) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ConfigError(
                'TensorBoard logging needs tensorboardX: pip install "rnnlab[tensorboard]"'
            ) from None
        self.writer = SummaryWriter(logdir=str(directory))
        self.then = then

    def __call__(self, event: dict[str, Any]) -> None:
        kind, step = event.get("event"), event.get("step", 0)
        if kind == "train":
            for field, tag in TRAIN_TAGS.items():
                if field in event:
                    self.writer.add_scalar(tag, event[field], step)
        elif kind == "eval":
            prefix = "validation/all_" if event.get("scope") == "all" else "validation/"
            self.writer.add_scalar(prefix + "loss", event["val_loss"], step)
            if "val_bpc" in event:
                self.writer.add_scalar(prefix + "bpc", event["val_bpc"], step)
        elif kind == "sample":
            self.writer.add_text("samples", event["text"], step)
        if self.then is not None:
            self.then(event)

    def close(self) -> None:
        self.writer.close()
