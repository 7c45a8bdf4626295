"""Fuzzing, bounded in time: random command-line options, mutated checkpoint files and
random HTTP requests never end in a traceback, a 5xx answer or an unbounded allocation;
each is either done or refused with one readable message.

Examples are drawn deterministically (``derandomize``), so a CI failure reproduces; set
``RNNLAB_FUZZ_EXAMPLES`` to draw more of them locally.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnlab import cli
from rnnlab.errors import RnnlabError
from rnnlab.io import compute_checksum, load_checkpoint, load_model
from rnnlab.runs import prepare_run
from tests.test_cli import CORPUS, TINY, run

EXAMPLES = int(os.environ.get("RNNLAB_FUZZ_EXAMPLES", "40"))
fuzzing = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: values that break things: signs, zero, huge, not-a-number, empty, odd text
NUMBERS = ["-1", "0", "1", "3", "17", "1e308", "nan", "inf", "-inf", "10000000", str(2**63)]
WORDS = ["", "abc", "∞", "../../x", "lstm", "gru", "cosine", "float64", "--", "0.5"]
VALUES = st.sampled_from(NUMBERS + WORDS)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A small trained run (its own corpus file), shared by the examples."""
    folder = tmp_path_factory.mktemp("fuzz")
    corpus = folder / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    args = ["train", "--data", str(corpus), "--steps", "4", "--out", str(folder / "run")]
    assert cli.run_command([*args, *TINY]) == 0
    return folder


def assert_readable(status: int, stdout: str, stderr: str) -> None:
    """Done (0), diverged (1: a learning rate of 1e308) or refused (2), in words: no
    traceback, no internal error."""
    assert status in (0, 1, 2), (status, stdout[-500:], stderr[-500:])
    assert status != 1 or "training diverged" in stderr
    assert "Traceback" not in stdout + stderr and "internal error" not in stderr


# -- the command line ----------------------------------------------------------------------
TRAIN_OPTIONS = [
    "--hidden", "--layers", "--batch", "--seq-len", "--lr", "--clip", "--steps", "--minutes",
    "--eval-every", "--sample-every", "--patience", "--seed", "--dropout", "--embedding-dim",
    "--val-fraction", "--cell", "--optimizer", "--schedule", "--dtype", "--data",
    "--temperature", "--sample-length",
]  # fmt: skip


@fuzzing
@given(options=st.lists(st.tuples(st.sampled_from(TRAIN_OPTIONS), VALUES), max_size=3))
def test_train_with_random_options(options, run_dir, tmp_path, monkeypatch, capsys):
    args = ["train", "--data", str(run_dir / "corpus.txt"), *TINY, "--steps", "2"]
    for flag, value in options:
        args += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"  # a new one for each example
    assert_readable(*run(monkeypatch, capsys, *args, "--out", str(out)))


def option_flags(*names: str) -> list[str]:
    """Every ``--option`` of the command ``rnnlab NAMES...`` but those naming where to
    write or the help."""
    import typer

    command = typer.main.get_command(cli.app)
    for name in names:
        command = command.commands[name]
    skip = {"out", "force", "resume", "distributed", "help", "plot", "no_plot", "replot"}
    return [p.opts[0] for p in command.params if p.name not in skip and p.opts[0][:2] == "--"]


#: each application's training command, with options that keep a run to a second or two
APPLICATIONS = {
    "forecast": ["--steps", "3", "--hidden", "8", "--no-plot"],
    "classify": ["--epochs", "1", "--hidden", "8", "--no-plot"],
    "complete": ["--steps", "2", "--hidden", "8", "--prompt", ""],
}


@settings(fuzzing, max_examples=max(EXAMPLES // 3, 5))
@given(
    application=st.sampled_from(sorted(APPLICATIONS)),
    picks=st.lists(st.tuples(st.integers(0, 40), VALUES), min_size=1, max_size=2),
)
def test_application_training_with_random_options(
    application, picks, tmp_path, monkeypatch, capsys
):
    flags = option_flags(application, "train")
    args = [application, "train", *APPLICATIONS[application]]
    for index, value in picks:
        flag = flags[index % len(flags)]
        args += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
    out = Path(tempfile.mkdtemp(dir=tmp_path)) / "run"
    assert_readable(*run(monkeypatch, capsys, *args, "--out", str(out)))


USE_OPTIONS = {
    "sample": ["--temperature", "--top-k", "--top-p", "-n", "--seed", "--prime"],
    "next": ["-k", "--temperature"],
    "evaluate": ["--data"],
    "info": [],
}


@fuzzing
@given(
    command=st.sampled_from(sorted(USE_OPTIONS)),
    picks=st.lists(st.tuples(st.integers(0, 5), VALUES), max_size=3),
    text=st.text(max_size=20),
)
def test_using_a_run_with_random_options(command, picks, text, run_dir, monkeypatch, capsys):
    args = [command, str(run_dir / "run")]
    if command == "next":
        args.append(text)
    if command == "evaluate":
        args += ["--data", str(run_dir / "corpus.txt")]
    flags = USE_OPTIONS[command]
    for index, value in picks:
        if flags:
            flag = flags[index % len(flags)]
            args += [flag, value] if not value.startswith("-") else [f"{flag}={value}"]
    assert_readable(*run(monkeypatch, capsys, *args))


# -- checkpoint files ----------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def split_file(data: bytes) -> tuple[dict, bytes]:
    """(safetensors header, the tensors' bytes) of a checkpoint file."""
    size = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + size]), data[8 + size :]


