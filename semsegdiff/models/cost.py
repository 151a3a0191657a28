"""What a training run will cost, before it starts (and before any data is rendered or prepared): time and memory.

FLOPs are counted by torch's ``FlopCounterMode`` on the model built on the ``meta`` device (no
memory, no arithmetic: under a second for the paper U-Net). On the CPU the time is estimated at
:data:`CPU_TFLOPS`, the rate measured for the paper U-Net's training step on a 2-core CPU
(0.62 s per 217 GFLOP forward at 128 px, about three forwards per step). Memory: the activations the
backward pass keeps, summed on the ``meta`` device too (an upper bound in fp32; bf16 mixed keeps about
0.6 of it: measured 0.53-0.75x), plus weights, gradients, AdamW's two moments and the EMA copy.

On the CPU a run that would not fit in the memory available is refused with the batch size that
would; one estimated at over an hour, or a GPU profile, is announced with its estimate, and one of
over an hour starts only with ``allow_slow`` (``--allow-slow true``). Never a silent "it goes on".
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import MODEL_KEYS
from ..errors import SettingError
from ..files import require_space, size_text
from ..frame import frame, label, pixels
from ..labels import NUM_CLASSES
from ..limits import available_memory
from .unet import CondUNet

CPU_TFLOPS = 0.35  # training FLOP/s of the paper U-Net on a 2-core CPU (fp32), in TFLOP/s; more cores: faster
GPU_PROFILES = ("gpu", "paper", "reference", "gpu-upscaler", "paper-upscaler")
BF16_SHARE = 0.6  # bytes of activations kept under bf16 autocast / fp32 (measured 0.53x quick, 0.71x paper U-Net)
COPIES = 5  # fp32 copies of the weights a run holds: weights, gradients, AdamW's two moments, the EMA


def _meta_net(cfg: dict[str, Any]) -> CondUNet:
    """``cfg``'s U-Net on the ``meta`` device: shapes without memory."""
    with torch.device("meta"):
        return CondUNet(num_classes=cfg.get("num_classes", NUM_CLASSES), **{k: cfg[k] for k in MODEL_KEYS})


def _trace(cfg: dict[str, Any]) -> tuple[float, int, int]:
    """(FLOPs, activation bytes kept for backward, parameters) of one training image of ``cfg``, on ``meta``."""
    h, w = (cfg["train_crop"],) * 2 if cfg.get("train_crop") else frame(cfg["size"])  # what one step sees
    saved = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += t.numel() * t.element_size()
        return t

    net = _meta_net(cfg)
    with torch.device("meta"):
        x, cond = torch.zeros(1, 3, h, w), torch.zeros(1, net.cond_channels, h, w)
        t = torch.zeros(1, dtype=torch.long)
        attrs = torch.zeros(1, 3, dtype=torch.long) if cfg["attributes"] else None
        with FlopCounterMode(display=False) as counter, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            kw = {"attrs": attrs} if attrs is not None else {}
            if net.aug_emb is not None:  # an upscaler: the low-res input and its noise level
                kw.update(low=torch.zeros_like(x), low_t=t)
            out = net(x, t, cond, **kw)
        with FlopCounterMode(display=False) as backward:
            out.float().square().mean().backward()
    return float(counter.get_total_flops() + backward.get_total_flops()), saved, sum(p.numel() for p in net.parameters())


def training_flops(cfg: dict[str, Any]) -> float:
    """FLOPs of one training image (U-Net forward and backward) of the run configuration ``cfg``."""
    return _trace(cfg)[0]


def memory_estimate(cfg: dict[str, Any], precision: str, batch_size: int | None = None,
                    copies: int = COPIES) -> tuple[int, int]:
    """(bytes of a training step at ``batch_size`` (default the run's), bytes per image of it) of ``cfg`` in
    ``precision`` (a Lightning precision), with ``copies`` fp32 copies of the weights."""
    _, saved, params = _trace(cfg)
    per_image = int(saved * (BF16_SHARE if "bf16" in precision else 1.0))
    return params * 4 * copies + per_image * (batch_size or cfg["batch_size"]), per_image


