"""``rnnlab bench``: the side-by-side benchmark against torch.nn from the command line."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from rnnlab.errors import ConfigError


def _ints(text: str, name: str) -> tuple[int, ...]:
    """'64,128' → (64, 128); ConfigError naming the option for anything else."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--{name} takes whole numbers separated by commas, got {text!r}"
        ) from None


def bench_command(
    cells: Annotated[str, typer.Option(help="comma-separated: rnn,lstm,gru")] = "rnn,lstm,gru",
    hidden: Annotated[str, typer.Option(help="hidden sizes")] = "64,128,256,512,1024",
    batch: Annotated[str, typer.Option(help="batch sizes")] = "1,16,64",
    threads: Annotated[str, typer.Option(help="thread counts, one table each")] = "1,2",
    steps: Annotated[int, typer.Option(help="sequence length T")] = 100,
    bidirectional: Annotated[
        bool, typer.Option(help="bidirectional layers (not in the standard grid)")
    ] = False,
    repeats: Annotated[int, typer.Option(help="timed steps per implementation (median)")] = 7,
    out: Annotated[Path, typer.Option(help="where benchmark.md and .json go")] = Path(
        "bench/results"
    ),
    as_json: Annotated[
        bool, typer.Option("--json", help="print the report as JSON (progress goes to stderr)")
    ] = False,
) -> None:
    """Training and inference tokens/s of rnnlab against torch.nn, side by side, as ratios."""
    from rnnlab.benchmark.runner import Grid, run
    from rnnlab.terminal import make_console

    console = make_console(stderr=as_json)  # with --json, stdout carries the JSON alone
    grid = Grid(
        cells=tuple(c for c in cells.split(",") if c),
        hidden=_ints(hidden, "hidden"),
        batch=_ints(batch, "batch"),
        threads=_ints(threads, "threads"),
        steps=steps,
        bidirectional=bidirectional,
        repeats=repeats,
    )

    def progress(row: dict) -> None:
        ratio = row.get("train_ratio")
        text = f"{ratio:.2f}×" if ratio is not None else "(no torch)"
        console.print(
            f"{row['threads']} thr  {row['cell']:>4} H={row['hidden']:<5} B={row['batch']:<3} "
            f"train {row['rnnlab_train_tokens_per_s']:>10,.0f} tok/s  vs torch {text}",
            highlight=False,
        )

    report = run(grid, out, progress)
    from rnnlab.benchmark.runner import markdown

    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2))
        return
    console.print(markdown(report), markup=False, highlight=False)
    console.print(f"written to {out}/benchmark.md and benchmark.json")
