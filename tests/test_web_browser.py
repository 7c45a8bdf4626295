"""The web lab in a real headless Chromium: every panel renders, without console errors,
and shows what it claims (flatter bars at higher temperature, four LSTM gates, RNN
gradients vanishing faster than LSTM ones). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import math
import re
import shutil
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
import uvicorn
from playwright.sync_api import Page, sync_playwright

from rnnlab.cells import CELLS
from rnnlab.data.corpora import shakespeare
from rnnlab.data.text import CharVocab
from rnnlab.io import save_checkpoint
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.web.app import create_app
from rnnlab.web.command import bind, url_of
from rnnlab.web.lab import Lab
from rnnlab.web.schemas import ModelSpec
from rnnlab.web.sequences import TEXT_EXAMPLES

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "web"
PANELS = (
    "config",
    "sequence",
    "unrolled",
    "heatmap",
    "generate",
    "gradients",
    "neuron",
    "equations",
    "attention",
)
TIMEOUT = 90_000  # ms, for anything the page waits on (generous: a first use compiles kernels)

if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True
    )


def corpus() -> str:
    """A slice of the built-in corpus that still holds every example text."""
    return shakespeare()[:60_000] + "".join(text for _, text in TEXT_EXAMPLES)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The lab on a free loopback port, its text model (the page's default) trained a bit."""
    lab = Lab(corpus=corpus)
    model = lab.ensure(ModelSpec(cell="lstm", hidden_size=64))
    lab.train(model.id, 40, 3e-3)
    lab.wait(model.id, timeout=120)
    url, stop = start(lab)
    yield url
    stop()


def start(lab: Lab, app: Any = None) -> tuple[str, Any]:
    """Serve ``lab`` on a free loopback port, through ``app`` if given (else its own app,
    answering to 127.0.0.1 only); (its URL, a function that stops it)."""
    sock = bind("127.0.0.1", 0)
    url = url_of(sock)
    app = app or create_app(lab, allowed_hosts=["127.0.0.1"])
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    # the socket listens already: this request waits in its queue until the server is up
    with urllib.request.urlopen(url + "api/health", timeout=30) as answer:
        assert answer.status == 200

    def stop() -> None:
        server.should_exit = True
        thread.join(10)
        sock.close()

    return url, stop


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_page(browser: Any, url: str) -> tuple[Page, list[str]]:
    """A loaded page with every panel drawn, and the console and page errors it reports."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    for name in ("unrolled", "heatmap", "gradients", "generate", "neuron"):
        page.wait_for_selector(f"[data-panel={name}][data-ready=true]", timeout=TIMEOUT)
    return page, errors


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[tuple[Page, list[str]]]:
    """A freshly loaded page of the built-in lab, and the errors it reports."""
    page, errors = open_page(browser, server)
    yield page, errors
    page.close()


def shoot(page: Page, panel: str, name: str | None = None) -> Path:
    """Save a screenshot of ``panel`` as test-artifacts/web/NAME.png (NAME: the panel)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name or panel}.png"
    page.locator(f"[data-panel={panel}]").screenshot(path=str(path))
    return path


def choose_cell(page: Page, cell: str) -> None:
    """Click a cell type and wait until the heatmaps show a run of that cell."""
    page.locator(f"#cell-choice label:has(input[value={cell}])").click()
    page.wait_for_function(
        "cell => document.querySelector('#equation-where').textContent.startsWith(cell)",
        arg=CELLS[cell].title,
        timeout=TIMEOUT,
    )


def top10_entropy(page: Page, temperature: float) -> float:
    """Set the temperature slider; entropy (nats) of the bars it draws, read from the page."""
    page.locator("#temperature").fill(str(temperature))
    page.wait_for_selector(f"#next-bars[data-temperature='{temperature}']", timeout=TIMEOUT)
    probs = [
        float(p)
        for p in page.locator("#next-bars .bar-row").evaluate_all(
            "rows => rows.map(r => r.dataset.prob)"
        )
    ]
    assert len(probs) == 10
    total = sum(probs)
    return -sum(p / total * math.log(p / total) for p in probs if p > 0)


