"""Fault cases against the ``rnnlab`` command and web lab: the before/after table of #25.

    python bench/faults.py --src /tmp/old/src [--only 1,5a,11c] [--json out.json] > old.md
    python bench/faults.py --src src --json new.json > new.md
    python bench/faults.py --compare old.json new.json      # the two side by side

Issue #25 asks for "nothing lost, nothing unbounded, no traceback". Each case below is
one fault (an overwrite, an absurd size, a FIFO, Ctrl-C, a bad option, a hostile web
client, ...) and the outcome a good rnnlab would give. The script runs the command as
``python -m rnnlab.cli`` with ``PYTHONPATH=<src>`` (so it can test any revision, e.g. a
clone checked out at an older commit) and prints one Markdown row per case: exit status,
whether a Python traceback was printed, the last line of output, the child's peak RSS,
the wall time and what the case observed (files changed, steps saved, HTTP statuses).

Every case runs in a fresh temporary directory (its cwd, with ``data.txt``: a few KB of
text), stdin at EOF, ``NUMBA_NUM_THREADS=2``, and an address-space limit of 3 GiB so an
unbounded allocation fails instead of taking the machine down. A case that outlives its
timeout is reported as "timeout (blocked)" and its process group is killed. Setup steps
(training a small run, editing a checkpoint) are not measured; the row is the one command
the case is about.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import importlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import safetensors.numpy

MEMORY_LIMIT = 3 * 1024**3  #: RLIMIT_AS of every child, bytes
TIMEOUT = 90.0  #: seconds a case's command may run
TRACEBACK = "Traceback (most recent call last)"
#: the small model every training case uses (the case's own options come after)
TINY = ("--hidden", "16", "--batch", "4", "--seq-len", "16", "--eval-every", "10")
TINY += ("--sample-every", "0")
DEEP = 100_000  #: nesting depth of the deep-metadata checkpoint
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while"]
WORDS += ["seven", "wise", "owls", "keep", "watch"]


# -- running one command -----------------------------------------------------------------
@dataclass
class Session:
    """What every case shares: the revision under test and a cache of trained runs."""

    src: Path
    io: ModuleType  #: ``rnnlab.io`` of that revision (checksums, loading checkpoints)
    cache: Path  #: runs trained once and copied into the cases that need them
    env: dict[str, str]


@dataclass
class Context:
    """One case's working directory and what its setup leaves for its checks."""

    session: Session
    cwd: Path
    logs: Path
    vars: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    @property
    def io(self) -> ModuleType:
        return self.session.io


@dataclass
class Finished:
    """How one command ended. ``status``: the exit code, "-N (SIGNAME)" or "timeout
    (blocked)"; ``rss_mb``: the child's peak resident set size."""

    status: str
    code: int | None
    traceback: bool
    last_line: str
    rss_mb: float
    seconds: float
    stdout: str
    stderr: str


def _limit_memory() -> None:
    """In the child before exec: an allocation past the limit fails (MemoryError)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@dataclass
class Running:
    """A started command: its process, its output files and when it started."""

    proc: subprocess.Popen
    out: Path
    err: Path
    started: float


def start(ctx: Context, argv: list[str]) -> Running:
    """Start ``python -m rnnlab.cli ARGV`` in its own process group, output to files."""
    count = len(list(ctx.logs.glob("*.out")))
    out, err = ctx.logs / f"{count}.out", ctx.logs / f"{count}.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnnlab.cli", *argv],
            cwd=ctx.cwd,
            env=ctx.session.env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=_limit_memory,
        )
    return Running(proc, out, err, time.monotonic())


def finish(running: Running, timeout: float) -> Finished:
    """Wait for the command (killing its group after ``timeout`` s) and collect its outcome."""
    proc, started, timed_out = running.proc, running.started, False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > timeout:
            timed_out = True
            _kill_group(proc.pid, signal.SIGKILL)
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    _kill_group(proc.pid, signal.SIGKILL)  # anything it left behind
    out, err = running.out, running.err
    stdout, stderr = _read_capped(out), _read_capped(err)
    if timed_out:
        shown = "timeout (blocked)"
    elif code < 0:
        shown = f"{code} ({signal.Signals(-code).name})"
    else:
        shown = str(code)
    return Finished(
        status=shown,
        code=None if timed_out else code,
        traceback=_contains(out, TRACEBACK) or _contains(err, TRACEBACK),
        last_line=_last_line(stderr) or _last_line(stdout),
        rss_mb=usage.ru_maxrss / 1024,
        seconds=seconds,
        stdout=stdout,
        stderr=stderr,
    )


def run_cli(ctx: Context, argv: list[str], timeout: float = TIMEOUT) -> Finished:
    """Run one command to its end (or its timeout)."""
    return finish(start(ctx, argv), timeout)


def alive(proc: subprocess.Popen) -> bool:
    """Whether the process still runs, without reaping it (``finish`` reaps it with
    ``wait4`` to read its resource usage; ``Popen.poll`` would take that away)."""
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None


def _kill_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _read_capped(path: Path, keep: int = 200_000) -> str:
    """The file's text, or its first and last ``keep`` bytes if it is larger."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if size <= 2 * keep:
            data = handle.read()
        else:
            head = handle.read(keep)
            handle.seek(size - keep)
            data = head + b"\n[...]\n" + handle.read()
    return data.decode("utf-8", errors="replace")


