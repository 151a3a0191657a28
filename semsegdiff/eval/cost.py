"""What ``evaluate`` and ``ablate`` will cost on a CPU, before they start: the segmenters they train and the images
they generate, in FLOPs counted on the ``meta`` device (:mod:`semsegdiff.models.cost` for the U-Net), at the same
CPU rate. A run estimated at over an hour starts only with ``allow_slow``, as training does.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..frame import frame, label
from ..models.cost import CPU_TFLOPS, GPU_PROFILES, training_flops, verdict
from .judge import build_network


def segmenter_flops(arch: str, size) -> float:
    """FLOPs of one training image (forward and backward) of the segmenter ``arch`` at ``size``."""
    h, w = frame(size)
    with torch.device("meta"):
        net = build_network(arch, size=size)
        with FlopCounterMode(display=False) as counter:
            out = net(torch.zeros(2, 3, h, w))  # batch norm wants two
            (out["out"] if isinstance(out, dict) else out).float().mean().backward()
    return counter.get_total_flops() / 2


def sampling_flops(model_cfg: dict[str, Any], images: int, steps: int) -> float:
    """FLOPs of generating ``images`` with ``steps`` guided steps (mask guidance: two forwards a step, a third for
    attributes guided on their own); a forward is a third of a training image."""
    forwards = 3 if model_cfg.get("attributes") else 2
    return training_flops(model_cfg) / 3 * forwards * steps * images


def check_evaluation(cfg: dict[str, Any], model_cfg: dict[str, Any], *, n_train: int, n_masks: int,
                     judge: bool, device: str) -> str | None:
    """The time of ``evaluate`` on a CPU (``judge``: one has to be trained): None, a line, or the refusal."""
    if device != "cpu":
        return None
    flops = sampling_flops(model_cfg, n_masks * cfg["eval_per_mask"], cfg["steps"])
    if judge:
        flops += segmenter_flops(cfg["judge_arch"], cfg["size"]) * cfg["judge_epochs"] * n_train
    if cfg["profile"] not in GPU_PROFILES and flops < 3600 * CPU_TFLOPS * 1e12:
        return None
    return verdict(cfg, flops / (CPU_TFLOPS * 1e12), f"scores {n_masks:,} masks x {cfg['eval_per_mask']}"
                   + (f" after training a judge for {cfg['judge_epochs']} epochs" if judge else "")
                   + f" at {label(cfg['size'])} px")


def check_study(cfg: dict[str, Any], model_cfg: dict[str, Any], *, n_train: int, device: str) -> str | None:
    """The time of ``ablate`` on a CPU: every segmenter run and every generated set it will make."""
    if device != "cpu":
        return None
    arms = [a for a in cfg["ablate_arms"] if a != "real"]
    reals = [n_train if r == "full" else max(1, round(n_train * cfg["ablate_low_fraction"])) for r in cfg["ablate_regimes"]]
    runs = len(cfg["ablate_regimes"]) * cfg["ablate_seeds"] * (1 + len(arms) * len(cfg["ablate_n"]))
    train = runs * cfg["ablate_steps"] * cfg["judge_batch_size"] * segmenter_flops(cfg["ablate_arch"], cfg["size"])
    images = sum(reals) * sum(cfg["ablate_n"]) * cfg["ablate_gen_seeds"] * len(arms)  # at most: arms may share sets
    flops = train + (sampling_flops(model_cfg, int(images), cfg["steps"]) if arms else 0)
    if cfg["profile"] not in GPU_PROFILES and flops < 3600 * CPU_TFLOPS * 1e12:
        return None
    return verdict(cfg, flops / (CPU_TFLOPS * 1e12), f"trains {runs} segmenters of {cfg['ablate_steps']} steps "
                   f"and generates up to {int(images):,} images at {label(cfg['size'])} px")

