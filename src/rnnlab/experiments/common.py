"""What the experiments share: fresh task batches, a seeded training run with its learning
curve, the recurrent-weight scale, JSON output and a table.

Every experiment trains ``SequenceModel``s with ``rnnlab.train.Trainer`` on batches drawn
fresh from a synthetic task each step (an endless training set, as in the papers), and
evaluates them on a fixed test set drawn from a seed of its own, so runs with different
``--seed`` are scored on the same sequences.
"""

from __future__ import annotations

import contextvars
import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlab.cells.indrnn import RECURRENT_WEIGHT
from rnnlab.data.synthetic import TaskData
from rnnlab.errors import ConfigError
from rnnlab.files import write_atomically
from rnnlab.models.language import canonical_cell
from rnnlab.models.sequence import SequenceModel, SequenceModelConfig
from rnnlab.nn.module import inference
from rnnlab.train import TrainConfig, Trainer

#: the test sets' seed, the same for every run (``--seed`` varies the model and batches)
TEST_SEED = 2016


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run BLAS on one thread inside the block (if threadpoolctl is installed).

    The experiments' matrices are small (64–128 units): a second BLAS thread buys
    nothing and, on a machine busy with other work, costs a factor of 2–7 in waiting.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover — comes with scikit-learn (rnnlab[data])
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


class TaskStream:
    """A Trainer batch source with a fresh batch every step.

    make(batch_size, rng) → TaskData. Batch k is drawn from ``default_rng([seed, k])``,
    so the sequence of batches depends on ``seed`` only and a resumed run continues it.
    ``next_batch()`` → (inputs (T, B, ...) or (inputs, lengths), targets), time-major.
    """

    wrapped = False  #: never a new epoch: no carried state to reset

    def __init__(
        self,
        make: Callable[[int, np.random.Generator], TaskData],
        batch_size: int,
        seed: int,
        dtype: Any = np.float32,
    ) -> None:
        self.make, self.batch_size, self.seed = make, batch_size, int(seed)
        self.dtype = dtype
        self.position = 0

    def next_batch(self) -> tuple[Any, np.ndarray]:
        data = self.make(self.batch_size, np.random.default_rng([self.seed, self.position]))
        self.position += 1
        return served(data, self.dtype)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed, self.position = int(state["seed"]), int(state["position"])


def served(data: TaskData, dtype: Any = np.float32) -> tuple[Any, np.ndarray]:
    """A TaskData in the models' layout: (inputs or (inputs, lengths), targets), real
    inputs in ``dtype`` (token ids stay integers)."""
    x = np.swapaxes(data.inputs, 0, 1)
    if np.issubdtype(x.dtype, np.floating):
        x = x.astype(dtype, copy=False)
    y = np.swapaxes(data.targets, 0, 1) if data.per_step_targets else data.targets
    return ((x, data.lengths) if data.lengths is not None else x), y


