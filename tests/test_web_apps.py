"""The applications panel: a forecaster, a genre classifier and a word model trained in
the page by rnnlab's own applications. The API's numbers are the applications' own
(each run again directly with the same seed), the baselines are right on hand-made
series, bad requests get one-line errors, training shares the lab's one slot; in a real
Chromium each tab trains and shows its result, works from the keyboard alone, passes
axe-core, has no overlapping texts on a phone and comes back from its address.
Screenshots (apps-forecast, apps-classify, apps-complete; desktop and -phone) go to
test-artifacts/web/."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
from fastapi.testclient import TestClient
from playwright.sync_api import Page, sync_playwright

from rnnlab.applications.classification import ClassifyOptions, run_classify
from rnnlab.applications.completion import CompleteOptions, run_complete, split_text
from rnnlab.applications.forecasting import ForecastOptions, run_forecast
from rnnlab.data.words import WordVocab
from rnnlab.errors import ConfigError
from rnnlab.generate import next_distribution
from rnnlab.models.classify import classify_texts, predict_proba
from rnnlab.models.forecast import closed_loop
from rnnlab.web.app import create_app
from rnnlab.web.application_views import errors, last_value, season_of, seasonal_naive
from rnnlab.web.entry import BusyError
from rnnlab.web.lab import Lab
from rnnlab.web.schemas import ModelSpec
from tests.test_web_access import AXE, DESKTOP, OVERLAPS, PHONE, serious
from tests.test_web_browser import ARGS, ARTIFACTS, CHROMIUM, TIMEOUT, corpus, start

#: the models trained once for the module, through the API (tiny: seconds in all)
TINY = {
    "forecast": {"series": "sines", "cell": "gru", "hidden_size": 8, "window": 12, "steps": 60},
    "classify": {"cell": "gru", "hidden_size": 8, "epochs": 1, "seed": 2},
    "complete": {"cell": "gru", "hidden_size": 32, "steps": 40, "seed": 1},
}
#: the same settings in the page's address
TINY_ADDRESS = (
    "fseries=sines&fcell=gru&fhidden=8&fwindow=12&fsteps=60"
    "&kcell=gru&khidden=8&kepochs=1&kseed=2&wcell=gru&whidden=32&wsteps=40&wseed=1"
)
PANES = {"forecast": "fc", "classify": "cl", "complete": "wc"}


@pytest.fixture(scope="module")
def lab() -> Iterator[SimpleNamespace]:
    """One lab served on a loopback port and to a TestClient: its url, app, apps, client."""
    the_lab = Lab(corpus=corpus)
    app = create_app(the_lab)  # any host: the TestClient's too
    url, stop = start(the_lab, app)
    yield SimpleNamespace(
        url=url, app=app, apps=app.state.apps, lab=the_lab, client=TestClient(app)
    )
    stop()


def train(lab: SimpleNamespace, app: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Make and train the ``app`` model with ``settings`` through the API; its status."""
    made = lab.client.post(f"/api/apps/{app}", json=settings)
    assert made.status_code == 200, made.text
    model = made.json()["id"]
    started = lab.client.post(f"/api/apps/models/{model}/train")
    assert started.status_code == 200, started.text
    lab.apps.wait(model, timeout=300)
    status = lab.client.get(f"/api/apps/models/{model}").json()
    assert status["trained"] and not status["running"], status
    return status


@pytest.fixture(scope="module")
def trained(lab: SimpleNamespace) -> dict[str, dict[str, Any]]:
    """The TINY models, trained once for the module: application → status."""
    return {app: train(lab, app, settings) for app, settings in TINY.items()}


