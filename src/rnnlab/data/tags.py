"""Tagged sequences for sequence labelling: a tag for every token, with no download.

    punctuation_tags(text)    the words of ``text``, lower-cased and stripped of
                              punctuation, each tagged with its case and the mark after
                              it: "Now, fair Hippolyta," → now fair hippolyta /
                              Capital|, lower|none Capital|,
    restore(words, tags)      the inverse: words and their tags → text
    shakespeare_speeches      every speech of a list of plays, tagged that way
    read_token_tag_csv        any CSV file of one token per row, with its tag and the
                              sentence it belongs to

A punctuation tag is the first of ``, . ; : ? !`` between a word and the next one, or
"none"; a case tag is "UPPER" for a word of two or more letters all upper case,
"Capital" for a word that starts with an upper-case letter (so "I" and "O" are
Capital) and "lower" otherwise. The two are joined into one tag "case|mark" (the model
learns their joint distribution; ``factor`` reads one of them back). Hyphens, quotes
and brackets are dropped (and not restored), so "step-dame" is the two words "step"
"dame". Imports nothing of rnnlab but ``rnnlab.errors`` and ``rnnlab.data``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.corpora import Play
from rnnlab.data.labelled import speech_text
from rnnlab.data.words import WordVocab
from rnnlab.errors import DataError, check_positive_int

__all__ = [
    "CASES",
    "FACTORS",
    "MARKS",
    "TaggedSequences",
    "cut",
    "factor",
    "punctuation_tags",
    "read_token_tag_csv",
    "restore",
    "shakespeare_speeches",
]

CASES = ("lower", "Capital", "UPPER")
MARKS = ("none", ",", ".", ";", ":", "?", "!")
#: the two halves of a punctuation tag "case|mark", in order
FACTORS = ("case", "punctuation")
#: every punctuation tag, "lower|none" first
PUNCTUATION_TAGS = tuple(f"{case}|{mark}" for case in CASES for mark in MARKS)
#: the most rows a CSV of tokens may have (a bound checked before the rows are kept)
MAX_CSV_ROWS = 5_000_000


@dataclass(frozen=True)
class TaggedSequences:
    """``tokens[n][t]`` has the tag ``tags[n][t]``; ``groups[n]`` is where sequence n
    came from (a play's title, or "sentence 7" of a CSV file)."""

    tokens: list[list[str]]
    tags: list[list[str]]
    groups: list[str]

    def __post_init__(self) -> None:
        if not (len(self.tokens) == len(self.tags) == len(self.groups)):
            raise DataError(
                f"{len(self.tokens)} token sequences, {len(self.tags)} tag sequences and "
                f"{len(self.groups)} groups: they must be as many"
            )
        for n, (tokens, tags) in enumerate(zip(self.tokens, self.tags, strict=True)):
            if len(tokens) != len(tags) or not tokens:
                raise DataError(
                    f"sequence {n} has {len(tokens)} tokens and {len(tags)} tags; "
                    "each needs at least one token and one tag per token"
                )

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def labels(self) -> list[str]:
        """Every tag that occurs, sorted."""
        return sorted({tag for tags in self.tags for tag in tags})

    def select(self, keep: Iterable[int]) -> TaggedSequences:
        """The sequences at the indices ``keep``, in that order."""
        keep = list(keep)
        return TaggedSequences(
            [self.tokens[i] for i in keep],
            [self.tags[i] for i in keep],
            [self.groups[i] for i in keep],
        )


def case_of(word: str) -> str:
    """ "UPPER", "Capital" or "lower" (see the module docstring)."""
    if len(word) > 1 and word.isupper():
        return "UPPER"
    return "Capital" if word[:1].isupper() else "lower"


def _is_word(token: str) -> bool:
    return token[0].isalnum()


def punctuation_tags(text: str) -> tuple[list[str], list[str]]:
    """The words of ``text`` lower-cased, and the tag "case|mark" of each (see the module
    docstring). → (words, tags), equally long."""
    tokens = WordVocab.tokenize(text)
    words: list[str] = []
    tags: list[str] = []
    for i, token in enumerate(tokens):
        if not _is_word(token):
            continue
        mark = "none"
        for after in tokens[i + 1 :]:
            if _is_word(after):
                break
            if after in MARKS:
                mark = after
                break
        words.append(token.lower())
        tags.append(f"{case_of(token)}|{mark}")
    return words, tags


def factor(tag: str, which: str) -> str:
    """One half of a punctuation tag: ``factor("Capital|,", "punctuation")`` → ","."""
    index = FACTORS.index(which)
    parts = tag.split("|")
    if len(parts) != 2:
        raise DataError(f"{tag!r} is not a punctuation tag 'case|mark'")
    return parts[index]


def restore(words: list[str], tags: list[str]) -> str:
    """Words and their punctuation tags → text: "now", "Capital|," → "Now," joined with
    spaces."""
    out = []
    for word, tag in zip(words, tags, strict=True):
        case, mark = factor(tag, "case"), factor(tag, "punctuation")
        if case == "UPPER":
            word = word.upper()
        elif case == "Capital":
            word = word[:1].upper() + word[1:]
        out.append(word + ("" if mark == "none" else mark))
    return " ".join(out)


def shakespeare_speeches(plays: list[Play]) -> TaggedSequences:
    """Every speech of ``plays`` (the spoken words, speaker names dropped) as one tagged
    sequence, grouped by the play's title."""
    tokens, tags, groups = [], [], []
    for play in plays:
        for speech in speech_text(play).split("\n\n"):
            words, speech_tags = punctuation_tags(speech)
            if words:
                tokens.append(words)
                tags.append(speech_tags)
                groups.append(play.title)
    if not tokens:
        raise DataError("the plays have no spoken words to tag")
    return TaggedSequences(tokens, tags, groups)


def cut(sequences: TaggedSequences, max_tokens: int) -> TaggedSequences:
    """Every sequence longer than ``max_tokens`` cut into consecutive pieces of at most
    that many (the last may be shorter)."""
    max_tokens = check_positive_int("max_tokens", max_tokens)
    tokens, tags, groups = [], [], []
    for words, word_tags, group in zip(
        sequences.tokens, sequences.tags, sequences.groups, strict=True
    ):
        for start in range(0, len(words), max_tokens):
            tokens.append(words[start : start + max_tokens])
            tags.append(word_tags[start : start + max_tokens])
            groups.append(group)
    return TaggedSequences(tokens, tags, groups)


def read_token_tag_csv(
    path: str | Path,
    token_column: str = "token",
    tag_column: str = "tag",
    sentence_column: str = "sentence",
) -> TaggedSequences:
    """A CSV file of one token per row: its ``token``, its ``tag`` and the ``sentence`` it
    belongs to (consecutive rows with the same sentence value form one sequence).

    DataError for a missing file or column, an empty token or tag, more than
    ``MAX_CSV_ROWS`` rows, or fewer than two different tags (nothing to tell apart)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such CSV file: {path}")
    tokens: list[list[str]] = []
    tags: list[list[str]] = []
    groups: list[str] = []
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            for column in (token_column, tag_column, sentence_column):
                if column not in fields:
                    raise DataError(
                        f"{path} has no column {column!r}; its columns are: "
                        f"{', '.join(map(repr, fields)) or 'none'} (expected one token per "
                        "row with its tag and sentence)"
                    )
            previous = None
            for number, row in enumerate(reader, start=1):
                if number > MAX_CSV_ROWS:
                    raise DataError(f"{path} has more than {MAX_CSV_ROWS:,} rows")
                token = (row[token_column] or "").strip()
                tag = (row[tag_column] or "").strip()
                sentence = (row[sentence_column] or "").strip()
                for column, value in ((token_column, token), (tag_column, tag)):
                    if not value:
                        raise DataError(f"{path}, data row {number}: the {column!r} value is empty")
                if sentence != previous or not tokens:
                    tokens.append([])
                    tags.append([])
                    groups.append(f"sentence {sentence}")
                    previous = sentence
                tokens[-1].append(token)
                tags[-1].append(tag)
    except UnicodeDecodeError as error:
        raise DataError(f"{path} is not UTF-8 text: {error}") from None
    except csv.Error as error:
        raise DataError(f"{path} is not a readable CSV file: {error}") from None
    if not tokens:
        raise DataError(f"{path} has no rows; expected a header naming the columns, then rows")
    data = TaggedSequences(tokens, tags, groups)
    if len(data.labels) < 2:
        raise DataError(
            f"{path}: the column {tag_column!r} has a single tag ({data.labels[0]!r}); "
            "tagging needs at least two"
        )
    return data