def _contains(path: Path, marker: str) -> bool:
    """Whether ``marker`` occurs anywhere in the file (read in chunks: it may be large)."""
    needle, tail = marker.encode(), b""
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text).splitlines()]
    lines = [line for line in lines if line]
    return lines[-1] if lines else ""


# -- the cases' building blocks ----------------------------------------------------------
Setup = Callable[[Context], None]
During = Callable[[Context, subprocess.Popen], str]
Check = Callable[[Context, Finished], str]


@dataclass(frozen=True)
class Case:
    """One fault: the command measured (after ``rnnlab``; ``{name}`` is filled from the
    setup's ``ctx.vars``), what a good rnnlab does, and optional steps around it."""

    id: str
    description: str
    argv: tuple[str, ...]
    expected: str
    setup: Setup | None = None  #: prepares the directory (unmeasured)
    during: During | None = None  #: acts on the running command (signals, HTTP)
    check: Check | None = None  #: what the command left behind, in words
    timeout: float = TIMEOUT


class SetupError(Exception):
    """A case could not be prepared (its row says why)."""


def cli_ok(ctx: Context, *argv: str, timeout: float = TIMEOUT) -> Finished:
    """Run a setup command that must succeed."""
    done = run_cli(ctx, list(argv), timeout)
    if done.code != 0:
        raise SetupError(f"setup `{' '.join(argv)}` ended {done.status}: {done.last_line}")
    return done


def trained(ctx: Context, name: str, *options: str) -> Path:
    """A small run trained with ``options`` (once per session), copied to ``cwd/name``."""
    key = hashlib.sha256(" ".join(options).encode()).hexdigest()[:12]
    cached = ctx.session.cache / key
    if not cached.exists():
        cache_ctx = Context(ctx.session, ctx.session.cache, ctx.logs)
        cli_ok(cache_ctx, "train", "--data", "data.txt", "--out", key, *TINY, *options)
    shutil.copytree(cached, ctx.cwd / name)
    return ctx.cwd / name


def small_run(ctx: Context, name: str = "run") -> Path:
    """The run most cases start from: 40 steps of the tiny model."""
    return trained(ctx, name, "--steps", "40", "--sample-length", "0")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def metrics_step(run: Path) -> int:
    """The highest step recorded in ``run/metrics.jsonl`` (0 if none yet)."""
    step = 0
    with contextlib.suppress(OSError):
        for line in (run / "metrics.jsonl").read_text().splitlines():
            with contextlib.suppress(ValueError):
                step = max(step, int(json.loads(line).get("step", 0)))
    return step


def wait_for_step(proc: subprocess.Popen, run: Path, step: int, seconds: float = 60) -> bool:
    """Poll ``run/metrics.jsonl`` until it shows ``step`` (False if the process ended or
    the deadline passed first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive(proc):
        if metrics_step(run) >= step:
            return True
        time.sleep(0.01)
    return False


def saved_step(ctx: Context, path: Path) -> str:
    """The train_state step of a checkpoint, read with the revision's own loader."""
    if not path.exists():
        return "missing"
    try:
        return str(ctx.io.load_checkpoint(path).train_state.get("step"))
    except Exception as error:
        return f"unreadable ({type(error).__name__}: {error})"


def edit_checkpoint(ctx: Context, source: Path, target: Path, edit: Callable[[dict], None]) -> None:
    """Copy a checkpoint with its JSON document edited and its checksum recomputed (by the
    revision's ``rnnlab.io.compute_checksum``), so only the edit is wrong with it."""
    data = source.read_bytes()
    tensors = safetensors.numpy.load(data)
    size = int.from_bytes(data[:8], "little")
    doc = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["rnnlab"])
    edit(doc)
    doc["checksum"] = ctx.io.compute_checksum(tensors, doc)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(safetensors.numpy.save(tensors, metadata={"rnnlab": json.dumps(doc)}))


def with_deep_stack(work: Callable[[], None]) -> None:
    """Run ``work`` where JSON may nest DEEP levels: a thread with a 1 GiB stack and a
    recursion limit to match (json's C encoder recurses once per level)."""
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as error:
            errors.append(error)

    limit = sys.getrecursionlimit()
    threading.stack_size(1 << 30)
    sys.setrecursionlimit(3 * DEEP)
    try:
        thread = threading.Thread(target=guarded)
        thread.start()
        thread.join()
    finally:
        sys.setrecursionlimit(limit)
        threading.stack_size(0)
    if errors:
        raise errors[0]


def edited_run(ctx: Context, target: str, edit: Callable[[dict], None], deep: bool = False) -> None:
    """Setup: ``cwd/target`` is the small run's last checkpoint with ``edit`` applied."""
    run = small_run(ctx, "source")
    work = partial(edit_checkpoint, ctx, run / "last.safetensors", ctx.cwd / target, edit)
    with_deep_stack(work) if deep else work()


def set_hidden(doc: dict) -> None:
    doc["model_config"]["hidden_size"] = 10_000_000