def cells_option(cells: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    """Canonical cell names from ``--cell`` (repeated or comma-separated), or ``default``."""
    if not cells:
        return list(default)
    names = [part.strip() for item in cells for part in item.split(",") if part.strip()]
    return [canonical_cell(name) for name in names]


def set_recurrent_radius(model: SequenceModel, radius: float) -> None:
    """Rescale every H×H gate block of every W_hh to spectral radius ``radius``.

    The block keeps its (default, random) directions; only its scale changes, so a
    radius below 1 makes the linearised recurrence contract and one above 1 expand.
    """
    if not radius > 0:
        raise ConfigError(f"the recurrent radius must be positive, got {radius!r}")
    rnn = model.rnn
    for name, W in rnn.params.items():
        if name.startswith("weight_hh"):
            for block in recurrent_blocks(W, rnn.hidden_size):
                block *= radius / block_radius(block)


def recurrent_blocks(W: np.ndarray, hidden: int) -> list[np.ndarray]:
    """The H×H gate blocks of a W_hh (views), or [u] for IndRNN's recurrent vector."""
    if W.ndim == 1:
        return [W]
    return [W[k * hidden : (k + 1) * hidden] for k in range(W.shape[0] // hidden)]


def block_radius(block: np.ndarray) -> float:
    """The spectral radius of an H×H block, or of diag(u) for a vector u: max |u_j|."""
    if block.ndim == 1:
        return float(np.max(np.abs(block)))
    return float(np.max(np.abs(np.linalg.eigvals(block.astype(np.float64)))))


def spectral_radius(model: SequenceModel) -> float:
    """The largest spectral radius among the first layer's W_hh gate blocks."""
    params = model.rnn.params
    W = params.get("weight_hh_l0", params.get(f"{RECURRENT_WEIGHT}_l0"))
    return max(block_radius(b) for b in recurrent_blocks(W, model.rnn.hidden_size))


def predict(model: SequenceModel, data: TaskData, batch_size: int = 1000) -> np.ndarray:
    """Outputs of ``model`` on every example of ``data``, without tapes, in chunks."""
    outputs = []
    with inference(model):
        for start in range(0, len(data), batch_size):
            part = TaskData(
                data.inputs[start : start + batch_size],
                data.targets[start : start + batch_size],
                None if data.lengths is None else data.lengths[start : start + batch_size],
                data.per_step_targets,
            )
            inputs, _ = served(part, model.dtype)
            outputs.append(model.predict(inputs))
    return np.concatenate(outputs, axis=1 if data.per_step_targets else 0)


@dataclass
class Run:
    """One training run: its learning curve and how it ended."""

    label: str
    cell: str
    seed: int
    eval_steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)  #: name → per evaluation
    train_steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)  #: before clipping
    stopped: str = ""
    seconds: float = 0.0

    def first_step_below(self, metric: str, threshold: float) -> int | None:
        """The first evaluated step at which ``metric`` < threshold (None: never)."""
        for step, value in zip(self.eval_steps, self.metrics.get(metric, []), strict=False):
            if value < threshold:
                return step
        return None

    def first_step_above(self, metric: str, threshold: float) -> int | None:
        """The first evaluated step at which ``metric`` ≥ threshold (None: never)."""
        for step, value in zip(self.eval_steps, self.metrics.get(metric, []), strict=False):
            if value >= threshold:
                return step
        return None

    def final(self, metric: str) -> float:
        values = self.metrics.get(metric) or [math.nan]
        return values[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "cell": self.cell,
            "seed": self.seed,
            "eval_steps": self.eval_steps,
            "metrics": self.metrics,
            "train_steps": self.train_steps,
            "train_loss": self.train_loss,
            "grad_norm": self.grad_norm,
            "stopped": self.stopped,
            "seconds": round(self.seconds, 2),
        }


#: the callback told of every run's progress: (run label, step, step budget or None)
Watcher = Callable[[str, int, int | None], None]
_watcher: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar("watcher", default=None)


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Within the block, every ``train_run`` tells ``watcher`` of its progress (the
    command line shows it; the experiments themselves take no callback)."""
    token = _watcher.set(watcher)
    try:
        yield
    finally:
        _watcher.reset(token)


def train_run(
    run: Run,
    model: SequenceModel,
    stream: TaskStream,
    evaluate: Callable[[SequenceModel], dict[str, float]],
    config: TrainConfig,
) -> Run:
    """Train ``model`` with ``Trainer`` under ``config``, recording into ``run``.

    evaluate(model) → metrics; its first value is the validation loss the Trainer
    tracks. It runs at step 0, every ``config.eval_every`` steps and at the end.
    """

    def validate(m: SequenceModel) -> float:
        metrics = evaluate(m)
        for name, value in metrics.items():
            run.metrics.setdefault(name, []).append(float(value))
        return float(next(iter(metrics.values())))

    def report(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "eval":
            run.eval_steps.append(int(event["step"]))
        elif kind == "train":
            run.train_steps.append(int(event["step"]))
            run.train_loss.append(float(event["loss"]))
            run.grad_norm.append(float(event["grad_norm"]))
            if watcher is not None:
                watcher(run.label, int(event["step"]), config.steps)
        elif kind == "diverged":  # the step whose loss or gradient was not finite
            run.train_steps.append(int(event["step"]))
            run.train_loss.append(float(event["loss"]))
            run.grad_norm.append(math.nan)

    watcher = _watcher.get()
    if watcher is not None:
        watcher(run.label, 0, config.steps)
    started = time.perf_counter()
    trainer = Trainer(model, stream, validate, config, report=report)
    with one_blas_thread():
        result = trainer.fit()
    run.stopped, run.seconds = result.stopped, time.perf_counter() - started
    return run


def train_config(
    steps: int,
    batch_size: int,
    lr: float,
    clip: float | None,
    seed: int,
    eval_every: int = 100,
    optimizer: str = "adam",
    log_every: int = 10,
) -> TrainConfig:
    """A TrainConfig for the experiments: no checkpoints, no samples."""
    return TrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        clip=clip,
        optimizer=optimizer,
        eval_every=max(1, min(eval_every, steps)),
        checkpoint_every=10**9,
        sample_every=0,
        log_every=max(1, min(log_every, steps)),
        seed=seed,
    )


def sequence_model(
    cell: str,
    input_size: int,
    output_size: int,
    hidden: int,
    seed: int,
    task: str = "regression",
    readout: str = "last",
    input_tokens: bool = False,
    forget_bias: float = 1.0,
    dtype: str = "float32",
    num_layers: int = 1,
    residual: bool = False,
    recurrent_max: float | None = None,
) -> SequenceModel:
    """A SequenceModel, one layer unless said (PyTorch's default initialisation, LSTM
    forget bias 1; IndRNN's |u| bounded by ``recurrent_max`` where given)."""
    config = SequenceModelConfig(
        input_size=input_size,
        output_size=output_size,
        task=task,
        readout=readout,
        cell=cell,
        hidden_size=hidden,
        input_tokens=input_tokens,
        forget_bias=forget_bias,
        dtype=dtype,
        num_layers=num_layers,
        residual=residual,
        recurrent_max=recurrent_max,
    )
    return SequenceModel(config, seed=seed)


# -- output ----------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays and scalars (in dicts, lists, tuples) as JSON types."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def numbers(value: Any) -> Any:
    """Undo ``write_json``'s encoding of non-finite floats: null → nan, "inf" → inf (in
    lists too), so results read back from JSON plot and print as they were."""
    if isinstance(value, list):
        return [numbers(v) for v in value]
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf"):
        return float(value)
    return value


def write_json(path: Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (temp file, then rename); NaN → null."""
    text = json.dumps(jsonable(obj), indent=1) + "\n"
    return write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for a table: '-' for None, 'nan' / 'inf' as such."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """A rich table on standard output."""
    from rich.table import Table

    from rnnlab.terminal import make_console

    table = Table(title=title)
    for name in columns:
        table.add_column(name, justify="left" if name in columns[:1] else "right")
    for row in rows:
        table.add_row(*row)
    make_console().print(table)
