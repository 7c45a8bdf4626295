"""Play mode, the five steps of generation and the compare-runs panel of the web lab.

API: a reset model is the fresh model again (its weights, and the same losses when it
trains again); POST /api/choose gives the logits and probabilities of the model itself
(checked against PyTorch running the same weights) and draws what ``rnnlab.generate``
draws; the lab's text models measure a validation loss on held-out text; a
metrics.jsonl written by the real trainer is read, and a malformed, unfinished, oversized
or too long one gives one line, never a traceback; every bad request is a one-line 4xx.

Browser (real Chromium): play walks the unrolled steps and pauses, step and reset;
generation's play reveals characters; the five steps light in order and feed the drawn
character back; training plays, pauses, steps and resets the loss curve; compare runs
overlays two runs and smoothing changes the drawn path (the smoothing is checked against
a reference EMA); axe-core, the keyboard alone, a phone without overlapping texts, the
address round trip, and screenshots in test-artifacts/web/.
"""

from __future__ import annotations

import itertools
import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient
from playwright.sync_api import Page, sync_playwright

from rnnlab.errors import ConfigError
from rnnlab.generate import sample
from rnnlab.runs import prepare_run
from rnnlab.train import evaluate
from rnnlab.web import limits
from rnnlab.web.app import create_app
from rnnlab.web.entry import train_shape
from rnnlab.web.lab import Lab, held_out
from rnnlab.web.runs import find_run_dirs, read_metrics, thin
from rnnlab.web.schemas import ModelSpec
from tests.test_web_access import DESKTOP, OVERLAPS, PHONE, axe, serious, tab_to
from tests.test_web_browser import ARGS, ARTIFACTS, CHROMIUM, TIMEOUT, corpus, start

CORPUS = corpus()[:30_000]
SMALL = {"hidden_size": 16}


def assert_refused(response: Any, status: int, contains: str = "") -> str:
    """A 4xx with {"error": one line}; returns the line."""
    assert response.status_code == status, response.text
    message = response.json()["error"]
    assert isinstance(message, str) and message and "\n" not in message
    assert contains in message, message
    return message


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab(corpus=lambda: CORPUS)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def client(lab: Lab) -> TestClient:
    return TestClient(create_app(lab))


def make(client: TestClient, **spec: Any) -> dict[str, Any]:
    response = client.post("/api/models", json=SMALL | spec)
    assert response.status_code == 200, response.text
    return response.json()


def train(client: TestClient, lab: Lab, model_id: str, steps: int) -> dict[str, Any]:
    assert client.post(f"/api/models/{model_id}/train", json={"steps": steps}).status_code == 200
    lab.wait(model_id, timeout=120)
    return client.get(f"/api/models/{model_id}/training").json()


# ----------------------------------------------------------------------------- reset


def test_a_reset_model_is_the_fresh_model_again_and_its_curve_is_kept(client, lab):
    model = make(client, cell="gru")
    fresh = Lab(corpus=lambda: CORPUS).ensure(ModelSpec(cell="gru", **SMALL)).model.state_dict()
    first = train(client, lab, model["id"], 8)
    trained = lab.get(model["id"]).model.state_dict()
    assert any(not np.array_equal(trained[k], fresh[k]) for k in fresh)
    info = client.post(f"/api/models/{model['id']}/reset", json={}).json()
    assert info["step"] == 0 and info["loss"] is None and not info["training"]
    state = lab.get(model["id"]).model.state_dict()
    assert all(np.array_equal(state[k], fresh[k]) for k in fresh)  # the seed's weights
    status = client.get(f"/api/models/{model['id']}/training").json()
    assert status["losses"] == [] and status["val_losses"] == [] and status["step"] == 0
    past = [r for r in client.get("/api/runs").json()["runs"] if r["kind"] == "past"]
    assert past[-1]["id"].startswith(model["id"] + "@") and "reset at step 8" in past[-1]["title"]
    assert past[-1]["train"] == first["losses"]
    # fresh weights, a fresh optimiser and the same batches: the same curve again
    assert train(client, lab, model["id"], 8)["losses"] == first["losses"]


