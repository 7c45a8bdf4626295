"""Side-by-side benchmark of rnnlab and torch.nn recurrent layers, reported as ratios.

Each implementation runs in its own worker process (torch's and numpy's thread pools
stall each other in one), with the same thread count. For every configuration the two
workers take turns with a short idle gap between. A turn is one untimed step, then steps
back to back for at least 50 ms (at most 5), timed together: a training loop runs its
steps back to back, and a core left idle through the gap wakes slowly (the first step
after it ran 1.5–1.8× slower on our 2-core VM, for torch's OpenMP pool most of all).
The median of the turns (after warm-up) is reported as tokens per second, and the ratio
rnnlab / torch (> 1: rnnlab is faster) per cell, with the geometric mean over the grid.
A training step is forward + backward to the weight gradients on both sides, without
∂L/∂x: torch's input does not require grad, rnnlab's backward runs with input_grad=False.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.cells import cell_named
from rnnlab.errors import check_positive_int


@dataclass
class Grid:
    """What to measure; the defaults are the full grid of the benchmark."""

    cells: tuple[str, ...] = ("rnn", "lstm", "gru")  #: registered cells with a torch layer
    hidden: tuple[int, ...] = (64, 128, 256, 512, 1024)
    batch: tuple[int, ...] = (1, 16, 64)
    threads: tuple[int, ...] = (1, 2)
    steps: int = 100
    bidirectional: bool = False  #: bidirectional layers on both sides
    repeats: int = 7
    gap: float = 0.02  #: idle seconds between timed steps
    sample_hidden: tuple[int, ...] = (128, 512)
    sample_chars: int = 512

    def __post_init__(self) -> None:
        for cell in self.cells:
            cell_named(cell)  # ConfigError naming the registered cells
        for name in ("hidden", "batch", "threads", "sample_hidden"):
            for value in getattr(self, name):
                check_positive_int(name, value)
        for name in ("steps", "repeats", "sample_chars"):
            check_positive_int(name, getattr(self, name))


class Worker:
    """A worker process speaking JSON lines (see ``rnnlab.benchmark.worker``).

    While another worker is being timed this one is stopped (SIGSTOP): thread pools
    spin for a while after their last job, and a spinning pool in the idle process would
    take cores from the one being measured.
    """

    def __init__(self, impl: str, threads: int, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ, **(env or {}))
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(threads)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rnnlab.benchmark.worker", impl, str(threads)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def request(self, **message: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker exited (code {self.process.wait()})")
        return json.loads(line)

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.resume()
        if self.process.stdin:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def torch_available() -> bool:
    return importlib.util.find_spec("torch") is not None


def train_flops(
    cell: str, hidden: int, batch: int, steps: int, bidirectional: bool = False
) -> float:
    """FLOPs of the benchmark's training step, input size I = hidden: T·B·G·H·(4I + 6H)
    per direction.

    Forward 2(I + H) per gate unit and row, backward 2H for ∂L/∂h_{t−1} and 2(I + H) for
    the weight gradients; ∂L/∂x (2I more) is not computed by either side.
    """
    inputs, directions = hidden, 2 if bidirectional else 1
    gates = cell_named(cell).blocks
    return float(directions * steps * batch * gates * hidden * (4 * inputs + 6 * hidden))


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def measure_grid(grid: Grid, threads: int, impls: list[str], progress: Any = print) -> list[dict]:
    """One row per (cell, hidden, batch): median seconds per step for each impl and what."""
    workers = {impl: Worker(impl, threads) for impl in impls}
    rows = []
    try:
        for cell in grid.cells:
            for hidden in grid.hidden:
                for batch in grid.batch:
                    config = dict(
                        cell=cell,
                        hidden=hidden,
                        batch=batch,
                        steps=grid.steps,
                        bidirectional=grid.bidirectional,
                    )
                    for worker in workers.values():
                        worker.request(op="setup", **config)
                    times: dict[str, dict[str, list[float]]] = {
                        impl: {"train": [], "infer": []} for impl in impls
                    }
                    for repeat in range(grid.repeats):
                        order = impls if repeat % 2 == 0 else impls[::-1]
                        for what in ("train", "infer"):
                            for impl in order:
                                times[impl][what].append(_timed(workers, impl, what))
                                time.sleep(grid.gap)
                    row: dict[str, Any] = dict(config, threads=threads)
                    tokens = grid.steps * batch
                    for impl in impls:
                        for what in ("train", "infer"):
                            median = statistics.median(times[impl][what])
                            row[f"{impl}_{what}_tokens_per_s"] = tokens / median
                    if "torch" in impls:
                        for what in ("train", "infer"):
                            row[f"{what}_ratio"] = (
                                row[f"rnnlab_{what}_tokens_per_s"]
                                / row[f"torch_{what}_tokens_per_s"]
                            )
                    progress(row)
                    rows.append(row)
    finally:
        for worker in workers.values():
            worker.close()
    return rows


def _timed(workers: dict[str, Worker], impl: str, what: str) -> float:
    """Seconds per step of one turn of ``impl``, with every other worker stopped."""
    others = [w for name, w in workers.items() if name != impl]
    for worker in others:
        worker.pause()
    try:
        return workers[impl].request(op="time", what=what)["seconds"]
    finally:
        for worker in others:
            worker.resume()


#: glibc returns every block above 64 KiB to the system when it is freed, so the
#: resident set follows the memory actually in use and its peak is the step's peak
LEAN_MALLOC = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def measure_memory(grid: Grid, impls: list[str]) -> dict[tuple, dict[str, float]]:
    """Peak extra memory (MiB) of the first training step of each configuration.

    Each measurement is a fresh worker that first trains a tiny layer of the same cell
    (so compiling kernels or JIT code is not counted), then builds the configuration
    and records the peak resident memory of one training step above what it held before.
    """
    peaks: dict[tuple, dict[str, float]] = {}
    for cell in grid.cells:
        for hidden in grid.hidden:
            for batch in grid.batch:
                key = (cell, hidden, batch)
                peaks[key] = {}
                for impl in impls:
                    worker = Worker(impl, 1, LEAN_MALLOC)
                    try:
                        worker.request(op="setup", cell=cell, hidden=8, batch=2, steps=3)
                        worker.request(
                            op="setup",
                            cell=cell,
                            hidden=hidden,
                            batch=batch,
                            steps=grid.steps,
                            bidirectional=grid.bidirectional,
                            warmup=0,
                        )
                        peaks[key][impl] = worker.request(op="memory")["peak_kib"] / 1024
                    finally:
                        worker.close()
    return peaks


def measure_sampling(grid: Grid, threads: int, impls: list[str]) -> list[dict]:
    """µs per generated character of a char LSTM (vocab 65), per impl."""
    rows = []
    for hidden in grid.sample_hidden:
        row: dict[str, Any] = {"hidden": hidden, "vocab": 65, "threads": threads}
        for impl in impls:
            worker = Worker(impl, threads)
            try:
                reply = worker.request(
                    op="sample", hidden=hidden, vocab=65, chars=grid.sample_chars
                )
            finally:
                worker.close()
            row[f"{impl}_us_per_char"] = reply["us_per_char"]
        if "torch" in impls:
            row["speedup"] = row["torch_us_per_char"] / row["rnnlab_us_per_char"]
        rows.append(row)
    return rows


def measure_gemm(threads: int) -> float:
    worker = Worker("rnnlab", threads)
    try:
        return worker.request(op="gemm")["gflops"]
    finally:
        worker.close()


STARTUP = (
    "import time; t = time.perf_counter(); import numpy as np; import rnnlab; "
    "m = rnnlab.LSTM(32, 32, seed=0); y, _ = m(np.zeros((10, 4, 32), np.float32)); "
    "m.backward(np.ones_like(y)); print(time.perf_counter() - t)"
)


def measure_startup() -> dict[str, float]:
    """Seconds for ``import rnnlab`` + the first training step of a small LSTM,
    with an empty kernel cache (cold: compiles) and then with that cache (warm)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        result = {}
        for name in ("cold", "warm"):
            output = subprocess.run(
                [sys.executable, "-c", STARTUP],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            result[f"{name}_seconds"] = float(output.stdout.strip().splitlines()[-1])
    return result


@dataclass
class Report:
    grid: dict
    machine: dict
    results: dict[int, list[dict]] = field(default_factory=dict)
    sampling: list[dict] = field(default_factory=list)
    gemm_gflops: dict[int, float] = field(default_factory=dict)
    startup: dict[str, float] = field(default_factory=dict)


def run(grid: Grid, out: Path | None = None, progress: Any = print) -> Report:
    """Measure everything and write ``benchmark.json`` and ``benchmark.md`` to ``out``."""
    impls = ["rnnlab", "torch"] if torch_available() else ["rnnlab"]
    report = Report(grid=asdict(grid), machine=_machine())
    for threads in grid.threads:
        report.gemm_gflops[threads] = measure_gemm(threads)
        report.results[threads] = measure_grid(grid, threads, impls, progress)
    peaks = measure_memory(grid, impls)
    for rows in report.results.values():
        for row in rows:
            for impl, mib in peaks[(row["cell"], row["hidden"], row["batch"])].items():
                row[f"{impl}_train_peak_mib"] = mib
    for threads in grid.threads:
        report.sampling += measure_sampling(grid, threads, impls)
    report.startup = measure_startup()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "benchmark.json").write_text(json.dumps(asdict(report), indent=1))
        (out / "benchmark.md").write_text(markdown(report))
    return report


