"""Two revisions of rnnlab side by side in one run: is a change faster or slower?

    git worktree add /tmp/old <rev>
    python bench/compare_revisions.py --old /tmp/old/src --new src [--repeats 15]

Each revision runs in its own benchmark worker (``rnnlab.benchmark.worker``, the one
``rnnlab bench`` uses), on the same grid, with the other worker stopped while one is
timed; their turns alternate. Prints new/old throughput per configuration (above 1: the
new revision is faster) and the geometric means, and appends the rows to ``--out``.
Small configurations vary by ±15 % from run to run (try ``--new`` = ``--old``): repeat
those with more ``--repeats`` before reading a single ratio.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

from rnnlab.benchmark.runner import Worker


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, help="the old revision's src directory")
    parser.add_argument("--new", required=True, help="the new revision's src directory")
    parser.add_argument("--cells", default="rnn,lstm,gru")
    parser.add_argument("--hidden", default="64,128,256,512,1024")
    parser.add_argument("--batch", default="1,16,64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("compare_revisions.jsonl"))
    args = parser.parse_args()
    sources = {"old": str(Path(args.old).resolve()), "new": str(Path(args.new).resolve())}
    workers = {
        name: Worker("rnnlab", args.threads, env={"PYTHONPATH": path})
        for name, path in sources.items()
    }
    rows = []
    try:
        for cell in args.cells.split(","):
            for hidden in _ints(args.hidden):
                for batch in _ints(args.batch):
                    row = _compare(workers, cell, hidden, batch, args)
                    print(
                        f"{cell:>5} H={hidden:<5} B={batch:<3} new/old: train {row['train']:.3f}"
                        f"  infer {row['infer']:.3f}",
                        flush=True,
                    )
                    with args.out.open("a") as out:
                        out.write(json.dumps(row) + "\n")
                    rows.append(row)
    finally:
        for worker in workers.values():
            worker.close()
    for what in ("train", "infer"):
        ratios = [row[what] for row in rows]
        mean = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"{what}: geometric mean {mean:.3f}, lowest {min(ratios):.3f}")


def _compare(workers: dict[str, Worker], cell: str, hidden: int, batch: int, args) -> dict:
    """One configuration: the median seconds per step of each revision, as new/old ratios."""
    config = dict(cell=cell, hidden=hidden, batch=batch, steps=args.steps, bidirectional=False)
    for worker in workers.values():
        worker.request(op="setup", **config)
    times: dict[str, dict[str, list[float]]] = {n: {"train": [], "infer": []} for n in workers}
    for turn in range(args.repeats):
        order = ["old", "new"] if turn % 2 == 0 else ["new", "old"]
        for what in ("train", "infer"):
            for name in order:
                other = workers["new" if name == "old" else "old"]
                other.pause()  # its threads may spin: keep them off the cores
                try:
                    seconds = workers[name].request(op="time", what=what)["seconds"]
                finally:
                    other.resume()
                times[name][what].append(seconds)
                time.sleep(0.02)
    ratio = {
        what: statistics.median(times["old"][what]) / statistics.median(times["new"][what])
        for what in ("train", "infer")
    }
    return {**config, "threads": args.threads, **ratio}


if __name__ == "__main__":
    main()
