"""Shuffled minibatches from arrays of examples, with a position that resumes exactly.

Examples are stored sample-first — inputs (N, T, F) or (N, T) token ids, targets (N, ...)
— and served time-major, as the models take them: inputs (T, B, F), targets (B, ...)
or, for per-step targets, (T, B, ...). Each epoch visits every example once in an order
drawn from ``seed`` and the epoch number, so the order never depends on history and a
resumed run sees the same batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, DataError, ShapeError, check_positive_int


def time_major(array: np.ndarray) -> np.ndarray:
    """(B, T, ...) → (T, B, ...)."""
    return np.swapaxes(array, 0, 1)


class ArrayBatcher:
    """Minibatches of ``batch_size`` examples, a fresh permutation every epoch.

    inputs: (N, T, F) or (N, T); targets: (N, ...); lengths: (N,) or None.
    ``per_step_targets``: targets are (N, T, ...) and are served time-major too.
    ``next_batch()`` → (inputs (T, B, ...) or ((T, B, ...), lengths (B,)), targets).
    The last incomplete batch of an epoch is dropped so every batch has B examples.
    With lengths a batch is cut to its longest sequence (T = max of its lengths), and
    ``bucket`` draws batches of similar lengths: each epoch's permutation is sorted by
    length within pools of ``BUCKET_POOL`` batches, cut into batches, and the batches
    are shuffled (less padding, the same examples per epoch).
    """

    #: batches per pool sorted by length when bucketing
    BUCKET_POOL = 50

    def __init__(
        self,
        inputs: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        seed: int = 0,
        lengths: np.ndarray | None = None,
        per_step_targets: bool = False,
        shuffle: bool = True,
        bucket: bool = False,
    ) -> None:
        self.inputs, self.targets = np.asarray(inputs), np.asarray(targets)
        self.batch_size = check_positive_int("batch_size", batch_size)
        if len(self.inputs) != len(self.targets):
            raise ShapeError(
                f"inputs have {len(self.inputs)} examples but targets {len(self.targets)}"
            )
        if self.inputs.ndim < 2:
            raise ShapeError(f"inputs must be (N, T) or (N, T, F), got shape {self.inputs.shape}")
        if len(self.inputs) < self.batch_size:
            raise DataError(
                f"{len(self.inputs)} examples are fewer than one batch of {batch_size}; "
                "use a smaller batch size or more data"
            )
        self.lengths = None if lengths is None else np.asarray(lengths, dtype=np.int64)
        if self.lengths is not None and self.lengths.shape != (len(self.inputs),):
            raise ShapeError(f"lengths must have shape ({len(self.inputs)},)")
        if bucket and self.lengths is None:
            raise ConfigError("bucket needs lengths (it groups sequences of similar lengths)")
        self.per_step_targets = per_step_targets
        self.shuffle = shuffle
        self.bucket = bucket
        self._orders: dict[tuple[int, int], np.ndarray] = {}
        self.seed = int(seed)
        self.epoch, self.position, self.wrapped = 0, 0, False

    def __len__(self) -> int:
        """Batches per epoch."""
        return len(self.inputs) // self.batch_size

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.inputs))
        key = (self.seed, self.epoch)
        if key not in self._orders:
            rng = np.random.default_rng([self.seed, self.epoch])
            order = rng.permutation(len(self.inputs))
            if self.bucket:
                order = self._buckets(order, rng)
            self._orders = {key: order}  # one epoch's order kept
        return self._orders[key]

    def _buckets(self, order: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``order`` sorted by length within pools, its whole batches shuffled."""
        B = self.batch_size
        pool = self.BUCKET_POOL * B
        pieces = [order[i : i + pool] for i in range(0, len(order), pool)]
        order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pieces])
        n = len(self) * B
        batches = order[:n].reshape(len(self), B)[rng.permutation(len(self))]
        return np.concatenate([batches.ravel(), order[n:]])

    def batch(self, index: np.ndarray) -> tuple[Any, np.ndarray]:
        """The examples at ``index`` in the served layout."""
        x, y = self.inputs[index], self.targets[index]
        if self.lengths is not None:
            lengths = self.lengths[index]
            T = int(lengths.max(initial=1))
            x = x[:, :T]
            if self.per_step_targets:
                y = y[:, :T]
        x = time_major(x)
        if self.per_step_targets:
            y = time_major(y)
        if self.lengths is not None:
            return (x, lengths), y
        return x, y

    def next_batch(self) -> tuple[Any, np.ndarray]:
        """The next batch; wraps into the next epoch (then ``wrapped`` is True)."""
        if self.position >= len(self):
            self.epoch, self.position = self.epoch + 1, 0
        self.wrapped = self.position == 0
        start = self.position * self.batch_size
        index = self._order()[start : start + self.batch_size]
        self.position += 1
        return self.batch(index)

    def state_dict(self) -> dict[str, int]:
        """Where the batcher stands, as JSON."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state_dict()``."""
        try:
            self.epoch, self.position = int(state["epoch"]), int(state["position"])
            self.seed = int(state["seed"])
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(
                f"batcher state must have epoch, position and seed: {error}"
            ) from error
