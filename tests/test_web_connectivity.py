"""Connectivity and select-and-match, the web lab's panels 11 and 12.

Connectivity (Madsen 2019): ‖∂y_t/∂x_s‖ from the project's own backward pass equals
PyTorch's autograd on the same weights (RNN, LSTM, GRU, text), and finite differences
in float64 (a numeric task); the output step is bounded; the three models are compared
at equal training or said not to be. Select and match (LSTMVis): the rule is a small
pure function, checked on a hand-made array and against its plain statement; every
match in the training text has every selected unit on, recomputed without the lab's
chunked reading, and comes from the weights the model has now (after a reset and
retraining too); bad requests get one line. In Chromium: both panels draw, the keyboard
alone chooses the output step, plays, pauses, steps and resets it and selects a span,
axe-core finds no critical or serious violation in them, no texts overlap on a phone,
the address holds t, the span, the threshold and the margin; screenshots go to
test-artifacts/web/.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import replace
from itertools import pairwise
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
with warnings.catch_warnings():  # starlette's note about its httpx client, not ours to act on
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from rnnlab.backend import use_backend
from rnnlab.models.sequence import SequenceModel
from rnnlab.probe import record
from rnnlab.web import limits
from rnnlab.web.app import create_app
from rnnlab.web.connectivity import both_ways, connectivity, reach
from rnnlab.web.lab import Lab
from rnnlab.web.match import (
    CorpusStates,
    layer_states,
    match_view,
    runs,
    suggestions,
    training_ids,
    unit_gaps,
    units_on,
)
from rnnlab.web.schemas import ModelSpec, SequenceSpec
from rnnlab.web.sequences import TEXT_EXAMPLES
from rnnlab.web.views import prepare
from tests.test_web_browser import corpus

TEXT = TEXT_EXAMPLES[0][1]  # "ROMEO:\nBut, soft! what light through yonder window breaks?"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab(corpus=corpus)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def client(lab: Lab) -> TestClient:
    return TestClient(create_app(lab))


def make(lab: Lab, train: int = 0, **spec: Any) -> Any:
    """The lab's model with ``spec`` (small), trained ``train`` more steps."""
    entry = lab.ensure(ModelSpec(**({"hidden_size": 12} | spec)))
    if train:
        lab.train(entry.id, train, 3e-3)
        lab.wait(entry.id, timeout=120)
    return entry


