"""Sequence pairs for encoder–decoder models, generated (nothing to download): the classic
demonstrations of attention.

    copy(n, length)        "hdakq"                    → "hdakq"
    reverse(n, length)     "hdakq"                    → "qkadh"
    sort_letters(n, length) "hdakq"                   → "adhkq"
    dates(n)               "the 3rd of March, 1999"   → "1999-03-03"   (many surface forms)

A task returns a ``PairData``: the texts and their ids in fixed character vocabularies
(the same for every draw, so a test set shares the training set's ids). The target
vocabulary holds two markers the decoder needs: ``START`` (its first input) and ``END``
(its last output, where decoding stops); each target row is START, the text, END,
padded with END.

Dates are split by day: ``split="test"`` draws only every tenth day (by the day's
ordinal), ``"train"`` only the others, so a test date is never seen in training in any
form. Years 1900–2099.
"""

from __future__ import annotations

import datetime
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlab.data.datasets import ArrayBatcher
from rnnlab.data.text import CharVocab, PairVocab
from rnnlab.errors import ConfigError, check_positive_int

__all__ = [
    "DATE_FORMS",
    "END",
    "START",
    "PairBatcher",
    "PairData",
    "copy",
    "dates",
    "pair_data",
    "reverse",
    "sort_letters",
    "written_date",
]

START = "\x02"  #: the decoder's first input (ASCII "start of text")
END = "\x03"  #: the decoder's last output (ASCII "end of text")
LETTERS = string.ascii_lowercase
#: every character a written date may use
DATE_CHARACTERS = string.ascii_letters + string.digits + " ,."
ISO_CHARACTERS = string.digits + "-"

Seed = int | np.random.Generator


@dataclass
class PairData:
    """Source and target sequences as ids, sample-first, with their texts.

    sources (N, S) int64, 0 past each of source_lengths (N,); targets (N, U) int64:
    START, the target's ids, END, then END to the longest; target_lengths (N,) count
    START and END. source_vocab, target_vocab: the CharVocabs of the ids.
    """

    source_texts: list[str]
    target_texts: list[str]
    sources: np.ndarray
    source_lengths: np.ndarray
    targets: np.ndarray
    target_lengths: np.ndarray
    source_vocab: CharVocab
    target_vocab: CharVocab

    def __len__(self) -> int:
        return len(self.source_texts)

    @property
    def vocab(self) -> PairVocab:
        """Both vocabularies as one, as a ``Seq2Seq`` model carries them."""
        return PairVocab(self.source_vocab, self.target_vocab)

    def batcher(self, batch_size: int, seed: int = 0, shuffle: bool = True) -> PairBatcher:
        """A ``PairBatcher`` over these pairs (what ``rnnlab.train.Trainer`` takes)."""
        return PairBatcher(self, batch_size, seed, shuffle)


class PairBatcher(ArrayBatcher):
    """Shuffled minibatches of a ``PairData`` for ``rnnlab.models.Seq2Seq``, resumable as
    every ``ArrayBatcher``: ``next_batch()`` → (inputs, targets), time-major and cut to
    the batch's longest source and target:

        inputs = (sources (S, B), source_lengths (B,), target inputs (U − 1, B) = START,
                  y_1 …, their lengths (B,)),   targets (U − 1, B) = y_1 … END
    """

    def __init__(self, data: PairData, batch_size: int, seed: int = 0, shuffle: bool = True):
        super().__init__(
            data.sources, data.targets, batch_size, seed, data.source_lengths, shuffle=shuffle
        )
        self.data = data

    def batch(self, index: np.ndarray) -> tuple[Any, np.ndarray]:
        data = self.data
        source_lengths, target_lengths = data.source_lengths[index], data.target_lengths[index]
        sources = data.sources[index, : source_lengths.max()].T
        targets = data.targets[index, : target_lengths.max()].T
        return (sources, source_lengths, targets[:-1], target_lengths - 1), targets[1:]


def pair_data(
    source_texts: Sequence[str],
    target_texts: Sequence[str],
    source_vocab: CharVocab,
    target_vocab: CharVocab,
) -> PairData:
    """Texts → PairData in the given vocabularies (target_vocab must hold START, END)."""
    if len(source_texts) != len(target_texts):
        raise ConfigError(
            f"{len(source_texts)} sources but {len(target_texts)} targets: one target each"
        )
    if START not in target_vocab or END not in target_vocab:
        raise ConfigError("the target vocabulary must hold the START and END markers")
    sources = [source_vocab.encode(text) for text in source_texts]
    targets = [target_vocab.encode(START + text + END) for text in target_texts]
    source_lengths = np.array([len(ids) for ids in sources], np.int64)
    target_lengths = np.array([len(ids) for ids in targets], np.int64)
    if source_lengths.size and source_lengths.min() == 0:
        raise ConfigError("every source needs at least one symbol")
    source_array = np.zeros((len(sources), int(source_lengths.max(initial=1))), np.int64)
    end = int(target_vocab.encode(END)[0])
    target_array = np.full((len(targets), int(target_lengths.max(initial=2))), end, np.int64)
    for row, ids in enumerate(sources):
        source_array[row, : len(ids)] = ids
    for row, ids in enumerate(targets):
        target_array[row, : len(ids)] = ids
    return PairData(
        list(source_texts), list(target_texts), source_array, source_lengths, target_array,
        target_lengths, source_vocab, target_vocab,
    )  # fmt: skip


