"""Specification of rnnlab.io: one atomic, verified safetensors + JSON file per checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import safetensors.numpy
import torch
from safetensors import safe_open

from rnnlab import io
from rnnlab.data import CharVocab
from rnnlab.errors import CheckpointError, ConfigError
from rnnlab.io import load_checkpoint, load_model, resolve_checkpoint, save_checkpoint
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.optim import Adam

TEXT = "the quick brown fox jumps over the lazy dog\n"
VOCAB = CharVocab.from_text(TEXT)

MODELS = {
    "lstm-float32": dict(cell="lstm", hidden_size=6),
    "gru-embedding-float64": dict(cell="gru", hidden_size=5, embedding_dim=4, dtype="float64"),
    "rnn_tanh-2-layers": dict(cell="rnn_tanh", hidden_size=7, num_layers=2),
}


def make_model(seed: int = 0, **options) -> LanguageModel:
    config = LanguageModelConfig(vocab_size=len(VOCAB), **options)
    return LanguageModel(config, seed=seed, vocab=VOCAB)


def batch(seed: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.random.default_rng(seed).integers(0, len(VOCAB), size=(9, 3))
    return ids[:-1], ids[1:]


def adam_step(model: LanguageModel, optimizer: Adam, seed: int) -> None:
    model.zero_grad()
    model.compute_loss(*batch(seed))
    optimizer.step(model.grads)


def trained(options: dict) -> tuple[LanguageModel, Adam]:
    """A model and an Adam optimiser that has taken two steps (so its slots are non-zero)."""
    model = make_model(**options)
    optimizer = Adam(model.params, lr=1e-2, betas=(0.8, 0.95), weight_decay=1e-3)
    for seed in (1, 2):
        adam_step(model, optimizer, seed)
    return model, optimizer


def read_raw(path) -> tuple[dict[str, np.ndarray], dict]:
    with safe_open(str(path), framework="numpy") as handle:
        doc = json.loads(handle.metadata()["rnnlab"])
    return safetensors.numpy.load_file(str(path)), doc


def rewrite(path, change) -> None:
    """Edit a checkpoint's tensors or document with ``change`` and re-sign it (valid checksum)."""
    tensors, doc = read_raw(path)
    change(tensors, doc)
    doc["checksum"] = io.compute_checksum(tensors, doc)
    safetensors.numpy.save_file(tensors, str(path), metadata={"rnnlab": json.dumps(doc)})


def assert_same_params(model: LanguageModel, params: dict[str, np.ndarray]) -> None:
    assert params.keys() == model.params.keys()
    for name, value in model.params.items():
        assert params[name].dtype == value.dtype, name
        assert np.array_equal(params[name], value), name


# ------------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("options", MODELS.values(), ids=MODELS.keys())
def test_round_trip_restores_params_vocab_optimizer_train_state_and_extra(tmp_path, options):
    model, optimizer = trained(options)
    extra = {"h": np.arange(12, dtype=np.float32).reshape(2, 2, 3), "c": np.ones(3)}
    train_state = {"step": 2, "best_val_loss": 1.25, "rng": model.rng.bit_generator.state}
    path = save_checkpoint(
        tmp_path / "ckpt.safetensors", model, VOCAB, optimizer, train_state, extra
    )

    checkpoint = load_checkpoint(path)
    assert checkpoint.model_kind == "language"
    assert checkpoint.model_config == model.config.to_json()
    assert_same_params(model, checkpoint.params)
    assert checkpoint.train_state == train_state
    assert checkpoint.extra.keys() == extra.keys()
    for name, array in extra.items():
        assert checkpoint.extra[name].dtype == array.dtype
        assert np.array_equal(checkpoint.extra[name], array)

    loaded = load_model(path, kind="language")
    assert not loaded.training
    assert loaded.vocab == VOCAB
    assert_same_params(model, loaded.params)

    resumed = Adam(loaded.params, lr=0.5)  # hyper-parameters come from the checkpoint
    resumed.load_state_dict(checkpoint.optimizer)
    loaded.train()
    adam_step(model, optimizer, seed=3)
    adam_step(loaded, resumed, seed=3)
    assert resumed.state_dict()["hyper"] == optimizer.state_dict()["hyper"]
    assert_same_params(model, loaded.params)