def test_every_panel_renders_without_console_errors(page):
    page, errors = page
    for name in PANELS:
        panel = page.locator(f"[data-panel={name}]")
        assert panel.is_visible()
        assert panel.inner_text().strip()
        assert panel.locator("[data-error]").inner_text() == ""
    assert page.locator("#unrolled .step").count() >= 3
    assert page.locator("canvas.heatmap[data-kind=hidden]").count() == 1
    assert page.locator("#next-bars .bar-row").count() == 10
    assert page.locator("#grad-chart path[data-cell]").count() == 3
    assert page.locator("#neuron-text span").count() == len(TEXT_EXAMPLES[0][1])
    assert page.locator("#equations .eq-block").count() >= 3
    assert errors == []


def test_higher_temperature_makes_the_top10_flatter(page):
    page, errors = page
    cold = top10_entropy(page, 0.2)
    hot = top10_entropy(page, 1.8)
    assert hot > cold + 0.2, (cold, hot)
    assert page.locator("#temperature-guide span.on").inner_text().startswith("high")
    assert errors == []


def test_lstm_shows_four_gate_heatmaps_and_gru_three(page):
    page, errors = page
    choose_cell(page, "gru")
    gates = page.locator("canvas.heatmap[data-kind=gate]")
    assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["r", "z", "n"]
    choose_cell(page, "lstm")
    assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["i", "f", "g", "o"]
    assert page.locator("canvas.heatmap[data-kind=cell]").count() == 1
    choose_cell(page, "rnn_tanh")
    assert gates.count() == 0
    assert errors == []


def test_a_registered_cell_is_in_the_lab_with_its_gates_and_equations(page):
    """The peephole LSTM came with its file and registration line; the lab lists it, shows
    its four gates and writes its gates' peephole terms with this step's numbers."""
    page, errors = page
    choose_cell(page, "lstm_peephole")
    gates = page.locator("canvas.heatmap[data-kind=gate]")
    assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["i", "f", "g", "o"]
    text = page.locator("#equations").inner_text()
    assert "wci ⊙ ct−1" in text and "wco ⊙ ct" in text, text
    shoot(page, "equations", "equations-peephole")
    assert errors == []


def test_the_layer_norm_lstm_writes_its_normalised_terms_with_this_steps_numbers(page):
    page, errors = page
    choose_cell(page, "lstm_layer_norm")
    gates = page.locator("canvas.heatmap[data-kind=gate]")
    assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["i", "f", "g", "o"]
    text = page.locator("#equations").inner_text()
    assert "LN(Wii xt + bii)" in text and "γc ⊙ LN(ct) + βc" in text, text
    shoot(page, "equations", "equations-layer-norm")
    choose_cell(page, "gru_layer_norm")
    text = page.locator("#equations").inner_text()
    assert "LN(Win xt + bin)" in text and "rt ⊙ (γhn ⊙ LN(Whn ht−1 + bhn) + βhn)" in text, text
    assert errors == []


def test_indrnn_writes_its_vector_recurrence_with_this_steps_numbers(page):
    page, errors = page
    choose_cell(page, "indrnn_relu")
    assert page.locator("canvas.heatmap[data-kind=gate]").count() == 0
    block = page.locator("#equations .eq-block.key").first
    general, live = (block.locator(c).inner_text() for c in (".eq-general", ".eq-live"))
    assert general == "ht = relu(Wih xt + bih + u ⊙ ht−1)", general
    # the live line's arithmetic adds up: relu(x + b + u × h) = relu(a) = h
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d+", live.replace("−", "-"))]
    x_term, bias, u, h_prev, a, h_t = numbers[-6:]
    assert abs(x_term + bias + u * h_prev - a) < 2e-3, live
    assert abs(max(a, 0.0) - h_t) < 1e-3, live
    shoot(page, "equations", "equations-indrnn")
    assert errors == []


