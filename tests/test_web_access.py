"""The web lab for every learner, in a real headless Chromium: axe-core finds no critical
or serious violation with every panel drawn; a keyboard alone chooses each cell, trains,
generates and walks a heatmap; on a phone no two texts overlap and no popup stays open;
the probability bars are as long as the probabilities; the gradient panel's words follow
its numbers; and the page's address holds every setting, so that it reopens the same view.
Screenshots (desktop 1440×900 and phone 390×844) go to test-artifacts/web/."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
from playwright.sync_api import Page, sync_playwright

from rnnlab.cells import CELLS
from rnnlab.web.lab import Lab
from rnnlab.web.schemas import ModelSpec
from tests.test_web_browser import ARGS, ARTIFACTS, CHROMIUM, TIMEOUT, corpus, start

#: axe-core, vendored (MPL-2.0; see tests/vendor/README.md): no network, no Node.js needed
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_lab(browser: Any, url: str, phone: bool = False) -> tuple[Page, list[str]]:
    """The lab at ``url`` with every panel drawn, and the errors the page reports."""
    page = browser.new_page(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    for name in ("unrolled", "heatmap", "gradients", "generate", "neuron"):
        page.wait_for_selector(f"[data-panel={name}][data-ready=true]", timeout=TIMEOUT)
    return page, errors


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[tuple[Page, list[str]]]:
    page, errors = open_lab(browser, server)
    yield page, errors
    page.close()


def screenshot(page: Page, name: str, panel: str | None = None) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if panel:
        page.locator(f"[data-panel={panel}]").screenshot(path=str(path))
    else:
        page.screenshot(path=str(path), full_page=True)
    return path


def open_every_table(page: Page) -> None:
    """Open every "…as a table" toggle and wait until each holds its table."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => (d.open = true))")
    page.wait_for_function(
        """() => [...document.querySelectorAll('details')]
              .filter(d => d.offsetParent !== null)
              .every(d => d.querySelector('table'))""",
        timeout=TIMEOUT,
    )


def axe(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the whole page: [{id, impact, help, nodes}]."""
    # evaluated, not added as a <script>: the page's Content-Security-Policy forbids inline
    # scripts, and it is the page as served that is checked
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    return page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"""
    )


def serious(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in ("critical", "serious")]


def generate(page: Page, n: int) -> str:
    page.locator("#gen-length").fill(str(n))
    page.locator("#generate").click()
    page.wait_for_selector("[data-panel=generate][data-generating=false]", timeout=TIMEOUT)
    page.wait_for_function(
        "n => document.querySelectorAll('#generated span.g').length === n", arg=n
    )
    return "".join(page.locator("#generated span.g").all_inner_texts())


def test_axe_finds_no_critical_or_serious_violation_with_every_panel_drawn(browser, server):
    found: dict[str, list[dict[str, Any]]] = {}
    page, errors = open_lab(browser, server)
    # text: a generation stepped through with top-k on, a step's popup, every table open
    page.locator("#top-k").select_option("3")
    generate(page, 40)
    page.locator("#gen-position").fill("12")
    page.wait_for_selector("#next-bars[data-context='18']", timeout=TIMEOUT)
    open_every_table(page)
    page.locator("#unrolled .step").nth(2).hover()
    assert page.locator("#tooltip").is_visible()
    found["text"] = axe(page)
    page.mouse.move(0, 0)
    # a numeric task: its preview chart and table
    page.locator("#kind-tabs [data-kind=adding]").click()
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('adding')",
        timeout=TIMEOUT,
    )
    page.wait_for_selector("#sequence-preview svg", timeout=TIMEOUT)
    open_every_table(page)
    found["adding"] = axe(page)
    # an encoder–decoder: the attention panel with its map and table
    page.locator("#attention-go").click()
    page.wait_for_selector("[data-panel=attention][data-state=ready]", timeout=TIMEOUT)
    open_every_table(page)
    found["seq2seq"] = axe(page)
    screenshot(page, "access-seq2seq-desktop")
    page.close()
    phone, phone_errors = open_lab(browser, server, phone=True)
    open_every_table(phone)
    found["phone"] = axe(phone)
    phone.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
    bad = {view: serious(violations) for view, violations in found.items()}
    assert all(not v for v in bad.values()), json.dumps(bad, indent=1, ensure_ascii=False)
    assert errors == [] and phone_errors == []


