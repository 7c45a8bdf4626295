"""rnnlab.show: the lab's views as inline HTML for notebooks, with the lab's colours."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rnnlab
from rnnlab.data.text import CharVocab
from rnnlab.errors import ConfigError, ShapeError
from rnnlab.models import LanguageModel, LanguageModelConfig
from rnnlab.show import STOPS, diverging

CHARTS_JS = Path(rnnlab.__file__).parent / "web" / "static" / "js" / "charts.js"
TEXT = "the cat sat on the mat.\n"


@pytest.fixture
def model():
    vocab = CharVocab.from_text(TEXT)
    config = LanguageModelConfig(vocab_size=len(vocab), hidden_size=6, cell="lstm")
    return LanguageModel(config, seed=0, vocab=vocab)


def test_the_colour_scale_is_the_labs():
    js = CHARTS_JS.read_text()
    block = js[js.index("const STOPS") : js.index("];", js.index("const STOPS"))]
    stops = [
        (float(x), tuple(int(c) for c in rgb.split(",")))
        for x, rgb in re.findall(r"\[(-?[\d.]+), \[([\d, ]+)\]\]", block)
    ]
    assert stops == [(x, tuple(c)) for x, c in STOPS]
    assert diverging(-1) == "rgb(178,24,43)" and diverging(0) == "rgb(247,247,247)"
    assert diverging(2, scale=2) == "rgb(33,102,172)" and diverging(5) == diverging(1)
    assert diverging(0.25) == "rgb(175,208,227)"  # halfway between white and light blue


def test_states_draw_one_cell_per_unit_and_step_for_h_c_and_each_gate(model):
    view = rnnlab.show.states(model, "the cat")
    assert view._repr_html_() == str(view)
    # h, c and the LSTM's four gates: 6 heatmaps of 6 units × 7 steps
    assert view.html.count("<svg") == 6 and view.html.count("<rect") == 6 * 6 * 7
    assert "forget gate f_t" in view.html and "white 0 closed · blue 1 open" in view.html
    h = rnnlab.probe.record(model.rnn, model.embedding(model.vocab.encode("the cat")[:, None]))
    first = h[0].hidden[0, 0, 0]  # unit 0 after reading 't'
    assert f'fill="{diverging(first)}"><title>unit 0, step 1: {first:.3f}' in view.html


def test_a_neuron_shades_each_character_by_its_value(model):
    view = rnnlab.show.neuron(model, "the\ncat", unit=2)
    assert view.html.count("<span title=") == 7 and "<br>" in view.html
    with pytest.raises(ConfigError, match=r"unit must be in \[0, 6\)"):
        rnnlab.show.neuron(model, "the", unit=6)


def test_next_characters_are_bars_on_an_absolute_scale(model):
    view = rnnlab.show.next_characters(model, "the c", k=3)
    top = rnnlab.next_distribution(model, "the c", 3)
    widths = [float(w) for w in re.findall(r"height:12px;width:([\d.]+)px", view.html)]
    np.testing.assert_allclose(widths, [240 * p for _, p in top], atol=0.05)
    assert all(f"{100 * p:.1f} %" in view.html for _, p in top)


def test_gradient_norms_mark_underflow_and_draw_every_curve():
    norms = np.logspace(0, -12, 20)
    view = rnnlab.show.gradient_norms({"rnn": np.r_[norms, [0.0, 0.0]], "lstm": np.ones(22)})
    assert view.html.count("<polyline") == 2 and "underflow" in view.html
    assert ">1e-12<" in view.html and ">1e0<" in view.html
    assert "underflow" not in rnnlab.show.gradient_norms(norms).html


def test_bad_inputs_are_named(model):
    with pytest.raises(ConfigError, match="does not know the characters \\['Z'\\]"):
        rnnlab.show.states(model, "Zeta")
    with pytest.raises(ShapeError, match="2-D"):
        rnnlab.show.heatmap(np.zeros(3))
    with pytest.raises(ShapeError, match="at most"):
        rnnlab.show.heatmap(np.zeros((1000, 1000)))


def test_a_view_saves_as_a_page_of_its_own(model, tmp_path):
    path = rnnlab.show.states(model, "the").save(tmp_path / "states.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("<svg") == 6


def test_a_large_heatmap_is_one_png_with_a_pixel_per_cell_in_the_labs_colours():
    import base64
    import io

    from matplotlib.image import imread

    values = np.linspace(-1, 1, 128 * 40).reshape(128, 40)
    view = rnnlab.show.heatmap(values, title="big")
    assert "<rect" not in view.html and view.html.count("<image") == 1
    data = re.search(r'href="data:image/png;base64,([^"]+)"', view.html).group(1)
    pixels = np.round(imread(io.BytesIO(base64.b64decode(data))) * 255).astype(int)
    assert pixels.shape[:2] == (128, 40)
    for i, j in np.ndindex(128, 40):
        assert f"rgb({','.join(map(str, pixels[i, j, :3]))})" == diverging(values[i, j])
    assert len(view.html) < 40_000  # a few kilobytes, not one element per cell


def test_the_unrolled_view_has_a_column_per_step_with_the_numbers_of_h(model):
    view = rnnlab.show.unrolled(model, "the cat", units=3)
    h = rnnlab.probe.record(model.rnn, model.embedding(model.vocab.encode("the cat")[:, None]))
    values = re.findall(r">([+-]\d\.\d\d)</div>", view.html)
    assert len(values) == 7 * 3 and view.html.count("→") == 6
    assert values[:3] == [f"{v:+.2f}" for v in h[0].hidden[0, 0, :3]]
    top = rnnlab.next_distribution(model, "the c", k=1)[0][0]
    columns = re.findall(r'font-family:monospace">([^<]*)<br><small>', view.html)
    shown = {"\n": "↵", " ": "␣"}.get(top, top)
    assert columns[4] == shown  # the most likely character after "the c"
    with pytest.raises(ConfigError, match="at most 60 steps"):
        rnnlab.show.unrolled(model, "t" * 61)
