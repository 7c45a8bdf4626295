"""A benchmark worker: one implementation (rnnlab or torch) in its own process.

The parent starts ``python -m rnnlab.benchmark.worker IMPL THREADS`` and talks JSON over
stdin/stdout, one request per line: ``{"op": "setup", ...}`` builds a configuration,
``{"op": "time", "what": "train"|"infer"}`` times steps run back to back, as in a
training loop (after one untimed step: cores left idle wake slowly), ``{"op": "memory"}``
measures the peak memory of a training step, ``{"op": "sample", ...}`` times sampling, ``{"op":
"gemm"}`` measures the machine's large-GEMM rate. Thread counts are fixed before numpy
or torch is imported, so the two thread pools never meet in one process.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def _pin_threads(threads: int) -> None:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(threads)


def _resident_kib() -> tuple[int, int]:
    """(current RSS, peak RSS since the last reset) in KiB, from /proc/self/status."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS


class RnnlabCase:
    """A layer of rnnlab, with input, output gradient and the step functions."""

    def __init__(
        self, cell: str, hidden: int, batch: int, steps: int, threads: int, bidirectional: bool
    ) -> None:
        import numpy as np

        from rnnlab.cells import cell_named
        from rnnlab.nn.module import inference
        from rnnlab.nn.recurrent import LAYERS

        self.np, self.inference = np, inference
        chosen = cell_named(cell)
        layer = LAYERS[chosen.layer]
        options = {"seed": 0, "bidirectional": bidirectional, **chosen.layer_options}
        self.layer = layer(hidden, hidden, **options)
        outputs = hidden * (2 if bidirectional else 1)
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((steps, batch, hidden)).astype(np.float32)
        self.dy = rng.standard_normal((steps, batch, outputs)).astype(np.float32)

    def train(self) -> None:
        self.layer.zero_grad()
        self.layer(self.x)
        self.layer.backward(self.dy, input_grad=False)  # torch's x does not require grad

    def infer(self) -> None:
        with self.inference(self.layer):
            self.layer(self.x)


class TorchCase:
    """The same layer in torch.nn."""

    def __init__(
        self, cell: str, hidden: int, batch: int, steps: int, threads: int, bidirectional: bool
    ) -> None:
        import numpy as np
        import torch

        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.torch = torch
        from rnnlab.cells import cell_named

        layer = cell_named(cell).torch
        make = getattr(torch.nn, layer.module)
        self.layer = make(hidden, hidden, bidirectional=bidirectional, **layer.options)
        outputs = hidden * (2 if bidirectional else 1)
        rng = np.random.default_rng(0)
        self.x = torch.from_numpy(rng.standard_normal((steps, batch, hidden)).astype(np.float32))
        self.dy = torch.from_numpy(rng.standard_normal((steps, batch, outputs)).astype(np.float32))

    def train(self) -> None:
        self.layer.zero_grad()
        output, _ = self.layer(self.x)
        output.backward(self.dy)

    def infer(self) -> None:
        with self.torch.no_grad():
            self.layer(self.x)


def _sampler(impl: str, hidden: int, vocab: int) -> tuple[Any, int]:
    """(a function that generates characters, how many per call): torch steps its
    nn.LSTMCell + Linear loop one character per call (softmax, multinomial); rnnlab
    draws a run of characters per compiled call, as ``rnnlab.generate`` does."""
    import numpy as np

    if impl == "torch":
        import torch

        torch.manual_seed(0)
        cell, head = torch.nn.LSTMCell(vocab, hidden), torch.nn.Linear(hidden, vocab)
        eye = torch.eye(vocab)
        state = [torch.zeros(1, hidden), torch.zeros(1, hidden), 0]

        def torch_step() -> None:
            with torch.no_grad():
                h, c = cell(eye[state[2]].unsqueeze(0), (state[0], state[1]))
                probs = torch.softmax(head(h)[0] / 0.8, dim=0)
                state[:] = [h, c, int(torch.multinomial(probs, 1))]

        return torch_step, 1

    from rnnlab import backend
    from rnnlab.generate import TOKENS_PER_CALL, stack_weights
    from rnnlab.models import LanguageModel, LanguageModelConfig

    model = LanguageModel(LanguageModelConfig(vocab_size=vocab, hidden_size=hidden), seed=0)
    zeros = np.zeros((1, 1, hidden), np.float32)
    weights, logits = stack_weights(model), np.zeros(vocab, np.float32)
    with backend.use_backend("numba"):  # the compiled generation, whatever RNNLAB_BACKEND says
        generation = backend.generation("lstm", weights, (zeros, zeros), logits)
    rng = np.random.default_rng(0)

    def rnnlab_run() -> None:  # what rnnlab.generate does per run of characters
        generation.run(rng.random(TOKENS_PER_CALL), 0.8)

    return rnnlab_run, TOKENS_PER_CALL


def _gemm_rate(size: int = 2048, repeats: int = 5) -> float:
    """GFLOP/s of a large float32 matrix product (numpy's BLAS)."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    out = np.empty_like(a)
    np.matmul(a, a, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, a, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def _seconds_per_step(run: Any, at_least: float, most_steps: int = 5) -> float:
    """Mean seconds of steps run back to back for ``at_least`` seconds (1 to
    ``most_steps`` steps), after one untimed step that wakes the cores from the gap."""
    run()
    start = time.perf_counter()
    steps = 0
    while steps < most_steps and (steps == 0 or time.perf_counter() - start < at_least):
        run()
        steps += 1
    return (time.perf_counter() - start) / steps


def serve(impl: str, threads: int) -> None:
    """Answer requests from stdin until it closes."""
    case: Any = None
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "setup":
            factory = TorchCase if impl == "torch" else RnnlabCase
            case = factory(
                request["cell"],
                request["hidden"],
                request["batch"],
                request["steps"],
                threads,
                request.get("bidirectional", False),
            )
            for _ in range(request.get("warmup", 2)):
                case.train()
                case.infer()
            reply: dict[str, Any] = {"ok": True}
        elif op == "time":
            run = case.train if request["what"] == "train" else case.infer
            reply = {"seconds": _seconds_per_step(run, request.get("at_least", 0.05))}
        elif op == "memory":  # the first training step of a configuration just set up
            before, _ = _resident_kib()
            _reset_peak()
            case.train()
            _, peak = _resident_kib()
            reply = {"peak_kib": peak - before}
        elif op == "sample":
            generate, per_call = _sampler(impl, request["hidden"], request["vocab"])
            for _ in range(-(-256 // per_call)):  # at least 256 characters of warm-up
                generate()
            calls = -(-request["chars"] // per_call)
            turns = []
            for _ in range(request.get("turns", 7)):  # the median of several turns
                start = time.perf_counter()
                for _ in range(calls):
                    generate()
                turns.append((time.perf_counter() - start) / (calls * per_call))
            reply = {"us_per_char": sorted(turns)[len(turns) // 2] * 1e6}
        elif op == "gemm":
            reply = {"gflops": _gemm_rate()}
        else:
            reply = {"error": f"unknown op {op!r}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _pin_threads(int(sys.argv[2]))
    serve(sys.argv[1], int(sys.argv[2]))
