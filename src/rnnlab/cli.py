"""The ``rnnlab`` command: train, sample, next, evaluate, info.

Every command that takes CKPT accepts a checkpoint file or the run directory written by
``rnnlab train --out`` (its best checkpoint, else its last). Errors are printed as one
clear line and exit with status 2; nothing is printed as a traceback.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from rnnlab.errors import ConfigError, RnnlabError
from rnnlab.options import (
    command_options,
    extra_option,
    from_options,
    given_options,
    run_dir_options,
)
from rnnlab.rundir import claim, release, start_over
from rnnlab.runs import CharRunConfig
from rnnlab.terminal import make_console

app = typer.Typer(
    help="Recurrent neural networks from first principles: train, sample and inspect.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = make_console()
LN2 = math.log(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; every fault ends in one readable line and an exit status.

    rnnlab's own errors and the operating system's (a full disk, a read-only directory)
    print ``error: ...`` and exit 2; Ctrl-C exits 130 (a training run saves first). Any
    other exception is a bug: its traceback goes to a log file whose path is printed
    (``--debug`` or ``RNNLAB_DEBUG=1`` shows it on the terminal instead).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("RNNLAB_DEBUG", "") not in ("", "0")
    args = [arg for arg in args if arg != "--debug"]
    sys.exit(run_command(args, debug=debug))


def run_command(args: list[str], debug: bool = False) -> int:
    """Run ``rnnlab ARGS`` in this process; returns the exit status (what ``main`` exits
    with). Nothing escapes as a traceback unless ``debug``."""
    stderr = make_console(stderr=True)
    try:  # typer shows usage errors and --help itself, and turns Ctrl-C into status 130
        app(args, prog_name="rnnlab")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    except (RnnlabError, OSError, RecursionError, MemoryError) as error:
        if debug:
            raise
        stderr.print(f"[bold red]error:[/] {escape(describe_error(error))}", highlight=False)
        return 2
    except Exception as error:  # a bug: the details go to a log, one line to the user
        if debug:
            raise
        log = write_crash_log(args)
        stderr.print(
            f"[bold red]internal error:[/] {escape(type(error).__name__)}: {escape(str(error))}"
            f"\nthis is a bug in rnnlab; the details are in {log}; please report it with that "
            "file (or run the command again with --debug to see them here)",
            highlight=False,
        )
        return 70
    return 0


def describe_error(error: BaseException) -> str:
    """One line naming what was wrong: rnnlab's message, or an OS error's path and cause."""
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename is not None else ""
        return f"{where}{error.strerror}"
    if isinstance(error, RecursionError):
        return "the input is nested too deeply to read (is it a file written by rnnlab?)"
    if isinstance(error, MemoryError):
        return "out of memory; try a smaller model, batch or input"
    return str(error)


def write_crash_log(args: list[str]) -> Path | str:
    """Write the current exception's traceback to a log file; returns its path."""
    text = f"rnnlab {' '.join(args)}\n\n{traceback.format_exc()}"
    try:
        folder = Path(tempfile.gettempdir()) / "rnnlab-errors"
        folder.mkdir(exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix="error-", suffix=".log", delete=False
        ) as log:
            log.write(text)
        return log.name
    except OSError:
        return "(no log: the temporary directory is not writable)"


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
            scope = "  (all of the validation text)" if event.get("scope") == "all" else ""
            self.progress.console.print(
                f"step {event['step']:>6}  validation loss {event['val_loss']:.3f} nats/{self.unit}"
                f" ({event['val_bpc']:.3f} bits/{self.unit}){scope}",
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


#: the most tokens a command generates in one call (a bound on memory and time)
MAX_SAMPLE = 1_000_000

_TRAIN_EXTRAS = [
    *run_dir_options("runs/char"),
    extra_option(
        "resume",
        Path | None,
        None,
        "continue the run in this directory or checkpoint, with its options and budget",
    ),
    extra_option(
        "final_sample",
        int,
        600,
        "characters printed at the end",
        "--sample-length",
        min=0,
        max=MAX_SAMPLE,
    ),
    extra_option("temperature", float, 0.8, "temperature of the final sample"),
    extra_option(
        "distributed", bool, False, "data-parallel over MPI ranks (automatic under mpiexec)"
    ),
    extra_option(
        "tensorboard",
        Path | None,
        None,
        'also log to TensorBoard in this directory (pip install "rnnlab[tensorboard]")',
    ),
]
#: what a resumed run may change: its budgets (everything else is its checkpoint's)
RESUMABLE = ("steps", "minutes")


@app.command()
@command_options(CharRunConfig, extra=_TRAIN_EXTRAS)
def train(ctx: typer.Context, **values: Any) -> None:
    """Train a character-level language model and print generated text at the end.

    Ctrl-C (or SIGTERM) stops at the end of the current step and saves the run;
    ``--resume DIR`` continues it exactly. Under ``mpiexec -n R`` (or with
    --distributed) each of the R processes trains on its share of the batch's streams
    and rank 0 alone writes and reports (rnnlab.distributed). Every option's default is
    ``rnnlab.runs.CharRunConfig``'s.
    """
    from rnnlab.distributed import DataParallel, launched_by_mpi
    from rnnlab.generate import check_sampling_options, sample

    out, force, resume, final_sample, temperature, distributed, tensorboard = (
        values.pop(name)
        for name in (
            "out",
            "force",
            "resume",
            "final_sample",
            "temperature",
            "distributed",
            "tensorboard",
        )
    )
    check_sampling_options(temperature)  # now, not after the training
    config = from_options(CharRunConfig, values)
    given = given_options(ctx) & values.keys()
    if resume is not None and given - set(RESUMABLE):
        flags = ", ".join(sorted(_flag(ctx, name) for name in given - set(RESUMABLE)))
        raise ConfigError(
            f"--resume continues the run with the options it was started with; {flags} "
            "cannot be changed (only --steps and --minutes, the budget)"
        )
    ranks = DataParallel() if distributed or launched_by_mpi() else None
    shows = ranks is None or ranks.is_root  # rank 0 shows and writes for all
    with ranks.guard() if ranks is not None else contextlib.nullcontext():
        claimed = None  # a new run's directory, taken now and cleared (--force) once ready
        if resume is None:
            if shows:
                out = claimed = claim(out, Path("runs/char"), force, clear=False)
            else:  # only rank 0 writes; the others need a directory by name alone
                out = out or Path("runs/char")
            options: dict[str, Any] = {"config": config}
        else:
            options = {"resume": resume, "force": force}
            options |= {name: getattr(config, name) for name in given & set(RESUMABLE)}
        replace = force and claimed is not None  # a fresh run with --force
        run, result = _train_run(
            shows, tensorboard, claimed, replace, out=out, distributed=ranks, **options
        )
    if not shows:
        raise typer.Exit(1 if result.stopped == "diverged" else 0)
    out = run.trainer.out_dir
    if result.stopped == "diverged":
        make_console(stderr=True).print(f"[bold red]error:[/] {result.message}", highlight=False)
        raise typer.Exit(1)
    if result.stopped == "interrupted":
        console.print(
            f"interrupted at step {result.step}; saved {out / 'last.safetensors'}; "
            f"continue with: rnnlab train --resume {out}",
            highlight=False,
        )
        raise typer.Exit(128 + result.signal)  # 130 for Ctrl-C, 143 for SIGTERM
    console.print(summary(result, run.unit, out), highlight=False)
    console.rule("generated text")
    seed = run.trainer.config.seed
    text = sample(run.trainer.model, n=final_sample, temperature=temperature, seed=seed)
    console.print(text, markup=False, highlight=False)


def summary(result: Any, unit: str, out: Path) -> str:
    """The end of a run in two lines: where the time went, and how good the model is."""
    loss = result.full_val_loss if result.full_val_loss is not None else result.last_val_loss
    scope = "all of the validation text" if result.full_val_loss is not None else "validation"
    share = result.step_seconds / max(result.seconds, 1e-9)
    return (
        f"stopped after {result.step} steps ({result.stopped}) in {result.seconds:.0f} s: "
        f"{result.step_seconds:.0f} s ({share:.0%}) in training steps at "
        f"{result.step_tokens_per_second / 1000:.1f}k tokens/s, "
        f"{result.tokens_per_second / 1000:.1f}k tokens/s overall\n"
        f"{scope}: {loss:.3f} nats/{unit} ({loss / LN2:.3f} bits/{unit}); best "
        f"{'sampled ' * (result.full_val_loss is not None)}validation "
        f"{result.best_val_loss:.3f}; checkpoints in {out}"
    )


def _flag(ctx: typer.Context, name: str) -> str:
    """The command-line flag of option ``name`` (``batch_size`` → ``--batch``)."""
    return next((p.opts[0] for p in ctx.command.params if p.name == name), f"--{name}")


def _train_run(
    shows: bool, tensorboard: Path | None, claimed: Path | None, replace: bool, **options: Any
) -> tuple[Any, Any]:
    """Prepare the run and fit it, with the summary and progress display if ``shows``
    (and a TensorBoard log in ``tensorboard``, if given). ``claimed``: the directory a
    new run took with ``claim``; given back if the run cannot start, and emptied of the
    run it held (``replace``: ``--force``) only once the new one can."""
    from rnnlab.runs import prepare_run

    try:
        run = prepare_run(**options)
    except BaseException:
        if claimed is not None:
            release(claimed)
        raise
    if claimed is not None and replace:
        start_over(claimed)  # the old run goes only now that the new one can start
    if not shows:
        return run, run.trainer.fit()
    log = None
    if tensorboard is not None:  # refused now, not after the training
        from rnnlab.tensorboard import TensorBoardLog

        log = TensorBoardLog(tensorboard)
    console.print(run.summary, highlight=False)
    warmup = _warm_up(run.trainer) if options.get("distributed") is None else None
    try:
        result = _fit_with_progress(run, log)
    except BaseException:
        if warmup is not None:
            warmup.stop()
        raise
    if warmup is not None:  # the final sample needs the generator; an early end does not
        warmup.close() if result.stopped in ("steps", "time", "early stopping") else warmup.stop()
    return run, result


def _fit_with_progress(run: Any, log: Any) -> Any:
    """``run.trainer.fit()`` under a live progress bar (and the TensorBoard ``log``)."""
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
        if log is not None:
            log.then, run.trainer.report = run.trainer.report, log
        try:
            return run.trainer.fit()
        finally:
            if log is not None:
                log.close()


def _warm_up(trainer: Any) -> Any:
    """On a cold kernel cache, say so and compile the run's loops before its first step,
    while a helper process compiles the rest (see ``rnnlab.warmup``); None when they are
    cached."""
    from rnnlab.warmup import Warmup, cached, kernel_cache

    config = trainer.model.config
    if cached(config):
        return None
    console.print(
        f"compiling the {config.cell} kernels for this CPU (once: they are cached in "
        f"{kernel_cache()})",
        highlight=False,
    )
    started = time.perf_counter()
    warmup = Warmup(config, trainer.config.batch_size, trainer.config.seq_len)
    try:
        with console.status("compiling the training loops…"):
            warmup.compile_training()
    except BaseException:  # Ctrl-C or a fault: the helper goes with the run
        warmup.stop()
        raise
    trainer.seconds += time.perf_counter() - started  # --minutes is the run's whole time
    return warmup


@app.command("warmup")
@command_options(CharRunConfig)
def warmup_command(**values: Any) -> None:
    """Compile now the kernels that ``rnnlab train`` with these options will use (once
    per machine and rnnlab version: they are cached), on both cores."""
    from rnnlab.runs import prepare_run
    from rnnlab.warmup import Warmup, kernel_cache

    run = prepare_run(from_options(CharRunConfig, values))
    config, trainer = run.trainer.model.config, run.trainer
    started = time.perf_counter()
    warmup = Warmup(config, trainer.config.batch_size, trainer.config.seq_len)
    steps = [("training and evaluation loops", warmup.compile_training)]  # waits for "backward"
    steps += [("drivers", lambda: warmup.wait("drivers"))]
    steps += [("token generator", lambda: warmup.wait("generation"))]
    for name, step in steps:
        with console.status(f"compiling the {config.cell} {name}…"):
            step()
        console.print(f"{name} ready after {time.perf_counter() - started:.0f} s", highlight=False)
    warmup.close()
    console.print(f"the {config.cell} kernels are cached in {kernel_cache()}", highlight=False)


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
    n: Annotated[
        int, typer.Option("-n", "--length", min=0, max=MAX_SAMPLE, help="tokens to generate")
    ] = 500,
    seed: Annotated[int | None, typer.Option(min=0, help="seed for reproducible samples")] = None,
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
        top_p=None if top_p == 1 else top_p,
        seed=seed,
    )
    console.print(prime + text, markup=False, highlight=False)


