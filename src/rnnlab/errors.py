"""One family of exceptions, written for the person who reads them.

Every message names the argument, what was given and what was expected. Each class
also derives from the matching built-in (``ValueError``, ``TypeError``, ...) so that
code which already catches those keeps working.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class RnnlabError(Exception):
    """Base class of every error rnnlab raises on purpose."""


class ShapeError(RnnlabError, ValueError):
    """An array has the wrong rank or size."""


class DTypeError(RnnlabError, TypeError):
    """An array has the wrong element type."""


class ConfigError(RnnlabError, ValueError):
    """A constructor or function argument has an invalid value."""


class StateError(RnnlabError, RuntimeError):
    """Methods were called in an order that cannot work (e.g. backward before forward)."""


class DataError(RnnlabError, ValueError):
    """A corpus, data file or dataset cannot be used."""


class CheckpointError(RnnlabError, ValueError):
    """A checkpoint is missing, truncated, tampered with or of another kind."""


class VocabularyError(RnnlabError, KeyError):
    """Text contains symbols the vocabulary does not know."""

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return str(self.args[0]) if self.args else ""


def describe_shape(array: Any) -> str:
    """A short human description of an array's shape and dtype, for error messages."""
    if isinstance(array, np.ndarray):
        return f"shape {tuple(array.shape)} and dtype {array.dtype}"
    return f"a {type(array).__name__}"


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_probability(name: str, value: Any) -> float:
    """Return ``value`` as a float in [0, 1), else raise ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)
