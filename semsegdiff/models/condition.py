"""What the U-Net is conditioned on: the one-hot mask and, with ``instance_edges``, an instance-boundary map.

As in pix2pixHD and SPADE, a pixel is on an edge when one of its 4 neighbours belongs to another
object instance or another class. The map is computed on the device from the ids and goes into the
mask encoder as one more channel beside the one-hot mask; classifier-free guidance drops both at
once (all zero). Without instance ids the edges are the class boundaries alone, so two adjacent cars
are one blob, as for a model without the channel.
"""
from __future__ import annotations

import torch

from ..errors import DataError
from .unet import one_hot


def instance_edges(masks: torch.Tensor, instances: torch.Tensor | None = None) -> torch.Tensor:
    """Float (B, 1, H, W) map, 1 where a 4-neighbour differs in class or instance id (masks, instances (B, H, W))."""
    key = masks.long()
    if instances is not None:
        key = key * 65536 + instances.to(masks.device).long()
    edge = torch.zeros(key.shape, dtype=torch.bool, device=key.device)
    across = key[:, :, 1:] != key[:, :, :-1]
    edge[:, :, 1:] |= across
    edge[:, :, :-1] |= across
    down = key[:, 1:] != key[:, :-1]
    edge[:, 1:] |= down
    edge[:, :-1] |= down
    return edge[:, None].float()


def condition(model: torch.nn.Module, masks: torch.Tensor, instances: torch.Tensor | None = None) -> torch.Tensor:
    """The condition of ``model`` (a CondUNet) for masks (B, H, W): one-hot (B, C, H, W), plus the edge channel
    (B, C + 1, H, W) when it was built with ``instance_edges``; ``instances`` are ignored by a model without it."""
    cond = one_hot(masks, model.num_classes)
    if getattr(model, "instance_edges", False):
        cond = torch.cat([cond, instance_edges(masks, instances).to(cond.dtype)], dim=1)
    return cond


def check_instance_batch(instances: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Instance ids (B, H, W) of whole numbers >= 0 matching the masks; DataError otherwise."""
    if tuple(instances.shape) != tuple(masks.shape):
        raise DataError(f"instances: expected instance ids of the masks' shape {tuple(masks.shape)}, got "
                        f"{tuple(instances.shape)}")
    if instances.is_floating_point() or instances.dtype == torch.bool:
        raise DataError(f"instances: must hold whole-number instance ids, got dtype {instances.dtype}")
    if (instances.long() < 0).any():
        b, y, x = (int(v) for v in (instances.long() < 0).nonzero()[0])
        raise DataError(f"instances: image {b} has a negative instance id at (row {y}, col {x})")
    return instances.to(torch.int32)
