"""Configuration written once: config dataclasses whose fields carry their command-line help.

A field made with ``option(default, help)`` is an option of every command made from its
dataclass (``command_options``); its default is the dataclass's, so the Python API, the
command line and the checkpoint (which stores the dataclass as JSON) cannot disagree.
``none=0`` (or ``""``) names the command-line value that stands for None ("0: no
limit"). The options several commands share are made here once (``cell_option``, …).
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

_UNSET = object()


def option(
    default: Any, help: str, *, flag: str | None = None, none: Any = _UNSET, **limits: Any
) -> Any:
    """A dataclass field shown on the command line as ``--name`` (or ``flag``) with ``help``;
    ``none``: the command-line value that means None for an optional field; ``limits``:
    typer's ``min``/``max``, checked as the command line is read (the config's own checks
    still hold for the Python API)."""
    metadata = {"help": help, "flag": flag, "none": none, "limits": limits}
    return dataclasses.field(default=default, metadata=metadata)


def redefault(config: type, name: str, default: Any) -> Any:
    """Field ``name`` of dataclass ``config`` (its help and flag) with another default."""
    return dataclasses.field(default=default, metadata=config.__dataclass_fields__[name].metadata)


# -- options several commands share ---------------------------------------------------------
def cell_option(default: str = "lstm") -> Any:
    from rnnlab.cells import CELLS

    return option(default, f"the cell: {', '.join(CELLS)} (rnn: rnn_tanh)")


def residual_option() -> Any:
    return option(False, "add each layer's input to its output from the second layer on")


def recurrent_dropout_option() -> Any:
    return option(0.0, "recurrent dropout: one mask per sequence on h before W_hh (training)")


def zoneout_option() -> Any:
    return option(0.0, "zoneout: each unit keeps its previous value with this probability")


def proj_size_option() -> Any:
    return option(0, "LSTM: project h to this many units (PyTorch's proj_size); 0: none", min=0)


def recurrent_max_option() -> Any:
    return option(
        None,
        "IndRNN: keep |u| at most this after every update (Li et al.: 2^(1/T)); 0: none",
        none=0.0,
    )


def hidden_option(default: int) -> Any:
    return option(default, "hidden units per layer", min=1)


def layers_option(default: int = 1) -> Any:
    return option(default, "stacked recurrent layers", min=1)


def lr_option(default: float) -> Any:
    return option(default, "learning rate")


def schedule_option(default: str) -> Any:
    return option(default, "learning-rate schedule: constant, step, cosine, warmup_cosine")


def clip_option(default: float | None) -> Any:
    return option(default, "max gradient norm; 0: no clipping", none=0.0)


def seed_option(help: str = "seed for weights, data order and samples") -> Any:
    return option(0, help, min=0)


# -- from dataclasses to commands -------------------------------------------------------------
def _command_type(field: dataclasses.Field, hint: Any) -> Any:
    """The type of a field's option: its own, without None where a value stands for None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        others = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if field.metadata["none"] is not _UNSET and len(others) == 1:
            return others[0]
    return hint


def option_parameters(config: type) -> list[inspect.Parameter]:
    """The command-line parameters of dataclass ``config``'s ``option`` fields."""
    import typer

    hints = typing.get_type_hints(config)
    parameters = []
    for field in dataclasses.fields(config):
        if "help" not in field.metadata:
            continue
        kind = _command_type(field, hints[field.name])
        default = field.default
        if default is None and field.metadata["none"] is not _UNSET:
            default = field.metadata["none"]
        flags = [field.metadata["flag"]] if field.metadata["flag"] else []
        info = typer.Option(*flags, help=field.metadata["help"], **field.metadata.get("limits", {}))
        annotation = Annotated[kind, info]
        parameters.append(
            inspect.Parameter(field.name, _KEYWORD, default=default, annotation=annotation)
        )
    return parameters


_KEYWORD = inspect.Parameter.KEYWORD_ONLY


def from_options(config: type, values: dict[str, Any]) -> Any:
    """An instance of dataclass ``config`` from command-line ``values`` (its fields only;
    the values that stand for None turned into None)."""
    chosen = {}
    for field in dataclasses.fields(config):
        if field.name not in values:
            continue
        value = values[field.name]
        none = field.metadata.get("none", _UNSET)
        chosen[field.name] = None if none is not _UNSET and value == none else value
    return config(**chosen)


def command_options(
    config: type, extra: list[inspect.Parameter] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command ``function(**values)`` (or ``function(ctx, **values)``) the options
    of ``config``'s fields and the ``extra`` options after them, so that typer shows and
    parses them."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(function)
        own = [  # e.g. ``ctx: typer.Context``, which typer fills in
            parameter.replace(annotation=hints[parameter.name])
            for parameter in inspect.signature(function).parameters.values()
            if parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        ]
        parameters = [*own, *option_parameters(config), *(extra or [])]
        function.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        function.__annotations__ = {p.name: p.annotation for p in parameters}
        return function

    return decorate


def extra_option(
    name: str, kind: Any, default: Any, help: str, *flags: str, **limits: Any
) -> inspect.Parameter:
    """A command's own option, one that belongs to no config (``--plot``, ``--out``);
    ``limits``: typer's ``min``/``max`` of a number."""
    import typer

    annotation = Annotated[kind, typer.Option(*flags, help=help, **limits)]
    return inspect.Parameter(name, _KEYWORD, default=default, annotation=annotation)


def run_dir_options(default: str) -> list[inspect.Parameter]:
    """``--out`` and ``--force`` of a command that trains into a run directory (see
    ``rnnlab.rundir.claim``)."""
    return [
        extra_option(
            "out",
            Path | None,
            None,
            f"run directory [default: {default}, or {default}-2, … if that holds a run]",
        ),
        extra_option("force", bool, False, "train into --out even if it holds a run (replaced)"),
    ]


def given_options(context: Any) -> set[str]:
    """The names of the options a command's user set (on the command line or in the
    environment), as opposed to those left at their defaults; ``context``: the command's
    ``typer.Context``."""
    return {
        name
        for name in context.params
        if getattr(context.get_parameter_source(name), "name", "") in ("COMMANDLINE", "ENVIRONMENT")
    }
