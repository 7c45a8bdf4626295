"""Data-parallel training over MPI: R processes, a shard of the streams each, one Allreduce a step.

``mpiexec -n R rnnlab train ...`` runs R copies of the same training; each copy (a *rank*)
is given a ``DataParallel`` and passes it to its ``Trainer``. Then every rank

- builds the same model and takes rank 0's parameters (one ``Bcast``), after checking
  that all ranks were given the same model, data and options;
- reads its own shard of the B training streams: rank r of R owns streams
  r·B/R … (r+1)·B/R − 1 of the B-stream layout (``ShardedStreamBatcher``), so together the
  ranks see exactly the chunks one process with batch B sees, and each rank carries the
  state of its own streams;
- after backward, sums one flat buffer over all ranks with a single ``Allreduce``: every
  gradient, the loss × tokens, the tokens, a failure flag and a time-budget flag. Each
  rank's loss is a mean over B/R · T tokens, so the mean of the rank gradients is the
  gradient of the global mean loss: the update is the one-process update, to rounding;
- evaluates its share of the validation streams; loss sums and token counts are reduced.

Rank 0 alone writes checkpoints, metrics and the progress display. A checkpoint holds the
carried state of all B streams (gathered from the ranks), so it resumes on any number of
ranks, or in one process. Each rank has its own dropout stream, derived from the seed.

Failures. A rank that raises during a step still joins the step's ``Allreduce``, with its
failure flag set: every rank learns that the step failed and raises ``DistributedError``,
whose message (who failed and why) rank 0 shows. Anything that escapes elsewhere is
caught by ``guard()``, printed by the rank that raised it, and ends the job with
``comm.Abort``: left alone, it would hang the other ranks in their next collective call.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import numpy as np

from rnnlab.data.batching import StreamBatcher, _as_token_ids
from rnnlab.errors import ConfigError, DataError, RnnlabError

INSTALL_HINT = 'pip install "rnnlab[mpi]"'
#: variables a launcher sets in each process it starts: MPICH's and Intel MPI's hydra
#: (PMI_RANK, PMI_SIZE, MPI_LOCALRANKID), Open MPI (OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK)
LAUNCHER_VARIABLES = (
    "PMI_RANK",
    "PMI_SIZE",
    "MPI_LOCALRANKID",
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
)
#: buffer slots after the gradients: loss × tokens, tokens, failed ranks, ranks out of
#: time, ranks that a signal asked to stop
_TAIL = 5


class MPIUnavailableError(RnnlabError, ImportError):
    """Distributed training was asked for, but mpi4py (or an MPI library) is missing."""


class DistributedError(RnnlabError, RuntimeError):
    """Raised on every rank when a rank failed, or when the ranks disagree."""


def launched_by_mpi(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process was started by an MPI launcher (``mpiexec``, ``srun``)."""
    environ = os.environ if environ is None else environ
    return any(name in environ for name in LAUNCHER_VARIABLES)


def import_mpi() -> ModuleType:
    """``mpi4py.MPI``, or an MPIUnavailableError saying how to install it."""
    try:
        from mpi4py import MPI
    except ImportError as error:  # mpi4py absent, or built against an MPI no longer there
        raise MPIUnavailableError(
            f"distributed training needs mpi4py and an MPI library ({error}); install "
            f'them with {INSTALL_HINT} (the "mpich" wheel brings mpiexec), then run '
            "mpiexec -n 2 rnnlab train ..."
        ) from None
    return MPI


def shard_range(n: int, rank: int, size: int) -> tuple[int, int]:
    """Items [start, stop) of ``n`` owned by ``rank`` of ``size``: contiguous and as even
    as possible (``rnnlab.train.evaluate`` cuts validation streams the same way)."""
    return n * rank // size, n * (rank + 1) // size


