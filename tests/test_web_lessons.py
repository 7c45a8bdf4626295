"""The lessons and the BPTT panel.

BPTT written out (``rnnlab.web.bptt``): the per-step terms δ_t h_{t−1}ᵀ add up to the
gradient the library's backward pass accumulates, and ∂L/∂h_t, δ_t and ∂L/∂W equal those
of torch autograd on the material's equations with the same weights (float64); the update
is W − η·scale·∂L/∂W with torch's clipping factor; bad requests get one line.

The lessons, in a real headless Chromium: each opens from the header's list with its
settings and only its panels; its question says "right" to the right answer and gives
the chosen wrong answer's own feedback; axe-core finds no critical or serious violation;
no two texts overlap on a phone; the address keeps the lesson and the BPTT panel's
settings. Screenshots (desktop and phone) go to test-artifacts/web/lesson-*.png.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
from fastapi.testclient import TestClient
from playwright.sync_api import sync_playwright

from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.optim.clipping import clip_factor
from rnnlab.probe import language_model_gradient_norms
from rnnlab.web.app import create_app
from rnnlab.web.bptt import bptt_view, recurrent_terms, step_losses
from rnnlab.web.entry import LabError
from rnnlab.web.lab import Lab
from rnnlab.web.views import Prepared
from tests.test_web_access import (
    DESKTOP,
    OVERLAPS,
    PHONE,
    axe,
    open_every_table,
    screenshot,
    serious,
)
from tests.test_web_browser import ARGS, CHROMIUM, TIMEOUT, start
from tests.test_web_browser import corpus as browser_corpus

TEXT = "to be, or not to be: that is the question"


def rnn_model(hidden: int = 6, seed: int = 3, dtype: str = "float64") -> LanguageModel:
    from rnnlab.data.text import CharVocab

    vocab = CharVocab.from_text(TEXT)
    config = LanguageModelConfig(
        vocab_size=len(vocab), cell="rnn_tanh", hidden_size=hidden, dtype=dtype
    )
    return LanguageModel(config, seed=seed, vocab=vocab)


def prepared(model: LanguageModel, text: str = TEXT) -> Prepared:
    ids = model.vocab.encode(text)
    return Prepared("text", "test", list(text), model.embedding(ids[:, None]), ids=ids)


# -- the numbers -----------------------------------------------------------------------
def test_the_per_step_terms_add_up_to_the_gradient_of_the_backward_pass():
    model = rnn_model()
    ids = model.vocab.encode(TEXT)
    for grad in model.grads.values():
        grad[...] = 0
    records = language_model_gradient_norms(model, ids[:-1, None], ids[1:, None], at="all")
    # the probe leaves the gradients untouched: run the backward pass again to read them
    model.compute_loss(ids[:-1, None], ids[1:, None])
    rec = records[0]
    hidden, d_hidden = rec.hidden[:, 0, :], rec.d_hidden[:, 0, :]
    delta, term_norms, collected, total = recurrent_terms(hidden, d_hidden, "rnn_tanh")
    np.testing.assert_allclose(total, model.grads["rnn.weight_hh_l0"], atol=1e-12)
    # each step's term, and the sums from the end, written out the long way
    previous = np.vstack([np.zeros((1, hidden.shape[1])), hidden[:-1]])
    terms = [np.outer(delta[t], previous[t]) for t in range(len(hidden))]
    np.testing.assert_allclose(term_norms, [np.linalg.norm(term) for term in terms])
    sums = [np.linalg.norm(sum(terms[t:])) for t in range(len(terms))]
    np.testing.assert_allclose(collected, sums)
    assert term_norms[0] == 0  # h_0 = 0: the first step adds nothing to ∂L/∂W


def test_bptt_matches_torch_autograd_on_the_material_equations():
    torch = pytest.importorskip("torch")
    model = rnn_model()
    p = {k: torch.tensor(np.array(v), requires_grad=True) for k, v in model.params.items()}
    ids = model.vocab.encode(TEXT)
    U, W = p["rnn.weight_ih_l0"], p["rnn.weight_hh_l0"]
    b = p["rnn.bias_ih_l0"] + p["rnn.bias_hh_l0"]
    V, c = p["head.weight"], p["head.bias"]
    h = torch.zeros(W.shape[0], dtype=torch.float64)
    hs, losses = [], []
    for t in range(len(ids) - 1):
        x = torch.nn.functional.one_hot(torch.tensor(int(ids[t])), V.shape[0]).double()
        h = torch.tanh(U @ x + W @ h + b)  # h_t = f(U x_t + W h_{t−1} + b)
        h.retain_grad()
        hs.append(h)
        y = torch.log_softmax(V @ h + c, dim=0)  # log y_t = log g(V h_t + c)
        losses.append(-y[int(ids[t + 1])])
    loss = torch.stack(losses).mean()
    loss.backward()

    view = bptt_view(model, 0, prepared(model), lr=0.5, clip=None)
    d_hidden = np.array([float(h.grad.norm()) for h in hs])
    delta = np.array([float((h.grad * (1 - h.detach() ** 2)).norm()) for h in hs])
    np.testing.assert_allclose(view["d_hidden"], d_hidden, rtol=1e-3)
    np.testing.assert_allclose(view["delta"], delta, rtol=1e-3)
    np.testing.assert_allclose(view["losses"], [float(v.detach()) for v in losses], atol=1e-4)
    assert view["loss"] == pytest.approx(float(loss.detach()), abs=1e-4)
    assert view["collected"][0] == pytest.approx(float(W.grad.norm()), rel=1e-3)
    k = view["update"]["size"]
    np.testing.assert_allclose(view["update"]["dW"], W.grad[:k, :k].numpy(), rtol=1e-3)


def test_the_update_steps_every_weight_against_its_gradient_and_lowers_the_loss():
    model = rnn_model()
    weight = np.array(model.params["rnn.weight_hh_l0"])
    view = bptt_view(model, 0, prepared(model), lr=0.5, clip=None)
    u = view["update"]
    k = u["size"]
    np.testing.assert_allclose(u["W_before"], weight[:k, :k], rtol=1e-3)
    expected = np.array(u["W_before"]) - 0.5 * np.array(u["dW"])
    np.testing.assert_allclose(u["W_after"], expected, rtol=1e-3, atol=1e-6)
    assert u["scale"] == 1.0 and u["loss_before"] == view["loss"]
    assert u["loss_after"] < u["loss_before"]  # one small step of learning


def test_clipping_scales_the_whole_gradient_to_the_threshold():
    model = rnn_model()
    free = bptt_view(model, 0, prepared(model), lr=1.0, clip=None)["update"]
    model = rnn_model()
    clipped = bptt_view(model, 0, prepared(model), lr=1.0, clip=0.01)["update"]
    assert clipped["norm"] == pytest.approx(free["norm"], rel=1e-3) and free["norm"] > 0.01
    assert clipped["scale"] == pytest.approx(0.01 / free["norm"], rel=1e-3)
    moved = np.array(clipped["W_before"]) - np.array(clipped["W_after"])
    np.testing.assert_allclose(
        moved, clipped["scale"] * np.array(clipped["dW"]), rtol=2e-3, atol=1e-7
    )
    assert clip_factor(0.5, 1.0) == 1.0
    assert clip_factor(4.0, 1.0) == pytest.approx(0.25)


def test_a_relu_rnn_uses_its_own_slope_and_an_overflow_is_refused():
    model = rnn_model()
    model.rnn.mode = "rnn_relu"  # the same weights read through ReLU
    hidden = np.array([[0.5, 0.0], [2.0, 1.0]])
    d_hidden = np.array([[1.0, 1.0], [1.0, 1.0]])
    delta, _, _, _ = recurrent_terms(hidden, d_hidden, "rnn_relu")
    np.testing.assert_array_equal(delta, [[1.0, 0.0], [1.0, 1.0]])  # 1[h > 0], not 1 − h²
    relu = LanguageModel(
        LanguageModelConfig(vocab_size=len(model.vocab), cell="rnn_relu", hidden_size=6),
        seed=3,
        vocab=model.vocab,
    )
    relu.params["rnn.weight_hh_l0"][...] = 4 * np.eye(6)  # every step multiplies h by 4
    relu.params["rnn.bias_ih_l0"][...] = 1.0
    with pytest.raises(LabError, match="overflow"):
        bptt_view(relu, 0, prepared(relu, TEXT * 3), lr=0.5, clip=None)


def test_step_losses_are_the_cross_entropy_of_each_next_character():
    model = rnn_model()
    ids = model.vocab.encode(TEXT)
    losses, logits = step_losses(model, ids)
    p = np.exp(logits[:, 0, :]) / np.exp(logits[:, 0, :]).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(losses, -np.log(p[np.arange(len(ids) - 1), ids[1:]]))


def corpus() -> str:
    return (TEXT + " ") * 40


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Lab(corpus=corpus))) as client:
        yield client


def test_the_endpoint_writes_out_the_plain_rnn_beside_any_text_model(client):
    lstm = client.post("/api/models", json={"cell": "lstm", "hidden_size": 8}).json()["id"]
    body = {"model": lstm, "sequence": {"kind": "text", "text": "to be or"}, "lr": 1.0}
    answer = client.post("/api/bptt", json=body)
    assert answer.status_code == 200
    view = answer.json()
    assert view["cell"] == "rnn_tanh" and view["hidden_size"] == 8
    assert view["steps"] == 7 and len(view["d_hidden"]) == 7
    assert view["trained_steps"] == 0 and view["update"]["clip"] is None


@pytest.mark.parametrize(
    "change, status, words",
    [
        ({"lr": 0}, 422, "lr"),
        ({"lr": 11.0}, 422, "lr"),
        ({"clip": -1.0}, 422, "clip"),
        ({"sequence": {"kind": "text", "text": "x"}}, 422, "text"),
        ({"model": "nope"}, 404, "unknown model"),
    ],
)
def test_bad_requests_get_one_line(client, change, status, words):
    model = client.post("/api/models", json={"cell": "rnn_tanh", "hidden_size": 8}).json()
    body = {"model": model["id"], "sequence": {"kind": "text", "text": "to be"}} | change
    answer = client.post("/api/bptt", json=body)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert words in error and "\n" not in error


def test_a_numeric_model_is_refused_with_where_to_look(client):
    model = client.post("/api/models", json={"task": "sine", "hidden_size": 8}).json()
    answer = client.post("/api/bptt", json={"model": model["id"], "sequence": {"kind": "sine"}})
    assert answer.status_code == 400
    assert "choose Text in panel 2" in answer.json()["error"]


# -- the lessons in the browser ---------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The lab on a free loopback port (its models untrained: the lessons train none)."""
    url, stop = start(Lab(corpus=browser_corpus))
    yield url
    stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