def test_saving_without_optimizer_vocab_or_extra_loads_back_as_none_and_empty(tmp_path):
    model = LanguageModel(LanguageModelConfig(vocab_size=5, cell="gru", hidden_size=3), seed=1)
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", model))
    assert (checkpoint.vocab, checkpoint.optimizer) == (None, None)
    assert (checkpoint.train_state, checkpoint.extra) == ({}, {})
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.vocab is None
    assert_same_params(model, loaded.params)


def test_vocab_defaults_to_the_models_own_vocab(tmp_path):
    model = make_model(cell="lstm", hidden_size=3)
    checkpoint = load_checkpoint(save_checkpoint(tmp_path / "m.safetensors", model))
    assert checkpoint.vocab == VOCAB.to_json()


# ----------------------------------------------------------------------- torch convention


def torch_language_model(tensors: dict[str, np.ndarray], model: LanguageModel):
    """The same network in torch, built only from the file's tensors."""
    config = model.config
    dtype = getattr(torch, config.dtype)
    cls = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[config.cell]
    input_size = config.embedding_dim or config.vocab_size
    rnn = cls(input_size, config.hidden_size, config.num_layers, dtype=dtype)
    rnn.load_state_dict(
        {
            k.removeprefix("model.rnn."): torch.from_numpy(v)
            for k, v in tensors.items()
            if k.startswith("model.rnn.")
        }
    )
    head = torch.nn.Linear(config.hidden_size, config.vocab_size, dtype=dtype)
    head.load_state_dict(
        {
            k.removeprefix("model.head."): torch.from_numpy(v)
            for k, v in tensors.items()
            if k.startswith("model.head.")
        }
    )

    def forward(ids: np.ndarray) -> np.ndarray:
        ids = torch.from_numpy(ids)
        if config.embedding_dim is None:
            x = torch.nn.functional.one_hot(ids, config.vocab_size).to(dtype)
        else:
            x = torch.from_numpy(tensors["model.embedding.weight"])[ids]
        with torch.no_grad():
            return head(rnn(x)[0]).numpy()

    return forward


@pytest.mark.parametrize(
    "options",
    [
        dict(cell="gru", hidden_size=5, embedding_dim=4, num_layers=2),
        dict(cell="lstm", hidden_size=6),
    ],
    ids=["gru", "lstm"],
)
def test_model_tensors_in_the_file_load_directly_into_torch(tmp_path, options):
    model, _ = trained(options)  # trained: biases are non-zero
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    tensors = safetensors.numpy.load_file(str(path))
    ids, _ = batch(7)
    expected, _ = model.eval()(ids)
    assert np.allclose(torch_language_model(tensors, model)(ids), expected, rtol=0, atol=1e-6)


def test_gru_update_gate_rows_are_negated_in_the_file_and_restored_on_load(tmp_path):
    model, _ = trained(dict(cell="gru", hidden_size=5))
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    tensors, doc = read_raw(path)
    assert doc["gru_modules"] == ["rnn"]
    stored, own = tensors["model.rnn.bias_hh_l0"], model.params["rnn.bias_hh_l0"]
    assert np.array_equal(stored[5:10], -own[5:10])
    assert np.array_equal(stored[:5], own[:5]) and np.array_equal(stored[10:], own[10:])
    assert np.array_equal(load_checkpoint(path).params["rnn.bias_hh_l0"], own)


# ----------------------------------------------------------------------------- resolving


def test_resolve_checkpoint_prefers_best_over_last_in_a_run_directory(tmp_path):
    model = make_model(cell="lstm", hidden_size=3)
    last = save_checkpoint(tmp_path / "last.safetensors", model)
    assert resolve_checkpoint(tmp_path) == last
    best = save_checkpoint(tmp_path / "best.safetensors", model)
    assert resolve_checkpoint(tmp_path) == best
    assert resolve_checkpoint(last) == last
    assert load_checkpoint(tmp_path).path == best


