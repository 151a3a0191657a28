"""Run profiles and the runtime (device, precision, versions) every run prints first.

Two profiles, one code path: ``quick`` (CPU, small synthetic images, minutes; what CI and
``make run`` use) and ``paper`` (GPU, 128x128 BDD100K, the reference's settings).
"""
from __future__ import annotations

import platform
from typing import Any

import torch

QUICK: dict[str, Any] = {
    # data
    "data": "synthetic",  # the embedded procedural dataset, or a dataset/cache path
    "size": 32,  # image side after centre-crop and resize
    "n_synthetic": 2000,  # scenes generated when data == "synthetic"
    "seed": 0,
    "cache": "data",  # where generated and prepared datasets are kept
    # model (semsegdiff.models.CondUNet)
    "channels": 32,  # width of the first U-Net level
    "channel_mult": [1, 2, 2],  # width multipliers per resolution
    "num_res_blocks": 1,  # residual blocks per encoder level
    "attn_levels": 1,  # self-attention in this many lowest resolutions (and the middle)
    "emb_dim": 128,  # time-embedding width
    "injection": "input_add",  # mask injection: input_add (reference) or spade (SDM)
    "mask_hidden": 32,  # width of the mask encoder
    "dropout": 0.0,
    # diffusion (diffusers schedulers)
    "noise_schedule": "squaredcos_cap_v2",  # or "reference" (half-cosine betas 1e-4..0.02)
    "prediction_type": "v_prediction",  # or "epsilon" (the reference's)
    "num_train_timesteps": 1000,
    "p_uncond": 0.1,  # per-sample mask dropout for classifier-free guidance
    # training (Lightning)
    "epochs": 24,
    "batch_size": 32,  # per device
    "lr": 1e-3,
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "ema_decay": 0.995,
    "ema_start": 200,  # optimizer steps before the EMA starts averaging (a copy before)
    "num_workers": 0,  # DataLoader workers per device
    "ckpt_every": 8,  # keep a numbered checkpoint every N epochs (last.ckpt: every epoch)
    "preview_every": 4,  # validation loss + preview grid every N epochs
    "n_preview": 8,  # masks in a preview grid
    "log_every": 10,  # optimizer steps between logged training losses
    "logger": "csv",  # csv or tensorboard
    "devices": "auto",  # Lightning devices: auto, N, or a list of GPU ids
    "num_nodes": 1,
    "strategy": "auto",  # auto picks DDP for several devices (ddp_notebook inside Jupyter)
    # sampling
    "sampler": "dpmsolver++",  # ddpm, ddim or dpmsolver++
    "steps": 20,
    "guidance": 3.0,  # classifier-free guidance scale (1 = conditional only)
}

PROFILES: dict[str, dict[str, Any]] = {
    "quick": QUICK,  # CPU, minutes: what CI and `make run` use
    "paper": {  # GPU, the reference's resolution and hyper-parameters
        **QUICK,
        "data": "data/bdd100k",  # official BDD100K layout (images/10k, labels/sem_seg)
        "size": 128,
        "channels": 128, "channel_mult": [1, 2, 2, 4], "num_res_blocks": 2, "attn_levels": 2, "emb_dim": 256,
        "mask_hidden": 64,
        "epochs": 300, "batch_size": 50, "lr": 3e-4, "weight_decay": 0.01, "ema_start": 2000,
        "num_workers": 4, "ckpt_every": 25, "preview_every": 10, "log_every": 50,
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


def print_header(cfg: dict[str, Any] | None = None, keys: list[str] | None = None) -> None:
    """Print the runtime and the resolved settings (only ``keys`` if given), one ``key: value`` per line."""
    cfg = {k: v for k, v in (cfg or {}).items() if keys is None or k in keys}
    for key, value in {**runtime_info(), **cfg}.items():
        print(f"{key:>12}: {value}")