def test_the_reset_before_gru_writes_r_inside_the_product_with_this_steps_numbers(page):
    page, errors = page
    choose_cell(page, "gru_reset_before")
    gates = page.locator("canvas.heatmap[data-kind=gate]")
    assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["r", "z", "n"]
    text = page.locator("#equations").inner_text()
    assert "Whn (rt ⊙ ht−1)" in text and "ht = (1 − zt) ⊙ ht−1 + zt ⊙ nt" in text, text
    shoot(page, "equations", "equations-gru-reset-before")
    assert errors == []


def test_residual_is_offered_from_two_layers_on_and_builds_a_residual_stack(page):
    page, errors = page
    residual = page.locator("#residual")
    assert residual.is_disabled()  # one layer: nothing to add a layer's input to
    page.locator("#layers").select_option("2")
    page.wait_for_function("() => !document.querySelector('#residual').disabled", timeout=TIMEOUT)
    residual.check()
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('2×64 residual')",
        timeout=TIMEOUT,
    )
    shoot(page, "config", "config-residual")
    assert errors == []


def test_rnn_gradients_fall_faster_with_distance_than_lstm_ones(page):
    page, errors = page
    norms = page.locator("#grad-chart path[data-cell]").evaluate_all(
        "ps => Object.fromEntries(ps.map(p => [p.dataset.cell, JSON.parse(p.dataset.norms)]))"
    )
    assert set(norms) == {"rnn_tanh", "lstm", "gru"}
    decay = {cell: values[0] / values[-1] for cell, values in norms.items()}
    assert decay["rnn_tanh"] < decay["lstm"] / 100, decay
    # the scale control: recurrent weights × 5 make the RNN explode instead
    page.locator("#scale").fill("1")
    page.wait_for_selector("[data-panel=gradients][data-scale='5']", timeout=TIMEOUT)
    values = page.locator("#grad-chart path[data-cell=rnn_tanh]").evaluate(
        "p => JSON.parse(p.dataset.norms)"
    )
    assert values[0] / values[-1] > 1e3
    assert errors == []


def test_hovering_a_step_shows_its_numbers_and_selecting_updates_the_equations(page):
    page, errors = page
    page.locator("#unrolled .step").nth(3).hover()
    tooltip = page.locator("#tooltip")
    assert tooltip.is_visible()
    assert "step t = 4" in tooltip.inner_text() and "=" in tooltip.inner_text()
    page.locator("#unrolled .step").nth(3).click()
    page.wait_for_selector("[data-panel=equations][data-step='3']", timeout=TIMEOUT)
    assert "c4[" in page.locator("#equations").inner_text().replace(" ", "")
    assert errors == []


def test_generation_streams_text_and_steps_through_the_distribution(page):
    page, errors = page
    page.locator("#gen-length").fill("60")
    page.locator("#generate").click()
    page.wait_for_selector("[data-panel=generate][data-generating=false]", timeout=TIMEOUT)
    assert page.locator("#generated span.g").count() >= 60
    page.locator("#gen-position").fill("10")
    page.wait_for_selector("#next-bars[data-context='16']", timeout=TIMEOUT)  # "ROMEO:" + 10
    assert "cursor" in page.locator("#generated span.g").nth(10).get_attribute("class")
    assert errors == []


def test_numeric_sequences_show_their_states(page):
    page, errors = page
    page.locator("#kind-tabs button[data-kind=adding]").click()
    page.wait_for_function(
        "() => document.querySelector('#unrolled .step text.token')?.textContent.includes('.')",
        timeout=TIMEOUT,
    )
    assert (
        page.locator("#sequence-preview svg path[data-cell], #sequence-preview svg path").count()
        >= 3
    )
    assert page.locator("#grad-chart path[data-cell]").count() == 3
    shoot(page, "sequence", "sequence-adding")
    assert errors == []


