"""The web lab's encoder–decoders and attention panel: POST /api/attention decodes a source
greedily step by step with each step's attention weights; the models train in the
background like the others; every bad source is a 4xx with one clear line."""

from __future__ import annotations

import datetime
import warnings
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from rnnlab.data.pairs import DATE_FORMS, END, START, reverse, written_date
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.web import limits
from rnnlab.web.app import create_app
from rnnlab.web.lab import Lab
from rnnlab.web.pairs import PAIR_TASKS, expected, read_date

REVERSE = {"task": "reverse", "cell": "gru", "hidden_size": 32}


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab(corpus=lambda: "a small corpus for the text model. " * 40)
    yield lab
    lab.close()


@pytest.fixture(scope="module")
def client(lab: Lab) -> TestClient:
    return TestClient(create_app(lab))


def make(client: TestClient, **spec) -> str:
    response = client.post("/api/models", json=REVERSE | spec)
    assert response.status_code == 200, response.text
    return response.json()["id"]


def attend(client: TestClient, model: str, **sequence) -> dict:
    body = {"model": model, "sequence": sequence} if sequence else {"model": model}
    response = client.post("/api/attention", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def refused(response, status: int, contains: str) -> str:
    """A 4xx with one line {"error": message} that says ``contains``."""
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    assert contains in message and "\n" not in message and "Traceback" not in message, message
    return message


@pytest.fixture(scope="module")
def trained(client: TestClient, lab: Lab) -> str:
    """A reverse model with general attention, trained 400 steps (a few seconds)."""
    model = make(client, seed=1)
    for steps, lr in ((300, 0.01), (100, 0.003)):  # then a smaller step to settle
        answer = client.post(f"/api/models/{model}/train", json={"steps": steps, "lr": lr})
        assert answer.status_code == 200, answer.text
        lab.wait(model, timeout=120)
    assert lab.get(model).steps_done == 400, lab.get(model).message
    return model


# ------------------------------------------------------------------------- the model


@pytest.mark.parametrize("kind", ["none", "general", "additive"])
def test_greedy_steps_decode_as_greedy_and_keep_every_steps_weights(kind):
    data = reverse(4, 7, min_length=3, seed=0)
    ids = [int(data.target_vocab.encode(marker)[0]) for marker in (START, END)]
    config = Seq2SeqConfig(
        len(data.source_vocab), len(data.target_vocab), *ids, "gru", 16, attention=kind
    )
    model = Seq2Seq(config, seed=3, vocab=data.vocab)
    for row in range(len(data)):
        source = data.sources[row, : data.source_lengths[row]]
        tokens, log_p, weights = model.greedy_steps(source, max_length=9)
        ended = tokens[-1] == config.end_id
        assert model.greedy(source[:, None], None, 9)[0] == (tokens[:-1] if ended else tokens)
        assert log_p.shape == (len(tokens), config.target_vocab_size)
        assert (log_p.argmax(axis=1) == tokens).all()
        if kind == "none":
            assert weights is None
        else:
            assert weights.shape == (len(tokens), len(source))
            np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-5)


# ------------------------------------------------------------------------- the API


def test_the_lab_offers_the_encoder_decoder_tasks_and_their_limits(client):
    info = client.get("/api/lab").json()
    assert info["pair_tasks"] == {"reverse": "Reverse letters", "dates": "Dates → ISO"}
    assert info["attention_kinds"] == ["none", "dot", "general", "additive"]
    assert info["limits"]["max_reverse_letters"] == limits.MAX_REVERSE_LETTERS == 12
    assert info["limits"]["max_decode_steps"] == limits.MAX_DECODE_STEPS


