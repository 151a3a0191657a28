"""What an upscaler (the cascade's second stage) sees: the low-res image, upsampled and noise-augmented.

As in Cascaded Diffusion Models (https://arxiv.org/abs/2106.15282) and Imagen, the upscaler is a diffusion
U-Net at the target frame conditioned on the low-resolution image, upsampled bicubically, beside the mask
at the TARGET resolution. In training the low-res image is the high-res crop downsampled as ``prepare``
resizes a dataset (bilinear with antialiasing), then noised to a level drawn per sample in
``[0, noise_aug]`` x the timesteps, which the model is told; at sampling the base's image is noised to
``aug_level``, so that the upscaler does not copy the base's artefacts.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..errors import DataError


def downsample(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Float images (B, 3, H, W) -> (B, 3, H / factor, W / factor), bilinear with antialiasing (``prepare``'s)."""
    h, w = images.shape[-2:]
    return F.interpolate(images, size=(h // factor, w // factor), mode="bilinear", antialias=True, align_corners=False)


def downsample_masks(masks: torch.Tensor, factor: int) -> torch.Tensor:
    """Ids (B, H, W) -> (B, H / factor, W / factor), nearest (``prepare``'s: ids stay ids)."""
    h, w = masks.shape[-2:]
    return TF.resize(masks, [h // factor, w // factor], interpolation=InterpolationMode.NEAREST_EXACT)


def upsample(low: torch.Tensor, frame: Sequence[int]) -> torch.Tensor:
    """Model-range images (B, 3, h, w) -> (B, 3, *frame), bicubic, clamped to [-1, 1]."""
    return F.interpolate(low.float(), size=tuple(frame), mode="bicubic", align_corners=False).clamp(-1, 1)


def augment(low: torch.Tensor, level: torch.Tensor, scheduler, noise: torch.Tensor) -> torch.Tensor:
    """``low`` noised to timesteps ``level`` (B,) with ``noise`` on the diffusion's own schedule; level 0: unchanged."""
    noisy = scheduler.add_noise(low, noise, level)
    return torch.where((level > 0)[:, None, None, None], noisy, low)


def training_inputs(batch: dict[str, torch.Tensor], images: torch.Tensor, cfg: dict, scheduler,
                    generator: torch.Generator | None = None,
                    crops: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """An upscaler's training batch from a high-res one: random square crops of side ``train_crop`` (one per image;
    0: whole frames), the crop downsampled by ``upscale`` and upsampled back, noise-augmented to levels in
    ``[0, noise_aug]``. Returns image (model range), mask, instances (if any), low and low_t. The crops' corners are
    drawn on the CPU (``crops``: a CPU generator), so a GPU step waits for no host copy; ``generator`` draws the
    noise on the images' device."""
    dev, b = images.device, images.shape[0]
    out = {"image": images, "mask": batch["mask"], "instances": batch.get("instances")}
    crop = cfg["train_crop"]
    h, w = images.shape[-2:]
    if crop and (crop, crop) != (h, w):
        tops = torch.randint(0, h - crop + 1, (b,), generator=crops).tolist()
        lefts = torch.randint(0, w - crop + 1, (b,), generator=crops).tolist()
        out = {k: None if v is None else torch.stack([v[i, ..., y:y + crop, x:x + crop]
                                                      for i, (y, x) in enumerate(zip(tops, lefts))])
               for k, v in out.items()}
    hi = out["image"]
    low = upsample(downsample(hi, cfg["upscale"]), hi.shape[-2:])
    top = max(1, round(cfg["noise_aug"] * scheduler.config.num_train_timesteps))
    level = torch.randint(0, top, (b,), generator=generator, device=dev) if cfg["noise_aug"] > 0 else \
        torch.zeros(b, dtype=torch.long, device=dev)
    noise = torch.randn(low.shape, generator=generator, device=dev)
    return {**out, "low": augment(low, level, scheduler, noise), "low_t": level}


def sampling_inputs(low: torch.Tensor, frame: Sequence[int], factor: int, aug_level: float, scheduler,
                    seeds: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(low, low_t) for sampling: uint8 low-res images (N, 3, h, w) upsampled to ``frame`` and noised to
    ``aug_level`` x the timesteps, each with noise of its own seed (the image's seed, on another stream)."""
    want = (frame[0] // factor, frame[1] // factor)
    shape = (len(seeds), 3, *want)
    if tuple(low.shape) != shape or low.dtype != torch.uint8:
        raise DataError(f"low: expected one uint8 low-res image per mask, {shape} ({want[0]}x{want[1]}: this x{factor} "
                        f"upscaler makes {frame[0]}x{frame[1]}), got {low.dtype} {tuple(low.shape)}")
    up = upsample(low.float() / 127.5 - 1, frame)
    level = torch.full((len(low),), round(aug_level * scheduler.config.num_train_timesteps), dtype=torch.long)
    noise = torch.stack([torch.randn(up.shape[1:], generator=torch.Generator().manual_seed(int(s) ^ 0x5A5A5A))
                         for s in seeds]) if len(seeds) else torch.empty_like(up)
    return augment(up, level, scheduler, noise), level
