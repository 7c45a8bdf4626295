"""What the character and word vocabularies share: id checks and error messages."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnlab.errors import DataError, VocabularyError

SHOW_UNKNOWN = 5  # how many distinct unknown symbols an error message names


def as_ids(ids: Any, size: int) -> np.ndarray:
    """``ids`` as a 1-D int64 array whose values lie in [0, size), else VocabularyError."""
    arr = np.asarray(ids)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise VocabularyError(
            f"ids must be a 1-D sequence of integers, got shape {arr.shape} and dtype {arr.dtype}"
        )
    bad = (arr < 0) | (arr >= size)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise VocabularyError(
            f"id {int(arr[first])} at position {first} is outside the vocabulary, "
            f"which has {size} symbols (valid ids are 0..{size - 1})"
        )
    return arr.astype(np.int64, copy=False)


def unknown_message(unknown: list[str], n_occurrences: int, size: int, what: str) -> str:
    shown = ", ".join(repr(s) for s in unknown[:SHOW_UNKNOWN])
    more = f" and {len(unknown) - SHOW_UNKNOWN} more" if len(unknown) > SHOW_UNKNOWN else ""
    return (
        f"text contains {len(unknown)} distinct {what} not in the vocabulary "
        f"({n_occurrences} occurrences): {shown}{more}; the vocabulary has {size} symbols. "
        f"Build the vocabulary from this text, or pass unknown='skip' to drop them."
    )


def check_kind(obj: Any, kind: str, cls_name: str) -> dict:
    if not isinstance(obj, dict):
        raise DataError(
            f"{cls_name}.from_json expects a dict (as written by to_json), got {type(obj).__name__}"
        )
    if obj.get("kind") != kind:
        raise DataError(
            f"{cls_name}.from_json expects a dict with kind={kind!r}, got kind={obj.get('kind')!r}"
        )
    return obj


# ----------------------------------------------------------------------------- chars