def test_a_directory_without_checkpoints_says_what_it_looked_for(tmp_path):
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"best\.safetensors and last\.safetensors"):
        load_model(tmp_path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.safetensors does not exist"):
        load_checkpoint(tmp_path / "nope.safetensors")


# ---------------------------------------------------------------------- damaged files


@pytest.fixture
def checkpoint_path(tmp_path):
    model, optimizer = trained(dict(cell="gru", hidden_size=4))
    return save_checkpoint(tmp_path / "ckpt.safetensors", model, VOCAB, optimizer)


def random_bytes(data: bytes) -> bytes:
    return np.random.default_rng(0).bytes(len(data))


@pytest.mark.parametrize(
    "damage",
    [lambda data: b"", lambda data: data[: len(data) // 2], random_bytes],
    ids=["empty", "truncated", "random-bytes"],
)
def test_an_unreadable_file_is_reported_as_truncated_or_not_safetensors(checkpoint_path, damage):
    checkpoint_path.write_bytes(damage(checkpoint_path.read_bytes()))
    with pytest.raises(
        CheckpointError, match=r"ckpt\.safetensors is truncated or not a safetensors"
    ):
        load_checkpoint(checkpoint_path)


def test_a_flipped_byte_in_the_tensor_data_is_detected(checkpoint_path):
    data = bytearray(checkpoint_path.read_bytes())
    header_size = int.from_bytes(data[:8], "little")
    position = 8 + header_size + (len(data) - 8 - header_size) // 2
    data[position] ^= 0x01
    checkpoint_path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"ckpt\.safetensors was modified or corrupted"):
        load_model(checkpoint_path)


def test_an_edited_metadata_document_is_detected(checkpoint_path):
    data = checkpoint_path.read_bytes()
    edited = data.replace(b'\\"hidden_size\\": 4', b'\\"hidden_size\\": 5')
    assert edited != data and len(edited) == len(data)
    checkpoint_path.write_bytes(edited)
    with pytest.raises(CheckpointError, match="was modified or corrupted"):
        load_checkpoint(checkpoint_path)


def write_with_metadata(path, metadata) -> None:
    safetensors.numpy.save_file({"model.w": np.zeros(2, np.float32)}, str(path), metadata)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (None, "has no rnnlab metadata"),
        ({"rnnlab": '{"format": "rnnlab-checkpoint",'}, "metadata is not valid JSON"),
        ({"rnnlab": "[1, 2]"}, "metadata is not a JSON object"),
        ({"rnnlab": '{"format": "other"}'}, "has format 'other', expected 'rnnlab-checkpoint'"),
    ],
    ids=["missing", "not-json", "not-an-object", "other-format"],
)
def test_bad_metadata_is_reported(tmp_path, metadata, message):
    path = tmp_path / "x.safetensors"
    write_with_metadata(path, metadata)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_a_newer_format_version_is_refused(checkpoint_path):
    rewrite(checkpoint_path, lambda tensors, doc: doc.update(version=2))
    with pytest.raises(CheckpointError, match="format version 2; this rnnlab reads version 1"):
        load_checkpoint(checkpoint_path)


def test_a_model_tensor_of_integer_dtype_is_refused(checkpoint_path):
    def to_int(tensors, doc):
        tensors["model.head.bias"] = tensors["model.head.bias"].astype(np.int32)

    rewrite(checkpoint_path, to_int)
    with pytest.raises(CheckpointError, match=r"'model.head.bias' has unexpected dtype int32"):
        load_checkpoint(checkpoint_path)


def test_a_tensor_of_another_float_dtype_than_the_config_is_refused(checkpoint_path):
    def to_float64(tensors, doc):
        tensors["model.head.bias"] = tensors["model.head.bias"].astype(np.float64)

    rewrite(checkpoint_path, to_float64)
    with pytest.raises(CheckpointError, match=r"'model.head.bias' has shape .* dtype float64"):
        load_model(checkpoint_path)


def test_another_model_kind_is_refused_by_name(checkpoint_path):
    rewrite(checkpoint_path, lambda tensors, doc: doc.update(model_kind="forecast"))
    with pytest.raises(CheckpointError, match="a 'forecast' model, expected 'language'"):
        load_model(checkpoint_path, kind="language")
    with pytest.raises(CheckpointError, match=r"known kinds: .*'language'"):
        load_model(checkpoint_path)


def test_a_config_that_does_not_fit_the_tensors_names_the_tensor(checkpoint_path):
    rewrite(checkpoint_path, lambda tensors, doc: doc["model_config"].update(hidden_size=8))
    with pytest.raises(CheckpointError, match=r"tensor 'model.rnn.weight_ih_l0' has shape \(12,"):
        load_model(checkpoint_path)


