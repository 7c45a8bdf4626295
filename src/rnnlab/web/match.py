"""Select and match (Strobelt, Gehrmann, Pfister & Rush 2018, LSTMVis): the hidden units
that switch on over a chosen span of text, and the other places of the training text
where the same units switch on together.

The rule (LSTMVis's selection, with a margin of m steps): for a span s ≤ t < e and a
threshold ℓ, unit j is selected when

    h_t[j] > ℓ   for every t in s … e − 1            (on over the whole span)
    h_t[j] ≤ ℓ   for t in s − m … s − 1 and e … e + m − 1, where those steps exist
                                                     (off just before and after it)

A match is a maximal run a ≤ t < b of the corpus where every selected unit is on. Its
score is the Jaccard index |A ∩ S| / |A ∪ S| of the selected units S and the units A
that the same rule selects over the run: 1 when exactly the selected units switch on
there and nowhere else, less when some of them were already on before or stay on after
it, or other units switch with them. The corpus is the first characters of the model's
training text (``limits.MAX_MATCH_CORPUS_CHARS``, fewer for wide layers), read in one
run (state carried from chunk to chunk) and kept for the last few models asked.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from rnnlab.models.language import LanguageModel
from rnnlab.probe import layer_records
from rnnlab.web import limits
from rnnlab.web.entry import CHECKPOINT_ID, Entry, LabError
from rnnlab.web.views import DIGITS, check_known, rounded

CHUNK = 2000  #: corpus steps per call of the stack (its tape stays small)


def switching(on: np.ndarray, start: int, end: int, margin: int) -> np.ndarray:
    """(H,) bool: the units of ``on`` (T, H) bool that are on at every step of
    start ≤ t < end and off at the ``margin`` steps either side that exist."""
    inside = on[start:end].all(axis=0)
    before = ~on[max(0, start - margin) : start].any(axis=0)
    after = ~on[end : end + margin].any(axis=0)
    return inside & before & after


def units_on(
    hidden: np.ndarray, start: int, end: int, threshold: float, margin: int = 1
) -> np.ndarray:
    """The units the rule selects, in increasing order: hidden (T, H) → (K,) ints."""
    return np.flatnonzero(switching(hidden > threshold, start, end, margin))


def unit_gaps(
    hidden: np.ndarray, units: np.ndarray, start: int, end: int, threshold: float, margin: int
) -> np.ndarray:
    """(K,): how clearly each unit switches: how far ℓ could move before the rule drops
    it, min(min of h over the span − ℓ, ℓ − max of h at the margin steps either side);
    ≥ 0 for every selected unit. hidden (T, H), units (K,)."""
    inside = hidden[start:end, units].min(axis=0) - threshold
    around = np.concatenate(
        [hidden[max(0, start - margin) : start, units], hidden[end : end + margin, units]]
    )
    if not len(around):
        return inside
    return np.minimum(inside, threshold - around.max(axis=0))


def suggestions(
    hidden: np.ndarray,
    threshold: float,
    margin: int,
    longest: int = limits.MAX_SUGGESTED_CHARS,
    count: int = limits.MAX_SUGGESTIONS,
) -> list[dict[str, int]]:
    """Spans of the text (T, H) where the rule selects units: for every span of 1 …
    ``longest`` steps, how many units switch on with it; the ``count`` best that do not
    overlap, most units first (then the longer span): [{start, end, units}]."""
    on = hidden > threshold
    T = len(on)
    ones = np.concatenate([np.zeros((1, on.shape[1]), int), np.cumsum(on, axis=0)])  # (T+1, H)
    found = []
    for length in range(1, min(longest, T) + 1):
        a = np.arange(T - length + 1)  # every span a ≤ t < a + length, at once
        b = a + length
        inside = ones[b] - ones[a] == length
        before = ones[a] - ones[np.maximum(0, a - margin)] == 0
        after = ones[np.minimum(T, b + margin)] - ones[b] == 0
        units = (inside & before & after).sum(axis=1)
        found += [(int(n), length, int(s)) for s, n in zip(a, units, strict=True) if n]
    found.sort(key=lambda f: (-f[0], -f[1], f[2]))
    taken: list[dict[str, int]] = []
    for n, length, start in found:
        if all(start + length <= t["start"] or start >= t["end"] for t in taken):
            taken.append({"start": start, "end": start + length, "units": n})
            if len(taken) == count:
                break
    return taken


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The maximal runs of True in a (N,) bool array, as [(a, b)]: mask[a:b] all True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def find_matches(
    hidden: np.ndarray,
    units: np.ndarray,
    threshold: float,
    margin: int,
    length: int,
    top: int = limits.MAX_MATCHES,
) -> tuple[list[dict[str, Any]], int]:
    """(the ``top`` best matches, how many places there are) of the units in a corpus's
    hidden states (N, H): runs where every unit is on, ranked by Jaccard score, then by
    how close their length is to ``length`` (the selected span's), then by position."""
    on = hidden > threshold
    selected = np.zeros(hidden.shape[1], bool)
    selected[units] = True
    found = []
    for a, b in runs(on[:, units].all(axis=1)):
        chosen = switching(on, a, b, margin)
        shared = int((chosen & selected).sum())
        union = int((chosen | selected).sum())
        found.append(
            {
                "start": a,
                "end": b,
                "score": shared / union,
                "extra": int((chosen & ~selected).sum()),  # other units that switch there
                "missing": int((selected & ~chosen).sum()),  # selected ones on beyond it
            }
        )
    found.sort(key=lambda m: (-m["score"], abs(m["end"] - m["start"] - length), m["start"]))
    return found[:top], len(found)


def layer_states(model: LanguageModel, ids: np.ndarray, layer: int) -> np.ndarray:
    """(N, H): each unit's value in ``layer`` after reading each of ``ids`` (N,), in one run
    (the state carried from chunk to chunk); with a projection the cell's own h̃_t, as
    the heatmaps show."""
    rnn, state, parts = model.rnn, None, []
    for a in range(0, len(ids), CHUNK):
        rnn.retain_tapes = True
        try:
            _, state = rnn(model.embedding(ids[a : a + CHUNK, None]), state)
            record = layer_records(rnn)[layer]
        finally:
            rnn.retain_tapes = False
        parts.append(np.array(record.kept.get("projected", record.hidden)[:, 0, :]))
    return np.concatenate(parts)


def training_ids(entry: Entry, corpus: Callable[[], tuple[Any, np.ndarray]]) -> np.ndarray:
    """The token ids of the model's training text; for a checkpoint (trained elsewhere) the
    built-in corpus ``corpus()`` re-encoded, if the model knows all its characters."""
    if entry.id != CHECKPOINT_ID and entry.train_data is not None:
        return entry.train_data
    vocab, ids = corpus()
    text = vocab.decode(ids[: limits.MAX_MATCH_CORPUS_CHARS])
    check_known(entry.model, text, "the built-in training text")
    return entry.model.vocab.encode(text)


class CorpusStates:
    """One layer's states over a model's training text, per key (the match route's: model,
    generation and steps trained, which name its weights, layer and window), the last
    ``size`` kept: a first request reads the corpus (about a second), the next ones with
    the same weights only search it."""

    def __init__(self, size: int = limits.MATCH_CACHE_RUNS) -> None:
        self.size = size
        self._kept: OrderedDict[tuple, tuple[str, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], tuple[str, np.ndarray]]) -> tuple:
        """(text, hidden (N, H)) for ``key``, computed by ``compute()`` if not kept."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        value = compute()  # outside the lock: another model's request need not wait
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return value


def corpus_window(hidden_size: int) -> int:
    """Characters of the training text searched for a layer of ``hidden_size`` units."""
    return min(limits.MAX_MATCH_CORPUS_CHARS, limits.MAX_MATCH_VALUES // hidden_size)


def snippet(text: str, start: int, end: int, context: int = limits.MATCH_CONTEXT) -> dict:
    """The match ``text[start:end]`` with ``context`` characters either side; a match
    longer than 2 · ``context`` is sent as its first and last ``context`` characters."""
    inside = text[start:end]
    pieces = [inside] if len(inside) <= 2 * context else [inside[:context], inside[-context:]]
    return {
        "before": text[max(0, start - context) : start],
        "span": pieces,
        "after": text[end : end + context],
    }


def match_view(
    model: LanguageModel,
    ids: np.ndarray,
    corpus: Callable[[int], tuple[str, np.ndarray]],
    span: tuple[int, int],
    threshold: float,
    layer: int,
    margin: int,
) -> dict[str, Any]:
    """The units the rule selects over ``span`` = (start, end) of the text ``ids`` (T,),
    ranked by how clearly they switch, their values over the text (the first
    ``limits.MAX_SHOWN_UNITS``), and their best matches in ``corpus(window)`` → (text,
    hidden (N, H)), the training text's first ``window`` characters and its states."""
    rnn = model.rnn
    if layer >= rnn.num_layers:
        raise LabError(f"layer must be below {rnn.num_layers} for this model, got {layer}")
    start, end = span
    T = len(ids)
    if end <= start:
        raise LabError(f"the span is empty: end ({end}) must be greater than start ({start})")
    if end > T:
        raise LabError(
            f"the span {start} … {end - 1} runs past the text's last step {T - 1}; "
            f"end must be at most {T}"
        )
    hidden = layer_states(model, ids, layer)  # (T, H)
    units = units_on(hidden, start, end, threshold, margin)
    on = hidden > threshold
    inside = on[start:end].all(axis=0)  # on over the span, whatever is around it
    gaps = unit_gaps(hidden, units, start, end, threshold, margin)
    order = np.argsort(-gaps, kind="stable")
    units, gaps = units[order], gaps[order]
    H = hidden.shape[1]
    window = corpus_window(H)
    view: dict[str, Any] = {
        "layer": layer,
        "layers": rnn.num_layers,
        "hidden_size": H,
        "threshold": threshold,
        "margin": margin,
        "start": start,
        "end": end,
        "span": model.vocab.decode(ids[start:end]),
        "units": [
            {"unit": int(u), "gap": round(float(g), DIGITS)}
            for u, g in zip(units, gaps, strict=True)
        ],
        "on_inside": int(inside.sum()),  # on over the whole span …
        "on_before": int((inside & on[max(0, start - margin) : start].any(axis=0)).sum()),
        "on_after": int((inside & on[end : end + margin].any(axis=0)).sum()),  # … and around
        "shown": [int(u) for u in units[: limits.MAX_SHOWN_UNITS]],
        "values": rounded(hidden[:, units[: limits.MAX_SHOWN_UNITS]].T),
        "suggestions": suggestions(hidden, threshold, margin),
        "window": window,
        "matches": [],
        "places": 0,
    }
    if len(units):
        text, states = corpus(window)
        matches, places = find_matches(states, units, threshold, margin, end - start)
        for m in matches:
            m |= snippet(text, m["start"], m["end"])
            m["score"] = round(m["score"], DIGITS)
        view |= {"matches": matches, "places": places, "window": len(text)}
    return view