def tab_to(page: Page, selector: str, limit: int = 400) -> None:
    """Press Tab until the focus is on an element matching ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"the Tab key never reached {selector}")


def wait_for_cell(page: Page, cell: str) -> None:
    page.wait_for_function(
        "title => document.querySelector('#equation-where').textContent.startsWith(title)",
        arg=CELLS[cell].title,
        timeout=TIMEOUT,
    )


def test_the_keyboard_alone_chooses_each_cell_trains_generates_and_walks_a_heatmap(page):
    page, errors = page
    # the cells: one stop of the Tab key, the arrow keys choose
    tab_to(page, "input[name=cell]")
    cells = list(CELLS)
    k = cells.index(page.evaluate("() => document.activeElement.value"))
    assert cells[k] == "lstm"
    for step in range(1, len(cells) + 1):
        page.keyboard.press("ArrowRight")
        wait_for_cell(page, cells[(k + step) % len(cells)])
    assert page.locator("input[name=cell][value=lstm]").is_checked()  # round the ring
    # the kind of sequence: a tab list, the arrow keys move along it
    tab_to(page, "#kind-tabs [role=tab][aria-selected=true]")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('sine')",
        timeout=TIMEOUT,
    )
    assert page.evaluate("() => document.activeElement.dataset.kind") == "sine"
    assert page.locator("#kind-panel").get_attribute("aria-labelledby") == "tab-sine"
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('from Shakespeare')",
        timeout=TIMEOUT,
    )
    # train: the steps typed, the button pressed with Enter
    before = int(re.search(r"trained (\d+) steps", page.locator("#model-info").inner_text())[1])
    tab_to(page, "#train-steps")
    page.keyboard.press("Control+a")
    page.keyboard.type("20")
    tab_to(page, "#train")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "n => document.querySelector('#model-info').textContent.includes(`trained ${n} steps`)",
        arg=before + 20,
        timeout=TIMEOUT * 2,
    )
    # generate
    tab_to(page, "#gen-length")
    page.keyboard.press("Control+a")
    page.keyboard.type("30")
    tab_to(page, "#generate")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-panel=generate][data-generating=false]", timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelectorAll('#generated span.g').length === 30")
    # the unrolled picture: ← and → move the selected step
    tab_to(page, "#unrolled")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(
        "() => document.querySelector('#step-label').textContent.startsWith('t = 2 ')"
    )
    # walk the hidden-state heatmap: every move reads out another cell and its value
    tab_to(page, "canvas.heatmap[data-kind=hidden]")
    readout = page.locator("#heatmap-readout")
    t, unit = (int(readout.get_attribute(k)) for k in ("data-t", "data-unit"))
    assert (t, unit) == (1, int(page.locator("[data-panel=neuron]").get_attribute("data-unit")))
    down, up = ("ArrowDown", "ArrowUp") if unit < 32 else ("ArrowUp", "ArrowDown")
    seen = []
    for key in (down, down, "ArrowRight", "ArrowRight", "ArrowRight", up):
        page.keyboard.press(key)
        seen.append(
            (
                readout.get_attribute("data-t"),
                readout.get_attribute("data-unit"),
                readout.get_attribute("data-value"),
                readout.inner_text(),
            )
        )
    assert len({s[3] for s in seen}) == len(seen)  # the announced text changes at each move
    assert len({s[2] for s in seen}) > 3  # and so does the value
    expected = (t + 3, unit + 1 if unit < 32 else unit - 1)  # right 3, two rows on, one back
    t, unit = int(seen[-1][0]), int(seen[-1][1])
    assert (t, unit) == expected, seen
    assert readout.get_attribute("aria-live") == "polite"
    assert f"step {t + 1} of" in seen[-1][3] and f"unit {unit}:" in seen[-1][3]
    screenshot(page, "access-heatmap-keyboard", "heatmap")
    page.keyboard.press("Enter")  # select that step and unit
    page.wait_for_selector(
        f"[data-panel=equations][data-step='{t}'][data-unit='{unit}']", timeout=TIMEOUT
    )
    assert page.evaluate("() => document.activeElement.dataset.kind") == "hidden"  # kept
    assert errors == []


#: every pair of text boxes that overlap, panel by panel (text nodes' line boxes; SVG texts)
OVERLAPS = """() => {
  const shown = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === 'none' || s.visibility === 'hidden') return false;
      const closed = e.parentElement?.tagName === 'DETAILS' && !e.parentElement.open;
      if (closed && e.tagName !== 'SUMMARY') return false; // inside a closed toggle
    }
    return true;
  };
  const found = [];
  for (const panel of document.querySelectorAll('[data-panel]')) {
    const boxes = [];
    const walker = document.createTreeWalker(panel, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const parent = node.parentElement;
      if (!node.textContent.trim() || !parent) continue;
      if (parent.closest('select, option, textarea')) continue;
      if (!shown(parent)) continue;
      let rects;
      if (parent instanceof SVGElement) rects = [parent.getBoundingClientRect()];
      else {
        const range = document.createRange();
        range.selectNodeContents(node);
        rects = [...range.getClientRects()];
      }
      // what a scrolling box hides is not on the screen: cut each box to its clips
      const clips = [];
      for (let e = parent.parentElement; e && e !== document.body; e = e.parentElement) {
        const s = getComputedStyle(e);
        const clipped = s.overflowX !== 'visible' || s.overflowY !== 'visible';
        if (clipped) clips.push(e.getBoundingClientRect());
      }
      const text = node.textContent.trim().slice(0, 24);
      for (const box of rects) {
        const r = {left: box.left, right: box.right, top: box.top, bottom: box.bottom};
        for (const c of clips) {
          r.left = Math.max(r.left, c.left); r.right = Math.min(r.right, c.right);
          r.top = Math.max(r.top, c.top); r.bottom = Math.min(r.bottom, c.bottom);
        }
        if (r.right - r.left > 0 && r.bottom - r.top > 0) boxes.push({node, text, r});
      }
    }
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        if (a.node === b.node) continue;
        const w = Math.min(a.r.right, b.r.right) - Math.max(a.r.left, b.r.left);
        const h = Math.min(a.r.bottom, b.r.bottom) - Math.max(a.r.top, b.r.top);
        if (w > 2 && h > 2) found.push(`${panel.dataset.panel}: "${a.text}" × "${b.text}"`);
      }
    }
  }
  return found;
}"""


def test_on_a_phone_no_texts_overlap_and_no_popup_stays_open(browser, server):
    page, errors = open_lab(browser, server, phone=True)
    tooltip = page.locator("#tooltip")
    assert page.evaluate(OVERLAPS) == []
    for text in ("a step of the unrolled network", "a heatmap cell"):
        target = (
            page.locator("#unrolled .step").nth(1)
            if text.startswith("a step")
            else page.locator("canvas.heatmap[data-kind=hidden]")
        )
        target.tap()
        assert tooltip.is_visible(), text
        page.locator("[data-panel=unrolled] h2").tap()  # a tap elsewhere closes it
        assert tooltip.is_hidden(), text
    page.locator("#unrolled .step").nth(0).tap()
    assert tooltip.is_visible()
    page.evaluate("() => window.scrollBy(0, 300)")  # scrolling closes it
    page.wait_for_function("() => document.querySelector('#tooltip').hidden")
    page.locator("#unrolled .step").nth(1).tap()
    assert tooltip.is_visible()
    page.keyboard.press("Escape")  # and so does Escape
    assert tooltip.is_hidden()
    # the other views, drawn at phone width: still no overlap
    generate(page, 60)
    page.locator("#top-k").select_option("5")
    page.wait_for_selector("#next-bars[data-drawable='5']", timeout=TIMEOUT)
    open_every_table(page)
    assert page.evaluate(OVERLAPS) == []
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, "lab-phone")
    page.locator("#attention-go").click()
    page.wait_for_selector("[data-panel=attention][data-state=ready]", timeout=TIMEOUT)
    assert page.evaluate(OVERLAPS) == []
    screenshot(page, "attention-phone", "attention")
    assert errors == []
    page.close()


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_no_texts_overlap_mid_sequence_in_seq2seq_and_on_small_ticks(browser, server, phone):
    """A window of the unrolled steps from step 25 on (its incoming states named clear of
    the boxes), a decoding opened at its third step from the address, and a neuron chart
    whose ticks need three decimals beside its axis title."""
    for query in ("?t=30", "?kind=dates&dec=3", "?cell=lstm_peephole&t=57&unit=48"):
        page, errors = open_lab(browser, server + query, phone=phone)
        if "dec" in query:
            page.wait_for_selector("[data-panel=attention][data-step='2']", timeout=TIMEOUT)
            page.wait_for_function("() => location.search.includes('dec=3')", timeout=TIMEOUT)
        assert page.evaluate(OVERLAPS) == [], query
        assert errors == [], query
        page.close()


UNTRAINED = (
    "() => document.querySelector('#grad-verdict')?.textContent.includes('All three are untrained')"
)
BARS = """rows => rows.map(r => ({
  p: Number(r.dataset.prob), q: Number(r.dataset.q), symbol: r.dataset.symbol,
  cut: r.classList.contains('cut'), chosen: r.classList.contains('chosen'),
  fill: r.querySelector('.fill').getBoundingClientRect().width,
  track: r.querySelector('.track').getBoundingClientRect().width,
}))"""


def test_the_probability_bars_are_as_long_as_their_probabilities(page):
    page, errors = page
    rows = page.locator("#next-bars .bar-row")
    bars = rows.evaluate_all(BARS)
    assert len(bars) == 10
    for bar in bars:  # on 0–100 %: a bar of p = 0.15 fills 15 % of its track, not all of it
        assert abs(bar["fill"] - bar["p"] * bar["track"]) <= 1, bar
    # top-k = 3: three characters can be drawn, the seven others are marked as cut
    page.locator("#top-k").select_option("3")
    page.wait_for_selector("#next-bars[data-drawable='3']", timeout=TIMEOUT)
    bars = rows.evaluate_all(BARS)
    assert [b["cut"] for b in bars] == [False] * 3 + [True] * 7
    assert abs(sum(b["q"] for b in bars[:3]) - 1) < 1e-4 and all(b["q"] == 0 for b in bars[3:])
    for bar in bars:
        assert abs(bar["fill"] - bar["p"] * bar["track"]) <= 1, bar
    assert page.locator("#next-bars .bar-row.cut .q").first.inner_text() == "cut"
    assert "only 3 of the" in page.locator("#next-caption").inner_text()
    screenshot(page, "bars-top-k", "generate")
    # a drawn character outside the top ten gets an eleventh row, marked in words
    page.locator("#top-k").select_option("")
    page.locator("#temperature").fill("2")
    text = generate(page, 120)
    outside = page.evaluate(
        """async ([prime, text]) => {
          const model = document.querySelector('#next-bars').dataset.model;
          for (let i = 0; i < text.length; i++) {
            const body = {model, text: prime + text.slice(0, i), temperature: 2, k: 10};
            const answer = await (await fetch('/api/next', {method: 'POST',
              headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)})).json();
            if (!answer.items.some(item => item.symbol === text[i])) return i;
          }
          return -1;
        }""",
        ["ROMEO:", text],
    )
    assert outside >= 0, "every drawn character was among the ten likeliest"
    page.locator("#gen-position").fill(str(outside))
    page.wait_for_selector(f"#next-bars[data-context='{6 + outside}']", timeout=TIMEOUT)
    bars = rows.evaluate_all(BARS)
    assert len(bars) == 11 and bars[-1]["chosen"] and bars[-1]["symbol"] == text[outside]
    assert sum(b["chosen"] for b in bars) == 1
    assert abs(bars[-1]["fill"] - bars[-1]["p"] * bars[-1]["track"]) <= 1
    assert "◀ drawn" in page.locator("#next-bars .bar-row.chosen").inner_text()
    caption = page.locator("#next-caption").inner_text()
    assert "◀ drawn" in caption and "not among them" in caption, caption
    assert not re.search(r"\b(green|red|blue|orange)\b", caption), caption  # no colour named
    screenshot(page, "bars-drawn-outside-top-10", "generate")
    assert errors == []


def test_the_gradient_panel_says_what_its_numbers_show_and_marks_underflow(page):
    page, errors = page
    page.locator("#scale").fill("0")  # recurrent weights × 0.2: the RNN underflows
    page.wait_for_selector("[data-panel=gradients][data-scale='0.2']", timeout=TIMEOUT)
    norms = page.locator("#grad-chart path[data-cell]").evaluate_all(
        "ps => Object.fromEntries(ps.map(p => [p.dataset.cell, JSON.parse(p.dataset.norms)]))"
    )
    zeros = sum(v == 0 for v in norms["rnn_tanh"])
    assert zeros > 0
    assert page.locator("#grad-chart path.underflow").count() == zeros  # a cross each
    assert "exactly 0 (underflow)" in page.locator("#grad-chart").text_content()
    rnn = page.locator("#grad-summary [data-cell=rnn_tanh]").inner_text()
    assert "underflows to exactly 0" in rnn, rnn
    verdict = page.locator("#grad-verdict").inner_text()
    kept = {cell: v[0] / v[-1] for cell, v in norms.items()}
    best = max(kept, key=kept.get)
    assert f"the {CELLS[best].title} keeps the most" in verdict, (kept, verdict)
    assert "Not an equal comparison" in verdict  # the LSTM was trained here, the others not
    screenshot(page, "gradients-underflow", "gradients")
    page.locator("#grad-compare").select_option("untrained")
    page.wait_for_function(
        UNTRAINED,
        timeout=TIMEOUT,
    )
    assert "untrained" in page.locator("#grad-summary [data-cell=lstm]").inner_text()
    assert errors == []


def test_axis_labels_do_not_repeat_and_quarter_ticks_keep_their_digits(page):
    page, errors = page
    labels = page.evaluate(
        """async () => {
          const {lineChart} = await import('/static/js/charts.js');
          const chart = (points) => {
            const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
            svg.style.cssText = 'width:600px;height:220px';
            document.body.append(svg);
            lineChart(svg, {series: [{label: 'a', color: '#000', points}]});
            const ys = [...svg.querySelectorAll('.axis text[text-anchor=end]')]
              .map(t => t.textContent);
            svg.remove();
            return ys;
          };
          return [chart([[1, 0], [2, 1]]), chart([[1, -0.07], [2, 0.34]]),
                  chart([[1, 0], [2, 0.1]])];
        }"""
    )
    assert labels[0] == ["0.00", "0.25", "0.50", "0.75", "1.00"], labels
    for ys in labels:
        assert len(set(ys)) == len(ys), ys
    neuron = page.locator("#neuron-chart .axis text[text-anchor=end]").evaluate_all(
        "ts => ts.map(t => t.textContent)"
    )
    assert len(set(neuron)) == len(neuron) >= 2, neuron
    assert errors == []


HIDDEN_HEIGHT = (
    "parseFloat(document.querySelector('canvas.heatmap[data-kind=hidden]').style.height)"
)


def test_heatmap_rows_stay_readable_at_256_units(page):
    page, errors = page
    page.locator("#hidden").select_option("256")
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('1×256')",
        timeout=TIMEOUT,
    )
    canvas = page.locator("canvas.heatmap[data-kind=hidden]")
    page.wait_for_function(
        f"() => {HIDDEN_HEIGHT} > 1000",
        timeout=TIMEOUT,
    )
    height = float(canvas.evaluate("c => parseFloat(c.style.height)"))
    assert (height - 20) / 256 >= 4  # at least 4 px a row
    box = canvas.evaluate("c => [c.parentElement.clientHeight, c.parentElement.scrollHeight]")
    assert box[0] < box[1]  # the box scrolls instead of squeezing the rows
    canvas.focus()
    for _ in range(40):
        page.keyboard.press("ArrowDown")  # the box follows the keyboard's cell
    top = canvas.evaluate("c => c.parentElement.scrollTop")
    assert top > 0
    page.locator("#heatmap-zoom").select_option("2")
    page.wait_for_function(f"() => {HIDDEN_HEIGHT} > 2000", timeout=TIMEOUT)
    screenshot(page, "heatmap-256-units", "heatmap")
    assert errors == []


#: what the page shows, to compare two pages: settings, selections and the texts they drive
VIEW = """() => {
  const text = (s) => document.querySelector(s)?.textContent ?? null;
  const value = (s) => document.querySelector(s)?.value ?? null;
  return {
    info: text('#model-info'), where: text('#equation-where'), equations: text('#equations'),
    step: text('#step-label'), unit: document.querySelector('[data-panel=neuron]').dataset.unit,
    cell: value('input[name=cell]:checked'), hidden: value('#hidden'),
    example: text('.example.active .title'), temperature: value('#temperature'),
    topK: value('#top-k'), topP: value('#top-p'), zoom: value('#heatmap-zoom'),
    scale: text('#scale-value'), compare: value('#grad-compare'), generated: text('#generated'),
    position: text('#gen-position-label'), bars: text('#next-bars'), caption: text('#next-caption'),
    open: [...document.querySelectorAll('details')].filter(d => d.open).map(d => d.id),
    verdict: text('#grad-verdict'),
    heights: [...document.querySelectorAll('canvas.heatmap')].map(c => c.style.height),
  };
}"""


def test_the_address_holds_every_setting_and_reopens_the_same_view(browser, server):
    page, errors = open_lab(browser, server)
    page.locator("#cell-choice label:has(input[value=gru])").click()
    page.locator("#hidden").select_option("32")
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('GRU 1×32')",
        timeout=TIMEOUT,
    )
    page.locator(".example").nth(2).click()  # Portia
    page.wait_for_function(
        "() => document.querySelector('#sequence-preview').textContent.includes('Portia')",
        timeout=TIMEOUT,
    )
    page.locator("#unrolled .step").nth(3).click()
    page.wait_for_selector("[data-panel=equations][data-step='3']", timeout=TIMEOUT)
    page.locator("#unit").fill("5")
    page.locator("#unit").dispatch_event("change")
    page.wait_for_selector("[data-panel=equations][data-unit='5']", timeout=TIMEOUT)
    page.locator("#temperature").fill("1.3")
    page.locator("#top-k").select_option("5")
    page.locator("#top-p").select_option("0.9")
    generate(page, 40)
    page.locator("#gen-position").fill("12")
    page.wait_for_selector("#next-bars[data-context='18']", timeout=TIMEOUT)
    page.locator("#scale").fill("0.3")
    page.locator("#grad-compare").select_option("untrained")
    page.wait_for_function(
        UNTRAINED,
        timeout=TIMEOUT,
    )
    page.locator("#heatmap-zoom").select_option("2")
    page.locator("#grad-table-box summary").click()
    page.wait_for_function(
        """() => ['cell=gru', 'hidden=32', 'ex=2', 't=4', 'unit=5', 'temp=1.3', 'topk=5',
                  'topp=0.9', 'gseed=', 'gpos=12', 'scale=0.3', 'compare=untrained', 'zoom=2',
                  'open=grad-table-box'].every(s => location.search.includes(s))""",
        timeout=TIMEOUT,
    )
    page.wait_for_timeout(400)  # the address is written 150 ms after the last change
    address = page.url
    before = page.evaluate(VIEW)
    page.close()
    again, again_errors = open_lab(browser, address)
    again.wait_for_function(
        UNTRAINED,
        timeout=TIMEOUT,
    )
    again.wait_for_selector("#next-bars[data-context='18']", timeout=TIMEOUT)
    after = again.evaluate(VIEW)
    assert after == before
    assert again.url == address  # and it writes the same address back
    screenshot(again, "lab-desktop-from-address")
    assert errors == [] and again_errors == []
    again.close()


def test_screenshots_desktop_and_phone(browser, server):
    for phone in (False, True):
        page, errors = open_lab(browser, server, phone=phone)
        page.locator("#top-k").select_option("5")
        generate(page, 80)
        page.locator("#gen-position").fill("20")
        page.wait_for_selector("#next-bars[data-context='26']", timeout=TIMEOUT)
        name = "phone" if phone else "desktop"
        assert screenshot(page, f"lab-{name}").stat().st_size > 50_000
        for panel in ("generate", "gradients", "heatmap", "neuron"):
            screenshot(page, f"{panel}-{name}", panel)
        assert errors == []
        page.close()