def test_a_reset_is_refused_while_training_and_for_a_checkpoint(client, lab, tmp_path):
    model = make(client, cell="lstm")
    entry = lab.get(model["id"])
    train(client, lab, model["id"], 1)  # its trainer is made: training again takes no lock
    with entry.lock:  # the training thread waits for it before its next update: it trains on
        started = client.post(f"/api/models/{model['id']}/train", json={"steps": 20})
        assert started.status_code == 200 and started.json()["running"]
        try:
            assert_refused(client.post(f"/api/models/{model['id']}/reset", json={}), 409, "stop it")
        finally:
            client.post(f"/api/models/{model['id']}/stop", json={})
    lab.wait(model["id"], timeout=60)
    assert client.post(f"/api/models/{model['id']}/reset", json={}).status_code == 200
    assert_refused(client.post("/api/models/nothing-here/reset", json={}), 404, "unknown model")
    assert_refused(client.post("/api/models/bad%20id/reset", json={}), 422)
    run = checkpoint_run(tmp_path)
    with_checkpoint = TestClient(create_app(Lab(run, corpus=lambda: CORPUS)))
    assert_refused(with_checkpoint.post("/api/models/checkpoint/reset", json={}), 400, "checkpoint")


# ----------------------------------------------------------------------------- validation


def test_lab_text_models_measure_a_validation_loss_on_held_out_text(client, lab):
    model = make(client, cell="lstm")
    entry = lab.get(model["id"])
    _, ids = lab.corpus()
    n_val = len(ids) - int(len(ids) * (1 - limits.VAL_FRACTION))
    assert len(entry.val_data) == n_val and len(entry.train_data) == len(ids) - n_val
    assert np.array_equal(np.concatenate([entry.train_data, entry.val_data]), ids)
    assert f"the last {n_val:,} held out for validation" in model["source"]
    status = train(client, lab, model["id"], 60)
    steps = [step for step, _ in status["val_losses"]]
    assert steps == [0, limits.VAL_EVERY, 60]  # untrained, every VAL_EVERY, the end
    batch, seq_len = train_shape(len(entry.train_data))
    direct, _ = evaluate(entry.snapshot(), entry.val_data, batch, seq_len, limits.VAL_TOKENS)
    assert status["val_losses"][-1][1] == pytest.approx(direct, abs=1e-5)
    assert status["val_losses"][-1][1] < status["val_losses"][0][1]  # it learned something
    # a typed text too short to spare a tail trains on all of it, without validation
    short = np.arange(200) % 7
    assert held_out(short)[1] is None and len(held_out(short)[0]) == 200
    typed = make(client, corpus="text", text="hello recurrent world. " * 8)
    assert lab.get(typed["id"]).val_data is None
    assert train(client, lab, typed["id"], 3)["val_losses"] == []


# ----------------------------------------------------------------------------- choose


def test_the_five_steps_give_the_models_own_numbers(client, lab):
    torch = pytest.importorskip("torch")
    from rnnlab.interop import to_torch

    model = make(client, cell="lstm", hidden_size=24)
    train(client, lab, model["id"], 30)
    net = lab.get(model["id"]).snapshot()
    text, temperature = "ROMEO: But soft", 0.7
    body = {"model": model["id"], "text": text, "temperature": temperature, "k": 6}
    answer = client.post("/api/choose", json=body).json()
    # the reference: the same weights in PyTorch, one-hot inputs, then W_hy h + b_y
    ids = net.vocab.encode(text)
    x = torch.nn.functional.one_hot(torch.as_tensor(ids), len(net.vocab)).to(torch.float32)
    lstm, head = to_torch(net.rnn), to_torch(net.head)
    with torch.no_grad():
        hs, _ = lstm(x[:, None, :])
        logits = head(hs[-1, 0]).double()
        p = torch.softmax(logits / temperature, dim=0)
    h, h_prev = hs[-1, 0].double(), hs[-2, 0].double()
    read, update, score, draw = answer["read"], answer["update"], answer["score"], answer["draw"]
    assert read == {"symbol": "t", "index": int(ids[-1]), "vocab_size": len(net.vocab),
                    "encoding": "one-hot", "size": len(net.vocab)}  # fmt: skip
    assert update["t"] == len(text) and update["hidden_size"] == 24
    assert update["h_norm"] == pytest.approx(float(h.norm()), abs=1e-5)
    assert update["h_prev_norm"] == pytest.approx(float(h_prev.norm()), abs=1e-5)
    moved = (h - h_prev).abs()
    assert [u["unit"] for u in update["units"]] == moved.argsort(descending=True)[:4].tolist()
    for unit in update["units"]:
        assert unit["after"] == pytest.approx(float(h[unit["unit"]]), abs=1e-5)
    order = torch.argsort(logits, descending=True, stable=True)[:6].tolist()
    assert [item["index"] for item in score["items"]] == order
    assert [item["rank"] for item in score["items"]] == [1, 2, 3, 4, 5, 6]
    for item in score["items"]:
        i = item["index"]
        assert item["symbol"] == net.vocab.symbols[i]
        assert item["logit"] == pytest.approx(float(logits[i]), abs=1e-4)
        assert item["scaled"] == pytest.approx(float(logits[i]) / temperature, abs=1e-4)
        assert item["p"] == pytest.approx(float(p[i]), abs=1e-6) and item["q"] == item["p"]
    assert score["max"] == pytest.approx(float(logits.max()), abs=1e-4)
    log_z = torch.logsumexp(logits / temperature, dim=0)
    assert answer["softmax"]["log_normaliser"] == pytest.approx(float(log_z), abs=1e-5)
    assert draw["by"] == "seed" and draw["seed"] == 0  # drawn with seed 0 when none is given
    assert draw["symbol"] == sample(net, 1, text, temperature, seed=0)
    # step 5 draws what rnnlab.generate's sampler draws with the same seed
    for seed in range(6):
        got = client.post("/api/choose", json=body | {"seed": seed, "top_k": 5}).json()
        assert got["draw"]["symbol"] == sample(net, 1, text, temperature, top_k=5, seed=seed)
        assert got["draw"]["by"] == "seed" and 0 <= got["draw"]["u"] < 1
        assert got["softmax"]["drawable"] == 5
        assert [i["q"] > 0 for i in got["score"]["items"]] == [True] * 5 + [False]
        assert sum(i["q"] for i in got["score"]["items"]) == pytest.approx(1, abs=1e-5)
    # a character drawn elsewhere is reported wherever it ranks
    rare = net.vocab.symbols[int(torch.argmin(logits))]
    given = client.post("/api/choose", json=body | {"drawn": rare}).json()["draw"]
    assert given["symbol"] == rare and given["rank"] == len(net.vocab) and given["by"] == "given"
    assert given["p"] == pytest.approx(float(p.min()), abs=1e-6)


