"""LightningModule of the mask-conditioned diffusion model, its EMA, and checkpoint loading.

Checkpoints are Lightning checkpoints whose ``state_dict`` holds the EMA weights and whose
``hyper_parameters`` hold the full run configuration; they load with ``weights_only=True``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import WeightAveraging

from ..data.datamodule import to_model_range
from ..files import atomic_path
from ..labels import NUM_CLASSES
from .diffusion import SAMPLERS, diffusion_loss, make_scheduler, sample
from .unet import INJECTIONS, CondUNet, check_masks

MODEL_KEYS = ("channels", "channel_mult", "num_res_blocks", "attn_levels", "emb_dim", "injection", "mask_hidden",
              "dropout")
SCHEDULE_KEYS = ("noise_schedule", "prediction_type", "num_train_timesteps")
SHAPE_KEYS = ("num_classes", "size", *MODEL_KEYS[:-1])  # what a resumed run cannot change


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the request."""


CHOICES = {"injection": INJECTIONS, "sampler": SAMPLERS, "prediction_type": ("v_prediction", "epsilon"),
           "noise_schedule": ("squaredcos_cap_v2", "linear", "scaled_linear", "reference"),
           "logger": ("csv", "tensorboard")}


def validate(cfg: dict[str, Any]) -> None:
    """Raise ValueError naming the setting when a run configuration cannot work."""
    for key, allowed in CHOICES.items():
        if key in cfg and cfg[key] not in allowed:
            raise ValueError(f"{key} = {cfg[key]!r} is not one of {', '.join(map(str, allowed))}")
    factor = 2 ** (len(cfg["channel_mult"]) - 1)
    if cfg["size"] % factor:
        raise ValueError(f"size = {cfg['size']} must be a multiple of {factor} for channel_mult {cfg['channel_mult']}")
    if not 0 <= cfg["p_uncond"] < 1:
        raise ValueError(f"p_uncond = {cfg['p_uncond']} must be in [0, 1)")


