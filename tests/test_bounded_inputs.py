"""Every size is bounded before anything is allocated or read: model options, checkpoint
configurations, data files, sample lengths; and every refusal is one readable line."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from rnnlab import memory
from rnnlab.cells import CELLS
from rnnlab.data import corpora
from rnnlab.data.corpora import read_text_file
from rnnlab.errors import CheckpointError, ConfigError, DataError
from rnnlab.io import load_checkpoint, load_model
from rnnlab.models import size
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.models.sequence import READOUTS, SequenceModel, SequenceModelConfig
from tests.test_cli import CORPUS, run
from tests.test_io import rewrite


# -- the estimates ---------------------------------------------------------------------------
@pytest.mark.parametrize("cell", CELLS)
def test_the_parameter_count_of_a_config_is_the_models(cell):
    for embedding in (None, 7):
        config = LanguageModelConfig(
            vocab_size=11, cell=cell, hidden_size=5, num_layers=3, embedding_dim=embedding
        )
        assert size.parameter_count(config) == LanguageModel(config).num_parameters()
    for readout in READOUTS:
        config = SequenceModelConfig(
            input_size=3, output_size=4, cell=cell, hidden_size=6, num_layers=2,
            bidirectional=True, readout=readout,
        )  # fmt: skip
        assert size.parameter_count(config) == SequenceModel(config).num_parameters()


def test_a_model_too_large_for_memory_is_refused_before_it_is_built():
    config = LanguageModelConfig(vocab_size=65, hidden_size=10_000_000)
    with pytest.raises(ConfigError, match=r"needs at least .* TiB, but this machine has"):
        LanguageModel(config)


def test_train_with_a_huge_hidden_size_is_refused_in_little_memory(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    command = [sys.executable, "-m", "rnnlab.cli", "train", "--data", str(corpus)]
    command += ["--hidden", "10000000", "--out", str(tmp_path / "run")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert done.returncode == 2 and "needs at least" in done.stderr
    assert "Traceback" not in done.stderr
    assert peak_mib < 500


def test_a_training_step_too_large_for_memory_is_refused():
    config = LanguageModelConfig(vocab_size=65, hidden_size=512)
    size.check_training_fits(config, 32, 64)
    with pytest.raises(ConfigError, match="batches of 100000×100000"):
        size.check_training_fits(config, 100_000, 100_000)


# -- checkpoints -------------------------------------------------------------------------
def test_a_checkpoint_whose_config_asks_for_a_huge_model_is_refused_unbuilt(trained):
    path = trained / "last.safetensors"
    rewrite(path, lambda tensors, doc: doc["model_config"].update(hidden_size=10_000_000))
    with pytest.raises(CheckpointError, match=r"describes a model of .* but the file holds"):
        load_model(path)


def test_deeply_nested_metadata_is_refused(trained, monkeypatch, capsys):
    path = trained / "last.safetensors"
    deep = "[" * 100_000 + "]" * 100_000
    rewrite(path, lambda tensors, doc: doc["train_state"].update(deep=0))
    text = path.read_bytes().replace(b'\\"deep\\": 0', f'\\"deep\\": {deep}'.encode())
    size = int.from_bytes(text[:8], "little") + len(text) - len(path.read_bytes())
    path.write_bytes(size.to_bytes(8, "little") + text[8:])
    with pytest.raises(CheckpointError, match="nested too deeply"):
        load_checkpoint(path)
    for command in ("info", "sample"):
        status, _, stderr = run(monkeypatch, capsys, command, str(path))
        assert status == 2 and "nested too deeply" in stderr, command


def test_a_pipe_or_device_is_neither_data_nor_checkpoint(tmp_path, monkeypatch, capsys):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        read_text_file(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        read_text_file("/dev/zero")
    with pytest.raises(CheckpointError, match="not a regular file"):
        load_checkpoint(fifo)
    status, _, stderr = run(monkeypatch, capsys, "sample", str(fifo))
    assert status == 2 and "not a regular file" in stderr


# -- text files --------------------------------------------------------------------------
def test_a_text_file_over_the_limit_is_refused_naming_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_text("x" * 5000)
    monkeypatch.setattr(corpora, "MAX_TEXT_BYTES", 4096)
    with pytest.raises(DataError, match=r"reads text files of up to"):
        read_text_file(path)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_a_byte_order_mark_are_read(tmp_path, encoding):
    text = "ROMEO:\nBut soft! ✓ what light\n"
    path = tmp_path / "text.txt"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path.write_bytes(data)
    assert read_text_file(path) == text


def test_a_symbolic_link_loop_is_named_as_such(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(DataError, match="symbolic links"):
        read_text_file(loop)
    with pytest.raises(DataError, match="symbolic links"):
        corpora.load_corpus(str(loop))


# -- options -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "{run}", "--top-p", "1.5"], "top_p"),
        (["sample", "{run}", "--top-p", "nan"], "top_p"),
        (["sample", "{run}", "--seed", "-1"], "--seed"),
        (["sample", "{run}", "-n", "1000000000"], "-n"),
        (["train", "--seed", "-1", "--out", "{tmp}/x"], "seed"),
        (["bench", "--hidden", "-1"], "hidden"),
        (["bench", "--threads", "0"], "threads"),
        (["classify", "train", "--epochs", str(2**63), "--out", "{tmp}/c"], "--epochs"),
        (["forecast", "train", "--steps", "10000000", "--out", "{tmp}/f"], "--steps"),
    ],
)
def test_bad_numbers_are_refused_in_one_line(args, message, trained, tmp_path, monkeypatch, capsys):
    args = [arg.format(run=trained, tmp=tmp_path) for arg in args]
    status, stdout, stderr = run(monkeypatch, capsys, *args)
    assert status == 2, stdout
    assert message in stderr and "Traceback" not in stderr + stdout


def test_the_memory_check_reads_this_machines_memory():
    available = memory.available_bytes()
    assert 0 < available < 1 << 50
    memory.check_fits(1024, "a kibibyte", "")
    with pytest.raises(ConfigError, match=r"needs at least 1024\.0 TiB"):
        memory.check_fits(1 << 50, "a pebibyte", "")


def test_sizes_read_as_people_write_them():
    assert [memory.human(n) for n in (512, 1536, 3 * 1024**3)] == [
        "512 bytes",
        "1.5 KiB",
        "3.0 GiB",
    ]
    assert json.loads(json.dumps(np.float64(1.0).item())) == 1.0


@pytest.mark.parametrize(
    "files, room",
    [
        ({"max": "1000", "current": "700", "stat": "anon 300\ninactive_file 400\n"}, 700),
        ({"max": "max", "current": "700", "stat": "inactive_file 400\n"}, None),
        ({"max": "1000", "current": "900", "stat": "inactive_file 0\n"}, 100),
    ],
)
def test_a_control_groups_limit_counts_without_its_reclaimable_cache(tmp_path, files, room):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert memory._room(tmp_path, "max", "current", "stat", "inactive_file") == room
