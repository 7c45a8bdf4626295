"""One rank of a small data-parallel run, started by tests/test_distributed_mpi.py as

    mpiexec -n 2 python tests/mpi/train_ranks.py MODE OUT_DIR

MODE ``equivalence``: for LSTM and GRU, train 20 steps of global batch 16 in float64,
each rank starting from its *own* random parameters (so that only the broadcast can make
them agree), and write ``OUT_DIR/<cell>/result.npz`` on rank 0: the final parameters,
whether every rank ended with bit-identical parameters, and the sizes of every Allreduce.
The LSTM run then resumes on 2 ranks from its checkpoint for 5 more steps
(``OUT_DIR/lstm/resumed.npz``). The same module builds the one-process reference
(``make_trainer`` without MPI).

MODE ``time``: rank 1 alone finds its time budget spent after step 3; every rank must
stop after step 3 (each prints its step and why it stopped).

MODE ``fail-step``: rank 1's shard holds a token id outside the vocabulary, met at step 4;
the run must stop on every rank, rank 0 showing the error. MODE ``fail-eval``: rank 1
alone raises in its second validation (outside a step); the job must be aborted.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.errors import RnnlabError
from rnnlab.models.language import LanguageModel, LanguageModelConfig
from rnnlab.train import TrainConfig, Trainer

VOCAB = 10
BATCH = 16  # global: 8 streams per rank on 2 ranks
SEQ_LEN = 8
STEPS = 20
RESUMED_STEPS = 5
CELLS = ("lstm", "gru")
# 60 tokens per stream: 7 chunks per epoch, so the streams wrap (state reset) twice
TRAIN_TOKENS = BATCH * 60 + 5
BAD_STEP = 4  # fail-step: the bad token is in chunk 3 of global stream 9 (rank 1's)


def corpus() -> tuple[np.ndarray, np.ndarray]:
    """Training and validation ids: a noisy repeating pattern, so the loss can move."""
    rng = np.random.default_rng(7)
    ids = (np.arange(TRAIN_TOKENS + 400) * 3) % VOCAB
    noise = rng.random(ids.size) < 0.2
    ids[noise] = rng.integers(0, VOCAB, noise.sum())
    return ids[:TRAIN_TOKENS], ids[TRAIN_TOKENS:]


def make_trainer(
    cell: str, seed: int, out_dir: Path | None, distributed: Any = None, val: Any = None
) -> Trainer:
    """The run both sides train: 2 layers of 12 units, Adam with gradient clipping."""
    train_ids, val_ids = corpus()
    config = LanguageModelConfig(
        vocab_size=VOCAB, cell=cell, hidden_size=12, num_layers=2, dtype="float64"
    )
    model = LanguageModel(config, seed=seed)
    train_config = TrainConfig(
        steps=STEPS,
        batch_size=BATCH,
        seq_len=SEQ_LEN,
        lr=1e-2,
        clip=1.0,
        eval_every=10,
        checkpoint_every=10,
        sample_every=0,
        log_every=1,
    )
    return Trainer(
        model,
        train_ids,
        val_ids if val is None else val,
        train_config,
        out_dir,
        distributed=distributed,
    )


class CountingComm:
    """A communicator that records the length of every buffer given to Allreduce."""

    def __init__(self, comm: Any) -> None:
        self.comm = comm
        self.allreduce_sizes: list[int] = []

    def Allreduce(self, send: Any, receive: np.ndarray, *args: Any, **kwargs: Any) -> None:
        self.allreduce_sizes.append(int(receive.size))
        self.comm.Allreduce(send, receive, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comm, name)


def equivalence(out: Path) -> None:
    from mpi4py import MPI

    from rnnlab.distributed import DataParallel

    resumed = make_trainer("lstm", seed=0, out_dir=None, distributed=DataParallel())
    for cell in CELLS:
        comm = CountingComm(MPI.COMM_WORLD)
        ranks = DataParallel(comm)
        trainer = make_trainer(cell, seed=100 + ranks.rank, out_dir=out / cell, distributed=ranks)
        result = trainer.fit()
        params = trainer.model.state_dict()
        flat = np.concatenate([p.ravel() for p in params.values()])
        everyone = comm.allgather(flat.tobytes())
        if ranks.is_root:
            np.savez(
                out / cell / "result.npz",
                in_sync=all(other == everyone[0] for other in everyone),
                allreduce_sizes=np.array(comm.allreduce_sizes),
                n_params=flat.size,
                exchanges=ranks.exchanges,
                val_loss=result.last_val_loss,
                **{f"param.{name}": value for name, value in params.items()},
            )
    # the LSTM run continued for RESUMED_STEPS more steps on 2 ranks from its checkpoint
    resumed.restore(out / "lstm" / "last.safetensors")
    resumed.config.steps = STEPS + RESUMED_STEPS
    resumed.fit()
    if resumed.is_root:
        np.savez(out / "lstm" / "resumed.npz", **resumed.model.state_dict())


def time_budget() -> None:
    """Rank 1 alone finds its time budget spent after step 3; both ranks must stop there."""
    from rnnlab.distributed import DataParallel

    ranks = DataParallel()
    with ranks.guard():
        trainer = make_trainer("lstm", seed=0, out_dir=None, distributed=ranks)
        if ranks.rank == 1:
            exchange = ranks.exchange

            def late(
                grads: Any, loss: float, tokens: int, out_of_time: bool, *args: Any, **kw: Any
            ):
                spent = trainer.step + 1 >= 3
                return exchange(grads, loss, tokens, out_of_time or spent, *args, **kw)

            ranks.exchange = late
        result = trainer.fit()
    report = {"rank": ranks.rank, "step": result.step, "stopped": result.stopped}
    print(json.dumps(report), flush=True)


def failing(mode: str, out: Path) -> None:
    from rnnlab.distributed import DataParallel

    ranks = DataParallel()
    val: Any = None
    if mode == "fail-eval":
        calls = []

        def val(model: Any) -> float:
            calls.append(1)
            if ranks.rank == 1 and len(calls) == 2:
                raise ValueError("rank 1 cannot read its validation shard")
            return 1.0

    with ranks.guard():
        trainer = make_trainer("lstm", seed=0, out_dir=out, distributed=ranks, val=val)
        if mode == "fail-step" and ranks.rank == 1:
            bad = trainer.batcher.streams.copy()  # rank 1's streams 8..15; global stream 9
            bad[(BAD_STEP - 1) * SEQ_LEN + 2, 1] = VOCAB + 3
            trainer.batcher.streams = bad
        trainer.fit()
    print(json.dumps({"rank": ranks.rank, "finished": True}), flush=True)


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    if mode == "equivalence":
        equivalence(out)
        return
    if mode == "time":
        time_budget()
        return
    try:
        failing(mode, out)
    except RnnlabError as error:  # as `rnnlab train` does: one line, status 2
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