def test_a_numeric_model_trains_from_the_page_with_a_live_loss_curve(page):
    page, errors = page
    page.locator("#kind-tabs button[data-kind=sine]").click()
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('sine')",
        timeout=TIMEOUT,
    )
    page.locator("#train-steps").fill("60")
    page.locator("#train").click()
    page.wait_for_selector("[data-panel=config][data-step='60']", timeout=TIMEOUT)
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('trained 60 steps')",
        timeout=TIMEOUT,
    )
    losses = page.locator("#loss-chart path[data-kind=loss]").get_attribute("d")
    assert losses.count("L") >= 50  # one point per update
    assert errors == []


def test_errors_are_shown_in_the_panel(page):
    page, _ = page
    page.locator("#prime").fill("naïve €")
    line = page.locator("[data-panel=generate] [data-error]")
    page.wait_for_function("line => line.textContent.includes('€')", arg=line.element_handle())


def test_screenshot_of_every_panel(page):
    page, errors = page
    page.locator("#gen-length").fill("160")
    page.locator("#generate").click()
    page.wait_for_selector("[data-panel=generate][data-generating=false]", timeout=TIMEOUT)
    page.locator("#gen-position").fill("40")
    page.wait_for_selector("#next-bars[data-context='46']", timeout=TIMEOUT)
    page.locator("#unrolled .step").nth(4).click()
    page.wait_for_selector("[data-panel=equations][data-step='4']", timeout=TIMEOUT)
    for name in PANELS:
        assert shoot(page, name).stat().st_size > 5_000
    page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=True)
    assert errors == []


#: the contrast ratio (WCAG 2) of each number of the attention map against its cell
CELL_CONTRASTS = """texts => texts.map(text => {
  const luminance = colour => {
    const [r, g, b] = colour.match(/\\d+/g).slice(0, 3).map(v => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const cell = text.previousElementSibling;
  const [a, b] = [getComputedStyle(text).fill, getComputedStyle(cell).fill].map(luminance);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})"""


def decoding_step(page: Page, step: int) -> None:
    page.wait_for_selector(f"[data-panel=attention][data-step='{step}']", timeout=TIMEOUT)


def test_the_attention_panel_follows_a_seq2seq_decoding_step_by_step(page):
    page, errors = page
    panel = page.locator("[data-panel=attention]")
    assert "Seq2seq" in panel.inner_text()  # before: how to get an encoder–decoder
    page.locator("#attention-go").click()
    page.wait_for_selector("[data-panel=attention][data-state=ready]", timeout=TIMEOUT)
    assert page.locator("#kind-tabs button[data-kind=seq2seq]").get_attribute("aria-selected")
    assert page.locator("#attention-choice input[value=general]").is_checked()
    assert page.locator("#unrolled .step").count() == 5  # the encoder reading "hello"
    page.locator("#train-steps").fill("300")  # the page's lr for these models: 0.01
    page.locator("#train").click()
    page.wait_for_function(
        "() => document.querySelector('#attention-result').textContent.includes('after 300')",
        timeout=TIMEOUT * 4,
    )
    decoding_step(page, 0)
    steps = int(panel.get_attribute("data-steps"))
    rows = page.locator("#attention-map .row")
    assert rows.count() == steps >= 2
    written = page.locator("#decode-lines dd[data-written]")
    mirrored = 0
    for u in range(steps):  # by button and by keyboard, one output at a time
        if u:
            if u % 2:
                page.locator("#dec-next").click()
            else:
                page.keyboard.press("ArrowRight")  # focus is on the ▶ button
            decoding_step(page, u)
        weights = [
            float(w) if w else None
            for w in rows.nth(u).locator("rect.cell").evaluate_all("rs => rs.map(r => r.dataset.w)")
        ]
        assert len(weights) == 5 and abs(sum(weights) - 1) < 2e-3, weights
        later = rows.nth(min(u + 1, steps - 1)).locator("rect.cell").first.get_attribute("data-w")
        assert u == steps - 1 or later == ""  # what is not written yet is not shown
        assert len(written.get_attribute("data-written")) == min(u + 1, 5)
        mirrored += u < 5 and weights.index(max(weights)) == 4 - u
        focus = page.locator("#decode-lines .chip.focus").inner_text()
        assert focus == "hello"[weights.index(max(weights))]
    assert mirrored >= 3, mirrored
    assert page.locator("#dec-next").is_disabled()
    page.locator("#attention-table-box summary").click()
    assert page.locator("#attention-table tbody tr").count() == steps
    page.locator("#dec-first").click()
    decoding_step(page, 0)
    page.locator("#dec-slider").fill("4")
    decoding_step(page, 3)
    assert "exact match" in page.locator("#attention-result").inner_text()
    contrasts = page.locator("#attention-map text.w").evaluate_all(CELL_CONTRASTS)
    assert contrasts and min(contrasts) >= 4.5, contrasts  # each number on its own cell
    page.locator("[data-panel=attention]").screenshot(path="/tmp/attention_panel.png")
    shoot(page, "attention", "attention-reverse")
    page.locator("#sequence-text").fill("recurrent")  # a typed source
    page.locator("#use-text").click()
    page.wait_for_function(
        "() => document.querySelectorAll('#decode-lines dd')[0].textContent === 'recurrent'",
        timeout=TIMEOUT,
    )
    decoding_step(page, 0)
    page.locator("#attention-choice label:has(input[value=none])").click()
    page.wait_for_selector("[data-panel=attention][data-attention=none]", timeout=TIMEOUT)
    assert page.locator("#attention-none").is_visible()
    assert "no attention" in page.locator("#attention-none").inner_text()
    assert not page.locator("#attention-map").is_visible()
    shoot(page, "attention", "attention-none")
    assert errors == []
    page.locator("#sequence-text").fill("Recurrent")  # refused, with the reason
    page.locator("#use-text").click()
    line = page.locator("[data-panel=sequence] [data-error]")
    page.wait_for_function("line => line.textContent.includes(\"'R'\")", arg=line.element_handle())