def test_bad_requests_for_the_five_steps_are_one_line_4xx(client):
    model = make(client, cell="gru")["id"]
    numeric = make(client, task="sine", cell="gru")["id"]
    ok = {"model": model, "text": "ROMEO", "temperature": 0.8}
    cases = [
        (ok | {"temperature": 0}, 422, "temperature"),
        (ok | {"temperature": 2.5}, 422, "temperature"),
        (ok | {"text": ""}, 422, "text"),
        (ok | {"text": "x" * (limits.MAX_CONTEXT + 1)}, 422, "text"),
        (ok | {"text": "ROMEO€"}, 400, "does not know"),
        (ok | {"drawn": "ab"}, 422, "drawn"),
        (ok | {"drawn": "€"}, 400, "drawn"),
        (ok | {"k": limits.MAX_TOP_K + 1}, 422, "k"),
        (ok | {"top_p": 0}, 422, "top_p"),
        (ok | {"seed": -1}, 422, "seed"),
        (ok | {"model": numeric}, 400, "not text"),
        (ok | {"model": "no-such-model"}, 404, "unknown model"),
        (ok | {"extra": 1}, 422, "extra"),
    ]
    for body, status, contains in cases:
        assert_refused(client.post("/api/choose", json=body), status, contains)


# ----------------------------------------------------------------------------- runs


def checkpoint_run(directory: Path) -> Path:
    """A real run of ``rnnlab train`` (tiny): its directory, with metrics.jsonl."""
    data = directory / "text.txt"
    data.write_text(CORPUS[:6000], encoding="utf-8")
    options = dict(hidden=8, batch_size=4, seq_len=16, eval_every=10, log_every=5)
    run = prepare_run(data=str(data), steps=20, sample_every=0, out=directory / "run", **options)
    run.trainer.fit()
    return directory / "run"


def test_a_metrics_file_of_rnnlab_train_is_read_as_its_two_curves(tmp_path):
    run = checkpoint_run(tmp_path)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    metrics = read_metrics(run / "metrics.jsonl")
    assert metrics.message == ""
    assert metrics.train == [(r["step"], r["loss"]) for r in rows if r["event"] == "train"]
    evals = [r for r in rows if r["event"] == "eval" and r.get("scope") != "all"]
    assert metrics.val == [(r["step"], r["val_loss"]) for r in evals]
    assert [s for s, _ in metrics.train] == [5, 10, 15, 20] and len(metrics.val) >= 3
    # the lab started on that run shows its curves next to the checkpoint
    lab = Lab(run, corpus=lambda: CORPUS)
    assert lab.run_dirs == [run.resolve()]
    runs = TestClient(create_app(lab)).get("/api/runs").json()["runs"]
    assert [r["kind"] for r in runs] == ["file"] and runs[0]["message"] == ""
    assert runs[0]["train"] == [[s, round(v, 5)] for s, v in metrics.train]
    assert runs[0]["title"] == f"{tmp_path.name}/run (rnnlab train)" and runs[0]["steps"] == 20


