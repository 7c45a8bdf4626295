"""A single-step LSTMCell called in a Python loop, forward and backward (BPTT by hand),
against torch.nn.LSTMCell in the same loop with autograd; each in its own process,
their turns alternating (issue #23: ≥ 2× at H = 128, B = 1).

    python bench/step_cells.py [--hidden 128] [--batch 1] [--steps 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

WORKER = r"""
import json, sys, time
import numpy as np
which, H, B, T, repeats = sys.argv[1], *map(int, sys.argv[2:6])
I = H
rng = np.random.default_rng(0)
xs = rng.standard_normal((T, B, I)).astype(np.float32)
if which == "torch":
    import torch
    torch.set_num_threads(1)
    cell = torch.nn.LSTMCell(I, H)
    xt = [torch.from_numpy(x) for x in xs]
    def sequence():
        state, total = None, 0
        for x in xt:
            state = cell(x, state)
            total = total + state[0].sum()
        total.backward()
else:
    import rnnlab
    cell = rnnlab.LSTMCell(I, H, seed=0)
    ones = np.ones((B, H), np.float32)
    def sequence():
        state = None
        for x in xs:
            state = cell(x, state)
        d = (ones, None)
        for _ in range(T):
            _, d = cell.backward(d)
            d = (d[0] + ones, d[1])
for _ in range(3):
    sequence()
times = []
for _ in range(repeats):
    start = time.perf_counter(); sequence(); times.append(time.perf_counter() - start)
print(json.dumps(min(times) / T))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {"rnnlab": [], "torch": []}
    for _ in range(3):
        for which in seconds:
            command = [sys.executable, "-c", WORKER, which, str(args.hidden), str(args.batch)]
            command += [str(args.steps), str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            seconds[which].append(json.loads(done.stdout))
    ours, theirs = (statistics.median(seconds[k]) for k in ("rnnlab", "torch"))
    print("| H | B | rnnlab µs/step | torch µs/step | speed-up |\n|---|---|---|---|---|")
    print(
        f"| {args.hidden} | {args.batch} | {ours * 1e6:.1f} | {theirs * 1e6:.1f} | "
        f"{theirs / ours:.2f}× |"
    )


if __name__ == "__main__":
    main()
