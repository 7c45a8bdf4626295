"""The memory this machine has, and the check that a planned allocation fits in it.

Every size that comes from outside (an option, a checkpoint's configuration, a file) is
checked here before anything is allocated; ``rnnlab.models.size`` estimates what a
model and a training step need.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

from rnnlab.errors import ConfigError

#: at most this fraction of the available memory is planned for one process
SHARE = 0.8


def available_bytes() -> int:
    """The memory this process can still use: Linux's MemAvailable (else all of RAM),
    less than that if the process's address-space limit (``ulimit -v``) or its control
    group's memory limit leaves less."""
    free = _meminfo("MemAvailable") or _physical()
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit != resource.RLIM_INFINITY:
        free = min(free, limit - _status_bytes("VmSize"))
    group = _cgroup_room()
    return max(0, min(free, group) if group is not None else free)


def _meminfo(key: str) -> int | None:
    return _field("/proc/meminfo", key)


def _status_bytes(key: str) -> int:
    return _field("/proc/self/status", key) or 0


def _field(path: str, key: str) -> int | None:
    """The ``key: N kB`` line of a /proc file, in bytes (None if it cannot be read)."""
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _physical() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError, AttributeError):
        return 1 << 40  # unknown: let the allocator decide


def _cgroup_room() -> int | None:
    """The memory this process's control group may still take (its limit less its use,
    the reclaimable file cache not counted), or None if it has no limit; cgroup v2 and
    v1's memory controller."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if controllers == "":  # v2: one unified hierarchy
            folder = Path("/sys/fs/cgroup") / group.lstrip("/")
            names = ("memory.max", "memory.current", "memory.stat", "inactive_file")
        elif "memory" in controllers.split(","):
            folder = Path("/sys/fs/cgroup/memory") / group.lstrip("/")
            names = (
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "memory.stat",
                "total_inactive_file",
            )
        else:
            continue
        room = _room(folder, *names)
        if room is not None:
            return room
    return None


def _room(folder: Path, limit: str, usage: str, stat: str, cache: str) -> int | None:
    """limit − (usage − reclaimable cache) of one cgroup folder; None if unlimited."""
    try:
        text = (folder / limit).read_text().strip()
        if text == "max" or int(text) >= 1 << 60:  # v1 writes "unlimited" as a huge number
            return None
        used = int((folder / usage).read_text())
        for line in (folder / stat).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == cache:
                used -= int(value)
        return int(text) - max(used, 0)
    except (OSError, ValueError):
        return None


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
