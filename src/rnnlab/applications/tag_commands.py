"""``rnnlab tag``: sequence labelling, with the two uses of the other applications::

    rnnlab tag train [options]          train, score per tag against the baseline, save
    rnnlab tag RUN "text" ...           tag texts with a trained model (RUN: a run
                                        directory or a checkpoint file)

A punctuation tagger (``--data shakespeare``) prints each text restored: capitals and
punctuation put back into words written without them. A tagger trained on a CSV prints
each token with its tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rnnlab.applications.commands import _group, _print, _Progress, console
from rnnlab.applications.tagging import TagOptions
from rnnlab.options import command_options, from_options, run_dir_options
from rnnlab.rundir import claim_from_options

tag_app = _group(
    "Tag every token of a sequence: `tag train` fits a tagger and scores each tag against "
    "the most-frequent-tag baseline (default: restore punctuation and capitals in "
    'Shakespeare); `tag RUN "text"` tags texts with a trained one.'
)

#: a tag's scores are compared with the baseline's from this many test tokens on
MIN_SUPPORT = 100


def _scores_table(view: Any) -> Table:
    table = Table(title=f"{view.name}: per-tag scores on the held-out part (model | baseline)")
    table.add_column("tag")
    table.add_column("support", justify="right")
    for column in ("precision", "recall", "F1", "baseline P", "baseline R", "baseline F1"):
        table.add_column(column, justify="right")
    table.add_column("")
    for m, b in zip(view.model, view.baseline, strict=True):
        verdict = "" if m.support < MIN_SUPPORT else ("better" if m.f1 > b.f1 else "NOT better")
        table.add_row(
            repr(m.tag) if m.tag.strip() != m.tag else m.tag,
            f"{m.support:,}",
            *(f"{v:.3f}" for v in (m.precision, m.recall, m.f1, b.precision, b.recall, b.f1)),
            verdict,
        )
    return table


def _scores_json(outcome: Any) -> dict[str, Any]:
    config = outcome.model.config
    return {
        "data": outcome.split.description,
        "model": {
            "cell": config.cell,
            "hidden_size": config.hidden_size,
            "num_layers": config.num_layers,
            "bidirectional": config.bidirectional,
        },
        "tokens_scored": outcome.tokens_scored,
        "views": [
            {
                "name": view.name,
                "accuracy": view.accuracy,
                "baseline_accuracy": view.baseline_accuracy,
                "tags": [
                    {
                        "tag": m.tag,
                        "support": m.support,
                        "precision": m.precision,
                        "recall": m.recall,
                        "f1": m.f1,
                        "baseline_precision": b.precision,
                        "baseline_recall": b.recall,
                        "baseline_f1": b.f1,
                    }
                    for m, b in zip(view.model, view.baseline, strict=True)
                ],
            }
            for view in outcome.views
        ],
    }


@tag_app.command("train")
@command_options(TagOptions, extra=run_dir_options("runs/tag"))
def tag_train(**values: Any) -> None:
    """Train a tagger; report per-tag precision, recall and F1 next to the baseline's."""
    from rnnlab.applications.tagging import load_split, run_tag
    from rnnlab.data.tags import restore
    from rnnlab.experiments.common import write_json

    options = from_options(TagOptions, values)
    out = claim_from_options(values, "runs/tag")
    split = load_split(options)
    _print(split.description)
    batches = len(split.train) // min(options.batch, len(split.train))
    with _Progress(options.epochs * batches) as progress:
        outcome = run_tag(options, out=out, report=progress, split=split)
    for view in outcome.views:
        console.print(_scores_table(view))
        _print(
            f"{view.name}: accuracy {view.accuracy:.2%} over {outcome.tokens_scored:,} test "
            f"tokens; baseline {view.baseline_accuracy:.2%}. F1 above the baseline on every "
            f"tag with {MIN_SUPPORT}+ test tokens: {'yes' if view.beats_baseline() else 'no'}"
        )
    if split.kind == "punctuation":
        for tokens, truth, predicted in outcome.examples:
            _print(f"text:     {restore(tokens, truth)}")
            _print(f"restored: {restore(tokens, predicted)}")
    scores = write_json(Path(out) / "scores.json", _scores_json(outcome))
    _print(f"checkpoint in {out}; scores in {scores}")


@tag_app.command("predict")
def tag_predict(
    run: Annotated[Path, typer.Argument(help="run directory or checkpoint file")],
    texts: Annotated[list[str], typer.Argument(help="one or more texts to tag")],
) -> None:
    """Tag texts with a trained tagger: restored text, or each token with its tag."""
    from rnnlab.data.tags import restore
    from rnnlab.io import load_model, resolve_checkpoint
    from rnnlab.models.tagger import tag_texts

    model = load_model(resolve_checkpoint(run), kind="sequence")
    tagged = tag_texts(model, texts)
    if (model.config.normalisation or {}).get("tagger") == "punctuation":
        for tokens, tags in tagged:
            _print(restore(tokens, tags))
        return
    for n, (tokens, tags) in enumerate(tagged, start=1):
        table = Table(title=f"text {n}" if len(tagged) > 1 else None)
        table.add_column("token")
        table.add_column("tag")
        for token, tag in zip(tokens, tags, strict=True):
            table.add_row(token, tag)
        console.print(table)