def test_malformed_unfinished_oversized_and_long_files_give_one_line(tmp_path, monkeypatch):
    def write(name: str, text: str) -> Path:
        path = tmp_path / name / "metrics.jsonl"
        path.parent.mkdir()
        path.write_text(text, encoding="utf-8")
        return path

    train_row = '{"event": "train", "step": %d, "loss": %s}\n'
    good = "".join(train_row % (s, 4 - s / 10) for s in (1, 2, 3))
    bad = write("bad", good + "{not json\n" + train_row % (4, 1.0))
    metrics = read_metrics(bad)
    assert [s for s, _ in metrics.train] == [1, 2, 3]
    assert "line 4" in metrics.message and "the rows before it are shown" in metrics.message
    for text, where in (
        (good + '["a list"]\n', "not a JSON object"),
        (good + '{"event": "train", "step": 4, "loss": "low"}\n', "'loss' is 'low'"),
        (good + '{"event": "eval", "step": 4}\n', "'val_loss' is None"),
        (good + b"\xff\n".decode("latin-1"), "line 4"),
        # steps that are no number int() can take: one line too, not an OverflowError
        (good + '{"event": "train", "step": 1e400, "loss": 1.0}\n', "'step' is inf"),
        (good + '{"event": "train", "step": Infinity, "loss": 1.0}\n', "'step' is inf"),
        (good + '{"event": "eval", "step": -Infinity, "val_loss": 1.0}\n', "'step' is -inf"),
        (good + '{"event": "train", "step": NaN, "loss": 1.0}\n', "'step' is nan"),
    ):
        name = f"case{len(list(tmp_path.iterdir()))}"
        got = read_metrics(write(name, text))
        assert where in got.message and "\n" not in got.message, got.message
        assert len(got.train) == 3
    # GET /api/runs answers for every run, one of them with such a line and its message
    huge = write("huge", good + '{"event": "train", "step": 1e400, "loss": 1.0}\n').parent
    lab = Lab(corpus=lambda: CORPUS, runs=[huge, bad.parent])
    answer = TestClient(create_app(lab)).get("/api/runs")
    assert answer.status_code == 200, answer.text
    shown = {r["title"]: r for r in answer.json()["runs"]}
    run = shown[f"{tmp_path.name}/huge (rnnlab train)"]
    assert "line 4: its 'step' is inf, not a finite number" in run["message"]
    assert run["train"] == [[s, round(4 - s / 10, 5)] for s in (1, 2, 3)]
    assert "line 4" in shown[f"{tmp_path.name}/bad (rnnlab train)"]["message"]
    # a row still being written (no newline yet) is left without a word
    unfinished = read_metrics(write("unfinished", good + '{"event": "train", "st'))
    assert len(unfinished.train) == 3 and unfinished.message == ""
    # a diverged run's NaN and inf losses are left out of the curve
    diverged = read_metrics(
        write("diverged", good + train_row % (4, "NaN") + train_row % (5, "Infinity"))
    )
    assert [s for s, _ in diverged.train] == [1, 2, 3] and diverged.message == ""
    monkeypatch.setattr(limits, "MAX_METRICS_BYTES", 50)
    large = read_metrics(bad)
    assert large.train == [] and "more than the 50" in large.message
    monkeypatch.setattr(limits, "MAX_METRICS_BYTES", 10**6)
    monkeypatch.setattr(limits, "MAX_METRICS_ROWS", 2)
    long = read_metrics(bad)
    assert [s for s, _ in long.train] == [1, 2] and "only its first 2 rows" in long.message
    missing = read_metrics(tmp_path / "nowhere" / "metrics.jsonl")
    assert missing.train == [] and "cannot read" in missing.message
    # the panel lists such a run with its line, and the others as usual
    lab = Lab(corpus=lambda: CORPUS, runs=[bad.parent, tmp_path / "unfinished"])
    runs = TestClient(create_app(lab)).get("/api/runs").json()["runs"]
    assert [len(r["train"]) for r in runs] == [2, 2] and "only its first 2" in runs[0]["message"]


def test_run_directories_are_found_and_bad_ones_refused_in_one_line(tmp_path, monkeypatch):
    for name in ("b", "a", "c"):
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "metrics.jsonl").write_text("")
    (tmp_path / "runs" / "not-a-run").mkdir()
    found = find_run_dirs([tmp_path / "runs", tmp_path / "runs" / "a"])
    assert [p.name for p in found] == ["a", "b", "c"]  # sorted, each once
    for paths, words in (
        ([tmp_path / "missing"], "no such directory"),
        ([tmp_path / "runs" / "not-a-run"], "no metrics.jsonl"),
    ):
        with pytest.raises(ConfigError, match=words) as error:
            find_run_dirs(paths)
        assert "\n" not in str(error.value)
    monkeypatch.setattr(limits, "MAX_RUN_DIRS", 2)
    with pytest.raises(ConfigError, match="at most 2"):
        find_run_dirs([tmp_path / "runs"])


