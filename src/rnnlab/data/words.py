"""The word vocabulary: words, numbers, punctuation and newlines; ``<unk>`` for the rest."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from rnnlab.data.vocab_base import as_ids, check_kind
from rnnlab.errors import ConfigError, DataError

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
        tokens = cls.tokenize(text)
        if not tokens:
            raise DataError("cannot build a vocabulary from text with no tokens")
        return cls.from_tokens(tokens, max_size, min_count)

    @classmethod
    def from_tokens(
        cls, tokens: Iterable[str], max_size: int = 10000, min_count: int = 1
    ) -> WordVocab:
        """As ``from_text``, from tokens already split (e.g. the words of a tagged
        sequence, or a CSV column of tokens)."""
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2:
            raise ConfigError(f"max_size must be an integer >= 2 (<unk> + 1), got {max_size!r}")
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ConfigError(f"min_count must be a positive integer, got {min_count!r}")
        tokens = list(tokens)
        if not tokens:
            raise DataError("cannot build a vocabulary from no tokens")
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

    def ids(self, tokens: Iterable[str]) -> np.ndarray:
        """Ids of tokens already split, shape ``(n_tokens,)``, int64; unknown → 0."""
        return np.fromiter((self._index.get(t, 0) for t in tokens), dtype=np.int64)

    def encode(self, text: str) -> np.ndarray:
        """Ids of the tokens of ``text``, shape ``(n_tokens,)``, int64; unknown tokens
        map to ``<unk>`` (id 0)."""
        return self.encode_counting(text)[0]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Join the tokens of ``ids`` with spaces, except before ``,.;:!?')]}-`` and
        newlines, and after ``([{-`` and newlines."""
        arr = as_ids(ids, len(self))
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
        obj = check_kind(obj, cls.kind, cls.__name__)
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