def test_each_attention_kind_is_its_own_model_with_the_chosen_cell(client):
    general, none = make(client), make(client, attention="none")
    assert general == "reverse-gru-1x32-general" and none == "reverse-gru-1x32-none"
    info = client.get(f"/api/models/{none}").json()
    assert info["attention"] == "none" and info["cell"] == "gru"
    assert "no attention" in info["title"] and info["symbols"][:3] == ["a", "b", "c"]
    lstm = client.post("/api/models", json=REVERSE | {"cell": "lstm", "task": "dates"}).json()
    assert lstm["id"] == "dates-lstm-1x32-general" and lstm["vocab_size"] == 65


def test_each_row_of_the_map_is_a_distribution_over_the_source(client):
    model = make(client, attention="additive")
    for sequence in ({}, {"kind": "reverse", "text": "abcdefghijkl"}):
        view = attend(client, model, **sequence)
        weights = np.array(view["weights"])
        assert weights.shape == (len(view["steps"]), len(view["source"]))
        assert (weights >= 0).all()
        np.testing.assert_allclose(weights.sum(axis=1), 1, atol=1e-3)  # 4 decimals each
        assert 1 <= len(view["steps"]) <= limits.MAX_DECODE_STEPS
        written = "".join(s["symbol"] for s in view["steps"] if not s["end"])
        assert written == view["output"]
        assert view["ended"] == view["steps"][-1]["end"]
        for step in view["steps"]:  # the emitted character is the likeliest
            assert step["top"][0][0] == step["symbol"] and step["top"][0][1] == step["p"]
    assert view["target"] == "lkjihgfedcba"
    assert view["exact"] is (view["output"] == "lkjihgfedcba")


def test_a_briefly_trained_reverse_model_looks_at_the_mirrored_letter(client, trained):
    rows = hits = 0
    for text in ("hello", "attention", "abcdefghijkl", "qwertyuiop", "zebra"):
        view = attend(client, trained, kind="reverse", text=text)
        weights = np.array(view["weights"])
        S = len(text)
        for u in range(min(S, len(weights))):  # the letters' steps, not END's
            rows += 1
            hits += int(weights[u].argmax() == S - 1 - u)
    assert hits >= 0.8 * rows, (hits, rows)
    view = attend(client, trained, kind="reverse", text="hello")
    assert view["output"] == "olleh" and view["exact"] is True and view["ended"]
    assert view["held_out"]["pairs"] == 100 and view["held_out"]["exact"] > 0.8
    untrained = attend(client, make(client, seed=2), kind="reverse", text="hello")
    assert untrained["held_out"]["exact"] < view["held_out"]["exact"]


def test_without_attention_the_panel_is_told_so_and_still_sees_the_decoding(client):
    view = attend(client, make(client, attention="none"))
    assert view["attention"] == "none" and view["weights"] is None
    assert view["source"] == list("hello") and view["target"] == "olleh"
    assert len(view["steps"]) >= 1 and view["exact"] in (True, False)


def test_dates_decode_with_their_iso_answer_and_the_examples_are_unseen_days(client):
    model = client.post("/api/models", json=REVERSE | {"task": "dates"}).json()["id"]
    examples = client.get("/api/examples", params={"model": model}).json()
    assert examples["max_source"] == limits.MAX_DATE_CHARS
    for example in examples["examples"]:
        day = datetime.date.fromisoformat(example["target"])
        assert day.toordinal() % 10 == 0  # a split="test" day: never in training
        view = attend(client, model, kind="dates", example=example["index"])
        assert view["target"] == example["target"] and len(view["source"]) == len(example["text"])
    typed = attend(client, model, kind="dates", text="Tuesday, July 20, 1969")
    assert typed["target"] == "1969-07-20"
    assert attend(client, model, kind="dates", text="sometime in spring")["target"] is None


def test_a_written_date_is_read_back_in_every_form():
    rng = np.random.default_rng(0)
    first, last = datetime.date(1900, 1, 1).toordinal(), datetime.date(2099, 12, 31).toordinal()
    for ordinal in rng.integers(first, last + 1, size=40):
        day = datetime.date.fromordinal(int(ordinal))
        for form in range(len(DATE_FORMS)):
            assert read_date(written_date(day, form)) == day, written_date(day, form)
    assert read_date("31.02.2000") is None and read_date("March 3, 1850") is None
    assert expected("reverse", "abc") == "cba"


