"""Training speed of the LSTM variants on the compiled path, side by side (issue #23):
rnnlab's peephole and layer-norm LSTMs against its plain LSTM, and against what a torch
user writes for the same cell (a ``torch.jit.script`` loop over the step's equations);
and the LSTM with a projection (``lstm_proj``: proj_size = H/2) against torch.nn.LSTM's
own (``proj_size``), which torch runs natively.

Each (implementation, cell, size) runs in its own process with 2 threads; turns
alternate; a training step is forward + backward over T = 100 steps with ∂L/∂x skipped
on both sides. Prints a Markdown table of tokens/s and the ratios.

    python bench/cell_speed.py [--hidden 128,512] [--batch 1,16] [--rounds 3] [--cells …]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

WORKER = r"""
import json, statistics, sys, time
import numpy as np
impl, cell = sys.argv[1], sys.argv[2]
H, B, T, repeats = map(int, sys.argv[3:7])
rng = np.random.default_rng(0)
x = rng.standard_normal((T, B, H)).astype(np.float32)
P = H // 2  # lstm_proj's projection
dy = rng.standard_normal((T, B, P if cell == "lstm_proj" else H)).astype(np.float32)
if impl == "rnnlab":
    import rnnlab
    options = {"lstm_peephole": {"peephole": True}, "lstm_layer_norm": {"layer_norm": True},
               "lstm_proj": {"proj_size": P}}
    layer = rnnlab.LSTM(H, H, seed=0, **options.get(cell, {}))
    def step():
        layer.zero_grad()
        layer(x)
        layer.backward(dy, input_grad=False)
else:
    import torch
    from torch.nn.functional import layer_norm
    torch.set_num_threads(2)

    @torch.jit.script
    def run(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, W_ih: torch.Tensor,
            W_hh: torch.Tensor, b: torch.Tensor, p: torch.Tensor, kind: int) -> torch.Tensor:
        H = h.shape[1]
        u = x @ W_ih.t() + b
        if kind == 2:
            u = layer_norm(u, [4 * H], p[0], p[1], 1e-5)
        outputs = []
        for t in range(x.shape[0]):
            v = h @ W_hh.t()
            if kind == 2:
                v = layer_norm(v, [4 * H], p[2], p[3], 1e-5)
            a = u[t] + v
            ai, af, ag, ao = a.chunk(4, 1)
            if kind == 1:
                ai = ai + p[0, :H] * c
                af = af + p[0, H : 2 * H] * c
            i, f, g = torch.sigmoid(ai), torch.sigmoid(af), torch.tanh(ag)
            c = f * c + i * g
            if kind == 1:
                ao = ao + p[0, 2 * H : 3 * H] * c
            o = torch.sigmoid(ao)
            if kind == 2:
                h = o * torch.tanh(layer_norm(c, [H], p[4, :H], p[5, :H], 1e-5))
            else:
                h = o * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs)

    kind = {"lstm": 0, "lstm_peephole": 1, "lstm_layer_norm": 2, "lstm_proj": 0}[cell]
    bound = 1 / H ** 0.5
    def weight(*shape):
        return (torch.rand(*shape) * 2 * bound - bound).requires_grad_()
    W_ih, W_hh, b = weight(4 * H, H), weight(4 * H, H), weight(4 * H)
    p = torch.ones(6, 4 * H).requires_grad_()
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
    zeros = torch.zeros(B, H)
    def step():
        for w in (W_ih, W_hh, b, p):
            w.grad = None
        (run(xt, zeros, zeros, W_ih, W_hh, b, p, kind) * dyt).sum().backward()
    if cell == "lstm_proj":  # torch.nn's own LSTM with a projection
        lstm = torch.nn.LSTM(H, H, proj_size=P)
        def step():
            lstm.zero_grad()
            (lstm(xt)[0] * dyt).sum().backward()
for _ in range(3):
    step()
times = []
for _ in range(repeats):
    start = time.perf_counter(); step(); times.append(time.perf_counter() - start)
print(json.dumps(T * B / statistics.median(times)))
"""


def tokens_per_second(impl: str, cell: str, hidden: int, batch: int) -> float:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2")
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as worker:
        worker.write(WORKER)  # a file: torch.jit.script reads the function's source
    command = [sys.executable, worker.name, impl, cell, str(hidden), str(batch), "100", "7"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env)
    finally:
        os.unlink(worker.name)
    if done.returncode != 0:
        raise RuntimeError(f"{impl} {cell} H={hidden} B={batch}: {done.stderr[-800:]}")
    return float(json.loads(done.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hidden", default="128,512")
    parser.add_argument("--batch", default="1,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cells", default="lstm,lstm_peephole,lstm_layer_norm,lstm_proj")
    args = parser.parse_args()
    cells = ["lstm", *(cell for cell in args.cells.split(",") if cell != "lstm")]
    print("| H | B | cell | rnnlab tok/s | × rnnlab LSTM | torch tok/s | rnnlab / torch |")
    print("|---|---|---|---|---|---|---|")
    for hidden in (int(h) for h in args.hidden.split(",")):
        for batch in (int(b) for b in args.batch.split(",")):
            rates: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for cell in cells:
                    for impl in ("rnnlab", "torch"):
                        rate = tokens_per_second(impl, cell, hidden, batch)
                        rates.setdefault((impl, cell), []).append(rate)
            median = {key: statistics.median(values) for key, values in rates.items()}
            plain = median[("rnnlab", "lstm")]
            for cell in cells:
                ours, theirs = median[("rnnlab", cell)], median[("torch", cell)]
                print(
                    f"| {hidden} | {batch} | {cell} | {ours:,.0f} | {ours / plain:.2f} | "
                    f"{theirs:,.0f} | {ours / theirs:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