def one_line(response: Any, status: int) -> str:
    """A refusal with ``status`` and a one-line {"error": message}; the message."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message, message
    return message


# -- connectivity: the numbers ----------------------------------------------------------
def torch_connectivity(
    model: Any, ids: np.ndarray, t: int, read: int | None = None
) -> tuple[np.ndarray, float]:
    """‖∂ log p(x_{t+1}) / ∂x_s‖ for s ≤ t (s < ``read``, when given) by torch autograd in
    float64, same weights."""
    torch = pytest.importorskip("torch")
    from rnnlab.interop import to_torch

    rnn, head = to_torch(model.rnn).double(), to_torch(model.head).double()
    read = t + 1 if read is None else read
    x = torch.nn.functional.one_hot(torch.tensor(ids[:read]), model.config.vocab_size)
    x = x.double()[:, None, :].requires_grad_()
    out, _ = rnn(x)
    log_p = torch.log_softmax(head(out[t, 0]), dim=-1)[int(ids[t + 1])]
    log_p.backward()
    return x.grad[:, 0, :].norm(dim=-1).numpy(), float(log_p.detach())


def test_connectivity_of_rnn_lstm_and_gru_matches_torch_autograd(lab, client):
    entry = make(lab, train=15, cell="lstm")  # trained: its biases are not the initial ones
    t = 40
    answer = client.post("/api/connectivity", json={"model": entry.id, "t": t}).json()
    assert [s["cell"] for s in answer["series"]] == ["rnn_tanh", "lstm", "gru"]
    assert answer["labels"] == list(TEXT) and answer["steps"] == len(TEXT) - 1
    assert answer["target"] == TEXT[t + 1]
    ids = entry.model.vocab.encode(TEXT)
    for series in answer["series"]:
        model, steps = lab.sibling(entry, series["cell"])
        expected, log_p = torch_connectivity(model, ids, t)
        norms = np.array(series["norms"])
        assert norms.shape == (t + 1,)
        np.testing.assert_allclose(norms, expected, rtol=2e-3, atol=1e-5 * expected.max())
        assert abs(series["y"] - log_p) < 1e-4
        assert series["reach"] == reach(expected)
        assert series["trained_steps"] == steps


def test_reading_both_ways_reaches_the_inputs_after_t_and_matches_torch_autograd(lab, client):
    entry = make(lab, train=5, cell="gru")  # trained, yet compared fresh: equal footing
    t = 12
    body = {"model": entry.id, "t": t, "compare": "directions"}
    one, both = client.post("/api/connectivity", json=body).json()["series"]
    assert (one["name"], one["directions"], both["name"], both["directions"]) == (
        "one way",
        1,
        "both ways",
        2,
    )
    assert one["cell"] == both["cell"] == "gru"
    assert one["trained_steps"] == both["trained_steps"] == 0
    ids = entry.model.vocab.encode(TEXT)
    fresh, _ = lab.sibling(entry, "gru", fresh=True)
    twin = both_ways(fresh, entry.seed)
    for series, model, read in ((one, fresh, t + 1), (both, twin, len(ids))):
        expected, log_p = torch_connectivity(model, ids, t, read)
        norms = np.array(series["norms"])
        assert norms.shape == (read,)
        np.testing.assert_allclose(norms, expected, rtol=2e-3, atol=1e-5 * expected.max())
        assert abs(series["y"] - log_p) < 1e-4
    # reading both ways, the output at t depends on x_{t+1}: the character it predicts
    assert both["norms"][t + 1] > 0.01 * max(both["norms"])
    assert both["reach"] == reach(np.array(both["norms"][: t + 1]))


def test_connectivity_of_a_numeric_task_matches_finite_differences_in_float64(lab, client):
    entry = make(lab, task="adding", cell="gru", hidden_size=8)
    sequence = {"kind": "adding", "example": 0, "length": 12}
    t = 11
    answer = client.post(
        "/api/connectivity", json={"model": entry.id, "t": t, "sequence": sequence}
    ).json()
    assert answer["steps"] == 12 and answer["y"] == "output"
    series = {s["cell"]: s for s in answer["series"]}
    for cell in ("rnn_tanh", "gru"):
        model, _ = lab.sibling(entry, cell)
        model64 = SequenceModel(replace(model.config, dtype="float64"), seed=0).eval()
        model64.load_state_dict(model.state_dict())
        prepared = prepare(model, "adding", SequenceSpec(**sequence))
        x = prepared.x.astype(np.float64)

        def y(x: np.ndarray, model64: SequenceModel = model64) -> float:
            hidden, _ = model64.rnn(x[: t + 1])
            return float(model64.head(hidden)[t, 0, 0])

        eps = 1e-6
        grad = np.zeros(x.shape[::2])  # (T, F)
        with use_backend("numpy"):  # the reference cells: float64 needs no kernels compiled
            for s in range(t + 1):
                for f in range(x.shape[2]):
                    step = np.zeros_like(x)
                    step[s, 0, f] = eps
                    grad[s, f] = (y(x + step) - y(x - step)) / (2 * eps)
            norms, _ = connectivity(model64, replace(prepared, x=x), t)
        expected = np.linalg.norm(grad[: t + 1], axis=1)
        np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=1e-10)  # float64, ours
        np.testing.assert_allclose(  # the lab's answer, in the model's float32
            series[cell]["norms"], expected, rtol=2e-3, atol=1e-5 * expected.max()
        )
        with use_backend("numpy"):
            assert abs(series[cell]["y"] - y(x)) < 1e-4


def test_the_output_step_is_bounded_and_every_refusal_is_one_line(lab, client):
    entry = make(lab, cell="gru", hidden_size=10)
    last = len(TEXT) - 2  # the last character has no next one to predict
    assert client.post("/api/connectivity", json={"model": entry.id, "t": last}).status_code == 200
    message = one_line(
        client.post("/api/connectivity", json={"model": entry.id, "t": last + 1}), 400
    )
    assert f"0 … {last}" in message
    for t in (-1, limits.MAX_TEXT_STEPS, "3", True, 2.0, None):
        one_line(client.post("/api/connectivity", json={"model": entry.id, "t": t}), 422)
    one_line(client.post("/api/connectivity", json={"model": entry.id}), 422)  # t is needed
    one_line(client.post("/api/connectivity", json={"model": entry.id, "t": 1, "x": 1}), 422)
    one_line(client.post("/api/connectivity", json={"model": "nope", "t": 1}), 404)
    pairs = make(lab, task="reverse", cell="gru", hidden_size=8)
    assert "attention" in one_line(
        client.post("/api/connectivity", json={"model": pairs.id, "t": 1}), 400
    )


def test_the_three_models_are_compared_at_equal_training_or_said_not_to_be(lab, client):
    lstm = make(lab, train=12, cell="lstm", hidden_size=10)
    body = {"model": lstm.id, "t": 20}
    trained = client.post("/api/connectivity", json=body).json()["series"]
    assert {s["cell"]: s["trained_steps"] for s in trained} == {"rnn_tanh": 0, "lstm": 12, "gru": 0}
    fresh = client.post("/api/connectivity", json=body | {"untrained": True}).json()["series"]
    assert all(s["trained_steps"] == 0 for s in fresh)
    assert fresh[1]["norms"] != trained[1]["norms"]  # a fresh LSTM, not the trained one
    assert fresh[0]["norms"] == trained[0]["norms"]  # the same fresh RNN either way
    make(lab, train=7, cell="gru", hidden_size=10)  # the GRU of the same size, trained here
    again = client.post("/api/connectivity", json=body).json()["series"]
    assert [s["trained_steps"] for s in again] == [0, 12, 7]


def test_reach_is_the_furthest_input_with_one_percent_of_the_largest():
    assert reach(np.array([0.5, 0.001, 0.2, 1.0])) == 3
    assert reach(np.array([0.009, 0.02, 0.0, 1.0])) == 2
    assert reach(np.array([1.0])) == 0
    assert reach(np.zeros(4)) is None


# -- select and match: the rule -----------------------------------------------------------
#: 8 steps × 6 units; the span is 3 ≤ t < 5, the threshold 0.5
HAND = np.array(
    [  # unit: 0    1    2    3    4    5
        [0.0, 0.0, 0.0, 0.9, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.1, 0.9, 0.0, 0.2, 0.0, 0.5],  # step 2: just before the span
        [0.9, 0.9, 0.9, 0.9, 0.9, 0.9],  # step 3 ┐ the span
        [0.6, 0.8, 0.7, 0.6, 0.5, 0.7],  # step 4 ┘ (unit 4 is only at ℓ here: not on)
        [0.2, 0.0, 0.8, 0.4, 0.0, 0.1],  # step 5: just after
        [0.9, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)


def test_the_units_selected_are_on_over_the_span_and_off_around_it():
    # 0: switches on and off with the span (on again 2 steps after it); 1: already on
    # before it; 2: still on after it; 3: off around it, on 3 steps before; 4: only at ℓ
    # at one step of it (not above); 5: at ℓ just before it (so off there)
    assert units_on(HAND, 3, 5, 0.5, margin=1).tolist() == [0, 3, 5]
    assert units_on(HAND, 3, 5, 0.5, margin=2).tolist() == [3, 5]
    assert units_on(HAND, 3, 5, 0.5, margin=3).tolist() == [5]
    assert units_on(HAND, 3, 5, 0.5, margin=0).tolist() == [0, 1, 2, 3, 5]  # only "on"
    assert units_on(HAND, 3, 5, 0.85, margin=1).tolist() == []  # none stays above 0.85
    assert units_on(HAND, 0, 1, 0.5, margin=1).tolist() == [3]  # no step before the text
    assert units_on(HAND, 6, 8, -0.5, margin=1).tolist() == []  # everything on around it
    # how far ℓ could move: min(lowest inside − ℓ, ℓ − highest around)
    gaps = unit_gaps(HAND, np.array([0, 3, 5]), 3, 5, 0.5, 1)
    np.testing.assert_allclose(gaps, [0.1, 0.1, 0.0], atol=1e-12)


def rule_by_hand(hidden: np.ndarray, start: int, end: int, threshold: float, margin: int) -> list:
    """The rule as the panel states it, one unit and one step at a time."""
    T, H = hidden.shape
    chosen = []
    for j in range(H):
        on = all(hidden[t, j] > threshold for t in range(start, end))
        around = [t for t in range(start - margin, start)] + [t for t in range(end, end + margin)]
        off = all(hidden[t, j] <= threshold for t in around if 0 <= t < T)
        if on and off:
            chosen.append(j)
    return chosen


def test_the_rule_agrees_with_its_plain_statement_on_random_states():
    rng = np.random.default_rng(0)
    for _ in range(300):
        T, H = rng.integers(1, 12), rng.integers(1, 9)
        hidden = np.round(rng.uniform(-1, 1, (T, H)), 1)  # ties with ℓ happen
        start = int(rng.integers(0, T))
        end = int(rng.integers(start + 1, T + 1))
        threshold, margin = float(rng.choice([-0.2, 0.0, 0.3])), int(rng.integers(0, 4))
        expected = rule_by_hand(hidden, start, end, threshold, margin)
        assert units_on(hidden, start, end, threshold, margin).tolist() == expected


def test_runs_and_suggested_spans():
    assert runs(np.array([False, True, True, False, True])) == [(1, 3), (4, 5)]
    assert runs(np.array([True, True])) == [(0, 2)] and runs(np.array([False])) == []
    rng = np.random.default_rng(1)
    hidden = rng.uniform(-1, 1, (30, 10))
    found = suggestions(hidden, 0.2, 1, longest=6, count=4)
    assert found and len(found) <= 4
    for a, b in pairwise(found):
        assert a["units"] >= b["units"]
    for s in found:
        assert s["units"] == len(units_on(hidden, s["start"], s["end"], 0.2, 1))
        assert 1 <= s["end"] - s["start"] <= 6
    spans = sorted((s["start"], s["end"]) for s in found)
    assert all(b[0] >= a[1] for a, b in pairwise(spans))  # no overlap
    best = max(len(units_on(hidden, a, a + n, 0.2, 1)) for n in range(1, 7) for a in range(31 - n))
    assert found[0]["units"] == best


def test_the_corpus_readings_kept_are_the_last_ones_asked():
    made = []
    kept = CorpusStates(size=2)
    for key in ("a", "b", "a", "c", "b"):
        kept.get((key,), lambda key=key: made.append(key) or (key, np.zeros(1)))
    assert made == ["a", "b", "c", "b"]  # a again was kept; b was dropped for c


# -- select and match: the endpoint ---------------------------------------------------------
def find_span(client: TestClient, model: str, threshold: float) -> dict:
    """A span of the text where units switch on (the server's first suggestion)."""
    body = {"model": model, "start": 0, "end": 1, "threshold": threshold}
    first = client.post("/api/match", json=body).json()
    assert first["suggestions"], first
    chosen = first["suggestions"][0]
    return body | {"start": chosen["start"], "end": chosen["end"]}


def test_matches_in_the_training_text_have_every_selected_unit_on(lab, client):
    entry = make(lab, train=30, cell="lstm", hidden_size=16)
    body = find_span(client, entry.id, 0.1)
    answer = client.post("/api/match", json=body).json()
    model = entry.snapshot()
    ids = model.vocab.encode(TEXT)
    (own,) = record(model.rnn, model.embedding(ids[:, None]))  # one run, no chunks
    states = own.hidden[:, 0, :]
    units = units_on(states, body["start"], body["end"], 0.1, 1)
    assert sorted(u["unit"] for u in answer["units"]) == units.tolist() and len(units)
    assert answer["span"] == TEXT[body["start"] : body["end"]]
    assert len(answer["values"]) == min(len(units), limits.MAX_SHOWN_UNITS)
    # the training text, read here in a single call (the lab reads it in chunks)
    window = answer["window"]
    corpus_ids = training_ids(entry, lab.corpus)[:window]
    assert window == min(limits.MAX_MATCH_CORPUS_CHARS, limits.MAX_MATCH_VALUES // 16)
    (whole,) = record(model.rnn, model.embedding(corpus_ids[:, None]))
    hidden = whole.hidden[:, 0, :]
    np.testing.assert_allclose(layer_states(model, corpus_ids, 0), hidden, atol=1e-5)
    text = model.vocab.decode(corpus_ids)
    ordered = [u["unit"] for u in answer["units"]]
    all_on = (hidden[:, ordered] > 0.1).all(axis=1)
    assert answer["places"] == len(runs(all_on)) > 0
    assert 0 < len(answer["matches"]) <= limits.MAX_MATCHES
    for m in answer["matches"]:
        a, b = m["start"], m["end"]
        assert (hidden[a:b, ordered] > 0.1).all()  # every selected unit on at every step
        assert a == 0 or not all_on[a - 1]  # and the run is as long as it goes
        assert b == window or not all_on[b]
        chosen = set(units_on(hidden, a, b, 0.1, 1).tolist())
        jaccard = len(chosen & set(ordered)) / len(chosen | set(ordered))
        assert abs(m["score"] - jaccard) < 1e-4
        assert "".join(m["span"]) == text[a:b] or len(m["span"]) == 2
        assert m["before"] == text[max(0, a - limits.MATCH_CONTEXT) : a]
    scores = [m["score"] for m in answer["matches"]]
    assert scores == sorted(scores, reverse=True)


def direct_match(lab: Lab, model: Any, states_of: Any, body: dict) -> dict:
    """match_view over ``model``, the training text's states read now from ``states_of``."""

    def corpus(window: int) -> tuple[str, np.ndarray]:
        ids = training_ids(entry, lab.corpus)[:window]
        return states_of.vocab.decode(ids), layer_states(states_of, ids, 0)

    entry = lab.get(body["model"])
    ids = model.vocab.encode(TEXT)
    span = (body["start"], body["end"])
    return match_view(model, ids, corpus, span, body["threshold"], 0, 1)


def test_a_match_after_a_reset_and_retraining_comes_from_the_new_weights(lab, client):
    entry = make(lab, train=20, cell="gru", hidden_size=16)
    old = entry.snapshot()
    body = find_span(client, entry.id, 0.1)
    client.post("/api/match", json=body)  # its training text read under (model, 20 steps)
    lab.reset(entry.id)
    lab.train(entry.id, 20, 3e-2)  # the same number of steps, another learning rate
    lab.wait(entry.id, timeout=120)
    new = entry.snapshot()
    body = find_span(client, entry.id, 0.1)
    answer = client.post("/api/match", json=body).json()
    assert answer.pop("trained_steps") == 20 and answer.pop("source") == entry.source
    expected = direct_match(lab, new, new, body)
    assert expected["units"] and expected["places"] > 0
    assert answer == expected
    assert direct_match(lab, new, old, body)["matches"] != expected["matches"]  # not vacuous
    # a model dropped from memory and made again with the same id: other weights, a new name
    small = Lab(corpus=corpus, max_models=1)
    first = small.ensure(ModelSpec(hidden_size=8))
    small.ensure(ModelSpec(hidden_size=8, cell="gru"))  # drops the first
    again = small.ensure(ModelSpec(hidden_size=8))
    assert again.id == first.id and again.generation != first.generation


def test_bad_match_requests_get_one_line(lab, client):
    entry = make(lab, cell="lstm", hidden_size=12)
    body = {"model": entry.id, "start": 2, "end": 5, "threshold": 0.3}
    assert client.post("/api/match", json=body).status_code == 200
    assert "empty" in one_line(client.post("/api/match", json=body | {"end": 2}), 400)
    assert "empty" in one_line(client.post("/api/match", json=body | {"end": 1}), 400)
    beyond = one_line(client.post("/api/match", json=body | {"end": len(TEXT) + 1}), 400)
    assert f"at most {len(TEXT)}" in beyond
    for threshold in (1.0, -1.0, 1.5, "0.3", None, True):
        one_line(client.post("/api/match", json=body | {"threshold": threshold}), 422)
    for field, value in (
        ("start", -1),
        ("end", 0),
        ("end", limits.MAX_TEXT_STEPS + 1),
        ("margin", limits.MAX_MATCH_MARGIN + 1),
        ("layer", -1),
        ("k", 1),
    ):
        one_line(client.post("/api/match", json=body | {field: value}), 422)
    assert "layer" in one_line(client.post("/api/match", json=body | {"layer": 1}), 400)
    numeric = make(lab, task="sine", cell="gru", hidden_size=8)
    assert "text" in one_line(client.post("/api/match", json=body | {"model": numeric.id}), 400)
    unknown = body | {"sequence": {"kind": "text", "text": "ROMEO ~~"}}
    one_line(client.post("/api/match", json=unknown), 400)


# -- the panels in Chromium -----------------------------------------------------------------
pytest.importorskip("playwright")
from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.test_web_access import AXE, OVERLAPS, open_lab, screenshot, serious, tab_to  # noqa: E402
from tests.test_web_browser import ARGS, CHROMIUM, TIMEOUT, start  # noqa: E402

PANELS = ("connectivity", "match")


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
    lab.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


def drawn(page: Page, match: str = "", conn: str = "") -> None:
    """Wait until both panels have drawn their last answer (and match these conditions)."""
    for name, where in zip(PANELS, (conn, match), strict=True):
        page.wait_for_selector(f"[data-panel={name}][data-ready=true]{where}", timeout=TIMEOUT)


def open_panels(browser: Any, url: str, phone: bool = False) -> tuple[Page, list[str]]:
    page, errors = open_lab(browser, url, phone=phone)
    drawn(page)
    return page, errors


def pick_suggestion(page: Page) -> dict[str, int]:
    """Click the first span the panel suggests; wait for its units and matches."""
    button = page.locator("#match-suggest button").first
    start, end = (int(button.get_attribute(f"data-{k}")) for k in ("start", "end"))
    button.click()
    page.wait_for_selector(
        f"[data-panel=match][data-ready=true][data-start='{start}'][data-end='{end - 1}']"
        ":not([data-units=''])",
        timeout=TIMEOUT,
    )
    return {"start": start, "end": end}


def axe_in_panels(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations inside the two panels."""
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    return page.evaluate(
        """async (panels) => (await axe.run({include: panels.map(p => `[data-panel=${p}]`)},
             {resultTypes: ['violations']})).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))""",
        list(PANELS),
    )


ROWS = """rows => rows.map(r => ({
  cell: r.dataset.cell, reach: r.dataset.reach === 'null' ? null : Number(r.dataset.reach),
  trained: Number(r.dataset.trained),
  values: [...r.querySelectorAll('.c:not(.future)')].map(c => Number(c.dataset.value)),
  shares: [...r.querySelectorAll('.c:not(.future)')].map(c => Number(c.dataset.share)),
  future: r.querySelectorAll('.c.future').length,
  out: [...r.querySelectorAll('.c')].findIndex(c => c.classList.contains('out')),
}))"""


def test_both_panels_draw_and_their_words_follow_their_numbers(browser, server):
    page, errors = open_panels(browser, server)
    root = page.locator("[data-panel=connectivity]")
    steps = int(root.get_attribute("data-steps"))
    assert steps == len(TEXT) - 1 and root.get_attribute("data-t") == str(steps - 1)
    rows = page.locator("#conn-rows .conn-row").evaluate_all(ROWS)
    assert [r["cell"] for r in rows] == ["rnn_tanh", "lstm", "gru"]
    for row in rows:  # every input up to t shaded by its share of the row's largest
        values = np.array(row["values"])
        assert len(values) == steps and row["future"] == 1 and row["out"] == steps - 1
        np.testing.assert_allclose(row["shares"], values / values.max(), atol=1e-4)
        assert row["reach"] == reach(values)
    verdict = page.locator("#conn-verdict").inner_text()
    furthest = max(r["reach"] for r in rows)
    names = {"rnn_tanh": "RNN (tanh)", "lstm": "LSTM", "gru": "GRU"}
    best = [names[r["cell"]] for r in rows if r["reach"] == furthest]
    if len(best) < 3:
        assert f"The {' and the '.join(best)} reach" in verdict, verdict
    assert "Not an equal comparison" in verdict  # the LSTM trained here, the others not
    assert [r["trained"] for r in rows] == [0, 40, 0]
    # a click on a character chooses that output step; its table has a row per input
    page.locator("#conn-rows .conn-row[data-cell=lstm] .c[data-s='10']").click()
    page.wait_for_selector("[data-panel=connectivity][data-ready=true][data-t='10']")
    page.locator("#conn-table-box summary").click()
    page.wait_for_selector("#conn-table-box tbody tr", timeout=TIMEOUT)
    assert page.locator("#conn-table-box tbody tr").count() == 11
    # match: a mouse drag over characters 8 to 10 selects them
    chars = page.locator("#match-text .c")
    page.locator("#match-text").scroll_into_view_if_needed()
    first, last = chars.nth(7).bounding_box(), chars.nth(9).bounding_box()
    page.mouse.move(first["x"] + 3, first["y"] + 5)
    page.mouse.down()
    page.mouse.move(last["x"] + 3, last["y"] + 5, steps=4)
    page.mouse.up()
    drawn(page, "[data-start='7'][data-end='9']")
    assert "characters 8 to 10" in page.locator("#match-readout").inner_text()
    chosen = pick_suggestion(page)
    units = page.locator("[data-panel=match]").get_attribute("data-units").split(",")
    listed = page.locator("#match-units .unit-list li").evaluate_all(
        "items => items.map(i => i.dataset.unit)"
    )
    assert listed == units
    rows = page.locator("#match-map text.row-label").evaluate_all(
        "ts => ts.map(t => t.textContent)"
    )
    assert rows == [f"unit {u}" for u in units[: limits.MAX_SHOWN_UNITS]]
    marks = page.locator("#match-list li mark").all_inner_texts()
    places = int(page.locator("[data-panel=match]").get_attribute("data-places"))
    assert places > 0 and 0 < page.locator("#match-list li").count() <= limits.MAX_MATCHES
    assert marks and f"at {places:,} place" in page.locator("#match-summary").inner_text()
    page.locator("#match-table-box summary").click()
    page.wait_for_selector("#match-table-box tbody tr", timeout=TIMEOUT)
    header = page.locator("#match-table-box thead th").all_inner_texts()
    assert header[2:] == [f"unit {u}" for u in units[: limits.MAX_SHOWN_UNITS]]
    assert page.locator("#match-table-box tbody tr").count() == len(TEXT)
    assert chosen["end"] > chosen["start"]
    for name in PANELS:
        screenshot(page, f"{name}-desktop", name)
    bad = serious(axe_in_panels(page))
    assert not bad, bad
    assert errors == []
    page.close()


def test_the_keyboard_alone_chooses_the_output_step_plays_it_and_selects_a_span(browser, server):
    page, errors = open_panels(browser, server)
    steps = int(page.locator("[data-panel=connectivity]").get_attribute("data-steps"))
    tab_to(page, "#conn-t")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f"[data-panel=connectivity][data-ready=true][data-t='{steps - 2}']")
    label = page.locator("#conn-t").get_attribute("aria-valuetext")
    assert label.startswith(f"output step t = {steps - 1} of {steps}"), label
    page.keyboard.press("Home")
    page.wait_for_selector("[data-panel=connectivity][data-ready=true][data-t='0']")
    tab_to(page, "#conn-player .player-play")
    page.keyboard.press("Enter")  # play: the output step moves on by itself
    page.wait_for_selector("[data-panel=connectivity][data-t='2']", timeout=TIMEOUT)
    page.keyboard.press("Enter")  # and pauses
    assert page.locator("#conn-player .player-play").get_attribute("aria-pressed") == "false"
    page.wait_for_selector("#conn-player[data-playing=false][data-busy=false]", timeout=TIMEOUT)
    drawn(page)
    held = int(page.locator("[data-panel=connectivity]").get_attribute("data-t"))
    assert held >= 2
    page.keyboard.press("Tab")  # Step: one output step on
    assert page.evaluate("() => document.activeElement.classList.contains('player-step')")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"[data-panel=connectivity][data-ready=true][data-t='{held + 1}']")
    page.keyboard.press("Tab")  # Reset: back to the first output step
    assert page.evaluate("() => document.activeElement.classList.contains('player-reset')")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-panel=connectivity][data-ready=true][data-t='0']")
    page.locator("#conn-t").focus()
    page.keyboard.press("ArrowRight")  # the slider goes on from where the reset left it
    page.wait_for_selector("[data-panel=connectivity][data-ready=true][data-t='1']")
    # select and match: the text takes the focus; the arrows move, Shift+arrows stretch
    tab_to(page, "#match-text")
    for key in ("Home", "ArrowRight", "ArrowRight", "Shift+ArrowRight", "Shift+ArrowRight"):
        page.keyboard.press(key)
    drawn(page, "[data-start='2'][data-end='4']")
    assert "characters 3 to 5" in page.locator("#match-readout").inner_text()
    page.keyboard.press("Shift+ArrowLeft")
    drawn(page, "[data-start='2'][data-end='3']")
    tab_to(page, "#match-suggest button")
    start = page.evaluate("() => document.activeElement.dataset.start")
    page.keyboard.press("Enter")
    drawn(page, f"[data-start='{start}']:not([data-units=''])")
    tab_to(page, "#match-threshold")
    page.keyboard.press("ArrowLeft")  # 0.30 → 0.25
    drawn(page, "[data-threshold='0.25']")
    assert page.locator("#match-threshold-value").inner_text() == "0.25"
    assert errors == []
    page.close()


def test_on_a_phone_the_panels_keep_their_texts_apart(browser, server):
    page, errors = open_panels(browser, server, phone=True)
    page.locator("#match-text .c").nth(3).tap()  # a finger taps one character
    drawn(page, "[data-start='3'][data-end='3']")
    pick_suggestion(page)
    page.locator("#conn-rows .conn-row[data-cell=gru] .c[data-s='20']").tap()
    drawn(page, conn="[data-t='20']")
    for box in ("#conn-table-box", "#match-table-box"):
        page.locator(f"{box} summary").tap()
        page.wait_for_selector(f"{box} table", timeout=TIMEOUT)
    overlaps = [o for o in page.evaluate(OVERLAPS) if o.split(":")[0] in PANELS]
    assert overlaps == []
    for name in PANELS:  # nothing wider than the screen but the boxes that scroll
        width = page.locator(f"[data-panel={name}]").evaluate("p => p.scrollWidth - p.clientWidth")
        assert width <= 0, name
        screenshot(page, f"{name}-phone", name)
    bad = serious(axe_in_panels(page))
    assert not bad, bad
    assert errors == []
    page.close()


UNTRAINED = "() => document.querySelector('#conn-verdict').textContent.includes('are untrained')"
#: what the two panels show, to compare two pages
VIEW = """() => {
  const data = (p) => ({...document.querySelector(`[data-panel=${p}]`).dataset});
  const text = (s) => document.querySelector(s)?.textContent ?? null;
  const value = (s) => document.querySelector(s)?.value ?? null;
  return {conn: data('connectivity'), match: data('match'), verdict: text('#conn-verdict'),
          label: text('#conn-label'), compare: value('#conn-compare'), speed: value('#conn-speed'),
          threshold: value('#match-threshold'), margin: value('#match-margin'),
          units: text('#match-units'), summary: text('#match-summary'),
          matches: text('#match-list')};
}"""


def test_the_address_holds_the_output_step_the_span_the_threshold_and_the_margin(browser, server):
    page, errors = open_panels(browser, server)
    page.locator("#conn-t").fill("17")
    page.wait_for_selector("[data-panel=connectivity][data-ready=true][data-t='17']")
    page.locator("#conn-compare").select_option("untrained")
    page.wait_for_function(UNTRAINED, timeout=TIMEOUT)
    page.locator("#conn-speed").select_option("2")
    chosen = pick_suggestion(page)
    page.locator("#match-margin").select_option("2")
    drawn(page)
    page.locator("#match-threshold").fill("0.2")
    page.locator("#match-threshold").dispatch_event("input")
    drawn(page, "[data-threshold='0.2']")
    wanted = ["ct=18", "ccompare=untrained", "cspeed=2", f"ms={chosen['start'] + 1}"]
    wanted += [f"me={chosen['end']}", "mmargin=2", "thr=0.2"]
    page.wait_for_function(
        "wanted => wanted.every(s => location.search.includes(s))", arg=wanted, timeout=TIMEOUT
    )
    drawn(page)
    before = page.evaluate(VIEW)
    address = page.url
    page.close()
    again, again_errors = open_panels(browser, address)
    drawn(again, "[data-threshold='0.2']")
    after = again.evaluate(VIEW)
    assert after == before
    assert after["conn"]["t"] == "17" and after["compare"] == "untrained"
    assert after["speed"] == "2"
    assert after["match"]["start"] == str(chosen["start"]) and after["margin"] == "2"
    assert again.url == address  # and it writes the same address back
    assert errors == [] and again_errors == []
    again.close()