def _machine() -> dict[str, Any]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": model, "cores": os.cpu_count(), "python": sys.version.split()[0]}


def markdown(report: Report) -> str:
    """The report as markdown tables."""
    lines = [f"Machine: {report.machine['cpu']}, {report.machine['cores']} cores.", ""]
    if report.grid.get("bidirectional"):
        lines += ["Bidirectional layers (both directions, output 2H) on both sides.", ""]
    for threads, rows in report.results.items():
        ceiling = report.gemm_gflops.get(threads, float("nan"))
        lines += [
            f"### {threads} thread(s) — large-GEMM ceiling {ceiling:.0f} GFLOP/s",
            "",
            "| cell | H | B | rnnlab train tok/s | torch train tok/s | train ratio | "
            "rnnlab infer tok/s | torch infer tok/s | infer ratio | peak MiB rnnlab / torch "
            "| % of GEMM ceiling |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in rows:
            seconds = r["steps"] * r["batch"] / r["rnnlab_train_tokens_per_s"]
            flops = train_flops(
                r["cell"], r["hidden"], r["batch"], r["steps"], r.get("bidirectional", False)
            )
            fraction = 100 * flops / seconds / 1e9 / ceiling
            nan = float("nan")
            cells = [
                r["cell"],
                r["hidden"],
                r["batch"],
                f"{r['rnnlab_train_tokens_per_s']:,.0f}",
                f"{r.get('torch_train_tokens_per_s', nan):,.0f}",
                f"{r.get('train_ratio', nan):.2f}",
                f"{r['rnnlab_infer_tokens_per_s']:,.0f}",
                f"{r.get('torch_infer_tokens_per_s', nan):,.0f}",
                f"{r.get('infer_ratio', nan):.2f}",
                f"{r.get('rnnlab_train_peak_mib', nan):.1f} / "
                f"{r.get('torch_train_peak_mib', nan):.1f}",
                f"{fraction:.0f} %",
            ]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        train = [r["train_ratio"] for r in rows if "train_ratio" in r]
        infer = [r["infer_ratio"] for r in rows if "infer_ratio" in r]
        lines += [
            "",
            f"Geometric mean ratio (rnnlab / torch): training {geometric_mean(train):.2f}, "
            f"inference {geometric_mean(infer):.2f}.",
            "",
        ]
    if report.sampling:
        lines += [
            "### Sampling a character (char LSTM, vocab 65)",
            "",
            "| threads | H | rnnlab µs/char | torch LSTMCell loop µs/char | speed-up |",
            "| ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in report.sampling:
            torch_us = r.get("torch_us_per_char", float("nan"))
            speedup = r.get("speedup", float("nan"))
            lines.append(
                f"| {r['threads']} | {r['hidden']} | {r['rnnlab_us_per_char']:.1f} "
                f"| {torch_us:.1f} | {speedup:.1f}× |"
            )
        lines.append("")
    if report.startup:
        lines.append(
            f"Start-up (import rnnlab + first training step of a small LSTM): cold cache "
            f"{report.startup['cold_seconds']:.1f} s (compiles the kernels), warm cache "
            f"{report.startup['warm_seconds']:.2f} s."
        )
    return "\n".join(lines) + "\n"
