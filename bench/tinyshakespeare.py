"""Validation loss on tiny shakespeare, comparable with published numbers.

The corpus is ../shared/data/tinyshakespeare.txt, split 90/10 as nanoGPT's
shakespeare_char (1,003,854 / 111,540 characters). Each run: 1 layer, 128 units,
truncated BPTT 64, batch 32, Adam 2e-3, norm clip 5, full validation every 1,000 steps.

    python bench/tinyshakespeare.py [--cells lstm gru rnn_tanh] [--out bench/results]

Prints a markdown table (validation nats/char at each checkpoint and wall time) and
writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from rnnlab.runs import prepare_run

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
STEPS = {"lstm": 6000, "gru": 4000, "rnn_tanh": 4000}
TARGETS = {"lstm": {3000: 1.95, 6000: 1.80}, "gru": {4000: 1.80}, "rnn_tanh": {4000: 1.95}}


def run(cell: str, corpus: Path) -> dict:
    events: list[dict] = []
    prepared = prepare_run(
        data=str(corpus),
        cell=cell,
        hidden=128,
        layers=1,
        seq_len=64,
        batch_size=32,
        optimizer="adam",
        lr=2e-3,
        clip=5.0,
        steps=STEPS[cell],
        minutes=None,
        eval_every=1000,
        eval_tokens=None,
        sample_every=0,
        checkpoint_every=10**9,
        seed=0,
    )
    trainer = prepared.trainer
    started = time.perf_counter()
    times: dict[int, float] = {}

    def report(event: dict) -> None:
        if event.get("event") == "eval":
            times[event["step"]] = time.perf_counter() - started
        events.append(event)

    trainer.report = report
    result = trainer.fit()
    val = {e["step"]: e["val_loss"] for e in events if e.get("event") == "eval"}
    return {
        "cell": cell,
        "val_loss": val,
        "seconds_at": times,
        "seconds": result.seconds,
        "tokens_per_second": result.tokens_per_second,
        "vocab": len(trainer.model.vocab),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", nargs="+", default=list(STEPS))
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    results = [run(cell, args.corpus) for cell in args.cells]
    lines = [
        "| cell | step 0 (ln V) | step | val nats/char | target | wall time |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        v0 = r["val_loss"][0]
        for step, target in TARGETS[r["cell"]].items():
            lines.append(
                f"| {r['cell']} | {v0:.3f} ({math.log(r['vocab']):.3f}) | {step} | "
                f"{r['val_loss'][step]:.3f} | ≤ {target} | {r['seconds_at'][step]:.0f} s |"
            )
    table = "\n".join(lines)
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tinyshakespeare.json").write_text(json.dumps(results, indent=1))
    (args.out / "tinyshakespeare.md").write_text(table + "\n")


if __name__ == "__main__":
    main()
