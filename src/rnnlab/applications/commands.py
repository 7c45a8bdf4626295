"""The applications' commands: ``rnnlab forecast``, ``rnnlab classify``, ``rnnlab complete``.

Each is a small group with the same two uses::

    rnnlab forecast train [options]            train, measure against the baseline, save
    rnnlab forecast RUN [options]              use a trained model (RUN: a run directory
                                               or a checkpoint file)

``RUN ...`` is short for ``predict RUN ...`` (the default command), so
``rnnlab complete runs/words "To be, or not to ___"`` completes a prompt and
``rnnlab classify runs/genre "Now is the winter of our discontent"`` names a genre.
Heavy imports happen inside the commands so that ``rnnlab --help`` stays fast.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from typer.core import TyperGroup

from rnnlab.applications.classification import ClassifyOptions
from rnnlab.applications.completion import CompleteOptions
from rnnlab.applications.forecasting import ForecastOptions
from rnnlab.options import command_options, extra_option, from_options, run_dir_options
from rnnlab.rundir import claim_from_options
from rnnlab.terminal import make_console

console = make_console()


class DefaultGroup(TyperGroup):
    """A group whose first argument is either one of its commands or, if it is not, the
    first argument of the default command ``predict``."""

    default_command = "predict"

    def resolve_command(
        self, ctx: typer.Context, args: list[str]
    ) -> tuple[str | None, Any, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = [self.default_command, *args]
        return super().resolve_command(ctx, args)


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(cls=DefaultGroup, help=help_text, no_args_is_help=True, add_completion=False)


forecast_app = _group(
    "Forecast a time series: `forecast train` fits and measures a model against "
    "persistence; `forecast RUN` continues a series with a trained one."
)
classify_app = _group(
    "Classify sequences: `classify train` fits and measures a model against the majority "
    'class; `classify RUN "text"` classifies texts with a trained one.'
)
complete_app = _group(
    "Complete sentences with a word-level language model: `complete train` fits one and "
    'compares it with a unigram model; `complete RUN "To be, or not to ___"` completes.'
)


# ----------------------------------------------------------------------------- progress


class _Progress:
    """A live bar of training steps and the latest loss; evaluation lines printed above.
    Piped (a live bar would show nothing until the end), a line at every tenth of the
    steps instead: "step s/n  loss x  (k s)"."""

    def __init__(self, total: int | None, unit: str = "") -> None:
        self.unit = unit
        self.total = total
        self.piped = not console.is_terminal
        self.started = time.monotonic()
        self.shown = -1
        self.progress = Progress(
            TextColumn("step {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.progress.add_task("train", total=total, loss="-")

    def __enter__(self) -> _Progress:
        if not self.piped:
            self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.piped:
            self.progress.__exit__(*exc)

    def _line(self, step: int, loss: float) -> None:
        tenth = step * 10 // self.total if self.total else step // 1000
        if tenth == self.shown:
            return
        self.shown = tenth
        budget = f"/{self.total}" if self.total else ""
        seconds = time.monotonic() - self.started
        _print(f"step {step}{budget}  loss {loss:.4f}  ({seconds:.0f} s)")

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("event") == "train" and self.piped:
            self._line(event["step"], event["loss"])
        elif event.get("event") == "train":
            self.progress.update(self.task, completed=event["step"], loss=f"{event['loss']:.4f}")
        elif event.get("event") == "eval" and self.unit:
            loss = event["val_loss"]
            self.progress.console.print(
                f"step {event['step']:>6}  validation {loss:.3f} nats/{self.unit}, "
                f"perplexity {math.exp(loss):.1f}",
                highlight=False,
            )


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False)


def _plot_options(out: str, plot: str) -> list:
    """The options of a training command that saves a run and draws a plot."""
    return [
        *run_dir_options(out),
        extra_option("plot", Path | None, None, f"PNG path (default OUT/{plot})"),
        extra_option("no_plot", bool, False, "draw no plot", "--no-plot"),
    ]


def _plot_path(plot: Path | None, out: Path, name: str, no_plot: bool) -> Path | None:
    if no_plot:
        return None
    return plot if plot is not None else out / name


# ----------------------------------------------------------------------------- forecast


@forecast_app.command("train")
@command_options(ForecastOptions, extra=_plot_options("runs/forecast", "forecast.png"))
def forecast_train(**values: Any) -> None:
    """Train a forecaster; report test NRMSE next to persistence, and plot it."""
    from rnnlab.applications.forecasting import run_forecast
    from rnnlab.applications.plots import plot_forecast

    plot, no_plot = values.pop("plot"), values.pop("no_plot")
    options = from_options(ForecastOptions, values)
    out = claim_from_options(values, "runs/forecast")
    steps = options.steps
    with _Progress(steps) as progress:
        outcome = run_forecast(options, out=out, report=progress)
    config, stats = outcome.model.config, outcome.model.config.normalisation
    name = f"{config.cell.upper()}-{config.hidden_size}"
    n_test = len(outcome.truth)
    _print(
        f"{outcome.series.name}: {len(outcome.series.values):,} values; first "
        f"{outcome.train_points:,} train (mean {stats['mean']:.4g}, std {stats['std']:.4g}), "
        f"next {n_test:,} test; windows of {stats['window']}, readout {config.readout}"
    )
    for note in outcome.notes:
        _print(f"note: {note}")
    table = Table(title="test NRMSE (RMSE / std of the truth; 1 = forecasting the mean)")
    table.add_column("forecast")
    table.add_column(name, justify="right")
    table.add_column("persistence", justify="right")
    table.add_row("one step", f"{outcome.nrmse:.4f}", f"{outcome.persistence_nrmse:.4f}")
    table.add_row(f"closed loop, step {outcome.horizon}", f"{outcome.closed_loop_final:.4f}", "")
    table.add_row(
        f"closed loop, steps 1–{outcome.horizon}",
        f"{outcome.closed_loop_mean:.4f}",
        f"{outcome.persistence_closed_loop_mean:.4f}",
    )
    console.print(table)
    _print(
        f"one step: {outcome.persistence_nrmse / outcome.nrmse:.1f}× lower NRMSE than "
        f"persistence; checkpoint in {out}"
    )
    path = _plot_path(plot, out, "forecast.png", no_plot)
    if path is not None:
        _print(f"plot: {plot_forecast(outcome, path)}")


@forecast_app.command("predict")
def forecast_predict(
    run: Annotated[Path, typer.Argument(help="run directory or checkpoint file")],
    series: Annotated[
        str | None,
        typer.Option(help="series to continue (default: the one it was trained on)"),
    ] = None,
    column: Annotated[str | None, typer.Option(help="the CSV column")] = None,
    steps: Annotated[int, typer.Option(help="values to forecast after the end")] = 20,
    plot: Annotated[Path | None, typer.Option(help="PNG of the continuation")] = None,
) -> None:
    """Continue a series beyond its end with a trained forecaster (closed loop)."""
    from rnnlab.data.series import load_series
    from rnnlab.errors import ConfigError, DataError
    from rnnlab.io import load_checkpoint, load_model, resolve_checkpoint
    from rnnlab.models.forecast import closed_loop

    path = resolve_checkpoint(run)
    model = load_model(path, kind="sequence")
    norm = model.config.normalisation or {}
    if "window" not in norm:
        raise ConfigError(f"{path} is not a forecaster (its config has no window)")
    source = load_checkpoint(path).train_state.get("data_source") or {}
    if series is None:
        if source.get("application") != "forecast":
            raise ConfigError(f"{path} does not say which series it was trained on; pass --series")
        series, column = source["series"], source.get("column")
        loaded = load_series(series, column, source.get("length", 5000), source.get("seed", 0))
    else:
        loaded = load_series(series, column)
    window = int(norm["window"])
    if len(loaded.values) < window:
        raise DataError(
            f"{loaded.name} has {len(loaded.values)} values; the model needs the last {window}"
        )
    forecasts = closed_loop(model, loaded.values[None, -window:], steps)[0]
    _print(f"{loaded.name}: the {steps} values after the last of {len(loaded.values)}")
    table = Table()
    table.add_column("step", justify="right")
    table.add_column("forecast", justify="right")
    for k, value in enumerate(forecasts, start=1):
        table.add_row(f"+{k}", f"{value:.6g}")
    console.print(table)
    if plot is not None:
        from rnnlab.applications.plots import plot_continuation

        shown = min(len(loaded.values), 4 * window)
        title = f"{loaded.name}: closed-loop forecast of {steps} steps"
        shown_index, shown_values = loaded.index[-shown:], loaded.values[-shown:]
        path = plot_continuation(shown_index, shown_values, forecasts, plot, title)
        _print(f"plot: {path}")


# ----------------------------------------------------------------------------- classify


def _confusion_table(matrix: Any, labels: list[str]) -> Table:
    table = Table(title="confusion matrix (rows: true class, columns: predicted)")
    table.add_column("true \\ predicted")
    for label in labels:
        table.add_column(label, justify="right")
    for label, row in zip(labels, matrix, strict=True):
        table.add_row(label, *(str(int(v)) for v in row))
    return table


@classify_app.command("train")
@command_options(ClassifyOptions, extra=_plot_options("runs/classify", "confusion.png"))
def classify_train(**values: Any) -> None:
    """Train a sequence classifier; report accuracy, majority rate and confusion matrix."""
    from rnnlab.applications.classification import load_split, run_classify
    from rnnlab.applications.plots import plot_confusion

    plot, no_plot = values.pop("plot"), values.pop("no_plot")
    options = from_options(ClassifyOptions, values)
    out = claim_from_options(values, "runs/classify")
    batch, data = options.batch, options.data
    split = load_split(options)
    _print(split.description)
    epochs = options.epochs or (10 if split.vocab is not None else 30)
    steps = epochs * (len(split.y_train) // min(batch, len(split.y_train)))
    with _Progress(steps) as progress:
        outcome = run_classify(options, out=out, report=progress, split=split)
    console.print(_confusion_table(outcome.confusion, outcome.labels))
    config = outcome.model.config
    kind = f"{'bidirectional ' if config.bidirectional else ''}{config.cell.upper()}-"
    _print(
        f"{kind}{config.hidden_size}, readout {config.readout}: test accuracy "
        f"{outcome.accuracy:.2%} on {len(outcome.predicted)} sequences; majority class "
        f"{outcome.majority_rate:.2%} (+{100 * (outcome.accuracy - outcome.majority_rate):.1f} "
        "points)"
    )
    if outcome.group_accuracy is not None:
        right = sum(
            outcome.group_votes[g] == outcome.labels[t] for g, t in split.group_labels.items()
        )
        _print(
            f"whole plays by the majority vote of their passages: {right} of "
            f"{len(outcome.group_votes)} right"
        )
        for play, vote in outcome.group_votes.items():
            truth = outcome.labels[split.group_labels[play]]
            _print(f"  {play}: {vote}" + ("" if vote == truth else f" (is {truth})"))
    _print(f"checkpoint in {out}")
    path = _plot_path(plot, out, "confusion.png", no_plot)
    if path is not None:
        title = f"{data}: accuracy {outcome.accuracy:.1%}"
        _print(f"plot: {plot_confusion(outcome.confusion, outcome.labels, path, title)}")


@classify_app.command("predict")
def classify_predict(
    run: Annotated[Path, typer.Argument(help="run directory or checkpoint file")],
    texts: Annotated[list[str], typer.Argument(help="one or more texts to classify")],
) -> None:
    """Classify texts with a trained text classifier: each class's probability."""
    from rnnlab.io import load_model, resolve_checkpoint
    from rnnlab.models.classify import classify_texts

    model = load_model(resolve_checkpoint(run), kind="sequence")
    probs = classify_texts(model, texts)
    labels = model.config.labels or [str(k) for k in range(probs.shape[1])]
    table = Table()
    table.add_column("text")
    table.add_column("class")
    for label in labels:
        table.add_column(label, justify="right")
    for text, p in zip(texts, probs, strict=True):
        short = text if len(text) <= 50 else text[:47] + "..."
        table.add_row(short, labels[int(p.argmax())], *(f"{v:.3f}" for v in p))
    console.print(table)