def post(lab: SimpleNamespace, path: str, body: Any) -> dict[str, Any]:
    answer = lab.client.post(path, json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


# ----------------------------------------------------------------------------- API


def test_the_baselines_on_hand_made_series():
    history = np.array([1.0, 2, 3, 4, 5, 6])
    assert last_value(history, 4).tolist() == [6, 6, 6, 6]
    assert seasonal_naive(history, 3, 4).tolist() == [4, 5, 6, 4]  # x̂_{o+h} = x_{o−s+(h mod s)}
    assert seasonal_naive(history, 1, 2).tolist() == [6, 6]  # a season of 1 is the last value
    assert errors([1.0, 2.0], [2.0, 4.0]) == {"mae": 1.5, "rmse": math.sqrt(2.5)}
    period = np.tile([0.0, 1.0, 3.0, 1.0, 0.0], 8)  # repeats every 5 values
    assert season_of(period, 12) == 5
    assert season_of(np.arange(40.0), 10) == 1  # a trend has no peak: s = 1
    with pytest.raises(ConfigError, match="season 7"):
        seasonal_naive(history, 7, 3)


def test_the_forecast_is_the_forecasting_applications_own(lab, trained):
    status = trained["forecast"]
    options = ForecastOptions(
        series="sines",
        length=600,
        window=12,
        cell="gru",
        hidden=8,
        steps=60,
        batch=32,
        horizon=48,
        seed=0,
    )
    direct = run_forecast(options)
    values = direct.series.values
    assert status["summary"]["nrmse"] == pytest.approx(direct.nrmse, rel=1e-9)
    assert status["summary"]["persistence_nrmse"] == pytest.approx(direct.persistence_nrmse)
    assert status["summary"]["train_points"] == 480 and status["summary"]["test_points"] == 120
    horizon, start = 12, 7
    view = post(
        lab, "/api/apps/forecast/view", {"model": status["id"], "horizon": horizon, "start": start}
    )
    o = 480 + start
    assert view["origin"] == o and view["x"] == list(range(o, o + horizon))
    np.testing.assert_allclose(view["truth"], values[o : o + horizon])
    network = closed_loop(direct.model, values[None, o - 12 : o], horizon)[0]
    np.testing.assert_allclose(view["forecasts"]["network"], network, rtol=1e-6)
    s = view["season"]
    assert 23 <= s <= 27  # the noisy sines' strongest period is 25
    seasonal = [values[o - s + h % s] for h in range(horizon)]
    np.testing.assert_allclose(view["forecasts"]["seasonal"], seasonal)
    np.testing.assert_allclose(view["forecasts"]["last_value"], [values[o - 1]] * horizon)
    for name, forecast in view["forecasts"].items():
        diff = np.array(forecast) - values[o : o + horizon]
        assert view["errors"][name]["mae"] == pytest.approx(np.abs(diff).mean())
        assert view["errors"][name]["rmse"] == pytest.approx(np.sqrt((diff**2).mean()))
    # pooled over every origin with 12 test values after it: 120 − 12 + 1
    assert view["origins"] == 109
    origins = 480 + np.arange(109)
    truth = values[origins[:, None] + np.arange(horizon)]
    held = values[origins - 1][:, None]
    assert view["pooled"]["last_value"]["mae"] == pytest.approx(np.abs(held - truth).mean())
    loop = closed_loop(direct.model, values[origins[:, None] - 12 + np.arange(12)], horizon)
    assert view["pooled"]["network"]["mae"] == pytest.approx(np.abs(loop - truth).mean(), rel=1e-6)
    assert view["history"] == pytest.approx(values[o - len(view["history"]) : o].tolist())


def test_the_genre_probabilities_are_the_classification_applications_own(lab, trained):
    summary = trained["classify"]["summary"]
    options = ClassifyOptions(
        data="genre", cell="gru", hidden=8, embedding_dim=16, tokens=40, epochs=1, seed=2
    )
    direct = run_classify(options)
    assert summary["accuracy"] == pytest.approx(direct.accuracy)
    assert summary["majority_rate"] == pytest.approx(direct.majority_rate)
    assert summary["confusion"] == direct.confusion.tolist()
    counts = np.bincount(direct.split.y_test, minlength=3)
    assert summary["test_counts"] == counts.tolist()
    assert summary["majority_label"] == direct.labels[int(counts.argmax())]
    assert summary["majority_rate"] == pytest.approx(counts.max() / counts.sum())
    assert summary["accuracy"] > summary["majority_rate"]  # even one epoch learns something
    # a passage offered to pick is that held-out passage, read the same way
    split = direct.split
    assert {e["genre"] for e in summary["examples"]} == {"comedy", "history", "tragedy"}
    for example in summary["examples"][:3]:
        k = example["index"]
        assert split.groups_test[k] == example["play"]
        assert direct.labels[split.y_test[k]] == example["genre"]
        answer = post(
            lab,
            "/api/apps/classify/text",
            {"model": trained["classify"]["id"], "text": example["text"]},
        )
        p = [c["p"] for c in answer["classes"]]
        row = split.x_test[k : k + 1, : split.lengths_test[k]]
        np.testing.assert_allclose(p, predict_proba(direct.model, row)[0], rtol=1e-6)
        np.testing.assert_allclose(p, classify_texts(direct.model, [example["text"]])[0], rtol=1e-6)
        assert sum(p) == pytest.approx(1) and answer["read"] == 40


def test_the_next_words_are_the_completion_applications_own(lab, trained):
    summary, model = trained["complete"]["summary"], trained["complete"]["id"]
    options = CompleteOptions(
        vocab_size=2000,
        val_fraction=0.02,
        cell="gru",
        hidden=32,
        embedding_dim=32,
        seq_len=16,
        batch=16,
        steps=40,
        minutes=2,
        eval_every=40,
        eval_tokens=20_000,
        seed=1,
    )
    direct = run_complete(options, text=corpus())
    assert summary["perplexity"] == pytest.approx(direct.perplexity, rel=1e-6)
    assert summary["val_tokens"] == direct.val_tokens
    # the unigram baseline, from the training text's counts: exp(−mean log p(w))
    train_text, val_text = split_text(corpus(), 0.02)
    vocab = WordVocab.from_text(train_text, max_size=2000)
    p = vocab.counts / vocab.counts.sum()
    ids = vocab.encode(val_text)
    assert summary["unigram_perplexity"] == pytest.approx(math.exp(-np.log(p[ids[1:]]).mean()))
    answer = post(
        lab, "/api/apps/complete/next", {"model": model, "text": "To be, or not to ___", "k": 10}
    )
    assert answer["prompt"] == "To be, or not to"
    expected = next_distribution(direct.model, "To be, or not to", k=10)
    assert [i["word"] for i in answer["items"]] == [w for w, _ in expected]
    np.testing.assert_allclose([i["p"] for i in answer["items"]], [p for _, p in expected])
    for item in answer["items"]:  # appending a word adds exactly that token
        if item["word"] == "<unk>":
            assert item["join"] is None
            continue
        longer = WordVocab.tokenize(answer["prompt"] + item["join"])
        assert longer == [*WordVocab.tokenize(answer["prompt"]), item["word"]]


ONE_LINE_ERRORS = [
    ("/api/apps/forecast", {"hidden_size": 1000}, 422, "hidden_size"),
    ("/api/apps/forecast", {"series": "bitcoin"}, 422, "series"),
    ("/api/apps/forecast", {"steps": "5"}, 422, "steps"),
    ("/api/apps/forecast", {"window": 2}, 422, "window"),
    ("/api/apps/classify", {"epochs": 4}, 422, "epochs"),
    ("/api/apps/complete", {"typo": 1}, 422, "typo"),
    ("/api/apps/complete", {"steps": 10**9}, 422, "steps"),
    ("/api/apps/forecast/view", {"model": "nope"}, 404, "unknown application model"),
    ("/api/apps/models/nope/train", None, 404, "unknown"),
    ("/api/apps/forecast/view", {"model": "M", "horizon": 49}, 422, "horizon"),
    ("/api/apps/classify/text", {"model": "M", "text": ""}, 422, "text"),
    ("/api/apps/classify/text", {"model": "M", "text": "x" * 2001}, 422, "text"),
    ("/api/apps/complete/next", {"model": "M", "text": "to", "k": 21}, 422, "k"),
]


@pytest.mark.parametrize(("path", "body", "status", "says"), ONE_LINE_ERRORS)
def test_bad_requests_get_a_one_line_error(lab, path, body, status, says):
    answer = lab.client.post(path, json=body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert list(error) == ["error"] and "\n" not in error["error"] and says in error["error"]


def test_questions_a_model_cannot_answer_get_a_one_line_error(lab, trained):
    untrained = post(lab, "/api/apps/forecast", {"seed": 9})["id"]
    ids = {app: status["id"] for app, status in trained.items()}
    cases = [
        ("/api/apps/forecast/view", {"model": untrained}, "not trained yet"),
        ("/api/apps/forecast/view", {"model": ids["classify"]}, "not a forecast model"),
        (
            "/api/apps/forecast/view",
            {"model": ids["forecast"], "horizon": 24, "start": 97},
            "0 to 96",
        ),
        ("/api/apps/classify/text", {"model": ids["classify"], "text": "   "}, "no words"),
        ("/api/apps/complete/next", {"model": ids["complete"], "text": "___"}, "has no words"),
    ]
    for path, body, says in cases:
        answer = lab.client.post(path, json=body)
        assert answer.status_code == 400, answer.text
        error = answer.json()["error"]
        assert says in error and "\n" not in error, error
    bad_json = lab.client.post(
        "/api/apps/forecast", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["error"]


def test_an_application_trains_only_while_nothing_else_does(lab, trained, monkeypatch):
    text_model = lab.lab.ensure(ModelSpec(cell="gru", hidden_size=8))
    lab.lab.train(text_model.id, 1, 3e-3)  # its trainer is made: training again takes no lock
    lab.lab.wait(text_model.id, timeout=60)
    long_run = {"cell": "gru", "steps": 3000, "hidden_size": 64}
    app_model = post(lab, "/api/apps/forecast", long_run)["id"]
    with text_model.lock:  # a lab model trains (waiting for its lock): the applications wait
        lab.lab.train(text_model.id, 20, 3e-3)
        try:
            busy = lab.client.post(f"/api/apps/models/{app_model}/train")
            assert busy.status_code == 409 and text_model.id in busy.json()["error"]
        finally:
            lab.lab.stop(text_model.id)
    lab.lab.wait(text_model.id, timeout=60)
    # now the other way round: the forecaster trains, held at a gate before its first step
    gate = threading.Event()
    forecast = lab.apps._forecast

    def held(model: Any, report: Any) -> None:
        gate.wait(60)
        forecast(model, report)

    monkeypatch.setattr(lab.apps, "_forecast", held)
    try:
        started = lab.client.post(f"/api/apps/models/{app_model}/train")
        assert started.status_code == 200 and started.json()["running"]
        with pytest.raises(BusyError, match=app_model):
            lab.lab.train(text_model.id, 10, 3e-3)
        again = lab.client.post(f"/api/apps/models/{app_model}/train")
        assert again.status_code == 409
    finally:
        lab.client.post(f"/api/apps/models/{app_model}/stop")  # its first report stops it
        gate.set()
    lab.apps.wait(app_model, timeout=60)
    status = lab.client.get(f"/api/apps/models/{app_model}").json()
    assert not status["running"] and not status["trained"]
    assert (
        status["message"].startswith("stopped at step") and "nothing was kept" in status["message"]
    )
    assert lab.lab.claimed is None  # the slot is given back
    lab.lab.train(text_model.id, 1, 3e-3)
    lab.lab.wait(text_model.id, timeout=60)


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def open_apps(browser: Any, url: str, phone: bool = False) -> tuple[Page, list[str]]:
    """The lab at ``url`` with the applications panel ready, and the errors the page
    reports."""
    page = browser.new_page(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    page.wait_for_selector("[data-panel=apps][data-ready=true]", timeout=TIMEOUT)
    return page, errors


def show(page: Page, app: str) -> None:
    """Choose the tab of ``app`` and wait until its trained model's answer is drawn."""
    page.locator(f"#app-tab-{app}").click()
    page.wait_for_selector(f"#app-{app}[data-state=trained][data-ready=true]", timeout=TIMEOUT)


def wait_text(page: Page, selector: str, text: str) -> None:
    """Wait until the element ``selector`` says ``text``."""
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent.includes(t)",
        arg=[selector, text],
        timeout=TIMEOUT,
    )


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator("[data-panel=apps]").screenshot(path=str(ARTIFACTS / f"{name}.png"))


BARS = """rows => rows.map(r => ({
  p: Number(r.dataset.prob), name: r.dataset.name,
  fill: r.querySelector('.fill').getBoundingClientRect().width,
  track: r.querySelector('.track').getBoundingClientRect().width,
}))"""


def test_each_tab_trains_in_the_page_and_shows_its_result(browser, lab):
    address = "?fcell=gru&fhidden=8&fwindow=12&fsteps=40&fseed=4&kcell=gru&khidden=8&kseed=5"
    page, errors = open_apps(browser, lab.url + address + "&wcell=gru&whidden=32&wsteps=30")
    for app, prefix in PANES.items():
        page.locator(f"#app-tab-{app}").click()
        pane = page.locator(f"#app-{app}")
        assert pane.get_attribute("data-state") == "untrained"
        assert "not trained yet" in page.locator(f"#{prefix}-progress").inner_text()
        page.locator(f"#{prefix}-train").click()
        page.wait_for_selector(f"#app-{app}[data-state=trained][data-ready=true]", timeout=120_000)
        assert "trained" in page.locator(f"#{prefix}-progress").inner_text()
    # the forecast: five lines, and the error table's numbers are the API's
    show(page, "forecast")
    lines = page.locator("#fc-chart path.series").evaluate_all("ps => ps.map(p => p.dataset.line)")
    assert lines == ["history", "truth", "network", "last_value", "seasonal"]
    model = page.locator("#app-forecast").get_attribute("data-model")
    view = post(lab, "/api/apps/forecast/view", {"model": model, "horizon": 24, "start": 0})
    cells = page.locator("#fc-errors tbody tr[data-line=network] td").all_inner_texts()
    assert cells == [f"{view['errors']['network'][k]:.3f}" for k in ("mae", "rmse")] + [
        f"{view['pooled']['network']['mae']:.3f}"
    ]
    # the genres: three bars as long as their probabilities, which add up to 1
    show(page, "classify")
    bars = page.locator("#cl-bars .bar-row").evaluate_all(BARS)
    assert [b["name"] for b in bars] == ["comedy", "history", "tragedy"]
    assert sum(b["p"] for b in bars) == pytest.approx(1, abs=1e-6)
    for bar in bars:
        assert abs(bar["fill"] - bar["p"] * bar["track"]) <= 1, bar
    # the next words: ten bars; a click appends the word and asks again
    show(page, "complete")
    words = page.locator("#wc-bars .bar-row").evaluate_all(BARS)
    assert len(words) == 10
    for bar in words:
        assert abs(bar["fill"] - bar["p"] * bar["track"]) <= 1, bar
    before = page.locator("#wc-text").input_value()
    page.locator("#wc-bars button.pick").first.click()
    page.wait_for_function(
        "n => document.querySelector('#wc-text').value.length > n", arg=len(before)
    )
    page.wait_for_selector("#app-complete[data-ready=true]", timeout=TIMEOUT)
    assert page.locator("#wc-caption").inner_text().count("“") >= 1
    assert errors == []
    page.close()


def tab_to(page: Page, selector: str, limit: int = 60, back: bool = False) -> None:
    """Press Tab (Shift+Tab with ``back``) until the focus is on ``selector``."""
    for _ in range(limit):
        page.keyboard.press("Shift+Tab" if back else "Tab")
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
    raise AssertionError(f"the Tab key never reached {selector}")


ACTIVE_TAB = "#app-tabs [role=tab][aria-selected=true]"


def test_the_keyboard_alone_chooses_tabs_settings_words_and_trains(browser, lab, trained):
    page, errors = open_apps(browser, lab.url + "?" + TINY_ADDRESS)
    page.locator("#panel-apps .lead").click()  # the Tab key goes on from the panel's text
    tab_to(page, ACTIVE_TAB)
    for app in ("classify", "complete", "forecast"):  # → moves along the tabs, round the ring
        page.keyboard.press("ArrowRight")
        assert page.evaluate("() => document.activeElement.dataset.app") == app
        assert page.locator(f"#app-{app}").is_visible()
        assert page.locator(f"#app-tab-{app}").get_attribute("aria-selected") == "true"
    page.wait_for_selector("#app-forecast[data-ready=true]", timeout=TIMEOUT)
    # a new seed typed, the change taken on leaving the field, trained with Enter
    tab_to(page, "#fc-seed")
    page.keyboard.press("Control+a")
    page.keyboard.type("6")
    page.keyboard.press("Tab")
    page.wait_for_selector("#app-forecast[data-state=untrained]", timeout=TIMEOUT)
    assert page.evaluate("() => document.activeElement.id") == "fc-train"
    page.keyboard.press("Enter")
    page.wait_for_selector("#app-forecast[data-state=trained][data-ready=true]", timeout=60_000)
    assert page.locator("#app-forecast").get_attribute("data-model").endswith("-s6")
    # the horizon (a select) and the origin (a slider)
    tab_to(page, "#fc-horizon")
    page.keyboard.press("ArrowUp")  # 24 → 12
    wait_text(page, "#fc-errors", "these 12")
    tab_to(page, "#fc-start")
    page.keyboard.press("ArrowRight")
    wait_text(page, "#fc-start-label", "test value 2 of")
    # a passage picked with Enter
    tab_to(page, ACTIVE_TAB, back=True)
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#app-classify[data-ready=true]", timeout=TIMEOUT)
    tab_to(page, "#cl-examples .example:nth-child(3)")
    page.keyboard.press("Enter")
    page.wait_for_selector("#cl-examples .example:nth-child(3).active", timeout=TIMEOUT)
    assert "history" in page.locator("#cl-examples .example:nth-child(3)").inner_text()
    # words appended with Enter, one after the other
    tab_to(page, ACTIVE_TAB, back=True)
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("#app-complete[data-ready=true]", timeout=TIMEOUT)
    tab_to(page, "#wc-bars button.pick")
    for _ in range(2):
        before = page.locator("#wc-text").input_value()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "n => document.querySelector('#wc-text').value.length > n", arg=len(before)
        )
        page.wait_for_selector("#app-complete[data-ready=true]", timeout=TIMEOUT)
        page.wait_for_function("() => document.activeElement.matches('#wc-bars button.pick')")
    assert errors == []
    page.close()


def axe_on_apps(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations inside the applications panel."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    return page.evaluate(
        """async () => (await axe.run('[data-panel=apps]', {resultTypes: ['violations']}))
             .violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                    nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))"""
    )


def open_tables(page: Page) -> None:
    page.evaluate(
        "() => document.querySelectorAll('[data-panel=apps] details').forEach(d => (d.open = true))"
    )
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-panel=apps] details')]
              .filter(d => d.offsetParent !== null).every(d => d.querySelector('table'))"""
    )


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_every_tab_passes_axe_has_no_overlapping_texts_and_is_photographed(
    browser, lab, trained, phone
):
    page, errors = open_apps(browser, lab.url + "?" + TINY_ADDRESS, phone=phone)
    found = {}
    for app in PANES:
        show(page, app)
        open_tables(page)
        found[app] = serious(axe_on_apps(page))
        overlaps = [o for o in page.evaluate(OVERLAPS) if o.startswith("apps:")]
        assert overlaps == [], (app, overlaps)
        shoot(page, f"apps-{app}" + ("-phone" if phone else ""))
    assert all(not v for v in found.values()), found
    assert errors == []
    page.close()


#: what the panel shows, to compare two pages
VIEW = """() => {
  const text = (s) => document.querySelector(s)?.textContent ?? null;
  const value = (s) => document.querySelector(s)?.value ?? null;
  return {
    tab: document.querySelector('[data-panel=apps]').dataset.tab,
    settings: [...document.querySelectorAll('.app-settings select, .app-settings input')]
      .map(c => c.value),
    horizon: value('#fc-horizon'), start: value('#fc-start'), label: text('#fc-start-label'),
    errors: text('#fc-errors'), classify: value('#cl-text'), genres: text('#cl-bars'),
    prompt: value('#wc-text'), words: text('#wc-bars'), score: text('#wc-score'),
    open: [...document.querySelectorAll('[data-panel=apps] details')].filter(d => d.open)
      .map(d => d.id),
  };
}"""


def test_the_address_holds_the_panels_settings_and_reopens_the_same_view(browser, lab, trained):
    page, errors = open_apps(browser, lab.url + "?" + TINY_ADDRESS)
    show(page, "forecast")
    page.locator("#fc-horizon").select_option("12")
    wait_text(page, "#fc-errors", "these 12")
    page.locator("#fc-start").fill("30")
    wait_text(page, "#fc-start-label", "test value 31 of")
    show(page, "classify")
    page.locator("#cl-text").fill("Now is the winter of our discontent made glorious summer")
    page.locator("#cl-go").click()
    wait_text(page, "#cl-caption", "of the 10 words")
    show(page, "complete")
    page.locator("#wc-text").fill("My lord, I")
    wait_text(page, "#wc-caption", "after “My lord, I”")
    page.locator("#wc-table-box summary").click()
    wanted = [
        "app=complete",
        "fh=12",
        "fstart=30",
        "ktext=Now+is",
        "wtext=My+lord",
        "open=wc-table-box",
    ]
    page.wait_for_function("w => w.every(s => location.search.includes(s))", arg=wanted)
    page.wait_for_function("() => document.body.dataset.address === location.search")
    address = page.url
    before = page.evaluate(VIEW)
    page.close()
    again, again_errors = open_apps(browser, address)
    again.wait_for_selector("#app-complete[data-ready=true]", timeout=TIMEOUT)
    wait_text(again, "#fc-errors", "these 12")
    wait_text(again, "#cl-caption", "of the 10 words")
    again.wait_for_selector("#wc-table-box table", timeout=TIMEOUT)
    after = again.evaluate(VIEW)
    assert after == before
    assert after["tab"] == "complete" and after["start"] == "30"
    assert again.url == address  # and it writes the same address back
    assert errors == [] and again_errors == []
    again.close()