def test_the_encoder_reading_the_source_feeds_the_step_by_step_panels(client):
    model = make(client, cell="lstm")
    run = client.post("/api/run", json={"model": model, "sequence": {"kind": "reverse"}}).json()
    assert run["labels"] == list("hello") and run["steps"] == 5
    assert np.array(run["hidden"]).shape == (5, 32) and set(run["gates"]) == set("ifgo")
    assert run["seq2seq"] == {"attention": "general", "target": "olleh"}
    gradients = client.post(
        "/api/gradients", json={"model": model, "sequence": {"kind": "reverse"}}
    )
    refused(gradients, 400, "attention panel")


def test_bad_sources_are_refused_with_one_clear_line(client):
    model = make(client)
    long = "a" * (limits.MAX_REVERSE_LETTERS + 1)
    for text, status, says in [
        ("Hello", 400, "'H'"),
        ("abc1", 400, "lower-case letters a–z only"),
        (long, 400, f"2 to {limits.MAX_REVERSE_LETTERS} characters"),
        ("a", 422, "text"),
        ("x" * (limits.MAX_TEXT_STEPS + 1), 422, "text"),
    ]:
        body = {"model": model, "sequence": {"kind": "reverse", "text": text}}
        refused(client.post("/api/attention", json=body), status, says)
    for sequence, says in [
        ({"kind": "reverse", "example": 9}, "examples 0 to 4"),
        ({"kind": "dates"}, "'dates'"),
        ({"kind": "sine"}, "'sine'"),
    ]:
        body = {"model": model, "sequence": sequence}
        refused(client.post("/api/attention", json=body), 400, says)
    dates = make(client, task="dates")
    body = {"model": dates, "sequence": {"kind": "dates", "text": "the 1st of Janvier €"}}
    refused(client.post("/api/attention", json=body), 400, "'€'")


def test_attention_needs_an_encoder_decoder_and_a_known_model(client):
    text = client.post("/api/models", json={"hidden_size": 8}).json()["id"]
    refused(client.post("/api/attention", json={"model": text}), 400, "encoder–decoder")
    refused(client.post("/api/attention", json={"model": "no-such"}), 404, "unknown model")
    refused(client.post("/api/attention", json={"model": "../x"}), 422, "model")


def test_settings_that_do_not_go_together_are_refused(client):
    for spec, status, says in [
        ({"task": "text", "attention": "none"}, 400, "attention"),
        ({"task": "sine", "attention": "general"}, 400, "attention"),
        ({"task": "reverse", "num_layers": 2, "residual": True}, 400, "residual"),
        ({"task": "reverse", "attention": "luong"}, 422, "attention"),
        ({"task": "reverse", "hidden_size": limits.MAX_HIDDEN + 1}, 422, "hidden_size"),
    ]:
        refused(client.post("/api/models", json=spec), status, says)


@pytest.mark.parametrize(
    "body",
    [None, [], "hello", 7, {}, {"model": 7}, {"model": "m", "sequence": []},
     {"model": "m", "sequence": {"kind": "reverse", "text": 5}}, {"model": "m", "extra": 1},
     {"model": "m", "sequence": {"kind": "reverse", "example": -1}}],
)  # fmt: skip
def test_garbage_is_a_4xx(client, body):
    model = make(client)
    if isinstance(body, dict) and body.get("model") == "m":
        body = body | {"model": model}
    answer = client.post("/api/attention", json=body)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]


def test_every_example_fits_its_task():
    for task, info in PAIR_TASKS.items():
        assert len(info.examples) <= 16  # SequenceSpec.example's bound
        for _, text in info.examples:
            assert 2 <= len(text) <= info.max_source and set(text) <= set(info.alphabet)
            assert expected(task, text) is not None
