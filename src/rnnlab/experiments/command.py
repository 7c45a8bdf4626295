"""``rnnlab experiment NAME``: run one of the long-range experiments, write its JSON and
PNG plots into ``--out`` and print a table.

The experiment modules (and matplotlib) are imported when the command runs, so
``rnnlab --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnlab.errors import ConfigError

NAMES = ("vanishing", "adding", "copy", "clipping")


def _experiment(name: str) -> tuple[Any, Any]:
    """(config class, run function) of experiment ``name``."""
    if name == "vanishing":
        from rnnlab.experiments.vanishing import VanishingConfig, run_vanishing

        return VanishingConfig, run_vanishing
    if name == "adding":
        from rnnlab.experiments.adding import AddingConfig, run_adding

        return AddingConfig, run_adding
    if name == "copy":
        from rnnlab.experiments.copy_memory import CopyConfig, run_copy

        return CopyConfig, run_copy
    if name == "clipping":
        from rnnlab.experiments.clipping import ClippingConfig, run_clipping

        return ClippingConfig, run_clipping
    raise ConfigError(f"unknown experiment {name!r}; choose one of {', '.join(NAMES)}")


def make_config(name: str, **options: Any) -> Any:
    """The experiment's config with every option that is not None replaced.

    An option the experiment does not have is a ConfigError naming it."""
    from rnnlab.experiments.common import cells_option

    config_class, _ = _experiment(name)
    known = {f.name for f in dataclasses.fields(config_class)}
    given = {key: value for key, value in options.items() if value is not None}
    if "cells" in given:
        given["cells"] = tuple(cells_option(given["cells"], ()))
    if "clip" in given and given["clip"] <= 0:
        given["clip"] = None  # --clip 0: no clipping
    unknown = sorted(set(given) - known)
    if unknown:
        flags = ", ".join(
            "--" + key.replace("_size", "").replace("cells", "cell") for key in unknown
        )
        raise ConfigError(f"{flags} does not apply to the {name} experiment")
    return config_class(**given)


def experiment_command(
    name: Annotated[str, typer.Argument(help="vanishing, adding, copy or clipping")],
    seed: Annotated[int, typer.Option(help="seed of the models and the training batches")] = 0,
    steps: Annotated[
        int | None, typer.Option(help="training steps (default: the experiment's)")
    ] = None,
    cell: Annotated[
        list[str] | None,
        typer.Option(help="cells to run: lstm, gru, rnn_tanh, rnn_relu (repeat or comma-separate)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="directory for the JSON and PNGs")] = None,
    length: Annotated[int | None, typer.Option(help="sequence length / delay T")] = None,
    hidden: Annotated[int | None, typer.Option(help="hidden units")] = None,
    batch: Annotated[int | None, typer.Option(help="batch size")] = None,
    lr: Annotated[float | None, typer.Option(help="learning rate")] = None,
    clip: Annotated[float | None, typer.Option(help="gradient-norm clip (0: none)")] = None,
    repeats: Annotated[int | None, typer.Option(help="run seeds seed … seed + repeats − 1")] = None,
) -> None:
    """Run a long-range experiment (vanishing, adding, copy, clipping): JSON, PNGs, a table."""
    config = make_config(
        name,
        seed=seed,
        steps=steps,
        cells=cell,
        length=length,
        hidden=hidden,
        batch_size=batch,
        lr=lr,
        clip=clip,
        repeats=repeats,
    )
    _, run = _experiment(name)
    directory = out if out is not None else Path("runs") / "experiments" / name
    run(config, directory)
    typer.echo(f"results and plots in {directory}")
