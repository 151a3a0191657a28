"""Diffusion on diffusers schedulers: the training loss and guided sampling.

Noise schedule and prediction type are configurable. The default, ``squaredcos_cap_v2``
with v-prediction (https://arxiv.org/abs/2202.00512), is the only setting under which
DPM-Solver++ did not diverge in the measurements of DESIGN.md; ``"reference"`` gives the
WINS 2024 setting (betas from 1e-4 to 0.02 along a half-cosine, epsilon prediction).
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler, LCMScheduler, UniPCMultistepScheduler
from diffusers.utils.torch_utils import randn_tensor

from ..config import CHOICES
from ..errors import DivergenceError, SettingError
from ..precision import autocast
from .condition import condition

SAMPLERS = tuple(s for s in CHOICES["sampler"] if s != "lcm")  # solvers of a diffusion model; lcm is a student's


def reference_betas(steps: int = 1000, start: float = 1e-4, end: float = 0.02) -> list[float]:
    """The reference's betas: rising from ``start`` to ``end`` along a half-cosine."""
    return [start + (end - start) * (1 - math.cos(math.pi * i / (steps - 1))) / 2 for i in range(steps)]


def make_scheduler(sampler: str = "ddpm", *, noise_schedule: str = "squaredcos_cap_v2",
                   prediction_type: str = "v_prediction", num_train_timesteps: int = 1000, lcm_grid: int = 50):
    """A diffusers scheduler for ``sampler`` over the given noise schedule.

    ``noise_schedule`` is a diffusers ``beta_schedule`` name (``squaredcos_cap_v2``,
    ``linear``, ``scaled_linear``) or ``"reference"``. ``"lcm"`` is multistep consistency
    sampling of a distilled student on its training grid of ``lcm_grid`` timesteps.
    """
    betas = dict(trained_betas=reference_betas(num_train_timesteps)) if noise_schedule == "reference" else \
        dict(beta_schedule=noise_schedule)
    common = dict(num_train_timesteps=num_train_timesteps, prediction_type=prediction_type, **betas)
    if sampler == "ddpm":
        return DDPMScheduler(**common, clip_sample=True)
    if sampler == "ddim":
        return DDIMScheduler(**common, clip_sample=True, set_alpha_to_one=True)
    if sampler == "dpmsolver++":
        return DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2)
    if sampler == "lcm":  # https://arxiv.org/abs/2310.04378: denoise in one step, re-noise to the next timestep
        return LCMScheduler(**common, original_inference_steps=lcm_grid)
    if sampler == "unipc":  # UniPC (https://arxiv.org/abs/2302.04867), predictor-corrector, bh2 variant
        return UniPCMultistepScheduler(**common, solver_order=2, solver_type="bh2")
    raise SettingError(f"sampler (--sampler): unknown sampler {sampler!r}; choose one of {', '.join(CHOICES['sampler'])}")