class DiffusionModule(pl.LightningModule):
    """Conditional U-Net + diffusers noise schedule, trained with per-sample mask dropout.

    Keyword arguments are the run configuration (a profile from :mod:`semsegdiff.config`);
    all of it is saved in every checkpoint.
    """

    def __init__(self, **cfg: Any):
        super().__init__()
        cfg.setdefault("num_classes", NUM_CLASSES)
        validate(cfg)
        self.save_hyperparameters(cfg)
        self.cfg = cfg
        kw = {k: cfg[k] for k in MODEL_KEYS}
        kw["channel_mult"] = tuple(kw["channel_mult"])
        self.model = CondUNet(num_classes=cfg["num_classes"], **kw)
        self.noise = make_scheduler("ddpm", **{k: cfg[k] for k in SCHEDULE_KEYS})
        self.preview_dir: Path | None = None  # set by the trainer set-up; previews go there

    @property
    def size(self) -> int:
        return int(self.cfg["size"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = diffusion_loss(self.model, to_model_range(batch["image"]), batch["mask"], self.noise,
                              p_uncond=self.cfg["p_uncond"])
        finite = self.trainer.strategy.reduce_boolean_decision(bool(torch.isfinite(loss)), all=True)
        if not finite:
            saved = [cb.last_model_path or cb.best_model_path for cb in self.trainer.checkpoint_callbacks]
            last = max(saved, key=lambda p: "last" in p, default="") or "none saved yet"
            raise FloatingPointError(f"non-finite training loss ({loss.item()}) at global step {self.global_step}; "
                                     f"training stopped. Last good checkpoint: {last}")
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=batch["image"].shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        gen = torch.Generator(self.device).manual_seed(batch_idx)  # the same noise and t every validation
        loss = diffusion_loss(self.model, to_model_range(batch["image"]), batch["mask"], self.noise,
                              p_uncond=0.0, generator=gen)
        self.log("val_loss", loss, prog_bar=True, sync_dist=True, batch_size=batch["image"].shape[0])
        if batch_idx == 0 and self.trainer.is_global_zero and self.preview_dir is not None:
            self._write_preview(batch)

    def _write_preview(self, batch: dict[str, torch.Tensor]) -> None:
        from ..figures import preview_grid

        n = min(self.cfg["n_preview"], batch["mask"].shape[0])
        masks, real = batch["mask"][:n].cpu(), batch["image"][:n].cpu()
        images = self.generate(masks, seed=0)  # the same masks and noise at every preview
        name = self.preview_dir / f"epoch{self.current_epoch + 1:04d}-step{self.global_step:06d}"
        preview_grid(masks, images, name.with_suffix(".png"), real=real)
        with atomic_path(name.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:  # the arrays, for figures
            np.savez_compressed(f, masks=masks.numpy(), images=images.numpy(), real=real.numpy(),
                                epoch=self.current_epoch + 1, step=self.global_step)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), lr=self.cfg["lr"], weight_decay=self.cfg["weight_decay"])

    @torch.no_grad()
    def generate(self, masks: np.ndarray | torch.Tensor, *, sampler: str | None = None, steps: int | None = None,
                 guidance: float | None = None, seed: int | Sequence[int] = 0, batch_size: int = 64,
                 intermediates: int = 0, progress: bool = False) -> torch.Tensor:
        """Generate one uint8 image (N, 3, H, W) per mask (N, H, W) of train ids (255 = ignore).

        Sampler, steps and guidance default to the run configuration. ``seed`` is one int
        (image ``i`` gets ``seed + i``) or one seed per mask: an image depends only on its
        mask and its seed, not on the batch it was generated in. With ``intermediates``
        it returns ``(images, snapshots)`` where ``snapshots`` is (N, K, 3, H, W).
        """
        masks = masks if isinstance(masks, torch.Tensor) else torch.from_numpy(np.array(masks))
        check_masks(masks, self.cfg["num_classes"], self.size)
        seeds = [seed + i for i in range(len(masks))] if isinstance(seed, int) else list(seed)
        if len(seeds) != len(masks):
            raise ValueError(f"got {len(seeds)} seeds for {len(masks)} masks")
        sampler, steps = sampler or self.cfg["sampler"], steps or self.cfg["steps"]
        guidance = self.cfg["guidance"] if guidance is None else guidance
        scheduler = make_scheduler(sampler, **{k: self.cfg[k] for k in SCHEDULE_KEYS})
        was_training = self.training
        self.eval()
        out, snaps = [], []
        starts = range(0, len(masks), batch_size)
        if progress:
            from tqdm.auto import tqdm
            starts = tqdm(starts, desc=f"{sampler} {steps} steps", unit="batch")
        for s in starts:
            images, snap = sample(self.model, masks[s:s + batch_size], scheduler, steps=steps, guidance=guidance,
                                  seeds=seeds[s:s + batch_size], intermediates=intermediates)
            out.append(images)
            if intermediates:
                snaps.append(torch.stack(snap, dim=1))
        self.train(was_training)
        images = torch.cat(out)
        return (images, torch.cat(snaps)) if intermediates else images


class EMA(WeightAveraging):
    """Exponential moving average of the weights, tracking the weights exactly before ``start``.

    As in the reference: EMA ``decay`` from step ``start`` on, a plain copy before. Validation,
    previews, checkpoints' ``state_dict`` and the model after training use the EMA weights.
    """

    def __init__(self, decay: float = 0.995, start: int = 2000):
        def avg_fn(avg: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            d = decay * (n >= start)  # n = updates so far = optimizer steps; no host sync
            return avg + (current - avg) * (1 - d)

        super().__init__(avg_fn=avg_fn)


def load_checkpoint(path: str | Path, *, device: str | torch.device = "cpu", num_classes: int | None = None,
                    size: int | None = None) -> DiffusionModule:
    """Load a diffusion checkpoint (EMA weights, ``weights_only=True``) ready for :meth:`generate`.

    ``num_classes`` and ``size``, when given, must match what the checkpoint was trained for.
    """
    ckpt = read_checkpoint(path)
    hp = ckpt["hyper_parameters"]
    for key, want in (("num_classes", num_classes), ("size", size)):
        if want is not None and hp[key] != want:
            raise CheckpointError(f"{path}: trained for {key} = {hp[key]}, but {want} was asked for")
    module = DiffusionModule(**hp)
    try:
        module.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model described in the checkpoint: {e}") from None
    return module.to(device).eval()


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file with ``weights_only=True``; clear errors for missing or corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, pickle of arbitrary objects, not a torch file at all
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0]})") \
            from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "size" not in ckpt.get("hyper_parameters", {}):
        raise CheckpointError(f"{path}: not a semsegdiff diffusion checkpoint (no state_dict and run configuration)")
    return ckpt


def config_diff(a: dict[str, Any], b: dict[str, Any], keys) -> list[str]:
    """``key: a, b`` for each of ``keys`` whose value differs (tuples and lists compare equal)."""
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
    return [f"{k}: checkpoint {a.get(k)!r}, now {b.get(k)!r}" for k in keys if norm(a.get(k)) != norm(b.get(k))]


def check_compatible(path: str | Path, cfg: dict[str, Any]) -> None:
    """Raise CheckpointError if resuming ``path`` with ``cfg`` would change the model's shape."""
    diff = config_diff(read_checkpoint(path)["hyper_parameters"], {"num_classes": NUM_CLASSES, **cfg}, SHAPE_KEYS)
    if diff:
        raise CheckpointError(f"{path}: cannot resume with a different model: " + "; ".join(diff))