#: the ``--json`` option of the commands that print a result
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON, for scripts")]


def print_json(document: Any) -> None:
    """``document`` as indented JSON on standard output (no markup, never wrapped)."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False))


@app.command("next")
def next_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    text: Annotated[str, typer.Argument(help="the text so far")],
    k: Annotated[int, typer.Option("-k", help="how many candidates")] = 10,
    temperature: Annotated[float, typer.Option(help="temperature applied first")] = 1.0,
    as_json: AsJson = False,
) -> None:
    """The k most likely next characters (or words) after TEXT, with their probabilities."""
    from rnnlab.generate import next_distribution

    model = _load(checkpoint)
    items = next_distribution(model, text, k=k, temperature=temperature)
    if as_json:
        print_json({"text": text, "next": [{"symbol": s, "p": p} for s, p in items]})
        return
    table = Table(title=f"next after {text[-30:]!r}")
    table.add_column("rank", justify="right")
    table.add_column("next")
    table.add_column("probability", justify="right")
    table.add_column("")
    for rank, (symbol, probability) in enumerate(items, start=1):
        table.add_row(str(rank), repr(symbol), f"{probability:.4f}", "█" * round(40 * probability))
    console.print(table)


@app.command("evaluate")
def evaluate_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    data: Annotated[str, typer.Option(help="shakespeare, python, or a UTF-8 text file")],
    as_json: AsJson = False,
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
    if as_json:
        print_json(
            {"nats": loss, "bits": loss / LN2, "unit": unit, "scored": count, "skipped": skipped}
        )
        return
    console.print(f"{loss:.2f} nats/{unit} ({loss / LN2:.2f} bits/{unit})", highlight=False)
    console.print(
        f"{count} {unit}s scored, {skipped} skipped (not in the vocabulary)", highlight=False
    )


@app.command("info")
def info_command(
    checkpoint: Annotated[Path, typer.Argument(help="checkpoint file or run directory")],
    as_json: AsJson = False,
) -> None:
    """What a checkpoint holds: model configuration, size, training progress."""
    from rnnlab.io import load_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(checkpoint)
    loaded = load_checkpoint(path)
    facts: dict[str, Any] = {"path": str(path), "model": loaded.model_kind}
    facts |= loaded.model_config
    facts["parameters"] = sum(int(np.prod(p.shape)) for p in loaded.params.values())
    if loaded.vocab is not None:
        symbols = loaded.vocab.get("symbols") or loaded.vocab.get("tokens") or []
        facts["vocabulary"] = {"kind": loaded.vocab.get("kind"), "symbols": len(symbols)}
    state = loaded.train_state or {}
    for key in ("step", "tokens_seen", "best_val_loss", "last_val_loss", "data_source"):
        if state.get(key) is not None:
            facts[key] = state[key]
    if loaded.optimizer is not None:
        facts["optimizer"] = loaded.optimizer.get("kind")
    if as_json:
        print_json(facts)
        return
    table = Table(title=facts.pop("path"), show_header=False)
    table.add_column("key")
    table.add_column("value")
    vocabulary = facts.get("vocabulary")
    if vocabulary is not None:
        facts["vocabulary"] = f"{vocabulary['kind']}, {vocabulary['symbols']} symbols"
    facts["parameters"] = f"{facts['parameters']:,}"
    for key, value in facts.items():
        table.add_row(key, str(value))
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
from rnnlab.applications.tag_commands import tag_app  # noqa: E402

app.add_typer(tag_app, name="tag")


if __name__ == "__main__":
    main()