def test_a_checkpoint_is_shown_with_its_own_sizes(browser, tmp_path):
    vocab = CharVocab.from_text(corpus())
    model = LanguageModel(LanguageModelConfig(len(vocab), "gru", hidden_size=24), 0, vocab)
    save_checkpoint(tmp_path / "best.safetensors", model, train_state={"step": 12})
    url, stop = start(Lab(tmp_path, corpus=corpus))
    try:
        page, errors = open_page(browser, url)
        info = page.locator("#model-info").inner_text()
        assert "GRU 1×24" in info and "trained 12 steps" in info, info
        assert page.locator("#train").is_disabled()
        assert page.locator("input[name=cell][value=lstm]").is_disabled()
        gates = page.locator("canvas.heatmap[data-kind=gate]")
        assert gates.evaluate_all("cs => cs.map(c => c.dataset.gate)") == ["r", "z", "n"]
        page.locator("#source").select_option("builtin")  # a built-in twin to train
        page.wait_for_function("() => !document.querySelector('#train').disabled")
        assert "untrained" in page.locator("#model-info").inner_text()
        shoot(page, "config", "config-checkpoint")
        assert errors == []
    finally:
        stop()


def test_a_projected_lstm_checkpoint_writes_h_tilde_and_its_projection(browser, tmp_path):
    vocab = CharVocab.from_text(corpus())
    config = LanguageModelConfig(len(vocab), "lstm", hidden_size=24, proj_size=8)
    save_checkpoint(tmp_path / "best.safetensors", LanguageModel(config, 0, vocab))
    url, stop = start(Lab(tmp_path, corpus=corpus))
    try:
        page, errors = open_page(browser, url)
        assert "projected to 8" in page.locator("#model-info").inner_text()
        page.wait_for_selector("#equations .eq-block", timeout=TIMEOUT)
        text = page.locator("#equations").inner_text()
        assert "h̃t = ot ⊙ tanh(ct)" in text, text
        assert "ht = Whr h̃t" in text and "8 numbers" in text, text
        hidden = page.locator("canvas.heatmap[data-kind=hidden]")
        assert "h̃" in hidden.evaluate("c => c.closest('.heatmap-box').textContent")
        shoot(page, "equations", "equations-projected")
        assert errors == []
    finally:
        stop()
