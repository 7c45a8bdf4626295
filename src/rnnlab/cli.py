"""The ``rnnlab`` command: train, sample, next, evaluate, info.

Every command that takes CKPT accepts a checkpoint file or the run directory written by
``rnnlab train --out`` (its best checkpoint, else its last). Errors are printed as one
clear line and exit with status 2; nothing is printed as a traceback.
"""

from __future__ import annotations

import contextlib
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from rnnlab.errors import RnnlabError

app = typer.Typer(
    help="Recurrent neural networks from first principles: train, sample and inspect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
LN2 = math.log(2)


def main() -> None:
    """Entry point: run the app, turning rnnlab errors into one readable line."""
    try:
        app()
    except RnnlabError as error:
        message = escape(str(error))  # as written: "rnnlab[mpi]" is no markup tag
        Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
        sys.exit(2)


# -- train -----------------------------------------------------------------------------
class ProgressReport:
    """Shows training events: a live bar (step, loss, bpc, tokens/s, ETA) and lines."""

    def __init__(self, progress: Progress, task: Any, unit: str) -> None:
        self.progress, self.task, self.unit = progress, task, unit

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "train":
            self.progress.update(
                self.task,
                completed=event["step"],
                loss=f"{event['loss']:.3f}",
                bpc=f"{event['bpc']:.3f}",
                speed=f"{event['tokens_per_second'] / 1000:.1f}k",
            )
        elif kind == "eval":
            self.progress.console.print(
                f"step {event['step']:>6}  validation loss {event['val_loss']:.3f} nats/{self.unit}"
                f" ({event['val_bpc']:.3f} bits/{self.unit})",
                highlight=False,
            )
        elif kind == "sample":
            self.progress.console.print(f"[dim]--- sample at step {event['step']} ---[/]")
            self.progress.console.print(event["text"], markup=False, highlight=False)
            self.progress.console.print("[dim]---[/]")


def _progress_bar(total: int | None) -> Progress:
    return Progress(
        TextColumn("step {task.completed}/{task.total}" if total else "step {task.completed}"),
        BarColumn(),
        TextColumn("loss {task.fields[loss]}  bpc {task.fields[bpc]}  {task.fields[speed]} tok/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


@app.command()
def train(
    data: Annotated[str, typer.Option(help="shakespeare, python, or a UTF-8 text file")] = (
        "shakespeare"
    ),
    cell: Annotated[str, typer.Option(help="lstm, gru, rnn_tanh (rnn) or rnn_relu")] = "lstm",
    hidden: Annotated[int, typer.Option(help="hidden units per layer")] = 128,
    layers: Annotated[int, typer.Option(help="stacked recurrent layers")] = 1,
    dropout: Annotated[float, typer.Option(help="dropout between layers")] = 0.0,
    embedding_dim: Annotated[int, typer.Option(help="0: one-hot input")] = 0,
    seq_len: Annotated[int, typer.Option(help="truncated-BPTT length")] = 64,
    batch: Annotated[int, typer.Option(help="parallel streams")] = 32,
    optimizer: Annotated[
        str, typer.Option(help="sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw")
    ] = "adam",
    lr: Annotated[float, typer.Option(help="learning rate")] = 2e-3,
    schedule: Annotated[str, typer.Option(help="constant, step, cosine, warmup_cosine")] = (
        "constant"
    ),
    clip: Annotated[float, typer.Option(help="max gradient norm; 0: no clipping")] = 5.0,
    minutes: Annotated[float, typer.Option(help="time budget; 0: none")] = 3.0,
    steps: Annotated[int, typer.Option(help="step budget; 0: none")] = 6000,
    eval_every: Annotated[int, typer.Option(help="validate every N steps")] = 250,
    sample_every: Annotated[
        int, typer.Option(help="preview a sample every N steps; 0: never")
    ] = 1000,
    patience: Annotated[int, typer.Option(help="early stopping after N evaluations; 0: off")] = 0,
    val_fraction: Annotated[float, typer.Option(help="last fraction of the corpus held out")] = 0.1,
    dtype: Annotated[str, typer.Option(help="float32 or float64")] = "float32",
    out: Annotated[Path, typer.Option(help="run directory for checkpoints and metrics")] = Path(
        "runs/char"
    ),
    resume: Annotated[
        Path | None, typer.Option(help="continue the run in this directory or checkpoint")
    ] = None,
    seed: Annotated[int, typer.Option(help="seed for weights, data order and samples")] = 0,
    sample_length: Annotated[int, typer.Option(help="characters printed at the end")] = 600,
    temperature: Annotated[float, typer.Option(help="temperature of the final sample")] = 0.8,
    distributed: Annotated[
        bool, typer.Option(help="data-parallel over MPI ranks (automatic under mpiexec)")
    ] = False,
) -> None:
    """Train a character-level language model and print generated text at the end.

    Under ``mpiexec -n R`` (or with --distributed) each of the R processes trains on its
    share of the batch's streams and rank 0 alone writes and reports (rnnlab.distributed).
    """
    from rnnlab.distributed import DataParallel, launched_by_mpi
    from rnnlab.generate import sample

    ranks = DataParallel() if distributed or launched_by_mpi() else None
    shows = ranks is None or ranks.is_root  # rank 0 shows and writes for all
    with ranks.guard() if ranks is not None else contextlib.nullcontext():
        run, result = _train_run(
            shows,
            data=data,
            cell=cell,
            hidden=hidden,
            layers=layers,
            dropout=dropout,
            embedding_dim=embedding_dim or None,
            seq_len=seq_len,
            batch_size=batch,
            optimizer=optimizer,
            lr=lr,
            schedule=schedule,
            clip=clip or None,
            minutes=minutes or None,
            steps=steps or None,
            eval_every=eval_every,
            sample_every=sample_every,
            patience=patience or None,
            val_fraction=val_fraction,
            dtype=dtype,
            out=out,
            resume=resume,
            seed=seed,
            distributed=ranks,
        )
    if not shows:
        raise typer.Exit(1 if result.stopped == "diverged" else 0)
    if result.stopped == "diverged":
        Console(stderr=True).print(f"[bold red]error:[/] {result.message}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"stopped after {result.step} steps ({result.stopped}) in {result.seconds:.0f} s, "
        f"{result.tokens_per_second / 1000:.1f}k tokens/s; validation loss "
        f"{result.last_val_loss:.3f} nats/{run.unit} ({result.last_val_loss / LN2:.3f} "
        f"bits/{run.unit}), best {result.best_val_loss:.3f}; checkpoints in {out}",
        highlight=False,
    )
    console.rule("generated text")
    text = sample(run.trainer.model, n=sample_length, temperature=temperature, seed=seed)
    console.print(text, markup=False, highlight=False)


def _train_run(shows: bool, **options: Any) -> tuple[Any, Any]:
    """Prepare the run and fit it, with the summary and progress display if ``shows``."""
    from rnnlab.runs import prepare_run

    run = prepare_run(**options)
    if not shows:
        return run, run.trainer.fit()
    console.print(run.summary, highlight=False)
    with _progress_bar(run.trainer.config.steps) as progress:
        task = progress.add_task(
            "train",
            total=run.trainer.config.steps,
            completed=run.trainer.step,
            loss="-",
            bpc="-",
            speed="-",
        )
        run.trainer.report = ProgressReport(progress, task, run.unit)
        return run, run.trainer.fit()


# -- sampling and inspection -------------------------------------------------------------
def _load(checkpoint: Path) -> Any:
    from rnnlab.io import load_model

    return load_model(checkpoint, kind="language")


@app.command("sample")
def sample_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    prime: Annotated[str, typer.Option(help="text to start from")] = "",
    temperature: Annotated[
        float, typer.Option(help="0: greedy; <1 conservative, >1 creative")
    ] = 1.0,
    top_k: Annotated[int, typer.Option(help="sample among the k most likely; 0: all")] = 0,
    top_p: Annotated[float, typer.Option(help="nucleus sampling mass; 1: all")] = 1.0,
    n: Annotated[int, typer.Option("-n", "--length", help="tokens to generate")] = 500,
    seed: Annotated[int | None, typer.Option(help="seed for reproducible samples")] = None,
) -> None:
    """Generate text from a trained model (the prime, then its continuation)."""
    from rnnlab.generate import sample

    model = _load(checkpoint)
    text = sample(
        model,
        n=n,
        prime=prime,
        temperature=temperature,
        top_k=top_k or None,
        top_p=top_p if top_p < 1 else None,
        seed=seed,
    )
    console.print(prime + text, markup=False, highlight=False)


@app.command("next")
def next_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    text: Annotated[str, typer.Argument(help="the text so far")],
    k: Annotated[int, typer.Option("-k", help="how many candidates")] = 10,
    temperature: Annotated[float, typer.Option(help="temperature applied first")] = 1.0,
) -> None:
    """The k most likely next characters (or words) after TEXT, with their probabilities."""
    from rnnlab.generate import next_distribution

    model = _load(checkpoint)
    table = Table(title=f"next after {text[-30:]!r}")
    table.add_column("rank", justify="right")
    table.add_column("next")
    table.add_column("probability", justify="right")
    table.add_column("")
    for rank, (symbol, probability) in enumerate(
        next_distribution(model, text, k=k, temperature=temperature), start=1
    ):
        table.add_row(str(rank), repr(symbol), f"{probability:.4f}", "█" * round(40 * probability))
    console.print(table)


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    data: Annotated[str, typer.Option(help="shakespeare, python, or a UTF-8 text file")],
) -> None:
    """The model's loss on a text, in nats and bits per character (or word)."""
    from rnnlab.data.corpora import load_corpus
    from rnnlab.errors import DataError
    from rnnlab.train import evaluate

    model = _load(checkpoint)
    ids, skipped = model.vocab.encode_counting(load_corpus(data))
    if len(ids) < 2:
        raise DataError(f"{data} has {len(ids)} known symbols; need at least 2 to evaluate")
    loss, count = evaluate(model, ids)
    unit = "char" if type(model.vocab).__name__ == "CharVocab" else "token"
    console.print(f"{loss:.2f} nats/{unit} ({loss / LN2:.2f} bits/{unit})", highlight=False)
    console.print(
        f"{count} {unit}s scored, {skipped} skipped (not in the vocabulary)", highlight=False
    )


