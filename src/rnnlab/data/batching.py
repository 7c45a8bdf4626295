"""Batches for truncated backpropagation through time.

A corpus of N token ids is cut into B contiguous streams of N // B tokens each (as in
char-rnn and PyTorch's word_language_model ``batchify``), laid out time-major::

    streams[t, b] = ids[offset + b * (N // B) + t]          streams: (N // B, B)

Chunk k is ``inputs = streams[k*T : k*T + T]`` with ``targets`` the same window one
step later, both ``(T, B)`` int64. Chunk k + 1 starts where chunk k stopped in every
stream, so a trainer carries the hidden state from one chunk to the next and resets it
only when a new epoch starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, DataError, DTypeError, ShapeError, check_positive_int

__all__ = ["StreamBatcher", "eval_chunks", "split_train_val"]

Chunk = tuple[np.ndarray, np.ndarray]


def _as_token_ids(ids: Any, name: str = "ids") -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array of token ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise DTypeError(f"{name} must hold integer token ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _streams(ids: np.ndarray, batch_size: int, needed: int, what: str, how: str) -> np.ndarray:
    """ids (N,) → read-only streams (N // B, B), after checking N ≥ needed."""
    if len(ids) < needed:
        raise DataError(
            f"{what} has {len(ids)} tokens, but {how} need at least {needed}; "
            "use more text or a smaller batch_size or seq_len"
        )
    stream_len = len(ids) // batch_size
    streams = np.ascontiguousarray(ids[: batch_size * stream_len].reshape(batch_size, -1).T)
    streams.flags.writeable = False
    return streams


def split_train_val(ids: Any, val_fraction: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous split: the first ``1 − val_fraction`` of ``ids`` for training, the
    rest for validation. ids: (N,) → (train: (⌊N (1 − f)⌋,), val: (the rest,)), both views.

    The cut is ⌊N (1 − f)⌋, as nanoGPT's shakespeare_char, so that published numbers on
    the same split are comparable (tiny shakespeare: 1,003,854 / 111,540 characters)."""
    arr = _as_token_ids(ids)
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, int | float):
        raise ConfigError(f"val_fraction must be a number in (0, 1), got {val_fraction!r}")
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = len(arr) - int(len(arr) * (1 - val_fraction))
    if n_val < 2 or len(arr) - n_val < 2:
        raise DataError(
            f"cannot split {len(arr)} tokens with val_fraction={val_fraction}: each part "
            "needs at least 2 tokens (one input and its target)"
        )
    return arr[: len(arr) - n_val], arr[len(arr) - n_val :]


class StreamBatcher:
    """Chunks ``(inputs, targets)``, each ``(seq_len, batch_size)`` int64, in order.

    ``for inputs, targets in batcher`` runs over the rest of the current epoch;
    ``next_batch()`` never stops and wraps into the next epoch. Both advance the same
    position, which ``state_dict()`` / ``load_state_dict()`` save and restore, so a
    resumed run sees exactly the chunks it would have seen. ``offset`` skips that many
    tokens at the start of the corpus (a different cut of the same text).
    """

    def __init__(self, ids: Any, batch_size: int, seq_len: int, offset: int = 0) -> None:
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.seq_len = check_positive_int("seq_len", seq_len)
        arr = _as_token_ids(ids)
        if isinstance(offset, bool) or not isinstance(offset, int | np.integer) or offset < 0:
            raise ConfigError(f"offset must be a non-negative integer, got {offset!r}")
        if offset >= len(arr):
            raise ConfigError(f"offset must be smaller than the {len(arr)} tokens, got {offset}")
        self.offset = int(offset)
        self.n_tokens = len(arr)
        what = "the corpus" if not offset else f"the corpus after offset {offset}"
        needed = self.batch_size * (self.seq_len + 1)
        how = f"batch_size={batch_size} and seq_len={seq_len} (batch_size × (seq_len + 1))"
        self.streams = _streams(arr[self.offset :], self.batch_size, needed, what, how)
        self._epoch = 0
        self._position = 0
        self._wrapped = False

    def __len__(self) -> int:
        """Chunks per epoch: (N // B − 1) // T (the tail that does not fill one is left out)."""
        return (self.streams.shape[0] - 1) // self.seq_len

    @property
    def epoch(self) -> int:
        """Completed epochs (0 during the first)."""
        return self._epoch

    @property
    def position(self) -> int:
        """Index in ``[0, len(self))`` of the next chunk to be served in this epoch."""
        return self._position

    @property
    def wrapped(self) -> bool:
        """True when the chunk served last was the first of an epoch (the very first
        chunk included): it does not continue the previous one, so reset the state."""
        return self._wrapped

    def chunk(self, k: int) -> Chunk:
        """Chunk ``k``: (inputs, targets), each (seq_len, batch_size) int64, read-only."""
        if not 0 <= k < len(self):
            raise ConfigError(f"chunk index must be in [0, {len(self)}), got {k}")
        start = k * self.seq_len
        return (
            self.streams[start : start + self.seq_len],
            self.streams[start + 1 : start + self.seq_len + 1],
        )

    def _serve(self) -> Chunk:
        k = self._position
        batch = self.chunk(k)
        self._wrapped = k == 0
        self._position = k + 1
        if self._position == len(self):  # epoch finished: the next chunk starts a new one
            self._epoch += 1
            self._position = 0
        return batch

    def next_batch(self) -> Chunk:
        """The next chunk, wrapping to chunk 0 of the next epoch after the last one."""
        return self._serve()

    def __iter__(self) -> Iterator[Chunk]:
        """The remaining chunks of the current epoch (all of them if at its start)."""
        epoch = self._epoch
        while self._epoch == epoch:
            yield self._serve()

    def state_dict(self) -> dict[str, int]:
        """JSON-able position: ``epoch`` and ``position`` plus the settings it is valid for."""
        return {
            "epoch": self._epoch,
            "position": self._position,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "offset": self.offset,
            "n_tokens": self.n_tokens,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume at a position saved by ``state_dict()`` of a batcher over the same data."""
        if not isinstance(state, dict):
            raise DataError(f"state must be a dict from state_dict(), got {type(state).__name__}")
        for key, mine in self.state_dict().items():
            if key in ("epoch", "position"):
                continue
            if key in state and state[key] != mine:
                raise DataError(
                    f"the state was saved with {key}={state[key]!r}, this batcher has "
                    f"{key}={mine!r}; resume with the same data and settings"
                )
        epoch, position = state.get("epoch"), state.get("position")
        for key, value in (("epoch", epoch), ("position", position)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise DataError(f"state[{key!r}] must be a non-negative integer, got {value!r}")
        if position >= len(self):
            raise DataError(
                f"state['position'] must be below the {len(self)} chunks per epoch, got {position}"
            )
        self._epoch, self._position, self._wrapped = epoch, position, False

    def __repr__(self) -> str:
        return (
            f"StreamBatcher(batch_size={self.batch_size}, seq_len={self.seq_len}, "
            f"chunks={len(self)}, epoch={self._epoch}, position={self._position})"
        )


def eval_chunks(ids: Any, batch_size: int, seq_len: int) -> Iterator[Chunk]:
    """One pass over ``ids`` (e.g. validation data) as chunks ``(inputs, targets)`` of
    shape (seq_len, batch_size) int64; the last chunk may be shorter, (T', batch_size)
    with 1 ≤ T' ≤ seq_len, so that every token of the streams but the first of each is
    a target exactly once. Needs at least 2 × batch_size tokens."""
    batch_size = check_positive_int("batch_size", batch_size)
    seq_len = check_positive_int("seq_len", seq_len)
    how = f"batch_size={batch_size} streams of 2 tokens or more"
    streams = _streams(_as_token_ids(ids), batch_size, 2 * batch_size, "the evaluation data", how)
    n_targets = streams.shape[0] - 1

    def chunks() -> Iterator[Chunk]:
        for start in range(0, n_targets, seq_len):
            stop = min(start + seq_len, n_targets)
            yield streams[start:stop], streams[start + 1 : stop + 1]

    return chunks()
