"""rnnlab's views inline in a notebook: plain HTML and SVG, no server, no JavaScript.

Each function returns a ``View``, which Jupyter (JupyterLab, VS Code, a rendered
notebook page) draws inline through its ``_repr_html_``; ``view.save(path)`` writes it
as a page of its own. The colours and conventions are the web lab's:

    states(model, text)          heatmaps of h_t, c_t and every gate: time across, one
                                 row per unit, red −1 … white 0 … blue +1 (gates: white 0
                                 closed, blue 1 open)
    neuron(model, text, unit)    the text with each character shaded by one unit's h_t
    unrolled(model, text)        the network unrolled over the text: at every step the
                                 input x_t, the first units of h_t with their numbers,
                                 and the most likely next character
    next_characters(model, text) the k most likely next characters, bars on an absolute
                                 0–100 % scale
    gradient_norms(curves)       ‖∂L/∂h_t‖ against t on a log scale, underflow marked
    heatmap(matrix, ...)         any (rows × columns) array on the diverging scale

``model`` is a character ``LanguageModel`` (or any model with ``vocab``, ``embedding``
and ``rnn``); text outside its vocabulary is a ConfigError naming the characters.
"""

from __future__ import annotations

import base64
import html
import itertools
import math
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.errors import ConfigError, ShapeError, check_positive_int
from rnnlab.files import write_atomically

__all__ = [
    "STOPS",
    "View",
    "diverging",
    "gradient_norms",
    "heatmap",
    "neuron",
    "next_characters",
    "states",
    "unrolled",
]

#: red (negative) → near-white (zero) → blue (positive), ColorBrewer's RdBu, as the web
#: lab's ``charts.js`` (a test keeps the two equal)
STOPS = (
    (-1.0, (178, 24, 43)),
    (-0.5, (239, 138, 98)),
    (0.0, (247, 247, 247)),
    (0.5, (103, 169, 207)),
    (1.0, (33, 102, 172)),
)
#: the lab's one colour per curve (Okabe & Ito, colour-blind safe)
CURVE_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
#: the largest matrix a heatmap draws (cells), so a view stays a few megabytes at most
MAX_CELLS = 200_000
#: up to this many cells a heatmap is one SVG rectangle per cell, each with its value as
#: a tooltip; beyond, the cells are one PNG image (one pixel per cell, scaled up)
MAX_TOOLTIP_CELLS = 2_000
_FONT = "font-family:system-ui,sans-serif;font-size:12px"


@dataclass(frozen=True)
class View:
    """HTML that a notebook shows inline; ``str(view)`` is the HTML."""

    html: str

    def _repr_html_(self) -> str:
        return self.html

    def __str__(self) -> str:
        return self.html

    def __repr__(self) -> str:  # the plain-text fallback of a notebook: short
        return f"<rnnlab.show.View: {len(self.html):,} characters of HTML>"

    def save(self, path: str | Path) -> Path:
        """Write the view as a page of its own (atomically); → the path."""
        page = f'<!doctype html><meta charset="utf-8"><body style="{_FONT}">{self.html}</body>'
        return write_atomically(path, lambda handle: handle.write(page.encode("utf-8")))


def diverging(value: float, scale: float = 1.0) -> str:
    """The colour of ``value`` on −scale (red) … 0 (white) … +scale (blue): "rgb(r,g,b)",
    the channels rounded half up as JavaScript's Math.round."""
    x = max(-1.0, min(1.0, (0.0 if value is None else float(value)) / (scale or 1.0)))
    if math.isnan(x):
        x = 0.0
    for (x0, c0), (x1, c1) in itertools.pairwise(STOPS):
        if x <= x1:
            f = (x - x0) / (x1 - x0)
            r, g, b = (math.floor(a + f * (b_ - a) + 0.5) for a, b_ in zip(c0, c1, strict=True))
            return f"rgb({r},{g},{b})"
    return "rgb(33,102,172)"