def test_a_long_curve_is_thinned_to_every_kth_point_and_the_last():
    curve = [(step, 1 / step) for step in range(1, 2501)]
    kept = thin(curve, 1000)
    assert len(kept) <= 1000 and kept[0] == [1, 1.0] and kept[-1] == [2500, 0.0004]
    assert {b[0] - a[0] for a, b in itertools.pairwise(kept[:-1])} == {3}
    assert thin(curve[:10], 1000) == [[s, round(v, 5)] for s, v in curve[:10]]
    assert thin([], 1000) == []


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The lab with its default text model (LSTM 1×64) and a GRU 1×16 trained a little,
    and a run directory of rnnlab train whose log ends in a malformed line."""
    runs = tmp_path_factory.mktemp("runs") / "char"
    runs.mkdir()
    rows = [{"event": "train", "step": s, "loss": 4.2 - s / 50} for s in range(10, 110, 10)]
    rows += [{"event": "eval", "step": s, "val_loss": 4.0 - s / 60} for s in (50, 100)]
    lines = [json.dumps(r) for r in rows] + ["{oops"]
    (runs / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lab = Lab(corpus=corpus, runs=[runs])
    for spec, steps in (
        (ModelSpec(cell="lstm", hidden_size=64), 40),
        (ModelSpec(cell="gru", **SMALL), 60),
    ):
        entry = lab.ensure(spec)
        lab.train(entry.id, steps, 3e-3)
        lab.wait(entry.id, timeout=120)
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
    """The lab at ``url`` with the panels of this file drawn, and the errors it reports."""
    page = browser.new_page(viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    for ready in ("[data-panel=unrolled]", "#how", "[data-panel=runs]"):
        page.wait_for_selector(f"{ready}[data-ready=true]", timeout=TIMEOUT)
    return page, errors


def shot(page: Page, name: str, selector: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.locator(selector).screenshot(path=str(path))
    return path


def step_label(page: Page) -> int:
    return int(re.match(r"t = (\d+) /", page.locator("#step-label").inner_text())[1])


def playing(page: Page, player: str, value: bool) -> None:
    state = "true" if value else "false"
    page.wait_for_selector(f"#{player}[data-playing={state}]", timeout=TIMEOUT)
    if not value:
        page.wait_for_selector(f"#{player}:not([data-busy=true])", timeout=TIMEOUT)


def test_play_walks_the_unrolled_steps_pauses_steps_and_resets(browser, server):
    page, errors = open_lab(browser, server)
    box = page.locator("#unrolled-player")
    play = box.locator(".player-play")
    assert play.get_attribute("aria-pressed") == "false" and step_label(page) == 1
    page.locator("#unrolled-speed").select_option("4")
    play.click()
    assert play.get_attribute("aria-pressed") == "true" and "Pause" in play.inner_text()
    page.wait_for_function(
        "() => /^t = ([4-9]|\\d\\d) /.test(document.querySelector('#step-label').textContent)"
    )
    play.click()
    playing(page, "unrolled-player", False)
    paused = step_label(page)
    assert paused >= 4 and "Play" in play.inner_text()
    # the whole page follows the step, as with the slider
    page.wait_for_selector(f"[data-panel=equations][data-step='{paused - 1}']", timeout=TIMEOUT)
    box.locator(".player-step").click()  # one step from where it paused, no more
    page.wait_for_selector(f"[data-panel=equations][data-step='{paused}']", timeout=TIMEOUT)
    assert step_label(page) == paused + 1
    shot(page, "unrolled-play-desktop", "[data-panel=unrolled]")
    box.locator(".player-reset").click()
    page.wait_for_function(
        "() => document.querySelector('#step-label').textContent.startsWith('t = 1 ')"
    )
    # from two steps before the end, play stops by itself at the last step
    steps = int(page.locator("[data-panel=unrolled]").get_attribute("data-steps"))
    page.locator("#step-slider").fill(str(steps - 3))
    play.click()
    playing(page, "unrolled-player", False)
    assert step_label(page) == steps
    assert errors == []
    page.close()


def test_generation_play_reveals_characters_and_the_five_steps_light_in_order(browser, server):
    page, errors = open_lab(browser, server)
    page.locator("#gen-length").fill("24")
    page.locator("#gen-speed").select_option("4")
    box = page.locator("#gen-player")
    box.locator(".player-play").click()  # no text yet: it is generated first
    page.wait_for_function(
        "() => /^([3-9]|\\d\\d) \\/ 24$/"
        ".test(document.querySelector('#gen-position-label').textContent)",
        timeout=TIMEOUT,
    )
    box.locator(".player-play").click()
    playing(page, "gen-player", False)
    position = int(page.locator("#gen-position-label").inner_text().split(" / ")[0])
    visible = page.locator("#generated span.g").evaluate_all(
        "ss => ss.map(s => getComputedStyle(s).visibility)"
    )
    assert visible == ["visible"] * (position + 1) + ["hidden"] * (24 - position - 1)
    box.locator(".player-step").click()
    page.wait_for_function(
        f"() => document.querySelector('#gen-position-label').textContent === '{position + 1} / 24'"
    )
    page.wait_for_selector(f"#how[data-context='{6 + position + 1}']", timeout=TIMEOUT)
    # the five steps: Step lights them one after another, each with the model's numbers
    how = page.locator("#how-player")
    lit = [page.locator("#how-steps li.current").get_attribute("data-step")]
    for step in range(2, 6):
        how.locator(".player-step").click()
        page.wait_for_selector(f"#how[data-step='{step}']")
        lit.append(page.locator("#how-steps li.current").get_attribute("data-step"))
    assert lit == ["1", "2", "3", "4", "5"]
    assert page.locator("#how-steps li[aria-current=step]").count() == 1
    assert page.locator("#how-steps li[aria-current=step]").get_attribute("data-step") == "5"
    text = page.locator("#generated span.g").evaluate_all("ss => ss.map(s => s.textContent)")
    at = position + 1
    assert page.locator("#how").get_attribute("data-drawn") == text[at]  # what was drawn here
    bar = page.locator("#next-bars .bar-row.chosen .pct").inner_text()  # the bars agree
    assert f"p = {bar}" in page.locator("#how-steps li[data-step='5']").inner_text()
    assert "Step 5 of 5" in page.locator("#how-now").text_content()
    shot(page, "generation-steps-desktop", "[data-panel=generate]")
    # after step 5 the drawn character is read: the next position, from step 1 again
    how.locator(".player-step").click()
    page.wait_for_selector("#how[data-step='1']", timeout=TIMEOUT)
    assert page.locator("#gen-position-label").inner_text() == f"{at + 1} / 24"
    page.wait_for_selector(f"#how[data-context='{6 + at + 1}']", timeout=TIMEOUT)
    read = page.locator("#how-steps li[data-step='1']").inner_text()
    shown = {" ": "␣", "\n": "↵"}.get(text[at], text[at])
    assert f"‘{shown}’ has index" in read
    how.locator(".player-reset").click()
    assert page.locator("#how").get_attribute("data-step") == "1"
    box.locator(".player-reset").click()
    page.wait_for_function(
        "() => document.querySelector('#gen-position-label').textContent === '0 / 24'"
    )
    assert errors == []
    page.close()


def loss_points(page: Page) -> int:
    d = page.locator("#loss-chart path[data-kind=loss]").get_attribute("d") or ""
    return d.count("M") + d.count("L")


def test_training_plays_pauses_steps_and_resets_its_loss_curve(browser, server):
    page, errors = open_lab(browser, server + "?cell=rnn_tanh&hidden=8")
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('untrained')",
        timeout=TIMEOUT,
    )
    page.locator("#train-steps").fill("25")
    box = page.locator("#train-player")
    box.locator(".player-play").click()
    # chunk after chunk until paused
    page.wait_for_function(
        "() => Number(document.querySelector('[data-panel=config]').dataset.step) > 50",
        timeout=TIMEOUT * 2,
    )
    box.locator(".player-play").click()
    playing(page, "train-player", False)
    page.wait_for_selector("#train:not([disabled])", timeout=TIMEOUT)
    steps = int(re.search(r"trained (\d+) steps", page.locator("#model-info").inner_text())[1])
    assert steps > 50 and loss_points(page) == steps
    assert page.locator("#loss-chart path[data-kind=val]").count() == 1  # held-out text too
    box.locator(".player-step").click()  # ten more updates
    page.wait_for_function(
        "n => document.querySelector('#model-info').textContent.includes(`trained ${n} steps`)",
        arg=steps + 10,
        timeout=TIMEOUT,
    )
    assert loss_points(page) == steps + 10
    box.locator(".player-reset").click()
    page.wait_for_function(
        "() => document.querySelector('#model-info').textContent.includes('untrained')",
        timeout=TIMEOUT,
    )
    assert "not trained yet" in page.locator("#loss-chart").text_content()
    assert page.locator("#loss-chart path[data-kind=loss]").count() == 0
    # the curve before the reset is kept among the runs to compare
    page.wait_for_selector("#runs-list .run:has-text('reset at step')", timeout=TIMEOUT)
    assert f"reset at step {steps + 10}" in page.locator("#runs-list").inner_text()
    shot(page, "training-player-desktop", "[data-panel=config]")
    assert errors == []
    page.close()


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's debiased exponential moving average, written out."""
    out, m = [], 0.0
    for n, y in enumerate(values, 1):
        m = weight * m + (1 - weight) * y
        out.append(m / (1 - weight**n))
    return out


