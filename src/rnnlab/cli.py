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
from rnnlab.options import command_options, extra_option, from_options, out_option
from rnnlab.runs import CharRunConfig

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


_TRAIN_EXTRAS = [
    out_option("runs/char"),
    extra_option("resume", Path | None, None, "continue the run in this directory or checkpoint"),
    extra_option("final_sample", int, 600, "characters printed at the end", "--sample-length"),
    extra_option("temperature", float, 0.8, "temperature of the final sample"),
    extra_option(
        "distributed", bool, False, "data-parallel over MPI ranks (automatic under mpiexec)"
    ),
]


@app.command()
@command_options(CharRunConfig, extra=_TRAIN_EXTRAS)
def train(**values: Any) -> None:
    """Train a character-level language model and print generated text at the end.

    Under ``mpiexec -n R`` (or with --distributed) each of the R processes trains on its
    share of the batch's streams and rank 0 alone writes and reports (rnnlab.distributed).
    Every option's default is ``rnnlab.runs.CharRunConfig``'s.
    """
    from rnnlab.distributed import DataParallel, launched_by_mpi
    from rnnlab.generate import sample

    out, resume, final_sample, temperature, distributed = (
        values.pop(name) for name in ("out", "resume", "final_sample", "temperature", "distributed")
    )
    ranks = DataParallel() if distributed or launched_by_mpi() else None
    shows = ranks is None or ranks.is_root  # rank 0 shows and writes for all
    config = from_options(CharRunConfig, values)
    with ranks.guard() if ranks is not None else contextlib.nullcontext():
        run, result = _train_run(shows, config, out=out, resume=resume, distributed=ranks)
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
    seed = config.seed
    text = sample(run.trainer.model, n=final_sample, temperature=temperature, seed=seed)
    console.print(text, markup=False, highlight=False)


def _train_run(shows: bool, config: CharRunConfig, **options: Any) -> tuple[Any, Any]:
    """Prepare the run and fit it, with the summary and progress display if ``shows``. A
    resumed run takes everything from its checkpoint but the budgets."""
    from rnnlab.runs import prepare_run

    if options.get("resume") is None:
        run = prepare_run(config, **options)
    else:
        run = prepare_run(**options, steps=config.steps, minutes=config.minutes)
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
