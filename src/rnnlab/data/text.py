"""Vocabularies: text ↔ integer ids, at the level of characters or of words.

``CharVocab`` maps each character to an id (ids follow the sorted characters, so the
same text always gives the same vocabulary). ``WordVocab`` splits text into words,
numbers, punctuation and newlines, keeps the most frequent tokens and maps the rest to
``<unk>`` (id 0). Both serialise to a plain JSON-able dict with a ``"kind"`` field;
``vocab_from_json`` reads either back.

Encoding returns a 1-D ``np.int64`` array of ids, shape ``(len(tokens),)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np

from rnnlab.data.vocab_base import as_ids, check_kind, unknown_message
from rnnlab.data.words import UNK, WORD_PATTERN, WordVocab
from rnnlab.errors import ConfigError, DataError, VocabularyError

__all__ = [
    "UNK",
    "WORD_PATTERN",
    "CharVocab",
    "PairVocab",
    "Vocab",
    "WordVocab",
    "vocab_from_json",
]


#: characters looked up at once by ``CharVocab`` (bounds its intermediate arrays)
LOOKUP_BLOCK = 1 << 20


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
        """(ids, known): ids of every character of ``text`` and which ones are known.
        Looked up a block at a time, so a long text takes 9 bytes a character (the ids and
        the flags), not the ~40 of its intermediate arrays."""
        ids, known = np.empty(len(text), dtype=np.int64), np.empty(len(text), dtype=bool)
        for start in range(0, len(text), LOOKUP_BLOCK):
            part = text[start : start + LOOKUP_BLOCK]
            codes = np.frombuffer(part.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
            codes = codes.astype(np.int64)
            pos = np.searchsorted(self._sorted_codes, codes)
            pos = np.minimum(pos, len(self._sorted_codes) - 1)
            known[start : start + len(part)] = self._sorted_codes[pos] == codes
            ids[start : start + len(part)] = self._order[pos]
        return ids, known

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
            raise VocabularyError(unknown_message(distinct, len(bad), len(self), "characters"))
        return ids[known]

    def encode_counting(self, text: str) -> tuple[np.ndarray, int]:
        """``(ids, n_skipped)``: ids of the known characters and how many were skipped."""
        if not isinstance(text, str):
            raise DataError(f"text must be a str, got {type(text).__name__}")
        ids, known = self._lookup(text)
        return ids[known], int(len(known) - np.count_nonzero(known))

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """The text of ``ids`` (1-D, each in ``[0, len(self))``)."""
        arr = as_ids(ids, len(self))
        codes = self._codes[arr].astype(np.uint32)
        return codes.tobytes().decode("utf-32-le", "surrogatepass")

    def to_json(self) -> dict[str, Any]:
        """``{"kind": "char", "symbols": [...]}``, JSON-able."""
        return {"kind": self.kind, "symbols": list(self._symbols)}

    @classmethod
    def from_json(cls, obj: Any) -> CharVocab:
        """Rebuild a vocabulary written by ``to_json``; DataError if ``obj`` is not one."""
        obj = check_kind(obj, cls.kind, cls.__name__)
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


class PairVocab:
    """The source and the target vocabulary of an encoder–decoder, travelling as one
    (in checkpoints: ``{"kind": "pair", "source": …, "target": …}``)."""

    kind = "pair"

    def __init__(self, source: CharVocab | WordVocab, target: CharVocab | WordVocab) -> None:
        self.source, self.target = source, target

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PairVocab) and (self.source, self.target) == (
            other.source,
            other.target,
        )

    def __hash__(self) -> int:
        return hash((self.source, self.target))

    def __repr__(self) -> str:
        return f"PairVocab({self.source!r}, {self.target!r})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source.to_json(), "target": self.target.to_json()}

    @classmethod
    def from_json(cls, obj: Any) -> PairVocab:
        """Rebuild a pair written by ``to_json``; DataError if ``obj`` is not one."""
        obj = check_kind(obj, cls.kind, cls.__name__)
        return cls(vocab_from_json(obj.get("source")), vocab_from_json(obj.get("target")))


Vocab = CharVocab | WordVocab | PairVocab


def vocab_from_json(obj: Any) -> Vocab:
    """Rebuild a ``CharVocab``, ``WordVocab`` or ``PairVocab`` from its ``to_json`` dict,
    by ``"kind"``."""
    kinds: dict[str, Any] = {"char": CharVocab, "word": WordVocab, "pair": PairVocab}
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind not in kinds:
        got = f"kind={kind!r}" if isinstance(obj, dict) else f"a {type(obj).__name__}"
        raise DataError(
            f"a vocabulary JSON object must be a dict with kind 'char', 'word' or 'pair', got {got}"
        )
    return kinds[kind].from_json(obj)
