"""Mask-conditioned U-Net: the noise/velocity predictor of the diffusion model.

Two ways to inject the mask (``injection=``):

- ``"input_add"``: the reference's way (WINS 2024): the one-hot mask goes through a conv
  block whose output is added to the first feature map.
- ``"spade"``: spatially-adaptive normalisation in the middle and decoder blocks, as in
  SDM (https://arxiv.org/abs/2207.00050) after SPADE (https://arxiv.org/abs/1903.07291):
  GroupNorm output is scaled and shifted per pixel by convs of the resized mask.

The unconditional branch of classifier-free guidance is an all-zero one-hot mask. The
mask encoders have no biases, so an all-zero mask contributes exactly nothing.

With ``attributes=True`` the scene attributes (time of day, weather, scene type:
:mod:`semsegdiff.attributes`) are embedded and added to the time embedding, one table per
attribute whose row 0 is "unknown or dropped" (learned), so that each condition can be left
out on its own.

How the embedding (time + attributes) enters a residual block (``scale_shift=``): added to
its features after the first conv (DDPM's way), or, with ``scale_shift=True``, as a per-channel
scale and shift of the second normalisation, ``norm(h) * (1 + s) + b`` (AdaGN, as
guided-diffusion's ``use_scale_shift_norm``): global changes of the image such as haze or
darkness are multiplicative, which an added bias expresses poorly.

With ``guidance_input=True`` (a distilled student, :mod:`semsegdiff.models.distill`) the
classifier-free guidance scale is an input too, embedded like the time step (as LCM's ``w``)
and added to the time embedding through a zero-initialised layer, so a student starts as its
teacher's conditional branch.

With ``upscale > 1`` (the cascade's second stage, :mod:`semsegdiff.models.cascade`) the low-resolution image,
upsampled to the frame, enters beside the noisy image (3 more input channels) and the level of the noise it was
augmented with is embedded like the time step and added to the time embedding (Cascaded Diffusion Models' noise
conditioning augmentation).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from torch import nn

from ..attributes import ATTRIBUTES
from ..config import CHOICES
from ..errors import DataError, SettingError
from ..frame import Size, frame
from ..labels import IGNORE

INJECTIONS = CHOICES["injection"]


def one_hot(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """uint8/int ids (B, H, W) -> float one-hot (B, C, H, W); ignore (255) pixels are all-zero."""
    idx = mask.long().clamp(max=num_classes).unsqueeze(1)  # ignore -> the extra channel C
    out = torch.zeros(mask.shape[0], num_classes + 1, *mask.shape[1:], device=mask.device)
    return out.scatter_(1, idx, 1.0)[:, :num_classes]


def check_masks(mask: torch.Tensor, num_classes: int, size: Size | None = None) -> None:
    """Raise DataError unless ``mask`` is a (B, H, W) batch of ids < num_classes or 255 (of frame ``size``)."""
    if mask.ndim != 3:
        raise DataError(f"masks must be a (B, H, W) batch of class ids, got shape {tuple(mask.shape)}")
    if size is not None and tuple(mask.shape[1:]) != frame(size):
        h, w = frame(size)
        raise DataError(f"masks are {mask.shape[1]}x{mask.shape[2]} but the model was trained on {h}x{w} "
                        "(height x width); crop and resize them to its frame (semsegdiff generate --resize)")
    if mask.is_floating_point():
        raise DataError(f"masks must hold integer class ids, got dtype {mask.dtype}")
    bad = (mask.long() >= num_classes) & (mask.long() != IGNORE) | (mask.long() < 0)
    if bad.any():
        b, y, x = (int(v) for v in bad.nonzero()[0])
        raise DataError(f"mask {b} has class id {int(mask[b, y, x])} at (row {y}, col {x}); "
                         f"valid ids are 0..{num_classes - 1} and {IGNORE} (ignore)")


def _norm(ch: int, affine: bool = True) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, ch), ch, affine=affine)


class MaskEncoder(nn.Module):
    """Bias-free conv block on the one-hot mask (zero in, zero out)."""

    def __init__(self, num_classes: int, out_ch: int, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(num_classes, hidden, 3, padding=1, bias=False), nn.SiLU(),
                                 nn.Conv2d(hidden, out_ch, 3, padding=1, bias=False))

    def forward(self, m: torch.Tensor) -> torch.Tensor:
        return self.net(m)


class SPADE(nn.Module):
    """GroupNorm without affine, then per-pixel ``x * (1 + gamma(mask)) + beta(mask)``.

    ``m`` maps a resolution to mask features of that size, computed once per forward
    by :class:`CondUNet` (the mask resized nearest, then a shared bias-free conv).
    """

    def __init__(self, ch: int, hidden: int):
        super().__init__()
        self.norm = _norm(ch, affine=False)
        self.gamma_beta = nn.Conv2d(hidden, 2 * ch, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor, m: dict[tuple, torch.Tensor]) -> torch.Tensor:
        gamma, beta = self.gamma_beta(m[tuple(x.shape[-2:])]).chunk(2, dim=1)  # (B, ch, h, w) each
        return self.norm(x) * (1 + gamma) + beta


class ResBlock(nn.Module):
    """Pre-norm residual block; the time embedding enters between the two convs, added to the features or (with
    ``scale_shift``) as the scale and shift of the second normalisation."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, *, dropout: float = 0.0,
                 spade: int | None = None, scale_shift: bool = False):
        super().__init__()
        self.spade, self.scale_shift = spade is not None, scale_shift
        self.norm1 = SPADE(in_ch, spade) if spade else _norm(in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * out_ch if scale_shift else out_ch)
        self.norm2 = SPADE(out_ch, spade) if spade else _norm(out_ch)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def _n(self, norm: nn.Module, x: torch.Tensor, m: dict[tuple, torch.Tensor] | None) -> torch.Tensor:
        return norm(x, m) if self.spade else norm(x)

    def forward(self, x: torch.Tensor, emb: torch.Tensor, m: dict[tuple, torch.Tensor] | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self._n(self.norm1, x, m)))
        e = self.emb(F.silu(emb))[:, :, None, None]  # (B, out_ch or 2 out_ch, 1, 1)
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self._n(self.norm2, h, m) * (1 + scale) + shift
        else:
            h = self._n(self.norm2, h + e, m)
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map."""

    def __init__(self, ch: int, head_dim: int = 32):
        super().__init__()
        self.heads = max(1, ch // head_dim)
        self.norm = _norm(ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, hw, c/heads)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class Level(nn.Module):
    """The residual blocks (and attention) of one resolution."""

    def __init__(self, chs: list[tuple[int, int]], emb_dim: int, attn: bool, dropout: float, spade,
                 scale_shift: bool = False):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(i, o, emb_dim, dropout=dropout, spade=spade, scale_shift=scale_shift)
                                    for i, o in chs)
        self.attn = nn.ModuleList(Attention(o) if attn else nn.Identity() for _, o in chs)


class CondUNet(nn.Module):
    """U-Net predicting noise (or velocity) of a noisy image given a one-hot mask and a timestep.

    Args:
        num_classes: classes of the one-hot mask (channels of ``cond``).
        channels: width of the first level; level ``i`` has ``channels * channel_mult[i]``.
        channel_mult: width multipliers, one per resolution (len - 1 downsamplings).
        num_res_blocks: residual blocks per level in the encoder (decoder has one more).
        attn_levels: self-attention in the ``attn_levels`` lowest resolutions and the middle.
        emb_dim: time-embedding width (default ``4 * channels``).
        injection: ``"input_add"`` (reference) or ``"spade"`` (SDM).
        mask_hidden: width of the mask encoders (the input conv block, or SPADE's shared features).
        dropout: dropout inside residual blocks.
        attributes: embed the scene attributes (codes (B, 3), 0 = unknown) into the time embedding.
        guidance_input: also take the guidance scale ``w`` (B,) and embed it into the time embedding.
        scale_shift: the embedding scales and shifts each block's second normalisation (AdaGN) instead of
            being added to its features.
        instance_edges: ``cond`` has one more channel, the instance-boundary map (:mod:`.condition`).
        upscale: above 1, an upscaler from a frame this many times smaller: it also takes the upsampled low-res
            image ``low`` (B, 3, H, W) and its noise level ``low_t`` (B,).
    """

    def __init__(self, *, num_classes: int = 19, in_channels: int = 3, channels: int = 64,
                 channel_mult: tuple[int, ...] = (1, 2, 2), num_res_blocks: int = 1, attn_levels: int = 1,
                 emb_dim: int | None = None, injection: str = "input_add", mask_hidden: int = 64,
                 dropout: float = 0.0, attributes: bool = False, guidance_input: bool = False,
                 scale_shift: bool = False, instance_edges: bool = False, upscale: int = 1):
        super().__init__()
        if injection not in INJECTIONS:
            raise SettingError(f"injection (--injection): unknown injection {injection!r}; choose one of "
                               f"{', '.join(INJECTIONS)}")
        self.num_classes, self.injection, self.instance_edges = num_classes, injection, instance_edges
        self.cond_channels = cond_channels = num_classes + int(instance_edges)  # one-hot [+ instance boundaries]
        self.downsamplings = len(channel_mult) - 1
        emb_dim = emb_dim or 4 * channels
        self.time_proj = Timesteps(channels, flip_sin_to_cos=True, downscale_freq_shift=0)  # sinusoidal t
        self.time_emb = TimestepEmbedding(channels, emb_dim)
        self.attr_emb = nn.ModuleList(nn.Embedding(len(v) + 1, emb_dim) for v in ATTRIBUTES.values()) \
            if attributes else None
        for table in self.attr_emb or []:
            nn.init.zeros_(table.weight)  # starts as the model without attributes
        self.guidance_emb = TimestepEmbedding(channels, emb_dim) if guidance_input else None
        if self.guidance_emb is not None:  # starts as the model without the guidance input
            nn.init.zeros_(self.guidance_emb.linear_2.weight)
            nn.init.zeros_(self.guidance_emb.linear_2.bias)
        self.upscale = upscale
        self.aug_emb = TimestepEmbedding(channels, emb_dim) if upscale > 1 else None  # the low-res input's noise level
        self.stem = nn.Conv2d(in_channels + 3 * (upscale > 1), channels, 3, padding=1)  # [x_t, upsampled low-res image]
        self.mask_in = MaskEncoder(cond_channels, channels, mask_hidden) if injection == "input_add" else None
        spade = mask_hidden if injection == "spade" else None
        self.mask_feats = (nn.Sequential(nn.Conv2d(cond_channels, mask_hidden, 3, padding=1, bias=False), nn.SiLU())
                           if spade else None)
        widths = [channels * m for m in channel_mult]
        n = len(widths)
        attn = [i >= n - attn_levels for i in range(n)]

        self.down, self.downsample, skips, ch = nn.ModuleList(), nn.ModuleList(), [channels], channels
        for i, w in enumerate(widths):
            chs = []
            for _ in range(num_res_blocks):
                chs.append((ch, w))
                ch = w
                skips.append(ch)
            self.down.append(Level(chs, emb_dim, attn[i], dropout, None, scale_shift))
            if i < n - 1:
                self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)
        self.mid = Level([(ch, ch), (ch, ch)], emb_dim, attn_levels > 0, dropout, spade, scale_shift)
        self.mid.attn[1] = nn.Identity()  # block, attention, block

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            chs = []
            for _ in range(num_res_blocks + 1):
                chs.append((ch + skips.pop(), w))
                ch = w
            self.up.append(Level(chs, emb_dim, attn[i], dropout, spade, scale_shift))
            if i > 0:
                self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, in_channels, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                attrs: torch.Tensor | None = None, guidance: torch.Tensor | None = None,
                low: torch.Tensor | None = None, low_t: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, 3, H, W), t (B,) timesteps, cond (B, C, H, W) one-hot [+ edge channel] (all-zero = unconditional),
        attrs (B, 3) attribute codes (0 = unknown/dropped; None: all unknown), guidance (B,) scales
        (a model with ``guidance_input``), low (B, 3, H, W) the upsampled low-res image and low_t (B,) its noise
        level in timesteps (an upscaler)."""
        if x.shape[-1] % 2 ** self.downsamplings or x.shape[-2] % 2 ** self.downsamplings:
            raise ValueError(f"image side must be a multiple of {2 ** self.downsamplings}, got {tuple(x.shape[-2:])}")
        emb = self.time_emb(self.time_proj(t.reshape(-1).expand(x.shape[0])).to(x.dtype))  # (B, E)
        if self.attr_emb is not None:
            attrs = torch.zeros(x.shape[0], len(self.attr_emb), dtype=torch.long, device=x.device) if attrs is None \
                else attrs.long()
            emb = emb + sum(table(attrs[:, i]) for i, table in enumerate(self.attr_emb)).to(emb.dtype)  # (B, E)
        if self.guidance_emb is not None:
            if guidance is None:
                raise ValueError("this U-Net takes the guidance scale as an input (guidance=, shape (B,))")
            w = self.time_proj(guidance.reshape(-1).expand(x.shape[0]).float() * 1000)  # w on the scale of t, as LCM
            emb = emb + self.guidance_emb(w.to(x.dtype))
        if self.aug_emb is not None:
            if low is None or low_t is None:
                raise ValueError("this U-Net is an upscaler: it takes the upsampled low-res image (low=) and its noise "
                                 "level (low_t=)")
            emb = emb + self.aug_emb(self.time_proj(low_t.reshape(-1).expand(x.shape[0])).to(x.dtype))
            x = torch.cat([x, low.to(x.dtype)], dim=1)
        h = self.stem(x)  # (B, ch, H, W)
        if self.mask_in is not None:
            h = h + self.mask_in(cond.to(h.dtype))
        m = None
        if self.mask_feats is not None:  # SPADE features at every decoder resolution
            sizes = [(x.shape[-2] >> i, x.shape[-1] >> i) for i in range(self.downsamplings + 1)]
            m = {s: self.mask_feats(F.interpolate(cond.to(h.dtype), size=s, mode="nearest")) for s in sizes}
        hs = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(h, emb))
                hs.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)  # (B, ch, H/2, W/2)
                hs.append(h)
        for block, attn in zip(self.mid.blocks, self.mid.attn):
            h = attn(block(h, emb, m))
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb, m))
            if i < len(self.upsample):
                h = self.upsample[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(h)  # (B, 3, H, W)