class ShardedStreamBatcher(StreamBatcher):
    """Rank ``rank``'s share of a ``StreamBatcher(ids, batch_size, seq_len)``.

    The corpus is cut into ``batch_size`` streams of L = N // batch_size tokens as for
    one process; this rank keeps streams r·b … (r+1)·b − 1 (b = batch_size / size), so
    its chunk k is columns r·b … (r+1)·b − 1 of the global chunk k, (seq_len, b) each.
    ``state_dict()`` speaks of the global batcher, so checkpoints do not depend on R.
    """

    def __init__(
        self, ids: Any, batch_size: int, seq_len: int, rank: int, size: int, offset: int = 0
    ) -> None:
        arr = _as_token_ids(ids)
        if batch_size % size:
            raise ConfigError(
                f"batch_size must be divisible by the number of ranks to give every rank the "
                f"same number of streams, got batch_size={batch_size} for {size} ranks; "
                f"use e.g. --batch {-(-batch_size // size) * size}"
            )
        needed = batch_size * (seq_len + 1)
        if len(arr) - offset < needed:
            raise DataError(
                f"the corpus has {len(arr) - offset} tokens, but batch_size={batch_size} and "
                f"seq_len={seq_len} need at least {needed}; use more text or a smaller "
                "batch_size or seq_len"
            )
        local = batch_size // size
        stream_len = (len(arr) - offset) // batch_size
        start = offset + rank * local * stream_len
        super().__init__(arr[start : start + local * stream_len], local, seq_len)
        self.rank, self.size = rank, size
        self._global = {"batch_size": batch_size, "offset": offset, "n_tokens": len(arr)}

    def state_dict(self) -> dict[str, int]:
        """The position and the settings of the global batcher (valid on any R)."""
        return super().state_dict() | self._global


def _describe(error: BaseException) -> str:
    """One line for an rnnlab error; the traceback for anything else (a bug)."""
    if isinstance(error, RnnlabError):
        return f"{type(error).__name__}: {error}"
    return "".join(traceback.format_exception(error)).rstrip()


