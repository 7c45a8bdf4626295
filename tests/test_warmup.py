"""The first run on a machine compiles its kernels: it says so, compiles them on both
cores, and later runs load them from the cache (and say nothing)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rnnlab import backend
from rnnlab.models.language import LanguageModelConfig
from rnnlab.warmup import PARTS, Warmup, cached, compile_part
from tests.test_cli import CORPUS

pytestmark = pytest.mark.skipif(not backend.compiled(), reason="the kernels are not in force")


@pytest.mark.parametrize("cell", ["gru", "rnn_tanh"])
def test_compiling_every_part_leaves_the_kernels_cached(cell):
    config = LanguageModelConfig(vocab_size=7, cell=cell, hidden_size=8)
    for part in PARTS:
        compile_part(config, batch_size=2, seq_len=5, part=part)
    assert cached(config)


def test_the_helper_process_says_when_each_part_is_ready():
    config = LanguageModelConfig(vocab_size=7, cell="lstm", hidden_size=8)
    warmup = Warmup(config, batch_size=2, seq_len=5)
    warmup.compile_training()
    warmup.wait("generation")
    assert warmup.ready == {"evaluation", "generation"}
    warmup.close()
    assert warmup.helper.returncode == 0


def test_a_run_on_a_cold_cache_says_it_compiles_and_the_next_one_does_not(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="200")
    args = [sys.executable, "-m", "rnnlab.cli", "train", "--data", str(corpus), "--steps", "2"]
    args += ["--hidden", "8", "--batch", "2", "--seq-len", "8", "--sample-length", "5"]
    first, second = (
        subprocess.run(
            [*args, "--out", str(tmp_path / name)],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        for name in ("first", "second")
    )
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "compiling the lstm kernels for this CPU (once: they are cached in" in first.stdout
    assert str(tmp_path / "cache") in first.stdout
    assert "compiling" not in second.stdout
