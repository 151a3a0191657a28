"""LightningModule of the mask-conditioned diffusion model, its EMA, and checkpoint loading.

Checkpoints are Lightning checkpoints whose ``state_dict`` holds the EMA weights and whose
``hyper_parameters`` hold the full run configuration; they load with ``weights_only=True``.
"""
from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ..attributes import check_codes, guidance_scales, requested
from ..config import LEGACY, MODEL_KEYS, PROFILES, QUICK, RESUME_KEYS, SCHEDULE_KEYS, check_setting, validate
from ..data.datamodule import to_model_range
from ..errors import CheckpointError, DataError, DivergenceError, SettingError
from ..frame import Size, frame, label, parse_size
from .. import safe_load
from ..labels import NUM_CLASSES
from ..tensors import as_tensor, to_numpy
from ..trainer import NormClipping, fused_adamw
from .diffusion import SAMPLERS, diffusion_loss, make_scheduler, sample
from .inpaint import inpaint
from .condition import check_instance_batch
from .unet import CondUNet, check_masks
from .upscale import sampling_inputs, training_inputs


class DiffusionModule(NormClipping, pl.LightningModule):
    """Conditional U-Net + diffusers noise schedule, trained with per-sample mask dropout.

    Keyword arguments are the run configuration (a profile from :mod:`semsegdiff.config`);
    all of it is saved in every checkpoint.
    """

    def __init__(self, **cfg: Any):
        super().__init__()
        cfg = validate({"num_classes": NUM_CLASSES, **cfg})
        self.save_hyperparameters(cfg)
        self.cfg = cfg
        kw = {k: cfg[k] for k in MODEL_KEYS}
        kw["channel_mult"] = tuple(kw["channel_mult"])
        self.model = CondUNet(num_classes=cfg["num_classes"], guidance_input=self.is_student, **kw)
        self.noise = make_scheduler("ddpm", **{k: cfg[k] for k in SCHEDULE_KEYS})
        self.losses = FiniteLoss()

    def on_fit_start(self) -> None:
        """Speed settings that change no weight: channels-last convolutions, a compiled U-Net."""
        if self.cfg.get("channels_last"):
            self.model.to(memory_format=torch.channels_last)
        if self.cfg.get("compile"):
            self.model.compile()  # in place: the state dict keeps its names

    @property
    def size(self) -> Size:
        """The frame it was trained on, in the setting's form: a side, or [height, width]."""
        return parse_size(self.cfg["size"])

    @property
    def frame(self) -> tuple[int, int]:
        """(height, width) of its images."""
        return frame(self.cfg["size"])

    @property
    def is_student(self) -> bool:
        """A consistency student distilled from a teacher (``semsegdiff distill``): samples with ``lcm`` in 1-4 steps."""
        return bool(self.cfg.get("teacher"))

    def scheduler(self, sampler: str):
        """The diffusers scheduler of ``sampler`` on this model's noise schedule (a student: only ``lcm``)."""
        if (sampler == "lcm") != self.is_student:
            raise SettingError(f"sampler (--sampler): {sampler!r} " + (
                "is not a distilled student's sampler: a student samples with lcm" if self.is_student else
                "samples a distilled student (semsegdiff distill); this model is not one: choose one of "
                + ", ".join(SAMPLERS)))
        return make_scheduler(sampler, **{k: self.cfg[k] for k in SCHEDULE_KEYS}, lcm_grid=self.cfg["distill_grid"])

    @property
    def is_upscaler(self) -> bool:
        """The cascade's second stage: generates at its frame from a base's image ``upscale`` times smaller."""
        return self.cfg["upscale"] > 1

    def _inputs(self, batch: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                crops: torch.Generator | None = None) -> dict[str, Any]:
        """The loss's inputs of a batch: images in model range, masks, instances; an upscaler's crops and low-res
        input (:func:`.upscale.training_inputs`)."""
        images = to_model_range(batch["image"])
        if self.is_upscaler:
            return training_inputs(batch, images, self.cfg, self.noise, generator, crops)
        return {"image": images, "mask": batch["mask"], "instances": batch.get("instances")}

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = self._inputs(batch)
        loss = diffusion_loss(self.model, x.pop("image"), x.pop("mask"), self.noise, p_uncond=self.cfg["p_uncond"],
                              attrs=batch.get("attributes"), p_uncond_attr=self.cfg["p_uncond_attr"], **x)
        self.watch(loss, batch_size=batch["image"].shape[0])
        return loss

    def watch(self, loss: torch.Tensor, batch_size: int) -> None:
        """Log the training loss; stop at a non-finite one (see :class:`FiniteLoss`)."""
        if self.trainer.world_size > 1:  # every rank must stop at the same step: one collective per step
            if not self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True):
                self._diverged(self.global_step, float(loss))
        else:
            self.losses.push(self.global_step, loss)
            self._check_losses(wait=False)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch_size)

    def _check_losses(self, wait: bool) -> None:
        bad = self.losses.check(wait=wait)
        if bad is not None:
            self._diverged(*bad)

    def _diverged(self, step: int, loss: float) -> None:
        saved = [cb.last_model_path or cb.best_model_path for cb in self.trainer.checkpoint_callbacks]
        last = max(saved, key=lambda p: "last" in p, default="") or "none saved yet"
        raise DivergenceError(f"non-finite training loss ({loss}) at global step {step}; training stopped. "
                              f"Last good checkpoint: {last}")

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._check_losses(wait=True)  # no checkpoint holds weights trained past a non-finite loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        gen = torch.Generator(self.device).manual_seed(batch_idx)  # the same noise and t every validation
        x = self._inputs(batch, gen, torch.Generator().manual_seed(batch_idx))  # the same crops too
        loss = diffusion_loss(self.model, x.pop("image"), x.pop("mask"), self.noise, p_uncond=0.0, generator=gen,
                              attrs=batch.get("attributes"), p_uncond_attr=0.0, **x)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["image"].shape[0])

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW; the attribute embeddings (which start at zero) at ``attribute_lr_scale`` x ``lr``."""
        fused = fused_adamw(self)
        params, scale = dict(self.model.named_parameters()), self.cfg["attribute_lr_scale"]
        attr = [p for n, p in params.items() if n.startswith("attr_emb.")]
        groups = [{"params": list(params.values())}]
        if attr and scale != 1:  # one group when 1: the optimizer state of runs saved before the setting existed
            groups = [{"params": [p for n, p in params.items() if not n.startswith("attr_emb.")]},
                      {"params": attr, "lr": self.cfg["lr"] * scale}]
        return torch.optim.AdamW(groups, lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"], **fused)

    @torch.no_grad()
    def generate(self, masks: np.ndarray | torch.Tensor, *, sampler: str | None = None, steps: int | None = None,
                 guidance: float | None = None, seed: int | Sequence[int] = 0, batch_size: int = 64,
                 intermediates: int = 0, init: np.ndarray | torch.Tensor | None = None,
                 keep: np.ndarray | torch.Tensor | None = None, resample: int = 0, progress: bool = False,
                 time: str | Sequence[str] | None = None, weather: str | Sequence[str] | None = None,
                 scene: str | Sequence[str] | None = None, attribute_guidance: float | None = None,
                 condition_guidance: dict[str, float] | None = None,
                 attrs: np.ndarray | torch.Tensor | None = None, precision: str | None = None,
                 instances: np.ndarray | torch.Tensor | None = None, low: np.ndarray | torch.Tensor | None = None,
                 aug_level: float | None = None) -> torch.Tensor:
        """Generate one uint8 image (N, 3, H, W) per mask (N, H, W) of train ids (255 = ignore).

        An upscaler (:attr:`is_upscaler`) also takes ``low``, one uint8 image (N, 3, H/k, W/k) or (N, H/k, W/k, 3)
        per mask ``upscale`` = k times smaller (a base model's, or a photo's), noised to ``aug_level`` (default: the
        run configuration's) before it conditions the model (:mod:`semsegdiff.models.upscale`);
        :class:`semsegdiff.models.cascade.Cascade` runs both stages from masks at the upscaler's frame.

        ``instances`` (N, H, W) are the masks' instance ids (0 = none) for a model trained with
        ``instance_edges``: two adjacent objects of one class stay two. Without them its boundary map
        holds the class boundaries alone; a model without the setting ignores them.

        ``time``, ``weather``, ``scene`` (models trained with attributes): a value for every mask
        or one per mask (:data:`semsegdiff.attributes.ATTRIBUTES`); absent (None) leaves the image
        unconditional for that attribute. ``attrs`` gives the codes (N, 3) directly instead.
        ``attribute_guidance`` is their guidance scale and ``condition_guidance`` ``{value: scale}`` the values that
        take another (defaults: the run configuration's; ``{}``: one scale for all; see
        :class:`semsegdiff.models.diffusion.Guided` for the formula). A student has one joint scale.

        Sampler, steps and guidance default to the run configuration. ``seed`` is one int
        (image ``i`` gets ``seed + i``) or one seed per mask: an image depends only on its
        mask and its seed, not on the batch it was generated in. With ``intermediates``
        it returns ``(images, snapshots)`` where ``snapshots`` is (N, K, 3, H, W).

        Local regeneration: with ``init`` (uint8 images (N, 3, H, W) or (N, H, W, 3)) and
        ``keep`` (bool (N, H, W), True = keep the photo's pixel) only the other pixels are
        generated, RePaint-style (:mod:`semsegdiff.models.inpaint`; ``resample`` jumps).

        ``precision`` (auto, 32, bf16-mixed; default: the run configuration's) is the autocast of the
        network's forwards (:mod:`semsegdiff.precision`).
        """
        masks = as_tensor(masks)
        check_masks(masks, self.cfg["num_classes"], self.size)
        if instances is not None:
            instances = check_instance_batch(as_tensor(instances), masks)
        seeds = seed_list(seed, len(masks))
        joint = self.is_student and attribute_guidance is None  # a student's one scale
        sampler, steps, guidance, attribute_guidance = (
            self.cfg[k] if v is None else check_setting(k, v)
            for k, v in (("sampler", sampler), ("steps", steps), ("guidance", guidance),
                         ("attribute_guidance", attribute_guidance)))
        attribute_guidance = guidance if joint else attribute_guidance
        table = {} if self.is_student else check_setting(
            "condition_guidance", self.cfg.get("condition_guidance", {}) if condition_guidance is None else condition_guidance)
        asked = {"time": time, "weather": weather, "scene": scene}
        if attrs is None:
            attrs = torch.from_numpy(requested(len(masks), **asked).astype(np.int64))
        else:
            given = [k for k, v in asked.items() if v is not None]
            if given:
                raise SettingError(f"attrs and {', '.join(given)}: give the codes (attrs) or the names, not both")
            attrs = torch.from_numpy(check_codes(to_numpy(as_tensor(attrs)), len(masks)))
        if bool(attrs.any()) and not self.cfg["attributes"]:
            given = ", ".join(k for k, v in asked.items() if v is not None) or "attrs"
            raise SettingError(f"{given}: this checkpoint was trained without attributes (attributes: false); "
                               "train with --attributes true to condition on time of day, weather and scene")
        if table and bool(attrs.any()):  # a scale per image and attribute
            attribute_guidance = torch.from_numpy(guidance_scales(to_numpy(attrs), table, attribute_guidance))
        validate({"steps": steps, "num_train_timesteps": self.cfg["num_train_timesteps"]})
        batch_size, resample = check_setting("batch_size", batch_size), check_setting("resample", resample)
        precision = check_setting("precision", self.cfg.get("precision", "auto") if precision is None else precision)
        scheduler = self.scheduler(sampler)
        if (low is not None) != self.is_upscaler:
            raise SettingError("low: " + ("this model is an upscaler (x{}): give the low-res images to upscale, or "
                                          "use semsegdiff.models.cascade.Cascade".format(self.cfg["upscale"])
                                          if self.is_upscaler else "this model is not an upscaler (upscale 1): it "
                                          "takes no low-res images"))
        if low is not None:
            if init is not None:
                raise SettingError("init: local regeneration is a base model's; regenerate at the base's frame, then "
                                   "upscale")
            aug = self.cfg["aug_level"] if aug_level is None else check_setting("aug_level", aug_level)
            low = sampling_inputs(_as_images(low), self.frame, self.cfg["upscale"], aug, self.noise, seeds)
        if self.is_student:
            if steps > self.cfg["distill_grid"]:
                raise SettingError(f"steps (--steps): {steps} is more than the {self.cfg['distill_grid']} timesteps "
                                   "the student was distilled on (distill_grid)")
            if resample:
                raise SettingError("resample (--resample): RePaint's resampling jumps need a diffusion model's "
                                   "predictions; use the teacher, or resample 0 (the student blends at every step)")
        was_training = self.training
        self.eval()
        out, snaps = [], []
        starts = range(0, len(masks), batch_size)
        if progress:
            from tqdm.auto import tqdm
            starts = tqdm(starts, desc=f"{sampler} {steps} steps", unit="batch")
        if (init is None) != (keep is None):
            raise SettingError("local regeneration needs both init (the photos) and keep (the pixels to keep)")
        if init is not None:
            init, keep = _as_images(init), as_tensor(keep)
            n, (h, w) = len(masks), masks.shape[1:]
            if tuple(init.shape) != (n, 3, h, w) or init.dtype != torch.uint8:
                raise DataError(f"init: expected {n} uint8 photos of {h}x{w} ((N, 3, H, W) or (N, H, W, 3)) for the "
                                f"{n} masks, got {init.dtype} {tuple(init.shape)}")
            if tuple(keep.shape) != (n, h, w) or keep.dtype != torch.bool:
                raise DataError(f"keep: expected a bool array ({n}, {h}, {w}) (True = keep the photo's pixel), got "
                                f"{keep.dtype} {tuple(keep.shape)}")
        if not len(masks):  # nothing to generate: an empty batch of the model's shape
            self.train(was_training)
            empty = torch.empty((0, 3, *masks.shape[1:]), dtype=torch.uint8)
            return (empty, torch.empty((0, intermediates, 3, *masks.shape[1:]), dtype=torch.uint8)) if intermediates \
                else empty
        for s in starts:
            if init is not None:
                images, snap = inpaint(self.model, masks[s:s + batch_size], init[s:s + batch_size],
                                       keep[s:s + batch_size], scheduler, steps=steps, guidance=guidance,
                                       seeds=seeds[s:s + batch_size], resample=resample,
                                       schedule={k: self.cfg[k] for k in SCHEDULE_KEYS}, attrs=attrs[s:s + batch_size],
                                       attribute_guidance=part(attribute_guidance, s, batch_size), precision=precision,
                                       instances=part(instances, s, batch_size)), []
            else:
                images, snap = sample(self.model, masks[s:s + batch_size], scheduler, steps=steps, guidance=guidance,
                                      seeds=seeds[s:s + batch_size], intermediates=intermediates,
                                      attrs=attrs[s:s + batch_size],
                                      attribute_guidance=part(attribute_guidance, s, batch_size),
                                      precision=precision, instances=part(instances, s, batch_size),
                                      **({} if low is None else {"low": low[0][s:s + batch_size],
                                                                 "low_t": low[1][s:s + batch_size]}))
            out.append(images)
            if intermediates:
                snaps.append(torch.stack(snap, dim=1))
        self.train(was_training)
        images = torch.cat(out)
        return (images, torch.cat(snaps)) if intermediates else images


def part(x: torch.Tensor | float | None, start: int, n: int) -> torch.Tensor | float | None:
    """Rows start..start+n of x (None and a number stay as they are)."""
    return x[start:start + n] if torch.is_tensor(x) else x


MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range (non-negative)


def seed_list(seed: int | Sequence[int], n: int) -> list[int]:
    """One seed per image: ``seed + i`` from one whole number (numpy integers too), or a sequence of ``n``; floats,
    booleans, negative values and values past ``MAX_SEED`` are refused."""
    def whole(v: Any, what: str) -> int:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) <= MAX_SEED:
            raise SettingError(f"{what}: a seed is a whole number 0..2**63-1, got {v!r}")
        return int(v)

    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        first = whole(seed, "seed")
        if n and first + n - 1 > MAX_SEED:
            raise SettingError(f"seed: {first} + {n - 1} (one seed per image) passes 2**63-1; use a smaller seed")
        return [first + i for i in range(n)]
    if isinstance(seed, (str, bytes, float, np.floating, bool)) or not hasattr(seed, "__len__"):
        raise SettingError(f"seed: expected a whole number or one per mask ({n}), got {seed!r}")
    seeds = [whole(v, f"seed[{i}]") for i, v in enumerate(to_numpy(seed).tolist() if isinstance(seed, torch.Tensor)
                                                           else seed)]
    if len(seeds) != n:
        raise SettingError(f"got {len(seeds)} seeds for {n} masks")
    return seeds


def _as_images(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images as (N, 3, H, W), from (N, 3, H, W) or (N, H, W, 3)."""
    images = as_tensor(images)
    if images.ndim == 4 and images.shape[1] != 3 and images.shape[-1] == 3:
        images = images.permute(0, 3, 1, 2)
    return images.contiguous()


class FiniteLoss:
    """Stops training at a non-finite loss without a host sync per step on a GPU.

    Each step's loss is copied to the host asynchronously (pinned memory and a CUDA event) and
    read once it has arrived, a step or two later; :meth:`check` with ``wait`` reads them all
    (before every checkpoint). On the CPU a loss is read at once.
    """

    def __init__(self):
        self.pending: deque = deque()

    def push(self, step: int, loss: torch.Tensor) -> None:
        value = loss.detach().float().reshape(())
        if value.device.type != "cuda":
            self.pending.append((step, value, None))
            return
        host = torch.empty((), dtype=torch.float32, pin_memory=True)
        host.copy_(value, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self.pending.append((step, host, event))

    def check(self, wait: bool = False) -> tuple[int, float] | None:
        """(step, loss) of the first non-finite loss that has arrived (all of them with ``wait``), else None."""
        while self.pending:
            step, value, event = self.pending[0]
            if event is not None and not event.query():
                if not wait:
                    return None
                event.synchronize()
            self.pending.popleft()
            if not math.isfinite(float(value)):
                return step, float(value)
        return None


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", num_classes: int | None = None,
                    size: Size | None = None, precision: str | None = None) -> DiffusionModule:
    """Load a diffusion checkpoint (EMA weights, ``weights_only=True``) ready for :meth:`generate`.

    ``num_classes`` and ``size``, when given, must match what the checkpoint was trained for;
    ``precision`` (a run setting) replaces the one it was trained with for this session's sampling.
    """
    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    for key, want, same in (("num_classes", num_classes, lambda a, b: a == b),
                            ("size", size, lambda a, b: frame(a) == frame(parse_size(b)))):
        if want is not None and not same(hp[key], want):
            raise CheckpointError(f"{path}: trained for {key} = {label(hp[key])}, but {label(want)} was asked for")
    missing = [k for k in ("size", *MODEL_KEYS, *SCHEDULE_KEYS) if k not in hp and k not in LEGACY]
    if missing:
        raise CheckpointError(f"{path}: the checkpoint's stored settings lack {', '.join(missing)}")
    # settings added since it was trained: what training did then (LEGACY), else the profile's defaults
    hp = {**PROFILES.get(hp.get("profile"), QUICK), **LEGACY, **hp}
    if precision is not None:
        hp["precision"] = precision
    try:
        module = DiffusionModule(**hp)
    except SettingError as e:
        raise CheckpointError(f"{path}: the settings stored in the checkpoint are invalid: {e}") from None
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model described in the checkpoint: {e}") from None
    return module.to(device).eval()


def check_base(model: DiffusionModule | dict[str, Any], path: str | Path, command: str) -> Any:
    """``model`` (a module or its stored settings) when it is a base model; a :class:`CheckpointError` naming
    ``command`` for an upscaler, which generates only from a base's images (``generate --upscale``, notebook 07)."""
    cfg = model if isinstance(model, dict) else model.cfg
    if cfg.get("upscale", 1) > 1:
        raise CheckpointError(f"{path}: is an upscaler (x{cfg['upscale']}, the cascade's second stage); "
                              f"{command} takes a base model (generate --upscale runs the two stages)")
    return model


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file with ``weights_only=True``; clear errors for missing or corrupt files."""
    path = Path(path)
    ckpt = safe_load.load(path, "checkpoint")
    hp = ckpt.get("hyper_parameters") if isinstance(ckpt, dict) else None
    if not isinstance(hp, dict) or not isinstance(ckpt.get("state_dict"), dict) or "size" not in hp:
        raise CheckpointError(f"{path}: not a semsegdiff diffusion checkpoint (no state_dict and run configuration)")
    if not isinstance(hp.get("num_classes"), int) or not 1 <= hp["num_classes"] <= 254:
        raise CheckpointError(f"{path}: the stored num_classes {hp.get('num_classes')!r} is not a class count")
    return ckpt


def config_diff(a: dict[str, Any], b: dict[str, Any], keys) -> list[str]:
    """``key: a, b`` for each of ``keys`` whose value differs (tuples and lists compare equal)."""
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return [f"{k}: checkpoint {a.get(k)!r}, now {b.get(k)!r}" for k in keys if norm(a.get(k)) != norm(b.get(k))]


def check_compatible(path: str | Path, cfg: dict[str, Any]) -> None:
    """Raise CheckpointError if resuming ``path`` with ``cfg`` would change the model's shape or its optimizer's
    parameter groups (``RESUME_KEYS``)."""
    diff = config_diff({**LEGACY, **read_checkpoint(path)["hyper_parameters"]}, {"num_classes": NUM_CLASSES, **cfg},
                       RESUME_KEYS)
    if diff:
        raise CheckpointError(f"{path}: cannot resume with a different model: " + "; ".join(diff))