def diffusion_loss(model: torch.nn.Module, images: torch.Tensor, masks: torch.Tensor, scheduler: DDPMScheduler, *,
                   p_uncond: float = 0.1, generator: torch.Generator | None = None, attrs: torch.Tensor | None = None,
                   p_uncond_attr: float = 0.1, instances: torch.Tensor | None = None,
                   low: torch.Tensor | None = None, low_t: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between the model's prediction and the target (noise or velocity) at random timesteps.

    ``images`` are floats in [-1, 1] (B, 3, H, W); ``masks`` uint8 ids (B, H, W). The mask is
    dropped (all-zero one-hot) for each sample independently with probability ``p_uncond``;
    ``attrs`` (B, 3) attribute codes, for a model with attributes, are each dropped to 0
    (unknown) independently with probability ``p_uncond_attr``, so every condition can be
    guided on its own. ``instances`` (B, H, W) give a model with ``instance_edges`` its boundary map; ``low`` and
    ``low_t`` an upscaler its low-res input and that input's noise level (:mod:`.upscale`; never dropped).
    """
    b, dev = images.shape[0], images.device
    cond = condition(model, masks, instances)  # (B, C [+ 1], H, W)
    keep = torch.rand(b, device=dev, generator=generator) >= p_uncond
    cond = cond * keep[:, None, None, None]
    kw = {}
    if getattr(model, "attr_emb", None) is not None and attrs is not None:
        kw["attrs"] = drop_attributes(attrs, p_uncond_attr, dev, generator)
    if low is not None:
        kw.update(low=low, low_t=low_t)
    t = torch.randint(0, scheduler.config.num_train_timesteps, (b,), device=dev, generator=generator)
    noise = torch.randn(images.shape, device=dev, generator=generator)
    noisy = scheduler.add_noise(images, noise, t)
    target = scheduler.get_velocity(images, noise, t) if scheduler.config.prediction_type == "v_prediction" else noise
    return F.mse_loss(model(noisy, t, cond, **kw).float(), target)


def drop_attributes(attrs: torch.Tensor, p: float, device: torch.device,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Attribute codes (B, 3) on ``device``, each set to 0 (unknown) independently with probability ``p``.

    ``p == 0`` (validation) draws nothing, so a model with attributes is validated on the same timesteps
    and noise as one without them, and the two val losses compare."""
    if p <= 0:
        return attrs.to(device).long()
    kept = torch.rand(attrs.shape, device=device, generator=generator) >= p
    return attrs.to(device).long() * kept


class Guided:
    """The model's guided prediction, every branch in ONE batched forward per step.

    Mask only (no attributes asked for): classifier-free guidance,
    ``e = e(0) + g (e(m) - e(0))`` (2B images; ``g == 1``: only e(m)). With attribute codes
    ``attrs`` (B, 3) the conditions get their own scales, in the compositional form of
    InstructPix2Pix (https://arxiv.org/abs/2211.09800, eq. 3), chained over the attributes asked:

        e = e(0, 0) + g (e(m, 0) - e(0, 0)) + g_t (e(m, t) - e(m, 0)) + g_w (e(m, t, w) - e(m, t)) + ...

    ``attribute_guidance`` is one scale for every attribute (``g_a``) or one per image and attribute
    (B, 3): a value the model already draws unguided (night) needs none, a faint one (fog) more
    (``condition_guidance``, :func:`semsegdiff.attributes.guidance_scales`). Neighbouring terms of one
    scale for every image are one branch: one ``g_a`` costs 3B images, ``g_a == g`` 2B (joint guidance),
    ``g == g_a == 1`` B. ``cond`` is the one-hot mask; the unconditional branch is the all-zero one-hot
    and attribute code 0 (unknown). ``guidance`` may be one scale per image (B,), then also the attributes'.

    A distilled student (a U-Net with ``guidance_emb``) has learned the guided prediction: one
    branch, with the scale as an input; it has one joint scale for mask and attributes. ``instances``
    (B, H, W) add the instance-boundary channel of a model with ``instance_edges`` to ``cond``; ``low`` and ``low_t``
    are an upscaler's low-res input, kept in every branch (guidance is on the mask and attributes alone).
    """

    def __init__(self, model: torch.nn.Module, masks: torch.Tensor, guidance: float | torch.Tensor,
                 attrs: torch.Tensor | None = None, attribute_guidance: float | torch.Tensor | None = None,
                 precision: str = "auto", instances: torch.Tensor | None = None, low: torch.Tensor | None = None,
                 low_t: torch.Tensor | None = None):
        self.model, dev, b = model, masks.device, len(masks)
        per_image = torch.is_tensor(guidance)
        g = guidance.to(dev).float().reshape(b) if per_image else torch.full((b,), float(guidance), device=dev)
        cond = condition(model, masks, instances)
        use_attrs = attrs is not None and getattr(model, "attr_emb", None) is not None and bool(attrs.any())
        g_a = guidance if attribute_guidance is None else attribute_guidance
        self.scale = None
        if getattr(model, "guidance_emb", None) is not None:  # a student: e_w(m, a) in one forward
            if use_attrs and not per_image and (torch.is_tensor(g_a) or g_a != guidance):
                raise SettingError(f"attribute_guidance {g_a} differs from guidance {guidance:g}: a distilled student "
                                   "has one joint scale for the mask and the attributes; use the teacher for two")
            self.scale = g
            self.branches, self.scales = [(cond, attrs.to(dev).long() if use_attrs else None)], []
        elif not use_attrs:  # e(0), e(m)
            self.branches, self.scales = [(torch.zeros_like(cond), None), (cond, None)], [g]
        else:
            self.branches, self.scales = _chain(cond, attrs.to(dev).long(), g,
                                                g[:, None].expand(b, 3) if per_image else _attribute_scales(g_a, b, dev))
        if self.scale is None:
            branches, self.scales = _merge(self.branches, self.scales)
            self.branches = branches[::-1]  # the most conditioned first, e(0, 0) last
        self.cond = torch.cat([c for c, _ in self.branches])  # (kB, C, H, W)
        self.attrs = None if self.branches[0][1] is None else torch.cat([a for _, a in self.branches])
        self.low = None if low is None else (torch.cat([low.to(dev)] * len(self.branches)),
                                             low_t.to(dev).repeat(len(self.branches)))  # every branch keeps it
        self.autocast = autocast(dev, precision)  # the run's precision setting (semsegdiff.precision)

    @property
    def guided(self) -> bool:
        return len(self.branches) > 1

    def __call__(self, inp: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The guided prediction at ``x_t = inp``; ``t`` is one timestep or one per image (B,)."""
        k = len(self.branches)
        t = t.reshape(-1)
        t = t.expand(self.cond.shape[0]) if t.numel() == 1 else t.repeat(k)
        kw = {} if self.attrs is None else {"attrs": self.attrs}
        if self.scale is not None:
            kw["guidance"] = self.scale
        if self.low is not None:
            kw["low"], kw["low_t"] = self.low
        with self.autocast:
            out = self.model(torch.cat([inp] * k) if k > 1 else inp, t, self.cond, **kw).float()
        e = out.chunk(k)[::-1]  # e(0, 0) first, as the scales run
        x = e[0]
        for i, s in enumerate(self.scales):
            x = x + s[:, None, None, None] * (e[i + 1] - e[i])
        return x


def _attribute_scales(g_a: float | torch.Tensor, b: int, dev: torch.device) -> torch.Tensor:
    """The attributes' scales as (B, 3): one for all, or one per image and attribute."""
    if torch.is_tensor(g_a):
        if tuple(g_a.shape) != (b, 3):
            raise SettingError(f"attribute_guidance: expected one scale or one per image and attribute (({b}, 3)), "
                               f"got a tensor of shape {tuple(g_a.shape)}")
        return g_a.to(dev).float()
    return torch.full((b, 3), float(g_a), device=dev)


def _chain(cond: torch.Tensor, attrs: torch.Tensor, g: torch.Tensor, scales: torch.Tensor):
    """Branches e(0, 0), e(m, 0), e(m, a_1), e(m, a_1 a_2), ... over the attributes asked of any image, and the
    scale (B,) of each step between neighbours; where an image does not ask an attribute its step is zero, and it
    keeps the previous step's scale (so that steps of one scale merge)."""
    none = torch.zeros_like(attrs)
    branches, steps = [(torch.zeros_like(cond), none), (cond, none)], [g]
    asked = torch.zeros_like(attrs)
    for j in range(attrs.shape[1]):
        if not bool(attrs[:, j].any()):
            continue
        asked = asked.clone()
        asked[:, j] = attrs[:, j]
        branches.append((cond, asked))
        steps.append(torch.where(attrs[:, j] > 0, scales[:, j], steps[-1]))
    return branches, steps


def _merge(branches: list, steps: list[torch.Tensor]) -> tuple[list, list[torch.Tensor]]:
    """Fewer branches, the same prediction: neighbouring steps of one scale for every image are one step
    (``s (e_2 - e_1) + s (e_1 - e_0) = s (e_2 - e_0)``), and a first step of scale 1 drops e(0, 0)."""
    i = len(steps) - 1
    while i >= 1:
        if torch.equal(steps[i], steps[i - 1]):
            del branches[i], steps[i]
        i -= 1
    if steps and bool((steps[0] == 1).all()):
        del branches[0], steps[0]
    return branches, steps


def step_kwargs(scheduler, gens: list[torch.Generator]) -> dict:
    """``generator=`` for schedulers that draw noise while stepping (UniPC draws none)."""
    return {"generator": gens} if "generator" in inspect.signature(scheduler.step).parameters else {}


@torch.no_grad()
def sample(model: torch.nn.Module, masks: torch.Tensor, scheduler, *, steps: int = 20, guidance: float = 3.0,
           seeds: Sequence[int], intermediates: int = 0, attrs: torch.Tensor | None = None,
           attribute_guidance: float | None = None, precision: str = "auto",
           instances: torch.Tensor | None = None, low: torch.Tensor | None = None,
           low_t: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Generate one image per mask with classifier-free guidance (see :class:`Guided`; ``attrs``: codes (B, 3);
    ``instances``: ids (B, H, W); ``low``, ``low_t``: an upscaler's input, :mod:`.upscale`).

    Each image draws all its noise from its own CPU generator seeded with ``seeds[i]``, so
    it is the same whatever batch it is generated in. Returns uint8 images (B, 3, H, W)
    and, when ``intermediates > 0``, that many uint8 snapshots of x_t spread over the steps.
    """
    dev = next(model.parameters()).device
    masks = masks.to(dev)
    b, (h, w) = masks.shape[0], masks.shape[-2:]
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    predict = Guided(model, masks, guidance, attrs, attribute_guidance, precision, instances, low, low_t)
    scheduler.set_timesteps(steps, device=dev)
    step_kw = step_kwargs(scheduler, gens)
    x = randn_tensor((b, 3, h, w), generator=gens, device=dev) * scheduler.init_noise_sigma
    keep = {round(i * (steps - 1) / max(intermediates - 1, 1)) for i in range(intermediates)}
    snaps = []
    for i, t in enumerate(scheduler.timesteps):
        out = predict(scheduler.scale_model_input(x, t), t)
        x = scheduler.step(out, t, x, **step_kw).prev_sample
        if i in keep:
            snaps.append(to_uint8(x))
    check_finite(x, f"{type(scheduler).__name__} with {steps} steps and guidance {guidance}")
    return to_uint8(x), snaps


def check_finite(x: torch.Tensor, what: str, limit: float = 5.0) -> None:
    """Raise :class:`DivergenceError` when generated images (model range [-1, 1]) are non-finite or far outside it.

    A sampler that diverges does not fail by itself: clamping turns its output into black,
    white or noise images. Values beyond ``limit`` in more than 1% of pixels mean divergence.
    """
    finite = torch.isfinite(x)
    outside = (~finite | (x.abs() > limit)).float().mean().item()
    if not finite.all() or outside > 0.01:
        worst = x[finite].abs().max().item() if finite.any() else float("nan")
        raise DivergenceError(f"sampling diverged: {outside:.1%} of the values are non-finite or beyond +-{limit:g} "
                              f"(largest finite {worst:.3g}) with {what}; lower the guidance, use more steps or "
                              "another sampler (ddim clips its estimate)")


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Model range [-1, 1] -> uint8 [0, 255] on the CPU."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()
