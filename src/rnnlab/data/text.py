"""Vocabularies: text ↔ integer ids, at the level of characters or of words.

``CharVocab`` maps each character to an id (ids follow the sorted characters, so the
same text always gives the same vocabulary). ``WordVocab`` splits text into words,
numbers, punctuation and newlines, keeps the most frequent tokens and maps the rest to
``<unk>`` (id 0). Both serialise to a plain JSON-able dict with a ``"kind"`` field;
``vocab_from_json`` reads either back.

Encoding returns a 1-D ``np.int64`` array of ids, shape ``(len(tokens),)``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from rnnlab.errors import ConfigError, DataError, VocabularyError

__all__ = ["UNK", "WORD_PATTERN", "CharVocab", "Vocab", "WordVocab", "vocab_from_json"]

_SHOW_UNKNOWN = 5  # how many distinct unknown symbols an error message names


def _as_ids(ids: Any, size: int) -> np.ndarray:
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


def _unknown_message(unknown: list[str], n_occurrences: int, size: int, what: str) -> str:
    shown = ", ".join(repr(s) for s in unknown[:_SHOW_UNKNOWN])
    more = f" and {len(unknown) - _SHOW_UNKNOWN} more" if len(unknown) > _SHOW_UNKNOWN else ""
    return (
        f"text contains {len(unknown)} distinct {what} not in the vocabulary "
        f"({n_occurrences} occurrences): {shown}{more}; the vocabulary has {size} symbols. "
        f"Build the vocabulary from this text, or pass unknown='skip' to drop them."
    )


def _check_kind(obj: Any, kind: str, cls_name: str) -> dict:
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


class CharVocab:
    """A character vocabulary: id ``i`` stands for the character ``symbols[i]``.

    ``CharVocab(symbols)`` takes the symbols in id order (each one character, no
    repeats); ``CharVocab.from_text(text)`` uses the sorted distinct characters of
    ``text``, so the ids are deterministic.
    """

    kind = "char"

    def __init__(self, symbols: Iterable[str]) -> None:
        symbols = list(symbols)
        if not symbols:
            raise ConfigError("symbols must contain at least one character, got none")
        for i, s in enumerate(symbols):
            if not isinstance(s, str) or len(s) != 1:
                raise ConfigError(f"symbols must be single characters, got {s!r} at position {i}")
        index = {s: i for i, s in enumerate(symbols)}
        if len(index) != len(symbols):
            repeated = sorted({s for s in symbols if symbols.count(s) > 1})
            raise ConfigError(f"symbols must not repeat, got repeated {repeated!r}")
        self._symbols = symbols
        self._index = index
        # Lookup by code point: sorted code points and the id of each.
        codes = np.array([ord(s) for s in symbols], dtype=np.int64)
        self._order = np.argsort(codes).astype(np.int64)
        self._sorted_codes = codes[self._order]
        self._codes = codes

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        """The vocabulary of the sorted distinct characters of ``text``."""
        if not isinstance(text, str):
            raise DataError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise DataError("cannot build a vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def symbols(self) -> list[str]:
        """The characters in id order (a copy)."""
        return list(self._symbols)

    def __len__(self) -> int:
        return len(self._symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self._symbols == other._symbols

    def __hash__(self) -> int:
        return hash(tuple(self._symbols))

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} symbols)"

    def _lookup(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, known): ids of every character of ``text`` and which ones are known."""
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        codes = codes.astype(np.int64)
        pos = np.searchsorted(self._sorted_codes, codes)
        pos = np.minimum(pos, len(self._sorted_codes) - 1)
        known = self._sorted_codes[pos] == codes
        return self._order[pos], known

    def encode(self, text: str, unknown: Literal["error", "skip"] = "error") -> np.ndarray:
        """Ids of the characters of ``text``: shape ``(len(text),)``, int64.

        ``unknown="error"`` raises VocabularyError naming the unknown characters;
        ``unknown="skip"`` leaves them out (``encode_counting`` also says how many).
        """
        if unknown not in ("error", "skip"):
            raise ConfigError(f"unknown must be 'error' or 'skip', got {unknown!r}")
        if not isinstance(text, str):
            raise DataError(f"text must be a str, got {type(text).__name__}")
        ids, known = self._lookup(text)
        if known.all():
            return ids
        if unknown == "error":
            bad = np.flatnonzero(~known)
            distinct = list(dict.fromkeys(text[i] for i in bad))
            raise VocabularyError(_unknown_message(distinct, len(bad), len(self), "characters"))
        return ids[known]

    def encode_counting(self, text: str) -> tuple[np.ndarray, int]:
        """``(ids, n_skipped)``: ids of the known characters and how many were skipped."""
        if not isinstance(text, str):
            raise DataError(f"text must be a str, got {type(text).__name__}")
        ids, known = self._lookup(text)
        return ids[known], int(len(known) - np.count_nonzero(known))

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ``ids`` (1-D, each in ``[0, len(self))``)."""
        arr = _as_ids(ids, len(self))
        codes = self._codes[arr].astype(np.uint32)
        return codes.tobytes().decode("utf-32-le", "surrogatepass")

    def to_json(self) -> dict[str, Any]:
        """``{"kind": "char", "symbols": [...]}``, JSON-able."""
        return {"kind": self.kind, "symbols": list(self._symbols)}

    @classmethod
    def from_json(cls, obj: Any) -> CharVocab:
        """Rebuild a vocabulary written by ``to_json``; DataError if ``obj`` is not one."""
        obj = _check_kind(obj, cls.kind, cls.__name__)
        symbols = obj.get("symbols")
        if not isinstance(symbols, list):
            raise DataError(
                f"CharVocab.from_json expects 'symbols' to be a list of characters, "
                f"got {type(symbols).__name__}"
            )
        try:
            return cls(symbols)
        except ConfigError as e:
            raise DataError(f"CharVocab.from_json: bad 'symbols': {e}") from None


# ----------------------------------------------------------------------------- words

UNK = "<unk>"
NEWLINE = "\n"

#: The word tokenizer's rule, tried left to right at each position:
#: a newline; a run of letters with inner apostrophes ("don't", "o'er", "Bernardo's");
#: a run of digits; any other single non-space character (punctuation, symbols).
#: Spaces and tabs separate tokens and are dropped. "Letters" are Unicode letters.
WORD_PATTERN = re.compile(r"\n|[^\W\d_]+(?:'[^\W\d_]+)*|\d+|\S")

# Spacing rules for ``WordVocab.decode``.
_NO_SPACE_BEFORE = frozenset(",.;:!?')]}-\n")
_NO_SPACE_AFTER = frozenset("([{-\n")


class WordVocab:
    """A word vocabulary: ``tokens[0]`` is ``<unk>``, the rest are known tokens.

    Tokens come from ``WordVocab.tokenize`` (see ``WORD_PATTERN``): words, numbers,
    single punctuation characters and ``"\\n"`` (so line structure survives).
    ``counts[i]`` is how often token ``i`` occurred in the text the vocabulary was built
    from (for ``<unk>``: how many tokens were left out), the data of a unigram baseline.
    """

    kind = "word"

    def __init__(self, tokens: Iterable[str], counts: Iterable[int] | None = None) -> None:
        tokens = list(tokens)
        if not tokens or tokens[0] != UNK:
            first = tokens[0] if tokens else None
            raise ConfigError(f"tokens must start with {UNK!r} (id 0), got {first!r}")
        for i, t in enumerate(tokens):
            if not isinstance(t, str) or not t:
                raise ConfigError(f"tokens must be non-empty strings, got {t!r} at position {i}")
        index = {t: i for i, t in enumerate(tokens)}
        if len(index) != len(tokens):
            repeated = sorted({t for t in tokens if tokens.count(t) > 1})
            raise ConfigError(f"tokens must not repeat, got repeated {repeated!r}")
        if counts is None:
            counts_arr = np.zeros(len(tokens), dtype=np.int64)
        else:
            counts = list(counts)
            if len(counts) != len(tokens) or not all(
                isinstance(c, int | np.integer) and not isinstance(c, bool) and c >= 0
                for c in counts
            ):
                raise ConfigError(
                    f"counts must be {len(tokens)} non-negative integers (one per token), "
                    f"got {len(counts)} values"
                )
            counts_arr = np.array(counts, dtype=np.int64)
        self._tokens = tokens
        self._index = index
        self._counts = counts_arr

    @staticmethod
    def tokenize(text: str) -> list[str]:
        """Split ``text`` into tokens by ``WORD_PATTERN``: ``"Hi, you!\\n"`` →
        ``["Hi", ",", "you", "!", "\\n"]``."""
        if not isinstance(text, str):
            raise DataError(f"text must be a str, got {type(text).__name__}")
        return WORD_PATTERN.findall(text.replace("\r\n", "\n"))

    @classmethod
    def from_text(cls, text: str, max_size: int = 10000, min_count: int = 1) -> WordVocab:
        """Keep the tokens of ``text`` seen at least ``min_count`` times, most frequent
        first (ties alphabetical), at most ``max_size`` entries counting ``<unk>``."""
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2:
            raise ConfigError(f"max_size must be an integer >= 2 (<unk> + 1), got {max_size!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"min_count must be a positive integer, got {min_count!r}")
        tokens = cls.tokenize(text)
        if not tokens:
            raise DataError("cannot build a vocabulary from text with no tokens")
        counter = Counter(tokens)
        ranked = sorted(
            (t for t, c in counter.items() if c >= min_count), key=lambda t: (-counter[t], t)
        )
        kept = ranked[: max_size - 1]
        n_unk = len(tokens) - sum(counter[t] for t in kept)
        return cls([UNK, *kept], [n_unk, *(counter[t] for t in kept)])

    @property
    def tokens(self) -> list[str]:
        """The tokens in id order, ``<unk>`` first (a copy)."""
        return list(self._tokens)

    symbols = tokens

    @property
    def unk_id(self) -> int:
        """The id of ``<unk>``: 0."""
        return 0

    @property
    def counts(self) -> np.ndarray:
        """Training counts per id, shape ``(len(self),)``, int64 (a copy)."""
        return self._counts.copy()

    def unigram_probabilities(self, alpha: float = 0.0) -> np.ndarray:
        """p(token) = (count + alpha) / (total + alpha·V), shape ``(len(self),)``, float64.

        ``alpha > 0`` (add-alpha smoothing) gives every token, ``<unk>`` included,
        a non-zero probability."""
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or alpha < 0:
            raise ConfigError(f"alpha must be a non-negative number, got {alpha!r}")
        weights = self._counts.astype(np.float64) + alpha
        total = weights.sum()
        if total <= 0:
            raise DataError(
                "this vocabulary has no counts (it was not built with from_text); "
                "pass alpha > 0 for a uniform distribution"
            )
        return weights / total

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._index

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, WordVocab)
            and self._tokens == other._tokens
            and np.array_equal(self._counts, other._counts)
        )

    def __hash__(self) -> int:
        return hash(tuple(self._tokens))

    def __repr__(self) -> str:
        return f"WordVocab({len(self)} tokens)"

    def encode_counting(self, text: str) -> tuple[np.ndarray, int]:
        """``(ids, n_unknown)``: ids of the tokens of ``text`` (unknown → 0) and how many
        tokens were unknown."""
        ids = np.fromiter((self._index.get(t, 0) for t in self.tokenize(text)), dtype=np.int64)
        return ids, int(np.count_nonzero(ids == 0))

    def encode(self, text: str) -> np.ndarray:
        """Ids of the tokens of ``text``, shape ``(n_tokens,)``, int64; unknown tokens
        map to ``<unk>`` (id 0)."""
        return self.encode_counting(text)[0]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Join the tokens of ``ids`` with spaces, except before ``,.;:!?')]}-`` and
        newlines, and after ``([{-`` and newlines."""
        arr = _as_ids(ids, len(self))
        parts: list[str] = []
        prev = NEWLINE  # no space at the start
        for i in arr.tolist():
            token = self._tokens[i]
            if not (token in _NO_SPACE_BEFORE or prev in _NO_SPACE_AFTER):
                parts.append(" ")
            parts.append(token)
            prev = token
        return "".join(parts)

    def to_json(self) -> dict[str, Any]:
        """``{"kind": "word", "tokens": [...], "counts": [...]}``, JSON-able."""
        return {"kind": self.kind, "tokens": list(self._tokens), "counts": self._counts.tolist()}

    @classmethod
    def from_json(cls, obj: Any) -> WordVocab:
        """Rebuild a vocabulary written by ``to_json``; DataError if ``obj`` is not one."""
        obj = _check_kind(obj, cls.kind, cls.__name__)
        tokens, counts = obj.get("tokens"), obj.get("counts")
        if not isinstance(tokens, list):
            raise DataError(
                f"WordVocab.from_json expects 'tokens' to be a list of strings, "
                f"got {type(tokens).__name__}"
            )
        if counts is not None and not isinstance(counts, list):
            raise DataError(
                f"WordVocab.from_json expects 'counts' to be a list of integers, "
                f"got {type(counts).__name__}"
            )
        try:
            return cls(tokens, counts)
        except ConfigError as e:
            raise DataError(f"WordVocab.from_json: {e}") from None


Vocab = CharVocab | WordVocab


def vocab_from_json(obj: Any) -> Vocab:
    """Rebuild a ``CharVocab`` or ``WordVocab`` from its ``to_json`` dict, by ``"kind"``."""
    kinds: dict[str, type[CharVocab] | type[WordVocab]] = {"char": CharVocab, "word": WordVocab}
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in kinds:
        got = f"kind={kind!r}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise DataError(
            f"a vocabulary JSON object must be a dict with kind 'char' or 'word', got {got}"
        )
    return kinds[kind].from_json(obj)