def test_compare_runs_overlays_two_runs_and_smoothing_changes_the_path(browser, server):
    page, errors = open_lab(browser, server)
    values = [4.1, 3.9, 4.0, 3.2, 3.5, 2.9, 3.1, None, 2.5]  # None: a loss that is not finite
    finite = [v for v in values if v is not None]
    for weight in (0.0, 0.6, 0.99):
        got = page.evaluate(
            """async ([v, w]) => (await import('/static/js/panels/runs.js'))
                 .smooth(v.map(x => x ?? Infinity), w).map(y => Number.isFinite(y) ? y : null)""",
            [values, weight],
        )
        expected = iter(ema(finite, weight))
        want = [None if v is None else next(expected) for v in values]  # passed through
        assert [g is None for g in got] == [w is None for w in want]
        for g, w in zip(got, want, strict=True):
            assert w is None or g == pytest.approx(w, rel=1e-12)
    runs = page.locator("#runs-list input[type=checkbox]")
    ids = runs.evaluate_all("cs => cs.map(c => c.value)")
    assert {"text-lstm-1x64", "text-gru-1x16", "file-1"} <= set(ids)
    assert "line 13" in page.locator("#runs-list").inner_text()  # the malformed last line
    smoothed = "#runs-chart path[data-smoothed][data-curve=train]"
    drawn = page.locator(smoothed).evaluate_all("ps => ps.map(p => p.dataset.run)")
    assert {"text-lstm-1x64", "text-gru-1x16", "file-1"} <= set(drawn)  # overlaid
    assert page.locator("#runs-chart path[data-raw]").count() == len(drawn)  # faint behind
    assert page.locator("#runs-chart path[data-curve=val]").count() >= 3
    lstm = f"{smoothed}[data-run=text-lstm-1x64]"
    before = page.locator(lstm).get_attribute("d")
    raw = page.locator("#runs-chart path[data-raw][data-run=text-lstm-1x64]").get_attribute("d")
    page.locator("#runs-smoothing").fill("0.95")
    page.wait_for_selector("[data-panel=runs][data-weight='0.95']")
    after = page.locator(lstm).get_attribute("d")
    assert after != before and after != raw
    page.locator("#runs-smoothing").fill("0")
    page.wait_for_selector("[data-panel=runs][data-weight='0']")
    assert page.locator(lstm).get_attribute("d") == raw  # no smoothing: the raw curve itself
    assert page.locator("#runs-chart path[data-raw]").count() == 0
    page.locator("#runs-smoothing").fill("0.6")
    # choose: one run, validation only, log scale
    for run in ids:
        if run != "text-lstm-1x64":
            page.locator(f"#runs-list input[value='{run}']").uncheck()
    assert page.locator(smoothed).evaluate_all("ps => ps.map(p => p.dataset.run)") == [
        "text-lstm-1x64"
    ]
    page.locator("#runs-curves").select_option("val")
    assert page.locator("#runs-chart path[data-curve=train]").count() == 0
    assert page.locator("#runs-chart path[data-curve=val]").count() == 1
    page.locator("#runs-scale").select_option("log")
    ticks = page.locator("#runs-chart .axis text[text-anchor=end]").evaluate_all(
        "ts => ts.map(t => [Number(t.textContent), Number(t.getAttribute('y'))])"
    )
    assert len(ticks) >= 3 and all(v > 0 for v, _ in ticks)  # round losses, not powers of 10
    per_decade = {
        round((y0 - y1) / np.log10(v1 / v0), 3) for (v0, y0), (v1, y1) in itertools.pairwise(ticks)
    }
    assert max(per_decade) - min(per_decade) < 0.01 * max(per_decade)  # evenly spaced in log
    page.locator("#runs-table-box summary").click()
    page.wait_for_selector("#runs-table-box table")
    rows = page.locator("#runs-table-box tbody tr").all_inner_texts()
    assert rows and all("validation" in r for r in rows)
    assert errors == []
    page.close()