class DataParallel:
    """This process's place in an MPI job, and the collective steps of data-parallel training.

    ``comm``: an mpi4py communicator (default ``MPI.COMM_WORLD``). ``comm_seconds`` and
    ``exchanges`` count the time spent in, and the number of, gradient Allreduces.
    """

    def __init__(self, comm: Any = None) -> None:
        self.MPI = import_mpi()
        self.comm = self.MPI.COMM_WORLD if comm is None else comm
        self.rank: int = self.comm.Get_rank()
        self.size: int = self.comm.Get_size()
        self.comm_seconds = 0.0
        self.exchanges = 0
        #: agreed in the last exchange: some rank has used up its time budget
        self.time_is_up = False
        #: a rank was sent SIGINT or SIGTERM (agreed in the last exchange: every rank stops)
        self.interrupted = False
        self._buffer: np.ndarray | None = None

    @property
    def is_root(self) -> bool:
        """Rank 0: the one that writes and reports."""
        return self.rank == 0

    def __repr__(self) -> str:
        return f"DataParallel(rank={self.rank}, size={self.size})"

    # -- start ----------------------------------------------------------------------
    def start(self, model: Any, signature: Mapping[str, Any], seed: int) -> None:
        """Check that every rank got the same run, give every rank rank 0's parameters
        (one Bcast) and each rank its own dropout stream (rank 0 keeps the seed's own)."""
        params = model.params
        shapes = ", ".join(f"{name} {p.shape} {p.dtype}" for name, p in params.items())
        mine = {**signature, "parameters": shapes}
        theirs = self.comm.allgather(mine)
        for rank, other in enumerate(theirs):
            for key in sorted(set(other) | set(mine)):
                if other.get(key) != theirs[0].get(key):
                    raise DistributedError(
                        f"rank {rank} was given {key}={other.get(key)!r} but rank 0 "
                        f"{key}={theirs[0].get(key)!r}: every rank must run the same command"
                    )
        flat = self._flatten(params)
        self.comm.Bcast(flat, root=0)
        self._unflatten(flat, params)
        if self.rank:
            rank_seed = np.random.SeedSequence(seed, spawn_key=(self.rank,))
            model.rng.bit_generator.state = np.random.default_rng(rank_seed).bit_generator.state

    def stream_batcher(self, ids: Any, batch_size: int, seq_len: int) -> ShardedStreamBatcher:
        """This rank's shard of the training streams."""
        return ShardedStreamBatcher(ids, batch_size, seq_len, self.rank, self.size)

    # -- the step ------------------------------------------------------------------
    @staticmethod
    def _flatten(arrays: Mapping[str, np.ndarray], tail: int = 0) -> np.ndarray:
        dtype = np.result_type(*arrays.values())
        flat = np.empty(sum(a.size for a in arrays.values()) + tail, dtype)
        offset = 0
        for a in arrays.values():
            flat[offset : offset + a.size] = a.ravel()
            offset += a.size
        return flat

    @staticmethod
    def _unflatten(flat: np.ndarray, arrays: Mapping[str, np.ndarray]) -> None:
        offset = 0
        for a in arrays.values():
            a[...] = flat[offset : offset + a.size].reshape(a.shape)
            offset += a.size

    def exchange(
        self,
        grads: Mapping[str, np.ndarray],
        loss: float,
        tokens: int,
        out_of_time: bool = False,
        error: BaseException | None = None,
        step: int | None = None,
        interrupted: bool = False,
    ) -> tuple[float, int]:
        """The step's one Allreduce: ``grads`` (live arrays) become the mean over ranks.

        Returns (global mean loss, global tokens) and sets ``time_is_up`` and
        ``interrupted`` (true on every rank if true on one: all stop at one step). A rank that
        caught ``error`` in this step passes it instead of results; then every rank raises
        DistributedError, and rank 0's message says which rank failed at ``step`` and why.
        """
        n = sum(g.size for g in grads.values())
        if self._buffer is None or self._buffer.size != n + _TAIL:
            self._buffer = self._flatten(grads, _TAIL)
        buffer = self._buffer
        if error is None:
            offset = 0
            for g in grads.values():
                buffer[offset : offset + g.size] = g.ravel()
                offset += g.size
            buffer[n:] = (loss * tokens, tokens, 0, out_of_time, interrupted)
        else:
            buffer[:] = 0
            buffer[n + 2] = 1
        started = time.perf_counter()
        self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
        self.comm_seconds += time.perf_counter() - started
        self.exchanges += 1
        if buffer[n + 2]:
            self._fail_together(error, f" at step {step}" if step is not None else "")
        buffer[:n] /= self.size
        self._unflatten(buffer[:n], grads)
        self.interrupted = bool(buffer[n + 4])
        self.time_is_up = bool(buffer[n + 3]) or self.interrupted
        return float(buffer[n] / buffer[n + 1]), round(float(buffer[n + 1]))

    def _fail_together(self, error: BaseException | None, where: str) -> None:
        """Collect every rank's error on rank 0 and raise DistributedError on every rank."""
        reports = self.comm.gather(None if error is None else _describe(error), root=0)
        if not self.is_root:
            raise DistributedError(f"rank {self.rank} stopped: a rank failed{where}") from error
        failed = [(rank, text) for rank, text in enumerate(reports) if text is not None]
        if len(failed) == self.size and len({text for _, text in failed}) == 1:
            message = f"every rank failed{where}: {failed[0][1]}"  # the same error everywhere
        else:
            message = "; ".join(f"rank {rank} failed{where}: {text}" for rank, text in failed)
        raise DistributedError(message) from error

    @contextmanager
    def together(self) -> Iterator[None]:
        """Run a block on every rank and agree on its outcome: if it raised on any rank,
        every rank raises DistributedError (rank 0's message collects the errors)."""
        error: BaseException | None = None
        try:
            yield
        except Exception as caught:
            error = caught
        if any(self.comm.allgather(error is not None)):
            self._fail_together(error, "")

    # -- validation ------------------------------------------------------------------
    def evaluate(
        self,
        model: Any,
        ids: np.ndarray,
        batch_size: int = 32,
        seq_len: int = 64,
        max_tokens: int | None = None,
    ) -> tuple[float, int]:
        """``rnnlab.train.evaluate`` over all ranks: each rank scores its share of the
        validation streams; the loss sums and token counts are added up (one Allreduce)."""
        from rnnlab.train import evaluate

        shard = (self.rank, self.size)
        loss, count = evaluate(model, ids, batch_size, seq_len, max_tokens, shard=shard)
        sums = self._sum([loss * count, count])
        return float(sums[0] / max(sums[1], 1)), round(float(sums[1]))

    def mean(self, value: float) -> float:
        """The mean of ``value`` over the ranks."""
        return float(self._sum([value])[0] / self.size)

    def _sum(self, values: list[float]) -> np.ndarray:
        """Sums over the ranks, then rank 0's sums on every rank: the decisions taken on
        a validation loss (best checkpoint, early stopping) must agree to the last bit."""
        sums = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, sums, op=self.MPI.SUM)
        self.comm.Bcast(sums, root=0)
        return sums

    # -- checkpoints -----------------------------------------------------------------
    def checkpoint_view(
        self, state: Any, train_state: dict[str, Any], model: Any
    ) -> tuple[Any, dict[str, Any]]:
        """Collective: the carried state of all B streams (rank 0; None elsewhere) and the
        train state with every rank's dropout generator, as one process would save them."""
        rngs = self.comm.gather(model.rng.bit_generator.state, root=0)
        parts = self.comm.gather(state, root=0)
        if not self.is_root:
            return None, train_state
        full: Any = None
        if all(part is not None for part in parts):
            if isinstance(parts[0], tuple):
                full = tuple(np.concatenate(p, axis=1) for p in zip(*parts, strict=True))
            else:
                full = np.concatenate(parts, axis=1)
        return full, train_state | {"rank_rngs": rngs}

    def restore_view(self, state: Any, train_state: Mapping[str, Any], model: Any) -> Any:
        """This rank's streams of a checkpoint's carried state (axis 1 is the batch), and
        its dropout generator (from a run on as many ranks, else derived from the seed)."""
        rngs = train_state.get("rank_rngs")
        if rngs is not None and len(rngs) == self.size:
            model.rng.bit_generator.state = rngs[self.rank]
        elif self.rank:
            seed = train_state.get("config", {}).get("seed", 0)
            sequence = np.random.SeedSequence(seed, spawn_key=(self.rank, int(train_state["step"])))
            model.rng.bit_generator.state = np.random.default_rng(sequence).bit_generator.state
        if state is None:
            return None
        start, stop = shard_range(_batch_of(state), self.rank, self.size)
        if isinstance(state, tuple):
            return tuple(np.ascontiguousarray(s[:, start:stop]) for s in state)
        return np.ascontiguousarray(state[:, start:stop])

    # -- failures anywhere else --------------------------------------------------------
    @contextmanager
    def guard(self) -> Iterator[None]:
        """Wrap a rank's whole job. An agreed DistributedError is left to rank 0 to show
        (the others exit with status 2); any other exception is printed here, with the
        rank, and aborts every rank (``comm.Abort(1)``) instead of hanging them."""
        try:
            yield
        except DistributedError:
            if self.is_root:
                raise
            raise SystemExit(2) from None
        except (Exception, KeyboardInterrupt) as error:
            print(
                f"error on rank {self.rank} of {self.size}: {_describe(error)}\n"
                f"aborting all {self.size} ranks",
                file=sys.stderr,
                flush=True,
            )
            sys.stdout.flush()
            wait_until_launcher_reads(sys.stderr)
            wait_until_launcher_reads(sys.stdout)
            self.comm.Abort(1)
            os._exit(1)  # MPICH's Abort may return before the launcher kills this process


def wait_until_launcher_reads(stream: Any, timeout: float = 2.0) -> None:
    """Wait (at most ``timeout`` s) until the pipe behind ``stream`` has been read empty.

    The launcher forwards what a rank prints through a pipe; ``Abort`` tells it to end the
    job, and it may act on that before it has read the pipe, losing the message that says
    why (MPICH's hydra did so in about 1 run in 25). Nothing to wait for when the stream
    is not a pipe (a terminal, a file).
    """
    try:
        descriptor = stream.fileno()
        if not stat.S_ISFIFO(os.fstat(descriptor).st_mode):
            return
        deadline = time.monotonic() + timeout
        while unread_bytes(descriptor) > 0 and time.monotonic() < deadline:
            time.sleep(0.001)
    except (OSError, ValueError, AttributeError, ImportError):  # no pipe to wait for
        return


def unread_bytes(descriptor: int) -> int:
    """Bytes written to the pipe ``descriptor`` and not yet read by the other end."""
    import fcntl  # POSIX only, like the launchers this waits for
    import termios

    answer = fcntl.ioctl(descriptor, termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(answer, sys.byteorder, signed=True)


def _batch_of(state: Any) -> int:
    return (state[0] if isinstance(state, tuple) else state).shape[1]
