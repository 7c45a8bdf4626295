"""A command's output on a pseudo-terminal, each line with the seconds since launch:
how issue #24's cold-start times were measured (the first line, the first progress
update, the total).

    NUMBA_CACHE_DIR=$(mktemp -d) python bench/cold_start.py rnnlab train --out runs/cold

An empty ``NUMBA_CACHE_DIR`` makes the kernels compile as on a fresh machine. Repeated
frames of a progress bar or spinner are shown once.
"""

from __future__ import annotations

import os
import pty
import re
import select
import sys
import time

_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]")


def main(command: list[str]) -> None:
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command, on the terminal
        os.execvp(command[0], command)
    last = ""
    while True:
        try:
            if not select.select([fd], [], [], 1.0)[0]:
                continue
            data = os.read(fd, 4096)
        except OSError:  # the command closed the terminal
            break
        if not data:
            break
        seconds = time.monotonic() - start
        for part in re.split(rb"[\r\n]+", data):
            line = _ESCAPES.sub("", part.decode(errors="replace")).strip()
            if line and line != last:
                print(f"{seconds:7.1f}s  {line}", flush=True)
                last = line
    os.waitpid(pid, 0)
    print(f"{time.monotonic() - start:7.1f}s  (end)")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python bench/cold_start.py COMMAND [ARGS...]")
    main(sys.argv[1:])
