"""The training loop: truncated BPTT with a carried state, clipping, validation, checkpoints.

One readable loop drives any model that offers

    model.compute_loss(inputs, targets, state, train) -> (mean loss, tokens, final state)

and the Module interface (``params``, ``grads``, ``zero_grad``, ``train``/``eval``).
Each step takes the next chunk of B parallel streams, carries the recurrent state over
from the previous chunk (reset when the streams wrap to a new epoch), back-propagates
through the chunk only, clips the gradient and updates.

A run directory holds ``last.safetensors`` (the latest state, for ``--resume``),
``best.safetensors`` (the best validation loss) and ``metrics.jsonl``. A resumed run
continues bit for bit as if it had never stopped: parameters, optimiser slots, the
stream position, the carried state and the dropout generator are all in the checkpoint.

Given ``distributed`` (a ``rnnlab.distributed.DataParallel``), the trainer is one rank of
a data-parallel MPI job: it trains on its shard of the streams, averages the gradients
over the ranks before clipping, reduces validation across ranks, and only rank 0 writes
and reports. See ``rnnlab/distributed.py``.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.data.batching import StreamBatcher, eval_chunks
from rnnlab.errors import CheckpointError, ConfigError, RnnlabError, check_positive_int
from rnnlab.io import load_checkpoint, save_checkpoint
from rnnlab.models.size import check_training_fits
from rnnlab.nn.module import inference
from rnnlab.optim import (
    Optimizer,
    clip_grad_norm,
    clip_grad_value,
    global_norm,
    make_optimizer,
    make_schedule,
)
from rnnlab.options import clip_option, lr_option, option, schedule_option, seed_option

LN2 = math.log(2)


@dataclass
class TrainConfig:
    """Every option of a run, with defaults that work (stored in checkpoints as JSON)."""

    #: stop after this many updates (None: only the time budget)
    steps: int | None = option(4000, "step budget; 0: none", none=0)
    #: stop after this much time in all: a resumed run counts what it had done, and
    #: ``rnnlab train`` counts the compiling of the kernels on a cold cache
    minutes: float | None = option(None, "time budget in minutes; 0: none", none=0.0)
    batch_size: int = option(32, "parallel streams (sequences per step)", flag="--batch")
    seq_len: int = option(64, "truncated-BPTT length")
    optimizer: str = option("adam", "sgd, momentum, nesterov, adagrad, rmsprop, adam or adamw")
    lr: float = lr_option(2e-3)
    weight_decay: float = 0.0
    schedule: str = schedule_option("constant")  #: over ``steps``
    clip: float | None = clip_option(5.0)  #: max gradient norm (or value)
    clip_mode: str = "norm"  #: "norm" (global L2 norm) or "value" (each element)
    eval_every: int = option(250, "validate every N steps")
    eval_tokens: int | None = 100_000  #: cap on validation tokens during training
    sample_every: int = option(1000, "preview a sample every N steps; 0: never")
    sample_length: int = 200
    checkpoint_every: int = 500  #: write ``last`` every N steps ...
    checkpoint_seconds: float = 60.0  #: ... and at least this often (single process)
    #: stop after this many evaluations without improvement
    patience: int | None = option(None, "early stopping after N evaluations; 0: off", none=0)
    log_every: int = 10
    seed: int = seed_option()

    def __post_init__(self) -> None:
        if self.steps is None and self.minutes is None:
            raise ConfigError("give steps or minutes (or both): training needs a budget")
        if self.steps is not None:
            check_positive_int("steps", self.steps)
        if self.minutes is not None and not self.minutes > 0:
            raise ConfigError(f"minutes must be positive, got {self.minutes!r}")
        for name in ("batch_size", "seq_len", "eval_every", "checkpoint_every", "log_every"):
            check_positive_int(name, getattr(self, name))
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, got {self.lr!r}")
        if self.clip is not None and not self.clip > 0:
            raise ConfigError(f"clip must be positive or None, got {self.clip!r}")
        if self.clip_mode not in ("norm", "value"):
            raise ConfigError(f"clip_mode must be 'norm' or 'value', got {self.clip_mode!r}")
        if self.sample_every < 0:
            raise ConfigError(f"sample_every must be ≥ 0, got {self.sample_every!r}")
        if not self.checkpoint_seconds > 0:
            raise ConfigError(
                f"checkpoint_seconds must be positive, got {self.checkpoint_seconds!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in known})


@dataclass
class TrainResult:
    """How a run ended."""

    step: int
    stopped: str  #: "steps", "time", "early stopping", "diverged" or "interrupted"
    best_val_loss: float | None
    last_val_loss: float | None
    seconds: float
    tokens_per_second: float
    message: str = ""
    signal: int = 0  #: the signal that interrupted the run (SIGINT, SIGTERM), if one did
    step_seconds: float = 0.0  #: of ``seconds``, the time spent in training steps
    step_tokens_per_second: float = 0.0  #: the rate of the training steps alone
    #: the validation loss over all of the validation text at the end, when the
    #: evaluations during the run scored only a sample of it (``eval_tokens``)
    full_val_loss: float | None = None


def evaluate(
    model: Any,
    ids: np.ndarray,
    batch_size: int = 32,
    seq_len: int = 64,
    max_tokens: int | None = None,
    shard: tuple[int, int] = (0, 1),
) -> tuple[float, int]:
    """Mean loss (nats per token) of ``model`` over ``ids``, state carried along each stream.

    ids: (N,) → (loss, tokens scored). ``max_tokens`` evaluates a prefix only.
    The model is evaluated in eval mode and put back in the mode it was in.
    ``shard=(r, R)`` scores only part r of R of the streams (contiguous, as even as
    possible), so that R processes together score every stream once.
    """
    if max_tokens is not None and len(ids) > max_tokens + 1:
        ids = ids[: max_tokens + 1]
    batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
    rank, size = shard
    if size > 1:
        first, stop = batch_size * rank // size, batch_size * (rank + 1) // size
        stream_len = len(ids) // batch_size
        ids, batch_size = ids[first * stream_len : stop * stream_len], stop - first
        if batch_size == 0:
            return 0.0, 0
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    try:
        with inference(model):
            for inputs, targets in eval_chunks(ids, batch_size, seq_len):
                loss, tokens, state = model.compute_loss(inputs, targets, state, train=False)
                total += loss * tokens
                count += tokens
    finally:
        model.train(was_training)
    return total / max(count, 1), count


def _state_to_arrays(state: Any) -> dict[str, np.ndarray]:
    if state is None:
        return {}
    if isinstance(state, tuple):
        return {"state.h": state[0], "state.c": state[1]}
    return {"state.h": state}


def _state_from_arrays(extra: dict[str, np.ndarray]) -> Any:
    if "state.c" in extra:
        return (extra["state.h"], extra["state.c"])
    return extra.get("state.h")


class Trainer:
    """Train ``model``; ``fit()`` runs until a budget or the patience ends.

    train: (N,) token ids, served as ``batch_size`` streams of ``seq_len`` chunks (language
    modelling), or any batch source with ``next_batch() -> (inputs, targets)``, a
    ``wrapped`` flag and ``state_dict``/``load_state_dict`` (e.g.
    ``rnnlab.data.datasets.ArrayBatcher``). val: (N,) token ids, or a callable
    ``val(model) -> loss`` run in eval mode, or None. ``out_dir``: where checkpoints and
    metrics go (None: nowhere). ``report``: a callable receiving one dict per event (the
    CLI's progress display); ``data_source`` is stored so a run can be resumed.
    """

    def __init__(
        self,
        model: Any,
        train: Any,
        val: np.ndarray | Callable[[Any], float] | None,
        config: TrainConfig,
        out_dir: str | Path | None = None,
        report: Callable[[dict[str, Any]], None] | None = None,
        data_source: Any = None,
        distributed: Any = None,
    ) -> None:
        self.model = model
        #: a rnnlab.distributed.DataParallel when this trainer is one rank of an MPI job
        self.distributed = distributed
        #: this process writes checkpoints and metrics and reports (rank 0, or the only one)
        self.is_root = distributed is None or distributed.is_root
        self.config = config
        self.val = val
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.report = report or (lambda event: None)
        self.data_source = data_source
        #: token streams: losses are per token and also reported in bits
        self.language = isinstance(train, np.ndarray)
        if self.language and distributed is not None:
            self.batcher: Any = distributed.stream_batcher(train, config.batch_size, config.seq_len)
        elif self.language:
            self.batcher = StreamBatcher(train, config.batch_size, config.seq_len)
        else:
            self.batcher = train  # under MPI: each rank passes its own shard
        self.optimizer: Optimizer = make_optimizer(
            config.optimizer, model.params, config.lr, weight_decay=config.weight_decay
        )
        self.schedule = make_schedule(config.schedule, config.lr, config.steps or 10**9)
        self.step = 0
        self.state: Any = None
        self.best_val_loss: float | None = None
        self.last_val_loss: float | None = None
        self.evals_since_best = 0
        self.tokens_seen = 0
        #: training time in seconds before this ``fit``, over the run's earlier invocations
        self.seconds = 0.0
        self._fit_started: float | None = None
        self._window_tokens = 0
        self._deadline: float | None = None
        self._interrupt = 0  #: the signal that asked the loop to stop, if one did
        model_config = getattr(model, "config", None)
        if hasattr(model_config, "hidden_size"):  # a step's arrays, before the first step
            check_training_fits(model_config, config.batch_size, config.seq_len)
        if distributed is not None:  # same run on every rank, then rank 0's parameters
            size = len(train) if self.language else None
            signature = {"config": config.to_json(), "train tokens": size}
            distributed.start(model, signature, config.seed)

    # -- checkpoints -------------------------------------------------------------
    def _train_state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "batcher": self.batcher.state_dict(),
            "best_val_loss": self.best_val_loss,
            "last_val_loss": self.last_val_loss,
            "evals_since_best": self.evals_since_best,
            "tokens_seen": self.tokens_seen,
            "seconds": self._training_seconds(),
            "rng": self.model.rng.bit_generator.state,
            "config": self.config.to_json(),
            "data_source": self.data_source,
        }

    def save(self, name: str) -> Path | None:
        """Write ``out_dir/name.safetensors`` atomically; returns its path."""
        if self.out_dir is None:
            return None
        state, train_state = self.state, self._train_state()
        if self.distributed is not None:  # collective: all streams' states go to rank 0
            state, train_state = self.distributed.checkpoint_view(state, train_state, self.model)
        if not self.is_root:
            return None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        return save_checkpoint(
            self.out_dir / f"{name}.safetensors",
            self.model,
            vocab=getattr(self.model, "vocab", None),
            optimizer=self.optimizer,
            train_state=train_state,
            extra=_state_to_arrays(state),
        )

    def restore(self, path: str | Path) -> None:
        """Continue from a checkpoint written by ``save`` (parameters, optimiser, stream,
        carried state, dropout generator, training time); CheckpointError if its training
        state is missing or malformed."""
        checkpoint = load_checkpoint(path)
        self.model.load_state_dict(checkpoint.params)
        if checkpoint.optimizer is not None:
            self.optimizer.load_state_dict(checkpoint.optimizer)
        state = checkpoint.train_state
        try:
            self.step = _count(state["step"])
            self.batcher.load_state_dict(state["batcher"])
            self.best_val_loss = _loss(state.get("best_val_loss"))
            self.last_val_loss = _loss(state.get("last_val_loss"))
            self.evals_since_best = _count(state.get("evals_since_best", 0))
            self.tokens_seen = _count(state.get("tokens_seen", 0))
            self.seconds = float(state.get("seconds", 0.0))
            self.model.rng.bit_generator.state = state["rng"]
        except RnnlabError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
            raise CheckpointError(
                f"checkpoint {checkpoint.path}: its training state is malformed ({error!r})"
            ) from None
        self.state = _state_from_arrays(checkpoint.extra)
        if self.distributed is not None:  # this rank's streams and dropout generator
            self.state = self.distributed.restore_view(self.state, state, self.model)

    # -- the loop ----------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        if not self.is_root:
            return
        self.report(record)
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(record) + "\n")

    def train_step(self) -> tuple[float, float]:
        """One update on the next batch; returns (loss, gradient norm)."""
        error = None
        try:
            inputs, targets = self.batcher.next_batch()
            if self.batcher.wrapped:  # a new epoch: the streams start over
                self.state = None
            self.optimizer.lr = self.schedule.lr_at(self.step)
            self.model.zero_grad()
            loss, tokens, state = self.model.compute_loss(inputs, targets, self.state, train=True)
        except Exception as caught:
            if self.distributed is None:
                raise
            error, loss, tokens, state = caught, math.nan, 0, None  # the exchange tells all
        grads = self.model.grads
        if self.distributed is not None:  # the mean gradient over ranks, before clipping
            out_of_time = self._deadline is not None and time.perf_counter() >= self._deadline
            loss, tokens = self.distributed.exchange(
                grads, loss, tokens, out_of_time, error, self.step + 1, bool(self._interrupt)
            )
            if self.distributed.interrupted and not self._interrupt:
                self._interrupt = signal.SIGINT  # another rank's signal: stop as one
        if self.config.clip is None:
            norm = global_norm(grads)
        elif self.config.clip_mode == "norm":
            norm = clip_grad_norm(grads, self.config.clip)
        else:
            norm = global_norm(grads)
            clip_grad_value(grads, self.config.clip)
        if not (math.isfinite(loss) and math.isfinite(norm)):
            return loss, norm  # the caller stops before anything is updated
        self.optimizer.step(grads)
        self.model.constrain()  # e.g. IndRNN's |u| ≤ recurrent_max
        self.state = state
        self.step += 1
        self.tokens_seen += tokens
        self._window_tokens += tokens
        return loss, norm

    def validate(self) -> float | None:
        """Validation loss (on at most ``eval_tokens`` of a token stream); tracks the best."""
        if self.val is None:
            return None
        if callable(self.val):
            was_training = self.model.training
            self.model.eval()
            try:
                loss = float(self.val(self.model))
            finally:
                self.model.train(was_training)
            if self.distributed is not None:
                loss = self.distributed.mean(loss)
        else:
            loss, _ = (evaluate if self.distributed is None else self.distributed.evaluate)(
                self.model,
                self.val,
                self.config.batch_size,
                self.config.seq_len,
                self.config.eval_tokens,
            )
        self.last_val_loss = loss
        if self.best_val_loss is None or loss < self.best_val_loss:
            self.best_val_loss = loss
            self.evals_since_best = 0
            self.save("best")
        else:
            self.evals_since_best += 1
        record = {"event": "eval", "step": self.step, "val_loss": loss}
        if self.language:
            record["val_bpc"] = loss / LN2
        self._log(record)
        return loss

    def _preview(self) -> None:
        if not (self.language and self.is_root) or getattr(self.model, "vocab", None) is None:
            return
        from rnnlab.generate import sample

        text = sample(self.model, n=self.config.sample_length, seed=self.step)
        self.report({"event": "sample", "step": self.step, "text": text})

    def fit(self) -> TrainResult:
        """Train until the step budget, the time budget or the patience runs out, or a
        SIGINT or SIGTERM asks to stop: then the step under way ends, ``last`` is saved
        and the result says "interrupted" (a second Ctrl-C stops at once)."""
        with self._stopping_on_signals():
            return self._fit()

    @contextlib.contextmanager
    def _stopping_on_signals(self) -> Iterator[None]:
        """Catch SIGINT and SIGTERM while fitting (in the main thread, where Python runs
        signal handlers; elsewhere nothing changes)."""
        self._interrupt = 0
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask_to_stop(signum: int, frame: Any) -> None:
            if self._interrupt and signum == signal.SIGINT:
                raise KeyboardInterrupt  # asked twice: stop now
            self._interrupt = signum

        caught = (signal.SIGINT, signal.SIGTERM)
        previous = {number: signal.signal(number, ask_to_stop) for number in caught}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _training_seconds(self) -> float:
        """Training time of the run so far, this ``fit`` included."""
        now = time.perf_counter()
        return self.seconds + (0.0 if self._fit_started is None else now - self._fit_started)

    def _fit(self) -> TrainResult:
        config = self.config
        self.model.train()
        started = self._fit_started = last_saved = time.perf_counter()
        self._step_seconds, self._full_val_loss = 0.0, None
        tokens_before = self.tokens_seen
        window_start, self._window_tokens = started, 0
        if config.minutes is not None:  # the run's budget, less what earlier invocations used
            self._deadline = started + config.minutes * 60 - self.seconds
        if self.distributed is not None:
            self.distributed.time_is_up = False
        if self.step == 0 and self.best_val_loss is None:  # not again for a run resumed at 0
            self.validate()
        stopped, message = "steps", ""
        while True:
            if config.steps is not None and self.step >= config.steps:
                stopped = "steps"
                break
            if self._out_of_time():
                # under MPI from the agreed flag: every rank takes the same branch below
                agreed = self.distributed.interrupted if self.distributed else self._interrupt
                stopped = "interrupted" if agreed else "time"
                break
            before_step = time.perf_counter()
            loss, norm = self.train_step()
            self._step_seconds += time.perf_counter() - before_step
            if not (math.isfinite(loss) and math.isfinite(norm)):
                stopped = "diverged"
                message = (
                    f"training diverged at step {self.step + 1}: the loss is {loss} and the "
                    f"gradient norm {norm}; the last good checkpoint was kept. Try a lower "
                    "--lr or a smaller --clip."
                )
                self._log({"event": "diverged", "step": self.step + 1, "loss": loss})
                return self._result(stopped, message, tokens_before)
            if self.step % config.log_every == 0:
                now = time.perf_counter()
                record = {
                    "event": "train",
                    "step": self.step,
                    "loss": loss,
                    "grad_norm": norm,
                    "lr": self.optimizer.lr,
                    "tokens_per_second": self._window_tokens / max(now - window_start, 1e-9),
                    "elapsed": now - started,
                }
                if self.language:
                    record["bpc"] = loss / LN2
                self._log(record)
                window_start, self._window_tokens = now, 0
            if self.step % config.eval_every == 0:
                self.validate()
                if config.patience is not None and self.evals_since_best >= config.patience:
                    stopped = "early stopping"
                    break
            if config.sample_every and self.step % config.sample_every == 0:
                self._preview()
            now = time.perf_counter()
            # ranks agree on steps, not on clocks: under MPI, ``last`` goes by steps only
            by_time = self.distributed is None and now - last_saved >= config.checkpoint_seconds
            if self.step % config.checkpoint_every == 0 or by_time:
                self.save("last")
                last_saved = now
        if stopped != "interrupted" and (
            self.last_val_loss is None or self.step % config.eval_every != 0
        ):
            self.validate()
        if stopped != "interrupted":
            self._full_val_loss = self.validate_all()
        self.save("last")
        return self._result(stopped, message, tokens_before)

    def validate_all(self) -> float | None:
        """The validation loss over the whole validation text, if the evaluations during
        the run scored only a sample of it (None otherwise: they scored it all)."""
        if not self.language or self.val is None or callable(self.val):
            return None
        cap = self.config.eval_tokens
        if cap is None or len(self.val) <= cap + 1:
            return None
        score = evaluate if self.distributed is None else self.distributed.evaluate
        loss, _ = score(self.model, self.val, self.config.batch_size, self.config.seq_len, None)
        record = {"event": "eval", "step": self.step, "val_loss": loss, "val_bpc": loss / LN2}
        self._log(record | {"scope": "all"})
        return loss

    def _out_of_time(self) -> bool:
        """Out of time, or a signal asked to stop (under MPI: on any rank, agreed in the
        last exchange)."""
        if self.distributed is not None:
            return self.distributed.time_is_up
        if self._interrupt:
            return True
        return self._deadline is not None and time.perf_counter() >= self._deadline

    def _result(self, stopped: str, message: str, tokens_before: int) -> TrainResult:
        seconds = time.perf_counter() - self._fit_started
        self.seconds, self._fit_started = self._training_seconds(), None
        tokens = self.tokens_seen - tokens_before
        return TrainResult(
            step=self.step,
            stopped=stopped,
            best_val_loss=self.best_val_loss,
            last_val_loss=self.last_val_loss,
            seconds=seconds,
            tokens_per_second=tokens / max(seconds, 1e-9),
            message=message,
            signal=self._interrupt,
            step_seconds=self._step_seconds,
            step_tokens_per_second=tokens / max(self._step_seconds, 1e-9),
            full_val_loss=self._full_val_loss,
        )


def _count(value: Any) -> int:
    """A count from a checkpoint's training state: a non-negative int, else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative integer, got {value!r}")
    return value


def _loss(value: Any) -> float | None:
    """A loss from a checkpoint's training state: a number or None, else ValueError."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a loss (a number), got {value!r}")
    return float(value)