@app.command("info")
def info_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
) -> None:
    """What a checkpoint holds: model configuration, size, training progress."""
    from rnnlab.io import load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    loaded = load_checkpoint(path)
    table = Table(title=str(path), show_header=False)
    table.add_column("key")
    table.add_column("value")
    table.add_row("model", loaded.model_kind)
    for key, value in loaded.model_config.items():
        table.add_row(key, str(value))
    table.add_row("parameters", f"{sum(int(np.prod(p.shape)) for p in loaded.params.values()):,}")
    if loaded.vocab is not None:
        symbols = loaded.vocab.get("symbols") or loaded.vocab.get("tokens") or []
        table.add_row("vocabulary", f"{loaded.vocab.get('kind')}, {len(symbols)} symbols")
    state = loaded.train_state or {}
    for key in ("step", "tokens_seen", "best_val_loss", "last_val_loss", "data_source"):
        if state.get(key) is not None:
            table.add_row(key, str(state[key]))
    if loaded.optimizer is not None:
        table.add_row("optimizer", str(loaded.optimizer.get("kind")))
    console.print(table)


# -- commands defined in their own modules ---------------------------------------------
# Each application registers its command here with one line, e.g.
#     app.command("experiment")(experiment_command)
# (import inside the command functions whatever is heavy, so `rnnlab --help` stays fast).
from rnnlab.web.command import serve_command  # noqa: E402

app.command("serve")(serve_command)
from rnnlab.benchmark.command import bench_command  # noqa: E402

app.command("bench")(bench_command)
from rnnlab.experiments.command import experiment_command  # noqa: E402

app.command("experiment")(experiment_command)
from rnnlab.applications.commands import classify_app, complete_app, forecast_app  # noqa: E402

app.add_typer(forecast_app, name="forecast")
app.add_typer(classify_app, name="classify")
app.add_typer(complete_app, name="complete")


if __name__ == "__main__":
    main()
