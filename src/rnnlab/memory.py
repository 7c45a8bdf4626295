"""The memory this machine has, and the check that a planned allocation fits in it.

Every size that comes from outside (an option, a checkpoint's configuration, a file) is
checked here before anything is allocated; ``rnnlab.models.size`` estimates what a
model and a training step need.
"""

from __future__ import annotations

import os

from rnnlab.errors import ConfigError

#: at most this fraction of the available memory is planned for one process
SHARE = 0.8


def available_bytes() -> int:
    """The memory this process can still use: Linux's MemAvailable, else all of RAM."""
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 1 << 40  # unknown: let the allocator decide


def human(nbytes: float) -> str:
    """1536 → '1.5 KiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if nbytes < 1024 or unit == "TiB":
            return f"{nbytes:.0f} bytes" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_fits(nbytes: int, what: str, hint: str) -> None:
    """ConfigError unless ``nbytes`` fit in this machine's available memory (its share)."""
    limit = int(available_bytes() * SHARE)
    if nbytes > limit:
        raise ConfigError(
            f"{what} needs at least {human(nbytes)}, but this machine has {human(limit)} "
            f"to spare; {hint}"
        )