#: the lesson box counts as a panel for the overlap check
LESSON_OVERLAPS = OVERLAPS.replace("'[data-panel]'", "'[data-panel], #lesson'")


#: the control that shows each setting a lesson opens with
SETTING = {
    "cell": "input[name=cell]:checked",
    "hidden": "#hidden",
    "layers": "#layers",
    "text": "#sequence-text",
    "ccompare": "#conn-compare",
    "ct": "#conn-t",  # 1-based in the address, 0-based on the slider
}


def chapters(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("async () => (await import('/static/js/lessons/chapters.js')).CHAPTERS")


def open_lesson(browser: Any, url: str, n: int, phone: bool = False) -> tuple[Any, list[str]]:
    """Lesson n, opened as a learner does: from the list in the page's header."""
    page = browser.new_page(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    page.locator(f"#lessons-list a[data-lesson='{n}']").click()
    page.wait_for_url(f"**lesson={n}*", timeout=TIMEOUT)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    return page, errors


def shown_panels(page: Any) -> list[str]:
    return page.evaluate(
        "() => [...document.querySelectorAll('main .panel[data-panel]')]"
        ".filter(p => !p.hidden).map(p => p.dataset.panel)"
    )


def wait_drawn(page: Any, panels: list[str]) -> None:
    for name in panels:
        if name in ("config", "sequence"):
            continue
        page.wait_for_selector(f"[data-panel={name}][data-ready=true]", timeout=TIMEOUT)


def answer(page: Any, k: int) -> tuple[str, str]:
    """Choose option k and check it: (verdict, feedback text)."""
    page.locator(f"#lesson-option-{k}").check()
    page.locator("#lesson-check").click()
    feedback = page.locator("#lesson-feedback")
    return feedback.get_attribute("data-verdict") or "", feedback.inner_text()


def test_every_lesson_opens_with_its_panels_its_question_answers_right_and_wrong_and_axe_passes(
    browser, server
):
    first, _ = open_lesson(browser, server, 1)
    every = chapters(first)
    first.close()
    assert len(every) == 7
    found = {}
    for n, chapter in enumerate(every, start=1):
        options = chapter["question"]["options"]
        rights = [k for k, option in enumerate(options) if option.get("right")]
        assert len(rights) == 1, chapter["id"]
        page, errors = open_lesson(browser, server, n)
        assert page.locator("#lesson-title").inner_text() == chapter["title"]
        assert page.locator("#lesson-count").inner_text() == f"Lesson {n} of 7"
        assert set(shown_panels(page)) == set(chapter["panels"])
        link = page.locator(f"#lessons-list a[data-lesson='{n}']")
        assert link.get_attribute("aria-current") == "page"
        for key, value in parse_qsl(chapter["settings"]):
            expected = str(int(value) - 1) if key == "ct" else value
            wait_drawn(page, chapter["panels"])
            assert page.locator(SETTING[key]).input_value() == expected, (n, key)
        wait_drawn(page, chapter["panels"])
        # no answer yet: the page asks for one
        page.locator("#lesson-check").click()
        assert page.locator("#lesson-feedback").get_attribute("data-verdict") == "none"
        wrong = next(k for k in range(len(chapter["question"]["options"])) if k not in rights)
        verdict, text = answer(page, wrong)
        expected = chapter["question"]["options"][wrong]["feedback"]
        assert verdict == "wrong" and "Not quite" in text
        assert expected.split("_{")[0][:30] in text  # that answer's own explanation
        verdict, text = answer(page, rights[0])
        assert verdict == "right" and text.startswith("✓ Right")
        assert page.locator("#lesson-prev").is_visible() == (n > 1)
        assert page.locator("#lesson-next").is_visible() == (n < 7)
        found[n] = checked(page, f"lesson-{n}-desktop")
        assert errors == [], (n, errors)
        page.close()
    assert all(not v for v in found.values()), json.dumps(found, ensure_ascii=False)


def checked(page: Any, name: str) -> dict[str, Any]:
    """What is wrong with the lesson on ``page`` with every table open: axe-core's critical
    or serious violations, and texts that overlap; a screenshot goes to ``name``.png."""
    open_every_table(page)
    wrong = {"axe": serious(axe(page)), "overlaps": page.evaluate(LESSON_OVERLAPS)}
    page.evaluate("() => window.scrollTo(0, 0)")
    screenshot(page, name)
    return {key: value for key, value in wrong.items() if value}


def test_on_a_phone_every_lesson_is_readable_and_axe_finds_nothing(browser, server):
    found = {}
    for n in range(1, 8):
        page, errors = open_lesson(browser, server, n, phone=True)
        wait_drawn(page, shown_panels(page))
        verdict, _ = answer(page, 0)  # the feedback is drawn too
        assert verdict in ("right", "wrong")
        found[n] = checked(page, f"lesson-{n}-phone")
        assert errors == [], (n, errors)
        page.close()
    assert all(not v for v in found.values()), json.dumps(found, ensure_ascii=False)


def test_the_bptt_panel_walks_back_step_by_step_and_the_address_keeps_it(browser, server):
    page, errors = open_lesson(browser, server, 2)
    page.wait_for_selector("[data-panel=bptt][data-ready=true]", timeout=TIMEOUT)
    steps = int(page.locator("#bptt-slider").get_attribute("max")) - 1
    assert steps == len("to be, or not to be") - 1
    # play runs the backward pass to the update by itself, then stops; reset goes back
    panel = page.locator("[data-panel=bptt]")
    page.locator("#bptt-speed").select_option("4")
    page.locator("#bptt-player .player-play").click()
    page.wait_for_function(
        "k => document.querySelector('[data-panel=bptt]').dataset.position === String(k)",
        arg=steps + 1,
        timeout=TIMEOUT,
    )
    page.wait_for_selector("#bptt-player[data-playing=false]", timeout=TIMEOUT)
    page.locator("#bptt-player .player-reset").click()
    assert panel.get_attribute("data-position") == "0"
    # the keyboard alone: focus ▶ and press it three times
    page.locator("#bptt-next").focus()
    for _ in range(3):
        page.keyboard.press("Enter")
    assert page.locator("[data-panel=bptt]").get_attribute("data-position") == "3"
    assert page.locator(".bptt-cell.visited").count() == 3
    assert page.locator(".bptt-cell.current").get_attribute("data-step") == str(steps - 2)
    assert f"t = {steps - 2}" in page.locator("#bptt-step").inner_text()
    page.locator("#bptt-lr").select_option("2")
    page.locator("#bptt-clip").select_option("0.1")
    page.wait_for_function("() => location.search.includes('bclip=0.1')", timeout=TIMEOUT)
    page.locator("#bptt-slider").fill(str(steps + 1))  # the update
    page.wait_for_function(
        "k => location.search.includes('bpos=' + k)", arg=steps + 1, timeout=TIMEOUT
    )
    said = page.locator("#bptt-step").inner_text()
    assert "W := W − η ∂L/∂W with η = 2" in said and "clipping" in said
    assert page.locator("#bptt-update.active table").count() == 3
    address = page.evaluate("location.href")
    page.close()
    again = browser.new_page(viewport=DESKTOP)
    again.goto(address)
    again.wait_for_selector("[data-panel=bptt][data-ready=true]", timeout=TIMEOUT)
    assert again.locator("#lesson-title").inner_text() == "Backpropagation through time"
    assert again.locator("#bptt-lr").input_value() == "2"
    assert again.locator("#bptt-clip").input_value() == "0.1"
    assert again.locator("[data-panel=bptt]").get_attribute("data-position") == str(steps + 1)
    screenshot(again, "bptt-update", "bptt")
    again.close()
    assert errors == []
