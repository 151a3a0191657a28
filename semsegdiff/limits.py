"""Refusing, before allocating, what would not fit: arrays a request would need beyond this machine's memory."""
from __future__ import annotations

import os

from .errors import SettingError


def physical_memory() -> int:
    """Bytes of physical memory of this machine (0 when the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def check_memory(nbytes: int, what: str) -> None:
    """SettingError naming ``what`` when it needs more bytes than the machine's physical memory."""
    total = physical_memory()
    if total and nbytes > total:
        raise SettingError(f"{what}: needs about {nbytes / 2**30:,.1f} GiB in memory, more than this machine's "
                           f"{total / 2**30:,.1f} GiB; ask for less")
