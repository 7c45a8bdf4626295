"""Buffers reused from call to call, so a training step allocates (and faults in) nothing new.

A layer keeps one Workspace per cell; ``array(name, shape, dtype)`` returns the same
memory as long as the shape and dtype do not change. What a kernel returns to the
caller (outputs, final states, input gradients) is always a fresh array; the tape lives
in the workspace and is valid until the next call that uses it.
"""

from __future__ import annotations

import numpy as np

#: bytes: a cache line. Arrays that the threads of a team write in blocks of units start
#: on a line, so that no line holds the units of two threads (which would pass it from
#: core to core at every write)
ALIGNMENT = 64


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose first element starts a cache line."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
    offset = -raw.ctypes.data % ALIGNMENT
    return raw[offset : offset + size].view(dtype).reshape(shape)


class Workspace:
    """Named scratch arrays, reallocated only when their shape or dtype changes."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of this shape and dtype (the same one as last time)."""
        found = self._arrays.get(name)
        if found is None or found.shape != tuple(shape) or found.dtype != dtype:
            found = aligned_empty(shape, dtype)
            self._arrays[name] = found
        return found

    def zeros(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """As ``array``, filled with zeros."""
        found = self.array(name, shape, dtype)
        found.fill(0)
        return found

    @property
    def nbytes(self) -> int:
        """The memory the workspace holds."""
        return sum(a.nbytes for a in self._arrays.values())