def nest_deeply(doc: dict) -> None:
    value: list = []
    for _ in range(DEEP):
        value = [value]
    doc["train_state"]["note"] = value


def step_abc(doc: dict) -> None:
    doc["train_state"]["step"] = "abc"


def shown_step(ctx: Context, done: Finished) -> str:
    """Check: the step ``rnnlab info`` printed."""
    shown = re.search(r"│\s*step\s*│\s*(\S+)", done.stdout)
    return f"info shows step: {shown.group(1) if shown else '(none)'}"


def signal_when(sig: signal.Signals, step: int, run: str = "run") -> During:
    """During: once ``run``'s metrics show ``step``, send ``sig`` (SIGINT to the group, as
    Ctrl+C does; others to the process, as ``kill`` does)."""

    def during(ctx: Context, proc: subprocess.Popen) -> str:
        if not wait_for_step(proc, ctx.cwd / run, step):
            return f"never reached step {step}; no signal sent"
        if sig == signal.SIGINT:
            _kill_group(proc.pid, sig)
        else:
            os.kill(proc.pid, sig)
        return f"{sig.name} at step {metrics_step(ctx.cwd / run)}"

    return during


def last_checkpoint(ctx: Context, done: Finished) -> str:
    """Check: what the interrupted run saved."""
    run = ctx.cwd / "run"
    return (
        f"metrics reach step {metrics_step(run)}; last.safetensors step: "
        f"{saved_step(ctx, run / 'last.safetensors')}"
    )


# -- 1 overwrite -------------------------------------------------------------------------
def overwrite_setup(ctx: Context) -> None:
    small_run(ctx, "D")
    ctx.vars["before"] = sha256(ctx.cwd / "D" / "best.safetensors")


def overwrite_check(ctx: Context, done: Finished) -> str:
    after = sha256(ctx.cwd / "D" / "best.safetensors")
    changed = after != ctx.vars["before"]
    refused = done.code not in (0, None) and not changed
    return (
        f"D/best.safetensors changed: {'yes' if changed else 'no'} "
        f"(sha256 {ctx.vars['before'][:8]} → {after[:8]}); second run refused: "
        f"{'yes' if refused else 'no'}"
    )


# -- 4 data that is not a file -----------------------------------------------------------
def make_fifo(ctx: Context, name: str = "fifo") -> None:
    os.mkfifo(ctx.cwd / name)


def fifo_checkpoint(ctx: Context) -> None:
    os.mkfifo(ctx.cwd / "fifo.safetensors")


def big_line(ctx: Context) -> None:
    """A 200 MB file with no newline (removed afterwards)."""
    path = ctx.cwd / "big.txt"
    chunk = (" ".join(WORDS) + " ").encode() * 4096
    with open(path, "wb") as handle:
        written = 0
        while written < 200 * 1024**2:
            written += handle.write(chunk)
    ctx.cleanups.append(partial(path.unlink, missing_ok=True))


# -- 6, 7 resuming -----------------------------------------------------------------------
def best_only(ctx: Context) -> None:
    (small_run(ctx, "D") / "last.safetensors").unlink()


def budget_setup(ctx: Context) -> None:
    trained(ctx, "D", "--steps", "30", "--sample-length", "0")


def budget_check(ctx: Context, done: Finished) -> str:
    budget = re.search(r"budget: ([^)]*)\)", done.stdout)
    stopped = re.search(r"stopped after (\d+) steps \(([^)]*)\)", done.stdout)
    return (
        f"summary's budget: {budget.group(1) if budget else 'not printed'}; stopped at "
        f"{f'step {stopped.group(1)} ({stopped.group(2)})' if stopped else 'no summary'}; "
        f"last.safetensors step: {saved_step(ctx, ctx.cwd / 'D' / 'last.safetensors')}"
    )


# -- 8 resume exactness with schedules ---------------------------------------------------
#: bigger than TINY so that 40 steps last long enough to interrupt one at step 20
EXACT = ("--hidden", "256", "--batch", "8", "--seq-len", "64", "--eval-every", "10")
EXACT += ("--sample-every", "0", "--sample-length", "0", "--data", "data.txt")


def exact_setup(ctx: Context, schedule: str) -> None:
    """D1: 40 steps at once. D2: 40 steps interrupted by SIGINT at step ≥ 20 (or, if that
    leaves no last.safetensors, a 20-step run: not the same schedule)."""
    options = ("--schedule", schedule, *EXACT)
    cli_ok(ctx, "train", "--steps", "40", "--out", "D1", *options)
    running = start(ctx, ["train", "--steps", "40", "--out", "D2", *options])
    sent = signal_when(signal.SIGINT, 20, "D2")(ctx, running.proc)
    interrupted = finish(running, TIMEOUT)
    last = ctx.cwd / "D2" / "last.safetensors"
    if last.exists():
        ctx.vars["how"] = (
            f"B: {sent}, exit {interrupted.status}, saved step {saved_step(ctx, last)}"
        )
        return
    shutil.rmtree(ctx.cwd / "D2")
    cli_ok(ctx, "train", "--steps", "20", "--out", "D2", *options)
    ctx.vars["how"] = f"B: {sent} saved nothing; fallback: a --steps 20 run resumed to 40"


