"""What a training run will cost, before it starts: FLOPs counted on the real U-Net, time estimated from them.

FLOPs are counted by torch's ``FlopCounterMode`` on the model built on the ``meta`` device (no
memory, no arithmetic: under a second for the paper U-Net). On the CPU the time is estimated at
:data:`CPU_TFLOPS`, the rate measured for the paper U-Net's training step on a 2-core CPU
(0.62 s per 217 GFLOP forward at 128 px, about three forwards per step): a run estimated at over
an hour there, or a GPU profile on a machine without a GPU, is announced with its estimate.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import MODEL_KEYS
from ..frame import frame, label, pixels
from ..labels import NUM_CLASSES
from .unet import CondUNet

CPU_TFLOPS = 0.35  # training FLOP/s of the paper U-Net on a 2-core CPU (fp32), in TFLOP/s; more cores: faster
GPU_PROFILES = ("gpu", "paper", "reference")


def training_flops(cfg: dict[str, Any]) -> float:
    """FLOPs of one training image (U-Net forward and backward) of the run configuration ``cfg``."""
    h, w = frame(cfg["size"])
    with torch.device("meta"):
        net = CondUNet(num_classes=cfg.get("num_classes", NUM_CLASSES), **{k: cfg[k] for k in MODEL_KEYS})
        x, cond = torch.zeros(1, 3, h, w), torch.zeros(1, net.cond_channels, h, w)
        t = torch.zeros(1, dtype=torch.long)
        attrs = torch.zeros(1, 3, dtype=torch.long) if cfg["attributes"] else None
        with FlopCounterMode(display=False) as counter:
            net(x, t, cond, **({"attrs": attrs} if attrs is not None else {})).float().square().mean().backward()
    return float(counter.get_total_flops())


def cpu_warning(cfg: dict[str, Any], n_train: int, epochs: int | None = None, max_steps: int = -1) -> str | None:
    """A warning when training ``cfg`` on ``n_train`` images on the CPU would take more than an hour (or ``cfg``
    is a GPU profile): the estimated time and how to go on; None otherwise. ``max_steps`` (> 0) caps the run."""
    epochs = cfg["epochs"] if epochs is None else epochs
    images = n_train * epochs if max_steps <= 0 else min(n_train * epochs, max_steps * cfg["batch_size"])
    if cfg["profile"] not in GPU_PROFILES and images * pixels(cfg["size"]) < 2e8:
        return None  # minutes at most (the quick profile is a tenth of this): not worth counting
    seconds = training_flops(cfg) * images / (CPU_TFLOPS * 1e12)
    if seconds < 3600 and cfg["profile"] not in GPU_PROFILES:
        return None
    took = f"{seconds / 3600:.1f} hours" if seconds >= 3600 else \
        f"{seconds / 60:.0f} minutes" if seconds >= 90 else "under two minutes"
    what = f"{epochs} epochs of {n_train} images" if images == n_train * epochs else f"{max_steps} steps of {cfg['batch_size']} images"
    return (f"warning: no CUDA GPU here, and profile {cfg['profile']!r} trains {what} at "
            f"{label(cfg['size'])} px: about {took} on this CPU (estimated at {CPU_TFLOPS:g} TFLOP/s). "
            "Stop it (Ctrl-C) and use --profile quick for a CPU run, or run it on a machine with a GPU; "
            "it goes on otherwise.")
