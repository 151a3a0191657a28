"""Refusing, before allocating, what would not fit: arrays a request would need beyond this machine's memory."""
from __future__ import annotations

import os
from pathlib import Path

from .errors import SettingError


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def available_memory() -> int:
    """Bytes of memory a new allocation can get now without swapping: the kernel's MemAvailable, capped by this
    process's cgroup limit (a container's); the physical memory where the system says neither (0: unknown)."""
    free = physical_memory()
    try:
        with open("/proc/meminfo") as f:
            free = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    for limit, used in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            cap = int(Path(limit).read_text()) - int(Path(used).read_text())
        except (OSError, ValueError):
            continue
        if 0 < cap < (free or cap + 1):
            free = cap
    return free


def check_memory(nbytes: int, what: str) -> None:
    """SettingError naming ``what`` when it needs more bytes than the machine's physical memory."""
    total = physical_memory()
    if total and nbytes > total:
        raise SettingError(f"{what}: needs about {nbytes / 2**30:,.1f} GiB in memory, more than this machine's "
                           f"{total / 2**30:,.1f} GiB; ask for less")