def test_an_invalid_model_config_is_a_checkpoint_error(checkpoint_path):
    rewrite(checkpoint_path, lambda tensors, doc: doc["model_config"].update(hidden_size=-1))
    with pytest.raises(CheckpointError, match="invalid model config: hidden_size"):
        load_model(checkpoint_path)


def test_a_vocab_of_the_wrong_size_is_a_checkpoint_error(checkpoint_path):
    rewrite(checkpoint_path, lambda tensors, doc: doc["vocab"]["symbols"].pop())
    with pytest.raises(CheckpointError, match="invalid model config: vocab has"):
        load_model(checkpoint_path)


# ------------------------------------------------------------------------------ atomicity


@pytest.mark.parametrize("where", ["_serialize", "fsync"])
def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary_file(
    tmp_path, monkeypatch, where
):
    old = make_model(seed=1, cell="lstm", hidden_size=3)
    path = save_checkpoint(tmp_path / "ckpt.safetensors", old)
    seen = []

    def failing(*args, **kwargs):
        seen.extend(name for name in os.listdir(tmp_path) if name != path.name)
        raise OSError("disk full")

    if where == "_serialize":
        monkeypatch.setattr(io, "_serialize", failing)
    else:
        monkeypatch.setattr(io.os, "fsync", failing)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, make_model(seed=2, cell="lstm", hidden_size=3))
    monkeypatch.undo()

    assert len(seen) == 1 and seen[0].startswith(".ckpt.safetensors.tmp-")  # it existed
    assert not seen[0].endswith(".safetensors")
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    assert_same_params(old, load_model(path).params)


def test_train_state_that_is_not_json_is_refused_before_anything_is_written(tmp_path):
    model = make_model(cell="lstm", hidden_size=3)
    with pytest.raises(ConfigError, match="JSON-serialisable"):
        save_checkpoint(tmp_path / "m.safetensors", model, train_state={"x": object()})
    assert os.listdir(tmp_path) == []


CHILD = textwrap.dedent(
    """
    import sys
    from rnnlab.io import save_checkpoint
    from rnnlab.models.language import LanguageModel, LanguageModelConfig

    config = LanguageModelConfig(vocab_size=40, cell="gru", hidden_size=64)
    models = [LanguageModel(config, seed=seed) for seed in (1, 2)]
    i = 0
    while True:
        save_checkpoint(sys.argv[1], models[i % 2], train_state={"i": i})
        print(i, flush=True)
        i += 1
    """
)


def save_in_a_child_and_kill_it(path, saves: int, fraction: float) -> None:
    """Let the child finish ``saves`` saves, then SIGKILL it ``fraction`` of a save later."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True
    )
    watchdog = threading.Timer(60, child.kill)
    watchdog.start()
    try:
        times = []
        for _ in range(saves):  # each line is printed after a completed save
            assert child.stdout.readline(), "the saving process died"
            times.append(time.perf_counter())
        period = (times[-1] - times[0]) / (saves - 1)
        time.sleep(fraction * period)  # spread the kills over the whole save cycle
        os.kill(child.pid, signal.SIGKILL)
    finally:
        watchdog.cancel()
        child.kill()
        child.wait()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL


def test_sigkill_during_repeated_saves_always_leaves_a_complete_checkpoint(tmp_path):
    config = LanguageModelConfig(vocab_size=40, cell="gru", hidden_size=64)
    a, b = (LanguageModel(config, seed=seed) for seed in (1, 2))
    path = tmp_path / "ckpt.safetensors"
    rounds = 10
    for k in range(rounds):
        save_in_a_child_and_kill_it(path, saves=3 + k, fraction=k / rounds)

        checkpoint = load_checkpoint(path)
        expected = a if checkpoint.train_state["i"] % 2 == 0 else b
        assert_same_params(expected, checkpoint.params)
        assert [p.name for p in tmp_path.glob("*.safetensors")] == [path.name]
        leftovers = [name for name in os.listdir(tmp_path) if name != path.name]
        assert all(name.startswith(".ckpt.safetensors.tmp-") for name in leftovers)