def target_vocabulary(characters: str) -> CharVocab:
    """The characters of the targets with START and END."""
    return CharVocab([*sorted(set(characters)), START, END])


def _letter_strings(
    n: int, length: int, min_length: int | None, rng: np.random.Generator
) -> list[str]:
    """n strings of LETTERS, each of a length uniform in [min_length, length]."""
    check_positive_int("n", n)
    check_positive_int("length", length)
    shortest = length if min_length is None else check_positive_int("min_length", min_length)
    if shortest > length:
        raise ConfigError(f"min_length must be at most length = {length}, got {shortest}")
    sizes = rng.integers(shortest, length + 1, size=n)
    return ["".join(rng.choice(list(LETTERS), size=size)) for size in sizes]


def _letter_task(
    transform: Callable[[str], str], n: int, length: int, min_length: int | None, seed: Seed
) -> PairData:
    sources = _letter_strings(n, length, min_length, np.random.default_rng(seed))
    targets = [transform(text) for text in sources]
    return pair_data(sources, targets, CharVocab(LETTERS), target_vocabulary(LETTERS))


def copy(n: int, length: int, min_length: int | None = None, seed: Seed = 0) -> PairData:
    """n random strings of lower-case letters → the same strings (the copy task: at
    T = 100 the whole string must pass through the encoder, or through attention)."""
    return _letter_task(lambda text: text, n, length, min_length, seed)


def reverse(n: int, length: int, min_length: int | None = None, seed: Seed = 0) -> PairData:
    """n random strings of lower-case letters (length in [min_length, length], all of
    ``length`` without min_length) → the same strings reversed."""
    return _letter_task(lambda text: text[::-1], n, length, min_length, seed)


def sort_letters(n: int, length: int, min_length: int | None = None, seed: Seed = 0) -> PairData:
    """n random strings of lower-case letters → their letters sorted."""
    return _letter_task(lambda text: "".join(sorted(text)), n, length, min_length, seed)


# ---------------------------------------------------------------------------- dates
def _ordinal(day: int) -> str:
    """1 → '1st', 2 → '2nd', 11 → '11th', 23 → '23rd'."""
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")  # fmt: skip
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _month(d: datetime.date) -> str:
    return MONTHS[d.month - 1]  # English whatever the locale (strftime's %B is not)


def _weekday(d: datetime.date) -> str:
    return WEEKDAYS[d.weekday()]


#: the surface forms of a written date, each a function of the date
DATE_FORMS: tuple[Callable[[datetime.date], str], ...] = (
    lambda d: f"the {_ordinal(d.day)} of {_month(d)}, {d.year}",
    lambda d: f"{_month(d)} {d.day}, {d.year}",
    lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",
    lambda d: f"{d.day} {_month(d)} {d.year}",
    lambda d: f"{_ordinal(d.day)} {_month(d)} {d.year}",
    lambda d: f"{_month(d)[:3]} {d.day}, {d.year}",
    lambda d: f"{d.day} {_month(d)[:3]} {d.year}",
    lambda d: f"{_weekday(d)}, {_month(d)} {d.day}, {d.year}",
    lambda d: f"{_weekday(d)[:3]}, {d.day} {_month(d)[:3]} {d.year}",
    lambda d: f"{d.day}.{d.month}.{d.year}",
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    lambda d: f"{d.year} {_month(d)} {d.day}",
    lambda d: f"{_month(d)} {d.day} {d.year}".lower(),
    lambda d: f"{_month(d)[:3]} {d.day} {d.year}".upper(),
)

_FIRST_DAY = datetime.date(1900, 1, 1).toordinal()
_LAST_DAY = datetime.date(2099, 12, 31).toordinal()


def written_date(day: datetime.date, form: int) -> str:
    """``day`` in surface form ``form`` (an index of DATE_FORMS), in English."""
    return DATE_FORMS[form](day)


def dates(n: int, split: str = "train", seed: Seed = 0) -> PairData:
    """n written dates, each in a random surface form → ISO 8601 (YYYY-MM-DD).

    ``split``: "train" draws days whose ordinal is not a multiple of 10, "test" those
    that are (so no test day is ever a training day)."""
    check_positive_int("n", n)
    if split not in ("train", "test"):
        raise ConfigError(f"split must be 'train' or 'test', got {split!r}")
    rng = np.random.default_rng(seed)
    days = np.arange(_FIRST_DAY, _LAST_DAY + 1)
    held_out = days % 10 == 0
    pool = days[held_out] if split == "test" else days[~held_out]
    chosen = rng.choice(pool, size=n)
    forms = rng.integers(0, len(DATE_FORMS), size=n)
    calendar = [datetime.date.fromordinal(int(ordinal)) for ordinal in chosen]
    sources = [written_date(day, int(form)) for day, form in zip(calendar, forms, strict=True)]
    targets = [day.isoformat() for day in calendar]
    return pair_data(
        sources, targets, CharVocab(sorted(DATE_CHARACTERS)), target_vocabulary(ISO_CHARACTERS)
    )