def check_cost(cfg: dict[str, Any], n_train: int, *, device: str, precision: str, max_steps: int = -1,
               steps: int | None = None, factor: float = 1.0, copies: int = COPIES,
               what: str = "trains") -> str | None:
    """Before any data is rendered or prepared: on the CPU, a :class:`SettingError` for a run estimated at over an
    hour without ``allow_slow``, or whose memory would not fit (with the batch size that would); the line to print
    for a GPU profile or a long run that may go on; None when there is nothing to say.

    ``steps`` (optimizer steps of ``cfg["batch_size"]``, a distillation) replaces epochs of ``n_train`` images;
    ``factor`` is the time of one image relative to a training image of the U-Net (a distillation step also runs
    the teacher and the target network: 2), ``copies`` the fp32 copies of the weights held."""
    if device != "cpu":
        return None
    line = _time(cfg, n_train, max_steps=max_steps, steps=steps, factor=factor, what=what)
    batch = cfg["batch_size"]
    need, per_image = memory_estimate(cfg, precision, copies=copies)
    free = available_memory()
    if free and need > 0.9 * free:
        fits = int((0.9 * free - (need - per_image * batch)) // max(per_image, 1))
        fix = f"--batch-size {fits} would fit (gradients and moments of the same model)" if fits >= 1 else \
            "no batch size fits: use a smaller model or a machine with a GPU"
        raise SettingError(f"batch_size (--batch-size): a step of {batch} images of {label(cfg['size'])} px with "
                           f"this {cfg['profile']!r} model needs about {need / 2**30:,.1f} GiB of memory, and this "
                           f"machine has {free / 2**30:,.1f} GiB available; {fix}")
    return line


def checkpoint_bytes(cfg: dict[str, Any]) -> int:
    """Bytes of one resumable checkpoint (``last.ckpt``) of ``cfg``'s U-Net: its weights, the EMA and AdamW's two
    moments in fp32 (the paper U-Net: 1.155 GB measured, 72.2 M parameters)."""
    return 4 * 4 * sum(p.numel() for p in _meta_net(cfg).parameters())


def check_disk(cfg: dict[str, Any], out: Path, *, numbered: int, what: str) -> None:
    """Before any data is prepared: an :class:`~semsegdiff.errors.OutputError` when the disk of the run folder ``out``
    cannot hold what the run writes: ``last.ckpt`` and its replacement while it is saved, ``numbered`` checkpoints
    kept on the way (``ckpt_every``) and the final weights, instead of a failure at a save hours in."""
    one = checkpoint_bytes(cfg)
    kept = f" and {numbered} kept on the way (fewer with a larger --ckpt-every)" if numbered else ""
    require_space(out, one * (2 + numbered) + one // 4,
                  f"{what} (checkpoints of {size_text(one)}: last.ckpt, its replacement while it is saved{kept})")


def _time(cfg: dict[str, Any], n_train: int, *, max_steps: int, steps: int | None, factor: float,
          what: str) -> str | None:
    """The CPU time part of :func:`check_cost`: the line to print, None, or the refusal of a long run."""
    batch = cfg["batch_size"]
    if steps is not None:
        images = (steps if max_steps <= 0 else min(steps, max_steps)) * batch
    else:
        images = n_train * cfg["epochs"] if max_steps <= 0 else min(n_train * cfg["epochs"], max_steps * batch)
    side = cfg.get("train_crop")
    if cfg["profile"] not in GPU_PROFILES and images * (side * side if side else pixels(cfg["size"])) * factor < 2e8:
        return None  # minutes at most (the quick profile is a tenth of this): not worth counting
    seconds = training_flops(cfg) * factor * images / (CPU_TFLOPS * 1e12)
    work = f"{images // batch:,} steps of {batch} images" if steps is not None or images != n_train * cfg["epochs"] \
        else f"{cfg['epochs']} epochs of {n_train:,} images"
    return verdict(cfg, seconds, f"{what} {work} at {label(cfg['size'])} px")


def verdict(cfg: dict[str, Any], seconds: float, work: str) -> str | None:
    """What to do with a CPU run of ``cfg`` estimated at ``seconds`` doing ``work``: None when short (and not a GPU
    profile), the line to print, or a :class:`SettingError` for over an hour without ``allow_slow``."""
    if seconds < 3600 and cfg["profile"] not in GPU_PROFILES:
        return None
    took = f"{seconds / 3600:.1f} hours" if seconds >= 3600 else \
        f"{seconds / 60:.0f} minutes" if seconds >= 90 else "under two minutes"
    said = (f"no CUDA GPU here, and profile {cfg['profile']!r} {work}: {'about ' if seconds >= 90 else ''}{took} on "
            f"this CPU (estimated at {CPU_TFLOPS:g} TFLOP/s)")
    if seconds >= 3600 and not cfg.get("allow_slow"):
        raise SettingError(f"allow_slow (--allow-slow): {said}; nothing was started. Use --profile quick for a CPU "
                           "run, a machine with a GPU, fewer steps (--max-steps), or pass --allow-slow true to run it "
                           "here anyway (notebooks: -p 'overrides={allow_slow: true}')")
    return f"warning: {said}." + (" Going on: --allow-slow true was given." if seconds >= 3600 else "")
