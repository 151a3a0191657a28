"""Numerical precision of a run: the ``precision`` setting (auto, 32, bf16-mixed) resolved for a device.

``auto`` is bf16 mixed precision on CUDA (fp16 mixed where the GPU has no bf16) and on CPUs with
native bf16 arithmetic (AVX512-BF16 or AMX), fp32 elsewhere: a CPU without them emulates bf16,
slower than fp32, so it is never chosen there, and asking for it says so and runs fp32. The same
setting drives the Lightning trainers (diffusion, judge, ablation segmenters, distillation) and the
autocast of every sampling and scoring path.
"""
from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

import torch

SETTINGS = ("auto", "32", "bf16-mixed")


@functools.cache
def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), by torch's probe or /proc/cpuinfo."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(p is not None for p in probes):
        return any(p() for p in probes if p is not None)
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def lightning_precision(setting: str, device: str | torch.device) -> str:
    """The Lightning precision (``32-true``, ``bf16-mixed``, ``16-mixed``) of ``setting`` on ``device``."""
    kind = device.type if isinstance(device, torch.device) else "cuda" if str(device).startswith(("cuda", "gpu")) \
        else "cpu"
    if setting not in SETTINGS:
        from .errors import SettingError

        raise SettingError(f"precision (--precision): {setting!r} is not one of {', '.join(SETTINGS)}")
    if setting == "32":
        return "32-true"
    if kind == "cuda":
        bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return "bf16-mixed" if bf16 else ("16-mixed" if setting == "auto" else "32-true")
    if native_cpu_bf16():
        return "bf16-mixed"
    if setting == "bf16-mixed":
        _warn_emulated()
    return "32-true"


@functools.cache
def _warn_emulated() -> None:
    warnings.warn("precision bf16-mixed: this CPU has no native bf16 (AVX512-BF16 or AMX) and would emulate it, "
                  "slower than fp32; running in 32 (fp32) instead", stacklevel=3)


def autocast(device: str | torch.device, setting: str = "auto") -> contextlib.AbstractContextManager:
    """The autocast context of ``setting`` on ``device`` for inference (sampling, scoring); a no-op in fp32."""
    device = torch.device(device)
    resolved = lightning_precision(setting, device)
    if resolved == "32-true":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if resolved == "bf16-mixed" else torch.float16)