def join_file(header: dict, body: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def resign(data: bytes, change) -> bytes:
    """The checkpoint with its rnnlab document changed by ``change`` and signed again."""
    import safetensors.numpy

    header, _ = split_file(data)
    tensors = safetensors.numpy.load(data)
    doc = json.loads(header["__metadata__"]["rnnlab"])
    change(doc, tensors)
    doc["checksum"] = compute_checksum(tensors, doc)
    return safetensors.numpy.save(tensors, metadata={"rnnlab": json.dumps(doc)})


def assert_loads_or_refuses(path) -> None:
    """Loading and resuming either work or raise an rnnlab error (nothing else)."""
    for load in (load_checkpoint, load_model, lambda p: prepare_run(resume=p)):
        with contextlib.suppress(RnnlabError):
            load(path)


@fuzzing
@given(
    flips=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=4)
)
def test_checkpoints_with_flipped_bytes(flips, run_dir, tmp_path):
    data = bytearray((run_dir / "run/last.safetensors").read_bytes())
    for where, mask in flips:
        data[where % len(data)] ^= mask
    path = tmp_path / "flipped.safetensors"
    path.write_bytes(bytes(data))
    try:
        model = load_model(path)
    except RnnlabError:
        return  # the checksum or the structure caught it
    # what loads had nothing that counts changed (flips undone, the header's padding)
    expected = load_model(run_dir / "run/last.safetensors")
    for name, value in expected.params.items():
        assert np.array_equal(model.params[name], value), name


@fuzzing
@given(cut=st.integers(0, 10**9))
def test_truncated_checkpoints(cut, run_dir, tmp_path):
    data = (run_dir / "run/last.safetensors").read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: cut % len(data)])
    with pytest.raises(RnnlabError):
        load_model(path)


SECTIONS = ["model_config", "train_state", "vocab", "optimizer", "train_state.config"]


@fuzzing
@given(
    section=st.sampled_from(SECTIONS),
    key=st.sampled_from(
        ["hidden_size", "num_layers", "cell", "vocab_size", "dtype", "embedding_dim", "step",
         "batcher", "rng", "data_source", "symbols", "kind", "hyper", "steps", "lr", "seq_len",
         "schedule", "batch_size", "seconds", "best_val_loss", "anything"]
    ),
    value=JSON_VALUES,
)  # fmt: skip
def test_checkpoints_with_edited_documents(section, key, value, run_dir, tmp_path):
    def change(doc, tensors):
        target = doc
        for part in section.split("."):
            target = target.get(part) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[key] = value
        else:
            doc[section.split(".")[0]] = value

    path = tmp_path / "edited.safetensors"
    path.write_bytes(resign((run_dir / "run/last.safetensors").read_bytes(), change))
    assert_loads_or_refuses(path)


@fuzzing
@given(
    shape=st.lists(st.integers(0, 40), max_size=3),
    dtype=st.sampled_from(["float32", "float64", "int64", "float16"]),
    which=st.integers(0, 100),
)
def test_checkpoints_with_tensors_of_other_shapes(shape, dtype, which, run_dir, tmp_path):
    def change(doc, tensors):
        name = sorted(tensors)[which % len(tensors)]
        tensors[name] = np.zeros(shape, dtype=dtype)

    path = tmp_path / "reshaped.safetensors"
    path.write_bytes(resign((run_dir / "run/last.safetensors").read_bytes(), change))
    assert_loads_or_refuses(path)


# -- the web API -------------------------------------------------------------------------
ENDPOINTS = [
    ("POST", "/api/models"),
    ("POST", "/api/models/{model}/train"),
    ("POST", "/api/models/{model}/stop"),
    ("GET", "/api/models/{model}/training"),
    ("GET", "/api/examples"),
    ("POST", "/api/run"),
    ("POST", "/api/gradients"),
    ("POST", "/api/next"),
    ("POST", "/api/generate"),
]
FIELDS = ["model", "sequence", "layer", "unit", "scale", "text", "k", "temperature", "prime",
          "n", "top_k", "seed", "steps", "lr", "cell", "hidden_size", "num_layers", "task",
          "corpus", "since"]  # fmt: skip


@pytest.fixture(scope="module")
def web():
    pytest.importorskip("fastapi")
    from tests.test_web_api import CORPUS as WEB_CORPUS
    from tests.test_web_api import SMALL, Lab, TestClient, create_app

    lab = Lab(corpus=lambda: WEB_CORPUS)
    client = TestClient(create_app(lab))
    model = client.post("/api/models", json=SMALL).json()["id"]
    yield client, model
    lab.close()


@fuzzing
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5),
    raw=st.booleans(),
)
def test_random_requests_are_answered_without_a_server_error(endpoint, body, raw, web):
    client, model = web
    method, path = endpoint
    url = path.format(model=model)
    if "model" in body and isinstance(body["model"], bool):
        body["model"] = model
    try:
        content = json.dumps(body, allow_nan=True)
    except ValueError:
        content = "{"
    if method == "GET":
        params = {k: json.dumps(v) for k, v in body.items()}
        answer = client.get(url, params=params)
    else:
        headers = {"Content-Type": "application/json"}
        answer = client.post(
            url, content=content[: len(content) // 2] if raw else content, headers=headers
        )
    assert answer.status_code < 500, (url, body, answer.text[:300])
    if method == "POST" and path.endswith("/train") and answer.status_code == 200:
        client.post(f"/api/models/{model}/stop")
