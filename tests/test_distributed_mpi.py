"""Data-parallel training under a real ``mpiexec -n 2``, compared with one process.

Each test launches MPI itself (``mpiexec`` from the ``mpich`` wheel, installed next to the
running Python by the ``mpi`` extra), with a timeout, so that a hang fails instead of
blocking the suite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np
import pytest

from rnnlab.io import load_checkpoint

HERE = Path(__file__).parent
SCRIPT = HERE / "mpi" / "train_ranks.py"
TIMEOUT = 120  # seconds; a run that hangs fails here instead of blocking the suite


def _ranks_module():
    spec = importlib.util.spec_from_file_location("train_ranks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ranks = _ranks_module()


def mpiexec() -> str:
    """The mpiexec of the mpich wheel (next to this Python), else the one on PATH."""
    schemes = (sysconfig.get_default_scheme(), f"{os.name}_user")  # pip install, --user
    beside = [Path(sysconfig.get_path("scripts", scheme)) / "mpiexec" for scheme in schemes]
    found = next((str(path) for path in beside if path.exists()), shutil.which("mpiexec"))
    if found is None:
        pytest.fail('mpiexec not found: install the MPI extra, pip install "rnnlab[mpi]"')
    return found


def launch(*args: str, n: int = 2) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``mpiexec -n N python ARGS``; returns the finished process and its wall time.

    mpiexec runs in its own process group: on a timeout the whole group (the ranks too)
    is killed and the test fails with what the ranks printed.
    """
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    command = [mpiexec(), "-n", str(n), sys.executable, *args]
    started = time.perf_counter()
    with subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            pytest.fail(f"{' '.join(command)} hung for {TIMEOUT} s:\n{stdout}{stderr}")
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done, time.perf_counter() - started


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> Path:
    """The equivalence run on 2 ranks (LSTM and GRU), launched once per test worker."""
    out = tmp_path_factory.mktemp("two_ranks")
    done, _ = launch(str(SCRIPT), "equivalence", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.mark.parametrize("cell", ranks.CELLS)
def test_two_ranks_of_batch_8_match_one_process_of_batch_16(two_ranks, cell, tmp_path):
    result = np.load(two_ranks / cell / "result.npz")
    single = ranks.make_trainer(cell, seed=100, out_dir=tmp_path)  # rank 0's initial weights
    single_result = single.fit()
    for name, value in single.model.params.items():
        np.testing.assert_allclose(result[f"param.{name}"], value, rtol=0, atol=1e-6)
    assert result["val_loss"] == pytest.approx(single_result.last_val_loss, abs=1e-9)
    assert bool(result["in_sync"]), "the ranks ended with different parameters"
    # rank 0 alone logged: the same records as one process, not twice as many
    lines = (two_ranks / cell / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == len((tmp_path / "metrics.jsonl").read_text().splitlines())


@pytest.mark.parametrize("cell", ranks.CELLS)
def test_each_step_is_one_allreduce_over_one_flat_buffer(two_ranks, cell):
    result = np.load(two_ranks / cell / "result.npz")
    sizes = list(result["allreduce_sizes"])
    n_params = int(result["n_params"])
    # one buffer per step: every gradient + (loss × tokens, tokens, failed, out of time,
    # interrupted)
    assert sizes.count(n_params + 5) == ranks.STEPS == int(result["exchanges"])
    # the others are the 3 validations (step 0, 10, 20), two numbers each
    assert sorted(set(sizes)) == [2, n_params + 5]
    assert sizes.count(2) == 3


def test_checkpoint_of_two_ranks_resumes_exactly_in_one_process_and_on_two(two_ranks, tmp_path):
    straight = ranks.make_trainer("lstm", seed=100, out_dir=None)
    straight.config.steps = ranks.STEPS + ranks.RESUMED_STEPS
    straight.fit()
    on_two_ranks = np.load(two_ranks / "lstm" / "resumed.npz")
    for name, value in straight.model.params.items():
        np.testing.assert_allclose(on_two_ranks[name], value, rtol=0, atol=1e-9)
    resumed = ranks.make_trainer("lstm", seed=5, out_dir=tmp_path)
    resumed.restore(two_ranks / "lstm" / "last.safetensors")
    saved = load_checkpoint(two_ranks / "lstm" / "last.safetensors")
    h, c = saved.extra["state.h"], saved.extra["state.c"]
    assert h.shape == c.shape == (2, ranks.BATCH, 12)  # both ranks' streams, gathered
    resumed.config.steps = ranks.STEPS + ranks.RESUMED_STEPS
    resumed.fit()
    for name, value in straight.model.params.items():
        np.testing.assert_allclose(resumed.model.params[name], value, rtol=0, atol=1e-9)


def test_a_time_budget_spent_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    done, _ = launch(str(SCRIPT), "time", str(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.findall(r"\{[^}]*\}", done.stdout)  # one line per rank, in any order
    reports = sorted((json.loads(text) for text in found), key=lambda report: report["rank"])
    assert reports == [
        {"rank": 0, "step": 3, "stopped": "time"},
        {"rank": 1, "step": 3, "stopped": "time"},
    ]


def test_rank_that_raises_in_a_step_stops_every_rank_and_rank_0_shows_why(tmp_path):
    done, seconds = launch(str(SCRIPT), "fail-step", str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert seconds < 60
    assert (
        f"rank 1 failed at step {ranks.BAD_STEP}: ShapeError: LanguageModel: token ids must "
        f"be in [0, {ranks.VOCAB})" in done.stderr
    )
    assert done.stderr.count("error:") == 1  # shown once, by rank 0
    assert "finished" not in done.stdout


def test_rank_that_raises_outside_a_step_aborts_every_rank(tmp_path):
    done, seconds = launch(str(SCRIPT), "fail-eval", str(tmp_path))
    assert done.returncode != 0
    assert seconds < 60
    assert "error on rank 1 of 2" in done.stderr
    assert "ValueError: rank 1 cannot read its validation shard" in done.stderr
    assert "finished" not in done.stdout  # neither rank went on


CORPUS = "ROMEO:\nBut soft, what light through yonder window breaks?\n\n" * 80
TRAIN_ARGS = [
    "--hidden", "16", "--batch", "4", "--seq-len", "16", "--steps", "8", "--eval-every", "4",
    "--sample-every", "0", "--sample-length", "20", "--minutes", "0", "--dtype", "float64",
]  # fmt: skip


def test_rnnlab_train_under_mpiexec_matches_one_process_and_reports_once(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(CORPUS, encoding="utf-8")
    args = ["-m", "rnnlab.cli", "train", "--data", str(corpus), *TRAIN_ARGS]
    done, _ = launch(*args, "--out", str(tmp_path / "two"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("data parallel over 2 MPI ranks: 2 streams each") == 1
    assert done.stdout.count("stopped after 8 steps") == 1
    one = subprocess.run(
        [sys.executable, *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert one.returncode == 0, one.stdout + one.stderr
    two = load_checkpoint(tmp_path / "two" / "last.safetensors")
    single = load_checkpoint(tmp_path / "one" / "last.safetensors")
    for name, value in single.params.items():
        np.testing.assert_allclose(two.params[name], value, rtol=0, atol=1e-6)
    np.testing.assert_allclose(two.extra["state.h"], single.extra["state.h"], atol=1e-6)


def test_rnnlab_train_under_mpiexec_with_missing_data_exits_with_the_error(tmp_path):
    missing = tmp_path / "missing.txt"
    done, seconds = launch("-m", "rnnlab.cli", "train", "--data", str(missing))
    assert done.returncode != 0
    assert seconds < 60
    assert str(missing) in done.stderr