def diverging_pixels(values: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """``diverging`` for a whole array: (..., 3) uint8 RGB."""
    x = np.nan_to_num(np.clip(np.asarray(values, np.float64) / (scale or 1.0), -1, 1))
    stops = np.array([stop for stop, _ in STOPS])
    channels = [np.interp(x, stops, [c[k] for _, c in STOPS]) for k in range(3)]
    return np.floor(np.stack(channels, axis=-1) + 0.5).astype(np.uint8)


def png(pixels: np.ndarray) -> bytes:
    """A PNG file of ``pixels`` (height, width, 3) uint8 RGB: signature, IHDR, one
    zlib-compressed IDAT of filter-0 rows, IEND (the PNG specification's minimum)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width, _ = pixels.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], 1)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def _text_colour(background: str) -> str:
    r, g, b = (int(v) for v in background[4:-1].split(","))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _shown(symbol: str) -> str:
    return {"\n": "↵", " ": "␣", "\t": "⇥"}.get(symbol, symbol)


def heatmap(
    matrix: Any,
    columns: Sequence[str] | None = None,
    title: str = "",
    scale: float | None = None,
    row_name: str = "unit",
    cell: tuple[int, int] | None = None,
    legend: str | None = None,
) -> View:
    """``matrix`` (rows, columns), e.g. (units, T), on the diverging scale ±``scale``
    (default: 1, or the largest |value| if that is larger); ``columns`` label the columns
    (e.g. the characters read); ``cell``: (width, height) of a cell in pixels (default:
    what fits about 900 × 360). Up to ``MAX_TOOLTIP_CELLS`` cells each has a tooltip
    with its value."""
    values = np.asarray(matrix, dtype=np.float64)
    if values.ndim != 2 or not values.size:
        raise ShapeError(f"a heatmap needs a non-empty 2-D array, got shape {values.shape}")
    if values.size > MAX_CELLS:
        raise ShapeError(
            f"a heatmap draws at most {MAX_CELLS:,} cells, got {values.shape[0]} × "
            f"{values.shape[1]}; show a slice"
        )
    rows, width = values.shape
    if columns is not None and len(columns) != width:
        raise ShapeError(f"{len(columns)} column labels for {width} columns")
    if scale is None:
        finite = values[np.isfinite(values)]
        scale = max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    w, h = cell or (max(3, min(14, 900 // width)), max(3, min(11, 360 // rows)))
    left, top = 40, 16 if columns is not None else 2
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width * w + 2}" '
        f'height="{top + rows * h + 2}" role="img" aria-label="{_e(title or "heatmap")}" '
        f'style="{_FONT}">'
    ]
    for j, label in enumerate(columns or []):
        x = left + j * w + w / 2
        parts.append(f'<text x="{x:.1f}" y="11" text-anchor="middle">{_e(_shown(label))}</text>')
    for i in range(0, rows, max(1, rows // 8)):
        y = top + i * h + h / 2 + 4
        parts.append(f'<text x="{left - 4}" y="{y:.1f}" text-anchor="end">{i}</text>')
    if values.size <= MAX_TOOLTIP_CELLS:
        for i in range(rows):
            for j in range(width):
                value = values[i, j]
                parts.append(
                    f'<rect x="{left + j * w}" y="{top + i * h}" width="{w}" height="{h}" '
                    f'fill="{diverging(value, scale)}"><title>{_e(row_name)} {i}, step '
                    f"{j + 1}: {value:.3f}</title></rect>"
                )
    else:
        data = base64.b64encode(png(diverging_pixels(values, scale))).decode("ascii")
        parts.append(
            f'<image x="{left}" y="{top}" width="{width * w}" height="{rows * h}" '
            f'preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="data:image/png;base64,{data}"/>'
        )
    parts.append("</svg>")
    if legend is None:
        legend = (
            f"colour range ±{scale:.3g}: blue positive · red negative · white 0"
            if scale != 1
            else "blue +1 · white 0 · red −1"
        )
    return View(
        f'<figure style="margin:6px 0;{_FONT}"><figcaption><b>{_e(title)}</b> '
        f'<small style="color:#555">— {legend}</small></figcaption>'
        f'<div style="overflow-x:auto">{"".join(parts)}</div></figure>'
    )


def _records(model: Any, text: str, layer: int) -> tuple[list[str], list[Any]]:
    """The characters of ``text`` and the records of every layer and direction of
    ``model`` reading it in evaluation mode; ``layer`` is checked first."""
    from rnnlab.nn.module import evaluating
    from rnnlab.probe import record

    for needed in ("vocab", "embedding", "rnn"):
        if not hasattr(model, needed):
            raise ConfigError(f"show needs a text model with {needed!r} (a LanguageModel)")
    if not isinstance(text, str) or not text:
        raise ConfigError("text must be a non-empty str")
    unknown = sorted({c for c in text if c not in model.vocab})
    if unknown:
        raise ConfigError(f"the model does not know the characters {unknown!r}")
    layers = model.rnn.num_layers
    if not 0 <= layer < layers:
        raise ConfigError(f"layer must be in [0, {layers}), got {layer}")
    with evaluating(model):
        records = record(model.rnn, model.embedding(model.vocab.encode(text)[:, None]))
    return list(text), records


def _forward_record(model: Any, text: str, layer: int) -> tuple[list[str], Any]:
    """The characters and the record of ``layer``'s forward direction."""
    labels, records = _records(model, text, layer)
    return labels, records[layer * model.rnn.num_directions]


_GATE_TITLES = {
    "i": "input gate i_t: how much of the new candidate enters the cell",
    "f": "forget gate f_t: how much of c_t−1 is kept",
    "g": "candidate g_t: what could be written into the cell",
    "o": "output gate o_t: how much of the cell is shown in h_t",
    "z": "update gate z_t: how much of the new candidate replaces h_t−1",
    "r": "reset gate r_t: how much of h_t−1 the candidate sees",
    "n": "candidate n_t: the new content",
}


def states(model: Any, text: str, layer: int = 0) -> View:
    """Heatmaps of the hidden state h_t, the cell state c_t (LSTM) and every gate of
    ``layer`` (forward direction) while ``model`` reads ``text``: time across, units down."""
    labels, rec = _forward_record(model, text, layer)
    views = [heatmap(rec.hidden[:, 0].T, labels, f"hidden state h_t, layer {layer + 1}")]
    if rec.cell is not None:
        views.append(heatmap(rec.cell[:, 0].T, labels, "cell state c_t (not squashed)"))
    for gate, values in rec.gates.items():
        legend = "white 0 closed · blue 1 open" if gate in "ifozr" else None
        title = _GATE_TITLES.get(gate, gate)
        views.append(heatmap(values[:, 0].T, labels, title, scale=1.0, legend=legend))
    return View("".join(v.html for v in views))


def neuron(model: Any, text: str, unit: int, layer: int = 0) -> View:
    """``text`` with each character's background the value of unit ``unit`` of h_t after
    reading it (Karpathy's "visualising neurons"): red −1 … white 0 … blue +1."""
    labels, rec = _forward_record(model, text, layer)
    width = rec.hidden.shape[-1]
    if not 0 <= unit < width:
        raise ConfigError(f"unit must be in [0, {width}), got {unit}")
    values = rec.hidden[:, 0, unit]
    spans = []
    for symbol, value in zip(labels, values, strict=True):
        colour = diverging(value)
        shown = "<br>" if symbol == "\n" else _e(symbol).replace(" ", "&nbsp;")
        spans.append(
            f'<span title="{value:.3f}" style="background:{colour};'
            f'color:{_text_colour(colour)}">{shown}</span>'
        )
    return View(
        f'<figure style="margin:6px 0;{_FONT}"><figcaption><b>unit {unit} of h_t, layer '
        f"{layer + 1}</b> <small>— blue +1 · white 0 · red −1</small></figcaption>"
        f'<div style="font-family:monospace;font-size:14px;line-height:1.6">'
        f"{''.join(spans)}</div></figure>"
    )


#: the longest text ``unrolled`` draws, and the most units it shows per step
MAX_UNROLLED_STEPS = 60
MAX_UNROLLED_UNITS = 8


def unrolled(model: Any, text: str, units: int = 4, layer: int = 0) -> View:
    """The network unrolled over ``text`` (at most ``MAX_UNROLLED_STEPS`` characters): one
    column per step with the input x_t, the first ``units`` values of h_t (numbers on the
    lab's colours; the arrows are h_{t−1} → h_t) and the most likely next character with
    its probability (from the last layer)."""
    from rnnlab.nn.module import evaluating
    from rnnlab.ops import softmax

    if isinstance(text, str) and len(text) > MAX_UNROLLED_STEPS:
        raise ConfigError(
            f"unrolled draws at most {MAX_UNROLLED_STEPS} steps, got {len(text)} characters"
        )
    labels, records = _records(model, text, layer)
    rec = records[layer * model.rnn.num_directions]
    units = min(check_positive_int("units", units), MAX_UNROLLED_UNITS, rec.hidden.shape[-1])
    output = records[-1].hidden[:, 0]  # the last layer's h_t: what the head reads
    with evaluating(model):
        probs = softmax(model.head(output).astype(np.float64))  # (T, V)
    symbols = model.vocab.symbols
    cell = "padding:2px 4px;text-align:center;font-family:monospace"
    top, middle, bottom = [], [], []
    for t, symbol in enumerate(labels):
        k = int(probs[t].argmax())
        top.append(
            f'<td style="{cell}">{_e(_shown(symbols[k]))}<br><small>{probs[t, k]:.2f}</small></td>'
        )
        values = "".join(
            f'<div style="background:{diverging(v)};color:{_text_colour(diverging(v))}">'
            f"{v:+.2f}</div>"
            for v in rec.hidden[t, 0, :units]
        )
        middle.append(f'<td style="{cell};border:1px solid #888">{values}</td>')
        bottom.append(f'<td style="{cell}"><b>{_e(_shown(symbol))}</b></td>')
    arrow = '<td style="color:#888">→</td>'
    blank = "<td></td>"
    rows = [
        ("next (p)", blank.join(top)),
        (f"h_t[0:{units}]", arrow.join(middle)),
        ("x_t", blank.join(bottom)),
    ]
    body = "".join(
        f'<tr><th style="text-align:right;padding-right:6px;font-weight:normal">{name}</th>'
        f"{cells}</tr>"
        for name, cells in rows
    )
    return View(
        f'<figure style="margin:6px 0;{_FONT}"><figcaption><b>unrolled over '
        f"{len(labels)} steps, layer {layer + 1}</b> <small>— the same weights at every "
        "step; h_t: blue +1 · white 0 · red −1</small></figcaption>"
        f'<div style="overflow-x:auto"><table style="border-collapse:separate">{body}'
        "</table></div></figure>"
    )


def next_characters(model: Any, text: str, k: int = 10, temperature: float = 1.0) -> View:
    """The ``k`` most likely characters after ``text``, each a bar on an absolute
    0–100 % scale with its probability."""
    from rnnlab.generate import next_distribution

    check_positive_int("k", k)
    top = next_distribution(model, text, k, temperature)
    rows = []
    for symbol, p in top:
        rows.append(
            "<tr>"
            f'<td style="font-family:monospace;padding-right:8px">{_e(repr(symbol))}</td>'
            f'<td style="width:240px"><div style="background:#eef;width:240px">'
            f'<div style="background:#0072B2;height:12px;width:{240 * p:.1f}px"></div></div></td>'
            f'<td style="text-align:right;padding-left:8px">{100 * p:.1f} %</td></tr>'
        )
    return View(
        f'<figure style="margin:6px 0;{_FONT}"><figcaption><b>after {_e(repr(text[-40:]))}'
        f"</b> <small>— the {len(top)} most likely next characters, temperature "
        f"{temperature:g}; bars on 0–100 %</small></figcaption>"
        f"<table>{''.join(rows)}</table></figure>"
    )


def gradient_norms(curves: Mapping[str, Any] | Any, title: str = "‖∂L/∂h_t‖ against t") -> View:
    """One or more curves of ‖∂L/∂h_t‖ (each (T,)) on a log scale, t across; a value that
    underflowed to 0 is drawn on the bottom line and the chart says so."""
    floor = 0.0
    if not isinstance(curves, Mapping):
        curves = {"‖∂L/∂h_t‖": curves}
    series = {name: np.asarray(v, dtype=np.float64).ravel() for name, v in curves.items()}
    if not series or any(not len(v) for v in series.values()):
        raise ShapeError("gradient_norms needs at least one non-empty curve")
    positive = np.concatenate([v[v > floor] for v in series.values()])
    lo = math.floor(math.log10(positive.min())) if positive.size else -1
    hi = math.ceil(math.log10(positive.max())) if positive.size else 0
    hi = max(hi, lo + 1)
    T = max(len(v) for v in series.values())
    width, height, left, bottom, top = 540, 260, 70, 34, 10
    plot_w, plot_h = width - left - 130, height - top - bottom

    def xy(t: int, value: float) -> tuple[float, float]:
        x = left + (t / max(1, T - 1)) * plot_w
        level = math.log10(value) if value > floor else lo
        return x, top + (hi - max(lo, level)) / (hi - lo) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{_e(title)}" style="{_FONT}">',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#444"/>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#444"/>',
    ]
    step = max(1, (hi - lo) // 6)
    for power in range(lo, hi + 1, step):
        y = top + (hi - power) / (hi - lo) * plot_h
        parts.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">1e{power}</text>')
    for t in sorted({1, T // 2 or 1, T}):
        x = left + ((t - 1) / max(1, T - 1)) * plot_w
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">{t}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle">step t</text>'
        f'<text transform="translate(12,{top + plot_h / 2:.0f}) rotate(-90)" '
        'text-anchor="middle">‖∂L/∂h_t‖</text>'
    )
    underflow = False
    for n, (name, values) in enumerate(series.items()):
        colour = CURVE_COLOURS[n % len(CURVE_COLOURS)]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(t, v) for t, v in enumerate(values)))
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        underflow |= bool((values <= floor).any())
        y = top + 14 + 16 * n
        parts.append(
            f'<line x1="{left + plot_w + 10}" y1="{y - 4}" x2="{left + plot_w + 26}" '
            f'y2="{y - 4}" stroke="{colour}" stroke-width="2"/>'
            f'<text x="{left + plot_w + 30}" y="{y}">{_e(name)}</text>'
        )
    if underflow:
        parts.append(
            f'<text x="{left + 4}" y="{top + plot_h - 4}" fill="#a00">underflow (0 in '
            "floating point) drawn on the bottom line</text>"
        )
    parts.append("</svg>")
    return View(
        f'<figure style="margin:6px 0;{_FONT}"><figcaption><b>{_e(title)}</b> '
        "<small>— log scale</small></figcaption>"
        f"{''.join(parts)}</figure>"
    )
