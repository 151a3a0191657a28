"""The cascade: a base model's images at its frame, upscaled by a mask-conditioned diffusion upscaler.

The WINS 2024 paper's outlook ("a dedicated upscaler diffusion model tailored to the applied dataset"), built as
Cascaded Diffusion Models do (https://arxiv.org/abs/2106.15282): masks come at the upscaler's (the TARGET)
frame; the base sees them downsampled as ``prepare`` downsamples a dataset's, the upscaler sees them whole
beside the base's image (:mod:`.upscale`). Both are ordinary checkpoints (``semsegdiff train --profile
quick`` and ``--profile quick-upscaler``).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError
from ..frame import label
from ..tensors import as_tensor
from .module import DiffusionModule, load_checkpoint
from .unet import check_masks
from .upscale import downsample_masks


def _frame(model: DiffusionModule) -> str:
    return label(list(model.frame))


def check_pair(base: DiffusionModule, upscaler: DiffusionModule, names: Sequence[str] = ("base", "upscaler")) -> None:
    """A :class:`CheckpointError` naming both unless ``upscaler`` upscales what ``base`` makes."""
    b, u = names
    if base.is_upscaler:
        raise CheckpointError(f"{b}: is an upscaler (x{base.cfg['upscale']} to {_frame(base)}), given as the base model"
                              "; give the base model first and the upscaler second")
    if not upscaler.is_upscaler:
        raise CheckpointError(f"{u}: is a base model (upscale 1, {_frame(upscaler)}), given as the upscaler; train one "
                              "with semsegdiff train --profile quick-upscaler (or gpu-upscaler, paper-upscaler)")
    if upscaler.is_student:
        raise CheckpointError(f"{u}: is a distilled student; the cascade's upscaler is a diffusion model")
    k, (h, w) = upscaler.cfg["upscale"], upscaler.frame
    if (h // k, w // k) != tuple(base.frame):
        raise CheckpointError(f"{u}: upscales {h // k}x{w // k} to {h}x{w} (x{k}), but {b} makes {_frame(base)} "
                              "(height x width); pair an upscaler trained on the base's frame x its factor")
    if upscaler.cfg["num_classes"] != base.cfg["num_classes"]:
        raise CheckpointError(f"{u}: has {upscaler.cfg['num_classes']} classes, {b} {base.cfg['num_classes']}")


class Cascade:
    """A base model and its upscaler: images at the upscaler's frame from masks at that frame.

    ``Cascade.load("runs/quick/diffusion.ckpt", "runs/quick-upscaler/diffusion.ckpt").generate(masks)``.
    """

    def __init__(self, base: DiffusionModule, upscaler: DiffusionModule, names: Sequence[str] = ("base", "upscaler")):
        check_pair(base, upscaler, names)
        self.base, self.upscaler = base, upscaler

    @classmethod
    def load(cls, base: str | Path, upscaler: str | Path, *, device: str | torch.device = "cpu",
             precision: str | None = None) -> Cascade:
        """Both checkpoints, checked as a pair (one line naming both files when they are not one)."""
        models = [load_checkpoint(p, device=device, precision=precision) for p in (base, upscaler)]
        return cls(*models, names=(str(base), str(upscaler)))

    @property
    def frame(self) -> tuple[int, int]:
        """(height, width) of the cascade's images (the upscaler's frame)."""
        return self.upscaler.frame

    @property
    def factor(self) -> int:
        return self.upscaler.cfg["upscale"]

    @property
    def cfg(self) -> dict[str, Any]:
        """What a caller asks of a model (the painter): the base's settings at the upscaler's frame, with attributes
        and instance edges only where both stages take them."""
        both = {k: bool(self.base.cfg.get(k)) and bool(self.upscaler.cfg.get(k)) for k in ("attributes", "instance_edges")}
        return {**self.base.cfg, "size": self.upscaler.cfg["size"], **both}

    def base_masks(self, masks: torch.Tensor) -> torch.Tensor:
        """Masks at the upscaler's frame -> the base's (nearest, as ``prepare`` downsamples)."""
        return downsample_masks(masks, self.factor)

    @torch.no_grad()
    def generate(self, masks: np.ndarray | torch.Tensor, *, seed: int | Sequence[int] = 0, sampler: str | None = None,
                 steps: int | None = None, guidance: float | None = None, upscale_steps: int | None = None,
                 upscale_guidance: float | None = None, aug_level: float | None = None,
                 instances: np.ndarray | torch.Tensor | None = None, batch_size: int = 64, progress: bool = False,
                 return_base: bool = False, **conditions: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """One uint8 image (N, 3, H, W) per mask (N, H, W) at the upscaler's frame.

        The base samples with ``sampler``/``steps``/``guidance`` (its defaults when None), the upscaler with its own
        sampler, ``upscale_steps``/``upscale_guidance`` (its defaults) and ``aug_level``; both use image ``i``'s seed.
        ``conditions`` (time, weather, scene, attribute_guidance, precision) go to both models. With
        ``return_base`` it returns ``(images, base_images)``.
        """
        masks = as_tensor(masks)
        check_masks(masks, self.upscaler.cfg["num_classes"], self.upscaler.size)
        inst = None if instances is None else as_tensor(instances)
        common = dict(seed=seed, batch_size=batch_size, progress=progress, **conditions)
        low = self.base.generate(self.base_masks(masks), sampler=sampler, steps=steps, guidance=guidance,
                                 instances=None if inst is None else self.base_masks(inst), **common)
        images = self.upscaler.generate(masks, low=low, steps=upscale_steps, guidance=upscale_guidance,
                                        aug_level=aug_level, instances=inst, **common)
        return (images, low) if return_base else images
