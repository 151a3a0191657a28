"""Local regeneration of a real photo: generate only an edited region and keep every other pixel.

RePaint-style (https://arxiv.org/abs/2201.09865): at every step the known region of ``x_t`` is
replaced by the real image noised to the same timestep, so the generated region is shaped
to fit the photo around it; at the end the known pixels are the input's bytes exactly.
``resample > 0`` adds RePaint's resampling jumps (go back ``jump_length`` steps, ``resample``
times) on diffusers' ``RePaintScheduler`` (DDPM-based, epsilon: v-predictions are converted).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers import RePaintScheduler
from diffusers.utils.torch_utils import randn_tensor

from ..errors import DataError
from .diffusion import Guided, check_finite, reference_betas, step_kwargs, to_uint8


def check_inpaint_inputs(init: torch.Tensor, keep: torch.Tensor, masks: torch.Tensor) -> None:
    """``init`` uint8 (B, 3, H, W) and ``keep`` bool (B, H, W) matching the masks, with something to regenerate."""
    if init.dtype != torch.uint8 or init.ndim != 4 or init.shape[1] != 3:
        raise DataError(f"init must be uint8 images (B, 3, H, W), got {init.dtype} {tuple(init.shape)}")
    if tuple(init.shape[-2:]) != tuple(masks.shape[-2:]) or len(init) != len(masks):
        raise DataError(f"init images {tuple(init.shape)} do not match the masks {tuple(masks.shape)}")
    if keep.dtype != torch.bool or tuple(keep.shape) != tuple(masks.shape):
        raise DataError(f"keep must be a boolean (B, H, W) array like the masks, got {keep.dtype} {tuple(keep.shape)}")
    empty = (~keep).flatten(1).sum(1) == 0
    if empty.any():
        raise DataError(f"image {int(empty.nonzero()[0])} has nothing to regenerate: keep is True everywhere "
                        "(is the edited mask the same as the original?)")


@torch.no_grad()
def inpaint(model: torch.nn.Module, masks: torch.Tensor, init: torch.Tensor, keep: torch.Tensor, scheduler, *,
            steps: int, guidance: float, seeds: Sequence[int], resample: int = 0, jump_length: int = 10,
            schedule: dict | None = None, attrs: torch.Tensor | None = None,
            attribute_guidance: float | torch.Tensor | None = None, precision: str = "auto",
            instances: torch.Tensor | None = None) -> torch.Tensor:
    """Regenerate the pixels where ``keep`` is False; return uint8 (B, 3, H, W) equal to ``init`` where it is True.

    ``scheduler`` is the sampler for ``resample == 0``; with resampling jumps a
    ``RePaintScheduler`` is built from ``schedule`` (the model's noise schedule settings).
    """
    dev = next(model.parameters()).device
    masks, init, keep = masks.to(dev), init.to(dev), keep.to(dev)
    check_inpaint_inputs(init, keep, masks)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    x0 = init.float() / 127.5 - 1  # (B, 3, H, W) in [-1, 1]
    known = keep[:, None].float()
    predict = Guided(model, masks, guidance, attrs, attribute_guidance, precision, instances)
    if resample > 0:
        x = _repaint_jumps(predict, x0, known, gens, steps, resample, jump_length, schedule or {})
    else:
        scheduler.set_timesteps(steps, device=dev)
        step_kw = step_kwargs(scheduler, gens)
        x = randn_tensor(x0.shape, generator=gens, device=dev) * scheduler.init_noise_sigma
        timesteps = scheduler.timesteps
        for i, t in enumerate(timesteps):
            out = predict(scheduler.scale_model_input(x, t), t)
            x = scheduler.step(out, t, x, **step_kw).prev_sample
            if i + 1 < len(timesteps):  # the known region, noised to the level x now has
                noise = randn_tensor(x0.shape, generator=gens, device=dev)
                x = known * scheduler.add_noise(x0, noise, timesteps[i + 1].reshape(1)) + (1 - known) * x
    check_finite(x, f"inpainting with {steps} steps and guidance {guidance}")
    return torch.where(keep[:, None].cpu(), init.cpu(), to_uint8(x))  # the kept pixels are the input's bytes


def _repaint_jumps(predict: Guided, x0: torch.Tensor, known: torch.Tensor, gens: list[torch.Generator], steps: int,
                   resample: int, jump_length: int, schedule: dict) -> torch.Tensor:
    """RePaint's loop with resampling jumps on diffusers' RePaintScheduler (as its pipeline runs it)."""
    n = schedule.get("num_train_timesteps", 1000)
    betas = dict(trained_betas=reference_betas(n)) if schedule.get("noise_schedule") == "reference" else \
        dict(beta_schedule=schedule.get("noise_schedule", "squaredcos_cap_v2"))
    sched = RePaintScheduler(num_train_timesteps=n, **betas)
    sched.set_timesteps(steps, jump_length=jump_length, jump_n_sample=resample + 1, device=x0.device)
    v_pred = schedule.get("prediction_type", "v_prediction") == "v_prediction"
    abar = sched.alphas_cumprod.to(x0.device)
    x = randn_tensor(x0.shape, generator=gens, device=x0.device)
    t_last = sched.timesteps[0] + 1
    for t in sched.timesteps:
        if t < t_last:
            out = predict(x, t.reshape(1).to(x0.device))
            if v_pred:  # RePaintScheduler expects epsilon: eps = sqrt(abar) v + sqrt(1 - abar) x_t
                a = abar[t]
                out = a.sqrt() * out + (1 - a).sqrt() * x
            x = sched.step(out, t, x, x0, known, generator=gens).prev_sample
        else:
            x = sched.undo_step(x, t_last, generator=gens)
        t_last = t
    return x
