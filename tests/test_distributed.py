"""rnnlab.distributed in one process: launcher detection, stream shards, sharded validation,
and the message when MPI is missing. (The runs under mpiexec are in test_distributed_mpi.py.)
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from rnnlab import cli
from rnnlab.data.batching import StreamBatcher
from rnnlab.distributed import (
    INSTALL_HINT,
    MPIUnavailableError,
    ShardedStreamBatcher,
    import_mpi,
    launched_by_mpi,
    shard_range,
    unread_bytes,
    wait_until_launcher_reads,
)
from rnnlab.errors import ConfigError, DataError
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.train import evaluate


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1"}, True),  # MPICH's hydra
        ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "0"}, True),  # Open MPI
        ({"PMIX_RANK": "0"}, True),  # PMIx launchers (srun --mpi=pmix)
        ({"SLURM_PROCID": "0", "HOME": "/root"}, False),  # a batch job, but not MPI
        ({}, False),
    ],
)
def test_launch_by_mpiexec_is_recognised_from_the_environment(environ, expected):
    assert launched_by_mpi(environ) is expected


@pytest.mark.parametrize("size", [2, 4])
def test_shards_are_the_columns_of_the_one_process_chunks_in_the_same_order(size):
    ids = np.arange(16 * 23 + 3)  # 23 tokens per stream: 2 chunks of 10 an epoch
    whole = StreamBatcher(ids, 16, 10)
    shards = [ShardedStreamBatcher(ids, 16, 10, rank, size) for rank in range(size)]
    for _ in range(5):  # across two epoch boundaries
        inputs, targets = whole.next_batch()
        parts = [shard.next_batch() for shard in shards]
        np.testing.assert_array_equal(np.concatenate([p[0] for p in parts], axis=1), inputs)
        np.testing.assert_array_equal(np.concatenate([p[1] for p in parts], axis=1), targets)
        assert all(shard.wrapped == whole.wrapped for shard in shards)
        assert all(shard.state_dict() == whole.state_dict() for shard in shards)


def test_a_shard_resumes_from_the_position_of_a_one_process_batcher():
    ids = np.arange(8 * 41)
    whole = StreamBatcher(ids, 8, 5)
    for _ in range(3):
        whole.next_batch()
    shard = ShardedStreamBatcher(ids, 8, 5, rank=1, size=2)
    shard.load_state_dict(whole.state_dict())
    np.testing.assert_array_equal(shard.next_batch()[0], whole.next_batch()[0][:, 4:])
    with pytest.raises(DataError, match="batch_size=8"):
        ShardedStreamBatcher(ids, 4, 5, rank=0, size=2).load_state_dict(whole.state_dict())


def test_shards_need_a_batch_divisible_by_the_ranks_and_enough_text():
    with pytest.raises(ConfigError, match=r"divisible by the number of ranks.*batch_size=6"):
        ShardedStreamBatcher(np.arange(1000), 6, 10, rank=0, size=4)
    with pytest.raises(DataError, match="at least 88"):
        ShardedStreamBatcher(np.arange(80), 8, 10, rank=0, size=2)


@pytest.mark.parametrize("size", [2, 3, 8])
def test_sharded_validation_adds_up_to_the_one_process_validation(size):
    """Unequal shards (5 streams on 2 or 3 ranks, some ranks empty on 8) still sum exactly."""
    model = LanguageModel(LanguageModelConfig(vocab_size=7, hidden_size=8, dtype="float64"), seed=0)
    ids = np.random.default_rng(0).integers(0, 7, 301)
    loss, count = evaluate(model, ids, batch_size=5, seq_len=16)
    parts = [evaluate(model, ids, 5, 16, shard=(rank, size)) for rank in range(size)]
    assert sum(c for _, c in parts) == count
    assert sum(part * c for part, c in parts) / count == pytest.approx(loss, rel=1e-12)
    assert [shard_range(5, rank, size) for rank in range(size)][-1][1] == 5


def test_without_mpi4py_distributed_training_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # as if it were not installed
    with pytest.raises(MPIUnavailableError, match=r'pip install "rnnlab\[mpi\]"'):
        import_mpi()
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be " * 50, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["rnnlab", "train", "--distributed", "--data", str(corpus)])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 2
    assert INSTALL_HINT in " ".join(capsys.readouterr().err.split())


def test_before_an_abort_a_rank_waits_until_the_launcher_has_read_its_message(tmp_path):
    message = b"error on rank 1 of 2: boom\n"
    read_end, write_end = os.pipe()
    with os.fdopen(read_end, "rb") as launcher, os.fdopen(write_end, "wb") as stderr:
        stderr.write(message)
        stderr.flush()
        assert unread_bytes(write_end) == len(message)
        wait_until_launcher_reads(stderr, timeout=0.01)  # nobody reads: gives up in time
        assert unread_bytes(write_end) == len(message)
        reader = threading.Thread(target=launcher.read, args=(len(message),))
        reader.start()
        wait_until_launcher_reads(stderr, timeout=60)  # returns once the pipe is empty
        assert unread_bytes(write_end) == 0
        reader.join()
    with open(tmp_path / "log.txt", "w") as file:  # not a pipe: nothing to wait for
        file.write("x")
        wait_until_launcher_reads(file, timeout=60)
