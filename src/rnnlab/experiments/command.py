"""``rnnlab experiment NAME``: run one of the long-range experiments, write its JSON and
PNG plots into ``--out`` and print a table.

The experiment modules (and matplotlib) are imported when the command runs, so
``rnnlab --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rnnlab.cells import CELLS
from rnnlab.errors import ConfigError, check_positive_int

if TYPE_CHECKING:
    from rnnlab.experiments.common import Watcher

NAMES = ("vanishing", "adding", "copy", "clipping", "attention")


#: experiment name → (module, its suffix): the module defines ``XConfig``, ``run_x``,
#: ``plot_x`` and ``table_x``
MODULES = {
    "vanishing": ("rnnlab.experiments.vanishing", "Vanishing", "vanishing"),
    "adding": ("rnnlab.experiments.adding", "Adding", "adding"),
    "copy": ("rnnlab.experiments.copy_memory", "Copy", "copy"),
    "clipping": ("rnnlab.experiments.clipping", "Clipping", "clipping"),
    "attention": ("rnnlab.experiments.attention", "Attention", "attention"),
}


def _experiment(name: str) -> SimpleNamespace:
    """The config class and the run, plot and table functions of experiment ``name``."""
    if name not in MODULES:
        raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(NAMES)}")
    module_name, title, suffix = MODULES[name]
    module = importlib.import_module(module_name)
    return SimpleNamespace(
        config=getattr(module, f"{title}Config"),
        run=getattr(module, f"run_{suffix}"),
        plot=getattr(module, f"plot_{suffix}"),
        table=getattr(module, f"table_{suffix}"),
    )


def replot_results(name: str, directory: Path) -> list[Path]:
    """Redraw the PNGs and reprint the table from ``directory/NAME.json`` (no training)."""
    experiment = _experiment(name)
    path = directory / f"{name}.json"
    if not path.is_file():
        raise ConfigError(
            f"--replot needs {path}; run `rnnlab experiment {name} --out {directory}` first"
        )
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path} is not a results file: {error}") from None
    if not isinstance(results, dict) or results.get("experiment") != name:
        raise ConfigError(f"{path} holds no results of the {name} experiment")
    paths = experiment.plot(results, directory)
    experiment.table(results)
    return paths


def make_config(name: str, **options: Any) -> Any:
    """The experiment's config with every option that is not None replaced.

    An option the experiment does not have is a ConfigError naming it."""
    from rnnlab.experiments.common import cells_option

    config_class = _experiment(name).config
    known = {f.name for f in dataclasses.fields(config_class)}
    given = {key: value for key, value in options.items() if value is not None}
    for key in ("steps", "length", "hidden", "layers", "batch_size", "repeats"):
        if key in given:
            check_positive_int(key.replace("_size", ""), given[key])
    if "lr" in given and not given["lr"] > 0:
        raise ConfigError(f"lr must be positive, got {given['lr']!r}")
    if "lr" in given and "rnn_lr" in known:  # an explicit --lr applies to every cell
        given["rnn_lr"] = None
    if "cells" in given:
        given["cells"] = tuple(cells_option(given["cells"], ()))
    if "clip" in given and given["clip"] <= 0:
        given["clip"] = None  # --clip 0: no clipping
    if "radius" in given and "scales" in known:  # vanishing: several radii
        given["scales"] = tuple(given.pop("radius"))
    elif "radius" in given:
        if len(given["radius"]) != 1:
            raise ConfigError(f"the {name} experiment takes one --radius, got {given['radius']}")
        given["radius"] = given["radius"][0]
    unknown = sorted(set(given) - known)
    if unknown:
        flags = ", ".join(
            "--" + key.replace("_size", "").replace("cells", "cell") for key in unknown
        )
        raise ConfigError(f"{flags} does not apply to the {name} experiment")
    return config_class(**given)


def experiment_command(
    name: Annotated[str, typer.Argument(help="vanishing, adding, copy, clipping or attention")],
    seed: Annotated[
        int, typer.Option(min=0, help="seed of the models and the training batches")
    ] = 0,
    steps: Annotated[
        int | None, typer.Option(help="training steps (default: the experiment's)")
    ] = None,
    cell: Annotated[
        list[str] | None,
        typer.Option(help=f"cells to run: {', '.join(CELLS)} (repeat or comma-separate)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="directory for the JSON and PNGs")] = None,
    length: Annotated[int | None, typer.Option(help="sequence length / delay T")] = None,
    hidden: Annotated[int | None, typer.Option(help="hidden units")] = None,
    layers: Annotated[int | None, typer.Option(help="stacked recurrent layers (adding)")] = None,
    batch: Annotated[int | None, typer.Option(help="batch size")] = None,
    lr: Annotated[
        float | None, typer.Option(help="learning rate (of every cell, if given)")
    ] = None,
    clip: Annotated[float | None, typer.Option(help="gradient-norm clip (0: none)")] = None,
    repeats: Annotated[int | None, typer.Option(help="run seeds seed … seed + repeats − 1")] = None,
    radius: Annotated[
        list[float] | None,
        typer.Option(help="spectral radius of W_hh (vanishing: repeat for several)"),
    ] = None,
    recurrent_max: Annotated[
        float | None,
        typer.Option(help="IndRNN's bound on |u| (adding: default 2^(1/T); 0: none)", min=0),
    ] = None,
    task: Annotated[
        str | None,
        typer.Option(help="attention: reverse or copy (letters), or dates (written → ISO)"),
    ] = None,
    beam: Annotated[
        int | None,
        typer.Option(help="attention: beam width scored beside greedy (0: none)", min=0),
    ] = None,
    replot: Annotated[
        bool, typer.Option("--replot", help="only redraw the plots from --out's JSON")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the results as JSON (the rest goes to stderr)")
    ] = False,
) -> None:
    """Run an experiment (vanishing, adding, copy, clipping, attention): JSON, PNGs, a table."""
    directory = out if out is not None else Path("runs") / "experiments" / name
    if replot:
        paths = replot_results(name, directory)
        typer.echo(f"redrew {', '.join(p.name for p in paths)} in {directory}")
        return
    config = make_config(
        name,
        seed=seed,
        steps=steps,
        cells=cell,
        length=length,
        hidden=hidden,
        layers=layers,
        batch_size=batch,
        lr=lr,
        clip=clip,
        repeats=repeats,
        radius=radius,
        recurrent_max=recurrent_max,
        task=task,
        beam=beam,
    )
    from rnnlab.experiments.common import jsonable, watching

    # with --json, standard output carries the JSON alone: tables and bars go to stderr
    aside = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with aside, _progress() as watcher, watching(watcher):
        results = _experiment(name).run(config, directory)
    if as_json:
        typer.echo(json.dumps(jsonable(results), indent=1))
        return
    typer.echo(f"results and plots in {directory}")


@contextlib.contextmanager
def _progress() -> Iterator[Watcher]:
    """A live bar per training run (label, step, ETA), for ``watching``; piped, a line per
    run at every tenth of its steps (a live bar would show nothing until the end)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from rnnlab.terminal import make_console

    console = make_console()
    if not console.is_terminal:
        yield _progress_lines(console)
        return
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("step {task.completed}/{task.total}"),
        TimeRemainingColumn(),
    )
    tasks: dict[str, Any] = {}
    with Progress(*columns, console=console) as progress:

        def watch(label: str, step: int, total: int | None) -> None:
            if label not in tasks:
                tasks[label] = progress.add_task(label, total=total)
            progress.update(tasks[label], completed=step)

        yield watch


def _progress_lines(console: Any) -> Watcher:
    """A watcher that prints "label: step s/n (k s)" when a run starts, at every tenth of
    its steps and at its end: progress that reads well in a log file."""
    started: dict[str, float] = {}
    shown: dict[str, tuple[int, bool]] = {}

    def watch(label: str, step: int, total: int | None) -> None:
        now = time.monotonic()
        start = started.setdefault(label, now)
        mark = (step * 10 // total if total else step // 1000, step == total)
        if shown.get(label) == mark:
            return
        shown[label] = mark
        budget = f"/{total}" if total else ""
        console.print(f"{label}: step {step}{budget} ({now - start:.0f} s)")

    return watch
