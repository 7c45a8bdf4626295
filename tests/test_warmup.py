"""The first run on a machine compiles its kernels: it says so, compiles them on both
cores, and later runs load them from the cache (and say nothing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import rnnlab
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


def test_a_step_with_the_drivers_set_aside_gives_the_same_bits():
    """While a cold run's drivers compile elsewhere, the loops run on rnnlab's own threads."""
    layer = rnnlab.LSTM(8, 24, num_layers=2, seed=1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((13, 6, 8)).astype(np.float32)
    dy = rng.standard_normal((13, 6, 24)).astype(np.float32)

    def step():
        layer.zero_grad()
        y, _ = layer(x)
        dx, _ = layer.backward(dy)
        return [y.copy(), dx, *(grad.copy() for grad in layer.grads.values())]

    backend.force_parts(2)
    try:
        on_drivers = step()
        backend.defer_drivers(True)
        set_aside = step()
    finally:
        backend.defer_drivers(False)
        backend.force_parts(None)
    for ours, theirs in zip(set_aside, on_drivers, strict=True):
        np.testing.assert_array_equal(ours, theirs)


CACHE_USE = """
import json, sys
from rnnlab import backend
from rnnlab.cells import CELLS
from rnnlab.kernels.loops import compiled_loops
from rnnlab.models.language import LanguageModelConfig
from rnnlab.warmup import compile_part

proj_size = int(sys.argv[3])
config = LanguageModelConfig(vocab_size=7, cell=sys.argv[1], hidden_size=8, proj_size=proj_size)
backend.defer_drivers(sys.argv[2] == "training")
compile_part(config, batch_size=2, seq_len=5, part=sys.argv[2])
if proj_size:  # the projected loops
    from rnnlab.kernels.projected import compiled_projected
    backward = (compiled_projected(CELLS[config.cell]).backward_loop,)
else:
    loops = compiled_loops(CELLS[config.cell])
    backward = (loops.backward_loop, loops.pipelined_backward)
print(json.dumps([sum(len(d.stats.cache_hits) for d in backward),
                  sum(sum(d.stats.cache_misses.values()) for d in backward)]))
"""


@pytest.mark.parametrize(("cell", "proj_size"), [("lstm", 0), ("gru", 0), ("lstm", 3)])
def test_the_backward_loops_compiled_without_a_forward_pass_are_those_training_loads(
    tmp_path, cell, proj_size
):
    """The helper compiles them on a tape of zeros while the run compiles its forward."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    found = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", CACHE_USE, cell, part, str(proj_size)],
                capture_output=True, text=True, env=env, check=True, timeout=600,
            ).stdout
        )
        for part in ("backward", "training")
    ]  # fmt: skip
    assert found[0][1] >= 1  # the helper compiled them...
    assert found[1] == [1, 0]  # ...and the run loaded them and compiled none


def test_the_helper_process_says_when_each_part_is_ready():
    config = LanguageModelConfig(vocab_size=7, cell="lstm", hidden_size=8)
    warmup = Warmup(config, batch_size=2, seq_len=5)
    warmup.compile_training()
    warmup.wait("generation")
    assert warmup.ready == {"backward", "drivers", "generation"}
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


def test_rnnlab_warmup_compiles_what_the_same_train_then_loads(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="200")
    options = ["--data", str(corpus), "--hidden", "8", "--batch", "2", "--seq-len", "8"]
    warm = subprocess.run(
        [sys.executable, "-m", "rnnlab.cli", "warmup", *options],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert warm.returncode == 0, warm.stderr
    for name in ("training and evaluation loops", "drivers", "token generator"):
        assert f"{name} ready after" in warm.stdout
    assert str(tmp_path / "cache") in warm.stdout
    train = [sys.executable, "-m", "rnnlab.cli", "train", *options, "--steps", "2"]
    run = subprocess.run(
        [*train, "--sample-length", "5", "--out", str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "compiling" not in run.stdout


def test_drivers_set_aside_are_given_back_even_from_the_reference_backend():
    from rnnlab.runtime import team

    backend.defer_drivers(True)
    try:
        with backend.use_backend("numpy"):
            backend.defer_drivers(False)  # a warm-up ending while the user is on NumPy
        assert not team._drivers_deferred
    finally:
        backend.defer_drivers(False)