def exact_check(ctx: Context, done: Finished) -> str:
    try:
        one = ctx.io.load_checkpoint(ctx.cwd / "D1" / "last.safetensors")
        two = ctx.io.load_checkpoint(ctx.cwd / "D2" / "last.safetensors")
    except Exception as error:
        return f"{ctx.vars['how']}; cannot compare: {error}"
    delta = max(float(abs(one.params[k] - two.params[k]).max()) for k in one.params)
    steps = f"{one.train_state.get('step')} vs {two.train_state.get('step')}"
    return f"{ctx.vars['how']}; steps {steps}; max |Δw| = {delta:.3g}"


# -- 9 ordinary faults -------------------------------------------------------------------
def existing_file(ctx: Context) -> None:
    (ctx.cwd / "afile").write_text("not a directory\n")


def tiny_disk(ctx: Context) -> None:
    """``cwd/full``: a 64 KiB tmpfs (unmounted afterwards)."""
    mount = ctx.cwd / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SetupError(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", str(mount)], check=False))


def disk_check(ctx: Context, done: Finished) -> str:
    run = ctx.cwd / "full" / "run"
    files = sorted(p.name for p in run.iterdir()) if run.is_dir() else []
    return f"files on the full disk: {', '.join(files) or 'none'}"


# -- 10 messages -------------------------------------------------------------------------
def resume_other_check(ctx: Context, done: Finished) -> str:
    other = ctx.cwd / "OTHER"
    files = sorted(p.name for p in other.iterdir()) if other.is_dir() else []
    said = re.search(r"checkpoints in (\S+)", done.stdout)
    return (
        f"says checkpoints in: {said.group(1) if said else '(not said)'}; "
        f"OTHER holds: {', '.join(files) or 'nothing'}; D/last.safetensors step "
        f"{ctx.vars.get('before')} → {saved_step(ctx, ctx.cwd / 'D' / 'last.safetensors')}"
    )


def resume_other_setup(ctx: Context) -> None:
    ctx.vars["before"] = saved_step(ctx, small_run(ctx, "D") / "last.safetensors")


def trained_check(ctx: Context, done: Finished) -> str:
    """Check: did the command train before it failed?"""
    run = ctx.cwd / "run"
    last = saved_step(ctx, run / "last.safetensors")
    return f"training reached step {metrics_step(run)} (last.safetensors step: {last})"


def utf16_file(ctx: Context) -> None:
    (ctx.cwd / "utf16.txt").write_text((ctx.cwd / "data.txt").read_text(), encoding="utf-16")


def symlink_loop(ctx: Context) -> None:
    os.symlink("loop.txt", ctx.cwd / "loop.txt")


KILLS = 5  #: SIGKILLs at random moments of a run
KILL_RUN = ("--steps", "100000", "--minutes", "5", "--eval-every", "1", "--hidden", "256")
KILL_RUN += ("--batch", "4", "--seq-len", "16", "--sample-every", "0", "--data", "data.txt")


def kill_randomly(ctx: Context, proc: subprocess.Popen, run: str) -> str:
    """Once ``run`` has started writing, wait 0–3 s and SIGKILL the process."""
    if not wait_for_step(proc, ctx.cwd / run, 1):
        return "never started"
    time.sleep(ctx.vars["rng"].uniform(0, 3))
    os.kill(proc.pid, signal.SIGKILL)
    return f"killed at step {metrics_step(ctx.cwd / run)}"


def earlier_kills(ctx: Context) -> None:
    """Setup: the first KILLS − 1 runs, each killed at a random moment."""
    ctx.vars["rng"] = random.Random(25)
    notes = []
    for k in range(1, KILLS):
        running = start(ctx, ["train", "--out", f"k{k}", *KILL_RUN])
        notes.append(kill_randomly(ctx, running.proc, f"k{k}"))
        finish(running, TIMEOUT)
    ctx.vars["notes"] = notes


def leftovers_check(ctx: Context, done: Finished) -> str:
    """The temporary files the kills left, and those still there after each killed run
    is resumed for one step (its next write is where a leftover must go)."""
    left = sorted(str(p.relative_to(ctx.cwd)) for p in ctx.cwd.glob("k*/.*.tmp-*"))
    steps = ", ".join(n.removeprefix("killed at ") for n in ctx.vars["notes"])
    for k in range(1, KILLS + 1):
        run = ctx.cwd / f"k{k}"
        if any((run / name).exists() for name in ("last.safetensors", "best.safetensors")):
            step = metrics_step(run) + 1
            run_cli(ctx, ["train", "--resume", f"k{k}", "--steps", str(step)])
    after = list(ctx.cwd.glob("k*/.*.tmp-*"))
    return (
        f"{KILLS} kills ({steps}, step {metrics_step(ctx.cwd / f'k{KILLS}')}): "
        f"{len(left)} .tmp files left{': ' + ', '.join(left) if left else ''}; "
        f"after resuming each: {len(after)}"
    )


# -- 11 web ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, bytes]:
    """(status, body) of one HTTP request to the lab."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def web(probe: Callable[[Context, int], str]) -> During:
    """During: wait until the lab answers /api/health, run ``probe``, then Ctrl+C it."""

    def during(ctx: Context, proc: subprocess.Popen) -> str:
        port = ctx.vars["port"]
        deadline = time.monotonic() + 60
        while True:
            if not alive(proc) or time.monotonic() > deadline:
                return "the lab never answered /api/health"
            with contextlib.suppress(OSError):
                if request(port, "GET", "/api/health", timeout=5)[0] == 200:
                    break
            time.sleep(0.2)
        try:
            return probe(ctx, port)
        except Exception as error:
            return f"probe failed: {type(error).__name__}: {error}"
        finally:
            _kill_group(proc.pid, signal.SIGINT)

    return during


def model_id(port: int) -> str:
    return json.loads(request(port, "GET", "/api/lab")[1])["checkpoint"]


def cross_origin_stop(ctx: Context, port: int) -> str:
    status, body = request(
        port,
        "POST",
        f"/api/models/{model_id(port)}/stop",
        body=b"x=1",
        headers={
            "Origin": "http://evil.example",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    return f"status {status}: {body[:80].decode(errors='replace')}"


def slow_client(ctx: Context, port: int, seconds: float = 30, every: float = 5) -> str:
    """One byte of a request every ``every`` s: does the server hang up within ``seconds``?"""
    message = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in message:
            try:
                sock.sendall(bytes([byte]))
                sock.settimeout(every)
                answer = sock.recv(1024)
            except TimeoutError:
                answer = None
            except OSError as error:
                return f"closed after {time.monotonic() - started:.0f} s ({error})"
            if answer == b"":
                return f"closed after {time.monotonic() - started:.0f} s"
            if answer:
                line = answer.split(b"\r\n")[0].decode(errors="replace")
                return f"answered after {time.monotonic() - started:.0f} s: {line}"
            if time.monotonic() - started >= seconds:
                return f"still open after {time.monotonic() - started:.0f} s"
    return "whole request sent"


def gradient_flood(ctx: Context, port: int, clients: int = 60) -> str:
    """``clients`` concurrent /api/gradients requests; /api/health timed meanwhile."""
    text = (ctx.cwd / "data.txt").read_text()[:400]
    body = json.dumps(
        {"model": model_id(port), "sequence": {"kind": "text", "text": text}, "layer": 2}
    ).encode()
    statuses: list[str] = []
    latencies: list[float] = []
    failures: list[str] = []  #: /api/health requests that got no answer

    def gradients() -> None:
        try:
            status, _ = request(
                port, "POST", "/api/gradients", body, {"Content-Type": "application/json"}, 120
            )
            statuses.append(str(status))
        except OSError as error:
            statuses.append(type(error).__name__)

    threads = [threading.Thread(target=gradients) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        begun = time.monotonic()
        try:
            request(port, "GET", "/api/health", timeout=120)
        except OSError as error:
            failures.append(type(error).__name__)
        else:
            latencies.append(time.monotonic() - begun)
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    return (
        f"{clients} gradient requests in {time.monotonic() - started:.1f} s, statuses {counts}; "
        f"/api/health max latency {max(latencies, default=0):.2f} s over {len(latencies)} "
        f"answers{f', {len(failures)} unanswered ({failures[0]})' if failures else ''}"
    )


def head_requests(ctx: Context, port: int) -> str:
    return ", ".join(
        f"HEAD {path}: {request(port, 'HEAD', path)[0]}" for path in ("/", "/api/health")
    )


def serve_setup(ctx: Context, options: tuple[str, ...] = ()) -> None:
    """Setup: ``cwd/model``, a small run (or one trained with ``options``); a free port."""
    if options:
        trained(ctx, "model", "--sample-length", "0", *options)
    else:
        small_run(ctx, "model")
    ctx.vars["port"] = free_port()


# -- the cases ---------------------------------------------------------------------------
def train(*options: str) -> tuple[str, ...]:
    """``rnnlab train`` of the tiny model on data.txt, then ``options`` (the last value of
    an option repeated wins)."""
    return ("train", "--data", "data.txt", *TINY, *options)


def serve(case_id: str, description: str, probe: Callable, expected: str, **kw: Any) -> Case:
    """A case whose command is ``rnnlab serve`` and whose ``probe`` is an HTTP client."""
    options = kw.pop("options", ())
    return Case(
        case_id,
        description,
        ("serve", "model", "--port", "{port}"),
        expected,
        setup=partial(serve_setup, options=options),
        during=web(probe),
        **kw,
    )


NOT_A_FILE = "refused at once (not a regular file): one line, exit 2"
REFUSED = "refused: one line saying what to give, exit 2, no traceback"
EARLY = "refused before training: one line, exit 2, no traceback"
EXACT_RESUME = "max |Δw| = 0: the resumed run ends where the uninterrupted one does"
SCHEDULES = {"a": "constant", "b": "cosine", "c": "warmup_cosine", "d": "step"}
#: the smallest benchmark grid (the case's own fault comes first)
BENCH = ("--cells", "rnn", "--batch", "1", "--repeats", "1", "--out", "results")
LONG = ("--steps", "100000", "--minutes", "5", "--out", "run")

CASES = [
    Case(
        "1",
        "train again into a run directory that holds a run",
        train("--steps", "40", "--seed", "1", "--out", "D"),
        "refused (one line) or written elsewhere; D/best.safetensors unchanged",
        setup=overwrite_setup,
        check=overwrite_check,
    ),
    Case(
        "2",
        "an absurd hidden size",
        train("--steps", "20", "--hidden", "10000000", "--out", "run"),
        "refused before allocating: one line, exit 2, small RSS",
    ),
    Case(
        "3",
        "sample a checkpoint whose config says hidden_size 10,000,000",
        ("sample", "huge.safetensors", "-n", "20"),
        "refused before allocating: the config does not fit the tensors",
        setup=partial(edited_run, target="huge.safetensors", edit=set_hidden),
    ),
    Case(
        "4a",
        "/dev/zero as the corpus",
        train("--steps", "20", "--out", "run", "--data", "/dev/zero"),
        NOT_A_FILE,
        timeout=60,
    ),
    Case(
        "4b",
        "a FIFO nobody writes to as the corpus",
        train("--steps", "20", "--out", "run", "--data", "fifo"),
        NOT_A_FILE,
        setup=make_fifo,
    ),
    Case(
        "4c",
        "a FIFO as sample's checkpoint",
        ("sample", "fifo.safetensors", "-n", "20"),
        NOT_A_FILE,
        setup=fifo_checkpoint,
    ),
    Case(
        "4d",
        "a 200 MB file of one line as the corpus",
        train("--steps", "20", "--out", "run", "--data", "big.txt"),
        "trains, or refuses with a size message; RSS bounded",
        setup=big_line,
        check=trained_check,
    ),
    Case(
        "5a",
        "Ctrl+C (SIGINT to the group) once step 20 is logged",
        train(*LONG),
        "last.safetensors saved at the step reached; exit 130; no traceback",
        during=signal_when(signal.SIGINT, 20),
        check=last_checkpoint,
    ),
    Case(
        "5b",
        "SIGTERM once step 20 is logged",
        train(*LONG),
        "as Ctrl+C: last.safetensors saved at the step reached; no traceback",
        during=signal_when(signal.SIGTERM, 20),
        check=last_checkpoint,
    ),
    Case(
        "6",
        "resume a directory that holds only best.safetensors",
        ("train", "--resume", "D"),
        "one line naming what is missing and what to do (or resumes from best, saying so)",
        setup=best_only,
    ),
    Case(
        "7",
        "resume a finished 30-step run without --steps",
        ("train", "--resume", "D"),
        "keeps the run's budget (30 steps): says so and stops at step 30",
        setup=budget_setup,
        check=budget_check,
    ),
    *(
        Case(
            f"8{key}",
            f"interrupt at step 20 and resume, --schedule {schedule}",
            ("train", "--resume", "D2", "--steps", "40", "--sample-length", "0"),
            EXACT_RESUME,
            setup=partial(exact_setup, schedule=schedule),
            check=exact_check,
        )
        for key, schedule in SCHEDULES.items()
    ),
    Case("9a", "--out under /proc", train("--steps", "20", "--out", "/proc/forbidden"), EARLY),
    Case(
        "9b",
        "--out names a regular file",
        train("--steps", "20", "--out", "afile"),
        EARLY,
        setup=existing_file,
    ),
    Case("9c", "--out /dev/null", train("--steps", "20", "--out", "/dev/null"), EARLY),
    Case(
        "9d",
        "disk full: --out on a 64 KiB tmpfs",
        train("--steps", "40", "--out", "full/run"),
        "one line: no space left on device; no partial files; exit ≠ 0",
        setup=tiny_disk,
        check=disk_check,
    ),
    Case("9e", "--out /dev/full/x", train("--steps", "20", "--out", "/dev/full/x"), EARLY),
    Case(
        "9f",
        f"info on a checkpoint with metadata nested {DEEP:,} deep",
        ("info", "deep.safetensors"),
        "one line: the metadata is too deeply nested; exit 2",
        setup=partial(edited_run, target="deep.safetensors", edit=nest_deeply, deep=True),
    ),
    Case(
        "9g",
        f"sample a checkpoint with metadata nested {DEEP:,} deep",
        ("sample", "deep.safetensors", "-n", "20"),
        "one line: the metadata is too deeply nested; exit 2",
        setup=partial(edited_run, target="deep.safetensors", edit=nest_deeply, deep=True),
    ),
    Case("9h", "train --seed -1", train("--steps", "20", "--seed", "-1", "--out", "run"), EARLY),
    Case(
        "9i",
        "sample --seed -1",
        ("sample", "run", "-n", "20", "--seed", "-1"),
        REFUSED,
        setup=small_run,
    ),
    Case(
        "9j",
        "bench --hidden -1",
        ("bench", "--hidden", "-1", *BENCH, "--threads", "1"),
        REFUSED,
    ),
    Case(
        "9k",
        "bench --threads 0",
        ("bench", "--threads", "0", *BENCH, "--hidden", "16"),
        REFUSED,
    ),
    Case(
        "9l",
        'info on a checkpoint with train_state "step": "abc"',
        ("info", "abc"),
        "shows it, or one line: the step is not an integer; no traceback",
        setup=partial(edited_run, target="abc/last.safetensors", edit=step_abc),
        check=shown_step,
    ),
    Case(
        "9m",
        'resume a checkpoint with train_state "step": "abc"',
        ("train", "--resume", "abc"),
        "one line: the checkpoint's step is not an integer; exit 2",
        setup=partial(edited_run, target="abc/last.safetensors", edit=step_abc),
    ),
    Case(
        "10a",
        "resume D with --out OTHER",
        ("train", "--resume", "D", "--out", "OTHER", "--steps", "60"),
        "refused (one line), or writes to OTHER as told and says so; D untouched",
        setup=resume_other_setup,
        check=resume_other_check,
    ),
    Case(
        "10b",
        "sample --top-p 1.5",
        ("sample", "run", "-n", "20", "--top-p", "1.5"),
        REFUSED,
        setup=small_run,
    ),
    Case(
        "10c",
        "sample --top-p nan",
        ("sample", "run", "-n", "20", "--top-p", "nan"),
        REFUSED,
        setup=small_run,
    ),
    Case(
        "10d",
        "train --temperature -1",
        train("--steps", "20", "--temperature", "-1", "--out", "run"),
        EARLY,
        check=trained_check,
    ),
    Case(
        "10e",
        "train --sample-length -1",
        train("--steps", "20", "--sample-length", "-1", "--out", "run"),
        EARLY,
        check=trained_check,
    ),
    Case(
        "10f",
        "sample -n 1,000,000,000",
        ("sample", "run", "-n", "1000000000"),
        "refused, or streamed with bounded memory",
        setup=small_run,
        timeout=60,
    ),
    Case(
        "10g",
        "a UTF-16 text file as the corpus",
        train("--steps", "20", "--out", "run", "--data", "utf16.txt"),
        "one line: not UTF-8 (looks like UTF-16); exit 2",
        setup=utf16_file,
    ),
    Case(
        "10h",
        "a symlink loop as the corpus",
        train("--steps", "20", "--out", "run", "--data", "loop.txt"),
        "one line: cannot read (symlink loop); exit 2",
        setup=symlink_loop,
    ),
    Case(
        "10i",
        f"SIGKILL at a random moment, {KILLS} runs (the row: the last)",
        ("train", "--out", f"k{KILLS}", *KILL_RUN),
        "no .*.tmp-* file left once each run writes again",
        setup=earlier_kills,
        during=partial(kill_randomly, run=f"k{KILLS}"),
        check=leftovers_check,
    ),
    serve(
        "11a",
        "web: cross-origin form POST to /api/models/{id}/stop",
        cross_origin_stop,
        "403: a page on another site cannot drive the lab",
    ),
    serve(
        "11b",
        "web: a client sending one byte every 5 s",
        slow_client,
        "the server hangs up within 30 s",
    ),
    serve(
        "11c",
        "web: 60 concurrent /api/gradients (3×256 model) while timing /api/health",
        gradient_flood,
        "/api/health stays fast (< 1 s); excess requests refused (429/503) or queued",
        options=("--steps", "2", "--hidden", "256", "--layers", "3", "--eval-every", "1"),
        timeout=240,
    ),
    serve("11d", "web: HEAD / and HEAD /api/health", head_requests, "200 for both"),
]


# -- the table ---------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table (and of the JSON)."""

    id: str
    description: str
    command: str
    expected: str
    status: str = ""
    traceback: bool | None = None
    last_line: str = ""
    rss_mb: float | None = None
    seconds: float | None = None
    observed: str = ""


def short_command(argv: tuple[str, ...], width: int = 80) -> str:
    text = "rnnlab " + " ".join(argv).replace("{port}", "PORT")
    text = text.replace(" ".join(("--data", "data.txt", *TINY)), "[tiny]")
    return text if len(text) <= width else text[: width - 1] + "…"


def run_case(session: Session, case: Case) -> Row:
    """Set up, run, observe and clean up one case in a fresh temporary directory."""
    with tempfile.TemporaryDirectory(prefix=f"faults-{case.id}-") as tmp:
        cwd, logs = Path(tmp) / "cwd", Path(tmp) / "logs"
        cwd.mkdir()
        logs.mkdir()
        shutil.copy(session.cache / "data.txt", cwd / "data.txt")
        ctx = Context(session, cwd, logs)
        row = Row(case.id, case.description, short_command(case.argv), case.expected)
        try:
            try:
                if case.setup is not None:
                    case.setup(ctx)
            except Exception as error:
                row.status, row.observed = "setup failed", f"{type(error).__name__}: {error}"
                return row
            running = start(ctx, [part.format(**ctx.vars) for part in case.argv])
            notes = []
            if case.during is not None:
                try:
                    notes.append(case.during(ctx, running.proc))
                except Exception as error:
                    notes.append(f"during failed: {type(error).__name__}: {error}")
                    _kill_group(running.proc.pid, signal.SIGKILL)
            done = finish(running, case.timeout)
            if case.check is not None:
                try:
                    notes.append(case.check(ctx, done))
                except Exception as error:
                    notes.append(f"check failed: {type(error).__name__}: {error}")
            row.status, row.traceback, row.last_line = done.status, done.traceback, done.last_line
            row.rss_mb, row.seconds = round(done.rss_mb, 1), round(done.seconds, 1)
            row.observed = "; ".join(note for note in notes if note)
            return row
        finally:
            for cleanup in reversed(ctx.cleanups):
                with contextlib.suppress(Exception):
                    cleanup()


def cell(value: Any, width: int | None = None) -> str:
    text = " ".join(str("" if value is None else value).split())
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text.replace("|", "\\|")


def markdown(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| id | command | exit | traceback | last line of output | peak RSS MB | wall s "
        "| observed | expected (good) |",
        "|---|---|---|---|---|---:|---:|---|---|",
    ]
    for row in rows:
        traceback = "" if row.traceback is None else ("**yes**" if row.traceback else "no")
        cells = [row.id, row.command, row.status, traceback, cell(row.last_line, 110)]
        cells += [row.rss_mb, row.seconds, row.observed, row.expected]
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    lines += [
        "",
        f"[tiny] = `--data data.txt {' '.join(TINY)}` (a later option overrides it); "
        f"every command runs with RLIMIT_AS {MEMORY_LIMIT // 1024**3} GiB, stdin at EOF, "
        "NUMBA_NUM_THREADS=2, in a fresh directory.",
    ]
    return "\n".join(lines) + "\n"


# -- the session -------------------------------------------------------------------------
def corpus(size: int = 6000) -> str:
    """A few KB of text: words, in lines of about 60 characters."""
    rng, lines, line = random.Random(0), [], []
    while sum(len(text) + 1 for text in lines) < size:
        line.append(rng.choice(WORDS))
        if len(" ".join(line)) > 60:
            lines.append(" ".join(line))
            line = []
    return "\n".join(lines) + "\n"


def open_session(src: Path, cache: Path) -> Session:
    """Import the revision's ``rnnlab.io`` and check that the children run that revision."""
    sys.path.insert(0, str(src))
    io = importlib.import_module("rnnlab.io")
    if not Path(io.__file__).resolve().is_relative_to(src):
        sys.exit(f"rnnlab.io was imported from {io.__file__}, not from {src}")
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS="2")
    env |= {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}  # whole lines, even when killed
    child = subprocess.run(
        [sys.executable, "-c", "import rnnlab; print(rnnlab.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(child).resolve().is_relative_to(src):
        sys.exit(f"the children import rnnlab from {child}, not from {src}")
    (cache / "data.txt").write_text(corpus())
    return Session(src, io, cache, env)


def revision(src: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def outcome(row: dict[str, Any]) -> str:
    """One cell of the before/after table: exit status, traceback, what was seen."""
    traceback = " **traceback**" if row["traceback"] else ""
    seen = row["observed"] or row["last_line"]
    return f"exit {row['status']}{traceback}, {row['rss_mb']:.0f} MB: {seen}".replace("|", "\\|")


def compare(before: Path, after: Path) -> str:
    """The Markdown table of two ``--json`` runs side by side, case by case."""
    old, new = (json.loads(path.read_text()) for path in (before, after))
    rows = {row["id"]: row for row in old["rows"]}
    lines = [
        f"| id | case | before ({old['revision']}) | after ({new['revision']}) |",
        "|---|---|---|---|",
    ]
    for row in new["rows"]:
        was = rows.get(row["id"])
        lines.append(
            f"| {row['id']} | {row['description']}: `{row['command']}` | "
            f"{outcome(was) if was else '-'} | {outcome(row)} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", type=Path, help="the revision's src directory")
    parser.add_argument("--only", default="", help="comma-separated case ids (default: all)")
    parser.add_argument("--json", type=Path, help="also write the rows here as JSON")
    parser.add_argument(
        "--compare", type=Path, nargs=2, metavar=("BEFORE", "AFTER"), help="two --json files"
    )
    args = parser.parse_args()
    if args.compare:
        print(compare(*args.compare), end="")
        return
    if args.src is None:
        parser.error("give --src (a revision's src directory) or --compare BEFORE AFTER")
    src = args.src.resolve()
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = only - {case.id for case in CASES}
    if unknown:
        parser.error(f"unknown case ids {sorted(unknown)}; known: {[c.id for c in CASES]}")
    with tempfile.TemporaryDirectory(prefix="faults-cache-") as cache:
        session = open_session(src, Path(cache))
        print(f"rnnlab from {Path(session.io.__file__).parent}", file=sys.stderr)
        rows = []
        for case in CASES:
            if only and case.id not in only:
                continue
            print(f"[{case.id}] {case.description} ...", end=" ", file=sys.stderr, flush=True)
            rows.append(run_case(session, case))
            print(f"{rows[-1].status} ({rows[-1].seconds} s)", file=sys.stderr, flush=True)
    header = (
        f"## rnnlab fault cases (#25): {src} at {revision(src)}, "
        f"{time.strftime('%Y-%m-%d %H:%M')} (rnnlab imported from {session.io.__file__})"
    )
    print(markdown(rows, header), end="")
    if args.json is not None:
        document = {
            "src": str(src),
            "revision": revision(src),
            "rnnlab": str(Path(session.io.__file__).parent),
            "rows": [asdict(row) for row in rows],
        }
        args.json.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    main()
