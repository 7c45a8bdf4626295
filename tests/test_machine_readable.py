"""Results for scripts: ``--json`` on the commands that print one, and TensorBoard logs."""

from __future__ import annotations

import json
import struct

import pytest

from tests.test_cli import CORPUS, TINY, run


def as_json(monkeypatch, capsys, *args: str):
    status, stdout, stderr = run(monkeypatch, capsys, *args, "--json")
    assert status == 0, stderr
    return json.loads(stdout)  # the whole of standard output is one JSON document


def test_info_as_json(trained, monkeypatch, capsys):
    facts = as_json(monkeypatch, capsys, "info", str(trained))
    assert facts["model"] == "language" and facts["cell"] == "lstm"
    assert facts["hidden_size"] == 16 and facts["parameters"] > 0
    assert facts["vocabulary"]["kind"] == "char" and facts["step"] == 20


def test_next_as_json(trained, monkeypatch, capsys):
    answer = as_json(monkeypatch, capsys, "next", str(trained), "But sof", "-k", "5")
    probabilities = [item["p"] for item in answer["next"]]
    assert answer["text"] == "But sof" and len(probabilities) == 5
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1


def test_evaluate_as_json(trained, tmp_path, monkeypatch, capsys):
    text = tmp_path / "eval.txt"
    text.write_text("But soft, what light? ✓ " * 20, encoding="utf-8")
    score = as_json(monkeypatch, capsys, "evaluate", str(trained), "--data", str(text))
    assert score["unit"] == "char" and score["skipped"] == 20
    assert score["bits"] == pytest.approx(score["nats"] / 0.6931471805599453)


def test_an_experiment_as_json(tmp_path, monkeypatch, capsys):
    args = ["experiment", "adding", "--steps", "20", "--cell", "gru", "--out", str(tmp_path)]
    results = as_json(monkeypatch, capsys, *args)
    assert json.dumps(results)  # plain JSON types throughout
    assert "gru" in json.dumps(results)


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """tag → [(step, value)] of the event files in ``folder`` (TFRecords of Event protos,
    read with the protocol definitions tensorboardX ships)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (length,) = struct.unpack("<Q", data[at : at + 8])
            event = Event.FromString(data[at + 12 : at + 12 + length])
            at += 12 + length + 4  # length, its checksum, the record, its checksum
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def test_training_can_also_log_to_tensorboard(tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    logs = tmp_path / "tb"
    args = ["train", "--data", str(corpus), "--steps", "20", "--out", str(tmp_path / "run")]
    status, _, stderr = run(monkeypatch, capsys, *args, *TINY, "--tensorboard", str(logs))
    assert status == 0, stderr
    scalars = tensorboard_scalars(logs)
    assert {"train/loss", "train/bpc", "train/lr", "validation/loss"} <= scalars.keys()
    steps = [step for step, _ in scalars["train/loss"]]
    assert steps == sorted(steps) and steps[-1] == 20
    assert all(value > 0 for _, value in scalars["validation/loss"])
