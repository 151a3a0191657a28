"""Run profiles and the runtime (device, precision, versions) every run prints first.

Two profiles, one code path: ``quick`` (CPU, small synthetic images, minutes; what CI and
``make run`` use) and ``paper`` (GPU, 128x128 BDD100K, the reference's settings).
"""
from __future__ import annotations

import platform
from typing import Any

import torch

PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "data": "synthetic",  # the embedded procedural dataset, or a dataset/cache path
        "size": 64,  # image side after centre-crop and resize
        "n_synthetic": 2000,  # scenes generated when data == "synthetic"
        "seed": 0,
        "cache": "data",  # where generated and prepared datasets are kept
    },
    "paper": {
        "data": "data/bdd100k",  # official BDD100K layout (images/10k, labels/sem_seg)
        "size": 128,  # the reference's resolution
        "n_synthetic": 2000,
        "seed": 0,
        "cache": "data",
    },
}


def get_profile(name: str, **overrides: Any) -> dict[str, Any]:
    """Settings of profile ``name`` with ``overrides`` applied (``None`` keeps the default)."""
    if name not in PROFILES:
        raise KeyError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILES)}")
    cfg = dict(PROFILES[name], profile=name)
    for key, value in overrides.items():
        if key not in cfg:
            raise KeyError(f"unknown setting {key!r} for profile {name!r}; valid: {', '.join(sorted(cfg))}")
        if value is not None:
            cfg[key] = value
    return cfg


def device_and_precision() -> tuple[str, str]:
    """CUDA with bf16 mixed precision when present, else CPU with fp32 (Lightning names)."""
    if torch.cuda.is_available():
        return "cuda", "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "cpu", "32-true"


def runtime_info() -> dict[str, str]:
    """Device, precision and library versions, for the header of every run."""
    import numpy
    import torchvision

    from . import __version__

    device, precision = device_and_precision()
    if device == "cuda":
        device = f"cuda ({torch.cuda.get_device_name(0)} x{torch.cuda.device_count()})"
    return {
        "device": device, "precision": precision, "semsegdiff": __version__, "torch": torch.__version__,
        "torchvision": torchvision.__version__, "numpy": numpy.__version__, "python": platform.python_version(),
    }


def print_header(cfg: dict[str, Any] | None = None) -> None:
    """Print the runtime and the resolved settings, one ``key: value`` per line."""
    for key, value in {**runtime_info(), **(cfg or {})}.items():
        print(f"{key:>12}: {value}")
