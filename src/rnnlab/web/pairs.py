"""The encoder–decoder tasks of the web lab: reversing letters and reading written dates.

    reverse   "hello"                    → "olleh"        (2–12 lower-case letters)
    dates     "the 1st of January, 2000" → "2000-01-01"   (14 written forms, 1900–2099)

Both come from ``rnnlab.data.pairs`` (generated, seeded). Each task has a few fixed
examples; the dates' examples are days the training set never holds (``split="test"``
days), so what the panel shows on them is generalisation. A learner may also type a
source: ``check_source`` refuses one the task cannot read with a one-line message, and
``expected`` gives its right answer (the reversed letters; the ISO date if the text
reads as a date, else None).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass

from rnnlab.data.pairs import DATE_CHARACTERS, LETTERS, PairData, dates, reverse, written_date
from rnnlab.web import limits
from rnnlab.web.entry import LabError

#: how many held-out pairs measure a lab model's exact match
TEST_PAIRS = 100


@dataclass(frozen=True)
class PairTask:
    """What an encoder–decoder task is, for the page."""

    title: str
    description: str
    alphabet: str  #: the characters a source may use
    alphabet_text: str  #: the same, for people
    max_source: int  #: the longest source
    train_pairs: int  #: how many pairs a lab model trains on
    examples: tuple[tuple[str, str], ...]  #: (title, source)
    data: Callable[[int, str, int], PairData]  #: (n, split, seed) → pairs


def _reverse_data(n: int, split: str, seed: int) -> PairData:
    offset = 0 if split == "train" else 1_000_003  # another stream of strings
    return reverse(n, limits.MAX_REVERSE_LETTERS, min_length=2, seed=seed + offset)


def _dates_data(n: int, split: str, seed: int) -> PairData:
    return dates(n, split, seed=seed)


def _date_example(year: int, month: int, day: int, form: int) -> str:
    return written_date(datetime.date(year, month, day), form)


PAIR_TASKS: dict[str, PairTask] = {
    "reverse": PairTask(
        "Reverse letters",
        "The encoder reads a word letter by letter; the decoder writes it backwards. Output "
        "letter u is source letter S − u + 1: the map of a good attention is the "
        "anti-diagonal.",
        LETTERS,
        "lower-case letters a–z",
        limits.MAX_REVERSE_LETTERS,
        4000,
        (
            ("a short word", "hello"),
            ("a longer word", "attention"),
            ("twelve letters, the longest", "abcdefghijkl"),
            ("a palindrome", "level"),
            ("no vowels", "rhythms"),
        ),
        _reverse_data,
    ),
    "dates": PairTask(
        "Dates → ISO",
        "The encoder reads a date written by people (14 forms); the decoder writes it as "
        "YYYY-MM-DD. The examples are days the model never saw in training.",
        DATE_CHARACTERS,
        "letters, digits, spaces, commas and full stops",
        limits.MAX_DATE_CHARS,
        8000,
        (
            ("day first", _date_example(2000, 1, 1, 0)),
            ("with the weekday", _date_example(1999, 3, 7, 7)),
            ("numbers and dots", _date_example(2024, 12, 30, 10)),
            ("month abbreviated", _date_example(1969, 7, 22, 5)),
            ("capitals", _date_example(2061, 7, 29, 13)),
            ("ordinal day", _date_example(1912, 4, 12, 4)),
        ),
        _dates_data,
    ),
}


def check_source(task: str, text: str) -> None:
    """LabError (one line) unless ``text`` is a source ``task`` can read."""
    info = PAIR_TASKS[task]
    if not 2 <= len(text) <= info.max_source:
        raise LabError(
            f"{info.title} reads sources of 2 to {info.max_source} characters; "
            f"this one has {len(text)}"
        )
    unknown = sorted(set(text) - set(info.alphabet))
    if unknown:
        shown = " ".join(repr(c) for c in unknown[:10]) + (" …" if len(unknown) > 10 else "")
        raise LabError(f"{info.title} reads {info.alphabet_text} only, not {shown}")


MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def read_date(text: str) -> datetime.date | None:
    """The day a written date names (as the 14 forms write them: a four-digit year, a
    month by name or as d.m.yyyy, a day with or without an ordinal), or None."""
    numeric = re.fullmatch(r"\s*(\d{1,2})\.(\d{1,2})\.(\d{4})\s*", text)
    if numeric:
        day, month, year = (int(part) for part in numeric.groups())
    else:
        words = re.findall(r"[a-z]+|\d+", text.lower())
        months = [MONTHS.index(w[:3]) + 1 for w in words if len(w) >= 3 and w[:3] in MONTHS]
        years = [int(w) for w in words if w.isdigit() and len(w) == 4]
        days = [int(w) for w in words if w.isdigit() and len(w) <= 2]
        if len(months) != 1 or len(years) != 1 or len(days) != 1:
            return None
        day, month, year = days[0], months[0], years[0]
    try:
        found = datetime.date(year, month, day)
    except ValueError:
        return None
    return found if 1900 <= found.year <= 2099 else None


def expected(task: str, text: str) -> str | None:
    """The right answer for the source ``text``, or None if there is none to give."""
    if task == "reverse":
        return text[::-1]
    day = read_date(text)
    return day.isoformat() if day is not None else None