# ----------------------------------------------------------------------------- complete


_COMPLETE_EXTRAS = [
    *run_dir_options("runs/words"),
    extra_option("prompt", str, "To be, or not to ___", "a prompt completed at the end"),
]


@complete_app.command("train")
@command_options(CompleteOptions, extra=_COMPLETE_EXTRAS)
def complete_train(**values: Any) -> None:
    """Train a word language model; report its perplexity against a unigram model's."""
    from rnnlab.applications.completion import complete, run_complete

    prompt = values.pop("prompt")
    options = from_options(CompleteOptions, values)
    out = claim_from_options(values, "runs/words")
    data, seed = options.data, options.seed
    with _Progress(options.steps, unit="word") as progress:
        outcome = run_complete(options, out=out, report=progress)
    model = outcome.model
    _print(
        f"{data}: {outcome.train_tokens:,} training tokens, vocabulary {len(model.vocab):,} "
        f"(<unk> is {outcome.unk_rate:.1%} of the validation tokens)"
    )
    _print(
        f"validation perplexity {outcome.perplexity:.1f} ({outcome.val_loss:.3f} nats/token "
        f"over {outcome.val_tokens:,} tokens); unigram baseline {outcome.unigram_perplexity:.1f}"
        f" ({outcome.unigram_loss:.3f}); checkpoints in {out}"
    )
    if prompt:
        _show_completion(complete(model, prompt, k=5, seed=seed))