def test_axe_the_keyboard_alone_and_a_phone_with_these_views_drawn(browser, server):
    page, errors = open_lab(browser, server)
    page.locator("#runs-table-box summary").click()
    page.locator("#how-player .player-step").click()
    page.wait_for_selector("#how[data-step='2']")
    violations = serious(axe(page))
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    # the keyboard alone: play and pause the unrolled steps, step them, change the speed
    tab_to(page, "#unrolled-player .player-play")
    page.keyboard.press("Enter")
    playing(page, "unrolled-player", True)
    page.keyboard.press("Space")
    playing(page, "unrolled-player", False)
    before = step_label(page)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('player-step')")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('#step-label').textContent.startsWith('t = {before + 1} ')"
    )
    tab_to(page, "#unrolled-speed")
    page.keyboard.press("ArrowDown")
    assert page.locator("#unrolled-speed").input_value() == "2"
    # the five steps, then a run's checkbox and the smoothing slider
    tab_to(page, "#how-player .player-step")
    page.keyboard.press("Enter")
    page.wait_for_selector("#how[data-step='3']")
    tab_to(page, "#runs-list input[value='text-gru-1x16']")
    page.keyboard.press("Space")
    assert page.locator("#runs-chart path[data-run='text-gru-1x16']").count() == 0
    tab_to(page, "#runs-smoothing")
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("[data-panel=runs][data-weight='0.59']")
    focus = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert focus != "none"  # the focus is visible
    assert errors == []
    page.close()
    phone, phone_errors = open_lab(browser, server, phone=True)
    phone.locator("#gen-length").fill("30")
    phone.locator("#gen-player .player-step").click()  # generates
    phone.wait_for_selector("#how[data-context='6']", timeout=TIMEOUT)
    phone.locator("#gen-player .player-step").click()
    phone.wait_for_selector("#how[data-context='7']", timeout=TIMEOUT)
    phone.locator("#top-k").select_option("5")
    phone.wait_for_function(
        "() => document.querySelector('#how-steps').textContent.includes('drawn with')"
    )
    phone.locator("#runs-table-box summary").click()
    assert phone.evaluate(OVERLAPS) == []
    for name, selector in (
        ("unrolled-play", "[data-panel=unrolled]"),
        ("generation-steps", "[data-panel=generate]"),
        ("runs", "[data-panel=runs]"),
    ):
        shot(phone, f"{name}-phone", selector)
    violations = serious(axe(phone))
    assert violations == [], json.dumps(violations, indent=1, ensure_ascii=False)
    assert phone_errors == []
    phone.close()


