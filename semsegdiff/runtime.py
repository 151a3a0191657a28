"""The runtime every run prints first: device, precision as resolved here, library versions, then its settings."""
from __future__ import annotations

import platform
from typing import Any

import torch

from .config import device_and_precision


def runtime_info(precision: str = "auto") -> dict[str, str]:
    """Device, precision (the setting, resolved) and library versions, for the header of every run."""
    import numpy
    import torchvision

    from . import __version__
    from .precision import native_cpu_bf16

    device, resolved = device_and_precision(precision)
    why = "" if device == "cuda" else ": native bf16 on this CPU" if native_cpu_bf16() else ": no native bf16 here"
    precision = f"{resolved} ({precision}{why})" if precision == "auto" else resolved
    if device == "cuda":
        device = f"cuda ({torch.cuda.get_device_name(0)} x{torch.cuda.device_count()})"
    return {
        "device": device, "precision": precision, "semsegdiff": __version__, "torch": torch.__version__,
        "torchvision": torchvision.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
    }


def print_header(cfg: dict[str, Any] | None = None, keys: list[str] | None = None) -> None:
    """Print the runtime and the resolved settings (only ``keys`` if given), one ``key: value`` per line."""
    info = runtime_info((cfg or {}).get("precision", "auto"))  # the setting resolved on this machine
    cfg = {k: v for k, v in (cfg or {}).items() if (keys is None or k in keys) and k != "precision"}
    for key, value in {**info, **cfg}.items():
        print(f"{key:>12}: {value}")