def _show_completion(completion: Any) -> None:
    table = Table(title=f"after {completion.prompt!r}")
    table.add_column("rank", justify="right")
    table.add_column("next word")
    table.add_column("probability", justify="right")
    table.add_column("")
    for rank, (word, p) in enumerate(completion.top, start=1):
        table.add_row(str(rank), repr(word), f"{p:.4f}", "█" * round(40 * p))
    console.print(table)

    def line(text: str) -> str:  # verse line breaks as " / ", on one line
        return " / ".join(part.strip() for part in (completion.prompt + text).split("\n"))

    _print(f"greedy:  {line(completion.greedy)}")
    for text in completion.samples:
        _print(f"sampled: {line(text)}")


@complete_app.command("predict")
def complete_predict(
    run: Annotated[Path, typer.Argument(help="run directory or checkpoint file")],
    prompt: Annotated[str, typer.Argument(help='the beginning, e.g. "To be, or not to ___"')],
    k: Annotated[int, typer.Option("-k", help="how many next words")] = 10,
    words: Annotated[int, typer.Option(help="words per continuation")] = 12,
    samples: Annotated[int, typer.Option(help="sampled continuations")] = 3,
    temperature: Annotated[float, typer.Option(help="temperature of the samples")] = 0.8,
    seed: Annotated[int, typer.Option(help="seed of the samples")] = 0,
) -> None:
    """The k most likely next words after PROMPT, a greedy and some sampled continuations."""
    from rnnlab.applications.completion import complete
    from rnnlab.io import load_model, resolve_checkpoint

    model = load_model(resolve_checkpoint(run), kind="language")
    _show_completion(complete(model, prompt, k, words, samples, temperature, seed))