def test_the_address_keeps_speeds_the_lit_step_and_the_runs_shown(browser, server):
    page, errors = open_lab(browser, server)
    page.locator("#unrolled-speed").select_option("2")
    page.locator("#gen-speed").select_option("4")
    page.locator("#how-speed").select_option("0.5")
    for _ in range(2):
        page.locator("#how-player .player-step").click()
    page.wait_for_selector("#how[data-step='3']")
    page.locator("#runs-list input[value='file-1']").uncheck()
    page.locator("#runs-smoothing").fill("0.8")
    page.locator("#runs-curves").select_option("train")
    page.locator("#runs-scale").select_option("log")
    expected = [
        "uspeed=2",
        "gspeed=4",
        "hspeed=0.5",
        "hstep=3",
        "smooth=0.8",
        "rcurves=train",
        "rscale=log",
        "runs=",
    ]
    page.wait_for_function(
        "want => want.every(s => location.search.includes(s))", arg=expected, timeout=TIMEOUT
    )
    view = """() => {
      const value = (s) => document.querySelector(s).value;
      return {
        speeds: ['#unrolled-speed', '#gen-speed', '#how-speed'].map(value),
        lit: document.querySelector('#how-steps li.current').dataset.step,
        runs: [...document.querySelectorAll('#runs-list input')].map(c => [c.value, c.checked]),
        smoothing: document.querySelector('#runs-smoothing-value').textContent,
        curves: value('#runs-curves'), scale: value('#runs-scale'),
        paths: [...document.querySelectorAll('#runs-chart path.series')]
          .map(p => p.dataset.run + ':' + p.dataset.curve),
      };
    }"""
    before = page.evaluate(view)
    assert ["file-1", False] in before["runs"] and before["speeds"] == ["2", "4", "0.5"]
    before["runs"].sort()  # the lab lists its models most recently used last
    before["paths"].sort()
    address = page.url
    page.close()
    again, again_errors = open_lab(browser, address)
    again.wait_for_selector("#how[data-step='3']")
    after = again.evaluate(view)
    after["runs"].sort()
    after["paths"].sort()
    assert after == before
    assert again.url == address
    shot(again, "runs-desktop", "[data-panel=runs]")
    assert errors == [] and again_errors == []
    again.close()
